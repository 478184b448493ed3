//! Teams, their members, tokens and access, in TFE's shapes (`teams`, `team-workspaces`,
//! `team-projects`, `authentication-tokens`). Who may do what is asked of `access.rs`: teams are
//! seen by the organization's members and managed with `manage-teams`; members are added with
//! `manage-membership`; organization permissions are changed with `manage-organization-access`;
//! a team's access to a workspace (project) is granted by whoever administers that workspace
//! (project).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tern_access::{
    AccessLevel, OrgAction as OA, OrgPermissions, ProjectAccessLevel, ProjectAction as PA, ProjectCustom,
    ProjectGrant, ProjectSettingsPermission, ProjectTeamsPermission, RunsPermission, Standing,
    StatePermission, VariableSetsPermission, VariablesPermission, WorkspaceAction as WA, WorkspaceGrant,
};
use tern_protocol::jsonapi::{Resource, ToMany, ToOne};
use tern_protocol::resources as r;
use tern_store::{Team, TeamProject, TeamWorkspace};

use super::docs::{self, Doc};
use super::table::{Table, Verb};
use super::user::check_query;
use super::{ApiError, ApiState, Caller, access};
use crate::app;
use crate::app::workspaces::Named;

type ApiResult = Result<Response, ApiError>;
type Q = Query<HashMap<String, String>>;

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(
        Verb::Get,
        "/api/v2/organizations/{org}/teams",
        "List teams (q, filter[names], include=users)",
        list_teams,
    )
    .add(
        Verb::Post,
        "/api/v2/organizations/{org}/teams",
        "Create a team (manage-teams; organization-access needs manage-organization-access)",
        create_team,
    )
    .add(Verb::Get, "/api/v2/teams/{id}", "Show a team (include=users)", show_team)
    .add(
        Verb::Patch,
        "/api/v2/teams/{id}",
        "Change a team's name, visibility, group or permissions",
        update_team,
    )
    .add(Verb::Delete, "/api/v2/teams/{id}", "Delete a team (never owners)", delete_team)
    .add(
        Verb::Post,
        "/api/v2/teams/{id}/relationships/users",
        "Add users to a team, by username (manage-membership)",
        add_members,
    )
    .add(
        Verb::Delete,
        "/api/v2/teams/{id}/relationships/users",
        "Remove users from a team, by username (manage-membership)",
        remove_members,
    )
    .add(
        Verb::Post,
        "/api/v2/teams/{id}/authentication-token",
        "Create the team's token, revoking its earlier ones (shown once)",
        create_legacy_token,
    )
    .add(
        Verb::Get,
        "/api/v2/teams/{id}/authentication-token",
        "Show the team's newest token",
        show_legacy_token,
    )
    .add(
        Verb::Delete,
        "/api/v2/teams/{id}/authentication-token",
        "Revoke every token of the team",
        delete_legacy_token,
    )
    .add(Verb::Get, "/api/v2/teams/{id}/authentication-tokens", "List the team's tokens", list_team_tokens)
    .add(
        Verb::Get,
        "/api/v2/organizations/{org}/team-tokens",
        "List the tokens of the organization's teams (manage-teams; q: part of the team's name)",
        list_org_team_tokens,
    )
    .add(
        Verb::Post,
        "/api/v2/teams/{id}/authentication-tokens",
        "Create another token for the team (shown once)",
        create_team_token,
    )
    .add(
        Verb::Get,
        "/api/v2/team-workspaces",
        "Teams' access to a workspace (filter[workspace][id]), or one team's (filter[team][id])",
        list_team_workspaces,
    )
    .add(Verb::Post, "/api/v2/team-workspaces", "Give a team access to a workspace", create_team_workspace)
    .add(
        Verb::Get,
        "/api/v2/team-workspaces/{id}",
        "Show a team's access to a workspace",
        show_team_workspace,
    )
    .add(
        Verb::Patch,
        "/api/v2/team-workspaces/{id}",
        "Change a team's access to a workspace",
        update_team_workspace,
    )
    .add(
        Verb::Delete,
        "/api/v2/team-workspaces/{id}",
        "Remove a team's access to a workspace",
        delete_team_workspace,
    )
    .add(
        Verb::Get,
        "/api/v2/team-projects",
        "Teams' access to a project (filter[project][id]), or one team's (filter[team][id])",
        list_team_projects,
    )
    .add(Verb::Post, "/api/v2/team-projects", "Give a team access to a project", create_team_project)
    .add(Verb::Get, "/api/v2/team-projects/{id}", "Show a team's access to a project", show_team_project)
    .add(
        Verb::Patch,
        "/api/v2/team-projects/{id}",
        "Change a team's access to a project",
        update_team_project,
    )
    .add(
        Verb::Delete,
        "/api/v2/team-projects/{id}",
        "Remove a team's access to a project",
        delete_team_project,
    )
}

