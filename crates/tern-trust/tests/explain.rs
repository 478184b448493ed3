//! `tern explain` for AWS, Google Cloud and Azure: the documented causes of "the cloud refuses
//! my token" (trailing slash, missing project segment, wrong phase, `Default Project`,
//! audience, …), each with the verdict and the message it prints. Vault's verdicts are checked
//! against a real OpenBao in tern-cli's interop tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use tern_identity::{ClaimPolicy, ClaimProfile, RunContext};
use tern_trust::explain::{self, AwsTrust, AzureTrust, Explanation, GcpTrust, Token};
use tern_types::{OrganizationName, ProjectName, ResourceId, RunId, RunPhase, WorkspaceName};

const NOW: u64 = 1_790_000_000;
const ISS: &str = "https://tern.example.com";
const PROVIDER: &str = "projects/123456789012/locations/global/workloadIdentityPools/tern/providers/tern";

fn claims(profile: ClaimProfile, project: &str, ws: &str, phase: RunPhase, aud: &str) -> Map<String, Value> {
    let ctx = RunContext {
        organization: OrganizationName::parse("acme").unwrap(),
        organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap(),
        project: ProjectName::parse(project).unwrap(),
        project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv").unwrap(),
        workspace: WorkspaceName::parse(ws).unwrap(),
        workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap(),
        run_id: RunId::parse("run-CZcmD7eagjhyX0vN").unwrap(),
        phase,
    };
    explain::sample_claims(ISS, &ClaimPolicy::new(profile, None), &ctx, aud, NOW - 60, 900)
}

fn plan(aud: &str) -> Map<String, Value> {
    claims(ClaimProfile::Tfc, "Default Project", "prod", RunPhase::Plan, aud)
}

fn aws_policy(op: &str, host: &str, sub: &str, aud: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{host}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {format!("{host}:aud"): aud},
                op: {format!("{host}:sub"): sub}
            }
        }]
    })
}

struct Case {
    name: &'static str,
    explanation: Explanation,
    accepted: bool,
    /// In the first failing check's `why`.
    why: &'static str,
    /// In what the cloud would say.
    cloud_says: &'static str,
}

fn check(cases: Vec<Case>) {
    for c in cases {
        let e = &c.explanation;
        assert_eq!(e.accepted(), c.accepted, "{}:\n{e}", c.name);
        let why = e.first_failure().and_then(|f| f.why.clone()).unwrap_or_default();
        assert!(why.contains(c.why), "{}: why is {why:?}\n{e}", c.name);
        let says = e.cloud_error.clone().unwrap_or_default();
        assert!(c.accepted || says.contains(c.cloud_says), "{}: the cloud says {says:?}", c.name);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}: {}", e.cloud, if c.accepted { "ACCEPTED" } else { "REFUSED" })),
            "{shown}"
        );
    }
}

fn aws(
    claims: &Map<String, Value>,
    policy: Value,
    provider: Option<&str>,
    client_ids: &[&str],
) -> Explanation {
    let trust = AwsTrust {
        policy,
        provider_url: provider.map(str::to_owned),
        client_ids: client_ids.iter().map(|s| (*s).to_owned()).collect(),
    };
    explain::aws(&Token { claims, header: None }, NOW, &trust).unwrap()
}

