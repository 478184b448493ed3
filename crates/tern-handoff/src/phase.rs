//! A phase's credentials, from plan to teardown.
//!
//! [`prepare`] carries out a [`HandoffPlan`] in a locked [`RunDir`]: static files, tokens
//! (files and inline), Vault logins, secrets-engine reads, the tfvars file — recording what must
//! be revoked before it exists, so a crash can be cleaned up by [`recover_abandoned`]. If any
//! step fails, everything done so far is undone before the error returns: a phase never starts
//! with part of its credentials (Terrakube continues with an empty token; tern does not).
//!
//! While the phase runs, a task re-mints file tokens at two thirds of their lifetime and
//! renews Vault tokens at two thirds of their lease. [`ActivePhase::finish`] stops it, revokes
//! leases and Vault tokens, and removes every file; dropping an `ActivePhase` without
//! finishing removes the files (no network) and warns.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tern_credentials::Tag;
use tern_credentials::handoff::{HandoffPlan, Method, SecretOutput, TokenTarget, aws_credentials_file};
use tern_identity::{MintedToken, verify};
use tern_types::{Audience, SecretString, Ttl};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::files::write_private_owned;
use crate::minter::{MintFailure, TokenMinter};
use crate::rundir::{Abandoned, RecoveryState, RunDir, VaultRecord, abandoned};
use crate::vault::{VaultClient, VaultError};

/// Lifetimes of the tokens a phase mints.
#[derive(Debug, Clone, Copy)]
pub struct PhaseOptions {
    /// Tokens in files (refreshed).
    pub file_token_ttl: Ttl,
    /// Tokens in environment variables (not refreshable): the phase timeout, capped at the
    /// server's token lifetime.
    pub inline_token_ttl: Ttl,
    /// Who must own the credential files (uid, gid): the sandbox user the phase runs as, when
    /// it is not the runner's. Their directory is then left traversable (0711) to that user.
    pub file_owner: Option<(u32, u32)>,
}

/// Why a phase's credentials could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The credentials directory.
    #[error(transparent)]
    Dir(#[from] crate::rundir::DirError),
    /// Writing a file.
    #[error("writing {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Minting a token.
    #[error("minting the token for {purpose}: {reason}")]
    Mint {
        /// Which configuration.
        purpose: String,
        /// Why.
        reason: String,
    },
    /// Vault refused the login; says what the token carried.
    #[error(
        "{purpose}: {error}; the token presented had {claims} (compare them with the role's bound_audiences, bound_claims and the auth method's bound_issuer)"
    )]
    VaultLogin {
        /// Which configuration.
        purpose: String,
        /// Vault's answer.
        error: Box<VaultError>,
        /// iss, sub and aud of the token.
        claims: String,
    },
    /// Another Vault call failed.
    #[error("{purpose}: {error}")]
    Vault {
        /// Which configuration.
        purpose: String,
        /// What failed.
        error: Box<VaultError>,
    },
    /// The plan refers to a Vault login it does not contain.
    #[error("{purpose}: no Vault login for configuration {vault}")]
    NoLogin {
        /// Which configuration.
        purpose: String,
        /// The Vault configuration named.
        vault: String,
    },
    /// A secrets-engine answer without the expected field.
    #[error("{purpose}: Vault answered {path} without data.{field}")]
    MissingField {
        /// Which configuration.
        purpose: String,
        /// The API path.
        path: String,
        /// The field.
        field: &'static str,
    },
}

/// A value in the command's environment.
pub enum EnvValue {
    /// Not secret (paths, addresses, ids).
    Literal(String),
    /// A secret (token, Vault token, client secret).
    Secret(SecretString),
}

impl EnvValue {
    /// The value, for the process that needs it.
    pub fn expose(&self) -> &str {
        match self {
            Self::Literal(s) => s,
            Self::Secret(s) => s.expose_secret(),
        }
    }
}

impl std::fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Literal(s) => write!(f, "{s:?}"),
            Self::Secret(_) => f.write_str("<secret>"),
        }
    }
}

struct Login {
    key: Option<Tag>,
    purpose: String,
    client: VaultClient,
    token: SecretString,
    lease: Duration,
    renewable: bool,
}

struct FileToken {
    purpose: String,
    path: PathBuf,
    audience: Audience,
}

/// A phase whose credentials are in place.
pub struct ActivePhase {
    rundir: Option<RunDir>,
    env: Vec<(String, EnvValue)>,
    unset: BTreeSet<String>,
    logins: Vec<Arc<Login>>,
    leases: Vec<(usize, String, String)>,
    tfvars: Option<PathBuf>,
    refresher: Option<JoinHandle<()>>,
    state: RecoveryState,
    secrets: Vec<(String, SecretString)>,
    owner: Option<(u32, u32)>,
}

