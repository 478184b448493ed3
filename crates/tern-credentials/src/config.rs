//! Workspace variables → typed configurations, per platform and tag (SPEC §4).
//!
//! Resolution order (tern decides; deterministic), for a phased variable `X`, phase `PH`, tag `T`:
//! `TFC_<P>_<PH>_X_T` → `TFC_DEFAULT_<P>_<PH>_X` → `TFC_<P>_RUN_X_T` → `TFC_DEFAULT_<P>_RUN_X`
//! (without `_T` for the default configuration); for a plain variable: `TFC_<P>_X_T` →
//! `TFC_DEFAULT_<P>_X`. Both phases are resolved up front, so a run whose apply could not
//! authenticate fails before its plan starts. Every problem is collected and reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use tern_types::{Audience, RunPhase};

use crate::error::{ConfigError, ConfigErrors, ConfigRef};
use crate::grammar::{self, Name, PhaseForm};
use crate::platform::{Platform, VarSpec};
use crate::tag::Tag;
use crate::terrakube;
use crate::values::{self, GcpProvider};

/// The workspace's variables, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    map: BTreeMap<String, (String, bool)>,
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `name` to `value`; a sensitive value is never echoed in messages.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>, sensitive: bool) {
        self.map.insert(name.into(), (value.into(), sensitive));
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|(v, _)| v.as_str())
    }

    /// Whether `name` is sensitive.
    pub fn is_sensitive(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|(_, s)| *s)
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// All names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// All (name, value, sensitive), sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.map.iter().map(|(k, (v, s))| (k.as_str(), v.as_str(), *s))
    }

    /// The value shown in messages: `None` when sensitive.
    pub(crate) fn shown(&self, name: &str) -> Option<String> {
        match self.map.get(name) {
            Some((v, false)) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Variables {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut vars = Self::new();
        for (k, v) in iter {
            vars.insert(k, v, false);
        }
        vars
    }
}

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A workspace variable.
    Variable(String),
    /// tern's default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variable(v) => f.write_str(v),
            Self::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Its origin.
    pub source: Source,
}

impl<T> Sourced<T> {
    fn default(value: T) -> Self {
        Self { value, source: Source::Default }
    }
}

/// A value per phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerPhase<T> {
    /// For the plan phase.
    pub plan: T,
    /// For the apply phase.
    pub apply: T,
}

impl<T> PerPhase<T> {
    /// The value for `phase`.
    pub fn get(&self, phase: RunPhase) -> &T {
        match phase {
            RunPhase::Plan => &self.plan,
            RunPhase::Apply => &self.apply,
        }
    }
}

/// Which system's variable names configured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// HCP Terraform's `TFC_*` names.
    Tfc,
    /// Terrakube's names (`ENABLE_DYNAMIC_CREDENTIALS_*`, `WORKLOAD_IDENTITY_*`).
    Terrakube,
}

/// One configuration of a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration<T> {
    /// `None` for the default configuration.
    pub tag: Option<Tag>,
    /// Which names configured it.
    pub origin: Origin,
    /// The settings.
    pub settings: T,
}

/// AWS: assume a role with the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Role to assume, per phase.
    pub role_arn: PerPhase<Sourced<String>>,
    /// Token audience.
    pub audience: Sourced<Audience>,
}

/// Google Cloud: who the federated token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcpPrincipal {
    /// Impersonate a service account (the default).
    ServiceAccount {
        /// Service account per phase.
        email: PerPhase<Sourced<String>>,
    },
    /// Use the federated identity directly (direct resource access).
    WorkloadPool,
}

/// Google Cloud workload identity federation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpSettings {
    /// The pool provider.
    pub provider: Sourced<GcpProvider>,
    /// Service account or pool identity.
    pub principal: GcpPrincipal,
    /// Token audience (default: the provider resource).
    pub audience: Sourced<Audience>,
}

/// Azure workload identity federation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    /// Application (client) id per phase.
    pub client_id: PerPhase<Sourced<String>>,
    /// Token audience.
    pub audience: Sourced<Audience>,
}

/// Kubernetes bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSettings {
    /// Token audience (required).
    pub audience: Sourced<Audience>,
}

/// Vault JWT login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultSettings {
    /// Vault address, without trailing slash.
    pub addr: Sourced<String>,
    /// Role per phase.
    pub role: PerPhase<Sourced<String>>,
    /// Namespace (Vault Enterprise / OpenBao namespaces).
    pub namespace: Option<Sourced<String>>,
    /// JWT auth mount path.
    pub auth_path: Sourced<String>,
    /// Token audience.
    pub audience: Sourced<Audience>,
    /// CA certificate(s), PEM.
    pub ca_cert: Option<Sourced<String>>,
    /// Timeout of each request to Vault.
    pub timeout: Sourced<Duration>,
}

/// How Vault's AWS secrets engine produces credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsAuthType {
    /// An IAM user created for the phase.
    IamUser,
    /// An assumed role (STS).
    AssumedRole,
    /// A federation token (STS).
    FederationToken,
}

impl AwsAuthType {
    /// The value as written in `AUTH_TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IamUser => "iam_user",
            Self::AssumedRole => "assumed_role",
            Self::FederationToken => "federation_token",
        }
    }
}

