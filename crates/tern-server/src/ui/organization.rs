//! An organization's settings pages, under TFE's `/app/{org}/settings/…`: the audit trail
//! (filtered, newest first), the API tokens (listed, created — the secret shown once, on the
//! answer to the form — and revoked). Who may see and do what is the application layer's
//! decision (`app::organization`), the same the API's; a page only offers what it would allow,
//! and it decides again on every post.

use std::time::SystemTime;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tern_access::OrgAction as OA;
use tern_store::{Token, TokenKind};
use tern_types::SecretString;

use super::pages::{Pager, page_of, pager};
use super::{Nav, Viewer, failure, when};
use crate::api::{ApiError, ApiState};
use crate::app;
use crate::app::organization::TrailQuery;
use crate::app::workspaces::Named;
use crate::web;

/// `/app/{org}/settings`: its first page everyone who may see the organization can open.
pub(crate) async fn index(Path(org): Path<String>) -> Response {
    let org: String = url::form_urlencoded::byte_serialize(org.as_bytes()).collect();
    web::redirect(&format!("/app/{org}/settings/teams"))
}

// ------------------------------------------------------------------------------ audit trail

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TrailForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    page: Option<u32>,
}

/// A day (`2026-12-07`, as a date input sends it) or an RFC 3339 time, as unix seconds; a day
/// means its start (`end`: the start of the next, so that "to" includes the day).
fn day(field: &str, text: &str, end: bool) -> Result<Option<i64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date_only = text.len() == 10;
    let full = if date_only { format!("{text}T00:00:00Z") } else { text.to_owned() };
    let at = humantime::parse_rfc3339_weak(&full).map_err(|_| {
        ApiError::bad_request(format!("{field} must be a date such as 2026-12-07, not {text:?}"))
    })?;
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| ApiError::bad_request(format!("{field} is before 1970")))?;
    Ok(Some(if date_only && end { secs + 86_400 } else { secs }))
}

impl TrailForm {
    fn query(&self) -> Result<TrailQuery, ApiError> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(TrailQuery {
            action_prefix: text(&self.action),
            actor: text(&self.actor),
            workspace: text(&self.workspace),
            since: day("from", &self.from, false)?,
            until: day("to", &self.to, true)?,
        })
    }
}

#[derive(Debug)]
struct EventRow {
    when: (String, String),
    actor: String,
    actor_kind: String,
    action: String,
    /// (id, its name if it still exists)
    workspace: Option<(String, Option<String>)>,
    run: Option<String>,
    /// The run's workspace's name, for its link.
    run_ws: Option<String>,
    details: Vec<(String, String)>,
}

/// An event's details as text: each key with its value (a string as it is, anything else as
/// JSON). Escaped by the template like all text.
fn details_text(v: &serde_json::Value) -> Vec<(String, String)> {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![(String::new(), other.to_string())],
    }
}

#[derive(Template)]
#[template(path = "org_trail.html")]
struct TrailPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    action: &'a str,
    actor: &'a str,
    workspace: &'a str,
    from: &'a str,
    to: &'a str,
    total: u64,
    rows: Vec<EventRow>,
    pager: Pager,
}

/// `GET /app/{org}/settings/audit-trail`.
pub(crate) async fn trail(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path(org): Path<String>,
    Query(f): Query<TrailForm>,
) -> Response {
    let q = or_page!(&v.nav, f.query());
    let page = page_of(f.page);
    let (org, paged) = or_page!(&v.nav, app::organization::audit_trail(&s, &v.caller, &org, &q, page).await);
    v.nav.org = Some(org.name.clone());
    let ids: Vec<String> = paged.items.iter().filter_map(|e| e.event.workspace_id.clone()).collect();
    let names = or_page!(&v.nav, app::organization::workspace_names(&s, &org, &ids).await);
    let rows = paged
        .items
        .iter()
        .map(|e| {
            let ws_name = e.event.workspace_id.as_ref().and_then(|id| names.get(id).cloned());
            EventRow {
                when: when(e.at),
                actor: e.event.actor.clone(),
                actor_kind: e.event.actor_kind.clone(),
                action: e.event.action.clone(),
                workspace: e.event.workspace_id.clone().map(|id| (id, ws_name.clone())),
                run: e.event.run_id.clone(),
                run_ws: ws_name,
                details: details_text(&e.event.details),
            }
        })
        .collect();
    let path = format!("/app/{}/settings/audit-trail", org.name);
    let params = [
        ("action", f.action.as_str()),
        ("actor", &f.actor),
        ("workspace", &f.workspace),
        ("from", &f.from),
        ("to", &f.to),
    ];
    let html = TrailPage {
        nav: &v.nav,
        org: &org.name,
        action: &f.action,
        actor: &f.actor,
        workspace: &f.workspace,
        from: &f.from,
        to: &f.to,
        total: paged.total,
        rows,
        pager: pager(&path, &params, paged.total, page),
    }
    .render();
    web::page(StatusCode::OK, html)
}

