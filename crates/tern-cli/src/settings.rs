//! From what the user typed to validated settings, before any I/O.
//!
//! Each setting has a native spelling (flag and `TERN_*` variable, resolved by clap) and may
//! have migration spellings from OTF and Terrakube, read here from the environment. If several
//! spellings are set they must agree; otherwise tern refuses to guess and names them all.
//! Environment access is injected (`Env`) so the precedence rules are unit-tested.

use std::path::PathBuf;
use std::time::Duration;

use tern_identity::{ClaimPolicy, ClaimProfile, Kid, RunContext, SubjectTemplate};
use tern_types::{IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, Ttl, WorkspaceName};

use crate::UsageError;
use crate::cli::{ClaimArgs, RunArgs, SigningKeyArgs};

/// Reads one environment variable; empty values count as unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

const NATIVE_SIGNING_KEY: &str = "--signing-key/TERN_SIGNING_KEY";

/// Which key files to load.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySources {
    /// The first signs; the others are only published.
    pub signing: Vec<PathBuf>,
    /// Public key that must match the first signing key.
    pub public: Option<PathBuf>,
    /// Key id override for the first signing key.
    pub kid: Option<Kid>,
    /// Migration names that were used, for the log.
    pub migrated_from: Vec<&'static str>,
}

struct Candidate {
    source: &'static str,
    value: String,
}

/// All spellings that are set must agree; the first one set wins.
fn agree(setting: &str, candidates: Vec<Candidate>) -> Result<Option<Candidate>, UsageError> {
    let mut iter = candidates.into_iter();
    let Some(first) = iter.next() else { return Ok(None) };
    for other in iter {
        if other.value != first.value {
            return Err(UsageError(format!(
                "{setting} is set twice with different values: {}={:?} and {}={:?}; keep one",
                first.source, first.value, other.source, other.value
            )));
        }
    }
    Ok(Some(first))
}

fn compat(env: Env<'_>, names: &[&'static str]) -> Vec<Candidate> {
    names.iter().filter_map(|&name| env(name).map(|value| Candidate { source: name, value })).collect()
}

/// Resolve the signing key, public key and kid from flags, `TERN_*` and migration variables.
pub fn key_sources(args: &SigningKeyArgs, env: Env<'_>) -> Result<KeySources, UsageError> {
    let mut migrated_from = Vec::new();
    let mut note = |c: &Option<Candidate>, native: &str| {
        if let Some(c) = c
            && c.source != native
        {
            migrated_from.push(c.source);
        }
    };

    let mut signing_candidates: Vec<Candidate> = args
        .signing_keys
        .first()
        .map(|p| Candidate { source: NATIVE_SIGNING_KEY, value: p.display().to_string() })
        .into_iter()
        .collect();
    signing_candidates.extend(compat(env, &["OTF_PRIVATE_KEY_PATH", "DynamicCredentialPrivateKeyPath"]));
    let first = agree("the signing key", signing_candidates)?;
    note(&first, NATIVE_SIGNING_KEY);
    let signing = match (args.signing_keys.is_empty(), first) {
        (false, _) => args.signing_keys.clone(),
        (true, Some(c)) => vec![PathBuf::from(c.value)],
        (true, None) => Vec::new(),
    };

    let mut public_candidates: Vec<Candidate> = args
        .public_key
        .iter()
        .map(|p| Candidate { source: "--public-key/TERN_PUBLIC_KEY", value: p.display().to_string() })
        .collect();
    public_candidates.extend(compat(env, &["OTF_PUBLIC_KEY_PATH", "DynamicCredentialPublicKeyPath"]));
    let public = agree("the public key", public_candidates)?;
    note(&public, "--public-key/TERN_PUBLIC_KEY");
    if public.is_some() && signing.is_empty() {
        return Err(UsageError(
            "a public key is configured but no signing key; give --signing-key (the public key is only checked against it)"
                .to_owned(),
        ));
    }

    let mut kid_candidates: Vec<Candidate> =
        args.kid.iter().map(|k| Candidate { source: "--kid/TERN_KID", value: k.clone() }).collect();
    kid_candidates.extend(compat(env, &["DynamicCredentialId"]));
    let kid = agree("the key id", kid_candidates)?;
    note(&kid, "--kid/TERN_KID");
    let kid = match kid {
        Some(c) => Some(Kid::parse(&c.value).map_err(|e| UsageError(format!("{}: {e}", c.source)))?),
        None => None,
    };
    if kid.is_some() && signing.is_empty() {
        return Err(UsageError(
            "a key id (--kid) is configured but no signing key; give --signing-key".to_owned(),
        ));
    }

    Ok(KeySources { signing, public: public.map(|c| PathBuf::from(c.value)), kid, migrated_from })
}

