//! `tern agent` under a service manager: SIGTERM stops it at any time (issue 15). A phase
//! listens for SIGTERM to pass it on to its Terraform, which used to leave the agent deaf to it
//! after its first job.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::runs::{ADMIN, wait_for};
use crate::support::{Scratch, Server, run};

/// A server without workers of its own, organization acme and workspace `app`, and an agent
/// token.
struct Setup {
    s: Scratch,
    server: Server,
    agent_token: String,
    config: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let s = Scratch::new();
        let mut cmd = s.tern();
        cmd.env("TERN_ADMIN_TOKEN", ADMIN);
        let data = s.path().join("data");
        let server = Server::start(cmd, &["--workers", "0", "--data-dir", data.to_str().unwrap()]);
        let config = s.path().join("config");
        std::fs::create_dir(&config).unwrap();
        std::fs::write(config.join("main.tf"), "output \"greeting\" {\n  value = \"hello\"\n}\n").unwrap();
        let setup = Setup { s, server, agent_token: String::new(), config };
        setup.ok(&["org", "create", "acme"]);
        setup.ok(&["workspace", "create", "app"]);
        let agent_token = setup.ok(&["agent-token", "create"]).trim().to_owned();
        Setup { agent_token, ..setup }
    }

    fn cli(&self) -> std::process::Command {
        let mut cmd = self.s.tern();
        cmd.env("TERN_SERVER", &self.server.base).env("TERN_TOKEN", ADMIN).env("TERN_ORG", "acme");
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = run(self.cli().args(args));
        out.success();
        out.stdout.clone()
    }

    /// `tern agent` with `terraform` as its only Terraform, logging to `log`.
    fn agent(&self, terraform: &Path, runtime_dir: &Path, log: &Path) -> Agent {
        let child = self
            .s
            .tern()
            .args(["agent", "--server", &self.server.base, "--name", "sigterm-agent", "--grace", "20s"])
            .env("TERN_AGENT_TOKEN", &self.agent_token)
            .env("TERN_TERRAFORM", terraform)
            .env("XDG_RUNTIME_DIR", runtime_dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Agent { child: Some(child), log: log.to_path_buf() }
    }
}

struct Agent {
    child: Option<Child>,
    log: PathBuf,
}

