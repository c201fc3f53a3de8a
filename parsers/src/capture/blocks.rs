//! How a capture file's records read: the format its magic announces, pcapng interfaces
//! (link type, timestamp resolution and offset), per-file state, timestamps to µs, and
//! the errors of opening and reading.

use super::*;
use crate::flow::PacketMeta;
use pcap_parser::{Block, PcapBlockOwned, PcapError};
use std::borrow::Cow;
use std::io::{self, Read};

pub(super) const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
pub(super) const PCAPNG_OBSOLETE_PB: u32 = 2;
pub(super) const OPT_IF_TSRESOL: u16 = 9;
pub(super) const OPT_IF_TSOFFSET: u16 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Pcap { big_endian: bool, modified: bool },
    PcapNg,
}

/// Interface parameters from a pcapng IDB, needed to interpret its packets.
#[derive(Clone, Copy, Debug)]
pub(super) struct Iface {
    pub(super) linktype: u32,
    pub(super) snaplen: u32,
    /// Timestamp units per second.
    pub(super) units_per_sec: u128,
    /// Seconds added to every timestamp (if_tsoffset).
    pub(super) offset_s: i64,
}

/// Per-file decoding state, kept apart from the reader so a block borrowed from the reader's
/// buffer can be interpreted while the reader is borrowed.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) file_index: u16,
    pub(super) frames: u64,
    /// Added to every frame's timestamp: the correction for a probe whose clock is off.
    pub(super) clock_offset_us: i64,
    /// Added on top for the packets of these pcapng interfaces (by interface id).
    pub(super) iface_clock_offsets: Vec<(u32, i64)>,
    /// Classic pcap: link type and whether the fractional timestamp is in ns.
    pub(super) legacy: Option<(u32, bool)>,
    pub(super) ifaces: Vec<Iface>,
    pub(super) big_endian: bool,
}

