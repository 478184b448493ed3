//! Running the command of a phase: a clean environment, the exit code propagated, signals
//! forwarded, and a timeout that interrupts (SIGINT, which Terraform handles by stopping
//! gracefully and saving state) before it kills (SIGKILL after a grace period).
//!
//! SIGTERM, SIGHUP and SIGQUIT are forwarded to the command. SIGINT is forwarded only when
//! stdin is not a terminal: on a terminal, Ctrl-C already reaches the command through its
//! process group, and Terraform treats a second interrupt as "exit immediately".

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

/// What to run. Its environment holds secrets (Vault tokens, inline tokens, client secrets), so
/// `Debug` shows variable names only.
#[derive(Clone)]
pub struct CommandSpec {
    /// Program (looked up on the `PATH` of `env`).
    pub program: OsString,
    /// Arguments.
    pub args: Vec<OsString>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The complete environment (nothing else is inherited).
    pub env: Vec<(OsString, OsString)>,
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<std::borrow::Cow<'_, str>> =
            self.env.iter().map(|(k, _)| k.to_string_lossy()).collect();
        f.debug_struct("CommandSpec")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("cwd", &self.cwd)
            .field("env (names only)", &names)
            .finish()
    }
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Stopped because the phase timed out.
    TimedOut(Duration),
}

impl Outcome {
    /// The exit code a shell would report: the code, 128+signal, or 124 for a timeout (as
    /// `timeout(1)` does).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Exited(c) => u8::try_from(c).unwrap_or(1),
            Self::Signaled(s) => u8::try_from(128 + s).unwrap_or(255),
            Self::TimedOut(_) => 124,
        }
    }

    /// Whether the command succeeded.
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }
}

/// Why the command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Spawning failed.
    #[error("cannot run {program:?}: {source}")]
    Spawn {
        /// The program.
        program: OsString,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting failed.
    #[error("waiting for the command: {0}")]
    Wait(#[source] std::io::Error),
    /// Installing signal handlers failed.
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// What the command waited for could not be prepared.
    #[error("{0}")]
    Gate(String),
}

/// Signal the command: its whole process group when it has its own (captured output: no
/// terminal), so that what it started (provider plugins, `local-exec` children) stops too.
///
/// A sandbox's own processes (bubblewrap: the one tern started and the namespace's init) are in
/// the group too, but do not pass signals on and die of SIGINT or SIGTERM, which would kill the
/// whole sandbox at once: Terraform would get no chance to stop gracefully and save its state.
/// Signals other than SIGKILL therefore go to every member of the group but those.
fn send(pid: Option<u32>, sig: Signal, group: bool) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else { return };
    if !group {
        let _ = kill(Pid::from_raw(pid), sig);
        return;
    }
    if sig == Signal::SIGKILL {
        let _ = kill(Pid::from_raw(-pid), sig);
        return;
    }
    let members = group_members(pid);
    if members.is_empty() {
        let _ = kill(Pid::from_raw(-pid), sig); // /proc unreadable: the whole group, as before
        return;
    }
    for (member, comm) in members {
        if comm != "bwrap" {
            let _ = kill(Pid::from_raw(member), sig);
        }
    }
}

/// The processes of group `pgid` and their command names, from `/proc` (empty if unreadable).
fn group_members(pgid: i32) -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = stat[open + 1..close].to_owned();
        let pgrp = stat[close + 1..].split_whitespace().nth(2).and_then(|g| g.parse::<i32>().ok());
        if pgrp == Some(pgid) {
            out.push((pid, comm));
        }
    }
    out
}

/// Run `spec` until it exits; `timeout` bounds it, `grace` is how long an interrupted command
/// gets before SIGKILL. The command shares this process's stdout and stderr.
pub async fn run(
    spec: CommandSpec,
    timeout: Option<Duration>,
    grace: Duration,
) -> Result<Outcome, ProcessError> {
    run_with(
        spec,
        RunOptions { timeout, grace, output: None, cancel: None, spawned: None, on_spawn: None, gate: None },
    )
    .await
}

