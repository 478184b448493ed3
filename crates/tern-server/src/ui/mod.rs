//! The web UI: server-rendered pages (askama templates, checked at compile time) under
//! TFE's URL layout (`/app/{org}/workspaces/{ws}/runs/{run}`), so the links Terraform prints
//! open here. Every page is a signed-in person's view through the application layer
//! (`crate::app`), which decides exactly as the API does; a handler here parses the request,
//! calls it, and renders. Forms that change something carry the session's CSRF token and are
//! refused from another origin (`web::check_csrf`). Pages work without JavaScript.

/// `Ok(value)`, or the failure page for the application layer's refusal (`failure` must be
/// in scope where it is used).
macro_rules! or_page {
    ($nav:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return failure($nav, &e),
        }
    };
}

mod admin;
mod ansi;
pub(crate) mod assets;
mod credentials;
mod organization;
mod pages;
mod settings;
mod state;
mod varsets;

pub(crate) use pages::{PageQuery, Pager, page_of, pager};

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use tern_store::{RunStatus, Token, TokenKind, User};

use crate::api::{ApiError, ApiState, Caller, Memo};
use crate::web;

/// The pages (merged with the sign-in routes of [`web`]).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/app/assets/{name}", get(assets::serve))
        .route("/app/admin/doctor", get(admin::doctor))
        .route("/app/admin/keys", get(admin::keys))
        .route("/app/admin/keys/rotate", post(admin::rotate))
        .route("/app/admin/keys/retire", post(admin::retire))
        .route("/app/admin/keys/jwks.json", get(admin::jwks))
        .route("/app/{org}", get(pages::organization))
        .route("/app/{org}/workspaces", get(pages::workspaces))
        .route("/app/{org}/settings", get(organization::index))
        .route("/app/{org}/settings/audit-trail", get(organization::trail))
        .route("/app/{org}/settings/tokens", get(organization::tokens).post(organization::create_token))
        .route("/app/{org}/settings/tokens/{id}/revoke", post(organization::revoke_token))
        .route("/app/{org}/settings/teams", get(organization::teams).post(organization::create_team))
        .route("/app/{org}/settings/teams/{team}", get(organization::team).post(organization::update_team))
        .route("/app/{org}/settings/teams/{team}/members", post(organization::change_members))
        .route("/app/{org}/settings/teams/{team}/delete", post(organization::delete_team))
        .route("/app/{org}/settings/teams/{team}/{kind}", post(organization::grant_access))
        .route("/app/{org}/settings/teams/{team}/{kind}/{id}", post(organization::change_access))
        .route("/app/{org}/settings/varsets", get(varsets::list).post(varsets::create))
        .route("/app/{org}/settings/varsets/{id}", get(varsets::show).post(varsets::update))
        .route("/app/{org}/settings/varsets/{id}/delete", post(varsets::delete))
        .route("/app/{org}/settings/varsets/{id}/variables", post(varsets::add_variable))
        .route("/app/{org}/settings/varsets/{id}/variables/{var}", post(varsets::change_variable))
        .route("/app/{org}/settings/varsets/{id}/scope", post(varsets::change_scope))
        .route("/app/{org}/settings/agents", get(organization::agents))
        .route("/app/{org}/workspaces/{ws}", get(pages::workspace))
        .route("/app/{org}/workspaces/{ws}/runs", get(pages::runs))
        .route("/app/{org}/workspaces/{ws}/variables", get(pages::variables).post(pages::add_variable))
        .route("/app/{org}/workspaces/{ws}/variables/{var}", post(pages::change_variable))
        .route("/app/{org}/workspaces/{ws}/states", get(state::list))
        .route("/app/{org}/workspaces/{ws}/states/{sv}", get(state::compare))
        .route("/app/{org}/workspaces/{ws}/states/{sv}/download", get(state::download))
        .route("/app/{org}/workspaces/{ws}/settings", get(settings::settings).post(settings::save))
        .route("/app/{org}/workspaces/{ws}/settings/lock", post(settings::lock))
        .route("/app/{org}/workspaces/{ws}/settings/delete", post(settings::delete))
        .route("/app/{org}/workspaces/{ws}/credentials", get(credentials::credentials))
        .route("/app/{org}/workspaces/{ws}/credentials/check", post(credentials::check))
        .route("/app/{org}/workspaces/{ws}/runs/{run}", get(pages::run))
        .route("/app/{org}/workspaces/{ws}/runs/{run}/actions", post(pages::run_action))
        .route("/app/{org}/workspaces/{ws}/runs/{run}/events", get(pages::run_events))
        // The link Terraform prints ("To view this run in a browser, visit: …").
        .route("/app/{org}/{ws}/runs/{run}", get(pages::printed_run_link))
        .with_state(state)
}

