//! What to trust: an organization, optionally a project and a workspace, and a phase, under the
//! issuer and claim policy in use.

use std::fmt;
use std::str::FromStr;

use tern_identity::{ClaimPolicy, SubjectKey};
use tern_types::{IssuerUrl, OrganizationName, ProjectName, ResourceId, RunPhase, WorkspaceName};

/// A relying party tern can generate trust for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// AWS IAM: an OIDC identity provider and role trust policies.
    Aws,
    /// Google Cloud: a workload identity pool, an OIDC provider and a service account binding.
    Gcp,
    /// Microsoft Entra ID: federated identity credentials of an application.
    Azure,
    /// Vault or OpenBao: a JWT auth method, roles and a policy.
    Vault,
    /// Kubernetes (EKS identity provider or structured authentication) and RBAC bindings.
    Kubernetes,
}

impl Cloud {
    /// `aws`, `gcp`, `azure`, `vault` or `kubernetes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Gcp => "gcp",
            Self::Azure => "azure",
            Self::Vault => "vault",
            Self::Kubernetes => "kubernetes",
        }
    }

    /// The audience tern's tokens carry for this cloud unless a workspace sets another
    /// (SPEC §4); Google's depends on the provider, Kubernetes has none.
    pub fn default_audience(self) -> Option<&'static str> {
        match self {
            Self::Aws => Some("aws.workload.identity"),
            Self::Azure => Some("api://AzureADTokenExchange"),
            Self::Vault => Some("vault.workload.identity"),
            Self::Gcp | Self::Kubernetes => None,
        }
    }

    /// The workspace variable that changes the audience.
    pub fn audience_variable(self) -> &'static str {
        match self {
            Self::Aws => "TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE",
            Self::Gcp => "TFC_GCP_WORKLOAD_IDENTITY_AUDIENCE",
            Self::Azure => "TFC_AZURE_WORKLOAD_IDENTITY_AUDIENCE",
            Self::Vault => "TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE",
            Self::Kubernetes => "TFC_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE",
        }
    }

    /// Whether the cloud compares the whole subject exactly (no wildcards).
    pub fn exact_subjects(self) -> bool {
        matches!(self, Self::Azure | Self::Kubernetes)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to print a trust configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Terraform resources of the cloud's provider.
    Terraform,
    /// The cloud's own JSON documents.
    Json,
    /// The cloud's CLI commands (a shell script).
    Cli,
}

/// Which phases a trust relationship admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseScope {
    /// Plan only.
    Plan,
    /// Apply only.
    Apply,
    /// Either phase, with one role (clouds that match subjects exactly get one entry per phase).
    Both,
    /// One role (credential, binding) per phase: plan can get read-only permissions.
    Each,
}

impl FromStr for PhaseScope {
    type Err = TrustError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plan" => Ok(Self::Plan),
            "apply" => Ok(Self::Apply),
            "both" => Ok(Self::Both),
            "each" => Ok(Self::Each),
            other => Err(TrustError::Phase(other.to_owned())),
        }
    }
}

/// Why a trust configuration cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// An unknown phase scope.
    #[error("phase {0:?} is not one of: plan, apply, both, each")]
    Phase(String),
    /// The subject template names an id that was not given.
    #[error(
        "the subject template uses {key}, so the trust policy must name it: give {flag} (a wildcard there would trust every {what})"
    )]
    MissingId {
        /// The template key.
        key: &'static str,
        /// The flag that provides it.
        flag: &'static str,
        /// What a wildcard would admit.
        what: &'static str,
    },
    /// A single phase was asked for but `sub` does not name the phase.
    #[error(
        "tokens of this server do not name the phase in sub (subject template {template}), so a trust policy cannot tell plan from apply: use --phase both, or a subject template with run_phase"
    )]
    PhaseNotInSubject {
        /// The template in force.
        template: String,
    },
    /// The cloud matches subjects exactly but the scope leaves parts open.
    #[error(
        "{cloud} matches the token's subject exactly, without wildcards, but {pattern:?} leaves {open} open: give {flags}"
    )]
    NeedsExactSubject {
        /// The cloud.
        cloud: Cloud,
        /// The subject pattern.
        pattern: String,
        /// The open parts.
        open: String,
        /// The flags that close them.
        flags: String,
    },
    /// Something the cloud needs was not given.
    #[error("{cloud} needs {what}: give {flag}")]
    Missing {
        /// The cloud.
        cloud: Cloud,
        /// What is missing.
        what: &'static str,
        /// The flag.
        flag: &'static str,
    },
}

