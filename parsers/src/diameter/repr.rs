//! Owned Diameter messages: a tree of AVPs that `emit`s wire bytes and `parse`s them
//! back. Used to build fixtures and for round-trip tests.

use super::avp::{AvpFlags, AvpIter, MAX_DEPTH};
use super::dictionary::{self, VENDOR_3GPP};
use super::header::{Flags, Header, Message, HEADER_LEN};
use crate::error::DecodeError;

/// An AVP's value: raw octets, or child AVPs (type Grouped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvpValue {
    Bytes(Vec<u8>),
    Grouped(Vec<AvpRepr>),
}

/// One owned AVP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvpRepr {
    pub code: u32,
    /// Flags as sent; on emit the V bit is forced to match `vendor`.
    pub flags: AvpFlags,
    pub vendor: Option<u32>,
    pub value: AvpValue,
}

/// One owned message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRepr {
    pub flags: Flags,
    pub code: u32,
    pub app_id: u32,
    pub hbh: u32,
    pub e2e: u32,
    pub avps: Vec<AvpRepr>,
}

impl AvpRepr {
    fn flags_for(vendor: Option<u32>) -> AvpFlags {
        AvpFlags(
            AvpFlags::MANDATORY
                | if vendor.is_some() {
                    AvpFlags::VENDOR
                } else {
                    0
                },
        )
    }

    /// A mandatory AVP with raw data; `vendor` 0 means no vendor id.
    pub fn bytes(code: u32, vendor: u32, data: impl Into<Vec<u8>>) -> AvpRepr {
        let vendor = (vendor != 0).then_some(vendor);
        AvpRepr {
            code,
            flags: Self::flags_for(vendor),
            vendor,
            value: AvpValue::Bytes(data.into()),
        }
    }

    pub fn u32(code: u32, vendor: u32, v: u32) -> AvpRepr {
        Self::bytes(code, vendor, v.to_be_bytes())
    }

    pub fn u64(code: u32, vendor: u32, v: u64) -> AvpRepr {
        Self::bytes(code, vendor, v.to_be_bytes())
    }

    pub fn utf8(code: u32, vendor: u32, s: &str) -> AvpRepr {
        Self::bytes(code, vendor, s.as_bytes())
    }

    pub fn grouped(code: u32, vendor: u32, children: Vec<AvpRepr>) -> AvpRepr {
        let vendor = (vendor != 0).then_some(vendor);
        AvpRepr {
            code,
            flags: Self::flags_for(vendor),
            vendor,
            value: AvpValue::Grouped(children),
        }
    }

    /// A 3GPP (vendor 10415) AVP with raw data.
    pub fn tgpp(code: u32, data: impl Into<Vec<u8>>) -> AvpRepr {
        Self::bytes(code, VENDOR_3GPP, data)
    }

    /// Clear the M flag (as for optional AVPs such as Supported-Features members).
    pub fn optional(mut self) -> AvpRepr {
        self.flags.0 &= !AvpFlags::MANDATORY;
        self
    }

    fn data_len(&self) -> usize {
        match &self.value {
            AvpValue::Bytes(b) => b.len(),
            AvpValue::Grouped(children) => children.iter().map(AvpRepr::padded_len).sum(),
        }
    }

    fn header_len(&self) -> usize {
        if self.vendor.is_some() {
            12
        } else {
            8
        }
    }

    /// The AVP length field: header plus data, without padding.
    pub fn len(&self) -> usize {
        self.header_len() + self.data_len()
    }

    /// Never true: an AVP has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Length on the wire, padding included.
    pub fn padded_len(&self) -> usize {
        (self.len() + 3) & !3
    }