impl Agent {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status if it stops within `within`.
    fn sigterm(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let child = self.child.as_mut().unwrap();
        kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("tern agent did not stop within {within:?} of SIGTERM\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn sigterm_stops_the_agent_after_it_ran_a_job() {
    let setup = Setup::new();
    let runtime = tempfile::tempdir().unwrap();
    let log = setup.s.path().join("agent.log");
    let mut agent = setup.agent(&tern_testkit::peers::terraform(), runtime.path(), &log);
    let out = run(setup.cli().args([
        "run",
        "start",
        "--workspace",
        "app",
        "--plan-only",
        "--dir",
        setup.config.to_str().unwrap(),
    ]));
    out.success();
    assert!(out.stdout.contains("greeting = \"hello\""), "{out}\n--- agent\n{}", agent.log());
    // The job is over on the server; the agent is back to waiting for the next one.
    let status = agent.sigterm(Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "{status}\n{}", agent.log());
    let log = agent.log();
    assert!(log.contains("SIGTERM: stopping: no new jobs"), "{log}");
    // Its default directory was created private.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(runtime.path().join("tern")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn sigterm_during_a_job_ends_the_job_and_then_the_agent() {
    let setup = Setup::new();
    // A Terraform whose plan hangs until it is signalled.
    let tools = setup.s.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let slow = tools.join("slow-terraform");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\nif [ \"$1\" = plan ]; then sleep 60; fi\nexec {} \"$@\"\n",
            tern_testkit::peers::terraform().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let log = setup.s.path().join("agent.log");
    let mut agent = setup.agent(&slow, runtime.path(), &log);
    let out = run(setup.cli().args([
        "run",
        "start",
        "--workspace",
        "app",
        "--plan-only",
        "--no-follow",
        "--dir",
        setup.config.to_str().unwrap(),
    ]));
    out.success();
    let run_id = out.stdout.trim().to_owned();
    wait_for("the plan to start", Duration::from_secs(60), || {
        run(setup.cli().args(["run", "logs", &run_id])).stdout.contains("$ slow-terraform plan")
    });
    // Terraform gets the signal, the phase ends and is reported, then the agent exits.
    let status = agent.sigterm(Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "{status}\n{}", agent.log());
    let shown = setup.ok(&["run", "show", &run_id]);
    assert!(shown.contains("status:       errored"), "the job was reported, not abandoned: {shown}");
    assert_eq!(
        std::fs::read_dir(runtime.path().join("tern/credentials")).unwrap().count(),
        0,
        "the phase's credentials directory is gone"
    );
}

#[test]
fn a_second_sigterm_kills_the_running_terraform_and_the_job_is_still_reported() {
    let setup = Setup::new();
    // A Terraform whose plan ignores SIGTERM and SIGINT: only SIGKILL ends it.
    let tools = setup.s.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let stubborn = tools.join("stubborn-terraform");
    // Written from inside the phase's sandbox (the exchange directory is writable there).
    let pid_file = setup.s.exchange().join("plan.pid");
    std::fs::write(
        &stubborn,
        format!(
            "#!/bin/sh\nif [ \"$1\" = plan ]; then trap '' TERM INT; echo $$ > {}; sleep 60; fi\nexec {} \"$@\"\n",
            pid_file.display(),
            tern_testkit::peers::terraform().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&stubborn, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let log = setup.s.path().join("agent.log");
    let mut agent = setup.agent(&stubborn, runtime.path(), &log);
    let out = run(setup.cli().args([
        "run",
        "start",
        "--workspace",
        "app",
        "--plan-only",
        "--no-follow",
        "--dir",
        setup.config.to_str().unwrap(),
    ]));
    out.success();
    let run_id = out.stdout.trim().to_owned();
    wait_for("the plan to start", Duration::from_secs(60), || pid_file.exists());
    // The plan's shell, seen from the host (inside, it has the sandbox's own pid).
    let stubborn_running = || {
        tern_testkit::command_lines()
            .into_iter()
            .filter(|c| c.contains(stubborn.to_str().unwrap()) && c.contains(" plan "))
            .count()
    };
    assert!(stubborn_running() >= 1, "the stubborn plan runs (with the sandbox around it)");
    // The first SIGTERM waits for the job (its Terraform has --grace, 20 s, to stop)...
    assert!(agent.sigterm(Duration::from_secs(1)).is_err(), "the first SIGTERM lets the job end");
    // ...the second ends it now: Terraform killed, the job reported and cleaned up.
    let status = agent.sigterm(Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "{status}\n{}", agent.log());
    assert!(agent.log().contains("SIGTERM: killed the Terraform of 1 running job(s)"), "{}", agent.log());
    // Gone with its sandbox (a zombie has no command line left).
    wait_for("the plan's processes to end", Duration::from_secs(5), || stubborn_running() == 0);
    let shown = setup.ok(&["run", "show", &run_id]);
    assert!(shown.contains("status:       errored"), "the job was reported, not abandoned: {shown}");
    let credentials = runtime.path().join("tern/credentials");
    assert_eq!(
        std::fs::read_dir(&credentials).unwrap().count(),
        0,
        "the phase's credentials directory is gone"
    );
}

/// `tern agent` and `tern exec` with `XDG_RUNTIME_DIR` set to `runtime`: both refuse a default
/// directory that is not theirs before they do anything, and say why and what to do.
fn refusals(s: &Scratch, runtime: &Path) -> (crate::support::Run, crate::support::Run) {
    let agent = run(s
        .tern()
        .args(["agent", "--server", "http://127.0.0.1:9", "--token", "unused"])
        .env("XDG_RUNTIME_DIR", runtime));
    let exec = run(s
        .tern()
        .args(["exec", "--signing-key", "keys/rsa-2048.pem", "--issuer-url", "https://tern.example.com"])
        .args(["--organization", "acme", "--workspace", "prod", "--run-id", "run-1", "--phase", "plan"])
        .args(["--", "true"])
        .env("XDG_RUNTIME_DIR", runtime));
    (agent, exec)
}

#[test]
fn the_default_directory_must_be_ours_and_closed_to_other_writers() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = Scratch::new();
    let runtime = tempfile::tempdir().unwrap();
    let dir = runtime.path().join("tern");
    let shown = dir.display().to_string();
    let me = nix::unistd::getuid().as_raw();
    // `why` with {holds} for what each keeps there.
    let expect = |why: &str| {
        let (agent, exec) = refusals(&s, runtime.path());
        agent.failure(1);
        exec.failure(1);
        let agent_why = why.replace("{holds}", "plans, state and credentials");
        assert!(
            agent.stderr.contains(&format!("{agent_why}; remove it"))
                && agent.stderr.contains("or pass --work-dir DIR and --credentials-dir DIR"),
            "{agent}"
        );
        let exec_why = why.replace("{holds}", "credentials");
        assert!(
            exec.stderr.contains(&format!("{exec_why}; remove it"))
                && exec.stderr.contains("or pass --credentials-dir DIR"),
            "{exec}"
        );
    };

    // Created first by someone else, open to all: another user could swap what tern puts there.
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    expect(&format!("{shown} has mode 0777: other users can write to it, and so replace your {{holds}}"));
    let (agent, _) = refusals(&s, runtime.path());
    assert!(
        agent.stderr.contains(&format!(
            "remove it (or `chmod go-w {shown}`), or pass --work-dir DIR and --credentials-dir DIR"
        )),
        "{agent}"
    );

    // Closed, but someone else's.
    if nix::unistd::getuid().is_root() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        expect(&format!(
            "{shown} is owned by uid 65534, not you (uid {me}): another user may have created it to read your {{holds}}"
        ));
    }

    // A link, even to a directory of ours.
    std::fs::remove_dir(&dir).unwrap();
    let ours = runtime.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&ours, &dir).unwrap();
    expect(&format!(
        "{shown} is a symbolic link, not a directory: it may lead to a directory another user controls"
    ));

    // Given both directories, the agent does not use the default one at all.
    let out = run(s
        .tern()
        .args(["agent", "--server", "http://127.0.0.1:9", "--token", "unused", "--terraform", "/nonexistent"])
        .arg("--work-dir")
        .arg(runtime.path().join("work"))
        .arg("--credentials-dir")
        .arg(runtime.path().join("creds"))
        .env("XDG_RUNTIME_DIR", runtime.path()));
    assert!(!out.stderr.contains("symbolic link"), "{out}");
}