/// What the header of every signed-in page shows.
#[derive(Debug, Clone)]
pub(crate) struct Nav {
    pub(crate) username: String,
    pub(crate) csrf: String,
    pub(crate) org: Option<String>,
    /// Shows the Admin link (a site administrator).
    pub(crate) site_admin: bool,
}

/// The signed-in person looking at a page.
#[derive(Debug)]
pub(crate) struct Viewer {
    /// Who the application layer sees: the person, as their user token would be.
    pub(crate) caller: Caller,
    pub(crate) nav: Nav,
    /// The session cookie's secret (CSRF tokens are bound to it).
    secret: String,
}

/// The person signed in with this browser, or a redirect to the sign-in page that comes back
/// to `uri`.
pub(crate) async fn viewer(s: &ApiState, headers: &HeaderMap, uri: &Uri) -> Result<Viewer, Response> {
    let (session, user, secret) = match web::session_of(s, headers).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            let here = uri.path_and_query().map_or("/app", |p| p.as_str());
            let query =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", here).finish();
            return Err(web::redirect(&format!("/app/sign-in?{query}")));
        }
        Err(r) => return Err(*r),
    };
    let nav = Nav {
        username: user.username.clone(),
        csrf: web::csrf_for(s, &secret),
        org: None,
        site_admin: user.site_admin,
    };
    Ok(Viewer { caller: Caller::User(session_token(&session, &user), user, Memo::default()), nav, secret })
}

/// A page handler's signed-in person: extracting it redirects anyone else to sign in (and back).
impl axum::extract::FromRequestParts<ApiState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        viewer(state, &parts.headers, &parts.uri).await
    }
}

impl Viewer {
    /// Refuse a form without this session's CSRF token or from another origin.
    pub(crate) fn check_form(
        &self,
        s: &ApiState,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<(), Box<Response>> {
        web::check_csrf(s, headers, Some(&self.secret), csrf)
    }
}

/// A session acts as its user: the application layer sees the user, with the session's id
/// where a token's would be (it names nothing a token list shows).
fn session_token(session: &tern_store::Session, user: &User) -> Token {
    Token {
        id: session.id.clone(),
        kind: TokenKind::User,
        organization_id: None,
        job_id: None,
        agent_pool_id: None,
        user_id: Some(user.id.clone()),
        team_id: None,
        created_by: None,
        description: "browser session".to_owned(),
        expires_at: Some(session.expires_at),
        created_at: session.created_at,
        last_used_at: Some(session.last_seen_at),
    }
}

#[derive(Template)]
#[template(path = "failure.html")]
struct FailurePage<'a> {
    nav: &'a Nav,
    title: &'a str,
    detail: &'a str,
}

/// The application layer's refusal as a page: its status, and its words.
pub(crate) fn failure(nav: &Nav, e: &ApiError) -> Response {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Not now",
        s if s.is_client_error() => "Cannot do that",
        _ => "Something went wrong",
    };
    web::page(e.status, FailurePage { nav, title, detail: &e.detail }.render())
}

/// A status's colour class (the text always says the status too).
pub(crate) fn tone(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Applied | RunStatus::PlannedAndFinished => "ok",
        RunStatus::Errored => "bad",
        RunStatus::Canceled | RunStatus::Discarded => "neutral",
        RunStatus::Planning | RunStatus::Applying | RunStatus::Confirmed => "running",
        RunStatus::Pending | RunStatus::Planned | RunStatus::PlannedAndSaved => "waiting",
    }
}

/// A unix time as `(RFC 3339 for <time datetime>, "2026-12-07 02:30 UTC" to read)`.
pub(crate) fn when(unix: i64) -> (String, String) {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    let iso = humantime::format_rfc3339_seconds(at).to_string();
    let shown = format!("{} {} UTC", &iso[..10], &iso[11..16]);
    (iso, shown)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_utc_minutes() {
        assert_eq!(
            super::when(1_796_611_800),
            ("2026-12-07T02:50:00Z".to_owned(), "2026-12-07 02:50 UTC".to_owned())
        );
    }
}
