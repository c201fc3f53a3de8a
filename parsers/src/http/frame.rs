//! HTTP/2 frames (RFC 9113 §4, §6): the 9-octet header, a typed view over one frame, and
//! [`FrameRepr`] with symmetric `parse`/`emit` (the encoder builds the tests' streams).

use crate::error::{DecodeError, Layer};
use crate::wire::be32_or_zero as be32;

/// The client connection preface (RFC 9113 §3.4), sent once before any frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of a frame header.
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value: the largest frame a peer may send before the
/// other raised it, and the largest a stream seen from its middle is recognised by.
pub const DEFAULT_MAX_FRAME: u32 = 16_384;
/// The largest frame length HTTP/2 can express (2^24 - 1).
pub const MAX_FRAME: u32 = (1 << 24) - 1;

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Http, reason, offset)
}

/// A frame type (RFC 9113 §6); unknown types are kept and ignored, as the RFC says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameKind(pub u8);

impl FrameKind {
    pub const DATA: FrameKind = FrameKind(0);
    pub const HEADERS: FrameKind = FrameKind(1);
    pub const PRIORITY: FrameKind = FrameKind(2);
    pub const RST_STREAM: FrameKind = FrameKind(3);
    pub const SETTINGS: FrameKind = FrameKind(4);
    pub const PUSH_PROMISE: FrameKind = FrameKind(5);
    pub const PING: FrameKind = FrameKind(6);
    pub const GOAWAY: FrameKind = FrameKind(7);
    pub const WINDOW_UPDATE: FrameKind = FrameKind(8);
    pub const CONTINUATION: FrameKind = FrameKind(9);

    pub fn name(self) -> &'static str {
        const NAMES: [&str; 10] = [
            "DATA",
            "HEADERS",
            "PRIORITY",
            "RST_STREAM",
            "SETTINGS",
            "PUSH_PROMISE",
            "PING",
            "GOAWAY",
            "WINDOW_UPDATE",
            "CONTINUATION",
        ];
        NAMES.get(usize::from(self.0)).copied().unwrap_or("unknown")
    }

    /// The flag bits this type defines (others must be sent as 0).
    fn defined_flags(self) -> u8 {
        match self {
            FrameKind::DATA => flags::END_STREAM | flags::PADDED,
            FrameKind::HEADERS => {
                flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY
            }
            FrameKind::SETTINGS | FrameKind::PING => flags::ACK,
            FrameKind::PUSH_PROMISE => flags::END_HEADERS | flags::PADDED,
            FrameKind::CONTINUATION => flags::END_HEADERS,
            _ => 0,
        }
    }
}

/// Frame flag bits (RFC 9113 §6).
pub mod flags {
    pub const END_STREAM: u8 = 0x01;
    pub const ACK: u8 = 0x01;
    pub const END_HEADERS: u8 = 0x04;
    pub const PADDED: u8 = 0x08;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameter identifiers read by the decoder.
pub mod settings {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
}

/// The 9-octet frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub length: u32,
    pub kind: FrameKind,
    pub flags: u8,
    /// Stream identifier (31 bits; the reserved bit is dropped).
    pub stream: u32,
}

