//! Signing people in, in the browser: the sign-in page, OpenID Connect sign-in through the
//! operator's provider (`tern-oidc`), sign-in with a user token (the first administrator needs
//! no provider), server-side sessions in a cookie, sign-out, and `terraform login`'s OAuth
//! authorization server (`login.v1`: authorization code with PKCE on a localhost redirect).
//!
//! Rules: the session cookie is `HttpOnly`, `SameSite=Lax`, `Secure` when the public URL is
//! https, and holds only a random secret (the store keeps its hash); every state-changing form
//! carries a CSRF token bound to the browser's session (or, before sign-in, to a pre-session
//! cookie) and is refused from another origin; a sign-in's `state` is used once, only by the
//! browser that started it; a return URL is a path on this server, never another site; pages
//! are never cached, never framed, and send no referrer to another site.

use std::time::Duration;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tern_store::{Session, User};
use tern_types::SecretString;

use crate::api::ApiState;
use crate::ui::table::Needs::{Public, SignedIn};
use crate::ui::table::Pages;

/// How people sign in, and for how long.
#[derive(Debug)]
pub struct SignIn {
    /// The identity provider, when one is configured.
    pub provider: Option<tern_oidc::Provider>,
    /// The name the sign-in button shows (the provider's host by default).
    pub provider_name: String,
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// A session ends this long after sign-in, whatever happens.
    pub max: Duration,
    /// Provider groups join teams of the same name (besides teams' explicit `sso-team-id`).
    pub groups_by_name: bool,
}

impl SignIn {
    /// [`SignIn::idle`] in seconds, as the store takes it.
    pub(crate) fn idle_s(&self) -> i64 {
        i64::try_from(self.idle.as_secs()).unwrap_or(i64::MAX)
    }
}

impl Default for SignIn {
    fn default() -> Self {
        Self {
            provider: None,
            provider_name: String::new(),
            idle: Duration::from_secs(3600),
            max: Duration::from_secs(12 * 3600),
            groups_by_name: false,
        }
    }
}

const SESSION_COOKIE: &str = "tern_session";
const PRE_COOKIE: &str = "tern_presession";
const SIGNIN_COOKIE: &str = "tern_signin";

/// A cookie's name: over https with the `__Host-` prefix, which the browser keeps from being
/// set by another host (a sibling subdomain cannot plant a session or a pre-session).
fn cookie_name(s: &ApiState, base: &str) -> String {
    if secure(s) { format!("__Host-{base}") } else { base.to_owned() }
}
/// A sign-in in flight, and a `terraform login` code, live this long.
const FLOW_TTL_S: i64 = 600;
const CODE_TTL_S: i64 = 120;
/// `terraform login`'s client and the ports of its loopback redirect.
const TERRAFORM_CLIENT: &str = "terraform-cli";
const TERRAFORM_PORTS: std::ops::RangeInclusive<u16> = 10000..=10010;

/// The sign-in routes and `terraform login`'s, added to the browser's one table of routes
/// ([`crate::ui::table`]).
pub(crate) fn pages(t: Pages) -> Pages {
    t.get("/app", SignedIn, "The signed-in person's organizations and teams", home)
        .get("/app/sign-in", Public, "Sign in (a signed-in person is sent on)", sign_in_page)
        .get("/app/sign-in/oidc", Public, "Start signing in at the identity provider", start_oidc)
        .post(
            "/app/sign-in/token",
            Public,
            "Sign in with a user token (the pre-session's CSRF token)",
            sign_in_with_token,
        )
        .post("/app/sign-out", SignedIn, "End this browser's session", sign_out)
        .get("/oauth/callback", Public, "The identity provider's answer", callback)
        .get("/app/oauth/authorize", SignedIn, "`terraform login`'s consent page", authorize_page)
        .post("/app/oauth/authorize", SignedIn, "Allow or deny `terraform login` a code", authorize)
        .post_without_csrf(
            "/oauth/token",
            Public,
            "`terraform login`'s code exchanged for a user token (PKCE; no cookie)",
            token,
        )
}

/// The `login.v1` entry of `/.well-known/terraform.json`.
pub fn login_service() -> serde_json::Value {
    serde_json::json!({
        "client": TERRAFORM_CLIENT,
        "grant_types": ["authz_code"],
        "authz": "/app/oauth/authorize",
        "token": "/oauth/token",
        "ports": [TERRAFORM_PORTS.start(), TERRAFORM_PORTS.end()],
    })
}

