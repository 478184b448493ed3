//! `tern trust` output per cloud, profile and format, as golden files; and every generated
//! configuration accepts the tokens it was generated for and refuses their neighbours.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{Map, Value};
use tern_identity::{ClaimPolicy, ClaimProfile, RunContext, SubjectTemplate};
use tern_trust::explain::{self, AwsTrust, AzureTrust, GcpTrust, Token, VaultTrust};
use tern_trust::{Cloud, CloudOptions, Format, PhaseScope, TrustScope, render};
use tern_types::{IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, WorkspaceName};

const NOW: u64 = 1_790_000_000;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn scope(profile: ClaimProfile, phase: PhaseScope, audience: Option<&str>) -> TrustScope {
    TrustScope {
        issuer: IssuerUrl::parse("https://tern.example.com").unwrap(),
        policy: ClaimPolicy::new(profile, None),
        organization: OrganizationName::parse("acme").unwrap(),
        organization_id: None,
        project: Some(ProjectName::default_project()),
        project_id: None,
        workspace: Some(WorkspaceName::parse("prod").unwrap()),
        workspace_id: None,
        phase,
        audience: audience.map(str::to_owned),
    }
}

fn cloud_audience(cloud: Cloud) -> Option<&'static str> {
    match cloud {
        Cloud::Kubernetes => Some("kubernetes"),
        _ => None,
    }
}

fn options() -> CloudOptions {
    CloudOptions { gcp_project_number: Some("123456789012".into()), ..CloudOptions::default() }
}

#[test]
fn goldens_per_cloud_and_profile() {
    let clouds = [Cloud::Aws, Cloud::Gcp, Cloud::Azure, Cloud::Vault, Cloud::Kubernetes];
    for cloud in clouds {
        for profile in ClaimProfile::ALL {
            let s = scope(profile, PhaseScope::Both, cloud_audience(cloud));
            let out = render(cloud, Format::Terraform, &s, &options()).unwrap();
            tern_testkit::assert_golden(&golden_dir(), &format!("{cloud}-{profile}.tf"), out.as_bytes());
        }
        for (format, ext) in [(Format::Json, "json"), (Format::Cli, "sh")] {
            let s = scope(ClaimProfile::Tfc, PhaseScope::Both, cloud_audience(cloud));
            let out = render(cloud, format, &s, &options()).unwrap();
            tern_testkit::assert_golden(&golden_dir(), &format!("{cloud}-tfc.{ext}"), out.as_bytes());
            if format == Format::Json {
                serde_json::from_str::<Value>(&out).unwrap();
            }
        }
        // One role per phase.
        let s = scope(ClaimProfile::Tfc, PhaseScope::Each, cloud_audience(cloud));
        let out = render(cloud, Format::Terraform, &s, &options()).unwrap();
        tern_testkit::assert_golden(&golden_dir(), &format!("{cloud}-tfc-each.tf"), out.as_bytes());
    }
    // Any workspace of a project, apply only, for the clouds with wildcards.
    let mut s = scope(ClaimProfile::Tfc, PhaseScope::Apply, None);
    s.workspace = None;
    let out = render(Cloud::Aws, Format::Json, &s, &options()).unwrap();
    tern_testkit::assert_golden(&golden_dir(), "aws-tfc-any-workspace-apply.json", out.as_bytes());
}

fn context(org: &str, project: &str, ws: &str, phase: RunPhase) -> RunContext {
    RunContext {
        organization: OrganizationName::parse(org).unwrap(),
        organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap(),
        project: ProjectName::parse(project).unwrap(),
        project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv").unwrap(),
        workspace: WorkspaceName::parse(ws).unwrap(),
        workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap(),
        run_id: RunId::parse("run-CZcmD7eagjhyX0vN").unwrap(),
        phase,
    }
}

/// Evaluate a token against the generated JSON of `cloud`.
fn verdict(cloud: Cloud, generated: &Value, claims: &Map<String, Value>) -> explain::Explanation {
    let token = Token { claims, header: None };
    match cloud {
        Cloud::Aws => {
            let doc = &generated["Roles"][0]["AssumeRolePolicyDocument"];
            let trust = AwsTrust {
                policy: doc.clone(),
                provider_url: generated["OpenIDConnectProvider"]["Url"].as_str().map(str::to_owned),
                client_ids: vec![
                    generated["OpenIDConnectProvider"]["ClientIDList"][0].as_str().unwrap().to_owned(),
                ],
            };
            explain::aws(&token, NOW, &trust).unwrap()
        }
        Cloud::Gcp => {
            let trust = GcpTrust {
                provider: generated["provider"].clone(),
                member: generated["serviceAccountBindings"][0]["member"].as_str().map(str::to_owned),
            };
            explain::gcp(&token, NOW, &trust).unwrap()
        }
        Cloud::Azure => explain::azure(&token, NOW, &AzureTrust { credentials: generated.clone() }).unwrap(),
        Cloud::Vault => {
            let (name, role) = generated["roles"].as_object().unwrap().iter().next().unwrap();
            let trust = VaultTrust {
                role: role.clone(),
                role_name: name.clone(),
                config: Some(generated["config"].clone()),
            };
            explain::vault(&token, NOW, &trust).unwrap()
        }
        Cloud::Kubernetes => unreachable!(),
    }
}

