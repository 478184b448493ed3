//! JSON:API documents: rendering tern's records in TFE's shapes, reading request documents,
//! and pagination.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use tern_protocol::jsonapi::{
    Document, ListDocument, ListMeta, MEDIA_TYPE, PageLinks, Pagination, Resource, ToMany, ToOne,
};
use tern_protocol::resources as r;
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
pub(crate) fn respond(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => (status, [(CONTENT_TYPE, MEDIA_TYPE)], text).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", format!("rendering: {e}"))
                .into_response()
        }
    }
}

/// A resource as a JSON value (for `included`, which mixes types).
pub(crate) fn value(resource: &impl Serialize) -> Value {
    serde_json::to_value(resource).unwrap_or(Value::Null)
}

pub(crate) fn one(data: impl Serialize) -> Response {
    respond(StatusCode::OK, &Document::new(data))
}

/// A resource and the resources an `include` asked for.
pub(crate) fn with_included(data: impl Serialize, included: Vec<Value>) -> Response {
    respond(StatusCode::OK, &Document { data, included })
}

pub(crate) fn created(data: impl Serialize) -> Response {
    respond(StatusCode::CREATED, &Document::new(data))
}

/// A complete list on one page, with TFE's pagination.
pub(crate) fn single_page<T: Serialize>(items: Vec<T>) -> Response {
    respond(StatusCode::OK, &ListDocument::single_page(items))
}

/// A page of a list with TFE's `meta.pagination` and `links`.
pub(crate) fn list<T, R: Serialize>(paged: &Paged<T>, path: &str, render: impl Fn(&T) -> R) -> Response {
    list_with_included(paged, path, render, Vec::new())
}

