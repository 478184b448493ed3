//! `tern doctor`: check an installation the way a cloud and an operator would see it, with the
//! same flags and environment as `tern serve`, and change nothing.

use std::fmt;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use serde_json::Value;
use tern_identity::verify::{self, Expectations, Jwks};
use tern_identity::{Jti, KeyRing, RunContext, SigningKey, TokenRequest};
use tern_store::{EncryptionKey, KeyState, Store};
use tern_types::{
    Audience, Clock as _, IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, SystemClock,
    WorkspaceName, unix_seconds,
};

use super::serve::{
    ServeSettings, loopback_host, read_encryption_key as read_encryption_key_or_none, redact_url,
};
use crate::cli::DoctorArgs;
use crate::keyfile;
use crate::settings::{self, Env};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Warn,
    Fail,
}

struct Finding {
    name: &'static str,
    status: Status,
    detail: String,
    fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        writeln!(f, "  {tag}  {:<20} {}", self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            writeln!(f, "        {:<20} fix: {fix}", "")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, name: &'static str, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.0.push(Finding { name, status, detail: detail.into(), fix });
    }
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.add(name, Status::Pass, detail, None);
    }
    fn warn(&mut self, name: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(name, Status::Warn, detail, Some(fix.into()));
    }
    fn fail(&mut self, name: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(name, Status::Fail, detail, Some(fix.into()));
    }
    fn finish(&self) -> ExitCode {
        let count = |s| self.0.iter().filter(|f| f.status == s).count();
        for f in &self.0 {
            out!("{f}");
        }
        let (p, w, x) = (count(Status::Pass), count(Status::Warn), count(Status::Fail));
        outln!("\n{p} passed, {w} warnings, {x} failed");
        if x > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    }
}

/// Whether phases would run in a working sandbox: start one and prove it cannot see the data
/// directory (a failure), or say that the operator turned isolation off (a warning).
fn sandbox_check(args: &crate::cli::ServeArgs, env: Env<'_>) -> (Status, String, Option<String>) {
    if args.runner.isolation == "none" {
        return (
            Status::Warn,
            "--isolation none: phases run as tern's own user, next to the signing key, the database and other tenants' jobs".into(),
            Some("drop --isolation none (TERN_ISOLATION) once bubblewrap is installed: apt-get install bubblewrap".into()),
        );
    }
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => match settings::default_data_dir(env) {
            Ok(d) => d,
            Err(e) => return (Status::Fail, e.to_string(), Some("give --data-dir".into())),
        },
    };
    match settings::sandbox(&args.runner, &data_dir) {
        Ok(Some(sandbox)) => (
            Status::Pass,
            // `settings::sandbox` has just started one and proved it cannot see the data directory.
            format!(
                "{}; a test sandbox ran as that user without capabilities and could not see {}",
                sandbox.describe(),
                data_dir.display()
            ),
            None,
        ),
        Ok(None) => (Status::Warn, "no sandbox".into(), None),
        Err(e) => (
            Status::Fail,
            e.to_string(),
            Some("install bubblewrap (apt-get install bubblewrap), or see the message".into()),
        ),
    }
}

