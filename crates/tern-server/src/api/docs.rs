//! JSON:API documents: rendering tern's records in TFE's shapes, reading request documents,
//! and pagination.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tern_store::{
    ConfigurationVersion, Organization, Page, Paged, Project, Run, RunStatus, StateVersion, Variable,
    VariableOwner, VariableSet, Workspace,
};

use super::ApiError;

/// RFC 3339 time of unix seconds, as TFE writes times.
pub(crate) fn time(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A JSON:API response.
pub(crate) fn respond(status: StatusCode, body: &Value) -> Response {
    (status, [(CONTENT_TYPE, "application/vnd.api+json")], body.to_string()).into_response()
}

pub(crate) fn one(data: Value) -> Response {
    respond(StatusCode::OK, &json!({ "data": data }))
}

pub(crate) fn created(data: Value) -> Response {
    respond(StatusCode::CREATED, &json!({ "data": data }))
}

/// A page of a list with TFE's `meta.pagination` and `links`.
pub(crate) fn list<T>(paged: &Paged<T>, path: &str, render: impl Fn(&T) -> Value) -> Response {
    let size = paged.page.size.clamp(1, Page::MAX_SIZE);
    let total_pages = paged.total.div_ceil(u64::from(size)).max(1);
    let current = u64::from(paged.page.number.max(1));
    let link = |n: u64| format!("{path}?page%5Bnumber%5D={n}&page%5Bsize%5D={size}");
    let prev = (current > 1).then(|| current - 1);
    let next = (current < total_pages).then(|| current + 1);
    respond(
        StatusCode::OK,
        &json!({
            "data": paged.items.iter().map(render).collect::<Vec<_>>(),
            "links": {
                "self": link(current),
                "first": link(1),
                "prev": prev.map(link),
                "next": next.map(link),
                "last": link(total_pages),
            },
            "meta": { "pagination": {
                "current-page": current,
                "page-size": size,
                "prev-page": prev,
                "next-page": next,
                "total-pages": total_pages,
                "total-count": paged.total,
            }},
        }),
    )
}

/// `page[number]` and `page[size]` of a query.
pub(crate) fn page(query: &HashMap<String, String>) -> Result<Page, ApiError> {
    let get = |name: &str, default: u32| -> Result<u32, ApiError> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a positive integer; got {v:?}"))
            }),
        }
    };
    Ok(Page { number: get("page[number]", 1)?, size: get("page[size]", 20)?.min(Page::MAX_SIZE) })
}

/// A request document: `data` with `type`, `attributes` and `relationships`.
pub(crate) struct Doc {
    data: Map<String, Value>,
}

impl Doc {
    /// Parse a request body and check `data.type`.
    pub(crate) fn parse(body: &[u8], expected_type: &str) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not a JSON document ({e})")))?;
        let data = value
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| ApiError::invalid("/data", "the document needs a \"data\" object"))?;
        match data.get("type").and_then(Value::as_str) {
            Some(t) if t == expected_type => {}
            Some(t) => {
                return Err(ApiError::invalid(
                    "/data/type",
                    format!("expected type {expected_type:?}, got {t:?}"),
                ));
            }
            None => {
                return Err(ApiError::invalid("/data/type", format!("\"type\" must be {expected_type:?}")));
            }
        }
        Ok(Self { data })
    }

    fn attr(&self, name: &str) -> Option<&Value> {
        self.data.get("attributes").and_then(|a| a.get(name)).filter(|v| !v.is_null())
    }

    /// Whether the document sets attribute `name` (to anything but null).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                format!("{name} must be a string; got {}", kind(other)),
            )),
        }
    }

    pub(crate) fn required(&self, name: &str) -> Result<String, ApiError> {
        self.string(name)?.ok_or_else(|| {
            ApiError::invalid(&format!("/data/attributes/{name}"), format!("{name} is required"))
        })
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                format!("{name} must be true or false; got {}", kind(other)),
            )),
        }
    }

    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => Err(ApiError::invalid(
                &format!("/data/attributes/{name}"),
                format!("{name} must be an integer; got {}", kind(other)),
            )),
        }
    }

    /// An attribute that is a list of strings.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let wrong = |what: &str| {
            ApiError::invalid(
                &format!("/data/attributes/{name}"),
                format!("{name} must be a list of strings; {what}"),
            )
        };
        match self.attr(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong(&format!("got {}", kind(v)))))
                .collect(),
            Some(other) => Err(wrong(&format!("got {}", kind(other)))),
        }
    }

    /// An attribute as it is (for shapes the helpers above do not cover).
    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.attr(name)
    }

    /// The `data` of a relationship, as given.
    pub(crate) fn relationship_data(&self, name: &str) -> Option<&Value> {
        self.data.get("relationships").and_then(|r| r.get(name)).and_then(|r| r.get("data"))
    }

    /// The id of a to-one relationship.
    pub(crate) fn relationship(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.data.get("relationships").and_then(|r| r.get(name)).and_then(|r| r.get("data")) {
            None | Some(Value::Null) => Ok(None),
            Some(d) => d.get("id").and_then(Value::as_str).map(|s| Some(s.to_owned())).ok_or_else(|| {
                ApiError::invalid(
                    &format!("/data/relationships/{name}/data/id"),
                    format!("relationship {name} needs an id"),
                )
            }),
        }
    }
}

