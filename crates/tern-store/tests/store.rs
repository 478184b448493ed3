//! The store's contract, run against both backends: every test exists as `<name>::sqlite` and
//! `<name>::postgres` (PostgreSQL at 127.0.0.1:5432, or `TERN_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use tern_store::*;
use tern_testkit::db::TestDatabase;
use tern_types::{FixedClock, RunPhase, SecretString};

struct Fixture {
    store: Store,
    clock: Arc<FixedClock>,
    key: EncryptionKey,
    db: TestDatabase,
}

async fn fixture(db: TestDatabase) -> Fixture {
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let key = EncryptionKey::generate().unwrap();
    let store = Store::open(&db.url, &key, clock.clone()).await.unwrap();
    Fixture { store, clock, key, db }
}

macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::fixture(super::TestDatabase::sqlite()).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::fixture(super::TestDatabase::postgres()).await).await;
            }
        }
    )+};
}

both!(
    organizations_start_with_a_default_project,
    workspaces_are_unique_validated_and_paged,
    sensitive_values_are_sealed_and_only_jobs_read_them,
    variable_sets_apply_with_workspace_precedence,
    a_run_goes_through_plan_and_apply,
    runs_of_a_workspace_take_turns,
    each_job_is_claimed_exactly_once,
    dead_agents_leave_errored_runs,
    cancel_and_discard_follow_the_state_machine,
    state_versions_move_forward_only,
    tokens_are_hashed_and_expire,
    reopening_checks_migrations_and_the_key,
    managed_keys_rotate_in_order,
);

async fn org(f: &Fixture, name: &str) -> Organization {
    f.store.create_organization(name, "ops@example.com").await.unwrap()
}

async fn workspace(f: &Fixture, org: &Organization, name: &str) -> Workspace {
    f.store
        .create_workspace(&org.id, &WorkspaceSettings { name: Some(name.into()), ..Default::default() })
        .await
        .unwrap()
}

async fn uploaded_cv(f: &Fixture, ws: &Workspace) -> ConfigurationVersion {
    let cv = f.store.create_configuration_version(&ws.id, false, false).await.unwrap();
    f.store.upload_configuration(&cv.id, b"tarball").await.unwrap()
}

async fn organizations_start_with_a_default_project(f: Fixture) {
    let o = org(&f, "acme").await;
    assert!(o.id.starts_with("org-"));
    let projects = f.store.list_projects(&o.id, Page::default()).await.unwrap();
    assert_eq!(projects.items.len(), 1);
    assert_eq!(projects.items[0].name, "Default Project");
    let err = f.store.create_organization("acme", "x@example.com").await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("\"acme\" already exists")), "{err}");
    let err = f.store.create_organization("ac:me", "x@example.com").await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(m) if m.contains("':'")), "{err}");
    let p = f.store.create_project(&o.id, "Team Blue").await.unwrap();
    assert_eq!(f.store.project_by_name(&o.id, "Team Blue").await.unwrap(), p);
    assert!(matches!(f.store.organization("nope").await, Err(StoreError::NotFound { .. })));
    org(&f, "beta").await;
    let all = f.store.list_organizations(None, Page { number: 1, size: 1 }).await.unwrap();
    assert_eq!((all.total, all.items[0].name.as_str()), (2, "acme"));
    let only = f.store.list_organizations(Some(&o.id), Page::default()).await.unwrap();
    assert_eq!(only.total, 1);
}

