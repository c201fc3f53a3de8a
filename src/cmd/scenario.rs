//! `landfall scenario --out F [--ending-ago D]`: write the bundled roaming scenario
//! capture, as it is or moved to end `D` before now (demos and tests of `serve` with
//! moments that have not expired yet).

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::cli::ScenarioArgs;
use landfall_testkit::rotation::{frames, pcapng, span};
use landfall_testkit::scenario::{roaming_scenario, write_roaming_scenario};

pub fn run(args: ScenarioArgs) -> Result<ExitCode> {
    let written = match args.ending_ago {
        None => write_roaming_scenario(&args.out),
        Some(ago) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_micros() as i64;
            let ago = i64::try_from(ago.as_micros()).context("--ending-ago: too long")?;
            let f = frames(&roaming_scenario());
            let (_, end) = span(&f);
            std::fs::write(&args.out, pcapng(&f, now - ago - end))
        }
    };
    written.with_context(|| format!("writing {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
