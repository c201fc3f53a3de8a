//! Moment sinks: where `serve` writes the moments it computes, as JSON Lines in exactly
//! `replay`'s format (one [`MomentRecord`] per line, `landfall_model::json`), so moments
//! can be piped onward with no partner set up.
//!
//! [`JsonLinesSink`] writes to any writer (standard output: [`StdoutSink`]);
//! [`RotatingFileSink`] writes a file that is rotated by size and/or age, the rotated files
//! named after it with the time the file was started and the `keep` newest kept. Every
//! sink flushes at the end of each batch (and the file sink can `fsync` it), so a batch
//! handed to [`MomentSink::write_batch`] has reached the OS (or the disk) when it returns.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use landfall_model::json::MomentRecord;
use landfall_model::Moment;

use crate::config::{FileSinkSettings, SinkSettings};

/// Receives the moments of each completed batch.
pub trait MomentSink: Send {
    /// Write `moments` (one JSON line each) and flush. `files` names the run's capture
    /// files by `Provenance::file` index (the `source.file` field).
    fn write_batch(&mut self, moments: &[Moment], files: &[String]) -> io::Result<()>;
}

/// One moment's JSON line, with its newline: the replay format.
pub fn moment_line(m: &Moment, files: &[String]) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&MomentRecord::of(m, files)).expect("a moment record always serializes");
    line.push(b'\n');
    line
}

/// JSON Lines to a writer, flushed per batch.
pub struct JsonLinesSink<W: Write + Send> {
    out: W,
}

/// Moments on standard output.
pub type StdoutSink = JsonLinesSink<io::Stdout>;

impl StdoutSink {
    pub fn stdout() -> StdoutSink {
        JsonLinesSink { out: io::stdout() }
    }
}

impl<W: Write + Send> JsonLinesSink<W> {
    pub fn new(out: W) -> JsonLinesSink<W> {
        JsonLinesSink { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> MomentSink for JsonLinesSink<W> {
    fn write_batch(&mut self, moments: &[Moment], files: &[String]) -> io::Result<()> {
        if moments.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(moments.len() * 400);
        for m in moments {
            buf.extend_from_slice(&moment_line(m, files));
        }
        self.out.write_all(&buf)?;
        self.out.flush()
    }
}

/// The wall clock, replaceable in tests.
pub type Clock = Box<dyn Fn() -> SystemTime + Send>;

/// JSON Lines to a file rotated by size and/or age.
///
/// The file at `path` (e.g. `moments.jsonl`) is the one being written, so `tail -F` follows
/// it. When it would grow past `rotate_bytes`, or was started `rotate_interval` ago, it is
/// renamed `moments-20260601T080003.000000Z.jsonl` (the UTC time it was started; names
/// sort by time) and a new one started; only the `keep` newest rotated files are kept. A
/// batch may span two files; a line never does. An existing file is appended to.
pub struct RotatingFileSink {
    cfg: FileSinkSettings,
    out: BufWriter<File>,
    /// Bytes in the current file.
    written: u64,
    started: SystemTime,
    clock: Clock,
}

impl RotatingFileSink {
    /// Open (or create, with its folder) the file of `cfg`.
    pub fn open(cfg: FileSinkSettings) -> io::Result<RotatingFileSink> {
        RotatingFileSink::with_clock(cfg, Box::new(SystemTime::now))
    }

    /// [`RotatingFileSink::open`] with a clock of the caller's.
    pub fn with_clock(cfg: FileSinkSettings, clock: Clock) -> io::Result<RotatingFileSink> {
        if let Some(dir) = cfg.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (out, written) = open_append(&cfg.path)?;
        let started = if written > 0 {
            out.get_ref()
                .metadata()
                .and_then(|m| m.created().or_else(|_| m.modified()))
                .unwrap_or_else(|_| clock())
        } else {
            clock()
        };
        Ok(RotatingFileSink {
            cfg,
            out,
            written,
            started,
            clock,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.cfg.path
    }

    /// Rename the current file after its start time and start a new one.
    fn rotate(&mut self) -> io::Result<()> {
        self.finish_batch()?;
        let rotated = rotated_name(&self.cfg.path, self.started);
        std::fs::rename(&self.cfg.path, rotated)?;
        let (out, written) = open_append(&self.cfg.path)?;
        self.out = out;
        self.written = written;
        self.started = (self.clock)();
        self.prune()
    }

    /// Remove rotated files beyond the `keep` newest.
    fn prune(&self) -> io::Result<()> {
        let mut old = rotated_files(&self.cfg.path)?;
        old.sort();
        let excess = old.len().saturating_sub(self.cfg.keep as usize);
        for p in &old[..excess] {
            std::fs::remove_file(p)?;
        }
        Ok(())
    }

    fn finish_batch(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if self.cfg.fsync {
            self.out.get_ref().sync_data()?;
        }
        Ok(())
    }

    fn too_old(&self) -> bool {
        self.cfg.rotate_interval.is_some_and(|i| {
            (self.clock)()
                .duration_since(self.started)
                .unwrap_or(Duration::ZERO)
                >= i
        })
    }
}

impl MomentSink for RotatingFileSink {
    fn write_batch(&mut self, moments: &[Moment], files: &[String]) -> io::Result<()> {
        if moments.is_empty() {
            return Ok(());
        }
        if self.written > 0 && self.too_old() {
            self.rotate()?;
        }
        for m in moments {
            let line = moment_line(m, files);
            let len = line.len() as u64;
            if self.written > 0
                && self
                    .cfg
                    .rotate_bytes
                    .is_some_and(|max| self.written + len > max)
            {
                self.rotate()?;
            }
            self.out.write_all(&line)?;
            self.written += len;
        }
        self.finish_batch()
    }
}

fn open_append(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    drop_torn_line(path)?;
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let len = f.metadata()?.len();
    Ok((BufWriter::with_capacity(1 << 16, f), len))
}

/// A line cut short by a kill mid-write (the file does not end with a newline) is cut
/// off, so that the next line written is not glued to it. Its moment belongs to a batch
/// after the last snapshot, which the restarted run derives and writes again
/// (docs/operations.md).
fn drop_torn_line(path: &Path) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 1 << 16];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        f.set_len(end)?;
        f.sync_all()?;
    }
    Ok(())
}

/// `moments.jsonl` → (`moments`, `.jsonl`).
fn stem_and_ext(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (stem, ext)
}

/// `20260601T080003.000000Z`: UTC, µs, sortable, no colons.
pub fn file_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t)
        .to_string()
        .replace(['-', ':'], "")
}

