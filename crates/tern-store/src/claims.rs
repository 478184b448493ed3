//! Who runs what: the one place that decides which queued jobs a runner may claim, and that
//! explains, with the same rules, why a queued run is still waiting.
//!
//! - A token of an agent pool claims the jobs of `agent` workspaces whose pool is its pool.
//! - `tern serve`'s own workers (their token has no organization) claim the jobs of `remote`
//!   workspaces of every organization, and never an `agent` workspace's.
//! - An organization-wide agent token (made before pools existed) claims the jobs of its
//!   organization's `remote` workspaces, as it always did; never an `agent` workspace's.
//! - Nothing claims a `local` workspace's jobs (such a workspace gets no runs; one switched to
//!   `local` after queueing waits until canceled).
//! - A runner claims only jobs whose Terraform version it has: the run's pinned version, or
//!   the workspace's `terraform-version` (`latest` needs any version at all). The version is
//!   pinned to the claimant's exact one when it claims the run's first phase, so the apply uses
//!   the Terraform that wrote the saved plan.
//!
//! [`ClaimScope::of`] maps a token to its scope; [`scope_condition`] turns a scope into the
//! claim query's condition; [`Store::run_waiting_reason`] applies the same conditions to the
//! runners seen recently.

use tern_types::{TerraformVersion, Version};

use crate::{
    AGENT_SEEN_WINDOW_S, ClaimScope, Claimant, ExecutionMode, Run, RunStatus, Store, StoreError, Workspace,
    sql,
};

/// The condition, over `w` (workspaces), of the jobs `scope` may claim, with its one value to
/// bind as `$1`.
pub(crate) fn scope_condition(scope: &ClaimScope) -> (&'static str, &str) {
    match scope {
        ClaimScope::ServerWorkers => ("w.execution_mode = 'remote' AND $1 = $1", ""),
        ClaimScope::Organization(org) => ("w.execution_mode = 'remote' AND w.organization_id = $1", org),
        ClaimScope::Pool { pool_id, .. } => ("w.execution_mode = 'agent' AND w.agent_pool_id = $1", pool_id),
    }
}

/// The condition on a job's Terraform version (the run's pinned one, else the workspace's)
/// for a runner with `versions`, binding them from `$first` on.
pub(crate) fn version_condition(versions: &[Version], first: usize) -> String {
    let placeholders: Vec<String> = (0..versions.len()).map(|i| format!(", ${}", first + i)).collect();
    format!("COALESCE(r.terraform_version, w.terraform_version) IN ('latest'{})", placeholders.concat())
}

/// The exact version a claimant runs a job with that asks for `requested` (`latest` or
/// exact), as its runner will pick it.
pub(crate) fn resolve(requested: &str, versions: &[Version]) -> Option<String> {
    let requested = TerraformVersion::parse(requested).ok()?;
    requested.pick(versions).map(Version::to_string)
}

/// How often a runner's presence is written at most (its polls otherwise only read).
const PRESENCE_WRITE_EVERY_S: i64 = 15;

fn joined(versions: &[Version]) -> String {
    versions.iter().map(Version::to_string).collect::<Vec<_>>().join(",")
}

