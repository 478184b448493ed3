//! `tern serve`: validate everything, load keys and TLS, bind, log where we listen and which
//! issuer we are, then serve until SIGINT or SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use tern_identity::{ClaimPolicy, IssuerDocuments, KeyRing, KeySpec, SigningKey};
use tern_runner::{AgentClient, RunnerSettings, TerraformSet, TerraformSources};
use tern_server::api::{ApiLimits, ApiState, Signer};
use tern_server::keys::{ManagedKeys, RotationPolicy};
use tern_server::{CachePolicy, IssuerState, ServeOptions};
use tern_store::{EncryptionKey, Store, TokenKind};
use tern_types::{IssuerUrl, SystemClock, Ttl};
use tokio::sync::{Notify, watch};

use crate::UsageError;
use crate::cli::ServeArgs;
use crate::keyfile;
use crate::settings::{self, Env, KeySources};

/// Everything `serve` needs, validated, before any file is read or socket bound.
pub(crate) struct ServeSettings {
    pub(crate) keys: KeySources,
    pub(crate) issuer: Option<(IssuerUrl, &'static str)>,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// `--tls-self-signed`: make (or reuse) a local CA and a certificate at start.
    pub(crate) tls_self_signed: bool,
    pub(crate) policy: ClaimPolicy,
    pub(crate) ttl: Ttl,
    pub(crate) data_dir: PathBuf,
    pub(crate) cache: CachePolicy,
    pub(crate) database_url: String,
    pub(crate) encryption_key_file: Option<PathBuf>,
    pub(crate) workers: u16,
    pub(crate) public_url: Option<String>,
    pub(crate) job_lease: Duration,
    pub(crate) runner: RunnerSettings,
    pub(crate) terraform: TerraformSources,
    pub(crate) managed: Option<RotationPolicy>,
    pub(crate) signin: SignInSettings,
}

/// Sign-in, validated: the provider's settings (the redirect URI is known once the public URL
/// is) and the session lifetimes.
#[derive(Debug)]
pub(crate) struct SignInSettings {
    pub(crate) oidc: Option<(url::Url, String, tern_types::SecretString)>,
    pub(crate) username_claim: String,
    pub(crate) groups_claim: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) groups_by_name: bool,
    pub(crate) idle: Duration,
    pub(crate) max: Duration,
}

fn signin_settings(args: &ServeArgs, env: Env<'_>) -> Result<SignInSettings, UsageError> {
    let idle = settings::duration("--session-idle", &args.session_idle)?;
    let max = settings::duration("--session-max", &args.session_max)?;
    if idle < Duration::from_secs(60) || max < idle {
        return Err(UsageError(
            "--session-idle must be at least 1m and --session-max at least --session-idle".into(),
        ));
    }
    let oidc = match &args.oidc_issuer {
        None => None,
        Some(issuer) => {
            let url = url::Url::parse(issuer).map_err(|e| {
                UsageError(format!(
                    "--oidc-issuer {issuer:?} is not a URL ({e}), e.g. https://login.example.com/realms/acme"
                ))
            })?;
            let client_id = args.oidc_client_id.clone().ok_or_else(|| {
                UsageError("--oidc-issuer needs --oidc-client-id (tern's client id at the provider)".into())
            })?;
            let secret = match (&args.oidc_client_secret_file, env("TERN_OIDC_CLIENT_SECRET")) {
                (Some(path), _) => std::fs::read_to_string(path)
                    .map(|s| s.trim().to_owned())
                    .map_err(|e| UsageError(format!("--oidc-client-secret-file {}: {e}", path.display())))?,
                (None, Some(secret)) => secret.trim().to_owned(),
                (None, None) => {
                    return Err(UsageError(
                        "--oidc-issuer needs the client secret: --oidc-client-secret-file PATH or TERN_OIDC_CLIENT_SECRET".into(),
                    ));
                }
            };
            if secret.is_empty() {
                return Err(UsageError("the OIDC client secret is empty".into()));
            }
            Some((url, client_id, tern_types::SecretString::new(secret)))
        }
    };
    Ok(SignInSettings {
        oidc,
        username_claim: args.oidc_username_claim.clone(),
        groups_claim: args.oidc_groups_claim.clone(),
        scopes: args.oidc_scopes.iter().filter(|s| !s.is_empty()).cloned().collect(),
        groups_by_name: args.oidc_groups_by_name,
        idle,
        max,
    })
}

