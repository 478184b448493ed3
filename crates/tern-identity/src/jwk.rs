//! Public keys as JWKs: [`Algorithm`], [`Kid`], [`JwkParams`], [`PublicJwk`] and the RFC 7638
//! thumbprint that is the default `kid`.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::ser::SerializeMap;

use crate::der::{self, oid, tag};
use crate::key::{EcCurve, KeyError};

/// A JWS signing algorithm tern signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: the default, accepted by every cloud.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// The JOSE name: `RS256` or `ES256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An algorithm name tern does not sign with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("algorithm {value:?} is not supported; use RS256 (default) or ES256")]
pub struct AlgorithmError {
    /// What was given.
    pub value: String,
}

impl FromStr for Algorithm {
    type Err = AlgorithmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            _ => Err(AlgorithmError { value: s.to_owned() }),
        }
    }
}

/// A key id that tern refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KidError {
    /// Empty.
    #[error("key id must not be empty")]
    Empty,
    /// Too long.
    #[error("key id is {len} characters long; at most 256 are allowed")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Holds white space, a quote, a backslash or a non-ASCII character.
    #[error("key id {value:?} may hold only printable ASCII without spaces, quotes or backslashes")]
    BadCharacter {
        /// What was given.
        value: String,
    },
}

/// A key id (`kid`): by default the key's RFC 7638 thumbprint; an operator may set it
/// (Terrakube's `DynamicCredentialId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(String);

impl Kid {
    /// Parse and validate an operator-chosen key id.
    pub fn parse(value: &str) -> Result<Self, KidError> {
        if value.is_empty() {
            return Err(KidError::Empty);
        }
        if value.len() > 256 {
            return Err(KidError::TooLong { len: value.len() });
        }
        if !value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
            return Err(KidError::BadCharacter { value: value.to_owned() });
        }
        Ok(Self(value.to_owned()))
    }

    /// The key id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Kid {
    type Err = KidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public parameters of a key.
#[derive(Clone, PartialEq, Eq)]
pub enum JwkParams {
    /// RSA: modulus and public exponent, unsigned big-endian without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// EC on P-256: affine coordinates.
    P256 {
        /// x coordinate.
        x: [u8; 32],
        /// y coordinate.
        y: [u8; 32],
    },
}

impl fmt::Debug for JwkParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl JwkParams {
    /// The algorithm a key with these parameters signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Rsa { .. } => Algorithm::Rs256,
            Self::P256 { .. } => Algorithm::Es256,
        }
    }

    /// `RSA 2048 bits` or `EC P-256`.
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa { n, .. } => format!("RSA {} bits", der::bit_len(n)),
            Self::P256 { .. } => "EC P-256".to_owned(),
        }
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, base64url without padding.
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no white space.
        let canonical = match self {
            Self::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            Self::P256 { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, b64(x), b64(y))
            }
        };
        b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// Build from an uncompressed SEC1 point (`04 || x || y`) on P-256.
    pub(crate) fn from_p256_point(point: &[u8]) -> Result<Self, KeyError> {
        match point {
            [0x04, coords @ ..] if coords.len() == 64 => {
                let mut x = [0u8; 32];
                let mut y = [0u8; 32];
                x.copy_from_slice(&coords[..32]);
                y.copy_from_slice(&coords[32..]);
                Ok(Self::P256 { x, y })
            }
            _ => Err(KeyError::Der {
                what: "EC public key",
                reason: "the point is not an uncompressed P-256 point".to_owned(),
            }),
        }
    }

    /// Parse a DER SubjectPublicKeyInfo (the body of a `PUBLIC KEY` PEM block).
    pub(crate) fn from_spki(spki: &[u8]) -> Result<Self, KeyError> {
        let bad = |reason: der::DerError| KeyError::Der { what: "PUBLIC KEY", reason: reason.to_string() };
        let mut seq = der::outer_sequence(spki).map_err(bad)?;
        let mut alg = der::Reader::new(seq.read(tag::SEQUENCE, "AlgorithmIdentifier").map_err(bad)?);
        let alg_oid = alg.read(tag::OID, "algorithm OID").map_err(bad)?;
        let bits = seq.read(tag::BIT_STRING, "BIT STRING").map_err(bad)?;
        seq.finish().map_err(bad)?;
        // The first octet of a BIT STRING counts unused bits; keys always use whole octets.
        let key = match bits.split_first() {
            Some((0, key)) => key,
            _ => {
                return Err(bad(der::DerError::UnexpectedTag {
                    expected: "whole-octet BIT STRING",
                    found: 0,
                }));
            }
        };
        match alg_oid {
            oid::RSA_ENCRYPTION => {
                let mut rsa = der::outer_sequence(key).map_err(bad)?;
                let n = der::unsigned(rsa.read(tag::INTEGER, "modulus").map_err(bad)?).to_vec();
                let e = der::unsigned(rsa.read(tag::INTEGER, "exponent").map_err(bad)?).to_vec();
                rsa.finish().map_err(bad)?;
                let bits = der::bit_len(&n);
                if bits < 2048 {
                    return Err(KeyError::RsaTooSmall { bits });
                }
                Ok(Self::Rsa { n, e })
            }
            oid::EC_PUBLIC_KEY => {
                let curve = alg.read(tag::OID, "named curve").map_err(bad)?;
                match EcCurve::from_oid(curve) {
                    EcCurve::P256 => Self::from_p256_point(key),
                    other => Err(KeyError::UnsupportedCurve { curve: other }),
                }
            }
            other => Err(KeyError::UnsupportedKeyType { name: crate::key::algorithm_name(other) }),
        }
    }
}

