//! The run summary printed on standard error: what was read, decoded, found and refused.

use std::fmt::Write as _;
use std::time::Duration;

use landfall_parsers::decode::DecodeStats;
use landfall_parsers::diameter::dictionary;
use landfall_parsers::gtp;
use landfall_parsers::signal::Proto;
use landfall_parsers::ss7::map;

/// Human-readable name of a Diameter application, for counts.
pub fn diameter_app_name(app: u32) -> &'static str {
    dictionary::app_name(app).unwrap_or("other")
}

/// Human-readable Diameter command name (requests end in R, answers in A).
pub fn diameter_command_name(code: u32, request: bool) -> String {
    match dictionary::command_name(code) {
        Some(base) => format!("{base}{}", if request { "R" } else { "A" }),
        None => format!("{code}{}", if request { "-req" } else { "-ans" }),
    }
}

/// GTPv2-C message type name.
pub fn gtpv2_message_name(t: u32) -> &'static str {
    gtp::v2::message_name(t).unwrap_or("other")
}

/// GTPv1-C message type name.
pub fn gtpv1_message_name(t: u32) -> &'static str {
    gtp::v1::msg::name(t).unwrap_or("other")
}

/// A MAP component count's name: operation (or error) and component type.
pub fn map_component_name(component: u32, code: u32) -> String {
    let (kind, name) = match component {
        1 => ("invoke", map::operation_name(i64::from(code))),
        2 => ("returnResultLast", map::operation_name(i64::from(code))),
        7 => ("returnResult", map::operation_name(i64::from(code))),
        3 => ("returnError", map::error_name(i64::from(code))),
        _ => ("reject", ""),
    };
    match (component, code) {
        (4, _) => "map reject".to_owned(),
        (_, u32::MAX) => format!("map (no operation) {kind}"),
        _ => format!("map {name} ({code}) {kind}"),
    }
}

/// The multi-line statistics report (`inspect --stats`, and the tail of replay's summary).
pub fn stats_report(stats: &DecodeStats, files: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "frames {}  bytes {}", stats.frames, stats.bytes);
    let _ = writeln!(s, "messages {}", stats.message_total());
    for (t, n) in &stats.messages {
        let name = match t.proto {
            Proto::Diameter => format!(
                "diameter {} ({}) {}",
                diameter_app_name(t.app),
                t.app,
                diameter_command_name(t.code, t.request)
            ),
            Proto::Gtpv2 => format!("gtpv2 {} ({})", gtpv2_message_name(t.code), t.code),
            Proto::Gtpv1 => format!("gtpv1 {} ({})", gtpv1_message_name(t.code), t.code),
            Proto::Map => map_component_name(t.app, t.code),
            Proto::Sbi => landfall_parsers::decode::sbi_message_name(t),
            Proto::Ngap => landfall_parsers::decode::ngap_message_name(t),
        };
        let _ = writeln!(s, "  {name:<50} {n:>10}");
    }
    let _ = writeln!(s, "signals {}", stats.signal_total());
    for (k, n) in &stats.signals {
        let _ = writeln!(s, "  {:<50} {n:>10}", k.as_str());
    }
    if !stats.skipped.is_empty() {
        let _ = writeln!(s, "not decoded (recognised, not errors)");
        for (what, n) in &stats.skipped {
            let _ = writeln!(s, "  {what:<50} {n:>10}");
        }
    }
    let _ = writeln!(s, "decode errors {}", stats.error_total());
    for ((layer, reason), e) in &stats.errors {
        let sites: Vec<String> = e
            .examples
            .iter()
            .map(|x| {
                let file = files.get(usize::from(x.file)).map_or("?", |f| f.as_str());
                format!("{file} frame {} offset {}", x.frame, x.offset)
            })
            .collect();
        let _ = writeln!(
            s,
            "  {:<50} {:>10}  e.g. {}",
            format!("{}: {reason}", layer.as_str()),
            e.count,
            sites.join("; ")
        );
    }
    s
}

/// One line of throughput: frames and megabytes per second.
pub fn rate_line(stats: &DecodeStats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "elapsed {:.3} s  rate {:.0} frames/s  {:.1} MB/s",
        secs,
        stats.frames as f64 / secs,
        stats.bytes as f64 / secs / 1e6
    )
}