impl Store {
    /// Record that `claimant` asked for work now, with its versions: what
    /// [`Store::run_waiting_reason`] and [`crate::AgentPool::agent_count`] read.
    pub(crate) async fn agent_seen(&self, claimant: &Claimant<'_>) -> Result<(), StoreError> {
        let now = self.now();
        let versions = joined(claimant.terraform_versions);
        let current: Option<(i64, String)> = sqlx::query_as(
            "SELECT last_ping_at, terraform_versions FROM agents WHERE token_id = $1 AND name = $2",
        )
        .bind(&claimant.token.id)
        .bind(claimant.agent)
        .fetch_optional(&self.pool)
        .await?;
        if current.is_some_and(|(at, v)| at > now - PRESENCE_WRITE_EVERY_S && v == versions) {
            return Ok(());
        }
        let pool = match &claimant.scope {
            ClaimScope::Pool { pool_id, .. } => Some(pool_id.as_str()),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO agents (token_id, name, organization_id, agent_pool_id, terraform_versions, last_ping_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (token_id, name) DO UPDATE SET terraform_versions = excluded.terraform_versions, last_ping_at = excluded.last_ping_at",
        )
        .bind(&claimant.token.id)
        .bind(claimant.agent)
        .bind(claimant.scope.organization_id())
        .bind(pool)
        .bind(versions)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Why a queued run is not running yet, when tern can tell: another run holds the
    /// workspace, the workspace runs locally, no runner that may claim it has asked for work
    /// lately, or none of those has the Terraform version it needs. `None` when it is simply
    /// next in line (or not waiting at all).
    pub async fn run_waiting_reason(&self, run: &Run) -> Result<Option<String>, StoreError> {
        Ok(self.run_waiting_reasons(std::slice::from_ref(run)).await?.remove(&run.id))
    }

    /// [`Store::run_waiting_reason`] for a page of runs, by run id: one query for which of them
    /// still have a queued job, then the workspace and its runners once per workspace, however
    /// many runs of it the page lists.
    pub async fn run_waiting_reasons(
        &self,
        runs: &[Run],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut out = std::collections::HashMap::new();
        let waiting: Vec<&Run> =
            runs.iter().filter(|r| matches!(r.status, RunStatus::Pending | RunStatus::Confirmed)).collect();
        if waiting.is_empty() {
            return Ok(out);
        }
        let params: Vec<String> = (1..=waiting.len()).map(|i| format!("${i}")).collect();
        let query = format!(
            "SELECT DISTINCT run_id FROM jobs WHERE status = 'queued' AND run_id IN ({})",
            params.join(", ")
        );
        let mut queued = sqlx::query_as::<_, (String,)>(sql(query));
        for run in &waiting {
            queued = queued.bind(&run.id);
        }
        let queued: std::collections::HashSet<String> =
            queued.fetch_all(&self.pool).await?.into_iter().map(|(id,)| id).collect();
        let mut runners: std::collections::HashMap<String, (Workspace, Runners)> =
            std::collections::HashMap::new();
        for run in waiting.into_iter().filter(|r| queued.contains(&r.id)) {
            if !runners.contains_key(&run.workspace_id) {
                let ws = self.workspace(&run.workspace_id).await?;
                let seen = self.runners_of(&ws).await?;
                runners.insert(run.workspace_id.clone(), (ws, seen));
            }
            if let Some((ws, seen)) = runners.get(&run.workspace_id)
                && let Some(reason) = waiting_reason(run, ws, seen)
            {
                out.insert(run.id.clone(), reason);
            }
        }
        Ok(out)
    }

    /// Who may claim `ws`'s runs (by the rules of `scope_condition`) and the Terraform versions
    /// those seen lately have.
    async fn runners_of(&self, ws: &Workspace) -> Result<Runners, StoreError> {
        let (condition, value, pool) = match (ws.execution_mode, &ws.agent_pool_id) {
            (ExecutionMode::Local, _) => return Ok(Runners::Local),
            (ExecutionMode::Agent, None) => return Ok(Runners::AgentWithoutPool),
            (ExecutionMode::Agent, Some(pool_id)) => {
                ("agent_pool_id = $1", pool_id.clone(), Some(self.agent_pool(pool_id).await?))
            }
            (ExecutionMode::Remote, _) => (
                "agent_pool_id IS NULL AND (organization_id IS NULL OR organization_id = $1)",
                ws.organization_id.clone(),
                None,
            ),
        };
        let seen: Vec<(String,)> = sqlx::query_as(sql(format!(
            "SELECT terraform_versions FROM agents WHERE {condition} AND last_ping_at >= $2"
        )))
        .bind(value)
        .bind(self.now() - AGENT_SEEN_WINDOW_S)
        .fetch_all(&self.pool)
        .await?;
        let mut available: Vec<Version> = seen
            .iter()
            .flat_map(|(v,)| v.split(',').filter_map(|v| Version::parse(v).ok()).collect::<Vec<_>>())
            .collect();
        available.sort();
        available.dedup();
        Ok(Runners::Seen { pool, any: !seen.is_empty(), available })
    }
}

/// The runners that may claim a workspace's runs, as [`Store::run_waiting_reasons`] sees them.
enum Runners {
    /// Local execution: none.
    Local,
    /// Agent execution without a pool (made by an earlier tern): none.
    AgentWithoutPool,
    /// The pool (agent execution) or the server's workers; whether any asked for work lately,
    /// and the Terraform versions those have.
    Seen { pool: Option<crate::AgentPool>, any: bool, available: Vec<Version> },
}

/// Why `run` (with a queued job) waits, given its workspace and who may claim it.
fn waiting_reason(run: &Run, ws: &Workspace, runners: &Runners) -> Option<String> {
    if !run.plan_only
        && let Some(other) = ws.active_run_id.as_deref().filter(|other| *other != run.id)
    {
        return Some(format!("waiting for run {other} to finish: the runs of a workspace take turns"));
    }
    let (pool, any, available) = match runners {
        Runners::Local => {
            return Some(format!(
                "workspace {:?} uses local execution: no runner takes its runs; set execution-mode to \"remote\" or \"agent\", or cancel this run",
                ws.name
            ));
        }
        Runners::AgentWithoutPool => {
            return Some(format!(
                "workspace {:?} is in agent mode without an agent pool (made by an earlier tern): set its agent-pool-id, or execution-mode \"remote\"",
                ws.name
            ));
        }
        Runners::Seen { pool, any, available } => (pool, *any, available),
    };
    let requested = run.terraform_version.clone().unwrap_or_else(|| ws.terraform_version.to_string());
    let who = match pool {
        Some(p) => format!("an agent in pool {:?} ({})", p.name, p.id),
        None => "a worker".to_owned(),
    };
    if !any {
        let nobody = match pool {
            Some(_) => "no agent of this pool has asked for work".to_owned(),
            None => format!(
                "neither tern serve's own workers nor an agent of organization {:?} has asked for work",
                ws.organization
            ),
        };
        return Some(format!("waiting for {who}: {nobody} in the last {AGENT_SEEN_WINDOW_S} s"));
    }
    if resolve(&requested, available).is_some() {
        return None;
    }
    let have = if available.is_empty() {
        "no Terraform at all".to_owned()
    } else {
        available.iter().rev().map(Version::to_string).collect::<Vec<_>>().join(", ")
    };
    let whom = if pool.is_some() { "the agents of this pool" } else { "the workers and agents" };
    Some(format!(
        "waiting for {who} with Terraform {requested}: {whom} seen in the last {AGENT_SEEN_WINDOW_S} s have {have}"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn versions_resolve_as_the_runner_picks() {
        let have = [Version::parse("1.0.3").unwrap(), Version::parse("1.11.4").unwrap()];
        assert_eq!(resolve("latest", &have).as_deref(), Some("1.11.4"));
        assert_eq!(resolve("1.0.3", &have).as_deref(), Some("1.0.3"));
        assert_eq!(resolve("1.5.0", &have), None);
        assert_eq!(resolve("latest", &[]), None);
        assert_eq!(
            version_condition(&have, 3),
            "COALESCE(r.terraform_version, w.terraform_version) IN ('latest', $3, $4)"
        );
    }
}