impl std::fmt::Debug for ActivePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivePhase")
            .field("dir", &self.rundir.as_ref().map(RunDir::path))
            .field("env", &self.env)
            .field("vault_logins", &self.logins.len())
            .finish_non_exhaustive()
    }
}

/// What could not be undone at teardown (empty when all went well).
#[derive(Debug, Default)]
pub struct TeardownReport {
    /// Problems, one line each.
    pub problems: Vec<String>,
}

fn write(owner: Option<(u32, u32)>, path: &Path, contents: &[u8]) -> Result<(), PrepareError> {
    write_private_owned(path, contents, owner)
        .map_err(|source| PrepareError::Write { path: path.to_path_buf(), source })
}

fn claims_of(jwt: &str) -> String {
    match verify::decode(jwt) {
        Ok(t) => {
            let c = t.claims();
            let get = |k: &str| {
                c.get(k)
                    .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                    .unwrap_or_default()
            };
            format!("iss={:?}, sub={:?}, aud={:?}", get("iss"), get("sub"), get("aud"))
        }
        Err(_) => "undecodable claims".to_owned(),
    }
}

/// Carry out `plan` in `rundir` (whose path is `plan.dir`).
pub async fn prepare<M: TokenMinter>(
    plan: &HandoffPlan,
    rundir: RunDir,
    minter: Arc<M>,
    options: PhaseOptions,
) -> Result<ActivePhase, PrepareError> {
    let mut phase = ActivePhase {
        rundir: Some(rundir),
        env: Vec::new(),
        unset: plan.unset.clone(),
        logins: Vec::new(),
        leases: Vec::new(),
        tfvars: None,
        refresher: None,
        state: RecoveryState::default(),
        secrets: Vec::new(),
        owner: options.file_owner,
    };
    if let (Some(dir), Some(_)) = (&phase.rundir, options.file_owner) {
        // The sandbox user reads its files by name; it cannot list or change the directory.
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.path().to_path_buf();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711))
            .map_err(|source| PrepareError::Write { path, source })?;
    }
    match phase.setup(plan, &minter, options).await {
        Ok(file_tokens) => {
            phase.start_refresher(minter, file_tokens, options.file_token_ttl);
            Ok(phase)
        }
        Err(e) => {
            let report = phase.finish().await;
            for p in report.problems {
                tracing::warn!("while undoing a failed preparation: {p}");
            }
            Err(e)
        }
    }
}

/// Mint every `(audience, ttl)` concurrently; results in the order asked.
async fn mint_all<M: TokenMinter>(
    minter: &Arc<M>,
    requests: Vec<(Audience, Ttl)>,
) -> Vec<Result<MintedToken, MintFailure>> {
    let n = requests.len();
    let mut set = tokio::task::JoinSet::new();
    for (i, (audience, ttl)) in requests.into_iter().enumerate() {
        let minter = Arc::clone(minter);
        set.spawn(async move { (i, minter.mint(&audience, ttl).await) });
    }
    let mut out: Vec<Result<MintedToken, MintFailure>> =
        (0..n).map(|_| Err(MintFailure("the minting task stopped".into()))).collect();
    while let Some(done) = set.join_next().await {
        if let Ok((i, result)) = done
            && let Some(slot) = out.get_mut(i)
        {
            *slot = result;
        }
    }
    out
}

