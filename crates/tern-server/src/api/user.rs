//! The user API at `/api/v2`: TFE's paths and shapes for the resources tern shares with TFE.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tern_protocol::jsonapi::{NoRelationships, Resource, ToOne};
use tern_protocol::resources as r;
use tern_store::{
    Category, ConfigurationVersion, ExecutionMode, Organization, PhaseStatus, Run, RunFilter, RunInput,
    RunOperation, RunOptions, RunScope, RunStatus, RunVariable, SetScope, TokenKind, VariableInput,
    VariableOwner, Workspace, WorkspaceFilter, WorkspaceSettings,
};
use tern_types::{RunPhase, SecretString, TerraformVersion};

use super::access;
use super::docs::{self, Doc};
use super::table::{Table, Verb};
use super::{ApiError, ApiLimits, ApiState, Caller};
use tern_access::{OrgAction as OA, ProjectAction as PA, WorkspaceAction as WA};

use crate::app;
use crate::app::settings::LockChange;

type Q = Query<HashMap<String, String>>;
type ApiResult = Result<Response, ApiError>;

pub(crate) fn endpoints(t: Table, limits: ApiLimits) -> Table {
    t.add(Verb::Get, "/api/v2/ping", "Check the API and the token", ping)
        .add(
            Verb::Get,
            "/api/v2/organizations",
            "List organizations (admin: all; organization token: its own)",
            list_orgs,
        )
        .add(
            Verb::Post,
            "/api/v2/organizations",
            "Create an organization with its Default Project (admin)",
            create_org,
        )
        .add(Verb::Get, "/api/v2/organizations/{org}", "Show an organization", show_org)
        .add(
            Verb::Patch,
            "/api/v2/organizations/{org}",
            "Rename an organization or change its email (admin)",
            update_org,
        )
        .add(
            Verb::Delete,
            "/api/v2/organizations/{org}",
            "Delete an organization and everything in it (admin; refused while a run is active)",
            delete_org,
        )
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/entitlement-set",
            "What the organization may do (Terraform's remote backend asks)",
            entitlements,
        )
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/runs/queue",
            "Runs of the organization waiting for or holding a worker",
            run_queue,
        )
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/runs",
            "List an organization's runs, newest first (filter[status], filter[operation])",
            list_org_runs,
        )
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/capacity",
            "How many of the organization's runs wait and run",
            capacity,
        )
        .add(Verb::Get, "/api/v2/organizations/{org}/projects", "List projects", list_projects)
        .add(Verb::Post, "/api/v2/organizations/{org}/projects", "Create a project", create_project)
        .add(Verb::Get, "/api/v2/projects/{id}", "Show a project", show_project)
        .add(
            Verb::Patch,
            "/api/v2/projects/{id}",
            "Rename a project or change its description",
            update_project,
        )
        .add(Verb::Delete, "/api/v2/projects/{id}", "Delete an empty project", delete_project)
        .add(
            Verb::Get,
            "/api/v2/projects/{id}/varsets",
            "Variable sets applied to a project",
            project_varsets,
        )
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/workspaces",
            "List workspaces (search[name], search[tags], search[exclude-tags], filter[project][id])",
            list_workspaces,
        )
        .add(Verb::Post, "/api/v2/organizations/{org}/workspaces", "Create a workspace", create_workspace)
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/workspaces/{name}",
            "Show a workspace by name",
            show_workspace_by_name,
        )
        .add(
            Verb::Patch,
            "/api/v2/organizations/{org}/workspaces/{name}",
            "Update a workspace by name",
            update_workspace_by_name,
        )
        .add(
            Verb::Delete,
            "/api/v2/organizations/{org}/workspaces/{name}",
            "Delete a workspace by name",
            delete_workspace_by_name,
        )
        .add(
            Verb::Post,
            "/api/v2/organizations/{org}/workspaces/{name}/actions/safe-delete",
            "Delete a workspace by name if its state manages no resource",
            safe_delete_workspace_by_name,
        )
        .add(Verb::Get, "/api/v2/workspaces/{id}", "Show a workspace", show_workspace)
        .add(Verb::Patch, "/api/v2/workspaces/{id}", "Update a workspace", update_workspace)
        .add(Verb::Delete, "/api/v2/workspaces/{id}", "Delete a workspace", delete_workspace)
        .add(Verb::Get, "/api/v2/workspaces/{id}/relationships/tags", "A workspace's tags", list_tags)
        .add(
            Verb::Post,
            "/api/v2/workspaces/{id}/relationships/tags",
            "Add tags to a workspace (by name)",
            add_tags,
        )
        .add(
            Verb::Delete,
            "/api/v2/workspaces/{id}/relationships/tags",
            "Remove tags from a workspace",
            remove_tags,
        )
        .add(Verb::Post, "/api/v2/workspaces/{id}/actions/lock", "Lock a workspace", lock_workspace)
        .add(Verb::Post, "/api/v2/workspaces/{id}/actions/unlock", "Unlock a workspace", unlock_workspace)
        .add(
            Verb::Post,
            "/api/v2/workspaces/{id}/actions/force-unlock",
            "Unlock a workspace, whoever locked it",
            force_unlock_workspace,
        )
        .add(
            Verb::Post,
            "/api/v2/workspaces/{id}/actions/safe-delete",
            "Delete a workspace if its state manages no resource",
            safe_delete_workspace,
        )
        .add(
            Verb::Get,
            "/api/v2/workspaces/{id}/varsets",
            "Variable sets that apply to a workspace (global, applied to it or to its project)",
            workspace_varsets,
        )
        .add(
            Verb::Get,
            "/api/v2/workspaces/{id}/all-vars",
            "Every variable a run in the workspace gets, the winner of each name",
            all_vars,
        )
        .add(
            Verb::Get,
            "/api/v2/workspaces/{id}/vars",
            "List workspace variables (sensitive values are never returned)",
            list_vars,
        )
        .add(Verb::Post, "/api/v2/workspaces/{id}/vars", "Create a workspace variable", create_var)
        .add(Verb::Get, "/api/v2/workspaces/{id}/vars/{var}", "Show a workspace variable", show_var)
        .add(Verb::Patch, "/api/v2/workspaces/{id}/vars/{var}", "Update a workspace variable", update_var)
        .add(Verb::Delete, "/api/v2/workspaces/{id}/vars/{var}", "Delete a workspace variable", delete_var)
        .add(Verb::Get, "/api/v2/organizations/{org}/varsets", "List variable sets", list_varsets)
        .add(
            Verb::Post,
            "/api/v2/organizations/{org}/varsets",
            "Create a variable set (optionally applied to workspaces and projects)",
            create_varset,
        )
        .add(Verb::Get, "/api/v2/varsets/{id}", "Show a variable set", show_varset)
        .add(
            Verb::Patch,
            "/api/v2/varsets/{id}",
            "Change a variable set's name, description or global flag",
            update_varset,
        )
        .add(Verb::Delete, "/api/v2/varsets/{id}", "Delete a variable set", delete_varset)
        .add(Verb::Get, "/api/v2/varsets/{id}/relationships/vars", "List a set's variables", list_varset_vars)
        .add(
            Verb::Post,
            "/api/v2/varsets/{id}/relationships/vars",
            "Add a variable to a set",
            create_varset_var,
        )
        .add(
            Verb::Get,
            "/api/v2/varsets/{id}/relationships/vars/{var}",
            "Show a set's variable",
            show_varset_var,
        )
        .add(
            Verb::Patch,
            "/api/v2/varsets/{id}/relationships/vars/{var}",
            "Update a set's variable",
            update_varset_var,
        )
        .add(
            Verb::Delete,
            "/api/v2/varsets/{id}/relationships/vars/{var}",
            "Delete a set's variable",
            delete_varset_var,
        )
        .add(
            Verb::Post,
            "/api/v2/varsets/{id}/relationships/workspaces",
            "Apply a set to workspaces",
            attach_varset,
        )
        .add(
            Verb::Delete,
            "/api/v2/varsets/{id}/relationships/workspaces",
            "Remove a set from workspaces",
            detach_varset,
        )
        .add(
            Verb::Post,
            "/api/v2/varsets/{id}/relationships/projects",
            "Apply a set to projects (every workspace in them)",
            attach_varset_projects,
        )
        .add(
            Verb::Delete,
            "/api/v2/varsets/{id}/relationships/projects",
            "Remove a set from projects",
            detach_varset_projects,
        )
        .add(
            Verb::Get,
            "/api/v2/workspaces/{id}/configuration-versions",
            "List configuration versions",
            list_cvs,
        )
        .add(
            Verb::Post,
            "/api/v2/workspaces/{id}/configuration-versions",
            "Create a configuration version (returns its upload-url)",
            create_cv,
        )
        .add(Verb::Get, "/api/v2/configuration-versions/{id}", "Show a configuration version", show_cv)
        .add(
            Verb::Get,
            "/api/v2/configuration-versions/{id}/download",
            "Download an uploaded configuration (.tar.gz)",
            download_cv,
        )
        .add_with_limit(
            Verb::Put,
            "/api/v2/configuration-versions/{id}/upload",
            "Upload a configuration (.tar.gz)",
            limits.max_upload_bytes,
            upload_cv,
        )
        .add(
            Verb::Put,
            "/api/v2/configuration-versions/{id}/upload/{signature}",
            "Upload a configuration through its signed upload-url (no token; expires in an hour)",
            upload_cv_signed,
        )
        .add(Verb::Post, "/api/v2/runs", "Create a run", create_run)
        .add(
            Verb::Get,
            "/api/v2/runs/{id}",
            "Show a run (include: workspace, plan, apply, configuration_version)",
            show_run,
        )
        .add(
            Verb::Get,
            "/api/v2/runs/{id}/run-events",
            "A run's events, from its status timestamps",
            run_events,
        )
        .add(Verb::Get, "/api/v2/run-events/{id}", "One run event", show_run_event)
        .add(Verb::Get, "/api/v2/runs/{id}/plan", "A run's plan", show_run_plan)
        .add(Verb::Get, "/api/v2/runs/{id}/apply", "A run's apply", show_run_apply)
        .add(Verb::Get, "/api/v2/workspaces/{id}/runs", "List a workspace's runs (filter[status])", list_runs)
        .add(
            Verb::Post,
            "/api/v2/workspaces/{id}/runs",
            "Create a run in a workspace",
            create_run_in_workspace,
        )
        .add(Verb::Post, "/api/v2/runs/{id}/actions/apply", "Confirm a planned run", apply_run)
        .add(Verb::Post, "/api/v2/runs/{id}/actions/discard", "Discard a planned run", discard_run)
        .add(Verb::Post, "/api/v2/runs/{id}/actions/cancel", "Cancel a run", cancel_run)
        .add(Verb::Get, "/api/v2/plans/{id}", "Show a plan", show_plan)
        .add(
            Verb::Get,
            "/api/v2/plans/{id}/json-output",
            "The plan as JSON (terraform show -json; holds sensitive values)",
            plan_json_output,
        )
        .add(
            Verb::Get,
            "/api/v2/runs/{id}/plan/json-output",
            "A run's plan as JSON (terraform show -json; holds sensitive values)",
            run_plan_json_output,
        )
        .add(
            Verb::Get,
            "/api/v2/plans/{id}/json-output-redacted",
            "The structured plan the cloud block renders, sensitive values removed",
            plan_json_output_redacted,
        )
        .add(
            Verb::Get,
            "/api/v2/runs/{id}/plan/json-output-redacted",
            "A run's structured plan, sensitive values removed",
            run_plan_json_output_redacted,
        )
        .add(
            Verb::Get,
            "/api/v2/plans/{id}/logs",
            "A plan's log (STX, text, ETX when over; offset and limit)",
            plan_logs,
        )
        .add(
            Verb::Get,
            "/api/v2/plans/{id}/logs/{signature}",
            "A plan's log through its signed log-read-url (no token)",
            signed_plan_logs,
        )
        .add(Verb::Get, "/api/v2/applies/{id}", "Show an apply", show_apply)
        .add(Verb::Get, "/api/v2/applies/{id}/logs", "An apply's log", apply_logs)
        .add(
            Verb::Get,
            "/api/v2/applies/{id}/logs/{signature}",
            "An apply's log through its signed log-read-url (no token)",
            signed_apply_logs,
        )
        .add(
            Verb::Get,
            "/api/v2/workspaces/{id}/current-state-version",
            "The current state version",
            current_state,
        )
        .add_with_limit(
            Verb::Get,
            "/api/v2/workspaces/{id}/state-versions",
            "List state versions",
            tern_store::MAX_STATE_BYTES * 2,
            list_states,
        )
        .add_with_limit(
            Verb::Post,
            "/api/v2/workspaces/{id}/state-versions",
            "Upload a state version (workspace locked)",
            tern_store::MAX_STATE_BYTES * 2,
            create_state,
        )
        .add(
            Verb::Get,
            "/api/v2/state-versions",
            "List state versions by filter[organization][name] and filter[workspace][name]",
            filter_states,
        )
        .add(Verb::Get, "/api/v2/state-versions/{id}", "Show a state version", show_state)
        .add(Verb::Get, "/api/v2/state-versions/{id}/download", "Download a state version", download_state)
        .add_with_limit(
            Verb::Put,
            "/api/v2/state-versions/{id}/upload/{signature}",
            "Upload a pending state version's state (signed URL, no token)",
            tern_store::MAX_STATE_BYTES,
            upload_state_signed,
        )
        .add_with_limit(
            Verb::Put,
            "/api/v2/state-versions/{id}/json-upload/{signature}",
            "Upload a pending state version's JSON state (signed URL, no token; not kept)",
            tern_store::MAX_STATE_BYTES,
            upload_json_state_signed,
        )
        .add(
            Verb::Get,
            "/api/v2/state-versions/{id}/outputs",
            "A state version's outputs (sensitive values withheld)",
            state_outputs,
        )
        .add(
            Verb::Get,
            "/api/v2/state-version-outputs/{id}",
            "One output of a state version (sensitive value withheld)",
            show_state_output,
        )
        .add(
            Verb::Get,
            "/api/v2/workspaces/{id}/current-state-version-outputs",
            "The current state's outputs (sensitive values withheld)",
            current_state_outputs,
        )
        .add(
            Verb::Get,
            "/api/v2/organizations/{org}/authentication-token",
            "Show the newest organization token (admin; never its secret)",
            show_org_token,
        )
        .add(
            Verb::Post,
            "/api/v2/organizations/{org}/authentication-token",
            "Create an organization token (admin)",
            create_org_token,
        )
        .add(
            Verb::Delete,
            "/api/v2/organizations/{org}/authentication-token",
            "Revoke the organization's organization tokens (admin)",
            delete_org_token,
        )
        .add(
            Verb::Post,
            "/api/v2/organizations/{org}/agent-tokens",
            "Create an organization-wide agent token (runs remote-mode workspaces; prefer an agent pool's)",
            create_agent_token,
        )
}

