//! The run summary printed on standard error: what was read, decoded, found and refused.

use std::fmt::Write as _;
use std::time::Duration;

use landfall_parsers::decode::DecodeStats;
use landfall_parsers::signal::Proto;
use landfall_parsers::ss7::map;

/// Human-readable name of a Diameter application, for counts.
pub fn diameter_app_name(app: u32) -> &'static str {
    match app {
        0 => "base",
        4 => "credit-control",
        16777216 => "Cx",
        16777236 => "Rx",
        16777238 => "Gx",
        16777251 => "S6a/S6d",
        16777252 => "S13",
        16777255 => "SLg",
        16777265 => "SWx",
        16777272 => "S6b",
        _ => "other",
    }
}

/// Human-readable Diameter command name (requests end in R, answers in A).
pub fn diameter_command_name(code: u32, request: bool) -> String {
    let base = match code {
        257 => "CE",
        258 => "RA",
        265 => "AA",
        271 => "AC",
        272 => "CC",
        274 => "AS",
        275 => "ST",
        280 => "DW",
        282 => "DP",
        302 => "LI",
        316 => "UL",
        317 => "CL",
        318 => "AI",
        319 => "ID",
        320 => "DS",
        321 => "PU",
        322 => "RS",
        323 => "NO",
        _ => return format!("{code}{}", if request { "-req" } else { "-ans" }),
    };
    format!("{base}{}", if request { "R" } else { "A" })
}

/// GTPv2-C message type name (TS 29.274 Table 6.1-1).
pub fn gtpv2_message_name(t: u32) -> &'static str {
    match t {
        1 => "Echo Request",
        2 => "Echo Response",
        3 => "Version Not Supported",
        32 => "Create Session Request",
        33 => "Create Session Response",
        34 => "Modify Bearer Request",
        35 => "Modify Bearer Response",
        36 => "Delete Session Request",
        37 => "Delete Session Response",
        38 => "Change Notification Request",
        39 => "Change Notification Response",
        64 => "Modify Bearer Command",
        65 => "Modify Bearer Failure Indication",
        66 => "Delete Bearer Command",
        67 => "Delete Bearer Failure Indication",
        68 => "Bearer Resource Command",
        69 => "Bearer Resource Failure Indication",
        70 => "Downlink Data Notification Failure Indication",
        95 => "Create Bearer Request",
        96 => "Create Bearer Response",
        97 => "Update Bearer Request",
        98 => "Update Bearer Response",
        99 => "Delete Bearer Request",
        100 => "Delete Bearer Response",
        128 => "Identification Request",
        129 => "Identification Response",
        130 => "Context Request",
        131 => "Context Response",
        132 => "Context Acknowledge",
        133 => "Forward Relocation Request",
        134 => "Forward Relocation Response",
        170 => "Release Access Bearers Request",
        171 => "Release Access Bearers Response",
        176 => "Downlink Data Notification",
        177 => "Downlink Data Notification Acknowledge",
        211 => "Modify Access Bearers Request",
        212 => "Modify Access Bearers Response",
        _ => "other",
    }
}

/// GTPv1-C message type name (TS 29.060 Table 1).
pub fn gtpv1_message_name(t: u32) -> &'static str {
    match t {
        1 => "Echo Request",
        2 => "Echo Response",
        3 => "Version Not Supported",
        16 => "Create PDP Context Request",
        17 => "Create PDP Context Response",
        18 => "Update PDP Context Request",
        19 => "Update PDP Context Response",
        20 => "Delete PDP Context Request",
        21 => "Delete PDP Context Response",
        26 => "Error Indication",
        27 => "PDU Notification Request",
        28 => "PDU Notification Response",
        31 => "Supported Extension Headers Notification",
        _ => "other",
    }
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
