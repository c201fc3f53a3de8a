//! Where a frame carries what identifies its subscribers: byte ranges of IMSIs, MSISDNs,
//! GTP TEIDs, TCAP transaction ids and tunnel-endpoint IPv4 addresses, found by walking
//! the frame with the decoders' typed views (link → IP → UDP/TCP/SCTP → Diameter AVPs,
//! GTPv2/GTPv1 IEs, M3UA/M2PA → MTP3 → SCCP → TCAP → MAP components, HTTP/2 frames →
//! HPACK literals → SBI paths).
//!
//! Every range is a slice of a view into the frame, so its offset is exact; nothing is
//! found by searching bytes. Messages split across frames (TCP segments, SCTP fragments,
//! SCCP segments) are walked in their reassembled stream or message ([`stream_spans`],
//! [`message_spans`], [`tcap_spans`]) and the ranges mapped back onto the frames by the
//! caller. In MAP, whose fields are typed by the operation, the
//! component is decoded (`map::decode_fields`) to learn its IMSI and MSISDN, and the
//! parameter's BER tree is walked for the primitive elements holding exactly those
//! digits (an IMSI as TBCD, an MSISDN as an AddressString): a whole element's contents,
//! never a run of bytes across element boundaries.

use landfall_parsers::diameter::avp::{AvpIter, MAX_DEPTH};
use landfall_parsers::diameter::{self, Message};
use landfall_parsers::gtp::v1::{self as gtpv1, Gtpv1Message};
use landfall_parsers::gtp::v2::{self as gtpv2, Gtpv2Message};
use landfall_parsers::http::frame::{flags as http_flags, Frame, FrameKind, PREFACE};
use landfall_parsers::http::framing::HttpFramer;
use landfall_parsers::http::sniff::classify;
use landfall_parsers::sbi;
use landfall_parsers::ss7::ber::Tlv;
use landfall_parsers::ss7::map;
use landfall_parsers::ss7::sccp::SccpMessage;
use landfall_parsers::ss7::sigtran::m2pa::{self, M2paMessage};
use landfall_parsers::ss7::sigtran::m3ua::{self, M3uaMessage};
use landfall_parsers::ss7::sigtran::mtp3::{self, Mtp3Message};
use landfall_parsers::ss7::tcap::TcapMessage;
use landfall_parsers::transport::ip::{walk_ipv6_extensions, IpProtocol, Ipv6Repr};
use landfall_parsers::transport::link::{parse_link, Network};
use landfall_parsers::transport::sctp::{Chunk, SctpPacket};
use landfall_parsers::types::Digits;
use landfall_parsers::{Imsi, Layer, Msisdn};

use super::identities::Kind;

const GTPU_PORT: u16 = 2152;
const DIAMETER_PORT: u16 = 3868;
const PPID_DIAMETER: u32 = 46;
const PPID_DIAMETER_DTLS: u32 = 47;
const VENDOR_3GPP: u32 = 10415;
const AVP_USER_NAME: u32 = 1;
const AVP_MSISDN: u32 = 701;
const AVP_SUBSCRIPTION_ID: u32 = 443;
const AVP_SUBSCRIPTION_ID_DATA: u32 = 444;
const AVP_SUBSCRIPTION_ID_TYPE: u32 = 450;
/// GTPv2 grouped IEs that can hold F-TEIDs: Bearer Context, PDN Connection.
const GTPV2_GROUPED: [u8; 2] = [93, 109];

/// How identity digits are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enc {
    /// ASCII digits (Diameter User-Name, Subscription-Id-Data).
    Ascii,
    /// TBCD, low nibble first, `F` filler (the range holds only the digits' octets).
    Tbcd,
}

/// What a located range holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Identity(Kind, Enc),
    /// A 4-octet GTP TEID (header, F-TEID, TEID Data I / Control Plane).
    Teid,
    /// A TCAP transaction id (1–4 octets).
    TcapTid,
    /// A GTP sequence number (GTPv2: 3 octets, GTPv1: 2): requests and responses pair by
    /// it, by sequence number alone when the response comes from another address.
    GtpSequence,
    /// An IPv4 address naming a tunnel endpoint (F-TEID, GSN Address): moved like the
    /// packet's addresses.
    Ipv4,
}

