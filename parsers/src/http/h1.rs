//! HTTP/1.1 (RFC 9112) as old SBI implementations speak it: a head parsed with
//! `httparse` (hyper's zero-copy parser), a body by Content-Length or chunked coding;
//! requests and responses of a connection paired in order. [`H1Repr`] writes messages
//! for tests.

use ahash::AHashMap as HashMap;
use std::collections::VecDeque;

use super::{Exchange, Head, HttpMessage, HttpSink, Method, Note, Version, MAX_BODY};
use crate::error::{DecodeError, Layer};
use crate::flow::{FlowKey, PacketMeta};
use crate::transport::tcp::Framing;

/// The longest head accepted.
pub const MAX_HEAD: usize = 65_536;
/// Header fields read per message.
const MAX_FIELDS: usize = 64;
/// Requests of one connection waiting for their response.
const MAX_OUTSTANDING: usize = 256;

const fn err(reason: &'static str, offset: usize) -> DecodeError {
    DecodeError::new(Layer::Http, reason, offset)
}

const METHODS: [&[u8]; 8] = [
    b"GET ",
    b"PUT ",
    b"POST ",
    b"PATCH ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"CONNECT ",
];

/// Does `buf` start with an HTTP/1.x request line or status line (as far as it goes)?
pub fn starts_message(buf: &[u8]) -> bool {
    if buf.starts_with(b"HTTP/1.") {
        return true;
    }
    let Some(m) = METHODS.iter().find(|m| buf.starts_with(m)) else {
        return false;
    };
    let line_end = buf.windows(2).position(|w| w == b"\r\n");
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let target_ok = matches!(line.get(m.len()), Some(b'/' | b'h' | b'*') | None);
    target_ok
        && (line_end.is_none() || line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
}

/// A parsed head: the fields the decoder reads, and how the body is delimited.
struct ParsedHead {
    head: Head,
    head_len: usize,
    body: BodyLen,
}

enum BodyLen {
    Fixed(usize),
    Chunked,
}

fn parse_head(buf: &[u8]) -> Result<Option<ParsedHead>, DecodeError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut head = Head::default();
    let (head_len, headers): (usize, &[httparse::Header<'_>]) = if buf.starts_with(b"HTTP/") {
        let mut r = httparse::Response::new(&mut fields);
        match r.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                head.status = r.code;
                (n, r.headers)
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(err("http/1.1 status line or header malformed", 0)),
        }
    } else {
        let mut r = httparse::Request::new(&mut fields);
        match r.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                head.method = r.method.map(|m| Method::parse(m.as_bytes()));
                if let Some(p) = r.path {
                    head.field(b":path", origin_form(p).as_bytes());
                }
                (n, r.headers)
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(err("http/1.1 request line or header malformed", 0)),
        }
    };
    let mut body = BodyLen::Fixed(0);
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(err("http/1.1 content-length not a number", 0))?;
            body = BodyLen::Fixed(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.eq_ignore_ascii_case(b"chunked")
        {
            body = BodyLen::Chunked;
        } else if h.name.eq_ignore_ascii_case("content-type") {
            head.field(b"content-type", h.value);
        }
    }
    if head
        .status
        .is_some_and(|s| (100..200).contains(&s) || s == 204 || s == 304)
    {
        body = BodyLen::Fixed(0);
    }
    Ok(Some(ParsedHead {
        head,
        head_len,
        body,
    }))
}

/// A request target in absolute form (`http://host/path`) reduced to its path.
fn origin_form(target: &str) -> &str {
    match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    }
}

