//! Replicas: several `tern serve` on one PostgreSQL database, as a Deployment runs them. Every
//! step of a start is safe when they start at the same instant, a rotation of the admin token
//! (a new TERN_ADMIN_TOKEN) invalidates the old one, and access removed or a token revoked
//! through one replica is refused by the others at their next request, and a job's end or a
//! rename holds at the other's next mint.

use std::process::Command;

use base64::Engine as _;

use crate::runs::ADMIN;
use crate::support::{Scratch, Server};

/// `tern serve` with its own data directory `name` on the shared database, managed keys, no
/// workers; with `admin` as TERN_ADMIN_TOKEN when given.
fn replica(s: &Scratch, name: &str, database_url: &str, admin: Option<&str>) -> Server {
    let mut cmd: Command = s.tern_plain();
    // Replicas share the key that seals secrets in the database.
    cmd.env("TERN_ENCRYPTION_KEY", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    if let Some(token) = admin {
        cmd.env("TERN_ADMIN_TOKEN", token);
    }
    let data = s.path().join(name);
    Server::start(
        cmd,
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--database-url",
            database_url,
            "--managed-keys",
            "--workers",
            "0",
        ],
    )
}

fn status(server: &Server, token: &str) -> u16 {
    crate::runs::call("GET", &format!("{}/api/v2/organizations", server.base), token, None).0
}

fn jwks_kids(server: &Server) -> Vec<String> {
    let (status, jwks) = crate::runs::call("GET", &format!("{}/.well-known/jwks", server.issuer), "", None);
    assert_eq!(status, 200, "{jwks}");
    let mut kids: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    kids.sort();
    kids
}

/// Two replicas started at the same instant on a new database both come up, 20 times in a row:
/// with TERN_ADMIN_TOKEN (a Deployment's secret) every other round, without it (the first
/// start creates one token, which both accept) in the others; both serve the same signing key.
#[test]
fn two_replicas_started_together_on_a_new_database_both_come_up() {
    let s = Scratch::new();
    for round in 0..20 {
        let db = tern_testkit::db::TestDatabase::postgres();
        let admin = (round % 2 == 0).then_some(ADMIN);
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| replica(&s, &format!("r{round}-a"), &db.url, admin));
            let b = scope.spawn(|| replica(&s, &format!("r{round}-b"), &db.url, admin));
            (a.join(), b.join())
        });
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("round {round}: a replica did not come up (its log is above)")
        };
        let token = match admin {
            Some(token) => token.to_owned(),
            None => {
                let saved: Vec<String> = ["a", "b"]
                    .iter()
                    .filter_map(|r| {
                        std::fs::read_to_string(s.path().join(format!("r{round}-{r}/admin-token"))).ok()
                    })
                    .collect();
                assert_eq!(saved.len(), 1, "round {round}: exactly one replica created the admin token");
                saved[0].trim().to_owned()
            }
        };
        assert_eq!((status(&a, &token), status(&b, &token)), (200, 200), "round {round}");
        assert_eq!(jwks_kids(&a), jwks_kids(&b), "round {round}: one signing key");
        assert_eq!(jwks_kids(&a).len(), 1, "round {round}: one signing key");
    }
}

/// A new TERN_ADMIN_TOKEN is a rotation: the token created on first start (and any earlier
/// TERN_ADMIN_TOKEN) stops working, and its file goes away.
#[test]
fn a_new_admin_token_revokes_the_old_ones() {
    let s = Scratch::new();
    let db = tern_testkit::db::TestDatabase::sqlite();
    let first = replica(&s, "data", &db.url, None);
    let file = s.path().join("data/admin-token");
    let created = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(status(&first, &created), 200);
    drop(first);

    let second = replica(&s, "data", &db.url, Some(ADMIN));
    assert_eq!(status(&second, ADMIN), 200);
    assert_eq!(status(&second, &created), 401, "the first-start token was revoked");
    assert!(!file.exists(), "the revoked token's file was removed");
    assert!(
        second.logs().contains("revoked the admin tokens other than TERN_ADMIN_TOKEN"),
        "{}",
        second.logs()
    );
    drop(second);

    let rotated = "tern-admin-rotated-0123456789abcdef0123456789";
    let third = replica(&s, "data", &db.url, Some(rotated));
    assert_eq!(status(&third, rotated), 200);
    assert_eq!(status(&third, ADMIN), 401, "the previous TERN_ADMIN_TOKEN was revoked");
    // The installation's own act, in the audit trail.
    let (code, trail) = crate::runs::call(
        "GET",
        &format!("{}/api/v2/admin/audit-trail?filter[action]=token.revoked", third.base),
        rotated,
        None,
    );
    assert_eq!(code, 200, "{trail}");
    assert_eq!(trail["data"][0]["attributes"]["actor"], "system", "{trail}");

    // A replica still given the previous TERN_ADMIN_TOKEN (restarted in the middle of a rolling
    // rotation) does not start, and does not take the admin token back.
    let mut stale = s.tern_plain();
    stale
        .env("TERN_ENCRYPTION_KEY", base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
        .env("TERN_ADMIN_TOKEN", ADMIN);
    let data = s.path().join("stale");
    let out = crate::support::run(stale.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        &db.url,
        "--managed-keys",
        "--workers",
        "0",
    ]));
    out.failure(1);
    assert!(out.stderr.contains("replaced by a newer one"), "{out}");
    assert_eq!(status(&third, rotated), 200, "the current one still works");
}

