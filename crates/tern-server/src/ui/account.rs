//! The signed-in person's own account, under `/app/account/…`: their browser sessions (signed
//! in at, last seen, expires; the one this browser holds marked), each ended by a form, and
//! every other one at once. The application layer (`app::users`) decides, exactly as for the
//! API's `account/sessions`; a handler here parses, calls it and renders. A session's secret
//! never reaches a page, and its public id (`ses-…`) only a form's action.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, Viewer, failure, when};
use crate::api::ApiState;
use crate::app::users as app;
use crate::web;

/// The sessions page, where its forms come back to.
const SESSIONS: &str = "/app/account/sessions";

#[derive(Debug)]
struct SessionRow {
    /// Its public id, for the form's action only.
    id: String,
    signed_in: (String, String),
    last_seen: (String, String),
    expires: (String, String),
    /// The session of this browser.
    current: bool,
}

#[derive(Template)]
#[template(path = "account_sessions.html")]
struct SessionsPage<'a> {
    nav: &'a Nav,
    rows: Vec<SessionRow>,
    /// How many are not this browser's.
    others: usize,
    /// How long a session lives without a request, to read.
    idle: String,
    csrf: &'a str,
}

/// `GET /app/account/sessions`: the person's live sessions, newest first.
pub(crate) async fn sessions(State(s): State<ApiState>, v: Viewer) -> Response {
    let (_, listed) = or_page!(&v.nav, app::own_sessions(&s, &v.caller).await);
    let rows: Vec<SessionRow> = listed
        .into_iter()
        .map(|l| SessionRow {
            signed_in: when(l.session.created_at),
            last_seen: when(l.session.last_seen_at),
            expires: when(l.session.expires_at),
            current: l.current,
            id: l.session.id,
        })
        .collect();
    let others = rows.iter().filter(|r| !r.current).count();
    let idle = humantime::format_duration(s.signin.idle).to_string();
    let html = SessionsPage { nav: &v.nav, rows, others, idle, csrf: &v.nav.csrf }.render();
    web::page(StatusCode::OK, html)
}

/// A form that sends nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /app/account/sessions/{id}/end`: end one of the person's sessions, and come back to
/// the list; ending this browser's own signs it out.
pub(crate) async fn end(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let ended = or_page!(&v.nav, app::end_own_session(&s, &v.caller, &id).await);
    if ended.current { web::signed_out(&s) } else { web::redirect(SESSIONS) }
}

/// `POST /app/account/sessions/end-others`: end every session of the person's but this
/// browser's, and come back to the list.
pub(crate) async fn end_others(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    or_page!(&v.nav, app::end_other_sessions(&s, &v.caller).await);
    web::redirect(SESSIONS)
}
