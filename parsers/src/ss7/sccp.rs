//! SCCP connectionless messages (ITU-T Q.713): UDT, XUDT, LUDT and their service
//! returns, called/calling party addresses with global titles, and reassembly of
//! segmented XUDT/LUDT (Q.714 §4.1.1).
//!
//! Connection-oriented classes carry no MAP and are reported as skipped.

use ahash::AHashMap as HashMap;
use std::collections::VecDeque;

use crate::error::{DecodeError, Layer};
use crate::signal::TimestampUs;
use crate::ss7::sigtran::mtp3::RoutingLabel;
use crate::types::Digits;

pub const UDT: u8 = 0x09;
pub const UDTS: u8 = 0x0a;
pub const XUDT: u8 = 0x11;
pub const XUDTS: u8 = 0x12;
pub const LUDT: u8 = 0x13;
pub const LUDTS: u8 = 0x14;
/// Optional parameter: segmentation (Q.713 §3.17).
const PARAM_SEGMENTATION: u8 = 0x10;
const PARAM_END: u8 = 0x00;

/// Global-title digits (up to 24, Q.713 allows more than E.164's 15).
pub type GtDigits = Digits<24>;

fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Sccp, reason, offset)
}

/// A global title (Q.713 §3.4.2.3). Fields a format does not have are `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalTitle {
    /// Global title indicator (1-4).
    pub gti: u8,
    pub translation_type: Option<u8>,
    pub numbering_plan: Option<u8>,
    pub nature_of_address: Option<u8>,
    /// `None` when the digits are not decimal (filler codes in the middle).
    pub digits: Option<GtDigits>,
}

/// A called or calling party address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SccpAddress {
    /// Route on SSN (true) or on global title (false).
    pub route_on_ssn: bool,
    pub point_code: Option<u16>,
    pub ssn: Option<u8>,
    pub gt: Option<GlobalTitle>,
}

/// BCD digits, low nibble first; `odd` drops the last high nibble. `None` when a nibble
/// is not decimal or there are more than 24 digits.
fn bcd_digits(bytes: &[u8], odd: bool) -> Option<GtDigits> {
    let n = (bytes.len().min(24) * 2).saturating_sub(usize::from(odd));
    GtDigits::from_bcd(bytes, n)
}

fn emit_bcd(digits: &GtDigits) -> Vec<u8> {
    digits
        .as_bytes()
        .chunks(2)
        .map(|p| (p[0] - b'0') | (p.get(1).map_or(0, |c| c - b'0') << 4))
        .collect()
}

impl SccpAddress {
    /// Parse the address value (after its length octet).
    pub fn parse(v: &[u8]) -> Result<SccpAddress, DecodeError> {
        let ai = *v.first().ok_or(err("empty party address", 0))?;
        let mut at = 1;
        let mut addr = SccpAddress {
            route_on_ssn: ai & 0x40 != 0,
            ..SccpAddress::default()
        };
        if ai & 0x01 != 0 {
            let pc = v.get(at..at + 2).ok_or(err("truncated point code", at))?;
            addr.point_code = Some(u16::from_le_bytes([pc[0], pc[1]]) & 0x3fff);
            at += 2;
        }
        if ai & 0x02 != 0 {
            addr.ssn = Some(*v.get(at).ok_or(err("truncated subsystem number", at))?);
            at += 1;
        }
        let gti = (ai >> 2) & 0x0f;
        let need = |n: usize| v.get(at..at + n).ok_or(err("truncated global title", at));
        addr.gt = match gti {
            0 => None,
            1 => {
                let h = need(1)?;
                let odd = h[0] & 0x80 != 0;
                Some(GlobalTitle {
                    gti,
                    translation_type: None,
                    numbering_plan: None,
                    nature_of_address: Some(h[0] & 0x7f),
                    digits: bcd_digits(&v[at + 1..], odd),
                })
            }
            2 => {
                let h = need(1)?;
                Some(GlobalTitle {
                    gti,
                    translation_type: Some(h[0]),
                    numbering_plan: None,
                    nature_of_address: None,
                    digits: bcd_digits(&v[at + 1..], false),
                })
            }
            3 | 4 => {
                let n = if gti == 3 { 2 } else { 3 };
                let h = need(n)?;
                let odd = h[1] & 0x0f == 1;
                Some(GlobalTitle {
                    gti,
                    translation_type: Some(h[0]),
                    numbering_plan: Some(h[1] >> 4),
                    nature_of_address: (gti == 4).then_some(h.get(2).copied().unwrap_or(0) & 0x7f),
                    digits: bcd_digits(&v[at + n..], odd),
                })
            }
            _ => return Err(err("reserved global title indicator", 0)),
        };
        Ok(addr)
    }

