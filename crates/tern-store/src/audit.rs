//! The audit trail: who did what, and every workload identity token minted. Append-only: the
//! store has no way to change or remove an event. Details are JSON the caller composes and must
//! never hold a secret (a value, a token); the store does not look inside.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::{Connection as _, Row as _};

use std::collections::HashSet;

use crate::crypto::{new_id_at, token_hash};
use crate::{Backend, JobScope, Page, Paged, Store, StoreError, count, sql};

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

impl AuditInput {
    /// An act of the installation itself (a scheduled key rotation, a token replaced at a
    /// server's start), in no organization.
    pub fn system(action: &str, details: serde_json::Value) -> Self {
        Self {
            organization_id: None,
            actor: "system".into(),
            actor_kind: "system".into(),
            action: action.into(),
            workspace_id: None,
            run_id: None,
            details,
        }
    }
}

/// How an act makes its audit record from what it left (a created variable, a changed set).
/// The store writes the record in the act's own transaction: both commit, or neither.
pub trait Audit<T>: FnOnce(&T) -> AuditInput + Send {}

impl<T, F: FnOnce(&T) -> AuditInput + Send> Audit<T> for F {}

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

/// What must still hold when a minted token's event is recorded, checked by the statement that
/// records it: the job token that asked (by its hash) still authenticates its job, the job is
/// still running, and the organization, project and workspace still have the names the token
/// carries. A token whose event was not recorded is never returned, so a job token revoked, or a
/// workspace renamed, a moment before the commit gets no token with the old scope, however its
/// scope was found (from the database or from a replica's memory).
#[derive(Clone, PartialEq, Eq)]
pub struct MintCondition {
    token_hash: Vec<u8>,
    job_id: String,
    organization: String,
    project_id: String,
    project: String,
    workspace: String,
}

impl MintCondition {
    /// The condition for a token minted for `scope` at the request of the job token `presented`.
    pub fn new(presented: &str, scope: &JobScope) -> Self {
        Self::for_hash(token_hash(presented), scope)
    }

    /// The same, given the job token's hash ([`token_hash`]).
    pub fn for_hash(token_hash: Vec<u8>, scope: &JobScope) -> Self {
        Self {
            token_hash,
            job_id: scope.job.id.clone(),
            organization: scope.organization.clone(),
            project_id: scope.project_id.clone(),
            project: scope.project.clone(),
            workspace: scope.workspace.clone(),
        }
    }
}

impl std::fmt::Debug for MintCondition {
    // The hash identifies a live bearer token; it stays out of logs like the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintCondition")
            .field("job_id", &self.job_id)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field("workspace", &self.workspace)
            .finish_non_exhaustive()
    }
}

/// The audit trail's writer: [`Store::append_audit_checked`], on SQLite on a connection it keeps.
/// A pooled connection is tested by sqlx each time it goes back to the pool — on SQLite one more
/// round trip to the connection's worker thread, as costly as the insert itself — and every
/// minted token pays for the writer's commits. A local file cannot go stale; the connection is
/// replaced after an error. On PostgreSQL the writer uses the pool, which replaces a connection
/// the network broke.
pub struct AuditWriter {
    store: Store,
    conn: Option<AnyConnection>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter").field("connected", &self.conn.is_some()).finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// [`Store::append_audit_checked`], on the writer's connection.
    pub async fn append_checked(
        &mut self,
        events: &[(AuditInput, Option<MintCondition>)],
    ) -> Result<Vec<bool>, StoreError> {
        if self.store.backend != Backend::Sqlite {
            // A connection over a network can break or hang while kept aside; the pool tests
            // and replaces its connections.
            return self.store.append_audit_checked(events).await;
        }
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                // Out of the pool for good: the pool may open another in its place.
                let mut conn = self.store.pool.acquire().await?.detach();
                // Durable means on the disk: a record the writer reports committed survives
                // a power cut, not only a killed process. The server's other connections keep
                // `NORMAL`, which in WAL mode syncs at checkpoints only.
                sqlx::query("PRAGMA synchronous = FULL").execute(&mut conn).await?;
                conn
            }
        };
        let recorded = self.store.append_on(&mut conn, events).await?;
        // Kept only after a success: after an error the next batch starts on a new one.
        self.conn = Some(conn);
        Ok(recorded)
    }
}

/// The columns of one event: `SELECT $a, … $i`.
const EVENT_PARAMS: usize = 9;
/// The parameters of one row: its columns, then its [`MintCondition`] (NULL: none).
const ROW_PARAMS: usize = EVENT_PARAMS + 6;
/// Statements of at most this many rows stay prepared on their connection.
const PREPARED_ROWS: usize = 16;

impl Store {
    /// Record `events` in one transaction: all durable when this returns, or none. Callers
    /// batch concurrent events into one call (group commit), so that many records cost one
    /// commit.
    pub async fn append_audit(&self, events: &[AuditInput]) -> Result<(), StoreError> {
        let events: Vec<(AuditInput, Option<MintCondition>)> =
            events.iter().map(|e| (e.clone(), None)).collect();
        self.append_audit_checked(&events).await.map(|_| ())
    }

