//! `tern agent`: run jobs for a tern server on this machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tern_runner::{AgentClient, PhaseResult, TerraformSet, run_job};
use tern_types::SecretString;
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
    let runtime_dir = match env("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("tern"),
        None => PathBuf::from(format!("/tmp/tern-{}", nix::unistd::getuid().as_raw())),
    };
    let work_dir = args.work_dir.clone().unwrap_or_else(|| runtime_dir.join("work"));
    let token_ttl = settings::ttl(args.token_ttl.as_deref(), env)?;
    let mut runner =
        settings::runner(&args.runner, work_dir, runtime_dir.join("credentials"), token_ttl, env)?;
    let sources = settings::terraform_sources(&args.runner);
    let agent = AgentClient::new(&args.server, SecretString::new(args.token.trim().to_owned()), &name)?;

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
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping: running jobs finish first (Ctrl-C again to interrupt them)");
        let _ = stop_tx.send(true);
        for w in workers {
            let _ = w.await;
        }
        Ok(ExitCode::SUCCESS)
    })
}
