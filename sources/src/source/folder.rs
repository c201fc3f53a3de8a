//! A folder a probe rotates capture files into, followed.
//!
//! The files present at start and every new one are read one after another in pickup
//! order ([`crate::names`]: natural name order, which is time order for rotated names;
//! then modification time), each to its end, a file still being written followed as it
//! grows ([`crate::follow`]). One decoder reads them all, so a transaction whose answer
//! is in the next file pairs. Each file gets its own file index, in pickup order. A file
//! read to its end is remembered by name and never read again (names of files since
//! removed from the folder are forgotten, so memory follows the folder's content; a
//! probe writing a ring of reused names, `tcpdump -W`, is not supported). A file that
//! appears with a name before one already read is still read, next: its signals are
//! likely late.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use landfall_parsers::capture::{CaptureError, CaptureErrorKind, CaptureReader};

use super::{pump, Context};
use crate::config::{FolderSpec, FollowConfig};
use crate::error::SourceError;
use crate::follow::{self, FollowReader};
use crate::frames::FrameSender;
use crate::names::{pickup_cmp, Pattern};

pub(crate) struct Folder {
    dir: PathBuf,
    pattern: Pattern,
}

/// The folder's files as last listed: what is read, what is waiting.
pub(crate) struct Listing {
    dir: PathBuf,
    pattern: Pattern,
    done: BTreeSet<String>,
    current: Option<String>,
}

impl Listing {
    pub fn new(dir: PathBuf, pattern: Pattern) -> Listing {
        Listing {
            dir,
            pattern,
            done: BTreeSet::new(),
            current: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The next file to read (now being read), if any.
    pub fn take_next(&mut self) -> Option<String> {
        let next = self.waiting().into_iter().next()?;
        self.current = Some(next.clone());
        Some(next)
    }

    /// The current file is read: never read again.
    pub fn done(&mut self) {
        if let Some(name) = self.current.take() {
            self.done.insert(name);
        }
    }

    /// Files matching the pattern not read yet (nor being read), in pickup order. Names of
    /// read files no longer in the folder are forgotten.
    pub fn waiting(&mut self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut present = BTreeSet::new();
        let mut new: Vec<(String, Option<SystemTime>)> = Vec::new();
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !self.pattern.matches(&name) {
                continue;
            }
            if self.done.contains(&name) || self.current.as_ref() == Some(&name) {
                present.insert(name);
                continue;
            }
            // Only names not read yet are looked at (symbolic links followed).
            let Ok(meta) = std::fs::metadata(e.path()) else {
                continue;
            };
            if meta.is_file() {
                new.push((name.clone(), meta.modified().ok()));
                present.insert(name);
            }
        }
        self.done.retain(|n| present.contains(n));
        new.sort_by(|a, b| pickup_cmp((&a.0, a.1), (&b.0, b.1)));
        new.into_iter().map(|(n, _)| n).collect()
    }
}

/// What the follower of the current file asks of the folder.
struct Watch {
    listing: Rc<RefCell<Listing>>,
    out: Rc<RefCell<FrameSender>>,
}

impl follow::Folder for Watch {
    fn waiting(&mut self) {
        let _ = self.out.borrow_mut().flush();
    }

    fn rotated(&mut self) -> bool {
        !self.listing.borrow_mut().waiting().is_empty()
    }
}

impl Folder {
    /// The folder must exist and be a folder.
    pub fn open(spec: FolderSpec) -> Result<Folder, SourceError> {
        let bad = |reason: String| SourceError::Folder {
            path: spec.path.clone(),
            reason,
        };
        let meta = std::fs::metadata(&spec.path).map_err(|e| bad(e.to_string()))?;
        if !meta.is_dir() {
            return Err(bad("not a folder".to_string()));
        }
        std::fs::read_dir(&spec.path).map_err(|e| bad(format!("cannot list: {e}")))?;
        Ok(Folder {
            dir: spec.path.clone(),
            pattern: Pattern::new(&spec.pattern),
        })
    }

    /// The folder's listing, to read it some other way (record files).
    pub fn into_listing(self) -> Listing {
        Listing::new(self.dir, self.pattern)
    }

    pub fn run(self, out: FrameSender, cx: &Context) {
        let out = Rc::new(RefCell::new(out));
        let listing = Rc::new(RefCell::new(Listing::new(self.dir.clone(), self.pattern)));
        while !cx.stop.load(Relaxed) {
            let next = listing.borrow_mut().take_next();
            let Some(name) = next else {
                if out.borrow_mut().flush().is_err() {
                    break;
                }
                std::thread::sleep(cx.cfg.follow.poll);
                continue;
            };
            let watch = Watch {
                listing: listing.clone(),
                out: out.clone(),
            };
            let read = read_file(&self.dir.join(&name), &name, watch, &out, cx, cx.cfg.follow);
            listing.borrow_mut().done();
            if read.is_err() {
                break;
            }
        }
        let _ = out.borrow_mut().flush();
    }
}

/// Follow one file to its end.
fn read_file(
    path: &Path,
    name: &str,
    watch: Watch,
    out: &Rc<RefCell<FrameSender>>,
    cx: &Context,
    follow: FollowConfig,
) -> Result<(), crate::frames::Closed> {
    let index = cx.files.register(name, cx.id);
    cx.stats.add_file();
    let result = match File::open(path) {
        Ok(file) => {
            let input = FollowReader::new(file, follow, cx.stop.clone(), watch);
            match CaptureReader::from_stream(input, &path.display().to_string(), index) {
                Ok(mut r) => pump(&mut r, out, &cx.stop, cx.clock_offset_us),
                Err(e) => out.borrow_mut().error(e),
            }
        }
        // Removed between listing and opening: counted, the next one is read.
        Err(e) => out.borrow_mut().error(CaptureError {
            file: path.display().to_string(),
            file_index: index,
            frame: None,
            offset: 0,
            kind: CaptureErrorKind::Io,
            reason: format!("cannot open: {e}").into(),
        }),
    };
    cx.files.close(index);
    result
}