/// A public key as published in the JWKS: key id, algorithm and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    kid: Kid,
    params: JwkParams,
}

impl PublicJwk {
    /// A JWK whose `kid` is its RFC 7638 thumbprint.
    pub fn new(params: JwkParams) -> Self {
        let kid = Kid(params.thumbprint());
        Self { kid, params }
    }

    /// The same key with an operator-chosen `kid`.
    pub fn with_kid(mut self, kid: Kid) -> Self {
        self.kid = kid;
        self
    }

    /// Parse a `PUBLIC KEY` PEM document (as OTF and Terrakube configure it).
    pub fn from_spki_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let file = crate::pem::parse(pem)?;
        let spki = file.public_key()?;
        Ok(Self::new(JwkParams::from_spki(spki)?))
    }

    /// The key id.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.params.algorithm()
    }

    /// The public parameters.
    pub fn params(&self) -> &JwkParams {
        &self.params
    }

    /// The RFC 7638 thumbprint (equal to the kid unless the kid was overridden).
    pub fn thumbprint(&self) -> String {
        self.params.thumbprint()
    }

    /// Pretty JSON of the JWK, for humans.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl serde::Serialize for PublicJwk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(7))?;
        match &self.params {
            JwkParams::Rsa { n, e } => {
                map.serialize_entry("kty", "RSA")?;
                map.serialize_entry("use", "sig")?;
                map.serialize_entry("alg", self.algorithm().as_str())?;
                map.serialize_entry("kid", self.kid.as_str())?;
                map.serialize_entry("n", &b64(n))?;
                map.serialize_entry("e", &b64(e))?;
            }
            JwkParams::P256 { x, y } => {
                map.serialize_entry("kty", "EC")?;
                map.serialize_entry("use", "sig")?;
                map.serialize_entry("alg", self.algorithm().as_str())?;
                map.serialize_entry("kid", self.kid.as_str())?;
                map.serialize_entry("crv", "P-256")?;
                map.serialize_entry("x", &b64(x))?;
                map.serialize_entry("y", &b64(y))?;
            }
        }
        map.end()
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn rfc7638_example_thumbprint() {
        let n = URL_SAFE_NO_PAD
            .decode(
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKR\
                 XjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaS\
                 qzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINH\
                 aQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            )
            .unwrap();
        let e = URL_SAFE_NO_PAD.decode("AQAB").unwrap();
        let params = JwkParams::Rsa { n, e };
        assert_eq!(params.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(PublicJwk::new(params).kid().as_str(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn kid_table() {
        assert!(Kid::parse("03446895-220d-47e1-9564-4eeaa3691b42").is_ok());
        assert!(Kid::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").is_ok());
        assert_eq!(Kid::parse(""), Err(KidError::Empty));
        assert!(matches!(Kid::parse("a b"), Err(KidError::BadCharacter { .. })));
        assert!(matches!(Kid::parse("a\"b"), Err(KidError::BadCharacter { .. })));
        assert!(matches!(Kid::parse(&"k".repeat(257)), Err(KidError::TooLong { .. })));
    }

    #[test]
    fn algorithm_names() {
        assert_eq!("rs256".parse::<Algorithm>(), Ok(Algorithm::Rs256));
        assert_eq!("ES256".parse::<Algorithm>(), Ok(Algorithm::Es256));
        assert!("HS256".parse::<Algorithm>().is_err());
        assert!("none".parse::<Algorithm>().is_err());
    }
}
