//! One pass over capture frames: link → IP (reassembly) → UDP | TCP (stream reassembly) |
//! SCTP (user messages) → Diameter → request/answer correlation → [`Signal`]s.
//!
//! The [`Decoder`] never stops on bad input: every problem is counted in [`DecodeStats`]
//! with its layer, reason and the first frames it was seen in, and decoding goes on.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::capture::{CaptureError, CaptureReader, Frame, FrameRef, MergedCaptures};
use crate::diameter;
use crate::diameter::correlate::{CorrelatorConfig, DiameterCorrelator};
use crate::early::{Delays, PairingStats, DEFAULT_TOLERANCE_US};
use crate::error::{DecodeError, Layer};
use crate::flow::{FlowKey, PacketMeta, Transport};
use crate::gtp::v1::correlate::Gtpv1Correlator;
use crate::gtp::v1::{self as gtpv1, Gtpv1Message};
use crate::gtp::v2::correlate::Gtpv2Correlator;
use crate::gtp::v2::{self as gtpv2, Gtpv2Message};
use crate::ngap::correlate::NgapCorrelator;
use crate::ngap::{self, NgapView};
use crate::numbering::e164::{GtPlmnTable, E164};
use crate::numbering::e212::E212;
use crate::record::Record;
use crate::sbi::correlate::SbiCorrelator;
use crate::sbi::SbiView;
use crate::signal::{Proto, Signal, SignalKind};
use crate::ss7::map::correlate::MapCorrelator;
use crate::ss7::map::MapComponent;
use crate::ss7::sccp::SccpReassembler;
use crate::ss7::sigtran::m2pa::{self};
use crate::ss7::sigtran::m3ua::{self};
use crate::ss7::tcap::ComponentKind;
use crate::transport::ip::{IpDatagram, IpLayer, IpProtocol};
use crate::transport::link::{parse_link, Network};
use crate::transport::sctp::{Chunk, SctpMessage, SctpPacket, SctpReassembler};
use crate::transport::tcp::{Framer, Framing, TcpEvent, TcpFlags, TcpReassembler, TcpRepr};
use crate::transport::udp::UdpRepr;

mod http;
mod ss7;
pub use http::sbi_message_name;
use http::HttpState;
use ss7::Ss7;

/// SCTP payload protocol identifiers for Diameter (RFC 6733 §2.1): clear and DTLS.
const PPID_DIAMETER: u32 = 46;
const PPID_DIAMETER_DTLS: u32 = 47;
const DIAMETER_PORT: u16 = 3868;

/// How many example locations are kept per error reason.
const ERROR_EXAMPLES: usize = 5;

/// Decoder settings.
#[derive(Clone, Debug)]
pub struct DecoderConfig {
    /// TCP ports whose payload is Diameter (3868, and 3871 for Rx in some labs).
    pub diameter_tcp_ports: Vec<u16>,
    /// MCC → MNC length and country, for the home network of IMSIs.
    pub e212: E212,
    /// E.164 calling code → country, for the serving country of MAP signals.
    pub e164: E164,
    /// Operator-supplied global-title prefixes → PLMN, for MAP's serving network.
    pub gt_plmn: GtPlmnTable,
    /// How long (capture time, µs) an answer seen before its request waits for it, in
    /// every correlator ([`crate::early`]); 0 drops such answers at once.
    pub answer_tolerance_us: i64,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            diameter_tcp_ports: vec![DIAMETER_PORT, 3871],
            e212: E212::default(),
            e164: E164::default(),
            gt_plmn: GtPlmnTable::default(),
            answer_tolerance_us: DEFAULT_TOLERANCE_US,
        }
    }
}

