//! The audit trail, read: an organization's events to its owners (and its organization token),
//! every event (the installation's too: key rotations) to an administrator. Oldest first,
//! paginated, filtered by time, actor, workspace and action.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use tern_protocol::jsonapi::{Resource, ToOne};
use tern_protocol::resources as r;
use tern_store::{AuditEvent, AuditFilter};

use super::docs;
use super::table::{Table, Verb};
use super::user::{check_query, load_org};
use super::{ApiError, ApiState, Caller};

type ApiResult = Result<Response, ApiError>;
type Q = Query<HashMap<String, String>>;

const FILTERS: &[&str] =
    &["filter[since]", "filter[until]", "filter[actor]", "filter[workspace]", "filter[action]"];

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(
        Verb::Get,
        "/api/v2/organizations/{org}/audit-trail",
        "The organization's audit trail, oldest first (filter[since], filter[until], filter[actor], filter[workspace], filter[action])",
        org_trail,
    )
    .add(
        Verb::Get,
        "/api/v2/admin/audit-trail",
        "Every audit event, the installation's too (admin; the same filters)",
        all_trail,
    )
}

fn event_doc(e: &AuditEvent) -> r::AuditEvent {
    Resource::new(
        e.id.clone(),
        r::AuditEventAttributes {
            timestamp: docs::time(e.at),
            actor: e.event.actor.clone(),
            actor_kind: e.event.actor_kind.clone(),
            action: e.event.action.clone(),
            details: e.event.details.clone(),
        },
        r::AuditEventRelationships {
            organization: ToOne::maybe(e.event.organization_id.as_deref(), "organizations"),
            workspace: ToOne::maybe(e.event.workspace_id.as_deref(), "workspaces"),
            run: ToOne::maybe(e.event.run_id.as_deref(), "runs"),
        },
    )
}

fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = q.get(name).filter(|v| !v.is_empty()) else { return Ok(None) };
    let at = humantime::parse_rfc3339_weak(text).map_err(|e| {
        ApiError::bad_request(format!("{name} must be an RFC 3339 time such as 2027-01-31T12:00:00Z ({e})"))
    })?;
    Ok(Some(
        at.duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0),
    ))
}

/// The filters of a query; `filter[workspace]` is a name in `org` (or a `ws-…` id).
async fn filter(
    s: &ApiState,
    q: &HashMap<String, String>,
    org_id: Option<&str>,
) -> Result<AuditFilter, ApiError> {
    check_query(q, FILTERS)?;
    let text = |name: &str| q.get(name).filter(|v| !v.is_empty()).cloned();
    let workspace_id = match (text("filter[workspace]"), org_id) {
        (Some(ws), _) if ws.starts_with("ws-") => Some(ws),
        (Some(name), Some(org_id)) => Some(
            s.store
                .workspace_by_name(org_id, &name)
                .await
                .map_err(|_| ApiError::not_found(format!("workspace {name:?} not found")))?
                .id,
        ),
        (Some(_), None) => {
            return Err(ApiError::bad_request("filter[workspace] takes a workspace id (ws-…) here"));
        }
        (None, _) => None,
    };
    Ok(AuditFilter {
        since: time_param(q, "filter[since]")?,
        until: time_param(q, "filter[until]")?,
        actor: text("filter[actor]"),
        workspace_id,
        action: text("filter[action]"),
        run_id: None,
        action_prefix: None,
        newest_first: false,
    })
}

async fn org_trail(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let org = load_org(&s, &caller, &org, tern_access::OrgAction::ReadAuditTrail).await?;
    let filter = filter(&s, &q, Some(&org.id)).await?;
    let paged = s.store.audit_events(Some(&org.id), &filter, docs::page(&q)?).await?;
    Ok(docs::list(&paged, &format!("/api/v2/organizations/{}/audit-trail", org.name), event_doc))
}

async fn all_trail(State(s): State<ApiState>, caller: Caller, Query(q): Q) -> ApiResult {
    caller.check_admin()?;
    let filter = filter(&s, &q, None).await?;
    let paged = s.store.audit_events(None, &filter, docs::page(&q)?).await?;
    Ok(docs::list(&paged, "/api/v2/admin/audit-trail", event_doc))
}
