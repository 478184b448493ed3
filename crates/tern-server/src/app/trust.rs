//! The cloud side of a workspace's trust, on its credentials page: what each cloud its
//! variables configure must be told to trust its tokens — exactly what `tern trust <cloud>`
//! prints for its organization, project and workspace, with the role, provider and audience
//! its variables name — and whether a pasted trust document would accept the token a phase of
//! it would carry (`tern explain`'s verdict).
//!
//! Both are `tern-trust`'s own functions given the inputs the CLI would derive, so the page and
//! the CLI cannot disagree. A sensitive variable's value never becomes an input: where one
//! would, the page says it is withheld (a placeholder is printed, or nothing).

use std::fmt::Write as _;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use tern_credentials::{PerPhase, Source, Sourced};
use tern_identity::{ClaimPolicy, ClaimProfile, RunContext, SubjectKey};
use tern_trust::explain::{self, AwsTrust, AzureTrust, Explanation, GcpTrust, Token, VaultTrust};
use tern_trust::{Cloud, CloudOptions, Format, PhaseScope, TrustScope};
use tern_types::{
    Audience, IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, WorkspaceName,
};

use super::credentials::Context;
use crate::api::ApiError;

/// The largest trust document the page evaluates: trust policies, providers and roles are a
/// few KiB; a bound keeps one request's work and the page it echoes the document into small.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The run id of the token a check evaluates: there is no run yet, and each run's token names
/// its own.
pub(crate) const PLACEHOLDER_RUN_ID: &str = "run-placeholder";

/// The clouds whose trust documents `tern explain` evaluates, as the form offers them.
pub(crate) const CHECKABLE: [(&str, &str); 4] =
    [("aws", "AWS"), ("gcp", "Google Cloud"), ("azure", "Azure"), ("vault", "Vault")];

/// One configured cloud's trust, in the three formats `tern trust` prints.
#[derive(Debug)]
pub(crate) struct CloudTrust {
    /// `aws`, `gcp`, …, with `-<tag>` for an alias configuration: unique on the page.
    pub(crate) key: String,
    /// `AWS`, or `AWS, configuration <tag>`.
    pub(crate) title: String,
    /// Inputs that were withheld or could not be derived, and why.
    pub(crate) notes: Vec<String>,
    /// The formats, or why none can be shown (a withheld audience, `tern trust`'s refusal).
    pub(crate) blocks: Result<Vec<Block>, String>,
}

/// One format of a cloud's trust.
#[derive(Debug)]
pub(crate) struct Block {
    /// `terraform`, `json` or `cli`.
    pub(crate) key: &'static str,
    pub(crate) title: String,
    /// The `tern trust …` command that prints the same text.
    pub(crate) command: String,
    /// `tern_trust::render`'s output, as is.
    pub(crate) text: String,
}

const FORMATS: [(Format, &str); 3] =
    [(Format::Terraform, "terraform"), (Format::Json, "json"), (Format::Cli, "cli")];

/// What `tern trust` is given for one configuration: the scope and cloud options, and the
/// command-line flags that give the same.
#[derive(Debug, Clone)]
struct Inputs {
    cloud: Cloud,
    scope: TrustScope,
    options: CloudOptions,
    flags: Vec<(&'static str, String)>,
    notes: Vec<String>,
}

impl Inputs {
    fn flag(&mut self, flag: &'static str, value: impl Into<String>) {
        self.flags.push((flag, value.into()));
    }

    fn command(&self, format: &str) -> String {
        let mut out = format!("tern trust {} --format {format}", self.cloud);
        for (flag, value) in &self.flags {
            let _ = write!(out, " {flag} {}", shell_word(value));
        }
        out
    }

    fn render(&self) -> Result<Vec<Block>, String> {
        let name = display_name(self.cloud);
        FORMATS
            .iter()
            .map(|&(format, key)| {
                let text = tern_trust::render(self.cloud, format, &self.scope, &self.options)
                    .map_err(|e| format!("`tern trust {}` refuses: {e}", self.cloud))?;
                let title = match format {
                    Format::Terraform => "Terraform".to_owned(),
                    Format::Json => format!("{name} JSON"),
                    Format::Cli => format!("{name} CLI"),
                };
                Ok(Block { key, title, command: self.command(key), text })
            })
            .collect()
    }
}

fn display_name(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "AWS",
        Cloud::Gcp => "Google Cloud",
        Cloud::Azure => "Azure",
        Cloud::Vault => "Vault",
        Cloud::Kubernetes => "Kubernetes",
    }
}

/// A word as a POSIX shell reads it: as is when it has nothing special, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The workspace's names and ids as the tokens carry them.
struct Names {
    organization: OrganizationName,
    organization_id: ResourceId,
    project: ProjectName,
    project_id: ResourceId,
    workspace: WorkspaceName,
    workspace_id: ResourceId,
}

