//! Agent pools (TFE's): named groups of agents within an organization. A workspace in `agent`
//! execution mode names one; the pool's tokens ([`Store::create_pool_token`]) are the only
//! ones that claim its jobs (the rules are in `claims.rs`).

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::crypto::new_id;
use crate::{AGENT_SEEN_WINDOW_S, AgentPool, Page, Paged, Store, StoreError, count, not_found, sql};

const POOL_COLUMNS: &str = "a.id, a.organization_id, o.name AS organization, a.name, a.created_at
    FROM agent_pools a JOIN organizations o ON o.id = a.organization_id";

fn pool(row: &AnyRow) -> Result<AgentPool, sqlx::Error> {
    Ok(AgentPool {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        organization: row.try_get("organization")?,
        name: row.try_get("name")?,
        workspace_ids: Vec::new(),
        agent_count: 0,
        created_at: row.try_get("created_at")?,
    })
}

/// A pool name: 1 to 90 printable characters, no space at either end. It is shown to people
/// (and quoted in messages), never put in a token.
fn check_name(name: &str) -> Result<&str, StoreError> {
    let len = name.chars().count();
    if len == 0 || len > 90 || name.chars().any(char::is_control) || name.trim() != name {
        return Err(StoreError::Invalid(format!(
            "agent pool name {name:?} must be 1 to 90 printable characters, without spaces at either end"
        )));
    }
    Ok(name)
}

impl Store {
    /// Create an agent pool in an organization.
    pub async fn create_agent_pool(
        &self,
        organization_id: &str,
        name: &str,
    ) -> Result<AgentPool, StoreError> {
        let name = check_name(name)?;
        let id = new_id("apool")?;
        sqlx::query(
            "INSERT INTO agent_pools (id, organization_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(organization_id)
        .bind(name)
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("agent pool {name:?} already exists in this organization"))
            }
            other => other,
        })?;
        self.agent_pool(&id).await
    }

    /// An agent pool, with the workspaces that use it and how many of its agents are present.
    pub async fn agent_pool(&self, id: &str) -> Result<AgentPool, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {POOL_COLUMNS} WHERE a.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("agent pool", id))?;
        self.decorate(pool(&row)?).await
    }

    async fn decorate(&self, mut p: AgentPool) -> Result<AgentPool, StoreError> {
        let workspaces: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM workspaces WHERE agent_pool_id = $1 ORDER BY name")
                .bind(&p.id)
                .fetch_all(&self.pool)
                .await?;
        p.workspace_ids = workspaces.into_iter().map(|w| w.0).collect();
        let agents: (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM agents WHERE agent_pool_id = $1 AND last_ping_at >= $2")
                .bind(&p.id)
                .bind(self.now() - AGENT_SEEN_WINDOW_S)
                .fetch_one(&self.pool)
                .await?;
        p.agent_count = count(agents.0);
        Ok(p)
    }

    /// The agents of pool `id` as they last asked for work, the most recent first, each with
    /// the phases it runs now. One agent started with two tokens of the pool is listed twice.
    pub async fn pool_agents(&self, id: &str) -> Result<Vec<PoolAgentStatus>, StoreError> {
        // One query: each agent with its running jobs (none: one row of NULLs), the jobs of
        // this pool's workspaces only.
        let rows: Vec<AgentJobRow> =
            sqlx::query_as(
                "SELECT a.token_id, a.name, a.terraform_versions, a.last_ping_at, j.run_id, r.workspace_id, j.phase
                   FROM agents a
                   LEFT JOIN (jobs j JOIN runs r ON r.id = j.run_id JOIN workspaces w ON w.id = r.workspace_id)
                     ON j.status = 'running' AND j.agent = a.name AND j.organization_id = a.organization_id
                    AND w.agent_pool_id = a.agent_pool_id
                  WHERE a.agent_pool_id = $1
                  ORDER BY a.last_ping_at DESC, a.name, a.token_id, j.seq",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<(String, PoolAgentStatus)> = Vec::new();
        for (token, name, terraform_versions, last_seen, run_id, workspace_id, phase) in rows {
            let job = match (run_id, workspace_id, phase) {
                (Some(run_id), Some(workspace_id), Some(phase)) => {
                    Some(CurrentJob { run_id, workspace_id, phase })
                }
                _ => None,
            };
            match out.last_mut() {
                Some((t, a)) if *t == token && a.name == name => a.jobs.extend(job),
                _ => out.push((
                    token,
                    PoolAgentStatus { name, terraform_versions, last_seen, jobs: job.into_iter().collect() },
                )),
            }
        }
        Ok(out.into_iter().map(|(_, a)| a).collect())
    }

    /// Agent pools of an organization, by name.
    pub async fn list_agent_pools(
        &self,
        organization_id: &str,
        page: Page,
    ) -> Result<Paged<AgentPool>, StoreError> {
        let total: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM agent_pools WHERE organization_id = $1")
            .bind(organization_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sql(format!(
            "SELECT {POOL_COLUMNS} WHERE a.organization_id = $1 ORDER BY a.name LIMIT $2 OFFSET $3"
        )))
        .bind(organization_id)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(self.decorate(pool(row)?).await?);
        }
        Ok(Paged { items, total: count(total.0), page })
    }

    /// Rename an agent pool.
    pub async fn rename_agent_pool(&self, id: &str, name: &str) -> Result<AgentPool, StoreError> {
        let name = check_name(name)?;
        let done = sqlx::query("UPDATE agent_pools SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("agent pool {name:?} already exists in this organization"))
                }
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(not_found("agent pool", id));
        }
        self.agent_pool(id).await
    }

    /// Delete an agent pool and its tokens. Refused while a workspace uses it: its runs would
    /// wait for agents that can no longer exist.
    pub async fn delete_agent_pool(&self, id: &str) -> Result<(), StoreError> {
        let p = self.agent_pool(id).await?;
        let done = sqlx::query(
            "DELETE FROM agent_pools WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM workspaces WHERE agent_pool_id = $1)",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let names: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM workspaces WHERE agent_pool_id = $1 ORDER BY name LIMIT 5")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        let names: Vec<String> = names.into_iter().map(|n| format!("{:?}", n.0)).collect();
        Err(StoreError::Invalid(format!(
            "agent pool {:?} is used by workspace{} {}{}: give them another pool or execution mode first",
            p.name,
            if p.workspace_ids.len() == 1 { "" } else { "s" },
            names.join(", "),
            if p.workspace_ids.len() > names.len() { ", …" } else { "" },
        )))
    }
}

/// An agent (token id, name, Terraform versions, last asked at) and one job it runs (run,
/// workspace, phase), or none.
type AgentJobRow = (String, String, String, i64, Option<String>, Option<String>, Option<String>);

/// An agent of a pool as it last asked for work, and what it runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolAgentStatus {
    /// The name it gave.
    pub name: String,
    /// The Terraform versions it runs, comma-separated.
    pub terraform_versions: String,
    /// When it last asked for work (Unix seconds).
    pub last_seen: i64,
    /// The phases it runs now (most often none or one).
    pub jobs: Vec<CurrentJob>,
}

/// A phase an agent runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentJob {
    /// Its run.
    pub run_id: String,
    /// The run's workspace.
    pub workspace_id: String,
    /// `plan` or `apply`.
    pub phase: String,
}
