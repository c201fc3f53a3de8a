//! The `landfall` binary's library: command-line interface, capture ingest, moment
//! output. Decoders live in `landfall-parsers`, the dataflow in `landfall-dataflows`.

pub mod cli;
pub mod cmd;
pub mod ingest;
pub mod output;
pub mod replicate;
pub mod scenario;
pub mod skew;
pub mod summary;