impl Names {
    /// The store validated them when they were created; one that does not parse now is a
    /// server fault, not the caller's.
    fn of(c: &Context) -> Result<Self, ApiError> {
        let ws = &c.ws;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            ApiError::internal(format!("workspace {}: its {what} cannot go into a token: {e}", ws.id))
        };
        Ok(Self {
            organization: OrganizationName::parse(&ws.organization).map_err(|e| bad("organization", &e))?,
            organization_id: ResourceId::parse(&c.organization_id).map_err(|e| bad("organization id", &e))?,
            project: ProjectName::parse(&ws.project).map_err(|e| bad("project", &e))?,
            project_id: ResourceId::parse(&ws.project_id).map_err(|e| bad("project id", &e))?,
            workspace: WorkspaceName::parse(&ws.name).map_err(|e| bad("workspace", &e))?,
            workspace_id: ResourceId::parse(&ws.id).map_err(|e| bad("workspace id", &e))?,
        })
    }
}

/// The scope `tern trust` would be given for this workspace, both phases (its default), and
/// the flags that give it: ids only where the subject template uses them, as the CLI needs.
fn base(cloud: Cloud, issuer: &IssuerUrl, policy: &ClaimPolicy, n: &Names) -> Inputs {
    let template = policy.subject_template();
    let uses = |k: SubjectKey| template.has(k);
    let mut i = Inputs {
        cloud,
        scope: TrustScope {
            issuer: issuer.clone(),
            policy: policy.clone(),
            organization: n.organization.clone(),
            organization_id: uses(SubjectKey::OrganizationId).then(|| n.organization_id.clone()),
            project: Some(n.project.clone()),
            project_id: uses(SubjectKey::ProjectId).then(|| n.project_id.clone()),
            workspace: Some(n.workspace.clone()),
            workspace_id: uses(SubjectKey::WorkspaceId).then(|| n.workspace_id.clone()),
            phase: PhaseScope::Both,
            audience: None,
        },
        options: CloudOptions::default(),
        flags: Vec::new(),
        notes: Vec::new(),
    };
    i.flag("--issuer-url", issuer.as_str());
    if policy.profile() != ClaimProfile::Tfc {
        i.flag("--profile", policy.profile().to_string());
    }
    if policy.has_custom_subject() {
        i.flag("--subject-template", template.to_string());
    }
    i.flag("--organization", n.organization.as_str());
    if uses(SubjectKey::OrganizationId) {
        i.flag("--organization-id", n.organization_id.as_str());
    }
    i.flag("--project", n.project.as_str());
    if uses(SubjectKey::ProjectId) {
        i.flag("--project-id", n.project_id.as_str());
    }
    i.flag("--workspace", n.workspace.as_str());
    if uses(SubjectKey::WorkspaceId) {
        i.flag("--workspace-id", n.workspace_id.as_str());
    }
    i
}

/// The audience `tern trust` needs when it is not the cloud's default (`default`), or `Err`
/// when it comes from a sensitive variable: the trust names the audience, so nothing can be
/// printed without showing it.
fn audience(
    c: &Context,
    i: &mut Inputs,
    aud: &Sourced<Audience>,
    default: Option<&str>,
) -> Result<(), String> {
    if let Some(name) = c.sensitive(&aud.source) {
        return Err(withheld_audience(i.cloud, name));
    }
    if matches!(aud.source, Source::Variable(_)) && Some(aud.value.as_str()) != default {
        i.scope.audience = Some(aud.value.as_str().to_owned());
        i.flag("--audience", aud.value.as_str());
    }
    Ok(())
}

fn withheld_audience(cloud: Cloud, variable: &str) -> String {
    format!(
        "Withheld: the audience comes from the sensitive variable {variable}, whose value is never shown. `tern trust {cloud} … --audience <its value>` prints this trust."
    )
}

/// The one value both phases use, when they agree and neither comes from a sensitive variable;
/// otherwise a note says why the output has a placeholder.
fn both_phases<'a>(
    c: &Context,
    v: &'a PerPhase<Sourced<String>>,
    what: &str,
    notes: &mut Vec<String>,
) -> Option<&'a str> {
    for s in [&v.plan, &v.apply] {
        if let Some(name) = c.sensitive(&s.source) {
            notes.push(format!(
                "The {what} comes from the sensitive variable {name}, whose value is never shown: the trust below has a placeholder for it."
            ));
            return None;
        }
    }
    if v.plan.value != v.apply.value {
        notes.push(format!(
            "The plan phase uses {what} {} ({}) and the apply phase {} ({}); `tern trust` names one {what} for both phases, so the trust below has a placeholder for it.",
            v.plan.value, v.plan.source, v.apply.value, v.apply.source
        ));
        return None;
    }
    Some(&v.plan.value)
}

