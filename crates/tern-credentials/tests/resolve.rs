//! The variable grammar and resolution as a table: each case is a set of workspace variables and
//! either a summary of the configurations they produce or the errors they must produce.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::fmt::Write as _;

use base64::Engine as _;
use tern_credentials::{CredentialConfigs, GcpPrincipal, PerPhase, Sourced, Variables, resolve};

fn phased(p: &PerPhase<Sourced<String>>) -> String {
    if p.plan == p.apply {
        format!("{} <{}>", p.plan.value, p.plan.source)
    } else {
        format!("plan={} <{}> apply={} <{}>", p.plan.value, p.plan.source, p.apply.value, p.apply.source)
    }
}

fn tag(t: &Option<tern_credentials::Tag>) -> String {
    t.as_ref().map_or("default".to_owned(), |t| t.to_string())
}

/// One line per configuration, stable and readable.
fn summary(c: &CredentialConfigs) -> String {
    let mut s = String::new();
    for x in &c.aws {
        writeln!(
            s,
            "aws {} role={} aud={} <{}>",
            tag(&x.tag),
            phased(&x.settings.role_arn),
            x.settings.audience.value,
            x.settings.audience.source
        )
        .unwrap();
    }
    for x in &c.gcp {
        let principal = match &x.settings.principal {
            GcpPrincipal::ServiceAccount { email } => format!("sa={}", phased(email)),
            GcpPrincipal::WorkloadPool => "workload_pool".to_owned(),
        };
        writeln!(
            s,
            "gcp {} provider={} {principal} aud={}",
            tag(&x.tag),
            x.settings.provider.value.name(),
            x.settings.audience.value
        )
        .unwrap();
    }
    for x in &c.azure {
        writeln!(
            s,
            "azure {} client={} aud={}",
            tag(&x.tag),
            phased(&x.settings.client_id),
            x.settings.audience.value
        )
        .unwrap();
    }
    for x in &c.kubernetes {
        writeln!(s, "kubernetes {} aud={}", tag(&x.tag), x.settings.audience.value).unwrap();
    }
    for x in &c.vault {
        let v = &x.settings;
        writeln!(
            s,
            "vault {} addr={} role={} ns={} path={} aud={} ca={} timeout={}s",
            tag(&x.tag),
            v.addr.value,
            phased(&v.role),
            v.namespace.as_ref().map_or("-", |n| n.value.as_str()),
            v.auth_path.value,
            v.audience.value,
            v.ca_cert.is_some(),
            v.timeout.value.as_secs()
        )
        .unwrap();
    }
    for x in &c.vault_backed_aws {
        let v = &x.settings;
        writeln!(
            s,
            "vault_backed_aws {} via={} type={} role={} mount={} arn={} sleep={}s",
            tag(&x.tag),
            tag(&v.vault),
            v.auth_type.value.as_str(),
            phased(&v.vault_role),
            v.mount_path.value,
            v.role_arn.as_ref().map_or("-".to_owned(), phased),
            v.sleep.value.as_secs()
        )
        .unwrap();
    }
    for x in &c.vault_backed_gcp {
        let v = &x.settings;
        writeln!(
            s,
            "vault_backed_gcp {} via={} type={} name={} mount={}",
            tag(&x.tag),
            tag(&v.vault),
            v.auth_type.value.as_str(),
            phased(&v.name),
            v.mount_path.value
        )
        .unwrap();
    }
    for x in &c.vault_backed_azure {
        let v = &x.settings;
        writeln!(
            s,
            "vault_backed_azure {} via={} role={} mount={}",
            tag(&x.tag),
            tag(&v.vault),
            phased(&v.vault_role),
            v.mount_path.value
        )
        .unwrap();
    }
    for g in &c.generic {
        writeln!(s, "generic {} aud={} -> {}", tag(&g.tag), g.audience.value, g.env_name()).unwrap();
    }
    for w in &c.warnings {
        writeln!(s, "warning: {w}").unwrap();
    }
    s
}

