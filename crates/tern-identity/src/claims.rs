//! What a workload identity token says: the [`RunContext`] it is minted for, the claim
//! [`ClaimProfile`] (HCP Terraform's, OTF's or Terrakube's claim set), and the
//! [`SubjectTemplate`] that builds `sub` (SPEC §3).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use tern_types::{OrganizationName, ProjectName, ResourceId, RunId, RunPhase, WorkspaceName};

/// Which claim set a token carries, so existing trust policies keep working on migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClaimProfile {
    /// HCP Terraform / Terraform Enterprise (the default).
    #[default]
    Tfc,
    /// OTF: no project segment in `sub`.
    Otf,
    /// Terrakube: `terrakube_*` claims and no phase in `sub`.
    Terrakube,
}

/// A profile name tern does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim profile {value:?} is not one of: tfc, otf, terrakube")]
pub struct ProfileError {
    /// What was given.
    pub value: String,
}

impl ClaimProfile {
    /// Every profile, in documentation order.
    pub const ALL: [ClaimProfile; 3] = [Self::Tfc, Self::Otf, Self::Terrakube];

    /// `tfc`, `otf` or `terrakube`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tfc => "tfc",
            Self::Otf => "otf",
            Self::Terrakube => "terrakube",
        }
    }

    /// The profile's own `sub` layout.
    pub fn default_subject(self) -> SubjectTemplate {
        use SubjectKey::*;
        SubjectTemplate(match self {
            Self::Tfc => vec![Organization, Project, Workspace, RunPhase],
            Self::Otf => vec![Organization, Workspace, RunPhase],
            Self::Terrakube => vec![Organization, Workspace],
        })
    }

    /// Names of the claims beyond the registered ones, in the order they are emitted.
    pub fn extra_claim_names(self) -> &'static [&'static str] {
        match self {
            Self::Tfc => &[
                "terraform_organization_id",
                "terraform_organization_name",
                "terraform_project_id",
                "terraform_project_name",
                "terraform_workspace_id",
                "terraform_workspace_name",
                "terraform_full_workspace",
                "terraform_run_id",
                "terraform_run_phase",
            ],
            Self::Otf => &[
                "terraform_organization_name",
                "terraform_workspace_name",
                "terraform_workspace_id",
                "terraform_full_workspace",
                "terraform_run_id",
                "terraform_run_phase",
            ],
            Self::Terrakube => &[
                "terrakube_workspace_id",
                "terrakube_organization_id",
                "terrakube_job_id",
                "terrakube_workspace_name",
                "terrakube_organization_name",
            ],
        }
    }

    /// The claim of this profile that carries the value of a subject key on its own, if any
    /// (e.g. `terraform_workspace_name` for `workspace` under `tfc`). Trust configurations that
    /// can test claims (GCP, Vault) use it; a test checks it against what minting emits.
    pub fn claim_for(self, key: SubjectKey) -> Option<&'static str> {
        use SubjectKey as K;
        match (self, key) {
            (Self::Tfc | Self::Otf, K::Organization) => Some("terraform_organization_name"),
            (Self::Tfc, K::OrganizationId) => Some("terraform_organization_id"),
            (Self::Tfc, K::Project) => Some("terraform_project_name"),
            (Self::Tfc, K::ProjectId) => Some("terraform_project_id"),
            (Self::Tfc | Self::Otf, K::Workspace) => Some("terraform_workspace_name"),
            (Self::Tfc | Self::Otf, K::WorkspaceId) => Some("terraform_workspace_id"),
            (Self::Tfc | Self::Otf, K::RunId) => Some("terraform_run_id"),
            (Self::Tfc | Self::Otf, K::RunPhase) => Some("terraform_run_phase"),
            (Self::Terrakube, K::Organization) => Some("terrakube_organization_name"),
            (Self::Terrakube, K::OrganizationId) => Some("terrakube_organization_id"),
            (Self::Terrakube, K::Workspace) => Some("terrakube_workspace_name"),
            (Self::Terrakube, K::WorkspaceId) => Some("terrakube_workspace_id"),
            (Self::Terrakube, K::RunId) => Some("terrakube_job_id"),
            _ => None,
        }
    }

    /// The claim naming the whole workspace, suited to Vault's `user_claim` (an entity alias
    /// per workspace).
    pub fn workspace_claim(self) -> &'static str {
        match self {
            Self::Tfc | Self::Otf => "terraform_full_workspace",
            Self::Terrakube => "terrakube_workspace_id",
        }
    }

    /// The profile's extra claims for `ctx`, in [`Self::extra_claim_names`] order.
    pub(crate) fn extra_claims<'a>(self, ctx: &'a RunContext) -> Vec<(&'static str, Cow<'a, str>)> {
        let b = |s: &'a str| Cow::Borrowed(s);
        match self {
            Self::Tfc => vec![
                ("terraform_organization_id", b(ctx.organization_id.as_str())),
                ("terraform_organization_name", b(ctx.organization.as_str())),
                ("terraform_project_id", b(ctx.project_id.as_str())),
                ("terraform_project_name", b(ctx.project.as_str())),
                ("terraform_workspace_id", b(ctx.workspace_id.as_str())),
                ("terraform_workspace_name", b(ctx.workspace.as_str())),
                (
                    "terraform_full_workspace",
                    Cow::Owned(format!(
                        "organization:{}:project:{}:workspace:{}",
                        ctx.organization, ctx.project, ctx.workspace
                    )),
                ),
                ("terraform_run_id", b(ctx.run_id.as_str())),
                ("terraform_run_phase", b(ctx.phase.as_str())),
            ],
            Self::Otf => vec![
                ("terraform_organization_name", b(ctx.organization.as_str())),
                ("terraform_workspace_name", b(ctx.workspace.as_str())),
                ("terraform_workspace_id", b(ctx.workspace_id.as_str())),
                (
                    "terraform_full_workspace",
                    Cow::Owned(format!("organization:{}:workspace:{}", ctx.organization, ctx.workspace)),
                ),
                ("terraform_run_id", b(ctx.run_id.as_str())),
                ("terraform_run_phase", b(ctx.phase.as_str())),
            ],
            Self::Terrakube => vec![
                ("terrakube_workspace_id", b(ctx.workspace_id.as_str())),
                ("terrakube_organization_id", b(ctx.organization_id.as_str())),
                ("terrakube_job_id", b(ctx.run_id.as_str())),
                ("terrakube_workspace_name", b(ctx.workspace.as_str())),
                ("terrakube_organization_name", b(ctx.organization.as_str())),
            ],
        }
    }
}

