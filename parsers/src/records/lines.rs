//! One input's record lines read into signals a line at a time, so that a stream (standard
//! input, a socket, a file still being written) gives each record's signal as soon as its
//! line is in, and a file and a stream of the same lines give the same signals.
//!
//! The line is the unit of everything: a signal record or a JSON Lines export row is one
//! line; a CSV row is one line too, unless a quoted field holds a line break, when the row
//! goes on over the next lines (and is numbered by its first). A line that is not UTF-8 is
//! counted bad (`not UTF-8`), never an error of the whole input.

use std::sync::Arc;

use landfall_model::record::SignalRecord;
use landfall_model::Signal;

use super::mapping::{Bad, Format, Mapping};
use super::{bad, bad_line, derive, RecordStats};
use crate::numbering::e212::E212;

/// A CSV row's fields: at most this many (more are counted bad, `not a CSV row`).
const MAX_FIELDS: usize = 512;
/// A CSV row's bytes, over all its lines: at most this many.
const MAX_ROW_BYTES: usize = 1 << 20;

/// A CSV header that does not have a column the mapping names: the input cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: fields.{key} = {column:?} is not one of its columns")]
pub struct HeaderError {
    pub file: String,
    pub key: &'static str,
    pub column: String,
}

/// Where a signal's `source.file` index comes from: `None` asks for the reading input's
/// own index, `Some(name)` for the file a signal record names.
pub type FileIndex<'a> = dyn FnMut(Option<&str>) -> u16 + 'a;

/// The lines of one input, read in order.
pub struct LineReader {
    /// The input's name: in examples of bad lines.
    file: String,
    /// Lines given so far.
    line: u64,
    form: Form,
}

enum Form {
    /// Signal records (docs/records.md).
    Records,
    /// A vendor's JSON Lines export through its mapping.
    Jsonl(Arc<Mapping>),
    /// A vendor's CSV export through its mapping.
    Csv(Box<Csv>),
}

/// A CSV export's reading state.
struct Csv {
    mapping: Arc<Mapping>,
    core: csv_core::Reader,
    /// The header's column names; `None` before the header (or always, without one).
    columns: Option<Vec<String>>,
    /// The current row's field bytes (`outlen` of them) and where each field ends
    /// (`endlen` of them), as csv_core writes them.
    fields: Vec<u8>,
    outlen: usize,
    ends: Vec<usize>,
    endlen: usize,
    /// The line the current row began on; 0 between rows.
    row_line: u64,
    /// The current row is too long or has too many fields: read to its end, then counted.
    overflow: bool,
}

impl LineReader {
    /// The reader of the input named `file`: signal records, or a vendor's export through
    /// `mapping`.
    pub fn new(file: &str, mapping: Option<Arc<Mapping>>) -> LineReader {
        let form = match mapping {
            None => Form::Records,
            Some(m) if m.format == Format::Jsonl => Form::Jsonl(m),
            Some(m) => Form::Csv(Box::new(Csv {
                core: csv_core::ReaderBuilder::new()
                    .delimiter(m.delimiter())
                    .build(),
                mapping: m,
                columns: None,
                fields: vec![0; 256],
                outlen: 0,
                ends: vec![0; 16],
                endlen: 0,
                row_line: 0,
                overflow: false,
            })),
        };
        LineReader {
            file: file.to_owned(),
            line: 0,
            form,
        }
    }

    /// The input's name.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Lines given so far.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// The next line (its end, `\n` or `\r\n`, may be left on), appending its signal to
    /// `out` or counting it bad in `stats`. `Err` only for a CSV header without a column
    /// the mapping names: nothing of the input can be read then.
    pub fn line(
        &mut self,
        line: &[u8],
        index: &mut FileIndex<'_>,
        e212: &E212,
        out: &mut Vec<Signal>,
        stats: &mut RecordStats,
    ) -> Result<(), HeaderError> {
        self.line += 1;
        let number = self.line;
        let line = trim_end(line);
        if let Form::Csv(csv) = &mut self.form {
            return csv.line(line, number, &self.file, index, e212, out, stats);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            stats.blank += 1;
            return Ok(());
        }
        let Ok(text) = std::str::from_utf8(line) else {
            bad_line(
                stats,
                &self.file,
                number,
                "not UTF-8",
                "the line is not UTF-8",
            );
            return Ok(());
        };
        match &self.form {
            Form::Records => {
                let signal =
                    SignalRecord::parse(text).and_then(|r| r.to_signal(&mut *index, number));
                match signal {
                    Ok(mut s) => {
                        derive(&mut s, e212);
                        stats.signals += 1;
                        out.push(s);
                    }
                    Err(e) => bad(stats, &self.file, number, &e),
                }
            }
            Form::Jsonl(m) => {
                let own = index(None);
                let row = m.jsonl_row(text, own, number, e212);
                count(row, &self.file, number, out, stats);
            }
            Form::Csv(_) => unreachable!("handled above"),
        }
        Ok(())
    }