impl FrameHeader {
    /// The header at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<FrameHeader, DecodeError> {
        let h = buf
            .get(..HEADER_LEN)
            .ok_or(err("http2 frame header truncated", buf.len()))?;
        Ok(FrameHeader {
            length: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: FrameKind(h[3]),
            flags: h[4],
            stream: be32(h, 5) & 0x7fff_ffff,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.length.min(MAX_FRAME).to_be_bytes()[1..]);
        out.push(self.kind.0);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream & 0x7fff_ffff).to_be_bytes());
    }

    /// Does `buf` start like a frame a well-behaved peer sends: a known type with only
    /// its defined flags, the reserved bit clear, the stream id and length its type
    /// requires, and no longer than `max_len`? Used to recognise HTTP/2 in a stream met
    /// in its middle and to find the next frame after a gap.
    pub fn plausible(buf: &[u8], max_len: u32) -> bool {
        let Ok(h) = FrameHeader::parse(buf) else {
            return false;
        };
        if h.kind.0 > FrameKind::CONTINUATION.0
            || h.length > max_len
            || buf[5] & 0x80 != 0
            || h.flags & !h.kind.defined_flags() != 0
        {
            return false;
        }
        let connection_level = matches!(
            h.kind,
            FrameKind::SETTINGS | FrameKind::PING | FrameKind::GOAWAY
        );
        if connection_level != (h.stream == 0) && h.kind != FrameKind::WINDOW_UPDATE {
            return false;
        }
        match h.kind {
            FrameKind::SETTINGS if h.flags & flags::ACK != 0 => h.length == 0,
            FrameKind::SETTINGS => h.length % 6 == 0,
            FrameKind::PING => h.length == 8,
            FrameKind::RST_STREAM | FrameKind::WINDOW_UPDATE => h.length == 4,
            FrameKind::PRIORITY => h.length == 5,
            FrameKind::GOAWAY => h.length >= 8,
            _ => true,
        }
    }
}

/// One frame: header and payload, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: FrameHeader,
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The frame at the start of `buf` (which may hold more after it).
    pub fn parse(buf: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let header = FrameHeader::parse(buf)?;
        let end = HEADER_LEN + header.length as usize;
        let payload = buf
            .get(HEADER_LEN..end)
            .ok_or(err("http2 frame truncated", buf.len()))?;
        Ok(Frame { header, payload })
    }

    /// Length on the wire.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn has(&self, flag: u8) -> bool {
        self.header.flags & flag != 0
    }

    /// The payload without its padding (DATA, HEADERS, PUSH_PROMISE with PADDED).
    fn unpadded(&self) -> Result<&'a [u8], DecodeError> {
        if !self.has(flags::PADDED) {
            return Ok(self.payload);
        }
        let (&pad, rest) = self
            .payload
            .split_first()
            .ok_or(err("http2 padded frame without pad length", HEADER_LEN))?;
        rest.len()
            .checked_sub(usize::from(pad))
            .map(|n| &rest[..n])
            .ok_or(err("http2 padding longer than the frame", HEADER_LEN))
    }

    /// The header block fragment of a HEADERS, PUSH_PROMISE or CONTINUATION frame.
    pub fn block_fragment(&self) -> Result<&'a [u8], DecodeError> {
        match self.header.kind {
            FrameKind::CONTINUATION => Ok(self.payload),
            FrameKind::HEADERS => {
                let p = self.unpadded()?;
                let skip = if self.has(flags::PRIORITY) { 5 } else { 0 };
                p.get(skip..)
                    .ok_or(err("http2 HEADERS priority truncated", HEADER_LEN))
            }
            FrameKind::PUSH_PROMISE => self
                .unpadded()?
                .get(4..)
                .ok_or(err("http2 PUSH_PROMISE truncated", HEADER_LEN)),
            _ => Err(err("http2 frame carries no header block", 3)),
        }
    }

    /// The application data of a DATA frame.
    pub fn data(&self) -> Result<&'a [u8], DecodeError> {
        self.unpadded()
    }

    /// The parameters of a SETTINGS frame.
    pub fn settings(&self) -> impl Iterator<Item = (u16, u32)> + 'a {
        self.payload
            .chunks_exact(6)
            .map(|c| (u16::from_be_bytes([c[0], c[1]]), be32(c, 2)))
    }
}

/// An owned frame, for building streams: the frame types the decoder reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameRepr {
    Data {
        stream: u32,
        end_stream: bool,
        data: Vec<u8>,
    },
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        block: Vec<u8>,
    },
    Continuation {
        stream: u32,
        end_headers: bool,
        block: Vec<u8>,
    },
    Settings {
        ack: bool,
        params: Vec<(u16, u32)>,
    },
    RstStream {
        stream: u32,
        code: u32,
    },
    GoAway {
        last_stream: u32,
        code: u32,
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
}

