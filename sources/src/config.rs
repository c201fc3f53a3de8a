//! What to read and how: the source specifications and the settings every source shares.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use landfall_parsers::decode::DecoderConfig;

use crate::records::RecordSpec;

/// The BPF filter of an interface source without one of its own: Diameter (TCP or SCTP,
/// 3868), GTP-C (UDP or TCP, 2123), any SCTP (SIGTRAN: M3UA on 2905 and M2PA on 3565 are
/// the usual ports, but links often use others; NGAP on 38412; SCTP on a core network's
/// mirror port is signaling anyway), the 5G SBI's usual TCP ports (7777: open5gs; 80 and
/// 8080: NFs behind an SCP/SEPP or free5gc's containers; 29502–29518: free5gc's NFs, the
/// NRF's 29510 among them; the decoder judges HTTP by content, so SBI elsewhere needs a
/// filter of its own), and IP fragments after the first (they carry no port; the decoder
/// reassembles them). Frames tagged once with a VLAN are matched too (the filter is
/// repeated after `vlan`, which shifts the offsets of what follows).
pub const DEFAULT_FILTER: &str = "(port 3868 or port 2123 or sctp \
    or tcp port 7777 or tcp port 80 or tcp port 8080 or tcp portrange 29502-29518 \
    or (ip and ip[6:2] & 0x1fff != 0) or (ip6 and ip6[6] == 44)) \
    or (vlan and (port 3868 or port 2123 or sctp \
    or tcp port 7777 or tcp port 80 or tcp port 8080 or tcp portrange 29502-29518 \
    or (ip and ip[6:2] & 0x1fff != 0)))";

/// One input of the service.
pub enum SourceSpec {
    /// Capture files read once, merged by time as `landfall replay` does (same signals).
    Files(Vec<PathBuf>),
    /// A folder a probe rotates capture files into, followed (see [`FolderSpec`]).
    Folder(FolderSpec),
    /// A pcap or pcapng stream on standard input (`tcpdump -U -w - … | landfall serve`).
    Stdin,
    /// A pcap or pcapng stream from any reader (a pipe, a socket, a test buffer), named
    /// `name` in signals' provenance.
    Reader {
        name: String,
        reader: Box<dyn Read + Send>,
    },
    /// A network interface captured live through libpcap (cargo feature `live`).
    Interface(InterfaceSpec),
    /// Signal records, or a vendor's xDR export through its mapping (see
    /// [`crate::records`]).
    Records(RecordSpec),
}

/// A source with what is done to all its timestamps.
#[derive(Debug)]
pub struct Input {
    pub spec: SourceSpec,
    /// Added to every timestamp of this source (µs) before the sources are merged: a
    /// probe whose clock is off.
    pub clock_offset_us: i64,
}

impl From<SourceSpec> for Input {
    fn from(spec: SourceSpec) -> Input {
        Input {
            spec,
            clock_offset_us: 0,
        }
    }
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Files(p) => f.debug_tuple("Files").field(p).finish(),
            SourceSpec::Folder(s) => f.debug_tuple("Folder").field(s).finish(),
            SourceSpec::Stdin => f.write_str("Stdin"),
            SourceSpec::Reader { name, .. } => {
                f.debug_struct("Reader").field("name", name).finish()
            }
            SourceSpec::Interface(s) => f.debug_tuple("Interface").field(s).finish(),
            SourceSpec::Records(r) => f.debug_tuple("Records").field(&r.describe()).finish(),
        }
    }
}

impl SourceSpec {
    /// A short description for logs and metrics: `files`, `folder /x`, `stdin`, …
    pub fn describe(&self) -> String {
        match self {
            SourceSpec::Files(p) if p.len() == 1 => format!("file {}", p[0].display()),
            SourceSpec::Files(p) => format!("{} files", p.len()),
            SourceSpec::Folder(s) => format!("folder {} ({})", s.path.display(), s.pattern),
            SourceSpec::Stdin => "stdin".to_string(),
            SourceSpec::Reader { name, .. } => format!("stream {name}"),
            SourceSpec::Interface(s) => format!("interface {}", s.name),
            SourceSpec::Records(r) => r.describe(),
        }
    }
}