    /// The input ended: a CSV row still open (a quote never closed) is counted bad.
    pub fn finish(&mut self, stats: &mut RecordStats) {
        if let Form::Csv(csv) = &mut self.form {
            if csv.row_line > 0 {
                let line = csv.row_line;
                csv.reset();
                bad_line(
                    stats,
                    &self.file,
                    line,
                    "not a CSV row",
                    "a quoted field is not closed before the end of the input",
                );
            }
        }
    }
}

impl Csv {
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        line: &[u8],
        number: u64,
        file: &str,
        index: &mut FileIndex<'_>,
        e212: &E212,
        out: &mut Vec<Signal>,
        stats: &mut RecordStats,
    ) -> Result<(), HeaderError> {
        if self.row_line == 0 {
            if line.iter().all(u8::is_ascii_whitespace) {
                stats.blank += 1;
                return Ok(());
            }
            self.row_line = number;
        }
        if !self.feed(line) {
            // A quoted field goes on over the next line.
            return Ok(());
        }
        let row_line = std::mem::replace(&mut self.row_line, 0);
        if std::mem::replace(&mut self.overflow, false) {
            let what =
                format!("the row has more than {MAX_FIELDS} fields or {MAX_ROW_BYTES} bytes");
            self.clear();
            bad_line(stats, file, row_line, "not a CSV row", &what);
            return Ok(());
        }
        let Ok(text) = std::str::from_utf8(&self.fields[..self.outlen]) else {
            self.clear();
            bad_line(stats, file, row_line, "not UTF-8", "the row is not UTF-8");
            return Ok(());
        };
        let mut cells = Vec::with_capacity(self.endlen);
        let mut start = 0;
        for &end in &self.ends[..self.endlen] {
            cells.push(text[start..end].trim());
            start = end;
        }
        let m = self.mapping.clone();
        if m.has_header() && self.columns.is_none() {
            let columns: Vec<String> = cells.iter().map(|c| (*c).to_owned()).collect();
            self.clear();
            for (key, name) in m.named() {
                if !columns.iter().any(|c| c == name) {
                    return Err(HeaderError {
                        file: file.to_owned(),
                        key,
                        column: name.to_owned(),
                    });
                }
            }
            self.columns = Some(columns);
            return Ok(());
        }
        if cells.iter().all(|c| c.is_empty()) {
            self.clear();
            stats.blank += 1;
            return Ok(());
        }
        let columns = self.columns.as_deref();
        let get = |name: &str| -> Option<String> {
            let i = match columns {
                Some(cols) => cols.iter().position(|c| c == name)?,
                None => name.parse::<usize>().ok()?.checked_sub(1)?,
            };
            cells
                .get(i)
                .filter(|v| !v.is_empty())
                .map(|v| (*v).to_owned())
        };
        let own = index(None);
        let row = m.row(&get, own, row_line, e212);
        self.clear();
        count(row, file, row_line, out, stats);
        Ok(())
    }

    /// Feeds one line and its end to the CSV reader: `true` once the row is complete.
    fn feed(&mut self, line: &[u8]) -> bool {
        let mut input = line;
        let mut end_fed = false;
        loop {
            if input.is_empty() {
                if end_fed {
                    return false;
                }
                input = b"\n";
                end_fed = true;
            }
            if self.outlen == self.fields.len() {
                if self.fields.len() >= MAX_ROW_BYTES {
                    // Too long: the rest is read over the same room, and thrown away.
                    self.overflow = true;
                    self.outlen = 0;
                } else {
                    self.fields.resize(self.fields.len() * 2, 0);
                }
            }
            if self.endlen == self.ends.len() {
                if self.ends.len() >= MAX_FIELDS {
                    self.overflow = true;
                    self.endlen = 0;
                } else {
                    self.ends.resize(self.ends.len() * 2, 0);
                }
            }
            let (result, nin, nout, nend) = self.core.read_record(
                input,
                &mut self.fields[self.outlen..],
                &mut self.ends[self.endlen..],
            );
            input = &input[nin..];
            self.outlen += nout;
            self.endlen += nend;
            match result {
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => {
                    return true
                }
                csv_core::ReadRecordResult::InputEmpty
                | csv_core::ReadRecordResult::OutputFull
                | csv_core::ReadRecordResult::OutputEndsFull => {}
            }
        }
    }

    /// Ready for the next row.
    fn clear(&mut self) {
        self.outlen = 0;
        self.endlen = 0;
    }

    /// Ready for the next row, after one left open.
    fn reset(&mut self) {
        self.clear();
        self.row_line = 0;
        self.overflow = false;
        self.core.reset();
    }
}

