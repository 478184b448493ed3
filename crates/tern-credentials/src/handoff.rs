//! The hand-off plan (SPEC §5): what a phase gets, as data. [`plan`] maps configurations to
//! token files and inline tokens, static files (AWS config, Google `external_account`, Azure
//! client id, Vault CA), Vault logins and secrets-engine reads, literal environment variables,
//! the variables to remove from the runner's environment, and the
//! `tfc_<platform>_dynamic_credentials` input variables for aliases. It computes paths and
//! contents but touches nothing; `tern-handoff` carries it out.
//!
//! A platform with only a default configuration hands over through the environment. A platform
//! with aliases sets no environment of its own; its default configuration (if any) and its
//! aliases go into the Terraform input variable, by path only — never a secret, because
//! Terraform stores variable values in saved plan files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tern_types::{Audience, RunPhase};

use crate::config::{AwsAuthType, CredentialConfigs, GcpPrincipal, Variables};
use crate::platform::Platform;
use crate::tag::Tag;

/// Service endpoints that tern writes into credential files. Defaults are Google's public
/// endpoints; Private Service Connect (and tests) use others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Google STS token exchange (`token_url`).
    pub gcp_sts: String,
    /// Google IAM Credentials base URL (service account impersonation).
    pub gcp_iam_credentials: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            gcp_sts: "https://sts.googleapis.com/v1/token".to_owned(),
            gcp_iam_credentials: "https://iamcredentials.googleapis.com".to_owned(),
        }
    }
}

/// What the plan is computed for.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The workspace's configurations.
    pub configs: &'a CredentialConfigs,
    /// The workspace's variables (for values copied between SDK conventions).
    pub variables: &'a Variables,
    /// The phase.
    pub phase: RunPhase,
    /// The run id, for session names.
    pub run_id: &'a str,
    /// The run's private credentials directory (stable for the whole run).
    pub dir: &'a Path,
    /// The working directory of the configuration (gets the tfvars file).
    pub workdir: &'a Path,
    /// Service endpoints.
    pub endpoints: &'a Endpoints,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A path that is not UTF-8 cannot be written into configuration files.
    #[error("path {0:?} is not valid UTF-8; credential file paths are written into configuration files")]
    NonUtf8Path(PathBuf),
    /// The credentials directory is inside the working directory.
    #[error(
        "the credentials directory {dir} is inside the working directory {workdir}; credentials must live outside the configuration, which may be archived or uploaded"
    )]
    DirInsideWorkdir {
        /// The credentials directory.
        dir: PathBuf,
        /// The working directory.
        workdir: PathBuf,
    },
}

/// Where a minted token goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenTarget {
    /// A file, refreshed before the token expires.
    File(PathBuf),
    /// An environment variable: cannot be refreshed, so it lives for the phase timeout.
    Env(String),
}

/// A workload identity token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedToken {
    /// Which configuration it serves, e.g. `AWS (configuration PROD)`.
    pub purpose: String,
    /// Its audience.
    pub audience: Audience,
    /// File or environment variable.
    pub target: TokenTarget,
}

/// A file with known contents (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Which configuration it serves.
    pub purpose: String,
    /// Where.
    pub path: PathBuf,
    /// What.
    pub contents: String,
}

/// A Vault JWT login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultLogin {
    /// The Vault configuration's tag (`None` = default); Vault-backed reads refer to it.
    pub key: Option<Tag>,
    /// Which configuration it serves.
    pub purpose: String,
    /// Vault address.
    pub addr: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// JWT auth mount path.
    pub auth_path: String,
    /// Role for this phase.
    pub role: String,
    /// Audience of the token presented.
    pub audience: Audience,
    /// CA bundle (PEM), when Vault's certificate is from a private CA.
    pub ca_pem: Option<String>,
    /// Where the plan writes that CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Timeout of each request.
    pub timeout: Duration,
    /// Where to write the Vault token (always: teardown and crash recovery revoke it from there).
    pub token_file: PathBuf,
    /// Environment variable that receives the Vault token, when the Vault configuration
    /// hands over through the environment.
    pub token_env: Option<String>,
}

