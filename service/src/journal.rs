//! The journal: the signals of inputs that cannot be read again (standard input, live
//! interfaces), written before they enter the dataflow, so that a restart loses none of
//! what they gave since the last snapshot (docs/operations.md).
//!
//! Segments `journal-p{process}-{n}` in the data directory, each a run of records
//! ([`encode_signals`]: framed, checksummed). A snapshot starts a new segment first
//! ([`Journal::rotate`]) and records its number as its `log_position`: it covers every
//! earlier segment, which are deleted once it is written ([`Journal::covered`]). A
//! restart sends again the signals of the segments from the snapshot's position on
//! ([`Journal::open`]), and keeps those segments until the next snapshot covers them.
//!
//! Records are written (`write(2)`) before their signals are sent, so a kill loses
//! nothing; they are fsync'd every [`Journal::SYNC_EVERY`] and at each rotation, so a
//! power loss loses at most that much. A record cut short by a kill ends its segment's
//! reading (counted in [`Recovered::torn_bytes`]). Bounded: the segments since the last
//! snapshot, i.e. `runtime.snapshot_interval` of those inputs' signals.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use landfall_dataflows::snapshot::{decode_signals, encode_signals};
use landfall_model::Signal;
use tracing::warn;

/// The signals a restart found in the journal.
#[derive(Debug, Default)]
pub struct Recovered {
    /// In the order they were sent.
    pub signals: Vec<Signal>,
    /// Segments read.
    pub segments: usize,
    /// Bytes at the end of segments that were not a whole record (a write cut by a kill).
    pub torn_bytes: u64,
}

/// The open journal of one process.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    process: u32,
    segment: u64,
    file: File,
    last_sync: Instant,
    unsynced: bool,
}

impl Journal {
    /// How often written records are made durable.
    pub const SYNC_EVERY: Duration = Duration::from_secs(1);

    /// Open the journal of `process` in `dir`: the signals of the segments from `from` on
    /// (a snapshot's `log_position`; `0`: every segment), older segments deleted, and a
    /// new segment started for this run.
    pub fn open(dir: &Path, process: u32, from: u64) -> io::Result<(Journal, Recovered)> {
        let mut recovered = Recovered::default();
        let mut last = 0;
        for (n, path) in segments(dir, process)? {
            last = last.max(n);
            if n < from {
                fs::remove_file(&path)?;
                continue;
            }
            let bytes = fs::read(&path)?;
            let mut at = 0;
            while at < bytes.len() {
                match decode_signals(&bytes[at..]) {
                    Ok((signals, len)) => {
                        recovered.signals.extend(signals);
                        at += len;
                    }
                    Err(e) => {
                        warn!(
                            "journal {}: {e} at byte {at}; the {} bytes after it are skipped",
                            path.display(),
                            bytes.len() - at
                        );
                        recovered.torn_bytes += (bytes.len() - at) as u64;
                        break;
                    }
                }
            }
            recovered.segments += 1;
        }
        let segment = last.max(from) + 1;
        let file = create(dir, process, segment)?;
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                process,
                segment,
                file,
                last_sync: Instant::now(),
                unsynced: false,
            },
            recovered,
        ))
    }

    /// Write `signals` as one record (before they are sent to the dataflow).
    pub fn append(&mut self, signals: &[Signal]) -> io::Result<()> {
        if signals.is_empty() {
            return Ok(());
        }
        self.file.write_all(&encode_signals(signals))?;
        self.unsynced = true;
        if self.last_sync.elapsed() >= Self::SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Make what was written durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Start a new segment (before a snapshot is taken); returns its number, the
    /// snapshot's `log_position`.
    pub fn rotate(&mut self) -> io::Result<u64> {
        self.sync()?;
        self.file = create(&self.dir, self.process, self.segment + 1)?;
        self.segment += 1;
        Ok(self.segment)
    }

    /// A snapshot at `position` is written: the segments before it are deleted.
    pub fn covered(&mut self, position: u64) -> io::Result<()> {
        for (n, path) in segments(&self.dir, self.process)? {
            if n < position {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// The segment being written.
    pub fn segment(&self) -> u64 {
        self.segment
    }
}

fn name(process: u32, segment: u64) -> String {
    format!("journal-p{process}-{segment:020}")
}

fn create(dir: &Path, process: u32, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name(process, segment)))?;
    // The new name made durable, so a snapshot naming it never outlives it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(file)
}

/// The segments of `process` in `dir`, by number.
fn segments(dir: &Path, process: u32) -> io::Result<Vec<(u64, PathBuf)>> {
    let prefix = format!("journal-p{process}-");
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(n) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((n, entry.path()));
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(at: i64, frame: u64) -> Signal {
        landfall_testkit::signal::bare_attach(at, "208011234567890", frame)
    }

    #[test]
    fn a_restart_gets_back_what_no_snapshot_covers() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, r) = Journal::open(dir.path(), 0, 0).unwrap();
        assert!(r.signals.is_empty());
        j.append(&[signal(1, 1), signal(2, 2)]).unwrap();
        // A snapshot: new segment, the earlier covered.
        let position = j.rotate().unwrap();
        j.append(&[signal(3, 3)]).unwrap();
        j.covered(position).unwrap();
        j.append(&[signal(4, 4)]).unwrap();
        drop(j); // a kill: nothing synced explicitly
        let (mut j, r) = Journal::open(dir.path(), 0, position).unwrap();
        assert_eq!(r.signals, vec![signal(3, 3), signal(4, 4)]);
        assert_eq!((r.segments, r.torn_bytes), (1, 0));
        // Kept until a snapshot covers them, then gone.
        j.append(&[signal(5, 5)]).unwrap();
        let (_, again) = Journal::open(dir.path(), 0, position).unwrap();
        assert_eq!(again.signals.len(), 3);
        let (mut j, _) = Journal::open(dir.path(), 0, position).unwrap();
        let p = j.rotate().unwrap();
        j.covered(p).unwrap();
        assert_eq!(segments(dir.path(), 0).unwrap().len(), 1);
        // Another process's journal is its own.
        let (_, other) = Journal::open(dir.path(), 1, 0).unwrap();
        assert!(other.signals.is_empty());
    }

    #[test]
    fn a_record_cut_by_a_kill_ends_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), 0, 0).unwrap();
        j.append(&[signal(1, 1)]).unwrap();
        j.append(&[signal(2, 2)]).unwrap();
        let path = dir.path().join(name(0, j.segment()));
        drop(j);
        let len = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let (_, r) = Journal::open(dir.path(), 0, 0).unwrap();
        assert_eq!(r.signals, vec![signal(1, 1)]);
        assert!(r.torn_bytes > 0);
    }
}
