//! The TFE-compatible API (`/api/v2`, JSON:API) and tern's agent API (`/api/agent`).
//!
//! Every endpoint here needs a bearer token ([`auth`]). Handlers parse and check input, ask the
//! store, and render JSON:API documents ([`docs`]); the store owns the rules. Errors are JSON:API
//! error objects whose `detail` says what to change.

pub(crate) mod access;
mod admin;
mod agent;
mod auth;
mod docs;
mod error;
mod openapi;
mod pools;
mod table;
pub(crate) mod teams;
mod tokens;
mod trail;
mod user;
mod users;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tern_identity::{ClaimPolicy, KeyRing};
use tern_store::Store;
use tern_types::{Clock, IssuerUrl, Ttl};
use tokio::sync::Notify;

pub use agent::JobScopes;
pub use auth::{Caller, Memo};
pub use error::ApiError;
pub use openapi::ENDPOINTS;
pub use table::{Endpoint, Verb};
pub(crate) use tokens::audit_details as token_audit_details;

/// Entry points for the fuzz targets in `fuzz/` (not an API: hidden, may change at any time).
#[doc(hidden)]
pub mod fuzzing {
    use super::{agent, docs::Doc, docs::id_list, user};

    /// Decode `body` as every request document the API takes, the way the handlers do, before
    /// any store access. Returns how many decodings succeeded; errors must render as text.
    pub fn decode_request_documents(body: &[u8]) -> usize {
        let mut ok = 0;
        let mut seen = |r: Result<(), super::ApiError>| match r {
            Ok(()) => ok += 1,
            Err(e) => {
                // Every refusal is a 4xx with a detail, rendered as the handlers render it.
                assert!(e.status.is_client_error() && !e.detail.is_empty(), "{e:?}");
                drop(axum::response::IntoResponse::into_response(e));
            }
        };
        for kind in [
            "organizations",
            "projects",
            "workspaces",
            "vars",
            "varsets",
            "runs",
            "state-versions",
            "agent-pools",
            "agent-tokens",
        ] {
            seen(Doc::parse(body, kind).and_then(|doc| {
                user::workspace_settings(&doc)?;
                user::variable_input(&doc)?;
                doc.relationship("workspace")?;
                doc.required("name")?;
                doc.integer("serial")?;
                Ok(())
            }));
        }
        seen(id_list(body, "workspaces").map(drop));
        seen(agent::parse::<tern_protocol::agent::ClaimRequest>(body).map(drop));
        seen(agent::parse::<tern_protocol::agent::MintRequest>(body).map(drop));
        seen(agent::parse::<tern_protocol::agent::FinishRequest>(body).map(drop));
        seen(
            tern_store::parse_state(body).map(drop).map_err(|e| super::ApiError::bad_request(e.to_string())),
        );
        ok
    }
}

/// Limits on what clients send.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// JSON request bodies.
    pub max_json_bytes: usize,
    /// Configuration uploads (compressed).
    pub max_upload_bytes: usize,
    /// Configuration contents (unpacked) and entry count.
    pub archive: tern_archive::Limits,
    /// One log upload.
    pub max_log_chunk_bytes: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_json_bytes: 1024 * 1024,
            max_upload_bytes: 100 * 1024 * 1024,
            archive: tern_archive::Limits::default(),
            max_log_chunk_bytes: 1024 * 1024,
        }
    }
}

/// What signs job tokens. The key ring can be replaced while serving (rotation).
pub struct Signer {
    /// Current ring: the signing key and the published keys.
    pub ring: ArcSwap<KeyRing>,
    /// `iss`.
    pub issuer: IssuerUrl,
    /// Claim profile and subject template.
    pub policy: ClaimPolicy,
    /// Longest lifetime a job may ask for.
    pub max_ttl: Ttl,
}