/// How [`run_with`] runs a command.
pub struct RunOptions {
    /// Bound on the run.
    pub timeout: Option<Duration>,
    /// How long an interrupted command gets before SIGKILL.
    pub grace: Duration,
    /// Where stdout and stderr go, in chunks as they are produced (None: inherited).
    pub output: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    /// Becomes `true` when the command should stop (SIGINT, then SIGKILL after `grace`).
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Told the moment the command has been spawned (its program exec'd), for timing.
    pub spawned: Option<tokio::sync::oneshot::Sender<std::time::Instant>>,
    /// Called with the command's pid as soon as it runs (for the phase's recovery record).
    pub on_spawn: Option<Box<dyn FnOnce(u32) + Send>>,
    /// A command that waits for one byte on its stdin before it starts its real work (a
    /// sandbox whose network is set up from outside): called with its pid, it prepares what
    /// the command waits for; what it returns is kept until the command ends. An error stops
    /// the command before it started.
    pub gate: Option<Gate>,
}

/// See [`RunOptions::gate`].
pub type Gate = Box<
    dyn FnOnce(
            u32,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Box<dyn std::any::Any + Send>, String>> + Send>,
        > + Send,
>;

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("timeout", &self.timeout)
            .field("grace", &self.grace)
            .field("output", &self.output.is_some())
            .field("cancel", &self.cancel.is_some())
            .field("spawned", &self.spawned.is_some())
            .field("on_spawn", &self.on_spawn.is_some())
            .field("gate", &self.gate.is_some())
            .finish()
    }
}

/// Pass everything `from` produces to `to`, in chunks.
async fn pump(mut from: impl tokio::io::AsyncRead + Unpin, to: tokio::sync::mpsc::Sender<Vec<u8>>) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.send(buf[..n].to_vec()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The program as a path: a bare name is looked up on the `PATH` of the command's own
/// environment. Given a path, the standard library starts the process with `posix_spawn`
/// (vfork and exec); given a bare name with a `PATH` of its own it has to fork the whole
/// server process, which took a millisecond of every phase's start. A name found nowhere is
/// returned as is, so that spawning reports it.
fn resolve_program(program: &std::ffi::OsStr, env: &[(OsString, OsString)]) -> OsString {
    use std::os::unix::fs::PermissionsExt as _;
    if program.as_encoded_bytes().contains(&b'/') || program.is_empty() {
        return program.to_owned();
    }
    let Some((_, path)) = env.iter().rev().find(|(k, _)| k == "PATH") else { return program.to_owned() };
    for dir in std::env::split_paths(path) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let candidate = dir.join(program);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return candidate.into_os_string();
        }
    }
    program.to_owned()
}

