//! The agent protocol at `/api/agent`.
//!
//! An agent (`tern agent`, or a worker inside `tern serve`) claims a job with its agent token
//! ([`ClaimRequest`] → [`ClaimResponse`], or `204 No Content` when nothing came within the
//! wait); everything about the job then goes through the job token handed out with it, at
//! [`job_path`]: the [`JobSpec`], the configuration, the state, the saved plan, tokens
//! ([`MintRequest`] → [`MintResponse`]), logs and heartbeats ([`JobControl`]), and the end
//! ([`FinishRequest`] → [`FinishResponse`]). Bodies are JSON unless a route says otherwise.

use serde::{Deserialize, Serialize};
use tern_types::{RunPhase, SecretString};

/// Where agents claim jobs (`POST`).
pub const CLAIM_PATH: &str = "/api/agent/jobs/claim";

/// The path of a job's resource: `rest` is `""` (the [`JobSpec`], `GET`), `/configuration`
/// (the tarball, `GET`), `/state` (`GET`: the current state or `204`; `PUT`: new state from the
/// apply phase → [`StateStored`]), `/plan` (the saved plan file, `GET`/`PUT`), `/plan-json`
/// and `/plan-json-redacted` (`PUT`, plan phase), `/token` (`POST` [`MintRequest`]), `/logs`
/// (`POST` raw bytes → [`JobControl`]), `/heartbeat` (`POST` → [`JobControl`]) and `/finish`
/// (`POST` [`FinishRequest`]).
pub fn job_path(job: &str, rest: &str) -> String {
    format!("/api/agent/jobs/{job}{rest}")
}

/// Ask for the next job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The agent's name, 1 to 200 printable characters (shown in runs).
    pub agent: String,
    /// How long the server may hold the request waiting for a job (it caps this at 30).
    #[serde(default)]
    pub wait_seconds: u64,
    /// The agent has just started: jobs the server thinks it runs are dead.
    #[serde(default)]
    pub restarted: bool,
    /// The exact Terraform versions the agent can run; it is offered only jobs that need one of
    /// them. Absent: an agent older than the server, which is refused.
    #[serde(default)]
    pub terraform_versions: Option<Vec<String>>,
}

/// A job, claimed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// Which job.
    pub job: ClaimedJob,
    /// The job token: valid for this job only, while it runs.
    #[serde(with = "crate::secret")]
    pub token: SecretString,
}

/// The job of a [`ClaimResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedJob {
    /// Job id.
    pub id: String,
    /// Its run.
    pub run_id: String,
    /// Its phase.
    #[serde(with = "crate::secret::phase")]
    pub phase: RunPhase,
}

/// A name and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// Name.
    pub name: String,
    /// Id.
    pub id: String,
}

/// A variable handed to a job: its value in the clear (sensitive ones too: the phase needs
/// them), as a [`SecretString`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobVariable {
    /// Name.
    pub key: String,
    /// Value.
    #[serde(with = "crate::secret")]
    pub value: SecretString,
    /// `env` or `terraform`.
    pub category: String,
    /// An HCL value.
    pub hcl: bool,
    /// Marked sensitive (its value is masked in the log).
    pub sensitive: bool,
}

/// What a job is: `GET` [`job_path`]`(id, "")`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSpec {
    /// Job id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// The phase.
    #[serde(with = "crate::secret::phase")]
    pub phase: RunPhase,
    /// Organization.
    pub organization: Named,
    /// Project.
    pub project: Named,
    /// Workspace.
    pub workspace: Named,
    /// The exact Terraform version to run (one the agent advertised).
    pub terraform_version: String,
    /// Directory in the configuration to run in.
    pub working_directory: String,
    /// The phase's timeout.
    pub timeout_seconds: u64,
    /// The longest a token minted for this job may live (the server caps every mint at it).
    /// Absent from older servers.
    #[serde(default)]
    pub max_token_ttl_seconds: Option<u64>,
    /// A destroy run.
    pub is_destroy: bool,
    /// A plan that can never be applied (speculative).
    #[serde(default)]
    pub plan_only: bool,
    /// The workspace's variables (variable sets included), then the run's own `-var`s, which
    /// replace terraform variables of the same name.
    pub variables: Vec<JobVariable>,
    /// `-target` addresses.
    #[serde(default)]
    pub target_addrs: Vec<String>,
    /// `-replace` addresses.
    #[serde(default)]
    pub replace_addrs: Vec<String>,
    /// `false`: plan with `-refresh=false`.
    #[serde(default = "yes")]
    pub refresh: bool,
    /// Plan with `-refresh-only`.
    #[serde(default)]
    pub refresh_only: bool,
}

