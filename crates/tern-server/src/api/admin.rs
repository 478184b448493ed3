//! Installation administration: the managed signing keys.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tern_protocol::jsonapi::{NoRelationships, Resource};
use tern_protocol::resources as r;
use tern_store::ManagedKey;

use super::docs::{self, Doc};
use super::table::{Table, Verb};
use super::{ApiError, ApiState, Caller};
use crate::keys::{KeysError, ManagedKeys};

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
            e @ KeysError::TooSoon { .. } => ApiError::invalid("/data/attributes/activate-in", e.to_string()),
            other => {
                tracing::error!(error = %other, "managed keys");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "key ring error", other.to_string())
            }
        }
    }
}

fn managed<'a>(s: &'a ApiState, caller: &Caller) -> Result<&'a ManagedKeys, ApiError> {
    caller.check_admin()?;
    s.keys.as_deref().ok_or_else(|| {
        ApiError::conflict(
            "this server signs with key files (--signing-key); rotate them by restarting with the next key listed second (see `tern serve --help`), or start it with --managed-keys",
        )
    })
}

async fn list(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    let keys = managed(&s, &caller)?.list().await?;
    Ok(docs::one(keys.iter().map(key_doc).collect::<Vec<_>>()))
}

async fn rotate(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    let keys = managed(&s, &caller)?;
    let lead = if body.is_empty() {
        keys.rotation().lead
    } else {
        match Doc::parse(&body, "signing-keys")?.integer("activate-in")? {
            Some(n) if n >= 0 => Duration::from_secs(n.unsigned_abs()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "/data/attributes/activate-in",
                    "activate-in must not be negative",
                ));
            }
            None => keys.rotation().lead,
        }
    };
    let key = keys.rotate(s.store.unix_now(), lead).await?;
    let details =
        serde_json::json!({ "kid": key.kid, "algorithm": key.algorithm, "activates-at": key.activates_at });
    s.audit(&caller, "key.rotated", super::Scope::default(), details).await?;
    Ok(docs::created(key_doc(&key)))
}

async fn retire(
    State(s): State<ApiState>,
    caller: Caller,
    Path(kid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let keys = managed(&s, &caller)?;
    let unpublish = if body.is_empty() {
        false
    } else {
        Doc::parse(&body, "signing-keys")?.boolean("unpublish")?.unwrap_or(false)
    };
    keys.retire(s.store.unix_now(), &kid, unpublish).await?;
    let details = serde_json::json!({ "kid": kid, "unpublished": unpublish });
    s.audit(&caller, "key.retired", super::Scope::default(), details).await?;
    let list = keys.list().await?;
    Ok(docs::one(list.iter().map(key_doc).collect::<Vec<_>>()))
}
