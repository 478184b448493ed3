//! One module per subcommand.

pub mod exec;
pub mod keygen;
pub mod serve;
pub mod token;
