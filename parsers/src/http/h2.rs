//! HTTP/2 connections seen from the wire: frames of both directions → header blocks
//! (HEADERS + CONTINUATION, decoded by each direction's [`HeaderDecoder`]) and DATA per
//! stream → one [`HttpMessage`] per request and per response, the stream id pairing
//! them. Bounded: connections, streams per connection, header block and body sizes.
//!
//! A direction is known from its start when its first frame is the preface or a
//! SETTINGS (the server's preface), or its first header block is on stream 1 (no block
//! came before it); otherwise it was met in its middle and counted so ([`Note`]). A gap
//! in a direction (bytes never captured) empties its header table: blocks after it that
//! refer to older entries are counted, never guessed.

use ahash::AHashMap as HashMap;

use super::frame::{flags, settings, Frame, FrameKind, PREFACE};
use super::hpack::{HeaderDecoder, History, HpackError};
use super::{Exchange, Head, HttpMessage, HttpSink, Note, Version, MAX_BODY};
use crate::error::{DecodeError, Layer};
use crate::flow::{FlowKey, PacketMeta};

/// Bounds of [`H2Connections`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H2Config {
    pub max_connections: usize,
    /// Open streams kept per connection; the lowest ids go first beyond it.
    pub max_streams: usize,
    /// The largest header block (HEADERS + CONTINUATION) kept.
    pub max_block: usize,
    pub max_body: usize,
    /// Body bytes one connection may hold over all its open streams.
    pub max_connection_body: usize,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            max_connections: 16_384,
            max_streams: 1_024,
            max_block: 65_536,
            max_body: MAX_BODY,
            max_connection_body: 4 * MAX_BODY,
        }
    }
}

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Http, reason, offset)
}

/// A header block being collected (HEADERS then CONTINUATIONs).
#[derive(Debug)]
struct PendingBlock {
    stream: u32,
    end_stream: bool,
    /// A PUSH_PROMISE block: decoded for the table's sake, then dropped.
    push: bool,
    start: PacketMeta,
    buf: Vec<u8>,
}

/// One direction of a connection.
#[derive(Debug)]
struct Direction {
    hpack: HeaderDecoder,
    /// Some frame of this direction was seen.
    seen: bool,
    /// Some header block of this direction was seen.
    blocks: bool,
    block: Option<PendingBlock>,
}

impl Direction {
    fn new() -> Direction {
        Direction {
            hpack: HeaderDecoder::new(History::Partial),
            seen: false,
            blocks: false,
            block: None,
        }
    }
}

/// One direction's half of a stream: its head and body so far.
#[derive(Debug)]
struct Half {
    head: Head,
    body: Vec<u8>,
    start: PacketMeta,
    /// The body grew beyond the bound: the message is not delivered.
    too_long: bool,
}

#[derive(Debug, Default)]
struct StreamState {
    /// Indexed by [`side`].
    halves: [Option<Half>; 2],
}

#[derive(Debug)]
struct Connection {
    dirs: [Direction; 2],
    streams: HashMap<u32, StreamState>,
    last: i64,
    /// Body bytes held over all streams (recounted when streams are dropped).
    held: usize,
}

impl Connection {
    fn recount(&mut self) {
        self.held = self
            .streams
            .values()
            .flat_map(|st| st.halves.iter().flatten())
            .map(|h| h.body.len())
            .sum();
    }
}

/// 0 for the direction from the connection key's first endpoint, 1 for the other.
fn side(flow: &FlowKey) -> usize {
    usize::from(flow.connection() != *flow)
}

/// Every HTTP/2 connection being followed.
#[derive(Debug, Default)]
pub struct H2Connections {
    cfg: H2Config,
    conns: HashMap<FlowKey, Connection>,
}

impl H2Connections {
    pub fn new(cfg: H2Config) -> H2Connections {
        H2Connections {
            cfg,
            conns: HashMap::new(),
        }
    }

