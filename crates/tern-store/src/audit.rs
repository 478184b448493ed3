//! The audit trail: who did what, and every workload identity token minted. Append-only: the
//! store has no way to change or remove an event. Details are JSON the caller composes and must
//! never hold a secret (a value, a token); the store does not look inside.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::crypto::new_id;
use crate::{Page, Paged, Store, StoreError, count, sql};

/// One event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditInput {
    /// The organization it concerns (none: the installation, e.g. a key rotation).
    pub organization_id: Option<String>,
    /// Who: a token id (`at-…`), a job id for what a job did, or `system`.
    pub actor: String,
    /// `admin`, `organization`, `agent`, `job` or `system`.
    pub actor_kind: String,
    /// What, as `noun.verb`: `token.minted`, `run.created`, `variable.updated`…
    pub action: String,
    /// The workspace it concerns.
    pub workspace_id: Option<String>,
    /// The run it concerns.
    pub run_id: Option<String>,
    /// The rest (never a secret).
    pub details: serde_json::Value,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `ae-…`.
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// What was recorded.
    pub event: AuditInput,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// At or after (unix seconds).
    pub since: Option<i64>,
    /// Before (unix seconds).
    pub until: Option<i64>,
    /// This actor only.
    pub actor: Option<String>,
    /// This workspace only (id).
    pub workspace_id: Option<String>,
    /// This action only.
    pub action: Option<String>,
    /// This run only (id).
    pub run_id: Option<String>,
    /// Actions that start with this (`token.` for every token event); literal text.
    pub action_prefix: Option<String>,
    /// Newest first (the web UI's order); oldest first otherwise (the API's).
    pub newest_first: bool,
}

/// Events per INSERT statement (9 parameters each: well under SQLite's and PostgreSQL's limits).
const INSERT_CHUNK: usize = 128;

const COLUMNS: &str = "id, at, organization_id, actor, actor_kind, action, workspace_id, run_id, details";

fn event(row: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let details: String = row.try_get("details")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        event: AuditInput {
            organization_id: row.try_get("organization_id")?,
            actor: row.try_get("actor")?,
            actor_kind: row.try_get("actor_kind")?,
            action: row.try_get("action")?,
            workspace_id: row.try_get("workspace_id")?,
            run_id: row.try_get("run_id")?,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        },
    })
}

/// A value bound to a query.
enum Bind<'a> {
    Text(&'a str),
    Number(i64),
}

impl Store {
    /// Record `events` in one transaction: all durable when this returns, or none. Callers
    /// batch concurrent events into one call (group commit), so that many records cost one
    /// commit.
    pub async fn append_audit(&self, events: &[AuditInput]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let now = self.now();
        // One statement per chunk, not per event: a batch costs one round trip to the database
        // (on SQLite through sqlx's worker thread, each statement is two thread hand-offs). A
        // batch of one chunk is one statement, atomic by itself: no BEGIN and COMMIT around it.
        let mut statements = Vec::new();
        for chunk in events.chunks(INSERT_CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 9;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9
                    )
                })
                .collect();
            let statement = format!(
                "INSERT INTO audit_events (id, at, organization_id, actor, actor_kind, action, workspace_id, run_id, details) VALUES {}",
                rows.join(", ")
            );
            let mut insert = sqlx::query(sql(statement));
            for e in chunk {
                insert = insert
                    .bind(new_id("ae")?)
                    .bind(now)
                    .bind(e.organization_id.clone())
                    .bind(e.actor.clone())
                    .bind(e.actor_kind.clone())
                    .bind(e.action.clone())
                    .bind(e.workspace_id.clone())
                    .bind(e.run_id.clone())
                    .bind(e.details.to_string());
            }
            statements.push(insert);
        }
        if statements.len() == 1 {
            for insert in statements {
                insert.execute(&self.pool).await?;
            }
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for insert in statements {
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Events, oldest first (or newest, as `filter` says): an organization's (`Some`), or all of them.
    pub async fn audit_events(
        &self,
        organization_id: Option<&str>,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditEvent>, StoreError> {
        // Every value bound: `$n` is the n-th. Only the columns and operators written here are
        // put into the SQL text.
        let mut binds: Vec<Bind<'_>> = Vec::new();
        let mut conditions: Vec<String> = Vec::new();
        let mut add = |column: &'static str, op: &'static str, b| {
            binds.push(b);
            conditions.push(format!("{column} {op} ${}", binds.len()));
        };
        if let Some(org) = organization_id {
            add("organization_id", "=", Bind::Text(org));
        }
        if let Some(at) = filter.since {
            add("at", ">=", Bind::Number(at));
        }
        if let Some(at) = filter.until {
            add("at", "<", Bind::Number(at));
        }
        if let Some(actor) = &filter.actor {
            add("actor", "=", Bind::Text(actor));
        }
        if let Some(ws) = &filter.workspace_id {
            add("workspace_id", "=", Bind::Text(ws));
        }
        if let Some(action) = &filter.action {
            add("action", "=", Bind::Text(action));
        }
        if let Some(run) = &filter.run_id {
            add("run_id", "=", Bind::Text(run));
        }
        let prefix = filter
            .action_prefix
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| format!("{}%", p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        if let Some(prefix) = &prefix {
            binds.push(Bind::Text(prefix));
            conditions.push(format!("action LIKE ${} ESCAPE '\\'", binds.len()));
        }
        let condition = if conditions.is_empty() { "1 = 1".to_owned() } else { conditions.join(" AND ") };
        let mut total =
            sqlx::query_as::<_, (i64,)>(sql(format!("SELECT COUNT(*) FROM audit_events WHERE {condition}")));
        for b in &binds {
            total = match b {
                Bind::Text(t) => total.bind(*t),
                Bind::Number(n) => total.bind(*n),
            };
        }
        let total = total.fetch_one(&self.pool).await?;
        let n = binds.len();
        let order = if filter.newest_first { "seq DESC" } else { "seq" };
        let mut rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM audit_events WHERE {condition} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for b in &binds {
            rows = match b {
                Bind::Text(t) => rows.bind(*t),
                Bind::Number(n) => rows.bind(*n),
            };
        }
        let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(&self.pool).await?;
        let items = rows.iter().map(event).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }
}