/// Vault-backed AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultBackedAwsSettings {
    /// Which Vault configuration to log in with (`None`: the default one).
    pub vault: Option<Tag>,
    /// Credential type.
    pub auth_type: Sourced<AwsAuthType>,
    /// Role in the secrets engine, per phase.
    pub vault_role: PerPhase<Sourced<String>>,
    /// Engine mount path.
    pub mount_path: Sourced<String>,
    /// Role ARN to assume (assumed_role), per phase.
    pub role_arn: Option<PerPhase<Sourced<String>>>,
    /// Wait after issuing credentials (IAM eventual consistency).
    pub sleep: Sourced<Duration>,
}

/// What Vault's GCP secrets engine is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcpAuthType {
    /// `roleset/access_token`.
    RolesetAccessToken,
    /// `roleset/service_account_key`.
    RolesetKey,
    /// `static_account/access_token`.
    StaticAccessToken,
    /// `static_account/service_account_key`.
    StaticKey,
}

impl GcpAuthType {
    /// The value as written in `AUTH_TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RolesetAccessToken => "roleset/access_token",
            Self::RolesetKey => "roleset/service_account_key",
            Self::StaticAccessToken => "static_account/access_token",
            Self::StaticKey => "static_account/service_account_key",
        }
    }

    /// Whether the engine is asked for a roleset (else a static account).
    pub fn is_roleset(self) -> bool {
        matches!(self, Self::RolesetAccessToken | Self::RolesetKey)
    }

    /// Whether the result is an OAuth access token (else a service account key).
    pub fn is_access_token(self) -> bool {
        matches!(self, Self::RolesetAccessToken | Self::StaticAccessToken)
    }
}

/// Vault-backed Google Cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultBackedGcpSettings {
    /// Which Vault configuration to log in with.
    pub vault: Option<Tag>,
    /// Credential type.
    pub auth_type: Sourced<GcpAuthType>,
    /// Roleset or static account name, per phase.
    pub name: PerPhase<Sourced<String>>,
    /// Engine mount path.
    pub mount_path: Sourced<String>,
}

/// Vault-backed Azure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultBackedAzureSettings {
    /// Which Vault configuration to log in with.
    pub vault: Option<Tag>,
    /// Role in the secrets engine, per phase.
    pub vault_role: PerPhase<Sourced<String>>,
    /// Engine mount path.
    pub mount_path: Sourced<String>,
    /// Wait after issuing credentials (Entra ID eventual consistency).
    pub sleep: Sourced<Duration>,
}

/// A generic token: `TFC_WORKLOAD_IDENTITY_AUDIENCE[_TAG]` → `TFC_WORKLOAD_IDENTITY_TOKEN[_TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericToken {
    /// `None` for the untagged one.
    pub tag: Option<Tag>,
    /// Token audience.
    pub audience: Sourced<Audience>,
}

impl GenericToken {
    /// The environment variable that receives the token.
    pub fn env_name(&self) -> String {
        match &self.tag {
            None => "TFC_WORKLOAD_IDENTITY_TOKEN".to_owned(),
            Some(t) => format!("TFC_WORKLOAD_IDENTITY_TOKEN_{t}"),
        }
    }
}

/// Every dynamic credentials configuration of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialConfigs {
    /// AWS configurations (default first, then aliases by tag).
    pub aws: Vec<Configuration<AwsSettings>>,
    /// Google Cloud.
    pub gcp: Vec<Configuration<GcpSettings>>,
    /// Azure.
    pub azure: Vec<Configuration<AzureSettings>>,
    /// Kubernetes.
    pub kubernetes: Vec<Configuration<KubernetesSettings>>,
    /// Vault.
    pub vault: Vec<Configuration<VaultSettings>>,
    /// Vault-backed AWS.
    pub vault_backed_aws: Vec<Configuration<VaultBackedAwsSettings>>,
    /// Vault-backed Google Cloud.
    pub vault_backed_gcp: Vec<Configuration<VaultBackedGcpSettings>>,
    /// Vault-backed Azure.
    pub vault_backed_azure: Vec<Configuration<VaultBackedAzureSettings>>,
    /// Generic tokens.
    pub generic: Vec<GenericToken>,
    /// Things worth knowing that are not errors (unused variables, ignored settings).
    pub warnings: Vec<String>,
}

impl CredentialConfigs {
    /// The tags of `platform`'s configurations (`None` = default), in order.
    pub fn tags(&self, platform: Platform) -> Vec<Option<Tag>> {
        fn tags<T>(c: &[Configuration<T>]) -> Vec<Option<Tag>> {
            c.iter().map(|c| c.tag.clone()).collect()
        }
        match platform {
            Platform::Aws => tags(&self.aws),
            Platform::Gcp => tags(&self.gcp),
            Platform::Azure => tags(&self.azure),
            Platform::Kubernetes => tags(&self.kubernetes),
            Platform::Vault => tags(&self.vault),
            Platform::VaultBackedAws => tags(&self.vault_backed_aws),
            Platform::VaultBackedGcp => tags(&self.vault_backed_gcp),
            Platform::VaultBackedAzure => tags(&self.vault_backed_azure),
        }
    }

