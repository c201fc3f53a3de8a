//! Message boundaries of HTTP over a TCP byte stream, for the TCP reassembler: HTTP/2
//! frames (and the client preface), HTTP/1.1 messages.

use super::frame::{FrameHeader, DEFAULT_MAX_FRAME, HEADER_LEN, MAX_FRAME, PREFACE};
use super::h1;
use crate::transport::tcp::{Framer, Framing};

/// The framing of one HTTP connection, chosen by [`super::sniff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFramer {
    /// HTTP/2: the preface, then 9-octet headers with a 24-bit length.
    H2,
    /// HTTP/1.1: head up to the blank line, then Content-Length or chunked body.
    H1,
}

/// Does `buf` start with (a prefix of) the client preface?
fn preface_prefix(buf: &[u8]) -> bool {
    let n = buf.len().min(PREFACE.len());
    buf[..n] == PREFACE[..n]
}

/// Is a run of plausible frames (at most `max` long each) at the start of `buf`, as far
/// as `buf` reaches: the first, and the next if it starts within `buf`?
pub(crate) fn frames_plausible(buf: &[u8], max: u32) -> bool {
    if !FrameHeader::plausible(buf, max) {
        return false;
    }
    let Ok(h) = FrameHeader::parse(buf) else {
        return false;
    };
    let next = HEADER_LEN + h.length as usize;
    match buf.get(next..) {
        Some(rest) if rest.len() >= HEADER_LEN => FrameHeader::plausible(rest, max),
        _ => true,
    }
}

impl Framer for HttpFramer {
    fn frame(&self, buf: &[u8]) -> Framing {
        match self {
            HttpFramer::H2 => {
                if preface_prefix(buf) {
                    return if buf.len() < PREFACE.len() {
                        Framing::Incomplete
                    } else {
                        Framing::Message(PREFACE.len())
                    };
                }
                if buf.len() < HEADER_LEN {
                    return Framing::Incomplete;
                }
                if !FrameHeader::plausible(buf, MAX_FRAME) {
                    return Framing::Invalid;
                }
                match FrameHeader::parse(buf) {
                    Ok(h) => Framing::Message(HEADER_LEN + h.length as usize),
                    Err(_) => Framing::Incomplete,
                }
            }
            HttpFramer::H1 => h1::frame(buf),
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        match self {
            HttpFramer::H2 => (0..buf.len()).find(|&i| {
                let rest = &buf[i..];
                rest.len() < HEADER_LEN
                    || preface_prefix(rest)
                    || frames_plausible(rest, DEFAULT_MAX_FRAME)
            }),
            HttpFramer::H1 => h1::resync(buf),
        }
    }
}
