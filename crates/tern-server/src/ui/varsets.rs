//! The organization's variable sets pages, under `/app/{org}/settings/varsets`: the sets
//! (global, or the workspaces and projects they apply to; how many variables), a set's
//! variables (a sensitive value is write-only: replaced, never shown) and where it applies.
//! Who may see and change what is the application layer's decision (`app::varsets`), the API's;
//! a page offers only what it would allow, and every post is decided again.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tern_access::OrgAction as OA;
use tern_store::{Organization, SetScope, VariableSet};

use super::pages::{VariableForm, VariableRow};
use super::{Nav, Viewer, failure};
use crate::api::{ApiError, ApiState, Caller};
use crate::app;
use crate::web;

#[derive(Debug)]
struct SetRow {
    id: String,
    name: String,
    description: String,
    global: bool,
    workspaces: Vec<String>,
    projects: Vec<String>,
    variables: usize,
}

#[derive(Template)]
#[template(path = "org_varsets.html")]
struct ListPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    rows: Vec<SetRow>,
    can_manage: bool,
    csrf: &'a str,
}

/// `GET /app/{org}/settings/varsets`: as `GET …/varsets` allows (read-workspaces).
pub(crate) async fn list(State(s): State<ApiState>, mut v: Viewer, Path(org): Path<String>) -> Response {
    let (org, standing, sets) = or_page!(&v.nav, app::varsets::list(&s, &v.caller, &org).await);
    v.nav.org = Some(org.name.clone());
    let mut rows = Vec::with_capacity(sets.len());
    for set in sets {
        let (_, vars) = or_page!(&v.nav, app::varsets::with_variables(&s, &v.caller, &set.id).await);
        let (workspaces, projects) = or_page!(&v.nav, app::varsets::reach(&s, &set).await);
        rows.push(SetRow {
            id: set.id,
            name: set.name,
            description: set.description,
            global: set.global,
            workspaces: workspaces.into_iter().map(|w| w.1).collect(),
            projects: projects.into_iter().map(|p| p.1).collect(),
            variables: vars.len(),
        });
    }
    let html = ListPage {
        nav: &v.nav,
        org: &org.name,
        rows,
        can_manage: app::varsets::may_manage(&standing),
        csrf: &v.nav.csrf,
    }
    .render();
    web::page(StatusCode::OK, html)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// A checkbox: present when checked.
    global: Option<String>,
}

/// `POST /app/{org}/settings/varsets`: create a set.
pub(crate) async fn create(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path(org): Path<String>,
    Form(f): Form<SetForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let input = || {
        Ok(app::varsets::NewSet {
            name: f.name.trim().to_owned(),
            description: f.description.trim().to_owned(),
            global: f.global.is_some(),
            ..Default::default()
        })
    };
    let set = or_page!(&v.nav, app::varsets::create(&s, &v.caller, &org, input).await);
    web::redirect(&set_path(&org, &set.id))
}

fn set_path(org: &str, id: &str) -> String {
    format!("/app/{org}/settings/varsets/{id}")
}

/// Set `id` of organization `org` (in the path: the set must be that organization's).
async fn set_in(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    id: &str,
) -> Result<(Organization, VariableSet), ApiError> {
    let (org, _) = app::organization::organization(s, caller, org, OA::See).await?;
    let set = app::varsets::load(s, caller, id, OA::ReadAllWorkspaces).await?;
    if set.organization_id != org.id {
        return Err(ApiError::not_found(format!("variable set {id:?} not found")));
    }
    Ok((org, set))
}

#[derive(Template)]
#[template(path = "org_varset.html")]
struct SetPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    set: &'a VariableSet,
    base: String,
    vars: Vec<VariableRow>,
    /// Where it applies: (id, name).
    workspaces: Vec<(String, String)>,
    projects: Vec<(String, String)>,
    /// Where else it could apply: (id, name).
    other_workspaces: Vec<(String, String)>,
    other_projects: Vec<(String, String)>,
    can_manage: bool,
    csrf: &'a str,
}

