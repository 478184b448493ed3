//! An organization's variable sets: listed, created, renamed, deleted, applied to workspaces
//! and projects or made global, and their variables added, changed (a sensitive value can be
//! replaced, never read) and deleted. Who may is the API's rule, asked of `api::access`: the
//! sets and their variables are read with `read-workspaces` (`OrgAction::ReadAllWorkspaces`)
//! and changed with `manage-workspaces` (`ManageVariableSets`). The TFE API's `varsets`
//! handlers and the web UI's variable sets pages both call these functions; every change is in
//! the audit trail by names and ids, never a value.

use tern_access::{OrgAction as OA, ProjectAction as PA, Standing, WorkspaceAction as WA};
use tern_store::{
    Organization, SetReach, SetScope, Variable, VariableInput, VariableOwner, VariableSet, VariableSetChanges,
};

use crate::api::{ApiError, ApiState, Caller, Scope, access};
use crate::app::variables::details as var_details;
use crate::app::workspaces::Named;

fn org_scope(organization_id: &str) -> Scope<'_> {
    Scope { organization: Some(organization_id), ..Default::default() }
}

/// Variable set `id`, if the caller may do `action` in its organization (else "not found").
pub(crate) async fn load(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: OA,
) -> Result<VariableSet, ApiError> {
    let set = s.store.variable_set(id).await?;
    access::in_org(s, caller, &set.organization_id, action, || format!("variable set {id:?} not found"))
        .await?;
    Ok(set)
}

/// The organization's variable sets, by name (`GET …/varsets`: read-workspaces), with how the
/// caller stands there.
pub(crate) async fn list(
    s: &ApiState,
    caller: &Caller,
    org: &str,
) -> Result<(Organization, Standing, Vec<VariableSet>), ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OA::ReadAllWorkspaces).await?;
    let sets = s.store.list_variable_sets(&org.id).await?;
    Ok((org, standing, sets))
}

/// Set `id` and its variables (sensitive values are not in the records).
pub(crate) async fn with_variables(
    s: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<(VariableSet, Vec<Variable>), ApiError> {
    let set = load(s, caller, id, OA::ReadAllWorkspaces).await?;
    let vars = s.store.list_variables(&VariableOwner::VariableSet(set.id.clone())).await?;
    Ok((set, vars))
}

/// Whether `standing` may change the organization's variable sets (what a page offers; every
/// change decides again).
pub(crate) fn may_manage(standing: &Standing) -> bool {
    standing.organization(OA::ManageVariableSets).is_ok()
}

fn set_details(set: &VariableSet) -> serde_json::Value {
    serde_json::json!({
        "id": set.id, "name": set.name, "global": set.global,
        "workspaces": set.workspace_ids, "projects": set.project_ids,
    })
}

/// A variable set to create.
#[derive(Debug, Default)]
pub(crate) struct NewSet {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) global: bool,
    /// Workspace ids it applies to.
    pub(crate) workspaces: Vec<String>,
    /// Project ids it applies to.
    pub(crate) projects: Vec<String>,
}

/// Create a variable set in organization `org` (`POST …/varsets`), applied where `input` says,
/// all or nothing.
pub(crate) async fn create(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    input: impl FnOnce() -> Result<NewSet, ApiError>,
) -> Result<VariableSet, ApiError> {
    let (org, _) = access::org_for(s, caller, org, OA::ManageVariableSets).await?;
    let new = input()?;
    let reach = SetReach { workspaces: new.workspaces, projects: new.projects };
    let event = |set: &VariableSet| {
        ApiState::event(caller, "variable-set.created", org_scope(&org.id), set_details(set))
    };
    Ok(s.store.create_variable_set(&org.id, &new.name, &new.description, new.global, &reach, event).await?)
}

/// Changes to a variable set (`None`: unchanged).
#[derive(Debug, Default)]
pub(crate) struct SetChanges {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) global: Option<bool>,
    /// The workspaces (ids) it is to apply to: all of them, replacing the others.
    pub(crate) workspaces: Option<Vec<String>>,
    /// The projects (ids) it is to apply to.
    pub(crate) projects: Option<Vec<String>>,
}