impl FromStr for ClaimProfile {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tfc" => Ok(Self::Tfc),
            "otf" => Ok(Self::Otf),
            "terrakube" => Ok(Self::Terrakube),
            _ => Err(ProfileError { value: s.to_owned() }),
        }
    }
}

impl fmt::Display for ClaimProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a token names: organization, project, workspace, run and phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    /// Organization name.
    pub organization: OrganizationName,
    /// Organization id (`org-…`, or a UUID for Terrakube).
    pub organization_id: ResourceId,
    /// Project name (`Default Project` unless the workspace is in another).
    pub project: ProjectName,
    /// Project id (`prj-…`).
    pub project_id: ResourceId,
    /// Workspace name.
    pub workspace: WorkspaceName,
    /// Workspace id (`ws-…`).
    pub workspace_id: ResourceId,
    /// Run id (`run-…`); Terrakube's job id.
    pub run_id: RunId,
    /// Plan or apply.
    pub phase: RunPhase,
}

/// One segment of `sub`: `<key>:<value>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKey {
    /// `organization:<name>`
    Organization,
    /// `organization_id:<id>`
    OrganizationId,
    /// `project:<name>`
    Project,
    /// `project_id:<id>`
    ProjectId,
    /// `workspace:<name>`
    Workspace,
    /// `workspace_id:<id>`
    WorkspaceId,
    /// `run_id:<id>`
    RunId,
    /// `run_phase:<plan|apply>`
    RunPhase,
}

impl SubjectKey {
    /// Every key, in documentation order.
    pub const ALL: [SubjectKey; 8] = [
        Self::Organization,
        Self::OrganizationId,
        Self::Project,
        Self::ProjectId,
        Self::Workspace,
        Self::WorkspaceId,
        Self::RunId,
        Self::RunPhase,
    ];

    /// The key as written in a template and in `sub`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::OrganizationId => "organization_id",
            Self::Project => "project",
            Self::ProjectId => "project_id",
            Self::Workspace => "workspace",
            Self::WorkspaceId => "workspace_id",
            Self::RunId => "run_id",
            Self::RunPhase => "run_phase",
        }
    }

    fn value(self, ctx: &RunContext) -> &str {
        match self {
            Self::Organization => ctx.organization.as_str(),
            Self::OrganizationId => ctx.organization_id.as_str(),
            Self::Project => ctx.project.as_str(),
            Self::ProjectId => ctx.project_id.as_str(),
            Self::Workspace => ctx.workspace.as_str(),
            Self::WorkspaceId => ctx.workspace_id.as_str(),
            Self::RunId => ctx.run_id.as_str(),
            Self::RunPhase => ctx.phase.as_str(),
        }
    }
}

