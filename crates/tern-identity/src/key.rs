//! [`SigningKey`]: a private key parsed once, with its public JWK and pre-encoded JWS header.
//!
//! Intake accepts PEM PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) and SEC1
//! (`EC PRIVATE KEY`), derives the public key itself, and refuses anything it would not sign
//! with, saying why ([`KeyError`]). Signing is aws-lc-rs. No type here implements `Display`
//! or `Serialize` for private material, and `Debug` prints only the key id.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::SectionKind;
use zeroize::Zeroizing;

use crate::der::{self, oid, tag};
use crate::jwk::{Algorithm, JwkParams, Kid, PublicJwk, b64};

/// An elliptic curve, named for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcCurve {
    /// NIST P-256 (secp256r1), the one curve tern signs with (ES256).
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
    /// secp256k1.
    Secp256k1,
    /// Another curve, by OID.
    Other(String),
    /// A SEC1 key that does not name its curve.
    Unnamed,
}

impl EcCurve {
    pub(crate) fn from_oid(content: &[u8]) -> Self {
        match content {
            oid::P256 => Self::P256,
            oid::P384 => Self::P384,
            oid::P521 => Self::P521,
            oid::SECP256K1 => Self::Secp256k1,
            other => Self::Other(der::oid_to_string(other)),
        }
    }
}

impl fmt::Display for EcCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::P256 => f.write_str("P-256"),
            Self::P384 => f.write_str("P-384"),
            Self::P521 => f.write_str("P-521"),
            Self::Secp256k1 => f.write_str("secp256k1"),
            Self::Other(oid) => write!(f, "OID {oid}"),
            Self::Unnamed => f.write_str("(unnamed)"),
        }
    }
}

pub(crate) fn algorithm_name(content: &[u8]) -> String {
    match content {
        oid::ED25519 => "Ed25519".to_owned(),
        oid::ED448 => "Ed448".to_owned(),
        oid::X25519 => "X25519".to_owned(),
        oid::DSA => "DSA".to_owned(),
        oid::RSASSA_PSS => "RSASSA-PSS-restricted RSA".to_owned(),
        other => format!("algorithm OID {}", der::oid_to_string(other)),
    }
}

/// Why a key could not be loaded, generated or used. Messages never contain key material; the
/// caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// No PEM block at all.
    #[error("not a PEM file (no -----BEGIN ...----- line){}", hint_suffix(.hint))]
    NotPem {
        /// What the content looks like instead.
        hint: Option<&'static str>,
    },
    /// Encrypted PEM.
    #[error(
        "the key is encrypted; tern needs an unencrypted key file (decrypt it with: openssl pkey -in FILE -out key.pem, and keep it mode 0600)"
    )]
    Encrypted,
    /// A block has no END line.
    #[error("the PEM block {label:?} has no END line; the file is truncated")]
    Truncated {
        /// The block's label.
        label: String,
    },
    /// The base64 body does not decode.
    #[error("the base64 body of the PEM block is corrupt")]
    CorruptPem,
    /// Other PEM syntax problems.
    #[error("malformed PEM: {reason}")]
    MalformedPem {
        /// What is wrong.
        reason: &'static str,
    },
    /// No private key block.
    #[error(
        "no private key in the file (found: {}); expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block{}",
        labels(.found), hint_suffix(.hint)
    )]
    NoPrivateKey {
        /// Labels of the blocks that were found.
        found: Vec<String>,
        /// How to convert what was found.
        hint: Option<&'static str>,
    },
    /// No public key block.
    #[error("no public key in the file (found: {}); expected a PUBLIC KEY block{}", labels(.found), hint_suffix(.hint))]
    NoPublicKey {
        /// Labels of the blocks that were found.
        found: Vec<String>,
        /// How to convert what was found.
        hint: Option<&'static str>,
    },
    /// More than one private key.
    #[error("the file holds {count} private keys; put each key in its own file")]
    SeveralPrivateKeys {
        /// How many.
        count: usize,
    },
    /// The DER inside a block is malformed.
    #[error("the {what} is not valid DER ({reason}); the file may be truncated or corrupt")]
    Der {
        /// Which structure.
        what: &'static str,
        /// What the reader found.
        reason: String,
    },
    /// RSA key below 2048 bits.
    #[error("RSA key is {bits} bits; at least 2048 are required (generate one with: tern keygen --out FILE)")]
    RsaTooSmall {
        /// Modulus size.
        bits: usize,
    },
    /// RSA key above 8192 bits.
    #[error("RSA key is {bits} bits; at most 8192 are supported")]
    RsaTooLarge {
        /// Modulus size.
        bits: usize,
    },
    /// EC key on a curve other than P-256.
    #[error(
        "EC key on curve {curve} is not supported; ES256 needs P-256 (generate one with: tern keygen --algorithm ES256 --out FILE)"
    )]
    UnsupportedCurve {
        /// The curve found.
        curve: EcCurve,
    },
    /// Ed25519, DSA and the like.
    #[error("{name} keys are not supported; use RSA (RS256, accepted by every cloud) or EC P-256 (ES256)")]
    UnsupportedKeyType {
        /// The algorithm found.
        name: String,
    },
    /// aws-lc-rs refused the key after the structure checked out.
    #[error("the key is invalid: the crypto library rejected it ({reason})")]
    Rejected {
        /// aws-lc-rs' reason.
        reason: &'static str,
    },
    /// The public key file does not belong to the private key.
    #[error(
        "the public key does not match the private key (private key thumbprint {private_thumbprint}, public key thumbprint {public_thumbprint}); give the public key derived from this private key, or omit it: tern derives it"
    )]
    PublicKeyMismatch {
        /// Thumbprint of the private key's public half.
        private_thumbprint: String,
        /// Thumbprint of the given public key.
        public_thumbprint: String,
    },
    /// Key generation failed.
    #[error("key generation failed in the crypto library")]
    Generate,
    /// Encoding the key failed.
    #[error("encoding the key failed in the crypto library")]
    Encode,
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|h| format!("; {h}")).unwrap_or_default()
}

