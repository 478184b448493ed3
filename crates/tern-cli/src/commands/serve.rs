//! `tern serve`: validate everything, load keys and TLS, bind, log where we listen and which
//! issuer we are, then serve until SIGINT or SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use tern_identity::{ClaimPolicy, IssuerDocuments, KeyRing, KeySpec, SigningKey};
use tern_server::{CachePolicy, IssuerState, ServeOptions};
use tern_types::{IssuerUrl, Ttl};

use crate::UsageError;
use crate::cli::ServeArgs;
use crate::keyfile;
use crate::settings::{self, Env, KeySources};

/// Everything `serve` needs, validated, before any file is read or socket bound.
struct ServeSettings {
    keys: KeySources,
    issuer: Option<(IssuerUrl, &'static str)>,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    policy: ClaimPolicy,
    ttl: Ttl,
    data_dir: PathBuf,
    cache: CachePolicy,
}

impl ServeSettings {
    fn from_args(args: &ServeArgs, env: Env<'_>) -> Result<Self, UsageError> {
        let listen: SocketAddr = args.listen.parse().map_err(|_| {
            UsageError(format!(
                "--listen {:?} is not an address and port, e.g. 127.0.0.1:8080 or 0.0.0.0:8443",
                args.listen
            ))
        })?;
        let issuer = settings::issuer(args.issuer_url.as_deref(), env)?;
        if issuer.is_none() && !listen.ip().is_loopback() {
            return Err(UsageError(format!(
                "--issuer-url is required when listening on {listen}: relying parties must reach tern at the URL in its tokens, e.g. --issuer-url https://tern.example.com"
            )));
        }
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => settings::default_data_dir(env)?,
        };
        Ok(Self {
            keys: settings::key_sources(&args.keys, env)?,
            issuer,
            listen,
            tls: args.tls_cert.clone().zip(args.tls_key.clone()),
            policy: settings::claim_policy(&args.claims)?,
            ttl: settings::ttl(args.token_ttl.as_deref(), env)?,
            data_dir,
            cache: CachePolicy {
                jwks_max_age: settings::duration("--jwks-max-age", &args.jwks_max_age)?,
                discovery_max_age: settings::duration("--discovery-max-age", &args.discovery_max_age)?,
            },
        })
    }
}

pub fn run(args: ServeArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let settings = ServeSettings::from_args(&args, env)?;
    for name in &settings.keys.migrated_from {
        tracing::info!("using {name} (migration setting)");
    }
    if let Some((_, source)) = &settings.issuer
        && !source.starts_with("--")
    {
        tracing::info!("issuer URL taken from {source}");
    }

    let tls = match &settings.tls {
        Some((cert, key)) => Some(tern_server::load_tls(cert, key)?),
        None => None,
    };
    let (ring, dev_key) = if settings.keys.signing.is_empty() {
        let path = settings.data_dir.join("dev-signing-key.pem");
        (KeyRing::new(development_key(&path)?, Vec::new())?, Some(path))
    } else {
        (keyfile::load_ring(&settings.keys)?, None)
    };

    let listener = TcpListener::bind(settings.listen).map_err(|e| {
        anyhow!(
            "cannot listen on {}: {e} (is another tern running? choose another --listen)",
            settings.listen
        )
    })?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let issuer = match &settings.issuer {
        Some((url, _)) => url.clone(),
        None => {
            let host = if tls.is_some() { "localhost".to_owned() } else { loopback_host(&bound) };
            IssuerUrl::parse(&format!("{scheme}://{host}:{}", bound.port()))
                .map_err(|e| anyhow!("deriving the issuer URL from {bound}: {e}"))?
        }
    };

    let docs = IssuerDocuments::build(&issuer, &ring, &settings.policy);
    let state = Arc::new(IssuerState::new(&docs, settings.cache));
    let router = tern_server::app(state, issuer.path());

    let signing = ring.signing_key();
    let published = ring.public_keys().count() - 1;
    tracing::info!(
        "listening on {scheme}://{bound} with issuer {issuer} (signing key kid={} {}, {published} more published, profile {}, token lifetime {})",
        signing.kid(),
        signing.algorithm(),
        settings.policy.profile(),
        settings.ttl,
    );
    if !issuer.is_https() && !issuer.is_loopback() {
        tracing::warn!("issuer {issuer} is plain http: AWS, Azure and Google Cloud only trust https issuers");
    }
    if issuer.is_loopback() {
        tracing::warn!(
            "issuer {issuer} is only reachable from this machine; give --issuer-url with the https URL clouds reach"
        );
    }
    if let Some(path) = &dev_key {
        print_next_steps(&issuer, path, bound.port(), &self_command(env("PATH")));
    }

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        tern_server::serve(listener, tls, router, ServeOptions::default(), shutdown_signal()).await
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn loopback_host(bound: &SocketAddr) -> String {
    match bound {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}

/// Load the development key, or generate and persist it on first start.
fn development_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let pem = keyfile::read("development key", path, true)?;
        let key =
            SigningKey::from_pem(&pem).with_context(|| format!("development key {}", path.display()))?;
        tracing::warn!(
            "no --signing-key given: using the development key {} (kid={}); do not use it in production",
            path.display(),
            key.kid()
        );
        return Ok(key);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let key = SigningKey::generate(KeySpec::Rsa { bits: 2048 })?;
    keyfile::write_new(path, key.to_pkcs8_pem()?.as_bytes(), 0o600, false)?;
    tracing::warn!(
        "no --signing-key given: generated a development key at {} (kid={}); do not use it in production",
        path.display(),
        key.kid()
    );
    Ok(key)
}

/// How the user can run this binary: `tern` if that is what `PATH` finds, else its full path
/// (after `cargo run`, `tern` is not on `PATH` and pasted hints would fail).
fn self_command(path_var: Option<String>) -> String {
    let Ok(me) = std::env::current_exe().and_then(|p| p.canonicalize()) else { return "tern".to_owned() };
    let on_path = path_var
        .iter()
        .flat_map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .any(|dir| dir.join("tern").canonicalize().is_ok_and(|found| found == me));
    if on_path { "tern".to_owned() } else { me.display().to_string() }
}

fn print_next_steps(issuer: &IssuerUrl, key: &Path, port: u16, tern: &str) {
    let key = key.display();
    eprintln!(
        "\n\
tern is running in development mode. Next steps:\n\
\n  \
1. Look at the issuer documents:\n       \
curl {issuer}/.well-known/openid-configuration\n       \
curl {issuer}/.well-known/jwks\n\
\n  \
2. Mint a token for a workspace and verify it the way a cloud would:\n       \
{tern} token mint --signing-key {key} --issuer-url {issuer} \\\n         \
--organization acme --workspace prod --run-id run-1 --phase plan \\\n         \
--audience vault.workload.identity | {tern} token verify --issuer-url {issuer} --audience vault.workload.identity\n\
\n  \
3. For production, make a key and serve the https URL clouds reach:\n       \
{tern} keygen --out /etc/tern/signing-key.pem\n       \
{tern} serve --signing-key /etc/tern/signing-key.pem --issuer-url https://tern.example.com \\\n         \
--listen 0.0.0.0:{port} --tls-cert cert.pem --tls-key key.pem\n\
\n\
Stop with Ctrl-C.\n"
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections, open ones get up to 10 s");
}
