//! What the store keeps, as typed records. Sensitive values never appear in these: a
//! [`Variable`] that is sensitive has `value: None`; the plaintext comes only from
//! `Store::job_variables`, wrapped in a `SecretString`.

use std::collections::BTreeMap;
use std::fmt;

use tern_types::{RunPhase, SecretString, TerraformVersion};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and API spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parse the stored and API spelling.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A run's status, as TFE names them.
    RunStatus {
        /// Waiting for the workspace or an agent.
        Pending = "pending",
        /// The plan phase runs.
        Planning = "planning",
        /// Planned with changes; waits for confirmation.
        Planned = "planned",
        /// A saved plan (`terraform plan -out` with the cloud block) with changes: applied only
        /// when asked (`terraform apply <plan file>`), never automatically.
        PlannedAndSaved = "planned_and_saved",
        /// Planned without changes, or a plan-only run: nothing more to do.
        PlannedAndFinished = "planned_and_finished",
        /// Confirmed; the apply job is queued.
        Confirmed = "confirmed",
        /// The apply phase runs.
        Applying = "applying",
        /// Applied.
        Applied = "applied",
        /// Discarded after planning.
        Discarded = "discarded",
        /// Canceled.
        Canceled = "canceled",
        /// Failed; `error_message` says why.
        Errored = "errored",
    }
);

impl RunStatus {
    /// Whether the run has not finished its plan yet (pending or planning).
    pub fn is_before_plan_end(self) -> bool {
        matches!(self, Self::Pending | Self::Planning)
    }

    /// Whether nothing more will happen to the run.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::PlannedAndFinished | Self::Applied | Self::Discarded | Self::Canceled | Self::Errored
        )
    }
}

string_enum!(
    /// A plan's or an apply's own status (TFE: `plans`/`applies` resources).
    PhaseStatus {
        /// Not started.
        Pending = "pending",
        /// Waiting for an agent.
        Queued = "queued",
        /// Running.
        Running = "running",
        /// Finished successfully.
        Finished = "finished",
        /// Failed.
        Errored = "errored",
        /// Canceled while it ran or waited.
        Canceled = "canceled",
        /// Will not run (the run ended before).
        Unreachable = "unreachable",
    }
);

impl PhaseStatus {
    /// TFE's name of the timestamp a phase records when it reaches this status.
    pub fn timestamp_name(self) -> &'static str {
        match self {
            Self::Pending => "pending-at",
            Self::Queued => "queued-at",
            Self::Running => "started-at",
            Self::Finished => "finished-at",
            Self::Errored => "errored-at",
            Self::Canceled => "canceled-at",
            Self::Unreachable => "unreachable-at",
        }
    }
}

string_enum!(
    /// A job's status.
    JobStatus {
        /// Waiting for an agent.
        Queued = "queued",
        /// Claimed by an agent.
        Running = "running",
        /// Over (whatever the outcome).
        Done = "done",
        /// Will not run: its run ended before it was claimed.
        Dropped = "dropped",
    }
);

string_enum!(
    /// A variable's category.
    Category {
        /// Environment variable of the Terraform process.
        Env = "env",
        /// Terraform input variable.
        Terraform = "terraform",
    }
);

string_enum!(
    /// Where a workspace's runs execute.
    ExecutionMode {
        /// On `tern serve`'s own workers (or an organization-wide agent token's agents).
        Remote = "remote",
        /// On the agents of the workspace's agent pool, never on the server's workers.
        Agent = "agent",
        /// On the client; tern keeps the state only.
        Local = "local",
    }
);

