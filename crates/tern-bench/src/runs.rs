//! Through a running server's API, as agents use it:
//! 1. mint latency: one job, N sequential mints with its job token (what a worker does for
//!    each platform at the start of a phase);
//! 2. run dispatch: R runs queued on R workspaces, then K synthetic agents (the real agent
//!    client) claim a job, mint one token and finish the phase ("no changes"), until every
//!    run is done. No Terraform: this measures the server's side of dispatch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};
use tern_handoff::TokenMinter as _;
use tern_runner::{AgentClient, ServerMinter};
use tern_types::{Audience, SecretString, Ttl};

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The server's API (loopback).
    #[arg(long)]
    server: String,
    /// An admin or organization token (give it in the environment, not on the command line).
    #[arg(long, env = "TERN_TOKEN", hide_env_values = true)]
    token: String,
    /// Organization seeded by `tern-bench seed`.
    #[arg(long, default_value = "bench")]
    organization: String,
    /// How many workspaces it has (runs are spread over them).
    #[arg(long)]
    workspaces: usize,
    /// Sequential mints on one job, for latency (0: none).
    #[arg(long, default_value_t = 500)]
    mints: usize,
    /// Runs queued for the dispatch measurement.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Synthetic agents claiming at once.
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    max_seconds: f64,
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Value> {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut r = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.header("content-type", "application/vnd.api+json").body(b);
        }
        let response = r.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }

    /// Queue a plan on the seeded workspace `name`: a configuration version, uploaded, which
    /// queues a run (auto-queue-runs). Returns the run id.
    async fn queue_run(&self, org: &str, name: &str, tarball: &[u8]) -> anyhow::Result<()> {
        let ws = self
            .call(reqwest::Method::GET, &format!("/api/v2/organizations/{org}/workspaces/{name}"), None)
            .await?;
        let id = ws.pointer("/data/id").and_then(Value::as_str).context("workspace id")?;
        let cv = self
            .call(reqwest::Method::POST, &format!("/api/v2/workspaces/{id}/configuration-versions"), None)
            .await?;
        let upload =
            cv.pointer("/data/attributes/upload-url").and_then(Value::as_str).context("upload-url")?;
        self.call(reqwest::Method::PUT, upload, Some(tarball.to_vec())).await?;
        Ok(())
    }
}

/// The Terraform version synthetic agents advertise: they never run it, but an agent with none
/// is offered no job (the seeded workspaces ask for `latest`).
fn synthetic_terraform() -> [tern_types::Version; 1] {
    [tern_types::Version::new(1, 11, 4)]
}

/// A job held open on a server for measuring mint latency: claimed from a run queued on the
/// first seeded workspace.
struct LatencyJob {
    claimed: tern_runner::client::Claimed,
}

impl LatencyJob {
    async fn start(api: &Api, org: &str, agent_token: &str, tarball: &[u8]) -> anyhow::Result<Self> {
        api.queue_run(org, &crate::seed::workspace_name(0), tarball).await?;
        let agent =
            AgentClient::new(&api.base, SecretString::new(agent_token.to_owned()), "tern-bench-latency")?
                .with_terraform_versions(&synthetic_terraform());
        let claimed = agent
            .claim(Duration::from_secs(10), false)
            .await?
            .context("no job to claim for the latency run")?;
        Ok(Self { claimed })
    }

    /// `n` sequential mints: each one's latency, microseconds.
    async fn mints(&self, n: usize, audience: &Audience, deadline: Instant) -> anyhow::Result<Vec<u64>> {
        let minter = ServerMinter(self.claimed.client.clone());
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if Instant::now() > deadline {
                bail!("time limit reached during the latency run");
            }
            let t0 = Instant::now();
            minter.mint(audience, Ttl::DEFAULT).await.map_err(|e| anyhow::anyhow!("mint: {e}"))?;
            out.push(t0.elapsed().as_micros() as u64);
        }
        Ok(out)
    }

    async fn finish(self) -> anyhow::Result<()> {
        self.claimed.client.finish(tern_runner::client::Outcome::Succeeded, false, None).await?;
        Ok(())
    }
}

async fn agent_token(api: &Api, org: &str) -> anyhow::Result<String> {
    let body =
        json!({"data": {"type": "authentication-tokens", "attributes": {"description": "tern-bench"}}});
    let created = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v2/organizations/{org}/agent-tokens"),
            Some(body.to_string().into_bytes()),
        )
        .await?;
    Ok(created.pointer("/data/attributes/token").and_then(Value::as_str).context("agent token")?.to_owned())
}

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// A server's API (loopback); repeat for each server to compare.
    #[arg(long = "server", required = true)]
    servers: Vec<String>,
    /// An admin token valid on every server (give it in the environment).
    #[arg(long, env = "TERN_TOKEN", hide_env_values = true)]
    token: String,
    /// Organization seeded by `tern-bench seed` on every server.
    #[arg(long, default_value = "bench")]
    organization: String,
    /// Sequential mints per server per round.
    #[arg(long, default_value_t = 200)]
    per_round: usize,
    /// Rounds; each goes through every server, starting with a different one.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    max_seconds: f64,
}