    /// Whether `platform` has any configuration.
    pub fn enabled(&self, platform: Platform) -> bool {
        !self.tags(platform).is_empty()
    }

    /// Whether `platform` has alias configurations (then it hands over through the Terraform
    /// input variable, and sets no environment of its own).
    pub fn has_aliases(&self, platform: Platform) -> bool {
        self.tags(platform).iter().any(Option::is_some)
    }

    /// Whether nothing is configured.
    pub fn is_empty(&self) -> bool {
        Platform::ALL.iter().all(|p| !self.enabled(*p)) && self.generic.is_empty()
    }

    /// Every configuration with its settings for `phase` and where each came from, one per
    /// line (for `tern exec --dry-run`). Contains no secrets.
    pub fn describe(&self, phase: RunPhase) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let src = |s: &Source| format!(" ({s})");
        let head = |platform: Platform, tag: &Option<Tag>, origin: Origin| {
            let by = if origin == Origin::Terrakube { ", Terrakube variables" } else { "" };
            format!("{}{by}", ConfigRef { platform, tag: tag.clone() })
        };
        for c in &self.aws {
            let r = c.settings.role_arn.get(phase);
            let a = &c.settings.audience;
            let _ = writeln!(
                out,
                "  {}: role {}{}, audience {}{}",
                head(Platform::Aws, &c.tag, c.origin),
                r.value,
                src(&r.source),
                a.value,
                src(&a.source)
            );
        }
        for c in &self.gcp {
            let who = match &c.settings.principal {
                GcpPrincipal::ServiceAccount { email } => {
                    let e = email.get(phase);
                    format!("impersonates {}{}", e.value, src(&e.source))
                }
                GcpPrincipal::WorkloadPool => "acts as the workload pool identity".to_owned(),
            };
            let p = &c.settings.provider;
            let a = &c.settings.audience;
            let _ = writeln!(
                out,
                "  {}: provider {}{}, {who}, audience {}{}",
                head(Platform::Gcp, &c.tag, c.origin),
                p.value.name(),
                src(&p.source),
                a.value,
                src(&a.source)
            );
        }
        for c in &self.azure {
            let id = c.settings.client_id.get(phase);
            let a = &c.settings.audience;
            let _ = writeln!(
                out,
                "  {}: client {}{}, audience {}{}",
                head(Platform::Azure, &c.tag, c.origin),
                id.value,
                src(&id.source),
                a.value,
                src(&a.source)
            );
        }
        for c in &self.kubernetes {
            let a = &c.settings.audience;
            let _ = writeln!(
                out,
                "  {}: audience {}{}",
                head(Platform::Kubernetes, &c.tag, c.origin),
                a.value,
                src(&a.source)
            );
        }
        for c in &self.vault {
            let v = &c.settings;
            let role = v.role.get(phase);
            let _ = writeln!(
                out,
                "  {}: {}{} role {}{} auth path {}{} namespace {} audience {}{} timeout {}s",
                head(Platform::Vault, &c.tag, c.origin),
                v.addr.value,
                src(&v.addr.source),
                role.value,
                src(&role.source),
                v.auth_path.value,
                src(&v.auth_path.source),
                v.namespace.as_ref().map_or("-".to_owned(), |n| format!("{}{}", n.value, src(&n.source))),
                v.audience.value,
                src(&v.audience.source),
                v.timeout.value.as_secs(),
            );
        }
        let via = |t: &Option<Tag>| ConfigRef { platform: Platform::Vault, tag: t.clone() }.to_string();
        for c in &self.vault_backed_aws {
            let v = &c.settings;
            let role = v.vault_role.get(phase);
            let _ = writeln!(
                out,
                "  {}: {} from role {}{} at {} via {}",
                head(Platform::VaultBackedAws, &c.tag, c.origin),
                v.auth_type.value.as_str(),
                role.value,
                src(&role.source),
                v.mount_path.value,
                via(&v.vault)
            );
        }
        for c in &self.vault_backed_gcp {
            let v = &c.settings;
            let name = v.name.get(phase);
            let _ = writeln!(
                out,
                "  {}: {} {}{} at {} via {}",
                head(Platform::VaultBackedGcp, &c.tag, c.origin),
                v.auth_type.value.as_str(),
                name.value,
                src(&name.source),
                v.mount_path.value,
                via(&v.vault)
            );
        }
        for c in &self.vault_backed_azure {
            let v = &c.settings;
            let role = v.vault_role.get(phase);
            let _ = writeln!(
                out,
                "  {}: role {}{} at {} via {}",
                head(Platform::VaultBackedAzure, &c.tag, c.origin),
                role.value,
                src(&role.source),
                v.mount_path.value,
                via(&v.vault)
            );
        }
        for g in &self.generic {
            let _ = writeln!(
                out,
                "  generic token {}: audience {}{}",
                g.env_name(),
                g.audience.value,
                src(&g.audience.source)
            );
        }
        out
    }
}

