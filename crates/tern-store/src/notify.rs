//! Replicas hearing each other: on PostgreSQL, a change of the managed key ring is announced
//! with `NOTIFY` on one channel, and every replica listens, so a key rotated on one replica
//! reaches the others' JWKS within moments rather than at their next periodic refresh. SQLite
//! is one process: nothing to announce. A lost notification (a listener reconnecting) costs
//! only promptness: the periodic refresh still runs.

use sqlx::postgres::PgListener;

use crate::{Backend, Store, StoreError};

/// The channel of key ring changes.
const KEYS_CHANNEL: &str = "tern_keys";

/// Key ring changes announced by any replica.
pub struct KeyChanges(PgListener);

impl std::fmt::Debug for KeyChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyChanges")
    }
}

impl KeyChanges {
    /// Wait for the next announcement (an error: the connection failed; listen again).
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// Tell every replica the key ring changed (PostgreSQL; nothing on SQLite).
    pub async fn announce_key_change(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, '')").bind(KEYS_CHANNEL).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Listen for key ring changes announced by any replica: `None` on SQLite.
    pub async fn key_changes(&self) -> Result<Option<KeyChanges>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.url).await?;
        listener.listen(KEYS_CHANNEL).await?;
        Ok(Some(KeyChanges(listener)))
    }
}