/// The trust relationship to print.
#[derive(Debug, Clone)]
pub struct TrustScope {
    /// The issuer in use (tokens' `iss`).
    pub issuer: IssuerUrl,
    /// The claim profile and subject template in use.
    pub policy: ClaimPolicy,
    /// The organization.
    pub organization: OrganizationName,
    /// The organization's id, when the subject template uses it.
    pub organization_id: Option<ResourceId>,
    /// One project, or any.
    pub project: Option<ProjectName>,
    /// The project's id, or any.
    pub project_id: Option<ResourceId>,
    /// One workspace, or any.
    pub workspace: Option<WorkspaceName>,
    /// The workspace's id, or any.
    pub workspace_id: Option<ResourceId>,
    /// Which phases.
    pub phase: PhaseScope,
    /// The audience, when not the cloud's default.
    pub audience: Option<String>,
}

/// One subject to trust: a pattern (with `*` for open parts) and the phase it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `None`: either phase.
    pub phase: Option<RunPhase>,
    /// The `sub` pattern.
    pub pattern: String,
}

impl Subject {
    /// Whether the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        !self.pattern.contains('*')
    }

    /// `plan`, `apply` or `any` (for names).
    pub fn phase_label(&self) -> &'static str {
        self.phase.map_or("any", RunPhase::as_str)
    }
}

/// Extra settings of the cloud side; absent values become variables or placeholders.
#[derive(Debug, Clone, Default)]
pub struct CloudOptions {
    /// Base name of roles, credentials, pools (default: `tern-<org>[-<workspace>]`).
    pub name: Option<String>,
    /// AWS account id (JSON format: the provider ARN).
    pub aws_account_id: Option<String>,
    /// Google Cloud project id.
    pub gcp_project_id: Option<String>,
    /// Google Cloud project number.
    pub gcp_project_number: Option<String>,
    /// Workload identity pool id.
    pub gcp_pool_id: Option<String>,
    /// Workload identity pool provider id.
    pub gcp_provider_id: Option<String>,
    /// Service account email to impersonate.
    pub gcp_service_account: Option<String>,
    /// The issuer's JWKS, uploaded to the provider instead of fetched (a private issuer).
    pub gcp_jwks: Option<crate::UploadedJwks>,
    /// Entra ID application (client) object id.
    pub azure_application_id: Option<String>,
    /// Vault JWT auth mount path (default `jwt`).
    pub vault_mount: Option<String>,
    /// EKS cluster name.
    pub eks_cluster: Option<String>,
    /// Kubernetes ClusterRole to bind (default `edit`).
    pub kubernetes_cluster_role: Option<String>,
}

impl CloudOptions {
    pub(crate) fn base_name(&self, scope: &TrustScope) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut name = format!("tern-{}", scope.organization);
        if let Some(ws) = &scope.workspace {
            name.push('-');
            name.push_str(ws.as_str());
        }
        name.to_ascii_lowercase().replace('_', "-")
    }
}

impl TrustScope {
    /// The audience the tokens carry for `cloud`.
    pub fn audience_for(&self, cloud: Cloud) -> Option<String> {
        self.audience.clone().or_else(|| cloud.default_audience().map(str::to_owned))
    }

    /// The subjects to trust for `cloud`: one per role; two when one per phase is asked for, or
    /// when the cloud matches exactly and either phase is to be trusted.
    pub fn subjects(&self, cloud: Cloud) -> Result<Vec<Subject>, TrustError> {
        let template = self.policy.subject_template();
        let names_phase = template.has(SubjectKey::RunPhase);
        let phases: Vec<Option<RunPhase>> = match self.phase {
            PhaseScope::Plan => vec![Some(RunPhase::Plan)],
            PhaseScope::Apply => vec![Some(RunPhase::Apply)],
            PhaseScope::Both if cloud.exact_subjects() && names_phase => {
                vec![Some(RunPhase::Plan), Some(RunPhase::Apply)]
            }
            PhaseScope::Both => vec![None],
            PhaseScope::Each => vec![Some(RunPhase::Plan), Some(RunPhase::Apply)],
        };
        if !names_phase && phases.iter().any(Option::is_some) {
            return Err(TrustError::PhaseNotInSubject { template: template.to_string() });
        }
        if template.has(SubjectKey::OrganizationId) && self.organization_id.is_none() {
            return Err(TrustError::MissingId {
                key: "organization_id",
                flag: "--organization-id",
                what: "organization",
            });
        }
        let mut out = Vec::with_capacity(phases.len());
        for phase in phases {
            let pattern = template.render_pattern(|key| match key {
                SubjectKey::Organization => Some(self.organization.to_string()),
                SubjectKey::OrganizationId => self.organization_id.as_ref().map(ToString::to_string),
                SubjectKey::Project => self.project.as_ref().map(ToString::to_string),
                SubjectKey::ProjectId => self.project_id.as_ref().map(ToString::to_string),
                SubjectKey::Workspace => self.workspace.as_ref().map(ToString::to_string),
                SubjectKey::WorkspaceId => self.workspace_id.as_ref().map(ToString::to_string),
                SubjectKey::RunId => None,
                SubjectKey::RunPhase => phase.map(|p| p.as_str().to_owned()),
            });
            out.push(Subject { phase, pattern });
        }
        if cloud.exact_subjects() {
            let open: Vec<SubjectKey> = template
                .keys()
                .iter()
                .copied()
                .filter(|k| match k {
                    SubjectKey::Project => self.project.is_none(),
                    SubjectKey::ProjectId => self.project_id.is_none(),
                    SubjectKey::Workspace => self.workspace.is_none(),
                    SubjectKey::WorkspaceId => self.workspace_id.is_none(),
                    SubjectKey::RunId => true,
                    _ => false,
                })
                .collect();
            if let Some(first) = out.first()
                && !open.is_empty()
            {
                let flags: Vec<String> = open
                    .iter()
                    .map(|k| match k {
                        SubjectKey::RunId => "a subject template without run_id".to_owned(),
                        k => format!("--{}", k.as_str().replace('_', "-")),
                    })
                    .collect();
                return Err(TrustError::NeedsExactSubject {
                    cloud,
                    pattern: first.pattern.clone(),
                    open: open.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
                    flags: flags.join(" and "),
                });
            }
        }
        Ok(out)
    }