// ------------------------------------------------------------------------------ templates

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    provider: Option<&'a str>,
    csrf: String,
    return_to: &'a str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    nav: &'a crate::ui::Nav,
    site_admin: bool,
    orgs: Vec<String>,
    teams: Vec<(String, String)>,
    pager: crate::ui::Pager,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    username: &'a str,
    csrf: String,
    client_id: &'a str,
    redirect_uri: &'a str,
    state: &'a str,
    code_challenge: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    detail: &'a str,
    /// Offer the way home rather than signing in again (nothing went wrong with signing in).
    home: bool,
}

// ------------------------------------------------------------------------------ responses

/// Headers every page carries: never cached, framed or leaking its URL; nothing but its own
/// forms (and `terraform login`'s loopback redirect) as a form target.
pub(crate) fn page(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    let Ok(body) = html else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response();
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self' http://localhost:* http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    page(status, ErrorPage { title, detail, home: false }.render())
}

/// A path under `/app` that no page answers: a page saying so, not the API's JSON (its routes
/// cannot hold a catch-all beside the pages' parameters, so the server's fallback asks here).
pub(crate) fn no_such_page(path: &str) -> Response {
    let detail = format!("there is no page at {path}");
    page(StatusCode::NOT_FOUND, ErrorPage { title: "Not found", detail: &detail, home: true }.render())
}

pub(crate) fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert("referrer-policy", HeaderValue::from_static("same-origin"));
    r
}

fn storage_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "sign-in storage");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "tern could not reach its database; the server log has the cause.",
    )
}

fn secure(s: &ApiState) -> bool {
    s.public_url.starts_with("https://")
}

fn set_cookie(r: &mut Response, s: &ApiState, name: &str, value: &str, max_age: Option<Duration>) {
    let mut c = cookie::Cookie::build((cookie_name(s, name), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure(s));
    c = match max_age {
        Some(d) => c.max_age(cookie::time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
        None => c.max_age(cookie::time::Duration::ZERO),
    };
    if let Ok(v) = HeaderValue::from_str(&c.build().to_string()) {
        r.headers_mut().append(SET_COOKIE, v);
    }
}

fn cookie_of(s: &ApiState, headers: &HeaderMap, name: &str) -> Option<String> {
    let name = cookie_name(s, name);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name.as_str())
        .map(|c| c.value().to_owned())
}

/// A return URL that stays on this server: a path, never `//host` or `/\host`, else `/app`.
pub(crate) fn safe_return(to: Option<&str>) -> String {
    match to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_owned()
        }
        _ => "/app".to_owned(),
    }
}

// ------------------------------------------------------------------------------ CSRF

/// The CSRF token of a browser: bound to its session (or pre-session) secret.
pub(crate) fn csrf_for(s: &ApiState, secret: &str) -> String {
    s.store.sign(&format!("csrf:{secret}"))
}

/// A state-changing form is accepted only with the CSRF token of the cookie it came with, and
/// never from another origin.
pub(crate) fn check_csrf(
    s: &ApiState,
    headers: &HeaderMap,
    cookie_secret: Option<&str>,
    given: &str,
) -> Result<(), Box<Response>> {
    let forbidden = || {
        Box::new(error_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was not sent by a page of this server (or the page is too old). Reload it and try again.",
        ))
    };
    // The form's origin, when the browser says it, is exactly this server's (`null`: refused;
    // pages send their referrer to this server only, so a browser names their origin).
    if let Some(origin) = headers.get("origin") {
        let ours = url::Url::parse(&s.public_url).ok().map(|u| u.origin().ascii_serialization());
        if origin.to_str().ok() != ours.as_deref() {
            return Err(forbidden());
        }
    }
    match cookie_secret {
        Some(secret) if s.store.verify_signature(&format!("csrf:{secret}"), given) => Ok(()),
        _ => Err(forbidden()),
    }
}

// ------------------------------------------------------------------------------ sessions

