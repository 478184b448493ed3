//! Starting the peers the credentials tests need: Python stubs, moto, OpenBao.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tern_testkit::peers;

/// A peer process that prints one JSON line when ready and stops when its stdin closes.
pub struct Peer {
    child: Child,
    _stdin: Option<ChildStdin>,
    pub info: Value,
}

impl Peer {
    /// Run `tests/peers/python/<script> <args>` with the peers' Python.
    pub fn python(script: &str, args: &[&str]) -> Peer {
        let mut cmd = Command::new(peers::python());
        cmd.arg(peers::python_scripts().join(script)).args(args);
        Self::start(cmd)
    }

    fn start(mut cmd: Command) -> Peer {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{what} did not start within 60 s"));
        let info: Value =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{what} printed {line:?}: {e}"));
        Peer { child, _stdin: stdin, info }
    }

    pub fn port(&self, key: &str) -> u16 {
        self.info[key].as_u64().unwrap() as u16
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self._stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process killed on drop.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `moto_server` on a free port, recording requests to `recording`.
pub fn moto(recording: &std::path::Path) -> (Daemon, u16) {
    let port = free_port();
    let bin = peers::python().parent().unwrap().join("moto_server");
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_ENABLE_RECORDING", "true")
        .env("MOTO_RECORDER_FILEPATH", recording)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let daemon = Daemon(child);
    wait_for_port(port, "moto_server");
    (daemon, port)
}

/// Start `bao server -dev` (root token `root`) on a free port with `extra` arguments.
fn spawn_openbao(home: &std::path::Path, extra: &[String]) -> (Daemon, u16) {
    let port = free_port();
    let log = std::fs::File::create(home.join("bao.log")).unwrap();
    let child = Command::new(peers::bao())
        .args(["server", "-dev", "-dev-root-token-id=root", &format!("-dev-listen-address=127.0.0.1:{port}")])
        .args(extra)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Daemon(child), port)
}

/// Poll `healthy` until it holds, for at most 60 s.
fn wait_healthy(what: &str, mut healthy: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthy() {
        assert!(Instant::now() < deadline, "{what} not healthy within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `bao server -dev` with root token `root`, healthy.
pub fn openbao(home: &std::path::Path) -> (Daemon, String) {
    let (daemon, port) = spawn_openbao(home, &[]);
    let addr = format!("http://127.0.0.1:{port}");
    wait_healthy("OpenBao", || bao(&addr, "GET", "sys/health", None).0 == 200);
    (daemon, addr)
}

/// One OpenBao API call with the root token: (status, JSON body).
pub fn bao(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    bao_as(addr, "root", method, path, body)
}

/// One OpenBao API call with `token`.
pub fn bao_as(addr: &str, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let host = addr.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(host) else { return (0, Value::Null) };
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} /v1/{path} HTTP/1.1\r\nHost: {host}\r\nX-Vault-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Set up OpenBao's JWT auth against tern's issuer with a role bound to acme/prod.
pub fn openbao_trusts(addr: &str, issuer: &str, token_ttl: &str) {
    openbao_trusts_with_ca(addr, issuer, token_ttl, None);
}

/// (Re)define OpenBao's JWT role `tern` for acme's workspaces matching `workspaces` (a glob),
/// any project and phase, with the `app` policy.
pub fn openbao_role(addr: &str, workspaces: &str, token_ttl: &str) {
    let (status, v) = bao(
        addr,
        "POST",
        "auth/jwt/role/tern",
        Some(&serde_json::json!({
            "role_type": "jwt",
            "bound_audiences": ["vault.workload.identity"],
            "user_claim": "terraform_full_workspace",
            "bound_claims_type": "glob",
            "bound_claims": {"sub": format!("organization:acme:project:*:workspace:{workspaces}:run_phase:*")},
            "token_policies": ["default", "app"],
            "token_ttl": token_ttl,
            "token_max_ttl": "10m",
        })),
    );
    assert!(status < 300, "role: {status} {v}");
}

/// [`openbao_trusts`] for an https issuer whose certificate comes from `ca_pem`.
pub fn openbao_trusts_with_ca(addr: &str, issuer: &str, token_ttl: &str, ca_pem: Option<&str>) {
    let ok = |r: (u16, Value), what: &str| assert!(r.0 < 300, "{what}: {} {}", r.0, r.1);
    ok(bao(addr, "POST", "sys/auth/jwt", Some(&serde_json::json!({"type": "jwt"}))), "enable jwt");
    let mut config = serde_json::json!({"oidc_discovery_url": issuer, "bound_issuer": issuer});
    if let Some(ca) = ca_pem {
        config["oidc_discovery_ca_pem"] = serde_json::json!(ca);
    }
    ok(bao(addr, "POST", "auth/jwt/config", Some(&config)), "configure jwt");
    ok(
        bao(
            addr,
            "POST",
            "sys/policies/acl/app",
            Some(&serde_json::json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"})),
        ),
        "policy",
    );
    openbao_role(addr, "prod", token_ttl);
    ok(
        bao(addr, "POST", "secret/data/app", Some(&serde_json::json!({"data": {"password": "hunter2"}}))),
        "put secret",
    );
}

/// `bao server -dev -dev-tls` (its own CA) on a free port: (daemon, https address, CA PEM).
pub fn openbao_tls(home: &std::path::Path) -> (Daemon, String, String) {
    let certs = home.join("tls");
    std::fs::create_dir_all(&certs).unwrap();
    let (daemon, port) =
        spawn_openbao(home, &["-dev-tls".to_owned(), format!("-dev-tls-cert-dir={}", certs.display())]);
    let addr = format!("https://127.0.0.1:{port}");
    let ca_path = certs.join("vault-ca.pem");
    wait_healthy("OpenBao (TLS)", || {
        std::fs::read_to_string(&ca_path)
            .is_ok_and(|ca| bao_tls(&addr, &ca, None, "GET", "sys/health", None).0 == 200)
    });
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    (daemon, addr, ca)
}

/// One OpenBao call over TLS with the root token, optionally in a namespace.
pub fn bao_tls(
    addr: &str,
    ca: &str,
    namespace: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let Ok(certs) = reqwest::Certificate::from_pem_bundle(ca.as_bytes()) else { return (0, Value::Null) };
        let client = reqwest::Client::builder().tls_certs_only(certs).build().unwrap();
        let mut req = client
            .request(method.parse().unwrap(), format!("{addr}/v1/{path}"))
            .header("X-Vault-Token", "root");
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    })
}
