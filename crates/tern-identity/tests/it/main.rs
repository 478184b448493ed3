//! Integration tests of tern-identity against committed fixtures and golden files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod documents;
mod keys;
mod tokens;
mod verify;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern_identity::{
    ClaimPolicy, ClaimProfile, Jti, KeyRing, MintedToken, RunContext, SigningKey, TokenRequest,
};
use tern_types::{
    Audience, IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, Ttl, WorkspaceName,
};

/// 2025-11-21T10:00:00Z, the fixed time of every golden token.
pub const T0: u64 = 1_763_719_200;

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

pub fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

pub fn key(name: &str) -> SigningKey {
    SigningKey::from_pem(&tern_testkit::read_key_fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn issuer() -> IssuerUrl {
    IssuerUrl::parse("https://tern.example.com").unwrap()
}

pub fn context(workspace: &str, phase: RunPhase) -> RunContext {
    RunContext {
        organization: OrganizationName::parse("acme").unwrap(),
        organization_id: ResourceId::parse("org-GRFXpGJkuZfOkmqH").unwrap(),
        project: ProjectName::default_project(),
        project_id: ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv").unwrap(),
        workspace: WorkspaceName::parse(workspace).unwrap(),
        workspace_id: ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm").unwrap(),
        run_id: RunId::parse("run-CZcmD7eagjhyX0vN").unwrap(),
        phase,
    }
}

/// Mint with the golden parameters.
pub fn mint_at(key: &SigningKey, profile: ClaimProfile, phase: RunPhase, issued_at: u64) -> MintedToken {
    let ctx = context("prod", phase);
    let audience = Audience::parse("aws.workload.identity").unwrap();
    let policy = ClaimPolicy::new(profile, None);
    let request = TokenRequest {
        context: &ctx,
        audience: &audience,
        policy: &policy,
        issued_at: at(issued_at),
        ttl: Ttl::DEFAULT,
        jti: Jti::fixed("5d3c9f6e-8a1b-4c2d-9e0f-123456789abc"),
    };
    tern_identity::mint(key, &issuer(), &request).unwrap()
}

pub fn ring(signing: &str, published: &[&str]) -> KeyRing {
    KeyRing::new(key(signing), published.iter().map(|p| key(p).public_jwk().clone()).collect()).unwrap()
}
