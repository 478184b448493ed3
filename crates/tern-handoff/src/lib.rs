//! Carries out a hand-off plan for one phase (SPEC §5): the private, locked credentials
//! directory of the run ([`rundir`]), token files written atomically and refreshed, Vault
//! logins renewed and revoked, secrets-engine reads whose leases are revoked, the tfvars file,
//! teardown on every path, recovery after a crash ([`phase`]), and the command's process with
//! signals and a timeout ([`process`]).
//!
//! Tokens come from a [`TokenMinter`]: a local key for `tern exec`, the server for agents. This
//! crate never signs anything itself and never logs a token, a Vault token or a secret.

pub mod files;
pub mod minter;
pub mod phase;
pub mod process;
pub mod rundir;
pub mod vault;

pub use minter::{LocalMinter, MintFailure, TokenMinter};
pub use phase::{
    ActivePhase, EnvValue, PhaseOptions, PrepareError, RecoveryNote, TeardownReport, prepare,
    recover_abandoned,
};
pub use process::{CommandSpec, Outcome, ProcessError, RunOptions};
pub use rundir::{DirError, RunDir};
pub use vault::http_cause;
