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

mod account;
mod admin;
mod ansi;
pub(crate) mod assets;
mod credentials;
mod organization;
mod pages;
mod settings;
mod state;
pub(crate) mod table;
mod varsets;

pub(crate) use pages::{PageQuery, Pager, page_of, pager};

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use tern_store::{RunStatus, Token, TokenKind, User};

use crate::api::{ApiError, ApiState, Caller, Memo};
use crate::web;

/// The browser's routes — these pages and forms, and the sign-in pages of [`web`] — all from
/// the one table ([`table::PAGES`]).
pub fn router(state: ApiState) -> Router {
    table().0.with_state(state)
}

/// The table: every route with what it needs ([`table::Needs`]) and what it does. Add a page
/// here (or in [`web::pages`]) and nowhere else: the router and the web authorization-matrix
/// test both come from this.
fn table() -> (Router<ApiState>, Vec<table::Page>) {
    use table::Needs::{Member, Organization as Org, Public, SignedIn, SiteAdmin, Workspace as Ws};
    use table::Permission as P;
    use table::WorkspaceLevel as L;
    let t = web::pages(table::Pages::new());
    t.get("/app/assets/{name}", Public, "The stylesheet and the script, by content-hashed name", assets::serve)
        .get("/app/account/sessions", SignedIn, "Your browser sessions, this one marked, each with End", account::sessions)
        .post(
            "/app/account/sessions/{id}/end",
            SignedIn,
            "End one of your sessions (another person's: not found; this browser's: signs it out)",
            account::end,
        )
        .post("/app/account/sessions/end-others", SignedIn, "End every session of yours but this browser's", account::end_others)
        .get("/app/admin/doctor", SiteAdmin, "`tern doctor`'s checks as this server sees itself", admin::doctor)
        .get("/app/admin/keys", SiteAdmin, "The signing keys, with Rotate and Retire", admin::keys)
        .post("/app/admin/keys/rotate", SiteAdmin, "Publish the next signing key", admin::rotate)
        .post("/app/admin/keys/retire", SiteAdmin, "Retire a signing key", admin::retire)
        .get("/app/admin/keys/jwks.json", SiteAdmin, "The public JWKS, as a download", admin::jwks)
        .get("/app/{org}", Public, "Redirect to the organization's workspaces (looks nothing up)", pages::organization)
        .get("/app/{org}/workspaces", Member, "The workspaces the caller may see, filtered", pages::workspaces)
        .get("/app/{org}/settings", Public, "Redirect to the first settings page (looks nothing up)", organization::index)
        .get("/app/{org}/settings/audit-trail", Org(P::Owners), "The audit trail, filtered", organization::trail)
        .get("/app/{org}/settings/tokens", Org(P::Owners), "The organization's API tokens", organization::tokens)
        .post(
            "/app/{org}/settings/tokens",
            Org(P::ManageTheToken),
            "Create an organization token (owners) or a team's (manage-teams; the owners team's: owners), shown once",
            organization::create_token,
        )
        .post(
            "/app/{org}/settings/tokens/{id}/revoke",
            Org(P::ManageTheToken),
            "Revoke an API token (a team's: manage-teams; an agent pool's: manage-agent-pools; the organization's and the owners team's: owners)",
            organization::revoke_token,
        )
        .get("/app/{org}/settings/teams", Member, "The teams", organization::teams)
        .post("/app/{org}/settings/teams", Org(P::ManageTeams), "Create a team (its permissions: manage-organization-access)", organization::create_team)
        .get("/app/{org}/settings/teams/{team}", Member, "A team: members, and its access the caller may see", organization::team)
        .post(
            "/app/{org}/settings/teams/{team}",
            Org(P::ManageTeams),
            "Rename a team (its organization permissions: manage-organization-access; the owners team: owners)",
            organization::update_team,
        )
        .post(
            "/app/{org}/settings/teams/{team}/members",
            Org(P::ManageMembership),
            "Add or remove a member (of the owners team: owners)",
            organization::change_members,
        )
        .post("/app/{org}/settings/teams/{team}/delete", Org(P::ManageTeams), "Delete a team (never owners)", organization::delete_team)
        .post(
            "/app/{org}/settings/teams/{team}/{kind}",
            Ws(L::Admin),
            "Give the team access to the workspace the form names (to a project: admin on it)",
            organization::grant_access,
        )
        .post(
            "/app/{org}/settings/teams/{team}/{kind}/{id}",
            Ws(L::Admin),
            "Change or remove the team's access to a workspace (to a project: admin on it)",
            organization::change_access,
        )
        .get("/app/{org}/settings/varsets", Org(P::ReadWorkspaces), "The variable sets", varsets::list)
        .post("/app/{org}/settings/varsets", Org(P::ManageWorkspaces), "Create a variable set", varsets::create)
        .get("/app/{org}/settings/varsets/{id}", Org(P::ReadWorkspaces), "A variable set, its variables and reach", varsets::show)
        .post("/app/{org}/settings/varsets/{id}", Org(P::ManageWorkspaces), "Rename a set, make it global or not", varsets::update)
        .post("/app/{org}/settings/varsets/{id}/delete", Org(P::ManageWorkspaces), "Delete a variable set", varsets::delete)
        .post("/app/{org}/settings/varsets/{id}/variables", Org(P::ManageWorkspaces), "Add a variable to a set", varsets::add_variable)
        .post(
            "/app/{org}/settings/varsets/{id}/variables/{var}",
            Org(P::ManageWorkspaces),
            "Change or delete a set's variable",
            varsets::change_variable,
        )
        .post(
            "/app/{org}/settings/varsets/{id}/scope",
            Org(P::ManageWorkspaces),
            "Apply a set to a workspace or project, or remove it",
            varsets::change_scope,
        )
        .get("/app/{org}/settings/agents", Member, "Agent pools, their agents and the workspaces the caller may see", organization::agents)
        .get("/app/{org}/workspaces/{ws}", Ws(L::Read), "A workspace's overview (outputs: read-outputs)", pages::workspace)
        .get("/app/{org}/workspaces/{ws}/runs", Ws(L::Read), "A workspace's runs", pages::runs)
        .get("/app/{org}/workspaces/{ws}/variables", Ws(L::Read), "Its variables and the sets that apply", pages::variables)
        .post("/app/{org}/workspaces/{ws}/variables", Ws(L::Write), "Add a variable", pages::add_variable)
        .post("/app/{org}/workspaces/{ws}/variables/{var}", Ws(L::Write), "Change or delete a variable", pages::change_variable)
        .get("/app/{org}/workspaces/{ws}/states", Ws(L::Read), "Its state versions", state::list)
        .get("/app/{org}/workspaces/{ws}/states/{sv}", Ws(L::Read), "A state version compared with another", state::compare)
        .get("/app/{org}/workspaces/{ws}/states/{sv}/download", Ws(L::Read), "A state version's file", state::download)
        .get("/app/{org}/workspaces/{ws}/settings", Ws(L::Read), "Its settings (forms only to those who may)", settings::settings)
        .post("/app/{org}/workspaces/{ws}/settings", Ws(L::Admin), "Change its settings", settings::save)
        .post(
            "/app/{org}/workspaces/{ws}/settings/lock",
            Ws(L::Write),
            "Lock or unlock it (force-unlock: admin)",
            settings::lock,
        )
        .post("/app/{org}/workspaces/{ws}/settings/delete", Ws(L::Admin), "Delete it, its name typed", settings::delete)
        .get("/app/{org}/workspaces/{ws}/credentials", Ws(L::Read), "Its dynamic credentials and trust", credentials::credentials)
        .post(
            "/app/{org}/workspaces/{ws}/credentials/check",
            Ws(L::Read),
            "Check a pasted trust document (nothing stored)",
            credentials::check,
        )
        .get("/app/{org}/workspaces/{ws}/runs/{run}", Ws(L::Read), "A run: timeline, plan, logs, its actions", pages::run)
        .post(
            "/app/{org}/workspaces/{ws}/runs/{run}/actions",
            Ws(L::Write),
            "Confirm and apply, or discard (cancel: plan while it plans, else write)",
            pages::run_action,
        )
        .get("/app/{org}/workspaces/{ws}/runs/{run}/events", Ws(L::Read), "A run followed live (Server-Sent Events)", pages::run_events)
        // The link Terraform prints ("To view this run in a browser, visit: …").
        .get("/app/{org}/{ws}/runs/{run}", Public, "Redirect Terraform's printed run link (looks nothing up)", pages::printed_run_link)
        .into_parts()
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
