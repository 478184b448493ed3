//! Runs: reading one, and the acts on it a person takes (confirm and apply, discard, cancel).

use tern_access::WorkspaceAction as WA;
use tern_store::{Run, RunStatus, Workspace};

use crate::api::{ApiError, ApiState, Caller, Scope, access};

/// The longest comment kept with an act (TFE's `comment`), in characters.
pub(crate) const MAX_COMMENT_CHARS: usize = 1000;

/// Run `id` and its workspace, if the caller may do `action` to the workspace; a run the caller
/// may not see is "not found" under its own id.
pub(crate) async fn run_for(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: WA,
) -> Result<(Run, Workspace), ApiError> {
    let run = s.store.run(id).await?;
    let ws = access::ws_for(s, caller, &run.workspace_id, action)
        .await
        .map_err(|e| access::hidden(e, format!("run {id:?} not found")))?;
    Ok((run, ws))
}

/// What a run's page offers the caller now: each is true only when the run is in a state the
/// act applies to *and* the caller may do it (the acts themselves decide again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Offered {
    /// Confirm & apply.
    pub(crate) apply: bool,
    /// Discard the plan.
    pub(crate) discard: bool,
    /// Cancel.
    pub(crate) cancel: bool,
}

/// What `run` lets the caller do now.
pub(crate) async fn offered(
    s: &ApiState,
    caller: &Caller,
    run: &Run,
    ws: &Workspace,
) -> Result<Offered, ApiError> {
    let waits_for_confirmation = matches!(run.status, RunStatus::Planned | RunStatus::PlannedAndSaved);
    let may_apply = access::allows(s, caller, ws, WA::Apply).await?;
    let cancel = !run.status.is_final() && access::allows(s, caller, ws, cancel_needs(run.status)).await?;
    Ok(Offered {
        apply: waits_for_confirmation && may_apply,
        discard: waits_for_confirmation && may_apply,
        cancel,
    })
}

/// Stopping a plan needs what starting it did; stopping anything later, what applying does.
fn cancel_needs(status: RunStatus) -> WA {
    if status.is_before_plan_end() { WA::QueuePlan } else { WA::Apply }
}

fn comment_details(comment: Option<&str>) -> Result<serde_json::Value, ApiError> {
    match comment.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(serde_json::json!({})),
        Some(c) if c.chars().count() > MAX_COMMENT_CHARS => {
            Err(ApiError::bad_request(format!("a comment has at most {MAX_COMMENT_CHARS} characters")))
        }
        Some(c) => Ok(serde_json::json!({ "comment": c })),
    }
}

/// Confirm a planned run: its apply is queued. `comment` (optional) goes to the audit trail.
pub(crate) async fn apply(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Run, ApiError> {
    let details = comment_details(comment)?;
    let (run, ws) = run_for(s, caller, id, WA::Apply).await?;
    // The record commits with the act: no apply without its "who".
    let event = ApiState::event(caller, "run.applied", Scope::run(&ws, &run.id), details);
    let run = s.store.apply_run(&run.id, &event).await?;
    s.jobs_queued.notify_waiters();
    Ok(run)
}

/// Discard a planned run.
pub(crate) async fn discard(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Run, ApiError> {
    let details = comment_details(comment)?;
    let (run, ws) = run_for(s, caller, id, WA::Apply).await?;
    let event = ApiState::event(caller, "run.discarded", Scope::run(&ws, &run.id), details);
    s.store.discard_run(&run.id, &event).await.map_err(Into::into)
}

/// Cancel a run: what it needs depends on how far it got, so the caller must first be allowed
/// to see it (else "not found", as for any other act).
pub(crate) async fn cancel(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Run, ApiError> {
    let details = comment_details(comment)?;
    let (run, _) = run_for(s, caller, id, WA::Read).await?;
    let (run, ws) = run_for(s, caller, &run.id, cancel_needs(run.status)).await?;
    let event = ApiState::event(caller, "run.canceled", Scope::run(&ws, &run.id), details);
    s.store
        .cancel_run(&run.id, &format!("canceled by {}", caller.actor().0), &event)
        .await
        .map_err(Into::into)
}