#[test]
fn generated_trust_accepts_its_tokens_and_refuses_neighbours() {
    let gcp_aud = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tern-acme-prod/providers/tern";
    for cloud in [Cloud::Aws, Cloud::Gcp, Cloud::Azure, Cloud::Vault] {
        for profile in ClaimProfile::ALL {
            for phase in [PhaseScope::Both, PhaseScope::Apply] {
                if profile == ClaimProfile::Terrakube && phase != PhaseScope::Both {
                    continue;
                }
                let s = scope(profile, phase, None);
                let generated: Value =
                    serde_json::from_str(&render(cloud, Format::Json, &s, &options()).unwrap()).unwrap();
                let aud = cloud.default_audience().unwrap_or(gcp_aud);
                let policy = ClaimPolicy::new(profile, None);
                let mint = |ctx: &RunContext, aud: &str| {
                    explain::sample_claims("https://tern.example.com", &policy, ctx, aud, NOW - 60, 900)
                };
                let label = format!("{cloud} {profile} {phase:?}");
                let apply = mint(&context("acme", "Default Project", "prod", RunPhase::Apply), aud);
                let ok = verdict(cloud, &generated, &apply);
                assert!(ok.accepted(), "{label}: {ok}");

                let neighbours = [
                    (
                        "another workspace",
                        mint(&context("acme", "Default Project", "staging", RunPhase::Apply), aud),
                        true,
                    ),
                    (
                        "another organization",
                        mint(&context("acme2", "Default Project", "prod", RunPhase::Apply), aud),
                        true,
                    ),
                    (
                        "another audience",
                        mint(
                            &context("acme", "Default Project", "prod", RunPhase::Apply),
                            "sts.amazonaws.com",
                        ),
                        true,
                    ),
                    (
                        "another project",
                        mint(&context("acme", "Platform", "prod", RunPhase::Apply), aud),
                        profile == ClaimProfile::Tfc,
                    ),
                    (
                        "the plan phase",
                        mint(&context("acme", "Default Project", "prod", RunPhase::Plan), aud),
                        phase == PhaseScope::Apply,
                    ),
                    (
                        "another issuer",
                        explain::sample_claims(
                            "https://tern.example.com/",
                            &policy,
                            &context("acme", "Default Project", "prod", RunPhase::Apply),
                            aud,
                            NOW - 60,
                            900,
                        ),
                        true,
                    ),
                    (
                        "an expired token",
                        explain::sample_claims(
                            "https://tern.example.com",
                            &policy,
                            &context("acme", "Default Project", "prod", RunPhase::Apply),
                            aud,
                            NOW - 7200,
                            900,
                        ),
                        true,
                    ),
                ];
                for (what, claims, refused) in neighbours {
                    let v = verdict(cloud, &generated, &claims);
                    assert_eq!(!v.accepted(), refused, "{label}, {what}: {v}");
                }
            }
        }
    }
}

#[test]
fn custom_subject_templates_reach_the_trust() {
    let mut s = scope(ClaimProfile::Tfc, PhaseScope::Plan, None);
    s.policy = ClaimPolicy::new(
        ClaimProfile::Tfc,
        Some(SubjectTemplate::parse("organization_id,workspace_id,run_phase").unwrap()),
    );
    s.organization_id = Some(ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap());
    s.workspace_id = Some(ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap());
    let out = render(Cloud::Vault, Format::Json, &s, &options()).unwrap();
    assert!(
        out.contains("\"sub\": \"organization_id:org-GRFXpGJkuZfOkmqH:workspace_id:ws-mbsd5E3Ktt5Rg2Xm:run_phase:plan\""),
        "{out}"
    );
}

/// A private issuer's JWKS (`--jwks-file`), public keys only.
const PRIVATE_JWKS: &str = r#"{"keys":[{"kty":"EC","kid":"tern-k1","alg":"ES256","use":"sig","crv":"P-256","x":"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis","y":"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"}]}"#;

#[test]
fn a_private_issuer_uploads_its_jwks_to_google() {
    let jwks = tern_trust::UploadedJwks::parse("jwks.json", PRIVATE_JWKS).unwrap();
    let opts = CloudOptions { gcp_jwks: Some(jwks), ..options() };
    let s = scope(ClaimProfile::Tfc, PhaseScope::Both, None);
    for (format, ext) in [(Format::Terraform, "tf"), (Format::Json, "json"), (Format::Cli, "sh")] {
        let out = render(Cloud::Gcp, format, &s, &opts).unwrap();
        tern_testkit::assert_golden(&golden_dir(), &format!("gcp-tfc-private.{ext}"), out.as_bytes());
        let plain = render(Cloud::Gcp, format, &s, &options()).unwrap();
        assert!(!plain.contains("jwks") && !plain.contains("jwk-json"), "{plain}");
    }
    // The JSON carries the document itself, as Google's API takes it (a string).
    let out: Value = serde_json::from_str(&render(Cloud::Gcp, Format::Json, &s, &opts).unwrap()).unwrap();
    let uploaded: Value =
        serde_json::from_str(out["provider"]["oidc"]["jwksJson"].as_str().unwrap()).unwrap();
    assert_eq!(uploaded, serde_json::from_str::<Value>(PRIVATE_JWKS).unwrap());
    // Other clouds fetch the issuer's JWKS whatever is given.
    let aws = render(Cloud::Aws, Format::Terraform, &s, &opts).unwrap();
    assert!(!aws.contains("tern-k1"), "{aws}");
}