/// Resolve every configuration from `vars`.
pub fn resolve(vars: &Variables) -> Result<CredentialConfigs, ConfigErrors> {
    let mut r = Resolver { vars, errors: Vec::new(), warnings: Vec::new() };
    let mut out = CredentialConfigs::default();

    // Pass 1: switches, generic tokens, and names that are wrong on their own.
    let mut switches: BTreeMap<(Platform, Option<Tag>), bool> = BTreeMap::new();
    let mut tagged_vars: BTreeMap<(Platform, Tag), Vec<String>> = BTreeMap::new();
    let mut default_vars: BTreeMap<Platform, Vec<String>> = BTreeMap::new();
    let mut unknown: Vec<(String, Platform, Option<String>)> = Vec::new();
    let mut tfc_names: BTreeMap<Platform, Vec<String>> = BTreeMap::new();
    for (name, value, _) in vars.iter() {
        match grammar::parse(name) {
            Name::Switch { platform, tag } => {
                tfc_names.entry(platform).or_default().push(name.to_owned());
                match value.trim().to_ascii_lowercase().as_str() {
                    "true" => {
                        switches.insert((platform, tag), true);
                    }
                    "false" => {
                        switches.insert((platform, tag), false);
                    }
                    _ => r.errors.push(ConfigError::InvalidSwitch {
                        variable: name.to_owned(),
                        value: value.to_owned(),
                        platform,
                    }),
                }
            }
            Name::Variable { platform, tag, default_prefix, .. } => {
                tfc_names.entry(platform).or_default().push(name.to_owned());
                match tag {
                    Some(tag) => tagged_vars.entry((platform, tag)).or_default().push(name.to_owned()),
                    None if !default_prefix => {
                        default_vars.entry(platform).or_default().push(name.to_owned())
                    }
                    None => {}
                }
            }
            Name::Generic { tag } => match Audience::parse(value) {
                Ok(audience) => out.generic.push(GenericToken {
                    tag,
                    audience: Sourced { value: audience, source: Source::Variable(name.to_owned()) },
                }),
                Err(e) => r.invalid(name, e.to_string()),
            },
            Name::DefaultSwitch { platform } => {
                r.errors.push(ConfigError::DefaultSwitch { variable: name.to_owned(), platform })
            }
            Name::BadTag { error, .. } => {
                r.errors.push(ConfigError::BadTag { variable: name.to_owned(), error })
            }
            Name::Unknown { platform, suggestion } => unknown.push((name.to_owned(), platform, suggestion)),
            Name::NotOurs => {}
        }
    }

    // Variables of configurations that are not switched on.
    for ((platform, tag), names) in &tagged_vars {
        match switches.get(&(*platform, Some(tag.clone()))) {
            Some(true) => {}
            Some(false) => r.warnings.push(format!(
                "{} {} ignored: {} is false",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                platform.enable_variable(Some(tag.as_str()))
            )),
            None => r.errors.push(ConfigError::TagWithoutSwitch {
                variables: names.clone(),
                config: ConfigRef { platform: *platform, tag: Some(tag.clone()) },
                switch: platform.enable_variable(Some(tag.as_str())),
            }),
        }
    }
    for (platform, names) in &default_vars {
        if switches.get(&(*platform, None)) != Some(&true) {
            r.warnings.push(format!(
                "{} {} unused: {} is not true",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                platform.enable_variable(None)
            ));
        }
    }
    for (name, platform, suggestion) in unknown {
        let enabled = switches.iter().any(|((p, _), on)| *p == platform && *on);
        if enabled {
            r.errors.push(ConfigError::UnknownVariable { variable: name, platform, suggestion });
        } else {
            r.warnings.push(format!(
                "{name} is not a {platform} dynamic credentials variable{}",
                suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
            ));
        }
    }

    // Pass 2: each enabled configuration, default first, then aliases in tag order.
    for ((platform, tag), on) in &switches {
        if !on {
            continue;
        }
        let cfg = ConfigRef { platform: *platform, tag: tag.clone() };
        match platform {
            Platform::Aws => push(&mut out.aws, tag, r.aws(&cfg)),
            Platform::Gcp => push(&mut out.gcp, tag, r.gcp(&cfg)),
            Platform::Azure => push(&mut out.azure, tag, r.azure(&cfg)),
            Platform::Kubernetes => push(&mut out.kubernetes, tag, r.kubernetes(&cfg)),
            Platform::Vault => push(&mut out.vault, tag, r.vault(&cfg)),
            Platform::VaultBackedAws => push(&mut out.vault_backed_aws, tag, r.vault_backed_aws(&cfg)),
            Platform::VaultBackedGcp => push(&mut out.vault_backed_gcp, tag, r.vault_backed_gcp(&cfg)),
            Platform::VaultBackedAzure => push(&mut out.vault_backed_azure, tag, r.vault_backed_azure(&cfg)),
        }
    }

    terrakube::resolve(vars, &tfc_names, &mut out, &mut r.errors, &mut r.warnings);
    check_vault_references(&out, &mut r.errors);
    check_overlaps(&out, &mut r.errors);
    // Conflicts are judged for every configuration that is switched on, even one whose own
    // variables failed, so the user sees every problem in one pass.
    let mut switched_on: Vec<ConfigRef> = switches
        .iter()
        .filter(|(_, on)| **on)
        .map(|((platform, tag), _)| ConfigRef { platform: *platform, tag: tag.clone() })
        .collect();
    for platform in [Platform::Aws, Platform::Gcp, Platform::Azure, Platform::Vault] {
        if out.tags(platform).contains(&None) && !switched_on.iter().any(|c| c.platform == platform) {
            switched_on.push(ConfigRef { platform, tag: None });
        }
    }
    check_conflicts(vars, &switched_on, &out, &mut r.errors);

    out.warnings = r.warnings;
    if r.errors.is_empty() { Ok(out) } else { Err(ConfigErrors(r.errors)) }
}

