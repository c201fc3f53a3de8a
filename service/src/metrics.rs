//! The service's Prometheus metrics (`GET /metrics`, OpenMetrics text): what was read,
//! decoded, found and refused, how far behind the sources are, and how long a signal
//! takes to become a moment. [`Metrics`] owns the registry and has one typed method per
//! thing the wiring observes; every family has a HELP text saying what it counts (the
//! README's "Operators" section lists them from [`Metrics::encode`]).
//!
//! A labelled family shows once it has a series: signals and moments start with a zero
//! series per kind (and level); the others appear with their first observation.
//!
//! Label values are bounded: `source` is an input's configured name, protocol message
//! types are the dictionaries' names (`other` for codes they do not know, so hostile
//! traffic cannot mint series), decode error reasons are the decoders' static strings.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use landfall_model::{Level, Moment, MomentKind, Proto, SignalKind};
use landfall_parsers::decode::{DecodeStats, MessageType};
use landfall_parsers::diameter::dictionary;
use landfall_parsers::gtp;
use landfall_parsers::records::RecordStats;
use landfall_parsers::ss7::map;
use landfall_parsers::Layer;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

const SIGNAL_KINDS: [SignalKind; 10] = [
    SignalKind::Attach,
    SignalKind::LocationUpdate,
    SignalKind::CellChange,
    SignalKind::SessionStart,
    SignalKind::SessionEnd,
    SignalKind::Detach,
    SignalKind::Cancel,
    SignalKind::Purge,
    SignalKind::Auth,
    SignalKind::Rejected,
];

const MOMENT_KINDS: [MomentKind; 5] = [
    MomentKind::Arrival,
    MomentKind::Departure,
    MomentKind::RoamingOn,
    MomentKind::RoamingOff,
    MomentKind::RoamingChangeCountry,
];