// ------------------------------------------------------------------------------ tokens

#[derive(Debug)]
struct TokenRow {
    id: String,
    kind: &'static str,
    /// The team or agent pool it belongs to.
    owner: String,
    description: String,
    created: (String, String),
    creator: String,
    last_used: Option<(String, String)>,
    expires: Option<(String, String)>,
    can_revoke: bool,
}

/// A token just created: shown on this one answer, never again.
struct NewToken<'a> {
    kind: &'static str,
    description: &'a str,
    secret: &'a str,
}

#[derive(Template)]
#[template(path = "org_tokens.html")]
struct TokensPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    rows: Vec<TokenRow>,
    /// The caller may see the organization's tokens (else only the one just created).
    can_list: bool,
    created: Option<NewToken<'a>>,
    can_org: bool,
    /// Teams the caller may create tokens for: (id, name).
    teams: Vec<(String, String)>,
    csrf: &'a str,
}

/// The tokens page, with a token just created (`created`) shown once.
async fn tokens_page(
    s: &ApiState,
    mut v: Viewer,
    org: &str,
    created: Option<(&Token, &SecretString)>,
) -> Response {
    let (org, standing) = or_page!(&v.nav, app::organization::organization(s, &v.caller, org, OA::See).await);
    v.nav.org = Some(org.name.clone());
    // Someone who may make a token (a team's manager) but not list them (owners) is still
    // shown the one they just made: its secret exists nowhere else.
    let tokens = match app::organization::tokens(s, &v.caller, &org.name).await {
        Ok((_, _, tokens)) => Some(tokens),
        Err(e) if created.is_some() && e.status == StatusCode::FORBIDDEN => None,
        Err(e) => return failure(&v.nav, &e),
    };
    let can_list = tokens.is_some();
    let tokens = tokens.unwrap_or_default();
    let teams = or_page!(&v.nav, app::organization::teams(s, &org).await);
    let pools = or_page!(&v.nav, app::organization::pools(s, &org).await);
    let mut rows = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let owner = match t.kind {
            TokenKind::Team => teams
                .iter()
                .find(|team| Some(&team.id) == t.team_id.as_ref())
                .map(|team| format!("team {}", team.name)),
            TokenKind::Agent => pools
                .iter()
                .find(|p| Some(&p.id) == t.agent_pool_id.as_ref())
                .map(|p| format!("pool {}", p.name))
                .or_else(|| Some("every agent of the organization".to_owned())),
            _ => None,
        };
        rows.push(TokenRow {
            id: t.id.clone(),
            kind: t.kind.as_str(),
            owner: owner.unwrap_or_default(),
            description: t.description.clone(),
            created: when(t.created_at),
            creator: app::organization::creator_name(s, t.created_by.as_deref(), &teams).await,
            last_used: t.last_used_at.map(when),
            expires: t.expires_at.map(when),
            can_revoke: app::organization::may_revoke(
                &standing,
                t,
                teams.iter().any(|team| team.is_owners() && Some(&team.id) == t.team_id.as_ref()),
            ),
        });
    }
    let can_org = standing.organization(OA::ManageOrganizationTokens).is_ok();
    let teams = teams
        .iter()
        .filter(|t| app::organization::may_manage_team(&standing, t))
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    let created = created.map(|(t, secret)| NewToken {
        kind: t.kind.as_str(),
        description: &t.description,
        secret: secret.expose_secret(),
    });
    let html = TokensPage {
        nav: &v.nav,
        org: &org.name,
        rows,
        can_list,
        created,
        can_org,
        teams,
        csrf: &v.nav.csrf,
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// `GET /app/{org}/settings/tokens`.
pub(crate) async fn tokens(State(s): State<ApiState>, v: Viewer, Path(org): Path<String>) -> Response {
    tokens_page(&s, v, &org, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf: String,
    /// `organization`, or a team's id.
    #[serde(default, rename = "for")]
    target: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires_days: String,
}

/// Longest description kept.
const MAX_DESCRIPTION_CHARS: usize = 200;
/// Longest lifetime a form may ask for, in days.
const MAX_DAYS: i64 = 3650;

impl CreateForm {
    /// (description, expiry) as the application layer takes them.
    fn input(&self, now: i64) -> Result<(Option<String>, Option<i64>), ApiError> {
        let description = self.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ApiError::bad_request(format!(
                "a description has at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        let expires = match self.expires_days.trim() {
            "" => None,
            days => {
                let days =
                    days.parse::<i64>().ok().filter(|d| (1..=MAX_DAYS).contains(d)).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "a token expires after 1 to {MAX_DAYS} days, or never; not {days:?}"
                        ))
                    })?;
                Some(now + days * 86_400)
            }
        };
        Ok((Some(description.to_owned()).filter(|d| !d.is_empty()), expires))
    }
}

