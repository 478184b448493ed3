//! Variable resolution and hand-off planning for a workspace with every platform and aliases
//! (AWS, GCP, Azure, Kubernetes, Vault and Vault-backed AWS/GCP/Azure): what a worker does
//! before it mints anything. It should stay far below one RSA-2048 signature (~0.6 ms on the
//! reference machine), so that it never shows in "phase start to Terraform spawned".
//!
//! Run: `cargo bench -p tern-credentials --bench handoff`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark harness

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use tern_credentials::handoff::{Endpoints, PlanInput, plan};
use tern_credentials::{Variables, resolve};
use tern_types::RunPhase;

#[path = "../tests/common/every_platform.rs"]
mod every_platform;

fn variables(vars: &[(&'static str, &'static str)]) -> Variables {
    vars.iter().map(|(k, v)| (*k, *v)).collect()
}

fn benches(c: &mut Criterion) {
    let endpoints = Endpoints::default();
    for (name, vars) in [
        ("every_platform", every_platform::every_platform_default()),
        ("every_platform_and_aliases", every_platform::every_platform_aliases()),
    ] {
        let variables = variables(&vars);
        c.bench_function(&format!("resolve/{name}"), |b| b.iter(|| resolve(black_box(&variables)).unwrap()));
        let configs = resolve(&variables).unwrap();
        let input = PlanInput {
            configs: &configs,
            variables: &variables,
            phase: RunPhase::Apply,
            run_id: "run-CZcmD7eagjhyX0vN",
            dir: Path::new("/run/tern/runs/run-CZcmD7eagjhyX0vN"),
            workdir: Path::new("/work/infra"),
            endpoints: &endpoints,
        };
        c.bench_function(&format!("plan/{name}"), |b| b.iter(|| plan(black_box(&input)).unwrap()));
        c.bench_function(&format!("resolve_and_plan/{name}"), |b| {
            b.iter(|| {
                let configs = resolve(black_box(&variables)).unwrap();
                plan(&PlanInput { configs: &configs, ..input.clone() }).unwrap()
            })
        });
    }
}

criterion_group!(handoff, benches);
criterion_main!(handoff);
