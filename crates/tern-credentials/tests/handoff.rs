//! The hand-off plan: golden files for the files tern writes (Google `external_account`, AWS
//! config for aliases, every platform's tfvars JSON) and for the whole plan in environment mode
//! and in alias mode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};

use tern_credentials::handoff::{Endpoints, HandoffPlan, PlanError, PlanInput, TokenTarget, plan};
use tern_credentials::{Variables, resolve};
use tern_types::RunPhase;

mod common {
    pub mod every_platform;
}
use common::every_platform::{ARN, PROVIDER, every_platform_aliases, every_platform_default};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn planned(vars: &[(&str, &str)], phase: RunPhase) -> HandoffPlan {
    let variables: Variables = vars.iter().map(|(k, v)| (*k, *v)).collect();
    let configs = resolve(&variables).unwrap_or_else(|e| panic!("{e}"));
    plan(&PlanInput {
        configs: &configs,
        variables: &variables,
        phase,
        run_id: "run-CZcmD7eagjhyX0vN",
        dir: Path::new("/run/tern/runs/run-CZcmD7eagjhyX0vN"),
        workdir: Path::new("/work/infra"),
        endpoints: &Endpoints::default(),
    })
    .unwrap()
}

fn file_named<'a>(plan: &'a HandoffPlan, suffix: &str) -> &'a str {
    &plan
        .files
        .iter()
        .find(|f| f.path.to_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no file {suffix}"))
        .contents
}

#[test]
fn golden_files_tern_writes() {
    let plan = planned(&every_platform_aliases(), RunPhase::Apply);
    let g = golden_dir();
    tern_testkit::assert_golden(
        &g,
        "gcp-external-account-service-account.json",
        file_named(&plan, "/gcp.credentials.json").as_bytes(),
    );
    tern_testkit::assert_golden(
        &g,
        "gcp-external-account-workload-pool.json",
        file_named(&plan, "/gcp.POOL.credentials.json").as_bytes(),
    );
    tern_testkit::assert_golden(&g, "aws-alias-config", file_named(&plan, "/aws.PROD.config").as_bytes());
    tern_testkit::assert_golden(
        &g,
        "tfvars-every-platform.auto.tfvars.json",
        plan.tfvars.as_ref().unwrap().contents.as_bytes(),
    );
    tern_testkit::assert_golden(&g, "plan-aliases-apply.txt", plan.describe().as_bytes());

    let plan = planned(&every_platform_default(), RunPhase::Plan);
    assert!(plan.tfvars.is_none(), "no aliases, no input variables");
    tern_testkit::assert_golden(&g, "plan-environment-plan.txt", plan.describe().as_bytes());
}

#[test]
fn the_gcp_audience_in_the_file_is_the_provider_resource_not_the_jwt_audience() {
    let plan = planned(
        &[
            ("TFC_GCP_PROVIDER_AUTH", "true"),
            ("TFC_GCP_WORKLOAD_PROVIDER_NAME", PROVIDER),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "terraform@acme.iam.gserviceaccount.com"),
            ("TFC_GCP_WORKLOAD_IDENTITY_AUDIENCE", "my-custom-audience"),
        ],
        RunPhase::Plan,
    );
    let doc: serde_json::Value = serde_json::from_str(file_named(&plan, "/gcp.credentials.json")).unwrap();
    assert_eq!(doc["audience"], format!("//iam.googleapis.com/{PROVIDER}"));
    assert_eq!(plan.tokens[0].audience.as_str(), "my-custom-audience", "the JWT keeps the custom audience");
}

#[test]
fn phases_pick_their_own_roles_and_paths_are_stable_across_phases() {
    let vars = every_platform_aliases();
    let plan_phase = planned(&vars, RunPhase::Plan);
    let apply_phase = planned(&vars, RunPhase::Apply);
    assert!(file_named(&plan_phase, "/aws.PROD.config").contains("role/tern-plan"));
    assert!(file_named(&apply_phase, "/aws.PROD.config").contains("role/tern-apply"));
    assert!(
        file_named(&plan_phase, "/aws.PROD.config")
            .contains("role_session_name = tern-run-CZcmD7eagjhyX0vN-plan")
    );
    // A saved plan records the paths in the input variables: apply must find the same ones.
    assert_eq!(plan_phase.tfvars, apply_phase.tfvars);
    let paths = |p: &HandoffPlan| p.tokens.iter().map(|t| t.target.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&plan_phase), paths(&apply_phase));
}

#[test]
fn environment_mode_removes_the_runners_credentials_and_metadata_fallbacks() {
    let plan = planned(&every_platform_default(), RunPhase::Plan);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "GOOGLE_CREDENTIALS",
        "ARM_CLIENT_SECRET",
    ] {
        assert!(plan.unset.contains(name), "{name} must be removed");
    }
    for name in [
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "ARM_CLIENT_ID",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "VAULT_TOKEN",
        "KUBE_TOKEN",
    ] {
        assert!(!plan.unset.contains(name), "{name} is set by tern, not removed");
    }
    assert_eq!(plan.env.get("AWS_EC2_METADATA_DISABLED").map(String::as_str), Some("true"));
    for name in plan.env.keys().cloned().chain(plan.secret_env_names()) {
        assert!(!plan.unset.contains(&name), "{name} is both set and removed");
    }
    assert_eq!(
        plan.env.get("AZURE_TENANT_ID").map(String::as_str),
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
    );
    assert!(plan.tokens.iter().any(|t| t.target == TokenTarget::Env("KUBE_TOKEN".into())));
    assert!(plan.tokens.iter().any(|t| t.target == TokenTarget::Env("TFC_WORKLOAD_IDENTITY_TOKEN".into())));
}

