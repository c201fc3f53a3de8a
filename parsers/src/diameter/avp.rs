//! Zero-copy AVPs (RFC 6733 §4): code, V/M/P flags, optional vendor id, data padded to a
//! multiple of four octets.

use super::dictionary;
use crate::error::{DecodeError, Layer};

/// How deep [`AvpIter::find_deep`] and validation descend into grouped AVPs.
pub const MAX_DEPTH: usize = 32;

/// AVP flags octet: V (vendor id present), M (mandatory), P (protected), five reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AvpFlags(pub u8);

impl AvpFlags {
    pub const VENDOR: u8 = 0x80;
    pub const MANDATORY: u8 = 0x40;
    pub const PROTECTED: u8 = 0x20;

    pub fn vendor(self) -> bool {
        self.0 & Self::VENDOR != 0
    }
    pub fn mandatory(self) -> bool {
        self.0 & Self::MANDATORY != 0
    }
    pub fn protected(self) -> bool {
        self.0 & Self::PROTECTED != 0
    }
}

/// One AVP borrowed from its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avp<'a> {
    pub code: u32,
    pub flags: AvpFlags,
    /// The Vendor-Id, present when the V flag is set.
    pub vendor: Option<u32>,
    /// The data, without padding.
    pub data: &'a [u8],
    /// Offset of the AVP header from the start of the message (or of whatever buffer the
    /// outermost iterator was given).
    pub offset: usize,
}

impl<'a> Avp<'a> {
    /// The vendor id, 0 when absent.
    pub fn vendor_id(&self) -> u32 {
        self.vendor.unwrap_or(0)
    }

    pub fn is(&self, code: u32, vendor: u32) -> bool {
        self.code == code && self.vendor_id() == vendor
    }

    /// The header length (8, or 12 with a vendor id).
    pub fn header_len(&self) -> usize {
        if self.vendor.is_some() {
            12
        } else {
            8
        }
    }

    /// Iterate the data as a sequence of AVPs (type Grouped).
    pub fn grouped(&self) -> AvpIter<'a> {
        AvpIter::new(self.data, self.offset + self.header_len())
    }

    /// Is this AVP of type Grouped according to the dictionary?
    pub fn is_grouped_in_dictionary(&self) -> bool {
        dictionary::is_grouped(self.code, self.vendor_id())
    }

    /// Unsigned32 / Enumerated / Integer32 bits; `None` unless the data is 4 octets.
    pub fn u32(&self) -> Option<u32> {
        let b: [u8; 4] = self.data.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// Unsigned64; `None` unless the data is 8 octets.
    pub fn u64(&self) -> Option<u64> {
        let b: [u8; 8] = self.data.try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }

    /// UTF8String / DiameterIdentity.
    pub fn utf8(&self) -> Option<&'a str> {
        std::str::from_utf8(self.data).ok()
    }
}

/// Iterator over consecutive AVPs. Yields `Err` once for a malformed AVP, then stops.
#[derive(Clone, Debug)]
pub struct AvpIter<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    done: bool,
}

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Diameter, reason, offset)
}

impl<'a> AvpIter<'a> {
    /// Iterate the AVPs in `buf`, which starts `base` bytes into the message.
    pub fn new(buf: &'a [u8], base: usize) -> AvpIter<'a> {
        AvpIter {
            buf,
            pos: 0,
            base,
            done: false,
        }
    }

    /// The first AVP matching `code`/`vendor` at this level.
    pub fn find_avp(self, code: u32, vendor: u32) -> Option<Avp<'a>> {
        self.map_while(Result::ok).find(|a| a.is(code, vendor))
    }

    /// The first AVP matching `code`/`vendor` at this level or below, pre-order.
    pub fn find_deep(self, code: u32, vendor: u32) -> Option<Avp<'a>> {
        fn go<'a>(it: AvpIter<'a>, code: u32, vendor: u32, depth: usize) -> Option<Avp<'a>> {
            for a in it.map_while(Result::ok) {
                if a.is(code, vendor) {
                    return Some(a);
                }
                if depth < MAX_DEPTH && a.is_grouped_in_dictionary() {
                    if let Some(found) = go(a.grouped(), code, vendor, depth + 1) {
                        return Some(found);
                    }
                }
            }
            None
        }
        go(self, code, vendor, 0)
    }

    fn next_avp(&mut self) -> Result<Avp<'a>, DecodeError> {
        let rest = &self.buf[self.pos..];
        let at = self.base + self.pos;
        if rest.len() < 8 {
            return Err(err("truncated AVP header", at));
        }
        let code = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let flags = AvpFlags(rest[4]);
        let len = (usize::from(rest[5]) << 16) | (usize::from(rest[6]) << 8) | usize::from(rest[7]);
        let (vendor, hlen) = if flags.vendor() {
            if rest.len() < 12 {
                return Err(err("truncated AVP vendor id", at));
            }
            (
                Some(u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]])),
                12,
            )
        } else {
            (None, 8)
        };
        if len < hlen {
            return Err(err("AVP length shorter than its header", at + 5));
        }
        if len > rest.len() {
            return Err(err("AVP length beyond the enclosing data", at + 5));
        }
        // Padding to 4; the padding of the last AVP may be missing (lenient, as Wireshark).
        let padded = (len + 3) & !3;
        self.pos += padded.min(rest.len());
        Ok(Avp {
            code,
            flags,
            vendor,
            data: &rest[hlen..len],
            offset: at,
        })
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<Avp<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.next_avp();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

impl std::iter::FusedIterator for AvpIter<'_> {}
