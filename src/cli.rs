//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "landfall",
    version,
    about = "Carrier signaling in, arrival moments out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay captures through the decoders and the dataflow; print moments as JSON Lines.
    Replay(ReplayArgs),
    /// Print every decoded signaling message as JSON Lines (the conformance schema).
    Inspect(InspectArgs),
    /// Write the bundled roaming scenario capture (built by landfall's own encoders).
    Scenario(ScenarioArgs),
    /// Replicate a capture N times as distinct flows, shifted in time (load for benchmarks);
    /// with --distinct-subscribers each copy also has its own subscribers.
    Replicate(ReplicateArgs),
    /// Run always on: read the configured inputs (files, followed folders, stdin, live
    /// interfaces), emit moments to the configured sinks as they complete, serve metrics,
    /// health and the operator's view over HTTP; stop on SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Check a serve configuration: print what would run, or the one error (file, line,
    /// key, what is wrong).
    CheckConfig(CheckConfigArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration (TOML; docs/landfall.toml documents every key).
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The configuration to check.
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// The capture to replicate.
    pub input: PathBuf,
    /// Where to write the pcapng.
    pub output: PathBuf,
    /// How many copies (1 to 65536).
    #[arg(long, short = 'n', default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub copies: u32,
    /// Give every copy after the first its own subscribers: IMSIs and MSISDNs (Diameter,
    /// GTPv2-C, GTPv1-C, MAP) mapped to new ones of the same length and home network
    /// (MCC+MNC, country code), never an original and never shared between copies; GTP
    /// TEIDs and sequence numbers, TCAP transaction ids and tunnel endpoint addresses moved
    /// per copy, so N copies carry N times the subscribers and sessions. UDP, TCP and SCTP
    /// checksums that were right are recomputed; a report goes to standard error. Without
    /// it every copy keeps the original subscribers.
    #[arg(long)]
    pub distinct_subscribers: bool,
    /// TCP ports carrying Diameter (as for replay), where identities are rewritten.
    #[arg(long, value_delimiter = ',', default_value = "3868,3871")]
    pub diameter_tcp_ports: Vec<u16>,
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Where to write the pcap.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Move the scenario in time so that its last frame is this long before now (e.g.
    /// `1h`), written as pcapng; without it the scenario keeps its fixed dates (June
    /// 2026) and is written as pcap, byte for byte the bundled fixture.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ending_ago: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// pcap or pcapng files; several files (probes) are merged by timestamp. `-` reads a
    /// pcap or pcapng stream from standard input (e.g. `tcpdump -w - | landfall replay -`).
    /// With --records: signal record files instead.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// The inputs are signal record files (JSON Lines, version 1: docs/records.md), e.g.
    /// from `landfall inspect --signals`, `-` standard input; bad lines are counted and
    /// skipped.
    #[arg(long)]
    pub records: bool,
    /// With --records: the files are a vendor's xDR export (CSV or JSON Lines) read
    /// through this mapping (TOML: docs/records.md, "Mappings"), not signal records.
    #[arg(long, value_name = "FILE", requires = "records")]
    pub mapping: Option<PathBuf>,
    /// Write moments here instead of standard output. Opened before any input is read;
    /// it may not be one of the captures. In a cluster only process 0 opens it.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Timely worker threads (per process).
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub workers: u32,
    /// Processes of a timely cluster (each runs this command with its own --process and
    /// the same --hostfile and arguments; moments are written by process 0, to --out).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub processes: u32,
    /// This process's index in the cluster, 0-based.
    #[arg(long, default_value_t = 0)]
    pub process: u32,
    /// The cluster's `IP:port` addresses, one line per process, in process order
    /// (blank lines and `#` comments ignored).
    #[arg(long, value_name = "FILE")]
    pub hostfile: Option<PathBuf>,
    /// How long a cluster process waits for the others to connect before it gives up.
    #[arg(long, default_value = "60s", value_parser = parse_connect_timeout)]
    pub connect_timeout: Duration,
    /// A subscriber seen in an area within this gap before does not arrive there again
    /// (0s to 366d).
    #[arg(long, default_value = "12h", value_parser = parse_reentry_gap)]
    pub reentry_gap: Duration,
    /// How long a moment stays valid, its expires_at (1s to 366d).
    #[arg(long, default_value = "2h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Zones for zone-level moments: TOML `[[zone]]` tables with `id`, `name` and
    /// `cells` / `tacs` / `lacs`, a `circle` or a `polygon`.
    #[arg(long, value_name = "FILE")]
    pub zones: Option<PathBuf>,
    /// Cell catalog (OpenCelliD CSV) placing cells in circle and polygon zones. A row that
    /// cannot be read fails the run, naming its line (see --skip-bad-rows); CDMA rows are
    /// ignored.
    #[arg(long, value_name = "FILE", requires = "zones")]
    pub cells: Option<PathBuf>,
    /// Skip catalog rows that cannot be read instead of failing: they are counted, and the
    /// first few reported, in the summary.
    #[arg(long, requires = "cells")]
    pub skip_bad_rows: bool,
    /// A zone stay counts (arrives, departs) only once it has lasted this long: border
    /// ping-pong between cells gives nothing until the subscriber settles (0s to 366d).
    #[arg(long, default_value = "0s", value_parser = parse_min_dwell)]
    pub min_dwell: Duration,
    /// Forget a subscriber silent (no location signal) for longer than this: it is new
    /// again at its next signal. At least the re-entry gap and the minimum dwell (1s to
    /// 3660d; default: never forget, as a replay of a finite capture needs no bound).
    #[arg(long, value_parser = parse_horizon)]
    pub horizon: Option<Duration>,
    /// Print no summary on standard error.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// pcap or pcapng files, each decoded on its own; `-` reads a stream from standard input.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// Print per-protocol counts and decode errors (with frame numbers) instead of records.
    #[arg(long)]
    pub stats: bool,
    /// Write the signals (the normalized transactions `replay` feeds the dataflow) as
    /// signal records (JSON Lines, docs/records.md) instead of the messages: the captures
    /// merged by time as `replay` merges them, to standard output.
    #[arg(long, conflicts_with_all = ["stats", "out_dir"])]
    pub signals: bool,
    /// Write one `<capture file name>.jsonl` per capture into this directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// Decoder settings shared by the commands.
#[derive(Debug, Args, Clone)]
pub struct DecodeArgs {
    /// TCP ports carrying Diameter (besides SCTP PPID 46).
    #[arg(long, value_delimiter = ',', default_value = "3868,3871")]
    pub diameter_tcp_ports: Vec<u16>,
    /// MNC length for an MCC absent from the E.212 table or overriding it: MCC=LEN[:COUNTRY],
    /// e.g. 001=2:001.
    #[arg(long = "mcc", value_name = "MCC=LEN[:COUNTRY]")]
    pub mcc_overrides: Vec<String>,
    /// Global-title prefixes → PLMN for MAP's serving network: a file of lines
    /// `PREFIX MCC-MNC` (e.g. `447785 234-15`), longest prefix wins.
    #[arg(long, value_name = "FILE")]
    pub gt_plmn: Option<PathBuf>,
    /// Read capture files through a buffer instead of memory-mapping them: for a file
    /// another process may truncate while it is read (a mapped file must not shrink).
    #[arg(long)]
    pub no_mmap: bool,
    /// Every capture is opened before any is decoded; by default one that cannot be opened
    /// (missing, unreadable, not a capture) stops the run with exit code 2, naming each
    /// such file. With this flag those files are reported on standard error and skipped,
    /// and the others are decoded.
    #[arg(long)]
    pub skip_unreadable: bool,
    /// Correct a probe's clock before the captures are merged: FILE=OFFSET, added to the
    /// timestamps of that capture (its name or path) or of every capture under a folder,
    /// e.g. `--clock-offset hss-side.pcap=+5ms` for a probe 5 ms behind; `FILE#N=OFFSET`
    /// for pcapng interface N of a file. Repeatable; the most specific target wins.
    #[arg(long = "clock-offset", value_name = "FILE=±DURATION", value_parser = crate::skew::parse_clock_offset)]
    pub clock_offsets: Vec<crate::skew::ClockOffset>,
    /// How long an answer stamped before its request (clocks of two probes disagreeing)
    /// waits for it; 0 drops such answers at once.
    #[arg(long, default_value = "300ms", value_parser = parse_tolerance, allow_hyphen_values = true)]
    pub answer_tolerance: Duration,
}

/// A tolerance: a humantime duration of at most one hour.
pub fn parse_tolerance(s: &str) -> Result<Duration, String> {
    parse_duration_in(s, Duration::ZERO, Duration::from_secs(3600))
}

/// The longest duration any option accepts: a year (and a leap day).
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// "12h", "90s", "1h 30m" (humantime syntax), between `min` and `max`.
pub fn parse_duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    if d < min || d > max {
        return Err(format!(
            "{s:?} is out of range: allowed {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

fn parse_reentry_gap(s: &str) -> Result<Duration, String> {
    parse_duration_in(s, Duration::ZERO, MAX_DURATION)
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    parse_duration_in(s, Duration::from_secs(1), MAX_DURATION)
}

fn parse_min_dwell(s: &str) -> Result<Duration, String> {
    parse_duration_in(s, Duration::ZERO, MAX_DURATION)
}

fn parse_horizon(s: &str) -> Result<Duration, String> {
    parse_duration_in(s, Duration::from_secs(1), 10 * MAX_DURATION)
}

fn parse_connect_timeout(s: &str) -> Result<Duration, String> {
    parse_duration_in(
        s,
        Duration::from_millis(100),
        Duration::from_secs(24 * 3600),
    )
}

/// Microseconds of a duration already range-checked by its parser.
pub fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