string_enum!(
    /// What a bearer token may do.
    TokenKind {
        /// Everything.
        Admin = "admin",
        /// The API, within one organization.
        Organization = "organization",
        /// Claim jobs: of one agent pool (a pool token), of the `remote` workspaces of one
        /// organization (an organization-wide token), or of every `remote` workspace (the
        /// server's own workers, no organization). See [`ClaimScope`].
        Agent = "agent",
        /// Act on one job: its run and phase only.
        Job = "job",
        /// A user's: what the user's teams may do.
        User = "user",
        /// A team's: what the team may do.
        Team = "team",
    }
);

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `org-…`.
    pub id: String,
    /// Unique name (TFE uses it as the API id).
    pub name: String,
    /// Contact address.
    pub email: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Bumped by the database with every change to the organization's teams, memberships or
    /// team access (migration 17's triggers). [`Store::grants`](crate::Store::grants) keeps a
    /// caller's grants parsed per version, so an organization loaded in this request is all it
    /// takes to know whether they are still current.
    pub grants_version: i64,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `prj-…`.
    pub id: String,
    /// Owning organization's id.
    pub organization_id: String,
    /// Owning organization's name.
    pub organization: String,
    /// Name, unique in the organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The name of the project every organization starts with.
pub const DEFAULT_PROJECT: &str = "Default Project";

/// A workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// `ws-…`.
    pub id: String,
    /// Organization id.
    pub organization_id: String,
    /// Organization name.
    pub organization: String,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project: String,
    /// Name, unique in the organization.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The Terraform version runs use (TFE's `terraform-version`): exact, or `latest`.
    pub terraform_version: TerraformVersion,
    /// Directory within the configuration where Terraform runs.
    pub working_directory: String,
    /// Apply without confirmation when a plan has changes.
    pub auto_apply: bool,
    /// Where runs execute.
    pub execution_mode: ExecutionMode,
    /// The agent pool whose agents run it (`agent` execution mode only).
    pub agent_pool_id: Option<String>,
    /// Plan phase timeout, seconds.
    pub plan_timeout_s: i64,
    /// Apply phase timeout, seconds.
    pub apply_timeout_s: i64,
    /// Locked by a user (no run starts).
    pub locked: bool,
    /// The run that holds the workspace.
    pub active_run_id: Option<String>,
    /// The newest run, whatever its status (TFE's `current-run`).
    pub latest_run_id: Option<String>,
    /// Current state version.
    pub current_state_version_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// TFE's tag names, sorted (filled by the store's workspace getters and lists).
    pub tag_names: Vec<String>,
}

/// A state version announced without its state, waiting for the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingStateVersion {
    /// `sv-…`: the id the state version keeps once its state arrives.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// The run that wrote it, when one did.
    pub run_id: Option<String>,
    /// Announced serial.
    pub serial: i64,
    /// Announced lineage.
    pub lineage: String,
    /// Announced hex MD5 of the state.
    pub md5: String,
    /// When it was announced.
    pub created_at: i64,
}

/// What a variable set is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetScope {
    /// Workspaces, one by one.
    Workspaces,
    /// Projects: every workspace in them.
    Projects,
}

impl SetScope {
    /// The link table and its column (constants: never from input).
    pub(crate) fn table(self) -> (&'static str, &'static str) {
        match self {
            SetScope::Workspaces => ("variable_set_workspaces", "workspace_id"),
            SetScope::Projects => ("variable_set_projects", "project_id"),
        }
    }

    /// What one of them is called in messages.
    pub(crate) fn what(self) -> &'static str {
        match self {
            SetScope::Workspaces => "workspace",
            SetScope::Projects => "project",
        }
    }
}

/// Whose runs to list.
#[derive(Debug, Clone, Copy)]
pub enum RunScope<'a> {
    /// One workspace's (by id).
    Workspace(&'a str),
    /// Every workspace's of an organization (by id).
    Organization(&'a str),
}

/// TFE's run operations that tern can filter by (`filter[operation]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOperation {
    /// `plan_only`: speculative runs.
    PlanOnly,
    /// `plan_and_apply`: runs that may apply, not destroying.
    PlanAndApply,
    /// `destroy`.
    Destroy,
}

impl RunOperation {
    /// TFE's name of each.
    pub const ALL: [(&'static str, RunOperation); 3] = [
        ("plan_only", RunOperation::PlanOnly),
        ("plan_and_apply", RunOperation::PlanAndApply),
        ("destroy", RunOperation::Destroy),
    ];
}

/// Which runs to list (any of the statuses, any of the operations; empty: all).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// `filter[status]`.
    pub statuses: Vec<RunStatus>,
    /// `filter[operation]`.
    pub operations: Vec<RunOperation>,
}