pub fn run(args: DoctorArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    // The issuer URL first: a malformed one is the first finding, not a usage error.
    if let Err(e) = settings::issuer(args.serve.issuer_url.as_deref(), env) {
        report.fail(
            "issuer URL",
            e.to_string(),
            "give --issuer-url (TERN_ISSUER_URL) as the absolute https URL clouds reach, without a trailing slash",
        );
        outln!("tern doctor");
        return Ok(report.finish());
    }
    // The sandbox is checked here as a finding, not as the start-up error `serve` makes of it.
    let sandbox_finding = sandbox_check(&args.serve, env);
    let mut args = args;
    args.serve.runner.isolation = "none".into();
    let settings = ServeSettings::from_args(&args.serve, env)?;
    let timeout = settings::duration("--timeout", &args.timeout)?;
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    let issuer = match &settings.issuer {
        Some((url, _)) => url.clone(),
        None => {
            let host =
                if settings.tls.is_some() { "localhost".to_owned() } else { loopback_host(&settings.listen) };
            IssuerUrl::parse(&format!("{scheme}://{host}:{}", settings.listen.port()))
                .map_err(|e| anyhow!("deriving the issuer URL from --listen {}: {e}", settings.listen))?
        }
    };
    outln!("tern doctor: issuer {issuer}, database {}\n", redact_url(&settings.database_url));

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(checks(&mut report, &settings, &issuer, &args, timeout, env));
    let (status, detail, fix) = sandbox_finding;
    report.add("sandbox", status, detail, fix);
    Ok(report.finish())
}

