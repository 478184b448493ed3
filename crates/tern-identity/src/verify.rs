//! Token verification as a relying party does it: JWKS lookup by `kid`, signature, `iss`,
//! `aud` and the time claims. Used by `tern token verify`, by `tern token inspect` (decoding
//! only) and by tests. The only way to get a [`VerifiedToken`] is [`verify`]: holding one proves
//! every check passed.
//!
//! Refused outright, whatever the JWKS says: `alg: none`, symmetric algorithms (algorithm
//! confusion), a `crit` header, a key whose type does not match the header's `alg`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tern_types::unix_seconds;

use crate::jwk::{Algorithm, JwkParams, PublicJwk};

/// Largest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Why a JWKS document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not a JSON object.
    #[error("the JWKS is not a JSON object: {reason}")]
    NotJson {
        /// The parser's complaint.
        reason: String,
    },
    /// No `keys` array.
    #[error("the JWKS has no \"keys\" array")]
    NoKeys,
}

struct JwksKey {
    kid: Option<String>,
    alg: Option<String>,
    params: Result<JwkParams, String>,
}

/// A parsed JWKS. Keys tern cannot use (other key types, encryption keys) are kept with the
/// reason, so an error can say why a `kid` that is listed still cannot verify.
pub struct Jwks {
    keys: Vec<JwksKey>,
}

impl Jwks {
    /// Parse a JWKS document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| JwksError::NotJson { reason: e.to_string() })?;
        let keys = doc.get("keys").and_then(Value::as_array).ok_or(JwksError::NoKeys)?;
        Ok(Self { keys: keys.iter().map(parse_key).collect() })
    }

    /// A JWKS made of known public keys (for tests and in-process checks).
    pub fn from_public_keys<'a>(keys: impl IntoIterator<Item = &'a PublicJwk>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| JwksKey {
                    kid: Some(k.kid().as_str().to_owned()),
                    alg: Some(k.algorithm().as_str().to_owned()),
                    params: Ok(k.params().clone()),
                })
                .collect(),
        }
    }

    /// The key ids listed.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().filter_map(|k| k.kid.clone()).collect()
    }
}

fn parse_key(key: &Value) -> JwksKey {
    let text = |name: &str| key.get(name).and_then(Value::as_str).map(str::to_owned);
    let kid = text("kid");
    let alg = text("alg");
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name).ok_or_else(|| format!("missing \"{name}\""))?;
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    let params = (|| {
        if text("use").is_some_and(|u| u != "sig") {
            return Err("its \"use\" is not \"sig\"".to_owned());
        }
        match text("kty").as_deref() {
            Some("RSA") => {
                let n = bytes("n")?;
                let e = bytes("e")?;
                let n = crate::der::unsigned(&n).to_vec();
                if crate::der::bit_len(&n) < 2048 {
                    return Err(format!("RSA key of {} bits is too short", crate::der::bit_len(&n)));
                }
                Ok(JwkParams::Rsa { n, e: crate::der::unsigned(&e).to_vec() })
            }
            Some("EC") => {
                if text("crv").as_deref() != Some("P-256") {
                    return Err(format!("curve {:?} is not supported", text("crv").unwrap_or_default()));
                }
                let x = bytes("x")?;
                let y = bytes("y")?;
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                JwkParams::from_p256_point(&point).map_err(|_| "x/y are not a P-256 point".to_owned())
            }
            other => Err(format!("key type {:?} is not supported", other.unwrap_or(""))),
        }
    })();
    JwksKey { kid, alg, params }
}

/// What the relying party expects.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The issuer, compared byte for byte with `iss`.
    pub issuer: &'a str,
    /// The audience that must be in `aud`; `None` skips the check.
    pub audience: Option<&'a str>,
    /// The current time.
    pub now: SystemTime,
    /// Allowed clock skew for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
}

