//! The cloud side of trust.
//!
//! [`render`] prints what a cloud must be told to trust tern's tokens for an organization,
//! project, workspace and phase (AWS, Google Cloud, Azure, Vault, Kubernetes; as Terraform, the
//! cloud's JSON, or its CLI). It builds subjects with the same [`tern_identity::SubjectTemplate`]
//! that mints the tokens, so a generated trust policy and the tokens cannot drift.
//!
//! [`explain`] evaluates a token's claims against a trust configuration the way each cloud does
//! (AWS role trust policies, a documented CEL subset of Google's attribute conditions, Azure
//! federated credentials, Vault JWT roles) and says, per condition, the actual and expected value
//! and the first segment where they differ.
//!
//! [`UploadedJwks`] checks a JWKS given to a cloud instead of the issuer's URL (a private issuer:
//! Google Cloud's providers take one), public keys only.
//!
//! Invariants: no I/O and no clock (callers pass the time); nothing here sees a signature or a
//! key: a token's signature is `tern token verify`'s business.

mod diff;
pub mod explain;
mod generate;
mod glob;
mod jwks;
mod scope;

pub use generate::render;
pub use jwks::{JwksError, UploadedJwks};
pub use scope::{Cloud, CloudOptions, Format, PhaseScope, Subject, TrustError, TrustScope};
