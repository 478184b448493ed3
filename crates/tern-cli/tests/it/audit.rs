//! The audit trail end to end: a minted token's record is durable before the token leaves the
//! server (a kill -9 right after the answer loses nothing), and `tern audit` reads and exports
//! the trail.

use serde_json::{Value, json};

use crate::runs::{ADMIN, call};
use crate::support::{Scratch, Server, run};

fn serve(s: &Scratch) -> Server {
    let mut cmd = s.tern_plain();
    cmd.env("TERN_ADMIN_TOKEN", ADMIN);
    Server::start(cmd, &["--signing-key", "keys/rsa-2048.pem", "--workers", "0"])
}

#[test]
fn a_minted_tokens_record_survives_a_kill_9_right_after_the_answer() {
    let s = Scratch::new();
    let server = serve(&s);
    let tern = |server: &Server, args: &[&str]| {
        let mut cmd = s.tern_plain();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", ADMIN).env("TERN_ORG", "acme").args(args);
        run(&mut cmd)
    };
    tern(&server, &["org", "create", "acme"]).success();
    tern(&server, &["workspace", "create", "app", "--terraform-version", "1.11.4"]).success();
    tern(
        &server,
        &["var", "set", "db_password=hunter2-kill9", "--workspace", "app", "--terraform", "--sensitive"],
    )
    .success();
    let dir = s.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), "# nothing\n").unwrap();
    let started =
        tern(&server, &["run", "start", "--workspace", "app", "--dir", dir.to_str().unwrap(), "--no-follow"]);
    started.success();
    let agent = tern(&server, &["agent-token", "create"]);
    agent.success();
    let agent = agent.stdout.trim().to_owned();

    let (status, claimed) = call(
        "POST",
        &format!("{}/api/agent/jobs/claim", server.base),
        &agent,
        Some(json!({"agent": "a1", "wait_seconds": 5, "terraform_versions": ["1.11.4"]})),
    );
    assert_eq!(status, 200, "{claimed}");
    let (job, job_token) = (claimed["job"]["id"].as_str().unwrap(), claimed["token"].as_str().unwrap());
    let (status, minted) = call(
        "POST",
        &format!("{}/api/agent/jobs/{job}/token", server.base),
        job_token,
        Some(json!({"audience": "sts.amazonaws.com", "ttl_seconds": 600})),
    );
    assert_eq!(status, 200, "{minted}");
    // The answer is in: kill the server before it can do anything more.
    server.kill9();

    let server = serve(&s);
    let exported = tern(&server, &["audit", "--action", "token.minted", "--json"]);
    exported.success();
    let lines: Vec<Value> = exported.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{exported}");
    assert_eq!(lines[0]["details"]["jti"], minted["jti"], "the minted token's record survived: {exported}");
    assert_eq!(lines[0]["run"].as_str(), started.stdout.lines().next());
    assert_eq!(lines[0]["actor"].as_str(), Some(job));

    let table = tern(&server, &["audit", "--since", "1h"]);
    table.success();
    for action in ["variable.created", "run.created", "token.created", "token.minted"] {
        assert!(table.stdout.contains(action), "{action}\n{table}");
    }
    for secret in ["hunter2-kill9", minted["token"].as_str().unwrap(), &agent, job_token] {
        assert!(!table.stdout.contains(secret) && !exported.stdout.contains(secret), "a secret in the trail");
    }
    let in_ws = tern(&server, &["audit", "--workspace", "app", "--action", "variable.created", "--json"]);
    assert_eq!(in_ws.stdout.lines().count(), 1, "{in_ws}");
    let bad = tern(&server, &["audit", "--since", "last tuesday"]);
    bad.failure(2);
    assert!(bad.stderr.contains("RFC 3339"), "{bad}");
    // Every organization's trail needs the admin token; an organization token reads its own.
    let org_token = tern(&server, &["org", "token", "acme"]);
    let mut cmd = s.tern_plain();
    cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", org_token.stdout.trim()).args(["audit"]);
    let refused = run(&mut cmd);
    refused.failure(1);
    let mut cmd = s.tern_plain();
    cmd.env("TERN_SERVER", &server.base)
        .env("TERN_TOKEN", org_token.stdout.trim())
        .args(["audit", "--org", "acme"]);
    run(&mut cmd).success();
}
