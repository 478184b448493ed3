//! Durable records of minted tokens at little cost: [`Auditor::record_if`] returns once the
//! event is committed, and concurrent records share one commit (group commit). (Every other
//! act changes the database and writes its record in its own transaction, through the store.) A writer task takes
//! whatever has queued while the previous commit ran and writes it in one transaction, so under
//! load a commit carries many events; alone, an event waits for one commit, as any write would.

use tern_store::{AuditInput, MintCondition, Store};
use tokio::sync::{mpsc, oneshot};

/// Most events in one commit.
const MAX_BATCH: usize = 512;

/// Why an event could not be recorded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit trail could not record {action}: {cause}")]
pub struct AuditError {
    /// What was being recorded.
    pub action: String,
    /// Why.
    pub cause: String,
}

struct Pending {
    event: AuditInput,
    condition: MintCondition,
    done: oneshot::Sender<Result<bool, String>>,
}

/// The audit trail's writer (cheap to clone).
#[derive(Clone)]
pub struct Auditor {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor").finish_non_exhaustive()
    }
}

impl Auditor {
    /// Start the writer on the current runtime.
    pub fn start(store: Store) -> Self {
        let (queue, mut pending) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        let mut writer = store.audit_writer();
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match pending.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let events: Vec<(AuditInput, Option<MintCondition>)> =
                    batch.iter().map(|p| (p.event.clone(), Some(p.condition.clone()))).collect();
                let result = writer.append_checked(&events).await.map_err(|e| e.to_string());
                match &result {
                    Err(e) => {
                        tracing::error!(events = events.len(), "recording audit events failed: {e}");
                        for p in batch {
                            let _ = p.done.send(Err(e.clone()));
                        }
                    }
                    Ok(recorded) => {
                        for (p, recorded) in batch.into_iter().zip(recorded) {
                            let _ = p.done.send(Ok(*recorded));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Record `event` if `condition` still holds, checked in the statement that records it;
    /// returns once it is durable, with whether it was recorded ([`Recorded`]).
    pub async fn record_if(
        &self,
        event: AuditInput,
        condition: MintCondition,
    ) -> Result<Recorded, AuditError> {
        let recorded = self.send(event, condition).await?;
        Ok(if recorded { Recorded::Yes } else { Recorded::ConditionFailed })
    }

    async fn send(&self, event: AuditInput, condition: MintCondition) -> Result<bool, AuditError> {
        let action = event.action.clone();
        let fail = |cause: &str| AuditError { action: action.clone(), cause: cause.to_owned() };
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { event, condition, done })
            .await
            .map_err(|_| fail("the writer has stopped"))?;
        committed.await.map_err(|_| fail("the writer has stopped"))?.map_err(|e| fail(&e))
    }
}

/// Whether a conditional event was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded, durably.
    Yes,
    /// Not recorded: its condition no longer held when it was written.
    ConditionFailed,
}
