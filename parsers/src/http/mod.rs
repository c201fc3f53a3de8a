//! HTTP as the 5G service-based interface carries it: cleartext HTTP/2 (h2c, RFC 9113)
//! and HTTP/1.1, over the TCP reassembly. One [`HttpMessage`] per request or response,
//! with the [`Exchange`] that pairs them (the HTTP/2 stream, or the order of HTTP/1.1
//! requests on their connection).
//!
//! - [`frame`]: HTTP/2 frames (view + `FrameRepr`), the connection preface.
//! - [`hpack`]: the header decoding state of one direction (the `loona-hpack` crate),
//!   exact for connections met in their middle or it refuses.
//! - [`h2`]: HTTP/2 connections: frames → header blocks and bodies per stream, bounded.
//! - [`h1`]: HTTP/1.1 messages: head parsed with `httparse`, bodies by Content-Length or
//!   chunked, `H1Repr` encoder.
//! - [`sniff`]: is a TCP connection HTTP/2, HTTP/1.1 or neither, by its first bytes (the
//!   SBI runs on any port), and the [`framing::HttpFramer`] of each.

pub mod frame;
pub mod framing;
pub mod h1;
pub mod h2;
pub mod hpack;
pub mod sniff;

#[cfg(test)]
mod tests;

use crate::flow::{FlowKey, PacketMeta};

/// The largest request target, content type or header value kept (longer ones are cut
/// and the message counted as malformed).
pub const MAX_FIELD: usize = 8_192;
/// The largest body kept for a message; a longer one is not decoded.
pub const MAX_BODY: usize = 1 << 20;

/// HTTP version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    H1,
    H2,
}

/// The request methods SBI uses; others are kept as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
    Patch,
    Delete,
    Other,
}

impl Method {
    pub fn parse(s: &[u8]) -> Method {
        match s {
            b"GET" => Method::Get,
            b"PUT" => Method::Put,
            b"POST" => Method::Post,
            b"PATCH" => Method::Patch,
            b"DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }

    /// A small number for counting messages by type (0 for other methods).
    pub fn code(self) -> u32 {
        match self {
            Method::Get => 1,
            Method::Put => 2,
            Method::Post => 3,
            Method::Patch => 4,
            Method::Delete => 5,
            Method::Other => 0,
        }
    }
}

/// What the decoders read of a message's head: request line or status, content type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub method: Option<Method>,
    /// The request target (`:path`, or the HTTP/1.1 request target in origin form).
    pub path: Option<String>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// A field was longer than [`MAX_FIELD`] or not UTF-8.
    pub malformed: bool,
}

impl Head {
    /// Take one header field (HTTP/2 pseudo-headers included) into the head.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        let text = || match std::str::from_utf8(value) {
            Ok(s) if s.len() <= MAX_FIELD => Some(s.to_owned()),
            _ => None,
        };
        let slot = match name {
            b":method" => {
                self.method = Some(Method::parse(value));
                return;
            }
            b":status" => {
                self.status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                self.malformed |= self.status.is_none();
                return;
            }
            b":path" => &mut self.path,
            n if n.eq_ignore_ascii_case(b"content-type") => &mut self.content_type,
            _ => return,
        };
        *slot = text();
        self.malformed |= slot.is_none();
    }

    pub fn is_request(&self) -> bool {
        self.method.is_some()
    }

    /// An interim (1xx) response: not the answer.
    pub fn is_interim(&self) -> bool {
        self.status.is_some_and(|s| (100..200).contains(&s))
    }
}

/// What pairs a response with its request: the connection and the HTTP/2 stream id, or
/// the rank of the request among those of its HTTP/1.1 connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Exchange {
    /// The connection (both directions: [`FlowKey::connection`]).
    pub conn: FlowKey,
    pub version: Version,
    pub id: u64,
}

/// One complete HTTP request or response.
#[derive(Clone, Copy, Debug)]
pub struct HttpMessage<'a> {
    /// The frame that carried the start of the head (a request's time).
    pub start: PacketMeta,
    /// The frame that completed the message.
    pub meta: PacketMeta,
    pub flow: FlowKey,
    /// `None` for a response whose request was not seen (HTTP/1.1).
    pub exchange: Option<Exchange>,
    pub head: &'a Head,
    pub body: &'a [u8],
}

/// What an HTTP layer reports besides messages: things that are not errors but explain
/// why traffic gave no message, for the stats ("not decoded").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// A direction met in its middle: its header table is unknown.
    MidConnection,
    /// A header block referring to table entries from before the capture: not decoded.
    UnknownEntry,
    /// A header block using entries from before the capture after its pseudo-header
    /// fields: read up to there (method, path, status), later fields unknown.
    PartlyKnown,
    /// A request whose END_STREAM was not seen, completed by its response.
    EndedByResponse,
    /// DATA or CONTINUATION of a stream whose head was before the capture (or lost).
    HeadNotSeen,
    /// A stream reset (RST_STREAM) before it completed.
    Reset,
    /// A GOAWAY.
    GoAway,
    /// Oldest streams dropped to keep the per-connection bound.
    StreamsEvicted,
    /// Connections dropped to keep the connection bound.
    ConnectionsEvicted,
    /// A response whose request was not seen (HTTP/1.1).
    ResponseWithoutRequest,
}

impl Note {
    pub fn as_str(self) -> &'static str {
        match self {
            Note::MidConnection => "http2 direction met in its middle (header table unknown)",
            Note::UnknownEntry => "http2 header block using entries from before the capture",
            Note::PartlyKnown => {
                "http2 header block partly from before the capture (pseudo-headers read)"
            }
            Note::EndedByResponse => {
                "http2 request completed by its response (END_STREAM not seen)"
            }
            Note::HeadNotSeen => "http2 stream whose headers were not seen",
            Note::Reset => "http2 stream reset",
            Note::GoAway => "http2 GOAWAY",
            Note::StreamsEvicted => "http2 streams evicted (bound)",
            Note::ConnectionsEvicted => "http connections evicted (bound)",
            Note::ResponseWithoutRequest => "http/1.1 response without request",
        }
    }
}

/// Receives what the HTTP layers find.
pub trait HttpSink {
    fn message(&mut self, msg: &HttpMessage<'_>);
    fn error(&mut self, meta: &PacketMeta, e: crate::error::DecodeError);
    fn note(&mut self, note: Note);
}
