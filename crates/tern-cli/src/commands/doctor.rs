//! `tern doctor`: check an installation the way a cloud and an operator would see it, with the
//! same flags and environment as `tern serve`, and change nothing.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use tern_identity::{KeyRing, SigningKey};
use tern_server::doctor::{self, Report, Status};
use tern_store::{EncryptionKey, KeyState, Store};
use tern_types::{IssuerUrl, SystemClock};

use super::serve::{
    ServeSettings, loopback_host, read_encryption_key as read_encryption_key_or_none, redact_url,
};
use crate::cli::DoctorArgs;
use crate::keyfile;
use crate::settings::{self, Env};

/// Print the findings and the tally; failure when any check failed.
fn finish(report: &Report) -> ExitCode {
    for f in report.findings() {
        out!("{f}");
    }
    let (p, w, x) = (report.count(Status::Pass), report.count(Status::Warn), report.count(Status::Fail));
    outln!("\n{p} passed, {w} warnings, {x} failed");
    if x > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
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
        return Ok(finish(&report));
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
    Ok(finish(&report))
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
    doctor::issuer_url(report, issuer, source);
    doctor::https(report, issuer);

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
    let jwks = doctor::issuer_documents(report, &client, issuer, active.as_deref(), &SystemClock).await;

    // 5. A token mints with the configured key and verifies against the served JWKS.
    doctor::mint_and_verify(report, issuer, active.as_deref(), jwks.as_ref(), &SystemClock);

    // 6. Agents.
    doctor::agents(report, store.as_ref(), &SystemClock).await;

    // 7. TLS: the configured certificate, and the chain served at the issuer (AWS thumbprint).
    if let Some((cert, _)) = &settings.tls {
        match std::fs::read(cert) {
            Ok(pem) => doctor::certificate_check(
                report,
                &format!("certificate file {}", cert.display()),
                &doctor::pem_certs(&pem),
                issuer,
                &SystemClock,
            ),
            Err(e) => report.fail("TLS certificate", format!("{}: {e}", cert.display()), "fix --tls-cert"),
        }
    }
    doctor::served_tls(report, issuer, timeout, settings.tls.is_none(), &SystemClock).await;
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
    let mut roots = Vec::new();
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| anyhow!("CA certificate {}: {e}", path.display()))?;
        roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow!("CA certificate {}: {e}", path.display()))?;
    }
    doctor::http_client(timeout, roots).context("building the HTTP client")
}