    /// The address value (without its length octet).
    pub fn emit(&self) -> Vec<u8> {
        let gti = self.gt.map_or(0, |g| g.gti & 0x0f);
        let mut ai = (gti << 2) | if self.route_on_ssn { 0x40 } else { 0 };
        let mut out = vec![0];
        if let Some(pc) = self.point_code {
            ai |= 0x01;
            out.extend_from_slice(&(pc & 0x3fff).to_le_bytes());
        }
        if let Some(ssn) = self.ssn {
            ai |= 0x02;
            out.push(ssn);
        }
        out[0] = ai;
        if let Some(g) = self.gt {
            let digits = g.digits.map(|d| emit_bcd(&d)).unwrap_or_default();
            let odd = g.digits.is_some_and(|d| d.len() % 2 == 1);
            match g.gti {
                1 => out.push(g.nature_of_address.unwrap_or(0) | if odd { 0x80 } else { 0 }),
                2 => out.push(g.translation_type.unwrap_or(0)),
                3 | 4 => {
                    out.push(g.translation_type.unwrap_or(0));
                    out.push((g.numbering_plan.unwrap_or(0) << 4) | if odd { 1 } else { 2 });
                    if g.gti == 4 {
                        out.push(g.nature_of_address.unwrap_or(0));
                    }
                }
                _ => {}
            }
            out.extend_from_slice(&digits);
        }
        out
    }

    /// An E.164 global title (GTI 4, TT 0, numbering plan E.164, international).
    pub fn e164(ssn: u8, digits: &str) -> SccpAddress {
        SccpAddress {
            route_on_ssn: false,
            point_code: None,
            ssn: Some(ssn),
            gt: Some(GlobalTitle {
                gti: 4,
                translation_type: Some(0),
                numbering_plan: Some(1),
                nature_of_address: Some(4),
                digits: GtDigits::parse(digits).ok(),
            }),
        }
    }

    /// The global title digits, if any.
    pub fn digits(&self) -> Option<&GtDigits> {
        self.gt.as_ref()?.digits.as_ref()
    }
}

/// The segmentation parameter of an XUDT/LUDT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segmentation {
    pub first: bool,
    pub in_sequence: bool,
    pub remaining: u8,
    pub local_reference: u32,
}

/// A view of one connectionless SCCP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SccpMessage<'a> {
    pub msg_type: u8,
    pub protocol_class: Option<u8>,
    /// Return cause of UDTS/XUDTS/LUDTS.
    pub return_cause: Option<u8>,
    pub called: SccpAddress,
    pub calling: SccpAddress,
    pub data: &'a [u8],
    pub segmentation: Option<Segmentation>,
}

/// The variable part whose pointer (1 octet, or 2 in LUDT) is at `at`: (offset of the
/// value, its length). Address lengths are one octet in every message type.
fn variable(buf: &[u8], at: usize, long: bool) -> Result<(usize, usize), DecodeError> {
    let ptr = if long {
        let p = buf.get(at..at + 2).ok_or(err("truncated pointer", at))?;
        usize::from(u16::from_le_bytes([p[0], p[1]]))
    } else {
        usize::from(*buf.get(at).ok_or(err("truncated pointer", at))?)
    };
    if ptr == 0 {
        return Err(err("mandatory pointer is zero", at));
    }
    let start = at + ptr;
    let len = usize::from(*buf.get(start).ok_or(err("pointer past end", at))?);
    if buf.len() < start + 1 + len {
        return Err(err("parameter length past end", start));
    }
    Ok((start + 1, len))
}

