//! One module per subcommand.

pub mod keygen;
pub mod serve;
pub mod token;
