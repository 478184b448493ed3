//! The pages: organizations, workspaces, a workspace, its runs, a run (and its actions).

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use tern_access::WorkspaceAction as WA;
use tern_store::{AuditFilter, Page, ResourceCounts, Run, RunStatus, Workspace, WorkspaceFilter};
use tern_types::RunPhase;

use super::ansi::{self, Styled};
use super::{Nav, Viewer, failure, tone, when};
use crate::api::{ApiError, ApiState};
use crate::app;
use crate::app::runs::Offered;
use crate::app::workspaces::Output;
use crate::web;

/// Rows per list page.
const PAGE_SIZE: u32 = 25;
/// A log longer than this shows its end (the API serves all of it).
const MAX_LOG_BYTES: usize = 2 * 1024 * 1024;
/// Resource changes listed on a run page.
const MAX_CHANGES: usize = 1000;

/// An organization or workspace name, or a run id, as a URL path segment: nothing else is
/// put into a redirect.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Links to the pages before and after this one, keeping the list's filters.
#[derive(Debug)]
pub(crate) struct Pager {
    pub(crate) number: u32,
    pub(crate) pages: u64,
    pub(crate) previous: Option<String>,
    pub(crate) next: Option<String>,
}

pub(crate) fn pager(path: &str, params: &[(&str, &str)], total: u64, page: Page) -> Pager {
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let link = |n: u32| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
        q.append_pair("page", &n.to_string());
        format!("{path}?{}", q.finish())
    };
    Pager {
        number: page.number,
        pages,
        previous: (page.number > 1).then(|| link(page.number - 1)),
        next: (u64::from(page.number) < pages).then(|| link(page.number + 1)),
    }
}

pub(crate) fn page_of(n: Option<u32>) -> Page {
    Page { number: n.unwrap_or(1).max(1), size: PAGE_SIZE }
}

/// A run as lists and the overview show it.
#[derive(Debug)]
pub(crate) struct RunLine {
    id: String,
    status: &'static str,
    tone: &'static str,
    message: String,
    when: (String, String),
    counts: Option<ResourceCounts>,
}

impl RunLine {
    fn of(run: &Run) -> Self {
        Self {
            id: run.id.clone(),
            status: run.status.as_str(),
            tone: tone(run.status),
            message: run.message.clone(),
            when: when(run.created_at),
            counts: run.resource_counts,
        }
    }
}

// ------------------------------------------------------------------------------ organization

/// `/app/{org}`: its workspaces.
pub(crate) async fn organization(Path(org): Path<String>) -> Response {
    if !is_name(&org) {
        return web::redirect("/app");
    }
    web::redirect(&format!("/app/{org}/workspaces"))
}

// ------------------------------------------------------------------------------ workspaces

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WorkspacesQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    status: String,
    page: Option<u32>,
}

#[derive(Debug)]
struct WorkspaceRow {
    name: String,
    project: String,
    project_id: String,
    locked: bool,
    status: Option<(&'static str, &'static str)>,
    when: Option<(String, String)>,
    terraform: String,
    tags: Vec<String>,
}

#[derive(Template)]
#[template(path = "workspaces.html")]
struct WorkspacesPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    search: &'a str,
    tag: &'a str,
    projects: Vec<(String, String, bool)>,
    statuses: Vec<(&'static str, bool)>,
    total: u64,
    rows: Vec<WorkspaceRow>,
    pager: Pager,
}

