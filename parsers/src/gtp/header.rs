//! What the two GTP-C versions' wire formats share: the version number in the first
//! octet's top three bits, the message type and length in the next three (TS 29.060 §6,
//! TS 29.274 §5.1), at least eight header octets, and the length written last by the
//! encoders. Each version reads the rest of its header itself.

use crate::error::{DecodeError, Layer};
use crate::signal::Proto;

/// The two GTP-C versions, and what names each: the number in the first octet, the
/// protocol of its records and signals, the layer of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// The version in the top three bits of the first octet.
    pub fn number(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }

    pub fn proto(self) -> Proto {
        match self {
            Version::V1 => Proto::Gtpv1,
            Version::V2 => Proto::Gtpv2,
        }
    }

    pub fn layer(self) -> Layer {
        match self {
            Version::V1 => Layer::Gtpv1,
            Version::V2 => Layer::Gtpv2,
        }
    }

    /// The parse error of a message of another version.
    fn other(self) -> &'static str {
        match self {
            Version::V1 => "not GTP version 1",
            Version::V2 => "not GTP version 2",
        }
    }
}

/// A GTP version's wire format, where the two share the layout: which version it is, its
/// message view, and how one of its IEs reads (see [`super::ie`]).
pub trait GtpWire {
    const VERSION: Version;
    /// The version's message view.
    type Message<'a>;
    /// One IE as the version's view has it.
    type Ie<'a>;
    /// How one IE header reads: `(header length, value length)`, or why it cannot be read
    /// (`buf` is not empty).
    fn ie_header(buf: &[u8]) -> Result<(usize, usize), &'static str>;
    /// The IE of these header octets and value.
    fn ie<'a>(header: &'a [u8], value: &'a [u8]) -> Self::Ie<'a>;
}

/// The octets every GTP-C header has: both versions' headers are at least this long.
const MIN_HEADER_LEN: usize = 8;

/// The start of a message: flags octet, message type, length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Start {
    pub flags: u8,
    pub msg_type: u8,
    pub length: u16,
}

/// The start of a message of version `W`, at least [`MIN_HEADER_LEN`] octets long.
pub(crate) fn start<W: GtpWire>(buf: &[u8]) -> Result<Start, DecodeError> {
    let err = |reason, offset| DecodeError::new(W::VERSION.layer(), reason, offset);
    let flags = *buf.first().ok_or(err("empty message", 0))?;
    if flags >> 5 != W::VERSION.number() {
        return Err(err(W::VERSION.other(), 0));
    }
    if buf.len() < MIN_HEADER_LEN {
        return Err(err("truncated header", buf.len()));
    }
    Ok(Start {
        flags,
        msg_type: buf[1],
        length: u16::from_be_bytes([buf[2], buf[3]]),
    })
}

/// Is this the start of a message of version `W` (version bits of the first octet)?
pub(crate) fn is_version<W: GtpWire>(buf: &[u8]) -> bool {
    buf.first().is_some_and(|b| b >> 5 == W::VERSION.number())
}

/// An encoder's last step: the length field (octets 3–4) counts what follows the first
/// `uncounted` octets.
pub(crate) fn set_length(out: &mut [u8], uncounted: usize) {
    let len = (out.len() - uncounted) as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
}
