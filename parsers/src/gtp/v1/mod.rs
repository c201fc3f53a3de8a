//! GTPv1-C (3GPP TS 29.060): header with optional sequence / N-PDU / extension headers,
//! TV and TLV information elements, and the IEs that locate a subscriber (IMSI, MSISDN,
//! RAI, ULI, RAT Type, Cause).
//!
//! [`Gtpv1Message`] is a zero-copy view that never panics; [`Gtpv1Repr`] an owned message
//! with symmetric `parse`/`emit` for fixtures and round-trip tests. TV IEs (types 1..127)
//! have fixed lengths (TS 29.060 §7.7, [`tv_len`]); an unknown TV type makes the rest of
//! the message unparseable, so the IE iterator yields one error there and stops.
//!
//! Which messages get an inspect record (conformance rules): GTP version 1, protocol type
//! GTP (PT = 1), not a G-PDU (type 255), on UDP or TCP port [`PORT`] — see
//! [`Gtpv1Message::is_recorded`] and [`wants_record`].

pub mod correlate;

use super::fields::GtpFields;
use super::header::{self, GtpWire, Version};
use super::ie::{self as walk, IeArea, Ies};
pub use super::V1;
use crate::error::{DecodeError, Layer};
use crate::flow::PacketMeta;
use crate::record::Record;
use crate::signal::{Location, Proto};
use crate::types::{Imsi, Msisdn, Plmn};

pub use super::PORT;

/// Message type of a G-PDU (user data): never a GTP-C record.
pub const G_PDU: u8 = 255;

/// IE types used here (TS 29.060 §7.7).
pub mod ie {
    pub const CAUSE: u8 = 1;
    pub const IMSI: u8 = 2;
    pub const RAI: u8 = 3;
    pub const RECOVERY: u8 = 14;
    pub const TEID_DATA_I: u8 = 16;
    pub const TEID_C_PLANE: u8 = 17;
    pub const NSAPI: u8 = 20;
    pub const CHARGING_ID: u8 = 127;
    pub const END_USER_ADDRESS: u8 = 128;
    pub const APN: u8 = 131;
    pub const GSN_ADDRESS: u8 = 133;
    pub const MSISDN: u8 = 134;
    pub const RAT_TYPE: u8 = 151;
    pub const ULI: u8 = 152;
    pub const PRIVATE_EXTENSION: u8 = 255;
}

/// Message types used here (TS 29.060 §7.1).
pub mod msg {
    pub const ECHO_REQUEST: u8 = 1;
    pub const ECHO_RESPONSE: u8 = 2;
    pub const CREATE_PDP_CONTEXT_REQUEST: u8 = 16;
    pub const CREATE_PDP_CONTEXT_RESPONSE: u8 = 17;
    pub const UPDATE_PDP_CONTEXT_REQUEST: u8 = 18;
    pub const UPDATE_PDP_CONTEXT_RESPONSE: u8 = 19;
    pub const DELETE_PDP_CONTEXT_REQUEST: u8 = 20;
    pub const DELETE_PDP_CONTEXT_RESPONSE: u8 = 21;

    /// A message type's name (TS 29.060 Table 1), for statistics; `None` for one not
    /// named here.
    pub fn name(t: u32) -> Option<&'static str> {
        Some(match t {
            16 => "Create PDP Context Request",
            17 => "Create PDP Context Response",
            18 => "Update PDP Context Request",
            19 => "Update PDP Context Response",
            20 => "Delete PDP Context Request",
            21 => "Delete PDP Context Response",
            26 => "Error Indication",
            27 => "PDU Notification Request",
            28 => "PDU Notification Response",
            31 => "Supported Extension Headers Notification",
            _ => return super::super::path_message_name(t),
        })
    }
}

const FLAG_PT: u8 = 0x10;
const FLAG_E: u8 = 0x04;
const FLAG_S: u8 = 0x02;
const FLAG_PN: u8 = 0x01;
const HEADER_LEN: usize = 8;
const OPTIONAL_LEN: usize = 4;

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Gtpv1, reason, offset)
}

