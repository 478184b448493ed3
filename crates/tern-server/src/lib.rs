//! tern's HTTP server: the public issuer endpoints of SPEC §2
//! (`/.well-known/openid-configuration`, `/.well-known/jwks`), a health endpoint, the
//! TFE-compatible API and the agent API ([`api`]), TLS and graceful shutdown.
//!
//! This is the only crate that names HTTP status codes. It serves documents built by
//! `tern-identity` as pre-serialised bytes; the API mints job tokens with `tern_identity::mint` and leaves every rule to the store.
//!
//! Status-code policy: 200 with the document; 304 when `If-None-Match` matches the ETag; 404
//! (JSON:API error object) for unknown paths; 405 for other methods on known paths.

pub mod api;
mod app;
pub mod audit;
pub mod doctor;
pub mod keys;
mod routes;
mod serve;
mod tls;
mod ui;
pub mod web;

pub use routes::{CachePolicy, IssuerState, app, app_with};
pub use serve::{ServeError, ServeOptions, serve};
pub use tls::{TlsError, load_tls};
pub use ui::table::{Needs, PAGES, Page, PageMethod, Permission, WorkspaceLevel};
