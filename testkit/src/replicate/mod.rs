//! Load generation for testers and benchmarks: a capture replicated N times, each copy
//! shifted in time after the previous one and moved to its own addresses and SCTP
//! verification tags, so that the copies are distinct connections and associations
//! rather than retransmissions the transport layers would rightly drop.
//!
//! With [`Options::distinct_subscribers`], every copy after the first also carries its own
//! subscribers: the frames are walked once ([`locate`](mod@locate)) for the identities and
//! session keys they carry, an [`IdentityMap`] is built from every original IMSI and
//! MSISDN, and each copy's frames get their identities, GTP TEIDs and sequence numbers,
//! TCAP transaction ids and tunnel endpoint addresses rewritten in place (same lengths, so
//! no length field changes), their UDP, TCP and SCTP checksums fixed where they were right.
//! Copy 0 is always the original, as without the option.

pub mod identities;
pub mod locate;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::{self, Cursor};

use landfall_parsers::capture::{CaptureError, CaptureReader, Frame, PcapNgWriter};
use landfall_parsers::transport::ip::{internet_checksum, IpProtocol};
use landfall_parsers::transport::link::{parse_link, Network};
use landfall_parsers::transport::sctp;

pub use identities::{IdentityMap, Kind};
use locate::{
    locate, message_spans, read_digits, stream_spans, tcap_spans, write_digits, Located,
    SccpSegment, SctpFragment, StreamKind, TcpSegment, Transport, What,
};

/// Read every frame of a capture held in memory.
pub fn read_frames(bytes: Vec<u8>, name: &str) -> Result<Vec<Frame>, CaptureError> {
    CaptureReader::from_reader(Cursor::new(bytes), name, 0)?.collect()
}

/// How far apart in time consecutive copies are: the capture's span plus one second.
pub fn copy_spacing_us(frames: &[Frame]) -> i64 {
    let first = frames.first().map_or(0, |f| f.meta.ts_us);
    let last = frames.iter().map(|f| f.meta.ts_us).max().unwrap_or(first);
    last - first + 1_000_000
}

/// `copies` copies of `frames` as a pcapng (one interface per link type, ns stamps).
pub fn replicate(frames: &[Frame], copies: u32) -> io::Result<Vec<u8>> {
    let span_us = copy_spacing_us(frames);
    let mut w = PcapNgWriter::new(Vec::new())?;
    let mut ifaces: HashMap<u32, u32> = HashMap::new();
    for copy in 0..copies {
        for f in frames {
            let if_id = match ifaces.get(&f.linktype) {
                Some(&i) => i,
                None => {
                    let i = w.add_interface(f.linktype, 9)?;
                    ifaces.insert(f.linktype, i);
                    i
                }
            };
            let mut data = f.data.clone();
            relocate(&mut data, f.linktype, copy);
            let ts_us = f.meta.ts_us + i64::from(copy) * span_us;
            w.write_packet(if_id, ts_us * 1000, &data, f.orig_len)?;
        }
    }
    w.into_inner()
}

