//! The IE walk both GTP versions share: a bounded, never-panicking cursor over the IEs of
//! a message. Each version supplies how its IE header reads (GTPv1: TV by type or TLV;
//! GTPv2: type-length-instance); the cursor handles the rest: a message length beyond the
//! datagram reported once, then stop; stop after the first malformed IE.

use crate::error::{DecodeError, Layer};

/// How one IE header reads: `(header length, value length)`, or why it cannot be read.
pub(crate) type IeHeader = fn(&[u8]) -> Result<(usize, usize), &'static str>;

/// The cursor: what is left of the IE area and its offset in the message.
#[derive(Clone, Debug)]
pub(crate) struct IeWalk<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
    truncated: bool,
    layer: Layer,
    header: IeHeader,
}

impl<'a> IeWalk<'a> {
    /// `buf` starts at `offset` of the message; `truncated`: the header's message length
    /// went beyond the datagram (reported as the walk's first item).
    pub(crate) fn new(
        layer: Layer,
        header: IeHeader,
        buf: &'a [u8],
        offset: usize,
        truncated: bool,
    ) -> IeWalk<'a> {
        IeWalk {
            buf,
            offset,
            failed: false,
            truncated,
            layer,
            header,
        }
    }

    fn fail(
        &mut self,
        reason: &'static str,
        offset: usize,
    ) -> Option<Result<Raw<'a>, DecodeError>> {
        self.failed = true;
        Some(Err(DecodeError::new(self.layer, reason, offset)))
    }
}

/// One IE as read: its header bytes and its value.
pub(crate) struct Raw<'a> {
    pub header: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> Iterator for IeWalk<'a> {
    type Item = Result<Raw<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.truncated {
            self.truncated = false;
            return self.fail("message length beyond datagram", 2);
        }
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let (hlen, len) = match (self.header)(self.buf) {
            Ok(h) => h,
            Err(reason) => return self.fail(reason, self.offset),
        };
        let Some(value) = self.buf.get(hlen..hlen + len) else {
            return self.fail("IE length beyond message", self.offset);
        };
        let header = &self.buf[..hlen];
        self.buf = &self.buf[hlen + len..];
        self.offset += hlen + len;
        Some(Ok(Raw { header, value }))
    }
}

/// Visit each IE of `ies` up to the first malformed one, which is returned: the fields a
/// visitor took from the IEs before it stay (both versions' `Fields::extract`).
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
