//! Minting a full workload identity token versus a bare aws-lc-rs signature over an input of the
//! same size, measured in the same run. The signature is the cost; everything else (claims,
//! JSON, base64, `jti`, clock) should be noise. Goal: mint throughput >= 0.95 x bare signature.
//!
//! Method: criterion measures each absolute time; the ratio comes from a paired run in which
//! every iteration times one bare signature and one full mint, alternating which goes first, so
//! that frequency scaling and noisy neighbours affect both sides equally. (Benchmarks run one
//! after another drift by 10-20 % on this 2-core machine, which would swamp a 1 % effect.)
//!
//! Run: `cargo bench -p tern-identity --bench mint`. Ratios are printed after criterion's report
//! and written to `<criterion dir>/mint-ratios.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // a benchmark harness

use std::cell::RefCell;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256};
use criterion::Criterion;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use tern_identity::{
    ClaimPolicy, ClaimProfile, IssuerDocuments, Jti, KeyRing, RunContext, SigningKey, TokenRequest, mint,
};
use tern_types::{
    Audience, Clock, IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, SystemClock, Ttl,
    WorkspaceName,
};

fn context() -> RunContext {
    RunContext {
        organization: OrganizationName::parse("acme").unwrap(),
        organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap(),
        project: ProjectName::default_project(),
        project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv").unwrap(),
        workspace: WorkspaceName::parse("prod").unwrap(),
        workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap(),
        run_id: RunId::parse("run-CZcmD7eagjhyX0vN").unwrap(),
        phase: RunPhase::Apply,
    }
}

fn pkcs8_der(fixture: &str) -> Vec<u8> {
    let pem = tern_testkit::read_key_fixture(fixture);
    match PrivateKeyDer::from_pem_slice(&pem).unwrap() {
        PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der().to_vec(),
        _ => panic!("{fixture} must be PKCS#8"),
    }
}

struct Fixture {
    issuer: IssuerUrl,
    ctx: RunContext,
    audience: Audience,
}

impl Fixture {
    /// What a server builds per token: the clock's time and a random jti.
    fn request<'a>(&'a self, policy: &'a ClaimPolicy) -> TokenRequest<'a> {
        TokenRequest {
            context: &self.ctx,
            audience: &self.audience,
            policy,
            issued_at: SystemClock.now(),
            ttl: Ttl::DEFAULT,
            jti: Jti::random().unwrap(),
        }
    }

    /// The full mint path: clock, random jti, claims, JSON, base64, signature.
    fn mint(&self, key: &SigningKey, policy: &ClaimPolicy) -> usize {
        mint(key, &self.issuer, &self.request(policy)).unwrap().jwt.expose_secret().len()
    }

    /// Length of the JWS signing input (`header.payload`) of a token from `key` under `policy`.
    fn signing_input_len(&self, key: &SigningKey, policy: &ClaimPolicy) -> usize {
        mint(key, &self.issuer, &self.request(policy)).unwrap().jwt.expose_secret().rfind('.').unwrap()
    }
}

#[derive(Default, Clone, Copy)]
struct Totals {
    bare: Duration,
    mint: Duration,
    iterations: u64,
}

/// A criterion benchmark of `minted` whose iterations are interleaved with `bare` ones; returns
/// the accumulated time of both sides.
fn paired(c: &mut Criterion, id: &str, mut bare: impl FnMut(), mut minted: impl FnMut()) -> Totals {
    let totals = RefCell::new(Totals::default());
    c.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let (mut bare_time, mut mint_time) = (Duration::ZERO, Duration::ZERO);
            for i in 0..iters {
                if i % 2 == 0 {
                    let t0 = Instant::now();
                    bare();
                    let t1 = Instant::now();
                    minted();
                    let t2 = Instant::now();
                    bare_time += t1 - t0;
                    mint_time += t2 - t1;
                } else {
                    let t0 = Instant::now();
                    minted();
                    let t1 = Instant::now();
                    bare();
                    let t2 = Instant::now();
                    mint_time += t1 - t0;
                    bare_time += t2 - t1;
                }
            }
            let mut t = totals.borrow_mut();
            t.bare += bare_time;
            t.mint += mint_time;
            t.iterations += iters;
            mint_time
        })
    });
    totals.into_inner()
}