/// The issuer URL from `--issuer-url`/`TERN_ISSUER_URL`, or from Terrakube's
/// `DynamicCredentialHostname` / OTF's `OTF_HOSTNAME` (both mean `https://<host>`).
pub fn issuer(flag: Option<&str>, env: Env<'_>) -> Result<Option<(IssuerUrl, &'static str)>, UsageError> {
    let mut candidates: Vec<Candidate> = flag
        .map(|v| Candidate { source: "--issuer-url/TERN_ISSUER_URL", value: v.to_owned() })
        .into_iter()
        .collect();
    for name in ["DynamicCredentialHostname", "OTF_HOSTNAME"] {
        if let Some(host) = env(name) {
            candidates.push(Candidate { source: name, value: format!("https://{host}") });
        }
    }
    match agree("the issuer URL", candidates)? {
        None => Ok(None),
        Some(c) => {
            let url = IssuerUrl::parse(&c.value).map_err(|e| UsageError(format!("{}: {e}", c.source)))?;
            Ok(Some((url, c.source)))
        }
    }
}

/// Token lifetime from `--token-ttl`/`TERN_TOKEN_TTL` or Terrakube's `DynamicCredentialTtl`
/// (minutes); default 15 minutes.
pub fn ttl(flag: Option<&str>, env: Env<'_>) -> Result<Ttl, UsageError> {
    let native = match flag {
        Some(v) => Some(v.parse::<Ttl>().map_err(|e| UsageError(format!("--token-ttl: {e}")))?),
        None => None,
    };
    let terrakube = match env("DynamicCredentialTtl") {
        Some(v) => {
            let minutes: u64 = v.trim().parse().map_err(|_| {
                UsageError(format!("DynamicCredentialTtl={v:?} is not a whole number of minutes"))
            })?;
            Some(Ttl::from_minutes(minutes).map_err(|e| UsageError(format!("DynamicCredentialTtl: {e}")))?)
        }
        None => None,
    };
    match (native, terrakube) {
        (Some(a), Some(b)) if a != b => Err(UsageError(format!(
            "the token lifetime is set twice with different values: --token-ttl/TERN_TOKEN_TTL={a} and DynamicCredentialTtl={}m; keep one",
            b.as_secs() / 60
        ))),
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => Ok(Ttl::DEFAULT),
    }
}

/// Claim profile and subject template.
pub fn claim_policy(args: &ClaimArgs) -> Result<ClaimPolicy, UsageError> {
    let profile: ClaimProfile = args.profile.parse().map_err(|e| UsageError(format!("--profile: {e}")))?;
    let template = match &args.subject_template {
        Some(t) => {
            Some(SubjectTemplate::parse(t).map_err(|e| UsageError(format!("--subject-template: {e}")))?)
        }
        None => None,
    };
    Ok(ClaimPolicy::new(profile, template))
}

/// The run a token names, from `--organization`, `--workspace`, … Ids that are not given are
/// derived from the names, so repeated invocations for a workspace agree.
pub fn run_context(args: &RunArgs) -> Result<RunContext, UsageError> {
    let usage = |flag: &str, e: &dyn std::fmt::Display| UsageError(format!("{flag}: {e}"));
    let organization =
        OrganizationName::parse(&args.organization).map_err(|e| usage("--organization", &e))?;
    let project = ProjectName::parse(&args.project).map_err(|e| usage("--project", &e))?;
    let workspace = WorkspaceName::parse(&args.workspace).map_err(|e| usage("--workspace", &e))?;
    let id = |flag: &str,
              given: &Option<String>,
              prefix: &str,
              parts: &[&str]|
     -> Result<ResourceId, UsageError> {
        let value = given.clone().unwrap_or_else(|| derived_id(prefix, parts));
        ResourceId::parse(&value).map_err(|e| usage(flag, &e))
    };
    Ok(RunContext {
        organization_id: id("--organization-id", &args.organization_id, "org", &[organization.as_str()])?,
        project_id: id("--project-id", &args.project_id, "prj", &[organization.as_str(), project.as_str()])?,
        workspace_id: id(
            "--workspace-id",
            &args.workspace_id,
            "ws",
            &[organization.as_str(), workspace.as_str()],
        )?,
        organization,
        project,
        workspace,
        run_id: RunId::parse(&args.run_id).map_err(|e| usage("--run-id", &e))?,
        phase: args.phase.parse::<RunPhase>().map_err(|e| usage("--phase", &e))?,
    })
}