/// A decoded application message, borrowed from the frame for the sink to look at.
pub enum AppMessage<'a, 'b> {
    Diameter(&'b diameter::Message<'a>),
    Gtpv2(&'b Gtpv2Message<'a>),
    Gtpv1(&'b Gtpv1Message<'a>),
    /// One component of a MAP dialogue (a TCAP message may carry several).
    Map(&'b MapComponent<'a>),
    /// One SBI (HTTP) request or response.
    Sbi(&'b SbiView),
    /// One NGAP PDU.
    Ngap(&'b NgapView),
}

impl AppMessage<'_, '_> {
    /// The message as an inspect record (the conformance schema).
    pub fn record(&self, meta: &PacketMeta) -> Record {
        match self {
            AppMessage::Diameter(m) => diameter::record(m, meta),
            AppMessage::Gtpv2(m) => gtpv2::record(m, meta),
            AppMessage::Gtpv1(m) => gtpv1::record(m, meta),
            AppMessage::Map(m) => m.record(meta),
            AppMessage::Sbi(m) => m.record(meta),
            AppMessage::Ngap(m) => m.record(meta),
        }
    }
}

/// Receives what the decoder finds. Both methods default to ignoring it.
pub trait Sink {
    fn message(&mut self, _meta: &PacketMeta, _msg: &AppMessage<'_, '_>) {}
    fn signal(&mut self, _signal: Signal) {}
}

/// Where an error was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorSite {
    pub file: u16,
    pub frame: u64,
    pub offset: usize,
}

/// Occurrences of one error reason.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ErrorCount {
    pub count: u64,
    /// The first few places it was seen.
    pub examples: Vec<ErrorSite>,
}

/// A message type for counting: protocol, application/command or message type, direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MessageType {
    pub proto: Proto,
    /// Diameter application id (0 elsewhere).
    pub app: u32,
    /// Diameter command code, GTP message type, MAP operation.
    pub code: u32,
    pub request: bool,
}

impl MessageType {
    /// A GTP message, counted by its type alone (requests and responses are types).
    fn gtp(proto: Proto, msg_type: u8) -> MessageType {
        MessageType {
            proto,
            app: 0,
            code: u32::from(msg_type),
            request: true,
        }
    }
}

/// Everything a run counted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DecodeStats {
    pub frames: u64,
    pub bytes: u64,
    pub messages: BTreeMap<MessageType, u64>,
    pub signals: BTreeMap<SignalKind, u64>,
    /// Decode errors by (layer, reason).
    pub errors: BTreeMap<(Layer, &'static str), ErrorCount>,
    /// Traffic recognised and deliberately not decoded (not errors), by what it was.
    pub skipped: BTreeMap<&'static str, u64>,
    /// How each protocol's answers were paired with requests (filled at the end).
    pub pairing: BTreeMap<Proto, PairingStats>,
    /// Request→answer delays per (request file, answer file), all protocols.
    pub delays: Delays,
}

