//! Workspace variables with every platform, with and without aliases: shared by the hand-off
//! tests and the `handoff` benchmark (`#[path]`-included, so no test target of its own).

use base64::Engine as _;

pub const ARN: &str = "arn:aws:iam::123456789012:role/tern-run";
pub const PROVIDER: &str = "projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern";
pub const CLIENT: &str = "4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b";

pub fn ca() -> &'static str {
    base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        .leak()
}

pub fn every_platform_default() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TFC_AWS_PROVIDER_AUTH", "true"),
        ("TFC_AWS_RUN_ROLE_ARN", ARN),
        ("TFC_GCP_PROVIDER_AUTH", "true"),
        ("TFC_GCP_WORKLOAD_PROVIDER_NAME", PROVIDER),
        ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "terraform@acme.iam.gserviceaccount.com"),
        ("TFC_AZURE_PROVIDER_AUTH", "true"),
        ("TFC_AZURE_RUN_CLIENT_ID", CLIENT),
        ("ARM_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("TFC_KUBERNETES_PROVIDER_AUTH", "true"),
        ("TFC_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE", "kubernetes"),
        ("TFC_VAULT_PROVIDER_AUTH", "true"),
        ("TFC_VAULT_ADDR", "https://vault.example.com:8200"),
        ("TFC_VAULT_RUN_ROLE", "tern"),
        ("TFC_VAULT_NAMESPACE", "admin"),
        ("TFC_VAULT_ENCODED_CACERT", ca()),
        ("TFC_WORKLOAD_IDENTITY_AUDIENCE", "my-app"),
    ]
}

pub fn every_platform_aliases() -> Vec<(&'static str, &'static str)> {
    let mut v = every_platform_default();
    v.extend([
        ("TFC_AWS_PROVIDER_AUTH_PROD", "true"),
        ("TFC_AWS_APPLY_ROLE_ARN_PROD", "arn:aws:iam::210987654321:role/tern-apply"),
        ("TFC_AWS_PLAN_ROLE_ARN_PROD", "arn:aws:iam::210987654321:role/tern-plan"),
        ("TFC_GCP_PROVIDER_AUTH_POOL", "true"),
        ("TFC_GCP_WORKLOAD_PROVIDER_NAME_POOL", PROVIDER),
        ("TFC_GCP_PRINCIPAL_TYPE_POOL", "workload_pool"),
        ("TFC_AZURE_PROVIDER_AUTH_SECOND", "true"),
        ("TFC_AZURE_RUN_CLIENT_ID_SECOND", "0b7e9a1c-5d2f-4e3a-8b6c-9d0e1f2a3b4c"),
        ("TFC_KUBERNETES_PROVIDER_AUTH_EKS", "true"),
        ("TFC_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE_EKS", "sts.amazonaws.com"),
        ("TFC_VAULT_PROVIDER_AUTH_DEVOPS", "true"),
        ("TFC_VAULT_ADDR_DEVOPS", "https://vault-devops.example.com"),
        ("TFC_VAULT_RUN_ROLE_DEVOPS", "tern-devops"),
        ("TFC_VAULT_BACKED_AWS_AUTH_VB", "true"),
        ("TFC_VAULT_BACKED_AWS_AUTH_TYPE_VB", "assumed_role"),
        ("TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE_VB", "deploy"),
        ("TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN_VB", ARN),
        ("TFC_VAULT_BACKED_AWS_VAULT_CONFIG_VB", "DEVOPS"),
        ("TFC_VAULT_BACKED_GCP_AUTH_VB", "true"),
        ("TFC_VAULT_BACKED_GCP_AUTH_TYPE_VB", "roleset/access_token"),
        ("TFC_VAULT_BACKED_GCP_RUN_VAULT_ROLESET_VB", "viewer"),
        ("TFC_VAULT_BACKED_GCP_VAULT_CONFIG_VB", "DEVOPS"),
        ("TFC_VAULT_BACKED_AZURE_AUTH_VB", "true"),
        ("TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE_VB", "contributor"),
        ("TFC_VAULT_BACKED_AZURE_VAULT_CONFIG_VB", "DEVOPS"),
        ("TFC_VAULT_BACKED_AZURE_SLEEP_SECONDS_VB", "20"),
    ]);
    v
}