async fn workspaces_are_unique_validated_and_paged(f: Fixture) {
    let o = org(&f, "acme").await;
    for i in 0..25 {
        workspace(&f, &o, &format!("ws-{i:02}")).await;
    }
    let page2 = f.store.list_workspaces(&o.id, None, Page { number: 2, size: 10 }).await.unwrap();
    assert_eq!(page2.total, 25);
    assert_eq!(page2.items.first().unwrap().name, "ws-10");
    let found = f.store.list_workspaces(&o.id, Some("-2"), Page::default()).await.unwrap();
    assert_eq!(found.total, 5, "ws-20..ws-24");
    // `_` is not a wildcard in search.
    assert_eq!(f.store.list_workspaces(&o.id, Some("_"), Page::default()).await.unwrap().total, 0);
    let ws = f.store.workspace_by_name(&o.id, "ws-00").await.unwrap();
    assert_eq!(
        (ws.project.as_str(), ws.terraform_bin.as_str(), ws.plan_timeout_s),
        ("Default Project", "terraform", 7200)
    );
    let err = f
        .store
        .create_workspace(&o.id, &WorkspaceSettings { name: Some("ws-00".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    for bad in [
        WorkspaceSettings {
            name: Some("x".into()),
            working_directory: Some("../up".into()),
            ..Default::default()
        },
        WorkspaceSettings { name: Some("x".into()), plan_timeout_s: Some(5), ..Default::default() },
        WorkspaceSettings { name: Some("bad name".into()), ..Default::default() },
        WorkspaceSettings { name: None, ..Default::default() },
    ] {
        assert!(
            matches!(f.store.create_workspace(&o.id, &bad).await, Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
    }
    let updated = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings {
                terraform_bin: Some("tofu".into()),
                auto_apply: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(updated.auto_apply && updated.terraform_bin == "tofu");
    assert!(f.store.set_workspace_lock(&ws.id, true).await.unwrap().locked);
    assert!(matches!(f.store.set_workspace_lock(&ws.id, true).await, Err(StoreError::Conflict(_))));
    f.store.delete_workspace(&ws.id).await.unwrap();
    assert!(matches!(f.store.workspace(&ws.id).await, Err(StoreError::NotFound { .. })));
}

async fn sensitive_values_are_sealed_and_only_jobs_read_them(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    let owner = VariableOwner::Workspace(ws.id.clone());
    let secret = "s3cr3t-value-that-must-not-leak";
    let v = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("DB_PASSWORD".into()),
                value: Some(SecretString::new(secret.into())),
                category: Some(Category::Env),
                sensitive: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(v.value, None);
    assert!(!format!("{v:?}").contains(secret));
    let listed = f.store.list_variables(&owner).await.unwrap();
    assert!(!format!("{listed:?}").contains(secret));
    let job = f.store.job_variables(&ws.id).await.unwrap();
    assert_eq!(job[0].value.expose_secret(), secret);
    assert!(!format!("{job:?}").contains(secret));
    let err = f
        .store
        .update_variable(&v.id, &VariableInput { sensitive: Some(false), ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be made non-sensitive"), "{err}");
    // A plain variable that becomes sensitive keeps its value, sealed.
    let plain = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("region".into()),
                value: Some(SecretString::new("eu-west-1".into())),
                category: Some(Category::Terraform),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(plain.value.as_deref(), Some("eu-west-1"));
    let sealed = f
        .store
        .update_variable(&plain.id, &VariableInput { sensitive: Some(true), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(sealed.value, None);
    let job = f.store.job_variables(&ws.id).await.unwrap();
    assert!(job.iter().any(|v| v.key == "region" && v.value.expose_secret() == "eu-west-1"));
    for (key, category) in [("1BAD", Category::Env), ("has-dash", Category::Env), ("", Category::Terraform)] {
        let err = f
            .store
            .create_variable(
                &owner,
                &VariableInput { key: Some(key.into()), category: Some(category), ..Default::default() },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{key}: {err}");
    }
    let dup = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("DB_PASSWORD".into()),
                category: Some(Category::Env),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)));
    // Same key, other category: allowed.
    f.store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("DB_PASSWORD".into()),
                category: Some(Category::Terraform),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    f.store.delete_variable(&v.id).await.unwrap();
    assert!(matches!(f.store.delete_variable(&v.id).await, Err(StoreError::NotFound { .. })));
}

async fn variable_sets_apply_with_workspace_precedence(f: Fixture) {
    let o = org(&f, "acme").await;
    let a = workspace(&f, &o, "a").await;
    let b = workspace(&f, &o, "b").await;
    let global = f.store.create_variable_set(&o.id, "everywhere", "", true).await.unwrap();
    let attached = f.store.create_variable_set(&o.id, "aws", "", false).await.unwrap();
    let set = |set: &VariableSet, key: &str, value: &str| {
        let owner = VariableOwner::VariableSet(set.id.clone());
        let input = VariableInput {
            key: Some(key.into()),
            value: Some(SecretString::new(value.into())),
            category: Some(Category::Env),
            ..Default::default()
        };
        let store = f.store.clone();
        async move { store.create_variable(&owner, &input).await.unwrap() }
    };
    set(&global, "TFC_AWS_RUN_ROLE_ARN", "global-role").await;
    set(&global, "ONLY_GLOBAL", "g").await;
    set(&attached, "TFC_AWS_RUN_ROLE_ARN", "aws-role").await;
    set(&attached, "TFC_AWS_PROVIDER_AUTH", "true").await;
    f.store.attach_variable_set(&attached.id, std::slice::from_ref(&a.id)).await.unwrap();
    f.store
        .create_variable(
            &VariableOwner::Workspace(a.id.clone()),
            &VariableInput {
                key: Some("TFC_AWS_RUN_ROLE_ARN".into()),
                value: Some(SecretString::new("workspace-role".into())),
                category: Some(Category::Env),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let value = |vars: &[JobVariable], key: &str| {
        vars.iter().find(|v| v.key == key).map(|v| v.value.expose_secret().to_owned())
    };
    let va = f.store.job_variables(&a.id).await.unwrap();
    assert_eq!(value(&va, "TFC_AWS_RUN_ROLE_ARN").as_deref(), Some("workspace-role"));
    assert_eq!(value(&va, "TFC_AWS_PROVIDER_AUTH").as_deref(), Some("true"));
    assert_eq!(value(&va, "ONLY_GLOBAL").as_deref(), Some("g"));
    assert_eq!(va.iter().filter(|v| v.key == "TFC_AWS_RUN_ROLE_ARN").count(), 1);
    let vb = f.store.job_variables(&b.id).await.unwrap();
    // "aws" sorts before "everywhere", but b has only the global set.
    assert_eq!(value(&vb, "TFC_AWS_RUN_ROLE_ARN").as_deref(), Some("global-role"));
    assert_eq!(value(&vb, "TFC_AWS_PROVIDER_AUTH"), None);
    let other = org(&f, "other").await;
    let foreign = workspace(&f, &other, "x").await;
    assert!(f.store.attach_variable_set(&attached.id, std::slice::from_ref(&foreign.id)).await.is_err());
    assert_eq!(f.store.job_variables(&foreign.id).await.unwrap().len(), 0, "sets never cross organizations");
    let detached = f.store.detach_variable_set(&attached.id, std::slice::from_ref(&a.id)).await.unwrap();
    assert!(detached.workspace_ids.is_empty());
    assert_eq!(f.store.list_variable_sets(&o.id).await.unwrap().len(), 2);
}

async fn a_run_goes_through_plan_and_apply(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    let err = f.store.create_run(&ws.id, &RunInput::default(), "at-x").await.unwrap_err();
    assert!(err.to_string().contains("no uploaded configuration"), "{err}");
    let cv = uploaded_cv(&f, &ws).await;
    assert_eq!(f.store.configuration_tarball(&cv.id).await.unwrap(), b"tarball");
    let run = f.store.create_run(&ws.id, &RunInput::default(), "at-x").await.unwrap();
    assert_eq!(
        (run.status, run.plan_status, run.configuration_version_id.as_str()),
        (RunStatus::Pending, PhaseStatus::Queued, cv.id.as_str())
    );
    let job = f.store.claim_job("agent-1", None, 30).await.unwrap().unwrap();
    assert_eq!(
        (job.phase, job.run_id.as_str(), job.agent.as_deref()),
        (RunPhase::Plan, run.id.as_str(), Some("agent-1"))
    );
    assert_eq!(f.store.run(&run.id).await.unwrap().status, RunStatus::Planning);
    assert_eq!(f.store.workspace(&ws.id).await.unwrap().active_run_id.as_deref(), Some(run.id.as_str()));
    assert!(f.store.claim_job("agent-2", None, 30).await.unwrap().is_none());
    f.store.append_log(&run.id, RunPhase::Plan, b"Terraform will perform ").await.unwrap();
    f.store.append_log(&run.id, RunPhase::Plan, b"the following actions\n").await.unwrap();
    assert_eq!(
        f.store.log(&run.id, RunPhase::Plan).await.unwrap(),
        b"Terraform will perform the following actions\n"
    );
    assert!(!f.store.heartbeat(&job.id, 30).await.unwrap());
    f.store.set_plan_file(&run.id, b"planfile with a sensitive value").await.unwrap();
    assert_eq!(f.store.plan_file(&run.id).await.unwrap(), b"planfile with a sensitive value");
    let dump = format!("{:?}", f.store.dump().await.unwrap());
    let hex: String = b"planfile".iter().map(|c| format!("{c:02X}")).collect();
    assert!(!dump.contains(&hex), "saved plans are sealed at rest");
    let planned = f.store.finish_job(&job.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert_eq!(
        (planned.status, planned.plan_status, planned.has_changes),
        (RunStatus::Planned, PhaseStatus::Finished, Some(true))
    );
    assert!(matches!(f.store.finish_job(&job.id, &JobOutcome::Canceled).await, Err(StoreError::Conflict(_))));
    assert!(f.store.claim_job("agent-1", None, 30).await.unwrap().is_none(), "nothing to do until confirmed");
    let confirmed = f.store.apply_run(&run.id).await.unwrap();
    assert_eq!((confirmed.status, confirmed.apply_status), (RunStatus::Confirmed, PhaseStatus::Queued));
    let apply = f.store.claim_job("agent-2", Some(&o.id), 30).await.unwrap().unwrap();
    assert_eq!(apply.phase, RunPhase::Apply);
    assert_eq!(f.store.plan_file(&run.id).await.unwrap(), b"planfile with a sensitive value");
    let applied = f.store.finish_job(&apply.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert_eq!((applied.status, applied.apply_status), (RunStatus::Applied, PhaseStatus::Finished));
    assert!(
        applied.status_timestamps.contains_key("applied-at")
            && applied.status_timestamps.contains_key("planning-at")
    );
    assert_eq!(f.store.workspace(&ws.id).await.unwrap().active_run_id, None);
    // Auto-apply and no-change plans.
    let auto = f
        .store
        .create_run(&ws.id, &RunInput { auto_apply: Some(true), ..Default::default() }, "at-x")
        .await
        .unwrap();
    let j = f.store.claim_job("a", None, 30).await.unwrap().unwrap();
    assert_eq!(
        f.store.finish_job(&j.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap().status,
        RunStatus::Confirmed
    );
    let j = f.store.claim_job("a", None, 30).await.unwrap().unwrap();
    assert_eq!((j.run_id.as_str(), j.phase), (auto.id.as_str(), RunPhase::Apply));
    f.store.finish_job(&j.id, &JobOutcome::Failed("provider crashed".into())).await.unwrap();
    let failed = f.store.run(&auto.id).await.unwrap();
    assert_eq!(
        (failed.status, failed.error_message.as_deref()),
        (RunStatus::Errored, Some("provider crashed"))
    );
    f.store.create_run(&ws.id, &RunInput::default(), "at-x").await.unwrap();
    let j = f.store.claim_job("a", None, 30).await.unwrap().unwrap();
    assert_eq!(
        f.store.finish_job(&j.id, &JobOutcome::Succeeded { has_changes: false }).await.unwrap().status,
        RunStatus::PlannedAndFinished
    );
    // Another organization's agent sees nothing of acme.
    f.store.create_run(&ws.id, &RunInput::default(), "at-x").await.unwrap();
    let other = org(&f, "other").await;
    assert!(f.store.claim_job("b", Some(&other.id), 30).await.unwrap().is_none());
    assert_eq!(f.store.list_runs(&ws.id, Page::default()).await.unwrap().total, 4);
}

async fn runs_of_a_workspace_take_turns(f: Fixture) {
    let o = org(&f, "acme").await;
    let a = workspace(&f, &o, "a").await;
    let b = workspace(&f, &o, "b").await;
    uploaded_cv(&f, &a).await;
    uploaded_cv(&f, &b).await;
    let a1 = f.store.create_run(&a.id, &RunInput::default(), "t").await.unwrap();
    let a2 = f.store.create_run(&a.id, &RunInput::default(), "t").await.unwrap();
    let b1 = f.store.create_run(&b.id, &RunInput::default(), "t").await.unwrap();
    let j1 = f.store.claim_job("x", None, 30).await.unwrap().unwrap();
    let j2 = f.store.claim_job("x", None, 30).await.unwrap().unwrap();
    assert_eq!((j1.run_id.as_str(), j2.run_id.as_str()), (a1.id.as_str(), b1.id.as_str()), "a2 waits for a1");
    assert!(f.store.claim_job("x", None, 30).await.unwrap().is_none());
    f.store.finish_job(&j1.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert!(f.store.claim_job("x", None, 30).await.unwrap().is_none(), "a planned run holds its workspace");
    f.store.discard_run(&a1.id).await.unwrap();
    let j3 = f.store.claim_job("x", None, 30).await.unwrap().unwrap();
    assert_eq!(j3.run_id, a2.id);
    // A plan-only run neither waits for the workspace nor takes it.
    let spec =
        f.store.create_run(&a.id, &RunInput { plan_only: true, ..Default::default() }, "t").await.unwrap();
    let j4 = f.store.claim_job("x", None, 30).await.unwrap().unwrap();
    assert_eq!(j4.run_id, spec.id);
    assert_eq!(f.store.workspace(&a.id).await.unwrap().active_run_id.as_deref(), Some(a2.id.as_str()));
    f.store.finish_job(&j4.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert_eq!(f.store.run(&spec.id).await.unwrap().status, RunStatus::PlannedAndFinished);
    assert_eq!(f.store.workspace(&a.id).await.unwrap().active_run_id.as_deref(), Some(a2.id.as_str()));
}

async fn each_job_is_claimed_exactly_once(f: Fixture) {
    let o = org(&f, "acme").await;
    let mut runs = Vec::new();
    for i in 0..12 {
        let ws = workspace(&f, &o, &format!("w{i}")).await;
        uploaded_cv(&f, &ws).await;
        runs.push(f.store.create_run(&ws.id, &RunInput::default(), "t").await.unwrap().id);
    }
    let mut tasks = Vec::new();
    for agent in 0..6 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..40 {
                match store.claim_job(&format!("agent-{agent}"), None, 30).await {
                    Ok(Some(job)) => mine.push(job.run_id),
                    Ok(None) => tokio::time::sleep(Duration::from_millis(2)).await,
                    Err(e) => panic!("claim failed: {e}"),
                }
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    claimed.sort();
    runs.sort();
    assert_eq!(claimed, runs, "every run claimed once, none twice");
}

async fn dead_agents_leave_errored_runs(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    uploaded_cv(&f, &ws).await;
    let r1 = f.store.create_run(&ws.id, &RunInput::default(), "t").await.unwrap();
    let j = f.store.claim_job("doomed", None, 30).await.unwrap().unwrap();
    let (_, job_token) =
        f.store.create_token(TokenKind::Job, Some(&o.id), Some(&j.id), "job", None).await.unwrap();
    f.clock.advance(Duration::from_secs(20));
    assert!(f.store.expire_jobs().await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(11));
    let expired = f.store.expire_jobs().await.unwrap();
    assert_eq!(expired.len(), 1);
    let run = f.store.run(&r1.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Errored);
    assert!(run.error_message.unwrap().contains("(doomed) stopped reporting"));
    assert!(f.store.authenticate(job_token.expose_secret()).await.unwrap().is_none(), "job token revoked");
    assert!(matches!(f.store.heartbeat(&j.id, 30).await, Err(StoreError::Conflict(_))));
    // A restarted agent errors what it held.
    let r2 = f.store.create_run(&ws.id, &RunInput::default(), "t").await.unwrap();
    f.store.claim_job("local@host", None, 30).await.unwrap().unwrap();
    let abandoned =
        f.store.abandon_agent_jobs("local@host", None, "tern restarted while this phase ran").await.unwrap();
    assert_eq!(abandoned[0].id, r2.id);
    assert_eq!(
        f.store.run(&r2.id).await.unwrap().error_message.as_deref(),
        Some("tern restarted while this phase ran")
    );
    assert_eq!(f.store.workspace(&ws.id).await.unwrap().active_run_id, None);
}

async fn cancel_and_discard_follow_the_state_machine(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    uploaded_cv(&f, &ws).await;
    let r = f.store.create_run(&ws.id, &RunInput::default(), "t").await.unwrap();
    assert!(
        matches!(f.store.discard_run(&r.id).await, Err(StoreError::Conflict(m)) if m.contains("is pending"))
    );
    let canceled = f.store.cancel_run(&r.id, "canceled by admin").await.unwrap();
    assert_eq!((canceled.status, canceled.plan_status), (RunStatus::Canceled, PhaseStatus::Canceled));
    assert!(f.store.claim_job("a", None, 30).await.unwrap().is_none());
    assert!(matches!(f.store.cancel_run(&r.id, "again").await, Err(StoreError::Conflict(_))));
    // A running phase is asked to stop; the run is canceled when the agent reports.
    let r = f.store.create_run(&ws.id, &RunInput::default(), "t").await.unwrap();
    let j = f.store.claim_job("a", None, 30).await.unwrap().unwrap();
    assert_eq!(f.store.cancel_run(&r.id, "stop").await.unwrap().status, RunStatus::Planning);
    assert!(f.store.heartbeat(&j.id, 30).await.unwrap(), "the agent learns of the cancel");
    let done = f.store.finish_job(&j.id, &JobOutcome::Failed("interrupted".into())).await.unwrap();
    assert_eq!(done.status, RunStatus::Canceled);
    // Locked workspaces start no runs.
    f.store.set_workspace_lock(&ws.id, true).await.unwrap();
    assert!(
        matches!(f.store.create_run(&ws.id, &RunInput::default(), "t").await, Err(StoreError::Conflict(m)) if m.contains("locked"))
    );
}

async fn state_versions_move_forward_only(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    assert!(matches!(f.store.current_state_version(&ws.id).await, Err(StoreError::NotFound { .. })));
    let s1 =
        br#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"L1","outputs":{},"resources":[]}"#;
    let v1 = f.store.create_state_version(&ws.id, None, s1).await.unwrap();
    assert_eq!((v1.serial, v1.lineage.as_str(), v1.size), (1, "L1", i64::try_from(s1.len()).unwrap()));
    assert_eq!(v1.md5, md5_hex(s1));
    let stale = f.store.create_state_version(&ws.id, None, s1).await.unwrap_err();
    assert!(stale.to_string().contains("not newer"), "{stale}");
    let other = f
        .store
        .create_state_version(&ws.id, None, br#"{"version":4,"serial":9,"lineage":"L2"}"#)
        .await
        .unwrap_err();
    assert!(other.to_string().contains("lineage"), "{other}");
    let s2 = br#"{"version":4,"serial":2,"lineage":"L1","outputs":{"db":{"value":"state-secret-7f3a","sensitive":true}}}"#;
    let v2 = f.store.create_state_version(&ws.id, Some("run-x"), s2).await.unwrap();
    assert_eq!(f.store.current_state_version(&ws.id).await.unwrap(), v2);
    assert_eq!(f.store.state_bytes(&v2.id).await.unwrap(), s2);
    assert_eq!(v2.size, i64::try_from(s2.len()).unwrap(), "the size is the state's, not the ciphertext's");
    // Sealed at rest: neither the value nor the state's text is in any row.
    let dump = format!("{:?}", f.store.dump().await.unwrap());
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02X}")).collect::<String>();
    for needle in ["state-secret-7f3a", "lineage"] {
        assert!(
            !dump.contains(needle) && !dump.contains(&hex(needle.as_bytes())),
            "{needle} stored in the clear"
        );
    }
    let list = f.store.list_state_versions(&ws.id, Page::default()).await.unwrap();
    assert_eq!(list.items.iter().map(|v| v.serial).collect::<Vec<_>>(), [2, 1]);
    assert!(matches!(f.store.create_state_version(&ws.id, None, b"{}").await, Err(StoreError::Invalid(_))));
}

async fn tokens_are_hashed_and_expire(f: Fixture) {
    let o = org(&f, "acme").await;
    let (t, secret) = f
        .store
        .create_token(TokenKind::Organization, Some(&o.id), None, "ci", Some(1_800_000_100))
        .await
        .unwrap();
    assert!(secret.expose_secret().starts_with("tern-org."));
    assert!(!format!("{t:?} {secret:?}").contains(secret.expose_secret()));
    assert_eq!(f.store.authenticate(secret.expose_secret()).await.unwrap(), Some(t.clone()));
    assert_eq!(f.store.authenticate("tern-org.nope").await.unwrap(), None);
    f.clock.advance(Duration::from_secs(100));
    assert_eq!(f.store.authenticate(secret.expose_secret()).await.unwrap(), None, "expired");
    assert!(!f.store.has_admin_token().await.unwrap());
    let chosen = SecretString::new("an-admin-token-chosen-by-the-operator-0123456789".into());
    let admin = f.store.import_token(TokenKind::Admin, "from TERN_ADMIN_TOKEN", &chosen).await.unwrap();
    assert_eq!(
        f.store.import_token(TokenKind::Admin, "again", &chosen).await.unwrap().id,
        admin.id,
        "idempotent"
    );
    assert!(f.store.has_admin_token().await.unwrap());
    assert!(
        f.store.import_token(TokenKind::Admin, "short", &SecretString::new("short".into())).await.is_err()
    );
    assert_eq!(f.store.list_tokens(TokenKind::Organization, Some(&o.id)).await.unwrap().len(), 1);
    f.store.revoke_token(&t.id).await.unwrap();
    assert!(f.store.list_tokens(TokenKind::Organization, None).await.unwrap().is_empty());
}

async fn reopening_checks_migrations_and_the_key(f: Fixture) {
    org(&f, "acme").await;
    f.store.close().await;
    let again = Store::open(&f.db.url, &f.key, f.clock.clone()).await.unwrap();
    assert_eq!(again.organization("acme").await.unwrap().name, "acme");
    again.close().await;
    let err = Store::open(&f.db.url, &EncryptionKey::generate().unwrap(), f.clock.clone()).await.unwrap_err();
    assert!(err.to_string().contains("not the one this database was set up with"), "{err}");
}

async fn managed_keys_rotate_in_order(f: Fixture) {
    let now = 1_800_000_000;
    assert!(f.store.add_managed_key("k1", "RS256", b"PEM-1", KeyState::Current, now).await.unwrap());
    assert!(
        !f.store.add_managed_key("k1b", "RS256", b"PEM-x", KeyState::Current, now).await.unwrap(),
        "one current key"
    );
    let err = f.store.retire_managed_key("k1", 100, false).await.unwrap_err();
    assert!(err.to_string().contains("run `tern keys rotate` first"), "{err}");
    assert!(f.store.add_managed_key("k2", "ES256", b"PEM-2", KeyState::Next, now + 10).await.unwrap());
    assert!(
        !f.store.add_managed_key("k3", "RS256", b"PEM-3", KeyState::Next, now + 10).await.unwrap(),
        "one next key"
    );
    let states = |keys: Vec<ManagedKey>| keys.into_iter().map(|k| (k.kid, k.state)).collect::<Vec<_>>();
    assert_eq!(
        states(f.store.managed_keys().await.unwrap()),
        [("k1".into(), KeyState::Current), ("k2".into(), KeyState::Next)]
    );
    assert!(!f.store.advance_managed_keys(100).await.unwrap(), "not yet");
    f.clock.advance(Duration::from_secs(10));
    assert!(f.store.advance_managed_keys(100).await.unwrap());
    assert_eq!(
        states(f.store.managed_keys().await.unwrap()),
        [("k2".into(), KeyState::Current), ("k1".into(), KeyState::Retired)]
    );
    assert_eq!(f.store.managed_key_pem("k2").await.unwrap().as_slice(), b"PEM-2", "sealed and opened");
    f.clock.advance(Duration::from_secs(100));
    f.store.advance_managed_keys(100).await.unwrap();
    assert_eq!(
        states(f.store.managed_keys().await.unwrap()),
        [("k2".into(), KeyState::Current)],
        "k1 left the JWKS after its window"
    );
    // A compromised key leaves at once, its replacement signs at once.
    f.store.add_managed_key("k4", "RS256", b"PEM-4", KeyState::Next, now + 10_000).await.unwrap();
    f.store.retire_managed_key("k2", 100, true).await.unwrap();
    assert_eq!(states(f.store.managed_keys().await.unwrap()), [("k4".into(), KeyState::Current)]);
    assert!(matches!(f.store.retire_managed_key("nope", 1, false).await, Err(StoreError::NotFound { .. })));
}
