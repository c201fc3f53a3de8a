//! The `landfall` binary's library: command-line interface, capture ingest, moment
//! output. Decoders live in `landfall-parsers`, the dataflow in `landfall-dataflows`, the
//! scenario and the replicator (the `scenario` and `replicate` commands) in
//! `landfall-testkit`.

pub mod cli;
pub mod cmd;
pub mod ingest;
pub mod output;
pub mod skew;
pub mod summary;