// ---------------------------------------------------------------- documents

async fn team_doc(s: &ApiState, t: &Team, standing: &Standing) -> Result<r::Team, ApiError> {
    let members = s.store.team_members(&t.id).await?;
    let may = |a| standing.organization(a).is_ok();
    let ids: Vec<String> = members.iter().map(|u| u.id.clone()).collect();
    Ok(Resource::new(
        t.id.clone(),
        r::TeamAttributes {
            name: t.name.clone(),
            sso_team_id: t.sso_team_id.clone(),
            users_count: t.users_count,
            visibility: t.visibility.clone(),
            allow_member_token_management: false,
            organization_access: t.access,
            permissions: r::TeamPermissions {
                can_destroy: may(OA::ManageTeams) && !t.is_owners(),
                can_update_membership: may(OA::ManageMembership),
                can_update_organization_access: may(OA::ManageOrganizationAccess) && !t.is_owners(),
                can_update_api_token: may(OA::ManageTeams),
                can_update_visibility: may(OA::ManageTeams),
                can_update_name: may(OA::ManageTeams) && !t.is_owners(),
            },
        },
        r::TeamRelationships {
            organization: ToOne::to(t.organization.clone(), "organizations"),
            users: ToMany::of(&ids, "users"),
        },
    )
    .with_self_link(format!("/api/v2/teams/{}", t.id)))
}

async fn included_users(
    s: &ApiState,
    teams: &[&Team],
    q: &HashMap<String, String>,
) -> Result<Vec<Value>, ApiError> {
    let Some(include) = q.get("include").filter(|v| !v.is_empty()) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for part in include.split(',') {
        match part.trim() {
            "users" => {
                for t in teams {
                    for u in s.store.team_members(&t.id).await? {
                        out.push(docs::value(&super::users::user_doc(&u)));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "tern cannot include {other:?} with teams; it includes users"
                )));
            }
        }
    }
    out.dedup_by(|a, b| a["id"] == b["id"]);
    Ok(out)
}

pub(crate) fn team_workspace_doc(a: &TeamWorkspace) -> r::TeamWorkspace {
    let p = a.grant.shown();
    Resource::new(
        a.id.clone(),
        r::TeamWorkspaceAttributes {
            access: a.grant.access.to_string(),
            runs: p.runs.to_string(),
            variables: p.variables.to_string(),
            state_versions: p.state_versions.to_string(),
            sentinel_mocks: "none".into(),
            workspace_locking: p.workspace_locking,
            run_tasks: false,
        },
        r::TeamWorkspaceRelationships {
            team: ToOne::to(a.team_id.clone(), "teams"),
            workspace: ToOne::to(a.workspace_id.clone(), "workspaces"),
        },
    )
    .with_self_link(format!("/api/v2/team-workspaces/{}", a.id))
}

