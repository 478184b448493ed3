//! The OpenAPI document, generated from [`ENDPOINTS`]; a test checks that every entry is
//! routed, so the document cannot list an endpoint that does not exist.

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{ApiState, docs};

/// Every API endpoint: method, path, and what it does.
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/api/v2/ping", "Check the API and the token"),
    ("GET", "/api/v2/openapi.json", "This document"),
    ("GET", "/api/v2/organizations", "List organizations (admin: all; organization token: its own)"),
    ("POST", "/api/v2/organizations", "Create an organization with its Default Project (admin)"),
    ("GET", "/api/v2/organizations/{org}", "Show an organization"),
    ("PATCH", "/api/v2/organizations/{org}", "Rename an organization or change its email (admin)"),
    (
        "DELETE",
        "/api/v2/organizations/{org}",
        "Delete an organization and everything in it (admin; refused while a run is active)",
    ),
    (
        "GET",
        "/api/v2/organizations/{org}/entitlement-set",
        "What the organization may do (Terraform's remote backend asks)",
    ),
    (
        "GET",
        "/api/v2/organizations/{org}/runs/queue",
        "Runs of the organization waiting for or holding a worker",
    ),
    (
        "PUT",
        "/api/v2/state-versions/{id}/upload/{signature}",
        "Upload a pending state version's state (signed URL, no token)",
    ),
    (
        "PUT",
        "/api/v2/state-versions/{id}/json-upload/{signature}",
        "Upload a pending state version's JSON state (signed URL, no token; not kept)",
    ),
    (
        "GET",
        "/api/v2/organizations/{org}/runs",
        "List an organization's runs, newest first (filter[status], filter[operation])",
    ),
    ("GET", "/api/v2/organizations/{org}/capacity", "How many of the organization's runs wait and run"),
    (
        "GET",
        "/api/v2/workspaces/{id}/all-vars",
        "Every variable a run in the workspace gets, the winner of each name",
    ),
    ("GET", "/api/v2/run-events/{id}", "One run event"),
    (
        "GET",
        "/api/v2/plans/{id}/json-output",
        "The plan as JSON (terraform show -json; holds sensitive values)",
    ),
    (
        "GET",
        "/api/v2/runs/{id}/plan/json-output",
        "A run's plan as JSON (terraform show -json; holds sensitive values)",
    ),
    (
        "GET",
        "/api/v2/plans/{id}/json-output-redacted",
        "The structured plan the cloud block renders, sensitive values removed",
    ),
    (
        "GET",
        "/api/v2/runs/{id}/plan/json-output-redacted",
        "A run's structured plan, sensitive values removed",
    ),
    ("PUT", "/api/agent/jobs/{id}/plan-json-redacted", "Save the plan phase's redacted, structured plan"),
    ("GET", "/api/v2/organizations/{org}/projects", "List projects"),
    ("POST", "/api/v2/organizations/{org}/projects", "Create a project"),
    ("GET", "/api/v2/projects/{id}", "Show a project"),
    ("PATCH", "/api/v2/projects/{id}", "Rename a project or change its description"),
    ("DELETE", "/api/v2/projects/{id}", "Delete an empty project"),
    ("GET", "/api/v2/projects/{id}/varsets", "Variable sets applied to a project"),
    (
        "GET",
        "/api/v2/organizations/{org}/workspaces",
        "List workspaces (search[name], search[tags], search[exclude-tags], filter[project][id])",
    ),
    ("POST", "/api/v2/organizations/{org}/workspaces", "Create a workspace"),
    ("GET", "/api/v2/organizations/{org}/workspaces/{name}", "Show a workspace by name"),
    ("PATCH", "/api/v2/organizations/{org}/workspaces/{name}", "Update a workspace by name"),
    ("DELETE", "/api/v2/organizations/{org}/workspaces/{name}", "Delete a workspace by name"),
    (
        "POST",
        "/api/v2/organizations/{org}/workspaces/{name}/actions/safe-delete",
        "Delete a workspace by name if its state manages no resource",
    ),
    ("GET", "/api/v2/workspaces/{id}", "Show a workspace"),
    ("PATCH", "/api/v2/workspaces/{id}", "Update a workspace"),
    ("DELETE", "/api/v2/workspaces/{id}", "Delete a workspace"),
    ("GET", "/api/v2/workspaces/{id}/relationships/tags", "A workspace's tags"),
    ("POST", "/api/v2/workspaces/{id}/relationships/tags", "Add tags to a workspace (by name)"),
    ("DELETE", "/api/v2/workspaces/{id}/relationships/tags", "Remove tags from a workspace"),
    ("POST", "/api/v2/workspaces/{id}/actions/lock", "Lock a workspace"),
    ("POST", "/api/v2/workspaces/{id}/actions/unlock", "Unlock a workspace"),
    ("POST", "/api/v2/workspaces/{id}/actions/force-unlock", "Unlock a workspace, whoever locked it"),
    (
        "POST",
        "/api/v2/workspaces/{id}/actions/safe-delete",
        "Delete a workspace if its state manages no resource",
    ),
    (
        "GET",
        "/api/v2/workspaces/{id}/varsets",
        "Variable sets that apply to a workspace (global, applied to it or to its project)",
    ),
    ("GET", "/api/v2/workspaces/{id}/vars", "List workspace variables (sensitive values are never returned)"),
    ("POST", "/api/v2/workspaces/{id}/vars", "Create a workspace variable"),
    ("GET", "/api/v2/workspaces/{id}/vars/{var}", "Show a workspace variable"),
    ("PATCH", "/api/v2/workspaces/{id}/vars/{var}", "Update a workspace variable"),
    ("DELETE", "/api/v2/workspaces/{id}/vars/{var}", "Delete a workspace variable"),
    ("GET", "/api/v2/organizations/{org}/varsets", "List variable sets"),
    (
        "POST",
        "/api/v2/organizations/{org}/varsets",
        "Create a variable set (optionally applied to workspaces and projects)",
    ),
    ("GET", "/api/v2/varsets/{id}", "Show a variable set"),
    ("PATCH", "/api/v2/varsets/{id}", "Change a variable set's name, description or global flag"),
    ("DELETE", "/api/v2/varsets/{id}", "Delete a variable set"),
    ("GET", "/api/v2/varsets/{id}/relationships/vars", "List a set's variables"),
    ("POST", "/api/v2/varsets/{id}/relationships/vars", "Add a variable to a set"),
    ("GET", "/api/v2/varsets/{id}/relationships/vars/{var}", "Show a set's variable"),
    ("PATCH", "/api/v2/varsets/{id}/relationships/vars/{var}", "Update a set's variable"),
    ("DELETE", "/api/v2/varsets/{id}/relationships/vars/{var}", "Delete a set's variable"),
    ("POST", "/api/v2/varsets/{id}/relationships/workspaces", "Apply a set to workspaces"),
    ("DELETE", "/api/v2/varsets/{id}/relationships/workspaces", "Remove a set from workspaces"),
    (
        "POST",
        "/api/v2/varsets/{id}/relationships/projects",
        "Apply a set to projects (every workspace in them)",
    ),
    ("DELETE", "/api/v2/varsets/{id}/relationships/projects", "Remove a set from projects"),
    ("GET", "/api/v2/workspaces/{id}/configuration-versions", "List configuration versions"),
    (
        "POST",
        "/api/v2/workspaces/{id}/configuration-versions",
        "Create a configuration version (returns its upload-url)",
    ),
    ("GET", "/api/v2/configuration-versions/{id}", "Show a configuration version"),
    ("GET", "/api/v2/configuration-versions/{id}/download", "Download an uploaded configuration (.tar.gz)"),
    ("PUT", "/api/v2/configuration-versions/{id}/upload", "Upload a configuration (.tar.gz)"),
    (
        "PUT",
        "/api/v2/configuration-versions/{id}/upload/{signature}",
        "Upload a configuration through its signed upload-url (no token; expires in an hour)",
    ),
    ("POST", "/api/v2/runs", "Create a run"),
    ("GET", "/api/v2/runs/{id}", "Show a run (include: workspace, plan, apply, configuration_version)"),
    ("GET", "/api/v2/runs/{id}/run-events", "A run's events, from its status timestamps"),
    ("GET", "/api/v2/runs/{id}/plan", "A run's plan"),
    ("GET", "/api/v2/runs/{id}/apply", "A run's apply"),
    ("GET", "/api/v2/workspaces/{id}/runs", "List a workspace's runs (filter[status])"),
    ("POST", "/api/v2/workspaces/{id}/runs", "Create a run in a workspace"),
    ("POST", "/api/v2/runs/{id}/actions/apply", "Confirm a planned run"),
    ("POST", "/api/v2/runs/{id}/actions/discard", "Discard a planned run"),
    ("POST", "/api/v2/runs/{id}/actions/cancel", "Cancel a run"),
    ("GET", "/api/v2/plans/{id}", "Show a plan"),
    ("GET", "/api/v2/plans/{id}/logs", "A plan's log (STX, text, ETX when over; offset and limit)"),
    ("GET", "/api/v2/plans/{id}/logs/{signature}", "A plan's log through its signed log-read-url (no token)"),
    ("GET", "/api/v2/applies/{id}", "Show an apply"),
    (
        "GET",
        "/api/v2/applies/{id}/logs/{signature}",
        "An apply's log through its signed log-read-url (no token)",
    ),
    ("GET", "/api/v2/applies/{id}/logs", "An apply's log"),
    ("GET", "/api/v2/workspaces/{id}/current-state-version", "The current state version"),
    ("GET", "/api/v2/workspaces/{id}/state-versions", "List state versions"),
    ("POST", "/api/v2/workspaces/{id}/state-versions", "Upload a state version (workspace locked)"),
    (
        "GET",
        "/api/v2/state-versions",
        "List state versions by filter[organization][name] and filter[workspace][name]",
    ),
    ("GET", "/api/v2/state-versions/{id}", "Show a state version"),
    ("GET", "/api/v2/state-versions/{id}/download", "Download a state version"),
    ("GET", "/api/v2/state-versions/{id}/outputs", "A state version's outputs (sensitive values withheld)"),
    ("GET", "/api/v2/state-version-outputs/{id}", "One output of a state version (sensitive value withheld)"),
    (
        "GET",
        "/api/v2/workspaces/{id}/current-state-version-outputs",
        "The current state's outputs (sensitive values withheld)",
    ),
    (
        "GET",
        "/api/v2/organizations/{org}/authentication-token",
        "Show the newest organization token (admin; never its secret)",
    ),
    ("POST", "/api/v2/organizations/{org}/authentication-token", "Create an organization token (admin)"),
    (
        "DELETE",
        "/api/v2/organizations/{org}/authentication-token",
        "Revoke the organization's organization tokens (admin)",
    ),
    (
        "POST",
        "/api/v2/organizations/{org}/agent-tokens",
        "Create an organization-wide agent token (runs remote-mode workspaces; prefer an agent pool's)",
    ),
    ("GET", "/api/v2/organizations/{org}/agent-pools", "List agent pools"),
    ("POST", "/api/v2/organizations/{org}/agent-pools", "Create an agent pool"),
    ("GET", "/api/v2/agent-pools/{id}", "Show an agent pool (agent-count: agents seen in the last minute)"),
    ("PATCH", "/api/v2/agent-pools/{id}", "Rename an agent pool"),
    (
        "DELETE",
        "/api/v2/agent-pools/{id}",
        "Delete an agent pool and its tokens (refused while workspaces use it)",
    ),
    (
        "GET",
        "/api/v2/agent-pools/{id}/authentication-tokens",
        "List an agent pool's tokens (never their secrets)",
    ),
    (
        "POST",
        "/api/v2/agent-pools/{id}/authentication-tokens",
        "Create an agent pool token (shown once): its agents run the pool's agent-mode workspaces",
    ),
    ("GET", "/api/v2/authentication-tokens/{id}", "Show an agent pool token"),
    ("DELETE", "/api/v2/authentication-tokens/{id}", "Revoke an agent pool token"),
    ("GET", "/api/v2/admin/signing-keys", "List the managed signing keys (admin)"),
    ("POST", "/api/v2/admin/signing-keys/actions/rotate", "Publish the next signing key (admin)"),
    ("POST", "/api/v2/admin/signing-keys/{kid}/actions/retire", "Retire a signing key (admin)"),
    ("POST", "/api/agent/jobs/claim", "Claim a job (agent token; long-polls up to wait_seconds)"),
    ("GET", "/api/agent/jobs/{id}", "A job's specification with its variables (job token)"),
    ("GET", "/api/agent/jobs/{id}/configuration", "A job's configuration tarball"),
    ("GET", "/api/agent/jobs/{id}/state", "The workspace's current state (204: none)"),
    ("PUT", "/api/agent/jobs/{id}/state", "Store the state an apply produced"),
    ("GET", "/api/agent/jobs/{id}/plan", "The saved plan, for the apply phase"),
    ("PUT", "/api/agent/jobs/{id}/plan", "Save the plan of the plan phase"),
    ("PUT", "/api/agent/jobs/{id}/plan-json", "Save the plan phase's JSON plan (terraform show -json)"),
    ("POST", "/api/agent/jobs/{id}/token", "Mint a workload identity token for the job's run and phase"),
    (
        "POST",
        "/api/agent/jobs/{id}/logs",
        "Append to the phase's log; renews the lease, answers whether to cancel",
    ),
    ("POST", "/api/agent/jobs/{id}/heartbeat", "Renew the lease; answers whether to cancel"),
    ("POST", "/api/agent/jobs/{id}/finish", "Report how the phase ended"),
];

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v2/openapi.json", get(document))
}

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for (method, path, summary) in ENDPOINTS {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[method.to_ascii_lowercase()] = json!({
            "summary": summary,
            "parameters": params,
            "security": if path.contains("{signature}") || *path == "/api/v2/openapi.json" { json!([]) } else { json!([{ "bearer": [] }]) },
            "responses": {
                "200": { "description": "OK" },
                "401": { "description": "No token, or not a valid one" },
                "404": { "description": "Not found, or not visible to this token" },
            },
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "tern API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "TFE API v2 (JSON:API) for the resources tern shares with HCP Terraform, and tern's agent API." },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": paths,
    })
}

/// Served without a token: it describes the API, and holds nothing of any organization.
async fn document() -> Response {
    docs::respond(StatusCode::OK, &openapi())
}