/// The ids of a to-many relationship document (`{"data": [{"id":…,"type":…}]}`).
pub(crate) fn id_list(body: &[u8], expected_type: &str) -> Result<Vec<String>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not a JSON document ({e})")))?;
    let items = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid("/data", "\"data\" must be a list"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.get("type").and_then(Value::as_str) != Some(expected_type) {
                return Err(ApiError::invalid(
                    &format!("/data/{i}/type"),
                    format!("must be {expected_type:?}"),
                ));
            }
            item.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::invalid(&format!("/data/{i}/id"), "id is required"))
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn rel(id: Option<&str>, kind: &str) -> Value {
    match id {
        Some(id) => json!({ "data": { "id": id, "type": kind } }),
        None => json!({ "data": null }),
    }
}

pub(crate) fn organization(o: &Organization) -> Value {
    json!({
        "id": o.name,
        "type": "organizations",
        "attributes": {
            "name": o.name,
            "email": o.email,
            "external-id": o.id,
            "created-at": time(o.created_at),
            "default-execution-mode": "remote",
            "cost-estimation-enabled": false,
            "assessments-enforced": false,
            "permissions": { "can-update": true, "can-create-workspace": true },
        },
        "links": { "self": format!("/api/v2/organizations/{}", o.name) },
    })
}

pub(crate) fn project(p: &Project) -> Value {
    json!({
        "id": p.id,
        "type": "projects",
        "attributes": { "name": p.name, "description": p.description, "created-at": time(p.created_at) },
        "relationships": { "organization": rel(Some(&p.organization), "organizations") },
        "links": { "self": format!("/api/v2/projects/{}", p.id) },
    })
}

pub(crate) fn workspace(w: &Workspace) -> Value {
    json!({
        "id": w.id,
        "type": "workspaces",
        "attributes": {
            "name": w.name,
            "description": w.description,
            "auto-apply": w.auto_apply,
            "execution-mode": w.execution_mode.as_str(),
            "agent-pool-id": w.agent_pool_id,
            "operations": w.execution_mode != tern_store::ExecutionMode::Local,
            "working-directory": w.working_directory,
            "terraform-version": w.terraform_version.to_string(),
            "plan-timeout": w.plan_timeout_s,
            "apply-timeout": w.apply_timeout_s,
            "locked": w.locked,
            "tag-names": w.tag_names,
            "created-at": time(w.created_at),
            "updated-at": time(w.updated_at),
            "actions": { "is-destroyable": w.active_run_id.is_none() },
            "permissions": {
                "can-update": true, "can-destroy": true, "can-queue-run": true, "can-queue-apply": true,
                "can-queue-destroy": true, "can-lock": true, "can-unlock": true, "can-read-state-versions": true,
                "can-create-state-versions": true, "can-read-variable": true, "can-update-variable": true,
                "can-force-unlock": true, "can-read-settings": true,
            },
        },
        "relationships": {
            "organization": rel(Some(&w.organization), "organizations"),
            "project": rel(Some(&w.project_id), "projects"),
            "agent-pool": rel(w.agent_pool_id.as_deref(), "agent-pools"),
            "current-run": rel(w.latest_run_id.as_deref(), "runs"),
            "latest-run": rel(w.latest_run_id.as_deref(), "runs"),
            // tern's: the run that holds the workspace (none when it is free).
            "active-run": rel(w.active_run_id.as_deref(), "runs"),
            "current-state-version": rel(w.current_state_version_id.as_deref(), "state-versions"),
        },
        "links": { "self": format!("/api/v2/organizations/{}/workspaces/{}", w.organization, w.name) },
    })
}

