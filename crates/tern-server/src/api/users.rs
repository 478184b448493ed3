//! Users and their tokens, in TFE's shapes (`users`, `authentication-tokens`): the account of
//! the token's holder, a user's own tokens, and the administrators' list of users (with tern's
//! own `POST /api/v2/admin/users`, so that the first users exist before any identity provider
//! is configured); and tern's `sessions`: a person's browser sessions, listed and ended by
//! themselves (`/api/v2/account/sessions`) or an administrator.
//!
//! These handlers parse and render; `app::users` decides who may and records what was done.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tern_protocol::jsonapi::{NoRelationships, Resource};
use tern_protocol::resources as r;
use tern_store::User;

use super::docs::{self, Doc};
use super::table::{Table, Verb};
use super::{ApiError, ApiState, Caller};
use crate::app::users::{self as app, Account, ListedSession};

type ApiResult = Result<Response, ApiError>;

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(
        Verb::Get,
        "/api/v2/account/details",
        "The account of the token's holder (a user; other tokens: a service account)",
        account,
    )
    .add(Verb::Get, "/api/v2/users/{id}", "Show a user (yourself; administrators: anyone)", show_user)
    .add(
        Verb::Get,
        "/api/v2/users/{id}/authentication-tokens",
        "List a user's tokens (yourself; administrators: anyone)",
        list_user_tokens,
    )
    .add(
        Verb::Post,
        "/api/v2/users/{id}/authentication-tokens",
        "Create a user token (shown once; yourself, or an administrator for anyone)",
        create_user_token,
    )
    .add(
        Verb::Get,
        "/api/v2/admin/users",
        "List users (admin; q: part of the username or email, filter[admin])",
        list_users,
    )
    .add(
        Verb::Post,
        "/api/v2/admin/users",
        "Create a user (admin; tern's, for users before sign-in)",
        create_user,
    )
    .add(Verb::Delete, "/api/v2/admin/users/{id}", "Delete a user and their tokens (admin)", delete_user)
    .add(
        Verb::Post,
        "/api/v2/admin/users/{id}/actions/grant_admin",
        "Make a user an administrator of the installation (admin)",
        grant_admin,
    )
    .add(
        Verb::Post,
        "/api/v2/admin/users/{id}/actions/sign_out",
        "End every web session of a user, on every replica (admin; their tokens remain)",
        sign_out_user,
    )
    .add(
        Verb::Post,
        "/api/v2/admin/users/{id}/actions/revoke_admin",
        "Make a user no longer an administrator (admin)",
        revoke_admin,
    )
    .add(
        Verb::Get,
        "/api/v2/account/sessions",
        "Your browser sessions, newest first (a user's token; tern's)",
        list_own_sessions,
    )
    .add(
        Verb::Delete,
        "/api/v2/account/sessions/{id}",
        "End one of your browser sessions, on every replica (a user's token; tern's)",
        end_own_session,
    )
    .add(
        Verb::Get,
        "/api/v2/admin/users/{id}/sessions",
        "List a user's browser sessions, newest first (admin)",
        list_sessions,
    )
    .add(
        Verb::Delete,
        "/api/v2/admin/users/{id}/sessions/{session}",
        "End one browser session of a user, on every replica (admin; their tokens remain)",
        end_session,
    )
}

/// A user as the API shows them.
pub(crate) fn user_doc(u: &User) -> r::User {
    service_or_user(&u.id, &u.username, &u.email, u.site_admin, false)
}

fn service_or_user(id: &str, username: &str, email: &str, admin: bool, service: bool) -> r::User {
    Resource::new(
        id.to_owned(),
        r::UserAttributes {
            username: username.to_owned(),
            email: email.to_owned(),
            is_service_account: service,
            is_admin: admin,
            is_site_admin: admin,
            avatar_url: String::new(),
            two_factor: r::TwoFactor::default(),
            permissions: r::UserPermissions {
                can_create_organizations: admin,
                can_create_organization: admin,
                can_change_email: false,
                can_change_username: false,
                can_manage_user_tokens: !service,
            },
        },
        NoRelationships {},
    )
    .with_self_link(format!("/api/v2/users/{id}"))
}

