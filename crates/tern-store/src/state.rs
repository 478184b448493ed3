//! State versions: Terraform state files per workspace, each a new version with Terraform's
//! serial and lineage. A version must continue the current lineage with a higher serial, so a
//! stale writer cannot overwrite newer state.

use md5::{Digest as _, Md5};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::crypto::new_id;
use crate::{Page, Paged, PendingStateVersion, StateVersion, Store, StoreError, count, not_found, sql};

/// Largest state accepted (bytes).
pub const MAX_STATE_BYTES: usize = 64 * 1024 * 1024;

/// Why a state file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// Not a Terraform state document.
    #[error("the state is not a Terraform state file: {0}")]
    NotState(String),
    /// Too large.
    #[error("the state is {0} bytes; at most {MAX_STATE_BYTES} are accepted")]
    TooLarge(usize),
}

fn version(row: &AnyRow) -> Result<StateVersion, sqlx::Error> {
    Ok(StateVersion {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        run_id: row.try_get("run_id")?,
        serial: row.try_get("serial")?,
        lineage: row.try_get("lineage")?,
        md5: row.try_get("md5")?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
        terraform_version: row.try_get("terraform_version")?,
    })
}

const COLUMNS: &str = "id, workspace_id, run_id, serial, lineage, md5, COALESCE(size, CAST(LENGTH(state) AS BIGINT)) AS size, created_at, terraform_version";

/// Serial and lineage of a state file.
pub fn parse_state(state: &[u8]) -> Result<(i64, String), StateError> {
    parse_state_header(state).map(|h| (h.serial, h.lineage))
}

/// What tern reads of a state file besides its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateHeader {
    /// `serial`.
    pub serial: i64,
    /// `lineage`.
    pub lineage: String,
    /// `terraform_version`, when given.
    pub terraform_version: Option<String>,
}

/// Serial, lineage and Terraform version of a state file.
pub fn parse_state_header(state: &[u8]) -> Result<StateHeader, StateError> {
    if state.len() > MAX_STATE_BYTES {
        return Err(StateError::TooLarge(state.len()));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(state).map_err(|e| StateError::NotState(format!("not JSON ({e})")))?;
    let serial = doc
        .get("serial")
        .and_then(serde_json::Value::as_i64)
        .filter(|s| *s >= 0)
        .ok_or_else(|| StateError::NotState("no non-negative integer \"serial\"".into()))?;
    let lineage = doc
        .get("lineage")
        .and_then(serde_json::Value::as_str)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| StateError::NotState("no \"lineage\"".into()))?;
    if doc.get("version").and_then(serde_json::Value::as_i64).is_none() {
        return Err(StateError::NotState("no integer \"version\"".into()));
    }
    let terraform_version = doc
        .get("terraform_version")
        .and_then(serde_json::Value::as_str)
        .filter(|v| v.len() <= 64)
        .map(str::to_owned);
    Ok(StateHeader { serial, lineage: lineage.to_owned(), terraform_version })
}

/// How many resource instances a state manages (data sources are read, not managed): what
/// TFE's safe delete checks. A state that does not parse counts as managing something.
pub fn managed_resources(state: &[u8]) -> usize {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(state) else { return 1 };
    let Some(resources) = doc.get("resources").and_then(serde_json::Value::as_array) else { return 0 };
    resources
        .iter()
        .filter(|r| r.get("mode").and_then(serde_json::Value::as_str) != Some("data"))
        .map(|r| r.get("instances").and_then(serde_json::Value::as_array).map_or(1, Vec::len))
        .sum()
}

/// A `pending_state_versions` row: id, workspace, run, serial, lineage, md5, created at.
type PendingRow = (String, String, Option<String>, i64, String, String, i64);

/// A new state must continue the current one: the same lineage, a higher serial.
fn check_successor(current: &StateVersion, serial: i64, lineage: &str) -> Result<(), StoreError> {
    if current.lineage != lineage {
        return Err(StoreError::Conflict(format!(
            "the state's lineage {lineage:?} differs from the workspace's current state ({:?}); it belongs to another workspace or was recreated",
            current.lineage
        )));
    }
    if serial <= current.serial {
        return Err(StoreError::Conflict(format!(
            "the state's serial {serial} is not newer than the current state's ({}); pull the current state first",
            current.serial
        )));
    }
    Ok(())
}

