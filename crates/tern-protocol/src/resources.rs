//! The resources of the TFE-shaped API, with TFE's attribute names (kebab-case).
//!
//! Times are RFC 3339 strings, as TFE writes them. Each `…Attributes` type names its JSON:API
//! `type` and relationships through [`Attributes`]; the aliases (`Workspace`, `Run`…) are the
//! resources. Readers get every attribute tern writes; an attribute added later is read as its
//! default by an older reader (`#[serde(default)]` on the containers), so a newer server does
//! not break an older CLI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tern_types::SecretString;

use crate::jsonapi::{Attributes, NoRelationships, Relationships, Resource, ToMany, ToOne};

/// A team's organization permissions, with TFE's names (for readers of [`TeamAttributes`]).
pub use tern_access::OrgPermissions;

macro_rules! relationships {
    ($name:ident) => {
        impl Relationships for $name {}
    };
}

// ------------------------------------------------------------------------------ organizations

/// An organization (`organizations`; its id is its name, as in TFE).
pub type Organization = Resource<OrganizationAttributes>;

/// What an organization's document says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct OrganizationAttributes {
    /// Name.
    pub name: String,
    /// Contact address.
    pub email: String,
    /// tern's internal id (`org-…`).
    pub external_id: String,
    /// When.
    pub created_at: String,
    /// Where runs execute by default.
    pub default_execution_mode: String,
    /// Always false: tern has no cost estimation.
    pub cost_estimation_enabled: bool,
    /// Always false.
    pub assessments_enforced: bool,
    /// What the caller may do.
    pub permissions: OrganizationPermissions,
}

impl Attributes for OrganizationAttributes {
    const TYPE: &'static str = "organizations";
    type Relationships = NoRelationships;
}

/// An organization's `permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct OrganizationPermissions {
    /// May change it.
    pub can_update: bool,
    /// May create workspaces in it.
    pub can_create_workspace: bool,
}

/// What the `remote` backend asks before it runs anything (`entitlement-sets`).
pub type EntitlementSet = Resource<EntitlementAttributes>;

/// The features an organization has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct EntitlementAttributes {
    /// Remote operations.
    pub operations: bool,
    /// State storage.
    pub state_storage: bool,
    /// A private module registry (tern: no).
    pub private_module_registry: bool,
    /// Sentinel policies (tern: no).
    pub sentinel: bool,
    /// Teams.
    pub teams: bool,
    /// VCS integrations.
    pub vcs_integrations: bool,
    /// Agents.
    pub agents: bool,
}

impl Attributes for EntitlementAttributes {
    const TYPE: &'static str = "entitlement-sets";
    type Relationships = NoRelationships;
}

/// Runs waiting and running in an organization (`organization-capacity`).
pub type OrganizationCapacity = Resource<CapacityAttributes>;

/// Counts of runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacityAttributes {
    /// Waiting for a runner.
    pub pending: u64,
    /// Running.
    pub running: u64,
}

impl Attributes for CapacityAttributes {
    const TYPE: &'static str = "organization-capacity";
    type Relationships = NoRelationships;
}

// ----------------------------------------------------------------------------------- projects

/// A project (`projects`).
pub type Project = Resource<ProjectAttributes>;

/// What a project's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ProjectAttributes {
    /// Name, unique in its organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// When.
    pub created_at: String,
}

impl Attributes for ProjectAttributes {
    const TYPE: &'static str = "projects";
    type Relationships = OrganizationRelationship;
}

/// Belongs to an organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationRelationship {
    /// The organization.
    pub organization: ToOne,
}
relationships!(OrganizationRelationship);

// --------------------------------------------------------------------------------- workspaces

/// A workspace (`workspaces`).
pub type Workspace = Resource<WorkspaceAttributes>;

/// What a workspace's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct WorkspaceAttributes {
    /// Name, unique in its organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Apply plans with changes without confirmation.
    pub auto_apply: bool,
    /// `remote`, `agent` or `local`.
    pub execution_mode: String,
    /// The agent pool (`agent` mode).
    pub agent_pool_id: Option<String>,
    /// Runs execute on tern (not `local`).
    pub operations: bool,
    /// Where in the configuration Terraform runs.
    pub working_directory: String,
    /// An exact version or `latest`.
    pub terraform_version: String,
    /// Plan phase timeout, seconds.
    pub plan_timeout: i64,
    /// Apply phase timeout, seconds.
    pub apply_timeout: i64,
    /// Locked by a user.
    pub locked: bool,
    /// TFE's tags, sorted.
    pub tag_names: Vec<String>,
    /// When.
    pub created_at: String,
    /// When last changed.
    pub updated_at: String,
    /// What can be done to it now.
    pub actions: WorkspaceActions,
    /// What the caller may do.
    pub permissions: WorkspacePermissions,
}

