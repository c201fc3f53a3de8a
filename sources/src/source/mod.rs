//! The sources' reader threads, one module per kind of input. Each is checked when the
//! service starts (a missing file, folder or interface, a bad filter: an error naming it,
//! before anything runs) and then reads on its own thread into a [`FrameSender`], in
//! order, until its input ends or it is told to stop.

pub(crate) mod files;
pub(crate) mod folder;
#[cfg(feature = "live")]
pub(crate) mod live;
pub(crate) mod stream;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use landfall_parsers::capture::{CaptureReader, FrameRef};

use crate::config::{SourceSpec, SourcesConfig};
use crate::error::SourceError;
use crate::file_table::FileTable;
use crate::frames::{Closed, FrameSender};
use crate::stats::SourceStats;

/// What a reader thread shares with the rest of the service.
pub(crate) struct Context {
    pub id: usize,
    pub files: Arc<FileTable>,
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<SourceStats>,
    pub cfg: SourcesConfig,
    /// Added to every frame's timestamp (µs): a probe whose clock is off.
    pub clock_offset_us: i64,
}

/// A source checked and ready to read on its own thread.
pub(crate) enum Reader {
    Files(files::Files),
    Folder(folder::Folder),
    Stream(stream::Stream),
    #[cfg(feature = "live")]
    Live(live::Live),
}

impl Reader {
    /// Check `spec` (open what can be opened now) for source `id`.
    pub fn open(spec: SourceSpec, id: usize, files: &FileTable) -> Result<Reader, SourceError> {
        Ok(match spec {
            SourceSpec::Files(paths) => Reader::Files(files::Files::open(paths, id, files)?),
            SourceSpec::Folder(f) => Reader::Folder(folder::Folder::open(f)?),
            SourceSpec::Stdin => Reader::Stream(stream::Stream::new(
                "-",
                "standard input",
                Box::new(std::io::stdin()),
                id,
                files,
            )),
            SourceSpec::Reader { name, reader } => {
                Reader::Stream(stream::Stream::new(&name, &name, reader, id, files))
            }
            #[cfg(feature = "live")]
            SourceSpec::Interface(i) => Reader::Live(live::Live::open(&i, id, files)?),
            #[cfg(not(feature = "live"))]
            SourceSpec::Interface(i) => return Err(SourceError::LiveDisabled { name: i.name }),
            SourceSpec::Records(_) => unreachable!("record sources are opened by crate::records"),
        })
    }

    /// Does this reader block in a read that a stop cannot interrupt (stdin)? Its thread
    /// is then left to end with the process instead of being joined.
    pub fn unjoinable(&self) -> bool {
        matches!(self, Reader::Stream(_))
    }

    /// Read to the end (or the stop) into `out`.
    pub fn run(self, out: FrameSender, cx: Context) {
        match self {
            Reader::Files(f) => f.run(out, &cx),
            Reader::Folder(f) => f.run(out, &cx),
            Reader::Stream(s) => s.run(out, &cx),
            #[cfg(feature = "live")]
            Reader::Live(l) => l.run(out, &cx),
        }
    }
}

/// The name a capture file is known by in provenance: its file name, as `landfall replay`
/// shows it.
pub(crate) fn display_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Every frame of `reader` into `out`, with the position after each batch; a capture
/// error is sent and ends the file. `Err` when the decoder is gone; stops early (`Ok`)
/// when `stop` says so.
pub(crate) fn pump(
    reader: &mut CaptureReader,
    out: &std::cell::RefCell<FrameSender>,
    stop: &AtomicBool,
    clock_offset_us: i64,
) -> Result<(), Closed> {
    reader.set_clock_offset(clock_offset_us);
    let file = reader.file_index();
    let mut n = 0u32;
    while let Some(item) = reader.next_frame() {
        match item {
            Ok(f) => push(out, &f)?,
            Err(e) => {
                out.borrow_mut().error(e)?;
                break;
            }
        }
        let offset = reader.offset();
        out.borrow_mut().position(file, offset);
        n = n.wrapping_add(1);
        if n.is_multiple_of(64) && stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    Ok(())
}

fn push(out: &std::cell::RefCell<FrameSender>, f: &FrameRef<'_>) -> Result<(), Closed> {
    out.borrow_mut().frame(f)
}
