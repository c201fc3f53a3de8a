//! `landfall replicate IN OUT -n N`: a larger capture for load tests and benchmarks.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ReplicateArgs;
use crate::replicate::{read_frames, replicate};

pub fn run(args: ReplicateArgs) -> Result<ExitCode> {
    let name = args.input.display().to_string();
    let bytes = std::fs::read(&args.input).with_context(|| format!("reading {name}"))?;
    let frames = read_frames(bytes, &name)?;
    let out = replicate(&frames, args.copies)?;
    std::fs::write(&args.output, out)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}