impl<'a> SccpMessage<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<SccpMessage<'a>, DecodeError> {
        let msg_type = *buf.first().ok_or(err("empty SCCP message", 0))?;
        // Offsets of: the first pointer, and whether pointers are 2 octets (LUDT).
        let (first_ptr, long, has_optional) = match msg_type {
            UDT | UDTS => (2, false, false),
            XUDT | XUDTS => (3, false, true),
            LUDT | LUDTS => (3, true, true),
            _ => return Err(err("not a connectionless SCCP message", 0)),
        };
        if buf.len() < first_ptr {
            return Err(err("truncated fixed part", 0));
        }
        let (protocol_class, return_cause) = match msg_type {
            UDT | XUDT | LUDT => (Some(buf[1] & 0x0f), None),
            _ => (None, Some(buf[1])),
        };
        let w = if long { 2 } else { 1 };
        let (ca, cl) = variable(buf, first_ptr, long)?;
        let called = SccpAddress::parse(&buf[ca..ca + cl]).map_err(|e| e.shifted(ca))?;
        let (ga, gl) = variable(buf, first_ptr + w, long)?;
        let calling = SccpAddress::parse(&buf[ga..ga + gl]).map_err(|e| e.shifted(ga))?;
        let data_ptr_at = first_ptr + 2 * w;
        let data = if long {
            let p = buf
                .get(data_ptr_at..data_ptr_at + 2)
                .ok_or(err("truncated pointer", data_ptr_at))?;
            let start = data_ptr_at + usize::from(u16::from_le_bytes([p[0], p[1]]));
            let l = buf
                .get(start..start + 2)
                .ok_or(err("pointer past end", data_ptr_at))?;
            let len = usize::from(u16::from_le_bytes([l[0], l[1]]));
            buf.get(start + 2..start + 2 + len)
                .ok_or(err("data length past end", start))?
        } else {
            let (da, dl) = variable(buf, data_ptr_at, false)?;
            &buf[da..da + dl]
        };
        let mut segmentation = None;
        if has_optional {
            let opt_at = data_ptr_at + w;
            let ptr = if long {
                buf.get(opt_at..opt_at + 2)
                    .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])))
            } else {
                buf.get(opt_at).map(|&p| usize::from(p))
            }
            .ok_or(err("truncated optional pointer", opt_at))?;
            if ptr != 0 {
                let mut at = opt_at + ptr;
                while let Some(&kind) = buf.get(at) {
                    if kind == PARAM_END {
                        break;
                    }
                    let len = usize::from(
                        *buf.get(at + 1)
                            .ok_or(err("truncated optional parameter", at))?,
                    );
                    let v = buf
                        .get(at + 2..at + 2 + len)
                        .ok_or(err("optional parameter past end", at))?;
                    if kind == PARAM_SEGMENTATION {
                        if v.len() != 4 {
                            return Err(err("segmentation parameter is not 4 octets", at));
                        }
                        segmentation = Some(Segmentation {
                            first: v[0] & 0x80 != 0,
                            in_sequence: v[0] & 0x40 != 0,
                            remaining: v[0] & 0x0f,
                            local_reference: u32::from_be_bytes([0, v[1], v[2], v[3]]),
                        });
                    }
                    at += 2 + len;
                }
            }
        }
        Ok(SccpMessage {
            msg_type,
            protocol_class,
            return_cause,
            called,
            calling,
            data,
            segmentation,
        })
    }

    /// Is this a service return (the data is a message that could not be delivered)?
    pub fn is_return(&self) -> bool {
        matches!(self.msg_type, UDTS | XUDTS | LUDTS)
    }

    pub fn name(&self) -> &'static str {
        message_name(self.msg_type)
    }
}

/// The name of an SCCP message type (Q.713 Table 1).
pub fn message_name(t: u8) -> &'static str {
    match t {
        0x01 => "CR",
        0x02 => "CC",
        0x03 => "CREF",
        0x04 => "RLSD",
        0x05 => "RLC",
        0x06 => "DT1",
        0x07 => "DT2",
        0x08 => "AK",
        UDT => "UDT",
        UDTS => "UDTS",
        0x0b => "ED",
        0x0c => "EA",
        0x0d => "RSR",
        0x0e => "RSC",
        0x0f => "ERR",
        0x10 => "IT",
        XUDT => "XUDT",
        XUDTS => "XUDTS",
        LUDT => "LUDT",
        LUDTS => "LUDTS",
        _ => "unknown",
    }
}

/// An owned UDT or XUDT; `emit` writes it, [`SccpMessage::parse`] reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SccpRepr {
    pub msg_type: u8,
    pub protocol_class: u8,
    pub hop_counter: u8,
    pub called: SccpAddress,
    pub calling: SccpAddress,
    pub data: Vec<u8>,
    pub segmentation: Option<Segmentation>,
}

impl SccpRepr {
    /// A class-1 UDT (in-sequence delivery, as MAP dialogues use).
    pub fn udt(called: SccpAddress, calling: SccpAddress, data: Vec<u8>) -> SccpRepr {
        SccpRepr {
            msg_type: UDT,
            protocol_class: 1,
            hop_counter: 15,
            called,
            calling,
            data,
            segmentation: None,
        }
    }

