//! Dynamic credentials configuration, without I/O.
//!
//! Workspace [`Variables`] → [`resolve`] → [`CredentialConfigs`]: typed configurations per
//! platform and tag, with HCP Terraform's grammar and resolution order, default audiences and
//! Terrakube's names (SPEC §4). Every problem is a [`ConfigError`] naming the variables and the
//! fix, found before anything is minted. Then [`handoff::plan`] turns configurations into a
//! [`handoff::HandoffPlan`]: the files, environment and Terraform input variables a phase gets
//! (SPEC §5), as data — `tern-handoff` carries it out.
//!
//! Invariant: this crate does no I/O and holds no secrets; tokens and Vault tokens never pass
//! through it.

mod config;
pub mod dotenv;
mod error;
mod grammar;
pub mod handoff;
mod platform;
mod tag;
mod terrakube;
mod values;

pub use config::{
    AwsAuthType, AwsSettings, AzureSettings, Configuration, CredentialConfigs, GcpAuthType, GcpPrincipal,
    GcpSettings, GenericToken, KubernetesSettings, Origin, PerPhase, Source, Sourced, Variables,
    VaultBackedAwsSettings, VaultBackedAzureSettings, VaultBackedGcpSettings, VaultSettings, resolve,
};
pub use error::{ConfigError, ConfigErrors, ConfigRef};
pub use grammar::{Name, PhaseForm, parse as parse_name};
pub use platform::{Form, Platform, VarSpec};
pub use tag::{Tag, TagError};
pub use values::GcpProvider;
