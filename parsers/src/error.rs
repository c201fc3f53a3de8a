//! Decode errors: what went wrong, at which layer and byte offset. Reasons are static
//! strings so that a run can count millions of them by reason without allocating.

use serde::Serialize;
use std::fmt;

/// The layer a decode error was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Capture,
    Link,
    Ip,
    Udp,
    Tcp,
    Sctp,
    Diameter,
    Gtpv2,
    Gtpv1,
    M3ua,
    M2pa,
    Mtp3,
    Sccp,
    Tcap,
    Map,
    Http,
    Sbi,
    Ngap,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Capture => "capture",
            Layer::Link => "link",
            Layer::Ip => "ip",
            Layer::Udp => "udp",
            Layer::Tcp => "tcp",
            Layer::Sctp => "sctp",
            Layer::Diameter => "diameter",
            Layer::Gtpv2 => "gtpv2",
            Layer::Gtpv1 => "gtpv1",
            Layer::M3ua => "m3ua",
            Layer::M2pa => "m2pa",
            Layer::Mtp3 => "mtp3",
            Layer::Sccp => "sccp",
            Layer::Tcap => "tcap",
            Layer::Map => "map",
            Layer::Http => "http",
            Layer::Sbi => "sbi",
            Layer::Ngap => "ngap",
        }
    }
}

/// A malformed or truncated unit of input. `offset` is relative to the start of the
/// unit the decoder was given (frame, datagram, segment payload, message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeError {
    pub layer: Layer,
    pub reason: &'static str,
    pub offset: usize,
}

impl DecodeError {
    pub const fn new(layer: Layer, reason: &'static str, offset: usize) -> Self {
        DecodeError {
            layer,
            reason,
            offset,
        }
    }

    /// The same error seen from an enclosing unit that starts `base` bytes earlier.
    pub fn shifted(mut self, base: usize) -> Self {
        self.offset += base;
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at offset {}",
            self.layer.as_str(),
            self.reason,
            self.offset
        )
    }
}

impl std::error::Error for DecodeError {}

pub type DecodeResult<T> = Result<T, DecodeError>;