impl ActivePhase {
    async fn setup<M: TokenMinter>(
        &mut self,
        plan: &HandoffPlan,
        minter: &Arc<M>,
        options: PhaseOptions,
    ) -> Result<Vec<FileToken>, PrepareError> {
        // Every token of the phase (files, inline, Vault logins) is asked for at once: the
        // server signs them in parallel on its cores instead of one round trip after another.
        let mut requests: Vec<(Audience, Ttl)> = plan
            .tokens
            .iter()
            .map(|t| match t.target {
                TokenTarget::File(_) => (t.audience.clone(), options.file_token_ttl),
                TokenTarget::Env(_) => (t.audience.clone(), options.inline_token_ttl),
            })
            .collect();
        requests.extend(plan.vault_logins.iter().map(|l| (l.audience.clone(), options.file_token_ttl)));
        let purposes: Vec<&str> = plan
            .tokens
            .iter()
            .map(|t| t.purpose.as_str())
            .chain(plan.vault_logins.iter().map(|l| l.purpose.as_str()))
            .collect();
        let mut minted = mint_all(minter, requests).await.into_iter().zip(purposes).map(|(m, purpose)| {
            m.map_err(|e| PrepareError::Mint { purpose: purpose.to_owned(), reason: e.0 })
        });

        for f in &plan.files {
            write(self.owner, &f.path, f.contents.as_bytes())?;
        }

        let mut file_tokens = Vec::new();
        for t in &plan.tokens {
            let minted = minted.next().ok_or_else(|| PrepareError::Mint {
                purpose: t.purpose.clone(),
                reason: "no token was minted".into(),
            })??;
            tracing::info!(
                "minted the token for {} (kid {}, jti {}, sub {}, expires in {}s)",
                t.purpose,
                minted.kid,
                minted.jti,
                minted.subject,
                minted.expires_at.saturating_sub(minted.issued_at)
            );
            match &t.target {
                TokenTarget::File(path) => {
                    write(self.owner, path, minted.jwt.expose_secret().as_bytes())?;
                    file_tokens.push(FileToken {
                        purpose: t.purpose.clone(),
                        path: path.clone(),
                        audience: t.audience.clone(),
                    });
                }
                TokenTarget::Env(name) => {
                    self.env.push((
                        name.clone(),
                        EnvValue::Secret(SecretString::new(minted.jwt.expose_secret().to_owned())),
                    ));
                }
            }
        }

        for l in &plan.vault_logins {
            let vault_err =
                |error| PrepareError::Vault { purpose: l.purpose.clone(), error: Box::new(error) };
            let client = VaultClient::new(&l.addr, l.namespace.as_deref(), l.ca_pem.as_deref(), l.timeout)
                .map_err(vault_err)?;
            let jwt = minted.next().ok_or_else(|| PrepareError::Mint {
                purpose: l.purpose.clone(),
                reason: "no token was minted".into(),
            })??;
            // Recorded before the login, as everything else a dead phase must undo: a runner
            // killed once the token file exists leaves a record that names it. (Killed while
            // the login is in flight, tern never holds the token; Vault expires it with its TTL.)
            self.state.vault_tokens.push(VaultRecord {
                addr: l.addr.clone(),
                namespace: l.namespace.clone(),
                ca_file: l.ca_file.clone(),
                token_file: l.token_file.clone(),
            });
            self.record()?;
            let token = match client.login(&l.auth_path, &l.role, jwt.jwt.expose_secret()).await {
                Ok(token) => token,
                // Vault judged the token: say what it carried, to compare with the role.
                Err(error @ VaultError::Refused { .. }) => {
                    return Err(PrepareError::VaultLogin {
                        purpose: l.purpose.clone(),
                        error: Box::new(error),
                        claims: claims_of(jwt.jwt.expose_secret()),
                    });
                }
                Err(error) => return Err(vault_err(error)),
            };
            self.secrets.push((format!("the Vault token for {}", l.purpose), token.token.clone()));
            write(self.owner, &l.token_file, token.token.expose_secret().as_bytes())?;
            tracing::info!(
                "logged in to Vault at {} for {} (lease {}s, {})",
                l.addr,
                l.purpose,
                token.lease.as_secs(),
                if token.renewable { "renewable" } else { "not renewable" }
            );
            if let Some(env) = &l.token_env {
                self.env.push((env.clone(), EnvValue::Secret(token.token.clone())));
            }
            self.logins.push(Arc::new(Login {
                key: l.key.clone(),
                purpose: l.purpose.clone(),
                client,
                token: token.token,
                lease: token.lease,
                renewable: token.renewable,
            }));
        }

        let mut sleep = Duration::ZERO;
        for r in &plan.vault_reads {
            let index =
                self.logins.iter().position(|l| l.key == r.vault).ok_or_else(|| PrepareError::NoLogin {
                    purpose: r.purpose.clone(),
                    vault: r.vault.as_ref().map_or("(default)".to_owned(), |t| t.to_string()),
                })?;
            let login = Arc::clone(&self.logins[index]);
            let secret = login
                .client
                .read(&login.token, r.method == Method::Post, &r.path, r.body.as_ref())
                .await
                .map_err(|error| PrepareError::Vault {
                    purpose: r.purpose.clone(),
                    error: Box::new(error),
                })?;
            if !secret.lease_id.is_empty() {
                self.leases.push((index, secret.lease_id.clone(), r.purpose.clone()));
            }
            let field = |name: &'static str| -> Result<String, PrepareError> {
                secret.data.get(name).and_then(Value::as_str).map(str::to_owned).ok_or(
                    PrepareError::MissingField {
                        purpose: r.purpose.clone(),
                        path: r.path.clone(),
                        field: name,
                    },
                )
            };
            match &r.output {
                SecretOutput::AwsCredentials { file } => {
                    let session = secret
                        .data
                        .get("security_token")
                        .or_else(|| secret.data.get("session_token"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let access_key = SecretString::new(field("access_key")?);
                    let secret_key = SecretString::new(field("secret_key")?);
                    let text = zeroize::Zeroizing::new(aws_credentials_file(
                        access_key.expose_secret(),
                        secret_key.expose_secret(),
                        session.as_deref(),
                    ));
                    self.secrets.push((format!("the AWS access key for {}", r.purpose), access_key));
                    self.secrets.push((format!("the AWS secret key for {}", r.purpose), secret_key));
                    if let Some(session) = session {
                        self.secrets.push((
                            format!("the AWS session token for {}", r.purpose),
                            SecretString::new(session),
                        ));
                    }
                    write(self.owner, file, text.as_bytes())?;
                }
                SecretOutput::GcpAccessToken { file, env } => {
                    let token = SecretString::new(field("token")?);
                    self.secrets.push((format!("the Google access token for {}", r.purpose), token.clone()));
                    write(self.owner, file, token.expose_secret().as_bytes())?;
                    if *env {
                        self.env.push(("GOOGLE_OAUTH_ACCESS_TOKEN".to_owned(), EnvValue::Secret(token)));
                    }
                }
                SecretOutput::GcpKey { file } => {
                    let encoded = zeroize::Zeroizing::new(field("private_key_data")?);
                    let key = zeroize::Zeroizing::new(
                        base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| {
                            PrepareError::MissingField {
                                purpose: r.purpose.clone(),
                                path: r.path.clone(),
                                field: "private_key_data (as base64)",
                            }
                        })?,
                    );
                    self.secrets.extend(key_file_secrets(&r.purpose, &encoded, &key));
                    write(self.owner, file, &key)?;
                }
                SecretOutput::AzureClient { client_id_file, client_secret_file, env } => {
                    let id = field("client_id")?;
                    let secret_value = SecretString::new(field("client_secret")?);
                    self.secrets
                        .push((format!("the Azure client secret for {}", r.purpose), secret_value.clone()));
                    write(self.owner, client_id_file, id.as_bytes())?;
                    write(self.owner, client_secret_file, secret_value.expose_secret().as_bytes())?;
                    if *env {
                        self.env.push(("ARM_CLIENT_ID".to_owned(), EnvValue::Literal(id)));
                        self.env.push(("ARM_CLIENT_SECRET".to_owned(), EnvValue::Secret(secret_value)));
                    }
                }
            }
            tracing::info!("read {} from Vault at {} for {}", r.path, login.client.addr(), r.purpose);
            sleep = sleep.max(r.sleep);
        }
        if !sleep.is_zero() {
            tracing::info!(
                "waiting {}s for the new cloud credentials to propagate (SLEEP_SECONDS)",
                sleep.as_secs()
            );
            tokio::time::sleep(sleep).await;
        }

        if let Some(t) = &plan.tfvars {
            self.state.tfvars = Some(t.path.clone());
            self.record()?;
            write(self.owner, &t.path, t.contents.as_bytes())?;
            self.tfvars = Some(t.path.clone());
        }
        for (name, value) in &plan.env {
            self.env.push((name.clone(), EnvValue::Literal(value.clone())));
        }
        Ok(file_tokens)
    }