fn push<T>(list: &mut Vec<Configuration<T>>, tag: &Option<Tag>, settings: Option<T>) {
    if let Some(settings) = settings {
        list.push(Configuration { tag: tag.clone(), origin: Origin::Tfc, settings });
    }
}

pub(crate) struct Resolver<'a> {
    vars: &'a Variables,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<String>,
}

fn spec(platform: Platform, name: &str) -> VarSpec {
    platform
        .variables()
        .iter()
        .copied()
        .find(|s| s.name == name)
        .unwrap_or(VarSpec { name: "UNKNOWN", form: crate::platform::Form::Plain })
}

fn phase_form(phase: RunPhase) -> PhaseForm {
    match phase {
        RunPhase::Plan => PhaseForm::Plan,
        RunPhase::Apply => PhaseForm::Apply,
    }
}

impl Resolver<'_> {
    fn invalid(&mut self, variable: &str, reason: String) {
        self.errors.push(ConfigError::InvalidValue {
            variable: variable.to_owned(),
            value: self.vars.shown(variable),
            reason,
        });
    }

    /// Spellings of a plain variable, most specific first.
    fn plain_candidates(cfg: &ConfigRef, name: &str) -> Vec<String> {
        let s = spec(cfg.platform, name);
        vec![
            grammar::spelling(cfg.platform, &s, None, cfg.tag.as_ref(), false),
            grammar::spelling(cfg.platform, &s, None, None, true),
        ]
    }

    /// Spellings of a phased variable for `phase`, in resolution order.
    fn phased_candidates(cfg: &ConfigRef, name: &str, phase: RunPhase) -> Vec<String> {
        let s = spec(cfg.platform, name);
        let p = Some(phase_form(phase));
        let run = Some(PhaseForm::Run);
        vec![
            grammar::spelling(cfg.platform, &s, p, cfg.tag.as_ref(), false),
            grammar::spelling(cfg.platform, &s, p, None, true),
            grammar::spelling(cfg.platform, &s, run, cfg.tag.as_ref(), false),
            grammar::spelling(cfg.platform, &s, run, None, true),
        ]
    }

    fn first(&self, candidates: &[String]) -> Option<(String, String)> {
        candidates.iter().find_map(|c| self.vars.get(c).map(|v| (c.clone(), v.trim().to_owned())))
    }

    /// An optional plain value, validated.
    fn plain<T>(
        &mut self,
        cfg: &ConfigRef,
        name: &str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Sourced<T>> {
        let (var, value) = self.first(&Self::plain_candidates(cfg, name))?;
        match check(&value) {
            Ok(v) => Some(Sourced { value: v, source: Source::Variable(var) }),
            Err(reason) => {
                self.invalid(&var, reason);
                None
            }
        }
    }

    /// A required plain value.
    fn required<T>(
        &mut self,
        cfg: &ConfigRef,
        name: &str,
        what: &'static str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Sourced<T>> {
        let candidates = Self::plain_candidates(cfg, name);
        if self.first(&candidates).is_none() {
            self.errors.push(ConfigError::Missing { config: cfg.clone(), what, phase: None, candidates });
            return None;
        }
        self.plain(cfg, name, check)
    }

    /// A phased value for both phases; `None` (and no error) when absent and not `required`.
    fn phased<T: Clone>(
        &mut self,
        cfg: &ConfigRef,
        name: &str,
        what: &'static str,
        required: bool,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<PerPhase<Sourced<T>>> {
        let plan_c = Self::phased_candidates(cfg, name, RunPhase::Plan);
        let apply_c = Self::phased_candidates(cfg, name, RunPhase::Apply);
        match (self.first(&plan_c), self.first(&apply_c)) {
            (Some((pv, pval)), Some((av, aval))) => {
                let plan = match check(&pval) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.invalid(&pv, e);
                        None
                    }
                };
                let apply = if av == pv {
                    plan.clone()
                } else {
                    match check(&aval) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            self.invalid(&av, e);
                            None
                        }
                    }
                };
                Some(PerPhase {
                    plan: Sourced { value: plan?, source: Source::Variable(pv) },
                    apply: Sourced { value: apply?, source: Source::Variable(av) },
                })
            }
            (Some((set, _)), None) => self.no_fallback(cfg, what, set, RunPhase::Apply, apply_c),
            (None, Some((set, _))) => self.no_fallback(cfg, what, set, RunPhase::Plan, plan_c),
            (None, None) => {
                if required {
                    // [PLAN_X_T, DEFAULT_PLAN_X, RUN_X_T, DEFAULT_RUN_X]: say it the way a user acts.
                    let candidates = vec![
                        format!("{} (both phases)", plan_c[2]),
                        format!("{} and {}", plan_c[0], apply_c[0]),
                        plan_c[3].clone(),
                    ];
                    self.errors.push(ConfigError::Missing {
                        config: cfg.clone(),
                        what,
                        phase: None,
                        candidates,
                    });
                }
                None
            }
        }
    }

    /// A phase-specific value is set, but the other phase has none.
    fn no_fallback<T>(
        &mut self,
        cfg: &ConfigRef,
        what: &'static str,
        set: String,
        missing: RunPhase,
        candidates: Vec<String>,
    ) -> Option<T> {
        self.errors.push(ConfigError::PhaseWithoutFallback {
            config: cfg.clone(),
            what,
            set,
            missing,
            candidates,
        });
        None
    }

    fn audience(&mut self, cfg: &ConfigRef, default: Option<String>) -> Option<Sourced<Audience>> {
        let check = |v: &str| Audience::parse(v).map_err(|e| e.to_string());
        match default {
            Some(d) => match self.plain(cfg, "WORKLOAD_IDENTITY_AUDIENCE", check) {
                Some(a) => Some(a),
                None if self.first(&Self::plain_candidates(cfg, "WORKLOAD_IDENTITY_AUDIENCE")).is_some() => {
                    None
                }
                None => Audience::parse(&d).ok().map(Sourced::default),
            },
            None => self.required(cfg, "WORKLOAD_IDENTITY_AUDIENCE", "an audience", check),
        }
    }

    fn aws(&mut self, cfg: &ConfigRef) -> Option<AwsSettings> {
        let role_arn = self
            .phased(cfg, "ROLE_ARN", "role ARN", true, |v| values::aws_role_arn(v).map(|()| v.to_owned()));
        let audience = self.audience(cfg, Platform::Aws.default_audience().map(str::to_owned));
        Some(AwsSettings { role_arn: role_arn?, audience: audience? })
    }

    fn gcp(&mut self, cfg: &ConfigRef) -> Option<GcpSettings> {
        let principal_type = self.plain(cfg, "PRINCIPAL_TYPE", |v| match v {
            "service_account" | "workload_pool" => Ok(v.to_owned()),
            _ => Err("must be service_account (impersonate a service account, the default) or workload_pool (use the federated identity directly)".to_owned()),
        });
        let name = self.first(&Self::plain_candidates(cfg, "WORKLOAD_PROVIDER_NAME"));
        let parts: Vec<Option<(String, String)>> =
            ["PROJECT_NUMBER", "WORKLOAD_POOL_ID", "WORKLOAD_PROVIDER_ID"]
                .iter()
                .map(|p| self.first(&Self::plain_candidates(cfg, p)))
                .collect();
        let provider = match (name, parts.iter().any(Option::is_some)) {
            (Some((var, _)), true) => {
                self.errors.push(ConfigError::Invalid {
                    config: cfg.clone(),
                    reason: format!(
                        "{var} and the PROJECT_NUMBER/WORKLOAD_POOL_ID/WORKLOAD_PROVIDER_ID variables are both set; give the provider one way"
                    ),
                });
                None
            }
            (Some((var, value)), false) => match GcpProvider::parse(&value) {
                Ok(p) => Some(Sourced { value: p, source: Source::Variable(var) }),
                Err(e) => {
                    self.invalid(&var, e);
                    None
                }
            },
            (None, _) => {
                let names = ["PROJECT_NUMBER", "WORKLOAD_POOL_ID", "WORKLOAD_PROVIDER_ID"];
                if parts.iter().all(Option::is_some) {
                    let [n, p, q] = [&parts[0], &parts[1], &parts[2]]
                        .map(|x| x.as_ref().map(|(_, v)| v.as_str()).unwrap_or(""));
                    match GcpProvider::from_parts(n, p, q) {
                        Ok(provider) => Some(Sourced {
                            value: provider,
                            source: Source::Variable(
                                parts
                                    .iter()
                                    .flatten()
                                    .map(|(v, _)| v.as_str())
                                    .collect::<Vec<_>>()
                                    .join(" + "),
                            ),
                        }),
                        Err(e) => {
                            self.errors.push(ConfigError::Invalid { config: cfg.clone(), reason: e });
                            None
                        }
                    }
                } else {
                    let mut candidates = Self::plain_candidates(cfg, "WORKLOAD_PROVIDER_NAME");
                    let missing: Vec<String> = names
                        .iter()
                        .zip(&parts)
                        .filter(|(_, p)| p.is_none())
                        .map(|(n, _)| Self::plain_candidates(cfg, n)[0].clone())
                        .collect();
                    candidates.truncate(1);
                    candidates.push(format!("all of {}", missing.join(", ")));
                    self.errors.push(ConfigError::Missing {
                        config: cfg.clone(),
                        what: "a workload identity provider",
                        phase: None,
                        candidates,
                    });
                    None
                }
            }
        };
        let workload_pool = principal_type.as_ref().is_some_and(|p| p.value == "workload_pool");
        let principal = if workload_pool {
            if self.first(&Self::phased_candidates(cfg, "SERVICE_ACCOUNT_EMAIL", RunPhase::Plan)).is_some()
                || self
                    .first(&Self::phased_candidates(cfg, "SERVICE_ACCOUNT_EMAIL", RunPhase::Apply))
                    .is_some()
            {
                self.warnings.push(format!(
                    "{cfg}: the service account email is ignored: the principal type is workload_pool"
                ));
            }
            Some(GcpPrincipal::WorkloadPool)
        } else {
            self.phased(cfg, "SERVICE_ACCOUNT_EMAIL", "service account email", true, |v| {
                values::gcp_service_account(v).map(|()| v.to_owned())
            })
            .map(|email| GcpPrincipal::ServiceAccount { email })
        };
        let provider = provider?;
        let audience = self.audience(cfg, Some(provider.value.resource()));
        Some(GcpSettings { provider, principal: principal?, audience: audience? })
    }

    fn azure(&mut self, cfg: &ConfigRef) -> Option<AzureSettings> {
        let client_id = self.phased(cfg, "CLIENT_ID", "client ID", true, |v| {
            values::azure_client_id(v).map(|()| v.to_owned())
        });
        let audience = self.audience(cfg, Platform::Azure.default_audience().map(str::to_owned));
        Some(AzureSettings { client_id: client_id?, audience: audience? })
    }

    fn kubernetes(&mut self, cfg: &ConfigRef) -> Option<KubernetesSettings> {
        Some(KubernetesSettings { audience: self.audience(cfg, None)? })
    }

    fn vault(&mut self, cfg: &ConfigRef) -> Option<VaultSettings> {
        let addr = self.required(cfg, "ADDR", "the Vault address", values::vault_addr);
        let role =
            self.phased(cfg, "ROLE", "Vault role", true, |v| values::vault_name(v).map(|()| v.to_owned()));
        let namespace = self.plain(cfg, "NAMESPACE", |v| Ok(v.trim_matches('/').to_owned()));
        let auth_path = self
            .plain(cfg, "AUTH_PATH", values::vault_path)
            .unwrap_or_else(|| Sourced::default("jwt".to_owned()));
        let audience = self.audience(cfg, Platform::Vault.default_audience().map(str::to_owned));
        let ca_cert = self.plain(cfg, "ENCODED_CACERT", values::encoded_ca_cert);
        let timeout = self
            .plain(cfg, "CLIENT_TIMEOUT", |v| values::seconds(v, 1, 3600))
            .unwrap_or_else(|| Sourced::default(Duration::from_secs(60)));
        Some(VaultSettings {
            addr: addr?,
            role: role?,
            namespace,
            auth_path,
            audience: audience?,
            ca_cert,
            timeout,
        })
    }

    fn vault_config(&mut self, cfg: &ConfigRef) -> Option<Tag> {
        self.plain(cfg, "VAULT_CONFIG", |v| Tag::parse(v).map_err(|e| e.to_string())).map(|s| s.value)
    }

    fn vault_backed_aws(&mut self, cfg: &ConfigRef) -> Option<VaultBackedAwsSettings> {
        let vault = self.vault_config(cfg);
        let auth_type = self.required(
            cfg,
            "AUTH_TYPE",
            "an auth type (iam_user, assumed_role or federation_token)",
            |v| match v {
                "iam_user" => Ok(AwsAuthType::IamUser),
                "assumed_role" => Ok(AwsAuthType::AssumedRole),
                "federation_token" => Ok(AwsAuthType::FederationToken),
                _ => Err("must be iam_user, assumed_role or federation_token".to_owned()),
            },
        );
        let vault_role = self.phased(cfg, "VAULT_ROLE", "role in the AWS secrets engine", true, |v| {
            values::vault_name(v).map(|()| v.to_owned())
        });
        let mount_path = self
            .plain(cfg, "MOUNT_PATH", values::vault_path)
            .unwrap_or_else(|| Sourced::default("aws".to_owned()));
        let role_arn = self
            .phased(cfg, "ROLE_ARN", "role ARN", false, |v| values::aws_role_arn(v).map(|()| v.to_owned()));
        if role_arn.is_some() && auth_type.as_ref().is_some_and(|a| a.value != AwsAuthType::AssumedRole) {
            self.warnings.push(format!(
                "{cfg}: the role ARN is ignored: it only applies to the assumed_role auth type"
            ));
        }
        let sleep = self
            .plain(cfg, "SLEEP_SECONDS", |v| values::seconds(v, 0, 1500))
            .unwrap_or_else(|| Sourced::default(Duration::ZERO));
        Some(VaultBackedAwsSettings {
            vault,
            auth_type: auth_type?,
            vault_role: vault_role?,
            mount_path,
            role_arn,
            sleep,
        })
    }

    fn vault_backed_gcp(&mut self, cfg: &ConfigRef) -> Option<VaultBackedGcpSettings> {
        let vault = self.vault_config(cfg);
        let auth_type = self.required(cfg, "AUTH_TYPE", "an auth type", |v| match v {
            "roleset/access_token" => Ok(GcpAuthType::RolesetAccessToken),
            "roleset/service_account_key" => Ok(GcpAuthType::RolesetKey),
            "static_account/access_token" => Ok(GcpAuthType::StaticAccessToken),
            "static_account/service_account_key" => Ok(GcpAuthType::StaticKey),
            _ => Err("must be roleset/access_token, roleset/service_account_key, static_account/access_token or static_account/service_account_key".to_owned()),
        })?;
        let (wanted, other) = if auth_type.value.is_roleset() {
            ("VAULT_ROLESET", "VAULT_STATIC_ACCOUNT")
        } else {
            ("VAULT_STATIC_ACCOUNT", "VAULT_ROLESET")
        };
        let what = if auth_type.value.is_roleset() { "roleset" } else { "static account" };
        let name = self.phased(cfg, wanted, what, true, |v| values::vault_name(v).map(|()| v.to_owned()));
        if self.first(&Self::phased_candidates(cfg, other, RunPhase::Plan)).is_some() {
            self.warnings.push(format!(
                "{cfg}: the {other} variables are ignored with auth type {}",
                auth_type.value.as_str()
            ));
        }
        let mount_path = self
            .plain(cfg, "MOUNT_PATH", values::vault_path)
            .unwrap_or_else(|| Sourced::default("gcp".to_owned()));
        Some(VaultBackedGcpSettings { vault, auth_type, name: name?, mount_path })
    }

    fn vault_backed_azure(&mut self, cfg: &ConfigRef) -> Option<VaultBackedAzureSettings> {
        let vault = self.vault_config(cfg);
        let vault_role = self.phased(cfg, "VAULT_ROLE", "role in the Azure secrets engine", true, |v| {
            values::vault_name(v).map(|()| v.to_owned())
        });
        let mount_path = self
            .plain(cfg, "MOUNT_PATH", values::vault_path)
            .unwrap_or_else(|| Sourced::default("azure".to_owned()));
        let sleep = self
            .plain(cfg, "SLEEP_SECONDS", |v| values::seconds(v, 0, 1500))
            .unwrap_or_else(|| Sourced::default(Duration::ZERO));
        Some(VaultBackedAzureSettings { vault, vault_role: vault_role?, mount_path, sleep })
    }
}

