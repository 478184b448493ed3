//! Running `tern` the way a user does, and reporting everything when it misbehaves.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tern")
}

/// `tern` with a clean environment (only PATH and the given HOME) in `cwd`.
pub fn tern(cwd: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .current_dir(cwd)
        .stdin(Stdio::null());
    cmd
}

/// The result of a finished command, printable in full when a test fails.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    pub fn success(&self) -> &Self {
        assert!(self.status.success(), "expected success\n{self}");
        self
    }

    pub fn failure(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "expected exit code {code}\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

pub fn run(cmd: &mut Command) -> Run {
    run_with_stdin(cmd, None)
}

pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&str>) -> Run {
    let command = format!("{cmd:?}");
    let output: Output = match stdin {
        None => cmd.output().unwrap_or_else(|e| panic!("{command}: {e}")),
        Some(input) => {
            use std::io::Write as _;
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{command}: {e}"));
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        }
    };
    Run {
        command,
        status: output.status,
        stdout: without_colours(&String::from_utf8_lossy(&output.stdout)),
        stderr: without_colours(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// `text` without terminal colour escapes (`ESC [ … m`): Terraform colours its output and the
/// remote logs it streams (runs keep Terraform's colours, as in TFE); the tests read the text.
pub fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\u{1b}[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(end) if after[end..].starts_with('m') => rest = &after[end + 1..],
            _ => {
                out.push_str(&rest[at..at + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A scratch directory with copies of the key fixtures under `keys/` (mode 0600, so loading them
/// warns about nothing) and an empty `home/`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    /// Addresses on this host the test's phases must reach (its peers): `--allow-egress`.
    egress_allow: Mutex<Vec<String>>,
}

impl Scratch {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        for entry in std::fs::read_dir(tern_testkit::workspace_root().join("testdata").join("keys")).unwrap()
        {
            let entry = entry.unwrap();
            let to = keys.join(entry.file_name());
            std::fs::copy(entry.path(), &to).unwrap();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::create_dir(dir.path().join("shared")).unwrap();
        // Open to the sandbox user (nobody, when the tests run as root).
        std::fs::create_dir(dir.path().join("exchange")).unwrap();
        std::fs::set_permissions(dir.path().join("exchange"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        Self { dir, egress_allow: Mutex::new(Vec::new()) }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join("keys").join(name)
    }

    /// `tern` running in this directory with this HOME.
    pub fn tern(&self) -> Command {
        let mut cmd = tern(self.path(), &self.home());
        // What phases may read in their sandbox: the Python peers a local-exec runs, and this
        // test's shared/ (Terraform's CLI configuration and provider mirror).
        let mut read_only = tern_testkit::peers::sandbox_read_only();
        read_only.push(self.shared());
        cmd.env("TERN_SANDBOX_READ_ONLY", std::env::join_paths(read_only).unwrap());
        cmd.env("TERN_SANDBOX_READ_WRITE", self.exchange());
        let allow = self.egress_allow.lock().unwrap().join(",");
        if !allow.is_empty() {
            cmd.env("TERN_ALLOW_EGRESS", allow);
        }
        cmd
    }

    /// Let this test's phases reach `addr` (IP:PORT) on this host: a peer such as moto or OpenBao.
    pub fn allow_egress(&self, addr: &str) {
        self.egress_allow.lock().unwrap().push(addr.to_owned());
    }

    /// `tern` without the sandbox paths in its environment: for output that shows the
    /// environment (`--help` prints the values of the variables it reads).
    pub fn tern_plain(&self) -> Command {
        tern(self.path(), &self.home())
    }

    /// Where phases of this test's servers and agents may write what the test checks (a ledger,
    /// a capture): writable in every sandbox.
    pub fn exchange(&self) -> PathBuf {
        self.path().join("exchange")
    }

    /// Files every phase of this test's servers and agents may read (in their sandbox).
    pub fn shared(&self) -> PathBuf {
        self.path().join("shared")
    }

    /// `tern token mint` for acme/prod with the given key, issuer and audience.
    pub fn mint(&self, key: &str, issuer: &str, audience: &str, extra: &[&str]) -> String {
        let mut cmd = self.tern();
        cmd.args(["token", "mint", "--signing-key"]).arg(self.key(key));
        cmd.args(["--issuer-url", issuer, "--organization", "acme", "--workspace", "prod"]);
        cmd.args(["--run-id", "run-CZcmD7eagjhyX0vN", "--phase", "plan", "--audience", audience]);
        cmd.args(extra);
        let out = run(&mut cmd);
        out.success();
        assert!(!out.stdout.ends_with('\n'), "a token on a non-terminal stdout has no trailing newline");
        out.stdout
    }
}

/// A running `tern serve`, stopped (SIGTERM) when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub issuer: String,
    logs: Arc<Mutex<String>>,
}

impl Server {
    /// Start `tern serve <args>` (on `--listen 127.0.0.1:0` unless `args` choose an address)
    /// and wait for its "listening on" line.
    pub fn start(mut cmd: Command, args: &[&str]) -> Server {
        cmd.arg("serve");
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args);
        Self::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Server {
        let command = format!("{cmd:?}");
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{command}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = logs.lock().unwrap().clone();
            if let Some((base, issuer)) = parse_listening(&text) {
                return Server { child: Some(child), base, issuer, logs };
            }
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "tern serve exited with {status} before listening\ncommand: {command}\n--- stderr\n{}",
                    logs.lock().unwrap()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "tern serve did not report listening within 20 s\ncommand: {command}\n--- stderr\n{text}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The TCP ports `tern serve` listens on (its API, its workers' loopback listener), read
    /// from /proc: the sockets of its open files that /proc/net/tcp lists as listening.
    pub fn listening_ports(&self) -> Vec<u16> {
        let pid = self.child.as_ref().unwrap().id();
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
            })
            .collect();
        let mut ports = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // local_address, st (0A: LISTEN), inode.
                if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                    let port = f[1].rsplit(':').next().unwrap();
                    ports.push(u16::from_str_radix(port, 16).unwrap());
                }
            }
        }
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// SIGTERM, wait, and return the exit status and the complete log.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tern serve did not stop within 15 s of SIGTERM\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        (status, self.logs())
    }
}

impl Server {
    /// SIGKILL: no shutdown at all. Returns the log.
    pub fn kill9(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.logs()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Every server any test starts: its log must hold nothing shaped like a secret.
        if !std::thread::panicking() {
            let hits = tern_testkit::leaks::secret_shapes(&self.logs(), &self.issuer);
            assert!(hits.is_empty(), "tern serve logged secrets: {hits:?}\n{}", self.logs());
        }
    }
}

/// Find "listening on <url> with issuer <url>" in the log.
fn parse_listening(logs: &str) -> Option<(String, String)> {
    let line = logs.lines().find(|l| l.contains("listening on "))?;
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let mut words = rest.split_whitespace();
    let base = words.next()?.to_owned();
    let (_, after) = rest.split_once(" with issuer ")?;
    let issuer = after.split_whitespace().next()?.to_owned();
    Some((base, issuer))
}

/// GET a JSON document.
pub fn get_json(url: &str) -> serde_json::Value {
    let body = http_get(url);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"))
}

/// GET with curl-free std networking: the issuer endpoints are plain HTTP/1.1 on loopback.
pub fn http_get(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("http only: {url}"));
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{url}: {head}");
    body.to_owned()
}