/// A stable, readable id for a name when the user gives none: `<prefix>-<16 hex>` (FNV-1a 64 of
/// the parts). Stable across releases, so repeated mints for a workspace carry the same ids.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.join("/").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{prefix}-{hash:016x}")
}

/// A duration option such as `--jwks-max-age 5m`.
pub fn duration(flag: &str, value: &str) -> Result<Duration, UsageError> {
    humantime::parse_duration(value).map_err(|e| {
        UsageError(format!("{flag} {value:?} is not a duration ({e}); write e.g. 30s, 5m or 1h"))
    })
}

/// `$XDG_DATA_HOME/tern`, else `$HOME/.local/share/tern`.
pub fn default_data_dir(env: Env<'_>) -> Result<PathBuf, UsageError> {
    if let Some(xdg) = env("XDG_DATA_HOME") {
        return Ok(PathBuf::from(xdg).join("tern"));
    }
    match env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local").join("share").join("tern")),
        None => Err(UsageError("neither XDG_DATA_HOME nor HOME is set; give --data-dir".to_owned())),
    }
}

/// How workers run phases, from `serve`'s or `agent`'s flags.
pub fn runner(
    args: &crate::cli::RunnerArgs,
    work_dir: PathBuf,
    default_credentials_dir: PathBuf,
    token_ttl: Ttl,
    env: Env<'_>,
) -> Result<tern_runner::RunnerSettings, UsageError> {
    let absolute = |p: PathBuf| -> Result<PathBuf, UsageError> {
        if p.is_absolute() {
            Ok(p)
        } else {
            std::env::current_dir()
                .map(|d| d.join(&p))
                .map_err(|e| UsageError(format!("resolving {}: {e}", p.display())))
        }
    };
    Ok(tern_runner::RunnerSettings {
        work_dir: absolute(work_dir)?,
        credentials_dir: absolute(args.credentials_dir.clone().unwrap_or(default_credentials_dir))?,
        token_ttl,
        grace: duration("--grace", &args.grace)?,
        endpoints: tern_credentials::handoff::Endpoints {
            gcp_sts: args.gcp_sts_url.clone(),
            gcp_iam_credentials: args.gcp_iam_credentials_url.clone(),
        },
        path: env("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_owned()).into(),
        // Probed when the command starts (I/O): see `terraform_sources`.
        terraform: std::sync::Arc::default(),
        // Set up when the command starts (I/O): see `sandbox`.
        sandbox: None,
        log_limit: args.phase_log_mib.saturating_mul(1 << 20),
        cli_config: cli_config(args, env)?,
        proxy_env: ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"]
            .iter()
            .filter_map(|k| env(k).map(|v| ((*k).to_owned(), v)))
            .collect(),
        // Written when the command starts (I/O): see `ca_bundle`.
        ca_bundle: None,
    })
}

/// Where the system's CA bundle may be, in the order Go looks (`crypto/x509`, root_linux.go).
pub(crate) const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The bundle phases trust with `--ca-bundle`: the system's roots, then the operator's
/// certificates, written into `private` (the data or runtime directory) readable by everyone.
/// `None` without `--ca-bundle`: phases then use the system's roots as they are.
pub fn ca_bundle(
    args: &crate::cli::RunnerArgs,
    private: &std::path::Path,
) -> Result<Option<PathBuf>, UsageError> {
    use rustls_pki_types::pem::SectionKind;
    let Some(extra) = &args.ca_bundle else { return Ok(None) };
    let flag = format!("--ca-bundle {}", extra.display());
    let pem = std::fs::read(extra).map_err(|e| UsageError(format!("{flag}: cannot read it: {e}")))?;
    let mut reader = pem.as_slice();
    let mut certificates = 0usize;
    loop {
        match rustls_pki_types::pem::from_buf(&mut reader) {
            Ok(None) => break,
            Ok(Some((SectionKind::Certificate, _))) => certificates += 1,
            Ok(Some((kind, _))) => {
                return Err(UsageError(format!(
                    "{flag}: holds a {kind:?} section; give CA certificates only (every phase can read this bundle)"
                )));
            }
            Err(e) => return Err(UsageError(format!("{flag}: not a PEM file: {e:?}"))),
        }
    }
    // Sections rustls does not know (ENCRYPTED PRIVATE KEY…) are skipped above: refuse any key.
    if certificates == 0 || String::from_utf8_lossy(&pem).contains("PRIVATE KEY-----") {
        return Err(UsageError(format!(
            "{flag}: give a PEM file of CERTIFICATE blocks only (it has {certificates}, or also a private key)"
        )));
    }
    let mut bundle = Vec::with_capacity(pem.len() + 256 * 1024);
    match SYSTEM_CA_BUNDLES.iter().find_map(|p| std::fs::read(p).ok().map(|b| (p, b))) {
        Some((path, system)) => {
            bundle.extend_from_slice(format!("# The system's roots, from {path}\n").as_bytes());
            bundle.extend_from_slice(&system);
        }
        None => tracing::warn!(
            "{flag}: no system CA bundle found ({}): phases trust only these certificates",
            SYSTEM_CA_BUNDLES.join(", ")
        ),
    }
    if !bundle.is_empty() && !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    bundle.extend_from_slice(format!("# The operator's --ca-bundle {}\n", extra.display()).as_bytes());
    bundle.extend_from_slice(&pem);
    if !private.is_dir() {
        tern_handoff::rundir::prepare_base(private).map_err(|e| UsageError(e.to_string()))?;
    }
    let path = private.join("phase-ca-bundle.pem");
    let partial = private.join("phase-ca-bundle.pem.partial");
    std::fs::write(&partial, &bundle)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| UsageError(format!("writing {}: {e}", path.display())))?;
    tracing::info!(
        "phases trust the system's roots and {certificates} certificate(s) of {} (SSL_CERT_FILE={})",
        extra.display(),
        path.display()
    );
    Ok(Some(path))
}