/// A range of a frame (or of a reassembled TCP stream) and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Offset in the frame (the stream).
    pub at: usize,
    pub len: usize,
    pub what: What,
}

/// What a TCP stream carries: Diameter and GTPv2 by port, HTTP (the SBI) on any other
/// port, judged by its content when the stream is walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    Diameter,
    Gtpv2,
    Http,
}

/// A TCP segment with payload on a Diameter or GTP port: located through its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    pub kind: StreamKind,
    /// (source address, destination address, source port, destination port); IPv4
    /// addresses as IPv4-mapped IPv6.
    pub flow: ([u8; 16], [u8; 16], u16, u16),
    pub seq: u32,
    pub syn: bool,
    /// Offset of the payload in the frame, and its length.
    pub payload_at: usize,
    pub payload_len: usize,
}

/// The transport of a located frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport {
    /// Offset of the IP header in the frame.
    pub ip_at: usize,
    pub v6: bool,
    pub protocol: u8,
    /// Offset and length of the UDP/TCP/SCTP packet (header included).
    pub l4_at: usize,
    pub l4_len: usize,
}

/// What [`locate`] found in a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// Not IP, or an IP packet too short or malformed to walk.
    NotIp,
    /// An IPv4 fragment or an IPv6 packet with a Fragment header: left as it is.
    Fragment,
    /// An IP packet (any protocol) and the fields found in it.
    Ip {
        transport: Option<Transport>,
        fields: Vec<Span>,
        /// A TCP segment whose fields are found in its reassembled stream.
        tcp: Option<TcpSegment>,
        /// SCTP DATA chunks carrying a fragment of a user message: located once the
        /// message is reassembled.
        sctp: Vec<SctpFragment>,
        /// SCCP segments of a longer message: located once the message is reassembled.
        sccp: Vec<SccpSegment>,
        /// SCCP segments inside a reassembled SCTP message (left as they are).
        sccp_segments: usize,
    },
}

/// Byte offset of `part` within `whole` (`part` must be a subslice of it).
fn offset(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

struct Walker<'f> {
    frame: &'f [u8],
    /// Is `frame` a frame (not a reassembled stream or message)?
    in_frame: bool,
    fields: Vec<Span>,
    sccp_segments: usize,
    tcp: Option<TcpSegment>,
    sctp: Vec<SctpFragment>,
    sccp: Vec<SccpSegment>,
}

impl<'f> Walker<'f> {
    fn new(frame: &'f [u8]) -> Walker<'f> {
        Walker {
            frame,
            in_frame: false,
            fields: Vec::new(),
            sccp_segments: 0,
            tcp: None,
            sctp: Vec::new(),
            sccp: Vec::new(),
        }
    }
}

/// An SCCP segment (XUDT/LUDT) of a longer message, keyed as the decoder's reassembler
/// keys it: (OPC, DPC, calling GT digits, calling SSN, local reference).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SccpSegment {
    pub key: (u32, u32, Option<String>, Option<u8>, u32),
    pub first: bool,
    pub remaining: u8,
    /// Offset of the segment's data in the frame, and its length.
    pub data_at: usize,
    pub data_len: usize,
}

/// An SCTP DATA chunk holding a fragment of a user message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SctpFragment {
    /// (source address, destination address, source port, destination port,
    /// verification tag): one direction of an association.
    pub flow: ([u8; 16], [u8; 16], u16, u16, u32),
    pub stream: u16,
    pub tsn: u32,
    pub begin: bool,
    pub end: bool,
    pub ppid: u32,
    /// Offset of the fragment's payload in the frame, and its length.
    pub payload_at: usize,
    pub payload_len: usize,
}