const ARN: &str = "arn:aws:iam::123456789012:role/run";
const ARN_PLAN: &str = "arn:aws:iam::123456789012:role/plan";
const ARN_APPLY: &str = "arn:aws:iam::123456789012:role/apply";
const PROVIDER: &str = "projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern";
const SA: &str = "terraform@acme.iam.gserviceaccount.com";
const CLIENT: &str = "4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b";

enum Want {
    Ok(&'static str),
    Errors(&'static [&'static str]),
}

fn check(name: &str, vars: &[(&str, &str)], want: Want) {
    let variables: Variables = vars.iter().map(|(k, v)| (*k, *v)).collect();
    match (resolve(&variables), want) {
        (Ok(c), Want::Ok(expected)) => {
            let got = summary(&c);
            let expected: String =
                expected.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect();
            assert_eq!(got, expected, "case {name:?}");
        }
        (Err(e), Want::Errors(parts)) => {
            let text = e.to_string();
            assert_eq!(
                e.0.len(),
                parts.len(),
                "case {name:?}: expected {} errors, got:\n{text}",
                parts.len()
            );
            for (err, part) in e.0.iter().zip(parts) {
                assert!(err.to_string().contains(part), "case {name:?}: {part:?} not in {err}");
            }
        }
        (Ok(c), Want::Errors(_)) => panic!("case {name:?}: expected errors, resolved:\n{}", summary(&c)),
        (Err(e), Want::Ok(_)) => panic!("case {name:?}: expected success, got:\n{e}"),
    }
}

#[test]
fn aws_and_the_resolution_order() {
    check(
        "one role for both phases",
        &[("TFC_AWS_PROVIDER_AUTH", "true"), ("TFC_AWS_RUN_ROLE_ARN", ARN)],
        Want::Ok(
            format!("aws default role={ARN} <TFC_AWS_RUN_ROLE_ARN> aud=aws.workload.identity <default>")
                .leak(),
        ),
    );
    check(
        "plan overrides run",
        &[("TFC_AWS_PROVIDER_AUTH", "TRUE"), ("TFC_AWS_RUN_ROLE_ARN", ARN), ("TFC_AWS_PLAN_ROLE_ARN", ARN_PLAN)],
        Want::Ok(format!("aws default role=plan={ARN_PLAN} <TFC_AWS_PLAN_ROLE_ARN> apply={ARN} <TFC_AWS_RUN_ROLE_ARN> aud=aws.workload.identity <default>").leak()),
    );
    check(
        "plan and apply without run",
        &[("TFC_AWS_PROVIDER_AUTH", "true"), ("TFC_AWS_PLAN_ROLE_ARN", ARN_PLAN), ("TFC_AWS_APPLY_ROLE_ARN", ARN_APPLY)],
        Want::Ok(format!("aws default role=plan={ARN_PLAN} <TFC_AWS_PLAN_ROLE_ARN> apply={ARN_APPLY} <TFC_AWS_APPLY_ROLE_ARN> aud=aws.workload.identity <default>").leak()),
    );
    // All four spellings for an alias: the tagged phase form wins, then TFC_DEFAULT_ phase,
    // then tagged RUN, then TFC_DEFAULT_ RUN.
    let all = [
        ("TFC_AWS_PROVIDER_AUTH_PROD", "true"),
        ("TFC_AWS_PLAN_ROLE_ARN_PROD", "arn:aws:iam::123456789012:role/1"),
        ("TFC_DEFAULT_AWS_PLAN_ROLE_ARN", "arn:aws:iam::123456789012:role/2"),
        ("TFC_AWS_RUN_ROLE_ARN_PROD", "arn:aws:iam::123456789012:role/3"),
        ("TFC_DEFAULT_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/4"),
    ];
    check(
        "precedence 1",
        &all,
        Want::Ok(
            "aws PROD role=plan=arn:aws:iam::123456789012:role/1 <TFC_AWS_PLAN_ROLE_ARN_PROD> apply=arn:aws:iam::123456789012:role/3 <TFC_AWS_RUN_ROLE_ARN_PROD> aud=aws.workload.identity <default>",
        ),
    );
    check(
        "precedence 2",
        &[all[0], all[2], all[3], all[4]],
        Want::Ok(
            "aws PROD role=plan=arn:aws:iam::123456789012:role/2 <TFC_DEFAULT_AWS_PLAN_ROLE_ARN> apply=arn:aws:iam::123456789012:role/3 <TFC_AWS_RUN_ROLE_ARN_PROD> aud=aws.workload.identity <default>",
        ),
    );
    check(
        "precedence 3",
        &[all[0], all[3], all[4]],
        Want::Ok(
            "aws PROD role=arn:aws:iam::123456789012:role/3 <TFC_AWS_RUN_ROLE_ARN_PROD> aud=aws.workload.identity <default>",
        ),
    );
    check(
        "precedence 4",
        &[all[0], all[4]],
        Want::Ok(
            "aws PROD role=arn:aws:iam::123456789012:role/4 <TFC_DEFAULT_AWS_RUN_ROLE_ARN> aud=aws.workload.identity <default>",
        ),
    );
    check(
        "default and alias with its own audience; TFC_DEFAULT_ serves both",
        &[
            ("TFC_AWS_PROVIDER_AUTH", "true"),
            ("TFC_AWS_PROVIDER_AUTH_sts2", "true"),
            ("TFC_DEFAULT_AWS_RUN_ROLE_ARN", ARN),
            ("TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE_sts2", "sts.amazonaws.com"),
        ],
        Want::Ok(format!(
            "aws default role={ARN} <TFC_DEFAULT_AWS_RUN_ROLE_ARN> aud=aws.workload.identity <default>
             aws sts2 role={ARN} <TFC_DEFAULT_AWS_RUN_ROLE_ARN> aud=sts.amazonaws.com <TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE_sts2>"
        ).leak()),
    );
    check(
        "switched off: nothing, and its variables are reported unused",
        &[("TFC_AWS_PROVIDER_AUTH", "false"), ("TFC_AWS_RUN_ROLE_ARN", ARN)],
        Want::Ok("warning: TFC_AWS_RUN_ROLE_ARN is unused: TFC_AWS_PROVIDER_AUTH is not true"),
    );
    check(
        "other TFC_ run variables are not ours",
        &[("TFC_RUN_ID", "run-1"), ("TFC_WORKSPACE_NAME", "prod")],
        Want::Ok(""),
    );
}