/// The browser's session and user, if it has a live one.
pub(crate) async fn session_of(
    s: &ApiState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User, String)>, Box<Response>> {
    let Some(secret) = cookie_of(s, headers, SESSION_COOKIE) else { return Ok(None) };
    match s.store.session(&secret, s.signin.idle_s()).await {
        Ok(Some((session, user))) => Ok(Some((session, user, secret))),
        Ok(None) => Ok(None),
        Err(e) => Err(Box::new(storage_error(e))),
    }
}

/// Start a session for `user` and send the browser to `to`.
async fn start_session(
    s: &ApiState,
    headers: &HeaderMap,
    user: &User,
    from_token: Option<&tern_store::Token>,
    to: &str,
    how: &str,
    details: serde_json::Value,
) -> Response {
    // A new sign-in never keeps the browser's previous session.
    if let Some(old) = cookie_of(s, headers, SESSION_COOKIE)
        && let Err(e) = s.store.end_session(&old, None).await
    {
        return storage_error(e);
    }
    let now = s.store.unix_now();
    let max = i64::try_from(s.signin.max.as_secs()).unwrap_or(i64::MAX);
    // The session and the record of the sign-in commit together.
    let event = |session: &tern_store::Session| {
        let mut details = details;
        details["session"] = session.id.clone().into();
        details["method"] = how.into();
        ApiState::input(&user.username, "user", "user.signed-in", crate::api::Scope::default(), details)
    };
    let secret = match s.store.sign_in(&user.id, now.saturating_add(max), from_token, event).await {
        Ok((_, secret)) => secret,
        Err(e) => return storage_error(e),
    };
    let mut r = redirect(to);
    set_cookie(&mut r, s, SESSION_COOKIE, secret.expose_secret(), Some(s.signin.max));
    set_cookie(&mut r, s, PRE_COOKIE, "", None);
    r
}

// ------------------------------------------------------------------------------ pages

#[derive(Deserialize)]
struct ReturnTo {
    return_to: Option<String>,
}

async fn home(
    State(s): State<ApiState>,
    v: crate::ui::Viewer,
    Query(q): Query<crate::ui::PageQuery>,
) -> Response {
    let crate::api::Caller::User(_, user, _) = &v.caller else {
        return redirect("/app/sign-in");
    };
    let teams = match s.store.teams_of_user(&user.id).await {
        Ok(t) => t.into_iter().map(|t| (t.organization, t.name)).collect(),
        Err(e) => return storage_error(e),
    };
    let paged = crate::ui::page_of(q.page);
    let orgs = match crate::app::workspaces::organizations(&s, &v.caller, paged).await {
        Ok(orgs) => orgs,
        Err(e) => return crate::ui::failure(&v.nav, &e),
    };
    let pager = crate::ui::pager("/app", &[], orgs.total, paged);
    let orgs = orgs.items.into_iter().map(|o| o.name).collect();
    page(StatusCode::OK, HomePage { nav: &v.nav, site_admin: user.site_admin, orgs, teams, pager }.render())
}

async fn sign_in_page(State(s): State<ApiState>, headers: HeaderMap, Query(q): Query<ReturnTo>) -> Response {
    let return_to = safe_return(q.return_to.as_deref());
    if let Ok(Some(_)) = session_of(&s, &headers).await {
        return redirect(&return_to);
    }
    // The token form's CSRF token is bound to a pre-session cookie.
    // A pre-session the browser brings is kept only if it has our shape; any other is replaced
    // (a value an attacker chose must not get a CSRF token).
    let pre = match cookie_of(&s, &headers, PRE_COOKIE).filter(|p| is_random(p)) {
        Some(p) => p,
        None => match random() {
            Some(r) => r,
            None => return storage_error("the system's random generator failed"),
        },
    };
    let provider = s.signin.provider.as_ref().map(|_| s.signin.provider_name.as_str());
    let mut r = page(
        StatusCode::OK,
        SignInPage { provider, csrf: csrf_for(&s, &pre), return_to: &return_to }.render(),
    );
    set_cookie(&mut r, &s, PRE_COOKIE, &pre, Some(Duration::from_secs(3600)));
    r
}

