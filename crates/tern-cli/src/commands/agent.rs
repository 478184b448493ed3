//! `tern agent`: run jobs for a tern server on this machine.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tern_runner::{AgentClient, PhaseResult, TerraformSet, run_job};
use tern_types::SecretString;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::UsageError;
use crate::cli::AgentArgs;
use crate::settings::{self, Env};

pub fn run(args: AgentArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    if !(args.server.starts_with("https://") || args.server.starts_with("http://")) {
        return Err(UsageError(format!("--server {:?} must be an http(s) URL", args.server)).into());
    }
    if args.concurrency == 0 {
        return Err(UsageError("--concurrency must be at least 1".into()).into());
    }
    let name = match &args.name {
        Some(n) => n.clone(),
        None => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "agent".into()),
    };
    let runtime_dir = super::default_runtime_dir(env);
    let work_dir = args.work_dir.clone().unwrap_or_else(|| runtime_dir.join("work"));
    let token_ttl = settings::ttl(args.token_ttl.as_deref(), env)?;
    let mut runner =
        settings::runner(&args.runner, work_dir, runtime_dir.join("credentials"), token_ttl, env)?;
    let sources = settings::terraform_sources(&args.runner);
    let agent = AgentClient::new(&args.server, SecretString::new(args.token.trim().to_owned()), &name)?;
    // Plans, state and credentials go under the default directory unless both are elsewhere.
    let defaulted: Vec<&str> = [
        (args.work_dir.is_none(), "--work-dir DIR"),
        (args.runner.credentials_dir.is_none(), "--credentials-dir DIR"),
    ]
    .into_iter()
    .filter_map(|(default, flag)| default.then_some(flag))
    .collect();
    if !defaulted.is_empty() {
        super::own_default_dir(&runtime_dir, "plans, state and credentials", &defaulted.join(" and "))?;
    }
    runner.sandbox = settings::sandbox(&args.runner, &runtime_dir)?;
    runner.ca_bundle = settings::ca_bundle(&args.runner, &runtime_dir)?;
    // Phases may reach the server's API, as HCP Terraform's runs reach theirs.
    if let Some(sandbox) = runner.sandbox.as_mut() {
        for addr in settings::api_addresses(&[args.server.as_str()], None) {
            if !std::sync::Arc::make_mut(sandbox).allow_egress(addr) {
                tracing::warn!(
                    "the server's API at {addr} is in a --deny-egress range: phases cannot reach it"
                );
            }
        }
    }

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        for line in tern_handoff::recover_abandoned(&runner.credentials_dir).await {
            line.log();
        }
        // What this agent can run, advertised with every claim.
        let terraform = TerraformSet::discover(&sources, &runner.path, tern_runner::terraform::PROBE_TIMEOUT)
            .await
            .context("registering this agent's Terraform binaries")?;
        if terraform.is_empty() {
            anyhow::bail!(
                "no Terraform found: neither terraform nor tofu is on PATH; install one, or give --terraform PATH or --tools-dir DIR"
            );
        }
        let agent = agent.with_terraform_versions(&terraform.versions());
        tracing::info!(
            "agent {name} serving {} ({} at once) with Terraform {}; no signing key here: the server mints every token",
            args.server,
            args.concurrency,
            terraform.describe()
        );
        settings::log_isolation(runner.sandbox.as_deref());
        runner.terraform = std::sync::Arc::new(terraform);
        if args.once {
            // Tell the server any job it thinks we run is dead, then run exactly one.
            let mut restarted = true;
            loop {
                match agent.claim(Duration::from_secs(20), restarted).await? {
                    Some(job) => {
                        let result = run_job(job.client, &runner).await;
                        return Ok(if matches!(result, PhaseResult::Succeeded { .. }) {
                            ExitCode::SUCCESS
                        } else {
                            ExitCode::FAILURE
                        });
                    }
                    None => restarted = false,
                }
            }
        }
        // Before any job runs: a phase listens for these signals too (to pass them on to its
        // Terraform), and once anything in the process has, their default action (exit) is gone.
        let mut signals = StopSignals::new()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = Vec::new();
        for i in 0..args.concurrency {
            workers.push(tokio::spawn(tern_runner::run_worker(
                agent.clone(),
                runner.clone(),
                stop_rx.clone(),
                i == 0,
            )));
        }
        // First signal: no new jobs; running ones end (a Terraform running now gets the signal
        // too, and is killed after --grace), are reported and cleaned up.
        let first = signals.recv().await;
        tracing::info!(
            "{first}: stopping: no new jobs; running jobs end first (a Terraform running now gets the signal too, and is killed after --grace); a second SIGTERM or SIGINT ends them at once"
        );
        let _ = stop_tx.send(true);
        let mut all = std::pin::pin!(async {
            for w in workers {
                let _ = w.await;
            }
        });
        let credentials_dir = runner.credentials_dir.clone();
        let mut signalled = 1;
        loop {
            tokio::select! {
                () = &mut all => return Ok(ExitCode::SUCCESS),
                again = signals.recv() => {
                    signalled += 1;
                    if signalled == 2 {
                        // Second: kill their Terraform now; the jobs are still reported and
                        // their credentials revoked.
                        let killed = kill_running_phases(&credentials_dir);
                        tracing::warn!(
                            "{again}: killed the Terraform of {killed} running job(s); they are reported as failed and cleaned up, then this agent exits; a third signal exits at once"
                        );
                    } else {
                        // Third: as if killed. The next start revokes and removes what is left.
                        tracing::warn!(
                            "{again}: exiting now, without cleaning up: the server errors the running jobs when their lease runs out, and the next start of this agent stops what they left running and revokes their credentials"
                        );
                        std::process::exit(128 + i32::from(again.number()));
                    }
                }
            }
        }
    })
}

/// SIGKILL the process group of every command that this agent's phases run now; how many.
fn kill_running_phases(credentials_dir: &std::path::Path) -> usize {
    use nix::sys::signal::{Signal as Sig, killpg};
    tern_handoff::rundir::running_children(credentials_dir)
        .into_iter()
        .filter_map(|p| i32::try_from(p.pid).ok())
        .filter(|&pid| killpg(nix::unistd::Pid::from_raw(pid), Sig::SIGKILL).is_ok())
        .count()
}

/// A signal that stops the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Int,
    Term,
}

impl Stop {
    /// Its number, for the shell's exit status convention (128 + number).
    fn number(self) -> u8 {
        match self {
            Self::Int => 2,
            Self::Term => 15,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Int => "SIGINT",
            Self::Term => "SIGTERM",
        })
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd, Kubernetes) alike.
struct StopSignals {
    int: Signal,
    term: Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<Self> {
        let listen =
            |kind: SignalKind, name: &str| signal(kind).with_context(|| format!("listening for {name}"));
        Ok(Self {
            int: listen(SignalKind::interrupt(), "SIGINT")?,
            term: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.int.recv() => Stop::Int,
            _ = self.term.recv() => Stop::Term,
        }
    }
}
