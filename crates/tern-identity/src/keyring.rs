//! [`KeyRing`]: the key that signs and the keys that are only published.
//!
//! Manual rotation (SPEC §2): publish the next key beside the current one, wait until relying
//! parties have re-fetched the JWKS, make it the signing key, and keep the old one published
//! until its last token has expired.

use std::sync::Arc;

use crate::jwk::{Algorithm, Kid, PublicJwk};
use crate::key::SigningKey;

/// Why a set of keys cannot form a ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// Two keys share a key id.
    #[error("two configured keys have the same key id {kid:?}; every key in the JWKS needs its own kid")]
    DuplicateKid {
        /// The shared key id.
        kid: Kid,
    },
    /// The same key is listed twice.
    #[error("the key with thumbprint {thumbprint} is configured twice")]
    DuplicateKey {
        /// The key's thumbprint.
        thumbprint: String,
    },
}

/// The signing key plus the public keys that are published but do not sign.
#[derive(Debug, Clone)]
pub struct KeyRing {
    signing: Arc<SigningKey>,
    published: Vec<PublicJwk>,
}

impl KeyRing {
    /// A ring in which `signing` signs and `published` are only listed in the JWKS.
    pub fn new(signing: SigningKey, published: Vec<PublicJwk>) -> Result<Self, KeyRingError> {
        let mut seen: Vec<&PublicJwk> = vec![signing.public_jwk()];
        for key in &published {
            if let Some(dup) = seen.iter().find(|k| k.params() == key.params()) {
                return Err(KeyRingError::DuplicateKey { thumbprint: dup.thumbprint() });
            }
            if seen.iter().any(|k| k.kid() == key.kid()) {
                return Err(KeyRingError::DuplicateKid { kid: key.kid().clone() });
            }
            seen.push(key);
        }
        Ok(Self { signing: Arc::new(signing), published })
    }

    /// The key that signs new tokens.
    pub fn signing_key(&self) -> &Arc<SigningKey> {
        &self.signing
    }

    /// Every published public key, the signing key first.
    pub fn public_keys(&self) -> impl Iterator<Item = &PublicJwk> {
        std::iter::once(self.signing.public_jwk()).chain(self.published.iter())
    }

    /// The algorithms of the published keys, signing key's first, without repeats.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algs = Vec::new();
        for key in self.public_keys() {
            if !algs.contains(&key.algorithm()) {
                algs.push(key.algorithm());
            }
        }
        algs
    }
}
