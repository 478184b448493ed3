//! The decision: a caller's [`Standing`] in an organization, an action, a resource.

use crate::levels::{
    AccessLevel, Effective, OrgPermissions, ProjectGrant, ProjectSettingsPermission, ProjectTeamsPermission,
    RunsPermission, StatePermission, VariablesPermission, WorkspaceGrant,
};

/// Why a caller may not act. [`Denied::Hidden`] is answered as "not found": the caller may not
/// know the resource exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The caller cannot see the resource at all.
    #[error("not found")]
    Hidden,
    /// The caller sees it but lacks a permission: which one, and what the caller has.
    #[error("{0}")]
    Missing(String),
}

/// Allowed, or why not.
pub type Decision = Result<(), Denied>;

/// The grants a caller holds in one organization through its teams: a user's teams there, or
/// the one team whose token it presents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamGrants {
    /// The teams' names (for messages), sorted.
    pub teams: Vec<String>,
    /// One of them is the organization's `owners` team: everything in the organization.
    pub owners: bool,
    /// The union of the teams' organization permissions.
    pub org: OrgPermissions,
    /// Each team's access to a workspace, by workspace id (a workspace may appear once per team).
    pub workspaces: Vec<(String, WorkspaceGrant)>,
    /// Each team's access to a project, by project id.
    pub projects: Vec<(String, ProjectGrant)>,
}

/// How a caller stands in one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The installation's administrator (the admin token, a site-admin user): everything.
    SiteAdmin,
    /// The organization's own token: everything in it but managing its organization tokens.
    OrganizationToken,
    /// A member of some of its teams.
    Member(TeamGrants),
    /// Not in the organization: everything in it is hidden.
    Outsider,
}

/// What a caller does at the level of an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgAction {
    /// See the organization, its entitlements, capacity, teams, projects and agent pools (lists
    /// are filtered to what the caller may see).
    See,
    /// Read across every workspace: the organization's runs and queue, its variable sets.
    ReadAllWorkspaces,
    /// Create and change variable sets, apply them anywhere.
    ManageVariableSets,
    /// Create projects.
    ManageProjects,
    /// Create, change and delete agent pools and their tokens.
    ManageAgentPools,
    /// Create, rename and delete teams; manage their tokens and access.
    ManageTeams,
    /// Add users to teams and remove them.
    ManageMembership,
    /// Change teams' organization permissions.
    ManageOrganizationAccess,
    /// Create, list and revoke organization tokens.
    ManageOrganizationTokens,
    /// Read the organization's audit trail.
    ReadAuditTrail,
    /// List and read the organization's API tokens (never their secrets).
    ReadTokens,
    /// Change the owners team: its members, tokens, group mapping. Owners and administrators
    /// only — not `manage-teams`/`manage-membership`, not the organization token — or either
    /// could make itself an owner.
    ManageOwners,
}

/// What a caller does to one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectAction {
    /// See it.
    See,
    /// Create a workspace in it.
    CreateWorkspace,
    /// Rename it, change its description.
    Update,
    /// Delete it.
    Delete,
    /// Grant teams access to it.
    ManageAccess,
}

/// What a caller does to one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceAction {
    /// See it, its tags, its runs and their logs.
    Read,
    /// Queue a plan: create a run that waits for confirmation, upload a configuration, cancel a
    /// run that is still planning.
    QueuePlan,
    /// Confirm (apply), discard, create a run that applies without confirmation, cancel a run
    /// past its plan.
    Apply,
    /// Read its variables (never sensitive values) and the variable sets that apply.
    ReadVariables,
    /// Create, change and delete its variables.
    WriteVariables,
    /// Read the outputs of its state (sensitive ones redacted as always).
    ReadStateOutputs,
    /// Read its state versions and the full state, and the unredacted JSON plan.
    ReadState,
    /// Create state versions.
    WriteState,
    /// Lock and unlock it.
    Lock,
    /// Unlock it whoever locked it.
    ForceUnlock,
    /// Change its settings and tags.
    UpdateSettings,
    /// Delete it.
    Delete,
    /// Grant teams access to it.
    ManageAccess,
}

