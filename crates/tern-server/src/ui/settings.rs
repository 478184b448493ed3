//! A workspace's settings page: execution mode and agent pool, Terraform version, auto-apply,
//! working directory, timeouts; lock and unlock; delete after typing the workspace's name.
//! Everyone who may see the workspace sees its settings (TFE's `can-read-settings`); the forms
//! are offered to those the application layer would let act, and it decides again on post.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tern_access::WorkspaceAction as WA;
use tern_store::{ExecutionMode, Workspace, WorkspaceSettings};
use tern_types::TerraformVersion;

use super::{Nav, Viewer, failure};
use crate::api::{ApiError, ApiState, access};
use crate::app;
use crate::app::settings::LockChange;
use crate::web;

/// An agent pool the form offers.
#[derive(Debug)]
struct PoolOption {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a Workspace,
    base: String,
    mode: &'static str,
    version: String,
    pools: Vec<PoolOption>,
    can_update: bool,
    can_lock: bool,
    can_force_unlock: bool,
    can_delete: bool,
    csrf: &'a str,
}

/// `GET …/settings`.
pub(crate) async fn settings(
    State(s): State<ApiState>,
    mut v: Viewer,
    Path((org, ws)): Path<(String, String)>,
) -> Response {
    let (ws, standing) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    v.nav.org = Some(ws.organization.clone());
    let may = |action| access::decide_ws(&standing, &ws, action, &ws.name).is_ok();
    let (can_update, can_lock, can_force_unlock, can_delete) =
        (may(WA::UpdateSettings), may(WA::Lock), may(WA::ForceUnlock), may(WA::Delete));
    let pools = if can_update {
        or_page!(&v.nav, app::settings::agent_pools(&s, &ws).await)
            .into_iter()
            .map(|p| PoolOption {
                selected: ws.agent_pool_id.as_deref() == Some(p.id.as_str()),
                id: p.id,
                name: p.name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let html = SettingsPage {
        nav: &v.nav,
        org: &ws.organization,
        base: format!("/app/{}/workspaces/{}/settings", ws.organization, ws.name),
        mode: ws.execution_mode.as_str(),
        version: ws.terraform_version.to_string(),
        pools,
        can_update,
        can_lock,
        can_force_unlock,
        can_delete,
        csrf: &v.nav.csrf,
        ws: &ws,
    }
    .render();
    web::page(StatusCode::OK, html)
}

/// The settings form, as a browser posts it (an unchecked checkbox is absent).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    execution_mode: String,
    #[serde(default)]
    agent_pool: String,
    #[serde(default)]
    terraform_version: String,
    auto_apply: Option<String>,
    #[serde(default)]
    working_directory: String,
    #[serde(default)]
    plan_timeout: String,
    #[serde(default)]
    apply_timeout: String,
}

/// Longest description kept (the API's documents carry it whole; a page need not).
const MAX_DESCRIPTION_CHARS: usize = 2000;

impl SettingsForm {
    /// The change the form asks for: every field, as the page shows them all.
    fn changes(&self) -> Result<WorkspaceSettings, ApiError> {
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ApiError::bad_request(format!(
                "a description has at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        let mode = ExecutionMode::parse(&self.execution_mode).ok_or_else(|| {
            ApiError::bad_request(format!(
                "execution mode {:?} is not one of: remote, agent, local",
                self.execution_mode
            ))
        })?;
        let version = TerraformVersion::parse(self.terraform_version.trim())
            .map_err(|e| ApiError::bad_request(format!("Terraform version: {e}")))?;
        let timeout = |field: &str, value: &str| -> Result<i64, ApiError> {
            value.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{field} must be a whole number of seconds above 0, not {value:?}"
                ))
            })
        };
        let agent_pool_id = match (mode, self.agent_pool.trim()) {
            (ExecutionMode::Agent, "") => {
                return Err(ApiError::bad_request("agent execution needs an agent pool: choose one"));
            }
            (ExecutionMode::Agent, pool) => Some(pool.to_owned()),
            _ => None,
        };
        Ok(WorkspaceSettings {
            description: Some(self.description.replace("\r\n", "\n")),
            terraform_version: Some(version),
            working_directory: Some(self.working_directory.trim().to_owned()),
            auto_apply: Some(self.auto_apply.is_some()),
            execution_mode: Some(mode),
            agent_pool_id,
            plan_timeout_s: Some(timeout("the plan timeout", &self.plan_timeout)?),
            apply_timeout_s: Some(timeout("the apply timeout", &self.apply_timeout)?),
            ..WorkspaceSettings::default()
        })
    }
}