impl<'f> Walker<'f> {
    fn push(&mut self, part: &[u8], what: What) {
        if part.is_empty() {
            return;
        }
        if let Some(at) = offset(self.frame, part) {
            self.fields.push(Span {
                at,
                len: part.len(),
                what,
            });
        }
    }
}

/// Walk one frame. `diameter_tcp_ports` are the TCP ports read as Diameter (as `replay`).
pub fn locate(frame: &[u8], linktype: u32, diameter_tcp_ports: &[u16]) -> Located {
    let (ip, v6) = match parse_link(linktype, frame) {
        Ok(Network::Ipv4(ip)) => (ip, false),
        Ok(Network::Ipv6(ip)) => (ip, true),
        _ => return Located::NotIp,
    };
    let Some(ip_at) = offset(frame, ip) else {
        return Located::NotIp;
    };
    let (protocol, l4) = if v6 {
        let Ok((repr, payload)) = Ipv6Repr::parse(ip) else {
            return Located::NotIp;
        };
        let Ok(chain) = walk_ipv6_extensions(repr.next_header, payload, 0) else {
            return Located::NotIp;
        };
        if chain.fragment.is_some() {
            return Located::Fragment;
        }
        (
            chain.protocol,
            payload.get(chain.offset..).unwrap_or_default(),
        )
    } else {
        if ip.len() < 20 || ip[0] >> 4 != 4 {
            return Located::NotIp;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
        if ihl < 20 || total < ihl {
            return Located::NotIp;
        }
        let more_fragments = ip[6] & 0x20 != 0;
        let frag_offset = u16::from_be_bytes([ip[6] & 0x1f, ip[7]]);
        if more_fragments || frag_offset != 0 {
            return Located::Fragment;
        }
        (ip[9], &ip[ihl..total])
    };
    let mut w = Walker::new(frame);
    w.in_frame = true;
    let addrs = if v6 {
        (addr16(&ip[8..24]), addr16(&ip[24..40]))
    } else {
        (addr4(&ip[12..16]), addr4(&ip[16..20]))
    };
    let transport = offset(frame, l4).map(|l4_at| Transport {
        ip_at,
        v6,
        protocol,
        l4_at,
        l4_len: l4.len(),
    });
    match protocol {
        IpProtocol::UDP => udp(&mut w, l4),
        IpProtocol::TCP => tcp(&mut w, l4, addrs, diameter_tcp_ports),
        IpProtocol::SCTP => sctp(&mut w, l4, addrs),
        _ => {}
    }
    let transport = transport.filter(|t| {
        matches!(
            t.protocol,
            IpProtocol::UDP | IpProtocol::TCP | IpProtocol::SCTP
        )
    });
    Located::Ip {
        transport,
        fields: w.fields,
        tcp: w.tcp,
        sctp: w.sctp,
        sccp: w.sccp,
        sccp_segments: w.sccp_segments,
    }
}

fn addr16(b: &[u8]) -> [u8; 16] {
    <[u8; 16]>::try_from(b).unwrap_or_default()
}

fn addr4(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[10] = 0xff;
    a[11] = 0xff;
    a[12..].copy_from_slice(b);
    a
}

fn udp(w: &mut Walker<'_>, l4: &[u8]) {
    if l4.len() < 8 {
        return;
    }
    let src = u16::from_be_bytes([l4[0], l4[1]]);
    let dst = u16::from_be_bytes([l4[2], l4[3]]);
    let len = usize::from(u16::from_be_bytes([l4[4], l4[5]])).clamp(8, l4.len());
    let payload = &l4[8..len];
    if src == gtpv2::PORT || dst == gtpv2::PORT {
        if gtpv2::is_gtpv2(payload) {
            gtpv2_messages(w, payload);
        } else if gtpv1::is_gtpv1(payload) {
            gtpv1_message(w, payload, true);
        }
    } else if (src == GTPU_PORT || dst == GTPU_PORT) && gtpv1::is_gtpv1(payload) {
        gtpv1_message(w, payload, false);
    }
}

fn tcp(w: &mut Walker<'_>, l4: &[u8], addrs: ([u8; 16], [u8; 16]), diameter_ports: &[u16]) {
    if l4.len() < 20 {
        return;
    }
    let src = u16::from_be_bytes([l4[0], l4[1]]);
    let dst = u16::from_be_bytes([l4[2], l4[3]]);
    let hlen = usize::from(l4[12] >> 4) * 4;
    let Some(payload) = l4.get(hlen..).filter(|_| hlen >= 20) else {
        return;
    };
    let kind = if src == gtpv2::PORT || dst == gtpv2::PORT {
        StreamKind::Gtpv2
    } else if diameter_ports.contains(&src) || diameter_ports.contains(&dst) {
        StreamKind::Diameter
    } else {
        StreamKind::Http
    };
    let syn = l4[13] & 0x02 != 0;
    if payload.is_empty() && !syn {
        return;
    }
    let Some(payload_at) = offset(w.frame, payload) else {
        return;
    };
    w.tcp = Some(TcpSegment {
        kind,
        flow: (addrs.0, addrs.1, src, dst),
        seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
        syn,
        payload_at,
        payload_len: payload.len(),
    });
}

/// The spans of a reassembled TCP stream's messages (Diameter or GTPv2), from its start.
/// Bytes never captured end a message; the walk resumes at the next plausible header.
pub fn stream_spans(kind: StreamKind, stream: &[u8], covered: &[bool]) -> Vec<Span> {
    let mut w = Walker::new(stream);
    if kind == StreamKind::Http {
        http2_stream(&mut w, stream, covered);
        return w.fields;
    }
    let mut pos = 0;
    while pos < stream.len() {
        let rest = &stream[pos..];
        let len = match kind {
            StreamKind::Diameter if diameter::framing::plausible_header(rest) => {
                diameter::framing::message_length(rest)
            }
            StreamKind::Gtpv2 if gtpv2::is_gtpv2(rest) => Gtpv2Message::parse(rest)
                .ok()
                .map(|m| m.header.message_len()),
            _ => None,
        };
        let whole = len.filter(|&l| {
            l > 0 && pos + l <= stream.len() && covered[pos..pos + l].iter().all(|&c| c)
        });
        match whole {
            Some(l) => {
                let msg = &stream[pos..pos + l];
                match kind {
                    StreamKind::Diameter => diameter_messages(&mut w, msg),
                    StreamKind::Gtpv2 => gtpv2_messages(&mut w, msg),
                    StreamKind::Http => {}
                }
                pos += l;
            }
            None => {
                // Resynchronise: the next position starting a plausible, captured message.
                let next = match kind {
                    StreamKind::Diameter => {
                        diameter::framing::find_header(&stream[pos + 1..]).map(|i| pos + 1 + i)
                    }
                    StreamKind::Http => None,
                    StreamKind::Gtpv2 => (pos + 1..stream.len()).find(|&i| {
                        covered[i]
                            && Gtpv2Message::parse(&stream[i..]).is_ok_and(|m| {
                                i + m.header.message_len() <= stream.len()
                                    && m.ies().all(|ie| ie.is_ok())
                            })
                    }),
                };
                match next {
                    Some(n) => pos = n,
                    None => break,
                }
            }
        }
    }
    w.fields
}

/// One direction of an HTTP/2 connection from its start (the client's preface, or the
/// server's first frame; HTTP/1.1 is left as it is): frame by frame while they are whole
/// and captured; in each complete header block (a HEADERS frame ending its headers), the
/// values sent as plain literals (HPACK without Huffman coding) that are SBI paths or
/// URIs naming a subscriber `imsi-…` (`:path`, `location`) give that IMSI's digits.
/// Huffman-coded literals, header blocks continued in CONTINUATION frames and JSON bodies
/// are not located.
fn http2_stream(w: &mut Walker<'_>, stream: &[u8], covered: &[bool]) {
    let mut pos = if stream.starts_with(PREFACE) {
        PREFACE.len()
    } else if classify(stream) == Some(HttpFramer::H2) {
        0
    } else {
        return;
    };
    while let Ok(frame) = Frame::parse(&stream[pos..]) {
        let end = pos + frame.len();
        if !covered[pos..end].iter().all(|&c| c) {
            break;
        }
        let complete =
            frame.header.kind == FrameKind::HEADERS && frame.has(http_flags::END_HEADERS);
        if let Some(block) = complete.then(|| frame.block_fragment().ok()).flatten() {
            for (at, len) in hpack_plain_values(block) {
                let value = &block[at..at + len];
                if let Some(digits) = sbi_path_imsi(value) {
                    w.push(digits, What::Identity(Kind::Imsi, Enc::Ascii));
                }
            }
        }
        pos = end;
    }
}

/// The digits of the `imsi-…` subscriber an SBI path (`/nudm-uecm/v1/imsi-…/…`) or URI
/// (`http://udm…/nudm-uecm/…`) names, as a slice of `value`.
fn sbi_path_imsi(value: &[u8]) -> Option<&[u8]> {
    let uri = std::str::from_utf8(value).ok()?;
    let skip = match uri.split_once("://") {
        Some((scheme, rest)) => scheme.len() + 3 + rest.find('/')?,
        None => 0,
    };
    let path = &uri[skip..];
    let value = &value[skip..];
    let imsi = sbi::target(path)?.imsi?.to_string();
    let mut at = 0;
    for seg in path.split('/') {
        if seg.strip_prefix("imsi-") == Some(imsi.as_str()) {
            let start = at + "imsi-".len();
            return value.get(start..start + imsi.len());
        }
        at += seg.len() + 1;
    }
    None
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1): its value and length.
fn hpack_int(buf: &[u8], n: u32) -> Option<(usize, usize)> {
    let max = (1usize << n) - 1;
    let first = usize::from(*buf.first()?) & max;
    if first < max {
        return Some((first, 1));
    }
    let mut value = max;
    for (k, &b) in buf[1..].iter().enumerate().take(4) {
        value += usize::from(b & 0x7f) << (7 * k);
        if b & 0x80 == 0 {
            return Some((value, k + 2));
        }
    }
    None
}

/// The (offset, length) in `block` of every header value sent as a plain string literal
/// (RFC 7541 §6.2), up to the first representation that does not parse.
fn hpack_plain_values(block: &[u8]) -> Vec<(usize, usize)> {
    // A string literal at `at`: (Huffman-coded?, offset of its octets, their count).
    let string = |at: usize| -> Option<(bool, usize, usize)> {
        let huffman = block.get(at)? & 0x80 != 0;
        let (len, n) = hpack_int(&block[at..], 7)?;
        (at + n + len <= block.len()).then_some((huffman, at + n, len))
    };
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(&b) = block.get(at) {
        // Indexed field (1…), literal with indexing (01…), table size update (001…),
        // literal without or never indexed (0000…, 0001…).
        let (prefix, literal) = match b {
            0x80.. => (7, false),
            0x40.. => (6, true),
            0x20.. => (5, false),
            _ => (4, true),
        };
        let Some((index, n)) = hpack_int(&block[at..], prefix) else {
            break;
        };
        at += n;
        if !literal {
            continue;
        }
        if index == 0 {
            let Some((_, start, len)) = string(at) else {
                break;
            };
            at = start + len;
        }
        let Some((huffman, start, len)) = string(at) else {
            break;
        };
        if !huffman {
            out.push((start, len));
        }
        at = start + len;
    }
    out
}

fn sctp(w: &mut Walker<'_>, l4: &[u8], addrs: ([u8; 16], [u8; 16])) {
    let Ok((header, chunks)) = SctpPacket::parse(l4) else {
        return;
    };
    let diameter_port = header.src_port == DIAMETER_PORT || header.dst_port == DIAMETER_PORT;
    for chunk in chunks {
        let Ok(Chunk::Data(d)) = chunk else {
            if chunk.is_err() {
                break;
            }
            continue;
        };
        if !(d.begin && d.end) {
            if let Some(payload_at) = offset(w.frame, d.payload) {
                w.sctp.push(SctpFragment {
                    flow: (
                        addrs.0,
                        addrs.1,
                        header.src_port,
                        header.dst_port,
                        header.vtag,
                    ),
                    stream: d.stream_id,
                    tsn: d.tsn,
                    begin: d.begin,
                    end: d.end,
                    ppid: d.ppid,
                    payload_at,
                    payload_len: d.payload.len(),
                });
            }
            continue;
        }
        user_message(w, d.ppid, diameter_port, d.payload);
    }
}

/// One SCTP user message by its payload protocol: Diameter, M3UA or M2PA.
fn user_message(w: &mut Walker<'_>, ppid: u32, diameter_port: bool, data: &[u8]) {
    match ppid {
        PPID_DIAMETER | PPID_DIAMETER_DTLS => diameter_messages(w, data),
        0 if diameter_port => diameter_messages(w, data),
        m3ua::PPID | m2pa::PPID => sigtran(w, ppid, data),
        _ => {}
    }
}

/// The spans of an SCTP user message reassembled from fragments (offsets in `msg`).
pub fn message_spans(frag: &SctpFragment, msg: &[u8]) -> Vec<Span> {
    let mut w = Walker::new(msg);
    let diameter_port = frag.flow.2 == DIAMETER_PORT || frag.flow.3 == DIAMETER_PORT;
    user_message(&mut w, frag.ppid, diameter_port, msg);
    w.fields
}

fn is_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn diameter_messages(w: &mut Walker<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        let Ok(msg) = Message::parse(data) else {
            return;
        };
        let len = msg.len();
        if len == 0 {
            return;
        }
        avps(w, msg.avps(), 0);
        data = data.get(len..).unwrap_or_default();
    }
}