/// The name a file started at `started` gets when rotated (made unique if taken).
fn rotated_name(path: &Path, started: SystemTime) -> PathBuf {
    let (stem, ext) = stem_and_ext(path);
    let ts = file_timestamp(started);
    let mut candidate = path.with_file_name(format!("{stem}-{ts}{ext}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{stem}-{ts}-{n}{ext}"));
        n += 1;
    }
    candidate
}

/// The rotated files of `path`: `STEM-YYYYMMDDTHHMMSS.ffffffZ[-N]EXT` beside it.
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (stem, ext) = stem_and_ext(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let prefix = format!("{stem}-");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(middle) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(ext.as_str()))
        else {
            continue;
        };
        let ts = middle.split('-').next().unwrap_or("");
        let shape = ts.len() == 23 && ts.as_bytes()[8] == b'T' && ts.ends_with('Z');
        if shape && ts.bytes().filter(u8::is_ascii_digit).count() == 20 {
            out.push(dir.join(name));
        }
    }
    Ok(out)
}

/// Several sinks as one: each gets every batch, in order; the first error stops the batch.
impl MomentSink for Vec<Box<dyn MomentSink>> {
    fn write_batch(&mut self, moments: &[Moment], files: &[String]) -> io::Result<()> {
        for sink in self.iter_mut() {
            sink.write_batch(moments, files)?;
        }
        Ok(())
    }
}

/// The sinks `settings` describe, opened (a file sink's folder is created).
pub fn open_sinks(settings: &[SinkSettings]) -> io::Result<Vec<Box<dyn MomentSink>>> {
    settings
        .iter()
        .map(|s| -> io::Result<Box<dyn MomentSink>> {
            Ok(match s {
                SinkSettings::Stdout => Box::new(StdoutSink::stdout()),
                SinkSettings::File(f) => Box::new(RotatingFileSink::open(f.clone())?),
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