/// Who the token belongs to: a user, or (as TFE answers) a service account named after the
/// token — `terraform login` shows this name when it greets.
async fn account(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    Ok(docs::one(match app::account(&s, &caller).await? {
        Account::Person(u) => user_doc(&u),
        Account::Service { id, name, admin } => service_or_user(&id, &name, "", admin, true),
    }))
}

async fn show_user(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(user_doc(&app::show(&s, &caller, &id).await?)))
}

async fn list_user_tokens(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (_, tokens) = app::tokens(&s, &caller, &id).await?;
    Ok(docs::single_page(tokens.iter().map(|t| super::tokens::token_doc(t, None)).collect()))
}

async fn create_user_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let now = s.store.unix_now();
    let (created, secret) = app::create_token(&s, &caller, &id, || {
        let doc = if body.is_empty() {
            None
        } else {
            Some(Doc::parse(&body, "authentication-tokens").or_else(|_| Doc::parse_untyped(&body))?)
        };
        let description = doc.as_ref().map(|d| d.string("description")).transpose()?.flatten();
        let expires_at = super::tokens::expiry(doc.as_ref(), now)?;
        Ok(app::NewToken { description, expires_at })
    })
    .await?;
    Ok(docs::created(super::tokens::token_doc(&created, Some(secret))))
}

async fn list_users(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let paged = app::list(&s, &caller, || {
        super::user::check_query(&q, &["q", "filter[admin]"])?;
        let admin = match q.get("filter[admin]").map(String::as_str) {
            None | Some("") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "filter[admin] must be true or false, not {other:?}"
                )));
            }
        };
        let search = q.get("q").filter(|v| !v.is_empty()).cloned();
        Ok((app::UserFilter { search, admin }, docs::page(&q)?))
    })
    .await?;
    Ok(docs::list(&paged, "/api/v2/admin/users", user_doc))
}

async fn create_user(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    let u = app::create(&s, &caller, || {
        let doc = Doc::parse(&body, "users")?;
        Ok(app::NewUser {
            username: doc.required("username")?,
            email: doc.string("email")?.unwrap_or_default(),
            admin: doc.boolean("is-admin")?.unwrap_or(false),
            // tern's: who this user is at the identity provider (`<issuer>#<sub>`).
            identity: doc.string("identity")?,
        })
    })
    .await?;
    Ok(docs::created(user_doc(&u)))
}

async fn delete_user(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    app::delete(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sign a user out of every browser (their API tokens remain). Answers the user, and in `meta`
/// how many sessions ended.
async fn sign_out_user(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (u, ended) = app::sign_out(&s, &caller, &id).await?;
    let doc = serde_json::json!({"data": user_doc(&u), "meta": {"sessions-ended": ended}});
    Ok(docs::respond(StatusCode::OK, &doc))
}

async fn grant_admin(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(user_doc(&app::set_admin(&s, &caller, &id, true).await?)))
}

async fn revoke_admin(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(user_doc(&app::set_admin(&s, &caller, &id, false).await?)))
}

// ---------------------------------------------------------------- browser sessions

/// A session as the API shows it (`self` under the path it was listed at): its public id and
/// times, never its secret.
pub(crate) fn session_doc(user_id: &str, listed: &ListedSession, base: &str) -> r::Session {
    let s = &listed.session;
    Resource::new(
        s.id.clone(),
        r::SessionAttributes {
            created_at: docs::time(s.created_at),
            last_seen_at: docs::time(s.last_seen_at),
            expires_at: docs::time(s.expires_at),
            current: listed.current,
        },
        r::SessionRelationships { user: docs::rel(Some(user_id), "users") },
    )
    .with_self_link(format!("{base}/{}", s.id))
}

async fn list_own_sessions(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    let (me, sessions) = app::own_sessions(&s, &caller).await?;
    let base = "/api/v2/account/sessions";
    Ok(docs::single_page(sessions.iter().map(|l| session_doc(&me.id, l, base)).collect()))
}

async fn end_own_session(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    app::end_own_session(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_sessions(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (u, sessions) = app::sessions(&s, &caller, &id).await?;
    let base = format!("/api/v2/admin/users/{}/sessions", u.id);
    Ok(docs::single_page(sessions.iter().map(|l| session_doc(&u.id, l, &base)).collect()))
}

async fn end_session(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, session)): Path<(String, String)>,
) -> ApiResult {
    app::end_session(&s, &caller, &id, &session).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
