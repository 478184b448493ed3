//! A workspace's variables: read (sensitive values never leave the store), created, changed
//! (a sensitive value can be replaced, never read) and deleted, each act in the audit trail
//! without its value.

use tern_access::WorkspaceAction as WA;
use tern_store::{Variable, VariableInput, VariableOwner, VariableSet, Workspace};

use crate::api::{ApiError, ApiState, Caller, Scope, access};

/// What the audit trail says of a variable: never its value.
pub(crate) fn details(v: &Variable) -> serde_json::Value {
    serde_json::json!({
        "id": v.id, "key": v.key, "category": v.category.as_str(), "sensitive": v.sensitive, "hcl": v.hcl,
        "variable-set": match &v.owner { VariableOwner::VariableSet(id) => Some(id.as_str()), VariableOwner::Workspace(_) => None },
    })
}

/// Workspace `ws`'s variables, if the caller may read them.
pub(crate) async fn list(
    s: &ApiState,
    caller: &Caller,
    ws: &str,
) -> Result<(Workspace, Vec<Variable>), ApiError> {
    let ws = access::ws_for(s, caller, ws, WA::ReadVariables).await?;
    let vars = s.store.list_variables(&VariableOwner::Workspace(ws.id.clone())).await?;
    Ok((ws, vars))
}

/// Why a variable set applies to a workspace, most specific first (the order in which one
/// set's variable wins over another's of the same key and category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reach {
    /// Applied to the workspace itself.
    Workspace,
    /// Applied to the workspace's project.
    Project,
    /// Global: every workspace of the organization.
    Global,
}

impl Reach {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Workspace => "applied to this workspace",
            Self::Project => "applied to this workspace's project",
            Self::Global => "global: every workspace of the organization",
        }
    }
}

/// A variable set that applies to a workspace: why, and its variables, each with whether a run
/// gets it (`false`: the workspace's own variable, or a more specific set's, of the same key and
/// category wins).
#[derive(Debug)]
pub(crate) struct AppliedSet {
    pub(crate) set: VariableSet,
    pub(crate) reach: Reach,
    pub(crate) variables: Vec<(Variable, bool)>,
}

/// Workspace `ws`'s own variables and the variable sets that apply to it, in the order a run
/// takes them (its own, then sets applied to it, to its project, global; by name within each),
/// if the caller may read its variables. Sensitive values are not in the records.
pub(crate) async fn applied(
    s: &ApiState,
    caller: &Caller,
    ws: &str,
) -> Result<(Workspace, Vec<Variable>, Vec<AppliedSet>), ApiError> {
    let ws = access::ws_for(s, caller, ws, WA::ReadVariables).await?;
    let own = s.store.list_variables(&VariableOwner::Workspace(ws.id.clone())).await?;
    let mut sets = s.store.workspace_variable_sets(&ws.id).await?;
    let reach = |set: &VariableSet| {
        if set.workspace_ids.contains(&ws.id) {
            Reach::Workspace
        } else if set.project_ids.contains(&ws.project_id) {
            Reach::Project
        } else {
            Reach::Global
        }
    };
    sets.sort_by(|a, b| (reach(a), &a.name).cmp(&(reach(b), &b.name)));
    let mut seen: std::collections::HashSet<(&'static str, String)> =
        own.iter().map(|v| (v.category.as_str(), v.key.clone())).collect();
    let mut applied = Vec::with_capacity(sets.len());
    for set in sets {
        let vars = s.store.list_variables(&VariableOwner::VariableSet(set.id.clone())).await?;
        let variables = vars
            .into_iter()
            .map(|v| {
                let wins = seen.insert((v.category.as_str(), v.key.clone()));
                (v, wins)
            })
            .collect();
        applied.push(AppliedSet { reach: reach(&set), set, variables });
    }
    Ok((ws, own, applied))
}

/// Variable `var` of workspace `ws`, if the caller may do `action` to the workspace.
pub(crate) async fn of_workspace(
    s: &ApiState,
    caller: &Caller,
    ws: &str,
    var: &str,
    action: WA,
) -> Result<(Variable, Workspace), ApiError> {
    let ws = access::ws_for(s, caller, ws, action).await?;
    let v = s.store.variable(var).await?;
    if v.owner != VariableOwner::Workspace(ws.id.clone()) {
        return Err(ApiError::not_found(format!("variable {var:?} not found in this workspace")));
    }
    Ok((v, ws))
}

/// Add a variable to workspace `ws`.
pub(crate) async fn create(
    s: &ApiState,
    caller: &Caller,
    ws: &str,
    input: &VariableInput,
) -> Result<Variable, ApiError> {
    let ws = access::ws_for(s, caller, ws, WA::WriteVariables).await?;
    let event =
        |var: &Variable| ApiState::event(caller, "variable.created", Scope::workspace(&ws), details(var));
    Ok(s.store.create_variable(&VariableOwner::Workspace(ws.id.clone()), input, event).await?)
}

/// Change variable `var` of workspace `ws` (what `input` leaves out stays).
pub(crate) async fn update(
    s: &ApiState,
    caller: &Caller,
    ws: &str,
    var: &str,
    input: &VariableInput,
) -> Result<Variable, ApiError> {
    let (v, ws) = of_workspace(s, caller, ws, var, WA::WriteVariables).await?;
    let event =
        |var: &Variable| ApiState::event(caller, "variable.updated", Scope::workspace(&ws), details(var));
    Ok(s.store.update_variable(&v.id, input, event).await?)
}

/// Delete variable `var` of workspace `ws`.
pub(crate) async fn delete(s: &ApiState, caller: &Caller, ws: &str, var: &str) -> Result<(), ApiError> {
    let (v, ws) = of_workspace(s, caller, ws, var, WA::WriteVariables).await?;
    let event = ApiState::event(caller, "variable.deleted", Scope::workspace(&ws), details(&v));
    Ok(s.store.delete_variable(&v.id, &event).await?)
}
