//! Reading capture files through the decoder, with a progress bar when a person watches,
//! and signal record files.

use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use landfall_parsers::capture::{CaptureError, CaptureReader};
use landfall_parsers::decode::{decode_captures, DecodeStats, Decoder, DecoderConfig, Sink};
use landfall_parsers::numbering::e164::{GtPlmnTable, E164};
use landfall_parsers::numbering::e212::E212;
use landfall_parsers::records::mapping::Mapping;
use landfall_parsers::records::{read_records, FileNames, RecordStats};
use landfall_parsers::Signal;

use crate::cli::DecodeArgs;

/// Decoder settings from the command line.
pub fn decoder_config(args: &DecodeArgs) -> Result<DecoderConfig> {
    let mut e212 = E212::default();
    for o in &args.mcc_overrides {
        e212 = e212
            .with_override_spec(o)
            .map_err(|reason| anyhow!("--mcc {o:?}: {reason}"))?;
    }
    let gt_plmn = match &args.gt_plmn {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --gt-plmn {}", path.display()))?;
            GtPlmnTable::parse(&text).with_context(|| format!("--gt-plmn {}", path.display()))?
        }
        None => GtPlmnTable::default(),
    };
    Ok(DecoderConfig {
        diameter_tcp_ports: args.diameter_tcp_ports.clone(),
        e212,
        e164: E164::default(),
        gt_plmn,
        answer_tolerance_us: i64::try_from(args.answer_tolerance.as_micros()).unwrap_or(i64::MAX),
    })
}

/// [`open_all`] with each capture's `--clock-offset` applied (an offset naming none of
/// `paths` is an error).
pub fn open_inputs(paths: &[PathBuf], args: &DecodeArgs) -> Result<Vec<CaptureReader>> {
    crate::skew::resolve_offsets(paths, &args.clock_offsets)?;
    let mut readers = open_all(paths, args.no_mmap, args.skip_unreadable)?;
    crate::skew::apply_offsets(&mut readers, paths, &args.clock_offsets);
    Ok(readers)
}

/// The path that names standard input.
pub const STDIN: &str = "-";

/// Whether `p` names standard input.
pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == STDIN
}

/// Open one capture: `-` is standard input (streamed), a file is memory-mapped unless
/// `no_mmap` (see [`CaptureReader::open`]).
pub fn open_one(path: &Path, index: u16, no_mmap: bool) -> Result<CaptureReader, CaptureError> {
    if is_stdin(path) {
        return CaptureReader::from_reader(std::io::stdin(), "standard input", index);
    }
    if no_mmap {
        CaptureReader::open_streaming(path, index)
    } else {
        CaptureReader::open(path, index)
    }
}

/// The captures a run reads: every one is opened before any is decoded. One that cannot
/// be opened fails the whole run, every failure listed, unless `skip_unreadable`: then
/// each is reported on standard error and left out. Readers keep their position in
/// `paths` as their file index, so names in the output stay right.
pub fn open_all(
    paths: &[PathBuf],
    no_mmap: bool,
    skip_unreadable: bool,
) -> Result<Vec<CaptureReader>> {
    if paths.len() > usize::from(u16::MAX) {
        bail!("at most {} capture files in one run", u16::MAX);
    }
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        bail!("standard input (-) can be read only once in a run");
    }
    let mut readers = Vec::with_capacity(paths.len());
    let mut failed = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        match open_one(p, i as u16, no_mmap) {
            Ok(r) => readers.push(r),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        return Ok(readers);
    }
    if skip_unreadable {
        for f in &failed {
            eprintln!("landfall: skipped {f}");
        }
        return Ok(readers);
    }
    let n = failed.len();
    bail!(
        "{} of {} captures cannot be read (--skip-unreadable decodes the others):\n  {}",
        n,
        paths.len(),
        failed.join("\n  ")
    )
}

/// A spinner with a frame rate on standard error, only when it is a terminal.
pub fn progress(label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {human_pos} frames ({rate}) {elapsed}")
            .map(|style| {
                style.with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} frames/s", state.per_sec());
                    },
                )
            })
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(label.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// [`decode_captures`] with the progress shown on `pb`.
pub fn decode_into(
    readers: Vec<CaptureReader>,
    cfg: DecoderConfig,
    sink: &mut dyn Sink,
    pb: &ProgressBar,
) -> Decoder {
    decode_captures(readers, cfg, sink, |n| pb.set_position(n))
}

/// Collects signals, for replay.
#[derive(Default)]
pub struct SignalSink {
    pub signals: Vec<Signal>,
}

impl Sink for SignalSink {
    fn signal(&mut self, signal: Signal) {
        self.signals.push(signal);
    }
}

/// The file name shown in moments' provenance and in summaries.
pub fn display_name(p: &Path) -> String {
    if is_stdin(p) {
        return STDIN.to_owned();
    }
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Whether `a` and `b` name the same existing file (same device and inode), so that an
/// output never overwrites an input.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if is_stdin(a) || is_stdin(b) {
        return false;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        _ => false,
    }
}

/// The signals of signal record files (`-`: standard input), or with `mapping` of a
/// vendor's exports read through it, in the order read (the dataflow's runner orders
/// them by time), the run's file names (from the records' `source.file`, in order of
/// first appearance) and what the reading counted. A file that cannot be opened is an
/// error naming it; a bad line is counted and skipped.
pub fn read_record_files(
    paths: &[PathBuf],
    mapping: Option<&Path>,
    cfg: &DecoderConfig,
) -> Result<(Vec<String>, Vec<Signal>, RecordStats)> {
    let mapping = match mapping {
        Some(m) => {
            let text = std::fs::read_to_string(m)
                .with_context(|| format!("reading --mapping {}", m.display()))?;
            let parsed =
                Mapping::parse(&text).with_context(|| format!("--mapping {}", m.display()))?;
            Some((std::sync::Arc::new(parsed), m))
        }
        None => None,
    };
    let mut names = FileNames::default();
    let (mut signals, mut stats) = (Vec::new(), RecordStats::default());
    for p in paths {
        let name = display_name(p);
        let input: Box<dyn std::io::BufRead> = if p.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            Box::new(std::io::BufReader::new(f))
        };
        let (e212, out) = (&cfg.e212, &mut signals);
        match &mapping {
            Some((mapping, m)) => mapping
                .read(input, &name, e212, &mut names, out, &mut stats)
                .with_context(|| {
                    format!("reading {} through --mapping {}", p.display(), m.display())
                })?,
            None => read_records(input, &name, e212, &mut names, out, &mut stats)
                .with_context(|| format!("reading {}", p.display()))?,
        }
    }
    Ok((names.names().to_vec(), signals, stats))
}

/// Every signal of `paths` (captures merged by time, as `replay` reads them), the
/// captures' names and the decoder's counts; a progress bar unless `quiet`.
pub fn decode_signals(
    paths: &[PathBuf],
    args: &DecodeArgs,
    cfg: DecoderConfig,
    quiet: bool,
) -> Result<(Vec<String>, Vec<Signal>, DecodeStats)> {
    let files: Vec<String> = paths.iter().map(|p| display_name(p)).collect();
    let readers = open_inputs(paths, args)?;
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        progress("decoding")
    };
    let mut sink = SignalSink::default();
    let decoder = decode_into(readers, cfg, &mut sink, &pb);
    pb.finish_and_clear();
    Ok((files, sink.signals, decoder.stats))
}