impl Attributes for WorkspaceAttributes {
    const TYPE: &'static str = "workspaces";
    type Relationships = WorkspaceRelationships;
}

/// A workspace's `actions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct WorkspaceActions {
    /// No run holds it.
    pub is_destroyable: bool,
}

/// A workspace's `permissions`, by TFE's names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[allow(clippy::struct_excessive_bools)]
pub struct WorkspacePermissions {
    /// Change its settings.
    pub can_update: bool,
    /// Delete it.
    pub can_destroy: bool,
    /// Start a plan.
    pub can_queue_run: bool,
    /// Start a run that applies.
    pub can_queue_apply: bool,
    /// Start a destroy run.
    pub can_queue_destroy: bool,
    /// Lock it.
    pub can_lock: bool,
    /// Unlock it.
    pub can_unlock: bool,
    /// Read its state.
    pub can_read_state_versions: bool,
    /// Write its state.
    pub can_create_state_versions: bool,
    /// Read its variables.
    pub can_read_variable: bool,
    /// Change its variables.
    pub can_update_variable: bool,
    /// Unlock what another locked.
    pub can_force_unlock: bool,
    /// Read its settings.
    pub can_read_settings: bool,
}

impl WorkspacePermissions {
    /// Everything.
    pub fn all() -> Self {
        Self {
            can_update: true,
            can_destroy: true,
            can_queue_run: true,
            can_queue_apply: true,
            can_queue_destroy: true,
            can_lock: true,
            can_unlock: true,
            can_read_state_versions: true,
            can_create_state_versions: true,
            can_read_variable: true,
            can_update_variable: true,
            can_force_unlock: true,
            can_read_settings: true,
        }
    }
}

/// A workspace's relationships.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct WorkspaceRelationships {
    /// Its organization.
    pub organization: ToOne,
    /// Its project.
    pub project: ToOne,
    /// Its agent pool.
    pub agent_pool: ToOne,
    /// The newest run (TFE's name).
    pub current_run: ToOne,
    /// The newest run.
    pub latest_run: ToOne,
    /// tern's: the run that holds the workspace (none when it is free).
    pub active_run: ToOne,
    /// Its current state.
    pub current_state_version: ToOne,
}
relationships!(WorkspaceRelationships);

/// A tag (`tags`).
pub type Tag = Resource<TagAttributes>;

/// A tag's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagAttributes {
    /// Name.
    pub name: String,
}

impl Attributes for TagAttributes {
    const TYPE: &'static str = "tags";
    type Relationships = NoRelationships;
}

// ---------------------------------------------------------------------------------- variables

/// A variable (`vars`) of a workspace or a variable set.
pub type Variable = Resource<VariableAttributes>;

/// What a variable's document says: never a sensitive value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct VariableAttributes {
    /// Name.
    pub key: String,
    /// Value; `None` when sensitive.
    pub value: Option<String>,
    /// Write-only.
    pub sensitive: bool,
    /// `terraform` or `env`.
    pub category: String,
    /// An HCL value.
    pub hcl: bool,
    /// Free text.
    pub description: String,
    /// When.
    pub created_at: String,
}

impl Attributes for VariableAttributes {
    const TYPE: &'static str = "vars";
    type Relationships = VariableRelationships;
}

/// Whose variable it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VariableRelationships {
    /// A workspace or a variable set.
    pub configurable: ToOne,
}
relationships!(VariableRelationships);

/// A variable set (`varsets`).
pub type VariableSet = Resource<VariableSetAttributes>;

/// What a variable set's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct VariableSetAttributes {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Applies to every workspace of the organization.
    pub global: bool,
    /// How many variables.
    pub var_count: u64,
    /// How many workspaces it is applied to.
    pub workspace_count: u64,
    /// How many projects it is applied to.
    pub project_count: u64,
    /// Always false: tern has no priority sets.
    pub priority: bool,
    /// When.
    pub created_at: String,
}