fn labels(found: &[String]) -> String {
    if found.is_empty() { "nothing".to_owned() } else { found.join(", ") }
}

/// What `tern keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// An RSA key for RS256, of 2048, 3072 or 4096 bits.
    Rsa {
        /// Modulus size.
        bits: u16,
    },
    /// An EC P-256 key for ES256.
    EcP256,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private signing key, parsed once and reused for every token.
pub struct SigningKey {
    pair: Pair,
    public: PublicJwk,
    header_b64: String,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid().as_str())
            .field("alg", &self.public.algorithm().as_str())
            .field("private", &"<redacted>")
            .finish()
    }
}

/// Why a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing failed in the crypto library")]
pub struct SignError;

impl SigningKey {
    /// Generate a new key.
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        match spec {
            KeySpec::Rsa { bits } => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    bits if bits < 2048 => return Err(KeyError::RsaTooSmall { bits: bits.into() }),
                    bits => return Err(KeyError::RsaTooLarge { bits: bits.into() }),
                };
                let pair = RsaKeyPair::generate(size).map_err(|_| KeyError::Generate)?;
                Self::from_pair(Pair::Rsa(pair))
            }
            KeySpec::EcP256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| KeyError::Generate)?;
                Self::from_pair(Pair::Ec(pair))
            }
        }
    }

    /// Parse a PEM private key: PKCS#8, PKCS#1 or SEC1, unencrypted.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let file = crate::pem::parse(pem)?;
        let (kind, der) = file.private_key()?;
        match kind {
            SectionKind::PrivateKey => Self::from_pkcs8(der),
            SectionKind::RsaPrivateKey => {
                check_rsa_bits(pkcs1_modulus_bits(der)?)?;
                let pair = RsaKeyPair::from_der(der).map_err(rejected)?;
                Self::from_pair(Pair::Rsa(pair))
            }
            _ => {
                match sec1_curve(der)? {
                    EcCurve::P256 | EcCurve::Unnamed => {}
                    curve => return Err(KeyError::UnsupportedCurve { curve }),
                }
                let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?;
                Self::from_pair(Pair::Ec(pair))
            }
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let bad = |e: der::DerError| KeyError::Der { what: "PRIVATE KEY", reason: e.to_string() };
        let mut seq = der::outer_sequence(der).map_err(bad)?;
        seq.read(tag::INTEGER, "version").map_err(bad)?;
        let mut alg = der::Reader::new(seq.read(tag::SEQUENCE, "AlgorithmIdentifier").map_err(bad)?);
        let alg_oid = alg.read(tag::OID, "algorithm OID").map_err(bad)?;
        match alg_oid {
            oid::RSA_ENCRYPTION => {
                let inner = seq.read(tag::OCTET_STRING, "private key").map_err(bad)?;
                check_rsa_bits(pkcs1_modulus_bits(inner)?)?;
                let pair = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
                Self::from_pair(Pair::Rsa(pair))
            }
            oid::EC_PUBLIC_KEY => {
                let curve = match alg.read_optional(tag::OID).map_err(bad)? {
                    Some(curve) => EcCurve::from_oid(curve),
                    None => EcCurve::Unnamed,
                };
                if curve != EcCurve::P256 {
                    return Err(KeyError::UnsupportedCurve { curve });
                }
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(rejected)?;
                Self::from_pair(Pair::Ec(pair))
            }
            other => Err(KeyError::UnsupportedKeyType { name: algorithm_name(other) }),
        }
    }

    fn from_pair(pair: Pair) -> Result<Self, KeyError> {
        let params = match &pair {
            Pair::Rsa(rsa) => {
                let public = rsa.public_key();
                JwkParams::Rsa {
                    n: public.modulus().big_endian_without_leading_zero().to_vec(),
                    e: public.exponent().big_endian_without_leading_zero().to_vec(),
                }
            }
            Pair::Ec(ec) => JwkParams::from_p256_point(ec.public_key().as_ref())?,
        };
        let public = PublicJwk::new(params);
        let header_b64 = header_b64(&public);
        Ok(Self { pair, public, header_b64, rng: SystemRandom::new() })
    }

    /// Replace the key id (Terrakube's `DynamicCredentialId`, `--kid`).
    pub fn with_kid(mut self, kid: Kid) -> Self {
        self.public = self.public.with_kid(kid);
        self.header_b64 = header_b64(&self.public);
        self
    }

    /// Fail unless `public_pem` holds this key's public half (OTF and Terrakube configure both).
    pub fn check_public_pem(&self, public_pem: &[u8]) -> Result<(), KeyError> {
        let given = PublicJwk::from_spki_pem(public_pem)?;
        if given.params() == self.public.params() {
            Ok(())
        } else {
            Err(KeyError::PublicKeyMismatch {
                private_thumbprint: self.public.thumbprint(),
                public_thumbprint: given.thumbprint(),
            })
        }
    }

    /// The key id.
    pub fn kid(&self) -> &Kid {
        self.public.kid()
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// The public half, as published in the JWKS.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The base64url-encoded JWS protected header `{"alg":…,"typ":"JWT","kid":…}`.
    pub fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// The private key as an unencrypted PKCS#8 PEM document (for `tern keygen`).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der: Zeroizing<Vec<u8>> = match &self.pair {
            Pair::Rsa(rsa) => {
                let doc: Pkcs8V1Der<'static> = rsa.as_der().map_err(|_| KeyError::Encode)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
            Pair::Ec(ec) => Zeroizing::new(ec.to_pkcs8v1().map_err(|_| KeyError::Encode)?.as_ref().to_vec()),
        };
        Ok(pem_encode("PRIVATE KEY", &der))
    }

    /// The public key as a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM document.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        let der: PublicKeyX509Der<'static> = match &self.pair {
            Pair::Rsa(rsa) => rsa.public_key().as_der().map_err(|_| KeyError::Encode)?,
            Pair::Ec(ec) => ec.public_key().as_der().map_err(|_| KeyError::Encode)?,
        };
        Ok(pem_encode("PUBLIC KEY", der.as_ref()).to_string())
    }

    /// Sign `buf[..len]` (the JWS signing input) and append the base64url signature to `buf`.
    pub(crate) fn sign_into(&self, buf: &mut Vec<u8>, len: usize) -> Result<(), SignError> {
        let message = buf.get(..len).ok_or(SignError)?;
        match &self.pair {
            Pair::Rsa(rsa) => {
                let mut signature = vec![0u8; rsa.public_modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature).map_err(|_| SignError)?;
                crate::encode::push_b64url(buf, &signature);
            }
            Pair::Ec(ec) => {
                let signature = ec.sign(&self.rng, message).map_err(|_| SignError)?;
                crate::encode::push_b64url(buf, signature.as_ref());
            }
        }
        Ok(())
    }
}