/// Move an IPv4 packet to copy `copy`'s addresses (third octet XOR copy, header checksum
/// fixed) and SCTP verification tag. Other frames are left as they are.
fn relocate(data: &mut [u8], linktype: u32, copy: u32) {
    let offset = match parse_link(linktype, data) {
        Ok(Network::Ipv4(ip)) => ip.as_ptr() as usize - data.as_ptr() as usize,
        _ => return,
    };
    let Some(ip) = data.get_mut(offset..) else {
        return;
    };
    if ip.len() < 20 {
        return;
    }
    let tweak = (copy & 0xff) as u8;
    let hi = ((copy >> 8) & 0xff) as u8;
    ip[14] ^= tweak;
    ip[18] ^= tweak;
    ip[13] ^= hi;
    ip[17] ^= hi;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 || ip.len() < ihl {
        return;
    }
    ip[10] = 0;
    ip[11] = 0;
    let sum = internet_checksum(&[&ip[..ihl]]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let first_fragment = ip[6] & 0x1f == 0 && ip[7] == 0;
    if ip[9] == IpProtocol::SCTP && first_fragment {
        if let Some(sctp) = ip.get_mut(ihl..) {
            move_tags(sctp, copy);
        }
    }
}

/// Each copy's SCTP associations get their own verification tags: the common header's
/// (left 0 on an INIT, as the protocol wants) and the Initiate Tag each INIT and INIT ACK
/// announces, moved alike so that they still agree.
fn move_tags(sctp: &mut [u8], copy: u32) {
    let xor = |b: &mut [u8]| {
        for (b, k) in b.iter_mut().zip(copy.to_be_bytes()) {
            *b ^= k;
        }
    };
    if sctp.len() < sctp::HEADER_LEN {
        return;
    }
    if sctp[4..8] != [0; 4] {
        xor(&mut sctp[4..8]);
    }
    let mut at = sctp::HEADER_LEN;
    while let Some(head) = sctp.get(at..at + 4) {
        let (kind, len) = (head[0], usize::from(u16::from_be_bytes([head[2], head[3]])));
        if len < 4 {
            break;
        }
        if matches!(kind, sctp::CHUNK_INIT | sctp::CHUNK_INIT_ACK) {
            if let Some(tag) = sctp.get_mut(at + 4..at + 8) {
                xor(tag);
            }
        }
        at += len.next_multiple_of(4);
    }
}

/// What `replicate_with` does.
#[derive(Debug, Clone)]
pub struct Options {
    pub copies: u32,
    /// Give every copy after the first its own subscribers and sessions.
    pub distinct_subscribers: bool,
    /// TCP ports read as Diameter (as the decoders are told).
    pub diameter_tcp_ports: Vec<u16>,
}

/// What a replication with distinct subscribers changed and left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub frames: usize,
    pub copies: u32,
    /// Distinct original identities found (and mapped, when long enough).
    pub imsis: usize,
    pub msisdns: usize,
    /// Per copy: identity fields rewritten, TEIDs, TCAP transaction ids, endpoint addresses.
    pub identity_fields: usize,
    pub teids: usize,
    pub tcap_tids: usize,
    pub gtp_sequences: usize,
    pub endpoint_addresses: usize,
    /// Identity fields left as they are: not decimal or too short to map.
    pub unmapped_fields: usize,
    /// Frames of each copy left as they are apart from the address move: IP fragments, not
    /// IP; and SCTP DATA chunks / SCCP segments holding part of a message never completed.
    pub fragments: usize,
    pub not_ip: usize,
    pub partial_messages: usize,
    /// Per copy: UDP, TCP and SCTP checksums recomputed (those right in the original).
    pub checksums_fixed: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replicated {} frames x {} copies with distinct subscribers: {} IMSIs and {} MSISDNs per copy",
            self.frames, self.copies, self.imsis, self.msisdns
        )?;
        writeln!(
            f,
            "  rewritten per copy: {} identity fields, {} TEIDs, {} GTP sequence numbers, {} TCAP transaction ids, {} endpoint addresses, {} checksums",
            self.identity_fields,
            self.teids,
            self.gtp_sequences,
            self.tcap_tids,
            self.endpoint_addresses,
            self.checksums_fixed
        )?;
        write!(
            f,
            "  left as they are: {} IP fragments, {} non-IP frames, {} partial SCTP/SCCP messages, {} identity fields not mappable",
            self.fragments, self.not_ip, self.partial_messages, self.unmapped_fields
        )
    }
}

/// Errors of [`replicate_with`].
#[derive(Debug)]
pub enum ReplicateError {
    Io(io::Error),
    Exhausted(identities::Exhausted),
}

impl fmt::Display for ReplicateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicateError::Io(e) => write!(f, "{e}"),
            ReplicateError::Exhausted(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReplicateError {}

impl From<io::Error> for ReplicateError {
    fn from(e: io::Error) -> Self {
        ReplicateError::Io(e)
    }
}

/// A field to rewrite: what it holds, its original bytes, and where they are — one piece
/// in one frame, or for a field of a TCP stream, every captured segment holding part of it
/// (a field split across segments, a segment captured twice).
#[derive(Debug, Clone)]
pub struct Field {
    pub what: What,
    pub orig: Vec<u8>,
    pub pieces: Vec<Piece>,
}

/// `len` bytes of a field from its byte `from`, at offset `at` of frame `frame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub frame: usize,
    pub at: usize,
    pub from: usize,
    pub len: usize,
}