/// Every Vault-backed configuration logs in through a Vault configuration that exists.
fn check_vault_references(out: &CredentialConfigs, errors: &mut Vec<ConfigError>) {
    let vault_tags: BTreeSet<Option<Tag>> = out.vault.iter().map(|c| c.tag.clone()).collect();
    let refs = out
        .vault_backed_aws
        .iter()
        .map(|c| (Platform::VaultBackedAws, &c.tag, &c.settings.vault))
        .chain(out.vault_backed_gcp.iter().map(|c| (Platform::VaultBackedGcp, &c.tag, &c.settings.vault)))
        .chain(
            out.vault_backed_azure.iter().map(|c| (Platform::VaultBackedAzure, &c.tag, &c.settings.vault)),
        );
    for (platform, tag, vault) in refs {
        if vault_tags.contains(vault) {
            continue;
        }
        let config = ConfigRef { platform, tag: tag.clone() };
        let reason = match vault {
            None => format!(
                "it logs in through the default Vault configuration, but {} is not true; switch that on, or set {} to the tag of a Vault configuration",
                Platform::Vault.enable_variable(None),
                grammar::spelling(platform, &spec(platform, "VAULT_CONFIG"), None, tag.as_ref(), false),
            ),
            Some(t) => format!(
                "it logs in through the Vault configuration {t}, but {} is not true",
                Platform::Vault.enable_variable(Some(t.as_str()))
            ),
        };
        errors.push(ConfigError::Invalid { config, reason });
    }
}

