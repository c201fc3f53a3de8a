//! `landfall replicate IN OUT -n N [--distinct-subscribers]`: a larger capture for load
//! tests and benchmarks.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ReplicateArgs;
use landfall_testkit::replicate::{read_frames, replicate_with, Options};

pub fn run(args: ReplicateArgs) -> Result<ExitCode> {
    let name = args.input.display().to_string();
    let bytes = std::fs::read(&args.input).with_context(|| format!("reading {name}"))?;
    let frames = read_frames(bytes, &name).with_context(|| format!("reading {name}"))?;
    let opts = Options {
        copies: args.copies,
        distinct_subscribers: args.distinct_subscribers,
        diameter_tcp_ports: args.diameter_tcp_ports,
    };
    let (out, report) =
        replicate_with(&frames, &opts).with_context(|| format!("replicating {name}"))?;
    std::fs::write(&args.output, out)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if let Some(r) = report {
        eprintln!("{r}");
    }
    Ok(ExitCode::SUCCESS)
}