impl Attributes for VariableSetAttributes {
    const TYPE: &'static str = "varsets";
    type Relationships = VariableSetRelationships;
}

/// What a variable set is applied to and holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VariableSetRelationships {
    /// Workspaces.
    pub workspaces: ToMany,
    /// Projects.
    pub projects: ToMany,
    /// Its variables.
    pub vars: ToMany,
}
relationships!(VariableSetRelationships);

// ------------------------------------------------------------------- configuration versions

/// A configuration version (`configuration-versions`).
pub type ConfigurationVersion = Resource<ConfigurationVersionAttributes>;

/// What a configuration version's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ConfigurationVersionAttributes {
    /// `pending`, `uploaded` or `errored`.
    pub status: String,
    /// Why it errored.
    pub error_message: Option<String>,
    /// Its runs only plan.
    pub speculative: bool,
    /// Uploading it starts a run.
    pub auto_queue_runs: bool,
    /// Always `tfe-api`.
    pub source: String,
    /// A signed URL that takes the tarball (`PUT`), while it is pending, for its creator.
    pub upload_url: Option<String>,
    /// When.
    pub created_at: String,
    /// `queued-at`, `uploaded-at`.
    pub status_timestamps: BTreeMap<String, String>,
}

impl Attributes for ConfigurationVersionAttributes {
    const TYPE: &'static str = "configuration-versions";
    type Relationships = WorkspaceRelationship;
}

/// Belongs to a workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkspaceRelationship {
    /// The workspace.
    pub workspace: ToOne,
}
relationships!(WorkspaceRelationship);

// --------------------------------------------------------------------------------------- runs

/// A run (`runs`).
pub type Run = Resource<RunAttributes>;

/// What a run's document says (never its variables: `-var` may carry secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
#[allow(clippy::struct_excessive_bools)]
pub struct RunAttributes {
    /// TFE's status (`pending`, `planning`, `planned`, `applied`…).
    pub status: String,
    /// Why it was started.
    pub message: String,
    /// A destroy run.
    pub is_destroy: bool,
    /// Applies without confirmation.
    pub auto_apply: bool,
    /// Can never be applied.
    pub plan_only: bool,
    /// The plan found changes.
    pub has_changes: bool,
    /// Why it errored or was canceled.
    pub error_message: Option<String>,
    /// tern's: why it has not started yet, when tern can tell.
    pub waiting_reason: Option<String>,
    /// The exact version it runs with, once a runner took it.
    pub terraform_version: Option<String>,
    /// `false`: `-refresh=false`.
    pub refresh: bool,
    /// `-refresh-only`.
    pub refresh_only: bool,
    /// A saved plan (applied only when asked).
    pub save_plan: bool,
    /// `-target`.
    pub target_addrs: Vec<String>,
    /// `-replace`.
    pub replace_addrs: Vec<String>,
    /// Always `tfe-api`.
    pub source: String,
    /// How many runs of the organization wait before it (0 once it runs).
    pub position_in_queue: u64,
    /// When.
    pub created_at: String,
    /// `<status>-at` → when.
    pub status_timestamps: BTreeMap<String, String>,
    /// What can be done to it now.
    pub actions: RunActions,
    /// What the caller may do.
    pub permissions: RunPermissions,
}

impl Attributes for RunAttributes {
    const TYPE: &'static str = "runs";
    type Relationships = RunRelationships;
}

/// A run's `actions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RunActions {
    /// It can be canceled.
    pub is_cancelable: bool,
    /// It can be applied.
    pub is_confirmable: bool,
    /// It can be discarded.
    pub is_discardable: bool,
    /// Always false.
    pub is_force_cancelable: bool,
}

/// A run's `permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RunPermissions {
    /// Apply it.
    pub can_apply: bool,
    /// Cancel it.
    pub can_cancel: bool,
    /// Discard it.
    pub can_discard: bool,
    /// Always false.
    pub can_force_execute: bool,
    /// Always false.
    pub can_force_cancel: bool,
}

/// A run's relationships.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RunRelationships {
    /// Its workspace.
    pub workspace: ToOne,
    /// The configuration it runs.
    pub configuration_version: ToOne,
    /// Its plan.
    pub plan: ToOne,
    /// Its apply.
    pub apply: ToOne,
}
relationships!(RunRelationships);