    fn record(&self) -> Result<(), PrepareError> {
        match &self.rundir {
            Some(d) => d.record(&self.state).map_err(PrepareError::Dir),
            None => Ok(()),
        }
    }

    fn start_refresher<M: TokenMinter>(&mut self, minter: Arc<M>, tokens: Vec<FileToken>, ttl: Ttl) {
        let logins: Vec<Arc<Login>> =
            self.logins.iter().filter(|l| l.renewable && !l.lease.is_zero()).cloned().collect();
        if tokens.is_empty() && logins.is_empty() {
            return;
        }
        self.refresher = Some(tokio::spawn(refresh_loop(minter, tokens, logins, ttl, self.owner)));
    }

    /// The environment the command gets on top of the base environment (after removing
    /// [`Self::unset`]).
    pub fn env(&self) -> &[(String, EnvValue)] {
        &self.env
    }

    /// Names to remove from the base environment.
    pub fn unset(&self) -> &BTreeSet<String> {
        &self.unset
    }

    /// What records each command this phase starts (Terraform) for recovery, so that a runner
    /// that was killed can stop its commands when it starts again.
    pub fn process_recorder(&self) -> Option<crate::rundir::ProcessRecorder> {
        self.rundir.as_ref().map(|d| d.process_recorder(&self.state))
    }

