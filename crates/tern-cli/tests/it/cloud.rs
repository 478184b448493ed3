//! Terraform as users run it today (≥ 1.1): the `cloud` block and the `remote` backend of current
//! Terraform, whose go-tfe uploads the configuration to the `upload-url` without a token.
//!
//! The binary is `TERN_TEST_TERRAFORM`, else `terraform` on PATH when it is 1.1 or newer
//! (`scripts/test` says which it found). Where there is none, each test prints a loud skip line
//! and passes: no registry reachable here serves a Terraform, so the suite cannot install one.
//! Terraform 1.0.3 (the peers') keeps running the phases beside it.

use std::path::PathBuf;

use serde_json::Value;

use crate::runs::{ADMIN, World, laptop_terraform_with};

/// Terraform ≥ 1.1 and its version, or `None` (after saying so loudly).
fn modern_terraform(test: &str) -> Option<(PathBuf, String)> {
    terraform_at_least(test, 1)
}

/// Terraform ≥ 1.`minor` (from `TERN_TEST_TERRAFORM` or PATH) and its version, or `None` after
/// a loud skip line.
pub(crate) fn terraform_at_least(test: &str, min_minor: u32) -> Option<(PathBuf, String)> {
    let given = std::env::var("TERN_TEST_TERRAFORM").ok().filter(|v| !v.is_empty());
    let path = match given.as_deref() {
        Some("none") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("terraform")).find(|f| f.is_file())),
    };
    let found = path.and_then(|p| {
        let out = std::process::Command::new(&p).args(["version", "-json"]).output().ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let version = v["terraform_version"].as_str()?.to_owned();
        let mut parts = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next()?, parts.next()?);
        (major > 1 || (major == 1 && minor >= min_minor)).then_some((p, version))
    });
    if found.is_none() {
        eprintln!(
            "\n!!!! SKIPPED {test}: no Terraform >= 1.{min_minor} (set TERN_TEST_TERRAFORM or put one on PATH) !!!!\n"
        );
    }
    found
}

/// A server with both Terraforms registered (a workspace the `cloud` block creates is pinned to
/// the CLI's version, as HCP Terraform pins it), organization acme, and a configuration `dir`.
fn setup(w: &World, modern: &std::path::Path) -> crate::runs::Https {
    setup_on(w, modern, None)
}

/// [`setup`] with the store at `database_url` (PostgreSQL), or SQLite.
fn setup_on(w: &World, modern: &std::path::Path, database_url: Option<&str>) -> crate::runs::Https {
    let old = w.tools.join("terraform");
    let mut args = vec![
        "--terraform",
        old.to_str().unwrap(),
        "--terraform",
        modern.to_str().unwrap(),
        "--terraform-config",
        w.tfrc.to_str().unwrap(),
    ];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    let h = w.serve_https(&args);
    let out = w.tern_https(&h, &["org", "create", "acme"]);
    out.success();
    h
}

const BODY: &str = r#"variable "greeting" {
  type    = string
  default = "hi"
}
resource "null_resource" "greeting" {
  triggers = { greeting = var.greeting }
}
output "greeting" { value = var.greeting }
"#;

/// A configuration directory `name` whose `cloud` block points at `h` (organization acme) with
/// `workspaces`, e.g. `name = "x"` or `tags = ["app"]`, followed by [`BODY`].
fn cloud_config(w: &World, h: &crate::runs::Https, name: &str, workspaces: &str) -> PathBuf {
    let dir = w.s.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "terraform {{\n  cloud {{\n    hostname     = \"{}\"\n    organization = \"acme\"\n    workspaces {{ {workspaces} }}\n  }}\n  required_providers {{\n    null = {{ source = \"hashicorp/null\" }}\n  }}\n}}\n{BODY}",
            h.host
        ),
    )
    .unwrap();
    dir
}