    pub fn emit(&self) -> Vec<u8> {
        let called = self.called.emit();
        let calling = self.calling.emit();
        let mut out = vec![self.msg_type, self.protocol_class];
        let xudt = self.msg_type == XUDT;
        if xudt {
            out.push(self.hop_counter);
        }
        let n_ptr = if xudt { 4 } else { 3 };
        // Pointers count from their own octet.
        let p_called = n_ptr;
        let p_calling = p_called - 1 + 1 + called.len();
        let p_data = p_calling - 1 + 1 + calling.len();
        out.push(p_called as u8);
        out.push(p_calling as u8);
        out.push(p_data as u8);
        let p_opt = if xudt && self.segmentation.is_some() {
            Some(p_data - 1 + 1 + self.data.len())
        } else {
            None
        };
        if xudt {
            out.push(p_opt.unwrap_or(0) as u8);
        }
        for v in [&called, &calling, &self.data] {
            out.push(v.len() as u8);
            out.extend_from_slice(v);
        }
        if let Some(s) = self.segmentation.filter(|_| xudt) {
            let r = s.local_reference.to_be_bytes();
            out.extend_from_slice(&[
                PARAM_SEGMENTATION,
                4,
                (if s.first { 0x80 } else { 0 })
                    | (if s.in_sequence { 0x40 } else { 0 })
                    | (s.remaining & 0x0f),
                r[1],
                r[2],
                r[3],
                PARAM_END,
            ]);
        }
        out
    }
}

/// Counters of segment reassembly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    pub reassembled: u64,
    /// Segments dropped: out of order, missing first segment, too large, or timed out.
    pub dropped: u64,
}

struct Partial {
    first_ts: TimestampUs,
    remaining: u8,
    data: Vec<u8>,
}

/// (OPC, DPC, calling GT, calling SSN, local reference). Not the SLS: segments of one
/// message are spread over links (pcapr-dump).
type SegKey = (u32, u32, Option<GtDigits>, Option<u8>, u32);

/// Reassembles segmented XUDT/LUDT user data, keyed by point codes, calling party and
/// local reference; bounded in count, size and time.
pub struct SccpReassembler {
    pending: HashMap<SegKey, Partial>,
    order: VecDeque<(TimestampUs, SegKey)>,
    timeout_us: i64,
    max_pending: usize,
    max_len: usize,
    pub stats: ReassemblyStats,
}

impl Default for SccpReassembler {
    fn default() -> Self {
        SccpReassembler {
            pending: HashMap::new(),
            order: VecDeque::new(),
            timeout_us: 30_000_000,
            max_pending: 65_536,
            max_len: 1 << 16,
            stats: ReassemblyStats::default(),
        }
    }
}

/// What a message's user data amounts to after reassembly.
pub enum Reassembled<'a> {
    /// Not segmented, or a single segment: the data as is.
    Whole(&'a [u8]),
    /// The last segment completed this user data.
    Complete(Vec<u8>),
    /// A segment was stored; more are needed.
    Pending,
    /// The segment could not be placed (error says why).
    Dropped(DecodeError),
}