impl FrameRepr {
    /// The owned form of `f`; padding and priority fields are dropped.
    pub fn parse(f: &Frame<'_>) -> Result<FrameRepr, DecodeError> {
        let h = f.header;
        let word = |at: usize| {
            f.payload
                .get(at..at + 4)
                .map(|b| be32(b, 0))
                .ok_or(err("http2 frame payload too short", HEADER_LEN + at))
        };
        Ok(match h.kind {
            FrameKind::DATA => FrameRepr::Data {
                stream: h.stream,
                end_stream: f.has(flags::END_STREAM),
                data: f.data()?.to_vec(),
            },
            FrameKind::HEADERS => FrameRepr::Headers {
                stream: h.stream,
                end_stream: f.has(flags::END_STREAM),
                end_headers: f.has(flags::END_HEADERS),
                block: f.block_fragment()?.to_vec(),
            },
            FrameKind::CONTINUATION => FrameRepr::Continuation {
                stream: h.stream,
                end_headers: f.has(flags::END_HEADERS),
                block: f.payload.to_vec(),
            },
            FrameKind::SETTINGS => FrameRepr::Settings {
                ack: f.has(flags::ACK),
                params: f.settings().collect(),
            },
            FrameKind::RST_STREAM => FrameRepr::RstStream {
                stream: h.stream,
                code: word(0)?,
            },
            FrameKind::GOAWAY => FrameRepr::GoAway {
                last_stream: word(0)? & 0x7fff_ffff,
                code: word(4)?,
            },
            FrameKind::WINDOW_UPDATE => FrameRepr::WindowUpdate {
                stream: h.stream,
                increment: word(0)? & 0x7fff_ffff,
            },
            FrameKind::PING => {
                let data = f
                    .payload
                    .try_into()
                    .map_err(|_| err("http2 PING not 8 octets", HEADER_LEN))?;
                FrameRepr::Ping {
                    ack: f.has(flags::ACK),
                    data,
                }
            }
            _ => return Err(err("http2 frame type not representable", 3)),
        })
    }

    /// Append the frame's wire form to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        let (kind, fl, stream, payload): (FrameKind, u8, u32, Vec<u8>) = match self {
            FrameRepr::Data {
                stream,
                end_stream,
                data,
            } => (
                FrameKind::DATA,
                flag(*end_stream, flags::END_STREAM),
                *stream,
                data.clone(),
            ),
            FrameRepr::Headers {
                stream,
                end_stream,
                end_headers,
                block,
            } => (
                FrameKind::HEADERS,
                flag(*end_stream, flags::END_STREAM) | flag(*end_headers, flags::END_HEADERS),
                *stream,
                block.clone(),
            ),
            FrameRepr::Continuation {
                stream,
                end_headers,
                block,
            } => (
                FrameKind::CONTINUATION,
                flag(*end_headers, flags::END_HEADERS),
                *stream,
                block.clone(),
            ),
            FrameRepr::Settings { ack, params } => (
                FrameKind::SETTINGS,
                flag(*ack, flags::ACK),
                0,
                params
                    .iter()
                    .flat_map(|(id, v)| {
                        let mut b = id.to_be_bytes().to_vec();
                        b.extend_from_slice(&v.to_be_bytes());
                        b
                    })
                    .collect(),
            ),
            FrameRepr::RstStream { stream, code } => (
                FrameKind::RST_STREAM,
                0,
                *stream,
                code.to_be_bytes().to_vec(),
            ),
            FrameRepr::GoAway { last_stream, code } => {
                let mut p = (last_stream & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&code.to_be_bytes());
                (FrameKind::GOAWAY, 0, 0, p)
            }
            FrameRepr::WindowUpdate { stream, increment } => (
                FrameKind::WINDOW_UPDATE,
                0,
                *stream,
                (increment & 0x7fff_ffff).to_be_bytes().to_vec(),
            ),
            FrameRepr::Ping { ack, data } => {
                (FrameKind::PING, flag(*ack, flags::ACK), 0, data.to_vec())
            }
        };
        FrameHeader {
            length: payload.len() as u32,
            kind,
            flags: fl,
            stream,
        }
        .emit(out);
        out.extend_from_slice(&payload);
    }
}