/// A key rotated on one replica is in the other's JWKS within moments (PostgreSQL NOTIFY),
/// not at its next periodic refresh (10 s with the default publish lead).
#[test]
fn a_key_rotated_on_one_replica_reaches_the_others_jwks_at_once() {
    let s = Scratch::new();
    let db = tern_testkit::db::TestDatabase::postgres();
    let a = replica(&s, "a", &db.url, Some(ADMIN));
    let b = replica(&s, "b", &db.url, Some(ADMIN));
    let before = jwks_kids(&b);
    assert_eq!(before, jwks_kids(&a));
    let out =
        crate::support::run(s.tern_plain().env("TERN_SERVER", &a.base).env("TERN_TOKEN", ADMIN).args([
            "keys",
            "rotate",
            "--activate-in",
            "2h",
        ]));
    out.success();
    let rotated = std::time::Instant::now();
    let mut seen = jwks_kids(&b);
    while seen == before && rotated.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        seen = jwks_kids(&b);
    }
    let took = rotated.elapsed();
    assert_eq!(seen.len(), before.len() + 1, "the next key is published on b: {seen:?}");
    assert_eq!(seen, jwks_kids(&a));
    assert!(took < std::time::Duration::from_secs(3), "b served the new key after {took:?}: not announced");
    println!("a rotation on one replica reached the other's JWKS in {took:?}");
}

/// What one replica changes, the other holds at its next request, though each keeps callers'
/// grants in memory: a team's access removed and given back, a member removed, a token revoked.
#[test]
fn access_removed_or_a_token_revoked_through_one_replica_holds_on_the_other_at_once() {
    let s = Scratch::new();
    let db = tern_testkit::db::TestDatabase::postgres();
    let a = replica(&s, "a", &db.url, Some(ADMIN));
    let b = replica(&s, "b", &db.url, Some(ADMIN));
    let on = |server: &Server, token: &str, args: &[&str]| {
        let mut cmd = s.tern_plain();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", token).env("TERN_ORG", "acme").args(args);
        crate::support::run(&mut cmd)
    };
    for args in [
        &["org", "create", "acme"][..],
        &["workspace", "create", "app"],
        &["user", "create", "alice"],
        &["team", "create", "devs"],
        &["team", "add-member", "devs", "alice"],
        &["team", "access", "devs", "--workspace", "app", "--level", "read"],
    ] {
        on(&a, ADMIN, args).success();
    }
    let made = on(&a, ADMIN, &["user", "token", "alice"]);
    made.success();
    let alice = made.stdout.trim().to_owned();
    let sees_app = |server: &Server| {
        let listed = on(server, &alice, &["workspace", "list"]);
        listed.success();
        listed.stdout.lines().any(|l| l.starts_with("app\t"))
    };
    // Both replicas have read alice's grants, and keep them.
    assert!(sees_app(&a) && sees_app(&b));
    assert!(sees_app(&b), "asked again: from what b keeps");

    on(&a, ADMIN, &["team", "access", "devs", "--workspace", "app", "--remove"]).success();
    assert!(!sees_app(&b), "access removed through a holds on b at once");
    assert!(!sees_app(&a));
    on(&b, ADMIN, &["team", "access", "devs", "--workspace", "app", "--level", "read"]).success();
    assert!(sees_app(&a), "access given through b holds on a at once");

    on(&b, ADMIN, &["team", "remove-member", "devs", "alice"]).success();
    let out = on(&a, &alice, &["workspace", "list"]);
    out.failure(1);
    assert!(out.stderr.contains("organization \"acme\" not found"), "a member no longer: {out}");

    let made = on(&a, ADMIN, &["org", "token", "acme", "--description", "replicated"]);
    made.success();
    let org_token = made.stdout.trim().to_owned();
    on(&b, &org_token, &["workspace", "list"]).success();
    let listed = on(&b, ADMIN, &["token", "list", "--org", "acme"]);
    listed.success();
    let line =
        listed.stdout.lines().find(|l| l.ends_with(" replicated")).unwrap_or_else(|| panic!("{listed}"));
    on(&a, ADMIN, &["token", "revoke", line.split_whitespace().next().unwrap()]).success();
    let out = on(&b, &org_token, &["workspace", "list"]);
    out.failure(1);
    assert!(out.stderr.contains("401"), "revoked through a, refused by b: {out}");
}