impl DecodeStats {
    pub fn error_total(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    pub fn message_total(&self) -> u64 {
        self.messages.values().sum()
    }

    pub fn signal_total(&self) -> u64 {
        self.signals.values().sum()
    }

    fn error(&mut self, meta: &PacketMeta, e: DecodeError) {
        let entry = self.errors.entry((e.layer, e.reason)).or_default();
        entry.count += 1;
        if entry.examples.len() < ERROR_EXAMPLES {
            entry.examples.push(ErrorSite {
                file: meta.file,
                frame: meta.frame,
                offset: e.offset,
            });
        }
    }

    fn skip(&mut self, what: &'static str) {
        *self.skipped.entry(what).or_default() += 1;
    }

    fn count_message(&mut self, key: MessageType) {
        *self.messages.entry(key).or_default() += 1;
    }

    /// Count `signal` and hand it to `sink`.
    fn deliver(&mut self, signal: Signal, sink: &mut dyn Sink) {
        *self.signals.entry(signal.kind).or_default() += 1;
        sink.signal(signal);
    }

    /// Count a capture-file error (truncated file, bad block) at its frame.
    pub fn capture_error(&mut self, e: &CaptureError) {
        let meta = PacketMeta {
            file: e.file_index,
            frame: e.frame.unwrap_or(0),
            ts_us: 0,
        };
        let offset = usize::try_from(e.offset).unwrap_or(usize::MAX);
        self.error(
            &meta,
            DecodeError::new(Layer::Capture, e.kind.as_str(), offset),
        );
    }
}

/// The latest frame time decoded (9000-01-01T00:00:00Z): times and their expiries stay
/// within what RFC 3339 can write.
pub const LATEST_TIMESTAMP_US: i64 = 221_845_392_000_000_000;

/// Frames Diameter messages in a TCP byte stream: 4-byte header with a 24-bit length.
struct DiameterFramer;

impl Framer for DiameterFramer {
    fn frame(&self, buf: &[u8]) -> Framing {
        match diameter::framing::message_length(buf) {
            None => Framing::Incomplete,
            Some(_)
                if !diameter::framing::plausible_header(buf)
                    && buf.len() >= diameter::HEADER_LEN =>
            {
                Framing::Invalid
            }
            Some(len) if len < diameter::HEADER_LEN => Framing::Invalid,
            Some(len) if buf.len() < len => Framing::Incomplete,
            Some(len) => Framing::Message(len),
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        diameter::framing::find_header(buf)
    }
}

/// The decoding state of one run (IP fragments, TCP streams, SCTP messages, pending
/// Diameter requests). Feed it frames in capture order.
pub struct Decoder {
    cfg: DecoderConfig,
    ip: IpLayer,
    tcp: TcpReassembler,
    /// GTP-C over TCP (port 2123) has its own framing, so its own streams.
    tcp_gtp: TcpReassembler,
    sctp: SctpReassembler,
    diameter: DiameterCorrelator,
    gtpv2: Gtpv2Correlator,
    gtpv1: Gtpv1Correlator,
    sccp: SccpReassembler,
    map: MapCorrelator,
    http: HttpState,
    sbi: SbiCorrelator,
    ngap: NgapCorrelator,
    pub stats: DecodeStats,
}

impl Decoder {
    pub fn new(cfg: DecoderConfig) -> Decoder {
        let tolerance = cfg.answer_tolerance_us.max(0);
        let diameter = DiameterCorrelator::new(
            CorrelatorConfig {
                answer_tolerance_us: tolerance,
                ..CorrelatorConfig::default()
            },
            cfg.e212.clone(),
        );
        let gtpv2 = Gtpv2Correlator::with_tolerance(cfg.e212.clone(), tolerance);
        let gtpv1 = Gtpv1Correlator::with_tolerance(cfg.e212.clone(), tolerance);
        let map = MapCorrelator::with_tolerance(
            cfg.e212.clone(),
            cfg.e164.clone(),
            cfg.gt_plmn.clone(),
            tolerance,
        );
        let sbi = SbiCorrelator::new(cfg.e212.clone());
        let ngap = NgapCorrelator::new(cfg.e212.clone());
        Decoder {
            cfg,
            ip: IpLayer::default(),
            tcp: TcpReassembler::default(),
            tcp_gtp: TcpReassembler::default(),
            sctp: SctpReassembler::default(),
            diameter,
            gtpv2,
            gtpv1,
            sccp: SccpReassembler::default(),
            map,
            http: HttpState::default(),
            sbi,
            ngap,
            stats: DecodeStats::default(),
        }
    }

    /// Decode one frame; messages and signals go to `sink`, problems to `self.stats`.
    pub fn push(&mut self, frame: &Frame, sink: &mut dyn Sink) {
        self.push_ref(&frame.as_frame_ref(), sink);
    }

    /// [`Decoder::push`] for a frame lent by [`crate::capture::CaptureReader::next_frame`].
    pub fn push_ref(&mut self, frame: &FrameRef<'_>, sink: &mut dyn Sink) {
        let meta = frame.meta;
        self.stats.frames += 1;
        self.stats.bytes += frame.data.len() as u64;
        if !(0..=LATEST_TIMESTAMP_US).contains(&meta.ts_us) {
            return self.stats.error(
                &meta,
                DecodeError::new(
                    Layer::Capture,
                    "frame timestamp before 1970 or after 8999",
                    0,
                ),
            );
        }
        let net = match parse_link(frame.linktype, frame.data) {
            Ok(n) => n,
            Err(e) => return self.stats.error(&meta, e),
        };
        let dgram = match self.ip.push(&meta, net) {
            Ok(Some(d)) => d,
            Ok(None) => {
                if let Network::Other { .. } = net {
                    self.stats.skip("non-IP frame");
                }
                return;
            }
            Err(e) => return self.stats.error(&meta, e),
        };
        self.transport(&meta, &dgram, sink);
    }

    fn transport(&mut self, meta: &PacketMeta, d: &IpDatagram<'_>, sink: &mut dyn Sink) {
        match d.protocol {
            IpProtocol::TCP => self.tcp_segment(meta, d.src, d.dst, &d.payload, sink),
            IpProtocol::SCTP => self.sctp_packet(meta, d.src, d.dst, &d.payload, sink),
            IpProtocol::UDP => match UdpRepr::parse(&d.payload) {
                Ok((udp, payload))
                    if udp.src_port == gtpv2::PORT || udp.dst_port == gtpv2::PORT =>
                {
                    if gtpv2::is_gtpv2(payload) {
                        let flow = FlowKey::new(d.src, udp.src_port, d.dst, udp.dst_port);
                        gtpv2_messages(&mut self.gtpv2, &mut self.stats, meta, flow, payload, sink);
                    } else if gtpv1::is_gtpv1(payload) {
                        let flow = FlowKey::new(d.src, udp.src_port, d.dst, udp.dst_port);
                        gtpv1_message(&mut self.gtpv1, &mut self.stats, meta, flow, payload, sink);
                    } else {
                        self.stats.skip("gtp version 0 / other on port 2123");
                    }
                }
                Ok(_) => self.stats.skip("udp (other port)"),
                Err(e) => self.stats.error(meta, e),
            },
            _ => self.stats.skip("other IP protocol"),
        }
    }