#[test]
fn the_cloud_block_plans_and_applies_with_run_variables() {
    let Some((terraform, version)) =
        modern_terraform("cloud::the_cloud_block_plans_and_applies_with_run_variables")
    else {
        return;
    };
    let w = World::new();
    let h = setup(&w, &terraform);
    let dir = cloud_config(&w, &h, "cloud-laptop", r#"name = "cloudy""#);
    let tf = |args: &[&str]| laptop_terraform_with(&terraform, &w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    let init = tf(&["init", "-input=false"]);
    init.success();
    assert!(init.stdout.contains("HCP Terraform has been successfully initialized"), "{init}");
    // The cloud block created the workspace and pinned it to its own version.
    let shown = w.tern_https(&h, &["workspace", "show", "cloudy"]);
    shown.success();
    assert!(shown.stdout.contains(&version), "{shown}");

    // -var reaches the plan: a run variable, not silently dropped.
    let plan = tf(&["plan", "-input=false", "-var", "greeting=hello"]);
    plan.success();
    assert!(plan.stdout.contains("Running plan in HCP Terraform"), "{plan}");
    assert!(plan.stdout.contains("\"greeting\" = \"hello\""), "{plan}");
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{plan}");

    let apply = tf(&["apply", "-input=false", "-auto-approve", "-var", "greeting=hello"]);
    apply.success();
    assert!(apply.stdout.contains("Apply complete! Resources: 1 added"), "{apply}");
    assert!(
        apply.stdout.contains(&format!("[tern] Terraform {version}")),
        "run by the pinned version: {apply}"
    );
    let outputs = tf(&["output", "-json"]);
    outputs.success();
    let outputs: Value = serde_json::from_str(&outputs.stdout).unwrap();
    assert_eq!(outputs["greeting"]["value"], "hello");
    let state = w.tern_https(&h, &["state", "pull", "--workspace", "cloudy"]);
    state.success();
    assert!(state.stdout.contains("\"hello\""), "{state}");
}

#[test]
fn the_remote_backend_of_current_terraform_plans_and_applies() {
    let Some((terraform, _)) =
        modern_terraform("cloud::the_remote_backend_of_current_terraform_plans_and_applies")
    else {
        return;
    };
    let w = World::new();
    let h = setup(&w, &terraform);
    let created = w.tern_https(&h, &["workspace", "create", "laptop"]);
    created.success();
    let dir = w.remote_config(&h, "remote-laptop", "acme", "laptop", BODY);
    let tf = |args: &[&str]| laptop_terraform_with(&terraform, &w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    tf(&["init", "-input=false"]).success();
    let plan = tf(&["plan", "-input=false"]);
    plan.success();
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{plan}");
    let apply = tf(&["apply", "-input=false", "-auto-approve"]);
    apply.success();
    assert!(apply.stdout.contains("Apply complete! Resources: 1 added"), "{apply}");
}

/// `terraform plan -out` with the cloud block saves the plan on the server (the run stops at
/// `planned_and_saved`, whatever auto-apply says); `terraform show` shows it, and `terraform apply`
/// of the file applies exactly that run.
#[test]
fn the_cloud_block_saves_a_plan_and_applies_it_later() {
    saved_plan("cloud::the_cloud_block_saves_a_plan_and_applies_it_later", None);
}

/// The same on PostgreSQL: the plan file, the sealed JSON plan and its counts, the structured
/// plan and the run variables all go through the other backend's queries.
#[test]
fn the_cloud_block_saves_a_plan_and_applies_it_later_on_postgres() {
    let db = tern_testkit::db::TestDatabase::postgres();
    saved_plan("cloud::the_cloud_block_saves_a_plan_and_applies_it_later_on_postgres", Some(&db.url));
}

fn saved_plan(test: &str, database_url: Option<&str>) {
    let Some((terraform, _)) = modern_terraform(test) else {
        return;
    };
    let w = World::new();
    let h = setup_on(&w, &terraform, database_url);
    let dir = cloud_config(&w, &h, "saved-plan", r#"name = "saved""#);
    let tf = |args: &[&str]| laptop_terraform_with(&terraform, &w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    tf(&["init", "-input=false"]).success();
    let plan = tf(&["plan", "-input=false", "-var", "greeting=saved", "-out=saved.tfplan"]);
    plan.success();
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{plan}");
    let runs = w.tern_https(&h, &["run", "list", "--workspace", "saved"]);
    assert!(runs.stdout.lines().next().unwrap_or("").contains("planned_and_saved"), "{runs}");
    let show = tf(&["show", "saved.tfplan"]);
    show.success();
    assert!(show.stdout.contains("null_resource.greeting"), "{show}");
    let shown = tf(&["show", "-json", "saved.tfplan"]);
    shown.success();
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["resource_changes"][0]["address"], "null_resource.greeting", "{shown}");
    let apply = tf(&["apply", "-input=false", "saved.tfplan"]);
    apply.success();
    assert!(apply.stdout.contains("Apply complete! Resources: 1 added"), "{apply}");
    let outputs = tf(&["output", "-json"]);
    outputs.success();
    let outputs: Value = serde_json::from_str(&outputs.stdout).unwrap();
    assert_eq!(outputs["greeting"]["value"], "saved");
}

/// Local execution with the cloud block: Terraform runs here and writes state versions through
/// go-tfe's current path: the version announced without its state, the state then PUT to the
/// signed upload URL (and the JSON state to the JSON one).
#[test]
fn the_cloud_block_in_local_execution_keeps_its_state_in_tern() {
    local_execution("cloud::the_cloud_block_in_local_execution_keeps_its_state_in_tern", None);
}

/// The same on PostgreSQL: pending state versions and their single-use upload URLs.
#[test]
fn the_cloud_block_in_local_execution_keeps_its_state_in_tern_on_postgres() {
    let db = tern_testkit::db::TestDatabase::postgres();
    local_execution(
        "cloud::the_cloud_block_in_local_execution_keeps_its_state_in_tern_on_postgres",
        Some(&db.url),
    );
}

fn local_execution(test: &str, database_url: Option<&str>) {
    let Some((terraform, _)) = modern_terraform(test) else {
        return;
    };
    let w = World::new();
    let h = setup_on(&w, &terraform, database_url);
    w.tern_https(&h, &["workspace", "create", "here", "--execution-mode", "local"]).success();
    let dir = cloud_config(&w, &h, "local-cloud", r#"name = "here""#);
    let tf = |args: &[&str]| laptop_terraform_with(&terraform, &w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    tf(&["init", "-input=false"]).success();
    let apply = tf(&["apply", "-input=false", "-auto-approve", "-var", "greeting=local"]);
    apply.success();
    assert!(apply.stdout.contains("Apply complete! Resources: 1 added"), "{apply}");
    assert!(!apply.stdout.contains("Running apply in HCP Terraform"), "ran here: {apply}");
    let pulled = w.tern_https(&h, &["state", "pull", "--workspace", "here"]);
    pulled.success();
    let state: Value = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(state["outputs"]["greeting"]["value"], "local");
    let shown = w.tern_https(&h, &["workspace", "show", "here"]);
    shown.success();
}

/// The cloud block's `workspaces { tags = [...] }`: `terraform workspace new` creates a tagged
/// workspace, `list` shows the tagged ones only, `select` and `delete` work, and an untagged
/// workspace stays out of it.
#[test]
fn tagged_workspaces_through_terraform_workspace_commands() {
    let Some((terraform, _)) =
        modern_terraform("cloud::tagged_workspaces_through_terraform_workspace_commands")
    else {
        return;
    };
    let w = World::new();
    let h = setup(&w, &terraform);
    w.tern_https(&h, &["workspace", "create", "app-dev", "--tag", "app", "--tag", "team:web"]).success();
    w.tern_https(&h, &["workspace", "create", "unrelated"]).success();
    let shown = w.tern_https(&h, &["workspace", "show", "app-dev"]);
    assert!(shown.stdout.contains("tags:              app, team:web"), "{shown}");
    let dir = cloud_config(&w, &h, "tagged", r#"tags = ["app"]"#);
    let tf = |args: &[&str]| laptop_terraform_with(&terraform, &w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    tf(&["init", "-input=false"]).success();
    let new = tf(&["workspace", "new", "app-prod"]);
    new.success();
    let listed = tf(&["workspace", "list"]);
    listed.success();
    let names: Vec<&str> =
        listed.stdout.lines().map(|l| l.trim_start_matches('*').trim()).filter(|l| !l.is_empty()).collect();
    assert_eq!(names, ["app-dev", "app-prod"], "{listed}");
    let prod = w.tern_https(&h, &["workspace", "show", "app-prod"]);
    assert!(prod.stdout.contains("tags:              app"), "created with the block's tags: {prod}");
    tf(&["workspace", "select", "app-dev"]).success();
    let plan = tf(&["plan", "-input=false"]);
    plan.success();
    assert!(plan.stdout.contains("/app/acme/app-dev/runs/"), "planned in app-dev: {plan}");
    let deleted = tf(&["workspace", "delete", "app-prod"]);
    deleted.success();
    let gone = w.tern_https(&h, &["workspace", "show", "app-prod"]);
    assert_ne!(gone.code(), 0, "deleted in tern: {gone}");
}
