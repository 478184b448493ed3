//! Teams managed: created, renamed, their organization permissions changed, deleted (never the
//! owners team), and their access to workspaces and projects granted, changed and revoked. Who
//! may is asked of `api::access`: teams are managed with `manage-teams`, organization
//! permissions changed with `manage-organization-access`, the owners team only with owners'
//! rights, and a team's access to a workspace (project) is granted by whoever may manage access
//! to that workspace (project). The TFE API's `teams`, `team-workspaces` and `team-projects`
//! handlers and the web UI's team pages call these very functions; every act is in the audit
//! trail under the names the API has always used.
//!
//! What a request says is read (`input`, `grant`) only once the caller is known to be allowed
//! to be there at all, so that a refusal never depends on what was sent.

use tern_access::{OrgAction as OA, OrgPermissions, ProjectAction as PA, ProjectGrant, Standing};
use tern_access::{WorkspaceAction as WA, WorkspaceGrant};
use tern_store::{Page, Project, Team, TeamChanges, TeamProject, TeamWorkspace, Workspace};

use super::workspaces::Named;
use crate::api::{ApiError, ApiState, Caller, Scope, access};

/// The organization permissions tern acts on, by TFE's names (what a form offers; the others
/// are kept as they are).
pub(crate) const ACTED_ON: [&str; 9] = [
    "read-workspaces",
    "read-projects",
    "manage-workspaces",
    "manage-projects",
    "manage-membership",
    "manage-teams",
    "manage-organization-access",
    "manage-agent-pools",
    "access-secret-teams",
];

/// Team `id`, if the caller may do `action` in its organization (else "not found"). Anything
/// but seeing the owners team needs owners' rights too (`ManageOwners`): managing teams or
/// membership must not be a way into owners.
pub(crate) async fn load_team(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: OA,
) -> Result<(Team, Standing), ApiError> {
    let t = s.store.team(id).await?;
    let (_, standing) =
        access::in_org(s, caller, &t.organization_id, action, || format!("team {id:?} not found")).await?;
    if t.is_owners() && action != OA::See {
        standing.organization(OA::ManageOwners).map_err(|d| access::refuse(d, String::new))?;
    }
    Ok((t, standing))
}