#[test]
fn the_credentials_directory_must_be_outside_the_configuration() {
    let variables: Variables =
        [("TFC_AWS_PROVIDER_AUTH", "true"), ("TFC_AWS_RUN_ROLE_ARN", ARN)].into_iter().collect();
    let configs = resolve(&variables).unwrap();
    let err = plan(&PlanInput {
        configs: &configs,
        variables: &variables,
        phase: RunPhase::Plan,
        run_id: "run-1",
        dir: Path::new("/work/infra/.tern/run-1"),
        workdir: Path::new("/work/infra"),
        endpoints: &Endpoints::default(),
    })
    .unwrap_err();
    assert!(matches!(err, PlanError::DirInsideWorkdir { .. }), "{err}");
}

#[test]
fn every_vault_backed_auth_type_asks_the_documented_engine_path() {
    use tern_credentials::handoff::{Method, SecretOutput};
    let vault = [
        ("TFC_VAULT_PROVIDER_AUTH", "true"),
        ("TFC_VAULT_ADDR", "http://127.0.0.1:8200"),
        ("TFC_VAULT_RUN_ROLE", "tern"),
    ];
    /// (auth type variables, method, path, output kind)
    type Case = (Vec<(&'static str, &'static str)>, Method, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("TFC_VAULT_BACKED_AWS_AUTH", "true"),
                ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "iam_user"),
                ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "r"),
            ],
            Method::Get,
            "aws/creds/r",
            "aws",
        ),
        (
            vec![
                ("TFC_VAULT_BACKED_AWS_AUTH", "true"),
                ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "assumed_role"),
                ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "r"),
            ],
            Method::Post,
            "aws/sts/r",
            "aws",
        ),
        (
            vec![
                ("TFC_VAULT_BACKED_AWS_AUTH", "true"),
                ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "federation_token"),
                ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "r"),
                ("TFC_VAULT_BACKED_AWS_MOUNT_PATH", "aws-prod"),
            ],
            Method::Post,
            "aws-prod/sts/r",
            "aws",
        ),
        (
            vec![
                ("TFC_VAULT_BACKED_GCP_AUTH", "true"),
                ("TFC_VAULT_BACKED_GCP_AUTH_TYPE", "roleset/access_token"),
                ("TFC_VAULT_BACKED_GCP_RUN_VAULT_ROLESET", "s"),
            ],
            Method::Get,
            "gcp/roleset/s/token",
            "gcp-token",
        ),
        (
            vec![
                ("TFC_VAULT_BACKED_GCP_AUTH", "true"),
                ("TFC_VAULT_BACKED_GCP_AUTH_TYPE", "roleset/service_account_key"),
                ("TFC_VAULT_BACKED_GCP_RUN_VAULT_ROLESET", "s"),
            ],
            Method::Get,
            "gcp/roleset/s/key",
            "gcp-key",
        ),
        (
            vec![
                ("TFC_VAULT_BACKED_GCP_AUTH", "true"),
                ("TFC_VAULT_BACKED_GCP_AUTH_TYPE", "static_account/access_token"),
                ("TFC_VAULT_BACKED_GCP_RUN_VAULT_STATIC_ACCOUNT", "a"),
            ],
            Method::Get,
            "gcp/static-account/a/token",
            "gcp-token",
        ),
        (
            vec![
                ("TFC_VAULT_BACKED_GCP_AUTH", "true"),
                ("TFC_VAULT_BACKED_GCP_AUTH_TYPE", "static_account/service_account_key"),
                ("TFC_VAULT_BACKED_GCP_RUN_VAULT_STATIC_ACCOUNT", "a"),
            ],
            Method::Get,
            "gcp/static-account/a/key",
            "gcp-key",
        ),
        (
            vec![("TFC_VAULT_BACKED_AZURE_AUTH", "true"), ("TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE", "c")],
            Method::Get,
            "azure/creds/c",
            "azure",
        ),
    ];
    for (extra, method, path, kind) in cases {
        let mut vars = vault.to_vec();
        vars.extend(extra);
        let plan = planned(&vars, RunPhase::Plan);
        assert_eq!(plan.vault_reads.len(), 1, "{path}");
        let read = &plan.vault_reads[0];
        assert_eq!((read.method, read.path.as_str()), (method, path));
        let got = match &read.output {
            SecretOutput::AwsCredentials { .. } => "aws",
            SecretOutput::GcpAccessToken { .. } => "gcp-token",
            SecretOutput::GcpKey { .. } => "gcp-key",
            SecretOutput::AzureClient { .. } => "azure",
        };
        assert_eq!(got, kind, "{path}");
    }
}
