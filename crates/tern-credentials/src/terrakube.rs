//! Terrakube's variable names, accepted for migration (SPEC §4). They configure the default
//! configuration of AWS, Google Cloud, Azure and Vault. Unlike Terrakube, tern requires the
//! switch to be `true` (Terrakube enables on mere presence) and never continues without a token.

use std::collections::BTreeMap;
use std::time::Duration;

use tern_types::Audience;

use crate::config::{
    AwsSettings, AzureSettings, Configuration, CredentialConfigs, GcpPrincipal, GcpSettings, Origin,
    PerPhase, Source, Sourced, Variables, VaultSettings,
};
use crate::error::{ConfigError, ConfigRef};
use crate::platform::Platform;
use crate::values::{self, GcpProvider};

/// The switch and the other Terrakube names of each platform.
const NAMES: [(Platform, &str, &[&str]); 4] = [
    (
        Platform::Aws,
        "ENABLE_DYNAMIC_CREDENTIALS_AWS",
        &["WORKLOAD_IDENTITY_ROLE_AWS", "WORKLOAD_IDENTITY_AUDIENCE_AWS"],
    ),
    (
        Platform::Gcp,
        "ENABLE_DYNAMIC_CREDENTIALS_GCP",
        &["WORKLOAD_IDENTITY_AUDIENCE_GCP", "WORKLOAD_IDENTITY_SERVICE_ACCOUNT_EMAIL"],
    ),
    (Platform::Azure, "ENABLE_DYNAMIC_CREDENTIALS_AZURE", &["WORKLOAD_IDENTITY_AUDIENCE_AZURE"]),
    (
        Platform::Vault,
        "ENABLE_DYNAMIC_CREDENTIALS_VAULT",
        &[
            "WORKLOAD_IDENTITY_VAULT_ROLE",
            "WORKLOAD_IDENTITY_VAULT_AUDIENCE",
            "WORKLOAD_IDENTITY_VAULT_AUTH_PATH",
        ],
    ),
];

struct Lookup<'a> {
    vars: &'a Variables,
    config: ConfigRef,
    errors: &'a mut Vec<ConfigError>,
}

impl Lookup<'_> {
    fn required<T>(
        &mut self,
        name: &str,
        what: &'static str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Sourced<T>> {
        let Some(value) = self.vars.get(name) else {
            self.errors.push(ConfigError::Missing {
                config: self.config.clone(),
                what,
                phase: None,
                candidates: vec![name.to_owned()],
            });
            return None;
        };
        self.check(name, value.trim(), check)
    }

    fn optional<T>(&mut self, name: &str, check: impl Fn(&str) -> Result<T, String>) -> Option<Sourced<T>> {
        let value = self.vars.get(name)?;
        self.check(name, value.trim(), check)
    }

    fn check<T>(
        &mut self,
        name: &str,
        value: &str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Sourced<T>> {
        match check(value) {
            Ok(v) => Some(Sourced { value: v, source: Source::Variable(name.to_owned()) }),
            Err(reason) => {
                self.errors.push(ConfigError::InvalidValue {
                    variable: name.to_owned(),
                    value: self.vars.shown(name),
                    reason,
                });
                None
            }
        }
    }
}

fn configured<T>(settings: T) -> Configuration<T> {
    Configuration { tag: None, origin: Origin::Terrakube, settings }
}

fn both<T: Clone>(s: Sourced<T>) -> PerPhase<Sourced<T>> {
    PerPhase { plan: s.clone(), apply: s }
}

fn audience(v: &str) -> Result<Audience, String> {
    Audience::parse(v).map_err(|e| e.to_string())
}