pub(crate) async fn workspaces(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path(org): Path<String>,
    Query(q): Query<WorkspacesQuery>,
) -> Response {
    let (org, standing) = or_page!(&v.nav, app::workspaces::organization(&s, &v.caller, &org).await);
    v.nav.org = Some(org.name.clone());
    let status = match q.status.as_str() {
        "" => Vec::new(),
        st => match RunStatus::parse(st) {
            Some(st) => vec![st],
            None => return failure(&v.nav, &ApiError::bad_request(format!("there is no run status {st:?}"))),
        },
    };
    let filter = WorkspaceFilter {
        name: Some(q.search.trim().to_owned()).filter(|n| !n.is_empty()),
        tags: Some(q.tag.trim().to_owned()).into_iter().filter(|t| !t.is_empty()).collect(),
        project_id: Some(q.project.clone()).filter(|p| !p.is_empty()),
        current_run_statuses: status,
        ..WorkspaceFilter::default()
    };
    let page = page_of(q.page);
    let paged = or_page!(&v.nav, app::workspaces::list(&s, &standing, &org, filter, page).await);
    let all = Page { number: 1, size: Page::MAX_SIZE };
    let projects = or_page!(&v.nav, app::workspaces::projects(&s, &standing, &org, &[], None, all).await);
    let mut project_choices: Vec<(String, String, bool)> =
        projects.items.into_iter().map(|p| (p.id.clone(), p.name, p.id == q.project)).collect();
    // The list offers the first hundred projects; a filter by one past them (a project's link in
    // the table below) still shows which project it is.
    if !q.project.is_empty()
        && !project_choices.iter().any(|p| p.2)
        && let Ok(p) = app::workspaces::project_in(&s, &v.caller, &org, &q.project).await
    {
        project_choices.push((p.id, p.name, true));
    }
    let rows = paged
        .items
        .iter()
        .map(|r| WorkspaceRow {
            name: r.ws.name.clone(),
            project: r.ws.project.clone(),
            project_id: r.ws.project_id.clone(),
            locked: r.ws.locked,
            status: r.latest.as_ref().map(|run| (run.status.as_str(), tone(run.status))),
            when: r.latest.as_ref().map(|run| when(run.created_at)),
            terraform: r.ws.terraform_version.to_string(),
            tags: r.ws.tag_names.clone(),
        })
        .collect();
    let path = format!("/app/{}/workspaces", org.name);
    let params =
        [("search", q.search.as_str()), ("project", &q.project), ("tag", &q.tag), ("status", &q.status)];
    let html = WorkspacesPage {
        nav: &v.nav,
        org: &org.name,
        search: &q.search,
        tag: &q.tag,
        projects: project_choices,
        statuses: RunStatus::ALL.iter().map(|st| (st.as_str(), st.as_str() == q.status)).collect(),
        total: paged.total,
        rows,
        pager: pager(&path, &params, paged.total, page),
    }
    .render();
    web::page(StatusCode::OK, html)
}

// ------------------------------------------------------------------------------ a workspace

#[derive(Template)]
#[template(path = "workspace.html")]
struct WorkspacePage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a Workspace,
    latest: Option<RunLine>,
    outputs: Option<Vec<Output>>,
    resources: Option<Vec<String>>,
    serial: Option<i64>,
    no_state: &'a str,
}

pub(crate) async fn workspace(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws)): Path<(String, String)>,
) -> Response {
    let (ws, standing) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    v.nav.org = Some(ws.organization.clone());
    let o = or_page!(&v.nav, app::workspaces::overview(&s, &standing, &ws).await);
    let no_state = if ws.current_state_version_id.is_none() {
        "No state yet: the first apply makes one."
    } else {
        "Your access to this workspace does not include its outputs."
    };
    let html = WorkspacePage {
        nav: &v.nav,
        org: &ws.organization,
        ws: &ws,
        latest: o.latest.as_ref().map(RunLine::of),
        outputs: o.outputs,
        resources: o.resources,
        serial: o.serial,
        no_state,
    }
    .render();
    web::page(StatusCode::OK, html)
}

// ------------------------------------------------------------------------------ runs

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) page: Option<u32>,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a str,
    runs: Vec<RunLine>,
    pager: Pager,
}

pub(crate) async fn runs(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let (ws, _) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    v.nav.org = Some(ws.organization.clone());
    let page = page_of(q.page);
    let paged = or_page!(&v.nav, app::workspaces::runs(&s, &ws, page).await);
    let path = format!("/app/{}/workspaces/{}/runs", ws.organization, ws.name);
    let html = RunsPage {
        nav: &v.nav,
        org: &ws.organization,
        ws: &ws.name,
        runs: paged.items.iter().map(RunLine::of).collect(),
        pager: pager(&path, &[], paged.total, page),
    }
    .render();
    web::page(StatusCode::OK, html)
}