fn avps(w: &mut Walker<'_>, it: AvpIter<'_>, depth: usize) {
    for a in it.map_while(Result::ok) {
        match (a.code, a.vendor_id()) {
            // User-Name; 3GPP-IMSI (Gx/Gy) has the same code under the 3GPP vendor id.
            (AVP_USER_NAME, 0 | VENDOR_3GPP) if is_digits(a.data) => {
                w.push(a.data, What::Identity(Kind::Imsi, Enc::Ascii))
            }
            (AVP_MSISDN, VENDOR_3GPP) => w.push(a.data, What::Identity(Kind::Msisdn, Enc::Tbcd)),
            (AVP_SUBSCRIPTION_ID, 0) => {
                let kids = || a.grouped().map_while(Result::ok);
                let kind = kids()
                    .find(|k| k.is(AVP_SUBSCRIPTION_ID_TYPE, 0))
                    .and_then(|k| k.u32());
                let kind = match kind {
                    Some(0) => Some(Kind::Msisdn), // END_USER_E164
                    Some(1) => Some(Kind::Imsi),   // END_USER_IMSI
                    _ => None,
                };
                if let (Some(kind), Some(data)) =
                    (kind, kids().find(|k| k.is(AVP_SUBSCRIPTION_ID_DATA, 0)))
                {
                    if is_digits(data.data) {
                        w.push(data.data, What::Identity(kind, Enc::Ascii));
                    }
                }
                continue;
            }
            _ => {}
        }
        if depth < MAX_DEPTH && a.is_grouped_in_dictionary() {
            avps(w, a.grouped(), depth + 1);
        }
    }
}

