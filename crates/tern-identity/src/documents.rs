//! The two public documents of the issuer (SPEC §2), serialised once per key ring so the
//! server hands out the same bytes, with a strong ETag, on every request.

use aws_lc_rs::digest;
use tern_types::IssuerUrl;

use crate::claims::ClaimPolicy;
use crate::jwk::{PublicJwk, b64};
use crate::keyring::KeyRing;

/// Pre-serialised discovery and JWKS documents with their ETags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerDocuments {
    discovery: Vec<u8>,
    discovery_etag: String,
    jwks: Vec<u8>,
    jwks_etag: String,
}

#[derive(serde::Serialize)]
struct Discovery<'a> {
    issuer: &'a str,
    jwks_uri: String,
    response_types_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    scopes_supported: [&'static str; 1],
    claims_supported: Vec<&'static str>,
}

#[derive(serde::Serialize)]
struct Jwks<'a> {
    keys: Vec<&'a PublicJwk>,
}

impl IssuerDocuments {
    /// Build both documents for `issuer`, the keys of `ring` and the claims of `policy`.
    pub fn build(issuer: &IssuerUrl, ring: &KeyRing, policy: &ClaimPolicy) -> Self {
        let discovery = Discovery {
            issuer: issuer.as_str(),
            jwks_uri: issuer.jwks_uri(),
            response_types_supported: ["id_token"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ring.algorithms().iter().map(|a| a.as_str()).collect(),
            scopes_supported: ["openid"],
            claims_supported: policy.claim_names(),
        };
        let jwks = Jwks { keys: ring.public_keys().collect() };
        let discovery = pretty(&discovery);
        let jwks = pretty(&jwks);
        Self { discovery_etag: etag(&discovery), discovery, jwks_etag: etag(&jwks), jwks }
    }

    /// `/.well-known/openid-configuration`.
    pub fn discovery(&self) -> &[u8] {
        &self.discovery
    }

    /// Strong ETag of the discovery document, quoted.
    pub fn discovery_etag(&self) -> &str {
        &self.discovery_etag
    }

    /// `/.well-known/jwks`.
    pub fn jwks(&self) -> &[u8] {
        &self.jwks
    }

    /// Strong ETag of the JWKS, quoted.
    pub fn jwks_etag(&self) -> &str {
        &self.jwks_etag
    }
}

fn pretty<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // These documents hold only strings and arrays of strings: serialisation cannot fail.
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

fn etag(bytes: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, bytes);
    format!("\"{}\"", b64(&hash.as_ref()[..16]))
}
