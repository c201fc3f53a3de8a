//! The console's Health page: what the sources read and how far behind they are, decode
//! errors by reason with example frames, late signals, tracked subscribers and memory,
//! sampled by the server's refresher (about once a second) into one JSON snapshot.

use std::collections::HashMap;
use std::time::Instant;

use landfall_model::json::rfc3339_us;
use landfall_sources::Control;
use serde_json::{json, Value};

/// Example frames listed per error reason.
const EXAMPLES: usize = 3;

/// Frame counts of the previous sample, for the rates.
#[derive(Default)]
pub struct HealthProbe {
    previous: HashMap<String, (u64, Instant)>,
}

/// What the refresher knows beside the sources.
pub struct Counters {
    pub tracked_subscribers: u64,
    pub late_signals: u64,
}

impl HealthProbe {
    /// One snapshot of `control`'s sources (named `names`, in order) and `counters`.
    pub fn sample(&mut self, control: &Control, names: &[String], counters: Counters) -> Value {
        let now = Instant::now();
        let now_us = landfall_delivery::now_us();
        let files: HashMap<u16, String> = control
            .files()
            .entries()
            .into_iter()
            .map(|(i, e)| (i, e.name))
            .collect();
        let mut errors: Vec<Value> = Vec::new();
        let mut sources = Vec::new();
        for (stats, name) in control.sources().iter().zip(names) {
            let snap = stats.snapshot();
            let decode = stats.decode_stats();
            let rate = match self.previous.insert(name.clone(), (snap.frames, now)) {
                Some((frames, at)) if now > at => {
                    snap.frames.saturating_sub(frames) as f64 / (now - at).as_secs_f64()
                }
                _ => 0.0,
            };
            sources.push(json!({
                "name": name,
                "frames": snap.frames,
                "frames_per_second": (rate * 10.0).round() / 10.0,
                "bytes": snap.bytes,
                "signals": snap.signals,
                "files": snap.files,
                "capture_errors": snap.capture_errors,
                "watermark": snap.watermark.map(rfc3339_us),
                "watermark_lag_seconds": snap.watermark.map(|w| (now_us - w).max(0) as f64 / 1e6),
                "drops": {
                    "kernel": snap.kernel_drops + snap.interface_drops,
                    "landfall": snap.landfall_drops,
                },
                "idle": snap.idle,
                "ended": snap.ended,
                "decode_errors": decode.error_total(),
                "last_error": stats.last_error(),
            }));
            for ((layer, reason), count) in &decode.errors {
                let examples: Vec<Value> = count
                    .examples
                    .iter()
                    .take(EXAMPLES)
                    .map(|e| {
                        json!({
                            "file": files.get(&e.file).cloned().unwrap_or_else(|| format!("#{}", e.file)),
                            "frame": e.frame,
                            "offset": e.offset,
                        })
                    })
                    .collect();
                errors.push(json!({
                    "source": name,
                    "layer": layer.as_str(),
                    "reason": reason,
                    "count": count.count,
                    "examples": examples,
                }));
            }
            // A record input's bad lines, by the field at fault; examples by file and line.
            let records = stats.record_stats();
            for (reason, n) in &records.bad {
                let examples: Vec<Value> = records
                    .examples
                    .iter()
                    .filter_map(|e| {
                        // `file:line: what`; a stream's name may hold colons itself.
                        let (at, what) = e.split_once(": ")?;
                        let (file, line) = at.rsplit_once(':')?;
                        (what.starts_with(reason) || *reason == "not a signal record")
                            .then(|| json!({ "file": file, "line": line.parse::<u64>().ok(), "what": what }))
                    })
                    .take(EXAMPLES)
                    .collect();
                errors.push(json!({
                    "source": name,
                    "layer": "record",
                    "reason": reason,
                    "count": n,
                    "examples": examples,
                }));
            }
        }
        errors.sort_by_key(|e| std::cmp::Reverse(e["count"].as_u64().unwrap_or(0)));
        json!({
            "as_of": rfc3339_us(now_us),
            "sources": sources,
            "decode_errors": errors,
            "late_signals": counters.late_signals,
            "tracked_subscribers": counters.tracked_subscribers,
            "memory": { "resident_bytes": resident_bytes() },
        })
    }
}

/// The process's resident memory (Linux: `VmRSS` of /proc/self/status), if known.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_is_read_on_linux() {
        let rss = super::resident_bytes().expect("VmRSS");
        assert!(rss > 1 << 20, "{rss}");
    }
}