// ------------------------------------------------------------------------------ a run

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a str,
    run: RunLine,
    error: Option<&'a str>,
    /// (step, RFC 3339, shown time, who and their comment)
    timeline: Vec<(String, String, String, String)>,
    /// (symbol and action, class, address)
    changes: Vec<(&'static str, &'static str, String)>,
    offered: Offered,
    csrf: &'a str,
    plan_log: Vec<Styled>,
    apply_log: Vec<Styled>,
    live: bool,
    /// Where the page's script follows the run from (the chunks the page already shows).
    events: String,
}

/// The run `id`, if it is one of workspace `ws` of `org` and the caller may see it.
async fn run_in(
    s: &ApiState,
    caller: &crate::api::Caller,
    org: &str,
    ws: &str,
    id: &str,
) -> Result<(Run, Workspace), ApiError> {
    let (run, workspace) = app::runs::run_for(s, caller, id, WA::Read).await?;
    if workspace.name != ws || workspace.organization != org {
        return Err(ApiError::not_found(format!("run {id:?} not found in workspace {ws:?}")));
    }
    Ok((run, workspace))
}

pub(crate) async fn run(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws, id)): Path<(String, String, String)>,
) -> Response {
    let (run, ws) = or_page!(&v.nav, run_in(&s, &v.caller, &org, &ws, &id).await);
    v.nav.org = Some(ws.organization.clone());
    let offered = or_page!(&v.nav, app::runs::offered(&s, &v.caller, &run, &ws).await);
    let acts = or_page!(&v.nav, acts_on(&s, &ws, &run).await);
    let changes = or_page!(&v.nav, resource_changes(&s, &run).await);
    let (plan_log, plan_after) = or_page!(&v.nav, log_text(&s, &run, RunPhase::Plan).await);
    let (apply_log, apply_after) = or_page!(&v.nav, log_text(&s, &run, RunPhase::Apply).await);
    let live =
        !run.status.is_final() && !matches!(run.status, RunStatus::Planned | RunStatus::PlannedAndSaved);
    let html = RunPage {
        nav: &v.nav,
        org: &ws.organization,
        ws: &ws.name,
        run: RunLine::of(&run),
        error: run.error_message.as_deref(),
        timeline: timeline(&run, &acts),
        changes,
        offered,
        csrf: &v.nav.csrf,
        plan_log,
        apply_log,
        live,
        events: format!(
            "/app/{}/workspaces/{}/runs/{}/events?plan={plan_after}&apply={apply_after}",
            ws.organization, ws.name, run.id
        ),
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// Who confirmed, discarded or canceled the run, and what they said: from the audit trail,
/// by the timeline step each act leads to.
async fn acts_on(s: &ApiState, ws: &Workspace, run: &Run) -> Result<HashMap<&'static str, String>, ApiError> {
    let mut out = HashMap::new();
    // One query per act (a run has many other events: a token minted per phase and more).
    for (action, step) in
        [("run.applied", "confirmed"), ("run.discarded", "discarded"), ("run.canceled", "canceled")]
    {
        let filter = AuditFilter {
            run_id: Some(run.id.clone()),
            action: Some(action.to_owned()),
            ..AuditFilter::default()
        };
        let events =
            s.store.audit_events(Some(&ws.organization_id), &filter, Page { number: 1, size: 10 }).await?;
        let Some(e) = events.items.last() else { continue };
        let comment = e.event.details.get("comment").and_then(serde_json::Value::as_str);
        let who = match comment {
            Some(c) => format!("by {}: “{c}”", e.event.actor),
            None => format!("by {}", e.event.actor),
        };
        out.insert(step, who);
    }
    Ok(out)
}

/// The run's steps in the order they happened.
fn timeline(run: &Run, acts: &HashMap<&'static str, String>) -> Vec<(String, String, String, String)> {
    let mut stamps: Vec<(&str, i64)> = run.run_timestamps().collect();
    stamps.sort_by_key(|(k, at)| (*at, *k));
    stamps
        .into_iter()
        .map(|(key, at)| {
            let step = key.trim_end_matches("-at").replace(['_', '-'], " ");
            let who = acts.get(key.trim_end_matches("-at")).cloned().unwrap_or_default();
            let (iso, shown) = when(at);
            (step, iso, shown, who)
        })
        .collect()
}

/// The plan's resource changes (from its redacted JSON plan), decoded off the async runtime.
async fn resource_changes(
    s: &ApiState,
    run: &Run,
) -> Result<Vec<(&'static str, &'static str, String)>, ApiError> {
    if run.resource_counts.is_none() {
        return Ok(Vec::new());
    }
    let json = match s.store.plan_json_redacted(&run.id).await {
        Ok(j) => j,
        Err(tern_store::StoreError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    tokio::task::spawn_blocking(move || changes_of(&json)).await.map_err(ApiError::internal)
}

fn changes_of(json: &[u8]) -> Vec<(&'static str, &'static str, String)> {
    let plan: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    let mut out = Vec::new();
    for rc in plan.get("resource_changes").and_then(serde_json::Value::as_array).into_iter().flatten() {
        let Some(address) = rc.get("address").and_then(serde_json::Value::as_str) else { continue };
        let actions: Vec<&str> = rc
            .pointer("/change/actions")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        let (shown, class) = match actions.as_slice() {
            ["create"] => ("+ create", "add"),
            ["update"] => ("~ update", "change"),
            ["delete"] => ("− destroy", "destroy"),
            ["delete", "create"] | ["create", "delete"] => ("± replace", "change"),
            ["read"] => ("≤ read", "change"),
            _ => continue,
        };
        out.push((shown, class, address.to_owned()));
        if out.len() == MAX_CHANGES {
            break;
        }
    }
    out
}

/// A phase's log to show (its end when it is long): text with its terminal colours as classes,
/// without other escapes or control characters (the template escapes the text), and the number
/// of its last chunk. Both come from one read, so a follower resumes exactly after what is shown.
async fn log_text(s: &ApiState, run: &Run, phase: RunPhase) -> Result<(Vec<Styled>, i64), ApiError> {
    let (bytes, last) = s.store.log_tail(&run.id, phase, MAX_LOG_BYTES as u64).await?;
    Ok((ansi::styled(&bytes), last))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    comment: String,
}

/// `POST …/runs/{run}/actions`: confirm & apply, discard or cancel, as the application layer
/// allows (a forged or unallowed post is refused there, whatever the page showed).
pub(crate) async fn run_action(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws, id)): Path<(String, String, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (run, ws) = or_page!(&v.nav, run_in(&s, &v.caller, &org, &ws, &id).await);
    let comment = Some(f.comment.as_str());
    let done = match f.action.as_str() {
        "apply" => app::runs::apply(&s, &v.caller, &run.id, comment).await,
        "discard" => app::runs::discard(&s, &v.caller, &run.id, comment).await,
        "cancel" => app::runs::cancel(&s, &v.caller, &run.id, comment).await,
        other => {
            Err(ApiError::bad_request(format!("there is no run action {other:?}: apply, discard or cancel")))
        }
    };
    or_page!(&v.nav, done);
    web::redirect(&format!("/app/{}/workspaces/{}/runs/{}", ws.organization, ws.name, run.id))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    plan: i64,
    #[serde(default)]
    apply: i64,
}

/// How long one event stream lasts: the browser reconnects (and is authorized again) after.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// How long a stream waits for the store's bell before it looks anyway: a change made by
/// another replica (PostgreSQL) rings no bell here.
const RECHECK: Duration = Duration::from_secs(1);
/// The least time between two looks at the store by one stream.
const READ_GAP: Duration = Duration::from_millis(50);
/// How often a stream asks whether its session still lives: a signed-out or revoked session
/// stops following within this, not at the stream's end.
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// Log bytes in one event, about.
const EVENT_BYTES: usize = 256 * 1024;
/// Event streams this server follows at once (each reads the store when its run changes);
/// beyond, the browser is told to come back (EventSource retries by itself) and the page still
/// works without.
const MAX_STREAMS: usize = 256;
static STREAMS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)));

