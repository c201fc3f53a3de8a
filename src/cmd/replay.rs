//! `landfall replay`: captures → decoders → dataflow → moments as JSON Lines.
//!
//! Deterministic: the same captures and options give byte-identical output, whatever
//! the number of workers (moments are ordered by time, then id).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use landfall_dataflows::runner::parse_hostfile;
use landfall_dataflows::stream::{run_signals, Emit, StreamConfig};
use landfall_dataflows::zones::{
    read_catalog, read_zones, BadRows, Catalog, CatalogCell, Shape, Zone,
};
use landfall_dataflows::{Rules, Topology};
use landfall_model::Signal;

use crate::cli::{micros, ReplayArgs};
use crate::ingest;
use crate::output::write_moment;
use crate::summary::{rate_line, stats_report};

/// What the inputs gave besides their signals.
enum Read {
    Captures(Box<landfall_parsers::decode::DecodeStats>),
    Records(landfall_parsers::records::RecordStats),
}

/// Signals are fed to the dataflow in one-second batches of capture time.
const BATCH_US: i64 = 1_000_000;

/// The timely topology the arguments ask for, the hostfile checked line by line before
/// anything starts.
fn topology(args: &ReplayArgs) -> Result<Topology> {
    if args.processes <= 1 {
        if args.process != 0 {
            bail!("--process {} needs --processes above it", args.process);
        }
        return Ok(Topology::Process);
    }
    if args.process >= args.processes {
        bail!(
            "--process {} is not below --processes {}",
            args.process,
            args.processes
        );
    }
    let path = args
        .hostfile
        .as_ref()
        .context("--processes > 1 needs --hostfile (one IP:port per process)")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --hostfile {}", path.display()))?;
    let hosts: Vec<String> = parse_hostfile(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--hostfile {}", path.display()))?
        .iter()
        .map(SocketAddr::to_string)
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
    Ok(Topology::Cluster {
        process: args.process as usize,
        hosts,
        connect_timeout: Some(args.connect_timeout),
    })
}

/// The zones and cell catalog a run reads.
struct ZoneFiles {
    zones: Vec<Zone>,
    catalog: Catalog,
}

impl ZoneFiles {
    /// The files the arguments name, loaded before any decoding (so that a bad file fails
    /// fast); none without `--zones`.
    fn load(args: &ReplayArgs) -> Result<Option<ZoneFiles>> {
        let Some(path) = &args.zones else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --zones {}", path.display()))?;
        let zones = read_zones(&text).with_context(|| format!("--zones {}", path.display()))?;
        let bad_rows = if args.skip_bad_rows {
            BadRows::Skip
        } else {
            BadRows::Reject
        };
        let catalog = match &args.cells {
            Some(p) => {
                let f =
                    File::open(p).with_context(|| format!("opening --cells {}", p.display()))?;
                read_catalog(io::BufReader::new(f), bad_rows)
                    .with_context(|| format!("--cells {}", p.display()))?
            }
            None => Catalog::default(),
        };
        Ok(Some(ZoneFiles { zones, catalog }))
    }

    /// The summary line: zones, catalog cells, rows ignored or skipped.
    fn summary(&self) -> String {
        let (zones, catalog) = (&self.zones, &self.catalog);
        let geometric = zones
            .iter()
            .filter(|z| !matches!(z.shape, Shape::Keys(_)))
            .count();
        let mut line = format!(
            "zones {} ({geometric} circles/polygons), catalog cells {}",
            zones.len(),
            catalog.cells.len()
        );
        if catalog.other_radio > 0 {
            line.push_str(&format!(" ({} CDMA rows ignored)", catalog.other_radio));
        }
        if catalog.bad > 0 {
            line.push_str(&format!(
                ", {} bad rows skipped: {}",
                catalog.bad,
                catalog.bad_examples.join("; ")
            ));
        }
        if geometric > 0 && catalog.cells.is_empty() {
            line.push_str(": circle and polygon zones need --cells to contain any cell");
        }
        line
    }

    /// The dataflow's reference data: zones and catalog cells, present from the start.
    fn into_reference(self) -> (Vec<Zone>, Vec<CatalogCell>) {
        (self.zones, self.catalog.cells)
    }
}

/// Where the moments go: `--out` (opened now, before any input is read, so that a bad
/// path fails at once; never one of the captures) or standard output. In a cluster only
/// process 0 writes; the others open nothing.
fn open_output(args: &ReplayArgs) -> Result<Option<Box<dyn Write>>> {
    if args.processes > 1 && args.process != 0 {
        return Ok(None);
    }
    let Some(p) = &args.out else {
        return Ok(Some(Box::new(BufWriter::new(io::stdout()))));
    };
    if let Some(input) = args.captures.iter().find(|c| ingest::same_file(c, p)) {
        bail!(
            "--out {} is the capture {}: refusing to overwrite an input",
            p.display(),
            input.display()
        );
    }
    let f = File::create(p).with_context(|| format!("creating --out {}", p.display()))?;
    Ok(Some(Box::new(BufWriter::new(f))))
}

/// Tell the operator when there are more workers than cores: they still work (workers park
/// while they wait), but share the cores.
fn warn_oversubscribed(args: &ReplayArgs) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.workers as usize > cores && !args.quiet {
        eprintln!(
            "landfall: warning: --workers {} is more than the {cores} cores available; \
             the extra workers share them and add no speed",
            args.workers
        );
    }
}

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let started = Instant::now();
    if let Some(h) = args.horizon {
        if h < args.reentry_gap || h < args.min_dwell {
            bail!(
                "--horizon {} is shorter than --reentry-gap {} or --min-dwell {}: a subscriber would be forgotten while those rules still need it",
                humantime::format_duration(h),
                humantime::format_duration(args.reentry_gap),
                humantime::format_duration(args.min_dwell)
            );
        }
    }
    let topology = topology(&args)?;
    let zones = ZoneFiles::load(&args)?;
    let out = open_output(&args)?;
    warn_oversubscribed(&args);
    let cfg = ingest::decoder_config(&args.decode)?;
    let (files, all, read) = if args.records {
        let (files, signals, stats) =
            ingest::read_record_files(&args.captures, args.mapping.as_deref(), &cfg)?;
        (files, signals, Read::Records(stats))
    } else {
        let (files, signals, stats) =
            ingest::decode_signals(&args.captures, &args.decode, cfg, args.quiet)?;
        (files, signals, Read::Captures(Box::new(stats)))
    };
    let decoded = started.elapsed();

    // In a cluster every process decodes the same captures and feeds its share.
    let (process, processes) = (args.process as usize, args.processes.max(1) as usize);
    let signals: Vec<Signal> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % processes == process)
        .map(|(_, s)| s)
        .collect();
    let run = StreamConfig {
        rules: Rules {
            reentry_gap_us: micros(args.reentry_gap),
            ttl_us: micros(args.ttl),
            min_dwell_us: micros(args.min_dwell),
            horizon_us: args.horizon.map_or(i64::MAX, micros),
        },
        // One output: every moment on process 0.
        emit: Emit::AllOnProcess0,
        ..StreamConfig::new(args.workers as usize, BATCH_US)
    };
    let zone_line = zones.as_ref().map(ZoneFiles::summary);
    let reference = zones.map(ZoneFiles::into_reference);
    let (moments, _) = run_signals(&topology, signals, reference, run)?;

    // In a cluster, moments are gathered on process 0; the others write nothing.
    if let Some(mut out) = out {
        let target = args
            .out
            .as_ref()
            .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
        for m in &moments {
            write_moment(&mut out, m, &files).with_context(|| format!("writing {target}"))?;
        }
        out.flush().with_context(|| format!("writing {target}"))?;
    }

    if !args.quiet {
        match &read {
            Read::Captures(stats) => {
                eprint!("{}", stats_report(stats, &files));
                if crate::skew::worth_reporting(stats) {
                    eprint!("{}", crate::skew::skew_report(stats, &files));
                }
            }
            Read::Records(stats) => eprintln!("{}", stats.summary()),
        }
        if let Some(line) = zone_line {
            eprintln!("{line}");
        }
        eprintln!("moments {}", moments.len());
        match &read {
            Read::Captures(stats) => eprintln!("decode {}", rate_line(stats, decoded)),
            Read::Records(_) => eprintln!("read {:.3} s", decoded.as_secs_f64()),
        }
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
