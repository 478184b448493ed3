//! The platforms tern provides dynamic credentials for, and the variables each one reads
//! (SPEC §4). One table drives the grammar, the resolution, the conflict rules and the docs.

use std::fmt;

/// A platform that has dynamic credentials configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// AWS: `AssumeRoleWithWebIdentity`, done by the AWS SDK from a token file.
    Aws,
    /// Google Cloud: workload identity federation through an `external_account` file.
    Gcp,
    /// Azure: workload identity federation from a token file.
    Azure,
    /// Kubernetes: the token as a bearer token.
    Kubernetes,
    /// Vault: tern logs in with the token and hands over a Vault token.
    Vault,
    /// AWS credentials from Vault's AWS secrets engine.
    VaultBackedAws,
    /// Google Cloud credentials from Vault's GCP secrets engine.
    VaultBackedGcp,
    /// Azure credentials from Vault's Azure secrets engine.
    VaultBackedAzure,
}

/// Whether a variable has `RUN_`/`PLAN_`/`APPLY_` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// One value for both phases.
    Plain,
    /// `RUN_<X>` for both phases, `PLAN_<X>` / `APPLY_<X>` to override one.
    Phased,
}

/// A variable of a platform: `TFC_<P>_<name>` (plain) or `TFC_<P>_{RUN,PLAN,APPLY}_<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSpec {
    /// The name without prefix, tag or phase, e.g. `ROLE_ARN`.
    pub name: &'static str,
    /// Plain or phased.
    pub form: Form,
}

const fn plain(name: &'static str) -> VarSpec {
    VarSpec { name, form: Form::Plain }
}

const fn phased(name: &'static str) -> VarSpec {
    VarSpec { name, form: Form::Phased }
}

impl Platform {
    /// Every platform, in documentation order.
    pub const ALL: [Platform; 8] = [
        Self::Aws,
        Self::Gcp,
        Self::Azure,
        Self::Kubernetes,
        Self::Vault,
        Self::VaultBackedAws,
        Self::VaultBackedGcp,
        Self::VaultBackedAzure,
    ];

