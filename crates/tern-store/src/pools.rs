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

    /// The agents of pool `id` as they last asked for work: `(name, Terraform versions
    /// (comma-separated), last asked at)`, the most recent first. One agent started with two
    /// tokens of the pool is listed twice.
    pub async fn pool_agents(&self, id: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT name, terraform_versions, last_ping_at FROM agents WHERE agent_pool_id = $1 ORDER BY last_ping_at DESC, name",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
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
