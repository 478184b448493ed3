//! The installation's administration pages, for site administrators only (a user with
//! `site_admin`): the signing keys — list, rotate, retire — and the public JWKS to download for
//! a cloud that is given it instead of fetching it (a private issuer); and `tern doctor`'s
//! checks as the running server sees itself. Every decision is the application layer's
//! (`app::keys`, the very functions the API's `/api/v2/admin/…` call, and `app::doctor`).

use std::time::Duration;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use tern_store::{KeyState, ManagedKey};

use super::{Nav, Viewer, failure, when};
use crate::api::{ApiError, ApiState};
use crate::app;
use crate::doctor::{Finding, Status};
use crate::web;

const KEYS: &str = "/app/admin/keys";

/// A key as the page shows it: times as `(RFC 3339, readable)`.
#[derive(Debug)]
struct KeyRow {
    kid: String,
    algorithm: String,
    state: &'static str,
    tone: &'static str,
    created: (String, String),
    activates: (String, String),
    retired: Option<(String, String)>,
    publish_until: Option<(String, String)>,
    retirable: bool,
}

impl KeyRow {
    fn of(k: &ManagedKey) -> Self {
        let tone = match k.state {
            KeyState::Current => "ok",
            KeyState::Next => "waiting",
            KeyState::Retired => "neutral",
        };
        Self {
            kid: k.kid.clone(),
            algorithm: k.algorithm.clone(),
            state: k.state.as_str(),
            tone,
            created: when(k.created_at),
            activates: when(k.activates_at),
            retired: k.retired_at.map(when),
            publish_until: k.publish_until.map(when),
            retirable: k.state != KeyState::Retired,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct KeysPage<'a> {
    nav: &'a Nav,
    csrf: &'a str,
    /// None: the server signs with key files (the detail says so).
    managed: Option<String>,
    keys: Vec<KeyRow>,
    /// When the next key signs, if one is published.
    next_activates: Option<(String, String)>,
    /// The default publish lead, seconds.
    lead: u64,
    /// The least publish lead the server accepts, seconds.
    min_lead: u64,
    /// The JWKS max-age, seconds.
    max_age: u64,
}

/// `GET /app/admin/keys`.
pub(crate) async fn keys(State(s): State<ApiState>, v: Viewer) -> Response {
    let ring = match app::keys::managed(&s, &v.caller) {
        Ok(ring) => Some(ring),
        // Key files: nothing to rotate here, but the JWKS is still theirs to download.
        Err(e) if e.status == StatusCode::CONFLICT => None,
        Err(e) => return failure(&v.nav, &e),
    };
    let (keys, lead, min_lead, max_age) = match ring {
        Some(ring) => {
            let list = or_page!(&v.nav, app::keys::list(&s, &v.caller).await);
            let rotation = ring.rotation();
            let max_age = ring.jwks_max_age();
            (list, rotation.lead, rotation.min_publish_lead(max_age), max_age)
        }
        None => (Vec::new(), Duration::ZERO, Duration::ZERO, Duration::ZERO),
    };
    let next_activates = keys.iter().find(|k| k.state == KeyState::Next).map(|k| when(k.activates_at));
    let managed = match ring {
        Some(_) => None,
        None => Some(
            "This server signs with key files (--signing-key): rotate them by restarting it with the next key listed second (see `tern serve --help`), or start it with --managed-keys to manage keys here.".to_owned(),
        ),
    };
    let html = KeysPage {
        nav: &v.nav,
        csrf: &v.nav.csrf,
        managed,
        keys: keys.iter().map(KeyRow::of).collect(),
        next_activates,
        lead: lead.as_secs(),
        min_lead: min_lead.as_secs(),
        max_age: max_age.as_secs(),
    }
    .render();
    web::page(StatusCode::OK, html)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RotateForm {
    #[serde(default)]
    csrf: String,
    /// Seconds before the new key signs; empty: the server's publish lead.
    #[serde(default)]
    activate_in: String,
}

/// `POST /app/admin/keys/rotate`: publish the next key.
pub(crate) async fn rotate(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<RotateForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    // Who may is decided before the form is read, as the API does.
    or_page!(&v.nav, app::keys::managed(&s, &v.caller));
    let activate_in = match f.activate_in.trim() {
        "" => None,
        n => match n.parse::<u64>() {
            Ok(n) => Some(Duration::from_secs(n)),
            Err(_) => {
                return failure(
                    &v.nav,
                    &ApiError::bad_request(format!(
                        "activate in {n:?}: give a whole number of seconds, or leave it empty for the server's publish lead"
                    )),
                );
            }
        },
    };
    or_page!(&v.nav, app::keys::rotate(&s, &v.caller, activate_in).await);
    web::redirect(KEYS)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RetireForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kid: String,
    /// Present: remove it from the JWKS now.
    unpublish: Option<String>,
}

/// `POST /app/admin/keys/retire`: retire a key.
pub(crate) async fn retire(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Form(f): Form<RetireForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    or_page!(&v.nav, app::keys::retire(&s, &v.caller, &f.kid, f.unpublish.is_some()).await);
    web::redirect(KEYS)
}

/// A finding as the page shows it: the status as a word and a badge tone.
#[derive(Debug)]
struct FindingRow {
    name: &'static str,
    word: &'static str,
    tone: &'static str,
    detail: String,
    fix: Option<String>,
}

impl FindingRow {
    fn of(f: Finding) -> Self {
        let tone = match f.status {
            Status::Pass => "ok",
            Status::Warn => "running",
            Status::Fail => "bad",
        };
        Self { name: f.name, word: f.status.word(), tone, detail: f.detail, fix: f.fix }
    }
}

#[derive(Template)]
#[template(path = "admin_doctor.html")]
struct DoctorPage<'a> {
    nav: &'a Nav,
    issuer: String,
    findings: Vec<FindingRow>,
    /// `(ok, warnings, failures)`.
    counts: (usize, usize, usize),
    timeout: u64,
}

/// `GET /app/admin/doctor`: `tern doctor`'s checks from inside this server.
pub(crate) async fn doctor(State(s): State<ApiState>, v: Viewer) -> Response {
    let findings = or_page!(&v.nav, app::doctor::run(&s, &v.caller).await);
    let count = |st| findings.iter().filter(|f| f.status == st).count();
    let counts = (count(Status::Pass), count(Status::Warn), count(Status::Fail));
    let html = DoctorPage {
        nav: &v.nav,
        issuer: app::doctor::issuer(&s).to_string(),
        findings: findings.into_iter().map(FindingRow::of).collect(),
        counts,
        timeout: app::doctor::TIMEOUT.as_secs(),
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// `GET /app/admin/keys/jwks.json`: the public JWKS the issuer serves, as a download.
pub(crate) async fn jwks(State(s): State<ApiState>, v: Viewer) -> Response {
    let body = or_page!(&v.nav, app::keys::jwks(&s, &v.caller));
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, "application/json"),
            (CONTENT_DISPOSITION, "attachment; filename=\"jwks.json\""),
            (CACHE_CONTROL, "no-store"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
