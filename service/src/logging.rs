//! Logs through `tracing`, to standard error (standard output may carry moments).
//!
//! The filter is `log.filter` from the configuration, overridden by the `LANDFALL_LOG`
//! environment variable (the `EnvFilter` syntax: `info`, `landfall_service=debug,info`).
//!
//! **Rule: never log an IMSI or an MSISDN**, at any level: logs leave the operator's
//! control (journald, shipping, tickets). Name a subscriber only through [`Redacted`],
//! which keeps the home network (the first five digits of an IMSI: MCC and a two-digit
//! MNC; the first two of an MSISDN) and masks the rest. Counts, areas, files and frames
//! are fine.

use std::fmt;

use landfall_model::{Imsi, Msisdn};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The environment variable that overrides `log.filter`.
pub const ENV: &str = "LANDFALL_LOG";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{source_name} {text:?} is not a log filter such as \"info\" or \"landfall_service=debug,info\": {why}")]
    Filter {
        source_name: &'static str,
        text: String,
        why: String,
    },
    #[error("a logger is already installed in this process")]
    AlreadySet,
}

/// The filter: `env` (the value of `LANDFALL_LOG`, when set and not empty) else `config`.
pub fn filter(env: Option<&str>, config: &str) -> Result<EnvFilter, LogError> {
    let (source_name, text) = match env.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => (ENV, e),
        None => ("log.filter", config),
    };
    EnvFilter::builder()
        .parse(text)
        .map_err(|e| LogError::Filter {
            source_name,
            text: text.to_owned(),
            why: e.to_string(),
        })
}

/// A subscriber writing human-readable lines to `writer` (no colours unless a terminal).
pub fn subscriber<W>(filter: EnvFilter, writer: W, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(true)
        .finish()
}

/// Install the process-wide logger: standard error, `log.filter` (`config`) unless
/// `LANDFALL_LOG` says otherwise.
pub fn init(config: &str) -> Result<(), LogError> {
    let env = std::env::var(ENV).ok();
    let f = filter(env.as_deref(), config)?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing::subscriber::set_global_default(subscriber(f, std::io::stderr, ansi))
        .map_err(|_| LogError::AlreadySet)
}

/// A subscriber identity for logs: the home-network digits kept, the rest masked
/// (`26201**********`).
pub struct Redacted<'a>(&'a str, usize);

impl<'a> Redacted<'a> {
    pub fn imsi(imsi: &'a Imsi) -> Redacted<'a> {
        Redacted(imsi.as_str(), 5)
    }

    pub fn msisdn(msisdn: &'a Msisdn) -> Redacted<'a> {
        Redacted(msisdn.as_str(), 2)
    }
}

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keep = self.1.min(self.0.len().saturating_sub(4));
        f.write_str(&self.0[..keep])?;
        for _ in keep..self.0.len() {
            f.write_str("*")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn identities_are_masked_but_their_network_kept() {
        let imsi = Imsi::parse("262011234567890").unwrap();
        assert_eq!(Redacted::imsi(&imsi).to_string(), "26201**********");
        let msisdn = Msisdn::parse("4915112345678").unwrap();
        assert_eq!(Redacted::msisdn(&msisdn).to_string(), "49***********");
        // Too short to keep anything meaningful: all masked but the first digit.
        let short = Imsi::parse("00101").unwrap();
        assert_eq!(Redacted::imsi(&short).to_string(), "0****");
    }

    #[test]
    fn log_lines_carry_the_redacted_form_only() {
        let buf = Buffer::default();
        let sub = subscriber(filter(None, "info").unwrap(), buf.clone(), false);
        let imsi = Imsi::parse("262011234567890").unwrap();
        tracing::subscriber::with_default(sub, || {
            tracing::info!(imsi = %Redacted::imsi(&imsi), area = "FR", "arrival");
            tracing::debug!("filtered out at info");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(
            out.contains("arrival") && out.contains("imsi=26201**********"),
            "{out}"
        );
        assert!(!out.contains("262011234567890"), "{out}");
        assert!(!out.contains("filtered out"), "{out}");
    }

    #[test]
    fn the_environment_overrides_the_configuration() {
        let buf = Buffer::default();
        let sub = subscriber(filter(Some("debug"), "warn").unwrap(), buf.clone(), false);
        tracing::subscriber::with_default(sub, || tracing::debug!("shown"));
        assert!(String::from_utf8(buf.0.lock().unwrap().clone())
            .unwrap()
            .contains("shown"));
        let e = filter(Some("[[["), "info").unwrap_err().to_string();
        assert!(e.starts_with("LANDFALL_LOG \"[[[\""), "{e}");
        let e = filter(Some(" "), "[[[").unwrap_err().to_string();
        assert!(e.starts_with("log.filter"), "{e}");
    }
}
