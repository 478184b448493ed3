//! The managed key ring: signing keys in the database, private keys sealed under the operator's
//! key-encryption key (the key id as associated data). A key is `next` (published, not signing
//! until `activates_at`), `current` (signing), or `retired` (published until `publish_until`,
//! when every token it signed has expired). The unique index on `next`/`current` and the
//! conditional updates keep replicas that race to rotate from making two of either.

use sqlx::Row as _;
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

use crate::{AuditInput, Store, StoreError, not_found};

/// A managed key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, signs from `activates_at`.
    Next,
    /// Signs.
    Current,
    /// Published until `publish_until`, signs nothing.
    Retired,
}

impl KeyState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }
}

/// A managed key's record (never the private key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedKey {
    /// Key id.
    pub kid: String,
    /// `RS256` or `ES256`.
    pub algorithm: String,
    /// State.
    pub state: KeyState,
    /// Unix seconds.
    pub created_at: i64,
    /// When it signs (or signed) from.
    pub activates_at: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS.
    pub publish_until: Option<i64>,
}

fn key(row: &AnyRow) -> Result<ManagedKey, sqlx::Error> {
    let state: String = row.try_get("state")?;
    Ok(ManagedKey {
        kid: row.try_get("kid")?,
        algorithm: row.try_get("algorithm")?,
        state: match state.as_str() {
            "next" => KeyState::Next,
            "current" => KeyState::Current,
            _ => KeyState::Retired,
        },
        created_at: row.try_get("created_at")?,
        activates_at: row.try_get("activates_at")?,
        retired_at: row.try_get("retired_at")?,
        publish_until: row.try_get("publish_until")?,
    })
}

const COLUMNS: &str = "kid, algorithm, state, created_at, activates_at, retired_at, publish_until";

impl Store {
    /// Keys still published, signing key first, then next, then retired (newest first).
    pub async fn managed_keys(&self) -> Result<Vec<ManagedKey>, StoreError> {
        let rows = sqlx::query(crate::sql(format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE state <> 'retired' OR publish_until > $1
             ORDER BY CASE state WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, seq DESC"
        )))
        .bind(self.now())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key).collect::<Result<_, _>>()?)
    }

    /// The private key (PKCS#8 PEM) of a managed key.
    pub async fn managed_key_pem(&self, kid: &str) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT private_ciphertext FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&self.pool)
                .await?;
        let sealed = row.ok_or_else(|| not_found("signing key", kid))?.0;
        Ok(self.cipher.open(kid, &sealed)?)
    }

    /// Add a key as `current` (only when there is none: the first key) or `next`, recording
    /// `audit` (when given) in the same transaction. Returns `false`, and records nothing, when
    /// another replica added one first.
    pub async fn add_managed_key(
        &self,
        kid: &str,
        algorithm: &str,
        private_pem: &[u8],
        state: KeyState,
        activates_at: i64,
        audit: Option<&AuditInput>,
    ) -> Result<bool, StoreError> {
        if state == KeyState::Retired {
            return Err(StoreError::Invalid("a new key is current or next, never retired".into()));
        }
        let sealed = self.cipher.seal(kid, private_pem)?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("INSERT INTO signing_keys (kid, algorithm, private_ciphertext, state, created_at, activates_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
            .bind(kid)
            .bind(algorithm)
            .bind(sealed)
            .bind(state.as_str())
            .bind(self.now())
            .bind(activates_at)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(audit) = audit {
            self.audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Promote a `next` key whose time has come; the current key retires and stays published
    /// for `publish_window_s`. Drops retired keys past their window. Returns whether anything
    /// changed.
    pub async fn advance_managed_keys(&self, publish_window_s: i64) -> Result<bool, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let retired = sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $1, publish_until = $2 WHERE state = 'current' AND EXISTS (SELECT 1 FROM signing_keys n WHERE n.state = 'next' AND n.activates_at <= $1)")
            .bind(now)
            .bind(now + publish_window_s)
            .execute(&mut *tx)
            .await?;
        let promoted = sqlx::query("UPDATE signing_keys SET state = 'current' WHERE state = 'next' AND activates_at <= $1 AND NOT EXISTS (SELECT 1 FROM signing_keys c WHERE c.state = 'current')")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let dropped = sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND publish_until <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(retired.rows_affected() + promoted.rows_affected() + dropped.rows_affected() > 0)
    }

    /// Retire a key now. The current key can be retired only when a next key is published (it
    /// becomes current at once). With `unpublish`, the key also leaves the JWKS at once, so
    /// tokens it signed stop verifying (a compromised key).
    /// `audit` is recorded in the same transaction.
    pub async fn retire_managed_key(
        &self,
        kid: &str,
        publish_window_s: i64,
        unpublish: bool,
        audit: &AuditInput,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let keys = self.managed_keys().await?;
        let target = keys.iter().find(|k| k.kid == kid).ok_or_else(|| not_found("signing key", kid))?;
        let until = if unpublish { now } else { now + publish_window_s };
        let mut tx = self.pool.begin().await?;
        if target.state == KeyState::Current {
            if !keys.iter().any(|k| k.state == KeyState::Next) {
                return Err(StoreError::Conflict(format!(
                    "key {kid} is the signing key and no next key is published: run `tern keys rotate` first, wait until relying parties have fetched the new JWKS, then retire"
                )));
            }
            sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $2, publish_until = $3 WHERE kid = $1")
                .bind(kid)
                .bind(now)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            let promoted = sqlx::query(
                "UPDATE signing_keys SET state = 'current', activates_at = $1 WHERE state = 'next'",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // The next key read above may have been retired meanwhile (another administrator,
            // another replica): then nothing would sign. Nothing changes.
            if promoted.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "the next key changed while retiring {kid}; read the keys again (`tern keys list`)"
                )));
            }
        } else {
            sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = COALESCE(retired_at, $2), publish_until = $3 WHERE kid = $1")
                .bind(kid)
                .bind(now)
                .bind(until)
                .execute(&mut *tx)
                .await?;
        }
        if unpublish {
            sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid).execute(&mut *tx).await?;
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