struct Follow {
    /// Held while the stream lives.
    _slot: tokio::sync::OwnedSemaphorePermit,
    s: ApiState,
    run: String,
    /// Rings when a run changes in this process.
    changes: tern_store::RunChanges,
    after: [i64; 2],
    /// Each phase's log as a terminal: a colour, an escape or a character cut between two
    /// chunks carries over.
    terminals: [ansi::Terminal; 2],
    status: Option<RunStatus>,
    ends_at: tokio::time::Instant,
    /// When it last looked at the store after a wait.
    last_read: tokio::time::Instant,
    /// The session cookie's secret the stream was opened with, and when it was last found live.
    session: String,
    session_checked: tokio::time::Instant,
    done: bool,
}

impl Follow {
    fn id(&self) -> String {
        format!("{}.{}", self.after[0], self.after[1])
    }

    /// The next event: new log chunks first, then a changed status, then the end.
    async fn next(&mut self) -> Option<Event> {
        while !self.done {
            if self.session_checked.elapsed() >= SESSION_RECHECK {
                // Signed out, ended, expired, or the store unreachable: the stream ends (the
                // browser reconnects, and is asked to sign in if it must).
                self.s.store.session(&self.session, self.s.signin.idle_s()).await.ok()??;
                self.session_checked = tokio::time::Instant::now();
            }
            for (i, phase) in [RunPhase::Plan, RunPhase::Apply].into_iter().enumerate() {
                let chunks = self.s.store.log_after(&self.run, phase, self.after[i], 16).await.ok()?;
                if !chunks.is_empty() {
                    // At most about EVENT_BYTES an event (always one chunk at least): a long log
                    // is caught up with in steps, never held whole.
                    let mut bytes: Vec<u8> = Vec::new();
                    for (seq, data) in chunks {
                        if !bytes.is_empty() && bytes.len() + data.len() > EVENT_BYTES {
                            break;
                        }
                        self.after[i] = seq;
                        bytes.extend(data);
                    }
                    let parts: Vec<(String, String)> =
                        self.terminals[i].feed(&bytes).into_iter().map(|p| (p.text, p.class)).collect();
                    let data = serde_json::json!({"phase": phase.as_str(), "parts": parts});
                    return Some(Event::default().event("log").id(self.id()).data(data.to_string()));
                }
            }
            let run = self.s.store.run(&self.run).await.ok()?;
            if self.status != Some(run.status) {
                self.status = Some(run.status);
                let data = serde_json::json!({"status": run.status.as_str(), "tone": tone(run.status)});
                return Some(Event::default().event("status").id(self.id()).data(data.to_string()));
            }
            // Nothing more will arrive without a person (or at all): the page reloads.
            if run.status.is_final() || matches!(run.status, RunStatus::Planned | RunStatus::PlannedAndSaved)
            {
                self.done = true;
                return Some(Event::default().event("end").id(self.id()).data(run.status.as_str()));
            }
            let now = tokio::time::Instant::now();
            if now >= self.ends_at {
                return None;
            }
            self.changes.wait_for(&self.run, RECHECK.min(self.ends_at - now)).await;
            // At most one look a READ_GAP: a run whose log grows in tiny pieces (a hostile
            // agent posting a byte at a time) costs each follower a bounded number of reads.
            tokio::time::sleep_until(self.last_read + READ_GAP).await;
            self.last_read = tokio::time::Instant::now();
        }
        None
    }
}

