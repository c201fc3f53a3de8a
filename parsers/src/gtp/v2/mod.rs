//! GTPv2-C (3GPP TS 29.274): header with and without TEID, piggybacked messages, and the
//! IEs that locate a subscriber (IMSI, MSISDN, Serving Network, RAT Type, ULI, Cause).
//!
//! [`Gtpv2Message`] is a zero-copy view; [`Gtpv2Repr`] an owned message with symmetric
//! `parse`/`emit` for fixtures and round-trip tests. Unknown IEs are skipped by length.

pub mod correlate;

use super::fields::GtpFields;
use super::header::{self, GtpWire, Version};
use super::ie::{self as walk, IeArea, Ies};
pub use super::V2;
use crate::error::{DecodeError, Layer};
use crate::flow::PacketMeta;
use crate::record::Record;
use crate::signal::{Location, Proto};
use crate::types::{Imsi, Msisdn, Plmn};

pub use super::PORT;

/// IE types used here (TS 29.274 §8.1).
pub mod ie {
    pub const IMSI: u8 = 1;
    pub const CAUSE: u8 = 2;
    pub const MSISDN: u8 = 76;
    pub const RAT_TYPE: u8 = 82;
    pub const SERVING_NETWORK: u8 = 83;
    pub const ULI: u8 = 86;
    pub const F_TEID: u8 = 87;
}

/// A message type's name (TS 29.274 Table 6.1-1), for statistics; `None` for one not
/// named here.
pub fn message_name(t: u32) -> Option<&'static str> {
    Some(match t {
        32 => "Create Session Request",
        33 => "Create Session Response",
        34 => "Modify Bearer Request",
        35 => "Modify Bearer Response",
        36 => "Delete Session Request",
        37 => "Delete Session Response",
        38 => "Change Notification Request",
        39 => "Change Notification Response",
        64 => "Modify Bearer Command",
        65 => "Modify Bearer Failure Indication",
        66 => "Delete Bearer Command",
        67 => "Delete Bearer Failure Indication",
        68 => "Bearer Resource Command",
        69 => "Bearer Resource Failure Indication",
        70 => "Downlink Data Notification Failure Indication",
        95 => "Create Bearer Request",
        96 => "Create Bearer Response",
        97 => "Update Bearer Request",
        98 => "Update Bearer Response",
        99 => "Delete Bearer Request",
        100 => "Delete Bearer Response",
        128 => "Identification Request",
        129 => "Identification Response",
        130 => "Context Request",
        131 => "Context Response",
        132 => "Context Acknowledge",
        133 => "Forward Relocation Request",
        134 => "Forward Relocation Response",
        170 => "Release Access Bearers Request",
        171 => "Release Access Bearers Response",
        176 => "Downlink Data Notification",
        177 => "Downlink Data Notification Acknowledge",
        211 => "Modify Access Bearers Request",
        212 => "Modify Access Bearers Response",
        _ => return super::path_message_name(t),
    })
}

const FLAG_PIGGYBACK: u8 = 0x10;
const FLAG_TEID: u8 = 0x08;

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Gtpv2, reason, offset)
}

/// The fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtpv2Header {
    pub piggyback: bool,
    pub msg_type: u8,
    /// Length of the message after the first four octets.
    pub length: u16,
    pub teid: Option<u32>,
    /// 24-bit sequence number.
    pub seq: u32,
}