/// A row's signal appended, or counted bad.
fn count(
    row: Result<Signal, Bad>,
    file: &str,
    line: u64,
    out: &mut Vec<Signal>,
    stats: &mut RecordStats,
) {
    match row {
        Ok(s) => {
            stats.signals += 1;
            out.push(s);
        }
        Err(b) => bad_line(stats, file, line, b.reason, &b.what),
    }
}

/// The line without its end (`\n`, `\r\n`).
fn trim_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_mapping() -> Arc<Mapping> {
        Arc::new(
            Mapping::parse(
                "format = \"csv\"\nproto = \"gtpv2\"\n[fields]\nat = \"t\"\nimsi = \"i\"\nkind = \"k\"\nserving = \"note\"\n[time]\nformat = \"epoch_s\"\n",
            )
            .unwrap(),
        )
    }

    /// Feeds `text` a line at a time, as a stream would.
    fn feed(
        reader: &mut LineReader,
        text: &[u8],
    ) -> (Vec<Signal>, RecordStats, Option<HeaderError>) {
        let (mut out, mut stats) = (Vec::new(), RecordStats::default());
        for line in text.split_inclusive(|&b| b == b'\n') {
            if let Err(e) = reader.line(line, &mut |_| 3, &E212::default(), &mut out, &mut stats) {
                return (out, stats, Some(e));
            }
        }
        reader.finish(&mut stats);
        (out, stats, None)
    }

    #[test]
    fn a_quoted_csv_field_may_span_lines_and_a_row_is_numbered_by_its_first() {
        let text = b"t,i,k,note\r\n1780300800,262011234567890,attach,\"208-01\"\r\n\r\n1780300801,262011234567891,\"attach\",\"20\n8-01\"\n1780300802,bad,attach,208-01\n";
        let (out, stats, err) = feed(&mut LineReader::new("x.csv", Some(csv_mapping())), text);
        assert!(err.is_none());
        assert_eq!((stats.signals, stats.blank), (1, 1), "{stats:?}");
        // The field with a line break in it is no PLMN: the row is read whole, as line 4.
        assert_eq!(stats.bad.get("serving"), Some(&1), "{stats:?}");
        assert!(
            stats.examples[0].starts_with("x.csv:4: serving"),
            "{:?}",
            stats.examples
        );
        assert!(
            stats.examples[1].starts_with("x.csv:6: imsi"),
            "{:?}",
            stats.examples
        );
        assert_eq!(out[0].source.file, 3);
        assert_eq!(out[0].source.frame, 2);
    }

    #[test]
    fn an_unclosed_quote_a_bad_byte_and_a_huge_row_are_counted_not_fatal() {
        let mut text = b"t,i,k,note\n1780300800,262011234567890,attach,\xff\n".to_vec();
        text.extend_from_slice(&vec![b'x'; MAX_ROW_BYTES + 10]);
        text.extend_from_slice(b"\n1780300801,262011234567890,attach,208-01\n1780300802,\"262");
        let (out, stats, err) = feed(&mut LineReader::new("y.csv", Some(csv_mapping())), &text);
        assert!(err.is_none());
        assert_eq!(out.len(), 1);
        assert_eq!(stats.bad.get("not UTF-8"), Some(&1), "{stats:?}");
        assert_eq!(stats.bad.get("not a CSV row"), Some(&2), "{stats:?}");
        assert!(
            stats.examples[2].starts_with("y.csv:5: "),
            "{:?}",
            stats.examples
        );
        let (_, stats, _) = feed(&mut LineReader::new("z.jsonl", None), b"{\"v\":1}\n\xfe\n");
        assert_eq!(stats.bad.get("not UTF-8"), Some(&1), "{stats:?}");
    }

    #[test]
    fn a_header_without_a_named_column_is_an_error() {
        let (_, _, err) = feed(
            &mut LineReader::new("h.csv", Some(csv_mapping())),
            b"\n t , i , kind, note\n1,2,3,4\n",
        );
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("h.csv: fields.kind = \"k\" is not one of its columns")
        );
    }
}
