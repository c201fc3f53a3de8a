//! Signal record files (`landfall_model::record`, JSON Lines) read into signals: the way in
//! for operators whose probes or pipelines already export signaling transactions; and
//! vendors' own xDR layouts (CSV or JSON Lines) through a [`mapping`].
//!
//! A bad line never stops the reading: it is counted by reason (the field at fault) with
//! the file and line of the first few, like decode errors. Fields a record leaves out that
//! follow from others are derived as the decoders would: the home network and its country
//! from the IMSI (E.212, with the run's `--mcc` overrides), the serving country from the
//! serving network's MCC. A record without `source.file` is the reading file's own.

use std::collections::BTreeMap;
use std::io::BufRead;

use landfall_model::record::RecordError;
use landfall_model::Signal;

use crate::numbering::e212::E212;

pub mod lines;
pub mod mapping;

pub use lines::{FileIndex, HeaderError, LineReader};

/// How many bad lines are kept as examples.
const EXAMPLES: usize = 5;

/// What the reading counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Lines that were signals.
    pub signals: u64,
    /// Blank lines skipped.
    pub blank: u64,
    /// Bad lines by reason (the field at fault, or "not a signal record").
    pub bad: BTreeMap<&'static str, u64>,
    /// The first few bad lines: `file:line: what`.
    pub examples: Vec<String>,
}

impl RecordStats {
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }

    /// Adds `other`'s counts (and examples, while there are few).
    pub fn absorb(&mut self, other: RecordStats) {
        self.signals += other.signals;
        self.blank += other.blank;
        for (reason, n) in other.bad {
            *self.bad.entry(reason).or_default() += n;
        }
        let room = EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    /// One line for a run's summary.
    pub fn summary(&self) -> String {
        let mut line = format!("records {} signals", self.signals);
        if self.bad_total() > 0 {
            let reasons: Vec<String> = self.bad.iter().map(|(r, n)| format!("{r} {n}")).collect();
            line.push_str(&format!(
                ", {} bad lines skipped ({}): {}",
                self.bad_total(),
                reasons.join(", "),
                self.examples.join("; ")
            ));
        }
        line
    }
}

/// The run's file names by index, shared by every record file read into one run: a
/// record's `source.file` gets the index of its first appearance.
#[derive(Clone, Debug, Default)]
pub struct FileNames {
    names: Vec<String>,
    index: BTreeMap<String, u16>,
}

impl FileNames {
    /// The index of `name` (a new one the first time; indices wrap after 65536 names).
    pub fn index(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = (self.names.len() % (usize::from(u16::MAX) + 1)) as u16;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    /// The names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Reads the record lines of `input` (named `file` in examples and in records without a
/// `source.file`), appending its signals to `out`.
pub fn read_records(
    input: impl BufRead,
    file: &str,
    e212: &E212,
    names: &mut FileNames,
    out: &mut Vec<Signal>,
    stats: &mut RecordStats,
) -> std::io::Result<()> {
    let mut lines = LineReader::new(file, None);
    read_lines(
        input,
        &mut lines,
        &mut |f| names.index(f.unwrap_or(file)),
        e212,
        out,
        stats,
    )
}

/// Every line of `input` through `lines`, then its end. A CSV header the mapping does not
/// fit is an error (`InvalidData`), as is a failed read.
pub fn read_lines(
    mut input: impl BufRead,
    lines: &mut LineReader,
    index: &mut FileIndex<'_>,
    e212: &E212,
    out: &mut Vec<Signal>,
    stats: &mut RecordStats,
) -> std::io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lines
            .line(&line, index, e212, out, stats)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    }
    lines.finish(stats);
    Ok(())
}

fn bad(stats: &mut RecordStats, file: &str, line: u64, e: &RecordError) {
    bad_line(stats, file, line, e.reason(), &e.to_string());
}

/// One bad line counted under `reason`, kept as an example while there are few.
fn bad_line(stats: &mut RecordStats, file: &str, line: u64, reason: &'static str, what: &str) {
    *stats.bad.entry(reason).or_default() += 1;
    if stats.examples.len() < EXAMPLES {
        let mut what = what.to_owned();
        what.truncate(160);
        stats.examples.push(format!("{file}:{line}: {what}"));
    }
}

/// What the decoders derive, where the record left it out.
fn derive(s: &mut Signal, e212: &E212) {
    if s.home.is_none() {
        s.home = e212.home_plmn(&s.imsi);
    }
    if s.home_country.is_none() {
        s.home_country = e212.imsi_country(&s.imsi);
    }
    if s.serving_country.is_none() {
        s.serving_country = s.serving.and_then(|p| e212.plmn_country(&p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_counted_by_reason_and_the_rest_read() {
        let text = concat!(
            r#"{"v":1,"at":"2026-06-01T08:00:03Z","imsi":"262011234567890","kind":"location_update","serving":"208-01","source":{"proto":"map"}}"#,
            "\n\n",
            "not json\n",
            r#"{"v":1,"at":"2026-06-01T08:00:04Z","imsi":"12","kind":"attach","source":{"proto":"diameter"}}"#,
            "\n",
            r#"{"v":1,"at":"2026-06-01T08:00:05Z","imsi":"208011234567890","kind":"cell_change","source":{"file":"probe.pcap","frame":7,"proto":"gtpv2"}}"#,
            "\n",
        );
        let (mut names, mut out, mut stats) =
            (FileNames::default(), Vec::new(), RecordStats::default());
        read_records(
            text.as_bytes(),
            "export.jsonl",
            &E212::default(),
            &mut names,
            &mut out,
            &mut stats,
        )
        .unwrap();
        assert_eq!((stats.signals, stats.blank, stats.bad_total()), (2, 1, 2));
        assert_eq!(stats.bad.get("imsi"), Some(&1));
        assert_eq!(stats.bad.get("not a signal record"), Some(&1));
        assert!(
            stats.examples[0].starts_with("export.jsonl:3: "),
            "{:?}",
            stats.examples
        );
        assert!(
            stats.examples[1].starts_with("export.jsonl:4: imsi"),
            "{:?}",
            stats.examples
        );
        // Derived as the decoders would; named by the file and line when the record is not.
        let first = out[0];
        assert_eq!(
            first.home_country.map(|c| c.to_string()).as_deref(),
            Some("DE")
        );
        assert_eq!(
            first.serving_country.map(|c| c.to_string()).as_deref(),
            Some("FR")
        );
        assert_eq!(first.home.map(|p| p.to_string()).as_deref(), Some("262-01"));
        assert_eq!((first.source.file, first.source.frame), (0, 1));
        assert_eq!((out[1].source.file, out[1].source.frame), (1, 7));
        assert_eq!(names.names(), ["export.jsonl", "probe.pcap"]);
        assert!(
            stats.summary().contains("2 bad lines skipped"),
            "{}",
            stats.summary()
        );
    }
}
