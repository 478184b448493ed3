//! A workspace's settings: change them, lock and unlock it, delete it. The TFE API's
//! `PATCH /workspaces/…`, `…/actions/lock|unlock|force-unlock`, `DELETE` and `safe-delete`, and
//! the web UI's settings page, all act through these functions, and each act goes to the audit
//! trail (which settings changed, never their values: a description may hold anything).

use serde_json::json;
use tern_access::WorkspaceAction as WA;
use tern_store::{AgentPool, Page, Workspace, WorkspaceSettings};

use crate::api::{ApiError, ApiState, Caller, Scope, access};

/// Agent pools offered on the settings page (an organization rarely has more).
const MAX_POOLS: u32 = 100;

/// The names of the settings a change sets (for the audit trail).
fn changed(c: &WorkspaceSettings) -> Vec<&'static str> {
    [
        ("name", c.name.is_some()),
        ("project", c.project_id.is_some()),
        ("description", c.description.is_some()),
        ("terraform-version", c.terraform_version.is_some()),
        ("working-directory", c.working_directory.is_some()),
        ("auto-apply", c.auto_apply.is_some()),
        ("execution-mode", c.execution_mode.is_some()),
        ("agent-pool", c.agent_pool_id.is_some()),
        ("plan-timeout", c.plan_timeout_s.is_some()),
        ("apply-timeout", c.apply_timeout_s.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// Change workspace `id`'s settings (admin access).
pub(crate) async fn update(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    changes: &WorkspaceSettings,
) -> Result<Workspace, ApiError> {
    let ws = access::ws_for(s, caller, id, WA::UpdateSettings).await?;
    let event = ApiState::event(
        caller,
        "workspace.updated",
        Scope::workspace(&ws),
        json!({ "changed": changed(changes) }),
    );
    Ok(s.store.update_workspace(&ws.id, changes, &event).await?)
}

/// How a lock changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockChange {
    /// Lock it (workspace-locking permission): no run starts until it is unlocked.
    Lock,
    /// Unlock it (workspace-locking permission).
    Unlock,
    /// Unlock it whoever locked it (admin access), as TFE's force-unlock.
    ForceUnlock,
}

/// Lock or unlock workspace `id`.
pub(crate) async fn set_lock(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    change: LockChange,
) -> Result<Workspace, ApiError> {
    let (needs, locked, action) = match change {
        LockChange::Lock => (WA::Lock, true, "workspace.locked"),
        LockChange::Unlock => (WA::Lock, false, "workspace.unlocked"),
        LockChange::ForceUnlock => (WA::ForceUnlock, false, "workspace.force_unlocked"),
    };
    let ws = access::ws_for(s, caller, id, needs).await?;
    let event = ApiState::event(caller, action, Scope::workspace(&ws), json!({}));
    Ok(s.store.set_workspace_lock(&ws.id, locked, &event).await?)
}

/// Delete workspace `id` with its runs, variables and state. `safe`: only if its current
/// state manages no resource (TFE's safe-delete), so that nothing real is orphaned by mistake.
pub(crate) async fn delete(s: &ApiState, caller: &Caller, id: &str, safe: bool) -> Result<(), ApiError> {
    let ws = access::ws_for(s, caller, id, WA::Delete).await?;
    if safe && let Some(state_id) = &ws.current_state_version_id {
        let bytes = s.store.state_bytes(state_id).await?;
        let resources =
            tokio::task::spawn_blocking(move || tern_store::managed_resources(&bytes)).await.map_err(
                |e| ApiError::internal(format!("counting the resources of the workspace's state: {e}")),
            )?;
        if resources > 0 {
            return Err(ApiError::conflict(format!(
                "workspace {:?} is managing {resources} resource(s): destroy them first (a destroy run), or delete it without safe-delete",
                ws.name
            )));
        }
    }
    let event = ApiState::event(
        caller,
        "workspace.deleted",
        Scope::workspace(&ws),
        json!({ "name": ws.name, "safe": safe }),
    );
    Ok(s.store.delete_workspace(&ws.id, &event).await?)
}

/// The agent pools a workspace of this organization could run on (for the settings form of
/// someone who may change them).
pub(crate) async fn agent_pools(s: &ApiState, ws: &Workspace) -> Result<Vec<AgentPool>, ApiError> {
    Ok(s.store.list_agent_pools(&ws.organization_id, Page { number: 1, size: MAX_POOLS }).await?.items)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_audit_trail_names_changed_settings_only() {
        let c = tern_store::WorkspaceSettings {
            description: Some("secret-ish text".into()),
            auto_apply: Some(true),
            ..Default::default()
        };
        assert_eq!(super::changed(&c), ["description", "auto-apply"]);
    }
}
