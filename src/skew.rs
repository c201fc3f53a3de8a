//! Clock skew between probes: per-input clock offsets (`--clock-offset`), and the report
//! of request→answer delays per pair of inputs with a suggested offset.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use landfall_parsers::capture::CaptureReader;
use landfall_parsers::decode::DecodeStats;
use landfall_parsers::early::DelaySample;

/// The largest offset accepted: a day either way.
const MAX_OFFSET_US: i64 = 86_400_000_000;

/// One `--clock-offset TARGET=±DURATION`: a capture file (its name or path) or a folder of
/// captures, or one pcapng interface of a file (`FILE#N`, N its interface id), and what to
/// add to its timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockOffset {
    pub target: String,
    /// A pcapng interface id of the target file.
    pub iface: Option<u32>,
    pub offset_us: i64,
}

/// Parse `NAME_OR_PATH=+5ms` / `=-1s 500ms` / `=20ms` (a signed humantime duration), or
/// `NAME_OR_PATH#1=+5ms` for interface 1 of a pcapng file.
pub fn parse_clock_offset(s: &str) -> Result<ClockOffset, String> {
    let (target, offset) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("{s:?}: expected FILE=OFFSET, e.g. probe-b.pcap=+5ms"))?;
    let (target, iface) = match target.rsplit_once('#') {
        Some((file, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n = n
                .parse()
                .map_err(|_| format!("{s:?}: interface id {n} too large"))?;
            (file, Some(n))
        }
        _ => (target, None),
    };
    if target.is_empty() {
        return Err(format!("{s:?}: no file or folder before '='"));
    }
    let offset = offset.trim();
    let (negative, magnitude) = match offset.as_bytes().first() {
        Some(b'-') => (true, &offset[1..]),
        Some(b'+') => (false, &offset[1..]),
        _ => (false, offset),
    };
    let d = humantime::parse_duration(magnitude.trim())
        .map_err(|e| format!("{s:?}: offset {offset:?} is not a duration such as +5ms: {e}"))?;
    let us = i64::try_from(d.as_micros())
        .ok()
        .filter(|us| *us <= MAX_OFFSET_US)
        .ok_or_else(|| format!("{s:?}: offset beyond one day"))?;
    Ok(ClockOffset {
        target: target.to_owned(),
        iface,
        offset_us: if negative { -us } else { us },
    })
}

/// How specifically `target` names `path`: 2 for the file itself (by name or path), 1 plus
/// the folder depth for a folder holding it, `None` when it does not.
fn specificity(target: &str, path: &Path) -> Option<usize> {
    let t = Path::new(target);
    if path.file_name().is_some_and(|n| n == t.as_os_str()) || path == t {
        return Some(usize::MAX);
    }
    let (Ok(tc), Ok(pc)) = (t.canonicalize(), path.canonicalize()) else {
        return None;
    };
    if tc == pc {
        return Some(usize::MAX);
    }
    (tc.is_dir() && pc.starts_with(&tc)).then(|| tc.components().count())
}

/// The offset of each capture in `paths` (0 where none applies; the most specific target
/// wins: a file over its folder, a folder over its parent). A target that names no
/// capture is an error naming the flag.
pub fn resolve_offsets(paths: &[PathBuf], offsets: &[ClockOffset]) -> Result<Vec<i64>> {
    for o in offsets {
        if !paths.iter().any(|p| specificity(&o.target, p).is_some()) {
            bail!(
                "--clock-offset {}: names none of the capture files given",
                o.target
            );
        }
    }
    Ok(offsets_of(paths, offsets))
}

/// The offset of each capture in `paths`, ignoring targets that name none of them (and
/// interface offsets).
fn offsets_of(paths: &[PathBuf], offsets: &[ClockOffset]) -> Vec<i64> {
    paths
        .iter()
        .map(|p| {
            offsets
                .iter()
                .filter(|o| o.iface.is_none())
                .filter_map(|o| specificity(&o.target, p).map(|s| (s, o.offset_us)))
                .max_by_key(|(s, _)| *s)
                .map_or(0, |(_, us)| us)
        })
        .collect()
}

/// Apply the offsets to the readers opened for `paths` (targets naming none of them are
/// ignored: check them first with [`resolve_offsets`]). An interface's offset replaces its
/// file's for that interface's packets.
pub fn apply_offsets(readers: &mut [CaptureReader], paths: &[PathBuf], offsets: &[ClockOffset]) {
    let files = offsets_of(paths, offsets);
    // A reader's file index is its path's position (readers of unreadable files skipped).
    for r in readers.iter_mut() {
        let i = usize::from(r.file_index());
        let (Some(&us), Some(p)) = (files.get(i), paths.get(i)) else {
            continue;
        };
        if us != 0 {
            r.set_clock_offset(us);
        }
        for o in offsets {
            if let (Some(i), Some(_)) = (o.iface, specificity(&o.target, p)) {
                r.set_interface_clock_offset(i, o.offset_us.saturating_sub(us));
            }
        }
    }
}

