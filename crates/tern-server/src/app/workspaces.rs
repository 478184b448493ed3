//! Workspaces as the pages show them: the list (with each one's latest run, in one query),
//! one workspace's overview (latest run, outputs, resources of the current state) and its runs.

use tern_access::{OrgAction, Standing, Visible, WorkspaceAction as WA};
use tern_store::{Organization, Page, Paged, Project, Run, RunFilter, RunScope, Workspace, WorkspaceFilter};

use crate::api::{ApiError, ApiState, Caller, access};

/// A workspace in a list, with its latest run.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) ws: Workspace,
    pub(crate) latest: Option<Run>,
}

/// The organization `name`, if the caller may see it, with the caller's standing there.
pub(crate) async fn organization(
    s: &ApiState,
    caller: &Caller,
    name: &str,
) -> Result<(Organization, Standing), ApiError> {
    access::org_for(s, caller, name, OrgAction::See).await
}

/// The organizations the caller may see, by name, one page: all of them for an administrator;
/// for anyone else, those of their teams (or their token's) — the organizations where their
/// standing lets them see it (`tern-access`), found in one query, not asked one by one.
pub(crate) async fn organizations(
    s: &ApiState,
    caller: &Caller,
    page: Page,
) -> Result<Paged<Organization>, ApiError> {
    let only: Option<Vec<String>> = match caller {
        Caller::Admin(_) => None,
        Caller::User(_, user, _) if user.site_admin => None,
        Caller::User(_, user, _) => {
            let mut ids: Vec<String> =
                s.store.teams_of_user(&user.id).await?.into_iter().map(|t| t.organization_id).collect();
            ids.sort();
            ids.dedup();
            Some(ids)
        }
        Caller::Organization(t) | Caller::Team(t, _) => Some(t.organization_id.iter().cloned().collect()),
        Caller::Agent(_) | Caller::Job(_) => Some(Vec::new()),
    };
    Ok(s.store.list_organizations(only.as_deref(), page).await?)
}

/// The workspaces of `org` the caller may see that match `filter`, one page, each with its
/// latest run (one query for the page's runs, whatever its size).
pub(crate) async fn list(
    s: &ApiState,
    standing: &Standing,
    org: &Organization,
    mut filter: WorkspaceFilter,
    page: Page,
) -> Result<Paged<Row>, ApiError> {
    filter.visible = access::workspace_scope(standing);
    let paged = s.store.list_workspaces(&org.id, &filter, page).await?;
    let ids: Vec<String> = paged.items.iter().filter_map(|w| w.latest_run_id.clone()).collect();
    let mut runs: std::collections::HashMap<String, Run> =
        s.store.runs_by_ids(&ids).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let items = paged
        .items
        .into_iter()
        .map(|ws| {
            let latest = ws.latest_run_id.as_ref().and_then(|id| runs.remove(id));
            Row { ws, latest }
        })
        .collect();
    Ok(Paged { items, total: paged.total, page: paged.page })
}

/// The projects of `org` the caller may see (named one of `names` when given, with `search` in
/// the name when given), one page, by name.
pub(crate) async fn projects(
    s: &ApiState,
    standing: &Standing,
    org: &Organization,
    names: &[String],
    search: Option<&str>,
    page: Page,
) -> Result<Paged<Project>, ApiError> {
    let allowed = match standing.visible_projects() {
        Some(Visible::All) => return Ok(s.store.list_projects(&org.id, names, search, page).await?),
        Some(Visible::Only { projects, .. }) => projects,
        None => Vec::new(),
    };
    // A member who sees only some projects: few, filtered here and paged in memory.
    let mut seen: Vec<Project> = Vec::new();
    for id in allowed {
        let p = s.store.project(&id).await?;
        let named = names.is_empty() || names.contains(&p.name);
        let found = search.is_none_or(|q| p.name.to_lowercase().contains(&q.to_lowercase()));
        if named && found && !seen.iter().any(|x| x.id == p.id) {
            seen.push(p);
        }
    }
    seen.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Paged::in_memory(seen, page))
}

/// Workspace `name` of organization `org`, if the caller may do `action` to it.
pub(crate) async fn by_name(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    name: &str,
    action: WA,
) -> Result<(Workspace, Standing), ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OrgAction::See).await?;
    let ws = s.store.workspace_by_name(&org.id, name).await?;
    access::decide_ws(&standing, &ws, action, name)?;
    Ok((ws, standing))
}

