//! `landfall`: replay captures into arrival moments, inspect decodes.

use clap::Parser;
use landfall::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => landfall::cmd::replay::run(args),
        Command::Inspect(args) => landfall::cmd::inspect::run(args),
        Command::Scenario(args) => landfall::cmd::scenario::run(args),
        Command::Replicate(args) => landfall::cmd::replicate::run(args),
        Command::Serve(args) => landfall::cmd::serve::run(args),
        Command::CheckConfig(args) => landfall::cmd::serve::check(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("landfall: {e:#}");
            ExitCode::from(2)
        }
    }
}
