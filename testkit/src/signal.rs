//! Signals for tests of what lies downstream of the decoders.

use landfall_model::{Imsi, Proto, Provenance, Signal, SignalKind};

/// An attach of `imsi` at `at`, seen in Diameter frame `frame`, naming no network, country
/// or cell: a signal that only identifies a subscriber and a time.
pub fn bare_attach(at: i64, imsi: &str, frame: u64) -> Signal {
    Signal {
        at,
        imsi: Imsi::parse(imsi).expect("an IMSI"),
        msisdn: None,
        kind: SignalKind::Attach,
        home: None,
        home_country: None,
        serving: None,
        serving_country: None,
        location: None,
        rat: None,
        source: Provenance {
            file: 0,
            frame,
            proto: Proto::Diameter,
            message: 316,
        },
    }
}
