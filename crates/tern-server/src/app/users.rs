//! People's accounts: the account of a token's holder, a user shown, the users listed,
//! created, deleted and made (or no longer) administrators of the installation, a user's tokens
//! listed and created, and their browser sessions listed and ended — one at a time, all of
//! them at once, or all but the browser asking.
//!
//! Who may: a user acts on their own account (their tokens, their sessions); a site
//! administrator (the admin token, or a user with `site_admin`) acts on anyone's, and alone
//! lists, creates, deletes and signs out users and grants or revokes administration. Another
//! user's account does not exist for anyone else ("not found"); the administrators' actions
//! refuse everyone else (403, saying what they need). The TFE API's `users`,
//! `authentication-tokens`, `account/…` and `admin/users…` handlers call these functions, and
//! so does `tern user` (through those endpoints). Every change is in the audit trail by ids
//! and names: a session by its public id (`ses-…`), never its secret.
//!
//! What a request says is read (`input`) only once the caller is known to be allowed to be
//! there at all, so that a refusal never depends on what was sent.

use tern_store::{Page, Paged, Session, Token, User};
use tern_types::SecretString;

use crate::api::{ApiError, ApiState, Caller, Scope};

/// Whose account a token is.
#[derive(Debug)]
pub(crate) enum Account {
    /// A person's: the user.
    Person(User),
    /// A token that is nobody's (the admin, an organization's or a team's token): TFE answers a
    /// service account named after it, and `terraform login` greets that name.
    Service {
        /// The token's id.
        id: String,
        /// `api-admin`, `api-org-<organization>`, `api-team-<team>`.
        name: String,
        /// The admin token.
        admin: bool,
    },
}

/// The account of the caller (`GET /api/v2/account/details`); agent and job tokens have none.
pub(crate) async fn account(s: &ApiState, caller: &Caller) -> Result<Account, ApiError> {
    let service = |t: &Token, name: String, admin: bool| Account::Service { id: t.id.clone(), name, admin };
    Ok(match caller {
        Caller::User(_, u, _) => Account::Person(u.clone()),
        Caller::Admin(t) => service(t, "api-admin".to_owned(), true),
        Caller::Organization(t) => {
            let org = match &t.organization_id {
                Some(id) => s.store.organization_by_id(id).await?.name,
                None => String::new(),
            };
            service(t, format!("api-org-{org}"), false)
        }
        Caller::Team(t, _) => {
            let team = match &t.team_id {
                Some(id) => s.store.team(id).await?.name,
                None => String::new(),
            };
            service(t, format!("api-team-{team}"), false)
        }
        Caller::Agent(_) | Caller::Job(_) => {
            return Err(ApiError::forbidden("agent and job tokens work only on the agent API (/api/agent)"));
        }
    })
}

/// The person calling (a user's token, or their browser session), for what only a person has.
fn person(caller: &Caller) -> Result<&User, ApiError> {
    match caller {
        Caller::User(_, u, _) => Ok(u),
        _ => Err(ApiError::forbidden(
            "browser sessions are a person's: this needs a user's token (the admin, organization, team, agent and job tokens have none); an administrator lists a user's with GET /api/v2/admin/users/{id}/sessions",
        )),
    }
}

/// Whether `caller` is user `id` themselves.
fn is_self(caller: &Caller, id: &str) -> bool {
    matches!(caller, Caller::User(_, u, _) if u.id == id)
}

/// User `id`, if it is the caller or the caller administers the installation (else "not
/// found": another user's account does not exist for anyone else).
pub(crate) async fn show(s: &ApiState, caller: &Caller, id: &str) -> Result<User, ApiError> {
    if !is_self(caller, id) {
        caller.check_admin().map_err(|_| ApiError::not_found(format!("user {id:?} not found")))?;
    }
    Ok(s.store.user(id).await?)
}

/// Which users a list shows.
#[derive(Debug, Default)]
pub(crate) struct UserFilter {
    /// Part of the username or email.
    pub(crate) search: Option<String>,
    /// Administrators only (`Some(true)`), everyone else (`Some(false)`), or all.
    pub(crate) admin: Option<bool>,
}

/// The users of the installation, a page of them (administrators only).
pub(crate) async fn list(
    s: &ApiState,
    caller: &Caller,
    input: impl FnOnce() -> Result<(UserFilter, Page), ApiError>,
) -> Result<Paged<User>, ApiError> {
    caller.check_admin()?;
    let (filter, page) = input()?;
    Ok(s.store.list_users(filter.search.as_deref(), filter.admin, page).await?)
}

/// What the audit trail says of a user.
fn details(u: &User) -> serde_json::Value {
    serde_json::json!({"id": u.id, "username": u.username, "email": u.email, "is-admin": u.site_admin})
}

/// A user to create.
#[derive(Debug, Default)]
pub(crate) struct NewUser {
    pub(crate) username: String,
    pub(crate) email: String,
    /// An administrator of the installation.
    pub(crate) admin: bool,
    /// Who they are at the identity provider (`<issuer>#<sub>`): their first sign-in there
    /// reaches this user (a provider's username alone never does).
    pub(crate) identity: Option<String>,
}

