//! Why a source could not be started: one readable sentence naming the input.

use std::path::PathBuf;

use landfall_parsers::capture::CaptureError;

/// A source that cannot start. Problems once running (a damaged file, an interface
/// gone) are counted in the source's [`SourceStats`](crate::SourceStats) instead.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A capture file that cannot be opened or is not a capture (the message names it).
    #[error("{0}")]
    Capture(#[from] CaptureError),
    #[error("a files source needs at least one capture file")]
    NoFiles,
    #[error("at most 65536 capture files in one run")]
    TooManyFiles,
    #[error("folder {}: {reason}", path.display())]
    Folder { path: PathBuf, reason: String },
    #[error("standard input can be read by one source only")]
    StdinTwice,
    #[error("unknown interface {name:?} (interfaces here: {available})")]
    UnknownInterface { name: String, available: String },
    #[error("interface {name:?}: bad BPF filter {filter:?}: {message}")]
    BadFilter {
        name: String,
        filter: String,
        message: String,
    },
    #[error("interface {name:?}: {message}")]
    Interface { name: String, message: String },
    #[error(
        "interface {name:?}: this landfall was built without live capture (cargo feature `live`)"
    )]
    LiveDisabled { name: String },
    /// A record input that cannot be read or listened on.
    #[error("{what}: {reason}")]
    Records { what: String, reason: String },
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}
