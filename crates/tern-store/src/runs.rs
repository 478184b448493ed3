//! Configuration versions, runs, the job queue, logs and saved plans.
//!
//! A run holds its workspace from the moment its plan job is claimed until it reaches a final
//! state (`workspaces.active_run_id`), so runs of one workspace execute one at a time and in
//! order. A job is claimed by exactly one agent: the claim is a conditional update
//! (`status = 'queued'`) in the same transaction that takes the workspace. A running job holds a
//! lease that its agent renews; a job whose lease ran out is errored by [`Store::expire_jobs`].

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Row as _, Transaction};
use tern_types::{RunPhase, SecretString};

use crate::audit::Audit;
use crate::claims::{resolve, scope_condition, version_condition};
use crate::crypto::{new_id, token_hash};
use crate::{
    AuditInput, Claimant, ConfigurationVersion, ExecutionMode, Job, JobScope, JobStatus, Page, Paged,
    PhaseStatus, ResourceCounts, Run, RunFilter, RunInput, RunOperation, RunScope, RunStatus, RunVariable,
    Store, StoreError, count, not_found, sql,
};

/// How a job ended, as its agent reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The phase succeeded; for a plan, whether it has changes.
    Succeeded {
        /// Plan had changes (ignored for applies).
        has_changes: bool,
    },
    /// The phase failed, with the reason shown to the user.
    Failed(String),
    /// The phase stopped because a cancel was asked for.
    Canceled,
}

const RUN_COLUMNS: &str = "id, workspace_id, configuration_version_id, status, message, is_destroy, auto_apply, plan_only, has_changes, error_message, plan_status, apply_status, terraform_version, created_by, created_at, status_timestamps, options, resource_counts";
const JOB_COLUMNS: &str =
    "id, run_id, organization_id, phase, status, agent, cancel_requested, lease_expires_at, created_at";

fn run(row: &AnyRow) -> Result<Run, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let plan: String = row.try_get("plan_status")?;
    let apply: String = row.try_get("apply_status")?;
    let stamps: String = row.try_get("status_timestamps")?;
    let options: String = row.try_get("options")?;
    Ok(Run {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        configuration_version_id: row.try_get("configuration_version_id")?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Errored),
        message: row.try_get("message")?,
        is_destroy: crate::flag(row, "is_destroy")?,
        auto_apply: crate::flag(row, "auto_apply")?,
        plan_only: crate::flag(row, "plan_only")?,
        has_changes: crate::flag_opt(row, "has_changes")?,
        error_message: row.try_get("error_message")?,
        plan_status: PhaseStatus::parse(&plan).unwrap_or(PhaseStatus::Errored),
        apply_status: PhaseStatus::parse(&apply).unwrap_or(PhaseStatus::Errored),
        terraform_version: row.try_get("terraform_version")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        status_timestamps: serde_json::from_str(&stamps).unwrap_or_default(),
        options: serde_json::from_str(&options).unwrap_or_default(),
        resource_counts: row
            .try_get::<Option<String>, _>("resource_counts")?
            .and_then(|c| serde_json::from_str(&c).ok()),
    })
}

/// What a run's variables are sealed under: bound to the run.
fn run_variables_context(run_id: &str) -> String {
    format!("run-variables/{run_id}")
}

/// How one look at the queue went.
enum Claim {
    Claimed(Box<Job>),
    /// Nothing is queued that this caller may run.
    Empty,
    /// Jobs were queued, but other agents took every one looked at.
    AllTaken,
}

/// Columns of [`JobScope`]: the job's own under their names, the rest aliased.
const JOB_SCOPE_COLUMNS: &str = "j.id, j.run_id, j.organization_id, j.phase, j.status, j.agent, j.cancel_requested, j.lease_expires_at, j.created_at,
    o.name AS organization_name, w.project_id, p.name AS project_name, w.id AS workspace_id, w.name AS workspace_name,
    w.plan_timeout_s, w.apply_timeout_s";
const JOB_SCOPE_JOINS: &str = "JOIN runs r ON r.id = j.run_id JOIN workspaces w ON w.id = r.workspace_id
    JOIN organizations o ON o.id = w.organization_id JOIN projects p ON p.id = w.project_id";

fn job_scope(row: &AnyRow) -> Result<JobScope, sqlx::Error> {
    let job = job(row)?;
    let timeout_s: i64 =
        row.try_get(if job.phase == RunPhase::Plan { "plan_timeout_s" } else { "apply_timeout_s" })?;
    Ok(JobScope {
        organization: row.try_get("organization_name")?,
        project_id: row.try_get("project_id")?,
        project: row.try_get("project_name")?,
        workspace_id: row.try_get("workspace_id")?,
        workspace: row.try_get("workspace_name")?,
        timeout_s,
        job,
    })
}