async fn ping(_caller: Caller) -> Response {
    docs::respond(StatusCode::OK, &serde_json::json!({ "data": { "type": "ping" } }))
}

// ---------------------------------------------------------------- loading with authorization

pub(crate) use super::access::hidden;

pub(crate) async fn load_org(
    s: &ApiState,
    caller: &Caller,
    name: &str,
    action: OA,
) -> Result<Organization, ApiError> {
    Ok(access::org_for(s, caller, name, action).await?.0)
}

async fn load_ws(s: &ApiState, caller: &Caller, id: &str, action: WA) -> Result<Workspace, ApiError> {
    access::ws_for(s, caller, id, action).await
}

async fn load_ws_by_name(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    name: &str,
    action: WA,
) -> Result<Workspace, ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OA::See).await?;
    let ws = s.store.workspace_by_name(&org.id, name).await?;
    access::decide_ws(&standing, &ws, action, name)?;
    Ok(ws)
}

async fn load_run(s: &ApiState, caller: &Caller, id: &str, action: WA) -> Result<(Run, Workspace), ApiError> {
    crate::app::runs::run_for(s, caller, id, action).await
}

/// `plan-X` / `apply-X` → `run-X`.
fn run_of(id: &str, prefix: &str) -> Result<String, ApiError> {
    id.strip_prefix(prefix)
        .filter(|rest| !rest.is_empty())
        .map(|rest| format!("run-{rest}"))
        .ok_or_else(|| ApiError::not_found(format!("{id:?} is not a {} id", prefix.trim_end_matches('-'))))
}

// ---------------------------------------------------------------- organizations and projects

async fn list_orgs(State(s): State<ApiState>, caller: Caller, Query(q): Q) -> ApiResult {
    let only: Option<Vec<String>> = match &caller {
        Caller::Admin(_) => None,
        Caller::User(_, u, _) if u.site_admin => None,
        Caller::Organization(t) | Caller::Team(t, _) => Some(t.organization_id.iter().cloned().collect()),
        Caller::User(_, u, _) => {
            let mut ids: Vec<String> =
                s.store.teams_of_user(&u.id).await?.into_iter().map(|t| t.organization_id).collect();
            ids.dedup();
            Some(ids)
        }
        Caller::Agent(_) | Caller::Job(_) => {
            return Err(ApiError::forbidden("agent and job tokens cannot list organizations"));
        }
    };
    let paged = s.store.list_organizations(only.as_deref(), docs::page(&q)?).await?;
    Ok(docs::list(&paged, "/api/v2/organizations", docs::organization))
}

async fn create_org(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    caller.check_admin()?;
    let doc = Doc::parse(&body, "organizations")?;
    let name = doc.required("name")?;
    let email = doc.string("email")?.unwrap_or_default();
    let org = s.store.create_organization(&name, &email).await?;
    Ok(docs::created(docs::organization(&org)))
}

async fn show_org(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    Ok(docs::one(docs::organization(&load_org(&s, &caller, &org, OA::See).await?)))
}

async fn update_org(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.check_admin()?;
    let org = load_org(&s, &caller, &org, OA::See).await?;
    let doc = Doc::parse(&body, "organizations")?;
    let name = doc.string("name")?;
    let email = doc.string("email")?;
    Ok(docs::one(docs::organization(
        &s.store.update_organization(&org.id, name.as_deref(), email.as_deref()).await?,
    )))
}

async fn delete_org(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    caller.check_admin()?;
    let org = load_org(&s, &caller, &org, OA::See).await?;
    s.store.delete_organization(&org.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What this organization may do, as the `remote` backend asks before it runs anything.
async fn entitlements(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::See).await?;
    Ok(docs::one(Resource::new(
        org.id,
        r::EntitlementAttributes {
            operations: true,
            state_storage: true,
            private_module_registry: false,
            sentinel: false,
            teams: true,
            vcs_integrations: false,
            agents: true,
        },
        NoRelationships {},
    )))
}

async fn list_projects(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (org, standing) = access::org_for(&s, &caller, &org, OA::See).await?;
    check_query(&q, &["filter[names]", "q"])?;
    let names = comma_list(&q, "filter[names]");
    let page = docs::page(&q)?;
    let search = q.get("q").map(String::as_str);
    let paged = crate::app::workspaces::projects(&s, &standing, &org, &names, search, page).await?;
    Ok(docs::list(&paged, &format!("/api/v2/organizations/{}/projects", org.name), docs::project))
}

async fn create_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::ManageProjects).await?;
    let doc = Doc::parse(&body, "projects")?;
    let description = doc.string("description")?.unwrap_or_default();
    let project = s.store.create_project(&org.id, &doc.required("name")?, &description).await?;
    Ok(docs::created(docs::project(&project)))
}

async fn load_project(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: PA,
) -> Result<tern_store::Project, ApiError> {
    access::project_for(s, caller, id, action).await
}

async fn show_project(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    Ok(docs::one(docs::project(&load_project(&s, &caller, &id, PA::See).await?)))
}

async fn update_project(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let project = load_project(&s, &caller, &id, PA::Update).await?;
    let doc = Doc::parse(&body, "projects")?;
    let (name, description) = (doc.string("name")?, doc.string("description")?);
    Ok(docs::one(docs::project(
        &s.store.update_project(&project.id, name.as_deref(), description.as_deref()).await?,
    )))
}

