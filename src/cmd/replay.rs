//! `landfall replay`: captures → decoders → dataflow → moments as JSON Lines.
//!
//! Deterministic: the same captures and options give byte-identical output, whatever
//! the number of workers (moments are ordered by time, then id).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use landfall_dataflows::zones::{read_catalog, read_zones, Shape};
use landfall_dataflows::{
    run_moments_zoned, PresenceConfig, RunOptions, Topology, ZoneConfig, ZoneInputs,
};

use crate::cli::ReplayArgs;
use crate::ingest::{self, SignalSink};
use crate::output::write_moment;
use crate::summary::{rate_line, stats_report};

/// Signals are fed to the dataflow in one-second batches of capture time.
const BATCH_US: i64 = 1_000_000;

/// The timely topology the arguments ask for.
fn topology(args: &ReplayArgs) -> Result<Topology> {
    if args.processes <= 1 {
        return Ok(Topology::Process);
    }
    let path = args
        .hostfile
        .as_ref()
        .context("--processes > 1 needs --hostfile (one host:port per process)")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --hostfile {}", path.display()))?;
    let hosts: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if hosts.len() != args.processes as usize {
        bail!(
            "--hostfile {} lists {} addresses for --processes {}",
            path.display(),
            hosts.len(),
            args.processes
        );
    }
    if args.out.is_none() {
        // timely's cluster setup prints connection progress on standard output.
        bail!("--processes > 1 needs --out FILE (timely prints connection progress on standard output)");
    }
    if args.process >= args.processes {
        bail!(
            "--process {} is not below --processes {}",
            args.process,
            args.processes
        );
    }
    Ok(Topology::Cluster {
        process: args.process as usize,
        hosts,
    })
}

/// The zones and cell catalog the arguments name, loaded before any decoding (so that a
/// bad file fails fast), with a line for the summary.
fn zone_inputs(args: &ReplayArgs) -> Result<Option<(ZoneInputs, String)>> {
    let Some(path) = &args.zones else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --zones {}", path.display()))?;
    let zones = read_zones(&text).with_context(|| format!("--zones {}", path.display()))?;
    let (catalog, skipped) = match &args.cells {
        Some(p) => {
            let f = File::open(p).with_context(|| format!("opening --cells {}", p.display()))?;
            read_catalog(io::BufReader::new(f))
                .with_context(|| format!("--cells {}", p.display()))?
        }
        None => (Vec::new(), 0),
    };
    let geometric = zones
        .iter()
        .filter(|z| !matches!(z.shape, Shape::Keys(_)))
        .count();
    let mut line = format!(
        "zones {} ({geometric} circles/polygons), catalog cells {} ({skipped} rows skipped)",
        zones.len(),
        catalog.len()
    );
    if geometric > 0 && catalog.is_empty() {
        line.push_str(": circle and polygon zones need --cells to contain any cell");
    }
    Ok(Some((
        ZoneInputs {
            catalog: catalog.into_iter().map(|c| (0, c, 1)).collect(),
            zones: zones.into_iter().map(|z| (0, z, 1)).collect(),
            config: ZoneConfig {
                min_dwell_us: args.min_dwell.as_micros() as i64,
            },
        },
        line,
    )))
}

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let topology = topology(&args)?;
    let zones = zone_inputs(&args)?;
    let files: Vec<String> = args
        .captures
        .iter()
        .map(|p| ingest::display_name(p))
        .collect();
    let cfg = ingest::decoder_config(&args.decode)?;
    let readers = ingest::open_inputs(&args.captures, &args.decode)?;
    let pb = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        ingest::progress("decoding")
    };
    let mut sink = SignalSink::default();
    let decoder = ingest::decode_into(readers, cfg, &mut sink, &pb);
    pb.finish_and_clear();
    let decoded = started.elapsed();

    let presence = PresenceConfig {
        reentry_gap_us: args.reentry_gap.as_micros() as i64,
        ttl_us: args.ttl.as_micros() as i64,
    };
    let signals = Arc::new(sink.signals);
    let opts = RunOptions::in_order(args.workers as usize, BATCH_US);
    let (zone_inputs, zone_line) = match zones {
        Some((z, line)) => (Some(Arc::new(z)), Some(line)),
        None => (None, None),
    };
    let (moments, _) =
        run_moments_zoned(&topology, Arc::clone(&signals), zone_inputs, opts, presence);

    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    // In a cluster, moments are gathered on process 0; the others write nothing.
    for m in &moments {
        write_moment(&mut out, m, &files)?;
    }
    out.flush()?;

    if !args.quiet {
        let stats = &decoder.stats;
        eprint!("{}", stats_report(stats, &files));
        if crate::skew::worth_reporting(stats) {
            eprint!("{}", crate::skew::skew_report(stats, &files));
        }
        if let Some(line) = zone_line {
            eprintln!("{line}");
        }
        eprintln!("moments {}", moments.len());
        eprintln!("decode {}", rate_line(stats, decoded));
        eprintln!(
            "total elapsed {:.3} s ({} workers x {} processes, this is process {})",
            started.elapsed().as_secs_f64(),
            args.workers,
            args.processes,
            args.process
        );
    }
    Ok(ExitCode::SUCCESS)
}