    fn tcp_segment(
        &mut self,
        meta: &PacketMeta,
        src: IpAddr,
        dst: IpAddr,
        bytes: &[u8],
        sink: &mut dyn Sink,
    ) {
        let (seg, payload) = match TcpRepr::parse(bytes) {
            Ok(x) => x,
            Err(e) => return self.stats.error(meta, e),
        };
        let flow = FlowKey::new(src, seg.src_port, dst, seg.dst_port);
        let gtp = seg.src_port == gtpv2::PORT || seg.dst_port == gtpv2::PORT;
        let ports = &self.cfg.diameter_tcp_ports;
        if !gtp && !ports.contains(&seg.src_port) && !ports.contains(&seg.dst_port) {
            return self.http_segment(meta, flow, &seg, payload, sink);
        }
        let Decoder {
            tcp,
            tcp_gtp,
            diameter,
            gtpv2,
            stats,
            ..
        } = self;
        if gtp {
            tcp_gtp.push(meta, flow, &seg, payload, &GtpFramer, &mut |ev| {
                gtp_tcp_event(gtpv2, stats, ev, sink)
            });
        } else {
            tcp.push(meta, flow, &seg, payload, &DiameterFramer, &mut |ev| {
                tcp_event(diameter, stats, ev, sink)
            });
        }
    }

    fn sctp_packet(
        &mut self,
        meta: &PacketMeta,
        src: IpAddr,
        dst: IpAddr,
        bytes: &[u8],
        sink: &mut dyn Sink,
    ) {
        let (header, chunks) = match SctpPacket::parse(bytes) {
            Ok(x) => x,
            Err(e) => return self.stats.error(meta, e),
        };
        let flow = FlowKey::new(src, header.src_port, dst, header.dst_port);
        let Decoder {
            sctp,
            diameter,
            sccp,
            map,
            ngap,
            stats,
            ..
        } = self;
        for chunk in chunks {
            let data = match chunk {
                Ok(Chunk::Data(d)) => d,
                Ok(other) => {
                    if let Some(tag) = other.initiate_tag() {
                        sctp.association_started(header.src_port, header.dst_port, tag);
                    }
                    continue;
                }
                Err(e) => {
                    stats.error(meta, e);
                    break;
                }
            };
            sctp.push(meta, flow, header.vtag, &data, &mut |m: SctpMessage<'_>| {
                let diameter_port =
                    m.flow.src.port == DIAMETER_PORT || m.flow.dst.port == DIAMETER_PORT;
                match m.ppid {
                    PPID_DIAMETER | PPID_DIAMETER_DTLS => {}
                    0 if diameter_port => {}
                    m3ua::PPID | m2pa::PPID => {
                        let mut ss7 = Ss7 { sccp, map, stats };
                        return ss7.sigtran(&m.meta, m.ppid, m.data, sink);
                    }
                    ngap::PPID => return ngap_message(ngap, stats, &m.meta, m.flow, m.data, sink),
                    0 if m.flow.src.port == ngap::PORT || m.flow.dst.port == ngap::PORT => {
                        return ngap_message(ngap, stats, &m.meta, m.flow, m.data, sink)
                    }
                    _ => return stats.skip("sctp (other payload protocol)"),
                }
                let transport = Transport::Sctp {
                    stream: m.stream,
                    ppid: m.ppid,
                };
                diameter_message(diameter, stats, &m.meta, m.flow, transport, m.data, sink);
            });
        }
    }