/// A plan (`plans`).
pub type Plan = Resource<PhaseAttributes<PlanKind>>;
/// An apply (`applies`).
pub type Apply = Resource<PhaseAttributes<ApplyKind>>;

/// Which phase a [`PhaseAttributes`] is of.
pub trait PhaseKind {
    /// `plans` or `applies`.
    const TYPE: &'static str;
}

/// The plan of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanKind;
impl PhaseKind for PlanKind {
    const TYPE: &'static str = "plans";
}

/// The apply of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyKind;
impl PhaseKind for ApplyKind {
    const TYPE: &'static str = "applies";
}

/// What a plan's or an apply's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", bound(serialize = "", deserialize = "K: Default"))]
pub struct PhaseAttributes<K> {
    /// `pending`, `queued`, `running`, `finished`…
    pub status: String,
    /// The plan found changes (plans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_changes: Option<bool>,
    /// A signed URL of its log.
    pub log_read_url: String,
    /// Its own `queued-at`, `started-at`, `finished-at`…
    pub status_timestamps: BTreeMap<String, String>,
    /// Resources to create.
    pub resource_additions: u64,
    /// Resources to update in place.
    pub resource_changes: u64,
    /// Resources to destroy.
    pub resource_destructions: u64,
    /// Resources to import.
    pub resource_imports: u64,
    /// Always `{"mode": "remote"}`.
    pub execution_details: ExecutionDetails,
    #[serde(skip)]
    kind: std::marker::PhantomData<K>,
}

impl<K> PhaseAttributes<K> {
    /// A phase's attributes (`has_changes` only for plans).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        status: &str,
        has_changes: Option<bool>,
        log_read_url: String,
        status_timestamps: BTreeMap<String, String>,
        [resource_additions, resource_changes, resource_destructions, resource_imports]: [u64; 4],
    ) -> Self {
        Self {
            status: status.to_owned(),
            has_changes,
            log_read_url,
            status_timestamps,
            resource_additions,
            resource_changes,
            resource_destructions,
            resource_imports,
            execution_details: ExecutionDetails { mode: "remote".into() },
            kind: std::marker::PhantomData,
        }
    }
}

impl<K: PhaseKind> Attributes for PhaseAttributes<K> {
    const TYPE: &'static str = K::TYPE;
    type Relationships = RunRelationship;
}

/// `execution-details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionDetails {
    /// Where it ran.
    pub mode: String,
}

/// Belongs to a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRelationship {
    /// The run.
    pub run: ToOne,
}
relationships!(RunRelationship);

/// One of a run's events (`run-events`).
pub type RunEvent = Resource<RunEventAttributes>;

/// What happened to a run, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RunEventAttributes {
    /// The status it reached (`planning`, `planned`…).
    pub action: String,
    /// Always `None`.
    pub description: Option<String>,
    /// When.
    pub created_at: String,
}

impl Attributes for RunEventAttributes {
    const TYPE: &'static str = "run-events";
    type Relationships = RunRelationship;
}

// ------------------------------------------------------------------------------------- state

/// A state version (`state-versions`): `finalized`, or `pending` until its state is uploaded.
pub type StateVersion = Resource<StateVersionAttributes>;

/// What a state version's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct StateVersionAttributes {
    /// Terraform's serial.
    pub serial: i64,
    /// Terraform's lineage.
    pub lineage: String,
    /// MD5 of the state (hex).
    pub md5: String,
    /// Bytes (0 while pending).
    pub size: i64,
    /// `finalized` or `pending`.
    pub status: String,
    /// The state format (4), once it has state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_version: Option<u32>,
    /// The Terraform version that wrote it (finalized versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terraform_version: Option<Option<String>>,
    /// Whether its resources have been read (finalized versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources_processed: Option<bool>,
    /// When.
    pub created_at: String,
    /// Where its state can be downloaded (with a token).
    pub hosted_state_download_url: Option<String>,
    /// Not produced by tern: always `None`.
    pub hosted_json_state_download_url: Option<String>,
    /// Pending versions, for their creator: a signed URL that takes the state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_state_upload_url: Option<Option<String>>,
    /// Pending versions, for their creator: a signed URL that takes the JSON state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_json_state_upload_url: Option<Option<String>>,
}