/// Value length of a TV IE (type 1..127), or `None` when the type is not known (or is
/// a TLV type, >= 128).
pub fn tv_len(kind: u8) -> Option<usize> {
    Some(match kind {
        1 => 1,   // Cause
        2 => 8,   // IMSI
        3 => 6,   // RAI
        4 => 4,   // TLLI
        5 => 4,   // P-TMSI
        8 => 1,   // Reordering required
        9 => 28,  // Authentication triplet
        11 => 1,  // MAP cause
        12 => 3,  // P-TMSI signature
        13 => 1,  // MS validated
        14 => 1,  // Recovery
        15 => 1,  // Selection mode
        16 => 4,  // TEID data I
        17 => 4,  // TEID C-plane
        18 => 5,  // TEID data II
        19 => 1,  // Teardown ind
        20 => 1,  // NSAPI
        21 => 1,  // RANAP cause
        22 => 9,  // RAB context
        23 => 1,  // Radio priority SMS
        24 => 1,  // Radio priority
        25 => 2,  // Packet flow id
        26 => 2,  // Charging characteristics
        27 => 2,  // Trace reference
        28 => 2,  // Trace type
        29 => 1,  // MS not reachable reason
        127 => 4, // Charging id
        _ => return None,
    })
}

/// Is this the start of a GTP version 1 message (version bits of the first octet)?
pub fn is_gtpv1(buf: &[u8]) -> bool {
    header::is_version::<V1>(buf)
}

/// Should a datagram / segment payload between these ports become a GTPv1-C record?
/// True when either port is 2123 and the payload parses as a recorded message
/// ([`Gtpv1Message::is_recorded`]).
pub fn wants_record(src_port: u16, dst_port: u16, payload: &[u8]) -> bool {
    (src_port == PORT || dst_port == PORT)
        && Gtpv1Message::parse(payload).is_ok_and(|m| m.is_recorded())
}

/// The header: mandatory 8 octets plus the optional 4 when any of E, S, PN is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtpv1Header {
    /// The raw flags octet (version, PT, spare, E, S, PN).
    pub flags: u8,
    pub msg_type: u8,
    /// Length of the message after the mandatory 8 octets.
    pub length: u16,
    pub teid: u32,
    /// Sequence number, only when the S flag is set.
    pub seq: Option<u16>,
    /// N-PDU number, only when the PN flag is set.
    pub npdu: Option<u8>,
    /// Type of the first extension header, only when the E flag is set (0 = none).
    pub next_ext: Option<u8>,
}

impl Gtpv1Header {
    /// Protocol type: true for GTP, false for GTP'.
    pub fn pt(&self) -> bool {
        self.flags & FLAG_PT != 0
    }

    /// Are the 4 optional octets (seq, N-PDU, next extension type) present?
    pub fn has_optional(&self) -> bool {
        self.flags & (FLAG_E | FLAG_S | FLAG_PN) != 0
    }

    /// The whole message length (mandatory header plus `length`).
    pub fn message_len(&self) -> usize {
        HEADER_LEN + usize::from(self.length)
    }
}

/// One extension header: type and content (without the length and next-type octets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtHeader<'a> {
    pub kind: u8,
    pub content: &'a [u8],
}

/// Iterator over a message's extension headers (validated when the message was parsed).
#[derive(Clone, Debug)]
pub struct ExtIter<'a> {
    area: &'a [u8],
    kind: u8,
}

impl<'a> Iterator for ExtIter<'a> {
    type Item = ExtHeader<'a>;

    fn next(&mut self) -> Option<ExtHeader<'a>> {
        if self.kind == 0 {
            return None;
        }
        let len = usize::from(*self.area.first()?) * 4;
        let block = self.area.get(..len).filter(|_| len >= 4)?;
        let h = ExtHeader {
            kind: self.kind,
            content: &block[1..len - 1],
        };
        self.kind = block[len - 1];
        self.area = &self.area[len..];
        Some(h)
    }
}

/// One GTPv1 message, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtpv1Message<'a> {
    pub header: Gtpv1Header,
    /// The extension headers' bytes (after the optional octets).
    ext: &'a [u8],
    /// After the headers, within the message length.
    ies: IeArea<'a>,
}