/// The signal→moment latency histogram's bucket bounds, seconds: 1 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    protocol: &'static str,
    message_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MomentLabels {
    kind: &'static str,
    level: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    layer: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    source: String,
    /// `signal`, `blank`, or `bad` with the field at fault in `reason`.
    result: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    source: String,
    by: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Every metric of the service, cheap to update from any thread (`&self`).
pub struct Metrics {
    registry: Registry,
    frames: Family<SourceLabel, Counter>,
    bytes: Family<SourceLabel, Counter>,
    messages: Family<MessageLabels, Counter>,
    signals: Family<KindLabel, Counter>,
    moments: Family<MomentLabels, Counter>,
    decode_errors: Family<ErrorLabels, Counter>,
    records: Family<RecordLabels, Counter>,
    late: Counter,
    dropped: Family<ReasonLabel, Counter>,
    capture_drops: Family<DropLabels, Counter>,
    tracked: Gauge,
    lag: Family<SourceLabel, Gauge<f64, AtomicU64>>,
    latency: Histogram,
    /// The last cumulative [`DecodeStats`] seen per source, for [`Metrics::decode_stats`].
    decode_seen: Mutex<HashMap<String, DecodeTotals>>,
    /// The last cumulative record counts seen per source, for [`Metrics::record_stats`].
    records_seen: Mutex<HashMap<String, RecordTotals>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All families registered under the `landfall_` prefix, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("landfall");
        let m = Metrics {
            frames: Family::default(),
            bytes: Family::default(),
            messages: Family::default(),
            signals: Family::default(),
            moments: Family::default(),
            decode_errors: Family::default(),
            records: Family::default(),
            late: Counter::default(),
            dropped: Family::default(),
            capture_drops: Family::default(),
            tracked: Gauge::default(),
            lag: Family::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
            decode_seen: Mutex::new(HashMap::new()),
            records_seen: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        let build: Family<VersionLabel, Gauge> = Family::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "The running landfall's version (always 1)",
            build,
        );
        registry.register(
            "frames_read",
            "Capture frames read, per input (source = the input's name)",
            m.frames.clone(),
        );
        registry.register(
            "bytes_read",
            "Bytes of captured frames read, per input",
            m.bytes.clone(),
        );
        registry.register(
            "messages",
            "Signaling messages decoded, by protocol (diameter, gtpv2, gtpv1, map) and message type (other: a code the dictionaries do not name)",
            m.messages.clone(),
        );
        registry.register(
            "signals",
            "Signals (request and answer matched) by kind: attach, location_update, cell_change, session_start, session_end, detach, cancel, purge, auth, rejected",
            m.signals.clone(),
        );
        registry.register(
            "moments",
            "Moments emitted, by kind (arrival, departure, roaming-on, roaming-off, roaming-change-country) and level (country, network, zone)",
            m.moments.clone(),
        );
        registry.register(
            "decode_errors",
            "Frames or messages that could not be decoded, by layer (capture, link, ip, tcp, sctp, diameter, ...) and reason; decoding goes on",
            m.decode_errors.clone(),
        );
        registry.register(
            "record_lines",
            "Lines of record inputs, per input, by result: signal, blank, or bad (reason: the field at fault, e.g. imsi, at, not a signal record); a bad line is skipped and reading goes on",
            m.records.clone(),
        );
        registry.register(
            "late_signals",
            "Signals that reached the merge behind the merged watermark (their answer came more than rules.lateness after the request, or a probe fell behind): the dataflow leaves them out",
            m.late.clone(),
        );
        registry.register(
            "dropped_signals",
            "Signals dropped before the dataflow, by reason",
            m.dropped.clone(),
        );
        registry.register(
            "capture_drops",
            "Packets a live capture lost, per input, by whom: kernel (the capture buffer was full) or landfall (its own queue was full)",
            m.capture_drops.clone(),
        );
        registry.register(
            "tracked_subscribers",
            "Subscribers with detector state (seen within rules.horizon)",
            m.tracked.clone(),
        );
        registry.register(
            "watermark_lag_seconds",
            "How far each input's event time is behind the wall clock, seconds",
            m.lag.clone(),
        );
        registry.register(
            "signal_to_moment_latency_seconds",
            "Wall-clock time from a signal being handed to the dataflow (decoded, merged) to the moment it caused being handed to the sinks, seconds; a zone arrival waiting for its minimum dwell is counted from the first signal at or after its start",
            m.latency.clone(),
        );
        // Zero series for the known kinds, so rates work from the first scrape.
        for kind in SIGNAL_KINDS {
            m.signals(kind, 0);
        }
        for kind in MOMENT_KINDS {
            for level in [Level::Country, Level::Network, Level::Zone] {
                let l = MomentLabels {
                    kind: kind.as_str(),
                    level: level.as_str(),
                };
                m.moments.get_or_create(&l).inc_by(0);
            }
        }
        Metrics { registry, ..m }
    }

    /// Register more families (delivery's) under the same `landfall_` prefix, before the
    /// metrics are shared.
    pub fn register_more<T>(&mut self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry)
    }

    /// The OpenMetrics text of every family (Prometheus reads it), ending in `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }

    /// `frames` frames of `bytes` bytes read from input `source`.
    pub fn frames(&self, source: &str, frames: u64, bytes: u64) {
        let l = SourceLabel {
            source: source.to_owned(),
        };
        self.frames.get_or_create(&l).inc_by(frames);
        self.bytes.get_or_create(&l).inc_by(bytes);
    }

    /// `n` messages of type `t` decoded.
    pub fn messages(&self, t: &MessageType, n: u64) {
        let l = MessageLabels {
            protocol: t.proto.as_str(),
            message_type: message_type_name(t),
        };
        self.messages.get_or_create(&l).inc_by(n);
    }

    /// `n` signals of `kind` decoded.
    pub fn signals(&self, kind: SignalKind, n: u64) {
        self.signals
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .inc_by(n);
    }

    /// A moment emitted.
    pub fn moment(&self, m: &Moment) {
        let l = MomentLabels {
            kind: m.kind.as_str(),
            level: m.level.as_str(),
        };
        self.moments.get_or_create(&l).inc();
    }

    /// `n` decode errors of `layer` for `reason`.
    pub fn decode_errors(&self, layer: Layer, reason: &'static str, n: u64) {
        let l = ErrorLabels {
            layer: layer.as_str(),
            reason,
        };
        self.decode_errors.get_or_create(&l).inc_by(n);
    }

    /// The counts of a decoder's cumulative [`DecodeStats`] for input `source`: what grew
    /// since the last call for that source is added (call it as often as convenient).
    pub fn decode_stats(&self, source: &str, stats: &DecodeStats) {
        let mut seen = self.decode_seen.lock().unwrap_or_else(|e| e.into_inner());
        let last = seen.entry(source.to_owned()).or_default();
        let grew = |now: u64, before: &mut u64| {
            let d = now.saturating_sub(*before);
            *before = (*before).max(now);
            d
        };
        let (f, b) = (
            grew(stats.frames, &mut last.frames),
            grew(stats.bytes, &mut last.bytes),
        );
        if f > 0 || b > 0 {
            self.frames(source, f, b);
        }
        for (t, n) in &stats.messages {
            let d = grew(*n, last.messages.entry(*t).or_default());
            if d > 0 {
                self.messages(t, d);
            }
        }
        for (k, n) in &stats.signals {
            let d = grew(*n, last.signals.entry(*k).or_default());
            if d > 0 {
                self.signals(*k, d);
            }
        }
        for ((layer, reason), e) in &stats.errors {
            let d = grew(e.count, last.errors.entry((*layer, reason)).or_default());
            if d > 0 {
                self.decode_errors(*layer, reason, d);
            }
        }
    }

    /// The counts of a record input's cumulative [`RecordStats`], and the lines and bytes
    /// it read (`frames_read`, `bytes_read`): what grew since the last call is added.
    pub fn record_stats(&self, source: &str, stats: &RecordStats, lines: u64, bytes: u64) {
        let mut seen = self.records_seen.lock().unwrap_or_else(|e| e.into_inner());
        let last = seen.entry(source.to_owned()).or_default();
        let grew = |now: u64, before: &mut u64| {
            let d = now.saturating_sub(*before);
            *before = (*before).max(now);
            d
        };
        let (f, b) = (grew(lines, &mut last.lines), grew(bytes, &mut last.bytes));
        if f > 0 || b > 0 {
            self.frames(source, f, b);
        }
        let add = |result: &'static str, reason: &'static str, n: u64, before: &mut u64| {
            let d = grew(n, before);
            if d > 0 {
                let l = RecordLabels {
                    source: source.to_owned(),
                    result,
                    reason,
                };
                self.records.get_or_create(&l).inc_by(d);
            }
        };
        add("signal", "", stats.signals, &mut last.signals);
        add("blank", "", stats.blank, &mut last.blank);
        for (reason, n) in &stats.bad {
            add("bad", reason, *n, last.bad.entry(reason).or_default());
        }
    }

    /// `n` signals arrived too late to be applied.
    pub fn late_signals(&self, n: u64) {
        self.late.inc_by(n);
    }

    /// `n` signals dropped for `reason` (e.g. `queue_full`).
    pub fn dropped_signals(&self, reason: &'static str, n: u64) {
        self.dropped
            .get_or_create(&ReasonLabel { reason })
            .inc_by(n);
    }

    /// A live capture's cumulative drop counts (as libpcap's statistics give them): the
    /// kernel's and landfall's own. Counts only grow; a smaller value (a reopened
    /// capture) adds nothing.
    pub fn capture_drops(&self, source: &str, kernel_total: u64, landfall_total: u64) {
        for (by, total) in [("kernel", kernel_total), ("landfall", landfall_total)] {
            let c = self.capture_drops.get_or_create(&DropLabels {
                source: source.to_owned(),
                by,
            });
            let now = c.get();
            if total > now {
                c.inc_by(total - now);
            }
        }
    }

    /// How many subscribers the detectors hold state for.
    pub fn tracked_subscribers(&self, n: u64) {
        self.tracked.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Input `source`'s event time is `lag` behind the wall clock.
    pub fn watermark_lag(&self, source: &str, lag: Duration) {
        self.lag
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .set(lag.as_secs_f64());
    }

    /// A moment reached the sinks `latency` after its signal's capture time.
    pub fn signal_to_moment(&self, latency: Duration) {
        self.latency.observe(latency.as_secs_f64());
    }
}

