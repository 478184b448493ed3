//! Real relying parties verify what `tern token mint` produces against a running `tern serve`:
//! PyJWT (`PyJWKClient` from the discovery `jwks_uri`), jose (`createRemoteJWKSet` + `jwtVerify`)
//! and OpenBao's JWT auth method (`oidc_discovery_url`, `bound_issuer`, `bound_audiences`, glob
//! `bound_claims`). A missing peer fails the test with the command that installs it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tern_testkit::peers;

use crate::support::{Scratch, Server, run_with_stdin};

/// Ask a peer to verify `token`; returns its JSON verdict.
pub fn peer_verdict(peer: &str, issuer: &str, audience: &str, token: &str) -> Value {
    let mut cmd = match peer {
        "pyjwt" => {
            let mut c = Command::new(peers::python());
            c.arg(peers::python_scripts().join("verify_pyjwt.py"));
            c
        }
        "jose" => {
            let dir = peers::node_dir();
            let mut c = Command::new("node");
            c.arg(dir.join("verify-jose.mjs")).current_dir(dir);
            c
        }
        other => panic!("unknown peer {other}"),
    };
    cmd.args([issuer, audience]);
    let out = run_with_stdin(&mut cmd, Some(token));
    let verdict: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{peer} printed no verdict ({e})\n{out}"));
    assert_eq!(
        verdict["ok"].as_bool(),
        Some(out.status.success()),
        "{peer}: verdict and exit code disagree\n{out}"
    );
    verdict
}

const PEERS: [&str; 2] = ["pyjwt", "jose"];

#[test]
fn pyjwt_and_jose_verify_every_profile_and_algorithm() {
    let s = Scratch::new();
    let server =
        Server::start(s.tern(), &["--signing-key", "keys/rsa-2048.pem", "--signing-key", "keys/ec-p256.pem"]);
    let issuer = server.issuer.clone();
    let cases = [
        (
            "rsa-2048.pem",
            "tfc",
            "RS256",
            "organization:acme:project:Default Project:workspace:prod:run_phase:plan",
        ),
        ("rsa-2048.pem", "otf", "RS256", "organization:acme:workspace:prod:run_phase:plan"),
        ("rsa-2048.pem", "terrakube", "RS256", "organization:acme:workspace:prod"),
        (
            "ec-p256.pem",
            "tfc",
            "ES256",
            "organization:acme:project:Default Project:workspace:prod:run_phase:plan",
        ),
    ];
    for (key, profile, alg, sub) in cases {
        let token = s.mint(key, &issuer, "aws.workload.identity", &["--profile", profile]);
        for peer in PEERS {
            let v = peer_verdict(peer, &issuer, "aws.workload.identity", &token);
            assert_eq!(v["ok"], true, "{peer} refused a {alg} {profile} token: {v}");
            assert_eq!(v["claims"]["sub"], sub, "{peer} {profile}");
            assert_eq!(v["claims"]["iss"], issuer.as_str());
            if peer == "jose" {
                assert_eq!(v["alg"], alg);
            }
        }
    }

    // Refusals: another audience, a key the issuer does not publish, an expired token.
    let refusals = [
        ("wrong audience", s.mint("rsa-2048.pem", &issuer, "vault.workload.identity", &[])),
        ("unpublished key", s.mint("rsa-2048-second.pem", &issuer, "aws.workload.identity", &[])),
        (
            "expired",
            s.mint(
                "rsa-2048.pem",
                &issuer,
                "aws.workload.identity",
                &["--issued-at", "2020-01-01T00:00:00Z"],
            ),
        ),
        ("another issuer", s.mint("rsa-2048.pem", "https://tern.example.com", "aws.workload.identity", &[])),
    ];
    for (what, token) in refusals {
        for peer in PEERS {
            let v = peer_verdict(peer, &issuer, "aws.workload.identity", &token);
            assert_eq!(v["ok"], false, "{peer} accepted a token with {what}: {v}");
        }
    }
}

