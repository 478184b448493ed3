//! The State tab (TFE's `/app/{org}/workspaces/{ws}/states`): a workspace's state versions, one
//! version compared with another, and a version's file to download. `app::state` decides who
//! may see what; these handlers parse and render.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;

use super::pages::{PageQuery, Pager, page_of, pager};
use super::{Nav, Viewer, failure, when};
use crate::api::{ApiError, ApiState};
use crate::app;
use crate::app::state::Diff;
use crate::web;

/// A state version as the list shows it.
#[derive(Debug)]
struct Row {
    id: String,
    serial: i64,
    when: (String, String),
    run: Option<String>,
    resources: Option<usize>,
}

#[derive(Template)]
#[template(path = "states.html")]
struct StatesPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a str,
    rows: Vec<Row>,
    pager: Pager,
}

/// `GET …/states`: the workspace's state versions, newest first.
pub(crate) async fn list(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let page = page_of(q.page);
    let listing = or_page!(&v.nav, app::state::list(&s, &v.caller, &org, &ws, page).await);
    let ws = &listing.ws;
    v.nav.org = Some(ws.organization.clone());
    let rows = listing
        .versions
        .items
        .iter()
        .map(|l| Row {
            id: l.version.id.clone(),
            serial: l.version.serial,
            when: when(l.version.created_at),
            run: l.version.run_id.clone(),
            resources: l.resources,
        })
        .collect();
    let path = format!("/app/{}/workspaces/{}/states", ws.organization, ws.name);
    let html = StatesPage {
        nav: &v.nav,
        org: &ws.organization,
        ws: &ws.name,
        rows,
        pager: pager(&path, &[], listing.versions.total, page),
    }
    .render();
    web::page(StatusCode::OK, html)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CompareQuery {
    #[serde(default)]
    compare: String,
}

/// A version named on the comparison page.
#[derive(Debug)]
struct Version {
    id: String,
    serial: i64,
    when: (String, String),
    run: Option<String>,
}

impl Version {
    fn of(v: &tern_store::StateVersion) -> Self {
        Self { id: v.id.clone(), serial: v.serial, when: when(v.created_at), run: v.run_id.clone() }
    }
}

#[derive(Template)]
#[template(path = "state.html")]
struct StatePage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a str,
    version: Version,
    base: Option<Version>,
    diff: Diff,
}

/// `GET …/states/{sv}?compare={other}`: what changed from `other` (default: the previous
/// version) to `sv`.
pub(crate) async fn compare(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws, id)): Path<(String, String, String)>,
    Query(q): Query<CompareQuery>,
) -> Response {
    let with = Some(q.compare.trim()).filter(|c| !c.is_empty());
    let c = or_page!(&v.nav, app::state::compare(&s, &v.caller, &org, &ws, &id, with).await);
    v.nav.org = Some(c.ws.organization.clone());
    let html = StatePage {
        nav: &v.nav,
        org: &c.ws.organization,
        ws: &c.ws.name,
        version: Version::of(&c.version),
        base: c.base.as_ref().map(Version::of),
        diff: c.diff,
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// `GET …/states/{sv}/download`: the state file itself. It holds every secret Terraform keeps
/// in state: an attachment, never cached, never sniffed into something a browser would run.
pub(crate) async fn download(
    State(s): State<ApiState>,
    v: Viewer,
    Path((org, ws, id)): Path<(String, String, String)>,
) -> Response {
    let d = or_page!(&v.nav, app::state::download(&s, &v.caller, &org, &ws, &id).await);
    let name = file_name(&d.ws.name, d.version.serial);
    let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) else {
        return failure(&v.nav, &ApiError::internal("the file name is not a header value"));
    };
    let mut r = (StatusCode::OK, d.bytes).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CONTENT_DISPOSITION, disposition);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// `<workspace>-<serial>.tfstate`, of characters that need no quoting in a header or a file
/// system (anything else becomes `_`).
fn file_name(ws: &str, serial: i64) -> String {
    let ws: String = ws
        .chars()
        .take(128)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    format!("{}-{serial}.tfstate", ws.trim_start_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_named_with_safe_characters_only() {
        assert_eq!(file_name("web-prod_1", 7), "web-prod_1-7.tfstate");
        assert_eq!(file_name("a\"b;c/d\\e\r\nf é", 1), "a_b_c_d_e__f__-1.tfstate");
        assert_eq!(file_name("..", 2), "-2.tfstate");
    }
}
