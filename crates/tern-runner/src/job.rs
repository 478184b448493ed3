//! One phase of a run, on this machine: fetch, set up, run Terraform with dynamic credentials,
//! stream the log, store the result, clean up, report.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tern_credentials::handoff::{Endpoints, PlanInput, plan};
use tern_credentials::{Variables, resolve};
use tern_handoff::{CommandSpec, Outcome, PhaseOptions, RunDir, RunOptions, prepare, process};
use tern_types::{RunPhase, Ttl};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::{JobClient, JobSpec, Outcome as JobOutcome, ServerMinter, TokenLifetimes};
use crate::mask::{MaskingMinter, SharedMasker};
use crate::terraform::{TerraformBinary, TerraformSet};

/// How this runner runs phases.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Where jobs get their working directories (one per job, removed after).
    pub work_dir: PathBuf,
    /// Where runs keep their credentials (private, 0700).
    pub credentials_dir: PathBuf,
    /// Lifetime of tokens in files (refreshed at two thirds).
    pub token_ttl: Ttl,
    /// How long Terraform gets after SIGINT before SIGKILL.
    pub grace: Duration,
    /// Google endpoints (tests point them at stand-ins).
    pub endpoints: Endpoints,
    /// The runner's own `PATH`, given to Terraform.
    pub path: OsString,
    /// The Terraform binaries this runner has; a job's version selects one.
    pub terraform: Arc<TerraformSet>,
    /// The sandbox every phase's commands run in; `None` only when the operator chose
    /// `--isolation none`.
    pub sandbox: Option<Arc<tern_sandbox::Sandbox>>,
    /// The most a phase may write to its log, in bytes; past it the phase is stopped.
    pub log_limit: u64,
    /// The operator's Terraform CLI configuration (`TF_CLI_CONFIG_FILE` of every phase, unless a
    /// workspace sets its own), and the mirrors and cache it names.
    pub cli_config: Option<Arc<crate::cliconfig::CliConfig>>,
    /// The runner's proxy settings (`HTTPS_PROXY`, `NO_PROXY`…), given to every phase.
    pub proxy_env: Vec<(String, String)>,
    /// A CA bundle (the system's roots and the operator's `--ca-bundle`), readable by every
    /// phase at this same path and named by its [`CA_BUNDLE_VARIABLES`] (a workspace's own
    /// variables override them).
    pub ca_bundle: Option<PathBuf>,
}

/// The variables that point a phase's TLS clients at the operator's CA bundle.
pub const CA_BUNDLE_VARIABLES: &[&str] =
    &["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"];

/// How the phase ended, for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseResult {
    /// Succeeded; plan had changes.
    Succeeded {
        /// Plan had changes.
        has_changes: bool,
    },
    /// Failed, with the reason shown to the user.
    Failed(String),
    /// Stopped because the run was canceled.
    Canceled,
}

/// The state file, in the working directory.
const STATE_FILE: &str = "terraform.tfstate";
/// The largest state read back after an apply: the server stores no larger one.
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest saved plan read back after a plan: the server's default upload limit.
const MAX_PLAN_BYTES: u64 = 100 * 1024 * 1024;

/// The configuration, unpacked into `config_dir`, and the working directory resolved inside it;
/// or why not, for the run's log.
fn unpack_configuration(
    tarball: &[u8],
    config_dir: &Path,
    working_directory: &str,
) -> Result<(tern_archive::Summary, PathBuf), String> {
    let summary = tern_archive::unpack(tarball, config_dir, tern_archive::Limits::default())
        .map_err(|e| format!("the configuration cannot be unpacked: {e}"))?;
    Ok((summary, working_directory_in(config_dir, working_directory)?))
}

/// The working directory, a real directory inside the configuration: every symbolic link on the
/// way is followed and must stay inside, since tern writes the workspace's variables there.
fn working_directory_in(config_dir: &Path, working_directory: &str) -> Result<PathBuf, String> {
    tern_archive::resolve_within(config_dir, working_directory)
        .map_err(|e| format!("the working directory cannot be used: {e}"))
}

/// Whether the working directory holds a Terraform file: without one, tern's backend file would
/// be the whole configuration, and the plan would destroy everything in the state.
fn has_terraform_files(workdir: &Path) -> bool {
    std::fs::read_dir(workdir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| tern_archive::is_terraform_file(&e.path()) && e.file_type().is_ok_and(|t| t.is_file()))
    })
}