async fn checks(
    report: &mut Report,
    settings: &ServeSettings,
    issuer: &IssuerUrl,
    args: &DoctorArgs,
    timeout: Duration,
    env: Env<'_>,
) {
    // 1. The issuer URL and its scheme.
    let source = settings.issuer.as_ref().map_or("derived from --listen", |(_, s)| *s);
    report.pass("issuer URL", format!("{issuer} ({source}): absolute, canonical, no trailing slash"));
    if issuer.is_https() {
        report.pass("https", "the issuer is https");
    } else if issuer.is_loopback() {
        report.warn(
            "https",
            "the issuer is plain http on loopback: only relying parties on this machine (a local Vault) can use it",
            "serve over https at a public name (--tls-cert/--tls-key or a TLS proxy) and give it as --issuer-url",
        );
    } else {
        report.fail(
            "https",
            "the issuer is plain http: AWS, Azure and Google Cloud only trust https issuers",
            "serve over https (--tls-cert/--tls-key, or a TLS-terminating proxy) and give the https URL as --issuer-url",
        );
    }

    // 2. The database, then what needs it: managed keys and agents.
    let clock: Arc<dyn tern_types::Clock> = Arc::new(SystemClock);
    let kek = read_encryption_key(settings, env);
    let store = match Store::inspect(&settings.database_url, kek.as_ref().ok(), clock).await {
        Ok((status, store)) => {
            if !status.conflicts.is_empty() {
                report.fail(
                    "database",
                    status.conflicts.join("; "),
                    "run the tern version that migrated this database, or restore a backup",
                );
            } else if !status.pending.is_empty() {
                report.warn(
                    "database",
                    format!("reachable; migrations {:?} of this tern are not applied yet", status.pending),
                    "tern serve applies them when it starts (one replica at a time takes a lock)",
                );
            } else {
                report.pass("database", format!("reachable, schema at version {}", status.newest_known));
            }
            match (&kek, &store) {
                (Err(e), _) => report.fail(
                    "encryption key",
                    format!("{e:#}"),
                    "give the key tern serve uses: TERN_ENCRYPTION_KEY or --encryption-key-file",
                ),
                (Ok(_), None) if status.is_current() => report.fail(
                    "encryption key",
                    "it is not the key this database was set up with",
                    "give the original key (TERN_ENCRYPTION_KEY or --encryption-key-file)",
                ),
                _ => {}
            }
            store
        }
        Err(e) => {
            report.fail(
                "database",
                format!("{}: {e}", redact_url(&settings.database_url)),
                "start the database, or fix --database-url (TERN_DATABASE_URL); check the host, port, credentials and that the database exists",
            );
            None
        }
    };

    // 3. The key that signs, as this configuration loads it.
    let active = active_key(report, settings, store.as_ref()).await;
    key_permissions(report, settings, env);

    // 4. Discovery and JWKS at the issuer URL, as a cloud fetches them.
    let client = match http_client(args, timeout) {
        Ok(c) => c,
        Err(e) => {
            report.fail("discovery document", format!("{e:#}"), "fix --ca-cert");
            return;
        }
    };
    let discovery_url = issuer.discovery_url();
    let jwks = match fetch(&client, &discovery_url).await {
        Err(e) => {
            report.fail(
                "discovery document",
                format!("GET {discovery_url}: {e}"),
                "start tern serve, and make sure this URL reaches it from here (DNS, proxy, firewall, certificate)",
            );
            None
        }
        Ok(resp) => {
            clock_check(report, &resp.date);
            cache_check(report, "discovery cache", &resp);
            match serde_json::from_slice::<Value>(&resp.body) {
                Err(e) => {
                    report.fail(
                        "discovery document",
                        format!("{discovery_url} is not JSON: {e}"),
                        "is something else answering at this URL?",
                    );
                    None
                }
                Ok(doc) => {
                    let found = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                    let jwks_uri = doc.get("jwks_uri").and_then(Value::as_str).unwrap_or("").to_owned();
                    if found != issuer.as_str() {
                        report.fail(
                            "discovery document",
                            format!("the server at {discovery_url} says its issuer is {found:?}, not {:?}: its tokens will not match trust written for this URL", issuer.as_str()),
                            "run tern serve and tern doctor with the same --issuer-url; relying parties compare it byte for byte",
                        );
                    } else if jwks_uri != issuer.jwks_uri() {
                        report.fail(
                            "discovery document",
                            format!("jwks_uri is {jwks_uri:?}, not {}", issuer.jwks_uri()),
                            "is a proxy rewriting the document?",
                        );
                    } else if !resp.content_type.starts_with("application/json") {
                        report.warn(
                            "discovery document",
                            format!("served as {:?}", resp.content_type),
                            "serve it as application/json (a proxy may rewrite it)",
                        );
                    } else {
                        report.pass(
                            "discovery document",
                            format!("{discovery_url}: issuer and jwks_uri match"),
                        );
                    }
                    fetch_jwks(report, &client, &jwks_uri, active.as_ref()).await
                }
            }
        }
    };

    // 5. A token mints with the configured key and verifies against the served JWKS.
    match (&active, &jwks) {
        (Some(key), Some(jwks)) => mint_and_verify(report, issuer, key, jwks),
        _ => report.fail(
            "mint and verify",
            "not checked: the signing key or the served JWKS is unavailable (see above)",
            "fix the checks above",
        ),
    }

    // 6. Agents.
    match &store {
        Some(store) => {
            let now = i64::try_from(unix_seconds(SystemClock.now())).unwrap_or(i64::MAX);
            match store.agents_seen_since(now - 60).await {
                Ok(agents) if agents.is_empty() => report.warn(
                    "agents",
                    "no agent has polled for jobs in the last minute: runs will wait in the queue",
                    "run tern serve with --workers > 0, or start `tern agent` with an agent token",
                ),
                Ok(agents) => {
                    let names: Vec<String> = agents.iter().map(|(d, _)| d.clone()).collect();
                    report.pass(
                        "agents",
                        format!("{} polled in the last minute: {}", agents.len(), names.join(", ")),
                    );
                }
                Err(e) => report.fail("agents", format!("cannot read: {e}"), "see the database check"),
            }
        }
        None => report.fail("agents", "not checked: the database is unavailable", "see the database check"),
    }

    // 7. TLS: the configured certificate, and the chain served at the issuer (AWS thumbprint).
    if let Some((cert, _)) = &settings.tls {
        match std::fs::read(cert) {
            Ok(pem) => certificate_check(
                report,
                &format!("certificate file {}", cert.display()),
                &pem_certs(&pem),
                issuer,
            ),
            Err(e) => report.fail("TLS certificate", format!("{}: {e}", cert.display()), "fix --tls-cert"),
        }
    }
    if issuer.is_https() {
        match served_chain(issuer, timeout).await {
            Ok(chain) => {
                if settings.tls.is_none() {
                    certificate_check(report, "certificate served at the issuer", &chain, issuer);
                }
                aws_thumbprint(report, &chain);
            }
            Err(e) => report.fail(
                "AWS thumbprint",
                format!("cannot read the certificate chain served at {issuer}: {e:#}"),
                "make the issuer reachable over https from here",
            ),
        }
    } else {
        report.warn(
            "AWS thumbprint",
            "not applicable: AWS needs an https issuer",
            "serve the issuer over https",
        );
    }
}