/// Team `name` of organization `org`, to every member (as `GET …/teams?filter[names]=…`).
pub(crate) async fn by_name(s: &ApiState, caller: &Caller, org: &str, name: &str) -> Result<Team, ApiError> {
    let (org, _) = access::org_for(s, caller, org, OA::See).await?;
    match s.store.team_by_name(&org.id, name).await {
        Ok(t) => Ok(t),
        Err(tern_store::StoreError::NotFound { .. }) => {
            Err(ApiError::not_found(format!("team {name:?} not found")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether `standing` may create teams (what a page offers; [`create`] decides again), and
/// whether it may give them organization permissions.
pub(crate) fn may_create(standing: &Standing) -> (bool, bool) {
    (
        standing.organization(OA::ManageTeams).is_ok(),
        standing.organization(OA::ManageOrganizationAccess).is_ok(),
    )
}

/// What the audit trail says of a team.
pub(crate) fn details(t: &Team) -> serde_json::Value {
    serde_json::json!({"id": t.id, "name": t.name, "organization-access": t.access, "sso-team-id": t.sso_team_id})
}

/// HCP Terraform's rules on organization permissions: managing projects includes managing
/// workspaces; seeing projects, seeing workspaces.
pub(crate) fn check_permissions(p: &OrgPermissions) -> Result<(), ApiError> {
    let pointer = "/data/attributes/organization-access";
    if p.manage_projects && !p.manage_workspaces {
        return Err(ApiError::invalid(pointer, "manage-projects needs manage-workspaces too"));
    }
    if p.read_projects && !p.read_workspaces {
        return Err(ApiError::invalid(pointer, "read-projects needs read-workspaces too"));
    }
    Ok(())
}

/// `base` with the permissions named in `names` on and the other permissions of [`ACTED_ON`]
/// off (the rest as in `base`). An unknown name is refused.
pub(crate) fn permissions_named(base: OrgPermissions, names: &[String]) -> Result<OrgPermissions, ApiError> {
    if let Some(bad) = names.iter().find(|n| !ACTED_ON.contains(&n.as_str())) {
        return Err(ApiError::bad_request(format!("{bad:?} is not an organization permission tern knows")));
    }
    let mut v = serde_json::to_value(base).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for name in ACTED_ON {
        v[name] = serde_json::Value::Bool(names.iter().any(|n| n == name));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A team to create.
#[derive(Debug, Default)]
pub(crate) struct NewTeam {
    pub(crate) name: String,
    /// `None`: none.
    pub(crate) access: Option<OrgPermissions>,
    /// `None`: `secret`.
    pub(crate) visibility: Option<String>,
    pub(crate) sso_team_id: Option<String>,
}

/// Create a team in organization `org` (`POST …/teams`: manage-teams; any organization
/// permission also needs manage-organization-access).
pub(crate) async fn create(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    input: impl FnOnce() -> Result<NewTeam, ApiError>,
) -> Result<(Team, Standing), ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OA::ManageTeams).await?;
    let new = input()?;
    if let Some(p) = &new.access {
        check_permissions(p)?;
    }
    if new.access.is_some_and(|p| p != OrgPermissions::default()) {
        standing.organization(OA::ManageOrganizationAccess).map_err(|d| access::refuse(d, String::new))?;
    }
    let visibility = new.visibility.as_deref().unwrap_or("secret");
    let event = |t: &Team| ApiState::event(caller, "team.created", org_scope(&org.id), details(t));
    let t = s
        .store
        .create_team(
            &org.id,
            &new.name,
            new.access.unwrap_or_default(),
            visibility,
            new.sso_team_id.as_deref(),
            event,
        )
        .await?;
    Ok((t, standing))
}

/// Changes to a team (`None`: unchanged).
#[derive(Debug, Default)]
pub(crate) struct TeamUpdate {
    pub(crate) name: Option<String>,
    /// `Some(None)` removes the group mapping.
    pub(crate) sso_team_id: Option<Option<String>>,
    pub(crate) visibility: Option<String>,
    /// The team's organization permissions as they are to be (all of them).
    pub(crate) access: Option<OrgPermissions>,
}

/// Change team `id` (`PATCH /teams/{id}`): its name, visibility and group mapping need
/// manage-teams, its organization permissions manage-organization-access; the owners team needs
/// owners' rights (and can be neither renamed nor limited). `input` is given the team as it is.
pub(crate) async fn update(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    input: impl FnOnce(&Team) -> Result<TeamUpdate, ApiError>,
) -> Result<(Team, Standing), ApiError> {
    let refuse = |d| access::refuse(d, String::new);
    let (t, standing) = load_team(s, caller, id, OA::See).await?;
    if t.is_owners() {
        standing.organization(OA::ManageOwners).map_err(refuse)?;
    }
    // Either permission lets a caller in; which one the change needs is checked below.
    if standing.organization(OA::ManageOrganizationAccess).is_err() {
        standing.organization(OA::ManageTeams).map_err(refuse)?;
    }
    let wanted = input(&t)?;
    if let Some(p) = &wanted.access {
        check_permissions(p)?;
    }
    let changes = TeamChanges {
        name: wanted.name.filter(|n| *n != t.name),
        sso_team_id: wanted.sso_team_id,
        visibility: wanted.visibility,
        access: wanted.access.filter(|a| *a != t.access),
    };
    let renames = changes.name.is_some() || changes.visibility.is_some() || changes.sso_team_id.is_some();
    if renames {
        standing.organization(OA::ManageTeams).map_err(refuse)?;
    }
    if changes.access.is_some() {
        standing.organization(OA::ManageOrganizationAccess).map_err(refuse)?;
    }
    if !renames && changes.access.is_none() {
        standing.organization(OA::ManageTeams).map_err(refuse)?;
    }
    let event = |u: &Team| ApiState::event(caller, "team.updated", org_scope(&t.organization_id), details(u));
    let updated = s.store.update_team(&t.id, changes, event).await?;
    Ok((updated, standing))
}

/// Delete team `id` (`DELETE /teams/{id}`: manage-teams; never the owners team). Its tokens
/// die with it.
pub(crate) async fn delete(s: &ApiState, caller: &Caller, id: &str) -> Result<Team, ApiError> {
    let (t, _) = load_team(s, caller, id, OA::ManageTeams).await?;
    // The store refuses the owners team.
    let event = ApiState::event(caller, "team.deleted", org_scope(&t.organization_id), details(&t));
    s.store.delete_team(&t.id, &event).await?;
    Ok(t)
}

/// Whether `standing` may rename or delete team `t` (what a page offers; [`update`] and
/// [`delete`] decide again).
pub(crate) fn may_rename_or_delete(standing: &Standing, t: &Team) -> bool {
    !t.is_owners() && standing.organization(OA::ManageTeams).is_ok()
}

/// Whether `standing` may change team `t`'s organization permissions.
pub(crate) fn may_change_permissions(standing: &Standing, t: &Team) -> bool {
    !t.is_owners() && standing.organization(OA::ManageOrganizationAccess).is_ok()
}

fn org_scope(organization_id: &str) -> Scope<'_> {
    Scope { organization: Some(organization_id), ..Default::default() }
}

// ---------------------------------------------------------------- access to workspaces

/// Give team `team_id` access to workspace `ws_id` (`POST /team-workspaces`: whoever may
/// manage access to the workspace). The team must be of the workspace's organization.
pub(crate) async fn grant_workspace(
    s: &ApiState,
    caller: &Caller,
    ws: Named<'_>,
    team_id: &str,
    grant: impl FnOnce() -> Result<WorkspaceGrant, ApiError>,
) -> Result<TeamWorkspace, ApiError> {
    let ws = super::workspaces::workspace_named(s, caller, ws, WA::ManageAccess).await?;
    let grant = grant()?;
    let team = s.store.team(team_id).await.ok().filter(|t| t.organization_id == ws.organization_id);
    let team = team.ok_or_else(|| {
        ApiError::invalid(
            "/data/relationships/team/data/id",
            format!("team {team_id:?} not found in this organization"),
        )
    })?;
    let event = |a: &TeamWorkspace| {
        let details = serde_json::json!({"team": team.id, "team-name": team.name, "access": a.grant});
        ApiState::event(caller, "team-access.created", Scope::workspace(&ws), details)
    };
    Ok(s.store.create_team_workspace(&team.id, &ws.id, grant, event).await?)
}

/// A team's access to a workspace, if the caller may do `action` to the workspace.
pub(crate) async fn workspace_access(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: WA,
) -> Result<(TeamWorkspace, Workspace), ApiError> {
    let a = s.store.team_workspace(id).await?;
    let ws = access::ws_for(s, caller, &a.workspace_id, action)
        .await
        .map_err(|e| access::hidden(e, format!("team access {id:?} not found")))?;
    Ok((a, ws))
}

/// Whether access row `id` (of a workspace, or of a project when `project`) belongs to team
/// `team_id`: a page names the team in its path, and a row of another team is "not found"
/// there, whatever the caller may do to it elsewhere.
pub(crate) async fn access_of_team(
    s: &ApiState,
    project: bool,
    id: &str,
    team_id: &str,
) -> Result<(), ApiError> {
    let owner = if project {
        s.store.team_project(id).await.map(|a| a.team_id)
    } else {
        s.store.team_workspace(id).await.map(|a| a.team_id)
    };
    match owner {
        Ok(t) if t == team_id => Ok(()),
        Ok(_) | Err(tern_store::StoreError::NotFound { .. }) => {
            Err(ApiError::not_found(format!("this team has no access {id:?}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Change a team's access to a workspace (`PATCH /team-workspaces/{id}`); `grant` is given the
/// current grant.
pub(crate) async fn change_workspace_access(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    grant: impl FnOnce(WorkspaceGrant) -> Result<WorkspaceGrant, ApiError>,
) -> Result<TeamWorkspace, ApiError> {
    let (a, ws) = workspace_access(s, caller, id, WA::ManageAccess).await?;
    let grant = grant(a.grant)?;
    let event = |u: &TeamWorkspace| {
        let details = serde_json::json!({"team": u.team_id, "access": u.grant});
        ApiState::event(caller, "team-access.updated", Scope::workspace(&ws), details)
    };
    Ok(s.store.update_team_workspace(&a.id, grant, event).await?)
}

/// Remove a team's access to a workspace (`DELETE /team-workspaces/{id}`).
pub(crate) async fn revoke_workspace_access(s: &ApiState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let (a, ws) = workspace_access(s, caller, id, WA::ManageAccess).await?;
    let details = serde_json::json!({"team": a.team_id, "access": a.grant});
    let event = ApiState::event(caller, "team-access.deleted", Scope::workspace(&ws), details);
    Ok(s.store.delete_team_workspace(&a.id, &event).await?)
}

// ---------------------------------------------------------------- access to projects

/// Give team `team_id` access to project `project_id` (`POST /team-projects`: whoever may
/// manage access to the project).
pub(crate) async fn grant_project(
    s: &ApiState,
    caller: &Caller,
    project: Named<'_>,
    team_id: &str,
    grant: impl FnOnce() -> Result<ProjectGrant, ApiError>,
) -> Result<TeamProject, ApiError> {
    let p = super::workspaces::project_named(s, caller, project, PA::ManageAccess).await?;
    let grant = grant()?;
    let team = s.store.team(team_id).await.ok().filter(|t| t.organization_id == p.organization_id);
    let team = team.ok_or_else(|| {
        ApiError::invalid(
            "/data/relationships/team/data/id",
            format!("team {team_id:?} not found in this organization"),
        )
    })?;
    let event = |a: &TeamProject| {
        let details =
            serde_json::json!({"team": team.id, "team-name": team.name, "project": p.id, "access": a.grant});
        ApiState::event(caller, "team-project-access.created", org_scope(&p.organization_id), details)
    };
    Ok(s.store.create_team_project(&team.id, &p.id, grant, event).await?)
}

/// A team's access to a project, if the caller may do `action` to the project.
pub(crate) async fn project_access(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: PA,
) -> Result<(TeamProject, Project), ApiError> {
    let a = s.store.team_project(id).await?;
    let p = access::project_for(s, caller, &a.project_id, action)
        .await
        .map_err(|e| access::hidden(e, format!("team project access {id:?} not found")))?;
    Ok((a, p))
}

/// Change a team's access to a project (`PATCH /team-projects/{id}`).
pub(crate) async fn change_project_access(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    grant: impl FnOnce(ProjectGrant) -> Result<ProjectGrant, ApiError>,
) -> Result<TeamProject, ApiError> {
    let (a, p) = project_access(s, caller, id, PA::ManageAccess).await?;
    let grant = grant(a.grant)?;
    let event = |u: &TeamProject| {
        let details = serde_json::json!({"team": u.team_id, "project": p.id, "access": u.grant});
        ApiState::event(caller, "team-project-access.updated", org_scope(&p.organization_id), details)
    };
    Ok(s.store.update_team_project(&a.id, grant, event).await?)
}

/// Remove a team's access to a project (`DELETE /team-projects/{id}`).
pub(crate) async fn revoke_project_access(s: &ApiState, caller: &Caller, id: &str) -> Result<(), ApiError> {
    let (a, p) = project_access(s, caller, id, PA::ManageAccess).await?;
    let details = serde_json::json!({"team": a.team_id, "project": p.id, "access": a.grant});
    let event =
        ApiState::event(caller, "team-project-access.deleted", org_scope(&p.organization_id), details);
    Ok(s.store.delete_team_project(&a.id, &event).await?)
}

/// Workspaces and projects listed in a form's choices.
const MAX_CHOICES: u32 = 100;

/// The organization's workspaces and projects whose team access `standing` may manage (what a
/// page offers to grant on; the grant decides again): (id, name) each, by name.
pub(crate) async fn grantable(
    s: &ApiState,
    standing: &Standing,
    organization_id: &str,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
    let page = Page { number: 1, size: MAX_CHOICES };
    let filter =
        tern_store::WorkspaceFilter { visible: access::workspace_scope(standing), ..Default::default() };
    let workspaces = s
        .store
        .list_workspaces(organization_id, &filter, page)
        .await?
        .items
        .into_iter()
        .filter(|ws| access::decide_ws(standing, ws, WA::ManageAccess, &ws.id).is_ok())
        .map(|ws| (ws.id, ws.name))
        .collect();
    let projects = s
        .store
        .list_projects(organization_id, &[], None, page)
        .await?
        .items
        .into_iter()
        .filter(|p| standing.project(&p.id, &p.name, PA::ManageAccess).is_ok())
        .map(|p| (p.id, p.name))
        .collect();
    Ok((workspaces, projects))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_by_name_keep_what_tern_does_not_act_on() {
        let base = OrgPermissions { manage_policies: true, manage_teams: true, ..Default::default() };
        let p = permissions_named(base, &["manage-membership".into()]).unwrap();
        assert!(p.manage_policies && p.manage_membership && !p.manage_teams);
        assert!(permissions_named(base, &["manage-policies".into()]).is_err());
        assert!(permissions_named(base, &["owner".into()]).is_err());
    }

    #[test]
    fn project_permissions_need_their_workspace_permission() {
        let p = |names: &[&str]| {
            permissions_named(
                OrgPermissions::default(),
                &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap()
        };
        assert!(check_permissions(&p(&["manage-projects"])).is_err());
        assert!(check_permissions(&p(&["read-projects"])).is_err());
        assert!(check_permissions(&p(&["manage-projects", "manage-workspaces"])).is_ok());
    }
}