/// A platform and its Vault-backed twin cannot both set the environment.
fn check_overlaps(out: &CredentialConfigs, errors: &mut Vec<ConfigError>) {
    for (direct, backed) in [
        (Platform::Aws, Platform::VaultBackedAws),
        (Platform::Gcp, Platform::VaultBackedGcp),
        (Platform::Azure, Platform::VaultBackedAzure),
    ] {
        let env_mode = |p: Platform| out.tags(p).contains(&None) && !out.has_aliases(p);
        if env_mode(direct) && env_mode(backed) {
            errors.push(ConfigError::Invalid {
                config: ConfigRef { platform: backed, tag: None },
                reason: format!(
                    "{direct} also has a default configuration, and both would set the {direct} credentials in the environment; make one of them an alias (a tagged configuration)"
                ),
            });
        }
    }
}

/// Workspace variables that would override or mix with dynamic credentials.
fn check_conflicts(
    vars: &Variables,
    switched_on: &[ConfigRef],
    out: &CredentialConfigs,
    errors: &mut Vec<ConfigError>,
) {
    for platform in Platform::ALL {
        let Some(tag) = switched_on.iter().filter(|c| c.platform == platform).map(|c| c.tag.clone()).min()
        else {
            continue;
        };
        let terrakube_azure = platform == Platform::Azure
            && (out.azure.iter().any(|c| c.origin == Origin::Terrakube)
                || vars.contains("ENABLE_DYNAMIC_CREDENTIALS_AZURE"));
        for name in platform.credential_env() {
            if !vars.contains(name) || (terrakube_azure && *name == "ARM_CLIENT_ID") {
                continue;
            }
            errors.push(ConfigError::Conflict {
                variable: (*name).to_owned(),
                config: ConfigRef { platform, tag: tag.clone() },
                platform_name: platform.display_name(),
                reason: "the SDK would use it instead of, or mixed with, the dynamic credentials; remove it from the workspace",
            });
        }
    }
}