impl ServeSettings {
    pub(crate) fn from_args(args: &ServeArgs, env: Env<'_>) -> Result<Self, UsageError> {
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
        let public_url = match &args.public_url {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                Some(u.trim_end_matches('/').to_owned())
            }
            Some(u) => {
                return Err(UsageError(format!("--public-url {u:?} must start with https:// or http://")));
            }
            None => None,
        };
        let database_url = match &args.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", data_dir.join("tern.db").display()),
        };
        let job_lease = settings::duration("--job-lease", &args.job_lease)?;
        if job_lease < Duration::from_secs(15) {
            return Err(UsageError("--job-lease must be at least 15s: agents renew it every 5s".into()));
        }
        let token_ttl = settings::ttl(args.token_ttl.as_deref(), env)?;
        let mut runner = settings::runner(
            &args.runner,
            data_dir.join("work"),
            data_dir.join("credentials"),
            token_ttl,
            env,
        )?;
        if args.workers > 0 {
            runner.sandbox = settings::sandbox(&args.runner, &data_dir)?;
            runner.ca_bundle = settings::ca_bundle(&args.runner, &data_dir)?;
        }
        let terraform = settings::terraform_sources(&args.runner);
        let keys = settings::key_sources(&args.keys, env)?;
        let cache = CachePolicy {
            jwks_max_age: settings::duration("--jwks-max-age", &args.jwks_max_age)?,
            discovery_max_age: settings::duration("--discovery-max-age", &args.discovery_max_age)?,
        };
        let managed = if args.managed_keys {
            if !keys.signing.is_empty() {
                return Err(UsageError("--managed-keys keeps the keys in the database: drop --signing-key (and the OTF/Terrakube key settings)".into()));
            }
            let lead = settings::duration("--key-publish-lead", &args.key_publish_lead)?;
            let probe = RotationPolicy {
                spec: KeySpec::EcP256,
                every: None,
                lead,
                window: RotationPolicy::default_window(),
            };
            let min = probe.min_publish_lead(cache.jwks_max_age);
            if lead < min {
                return Err(UsageError(format!(
                    "--key-publish-lead ({}) must be at least {} (--jwks-max-age {} plus the {} every replica takes to refresh its keys): relying parties may use a cached JWKS that long, and must know a key before it signs",
                    humantime::format_duration(lead),
                    humantime::format_duration(min),
                    humantime::format_duration(cache.jwks_max_age),
                    humantime::format_duration(probe.refresh_interval()),
                )));
            }
            let every = match args.rotate_keys_every.as_str() {
                "off" | "never" => None,
                v => {
                    let d = settings::duration("--rotate-keys-every", v)?;
                    if d <= lead {
                        return Err(UsageError(
                            "--rotate-keys-every must be longer than --key-publish-lead".into(),
                        ));
                    }
                    Some(d)
                }
            };
            let spec = match args.key_algorithm {
                crate::cli::KeyAlgorithm::Rs256 => KeySpec::Rsa { bits: 2048 },
                crate::cli::KeyAlgorithm::Es256 => KeySpec::EcP256,
            };
            Some(RotationPolicy { spec, every, lead, window: RotationPolicy::default_window() })
        } else {
            None
        };
        let signin = signin_settings(args, env)?;
        Ok(Self {
            signin,
            managed,
            database_url,
            encryption_key_file: args.encryption_key_file.clone(),
            workers: args.workers,
            public_url,
            job_lease,
            runner,
            terraform,
            keys,
            issuer,
            listen,
            tls: args.tls_cert.clone().zip(args.tls_key.clone()),
            tls_self_signed: args.tls_self_signed,
            policy: settings::claim_policy(&args.claims)?,
            ttl: settings::ttl(args.token_ttl.as_deref(), env)?,
            data_dir,
            cache,
        })
    }
}