    /// The `<P>` of the variable names: `AWS`, `VAULT_BACKED_AWS`, …
    pub fn key(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Gcp => "GCP",
            Self::Azure => "AZURE",
            Self::Kubernetes => "KUBERNETES",
            Self::Vault => "VAULT",
            Self::VaultBackedAws => "VAULT_BACKED_AWS",
            Self::VaultBackedGcp => "VAULT_BACKED_GCP",
            Self::VaultBackedAzure => "VAULT_BACKED_AZURE",
        }
    }

    /// Human name for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::Gcp => "Google Cloud",
            Self::Azure => "Azure",
            Self::Kubernetes => "Kubernetes",
            Self::Vault => "Vault",
            Self::VaultBackedAws => "Vault-backed AWS",
            Self::VaultBackedGcp => "Vault-backed Google Cloud",
            Self::VaultBackedAzure => "Vault-backed Azure",
        }
    }

    /// The switch after `TFC_<P>_`: `PROVIDER_AUTH`, or `AUTH` for the Vault-backed platforms.
    pub fn enable_name(self) -> &'static str {
        match self {
            Self::VaultBackedAws | Self::VaultBackedGcp | Self::VaultBackedAzure => "AUTH",
            _ => "PROVIDER_AUTH",
        }
    }

    /// `TFC_<P>_PROVIDER_AUTH[_<TAG>]`.
    pub fn enable_variable(self, tag: Option<&str>) -> String {
        match tag {
            None => format!("TFC_{}_{}", self.key(), self.enable_name()),
            Some(t) => format!("TFC_{}_{}_{t}", self.key(), self.enable_name()),
        }
    }

    /// The variables this platform reads (besides the switch).
    pub fn variables(self) -> &'static [VarSpec] {
        const AWS: &[VarSpec] = &[phased("ROLE_ARN"), plain("WORKLOAD_IDENTITY_AUDIENCE")];
        const GCP: &[VarSpec] = &[
            phased("SERVICE_ACCOUNT_EMAIL"),
            plain("WORKLOAD_PROVIDER_NAME"),
            plain("PROJECT_NUMBER"),
            plain("WORKLOAD_POOL_ID"),
            plain("WORKLOAD_PROVIDER_ID"),
            plain("WORKLOAD_IDENTITY_AUDIENCE"),
            plain("PRINCIPAL_TYPE"),
        ];
        const AZURE: &[VarSpec] = &[phased("CLIENT_ID"), plain("WORKLOAD_IDENTITY_AUDIENCE")];
        const KUBERNETES: &[VarSpec] = &[plain("WORKLOAD_IDENTITY_AUDIENCE")];
        const VAULT: &[VarSpec] = &[
            plain("ADDR"),
            phased("ROLE"),
            plain("NAMESPACE"),
            plain("AUTH_PATH"),
            plain("WORKLOAD_IDENTITY_AUDIENCE"),
            plain("ENCODED_CACERT"),
            plain("CLIENT_TIMEOUT"),
        ];
        const VAULT_BACKED_AWS: &[VarSpec] = &[
            plain("AUTH_TYPE"),
            phased("VAULT_ROLE"),
            plain("MOUNT_PATH"),
            phased("ROLE_ARN"),
            plain("SLEEP_SECONDS"),
            plain("VAULT_CONFIG"),
        ];
        const VAULT_BACKED_GCP: &[VarSpec] = &[
            plain("AUTH_TYPE"),
            phased("VAULT_ROLESET"),
            phased("VAULT_STATIC_ACCOUNT"),
            plain("MOUNT_PATH"),
            plain("VAULT_CONFIG"),
        ];
        const VAULT_BACKED_AZURE: &[VarSpec] =
            &[phased("VAULT_ROLE"), plain("MOUNT_PATH"), plain("SLEEP_SECONDS"), plain("VAULT_CONFIG")];
        match self {
            Self::Aws => AWS,
            Self::Gcp => GCP,
            Self::Azure => AZURE,
            Self::Kubernetes => KUBERNETES,
            Self::Vault => VAULT,
            Self::VaultBackedAws => VAULT_BACKED_AWS,
            Self::VaultBackedGcp => VAULT_BACKED_GCP,
            Self::VaultBackedAzure => VAULT_BACKED_AZURE,
        }
    }

    /// The Terraform input variable that carries alias configurations:
    /// `tfc_aws_dynamic_credentials`, …
    pub fn tfvars_variable(self) -> String {
        format!("tfc_{}_dynamic_credentials", self.key().to_ascii_lowercase())
    }

    /// The default audience of the workload identity token, if the platform has one.
    /// (Google Cloud's depends on the provider; Kubernetes has none.)
    pub fn default_audience(self) -> Option<&'static str> {
        match self {
            Self::Aws => Some("aws.workload.identity"),
            Self::Azure => Some("api://AzureADTokenExchange"),
            Self::Vault => Some("vault.workload.identity"),
            _ => None,
        }
    }

    /// Environment variables that carry this platform's credentials or choose how its SDKs
    /// find them. A workspace that sets one of them beside dynamic credentials for the platform
    /// is misconfigured (SPEC §5); the runner's own are removed from the command's environment.
    pub fn credential_env(self) -> &'static [&'static str] {
        match self {
            Self::Aws | Self::VaultBackedAws => &[
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN",
                "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE",
                "AWS_ROLE_ARN",
                "AWS_ROLE_SESSION_NAME",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_CONFIG_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            ],
            Self::Gcp | Self::VaultBackedGcp => &[
                "GOOGLE_CREDENTIALS",
                "GOOGLE_CLOUD_KEYFILE_JSON",
                "GCLOUD_KEYFILE_JSON",
                "GOOGLE_APPLICATION_CREDENTIALS",
                "GOOGLE_OAUTH_ACCESS_TOKEN",
                "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT",
                "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
                "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
            ],
            Self::Azure | Self::VaultBackedAzure => &[
                "ARM_CLIENT_ID",
                "ARM_CLIENT_SECRET",
                "ARM_CLIENT_CERTIFICATE",
                "ARM_CLIENT_CERTIFICATE_PATH",
                "ARM_CLIENT_CERTIFICATE_PASSWORD",
                "ARM_USE_MSI",
                "ARM_MSI_ENDPOINT",
                "ARM_OIDC_TOKEN",
                "ARM_OIDC_TOKEN_FILE_PATH",
                "ARM_OIDC_REQUEST_TOKEN",
                "ARM_OIDC_REQUEST_URL",
                "AZURE_CLIENT_ID",
                "AZURE_CLIENT_SECRET",
                "AZURE_CLIENT_CERTIFICATE_PATH",
                "AZURE_FEDERATED_TOKEN_FILE",
                "AZURE_USERNAME",
                "AZURE_PASSWORD",
            ],
            Self::Kubernetes => {
                &["KUBE_TOKEN", "KUBE_CLIENT_KEY_DATA", "KUBE_CLIENT_CERT_DATA", "KUBE_PASSWORD"]
            }
            Self::Vault => &["VAULT_TOKEN"],
        }
    }

    /// Variables that switch off an SDK's fallback to the machine's own identity (instance
    /// metadata), so a misconfiguration fails instead of silently using the runner's identity
    /// (Terrakube issue 3206).
    pub fn fallback_off(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Aws | Self::VaultBackedAws => &[("AWS_EC2_METADATA_DISABLED", "true")],
            Self::Gcp | Self::VaultBackedGcp => &[("NO_GCE_CHECK", "True")],
            Self::Azure | Self::VaultBackedAzure => &[("ARM_USE_MSI", "false")],
            Self::Kubernetes | Self::Vault => &[],
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}