/// A GTPv2-C message and any piggybacked one after it.
fn gtpv2_messages(w: &mut Walker<'_>, data: &[u8]) {
    let mut cur = data;
    loop {
        let Ok(msg) = Gtpv2Message::parse(cur) else {
            return;
        };
        let seq_at = if msg.header.teid.is_some() {
            w.push(cur.get(4..8).unwrap_or_default(), What::Teid);
            8
        } else {
            4
        };
        w.push(
            cur.get(seq_at..seq_at + 3).unwrap_or_default(),
            What::GtpSequence,
        );
        for ie in msg.ies().map_while(Result::ok) {
            gtpv2_ie(w, ie.kind, ie.value, 0);
        }
        if !msg.header.piggyback {
            return;
        }
        match cur.get(msg.header.message_len()..) {
            Some(rest) if !rest.is_empty() => cur = rest,
            _ => return,
        }
    }
}

fn gtpv2_ie(w: &mut Walker<'_>, kind: u8, v: &[u8], depth: usize) {
    match kind {
        gtpv2::ie::IMSI => w.push(v, What::Identity(Kind::Imsi, Enc::Tbcd)),
        gtpv2::ie::MSISDN => w.push(v, What::Identity(Kind::Msisdn, Enc::Tbcd)),
        gtpv2::ie::F_TEID if v.len() >= 5 => {
            w.push(&v[1..5], What::Teid);
            if v[0] & 0x80 != 0 {
                if let Some(a) = v.get(5..9) {
                    w.push(a, What::Ipv4);
                }
            }
        }
        k if GTPV2_GROUPED.contains(&k) && depth < 4 => {
            // Grouped IE: type, length, spare/instance, value — the top level's layout.
            let mut rest = v;
            while rest.len() >= 4 {
                let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
                let Some(value) = rest.get(4..4 + len) else {
                    return;
                };
                gtpv2_ie(w, rest[0], value, depth + 1);
                rest = &rest[4 + len..];
            }
        }
        _ => {}
    }
}

