//! The wire between tern's parts, written once.
//!
//! - [`jsonapi`]: JSON:API documents (`data`, `included`, pagination, errors) and relationships.
//! - [`resources`]: every resource the TFE-shaped API renders, as TFE names its attributes.
//! - [`agent`]: the agent protocol at `/api/agent` (claim, job specification, mint, logs, finish).
//!
//! The server renders these types, the CLI, the runner and the tests read them: a field cannot
//! be renamed on one side only. Secrets on the wire (job tokens, minted tokens, variable values
//! handed to a job, a token shown once at creation) are [`SecretString`]s, so a `Debug` of any
//! of these types never shows one.
//!
//! **Must not**: do I/O, or know about the store or HTTP frameworks.

pub mod agent;
pub mod jsonapi;
pub mod resources;
mod secret;

pub use tern_types::SecretString;