pub fn run(args: ServeArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let mut settings = ServeSettings::from_args(&args, env)?;
    for name in &settings.keys.migrated_from {
        tracing::info!("using {name} (migration setting)");
    }
    if let Some((_, source)) = &settings.issuer
        && !source.starts_with("--")
    {
        tracing::info!("issuer URL taken from {source}");
    }

    let mut trust_bundle = None;
    if settings.tls_self_signed {
        ensure_private_dir(&settings.data_dir)?;
        let issuer_host = settings.issuer.as_ref().map(|(url, _)| host_of(url.as_str()).to_owned());
        let made = self_signed_tls(&settings.data_dir.join("tls"), issuer_host.as_deref())?;
        settings.tls = Some((made.server_cert, made.server_key));
        trust_bundle = Some(made.bundle);
    }
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tern_server::load_tls(cert, key)?),
        None => None,
    };
    // The data directory holds the default SQLite database and the credentials directory: make
    // it now, whatever else is configured (a new --data-dir with every key given used to fail
    // with SQLite's "unable to open database file").
    ensure_private_dir(&settings.data_dir)?;
    let (ring, dev_key) = if settings.managed.is_some() {
        (None, None)
    } else if settings.keys.signing.is_empty() {
        let path = settings.data_dir.join("dev-signing-key.pem");
        (Some(KeyRing::new(development_key(&path)?, Vec::new())?), Some(path))
    } else {
        (Some(keyfile::load_ring(&settings.keys)?), None)
    };
    let encryption_key = encryption_key(&settings, env)?;
    let admin_token = env("TERN_ADMIN_TOKEN").map(|t| tern_types::SecretString::new(t.trim().to_owned()));

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
    let public_url = settings.public_url.clone().unwrap_or_else(|| {
        let s = issuer.as_str();
        let path = issuer.path();
        s[..s.len() - path.len()].to_owned()
    });
    // Phases may reach tern's API (as HCP Terraform's runs reach theirs): the listener and the
    // public and issuer URLs get through the egress filter; the workers' listener below does not.
    if let Some(sandbox) = settings.runner.sandbox.as_mut() {
        let urls = [public_url.as_str(), issuer.as_str()];
        for addr in settings::api_addresses(&urls, Some(bound)) {
            if !Arc::make_mut(sandbox).allow_egress(addr) {
                tracing::warn!("tern's API at {addr} is in a --deny-egress range: phases cannot reach it");
            }
        }
    }
    // The server's own workers reach it on a second, plain-HTTP listener bound to 127.0.0.1: it
    // works whatever CA signed the public certificate, and it stays open on shutdown until the
    // workers have reported how their phases ended. Everything there still needs a token.
    let internal = if settings.workers > 0 {
        Some(TcpListener::bind("127.0.0.1:0").context("binding the workers' loopback listener")?)
    } else {
        None
    };
    let worker_url = match &internal {
        Some(l) => format!("http://{}", l.local_addr().context("reading the loopback address")?),
        None => String::new(), // no workers
    };

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let clock: Arc<dyn tern_types::Clock> = Arc::new(SystemClock);
        let store = Store::open(&settings.database_url, &encryption_key, clock.clone())
            .await
            .with_context(|| format!("opening the database {}", redact_url(&settings.database_url)))?;
        let admin = ensure_admin_token(&store, admin_token, &settings.data_dir).await?;

        // Keys: files (static), or the managed ring in the database.
        let (issuer_state, signer, managed) = match (ring, settings.managed) {
            (Some(ring), _) => {
                let docs = IssuerDocuments::build(&issuer, &ring, &settings.policy);
                let signer = Arc::new(Signer {
                    ring: arc_swap::ArcSwap::from_pointee(ring),
                    issuer: issuer.clone(),
                    policy: settings.policy.clone(),
                    max_ttl: settings.ttl,
                });
                (Arc::new(IssuerState::new(&docs, settings.cache)), signer, None)
            }
            (None, Some(rotation)) => {
                let now = i64::try_from(tern_types::unix_seconds(clock.now())).unwrap_or(i64::MAX);
                let keys = ManagedKeys::start(store.clone(), issuer.clone(), settings.policy.clone(), settings.cache, rotation, settings.ttl, now)
                    .await
                    .context("loading the managed signing keys")?;
                (keys.documents(), keys.signer(), Some(keys))
            }
            (None, None) => anyhow::bail!("no signing key"),
        };
        let (signing_kid, signing_alg, published) = {
            let ring = signer.ring.load();
            (ring.signing_key().kid().to_string(), ring.signing_key().algorithm(), ring.public_keys().count() - 1)
        };

        // Jobs of this server's own workers that a previous process left running are dead.
        let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "localhost".into());
        let local_agent = format!("tern-serve@{host}:{}", bound.port());
        for run in store.abandon_agent_jobs(&local_agent, None, "tern serve restarted while this phase ran on its own worker").await? {
            tracing::warn!(run = %run.id, "run errored: tern serve restarted while it ran");
        }

        let api = ApiState {
            store: store.clone(),
            signer,
            clock,
            public_url: public_url.clone(),
            limits: ApiLimits::default(),
            job_lease: settings.job_lease,
            jobs_queued: Arc::new(Notify::new()),
            keys: managed.clone(),
            audit: tern_server::audit::Auditor::start(store.clone()),
            job_scopes: Default::default(),
            signin: Arc::new(signin_of(&settings.signin, &public_url)?),
        };
        let router = tern_server::app_with(issuer_state, issuer.path(), tern_server::api::router(api));

        // A new admin token goes to a file only the operator can read, never to the terminal or
        // the log, which may be kept (journald, a log shipper).
        let admin_file = match &admin {
            Some(token) => {
                let path = settings.data_dir.join("admin-token");
                keyfile::write_new(&path, format!("{}\n", token.expose_secret()).as_bytes(), 0o600, true)
                    .with_context(|| format!("saving the new admin token to {}", path.display()))?;
                Some(path)
            }
            None => None,
        };
        // Phases a previous process ran died with it: stop the commands they left running,
        // revoke their Vault tokens and remove their credentials, before any worker starts and
        // before the "listening on" line says the server is ready.
        for line in tern_handoff::recover_abandoned(&settings.runner.credentials_dir).await {
            line.log();
        }
        // The workers' Terraform versions, probed before the server says it is ready: a binary
        // the operator named that does not answer stops the start, naming it.
        if settings.workers > 0 {
            settings::log_isolation(settings.runner.sandbox.as_deref());
        }
        let terraform = if settings.workers > 0 {
            workers_terraform(&settings.terraform, &settings.runner).await?
        } else {
            TerraformSet::default()
        };
        // Printed before the "listening on" line, which tells scripts the server is ready.
        let tern = self_command(env("PATH"));
        if let Some(bundle) = &trust_bundle {
            eprintln!(
                "\nhttps with a certificate for this machine, signed by tern's local CA (--tls-self-signed).\nTrust it in Terraform and the tern CLI (the file also holds the system's CAs):\n  export SSL_CERT_FILE={}\n",
                bundle.display()
            );
        }
        if let Some(path) = &dev_key {
            print_next_steps(&issuer, &public_url, path, admin_file.as_deref(), bound.port(), &tern);
        } else if let Some(path) = &admin_file {
            eprintln!(
                "\nAdmin token created: it is in {} (readable by you only). Log in with\n  {tern} login --server {public_url} < {}\nthen keep it in your secret store and delete the file.\n",
                path.display(),
                path.display()
            );
        }
        tracing::info!(
            "listening on {scheme}://{bound} with issuer {issuer} (signing key kid={} {}, {published} more published{}, profile {}, token lifetime {}, database {:?}, {} workers)",
            signing_kid,
            signing_alg,
            if managed.is_some() { ", managed keys" } else { "" },
            settings.policy.profile(),
            settings.ttl,
            store.backend(),
            settings.workers,
        );
        if !issuer.is_https() && !issuer.is_loopback() {
            tracing::warn!("issuer {issuer} is plain http: AWS, Azure and Google Cloud only trust https issuers");
        }
        if issuer.is_loopback() {
            tracing::warn!(
                "issuer {issuer} is only reachable from this machine; give --issuer-url with the https URL clouds reach"
            );
        }

        // Background: runs whose agent stopped reporting are errored.
        let reaper_store = store.clone();
        let reaper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                match reaper_store.expire_jobs().await {
                    Ok(runs) => {
                        for run in runs {
                            tracing::warn!(run = %run.id, "run errored: {}", run.error_message.as_deref().unwrap_or("its agent stopped reporting"));
                        }
                    }
                    Err(e) => tracing::error!("checking job leases: {e}"),
                }
            }
        });

        // Managed keys: promote, schedule and drop on time, on every replica.
        let key_task = managed.clone().map(|keys| {
            let clock = Arc::new(SystemClock);
            let every = keys.rotation().refresh_interval();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                // Another replica's rotation is loaded as soon as it announces it (PostgreSQL);
                // the periodic refresh stays, for schedules and for a lost announcement.
                let mut changes = keys.changes().await;
                loop {
                    let heard = tokio::select! {
                        _ = tick.tick() => false,
                        r = async {
                            match changes.as_mut() {
                                Some(c) => c.next().await,
                                None => std::future::pending().await,
                            }
                        } => {
                            if let Err(e) = r {
                                tracing::warn!("lost the other replicas' key announcements, listening again: {e}");
                                changes = keys.changes().await;
                            }
                            true
                        }
                    };
                    if heard {
                        tracing::debug!("another replica changed the key ring");
                    } else if changes.is_none() {
                        changes = keys.changes().await;
                    }
                    let now = i64::try_from(tern_types::unix_seconds(tern_types::Clock::now(clock.as_ref()))).unwrap_or(i64::MAX);
                    if let Err(e) = keys.refresh(now).await {
                        tracing::error!("refreshing the managed keys: {e}");
                    }
                }
            })
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = Vec::new();
        if settings.workers > 0 {
            // A fresh token per start; the previous start's is revoked.
            let description = format!("workers of {local_agent}");
            for old in store.list_tokens(TokenKind::Agent, None).await? {
                if old.description == description && old.organization_id.is_none() {
                    let details = serde_json::json!({
                        "id": old.id, "kind": old.kind.as_str(), "description": old.description,
                        "reason": "replaced at this server's start",
                    });
                    let event = tern_store::AuditInput::system("token.revoked", details);
                    store.revoke_token(&old.id, &event).await?;
                }
            }
            let (_, worker_token) = store.create_token(TokenKind::Agent, None, None, &description, None).await?;
            let mut runner = settings.runner.clone();
            let versions = terraform.versions();
            runner.terraform = Arc::new(terraform);
            // Working directories of jobs a previous process ran are stale.
            match std::fs::remove_dir_all(&runner.work_dir) {
                Ok(()) => tracing::info!("removed stale job directories in {}", runner.work_dir.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot clean {}: {e}", runner.work_dir.display()),
            }
            for _ in 0..settings.workers {
                let agent = AgentClient::new(&worker_url, worker_token.clone(), &local_agent)?
                    .with_terraform_versions(&versions);
                workers.push(tokio::spawn(tern_runner::run_worker(agent, runner.clone(), stop_rx.clone(), false)));
            }
        }

        // The loopback listener outlives the public one until the workers have reported.
        let (internal_stop, internal_stop_rx) = watch::channel(false);
        let internal_task = internal.map(|l| {
            let router = router.clone();
            let mut stop = internal_stop_rx.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                tern_server::serve(l, None, router, ServeOptions::default(), stopped).await
            })
        });
        let shutdown = async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        };
        tern_server::serve(listener, tls, router, ServeOptions::default(), shutdown).await?;
        reaper.abort();
        if let Some(t) = key_task {
            t.abort();
        }
        for w in workers {
            let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
        }
        let _ = internal_stop.send(true);
        if let Some(t) = internal_task {
            let _ = t.await;
        }
        store.close().await;
        anyhow::Ok(())
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The binaries the server's own workers run, probed; none found on `PATH` (and none named) is
/// not fatal, so that a first start works anywhere: the workers then take no job, and runs say
/// they are waiting for a worker with Terraform.
async fn workers_terraform(
    sources: &TerraformSources,
    runner: &RunnerSettings,
) -> anyhow::Result<TerraformSet> {
    let set = TerraformSet::discover(sources, &runner.path, tern_runner::terraform::PROBE_TIMEOUT)
        .await
        .context("registering the workers' Terraform binaries")?;
    if set.is_empty() {
        tracing::warn!(
            "no Terraform found: neither terraform nor tofu is on PATH, and no --terraform or --tools-dir was given; the workers will take no job until one is (runs say they are waiting for a worker with Terraform)"
        );
    } else {
        tracing::info!("Terraform for the workers: {}", set.describe());
    }
    Ok(set)
}