/// Where a phase reaches tern's API: the `listen` address (its port on 127.0.0.1 when it
/// listens on every address), and what each of `urls` (the public URL, the issuer, an agent's
/// server) resolves to now. A URL that does not resolve is a warning: phases then cannot reach it
/// through the egress filter unless `--allow-egress` names it.
pub fn api_addresses(urls: &[&str], listen: Option<std::net::SocketAddr>) -> Vec<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};
    let mut found: Vec<SocketAddr> = Vec::new();
    let mut add = |addr: SocketAddr| {
        if !found.contains(&addr) {
            found.push(addr);
        }
    };
    if let Some(addr) = listen {
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                add(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()))
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                add(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()));
                add(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()));
            }
            _ => add(addr),
        }
    }
    for url in urls {
        let Ok(parsed) = url::Url::parse(url) else { continue };
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else { continue };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match (host, port).to_socket_addrs() {
            Ok(addrs) => addrs.for_each(&mut add),
            Err(e) => tracing::warn!(
                "{url}: cannot resolve {host} ({e}): phases cannot reach it through the egress filter; give --allow-egress IP:PORT"
            ),
        }
    }
    found
}

/// The Terraform CLI configuration phases get: `--terraform-config`, else this process's
/// `TF_CLI_CONFIG_FILE`, else `~/.terraformrc` when it exists.
fn cli_config(
    args: &crate::cli::RunnerArgs,
    env: Env<'_>,
) -> Result<Option<std::sync::Arc<tern_runner::cliconfig::CliConfig>>, UsageError> {
    let (file, flag) = match (&args.terraform_config, env("TF_CLI_CONFIG_FILE")) {
        (Some(f), _) => (f.clone(), "--terraform-config"),
        (None, Some(f)) if !f.is_empty() => {
            if !std::path::Path::new(&f).exists() {
                // As Terraform does with it: a warning, not an error.
                tracing::warn!(
                    "TF_CLI_CONFIG_FILE names {f}, which does not exist: phases get no CLI configuration"
                );
                return Ok(None);
            }
            (PathBuf::from(f), "TF_CLI_CONFIG_FILE")
        }
        _ => match env("HOME").map(|h| PathBuf::from(h).join(".terraformrc")) {
            Some(f) if f.is_file() => (f, "~/.terraformrc"),
            _ => return Ok(None),
        },
    };
    let file = std::path::absolute(&file).unwrap_or(file);
    let config =
        tern_runner::cliconfig::CliConfig::load(&file).map_err(|e| UsageError(format!("{flag}: {e}")))?;
    tracing::info!("phases use the Terraform CLI configuration {} ({flag})", file.display());
    if config.has_credentials {
        tracing::warn!(
            "{} holds credentials blocks: every phase can read those registry tokens",
            file.display()
        );
    }
    Ok(Some(std::sync::Arc::new(config)))
}

