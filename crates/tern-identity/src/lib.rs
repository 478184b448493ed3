//! tern's identity library: signing keys, workload identity tokens, the JWKS and discovery
//! documents, and verification of tokens against a JWKS.
//!
//! Data flow: key file bytes → [`SigningKey`] (parsed once) → [`KeyRing`] → [`IssuerDocuments`]
//! (served by the server) and [`mint`] (one [`TokenRequest`] → one [`Jwt`]). [`verify`] is the
//! relying party's side, used by `tern token verify` and the tests.
//!
//! Invariants: this crate does no I/O (callers read files and the network); it never reads the
//! clock (callers pass the time from a `tern_types::Clock`); no type holding private key
//! material or a token implements `Display` or `Serialize`, and their `Debug` redacts.

mod claims;
mod der;
mod documents;
mod encode;
mod jwk;
mod key;
mod keyring;
mod pem;
mod token;
pub mod verify;

pub use claims::{
    ClaimPolicy, ClaimProfile, ProfileError, REGISTERED_CLAIMS, RunContext, SubjectKey, SubjectTemplate,
    SubjectTemplateError,
};
pub use documents::IssuerDocuments;
pub use jwk::{Algorithm, AlgorithmError, JwkParams, Kid, KidError, PublicJwk};
pub use key::{EcCurve, KeyError, KeySpec, SignError, SigningKey};
pub use keyring::{KeyRing, KeyRingError};
pub use token::{Jti, Jwt, MintError, MintedToken, TokenRequest, mint};