/// Hex MD5 of bytes (what TFE reports and Terraform checks).
pub fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Store a new state version of a workspace and make it current.
    pub async fn create_state_version(
        &self,
        workspace_id: &str,
        run_id: Option<&str>,
        state: &[u8],
    ) -> Result<StateVersion, StoreError> {
        let id = new_id("sv")?;
        self.store_state_version(id, workspace_id, run_id, state).await
    }

    /// Announce a state version whose state will be uploaded later (TFE's upload URLs): checked
    /// now against the current state, like a whole one, so that a wrong one fails early.
    pub async fn create_pending_state_version(
        &self,
        workspace_id: &str,
        run_id: Option<&str>,
        serial: i64,
        lineage: &str,
        md5: &str,
    ) -> Result<PendingStateVersion, StoreError> {
        if serial < 0 || lineage.is_empty() || md5.len() != 32 || !md5.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(StoreError::Invalid(
                "a state version needs a non-negative serial, a lineage and the state's md5 (32 hex digits)"
                    .into(),
            ));
        }
        let ws = self.workspace(workspace_id).await?;
        if let Some(current) = &ws.current_state_version_id {
            let cur = self.state_version(current).await?;
            check_successor(&cur, serial, lineage)?;
        }
        let id = new_id("sv")?;
        let now = self.now();
        sqlx::query("INSERT INTO pending_state_versions (id, workspace_id, run_id, serial, lineage, md5, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(workspace_id)
            .bind(run_id)
            .bind(serial)
            .bind(lineage)
            .bind(md5.to_ascii_lowercase())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(PendingStateVersion {
            id,
            workspace_id: workspace_id.to_owned(),
            run_id: run_id.map(str::to_owned),
            serial,
            lineage: lineage.to_owned(),
            md5: md5.to_ascii_lowercase(),
            created_at: now,
        })
    }

    /// A state version still waiting for its state.
    pub async fn pending_state_version(&self, id: &str) -> Result<PendingStateVersion, StoreError> {
        let row: Option<PendingRow> = sqlx::query_as(
            "SELECT id, workspace_id, run_id, serial, lineage, md5, created_at FROM pending_state_versions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let (id, workspace_id, run_id, serial, lineage, md5, created_at) =
            row.ok_or_else(|| not_found("state version", id))?;
        Ok(PendingStateVersion { id, workspace_id, run_id, serial, lineage, md5, created_at })
    }

    /// The uploaded state of a pending version: it must be what was announced (md5, serial,
    /// lineage); then it becomes the workspace's current state under the announced id.
    pub async fn finalize_state_version(&self, id: &str, state: &[u8]) -> Result<StateVersion, StoreError> {
        let pending = self.pending_state_version(id).await?;
        if md5_hex(state) != pending.md5 {
            return Err(StoreError::Invalid(format!(
                "the uploaded state's md5 is {}, not the {} announced",
                md5_hex(state),
                pending.md5
            )));
        }
        let header = parse_state_header(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if header.serial != pending.serial || header.lineage != pending.lineage {
            return Err(StoreError::Invalid(format!(
                "the uploaded state has serial {} and lineage {:?}; {} and {:?} were announced",
                header.serial, header.lineage, pending.serial, pending.lineage
            )));
        }
        let v = self
            .store_state_version(pending.id.clone(), &pending.workspace_id, pending.run_id.as_deref(), state)
            .await?;
        sqlx::query("DELETE FROM pending_state_versions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(v)
    }

    async fn store_state_version(
        &self,
        id: String,
        workspace_id: &str,
        run_id: Option<&str>,
        state: &[u8],
    ) -> Result<StateVersion, StoreError> {
        let header = parse_state_header(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let (serial, lineage) = (header.serial, header.lineage);
        let ws = self.workspace(workspace_id).await?;
        if let Some(current) = &ws.current_state_version_id {
            let cur = self.state_version(current).await?;
            check_successor(&cur, serial, &lineage)?;
        }
        // Sealed: Terraform keeps sensitive values in the clear in state.
        let sealed = self.cipher.seal(&state_context(&id), state)?;
        let size = i64::try_from(state.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO state_versions (id, workspace_id, run_id, serial, lineage, md5, state, created_at, sealed, size, terraform_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10)")
            .bind(&id)
            .bind(workspace_id)
            .bind(run_id)
            .bind(serial)
            .bind(&lineage)
            .bind(md5_hex(state))
            .bind(&sealed)
            .bind(self.now())
            .bind(size)
            .bind(header.terraform_version.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("state serial {serial} already exists")),
                other => other,
            })?;
        // Only move forward: a concurrent writer with a higher serial wins.
        let moved = sqlx::query("UPDATE workspaces SET current_state_version_id = $2 WHERE id = $1 AND (current_state_version_id IS NULL OR current_state_version_id = $3)")
            .bind(workspace_id)
            .bind(&id)
            .bind(ws.current_state_version_id.as_deref())
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "another state version was stored meanwhile; pull it and retry".into(),
            ));
        }
        tx.commit().await?;
        self.state_version(&id).await
    }

    /// A state version.
    pub async fn state_version(&self, id: &str) -> Result<StateVersion, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM state_versions WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("state version", id))?;
        Ok(version(&row)?)
    }

    /// The workspace's current state version.
    pub async fn current_state_version(&self, workspace_id: &str) -> Result<StateVersion, StoreError> {
        let ws = self.workspace(workspace_id).await?;
        let id = ws
            .current_state_version_id
            .ok_or_else(|| not_found("current state version of workspace", &ws.name))?;
        self.state_version(&id).await
    }

    /// State versions of a workspace, newest first.
    pub async fn list_state_versions(
        &self,
        workspace_id: &str,
        page: Page,
    ) -> Result<Paged<StateVersion>, StoreError> {
        let total: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM state_versions WHERE workspace_id = $1")
            .bind(workspace_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM state_versions WHERE workspace_id = $1 ORDER BY serial DESC LIMIT $2 OFFSET $3"
        )))
        .bind(workspace_id)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(version).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    /// The workspace's state version just before serial `serial` (what a comparison with the
    /// previous version compares against), if any.
    pub async fn previous_state_version(
        &self,
        workspace_id: &str,
        serial: i64,
    ) -> Result<Option<StateVersion>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM state_versions WHERE workspace_id = $1 AND serial < $2 ORDER BY serial DESC LIMIT 1"
        )))
        .bind(workspace_id)
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(version).transpose()?)
    }

    /// The bytes of a state version.
    pub async fn state_bytes(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let row: Option<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT state, CAST(sealed AS BIGINT) FROM state_versions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Err(not_found("state version", id)),
            Some((state, 0)) => Ok(state),
            Some((sealed, _)) => Ok(self.cipher.open(&state_context(id), &sealed)?.to_vec()),
        }
    }
}