/// Mint latency on several servers, interleaved in rounds so that the machine's noise falls
/// on all of them alike (p99 is what noise moves first).
pub fn latency(args: LatencyArgs) -> anyhow::Result<(Value, bool)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async move {
        let tarball = tarball()?;
        let audience = Audience::parse("aws.workload.identity")?;
        let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
        let mut jobs = Vec::new();
        for server in &args.servers {
            let api = Api {
                http: reqwest::Client::new(),
                base: server.trim_end_matches('/').to_owned(),
                token: args.token.clone(),
            };
            let agent = agent_token(&api, &args.organization).await?;
            jobs.push(LatencyJob::start(&api, &args.organization, &agent, &tarball).await?);
        }
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(); jobs.len()];
        for round in 0..args.rounds {
            for k in 0..jobs.len() {
                let i = (round + k) % jobs.len();
                samples[i].extend(jobs[i].mints(args.per_round, &audience, deadline).await?);
            }
        }
        for job in jobs {
            job.finish().await?;
        }
        let servers: Vec<Value> = args
            .servers
            .iter()
            .zip(samples.iter_mut())
            .map(|(server, s)| {
                s.sort_unstable();
                json!({ "server": server, "mint_latency_ms": crate::percentiles(s) })
            })
            .collect();
        Ok((json!({ "per_round": args.per_round, "rounds": args.rounds, "servers": servers }), true))
    })
}

pub(crate) fn tarball() -> anyhow::Result<Vec<u8>> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let text = b"# an empty configuration: the synthetic agents never run Terraform\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "main.tf", &text[..])?;
    Ok(builder.into_inner()?.finish()?)
}

pub fn run(args: RunsArgs) -> anyhow::Result<(Value, bool)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(measure(args))
}

async fn measure(args: RunsArgs) -> anyhow::Result<(Value, bool)> {
    if args.workspaces == 0 {
        bail!("--workspaces must be at least 1");
    }
    let api = Api {
        http: reqwest::Client::new(),
        base: args.server.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
    };
    let org = &args.organization;
    let agent_token = agent_token(&api, org).await?;
    let tarball = tarball()?;
    let audience = Audience::parse("aws.workload.identity")?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);

    // 1. Mint latency on one job (--mints 0: none; `tern-bench latency` interleaves servers).
    let mut latencies = Vec::with_capacity(args.mints);
    if args.mints > 0 {
        let job = LatencyJob::start(&api, org, &agent_token, &tarball).await?;
        latencies = job.mints(args.mints, &audience, deadline).await?;
        job.finish().await?;
        latencies.sort_unstable();
    }

    // 2. Dispatch: queue R runs (not timed), then K agents drain them.
    let n = args.runs.min(args.workspaces.saturating_sub(1)).max(1);
    let queue_start = Instant::now();
    for i in 0..n {
        let w = 1 + i * (args.workspaces.saturating_sub(1)).max(1) / n;
        api.queue_run(org, &crate::seed::workspace_name(w.min(args.workspaces - 1)), &tarball).await?;
    }
    let queue_seconds = queue_start.elapsed().as_secs_f64();
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..args.agents.max(1) {
        let agent = AgentClient::new(
            &args.server,
            SecretString::new(agent_token.clone()),
            &format!("tern-bench-{k}"),
        )?
        .with_terraform_versions(&synthetic_terraform());
        let (done, audience) = (done.clone(), audience.clone());
        tasks.spawn(async move {
            let mut claim_us = Vec::new();
            let mut last_finish = None;
            while done.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                let t0 = Instant::now();
                let Some(job) = agent.claim(Duration::from_secs(1), false).await? else { continue };
                claim_us.push(t0.elapsed().as_micros() as u64);
                ServerMinter(job.client.clone())
                    .mint(&audience, Ttl::DEFAULT)
                    .await
                    .map_err(|e| anyhow::anyhow!("mint: {e}"))?;
                job.client.finish(tern_runner::client::Outcome::Succeeded, false, None).await?;
                done.fetch_add(1, Ordering::Relaxed);
                last_finish = Some(Instant::now());
            }
            Ok::<_, anyhow::Error>((claim_us, last_finish))
        });
    }
    let mut claims = Vec::new();
    let mut last = start;
    while let Some(t) = tasks.join_next().await {
        let (c, l) = t??;
        claims.extend(c);
        last = last.max(l.unwrap_or(start));
    }
    // Up to the last run finished (agents then wait out a claim that finds nothing).
    let seconds = (last - start).as_secs_f64().max(1e-6);
    claims.sort_unstable();
    let finished = done.load(Ordering::Relaxed);
    Ok((
        json!({
            "workspaces": args.workspaces,
            "mint_latency_ms": crate::percentiles(&latencies),
            "dispatch": {
                "runs": n,
                "finished": finished,
                "agents": args.agents.max(1),
                "seconds": seconds,
                "runs_per_second": finished as f64 / seconds,
                "claim_latency_ms": crate::percentiles(&claims),
                "queueing_seconds": queue_seconds,
            },
        }),
        finished == n,
    ))
}
