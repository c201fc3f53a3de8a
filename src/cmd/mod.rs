//! One module per subcommand.

pub mod inspect;
pub mod replay;
pub mod replicate;
pub mod scenario;
pub mod serve;