impl Attributes for StateVersionAttributes {
    const TYPE: &'static str = "state-versions";
    type Relationships = StateVersionRelationships;
}

/// Which run wrote a state version, and to which workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateVersionRelationships {
    /// The run (none for state written from a CLI).
    pub run: ToOne,
    /// The workspace.
    pub workspace: ToOne,
}
relationships!(StateVersionRelationships);

/// An output of a state version (`state-version-outputs`).
pub type StateVersionOutput = Resource<StateVersionOutputAttributes>;

/// What an output's document says: never a sensitive value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct StateVersionOutputAttributes {
    /// Name.
    pub name: String,
    /// Marked sensitive (its value is `null`).
    pub sensitive: bool,
    /// The type's name (`string`, `list`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// The type, as Terraform writes it.
    pub detailed_type: Value,
    /// The value (`null` when sensitive).
    pub value: Value,
}

impl Attributes for StateVersionOutputAttributes {
    const TYPE: &'static str = "state-version-outputs";
    type Relationships = StateVersionRelationship;
}

/// Belongs to a state version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct StateVersionRelationship {
    /// The state version.
    pub state_version: ToOne,
}
relationships!(StateVersionRelationship);

// ------------------------------------------------------------------------- tokens and pools

/// A bearer token's record (`authentication-tokens`): the secret only in the answer that
/// created it.
pub type AuthenticationToken = Resource<TokenAttributes>;

/// What a token's document says.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TokenAttributes {
    /// The token itself: only when just created.
    #[serde(with = "crate::secret::option")]
    pub token: Option<SecretString>,
    /// tern's: what it may do — `admin`, `organization` or `agent` (in lists and shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Free text.
    pub description: String,
    /// When.
    pub created_at: String,
    /// When it was last used (where recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Option<String>>,
    /// When it expires (where it can).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<Option<String>>,
}

impl Attributes for TokenAttributes {
    const TYPE: &'static str = "authentication-tokens";
    type Relationships = TokenRelationships;
}

/// The pool an agent token belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TokenRelationships {
    /// Agent tokens of a pool: the pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_pool: Option<ToOne>,
    /// A team's token: the team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<ToOne>,
    /// A user's token: the user (TFE's `created-by`).
    #[serde(rename = "created-by", skip_serializing_if = "Option::is_none")]
    pub created_by: Option<ToOne>,
}

impl Relationships for TokenRelationships {
    fn is_absent(&self) -> bool {
        self.agent_pool.is_none() && self.team.is_none() && self.created_by.is_none()
    }
}

/// An agent pool (`agent-pools`).
pub type AgentPool = Resource<AgentPoolAttributes>;

/// What an agent pool's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct AgentPoolAttributes {
    /// Name.
    pub name: String,
    /// When.
    pub created_at: String,
    /// Always true: every workspace of the organization may use it.
    pub organization_scoped: bool,
    /// Agents seen in the last minute.
    pub agent_count: u64,
}

impl Attributes for AgentPoolAttributes {
    const TYPE: &'static str = "agent-pools";
    type Relationships = AgentPoolRelationships;
}

/// A pool's organization and the workspaces that use it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentPoolRelationships {
    /// Its organization.
    pub organization: ToOne,
    /// The workspaces that use it.
    pub workspaces: ToMany,
}
relationships!(AgentPoolRelationships);

/// A signing key of the issuer (`signing-keys`, tern's administration API).
pub type SigningKey = Resource<SigningKeyAttributes>;

/// What a signing key's document says (never the key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct SigningKeyAttributes {
    /// `RS256`, `ES256`…
    pub algorithm: String,
    /// `pending`, `active`, `retired`…
    pub state: String,
    /// When.
    pub created_at: String,
    /// When it signs (or signed) from.
    pub activates_at: String,
    /// When it stopped signing.
    pub retired_at: Option<String>,
    /// Until when it stays in the JWKS.
    pub publish_until: Option<String>,
}

impl Attributes for SigningKeyAttributes {
    const TYPE: &'static str = "signing-keys";
    type Relationships = NoRelationships;
}

// -------------------------------------------------------------------------------- audit trail

/// An event of the audit trail (`audit-events`, tern's).
pub type AuditEvent = Resource<AuditEventAttributes>;