/// A database URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The key-encryption key: TERN_ENCRYPTION_KEY, --encryption-key-file, or (development) a key
/// generated once in the data directory.
/// The key-encryption key from `TERN_ENCRYPTION_KEY`, `--encryption-key-file`, or the data
/// directory's `encryption-key`; `None` when the development default does not exist yet.
pub(crate) fn read_encryption_key(
    settings: &ServeSettings,
    env: Env<'_>,
) -> anyhow::Result<Option<EncryptionKey>> {
    if let Some(text) = env("TERN_ENCRYPTION_KEY") {
        return EncryptionKey::from_base64(&text).map(Some).map_err(|e| anyhow!("TERN_ENCRYPTION_KEY: {e}"));
    }
    let (path, dev) = match &settings.encryption_key_file {
        Some(p) => (p.clone(), false),
        None => (settings.data_dir.join("encryption-key"), true),
    };
    if !path.exists() && dev {
        return Ok(None);
    }
    let text = keyfile::read("encryption key", &path, true)?;
    let text =
        std::str::from_utf8(&text).map_err(|_| anyhow!("encryption key {}: not text", path.display()))?;
    EncryptionKey::from_base64(text).map(Some).map_err(|e| anyhow!("encryption key {}: {e}", path.display()))
}

fn encryption_key(settings: &ServeSettings, env: Env<'_>) -> anyhow::Result<EncryptionKey> {
    if let Some(key) = read_encryption_key(settings, env)? {
        return Ok(key);
    }
    let path = settings.data_dir.join("encryption-key");
    ensure_private_dir(&settings.data_dir)?;
    let key = EncryptionKey::generate()?;
    keyfile::write_new(&path, key.to_base64().as_bytes(), 0o600, false)?;
    tracing::warn!(
        "no encryption key given: generated {} to seal sensitive variables; in production keep the key apart from the database (TERN_ENCRYPTION_KEY or --encryption-key-file)",
        path.display()
    );
    Ok(key)
}

fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the data directory {}", dir.display()))?;
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// The admin token: TERN_ADMIN_TOKEN is *the* admin token (any other is revoked: changing the
/// variable rotates it); without it, one is created on first start and returned so it can be
/// saved once. Safe when replicas start together on one database.
async fn ensure_admin_token(
    store: &Store,
    given: Option<tern_types::SecretString>,
    data_dir: &Path,
) -> anyhow::Result<Option<tern_types::SecretString>> {
    match store.bootstrap_admin_token(given.as_ref()).await.context("TERN_ADMIN_TOKEN")? {
        tern_store::AdminBootstrap::Given { revoked } => {
            tracing::info!("admin token taken from TERN_ADMIN_TOKEN");
            if revoked > 0 {
                tracing::warn!(
                    revoked,
                    "revoked the admin tokens other than TERN_ADMIN_TOKEN (a rotation, or the one created on first start)"
                );
            }
            // The token saved on first start no longer works: do not leave it to be tried.
            let saved = data_dir.join("admin-token");
            if let (Ok(text), Some(given)) = (std::fs::read_to_string(&saved), &given)
                && text.trim() != given.expose_secret()
            {
                match std::fs::remove_file(&saved) {
                    Ok(()) => tracing::info!(
                        "removed {}: TERN_ADMIN_TOKEN replaced the token it held",
                        saved.display()
                    ),
                    Err(e) => tracing::warn!(
                        "{} holds a revoked admin token and cannot be removed: {e}",
                        saved.display()
                    ),
                }
            }
            Ok(None)
        }
        tern_store::AdminBootstrap::Existing => Ok(None),
        tern_store::AdminBootstrap::Created(secret) => Ok(Some(secret)),
    }
}

