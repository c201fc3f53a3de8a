//! landfall-service: the operator-facing pieces of `landfall serve` (issue 12), apart
//! from the streaming runner and the capture sources it is wired to:
//!
//! - [`config`]: the one TOML file (`docs/landfall.toml` documents every key), loaded
//!   and checked into a [`Config`], or one readable [`ConfigError`];
//! - [`sink`]: moments as JSON Lines (replay's format) to standard output or rotating files;
//! - [`metrics`]: the Prometheus metrics;
//! - [`view`]: the live newly-where view the operator endpoints read;
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` and the operator's `/v1/operator/` routes;
//! - [`console`]: the operator console (pages embedded in the binary) and its data endpoints;
//! - [`logging`]: tracing to standard error, and the rule that no IMSI or MSISDN is logged.
//!
//! tokio and axum live in this crate only; the decoders and the dataflow do not depend on it.

pub mod config;
pub mod console;
pub mod http;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod partners;
pub mod restart;
pub mod server;
pub mod sink;
#[cfg(test)]
mod testutil;
pub mod view;

use std::fmt::Write as _;
use std::path::Path;

pub use config::{Config, ConfigError};

/// `landfall check-config FILE`: load and check the configuration, read the zones and the
/// cell catalog it names, and say what would run (or the one error).
pub fn check_config(path: &Path) -> Result<String, ConfigError> {
    let cfg = Config::load(path)?;
    cfg.decoder_config()?;
    let mut text = cfg.describe();
    if let Some((zones, catalog)) = cfg.load_zones()? {
        let geometric = zones
            .iter()
            .filter(|z| !matches!(z.shape, landfall_dataflows::zones::Shape::Keys(_)))
            .count();
        let _ = write!(
            text,
            "zones read: {} zones ({geometric} circles/polygons), catalog cells {}",
            zones.len(),
            catalog.cells.len()
        );
        if catalog.other_radio > 0 {
            let _ = write!(text, ", {} CDMA rows ignored", catalog.other_radio);
        }
        if catalog.bad > 0 {
            let _ = write!(
                text,
                ", {} bad rows skipped (first: {})",
                catalog.bad,
                catalog.bad_examples.join("; ")
            );
        }
        text.push('\n');
    }
    Ok(text)
}
