//! The service's configuration: one TOML file (`landfall serve --config FILE`), the
//! example with every key documented in `docs/landfall.toml`.
//!
//! [`Config::load`] reads the file and checks everything that can be checked before
//! anything runs: keys and types (unknown keys refused, naming the allowed ones), values
//! (durations range-checked as the CLI's flags, sizes, addresses, MCC overrides), the
//! files the configuration names (inputs, zones, cells, GT table, operator key, hostfile)
//! and that the data directory and sink folders can be written. Any problem is one
//! [`ConfigError`] naming the file, line and column, the key and what is wrong. Relative
//! paths are resolved against the configuration file's folder. Only `[[input]]` is
//! required; every other key has a default ([`defaults`]).

mod build;
mod describe;
mod error;
mod fsck;
mod raw;
#[cfg(test)]
mod tests;
pub mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use landfall_dataflows::runner::Topology;
use landfall_dataflows::zones::BadRows;
use landfall_model::moment::Rules;
use landfall_parsers::records::mapping::Mapping;

pub use error::ConfigError;
pub use fsck::check_writable_dir;

/// Defaults of every optional key (the example file states the same values).
pub mod defaults {
    use std::time::Duration;

    pub const NAME_STDIN: &str = "stdin";
    pub const IDLE_CLOSE: Duration = Duration::from_secs(30);
    pub const SNAPLEN: u32 = 65_535;
    pub const BUFFER_BYTES: u64 = 64 << 20;
    pub const DIAMETER_TCP_PORTS: [u16; 2] = [3868, 3871];
    pub const ANSWER_TOLERANCE: Duration = Duration::from_millis(300);
    pub const REENTRY_GAP: Duration = Duration::from_secs(12 * 3600);
    pub const TTL: Duration = Duration::from_secs(2 * 3600);
    pub const MIN_DWELL: Duration = Duration::ZERO;
    pub const LATENESS: Duration = Duration::from_secs(1);
    pub const HORIZON: Duration = Duration::from_secs(30 * 24 * 3600);
    pub const BATCH: Duration = Duration::from_millis(10);
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
    pub const WALL_CLOCK: bool = true;
    pub const WORKERS: u32 = 1;
    /// Relative: beside the configuration file. Under systemd set `/var/lib/landfall`
    /// (the unit's `StateDirectory=landfall`).
    pub const DATA_DIR: &str = "landfall-data";
    pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(300);
    pub const LISTEN: &str = "127.0.0.1:9464";
    pub const KEEP: u32 = 10;
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
    pub const LOG_FILTER: &str = "info";
    /// `[partners] aggregate_min_count`: k of the aggregates' k-anonymity.
    pub const AGGREGATE_MIN_COUNT: u32 = 5;
    /// The shortest operator key accepted.
    pub const MIN_KEY_LEN: usize = 16;

    /// The capture filter of an `interface` input: Diameter (TCP and SCTP 3868), GTP-C
    /// (UDP and TCP 2123), SIGTRAN (SCTP: M3UA 2905, M2PA 3565), NGAP (SCTP 38412), the
    /// 5G SBI (HTTP on TCP 7777, 80, 8080 and free5gc's 29502–29518; judged HTTP by
    /// content), also inside a VLAN tag, and non-first IPv4 fragments (they carry no
    /// ports; the decoder reassembles them).
    pub const FILTER: &str = "(tcp port 3868 or sctp port 3868 or udp port 2123 or tcp port 2123 \
        or sctp port 2905 or sctp port 3565 or sctp port 38412 \
        or tcp port 7777 or tcp port 80 or tcp port 8080 or tcp portrange 29502-29518 \
        or (ip[6:2] & 0x1fff != 0)) \
        or (vlan and (tcp port 3868 or sctp port 3868 or udp port 2123 or tcp port 2123 \
        or sctp port 2905 or sctp port 3565 or sctp port 38412 \
        or tcp port 7777 or tcp port 80 or tcp port 8080 or tcp portrange 29502-29518 \
        or (ip[6:2] & 0x1fff != 0)))";
}

