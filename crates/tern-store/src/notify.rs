//! Runs changing, heard in this process: the store rings a bell with the run's id when it
//! appends to a run's log or moves its status, and a follower (the web UI's live run page)
//! wakes at once instead of polling. It is a hint, not a record: a follower that misses one
//! (it lagged, or another replica made the change) still looks again after its own interval.
//!
//! Replicas hearing each other: on PostgreSQL, a change of the managed key ring is announced
//! with `NOTIFY` on one channel, and every replica listens, so a key rotated on one replica
//! reaches the others' JWKS within moments rather than at their next periodic refresh. SQLite
//! is one process: nothing to announce. A lost notification (a listener reconnecting) costs
//! only promptness: the periodic refresh still runs.

use sqlx::postgres::PgListener;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::{Backend, Store, StoreError};

/// Run ids a slow follower may be behind by before it only learns "something changed".
const RUN_BELL_CAPACITY: usize = 1024;

pub(crate) fn run_bell() -> broadcast::Sender<Arc<str>> {
    broadcast::channel(RUN_BELL_CAPACITY).0
}

/// The runs that change in this process, from the moment of [`Store::run_changes`].
#[derive(Debug)]
pub struct RunChanges(broadcast::Receiver<Arc<str>>);

impl RunChanges {
    /// Wait until run `run_id` changes (or may have: this follower fell behind), at most
    /// `patience`. Changes rung since the last wait count: none is lost between two waits.
    pub async fn wait_for(&mut self, run_id: &str, patience: Duration) {
        let _ = tokio::time::timeout(patience, async {
            loop {
                match self.0.recv().await {
                    Ok(id) if &*id == run_id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    // The store is gone: nothing more will ring; the timeout ends the wait.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
        .await;
    }
}

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
    /// Follow the runs that change in this process (see the module's documentation).
    pub fn run_changes(&self) -> RunChanges {
        RunChanges(self.runs_changed.subscribe())
    }

    /// Ring the bell for `run_id` (only when someone follows).
    pub(crate) fn run_changed(&self, run_id: &str) {
        if self.runs_changed.receiver_count() > 0 {
            let _ = self.runs_changed.send(Arc::from(run_id));
        }
    }

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