/// Everything the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: Store,
    /// Signs job tokens.
    pub signer: Arc<Signer>,
    /// The clock tokens are minted with.
    pub clock: Arc<dyn Clock>,
    /// Base URL clients reach the API at (for upload and log URLs), no trailing slash.
    pub public_url: String,
    /// Input limits.
    pub limits: ApiLimits,
    /// How long a claimed job stays the agent's without a heartbeat.
    pub job_lease: Duration,
    /// Wakes agents waiting for a job when one is queued here.
    pub jobs_queued: Arc<Notify>,
    /// The managed key ring (None: static key files).
    pub keys: Option<Arc<crate::keys::ManagedKeys>>,
    /// The audit trail.
    pub audit: crate::audit::Auditor,
    /// Job tokens' scopes, remembered by the mint endpoint (each replica its own).
    pub job_scopes: Arc<JobScopes>,
    /// How people sign in (identity provider, session lifetimes).
    pub signin: Arc<crate::web::SignIn>,
}

/// Where an audited action happened: organization, workspace, run (each when there is one).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) organization: Option<&'a str>,
    pub(crate) workspace: Option<&'a str>,
    pub(crate) run: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// A workspace of an organization.
    pub(crate) fn workspace(ws: &'a tern_store::Workspace) -> Self {
        Self { organization: Some(&ws.organization_id), workspace: Some(&ws.id), run: None }
    }

    /// A run of a workspace.
    pub(crate) fn run(ws: &'a tern_store::Workspace, run: &'a str) -> Self {
        Self { run: Some(run), ..Self::workspace(ws) }
    }
}

impl ApiState {
    /// What `caller` did, as an event to record in the transaction of the act itself (the
    /// store's functions that take one). `details` must hold no secret.
    pub(crate) fn event(
        caller: &Caller,
        action: &str,
        scope: Scope<'_>,
        details: serde_json::Value,
    ) -> tern_store::AuditInput {
        let (actor, kind) = caller.actor();
        Self::input(actor, kind, action, scope, details)
    }

    /// An event of `actor` (of `actor_kind`), not yet recorded.
    pub(crate) fn input(
        actor: &str,
        actor_kind: &str,
        action: &str,
        scope: Scope<'_>,
        details: serde_json::Value,
    ) -> tern_store::AuditInput {
        tern_store::AuditInput {
            organization_id: scope.organization.map(str::to_owned),
            actor: actor.to_owned(),
            actor_kind: actor_kind.to_owned(),
            action: action.to_owned(),
            workspace_id: scope.workspace.map(str::to_owned),
            run_id: scope.run.map(str::to_owned),
            details,
        }
    }

    /// The answer when the audit trail cannot record an action: the action's answer is withheld.
    pub(crate) fn audit_unavailable(&self, e: &crate::audit::AuditError) -> ApiError {
        // The cause (a database error) goes to the log, as for every storage error.
        tracing::error!(error = %e, "audit trail");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "audit trail unavailable",
            format!(
                "tern could not record {} in the audit trail, so it did not answer; the server log has the cause",
                e.action
            ),
        )
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("public_url", &self.public_url).finish_non_exhaustive()
    }
}

/// The TFE API version tern implements, announced as TFE does (`TFP-API-Version`), which
/// Terraform's `remote` backend reads to decide which calls it may make.
async fn api_version(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert("tfp-api-version", axum::http::HeaderValue::from_static("2.5"));
    response
}

/// A method a path does not take: a JSON:API error that says so (an empty 405 reaches SDK
/// users as a bare "HTTP 405"), naming the TFE feature when it is one tern lacks.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    let detail = match unsupported_feature(method.as_str(), uri.path()) {
        Some(feature) => format!("tern does not support {feature}"),
        None => format!(
            "tern does not support {method} {} (yet); GET /api/v2/openapi.json lists what it supports",
            uri.path()
        ),
    };
    axum::response::IntoResponse::into_response(ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        detail,
    ))
}

