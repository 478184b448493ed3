//! Minting: a [`TokenRequest`] and a [`SigningKey`] become a signed JWT ([`Jwt`]).
//!
//! The header is pre-encoded per key; the claims are serialised straight into the output buffer;
//! the only real cost is the signature (see `benches/mint.rs`).

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use tern_types::{Audience, IssuerUrl, SecretString, Ttl, unix_seconds};

use crate::claims::{ClaimPolicy, RunContext};
use crate::encode::{push_b64url, push_json_str, push_u64};
use crate::jwk::Kid;
use crate::key::SigningKey;

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The crypto library failed to sign.
    #[error("signing the token failed in the crypto library")]
    Sign,
    /// The random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// A token id (`jti`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jti(String);

impl Jti {
    /// A random UUIDv4.
    ///
    /// The randomness comes from aws-lc's CSPRNG in 512-byte batches kept per thread: one
    /// `RAND_bytes` call costs ~3 µs here, as much as 8 % of an ES256 signature, while a batch
    /// serves 32 ids. A `jti` must be unique, not secret, and tern never forks a process that
    /// mints (children are exec'd), so a batch is never shared by two processes.
    pub fn random() -> Result<Self, MintError> {
        let b = random_16()?;
        Ok(Self(format_uuid_v4(b)))
    }

    /// A fixed id, for golden tests and replays of recorded tokens.
    pub fn fixed(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const BATCH: usize = 512;

struct RandomBatch {
    bytes: [u8; BATCH],
    used: usize,
}

thread_local! {
    static BATCH_CELL: std::cell::RefCell<RandomBatch> =
        const { std::cell::RefCell::new(RandomBatch { bytes: [0; BATCH], used: BATCH }) };
}

fn random_16() -> Result<[u8; 16], MintError> {
    BATCH_CELL.with(|cell| {
        let mut batch = cell.borrow_mut();
        if batch.used + 16 > BATCH {
            SystemRandom::new().fill(&mut batch.bytes).map_err(|_| MintError::Random)?;
            batch.used = 0;
        }
        let mut out = [0u8; 16];
        let start = batch.used;
        out.copy_from_slice(&batch.bytes[start..start + 16]);
        batch.bytes[start..start + 16].fill(0);
        batch.used += 16;
        Ok(out)
    })
}

fn format_uuid_v4(mut b: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b[6] = (b[6] & 0x0F) | 0x40; // version 4
    b[8] = (b[8] & 0x3F) | 0x80; // RFC 4122 variant
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0F)]));
    }
    out
}

/// A signed JWT. It is a bearer credential: `Debug` redacts it, it has no `Display` or
/// `Serialize`, and [`Jwt::expose_secret`] is the one way to read it.
#[derive(Clone)]
pub struct Jwt(SecretString);

impl Jwt {
    /// A token minted elsewhere (by the server, for an agent), as received.
    pub fn received(token: SecretString) -> Self {
        Self(token)
    }

    /// The compact serialisation, for the party that needs it and nobody else.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jwt(<redacted, {} bytes>)", self.0.len())
    }
}

/// What to mint.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// Organization, project, workspace, run and phase.
    pub context: &'a RunContext,
    /// `aud`.
    pub audience: &'a Audience,
    /// Profile and subject template.
    pub policy: &'a ClaimPolicy,
    /// `iat` and `nbf` (from the caller's [`tern_types::Clock`]).
    pub issued_at: SystemTime,
    /// `exp` - `iat`.
    pub ttl: Ttl,
    /// `jti`.
    pub jti: Jti,
}

/// A minted token and the facts about it that are safe to log.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The token itself (secret).
    pub jwt: Jwt,
    /// Key id of the signing key.
    pub kid: Kid,
    /// Token id.
    pub jti: Jti,
    /// `sub`.
    pub subject: String,
    /// `iat` (= `nbf`), Unix seconds.
    pub issued_at: u64,
    /// `exp`, Unix seconds.
    pub expires_at: u64,
}

/// The claims of one token, borrowed from the request.
struct Claims<'a> {
    issuer: &'a str,
    subject: &'a str,
    audience: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
    extra: Vec<(&'static str, Cow<'a, str>)>,
}

impl Claims<'_> {
    /// Write the claims object in the order of SPEC §3: registered claims, then the profile's.
    fn write(&self, out: &mut Vec<u8>) {
        let field = |out: &mut Vec<u8>, name: &str, first: bool| {
            out.extend_from_slice(if first { b"{\"" } else { b",\"" });
            out.extend_from_slice(name.as_bytes()); // claim names are ASCII identifiers
            out.extend_from_slice(b"\":");
        };
        field(out, "iss", true);
        push_json_str(out, self.issuer);
        field(out, "sub", false);
        push_json_str(out, self.subject);
        field(out, "aud", false);
        push_json_str(out, self.audience);
        field(out, "iat", false);
        push_u64(out, self.iat);
        field(out, "nbf", false);
        push_u64(out, self.iat);
        field(out, "exp", false);
        push_u64(out, self.exp);
        field(out, "jti", false);
        push_json_str(out, self.jti);
        for (name, value) in &self.extra {
            field(out, name, false);
            push_json_str(out, value);
        }
        out.push(b'}');
    }
}

/// Mint a token for `request`, signed by `key`, issued by `issuer`.
pub fn mint(
    key: &SigningKey,
    issuer: &IssuerUrl,
    request: &TokenRequest<'_>,
) -> Result<MintedToken, MintError> {
    let subject = request.policy.subject(request.context);
    let iat = unix_seconds(request.issued_at);
    let exp = iat + request.ttl.as_secs();
    let claims = Claims {
        issuer: issuer.as_str(),
        subject: &subject,
        audience: request.audience.as_str(),
        iat,
        exp,
        jti: request.jti.as_str(),
        extra: request.policy.profile().extra_claims(request.context),
    };
    let mut payload = Vec::with_capacity(640);
    claims.write(&mut payload);

    let header = key.header_b64();
    let mut token: Vec<u8> = Vec::with_capacity(header.len() + payload.len() * 4 / 3 + 700);
    token.extend_from_slice(header.as_bytes());
    token.push(b'.');
    push_b64url(&mut token, &payload);
    let signing_input_len = token.len();
    token.push(b'.');
    key.sign_into(&mut token, signing_input_len).map_err(|_| MintError::Sign)?;
    // Every byte is base64url or '.', so this is ASCII; checked once, here.
    let token = String::from_utf8(token).map_err(|_| MintError::Sign)?;

    Ok(MintedToken {
        jwt: Jwt(SecretString::new(token)),
        kid: key.kid().clone(),
        jti: request.jti.clone(),
        subject,
        issued_at: iat,
        expires_at: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_formatting() {
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        assert_eq!(format_uuid_v4(bytes), "00112233-4455-4677-8899-aabbccddeeff");
    }

    #[test]
    fn random_jtis_are_unique_across_batches() {
        let ids: std::collections::HashSet<String> =
            (0..200).map(|_| Jti::random().unwrap().as_str().to_owned()).collect();
        assert_eq!(ids.len(), 200, "200 ids span several 32-id batches");
        let a = Jti::random().unwrap();
        let s = a.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
    }
}