/// A GTPv1 message: the header TEID, and for signalling (`control`) its IEs.
fn gtpv1_message(w: &mut Walker<'_>, data: &[u8], control: bool) {
    let Ok(msg) = Gtpv1Message::parse(data) else {
        return;
    };
    w.push(data.get(4..8).unwrap_or_default(), What::Teid);
    if !control || !msg.is_recorded() {
        return;
    }
    if msg.header.seq.is_some() {
        w.push(data.get(8..10).unwrap_or_default(), What::GtpSequence);
    }
    for ie in msg.ies().map_while(Result::ok) {
        match ie.kind {
            gtpv1::ie::IMSI => w.push(ie.value, What::Identity(Kind::Imsi, Enc::Tbcd)),
            gtpv1::ie::TEID_DATA_I | gtpv1::ie::TEID_C_PLANE => w.push(ie.value, What::Teid),
            // Extension / nature of address / numbering plan octet, then TBCD digits.
            gtpv1::ie::MSISDN if ie.value.len() >= 2 => {
                w.push(&ie.value[1..], What::Identity(Kind::Msisdn, Enc::Tbcd))
            }
            gtpv1::ie::GSN_ADDRESS if ie.value.len() == 4 => w.push(ie.value, What::Ipv4),
            _ => {}
        }
    }
}

