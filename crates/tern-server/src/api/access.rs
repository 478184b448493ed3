//! The one place the API decides who may do what: a caller's standing in an organization
//! (loaded from the store: the user's or team's grants there) is asked of `tern-access`, and
//! its answer becomes the API's — hidden resources are "not found" (no oracle for names or ids),
//! a missing permission is 403 with the permission named. Every loader a handler uses to reach
//! a resource goes through here with the action it is about to take; no handler decides itself.

use tern_access::{Denied, OrgAction, ProjectAction, Standing, Visible, WorkspaceAction, WorkspaceRef};
use tern_store::{Holder, Organization, Project, Workspace};

use super::{ApiError, ApiState, Caller};

impl Caller {
    /// How the caller stands in `org`. Agent and job tokens have no standing anywhere on the
    /// user API: 403, so that a misplaced agent token is told where it belongs.
    pub(crate) async fn standing(&self, s: &ApiState, org: &Organization) -> Result<Standing, ApiError> {
        let memo = match self {
            Self::User(_, user, _) if user.site_admin => return Ok(Standing::SiteAdmin),
            Self::User(_, _, memo) | Self::Team(_, memo) => memo,
            _ => return self.standing_unmemoized(s, org).await,
        };
        if let Some((_, standing)) = memo.get(&org.id) {
            return Ok(standing);
        }
        let standing = self.standing_unmemoized(s, org).await?;
        memo.put(org, &standing);
        Ok(standing)
    }

    /// Organization `id` and how the caller stands there (both loaded once per request).
    pub(crate) async fn in_organization(
        &self,
        s: &ApiState,
        organization_id: &str,
    ) -> Result<(Organization, Standing), ApiError> {
        if let Self::User(_, _, memo) | Self::Team(_, memo) = self
            && let Some(known) = memo.get(organization_id)
        {
            return Ok(known);
        }
        let org = s.store.organization_by_id(organization_id).await?;
        let standing = self.standing(s, &org).await?;
        Ok((org, standing))
    }

    async fn standing_unmemoized(&self, s: &ApiState, org: &Organization) -> Result<Standing, ApiError> {
        Ok(match self {
            Self::Admin(_) => Standing::SiteAdmin,
            Self::User(_, user, _) if user.site_admin => Standing::SiteAdmin,
            Self::Organization(t) if t.organization_id.as_deref() == Some(org.id.as_str()) => {
                Standing::OrganizationToken
            }
            Self::Organization(_) => Standing::Outsider,
            Self::User(_, user, _) => s
                .store
                .grants(org, Holder::User(&user.id))
                .await?
                .map_or(Standing::Outsider, Standing::Member),
            Self::Team(t, _) => match (&t.team_id, &t.organization_id) {
                (Some(team), Some(o)) if *o == org.id => s
                    .store
                    .grants(org, Holder::Team(team))
                    .await?
                    .map_or(Standing::Outsider, Standing::Member),
                _ => Standing::Outsider,
            },
            Self::Agent(_) | Self::Job(_) => {
                return Err(ApiError::forbidden(
                    "agent and job tokens work only on the agent API (/api/agent); use a user, team, organization or admin token",
                ));
            }
        })
    }
}

/// Another organization's resource is "not found" under its own name (no oracle for ids);
/// anything else (an agent or job token on the user API: 403) stays as it is.
pub(crate) fn hidden(e: ApiError, detail: String) -> ApiError {
    if e.status == axum::http::StatusCode::NOT_FOUND { ApiError::not_found(detail) } else { e }
}

/// The API's answer to a refusal: hidden → "`missing`" as 404, a missing permission → 403.
pub(crate) fn refuse(denied: Denied, missing: impl FnOnce() -> String) -> ApiError {
    match denied {
        Denied::Hidden => ApiError::not_found(missing()),
        Denied::Missing(why) => ApiError::forbidden(why),
    }
}

/// An organization the caller may do `action` in, with the caller's standing there.
pub(crate) async fn org_for(
    s: &ApiState,
    caller: &Caller,
    name: &str,
    action: OrgAction,
) -> Result<(Organization, Standing), ApiError> {
    let org = s.store.organization(name).await?;
    let standing = org_standing(s, caller, &org, action).await?;
    Ok((org, standing))
}

/// [`org_for`] for an organization already loaded (by id, from a resource).
pub(crate) async fn org_standing(
    s: &ApiState,
    caller: &Caller,
    org: &Organization,
    action: OrgAction,
) -> Result<Standing, ApiError> {
    let standing = caller.standing(s, org).await?;
    standing
        .organization(action)
        .map_err(|d| refuse(d, || format!("organization {:?} not found", org.name)))?;
    Ok(standing)
}

fn ws_ref(ws: &Workspace) -> WorkspaceRef<'_> {
    WorkspaceRef { id: &ws.id, name: &ws.name, project_id: &ws.project_id }
}