impl SccpReassembler {
    pub fn push<'a>(
        &mut self,
        ts: TimestampUs,
        label: RoutingLabel,
        msg: &SccpMessage<'a>,
    ) -> Reassembled<'a> {
        self.expire(ts);
        let Some(seg) = msg.segmentation else {
            return Reassembled::Whole(msg.data);
        };
        if seg.first && seg.remaining == 0 {
            return Reassembled::Whole(msg.data);
        }
        let key = (
            label.opc,
            label.dpc,
            msg.calling.digits().copied(),
            msg.calling.ssn,
            seg.local_reference,
        );
        if seg.first {
            if self.pending.len() >= self.max_pending {
                self.stats.dropped += self.pending.len() as u64;
                self.pending.clear();
                self.order.clear();
            }
            let old = self.pending.insert(
                key,
                Partial {
                    first_ts: ts,
                    remaining: seg.remaining,
                    data: msg.data.to_vec(),
                },
            );
            if old.is_some() {
                self.stats.dropped += 1;
            }
            self.order.push_back((ts, key));
            return Reassembled::Pending;
        }
        let Some(p) = self.pending.get_mut(&key) else {
            self.stats.dropped += 1;
            return Reassembled::Dropped(err("segment without its first segment", 0));
        };
        if seg.remaining + 1 != p.remaining || p.data.len() + msg.data.len() > self.max_len {
            self.pending.remove(&key);
            self.stats.dropped += 1;
            return Reassembled::Dropped(err("segment out of sequence or too large", 0));
        }
        p.remaining = seg.remaining;
        p.data.extend_from_slice(msg.data);
        if seg.remaining == 0 {
            self.stats.reassembled += 1;
            let p = self
                .pending
                .remove(&key)
                .map(|p| p.data)
                .unwrap_or_default();
            return Reassembled::Complete(p);
        }
        Reassembled::Pending
    }

    fn expire(&mut self, now: TimestampUs) {
        while let Some(&(ts, key)) = self.order.front() {
            if now - ts < self.timeout_us {
                break;
            }
            self.order.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.first_ts == ts) {
                self.pending.remove(&key);
                self.stats.dropped += 1;
            }
        }
    }

    /// End of input: partial user data left over is counted as dropped.
    pub fn finish(&mut self) {
        self.stats.dropped += self.pending.len() as u64;
        self.pending.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn label() -> RoutingLabel {
        RoutingLabel {
            opc: 1,
            dpc: 2,
            sls: 0,
        }
    }

    #[test]
    fn udt_round_trip_with_global_titles() {
        let repr = SccpRepr::udt(
            SccpAddress::e164(6, "447785000685"),
            SccpAddress::e164(7, "4477850006851"),
            b"tcap".to_vec(),
        );
        let wire = repr.emit();
        let m = SccpMessage::parse(&wire).unwrap();
        assert_eq!(m.msg_type, UDT);
        assert_eq!(m.protocol_class, Some(1));
        assert_eq!(m.called, repr.called);
        assert_eq!(m.calling, repr.calling);
        assert_eq!(m.calling.digits().unwrap().as_str(), "4477850006851");
        assert_eq!(m.data, b"tcap");
        assert_eq!(m.name(), "UDT");
    }

    #[test]
    fn xudt_segments_reassemble_in_order_only() {
        let mut r = SccpReassembler::default();
        let parts: [&[u8]; 3] = [b"abc", b"def", b"gh"];
        let mut out = None;
        for (i, p) in parts.iter().enumerate() {
            let repr = SccpRepr {
                msg_type: XUDT,
                protocol_class: 0x81,
                hop_counter: 15,
                called: SccpAddress::e164(6, "44"),
                calling: SccpAddress::e164(7, "45"),
                data: p.to_vec(),
                segmentation: Some(Segmentation {
                    first: i == 0,
                    in_sequence: true,
                    remaining: 2 - i as u8,
                    local_reference: 0x0a0b0c,
                }),
            };
            let wire = repr.emit();
            let m = SccpMessage::parse(&wire).unwrap();
            assert_eq!(m.segmentation, repr.segmentation);
            match r.push(i as i64, label(), &m) {
                Reassembled::Complete(d) => out = Some(d),
                Reassembled::Pending => {}
                _ => panic!("unexpected"),
            }
        }
        assert_eq!(out.as_deref(), Some(&b"abcdefgh"[..]));
        assert_eq!(r.stats.reassembled, 1);
        // A lone middle segment is dropped, not glued onto anything.
        let repr = SccpRepr {
            msg_type: XUDT,
            protocol_class: 0,
            hop_counter: 15,
            called: SccpAddress::e164(6, "44"),
            calling: SccpAddress::e164(7, "45"),
            data: b"x".to_vec(),
            segmentation: Some(Segmentation {
                first: false,
                in_sequence: false,
                remaining: 1,
                local_reference: 1,
            }),
        };
        let wire = repr.emit();
        let m = SccpMessage::parse(&wire).unwrap();
        assert!(matches!(r.push(9, label(), &m), Reassembled::Dropped(_)));
    }

    #[test]
    fn pointers_past_the_end_are_errors() {
        assert!(SccpMessage::parse(&[UDT, 0, 3, 4, 200]).is_err());
        assert!(SccpMessage::parse(&[UDT, 0, 0, 4, 5]).is_err());
        assert!(SccpMessage::parse(&[0x06, 0]).is_err());
        assert!(SccpMessage::parse(&[]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(m) = SccpMessage::parse(&data) {
                let mut r = SccpReassembler::default();
                let _ = r.push(0, label(), &m);
            }
        }

        #[test]
        fn bcd_digits_as_through_ascii(
            bytes in proptest::collection::vec(any::<u8>(), 0..30),
            odd in any::<bool>(),
        ) {
            // The former implementation: nibbles to ASCII ('?' when not decimal), then
            // `from_ascii`.
            let mut ascii = Vec::new();
            for &b in bytes.iter().take(24) {
                for nibble in [b & 0x0f, b >> 4] {
                    ascii.push(if nibble <= 9 { b'0' + nibble } else { b'?' });
                }
            }
            if odd {
                ascii.pop();
            }
            prop_assert_eq!(bcd_digits(&bytes, odd), GtDigits::from_ascii(&ascii).ok());
        }

        #[test]
        fn address_round_trip(ssn in any::<u8>(), digits in "[0-9]{1,15}") {
            let a = SccpAddress::e164(ssn, &digits);
            prop_assert_eq!(SccpAddress::parse(&a.emit()).unwrap(), a);
        }
    }
}
