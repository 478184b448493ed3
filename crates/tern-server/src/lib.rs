//! tern's HTTP server. For now: the public issuer endpoints of SPEC §2
//! (`/.well-known/openid-configuration`, `/.well-known/jwks`), a health endpoint, TLS and
//! graceful shutdown. The TFE-compatible API arrives with the server issue.
//!
//! This is the only crate that names HTTP status codes. It serves documents built by
//! `tern-identity` as pre-serialised bytes; it never builds or signs anything itself.
//!
//! Status-code policy: 200 with the document; 304 when `If-None-Match` matches the ETag; 404
//! (JSON:API error object) for unknown paths; 405 for other methods on known paths.

mod routes;
mod serve;
mod tls;

pub use routes::{CachePolicy, IssuerState, app};
pub use serve::{ServeError, ServeOptions, serve};
pub use tls::{TlsError, load_tls};
