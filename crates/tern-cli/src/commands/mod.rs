//! One module per subcommand.

pub mod agent;
pub mod client;
pub mod doctor;
pub mod exec;
pub mod keygen;
pub mod serve;
pub mod token;
pub mod trust;