/// A file Terraform wrote (or the phase replaced): a regular file, at most `max` bytes, no link
/// followed; `None` if there is none.
fn read_back(path: &Path, max: u64) -> Result<Option<Vec<u8>>, std::io::Error> {
    match tern_handoff::files::read_regular(path, max) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Lines tern adds to the log, marked so they stand out from Terraform's.
fn note(text: &str) -> Vec<u8> {
    format!("[tern] {text}\n").into_bytes()
}

/// How soon output is sent after the previous batch: a line Terraform prints after a quiet
/// moment goes at once; a stream of lines goes in batches at most this often (one request
/// each), so a busy phase costs the server a bounded number of writes.
const LOG_BATCH_INTERVAL: Duration = Duration::from_millis(100);
/// With nothing to send, the pump still reports this often: it renews the job's lease.
const LOG_RENEW_INTERVAL: Duration = Duration::from_secs(5);
/// A batch this large goes without waiting for the interval.
const LOG_BATCH_BYTES: usize = 256 * 1024;

/// Sends the log to the server in batches and learns of cancellation. Every byte goes through
/// `masker` first: what the batches send is only what it has released.
struct LogPump {
    tx: mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
    masker: SharedMasker,
    /// Set when the phase wrote more than the log limit (and was stopped for it).
    over_limit: Arc<std::sync::atomic::AtomicBool>,
}

impl LogPump {
    fn start(client: JobClient, cancel: watch::Sender<bool>, limit: u64) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
        let masker = SharedMasker::default();
        let masking = masker.clone();
        let over_limit = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let over = over_limit.clone();
        let task = tokio::spawn(async move {
            let mut written: u64 = 0;
            let mut pending: Vec<u8> = Vec::new();
            // The first output goes at once.
            let mut last_sent = Instant::now().checked_sub(LOG_BATCH_INTERVAL).unwrap_or_else(Instant::now);
            let mut open = true;
            // While the server does not answer: since when, and when to try again.
            let mut failing_since: Option<Instant> = None;
            let mut retry_at = Instant::now();
            while open || !pending.is_empty() {
                let due = if !open || pending.len() >= LOG_BATCH_BYTES {
                    Instant::now()
                } else if pending.is_empty() {
                    last_sent + LOG_RENEW_INTERVAL
                } else {
                    last_sent + LOG_BATCH_INTERVAL
                }
                .max(retry_at);
                tokio::select! {
                    chunk = rx.recv(), if open => {
                        match chunk {
                            Some(c) => {
                                if over.load(std::sync::atomic::Ordering::Relaxed) {
                                    continue; // dropped: the limit was reached
                                }
                                written = written.saturating_add(c.len() as u64);
                                if written > limit {
                                    over.store(true, std::sync::atomic::Ordering::Relaxed);
                                    pending.extend(masking.finish());
                                    pending.extend(note(&format!(
                                        "the phase wrote more than {} MiB to its log (the operator's --phase-log-mib): stopping it; what follows is not stored",
                                        limit >> 20
                                    )));
                                    let _ = cancel.send(true);
                                } else {
                                    pending.extend(masking.push(&c));
                                }
                            }
                            None => {
                                open = false;
                                pending.extend(masking.finish());
                            }
                        }
                        // Look again at what is due: more output may join this batch.
                        continue;
                    }
                    _ = tokio::time::sleep_until(due) => {}
                }
                let chunk = std::mem::take(&mut pending);
                match client.logs(chunk.clone()).await {
                    Ok(canceled) => {
                        last_sent = Instant::now();
                        failing_since = None;
                        if canceled {
                            let _ = cancel.send(true);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(job = client.id(), "sending logs failed (will retry): {e}");
                        let mut back = chunk;
                        back.extend(std::mem::take(&mut pending));
                        pending = back;
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        // Give up after the phase when the server stays away.
                        if !open && since.elapsed() > Duration::from_secs(30) {
                            return;
                        }
                        retry_at = Instant::now() + Duration::from_secs(1);
                    }
                }
            }
        });
        Self { tx, task, masker, over_limit }
    }

    async fn line(&self, text: &str) {
        let _ = self.tx.send(note(text)).await;
    }

    async fn close(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// How long a phase took from its start (the job claimed) to Terraform's first process.
#[derive(Debug, Clone, Copy)]
struct SetupTiming {
    started: std::time::Instant,
    /// From the start until the job, its configuration and its state are in place.
    fetched: Duration,
    credentials: Duration,
    tokens: usize,
    vault_logins: usize,
}

impl SetupTiming {
    /// A sender for [`tern_handoff::RunOptions::spawned`]: when Terraform has started, say in
    /// the run's log and in the runner's own log (`phase_setup_us`) how long the setup took.
    fn report_when_spawned(
        self,
        job: String,
        log: mpsc::Sender<Vec<u8>>,
    ) -> tokio::sync::oneshot::Sender<std::time::Instant> {
        let (tx, rx) = tokio::sync::oneshot::channel::<std::time::Instant>();
        // Called as the command is handed to the process runner: from here to `spawned` is
        // starting the process (signal handlers, fork and exec).
        let requested = std::time::Instant::now();
        tokio::spawn(async move {
            let Ok(spawned) = rx.await else { return };
            let setup = spawned.saturating_duration_since(self.started);
            let starting = spawned.saturating_duration_since(requested);
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            tracing::info!(
                job,
                phase_setup_us = setup.as_micros() as u64,
                fetch_us = self.fetched.as_micros() as u64,
                credentials_us = self.credentials.as_micros() as u64,
                spawn_us = starting.as_micros() as u64,
                tokens = self.tokens,
                vault_logins = self.vault_logins,
                "terraform started"
            );
            let _ = log
                .send(note(&format!(
                    "terraform started {:.1} ms after the phase began (job, configuration and state {:.1} ms; {} token(s) and {} Vault login(s) {:.1} ms; starting the process {:.1} ms)",
                    ms(setup),
                    ms(self.fetched),
                    self.tokens,
                    self.vault_logins,
                    ms(self.credentials),
                    ms(starting),
                )))
                .await;
        });
        tx
    }
}

/// Quote a string for HCL (a `.tfvars` file).
pub(crate) fn hcl_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Run the job `client` holds, then report how it ended. Never panics on input.
pub async fn run_job(client: JobClient, settings: &RunnerSettings) -> PhaseResult {
    let started = std::time::Instant::now();
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let pump = LogPump::start(client.clone(), cancel_tx, settings.log_limit);
    let job_dir = settings.work_dir.join(client.id());
    // The job, its configuration and its state, fetched at once.
    let (spec, tarball, previous_state) = tokio::join!(client.spec(), client.configuration(), client.state());
    let fetched = Fetched { tarball, previous_state };
    let result = match spec {
        Ok(spec) => execute(&client, &spec, fetched, settings, &job_dir, &pump, cancel_rx, started).await,
        Err(e) => PhaseResult::Failed(format!("reading the job: {e}")),
    };
    // The reason goes to the log, the server and the caller's log: masked like the log.
    let result = match result {
        _ if pump.over_limit.load(std::sync::atomic::Ordering::Relaxed) => PhaseResult::Failed(format!(
            "the phase wrote more than {} MiB to its log (the operator's --phase-log-mib)",
            settings.log_limit >> 20
        )),
        PhaseResult::Failed(reason) => PhaseResult::Failed(pump.masker.redact_str(&reason)),
        other => other,
    };
    if let Err(e) = tokio::fs::remove_dir_all(&job_dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        pump.line(&format!("warning: could not remove the working directory {}: {e}", job_dir.display()))
            .await;
    }
    match &result {
        PhaseResult::Succeeded { .. } => {}
        PhaseResult::Failed(reason) => pump.line(&format!("the phase failed: {reason}")).await,
        PhaseResult::Canceled => pump.line("the phase was canceled").await,
    }
    pump.close().await;
    let (outcome, has_changes, reason) = match &result {
        PhaseResult::Succeeded { has_changes } => (JobOutcome::Succeeded, *has_changes, None),
        PhaseResult::Failed(r) => (JobOutcome::Failed, false, Some(r.as_str())),
        PhaseResult::Canceled => (JobOutcome::Canceled, false, None),
    };
    match client.finish(outcome, has_changes, reason).await {
        Ok(status) => tracing::info!(job = client.id(), "phase over: run is {status}"),
        Err(e) => tracing::error!(job = client.id(), "reporting the end of the phase failed: {e}"),
    }
    result
}

/// What a phase fetches besides its specification.
struct Fetched {
    tarball: Result<Vec<u8>, crate::ClientError>,
    previous_state: Result<Option<Vec<u8>>, crate::ClientError>,
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    client: &JobClient,
    spec: &JobSpec,
    fetched: Fetched,
    settings: &RunnerSettings,
    job_dir: &Path,
    pump: &LogPump,
    cancel: watch::Receiver<bool>,
    started: std::time::Instant,
) -> PhaseResult {
    let deadline = Instant::now() + Duration::from_secs(spec.timeout_seconds);
    let phase: RunPhase = spec.phase;
    let binary = match select_terraform(&settings.terraform, &spec.terraform_version) {
        Ok(b) => b,
        Err(reason) => return PhaseResult::Failed(reason),
    };
    pump.line(&format!(
        "{} of run {} in workspace {}/{} (project {:?}), timeout {}s",
        phase,
        spec.run_id,
        spec.organization.name,
        spec.workspace.name,
        spec.project.name,
        spec.timeout_seconds
    ))
    .await;
    pump.line(&format!("{} {} ({})", binary.flavor, binary.version, binary.name())).await;
    // Masked in the log from here on, before Terraform sees them; those too short are named.
    for warning in pump.masker.add_sensitive_variables(&spec.variables) {
        pump.line(&format!("warning: {warning}")).await;
    }

    // The configuration, unpacked safely.
    let config_dir = job_dir.join("config");
    if let Err(e) = tokio::fs::create_dir_all(&config_dir).await {
        return PhaseResult::Failed(format!("creating {}: {e}", config_dir.display()));
    }
    let Fetched { tarball, previous_state } = fetched;
    let tarball = match tarball {
        Ok(t) => t,
        Err(e) => return PhaseResult::Failed(e.to_string()),
    };
    let (dest, working_directory) = (config_dir.clone(), spec.working_directory.clone());
    let unpacked =
        tokio::task::spawn_blocking(move || unpack_configuration(&tarball, &dest, &working_directory)).await;
    let workdir = match unpacked {
        Ok(Ok((summary, workdir))) => {
            pump.line(&format!("configuration: {} files, {} bytes", summary.files, summary.bytes)).await;
            workdir
        }
        Ok(Err(reason)) => return PhaseResult::Failed(reason),
        Err(_) => return PhaseResult::Failed("unpacking the configuration failed".into()),
    };
    if !has_terraform_files(&workdir) {
        return PhaseResult::Failed(format!(
            "the working directory {:?} holds no Terraform files (*.tf or *.tf.json): a plan of it would destroy everything in the state; set the workspace's working directory to the one that holds the configuration",
            spec.working_directory
        ));
    }

    // State on a local backend. The path is relative to the working directory: the saved plan
    // records the backend, and the apply may run in another directory or on another agent.
    let state_path = workdir.join(STATE_FILE);
    let previous_state = match previous_state {
        Ok(s) => s,
        Err(e) => return PhaseResult::Failed(e.to_string()),
    };
    if let Some(state) = &previous_state
        && let Err(e) = tern_handoff::files::write_private(&state_path, state)
    {
        return PhaseResult::Failed(format!("writing the state: {e}"));
    }
    let backend = format!(
        "# Written by tern: the run uses a local backend with the workspace's state.\nterraform {{\n  backend \"local\" {{\n    path = {}\n  }}\n}}\n",
        hcl_string(STATE_FILE)
    );
    if let Err(e) =
        tern_handoff::files::write_private(&workdir.join("zz_tern_backend_override.tf"), backend.as_bytes())
    {
        return PhaseResult::Failed(format!("writing the backend override: {e}"));
    }

    let fetched = started.elapsed();

    // Variables: env ones to the environment, terraform ones to a private tfvars file.
    let mut variables = Variables::new();
    let mut env_vars: Vec<(String, String)> = Vec::new();
    let mut tfvars = String::new();
    for v in &spec.variables {
        // Where the values leave their wrapper: into Terraform's environment and tfvars.
        let plain = v.value.expose_secret();
        if v.category == "env" {
            variables.insert(v.key.clone(), plain.to_owned(), v.sensitive);
            env_vars.push((v.key.clone(), plain.to_owned()));
        } else {
            let value = if v.hcl { plain.to_owned() } else { hcl_string(plain) };
            tfvars.push_str(&format!("{} = {}\n", v.key, value));
        }
    }
    if !tfvars.is_empty()
        && let Err(e) = tern_handoff::files::write_private(
            &workdir.join("zz-tern-workspace.auto.tfvars"),
            tfvars.as_bytes(),
        )
    {
        return PhaseResult::Failed(format!("writing the workspace's Terraform variables: {e}"));
    }

    // Dynamic credentials: resolved from the variables, tokens minted by the server.
    let configs = match resolve(&variables) {
        Ok(c) => c,
        Err(e) => return PhaseResult::Failed(format!("dynamic credentials are misconfigured:\n{e}")),
    };
    for w in &configs.warnings {
        pump.line(&format!("warning: {w}")).await;
    }
    let creds_dir = settings.credentials_dir.join(&spec.run_id);
    let handoff = match plan(&PlanInput {
        configs: &configs,
        variables: &variables,
        phase,
        run_id: &spec.run_id,
        dir: &creds_dir,
        workdir: &workdir,
        endpoints: &settings.endpoints,
    }) {
        Ok(p) => p,
        Err(e) => return PhaseResult::Failed(format!("dynamic credentials: {e}")),
    };
    let rundir = match RunDir::acquire(&settings.credentials_dir, &spec.run_id) {
        Ok(r) => r,
        Err(e) => return PhaseResult::Failed(format!("credentials directory: {e}")),
    };
    // No token outlives the server's token lifetime; file tokens are refreshed before it ends.
    let options = PhaseOptions {
        file_token_ttl: spec.file_token_ttl(settings.token_ttl),
        inline_token_ttl: spec.inline_token_ttl(),
        file_owner: settings.sandbox.as_ref().and_then(|s| s.run_as()),
    };
    let preparing = std::time::Instant::now();
    let minter = Arc::new(MaskingMinter::new(ServerMinter(client.clone()), pump.masker.clone()));
    let active = match prepare(&handoff, rundir, minter, options).await {
        Ok(a) => a,
        Err(e) => return PhaseResult::Failed(format!("preparing dynamic credentials: {e}")),
    };
    for (what, value) in active.secrets() {
        pump.masker.add_secret(what, value);
    }
    let timing = SetupTiming {
        started,
        fetched,
        credentials: preparing.elapsed(),
        tokens: handoff.tokens.len(),
        vault_logins: handoff.vault_logins.len(),
    };
    if !configs.is_empty() {
        for line in handoff.describe().lines().filter(|l| !l.trim().is_empty()) {
            pump.line(line).await;
        }
    }

    // Terraform's environment: nothing of the runner's but PATH; then the workspace's, then
    // the credentials.
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    env.insert("PATH".into(), settings.path.clone());
    env.insert("HOME".into(), job_dir.as_os_str().to_owned());
    env.insert("TF_IN_AUTOMATION".into(), "1".into());
    env.insert("TF_INPUT".into(), "0".into());
    env.insert("TFC_RUN_ID".into(), spec.run_id.clone().into());
    env.insert("TFC_WORKSPACE_NAME".into(), spec.workspace.name.clone().into());
    env.insert(
        "TFC_WORKSPACE_SLUG".into(),
        format!("{}/{}", spec.organization.name, spec.workspace.name).into(),
    );
    env.insert("TFC_PROJECT_NAME".into(), spec.project.name.clone().into());
    if let Some(cli) = &settings.cli_config {
        env.insert("TF_CLI_CONFIG_FILE".into(), cli.file.clone().into_os_string());
    }
    for (k, v) in &settings.proxy_env {
        env.insert(k.into(), v.into());
    }
    if let Some(bundle) = &settings.ca_bundle {
        // Read instead of the system's bundle by Go (Terraform, providers) and OpenSSL; curl,
        // Python's requests and Node.js each have their own variable.
        for name in CA_BUNDLE_VARIABLES {
            env.insert(name.into(), bundle.clone().into_os_string());
        }
    }
    for (k, v) in env_vars {
        env.insert(k.into(), v.into());
    }
    for name in active.unset() {
        env.remove(&OsString::from(name));
    }
    for (k, v) in active.env() {
        env.insert(k.into(), v.expose().into());
    }
    let env: Vec<(OsString, OsString)> = env.into_iter().collect();

    let recorder = active.process_recorder();
    // The sandbox user owns the job's files: it runs Terraform, which writes there.
    let owner = settings.sandbox.as_ref().and_then(|s| s.run_as());
    let chowned = match owner {
        Some((uid, gid)) => {
            let dir = job_dir.to_path_buf();
            match tokio::task::spawn_blocking(move || tern_sandbox::chown_tree(&dir, uid, gid)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("giving the job directory to the sandbox user: {e}")),
                Err(_) => Err("giving the job directory to the sandbox user failed".to_owned()),
            }
        }
        None => Ok(()),
    };
    let result = match chowned {
        Ok(()) => {
            let sandboxed = Sandboxed { job_dir, credentials: &creds_dir };
            terraform(
                client, spec, &binary, settings, phase, sandboxed, &workdir, &env, deadline, pump, cancel,
                timing, recorder,
            )
            .await
        }
        Err(reason) => PhaseResult::Failed(reason),
    };
    let report = active.finish().await;
    for problem in &report.problems {
        pump.line(&format!("teardown: {problem}")).await;
    }

    // After an apply, store the state, even after a failure (Terraform saves partial state).
    // The phase could have replaced the working directory or the file with a link: resolve it
    // again, and read a regular file only.
    let new_state = match phase {
        RunPhase::Apply => {
            let (config_dir, working_directory) = (config_dir.clone(), spec.working_directory.clone());
            let read = tokio::task::spawn_blocking(move || {
                let workdir = working_directory_in(&config_dir, &working_directory)?;
                read_back(&workdir.join(STATE_FILE), MAX_STATE_BYTES)
                    .map_err(|e| format!("reading the new state: {e}"))
            })
            .await;
            match read {
                Ok(Ok(state)) => state,
                Ok(Err(reason)) => return PhaseResult::Failed(reason),
                Err(_) => return PhaseResult::Failed("reading the new state failed".into()),
            }
        }
        RunPhase::Plan => None,
    };
    if let Some(new_state) = new_state
        && previous_state.as_deref() != Some(new_state.as_slice())
    {
        match client.upload_state(new_state).await {
            Ok(()) => pump.line("stored the new state").await,
            Err(e) => {
                return PhaseResult::Failed(format!("storing the new state failed: {e}"));
            }
        }
    }
    if !report.problems.is_empty() && matches!(result, PhaseResult::Succeeded { .. }) {
        return PhaseResult::Failed(
            "the phase succeeded, but its credentials were not all revoked (see the log)".into(),
        );
    }
    result
}

/// The run's plan options as `terraform plan` flags (each one argument: no shell reads them).
fn plan_flags(spec: &JobSpec) -> Vec<OsString> {
    let mut flags: Vec<OsString> = Vec::new();
    if spec.refresh_only {
        flags.push("-refresh-only".into());
    }
    if !spec.refresh {
        flags.push("-refresh=false".into());
    }
    flags.extend(spec.target_addrs.iter().map(|a| OsString::from(format!("-target={a}"))));
    flags.extend(spec.replace_addrs.iter().map(|a| OsString::from(format!("-replace={a}"))));
    flags
}

#[allow(clippy::too_many_arguments)]
async fn terraform(
    client: &JobClient,
    spec: &JobSpec,
    binary: &TerraformBinary,
    settings: &RunnerSettings,
    phase: RunPhase,
    sandboxed: Sandboxed<'_>,
    workdir: &Path,
    env: &[(OsString, OsString)],
    deadline: Instant,
    pump: &LogPump,
    cancel: watch::Receiver<bool>,
    timing: SetupTiming,
    recorder: Option<tern_handoff::rundir::ProcessRecorder>,
) -> PhaseResult {
    let job_dir = sandboxed.job_dir;
    let plan_path = job_dir.join("plan.tfplan");
    let mut steps: Vec<Vec<OsString>> = vec![vec!["init".into(), "-input=false".into()]];
    match phase {
        RunPhase::Plan => {
            let mut args: Vec<OsString> =
                vec!["plan".into(), "-input=false".into(), "-detailed-exitcode".into()];
            if spec.is_destroy {
                args.push("-destroy".into());
            }
            args.extend(plan_flags(spec));
            let mut out = OsString::from("-out=");
            out.push(&plan_path);
            args.push(out);
            steps.push(args);
            // The plan as JSON (TFE's json-output, and the run's resource counts): read into
            // memory, never into the log, which would show every planned value.
            steps.push(vec!["show".into(), "-json".into(), plan_path.clone().into_os_string()]);
            // The schemas of the providers, for the structured plan the cloud block renders.
            steps.push(vec!["providers".into(), "schema".into(), "-json".into()]);
        }
        RunPhase::Apply => {
            match client.plan_file().await {
                Ok(bytes) => {
                    let owner = settings.sandbox.as_ref().and_then(|s| s.run_as());
                    if let Err(e) = tern_handoff::files::write_private_owned(&plan_path, &bytes, owner) {
                        return PhaseResult::Failed(format!("writing the saved plan: {e}"));
                    }
                }
                Err(e) => return PhaseResult::Failed(e.to_string()),
            }
            steps.push(vec![
                "apply".into(),
                "-input=false".into(),
                "-auto-approve".into(),
                plan_path.clone().into_os_string(),
            ]);
        }
    }
    let mut has_changes = false;
    let mut timing = Some(timing);
    // What `show -json` and `providers schema -json` wrote, when they succeeded.
    let mut plan_json: Option<Vec<u8>> = None;
    let mut schemas_json: Option<Vec<u8>> = None;
    for args in steps {
        if *cancel.borrow() {
            return PhaseResult::Canceled;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return PhaseResult::Failed(format!("the phase timed out after {}s", spec.timeout_seconds));
        }
        let capture = args[0] == "show" || args[0] == "providers";
        let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        if !capture {
            pump.line(&format!("$ {} {}", binary.name(), shown.join(" "))).await;
        }
        // `show -json` writes into memory, bounded like a state; everything else to the log.
        let (output, captured) = if capture {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
            let collector = tokio::spawn(async move {
                let mut bytes = Vec::new();
                let mut over = false;
                while let Some(chunk) = rx.recv().await {
                    if bytes.len() + chunk.len() > tern_types::MAX_PLAN_JSON_BYTES {
                        over = true;
                    } else if !over {
                        bytes.extend_from_slice(&chunk);
                    }
                }
                (!over).then_some(bytes)
            });
            (tx, Some(collector))
        } else {
            (pump.tx.clone(), None)
        };
        let command = match &settings.sandbox {
            Some(sandbox) => {
                let mut read_only = vec![sandboxed.credentials.to_path_buf()];
                read_only.extend(settings.terraform.paths());
                read_only.extend(settings.ca_bundle.iter().cloned());
                let mut writable = vec![job_dir.to_path_buf()];
                if let Some(cli) = &settings.cli_config {
                    read_only.push(cli.file.clone());
                    read_only.extend(cli.read_only.iter().cloned());
                    writable.extend(cli.read_write.iter().cloned());
                }
                let inside = tern_sandbox::Phase { writable, read_only, cwd: workdir.to_path_buf() };
                let w = sandbox.wrap(&inside, binary.path.as_os_str(), &args, env);
                CommandSpec { program: w.program, args: w.args, cwd: workdir.to_path_buf(), env: w.env }
            }
            None => CommandSpec {
                program: binary.path.clone().into_os_string(),
                args: args.clone(),
                cwd: workdir.to_path_buf(),
                env: env.to_vec(),
            },
        };
        let options = RunOptions {
            timeout: Some(left),
            grace: settings.grace,
            output: Some(output),
            cancel: Some(cancel.clone()),
            spawned: timing.take().map(|t| t.report_when_spawned(client.id().to_owned(), pump.tx.clone())),
            on_spawn: recorder
                .clone()
                .map(|r| Box::new(move |pid| r.record(pid)) as Box<dyn FnOnce(u32) + Send>),
            gate: settings.sandbox.clone().filter(|s| s.gated()).map(|sandbox| {
                Box::new(move |pid: u32| {
                    Box::pin(async move {
                        match sandbox.connect(pid).await {
                            Ok(network) => Ok(Box::new(network) as Box<dyn std::any::Any + Send>),
                            Err(e) => Err(format!("setting up the phase's network: {e}")),
                        }
                    }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
                }) as tern_handoff::process::Gate
            }),
        };
        let outcome = match process::run_with(command, options).await {
            Ok(o) => o,
            Err(e) => {
                return PhaseResult::Failed(format!("{e} ({} {})", binary.flavor, binary.path.display()));
            }
        };
        if *cancel.borrow() {
            return PhaseResult::Canceled;
        }
        if let Some(collector) = captured {
            // Best effort: a run without its JSON plan still applies, it only lacks counts.
            let json = collector.await.ok().flatten();
            let what = if args[0] == "show" { "the plan as JSON" } else { "the providers' schemas" };
            match (&outcome, json) {
                (Outcome::Exited(0), Some(json)) if args[0] == "show" => plan_json = Some(json),
                (Outcome::Exited(0), Some(json)) => schemas_json = Some(json),
                (Outcome::Exited(0), None) => {
                    pump.line(&format!(
                        "warning: {what} is too large to keep; the run's plan details are incomplete"
                    ))
                    .await;
                }
                (other, _) => {
                    pump.line(&format!(
                        "warning: reading {what} failed ({other:?}); the run's plan details are incomplete"
                    ))
                    .await;
                }
            }
            continue;
        }
        match (outcome, args[0].to_str()) {
            (Outcome::Exited(0), _) => {}
            (Outcome::Exited(2), Some("plan")) => has_changes = true,
            (Outcome::TimedOut(t), _) => {
                return PhaseResult::Failed(format!("the phase timed out after {}s", t.as_secs()));
            }
            (Outcome::Exited(code), Some(step)) => {
                // In the sandbox, a command killed by a signal exits with 128 + the signal.
                let limit = settings
                    .sandbox
                    .as_ref()
                    .zip(code.checked_sub(128))
                    .and_then(|(s, sig)| tern_sandbox::limit_signal(sig, &s.limits()));
                return PhaseResult::Failed(match limit {
                    Some(why) => format!("terraform {step} was stopped: {why}"),
                    None => format!("terraform {step} exited with code {code}"),
                });
            }
            (Outcome::Signaled(sig), Some(step)) => {
                let limit =
                    settings.sandbox.as_ref().and_then(|s| tern_sandbox::limit_signal(sig, &s.limits()));
                return PhaseResult::Failed(match limit {
                    Some(why) => format!("terraform {step} was stopped: {why}"),
                    None => format!("terraform {step} was killed by signal {sig}"),
                });
            }
            (other, None) => return PhaseResult::Failed(format!("terraform ended: {other:?}")),
        }
    }
    if phase == RunPhase::Plan {
        send_plan_details(client, pump, plan_json, schemas_json).await;
        match tokio::task::spawn_blocking(move || read_back(&plan_path, MAX_PLAN_BYTES)).await {
            Ok(Ok(Some(bytes))) => {
                if let Err(e) = client.save_plan_file(bytes).await {
                    return PhaseResult::Failed(e.to_string());
                }
            }
            Ok(Ok(None)) => return PhaseResult::Failed("terraform wrote no plan file".into()),
            Ok(Err(e)) => return PhaseResult::Failed(format!("reading the saved plan: {e}")),
            Err(_) => return PhaseResult::Failed("reading the saved plan failed".into()),
        }
    }
    PhaseResult::Succeeded { has_changes }
}

/// The plan as JSON (counts, `json-output`) and, with the providers' schemas, the redacted
/// structured plan (`json-output-redacted`). Best effort: a run without them still applies.
async fn send_plan_details(
    client: &JobClient,
    pump: &LogPump,
    plan_json: Option<Vec<u8>>,
    schemas_json: Option<Vec<u8>>,
) {
    let Some(plan_json) = plan_json else { return };
    let structured = match &schemas_json {
        Some(schemas) => {
            let (plan, schemas) = (plan_json.clone(), schemas.clone());
            tokio::task::spawn_blocking(move || crate::structured::redacted_plan(&plan, &schemas)).await.ok()
        }
        None => None,
    };
    if let Err(e) = client.save_plan_json(plan_json).await {
        pump.line(&format!("warning: the plan's resource counts are unavailable: {e}")).await;
    }
    match structured {
        Some(Ok(doc)) => {
            if let Err(e) = client.save_plan_json_redacted(doc).await {
                pump.line(&format!("warning: the structured plan is unavailable: {e}")).await;
            }
        }
        Some(Err(e)) => pump.line(&format!("warning: the structured plan is unavailable: {e}")).await,
        None => {}
    }
}

/// Where a phase's commands run: the job's directory (writable in the sandbox) and the run's
/// credentials directory (read-only in it).
#[derive(Clone, Copy)]
struct Sandboxed<'a> {
    job_dir: &'a Path,
    credentials: &'a Path,
}

/// The binary for the job's Terraform version (the server offered this runner only jobs whose
/// version it advertised, so a miss means the set changed or the server erred).
fn select_terraform(set: &TerraformSet, version: &str) -> Result<TerraformBinary, String> {
    let requested = tern_types::TerraformVersion::parse(version).map_err(|e| e.to_string())?;
    set.select(&requested)
        .cloned()
        .ok_or_else(|| format!("this runner has no Terraform {requested} (it has: {})", set.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("tern-runner-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Everything below `dir`, links not followed.
    fn listing(dir: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                out.extend(listing(&path));
            }
            out.push(path);
        }
        out.sort();
        out
    }

    /// Issue 15: a configuration whose working directory leads out of it through a chain of
    /// symbolic links (`d -> .`, then `d/d/..`, the job directory) made the runner write the
    /// workspace's variables outside. The run now fails before anything is written, saying why.
    #[test]
    fn a_working_directory_needs_a_terraform_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("infra");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(dir.path().join("main.tf"), "").unwrap();
        std::fs::write(sub.join("README.md"), "").unwrap();
        std::fs::create_dir(sub.join("dir.tf")).unwrap(); // a directory, not a file
        assert!(has_terraform_files(dir.path()));
        assert!(!has_terraform_files(&sub), "Terraform reads only the working directory itself");
        std::fs::write(sub.join("main.tf.json"), "{}").unwrap();
        assert!(has_terraform_files(&sub));
    }

    #[test]
    fn a_working_directory_that_leads_out_through_links_is_refused() {
        let scratch = Scratch::new("workdir-escape");
        let src = scratch.0.join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("main.tf"), "").unwrap();
        std::os::unix::fs::symlink(".", src.join("d")).unwrap();
        let job = scratch.0.join("job");
        let unpack_into = |name: &str, working_directory: &str| {
            let config = job.join(name);
            std::fs::create_dir_all(&config).unwrap();
            let tarball = tern_archive::pack(&src).unwrap();
            unpack_configuration(&tarball, &config, working_directory)
        };

        // `d -> .` alone is a valid configuration, and `d/d` is its top.
        let (_, workdir) = unpack_into("fine", "d/d").unwrap();
        assert_eq!(workdir, job.join("fine"));

        // As uploaded: the link out is refused by the same check the server makes.
        std::os::unix::fs::symlink("d/d/..", src.join("wd")).unwrap();
        let err = unpack_into("attack", "wd").unwrap_err();
        assert_eq!(
            err,
            r#"the configuration cannot be unpacked: entry "wd" is a symbolic link to "d/d/..", which leads outside the configuration"#
        );
        std::fs::remove_file(src.join("wd")).unwrap();

        // Through a link the archive accepts: the server refuses `..` in a working directory,
        // but the runner does not rely on it.
        let err = unpack_into("climb", "d/d/../..").unwrap_err();
        assert_eq!(
            err,
            r#"the working directory cannot be used: "d/d/../.." leads outside the configuration: '..' above the top of the configuration"#
        );

        // Nothing was written outside the configurations.
        let outside: Vec<PathBuf> = listing(&job)
            .into_iter()
            .filter(|p| !["fine", "attack", "climb"].iter().any(|c| p.starts_with(job.join(c))))
            .collect();
        assert!(outside.is_empty(), "{outside:?}");
        assert_eq!(
            listing(&scratch.0).iter().filter(|p| p.extension().is_some_and(|e| e == "tfvars")).count(),
            0
        );
    }

    /// What the phase leaves where tern reads next: a link is refused, not followed.
    #[test]
    fn files_read_back_after_a_phase_are_never_followed_through_links() {
        let scratch = Scratch::new("read-back");
        let secret = scratch.0.join("server-key.pem");
        std::fs::write(&secret, "not the phase's").unwrap();
        let plan = scratch.0.join("plan.tfplan");
        std::os::unix::fs::symlink(&secret, &plan).unwrap();
        let err = read_back(&plan, MAX_PLAN_BYTES).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(read_back(&scratch.0.join("none"), MAX_PLAN_BYTES).unwrap().is_none());
    }

    #[test]
    fn hcl_strings_escape_quotes_and_templates() {
        assert_eq!(hcl_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(hcl_string("${x} %{y} $z"), r#""$${x} %%{y} $z""#);
        assert_eq!(hcl_string("l1\nl2"), r#""l1\nl2""#);
    }
}