/// `POST /app/{org}/settings/tokens`: create a token; the answer shows its secret, once.
pub(crate) async fn create_token(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(f): Form<CreateForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let now = s.store.unix_now();
    let input = Box::new(|| f.input(now));
    let made = match f.target.as_str() {
        "organization" => app::organization::create_org_token(&s, &v.caller, &org, input).await,
        team => app::organization::create_team_token(&s, &v.caller, Some(&org), team, false, input).await,
    };
    let (token, secret) = or_page!(&v.nav, made);
    tokens_page(&s, v, &org, Some((&token, &secret))).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /app/{org}/settings/tokens/{id}/revoke`.
pub(crate) async fn revoke_token(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(f): Form<RevokeForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    // The organization in the address must be the token's (a token is revoked from its own page).
    let (org, _) = or_page!(&v.nav, app::organization::organization(&s, &v.caller, &org, OA::See).await);
    // As the API decides: whoever may revoke it (who need not be able to list the tokens).
    let t = or_page!(&v.nav, app::organization::token_for(&s, &v.caller, &id, true).await);
    if t.organization_id.as_deref() != Some(org.id.as_str()) {
        return failure(&v.nav, &ApiError::not_found(format!("authentication token {id:?} not found")));
    }
    or_page!(&v.nav, app::organization::revoke_token(&s, &v.caller, &id).await);
    web::redirect(&format!("/app/{}/settings/tokens", org.name))
}

// ------------------------------------------------------------------------------ teams

#[derive(Debug)]
struct TeamRow {
    name: String,
    members: u64,
    permissions: Vec<String>,
}

#[derive(Template)]
#[template(path = "org_teams.html")]
struct TeamsPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    rows: Vec<TeamRow>,
    /// The caller may create teams.
    can_create: bool,
    /// The organization permissions a new team may be given by the caller (none: it may not).
    permissions: Vec<(&'static str, bool)>,
    csrf: &'a str,
}

/// `GET /app/{org}/settings/teams`: every member sees the teams.
pub(crate) async fn teams(State(s): State<ApiState>, mut v: Viewer, Path(org): Path<String>) -> Response {
    let (org, standing, teams) = or_page!(&v.nav, app::organization::team_list(&s, &v.caller, &org).await);
    v.nav.org = Some(org.name.clone());
    let rows = teams
        .iter()
        .map(|t| TeamRow {
            name: t.name.clone(),
            members: t.users_count,
            permissions: app::organization::permission_names(t),
        })
        .collect();
    let (can_create, can_grant) = app::teams::may_create(&standing);
    let permissions =
        if can_grant { app::teams::ACTED_ON.iter().map(|p| (*p, false)).collect() } else { Vec::new() };
    let html =
        TeamsPage { nav: &v.nav, org: &org.name, rows, can_create, permissions, csrf: &v.nav.csrf }.render();
    web::page(StatusCode::OK, html)
}

#[derive(Template)]
#[template(path = "org_team.html")]
struct TeamPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    team: &'a app::organization::TeamView,
    permissions: Vec<String>,
    /// Every permission a form offers, with whether the team holds it (when the caller may
    /// change them).
    choices: Vec<(&'static str, bool)>,
    workspace_levels: &'static [&'static str],
    project_levels: &'static [&'static str],
    csrf: &'a str,
}

/// The access levels a form offers (`custom` is set through the API).
const WORKSPACE_LEVELS: [&str; 4] = ["read", "plan", "write", "admin"];
const PROJECT_LEVELS: [&str; 4] = ["read", "write", "maintain", "admin"];

/// `GET /app/{org}/settings/teams/{team}`: its members and its access, with the forms the
/// caller may use.
pub(crate) async fn team(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, team)): Path<(String, String)>,
) -> Response {
    let view = or_page!(&v.nav, app::organization::team(&s, &v.caller, &org, &team).await);
    v.nav.org = Some(view.team.organization.clone());
    let permissions = app::organization::permission_names(&view.team);
    let choices = if view.can_change_permissions {
        app::teams::ACTED_ON.iter().map(|p| (*p, permissions.iter().any(|h| h == p))).collect()
    } else {
        Vec::new()
    };
    let html = TeamPage {
        nav: &v.nav,
        org: &view.team.organization,
        permissions,
        choices,
        workspace_levels: &WORKSPACE_LEVELS,
        project_levels: &PROJECT_LEVELS,
        team: &view,
        csrf: &v.nav.csrf,
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// A posted form's fields in order (a field may repeat: a checkbox list).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name` (empty if absent).
    fn one(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`.
    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

fn team_path(org: &str, team: &str) -> String {
    let team: String = url::form_urlencoded::byte_serialize(team.as_bytes()).collect();
    format!("/app/{org}/settings/teams/{team}")
}

/// `POST /app/{org}/settings/teams`: create a team.
pub(crate) async fn create_team(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, f.one("csrf")) {
        return *r;
    }
    let input = || {
        let names = f.all("permission");
        let access = if names.is_empty() {
            None
        } else {
            Some(app::teams::permissions_named(tern_access::OrgPermissions::default(), &names)?)
        };
        Ok(app::teams::NewTeam { name: f.one("name").trim().to_owned(), access, ..Default::default() })
    };
    let (t, _) = or_page!(&v.nav, app::teams::create(&s, &v.caller, &org, input).await);
    web::redirect(&team_path(&t.organization, &t.name))
}

/// `POST /app/{org}/settings/teams/{team}`: rename it, change its organization permissions.
pub(crate) async fn update_team(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, team)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, f.one("csrf")) {
        return *r;
    }
    let t = or_page!(&v.nav, app::teams::by_name(&s, &v.caller, &org, &team).await);
    let input = |t: &tern_store::Team| {
        let name = f.one("name").trim();
        // The checkboxes are on the form only for those who may change permissions; an
        // unchecked box is absent, so the form says that it showed them.
        let access = if f.has("permissions-shown") {
            Some(app::teams::permissions_named(t.access, &f.all("permission"))?)
        } else {
            None
        };
        Ok(app::teams::TeamUpdate {
            name: Some(name.to_owned()).filter(|n| !n.is_empty()),
            access,
            ..Default::default()
        })
    };
    let (t, _) = or_page!(&v.nav, app::teams::update(&s, &v.caller, &t.id, input).await);
    web::redirect(&team_path(&t.organization, &t.name))
}

/// `POST /app/{org}/settings/teams/{team}/delete`.
pub(crate) async fn delete_team(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, team)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, f.one("csrf")) {
        return *r;
    }
    let t = or_page!(&v.nav, app::teams::by_name(&s, &v.caller, &org, &team).await);
    let t = or_page!(&v.nav, app::teams::delete(&s, &v.caller, &t.id).await);
    web::redirect(&format!("/app/{}/settings/teams", t.organization))
}

/// A workspace access level from a form (`custom` is set through the API).
fn workspace_level(level: &str) -> Result<tern_access::WorkspaceGrant, ApiError> {
    match tern_access::AccessLevel::parse(level) {
        Ok(tern_access::AccessLevel::Custom) | Err(_) => Err(ApiError::bad_request(format!(
            "the access level {level:?} is not one of: read, plan, write, admin"
        ))),
        Ok(l) => Ok(tern_access::WorkspaceGrant::level(l)),
    }
}

/// A project access level from a form.
fn project_level(level: &str) -> Result<tern_access::ProjectGrant, ApiError> {
    match tern_access::ProjectAccessLevel::parse(level) {
        Ok(tern_access::ProjectAccessLevel::Custom) | Err(_) => Err(ApiError::bad_request(format!(
            "the access level {level:?} is not one of: read, write, maintain, admin"
        ))),
        Ok(l) => Ok(tern_access::ProjectGrant::level(l)),
    }
}

/// `POST /app/{org}/settings/teams/{team}/{kind}` (`workspaces`, `projects`): give the team
/// access to one.
pub(crate) async fn grant_access(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, team, kind)): Path<(String, String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, f.one("csrf")) {
        return *r;
    }
    let t = or_page!(&v.nav, app::teams::by_name(&s, &v.caller, &org, &team).await);
    let (target, level) = (f.one("target"), f.one("access"));
    // The form names the workspace (project); a page rendered before it did sends the id.
    let named = |field: &str| match f.one(field).trim() {
        "" => Named::Id(target),
        name => Named::Name { org: &org, name },
    };
    let done = match kind.as_str() {
        "workspaces" => {
            let ws = named("workspace");
            app::teams::grant_workspace(&s, &v.caller, ws, &t.id, || workspace_level(level)).await.map(drop)
        }
        "projects" => {
            let p = named("project");
            app::teams::grant_project(&s, &v.caller, p, &t.id, || project_level(level)).await.map(drop)
        }
        _ => Err(ApiError::not_found("there is no such page")),
    };
    or_page!(&v.nav, done);
    web::redirect(&team_path(&t.organization, &t.name))
}

/// `POST /app/{org}/settings/teams/{team}/{kind}/{id}`: change (`action=update`) or remove
/// (`action=delete`) the team's access `id`.
pub(crate) async fn change_access(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, team, kind, id)): Path<(String, String, String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, f.one("csrf")) {
        return *r;
    }
    let t = or_page!(&v.nav, app::teams::by_name(&s, &v.caller, &org, &team).await);
    if matches!(kind.as_str(), "workspaces" | "projects") {
        or_page!(&v.nav, app::teams::access_of_team(&s, kind == "projects", &id, &t.id).await);
    }
    let level = f.one("access");
    let done = match (kind.as_str(), f.one("action")) {
        ("workspaces", "update") => {
            app::teams::change_workspace_access(&s, &v.caller, &id, |_| workspace_level(level))
                .await
                .map(drop)
        }
        ("workspaces", "delete") => app::teams::revoke_workspace_access(&s, &v.caller, &id).await,
        ("projects", "update") => {
            app::teams::change_project_access(&s, &v.caller, &id, |_| project_level(level)).await.map(drop)
        }
        ("projects", "delete") => app::teams::revoke_project_access(&s, &v.caller, &id).await,
        ("workspaces" | "projects", other) => {
            Err(ApiError::bad_request(format!("there is no access action {other:?}: update or delete")))
        }
        _ => Err(ApiError::not_found("there is no such page")),
    };
    or_page!(&v.nav, done);
    web::redirect(&team_path(&t.organization, &t.name))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MembersForm {
    #[serde(default)]
    csrf: String,
    /// `add` or `remove`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    username: String,
}

/// `POST /app/{org}/settings/teams/{team}/members`: add or remove one member.
pub(crate) async fn change_members(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, team)): Path<(String, String)>,
    Form(f): Form<MembersForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let view = or_page!(&v.nav, app::organization::team(&s, &v.caller, &org, &team).await);
    let add = match f.action.as_str() {
        "add" => true,
        "remove" => false,
        other => {
            return failure(
                &v.nav,
                &ApiError::bad_request(format!("there is no member action {other:?}: add or remove")),
            );
        }
    };
    let username = f.username.trim().to_owned();
    let usernames = || {
        if username.is_empty() {
            Err(ApiError::bad_request("name the user to add or remove"))
        } else {
            Ok(vec![username.clone()])
        }
    };
    let t = or_page!(
        &v.nav,
        app::organization::change_members(&s, &v.caller, &view.team.id, usernames, add).await
    );
    web::redirect(&team_path(&t.organization, &t.name))
}

// ------------------------------------------------------------------------------ agent pools

#[derive(Debug)]
struct AgentRow {
    name: String,
    versions: String,
    last_seen: (String, String),
    online: bool,
    /// What it runs now: the phase, and the workspace and run when the caller may see them.
    jobs: Vec<(String, Option<(String, String)>)>,
}

#[derive(Debug)]
struct PoolRow {
    id: String,
    name: String,
    count: u64,
    workspaces: Vec<String>,
    agents: Option<Vec<AgentRow>>,
}

#[derive(Template)]
#[template(path = "org_agents.html")]
struct AgentsPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    pools: Vec<PoolRow>,
}

/// `GET /app/{org}/settings/agents`: pools, their agents and workspaces (read-only).
pub(crate) async fn agents(State(s): State<ApiState>, mut v: Viewer, Path(org): Path<String>) -> Response {
    let (org, pools) = or_page!(&v.nav, app::organization::pool_list(&s, &v.caller, &org).await);
    v.nav.org = Some(org.name.clone());
    let pools = pools
        .into_iter()
        .map(|p| PoolRow {
            id: p.pool.id,
            name: p.pool.name,
            count: p.pool.agent_count,
            workspaces: p.workspaces,
            agents: p.agents.map(|agents| {
                agents
                    .into_iter()
                    .map(|a| AgentRow {
                        name: a.name,
                        versions: a.terraform_versions.replace(',', ", "),
                        last_seen: when(a.last_seen),
                        online: a.online,
                        jobs: a.jobs.into_iter().map(|j| (j.phase, j.run)).collect(),
                    })
                    .collect()
            }),
        })
        .collect();
    let html = AgentsPage { nav: &v.nav, org: &org.name, pools }.render();
    web::page(StatusCode::OK, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_utc_and_to_includes_its_day() {
        assert_eq!(day("from", "2026-12-07", false).unwrap(), Some(1_796_601_600));
        assert_eq!(day("to", "2026-12-07", true).unwrap(), Some(1_796_601_600 + 86_400));
        assert_eq!(day("to", "", true).unwrap(), None);
        assert!(day("from", "yesterday", false).unwrap_err().detail.contains("from"));
    }

    #[test]
    fn details_are_text_by_key() {
        let d = details_text(&serde_json::json!({"name": "<b>x</b>", "n": 3, "list": ["a"]}));
        assert!(d.contains(&("name".into(), "<b>x</b>".into())));
        assert!(d.contains(&("n".into(), "3".into())));
        assert!(d.contains(&("list".into(), "[\"a\"]".into())));
    }

    #[test]
    fn a_lifetime_is_whole_days_within_bounds() {
        let f = |days: &str| CreateForm {
            csrf: String::new(),
            target: "organization".into(),
            description: " ci ".into(),
            expires_days: days.into(),
        };
        assert_eq!(f("30").input(1000).unwrap(), (Some("ci".into()), Some(1000 + 30 * 86_400)));
        assert_eq!(f("").input(1000).unwrap().1, None);
        for bad in ["0", "-1", "3651", "soon"] {
            assert!(f(bad).input(1000).is_err(), "{bad}");
        }
    }
}