#[test]
fn aws_failure_causes() {
    let aud = "aws.workload.identity";
    let tfc_any = "organization:acme:project:Default Project:workspace:prod:run_phase:*";
    let h = "tern.example.com";
    let t = plan(aud);
    let denied = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
    check(vec![
        Case {
            name: "accepted",
            explanation: aws(&t, aws_policy("StringLike", h, tfc_any, aud), Some(ISS), &[aud]),
            accepted: true,
            why: "",
            cloud_says: "",
        },
        Case {
            name: "provider URL with a trailing slash",
            explanation: aws(
                &t,
                aws_policy("StringLike", h, tfc_any, aud),
                Some("https://tern.example.com/"),
                &[aud],
            ),
            accepted: false,
            why: "trailing slash",
            cloud_says: denied,
        },
        Case {
            name: "condition keys with a trailing slash",
            explanation: aws(&t, aws_policy("StringLike", "tern.example.com/", tfc_any, aud), None, &[]),
            accepted: false,
            why: "trailing slash",
            cloud_says: denied,
        },
        Case {
            name: "missing project segment",
            explanation: aws(
                &t,
                aws_policy("StringLike", h, "organization:acme:workspace:prod:run_phase:*", aud),
                Some(ISS),
                &[aud],
            ),
            accepted: false,
            why: "segment 3 differs: the token has `project`, the trust expects `workspace`: the trust has no project segment",
            cloud_says: denied,
        },
        Case {
            name: "wrong phase",
            explanation: aws(
                &t,
                aws_policy(
                    "StringEquals",
                    h,
                    "organization:acme:project:Default Project:workspace:prod:run_phase:apply",
                    aud,
                ),
                Some(ISS),
                &[aud],
            ),
            accepted: false,
            why: "wrong phase: this is a plan token and the trust admits apply only",
            cloud_says: denied,
        },
        Case {
            name: "Default Project spelled otherwise",
            explanation: aws(
                &t,
                aws_policy(
                    "StringLike",
                    h,
                    "organization:acme:project:default-project:workspace:prod:run_phase:*",
                    aud,
                ),
                Some(ISS),
                &[aud],
            ),
            accepted: false,
            why: "`Default Project`, with a capital D, a capital P and a space",
            cloud_says: denied,
        },
        Case {
            name: "wildcard under StringEquals",
            explanation: aws(&t, aws_policy("StringEquals", h, tfc_any, aud), Some(ISS), &[aud]),
            accepted: false,
            why: "`*` is a literal character",
            cloud_says: denied,
        },
        Case {
            name: "audience: the provider lists another client ID",
            explanation: aws(
                &t,
                aws_policy("StringLike", h, tfc_any, "sts.amazonaws.com"),
                Some(ISS),
                &["sts.amazonaws.com"],
            ),
            accepted: false,
            why: "aws.workload.identity is tern's default for AWS",
            cloud_says: "Incorrect token audience",
        },
        Case {
            name: "condition on a claim AWS does not pass",
            explanation: aws(
                &t,
                json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/tern.example.com"}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"tern.example.com:terraform_workspace_name": "prod"}}}]}),
                None,
                &[],
            ),
            accepted: false,
            why: "only the aud, sub and amr claims",
            cloud_says: denied,
        },
        Case {
            name: "role trusts another provider",
            explanation: aws(&t, aws_policy("StringLike", "app.terraform.io", tfc_any, aud), None, &[]),
            accepted: false,
            why: "another issuer",
            cloud_says: denied,
        },
        Case {
            name: "expired token",
            explanation: aws(
                &explain::sample_claims(
                    ISS,
                    &ClaimPolicy::default(),
                    &ctx_prod(RunPhase::Plan),
                    aud,
                    NOW - 3600,
                    900,
                ),
                aws_policy("StringLike", h, tfc_any, aud),
                Some(ISS),
                &[aud],
            ),
            accepted: false,
            why: "expired 45m ago",
            cloud_says: "ExpiredTokenException",
        },
        Case {
            name: "an explicit Deny wins",
            explanation: aws(
                &t,
                {
                    let mut p = aws_policy("StringLike", h, tfc_any, aud);
                    p["Statement"].as_array_mut().unwrap().push(json!({"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/tern.example.com"}, "Action": "sts:*", "Condition": {"StringLike": {"tern.example.com:sub": "*:run_phase:plan"}}}));
                    p
                },
                Some(ISS),
                &[aud],
            ),
            accepted: false,
            why: "a Deny always wins",
            cloud_says: denied,
        },
    ]);
}

fn ctx_prod(phase: RunPhase) -> RunContext {
    RunContext {
        organization: OrganizationName::parse("acme").unwrap(),
        organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap(),
        project: ProjectName::default_project(),
        project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv").unwrap(),
        workspace: WorkspaceName::parse("prod").unwrap(),
        workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap(),
        run_id: RunId::parse("run-CZcmD7eagjhyX0vN").unwrap(),
        phase,
    }
}