fn team_project_doc(a: &TeamProject) -> r::TeamProject {
    let c = a.grant.custom_equivalent();
    Resource::new(
        a.id.clone(),
        r::TeamProjectAttributes {
            access: a.grant.access.to_string(),
            project_access: r::ProjectAccessAttributes {
                settings: c.settings.to_string(),
                teams: c.teams.to_string(),
                variable_sets: c.variable_sets.to_string(),
            },
            workspace_access: r::ProjectWorkspaceAccessAttributes {
                runs: c.workspace.runs.to_string(),
                variables: c.workspace.variables.to_string(),
                state_versions: c.workspace.state_versions.to_string(),
                sentinel_mocks: "none".into(),
                create: c.create_workspaces,
                r#move: false,
                locking: c.workspace.workspace_locking,
                delete: c.delete_workspaces,
                run_tasks: false,
            },
        },
        r::TeamProjectRelationships {
            team: ToOne::to(a.team_id.clone(), "teams"),
            project: ToOne::to(a.project_id.clone(), "projects"),
        },
    )
    .with_self_link(format!("/api/v2/team-projects/{}", a.id))
}

// ---------------------------------------------------------------- reading request documents

/// `organization-access` over `current`: only the keys given change; an unknown key is refused.
fn org_access(doc: &Doc, current: OrgPermissions) -> Result<Option<OrgPermissions>, ApiError> {
    let pointer = "/data/attributes/organization-access";
    let Some(given) = doc.value("organization-access") else { return Ok(None) };
    let given = given
        .as_object()
        .ok_or_else(|| ApiError::invalid(pointer, "organization-access must be an object of true/false"))?;
    let mut merged = serde_json::to_value(current).map_err(|e| ApiError::invalid(pointer, e.to_string()))?;
    for (key, value) in given {
        let Some(slot) = merged.get_mut(key.as_str()) else {
            return Err(ApiError::invalid(
                &format!("{pointer}/{key}"),
                format!("{key:?} is not an organization permission tern knows"),
            ));
        };
        if !value.is_boolean() {
            return Err(ApiError::invalid(
                &format!("{pointer}/{key}"),
                format!("{key} must be true or false"),
            ));
        }
        *slot = value.clone();
    }
    let access: OrgPermissions =
        serde_json::from_value(merged).map_err(|e| ApiError::invalid(pointer, e.to_string()))?;
    // HCP Terraform's rules (managing projects includes managing workspaces…): checked here for
    // the answer's order, and again by the application layer, which holds them.
    app::teams::check_permissions(&access)?;
    Ok(Some(access))
}

fn level<T>(
    doc: &Doc,
    name: &str,
    pointer: &str,
    parse: impl Fn(&str) -> Result<T, tern_access::LevelError>,
) -> Result<Option<T>, ApiError> {
    doc.string(name)?
        .map(|v| parse(&v).map_err(|e| ApiError::invalid(&format!("{pointer}{name}"), e.to_string())))
        .transpose()
}

const CUSTOM_WORKSPACE: [&str; 4] = ["runs", "variables", "state-versions", "workspace-locking"];

/// A workspace grant from a `team-workspaces` document: the level, and with `custom` its
/// permissions (given ones over `base`; the others keep theirs). Custom permissions with another
/// level are refused, as TFE refuses them.
fn workspace_grant(doc: &Doc, base: Option<WorkspaceGrant>) -> Result<WorkspaceGrant, ApiError> {
    let a = "/data/attributes/";
    let access = match (level(doc, "access", a, AccessLevel::parse)?, base) {
        (Some(l), _) => l,
        (None, Some(b)) => b.access,
        (None, None) => return Err(ApiError::invalid("/data/attributes/access", "access is required")),
    };
    if access != AccessLevel::Custom {
        if let Some(name) = CUSTOM_WORKSPACE.iter().find(|n| doc.has(n)) {
            return Err(ApiError::invalid(
                &format!("{a}{name}"),
                format!("{name} can be set only with access \"custom\" (access {access} implies it)"),
            ));
        }
        return Ok(WorkspaceGrant::level(access));
    }
    let mut p = base.filter(|b| b.access == AccessLevel::Custom).map(|b| b.custom).unwrap_or_default();
    if let Some(v) = level(doc, "runs", a, RunsPermission::parse)? {
        p.runs = v;
    }
    if let Some(v) = level(doc, "variables", a, VariablesPermission::parse)? {
        p.variables = v;
    }
    if let Some(v) = level(doc, "state-versions", a, StatePermission::parse)? {
        p.state_versions = v;
    }
    if let Some(v) = doc.boolean("workspace-locking")? {
        p.workspace_locking = v;
    }
    Ok(WorkspaceGrant { access, custom: p })
}