/// Walk a chunked body at the start of `buf`: `Ok(Some((wire length, data)))` when all
/// of it is there.
fn chunked(buf: &[u8], collect: bool) -> Result<Option<(usize, Vec<u8>)>, DecodeError> {
    let mut pos = 0;
    let mut data = Vec::new();
    loop {
        let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + eol])
            .map_err(|_| err("http/1.1 chunk size malformed", pos))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| err("http/1.1 chunk size malformed", pos))?;
        if size > MAX_BODY {
            return Err(err("http/1.1 chunk longer than the body bound", pos));
        }
        pos += eol + 2;
        if size == 0 {
            // Trailer fields, then the final blank line.
            loop {
                let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some((pos, data)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        if collect {
            data.extend_from_slice(&buf[pos..pos + size]);
        }
        pos += size + 2;
    }
}

/// The length of the HTTP/1.1 message at the start of `buf` (the TCP framer).
pub fn frame(buf: &[u8]) -> Framing {
    if !starts_message(buf) {
        return Framing::Invalid;
    }
    let parsed = match parse_head(buf) {
        Ok(Some(p)) => p,
        Ok(None) if buf.len() < MAX_HEAD => return Framing::Incomplete,
        _ => return Framing::Invalid,
    };
    match parsed.body {
        BodyLen::Fixed(n) if n > MAX_BODY => Framing::Invalid,
        BodyLen::Fixed(n) => Framing::Message(parsed.head_len + n),
        BodyLen::Chunked => match chunked(&buf[parsed.head_len..], false) {
            Ok(Some((n, _))) => Framing::Message(parsed.head_len + n),
            Ok(None) => Framing::Incomplete,
            Err(_) => Framing::Invalid,
        },
    }
}

/// The first plausible message start in `buf` after garbage: at a line start.
pub fn resync(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find(|&i| {
        (i == 0 || buf[i - 1] == b'\n') && (buf.len() - i < 8 || starts_message(&buf[i..]))
    })
}

/// One framed HTTP/1.1 message: its head and its (de-chunked) body.
pub fn parse(buf: &[u8]) -> Result<(Head, Vec<u8>), DecodeError> {
    let p = parse_head(buf)?.ok_or(err("http/1.1 head truncated", buf.len()))?;
    let rest = &buf[p.head_len..];
    let body = match p.body {
        BodyLen::Fixed(n) => rest
            .get(..n)
            .ok_or(err("http/1.1 body shorter than content-length", p.head_len))?
            .to_vec(),
        BodyLen::Chunked => {
            chunked(rest, true)?
                .ok_or(err("http/1.1 chunked body truncated", p.head_len))?
                .1
        }
    };
    Ok((p.head, body))
}

/// The start line of an [`H1Repr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, target: String },
    Response { status: u16 },
}

/// An owned HTTP/1.1 message (Content-Length framing), for tests and fixtures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H1Repr {
    pub start: StartLine,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl H1Repr {
    pub fn parse(buf: &[u8]) -> Result<H1Repr, DecodeError> {
        let (head, body) = parse(buf)?;
        let start = match (head.method, head.path, head.status) {
            (Some(method), Some(target), _) => StartLine::Request { method, target },
            (None, _, Some(status)) => StartLine::Response { status },
            _ => return Err(err("http/1.1 start line not representable", 0)),
        };
        Ok(H1Repr {
            start,
            content_type: head.content_type,
            body,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let line = match &self.start {
            StartLine::Request { method, target } => {
                format!("{} {target} HTTP/1.1\r\n", method.as_str())
            }
            StartLine::Response { status } => format!("HTTP/1.1 {status} X\r\n"),
        };
        out.extend_from_slice(line.as_bytes());
        if let Some(ct) = &self.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
    }
}

#[derive(Debug, Default)]
struct Connection {
    next: u64,
    outstanding: VecDeque<u64>,
    last: i64,
}

/// HTTP/1.1 connections: requests numbered in order, responses paired with the oldest
/// request still unanswered. Bounded in connections and outstanding requests.
#[derive(Debug)]
pub struct H1Connections {
    conns: HashMap<FlowKey, Connection>,
    max: usize,
}

impl Default for H1Connections {
    fn default() -> Self {
        H1Connections {
            conns: HashMap::new(),
            max: 1 << 16,
        }
    }
}

impl H1Connections {
    /// One framed message of direction `flow`.
    pub fn message(
        &mut self,
        meta: &PacketMeta,
        flow: FlowKey,
        data: &[u8],
        sink: &mut dyn HttpSink,
    ) {
        let (head, body) = match parse(data) {
            Ok(x) => x,
            Err(e) => return sink.error(meta, e),
        };
        if head.is_interim() {
            return;
        }
        let key = flow.connection();
        if !self.conns.contains_key(&key) && self.conns.len() >= self.max {
            self.conns.clear();
            sink.note(Note::ConnectionsEvicted);
        }
        let c = self.conns.entry(key).or_default();
        c.last = meta.ts_us;
        let id = if head.is_request() {
            let id = c.next;
            c.next += 1;
            if c.outstanding.len() >= MAX_OUTSTANDING {
                c.outstanding.pop_front();
            }
            c.outstanding.push_back(id);
            Some(id)
        } else {
            let id = c.outstanding.pop_front();
            if id.is_none() {
                sink.note(Note::ResponseWithoutRequest);
            }
            id
        };
        let msg = HttpMessage {
            start: *meta,
            meta: *meta,
            flow,
            exchange: id.map(|id| Exchange {
                conn: key,
                version: Version::H1,
                id,
            }),
            head: &head,
            body: &body,
        };
        sink.message(&msg);
    }

    /// A gap or garbage on `flow`: the pairing of its connection is no longer known.
    pub fn lost(&mut self, flow: &FlowKey) {
        self.conns.remove(&flow.connection());
    }
}