    /// Connections followed.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn connection(&mut self, key: FlowKey, sink: &mut dyn HttpSink) -> &mut Connection {
        if !self.conns.contains_key(&key) && self.conns.len() >= self.cfg.max_connections.max(1) {
            // Drop the least recently active eighth (one sort per many new connections).
            let mut by_age: Vec<(i64, FlowKey)> =
                self.conns.iter().map(|(k, c)| (c.last, *k)).collect();
            let n = (by_age.len() / 8).max(1);
            by_age.select_nth_unstable(n - 1);
            for (_, k) in by_age.iter().take(n) {
                self.conns.remove(k);
            }
            sink.note(Note::ConnectionsEvicted);
        }
        self.conns.entry(key).or_insert_with(|| Connection {
            dirs: [Direction::new(), Direction::new()],
            streams: HashMap::new(),
            last: i64::MIN,
            held: 0,
        })
    }

    /// Bytes of direction `flow` were lost (a gap, unframeable bytes): its header
    /// table is unknown from here, its unfinished block and messages are dropped.
    pub fn lost(&mut self, flow: &FlowKey) {
        let Some(c) = self.conns.get_mut(&flow.connection()) else {
            return;
        };
        let s = side(flow);
        c.dirs[s].hpack.lost();
        c.dirs[s].block = None;
        for st in c.streams.values_mut() {
            st.halves[s] = None;
        }
        c.recount();
    }

    /// At most one empty frame (9 octets) of direction `flow` was lost: no header block
    /// was, so the table still holds; an unfinished block is dropped (and the table with
    /// it).
    pub fn lost_frame(&mut self, flow: &FlowKey) {
        let Some(c) = self.conns.get_mut(&flow.connection()) else {
            return;
        };
        let s = side(flow);
        if c.dirs[s].block.take().is_some() {
            c.dirs[s].hpack.lost();
        }
    }

    /// One framed unit of direction `flow`: the preface or a frame.
    pub fn push(&mut self, meta: &PacketMeta, flow: FlowKey, data: &[u8], sink: &mut dyn HttpSink) {
        let cfg = self.cfg;
        let key = flow.connection();
        let s = side(&flow);
        let conn = self.connection(key, sink);
        conn.last = meta.ts_us;
        if data == PREFACE {
            // A new connection on these addresses: start over.
            *conn = Connection {
                dirs: [Direction::new(), Direction::new()],
                streams: HashMap::new(),
                last: meta.ts_us,
                held: 0,
            };
            conn.dirs[s].hpack.restart();
            conn.dirs[s].seen = true;
            return;
        }
        let frame = match Frame::parse(data) {
            Ok(f) => f,
            Err(e) => return sink.error(meta, e),
        };
        let h = frame.header;
        let first = !conn.dirs[s].seen;
        conn.dirs[s].seen = true;
        if first && h.kind == FrameKind::SETTINGS && !frame.has(flags::ACK) {
            // The server's connection preface.
            conn.dirs[s].hpack.restart();
        }
        // A header block must be followed by its CONTINUATIONs and nothing else.
        if conn.dirs[s].block.is_some() && h.kind != FrameKind::CONTINUATION {
            conn.dirs[s].block = None;
            conn.dirs[s].hpack.lost();
            sink.error(
                meta,
                err("http2 header block interrupted by another frame", 3),
            );
        }
        match h.kind {
            FrameKind::HEADERS | FrameKind::PUSH_PROMISE => {
                let fragment = match frame.block_fragment() {
                    Ok(f) => f,
                    Err(e) => {
                        conn.dirs[s].hpack.lost();
                        return sink.error(meta, e);
                    }
                };
                let block = PendingBlock {
                    stream: h.stream,
                    end_stream: frame.has(flags::END_STREAM),
                    push: h.kind == FrameKind::PUSH_PROMISE,
                    start: *meta,
                    buf: fragment.to_vec(),
                };
                if frame.has(flags::END_HEADERS) {
                    conn.header_block(&cfg, meta, flow, block, sink);
                } else {
                    conn.dirs[s].block = Some(block);
                }
            }
            FrameKind::CONTINUATION => {
                let Some(mut block) = conn.dirs[s].block.take() else {
                    // Its HEADERS came before the capture or was lost: the rest of the
                    // block cannot be decoded, and what it added to the table is unknown.
                    conn.dirs[s].hpack.lost();
                    return sink.note(Note::HeadNotSeen);
                };
                if block.stream != h.stream {
                    conn.dirs[s].hpack.lost();
                    return sink.error(meta, err("http2 CONTINUATION of another stream", 5));
                }
                if block.buf.len() + frame.payload.len() > cfg.max_block {
                    conn.dirs[s].hpack.lost();
                    return sink.error(meta, err("http2 header block longer than the bound", 0));
                }
                block.buf.extend_from_slice(frame.payload);
                if frame.has(flags::END_HEADERS) {
                    conn.header_block(&cfg, meta, flow, block, sink);
                } else {
                    conn.dirs[s].block = Some(block);
                }
            }
            FrameKind::DATA => {
                let data = match frame.data() {
                    Ok(d) => d,
                    Err(e) => return sink.error(meta, e),
                };
                let Some(half) = conn
                    .streams
                    .get_mut(&h.stream)
                    .and_then(|st| st.halves[s].as_mut())
                else {
                    if frame.has(flags::END_STREAM) {
                        sink.note(Note::HeadNotSeen);
                    }
                    return;
                };
                if half.body.len() + data.len() > cfg.max_body
                    || conn.held + data.len() > cfg.max_connection_body
                {
                    conn.held -= half.body.len().min(conn.held);
                    half.too_long = true;
                    half.body = Vec::new();
                } else if !half.too_long {
                    half.body.extend_from_slice(data);
                    conn.held += data.len();
                }
                if frame.has(flags::END_STREAM) {
                    conn.end_half(meta, flow, h.stream, sink);
                }
            }
            FrameKind::SETTINGS if !frame.has(flags::ACK) => {
                // The sender's decoder limit applies to what the other side encodes.
                for (id, value) in frame.settings() {
                    if id == settings::HEADER_TABLE_SIZE {
                        conn.dirs[1 - s].hpack.allow(value as usize);
                    }
                }
            }
            FrameKind::RST_STREAM if conn.streams.remove(&h.stream).is_some() => {
                conn.recount();
                sink.note(Note::Reset);
            }
            FrameKind::GOAWAY => sink.note(Note::GoAway),
            // SETTINGS ACK, PING, PRIORITY, WINDOW_UPDATE and unknown types carry
            // nothing the decoders read.
            _ => {}
        }
    }
}