/// Which workspaces of an organization to list (TFE's `search[…]` and `filter[…]`).
#[derive(Debug, Clone, Default)]
pub struct WorkspaceFilter {
    /// A part of the name (`search[name]`).
    pub name: Option<String>,
    /// Tags every listed workspace has (`search[tags]`).
    pub tags: Vec<String>,
    /// Tags they must not have (any of them excludes a workspace).
    pub exclude_tags: Vec<String>,
    /// The project (`filter[project][id]`).
    pub project_id: Option<String>,
    /// A name pattern where `*` matches anything (`search[wildcard-name]`).
    pub wildcard_name: Option<String>,
    /// The newest run has one of these statuses (`filter[current-run][status]`).
    pub current_run_statuses: Vec<RunStatus>,
    /// Only these workspaces (ids) and the workspaces of these projects (ids): what the caller
    /// may see. `None`: every workspace.
    pub visible: Option<(Vec<String>, Vec<String>)>,
}

/// Settings of a new workspace, or changes to one (`None`: default, or unchanged).
#[derive(Debug, Clone, Default)]
pub struct WorkspaceSettings {
    /// Name (required when creating).
    pub name: Option<String>,
    /// Project id (default: the organization's Default Project).
    pub project_id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Terraform version.
    pub terraform_version: Option<TerraformVersion>,
    /// Working directory.
    pub working_directory: Option<String>,
    /// Auto-apply.
    pub auto_apply: Option<bool>,
    /// Execution mode. Leaving `agent` clears the agent pool.
    pub execution_mode: Option<ExecutionMode>,
    /// Agent pool id (`apool-…`, of the same organization); only with `agent` execution mode,
    /// which needs one.
    pub agent_pool_id: Option<String>,
    /// Plan timeout, seconds.
    pub plan_timeout_s: Option<i64>,
    /// Apply timeout, seconds.
    pub apply_timeout_s: Option<i64>,
}

/// Who owns a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableOwner {
    /// A workspace (id).
    Workspace(String),
    /// A variable set (id).
    VariableSet(String),
}

/// A variable as the API shows it: no value when sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// `var-…`.
    pub id: String,
    /// Owner.
    pub owner: VariableOwner,
    /// Name.
    pub key: String,
    /// Value, `None` when sensitive.
    pub value: Option<String>,
    /// Free text.
    pub description: String,
    /// `env` or `terraform`.
    pub category: Category,
    /// Value is HCL.
    pub hcl: bool,
    /// Write-only.
    pub sensitive: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A variable to create, or changes to one.
#[derive(Debug, Clone, Default)]
pub struct VariableInput {
    /// Name.
    pub key: Option<String>,
    /// Value.
    pub value: Option<SecretString>,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: Option<Category>,
    /// HCL.
    pub hcl: Option<bool>,
    /// Sensitive (cannot be turned off once on).
    pub sensitive: Option<bool>,
}

/// A variable with its value, for the job that runs Terraform.
#[derive(Debug, Clone)]
pub struct JobVariable {
    /// Name.
    pub key: String,
    /// Value (plaintext of sensitive ones too).
    pub value: SecretString,
    /// Category.
    pub category: Category,
    /// HCL.
    pub hcl: bool,
    /// Sensitive.
    pub sensitive: bool,
}

/// A variable set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSet {
    /// `varset-…`.
    pub id: String,
    /// Organization id.
    pub organization_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Applies to every workspace of the organization.
    pub global: bool,
    /// Workspaces it applies to (when not global).
    pub workspace_ids: Vec<String>,
    /// Projects it applies to: every workspace in them (when not global).
    pub project_ids: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Workspaces and projects (ids) a variable set is to apply to, or to be removed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetReach {
    /// Workspaces.
    pub workspaces: Vec<String>,
    /// Projects: every workspace in them.
    pub projects: Vec<String>,
}

impl SetReach {
    /// `ids` of one scope.
    pub fn of(scope: SetScope, ids: Vec<String>) -> Self {
        match scope {
            SetScope::Workspaces => Self { workspaces: ids, ..Self::default() },
            SetScope::Projects => Self { projects: ids, ..Self::default() },
        }
    }

