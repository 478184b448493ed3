//! API tokens with a lifecycle: listed (never their secrets) with their kind, description,
//! creation, last use and expiry, shown and revoked. An organization's tokens are listed to its
//! owners (and its organization token); an organization token is revoked by an administrator or
//! an owner (an organization token cannot remove another), agent tokens by those who manage
//! agent pools, team tokens by those who manage teams, user tokens by their user. Revocation
//! deletes the record every replica checks on every request, so it takes effect everywhere at
//! once.

use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tern_protocol::jsonapi::Resource;
use tern_protocol::resources as r;
use tern_store::{Token, TokenKind};
use tern_types::SecretString;

use super::docs::{self, Doc, rel};
use super::table::{Table, Verb};
use super::{ApiError, ApiState, Caller};

type ApiResult = Result<Response, ApiError>;

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(
        Verb::Get,
        "/api/v2/organizations/{org}/authentication-tokens",
        "List the organization's organization and agent tokens (never their secrets)",
        list_org_tokens,
    )
    .add(
        Verb::Get,
        "/api/v2/admin/authentication-tokens",
        "List every API token: admin, organization and agent tokens (admin)",
        list_all_tokens,
    )
    .add(Verb::Get, "/api/v2/authentication-tokens/{id}", "Show a token (never its secret)", show_token)
    .add(
        Verb::Delete,
        "/api/v2/authentication-tokens/{id}",
        "Revoke a token (an organization token: admin only; the admin token: by rotation only)",
        delete_token,
    )
}

/// A token as the API shows it: the secret only in the answer that created it.
pub(crate) fn token_doc(t: &Token, secret: Option<SecretString>) -> r::AuthenticationToken {
    Resource::new(
        t.id.clone(),
        r::TokenAttributes {
            token: secret,
            kind: Some(t.kind.as_str().to_owned()),
            description: t.description.clone(),
            created_at: docs::time(t.created_at),
            last_used_at: Some(t.last_used_at.map(docs::time)),
            expired_at: Some(t.expires_at.map(docs::time)),
        },
        r::TokenRelationships {
            agent_pool: (t.kind == TokenKind::Agent).then(|| rel(t.agent_pool_id.as_deref(), "agent-pools")),
            team: (t.kind == TokenKind::Team).then(|| rel(t.team_id.as_deref(), "teams")),
            created_by: t
                .created_by
                .as_deref()
                .and_then(|c| c.split_once(':'))
                .map(|(kind, id)| rel(Some(id), kind)),
        },
    )
}

/// What the audit trail says of an API token: never the token.
pub(crate) fn audit_details(t: &Token) -> serde_json::Value {
    serde_json::json!({
        "id": t.id, "kind": t.kind.as_str(), "description": t.description,
        "agent-pool": t.agent_pool_id, "expires-at": t.expires_at,
    })
}

/// The `expired-at` of a token being created (TFE's name): an RFC 3339 time in the future, as
/// unix seconds; `None` when the document gives none (a token that does not expire).
pub(crate) fn expiry(doc: Option<&Doc>, now: i64) -> Result<Option<i64>, ApiError> {
    let Some(text) = doc.map(|d| d.string("expired-at")).transpose()?.flatten() else {
        return Ok(None);
    };
    let pointer = "/data/attributes/expired-at";
    let at = humantime::parse_rfc3339_weak(&text).map_err(|e| {
        ApiError::invalid(
            pointer,
            format!("expired-at must be an RFC 3339 time such as 2027-01-31T12:00:00Z ({e})"),
        )
    })?;
    let at = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| ApiError::invalid(pointer, "expired-at is before 1970"))?;
    if at <= now {
        return Err(ApiError::invalid(pointer, format!("expired-at {text} is not in the future")));
    }
    Ok(Some(at))
}

async fn list_org_tokens(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    let (_, _, tokens) = crate::app::organization::tokens(&s, &caller, &org).await?;
    Ok(docs::single_page(tokens.iter().map(|t| token_doc(t, None)).collect()))
}

async fn list_all_tokens(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.check_admin()?;
    let tokens = s.store.list_api_tokens(None).await?;
    Ok(docs::single_page(tokens.iter().map(|t| token_doc(t, None)).collect()))
}

async fn show_token(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(token_doc(&crate::app::organization::token_for(&s, &caller, &id, false).await?, None)))
}

async fn delete_token(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    crate::app::organization::revoke_token(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