pub(crate) fn variable(v: &Variable) -> Value {
    let (owner, kind) = match &v.owner {
        VariableOwner::Workspace(id) => (id, "workspaces"),
        VariableOwner::VariableSet(id) => (id, "varsets"),
    };
    json!({
        "id": v.id,
        "type": "vars",
        "attributes": {
            "key": v.key,
            "value": v.value,
            "sensitive": v.sensitive,
            "category": v.category.as_str(),
            "hcl": v.hcl,
            "description": v.description,
            "created-at": time(v.created_at),
        },
        "relationships": { "configurable": rel(Some(owner), kind) },
    })
}

pub(crate) fn variable_set(s: &VariableSet, vars: &[Variable]) -> Value {
    json!({
        "id": s.id,
        "type": "varsets",
        "attributes": {
            "name": s.name,
            "description": s.description,
            "global": s.global,
            "var-count": vars.len(),
            "workspace-count": s.workspace_ids.len(),
            "project-count": s.project_ids.len(),
            "priority": false,
            "created-at": time(s.created_at),
        },
        "relationships": {
            "workspaces": { "data": s.workspace_ids.iter().map(|id| json!({ "id": id, "type": "workspaces" })).collect::<Vec<_>>() },
            "projects": { "data": s.project_ids.iter().map(|id| json!({ "id": id, "type": "projects" })).collect::<Vec<_>>() },
            "vars": { "data": vars.iter().map(|v| json!({ "id": v.id, "type": "vars" })).collect::<Vec<_>>() },
        },
    })
}

/// A configuration version; `upload` is its signed upload URL while it is pending.
pub(crate) fn configuration_version(cv: &ConfigurationVersion, upload: Option<String>) -> Value {
    let upload = upload.filter(|_| cv.status == "pending");
    json!({
        "id": cv.id,
        "type": "configuration-versions",
        "attributes": {
            "status": cv.status,
            "error-message": cv.error_message,
            "speculative": cv.speculative,
            "auto-queue-runs": cv.auto_queue_runs,
            "source": "tfe-api",
            "upload-url": upload,
            "created-at": time(cv.created_at),
            "status-timestamps": match cv.uploaded_at {
                Some(at) => json!({ "queued-at": time(cv.created_at), "uploaded-at": time(at) }),
                None => json!({ "queued-at": time(cv.created_at) }),
            },
        },
        "relationships": { "workspace": rel(Some(&cv.workspace_id), "workspaces") },
    })
}

fn stamps(run: &Run) -> Value {
    Value::Object(run.run_timestamps().map(|(k, v)| (k.to_owned(), Value::String(time(v)))).collect())
}

/// A plan's or an apply's own `status-timestamps` (`queued-at`, `started-at`, `finished-at`…).
fn phase_stamps(run: &Run, phase: tern_types::RunPhase) -> Value {
    Value::Object(run.phase_timestamps(phase).map(|(k, v)| (k.to_owned(), Value::String(time(v)))).collect())
}