/// Why a subject template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectTemplateError {
    /// No keys.
    #[error(
        "subject template is empty; list claim keys separated by commas, e.g. organization,project,workspace,run_phase"
    )]
    Empty,
    /// A key tern does not know.
    #[error("subject template key {key:?} is unknown; known keys: {}", known_keys())]
    UnknownKey {
        /// The unknown key.
        key: String,
    },
    /// A key given twice.
    #[error("subject template lists {key:?} twice")]
    Duplicate {
        /// The repeated key.
        key: String,
    },
    /// Neither `organization` nor `organization_id`.
    #[error(
        "subject template must include organization or organization_id; without it, a trust policy written for one organization would accept tokens of every organization"
    )]
    MissingOrganization,
    /// Neither `workspace` nor `workspace_id`.
    #[error(
        "subject template must include workspace or workspace_id; without it, a trust policy could not tell workspaces apart"
    )]
    MissingWorkspace,
}

fn known_keys() -> String {
    SubjectKey::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// An ordered list of subject keys; `sub` is `key:value` for each, joined by `:`.
/// Validated when it is parsed: known keys, no repeats, and it always pins the organization and
/// the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate(Vec<SubjectKey>);

impl SubjectTemplate {
    /// Parse `organization,project,workspace,run_phase` (commas, optional spaces) or a JSON array
    /// of the same keys.
    pub fn parse(input: &str) -> Result<Self, SubjectTemplateError> {
        let trimmed = input.trim();
        let raw: Vec<String> = if trimmed.starts_with('[') {
            serde_json::from_str::<Vec<String>>(trimmed)
                .map_err(|_| SubjectTemplateError::UnknownKey { key: trimmed.to_owned() })?
        } else {
            trimmed.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect()
        };
        if raw.is_empty() {
            return Err(SubjectTemplateError::Empty);
        }
        let mut keys: Vec<SubjectKey> = Vec::with_capacity(raw.len());
        for name in raw {
            let key = SubjectKey::ALL
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or(SubjectTemplateError::UnknownKey { key: name.clone() })?;
            if keys.contains(&key) {
                return Err(SubjectTemplateError::Duplicate { key: name });
            }
            keys.push(key);
        }
        if !keys.iter().any(|k| matches!(k, SubjectKey::Organization | SubjectKey::OrganizationId)) {
            return Err(SubjectTemplateError::MissingOrganization);
        }
        if !keys.iter().any(|k| matches!(k, SubjectKey::Workspace | SubjectKey::WorkspaceId)) {
            return Err(SubjectTemplateError::MissingWorkspace);
        }
        Ok(Self(keys))
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[SubjectKey] {
        &self.0
    }

    /// Whether the template includes `key`.
    pub fn has(&self, key: SubjectKey) -> bool {
        self.0.contains(&key)
    }

    /// Build a pattern of `sub` for trust policies: `value` gives a key's fixed value, or `None`
    /// for any value, written `*` (AWS `StringLike`, Vault glob `bound_claims`). The same layout
    /// as [`Self::render`], so a trust policy and the tokens cannot drift.
    pub fn render_pattern(&self, value: impl Fn(SubjectKey) -> Option<String>) -> String {
        let mut out = String::with_capacity(128);
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(key.as_str());
            out.push(':');
            match value(*key) {
                Some(v) => out.push_str(&v),
                None => out.push('*'),
            }
        }
        out
    }

    /// Build `sub` for `ctx`.
    pub fn render(&self, ctx: &RunContext) -> String {
        let mut out = String::with_capacity(128);
        for (i, key) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(key.as_str());
            out.push(':');
            out.push_str(key.value(ctx));
        }
        out
    }
}

impl FromStr for SubjectTemplate {
    type Err = SubjectTemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SubjectTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.0.iter().map(|k| k.as_str()).collect();
        f.write_str(&keys.join(","))
    }
}

/// The registered claims every token carries, in emission order.
pub const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"];

/// A profile plus an optional custom subject template: everything that decides a token's claims
/// besides the run itself. Selectable per server (and, with the server issue, per organization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPolicy {
    profile: ClaimProfile,
    subject: SubjectTemplate,
    custom_subject: bool,
}

impl ClaimPolicy {
    /// The profile's own subject, or `custom` when given.
    pub fn new(profile: ClaimProfile, custom: Option<SubjectTemplate>) -> Self {
        match custom {
            Some(subject) => Self { profile, subject, custom_subject: true },
            None => Self { profile, subject: profile.default_subject(), custom_subject: false },
        }
    }

    /// The claim profile.
    pub fn profile(&self) -> ClaimProfile {
        self.profile
    }

    /// The subject template in force.
    pub fn subject_template(&self) -> &SubjectTemplate {
        &self.subject
    }

    /// Whether the subject template is the operator's rather than the profile's.
    pub fn has_custom_subject(&self) -> bool {
        self.custom_subject
    }

    /// Build `sub` for `ctx`.
    pub fn subject(&self, ctx: &RunContext) -> String {
        self.subject.render(ctx)
    }