fn gcp(
    claims: &Map<String, Value>,
    issuer: &str,
    audiences: &[&str],
    condition: &str,
    member: Option<&str>,
) -> Explanation {
    let mut oidc = json!({"issuerUri": issuer});
    if !audiences.is_empty() {
        oidc["allowedAudiences"] = json!(audiences);
    }
    let provider = json!({
        "name": PROVIDER,
        "state": "ACTIVE",
        "oidc": oidc,
        "attributeMapping": {
            "google.subject": "assertion.sub",
            "attribute.terraform_workspace_name": "assertion.terraform_workspace_name",
            "attribute.terraform_run_phase": "assertion.terraform_run_phase",
        },
        "attributeCondition": condition,
    });
    let trust = GcpTrust { provider, member: member.map(str::to_owned) };
    explain::gcp(&Token { claims, header: None }, NOW, &trust).unwrap()
}

#[test]
fn gcp_failure_causes() {
    let aud = format!("//iam.googleapis.com/{PROVIDER}");
    let t = plan(&aud);
    let good = "assertion.terraform_organization_name == 'acme' && assertion.terraform_project_name == 'Default Project' && assertion.terraform_workspace_name == 'prod'";
    let rejected = "rejected by the attribute condition";
    let pool = PROVIDER.split("/providers/").next().unwrap();
    let long = claims(
        ClaimProfile::Tfc,
        "Infrastructure Platform Shared Services",
        "payments-production-eu-west-1-primary-cluster",
        RunPhase::Apply,
        &aud,
    );
    check(vec![
        Case {
            name: "accepted",
            explanation: gcp(
                &t,
                ISS,
                &[],
                good,
                Some(&format!("principalSet://iam.googleapis.com/{pool}/*")),
            ),
            accepted: true,
            why: "",
            cloud_says: "",
        },
        Case {
            name: "issuer URI with a trailing slash",
            explanation: gcp(&t, "https://tern.example.com/", &[], good, None),
            accepted: false,
            why: "trailing slash",
            cloud_says: "does not match the expected issuer",
        },
        Case {
            name: "allowed audience in the https:// form while tokens carry //iam…",
            explanation: gcp(&t, ISS, &[&format!("https://iam.googleapis.com/{PROVIDER}")], good, None),
            accepted: false,
            why: "is not in allowedAudiences",
            cloud_says: "does not match the expected audience",
        },
        Case {
            name: "audience of another provider",
            explanation: gcp(
                &plan(
                    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tern/providers/old",
                ),
                ISS,
                &[],
                good,
                None,
            ),
            accepted: false,
            why: "it names another provider: `providers/old` where this one is `providers/tern`",
            cloud_says: "does not match the expected audience",
        },
        Case {
            name: "condition on sub without the project segment",
            explanation: gcp(
                &t,
                ISS,
                &[],
                "assertion.sub == 'organization:acme:workspace:prod:run_phase:plan'",
                None,
            ),
            accepted: false,
            why: "the trust has no project segment",
            cloud_says: rejected,
        },
        Case {
            name: "wrong phase",
            explanation: gcp(
                &t,
                ISS,
                &[],
                "assertion.terraform_workspace_name == 'prod' && assertion.terraform_run_phase == 'apply'",
                None,
            ),
            accepted: false,
            why: "wrong phase: this is a plan token",
            cloud_says: rejected,
        },
        Case {
            name: "Default Project",
            explanation: gcp(&t, ISS, &[], "assertion.terraform_project_name == 'Default'", None),
            accepted: false,
            why: "`Default Project`, with a capital D",
            cloud_says: rejected,
        },
        Case {
            name: "condition on a claim the profile does not emit",
            explanation: gcp(
                &claims(ClaimProfile::Otf, "Default Project", "prod", RunPhase::Plan, &aud),
                ISS,
                &[],
                "assertion.terraform_project_name == 'Default Project'",
                None,
            ),
            accepted: false,
            why: "no such key: terraform_project_name",
            cloud_says: rejected,
        },
        Case {
            name: "google.subject over 127 bytes",
            explanation: gcp(&long, ISS, &[], "assertion.terraform_organization_name == 'acme'", None),
            accepted: false,
            why: "over 127 bytes",
            cloud_says: "127 bytes limit",
        },
        Case {
            name: "binding for the apply phase only",
            explanation: gcp(
                &t,
                ISS,
                &[],
                good,
                Some(&format!(
                    "principalSet://iam.googleapis.com/{pool}/attribute.terraform_run_phase/apply"
                )),
            ),
            accepted: false,
            why: "wrong phase",
            cloud_says: "iam.serviceAccounts.getAccessToken",
        },
    ]);
    // A condition outside the subset is refused, not guessed.
    let provider = json!({"name": PROVIDER, "oidc": {"issuerUri": ISS}, "attributeMapping": {"google.subject": "assertion.sub"}, "attributeCondition": "assertion.sub > 'a'"});
    let err = explain::gcp(&Token { claims: &t, header: None }, NOW, &GcpTrust { provider, member: None })
        .unwrap_err();
    assert!(err.to_string().contains("not in the supported CEL subset"), "{err}");
}