/// A workspace or project as a request names it: by id (the TFE API, older pages), or by name
/// in an organization (a form, whose list of the first hundred is only a suggestion).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Named<'a> {
    /// Its id.
    Id(&'a str),
    /// Its name in organization `org` (a name).
    Name { org: &'a str, name: &'a str },
}

/// The workspace `named`, if the caller may do `action` to it (one they may not see is "not
/// found", as one that does not exist).
pub(crate) async fn workspace_named(
    s: &ApiState,
    caller: &Caller,
    named: Named<'_>,
    action: WA,
) -> Result<Workspace, ApiError> {
    match named {
        Named::Id(id) => access::ws_for(s, caller, id, action).await,
        Named::Name { org, name } => Ok(by_name(s, caller, org, name, action).await?.0),
    }
}

/// The project `named`, if the caller may do `action` to it (as [`workspace_named`]).
pub(crate) async fn project_named(
    s: &ApiState,
    caller: &Caller,
    named: Named<'_>,
    action: tern_access::ProjectAction,
) -> Result<Project, ApiError> {
    match named {
        Named::Id(id) => access::project_for(s, caller, id, action).await,
        Named::Name { org, name } => project_by_name(s, caller, org, name, action).await,
    }
}

/// Project `id` of organization `org`, if the caller may see it.
pub(crate) async fn project_in(
    s: &ApiState,
    caller: &Caller,
    org: &Organization,
    id: &str,
) -> Result<Project, ApiError> {
    let p = access::project_for(s, caller, id, tern_access::ProjectAction::See).await?;
    if p.organization_id != org.id {
        return Err(ApiError::not_found(format!("project {id:?} not found")));
    }
    Ok(p)
}

/// Project `name` of organization `org`, if the caller may do `action` to it; one they may not
/// see is "not found" by the name asked for, as one that does not exist.
async fn project_by_name(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    name: &str,
    action: tern_access::ProjectAction,
) -> Result<Project, ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OrgAction::See).await?;
    let p = s.store.project_by_name(&org.id, name).await?;
    standing
        .project(&p.id, &p.name, action)
        .map_err(|d| access::refuse(d, || format!("project {name:?} not found")))?;
    Ok(p)
}

/// An output of the current state, as a page shows it: a sensitive one has no value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) sensitive: bool,
    /// Compact JSON; `None` when sensitive.
    pub(crate) value: Option<String>,
}

/// What a workspace's overview shows.
#[derive(Debug, Default)]
pub(crate) struct Overview {
    pub(crate) latest: Option<Run>,
    /// `None`: the caller may not read outputs (or there is no state).
    pub(crate) outputs: Option<Vec<Output>>,
    /// Managed resources' addresses in the current state; `None` as for outputs.
    pub(crate) resources: Option<Vec<String>>,
    /// The current state's serial.
    pub(crate) serial: Option<i64>,
}

/// A workspace's overview for this caller.
pub(crate) async fn overview(
    s: &ApiState,
    standing: &Standing,
    ws: &Workspace,
) -> Result<Overview, ApiError> {
    let mut o = Overview::default();
    if let Some(id) = &ws.latest_run_id {
        o.latest = Some(s.store.run(id).await?);
    }
    let may = |a| access::decide_ws(standing, ws, a, &ws.name).is_ok();
    if let Some(sv) = &ws.current_state_version_id
        && may(WA::ReadStateOutputs)
    {
        let v = s.store.state_version(sv).await?;
        o.serial = Some(v.serial);
        let bytes = s.store.state_bytes(&v.id).await?;
        let full = may(WA::ReadState);
        // A large state is decoded off the async runtime.
        let (outputs, resources) = tokio::task::spawn_blocking(move || read_state(&bytes))
            .await
            .map_err(|e| ApiError::internal(format!("reading the state failed: {e}")))?;
        o.outputs = Some(outputs);
        o.resources = full.then_some(resources);
    }
    Ok(o)
}

/// Outputs (sensitive values dropped here, before anything renders them) and managed
/// resources' addresses of a Terraform state document.
fn read_state(bytes: &[u8]) -> (Vec<Output>, Vec<String>) {
    let state: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let outputs =
        state_outputs(&state).map(|(name, sensitive, value)| Output::shown(name, sensitive, value)).collect();
    let resources = managed_instances(&state).into_iter().map(|(address, _)| address).collect();
    (outputs, resources)
}

