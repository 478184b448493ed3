//! The permissions a team can hold, with HCP Terraform's names, and what each level implies.

use serde::{Deserialize, Serialize};

/// A value that is not one of a permission's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be one of {allowed}, not {given:?}")]
pub struct LevelError {
    /// The attribute.
    pub field: &'static str,
    /// The accepted names, quoted and separated by commas.
    pub allowed: &'static str,
    /// What was given.
    pub given: String,
}

macro_rules! named {
    ($(#[$m:meta])* $name:ident ($field:literal) { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Its name in the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// From its name in the API.
            pub fn parse(s: &str) -> Result<Self, LevelError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(LevelError {
                        field: $field,
                        allowed: concat!($("\"", $text, "\" "),+),
                        given: s.to_owned(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named!(
    /// What a team may do with a workspace's runs. Ordered: each includes the ones before.
    RunsPermission("runs") { Read = "read", Plan = "plan", Apply = "apply" }
);
named!(
    /// What a team may do with a workspace's variables.
    VariablesPermission("variables") { None = "none", Read = "read", Write = "write" }
);
named!(
    /// What a team may do with a workspace's state versions.
    StatePermission("state-versions") { None = "none", ReadOutputs = "read-outputs", Read = "read", Write = "write" }
);
named!(
    /// A team's access to a workspace.
    AccessLevel("access") { Read = "read", Plan = "plan", Write = "write", Admin = "admin", Custom = "custom" }
);
named!(
    /// A team's access to a project (and through it, to the project's workspaces).
    ProjectAccessLevel("access") { Read = "read", Write = "write", Maintain = "maintain", Admin = "admin", Custom = "custom" }
);
named!(
    /// A custom project access: what the team may do to the project itself.
    ProjectSettingsPermission("project-access.settings") { Read = "read", Update = "update", Delete = "delete" }
);
named!(
    /// A custom project access: what the team may do to the variable sets of the project (kept
    /// and shown; tern's variable sets are managed with manage-workspaces).
    VariableSetsPermission("project-access.variable-sets") { None = "none", Read = "read", Write = "write" }
);
named!(
    /// A custom project access: what the team may do to other teams' access to the project.
    ProjectTeamsPermission("project-access.teams") { None = "none", Read = "read", Manage = "manage" }
);

/// The permissions of TFE's `custom` workspace access (and what each fixed level implies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WorkspacePermissions {
    /// Runs: read, plan (queue plans), apply (and discard).
    pub runs: RunsPermission,
    /// Variables: none, read, write.
    pub variables: VariablesPermission,
    /// State versions: none, read-outputs, read, write.
    pub state_versions: StatePermission,
    /// May lock and unlock the workspace.
    pub workspace_locking: bool,
}

impl Default for WorkspacePermissions {
    /// The least a grant gives: reading runs.
    fn default() -> Self {
        Self {
            runs: RunsPermission::Read,
            variables: VariablesPermission::None,
            state_versions: StatePermission::None,
            workspace_locking: false,
        }
    }
}

/// A team's access to one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceGrant {
    /// The level.
    pub access: AccessLevel,
    /// With `custom`: the permissions; otherwise ignored (the level implies them).
    #[serde(default)]
    pub custom: WorkspacePermissions,
}

impl WorkspaceGrant {
    /// A fixed level.
    pub fn level(access: AccessLevel) -> Self {
        Self { access, custom: WorkspacePermissions::default() }
    }

    /// The permissions this grant gives, with HCP Terraform's meaning of each level:
    /// `read` reads runs, variables and state; `plan` also queues plans; `write` also applies,
    /// writes variables and state, and locks; `admin` also changes settings, deletes the
    /// workspace and manages other teams' access to it.
    pub fn effective(&self) -> Effective {
        use RunsPermission as R;
        use StatePermission as S;
        use VariablesPermission as V;
        let fixed = |runs, variables, state_versions, workspace_locking| WorkspacePermissions {
            runs,
            variables,
            state_versions,
            workspace_locking,
        };
        let (p, admin) = match self.access {
            AccessLevel::Read => (fixed(R::Read, V::Read, S::Read, false), false),
            AccessLevel::Plan => (fixed(R::Plan, V::Read, S::Read, false), false),
            AccessLevel::Write => (fixed(R::Apply, V::Write, S::Write, true), false),
            AccessLevel::Admin => (fixed(R::Apply, V::Write, S::Write, true), true),
            AccessLevel::Custom => (self.custom, false),
        };
        Effective { permissions: p, admin, delete: admin }
    }

    /// The attributes shown for this grant: the level's implied permissions (as TFE shows them).
    pub fn shown(&self) -> WorkspacePermissions {
        self.effective().permissions
    }
}

/// A custom project access: the project itself, and its workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectCustom {
    /// The project's settings: read, update, delete.
    pub settings: ProjectSettingsPermission,
    /// Other teams' access to the project.
    pub teams: ProjectTeamsPermission,
    /// The project's variable sets (kept and shown, not enforced).
    #[serde(default = "no_variable_sets")]
    pub variable_sets: VariableSetsPermission,
    /// On every workspace of the project.
    pub workspace: WorkspacePermissions,
    /// May create workspaces in the project.
    pub create_workspaces: bool,
    /// May delete the project's workspaces.
    pub delete_workspaces: bool,
}

fn no_variable_sets() -> VariableSetsPermission {
    VariableSetsPermission::None
}

impl Default for ProjectCustom {
    fn default() -> Self {
        Self {
            settings: ProjectSettingsPermission::Read,
            teams: ProjectTeamsPermission::None,
            variable_sets: VariableSetsPermission::None,
            workspace: WorkspacePermissions::default(),
            create_workspaces: false,
            delete_workspaces: false,
        }
    }
}

/// A team's access to one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectGrant {
    /// The level.
    pub access: ProjectAccessLevel,
    /// With `custom`: the permissions; otherwise ignored.
    #[serde(default)]
    pub custom: ProjectCustom,
}

impl ProjectGrant {
    /// A fixed level.
    pub fn level(access: ProjectAccessLevel) -> Self {
        Self { access, custom: ProjectCustom::default() }
    }

    /// What the grant gives, with HCP Terraform's meaning of each level: `read` reads the
    /// project and its workspaces; `write` writes its workspaces; `maintain` administers them
    /// and creates new ones; `admin` also renames and deletes the project and manages teams'
    /// access to it.
    pub fn custom_equivalent(&self) -> ProjectCustom {
        use ProjectSettingsPermission as P;
        use ProjectTeamsPermission as T;
        let ws = |access| WorkspaceGrant::level(access).effective().permissions;
        let level = |settings, teams, workspace, create, delete| ProjectCustom {
            settings,
            teams,
            variable_sets: if self.access == ProjectAccessLevel::Admin {
                VariableSetsPermission::Write
            } else {
                VariableSetsPermission::None
            },
            workspace,
            create_workspaces: create,
            delete_workspaces: delete,
        };
        match self.access {
            ProjectAccessLevel::Read => level(P::Read, T::None, ws(AccessLevel::Read), false, false),
            ProjectAccessLevel::Write => level(P::Read, T::None, ws(AccessLevel::Write), false, false),
            ProjectAccessLevel::Maintain => level(P::Read, T::None, ws(AccessLevel::Admin), true, true),
            ProjectAccessLevel::Admin => level(P::Delete, T::Manage, ws(AccessLevel::Admin), true, true),
            ProjectAccessLevel::Custom => self.custom,
        }
    }

    /// What the grant gives on each workspace of the project.
    pub fn on_workspaces(&self) -> Effective {
        let c = self.custom_equivalent();
        let admin = matches!(self.access, ProjectAccessLevel::Maintain | ProjectAccessLevel::Admin);
        Effective { permissions: c.workspace, admin, delete: admin || c.delete_workspaces }
    }
}

/// An organization's permissions a team holds (TFE's `organization-access`). tern acts on
/// those marked; the others are kept and shown so that TFE clients round-trip them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct OrgPermissions {
    /// Not used by tern (no policies).
    pub manage_policies: bool,
    /// Not used by tern.
    pub manage_policy_overrides: bool,
    /// Not used by tern.
    pub delegate_policy_overrides: bool,
    /// tern: create workspaces, administer every workspace, and manage variable sets.
    pub manage_workspaces: bool,
    /// Not used by tern (no VCS settings yet).
    pub manage_vcs_settings: bool,
    /// Not used by tern (no private registry).
    pub manage_providers: bool,
    /// Not used by tern (no private registry).
    pub manage_modules: bool,
    /// Not used by tern.
    pub manage_run_tasks: bool,
    /// tern: create, rename and delete projects, and administer every project and workspace.
    pub manage_projects: bool,
    /// tern: read every workspace (runs, variables, state), variable set and run queue.
    pub read_workspaces: bool,
    /// tern: see every project.
    pub read_projects: bool,
    /// tern: add users to teams and remove them.
    pub manage_membership: bool,
    /// tern: create, rename and delete teams, and manage their tokens.
    pub manage_teams: bool,
    /// tern: change teams' organization permissions.
    pub manage_organization_access: bool,
    /// Not used by tern (every team is visible to the organization's members).
    pub access_secret_teams: bool,
    /// tern: create and delete agent pools and their tokens.
    pub manage_agent_pools: bool,
}

impl OrgPermissions {
    /// Everything (the owners team).
    pub fn all() -> Self {
        Self {
            manage_policies: true,
            manage_policy_overrides: true,
            delegate_policy_overrides: true,
            manage_workspaces: true,
            manage_vcs_settings: true,
            manage_providers: true,
            manage_modules: true,
            manage_run_tasks: true,
            manage_projects: true,
            read_workspaces: true,
            read_projects: true,
            manage_membership: true,
            manage_teams: true,
            manage_organization_access: true,
            access_secret_teams: true,
            manage_agent_pools: true,
        }
    }

    /// Each permission held by either.
    pub fn union(self, o: Self) -> Self {
        Self {
            manage_policies: self.manage_policies || o.manage_policies,
            manage_policy_overrides: self.manage_policy_overrides || o.manage_policy_overrides,
            delegate_policy_overrides: self.delegate_policy_overrides || o.delegate_policy_overrides,
            manage_workspaces: self.manage_workspaces || o.manage_workspaces,
            manage_vcs_settings: self.manage_vcs_settings || o.manage_vcs_settings,
            manage_providers: self.manage_providers || o.manage_providers,
            manage_modules: self.manage_modules || o.manage_modules,
            manage_run_tasks: self.manage_run_tasks || o.manage_run_tasks,
            manage_projects: self.manage_projects || o.manage_projects,
            read_workspaces: self.read_workspaces || o.read_workspaces,
            read_projects: self.read_projects || o.read_projects,
            manage_membership: self.manage_membership || o.manage_membership,
            manage_teams: self.manage_teams || o.manage_teams,
            manage_organization_access: self.manage_organization_access || o.manage_organization_access,
            access_secret_teams: self.access_secret_teams || o.access_secret_teams,
            manage_agent_pools: self.manage_agent_pools || o.manage_agent_pools,
        }
    }
}

/// What a caller may do to one workspace: the union of the grants that reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// Runs, variables, state, locking.
    pub permissions: WorkspacePermissions,
    /// Settings, force-unlock, other teams' access.
    pub admin: bool,
    /// May delete the workspace.
    pub delete: bool,
}