    /// Append the AVP (with padding) to `out`.
    pub fn emit_into(&self, out: &mut Vec<u8>) {
        let len = self.len() as u32;
        let flags = (self.flags.0 & !AvpFlags::VENDOR)
            | if self.vendor.is_some() {
                AvpFlags::VENDOR
            } else {
                0
            };
        out.extend_from_slice(&self.code.to_be_bytes());
        out.push(flags);
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        if let Some(v) = self.vendor {
            out.extend_from_slice(&v.to_be_bytes());
        }
        match &self.value {
            AvpValue::Bytes(b) => out.extend_from_slice(b),
            AvpValue::Grouped(children) => children.iter().for_each(|c| c.emit_into(out)),
        }
        out.resize(out.len() + (self.padded_len() - self.len()), 0);
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.padded_len());
        self.emit_into(&mut out);
        out
    }

    /// Parse a sequence of AVPs, descending into those the dictionary says are Grouped
    /// (falling back to raw bytes when their content is not a valid AVP sequence).
    pub fn parse_all(buf: &[u8]) -> Result<Vec<AvpRepr>, DecodeError> {
        parse_level(AvpIter::new(buf, 0), 0)
    }

    /// The first child (or self) matching `code`/`vendor`, pre-order.
    pub fn find(&self, code: u32, vendor: u32) -> Option<&AvpRepr> {
        if self.code == code && self.vendor.unwrap_or(0) == vendor {
            return Some(self);
        }
        match &self.value {
            AvpValue::Grouped(c) => c.iter().find_map(|a| a.find(code, vendor)),
            AvpValue::Bytes(_) => None,
        }
    }
}

fn parse_level(it: AvpIter<'_>, depth: usize) -> Result<Vec<AvpRepr>, DecodeError> {
    let mut out = Vec::new();
    for a in it {
        let a = a?;
        let value = if depth < MAX_DEPTH && a.is_grouped_in_dictionary() {
            match parse_level(a.grouped(), depth + 1) {
                Ok(children) => AvpValue::Grouped(children),
                Err(_) => AvpValue::Bytes(a.data.to_vec()),
            }
        } else {
            AvpValue::Bytes(a.data.to_vec())
        };
        out.push(AvpRepr {
            code: a.code,
            flags: a.flags,
            vendor: a.vendor,
            value,
        });
    }
    Ok(out)
}

impl MessageRepr {
    /// A request (R and P set) with no AVPs yet.
    pub fn request(app_id: u32, code: u32, hbh: u32, e2e: u32) -> MessageRepr {
        MessageRepr {
            flags: Flags(Flags::REQUEST | Flags::PROXIABLE),
            code,
            app_id,
            hbh,
            e2e,
            avps: vec![],
        }
    }

    /// The answer skeleton for `req`: same code, application and identifiers, R cleared.
    pub fn answer_to(req: &MessageRepr) -> MessageRepr {
        MessageRepr {
            flags: Flags(req.flags.0 & Flags::PROXIABLE),
            code: req.code,
            app_id: req.app_id,
            hbh: req.hbh,
            e2e: req.e2e,
            avps: vec![],
        }
    }

    pub fn with(mut self, avp: AvpRepr) -> MessageRepr {
        self.avps.push(avp);
        self
    }

    pub fn len(&self) -> usize {
        HEADER_LEN + self.avps.iter().map(AvpRepr::padded_len).sum::<usize>()
    }

    /// Never true: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn header(&self) -> Header {
        Header {
            version: 1,
            length: self.len() as u32,
            flags: self.flags,
            code: self.code,
            app_id: self.app_id,
            hbh: self.hbh,
            e2e: self.e2e,
        }
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.header().emit());
        for a in &self.avps {
            a.emit_into(&mut out);
        }
        out
    }

    /// Parse a message into its owned tree (strict: a malformed AVP is an error).
    pub fn parse(buf: &[u8]) -> Result<MessageRepr, DecodeError> {
        let m = Message::parse(buf)?;
        Self::from_message(&m)
    }

    pub fn from_message(m: &Message<'_>) -> Result<MessageRepr, DecodeError> {
        let h = m.header;
        Ok(MessageRepr {
            flags: h.flags,
            code: h.code,
            app_id: h.app_id,
            hbh: h.hbh,
            e2e: h.e2e,
            avps: parse_level(m.avps(), 0)?,
        })
    }

    /// The first AVP matching `code`/`vendor` anywhere, pre-order.
    pub fn find(&self, code: u32, vendor: u32) -> Option<&AvpRepr> {
        self.avps.iter().find_map(|a| a.find(code, vendor))
    }

    /// Is this message's application S6a/S6d?
    pub fn is_s6a(&self) -> bool {
        dictionary::is_s6a(self.app_id)
    }
}
