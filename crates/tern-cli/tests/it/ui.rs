//! The web UI in a real browser: `tern serve` over https whose own workers run real Terraform
//! (the newest the suite has, 1.11.4 where `TERN_TEST_TERRAFORM` names it) with the null
//! provider; Debian's Chromium driven by `playwright-core` (`browser.mjs ui`). An owner signs in
//! with their user token, walks from the organizations to a planned run, confirms it with a
//! comment and watches it apply; the workspace then shows the outputs, never a sensitive value.
//! A reader sees a planned run without buttons, and a forged POST with their own valid CSRF
//! token is refused by the server. axe-core checks every page visited — light, dark, and at a
//! phone's width — and no serious or critical violation may remain.
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
        .args(["--secret", &secret])
        .env("TERN_UI_OWNER_TOKEN", &owner_token)
        .env("TERN_UI_READER_TOKEN", &reader_token)
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

    // What axe-core saw (its serious and critical violations are asserted last, one per line,
    // so that any other failure shows first).
    let problems: Vec<&str> =
        seen["a11yProblems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
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
    ] {
        assert!(
            seen["axe"].as_array().unwrap().iter().any(|a| a["page"] == page),
            "axe never checked {page}"
        );
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

    // The dark checks ran dark; nothing but a table's own scroller is wider than a phone.
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

    if let Some(dir) = &screenshots {
        for name in ["ui-workspaces.png", "ui-workspace.png", "ui-run.png", "ui-run-dark.png"] {
            let png = std::fs::read(dir.join(name)).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name}");
        }
        eprintln!("ui: screenshots in {}", dir.display());
    }

    assert!(problems.is_empty(), "axe-core found serious or critical violations:\n{}", problems.join("\n"));
    eprintln!("ui: done in {:.1} s", started.elapsed().as_secs_f64());
}
