//! A worker: claim a job, run it, repeat, until told to stop.

use std::time::Duration;

use tokio::sync::watch;

use crate::client::AgentClient;
use crate::job::{RunnerSettings, run_job};

/// Claim and run jobs until `stop` turns `true` (a job in progress is finished first).
pub async fn run_worker(
    agent: AgentClient,
    settings: RunnerSettings,
    mut stop: watch::Receiver<bool>,
    mut restarted: bool,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            return;
        }
        let claim = tokio::select! {
            c = agent.claim(Duration::from_secs(20), restarted) => c,
            _ = stop.changed() => return,
        };
        match claim {
            Ok(Some(job)) => {
                restarted = false;
                backoff = Duration::from_secs(1);
                tracing::info!(job = %job.id, run = %job.run_id, phase = %job.phase, "running a job");
                run_job(job.client, &settings).await;
            }
            Ok(None) => {
                restarted = false;
                backoff = Duration::from_secs(1);
            }
            Err(e) => {
                tracing::warn!("{agent:?}: {e}; retrying in {}s", backoff.as_secs());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
