//! The HTTP branch of the decoder: TCP connections judged HTTP by content → HTTP/2 or
//! HTTP/1.1 messages → SBI correlation → signals.

use super::*;
use crate::http::frame;
use crate::http::framing::HttpFramer;
use crate::http::h1::H1Connections;
use crate::http::h2::H2Connections;
use crate::http::{HttpMessage, HttpSink, Note};
use crate::sbi::correlate::SbiCorrelator;
use crate::sbi::Service;
use crate::transport::tcp::TcpConfig;

/// How long a hole in an HTTP stream is waited for: SBI captures taken on loopback lose
/// single small segments (a 9-octet frame) now and then, and a request held behind such
/// a hole would reach the correlator after its answer. Segments arrive within
/// microseconds of each other there, so a few later segments tell it is lost.
const HTTP_TCP: TcpConfig = TcpConfig {
    max_buffered: 1 << 20,
    max_hole_segments: 4,
    hole_timeout_us: 200_000,
    max_flows: 65_536,
};

/// The HTTP part of the decoder's state.
pub(super) struct HttpState {
    pub sniff: crate::http::sniff::Sniffer,
    /// HTTP/2 and HTTP/1.1 connections have their own framing, so their own streams.
    pub tcp_h2: TcpReassembler,
    pub tcp_h1: TcpReassembler,
    pub h2: H2Connections,
    pub h1: H1Connections,
}

impl HttpState {
    /// The reassembler of the connections `framer` frames.
    fn reassembler(&self, framer: HttpFramer) -> &TcpReassembler {
        match framer {
            HttpFramer::H2 => &self.tcp_h2,
            HttpFramer::H1 => &self.tcp_h1,
        }
    }

    /// One segment into `framer`'s reassembler; its messages to `stage`.
    fn push(
        &mut self,
        framer: HttpFramer,
        meta: &PacketMeta,
        flow: FlowKey,
        seg: &TcpRepr,
        payload: &[u8],
        stage: &mut SbiStage<'_>,
    ) {
        let HttpState {
            tcp_h2,
            tcp_h1,
            h2,
            h1,
            ..
        } = self;
        match framer {
            HttpFramer::H2 => tcp_h2.push(meta, flow, seg, payload, &framer, &mut |ev| {
                h2_event(h2, stage, ev)
            }),
            HttpFramer::H1 => tcp_h1.push(meta, flow, seg, payload, &framer, &mut |ev| {
                h1_event(h1, stage, ev)
            }),
        }
    }
}

/// What HTTP messages go to: the SBI correlator, the counts, the caller's sink.
struct SbiStage<'d> {
    sbi: &'d mut SbiCorrelator,
    stats: &'d mut DecodeStats,
    sink: &'d mut dyn Sink,
}

impl HttpSink for SbiStage<'_> {
    fn message(&mut self, msg: &HttpMessage<'_>) {
        let service = msg
            .head
            .path
            .as_deref()
            .and_then(crate::sbi::target)
            .map_or(Service::Other, |t| t.service);
        let (view, error, signal) = self.sbi.push(msg);
        // Responses are counted under their status; requests under their method.
        let (app, code) = match (msg.head.method, msg.head.status) {
            (Some(m), _) => (service.code(), m.code()),
            (None, Some(s)) => (0, u32::from(s)),
            _ => (0, 0),
        };
        self.stats.count_message(MessageType {
            proto: Proto::Sbi,
            app,
            code,
            request: msg.head.is_request(),
        });
        if let Some(e) = error {
            self.stats.error(&msg.start, e);
        }
        self.sink.message(&msg.start, &AppMessage::Sbi(&view));
        if let Some(s) = signal {
            self.stats.deliver(s, self.sink);
        }
    }

    fn error(&mut self, meta: &PacketMeta, e: DecodeError) {
        self.stats.error(meta, e);
    }

    fn note(&mut self, note: Note) {
        self.stats.skip(note.as_str());
    }
}

impl Default for HttpState {
    fn default() -> Self {
        HttpState {
            sniff: Default::default(),
            tcp_h2: TcpReassembler::new(HTTP_TCP),
            tcp_h1: TcpReassembler::new(HTTP_TCP),
            h2: Default::default(),
            h1: Default::default(),
        }
    }
}