/// Everything `landfall serve` runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this was read from.
    pub file: PathBuf,
    pub inputs: Vec<Input>,
    pub decode: DecodeSettings,
    pub zones: Option<ZoneSettings>,
    pub rules: RuleSettings,
    pub runtime: RuntimeSettings,
    pub http: HttpSettings,
    /// At least one: `[stdout]` when the file names none.
    pub sinks: Vec<SinkSettings>,
    pub cluster: ClusterSettings,
    pub log: LogSettings,
    /// `[partners]`: none, no partner API, partner stage or delivery.
    pub partners: Option<PartnerSettings>,
}

/// One `[[input]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// Unique among the inputs; the `source` label of the metrics. Default: the kind and
    /// what it reads (`files`, `folder:/data/probe`, `stdin`, `interface:eth1`).
    pub name: String,
    /// Added to every timestamp of this input before the inputs are merged (µs).
    pub clock_offset_us: i64,
    pub kind: InputKind,
    /// What its bytes are: captures, or record lines.
    pub format: InputFormat,
}

/// What an input's bytes are (`format`, `mapping`).
#[derive(Clone, Debug)]
pub enum InputFormat {
    /// pcap or pcapng captures, decoded.
    Captures,
    /// Signal records, JSON Lines (docs/records.md).
    Records,
    /// A vendor's xDR export, read through the mapping at `path` (checked when the
    /// configuration is read).
    Mapped {
        path: PathBuf,
        mapping: Arc<Mapping>,
    },
}