/// `GET /app/{org}/settings/varsets/{id}`.
pub(crate) async fn show(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let (org, _) = or_page!(&v.nav, set_in(&s, &v.caller, &org, &id).await);
    v.nav.org = Some(org.name.clone());
    let (_, standing) =
        or_page!(&v.nav, app::organization::organization(&s, &v.caller, &org.name, OA::See).await);
    let (set, vars) = or_page!(&v.nav, app::varsets::with_variables(&s, &v.caller, &id).await);
    let (workspaces, projects) = or_page!(&v.nav, app::varsets::reach(&s, &set).await);
    let can_manage = app::varsets::may_manage(&standing);
    let (mut other_workspaces, mut other_projects) = if can_manage {
        or_page!(&v.nav, app::varsets::choices(&s, &org.id).await)
    } else {
        (Vec::new(), Vec::new())
    };
    other_workspaces.retain(|w| !workspaces.contains(w));
    other_projects.retain(|p| !projects.contains(p));
    let html = SetPage {
        nav: &v.nav,
        org: &org.name,
        base: set_path(&org.name, &set.id),
        set: &set,
        vars: vars.into_iter().map(VariableRow::of).collect(),
        workspaces,
        projects,
        other_workspaces,
        other_projects,
        can_manage,
        csrf: &v.nav.csrf,
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// `POST /app/{org}/settings/varsets/{id}`: rename it, change its description, make it global
/// or not.
pub(crate) async fn update(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(f): Form<SetForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (org, _) = or_page!(&v.nav, set_in(&s, &v.caller, &org, &id).await);
    let input = || {
        Ok(app::varsets::SetChanges {
            name: Some(f.name.trim().to_owned()),
            description: Some(f.description.trim().to_owned()),
            global: Some(f.global.is_some()),
            ..Default::default()
        })
    };
    let set = or_page!(&v.nav, app::varsets::update(&s, &v.caller, &id, input).await);
    web::redirect(&set_path(&org.name, &set.id))
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /app/{org}/settings/varsets/{id}/delete`.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (org, _) = or_page!(&v.nav, set_in(&s, &v.caller, &org, &id).await);
    or_page!(&v.nav, app::varsets::delete(&s, &v.caller, &id).await);
    web::redirect(&format!("/app/{}/settings/varsets", org.name))
}

/// `POST /app/{org}/settings/varsets/{id}/variables`: add one.
pub(crate) async fn add_variable(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(f): Form<VariableForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (org, _) = or_page!(&v.nav, set_in(&s, &v.caller, &org, &id).await);
    // Who may is decided before the form is read.
    or_page!(&v.nav, app::varsets::load(&s, &v.caller, &id, OA::ManageVariableSets).await);
    let input = or_page!(&v.nav, f.input(false));
    or_page!(&v.nav, app::varsets::create_variable(&s, &v.caller, &id, &input).await);
    web::redirect(&set_path(&org.name, &id))
}

/// `POST /app/{org}/settings/varsets/{id}/variables/{var}`: save or delete one.
pub(crate) async fn change_variable(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, id, var)): Path<(String, String, String)>,
    Form(f): Form<VariableForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (org, _) = or_page!(&v.nav, set_in(&s, &v.caller, &org, &id).await);
    let done = match f.action.as_str() {
        "delete" => app::varsets::delete_variable(&s, &v.caller, &id, &var).await,
        "update" => {
            let (_, current) = or_page!(
                &v.nav,
                app::varsets::variable(&s, &v.caller, &id, &var, OA::ManageVariableSets).await
            );
            let input = or_page!(&v.nav, f.input(current.sensitive));
            app::varsets::update_variable(&s, &v.caller, &id, &var, &input).await.map(drop)
        }
        other => {
            Err(ApiError::bad_request(format!("there is no variable action {other:?}: update or delete")))
        }
    };
    or_page!(&v.nav, done);
    web::redirect(&set_path(&org.name, &id))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScopeForm {
    #[serde(default)]
    csrf: String,
    /// `apply` or `remove`.
    #[serde(default)]
    action: String,
    /// `workspaces` or `projects`.
    #[serde(default)]
    kind: String,
    /// The workspace's or project's id.
    #[serde(default)]
    target: String,
    /// A workspace's name, typed (the form suggests only the first hundred), instead of `target`.
    #[serde(default)]
    workspace: String,
    /// A project's name, the same way.
    #[serde(default)]
    project: String,
}

/// `POST /app/{org}/settings/varsets/{id}/scope`: apply the set to a workspace or project, or
/// remove it from one.
pub(crate) async fn change_scope(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(f): Form<ScopeForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (org, _) = or_page!(&v.nav, set_in(&s, &v.caller, &org, &id).await);
    let apply = match f.action.as_str() {
        "apply" => true,
        "remove" => false,
        other => {
            return failure(
                &v.nav,
                &ApiError::bad_request(format!("there is no action {other:?}: apply or remove")),
            );
        }
    };
    let scope = match f.kind.as_str() {
        "workspaces" => SetScope::Workspaces,
        "projects" => SetScope::Projects,
        other => {
            return failure(
                &v.nav,
                &ApiError::bad_request(format!("a set applies to workspaces or projects, not {other:?}")),
            );
        }
    };
    let named = match scope {
        SetScope::Workspaces => f.workspace.trim(),
        SetScope::Projects => f.project.trim(),
    };
    let changed = if named.is_empty() {
        // A page rendered before the form named its target sends the id.
        let target = f.target.trim().to_owned();
        let ids = || {
            if target.is_empty() {
                Err(ApiError::bad_request("choose a workspace or project"))
            } else {
                Ok(vec![target])
            }
        };
        app::varsets::change_scope(&s, &v.caller, &id, scope, ids, apply).await
    } else {
        let named = app::workspaces::Named::Name { org: &org.name, name: named };
        app::varsets::change_scope_named(&s, &v.caller, &id, scope, named, apply).await
    };
    or_page!(&v.nav, changed);
    web::redirect(&set_path(&org.name, &id))
}