impl Decoder {
    /// A TCP segment of a connection not claimed by port (Diameter, GTP): HTTP if its
    /// content says so.
    pub(super) fn http_segment(
        &mut self,
        meta: &PacketMeta,
        flow: FlowKey,
        seg: &TcpRepr,
        payload: &[u8],
        sink: &mut dyn Sink,
    ) {
        let Decoder {
            http, sbi, stats, ..
        } = self;
        let mut stage = SbiStage { sbi, stats, sink };
        if seg.flags.contains(TcpFlags::SYN) {
            http.sniff.forget(&flow);
            // A new connection on the addresses of one already followed: the reassembler
            // closes the old stream and starts at this ISN (a SYN carries no content to
            // judge, so it would otherwise never reach it, and the new connection's bytes
            // would look like the old one's, already seen).
            let following =
                [HttpFramer::H2, HttpFramer::H1].map(|f| (f, http.reassembler(f).tracks(&flow)));
            for (framer, tracked) in following {
                if tracked {
                    http.push(framer, meta, flow, seg, payload, &mut stage);
                }
            }
            if following.iter().any(|(_, tracked)| *tracked) {
                return;
            }
        }
        let Some(framer) = http.sniff.judge(&flow, payload) else {
            if !payload.is_empty() {
                stage.stats.skip("tcp (other port, not HTTP)");
            }
            return;
        };
        http.push(framer, meta, flow, seg, payload, &mut stage);
    }

    /// End of input for the HTTP streams.
    pub(super) fn http_finish(&mut self, sink: &mut dyn Sink) {
        let Decoder {
            http, sbi, stats, ..
        } = self;
        let HttpState {
            tcp_h2,
            tcp_h1,
            h2,
            h1,
            ..
        } = http;
        let mut stage = SbiStage { sbi, stats, sink };
        tcp_h2.finish(&HttpFramer::H2, &mut |ev| h2_event(h2, &mut stage, ev));
        tcp_h1.finish(&HttpFramer::H1, &mut |ev| h1_event(h1, &mut stage, ev));
        sbi.flush();
    }
}

/// A lost stretch of a stream: an error (as for every TCP protocol); the HTTP state of
/// that direction forgets what it cannot know any more.
fn lost(stage: &mut SbiStage<'_>, ev: &TcpEvent<'_>) -> Option<FlowKey> {
    match ev {
        TcpEvent::Message { .. } => None,
        TcpEvent::Gap { flow, meta, .. } => {
            stage.stats.error(
                meta,
                DecodeError::new(Layer::Tcp, "stream gap (bytes never captured)", 0),
            );
            Some(*flow)
        }
        TcpEvent::Skipped { flow, meta, .. } => {
            stage.stats.error(
                meta,
                DecodeError::new(Layer::Http, "unframeable bytes skipped in TCP stream", 0),
            );
            Some(*flow)
        }
    }
}

fn h2_event(h2: &mut H2Connections, stage: &mut SbiStage<'_>, ev: TcpEvent<'_>) {
    if let TcpEvent::Message { flow, meta, data } = ev {
        return h2.push(&meta, flow, data, stage);
    }
    let small = matches!(ev, TcpEvent::Gap { missing, .. } if missing <= frame::HEADER_LEN as u64);
    if let Some(flow) = lost(stage, &ev) {
        if small {
            // At most one empty frame: no header block was lost, the table holds (a
            // partial frame around the gap is reported as skipped bytes, which resets
            // it); messages of the direction still open may miss their end.
            h2.lost_frame(&flow);
        } else {
            h2.lost(&flow);
        }
    }
}

fn h1_event(h1: &mut H1Connections, stage: &mut SbiStage<'_>, ev: TcpEvent<'_>) {
    if let TcpEvent::Message { flow, meta, data } = ev {
        return h1.message(&meta, flow, data, stage);
    }
    if let Some(flow) = lost(stage, &ev) {
        h1.lost(&flow);
    }
}

/// The name of an SBI message type in the stats report.
pub fn sbi_message_name(t: &MessageType) -> String {
    if t.request {
        let method = match t.code {
            1 => "GET",
            2 => "PUT",
            3 => "POST",
            4 => "PATCH",
            5 => "DELETE",
            _ => "other method",
        };
        format!("sbi {} {method}", Service::name(t.app))
    } else {
        format!("sbi response {}", t.code)
    }
}