/// `POST …/settings`: save the settings.
pub(crate) async fn save(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws)): Path<(String, String)>,
    Form(f): Form<SettingsForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    // Who may comes first: a refused caller learns nothing from the form's errors.
    let (ws, _) =
        or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::UpdateSettings).await);
    let changes = or_page!(&v.nav, f.changes());
    or_page!(&v.nav, app::settings::update(&s, &v.caller, &ws.id, &changes).await);
    web::redirect(&format!("/app/{}/workspaces/{}/settings", ws.organization, ws.name))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// `POST …/settings/lock`: lock, unlock or force-unlock.
pub(crate) async fn lock(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws)): Path<(String, String)>,
    Form(f): Form<LockForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (ws, _) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    let change = match f.action.as_str() {
        "lock" => LockChange::Lock,
        "unlock" => LockChange::Unlock,
        "force-unlock" => LockChange::ForceUnlock,
        other => {
            return failure(
                &v.nav,
                &ApiError::bad_request(format!(
                    "there is no lock action {other:?}: lock, unlock or force-unlock"
                )),
            );
        }
    };
    or_page!(&v.nav, app::settings::set_lock(&s, &v.caller, &ws.id, change).await);
    web::redirect(&format!("/app/{}/workspaces/{}/settings", ws.organization, ws.name))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// The workspace's name, typed by the person deleting it.
    #[serde(default)]
    confirm: String,
    /// Present: delete even if its state still manages resources.
    force: Option<String>,
}

/// `POST …/settings/delete`: delete the workspace once its name is typed exactly.
pub(crate) async fn delete(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws)): Path<(String, String)>,
    Form(f): Form<DeleteForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let (ws, _) = or_page!(&v.nav, app::workspaces::by_name(&s, &v.caller, &org, &ws, WA::Read).await);
    if f.confirm.trim() != ws.name {
        return failure(
            &v.nav,
            &ApiError::bad_request(format!(
                "to delete workspace {:?}, type its name exactly; nothing was deleted",
                ws.name
            )),
        );
    }
    or_page!(&v.nav, app::settings::delete(&s, &v.caller, &ws.id, f.force.is_none()).await);
    web::redirect(&format!("/app/{}/workspaces", ws.organization))
}

#[cfg(test)]
mod tests {
    use super::SettingsForm;

    fn form() -> SettingsForm {
        SettingsForm {
            execution_mode: "remote".into(),
            terraform_version: "1.11.4".into(),
            plan_timeout: "3600".into(),
            apply_timeout: "7200".into(),
            ..SettingsForm::default()
        }
    }

    #[test]
    fn a_form_sets_every_setting_and_an_absent_checkbox_is_off() {
        let c = form().changes().unwrap();
        assert_eq!(c.auto_apply, Some(false));
        assert_eq!(c.plan_timeout_s, Some(3600));
        assert_eq!(c.agent_pool_id, None);
        assert_eq!(c.name, None, "the form never renames");
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        for (f, says) in [
            (SettingsForm { execution_mode: "cloud".into(), ..form() }, "execution mode"),
            (SettingsForm { plan_timeout: "-5".into(), ..form() }, "plan timeout"),
            (SettingsForm { apply_timeout: "soon".into(), ..form() }, "apply timeout"),
            (SettingsForm { terraform_version: "1.x".into(), ..form() }, "Terraform version"),
            (SettingsForm { execution_mode: "agent".into(), ..form() }, "agent pool"),
            (SettingsForm { description: "x".repeat(2001), ..form() }, "description"),
        ] {
            let e = f.changes().unwrap_err();
            assert!(e.detail.contains(says), "{} lacks {says}", e.detail);
        }
    }
}
