//! `tern exec`: run a command with dynamic credentials, as a phase of a run would.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use tern_credentials::handoff::{Endpoints, PlanInput, plan};
use tern_credentials::{Variables, dotenv, parse_name, resolve};
use tern_handoff::{CommandSpec, LocalMinter, PhaseOptions, RunDir, prepare, process, recover_abandoned};
use tern_types::{IssuerUrl, SystemClock, Ttl};

use crate::UsageError;
use crate::cli::ExecArgs;
use crate::keyfile;
use crate::settings::{self, Env};

/// Names that configure dynamic credentials when they come from the environment rather than
/// an env file.
fn is_config_name(name: &str) -> bool {
    !matches!(parse_name(name), tern_credentials::Name::NotOurs)
        || name.starts_with("ENABLE_DYNAMIC_CREDENTIALS_")
        || name.starts_with("WORKLOAD_IDENTITY_")
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir().context("reading the current directory")?.join(path))
    }
}

pub fn run(args: ExecArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    // Everything the user typed, validated before any I/O.
    let usage = |flag: &str, e: &dyn std::fmt::Display| UsageError(format!("{flag}: {e}"));
    let sources = settings::key_sources(&args.minting.keys, env)?;
    if sources.signing.len() != 1 {
        return Err(UsageError("give the key to sign with, once: --signing-key PATH".into()).into());
    }
    let issuer = IssuerUrl::parse(&args.minting.issuer_url).map_err(|e| usage("--issuer-url", &e))?;
    let context = settings::run_context(&args.minting.run)?;
    let policy = settings::claim_policy(&args.minting.claims)?;
    let file_ttl = settings::ttl(args.token_ttl.as_deref(), env)?;
    let timeout = settings::duration("--timeout", &args.timeout)?;
    let grace = settings::duration("--grace", &args.grace)?;
    let inline_ttl = Ttl::new(timeout.clamp(Ttl::MIN, Ttl::MAX)).map_err(|e| usage("--timeout", &e))?;
    let workdir = absolute(args.workdir.as_deref().unwrap_or(Path::new(".")))?;
    let default_base = args.credentials_dir.is_none();
    let base = absolute(&args.credentials_dir.clone().unwrap_or_else(|| super::default_runtime_dir(env)))?;
    let endpoints = Endpoints {
        gcp_sts: args.gcp_sts_url.clone(),
        gcp_iam_credentials: args.gcp_iam_credentials_url.clone(),
    };

    // Workspace variables: env files, then the dynamic credentials variables of the environment.
    let mut variables = Variables::new();
    let mut file_vars: Vec<(String, String)> = Vec::new();
    for (name, value) in std::env::vars() {
        if is_config_name(&name) {
            variables.insert(name, value, false);
        }
    }
    for path in &args.env_files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("env file {}: cannot read it: {e}", path.display()))?;
        let pairs = dotenv::parse(&text).map_err(|e| anyhow!("env file {}: {e}", path.display()))?;
        for (name, value) in pairs {
            variables.insert(name.clone(), value.clone(), false);
            file_vars.push((name, value));
        }
    }
    let mut configs = resolve(&variables).map_err(|e| anyhow!("{e}"))?;
    if !configs.azure.is_empty() && file_ttl.as_duration() < std::time::Duration::from_secs(15 * 60) {
        configs.warnings.push(format!(
            "--token-ttl {file_ttl} is short for Azure: azure-identity re-reads its token file only every 10 minutes, so it may present an expired token; use 15m or more"
        ));
    }
    for w in &configs.warnings {
        tracing::warn!("{w}");
    }
    let dir = base.join(context.run_id.as_str());
    let plan = plan(&PlanInput {
        configs: &configs,
        variables: &variables,
        phase: context.phase,
        run_id: context.run_id.as_str(),
        dir: &dir,
        workdir: &workdir,
        endpoints: &endpoints,
    })?;
    let key = keyfile::load_signing_key(&sources)?;

    if args.dry_run {
        let passed: Vec<&str> =
            file_vars.iter().map(|(k, _)| k.as_str()).filter(|k| !is_config_name(k)).collect();
        let mut text =
            dry_run(&args, &issuer, &context, &policy, &configs, &plan, &key, file_ttl, inline_ttl, &workdir);
        if !passed.is_empty() {
            let mut names = passed;
            names.sort_unstable();
            names.dedup();
            text.push_str(&format!(
                "workspace variables passed to the command (values not shown): {}\n",
                names.join(" ")
            ));
        }
        out!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    // A command that is not there fails here, before any token is minted or file written.
    let path_var = file_vars
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let program = args.command.first().ok_or_else(|| UsageError("no command given after --".into()))?;
    find_program(program, &workdir, path_var.as_deref())?;
    if configs.is_empty() {
        tracing::warn!("no dynamic credentials are configured: the command runs without any");
    }
    if default_base {
        super::own_default_dir(&base, "credentials", "--credentials-dir DIR")?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        for line in recover_abandoned(&base).await {
            line.log();
        }
        let rundir = RunDir::acquire(&base, context.run_id.as_str())?;
        let minter =
            Arc::new(LocalMinter::new(Arc::new(key), issuer, context.clone(), policy, Arc::new(SystemClock)));
        let options =
            PhaseOptions { file_token_ttl: file_ttl, inline_token_ttl: inline_ttl, file_owner: None };
        let active = prepare(&plan, rundir, minter, options).await?;

        // The command's environment: the runner's, minus its credentials for the configured
        // platforms and tern's own settings, plus the workspace variables, plus the hand-off.
        let mut command_env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        command_env.retain(|k, _| !k.to_string_lossy().starts_with("TERN_"));
        for name in active.unset() {
            if command_env.remove(&OsString::from(name)).is_some() {
                tracing::info!(
                    "removed {name} from the command's environment: dynamic credentials replace it"
                );
            }
        }
        for (name, value) in file_vars {
            command_env.insert(name.into(), value.into());
        }
        for (name, value) in active.env() {
            command_env.insert(name.into(), value.expose().into());
        }
        let mut words = args.command.into_iter();
        let program = words.next().ok_or_else(|| anyhow!("no command given after --"))?;
        let spec = CommandSpec {
            program,
            args: words.collect(),
            cwd: workdir,
            env: command_env.into_iter().collect(),
        };

        let outcome = process::run(spec, Some(timeout), grace).await;
        let report = active.finish().await;
        for problem in &report.problems {
            tracing::error!("teardown: {problem}");
        }
        let outcome = outcome?;
        if let process::Outcome::TimedOut(t) = outcome {
            eprintln!("error: the phase timed out after {}", humantime::format_duration(t));
        }
        if !report.problems.is_empty() && outcome.success() {
            bail!("the command succeeded, but teardown did not finish cleanly (see above)");
        }
        Ok(ExitCode::from(outcome.exit_code()))
    })
}