/// Longest TCP stream (per direction) whose fields are located; longer ones are left.
const MAX_STREAM: usize = 64 << 20;

/// Every frame walked, and every field of the capture: the frames' own, and those of the
/// reassembled Diameter/GTP TCP streams and fragmented SCTP user messages, mapped back
/// onto the segments and chunks that carry them; and how many SCTP fragments belong to no
/// complete message.
pub fn locate_capture(
    frames: &[Frame],
    diameter_tcp_ports: &[u16],
) -> (Vec<Located>, Vec<Field>, usize) {
    let located: Vec<Located> = frames
        .iter()
        .map(|f| locate(&f.data, f.linktype, diameter_tcp_ports))
        .collect();
    let mut fields = Vec::new();
    let mut streams: HashMap<_, Vec<(usize, TcpSegment)>> = HashMap::new();
    let mut fragments: HashMap<_, Vec<(usize, SctpFragment)>> = HashMap::new();
    let mut segments: BTreeMap<_, Vec<(usize, &SccpSegment)>> = BTreeMap::new();
    for (i, loc) in located.iter().enumerate() {
        let Located::Ip {
            fields: spans,
            tcp,
            sctp,
            sccp,
            ..
        } = loc
        else {
            continue;
        };
        for seg in sccp {
            segments.entry(seg.key.clone()).or_default().push((i, seg));
        }
        for f in sctp {
            fragments
                .entry((f.flow, f.stream))
                .or_default()
                .push((i, *f));
        }
        for s in spans {
            fields.push(Field {
                what: s.what,
                orig: frames[i].data[s.at..s.at + s.len].to_vec(),
                pieces: vec![Piece {
                    frame: i,
                    at: s.at,
                    from: 0,
                    len: s.len,
                }],
            });
        }
        if let Some(t) = tcp {
            streams.entry((t.kind, t.flow)).or_default().push((i, *t));
        }
    }
    let mut keys: Vec<_> = streams.keys().copied().collect();
    keys.sort();
    for key in keys {
        let segs = &streams[&key];
        stream_fields(frames, key.0, segs, &mut fields);
    }
    let mut keys: Vec<_> = fragments.keys().copied().collect();
    keys.sort();
    let mut orphans = 0;
    for key in keys {
        orphans += sctp_fields(frames, &fragments[&key], &mut fields);
    }
    for segs in segments.values() {
        orphans += sccp_fields(frames, segs, &mut fields);
    }
    (located, fields, orphans)
}

/// Reassemble the segmented SCCP messages of one key as the decoder does (a first segment,
/// then `remaining` counting down to 0, in capture order), locate their TCAP fields and map
/// them onto the segments. Returns the segments of no complete message.
fn sccp_fields(frames: &[Frame], segs: &[(usize, &SccpSegment)], out: &mut Vec<Field>) -> usize {
    let mut orphans = 0;
    let mut run: Vec<(usize, &SccpSegment)> = Vec::new();
    for &(i, seg) in segs {
        if seg.first {
            orphans += run.len();
            run = vec![(i, seg)];
        } else if run
            .last()
            .is_some_and(|(_, p)| p.remaining == seg.remaining + 1)
        {
            run.push((i, seg));
        } else {
            orphans += run.len() + 1;
            run.clear();
            continue;
        }
        if seg.remaining == 0 {
            let mut msg = Vec::new();
            let mut placed = Vec::new();
            for &(i, s) in &run {
                placed.push((msg.len(), s.data_len, i, s.data_at));
                msg.extend_from_slice(&frames[i].data[s.data_at..s.data_at + s.data_len]);
            }
            for span in tcap_spans(&msg) {
                let (s, e) = (span.at, span.at + span.len);
                out.push(Field {
                    what: span.what,
                    orig: msg[s..e].to_vec(),
                    pieces: pieces_of(&placed, s, e),
                });
            }
            run.clear();
        }
    }
    orphans + run.len()
}