#[test]
fn aws_errors() {
    check(
        "no role",
        &[("TFC_AWS_PROVIDER_AUTH", "true")],
        Want::Errors(&[
            "AWS (default configuration) needs role ARN: set TFC_AWS_RUN_ROLE_ARN (both phases) or TFC_AWS_PLAN_ROLE_ARN and TFC_AWS_APPLY_ROLE_ARN or TFC_DEFAULT_AWS_RUN_ROLE_ARN",
        ]),
    );
    check(
        "plan role without fallback",
        &[("TFC_AWS_PROVIDER_AUTH", "true"), ("TFC_AWS_PLAN_ROLE_ARN", ARN_PLAN)],
        Want::Errors(&[
            "TFC_AWS_PLAN_ROLE_ARN is set, but the apply phase has no role ARN; set TFC_AWS_APPLY_ROLE_ARN or TFC_DEFAULT_AWS_APPLY_ROLE_ARN or TFC_AWS_RUN_ROLE_ARN or TFC_DEFAULT_AWS_RUN_ROLE_ARN",
        ]),
    );
    check(
        "switch neither true nor false",
        &[("TFC_AWS_PROVIDER_AUTH", "yes"), ("TFC_AWS_RUN_ROLE_ARN", ARN)],
        Want::Errors(&["TFC_AWS_PROVIDER_AUTH=\"yes\": set it to true"]),
    );
    check(
        "reserved tag",
        &[("TFC_AWS_PROVIDER_AUTH_TYPE", "true")],
        Want::Errors(&["TFC_AWS_PROVIDER_AUTH_TYPE: configuration tag TYPE is reserved"]),
    );
    check(
        "TFC_DEFAULT_ switch",
        &[("TFC_DEFAULT_AWS_PROVIDER_AUTH", "true")],
        Want::Errors(&[
            "TFC_DEFAULT_AWS_PROVIDER_AUTH does not exist: configurations are switched on one by one, with TFC_AWS_PROVIDER_AUTH or TFC_AWS_PROVIDER_AUTH_<TAG>",
        ]),
    );
    check(
        "alias variables without the alias switch (a tag typo)",
        &[
            ("TFC_AWS_PROVIDER_AUTH_PROD", "true"),
            ("TFC_AWS_RUN_ROLE_ARN_PROD", ARN),
            ("TFC_AWS_RUN_ROLE_ARN_PRD", ARN),
        ],
        Want::Errors(&[
            "TFC_AWS_RUN_ROLE_ARN_PRD configures AWS (configuration PRD), but TFC_AWS_PROVIDER_AUTH_PRD is not set",
        ]),
    );
    check(
        "typo in a variable name",
        &[
            ("TFC_AWS_PROVIDER_AUTH", "true"),
            ("TFC_AWS_RUN_ROLE_ARN", ARN),
            ("TFC_AWS_WORKLOAD_IDENTITY_AUDIENCES", "x"),
        ],
        Want::Errors(&[
            "TFC_AWS_WORKLOAD_IDENTITY_AUDIENCES is not a AWS dynamic credentials variable; did you mean TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE?",
        ]),
    );
    check(
        "not an ARN",
        &[("TFC_AWS_PROVIDER_AUTH", "true"), ("TFC_AWS_RUN_ROLE_ARN", "my-role")],
        Want::Errors(&["TFC_AWS_RUN_ROLE_ARN=\"my-role\" is not an IAM role ARN"]),
    );
    check(
        "the runner's keys in the workspace",
        &[
            ("TFC_AWS_PROVIDER_AUTH", "true"),
            ("TFC_AWS_RUN_ROLE_ARN", ARN),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_PROFILE", "x"),
        ],
        Want::Errors(&[
            "AWS_ACCESS_KEY_ID is set in the workspace, but AWS (default configuration) provides AWS credentials",
            "AWS_PROFILE is set in the workspace",
        ]),
    );
    check(
        "all problems at once",
        &[
            ("TFC_AWS_PROVIDER_AUTH", "maybe"),
            ("TFC_GCP_PROVIDER_AUTH", "true"),
            ("TFC_AZURE_PROVIDER_AUTH", "true"),
        ],
        Want::Errors(&[
            "TFC_AWS_PROVIDER_AUTH=\"maybe\"",
            "Google Cloud (default configuration) needs a workload identity provider: set TFC_GCP_WORKLOAD_PROVIDER_NAME or all of TFC_GCP_PROJECT_NUMBER, TFC_GCP_WORKLOAD_POOL_ID, TFC_GCP_WORKLOAD_PROVIDER_ID",
            "Google Cloud (default configuration) needs service account email",
            "Azure (default configuration) needs client ID",
        ]),
    );
}

