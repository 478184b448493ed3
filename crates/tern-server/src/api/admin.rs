//! Installation administration: the managed signing keys.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse as _, Response};
use tern_protocol::jsonapi::{NoRelationships, Resource};
use tern_protocol::resources as r;
use tern_store::ManagedKey;

use super::docs::{self, Doc};
use super::table::{Table, Verb};
use super::{ApiError, ApiState, Caller};
use crate::app;
use crate::keys::KeysError;

type ApiResult = Result<Response, ApiError>;

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(Verb::Get, "/api/v2/admin/signing-keys", "List the managed signing keys (admin)", list)
        .add(
            Verb::Post,
            "/api/v2/admin/signing-keys/actions/rotate",
            "Publish the next signing key (admin)",
            rotate,
        )
        .add(
            Verb::Post,
            "/api/v2/admin/signing-keys/{kid}/actions/retire",
            "Retire a signing key (admin)",
            retire,
        )
        .add(
            Verb::Get,
            "/api/v2/admin/jwks",
            "The issuer's public JWKS, as /.well-known/jwks serves it (admin)",
            jwks,
        )
        .add(
            Verb::Get,
            "/api/v2/admin/doctor",
            "tern doctor's checks from inside the server: status, name, detail, fix (admin)",
            doctor,
        )
}

fn key_doc(k: &ManagedKey) -> r::SigningKey {
    Resource::new(
        k.kid.clone(),
        r::SigningKeyAttributes {
            algorithm: k.algorithm.clone(),
            state: k.state.as_str().to_owned(),
            created_at: docs::time(k.created_at),
            activates_at: docs::time(k.activates_at),
            retired_at: k.retired_at.map(docs::time),
            publish_until: k.publish_until.map(docs::time),
        },
        NoRelationships {},
    )
}

impl From<KeysError> for ApiError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Store(s) => s.into(),
            e @ (KeysError::TooSoon { .. } | KeysError::TooLate { .. }) => {
                ApiError::invalid("/data/attributes/activate-in", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "managed keys");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "key ring error", other.to_string())
            }
        }
    }
}

async fn list(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    let keys = app::keys::list(&s, &caller).await?;
    Ok(docs::one(keys.iter().map(key_doc).collect::<Vec<_>>()))
}

async fn rotate(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    // Who may is decided before the body is read.
    app::keys::managed(&s, &caller)?;
    let activate_in = if body.is_empty() {
        None
    } else {
        match Doc::parse(&body, "signing-keys")?.integer("activate-in")? {
            Some(n) if n >= 0 => Some(Duration::from_secs(n.unsigned_abs())),
            Some(_) => {
                return Err(ApiError::invalid(
                    "/data/attributes/activate-in",
                    "activate-in must not be negative",
                ));
            }
            None => None,
        }
    };
    let key = app::keys::rotate(&s, &caller, activate_in).await?;
    Ok(docs::created(key_doc(&key)))
}

async fn retire(
    State(s): State<ApiState>,
    caller: Caller,
    Path(kid): Path<String>,
    body: Bytes,
) -> ApiResult {
    app::keys::managed(&s, &caller)?;
    let unpublish = if body.is_empty() {
        false
    } else {
        Doc::parse(&body, "signing-keys")?.boolean("unpublish")?.unwrap_or(false)
    };
    let list = app::keys::retire(&s, &caller, &kid, unpublish).await?;
    Ok(docs::one(list.iter().map(key_doc).collect::<Vec<_>>()))
}

/// The issuer's public JWKS, exactly as `/.well-known/jwks` serves it (a private issuer uploads
/// it to the cloud).
async fn jwks(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    let body = app::keys::jwks(&s, &caller)?;
    Ok(([(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")], body).into_response())
}

/// `GET /api/v2/admin/doctor`: the findings /app/admin/doctor shows, for monitoring. `ok` is
/// false when any check failed (a warning leaves it true).
async fn doctor(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    let findings = app::doctor::run(&s, &caller).await?;
    let ok = findings.iter().all(|f| f.status != crate::doctor::Status::Fail);
    let list: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({"name": f.name, "status": f.status.word(), "detail": f.detail, "fix": f.fix})
        })
        .collect();
    let body = serde_json::json!({"ok": ok, "findings": list}).to_string();
    Ok(([(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")], body).into_response())
}