/// `arn:aws:iam::<account>:role/<path/>name` → (account, name).
fn aws_role(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, resource] if !account.is_empty() => {
            let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
            (!name.is_empty()).then_some((*account, name))
        }
        _ => None,
    }
}

/// The project id of a user-managed service account, `<name>@<project>.iam.gserviceaccount.com`.
fn gcp_project_of(email: &str) -> Option<&str> {
    email.split_once('@')?.1.strip_suffix(".iam.gserviceaccount.com").filter(|p| !p.is_empty())
}

fn titled(cloud: Cloud, tag: Option<&tern_credentials::Tag>) -> (String, String) {
    match tag {
        None => (cloud.as_str().to_owned(), display_name(cloud).to_owned()),
        Some(t) => (format!("{cloud}-{t}"), format!("{}, configuration {t}", display_name(cloud))),
    }
}

/// The trust of every cloud the workspace's variables configure, in the order the page lists
/// them; `None` when the variables do not resolve (the page shows the problems instead).
pub(crate) fn configurations(
    issuer: &IssuerUrl,
    policy: &ClaimPolicy,
    c: &Context,
) -> Result<Option<Vec<CloudTrust>>, ApiError> {
    let Ok(configs) = &c.resolved else { return Ok(None) };
    let n = Names::of(c)?;
    let mut out = Vec::new();
    // A configuration's inputs, and why its trust is withheld (`Err`) if it is.
    let mut push = |inputs: Inputs, result: Result<(), String>, tag: Option<&tern_credentials::Tag>| {
        let (key, title) = titled(inputs.cloud, tag);
        let blocks = match result {
            Err(why) => Err(why),
            Ok(()) => inputs.render(),
        };
        out.push(CloudTrust { key, title, notes: inputs.notes, blocks });
    };
    for conf in &configs.aws {
        let mut i = base(Cloud::Aws, issuer, policy, &n);
        let result = audience(c, &mut i, &conf.settings.audience, Cloud::Aws.default_audience());
        if let Some(arn) = both_phases(c, &conf.settings.role_arn, "role", &mut i.notes) {
            match aws_role(arn) {
                Some((account, name)) => {
                    i.options.name = Some(name.to_owned());
                    i.options.aws_account_id = Some(account.to_owned());
                    i.flag("--name", name);
                    i.flag("--aws-account-id", account);
                }
                None => i.notes.push(format!(
                    "The role {arn} is not arn:aws:iam::<account>:role/<name>: the trust below has default names."
                )),
            }
        }
        push(i, result, conf.tag.as_ref());
    }
    for conf in &configs.gcp {
        let mut i = base(Cloud::Gcp, issuer, policy, &n);
        let provider = &conf.settings.provider;
        let provider_secret = c.sensitive(&provider.source);
        // The default audience is the provider's resource name: secret when the provider is.
        let result = match (provider_secret, &conf.settings.audience.source) {
            (Some(name), Source::Default) => Err(withheld_audience(Cloud::Gcp, name)),
            _ => audience(c, &mut i, &conf.settings.audience, Some(&provider.value.resource())),
        };
        match provider_secret {
            Some(name) => i.notes.push(format!(
                "The workload identity provider comes from the sensitive variable {name}, whose value is never shown: the trust below has placeholders for its project number, pool and provider."
            )),
            None => {
                let p = &provider.value;
                i.options.gcp_project_number = Some(p.project_number.clone());
                i.options.gcp_pool_id = Some(p.pool.clone());
                i.options.gcp_provider_id = Some(p.provider.clone());
                i.flag("--gcp-project-number", p.project_number.as_str());
                i.flag("--gcp-pool-id", p.pool.as_str());
                i.flag("--gcp-provider-id", p.provider.as_str());
            }
        }
        if let tern_credentials::GcpPrincipal::ServiceAccount { email } = &conf.settings.principal
            && let Some(email) = both_phases(c, email, "service account", &mut i.notes)
        {
            if let Some(project) = gcp_project_of(email) {
                i.options.gcp_project_id = Some(project.to_owned());
                i.flag("--gcp-project-id", project);
            }
            i.options.gcp_service_account = Some(email.to_owned());
            i.flag("--service-account", email);
        }
        push(i, result, conf.tag.as_ref());
    }
    for conf in &configs.azure {
        let mut i = base(Cloud::Azure, issuer, policy, &n);
        let result = audience(c, &mut i, &conf.settings.audience, Cloud::Azure.default_audience());
        push(i, result, conf.tag.as_ref());
    }
    for conf in &configs.kubernetes {
        let mut i = base(Cloud::Kubernetes, issuer, policy, &n);
        let result = audience(c, &mut i, &conf.settings.audience, None);
        push(i, result, conf.tag.as_ref());
    }
    for conf in &configs.vault {
        let mut i = base(Cloud::Vault, issuer, policy, &n);
        let result = audience(c, &mut i, &conf.settings.audience, Cloud::Vault.default_audience());
        let path = &conf.settings.auth_path;
        match c.sensitive(&path.source) {
            Some(name) => i.notes.push(format!(
                "The JWT auth mount path comes from the sensitive variable {name}, whose value is never shown: the trust below uses the default, jwt."
            )),
            None if path.value != "jwt" => {
                i.options.vault_mount = Some(path.value.clone());
                i.flag("--vault-mount", path.value.as_str());
            }
            None => {}
        }
        if let Some(role) = both_phases(c, &conf.settings.role, "role", &mut i.notes) {
            i.options.name = Some(role.to_owned());
            i.flag("--name", role);
        }
        push(i, result, conf.tag.as_ref());
    }
    Ok(Some(out))
}

