//! [`Config::describe`]: what would run, in words and units (`landfall check-config`).

use std::fmt::Write as _;

use super::values::{format_bytes, format_duration as d, format_offset};
use super::{Config, InputFormat, InputKind, SinkSettings};

pub fn describe(c: &Config) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "configuration {}", c.file.display());
    let _ = writeln!(s, "inputs ({}), merged by event time:", c.inputs.len());
    for i in &c.inputs {
        let what = match &i.kind {
            InputKind::Files { paths } => {
                let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                let what = if i.format.is_records() { "files" } else { "capture files" };
                format!("{what} {}", list.join(", "))
            }
            InputKind::Folder { path, pattern, idle_close } => format!(
                "folder {} followed, {} taken in name order, a file closed after {} without growing",
                path.display(),
                pattern
                    .as_ref()
                    .map_or_else(|| "every file".to_owned(), |p| format!("files matching {}", p.as_str())),
                d(*idle_close)
            ),
            InputKind::Stdin if i.format.is_records() => "lines on standard input".to_owned(),
            InputKind::Stdin => "a pcap or pcapng stream on standard input".to_owned(),
            InputKind::Tcp { listen } => format!("lines from connections to tcp {listen}"),
            InputKind::Unix { path } => {
                format!("lines from connections to unix socket {}", path.display())
            }
            InputKind::Interface { device, filter, snaplen, buffer_bytes } => format!(
                "live capture on {device} (snaplen {snaplen}, buffer {}), filter: {filter}",
                format_bytes(*buffer_bytes)
            ),
        };
        let _ = write!(s, "  {}: {what}", i.name);
        match &i.format {
            InputFormat::Captures => {}
            InputFormat::Records => {
                let _ = write!(s, ", signal records (JSON Lines)");
            }
            InputFormat::Mapped { path, .. } => {
                let _ = write!(
                    s,
                    ", a vendor's records through the mapping {}",
                    path.display()
                );
            }
        }
        if i.clock_offset_us != 0 {
            let _ = write!(s, "; clock offset {}", format_offset(i.clock_offset_us));
        }
        s.push('\n');
    }
    let dec = &c.decode;
    let ports: Vec<String> = dec.diameter_tcp_ports.iter().map(u16::to_string).collect();
    let _ = writeln!(
        s,
        "decode: Diameter on TCP ports {}; MCC overrides {}; GT → PLMN table {}; answer tolerance {}",
        ports.join(", "),
        if dec.mcc.is_empty() { "none".to_owned() } else { dec.mcc.join(", ") },
        dec.gt_plmn.as_ref().map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
        d(dec.answer_tolerance)
    );
    match &c.zones {
        None => {
            let _ = writeln!(s, "zones: none (country and network levels only)");
        }
        Some(z) => {
            let _ = writeln!(
                s,
                "zones: {}, cell catalog {}{}",
                z.zones.display(),
                z.cells
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
                if z.skip_bad_rows {
                    " (bad rows skipped and counted)"
                } else {
                    " (a bad row is an error)"
                }
            );
        }
    }
    let r = &c.rules;
    let _ = writeln!(
        s,
        "rules: re-entry gap {}, ttl {}, minimum dwell {}, horizon {} (a subscriber silent longer is new again)",
        d(r.reentry_gap),
        d(r.ttl),
        d(r.min_dwell),
        d(r.horizon)
    );
    let _ = writeln!(
        s,
        "timing: batches of {} event time, lateness {} ({} batches), a source idle {} stops holding the others back{}",
        d(r.batch),
        d(r.lateness),
        r.lateness_batches(),
        d(r.idle_timeout),
        if r.wall_clock {
            "; all idle: event time follows the wall clock"
        } else {
            "; all idle: event time waits for the data"
        }
    );
    let rt = &c.runtime;
    let _ = writeln!(
        s,
        "runtime: {} worker{}, data directory {}, snapshot every {}",
        rt.workers,
        if rt.workers == 1 { "" } else { "s" },
        rt.data_dir.display(),
        d(rt.snapshot_interval)
    );
    let _ = writeln!(
        s,
        "http: listening on {} (/metrics, /healthz, /readyz); operator view {}",
        c.http.listen,
        match &c.http.operator_key_source {
            Some(src) => format!("on /v1/operator/ with the key of {src}"),
            None => "off (no http.operator_key)".to_owned(),
        }
    );
    let _ = writeln!(
        s,
        "sinks ({}), moments as JSON Lines (the replay format):",
        c.sinks.len()
    );
    for sink in &c.sinks {
        match sink {
            SinkSettings::Stdout => {
                let _ = writeln!(s, "  standard output, flushed per batch");
            }
            SinkSettings::File(f) => {
                let mut rotate = Vec::new();
                if let Some(b) = f.rotate_bytes {
                    rotate.push(format!("at {}", format_bytes(b)));
                }
                if let Some(i) = f.rotate_interval {
                    rotate.push(format!("every {}", d(i)));
                }
                let rotate = if rotate.is_empty() {
                    "never rotated".to_owned()
                } else {
                    format!("rotated {}, {} old files kept", rotate.join(" or "), f.keep)
                };
                let _ = writeln!(
                    s,
                    "  file {}, {rotate}, {} per batch",
                    f.path.display(),
                    if f.fsync { "fsync'd" } else { "flushed" }
                );
            }
        }
    }
    let cl = &c.cluster;
    if cl.processes <= 1 {
        let _ = writeln!(s, "cluster: one process");
    } else {
        let hosts: Vec<String> = cl.hosts.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            s,
            "cluster: process {} of {} ({}), connect timeout {}",
            cl.process,
            cl.processes,
            hosts.join(", "),
            d(cl.connect_timeout)
        );
    }
    let _ = writeln!(s, "log: {:?} (LANDFALL_LOG overrides)", c.log.filter);
    match &c.partners {
        None => {
            let _ = writeln!(s, "partners: off (no [partners])");
        }
        Some(p) => {
            let _ = writeln!(
                s,
                "partners: API, delivery and event feed on; operator country {}, events from {}, {} attempts, request timeout {}, {} requests per sink, aggregates of at least {}{}{}",
                p.operator_country.as_str(),
                p.event_source,
                p.max_attempts,
                d(p.request_timeout),
                p.per_sink_concurrency,
                p.aggregate_min_count,
                if p.allow_http_loopback { ", loopback sinks allowed" } else { "" },
                if p.allow_private_sinks { ", private sinks allowed" } else { "" },
            );
        }
    }
    s
}