#[test]
fn gcp_azure_kubernetes_generic() {
    check("gcp provider name, default audience is the provider resource", &[
        ("TFC_GCP_PROVIDER_AUTH", "true"), ("TFC_GCP_WORKLOAD_PROVIDER_NAME", PROVIDER), ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", SA),
    ], Want::Ok(format!("gcp default provider={PROVIDER} sa={SA} <TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL> aud=//iam.googleapis.com/{PROVIDER}").leak()));
    check(
        "gcp provider from parts, workload pool principal, custom audience",
        &[
            ("TFC_GCP_PROVIDER_AUTH_POOL", "true"),
            ("TFC_GCP_PROJECT_NUMBER_POOL", "123456"),
            ("TFC_GCP_WORKLOAD_POOL_ID_POOL", "tern-pool"),
            ("TFC_GCP_WORKLOAD_PROVIDER_ID_POOL", "tern"),
            ("TFC_GCP_PRINCIPAL_TYPE_POOL", "workload_pool"),
            ("TFC_GCP_WORKLOAD_IDENTITY_AUDIENCE_POOL", "tern-gcp"),
        ],
        Want::Ok(format!("gcp POOL provider={PROVIDER} workload_pool aud=tern-gcp").leak()),
    );
    check(
        "gcp provider given twice",
        &[
            ("TFC_GCP_PROVIDER_AUTH", "true"),
            ("TFC_GCP_WORKLOAD_PROVIDER_NAME", PROVIDER),
            ("TFC_GCP_PROJECT_NUMBER", "1"),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", SA),
        ],
        Want::Errors(&[
            "TFC_GCP_WORKLOAD_PROVIDER_NAME and the PROJECT_NUMBER/WORKLOAD_POOL_ID/WORKLOAD_PROVIDER_ID variables are both set",
        ]),
    );
    check(
        "gcp project id instead of number",
        &[
            ("TFC_GCP_PROVIDER_AUTH", "true"),
            (
                "TFC_GCP_WORKLOAD_PROVIDER_NAME",
                "projects/my-proj/locations/global/workloadIdentityPools/tern-pool/providers/tern",
            ),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", SA),
        ],
        Want::Errors(&[
            "project number \"my-proj\" is not a number (the project number, not the project id)",
        ]),
    );
    check(
        "gcp unknown principal type",
        &[
            ("TFC_GCP_PROVIDER_AUTH", "true"),
            ("TFC_GCP_WORKLOAD_PROVIDER_NAME", PROVIDER),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", SA),
            ("TFC_GCP_PRINCIPAL_TYPE", "user"),
        ],
        Want::Errors(&["TFC_GCP_PRINCIPAL_TYPE=\"user\" must be service_account"]),
    );
    check(
        "gcp key beside dynamic credentials",
        &[
            ("TFC_GCP_PROVIDER_AUTH", "true"),
            ("TFC_GCP_WORKLOAD_PROVIDER_NAME", PROVIDER),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", SA),
            ("GOOGLE_CREDENTIALS", "{}"),
        ],
        Want::Errors(&[
            "GOOGLE_CREDENTIALS is set in the workspace, but Google Cloud (default configuration) provides Google Cloud credentials",
        ]),
    );
    check(
        "azure",
        &[("TFC_AZURE_PROVIDER_AUTH", "true"), ("TFC_AZURE_RUN_CLIENT_ID", CLIENT)],
        Want::Ok(
            format!("azure default client={CLIENT} <TFC_AZURE_RUN_CLIENT_ID> aud=api://AzureADTokenExchange")
                .leak(),
        ),
    );
    check(
        "azure with a client id of its own in the workspace",
        &[
            ("TFC_AZURE_PROVIDER_AUTH", "true"),
            ("TFC_AZURE_RUN_CLIENT_ID", CLIENT),
            ("ARM_CLIENT_ID", CLIENT),
        ],
        Want::Errors(&[
            "ARM_CLIENT_ID is set in the workspace, but Azure (default configuration) provides Azure credentials",
        ]),
    );
    check(
        "azure bad client id",
        &[("TFC_AZURE_PROVIDER_AUTH", "true"), ("TFC_AZURE_RUN_CLIENT_ID", "app")],
        Want::Errors(&["TFC_AZURE_RUN_CLIENT_ID=\"app\" is not an application (client) id"]),
    );
    check(
        "kubernetes needs an audience",
        &[("TFC_KUBERNETES_PROVIDER_AUTH", "true")],
        Want::Errors(&[
            "Kubernetes (default configuration) needs an audience: set TFC_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE or TFC_DEFAULT_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE",
        ]),
    );
    check(
        "kubernetes",
        &[
            ("TFC_KUBERNETES_PROVIDER_AUTH", "true"),
            ("TFC_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE", "kubernetes"),
        ],
        Want::Ok("kubernetes default aud=kubernetes"),
    );
    check(
        "generic tokens",
        &[
            ("TFC_WORKLOAD_IDENTITY_AUDIENCE", "my-app"),
            ("TFC_WORKLOAD_IDENTITY_AUDIENCE_OTHER", "other-app"),
        ],
        Want::Ok(
            "generic default aud=my-app -> TFC_WORKLOAD_IDENTITY_TOKEN
         generic OTHER aud=other-app -> TFC_WORKLOAD_IDENTITY_TOKEN_OTHER",
        ),
    );
}

