//! landfall-service: the operator-facing pieces of `landfall serve`.
pub mod config;
pub mod http;
pub mod metrics;
pub mod sink;
#[cfg(test)]
mod testutil;
pub mod view;
