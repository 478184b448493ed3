//! State versions: Terraform state files per workspace, each a new version with Terraform's
//! serial and lineage. A version must continue the current lineage with a higher serial, so a
//! stale writer cannot overwrite newer state.

use md5::{Digest as _, Md5};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::crypto::new_id;
use crate::{Page, Paged, StateVersion, Store, StoreError, count, not_found, sql};

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
    })
}

const COLUMNS: &str = "id, workspace_id, run_id, serial, lineage, md5, COALESCE(size, CAST(LENGTH(state) AS BIGINT)) AS size, created_at";

/// Serial and lineage of a state file.
pub fn parse_state(state: &[u8]) -> Result<(i64, String), StateError> {
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
    Ok((serial, lineage.to_owned()))
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
        let (serial, lineage) = parse_state(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let ws = self.workspace(workspace_id).await?;
        if let Some(current) = &ws.current_state_version_id {
            let cur = self.state_version(current).await?;
            if cur.lineage != lineage {
                return Err(StoreError::Conflict(format!(
                    "the state's lineage {lineage:?} differs from the workspace's current state ({:?}); it belongs to another workspace or was recreated",
                    cur.lineage
                )));
            }
            if serial <= cur.serial {
                return Err(StoreError::Conflict(format!(
                    "the state's serial {serial} is not newer than the current state's ({}); pull the current state first",
                    cur.serial
                )));
            }
        }
        let id = new_id("sv")?;
        // Sealed: Terraform keeps sensitive values in the clear in state.
        let sealed = self.cipher.seal(&state_context(&id), state)?;
        let size = i64::try_from(state.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO state_versions (id, workspace_id, run_id, serial, lineage, md5, state, created_at, sealed, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)")
            .bind(&id)
            .bind(workspace_id)
            .bind(run_id)
            .bind(serial)
            .bind(&lineage)
            .bind(md5_hex(state))
            .bind(&sealed)
            .bind(self.now())
            .bind(size)
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
}
