//! Capture files read once, merged by capture time exactly as `landfall replay` merges
//! them ([`MergedCaptures`]: same order, same file indices relative to each other), so a
//! files source gives replay's signals.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use landfall_parsers::capture::{CaptureReader, MergedCaptures};

use super::{display_name, pump, Context};
use crate::error::SourceError;
use crate::file_table::FileTable;
use crate::frames::FrameSender;

pub(crate) struct Files {
    /// Each path with its file index.
    paths: Vec<(PathBuf, u16)>,
}

impl Files {
    /// Every file is opened once now (an unreadable one is an error naming it), then again
    /// by the reader thread (a capture reader stays on the thread that reads it).
    pub fn open(paths: Vec<PathBuf>, id: usize, table: &FileTable) -> Result<Files, SourceError> {
        if paths.is_empty() {
            return Err(SourceError::NoFiles);
        }
        if paths.len() > usize::from(u16::MAX) + 1 {
            return Err(SourceError::TooManyFiles);
        }
        for p in &paths {
            CaptureReader::open(p, 0)?;
        }
        let paths = paths
            .into_iter()
            .map(|p| {
                let i = table.register(&display_name(&p), id);
                (p, i)
            })
            .collect();
        Ok(Files { paths })
    }

    pub fn run(self, out: FrameSender, cx: &Context) {
        let out = RefCell::new(out);
        let mut readers = Vec::new();
        for (p, i) in &self.paths {
            cx.stats.add_file();
            match CaptureReader::open(p, *i) {
                Ok(mut r) => {
                    r.set_clock_offset(cx.clock_offset_us);
                    readers.push(r)
                }
                // Gone since the start: counted, the others are read.
                Err(e) => {
                    if out.borrow_mut().error(e).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = if readers.len() == 1 {
            // One file: its frames lent from its buffer, its position known.
            let mut r = readers.remove(0);
            pump(&mut r, &out, &cx.stop, cx.clock_offset_us)
        } else {
            let mut result = Ok(());
            for item in MergedCaptures::new(readers) {
                result = match item {
                    Ok(f) => out.borrow_mut().frame(&f.as_frame_ref()),
                    Err(e) => out.borrow_mut().error(e),
                };
                if result.is_err() || cx.stop.load(Relaxed) {
                    break;
                }
            }
            result
        };
        let _ = out.borrow_mut().flush();
        for (_, i) in &self.paths {
            cx.files.close(*i);
        }
    }
}
