//! Requests waiting for their response, as GTPv1-C and GTPv2-C correlate them: keyed by
//! connection and sequence number, indexed by sequence number alone (for responses whose
//! addressing does not mirror the request's: loopback captures, address translation
//! between probes), and expired in capture-time order.

use ahash::AHashMap as HashMap;
use std::collections::VecDeque;
use std::hash::Hash;

use crate::flow::{FlowKey, PacketMeta};
use crate::signal::TimestampUs;

/// What the table needs of a request: when it was sent and its message type.
pub(crate) trait Request {
    fn meta(&self) -> &PacketMeta;
    fn msg_type(&self) -> u8;
}

/// Pending requests with sequence numbers of type `S`.
#[derive(Clone, Debug)]
pub(crate) struct PendingRequests<S, P> {
    timeout_us: i64,
    max_pending: usize,
    pending: HashMap<(FlowKey, S), P>,
    by_seq: HashMap<S, Vec<(FlowKey, S)>>,
    order: VecDeque<(TimestampUs, (FlowKey, S))>,
}

/// What [`PendingRequests::insert`] displaced.
pub(crate) struct Displaced {
    /// Requests dropped because the table was full (counted as unanswered).
    pub flushed: u64,
    /// Whether a request with the same key was replaced.
    pub replaced: bool,
}

impl<S: Copy + Eq + Hash, P: Request> PendingRequests<S, P> {
    pub fn new(timeout_us: i64, max_pending: usize) -> Self {
        PendingRequests {
            timeout_us,
            max_pending,
            pending: HashMap::new(),
            by_seq: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&self, key: &(FlowKey, S)) -> Option<&P> {
        self.pending.get(key)
    }

    /// Add a request (a full table is emptied first).
    pub fn insert(&mut self, key: (FlowKey, S), request: P) -> Displaced {
        let mut flushed = 0;
        if self.pending.len() >= self.max_pending {
            flushed = self.flush();
        }
        let ts = request.meta().ts_us;
        let replaced = self.pending.insert(key, request).is_some();
        if !replaced {
            self.by_seq.entry(key.1).or_default().push(key);
        }
        self.order.push_back((ts, key));
        Displaced { flushed, replaced }
    }

    /// The request a response of type `t` answers: same connection and sequence number,
    /// or else the only pending request of the matching type with that sequence number.
    pub fn take(&mut self, key: (FlowKey, S), t: u8) -> Option<P> {
        let answers = |p: &P| p.msg_type() + 1 == t;
        let found = if self.pending.get(&key).is_some_and(answers) {
            key
        } else {
            let keys = self.by_seq.get(&key.1)?;
            let mut candidates = keys
                .iter()
                .filter(|k| self.pending.get(k).is_some_and(answers));
            match (candidates.next(), candidates.next()) {
                (Some(&k), None) => k,
                _ => return None,
            }
        };
        self.unindex(found);
        self.pending.remove(&found)
    }

    fn unindex(&mut self, key: (FlowKey, S)) {
        if let Some(keys) = self.by_seq.get_mut(&key.1) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_seq.remove(&key.1);
            }
        }
    }

    /// The capture time of the oldest pending request (the oldest inserted), if any.
    /// Queue entries of requests already answered are dropped from the front on the way
    /// (expiry skips them anyway): amortized O(1), nothing else changes.
    pub fn oldest(&mut self) -> Option<TimestampUs> {
        while let Some(&(ts, key)) = self.order.front() {
            if self.pending.get(&key).is_some_and(|p| p.meta().ts_us == ts) {
                return Some(ts);
            }
            self.order.pop_front();
        }
        None
    }

    /// Drop requests older than the timeout (capture time); returns how many.
    pub fn expire(&mut self, now: TimestampUs) -> u64 {
        let mut expired = 0;
        while let Some(&(ts, key)) = self.order.front() {
            if now.saturating_sub(ts) <= self.timeout_us {
                break;
            }
            self.order.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.meta().ts_us == ts) {
                self.pending.remove(&key);
                self.unindex(key);
                expired += 1;
            }
        }
        expired
    }

    /// Forget every pending request; returns how many there were.
    pub fn flush(&mut self) -> u64 {
        let n = self.pending.len() as u64;
        self.pending.clear();
        self.by_seq.clear();
        self.order.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    struct Req(PacketMeta, u8);

    impl Request for Req {
        fn meta(&self) -> &PacketMeta {
            &self.0
        }
        fn msg_type(&self) -> u8 {
            self.1
        }
    }

    fn flow(a: u8, b: u8) -> FlowKey {
        let ip = |x| IpAddr::V4(Ipv4Addr::new(10, 0, 0, x));
        FlowKey::new(ip(a), 2123, ip(b), 2123).connection()
    }

    fn req(ts_us: i64, t: u8) -> Req {
        Req(
            PacketMeta {
                file: 0,
                frame: ts_us as u64,
                ts_us,
            },
            t,
        )
    }

    #[test]
    fn a_replaced_request_is_found_once_by_sequence_number() {
        let mut p: PendingRequests<u32, Req> = PendingRequests::new(1_000, 16);
        assert!(!p.insert((flow(1, 2), 7), req(0, 32)).replaced);
        // The retransmission replaces it; the index by sequence number holds the key once,
        // so a response from other addresses still finds exactly one candidate.
        assert!(p.insert((flow(1, 2), 7), req(1, 32)).replaced);
        let got = p
            .take((flow(3, 4), 7), 33)
            .expect("found by sequence number");
        assert_eq!(got.0.ts_us, 1);
        assert!(p.take((flow(1, 2), 7), 33).is_none());
    }

    #[test]
    fn ambiguous_sequence_numbers_and_wrong_types_do_not_match() {
        let mut p: PendingRequests<u16, Req> = PendingRequests::new(1_000, 16);
        p.insert((flow(1, 2), 9), req(0, 16));
        p.insert((flow(5, 6), 9), req(0, 16));
        assert!(p.take((flow(3, 4), 9), 17).is_none(), "two candidates");
        assert!(
            p.take((flow(1, 2), 9), 19).is_none(),
            "another type's response"
        );
        assert!(p.take((flow(1, 2), 9), 17).is_some());
        assert!(p.take((flow(3, 4), 9), 17).is_some(), "one candidate left");
    }

    #[test]
    fn expiry_flush_and_a_full_table() {
        let mut p: PendingRequests<u16, Req> = PendingRequests::new(1_000, 2);
        p.insert((flow(1, 2), 1), req(0, 16));
        p.insert((flow(1, 2), 2), req(500, 16));
        assert_eq!(p.expire(1_000), 0, "not older than the timeout");
        assert_eq!(p.expire(1_001), 1);
        p.insert((flow(1, 2), 3), req(600, 16));
        let d = p.insert((flow(1, 2), 4), req(700, 16));
        assert_eq!(
            (d.flushed, d.replaced),
            (2, false),
            "a full table is emptied first"
        );
        assert_eq!(p.flush(), 1);
        assert!(p.take((flow(1, 2), 4), 17).is_none());
    }
}