/// Create a user (administrators only).
pub(crate) async fn create(
    s: &ApiState,
    caller: &Caller,
    input: impl FnOnce() -> Result<NewUser, ApiError>,
) -> Result<User, ApiError> {
    caller.check_admin()?;
    let new = input()?;
    let event = |u: &User| ApiState::event(caller, "user.created", Scope::default(), details(u));
    Ok(s.store
        .create_user_with_identity(&new.username, &new.email, new.admin, new.identity.as_deref(), event)
        .await?)
}

/// Delete user `id` and their tokens and sessions (administrators only; never themselves, so
/// that the last administrator cannot lock everyone out by mistake).
pub(crate) async fn delete(s: &ApiState, caller: &Caller, id: &str) -> Result<User, ApiError> {
    caller.check_admin()?;
    let u = s.store.user(id).await?;
    if is_self(caller, &u.id) {
        return Err(ApiError::conflict("you cannot delete yourself; another administrator can"));
    }
    let event = ApiState::event(caller, "user.deleted", Scope::default(), details(&u));
    s.store.delete_user(&u.id, &event).await?;
    Ok(u)
}

/// Make user `id` an administrator of the installation, or no longer one (administrators only).
pub(crate) async fn set_admin(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    admin: bool,
) -> Result<User, ApiError> {
    caller.check_admin()?;
    let action = if admin { "user.admin-granted" } else { "user.admin-revoked" };
    let event = |u: &User| ApiState::event(caller, action, Scope::default(), details(u));
    Ok(s.store.set_site_admin(id, admin, event).await?)
}

/// Sign user `id` out of every browser (administrators only): their sessions end (a page or
/// event stream of theirs stops within seconds, on every replica: sessions are rows, read on
/// every request); their API tokens are not touched. The user, and how many sessions ended.
pub(crate) async fn sign_out(s: &ApiState, caller: &Caller, id: &str) -> Result<(User, u64), ApiError> {
    caller.check_admin()?;
    let u = s.store.user(id).await?;
    let event = |ended: &u64| {
        let mut details = details(&u);
        details["sessions"] = serde_json::json!(ended);
        ApiState::event(caller, "user.signed-out", Scope::default(), details)
    };
    let ended = s.store.end_user_sessions(&u.id, event).await?;
    Ok((u, ended))
}

// ---------------------------------------------------------------- tokens

/// User `id`'s API tokens (themselves, or an administrator).
pub(crate) async fn tokens(s: &ApiState, caller: &Caller, id: &str) -> Result<(User, Vec<Token>), ApiError> {
    let u = show(s, caller, id).await?;
    let tokens = s.store.list_user_tokens(&u.id).await?;
    Ok((u, tokens))
}

/// A user token to create.
#[derive(Debug, Default)]
pub(crate) struct NewToken {
    /// `None`: "token of <username>".
    pub(crate) description: Option<String>,
    /// Unix seconds; `None`: it does not expire.
    pub(crate) expires_at: Option<i64>,
}

/// Create an API token for user `id` (themselves, or an administrator for anyone): the record
/// and the secret, which is shown this once.
pub(crate) async fn create_token(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    input: impl FnOnce() -> Result<NewToken, ApiError>,
) -> Result<(Token, SecretString), ApiError> {
    let u = show(s, caller, id).await?;
    let new = input()?;
    let description = new.description.unwrap_or_else(|| format!("token of {}", u.username));
    let event = |t: &Token| {
        let mut details = crate::api::token_audit_details(t);
        details["user"] = serde_json::Value::String(u.username.clone());
        ApiState::event(caller, "token.created", Scope::default(), details)
    };
    Ok(s.store.create_user_token(&u.id, &description, new.expires_at, event).await?)
}

// ---------------------------------------------------------------- browser sessions

/// A session as a list shows it: whether it is the one this very request came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedSession {
    pub(crate) session: Session,
    /// The caller's own session, this request's (a page of the web UI).
    pub(crate) current: bool,
}

/// The id a person's request acts with: a browser session acts with its session's id where a
/// token's would be (`ui::viewer`), a user token with its own; session and token ids never meet
/// (`ses-…`, `at-…`), so a token's id names no session.
fn current_session(caller: &Caller) -> Option<&str> {
    match caller {
        Caller::User(t, _, _) => Some(t.id.as_str()),
        _ => None,
    }
}

fn listed(caller: &Caller, sessions: Vec<Session>) -> Vec<ListedSession> {
    let current = current_session(caller);
    sessions
        .into_iter()
        .map(|session| ListedSession { current: current == Some(session.id.as_str()), session })
        .collect()
}

