//! `landfall scenario --out F`: write the bundled roaming scenario capture.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ScenarioArgs;
use landfall_testkit::scenario::write_roaming_scenario;

pub fn run(args: ScenarioArgs) -> Result<ExitCode> {
    write_roaming_scenario(&args.out).with_context(|| format!("writing {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