/// The workspace a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceRef<'a> {
    /// `ws-…`.
    pub id: &'a str,
    /// For messages.
    pub name: &'a str,
    /// Its project's id.
    pub project_id: &'a str,
}

/// Which workspaces (or projects) a caller may see, for filtering lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// All of the organization's.
    All,
    /// Only these workspaces, and every workspace of these projects.
    Only {
        /// Workspace ids.
        workspaces: Vec<String>,
        /// Project ids.
        projects: Vec<String>,
    },
}

impl Standing {
    fn everything(&self) -> bool {
        match self {
            Self::SiteAdmin | Self::OrganizationToken => true,
            Self::Member(g) => g.owners,
            Self::Outsider => false,
        }
    }

    fn who(&self) -> String {
        match self {
            Self::Member(g) if g.teams.len() == 1 => format!("your team {:?}", g.teams[0]),
            Self::Member(g) => format!("your teams ({})", g.teams.join(", ")),
            _ => "you".into(),
        }
    }

    /// May the caller do `action` at the organization's level?
    pub fn organization(&self, action: OrgAction) -> Decision {
        let g = match self {
            Self::Outsider => return Err(Denied::Hidden),
            Self::SiteAdmin => return Ok(()),
            Self::OrganizationToken => {
                return match action {
                    OrgAction::ManageOrganizationTokens => Err(Denied::Missing(
                        "organization tokens are created and revoked by an administrator or a member of the owners team, not by an organization token".into(),
                    )),
                    OrgAction::ManageOwners => Err(Denied::Missing(
                        "the owners team is changed by an administrator or one of its members, not by an organization token".into(),
                    )),
                    _ => Ok(()),
                };
            }
            Self::Member(g) if g.owners => return Ok(()),
            Self::Member(g) => g,
        };
        let o = &g.org;
        let (held, needs) = match action {
            OrgAction::See => (true, ""),
            OrgAction::ReadAllWorkspaces => (
                o.read_workspaces || o.manage_workspaces || o.manage_projects,
                "the organization permission read-workspaces",
            ),
            OrgAction::ManageVariableSets => {
                (o.manage_workspaces || o.manage_projects, "the organization permission manage-workspaces")
            }
            OrgAction::ManageProjects => (o.manage_projects, "the organization permission manage-projects"),
            OrgAction::ManageAgentPools => {
                (o.manage_agent_pools, "the organization permission manage-agent-pools")
            }
            OrgAction::ManageTeams => (o.manage_teams, "the organization permission manage-teams"),
            OrgAction::ManageMembership => {
                (o.manage_membership || o.manage_teams, "the organization permission manage-membership")
            }
            OrgAction::ManageOrganizationAccess => {
                (o.manage_organization_access, "the organization permission manage-organization-access")
            }
            OrgAction::ManageOrganizationTokens
            | OrgAction::ReadAuditTrail
            | OrgAction::ReadTokens
            | OrgAction::ManageOwners => (false, "membership of the owners team"),
        };
        if held {
            Ok(())
        } else {
            Err(Denied::Missing(format!("this needs {needs}; {} lack it", self.who())))
        }
    }

    /// What the caller may do to a workspace, or `None` where it may not see it.
    pub fn effective(&self, ws: WorkspaceRef<'_>) -> Option<Effective> {
        let g = match self {
            Self::Outsider => return None,
            _ if self.everything() => return Some(Effective::all()),
            Self::Member(g) => g,
            Self::SiteAdmin | Self::OrganizationToken => return Some(Effective::all()),
        };
        let mut reach: Vec<Effective> = Vec::new();
        if g.org.manage_workspaces || g.org.manage_projects {
            reach.push(Effective::all());
        }
        if g.org.read_workspaces {
            reach.push(WorkspaceGrant::level(AccessLevel::Read).effective());
        }
        reach.extend(g.workspaces.iter().filter(|(id, _)| id == ws.id).map(|(_, grant)| grant.effective()));
        reach.extend(
            g.projects.iter().filter(|(id, _)| id == ws.project_id).map(|(_, grant)| grant.on_workspaces()),
        );
        reach.into_iter().reduce(Effective::union)
    }

