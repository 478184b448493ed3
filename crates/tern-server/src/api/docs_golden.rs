//! Golden documents: each resource as the API renders it, from fixed records, compared with
//! `tests/golden/documents/*.json` (as JSON values: key order is not part of the shape).
//! The goldens were written by the `json!` renderers these types replaced, so they also prove
//! the move to typed resources changed no document.
//! `TERN_UPDATE_GOLDEN=1 cargo test -p tern-server --lib golden` rewrites them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::Value;
use tern_store::{
    Category, ConfigurationVersion, ExecutionMode, Organization, PhaseStatus, Project, ResourceCounts, Run,
    RunOptions, RunStatus, StateVersion, Variable, VariableOwner, VariableSet, Workspace,
};
use tern_types::TerraformVersion;

use super::docs;

const T0: i64 = 1_780_000_000;

/// `rendered` matches the golden file, and reads back (through the same shared type the CLI
/// and tests use) into exactly itself.
fn check<T: serde::Serialize + serde::de::DeserializeOwned>(name: &str, typed: &T) {
    let rendered = &serde_json::to_value(typed).unwrap();
    let read_back: T = serde_json::from_value(rendered.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&read_back).unwrap(), rendered, "{name} does not read back as itself");
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/documents/{name}.json"));
    let text = serde_json::to_string_pretty(rendered).unwrap() + "\n";
    if std::env::var_os("TERN_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (TERN_UPDATE_GOLDEN=1 writes it)", path.display()));
    let golden: Value = serde_json::from_str(&golden).unwrap();
    assert_eq!(&golden, rendered, "{name} differs from {}; rendered:\n{text}", path.display());
}

fn workspace() -> Workspace {
    Workspace {
        id: "ws-abc".into(),
        organization_id: "org-1".into(),
        organization: "acme".into(),
        project_id: "prj-1".into(),
        project: "Default Project".into(),
        name: "network".into(),
        description: "the VPCs".into(),
        terraform_version: TerraformVersion::parse("1.11.4").unwrap(),
        working_directory: "envs/prod".into(),
        auto_apply: false,
        execution_mode: ExecutionMode::Agent,
        agent_pool_id: Some("apool-1".into()),
        plan_timeout_s: 3600,
        apply_timeout_s: 7200,
        locked: true,
        active_run_id: Some("run-2".into()),
        latest_run_id: Some("run-3".into()),
        current_state_version_id: None,
        created_at: T0,
        updated_at: T0 + 60,
        tag_names: vec!["env:prod".into(), "network".into()],
    }
}

fn run() -> Run {
    let mut status_timestamps = BTreeMap::new();
    for (k, v) in [
        ("plan-queued-at", 1),
        ("planning-at", 2),
        ("planned-at", 30),
        ("plan:queued-at", 1),
        ("plan:started-at", 2),
        ("plan:finished-at", 30),
    ] {
        status_timestamps.insert(k.to_owned(), T0 + v);
    }
    Run {
        id: "run-xyz".into(),
        workspace_id: "ws-abc".into(),
        configuration_version_id: "cv-1".into(),
        status: RunStatus::Planned,
        message: "Queued manually".into(),
        is_destroy: false,
        auto_apply: false,
        plan_only: false,
        has_changes: Some(true),
        error_message: None,
        plan_status: PhaseStatus::Finished,
        apply_status: PhaseStatus::Pending,
        terraform_version: Some("1.11.4".into()),
        created_by: "at-1".into(),
        created_at: T0,
        status_timestamps,
        options: RunOptions { target_addrs: vec!["null_resource.a".into()], ..RunOptions::default() },
        resource_counts: Some(ResourceCounts { additions: 2, changes: 1, destructions: 0, imports: 0 }),
    }
}

#[test]
fn golden_documents() {
    let org = Organization {
        id: "org-1".into(),
        name: "acme".into(),
        email: "ops@acme.test".into(),
        created_at: T0,
        grants_version: 1,
    };
    check("organization", &docs::organization(&org));
    let project = Project {
        id: "prj-1".into(),
        organization_id: "org-1".into(),
        organization: "acme".into(),
        name: "Default Project".into(),
        description: String::new(),
        created_at: T0,
    };
    check("project", &docs::project(&project));
    check("workspace", &docs::workspace(&workspace()));
    let var = Variable {
        id: "var-1".into(),
        owner: VariableOwner::Workspace("ws-abc".into()),
        key: "region".into(),
        value: Some("eu-west-1".into()),
        description: "where".into(),
        category: Category::Terraform,
        hcl: false,
        sensitive: false,
        created_at: T0,
    };
    check("variable", &docs::variable(&var));
    let secret = Variable {
        id: "var-2".into(),
        owner: VariableOwner::VariableSet("varset-1".into()),
        key: "TOKEN".into(),
        value: None,
        description: String::new(),
        category: Category::Env,
        hcl: false,
        sensitive: true,
        created_at: T0,
    };
    check("variable-sensitive", &docs::variable(&secret));
    let set = VariableSet {
        id: "varset-1".into(),
        organization_id: "org-1".into(),
        name: "aws".into(),
        description: "AWS credentials".into(),
        global: false,
        workspace_ids: vec!["ws-abc".into()],
        project_ids: vec!["prj-1".into()],
        created_at: T0,
    };
    check("variable-set", &docs::variable_set(&set, &[secret]));
    let cv = ConfigurationVersion {
        id: "cv-1".into(),
        workspace_id: "ws-abc".into(),
        status: "pending".into(),
        error_message: None,
        speculative: false,
        auto_queue_runs: true,
        created_at: T0,
        uploaded_at: None,
    };
    check(
        "configuration-version",
        &docs::configuration_version(
            &cv,
            Some("https://tern.test/api/v2/configuration-versions/cv-1/upload/x".into()),
        ),
    );
    check("run", &docs::run(&run(), Some("waiting for the workspace")));
    check("plan", &docs::plan(&run(), "https://tern.test/api/v2/plans/plan-xyz/logs/sig"));
    check("apply", &docs::apply(&run(), "https://tern.test/api/v2/applies/apply-xyz/logs/sig"));
    let sv = StateVersion {
        id: "sv-1".into(),
        workspace_id: "ws-abc".into(),
        run_id: Some("run-xyz".into()),
        serial: 4,
        lineage: "7b1c".into(),
        md5: "0123456789abcdef0123456789abcdef".into(),
        size: 1234,
        created_at: T0,
        terraform_version: Some("1.11.4".into()),
    };
    check("state-version", &docs::state_version(&sv, "https://tern.test"));
    let session = crate::app::users::ListedSession {
        session: tern_store::Session {
            id: "ses-1".into(),
            user_id: "user-1".into(),
            created_at: T0,
            last_seen_at: T0 + 60,
            expires_at: T0 + 12 * 3600,
        },
        current: true,
    };
    check("session", &super::users::session_doc("user-1", &session, "/api/v2/account/sessions"));
}