impl Gtpv2Header {
    /// Header length: 12 octets with a TEID, 8 without.
    pub fn len(&self) -> usize {
        if self.teid.is_some() {
            12
        } else {
            8
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole message length (header's first four octets plus `length`).
    pub fn message_len(&self) -> usize {
        4 + usize::from(self.length)
    }
}

/// Is this the start of a GTPv2 message (version 2 in the first octet)?
pub fn is_gtpv2(buf: &[u8]) -> bool {
    header::is_version::<V2>(buf)
}

/// One GTPv2-C message, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gtpv2Message<'a> {
    pub header: Gtpv2Header,
    /// After the header, within the message length.
    ies: IeArea<'a>,
    /// Bytes after this message (a piggybacked message when the P flag is set).
    rest: &'a [u8],
}

impl<'a> Gtpv2Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Gtpv2Message<'a>, DecodeError> {
        let header::Start {
            flags: b0,
            msg_type,
            length,
        } = header::start::<V2>(buf)?;
        let has_teid = b0 & FLAG_TEID != 0;
        let hlen = if has_teid { 12 } else { 8 };
        if buf.len() < hlen {
            return Err(err("truncated header", buf.len()));
        }
        let total = 4 + usize::from(length);
        if total < hlen {
            return Err(err("length shorter than header", 2));
        }
        let (teid, s) = if has_teid {
            (
                Some(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])),
                8,
            )
        } else {
            (None, 4)
        };
        let seq = (u32::from(buf[s]) << 16) | (u32::from(buf[s + 1]) << 8) | u32::from(buf[s + 2]);
        Ok(Gtpv2Message {
            header: Gtpv2Header {
                piggyback: b0 & FLAG_PIGGYBACK != 0,
                msg_type,
                length,
                teid,
                seq,
            },
            ies: IeArea::new(buf, hlen, total),
            rest: buf.get(total..).unwrap_or_default(),
        })
    }

    /// The piggybacked message, if the P flag says one follows.
    pub fn piggybacked(&self) -> Option<Result<Gtpv2Message<'a>, DecodeError>> {
        (self.header.piggyback && !self.rest.is_empty()).then(|| Gtpv2Message::parse(self.rest))
    }

    /// Top-level IEs; a bad IE length yields one error and ends the iteration.
    pub fn ies(&self) -> IeIter<'a> {
        self.ies.ies()
    }

    /// The first top-level IE of `kind` (any instance).
    pub fn find(&self, kind: u8) -> Option<Ie<'a>> {
        self.ies().map_while(Result::ok).find(|i| i.kind == kind)
    }
}

/// One information element: type, instance, value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ie<'a> {
    pub kind: u8,
    pub instance: u8,
    pub value: &'a [u8],
}

impl GtpWire for V2 {
    const VERSION: Version = Version::V2;
    type Message<'a> = Gtpv2Message<'a>;
    type Ie<'a> = Ie<'a>;

    /// Type, 16-bit length, spare and instance.
    fn ie_header(buf: &[u8]) -> Result<(usize, usize), &'static str> {
        if buf.len() < 4 {
            return Err("truncated IE header");
        }
        Ok((4, usize::from(u16::from_be_bytes([buf[1], buf[2]]))))
    }

    fn ie<'a>(header: &'a [u8], value: &'a [u8]) -> Ie<'a> {
        Ie {
            kind: header[0],
            instance: header[3] & 0x0f,
            value,
        }
    }
}

/// Iterator over type-length-instance IEs.
pub type IeIter<'a> = Ies<'a, V2>;

/// User Location Information (TS 29.274 §8.22), each element with its own PLMN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uli {
    pub cgi: Option<(Plmn, u16, u16)>,
    pub sai: Option<(Plmn, u16, u16)>,
    pub rai: Option<(Plmn, u16, u8)>,
    pub tai: Option<(Plmn, u16)>,
    pub ecgi: Option<(Plmn, u32)>,
    pub lai: Option<(Plmn, u16)>,
}

impl Uli {
    /// Decode the ULI value: a flags octet, then CGI, SAI, RAI, TAI, ECGI, LAI in that
    /// order when flagged. Elements that do not fit are left out.
    pub fn parse(v: &[u8]) -> Uli {
        let mut uli = Uli::default();
        let Some((&flags, mut rest)) = v.split_first() else {
            return uli;
        };
        let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        let mut take = |n: usize| -> Option<&[u8]> {
            let (a, b) = (rest.get(..n)?, rest.get(n..)?);
            rest = b;
            Some(a)
        };
        if flags & 0x01 != 0 {
            uli.cgi =
                take(7).and_then(|b| Some((Plmn::from_bcd(b)?, be16(&b[3..]), be16(&b[5..]))));
        }
        if flags & 0x02 != 0 {
            uli.sai =
                take(7).and_then(|b| Some((Plmn::from_bcd(b)?, be16(&b[3..]), be16(&b[5..]))));
        }
        if flags & 0x04 != 0 {
            uli.rai = take(7).and_then(|b| Some((Plmn::from_bcd(b)?, be16(&b[3..]), b[5])));
        }
        if flags & 0x08 != 0 {
            uli.tai = take(5).and_then(|b| Some((Plmn::from_bcd(b)?, be16(&b[3..]))));
        }
        if flags & 0x10 != 0 {
            uli.ecgi = take(7).and_then(|b| {
                let eci = u32::from_be_bytes([b[3], b[4], b[5], b[6]]) & 0x0fff_ffff;
                Some((Plmn::from_bcd(b)?, eci))
            });
        }
        if flags & 0x20 != 0 {
            uli.lai = take(5).and_then(|b| Some((Plmn::from_bcd(b)?, be16(&b[3..]))));
        }
        uli
    }