/// [`list`] with the resources an `include` asked for.
pub(crate) fn list_with_included<T, R: Serialize>(
    paged: &Paged<T>,
    path: &str,
    render: impl Fn(&T) -> R,
    included: Vec<Value>,
) -> Response {
    let size = paged.page.size.clamp(1, Page::MAX_SIZE);
    let total_pages = paged.total.div_ceil(u64::from(size)).max(1);
    let current = u64::from(paged.page.number.max(1));
    let link = |n: u64| format!("{path}?page%5Bnumber%5D={n}&page%5Bsize%5D={size}");
    let prev = (current > 1).then(|| current - 1);
    let next = (current < total_pages).then(|| current + 1);
    respond(
        StatusCode::OK,
        &ListDocument {
            data: paged.items.iter().map(render).collect(),
            links: Some(PageLinks {
                self_: link(current),
                first: link(1),
                prev: prev.map(link),
                next: next.map(link),
                last: link(total_pages),
            }),
            meta: Some(ListMeta {
                pagination: Pagination {
                    current_page: current,
                    page_size: Some(u64::from(size)),
                    prev_page: prev,
                    next_page: next,
                    total_pages,
                    total_count: paged.total,
                },
            }),
            included,
        },
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
    /// Parse a request body whose `data` may have any `type`, or none (go-tfe's token options
    /// carry none).
    pub(crate) fn parse_untyped(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not a JSON document ({e})")))?;
        let data = value
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| ApiError::invalid("/data", "the document needs a \"data\" object"))?;
        Ok(Self { data })
    }

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

/// A to-one relationship (`{"data": null}` without an id).
pub(crate) fn rel(id: Option<&str>, kind: &str) -> ToOne {
    ToOne::maybe(id, kind)
}

fn times(stamps: impl Iterator<Item = (impl Into<String>, i64)>) -> BTreeMap<String, String> {
    stamps.map(|(k, v)| (k.into(), time(v))).collect()
}

pub(crate) fn organization(o: &Organization) -> r::Organization {
    Resource::new(
        o.name.clone(),
        r::OrganizationAttributes {
            name: o.name.clone(),
            email: o.email.clone(),
            external_id: o.id.clone(),
            created_at: time(o.created_at),
            default_execution_mode: "remote".into(),
            cost_estimation_enabled: false,
            assessments_enforced: false,
            permissions: r::OrganizationPermissions { can_update: true, can_create_workspace: true },
        },
        Default::default(),
    )
    .with_self_link(format!("/api/v2/organizations/{}", o.name))
}

pub(crate) fn project(p: &Project) -> r::Project {
    Resource::new(
        p.id.clone(),
        r::ProjectAttributes {
            name: p.name.clone(),
            description: p.description.clone(),
            created_at: time(p.created_at),
        },
        r::OrganizationRelationship { organization: ToOne::to(p.organization.clone(), "organizations") },
    )
    .with_self_link(format!("/api/v2/projects/{}", p.id))
}

/// A workspace with every permission (the golden documents).
#[cfg(test)]
pub(crate) fn workspace(w: &Workspace) -> r::Workspace {
    workspace_with(w, r::WorkspacePermissions::all())
}

/// A workspace with the `permissions` of the caller it is shown to.
pub(crate) fn workspace_with(w: &Workspace, permissions: r::WorkspacePermissions) -> r::Workspace {
    Resource::new(
        w.id.clone(),
        r::WorkspaceAttributes {
            name: w.name.clone(),
            description: w.description.clone(),
            auto_apply: w.auto_apply,
            execution_mode: w.execution_mode.as_str().to_owned(),
            agent_pool_id: w.agent_pool_id.clone(),
            operations: w.execution_mode != tern_store::ExecutionMode::Local,
            working_directory: w.working_directory.clone(),
            terraform_version: w.terraform_version.to_string(),
            plan_timeout: w.plan_timeout_s,
            apply_timeout: w.apply_timeout_s,
            locked: w.locked,
            tag_names: w.tag_names.clone(),
            created_at: time(w.created_at),
            updated_at: time(w.updated_at),
            actions: r::WorkspaceActions { is_destroyable: w.active_run_id.is_none() },
            permissions,
        },
        r::WorkspaceRelationships {
            organization: ToOne::to(w.organization.clone(), "organizations"),
            project: ToOne::to(w.project_id.clone(), "projects"),
            agent_pool: rel(w.agent_pool_id.as_deref(), "agent-pools"),
            current_run: rel(w.latest_run_id.as_deref(), "runs"),
            latest_run: rel(w.latest_run_id.as_deref(), "runs"),
            active_run: rel(w.active_run_id.as_deref(), "runs"),
            current_state_version: rel(w.current_state_version_id.as_deref(), "state-versions"),
        },
    )
    .with_self_link(format!("/api/v2/organizations/{}/workspaces/{}", w.organization, w.name))
}

pub(crate) fn variable(v: &Variable) -> r::Variable {
    let configurable = match &v.owner {
        VariableOwner::Workspace(id) => ToOne::to(id.clone(), "workspaces"),
        VariableOwner::VariableSet(id) => ToOne::to(id.clone(), "varsets"),
    };
    Resource::new(
        v.id.clone(),
        r::VariableAttributes {
            key: v.key.clone(),
            value: v.value.clone(),
            sensitive: v.sensitive,
            category: v.category.as_str().to_owned(),
            hcl: v.hcl,
            description: v.description.clone(),
            created_at: time(v.created_at),
        },
        r::VariableRelationships { configurable },
    )
}

pub(crate) fn variable_set(s: &VariableSet, vars: &[Variable]) -> r::VariableSet {
    Resource::new(
        s.id.clone(),
        r::VariableSetAttributes {
            name: s.name.clone(),
            description: s.description.clone(),
            global: s.global,
            var_count: vars.len() as u64,
            workspace_count: s.workspace_ids.len() as u64,
            project_count: s.project_ids.len() as u64,
            priority: false,
            created_at: time(s.created_at),
        },
        r::VariableSetRelationships {
            workspaces: ToMany::of(&s.workspace_ids, "workspaces"),
            projects: ToMany::of(&s.project_ids, "projects"),
            vars: ToMany::of(vars.iter().map(|v| &v.id), "vars"),
        },
    )
}

/// A configuration version; `upload` is its signed upload URL while it is pending.
pub(crate) fn configuration_version(
    cv: &ConfigurationVersion,
    upload: Option<String>,
) -> r::ConfigurationVersion {
    let mut stamps = BTreeMap::from([("queued-at".to_owned(), time(cv.created_at))]);
    if let Some(at) = cv.uploaded_at {
        stamps.insert("uploaded-at".to_owned(), time(at));
    }
    Resource::new(
        cv.id.clone(),
        r::ConfigurationVersionAttributes {
            status: cv.status.clone(),
            error_message: cv.error_message.clone(),
            speculative: cv.speculative,
            auto_queue_runs: cv.auto_queue_runs,
            source: "tfe-api".into(),
            upload_url: upload.filter(|_| cv.status == "pending"),
            created_at: time(cv.created_at),
            status_timestamps: stamps,
        },
        r::WorkspaceRelationship { workspace: ToOne::to(cv.workspace_id.clone(), "workspaces") },
    )
}

/// A run; `waiting` says why it has not started yet, when tern can tell (a tern attribute,
/// `waiting-reason`, which TFE clients ignore); `position` is its place in the queue.
pub(crate) fn run(r: &Run, waiting: Option<&str>) -> r::Run {
    use RunStatus::{Applying, Confirmed, Pending, Planned, PlannedAndSaved, Planning};
    let s = r.status;
    let confirmable = matches!(s, Planned | PlannedAndSaved);
    Resource::new(
        r.id.clone(),
        r::RunAttributes {
            status: s.as_str().to_owned(),
            message: r.message.clone(),
            is_destroy: r.is_destroy,
            auto_apply: r.auto_apply,
            plan_only: r.plan_only,
            has_changes: r.has_changes.unwrap_or(false),
            error_message: r.error_message.clone(),
            waiting_reason: waiting.map(str::to_owned),
            terraform_version: r.terraform_version.clone(),
            refresh: r.options.refresh,
            refresh_only: r.options.refresh_only,
            save_plan: r.options.save_plan,
            target_addrs: r.options.target_addrs.clone(),
            replace_addrs: r.options.replace_addrs.clone(),
            source: "tfe-api".into(),
            position_in_queue: 0,
            created_at: time(r.created_at),
            status_timestamps: times(r.run_timestamps()),
            actions: r::RunActions {
                is_cancelable: matches!(
                    s,
                    Pending | Planning | Planned | PlannedAndSaved | Confirmed | Applying
                ),
                is_confirmable: confirmable,
                is_discardable: confirmable,
                is_force_cancelable: false,
            },
            permissions: r::RunPermissions {
                can_apply: true,
                can_cancel: true,
                can_discard: true,
                can_force_execute: false,
                can_force_cancel: false,
            },
        },
        r::RunRelationships {
            workspace: ToOne::to(r.workspace_id.clone(), "workspaces"),
            configuration_version: ToOne::to(r.configuration_version_id.clone(), "configuration-versions"),
            plan: ToOne::to(r.plan_id(), "plans"),
            apply: ToOne::to(r.apply_id(), "applies"),
        },
    )
    .with_self_link(format!("/api/v2/runs/{}", r.id))
}

fn counts(c: tern_store::ResourceCounts) -> [u64; 4] {
    [c.additions, c.changes, c.destructions, c.imports]
}

/// A plan: its resource counts come from its JSON plan (0 until it has one).
pub(crate) fn plan(r: &Run, log_url: &str) -> r::Plan {
    Resource::new(
        r.plan_id(),
        r::PhaseAttributes::new(
            r.plan_status.as_str(),
            Some(r.has_changes.unwrap_or(false)),
            log_url.to_owned(),
            times(r.phase_timestamps(tern_types::RunPhase::Plan)),
            counts(r.resource_counts.unwrap_or_default()),
        ),
        r::RunRelationship { run: ToOne::to(r.id.clone(), "runs") },
    )
}

/// An apply: it applies the saved plan exactly, so once it has finished its counts are the
/// plan's (0 before, and for an apply that failed part-way: tern does not count those).
pub(crate) fn apply(r: &Run, log_url: &str) -> r::Apply {
    let c = if r.apply_status == tern_store::PhaseStatus::Finished {
        r.resource_counts.unwrap_or_default()
    } else {
        tern_store::ResourceCounts::default()
    };
    Resource::new(
        r.apply_id(),
        r::PhaseAttributes::new(
            r.apply_status.as_str(),
            None,
            log_url.to_owned(),
            times(r.phase_timestamps(tern_types::RunPhase::Apply)),
            counts(c),
        ),
        r::RunRelationship { run: ToOne::to(r.id.clone(), "runs") },
    )
}

pub(crate) fn state_version(v: &StateVersion, public_url: &str) -> r::StateVersion {
    Resource::new(
        v.id.clone(),
        r::StateVersionAttributes {
            serial: v.serial,
            lineage: v.lineage.clone(),
            md5: v.md5.clone(),
            size: v.size,
            status: "finalized".into(),
            state_version: Some(4),
            terraform_version: Some(v.terraform_version.clone()),
            resources_processed: Some(true),
            created_at: time(v.created_at),
            hosted_state_download_url: Some(format!("{public_url}/api/v2/state-versions/{}/download", v.id)),
            // TFE's JSON state (`terraform show -json` of the state) is not produced by tern.
            hosted_json_state_download_url: None,
            hosted_state_upload_url: None,
            hosted_json_state_upload_url: None,
        },
        r::StateVersionRelationships {
            run: rel(v.run_id.as_deref(), "runs"),
            workspace: ToOne::to(v.workspace_id.clone(), "workspaces"),
        },
    )
}