/// The sandbox phases run in, from `--isolation` and the limits; `None` for `--isolation none`.
/// It is started once here and must prove it cannot see `private` (the data directory), so
/// that a server that cannot sandbox says so at start, not at its first run.
pub fn sandbox(
    args: &crate::cli::RunnerArgs,
    private: &std::path::Path,
) -> Result<Option<std::sync::Arc<tern_sandbox::Sandbox>>, UsageError> {
    if args.isolation == "none" {
        return Ok(None);
    }
    let egress = egress(args, private)?;
    let user = match &args.sandbox_user {
        None => None,
        Some(text) => {
            let (uid, gid) = text.split_once(':').unwrap_or((text, text));
            let parse = |v: &str| v.trim().parse::<u32>().ok();
            match (parse(uid), parse(gid)) {
                (Some(uid), Some(gid)) => Some((uid, gid)),
                _ => {
                    return Err(UsageError(format!(
                        "--sandbox-user {text:?}: give numeric ids, UID or UID:GID (e.g. 65534:65534)"
                    )));
                }
            }
        }
    };
    let mib = |v: u64| v.saturating_mul(1 << 20);
    if args.phase_memory_mib < 1024 {
        return Err(UsageError(format!(
            "--phase-memory-mib {}: Terraform needs at least 1024 MiB of address space to start",
            args.phase_memory_mib
        )));
    }
    let given = args.sandbox_read_only.iter().map(|p| ("--sandbox-read-only", p));
    for (flag, path) in given.chain(args.sandbox_read_write.iter().map(|p| ("--sandbox-read-write", p))) {
        if !path.is_absolute() || !path.exists() {
            return Err(UsageError(format!("{flag} {}: give an absolute path that exists", path.display())));
        }
        if private.starts_with(path) || path.starts_with(private) {
            return Err(UsageError(format!(
                "{flag} {}: it would show phases tern's own directory {} (keys, database, other jobs)",
                path.display(),
                private.display()
            )));
        }
    }
    let config = tern_sandbox::Config {
        user,
        limits: tern_sandbox::Limits {
            memory_bytes: mib(args.phase_memory_mib),
            processes: args.phase_processes,
            file_bytes: mib(args.phase_file_size_mib),
            cpu_seconds: args.phase_cpu_seconds,
            ..tern_sandbox::Limits::default()
        },
        read_only: args.sandbox_read_only.clone(),
        read_write: args.sandbox_read_write.clone(),
        egress,
    };
    let sandbox = tern_sandbox::Sandbox::new(config).map_err(|e| UsageError(e.to_string()))?;
    sandbox.check(private).map_err(|e| {
        UsageError(format!(
            "{e}. tern runs every phase in a sandbox; fix the above, or run without isolation with --isolation none (tenant code then runs as tern's own user)"
        ))
    })?;
    Ok(Some(std::sync::Arc::new(sandbox)))
}

/// The egress policy from `--egress`, `--allow-egress`, `--deny-egress`; `None` for the host's
/// network. Writes the sandbox's resolv.conf into `private` (the data or runtime directory).
fn egress(
    args: &crate::cli::RunnerArgs,
    private: &std::path::Path,
) -> Result<Option<tern_sandbox::Egress>, UsageError> {
    use tern_sandbox::egress;
    let root = nix::unistd::geteuid().is_root();
    let filtered = match args.egress.as_str() {
        "host" => false,
        "filtered" => true,
        _ => {
            let why = if root {
                egress::Tools::find().err().map(|e| e.to_string())
            } else {
                Some("tern does not run as root".to_owned())
            };
            if let Some(why) = &why {
                tracing::warn!(
                    "phases share this host's network (--egress auto: {why}): a run can reach this host's loopback services and a cloud metadata endpoint"
                );
            }
            why.is_none()
        }
    };
    if !filtered {
        return Ok(None);
    }
    let deny = args
        .deny_egress
        .iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| egress::parse_cidr(d.trim()).map_err(|e| UsageError(format!("--deny-egress {d:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if !private.is_dir() {
        tern_handoff::rundir::prepare_base(private).map_err(|e| UsageError(e.to_string()))?;
    }
    let resolv_conf = private.join("sandbox-resolv.conf");
    std::fs::write(&resolv_conf, egress::RESOLV_CONF)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&resolv_conf, std::fs::Permissions::from_mode(0o644))
        })
        .map_err(|e| UsageError(format!("writing {}: {e}", resolv_conf.display())))?;
    Ok(Some(tern_sandbox::Egress {
        policy: egress::EgressPolicy { allow: args.allow_egress.clone(), deny },
        resolv_conf,
    }))
}

