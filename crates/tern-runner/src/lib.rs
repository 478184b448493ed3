//! tern's runner: the agent side of runs. [`worker`] claims jobs from the server and runs them
//! one at a time; [`job`] runs one phase — configuration, state, variables, dynamic credentials
//! (minted by the server: the runner never holds a signing key), Terraform, logs, state upload,
//! teardown; [`mask`] keeps every sensitive value the phase knows out of the log. `tern serve`
//! runs workers in-process over loopback; `tern agent` runs them elsewhere. Both use the same
//! HTTP API and this same code. [`terraform`] knows which Terraform versions this runner has;
//! it advertises them when it claims work; [`cliconfig`] reads the operator's Terraform CLI
//! configuration, which every phase gets.

pub mod cliconfig;
pub mod client;
pub mod job;
pub mod mask;
pub mod structured;
pub mod terraform;
pub mod worker;

pub use client::{AgentClient, ClientError, JobClient, ServerMinter};
pub use job::{PhaseResult, RunnerSettings, run_job};
pub use terraform::{TerraformError, TerraformSet, TerraformSources};
pub use worker::run_worker;