/// A project grant from a `team-projects` document (`project-access` and `workspace-access`
/// only with `custom`).
fn project_grant(doc: &Doc, base: Option<ProjectGrant>) -> Result<ProjectGrant, ApiError> {
    let a = "/data/attributes/";
    let access = match (level(doc, "access", a, ProjectAccessLevel::parse)?, base) {
        (Some(l), _) => l,
        (None, Some(b)) => b.access,
        (None, None) => return Err(ApiError::invalid("/data/attributes/access", "access is required")),
    };
    let blocks = ["project-access", "workspace-access"];
    if access != ProjectAccessLevel::Custom {
        if let Some(name) = blocks.iter().find(|n| doc.has(n)) {
            return Err(ApiError::invalid(
                &format!("{a}{name}"),
                format!("{name} can be set only with access \"custom\""),
            ));
        }
        return Ok(ProjectGrant::level(access));
    }
    let mut c: ProjectCustom =
        base.filter(|b| b.access == ProjectAccessLevel::Custom).map(|b| b.custom).unwrap_or_default();
    let object = |name: &str| -> Result<serde_json::Map<String, Value>, ApiError> {
        match doc.value(name) {
            None => Ok(serde_json::Map::new()),
            Some(Value::Object(o)) => Ok(o.clone()),
            Some(_) => Err(ApiError::invalid(&format!("{a}{name}"), format!("{name} must be an object"))),
        }
    };
    let text =
        |block: &str, o: &serde_json::Map<String, Value>, key: &str| -> Result<Option<String>, ApiError> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => {
                    Err(ApiError::invalid(&format!("{a}{block}/{key}"), format!("{key} must be a string")))
                }
            }
        };
    let flag =
        |block: &str, o: &serde_json::Map<String, Value>, key: &str| -> Result<Option<bool>, ApiError> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(ApiError::invalid(
                    &format!("{a}{block}/{key}"),
                    format!("{key} must be true or false"),
                )),
            }
        };
    let bad = |block: &str, key: &str, e: tern_access::LevelError| {
        ApiError::invalid(&format!("{a}{block}/{key}"), e.to_string())
    };
    let pa = object("project-access")?;
    for key in pa.keys() {
        if !matches!(key.as_str(), "settings" | "teams" | "variable-sets") {
            return Err(ApiError::invalid(
                &format!("{a}project-access/{key}"),
                format!("{key:?} is not a project permission tern knows"),
            ));
        }
    }
    if let Some(v) = text("project-access", &pa, "settings")? {
        c.settings =
            ProjectSettingsPermission::parse(&v).map_err(|e| bad("project-access", "settings", e))?;
    }
    if let Some(v) = text("project-access", &pa, "variable-sets")? {
        c.variable_sets =
            VariableSetsPermission::parse(&v).map_err(|e| bad("project-access", "variable-sets", e))?;
    }
    if let Some(v) = text("project-access", &pa, "teams")? {
        c.teams = ProjectTeamsPermission::parse(&v).map_err(|e| bad("project-access", "teams", e))?;
    }
    let wa = object("workspace-access")?;
    for key in wa.keys() {
        if !matches!(
            key.as_str(),
            "runs"
                | "variables"
                | "state-versions"
                | "sentinel-mocks"
                | "create"
                | "move"
                | "locking"
                | "delete"
                | "run-tasks"
        ) {
            return Err(ApiError::invalid(
                &format!("{a}workspace-access/{key}"),
                format!("{key:?} is not a workspace permission tern knows"),
            ));
        }
    }
    let w = "workspace-access";
    if let Some(v) = text(w, &wa, "runs")? {
        c.workspace.runs = RunsPermission::parse(&v).map_err(|e| bad(w, "runs", e))?;
    }
    if let Some(v) = text(w, &wa, "variables")? {
        c.workspace.variables = VariablesPermission::parse(&v).map_err(|e| bad(w, "variables", e))?;
    }
    if let Some(v) = text(w, &wa, "state-versions")? {
        c.workspace.state_versions = StatePermission::parse(&v).map_err(|e| bad(w, "state-versions", e))?;
    }
    if let Some(v) = flag(w, &wa, "locking")? {
        c.workspace.workspace_locking = v;
    }
    if let Some(v) = flag(w, &wa, "create")? {
        c.create_workspaces = v;
    }
    if let Some(v) = flag(w, &wa, "delete")? {
        c.delete_workspaces = v;
    }
    Ok(ProjectGrant { access, custom: c })
}