    /// Each scope with its ids.
    pub(crate) fn scopes(&self) -> [(SetScope, &[String]); 2] {
        [(SetScope::Workspaces, &self.workspaces), (SetScope::Projects, &self.projects)]
    }
}

/// Changes to a variable set (`None`: unchanged), made in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableSetChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// Whether it applies to every workspace.
    pub global: Option<bool>,
    /// Where it is to apply as well.
    pub apply: SetReach,
    /// Where it is to apply no more.
    pub remove: SetReach,
}

/// A configuration version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationVersion {
    /// `cv-…`.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// `pending` (waiting for upload), `uploaded`, `errored`.
    pub status: String,
    /// Why it errored.
    pub error_message: Option<String>,
    /// Plan-only runs.
    pub speculative: bool,
    /// Start a run when uploaded.
    pub auto_queue_runs: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// When its configuration was uploaded.
    pub uploaded_at: Option<i64>,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `run-…`.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Configuration version id.
    pub configuration_version_id: String,
    /// Status.
    pub status: RunStatus,
    /// Message given when created.
    pub message: String,
    /// Destroy plan.
    pub is_destroy: bool,
    /// Apply without confirmation.
    pub auto_apply: bool,
    /// Plan only (speculative).
    pub plan_only: bool,
    /// Whether the plan has changes (after planning).
    pub has_changes: Option<bool>,
    /// Why it errored or was canceled.
    pub error_message: Option<String>,
    /// The plan's status.
    pub plan_status: PhaseStatus,
    /// The apply's status.
    pub apply_status: PhaseStatus,
    /// The exact Terraform version it runs with, fixed when a runner claims its first phase.
    pub terraform_version: Option<String>,
    /// Token id that created it.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `<status>-at` → unix seconds.
    pub status_timestamps: BTreeMap<String, i64>,
    /// How it plans.
    pub options: RunOptions,
    /// What the plan would do, once its JSON has been read (TFE's `resource-additions`…).
    pub resource_counts: Option<ResourceCounts>,
}

/// The resources a plan adds, changes, destroys and imports (a replacement counts as one
/// addition and one destruction, as Terraform prints it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceCounts {
    /// To create.
    pub additions: u64,
    /// To update in place.
    pub changes: u64,
    /// To destroy.
    pub destructions: u64,
    /// To import.
    pub imports: u64,
}

impl ResourceCounts {
    /// Count the `resource_changes` of a JSON plan (`terraform show -json`): `None` when it is
    /// not one.
    pub fn of_plan_json(plan: &[u8]) -> Option<ResourceCounts> {
        let doc: serde_json::Value = serde_json::from_slice(plan).ok()?;
        doc.as_object()?;
        let changes =
            doc.get("resource_changes").map_or(Some(&[][..]), |c| c.as_array().map(Vec::as_slice))?;
        let mut counts = ResourceCounts::default();
        for change in changes {
            let change = change.get("change")?;
            let actions: Vec<&str> =
                change.get("actions")?.as_array()?.iter().filter_map(serde_json::Value::as_str).collect();
            for action in &actions {
                match *action {
                    "create" => counts.additions += 1,
                    "update" => counts.changes += 1,
                    "delete" => counts.destructions += 1,
                    _ => {}
                }
            }
            if change.get("importing").is_some_and(|i| !i.is_null()) {
                counts.imports += 1;
            }
        }
        Some(counts)
    }
}

impl Run {
    /// The run's own `<status>-at` timestamps (without its phases').
    pub fn run_timestamps(&self) -> impl Iterator<Item = (&str, i64)> {
        self.status_timestamps.iter().filter(|(k, _)| !k.contains(':')).map(|(k, v)| (k.as_str(), *v))
    }