    /// The claims whose values do not change from token to token of a phase (`iss`, `sub` and
    /// the profile's), in emission order; for previews such as `tern exec --dry-run`.
    pub fn fixed_claims(&self, issuer: &str, ctx: &RunContext) -> Vec<(&'static str, String)> {
        let mut out = vec![("iss", issuer.to_owned()), ("sub", self.subject(ctx))];
        out.extend(self.profile.extra_claims(ctx).into_iter().map(|(k, v)| (k, v.into_owned())));
        out
    }

    /// Every claim a token under this policy carries (for `claims_supported`).
    pub fn claim_names(&self) -> Vec<&'static str> {
        REGISTERED_CLAIMS.iter().copied().chain(self.profile.extra_claim_names().iter().copied()).collect()
    }
}

impl Default for ClaimPolicy {
    fn default() -> Self {
        Self::new(ClaimProfile::Tfc, None)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn context(phase: RunPhase) -> RunContext {
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

    #[test]
    fn profile_subjects() {
        let ctx = context(RunPhase::Apply);
        let cases = [
            (ClaimProfile::Tfc, "organization:acme:project:Default Project:workspace:prod:run_phase:apply"),
            (ClaimProfile::Otf, "organization:acme:workspace:prod:run_phase:apply"),
            (ClaimProfile::Terrakube, "organization:acme:workspace:prod"),
        ];
        for (profile, sub) in cases {
            assert_eq!(ClaimPolicy::new(profile, None).subject(&ctx), sub, "{profile}");
        }
    }

    #[test]
    fn extra_claims_follow_the_declared_names() {
        let ctx = context(RunPhase::Plan);
        for profile in ClaimProfile::ALL {
            let names: Vec<&str> = profile.extra_claims(&ctx).iter().map(|(k, _)| *k).collect();
            assert_eq!(names, profile.extra_claim_names(), "{profile}");
        }
    }

    #[test]
    fn claim_for_carries_the_subject_value() {
        let ctx = context(RunPhase::Apply);
        for profile in ClaimProfile::ALL {
            let claims = profile.extra_claims(&ctx);
            for key in SubjectKey::ALL {
                if let Some(name) = profile.claim_for(key) {
                    let emitted = claims.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_ref());
                    assert_eq!(emitted, Some(key.value(&ctx)), "{profile} {name}");
                }
            }
            assert!(profile.extra_claim_names().contains(&profile.workspace_claim()), "{profile}");
        }
    }

    #[test]
    fn patterns_follow_the_template() {
        let ctx = context(RunPhase::Plan);
        let t = ClaimProfile::Tfc.default_subject();
        let exact = t.render_pattern(|k| Some(k.value(&ctx).to_owned()));
        assert_eq!(exact, t.render(&ctx));
        let any_phase = t.render_pattern(|k| (k != SubjectKey::RunPhase).then(|| k.value(&ctx).to_owned()));
        assert_eq!(any_phase, "organization:acme:project:Default Project:workspace:prod:run_phase:*");
    }

    #[test]
    fn subject_template_table() {
        use SubjectTemplateError as E;
        let cases: &[(&str, Result<&str, E>)] = &[
            ("organization,workspace", Ok("organization:acme:workspace:prod")),
            (
                " organization_id , workspace_id , run_phase ",
                Ok("organization_id:org-GRFXpGJkuZfOkmqH:workspace_id:ws-mbsd5E3Ktt5Rg2Xm:run_phase:plan"),
            ),
            (
                r#"["organization","project","workspace","run_id"]"#,
                Ok("organization:acme:project:Default Project:workspace:prod:run_id:run-CZcmD7eagjhyX0vN"),
            ),
            ("", Err(E::Empty)),
            (" , ", Err(E::Empty)),
            ("organization,workspace,repo", Err(E::UnknownKey { key: "repo".into() })),
            ("organization,workspace,organization", Err(E::Duplicate { key: "organization".into() })),
            ("workspace,run_phase", Err(E::MissingOrganization)),
            ("organization,project,run_phase", Err(E::MissingWorkspace)),
            ("[1,2]", Err(E::UnknownKey { key: "[1,2]".into() })),
        ];
        let ctx = context(RunPhase::Plan);
        for (input, expected) in cases {
            let got = SubjectTemplate::parse(input).map(|t| t.render(&ctx));
            assert_eq!(got.as_deref().map_err(Clone::clone), expected.clone(), "{input:?}");
        }
    }

    #[test]
    fn profile_names() {
        assert_eq!("TFC".parse::<ClaimProfile>(), Ok(ClaimProfile::Tfc));
        assert_eq!("terrakube".parse::<ClaimProfile>(), Ok(ClaimProfile::Terrakube));
        assert!("github".parse::<ClaimProfile>().is_err());
    }
}