/// Change set `id` (`PATCH /varsets/{id}`). Where it applies changes first, so that a refused
/// id changes nothing else.
pub(crate) async fn update(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    input: impl FnOnce() -> Result<SetChanges, ApiError>,
) -> Result<VariableSet, ApiError> {
    let set = load(s, caller, id, OA::ManageVariableSets).await?;
    let changes = input()?;
    let mut store_changes = VariableSetChanges {
        name: changes.name,
        description: changes.description,
        global: changes.global,
        ..Default::default()
    };
    for (scope, wanted) in
        [(SetScope::Workspaces, &changes.workspaces), (SetScope::Projects, &changes.projects)]
    {
        let Some(wanted) = wanted else { continue };
        let current = match scope {
            SetScope::Workspaces => &set.workspace_ids,
            SetScope::Projects => &set.project_ids,
        };
        let gone: Vec<String> = current.iter().filter(|id| !wanted.contains(id)).cloned().collect();
        let new: Vec<String> = wanted.iter().filter(|id| !current.contains(id)).cloned().collect();
        match scope {
            SetScope::Workspaces => {
                store_changes.apply.workspaces = new;
                store_changes.remove.workspaces = gone;
            }
            SetScope::Projects => {
                store_changes.apply.projects = new;
                store_changes.remove.projects = gone;
            }
        }
    }
    let event = |set: &VariableSet| {
        ApiState::event(caller, "variable-set.updated", org_scope(&set.organization_id), set_details(set))
    };
    Ok(s.store.update_variable_set(&set.id, &store_changes, event).await?)
}

/// Delete set `id` and its variables (`DELETE /varsets/{id}`).
pub(crate) async fn delete(s: &ApiState, caller: &Caller, id: &str) -> Result<VariableSet, ApiError> {
    let set = load(s, caller, id, OA::ManageVariableSets).await?;
    let details = serde_json::json!({ "id": set.id, "name": set.name });
    let event = ApiState::event(caller, "variable-set.deleted", org_scope(&set.organization_id), details);
    s.store.delete_variable_set(&set.id, &event).await?;
    Ok(set)
}

/// Apply set `id` to workspaces or projects, or remove it from them (`POST`/`DELETE
/// /varsets/{id}/relationships/workspaces|projects`). `ids` is read once the caller may.
pub(crate) async fn change_scope(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    scope: SetScope,
    ids: impl FnOnce() -> Result<Vec<String>, ApiError>,
    apply: bool,
) -> Result<VariableSet, ApiError> {
    let set = load(s, caller, id, OA::ManageVariableSets).await?;
    change(s, caller, set, scope, ids()?, apply).await
}

/// [`change_scope`] for one workspace or project a form names; the name is looked up once the
/// caller may change where the set applies, so one who may not learns nothing about it.
pub(crate) async fn change_scope_named(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    scope: SetScope,
    named: Named<'_>,
    apply: bool,
) -> Result<VariableSet, ApiError> {
    let set = load(s, caller, id, OA::ManageVariableSets).await?;
    let target = match scope {
        SetScope::Workspaces => super::workspaces::workspace_named(s, caller, named, WA::Read).await?.id,
        SetScope::Projects => super::workspaces::project_named(s, caller, named, PA::See).await?.id,
    };
    change(s, caller, set, scope, vec![target], apply).await
}

async fn change(
    s: &ApiState,
    caller: &Caller,
    set: VariableSet,
    scope: SetScope,
    ids: Vec<String>,
    apply: bool,
) -> Result<VariableSet, ApiError> {
    let kind = match scope {
        SetScope::Workspaces => "workspaces",
        SetScope::Projects => "projects",
    };
    // What a run gets changes with where a set applies.
    let action = if apply { "variable-set.applied" } else { "variable-set.removed" };
    let details = serde_json::json!({ "id": set.id, "name": set.name, kind: ids });
    let event = |_: &VariableSet| ApiState::event(caller, action, org_scope(&set.organization_id), details);
    let changed = if apply {
        s.store.apply_variable_set(&set.id, scope, &ids, event).await?
    } else {
        s.store.remove_variable_set(&set.id, scope, &ids, event).await?
    };
    Ok(changed)
}