/// The mint endpoint remembers a job token's scope per replica, but never trusts it: a rename
/// and the job's end, made through one replica, hold at the other's very next mint, and the
/// audit trail holds exactly the tokens that were returned.
#[test]
fn a_job_ended_or_its_workspace_renamed_through_one_replica_holds_on_the_others_next_mint() {
    let s = Scratch::new();
    let db = tern_testkit::db::TestDatabase::postgres();
    let a = replica(&s, "a", &db.url, Some(ADMIN));
    let b = replica(&s, "b", &db.url, Some(ADMIN));
    let on = |server: &Server, args: &[&str]| {
        let mut cmd = s.tern_plain();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", ADMIN).env("TERN_ORG", "acme").args(args);
        crate::support::run(&mut cmd)
    };
    on(&a, &["org", "create", "acme"]).success();
    on(&a, &["workspace", "create", "app", "--terraform-version", "1.11.4"]).success();
    let dir = s.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), "# nothing\n").unwrap();
    on(&a, &["run", "start", "--workspace", "app", "--dir", dir.to_str().unwrap(), "--no-follow"]).success();
    let agent = on(&a, &["agent-token", "create"]);
    agent.success();
    let (status, claimed) = crate::runs::call(
        "POST",
        &format!("{}/api/agent/jobs/claim", a.base),
        agent.stdout.trim(),
        Some(serde_json::json!({"agent": "a1", "wait_seconds": 5, "terraform_versions": ["1.11.4"]})),
    );
    assert_eq!(status, 200, "{claimed}");
    let (job, job_token) = (claimed["job"]["id"].as_str().unwrap(), claimed["token"].as_str().unwrap());
    let mint = |server: &Server| {
        crate::runs::call(
            "POST",
            &format!("{}/api/agent/jobs/{job}/token", server.base),
            job_token,
            Some(serde_json::json!({"audience": "sts.amazonaws.com", "ttl_seconds": 600})),
        )
    };
    let mut returned = Vec::new();
    for _ in 0..2 {
        let (status, minted) = mint(&b);
        assert_eq!(status, 200, "{minted}");
        assert!(minted["subject"].as_str().unwrap().contains(":workspace:app:"), "{minted}");
        returned.push(minted["jti"].clone());
    }
    on(&a, &["workspace", "update", "app", "--rename", "app-2"]).success();
    let (status, minted) = mint(&b);
    assert_eq!(status, 200, "{minted}");
    assert!(minted["subject"].as_str().unwrap().contains(":workspace:app-2:"), "renamed through a: {minted}");
    returned.push(minted["jti"].clone());
    let (status, done) = crate::runs::call(
        "POST",
        &format!("{}/api/agent/jobs/{job}/finish", a.base),
        job_token,
        Some(serde_json::json!({"outcome": "failed", "reason": "ended through a"})),
    );
    assert_eq!(status, 200, "{done}");
    let (status, refused) = mint(&b);
    assert_eq!(status, 401, "the job ended through a: {refused}");
    let exported = on(&a, &["audit", "--action", "token.minted", "--json"]);
    exported.success();
    let recorded: Vec<serde_json::Value> = exported
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["details"]["jti"].clone())
        .collect();
    assert_eq!(recorded, returned, "exactly the tokens returned are recorded: {exported}");
}