/// A folder followed as a probe rotates files into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderSpec {
    pub path: PathBuf,
    /// File names to read: a glob with `*` (any run of characters) and `?` (one
    /// character), e.g. `*.pcap`; the empty pattern matches every file.
    pub pattern: String,
}

/// A network interface captured live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSpec {
    pub name: String,
    /// BPF filter; `None` is [`DEFAULT_FILTER`].
    pub filter: Option<String>,
    /// Bytes kept of each packet (65535: whole packets).
    pub snaplen: u32,
    /// Size of the kernel's capture ring (libpcap's buffer size), in bytes.
    pub buffer_bytes: u32,
}

impl InterfaceSpec {
    /// `name` with the default filter, whole packets and a 32 MiB ring.
    pub fn new(name: &str) -> InterfaceSpec {
        InterfaceSpec {
            name: name.to_string(),
            filter: None,
            snaplen: 65_535,
            buffer_bytes: 32 << 20,
        }
    }

    /// The filter in force.
    pub fn filter(&self) -> &str {
        self.filter.as_deref().unwrap_or(DEFAULT_FILTER)
    }
}

/// How a followed file is judged finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowConfig {
    /// How often the end of a file being written, and the folder, are looked at again.
    pub poll: Duration,
    /// A file is finished once a newer file is waiting and it has not grown for this long.
    pub grace: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            poll: Duration::from_millis(100),
            grace: Duration::from_secs(2),
        }
    }
}

/// Settings shared by every source and the merge.
#[derive(Clone, Debug)]
pub struct SourcesConfig {
    /// Each source's decoder (a clone per source).
    pub decoder: DecoderConfig,
    /// A source's watermark never lags its latest frame by more than this (event time):
    /// an unanswered request holds it back at most so long. Signals whose answer came
    /// later than this after the request may arrive behind the watermark (counted late).
    /// The price of a larger value is latency: with any request pending (there nearly
    /// always is one on a busy link), moments wait about this long.
    pub max_delay: Duration,
    /// A source with no frames for this long (wall clock) stops holding the merged
    /// watermark back.
    pub idle_timeout: Duration,
    /// When every source is idle, advance the merged watermark with the wall clock (see
    /// [`crate::merge`]): for a live service, so that timers fire without traffic. Off
    /// for replays of old captures.
    pub advance_with_wall_clock: bool,
    /// A batch of signals is handed on at this many signals …
    pub batch_signals: usize,
    /// … or this long after its first one, whichever comes first.
    pub batch_interval: Duration,
    /// Capacity, in batches, of each bounded channel (reader → decoder, decoders →
    /// merge, merge → consumer).
    pub channel_batches: usize,
    /// Bytes of frames a live capture may hold while its decoder lags; frames beyond are
    /// dropped and counted (the kernel ring is never blocked).
    pub live_buffer_bytes: usize,
    /// How often each decoder's [`DecodeStats`](landfall_parsers::decode::DecodeStats)
    /// are copied out for readers (and at the end).
    pub stats_interval: Duration,
    pub follow: FollowConfig,
    /// In a cluster: this process and how many there are, so that file indices are
    /// unique across the cluster ([`crate::FileTable::striped`]). `(0, 1)` alone.
    pub process: usize,
    pub processes: usize,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            decoder: DecoderConfig::default(),
            max_delay: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            advance_with_wall_clock: false,
            batch_signals: 1024,
            batch_interval: Duration::from_millis(5),
            channel_batches: 64,
            live_buffer_bytes: 64 << 20,
            stats_interval: Duration::from_secs(1),
            follow: FollowConfig::default(),
            process: 0,
            processes: 1,
        }
    }
}