/// A run; `waiting` says why it has not started yet, when tern can tell (a tern attribute,
/// `waiting-reason`, which TFE clients ignore).
pub(crate) fn run(r: &Run, waiting: Option<&str>) -> Value {
    json!({
        "id": r.id,
        "type": "runs",
        "attributes": {
            "status": r.status.as_str(),
            "message": r.message,
            "is-destroy": r.is_destroy,
            "auto-apply": r.auto_apply,
            "plan-only": r.plan_only,
            "has-changes": r.has_changes.unwrap_or(false),
            "error-message": r.error_message,
            "waiting-reason": waiting,
            "terraform-version": r.terraform_version,
            "refresh": r.options.refresh,
            "refresh-only": r.options.refresh_only,
            "save-plan": r.options.save_plan,
            "target-addrs": r.options.target_addrs,
            "replace-addrs": r.options.replace_addrs,
            "source": "tfe-api",
            "position-in-queue": 0,
            "created-at": time(r.created_at),
            "status-timestamps": stamps(r),
            "actions": {
                "is-cancelable": matches!(r.status, RunStatus::Pending | RunStatus::Planning | RunStatus::Planned | RunStatus::PlannedAndSaved | RunStatus::Confirmed | RunStatus::Applying),
                "is-confirmable": matches!(r.status, RunStatus::Planned | RunStatus::PlannedAndSaved),
                "is-discardable": matches!(r.status, RunStatus::Planned | RunStatus::PlannedAndSaved),
                "is-force-cancelable": false,
            },
            "permissions": { "can-apply": true, "can-cancel": true, "can-discard": true, "can-force-execute": false, "can-force-cancel": false },
        },
        "relationships": {
            "workspace": rel(Some(&r.workspace_id), "workspaces"),
            "configuration-version": rel(Some(&r.configuration_version_id), "configuration-versions"),
            "plan": rel(Some(&r.plan_id()), "plans"),
            "apply": rel(Some(&r.apply_id()), "applies"),
        },
        "links": { "self": format!("/api/v2/runs/{}", r.id) },
    })
}

/// A plan: its resource counts come from its JSON plan (0 until it has one).
pub(crate) fn plan(r: &Run, log_url: &str) -> Value {
    let id = r.plan_id();
    let counts = r.resource_counts.unwrap_or_default();
    json!({
        "id": id,
        "type": "plans",
        "attributes": {
            "status": r.plan_status.as_str(),
            "has-changes": r.has_changes.unwrap_or(false),
            "log-read-url": log_url,
            "status-timestamps": phase_stamps(r, tern_types::RunPhase::Plan),
            "resource-additions": counts.additions,
            "resource-changes": counts.changes,
            "resource-destructions": counts.destructions,
            "resource-imports": counts.imports,
            "execution-details": { "mode": "remote" },
        },
        "relationships": { "run": rel(Some(&r.id), "runs") },
    })
}

/// An apply: it applies the saved plan exactly, so once it has finished its counts are the
/// plan's (0 before, and for an apply that failed part-way: tern does not count those).
pub(crate) fn apply(r: &Run, log_url: &str) -> Value {
    let id = r.apply_id();
    let counts = if r.apply_status == tern_store::PhaseStatus::Finished {
        r.resource_counts.unwrap_or_default()
    } else {
        tern_store::ResourceCounts::default()
    };
    json!({
        "id": id,
        "type": "applies",
        "attributes": {
            "status": r.apply_status.as_str(),
            "log-read-url": log_url,
            "status-timestamps": phase_stamps(r, tern_types::RunPhase::Apply),
            "resource-additions": counts.additions,
            "resource-changes": counts.changes,
            "resource-destructions": counts.destructions,
            "resource-imports": counts.imports,
            "execution-details": { "mode": "remote" },
        },
        "relationships": { "run": rel(Some(&r.id), "runs") },
    })
}

pub(crate) fn state_version(v: &StateVersion, public_url: &str) -> Value {
    json!({
        "id": v.id,
        "type": "state-versions",
        "attributes": {
            "serial": v.serial,
            "lineage": v.lineage,
            "md5": v.md5,
            "size": v.size,
            "status": "finalized",
            "state-version": 4,
            "terraform-version": v.terraform_version,
            "resources-processed": true,
            "created-at": time(v.created_at),
            "hosted-state-download-url": format!("{public_url}/api/v2/state-versions/{}/download", v.id),
            // TFE's JSON state (`terraform show -json` of the state) is not produced by tern.
            "hosted-json-state-download-url": null,
        },
        "relationships": {
            "run": rel(v.run_id.as_deref(), "runs"),
            "workspace": rel(Some(&v.workspace_id), "workspaces"),
        },
    })
}