/// Cumulative counts already added, per source.
#[derive(Default)]
struct RecordTotals {
    lines: u64,
    bytes: u64,
    signals: u64,
    blank: u64,
    bad: HashMap<&'static str, u64>,
}

#[derive(Default)]
struct DecodeTotals {
    frames: u64,
    bytes: u64,
    messages: HashMap<MessageType, u64>,
    signals: HashMap<SignalKind, u64>,
    errors: HashMap<(Layer, &'static str), u64>,
}

/// A message type's label: the dictionaries' name (Diameter `S6a ULR`, GTPv2 `Create
/// Session Request`, MAP `updateLocation invoke`), `other` when unnamed.
pub fn message_type_name(t: &MessageType) -> String {
    match t.proto {
        Proto::Diameter => match (
            dictionary::app_name(t.app),
            dictionary::command_name(t.code),
        ) {
            (app, Some(cmd)) => format!(
                "{} {cmd}{}",
                app.unwrap_or("other"),
                if t.request { "R" } else { "A" }
            ),
            _ => "other".to_owned(),
        },
        Proto::Gtpv2 => gtp::v2::message_name(t.code).unwrap_or("other").to_owned(),
        Proto::Gtpv1 => gtp::v1::msg::name(t.code).unwrap_or("other").to_owned(),
        Proto::Map => {
            let code = i64::from(t.code);
            match t.app {
                1 => format!("{} invoke", map::operation_name(code)),
                2 | 7 => format!("{} result", map::operation_name(code)),
                3 => format!("{} error", map::error_name(code)),
                4 => "reject".to_owned(),
                _ => "other".to_owned(),
            }
        }
        Proto::Sbi => landfall_parsers::decode::sbi_message_name(t),
        Proto::Ngap => landfall_parsers::decode::ngap_message_name(t),
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