// ---------------------------------------------------------------- teams

pub(crate) use crate::app::teams::load_team;

async fn list_teams(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (org, standing) = access::org_for(&s, &caller, &org, OA::See).await?;
    check_query(&q, &["q", "filter[names]"])?;
    let names = super::user::comma_list(&q, "filter[names]");
    let paged = s
        .store
        .list_teams(
            &org.id,
            q.get("q").map(String::as_str).filter(|v| !v.is_empty()),
            &names,
            docs::page(&q)?,
        )
        .await?;
    let mut rendered = Vec::with_capacity(paged.items.len());
    for t in &paged.items {
        rendered.push(team_doc(&s, t, &standing).await?);
    }
    let included = included_users(&s, &paged.items.iter().collect::<Vec<_>>(), &q).await?;
    let page = tern_store::Paged { items: rendered, total: paged.total, page: paged.page };
    Ok(docs::list_with_included(
        &page,
        &format!("/api/v2/organizations/{}/teams", org.name),
        Clone::clone,
        included,
    ))
}

async fn create_team(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = || {
        let doc = Doc::parse(&body, "teams")?;
        Ok(app::teams::NewTeam {
            name: doc.required("name")?,
            access: org_access(&doc, OrgPermissions::default())?,
            visibility: doc.string("visibility")?,
            sso_team_id: doc.string("sso-team-id")?,
        })
    };
    let (t, standing) = app::teams::create(&s, &caller, &org, input).await?;
    Ok(docs::one(team_doc(&s, &t, &standing).await?))
}

async fn show_team(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (t, standing) = load_team(&s, &caller, &id, OA::See).await?;
    let included = included_users(&s, &[&t], &q).await?;
    let data = team_doc(&s, &t, &standing).await?;
    Ok(if included.is_empty() { docs::one(data) } else { docs::with_included(data, included) })
}

async fn update_team(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = |t: &Team| {
        let doc = Doc::parse(&body, "teams")?;
        Ok(app::teams::TeamUpdate {
            name: doc.string("name")?,
            sso_team_id: if doc.has("sso-team-id") { Some(doc.string("sso-team-id")?) } else { None },
            visibility: doc.string("visibility")?,
            access: org_access(&doc, t.access)?,
        })
    };
    let (updated, standing) = app::teams::update(&s, &caller, &id, input).await?;
    Ok(docs::one(team_doc(&s, &updated, &standing).await?))
}