    /// A phase's own timestamps, by TFE's names (`queued-at`, `started-at`, `finished-at`,
    /// `errored-at`, `canceled-at`, `unreachable-at`), kept as `<phase>:<name>` beside the run's.
    pub fn phase_timestamps(&self, phase: RunPhase) -> impl Iterator<Item = (&str, i64)> {
        let prefix = format!("{}:", phase.as_str());
        self.status_timestamps
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix.as_str()).map(|name| (name, *v)))
    }

    /// The plan resource's id (`plan-…` with the run's suffix).
    pub fn plan_id(&self) -> String {
        format!("plan-{}", self.id.trim_start_matches("run-"))
    }

    /// The apply resource's id.
    pub fn apply_id(&self) -> String {
        format!("apply-{}", self.id.trim_start_matches("run-"))
    }
}

/// Settings of a new run.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// Configuration version (default: the workspace's latest uploaded).
    pub configuration_version_id: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// Destroy.
    pub is_destroy: bool,
    /// Auto-apply (default: the workspace's setting).
    pub auto_apply: Option<bool>,
    /// Plan only.
    pub plan_only: bool,
    /// Terraform variables for this run only (TFE's run `variables`, from `-var`): HCL values
    /// that take precedence over the workspace's terraform variables of the same key.
    pub variables: Vec<RunVariable>,
    /// How to plan.
    pub options: RunOptions,
}

/// A Terraform variable given for one run: its value is an HCL expression, e.g. `"x"` or `3`.
#[derive(Debug, Clone)]
pub struct RunVariable {
    /// Name.
    pub key: String,
    /// HCL value (may be a secret: sealed at rest, never shown).
    pub value: SecretString,
}

/// How a run plans (TFE's run attributes), passed to `terraform plan` as its flags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RunOptions {
    /// `-target` addresses.
    pub target_addrs: Vec<String>,
    /// `-replace` addresses.
    pub replace_addrs: Vec<String>,
    /// `false`: `-refresh=false`.
    pub refresh: bool,
    /// `-refresh-only`.
    pub refresh_only: bool,
    /// TFE's `save-plan`: stop at `planned_and_saved`, whatever auto-apply says.
    pub save_plan: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            target_addrs: Vec::new(),
            replace_addrs: Vec::new(),
            refresh: true,
            refresh_only: false,
            save_plan: false,
        }
    }
}

/// A job: one phase of one run, for one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `job-…`.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// Organization id.
    pub organization_id: String,
    /// Phase.
    pub phase: RunPhase,
    /// Status.
    pub status: JobStatus,
    /// The agent that claimed it.
    pub agent: Option<String>,
    /// Cancel asked for.
    pub cancel_requested: bool,
    /// Lease end, unix seconds.
    pub lease_expires_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A job with what a token minted for it names: its run, workspace, project and organization
/// (one query, for the mint endpoint's hot path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobScope {
    /// The job.
    pub job: Job,
    /// Organization name.
    pub organization: String,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Workspace name.
    pub workspace: String,
    /// The phase's timeout, seconds (the workspace's plan or apply timeout).
    pub timeout_s: i64,
}

/// A state version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateVersion {
    /// `sv-…`.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Run that wrote it.
    pub run_id: Option<String>,
    /// Terraform's serial.
    pub serial: i64,
    /// Terraform's lineage.
    pub lineage: String,
    /// MD5 of the state bytes (hex), as TFE reports it.
    pub md5: String,
    /// Size in bytes.
    pub size: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// The Terraform version that wrote it (`terraform_version` in the state).
    pub terraform_version: Option<String>,
}

/// A bearer token's record (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// `at-…`.
    pub id: String,
    /// What it may do.
    pub kind: TokenKind,
    /// Organization it is limited to.
    pub organization_id: Option<String>,
    /// Job it is limited to.
    pub job_id: Option<String>,
    /// Agent pool it is bound to (agent tokens of a pool).
    pub agent_pool_id: Option<String>,
    /// The user whose token it is (user tokens).
    pub user_id: Option<String>,
    /// The team whose token it is (team tokens).
    pub team_id: Option<String>,
    /// Who made it, as `<type>:<id>` (`users:user-…`, `teams:team-…`, `organizations:acme`).
    pub created_by: Option<String>,
    /// Free text.
    pub description: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it was last used, unix seconds (recorded for agent tokens, at most every 15 s).
    pub last_used_at: Option<i64>,
}