fn read_encryption_key(settings: &ServeSettings, env: Env<'_>) -> anyhow::Result<EncryptionKey> {
    read_encryption_key_or_none(settings, env)?.ok_or_else(|| {
        anyhow!(
            "no encryption key: neither TERN_ENCRYPTION_KEY, --encryption-key-file, nor {} (tern serve generates it on its first start)",
            settings.data_dir.join("encryption-key").display()
        )
    })
}

async fn active_key(
    report: &mut Report,
    settings: &ServeSettings,
    store: Option<&Store>,
) -> Option<Arc<SigningKey>> {
    if settings.managed.is_some() {
        let Some(store) = store else {
            report.fail(
                "signing key",
                "managed keys: not checked, the database is unavailable",
                "see the database check",
            );
            return None;
        };
        let keys = match store.managed_keys().await {
            Ok(k) => k,
            Err(e) => {
                report.fail(
                    "signing key",
                    format!("reading the managed keys: {e}"),
                    "see the database check",
                );
                return None;
            }
        };
        let Some(current) = keys.iter().find(|k| k.state == KeyState::Current) else {
            report.fail(
                "signing key",
                "managed keys: none is current",
                "start tern serve --managed-keys: it creates one",
            );
            return None;
        };
        return match store
            .managed_key_pem(&current.kid)
            .await
            .map_err(anyhow::Error::from)
            .and_then(|pem| SigningKey::from_pem(&pem).map_err(anyhow::Error::from))
        {
            Ok(key) => {
                report.pass(
                    "signing key",
                    format!(
                        "managed key kid={} {} ({} keys in the ring)",
                        key.kid(),
                        key.algorithm(),
                        keys.len()
                    ),
                );
                Some(Arc::new(key))
            }
            Err(e) => {
                report.fail(
                    "signing key",
                    format!("managed key {}: {e:#}", current.kid),
                    "is the encryption key the database was set up with?",
                );
                None
            }
        };
    }
    let loaded = if settings.keys.signing.is_empty() {
        let path = settings.data_dir.join("dev-signing-key.pem");
        if !path.exists() {
            report.fail(
                "signing key",
                format!("no --signing-key and no development key at {}", path.display()),
                "give --signing-key (tern keygen makes one), or start tern serve once in development mode",
            );
            return None;
        }
        keyfile::read("development key", &path, true)
            .and_then(|pem| {
                SigningKey::from_pem(&pem).with_context(|| format!("development key {}", path.display()))
            })
            .and_then(|k| KeyRing::new(k, Vec::new()).map_err(anyhow::Error::from))
            .map(|ring| (ring, " (the development key: not for production)"))
    } else {
        keyfile::load_ring(&settings.keys).map(|ring| (ring, ""))
    };
    match loaded {
        Ok((ring, note)) => {
            let key = ring.signing_key().clone();
            report.pass("signing key", format!("kid={} {}{note}", key.kid(), key.algorithm()));
            Some(key)
        }
        Err(e) => {
            report.fail("signing key", format!("{e:#}"), "fix --signing-key (tern keygen makes a key)");
            None
        }
    }
}