#[test]
fn rotation_published_keys_verify_and_retired_keys_stop() {
    let s = Scratch::new();
    // The old key signs; the next one is already published.
    let server = Server::start(
        s.tern(),
        &["--signing-key", "keys/rsa-2048.pem", "--signing-key", "keys/rsa-2048-second.pub.pem"],
    );
    let issuer = server.issuer.clone();
    let listen = server.base.trim_start_matches("http://").to_owned();
    let old_token = s.mint("rsa-2048.pem", &issuer, "aws.workload.identity", &[]);
    drop(server.stop());

    // Swap: the next key signs, the old one stays published until its tokens expire.
    let server = Server::start(
        s.tern(),
        &[
            "--listen",
            &listen,
            "--signing-key",
            "keys/rsa-2048-second.pem",
            "--signing-key",
            "keys/rsa-2048.pem",
        ],
    );
    let new_token = s.mint("rsa-2048-second.pem", &issuer, "aws.workload.identity", &[]);
    for peer in PEERS {
        for token in [&old_token, &new_token] {
            assert_eq!(peer_verdict(peer, &issuer, "aws.workload.identity", token)["ok"], true, "{peer}");
        }
    }
    drop(server.stop());

    // Retired: tokens of the old key are refused, the new key's still verify.
    let _server =
        Server::start(s.tern(), &["--listen", &listen, "--signing-key", "keys/rsa-2048-second.pem"]);
    for peer in PEERS {
        assert_eq!(peer_verdict(peer, &issuer, "aws.workload.identity", &old_token)["ok"], false, "{peer}");
        assert_eq!(peer_verdict(peer, &issuer, "aws.workload.identity", &new_token)["ok"], true, "{peer}");
    }
}

/// `bao server -dev` on a free loopback port, killed on drop.
struct Bao {
    child: Child,
    addr: String,
    _home: tempfile::TempDir,
}