    /// May the caller do `action` to the workspace?
    pub fn workspace(&self, ws: WorkspaceRef<'_>, action: WorkspaceAction) -> Decision {
        let e = self.effective(ws).ok_or(Denied::Hidden)?;
        let p = e.permissions;
        use WorkspaceAction as A;
        let (held, needs, has) = match action {
            A::Read => return Ok(()),
            A::QueuePlan => (p.runs >= RunsPermission::Plan, "runs: plan", format!("runs: {}", p.runs)),
            A::Apply => (p.runs >= RunsPermission::Apply, "runs: apply", format!("runs: {}", p.runs)),
            A::ReadVariables => (
                p.variables >= VariablesPermission::Read,
                "variables: read",
                format!("variables: {}", p.variables),
            ),
            A::WriteVariables => (
                p.variables >= VariablesPermission::Write,
                "variables: write",
                format!("variables: {}", p.variables),
            ),
            A::ReadStateOutputs => (
                p.state_versions >= StatePermission::ReadOutputs,
                "state-versions: read-outputs",
                format!("state-versions: {}", p.state_versions),
            ),
            A::ReadState => (
                p.state_versions >= StatePermission::Read,
                "state-versions: read",
                format!("state-versions: {}", p.state_versions),
            ),
            A::WriteState => (
                p.state_versions >= StatePermission::Write,
                "state-versions: write",
                format!("state-versions: {}", p.state_versions),
            ),
            A::Lock => (p.workspace_locking, "workspace-locking", "no workspace-locking".into()),
            A::ForceUnlock | A::UpdateSettings | A::ManageAccess => {
                (e.admin, "admin access", "less than admin access".into())
            }
            A::Delete => (e.delete, "admin access (or delete)", "no permission to delete".into()),
        };
        if held {
            Ok(())
        } else {
            Err(Denied::Missing(format!(
                "this needs {needs} on workspace {:?}; {} grant {has}",
                ws.name,
                self.who()
            )))
        }
    }

    /// May the caller do `action` to the project `project_id` (`name` for messages)?
    pub fn project(&self, project_id: &str, name: &str, action: ProjectAction) -> Decision {
        let g = match self {
            Self::Outsider => return Err(Denied::Hidden),
            _ if self.everything() => return Ok(()),
            Self::Member(g) => g,
            Self::SiteAdmin | Self::OrganizationToken => return Ok(()),
        };
        if g.org.manage_projects {
            return Ok(());
        }
        let grant = g
            .projects
            .iter()
            .filter(|(id, _)| id == project_id)
            .map(|(_, grant)| grant.custom_equivalent())
            .reduce(|a, b| crate::levels::ProjectCustom {
                settings: a.settings.max(b.settings),
                teams: a.teams.max(b.teams),
                variable_sets: a.variable_sets.max(b.variable_sets),
                workspace: a.workspace,
                create_workspaces: a.create_workspaces || b.create_workspaces,
                delete_workspaces: a.delete_workspaces || b.delete_workspaces,
            });
        let sees = grant.is_some() || g.org.read_projects || g.org.manage_workspaces || g.org.read_workspaces;
        if !sees {
            return Err(Denied::Hidden);
        }
        let (held, needs) = match action {
            ProjectAction::See => (true, ""),
            ProjectAction::CreateWorkspace => (
                g.org.manage_workspaces || grant.is_some_and(|c| c.create_workspaces),
                "the organization permission manage-workspaces, or maintain access to the project",
            ),
            ProjectAction::Update => (
                grant.is_some_and(|c| c.settings >= ProjectSettingsPermission::Update),
                "admin access to the project (or the organization permission manage-projects)",
            ),
            ProjectAction::Delete => (
                grant.is_some_and(|c| c.settings >= ProjectSettingsPermission::Delete),
                "admin access to the project (or the organization permission manage-projects)",
            ),
            ProjectAction::ManageAccess => (
                grant.is_some_and(|c| c.teams >= ProjectTeamsPermission::Manage),
                "admin access to the project (or the organization permission manage-projects)",
            ),
        };
        if held {
            Ok(())
        } else {
            Err(Denied::Missing(format!("this needs {needs} on project {name:?}; {} lack it", self.who())))
        }
    }