fn key_permissions(report: &mut Report, settings: &ServeSettings, env: Env<'_>) {
    let mut files: Vec<(&str, std::path::PathBuf)> =
        settings.keys.signing.iter().take(1).map(|p| ("signing key", p.clone())).collect();
    if settings.keys.signing.is_empty() && settings.managed.is_none() {
        files.push(("development key", settings.data_dir.join("dev-signing-key.pem")));
    }
    if env("TERN_ENCRYPTION_KEY").is_none() {
        files.push((
            "encryption key",
            settings.encryption_key_file.clone().unwrap_or_else(|| settings.data_dir.join("encryption-key")),
        ));
    }
    if let Some((_, key)) = &settings.tls {
        files.push(("TLS key", key.clone()));
    }
    let uid = nix::unistd::Uid::effective().as_raw();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (what, path) in &files {
        let Ok(meta) = std::fs::metadata(path) else { continue };
        checked += 1;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            problems.push((
                format!("{what} {} has mode {mode:04o}: other users can read it", path.display()),
                format!("chmod 600 {}", path.display()),
            ));
        } else if meta.uid() != uid {
            problems.push((
                format!("{what} {} belongs to uid {}, not to this user", path.display(), meta.uid()),
                format!("chown it to the user tern serve runs as: chown $(id -u) {}", path.display()),
            ));
        }
    }
    match problems.into_iter().next() {
        Some((detail, fix)) => report.fail("key permissions", detail, fix),
        None => report.pass(
            "key permissions",
            format!("{checked} private key files, mode 0600 or stricter, owned by this user"),
        ),
    }
}

fn http_client(args: &DoctorArgs, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let mut client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("tern-doctor/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| anyhow!("CA certificate {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow!("CA certificate {}: {e}", path.display()))?;
        client = client.tls_certs_merge(certs);
    }
    client.build().context("building the HTTP client")
}