    /// The elements present, in the order [`Uli::parse`] reads them: CGI, SAI, RAI, TAI,
    /// ECGI, LAI.
    pub fn elements(&self) -> [Option<Location>; 6] {
        [
            self.cgi
                .map(|(plmn, lac, ci)| Location::Cgi { plmn, lac, ci }),
            self.sai
                .map(|(plmn, lac, sac)| Location::Sai { plmn, lac, sac }),
            self.rai
                .map(|(plmn, lac, rac)| Location::Rai { plmn, lac, rac }),
            self.tai.map(|(plmn, tac)| Location::Tai { plmn, tac }),
            self.ecgi.map(|(plmn, eci)| Location::Ecgi { plmn, eci }),
            self.lai.map(|(plmn, lac)| Location::Lai { plmn, lac }),
        ]
    }

    /// The finest element: cell (ECGI, CGI, SAI) before area (TAI, RAI, LAI).
    pub fn finest(&self) -> Option<Location> {
        let [cgi, sai, rai, tai, ecgi, lai] = self.elements();
        ecgi.or(cgi).or(sai).or(tai).or(rai).or(lai)
    }

    /// The ULI value: flags, then the present elements in the order [`Uli::parse`] reads.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![0];
        let mut flags = 0u8;
        if let Some((p, lac, ci)) = self.cgi {
            flags |= 0x01;
            out.extend_from_slice(&p.to_bcd());
            out.extend_from_slice(&lac.to_be_bytes());
            out.extend_from_slice(&ci.to_be_bytes());
        }
        if let Some((p, lac, sac)) = self.sai {
            flags |= 0x02;
            out.extend_from_slice(&p.to_bcd());
            out.extend_from_slice(&lac.to_be_bytes());
            out.extend_from_slice(&sac.to_be_bytes());
        }
        if let Some((p, lac, rac)) = self.rai {
            flags |= 0x04;
            out.extend_from_slice(&p.to_bcd());
            out.extend_from_slice(&lac.to_be_bytes());
            out.extend_from_slice(&[rac, 0xff]);
        }
        if let Some((p, tac)) = self.tai {
            flags |= 0x08;
            out.extend_from_slice(&p.to_bcd());
            out.extend_from_slice(&tac.to_be_bytes());
        }
        if let Some((p, eci)) = self.ecgi {
            flags |= 0x10;
            out.extend_from_slice(&p.to_bcd());
            out.extend_from_slice(&(eci & 0x0fff_ffff).to_be_bytes());
        }
        if let Some((p, lac)) = self.lai {
            flags |= 0x20;
            out.extend_from_slice(&p.to_bcd());
            out.extend_from_slice(&lac.to_be_bytes());
        }
        out[0] = flags;
        out
    }
}

/// The IEs of a GTPv2 message that locate its subscriber.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocationIes {
    pub serving: Option<Plmn>,
    pub uli: Option<Uli>,
}

/// What a GTPv2 message says about its subscriber.
pub type Gtpv2Fields = GtpFields<LocationIes>;

impl Gtpv2Fields {
    /// Extract the fields, each from the first top-level IE of its type that reads; IEs
    /// before a malformed one are kept, and the error returned.
    pub fn extract(msg: &Gtpv2Message<'_>) -> (Gtpv2Fields, Option<DecodeError>) {
        let mut f = Gtpv2Fields::default();
        let l = &mut f.location;
        let e = walk::visit(msg.ies(), |ie| match ie.kind {
            ie::IMSI if f.imsi.is_none() => f.imsi = Imsi::from_tbcd(ie.value).ok(),
            ie::MSISDN if f.msisdn.is_none() => f.msisdn = Msisdn::from_tbcd(ie.value).ok(),
            ie::SERVING_NETWORK if l.serving.is_none() => l.serving = Plmn::from_bcd(ie.value),
            ie::RAT_TYPE if f.rat.is_none() => f.rat = ie.value.first().copied(),
            ie::CAUSE if f.cause.is_none() => f.cause = ie.value.first().copied(),
            ie::ULI if l.uli.is_none() => l.uli = Some(Uli::parse(ie.value)),
            _ => {}
        });
        (f, e)
    }
}

