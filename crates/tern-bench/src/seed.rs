//! Fill a store with one organization and N workspaces, through `tern-store` (the same rules
//! and transactions as the API), several at once. Idempotent: existing workspaces are kept.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use serde_json::json;
use tern_store::{EncryptionKey, Page, Store, WorkspaceSettings};
use tern_types::SystemClock;

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The database (sqlite://PATH or postgres://…), as given to `tern serve`.
    #[arg(long)]
    database_url: String,
    /// The key-encryption key, base64. Give it in the environment: a command line is visible
    /// to every user of the machine.
    #[arg(long, env = "TERN_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: String,
    /// Organization to create the workspaces in (created if missing).
    #[arg(long, default_value = "bench")]
    organization: String,
    /// Workspaces the organization should have: ws-000000, ws-000001, …
    #[arg(long)]
    workspaces: usize,
    /// Workspaces created at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// The name of the `i`th seeded workspace.
pub fn workspace_name(i: usize) -> String {
    format!("ws-{i:06}")
}

pub fn run(args: SeedArgs) -> anyhow::Result<(serde_json::Value, bool)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(seed(args))
}

async fn seed(args: SeedArgs) -> anyhow::Result<(serde_json::Value, bool)> {
    let key = EncryptionKey::from_base64(&args.encryption_key).context("the encryption key")?;
    let store = Arc::new(Store::open(&args.database_url, &key, Arc::new(SystemClock)).await?);
    let org = match store.organization(&args.organization).await {
        Ok(o) => o,
        Err(_) => store.create_organization(&args.organization, "bench@example.com").await?,
    };
    let existing = count(&store, &org.id).await?;
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(existing));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (store, next, org_id, target) = (store.clone(), next.clone(), org.id.clone(), args.workspaces);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= target {
                    return Ok::<(), anyhow::Error>(());
                }
                let settings = WorkspaceSettings { name: Some(workspace_name(i)), ..Default::default() };
                store.create_workspace(&org_id, &settings).await.with_context(|| workspace_name(i))?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let created = args.workspaces.saturating_sub(existing);
    let seconds = start.elapsed().as_secs_f64();
    Ok((
        json!({
            "organization": args.organization,
            "workspaces": count(&store, &org.id).await?,
            "created": created,
            "seconds": seconds,
            "per_second": if seconds > 0.0 { created as f64 / seconds } else { 0.0 },
        }),
        true,
    ))
}

async fn count(store: &Store, organization_id: &str) -> anyhow::Result<usize> {
    let page = store
        .list_workspaces(
            organization_id,
            &tern_store::WorkspaceFilter::default(),
            Page { number: 1, size: 1 },
        )
        .await?;
    Ok(usize::try_from(page.total)?)
}
