//! The web UI in a real browser: `tern serve` over https whose own workers run real Terraform
//! (the newest the suite has, 1.11.4 where `TERN_TEST_TERRAFORM` names it) with the null
//! provider; Debian's Chromium driven by `playwright-core` (`browser.mjs ui`). An owner signs in
//! with their user token, walks from the organizations to a planned run, confirms it with a
//! comment and watches it apply; the workspace then shows the outputs, never a sensitive value.
//! A reader sees a planned run without buttons, and a forged POST with their own valid CSRF
//! token is refused by the server. The State, Settings and Credentials tabs follow: the state
//! version and its download, settings saved and put back, a lock, a workspace deleted by typing
//! its name, trust formats as tabs with Copy buttons, a checked trust policy, the page without
//! JavaScript; the reader's settings are read-only, and someone with outputs-only access is
//! refused State and Credentials. The organization's settings follow (a member added to a team
//! and removed, an organization token shown once, used against the API and revoked, the audit
//! trail filtered and paged, the agent pools), the reader refused what the API refuses them; then
//! the admin page, refused until the owner is made a site administrator: the keys (the server
//! manages them), a rotation and its warning, the JWKS download, and the doctor page (the
//! server's checks of itself; no token on it), and the owner's sessions from the link on their
//! name (this browser's marked). axe-core checks every page visited — light, dark, and at a
//! phone's width — and no serious or critical violation may remain (none at all on the tabs,
//! settings, admin and account pages).
//!
//! `TERN_UPDATE_SCREENSHOTS=1` also writes `docs/screenshots/ui-*.png`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::peers::Daemon;
use crate::runs::ADMIN;
use crate::support::{Scratch, Server, run};

/// The configuration of release `n`: a null resource that changes with it, a plain output and
/// a sensitive one.
fn config(s: &Scratch, n: u32, secret: &str) -> PathBuf {
    let dir = s.path().join(format!("release-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        format!(
            r#"terraform {{
  required_providers {{
    null = {{ source = "hashicorp/null" }}
  }}
}}
resource "null_resource" "web" {{
  triggers = {{ release = "{n}" }}
}}
output "greeting" {{ value = "hello from the web UI" }}
output "secret" {{
  value     = "{secret}"
  sensitive = true
}}
"#
        ),
    )
    .unwrap();
    dir
}

/// The Terraform the workers run: `TERN_TEST_TERRAFORM` (else `terraform` on PATH) when it is
/// 1.1 or newer, else the peers' 1.0.3 — a browser test never skips for want of one.
fn terraform() -> (PathBuf, String) {
    let given = std::env::var("TERN_TEST_TERRAFORM").ok().filter(|v| !v.is_empty() && v != "none");
    let candidate = given.map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("terraform")).find(|f| f.is_file()))
    });
    let version = |p: &PathBuf| -> Option<String> {
        let out = Command::new(p).args(["version", "-json"]).output().ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["terraform_version"].as_str().map(str::to_owned)
    };
    if let Some(p) = candidate
        && let Some(v) = version(&p)
        && v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 1)
    {
        return (p, v);
    }
    let old = tern_testkit::peers::terraform();
    let v = version(&old).expect("the peers' Terraform says its version");
    (old, v)
}

/// `tern serve` over https (a fresh test CA) with its own workers running `terraform`, the
/// null provider from a local mirror.
fn serve(s: &Scratch, ca: &tern_testkit::tls::TestCa, terraform: &std::path::Path) -> Server {
    let mirror = s.shared().join("mirror/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::copy(tern_testkit::peers::null_provider(), mirror.join("terraform-provider-null_v2.1.2_x4"))
        .unwrap();
    let tfrc = s.shared().join("terraform.tfrc");
    std::fs::write(
        &tfrc,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            s.shared().join("mirror").display()
        ),
    )
    .unwrap();
    let data = s.path().join("data");
    let mut cmd = s.tern();
    cmd.env("TERN_ADMIN_TOKEN", ADMIN);
    Server::start(
        cmd,
        &[
            "--tls-cert",
            ca.server_cert.to_str().unwrap(),
            "--tls-key",
            ca.server_key.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--terraform",
            terraform.to_str().unwrap(),
            "--terraform-config",
            tfrc.to_str().unwrap(),
            // Keys in the database: the admin page rotates them.
            "--managed-keys",
        ],
    )
}

/// `tern <args>` with the admin token against `server`, trusting its CA; its stdout.
fn tern(s: &Scratch, server: &Server, ca: &tern_testkit::tls::TestCa, args: &[&str]) -> String {
    let out = run(s
        .tern_plain()
        .env("TERN_SERVER", &server.issuer)
        .env("TERN_TOKEN", ADMIN)
        .env("TERN_ORG", "acme")
        .env("SSL_CERT_FILE", &ca.ca_cert)
        .args(args));
    out.success();
    out.stdout.clone()
}

fn status_of(s: &Scratch, server: &Server, ca: &tern_testkit::tls::TestCa, run_id: &str) -> String {
    let shown = tern(s, server, ca, &["run", "show", run_id]);
    shown
        .lines()
        .find_map(|l| l.strip_prefix("status:"))
        .map(|st| st.trim().to_owned())
        .unwrap_or_else(|| panic!("`tern run show` says no status: {shown}"))
}