/// The shape of [`random`]'s values.
fn is_random(v: &str) -> bool {
    v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 256 random bits, base64url: a cookie's secret.
fn random() -> Option<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

async fn start_oidc(State(s): State<ApiState>, Query(q): Query<ReturnTo>) -> Response {
    let Some(provider) = &s.signin.provider else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No identity provider",
            "This server signs in with user tokens only.",
        );
    };
    let request = match provider.authorization_request().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "starting a sign-in");
            return error_page(
                StatusCode::BAD_GATEWAY,
                "The identity provider is unavailable",
                &e.to_string(),
            );
        }
    };
    let Some(browser) = random().map(SecretString::new) else {
        return storage_error("the system's random generator failed");
    };
    let expires = s.store.unix_now() + FLOW_TTL_S;
    let return_to = safe_return(q.return_to.as_deref());
    if let Err(e) = s
        .store
        .put_signin_attempt(&request.state, &browser, &request.nonce, &request.verifier, &return_to, expires)
        .await
    {
        return storage_error(e);
    }
    let mut r = redirect(request.url.as_str());
    set_cookie(&mut r, &s, SIGNIN_COOKIE, browser.expose_secret(), Some(Duration::from_secs(600)));
    r
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(State(s): State<ApiState>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let Some(provider) = &s.signin.provider else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No identity provider",
            "This server signs in with user tokens only.",
        );
    };
    if let Some(e) = q.error {
        // The provider's words go to the log, not to a page of ours: anyone can put text in
        // this URL.
        tracing::info!(error = %e, description = q.error_description.as_deref().unwrap_or(""), "the identity provider refused a sign-in");
        let detail = if e == "access_denied" {
            "The sign-in was declined at the identity provider.".to_owned()
        } else if e.len() <= 40 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            format!("The identity provider refused the sign-in ({e}). The server log has its reason.")
        } else {
            "The identity provider refused the sign-in. The server log has its reason.".to_owned()
        };
        return error_page(StatusCode::FORBIDDEN, "Sign-in refused", &detail);
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The identity provider sent no code or no state.",
        );
    };
    let browser = cookie_of(&s, &headers, SIGNIN_COOKIE).unwrap_or_default();
    let attempt = match s.store.take_signin_attempt(&state, &browser).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "This sign-in is unknown, expired, already used, or was started in another browser. Start again.",
            );
        }
        Err(e) => return storage_error(e),
    };
    let identity = match provider
        .finish(&code, &attempt.verifier, &attempt.nonce, tern_types::Clock::now(s.clock.as_ref()))
        .await
    {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in failed");
            return error_page(StatusCode::FORBIDDEN, "Sign-in failed", &e.to_string());
        }
    };
    // A user met here, and the teams the provider's groups make them join or leave, are each
    // recorded with the change (a later failure to sign in leaves no unrecorded change).
    let actor = identity.username.clone();
    let made = |u: &tern_store::User| {
        let details = serde_json::json!({"id": u.id, "username": u.username, "identity": identity.identity, "via": "sign-in"});
        ApiState::input(&actor, "user", "user.created", crate::api::Scope::default(), details)
    };
    let user = match s
        .store
        .user_for_identity(&identity.identity, &identity.username, &identity.email, made)
        .await
    {
        Ok(u) => u,
        Err(tern_store::StoreError::Conflict(m) | tern_store::StoreError::Invalid(m)) => {
            return error_page(StatusCode::FORBIDDEN, "Sign-in refused", &m);
        }
        Err(e) => return storage_error(e),
    };
    let names =
        |v: &[(String, String)]| v.iter().map(|(id, name)| format!("{name} ({id})")).collect::<Vec<_>>();
    let synced = |c: &tern_store::MembershipChanges| {
        let details = serde_json::json!({
            "user": user.username, "identity": identity.identity, "groups": identity.groups,
            "teams-joined": names(&c.added), "teams-left": names(&c.removed),
        });
        ApiState::input(&user.username, "user", "team.members-synced", crate::api::Scope::default(), details)
    };
    let changes = match s.store.sync_groups(&user.id, &identity.groups, s.signin.groups_by_name, synced).await
    {
        Ok(c) => c,
        Err(e) => return storage_error(e),
    };
    let details = serde_json::json!({
        "identity": identity.identity, "groups": identity.groups,
        "teams-joined": names(&changes.added), "teams-left": names(&changes.removed),
    });
    let mut r = start_session(&s, &headers, &user, None, &attempt.return_to, "oidc", details).await;
    set_cookie(&mut r, &s, SIGNIN_COOKIE, "", None);
    r
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
    csrf: String,
    return_to: Option<String>,
}