fn job(row: &AnyRow) -> Result<Job, sqlx::Error> {
    let phase: String = row.try_get("phase")?;
    let status: String = row.try_get("status")?;
    Ok(Job {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        organization_id: row.try_get("organization_id")?,
        phase: phase.parse().unwrap_or(RunPhase::Plan),
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Done),
        agent: row.try_get("agent")?,
        cancel_requested: crate::flag(row, "cancel_requested")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn cv(row: &AnyRow) -> Result<ConfigurationVersion, sqlx::Error> {
    Ok(ConfigurationVersion {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        status: row.try_get("status")?,
        error_message: row.try_get("error_message")?,
        speculative: crate::flag(row, "speculative")?,
        auto_queue_runs: crate::flag(row, "auto_queue_runs")?,
        created_at: row.try_get("created_at")?,
        uploaded_at: row.try_get("uploaded_at")?,
    })
}

/// A change of a run's status, applied in a transaction.
struct Transition<'a> {
    status: RunStatus,
    plan: Option<PhaseStatus>,
    apply: Option<PhaseStatus>,
    error: Option<&'a str>,
    has_changes: Option<bool>,
}

impl Store {
    async fn transition(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        t: Transition<'_>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT status_timestamps, workspace_id FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_one(&mut **tx)
            .await?;
        let stamps: String = row.try_get("status_timestamps")?;
        let workspace_id: String = row.try_get("workspace_id")?;
        let mut stamps: BTreeMap<String, i64> = serde_json::from_str(&stamps).unwrap_or_default();
        let now = self.now();
        stamps.insert(format!("{}-at", t.status.as_str().replace('_', "-")), now);
        // An auto-applied run is confirmed the moment its plan finishes: it was planned then too.
        if t.status == RunStatus::Confirmed && t.plan == Some(PhaseStatus::Finished) {
            stamps.insert("planned-at".to_owned(), now);
        }
        // The phases' own timestamps (see `Run::phase_timestamps`).
        for (phase, status) in [(RunPhase::Plan, t.plan), (RunPhase::Apply, t.apply)] {
            if let Some(status) = status {
                stamps.insert(format!("{}:{}", phase.as_str(), status.timestamp_name()), now);
            }
        }
        let stamps = serde_json::to_string(&stamps).unwrap_or_else(|_| "{}".into());
        sqlx::query("UPDATE runs SET status = $2, plan_status = COALESCE($3, plan_status), apply_status = COALESCE($4, apply_status), error_message = COALESCE($5, error_message), has_changes = COALESCE($6, has_changes), status_timestamps = $7 WHERE id = $1")
            .bind(run_id)
            .bind(t.status.as_str())
            .bind(t.plan.map(PhaseStatus::as_str))
            .bind(t.apply.map(PhaseStatus::as_str))
            .bind(t.error)
            .bind(t.has_changes)
            .bind(stamps)
            .execute(&mut **tx)
            .await?;
        if t.status.is_final() {
            sqlx::query("UPDATE workspaces SET active_run_id = NULL WHERE id = $1 AND active_run_id = $2")
                .bind(&workspace_id)
                .bind(run_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("UPDATE jobs SET status = 'dropped', finished_at = $2 WHERE run_id = $1 AND status = 'queued'")
                .bind(run_id)
                .bind(self.now())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn queue_job(
        &self,
        tx: &mut Transaction<'_, Any>,
        run_id: &str,
        organization_id: &str,
        phase: RunPhase,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO jobs (id, run_id, organization_id, phase, status, cancel_requested, created_at) VALUES ($1, $2, $3, $4, 'queued', FALSE, $5)")
            .bind(new_id("job")?)
            .bind(run_id)
            .bind(organization_id)
            .bind(phase.as_str())
            .bind(self.now())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// A new configuration version, waiting for its upload.
    pub async fn create_configuration_version(
        &self,
        workspace_id: &str,
        speculative: bool,
        auto_queue_runs: bool,
    ) -> Result<ConfigurationVersion, StoreError> {
        self.workspace(workspace_id).await?;
        let id = new_id("cv")?;
        sqlx::query("INSERT INTO configuration_versions (id, workspace_id, status, speculative, auto_queue_runs, created_at) VALUES ($1, $2, 'pending', $3, $4, $5)")
            .bind(&id)
            .bind(workspace_id)
            .bind(speculative)
            .bind(auto_queue_runs)
            .bind(self.now())
            .execute(&self.pool)
            .await?;
        self.configuration_version(&id).await
    }

    /// A configuration version.
    pub async fn configuration_version(&self, id: &str) -> Result<ConfigurationVersion, StoreError> {
        let row = sqlx::query("SELECT id, workspace_id, status, error_message, speculative, auto_queue_runs, created_at, uploaded_at FROM configuration_versions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("configuration version", id))?;
        Ok(cv(&row)?)
    }

    /// Configuration versions of a workspace, newest first.
    pub async fn list_configuration_versions(
        &self,
        workspace_id: &str,
        page: Page,
    ) -> Result<Paged<ConfigurationVersion>, StoreError> {
        let total: (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM configuration_versions WHERE workspace_id = $1")
                .bind(workspace_id)
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query("SELECT id, workspace_id, status, error_message, speculative, auto_queue_runs, created_at, uploaded_at FROM configuration_versions WHERE workspace_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3")
            .bind(workspace_id)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(cv).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    /// Store the (already checked) tarball of a pending configuration version.
    pub async fn upload_configuration(
        &self,
        id: &str,
        tarball: &[u8],
    ) -> Result<ConfigurationVersion, StoreError> {
        let done = sqlx::query("UPDATE configuration_versions SET status = 'uploaded', tarball = $2, uploaded_at = $3 WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .bind(tarball)
            .bind(self.now())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            let current = self.configuration_version(id).await?;
            return Err(StoreError::Conflict(format!(
                "configuration version {id} is {}; only a pending one accepts an upload",
                current.status
            )));
        }
        self.configuration_version(id).await
    }

    /// Mark a pending configuration version errored (its upload was refused).
    pub async fn fail_configuration(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE configuration_versions SET status = 'errored', error_message = $2 WHERE id = $1 AND status = 'pending'")
            .bind(id)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tarball of an uploaded configuration version.
    pub async fn configuration_tarball(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT tarball FROM configuration_versions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.and_then(|r| r.0).ok_or_else(|| not_found("configuration upload", id))
    }

    /// Create a run (pending) and queue its plan.
    pub async fn create_run(
        &self,
        workspace_id: &str,
        input: &RunInput,
        created_by: &str,
        audit: impl Audit<Run>,
    ) -> Result<Run, StoreError> {
        let ws = self.workspace(workspace_id).await?;
        if ws.locked {
            return Err(StoreError::Conflict(format!(
                "workspace {:?} is locked; unlock it to start runs",
                ws.name
            )));
        }
        if ws.execution_mode == ExecutionMode::Local {
            return Err(StoreError::Conflict(format!(
                "workspace {:?} uses local execution: runs happen on the client and tern keeps only the state; set execution-mode to \"remote\" to run here",
                ws.name
            )));
        }
        let cv_id = match &input.configuration_version_id {
            Some(id) => id.clone(),
            None => {
                let latest: Option<(String,)> = sqlx::query_as("SELECT id FROM configuration_versions WHERE workspace_id = $1 AND status = 'uploaded' ORDER BY seq DESC LIMIT 1")
                    .bind(workspace_id)
                    .fetch_optional(&self.pool)
                    .await?;
                latest.map(|r| r.0).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "workspace {:?} has no uploaded configuration; upload one first",
                        ws.name
                    ))
                })?
            }
        };
        let cv = self.configuration_version(&cv_id).await?;
        if cv.workspace_id != ws.id {
            return Err(not_found("configuration version", &cv_id));
        }
        if cv.status != "uploaded" {
            return Err(StoreError::Conflict(format!(
                "configuration version {cv_id} is {}; a run needs an uploaded one",
                cv.status
            )));
        }
        let id = new_id("run")?;
        let now = self.now();
        let stamps = format!("{{\"plan-queued-at\":{now},\"plan:queued-at\":{now}}}");
        let variables = if input.variables.is_empty() {
            None
        } else {
            let plain: Vec<serde_json::Value> = input
                .variables
                .iter()
                .map(|v| serde_json::json!({ "key": v.key, "value": v.value.expose_secret() }))
                .collect();
            let bytes = serde_json::to_vec(&plain).map_err(|e| StoreError::Invalid(e.to_string()))?;
            Some(self.cipher.seal(&run_variables_context(&id), &bytes)?)
        };
        let options =
            serde_json::to_string(&input.options).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO runs (id, workspace_id, configuration_version_id, status, message, is_destroy, auto_apply, plan_only, plan_status, apply_status, created_by, created_at, status_timestamps, variables_ciphertext, options) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, 'queued', 'pending', $8, $9, $10, $11, $12)")
            .bind(&id)
            .bind(&ws.id)
            .bind(&cv_id)
            .bind(input.message.clone().unwrap_or_else(|| "Queued manually".into()))
            .bind(input.is_destroy)
            .bind(input.auto_apply.unwrap_or(ws.auto_apply))
            .bind(input.plan_only || cv.speculative)
            .bind(created_by)
            .bind(now)
            .bind(stamps)
            .bind(variables)
            .bind(options)
            .execute(&mut *tx)
            .await?;
        self.queue_job(&mut tx, &id, &ws.organization_id, RunPhase::Plan).await?;
        let created = run_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&created)).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The variables a run was created with (`-var`), in the order given.
    pub async fn run_variables(&self, run_id: &str) -> Result<Vec<RunVariable>, StoreError> {
        let row = sqlx::query("SELECT variables_ciphertext FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("run", run_id))?;
        let sealed: Option<Vec<u8>> = row.try_get("variables_ciphertext")?;
        let Some(sealed) = sealed else { return Ok(Vec::new()) };
        let plain = self.cipher.open(&run_variables_context(run_id), &sealed)?;
        let parsed: Vec<serde_json::Value> =
            serde_json::from_slice(&plain).map_err(|_| StoreError::Crypto(crate::CryptoError::Open))?;
        Ok(parsed
            .iter()
            .filter_map(|v| {
                Some(RunVariable {
                    key: v["key"].as_str()?.to_owned(),
                    value: SecretString::new(v["value"].as_str()?.to_owned()),
                })
            })
            .collect())
    }

    /// A run.
    pub async fn run(&self, id: &str) -> Result<Run, StoreError> {
        run_on(&mut *self.pool.acquire().await?, id).await
    }

    /// The runs with these ids (those that exist), in one query: a list page shows each
    /// workspace's latest run without a query per row.
    pub async fn runs_by_ids(&self, ids: &[String]) -> Result<Vec<Run>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        // In chunks well under both backends' parameter limits.
        for chunk in ids.chunks(500) {
            let params = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let mut q = sqlx::query(sql(format!("SELECT {RUN_COLUMNS} FROM runs WHERE id IN ({params})")));
            for id in chunk {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(run(&row)?);
            }
        }
        Ok(out)
    }

    /// Runs of a workspace, newest first; only those in one of `statuses` when given.
    pub async fn list_runs(
        &self,
        scope: RunScope<'_>,
        filter: &RunFilter,
        page: Page,
    ) -> Result<Paged<Run>, StoreError> {
        // Every value bound: `$n` is the n-th of `binds`, then limit and offset.
        let mut binds: Vec<&str> = Vec::new();
        let mut condition = match scope {
            RunScope::Workspace(id) => {
                binds.push(id);
                "r.workspace_id = $1".to_owned()
            }
            RunScope::Organization(id) => {
                binds.push(id);
                "r.workspace_id IN (SELECT w.id FROM workspaces w WHERE w.organization_id = $1)".to_owned()
            }
        };
        if !filter.statuses.is_empty() {
            let any: Vec<String> = filter
                .statuses
                .iter()
                .map(|status| {
                    binds.push(status.as_str());
                    format!("${}", binds.len())
                })
                .collect();
            condition.push_str(&format!(" AND r.status IN ({})", any.join(", ")));
        }
        if !filter.operations.is_empty() {
            let any: Vec<&str> = filter
                .operations
                .iter()
                .map(|op| match op {
                    RunOperation::PlanOnly => "r.plan_only = TRUE",
                    RunOperation::PlanAndApply => "(r.plan_only = FALSE AND r.is_destroy = FALSE)",
                    RunOperation::Destroy => "r.is_destroy = TRUE",
                })
                .collect();
            condition.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        let mut total =
            sqlx::query_as::<_, (i64,)>(sql(format!("SELECT COUNT(*) FROM runs r WHERE {condition}")));
        for b in &binds {
            total = total.bind(*b);
        }
        let total = total.fetch_one(&self.pool).await?;
        let n = binds.len();
        let columns = RUN_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
        let mut rows = sqlx::query(sql(format!(
            "SELECT {columns} FROM runs r WHERE {condition} ORDER BY r.seq DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for b in &binds {
            rows = rows.bind(*b);
        }
        let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(&self.pool).await?;
        let items = rows.iter().map(run).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    /// An organization's runs waiting for a worker and running (TFE's organization capacity).
    pub async fn run_capacity(&self, organization_id: &str) -> Result<(u64, u64), StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT r.status, COUNT(*) FROM runs r JOIN workspaces w ON w.id = r.workspace_id
              WHERE w.organization_id = $1 AND r.status IN ('pending', 'confirmed', 'planning', 'applying')
              GROUP BY r.status",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        let sum = |names: &[&str]| {
            rows.iter().filter(|(s, _)| names.contains(&s.as_str())).map(|(_, n)| count(*n)).sum()
        };
        Ok((sum(&["pending", "confirmed"]), sum(&["planning", "applying"])))
    }

    /// How many runs of the organization have waited longer than this pending one (TFE's
    /// `position-in-queue`, 0 for the next): `None` when it does not wait.
    pub async fn queue_position(&self, run: &Run) -> Result<Option<u64>, StoreError> {
        if run.status != RunStatus::Pending {
            return Ok(None);
        }
        let (ahead,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM runs r JOIN workspaces w ON w.id = r.workspace_id
              WHERE w.organization_id = (SELECT organization_id FROM workspaces WHERE id = $1)
                AND r.status = 'pending' AND r.seq < (SELECT seq FROM runs WHERE id = $2)",
        )
        .bind(&run.workspace_id)
        .bind(&run.id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(count(ahead)))
    }

    /// Runs of an organization waiting for or holding a worker (TFE's run queue), oldest first.
    pub async fn queued_runs(&self, organization_id: &str, page: Page) -> Result<Paged<Run>, StoreError> {
        const ACTIVE: &str = "r.status IN ('pending', 'planning', 'confirmed', 'applying')";
        let total: (i64,) = sqlx::query_as(sql(format!(
            "SELECT COUNT(*) FROM runs r JOIN workspaces w ON w.id = r.workspace_id WHERE w.organization_id = $1 AND {ACTIVE}"
        )))
        .bind(organization_id)
        .fetch_one(&self.pool)
        .await?;
        let columns = RUN_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(sql(format!(
            "SELECT {columns} FROM runs r JOIN workspaces w ON w.id = r.workspace_id WHERE w.organization_id = $1 AND {ACTIVE} ORDER BY r.seq LIMIT $2 OFFSET $3"
        )))
        .bind(organization_id)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(run).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    fn wrong_state(run: &Run, action: &str, allowed: &str) -> StoreError {
        StoreError::Conflict(format!(
            "run {} is {}; it can be {action} only when {allowed}",
            run.id, run.status
        ))
    }

    /// Move a planned run on (confirmed or discarded) in a transaction, from `planned` only.
    async fn leave_planned(
        &self,
        id: &str,
        to: RunStatus,
        apply: PhaseStatus,
        verb: &str,
    ) -> Result<(Run, Transaction<'_, Any>), StoreError> {
        let current = self.run(id).await?;
        if !matches!(current.status, RunStatus::Planned | RunStatus::PlannedAndSaved) {
            return Err(Self::wrong_state(&current, verb, "planned with changes"));
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE runs SET status = $2 WHERE id = $1 AND status = $3")
            .bind(id)
            .bind(to.as_str())
            .bind(current.status.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("run {id} changed state; read it again")));
        }
        let t = Transition { status: to, plan: None, apply: Some(apply), error: None, has_changes: None };
        self.transition(&mut tx, id, t).await?;
        Ok((current, tx))
    }

    /// Confirm a planned run: queue its apply. `audit` is recorded in the same transaction.
    pub async fn apply_run(&self, id: &str, audit: &AuditInput) -> Result<Run, StoreError> {
        let (current, mut tx) =
            self.leave_planned(id, RunStatus::Confirmed, PhaseStatus::Queued, "applied").await?;
        let org: (String,) = sqlx::query_as("SELECT organization_id FROM workspaces WHERE id = $1")
            .bind(&current.workspace_id)
            .fetch_one(&mut *tx)
            .await?;
        self.queue_job(&mut tx, id, &org.0, RunPhase::Apply).await?;
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        self.run_changed(id);
        self.run(id).await
    }

    /// Discard a planned run. `audit` is recorded in the same transaction.
    pub async fn discard_run(&self, id: &str, audit: &AuditInput) -> Result<Run, StoreError> {
        let (_, mut tx) =
            self.leave_planned(id, RunStatus::Discarded, PhaseStatus::Unreachable, "discarded").await?;
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        self.run_changed(id);
        self.run(id).await
    }

    /// Cancel a run: at once when it waits; by asking its agent when a phase runs (the run
    /// becomes `canceled` when the agent reports the phase stopped). `audit` is recorded in the
    /// same transaction as the cancel (or the request to the agent).
    pub async fn cancel_run(&self, id: &str, reason: &str, audit: &AuditInput) -> Result<Run, StoreError> {
        let current = self.run(id).await?;
        match current.status {
            RunStatus::Pending | RunStatus::Confirmed | RunStatus::Planned | RunStatus::PlannedAndSaved => {
                let mut tx = self.pool.begin().await?;
                // Only from the status read above: a run that moved on meanwhile (claimed and
                // planned, or its apply finished) is not canceled over what it became. The
                // write also holds the run's row (PostgreSQL) or the database (SQLite) until
                // the commit, so nothing moves it between this check and the cancel.
                let held = sqlx::query("UPDATE runs SET status = status WHERE id = $1 AND status = $2")
                    .bind(id)
                    .bind(current.status.as_str())
                    .execute(&mut *tx)
                    .await?;
                if held.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!("run {id} changed state; read it again")));
                }
                let done = sqlx::query("UPDATE jobs SET status = 'dropped', finished_at = $2 WHERE run_id = $1 AND status = 'queued'")
                    .bind(id)
                    .bind(self.now())
                    .execute(&mut *tx)
                    .await?;
                let _ = done;
                let running: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM jobs WHERE run_id = $1 AND status = 'running'")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if running.is_some() {
                    // Claimed a moment ago: the agent stops it.
                    sqlx::query(
                        "UPDATE jobs SET cancel_requested = TRUE WHERE run_id = $1 AND status = 'running'",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    let (plan, apply) = match current.status {
                        RunStatus::Pending => (Some(PhaseStatus::Canceled), Some(PhaseStatus::Unreachable)),
                        _ => (None, Some(PhaseStatus::Canceled)),
                    };
                    self.transition(
                        &mut tx,
                        id,
                        Transition {
                            status: RunStatus::Canceled,
                            plan,
                            apply,
                            error: Some(reason),
                            has_changes: None,
                        },
                    )
                    .await?;
                }
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
            }
            RunStatus::Planning | RunStatus::Applying => {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "UPDATE jobs SET cancel_requested = TRUE WHERE run_id = $1 AND status = 'running'",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE runs SET error_message = COALESCE(error_message, $2) WHERE id = $1")
                    .bind(id)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                self.audit_in(&mut tx, audit).await?;
                tx.commit().await?;
            }
            _ => {
                return Err(Self::wrong_state(
                    &current,
                    "canceled",
                    "pending, planning, planned, confirmed or applying",
                ));
            }
        }
        self.run_changed(id);
        self.run(id).await
    }

    /// Claim the oldest job that can run now and that `claimant` may run (the rules are in
    /// `claims.rs`: its token's scope, its Terraform versions). The run moves to planning or
    /// applying, with its Terraform version pinned. Also records that the claimant asked.
    pub async fn claim_job(&self, claimant: &Claimant<'_>, lease_s: i64) -> Result<Option<Job>, StoreError> {
        self.agent_seen(claimant).await?;
        if claimant.terraform_versions.is_empty() {
            return Ok(None);
        }
        // Candidates can all go to other agents between the query and the claim (several
        // agents see the same oldest jobs); look again rather than report an empty queue,
        // which would make the agent wait for the next poll with jobs still queued.
        for _ in 0..8 {
            match self.claim_one_of_queued(claimant, lease_s).await? {
                Claim::Claimed(job) => {
                    self.run_changed(&job.run_id);
                    return Ok(Some(*job));
                }
                Claim::Empty => return Ok(None),
                Claim::AllTaken => continue,
            }
        }
        Ok(None)
    }

    async fn claim_one_of_queued(&self, claimant: &Claimant<'_>, lease_s: i64) -> Result<Claim, StoreError> {
        let agent = claimant.agent;
        let (scope, scope_value) = scope_condition(&claimant.scope);
        let versions = version_condition(claimant.terraform_versions, 2);
        // Plan-only (speculative) runs change nothing: like TFE, they neither wait for the
        // workspace nor hold it.
        let mut query = sqlx::query_as(sql(format!(
            "SELECT j.id, j.run_id, r.workspace_id, j.phase, CASE WHEN r.plan_only THEN 'yes' ELSE 'no' END,
                    COALESCE(r.terraform_version, w.terraform_version)
               FROM jobs j JOIN runs r ON r.id = j.run_id JOIN workspaces w ON w.id = r.workspace_id
             WHERE j.status = 'queued' AND {scope} AND {versions}
               AND (r.plan_only OR ((w.active_run_id IS NULL OR w.active_run_id = j.run_id)
                    AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.workspace_id = r.workspace_id AND o.status = 'pending' AND NOT o.plan_only AND o.seq < r.seq)))
             ORDER BY j.seq LIMIT 8"
        )))
        .bind(scope_value);
        for v in claimant.terraform_versions {
            query = query.bind(v.to_string());
        }
        let candidates: Vec<(String, String, String, String, String, String)> =
            query.fetch_all(&self.pool).await?;
        if candidates.is_empty() {
            return Ok(Claim::Empty);
        }
        for (job_id, run_id, workspace_id, phase, plan_only, requested) in candidates {
            // The exact version this claimant runs it with (the query only offers jobs it has).
            let Some(version) = resolve(&requested, claimant.terraform_versions) else { continue };
            let mut tx = self.pool.begin().await?;
            // Take the workspace first: on PostgreSQL the row lock orders concurrent claims,
            // and a write first keeps SQLite from upgrading a read transaction.
            if plan_only == "no" {
                let took = sqlx::query("UPDATE workspaces SET active_run_id = $2 WHERE id = $1 AND (active_run_id IS NULL OR active_run_id = $2)")
                    .bind(&workspace_id)
                    .bind(&run_id)
                    .execute(&mut *tx)
                    .await?;
                if took.rows_affected() == 0 {
                    tx.rollback().await?;
                    continue;
                }
            }
            let now = self.now();
            let claimed = sqlx::query("UPDATE jobs SET status = 'running', agent = $2, lease_expires_at = $3 WHERE id = $1 AND status = 'queued'")
                .bind(&job_id)
                .bind(agent)
                .bind(now + lease_s)
                .execute(&mut *tx)
                .await?;
            if claimed.rows_affected() == 0 {
                tx.rollback().await?;
                continue;
            }
            sqlx::query("UPDATE runs SET terraform_version = $2 WHERE id = $1 AND terraform_version IS NULL")
                .bind(&run_id)
                .bind(&version)
                .execute(&mut *tx)
                .await?;
            let (status, plan, apply) = if phase == "plan" {
                (RunStatus::Planning, Some(PhaseStatus::Running), None)
            } else {
                (RunStatus::Applying, None, Some(PhaseStatus::Running))
            };
            self.transition(
                &mut tx,
                &run_id,
                Transition { status, plan, apply, error: None, has_changes: None },
            )
            .await?;
            tx.commit().await?;
            return Ok(Claim::Claimed(Box::new(self.job(&job_id).await?)));
        }
        Ok(Claim::AllTaken)
    }

    /// A job.
    pub async fn job(&self, id: &str) -> Result<Job, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("job", id))?;
        Ok(job(&row)?)
    }

    /// A job and the names a token for it carries, in one query.
    pub async fn job_scope(&self, id: &str) -> Result<JobScope, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {JOB_SCOPE_COLUMNS} FROM jobs j {JOB_SCOPE_JOINS} WHERE j.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("job", id))?;
        Ok(job_scope(&row)?)
    }

    /// The scope of job `job_id` if `presented` is that job's token, unexpired, and the job
    /// runs: authentication and the job's names in one query, for the mint endpoint. `None`
    /// for anything else (the caller then finds out why, the slow way).
    pub async fn job_token_scope(
        &self,
        presented: &str,
        job_id: &str,
    ) -> Result<Option<JobScope>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {JOB_SCOPE_COLUMNS}, t.expires_at AS token_expires_at
               FROM tokens t JOIN jobs j ON j.id = t.job_id {JOB_SCOPE_JOINS}
              WHERE t.hash = $1 AND t.kind = 'job' AND j.id = $2 AND j.status = 'running'"
        )))
        .bind(token_hash(presented))
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires: Option<i64> = row.try_get("token_expires_at")?;
        if expires.is_some_and(|e| e <= self.now()) {
            return Ok(None);
        }
        Ok(Some(job_scope(&row)?))
    }

    /// Jobs of a run, oldest first.
    pub async fn jobs_of_run(&self, run_id: &str) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(sql(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = $1 ORDER BY seq")))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(job).collect::<Result<_, _>>()?)
    }

    /// Renew a running job's lease; returns whether a cancel was asked for.
    pub async fn heartbeat(&self, job_id: &str, lease_s: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE jobs SET lease_expires_at = $2 WHERE id = $1 AND status = 'running'")
            .bind(job_id)
            .bind(self.now() + lease_s)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("job {job_id} is no longer running")));
        }
        Ok(self.job(job_id).await?.cancel_requested)
    }

    /// Record how a running job ended and move its run on. Revokes the job's tokens.
    pub async fn finish_job(&self, job_id: &str, outcome: &JobOutcome) -> Result<Run, StoreError> {
        let job = self.job(job_id).await?;
        let run_now = self.run(&job.run_id).await?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'done', finished_at = $2 WHERE id = $1 AND status = 'running'",
        )
        .bind(job_id)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("job {job_id} is no longer running")));
        }
        sqlx::query("DELETE FROM tokens WHERE job_id = $1").bind(job_id).execute(&mut *tx).await?;
        let outcome = if job.cancel_requested && !matches!(outcome, JobOutcome::Succeeded { .. }) {
            &JobOutcome::Canceled
        } else {
            outcome
        };
        let t = match (job.phase, outcome) {
            (RunPhase::Plan, JobOutcome::Succeeded { has_changes }) if job.cancel_requested => Transition {
                status: RunStatus::Canceled,
                plan: Some(PhaseStatus::Finished),
                apply: Some(PhaseStatus::Unreachable),
                error: None,
                has_changes: Some(*has_changes),
            },
            (RunPhase::Plan, JobOutcome::Succeeded { has_changes }) => {
                let status = if !has_changes || run_now.plan_only {
                    RunStatus::PlannedAndFinished
                } else if run_now.options.save_plan {
                    RunStatus::PlannedAndSaved
                } else if run_now.auto_apply {
                    RunStatus::Confirmed
                } else {
                    RunStatus::Planned
                };
                let apply = match status {
                    RunStatus::PlannedAndFinished => PhaseStatus::Unreachable,
                    RunStatus::Confirmed => PhaseStatus::Queued,
                    _ => PhaseStatus::Pending,
                };
                Transition {
                    status,
                    plan: Some(PhaseStatus::Finished),
                    apply: Some(apply),
                    error: None,
                    has_changes: Some(*has_changes),
                }
            }
            (RunPhase::Plan, JobOutcome::Failed(reason)) => Transition {
                status: RunStatus::Errored,
                plan: Some(PhaseStatus::Errored),
                apply: Some(PhaseStatus::Unreachable),
                error: Some(reason),
                has_changes: None,
            },
            (RunPhase::Plan, JobOutcome::Canceled) => Transition {
                status: RunStatus::Canceled,
                plan: Some(PhaseStatus::Canceled),
                apply: Some(PhaseStatus::Unreachable),
                error: None,
                has_changes: None,
            },
            (RunPhase::Apply, JobOutcome::Succeeded { .. }) => Transition {
                status: RunStatus::Applied,
                plan: None,
                apply: Some(PhaseStatus::Finished),
                error: None,
                has_changes: None,
            },
            (RunPhase::Apply, JobOutcome::Failed(reason)) => Transition {
                status: RunStatus::Errored,
                plan: None,
                apply: Some(PhaseStatus::Errored),
                error: Some(reason),
                has_changes: None,
            },
            (RunPhase::Apply, JobOutcome::Canceled) => Transition {
                status: RunStatus::Canceled,
                plan: None,
                apply: Some(PhaseStatus::Canceled),
                error: None,
                has_changes: None,
            },
        };
        let queue_apply = t.status == RunStatus::Confirmed;
        self.transition(&mut tx, &job.run_id, t).await?;
        if queue_apply {
            self.queue_job(&mut tx, &job.run_id, &job.organization_id, RunPhase::Apply).await?;
        }
        tx.commit().await?;
        self.run_changed(&job.run_id);
        self.run(&job.run_id).await
    }

    /// Error every running job whose lease ran out (its agent died or lost the server).
    pub async fn expire_jobs(&self) -> Result<Vec<Run>, StoreError> {
        let expired: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, agent FROM jobs WHERE status = 'running' AND lease_expires_at < $1 ORDER BY seq",
        )
        .bind(self.now())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for (id, agent) in expired {
            let reason = format!(
                "the agent running this phase ({}) stopped reporting: it was killed, or lost its connection to tern",
                agent.as_deref().unwrap_or("unknown")
            );
            match self.finish_job(&id, &JobOutcome::Failed(reason)).await {
                Ok(run) => out.push(run),
                Err(StoreError::Conflict(_)) => {} // finished meanwhile
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Error every running job of `agent` (it restarted, so it runs none of them any more),
    /// within `organization_id` when given.
    pub async fn abandon_agent_jobs(
        &self,
        agent: &str,
        organization_id: Option<&str>,
        reason: &str,
    ) -> Result<Vec<Run>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM jobs WHERE status = 'running' AND agent = $1 AND ($2 = '' OR organization_id = $2) ORDER BY seq",
        )
        .bind(agent)
        .bind(organization_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for (id,) in ids {
            match self.finish_job(&id, &JobOutcome::Failed(reason.to_owned())).await {
                Ok(run) => out.push(run),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Append to a phase's log.
    pub async fn append_log(&self, run_id: &str, phase: RunPhase, data: &[u8]) -> Result<(), StoreError> {
        if data.is_empty() {
            return Ok(());
        }
        // The previous chunk's end is this one's start. Only the phase's one runner appends, in
        // order, but a retried request can overlap one the server still handles: on PostgreSQL
        // (where two such inserts would read the same end) appends to one log take turns under
        // a transaction-scoped advisory lock; SQLite has one writer at a time, and a single
        // statement needs no transaction of its own (appends come every 100 ms per phase).
        const INSERT: &str = "INSERT INTO log_chunks (run_id, phase, data, start_at) VALUES ($1, $2, $3, COALESCE(\
             (SELECT start_at + LENGTH(data) FROM log_chunks WHERE run_id = $1 AND phase = $2 ORDER BY seq DESC LIMIT 1), 0))";
        let insert = sqlx::query(INSERT).bind(run_id).bind(phase.as_str()).bind(data);
        if self.backend == crate::Backend::Postgres {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::TEXT")
                .bind(format!("log:{run_id}:{}", phase.as_str()))
                .execute(&mut *tx)
                .await?;
            insert.execute(&mut *tx).await?;
            tx.commit().await?;
        } else {
            insert.execute(&self.pool).await?;
        }
        self.run_changed(run_id);
        Ok(())
    }

    /// A phase's log so far.
    pub async fn log(&self, run_id: &str, phase: RunPhase) -> Result<Vec<u8>, StoreError> {
        let chunks: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT data FROM log_chunks WHERE run_id = $1 AND phase = $2 ORDER BY seq")
                .bind(run_id)
                .bind(phase.as_str())
                .fetch_all(&self.pool)
                .await?;
        Ok(chunks.into_iter().flat_map(|c| c.0).collect())
    }

    /// At most `limit` bytes of a phase's log from byte `offset`, and the log's length so far.
    /// Reads only the chunks it returns (and the one the offset falls in).
    pub async fn log_range(
        &self,
        run_id: &str,
        phase: RunPhase,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<u8>, u64), StoreError> {
        let (length,): (i64,) = sqlx::query_as(
            "SELECT COALESCE((SELECT start_at + LENGTH(data) FROM log_chunks WHERE run_id = $1 AND phase = $2 \
             ORDER BY seq DESC LIMIT 1), 0)",
        )
        .bind(run_id)
        .bind(phase.as_str())
        .fetch_one(&self.pool)
        .await?;
        let length = u64::try_from(length).unwrap_or(0);
        if offset >= length || limit == 0 {
            return Ok((Vec::new(), length));
        }
        let from = i64::try_from(offset).unwrap_or(i64::MAX);
        let to = i64::try_from(offset.saturating_add(limit)).unwrap_or(i64::MAX);
        let chunks: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT start_at, data FROM log_chunks WHERE run_id = $1 AND phase = $2 AND start_at >= \
             (SELECT COALESCE(MAX(start_at), 0) FROM log_chunks WHERE run_id = $1 AND phase = $2 AND start_at <= $3) \
             AND start_at < $4 ORDER BY seq",
        )
        .bind(run_id)
        .bind(phase.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for (start, data) in chunks {
            let start = u64::try_from(start).unwrap_or(0);
            let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(usize::MAX).min(data.len());
            out.extend_from_slice(&data[skip..]);
        }
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok((out, length))
    }

    /// The chunks of a phase's log after chunk `after` (0: from the start), at most `max`, each
    /// with its number: a follower asks again from the last one it got, and never sees a chunk
    /// twice or misses one.
    pub async fn log_after(
        &self,
        run_id: &str,
        phase: RunPhase,
        after: i64,
        max: u32,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, data FROM log_chunks WHERE run_id = $1 AND phase = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(run_id)
        .bind(phase.as_str())
        .bind(after)
        .bind(i64::from(max))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The end of a phase's log: at most about `max` bytes (whole chunks, from the one the cut
    /// falls in), and the number of the last chunk read — one read, so a follower resumes
    /// exactly after what is shown, whatever the log's size.
    pub async fn log_tail(
        &self,
        run_id: &str,
        phase: RunPhase,
        max: u64,
    ) -> Result<(Vec<u8>, i64), StoreError> {
        let last: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, start_at + LENGTH(data) FROM log_chunks WHERE run_id = $1 AND phase = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(run_id)
        .bind(phase.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((last, length)) = last else { return Ok((Vec::new(), 0)) };
        let from = length.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX)).max(0);
        let chunks: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT start_at, data FROM log_chunks WHERE run_id = $1 AND phase = $2 AND start_at >= \
             (SELECT COALESCE(MAX(start_at), 0) FROM log_chunks WHERE run_id = $1 AND phase = $2 AND start_at <= $3) \
             AND seq <= $4 ORDER BY seq",
        )
        .bind(run_id)
        .bind(phase.as_str())
        .bind(from)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for (start, data) in chunks {
            // A chunk after the cut is whole; the one the cut falls in loses its head.
            let skip =
                usize::try_from(from.saturating_sub(start).max(0)).unwrap_or(usize::MAX).min(data.len());
            out.extend_from_slice(&data[skip..]);
        }
        Ok((out, last))
    }

    /// The number of a phase's last log chunk (0: none yet).
    pub async fn log_last_chunk(&self, run_id: &str, phase: RunPhase) -> Result<i64, StoreError> {
        let (last,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM log_chunks WHERE run_id = $1 AND phase = $2")
                .bind(run_id)
                .bind(phase.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok(last)
    }

    /// Keep the plan file of a run's plan phase, for its apply phase.
    /// Sealed: a saved plan holds the run's variable values, sensitive ones included.
    pub async fn set_plan_file(&self, run_id: &str, plan: &[u8]) -> Result<(), StoreError> {
        let sealed = self.cipher.seal(&plan_context(run_id), plan)?;
        sqlx::query("UPDATE runs SET plan_file = $2, plan_file_sealed = 1 WHERE id = $1")
            .bind(run_id)
            .bind(&sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The saved plan file of a run.
    pub async fn plan_file(&self, run_id: &str) -> Result<Vec<u8>, StoreError> {
        let row: Option<(Option<Vec<u8>>, i64)> =
            sqlx::query_as("SELECT plan_file, CAST(plan_file_sealed AS BIGINT) FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((Some(plan), 0)) => Ok(plan),
            Some((Some(sealed), _)) => Ok(self.cipher.open(&plan_context(run_id), &sealed)?.to_vec()),
            _ => Err(not_found("plan file of run", run_id)),
        }
    }
}

impl Store {
    /// Keep a plan's JSON (`terraform show -json`) and the resource counts read from it.
    /// Sealed: it holds every planned value, sensitive ones included.
    pub async fn set_plan_json(
        &self,
        run_id: &str,
        plan_json: &[u8],
        counts: &ResourceCounts,
    ) -> Result<(), StoreError> {
        let sealed = self.cipher.seal(&plan_json_context(run_id), plan_json)?;
        let counts = serde_json::to_string(counts).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let done = sqlx::query("UPDATE runs SET plan_json = $2, resource_counts = $3 WHERE id = $1")
            .bind(run_id)
            .bind(&sealed)
            .bind(&counts)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("run", run_id));
        }
        Ok(())
    }

    /// A run's plan JSON, if its plan phase produced one.
    pub async fn plan_json(&self, run_id: &str) -> Result<Vec<u8>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as("SELECT plan_json FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some((Some(sealed),)) => Ok(self.cipher.open(&plan_json_context(run_id), &sealed)?.to_vec()),
            _ => Err(not_found("JSON plan of run", run_id)),
        }
    }
}

impl Store {
    /// Keep the redacted, structured plan (sealed like the JSON plan, for uniformity: it holds
    /// every non-sensitive planned value).
    pub async fn set_plan_json_redacted(&self, run_id: &str, doc: &[u8]) -> Result<(), StoreError> {
        let sealed = self.cipher.seal(&plan_json_redacted_context(run_id), doc)?;
        let done = sqlx::query("UPDATE runs SET plan_json_redacted = $2 WHERE id = $1")
            .bind(run_id)
            .bind(&sealed)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("run", run_id));
        }
        Ok(())
    }

    /// A run's redacted, structured plan, if its plan phase produced one.
    pub async fn plan_json_redacted(&self, run_id: &str) -> Result<Vec<u8>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT plan_json_redacted FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((Some(sealed),)) => {
                Ok(self.cipher.open(&plan_json_redacted_context(run_id), &sealed)?.to_vec())
            }
            _ => Err(not_found("redacted JSON plan of run", run_id)),
        }
    }
}

fn plan_json_redacted_context(run_id: &str) -> String {
    format!("redacted plan JSON of run {run_id}")
}

/// What a plan JSON's ciphertext is bound to: its run.
fn plan_json_context(run_id: &str) -> String {
    format!("plan JSON of run {run_id}")
}

/// What a saved plan's ciphertext is bound to: its run.
pub(crate) fn plan_context(run_id: &str) -> String {
    format!("plan file of run {run_id}")
}

/// A run, read on `conn` (a transaction's, to see what it wrote).
async fn run_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Run, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("run", id))?;
    Ok(run(&row)?)
}