impl PartialEq for InputFormat {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (InputFormat::Captures, InputFormat::Captures)
            | (InputFormat::Records, InputFormat::Records) => true,
            (InputFormat::Mapped { path: a, .. }, InputFormat::Mapped { path: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl InputFormat {
    /// `format`'s values.
    pub const NAMES: [&'static str; 2] = ["pcap", "records"];

    pub fn is_records(&self) -> bool {
        !matches!(self, InputFormat::Captures)
    }

    /// The mapping records are read through, if any.
    pub fn mapping(&self) -> Option<Arc<Mapping>> {
        match self {
            InputFormat::Mapped { mapping, .. } => Some(mapping.clone()),
            _ => None,
        }
    }
}

/// What an input reads.
#[derive(Clone, Debug, PartialEq)]
pub enum InputKind {
    /// Capture files, read once each, merged by time. Each exists.
    Files { paths: Vec<PathBuf> },
    /// A folder a probe rotates captures into: files picked up in name order as they
    /// appear, a file followed until it has not grown for `idle_close`.
    Folder {
        path: PathBuf,
        /// Only files whose name matches (`*.pcapng`); none: every file not starting
        /// with a dot.
        pattern: Option<glob::Pattern>,
        idle_close: Duration,
    },
    /// A pcap or pcapng stream, or record lines, on standard input.
    Stdin,
    /// A TCP listener: each connection a stream of record lines.
    Tcp { listen: SocketAddr },
    /// A Unix stream socket created at `path`: each connection a stream of record lines.
    Unix { path: PathBuf },
    /// A live capture through libpcap (the binary's `live` feature).
    Interface {
        device: String,
        /// BPF filter expression ([`defaults::FILTER`]).
        filter: String,
        snaplen: u32,
        /// The kernel capture buffer, bytes.
        buffer_bytes: u64,
    },
}

impl InputKind {
    /// `files`, `folder`, `stdin`, `interface`, `tcp`, `unix`: the `kind` key's values.
    pub const KINDS: [&'static str; 6] = ["files", "folder", "stdin", "interface", "tcp", "unix"];

    pub fn as_str(&self) -> &'static str {
        match self {
            InputKind::Files { .. } => "files",
            InputKind::Folder { .. } => "folder",
            InputKind::Stdin => "stdin",
            InputKind::Interface { .. } => "interface",
            InputKind::Tcp { .. } => "tcp",
            InputKind::Unix { .. } => "unix",
        }
    }
}

impl Input {
    /// Whether a folder input takes the file named `name` (always true for other kinds).
    pub fn takes_file(&self, name: &str) -> bool {
        match &self.kind {
            InputKind::Folder { pattern, .. } => match pattern {
                Some(p) => p.matches(name),
                None => !name.starts_with('.'),
            },
            _ => true,
        }
    }
}

/// `[decode]`: the decoder's settings, as `replay`'s flags.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeSettings {
    pub diameter_tcp_ports: Vec<u16>,
    /// `MCC=LEN[:COUNTRY]` overrides, each checked.
    pub mcc: Vec<String>,
    /// Global-title prefixes → PLMN (`PREFIX MCC-MNC` lines), checked.
    pub gt_plmn: Option<PathBuf>,
    pub answer_tolerance: Duration,
}

/// `[zones]`: zone-level moments.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSettings {
    /// The zones (TOML `[[zone]]` tables), read and checked at load.
    pub zones: PathBuf,
    /// The OpenCelliD catalog; exists (read by [`crate::check_config`] and the wiring).
    pub cells: Option<PathBuf>,
    pub skip_bad_rows: bool,
}

impl ZoneSettings {
    /// How the catalog's bad rows are treated.
    pub fn bad_rows(&self) -> BadRows {
        if self.skip_bad_rows {
            BadRows::Skip
        } else {
            BadRows::Reject
        }
    }
}

/// `[rules]`: the moment rules and the streaming runner's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSettings {
    pub reentry_gap: Duration,
    pub ttl: Duration,
    pub min_dwell: Duration,
    /// How far (event time) a signal may arrive behind the newest one and still be applied.
    pub lateness: Duration,
    /// Per-subscriber state is dropped after this much silence (event time): a subscriber
    /// silent for longer is new again. At least the re-entry gap and the minimum dwell.
    pub horizon: Duration,
    /// Event-time batch width (one dataflow time).
    pub batch: Duration,
    /// A source silent this long (wall clock) stops holding the others back.
    pub idle_timeout: Duration,
    /// When every source is idle, event time follows the wall clock (each source's time
    /// extrapolated from its last frame), so expiries and dwell timers fire without
    /// traffic: a live service. Off for old captures dropped into a folder, whose event
    /// time is not now.
    pub wall_clock: bool,
}

impl RuleSettings {
    /// The rules of `landfall_model` (re-entry gap, TTL, minimum dwell, horizon).
    pub fn rules(&self) -> Rules {
        Rules {
            reentry_gap_us: values::micros(self.reentry_gap),
            ttl_us: values::micros(self.ttl),
            min_dwell_us: values::micros(self.min_dwell),
            horizon_us: values::micros(self.horizon),
        }
    }

    /// The batch width in µs (at least 1).
    pub fn batch_us(&self) -> i64 {
        values::micros(self.batch).max(1)
    }

    /// The lateness in whole batches, rounded up.
    pub fn lateness_batches(&self) -> u64 {
        let b = self.batch_us() as u64;
        (values::micros(self.lateness) as u64).div_ceil(b)
    }
}

/// `[runtime]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Timely worker threads in this process.
    pub workers: u32,
    /// The snapshot (docs/operations.md); writable (created by [`Config::prepare_data_dir`]).
    pub data_dir: PathBuf,
    pub snapshot_interval: Duration,
}

/// `[http]`: the operator endpoints.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// The bearer key of `/v1/operator/…` (from `operator_key` or `operator_key_file`);
    /// none: those endpoints answer 404.
    pub operator_key: Option<String>,
    /// Where the key came from, for [`Config::describe`]: `operator_key` or the file.
    pub operator_key_source: Option<String>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("listen", &self.listen)
            .field(
                "operator_key",
                &self.operator_key.as_ref().map(|_| "<redacted>"),
            )
            .field("operator_key_source", &self.operator_key_source)
            .finish()
    }
}

