//! The application layer: an action a person or a program takes through a front end — the TFE
//! API (`api`), the web UI (`ui`) — is one function here. It receives the authenticated
//! [`Caller`](crate::api::Caller), asks `api::access` (the one place that decides, through
//! `tern-access`) whether the caller may, acts on the store, and records the act in the audit
//! trail. Front ends parse requests and render answers; they do not decide.
//!
//! Actions arrive here front end by front end: everything the web UI offers is here, and the
//! TFE API's handlers for the same acts call these very functions, so a page and an API call
//! can never disagree.

pub(crate) mod credentials;
pub(crate) mod doctor;
pub(crate) mod keys;
pub(crate) mod organization;
pub(crate) mod runs;
pub(crate) mod settings;
pub(crate) mod state;
pub(crate) mod teams;
pub(crate) mod trust;
pub(crate) mod users;
pub(crate) mod variables;
pub(crate) mod varsets;
pub(crate) mod workspaces;
