//! Which TCP connections carry HTTP, by content: the SBI runs on 7777, 80, 29502-29518
//! and whatever else an operator chose, so ports do not tell. A connection is judged by
//! the first payload of either direction: the HTTP/2 preface, an HTTP/1.1 request or
//! status line, or (a connection met in its middle) a run of plausible HTTP/2 frames no
//! longer than the default maximum frame size. A connection that fails a few times is
//! not HTTP. The table is bounded.

use ahash::AHashMap as HashMap;

use super::frame::{DEFAULT_MAX_FRAME, PREFACE};
use super::framing::{frames_plausible, HttpFramer};
use super::h1;
use crate::flow::FlowKey;

/// Payload segments a connection may show before it is judged not HTTP.
const TRIES: u8 = 4;

/// What a connection was judged to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Http(HttpFramer),
    /// Not judged yet: this many segments did not look like HTTP.
    Unknown(u8),
    NotHttp,
}

/// What the first bytes of a segment look like.
pub fn classify(payload: &[u8]) -> Option<HttpFramer> {
    let n = payload.len().min(PREFACE.len());
    if n > 0 && payload[..n] == PREFACE[..n] {
        return Some(HttpFramer::H2);
    }
    if h1::starts_message(payload) {
        return Some(HttpFramer::H1);
    }
    frames_plausible(payload, DEFAULT_MAX_FRAME).then_some(HttpFramer::H2)
}

/// Connection → class, bounded (the whole table is dropped when full: connections met
/// again are judged again).
#[derive(Debug)]
pub struct Sniffer {
    classes: HashMap<FlowKey, Class>,
    max: usize,
}

impl Default for Sniffer {
    fn default() -> Self {
        Sniffer::new(1 << 16)
    }
}

impl Sniffer {
    pub fn new(max: usize) -> Sniffer {
        Sniffer {
            classes: HashMap::new(),
            max: max.max(1),
        }
    }

    /// The framing of `flow`'s connection, judging it by `payload` if not judged yet.
    /// `None`: not HTTP (yet).
    pub fn judge(&mut self, flow: &FlowKey, payload: &[u8]) -> Option<HttpFramer> {
        let conn = flow.connection();
        let class = self
            .classes
            .get(&conn)
            .copied()
            .unwrap_or(Class::Unknown(0));
        let class = match class {
            Class::Unknown(tries) if !payload.is_empty() => match classify(payload) {
                Some(f) => Class::Http(f),
                None if tries + 1 >= TRIES => Class::NotHttp,
                None => Class::Unknown(tries + 1),
            },
            c => c,
        };
        if !self.classes.contains_key(&conn) && self.classes.len() >= self.max {
            self.classes.clear();
        }
        if class != Class::Unknown(0) {
            self.classes.insert(conn, class);
        }
        match class {
            Class::Http(f) => Some(f),
            _ => None,
        }
    }

    /// The class of a connection already judged.
    pub fn class(&self, flow: &FlowKey) -> Option<Class> {
        self.classes.get(&flow.connection()).copied()
    }

    /// A new connection on the same addresses (SYN): judged again.
    pub fn forget(&mut self, flow: &FlowKey) {
        self.classes.remove(&flow.connection());
    }
}