struct Fetched {
    body: bytes::Bytes,
    date: Option<String>,
    cache_control: Option<String>,
    etag: Option<String>,
    content_type: String,
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Fetched, String> {
    let resp = client.get(url).send().await.map_err(|e| tern_handoff::http_cause(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (date, cache_control, etag) = (header("date"), header("cache-control"), header("etag"));
    let content_type = header("content-type").unwrap_or_default();
    let body = resp.bytes().await.map_err(|e| tern_handoff::http_cause(&e))?;
    Ok(Fetched { body, date, cache_control, etag, content_type })
}

fn cache_check(report: &mut Report, name: &'static str, resp: &Fetched) {
    let max_age = resp
        .cache_control
        .as_deref()
        .and_then(|c| c.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok()));
    match (max_age, &resp.etag) {
        (Some(age), Some(_)) if age > 86_400 => report.warn(
            name,
            format!("max-age={age}s: relying parties may keep a stale document for over a day"),
            "lower --jwks-max-age / --discovery-max-age (or the proxy's cache lifetime)",
        ),
        (Some(age), Some(_)) => report.pass(name, format!("Cache-Control max-age={age}s and an ETag")),
        (None, _) => report.warn(
            name,
            format!("no max-age in Cache-Control ({:?})", resp.cache_control.as_deref().unwrap_or("absent")),
            "a proxy in front of tern drops or rewrites Cache-Control; let it pass tern's headers",
        ),
        (Some(_), None) => {
            report.warn(name, "no ETag", "a proxy in front of tern drops the ETag; let it pass")
        }
    }
}

fn clock_check(report: &mut Report, date: &Option<String>) {
    let Some(date) = date.as_deref() else {
        report.warn(
            "clock",
            "the server sent no Date header to compare with",
            "check the clock by hand (timedatectl)",
        );
        return;
    };
    let Ok(server) = humantime::parse_rfc3339_weak(&httpdate_to_rfc3339(date).unwrap_or_default()) else {
        report.warn(
            "clock",
            format!("cannot read the server's Date {date:?}"),
            "check the clock by hand (timedatectl)",
        );
        return;
    };
    let here = SystemClock.now();
    let skew = here.duration_since(server).unwrap_or_else(|e| e.duration()).as_secs();
    if skew > 60 {
        report.fail(
            "clock",
            format!(
                "this machine and the server differ by {skew}s: tokens will look expired or not yet valid"
            ),
            "synchronise clocks with NTP (timedatectl set-ntp true, or chrony)",
        );
    } else if skew > 5 {
        report.warn(
            "clock",
            format!("this machine and the server differ by {skew}s"),
            "synchronise clocks with NTP (timedatectl set-ntp true, or chrony)",
        );
    } else {
        report.pass(
            "clock",
            format!("{} here; the server's Date agrees within {skew}s", verify::rfc3339(unix_seconds(here))),
        );
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `1994-11-06T08:49:37Z`.
fn httpdate_to_rfc3339(date: &str) -> Option<String> {
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|x| x == month)? + 1;
    Some(format!("{year}-{m:02}-{day:0>2}T{time}Z"))
}

async fn fetch_jwks(
    report: &mut Report,
    client: &reqwest::Client,
    jwks_uri: &str,
    active: Option<&Arc<SigningKey>>,
) -> Option<Jwks> {
    let resp = match fetch(client, jwks_uri).await {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                "JWKS",
                format!("GET {jwks_uri}: {e}"),
                "the discovery document's jwks_uri must be reachable by every relying party",
            );
            return None;
        }
    };
    cache_check(report, "JWKS cache", &resp);
    let jwks = match Jwks::from_json(&resp.body) {
        Ok(j) => j,
        Err(e) => {
            report.fail("JWKS", format!("{jwks_uri}: {e}"), "is something else answering at this URL?");
            return None;
        }
    };
    let kids = jwks.kids();
    match active {
        Some(key) if !kids.iter().any(|k| k == key.kid().as_str()) => report.fail(
            "JWKS",
            format!("the JWKS served at the issuer lists {} but not the configured signing key kid={}: the server runs with another key (or this is another server)", kids.join(", "), key.kid()),
            "restart tern serve with this configuration, or point the doctor at the server's own key (--signing-key)",
        ),
        Some(key) => report.pass("JWKS", format!("{} keys, including the signing key kid={}", kids.len(), key.kid())),
        None => report.warn("JWKS", format!("{} keys; the signing key is unknown (see above)", kids.len()), "fix the signing key check"),
    }
    Some(jwks)
}

fn mint_and_verify(report: &mut Report, issuer: &IssuerUrl, key: &SigningKey, jwks: &Jwks) {
    let result = (|| -> anyhow::Result<String> {
        let ctx = RunContext {
            organization: OrganizationName::parse("tern-doctor")?,
            organization_id: ResourceId::parse("org-doctor")?,
            project: ProjectName::default_project(),
            project_id: ResourceId::parse("prj-doctor")?,
            workspace: WorkspaceName::parse("doctor")?,
            workspace_id: ResourceId::parse("ws-doctor")?,
            run_id: RunId::parse("run-doctor")?,
            phase: RunPhase::Plan,
        };
        let audience = Audience::parse("tern-doctor")?;
        let policy = tern_identity::ClaimPolicy::default();
        let minted = tern_identity::mint(
            key,
            issuer,
            &TokenRequest {
                context: &ctx,
                audience: &audience,
                policy: &policy,
                issued_at: SystemClock.now(),
                ttl: tern_types::Ttl::DEFAULT,
                jti: Jti::random()?,
            },
        )?;
        let expect = Expectations {
            issuer: issuer.as_str(),
            audience: Some("tern-doctor"),
            now: SystemClock.now(),
            leeway: Duration::from_secs(5),
        };
        verify::verify(minted.jwt.expose_secret(), jwks, &expect).map_err(|e| anyhow!("{e}"))?;
        Ok(minted.kid.to_string())
    })();
    match result {
        Ok(kid) => report.pass("mint and verify", format!("a token signed with kid={kid} verifies against the served JWKS")),
        Err(e) => report.fail(
            "mint and verify",
            format!("a token signed with the configured key does not verify against the served JWKS: {e:#}"),
            "the server publishes other keys than this configuration signs with: restart it with this configuration",
        ),
    }
}

fn pem_certs(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).map(|c| c.to_vec()).collect()
}

