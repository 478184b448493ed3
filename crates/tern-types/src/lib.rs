//! Validated newtypes shared by every tern crate.
//!
//! Raw strings from flags, environment variables, files and the wire stop here: each type in this
//! crate can only be built through a parser that checks it, so a value of type [`IssuerUrl`] or
//! [`WorkspaceName`] is proof that the check ran. This crate also owns the two things every other
//! crate must not get from the operating system directly: the current time ([`Clock`]) and the
//! wrapper for secrets ([`SecretString`]).
//!
//! Invariant: this crate does no I/O and depends on nothing else in tern.

mod audience;
mod clock;
mod issuer;
mod names;
mod phase;
mod secret;
mod terraform;
mod ttl;

pub use audience::{Audience, AudienceError};
pub use clock::{Clock, FixedClock, SystemClock, unix_seconds};
pub use issuer::{IssuerUrl, IssuerUrlError};
pub use names::{NameError, NameKind, OrganizationName, ProjectName, ResourceId, RunId, WorkspaceName};
pub use phase::{PhaseError, RunPhase};
pub use secret::SecretString;
pub use terraform::{TerraformVersion, TerraformVersionError, Version};
pub use ttl::{Ttl, TtlError};

/// The largest JSON plan (`terraform show -json` of a saved plan) a runner sends and the
/// server keeps.
pub const MAX_PLAN_JSON_BYTES: usize = 64 * 1024 * 1024;
