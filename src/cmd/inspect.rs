//! `landfall inspect`: every decoded signaling message as JSON Lines in the conformance
//! schema, or (`--stats`) counts per protocol and message type and decode errors, or
//! (`--signals`) the signals as signal records.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use landfall_model::record::SignalRecord;
use landfall_parsers::decode::{AppMessage, Sink};
use landfall_parsers::flow::PacketMeta;

use crate::cli::InspectArgs;
use crate::ingest;
use crate::summary::stats_report;

/// Writes each message's record as a line; remembers the first write error.
struct RecordSink<W: Write> {
    out: W,
    /// Name added to each record when several captures share one output.
    file: Option<String>,
    error: Option<io::Error>,
}

impl<W: Write> Sink for RecordSink<W> {
    fn message(&mut self, meta: &PacketMeta, msg: &AppMessage<'_, '_>) {
        if self.error.is_some() {
            return;
        }
        let rec = msg.record(meta);
        let res = match &self.file {
            None => serde_json::to_writer(&mut self.out, &rec).map_err(io::Error::from),
            Some(f) => {
                let mut v = serde_json::to_value(&rec).map_err(io::Error::from);
                if let Ok(serde_json::Value::Object(o)) = &mut v {
                    o.insert("file".into(), f.clone().into());
                }
                v.and_then(|v| serde_json::to_writer(&mut self.out, &v).map_err(io::Error::from))
            }
        };
        if let Err(e) = res.and_then(|_| self.out.write_all(b"\n")) {
            self.error = Some(e);
        }
    }
}

/// Counts only.
struct NullSink;
impl Sink for NullSink {}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let cfg = ingest::decoder_config(&args.decode)?;
    crate::skew::resolve_offsets(&args.captures, &args.decode.clock_offsets)?;
    if args.signals {
        return signals(&args, cfg);
    }
    if let Some(dir) = &args.out_dir {
        fs::create_dir_all(dir).with_context(|| format!("creating --out-dir {}", dir.display()))?;
    }
    let several = args.captures.len() > 1;
    let stdout = io::stdout();
    let files: Vec<String> = args
        .captures
        .iter()
        .map(|p| ingest::display_name(p))
        .collect();
    let all = ingest::open_inputs(&args.captures, &args.decode)?;
    for reader in all {
        let name = files[usize::from(reader.file_index())].clone();
        let readers = vec![reader];
        let pb = ingest::progress(&name);
        if args.stats {
            let decoder = ingest::decode_into(readers, cfg.clone(), &mut NullSink, &pb);
            pb.finish_and_clear();
            let mut out = stdout.lock();
            writeln!(out, "== {name}")?;
            write!(out, "{}", stats_report(&decoder.stats, &files))?;
            if crate::skew::worth_reporting(&decoder.stats) {
                write!(out, "{}", crate::skew::skew_report(&decoder.stats, &files))?;
            }
            continue;
        }
        let decoder = if let Some(dir) = &args.out_dir {
            let p = dir.join(format!("{name}.jsonl"));
            let f = File::create(&p).with_context(|| format!("creating {}", p.display()))?;
            let mut sink = RecordSink {
                out: BufWriter::new(f),
                file: None,
                error: None,
            };
            let d = ingest::decode_into(readers, cfg.clone(), &mut sink, &pb);
            finish(sink).with_context(|| format!("writing {}", p.display()))?;
            d
        } else {
            let file = several.then(|| name.clone());
            let mut sink = RecordSink {
                out: BufWriter::new(stdout.lock()),
                file,
                error: None,
            };
            let d = ingest::decode_into(readers, cfg.clone(), &mut sink, &pb);
            finish(sink).context("writing standard output")?;
            d
        };
        pb.finish_and_clear();
        let s = &decoder.stats;
        if s.error_total() > 0 {
            eprintln!(
                "{name}: {} decode errors (run with --stats for details)",
                s.error_total()
            );
        }
    }
    // The merged pass reads every input again: standard input cannot be.
    if args.stats && several && !args.captures.iter().any(|p| ingest::is_stdin(p)) {
        skew_across(&args, &cfg)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The captures merged by time as one run (as `replay` reads them): how answers paired
/// across inputs, and the delays per pair of inputs (probes whose clocks disagree).
fn skew_across(args: &InspectArgs, cfg: &landfall_parsers::decode::DecoderConfig) -> Result<()> {
    let files: Vec<String> = args
        .captures
        .iter()
        .map(|p| ingest::display_name(p))
        .collect();
    let readers = ingest::open_inputs(&args.captures, &args.decode)?;
    let pb = ingest::progress("merged");
    let decoder = ingest::decode_into(readers, cfg.clone(), &mut NullSink, &pb);
    pb.finish_and_clear();
    let mut out = io::stdout().lock();
    writeln!(out, "== merged by time: {}", files.join(", "))?;
    write!(out, "{}", crate::skew::skew_report(&decoder.stats, &files))?;
    Ok(())
}

fn finish<W: Write>(mut sink: RecordSink<W>) -> io::Result<()> {
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    sink.out.flush()
}

/// `--signals`: the captures merged and decoded as `replay` does, each signal written as a
/// signal record (`landfall_model::record`), decode errors reported on standard error.
fn signals(args: &InspectArgs, cfg: landfall_parsers::decode::DecoderConfig) -> Result<ExitCode> {
    let (files, signals, stats) = ingest::decode_signals(&args.captures, &args.decode, cfg, false)?;
    let mut out = BufWriter::new(io::stdout().lock());
    for s in &signals {
        serde_json::to_writer(&mut out, &SignalRecord::of(s, &files))
            .context("writing standard output")?;
        out.write_all(b"\n").context("writing standard output")?;
    }
    out.flush().context("writing standard output")?;
    let errors: u64 = stats.errors.values().map(|e| e.count).sum();
    if errors > 0 {
        eprint!("{}", stats_report(&stats, &files));
    }
    Ok(ExitCode::SUCCESS)
}