// ------------------------------------------------------------------------------ checks

/// What the check form sends.
#[derive(Debug, Default, Clone)]
pub(crate) struct CheckInput {
    pub(crate) cloud: String,
    pub(crate) phase: String,
    pub(crate) document: String,
}

/// How this server signs: what a check's token is made with.
#[derive(Debug)]
pub(crate) struct Signing<'a> {
    pub(crate) issuer: &'a IssuerUrl,
    pub(crate) policy: &'a ClaimPolicy,
    /// The signing key's `alg`.
    pub(crate) algorithm: &'a str,
    /// Unix seconds.
    pub(crate) now: u64,
    /// The lifetime of the token evaluated.
    pub(crate) ttl_seconds: u64,
}

/// A check's verdict and what it was made from.
#[derive(Debug)]
pub(crate) struct Checked {
    /// `AWS`, `Google Cloud`, …
    pub(crate) cloud: &'static str,
    pub(crate) phase: &'static str,
    pub(crate) explanation: Explanation,
    /// The token's claims, in minting order, as text.
    pub(crate) claims: Vec<(String, String)>,
    /// Where the audience came from, the placeholders, which of several roles was checked.
    pub(crate) notes: Vec<String>,
}

/// Would the pasted trust document accept the token this workspace's `phase` would carry?
/// The token is built as the minter builds one (`tern_trust::explain::sample_claims`, the
/// same claims `tern_identity::mint` writes), now, with a placeholder run id. Nothing is
/// stored or changed. The result quotes the document (the caller's own text) and the token's
/// claims, none of which comes from a sensitive variable: a check whose audience would is
/// refused. Nothing is masked either, so the verdict cannot be used to guess a value.
pub(crate) fn check(sig: &Signing<'_>, c: &Context, input: &CheckInput) -> Result<Checked, ApiError> {
    // Browsers send a textarea's line ends as CRLF.
    let document = input.document.replace("\r\n", "\n");
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
            format!(
                "The trust document is {} bytes; this page checks documents of at most 64 KiB ({MAX_DOCUMENT_BYTES} bytes). Paste only the trust policy, provider, federated credentials or role, or use `tern explain --trust FILE`.",
                document.len()
            ),
        ));
    }
    let (cloud, cloud_name) = match input.cloud.as_str() {
        "aws" => (Cloud::Aws, "AWS"),
        "gcp" => (Cloud::Gcp, "Google Cloud"),
        "azure" => (Cloud::Azure, "Azure"),
        "vault" => (Cloud::Vault, "Vault"),
        other => {
            return Err(ApiError::bad_request(format!(
                "Choose the cloud: aws, gcp, azure or vault (not {other:?})."
            )));
        }
    };
    let phase = match input.phase.as_str() {
        "plan" => RunPhase::Plan,
        "apply" => RunPhase::Apply,
        other => {
            return Err(ApiError::bad_request(format!("Choose the phase: plan or apply (not {other:?}).")));
        }
    };
    if document.trim().is_empty() {
        return Err(ApiError::bad_request("Paste the trust document to check."));
    }
    let trust = explain::parse_json("the trust document", &document)
        .map_err(|e| ApiError::bad_request(format!("{}: {}", e.what, e.reason)))?;
    let gcp_provider = trust.get("provider").unwrap_or(&trust).clone();
    let mut notes = Vec::new();
    let aud = audience_for_check(c, cloud, &gcp_provider, &mut notes)?;

    let n = Names::of(c)?;
    let run_id = RunId::parse(PLACEHOLDER_RUN_ID).map_err(ApiError::internal)?;
    let ctx = RunContext {
        organization: n.organization,
        organization_id: n.organization_id,
        project: n.project,
        project_id: n.project_id,
        workspace: n.workspace,
        workspace_id: n.workspace_id,
        run_id,
        phase,
    };
    let claims =
        explain::sample_claims(sig.issuer.as_str(), sig.policy, &ctx, &aud, sig.now, sig.ttl_seconds);
    let mut header = Map::new();
    header.insert("alg".into(), Value::String(sig.algorithm.to_owned()));
    header.insert("typ".into(), Value::String("JWT".into()));
    let token = Token { claims: &claims, header: Some(&header) };
    notes.push(format!(
        "The token is one this workspace's {phase} phase would be given now; its run id ({PLACEHOLDER_RUN_ID}) and jti are placeholders: each run's token names its own run."
    ));

    let unreadable = |e: explain::ExplainError| ApiError::bad_request(format!("{}: {}", e.what, e.reason));
    let explanation = match cloud {
        Cloud::Aws => {
            let provider = trust.get("OpenIDConnectProvider");
            let provider_url = provider.and_then(|p| p.get("Url")).and_then(Value::as_str).map(str::to_owned);
            let client_ids = explain::strings(provider.and_then(|p| p.get("ClientIDList")));
            if let Some(roles) = trust.get("Roles").and_then(Value::as_array) {
                // `tern trust aws --format json`: every role, the one that accepts (or comes
                // closest) shown.
                let named = roles.iter().map(|r| {
                    let name = r.get("RoleName").and_then(Value::as_str).unwrap_or("").to_owned();
                    let policy = r.get("AssumeRolePolicyDocument").cloned().unwrap_or(Value::Null);
                    let trust = AwsTrust {
                        policy,
                        provider_url: provider_url.clone(),
                        client_ids: client_ids.clone(),
                    };
                    (name, explain::aws(&token, sig.now, &trust))
                });
                closest(named.collect(), phase, &mut notes).map_err(unreadable)?
            } else {
                let policy = match trust.get("Role").and_then(|r| r.get("AssumeRolePolicyDocument")) {
                    Some(doc) => doc.clone(), // aws iam get-role
                    None => trust.clone(),
                };
                explain::aws(&token, sig.now, &AwsTrust { policy, provider_url, client_ids })
                    .map_err(unreadable)?
            }
        }
        Cloud::Gcp => {
            let member = trust
                .get("serviceAccountBindings")
                .and_then(|b| b.get(0))
                .and_then(|b| b.get("member"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            explain::gcp(&token, sig.now, &GcpTrust { provider: gcp_provider, member }).map_err(unreadable)?
        }
        Cloud::Azure => {
            explain::azure(&token, sig.now, &AzureTrust { credentials: trust.clone() }).map_err(unreadable)?
        }
        Cloud::Vault | Cloud::Kubernetes => {
            let config = trust.get("config").cloned();
            if let Some(roles) = trust.get("roles").and_then(Value::as_object) {
                let named = roles.iter().map(|(name, role)| {
                    let t =
                        VaultTrust { role: role.clone(), role_name: name.clone(), config: config.clone() };
                    (name.clone(), explain::vault(&token, sig.now, &t))
                });
                closest(named.collect(), phase, &mut notes).map_err(unreadable)?
            } else {
                let t = VaultTrust { role: trust.clone(), role_name: "pasted".to_owned(), config: None };
                explain::vault(&token, sig.now, &t).map_err(unreadable)?
            }
        }
    };
    let claims = claims
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    Ok(Checked { cloud: cloud_name, phase: phase.as_str(), explanation, claims, notes })
}

/// The audience the workspace's tokens carry for `cloud`: its default configuration's (or
/// first alias's), else the cloud's default — for Google Cloud, the pasted provider's resource
/// name, as `tern explain` derives it. Refused when it comes from a sensitive variable: the
/// verdict shows the token's audience.
fn audience_for_check(
    c: &Context,
    cloud: Cloud,
    gcp_provider: &Value,
    notes: &mut Vec<String>,
) -> Result<String, ApiError> {
    let configs = c.resolved.as_ref().ok();
    let first = |v: Option<&Sourced<Audience>>| v.cloned();
    let (configured, derived_from) = match (cloud, configs) {
        (Cloud::Aws, Some(k)) => (first(k.aws.first().map(|x| &x.settings.audience)), None),
        (Cloud::Gcp, Some(k)) => (
            first(k.gcp.first().map(|x| &x.settings.audience)),
            k.gcp.first().map(|x| x.settings.provider.source.clone()),
        ),
        (Cloud::Azure, Some(k)) => (first(k.azure.first().map(|x| &x.settings.audience)), None),
        (Cloud::Vault, Some(k)) => (first(k.vault.first().map(|x| &x.settings.audience)), None),
        _ => (None, None),
    };
    let refuse = |name: &str| {
        ApiError::bad_request(format!(
            "The token's audience comes from the sensitive variable {name}, whose value is never shown, so this page cannot show the verdict: run `tern explain {cloud} --trust FILE --audience <its value>`."
        ))
    };
    if let Some(aud) = configured {
        if let Some(name) = c.sensitive(&aud.source) {
            return Err(refuse(name));
        }
        // Google's default audience is the provider's resource name.
        if aud.source == Source::Default
            && let Some(name) = derived_from.as_ref().and_then(|s| c.sensitive(s))
        {
            return Err(refuse(name));
        }
        notes.push(format!(
            "The audience, {}, is this workspace's ({}).",
            aud.value.as_str(),
            match &aud.source {
                Source::Variable(v) => v.clone(),
                Source::Default => "the default".to_owned(),
            }
        ));
        return Ok(aud.value.as_str().to_owned());
    }
    let configures = if configs.is_some() { "configures no" } else { "does not resolve, so it has no" };
    match (cloud.default_audience(), gcp_provider.get("name").and_then(Value::as_str)) {
        (Some(d), _) => {
            notes.push(format!(
                "This workspace {configures} {} credentials: the token has the default audience, {d}.",
                display_name(cloud)
            ));
            Ok(d.to_owned())
        }
        (None, Some(name)) => {
            let aud = format!("//iam.googleapis.com/{name}");
            notes.push(format!(
                "This workspace {configures} Google Cloud credentials: the token has the audience tern gives it by default, the pasted provider's resource name, {aud}."
            ));
            Ok(aud)
        }
        (None, None) => Err(ApiError::bad_request(
            "This workspace configures no Google Cloud credentials and the provider has no name to derive the token's audience from: paste the provider as `gcloud iam workload-identity-pools providers describe … --format=json` prints it.",
        )),
    }
}

/// Of a document's several roles, the one that accepts the token, else the one named for the
/// phase, else the first; a note says which.
fn closest(
    named: Vec<(String, Result<Explanation, explain::ExplainError>)>,
    phase: RunPhase,
    notes: &mut Vec<String>,
) -> Result<Explanation, explain::ExplainError> {
    let names: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
    let accepted = named.iter().position(|(_, e)| e.as_ref().is_ok_and(Explanation::accepted));
    let for_phase = named.iter().position(|(n, _)| n.ends_with(&format!("-{phase}")));
    let at = accepted.or(for_phase).unwrap_or(0);
    let Some((name, result)) = named.into_iter().nth(at) else {
        return Err(explain::ExplainError {
            what: "the trust document".into(),
            reason: "it lists no role".into(),
        });
    };
    if names.len() > 1 {
        notes.push(format!(
            "The document has {} roles ({}); this is role {name}.",
            names.len(),
            names.join(", ")
        ));
    }
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn context(vars: &[(&str, &str, bool)]) -> Context {
        Context::for_tests(vars)
    }

    fn issuer() -> IssuerUrl {
        IssuerUrl::parse("https://tern.example.com").unwrap()
    }

    fn trust_of(vars: &[(&str, &str, bool)]) -> Vec<CloudTrust> {
        configurations(&issuer(), &ClaimPolicy::default(), &context(vars)).unwrap().unwrap()
    }

    fn expected_scope() -> TrustScope {
        TrustScope {
            issuer: issuer(),
            policy: ClaimPolicy::default(),
            organization: OrganizationName::parse("acme").unwrap(),
            organization_id: None,
            project: Some(ProjectName::default_project()),
            project_id: None,
            workspace: Some(WorkspaceName::parse("web").unwrap()),
            workspace_id: None,
            phase: PhaseScope::Both,
            audience: None,
        }
    }

    const AWS: [(&str, &str, bool); 2] = [
        ("TFC_AWS_PROVIDER_AUTH", "true", false),
        ("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/ci/tern-web", false),
    ];

    #[test]
    fn blocks_are_what_tern_trust_prints_with_the_flags_the_cli_takes() {
        let t = trust_of(&AWS);
        assert_eq!(t.len(), 1);
        let blocks = t[0].blocks.as_ref().unwrap();
        let options = CloudOptions {
            name: Some("tern-web".into()),
            aws_account_id: Some("123456789012".into()),
            ..CloudOptions::default()
        };
        for (block, format) in blocks.iter().zip([Format::Terraform, Format::Json, Format::Cli]) {
            assert_eq!(
                block.text,
                tern_trust::render(Cloud::Aws, format, &expected_scope(), &options).unwrap()
            );
        }
        assert_eq!(
            blocks[1].command,
            "tern trust aws --format json --issuer-url https://tern.example.com --organization acme \
             --project 'Default Project' --workspace web --name tern-web --aws-account-id 123456789012"
        );
        assert!(blocks[1].text.contains("arn:aws:iam::123456789012:oidc-provider/tern.example.com"));
        assert_eq!((t[0].key.as_str(), t[0].title.as_str()), ("aws", "AWS"));
    }

    #[test]
    fn a_workspace_audience_and_vault_and_gcp_settings_become_flags() {
        let t = trust_of(&[
            ("TFC_VAULT_PROVIDER_AUTH", "true", false),
            ("TFC_VAULT_ADDR", "https://vault.example.com", false),
            ("TFC_VAULT_RUN_ROLE", "web-role", false),
            ("TFC_VAULT_AUTH_PATH", "jwt-tern", false),
            ("TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE", "vault.example", false),
            ("TFC_GCP_PROVIDER_AUTH", "true", false),
            (
                "TFC_GCP_WORKLOAD_PROVIDER_NAME",
                "projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern-prov",
                false,
            ),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "deploy@my-proj.iam.gserviceaccount.com", false),
        ]);
        let vault = t.iter().find(|t| t.key == "vault").unwrap();
        let cmd = &vault.blocks.as_ref().unwrap()[0].command;
        assert!(cmd.ends_with("--audience vault.example --vault-mount jwt-tern --name web-role"), "{cmd}");
        let text = &vault.blocks.as_ref().unwrap()[1].text;
        assert!(text.contains("\"web-role\"") && text.contains("\"vault.example\""), "{text}");
        let gcp = t.iter().find(|t| t.key == "gcp").unwrap();
        let cmd = &gcp.blocks.as_ref().unwrap()[2].command;
        assert!(
            cmd.ends_with(
                "--gcp-project-number 123456 --gcp-pool-id tern-pool --gcp-provider-id tern-prov \
                 --gcp-project-id my-proj --service-account deploy@my-proj.iam.gserviceaccount.com"
            ),
            "{cmd}"
        );
        assert!(!cmd.contains("--audience"), "the provider's resource is Google's default: {cmd}");
    }

    #[test]
    fn a_sensitive_input_is_withheld_never_printed() {
        let marker = "marker-5f1c0de";
        let t = trust_of(&[
            ("TFC_AWS_PROVIDER_AUTH", "true", false),
            ("TFC_AWS_RUN_ROLE_ARN", &format!("arn:aws:iam::123456789012:role/{marker}"), true),
            ("TFC_AZURE_PROVIDER_AUTH", "true", false),
            ("TFC_AZURE_RUN_CLIENT_ID", "00000000-0000-0000-0000-000000000000", false),
            ("TFC_AZURE_WORKLOAD_IDENTITY_AUDIENCE", &format!("api://{marker}"), true),
        ]);
        let all = format!("{t:?}");
        assert!(!all.contains(marker), "{all}");
        let aws = t.iter().find(|t| t.key == "aws").unwrap();
        assert!(aws.notes[0].contains("sensitive variable TFC_AWS_RUN_ROLE_ARN"), "{:?}", aws.notes);
        let blocks = aws.blocks.as_ref().unwrap();
        assert!(!blocks[0].command.contains("--name"), "{}", blocks[0].command);
        let azure = t.iter().find(|t| t.key == "azure").unwrap();
        let why = azure.blocks.as_ref().unwrap_err();
        assert!(why.contains("TFC_AZURE_WORKLOAD_IDENTITY_AUDIENCE"), "{why}");
    }

    #[test]
    fn a_sensitive_gcp_provider_withholds_the_default_audience_it_makes() {
        let t = trust_of(&[
            ("TFC_GCP_PROVIDER_AUTH", "true", false),
            (
                "TFC_GCP_WORKLOAD_PROVIDER_NAME",
                "projects/987654/locations/global/workloadIdentityPools/secret-pool/providers/tern-prov",
                true,
            ),
            ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "deploy@my-proj.iam.gserviceaccount.com", false),
        ]);
        assert!(!format!("{t:?}").contains("secret-pool"));
        assert!(t[0].blocks.as_ref().unwrap_err().contains("TFC_GCP_WORKLOAD_PROVIDER_NAME"));
    }

    #[test]
    fn roles_that_differ_per_phase_are_named_not_guessed() {
        let mut notes = Vec::new();
        let c = context(&[]);
        let v = |s: &str| Sourced { value: s.to_owned(), source: Source::Variable("X".into()) };
        let per = PerPhase { plan: v("a"), apply: v("b") };
        assert_eq!(both_phases(&c, &per, "role", &mut notes), None);
        assert!(notes[0].contains("plan phase uses role a"), "{notes:?}");
        let same = PerPhase { plan: v("a"), apply: v("a") };
        assert_eq!(both_phases(&c, &same, "role", &mut notes), Some("a"));
    }

    #[test]
    fn role_arns_and_service_accounts_parse() {
        assert_eq!(aws_role("arn:aws:iam::123:role/x"), Some(("123", "x")));
        assert_eq!(aws_role("arn:aws:iam::123:role/path/to/x"), Some(("123", "x")));
        for bad in ["arn:aws:iam::123:user/x", "arn:aws:s3:::b", "role/x", "arn:aws:iam:::role/x"] {
            assert_eq!(aws_role(bad), None, "{bad}");
        }
        assert_eq!(gcp_project_of("a@p-1.iam.gserviceaccount.com"), Some("p-1"));
        assert_eq!(gcp_project_of("a@example.com"), None);
        assert_eq!(shell_word("Default Project"), "'Default Project'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("https://x.example/a"), "https://x.example/a");
    }

    fn signing<'a>(issuer: &'a IssuerUrl, policy: &'a ClaimPolicy) -> Signing<'a> {
        Signing { issuer, policy, algorithm: "RS256", now: 1_800_000_000, ttl_seconds: 900 }
    }

    fn aws_policy(sub: &str) -> String {
        serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/tern.example.com"},
            "Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{"StringEquals":{"tern.example.com:aud":"aws.workload.identity"},
                         "StringLike":{"tern.example.com:sub":sub}}}]})
        .to_string()
    }

    fn input(cloud: &str, phase: &str, document: &str) -> CheckInput {
        CheckInput { cloud: cloud.into(), phase: phase.into(), document: document.into() }
    }

    #[test]
    fn a_check_says_accepted_or_where_the_subject_differs() {
        let (issuer, policy) = (issuer(), ClaimPolicy::default());
        let c = context(&AWS);
        let ok = aws_policy("organization:acme:project:Default Project:workspace:web:run_phase:*");
        let r = check(&signing(&issuer, &policy), &c, &input("aws", "apply", &ok)).unwrap();
        assert!(r.explanation.accepted(), "{}", r.explanation);
        assert!(r.claims.iter().any(|(k, v)| k == "terraform_run_id" && v == PLACEHOLDER_RUN_ID));
        assert!(r.claims.iter().any(|(k, v)| k == "aud" && v == "aws.workload.identity"));
        assert!(r.notes.iter().any(|n| n.contains("placeholder")), "{:?}", r.notes);
        let wrong = aws_policy("organization:acme:project:Default Project:workspace:api:run_phase:*");
        let r = check(&signing(&issuer, &policy), &c, &input("aws", "plan", &wrong)).unwrap();
        assert!(!r.explanation.accepted());
        let why = r.explanation.first_failure().unwrap().why.clone().unwrap();
        assert!(why.contains("segment 6") && why.contains("`web`") && why.contains("`api`"), "{why}");
    }

    #[test]
    fn a_check_of_tern_trusts_own_json_accepts_both_phases() {
        let (issuer, policy) = (issuer(), ClaimPolicy::default());
        let c = context(&AWS);
        let json = trust_of(&AWS)[0].blocks.as_ref().unwrap()[1].text.clone();
        for phase in ["plan", "apply"] {
            let r = check(&signing(&issuer, &policy), &c, &input("aws", phase, &json)).unwrap();
            assert!(r.explanation.accepted(), "{phase}: {}", r.explanation);
        }
    }

    #[test]
    fn checks_refuse_what_they_cannot_evaluate() {
        let (issuer, policy) = (issuer(), ClaimPolicy::default());
        let c = context(&AWS);
        let sig = signing(&issuer, &policy);
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_DOCUMENT_BYTES));
        let e = check(&sig, &c, &input("aws", "plan", &big)).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.detail.contains("at most 64 KiB"), "{}", e.detail);
        // Exactly the limit is read (and then found to be no trust policy).
        let at_limit = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_DOCUMENT_BYTES - 8));
        assert_eq!(at_limit.len(), MAX_DOCUMENT_BYTES);
        let e = check(&sig, &c, &input("aws", "plan", &at_limit)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.detail.contains("no Statement"), "{}", e.detail);
        for (cloud, phase, doc, says) in [
            ("k8s", "plan", "{}", "Choose the cloud"),
            ("aws", "destroy", "{}", "Choose the phase"),
            ("aws", "plan", "  ", "Paste the trust document"),
            ("aws", "plan", "resource \"aws_iam_role\" \"r\" {}", "Terraform (HCL)"),
            ("gcp", "plan", "{\"oidc\":{}}", "no name to derive"),
        ] {
            let e = check(&sig, &c, &input(cloud, phase, doc)).unwrap_err();
            assert!(e.detail.contains(says), "{cloud} {phase} {doc}: {}", e.detail);
        }
    }

    #[test]
    fn a_check_whose_audience_is_sensitive_is_refused() {
        let (issuer, policy) = (issuer(), ClaimPolicy::default());
        let c = context(&[
            ("TFC_VAULT_PROVIDER_AUTH", "true", false),
            ("TFC_VAULT_ADDR", "https://vault.example.com", false),
            ("TFC_VAULT_RUN_ROLE", "web", false),
            ("TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE", "marker-aud-9", true),
        ]);
        let e = check(&signing(&issuer, &policy), &c, &input("vault", "plan", "{\"role_type\":\"jwt\"}"))
            .unwrap_err();
        assert!(e.detail.contains("TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE") && !e.detail.contains("marker"));
    }
}