/// Reassemble the fragmented user messages of one SCTP stream (consecutive TSNs from a
/// B to an E fragment; a TSN captured twice is a retransmission, rewritten alike), locate
/// their fields and map them onto the chunks. Returns the fragments of no complete message.
fn sctp_fields(frames: &[Frame], frags: &[(usize, SctpFragment)], out: &mut Vec<Field>) -> usize {
    let Some(&(_, first)) = frags.first() else {
        return 0;
    };
    let rel = |f: &SctpFragment| i64::from(f.tsn.wrapping_sub(first.tsn) as i32);
    let mut by_tsn: Vec<(i64, usize, SctpFragment)> =
        frags.iter().map(|&(i, f)| (rel(&f), i, f)).collect();
    by_tsn.sort_by_key(|&(t, i, _)| (t, i));
    let mut used = 0;
    let mut k = 0;
    while k < by_tsn.len() {
        let (t0, _, f0) = by_tsn[k];
        if !f0.begin {
            k += 1;
            continue;
        }
        // The run: one group of copies per TSN, t0, t0 + 1, ... up to an E fragment.
        let mut groups: Vec<&[(i64, usize, SctpFragment)]> = Vec::new();
        let mut j = k;
        let mut complete = false;
        let mut want = t0;
        while j < by_tsn.len() && by_tsn[j].0 == want {
            let n = by_tsn[j..].iter().take_while(|x| x.0 == want).count();
            let group = &by_tsn[j..j + n];
            if want != t0 && group[0].2.begin {
                break;
            }
            groups.push(group);
            j += n;
            if group[0].2.end {
                complete = true;
                break;
            }
            want += 1;
        }
        if !complete {
            k += 1;
            continue;
        }
        let mut msg = Vec::new();
        let mut placed = Vec::new(); // (pos, len, frame, at)
        for group in &groups {
            let pos = msg.len();
            let (_, i0, f) = group[0];
            msg.extend_from_slice(&frames[i0].data[f.payload_at..f.payload_at + f.payload_len]);
            for &(_, i, f) in group.iter() {
                if f.payload_len == group[0].2.payload_len {
                    placed.push((pos, f.payload_len, i, f.payload_at));
                    used += 1;
                }
            }
        }
        for span in message_spans(&f0, &msg) {
            let (s, e) = (span.at, span.at + span.len);
            let pieces = pieces_of(&placed, s, e);
            out.push(Field {
                what: span.what,
                orig: msg[s..e].to_vec(),
                pieces,
            });
        }
        k = j;
    }
    frags.len() - used
}

/// The pieces of the stream/message range `s..e` in the `(pos, len, frame, at)` runs.
fn pieces_of(placed: &[(usize, usize, usize, usize)], s: usize, e: usize) -> Vec<Piece> {
    placed
        .iter()
        .filter(|&&(pos, len, ..)| pos < e && pos + len > s)
        .map(|&(pos, len, frame, at)| {
            let from = s.max(pos);
            Piece {
                frame,
                at: at + (from - pos),
                from: from - s,
                len: e.min(pos + len) - from,
            }
        })
        .collect()
}

/// Reassemble one direction of a TCP connection (first capture of each byte wins), locate
/// its messages' fields and map them onto the segments.
fn stream_fields(
    frames: &[Frame],
    kind: StreamKind,
    segs: &[(usize, TcpSegment)],
    out: &mut Vec<Field>,
) {
    let Some(&(_, first)) = segs.first() else {
        return;
    };
    // Stream positions relative to the first segment's sequence number; the stream starts
    // after a SYN, else at the lowest sequence number seen.
    let rel = |t: &TcpSegment| i64::from(t.seq.wrapping_sub(first.seq) as i32);
    let start = segs
        .iter()
        .find(|(_, t)| t.syn)
        .map(|(_, t)| rel(t) + 1)
        .unwrap_or_else(|| segs.iter().map(|(_, t)| rel(t)).min().unwrap_or(0));
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (pos, len, frame, at)
    let mut end = 0usize;
    for (i, t) in segs {
        let r = rel(t) + i64::from(t.syn);
        let Ok(pos) = usize::try_from(r - start) else {
            continue;
        };
        if t.payload_len == 0 || pos + t.payload_len > MAX_STREAM {
            continue;
        }
        end = end.max(pos + t.payload_len);
        placed.push((pos, t.payload_len, *i, t.payload_at));
    }
    let mut stream = vec![0u8; end];
    let mut covered = vec![false; end];
    for &(pos, len, frame, at) in &placed {
        let data = &frames[frame].data[at..at + len];
        for (k, &b) in data.iter().enumerate() {
            if !covered[pos + k] {
                covered[pos + k] = true;
                stream[pos + k] = b;
            }
        }
    }
    placed.sort();
    for span in stream_spans(kind, &stream, &covered) {
        let (s, e) = (span.at, span.at + span.len);
        let pieces = pieces_of(&placed, s, e);
        out.push(Field {
            what: span.what,
            orig: stream[s..e].to_vec(),
            pieces,
        });
    }
}