    /// The workspaces the caller may see, for lists.
    pub fn visible_workspaces(&self) -> Option<Visible> {
        match self {
            Self::Outsider => None,
            _ if self.everything() => Some(Visible::All),
            Self::Member(g) if g.org.manage_workspaces || g.org.manage_projects || g.org.read_workspaces => {
                Some(Visible::All)
            }
            Self::Member(g) => Some(Visible::Only {
                workspaces: g.workspaces.iter().map(|(id, _)| id.clone()).collect(),
                projects: g.projects.iter().map(|(id, _)| id.clone()).collect(),
            }),
            Self::SiteAdmin | Self::OrganizationToken => Some(Visible::All),
        }
    }

    /// The projects the caller may see, for lists (`workspaces` lists only those of the
    /// projects named, since projects are seen through project grants).
    pub fn visible_projects(&self) -> Option<Visible> {
        match self {
            Self::Outsider => None,
            _ if self.everything() => Some(Visible::All),
            Self::Member(g)
                if g.org.manage_projects
                    || g.org.read_projects
                    || g.org.manage_workspaces
                    || g.org.read_workspaces =>
            {
                Some(Visible::All)
            }
            Self::Member(g) => Some(Visible::Only {
                workspaces: Vec::new(),
                projects: g.projects.iter().map(|(id, _)| id.clone()).collect(),
            }),
            Self::SiteAdmin | Self::OrganizationToken => Some(Visible::All),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::levels::{ProjectAccessLevel, WorkspacePermissions};

    const APP: WorkspaceRef<'static> = WorkspaceRef { id: "ws-app", name: "app", project_id: "prj-a" };
    const DB: WorkspaceRef<'static> = WorkspaceRef { id: "ws-db", name: "db", project_id: "prj-b" };

    fn member(workspaces: &[(&str, AccessLevel)], projects: &[(&str, ProjectAccessLevel)]) -> Standing {
        Standing::Member(TeamGrants {
            teams: vec!["devs".into()],
            owners: false,
            org: OrgPermissions::default(),
            workspaces: workspaces.iter().map(|(id, l)| ((*id).into(), WorkspaceGrant::level(*l))).collect(),
            projects: projects.iter().map(|(id, l)| ((*id).into(), ProjectGrant::level(*l))).collect(),
        })
    }

    #[test]
    fn plan_access_plans_but_never_applies() {
        let s = member(&[("ws-app", AccessLevel::Plan)], &[]);
        assert_eq!(s.workspace(APP, WorkspaceAction::QueuePlan), Ok(()));
        let e = s.workspace(APP, WorkspaceAction::Apply).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this needs runs: apply on workspace \"app\"; your team \"devs\" grant runs: plan"
        );
        assert!(matches!(s.workspace(APP, WorkspaceAction::WriteVariables), Err(Denied::Missing(_))));
        assert_eq!(s.workspace(APP, WorkspaceAction::ReadVariables), Ok(()));
        // Another workspace does not exist for this caller.
        assert_eq!(s.workspace(DB, WorkspaceAction::Read), Err(Denied::Hidden));
    }

    #[test]
    fn the_highest_grant_wins_whichever_way_it_comes() {
        // Read directly, write through the project.
        let s = member(&[("ws-app", AccessLevel::Read)], &[("prj-a", ProjectAccessLevel::Write)]);
        assert_eq!(s.workspace(APP, WorkspaceAction::Apply), Ok(()));
        assert!(s.workspace(APP, WorkspaceAction::UpdateSettings).is_err(), "write is not admin");
        // Two teams: one plans, one locks (custom).
        let custom = WorkspaceGrant {
            access: AccessLevel::Custom,
            custom: WorkspacePermissions { workspace_locking: true, ..WorkspacePermissions::default() },
        };
        let s = Standing::Member(TeamGrants {
            teams: vec!["a".into(), "b".into()],
            workspaces: vec![
                ("ws-app".into(), WorkspaceGrant::level(AccessLevel::Plan)),
                ("ws-app".into(), custom),
            ],
            ..TeamGrants::default()
        });
        assert_eq!(s.workspace(APP, WorkspaceAction::Lock), Ok(()));
        assert_eq!(s.workspace(APP, WorkspaceAction::QueuePlan), Ok(()));
        assert!(
            s.workspace(APP, WorkspaceAction::Apply).unwrap_err().to_string().contains("your teams (a, b)")
        );
    }

    #[test]
    fn organization_permissions_reach_every_workspace() {
        let with = |org: OrgPermissions| {
            Standing::Member(TeamGrants { teams: vec!["t".into()], org, ..TeamGrants::default() })
        };
        let readers = with(OrgPermissions { read_workspaces: true, ..OrgPermissions::default() });
        assert_eq!(readers.workspace(DB, WorkspaceAction::ReadState), Ok(()));
        assert!(readers.workspace(DB, WorkspaceAction::QueuePlan).is_err());
        assert_eq!(readers.visible_workspaces(), Some(Visible::All));
        let managers = with(OrgPermissions { manage_workspaces: true, ..OrgPermissions::default() });
        assert_eq!(managers.workspace(DB, WorkspaceAction::Delete), Ok(()));
        assert_eq!(managers.organization(OrgAction::ManageVariableSets), Ok(()));
        assert!(managers.organization(OrgAction::ManageTeams).is_err());
        assert_eq!(managers.project("prj-b", "b", ProjectAction::CreateWorkspace), Ok(()));
        assert!(managers.project("prj-b", "b", ProjectAction::Delete).is_err());
        let nobody = with(OrgPermissions::default());
        assert_eq!(nobody.organization(OrgAction::See), Ok(()), "a member sees the organization");
        assert_eq!(nobody.workspace(APP, WorkspaceAction::Read), Err(Denied::Hidden));
        assert_eq!(nobody.visible_workspaces(), Some(Visible::Only { workspaces: vec![], projects: vec![] }));
        assert_eq!(nobody.project("prj-a", "a", ProjectAction::See), Err(Denied::Hidden));
    }

    #[test]
    fn owners_admins_and_organization_tokens() {
        let owners = Standing::Member(TeamGrants {
            teams: vec!["owners".into()],
            owners: true,
            ..TeamGrants::default()
        });
        for s in [&owners, &Standing::SiteAdmin, &Standing::OrganizationToken] {
            assert_eq!(s.workspace(APP, WorkspaceAction::Delete), Ok(()));
            assert_eq!(s.organization(OrgAction::ManageTeams), Ok(()));
            assert_eq!(s.project("prj-a", "a", ProjectAction::Delete), Ok(()));
        }
        assert_eq!(owners.organization(OrgAction::ManageOrganizationTokens), Ok(()));
        for a in [OrgAction::ManageOrganizationTokens, OrgAction::ManageOwners] {
            assert!(matches!(Standing::OrganizationToken.organization(a), Err(Denied::Missing(_))));
        }
        let manager = Standing::Member(TeamGrants {
            teams: vec!["people".into()],
            org: OrgPermissions { manage_teams: true, manage_membership: true, ..OrgPermissions::default() },
            ..TeamGrants::default()
        });
        assert_eq!(manager.organization(OrgAction::ManageMembership), Ok(()));
        assert!(manager.organization(OrgAction::ManageOwners).is_err(), "no way into owners");
        assert_eq!(Standing::Outsider.organization(OrgAction::See), Err(Denied::Hidden));
        assert_eq!(Standing::Outsider.workspace(APP, WorkspaceAction::Read), Err(Denied::Hidden));
    }

    #[test]
    fn project_levels_decide_the_project() {
        let s = member(&[], &[("prj-a", ProjectAccessLevel::Maintain)]);
        assert_eq!(s.project("prj-a", "a", ProjectAction::CreateWorkspace), Ok(()));
        assert!(matches!(s.project("prj-a", "a", ProjectAction::Update), Err(Denied::Missing(_))));
        assert_eq!(s.project("prj-b", "b", ProjectAction::See), Err(Denied::Hidden));
        assert_eq!(s.workspace(APP, WorkspaceAction::Delete), Ok(()));
        let admin = member(&[], &[("prj-a", ProjectAccessLevel::Admin)]);
        assert_eq!(admin.project("prj-a", "a", ProjectAction::ManageAccess), Ok(()));
        assert_eq!(
            admin.visible_projects(),
            Some(Visible::Only { workspaces: vec![], projects: vec!["prj-a".into()] })
        );
    }
}