pub(super) type Failure = (CaptureErrorKind, &'static str);

impl State {
    /// The clock correction of pcapng interface `if_id` beyond the file's.
    pub(super) fn iface_offset(&self, if_id: u32) -> i64 {
        self.iface_clock_offsets
            .iter()
            .find(|(i, _)| *i == if_id)
            .map_or(0, |&(_, us)| us)
    }

    pub(super) fn next_meta(&mut self, ts_us: i64) -> PacketMeta {
        self.frames += 1;
        PacketMeta {
            file: self.file_index,
            frame: self.frames,
            ts_us: ts_us.saturating_add(self.clock_offset_us),
        }
    }

    /// Interpret one block; data blocks become frames, others update the state.
    pub(super) fn handle(&mut self, block: PcapBlockOwned<'_>) -> Result<Option<Head>, Failure> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                // Upper bits of the link-type field carry FCS information, not the type.
                let linktype = (h.network.0 as u32) & 0xFFFF;
                self.legacy = Some((linktype, h.is_nanosecond_precision()));
                Ok(None)
            }
            PcapBlockOwned::Legacy(b) => {
                let (linktype, nanos) = self
                    .legacy
                    .ok_or((CaptureErrorKind::Corrupt, "record before file header"))?;
                let frac = if nanos {
                    i64::from(b.ts_usec) / 1000
                } else {
                    i64::from(b.ts_usec)
                };
                let ts_us = i64::from(b.ts_sec) * 1_000_000 + frac;
                let meta = self.next_meta(ts_us);
                Ok(Some(Head::new(meta, linktype, b.data, b.origlen)))
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                // Interface ids are scoped to their section.
                self.ifaces.clear();
                self.big_endian = shb.big_endian();
                Ok(None)
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let mut tsresol = 6u8;
                let mut offset_s = 0i64;
                for opt in &idb.options {
                    let v = opt.value();
                    if opt.code.0 == OPT_IF_TSRESOL {
                        if let Some(&r) = v.first() {
                            tsresol = r;
                        }
                    } else if opt.code.0 == OPT_IF_TSOFFSET {
                        if let Some(b) = v.get(..8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                            offset_s = if self.big_endian {
                                i64::from_be_bytes(b)
                            } else {
                                i64::from_le_bytes(b)
                            };
                        }
                    }
                }
                let units_per_sec = ts_units_per_sec(tsresol)
                    .ok_or((CaptureErrorKind::Corrupt, "invalid if_tsresol"))?;
                self.ifaces.push(Iface {
                    linktype: u32::from(idb.linktype.0 as u16),
                    snaplen: idb.snaplen,
                    units_per_sec,
                    offset_s,
                });
                Ok(None)
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => self
                .enhanced_packet(
                    epb.if_id,
                    epb.ts_high,
                    epb.ts_low,
                    epb.caplen,
                    epb.data,
                    epb.origlen,
                )
                .map(Some),
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let iface = *self.ifaces.first().ok_or((
                    CaptureErrorKind::Corrupt,
                    "simple packet without an interface",
                ))?;
                // An SPB's captured length is implicit: the wire length, capped by the snap length.
                let mut caplen = (spb.origlen as usize).min(spb.data.len());
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                let data = spb.data.get(..caplen).unwrap_or(spb.data);
                // SPBs carry no timestamp; like Wireshark, report time 0.
                let meta = self.next_meta(0);
                Ok(Some(Head::new(meta, iface.linktype, data, spb.origlen)))
            }
            PcapBlockOwned::NG(Block::Unknown(u))
                if u.block_type == PCAPNG_OBSOLETE_PB
                    || u.block_type.swap_bytes() == PCAPNG_OBSOLETE_PB =>
            {
                self.obsolete_packet(u.data).map(Some)
            }
            PcapBlockOwned::NG(_) => Ok(None),
        }
    }

    /// An Enhanced Packet Block's fields (`data` is its padded packet data).
    pub(super) fn enhanced_packet(
        &mut self,
        if_id: u32,
        ts_high: u32,
        ts_low: u32,
        caplen: u32,
        data: &[u8],
        orig_len: u32,
    ) -> Result<Head, Failure> {
        let iface = *usize::try_from(if_id)
            .ok()
            .and_then(|i| self.ifaces.get(i))
            .ok_or((
                CaptureErrorKind::Corrupt,
                "packet on an undeclared interface",
            ))?;
        let units = (u64::from(ts_high) << 32) | u64::from(ts_low);
        let ts_us = ts_to_us(units, &iface)?.saturating_add(self.iface_offset(if_id));
        let caplen = (caplen as usize).min(data.len());
        let data = data.get(..caplen).unwrap_or(data);
        let meta = self.next_meta(ts_us);
        Ok(Head::new(meta, iface.linktype, data, orig_len))
    }

    /// The obsolete Packet Block (type 2): like an EPB with a 16-bit interface id and a drops
    /// count. `pcap-parser` leaves it unparsed; its body layout is fixed, so read it here.
    pub(super) fn obsolete_packet(&mut self, body: &[u8]) -> Result<Head, Failure> {
        const BAD: Failure = (CaptureErrorKind::Corrupt, "malformed obsolete packet block");
        let be = self.big_endian;
        let u16_at = |o: usize| -> Option<u16> {
            let b: [u8; 2] = body.get(o..o + 2)?.try_into().ok()?;
            Some(if be {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        let u32_at = |o: usize| -> Option<u32> {
            let b: [u8; 4] = body.get(o..o + 4)?.try_into().ok()?;
            Some(if be {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let if_id = u16_at(0).ok_or(BAD)?;
        let ts_high = u32_at(4).ok_or(BAD)?;
        let ts_low = u32_at(8).ok_or(BAD)?;
        let caplen = u32_at(12).ok_or(BAD)? as usize;
        let orig_len = u32_at(16).ok_or(BAD)?;
        let data = body.get(20..20usize.saturating_add(caplen)).ok_or(BAD)?;
        let iface = *self.ifaces.get(usize::from(if_id)).ok_or((
            CaptureErrorKind::Corrupt,
            "packet on an undeclared interface",
        ))?;
        let ts_us = ts_to_us((u64::from(ts_high) << 32) | u64::from(ts_low), &iface)?
            .saturating_add(self.iface_offset(u32::from(if_id)));
        let meta = self.next_meta(ts_us);
        Ok(Head::new(meta, iface.linktype, data, orig_len))
    }
}

/// The Enhanced Packet Block at the head of `data` when it is the plain kind: little-endian
/// section, whole block buffered, no options, both lengths equal. `pcap-parser` would read
/// such a block to the same fields; anything else (options, other blocks, a short buffer,
/// damage) is left to it. Returns the block length and the frame.
pub(super) fn plain_epb(data: &[u8], state: &mut State) -> Option<(usize, Result<Head, Failure>)> {
    const EPB: u32 = 6;
    if state.big_endian {
        return None;
    }
    let le = |o: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(o..o.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    };
    if le(0)? != EPB {
        return None;
    }
    let len = le(4)?;
    let caplen = le(20)?;
    if caplen >= u32::MAX - 4 || Some(len) != caplen.next_multiple_of(4).checked_add(32) {
        return None;
    }
    let n = len as usize;
    if le(n.checked_sub(4)?)? != len {
        return None;
    }
    let packet = data.get(28..n - 4)?;
    let head = state.enhanced_packet(le(8)?, le(12)?, le(16)?, caplen, packet, le(24)?);
    Some((n, head))
}

/// if_tsresol: bit 7 clear = 10^-n s units, set = 2^-n s units.
pub(super) fn ts_units_per_sec(tsresol: u8) -> Option<u128> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u128.checked_pow(n).filter(|_| n <= 19)
    } else {
        2u128.checked_pow(n).filter(|_| n <= 63)
    }
}

/// Interface time units to µs since the epoch, truncated (as tshark shows them).
pub(super) fn ts_to_us(units: u64, iface: &Iface) -> Result<i64, Failure> {
    // The common resolutions without the 128-bit division (same result: exact, or
    // truncated like the division below, since `units` is not negative).
    let us = match iface.units_per_sec {
        1_000_000 => i128::from(units),
        1_000_000_000 => i128::from(units / 1000),
        ups => i128::from(units) * 1_000_000 / (ups.max(1) as i128),
    };
    let total = us + i128::from(iface.offset_s) * 1_000_000;
    i64::try_from(total).map_err(|_| (CaptureErrorKind::Corrupt, "timestamp out of range"))
}

/// A `Read` whose `read` fills the buffer unless at end of input. `pcap-parser` takes a short
/// read of 0 bytes as end of file and parses its first header from one read, so pipes and
/// other short-reading sources must not reach it raw.
pub(super) struct FillingReader<R>(pub(super) R);

impl<R: Read> Read for FillingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.0.read(buf.get_mut(n..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Report what was read; the error recurs on the next call.
                Err(_) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// A `Read` whose first `read` fills the buffer up to `head` bytes (the file header
/// `pcap-parser` parses from its first read), and whose later reads return what one read
/// of the inner stream gives: frames of a stream still being written reach the parser as
/// they arrive. The inner stream must return 0 only at its end.
pub(super) struct HeadFilled<R> {
    inner: R,
    head: usize,
    started: bool,
}

impl<R> HeadFilled<R> {
    pub(super) fn new(inner: R, head: usize) -> Self {
        HeadFilled {
            inner,
            head,
            started: false,
        }
    }
}

impl<R: Read> Read for HeadFilled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = if self.started {
            1
        } else {
            self.head.clamp(1, buf.len().max(1))
        };
        self.started = true;
        let mut n = 0;
        while n < want.min(buf.len()) {
            match self.inner.read(buf.get_mut(n..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// Length of the classic pcap file header.
pub(super) const PCAP_HEADER_LEN: usize = 24;

pub(super) const SHORT: &str = "file shorter than a capture header";
pub(super) const LIMIT: &str = "record length exceeds the limit";
pub(super) const UNKNOWN: &str = "not a pcap or pcapng file (unknown magic)";

/// The declared length of the Section Header Block a pcapng file starts with, in the byte
/// order its byte-order magic gives (`None` without a valid one).
pub(super) fn shb_len(head: &[u8]) -> Option<usize> {
    let word = |o: usize| -> Option<[u8; 4]> { head.get(o..o + 4)?.try_into().ok() };
    let len = word(4)?;
    let n = match word(8)? {
        [0x4d, 0x3c, 0x2b, 0x1a] => u32::from_le_bytes(len),
        [0x1a, 0x2b, 0x3c, 0x4d] => u32::from_be_bytes(len),
        _ => return None,
    };
    usize::try_from(n).ok()
}

/// An error opening a capture (before its first frame).
pub(super) fn open_error(
    name: &str,
    file_index: u16,
    kind: CaptureErrorKind,
    reason: &'static str,
) -> CaptureError {
    CaptureError {
        file: name.to_string(),
        file_index,
        frame: None,
        offset: 0,
        kind,
        reason: Cow::Borrowed(reason),
    }
}

/// What pcap-parser's failure to read a file header means.
pub(super) fn header_error(
    name: &str,
    file_index: u16,
    e: PcapError<&'static [u8]>,
) -> CaptureError {
    let (kind, reason) = match e {
        PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
            (CaptureErrorKind::Truncated, "truncated file header")
        }
        PcapError::ReadError => (CaptureErrorKind::Io, "read error"),
        _ => (CaptureErrorKind::Corrupt, "malformed file header"),
    };
    open_error(name, file_index, kind, reason)
}

impl Format {
    /// The format the first four bytes of a file announce.
    pub(super) fn of(magic: [u8; 4]) -> Result<Format, CaptureErrorKind> {
        Ok(
            match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
                (PCAPNG_SHB, _) => Format::PcapNg,
                (_, 0xa1b2_c3d4 | 0xa1b2_3c4d) => Format::Pcap {
                    big_endian: true,
                    modified: false,
                },
                (0xa1b2_c3d4 | 0xa1b2_3c4d, _) => Format::Pcap {
                    big_endian: false,
                    modified: false,
                },
                (_, 0xa1b2_cd34) => Format::Pcap {
                    big_endian: true,
                    modified: true,
                },
                (0xa1b2_cd34, _) => Format::Pcap {
                    big_endian: false,
                    modified: true,
                },
                _ => return Err(CaptureErrorKind::NotACapture),
            },
        )
    }
}
