//! `landfall replay`: captures → decoders → dataflow → moments as JSON Lines.
//!
//! Deterministic: the same captures and options give byte-identical output, whatever
//! the number of workers (moments are ordered by time, then id).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use landfall_dataflows::{run_moments, PresenceConfig};

use crate::cli::ReplayArgs;
use crate::ingest::{self, SignalSink};
use crate::output::write_moment;
use crate::summary::{rate_line, stats_report};

/// Signals are fed to the dataflow in one-second batches of capture time.
const BATCH_US: i64 = 1_000_000;

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let files: Vec<String> = args
        .captures
        .iter()
        .map(|p| ingest::display_name(p))
        .collect();
    let cfg = ingest::decoder_config(&args.decode)?;
    let readers = ingest::open_all(&args.captures)?;
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
    let moments = run_moments(
        Arc::clone(&signals),
        args.workers as usize,
        BATCH_US,
        presence,
    );

    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    for m in &moments {
        write_moment(&mut out, m, &files)?;
    }
    out.flush()?;

    if !args.quiet {
        let stats = &decoder.stats;
        eprint!("{}", stats_report(stats, &files));
        eprintln!("moments {}", moments.len());
        eprintln!("decode {}", rate_line(stats, decoded));
        eprintln!(
            "total elapsed {:.3} s ({} workers)",
            started.elapsed().as_secs_f64(),
            args.workers
        );
    }
    Ok(ExitCode::SUCCESS)
}
