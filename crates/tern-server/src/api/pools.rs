//! Agent pools and their tokens, in TFE's shapes (`agent-pools`, `authentication-tokens`).
//! A workspace in `agent` execution mode names a pool; only agents holding one of the pool's
//! tokens run its jobs (the store's `claims.rs` decides). Who may manage a pool: whoever may act
//! its organization's permission manage-agent-pools; seeing one: any member (`access.rs`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tern_protocol::jsonapi::{Resource, ToMany};
use tern_protocol::resources as r;
use tern_store::AgentPool;

use super::access;
use super::docs::{self, Doc, rel};
use super::table::{Table, Verb};
use super::user::load_org;
use super::{ApiError, ApiState, Caller};
use tern_access::{OrgAction as OA, Standing, Visible, WorkspaceAction};

type ApiResult = Result<Response, ApiError>;

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(Verb::Get, "/api/v2/organizations/{org}/agent-pools", "List agent pools", list_pools)
        .add(Verb::Post, "/api/v2/organizations/{org}/agent-pools", "Create an agent pool", create_pool)
        .add(
            Verb::Get,
            "/api/v2/agent-pools/{id}",
            "Show an agent pool (agent-count: agents seen in the last minute)",
            show_pool,
        )
        .add(Verb::Patch, "/api/v2/agent-pools/{id}", "Rename an agent pool", update_pool)
        .add(
            Verb::Delete,
            "/api/v2/agent-pools/{id}",
            "Delete an agent pool and its tokens (refused while workspaces use it)",
            delete_pool,
        )
        .add(
            Verb::Get,
            "/api/v2/agent-pools/{id}/authentication-tokens",
            "List an agent pool's tokens (never their secrets)",
            list_tokens,
        )
        .add(
            Verb::Post,
            "/api/v2/agent-pools/{id}/authentication-tokens",
            "Create an agent pool token (shown once): its agents run the pool's agent-mode workspaces",
            create_token,
        )
}

fn pool(p: &AgentPool) -> r::AgentPool {
    Resource::new(
        p.id.clone(),
        r::AgentPoolAttributes {
            name: p.name.clone(),
            created_at: docs::time(p.created_at),
            organization_scoped: true,
            agent_count: p.agent_count,
        },
        r::AgentPoolRelationships {
            organization: rel(Some(&p.organization), "organizations"),
            workspaces: ToMany::of(&p.workspace_ids, "workspaces"),
        },
    )
    .with_self_link(format!("/api/v2/agent-pools/{}", p.id))
}

/// The pool as `standing` may see it: the workspaces that use it, only those it may see (a
/// member of the organization sees every pool, not every workspace).
async fn as_seen(s: &ApiState, standing: &Standing, mut p: AgentPool) -> Result<AgentPool, ApiError> {
    if standing.visible_workspaces() != Some(Visible::All) {
        let mut seen = Vec::with_capacity(p.workspace_ids.len());
        for id in std::mem::take(&mut p.workspace_ids) {
            let ws = s.store.workspace(&id).await?;
            if access::decide_ws(standing, &ws, WorkspaceAction::Read, &id).is_ok() {
                seen.push(id);
            }
        }
        p.workspace_ids = seen;
    }
    Ok(p)
}

fn pool_name(doc: &Doc) -> Result<String, ApiError> {
    doc.required("name")
}

async fn list_pools(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let (org, standing) = access::org_for(&s, &caller, &org, OA::See).await?;
    let paged = s.store.list_agent_pools(&org.id, docs::page(&q)?).await?;
    let mut items = Vec::with_capacity(paged.items.len());
    for p in paged.items {
        items.push(as_seen(&s, &standing, p).await?);
    }
    let paged = tern_store::Paged { items, total: paged.total, page: paged.page };
    Ok(docs::list(&paged, &format!("/api/v2/organizations/{}/agent-pools", org.name), pool))
}

async fn create_pool(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::ManageAgentPools).await?;
    let doc = Doc::parse(&body, "agent-pools")?;
    let created = s.store.create_agent_pool(&org.id, &pool_name(&doc)?).await?;
    Ok(docs::created(pool(&created)))
}

async fn show_pool(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let p = s.store.agent_pool(&id).await?;
    let (_, standing) =
        access::in_org(&s, &caller, &p.organization_id, OA::See, || format!("agent pool {id:?} not found"))
            .await?;
    Ok(docs::one(pool(&as_seen(&s, &standing, p).await?)))
}

async fn update_pool(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = crate::app::organization::pool(&s, &caller, &id, OA::ManageAgentPools).await?;
    let doc = Doc::parse(&body, "agent-pools")?;
    let updated = match doc.string("name")? {
        Some(name) => s.store.rename_agent_pool(&p.id, &name).await?,
        None => p,
    };
    Ok(docs::one(pool(&updated)))
}

async fn delete_pool(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let p = crate::app::organization::pool(&s, &caller, &id, OA::ManageAgentPools).await?;
    s.store.delete_agent_pool(&p.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_tokens(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let p = crate::app::organization::pool(&s, &caller, &id, OA::ManageAgentPools).await?;
    let tokens = s.store.list_pool_tokens(&p.id).await?;
    Ok(docs::one(tokens.iter().map(|t| super::tokens::token_doc(t, None)).collect::<Vec<_>>()))
}

async fn create_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = s.store.unix_now();
    let input = Box::new(|| {
        // go-tfe sends `agent-tokens`; the resource it gets back is `authentication-tokens`.
        let doc = if body.is_empty() {
            None
        } else {
            Some(Doc::parse(&body, "authentication-tokens").or_else(|_| Doc::parse(&body, "agent-tokens"))?)
        };
        let description = doc.as_ref().map(|d| d.string("description")).transpose()?.flatten();
        Ok((description, super::tokens::expiry(doc.as_ref(), now)?))
    });
    let (created, secret) = crate::app::organization::create_pool_token(&s, &caller, &id, input).await?;
    Ok(docs::created(super::tokens::token_doc(&created, Some(secret))))
}
