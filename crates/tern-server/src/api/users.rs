//! Users and their tokens, in TFE's shapes (`users`, `authentication-tokens`): the account of
//! the token's holder, a user's own tokens, and the administrators' list of users (with tern's
//! own `POST /api/v2/admin/users`, so that the first users exist before any identity provider
//! is configured).

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
use super::{ApiError, ApiState, Caller, Scope};

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
    let doc = match &caller {
        Caller::User(_, u, _) => user_doc(u),
        Caller::Admin(t) => service_or_user(&t.id, "api-admin", "", true, true),
        Caller::Organization(t) => {
            let org = match &t.organization_id {
                Some(id) => s.store.organization_by_id(id).await?.name,
                None => String::new(),
            };
            service_or_user(&t.id, &format!("api-org-{org}"), "", false, true)
        }
        Caller::Team(t, _) => {
            let team = match &t.team_id {
                Some(id) => s.store.team(id).await?.name,
                None => String::new(),
            };
            service_or_user(&t.id, &format!("api-team-{team}"), "", false, true)
        }
        Caller::Agent(_) | Caller::Job(_) => {
            return Err(ApiError::forbidden("agent and job tokens work only on the agent API (/api/agent)"));
        }
    };
    Ok(docs::one(doc))
}

/// User `id`, if it is the caller or the caller administers the installation.
async fn load_user(s: &ApiState, caller: &Caller, id: &str) -> Result<User, ApiError> {
    let own = matches!(caller, Caller::User(_, u, _) if u.id == id);
    if !own {
        caller.check_admin().map_err(|_| ApiError::not_found(format!("user {id:?} not found")))?;
    }
    Ok(s.store.user(id).await?)
}

async fn show_user(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(user_doc(&load_user(&s, &caller, &id).await?)))
}

async fn list_user_tokens(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let u = load_user(&s, &caller, &id).await?;
    let tokens = s.store.list_user_tokens(&u.id).await?;
    Ok(docs::single_page(tokens.iter().map(|t| super::tokens::token_doc(t, None)).collect()))
}

async fn create_user_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let u = load_user(&s, &caller, &id).await?;
    let doc = if body.is_empty() {
        None
    } else {
        Some(Doc::parse(&body, "authentication-tokens").or_else(|_| Doc::parse_untyped(&body))?)
    };
    let description = doc.as_ref().map(|d| d.string("description")).transpose()?.flatten();
    let expires = super::tokens::expiry(doc.as_ref(), s.store.unix_now())?;
    let description = description.unwrap_or_else(|| format!("token of {}", u.username));
    let (created, secret) = s.store.create_user_token(&u.id, &description, expires).await?;
    let mut details = super::tokens::audit_details(&created);
    details["user"] = serde_json::Value::String(u.username.clone());
    s.audit(&caller, "token.created", Scope::default(), details).await?;
    Ok(docs::created(super::tokens::token_doc(&created, Some(secret))))
}

async fn list_users(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    caller.check_admin()?;
    super::user::check_query(&q, &["q", "filter[admin]"])?;
    let admin = match q.get("filter[admin]").map(String::as_str) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!("filter[admin] must be true or false, not {other:?}")));
        }
    };
    let search = q.get("q").map(String::as_str).filter(|v| !v.is_empty());
    let paged = s.store.list_users(search, admin, docs::page(&q)?).await?;
    Ok(docs::list(&paged, "/api/v2/admin/users", user_doc))
}

fn user_details(u: &User) -> serde_json::Value {
    serde_json::json!({"id": u.id, "username": u.username, "email": u.email, "is-admin": u.site_admin})
}

async fn create_user(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    caller.check_admin()?;
    let doc = Doc::parse(&body, "users")?;
    let username = doc.required("username")?;
    let email = doc.string("email")?.unwrap_or_default();
    let admin = doc.boolean("is-admin")?.unwrap_or(false);
    // tern's: who this user is at the identity provider (`<issuer>#<sub>`), so that their first
    // sign-in there reaches this user (a provider's username alone never does).
    let identity = doc.string("identity")?;
    let u = s.store.create_user_with_identity(&username, &email, admin, identity.as_deref()).await?;
    s.audit(&caller, "user.created", Scope::default(), user_details(&u)).await?;
    Ok(docs::created(user_doc(&u)))
}

async fn delete_user(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    caller.check_admin()?;
    let u = s.store.user(&id).await?;
    if matches!(&caller, Caller::User(_, me, _) if me.id == u.id) {
        return Err(ApiError::conflict("you cannot delete yourself; another administrator can"));
    }
    s.store.delete_user(&u.id).await?;
    s.audit(&caller, "user.deleted", Scope::default(), user_details(&u)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sign a user out of every browser: their sessions end (a page or event stream of theirs stops
/// within seconds, on every replica: sessions are rows, read on every request); their API
/// tokens are not touched (`tern token revoke` ends those). Answers the user, and in `meta`
/// how many sessions ended.
async fn sign_out_user(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    caller.check_admin()?;
    let u = s.store.user(&id).await?;
    let ended = s.store.end_user_sessions(&u.id).await?;
    let mut details = user_details(&u);
    details["sessions"] = serde_json::json!(ended);
    s.audit(&caller, "user.signed-out", Scope::default(), details).await?;
    let doc = serde_json::json!({"data": user_doc(&u), "meta": {"sessions-ended": ended}});
    Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/vnd.api+json")], doc.to_string())
        .into_response())
}

async fn set_admin(s: &ApiState, caller: &Caller, id: &str, admin: bool) -> ApiResult {
    caller.check_admin()?;
    let u = s.store.set_site_admin(id, admin).await?;
    let action = if admin { "user.admin-granted" } else { "user.admin-revoked" };
    s.audit(caller, action, Scope::default(), user_details(&u)).await?;
    Ok(docs::one(user_doc(&u)))
}

async fn grant_admin(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    set_admin(&s, &caller, &id, true).await
}

async fn revoke_admin(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    set_admin(&s, &caller, &id, false).await
}