impl Output {
    /// An output as a page may show it: the one place a sensitive output loses its value.
    pub(crate) fn shown(name: &str, sensitive: bool, value: Option<&serde_json::Value>) -> Self {
        let value = if sensitive { None } else { value.map(serde_json::Value::to_string) };
        Self { name: name.to_owned(), sensitive, value }
    }
}

/// A decoded state's outputs: name, whether sensitive, and the raw value — which only
/// [`Output::shown`] may turn into text, so that a sensitive one never reaches a page.
pub(crate) fn state_outputs(
    state: &serde_json::Value,
) -> impl Iterator<Item = (&str, bool, Option<&serde_json::Value>)> {
    state.get("outputs").and_then(serde_json::Value::as_object).into_iter().flatten().map(|(name, o)| {
        let sensitive = o.get("sensitive").and_then(serde_json::Value::as_bool).unwrap_or(false);
        (name.as_str(), sensitive, o.get("value"))
    })
}

/// A decoded state's managed resource instances by address, as Terraform writes them
/// (`module.m.type.name["key"]`), each with its instance object; a resource without instances
/// is listed once, by its address, with none. Data sources are read, not managed: left out.
pub(crate) fn managed_instances(state: &serde_json::Value) -> Vec<(String, Option<&serde_json::Value>)> {
    let mut out = Vec::new();
    for r in state.get("resources").and_then(serde_json::Value::as_array).into_iter().flatten() {
        if r.get("mode").and_then(serde_json::Value::as_str) != Some("managed") {
            continue;
        }
        let (Some(kind), Some(name)) = (
            r.get("type").and_then(serde_json::Value::as_str),
            r.get("name").and_then(serde_json::Value::as_str),
        ) else {
            continue;
        };
        let module =
            r.get("module").and_then(serde_json::Value::as_str).map(|m| format!("{m}.")).unwrap_or_default();
        let instances = r.get("instances").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
        for i in r.get("instances").and_then(serde_json::Value::as_array).into_iter().flatten() {
            let key = match i.get("index_key") {
                Some(serde_json::Value::Number(n)) => format!("[{n}]"),
                Some(serde_json::Value::String(k)) => format!("[{}]", serde_json::Value::String(k.clone())),
                _ => String::new(),
            };
            out.push((format!("{module}{kind}.{name}{key}"), Some(i)));
        }
        if instances == 0 {
            out.push((format!("{module}{kind}.{name}"), None));
        }
    }
    out
}

/// A workspace's runs, newest first, one page.
pub(crate) async fn runs(s: &ApiState, ws: &Workspace, page: Page) -> Result<Paged<Run>, ApiError> {
    Ok(s.store.list_runs(RunScope::Workspace(&ws.id), &RunFilter::default(), page).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_states_sensitive_outputs_never_leave_it_and_resources_are_addressed() {
        let state = br#"{"version":4,"serial":3,"outputs":{
            "id":{"value":"i-123","type":"string"},
            "password":{"value":"hunter2","type":"string","sensitive":true}},
          "resources":[
            {"mode":"managed","type":"null_resource","name":"a","instances":[{"attributes":{}}]},
            {"mode":"managed","type":"null_resource","name":"n","instances":[{"index_key":0},{"index_key":1}]},
            {"module":"module.m","mode":"managed","type":"x","name":"y","instances":[{"index_key":"k"}]},
            {"mode":"data","type":"d","name":"e","instances":[{}]}]}"#;
        let (outputs, resources) = read_state(state);
        assert_eq!(outputs.len(), 2);
        let password = outputs.iter().find(|o| o.name == "password").map(|o| (o.sensitive, o.value.clone()));
        assert_eq!(password, Some((true, None)));
        assert!(outputs.iter().any(|o| o.name == "id" && o.value.as_deref() == Some("\"i-123\"")));
        assert_eq!(
            resources,
            ["null_resource.a", "null_resource.n[0]", "null_resource.n[1]", "module.m.x.y[\"k\"]"]
        );
        assert_eq!(read_state(b"not json"), (Vec::new(), Vec::new()));
    }
}