/// The message as an inspect record (conformance schema).
pub fn record(msg: &Gtpv2Message<'_>, meta: &PacketMeta) -> Record {
    let (f, _) = Gtpv2Fields::extract(msg);
    let h = &msg.header;
    let mut r = f.record(meta, Proto::Gtpv2, h.msg_type, Some(h.seq), h.teid);
    r.plmn = f.location.serving.map(|p| p.to_string());
    for element in f.location.uli.iter().flat_map(Uli::elements).flatten() {
        r.locate(element);
    }
    r
}

/// An owned IE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IeRepr {
    pub kind: u8,
    pub instance: u8,
    pub value: Vec<u8>,
}

impl IeRepr {
    /// Type, length, spare and instance, value.
    fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        out.extend_from_slice(&(self.value.len() as u16).to_be_bytes());
        out.push(self.instance & 0x0f);
        out.extend_from_slice(&self.value);
    }
}

impl From<Ie<'_>> for IeRepr {
    fn from(ie: Ie<'_>) -> IeRepr {
        IeRepr {
            kind: ie.kind,
            instance: ie.instance,
            value: ie.value.to_vec(),
        }
    }
}

/// An owned GTPv2-C message, for building fixtures; `emit` and `parse` are inverse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gtpv2Repr {
    pub msg_type: u8,
    pub teid: Option<u32>,
    pub seq: u32,
    pub ies: Vec<IeRepr>,
}

impl Gtpv2Repr {
    pub fn parse(buf: &[u8]) -> Result<Gtpv2Repr, DecodeError> {
        let m = Gtpv2Message::parse(buf)?;
        let Gtpv2Header {
            msg_type,
            teid,
            seq,
            ..
        } = m.header;
        let ies = m.ies().owned()?;
        Ok(Gtpv2Repr {
            msg_type,
            teid,
            seq,
            ies,
        })
    }

    /// The message bytes; `piggyback` sets the P flag (another message follows).
    pub fn emit(&self, piggyback: bool) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(12 + self.ies.iter().map(|i| 4 + i.value.len()).sum::<usize>());
        let flags = 0x40
            | if piggyback { FLAG_PIGGYBACK } else { 0 }
            | if self.teid.is_some() { FLAG_TEID } else { 0 };
        out.extend_from_slice(&[flags, self.msg_type, 0, 0]);
        if let Some(t) = self.teid {
            out.extend_from_slice(&t.to_be_bytes());
        }
        out.extend_from_slice(&(self.seq & 0x00ff_ffff).to_be_bytes()[1..]);
        out.push(0);
        for ie in &self.ies {
            ie.emit(&mut out);
        }
        header::set_length(&mut out, 4);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta() -> PacketMeta {
        PacketMeta {
            file: 0,
            frame: 39,
            ts_us: 1_620_245_312_174_559,
        }
    }

    #[test]
    fn magma_create_session_request_record() {
        // The fields of magma-inbound-roaming-01 frame 39, rebuilt with our encoder.
        let ies = vec![
            IeRepr {
                kind: ie::IMSI,
                instance: 0,
                value: Imsi::parse("001020000000064").unwrap().to_tbcd(),
            },
            IeRepr {
                kind: ie::MSISDN,
                instance: 0,
                value: Msisdn::parse("0012000").unwrap().to_tbcd(),
            },
            IeRepr {
                kind: ie::ULI,
                instance: 0,
                value: vec![0x18, 0x00, 0x11, 0x00, 0, 1, 0x00, 0x11, 0x00, 0, 0, 0, 1],
            },
            IeRepr {
                kind: ie::SERVING_NETWORK,
                instance: 0,
                value: vec![0x00, 0xf1, 0x10],
            },
            IeRepr {
                kind: ie::RAT_TYPE,
                instance: 0,
                value: vec![6],
            },
            IeRepr {
                kind: 93,
                instance: 0,
                value: vec![0x49, 0, 1, 5, 2, ie::CAUSE, 0, 2, 0, 99, 0],
            },
        ];
        let m = Gtpv2Repr {
            msg_type: 32,
            teid: Some(0),
            seq: 11,
            ies,
        };
        let bytes = m.emit(false);
        let rec = record(&Gtpv2Message::parse(&bytes).unwrap(), &meta());
        let got = serde_json::to_value(&rec).unwrap();
        let want: serde_json::Value = serde_json::from_str(
            r#"{"frame":39,"ts_us":1620245312174559,"proto":"gtpv2","type":32,"seq":11,"teid":0,"imsi":"001020000000064","msisdn":"0012000","plmn":"001-01","rat":6,"tai":{"plmn":"001-001","tac":1},"ecgi":{"plmn":"001-001","eci":1}}"#,
        )
        .unwrap();
        assert_eq!(got, want);
        assert_eq!(Gtpv2Repr::parse(&bytes).unwrap(), m);
    }