/// [`replicate`], or with `distinct_subscribers` each copy k ≥ 1 with its own subscribers.
/// Copy 0 is what [`replicate`] writes.
pub fn replicate_with(
    frames: &[Frame],
    opts: &Options,
) -> Result<(Vec<u8>, Option<Report>), ReplicateError> {
    if !opts.distinct_subscribers {
        return Ok((replicate(frames, opts.copies)?, None));
    }
    let (located, fields, orphans) = locate_capture(frames, &opts.diameter_tcp_ports);
    let mut originals: BTreeSet<(Kind, String)> = BTreeSet::new();
    for field in &fields {
        if let What::Identity(kind, enc) = field.what {
            if let Some(d) = read_digits(&field.orig, enc) {
                originals.insert((kind, d));
            }
        }
    }
    let ids = IdentityMap::new(originals.iter().map(|(k, d)| (*k, d.as_str())), opts.copies)
        .map_err(ReplicateError::Exhausted)?;
    let mut report = Report {
        frames: frames.len(),
        copies: opts.copies,
        imsis: ids.originals(Kind::Imsi),
        msisdns: ids.originals(Kind::Msisdn),
        ..Report::default()
    };
    let checksum_ok: Vec<bool> = frames
        .iter()
        .zip(&located)
        .map(|(f, loc)| match loc {
            Located::Ip {
                transport: Some(t), ..
            } => l4_checksum_ok(&f.data, t),
            _ => false,
        })
        .collect();
    let span_us = copy_spacing_us(frames);
    let mut w = PcapNgWriter::new(Vec::new())?;
    let mut ifaces: HashMap<u32, u32> = HashMap::new();
    for copy in 0..opts.copies {
        let mut counts = Report::default();
        // This copy's bytes for every field, scattered per frame.
        let mut patches: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); frames.len()];
        if copy > 0 {
            for field in &fields {
                let Some(new) = rewrite_field(field, &ids, copy, &mut counts) else {
                    continue;
                };
                for p in &field.pieces {
                    patches[p.frame].push((p.at, new[p.from..p.from + p.len].to_vec()));
                }
            }
        }
        for (i, (f, loc)) in frames.iter().zip(&located).enumerate() {
            let if_id = match ifaces.get(&f.linktype) {
                Some(&i) => i,
                None => {
                    let i = w.add_interface(f.linktype, 9)?;
                    ifaces.insert(f.linktype, i);
                    i
                }
            };
            let mut data = f.data.clone();
            relocate(&mut data, f.linktype, copy);
            if copy > 0 {
                match loc {
                    Located::NotIp => counts.not_ip += 1,
                    Located::Fragment => counts.fragments += 1,
                    Located::Ip {
                        transport,
                        sccp_segments,
                        ..
                    } => {
                        counts.partial_messages += sccp_segments;
                        for (at, bytes) in &patches[i] {
                            if let Some(dst) = data.get_mut(*at..at + bytes.len()) {
                                dst.copy_from_slice(bytes);
                            }
                        }
                        if let (true, Some(t)) = (checksum_ok[i], transport) {
                            fix_l4_checksum(&mut data, *t);
                            counts.checksums_fixed += 1;
                        }
                    }
                }
            }
            let ts_us = f.meta.ts_us + i64::from(copy) * span_us;
            w.write_packet(if_id, ts_us * 1000, &data, f.orig_len)?;
        }
        if copy == 1 {
            report = Report {
                frames: report.frames,
                copies: report.copies,
                imsis: report.imsis,
                msisdns: report.msisdns,
                partial_messages: counts.partial_messages + orphans,
                ..counts
            };
        }
    }
    Ok((w.into_inner()?, Some(report)))
}