/// The pages of the State, Settings and Credentials tabs axe-core checks.
const TABS_PAGES: [&str; 26] = [
    "states",
    "states (dark)",
    "states (phone)",
    "state (compare)",
    "state (compare) (dark)",
    "state (compare) (phone)",
    "settings",
    "settings (dark)",
    "settings (phone)",
    "settings (locked)",
    "settings: delete refused",
    "credentials",
    "credentials (dark)",
    "credentials (phone)",
    "credentials (copied)",
    "credentials: check (accepted)",
    "credentials: check (accepted) (dark)",
    "credentials: check (accepted) (phone)",
    "credentials: check (rejected)",
    "credentials (no script)",
    "credentials (no script) (dark)",
    "reader: states",
    "reader: settings",
    "reader: settings (dark)",
    "outsider: states (refused)",
    "outsider: credentials (refused)",
];

/// The organization's settings pages, the admin page and the account page axe-core checks.
const ORG_PAGES: [&str; 45] = [
    "org: teams",
    "org: teams (dark)",
    "org: teams (phone)",
    "org: team",
    "org: team (dark)",
    "org: team (phone)",
    "org: team (member added)",
    "org: team created",
    "org: variable sets",
    "org: variable set",
    "org: tokens",
    "org: tokens (dark)",
    "org: tokens (phone)",
    "org: token created",
    "org: token created (dark)",
    "org: token created (phone)",
    "org: audit trail (run.)",
    "org: audit trail (run.) (dark)",
    "org: audit trail (run.) (phone)",
    "org: audit trail (workspace., alice)",
    "org: audit trail (page 2)",
    "org: audit trail (page 2) (dark)",
    "org: audit trail (page 2) (phone)",
    "org: agents",
    "org: agents (dark)",
    "org: agents (phone)",
    "reader: org: teams",
    "reader: org: team",
    "reader: org: agents",
    "reader: org: tokens (refused)",
    "reader: org: audit trail (refused)",
    "reader: admin keys (refused)",
    "reader: admin doctor (refused)",
    "admin: keys",
    "admin: keys (dark)",
    "admin: keys (phone)",
    "admin: keys (rotated)",
    "admin: keys (rotated) (dark)",
    "admin: keys (rotated) (phone)",
    "admin: doctor",
    "admin: doctor (dark)",
    "admin: doctor (phone)",
    "account: sessions",
    "account: sessions (dark)",
    "account: sessions (phone)",
];

/// The workspace the owner deletes by typing its name.
const THROWAWAY: &str = "throwaway";

/// A client of `server` that trusts the test CA and follows no redirect.
fn http(ca: &tern_testkit::tls::TestCa) -> reqwest::blocking::Client {
    let pem = std::fs::read(&ca.ca_cert).unwrap();
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What the browser said, line by line, and what it wrote to stderr.
struct Browser {
    child: Daemon,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Browser {
    /// The next JSON line the browser prints, within `deadline`.
    fn next(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let line = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()?;
            self.seen.push(line.clone());
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                return Some(v);
            }
        }
    }

    fn said(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.seen.join("\n"), self.stderr.lock().unwrap())
    }
}