/// `GET …/runs/{run}/events`: Server-Sent Events that follow a run — `log` (new text of a
/// phase), `status`, and `end` when the run needs a person or is over. Each event's id names
/// the last chunk of each log sent, so a reconnecting browser (`Last-Event-ID`) resumes
/// without a line twice or lost.
pub(crate) async fn run_events(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws, id)): Path<(String, String, String)>,
    Query(q): Query<EventsQuery>,
) -> Response {
    let (run, _) = or_page!(&v.nav, run_in(&s, &v.caller, &org, &ws, &id).await);
    let resumed = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once('.'))
        .and_then(|(p, a)| Some([p.parse().ok()?, a.parse().ok()?]));
    let Ok(slot) = STREAMS.clone().try_acquire_owned() else {
        let busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "this server follows as many live pages as it can; reload the page to see the run",
        );
        return failure(&v.nav, &busy);
    };
    let follow = Follow {
        _slot: slot,
        changes: s.store.run_changes(),
        s,
        run: run.id,
        after: resumed.unwrap_or([q.plan, q.apply]),
        terminals: Default::default(),
        status: None,
        ends_at: tokio::time::Instant::now() + STREAM_LIFETIME,
        last_read: tokio::time::Instant::now(),
        session: v.secret.clone(),
        session_checked: tokio::time::Instant::now(),
        done: false,
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        f.next().await.map(|e| (Ok::<_, std::convert::Infallible>(e), f))
    });
    let mut r = Sse::new(events).keep_alive(KeepAlive::default()).into_response();
    r.headers_mut()
        .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}