    #[test]
    fn piggybacked_and_uli_variants() {
        let echo = Gtpv2Repr {
            msg_type: 1,
            teid: None,
            seq: 7,
            ies: vec![],
        };
        let resp = Gtpv2Repr {
            msg_type: 33,
            teid: Some(9),
            seq: 8,
            ies: vec![],
        };
        let mut bytes = echo.emit(true);
        bytes.extend(resp.emit(false));
        let m = Gtpv2Message::parse(&bytes).unwrap();
        assert_eq!(m.header.teid, None);
        let p = m.piggybacked().unwrap().unwrap();
        assert_eq!(
            (p.header.msg_type, p.header.teid, p.header.seq),
            (33, Some(9), 8)
        );
        assert!(p.piggybacked().is_none());

        let plmn = [0x62, 0xf2, 0x10];
        let mut v = vec![0x27];
        for extra in [&[0, 1, 0, 2][..], &[0, 3, 0, 4], &[0, 5, 6, 0xff], &[0, 7]] {
            v.extend_from_slice(&plmn);
            v.extend_from_slice(extra);
        }
        v.extend_from_slice(&plmn);
        v.extend_from_slice(&[0, 8]);
        let u = Uli::parse(&v);
        let p = Plmn::new(262, 1, 2);
        assert_eq!(u.cgi, Some((p, 1, 2)));
        assert_eq!(u.sai, Some((p, 3, 4)));
        assert_eq!(u.rai, Some((p, 5, 6)));
        assert_eq!(u.tai, None);
        assert_eq!(u.lai, Some((p, 7)), "the trailing bytes are not an element");
    }

    #[test]
    fn bad_lengths_are_errors() {
        let long = Gtpv2Message::parse(&[0x48, 32, 0, 200, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap();
        assert_eq!(long.header.seq, 1);
        assert_eq!(
            long.ies().next().unwrap().unwrap_err().reason,
            "message length beyond datagram"
        );
        assert!(Gtpv2Repr::parse(&[0x48, 32, 0, 200, 0, 0, 0, 0, 0, 0, 1, 0]).is_err());
        assert!(Gtpv2Message::parse(&[0x48, 32, 0, 2, 0, 0, 0, 0]).is_err());
        let m = Gtpv2Message::parse(&[0x40, 1, 0, 8, 0, 0, 1, 0, 3, 0, 9, 0]).unwrap();
        let (_, e) = Gtpv2Fields::extract(&m);
        assert_eq!(e.map(|e| e.reason), Some("IE length beyond message"));
    }

    proptest! {
        #[test]
        fn round_trip(msg_type: u8, teid: Option<u32>, seq in 0u32..1 << 24,
                      ies in proptest::collection::vec((any::<u8>(), 0u8..16, proptest::collection::vec(any::<u8>(), 0..40)), 0..8)) {
            let m = Gtpv2Repr { msg_type, teid, seq, ies: ies.into_iter().map(|(kind, instance, value)| IeRepr { kind, instance, value }).collect() };
            prop_assert_eq!(Gtpv2Repr::parse(&m.emit(false)).unwrap(), m);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(m) = Gtpv2Message::parse(&bytes) {
                let _ = record(&m, &meta());
                if let Some(Ok(p)) = m.piggybacked() {
                    let _ = record(&p, &meta());
                }
            }
        }
    }
}