/// Copy `copy`'s bytes for `field`, `None` when it stays as it is.
fn rewrite_field(
    field: &Field,
    ids: &IdentityMap,
    copy: u32,
    counts: &mut Report,
) -> Option<Vec<u8>> {
    let mut bytes = field.orig.clone();
    match field.what {
        What::Identity(kind, enc) => {
            let new = read_digits(&bytes, enc).and_then(|d| ids.map(kind, &d, copy));
            let Some(new) = new else {
                counts.unmapped_fields += 1;
                return None;
            };
            write_digits(&mut bytes, enc, &new);
            counts.identity_fields += 1;
        }
        What::Teid => {
            let b = <[u8; 4]>::try_from(bytes.as_slice()).ok()?;
            let t = identities::teid(u32::from_be_bytes(b), copy);
            bytes.copy_from_slice(&t.to_be_bytes());
            counts.teids += 1;
        }
        What::TcapTid => {
            identities::shift_id(&mut bytes, copy);
            counts.tcap_tids += 1;
        }
        What::GtpSequence => {
            identities::shift_id(&mut bytes, copy);
            counts.gtp_sequences += 1;
        }
        What::Ipv4 => {
            if bytes.len() != 4 {
                return None;
            }
            bytes[1] ^= ((copy >> 8) & 0xff) as u8;
            bytes[2] ^= (copy & 0xff) as u8;
            counts.endpoint_addresses += 1;
        }
    }
    Some(bytes)
}

/// The IPv4 or IPv6 pseudo-header of a UDP or TCP packet of `len` octets.
fn pseudo_header(data: &[u8], t: &Transport, len: usize) -> Option<Vec<u8>> {
    let ip = data.get(t.ip_at..)?;
    let mut ph = Vec::with_capacity(40);
    if t.v6 {
        ph.extend_from_slice(ip.get(8..40)?);
        ph.extend_from_slice(&(len as u32).to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, t.protocol]);
    } else {
        ph.extend_from_slice(ip.get(12..20)?);
        ph.extend_from_slice(&[0, t.protocol]);
        ph.extend_from_slice(&(len as u16).to_be_bytes());
    }
    Some(ph)
}

/// The UDP/TCP/SCTP packet of `t` and where its checksum field is.
fn l4_packet(data: &[u8], t: &Transport) -> Option<(std::ops::Range<usize>, usize)> {
    let mut len = t.l4_len;
    let at = match t.protocol {
        IpProtocol::UDP => {
            let l = data.get(t.l4_at + 4..t.l4_at + 6)?;
            len = usize::from(u16::from_be_bytes([l[0], l[1]]));
            if len < 8 || len > t.l4_len {
                return None;
            }
            6
        }
        IpProtocol::TCP if len >= 20 => 16,
        IpProtocol::SCTP if len >= 12 => 8,
        _ => return None,
    };
    let range = t.l4_at..t.l4_at + len;
    data.get(range.clone())?;
    Some((range, at))
}

/// Is the transport checksum right? (A zero UDP checksum over IPv4, "not computed", is
/// not: it stays zero.)
fn l4_checksum_ok(data: &[u8], t: &Transport) -> bool {
    let Some((range, at)) = l4_packet(data, t) else {
        return false;
    };
    let pkt = &data[range];
    if t.protocol == IpProtocol::SCTP {
        let stored = u32::from_le_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        return sctp::checksum(pkt) == stored;
    }
    if t.protocol == IpProtocol::UDP && !t.v6 && pkt[at..at + 2] == [0, 0] {
        return false;
    }
    pseudo_header(data, t, pkt.len()).is_some_and(|ph| internet_checksum(&[&ph, pkt]) == 0)
}

/// Recompute the transport checksum of `t`'s packet.
fn fix_l4_checksum(data: &mut [u8], t: Transport) {
    let Some((range, at)) = l4_packet(data, &t) else {
        return;
    };
    if t.protocol == IpProtocol::SCTP {
        let sum = sctp::checksum(&data[range.clone()]);
        data[range.start + 8..range.start + 12].copy_from_slice(&sum.to_le_bytes());
        return;
    }
    let Some(ph) = pseudo_header(data, &t, range.len()) else {
        return;
    };
    data[range.start + at..range.start + at + 2].copy_from_slice(&[0, 0]);
    let mut sum = internet_checksum(&[&ph, &data[range.clone()]]);
    if sum == 0 && t.protocol == IpProtocol::UDP {
        sum = 0xffff;
    }
    data[range.start + at..range.start + at + 2].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
mod tests;