fn azure(claims: &Map<String, Value>, creds: Value) -> Explanation {
    explain::azure(&Token { claims, header: None }, NOW, &AzureTrust { credentials: creds }).unwrap()
}

fn cred(issuer: &str, subject: &str, aud: &str) -> Value {
    json!({"name": "tern", "issuer": issuer, "subject": subject, "audiences": [aud]})
}

#[test]
fn azure_failure_causes() {
    let aud = "api://AzureADTokenExchange";
    let t = plan(aud);
    let exact = "organization:acme:project:Default Project:workspace:prod:run_phase:plan";
    check(vec![
        Case {
            name: "accepted by the second credential",
            explanation: azure(
                &t,
                json!([
                    cred(
                        ISS,
                        "organization:acme:project:Default Project:workspace:prod:run_phase:apply",
                        aud
                    ),
                    cred(ISS, exact, aud)
                ]),
            ),
            accepted: true,
            why: "",
            cloud_says: "",
        },
        Case {
            name: "issuer with a trailing slash",
            explanation: azure(&t, cred("https://tern.example.com/", exact, aud)),
            accepted: false,
            why: "trailing slash",
            cloud_says: "AADSTS700211",
        },
        Case {
            name: "wildcard subject",
            explanation: azure(
                &t,
                cred(ISS, "organization:acme:project:Default Project:workspace:prod:run_phase:*", aud),
            ),
            accepted: false,
            why: "Entra ID has no wildcards",
            cloud_says: "AADSTS70021",
        },
        Case {
            name: "missing project segment",
            explanation: azure(&t, cred(ISS, "organization:acme:workspace:prod:run_phase:plan", aud)),
            accepted: false,
            why: "the trust has no project segment",
            cloud_says: "AADSTS70021",
        },
        Case {
            name: "only an apply credential",
            explanation: azure(
                &t,
                cred(ISS, "organization:acme:project:Default Project:workspace:prod:run_phase:apply", aud),
            ),
            accepted: false,
            why: "wrong phase",
            cloud_says: "AADSTS70021",
        },
        Case {
            name: "Default Project without its space",
            explanation: azure(
                &t,
                cred(ISS, "organization:acme:project:DefaultProject:workspace:prod:run_phase:plan", aud),
            ),
            accepted: false,
            why: "`Default Project`, with a capital D",
            cloud_says: "AADSTS70021",
        },
        Case {
            name: "audience",
            explanation: azure(&t, cred(ISS, exact, "api://AzureADTokenExchange/")),
            accepted: false,
            why: "tern's default for Azure",
            cloud_says: "AADSTS700212",
        },
    ]);
}

#[test]
fn printed_explanation() {
    let aud = "aws.workload.identity";
    let e = aws(
        &plan(aud),
        aws_policy("StringLike", "tern.example.com", "organization:acme:workspace:prod:run_phase:*", aud),
        Some(ISS),
        &[aud],
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden");
    tern_testkit::assert_golden(&dir, "explain-aws-missing-project.txt", e.to_string().as_bytes());
}