async fn delete_team(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    app::teams::delete(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn change_members(s: &ApiState, caller: &Caller, id: &str, body: &[u8], add: bool) -> ApiResult {
    crate::app::organization::change_members(s, caller, id, || docs::id_list(body, "users"), add).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_members(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_members(&s, &caller, &id, &body, true).await
}

async fn remove_members(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_members(&s, &caller, &id, &body, false).await
}

// ---------------------------------------------------------------- team tokens

/// A token-creating document: go-tfe sends one with no type (its options have none), older
/// clients none at all.
fn token_doc_of(body: &[u8]) -> Result<Option<Doc>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    Doc::parse(body, "authentication-tokens").map(Some).or_else(|_| Doc::parse_untyped(body).map(Some))
}

async fn make_team_token(s: &ApiState, caller: &Caller, id: &str, body: &[u8], replace: bool) -> ApiResult {
    let now = s.store.unix_now();
    let input = Box::new(|| {
        let doc = token_doc_of(body)?;
        let description = doc.as_ref().map(|d| d.string("description")).transpose()?.flatten();
        Ok((description, super::tokens::expiry(doc.as_ref(), now)?))
    });
    let (created, secret) =
        crate::app::organization::create_team_token(s, caller, None, id, replace, input).await?;
    Ok(docs::created(super::tokens::token_doc(&created, Some(secret))))
}

async fn create_legacy_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    make_team_token(&s, &caller, &id, &body, true).await
}

async fn create_team_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    make_team_token(&s, &caller, &id, &body, false).await
}

async fn show_legacy_token(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (t, _) = load_team(&s, &caller, &id, OA::ManageTeams).await?;
    let tokens = s.store.list_team_tokens(&t.id).await?;
    let newest =
        tokens.last().ok_or_else(|| ApiError::not_found(format!("team {:?} has no token", t.name)))?;
    Ok(docs::one(super::tokens::token_doc(newest, None)))
}

async fn delete_legacy_token(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    crate::app::organization::revoke_team_tokens(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_team_tokens(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (t, _) = load_team(&s, &caller, &id, OA::ManageTeams).await?;
    let tokens = s.store.list_team_tokens(&t.id).await?;
    Ok(docs::single_page(tokens.iter().map(|t| super::tokens::token_doc(t, None)).collect()))
}

async fn list_org_team_tokens(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (org, _) = access::org_for(&s, &caller, &org, OA::ManageTeams).await?;
    check_query(&q, &["q"])?;
    // TFE's `q`: part of the team's name.
    let needle = q.get("q").map(|v| v.to_lowercase()).filter(|v| !v.is_empty());
    let all = tern_store::Page { number: 1, size: tern_store::Page::MAX_SIZE };
    let mut names = std::collections::HashMap::new();
    for page in 1.. {
        let teams = s.store.list_teams(&org.id, None, &[], tern_store::Page { number: page, ..all }).await?;
        let done = teams.items.len() < all.size as usize;
        names.extend(teams.items.into_iter().map(|t| (t.id, t.name.to_lowercase())));
        if done {
            break;
        }
    }
    let tokens: Vec<_> = s
        .store
        .list_tokens(tern_store::TokenKind::Team, Some(&org.id))
        .await?
        .into_iter()
        .filter(|t| {
            let team = t.team_id.as_ref().and_then(|id| names.get(id)).map_or("", String::as_str);
            needle.as_ref().is_none_or(|n| team.contains(n.as_str()))
        })
        .collect();
    Ok(docs::single_page(tokens.iter().map(|t| super::tokens::token_doc(t, None)).collect()))
}

// ---------------------------------------------------------------- team access to workspaces

async fn list_team_workspaces(State(s): State<ApiState>, caller: Caller, Query(q): Q) -> ApiResult {
    check_query(&q, &["filter[workspace][id]", "filter[team][id]"])?;
    let team = q.get("filter[team][id]").map(String::as_str).filter(|v| !v.is_empty());
    let ws_filter = q.get("filter[workspace][id]").map(String::as_str).filter(|v| !v.is_empty());
    let list = match (ws_filter, team) {
        (Some(ws_id), team) => {
            let ws = access::ws_for(&s, &caller, ws_id, WA::Read).await?;
            s.store.list_team_workspaces(Some(&ws.id), team).await?
        }
        // One team's access (tern's addition, for `tern team show`): only to the workspaces
        // the caller may see.
        (None, Some(team)) => {
            let (t, standing) = load_team(&s, &caller, team, OA::See).await?;
            let mut visible = Vec::new();
            for a in s.store.list_team_workspaces(None, Some(&t.id)).await? {
                let ws = s.store.workspace(&a.workspace_id).await?;
                if access::decide_ws(&standing, &ws, WA::Read, &ws.id).is_ok() {
                    visible.push(a);
                }
            }
            visible
        }
        (None, None) => {
            return Err(ApiError::bad_request("filter[workspace][id] or filter[team][id] is required"));
        }
    };
    Ok(docs::single_page(list.iter().map(team_workspace_doc).collect()))
}

async fn create_team_workspace(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    let doc = Doc::parse(&body, "team-workspaces")?;
    let ws_id = doc.relationship("workspace")?.ok_or_else(|| {
        ApiError::invalid("/data/relationships/workspace/data/id", "the workspace is required")
    })?;
    let team_id = doc
        .relationship("team")?
        .ok_or_else(|| ApiError::invalid("/data/relationships/team/data/id", "the team is required"))?;
    let created =
        app::teams::grant_workspace(&s, &caller, Named::Id(&ws_id), &team_id, || workspace_grant(&doc, None))
            .await?;
    Ok(docs::created(team_workspace_doc(&created)))
}

async fn show_team_workspace(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(team_workspace_doc(&app::teams::workspace_access(&s, &caller, &id, WA::Read).await?.0)))
}

async fn update_team_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let grant = |base| workspace_grant(&Doc::parse(&body, "team-workspaces")?, Some(base));
    let updated = app::teams::change_workspace_access(&s, &caller, &id, grant).await?;
    Ok(docs::one(team_workspace_doc(&updated)))
}