    /// The capture time of the oldest request (Diameter, GTPv2, GTPv1) or MAP invoke still
    /// waiting for its answer, if any. A signal carries its request's time and is made
    /// when the answer comes, so with frames fed in capture order no signal this decoder
    /// has yet to emit is older than the minimum of this and the last frame's time (an
    /// answer held early waits for a request not seen yet, whose time will be later). A
    /// frame fed out of order can break that by its own lateness. Cheap enough to call per
    /// batch of frames (amortized O(1), but O(open MAP dialogues)); it changes no output.
    pub fn oldest_pending(&mut self) -> Option<i64> {
        [
            self.diameter.oldest_pending(),
            self.gtpv2.oldest_pending(),
            self.gtpv1.oldest_pending(),
            self.map.oldest_pending(),
            self.sbi.oldest_pending(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// How long recent answers took: the delay within which `per_mille` ‰ of the last
    /// minute or two's answers (event time) came after their request, the slowest of the
    /// four protocols; `None` while fewer than `min_count` answers of any were seen. A
    /// request still unanswered after much longer than this will most likely never be
    /// answered, so a source's watermark need not wait for it.
    pub fn answer_delay(&self, per_mille: u32, min_count: u64) -> Option<i64> {
        [
            self.diameter.delays(),
            self.gtpv2.delays(),
            self.gtpv1.delays(),
            self.map.delays(),
        ]
        .into_iter()
        .filter_map(|d| d.recent.quantile(per_mille, min_count))
        .max()
    }

    /// End of input: the streams still open are framed; requests still waiting for an
    /// answer, and what else gave no signal, are counted.
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        self.http_finish(sink);
        let Decoder {
            tcp,
            tcp_gtp,
            diameter,
            gtpv2,
            gtpv1,
            sccp,
            map,
            sbi,
            ngap,
            stats,
            ..
        } = self;
        sccp.finish();
        ngap.flush();
        gtpv1.flush();
        map.flush();
        tcp_gtp.finish(&GtpFramer, &mut |ev| gtp_tcp_event(gtpv2, stats, ev, sink));
        gtpv2.flush();
        tcp.finish(&DiameterFramer, &mut |ev| {
            tcp_event(diameter, stats, ev, sink)
        });
        diameter.flush();
        let (g1, g2, m, d) = (gtpv1.stats(), gtpv2.stats(), map.stats(), diameter.stats());
        let reasons = [
            ("sccp segments never completed", sccp.stats.dropped),
            ("gtpv1 request without response", g1.unanswered),
            ("gtpv1 response without request", g1.unmatched_responses),
            ("gtpv1 rejected (cause)", g1.rejected),
            ("gtpv1 context of unknown subscriber", g1.no_imsi),
            ("map dialogue not answered", m.unanswered),
            ("map message of unseen dialogue", m.unmatched),
            ("map copy on another link (STP relay)", m.duplicates),
            ("tcap not MAP (application context/SSN)", m.not_map),
            ("map dialogue aborted or rejected", m.aborted),
            ("map result of unknown subscriber", m.no_imsi),
            ("gtpv2 request without response", g2.unanswered),
            ("gtpv2 response without request", g2.unmatched_responses),
            ("gtpv2 rejected (cause)", g2.rejected),
            ("gtpv2 session of unknown subscriber", g2.no_imsi),
            ("diameter request without answer", d.unanswered),
            ("diameter answer without request", d.unmatched_answers),
        ];
        let sb = sbi.stats();
        let sbi_reasons = [
            ("sbi request copy relayed by an SCP/SEPP", sb.relay_copies),
            ("sbi answer to a relayed copy", sb.copy_answers),
            (
                "sbi answer to a request not tracked or not seen",
                sb.unmatched,
            ),
            ("sbi request without answer", sb.unanswered),
            ("sbi failed (5xx) or refused non-registration", sb.failed),
            (
                "sbi transaction of no IMSI (NAI, concealed SUCI)",
                sb.no_imsi,
            ),
            ("sbi uecm registration modified (no purge)", sb.modified),
        ];
        let ng = ngap.stats();
        let ngap_reasons = [
            (
                "ngap cell change of a UE whose subscriber is unknown",
                ng.unattributed,
            ),
            ("ngap NAS message ciphered (not 5G-EA0)", ng.ciphered),
            ("ngap NAS SUCI concealed (protection scheme)", ng.concealed),
            (
                "ngap message of a UE context not seen started",
                ng.unknown_context,
            ),
            ("ngap UE contexts dropped (table full)", ng.dropped),
        ];
        for (what, n) in reasons.into_iter().chain(sbi_reasons).chain(ngap_reasons) {
            if n > 0 {
                stats.skipped.insert(what, n);
            }
        }
        for (proto, p, d) in [
            (Proto::Diameter, diameter.pairing(), diameter.delays()),
            (Proto::Gtpv2, gtpv2.pairing(), gtpv2.delays()),
            (Proto::Gtpv1, gtpv1.pairing(), gtpv1.delays()),
            (Proto::Map, map.pairing(), map.delays()),
        ] {
            stats.pairing.entry(proto).or_default().add(&p);
            stats.delays.merge(d);
        }
    }
}

/// One event of a TCP stream carrying `layer` messages: a message goes to `message`; a
/// gap in the stream and bytes that frame no message are errors.
fn stream_event(
    stats: &mut DecodeStats,
    layer: Layer,
    ev: TcpEvent<'_>,
    message: impl FnOnce(&mut DecodeStats, &PacketMeta, FlowKey, &[u8]),
) {
    match ev {
        TcpEvent::Message { flow, meta, data } => message(stats, &meta, flow, data),
        TcpEvent::Gap { meta, .. } => stats.error(
            &meta,
            DecodeError::new(Layer::Tcp, "stream gap (bytes never captured)", 0),
        ),
        TcpEvent::Skipped { meta, .. } => stats.error(
            &meta,
            DecodeError::new(layer, "unframeable bytes skipped in TCP stream", 0),
        ),
    }
}

fn tcp_event(
    diameter: &mut DiameterCorrelator,
    stats: &mut DecodeStats,
    ev: TcpEvent<'_>,
    sink: &mut dyn Sink,
) {
    stream_event(stats, Layer::Diameter, ev, |stats, meta, flow, data| {
        diameter_message(diameter, stats, meta, flow, Transport::Tcp, data, sink)
    })
}

/// Frames GTPv2 messages in a TCP byte stream: length at octets 3-4.
struct GtpFramer;

impl Framer for GtpFramer {
    fn frame(&self, buf: &[u8]) -> Framing {
        if buf.len() < 4 {
            return Framing::Incomplete;
        }
        if !gtpv2::is_gtpv2(buf) {
            return Framing::Invalid;
        }
        let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if len < 8 {
            Framing::Invalid
        } else if buf.len() < len {
            Framing::Incomplete
        } else {
            Framing::Message(len)
        }
    }

    fn resync(&self, buf: &[u8]) -> Option<usize> {
        buf.iter().position(|&b| b >> 5 == 2 && b & 0x07 == 0)
    }
}

fn gtp_tcp_event(
    correlator: &mut Gtpv2Correlator,
    stats: &mut DecodeStats,
    ev: TcpEvent<'_>,
    sink: &mut dyn Sink,
) {
    stream_event(stats, Layer::Gtpv2, ev, |stats, meta, flow, data| {
        gtpv2_messages(correlator, stats, meta, flow, data, sink)
    })
}

/// A GTPv1-C datagram (TS 29.060). G-PDUs and GTP' are not signaling and get no record.
fn gtpv1_message(
    correlator: &mut Gtpv1Correlator,
    stats: &mut DecodeStats,
    meta: &PacketMeta,
    flow: FlowKey,
    data: &[u8],
    sink: &mut dyn Sink,
) {
    let msg = match Gtpv1Message::parse(data) {
        Ok(m) => m,
        Err(e) => return stats.error(meta, e),
    };
    if !msg.is_recorded() {
        return stats.skip("gtpv1 G-PDU or GTP' on port 2123");
    }
    stats.count_message(MessageType::gtp(Proto::Gtpv1, msg.header.msg_type));
    if let Some(Err(e)) = msg.ies().find(Result::is_err) {
        stats.error(meta, e);
    }
    sink.message(meta, &AppMessage::Gtpv1(&msg));
    if let Some(signal) = correlator.push(meta, flow, &msg) {
        stats.deliver(signal, sink);
    }
}

/// A GTPv2-C datagram: the message and any piggybacked one after it.
fn gtpv2_messages(
    correlator: &mut Gtpv2Correlator,
    stats: &mut DecodeStats,
    meta: &PacketMeta,
    flow: FlowKey,
    data: &[u8],
    sink: &mut dyn Sink,
) {
    let mut next = Some(Gtpv2Message::parse(data));
    while let Some(parsed) = next.take() {
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => return stats.error(meta, e),
        };
        stats.count_message(MessageType::gtp(Proto::Gtpv2, msg.header.msg_type));
        if let Some(Err(e)) = msg.ies().find(Result::is_err) {
            stats.error(meta, e);
        }
        sink.message(meta, &AppMessage::Gtpv2(&msg));
        if let Some(signal) = correlator.push(meta, flow, &msg) {
            stats.deliver(signal, sink);
        }
        next = msg.piggybacked();
    }
}

/// One NGAP PDU (an SCTP user message): counted by procedure and kind, handed to the
/// sink, correlated.
fn ngap_message(
    correlator: &mut NgapCorrelator,
    stats: &mut DecodeStats,
    meta: &PacketMeta,
    flow: FlowKey,
    data: &[u8],
    sink: &mut dyn Sink,
) {
    let (view, ie_error) = match NgapView::parse(data) {
        Ok(x) => x,
        Err(e) => return stats.error(meta, e),
    };
    stats.count_message(MessageType {
        proto: Proto::Ngap,
        app: view.kind.index(),
        code: u32::from(view.procedure),
        request: view.kind == ngap::PduKind::Initiating,
    });
    if let Some(e) = ie_error {
        stats.error(meta, e);
    }
    sink.message(meta, &AppMessage::Ngap(&view));
    if let Some(signal) = correlator.push(meta, flow, &view) {
        stats.deliver(signal, sink);
    }
}

/// The name of an NGAP message type in the stats report: `ngap InitialUEMessage`,
/// `ngap InitialContextSetup successful`.
pub fn ngap_message_name(t: &MessageType) -> String {
    let name = u8::try_from(t.code)
        .ok()
        .and_then(ngap::procedure_name)
        .map_or_else(|| format!("procedure {}", t.code), str::to_owned);
    match t.app {
        0 => format!("ngap {name}"),
        1 => format!("ngap {name} successful"),
        _ => format!("ngap {name} unsuccessful"),
    }
}

/// Decode the Diameter messages of one transport unit (an SCTP user message may carry
/// several back to back) and correlate them.
fn diameter_message(
    correlator: &mut DiameterCorrelator,
    stats: &mut DecodeStats,
    meta: &PacketMeta,
    flow: FlowKey,
    _transport: Transport,
    mut data: &[u8],
    sink: &mut dyn Sink,
) {
    let mut base = 0;
    while !data.is_empty() {
        let msg = match diameter::Message::parse(data) {
            Ok(m) => m,
            Err(e) => return stats.error(meta, e.shifted(base)),
        };
        let len = msg.header.length as usize;
        let key = MessageType {
            proto: Proto::Diameter,
            app: msg.header.app_id,
            code: msg.header.code,
            request: msg.is_request(),
        };
        stats.count_message(key);
        sink.message(meta, &AppMessage::Diameter(&msg));
        if let Some(signal) = correlator.push(meta, flow, &msg) {
            stats.deliver(signal, sink);
        }
        data = data.get(len..).unwrap_or_default();
        base += len;
    }
}

/// Run the frames of `readers`, merged by time, through a decoder into `sink`: the decoder
/// once every frame is in, with its stats (capture-file errors counted, not fatal).
/// `progress` is told the number of frames read every [`PROGRESS_EVERY`] frames (a
/// front end's progress bar; `|_| {}` for none).
pub fn decode_captures(
    readers: Vec<CaptureReader>,
    cfg: DecoderConfig,
    sink: &mut dyn Sink,
    mut progress: impl FnMut(u64),
) -> Decoder {
    let mut decoder = Decoder::new(cfg);
    let mut n = 0u64;
    // Frames lent from the read buffer: no copy per frame.
    MergedCaptures::new(readers).for_each_frame(|item| {
        match item {
            Ok(frame) => decoder.push_ref(&frame, sink),
            Err(e) => decoder.stats.capture_error(e),
        }
        if n.is_multiple_of(PROGRESS_EVERY) {
            progress(n);
        }
        n += 1;
    });
    decoder.finish(sink);
    decoder
}

/// How often [`decode_captures`] reports progress, in frames.
pub const PROGRESS_EVERY: u64 = 4096;

/// The component type as counted in [`MessageType::app`] for MAP (its TCAP tag).
pub fn map_component_code(kind: ComponentKind) -> u32 {
    match kind {
        ComponentKind::Invoke => 1,
        ComponentKind::ReturnResultLast => 2,
        ComponentKind::ReturnError => 3,
        ComponentKind::Reject => 4,
        ComponentKind::ReturnResult => 7,
    }
}

#[cfg(test)]
mod tests;