impl Store {
    /// Seal what tern stored in the clear before migration 3: state files and saved plans,
    /// in batches, each row only if it is still unsealed (replicas may race to do this).
    /// Returns how many rows it sealed; with none left it costs one query per table.
    pub(crate) async fn seal_legacy(&self) -> Result<u64, StoreError> {
        const BATCH: i64 = 32;
        let mut sealed = 0;
        loop {
            let rows: Vec<(String, Vec<u8>)> =
                sqlx::query_as("SELECT id, state FROM state_versions WHERE sealed = 0 LIMIT $1")
                    .bind(BATCH)
                    .fetch_all(&self.pool)
                    .await?;
            if rows.is_empty() {
                break;
            }
            for (id, state) in rows {
                let size = i64::try_from(state.len()).unwrap_or(i64::MAX);
                let done = sqlx::query(
                    "UPDATE state_versions SET state = $2, sealed = 1, size = $3 WHERE id = $1 AND sealed = 0",
                )
                .bind(&id)
                .bind(self.cipher.seal(&state_context(&id), &state)?)
                .bind(size)
                .execute(&self.pool)
                .await?;
                sealed += done.rows_affected();
            }
        }
        loop {
            let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT id, plan_file FROM runs WHERE plan_file IS NOT NULL AND plan_file_sealed = 0 LIMIT $1",
            )
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            for (id, plan) in rows {
                let done = sqlx::query(
                    "UPDATE runs SET plan_file = $2, plan_file_sealed = 1 WHERE id = $1 AND plan_file_sealed = 0",
                )
                .bind(&id)
                .bind(self.cipher.seal(&crate::runs::plan_context(&id), &plan)?)
                .execute(&self.pool)
                .await?;
                sealed += done.rows_affected();
            }
        }
        Ok(sealed)
    }
}

/// What a state version's ciphertext is bound to: its own row.
fn state_context(id: &str) -> String {
    format!("state version {id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_checked() {
        assert_eq!(parse_state(br#"{"version":4,"serial":3,"lineage":"abc"}"#).unwrap(), (3, "abc".into()));
        for bad in [
            &b"nope"[..],
            br#"{"version":4,"lineage":"a"}"#,
            br#"{"version":4,"serial":-1,"lineage":"a"}"#,
            br#"{"serial":1,"lineage":"a"}"#,
            br#"{"version":4,"serial":1,"lineage":""}"#,
        ] {
            assert!(parse_state(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[tokio::test]
    async fn rows_stored_in_the_clear_before_migration_3_are_sealed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let key = crate::EncryptionKey::generate().unwrap();
        let clock: std::sync::Arc<dyn tern_types::Clock> = std::sync::Arc::new(tern_types::SystemClock);
        let store = Store::open(&url, &key, clock.clone()).await.unwrap();
        let org = store.create_organization("acme", "ops@example.com").await.unwrap();
        let ws = store
            .create_workspace(
                &org.id,
                &crate::WorkspaceSettings { name: Some("app".into()), ..Default::default() },
            )
            .await
            .unwrap();
        // What an earlier tern wrote: the state in the clear, unsealed.
        let state = br#"{"version":4,"serial":1,"lineage":"legacy-lineage","outputs":{}}"#;
        sqlx::query("INSERT INTO state_versions (id, workspace_id, run_id, serial, lineage, md5, state, created_at) VALUES ('sv-legacy', $1, NULL, 1, 'l', $2, $3, 0)")
            .bind(&ws.id)
            .bind(md5_hex(state))
            .bind(&state[..])
            .execute(&store.pool)
            .await
            .unwrap();
        let hex: String = b"legacy-lineage".iter().map(|b| format!("{b:02X}")).collect();
        assert!(format!("{:?}", store.dump().await.unwrap()).contains(&hex));
        drop(store);
        let store = Store::open(&url, &key, clock).await.unwrap();
        assert!(!format!("{:?}", store.dump().await.unwrap()).contains(&hex), "sealed on open");
        assert_eq!(store.state_bytes("sv-legacy").await.unwrap(), state);
        assert_eq!(store.state_version("sv-legacy").await.unwrap().size, i64::try_from(state.len()).unwrap());
        assert_eq!(store.seal_legacy().await.unwrap(), 0, "nothing left");
    }
}
