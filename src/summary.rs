//! The run summary printed on standard error: what was read, decoded, found and refused.

use std::fmt::Write as _;
use std::time::Duration;

use landfall_parsers::decode::DecodeStats;
use landfall_parsers::signal::Proto;

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
            p => format!(
                "{} type {}{}",
                p.as_str(),
                t.code,
                if t.request { "" } else { " answer" }
            ),
        };
        let _ = writeln!(s, "  {name:<44} {n:>10}");
    }
    let _ = writeln!(s, "signals {}", stats.signal_total());
    for (k, n) in &stats.signals {
        let _ = writeln!(s, "  {:<44} {n:>10}", k.as_str());
    }
    if !stats.skipped.is_empty() {
        let _ = writeln!(s, "not decoded (recognised, not errors)");
        for (what, n) in &stats.skipped {
            let _ = writeln!(s, "  {what:<44} {n:>10}");
        }
    }
    let _ = writeln!(s, "decode errors {}", stats.error_total());
    for ((layer, reason), e) in &stats.errors {
        let sites: Vec<String> = e
            .examples
            .iter()
            .map(|x| {
                let file = files.get(usize::from(x.file)).map_or("?", |f| f.as_str());
                format!("{file}#{}+{}", x.frame, x.offset)
            })
            .collect();
        let _ = writeln!(
            s,
            "  {:<44} {:>10}  e.g. {}",
            format!("{}: {reason}", layer.as_str()),
            e.count,
            sites.join(", ")
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