/// [`run`] with output capture and cancellation.
pub async fn run_with(spec: CommandSpec, options: RunOptions) -> Result<Outcome, ProcessError> {
    let RunOptions { timeout, grace, output, mut cancel, spawned, on_spawn, gate } = options;
    let mut term = signal(SignalKind::terminate()).map_err(ProcessError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ProcessError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(ProcessError::Signals)?;
    let mut quit = signal(SignalKind::quit()).map_err(ProcessError::Signals)?;

    let mut command = tokio::process::Command::new(resolve_program(&spec.program, &spec.env));
    command.args(&spec.args).current_dir(&spec.cwd).env_clear().envs(spec.env.iter().map(|(k, v)| (k, v)));
    let group = output.is_some();
    if group {
        command
            .stdin(if gate.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
    }
    let mut child =
        command.spawn().map_err(|source| ProcessError::Spawn { program: spec.program.clone(), source })?;
    if let Some(tx) = spawned {
        let _ = tx.send(std::time::Instant::now());
    }
    // Only a command in its own process group can be stopped as a whole later.
    if group && let (Some(record), Some(pid)) = (on_spawn, child.id()) {
        record(pid);
    }
    // The gate: prepared while the command waits, then the command is let go. Kept until the
    // command ends (`_opened` drops on every return below).
    let mut _opened: Option<Box<dyn std::any::Any + Send>> = None;
    if let (Some(gate), Some(pid)) = (gate, child.id()) {
        let stdin = child.stdin.take();
        match gate(pid).await {
            Ok(kept) => {
                _opened = Some(kept);
                if let Some(mut stdin) = stdin {
                    use tokio::io::AsyncWriteExt as _;
                    let _ = stdin.write_all(b"1").await;
                }
            }
            Err(reason) => {
                send(Some(pid), Signal::SIGKILL, group);
                let _ = child.wait().await;
                return Err(ProcessError::Gate(reason));
            }
        }
    }
    let mut pumps = Vec::new();
    if let Some(tx) = &output {
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, tx.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, tx.clone())));
        }
    }
    drop(output);
    let pid = child.id();
    let mut canceled = false;
    let interactive = std::io::stdin().is_terminal();
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut kill_at: Option<Instant> = None;
    let mut timed_out = false;
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);

    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(ProcessError::Wait)?;
                // Everything the command wrote reaches the receiver before we return; a
                // grandchild that keeps the pipes open does not hold us longer than 2 s.
                if group {
                    send(pid, Signal::SIGKILL, true);
                }
                for mut p in pumps.drain(..) {
                    if tokio::time::timeout(Duration::from_secs(2), &mut p).await.is_err() {
                        p.abort();
                    }
                }
                if timed_out && let Some(t) = timeout {
                    return Ok(Outcome::TimedOut(t));
                }
                use std::os::unix::process::ExitStatusExt as _;
                return Ok(match (status.code(), status.signal()) {
                    (Some(code), _) => Outcome::Exited(code),
                    (None, Some(sig)) => Outcome::Signaled(sig),
                    (None, None) => Outcome::Exited(1),
                });
            }
            _ = term.recv() => {
                tracing::info!("SIGTERM: passing it on to the command");
                send(pid, Signal::SIGTERM, group);
                kill_at.get_or_insert(Instant::now() + grace);
            }
            _ = int.recv() => {
                if !interactive {
                    send(pid, Signal::SIGINT, group);
                }
                kill_at.get_or_insert(Instant::now() + grace);
            }
            _ = hup.recv() => send(pid, Signal::SIGHUP, group),
            _ = quit.recv() => send(pid, Signal::SIGQUIT, group),
            () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() && !timed_out => {
                tracing::warn!("the phase timed out after {}s: interrupting the command", timeout.unwrap_or_default().as_secs());
                timed_out = true;
                send(pid, Signal::SIGINT, group);
                kill_at = Some(Instant::now() + grace);
            }
            changed = async { match cancel.as_mut() { Some(rx) => rx.changed().await.is_ok(), None => std::future::pending().await } }, if !canceled => {
                if !changed {
                    canceled = true; // the sender is gone: nobody can cancel any more
                } else if cancel.as_ref().is_some_and(|rx| *rx.borrow()) {
                    canceled = true;
                    tracing::info!("cancel requested: interrupting the command");
                    send(pid, Signal::SIGINT, group);
                    kill_at.get_or_insert(Instant::now() + grace);
                }
            }
            () = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() => {
                tracing::warn!("the command did not stop within {}s: killing it", grace.as_secs());
                send(pid, Signal::SIGKILL, group);
                kill_at = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_environment_names_not_values() {
        let spec = CommandSpec {
            program: "terraform".into(),
            args: vec!["plan".into()],
            cwd: PathBuf::from("/work"),
            env: vec![("VAULT_TOKEN".into(), "s.super-secret-token".into())],
        };
        let shown = format!("{spec:?} {spec:#?}");
        assert!(shown.contains("VAULT_TOKEN") && shown.contains("terraform"), "{shown}");
        assert!(!shown.contains("super-secret"), "{shown}");
    }

    #[test]
    fn programs_are_found_on_the_commands_own_path() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        // Not executable in the first directory, executable in the second: the second wins.
        std::fs::write(first.join("terraform"), "#!/bin/sh\n").unwrap();
        std::fs::write(second.join("terraform"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(second.join("terraform"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&first, &second]).unwrap();
        let env = vec![("PATH".into(), path)];
        assert_eq!(resolve_program("terraform".as_ref(), &env), second.join("terraform").into_os_string());
        assert_eq!(
            resolve_program("tofu".as_ref(), &env),
            OsString::from("tofu"),
            "not found: left to spawn"
        );
        assert_eq!(resolve_program("./run.sh".as_ref(), &env), OsString::from("./run.sh"), "a path stays");
        assert_eq!(resolve_program("terraform".as_ref(), &[]), OsString::from("terraform"), "no PATH");
    }

    #[tokio::test]
    async fn a_program_found_on_the_path_runs_and_a_missing_one_is_named() {
        let env = vec![("PATH".into(), OsString::from("/usr/bin:/bin"))];
        let spec = |program: &str| CommandSpec {
            program: program.into(),
            args: vec!["-c".into(), "exit 3".into()],
            cwd: std::env::temp_dir(),
            env: env.clone(),
        };
        let outcome = run(spec("sh"), None, Duration::from_secs(1)).await.unwrap();
        assert_eq!(outcome, Outcome::Exited(3));
        let err = run(spec("no-such-program-tern"), None, Duration::from_secs(1)).await.unwrap_err();
        assert!(err.to_string().contains("no-such-program-tern"), "{err}");
    }
}