/// One `[[sink]]`: where moments go, as JSON Lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSettings {
    Stdout,
    File(FileSinkSettings),
}

impl SinkSettings {
    /// `stdout`, `file`: the `kind` key's values.
    pub const KINDS: [&'static str; 2] = ["stdout", "file"];
}

/// A `kind = "file"` sink: rotated by size and/or age, `keep` rotated files kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSinkSettings {
    /// The file being written; rotated files are named after it with a timestamp.
    pub path: PathBuf,
    pub rotate_bytes: Option<u64>,
    pub rotate_interval: Option<Duration>,
    pub keep: u32,
    /// `fsync` each batch (else flushed to the OS per batch).
    pub fsync: bool,
}

/// `[cluster]`: a timely cluster, as `replay`'s `--processes/--process/--hostfile`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    pub processes: u32,
    /// This process, 0-based, below `processes`.
    pub process: u32,
    /// From the hostfile: one address per process, in process order (empty for one process).
    pub hosts: Vec<SocketAddr>,
    pub hostfile: Option<PathBuf>,
    pub connect_timeout: Duration,
}

impl ClusterSettings {
    /// The runner's topology.
    pub fn topology(&self) -> Topology {
        if self.processes <= 1 {
            return Topology::Process;
        }
        Topology::Cluster {
            process: self.process as usize,
            hosts: self.hosts.iter().map(SocketAddr::to_string).collect(),
            connect_timeout: Some(self.connect_timeout),
        }
    }
}

/// `[partners]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerSettings {
    /// The operator's country: whose moments are inbound (visitors) or outbound.
    pub operator_country: landfall_model::Country,
    /// The CloudEvent `source`.
    pub event_source: String,
    /// Sinks on loopback (http or https) allowed: tests and same-host receivers.
    pub allow_http_loopback: bool,
    /// Sinks on private, link-local or CGNAT addresses allowed (https only).
    pub allow_private_sinks: bool,
    /// Active subscriptions per partner.
    pub max_active_subscriptions: u32,
    pub request_timeout: Duration,
    pub per_sink_concurrency: u32,
    /// Delay before each retry (the last repeats).
    pub retry_delays: Vec<Duration>,
    /// Attempts before an event is a dead letter.
    pub max_attempts: u32,
    /// Aggregates: a home country's group with fewer distinct subscribers is left out
    /// of its interval's report (k-anonymity).
    pub aggregate_min_count: u32,
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// A tracing `EnvFilter` directive (`info`, `landfall_service=debug,info`); the
    /// `LANDFALL_LOG` environment variable overrides it.
    pub filter: String,
}

impl Config {
    /// Read and check the configuration file at `path` (see the module doc).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::file(path, format!("cannot read the configuration: {e}")))?;
        Config::parse(&text, path)
    }

    /// Check the configuration `text` as if read from `path` (relative paths resolve
    /// against `path`'s folder; the files it names are checked).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg = build::build(text, path)?;
        fsck::check(&cfg, text)?;
        Ok(cfg)
    }

    /// Create the data directory (and its parents) if missing.
    pub fn prepare_data_dir(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.runtime.data_dir)
    }

    /// What would run: inputs, decoding, zones, rules with units, sinks, the listen
    /// address, the cluster (`landfall check-config`).
    pub fn describe(&self) -> String {
        describe::describe(self)
    }

    /// The decoder's configuration: ports, E.212 with the MCC overrides, the GT table,
    /// the answer tolerance.
    pub fn decoder_config(&self) -> Result<landfall_parsers::decode::DecoderConfig, ConfigError> {
        build::decoder_config(self)
    }

    /// The zones and the cell catalog of `[zones]` (none without it), read now.
    pub fn load_zones(
        &self,
    ) -> Result<
        Option<(
            Vec<landfall_dataflows::zones::Zone>,
            landfall_dataflows::zones::Catalog,
        )>,
        ConfigError,
    > {
        build::load_zones(self)
    }
}