async fn delete_project(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let project = load_project(&s, &caller, &id, PA::Delete).await?;
    s.store.delete_project(&project.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn project_varsets(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let project = load_project(&s, &caller, &id, PA::See).await?;
    // Which sets apply where, with their names: what reading the organization's sets needs.
    access::in_org(&s, &caller, &project.organization_id, OA::ReadAllWorkspaces, String::new).await?;
    let sets = s.store.project_variable_sets(&project.id).await?;
    varset_list(&s, &sets).await
}

// ---------------------------------------------------------------- workspaces

pub(crate) fn workspace_settings(doc: &Doc) -> Result<WorkspaceSettings, ApiError> {
    // A workspace used to name the program its runs execute, which let a tenant run anything
    // on the runner. Refused loudly rather than ignored: a client that sends it must learn that
    // it has no effect.
    // pytfe sends an empty `vcs-repo: {}` on every workspace: only a real one is refused.
    if doc.value("vcs-repo").is_some_and(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty())) {
        return Err(ApiError::invalid(
            "/data/attributes/vcs-repo",
            "tern does not run workspaces from version control yet (vcs-repo): upload configurations with the API, `tern run start` or Terraform's cloud block",
        ));
    }
    if doc.has("terraform-bin") {
        return Err(ApiError::invalid(
            "/data/attributes/terraform-bin",
            "terraform-bin was removed: a workspace chooses its Terraform by version with terraform-version (e.g. \"1.11.4\", or \"latest\"), among the binaries the operator registered with the runners (tern serve/agent --terraform)",
        ));
    }
    let terraform_version = match doc.string("terraform-version")? {
        None => None,
        Some(v) => Some(
            TerraformVersion::parse(&v)
                .map_err(|e| ApiError::invalid("/data/attributes/terraform-version", e.to_string()))?,
        ),
    };
    // TFE's attribute, or the relationship as JSON:API clients may send it.
    let agent_pool_id = match doc.string("agent-pool-id")? {
        Some(id) => Some(id),
        None => doc.relationship("agent-pool")?,
    };
    let mode = match doc.string("execution-mode")? {
        None => None,
        Some(m) => Some(ExecutionMode::parse(&m).ok_or_else(|| {
            ApiError::invalid(
                "/data/attributes/execution-mode",
                format!("execution-mode {m:?} is not one of: remote, agent, local"),
            )
        })?),
    };
    Ok(WorkspaceSettings {
        name: doc.string("name")?,
        project_id: doc.relationship("project")?,
        description: doc.string("description")?,
        terraform_version,
        working_directory: doc.string("working-directory")?,
        auto_apply: doc.boolean("auto-apply")?,
        execution_mode: mode,
        agent_pool_id,
        plan_timeout_s: doc.integer("plan-timeout")?,
        apply_timeout_s: doc.integer("apply-timeout")?,
    })
}

async fn list_workspaces(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (org, standing) = access::org_for(&s, &caller, &org, OA::See).await?;
    let mut filter = workspace_filter(&s, &org, &q).await?;
    filter.visible = access::workspace_scope(&standing);

    let paged = s.store.list_workspaces(&org.id, &filter, docs::page(&q)?).await?;
    Ok(docs::list(&paged, &format!("/api/v2/organizations/{}/workspaces", org.name), |w| {
        docs::workspace_with(w, access::permissions_block(&standing, w))
    }))
}

/// A comma-separated query parameter (`filter[names]`, `search[tags]`…): its non-empty items.
pub(crate) fn comma_list(q: &HashMap<String, String>, key: &str) -> Vec<String> {
    q.get(key)
        .map(|v| v.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The query parameters a list takes besides paging: anything else that filters is refused,
/// never ignored (a loop over one project's workspaces must not act on all of them).
pub(crate) fn check_query(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    // An empty value filters nothing (pytfe sends `search[user]=` and the like): not refused.
    let filters = q
        .iter()
        .filter(|(k, v)| {
            !v.is_empty() && (k.starts_with("filter[") || k.starts_with("search[") || k.as_str() == "q")
        })
        .map(|(k, _)| k);
    let mut unknown: Vec<&String> = filters.filter(|k| !known.contains(&k.as_str())).collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(k) => Err(ApiError::bad_request(format!(
            "tern does not support the query parameter {k}; this list takes {}",
            known.join(", ")
        ))),
    }
}

/// TFE's workspace list parameters: `search[name]`, `search[tags]` (comma-separated, all
/// required), `filter[project][id]`.
async fn workspace_filter(
    s: &ApiState,
    org: &Organization,
    q: &HashMap<String, String>,
) -> Result<WorkspaceFilter, ApiError> {
    check_query(
        q,
        &[
            "search[name]",
            "search[wildcard-name]",
            "search[tags]",
            "search[exclude-tags]",
            "filter[project][id]",
            "filter[current-run][status]",
        ],
    )?;
    let (tags, exclude_tags) = (comma_list(q, "search[tags]"), comma_list(q, "search[exclude-tags]"));
    let project_id = match q.get("filter[project][id]") {
        None => None,
        Some(id) => {
            let p = s
                .store
                .project(id)
                .await
                .map_err(|_| ApiError::not_found(format!("project {id:?} not found")))?;
            if p.organization_id != org.id {
                return Err(ApiError::not_found(format!("project {id:?} not found")));
            }
            Some(p.id)
        }
    };
    Ok(WorkspaceFilter {
        name: q.get("search[name]").cloned(),
        tags,
        exclude_tags,
        project_id,
        wildcard_name: q.get("search[wildcard-name]").cloned(),
        current_run_statuses: run_statuses(q, "filter[current-run][status]")?,
        visible: None,
    })
}

/// The run statuses of a comma-separated query parameter; an unknown one is refused by name.
fn run_statuses(q: &HashMap<String, String>, key: &str) -> Result<Vec<RunStatus>, ApiError> {
    let mut statuses = Vec::new();
    for name in q.get(key).map(String::as_str).unwrap_or_default().split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        statuses.push(RunStatus::parse(name).ok_or_else(|| {
            let known: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!(
                "{key}: tern has no run status {name:?}; it has {}",
                known.join(", ")
            ))
        })?);
    }
    Ok(statuses)
}

/// TFE's run list parameters: `filter[status]` and `filter[operation]` (comma-separated, any).
fn run_filter(q: &HashMap<String, String>) -> Result<RunFilter, ApiError> {
    check_query(q, &["filter[status]", "filter[operation]"])?;
    let mut operations = Vec::new();
    for name in q.get("filter[operation]").map(String::as_str).unwrap_or_default().split(',').map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let op = RunOperation::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op).ok_or_else(|| {
            let known: Vec<&str> = RunOperation::ALL.iter().map(|(n, _)| *n).collect();
            ApiError::bad_request(format!(
                "filter[operation]: tern does not filter by {name:?}; it filters by {}",
                known.join(", ")
            ))
        })?;
        operations.push(op);
    }
    Ok(RunFilter { statuses: run_statuses(q, "filter[status]")?, operations })
}

/// A tag's TFE id: `tag-` and 16 hex derived from its organization and name (tern keeps tags
/// by name; the id is stable and names the same tag wherever it is used).
fn tag_id(s: &ApiState, organization_id: &str, name: &str) -> String {
    format!("tag-{}", &s.store.sign(&format!("tag/{organization_id}/{name}"))[..16])
}

/// Tag names of a `tags` relationship document: `{"data": [{"type": "tags", "attributes":
/// {"name": "app"}}]}`, or the `id` of a tag already used in the organization.
async fn tag_names(
    s: &ApiState,
    organization_id: &str,
    data: Option<&serde_json::Value>,
    pointer: &str,
) -> Result<Vec<String>, ApiError> {
    let Some(items) = data else { return Ok(Vec::new()) };
    let items = items.as_array().ok_or_else(|| ApiError::invalid(pointer, "tags must be a list"))?;
    let mut known: Option<Vec<String>> = None;
    let mut names = Vec::new();
    for (i, t) in items.iter().enumerate() {
        if let Some(name) = t.pointer("/attributes/name").and_then(serde_json::Value::as_str) {
            names.push(name.to_owned());
            continue;
        }
        let id = t.get("id").and_then(serde_json::Value::as_str).ok_or_else(|| {
            ApiError::invalid(&format!("{pointer}/{i}"), "each tag needs attributes.name or an id")
        })?;
        if known.is_none() {
            known = Some(s.store.organization_tags(organization_id).await?);
        }
        let name = known.iter().flatten().find(|n| tag_id(s, organization_id, n) == id).ok_or_else(|| {
            ApiError::invalid(
                &format!("{pointer}/{i}/id"),
                format!("no tag with id {id:?} in this organization; give new tags by attributes.name"),
            )
        })?;
        names.push(name.clone());
    }
    Ok(names)
}

/// The tag names of a `POST`/`DELETE …/relationships/tags` body.
async fn tags_in_body(s: &ApiState, organization_id: &str, body: &[u8]) -> Result<Vec<String>, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not a JSON document ({e})")))?;
    tag_names(s, organization_id, value.get("data"), "/data").await
}

async fn add_tags(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::UpdateSettings).await?;
    s.store.add_workspace_tags(&ws.id, &tags_in_body(&s, &ws.organization_id, &body).await?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_tags(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::UpdateSettings).await?;
    s.store.remove_workspace_tags(&ws.id, &tags_in_body(&s, &ws.organization_id, &body).await?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_tags(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::Read).await?;
    let tags: Vec<r::Tag> = ws
        .tag_names
        .iter()
        .map(|n| {
            Resource::new(
                tag_id(&s, &ws.organization_id, n),
                r::TagAttributes { name: n.clone() },
                NoRelationships {},
            )
        })
        .collect();
    Ok(docs::one(tags))
}

async fn create_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::See).await?;
    let doc = Doc::parse(&body, "workspaces")?;
    let settings = workspace_settings(&doc)?;
    if settings.name.is_none() {
        return Err(ApiError::invalid("/data/attributes/name", "name is required"));
    }
    // Created in a project: the caller may create workspaces there.
    let project = match &settings.project_id {
        Some(id) => id.clone(),
        None => s.store.project_by_name(&org.id, tern_store::DEFAULT_PROJECT).await?.id,
    };
    let in_project = s.store.project(&project).await?;
    if in_project.organization_id == org.id {
        let implicit = settings.project_id.is_none();
        load_project(&s, &caller, &project, PA::CreateWorkspace).await.map_err(|e| {
            // The Default Project, not named by the caller: say what is missing, not "not found".
            if implicit && e.status == StatusCode::NOT_FOUND {
                ApiError::forbidden(format!(
                    "creating a workspace in the {:?} needs the organization permission manage-workspaces, or maintain access to that project",
                    tern_store::DEFAULT_PROJECT
                ))
            } else {
                e
            }
        })?;
    }
    // Tags as relationships (current go-tfe) or as the `tag-names` attribute (older clients).
    let mut tags =
        tag_names(&s, &org.id, doc.relationship_data("tags"), "/data/relationships/tags/data").await?;
    tags.extend(doc.strings("tag-names")?);
    for tag in &tags {
        tern_store::check_tag(tag)
            .map_err(|e| ApiError::invalid("/data/relationships/tags/data", e.to_string()))?;
    }
    let mut ws = s.store.create_workspace(&org.id, &settings).await?;
    if !tags.is_empty() {
        ws = s.store.add_workspace_tags(&ws.id, &tags).await?;
    }
    Ok(docs::created(access::workspace_doc(&s, &caller, &ws).await?))
}

