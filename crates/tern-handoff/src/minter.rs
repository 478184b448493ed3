//! Where tokens come from: [`TokenMinter`]. `tern exec` mints with a local key
//! ([`LocalMinter`]); an agent will ask the server, which alone holds the signing key.

use std::future::Future;
use std::sync::Arc;

use tern_identity::{ClaimPolicy, Jti, MintedToken, RunContext, SigningKey, TokenRequest};
use tern_types::{Audience, Clock, IssuerUrl, Ttl};

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MintFailure(pub String);

/// Mints workload identity tokens for one run and phase.
pub trait TokenMinter: Send + Sync + 'static {
    /// A token for `audience` that lives `ttl`.
    fn mint(
        &self,
        audience: &Audience,
        ttl: Ttl,
    ) -> impl Future<Output = Result<MintedToken, MintFailure>> + Send;
}

/// Mints with a signing key held in this process.
pub struct LocalMinter {
    key: Arc<SigningKey>,
    issuer: IssuerUrl,
    context: RunContext,
    policy: ClaimPolicy,
    clock: Arc<dyn Clock>,
}

impl LocalMinter {
    /// A minter for `context` (organization, project, workspace, run and phase).
    pub fn new(
        key: Arc<SigningKey>,
        issuer: IssuerUrl,
        context: RunContext,
        policy: ClaimPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { key, issuer, context, policy, clock }
    }
}

impl TokenMinter for LocalMinter {
    async fn mint(&self, audience: &Audience, ttl: Ttl) -> Result<MintedToken, MintFailure> {
        let request = TokenRequest {
            context: &self.context,
            audience,
            policy: &self.policy,
            issued_at: self.clock.now(),
            ttl,
            jti: Jti::random().map_err(|e| MintFailure(e.to_string()))?,
        };
        tern_identity::mint(&self.key, &self.issuer, &request).map_err(|e| MintFailure(e.to_string()))
    }
}
