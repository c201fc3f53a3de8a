//! `landfall serve` and `landfall check-config`: the service of `landfall-service`, run
//! from its configuration file.

use std::process::ExitCode;

use anyhow::Result;
use landfall_service::server::{self, Stop};
use landfall_service::{check_config, logging, Config};

use crate::cli::{CheckConfigArgs, ServeArgs};

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let cfg = Config::load(&args.config)?;
    logging::init(&cfg.log.filter)?;
    let running = server::start(cfg, Stop::default())?;
    let summary = running.wait()?;
    eprintln!(
        "landfall: stopped: {} signals applied, {} late, {} moments",
        summary.signals, summary.late, summary.moments
    );
    Ok(ExitCode::SUCCESS)
}

pub fn check(args: CheckConfigArgs) -> Result<ExitCode> {
    print!("{}", check_config(&args.config)?);
    Ok(ExitCode::SUCCESS)
}