pub(crate) fn resolve(
    vars: &Variables,
    tfc_names: &BTreeMap<Platform, Vec<String>>,
    out: &mut CredentialConfigs,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) {
    for (platform, switch, others) in NAMES {
        let present: Vec<String> = std::iter::once(switch)
            .chain(others.iter().copied())
            .filter(|n| vars.contains(n))
            .map(str::to_owned)
            .collect();
        if present.is_empty() {
            continue;
        }
        if let Some(tfc) = tfc_names.get(&platform) {
            errors.push(ConfigError::MixedNames { platform, tfc: tfc.clone(), terrakube: present });
            continue;
        }
        let Some(value) = vars.get(switch) else {
            warnings.push(format!("{} unused: {switch} is not set", present.join(", ")));
            continue;
        };
        if !value.trim().eq_ignore_ascii_case("true") {
            errors.push(ConfigError::TerrakubeSwitch {
                variable: switch.to_owned(),
                value: value.to_owned(),
                platform,
            });
            continue;
        }
        let mut l = Lookup { vars, config: ConfigRef { platform, tag: None }, errors: &mut *errors };
        match platform {
            Platform::Aws => {
                let role = l.required("WORKLOAD_IDENTITY_ROLE_AWS", "a role ARN", |v| {
                    values::aws_role_arn(v).map(|()| v.to_owned())
                });
                let aud = l.required(
                    "WORKLOAD_IDENTITY_AUDIENCE_AWS",
                    "an audience (Terrakube has no default)",
                    audience,
                );
                if let (Some(role), Some(aud)) = (role, aud) {
                    out.aws.insert(0, configured(AwsSettings { role_arn: both(role), audience: aud }));
                }
            }
            Platform::Gcp => {
                let aud = l.required(
                    "WORKLOAD_IDENTITY_AUDIENCE_GCP",
                    "the workload identity provider as audience (//iam.googleapis.com/projects/…/providers/…)",
                    |v| {
                        let name = v.strip_prefix("//iam.googleapis.com/").ok_or_else(|| {
                            "must be the provider resource //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>".to_owned()
                        })?;
                        Ok((GcpProvider::parse(name)?, audience(v)?))
                    },
                );
                let email =
                    l.required("WORKLOAD_IDENTITY_SERVICE_ACCOUNT_EMAIL", "a service account email", |v| {
                        values::gcp_service_account(v).map(|()| v.to_owned())
                    });
                if let (Some(aud), Some(email)) = (aud, email) {
                    let (provider, audience) = aud.value;
                    out.gcp.insert(
                        0,
                        Configuration {
                            tag: None,
                            origin: Origin::Terrakube,
                            settings: GcpSettings {
                                provider: Sourced { value: provider, source: aud.source.clone() },
                                principal: GcpPrincipal::ServiceAccount { email: both(email) },
                                audience: Sourced { value: audience, source: aud.source },
                            },
                        },
                    );
                }
            }
            Platform::Azure => {
                let aud = l.required(
                    "WORKLOAD_IDENTITY_AUDIENCE_AZURE",
                    "an audience (Terrakube has no default)",
                    audience,
                );
                let client = l.required("ARM_CLIENT_ID", "the application (client) id", |v| {
                    values::azure_client_id(v).map(|()| v.to_owned())
                });
                if let (Some(aud), Some(client)) = (aud, client) {
                    out.azure.insert(0, configured(AzureSettings { client_id: both(client), audience: aud }));
                }
            }
            Platform::Vault => {
                let addr = l.required("VAULT_ADDR", "the Vault address", values::vault_addr);
                let role = l.required("WORKLOAD_IDENTITY_VAULT_ROLE", "a Vault role", |v| {
                    values::vault_name(v).map(|()| v.to_owned())
                });
                let aud = l.required(
                    "WORKLOAD_IDENTITY_VAULT_AUDIENCE",
                    "an audience (Terrakube has no default)",
                    audience,
                );
                let auth_path = l
                    .optional("WORKLOAD_IDENTITY_VAULT_AUTH_PATH", values::vault_path)
                    .unwrap_or(Sourced { value: "jwt".to_owned(), source: Source::Default });
                let namespace = l.optional("VAULT_NAMESPACE", |v| Ok(v.trim_matches('/').to_owned()));
                if let (Some(addr), Some(role), Some(aud)) = (addr, role, aud) {
                    out.vault.insert(
                        0,
                        configured(VaultSettings {
                            addr,
                            role: both(role),
                            namespace,
                            auth_path,
                            audience: aud,
                            ca_cert: None,
                            timeout: Sourced { value: Duration::from_secs(60), source: Source::Default },
                        }),
                    );
                }
            }
            _ => {}
        }
    }
}