// ------------------------------------------------------------------------------ variables

/// A variable as a page shows it: a sensitive one without its value.
#[derive(Debug)]
pub(crate) struct VariableRow {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) description: String,
    pub(crate) category: &'static str,
    pub(crate) hcl: bool,
    pub(crate) sensitive: bool,
}

#[derive(Template)]
#[template(path = "variables.html")]
struct VariablesPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a str,
    base: String,
    vars: Vec<VariableRow>,
    /// The variable sets that apply, in the order a run takes them.
    sets: Vec<SetRow>,
    can_write: bool,
    csrf: &'a str,
}

/// A variable set that applies to the workspace, and its variables with whether a run gets
/// each (`false`: overridden).
#[derive(Debug)]
struct SetRow {
    name: String,
    description: String,
    reach: &'static str,
    vars: Vec<(VariableRow, bool)>,
}

impl VariableRow {
    pub(crate) fn of(var: tern_store::Variable) -> Self {
        Self {
            id: var.id,
            key: var.key,
            // A sensitive value is not in the record at all (the store keeps it sealed).
            value: if var.sensitive { String::new() } else { var.value.unwrap_or_default() },
            description: var.description,
            category: var.category.as_str(),
            hcl: var.hcl,
            sensitive: var.sensitive,
        }
    }
}

pub(crate) async fn variables(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws)): Path<(String, String)>,
) -> Response {
    let (ws, _) =
        or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::ReadVariables).await);
    v.nav.org = Some(ws.organization.clone());
    let (ws, vars, sets) = or_page!(&v.nav, app::variables::applied(&s, &v.caller, &ws.id).await);
    let can_write =
        or_page!(&v.nav, crate::api::access::allows(&s, &v.caller, &ws, WA::WriteVariables).await);
    let vars = vars.into_iter().map(VariableRow::of).collect();
    let sets = sets
        .into_iter()
        .map(|a| SetRow {
            name: a.set.name,
            description: a.set.description,
            reach: a.reach.describe(),
            vars: a.variables.into_iter().map(|(var, wins)| (VariableRow::of(var), wins)).collect(),
        })
        .collect();
    let html = VariablesPage {
        nav: &v.nav,
        org: &ws.organization,
        ws: &ws.name,
        base: format!("/app/{}/workspaces/{}/variables", ws.organization, ws.name),
        vars,
        sets,
        can_write,
        csrf: &v.nav.csrf,
    }
    .render();
    web::page(StatusCode::OK, html)
}

#[derive(Debug, Deserialize)]
pub(crate) struct VariableForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) action: String,
    key: Option<String>,
    value: Option<String>,
    category: Option<String>,
    description: Option<String>,
    hcl: Option<String>,
    sensitive: Option<String>,
}

impl VariableForm {
    /// What the form changes. An empty value of a sensitive variable keeps its value; a
    /// checkbox absent from the form is off (sensitivity only ever turns on).
    pub(crate) fn input(&self, sensitive_now: bool) -> Result<tern_store::VariableInput, ApiError> {
        let category = match self.category.as_deref() {
            None => None,
            Some(c) => Some(tern_store::Category::parse(c).ok_or_else(|| {
                ApiError::bad_request(format!("category {c:?} is not one of: terraform, env"))
            })?),
        };
        let value = match self.value.as_deref() {
            Some("") if sensitive_now => None,
            // Browsers send CRLF line ends from a textarea; Terraform's values use LF.
            v => v.map(|v| tern_types::SecretString::new(v.replace("\r\n", "\n"))),
        };
        Ok(tern_store::VariableInput {
            key: self.key.as_ref().map(|k| k.trim().to_owned()),
            value,
            description: self.description.clone(),
            category,
            hcl: Some(self.hcl.is_some()),
            sensitive: self.sensitive.is_some().then_some(true),
        })
    }
}

