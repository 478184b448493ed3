//! A workspace's variables: read (sensitive values never leave the store), created, changed
//! (a sensitive value can be replaced, never read) and deleted, each act in the audit trail
//! without its value.

use tern_access::WorkspaceAction as WA;
use tern_store::{Variable, VariableInput, VariableOwner, Workspace};

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
    let var = s.store.create_variable(&VariableOwner::Workspace(ws.id.clone()), input).await?;
    s.audit(caller, "variable.created", Scope::workspace(&ws), details(&var)).await?;
    Ok(var)
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
    let updated = s.store.update_variable(&v.id, input).await?;
    s.audit(caller, "variable.updated", Scope::workspace(&ws), details(&updated)).await?;
    Ok(updated)
}

/// Delete variable `var` of workspace `ws`.
pub(crate) async fn delete(s: &ApiState, caller: &Caller, ws: &str, var: &str) -> Result<(), ApiError> {
    let (v, ws) = of_workspace(s, caller, ws, var, WA::WriteVariables).await?;
    s.store.delete_variable(&v.id).await?;
    s.audit(caller, "variable.deleted", Scope::workspace(&ws), details(&v)).await?;
    Ok(())
}
