use landfall_model::{Level, MomentKind};
use landfall_parsers::decode::ErrorCount;

use super::*;
use crate::testutil::{country, moment};

/// The value of the sample `name{labels}` in `text` (labels as written, sorted by the
/// family's field order), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
}

/// Metrics with one observation of each kind.
fn observed() -> Metrics {
    let m = Metrics::new();
    m.frames("probe-a", 10, 1500);
    m.messages(
        &MessageType {
            proto: Proto::Gtpv2,
            app: 0,
            code: 32,
            request: true,
        },
        1,
    );
    m.decode_errors(Layer::Sctp, "bad checksum", 2);
    m.dropped_signals("queue_full", 1);
    m.capture_drops("eth1", 7, 1);
    m.watermark_lag("probe-a", Duration::from_millis(1500));
    m
}

#[test]
fn a_fresh_registry_has_zero_series_for_the_known_kinds() {
    let t = Metrics::new().encode();
    assert_eq!(
        sample(&t, "landfall_signals_total{kind=\"purge\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &t,
            "landfall_moments_total{kind=\"roaming-on\",level=\"zone\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&t, "landfall_late_signals_total"), Some(0.0));
    assert_eq!(sample(&t, "landfall_tracked_subscribers"), Some(0.0));
}

#[test]
fn every_family_has_help_and_type() {
    let text = observed().encode();
    for family in [
        "landfall_build_info",
        "landfall_frames_read",
        "landfall_bytes_read",
        "landfall_messages",
        "landfall_signals",
        "landfall_moments",
        "landfall_decode_errors",
        "landfall_late_signals",
        "landfall_dropped_signals",
        "landfall_capture_drops",
        "landfall_tracked_subscribers",
        "landfall_watermark_lag_seconds",
        "landfall_signal_to_moment_latency_seconds",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} has no HELP:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} has no TYPE:\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn typed_updates_show_as_samples() {
    let m = Metrics::new();
    m.frames("probe-a", 10, 1500);
    m.frames("probe-a", 5, 500);
    m.signals(SignalKind::Attach, 3);
    m.moment(&moment(
        "001010000000001",
        MomentKind::Arrival,
        country("FR"),
        1,
    ));
    m.moment(&moment(
        "001010000000001",
        MomentKind::Arrival,
        country("DE"),
        2,
    ));
    m.decode_errors(Layer::Sctp, "bad checksum", 2);
    m.late_signals(4);
    m.dropped_signals("queue_full", 1);
    m.capture_drops("eth1", 7, 1);
    m.capture_drops("eth1", 9, 1);
    m.capture_drops("eth1", 3, 0);
    m.tracked_subscribers(1234);
    m.watermark_lag("probe-a", Duration::from_millis(1500));
    m.signal_to_moment(Duration::from_millis(3));
    m.signal_to_moment(Duration::from_secs(20));
    let t = m.encode();
    let at = |s: &str| sample(&t, s).unwrap_or_else(|| panic!("no {s} in\n{t}"));
    assert_eq!(at("landfall_frames_read_total{source=\"probe-a\"}"), 15.0);
    assert_eq!(at("landfall_bytes_read_total{source=\"probe-a\"}"), 2000.0);
    assert_eq!(at("landfall_signals_total{kind=\"attach\"}"), 3.0);
    assert_eq!(
        at("landfall_moments_total{kind=\"arrival\",level=\"country\"}"),
        2.0
    );
    assert_eq!(
        at("landfall_decode_errors_total{layer=\"sctp\",reason=\"bad checksum\"}"),
        2.0
    );
    assert_eq!(at("landfall_late_signals_total"), 4.0);
    assert_eq!(
        at("landfall_dropped_signals_total{reason=\"queue_full\"}"),
        1.0
    );
    assert_eq!(
        at("landfall_capture_drops_total{source=\"eth1\",by=\"kernel\"}"),
        9.0
    );
    assert_eq!(
        at("landfall_capture_drops_total{source=\"eth1\",by=\"landfall\"}"),
        1.0
    );
    assert_eq!(at("landfall_tracked_subscribers"), 1234.0);
    assert_eq!(
        at("landfall_watermark_lag_seconds{source=\"probe-a\"}"),
        1.5
    );
    assert_eq!(at("landfall_signal_to_moment_latency_seconds_count"), 2.0);
    assert_eq!(
        at("landfall_signal_to_moment_latency_seconds_bucket{le=\"0.005\"}"),
        1.0
    );
    assert_eq!(
        at("landfall_signal_to_moment_latency_seconds_bucket{le=\"10.0\"}"),
        1.0
    );
    assert_eq!(
        at("landfall_signal_to_moment_latency_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert_eq!(
        at(&format!(
            "landfall_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    let _ = Level::Zone;
}

#[test]
fn decode_stats_add_what_grew_per_source() {
    let m = Metrics::new();
    let ulr = MessageType {
        proto: Proto::Diameter,
        app: 16_777_251,
        code: 316,
        request: true,
    };
    let odd = MessageType {
        proto: Proto::Diameter,
        app: 4,
        code: 99_999,
        request: true,
    };
    let mut stats = DecodeStats {
        frames: 10,
        bytes: 1000,
        ..DecodeStats::default()
    };
    stats.messages.insert(ulr, 4);
    stats.messages.insert(odd, 1);
    stats.signals.insert(SignalKind::LocationUpdate, 2);
    stats.errors.insert(
        (Layer::Diameter, "truncated"),
        ErrorCount {
            count: 1,
            examples: vec![],
        },
    );
    m.decode_stats("a", &stats);
    m.decode_stats("a", &stats); // the same totals again: nothing added
    stats.frames = 15;
    stats.messages.insert(ulr, 6);
    m.decode_stats("a", &stats);
    m.decode_stats("b", &stats); // another source's decoder: its own totals
    let t = m.encode();
    let at = |s: &str| sample(&t, s).unwrap_or_else(|| panic!("no {s} in\n{t}"));
    assert_eq!(at("landfall_frames_read_total{source=\"a\"}"), 15.0);
    assert_eq!(at("landfall_frames_read_total{source=\"b\"}"), 15.0);
    let name = message_type_name(&ulr);
    assert!(name.starts_with("S6a") && name.ends_with("ULR"), "{name}");
    assert_eq!(
        at(&format!(
            "landfall_messages_total{{protocol=\"diameter\",message_type=\"{name}\"}}"
        )),
        12.0
    );
    assert_eq!(
        at("landfall_messages_total{protocol=\"diameter\",message_type=\"other\"}"),
        2.0
    );
    assert_eq!(at("landfall_signals_total{kind=\"location_update\"}"), 4.0);
    assert_eq!(
        at("landfall_decode_errors_total{layer=\"diameter\",reason=\"truncated\"}"),
        2.0
    );
}