fn header_b64(public: &PublicJwk) -> String {
    #[derive(serde::Serialize)]
    struct Header<'a> {
        alg: &'a str,
        typ: &'a str,
        kid: &'a str,
    }
    let header = Header { alg: public.algorithm().as_str(), typ: "JWT", kid: public.kid().as_str() };
    // Serializing three string fields cannot fail.
    b64(&serde_json::to_vec(&header).unwrap_or_default())
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> KeyError {
    KeyError::Rejected { reason: e.description_() }
}

fn check_rsa_bits(bits: usize) -> Result<(), KeyError> {
    match bits {
        0..2048 => Err(KeyError::RsaTooSmall { bits }),
        2048..=8192 => Ok(()),
        _ => Err(KeyError::RsaTooLarge { bits }),
    }
}

/// Modulus size of a PKCS#1 `RSAPrivateKey`.
fn pkcs1_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    let bad = |e: der::DerError| KeyError::Der { what: "RSA PRIVATE KEY", reason: e.to_string() };
    let mut seq = der::outer_sequence(der).map_err(bad)?;
    seq.read(tag::INTEGER, "version").map_err(bad)?;
    let n = seq.read(tag::INTEGER, "modulus").map_err(bad)?;
    Ok(der::bit_len(n))
}

/// The named curve of a SEC1 `ECPrivateKey`, if it names one.
fn sec1_curve(der: &[u8]) -> Result<EcCurve, KeyError> {
    let bad = |e: der::DerError| KeyError::Der { what: "EC PRIVATE KEY", reason: e.to_string() };
    let mut seq = der::outer_sequence(der).map_err(bad)?;
    seq.read(tag::INTEGER, "version").map_err(bad)?;
    seq.read(tag::OCTET_STRING, "private key").map_err(bad)?;
    match seq.read_optional(tag::CONTEXT_0).map_err(bad)? {
        Some(params) => {
            let curve = der::Reader::new(params).read(tag::OID, "named curve").map_err(bad)?;
            Ok(EcCurve::from_oid(curve))
        }
        None => Ok(EcCurve::Unnamed),
    }
}

fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let body = Zeroizing::new(STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}