impl Bao {
    fn start() -> Bao {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let home = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(home.path().join("bao.log")).unwrap();
        let child = Command::new(peers::bao())
            .args([
                "server",
                "-dev",
                "-dev-root-token-id=root",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", peers::bao().display()));
        let bao = Bao { child, addr: format!("http://127.0.0.1:{port}"), _home: home };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return bao;
            }
            if Instant::now() > deadline {
                panic!("OpenBao did not listen within 30 s:\n{}", bao.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._home.path().join("bao.log")).unwrap_or_default()
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn bao_call(
    client: &reqwest::Client,
    bao: &Bao,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let url = format!("{}/v1/{path}", bao.addr);
    let req = match method {
        "POST" => client.post(&url),
        "GET" => client.get(&url),
        _ => unreachable!(),
    };
    let resp = req.header("X-Vault-Token", "root").json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn openbao_accepts_the_right_workspace_and_phase_only() {
    let s = Scratch::new();
    let server =
        Server::start(s.tern(), &["--signing-key", "keys/rsa-2048.pem", "--signing-key", "keys/ec-p256.pem"]);
    let issuer = server.issuer.clone();
    let bao = Bao::start();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bao_call(&client, &bao, "GET", "sys/health", Value::Null).await.0 != 200 {
        assert!(Instant::now() < deadline, "OpenBao not healthy:\n{}", bao.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Two JWT mounts: RS256 (the default) and one that also allows ES256.
    for (mount, algs) in [("jwt", json!(["RS256"])), ("jwt-es", json!(["RS256", "ES256"]))] {
        let (status, body) =
            bao_call(&client, &bao, "POST", &format!("sys/auth/{mount}"), json!({"type": "jwt"})).await;
        assert!(status < 300, "enable {mount}: {status} {body}");
        // OpenBao fetches tern's discovery document here and refuses an issuer mismatch.
        let config =
            json!({"oidc_discovery_url": issuer, "bound_issuer": issuer, "jwt_supported_algs": algs});
        let (status, body) = bao_call(&client, &bao, "POST", &format!("auth/{mount}/config"), config).await;
        assert!(status < 300, "configure {mount} with discovery at {issuer}: {status} {body}");
        for (role, phase_glob) in [("prod", "*"), ("prod-apply", "apply")] {
            let role_body = json!({
                "role_type": "jwt",
                "bound_audiences": ["vault.workload.identity"],
                "user_claim": "terraform_full_workspace",
                "bound_claims_type": "glob",
                "bound_claims": {"sub": format!("organization:acme:project:*:workspace:prod:run_phase:{phase_glob}")},
                "token_policies": ["default"],
                "token_ttl": "20m",
            });
            let (status, body) =
                bao_call(&client, &bao, "POST", &format!("auth/{mount}/role/{role}"), role_body).await;
            assert!(status < 300, "role {role}: {status} {body}");
        }
    }

    let mint = |key: &str, workspace: &str, phase: &str, audience: &str, extra: &[&str]| {
        let mut cmd = s.tern();
        cmd.args(["token", "mint", "--signing-key"]).arg(s.key(key));
        cmd.args(["--issuer-url", &issuer, "--organization", "acme", "--workspace", workspace]);
        cmd.args(["--run-id", "run-1", "--phase", phase, "--audience", audience]).args(extra);
        let out = crate::support::run(&mut cmd);
        out.success();
        out.stdout
    };
    let login = |mount: &'static str, role: &'static str, jwt: String| {
        let client = client.clone();
        let bao_addr = bao.addr.clone();
        async move {
            let resp = client
                .post(format!("{bao_addr}/v1/auth/{mount}/login"))
                .json(&json!({"role": role, "jwt": jwt}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };

    let va = "vault.workload.identity";
    // Accepted: the right workspace, either phase for "prod", apply for "prod-apply", ES256 on jwt-es.
    let accepted = [
        ("jwt", "prod", mint("rsa-2048.pem", "prod", "plan", va, &[])),
        ("jwt", "prod", mint("rsa-2048.pem", "prod", "apply", va, &[])),
        ("jwt", "prod-apply", mint("rsa-2048.pem", "prod", "apply", va, &[])),
        ("jwt-es", "prod", mint("ec-p256.pem", "prod", "plan", va, &[])),
    ];
    for (mount, role, jwt) in accepted {
        let (status, body) = login(mount, role, jwt).await;
        assert_eq!(status, 200, "{mount}/{role}: {body}");
        assert!(body["auth"]["client_token"].as_str().is_some_and(|t| !t.is_empty()), "{mount}/{role}");
        assert!(body["auth"]["policies"].as_array().unwrap().contains(&json!("default")));
    }

    // Refused, each for its reason.
    let refused = [
        ("another workspace", "jwt", "prod", mint("rsa-2048.pem", "staging", "plan", va, &[]), "sub"),
        (
            "plan token, apply-only role",
            "jwt",
            "prod-apply",
            mint("rsa-2048.pem", "prod", "plan", va, &[]),
            "sub",
        ),
        (
            "past exp",
            "jwt",
            "prod",
            mint("rsa-2048.pem", "prod", "plan", va, &["--issued-at", "2020-01-01T00:00:00Z"]),
            "exp",
        ),
        (
            "another audience",
            "jwt",
            "prod",
            mint("rsa-2048.pem", "prod", "plan", "aws.workload.identity", &[]),
            "aud",
        ),
        ("key not published", "jwt", "prod", mint("rsa-2048-second.pem", "prod", "plan", va, &[]), "verify"),
        (
            "ES256 where only RS256 is allowed",
            "jwt",
            "prod",
            mint("ec-p256.pem", "prod", "plan", va, &[]),
            "alg",
        ),
    ];
    for (what, mount, role, jwt, reason) in refused {
        let (status, body) = login(mount, role, jwt).await;
        assert!(status == 400 || status == 403, "{what}: OpenBao answered {status}: {body}");
        let errors = body["errors"].to_string();
        eprintln!("OpenBao refused {what}: {errors}");
        assert!(errors.contains(reason), "{what}: expected the refusal to mention {reason:?}: {errors}");
    }
    drop(server);
}