#[test]
fn vault_and_vault_backed() {
    let ca = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let ca: &'static str = ca.leak();
    let vault = [
        ("TFC_VAULT_PROVIDER_AUTH", "true"),
        ("TFC_VAULT_ADDR", "https://vault.example.com:8200/"),
        ("TFC_VAULT_RUN_ROLE", "tern"),
    ];
    check(
        "vault defaults",
        &vault,
        Want::Ok(
            "vault default addr=https://vault.example.com:8200 role=tern <TFC_VAULT_RUN_ROLE> ns=- path=jwt aud=vault.workload.identity ca=false timeout=60s",
        ),
    );
    check(
        "vault with everything",
        &[
            vault[0],
            vault[1],
            vault[2],
            ("TFC_VAULT_NAMESPACE", "/admin/team/"),
            ("TFC_VAULT_AUTH_PATH", "tern-jwt"),
            ("TFC_VAULT_ENCODED_CACERT", ca),
            ("TFC_VAULT_CLIENT_TIMEOUT", "5"),
            ("TFC_VAULT_APPLY_ROLE", "tern-apply"),
        ],
        Want::Ok(
            "vault default addr=https://vault.example.com:8200 role=plan=tern <TFC_VAULT_RUN_ROLE> apply=tern-apply <TFC_VAULT_APPLY_ROLE> ns=admin/team path=tern-jwt aud=vault.workload.identity ca=true timeout=5s",
        ),
    );
    check(
        "vault needs an address and a role",
        &[("TFC_VAULT_PROVIDER_AUTH", "true")],
        Want::Errors(&[
            "Vault (default configuration) needs the Vault address: set TFC_VAULT_ADDR or TFC_DEFAULT_VAULT_ADDR",
            "Vault (default configuration) needs Vault role",
        ]),
    );
    check(
        "vault CA not base64",
        &[vault[0], vault[1], vault[2], ("TFC_VAULT_ENCODED_CACERT", "-----BEGIN CERTIFICATE-----")],
        Want::Errors(&["TFC_VAULT_ENCODED_CACERT=\"-----BEGIN CERTIFICATE-----\" is not base64"]),
    );
    check(
        "vault token beside dynamic credentials",
        &[vault[0], vault[1], vault[2], ("VAULT_TOKEN", "s.x")],
        Want::Errors(&["VAULT_TOKEN is set in the workspace"]),
    );
    check("vault-backed aws through the default vault", &[
        vault[0], vault[1], vault[2],
        ("TFC_VAULT_BACKED_AWS_AUTH", "true"), ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "assumed_role"), ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "deploy"),
        ("TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN", ARN), ("TFC_VAULT_BACKED_AWS_SLEEP_SECONDS", "10"),
    ], Want::Ok(format!(
        "vault default addr=https://vault.example.com:8200 role=tern <TFC_VAULT_RUN_ROLE> ns=- path=jwt aud=vault.workload.identity ca=false timeout=60s
         vault_backed_aws default via=default type=assumed_role role=deploy <TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE> mount=aws arn={ARN} <TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN> sleep=10s"
    ).leak()));
    check("vault-backed through a vault alias", &[
        ("TFC_VAULT_PROVIDER_AUTH_DEVOPS", "true"), ("TFC_VAULT_ADDR_DEVOPS", "http://127.0.0.1:8200"), ("TFC_VAULT_RUN_ROLE_DEVOPS", "tern"),
        ("TFC_VAULT_BACKED_GCP_AUTH", "true"), ("TFC_VAULT_BACKED_GCP_AUTH_TYPE", "roleset/access_token"), ("TFC_VAULT_BACKED_GCP_RUN_VAULT_ROLESET", "viewer"),
        ("TFC_VAULT_BACKED_GCP_VAULT_CONFIG", "DEVOPS"),
        ("TFC_VAULT_BACKED_AZURE_AUTH_x", "true"), ("TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE_x", "contrib"), ("TFC_VAULT_BACKED_AZURE_VAULT_CONFIG_x", "DEVOPS"),
    ], Want::Ok(
        "vault DEVOPS addr=http://127.0.0.1:8200 role=tern <TFC_VAULT_RUN_ROLE_DEVOPS> ns=- path=jwt aud=vault.workload.identity ca=false timeout=60s
         vault_backed_gcp default via=DEVOPS type=roleset/access_token name=viewer <TFC_VAULT_BACKED_GCP_RUN_VAULT_ROLESET> mount=gcp
         vault_backed_azure x via=DEVOPS role=contrib <TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE_x> mount=azure",
    ));
    check(
        "vault-backed without a vault configuration",
        &[
            ("TFC_VAULT_BACKED_AWS_AUTH", "true"),
            ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "iam_user"),
            ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "deploy"),
        ],
        Want::Errors(&[
            "Vault-backed AWS (default configuration): it logs in through the default Vault configuration, but TFC_VAULT_PROVIDER_AUTH is not true",
        ]),
    );
    check(
        "vault-backed naming a vault alias that is off",
        &[
            vault[0],
            vault[1],
            vault[2],
            ("TFC_VAULT_BACKED_AZURE_AUTH", "true"),
            ("TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE", "contrib"),
            ("TFC_VAULT_BACKED_AZURE_VAULT_CONFIG", "OTHER"),
        ],
        Want::Errors(&[
            "it logs in through the Vault configuration OTHER, but TFC_VAULT_PROVIDER_AUTH_OTHER is not true",
        ]),
    );
    check(
        "vault-backed aws: bad auth type, sleep too long",
        &[
            vault[0],
            vault[1],
            vault[2],
            ("TFC_VAULT_BACKED_AWS_AUTH", "true"),
            ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "session"),
            ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "deploy"),
            ("TFC_VAULT_BACKED_AWS_SLEEP_SECONDS", "3600"),
        ],
        Want::Errors(&[
            "TFC_VAULT_BACKED_AWS_AUTH_TYPE=\"session\" must be iam_user, assumed_role or federation_token",
            "TFC_VAULT_BACKED_AWS_SLEEP_SECONDS=\"3600\" must be between 0 and 1500 seconds",
        ]),
    );
    check(
        "aws and vault-backed aws both in the environment",
        &[
            ("TFC_AWS_PROVIDER_AUTH", "true"),
            ("TFC_AWS_RUN_ROLE_ARN", ARN),
            vault[0],
            vault[1],
            vault[2],
            ("TFC_VAULT_BACKED_AWS_AUTH", "true"),
            ("TFC_VAULT_BACKED_AWS_AUTH_TYPE", "iam_user"),
            ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE", "deploy"),
        ],
        Want::Errors(&[
            "AWS also has a default configuration, and both would set the AWS credentials in the environment",
        ]),
    );
    check("vault-backed gcp static account", &[
        vault[0], vault[1], vault[2],
        ("TFC_VAULT_BACKED_GCP_AUTH", "true"), ("TFC_VAULT_BACKED_GCP_AUTH_TYPE", "static_account/service_account_key"),
        ("TFC_VAULT_BACKED_GCP_RUN_VAULT_STATIC_ACCOUNT", "ci"), ("TFC_VAULT_BACKED_GCP_MOUNT_PATH", "gcp-prod"),
    ], Want::Ok(
        "vault default addr=https://vault.example.com:8200 role=tern <TFC_VAULT_RUN_ROLE> ns=- path=jwt aud=vault.workload.identity ca=false timeout=60s
         vault_backed_gcp default via=default type=static_account/service_account_key name=ci <TFC_VAULT_BACKED_GCP_RUN_VAULT_STATIC_ACCOUNT> mount=gcp-prod",
    ));
}