/// The caller's own live browser sessions, newest first (a person only: a user's token, or
/// their session).
pub(crate) async fn own_sessions(
    s: &ApiState,
    caller: &Caller,
) -> Result<(User, Vec<ListedSession>), ApiError> {
    let me = person(caller)?;
    let sessions = s.store.list_user_sessions(&me.id, s.signin.idle_s()).await?;
    Ok((me.clone(), listed(caller, sessions)))
}

/// End one of the caller's own sessions, by its id: on every replica, at its next request.
/// Another user's session (or none by that id) is "not found", and nothing changes. The
/// session ended, marked if it was the one this request came with (the browser asking is then
/// signed out).
pub(crate) async fn end_own_session(
    s: &ApiState,
    caller: &Caller,
    session: &str,
) -> Result<ListedSession, ApiError> {
    let me = person(caller)?.clone();
    let ended = end(s, caller, &me, session).await?;
    Ok(ListedSession { current: current_session(caller) == Some(ended.id.as_str()), session: ended })
}

/// Sign the caller out of every browser but the one asking ("sign out everywhere else"): every
/// session of theirs ends but the one this request came with (a user token's request came with
/// none: every session ends); their API tokens are not touched. How many ended; ending none
/// changes nothing and records nothing.
pub(crate) async fn end_other_sessions(s: &ApiState, caller: &Caller) -> Result<u64, ApiError> {
    let me = person(caller)?;
    let keep = current_session(caller).unwrap_or_default();
    let event = |ended: &u64| {
        let mut details = details(me);
        details["sessions"] = serde_json::json!(ended);
        if keep.starts_with("ses-") {
            details["kept"] = serde_json::Value::String(keep.to_owned());
        }
        ApiState::event(caller, "user.signed-out", Scope::default(), details)
    };
    Ok(s.store.end_user_sessions_except(&me.id, keep, event).await?)
}

/// User `id`'s live browser sessions, newest first (administrators only).
pub(crate) async fn sessions(
    s: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<(User, Vec<ListedSession>), ApiError> {
    caller.check_admin()?;
    let u = s.store.user(id).await?;
    let sessions = s.store.list_user_sessions(&u.id, s.signin.idle_s()).await?;
    Ok((u.clone(), listed(caller, sessions)))
}

/// End session `session` of user `id` (administrators only); a session that is not that
/// user's is "not found", and nothing changes.
pub(crate) async fn end_session(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    session: &str,
) -> Result<(User, Session), ApiError> {
    caller.check_admin()?;
    let u = s.store.user(id).await?;
    let ended = end(s, caller, &u, session).await?;
    Ok((u, ended))
}

/// End `u`'s session `session`, audited as the sign-out of one browser.
async fn end(s: &ApiState, caller: &Caller, u: &User, session: &str) -> Result<Session, ApiError> {
    let event = |ended: &Session| {
        let mut details = details(u);
        details["session"] = serde_json::Value::String(ended.id.clone());
        details["sessions"] = serde_json::json!(1);
        ApiState::event(caller, "user.signed-out", Scope::default(), details)
    };
    let ended = s.store.end_user_session(&u.id, session, event).await?.ok_or_else(|| {
        if is_self(caller, &u.id) {
            ApiError::not_found(format!("you have no session {session:?}"))
        } else {
            ApiError::not_found(format!("user {} has no session {session:?}", u.username))
        }
    })?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use tern_store::TokenKind;

    use super::*;
    use crate::api::Memo;

    fn token(id: &str, kind: TokenKind) -> Token {
        Token {
            id: id.to_owned(),
            kind,
            organization_id: None,
            job_id: None,
            agent_pool_id: None,
            user_id: Some("user-1".to_owned()),
            team_id: None,
            created_by: None,
            description: String::new(),
            expires_at: None,
            created_at: 0,
            last_used_at: None,
        }
    }

    fn session(id: &str) -> Session {
        Session {
            id: id.to_owned(),
            user_id: "user-1".to_owned(),
            created_at: 0,
            last_seen_at: 0,
            expires_at: 1,
        }
    }

    /// Only the session a page came with is the current one: a token is no session, and the
    /// admin token's id never names one.
    #[test]
    fn the_current_session_is_the_one_the_request_came_with() {
        let user = User {
            id: "user-1".to_owned(),
            username: "alice".to_owned(),
            email: String::new(),
            site_admin: false,
            created_at: 0,
        };
        let sessions = || vec![session("ses-a"), session("ses-b")];
        let current =
            |caller: &Caller| -> Vec<bool> { listed(caller, sessions()).iter().map(|l| l.current).collect() };
        // A page of the web UI: the session acts with its id where a token's would be.
        let page = Caller::User(token("ses-b", TokenKind::User), user.clone(), Memo::default());
        assert_eq!(current(&page), [false, true]);
        let api = Caller::User(token("at-1", TokenKind::User), user, Memo::default());
        assert_eq!(current(&api), [false, false]);
        let admin = Caller::Admin(token("ses-a", TokenKind::Admin));
        assert_eq!(current(&admin), [false, false]);
        assert!(person(&admin).is_err_and(|e| e.status == axum::http::StatusCode::FORBIDDEN));
    }
}
