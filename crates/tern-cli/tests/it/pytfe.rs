//! tern through `pytfe`, HashiCorp's official Python SDK for the TFE API: a real client nobody
//! here wrote, driven by `tests/peers/python/pytfe_check.py` against the real server. Each check
//! creates its own objects and asserts TFE's shapes as pytfe parses them; where tern
//! deliberately lacks a feature, the check asserts that the error pytfe reports names it.
//!
//! The checks that run Terraform write configurations with `terraform_data` (Terraform ≥ 1.4),
//! so the server runs phases with the Terraform of `TERN_TEST_TERRAFORM` or PATH; without one,
//! the test says SKIPPED loudly, as the `cloud` block tests do.

use std::process::Command;

use serde_json::Value;

use crate::runs::{ADMIN, World};
use crate::support::run;

#[test]
fn pytfe_the_official_python_sdk_works_unchanged() {
    let Some((terraform, version)) =
        crate::cloud::terraform_at_least("pytfe::pytfe_the_official_python_sdk_works_unchanged", 4)
    else {
        return;
    };
    let w = World::new();
    let server = w.serve(&["--terraform", terraform.to_str().unwrap()]);
    w.ok(&server, &["org", "create", "acme"]);
    // An organization token: the checks act as automation does, within one organization; the
    // few admin-only calls (organization create/update/delete, creating users and their first
    // tokens, pytfe's admin.users) use the admin token.
    let token = w.ok(&server, &["org", "token", "acme"]).trim().to_owned();
    assert!(token.starts_with("tern-org."), "{token}");
    let config = w.s.path().join("pytfe-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("main.tf"), "output \"x\" { value = 1 }\n").unwrap();

    let mut cmd = Command::new(tern_testkit::peers::python());
    cmd.arg(tern_testkit::peers::python_scripts().join("pytfe_check.py"))
        .args(["--url", &server.base, "--token", &token, "--org", "acme", "--admin-token", ADMIN])
        .args(["--config-dir", config.to_str().unwrap(), "--run-timeout", "120"]);
    let out = run(&mut cmd);
    let results: Vec<Value> =
        out.stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed: Vec<&Value> = results.iter().filter(|r| r["ok"] != true).collect();
    println!(
        "pytfe: {} checks against tern with Terraform {version}, {} failed",
        results.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} pytfe checks failed:\n{}\n\nserver log:\n{}",
        failed.len(),
        results.len(),
        failed.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"),
        server.logs()
    );
    assert!(results.len() >= 100, "the checks ran: {out}");
    out.success();
}