/// Say at every start how phases are isolated (a warning without a sandbox).
pub fn log_isolation(sandbox: Option<&tern_sandbox::Sandbox>) {
    match sandbox {
        Some(s) => tracing::info!("phases run in a sandbox: {}", s.describe()),
        None => tracing::warn!(
            "--isolation none: phases run WITHOUT a sandbox, as this process's user; a run's configuration (local-exec, providers) can read the signing key, the database and other tenants' jobs. Use only with a single trusted operator."
        ),
    }
}

/// Where the operator's Terraform binaries are (`--terraform`, `--tools-dir`). They are probed
/// when the command starts (and kept as absolute paths: Terraform runs in each job's directory).
pub fn terraform_sources(args: &crate::cli::RunnerArgs) -> tern_runner::TerraformSources {
    tern_runner::TerraformSources {
        // An empty entry (TERN_TERRAFORM="a::b", or set but empty) names nothing.
        paths: args.terraform.iter().filter(|p| !p.as_os_str().is_empty()).cloned().collect(),
        tools_dir: args.tools_dir.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    fn args(signing: &[&str], public: Option<&str>, kid: Option<&str>) -> SigningKeyArgs {
        SigningKeyArgs {
            signing_keys: signing.iter().map(PathBuf::from).collect(),
            public_key: public.map(PathBuf::from),
            kid: kid.map(str::to_owned),
        }
    }

    #[test]
    fn key_sources_table() {
        let paths = |s: &KeySources| s.signing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
        // (args, env, expected signing keys or error substring)
        type Case =
            (SigningKeyArgs, Vec<(&'static str, &'static str)>, Result<Vec<&'static str>, &'static str>);
        let cases: Vec<Case> = vec![
            (args(&[], None, None), vec![], Ok(vec![])),
            (args(&["a.pem", "b.pem"], None, None), vec![], Ok(vec!["a.pem", "b.pem"])),
            (args(&[], None, None), vec![("OTF_PRIVATE_KEY_PATH", "otf.pem")], Ok(vec!["otf.pem"])),
            (args(&[], None, None), vec![("DynamicCredentialPrivateKeyPath", "tk.pem")], Ok(vec!["tk.pem"])),
            (
                args(&["a.pem"], None, None),
                vec![("DynamicCredentialPrivateKeyPath", "a.pem")],
                Ok(vec!["a.pem"]),
            ),
            (
                args(&["a.pem"], None, None),
                vec![("DynamicCredentialPrivateKeyPath", "b.pem")],
                Err("--signing-key/TERN_SIGNING_KEY=\"a.pem\" and DynamicCredentialPrivateKeyPath=\"b.pem\""),
            ),
            (
                args(&[], None, None),
                vec![("OTF_PRIVATE_KEY_PATH", "a.pem"), ("DynamicCredentialPrivateKeyPath", "b.pem")],
                Err("set twice"),
            ),
            (args(&[], Some("p.pem"), None), vec![], Err("no signing key")),
            (args(&[], None, Some("kid-1")), vec![], Err("no signing key")),
            (args(&["a.pem"], None, Some("bad kid")), vec![], Err("--kid/TERN_KID")),
            (
                args(&["a.pem"], Some("p.pem"), None),
                vec![("OTF_PUBLIC_KEY_PATH", "q.pem")],
                Err("the public key is set twice"),
            ),
        ];
        for (i, (a, env, expected)) in cases.into_iter().enumerate() {
            let env = env_of(&env);
            match (key_sources(&a, &env), expected) {
                (Ok(s), Ok(want)) => assert_eq!(paths(&s), want, "case {i}"),
                (Err(e), Err(part)) => assert!(e.0.contains(part), "case {i}: {}", e.0),
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn terrakube_configuration_is_taken_whole() {
        let env = env_of(&[
            ("DynamicCredentialPrivateKeyPath", "/etc/terrakube/private.pem"),
            ("DynamicCredentialPublicKeyPath", "/etc/terrakube/public.pem"),
            ("DynamicCredentialId", "03446895-220d-47e1-9564-4eeaa3691b42"),
            ("DynamicCredentialTtl", "30"),
            ("DynamicCredentialHostname", "terrakube-api.example.com"),
        ]);
        let s = key_sources(&args(&[], None, None), &env).unwrap();
        assert_eq!(s.signing, vec![PathBuf::from("/etc/terrakube/private.pem")]);
        assert_eq!(s.public, Some(PathBuf::from("/etc/terrakube/public.pem")));
        assert_eq!(s.kid.as_ref().map(Kid::as_str), Some("03446895-220d-47e1-9564-4eeaa3691b42"));
        assert_eq!(
            s.migrated_from,
            ["DynamicCredentialPrivateKeyPath", "DynamicCredentialPublicKeyPath", "DynamicCredentialId"]
        );
        assert_eq!(ttl(None, &env).unwrap().as_secs(), 1800);
        let (url, source) = issuer(None, &env).unwrap().unwrap();
        assert_eq!(url.as_str(), "https://terrakube-api.example.com");
        assert_eq!(source, "DynamicCredentialHostname");
    }

    #[test]
    fn issuer_and_ttl_conflicts() {
        let env = env_of(&[("OTF_HOSTNAME", "otf.example.com")]);
        assert_eq!(
            issuer(Some("https://otf.example.com"), &env).unwrap().unwrap().1,
            "--issuer-url/TERN_ISSUER_URL"
        );
        assert!(issuer(Some("https://tern.example.com"), &env).unwrap_err().0.contains("OTF_HOSTNAME"));
        assert!(issuer(Some("https://tern.example.com/"), &env_of(&[])).unwrap_err().0.contains("trailing"));
        assert_eq!(issuer(None, &env_of(&[])).unwrap(), None);

        let env = env_of(&[("DynamicCredentialTtl", "15")]);
        assert_eq!(ttl(Some("15m"), &env).unwrap().as_secs(), 900);
        assert!(ttl(Some("20m"), &env).unwrap_err().0.contains("DynamicCredentialTtl=15m"));
        assert!(ttl(None, &env_of(&[("DynamicCredentialTtl", "half an hour")])).is_err());
        assert!(ttl(None, &env_of(&[("DynamicCredentialTtl", "0")])).is_err());
        assert_eq!(ttl(None, &env_of(&[])).unwrap(), Ttl::DEFAULT);
        assert!(ttl(Some("900"), &env_of(&[])).unwrap_err().0.contains("no unit"));
    }

    #[test]
    fn derived_ids_are_stable_and_valid() {
        assert_eq!(derived_id("ws", &["acme", "prod"]), derived_id("ws", &["acme", "prod"]));
        assert_ne!(derived_id("ws", &["acme", "prod"]), derived_id("ws", &["acme", "dev"]));
        // Pinned (FNV-1a 64, checked independently): ids must not change between releases.
        assert_eq!(derived_id("org", &["acme"]), "org-0724d383f4f6de0f");
        assert!(ResourceId::parse(&derived_id("prj", &["acme", "Default Project"])).is_ok());
    }

    #[test]
    fn claim_policy_and_data_dir() {
        let ok = claim_policy(&ClaimArgs { profile: "otf".into(), subject_template: None }).unwrap();
        assert_eq!(ok.profile(), ClaimProfile::Otf);
        assert!(claim_policy(&ClaimArgs { profile: "github".into(), subject_template: None }).is_err());
        let err =
            claim_policy(&ClaimArgs { profile: "tfc".into(), subject_template: Some("workspace".into()) });
        assert!(
            err.unwrap_err().0.contains("--subject-template: subject template must include organization")
        );

        assert_eq!(default_data_dir(&env_of(&[("XDG_DATA_HOME", "/x")])).unwrap(), PathBuf::from("/x/tern"));
        assert_eq!(
            default_data_dir(&env_of(&[("HOME", "/home/u")])).unwrap(),
            PathBuf::from("/home/u/.local/share/tern")
        );
        assert!(default_data_dir(&env_of(&[])).is_err());
    }

    fn runner_args(args: &[&str]) -> crate::cli::RunnerArgs {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            runner: crate::cli::RunnerArgs,
        }
        let mut all = vec!["tern"];
        all.extend(args);
        Wrapper::try_parse_from(all).unwrap().runner
    }

    #[test]
    fn the_cli_configuration_comes_from_the_flag_the_environment_or_home() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join("terraform.rc");
        std::fs::write(&rc, "plugin_cache_dir = \"/tmp\"\n").unwrap();
        let rc_text = rc.to_str().unwrap();
        // The flag: must exist.
        let found =
            cli_config(&runner_args(&["--terraform-config", rc_text]), &env_of(&[])).unwrap().unwrap();
        assert_eq!(found.read_write, vec![PathBuf::from("/tmp")]);
        let err =
            cli_config(&runner_args(&["--terraform-config", "/nonexistent/rc"]), &env_of(&[])).unwrap_err();
        assert!(err.0.contains("--terraform-config"), "{}", err.0);
        // TF_CLI_CONFIG_FILE: used; naming nothing is a warning, as Terraform makes it.
        let from_env = cli_config(&runner_args(&[]), &env_of(&[("TF_CLI_CONFIG_FILE", rc_text)])).unwrap();
        assert_eq!(from_env.unwrap().file, rc);
        assert!(
            cli_config(&runner_args(&[]), &env_of(&[("TF_CLI_CONFIG_FILE", "/nonexistent/rc")]))
                .unwrap()
                .is_none()
        );
        // ~/.terraformrc when it exists.
        let home = dir.path().to_str().unwrap();
        assert!(cli_config(&runner_args(&[]), &env_of(&[("HOME", home)])).unwrap().is_none());
        std::fs::copy(&rc, dir.path().join(".terraformrc")).unwrap();
        assert!(cli_config(&runner_args(&[]), &env_of(&[("HOME", home)])).unwrap().is_some());
    }

    #[test]
    fn the_ca_bundle_joins_the_system_roots_and_refuses_anything_but_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let ca = tern_testkit::tls::TestCa::generate(&dir.path().join("ca"));
        let private = dir.path().join("private");
        let ca_text = ca.ca_cert.to_str().unwrap();
        assert!(ca_bundle(&runner_args(&[]), &private).unwrap().is_none());
        let path = ca_bundle(&runner_args(&["--ca-bundle", ca_text]), &private).unwrap().unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let extra = std::fs::read_to_string(&ca.ca_cert).unwrap();
        assert!(written.ends_with(&extra), "the operator's certificates come last");
        if std::path::Path::new(SYSTEM_CA_BUNDLES[0]).exists() {
            let system = std::fs::read_to_string(SYSTEM_CA_BUNDLES[0]).unwrap();
            assert!(written.contains(&system), "the system's roots are kept");
        }
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        // A private key, a file of no certificate, and a missing file are start errors.
        let key = ca_bundle(&runner_args(&["--ca-bundle", ca.server_key.to_str().unwrap()]), &private);
        assert!(key.unwrap_err().0.contains("give CA certificates only"));
        let mixed = dir.path().join("mixed.pem");
        let both = format!("{extra}{}", std::fs::read_to_string(&ca.server_key).unwrap());
        std::fs::write(&mixed, both).unwrap();
        assert!(ca_bundle(&runner_args(&["--ca-bundle", mixed.to_str().unwrap()]), &private).is_err());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = ca_bundle(&runner_args(&["--ca-bundle", empty.to_str().unwrap()]), &private).unwrap_err();
        assert!(err.0.contains("CERTIFICATE blocks only"), "{}", err.0);
        assert!(ca_bundle(&runner_args(&["--ca-bundle", "/nonexistent.pem"]), &private).is_err());
    }

    #[test]
    fn terns_api_addresses_come_from_the_listener_and_the_urls() {
        let any: std::net::SocketAddr = "0.0.0.0:8443".parse().unwrap();
        assert_eq!(api_addresses(&[], Some(any)), vec!["127.0.0.1:8443".parse().unwrap()]);
        let found = api_addresses(&["https://127.0.0.1", "http://192.0.2.7:9000/x", "not a url"], None);
        assert_eq!(found, vec!["127.0.0.1:443".parse().unwrap(), "192.0.2.7:9000".parse().unwrap()]);
        let once = api_addresses(&["http://127.0.0.1:8080"], Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(once.len(), 1, "{once:?}");
        // A name that does not resolve is a warning, not an error.
        assert!(api_addresses(&["https://tern.invalid"], None).is_empty());
    }
}