/// Who did what, when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct AuditEventAttributes {
    /// When (RFC 3339).
    pub timestamp: String,
    /// Who: a token id (`at-…`), a job id (what a run's phase did), or `system`.
    pub actor: String,
    /// `admin`, `organization`, `agent`, `job` or `system`.
    pub actor_kind: String,
    /// What: `token.minted`, `run.created`, `run.applied`, `variable.updated`, `token.revoked`…
    pub action: String,
    /// The rest (never a secret: no variable value, no token).
    pub details: Value,
}

impl Attributes for AuditEventAttributes {
    const TYPE: &'static str = "audit-events";
    type Relationships = AuditEventRelationships;
}

/// Where it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditEventRelationships {
    /// The organization (by its internal id: it may have been renamed or deleted since).
    pub organization: ToOne,
    /// The workspace.
    pub workspace: ToOne,
    /// The run.
    pub run: ToOne,
}
relationships!(AuditEventRelationships);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_token_created_shows_its_secret_only_on_the_wire() {
        let t = AuthenticationToken::new(
            "at-1",
            TokenAttributes {
                token: Some(SecretString::new("tern-org-SECRET".into())),
                description: "ci".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                ..TokenAttributes::default()
            },
            TokenRelationships::default(),
        );
        assert!(!format!("{t:?}").contains("SECRET"));
        let wire = serde_json::to_value(&t).unwrap();
        assert_eq!(wire["attributes"]["token"], "tern-org-SECRET");
        assert!(wire.get("relationships").is_none(), "{wire}");
        assert!(wire["attributes"].get("last-used-at").is_none(), "{wire}");
    }

    #[test]
    fn an_older_reader_ignores_attributes_it_does_not_know_and_defaults_missing_ones() {
        let w: Workspace = serde_json::from_value(serde_json::json!({
            "id": "ws-1", "type": "workspaces",
            "attributes": { "name": "app", "some-future-attribute": 1 },
        }))
        .unwrap();
        assert_eq!(w.attributes.name, "app");
        assert_eq!(w.relationships.current_run.id(), None);
    }
}

// ------------------------------------------------------------------------------ people and teams

/// A user (`users`).
pub type User = Resource<UserAttributes>;

/// What a user's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct UserAttributes {
    /// Unique in the installation.
    pub username: String,
    /// Contact address.
    pub email: String,
    /// True for the account behind an admin, organization or team token (its id is the token's),
    /// as TFE answers `account/details` for such tokens; false for people.
    pub is_service_account: bool,
    /// Administers the installation.
    pub is_admin: bool,
    /// The same (TFE's older name).
    pub is_site_admin: bool,
    /// Empty: tern keeps no avatars.
    pub avatar_url: String,
    /// Two-factor authentication is the identity provider's business: shown as off.
    pub two_factor: TwoFactor,
    /// What the user may do with their own account.
    pub permissions: UserPermissions,
}

/// TFE's two-factor block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwoFactor {
    /// Enabled.
    pub enabled: bool,
    /// Verified.
    pub verified: bool,
}

/// A user's permissions on their own account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct UserPermissions {
    /// Only administrators create organizations in tern.
    pub can_create_organizations: bool,
    /// The same (the spelling of TFE's description).
    pub can_create_organization: bool,
    /// Names and addresses come from the identity provider or an administrator.
    pub can_change_email: bool,
    /// As above.
    pub can_change_username: bool,
    /// A user creates and revokes their own tokens.
    pub can_manage_user_tokens: bool,
}

impl Attributes for UserAttributes {
    const TYPE: &'static str = "users";
    type Relationships = NoRelationships;
}

/// A browser session of a user (`sessions`, tern's): its public id (`ses-…`) and times, never
/// its secret.
pub type Session = Resource<SessionAttributes>;

/// What a session's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct SessionAttributes {
    /// When the user signed in (RFC 3339).
    pub created_at: String,
    /// When it was last used (updated at most once a minute).
    pub last_seen_at: String,
    /// When it ends whatever happens (it ends earlier when idle too long).
    pub expires_at: String,
    /// The session this very request came with (a page of the web UI); false for a token.
    pub current: bool,
}

impl Attributes for SessionAttributes {
    const TYPE: &'static str = "sessions";
    type Relationships = SessionRelationships;
}