fn ms(us: i64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Whole milliseconds, rounded away from zero, with a sign.
fn signed_ms(us: i64) -> String {
    let m = (us.unsigned_abs().div_ceil(1000)) as i64;
    if us < 0 {
        format!("-{m}ms")
    } else {
        format!("+{m}ms")
    }
}

/// Is there anything about clock skew worth reporting: early pairings, negative delays,
/// or pairs across inputs?
pub fn worth_reporting(stats: &DecodeStats) -> bool {
    stats.pairing.values().any(|p| p.early > 0)
        || stats
            .delays
            .pairs
            .iter()
            .any(|((r, a), s)| r != a || s.negative > 0)
}

/// The correction for the answer file of `(req, ans)` whose median delay is negative:
/// half the difference of the two directions' medians when requests went both ways (the
/// round trip cancels out), else what makes the earliest answer follow its request.
fn suggestion(stats: &DecodeStats, req: u16, ans: u16, s: &DelaySample) -> Option<i64> {
    let med = s.percentile(50)?;
    if med >= 0 || req == ans {
        return None;
    }
    match stats
        .delays
        .pairs
        .get(&(ans, req))
        .and_then(|r| r.percentile(50))
    {
        Some(back) => Some(back.saturating_sub(med) / 2),
        None => Some(s.min_us.saturating_neg()),
    }
}

/// The skew report: pairing counts per protocol and the delay distribution per pair of
/// inputs, with a suggested `--clock-offset` where answers precede their requests.
pub fn skew_report(stats: &DecodeStats, files: &[String]) -> String {
    let mut out = String::new();
    let name = |i: u16| files.get(usize::from(i)).map_or("?", String::as_str);
    let _ = writeln!(
        out,
        "pairing (answers in order / early, held for their request / early dropped after the tolerance / requests expired unanswered)"
    );
    for (proto, p) in &stats.pairing {
        if p.in_order + p.early + p.early_dropped + p.expired == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<10} in order {:>8}  early {:>8}  early dropped {:>8}  expired {:>8}",
            proto.as_str(),
            p.in_order,
            p.early,
            p.early_dropped,
            p.expired
        );
    }
    let _ = writeln!(
        out,
        "request→answer delays per pair of inputs (ms; request file → answer file; answers dropped unpaired included when their request came later)"
    );
    for (&(r, a), s) in &stats.delays.pairs {
        let p = |q| s.percentile(q).map_or("-".to_owned(), ms);
        let _ = writeln!(
            out,
            "  {} → {}: count {} negative {}  min {} p10 {} median {} p90 {} max {}",
            name(r),
            name(a),
            s.count,
            s.negative,
            ms(s.min_us),
            p(10),
            p(50),
            p(90),
            ms(s.max_us)
        );
        if let Some(fix) = suggestion(stats, r, a, s) {
            let _ = writeln!(
                out,
                "    answers are stamped before their requests: {}'s clock looks behind; suggest --clock-offset {}={}",
                name(a),
                name(a),
                signed_ms(fix)
            );
            if s.min_us < 0 && stats.pairing.values().any(|p| p.early_dropped > 0) {
                let _ = writeln!(
                    out,
                    "    (or --answer-tolerance {}ms or more: answers were dropped after the tolerance)",
                    (s.min_us.unsigned_abs().div_ceil(1000) + 1)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_with_sign_and_range() {
        let o = parse_clock_offset("b.pcap=-5ms").unwrap();
        assert_eq!((o.target.as_str(), o.offset_us), ("b.pcap", -5_000));
        assert_eq!(
            parse_clock_offset("x=+1s 500ms").unwrap().offset_us,
            1_500_000
        );
        assert_eq!(parse_clock_offset("a=b=20ms").unwrap().target, "a=b");
        let i = parse_clock_offset("probe.pcapng#2=-3ms").unwrap();
        assert_eq!(
            (i.target.as_str(), i.iface, i.offset_us),
            ("probe.pcapng", Some(2), -3_000)
        );
        assert_eq!(parse_clock_offset("a#b=1ms").unwrap().iface, None);
        for bad in ["b.pcap", "=5ms", "b.pcap=5", "b.pcap=fast", "b.pcap=+2days"] {
            assert!(parse_clock_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_resolve_by_name_path_and_most_specific() {
        let paths = [
            PathBuf::from("/nonexistent/a.pcap"),
            PathBuf::from("b.pcap"),
        ];
        let o = |t: &str, us| ClockOffset {
            target: t.into(),
            iface: None,
            offset_us: us,
        };
        assert_eq!(
            resolve_offsets(&paths, &[o("a.pcap", 5), o("b.pcap", -7)]).unwrap(),
            vec![5, -7]
        );
        assert_eq!(
            resolve_offsets(&paths, &[o("/nonexistent/a.pcap", 3)]).unwrap(),
            vec![3, 0]
        );
        let e = resolve_offsets(&paths, &[o("c.pcap", 1)]).unwrap_err();
        assert!(e.to_string().contains("--clock-offset c.pcap"), "{e}");
        assert_eq!(signed_ms(-1), "-1ms");
        assert_eq!(signed_ms(2_000), "+2ms");
    }
}
