//! Minting in this process, as the server does (key parsed once; clock, random jti, claims,
//! JSON, base64 and the signature per token), on N threads for a fixed count or time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde_json::json;
use tern_identity::{ClaimPolicy, ClaimProfile, Jti, RunContext, SigningKey, TokenRequest, mint};
use tern_types::{
    Audience, Clock as _, IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, SystemClock,
    Ttl, WorkspaceName,
};

#[derive(Debug, Args)]
pub struct MintArgs {
    /// The signing key (PEM, as `tern keygen` writes it).
    #[arg(long)]
    key: PathBuf,
    /// Threads minting at once.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Stop after this many tokens in all.
    #[arg(long, default_value_t = 1_000_000)]
    max_tokens: u64,
    /// Claim profile: tfc, otf or terrakube.
    #[arg(long, default_value = "tfc")]
    profile: String,
}

fn context() -> anyhow::Result<RunContext> {
    Ok(RunContext {
        organization: OrganizationName::parse("acme")?,
        organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH")?,
        project: ProjectName::default_project(),
        project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv")?,
        workspace: WorkspaceName::parse("prod")?,
        workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm")?,
        run_id: RunId::parse("run-CZcmD7eagjhyX0vN")?,
        phase: RunPhase::Apply,
    })
}

pub fn run(args: MintArgs) -> anyhow::Result<(serde_json::Value, bool)> {
    let pem = std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let key = Arc::new(SigningKey::from_pem(&pem).context("the signing key")?);
    let profile: ClaimProfile = args.profile.parse().context("--profile")?;
    let policy = Arc::new(ClaimPolicy::new(profile, None));
    let issuer = Arc::new(IssuerUrl::parse("https://tern.example.com")?);
    let audience = Arc::new(Audience::parse("aws.workload.identity")?);
    let ctx = Arc::new(context()?);
    let minted = Arc::new(AtomicU64::new(0));
    let cpu_before = crate::load::own_cpu_seconds();
    let limit = Duration::from_secs_f64(args.seconds.max(0.1));
    let start = Instant::now();
    let threads: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let (key, policy, issuer, audience, ctx, minted) =
                (key.clone(), policy.clone(), issuer.clone(), audience.clone(), ctx.clone(), minted.clone());
            let max = args.max_tokens;
            std::thread::spawn(move || -> anyhow::Result<(u64, usize)> {
                let (mut n, mut bytes) = (0u64, 0usize);
                while start.elapsed() < limit && minted.fetch_add(1, Ordering::Relaxed) < max {
                    let request = TokenRequest {
                        context: &ctx,
                        audience: &audience,
                        policy: &policy,
                        issued_at: SystemClock.now(),
                        ttl: Ttl::DEFAULT,
                        jti: Jti::random()?,
                    };
                    bytes = mint(&key, &issuer, &request)?.jwt.expose_secret().len();
                    n += 1;
                }
                Ok((n, bytes))
            })
        })
        .collect();
    let mut total = 0u64;
    let mut token_bytes = 0usize;
    for t in threads {
        let (n, b) = t.join().map_err(|_| anyhow::anyhow!("a minting thread panicked"))??;
        total += n;
        token_bytes = token_bytes.max(b);
    }
    let seconds = start.elapsed().as_secs_f64();
    // All the CPU minting took (every thread), to set against a server's CPU per token.
    let cpu_seconds = crate::load::own_cpu_seconds() - cpu_before;
    Ok((
        json!({
            "threads": args.threads.max(1),
            "profile": profile.as_str(),
            "algorithm": key.algorithm().as_str(),
            "tokens": total,
            "seconds": seconds,
            "per_second": total as f64 / seconds,
            "token_bytes": token_bytes,
            "cpu_seconds": cpu_seconds,
            "cpu_us_per_token": if total > 0 { cpu_seconds / total as f64 * 1e6 } else { 0.0 },
        }),
        total > 0,
    ))
}