#[test]
fn an_owner_confirms_a_run_in_the_browser_a_reader_cannot_and_every_page_passes_axe() {
    let started = Instant::now();
    // The peers first: a missing one fails here, saying how to install it.
    let node_dir = tern_testkit::peers::node_dir();
    tern_testkit::peers::chromium();
    let axe = node_dir.join("node_modules/axe-core/axe.min.js");
    assert!(
        axe.is_file(),
        "test peer axe-core (npm) is not installed (looked for {}).\nInstall the peers with scripts/install-peers.",
        axe.display()
    );
    let (terraform, version) = terraform();
    eprintln!("ui: workers run Terraform {version} ({})", terraform.display());

    let s = Scratch::new();
    let ca = tern_testkit::tls::TestCa::generate(s.path());
    let server = serve(&s, &ca, &terraform);
    assert!(server.issuer.starts_with("https://localhost:"), "{}", server.issuer);
    let base = server.issuer.clone();
    let cli = |args: &[&str]| tern(&s, &server, &ca, args);

    // acme, workspace web (auto-apply off), an owner and a reader with their user tokens.
    cli(&["org", "create", "acme"]);
    cli(&["workspace", "create", "web"]);
    cli(&["user", "create", "alice"]);
    cli(&["user", "create", "bob"]);
    cli(&["team", "add-member", "--org", "acme", "owners", "alice"]);
    cli(&["team", "create", "--org", "acme", "readers"]);
    cli(&["team", "access", "--org", "acme", "readers", "--workspace", "web", "--level", "read"]);
    cli(&["team", "add-member", "--org", "acme", "readers", "bob"]);
    let owner_token = cli(&["user", "token", "alice"]).trim().to_owned();
    let reader_token = cli(&["user", "token", "bob"]).trim().to_owned();
    assert!(owner_token.starts_with("tern-user.") && reader_token.starts_with("tern-user."));
    // Carol, whose custom access to web reaches its runs and outputs but neither its state
    // versions nor its variables (the CLI grants levels only: the custom grant goes through the
    // API).
    cli(&["user", "create", "carol"]);
    cli(&["team", "create", "--org", "acme", "outputs"]);
    cli(&["team", "add-member", "--org", "acme", "outputs", "carol"]);
    let team: Value =
        serde_json::from_str(&cli(&["team", "show", "--org", "acme", "outputs", "--json"])).unwrap();
    let shown = cli(&["workspace", "show", "web"]);
    let ws_id = shown.lines().find_map(|l| l.strip_prefix("id:")).unwrap_or_else(|| panic!("{shown}")).trim();
    let grant = json!({ "data": { "type": "team-workspaces", "attributes": {
        "access": "custom", "runs": "read", "variables": "none", "state-versions": "read-outputs",
        "workspace-locking": false,
    }, "relationships": {
        "workspace": { "data": { "type": "workspaces", "id": ws_id } },
        "team": { "data": { "type": "teams", "id": team["id"] } },
    } } });
    let granted = http(&ca)
        .post(format!("{base}/api/v2/team-workspaces"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/vnd.api+json")
        .body(grant.to_string())
        .send()
        .unwrap();
    assert!(granted.status().is_success(), "the custom grant: {}", granted.text().unwrap());
    let outsider_token = cli(&["user", "token", "carol"]).trim().to_owned();
    // Dave, whom the owner adds to a team on its page (and removes); a pool for the Agents page.
    cli(&["user", "create", "dave"]);
    cli(&["agent-pool", "create", "builders", "--org", "acme"]);

    // The first run: uploaded, planned, waiting for confirmation.
    // A value no page may show: unique to this test's run (its scratch directory's random name).
    let unique: String =
        s.path().file_name().unwrap().to_string_lossy().chars().filter(char::is_ascii_alphanumeric).collect();
    let secret = format!("do-not-show-{unique}");
    let first = cli(&[
        "run",
        "start",
        "--workspace",
        "web",
        "--dir",
        config(&s, 1, &secret).to_str().unwrap(),
        "--message",
        "First release",
        "--no-follow",
    ]);
    let run1 = first.trim().to_owned();
    assert!(run1.starts_with("run-"), "{first}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match status_of(&s, &server, &ca, &run1).as_str() {
            "planned" => break,
            "errored" | "canceled" | "discarded" | "planned_and_finished" => {
                panic!("the first run did not wait for confirmation:\n{}", cli(&["run", "logs", &run1]))
            }
            other => assert!(Instant::now() < deadline, "the first run is still {other} after 90 s"),
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    // The browser.
    let screenshots = (std::env::var("TERN_UPDATE_SCREENSHOTS").as_deref() == Ok("1")).then(|| {
        let dir = tern_testkit::workspace_root().join("docs").join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    let mut cmd = Command::new("node");
    cmd.arg(node_dir.join("browser.mjs"))
        .args(["ui", "--tern", &base, "--org", "acme", "--workspace", "web", "--run", &run1])
        .args(["--secret", &secret, "--throwaway", THROWAWAY, "--team", "readers", "--member", "dave"])
        .env("TERN_UI_OWNER_TOKEN", &owner_token)
        .env("TERN_UI_READER_TOKEN", &reader_token)
        .env("TERN_UI_OUTSIDER_TOKEN", &outsider_token)
        // The admin token makes the owner a site administrator (through the API) for the admin
        // page; Node's own `fetch` calls the API trusting the test CA.
        .env("TERN_UI_ADMIN_TOKEN", ADMIN)
        .env("NODE_EXTRA_CA_CERTS", &ca.ca_cert)
        .current_dir(&node_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &screenshots {
        cmd.arg("--screenshots").arg(dir);
    }
    let mut child = cmd.spawn().expect("node runs browser.mjs");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let errors = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = errors.clone();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        sink.lock().unwrap().push_str(&text);
    });
    let mut browser = Browser { child: Daemon(child), lines: rx, seen: Vec::new(), stderr: errors };
    let deadline = Instant::now() + Duration::from_secs(170);

    // The owner's part ends with the first run applied: then the second run, for the reader.
    let said =
        browser.next(deadline).unwrap_or_else(|| panic!("the browser said nothing:\n{}", browser.said()));
    let seen = if said["phase"] == "owner-done" {
        assert_eq!(status_of(&s, &server, &ca, &run1), "applied");
        // A workspace the owner deletes from its settings page (made now: not in the
        // screenshots of the workspaces).
        cli(&["workspace", "create", THROWAWAY]);
        let second = cli(&[
            "run",
            "start",
            "--workspace",
            "web",
            "--dir",
            config(&s, 2, &secret).to_str().unwrap(),
            "--message",
            "Second release",
            "--no-follow",
        ]);
        let run2 = second.trim().to_owned();
        writeln!(stdin, "{run2}").unwrap();
        browser.next(deadline).unwrap_or_else(|| panic!("the browser did not finish:\n{}", browser.said()))
    } else {
        said
    };
    drop(stdin);
    assert_eq!(seen["ok"], true, "the browser failed: {}\n{}", seen, browser.said());
    let _ = browser.child.0.wait();
    let run2 = seen["secondRun"].as_str().unwrap().to_owned();
    eprintln!("ui: the browser's timings (ms): {}", seen["timings"]);

    // What axe-core saw (its serious and critical violations are asserted last, one per line,
    // so that any other failure shows first).
    let mut problems: Vec<String> =
        seen["a11yProblems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    let checked: Vec<String> = seen["axe"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} [{} violations]",
                a["page"].as_str().unwrap(),
                a["violations"].as_array().unwrap().len()
            )
        })
        .collect();
    eprintln!("ui: axe-core checked {} pages: {}", checked.len(), checked.join(", "));
    for a in seen["axe"].as_array().unwrap() {
        for v in a["violations"].as_array().unwrap() {
            eprintln!("ui: axe {}: {} [{}] {}", a["page"], v["id"], v["impact"], v["help"]);
        }
    }
    for page in [
        "owner: sign-in",
        "organizations",
        "workspaces",
        "workspace",
        "runs",
        "run (planned)",
        "run (planned) (dark)",
        "run (planned) (phone)",
        "run (applied)",
        "run (applied) (dark)",
        "workspace (applied)",
        "workspace (applied) (dark)",
        "workspaces (applied)",
        "workspaces (dark)",
        "workspaces (phone)",
        "workspaces (dark) (phone)",
        "reader: sign-in",
        "reader: run (planned)",
    ]
    .into_iter()
    .chain(TABS_PAGES)
    .chain(ORG_PAGES)
    {
        assert!(
            seen["axe"].as_array().unwrap().iter().any(|a| a["page"] == page),
            "axe never checked {page}"
        );
    }
    // The State, Settings and Credentials tabs, the organization's settings, the admin page and
    // the account page hold no violation at all, whatever its impact.
    for a in seen["axe"].as_array().unwrap() {
        let violations = a["violations"].as_array().unwrap();
        if TABS_PAGES.iter().chain(&ORG_PAGES).any(|p| a["page"] == *p) && !violations.is_empty() {
            problems.push(format!("{}: {} violation(s) of any impact: {}", a["page"], violations.len(), a));
        }
    }

    // The owner's walk.
    let owner = &seen["owner"];
    assert_eq!(owner["signInPage"], "/app/sign-in", "{owner}");
    assert_eq!(owner["username"], "alice", "{owner}");
    assert_eq!(owner["organizations"], json!(["acme"]), "{owner}");
    assert_eq!(owner["workspacesPath"], "/app/acme/workspaces", "{owner}");
    let row = |rows: &Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r[0].as_str().is_some_and(|n| n.starts_with("web")))
            .unwrap_or_else(|| panic!("no row of web: {rows}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(row(&owner["workspacesBefore"])[2], "planned", "the latest run's status: {owner}");
    assert!(owner["workspaceBefore"]["latest"].as_str().unwrap().contains(&run1), "{owner}");
    assert!(owner["workspaceBefore"]["outputs"].as_str().unwrap().contains("No state yet"), "{owner}");
    assert_eq!(owner["runs"][0][0], run1.as_str(), "{owner}");
    assert_eq!(owner["runs"][0][1], "planned", "{owner}");
    assert_eq!(owner["runPath"], format!("/app/acme/workspaces/web/runs/{run1}"));
    let planned = &owner["planned"];
    assert_eq!(planned["status"], "planned", "{planned}");
    assert_eq!(planned["summary"], "+1 to add, ~0 to change, −0 to destroy", "{planned}");
    assert_eq!(planned["changes"], json!(["+ create null_resource.web"]), "{planned}");
    let plan_log = planned["planLog"].as_str().unwrap();
    assert!(plan_log.contains("null_resource.web will be created"), "{plan_log}");
    assert!(plan_log.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{plan_log}");
    assert_eq!(planned["follows"], 0, "a run waiting for confirmation is not followed live");
    assert_eq!(owner["afterConfirmPath"], format!("/app/acme/workspaces/web/runs/{run1}"));
    assert_eq!(owner["followsLive"], 1, "a live run's page follows it: {owner}");
    // The page got from the confirmation to `applied` by itself (the test never reloaded it).
    let follow = &owner["follow"];
    eprintln!(
        "ui: after Confirm & apply the run page showed {} and reloaded {} time(s)",
        follow["statuses"], follow["reloads"]
    );
    assert!(follow["reloads"].as_u64().unwrap() >= 1, "the page reloaded when the run ended: {follow}");
    assert_eq!(follow["statuses"].as_array().unwrap().last().unwrap(), "applied", "{follow}");
    assert!(follow["statuses"].as_array().unwrap().len() >= 2, "it showed the run on its way: {follow}");
    let applied = &owner["applied"];
    assert_eq!(applied["status"], "applied", "{applied}");
    assert_eq!(applied["follows"], 0, "a finished run is not followed");
    assert!(
        applied["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().contains("by alice: “Ship it, from the browser”")),
        "the confirmation and its comment: {applied}"
    );
    assert!(
        applied["applyLog"].as_str().unwrap().contains("Apply complete! Resources: 1 added"),
        "{applied}"
    );
    // The outputs: the plain one's value; the sensitive one's name, never its value — on no page.
    let outputs: Vec<(String, String)> = owner["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
        .collect();
    assert!(outputs.contains(&("greeting".into(), "\"hello from the web UI\"".into())), "{outputs:?}");
    assert!(outputs.contains(&("secret".into(), "sensitive".into())), "{outputs:?}");
    assert_eq!(owner["workspaceHtmlHasSecret"], false, "{owner}");
    assert_eq!(seen["secretSeenOn"], json!([]), "the sensitive value was in these pages' HTML");
    assert_eq!(owner["resources"], json!(["null_resource.web"]), "{owner}");
    assert_eq!(row(&owner["workspacesAfter"])[2], "applied", "{owner}");
    assert_eq!(owner["secondRunConfirmButtons"], 1, "the owner may confirm the second run: {owner}");

    // The dark checks ran dark; nothing but a scroller (a table's, a code block) is wider than a
    // phone.
    for (page, bg) in seen["darkBackgrounds"].as_object().unwrap() {
        assert_eq!(bg, "rgb(13, 17, 23)", "{page} in the dark palette");
    }
    for (page, o) in seen["phoneOverflow"].as_object().unwrap() {
        assert!(
            o["scrollWidth"].as_u64() <= o["clientWidth"].as_u64() && o["wide"] == json!([]),
            "{page} is wider than a phone (390 px): {o}"
        );
    }

    // The reader: no buttons, and the forged POSTs refused by the server's decision.
    let reader = &seen["reader"];
    assert_eq!(reader["signInPage"], "/app/sign-in", "{reader}");
    assert_eq!(reader["username"], "bob", "{reader}");
    assert_eq!(reader["runStatus"], "planned", "{reader}");
    assert_eq!(reader["confirmButtons"], 0, "{reader}");
    assert_eq!(reader["actionForms"], 0, "{reader}");
    eprintln!("ui: the reader's page followed the second run through {}", reader["follow"]["statuses"]);
    for forged in reader["forged"].as_array().unwrap() {
        eprintln!(
            "ui: the reader's forged {} answered {}: {}",
            forged["action"], forged["status"], forged["error"]
        );
        assert_eq!(forged["status"], 403, "{forged}");
        assert!(
            forged["error"].as_str().unwrap().contains("this needs runs: apply on workspace"),
            "refused for the permission, not the CSRF token: {forged}"
        );
    }
    assert_eq!(reader["forged"].as_array().unwrap().len(), 3, "{reader}");
    assert_eq!(reader["statusAfterForgery"], "planned", "{reader}");
    // Through the API: the second run still waits; nothing applied, discarded or canceled it.
    assert_eq!(status_of(&s, &server, &ca, &run2), "planned");
    assert_eq!(status_of(&s, &server, &ca, &run1), "applied");
    let trail = cli(&["audit", "--json"]);
    for act in ["run.applied", "run.discarded", "run.canceled"] {
        assert!(
            !trail.lines().any(|l| l.contains(&run2) && l.contains(act)),
            "{act} on the second run: {trail}"
        );
    }

    tabs(&seen, &run1);
    // Through the API: the settings are back as they were, unlocked; the throwaway is gone.
    let shown = cli(&["workspace", "show", "web"]);
    for line in ["auto-apply:        false", "locked:            false"] {
        assert!(shown.lines().any(|l| l.trim_end() == line), "{line}: {shown}");
    }
    assert!(shown.lines().any(|l| l.trim_end() == "working directory:"), "{shown}");
    assert!(!cli(&["workspace", "list"]).contains(THROWAWAY));
    let trail = cli(&["audit", "--json"]);
    for act in ["workspace.locked", "workspace.unlocked", "workspace.deleted"] {
        assert!(trail.lines().any(|l| l.contains(act) && l.contains("alice")), "no {act} by alice: {trail}");
    }

    organization_settings(&seen);
    admin_keys(&seen, &base);
    admin_doctor(&seen);
    // The owner's sessions, from the header: this browser's among them, marked once.
    let account = &seen["owner"]["account"];
    assert_eq!(account["path"], "/app/account/sessions", "{account}");
    let marked = account["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[0].as_str().unwrap().ends_with("this browser"));
    assert_eq!(marked.count(), 1, "{account}");
    let trail = cli(&["audit", "--json"]);
    for act in ["team.members-added", "team.members-removed"] {
        assert!(
            trail.lines().any(|l| l.contains(act) && l.contains("\"dave\"")),
            "no {act} of dave: {trail}"
        );
    }
    for act in ["token.created", "token.revoked"] {
        assert!(
            trail.lines().any(|l| l.contains(act) && l.contains("from the browser test")),
            "no {act}: {trail}"
        );
    }

    if let Some(dir) = &screenshots {
        for name in [
            "ui-workspaces.png",
            "ui-workspace.png",
            "ui-run.png",
            "ui-run-dark.png",
            "ui-state.png",
            "ui-settings.png",
            "ui-credentials.png",
            "ui-org-audit.png",
            "ui-admin-keys.png",
            "ui-admin-doctor.png",
        ] {
            let png = std::fs::read(dir.join(name)).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name}");
        }
        eprintln!("ui: screenshots in {}", dir.display());
    }

    assert!(
        problems.is_empty(),
        "axe-core found violations (serious or critical on any page; any on the State, Settings and Credentials tabs, the organization settings, the admin and the account pages):\n{}",
        problems.join("\n")
    );
    eprintln!("ui: done in {:.1} s", started.elapsed().as_secs_f64());
}

/// What the browser saw on the State, Settings and Credentials tabs.
fn tabs(seen: &Value, run1: &str) {
    // State: the first run's version, compared with nothing before it, and its file.
    let state = &seen["owner"]["state"];
    assert_eq!(state["path"], "/app/acme/workspaces/web/states", "{state}");
    let rows = state["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one state version: {state}");
    assert_eq!(rows[0][2], run1, "made by the first run: {state}");
    assert_eq!(rows[0][3], "1", "one resource: {state}");
    assert!(
        state["comparePath"].as_str().unwrap().starts_with("/app/acme/workspaces/web/states/sv-"),
        "{state}"
    );
    assert!(state["heading"].as_str().unwrap().starts_with("State serial "), "{state}");
    assert!(state["base"].as_str().unwrap().starts_with("nothing: this is the workspace's first"), "{state}");
    assert_eq!(state["counts"], "+1 added ~0 changed −0 removed", "{state}");
    assert_eq!(state["resourceChanges"][0][1], "null_resource.web", "{state}");
    let outputs: Vec<&Value> = state["outputChanges"].as_array().unwrap().iter().collect();
    assert!(outputs.iter().any(|o| o[1] == "greeting" && o[3] == "\"hello from the web UI\""), "{state}");
    assert!(outputs.iter().any(|o| o[1] == "secret" && o[2] == "sensitive value not shown"), "{state}");
    let download = &state["download"];
    assert_eq!(download["status"], 200, "{download}");
    assert_eq!(download["json"], true, "the state's JSON: {download}");
    assert_eq!(download["contentType"], "application/json", "{download}");
    assert!(
        download["disposition"].as_str().unwrap().starts_with("attachment; filename=\"web-"),
        "{download}"
    );
    assert_eq!(download["cacheControl"], "no-store", "{download}");
    assert_eq!(download["nosniff"], "nosniff", "{download}");
    assert_eq!(download["resources"], json!(["null_resource.web"]), "{download}");
    assert_eq!(download["outputs"]["secret"]["sensitive"], true, "{download}");
    assert_eq!(download["outputs"]["greeting"]["value"], "hello from the web UI", "{download}");
    let reader = &seen["reader"];
    assert_eq!(reader["states"]["status"], 200, "read access includes state versions: {reader}");
    assert_eq!(reader["states"]["rows"].as_array().unwrap().len(), 1, "{reader}");

    // Settings: saved, put back, locked and unlocked; the throwaway deleted by its name only.
    let settings = &seen["owner"]["settings"];
    let form = |k: &str| (settings[k]["autoApply"].clone(), settings[k]["workingDirectory"].clone());
    assert_eq!(settings["buttons"], json!(["save", "lock", "delete-workspace"]), "{settings}");
    assert_eq!(form("before"), (json!(false), json!("")), "{settings}");
    assert_eq!(form("saved"), (json!(true), json!("infra/web")), "{settings}");
    assert_eq!(settings["saved"]["path"], "/app/acme/workspaces/web/settings", "{settings}");
    assert_eq!(form("restored"), (json!(false), json!("")), "{settings}");
    assert!(settings["locked"]["state"].as_str().unwrap().starts_with("locked"), "{settings}");
    assert_eq!(settings["locked"]["unlock"], 1, "{settings}");
    assert!(settings["unlocked"]["state"].as_str().unwrap().starts_with("unlocked"), "{settings}");
    assert_eq!(settings["unlocked"]["lock"], 1, "{settings}");
    let wrong = &settings["wrongName"];
    assert_eq!(wrong["status"], 400, "{wrong}");
    assert!(
        wrong["error"].as_str().unwrap().contains("type its name exactly; nothing was deleted"),
        "{wrong}"
    );
    assert_eq!(settings["deleted"]["path"], "/app/acme/workspaces", "{settings}");
    let left = settings["deleted"]["workspaces"].as_array().unwrap();
    assert!(left.iter().any(|w| w.as_str().unwrap().starts_with("web")), "{settings}");
    assert!(!left.iter().any(|w| w.as_str().unwrap().starts_with(THROWAWAY)), "{settings}");
    let read_only = &reader["settings"];
    assert!(read_only["readOnly"].as_str().unwrap().contains("needs admin access"), "{read_only}");
    assert_eq!(read_only["fieldsets"], 2, "{read_only}");
    assert_eq!(read_only["disabledFieldsets"], 2, "{read_only}");
    assert_eq!(read_only["enabledInputs"], 0, "{read_only}");
    assert_eq!(read_only["buttons"], 0, "no Save, Lock or Delete: {read_only}");
    assert!(read_only["lockState"].as_str().unwrap().starts_with("unlocked"), "{read_only}");
    assert_eq!(reader["forgedLock"]["status"], 403, "{reader}");
    assert!(
        reader["forgedLock"]["error"].as_str().unwrap().contains("this needs workspace-locking"),
        "{reader}"
    );

    // Credentials: AWS and Vault, each with its formats as tabs.
    let c = &seen["owner"]["credentials"];
    assert_eq!(c["problems"], json!([]), "{c}");
    assert_eq!(c["clouds"], json!(["trust-aws", "trust-vault"]), "{c}");
    assert_eq!(c["tablists"], json!(["AWS: formats", "Vault: formats"]), "{c}");
    let tabs = |state: &Value, selected: &str, shown: &str, focused: Option<&str>| {
        assert_eq!(state["selected"], json!([selected]), "{state}");
        assert_eq!(state["shown"], json!([shown]), "one panel shown: {state}");
        if let Some(f) = focused {
            assert_eq!(state["focused"], f, "{state}");
        }
    };
    assert_eq!(c["initial"]["tabs"], json!(["Terraform", "AWS JSON", "AWS CLI"]), "{c}");
    tabs(&c["initial"], "Terraform", "trust-aws-terraform", None);
    tabs(&c["clicked"], "AWS JSON", "trust-aws-json", None);
    let keys: Vec<&Value> = c["keys"].as_array().unwrap().iter().collect();
    tabs(keys[0], "AWS CLI", "trust-aws-cli", Some("trust-aws-cli-tab"));
    tabs(keys[1], "Terraform", "trust-aws-terraform", Some("trust-aws-terraform-tab"));
    tabs(keys[2], "AWS CLI", "trust-aws-cli", Some("trust-aws-cli-tab"));
    tabs(keys[3], "AWS CLI", "trust-aws-cli", Some("trust-aws-cli-tab"));
    tabs(keys[4], "Terraform", "trust-aws-terraform", Some("trust-aws-terraform-tab"));
    tabs(&c["vault"], "Terraform", "trust-vault-terraform", None);
    let copy = &c["copy"];
    assert_eq!(copy["buttons"], 6, "a Copy button per block: {copy}");
    assert_eq!(copy["status"], "Copied", "{copy}");
    assert_eq!(copy["clipboard"], copy["block"], "{copy}");
    assert!(copy["block"].as_str().unwrap().contains("arn:aws:iam::"), "{copy}");
    let accepted = &c["accepted"];
    assert_eq!(accepted["path"], "/app/acme/workspaces/web/credentials/check", "{accepted}");
    assert_eq!(accepted["heading"], "Verdict: would be accepted", "{accepted}");
    assert!(!accepted["conditions"].as_array().unwrap().is_empty(), "{accepted}");
    assert!(accepted["conditions"].as_array().unwrap().iter().all(|k| k == "ok"), "{accepted}");
    assert_eq!(c["tampered"], true, "the JSON names the workspace: {c}");
    let rejected = &c["rejected"];
    assert_eq!(rejected["heading"], "Verdict: would be rejected", "{rejected}");
    assert!(rejected["firstFailure"].as_str().is_some(), "{rejected}");
    let plain = &seen["noScript"]["credentials"];
    assert_eq!(plain["tablists"], 0, "{plain}");
    assert_eq!(plain["copyButtons"], 0, "{plain}");
    let formats = ["terraform", "json", "cli"];
    let all: Vec<String> =
        ["aws", "vault"].iter().flat_map(|c| formats.iter().map(move |f| format!("trust-{c}-{f}"))).collect();
    assert_eq!(plain["shown"], json!(all), "every format, one after another: {plain}");
    assert_eq!(plain["headings"].as_array().unwrap().len(), 6, "{plain}");
    assert_eq!(seen["noScript"]["blockedTablists"], 0, "the script blocked: {}", seen["noScript"]);

    // Outputs only: the State and Credentials tabs refuse, saying why.
    let outsider = &seen["outsider"];
    for (tab, needs) in [("states", "state-versions: read"), ("credentials", "variables: read")] {
        let r = &outsider[tab];
        assert_eq!(r["status"], 403, "{tab}: {r}");
        assert_eq!(r["title"], "Not allowed", "{tab}: {r}");
        assert!(r["error"].as_str().unwrap().contains(&format!("this needs {needs}")), "{tab}: {r}");
    }
}

/// What the browser saw in the organization's settings: teams, tokens, the audit trail, agents;
/// and what the reader may see there.
fn organization_settings(seen: &Value) {
    let o = &seen["owner"]["org"];
    eprintln!("ui: organization settings: {o}");
    assert_eq!(o["settingsPath"], "/app/acme/settings/teams", "the header's Settings link: {o}");
    assert_eq!(o["tabs"], json!(["Audit trail", "API tokens", "Teams", "Variable sets", "Agents"]), "{o}");
    let teams: Vec<&str> = o["teams"].as_array().unwrap().iter().map(|r| r[0].as_str().unwrap()).collect();
    for t in ["owners", "readers", "outputs"] {
        assert!(teams.contains(&t), "{t} listed: {o}");
    }

    // A member added through the team's form and removed again.
    assert_eq!(o["teamPath"], "/app/acme/settings/teams/readers", "{o}");
    assert_eq!(o["membersBefore"], json!(["bob"]), "{o}");
    assert_eq!(o["added"]["path"], "/app/acme/settings/teams/readers", "{o}");
    assert_eq!(o["added"]["members"], json!(["bob", "dave"]), "{o}");
    assert_eq!(o["removed"]["members"], json!(["bob"]), "{o}");

    // A token: its secret on the answer to the form only, with the warning; it works against
    // the API until it is revoked from the page.
    let created = &o["created"];
    assert_eq!(created["path"], "/app/acme/settings/tokens", "{created}");
    assert_eq!(created["heading"], "Your new organization token", "{created}");
    assert!(
        created["warning"].as_str().unwrap().starts_with("Copy it now: it is shown only this once."),
        "{created}"
    );
    assert!(created["secretLength"].as_u64().unwrap() >= 32, "{created}");
    let after = &o["afterReload"];
    assert_eq!(after["path"], "/app/acme/settings/tokens", "{after}");
    assert_eq!(after["made"], 1, "a reload shows the page again, it makes no second token: {after}");
    assert_eq!(after["newToken"], 0, "{after}");
    assert_eq!(after["secretInHtml"], false, "the secret is shown once only: {after}");
    assert_eq!(after["row"][0], "organization", "the new token listed: {after}");
    assert_eq!(after["row"][3], "alice", "who made it: {after}");
    assert_eq!(o["trailSecret"], false, "the audit trail holds no secret: {o}");
    assert_eq!(o["apiWithToken"], 200, "the new token works against the API: {o}");
    assert_eq!(o["revoked"]["path"], "/app/acme/settings/tokens", "{o}");
    assert_eq!(o["revoked"]["listed"], false, "{o}");
    assert_eq!(o["apiAfterRevoke"], 401, "a revoked token is refused: {o}");

    // The audit trail, filtered: only matching rows; the pager keeps the filters.
    let runs = &o["runs"];
    assert_eq!(runs["query"]["action"], "run.", "{runs}");
    let rows = runs["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{runs}");
    assert!(rows.iter().all(|r| r[1].as_str().unwrap().starts_with("run.")), "{runs}");
    let mine = &o["workspaceByAlice"];
    assert_eq!(mine["filters"], json!({"action": "workspace.", "actor": "alice"}), "{mine}");
    let rows = mine["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 25, "a full first page: {mine}");
    let matching = |rows: &[Value]| {
        rows.iter().all(|r| {
            r[0].as_str().unwrap().starts_with("alice ") && r[1].as_str().unwrap().starts_with("workspace.")
        })
    };
    assert!(matching(rows), "{mine}");
    assert_eq!(mine["pager"], "Page 1 of 2", "{mine}");
    let page2 = &o["page2"];
    assert_eq!(page2["query"], json!({"action": "workspace.", "actor": "alice", "page": "2"}), "{page2}");
    assert_eq!(page2["filters"], json!({"action": "workspace.", "actor": "alice"}), "{page2}");
    assert_eq!(page2["pager"], "Page 2 of 2", "{page2}");
    assert!(!page2["rows"].as_array().unwrap().is_empty(), "{page2}");
    assert!(matching(page2["rows"].as_array().unwrap()), "{page2}");
    assert_eq!(page2["count"], mine["count"], "{page2}");

    // A team and a variable set made through their forms; the sensitive value on no page.
    assert_eq!(o["teamCreated"]["path"], "/app/acme/settings/teams/browser-team", "{o}");
    assert_eq!(o["teamCreated"]["permissions"], json!(["manage-workspaces"]), "{o}");
    let set = &o["setCreated"];
    assert!(set["path"].as_str().unwrap().starts_with("/app/acme/settings/varsets/varset-"), "{set}");
    assert_eq!(set["keys"], json!(["BROWSER_SECRET"]), "{set}");
    assert_eq!(set["secretInHtml"], false, "a sensitive value is never shown: {set}");

    assert_eq!(o["agentsPath"], "/app/acme/settings/agents", "{o}");
    assert_eq!(o["pools"], json!(["builders"]), "{o}");

    // The reader: teams and agents as every member; tokens and the audit trail refused, as the
    // API refuses them.
    let r = &seen["reader"]["org"];
    eprintln!("ui: the reader's organization settings: {r}");
    assert_eq!(r["teams"]["path"], "/app/acme/settings/teams", "{r}");
    assert!(!r["teams"]["rows"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(r["team"]["members"], 1, "{r}");
    assert_eq!(r["team"]["addForms"], 0, "{r}");
    assert_eq!(r["team"]["buttons"], 0, "no Add or Remove: {r}");
    assert_eq!(r["agents"]["status"], 200, "{r}");
    assert_eq!((&r["teamsApi"], &r["agentsApi"]), (&json!(200), &json!(200)), "as the API: {r}");
    assert_eq!(r["agents"]["pools"], json!(["builders"]), "{r}");
    for (page, api) in [("tokens", "tokensApi"), ("trail", "trailApi")] {
        let refused = &r[page];
        assert_eq!(refused["status"], r[api], "the page refuses as the API does: {r}");
        assert!([403, 404].contains(&refused["status"].as_u64().unwrap()), "{page}: {r}");
        assert!(refused["error"].as_str().is_some_and(|e| !e.is_empty()), "{page} says why: {r}");
    }
}

/// What the browser saw of the admin page: refused to the reader and to the owner until they
/// are made a site administrator; the keys, a rotation and its warning, the JWKS download.
fn admin_keys(seen: &Value, base: &str) {
    let reader = &seen["reader"];
    assert_eq!(reader["adminLink"], 0, "{reader}");
    assert_eq!(reader["adminKeys"]["status"], 403, "{reader}");
    let a = &seen["owner"]["admin"];
    eprintln!("ui: admin: {a}");
    assert_eq!(a["linkBefore"], 0, "{a}");
    assert_eq!(a["keysBefore"], 403, "{a}");
    assert_eq!(a["granted"], 200, "{a}");
    assert_eq!(a["linkAfter"], 1, "{a}");
    assert_eq!(a["path"], "/app/admin/keys", "{a}");
    let before = a["before"]["rows"].as_array().unwrap();
    assert_eq!(before.len(), 1, "{a}");
    assert_eq!(before[0][2], "current", "{a}");
    assert_eq!(a["before"]["warning"], Value::Null, "{a}");
    assert_eq!(a["rotatedPath"], "/app/admin/keys", "{a}");
    let after = a["after"]["rows"].as_array().unwrap();
    let states: Vec<&str> = after.iter().map(|r| r[2].as_str().unwrap()).collect();
    assert_eq!(states, ["current", "next"], "{a}");
    assert!(
        a["after"]["warning"]
            .as_str()
            .unwrap()
            .contains("an uploaded JWKS (private issuers) must be replaced before"),
        "{a}"
    );
    let d = &a["download"];
    assert_eq!(d["status"], 200, "{d}");
    assert_eq!(d["disposition"], "attachment; filename=\"jwks.json\"", "{d}");
    assert_eq!(d["same"], true, "the download is {base}/.well-known/jwks: {d}");
    assert_eq!(d["keys"].as_array().unwrap().len(), 2, "the current and the next key: {d}");
}

/// What the browser saw of the doctor page: refused to the reader; the owner, a site
/// administrator by now, reaches it from the keys page and sees every check this server makes
/// of itself, each with its status as a word, and no token or key on the page.
fn admin_doctor(seen: &Value) {
    let reader = &seen["reader"]["adminDoctor"];
    assert_eq!(reader["status"], 403, "{reader}");
    let d = &seen["owner"]["admin"]["doctor"];
    eprintln!("ui: doctor: {d}");
    assert_eq!(d["path"], "/app/admin/doctor", "{d}");
    assert_eq!(d["tokenSeen"], 0, "{d}");
    assert_eq!(d["privateKey"], false, "{d}");
    let findings: Vec<(&str, &str)> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap(), f[1].as_str().unwrap()))
        .collect();
    let names: Vec<&str> = findings.iter().map(|f| f.1).collect();
    for name in [
        "issuer URL",
        "https",
        "database",
        "signing key",
        "discovery document",
        "mint and verify",
        "agents",
        "AWS thumbprint",
    ] {
        assert!(names.contains(&name), "{name}: {d}");
    }
    for (word, _) in &findings {
        assert!(["ok", "warning", "failure"].contains(word), "{d}");
    }
    // An https issuer, the database and the key the server signs with are fine from inside.
    for name in ["https", "database", "signing key"] {
        assert!(findings.contains(&("ok", name)), "{name}: {d}");
    }
    assert!(d["summary"].as_str().unwrap().contains(" ok, "), "{d}");
}