fn yes() -> bool {
    true
}

/// New state stored by the apply phase (`PUT` [`job_path`]`(id, "/state")`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateStored {
    /// The new state version.
    pub id: String,
    /// Its serial.
    pub serial: i64,
}

/// Ask for a workload identity token for the job's run and phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintRequest {
    /// `aud`.
    pub audience: String,
    /// Wanted lifetime; the server caps it at its own token lifetime.
    pub ttl_seconds: u64,
}

/// A minted token and what a runner may say about it (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MintResponse {
    /// The signed JWT.
    #[serde(with = "crate::secret")]
    pub token: SecretString,
    /// The key that signed it.
    pub kid: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `sub`.
    pub subject: String,
    /// `iat`, unix seconds.
    pub issued_at: u64,
    /// `exp`, unix seconds.
    pub expires_at: u64,
}

/// The server's answer to a log chunk or a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobControl {
    /// The run was canceled: stop the phase.
    pub cancel: bool,
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It did what it was asked.
    Succeeded,
    /// It failed (`reason` says why).
    Failed,
    /// It stopped because the run was canceled.
    Canceled,
}

impl Outcome {
    /// `succeeded`, `failed` or `canceled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

/// The end of a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishRequest {
    /// How it ended.
    pub outcome: Outcome,
    /// A plan found changes.
    #[serde(default)]
    pub has_changes: bool,
    /// Why it failed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The run's status after the phase ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishResponse {
    /// `planned`, `applied`, `errored`…
    pub run_status: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_on_the_wire_never_show_in_debug() {
        let claimed: ClaimResponse = serde_json::from_str(
            r#"{"job":{"id":"job-1","run_id":"run-1","phase":"apply"},"token":"tern-job-SECRET"}"#,
        )
        .unwrap();
        assert_eq!(claimed.job.phase, RunPhase::Apply);
        assert_eq!(claimed.token.expose_secret(), "tern-job-SECRET");
        let shown = format!("{claimed:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let var: JobVariable = serde_json::from_str(
            r#"{"key":"db","value":"hunter2","category":"terraform","hcl":false,"sensitive":true}"#,
        )
        .unwrap();
        assert!(!format!("{var:?}").contains("hunter2"));
        // Written back as it came: the body is the one place the secret goes.
        assert!(serde_json::to_string(&var).unwrap().contains("\"value\":\"hunter2\""));
    }

    #[test]
    fn an_older_servers_job_specification_still_reads() {
        let spec: JobSpec = serde_json::from_value(serde_json::json!({
            "id": "job-1", "run_id": "run-1", "phase": "plan",
            "organization": { "name": "acme", "id": "org-1" },
            "project": { "name": "Default Project", "id": "prj-1" },
            "workspace": { "name": "app", "id": "ws-1" },
            "terraform_version": "1.11.4", "working_directory": "",
            "timeout_seconds": 60, "is_destroy": false, "variables": [],
        }))
        .unwrap();
        assert_eq!(spec.max_token_ttl_seconds, None);
        assert!(spec.refresh, "refresh defaults to on");
        assert!(!spec.plan_only && !spec.refresh_only);
    }

    #[test]
    fn a_wrong_outcome_or_phase_is_named() {
        let e = serde_json::from_str::<FinishRequest>(r#"{"outcome":"done"}"#).unwrap_err().to_string();
        assert!(e.contains("succeeded") && e.contains("canceled"), "{e}");
        let e = serde_json::from_str::<ClaimedJob>(r#"{"id":"j","run_id":"r","phase":"destroy"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"destroy\" is not a phase"), "{e}");
    }
}