async fn show_workspace_by_name(
    State(s): State<ApiState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult {
    workspace_with_included(&s, &caller, &load_ws_by_name(&s, &caller, &org, &name, WA::Read).await?, &q)
        .await
}

/// A workspace with the related resources `include` asks for that tern has (`project`,
/// `organization`, `current_run`/`latest_run`); other names are tolerated with nothing to
/// include, as on a TFE without those features.
async fn workspace_with_included(
    s: &ApiState,
    caller: &Caller,
    ws: &Workspace,
    q: &HashMap<String, String>,
) -> ApiResult {
    let mut included: Vec<serde_json::Value> = Vec::new();
    for name in q.get("include").map(String::as_str).unwrap_or_default().split(',').map(str::trim) {
        match name {
            // A project the caller may not see is not included (the workspace still names its id).
            "project" => {
                if let Ok(p) = access::project_for(s, caller, &ws.project_id, PA::See).await {
                    included.push(docs::value(&docs::project(&p)));
                }
            }
            "organization" => included.push(docs::value(&docs::organization(
                &s.store.organization_by_id(&ws.organization_id).await?,
            ))),
            "current_run" | "latest_run" => {
                if let Some(id) = &ws.latest_run_id {
                    included.push(docs::value(&run_doc(s, &s.store.run(id).await?).await?));
                }
            }
            _ => {}
        }
    }
    let data = access::workspace_doc(s, caller, ws).await?;
    if included.is_empty() {
        return Ok(docs::one(data));
    }
    included.dedup_by(|a, b| a["id"] == b["id"]);
    Ok(docs::with_included(data, included))
}

async fn update_workspace_by_name(
    State(s): State<ApiState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let ws = load_ws_by_name(&s, &caller, &org, &name, WA::UpdateSettings).await?;
    let settings = workspace_settings(&Doc::parse(&body, "workspaces")?)?;
    let ws = app::settings::update(&s, &caller, &ws.id, &settings).await?;
    Ok(docs::one(access::workspace_doc(&s, &caller, &ws).await?))
}

async fn delete_workspace_by_name(
    State(s): State<ApiState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult {
    let ws = load_ws_by_name(&s, &caller, &org, &name, WA::Delete).await?;
    app::settings::delete(&s, &caller, &ws.id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn show_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    workspace_with_included(&s, &caller, &load_ws(&s, &caller, &id, WA::Read).await?, &q).await
}

/// Every variable a run in the workspace gets, each name once, the one that wins: the
/// workspace's own, then sets applied to it, then sets applied to its project, then global
/// sets (sensitive values withheld, as everywhere).
async fn all_vars(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (_, own, sets) = app::variables::applied(&s, &caller, &id).await?;
    let effective: Vec<_> = own
        .iter()
        .chain(sets.iter().flat_map(|set| set.variables.iter().filter(|(_, wins)| *wins).map(|(v, _)| v)))
        .map(docs::variable)
        .collect();
    Ok(docs::one(effective))
}

async fn update_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    // Who may comes first: a refused caller learns nothing from a body's errors.
    let ws = load_ws(&s, &caller, &id, WA::UpdateSettings).await?;
    let settings = workspace_settings(&Doc::parse(&body, "workspaces")?)?;
    let ws = app::settings::update(&s, &caller, &ws.id, &settings).await?;
    Ok(docs::one(access::workspace_doc(&s, &caller, &ws).await?))
}

async fn delete_workspace(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    app::settings::delete(&s, &caller, &id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn safe_delete_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    app::settings::delete(&s, &caller, &id, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn safe_delete_workspace_by_name(
    State(s): State<ApiState>,
    caller: Caller,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult {
    let ws = load_ws_by_name(&s, &caller, &org, &name, WA::Delete).await?;
    app::settings::delete(&s, &caller, &ws.id, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn workspace_varsets(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::ReadVariables).await?;
    let sets = s.store.workspace_variable_sets(&ws.id).await?;
    varset_list(&s, &sets).await
}

async fn lock_workspace(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let ws = app::settings::set_lock(&s, &caller, &id, LockChange::Lock).await?;
    Ok(docs::one(access::workspace_doc(&s, &caller, &ws).await?))
}

async fn force_unlock_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let ws = app::settings::set_lock(&s, &caller, &id, LockChange::ForceUnlock).await?;
    Ok(docs::one(access::workspace_doc(&s, &caller, &ws).await?))
}

async fn unlock_workspace(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let ws = app::settings::set_lock(&s, &caller, &id, LockChange::Unlock).await?;
    Ok(docs::one(access::workspace_doc(&s, &caller, &ws).await?))
}

// ---------------------------------------------------------------- variables and sets

pub(crate) fn variable_input(doc: &Doc) -> Result<VariableInput, ApiError> {
    let category = match doc.string("category")? {
        None => None,
        Some(c) => Some(Category::parse(&c).ok_or_else(|| {
            ApiError::invalid(
                "/data/attributes/category",
                format!("category {c:?} is not one of: env, terraform"),
            )
        })?),
    };
    Ok(VariableInput {
        key: doc.string("key")?,
        value: doc.string("value")?.map(SecretString::new),
        description: doc.string("description")?,
        category,
        hcl: doc.boolean("hcl")?,
        sensitive: doc.boolean("sensitive")?,
    })
}

async fn list_vars(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (_, vars) = crate::app::variables::list(&s, &caller, &id).await?;
    Ok(docs::one(vars.iter().map(docs::variable).collect::<Vec<_>>()))
}

async fn create_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    // Who may is decided before the body is read (a refusal names the permission, not a field).
    access::ws_for(&s, &caller, &id, WA::WriteVariables).await?;
    let input = variable_input(&Doc::parse(&body, "vars")?)?;
    Ok(docs::created(docs::variable(&crate::app::variables::create(&s, &caller, &id, &input).await?)))
}

async fn show_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, var)): Path<(String, String)>,
) -> ApiResult {
    let (v, _) = crate::app::variables::of_workspace(&s, &caller, &id, &var, WA::ReadVariables).await?;
    Ok(docs::one(docs::variable(&v)))
}

async fn update_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, var)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    crate::app::variables::of_workspace(&s, &caller, &id, &var, WA::WriteVariables).await?;
    let input = variable_input(&Doc::parse(&body, "vars")?)?;
    Ok(docs::one(docs::variable(&crate::app::variables::update(&s, &caller, &id, &var, &input).await?)))
}

async fn delete_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, var)): Path<(String, String)>,
) -> ApiResult {
    crate::app::variables::delete(&s, &caller, &id, &var).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn load_varset(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: OA,
) -> Result<tern_store::VariableSet, ApiError> {
    app::varsets::load(s, caller, id, action).await
}

async fn varset_doc(
    s: &ApiState,
    set: &tern_store::VariableSet,
) -> Result<tern_protocol::resources::VariableSet, ApiError> {
    let vars = s.store.list_variables(&VariableOwner::VariableSet(set.id.clone())).await?;
    Ok(docs::variable_set(set, &vars))
}

/// Sets as a list document (TFE pages these; tern returns them on one page).
async fn varset_list(s: &ApiState, sets: &[tern_store::VariableSet]) -> ApiResult {
    let mut out = Vec::new();
    for set in sets {
        out.push(varset_doc(s, set).await?);
    }
    Ok(docs::single_page(out))
}

async fn list_varsets(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    let (_, _, sets) = app::varsets::list(&s, &caller, &org).await?;
    varset_list(&s, &sets).await
}

/// Ids in a create body's `relationships.<name>.data` (`[{"id": …, "type": …}]`).
fn relationship_ids(doc: &Doc, name: &str) -> Result<Vec<String>, ApiError> {
    let Some(data) = doc.relationship_data(name) else { return Ok(Vec::new()) };
    let pointer = format!("/data/relationships/{name}/data");
    let items = data.as_array().ok_or_else(|| ApiError::invalid(&pointer, "must be a list"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.get("id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::invalid(&format!("{pointer}/{i}/id"), "each item needs an id"))
        })
        .collect()
}

/// TFE features of variable sets that tern does not have, refused by name.
fn refuse_varset_features(doc: &Doc) -> Result<(), ApiError> {
    if doc.relationship_data("parent").is_some_and(|p| !p.is_null()) {
        return Err(ApiError::invalid(
            "/data/relationships/parent",
            "tern does not support variable sets owned by a project (parent); create the set in the organization and apply it to the project (relationships.projects)",
        ));
    }
    if doc.boolean("priority")? == Some(true) {
        return Err(ApiError::invalid(
            "/data/attributes/priority",
            "tern does not support priority variable sets: a workspace's own variables win over every set",
        ));
    }
    Ok(())
}

async fn create_varset(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = || {
        let doc = Doc::parse(&body, "varsets")?;
        refuse_varset_features(&doc)?;
        Ok(app::varsets::NewSet {
            workspaces: relationship_ids(&doc, "workspaces")?,
            projects: relationship_ids(&doc, "projects")?,
            name: doc.required("name")?,
            description: doc.string("description")?.unwrap_or_default(),
            global: doc.boolean("global")?.unwrap_or(false),
        })
    };
    let set = app::varsets::create(&s, &caller, &org, input).await?;
    Ok(docs::created(varset_doc(&s, &set).await?))
}

async fn update_varset(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = || {
        let doc = Doc::parse(&body, "varsets")?;
        refuse_varset_features(&doc)?;
        // Relationships given replace the set's workspaces or projects (TFE's update semantics).
        let ids = |name| {
            if doc.relationship_data(name).is_some() {
                relationship_ids(&doc, name).map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(app::varsets::SetChanges {
            name: doc.string("name")?,
            description: doc.string("description")?,
            global: doc.boolean("global")?,
            workspaces: ids("workspaces")?,
            projects: ids("projects")?,
        })
    };
    let set = app::varsets::update(&s, &caller, &id, input).await?;
    Ok(docs::one(varset_doc(&s, &set).await?))
}

async fn show_varset(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let set = load_varset(&s, &caller, &id, OA::ReadAllWorkspaces).await?;
    let data = varset_doc(&s, &set).await?;
    let wants_vars = q.get("include").is_some_and(|i| i.split(',').any(|n| n.trim() == "vars"));
    if !wants_vars {
        return Ok(docs::one(data));
    }
    let vars = s.store.list_variables(&VariableOwner::VariableSet(set.id)).await?;
    let included = vars.iter().map(|v| docs::value(&docs::variable(v))).collect();
    Ok(docs::with_included(data, included))
}

async fn delete_varset(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    app::varsets::delete(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_varset_vars(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let set = load_varset(&s, &caller, &id, OA::ReadAllWorkspaces).await?;
    let vars = s.store.list_variables(&VariableOwner::VariableSet(set.id)).await?;
    Ok(docs::one(vars.iter().map(docs::variable).collect::<Vec<_>>()))
}

async fn create_varset_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    // Who may is decided before the body is read (a refusal names the permission, not a field).
    load_varset(&s, &caller, &id, OA::ManageVariableSets).await?;
    let input = variable_input(&Doc::parse(&body, "vars")?)?;
    Ok(docs::created(docs::variable(&app::varsets::create_variable(&s, &caller, &id, &input).await?)))
}

async fn show_varset_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, var)): Path<(String, String)>,
) -> ApiResult {
    let (_, v) = app::varsets::variable(&s, &caller, &id, &var, OA::ReadAllWorkspaces).await?;
    Ok(docs::one(docs::variable(&v)))
}

async fn update_varset_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, var)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    // Decided before anything is read or written.
    app::varsets::variable(&s, &caller, &id, &var, OA::ManageVariableSets).await?;
    let input = variable_input(&Doc::parse(&body, "vars")?)?;
    Ok(docs::one(docs::variable(&app::varsets::update_variable(&s, &caller, &id, &var, &input).await?)))
}