fn sigtran(w: &mut Walker<'_>, ppid: u32, data: &[u8]) {
    let (label, si, user) = if ppid == m3ua::PPID {
        let Ok(m) = M3uaMessage::parse(data) else {
            return;
        };
        if !m.is_data() {
            return;
        }
        match m.protocol_data() {
            Ok(pd) => ((pd.opc, pd.dpc), pd.si, pd.data),
            Err(_) => return,
        }
    } else {
        let Some(mtp3) = M2paMessage::parse(data).ok().and_then(|m| m.mtp3) else {
            return;
        };
        match Mtp3Message::parse(mtp3) {
            Ok(m) => ((m.label.opc, m.label.dpc), m.si, m.data),
            Err(_) => return,
        }
    };
    if si != mtp3::SI_SCCP {
        return;
    }
    let Ok(msg) = SccpMessage::parse(user) else {
        return;
    };
    // A segment of a longer message holds part of a TCAP message: located once the
    // message is reassembled (segments in frames only).
    if let Some(seg) = msg.segmentation.filter(|s| !(s.first && s.remaining == 0)) {
        match offset(w.frame, msg.data).filter(|_| w.in_frame) {
            Some(data_at) => w.sccp.push(SccpSegment {
                key: (
                    label.0,
                    label.1,
                    msg.calling.digits().map(|d| d.as_str().to_string()),
                    msg.calling.ssn,
                    seg.local_reference,
                ),
                first: seg.first,
                remaining: seg.remaining,
                data_at,
                data_len: msg.data.len(),
            }),
            None => w.sccp_segments += 1,
        }
        return;
    }
    tcap(w, msg.data);
}