// ---------------------------------------------------------------- a set's variables

/// Variable `var` of set `id`, if the caller may do `action` in the set's organization.
pub(crate) async fn variable(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    var: &str,
    action: OA,
) -> Result<(VariableSet, Variable), ApiError> {
    let set = load(s, caller, id, action).await?;
    let v = s.store.variable(var).await?;
    if v.owner != VariableOwner::VariableSet(set.id.clone()) {
        return Err(ApiError::not_found(format!("variable {var:?} not found in this variable set")));
    }
    Ok((set, v))
}

/// Add a variable to set `id`.
pub(crate) async fn create_variable(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    input: &VariableInput,
) -> Result<Variable, ApiError> {
    let set = load(s, caller, id, OA::ManageVariableSets).await?;
    let event = |var: &Variable| {
        ApiState::event(caller, "variable.created", org_scope(&set.organization_id), var_details(var))
    };
    Ok(s.store.create_variable(&VariableOwner::VariableSet(set.id.clone()), input, event).await?)
}

/// Change variable `var` of set `id` (what `input` leaves out stays).
pub(crate) async fn update_variable(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    var: &str,
    input: &VariableInput,
) -> Result<Variable, ApiError> {
    let (set, v) = variable(s, caller, id, var, OA::ManageVariableSets).await?;
    let event = |var: &Variable| {
        ApiState::event(caller, "variable.updated", org_scope(&set.organization_id), var_details(var))
    };
    Ok(s.store.update_variable(&v.id, input, event).await?)
}

/// Delete variable `var` of set `id`.
pub(crate) async fn delete_variable(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    var: &str,
) -> Result<(), ApiError> {
    let (set, v) = variable(s, caller, id, var, OA::ManageVariableSets).await?;
    let event = ApiState::event(caller, "variable.deleted", org_scope(&set.organization_id), var_details(&v));
    Ok(s.store.delete_variable(&v.id, &event).await?)
}

/// Workspaces and projects listed in a form's choices.
const MAX_CHOICES: u32 = 100;

/// Where set `set` applies, by name: (workspaces, projects), each (id, name). Whoever reads the
/// sets reads every workspace and project of the organization.
pub(crate) async fn reach(
    s: &ApiState,
    set: &VariableSet,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
    let mut workspaces = Vec::new();
    for id in &set.workspace_ids {
        match s.store.workspace(id).await {
            Ok(ws) if ws.organization_id == set.organization_id => workspaces.push((ws.id, ws.name)),
            Ok(_) | Err(tern_store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut projects = Vec::new();
    for id in &set.project_ids {
        match s.store.project(id).await {
            Ok(p) if p.organization_id == set.organization_id => projects.push((p.id, p.name)),
            Ok(_) | Err(tern_store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    workspaces.sort_by(|a, b| a.1.cmp(&b.1));
    projects.sort_by(|a, b| a.1.cmp(&b.1));
    Ok((workspaces, projects))
}

/// The organization's workspaces and projects a set can be applied to: (id, name) each.
pub(crate) async fn choices(
    s: &ApiState,
    organization_id: &str,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), ApiError> {
    let page = tern_store::Page { number: 1, size: MAX_CHOICES };
    let workspaces = s
        .store
        .list_workspaces(organization_id, &tern_store::WorkspaceFilter::default(), page)
        .await?
        .items
        .into_iter()
        .map(|ws| (ws.id, ws.name))
        .collect();
    let projects = s
        .store
        .list_projects(organization_id, &[], None, page)
        .await?
        .items
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    Ok((workspaces, projects))
}