    /// Every secret value the phase received (Vault tokens, secrets-engine outputs), named,
    /// for the caller to keep out of logs. Tokens come from the caller's own minter, which
    /// sees each one, refreshed ones included.
    pub fn secrets(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.secrets.iter().map(|(what, value)| (what.as_str(), value))
    }

    /// The run's credentials directory.
    pub fn dir(&self) -> Option<&Path> {
        self.rundir.as_ref().map(RunDir::path)
    }

    /// Stop refreshing, revoke leases and Vault tokens, remove every file.
    pub async fn finish(mut self) -> TeardownReport {
        let mut report = TeardownReport::default();
        if let Some(task) = self.refresher.take() {
            task.abort();
        }
        for (index, lease, purpose) in std::mem::take(&mut self.leases) {
            let login = &self.logins[index];
            if let Err(e) = login.client.revoke_lease(&login.token, &lease).await {
                report.problems.push(format!("{purpose}: revoking lease {lease}: {e}"));
            }
        }
        for login in std::mem::take(&mut self.logins) {
            match login.client.revoke_self(&login.token).await {
                Ok(()) => tracing::info!("revoked tern's Vault token for {}", login.purpose),
                Err(e) => report.problems.push(format!("{}: {e}", login.purpose)),
            }
        }
        self.remove_files(&mut report.problems);
        report
    }

    fn remove_files(&mut self, problems: &mut Vec<String>) {
        if let Some(t) = self.tfvars.take()
            && let Err(e) = std::fs::remove_file(&t)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            problems.push(format!("removing {}: {e}", t.display()));
        }
        if let Some(dir) = self.rundir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.remove() {
                problems.push(format!("removing {}: {e}", path.display()));
            }
        }
    }
}

impl Drop for ActivePhase {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.take() {
            task.abort();
        }
        if self.rundir.is_some() {
            let mut problems = Vec::new();
            self.remove_files(&mut problems);
            tracing::warn!(
                "a phase ended without teardown: its credential files were removed, its Vault tokens ({}) expire with their TTL",
                self.logins.len()
            );
            for p in problems {
                tracing::warn!("{p}");
            }
        }
    }
}

/// The secrets of a Google service account key from a secrets engine: the key as Vault sent it
/// (base64) and, from the key file, its private key and id.
fn key_file_secrets(purpose: &str, encoded: &str, key: &[u8]) -> Vec<(String, SecretString)> {
    let mut out =
        vec![(format!("the Google key for {purpose}"), SecretString::new(encoded.trim().to_owned()))];
    if let Ok(Value::Object(file)) = serde_json::from_slice::<Value>(key) {
        for field in ["private_key", "private_key_id"] {
            if let Some(v) = file.get(field).and_then(Value::as_str) {
                out.push((
                    format!("the Google key's {field} for {purpose}"),
                    SecretString::new(v.to_owned()),
                ));
            }
        }
    }
    out
}