impl<'a> Gtpv1Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Gtpv1Message<'a>, DecodeError> {
        let header::Start {
            flags,
            msg_type,
            length,
        } = header::start::<V1>(buf)?;
        let total = HEADER_LEN + usize::from(length);
        let mut header = Gtpv1Header {
            flags,
            msg_type,
            length,
            teid: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            seq: None,
            npdu: None,
            next_ext: None,
        };
        let mut at = HEADER_LEN;
        let mut ext: &[u8] = &[];
        if header.has_optional() {
            let opt = buf
                .get(HEADER_LEN..HEADER_LEN + OPTIONAL_LEN)
                .ok_or(err("truncated optional header", buf.len()))?;
            if total < HEADER_LEN + OPTIONAL_LEN {
                return Err(err("length shorter than header", 2));
            }
            if flags & FLAG_S != 0 {
                header.seq = Some(u16::from_be_bytes([opt[0], opt[1]]));
            }
            if flags & FLAG_PN != 0 {
                header.npdu = Some(opt[2]);
            }
            at += OPTIONAL_LEN;
            if flags & FLAG_E != 0 {
                header.next_ext = Some(opt[3]);
                let start = at;
                let mut kind = opt[3];
                while kind != 0 {
                    let len =
                        usize::from(*buf.get(at).ok_or(err("truncated extension header", at))?) * 4;
                    if len == 0 {
                        return Err(err("extension header length zero", at));
                    }
                    if at + len > total {
                        return Err(err("extension header beyond message", at));
                    }
                    kind = *buf
                        .get(at + len - 1)
                        .ok_or(err("truncated extension header", at))?;
                    at += len;
                }
                ext = &buf[start..at];
            }
        }
        Ok(Gtpv1Message {
            header,
            ext,
            ies: IeArea::new(buf, at, total),
        })
    }

    /// The IEs; a malformed IE or unknown TV type yields one error and ends the iteration.
    pub fn ies(&self) -> IeIter<'a> {
        self.ies.ies()
    }

    /// The first IE of `kind` before any error.
    pub fn find(&self, kind: u8) -> Option<Ie<'a>> {
        self.ies().map_while(Result::ok).find(|i| i.kind == kind)
    }

    /// Does this message get an inspect record (given it arrived on port 2123)? Version 1
    /// (checked by `parse`), protocol type GTP, and not a G-PDU.
    pub fn is_recorded(&self) -> bool {
        self.header.pt() && self.header.msg_type != G_PDU
    }

    /// The extension headers, in chain order.
    pub fn extensions(&self) -> ExtIter<'a> {
        ExtIter {
            area: self.ext,
            kind: self.header.next_ext.unwrap_or(0),
        }
    }
}

/// One information element: type and value (TV or TLV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ie<'a> {
    pub kind: u8,
    pub value: &'a [u8],
}

impl Ie<'_> {
    /// Is this a TV IE (type < 128, fixed length, no length field)?
    pub fn is_tv(&self) -> bool {
        self.kind < 128
    }
}

impl GtpWire for V1 {
    const VERSION: Version = Version::V1;
    type Message<'a> = Gtpv1Message<'a>;
    type Ie<'a> = Ie<'a>;

    /// TV (type < 128, value length by type) or TLV (16-bit length).
    fn ie_header(buf: &[u8]) -> Result<(usize, usize), &'static str> {
        let kind = buf[0];
        if kind < 128 {
            tv_len(kind).map(|n| (1, n)).ok_or("unknown TV IE type")
        } else {
            match buf.get(1..3) {
                Some(l) => Ok((3, usize::from(u16::from_be_bytes([l[0], l[1]])))),
                None => Err("truncated IE header"),
            }
        }
    }

    fn ie<'a>(header: &'a [u8], value: &'a [u8]) -> Ie<'a> {
        Ie {
            kind: header[0],
            value,
        }
    }
}

/// Iterator over TV / TLV IEs.
pub type IeIter<'a> = Ies<'a, V1>;

/// Routing Area Identity (TV 3, TS 24.008 §10.5.5.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rai {
    pub plmn: Plmn,
    pub lac: u16,
    pub rac: u8,
}

