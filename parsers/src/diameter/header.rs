//! The Diameter message header (RFC 6733 §3) and a zero-copy message view.

use super::avp::{Avp, AvpIter};
use crate::error::{DecodeError, Layer};

/// Size of the fixed message header.
pub const HEADER_LEN: usize = 20;

/// Command flags octet (RFC 6733 §3): R, P, E, T and four reserved bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub const REQUEST: u8 = 0x80;
    pub const PROXIABLE: u8 = 0x40;
    pub const ERROR: u8 = 0x20;
    pub const RETRANSMIT: u8 = 0x10;
    pub const RESERVED: u8 = 0x0f;

    pub fn new(request: bool, proxiable: bool, error: bool, retransmit: bool) -> Flags {
        let b = |on: bool, bit: u8| if on { bit } else { 0 };
        Flags(
            b(request, Self::REQUEST)
                | b(proxiable, Self::PROXIABLE)
                | b(error, Self::ERROR)
                | b(retransmit, Self::RETRANSMIT),
        )
    }
    pub fn request(self) -> bool {
        self.0 & Self::REQUEST != 0
    }
    pub fn proxiable(self) -> bool {
        self.0 & Self::PROXIABLE != 0
    }
    pub fn error(self) -> bool {
        self.0 & Self::ERROR != 0
    }
    pub fn retransmit(self) -> bool {
        self.0 & Self::RETRANSMIT != 0
    }
    pub fn reserved(self) -> u8 {
        self.0 & Self::RESERVED
    }
}

/// The 20-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub version: u8,
    /// Message length including the header (24 bits).
    pub length: u32,
    pub flags: Flags,
    /// Command code (24 bits).
    pub code: u32,
    pub app_id: u32,
    /// Hop-by-hop identifier.
    pub hbh: u32,
    /// End-to-end identifier.
    pub e2e: u32,
}

fn be24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Header {
    /// Read the header fields from the first 20 bytes, without any validation.
    pub fn peek(buf: &[u8]) -> Option<Header> {
        let h = buf.get(..HEADER_LEN)?;
        Some(Header {
            version: h[0],
            length: be24(&h[1..4]),
            flags: Flags(h[4]),
            code: be24(&h[5..8]),
            app_id: be32(&h[8..12]),
            hbh: be32(&h[12..16]),
            e2e: be32(&h[16..20]),
        })
    }

    /// Read and validate the header: version 1, 20 <= length <= `buf.len()`.
    pub fn parse(buf: &[u8]) -> Result<Header, DecodeError> {
        let err = |reason, offset| DecodeError::new(Layer::Diameter, reason, offset);
        let h = Header::peek(buf).ok_or(err("truncated header", buf.len()))?;
        if h.version != 1 {
            return Err(err("unsupported version", 0));
        }
        if (h.length as usize) < HEADER_LEN {
            return Err(err("length shorter than header", 1));
        }
        if h.length as usize > buf.len() {
            return Err(err("truncated message", buf.len()));
        }
        Ok(h)
    }

    /// The 20 header bytes (length and code truncated to 24 bits).
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.version;
        out[1..4].copy_from_slice(&self.length.to_be_bytes()[1..]);
        out[4] = self.flags.0;
        out[5..8].copy_from_slice(&self.code.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.app_id.to_be_bytes());
        out[12..16].copy_from_slice(&self.hbh.to_be_bytes());
        out[16..20].copy_from_slice(&self.e2e.to_be_bytes());
        out
    }
}

/// A zero-copy view of one Diameter message. Bytes after `header.length` are not part
/// of it (a stream framer hands over exactly one message, but a datagram may carry more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub header: Header,
    bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Validate the header and borrow the message. AVPs are decoded lazily by
    /// [`Message::avps`]; call [`Message::validate`] to check them all up front.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let header = Header::parse(buf)?;
        Ok(Message {
            header,
            bytes: &buf[..header.length as usize],
        })
    }

    /// Parse and check that every AVP, at every grouped level known to the dictionary,
    /// is well formed.
    pub fn parse_strict(buf: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let m = Message::parse(buf)?;
        m.validate()?;
        Ok(m)
    }

    /// Walk every AVP (recursing into grouped AVPs the dictionary knows) and report the
    /// first malformed one.
    pub fn validate(&self) -> Result<(), DecodeError> {
        fn walk(it: AvpIter<'_>, depth: usize) -> Result<(), DecodeError> {
            for a in it {
                let a = a?;
                if depth < super::avp::MAX_DEPTH && a.is_grouped_in_dictionary() {
                    walk(a.grouped(), depth + 1)?;
                }
            }
            Ok(())
        }
        walk(self.avps(), 0)
    }

    /// The whole message, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn is_request(&self) -> bool {
        self.header.flags.request()
    }

    /// The top-level AVPs. Offsets in items and errors are relative to the message start.
    pub fn avps(&self) -> AvpIter<'a> {
        AvpIter::new(&self.bytes[HEADER_LEN..], HEADER_LEN)
    }

    /// The first top-level AVP with `code` and `vendor` (0 = no vendor id). Stops at the
    /// first malformed AVP.
    pub fn find(&self, code: u32, vendor: u32) -> Option<Avp<'a>> {
        self.avps().find_avp(code, vendor)
    }

    /// The first AVP with `code` and `vendor` anywhere in the message, depth-first
    /// (pre-order, in wire order), descending into grouped AVPs the dictionary knows.
    pub fn find_deep(&self, code: u32, vendor: u32) -> Option<Avp<'a>> {
        self.avps().find_deep(code, vendor)
    }
}