/// The executable `program` names: a path (relative to `workdir`, where it runs) when it has a
/// `/`, else the first match on `path` (the command's PATH), as the OS will look it up.
fn find_program(
    program: &std::ffi::OsStr,
    workdir: &Path,
    path: Option<&std::ffi::OsStr>,
) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let shown = program.to_string_lossy();
    let executable =
        |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if shown.contains('/') {
        let full: PathBuf = workdir.join(program).components().collect();
        if executable(&full) {
            return Ok(full);
        }
        if full.is_file() {
            bail!("cannot run {shown:?}: it is not executable (chmod +x {})", full.display());
        }
        bail!("cannot run {shown:?}: there is no file {}", full.display());
    }
    if let Some(found) =
        path.into_iter().flat_map(std::env::split_paths).map(|d| d.join(program)).find(|p| executable(p))
    {
        return Ok(found);
    }
    bail!("cannot run {shown:?}: no such command on PATH; install it, or give its path (e.g. ./{shown})")
}

#[allow(clippy::too_many_arguments)]
fn dry_run(
    args: &ExecArgs,
    issuer: &IssuerUrl,
    context: &tern_identity::RunContext,
    policy: &tern_identity::ClaimPolicy,
    configs: &tern_credentials::CredentialConfigs,
    plan: &tern_credentials::handoff::HandoffPlan,
    key: &tern_identity::SigningKey,
    file_ttl: Ttl,
    inline_ttl: Ttl,
    workdir: &Path,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "tern exec --dry-run: nothing was minted, written or sent.\n");
    let _ = writeln!(
        out,
        "run: organization {} · project {} · workspace {} · run {} · phase {}",
        context.organization, context.project, context.workspace, context.run_id, context.phase
    );
    let _ = writeln!(out, "\nconfigurations:");
    if configs.is_empty() {
        let _ = writeln!(out, "  (none: the command would run without dynamic credentials)");
    }
    out.push_str(&configs.describe(context.phase));
    if !configs.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &configs.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    let _ = writeln!(out, "\ntoken claims (every token of this phase; aud is the configuration's audience):");
    let _ = writeln!(
        out,
        "  header  {{\"alg\":\"{}\",\"typ\":\"JWT\",\"kid\":\"{}\"}}",
        key.algorithm(),
        key.kid()
    );
    for (name, value) in policy.fixed_claims(issuer.as_str(), context) {
        let _ = writeln!(out, "  {name}  {value}");
    }
    let _ = writeln!(
        out,
        "  iat, nbf, exp, jti  set when minted: {file_ttl} for tokens in files (refreshed at two thirds), {inline_ttl} for inline tokens"
    );
    let _ = writeln!(out);
    out.push_str(&plan.describe());
    let words: Vec<String> = args.command.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    let _ = writeln!(out, "\ncommand: {} (in {})", words.join(" "), workdir.display());
    out
}