    /// Record `events`, each only if its condition still holds, in one transaction (one
    /// statement for up to 128 events). Returns, in order, whether each was recorded: an event
    /// without a condition always is.
    pub async fn append_audit_checked(
        &self,
        events: &[(AuditInput, Option<MintCondition>)],
    ) -> Result<Vec<bool>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await?;
        if self.backend != Backend::Sqlite {
            return self.append_on(&mut conn, events).await;
        }
        // Synced to disk like the writer's (see [`AuditWriter`]); the connection goes back to
        // the pool as it came, or not at all.
        sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
        let recorded = self.append_on(&mut conn, events).await;
        if sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await.is_err() {
            conn.close_on_drop();
        }
        recorded
    }

    /// Record `event` in the transaction of the act it records: both commit, or neither.
    pub(crate) async fn audit_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        event: &AuditInput,
    ) -> Result<(), StoreError> {
        self.append_on(tx, std::slice::from_ref(&(event.clone(), None))).await.map(|_| ())
    }

    /// A writer with a connection of its own, for the audit trail's one writer task.
    pub fn audit_writer(&self) -> AuditWriter {
        AuditWriter { store: self.clone(), conn: None }
    }

    async fn append_on(
        &self,
        conn: &mut AnyConnection,
        events: &[(AuditInput, Option<MintCondition>)],
    ) -> Result<Vec<bool>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let ids: Vec<String> = events.iter().map(|_| new_id_at("ae", now)).collect::<Result<_, _>>()?;
        // One statement per chunk, not per event: a batch costs one round trip to the database
        // (on SQLite through sqlx's worker thread, each statement is two thread hand-offs). A
        // batch of one chunk is one statement, atomic by itself: no BEGIN and COMMIT around it.
        let mut statements = Vec::new();
        for (chunk, chunk_ids) in events.chunks(INSERT_CHUNK).zip(ids.chunks(INSERT_CHUNK)) {
            // Every row has the same shape, with or without a condition (an absent one is a
            // NULL hash), so that the statement's text depends on the number of rows alone: a
            // mix of events cannot fill the connection's cache of prepared statements.
            let selects: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let first = row * ROW_PARAMS + 1;
                    let columns: Vec<String> =
                        (first..first + EVENT_PARAMS).map(|i| format!("${i}")).collect();
                    let (c, at) = (first + EVENT_PARAMS, first + 1);
                    format!(
                        "SELECT {} WHERE ${c} IS NULL OR EXISTS (SELECT 1 FROM tokens t JOIN jobs j ON j.id = t.job_id
                           JOIN runs r ON r.id = j.run_id JOIN workspaces w ON w.id = r.workspace_id
                           JOIN organizations o ON o.id = w.organization_id JOIN projects p ON p.id = w.project_id
                          WHERE t.hash = ${c} AND t.kind = 'job' AND j.id = ${} AND j.status = 'running'
                            AND (t.expires_at IS NULL OR t.expires_at > ${at})
                            AND o.name = ${} AND p.id = ${} AND p.name = ${} AND w.name = ${})",
                        columns.join(", "),
                        c + 1,
                        c + 2,
                        c + 3,
                        c + 4,
                        c + 5
                    )
                })
                .collect();
            let statement =
                format!("INSERT INTO audit_events ({COLUMNS}) {} RETURNING id", selects.join(" UNION ALL "));
            // Kept prepared for the batch sizes of ordinary load; a larger batch is rare and
            // its preparation shared by its many rows.
            let mut insert = sqlx::query(sql(statement)).persistent(chunk.len() <= PREPARED_ROWS);
            for ((e, condition), id) in chunk.iter().zip(chunk_ids) {
                insert = insert
                    .bind(id.clone())
                    .bind(now)
                    .bind(e.organization_id.clone())
                    .bind(e.actor.clone())
                    .bind(e.actor_kind.clone())
                    .bind(e.action.clone())
                    .bind(e.workspace_id.clone())
                    .bind(e.run_id.clone())
                    .bind(e.details.to_string());
                let c = condition.as_ref();
                insert = insert
                    .bind(c.map(|c| c.token_hash.clone()))
                    .bind(c.map(|c| c.job_id.clone()))
                    .bind(c.map(|c| c.organization.clone()))
                    .bind(c.map(|c| c.project_id.clone()))
                    .bind(c.map(|c| c.project.clone()))
                    .bind(c.map(|c| c.workspace.clone()));
            }
            statements.push(insert);
        }
        let mut recorded: HashSet<String> = HashSet::with_capacity(events.len());
        let mut collect = |rows: Vec<AnyRow>| -> Result<(), sqlx::Error> {
            for row in rows {
                recorded.insert(row.try_get("id")?);
            }
            Ok(())
        };
        if statements.len() == 1 {
            for insert in statements {
                collect(insert.fetch_all(&mut *conn).await?)?;
            }
        } else {
            let mut tx = conn.begin().await?;
            for insert in statements {
                collect(insert.fetch_all(&mut *tx).await?)?;
            }
            tx.commit().await?;
        }
        Ok(ids.iter().map(|id| recorded.contains(id)).collect())
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