impl Effective {
    /// Everything.
    pub fn all() -> Self {
        WorkspaceGrant::level(AccessLevel::Admin).effective()
    }

    /// Each permission of either, at the higher level.
    pub fn union(self, o: Self) -> Self {
        let (a, b) = (self.permissions, o.permissions);
        Self {
            permissions: WorkspacePermissions {
                runs: a.runs.max(b.runs),
                variables: a.variables.max(b.variables),
                state_versions: a.state_versions.max(b.state_versions),
                workspace_locking: a.workspace_locking || b.workspace_locking,
            },
            admin: self.admin || o.admin,
            delete: self.delete || o.delete,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn each_level_includes_the_one_below() {
        let levels = [AccessLevel::Read, AccessLevel::Plan, AccessLevel::Write, AccessLevel::Admin];
        for pair in levels.windows(2) {
            let (low, high) =
                (WorkspaceGrant::level(pair[0]).effective(), WorkspaceGrant::level(pair[1]).effective());
            assert_eq!(low.union(high), high, "{:?} ⊆ {:?}", pair[0], pair[1]);
        }
        let plan = WorkspaceGrant::level(AccessLevel::Plan).effective();
        assert_eq!(plan.permissions.runs, RunsPermission::Plan, "plan: queue plans, never apply");
        assert!(!plan.permissions.workspace_locking && !plan.admin);
        let write = WorkspaceGrant::level(AccessLevel::Write).effective();
        assert_eq!(write.permissions.runs, RunsPermission::Apply);
        assert!(!write.admin && !write.delete, "write: no settings, no delete");
    }

    #[test]
    fn a_custom_grant_is_exactly_its_permissions() {
        let custom = WorkspacePermissions {
            runs: RunsPermission::Plan,
            variables: VariablesPermission::None,
            state_versions: StatePermission::ReadOutputs,
            workspace_locking: true,
        };
        let g = WorkspaceGrant { access: AccessLevel::Custom, custom };
        assert_eq!(g.effective(), Effective { permissions: custom, admin: false, delete: false });
        // A fixed level ignores stray custom values.
        let g = WorkspaceGrant { access: AccessLevel::Read, custom };
        assert_eq!(g.effective().permissions.variables, VariablesPermission::Read);
    }

    #[test]
    fn project_levels_reach_their_workspaces() {
        let on = |l| ProjectGrant::level(l).on_workspaces();
        assert_eq!(on(ProjectAccessLevel::Read).permissions.runs, RunsPermission::Read);
        assert_eq!(on(ProjectAccessLevel::Write).permissions.runs, RunsPermission::Apply);
        assert!(!on(ProjectAccessLevel::Write).admin);
        assert!(on(ProjectAccessLevel::Maintain).admin && on(ProjectAccessLevel::Maintain).delete);
        let admin = ProjectGrant::level(ProjectAccessLevel::Admin).custom_equivalent();
        assert_eq!(
            (admin.settings, admin.teams),
            (ProjectSettingsPermission::Delete, ProjectTeamsPermission::Manage)
        );
        let maintain = ProjectGrant::level(ProjectAccessLevel::Maintain).custom_equivalent();
        assert!(maintain.create_workspaces);
        assert_eq!(maintain.settings, ProjectSettingsPermission::Read, "maintain cannot rename the project");
    }

    #[test]
    fn names_parse_and_print_as_tfe_writes_them() {
        assert_eq!(StatePermission::parse("read-outputs").unwrap(), StatePermission::ReadOutputs);
        let e = AccessLevel::parse("owner").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"access must be one of "read" "plan" "write" "admin" "custom" , not "owner""#
        );
        let json =
            serde_json::to_value(OrgPermissions { manage_workspaces: true, ..Default::default() }).unwrap();
        assert_eq!(json["manage-workspaces"], true);
        assert_eq!(json["read-projects"], false);
        let back: OrgPermissions = serde_json::from_value(serde_json::json!({"manage-teams": true})).unwrap();
        assert!(back.manage_teams && !back.manage_workspaces, "missing keys are false");
        let g: WorkspaceGrant = serde_json::from_str(r#"{"access":"custom","custom":{"runs":"plan","variables":"read","state-versions":"none","workspace-locking":false}}"#).unwrap();
        assert_eq!(g.effective().permissions.runs, RunsPermission::Plan);
    }
}
