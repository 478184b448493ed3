//! The leak scan. One world runs what the end-to-end tests run (a plan and an apply with AWS and
//! Vault dynamic credentials on a separate agent, a sensitive environment variable, a sensitive
//! Terraform variable that ends up in state and in the saved plan), with the server and the agent
//! logging at `trace`. Then every log line, every user-API response (every resource, both
//! phases' logs), the database file and every file left on disk are scanned for the secrets:
//! the exact values the test knows (sensitive values, the signing key's PEM lines and DER bytes,
//! the admin and agent tokens, and what Terraform itself was handed: the Vault token and the
//! minted tokens, captured by the configuration into a file outside tern's reach) and anything
//! shaped like one (a JWT issued by this server, an OpenBao token, a tern bearer token).
//! Zero hits is the pass mark.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use serde_json::Value;

use crate::peers::{Daemon, openbao_trusts};
use crate::runs::{ADMIN, World, call};
use crate::support::{Server, run};

const ENV_SECRET: &str = "a-sensitive-workspace-value";
const TF_SECRET: &str = "tf-sensitive-4b1e9c0d7a";

/// What to look for, and how to name a hit without printing the secret.
struct Needle {
    what: String,
    bytes: Vec<u8>,
}

fn needle(what: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Needle {
    Needle { what: what.into(), bytes: bytes.into() }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file below `dir`, skipping the paths in `skip`.
fn files(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if skip.iter().any(|s| path.starts_with(s)) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => files(&path, skip, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// Every JSON document the user API serves about this world's resources.
fn every_response(base: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut log_urls: Vec<(String, String)> = Vec::new();
    let mut get = |path: String| -> Value {
        let url = if path.starts_with("http") { path.clone() } else { format!("{base}{path}") };
        let (status, v) = call("GET", &url, ADMIN, None);
        assert!(status < 300, "GET {path}: {status} {v}");
        out.push((path, v.to_string().into_bytes()));
        v
    };
    get("/api/v2/organizations".into());
    get("/api/v2/organizations/acme".into());
    get("/api/v2/organizations/acme/projects".into());
    get("/api/v2/organizations/acme/varsets".into());
    get("/api/v2/organizations/acme/entitlement-set".into());
    get("/api/v2/organizations/acme/runs/queue".into());
    get("/api/v2/openapi.json".into());
    let wss = get("/api/v2/organizations/acme/workspaces".into());
    for ws in wss["data"].as_array().unwrap() {
        let id = ws["id"].as_str().unwrap();
        get(format!("/api/v2/workspaces/{id}"));
        let vars = get(format!("/api/v2/workspaces/{id}/vars"));
        for v in vars["data"].as_array().unwrap() {
            get(format!("/api/v2/workspaces/{id}/vars/{}", v["id"].as_str().unwrap()));
        }
        get(format!("/api/v2/workspaces/{id}/current-state-version"));
        get(format!("/api/v2/workspaces/{id}/configuration-versions"));
        get(format!("/api/v2/workspaces/{id}/current-state-version-outputs"));
        let states = get(format!("/api/v2/workspaces/{id}/state-versions"));
        for sv in states["data"].as_array().unwrap() {
            let sv_id = sv["id"].as_str().unwrap();
            get(format!("/api/v2/state-versions/{sv_id}"));
            get(format!("/api/v2/state-versions/{sv_id}/outputs"));
        }
        let runs = get(format!("/api/v2/workspaces/{id}/runs"));
        for r in runs["data"].as_array().unwrap() {
            let run_id = r["id"].as_str().unwrap();
            get(format!("/api/v2/runs/{run_id}"));
            if let Some(cv) = r["relationships"]["configuration-version"]["data"]["id"].as_str() {
                get(format!("/api/v2/configuration-versions/{cv}"));
            }
            for (kind, rel) in [("plans", "plan"), ("applies", "apply")] {
                if let Some(pid) = r["relationships"][rel]["data"]["id"].as_str() {
                    let p = get(format!("/api/v2/{kind}/{pid}"));
                    if let Some(url) = p["data"]["attributes"]["log-read-url"].as_str() {
                        log_urls.push((format!("the {rel} log of {run_id}"), url.to_owned()));
                    }
                }
            }
        }
    }
    // Logs are text, read as they are.
    for (what, url) in log_urls {
        out.push((what, crate::support::http_get(&url).into_bytes()));
    }
    out
}

#[test]
fn no_secret_reaches_logs_responses_the_database_or_disk() {
    let w = World::new();
    let key_path = w.s.key("rsa-2048.pem");
    let server = {
        let mut cmd = w.s.tern();
        cmd.env("TERN_ADMIN_TOKEN", ADMIN).env("PATH", w.path_var()).env("TERN_LOG", "trace");
        let data = w.s.path().join("data");
        Server::start(
            cmd,
            &[
                "--signing-key",
                key_path.to_str().unwrap(),
                "--workers",
                "0",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        )
    };
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    w.workspace(&server, "prod", &["--auto-apply"]);
    w.ok(
        &server,
        &[
            "var",
            "set",
            &format!("db_password={TF_SECRET}"),
            "--terraform",
            "--sensitive",
            "--workspace",
            "prod",
        ],
    );

    // The configuration hands what Terraform got to a capture file the scan skips, so the test
    // knows the exact Vault token and minted token values to look for everywhere else.
    let capture = w.s.exchange().join("capture");
    std::fs::create_dir_all(&capture).unwrap();
    // Written by the phase, which runs as the sandbox user.
    std::fs::set_permissions(&capture, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let config = w.config_with(
        "leak-config",
        &        format!(
            r#"terraform {{
  required_providers {{
    null = {{ source = "hashicorp/null" }}
  }}
}}
variable "python" {{ type = string }}
variable "db_password" {{
  type      = string
  sensitive = true
}}
resource "null_resource" "check" {{
  triggers = {{ password = var.db_password, always = timestamp() }}
  provisioner "local-exec" {{
    command = "echo \"$VAULT_TOKEN\" >> {c}/handed; cat \"$AWS_WEB_IDENTITY_TOKEN_FILE\" >> {c}/handed; echo >> {c}/handed; ${{var.python}} e2e_check.py"
  }}
}}
output "password" {{
  value     = var.db_password
  sensitive = true
}}
"#,
            c = capture.display()
        ),
    );

    let agent_token = w.ok(&server, &["agent-token", "create"]).trim().to_owned();
    let agent_home = w.s.path().join("agent-runtime");
    std::fs::create_dir_all(&agent_home).unwrap();
    let agent_log = w.s.path().join("agent.log");
    let agent = Daemon(
        w.s.tern()
            .args(["agent", "--server", &server.base, "--name", "leaky"])
            .env("TERN_AGENT_TOKEN", &agent_token)
            .env("TERN_LOG", "trace")
            .env("XDG_RUNTIME_DIR", &agent_home)
            .env("PATH", w.path_var())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).unwrap())
            .spawn()
            .unwrap(),
    );
    for round in 0..2 {
        let out = run(w.cli(&server).args([
            "run",
            "start",
            "--workspace",
            "prod",
            "--dir",
            config.to_str().unwrap(),
        ]));
        assert!(out.stderr.contains(": applied"), "run {round}: {out}");
    }
    drop(agent);

    // The needles.
    let handed = std::fs::read_to_string(capture.join("handed")).unwrap();
    // Controls: the detectors see what they must, where it is by design.
    let shapes = tern_testkit::leaks::secret_shapes(&handed, &server.issuer);
    assert_eq!(
        (
            shapes.iter().filter(|s| s.contains("minted")).count(),
            shapes.iter().filter(|s| s.contains("OpenBao")).count()
        ),
        (2, 2),
        "the shape detectors find the handed tokens: {shapes:?}"
    );
    let (_, sv) =
        call("GET", &format!("{}/api/v2/organizations/acme/workspaces/prod", server.base), ADMIN, None);
    let current =
        sv["data"]["relationships"]["current-state-version"]["data"]["id"].as_str().unwrap().to_owned();
    let state =
        call("GET", &format!("{}/api/v2/state-versions/{current}/download", server.base), ADMIN, None)
            .1
            .to_string();
    assert!(
        find(state.as_bytes(), TF_SECRET.as_bytes()),
        "the sensitive value reached the state (by design)"
    );
    let mut needles = vec![
        needle("the sensitive environment variable", ENV_SECRET),
        needle("the sensitive Terraform variable", TF_SECRET),
        needle("the admin token", ADMIN),
        needle("the agent token", agent_token.as_str()),
        needle("the Vault secret", "hunter2"),
    ];
    let handed_values: Vec<&str> = handed.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(
        handed_values.len() >= 4,
        "two Vault tokens and two AWS tokens were handed over: {}",
        handed_values.len()
    );
    for (i, v) in handed_values.iter().enumerate() {
        needles.push(needle(format!("credential #{i} handed to Terraform"), *v));
    }
    let pem = std::fs::read_to_string(&key_path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for (i, line) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate() {
        if line.len() >= 40 {
            needles.push(needle(format!("line {i} of the signing key's PEM"), line));
        }
    }
    let der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
    for (i, chunk) in der.chunks(64).enumerate().filter(|(_, c)| c.len() == 64) {
        needles.push(needle(format!("bytes {}..{} of the signing key", i * 64, i * 64 + 64), chunk));
    }

    // The haystacks.
    let issuer = server.issuer.clone();
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    haystacks.extend(every_response(&server.base));
    let responses = haystacks.len();
    let (_, server_log) = server.stop();
    let agent_log_text = std::fs::read(&agent_log).unwrap();
    assert!(server_log.lines().count() > 100, "the server logged at trace level");
    haystacks.push(("the server's log".into(), server_log.into_bytes()));
    haystacks.push(("the agent's log".into(), agent_log_text));
    // The database file (and its write-ahead log) and everything else left on disk, except the
    // test's own inputs and peers (the signing key file, the capture, OpenBao and moto, the
    // configuration, Terraform's provider mirror).
    let root = w.s.path().to_path_buf();
    let skip = [
        root.join("keys"),
        capture.clone(),
        root.join("moto.jsonl"),
        root.join("shared"),
        root.join("exchange"),
        root.join("tools"),
        root.join("config"),
        config.clone(),
        agent_log.clone(),
    ];
    let mut on_disk = Vec::new();
    files(&root, &skip, &mut on_disk);
    for f in on_disk {
        // The generated key-encryption key is a secret by design: private to its owner.
        if f.file_name().is_some_and(|n| n == "encryption-key") {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is private", f.display());
        }
        haystacks.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    let db = root.join("data/tern.db");
    assert!(haystacks.iter().any(|(n, _)| *n == db.display().to_string()), "the database was scanned");

    let mut hits = Vec::new();
    let mut bytes = 0usize;
    for (name, hay) in &haystacks {
        bytes += hay.len();
        for n in &needles {
            if find(hay, &n.bytes) {
                hits.push(format!("{} in {name}", n.what));
            }
        }
        for shape in tern_testkit::leaks::secret_shapes(&String::from_utf8_lossy(hay), &issuer) {
            hits.push(format!("{shape} in {name}"));
        }
    }
    eprintln!(
        "leak scan: {} needles and 3 shapes over {} haystacks ({} KiB: {} API responses, 2 logs, the database, files on disk); {} hits",
        needles.len(),
        haystacks.len(),
        bytes / 1024,
        responses,
        hits.len()
    );
    for (name, _) in &haystacks[responses + 2..] {
        eprintln!("  scanned {name}");
    }
    assert!(hits.is_empty(), "secrets found:\n{}", hits.join("\n"));
}
