//! The IE walk both GTP versions share: a bounded, never-panicking cursor over the IEs of
//! a message. Each version supplies how its IE header reads (GTPv1: TV by type or TLV;
//! GTPv2: type-length-instance) and the IE it makes ([`GtpWire`]); the cursor handles the
//! rest: a message length beyond the datagram reported once, then stop; stop after the
//! first malformed IE.

use std::marker::PhantomData;

use super::GtpWire;
use crate::error::DecodeError;

/// A message's IE area: what follows the headers within the message length, where it
/// starts in the message, and whether the length went beyond the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IeArea<'a> {
    bytes: &'a [u8],
    offset: usize,
    truncated: bool,
}

impl<'a> IeArea<'a> {
    /// The IEs of `buf[at..total]` (`total`: the message length by its header). When that
    /// goes beyond the datagram, the header is good but no IE is decoded (as tshark does):
    /// the walk reports the length as its one error.
    pub fn new(buf: &'a [u8], at: usize, total: usize) -> IeArea<'a> {
        let truncated = total > buf.len();
        IeArea {
            bytes: if truncated { &[] } else { &buf[at..total] },
            offset: at,
            truncated,
        }
    }

    /// The walk over the area's IEs.
    pub fn ies<W: GtpWire>(self) -> Ies<'a, W> {
        Ies {
            buf: self.bytes,
            offset: self.offset,
            failed: false,
            truncated: self.truncated,
            wire: PhantomData,
        }
    }
}

/// The IEs of a message, in order; a malformed IE (or, in GTPv1, an unknown TV type)
/// yields one error and ends the iteration.
#[derive(Clone, Debug)]
pub struct Ies<'a, W> {
    /// What is left of the IE area, and its offset in the message.
    buf: &'a [u8],
    offset: usize,
    failed: bool,
    truncated: bool,
    wire: PhantomData<W>,
}

impl<'a, W: GtpWire> Ies<'a, W> {
    fn fail(&mut self, reason: &'static str, offset: usize) -> Option<<Self as Iterator>::Item> {
        self.failed = true;
        Some(Err(DecodeError::new(W::VERSION.layer(), reason, offset)))
    }
}

impl<'a, W: GtpWire> Iterator for Ies<'a, W> {
    type Item = Result<W::Ie<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.truncated {
            self.truncated = false;
            return self.fail("message length beyond datagram", 2);
        }
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let (hlen, len) = match W::ie_header(self.buf) {
            Ok(h) => h,
            Err(reason) => return self.fail(reason, self.offset),
        };
        let Some(value) = self.buf.get(hlen..hlen + len) else {
            return self.fail("IE length beyond message", self.offset);
        };
        let header = &self.buf[..hlen];
        self.buf = &self.buf[hlen + len..];
        self.offset += hlen + len;
        Some(Ok(W::ie(header, value)))
    }
}

impl<'a, W: GtpWire> Ies<'a, W> {
    /// The IEs owned, or the error of the first malformed one (the `Repr`s' `parse`).
    pub(crate) fn owned<R: From<W::Ie<'a>>>(self) -> Result<Vec<R>, DecodeError> {
        self.map(|ie| ie.map(R::from)).collect()
    }
}

/// Visit each IE of `ies` up to the first malformed one, which is returned: the fields a
/// visitor took from the IEs before it stay (both versions' `extract`).
pub(crate) fn visit<T>(
    ies: impl Iterator<Item = Result<T, DecodeError>>,
    mut visit: impl FnMut(T),
) -> Option<DecodeError> {
    for ie in ies {
        match ie {
            Ok(ie) => visit(ie),
            Err(e) => return Some(e),
        }
    }
    None
}