/// TFE API features tern does not have, by the request that reaches for them: what the answer
/// names (with what to do instead), so that an SDK user reads more than "not found". `*` is
/// one path segment.
const UNSUPPORTED: &[(&str, &str, &str)] = &[
    (
        "*",
        "/api/v2/workspaces/*/tag-bindings",
        "tag bindings (key/value tags) yet; use tags: tag-names, or relationships/tags",
    ),
    (
        "*",
        "/api/v2/workspaces/*/effective-tag-bindings",
        "tag bindings (key/value tags) yet; use tags: tag-names, or relationships/tags",
    ),
    ("*", "/api/v2/projects/*/tag-bindings", "tag bindings (key/value tags) yet; tag the workspaces instead"),
    (
        "*",
        "/api/v2/projects/*/effective-tag-bindings",
        "tag bindings (key/value tags) yet; tag the workspaces instead",
    ),
    (
        "PATCH",
        "/api/v2/workspaces/*/state-versions",
        "state rollback yet; download the old version and push it with `terraform state push`",
    ),
    (
        "*",
        "/api/v2/runs/*/actions/force-cancel",
        "force-cancel: cancel the run (actions/cancel); tern interrupts Terraform and kills it after the grace period",
    ),
    ("*", "/api/v2/runs/*/actions/force-execute", "force-execute: tern runs the queue in order"),
    ("*", "/api/v2/runs/*/policy-checks", "policy checks (Sentinel/OPA)"),
    ("*", "/api/v2/runs/*/task-stages", "run tasks"),
    ("*", "/api/v2/runs/*/cost-estimate", "cost estimation"),
    ("*", "/api/v2/cost-estimates/*", "cost estimation"),
    (
        "*",
        "/api/v2/organizations/*/organization-memberships",
        "organization memberships (a user is in an organization through its teams: POST /api/v2/teams/{id}/relationships/users)",
    ),
    (
        "*",
        "/api/v2/teams/*/relationships/organization-memberships",
        "organization memberships (add users by username: POST /api/v2/teams/{id}/relationships/users)",
    ),
    (
        "*",
        "/api/v2/organization-memberships/*",
        "organization memberships (a user is in an organization through its teams)",
    ),
    ("*", "/api/v2/organizations/*/oauth-clients", "VCS connections (oauth-clients) yet"),
    ("*", "/api/v2/organizations/*/policy-sets", "policy sets"),
    ("*", "/api/v2/organizations/*/registry-modules", "a private module registry"),
    ("*", "/api/v2/organizations/*/registry-providers", "a private provider registry"),
    ("*", "/api/v2/workspaces/*/notification-configurations", "notification configurations yet"),
    (
        "*",
        "/api/v2/workspaces/*/relationships/remote-state-consumers",
        "remote state consumers: any token of the organization may read a workspace's outputs",
    ),
    ("*", "/api/v2/workspaces/*/relationships/ssh-key", "SSH keys for modules"),
];

/// The feature a request reaches for that tern does not have (see [`UNSUPPORTED`]).
pub(crate) fn unsupported_feature(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    UNSUPPORTED.iter().find_map(|(m, pattern, feature)| {
        let pattern: Vec<&str> = pattern.split('/').collect();
        let matches = (*m == "*" || *m == method)
            && pattern.len() == segments.len()
            && pattern.iter().zip(&segments).all(|(p, s)| *p == "*" || p == s);
        matches.then_some(*feature)
    })
}

/// Every TFE feature tern answers "not supported" for, with its request pattern (for the API
/// coverage table in the docs).
pub fn unsupported_features() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    UNSUPPORTED.iter().copied()
}

/// The endpoint table: every module adds its endpoints, and the router and the listing come
/// out of it together.
fn table(limits: ApiLimits) -> (Router<ApiState>, Vec<Endpoint>) {
    let t = table::Table::new();
    let t = user::endpoints(t, limits);
    let t = agent::endpoints(t, limits);
    let t = pools::endpoints(t);
    let t = tokens::endpoints(t);
    let t = trail::endpoints(t);
    let t = teams::endpoints(t);
    let t = users::endpoints(t);
    let t = openapi::endpoints(t);
    admin::endpoints(t).into_parts()
}

/// The API routes, to be merged into the server's router.
pub fn router(state: ApiState) -> Router {
    let limits = state.limits;
    table(limits)
        .0
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        .layer(axum::middleware::map_response(api_version))
        .with_state(state.clone())
        .merge(crate::ui::router(state))
}

#[cfg(test)]
mod docs_golden;