/// `POST …/variables`: add one.
pub(crate) async fn add_variable(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws)): Path<(String, String)>,
    Form(f): Form<VariableForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (ws, _) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    let input = or_page!(&v.nav, f.input(false));
    or_page!(&v.nav, app::variables::create(&s, &v.caller, &ws.id, &input).await);
    web::redirect(&format!("/app/{}/workspaces/{}/variables", ws.organization, ws.name))
}

/// `POST …/variables/{var}`: save or delete one.
pub(crate) async fn change_variable(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws, var)): Path<(String, String, String)>,
    Form(f): Form<VariableForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (ws, _) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    let done = match f.action.as_str() {
        "delete" => app::variables::delete(&s, &v.caller, &ws.id, &var).await,
        "update" => {
            let (current, _) = or_page!(
                &v.nav,
                app::variables::of_workspace(&s, &v.caller, &ws.id, &var, WA::WriteVariables).await
            );
            let input = or_page!(&v.nav, f.input(current.sensitive));
            app::variables::update(&s, &v.caller, &ws.id, &var, &input).await.map(drop)
        }
        other => {
            Err(ApiError::bad_request(format!("there is no variable action {other:?}: update or delete")))
        }
    };
    or_page!(&v.nav, done);
    web::redirect(&format!("/app/{}/workspaces/{}/variables", ws.organization, ws.name))
}

/// `/app/{org}/{ws}/runs/{run}`, the link Terraform prints: the run's page.
pub(crate) async fn printed_run_link(Path((org, ws, run)): Path<(String, String, String)>) -> Response {
    if ![&org, &ws, &run].iter().all(|s| is_name(s)) {
        return web::redirect("/app");
    }
    web::redirect(&format!("/app/{org}/workspaces/{ws}/runs/{run}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_changes_read_as_terraform_prints_them() {
        let plan = br#"{"resource_changes":[
            {"address":"a.b","change":{"actions":["create"]}},
            {"address":"a.c","change":{"actions":["no-op"]}},
            {"address":"a.d","change":{"actions":["delete","create"]}},
            {"address":"a.e","change":{"actions":["delete"]}}]}"#;
        let got: Vec<String> = changes_of(plan).into_iter().map(|(s, _, a)| format!("{s} {a}")).collect();
        assert_eq!(got, ["+ create a.b", "± replace a.d", "− destroy a.e"]);
    }

    #[test]
    fn pages_link_with_their_filters() {
        let p = pager(
            "/app/acme/workspaces",
            &[("search", "a b"), ("tag", "")],
            60,
            Page { number: 2, size: 25 },
        );
        assert_eq!(p.pages, 3);
        assert_eq!(p.previous.as_deref(), Some("/app/acme/workspaces?search=a+b&page=1"));
        assert_eq!(p.next.as_deref(), Some("/app/acme/workspaces?search=a+b&page=3"));
    }

    #[test]
    fn an_empty_value_keeps_a_sensitive_variables_value_and_only_that() {
        let form = |value: &str| VariableForm {
            csrf: String::new(),
            action: "update".into(),
            key: None,
            value: Some(value.into()),
            category: None,
            description: None,
            hcl: None,
            sensitive: None,
        };
        let value = |i: tern_store::VariableInput| i.value.map(|v| v.expose_secret().to_owned());
        assert_eq!(value(form("").input(true).unwrap()), None, "kept");
        assert_eq!(value(form("").input(false).unwrap()), Some(String::new()), "emptied");
        assert_eq!(value(form("a\r\nb").input(true).unwrap()), Some("a\nb".to_owned()));
        let i = form("x").input(false).unwrap();
        assert_eq!(
            (i.hcl, i.sensitive),
            (Some(false), None),
            "an unchecked box turns HCL off, never sensitivity"
        );
    }

    #[test]
    fn only_names_go_into_a_redirect() {
        assert!(is_name("run-abc_1.2"));
        for bad in ["", "//evil.example", "a/b", "a b", "x\\y", "%2F"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