pub(crate) fn loopback_host(bound: &SocketAddr) -> String {
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

fn print_next_steps(
    issuer: &IssuerUrl,
    server: &str,
    key: &Path,
    admin_file: Option<&Path>,
    port: u16,
    tern: &str,
) {
    let key = key.display();
    let login = match admin_file {
        Some(path) => format!(
            "Admin token created, in {path} (readable by you only; it is never printed or logged).\n\n  \
1. Log in the CLI and create an organization and a workspace:\n       \
{tern} login --server {server} < {path}\n",
            path = path.display()
        ),
        None => format!(
            "  1. Log in the CLI with the admin token saved on first start (admin-token in the data directory, or TERN_ADMIN_TOKEN):\n       \
{tern} login --server {server}\n"
        ),
    };
    eprintln!(
        "\n\
tern is running in development mode. Next steps:\n\
\n{login}       \
{tern} org create acme\n       \
{tern} workspace create app --org acme\n\
\n  \
2. Run Terraform in it (plan, then confirm the apply), with the logs as they come:\n       \
{tern} run start --org acme --workspace app --dir ./my-terraform-config\n       \
{tern} run apply <run-id> --follow\n     \
   or follow it and confirm the apply in the web UI (step 5): {server}/app/acme/workspaces/app\n\
\n  \
3. Mint a token for the workspace and verify it the way a cloud would:\n       \
{tern} token mint --signing-key {key} --issuer-url {issuer} \\\n         \
--organization acme --workspace app --run-id run-1 --phase plan \\\n         \
--audience vault.workload.identity | {tern} token verify --issuer-url {issuer} --audience vault.workload.identity\n\
\n  \
4. For production: a key from `{tern} keygen`, the https URL clouds reach, PostgreSQL:\n       \
{tern} serve --signing-key /etc/tern/signing-key.pem --issuer-url https://tern.example.com \\\n         \
--listen 0.0.0.0:{port} --tls-cert cert.pem --tls-key key.pem --database-url postgres://…\n\
\n  \
5. The web UI, for people: give someone a user and a token, then they sign in at {server}/app\n     \
   (or add --oidc-issuer … to sign in through your identity provider; `terraform login` works too):\n       \
{tern} user create alice --admin && {tern} user token alice\n\
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

/// The host of an `https://host:port/path` URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// What `--tls-self-signed` made.
struct SelfSigned {
    server_cert: PathBuf,
    server_key: PathBuf,
    /// The system's CAs and the local CA: what SSL_CERT_FILE should name.
    bundle: PathBuf,
}

/// A local CA in `dir` (made once, then reused, so that clients keep trusting it) and a fresh
/// server certificate it signs for localhost, 127.0.0.1, ::1 and `extra_host`, valid 397 days.
/// Uses rcgen (aws-lc-rs), as the tests' CA does, rather than shelling out to openssl.
fn self_signed_tls(dir: &std::path::Path, extra_host: Option<&str>) -> anyhow::Result<SelfSigned> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    ensure_private_dir(dir)?;
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let year = |offset: i32| {
        use tern_types::Clock as _;
        let now = tern_types::SystemClock.now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        1970 + i32::try_from(now.as_secs() / 31_556_952).unwrap_or(0) + offset
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "tern local development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // The issuer is rebuilt from the same name and key each start (what a signature needs),
    // so rcgen need not parse the stored certificate.
    let (ca_pem, key) = if ca_cert.is_file() && ca_key.is_file() {
        let key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key).context("reading the local CA's key")?)
            .context("the local CA's key in the data directory is not a PEM key: remove its tls directory to make a new CA")?;
        (std::fs::read_to_string(&ca_cert).context("reading the local CA's certificate")?, key)
    } else {
        let mut params = ca_params.clone();
        params.not_before = rcgen::date_time_ymd(year(0) - 1, 1, 1);
        params.not_after = rcgen::date_time_ymd(year(0) + 10, 1, 1);
        let certified = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let key_pem = certified.key().serialize_pem();
        write_private(&ca_key, key_pem.as_bytes())?;
        std::fs::write(&ca_cert, certified.pem())
            .with_context(|| format!("writing {}", ca_cert.display()))?;
        (certified.pem(), KeyPair::from_pem(&key_pem)?)
    };
    let ca = Issuer::new(ca_params, key);
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(h) = extra_host.filter(|h| !names.iter().any(|n| n == h)) {
        names.push(h.to_owned());
    }
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(year(0) - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year(0) + 1, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    let (server_cert, server_key, bundle) =
        (dir.join("server.pem"), dir.join("server-key.pem"), dir.join("bundle.pem"));
    write_private(&server_key, key.serialize_pem().as_bytes())?;
    std::fs::write(&server_cert, cert.pem()).with_context(|| format!("writing {}", server_cert.display()))?;
    let mut trust = Vec::new();
    if let Some((path, system)) =
        settings::SYSTEM_CA_BUNDLES.iter().find_map(|p| std::fs::read(p).ok().map(|b| (p, b)))
    {
        trust.extend_from_slice(format!("# The system's roots, from {path}\n").as_bytes());
        trust.extend_from_slice(&system);
        if !trust.ends_with(b"\n") {
            trust.push(b'\n');
        }
    }
    trust.extend_from_slice(b"# tern's local development CA (--tls-self-signed)\n");
    trust.extend_from_slice(ca_pem.as_bytes());
    std::fs::write(&bundle, trust).with_context(|| format!("writing {}", bundle.display()))?;
    Ok(SelfSigned { server_cert, server_key, bundle })
}

/// Write a file only its owner may read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// The server's sign-in from the settings, now that the public URL is known.
fn signin_of(s: &SignInSettings, public_url: &str) -> anyhow::Result<tern_server::web::SignIn> {
    let provider = match &s.oidc {
        None => None,
        Some((issuer, client_id, secret)) => {
            let redirect_uri = url::Url::parse(&format!("{public_url}/oauth/callback"))
                .map_err(|e| anyhow!("the sign-in redirect URI from {public_url}: {e}"))?;
            Some(tern_oidc::Provider::new(tern_oidc::ProviderConfig {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                redirect_uri,
                scopes: s.scopes.clone(),
                username_claim: s.username_claim.clone(),
                groups_claim: s.groups_claim.clone(),
            })?)
        }
    };
    let provider_name =
        s.oidc.as_ref().and_then(|(u, _, _)| u.host_str().map(str::to_owned)).unwrap_or_default();
    Ok(tern_server::web::SignIn {
        provider,
        provider_name,
        idle: s.idle,
        max: s.max,
        groups_by_name: s.groups_by_name,
    })
}