#[test]
fn terrakube_names() {
    check("terrakube aws", &[("ENABLE_DYNAMIC_CREDENTIALS_AWS", "true"), ("WORKLOAD_IDENTITY_ROLE_AWS", ARN), ("WORKLOAD_IDENTITY_AUDIENCE_AWS", "aws.workload.identity")], Want::Ok(format!(
        "aws default role={ARN} <WORKLOAD_IDENTITY_ROLE_AWS> aud=aws.workload.identity <WORKLOAD_IDENTITY_AUDIENCE_AWS>"
    ).leak()));
    check("terrakube gcp: the audience is the provider resource", &[
        ("ENABLE_DYNAMIC_CREDENTIALS_GCP", "true"), ("WORKLOAD_IDENTITY_AUDIENCE_GCP", "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern"),
        ("WORKLOAD_IDENTITY_SERVICE_ACCOUNT_EMAIL", SA),
    ], Want::Ok(format!("gcp default provider={PROVIDER} sa={SA} <WORKLOAD_IDENTITY_SERVICE_ACCOUNT_EMAIL> aud=//iam.googleapis.com/{PROVIDER}").leak()));
    check(
        "terrakube azure takes ARM_CLIENT_ID from the workspace",
        &[
            ("ENABLE_DYNAMIC_CREDENTIALS_AZURE", "true"),
            ("WORKLOAD_IDENTITY_AUDIENCE_AZURE", "api://AzureADTokenExchange"),
            ("ARM_CLIENT_ID", CLIENT),
        ],
        Want::Ok(
            format!("azure default client={CLIENT} <ARM_CLIENT_ID> aud=api://AzureADTokenExchange").leak(),
        ),
    );
    check(
        "terrakube vault",
        &[
            ("ENABLE_DYNAMIC_CREDENTIALS_VAULT", "true"),
            ("VAULT_ADDR", "http://127.0.0.1:8200"),
            ("WORKLOAD_IDENTITY_VAULT_ROLE", "tern"),
            ("WORKLOAD_IDENTITY_VAULT_AUDIENCE", "vault"),
            ("VAULT_NAMESPACE", "team"),
        ],
        Want::Ok(
            "vault default addr=http://127.0.0.1:8200 role=tern <WORKLOAD_IDENTITY_VAULT_ROLE> ns=team path=jwt aud=vault ca=false timeout=60s",
        ),
    );
    check(
        "terrakube switch with another value",
        &[("ENABLE_DYNAMIC_CREDENTIALS_AWS", "false"), ("WORKLOAD_IDENTITY_ROLE_AWS", ARN)],
        Want::Errors(&[
            "ENABLE_DYNAMIC_CREDENTIALS_AWS=\"false\": Terrakube switches AWS dynamic credentials on whenever this variable exists",
        ]),
    );
    check(
        "terrakube requires the audience",
        &[("ENABLE_DYNAMIC_CREDENTIALS_AWS", "true"), ("WORKLOAD_IDENTITY_ROLE_AWS", ARN)],
        Want::Errors(&[
            "AWS (default configuration) needs an audience (Terrakube has no default): set WORKLOAD_IDENTITY_AUDIENCE_AWS",
        ]),
    );
    check(
        "mixing names",
        &[
            ("ENABLE_DYNAMIC_CREDENTIALS_AWS", "true"),
            ("TFC_AWS_PROVIDER_AUTH", "true"),
            ("TFC_AWS_RUN_ROLE_ARN", ARN),
        ],
        Want::Errors(&[
            "AWS is configured with both HCP Terraform variables (TFC_AWS_PROVIDER_AUTH, TFC_AWS_RUN_ROLE_ARN) and Terrakube variables (ENABLE_DYNAMIC_CREDENTIALS_AWS)",
        ]),
    );
}

#[test]
fn sensitive_values_are_not_echoed() {
    let mut vars = Variables::new();
    vars.insert("TFC_AWS_PROVIDER_AUTH", "true", false);
    vars.insert("TFC_AWS_RUN_ROLE_ARN", "super-secret-value", true);
    let err = resolve(&vars).unwrap_err().to_string();
    assert!(err.contains("TFC_AWS_RUN_ROLE_ARN (sensitive) is not an IAM role ARN"), "{err}");
    assert!(!err.contains("super-secret-value"), "{err}");
}