/// The spans of a TCAP message reassembled from SCCP segments (offsets in `msg`).
pub fn tcap_spans(msg: &[u8]) -> Vec<Span> {
    let mut w = Walker::new(msg);
    tcap(&mut w, msg);
    w.fields
}

fn tcap(w: &mut Walker<'_>, data: &[u8]) {
    let Ok(t) = TcapMessage::parse(data) else {
        return;
    };
    for tid in [t.otid, t.dtid].into_iter().flatten() {
        w.push(tid, What::TcapTid);
    }
    for c in t.components().map_while(Result::ok) {
        let (fields, _) = map::decode_fields(&c);
        if fields.imsi.is_none() && fields.msisdn.is_none() {
            continue;
        }
        if let Some(p) = c.parameter {
            map_element(w, &p, fields.imsi, fields.msisdn, 0);
        }
    }
}

/// The primitive elements of a MAP parameter that hold the component's IMSI (TBCD) or
/// MSISDN (AddressString: nature/plan octet with the extension bit, then TBCD).
fn map_element(
    w: &mut Walker<'_>,
    t: &Tlv<'_>,
    imsi: Option<Imsi>,
    msisdn: Option<Msisdn>,
    depth: usize,
) {
    if t.constructed {
        if depth < 16 {
            for kid in t.children(Layer::Map).map_while(Result::ok) {
                map_element(w, &kid, imsi, msisdn, depth + 1);
            }
        }
        return;
    }
    let v = t.value;
    if imsi.is_some() && Digits::<15>::from_tbcd(v).ok() == imsi {
        w.push(v, What::Identity(Kind::Imsi, Enc::Tbcd));
    } else if let (Some(m), [noa, digits @ ..]) = (msisdn, v) {
        if noa & 0x80 != 0 && Digits::<15>::from_tbcd(digits).ok() == Some(m) {
            w.push(digits, What::Identity(Kind::Msisdn, Enc::Tbcd));
        }
    }
}

/// The digits of an identity field, if it holds decimal digits only.
pub fn read_digits(bytes: &[u8], enc: Enc) -> Option<String> {
    match enc {
        Enc::Ascii => is_digits(bytes).then(|| String::from_utf8_lossy(bytes).into_owned()),
        Enc::Tbcd => {
            let mut s = String::with_capacity(bytes.len() * 2);
            for (i, &b) in bytes.iter().enumerate() {
                for (j, n) in [b & 0x0f, b >> 4].into_iter().enumerate() {
                    match n {
                        0..=9 => s.push(char::from(b'0' + n)),
                        // The filler: only in the last octet's high nibble.
                        0x0f if i + 1 == bytes.len() && j == 1 => {}
                        _ => return None,
                    }
                }
            }
            (!s.is_empty()).then_some(s)
        }
    }
}

/// Write `digits` (as many as the field holds, see [`read_digits`]) over the field.
pub fn write_digits(bytes: &mut [u8], enc: Enc, digits: &str) {
    let d = digits.as_bytes();
    match enc {
        Enc::Ascii => {
            if d.len() == bytes.len() {
                bytes.copy_from_slice(d);
            }
        }
        Enc::Tbcd => {
            for (i, b) in bytes.iter_mut().enumerate() {
                let lo = d.get(2 * i).map_or(0x0f, |c| c - b'0');
                let hi = d.get(2 * i + 1).map_or(0x0f, |c| c - b'0');
                *b = lo | (hi << 4);
            }
        }
    }
}

#[cfg(test)]
mod tests;