async fn sign_in_with_token(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &headers, cookie_of(&s, &headers, PRE_COOKIE).as_deref(), &f.csrf) {
        return *r;
    }
    let refused = || {
        error_page(
            StatusCode::UNAUTHORIZED,
            "Sign-in failed",
            "That is not a valid user token (unknown, revoked, expired, or not a user's: `tern user token NAME` makes one).",
        )
    };
    let token = match s.store.authenticate(f.token.trim()).await {
        Ok(Some(t)) if t.kind == tern_store::TokenKind::User => t,
        Ok(_) => return refused(),
        Err(e) => return storage_error(e),
    };
    let user = match s.store.user(token.user_id.as_deref().unwrap_or_default()).await {
        Ok(u) => u,
        Err(_) => return refused(),
    };
    let details = serde_json::json!({"token": token.id});
    start_session(&s, &headers, &user, Some(&token), &safe_return(f.return_to.as_deref()), "token", details)
        .await
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(State(s): State<ApiState>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let (session, user, secret) = match session_of(&s, &headers).await {
        Ok(Some(v)) => v,
        Ok(None) => return redirect("/app/sign-in"),
        Err(r) => return *r,
    };
    if let Err(r) = check_csrf(&s, &headers, Some(&secret), &f.csrf) {
        return *r;
    }
    // The session ends with the record of who signed out.
    let details = serde_json::json!({"session": session.id});
    let event =
        ApiState::input(&user.username, "user", "user.signed-out", crate::api::Scope::default(), details);
    if let Err(e) = s.store.end_session(&secret, Some(&event)).await {
        return storage_error(e);
    }
    signed_out(&s)
}

/// The answer that signs this browser out once its session has ended: to the sign-in page, the
/// session cookie cleared.
pub(crate) fn signed_out(s: &ApiState) -> Response {
    let mut r = redirect("/app/sign-in");
    set_cookie(&mut r, s, SESSION_COOKIE, "", None);
    r
}

// ------------------------------------------------------------------------------ terraform login

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    response_type: Option<String>,
}

/// `terraform login`'s redirect: `http://localhost:PORT/login` (or 127.0.0.1) with a port of
/// `login.v1`'s range, nothing else.
fn loopback_redirect(uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else { return false };
    u.scheme() == "http"
        && matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
        && u.port().is_some_and(|p| TERRAFORM_PORTS.contains(&p))
        && u.path() == "/login"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
}

fn check_authorize(q: &AuthorizeQuery) -> Result<(&str, &str, &str, &str), &'static str> {
    if q.client_id.as_deref() != Some(TERRAFORM_CLIENT) {
        return Err("the client is not terraform-cli");
    }
    if q.response_type.as_deref().is_some_and(|t| t != "code") {
        return Err("only response_type=code is supported");
    }
    if q.code_challenge_method.as_deref() != Some("S256") {
        return Err("PKCE with code_challenge_method=S256 is required");
    }
    let redirect = q
        .redirect_uri
        .as_deref()
        .filter(|r| loopback_redirect(r))
        .ok_or("the redirect_uri must be http://localhost:PORT/login with a port from 10000 to 10010")?;
    let challenge = q
        .code_challenge
        .as_deref()
        .filter(|c| (43..=128).contains(&c.len()))
        .ok_or("the code_challenge is missing or malformed")?;
    let state =
        q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512).ok_or("the state is missing")?;
    Ok((TERRAFORM_CLIENT, redirect, state, challenge))
}

async fn authorize_page(
    State(s): State<ApiState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let (client_id, redirect_uri, state, code_challenge) = match check_authorize(&q) {
        Ok(v) => v,
        // Never redirect with a bad redirect_uri: the error is shown here.
        Err(why) => return error_page(StatusCode::BAD_REQUEST, "terraform login refused", why),
    };
    let (_, user, secret) = match session_of(&s, &headers).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            let back = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
            let to: String =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", &back).finish();
            return redirect(&format!("/app/sign-in?{to}"));
        }
        Err(r) => return *r,
    };
    let csrf = csrf_for(&s, &secret);
    page(
        StatusCode::OK,
        ConsentPage { username: &user.username, csrf, client_id, redirect_uri, state, code_challenge }
            .render(),
    )
}

#[derive(Deserialize)]
struct AuthorizeForm {
    csrf: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    decision: String,
}