/// Whether `standing` may do `action` to `ws` (`shown` names it if it is hidden).
pub(crate) fn decide_ws(
    standing: &Standing,
    ws: &Workspace,
    action: WorkspaceAction,
    shown: &str,
) -> Result<(), ApiError> {
    standing.workspace(ws_ref(ws), action).map_err(|d| refuse(d, || format!("workspace {shown:?} not found")))
}

/// Workspace `id`, if the caller may do `action` to it.
pub(crate) async fn ws_for(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: WorkspaceAction,
) -> Result<Workspace, ApiError> {
    let ws = s.store.workspace(id).await?;
    ws_checked(s, caller, ws, action, id).await
}

/// A loaded workspace, if the caller may do `action` to it (`shown`: the name the caller used).
pub(crate) async fn ws_checked(
    s: &ApiState,
    caller: &Caller,
    ws: Workspace,
    action: WorkspaceAction,
    shown: &str,
) -> Result<Workspace, ApiError> {
    let (_, standing) = caller.in_organization(s, &ws.organization_id).await?;
    decide_ws(&standing, &ws, action, shown)?;
    Ok(ws)
}

/// Project `id`, if the caller may do `action` to it.
pub(crate) async fn project_for(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: ProjectAction,
) -> Result<Project, ApiError> {
    let p = s.store.project(id).await?;
    let (_, standing) = caller.in_organization(s, &p.organization_id).await?;
    standing
        .project(&p.id, &p.name, action)
        .map_err(|d| refuse(d, || format!("project {id:?} not found")))?;
    Ok(p)
}

/// An organization-level resource (variable set, agent pool, team) of organization
/// `organization_id`, if the caller may do `action` there; `missing` names it when hidden.
pub(crate) async fn in_org(
    s: &ApiState,
    caller: &Caller,
    organization_id: &str,
    action: OrgAction,
    missing: impl FnOnce() -> String,
) -> Result<(Organization, Standing), ApiError> {
    let (org, standing) = caller.in_organization(s, organization_id).await?;
    match standing.organization(OrgAction::See) {
        Ok(()) => {}
        Err(d) => return Err(refuse(d, missing)),
    }
    standing
        .organization(action)
        .map_err(|d| refuse(d, || format!("organization {:?} not found", org.name)))?;
    Ok((org, standing))
}

/// The workspaces a list may show: `None` for all, or the ids and projects allowed.
pub(crate) fn workspace_scope(standing: &Standing) -> Option<(Vec<String>, Vec<String>)> {
    match standing.visible_workspaces() {
        Some(Visible::All) => None,
        Some(Visible::Only { workspaces, projects }) => Some((workspaces, projects)),
        None => Some((Vec::new(), Vec::new())),
    }
}

/// The workspace's `permissions` block as TFE shows it: what this caller may do to it.
pub(crate) fn permissions_block(
    standing: &Standing,
    ws: &Workspace,
) -> tern_protocol::resources::WorkspacePermissions {
    use tern_access::{RunsPermission as R, StatePermission as S, VariablesPermission as V};
    let Some(e) = standing.effective(ws_ref(ws)) else {
        return tern_protocol::resources::WorkspacePermissions::default();
    };
    let p = e.permissions;
    tern_protocol::resources::WorkspacePermissions {
        can_update: e.admin,
        can_destroy: e.delete,
        can_queue_run: p.runs >= R::Plan,
        can_queue_apply: p.runs >= R::Apply,
        can_queue_destroy: p.runs >= R::Apply,
        can_lock: p.workspace_locking,
        can_unlock: p.workspace_locking,
        can_read_state_versions: p.state_versions >= S::Read,
        can_create_state_versions: p.state_versions >= S::Write,
        can_read_variable: p.variables >= V::Read,
        can_update_variable: p.variables >= V::Write,
        can_force_unlock: e.admin,
        can_read_settings: true,
    }
}

/// A workspace's document for this caller (its `permissions` are the caller's).
pub(crate) async fn workspace_doc(
    s: &ApiState,
    caller: &Caller,
    ws: &Workspace,
) -> Result<tern_protocol::resources::Workspace, ApiError> {
    let (_, standing) = caller.in_organization(s, &ws.organization_id).await?;
    Ok(super::docs::workspace_with(ws, permissions_block(&standing, ws)))
}

/// Whether the caller may do `action` to a workspace it may already see (for what a document
/// offers: upload URLs only to uploaders).
pub(crate) async fn allows(
    s: &ApiState,
    caller: &Caller,
    ws: &Workspace,
    action: WorkspaceAction,
) -> Result<bool, ApiError> {
    let (_, standing) = caller.in_organization(s, &ws.organization_id).await?;
    Ok(standing.workspace(ws_ref(ws), action).is_ok())
}