async fn delete_team_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    app::teams::revoke_workspace_access(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- team access to projects

async fn list_team_projects(State(s): State<ApiState>, caller: Caller, Query(q): Q) -> ApiResult {
    check_query(&q, &["filter[project][id]", "filter[team][id]"])?;
    let team = q.get("filter[team][id]").map(String::as_str).filter(|v| !v.is_empty());
    let project = q.get("filter[project][id]").map(String::as_str).filter(|v| !v.is_empty());
    let list = match (project, team) {
        (Some(project_id), team) => {
            let p = access::project_for(&s, &caller, project_id, PA::See).await?;
            s.store.list_team_projects(Some(&p.id), team).await?
        }
        // One team's access: only to the projects the caller may see.
        (None, Some(team)) => {
            let (t, standing) = load_team(&s, &caller, team, OA::See).await?;
            let mut visible = Vec::new();
            for a in s.store.list_team_projects(None, Some(&t.id)).await? {
                if standing.project(&a.project_id, "", PA::See).is_ok() {
                    visible.push(a);
                }
            }
            visible
        }
        (None, None) => {
            return Err(ApiError::bad_request("filter[project][id] or filter[team][id] is required"));
        }
    };
    Ok(docs::single_page(list.iter().map(team_project_doc).collect()))
}

/// A `team-projects` document: pytfe sends `team-project-access`, go-tfe `team-projects`.
fn team_project_doc_of(body: &[u8]) -> Result<Doc, ApiError> {
    Doc::parse(body, "team-projects").or_else(|_| Doc::parse(body, "team-project-access"))
}

async fn create_team_project(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    let doc = team_project_doc_of(&body)?;
    let project_id = doc
        .relationship("project")?
        .ok_or_else(|| ApiError::invalid("/data/relationships/project/data/id", "the project is required"))?;
    let team_id = doc
        .relationship("team")?
        .ok_or_else(|| ApiError::invalid("/data/relationships/team/data/id", "the team is required"))?;
    let created = app::teams::grant_project(&s, &caller, Named::Id(&project_id), &team_id, || {
        project_grant(&doc, None)
    })
    .await?;
    Ok(docs::created(team_project_doc(&created)))
}

async fn show_team_project(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(team_project_doc(&app::teams::project_access(&s, &caller, &id, PA::See).await?.0)))
}

async fn update_team_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let grant = |base| project_grant(&team_project_doc_of(&body)?, Some(base));
    let updated = app::teams::change_project_access(&s, &caller, &id, grant).await?;
    Ok(docs::one(team_project_doc(&updated)))
}

async fn delete_team_project(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    app::teams::revoke_project_access(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
