//! The `tern` binary: thin glue. Parse the command line (`cli`), validate it into settings
//! (`settings`), run the command (`commands`), print errors once as a chain, exit with a
//! documented code: 0 success, 1 failure, 2 usage error.

/// `println!` that never panics: a closed standard output (`tern run logs RUN | head`) ends the
/// command quietly with status 0, as other Unix tools end; any other write error, with status 1.
macro_rules! outln {
    () => {
        $crate::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics (see [`outln!`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

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
        Command::Token(TokenCommand::List { org, client }) => {
            commands::client::token_list(org, &client, &env)
        }
        Command::Token(TokenCommand::Revoke { id, client }) => {
            commands::client::token_revoke(&id, &client, &env)
        }
        Command::Agent(args) => commands::agent::run(args, &env),
        Command::Login(args) => commands::client::login(args, &env),
        Command::Org(c) => commands::client::org(c, &env),
        Command::User(c) => commands::client::user(c, &env),
        Command::Team(c) => commands::client::team(c, &env),
        Command::Project(c) => commands::client::project(c, &env),
        Command::Workspace(c) => commands::client::workspace(c, &env),
        Command::Var(c) => commands::client::var(c, &env),
        Command::Varset(c) => commands::client::varset(c, &env),
        Command::Audit(args) => commands::client::audit(args, &env),
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

/// Write to standard output; see [`stdout_failed`] for a failure.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        stdout_failed(&e);
    }
}

/// Standard output failed: a reader that went away (`| head`) is a normal end (status 0);
/// anything else is an error (status 1). Either way nothing more is written.
pub(crate) fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(1);
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