/// What a secrets-engine response becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOutput {
    /// AWS keys → a shared credentials file (`[default]` profile).
    AwsCredentials {
        /// The file.
        file: PathBuf,
    },
    /// A Google OAuth access token → a file, and `GOOGLE_OAUTH_ACCESS_TOKEN` in env mode.
    GcpAccessToken {
        /// The file.
        file: PathBuf,
        /// Set `GOOGLE_OAUTH_ACCESS_TOKEN`.
        env: bool,
    },
    /// A Google service account key → a JSON key file.
    GcpKey {
        /// The file.
        file: PathBuf,
    },
    /// Azure client id and secret → two files, and `ARM_CLIENT_ID`/`ARM_CLIENT_SECRET` in env mode.
    AzureClient {
        /// Client id file.
        client_id_file: PathBuf,
        /// Client secret file.
        client_secret_file: PathBuf,
        /// Set the environment variables.
        env: bool,
    },
}

/// HTTP method of a secrets-engine request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A secrets-engine request made with a Vault login's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultRead {
    /// Which configuration it serves.
    pub purpose: String,
    /// The Vault login to use.
    pub vault: Option<Tag>,
    /// Method.
    pub method: Method,
    /// API path after `/v1/`, e.g. `aws/creds/deploy`.
    pub path: String,
    /// JSON body for POST.
    pub body: Option<Value>,
    /// What to do with the response.
    pub output: SecretOutput,
    /// Wait this long before handing the credentials over (cloud eventual consistency).
    pub sleep: Duration,
}

/// Everything a phase gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandoffPlan {
    /// The run's private directory.
    pub dir: PathBuf,
    /// Tokens to mint.
    pub tokens: Vec<PlannedToken>,
    /// Files with known contents.
    pub files: Vec<PlannedFile>,
    /// Vault logins.
    pub vault_logins: Vec<VaultLogin>,
    /// Secrets-engine reads.
    pub vault_reads: Vec<VaultRead>,
    /// Literal environment variables (never secrets).
    pub env: BTreeMap<String, String>,
    /// Variables to remove from the runner's environment.
    pub unset: BTreeSet<String>,
    /// The Terraform input variables file in the working directory, when there are aliases.
    pub tfvars: Option<PlannedFile>,
    /// Notes for the dry run (e.g. which tokens cannot be refreshed).
    pub notes: Vec<String>,
}

/// Name of the input-variables file tern writes into the working directory.
pub const TFVARS_FILE: &str = "zz-tern-dynamic-credentials.auto.tfvars.json";

fn slug(platform: Platform) -> &'static str {
    match platform {
        Platform::Aws => "aws",
        Platform::Gcp => "gcp",
        Platform::Azure => "azure",
        Platform::Kubernetes => "kubernetes",
        Platform::Vault => "vault",
        Platform::VaultBackedAws => "vault-backed-aws",
        Platform::VaultBackedGcp => "vault-backed-gcp",
        Platform::VaultBackedAzure => "vault-backed-azure",
    }
}

fn purpose(platform: Platform, tag: &Option<Tag>) -> String {
    crate::error::ConfigRef { platform, tag: tag.clone() }.to_string()
}