fn certificate_check(report: &mut Report, what: &str, chain: &[Vec<u8>], issuer: &IssuerUrl) {
    let Some(leaf) = chain.first() else {
        report.fail(
            "TLS certificate",
            format!("{what}: no certificate"),
            "give the PEM certificate chain, leaf first",
        );
        return;
    };
    let cert = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, c)) => c,
        Err(e) => {
            report.fail(
                "TLS certificate",
                format!("{what}: cannot parse: {e}"),
                "give a PEM X.509 certificate",
            );
            return;
        }
    };
    let now = i64::try_from(unix_seconds(SystemClock.now())).unwrap_or(i64::MAX);
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let when = |t: i64| verify::rfc3339(u64::try_from(t).unwrap_or(0));
    let host = url::Url::parse(issuer.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                        4 => Some(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let covers = names.iter().any(|n| {
        n.eq_ignore_ascii_case(&host)
            || n.strip_prefix("*.")
                .is_some_and(|d| host.split_once('.').is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(d)))
    });
    let days = (not_after - now) / 86_400;
    if not_after <= now {
        report.fail(
            "TLS certificate",
            format!("{what} expired at {}", when(not_after)),
            "renew the certificate and restart tern serve (clouds refuse the issuer until then)",
        );
    } else if not_before > now {
        report.fail(
            "TLS certificate",
            format!("{what} is not valid before {}", when(not_before)),
            "check the clock, or the certificate's dates",
        );
    } else if !names.is_empty() && !covers {
        report.fail(
            "TLS certificate",
            format!("{what} names {} but not the issuer's host {host}", names.join(", ")),
            "issue a certificate for the issuer's host name",
        );
    } else if days < 21 {
        report.warn(
            "TLS certificate",
            format!("{what} expires in {days} days, at {}", when(not_after)),
            "renew it soon; automate renewal (ACME)",
        );
    } else {
        report.pass("TLS certificate", format!("{what} valid until {} ({days} days)", when(not_after)));
    }
}

/// The chain the server presents at the issuer's host and port (whoever signed it).
async fn served_chain(issuer: &IssuerUrl, timeout: Duration) -> anyhow::Result<Vec<Vec<u8>>> {
    let url = url::Url::parse(issuer.as_str())?;
    let host = url.host_str().context("no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(InspectOnly(provider)))
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.clone())?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
        let chain: Vec<Vec<u8>> =
            tls.get_ref().1.peer_certificates().unwrap_or_default().iter().map(|c| c.to_vec()).collect();
        anyhow::Ok(chain)
    };
    tokio::time::timeout(timeout, connect).await.map_err(|_| anyhow!("timed out"))?
}

fn aws_thumbprint(report: &mut Report, chain: &[Vec<u8>]) {
    // IAM takes the SHA-1 of the top intermediate CA the server presents (the last certificate
    // of the chain; the leaf when it is alone).
    let Some(top) = chain.last() else {
        report.fail("AWS thumbprint", "the server presented no certificate", "check the TLS configuration");
        return;
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, top);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let subject =
        x509_parser::parse_x509_certificate(top).map(|(_, c)| c.subject().to_string()).unwrap_or_default();
    report.pass(
        "AWS thumbprint",
        format!("{hex} (SHA-1 of {subject}); IAM fetches it itself for public CAs, older AWS providers need thumbprint_list = [\"{hex}\"]"),
    );
}

/// Accepts any certificate: only used to read the chain a server presents, never to trust it.
#[derive(Debug)]
struct InspectOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for InspectOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(
            super::httpdate_to_rfc3339("Sun, 06 Nov 1994 08:49:37 GMT").as_deref(),
            Some("1994-11-06T08:49:37Z")
        );
        assert_eq!(super::httpdate_to_rfc3339("yesterday"), None);
    }
}