/// Why a token was refused. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a compact JWS.
    #[error("not a JWT: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// An algorithm tern never accepts, or does not know.
    #[error("{}", unsupported_alg(.alg))]
    UnsupportedAlgorithm {
        /// The header's `alg`.
        alg: String,
    },
    /// No `kid` in the header.
    #[error(
        "the token header has no \"kid\", so the key cannot be chosen from the JWKS (Azure refuses such tokens too)"
    )]
    MissingKid,
    /// The `kid` is not in the JWKS.
    #[error(
        "key id {kid:?} is not in the issuer's JWKS (it lists: {}); the key was rotated out, or the token comes from another issuer",
        .available.join(", ")
    )]
    UnknownKid {
        /// The header's `kid`.
        kid: String,
        /// Key ids the JWKS lists.
        available: Vec<String>,
    },
    /// The JWKS lists the `kid` but the key cannot be used.
    #[error("key {kid:?} in the JWKS cannot be used: {reason}")]
    UnusableKey {
        /// The key id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// Header `alg` and key type disagree.
    #[error(
        "the token says alg {token_alg} but key {kid:?} is a {key_alg} key (algorithm confusion is refused)"
    )]
    KeyAlgorithmMismatch {
        /// The key id.
        kid: String,
        /// The header's `alg`.
        token_alg: String,
        /// The key's algorithm.
        key_alg: String,
    },
    /// The signature does not verify.
    #[error("the signature does not verify with key {kid:?}; the token was altered or signed by another key")]
    BadSignature {
        /// The key id.
        kid: String,
    },
    /// `iss` differs.
    #[error("issuer mismatch: the token says {found:?}, expected {expected:?}{}", issuer_hint(.expected, .found))]
    IssuerMismatch {
        /// Expected issuer.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `aud` does not contain the expected audience.
    #[error("audience mismatch: the token is for {}, expected {expected:?}", quoted(.found))]
    AudienceMismatch {
        /// Expected audience.
        expected: String,
        /// The token's `aud` values.
        found: Vec<String>,
    },
    /// A required claim is absent.
    #[error("the token has no {claim:?} claim")]
    MissingClaim {
        /// The claim.
        claim: &'static str,
    },
    /// A claim has the wrong JSON type.
    #[error("the {claim:?} claim is not {expected}")]
    ClaimType {
        /// The claim.
        claim: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// `exp` has passed.
    #[error("the token expired at {} ({} ago; leeway {}s)", rfc3339(*.exp), ago(*.exp, *.now), .leeway)]
    Expired {
        /// `exp`.
        exp: u64,
        /// Now.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `nbf` is in the future.
    #[error("the token is not valid before {} (in {}; leeway {}s); check the clocks", rfc3339(*.nbf), ago(*.now, *.nbf), .leeway)]
    NotYetValid {
        /// `nbf`.
        nbf: u64,
        /// Now.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
    /// `iat` is in the future.
    #[error("the token was issued in the future, at {} (in {}; leeway {}s); check the clocks", rfc3339(*.iat), ago(*.now, *.iat), .leeway)]
    IssuedInFuture {
        /// `iat`.
        iat: u64,
        /// Now.
        now: u64,
        /// Leeway in seconds.
        leeway: u64,
    },
}

fn unsupported_alg(alg: &str) -> String {
    match alg {
        "none" | "None" | "NONE" => "alg \"none\" (an unsigned token) is never accepted".to_owned(),
        a if a.starts_with("HS") => {
            format!("symmetric alg {a:?} is never accepted from a public-key issuer (algorithm confusion)")
        }
        a => format!("alg {a:?} is not supported; tokens must be RS256 or ES256"),
    }
}

fn issuer_hint(expected: &str, found: &str) -> String {
    if found.strip_suffix('/') == Some(expected) {
        return " (the token's issuer has a trailing '/')".to_owned();
    }
    if expected.strip_suffix('/') == Some(found) {
        return " (the expected issuer has a trailing '/')".to_owned();
    }
    let at = expected.bytes().zip(found.bytes()).take_while(|(a, b)| a == b).count();
    format!(" (they first differ at character {})", at + 1)
}

fn quoted(values: &[String]) -> String {
    match values {
        [] => "no audience".to_owned(),
        [one] => format!("{one:?}"),
        many => format!("{many:?}"),
    }
}

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// RFC 3339 form of a Unix time; times past year 9999 (a token may claim anything) are shown as
/// the number they are.
pub fn rfc3339(unix: u64) -> String {
    if unix > LAST_RFC3339_SECOND {
        return format!("{unix} (after the year 9999)");
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// Human form of `later - earlier`.
pub fn ago(earlier: u64, later: u64) -> String {
    humantime::format_duration(Duration::from_secs(later.saturating_sub(earlier))).to_string()
}

/// A decoded but unverified token: what `tern token inspect` shows.
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input_len: usize,
    signature: Vec<u8>,
}

impl UnverifiedToken {
    /// The protected header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// Decode a compact JWS without verifying it.
pub fn decode(token: &str) -> Result<UnverifiedToken, VerifyError> {
    let malformed = |reason: &str| VerifyError::Malformed { reason: reason.to_owned() };
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("longer than 64 KiB"));
    }
    if token.is_empty() {
        return Err(malformed("empty input"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(VerifyError::Malformed {
            reason: format!("expected 3 dot-separated parts, found {}", parts.len()),
        });
    }
    let part = |i: usize, name: &str| -> Result<Vec<u8>, VerifyError> {
        URL_SAFE_NO_PAD
            .decode(parts[i])
            .map_err(|_| VerifyError::Malformed { reason: format!("the {name} is not base64url") })
    };
    let object = |bytes: Vec<u8>, name: &str| -> Result<Map<String, Value>, VerifyError> {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(VerifyError::Malformed { reason: format!("the {name} is not a JSON object") }),
        }
    };
    let header = object(part(0, "header")?, "header")?;
    let claims = object(part(1, "payload")?, "payload")?;
    let signature = part(2, "signature")?;
    Ok(UnverifiedToken { header, claims, signing_input_len: parts[0].len() + 1 + parts[1].len(), signature })
}

/// A token whose signature, issuer, audience and times were checked. Only [`verify`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    kid: String,
    algorithm: Algorithm,
}

impl VerifiedToken {
    /// The protected header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// The key that verified the signature.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Verify `token` against `jwks` and `expect`.
pub fn verify(token: &str, jwks: &Jwks, expect: &Expectations<'_>) -> Result<VerifiedToken, VerifyError> {
    let decoded = decode(token)?;
    let token = token.trim();
    let header = &decoded.header;

    let alg = header.get("alg").and_then(Value::as_str).ok_or(VerifyError::MissingClaim { claim: "alg" })?;
    let algorithm = match alg {
        "RS256" => Algorithm::Rs256,
        "ES256" => Algorithm::Es256,
        other => return Err(VerifyError::UnsupportedAlgorithm { alg: other.to_owned() }),
    };
    if header.contains_key("crit") {
        return Err(VerifyError::Malformed {
            reason: "the header has a \"crit\" member tern does not understand".into(),
        });
    }
    let kid = header.get("kid").and_then(Value::as_str).ok_or(VerifyError::MissingKid)?;
    let key = jwks
        .keys
        .iter()
        .find(|k| k.kid.as_deref() == Some(kid))
        .ok_or_else(|| VerifyError::UnknownKid { kid: kid.to_owned(), available: jwks.kids() })?;
    let params = key
        .params
        .as_ref()
        .map_err(|reason| VerifyError::UnusableKey { kid: kid.to_owned(), reason: reason.clone() })?;
    let key_alg = key.alg.clone().unwrap_or_else(|| params.algorithm().as_str().to_owned());
    if params.algorithm() != algorithm || key_alg != alg {
        return Err(VerifyError::KeyAlgorithmMismatch {
            kid: kid.to_owned(),
            token_alg: alg.to_owned(),
            key_alg,
        });
    }
    let message = &token.as_bytes()[..decoded.signing_input_len];
    let verified = match params {
        JwkParams::Rsa { n, e } => {
            RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, message, &decoded.signature)
        }
        JwkParams::P256 { x, y } => {
            let mut point = [0u8; 65];
            point[0] = 0x04;
            point[1..33].copy_from_slice(x);
            point[33..].copy_from_slice(y);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point[..]).verify(message, &decoded.signature)
        }
    };
    verified.map_err(|_| VerifyError::BadSignature { kid: kid.to_owned() })?;

    let claims = &decoded.claims;
    let iss = claims.get("iss").ok_or(VerifyError::MissingClaim { claim: "iss" })?;
    let iss = iss.as_str().ok_or(VerifyError::ClaimType { claim: "iss", expected: "a string" })?;
    if iss != expect.issuer {
        return Err(VerifyError::IssuerMismatch {
            expected: expect.issuer.to_owned(),
            found: iss.to_owned(),
        });
    }
    if let Some(expected) = expect.audience {
        let found: Vec<String> = match claims.get("aud") {
            None => return Err(VerifyError::MissingClaim { claim: "aud" }),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Some(_) => {
                return Err(VerifyError::ClaimType {
                    claim: "aud",
                    expected: "a string or array of strings",
                });
            }
        };
        if !found.iter().any(|a| a == expected) {
            return Err(VerifyError::AudienceMismatch { expected: expected.to_owned(), found });
        }
    }
    let now = unix_seconds(expect.now);
    let leeway = expect.leeway.as_secs();
    let time = |claim: &'static str| -> Result<Option<u64>, VerifyError> {
        match claims.get(claim) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or(VerifyError::ClaimType { claim, expected: "a whole number of seconds" }),
        }
    };
    let exp = time("exp")?.ok_or(VerifyError::MissingClaim { claim: "exp" })?;
    if now > exp.saturating_add(leeway) {
        return Err(VerifyError::Expired { exp, now, leeway });
    }
    if let Some(nbf) = time("nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(VerifyError::NotYetValid { nbf, now, leeway });
    }
    if let Some(iat) = time("iat")?
        && iat > now.saturating_add(leeway)
    {
        return Err(VerifyError::IssuedInFuture { iat, now, leeway });
    }
    let kid = kid.to_owned();
    Ok(VerifiedToken { header: decoded.header, claims: decoded.claims, kid, algorithm })
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn times_beyond_rfc3339_are_shown_not_panicked_on() {
        // Found by the `explain` fuzz target: humantime panics past 9999, SystemTime overflows later.
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_800), "253402300800 (after the year 9999)");
        assert_eq!(rfc3339(u64::MAX), format!("{} (after the year 9999)", u64::MAX));
    }
}