/// An agent pool (TFE's): the agents that run the workspaces in `agent` execution mode that
/// name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPool {
    /// `apool-…`.
    pub id: String,
    /// Organization id.
    pub organization_id: String,
    /// Organization name.
    pub organization: String,
    /// Name, unique in the organization.
    pub name: String,
    /// Workspaces that use it.
    pub workspace_ids: Vec<String>,
    /// Agents of the pool that asked for work in the last [`AGENT_SEEN_WINDOW_S`] seconds.
    pub agent_count: u64,
    /// Unix seconds.
    pub created_at: i64,
}

/// How recently a runner must have asked for work to count as present (for
/// [`AgentPool::agent_count`] and for the reason a queued run gives for waiting). Agents
/// long-poll for 20 s and their presence is written at most every 15 s.
pub const AGENT_SEEN_WINDOW_S: i64 = 60;

/// Which jobs an agent token may claim. Decided from the token alone, here, and applied by
/// the claim query: the one place that says who runs what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimScope {
    /// `tern serve`'s own workers (the agent token with no organization it makes at start):
    /// jobs of `remote` workspaces of every organization, never of `agent` ones.
    ServerWorkers,
    /// An organization-wide agent token (made before agent pools, or with
    /// `POST /organizations/:org/agent-tokens`): jobs of its organization's `remote`
    /// workspaces, as such a token always did. It never runs an `agent` workspace.
    Organization(String),
    /// A token of an agent pool: jobs of the `agent` workspaces whose pool is this one.
    Pool {
        /// The pool's organization.
        organization_id: String,
        /// The pool.
        pool_id: String,
    },
}

impl ClaimScope {
    /// The scope of an agent token; `None` for any other kind of token.
    pub fn of(token: &Token) -> Option<Self> {
        if token.kind != TokenKind::Agent {
            return None;
        }
        Some(match (&token.agent_pool_id, &token.organization_id) {
            // The pool decides, whatever else the token names.
            (Some(pool), org) => {
                Self::Pool { organization_id: org.clone().unwrap_or_default(), pool_id: pool.clone() }
            }
            (None, Some(org)) => Self::Organization(org.clone()),
            (None, None) => Self::ServerWorkers,
        })
    }

    /// The organization it is limited to, if any.
    pub fn organization_id(&self) -> Option<&str> {
        match self {
            Self::ServerWorkers => None,
            Self::Organization(org) | Self::Pool { organization_id: org, .. } => Some(org),
        }
    }
}

/// A runner asking for work: its token's scope and the Terraform versions it has.
#[derive(Debug, Clone)]
pub struct Claimant<'a> {
    /// The agent's name (one token may serve several agents).
    pub agent: &'a str,
    /// The token it authenticated with.
    pub token: &'a Token,
    /// What that token may claim.
    pub scope: ClaimScope,
    /// The exact Terraform versions it can run. With none it claims nothing.
    pub terraform_versions: &'a [tern_types::Version],
}

#[cfg(test)]
mod counts_tests {
    #![allow(clippy::unwrap_used)]

    use super::ResourceCounts;

    #[test]
    fn a_json_plan_is_counted_as_terraform_prints_it() {
        let plan = br#"{"resource_changes":[
            {"change":{"actions":["create"]}},
            {"change":{"actions":["delete","create"]}},
            {"change":{"actions":["create","delete"]}},
            {"change":{"actions":["update"]}},
            {"change":{"actions":["no-op"],"importing":{"id":"i-1"}}},
            {"change":{"actions":["read"]}},
            {"change":{"actions":["no-op"],"importing":null}}]}"#;
        assert_eq!(
            ResourceCounts::of_plan_json(plan).unwrap(),
            ResourceCounts { additions: 3, changes: 1, destructions: 2, imports: 1 }
        );
        assert_eq!(ResourceCounts::of_plan_json(b"{}").unwrap(), ResourceCounts::default(), "no changes");
    }

    #[test]
    fn what_is_not_a_json_plan_has_no_counts() {
        for bad in
            [&b"not json"[..], b"[]", br#"{"resource_changes":7}"#, br#"{"resource_changes":[{"x":1}]}"#]
        {
            assert_eq!(ResourceCounts::of_plan_json(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