async fn delete_varset_var(
    State(s): State<ApiState>,
    caller: Caller,
    Path((id, var)): Path<(String, String)>,
) -> ApiResult {
    app::varsets::delete_variable(&s, &caller, &id, &var).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST`/`DELETE …/relationships/workspaces|projects` of a set.
async fn change_varset_scope(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    body: &[u8],
    scope: SetScope,
    apply: bool,
) -> ApiResult {
    let kind = match scope {
        SetScope::Workspaces => "workspaces",
        SetScope::Projects => "projects",
    };
    app::varsets::change_scope(s, caller, id, scope, || docs::id_list(body, kind), apply).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn attach_varset(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_varset_scope(&s, &caller, &id, &body, SetScope::Workspaces, true).await
}

async fn detach_varset(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_varset_scope(&s, &caller, &id, &body, SetScope::Workspaces, false).await
}

async fn attach_varset_projects(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_varset_scope(&s, &caller, &id, &body, SetScope::Projects, true).await
}

async fn detach_varset_projects(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    change_varset_scope(&s, &caller, &id, &body, SetScope::Projects, false).await
}

// ---------------------------------------------------------------- configuration versions

async fn list_cvs(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::Read).await?;
    // Upload URLs only to those who may upload.
    let uploads = access::allows(&s, &caller, &ws, WA::QueuePlan).await?;
    let paged = s.store.list_configuration_versions(&ws.id, docs::page(&q)?).await?;
    Ok(docs::list(&paged, &format!("/api/v2/workspaces/{}/configuration-versions", ws.id), |cv| {
        docs::configuration_version(cv, uploads.then(|| upload_url(&s, &cv.id, &caller.token().id)))
    }))
}

async fn create_cv(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::QueuePlan).await?;
    let (speculative, auto_queue) = if body.is_empty() {
        (false, true)
    } else {
        let doc = Doc::parse(&body, "configuration-versions")?;
        (doc.boolean("speculative")?.unwrap_or(false), doc.boolean("auto-queue-runs")?.unwrap_or(true))
    };
    let cv = s.store.create_configuration_version(&ws.id, speculative, auto_queue).await?;
    Ok(docs::created(docs::configuration_version(&cv, Some(upload_url(&s, &cv.id, &caller.token().id)))))
}

/// How long a configuration version's upload URL works without a token.
const UPLOAD_URL_LIFETIME_S: i64 = 3600;

/// The `upload-url` of a configuration version: it works without a bearer token until it
/// expires, for that configuration version only, as HCP Terraform's pre-signed URLs do (current
/// go-tfe, inside Terraform ≥ 1.6 and the SDKs, uploads without the token). `creator` is the
/// token it was handed to: a run its upload queues is that token's.
fn upload_url(s: &ApiState, cv: &str, creator: &str) -> String {
    let expires = s.store.unix_now() + UPLOAD_URL_LIFETIME_S;
    let signature = s.store.sign(&format!("configuration-versions/{cv}/upload/{expires}/{creator}"));
    format!("{}/api/v2/configuration-versions/{cv}/upload/{expires}.{creator}.{signature}", s.public_url)
}

/// The creator of a valid, unexpired upload URL of `cv`.
fn check_upload_signature(s: &ApiState, cv: &str, signed: &str) -> Result<String, ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this upload URL is not valid or has expired; read the configuration version again for a fresh upload-url",
        )
    };
    let (rest, signature) = signed.rsplit_once('.').ok_or_else(refused)?;
    let (expires, creator) = rest.split_once('.').ok_or_else(refused)?;
    let expires: i64 = expires.parse().map_err(|_| refused())?;
    let message = format!("configuration-versions/{cv}/upload/{expires}/{creator}");
    if expires < s.store.unix_now() || !s.store.verify_signature(&message, signature) {
        return Err(refused());
    }
    Ok(creator.to_owned())
}

async fn show_cv(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let cv = s.store.configuration_version(&id).await?;
    let ws = load_ws(&s, &caller, &cv.workspace_id, WA::Read)
        .await
        .map_err(|e| hidden(e, format!("configuration version {id:?} not found")))?;
    let uploads = access::allows(&s, &caller, &ws, WA::QueuePlan).await?;
    Ok(docs::one(docs::configuration_version(
        &cv,
        uploads.then(|| upload_url(&s, &cv.id, &caller.token().id)),
    )))
}

/// The uploaded configuration, as TFE's download: the tarball as it was uploaded.
async fn download_cv(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let cv = s.store.configuration_version(&id).await?;
    load_ws(&s, &caller, &cv.workspace_id, WA::QueuePlan)
        .await
        .map_err(|e| hidden(e, format!("configuration version {id:?} not found")))?;
    let tarball = s.store.configuration_tarball(&cv.id).await.map_err(|_| {
        ApiError::not_found(format!("configuration version {id:?} has no upload yet (status {})", cv.status))
    })?;
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/octet-stream")], tarball).into_response())
}

async fn upload_cv(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let cv = s.store.configuration_version(&id).await?;
    let ws = load_ws(&s, &caller, &cv.workspace_id, WA::QueuePlan)
        .await
        .map_err(|e| hidden(e, format!("configuration version {id:?} not found")))?;
    accept_upload(&s, cv, &ws, &caller, body).await
}

/// `PUT` to a signed `upload-url`: no bearer token; the signature names the configuration
/// version and the token the URL was handed to, which must still be valid and of the
/// configuration's organization (a revoked token's URLs stop working with it). The signature
/// is checked before the body is read: without a token, nobody gets the server to buffer one.
async fn upload_cv_signed(
    State(s): State<ApiState>,
    Path((id, signed)): Path<(String, String)>,
    request: axum::extract::Request,
) -> ApiResult {
    let creator = check_upload_signature(&s, &id, &signed)?;
    let cv = s.store.configuration_version(&id).await?;
    let ws = s.store.workspace(&cv.workspace_id).await?;
    let caller = check_upload_creator(&s, &creator, &ws, WA::QueuePlan).await?;
    let body = axum::body::to_bytes(request.into_body(), s.limits.max_upload_bytes).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
            format!("a configuration upload is at most {} bytes", s.limits.max_upload_bytes),
        )
    })?;
    accept_upload(&s, cv, &ws, &caller, body).await
}

/// The token an upload URL was handed to must still be valid and may still write to
/// `organization_id`: revoking it revokes its URLs.
async fn check_upload_creator(
    s: &ApiState,
    creator: &str,
    ws: &Workspace,
    action: WA,
) -> Result<Caller, ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the token this upload URL was handed to is revoked or expired",
        )
    };
    let token = s.store.token(creator).await.map_err(|_| refused())?;
    if token.expires_at.is_some_and(|at| at <= s.store.unix_now()) {
        return Err(refused());
    }
    // Whoever it was handed to must still be allowed to do this (a team's access may have
    // changed since); decided as for a bearer token.
    let caller = Caller::of_token(token, s).await.map_err(|_| refused())?;
    access::ws_checked(s, &caller, ws.clone(), action, &ws.name).await.map_err(|_| refused())?;
    Ok(caller)
}

async fn accept_upload(
    s: &ApiState,
    cv: ConfigurationVersion,
    ws: &Workspace,
    caller: &Caller,
    body: Bytes,
) -> ApiResult {
    let id = cv.id.clone();
    // A run queued by the upload that will apply by itself is an apply: refused before the
    // upload is taken, to whoever may only plan.
    if cv.auto_queue_runs && !cv.speculative && ws.auto_apply {
        access::ws_checked(s, caller, ws.clone(), WA::Apply, &ws.name).await?;
    }
    if cv.status != "pending" {
        return Err(ApiError::conflict(format!(
            "configuration version {id} is {}; only a pending one accepts an upload",
            cv.status
        )));
    }
    let limits = s.limits.archive;
    let data = body.clone();
    let checked = tokio::task::spawn_blocking(move || tern_archive::inspect(&data, limits))
        .await
        .map_err(|_| ApiError::bad_request("the upload could not be checked"))?;
    let refused = match checked {
        Err(e) => Some(format!("the configuration was refused: {e}")),
        // Terraform plans a configuration without files as "destroy everything": refused, as
        // Terraform's own "No configuration files" guard would (tern's backend file defeats it).
        Ok(summary) if summary.terraform_files == 0 => Some(
            "the configuration has no Terraform files (*.tf or *.tf.json): a plan of it would destroy everything in the workspace's state. Upload the directory that holds your configuration (use a destroy run to destroy)".to_owned(),
        ),
        Ok(_) => None,
    };
    if let Some(reason) = refused {
        s.store.fail_configuration(&id, &reason).await?;
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid configuration", reason));
    }
    let cv = s.store.upload_configuration(&id, &body).await?;
    if cv.auto_queue_runs {
        let input = RunInput {
            configuration_version_id: Some(cv.id.clone()),
            message: Some("Triggered via API".into()),
            ..Default::default()
        };
        app::runs::start(s, caller, ws, &input).await?;
    }
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------- runs, plans, applies

/// Run attributes tern does not implement: refused when set (to anything but false or empty),
/// never silently ignored — a run that ignored one would not be the run asked for.
const UNSUPPORTED_RUN_ATTRIBUTES: &[&str] =
    &["allow-empty-apply", "allow-config-generation", "debugging-mode"];

/// The most run variables, and the longest key, value and address tern takes.
const MAX_RUN_VARIABLES: usize = 500;
const MAX_RUN_VARIABLE_VALUE: usize = 256 * 1024;
const MAX_ADDRESS: usize = 1024;

/// TFE's run `variables`: `[{"key": "name", "value": "<HCL>"}]`, as `-var` gives them.
fn run_variables(doc: &Doc) -> Result<Vec<RunVariable>, ApiError> {
    let pointer = "/data/attributes/variables";
    let Some(value) = doc.value("variables") else { return Ok(Vec::new()) };
    let items = value.as_array().ok_or_else(|| {
        ApiError::invalid(pointer, "variables must be a list of {\"key\", \"value\"} objects")
    })?;
    if items.len() > MAX_RUN_VARIABLES {
        return Err(ApiError::invalid(pointer, format!("at most {MAX_RUN_VARIABLES} run variables")));
    }
    let mut out: Vec<RunVariable> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let (Some(key), Some(value)) = (
            item.get("key").and_then(serde_json::Value::as_str),
            item.get("value").and_then(serde_json::Value::as_str),
        ) else {
            return Err(ApiError::invalid(
                &at,
                "each run variable needs a string key and a string value (HCL)",
            ));
        };
        if !tern_store::valid_variable_name(key) {
            return Err(ApiError::invalid(&at, format!("{key:?} is not a Terraform variable name")));
        }
        if value.len() > MAX_RUN_VARIABLE_VALUE || !is_one_hcl_expression(value) {
            return Err(ApiError::invalid(
                &at,
                format!(
                    "the value of {key} is not one HCL expression (strings are quoted, e.g. \"\\\"text\\\"\")"
                ),
            ));
        }
        if out.iter().any(|v| v.key == key) {
            return Err(ApiError::invalid(&at, format!("{key} is given twice")));
        }
        out.push(RunVariable { key: key.to_owned(), value: SecretString::new(value.to_owned()) });
    }
    Ok(out)
}

/// Whether `value` is exactly one HCL expression: written as `key = value` into the run's
/// tfvars file, it must not define anything else.
fn is_one_hcl_expression(value: &str) -> bool {
    // Terraform's scanner ends a heredoc on a line that is its delimiter after trimming any
    // Unicode space, hcl-rs only after spaces and tabs: other whitespace would let a heredoc
    // end earlier for Terraform than for this check. None is needed in a -var value.
    if value.chars().any(|c| c.is_whitespace() && !matches!(c, ' ' | '\t' | '\n')) {
        return false;
    }
    match hcl::parse(&format!("v = {value}\n")) {
        Ok(body) => body.attributes().count() == 1 && body.blocks().count() == 0,
        Err(_) => false,
    }
}

fn run_addresses(doc: &Doc, name: &str) -> Result<Vec<String>, ApiError> {
    let addrs = doc.strings(name)?;
    if let Some(bad) =
        addrs.iter().find(|a| a.is_empty() || a.len() > MAX_ADDRESS || a.chars().any(char::is_control))
    {
        return Err(ApiError::invalid(
            &format!("/data/attributes/{name}"),
            format!("{bad:?} is not a resource address"),
        ));
    }
    Ok(addrs)
}

/// What a run document asks for: refused where tern would not run exactly that.
fn run_input(doc: &Doc) -> Result<RunInput, ApiError> {
    if doc.string("terraform-version")?.is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::invalid(
            "/data/attributes/terraform-version",
            "tern does not support a run's own terraform-version yet; set the workspace's terraform-version",
        ));
    }
    for name in UNSUPPORTED_RUN_ATTRIBUTES {
        if doc.boolean(name)? == Some(true) {
            return Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                format!("tern does not support {name} yet; leave it false"),
            ));
        }
    }
    let options = RunOptions {
        target_addrs: run_addresses(doc, "target-addrs")?,
        replace_addrs: run_addresses(doc, "replace-addrs")?,
        refresh: doc.boolean("refresh")?.unwrap_or(true),
        refresh_only: doc.boolean("refresh-only")?.unwrap_or(false),
        save_plan: doc.boolean("save-plan")?.unwrap_or(false),
    };
    if options.save_plan && doc.boolean("plan-only")? == Some(true) {
        return Err(ApiError::invalid(
            "/data/attributes/save-plan",
            "save-plan cannot be combined with plan-only: a speculative plan is never applied",
        ));
    }
    if options.refresh_only && (!options.refresh || doc.boolean("is-destroy")? == Some(true)) {
        return Err(ApiError::invalid(
            "/data/attributes/refresh-only",
            "refresh-only cannot be combined with refresh: false or is-destroy",
        ));
    }
    Ok(RunInput {
        configuration_version_id: doc.relationship("configuration-version")?,
        message: doc.string("message")?,
        is_destroy: doc.boolean("is-destroy")?.unwrap_or(false),
        auto_apply: doc.boolean("auto-apply")?,
        plan_only: doc.boolean("plan-only")?.unwrap_or(false),
        variables: run_variables(doc)?,
        options,
    })
}

async fn create_run(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    let doc = Doc::parse(&body, "runs")?;
    let ws_id = doc.relationship("workspace")?.ok_or_else(|| {
        ApiError::invalid("/data/relationships/workspace/data/id", "a run needs its workspace")
    })?;
    let run = app::runs::create(&s, &caller, &ws_id, || run_input(&doc)).await?;
    Ok(docs::created(run_doc(&s, &run).await?))
}

async fn create_run_in_workspace(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = || {
        let doc = if body.is_empty() {
            Doc::parse(br#"{"data":{"type":"runs"}}"#, "runs")?
        } else {
            Doc::parse(&body, "runs")?
        };
        run_input(&doc)
    };
    let run = app::runs::create(&s, &caller, &id, input).await?;
    Ok(docs::created(run_doc(&s, &run).await?))
}

async fn run_queue(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::ReadAllWorkspaces).await?;
    let paged = s.store.queued_runs(&org.id, docs::page(&q)?).await?;
    let waiting = waiting_reasons(&s, &paged.items).await?;
    Ok(docs::list(&paged, &format!("/api/v2/organizations/{}/runs/queue", org.name), |r| {
        docs::run(r, waiting.get(&r.id).map(String::as_str))
    }))
}

/// One run's document with what only a single run shows: its place in the queue. Never its
/// variables (TFE shows them; `-var` may carry secrets, and tern keeps them sealed; names
/// without values would break SDKs that expect a string).
async fn run_doc(s: &ApiState, run: &Run) -> Result<tern_protocol::resources::Run, ApiError> {
    let waiting = s.store.run_waiting_reason(run).await?;
    let mut data = docs::run(run, waiting.as_deref());
    add_run_details(s, run, &mut data).await?;
    Ok(data)
}

async fn add_run_details(
    s: &ApiState,
    run: &Run,
    data: &mut tern_protocol::resources::Run,
) -> Result<(), ApiError> {
    if let Some(position) = s.store.queue_position(run).await? {
        data.attributes.position_in_queue = position;
    }
    Ok(())
}

/// Why each of `runs` that waits does, when tern can tell (see `Store::run_waiting_reason`).
async fn waiting_reasons(s: &ApiState, runs: &[Run]) -> Result<HashMap<String, String>, ApiError> {
    Ok(s.store.run_waiting_reasons(runs).await?)
}

async fn show_run(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (run, ws) = load_run(&s, &caller, &id, WA::Read).await?;
    let waiting = s.store.run_waiting_reason(&run).await?;
    // `include`: the related resources tern has; others (task_stages, cost_estimate…) are
    // tolerated and have nothing to include, as on a TFE without those features.
    let mut included: Vec<serde_json::Value> = Vec::new();
    for name in q.get("include").map(String::as_str).unwrap_or_default().split(',').map(str::trim) {
        match name {
            "workspace" => included.push(docs::value(&access::workspace_doc(&s, &caller, &ws).await?)),
            "plan" => included.push(docs::value(&docs::plan(&run, &log_url(&s, "plans", &run.plan_id())))),
            "apply" => {
                included.push(docs::value(&docs::apply(&run, &log_url(&s, "applies", &run.apply_id()))))
            }
            "configuration_version" | "configuration-version" => {
                let cv = s.store.configuration_version(&run.configuration_version_id).await?;
                included.push(docs::value(&docs::configuration_version(&cv, None)));
            }
            _ => {}
        }
    }
    let mut data = docs::run(&run, waiting.as_deref());
    add_run_details(&s, &run, &mut data).await?;
    if included.is_empty() {
        return Ok(docs::one(data));
    }
    Ok(docs::with_included(data, included))
}

/// A run's events (TFE's `run-events`), from its status timestamps, oldest first.
fn events_of(run: &Run) -> Vec<r::RunEvent> {
    let mut stamps: Vec<(&str, i64)> = run.run_timestamps().collect();
    stamps.sort_by_key(|(name, at)| (*at, *name));
    stamps
        .iter()
        .enumerate()
        .map(|(i, (name, at))| {
            Resource::new(
                format!("re-{}-{i}", run.id.trim_start_matches("run-")),
                r::RunEventAttributes {
                    action: name.trim_end_matches("-at").to_owned(),
                    description: None,
                    created_at: docs::time(*at),
                },
                r::RunRelationship { run: ToOne::to(run.id.clone(), "runs") },
            )
        })
        .collect()
}

/// A run's events: Terraform's `cloud` block reads them right after creating a run.
async fn run_events(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &id, WA::Read).await?;
    Ok(docs::single_page(events_of(&run)))
}

/// One run event, by the id `re-<run>-<n>` the list gave it.
async fn show_run_event(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let not_found = || ApiError::not_found(format!("run event {id:?} not found"));
    let (run_part, n) = id.strip_prefix("re-").and_then(|r| r.rsplit_once('-')).ok_or_else(not_found)?;
    let n: usize = n.parse().map_err(|_| not_found())?;
    let (run, _) = load_run(&s, &caller, &format!("run-{run_part}"), WA::Read)
        .await
        .map_err(|e| hidden(e, format!("run event {id:?} not found")))?;
    events_of(&run).into_iter().nth(n).map(docs::one).ok_or_else(not_found)
}

async fn list_runs(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::Read).await?;
    let filter = run_filter(&q)?;
    let paged = s.store.list_runs(RunScope::Workspace(&ws.id), &filter, docs::page(&q)?).await?;
    let waiting = waiting_reasons(&s, &paged.items).await?;
    Ok(docs::list(&paged, &format!("/api/v2/workspaces/{}/runs", ws.id), |r| {
        docs::run(r, waiting.get(&r.id).map(String::as_str))
    }))
}

/// Every run of an organization, newest first (TFE's organization run list).
async fn list_org_runs(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::ReadAllWorkspaces).await?;
    let filter = run_filter(&q)?;
    let paged = s.store.list_runs(RunScope::Organization(&org.id), &filter, docs::page(&q)?).await?;
    let waiting = waiting_reasons(&s, &paged.items).await?;
    Ok(docs::list(&paged, &format!("/api/v2/organizations/{}/runs", org.name), |r| {
        docs::run(r, waiting.get(&r.id).map(String::as_str))
    }))
}

/// How many of an organization's runs wait for a worker and how many run.
async fn capacity(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::See).await?;
    let (pending, running) = s.store.run_capacity(&org.id).await?;
    Ok(docs::one(Resource::new(org.name, r::CapacityAttributes { pending, running }, NoRelationships {})))
}

/// TFE's optional `{"comment": "…"}` of a run action (an empty body: none).
fn action_comment(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body must be JSON like {{\"comment\": \"…\"}}: {e}"))
    })?;
    match v.get("comment") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(c)) => Ok(Some(c.clone())),
        Some(_) => Err(ApiError::bad_request("comment must be a string")),
    }
}

async fn apply_run(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    crate::app::runs::apply(&s, &caller, &id, action_comment(&body)?.as_deref()).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn discard_run(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    crate::app::runs::discard(&s, &caller, &id, action_comment(&body)?.as_deref()).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn cancel_run(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    crate::app::runs::cancel(&s, &caller, &id, action_comment(&body)?.as_deref()).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn show_plan(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &run_of(&id, "plan-")?, WA::Read).await?;
    Ok(docs::one(docs::plan(&run, &log_url(&s, "plans", &id))))
}

/// The plan as JSON (`terraform show -json` of the saved plan), as TFE's `json-output`: it holds
/// every planned value, sensitive ones included, so it needs the same access as the state.
async fn plan_json_output(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &run_of(&id, "plan-")?, WA::ReadState).await?;
    json_plan_response_of(&s, &run, false).await
}

async fn run_plan_json_output(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &id, WA::ReadState).await?;
    json_plan_response_of(&s, &run, false).await
}

/// The redacted, structured plan (TFE's `json-output-redacted`): what `terraform show` of a
/// saved cloud plan renders, sensitive values removed.
async fn plan_json_output_redacted(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &run_of(&id, "plan-")?, WA::Read).await?;
    json_plan_response_of(&s, &run, true).await
}

async fn run_plan_json_output_redacted(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &id, WA::Read).await?;
    json_plan_response_of(&s, &run, true).await
}

async fn json_plan_response_of(s: &ApiState, run: &Run, redacted: bool) -> ApiResult {
    let read =
        if redacted { s.store.plan_json_redacted(&run.id).await } else { s.store.plan_json(&run.id).await };
    let json = read.map_err(|e| match ApiError::from(e) {
        e if e.status == StatusCode::NOT_FOUND => ApiError::not_found(format!(
            "run {} has no JSON plan: its plan has not finished, or ran on a runner older than this server",
            run.id
        )),
        e => e,
    })?;
    Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

async fn show_run_plan(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &id, WA::Read).await?;
    Ok(docs::one(docs::plan(&run, &log_url(&s, "plans", &run.plan_id()))))
}

async fn show_run_apply(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &id, WA::Read).await?;
    Ok(docs::one(docs::apply(&run, &log_url(&s, "applies", &run.apply_id()))))
}

async fn show_apply(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &run_of(&id, "apply-")?, WA::Read).await?;
    Ok(docs::one(docs::apply(&run, &log_url(&s, "applies", &id))))
}

/// A phase's log as TFE serves it: STX (0x02), the text, and ETX (0x03) once the phase is
/// over, from byte `offset`, at most `limit` bytes.
async fn logs(s: &ApiState, run: &Run, phase: RunPhase, q: &HashMap<String, String>) -> ApiResult {
    let status = if phase == RunPhase::Plan { run.plan_status } else { run.apply_status };
    let over = matches!(
        status,
        PhaseStatus::Finished | PhaseStatus::Errored | PhaseStatus::Canceled | PhaseStatus::Unreachable
    );
    let number = |name: &str, default: u64| -> Result<u64, ApiError> {
        q.get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer")))
        })
    };
    let (offset, limit) = (number("offset", 0)?, number("limit", u64::MAX)?);
    // Framed: byte 0 is STX, the log's byte n is byte n + 1, then ETX once the phase is over.
    // Only the asked-for range of the log is read (a follower polls with a growing offset).
    let from = offset.saturating_sub(1);
    let want = if offset == 0 { limit.saturating_sub(1) } else { limit };
    let (data, length) = s.store.log_range(&run.id, phase, from, want).await?;
    let mut framed = Vec::with_capacity(data.len() + 2);
    if offset == 0 && limit > 0 {
        framed.push(0x02);
    }
    let end = from.saturating_add(data.len() as u64);
    framed.extend(data);
    if over && from <= length && end >= length {
        framed.push(0x03);
    }
    framed.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((StatusCode::OK, [(CONTENT_TYPE, "text/plain; charset=utf-8")], framed).into_response())
}

/// How long a log-read URL works without a token (TFE's archivist URLs are signed the same way).
const LOG_URL_LIFETIME_S: i64 = 25 * 3600;

/// A log-read URL that works without a bearer token until it expires, as TFE's do: Terraform's
/// `remote` backend reads logs without the API token.
fn log_url(s: &ApiState, kind: &str, id: &str) -> String {
    let expires = s.store.unix_now() + LOG_URL_LIFETIME_S;
    let signature = s.store.sign(&format!("{kind}/{id}/logs/{expires}"));
    format!("{}/api/v2/{kind}/{id}/logs/{expires}.{signature}", s.public_url)
}

fn check_log_signature(s: &ApiState, kind: &str, id: &str, signature: &str) -> Result<(), ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this log URL is not valid or has expired; read the plan or apply again for a fresh log-read-url",
        )
    };
    let (expires, sig) = signature.split_once('.').ok_or_else(refused)?;
    let expires: i64 = expires.parse().map_err(|_| refused())?;
    if expires < s.store.unix_now() || !s.store.verify_signature(&format!("{kind}/{id}/logs/{expires}"), sig)
    {
        return Err(refused());
    }
    Ok(())
}

async fn signed_plan_logs(
    State(s): State<ApiState>,
    Path((id, signature)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult {
    check_log_signature(&s, "plans", &id, &signature)?;
    let run = s.store.run(&run_of(&id, "plan-")?).await?;
    logs(&s, &run, RunPhase::Plan, &q).await
}

async fn signed_apply_logs(
    State(s): State<ApiState>,
    Path((id, signature)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult {
    check_log_signature(&s, "applies", &id, &signature)?;
    let run = s.store.run(&run_of(&id, "apply-")?).await?;
    logs(&s, &run, RunPhase::Apply, &q).await
}

async fn plan_logs(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &run_of(&id, "plan-")?, WA::Read).await?;
    logs(&s, &run, RunPhase::Plan, &q).await
}

async fn apply_logs(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (run, _) = load_run(&s, &caller, &run_of(&id, "apply-")?, WA::Read).await?;
    logs(&s, &run, RunPhase::Apply, &q).await
}

// ---------------------------------------------------------------- state versions

async fn current_state(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::ReadState).await?;
    Ok(docs::one(docs::state_version(&s.store.current_state_version(&ws.id).await?, &s.public_url)))
}

async fn list_states(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::ReadState).await?;
    let paged = s.store.list_state_versions(&ws.id, docs::page(&q)?).await?;
    let url = s.public_url.clone();
    Ok(docs::list(&paged, &format!("/api/v2/workspaces/{}/state-versions", ws.id), |v| {
        docs::state_version(v, &url)
    }))
}

async fn filter_states(State(s): State<ApiState>, caller: Caller, Query(q): Q) -> ApiResult {
    let (Some(org), Some(name)) = (q.get("filter[organization][name]"), q.get("filter[workspace][name]"))
    else {
        return Err(ApiError::bad_request("give filter[organization][name] and filter[workspace][name]"));
    };
    let ws = load_ws_by_name(&s, &caller, org, name, WA::ReadState).await?;
    let paged = s.store.list_state_versions(&ws.id, docs::page(&q)?).await?;
    let url = s.public_url.clone();
    Ok(docs::list(&paged, "/api/v2/state-versions", |v| docs::state_version(v, &url)))
}

async fn create_state(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    use base64::Engine as _;
    let ws = load_ws(&s, &caller, &id, WA::WriteState).await?;
    if !ws.locked {
        return Err(ApiError::conflict(format!(
            "workspace {:?} must be locked to upload state (POST /api/v2/workspaces/{}/actions/lock)",
            ws.name, ws.id
        )));
    }
    let doc = Doc::parse(&body, "state-versions")?;
    // Without `state`: go-tfe's upload flow (Terraform >= 1.6, pytfe). The version is announced
    // (serial, lineage, md5) and its state arrives at a signed upload URL.
    let Some(encoded) = doc.string("state")? else {
        let serial = doc.integer("serial")?.ok_or_else(|| {
            ApiError::invalid(
                "/data/attributes/serial",
                "serial is required (with lineage and md5) when state is not given",
            )
        })?;
        let (lineage, md5) = (doc.required("lineage")?, doc.required("md5")?);
        let run = doc.relationship("run")?;
        let pending =
            s.store.create_pending_state_version(&ws.id, run.as_deref(), serial, &lineage, &md5).await?;
        let creator = caller.token().id.clone();
        return Ok(docs::created(pending_state_doc(&s, &pending, Some(&creator))));
    };
    let state = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .map_err(|_| ApiError::invalid("/data/attributes/state", "state must be base64"))?;
    if let Some(md5) = doc.string("md5")?
        && md5 != tern_store::md5_hex(&state)
    {
        return Err(ApiError::invalid("/data/attributes/md5", "md5 does not match the state"));
    }
    let (serial, lineage) = tern_store::parse_state(&state)
        .map_err(|e| ApiError::invalid("/data/attributes/state", e.to_string()))?;
    if doc.integer("serial")?.is_some_and(|n| n != serial) {
        return Err(ApiError::invalid(
            "/data/attributes/serial",
            format!("serial does not match the state's ({serial})"),
        ));
    }
    if doc.string("lineage")?.is_some_and(|l| l != lineage) {
        return Err(ApiError::invalid(
            "/data/attributes/lineage",
            format!("lineage does not match the state's ({lineage:?})"),
        ));
    }
    let run = doc.relationship("run")?;
    let v = s.store.create_state_version(&ws.id, run.as_deref(), &state).await?;
    Ok(docs::created(docs::state_version(&v, &s.public_url)))
}

/// A pending state version; with `creator`, its signed upload URLs (handed only to the caller
/// that announced it).
fn pending_state_doc(
    s: &ApiState,
    v: &tern_store::PendingStateVersion,
    creator: Option<&str>,
) -> r::StateVersion {
    let url = |kind: &str| creator.map(|c| state_upload_url(s, &v.id, kind, c));
    Resource::new(
        v.id.clone(),
        r::StateVersionAttributes {
            serial: v.serial,
            lineage: v.lineage.clone(),
            md5: v.md5.clone(),
            status: "pending".into(),
            size: 0,
            created_at: docs::time(v.created_at),
            hosted_state_upload_url: Some(url("upload")),
            hosted_json_state_upload_url: Some(url("json-upload")),
            hosted_state_download_url: None,
            hosted_json_state_download_url: None,
            state_version: None,
            terraform_version: None,
            resources_processed: None,
        },
        r::StateVersionRelationships {
            run: docs::rel(v.run_id.as_deref(), "runs"),
            workspace: ToOne::to(v.workspace_id.clone(), "workspaces"),
        },
    )
}

/// A signed, short-lived URL that takes the state (`kind` "upload") or its JSON form
/// ("json-upload") of pending version `id`, for the token `creator` only.
fn state_upload_url(s: &ApiState, id: &str, kind: &str, creator: &str) -> String {
    let expires = s.store.unix_now() + UPLOAD_URL_LIFETIME_S;
    let signature = s.store.sign(&format!("state-versions/{id}/{kind}/{expires}/{creator}"));
    format!("{}/api/v2/state-versions/{id}/{kind}/{expires}.{creator}.{signature}", s.public_url)
}

/// The creator of a valid, unexpired state upload URL, whose token may still write to the
/// workspace's organization.
async fn check_state_upload(
    s: &ApiState,
    id: &str,
    kind: &str,
    signed: &str,
) -> Result<tern_store::PendingStateVersion, ApiError> {
    let refused = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why.to_owned());
    let invalid = "this upload URL is not valid or has expired; create the state version again";
    let (rest, signature) = signed.rsplit_once('.').ok_or_else(|| refused(invalid))?;
    let (expires, creator) = rest.split_once('.').ok_or_else(|| refused(invalid))?;
    let expires: i64 = expires.parse().map_err(|_| refused(invalid))?;
    let message = format!("state-versions/{id}/{kind}/{expires}/{creator}");
    if expires < s.store.unix_now() || !s.store.verify_signature(&message, signature) {
        return Err(refused(invalid));
    }
    let pending = s.store.pending_state_version(id).await?;
    let ws = s.store.workspace(&pending.workspace_id).await?;
    check_upload_creator(s, creator, &ws, WA::WriteState).await?;
    Ok(pending)
}

async fn upload_state_signed(
    State(s): State<ApiState>,
    Path((id, signed)): Path<(String, String)>,
    request: axum::extract::Request,
) -> ApiResult {
    // The signature before the body: nobody without a valid URL makes the server buffer one.
    check_state_upload(&s, &id, "upload", &signed).await?;
    let body = read_state_body(request).await?;
    s.store.finalize_state_version(&id, &body).await?;
    Ok(StatusCode::OK.into_response())
}

/// The JSON form of the state (`terraform show -json`), which go-tfe uploads beside the state:
/// taken after the same checks and not kept (tern serves the state itself).
async fn upload_json_state_signed(
    State(s): State<ApiState>,
    Path((id, signed)): Path<(String, String)>,
    request: axum::extract::Request,
) -> ApiResult {
    check_state_upload(&s, &id, "json-upload", &signed).await?;
    read_state_body(request).await?;
    Ok(StatusCode::OK.into_response())
}

async fn read_state_body(request: axum::extract::Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), tern_store::MAX_STATE_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
            format!("a state upload is at most {} bytes", tern_store::MAX_STATE_BYTES),
        )
    })
}

async fn load_state(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    action: WA,
) -> Result<tern_store::StateVersion, ApiError> {
    let v = s.store.state_version(id).await?;
    load_ws(s, caller, &v.workspace_id, action)
        .await
        .map_err(|e| hidden(e, format!("state version {id:?} not found")))?;
    Ok(v)
}

async fn show_state(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    // A version still waiting for its upload reads as `pending`, as in TFE.
    if let Ok(pending) = s.store.pending_state_version(&id).await {
        load_ws(&s, &caller, &pending.workspace_id, WA::ReadState)
            .await
            .map_err(|e| hidden(e, format!("state version {id:?} not found")))?;
        return Ok(docs::one(pending_state_doc(&s, &pending, None)));
    }
    Ok(docs::one(docs::state_version(&load_state(&s, &caller, &id, WA::ReadState).await?, &s.public_url)))
}

async fn download_state(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let v = load_state(&s, &caller, &id, WA::ReadState).await?;
    let bytes = s.store.state_bytes(&v.id).await?;
    // A state holds secrets: no cache (a proxy's, a browser's) keeps a copy.
    let headers = [
        (CONTENT_TYPE, "application/json"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
        (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    Ok((StatusCode::OK, headers, bytes).into_response())
}

/// The outputs of a state version as TFE lists them; sensitive values are not returned.
/// An output's id is derived from its state version and name (`wsout-…`), so it can be found
/// again: [`show_state_output`] looks through the workspace's state versions.
async fn output_docs(
    s: &ApiState,
    v: &tern_store::StateVersion,
) -> Result<Vec<r::StateVersionOutput>, ApiError> {
    let bytes = s.store.state_bytes(&v.id).await?;
    let state: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(outputs) = state.get("outputs").and_then(serde_json::Value::as_object) {
        for (name, o) in outputs {
            let sensitive = o.get("sensitive").and_then(serde_json::Value::as_bool).unwrap_or(false);
            let null = serde_json::Value::Null;
            out.push(Resource::new(
                output_id(s, &v.id, name),
                r::StateVersionOutputAttributes {
                    name: name.clone(),
                    sensitive,
                    kind: o.get("type").and_then(|t| t.as_str()).unwrap_or("string").to_owned(),
                    detailed_type: o.get("type").cloned().unwrap_or(null.clone()),
                    value: if sensitive { null } else { o.get("value").cloned().unwrap_or(null) },
                },
                r::StateVersionRelationship { state_version: ToOne::to(v.id.clone(), "state-versions") },
            ));
        }
    }
    Ok(out)
}

/// `wsout-` and 16 hex of the state version and name, signed with the server's secret: stable,
/// and it reveals neither.
fn output_id(s: &ApiState, state_version: &str, name: &str) -> String {
    format!(
        "wsout-{}-{}",
        state_version.trim_start_matches("sv-"),
        &s.store.sign(&format!("{state_version}/{name}"))[..16]
    )
}

async fn outputs_of(s: &ApiState, v: &tern_store::StateVersion) -> ApiResult {
    Ok(docs::single_page(output_docs(s, v).await?))
}

/// One output by id: `wsout-<state version suffix>-<signature>`.
async fn show_state_output(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let not_found = || ApiError::not_found(format!("state version output {id:?} not found"));
    let rest = id.strip_prefix("wsout-").ok_or_else(not_found)?;
    let (suffix, _) = rest.rsplit_once('-').ok_or_else(not_found)?;
    let v = load_state(&s, &caller, &format!("sv-{suffix}"), WA::ReadStateOutputs)
        .await
        .map_err(|e| hidden(e, format!("state version output {id:?} not found")))?;
    output_docs(&s, &v).await?.into_iter().find(|o| o.id == id).map(docs::one).ok_or_else(not_found)
}

async fn state_outputs(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let v = load_state(&s, &caller, &id, WA::ReadStateOutputs).await?;
    outputs_of(&s, &v).await
}

async fn current_state_outputs(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let ws = load_ws(&s, &caller, &id, WA::ReadStateOutputs).await?;
    let v = s.store.current_state_version(&ws.id).await?;
    outputs_of(&s, &v).await
}

// ---------------------------------------------------------------- tokens

/// A token request's description and expiry (an empty body asks for neither).
fn token_request(s: &ApiState, body: &[u8]) -> Result<(Option<String>, Option<i64>), ApiError> {
    let doc = if body.is_empty() {
        None
    } else {
        // go-tfe sends the plural type, pytfe the singular: both name this resource.
        Some(match Doc::parse(body, "authentication-tokens") {
            Ok(doc) => doc,
            Err(_) => Doc::parse(body, "authentication-token")?,
        })
    };
    let description = doc.as_ref().map(|d| d.string("description")).transpose()?.flatten();
    let expires = super::tokens::expiry(doc.as_ref(), s.store.unix_now())?;
    Ok((description, expires))
}

async fn create_org_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = Box::new(|| token_request(&s, &body));
    let (token, secret) = crate::app::organization::create_org_token(&s, &caller, &org, input).await?;
    Ok(docs::created(super::tokens::token_doc(&token, Some(secret))))
}

/// The organization's newest organization token, as TFE shows its one organization token
/// (never the secret).
async fn show_org_token(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    let org = load_org(&s, &caller, &org, OA::ManageOrganizationTokens).await?;
    let tokens = s.store.list_tokens(TokenKind::Organization, Some(&org.id)).await?;
    let token = tokens.last().ok_or_else(|| {
        ApiError::not_found(format!("organization {:?} has no organization token", org.name))
    })?;
    Ok(docs::one(super::tokens::token_doc(token, None)))
}

/// Revoke the organization's organization tokens (TFE has one; tern may have made several).
async fn delete_org_token(State(s): State<ApiState>, caller: Caller, Path(org): Path<String>) -> ApiResult {
    crate::app::organization::revoke_org_tokens(&s, &caller, &org).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create_agent_token(
    State(s): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input = Box::new(|| token_request(&s, &body));
    let (token, secret) = crate::app::organization::create_agent_token(&s, &caller, &org, input).await?;
    Ok(docs::created(super::tokens::token_doc(&token, Some(secret))))
}