impl Connection {
    /// A complete header block of direction `flow`.
    fn header_block(
        &mut self,
        cfg: &H2Config,
        meta: &PacketMeta,
        flow: FlowKey,
        block: PendingBlock,
        sink: &mut dyn HttpSink,
    ) {
        let s = side(&flow);
        let dir = &mut self.dirs[s];
        if !dir.blocks {
            dir.blocks = true;
            if dir.hpack.history() == History::Partial {
                if block.stream == 1 {
                    // No block of this direction can have come before stream 1's.
                    dir.hpack.restart();
                } else {
                    sink.note(Note::MidConnection);
                }
            }
        }
        let mut head = Head::default();
        match self.dirs[s]
            .hpack
            .decode(&block.buf, |n, v| head.field(n, v))
        {
            Ok(()) => {}
            // Pseudo-header fields come first (RFC 9113 §8.3): when the ones read are
            // there, only later fields are unknown, and what was read is exact.
            Err(HpackError::UnknownEntry)
                if head.status.is_some() || (head.method.is_some() && head.path.is_some()) =>
            {
                sink.note(Note::PartlyKnown);
            }
            Err(HpackError::UnknownEntry) => {
                // The stream's messages cannot be read; its DATA is dropped unseen.
                self.streams.remove(&block.stream);
                self.recount();
                return sink.note(Note::UnknownEntry);
            }
            Err(HpackError::Malformed(reason)) => {
                self.streams.remove(&block.stream);
                self.recount();
                return sink.error(meta, err(reason, 9));
            }
        }
        if block.push || head.is_interim() {
            return;
        }
        if head.method.is_none() && head.status.is_none() {
            // Trailers: the half they end, if any, ends here.
            if block.end_stream {
                self.end_half(meta, flow, block.stream, sink);
            }
            return;
        }
        if !self.streams.contains_key(&block.stream) && self.streams.len() >= cfg.max_streams {
            if let Some(&oldest) = self.streams.keys().min() {
                self.streams.remove(&oldest);
                self.recount();
                sink.note(Note::StreamsEvicted);
            }
        }
        if head.status.is_some() {
            let request_open = self
                .streams
                .get(&block.stream)
                .and_then(|st| st.halves[1 - s].as_ref())
                .is_some_and(|h| h.head.is_request());
            if request_open {
                // Its END_STREAM was lost (an empty DATA frame the capture missed): a
                // server answers a request once it is complete.
                sink.note(Note::EndedByResponse);
                self.end_half(meta, flow.reversed(), block.stream, sink);
            }
        }
        let st = self.streams.entry(block.stream).or_default();
        st.halves[s] = Some(Half {
            head,
            body: Vec::new(),
            start: block.start,
            too_long: false,
        });
        if block.end_stream {
            self.end_half(meta, flow, block.stream, sink);
        }
    }

    /// Direction `flow` ended stream `id` (END_STREAM): its message is complete.
    fn end_half(&mut self, meta: &PacketMeta, flow: FlowKey, id: u32, sink: &mut dyn HttpSink) {
        let s = side(&flow);
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(half) = st.halves[s].take() else {
            return;
        };
        self.held -= half.body.len().min(self.held);
        let response = !half.head.is_request();
        let other_open = st.halves.iter().any(Option::is_some);
        if response || !other_open {
            // A response ends the exchange (a request's half is gone once delivered).
            self.streams.remove(&id);
            if other_open {
                self.recount();
            }
        }
        if half.too_long {
            return sink.error(meta, err("http2 message body longer than the bound", 0));
        }
        let msg = HttpMessage {
            start: half.start,
            meta: *meta,
            flow,
            exchange: Some(Exchange {
                conn: flow.connection(),
                version: Version::H2,
                id: u64::from(id),
            }),
            head: &half.head,
            body: &half.body,
        };
        sink.message(&msg);
    }
}
