//! Running one phase's command in a sandbox.
//!
//! The mechanism is bubblewrap (`bwrap`, Flatpak's sandbox), not namespaces set up by hand: it is
//! small, audited, packaged everywhere, and works both as root and unprivileged (through a user
//! namespace). This crate builds its command line from a [`Policy`] and knows nothing of Terraform.

pub mod egress;
