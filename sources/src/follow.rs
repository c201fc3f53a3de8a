//! A capture file read while a probe writes it: a [`Read`] that, at the end of what is
//! written so far, waits and reads again, until the file is finished.
//!
//! The file is finished when a newer file is waiting in the folder (the probe rotated) and
//! this one has not grown for the grace period, or when it shrank (rewritten: what was
//! read stands), or when the source is told to stop. Until then a read never returns 0,
//! so a record cut at the current end is not an error: the capture reader simply waits
//! for the rest. (A file that ends inside a record once finished is reported truncated,
//! as a file read once would be.)

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::FollowConfig;

/// What the follower asks of its folder.
pub trait Folder {
    /// The reader is about to wait at the end of the file (send on what was read).
    fn waiting(&mut self);
    /// Is a newer file waiting to be read (the writer moved on)?
    fn rotated(&mut self) -> bool;
}

/// Follows one file (see the module doc).
pub struct FollowReader<F: Folder> {
    file: File,
    offset: u64,
    grew: Instant,
    cfg: FollowConfig,
    stop: Arc<AtomicBool>,
    folder: F,
    finished: bool,
}

impl<F: Folder> FollowReader<F> {
    pub fn new(file: File, cfg: FollowConfig, stop: Arc<AtomicBool>, folder: F) -> Self {
        FollowReader {
            file,
            offset: 0,
            grew: Instant::now(),
            cfg,
            stop,
            folder,
            finished: false,
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Is the file finished, being at the end of what is written?
    fn finished(&mut self) -> io::Result<bool> {
        if self.stop.load(Relaxed) {
            return Ok(true);
        }
        let len = self.file.metadata()?.len();
        if len > self.offset {
            return Ok(false);
        }
        if len < self.offset {
            // Truncated under us: what was read stands, the rest is gone.
            return Ok(true);
        }
        Ok(self.grew.elapsed() >= self.cfg.grace && self.folder.rotated())
    }
}

impl<F: Folder> Read for FollowReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.finished {
            return Ok(0);
        }
        let mut told = false;
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.offset += n as u64;
                self.grew = Instant::now();
                return Ok(n);
            }
            if self.finished()? {
                self.finished = true;
                return Ok(0);
            }
            if !told {
                self.folder.waiting();
                told = true;
            }
            std::thread::sleep(self.cfg.poll.min(Duration::from_secs(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Fake {
        rotated: Arc<AtomicBool>,
        waits: usize,
    }

    impl Folder for Fake {
        fn waiting(&mut self) {
            self.waits += 1;
        }
        fn rotated(&mut self) -> bool {
            self.rotated.load(Relaxed)
        }
    }

    #[test]
    fn waits_for_more_until_rotated_and_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pcap");
        let mut w = File::create(&path).unwrap();
        w.write_all(b"abc").unwrap();
        let rotated = Arc::new(AtomicBool::new(false));
        let cfg = FollowConfig {
            poll: Duration::from_millis(5),
            grace: Duration::from_millis(50),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let folder = Fake {
            rotated: rotated.clone(),
            waits: 0,
        };
        let mut r = FollowReader::new(File::open(&path).unwrap(), cfg, stop, folder);
        let writer = {
            let rotated = rotated.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                w.write_all(b"defg").unwrap();
                std::thread::sleep(Duration::from_millis(30));
                rotated.store(true, Relaxed);
            })
        };
        let started = Instant::now();
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        writer.join().unwrap();
        assert_eq!(all, b"abcdefg");
        assert_eq!(r.offset(), 7);
        assert!(r.folder.waits >= 2, "told before each wait");
        // Finished only once rotated and quiet for the grace after the last growth.
        assert!(started.elapsed() >= Duration::from_millis(80));
    }

    #[test]
    fn stop_ends_at_the_current_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pcap");
        std::fs::write(&path, b"xy").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let folder = Fake {
            rotated: Arc::new(AtomicBool::new(false)),
            waits: 0,
        };
        let cfg = FollowConfig {
            poll: Duration::from_millis(5),
            grace: Duration::from_secs(60),
        };
        let mut r = FollowReader::new(File::open(&path).unwrap(), cfg, stop.clone(), folder);
        let s = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            stop.store(true, Relaxed);
        });
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        s.join().unwrap();
        assert_eq!(all, b"xy");
    }
}