fn benches(c: &mut Criterion) -> Vec<(String, &'static str, Totals)> {
    let f = Fixture {
        issuer: IssuerUrl::parse("https://tern.example.com").unwrap(),
        ctx: context(),
        audience: Audience::parse("aws.workload.identity").unwrap(),
    };
    let rng = SystemRandom::new();
    let mut ratios = Vec::new();

    // RS256 / RSA-2048: the interop baseline.
    let rsa = SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048.pem")).unwrap();
    let bare_rsa = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8_der("rsa-2048.pem")).unwrap();
    let rsa_sign = |message: &[u8]| {
        let mut sig = vec![0u8; bare_rsa.public_modulus_len()];
        bare_rsa.sign(&RSA_PKCS1_SHA256, &rng, black_box(message), &mut sig).unwrap();
        black_box(sig);
    };
    for profile in ClaimProfile::ALL {
        let policy = ClaimPolicy::new(profile, None);
        let message = vec![b'a'; f.signing_input_len(&rsa, &policy)];
        if profile == ClaimProfile::Tfc {
            c.bench_function("rs256/bare_aws_lc_rsa2048_sign", |b| b.iter(|| rsa_sign(&message)));
        }
        let totals = paired(
            c,
            &format!("rs256/mint_{profile}"),
            || rsa_sign(&message),
            || {
                black_box(f.mint(&rsa, &policy));
            },
        );
        ratios.push((
            format!("rs256/mint_{profile}"),
            "bare aws-lc-rs RSA-2048 PKCS#1 v1.5 signature",
            totals,
        ));
    }

    // ES256 / P-256.
    let ec = SigningKey::from_pem(&tern_testkit::read_key_fixture("ec-p256.pem")).unwrap();
    let bare_ec =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8_der("ec-p256.pem")).unwrap();
    let tfc = ClaimPolicy::default();
    let message = vec![b'a'; f.signing_input_len(&ec, &tfc)];
    let ec_sign = |message: &[u8]| {
        black_box(bare_ec.sign(&rng, black_box(message)).unwrap());
    };
    c.bench_function("es256/bare_aws_lc_p256_sign", |b| b.iter(|| ec_sign(&message)));
    let totals = paired(
        c,
        "es256/mint_tfc",
        || ec_sign(&message),
        || {
            black_box(f.mint(&ec, &tfc));
        },
    );
    ratios.push(("es256/mint_tfc".to_owned(), "bare aws-lc-rs P-256 ECDSA signature", totals));

    // The parts around the signature, for profiling.
    c.bench_function("parts/jti_random", |b| b.iter(|| Jti::random().unwrap()));
    c.bench_function("parts/subject_tfc", |b| b.iter(|| tfc.subject(black_box(&f.ctx))));

    // Documents: rebuilt only when the key ring changes.
    let ring = KeyRing::new(
        SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048.pem")).unwrap(),
        vec![
            SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048-second.pem"))
                .unwrap()
                .public_jwk()
                .clone(),
            ec.public_jwk().clone(),
        ],
    )
    .unwrap();
    c.bench_function("documents/build_discovery_and_jwks_3_keys", |b| {
        b.iter(|| IssuerDocuments::build(&f.issuer, black_box(&ring), &tfc))
    });
    ratios
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tern_testkit::workspace_root().join("target"));
    target.join("criterion")
}

fn main() {
    let dir = criterion_dir();
    let mut c = Criterion::default().output_directory(&dir).configure_from_args();
    let ratios = benches(&mut c);
    c.final_summary();

    println!(
        "\nmint throughput / bare signature throughput, interleaved in the same iterations (goal >= 0.95):"
    );
    let mut report = Vec::new();
    for (id, reference, t) in ratios {
        if t.iterations == 0 {
            continue; // filtered out on the command line
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / t.iterations as f64;
        let ratio = t.bare.as_secs_f64() / t.mint.as_secs_f64();
        println!(
            "  {id}: mint {:.1} µs, {reference} {:.1} µs, ratio {ratio:.3} over {} iterations {}",
            per(t.mint),
            per(t.bare),
            t.iterations,
            if ratio >= 0.95 { "(goal met)" } else { "(GOAL MISSED)" }
        );
        report.push(serde_json::json!({
            "benchmark": id, "reference": reference, "iterations": t.iterations,
            "mint_us": per(t.mint), "bare_us": per(t.bare), "ratio": ratio, "goal": 0.95,
        }));
    }
    if !report.is_empty() {
        let path = dir.join("mint-ratios.json");
        let _ = std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap_or_default());
        println!("  written to {}", path.display());
    }
}