/// Whose session it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionRelationships {
    /// Its user.
    pub user: ToOne,
}
relationships!(SessionRelationships);

/// A team (`teams`).
pub type Team = Resource<TeamAttributes>;

/// What a team's document says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TeamAttributes {
    /// Unique in the organization.
    pub name: String,
    /// The identity provider's group mapped to it, if named.
    pub sso_team_id: Option<String>,
    /// Members.
    pub users_count: u64,
    /// `organization` or `secret`.
    pub visibility: String,
    /// Always false: a team's tokens are managed by those who manage teams.
    pub allow_member_token_management: bool,
    /// Its organization permissions.
    pub organization_access: OrgPermissions,
    /// What the caller may do to it.
    pub permissions: TeamPermissions,
}

/// What the caller may do to a team.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TeamPermissions {
    /// Delete it.
    pub can_destroy: bool,
    /// Add and remove members.
    pub can_update_membership: bool,
    /// Change its organization permissions.
    pub can_update_organization_access: bool,
    /// Create and revoke its token.
    pub can_update_api_token: bool,
    /// Change its visibility.
    pub can_update_visibility: bool,
    /// Rename it.
    pub can_update_name: bool,
}

impl Attributes for TeamAttributes {
    const TYPE: &'static str = "teams";
    type Relationships = TeamRelationships;
}

/// A team's organization and members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamRelationships {
    /// Its organization.
    pub organization: ToOne,
    /// Its members (users, by id).
    pub users: ToMany,
}
relationships!(TeamRelationships);

/// A team's access to a workspace (`team-workspaces`).
pub type TeamWorkspace = Resource<TeamWorkspaceAttributes>;

/// What a team's workspace access says: the level, and the permissions it gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TeamWorkspaceAttributes {
    /// `read`, `plan`, `write`, `admin` or `custom`.
    pub access: String,
    /// `read`, `plan`, `apply`.
    pub runs: String,
    /// `none`, `read`, `write`.
    pub variables: String,
    /// `none`, `read-outputs`, `read`, `write`.
    pub state_versions: String,
    /// `none` (tern has no Sentinel).
    pub sentinel_mocks: String,
    /// Lock and unlock.
    pub workspace_locking: bool,
    /// Always false (tern has no run tasks).
    pub run_tasks: bool,
}

impl Attributes for TeamWorkspaceAttributes {
    const TYPE: &'static str = "team-workspaces";
    type Relationships = TeamWorkspaceRelationships;
}

/// The team and the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamWorkspaceRelationships {
    /// The team.
    pub team: ToOne,
    /// The workspace.
    pub workspace: ToOne,
}
relationships!(TeamWorkspaceRelationships);

/// A team's access to a project (`team-projects`).
pub type TeamProject = Resource<TeamProjectAttributes>;

/// What a team's project access says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TeamProjectAttributes {
    /// `read`, `write`, `maintain`, `admin` or `custom`.
    pub access: String,
    /// On the project itself.
    pub project_access: ProjectAccessAttributes,
    /// On its workspaces.
    pub workspace_access: ProjectWorkspaceAccessAttributes,
}

/// A custom project access, on the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ProjectAccessAttributes {
    /// `read`, `update`, `delete`.
    pub settings: String,
    /// `none`, `read`, `manage`.
    pub teams: String,
    /// `none`, `read`, `write`.
    pub variable_sets: String,
}

/// A custom project access, on the project's workspaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ProjectWorkspaceAccessAttributes {
    /// `read`, `plan`, `apply`.
    pub runs: String,
    /// `none`, `read`, `write`.
    pub variables: String,
    /// `none`, `read-outputs`, `read`, `write`.
    pub state_versions: String,
    /// `none`.
    pub sentinel_mocks: String,
    /// Create workspaces in the project.
    pub create: bool,
    /// Always false (tern does not move workspaces between projects this way).
    pub r#move: bool,
    /// Lock and unlock.
    pub locking: bool,
    /// Delete workspaces.
    pub delete: bool,
    /// Always false.
    pub run_tasks: bool,
}

impl Attributes for TeamProjectAttributes {
    const TYPE: &'static str = "team-projects";
    type Relationships = TeamProjectRelationships;
}

/// The team and the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamProjectRelationships {
    /// The team.
    pub team: ToOne,
    /// The project.
    pub project: ToOne,
}
relationships!(TeamProjectRelationships);