/// The AWS role session name: `tern-<run id>-<phase>`, at most 64 characters, so CloudTrail
/// shows which run and phase acted.
pub fn aws_session_name(run_id: &str, phase: RunPhase) -> String {
    let mut name = format!("tern-{run_id}-{phase}");
    name.retain(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
    name.truncate(64);
    name
}

/// An AWS shared config file with one `[default]` profile that assumes `role_arn` with the
/// token in `token_file`.
pub fn aws_config_file(role_arn: &str, token_file: &str, session_name: &str) -> String {
    format!(
        "[default]\nrole_arn = {role_arn}\nweb_identity_token_file = {token_file}\nrole_session_name = {session_name}\n"
    )
}

/// An AWS shared credentials file with one `[default]` profile.
pub fn aws_credentials_file(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> String {
    let mut out = format!(
        "[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n"
    );
    if let Some(token) = session_token {
        out.push_str(&format!("aws_session_token = {token}\n"));
    }
    out
}

/// Google's `external_account` credential file. Its `audience` is always the provider resource
/// (`//iam.googleapis.com/…`): STS requires that, whatever `aud` the JWT carries (OTF writes the
/// custom JWT audience here, which STS refuses).
pub fn gcp_external_account(
    provider_resource: &str,
    token_file: &str,
    service_account: Option<&str>,
    endpoints: &Endpoints,
) -> String {
    let mut doc = json!({
        "type": "external_account",
        "audience": provider_resource,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": endpoints.gcp_sts,
        "credential_source": { "file": token_file },
    });
    if let (Some(email), Some(obj)) = (service_account, doc.as_object_mut()) {
        obj.insert(
            "service_account_impersonation_url".to_owned(),
            Value::String(format!(
                "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
                endpoints.gcp_iam_credentials.trim_end_matches('/')
            )),
        );
    }
    pretty(&doc)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    plan: HandoffPlan,
    tfvars: BTreeMap<String, (Value, BTreeMap<String, Value>)>,
}

impl Planner<'_> {
    fn path(
        &self,
        platform: Platform,
        tag: &Option<Tag>,
        kind: &str,
    ) -> Result<(PathBuf, String), PlanError> {
        let name = match tag {
            None => format!("{}.{kind}", slug(platform)),
            Some(t) => format!("{}.{t}.{kind}", slug(platform)),
        };
        let path = self.input.dir.join(name);
        let text = path.to_str().ok_or_else(|| PlanError::NonUtf8Path(path.clone()))?.to_owned();
        Ok((path, text))
    }

    fn token_file(
        &mut self,
        platform: Platform,
        tag: &Option<Tag>,
        audience: &Audience,
    ) -> Result<String, PlanError> {
        let (path, text) = self.path(platform, tag, "token")?;
        self.plan.tokens.push(PlannedToken {
            purpose: purpose(platform, tag),
            audience: audience.clone(),
            target: TokenTarget::File(path),
        });
        Ok(text)
    }

    fn file(
        &mut self,
        platform: Platform,
        tag: &Option<Tag>,
        kind: &str,
        contents: String,
    ) -> Result<String, PlanError> {
        let (path, text) = self.path(platform, tag, kind)?;
        self.plan.files.push(PlannedFile { purpose: purpose(platform, tag), path, contents });
        Ok(text)
    }

    fn env(&mut self, name: &str, value: impl Into<String>) {
        self.plan.env.insert(name.to_owned(), value.into());
    }

    /// Record a configuration's entry in `tfc_<platform>_dynamic_credentials`.
    fn tfvar(&mut self, platform: Platform, tag: &Option<Tag>, fields: Value) {
        let entry = self.tfvars.entry(platform.tfvars_variable()).or_insert((Value::Null, BTreeMap::new()));
        match tag {
            None => entry.0 = fields,
            Some(t) => {
                entry.1.insert(t.to_string(), fields);
            }
        }
    }
}

/// Compute the hand-off for one phase.
pub fn plan(input: &PlanInput<'_>) -> Result<HandoffPlan, PlanError> {
    if input.dir.starts_with(input.workdir) {
        return Err(PlanError::DirInsideWorkdir {
            dir: input.dir.to_path_buf(),
            workdir: input.workdir.to_path_buf(),
        });
    }
    let configs = input.configs;
    let phase = input.phase;
    let mut p = Planner {
        input,
        plan: HandoffPlan { dir: input.dir.to_path_buf(), ..HandoffPlan::default() },
        tfvars: BTreeMap::new(),
    };
    let session = aws_session_name(input.run_id, phase);

    for c in &configs.aws {
        let aliases = configs.has_aliases(Platform::Aws);
        let token = p.token_file(Platform::Aws, &c.tag, &c.settings.audience.value)?;
        let role = &c.settings.role_arn.get(phase).value;
        if aliases {
            let config = p.file(Platform::Aws, &c.tag, "config", aws_config_file(role, &token, &session))?;
            p.tfvar(Platform::Aws, &c.tag, json!({ "shared_config_file": config }));
        } else {
            p.env("AWS_ROLE_ARN", role.as_str());
            p.env("AWS_WEB_IDENTITY_TOKEN_FILE", token);
            p.env("AWS_ROLE_SESSION_NAME", session.as_str());
        }
    }

    for c in &configs.gcp {
        let aliases = configs.has_aliases(Platform::Gcp);
        let token = p.token_file(Platform::Gcp, &c.tag, &c.settings.audience.value)?;
        let email = match &c.settings.principal {
            GcpPrincipal::ServiceAccount { email } => Some(email.get(phase).value.as_str()),
            GcpPrincipal::WorkloadPool => None,
        };
        let doc = gcp_external_account(&c.settings.provider.value.resource(), &token, email, input.endpoints);
        let credentials = p.file(Platform::Gcp, &c.tag, "credentials.json", doc)?;
        if aliases {
            p.tfvar(Platform::Gcp, &c.tag, json!({ "credentials": credentials }));
        } else {
            p.env("GOOGLE_APPLICATION_CREDENTIALS", credentials);
        }
    }

    for c in &configs.azure {
        let aliases = configs.has_aliases(Platform::Azure);
        let token = p.token_file(Platform::Azure, &c.tag, &c.settings.audience.value)?;
        let client_id = c.settings.client_id.get(phase).value.clone();
        if aliases {
            let id_file = p.file(Platform::Azure, &c.tag, "client-id", client_id)?;
            p.tfvar(
                Platform::Azure,
                &c.tag,
                json!({ "client_id_file_path": id_file, "oidc_token_file_path": token }),
            );
        } else {
            p.env("ARM_CLIENT_ID", client_id.as_str());
            p.env("ARM_USE_OIDC", "true");
            p.env("ARM_OIDC_TOKEN_FILE_PATH", token.as_str());
            p.env("AZURE_CLIENT_ID", client_id);
            p.env("AZURE_FEDERATED_TOKEN_FILE", token);
            copy_tenant(&mut p, input.variables);
        }
    }

    for c in &configs.kubernetes {
        let aliases = configs.has_aliases(Platform::Kubernetes);
        if aliases {
            let token = p.token_file(Platform::Kubernetes, &c.tag, &c.settings.audience.value)?;
            p.tfvar(Platform::Kubernetes, &c.tag, json!({ "token_path": token }));
        } else {
            p.plan.tokens.push(PlannedToken {
                purpose: purpose(Platform::Kubernetes, &c.tag),
                audience: c.settings.audience.value.clone(),
                target: TokenTarget::Env("KUBE_TOKEN".to_owned()),
            });
            p.plan.notes.push(
                "KUBE_TOKEN is passed inline, as HCP Terraform documents: it cannot be refreshed, so it lives for the phase timeout"
                    .to_owned(),
            );
        }
    }

    for c in &configs.vault {
        let aliases = configs.has_aliases(Platform::Vault);
        let v = &c.settings;
        let ca_file = match &v.ca_cert {
            Some(ca) => Some(p.file(Platform::Vault, &c.tag, "ca.pem", ca.value.clone())?),
            None => None,
        };
        let ca_path = ca_file.as_ref().map(PathBuf::from);
        let (token_path, token_text) = p.path(Platform::Vault, &c.tag, "token")?;
        let namespace = v.namespace.as_ref().map(|n| n.value.clone()).filter(|n| !n.is_empty());
        p.plan.vault_logins.push(VaultLogin {
            key: c.tag.clone(),
            purpose: purpose(Platform::Vault, &c.tag),
            addr: v.addr.value.clone(),
            namespace: namespace.clone(),
            auth_path: v.auth_path.value.clone(),
            role: v.role.get(phase).value.clone(),
            audience: v.audience.value.clone(),
            ca_pem: v.ca_cert.as_ref().map(|c| c.value.clone()),
            ca_file: ca_path,
            timeout: v.timeout.value,
            token_file: token_path,
            token_env: (!aliases).then(|| "VAULT_TOKEN".to_owned()),
        });
        if aliases {
            p.tfvar(
                Platform::Vault,
                &c.tag,
                json!({
                    "token_filename": token_text,
                    "address": v.addr.value,
                    "namespace": namespace,
                    "ca_cert_file": ca_file,
                }),
            );
        } else {
            p.env("VAULT_ADDR", v.addr.value.as_str());
            if let Some(ns) = namespace {
                p.env("VAULT_NAMESPACE", ns);
            }
            if let Some(ca) = ca_file {
                p.env("VAULT_CACERT", ca);
            }
        }
    }

    for c in &configs.vault_backed_aws {
        let aliases = configs.has_aliases(Platform::VaultBackedAws);
        let v = &c.settings;
        let role = &v.vault_role.get(phase).value;
        let (method, path, body) = match v.auth_type.value {
            AwsAuthType::IamUser => (Method::Get, format!("{}/creds/{role}", v.mount_path.value), None),
            AwsAuthType::AssumedRole => {
                let mut body = json!({ "role_session_name": session });
                if let (Some(arn), Some(obj)) = (&v.role_arn, body.as_object_mut()) {
                    obj.insert("role_arn".to_owned(), Value::String(arn.get(phase).value.clone()));
                }
                (Method::Post, format!("{}/sts/{role}", v.mount_path.value), Some(body))
            }
            AwsAuthType::FederationToken => {
                (Method::Post, format!("{}/sts/{role}", v.mount_path.value), Some(json!({})))
            }
        };
        let (file, text) = p.path(Platform::VaultBackedAws, &c.tag, "credentials")?;
        p.plan.vault_reads.push(VaultRead {
            purpose: purpose(Platform::VaultBackedAws, &c.tag),
            vault: v.vault.clone(),
            method,
            path,
            body,
            output: SecretOutput::AwsCredentials { file },
            sleep: v.sleep.value,
        });
        if aliases {
            p.tfvar(Platform::VaultBackedAws, &c.tag, json!({ "shared_credentials_file": text }));
        } else {
            p.env("AWS_SHARED_CREDENTIALS_FILE", text);
        }
    }

    for c in &configs.vault_backed_gcp {
        let aliases = configs.has_aliases(Platform::VaultBackedGcp);
        let v = &c.settings;
        let name = &v.name.get(phase).value;
        let kind = if v.auth_type.value.is_roleset() { "roleset" } else { "static-account" };
        let what = if v.auth_type.value.is_access_token() { "token" } else { "key" };
        let path = format!("{}/{kind}/{name}/{what}", v.mount_path.value);
        let (output, tfvar) = if v.auth_type.value.is_access_token() {
            let (file, text) = p.path(Platform::VaultBackedGcp, &c.tag, "access-token")?;
            (
                SecretOutput::GcpAccessToken { file, env: !aliases },
                json!({ "credentials": null, "access_token": text }),
            )
        } else {
            let (file, text) = p.path(Platform::VaultBackedGcp, &c.tag, "key.json")?;
            if !aliases {
                p.env("GOOGLE_APPLICATION_CREDENTIALS", text.as_str());
            }
            (SecretOutput::GcpKey { file }, json!({ "credentials": text, "access_token": null }))
        };
        p.plan.vault_reads.push(VaultRead {
            purpose: purpose(Platform::VaultBackedGcp, &c.tag),
            vault: v.vault.clone(),
            method: Method::Get,
            path,
            body: None,
            output,
            sleep: Duration::ZERO,
        });
        if aliases {
            p.tfvar(Platform::VaultBackedGcp, &c.tag, tfvar);
        }
    }

    for c in &configs.vault_backed_azure {
        let aliases = configs.has_aliases(Platform::VaultBackedAzure);
        let v = &c.settings;
        let (client_id_file, id_text) = p.path(Platform::VaultBackedAzure, &c.tag, "client-id")?;
        let (client_secret_file, secret_text) =
            p.path(Platform::VaultBackedAzure, &c.tag, "client-secret")?;
        p.plan.vault_reads.push(VaultRead {
            purpose: purpose(Platform::VaultBackedAzure, &c.tag),
            vault: v.vault.clone(),
            method: Method::Get,
            path: format!("{}/creds/{}", v.mount_path.value, v.vault_role.get(phase).value),
            body: None,
            output: SecretOutput::AzureClient { client_id_file, client_secret_file, env: !aliases },
            sleep: v.sleep.value,
        });
        if aliases {
            p.tfvar(
                Platform::VaultBackedAzure,
                &c.tag,
                json!({ "client_id_file_path": id_text, "client_secret_file_path": secret_text }),
            );
        } else {
            copy_tenant(&mut p, input.variables);
        }
    }

    for g in &configs.generic {
        p.plan.tokens.push(PlannedToken {
            purpose: format!("generic token ({})", g.env_name()),
            audience: g.audience.value.clone(),
            target: TokenTarget::Env(g.env_name()),
        });
    }

    // The runner's own credentials for enabled platforms must not reach Terraform, and SDKs must
    // not fall back to the machine's identity.
    for platform in Platform::ALL {
        if !configs.enabled(platform) {
            continue;
        }
        for name in platform.credential_env() {
            if !p.plan.env.contains_key(*name) {
                p.plan.unset.insert((*name).to_owned());
            }
        }
        for (name, value) in platform.fallback_off() {
            p.plan.env.entry((*name).to_owned()).or_insert_with(|| (*value).to_owned());
        }
    }
    // Nothing the plan sets (literal or secret) is also removed, so order never matters.
    for name in p.plan.secret_env_names() {
        p.plan.unset.remove(&name);
    }
    let literal = p.plan.env.clone();
    p.plan.unset.retain(|name| !literal.contains_key(name));

    if !p.tfvars.is_empty() {
        let mut doc = serde_json::Map::new();
        for (variable, (default, aliases)) in std::mem::take(&mut p.tfvars) {
            doc.insert(variable, json!({ "default": default, "aliases": aliases }));
        }
        p.plan.tfvars = Some(PlannedFile {
            purpose: "Terraform input variables for alias configurations".to_owned(),
            path: input.workdir.join(TFVARS_FILE),
            contents: pretty(&Value::Object(doc)),
        });
    }
    Ok(p.plan)
}

impl HandoffPlan {
    /// Environment variables whose values are secrets the executor provides (tokens, Vault
    /// tokens, secrets-engine results).
    pub fn secret_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for t in &self.tokens {
            if let TokenTarget::Env(e) = &t.target {
                names.push(e.clone());
            }
        }
        names.extend(self.vault_logins.iter().filter_map(|l| l.token_env.clone()));
        for r in &self.vault_reads {
            match &r.output {
                SecretOutput::GcpAccessToken { env: true, .. } => {
                    names.push("GOOGLE_OAUTH_ACCESS_TOKEN".to_owned())
                }
                SecretOutput::AzureClient { env: true, .. } => {
                    names.extend(["ARM_CLIENT_ID".to_owned(), "ARM_CLIENT_SECRET".to_owned()]);
                }
                _ => {}
            }
        }
        names
    }

    /// A human description of the plan, without secrets: tokens, Vault tokens and
    /// secrets-engine results appear as `<…>` placeholders.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "credentials directory: {} (mode 0700, removed when the phase ends)",
            self.dir.display()
        );
        if !self.tokens.is_empty() {
            let _ = writeln!(out, "\nworkload identity tokens:");
            for t in &self.tokens {
                let target = match &t.target {
                    TokenTarget::File(p) => format!("file {} (refreshed before it expires)", p.display()),
                    TokenTarget::Env(e) => format!("env {e} (inline: lives for the phase timeout)"),
                };
                let _ = writeln!(out, "  {}: aud={} -> {target}", t.purpose, t.audience);
            }
        }
        if !self.vault_logins.is_empty() {
            let _ = writeln!(out, "\nVault logins (renewed while the phase runs, revoked when it ends):");
            for l in &self.vault_logins {
                let _ = writeln!(
                    out,
                    "  {}: POST {}/v1/auth/{}/login role={} aud={} namespace={}{} -> token file {}{}",
                    l.purpose,
                    l.addr,
                    l.auth_path,
                    l.role,
                    l.audience,
                    l.namespace.as_deref().unwrap_or("-"),
                    if l.ca_pem.is_some() { " (private CA)" } else { "" },
                    l.token_file.display(),
                    l.token_env.as_ref().map(|e| format!(", env {e}")).unwrap_or_default(),
                );
            }
        }
        if !self.vault_reads.is_empty() {
            let _ = writeln!(out, "\nsecrets engines (leases revoked when the phase ends):");
            for r in &self.vault_reads {
                let via = crate::error::ConfigRef { platform: Platform::Vault, tag: r.vault.clone() };
                let method = match r.method {
                    Method::Get => "GET",
                    Method::Post => "POST",
                };
                let output = match &r.output {
                    SecretOutput::AwsCredentials { file } => {
                        format!("AWS credentials file {}", file.display())
                    }
                    SecretOutput::GcpAccessToken { file, env } => format!(
                        "access token file {}{}",
                        file.display(),
                        if *env { ", env GOOGLE_OAUTH_ACCESS_TOKEN" } else { "" }
                    ),
                    SecretOutput::GcpKey { file } => format!("service account key file {}", file.display()),
                    SecretOutput::AzureClient { client_id_file, client_secret_file, env } => format!(
                        "client id file {}, client secret file {}{}",
                        client_id_file.display(),
                        client_secret_file.display(),
                        if *env { ", env ARM_CLIENT_ID and ARM_CLIENT_SECRET" } else { "" }
                    ),
                };
                let body = r.body.as_ref().map(|b| format!(" {b}")).unwrap_or_default();
                let sleep = if r.sleep.is_zero() {
                    String::new()
                } else {
                    format!(", then wait {}s", r.sleep.as_secs())
                };
                let _ = writeln!(
                    out,
                    "  {}: {method} /v1/{}{body} via {via} -> {output}{sleep}",
                    r.purpose, r.path
                );
            }
        }
        if !self.files.is_empty() {
            let _ = writeln!(out, "\nfiles:");
            for f in &self.files {
                let _ = writeln!(out, "  {} ({})", f.path.display(), f.purpose);
            }
        }
        let _ = writeln!(out, "\nenvironment of the command:");
        let mut env: BTreeMap<String, String> = self.env.clone();
        for t in &self.tokens {
            if let TokenTarget::Env(e) = &t.target {
                env.insert(e.clone(), "<workload identity token>".to_owned());
            }
        }
        for l in &self.vault_logins {
            if let Some(e) = &l.token_env {
                env.insert(e.clone(), "<Vault token>".to_owned());
            }
        }
        for r in &self.vault_reads {
            match &r.output {
                SecretOutput::GcpAccessToken { env: true, .. } => {
                    env.insert(
                        "GOOGLE_OAUTH_ACCESS_TOKEN".to_owned(),
                        "<access token from Vault>".to_owned(),
                    );
                }
                SecretOutput::AzureClient { env: true, .. } => {
                    env.insert("ARM_CLIENT_ID".to_owned(), "<client id from Vault>".to_owned());
                    env.insert("ARM_CLIENT_SECRET".to_owned(), "<client secret from Vault>".to_owned());
                }
                _ => {}
            }
        }
        for (k, v) in &env {
            let _ = writeln!(out, "  {k}={v}");
        }
        if !self.unset.is_empty() {
            let _ = writeln!(out, "\nremoved from the runner's environment:");
            for chunk in self.unset.iter().collect::<Vec<_>>().chunks(4) {
                let names: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
                let _ = writeln!(out, "  {}", names.join(" "));
            }
        }
        if let Some(t) = &self.tfvars {
            let _ = writeln!(out, "\nTerraform input variables ({}):", t.path.display());
            for line in t.contents.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nnotes:");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        out
    }
}

/// azure-identity reads `AZURE_TENANT_ID`; the azurerm provider reads `ARM_TENANT_ID`.
fn copy_tenant(p: &mut Planner<'_>, variables: &Variables) {
    if let (Some(tenant), false) = (variables.get("ARM_TENANT_ID"), variables.contains("AZURE_TENANT_ID")) {
        p.env("AZURE_TENANT_ID", tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_aws_rules() {
        assert_eq!(
            aws_session_name("run-CZcmD7eagjhyX0vN", RunPhase::Apply),
            "tern-run-CZcmD7eagjhyX0vN-apply"
        );
        assert_eq!(aws_session_name(&"x".repeat(100), RunPhase::Plan).len(), 64);
    }

    #[test]
    fn credentials_file_with_and_without_session_token() {
        assert_eq!(
            aws_credentials_file("AKIA", "s3cr3t", None),
            "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s3cr3t\n"
        );
        assert!(aws_credentials_file("ASIA", "s", Some("tok")).ends_with("aws_session_token = tok\n"));
    }
}