impl Rai {
    /// PLMN 3 octets, LAC 2, RAC 1.
    pub fn parse(v: &[u8]) -> Option<Rai> {
        let b = v.get(..6)?;
        Some(Rai {
            plmn: Plmn::from_bcd(b)?,
            lac: u16::from_be_bytes([b[3], b[4]]),
            rac: b[5],
        })
    }

    pub fn location(self) -> Location {
        Location::Rai {
            plmn: self.plmn,
            lac: self.lac,
            rac: self.rac,
        }
    }
}

/// User Location Information (IE 152, TS 29.060 §7.7.51): one geographic location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uli {
    /// Type 0: Cell Global Identity.
    Cgi { plmn: Plmn, lac: u16, ci: u16 },
    /// Type 1: Service Area Identity.
    Sai { plmn: Plmn, lac: u16, sac: u16 },
    /// Type 2: Routing Area Identity (RAC in the first of two octets).
    Rai { plmn: Plmn, lac: u16, rac: u8 },
}

impl Uli {
    /// Geographic location type octet, then PLMN 3, LAC 2, CI / SAC / RAC 2. Unknown
    /// types and short values give `None`.
    pub fn parse(v: &[u8]) -> Option<Uli> {
        let (&kind, rest) = v.split_first()?;
        let b = rest.get(..7)?;
        let plmn = Plmn::from_bcd(b)?;
        let lac = u16::from_be_bytes([b[3], b[4]]);
        let last = u16::from_be_bytes([b[5], b[6]]);
        match kind {
            0 => Some(Uli::Cgi {
                plmn,
                lac,
                ci: last,
            }),
            1 => Some(Uli::Sai {
                plmn,
                lac,
                sac: last,
            }),
            2 => Some(Uli::Rai {
                plmn,
                lac,
                rac: b[5],
            }),
            _ => None,
        }
    }

    pub fn location(self) -> Location {
        match self {
            Uli::Cgi { plmn, lac, ci } => Location::Cgi { plmn, lac, ci },
            Uli::Sai { plmn, lac, sac } => Location::Sai { plmn, lac, sac },
            Uli::Rai { plmn, lac, rac } => Location::Rai { plmn, lac, rac },
        }
    }
}

/// The IEs of a GTPv1 message that locate its subscriber.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocationIes {
    pub rai: Option<Rai>,
    pub uli: Option<Uli>,
}

/// What a GTPv1 message says about its subscriber.
pub type Gtpv1Fields = GtpFields<LocationIes>;

impl Gtpv1Fields {
    /// Extract the fields, each from the first IE of its type (RAT Type and Cause: the
    /// first not empty); IEs before a malformed one (or an unknown TV type) are kept, and
    /// the error returned with them.
    pub fn extract(msg: &Gtpv1Message<'_>) -> (Gtpv1Fields, Option<DecodeError>) {
        let mut f = Gtpv1Fields::default();
        let (mut imsi, mut msisdn, mut rai, mut uli) = (false, false, false, false);
        let e = walk::visit(msg.ies(), |ie| match ie.kind {
            ie::IMSI if !imsi => {
                imsi = true;
                f.imsi = Imsi::from_tbcd(ie.value).ok();
            }
            ie::MSISDN if !msisdn => {
                msisdn = true;
                f.msisdn = ie.value.get(1..).and_then(|d| Msisdn::from_tbcd(d).ok());
            }
            ie::RAI if !rai => {
                rai = true;
                f.location.rai = Rai::parse(ie.value);
            }
            ie::ULI if !uli => {
                uli = true;
                f.location.uli = Uli::parse(ie.value);
            }
            ie::RAT_TYPE if f.rat.is_none() => f.rat = ie.value.first().copied(),
            ie::CAUSE if f.cause.is_none() => f.cause = ie.value.first().copied(),
            _ => {}
        });
        (f, e)
    }
}

