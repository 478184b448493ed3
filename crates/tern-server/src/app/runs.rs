//! Runs: starting one, reading one, and the acts on it a person takes (confirm and apply,
//! discard, cancel). Each act commits with its audit record.

use tern_access::WorkspaceAction as WA;
use tern_store::{Run, RunInput, RunStatus, Workspace};

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

/// Start a run on workspace `ws_id` (`POST /runs`, `POST /workspaces/{id}/runs`): the caller
/// must be allowed to queue plans there; `input` is read only then, so that a refusal never
/// depends on what was sent.
pub(crate) async fn create(
    s: &ApiState,
    caller: &Caller,
    ws_id: &str,
    input: impl FnOnce() -> Result<RunInput, ApiError>,
) -> Result<Run, ApiError> {
    let ws = access::ws_for(s, caller, ws_id, WA::QueuePlan).await?;
    start(s, caller, &ws, &input()?).await
}

/// [`create`] on workspace `ws`, which the caller was found allowed to queue plans on (an
/// upload that queues its run). A run that will apply without confirmation is an apply: it
/// needs what confirming needs. The run and its record (`run.created`) commit together.
pub(crate) async fn start(
    s: &ApiState,
    caller: &Caller,
    ws: &Workspace,
    input: &RunInput,
) -> Result<Run, ApiError> {
    // The run of a speculative configuration only plans, whatever the input says (the store
    // makes it plan-only): it needs what planning needs.
    let speculative = match &input.configuration_version_id {
        Some(id) => {
            s.store.configuration_version(id).await.is_ok_and(|cv| cv.speculative && cv.workspace_id == ws.id)
        }
        None => false,
    };
    if !input.plan_only && !speculative && input.auto_apply.unwrap_or(ws.auto_apply) {
        access::ws_checked(s, caller, ws.clone(), WA::Apply, &ws.name).await?;
    }
    let event = |run: &Run| {
        let details = serde_json::json!({
            "is-destroy": run.is_destroy, "plan-only": run.plan_only, "auto-apply": run.auto_apply,
            "message": run.message, "configuration-version": run.configuration_version_id,
        });
        ApiState::event(caller, "run.created", Scope::run(ws, &run.id), details)
    };
    let run = s.store.create_run(&ws.id, input, &caller.token().id, event).await?;
    s.jobs_queued.notify_waiters();
    Ok(run)
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
