//! End-to-end tests of the `tern` binary: every command as a user runs it, the real server on an
//! ephemeral port, and the real peers (PyJWT, jose, OpenBao) verifying what it mints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod agent;
mod audit;
mod client;
mod cloud;
mod crash;
mod errors;
mod exec;
mod help;
mod interop;
mod isolation;
mod keygen;
mod leaks;
mod load;
mod masking;
mod peers;
mod pytfe;
mod replicas;
mod runs;
mod serve;
mod signin;
mod support;
mod tokens;
mod trust;
mod ui;