async fn authorize(State(s): State<ApiState>, headers: HeaderMap, Form(f): Form<AuthorizeForm>) -> Response {
    let (_, user, secret) = match session_of(&s, &headers).await {
        Ok(Some(v)) => v,
        Ok(None) => return redirect("/app/sign-in"),
        Err(r) => return *r,
    };
    if let Err(r) = check_csrf(&s, &headers, Some(&secret), &f.csrf) {
        return *r;
    }
    let q = AuthorizeQuery {
        client_id: Some(f.client_id),
        redirect_uri: Some(f.redirect_uri),
        state: Some(f.state),
        code_challenge: Some(f.code_challenge),
        code_challenge_method: Some("S256".into()),
        response_type: Some("code".into()),
    };
    let (client_id, redirect_uri, state, challenge) = match check_authorize(&q) {
        Ok(v) => v,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, "terraform login refused", why),
    };
    let mut target = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "terraform login refused", "bad redirect_uri"),
    };
    if f.decision != "allow" {
        target.query_pairs_mut().append_pair("error", "access_denied").append_pair("state", state);
        return redirect(target.as_str());
    }
    let code = tern_store::AuthorizationCode {
        user_id: user.id.clone(),
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        challenge: challenge.to_owned(),
    };
    let code = match s.store.create_authorization_code(&code, s.store.unix_now() + CODE_TTL_S).await {
        Ok(c) => c,
        Err(e) => return storage_error(e),
    };
    target.query_pairs_mut().append_pair("code", code.expose_secret()).append_pair("state", state);
    redirect(target.as_str())
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")],
        serde_json::json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

/// The code of `terraform login`, exchanged for a user token: once, with the verifier of its
/// challenge, by the client and for the redirect it was issued to.
async fn token(State(s): State<ApiState>, Form(f): Form<TokenRequest>) -> Response {
    if f.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only authorization_code");
    }
    let (Some(code), Some(verifier)) = (f.code, f.code_verifier) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code and code_verifier are required",
        );
    };
    let taken = match s.store.take_authorization_code(&code).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the code is unknown, used or expired",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "terraform login");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "storage error");
        }
    };
    if f.client_id.as_deref() != Some(taken.client_id.as_str())
        || f.redirect_uri.as_deref() != Some(taken.redirect_uri.as_str())
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the client or redirect_uri is not the code's",
        );
    }
    if !pkce_matches(&verifier, &taken.challenge) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code_verifier does not match the code_challenge",
        );
    }
    let user = match s.store.user(&taken.user_id).await {
        Ok(u) => u,
        Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the user is gone"),
    };
    // The token and the record of who got it commit together.
    let event = |t: &tern_store::Token| {
        let mut details = crate::api::token_audit_details(t);
        details["user"] = user.username.clone().into();
        details["via"] = "terraform login".into();
        ApiState::input(&user.username, "user", "token.created", crate::api::Scope::default(), details)
    };
    let secret = match s.store.create_user_token(&user.id, "terraform login", None, event).await {
        Ok((_, secret)) => secret,
        Err(e) => {
            tracing::error!(error = %e, "terraform login");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "storage error");
        }
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")],
        serde_json::json!({"access_token": secret.expose_secret(), "token_type": "bearer"}).to_string(),
    )
        .into_response()
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge, compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine as _;
    if !(43..=128).contains(&verifier.len()) {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_stay_on_this_server() {
        assert_eq!(safe_return(Some("/app/acme/ws")), "/app/acme/ws");
        for bad in [
            "https://evil.example",
            "//evil.example/x",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_return(Some(bad)), "/app", "{bad:?}");
        }
        assert_eq!(safe_return(None), "/app");
    }

    #[test]
    fn only_terraforms_loopback_redirects() {
        assert!(loopback_redirect("http://localhost:10000/login"));
        assert!(loopback_redirect("http://127.0.0.1:10010/login"));
        for bad in [
            "http://localhost:9999/login",
            "https://localhost:10000/login",
            "http://evil.example:10000/login",
            "http://localhost:10000/other",
            "http://localhost:10000/login?x=1",
            "http://user@localhost:10000/login",
            "http://localhost/login",
            "http://localhost:10000/login#x",
            "http://:pw@localhost:10000/login",
        ] {
            assert!(!loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn pkce_is_rfc_7636s_s256() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
