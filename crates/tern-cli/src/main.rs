//! The `tern` binary: thin glue. Parse the command line (`cli`), validate it into settings
//! (`settings`), run the command (`commands`), print errors once as a chain, exit with a
//! documented code: 0 success, 1 failure, 2 usage error.

mod cli;
mod commands;
mod keyfile;
mod settings;

use std::process::ExitCode;

use std::io::IsTerminal as _;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat, TokenCommand};

/// A mistake in what was typed (a value that does not validate, settings that conflict):
/// exit code 2, like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(
        cli.global.log_format,
        matches!(cli.command, Command::Serve(_) | Command::Exec(_) | Command::Agent(_)),
    );
    let env = settings::process_env;
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args, &env),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Exec(args) => commands::exec::run(args, &env),
        Command::Token(TokenCommand::Mint(args)) => commands::token::mint(args, &env),
        Command::Token(TokenCommand::Inspect(args)) => commands::token::inspect(args),
        Command::Token(TokenCommand::Verify(args)) => commands::token::verify(args),
        Command::Agent(args) => commands::agent::run(args, &env),
        Command::Login(args) => commands::client::login(args, &env),
        Command::Org(c) => commands::client::org(c, &env),
        Command::Project(c) => commands::client::project(c, &env),
        Command::Workspace(c) => commands::client::workspace(c, &env),
        Command::Var(c) => commands::client::var(c, &env),
        Command::Run(c) => commands::client::run(c, &env),
        Command::State(c) => commands::client::state(c, &env),
        Command::AgentToken(c) => commands::client::agent_token(c, &env),
        Command::AgentPool(c) => commands::client::agent_pool(c, &env),
        Command::Keys(c) => commands::client::keys(c, &env),
        Command::Trust(args) => commands::trust::trust(args, &env),
        Command::Explain(args) => commands::trust::explain(args, &env),
        Command::Doctor(args) => commands::doctor::run(args, &env),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

/// Logs go to stderr. `TERN_LOG` sets the filter (e.g. `debug`, `info,tower_http=debug`);
/// the default is `info` for `serve` and `exec` (credential lifecycle), `warn` otherwise.
fn init_logging(format: LogFormat, informative: bool) {
    let default = if informative { "info" } else { "warn" };
    // rustls-platform-verifier logs every refused certificate at ERROR; tern reports the
    // failure itself, once, with what to do.
    let filter = EnvFilter::try_from_env("TERN_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},rustls_platform_verifier=off")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