    /// Claim conditions equivalent to a subject: `(claim, value)` for every fixed part the
    /// profile has a claim for, and whether some fixed part has none (then `sub` must be
    /// matched as a whole).
    pub(crate) fn claim_conditions(&self, subject: &Subject) -> (Vec<(&'static str, String)>, bool) {
        let profile = self.policy.profile();
        let mut out = Vec::new();
        let mut uncovered = false;
        for key in self.policy.subject_template().keys() {
            let value = match key {
                SubjectKey::Organization => Some(self.organization.to_string()),
                SubjectKey::OrganizationId => self.organization_id.as_ref().map(ToString::to_string),
                SubjectKey::Project => self.project.as_ref().map(ToString::to_string),
                SubjectKey::ProjectId => self.project_id.as_ref().map(ToString::to_string),
                SubjectKey::Workspace => self.workspace.as_ref().map(ToString::to_string),
                SubjectKey::WorkspaceId => self.workspace_id.as_ref().map(ToString::to_string),
                SubjectKey::RunId => None,
                SubjectKey::RunPhase => subject.phase.map(|p| p.as_str().to_owned()),
            };
            if let Some(v) = value {
                match profile.claim_for(*key) {
                    Some(claim) => out.push((claim, v)),
                    None => uncovered = true,
                }
            }
        }
        (out, uncovered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_identity::{ClaimProfile, SubjectTemplate};

    pub(crate) fn scope(profile: ClaimProfile, phase: PhaseScope) -> TrustScope {
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
            audience: None,
        }
    }

    #[test]
    fn subjects_per_phase_scope() {
        let s = scope(ClaimProfile::Tfc, PhaseScope::Both);
        let aws = s.subjects(Cloud::Aws).unwrap();
        assert_eq!(aws.len(), 1);
        assert_eq!(aws[0].pattern, "organization:acme:project:Default Project:workspace:prod:run_phase:*");
        let azure = s.subjects(Cloud::Azure).unwrap();
        assert_eq!(azure.len(), 2);
        assert!(azure.iter().all(Subject::is_exact));
        let each = scope(ClaimProfile::Otf, PhaseScope::Each).subjects(Cloud::Aws).unwrap();
        assert_eq!(each[1].pattern, "organization:acme:workspace:prod:run_phase:apply");
    }

    #[test]
    fn refusals() {
        let e = scope(ClaimProfile::Terrakube, PhaseScope::Plan).subjects(Cloud::Aws).unwrap_err();
        assert!(matches!(e, TrustError::PhaseNotInSubject { .. }), "{e}");
        let mut s = scope(ClaimProfile::Tfc, PhaseScope::Both);
        s.workspace = None;
        let e = s.subjects(Cloud::Azure).unwrap_err();
        assert!(e.to_string().contains("give --workspace"), "{e}");
        s.policy = ClaimPolicy::new(
            ClaimProfile::Tfc,
            Some(SubjectTemplate::parse("organization_id,workspace").unwrap()),
        );
        let e = s.subjects(Cloud::Aws).unwrap_err();
        assert!(e.to_string().contains("--organization-id"), "{e}");
        // Terrakube's subject names no phase: "both" is one exact subject, fine for Azure.
        let t = scope(ClaimProfile::Terrakube, PhaseScope::Both).subjects(Cloud::Azure).unwrap();
        assert_eq!(t, vec![Subject { phase: None, pattern: "organization:acme:workspace:prod".into() }]);
    }
}