async fn refresh_loop<M: TokenMinter>(
    minter: Arc<M>,
    tokens: Vec<FileToken>,
    logins: Vec<Arc<Login>>,
    ttl: Ttl,
    owner: Option<(u32, u32)>,
) {
    let two_thirds = |d: Duration| d * 2 / 3;
    let now = Instant::now();
    let mut token_due: Vec<Instant> = tokens.iter().map(|_| now + two_thirds(ttl.as_duration())).collect();
    let mut login_due: Vec<Instant> = logins.iter().map(|l| now + two_thirds(l.lease)).collect();
    loop {
        let next = token_due.iter().chain(login_due.iter()).min().copied();
        let Some(next) = next else { return };
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        for (i, t) in tokens.iter().enumerate() {
            if token_due[i] > now {
                continue;
            }
            match minter.mint(&t.audience, ttl).await {
                Ok(minted) => {
                    match write_private_owned(&t.path, minted.jwt.expose_secret().as_bytes(), owner) {
                        Ok(()) => {
                            tracing::info!("refreshed the token for {} (jti {})", t.purpose, minted.jti);
                            token_due[i] = now + two_thirds(ttl.as_duration());
                        }
                        Err(e) => {
                            tracing::error!(
                                "refreshing the token for {}: writing {}: {e}",
                                t.purpose,
                                t.path.display()
                            );
                            token_due[i] = now + Duration::from_secs(2);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("refreshing the token for {}: {e}; retrying", t.purpose);
                    token_due[i] = now + Duration::from_secs(2);
                }
            }
        }
        for (i, l) in logins.iter().enumerate() {
            if login_due[i] > now {
                continue;
            }
            match l.client.renew_self(&l.token).await {
                Ok(renewed) => {
                    tracing::info!(
                        "renewed tern's Vault token for {} (lease {}s)",
                        l.purpose,
                        renewed.lease.as_secs()
                    );
                    login_due[i] = now + two_thirds(renewed.lease).max(Duration::from_secs(1));
                    if renewed.lease < Duration::from_secs(3) {
                        tracing::warn!(
                            "tern's Vault token for {} reached its max TTL and will expire",
                            l.purpose
                        );
                        login_due[i] = now + Duration::from_secs(3600 * 24);
                    }
                }
                Err(e) => {
                    tracing::warn!("renewing tern's Vault token for {}: {e}; retrying", l.purpose);
                    login_due[i] = now + Duration::from_secs(2);
                }
            }
        }
    }
}

/// One thing recovery did, or could not do and an operator should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryNote {
    /// What happened, one line; never a secret.
    pub text: String,
    /// Something may still be alive or on disk (a token, a process, a directory).
    pub needs_attention: bool,
}

impl RecoveryNote {
    fn done(text: String) -> Self {
        Self { text, needs_attention: false }
    }

    fn attention(text: String) -> Self {
        Self { text, needs_attention: true }
    }

    /// Log it: at `warn` when it needs attention, at `info` otherwise.
    pub fn log(&self) {
        if self.needs_attention {
            tracing::warn!("{}", self.text);
        } else {
            tracing::info!("{}", self.text);
        }
    }
}

/// SIGKILL the process group an abandoned phase started, and wait (at most 5 s) until its
/// leader is gone.
async fn stop_orphan(p: crate::rundir::ProcessRecord) -> RecoveryNote {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(p.pid) else {
        return RecoveryNote::attention(format!("pid {} is out of range", p.pid));
    };
    if let Err(e) = killpg(Pid::from_raw(raw), Signal::SIGKILL) {
        return RecoveryNote::attention(format!(
            "could not stop process group {} left running by a dead phase: {e}",
            p.pid
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while p.still_runs() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    RecoveryNote::done(format!("stopped process group {} (Terraform) left running by a dead phase", p.pid))
}

/// Clean up after phases that died: stop the commands they left running, revoke the Vault
/// tokens they recorded and remove their files. Returns what was done, one note each.
pub async fn recover_abandoned(base: &Path) -> Vec<RecoveryNote> {
    let mut done = Vec::new();
    for a in abandoned(base) {
        done.extend(recover_one(a).await);
    }
    done
}

async fn recover_one(a: Abandoned) -> Vec<RecoveryNote> {
    let mut done = Vec::new();
    // First stop what the dead phase started: it must not go on changing infrastructure once
    // its run is declared dead and its workspace is free for the next run.
    if let Some(p) = a.state.process.filter(crate::rundir::ProcessRecord::still_runs) {
        done.push(stop_orphan(p).await);
    }
    for record in &a.state.vault_tokens {
        let Ok(token) = std::fs::read_to_string(&record.token_file) else {
            done.push(RecoveryNote::attention(format!(
                "a Vault login at {} was under way when the phase died; tern never received its token, so Vault expires it with its TTL if it issued one",
                record.addr
            )));
            continue;
        };
        let token = SecretString::new(token);
        let ca = record.ca_file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
        done.push(match VaultClient::new(
            &record.addr,
            record.namespace.as_deref(),
            ca.as_deref(),
            Duration::from_secs(10),
        ) {
            Ok(client) => match client.revoke_self(&token).await {
                Ok(()) => {
                    RecoveryNote::done(format!("revoked a Vault token left by a dead phase at {}", record.addr))
                }
                Err(e) => RecoveryNote::attention(format!(
                    "a Vault token left by a dead phase could not be revoked ({e}); it expires with its TTL"
                )),
            },
            Err(e) => RecoveryNote::attention(format!(
                "Vault at {}: {e}; a token left by a dead phase expires with its TTL",
                record.addr
            )),
        });
    }
    let path = a.path.clone();
    done.push(match a.remove() {
        Ok(()) => RecoveryNote::done(format!("removed {} left by a dead phase", path.display())),
        Err(e) => RecoveryNote::attention(format!("could not remove {}: {e}", path.display())),
    });
    done
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use std::sync::Mutex;

    use tern_credentials::handoff::VaultLogin;
    use tern_identity::{ClaimPolicy, ClaimProfile, RunContext, SigningKey};
    use tern_types::{
        IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, SystemClock, WorkspaceName,
    };
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

    use super::*;
    use crate::minter::LocalMinter;
    use crate::rundir::{ProcessRecord, RecoveryState};

    /// One request a stub Vault received: its path, its `X-Vault-Token`, and what the phase's
    /// recovery record (`.state.json` of `watch`) said at that moment.
    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        token: Option<String>,
        record: Option<RecoveryState>,
    }

    /// A Vault that answers every login with `token` (lease 0: nothing to renew) and every other
    /// request with 204, over keep-alive HTTP/1.1, noting each request.
    async fn stub_vault(token: &'static str, watch: PathBuf) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, watch) = (Arc::clone(&log), watch.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                        let (mut length, mut vault_token) = (0usize, None);
                        loop {
                            let mut header = String::new();
                            stream.read_line(&mut header).await.unwrap();
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            let (name, value) = header.split_once(':').unwrap();
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap(),
                                "x-vault-token" => vault_token = Some(value.trim().to_owned()),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.unwrap();
                        let record = std::fs::read(watch.join(".state.json"))
                            .ok()
                            .map(|b| serde_json::from_slice(&b).unwrap());
                        let login = path.ends_with("/login");
                        log.lock().unwrap().push(Seen { path, token: vault_token, record });
                        let reply = if login {
                            let body = format!(
                                r#"{{"auth":{{"client_token":"{token}","lease_duration":0,"renewable":false}}}}"#
                            );
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            )
                        } else {
                            "HTTP/1.1 204 No Content\r\n\r\n".to_owned()
                        };
                        stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        (addr, seen)
    }

    fn minter() -> Arc<LocalMinter> {
        let key = SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048.pem")).unwrap();
        let context = RunContext {
            organization: OrganizationName::parse("acme").unwrap(),
            organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap(),
            project: ProjectName::default_project(),
            project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv").unwrap(),
            workspace: WorkspaceName::parse("prod").unwrap(),
            workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap(),
            run_id: RunId::parse("run-CZcmD7eagjhyX0vN").unwrap(),
            phase: RunPhase::Apply,
        };
        Arc::new(LocalMinter::new(
            Arc::new(key),
            IssuerUrl::parse("https://tern.example.com").unwrap(),
            context,
            ClaimPolicy::new(ClaimProfile::Tfc, None),
            Arc::new(SystemClock),
        ))
    }

    /// A runner killed while its sandbox waited at the egress gate (`--block-fd`): bwrap's
    /// outer process dies with the runner, the gate reads end-of-file, and the sandbox's pid 1
    /// goes on to start the command, which no parent waits for any more. Recovery stops that
    /// group although its leader is gone. The same shape, made deterministic: `unshare --fork`
    /// leads the group, its child is pid 1 of a new PID namespace, and the leader is killed.
    #[tokio::test]
    async fn recovery_stops_a_sandbox_whose_leader_is_gone() {
        // util-linux's unshare (every Debian has it; a spawn error here says it is missing).
        let mut cmd = std::process::Command::new("unshare");
        if !nix::unistd::geteuid().is_root() {
            cmd.args(["--user", "--map-root-user"]);
        }
        cmd.args(["--pid", "--fork", "--", "sh", "-c", "sleep 300 & wait"]);
        cmd.process_group(0);
        let mut leader = cmd.spawn().unwrap();
        let record = crate::rundir::ProcessRecord::of(leader.id()).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while record.sandboxed_survivors().len() < 2 {
            assert!(std::time::Instant::now() < until, "the namespace's sh and sleep did not start");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The runner dies: a zombie until reaped (recovery may look before that).
        leader.kill().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!record.is_alive());
        assert!(record.still_runs(), "the leader is a zombie; pid 1 and its command are left");
        leader.wait().unwrap();
        assert!(record.still_runs(), "the leader is gone; pid 1 and its command are left");
        let note = stop_orphan(record).await;
        assert!(note.text.contains("stopped process group"), "{note:?}");
        assert!(!record.still_runs(), "{:?}", record.sandboxed_survivors());
    }

    /// Regression (crash test on PostgreSQL, a Vault token outlived its dead phase): the record
    /// naming the token file was written only after the login, so a runner killed in between
    /// left a token no recovery knew of. The record must be on disk when Vault sees the login.
    #[tokio::test]
    async fn a_vault_login_is_recorded_before_vault_sees_it() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("credentials");
        let dir = RunDir::acquire(&base, "run-1").unwrap();
        let token_file = dir.path().join("vault.token");
        let (addr, seen) = stub_vault("s.stub-token", dir.path().to_path_buf()).await;
        let plan = HandoffPlan {
            dir: dir.path().to_path_buf(),
            tokens: vec![],
            files: vec![],
            vault_logins: vec![VaultLogin {
                key: None,
                purpose: "Vault".into(),
                addr: addr.clone(),
                namespace: None,
                auth_path: "jwt".into(),
                role: "tern".into(),
                audience: Audience::parse("vault.workload.identity").unwrap(),
                ca_pem: None,
                ca_file: None,
                timeout: Duration::from_secs(5),
                token_file: token_file.clone(),
                token_env: Some("VAULT_TOKEN".into()),
            }],
            vault_reads: vec![],
            env: Default::default(),
            unset: Default::default(),
            tfvars: None,
            notes: vec![],
        };
        let ttl = Ttl::new(Duration::from_secs(300)).unwrap();
        let options = PhaseOptions { file_token_ttl: ttl, inline_token_ttl: ttl, file_owner: None };
        let active = prepare(&plan, dir, minter(), options).await.unwrap();
        let login = seen.lock().unwrap()[0].clone();
        assert_eq!(login.path, "/v1/auth/jwt/login");
        let record = login.record.expect("a recovery record existed when Vault saw the login");
        assert_eq!(record.vault_tokens.len(), 1, "{record:?}");
        assert_eq!(record.vault_tokens[0].token_file, token_file);
        assert_eq!(record.vault_tokens[0].addr, addr);
        assert_eq!(std::fs::read_to_string(&token_file).unwrap(), "s.stub-token");

        assert!(active.finish().await.problems.is_empty());
        let revoke = seen.lock().unwrap()[1].clone();
        assert_eq!(revoke.path, "/v1/auth/token/revoke-self");
        assert_eq!(revoke.token.as_deref(), Some("s.stub-token"));
    }

    /// What recovery does with each Vault record a dead phase left: a token file is revoked with
    /// its own token; a record without one (killed while the login was in flight) is reported
    /// and the directory still goes.
    #[tokio::test]
    async fn recovery_revokes_recorded_tokens_and_reports_logins_it_never_saw_answered() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("credentials");
        let (addr, seen) = stub_vault("unused", root.path().to_path_buf()).await;
        let dir = RunDir::acquire(&base, "run-1").unwrap();
        let record = |file: &str| VaultRecord {
            addr: addr.clone(),
            namespace: None,
            ca_file: None,
            token_file: dir.path().join(file),
        };
        let state = RecoveryState {
            vault_tokens: vec![record("answered.token"), record("in-flight.token")],
            tfvars: None,
            process: None,
        };
        dir.record(&state).unwrap();
        std::fs::write(dir.path().join("answered.token"), "s.dead-phase").unwrap();
        drop(dir); // the runner dies

        let done = recover_abandoned(&base).await;
        let done: Vec<(bool, &str)> = done.iter().map(|n| (n.needs_attention, n.text.as_str())).collect();
        assert_eq!(done.len(), 3, "{done:?}");
        assert!(
            !done[0].0 && done[0].1.starts_with("revoked a Vault token left by a dead phase"),
            "{done:?}"
        );
        assert!(done[1].0 && done[1].1.contains("was under way when the phase died"), "{done:?}");
        assert!(!done[2].0 && done[2].1.starts_with("removed "), "{done:?}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].path, "/v1/auth/token/revoke-self");
        assert_eq!(seen[0].token.as_deref(), Some("s.dead-phase"));
        assert!(!base.join("run-1").exists());
    }

    #[tokio::test]
    async fn recovery_stops_the_command_a_dead_phase_left_running() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("credentials");
        let dir = RunDir::acquire(&base, "run-1").unwrap();
        // "Terraform" and a child of it, in their own process group, as the runner starts it.
        let mut orphan = std::process::Command::new("sh")
            .args(["-c", "sleep 60 & sleep 60"])
            .process_group(0)
            .spawn()
            .unwrap();
        let record = ProcessRecord::of(orphan.id()).unwrap();
        dir.process_recorder(&RecoveryState::default()).record(orphan.id());
        drop(dir); // the runner dies; the command does not
        assert!(record.is_alive());
        // Another test's child may hold the run directory's lock for an instant (between its
        // fork and exec it has every descriptor): the directory is then taken for a live phase
        // and left for the next recovery. Try again as the next start would.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let done = loop {
            let done = recover_abandoned(&base).await;
            if !done.is_empty() || std::time::Instant::now() > deadline {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(done.iter().any(|l| l.text.starts_with("stopped process group")), "{done:?}");
        let status = orphan.wait().unwrap();
        assert!(!status.success(), "killed, not finished");
        assert!(!record.is_alive());
        assert!(!base.join("run-1").exists());
        // The group went with it: nothing is left in it to signal.
        let group = nix::unistd::Pid::from_raw(i32::try_from(record.pid).unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while nix::sys::signal::killpg(group, None).is_ok() {
            assert!(std::time::Instant::now() < deadline, "the orphan's child survived");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