/// The message as an inspect record (conformance schema), with the IE error if any (the
/// record keeps the fields decoded before it).
pub fn decode_record(msg: &Gtpv1Message<'_>, meta: &PacketMeta) -> (Record, Option<DecodeError>) {
    let (f, e) = Gtpv1Fields::extract(msg);
    let h = &msg.header;
    let seq = h.seq.map(u32::from);
    let mut r = f.record(meta, Proto::Gtpv1, h.msg_type, seq, Some(h.teid));
    if let Some(rai) = f.location.rai {
        r.locate(rai.location());
    }
    // A ULI of type RAI is not reported (the `rai` key comes only from TV 3).
    if let Some(uli @ (Uli::Cgi { .. } | Uli::Sai { .. })) = f.location.uli {
        r.locate(uli.location());
    }
    (r, e)
}

/// The message as an inspect record (conformance schema).
pub fn record(msg: &Gtpv1Message<'_>, meta: &PacketMeta) -> Record {
    decode_record(msg, meta).0
}

/// An owned extension header. `content` is emitted padded with zeros to 4n - 2 octets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtHeaderRepr {
    /// Extension header type (non-zero; 0 ends the chain).
    pub kind: u8,
    pub content: Vec<u8>,
}

/// An owned IE. For TV types the value must have the [`tv_len`] length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IeRepr {
    pub kind: u8,
    pub value: Vec<u8>,
}

impl IeRepr {
    /// Type, the length for a TLV type, value.
    fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        if self.kind >= 128 {
            out.extend_from_slice(&(self.value.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&self.value);
    }
}

impl From<Ie<'_>> for IeRepr {
    fn from(ie: Ie<'_>) -> IeRepr {
        IeRepr {
            kind: ie.kind,
            value: ie.value.to_vec(),
        }
    }
}

/// An owned GTPv1 message (PT = 1), for building fixtures; `emit` and `parse` are inverse.
/// The optional octets are emitted when any of `seq`, `npdu`, `extensions` is present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gtpv1Repr {
    pub msg_type: u8,
    pub teid: u32,
    pub seq: Option<u16>,
    pub npdu: Option<u8>,
    pub extensions: Vec<ExtHeaderRepr>,
    pub ies: Vec<IeRepr>,
}

impl Gtpv1Repr {
    pub fn parse(buf: &[u8]) -> Result<Gtpv1Repr, DecodeError> {
        let m = Gtpv1Message::parse(buf)?;
        let ies = m.ies().owned()?;
        let Gtpv1Header {
            msg_type,
            teid,
            seq,
            npdu,
            ..
        } = m.header;
        Ok(Gtpv1Repr {
            msg_type,
            teid,
            seq,
            npdu,
            extensions: m
                .extensions()
                .map(|e| ExtHeaderRepr {
                    kind: e.kind,
                    content: e.content.to_vec(),
                })
                .collect(),
            ies,
        })
    }

    /// The message bytes.
    pub fn emit(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(12 + self.ies.iter().map(|i| 3 + i.value.len()).sum::<usize>());
        let e = !self.extensions.is_empty();
        let flags = 0x20
            | FLAG_PT
            | if e { FLAG_E } else { 0 }
            | if self.seq.is_some() { FLAG_S } else { 0 }
            | if self.npdu.is_some() { FLAG_PN } else { 0 };
        out.extend_from_slice(&[flags, self.msg_type, 0, 0]);
        out.extend_from_slice(&self.teid.to_be_bytes());
        if flags & (FLAG_E | FLAG_S | FLAG_PN) != 0 {
            out.extend_from_slice(&self.seq.unwrap_or(0).to_be_bytes());
            out.push(self.npdu.unwrap_or(0));
            out.push(self.extensions.first().map_or(0, |x| x.kind));
            for (i, x) in self.extensions.iter().enumerate() {
                let units = (x.content.len() + 2).div_ceil(4).clamp(1, 255);
                let mut content = x.content.clone();
                content.resize(units * 4 - 2, 0);
                out.push(units as u8);
                out.extend_from_slice(&content);
                out.push(self.extensions.get(i + 1).map_or(0, |n| n.kind));
            }
        }
        for ie in &self.ies {
            ie.emit(&mut out);
        }
        header::set_length(&mut out, HEADER_LEN);
        out
    }
}

#[cfg(test)]
mod tests;
