//! Reading capture files through the decoder, with a progress bar when a person watches.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use landfall_parsers::capture::{CaptureReader, MergedCaptures};
use landfall_parsers::decode::{Decoder, DecoderConfig, Sink};
use landfall_parsers::e164::{GtPlmnTable, E164};
use landfall_parsers::e212::E212;
use landfall_parsers::{Country, Signal};

use crate::cli::DecodeArgs;

/// Decoder settings from the command line.
pub fn decoder_config(args: &DecodeArgs) -> Result<DecoderConfig> {
    let mut e212 = E212::default();
    for o in &args.mcc_overrides {
        let (prefix, rest) = o
            .split_once('=')
            .with_context(|| format!("--mcc {o:?}: expected MCC=LEN[:COUNTRY]"))?;
        let (len, country) = match rest.split_once(':') {
            Some((l, c)) => (l, Some(c)),
            None => (rest, None),
        };
        let len: u8 = len
            .parse()
            .with_context(|| format!("--mcc {o:?}: MNC length is not a number"))?;
        if !(2..=3).contains(&len)
            || !(3..=6).contains(&prefix.len())
            || !prefix.bytes().all(|b| b.is_ascii_digit())
        {
            bail!("--mcc {o:?}: the prefix must be an MCC (3 digits) or MCC+MNC, the MNC length 2 or 3");
        }
        let country = match country {
            Some(c) => {
                Some(Country::new(c).with_context(|| format!("--mcc {o:?}: bad country code"))?)
            }
            None => None,
        };
        e212 = e212.with_override(prefix, Some(len), country);
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
    let mut readers = open_all(paths, args.no_mmap)?;
    crate::skew::apply_offsets(&mut readers, paths, &args.clock_offsets);
    Ok(readers)
}

/// Open every capture, failing early with the file name if one cannot be read; files are
/// memory-mapped unless `no_mmap` (see [`CaptureReader::open`]).
pub fn open_all(paths: &[PathBuf], no_mmap: bool) -> Result<Vec<CaptureReader>> {
    let open = if no_mmap {
        CaptureReader::open_streaming
    } else {
        CaptureReader::open
    };
    if paths.len() > usize::from(u16::MAX) {
        bail!("at most {} capture files in one run", u16::MAX);
    }
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| open(p, i as u16).with_context(|| format!("opening {}", p.display())))
        .collect()
}

/// A spinner with a frame rate on standard error, only when it is a terminal.
pub fn progress(label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} frames ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(label.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Run `frames` through a decoder into `sink`; capture-file errors are counted, not fatal.
pub fn decode_into(
    readers: Vec<CaptureReader>,
    cfg: DecoderConfig,
    sink: &mut dyn Sink,
    pb: &ProgressBar,
) -> Decoder {
    let mut decoder = Decoder::new(cfg);
    let mut n = 0u64;
    // Frames lent from the read buffer: no copy per frame.
    MergedCaptures::new(readers).for_each_frame(|item| {
        match item {
            Ok(frame) => decoder.push_ref(&frame, sink),
            Err(e) => decoder.stats.capture_error(e),
        }
        if n.is_multiple_of(4096) {
            pb.set_position(n);
        }
        n += 1;
    });
    decoder.finish(sink);
    decoder
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
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
