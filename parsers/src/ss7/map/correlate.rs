//! MAP dialogue tracking by TCAP transaction ids, into normalized [`Signal`]s.
//!
//! A dialogue is keyed by its initiator's transaction id (the Begin's otid); the
//! responder's id is learned from its first Continue. Invokes are remembered by invoke id
//! so that a returnResultLast without a result (no opcode) still finds its operation.
//! The signal carries the invoke's time and frame (docs/semantics.md, "Signals": the
//! request's time).
//!
//! | invoke | returnResultLast | returnError |
//! |---|---|---|
//! | updateLocation (2), updateGprsLocation (23) | `location_update` | `rejected` |
//! | sendAuthenticationInfo (56) | `auth` | — |
//! | purgeMS (67) | `purge` | — |
//! | cancelLocation (3) | `cancel` | — |
//!
//! The serving node is the invoke's VLR/SGSN number, else the initiator's calling global
//! title (the called one for cancelLocation, which the HLR sends). Its country comes from
//! the E.164 calling code, or from the PLMN the operator's [`GtPlmnTable`] assigns to it.
//! An insertSubscriberData of the same dialogue supplies the MSISDN.
//!
//! Only MAP is read: a dialogue whose application context is not under 0.4.0.0.1 (the
//! Ericsson INAP trap) is remembered by transaction id, and its later messages are skipped
//! too; without a dialogue portion (MAP v1), a message between subsystems none of which is
//! a MAP one is skipped. STP-relayed copies of a message (same ids, seen again on another
//! link) update the same dialogue instead of opening a new one.
//!
//! The responder's messages of a dialogue whose Begin was not seen yet (its direction is
//! captured by a probe whose clock is behind) are held, in order, for the tolerance of
//! [`crate::early`]; when the Begin arrives they are replayed after it, as if in order.

use ahash::AHashMap as HashMap;
use std::collections::VecDeque;

use super::{op, MapFields};
use crate::early::{Delays, Hold, Pairing, PairingStats, DEFAULT_MAX_EARLY, DEFAULT_TOLERANCE_US};
use crate::flow::PacketMeta;
use crate::numbering::e164::{GtPlmnTable, E164};
use crate::numbering::e212::E212;
use crate::signal::{Proto, Provenance, Signal, SignalKind, TimestampUs};
use crate::ss7::sccp::SccpAddress;
use crate::ss7::tcap::{Component, ComponentKind, TcapKind, TcapMessage};
use crate::types::Digits;

/// Subsystem numbers of MAP entities (Q.713 Annex B, TS 23.003 §8.2).
const MAP_SSNS: [u8; 12] = [5, 6, 7, 8, 9, 10, 145, 149, 150, 151, 152, 153];

/// At most this many messages are held for one dialogue whose Begin was not seen yet.
const MAX_HELD_PER_DIALOGUE: usize = 16;

/// A transaction id (1-4 octets) with its length, so 00 and 0000 differ.
type Tid = (u8, u32);

fn tid(b: &[u8]) -> Tid {
    (
        b.len() as u8,
        b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)),
    )
}

/// Counters of what gave no signal, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapStats {
    pub signals: u64,
    /// TCAP messages of non-MAP dialogues (application context or subsystem), skipped.
    pub not_map: u64,
    /// Dialogues ended by an Abort, or by a reject component.
    pub aborted: u64,
    /// Dialogues that timed out or were open at the end of input.
    pub unanswered: u64,
    /// Continue/End messages of a dialogue whose Begin was not seen (held early ones
    /// included once dropped).
    pub unmatched: u64,
    /// Copies of messages already seen (STP relaying on several links).
    pub duplicates: u64,
    /// Results for an operation that was answered but gave no subscriber.
    pub no_imsi: u64,
}

#[derive(Clone, Copy, Debug)]
struct Invoke {
    id: Option<i64>,
    op: i64,
    meta: PacketMeta,
    fields: MapFields,
}

#[derive(Clone, Debug)]
struct Dialogue {
    opened: TimestampUs,
    /// Global titles of the initiator (calling) and responder (called) in the Begin.
    initiator_gt: Option<Digits<24>>,
    responder_gt: Option<Digits<24>>,
    invokes: Vec<Invoke>,
    /// Identities learned from any component of the dialogue (ISD, results).
    learned: MapFields,
    responder: Option<Tid>,
}

/// What the correlator needs of a component (owned, so it can wait for its dialogue).
#[derive(Clone, Copy, Debug)]
struct Comp {
    kind: ComponentKind,
    invoke_id: Option<i64>,
    opcode: Option<i64>,
    fields: MapFields,
}

/// A responder's message held until its dialogue's Begin arrives.
#[derive(Clone, Debug)]
struct HeldMsg {
    meta: PacketMeta,
    kind: TcapKind,
    otid: Option<Tid>,
    comps: Vec<Comp>,
}

/// Pairs MAP invokes with their results across a TCAP dialogue and emits signals.
#[derive(Clone, Debug)]
pub struct MapCorrelator {
    e212: E212,
    e164: E164,
    gt_plmn: GtPlmnTable,
    timeout_us: i64,
    max_dialogues: usize,
    dialogues: HashMap<Tid, Dialogue>,
    /// Responder id → initiator id.
    responders: HashMap<Tid, Tid>,
    /// Ids of dialogues that are not MAP, with when they were seen.
    foreign: HashMap<Tid, TimestampUs>,
    /// Ids of dialogues that just ended, to recognise relayed copies of the End.
    closed: HashMap<Tid, TimestampUs>,
    order: VecDeque<(TimestampUs, Tid)>,
    stats: MapStats,
    /// Messages of dialogues not begun yet, by their destination transaction id.
    pairing: Pairing<Tid, (), Vec<HeldMsg>>,
}

/// A MAP message's place in a dialogue, from [`MapCorrelator::begin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InDialogue {
    key: Tid,
    side: Side,
    kind: TcapKind,
    /// Held for a dialogue not begun yet: components are kept, not correlated.
    held: bool,
    /// A held message replayed after its Begin: results pair early.
    replayed: bool,
}

/// Which side of a dialogue sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Initiator,
    Responder,
}

impl MapCorrelator {
    pub fn new(e212: E212, e164: E164, gt_plmn: GtPlmnTable) -> MapCorrelator {
        MapCorrelator::with_tolerance(e212, e164, gt_plmn, DEFAULT_TOLERANCE_US)
    }

    /// A correlator holding a responder's messages `tolerance_us` for their Begin.
    pub fn with_tolerance(
        e212: E212,
        e164: E164,
        gt_plmn: GtPlmnTable,
        tolerance_us: i64,
    ) -> MapCorrelator {
        MapCorrelator {
            pairing: Pairing::new(tolerance_us, DEFAULT_MAX_EARLY),
            e212,
            e164,
            gt_plmn,
            timeout_us: 60_000_000,
            max_dialogues: 1 << 20,
            dialogues: HashMap::new(),
            responders: HashMap::new(),
            foreign: HashMap::new(),
            closed: HashMap::new(),
            order: VecDeque::new(),
            stats: MapStats::default(),
        }
    }

    pub fn stats(&self) -> &MapStats {
        &self.stats
    }

    /// How results were paired with invokes (in order, early, dropped; unanswered).
    pub fn pairing(&self) -> PairingStats {
        self.pairing.stats(self.stats.unanswered)
    }

    /// Invoke→result delays per pair of input files.
    pub fn delays(&self) -> &Delays {
        self.pairing.delays()
    }

    /// The capture time of the oldest invoke still waiting for its result in an open
    /// dialogue, if any: no signal this correlator has yet to emit can be older (a
    /// signal carries its invoke's time). Walks the open dialogues.
    pub fn oldest_pending(&self) -> Option<TimestampUs> {
        self.dialogues
            .values()
            .flat_map(|d| d.invokes.iter().map(|i| i.meta.ts_us))
            .min()
    }

    /// Is this TCAP message MAP? Non-MAP dialogues are remembered so that their later
    /// messages (which carry no application context) are skipped too.
    pub fn is_map(
        &mut self,
        meta: &PacketMeta,
        called: &SccpAddress,
        calling: &SccpAddress,
        m: &TcapMessage<'_>,
    ) -> bool {
        let otid = m.otid.map(tid);
        let dtid = m.dtid.map(tid);
        let known_foreign =
            |t: Option<Tid>, f: &HashMap<Tid, TimestampUs>| t.is_some_and(|t| f.contains_key(&t));
        let foreign = match m.dialogue.and_then(|d| d.is_map()) {
            Some(is_map) => !is_map,
            None if known_foreign(otid, &self.foreign) || known_foreign(dtid, &self.foreign) => {
                true
            }
            None if self.knows(otid) || self.knows(dtid) => false,
            None => {
                let ssns = [called.ssn, calling.ssn];
                ssns.iter().any(Option::is_some)
                    && !ssns.iter().flatten().any(|s| MAP_SSNS.contains(s))
            }
        };
        if foreign {
            for t in [otid, dtid].into_iter().flatten() {
                self.foreign.insert(t, meta.ts_us);
                self.order.push_back((meta.ts_us, t));
            }
            self.stats.not_map += 1;
        }
        !foreign
    }

    fn knows(&self, t: Option<Tid>) -> bool {
        t.is_some_and(|t| self.dialogues.contains_key(&t) || self.responders.contains_key(&t))
    }

    /// Feed one MAP message with its components' fields; returns the signals it completes.
    /// The same as [`MapCorrelator::begin`], [`MapCorrelator::component`] for each
    /// component and [`MapCorrelator::end`].
    pub fn push(
        &mut self,
        meta: &PacketMeta,
        called: &SccpAddress,
        calling: &SccpAddress,
        m: &TcapMessage<'_>,
        components: &[(Component<'_>, MapFields)],
    ) -> Vec<Signal> {
        let mut out = Vec::new();
        if let Some(d) = self.begin(meta, called, calling, m) {
            for (c, fields) in components {
                self.component(meta, d, c, fields, &mut out);
            }
            self.end(meta, d, &mut out);
        }
        out
    }

    /// The dialogue a MAP message belongs to (opened by a Begin), or `None` when the
    /// message takes no part in one (counted). Its components then go to
    /// [`MapCorrelator::component`] and the message ends with [`MapCorrelator::end`].
    pub fn begin(
        &mut self,
        meta: &PacketMeta,
        called: &SccpAddress,
        calling: &SccpAddress,
        m: &TcapMessage<'_>,
    ) -> Option<InDialogue> {
        self.expire(meta.ts_us);
        let otid = m.otid.map(tid);
        let dtid = m.dtid.map(tid);
        if m.kind == TcapKind::Begin {
            // Held messages of a dialogue whose Begin this is wait for `end`.
            return self.open(meta, otid?, called, calling);
        }
        self.follow(meta, m.kind, otid, dtid, false)
    }

    /// A Begin: opens the dialogue `key` (or is a relayed copy of one open).
    fn open(
        &mut self,
        meta: &PacketMeta,
        key: Tid,
        called: &SccpAddress,
        calling: &SccpAddress,
    ) -> Option<InDialogue> {
        match self.dialogues.get(&key) {
            Some(d) if meta.ts_us - d.opened < self.timeout_us => {
                self.stats.duplicates += 1;
            }
            _ => {
                if self.dialogues.len() >= self.max_dialogues {
                    self.stats.unanswered += self.dialogues.len() as u64;
                    self.dialogues.clear();
                    self.responders.clear();
                }
                self.dialogues.insert(
                    key,
                    Dialogue {
                        opened: meta.ts_us,
                        initiator_gt: calling.digits().copied(),
                        responder_gt: called.digits().copied(),
                        invokes: Vec::new(),
                        learned: MapFields::default(),
                        responder: None,
                    },
                );
                self.order.push_back((meta.ts_us, key));
                // Its responder's messages may have come too early for the tolerance.
                self.pairing.missed(&key, meta);
            }
        }
        Some(InDialogue {
            key,
            side: Side::Initiator,
            kind: TcapKind::Begin,
            held: false,
            replayed: false,
        })
    }

    /// A Continue, End or Abort: its dialogue, or held for a Begin not seen yet.
    fn follow(
        &mut self,
        meta: &PacketMeta,
        kind: TcapKind,
        otid: Option<Tid>,
        dtid: Option<Tid>,
        replayed: bool,
    ) -> Option<InDialogue> {
        let (key, side) = match kind {
            TcapKind::Unidirectional | TcapKind::Begin => return None,
            TcapKind::Continue | TcapKind::End | TcapKind::Abort => {
                let d = dtid?;
                if let Some(dl) = self.dialogues.get_mut(&d) {
                    if let (Some(o), TcapKind::Continue) = (otid, kind) {
                        dl.responder = Some(o);
                        self.responders.insert(o, d);
                    }
                    (d, Side::Responder)
                } else if let Some(&init) = self.responders.get(&d) {
                    (init, Side::Initiator)
                } else {
                    if self.closed.contains_key(&d) {
                        self.stats.duplicates += 1;
                        return None;
                    }
                    // Perhaps early: its Begin may still come (clock skew between probes).
                    let msg = HeldMsg {
                        meta: *meta,
                        kind,
                        otid,
                        comps: Vec::new(),
                    };
                    if let Some(held) = self.pairing.early.get_mut(&d) {
                        if held.len() >= MAX_HELD_PER_DIALOGUE {
                            self.stats.unmatched += 1;
                            return None;
                        }
                        held.push(msg);
                    } else if replayed
                        || self.pairing.early.hold(d, None, meta, vec![msg]) == Hold::Refused
                    {
                        self.stats.unmatched += 1;
                        return None;
                    }
                    return Some(InDialogue {
                        key: d,
                        side: Side::Responder,
                        kind,
                        held: true,
                        replayed,
                    });
                }
            }
        };
        Some(InDialogue {
            key,
            side,
            kind,
            held: false,
            replayed,
        })
    }

    /// The end of a message of dialogue `d`, after its components put their signals in
    /// `out`; a Begin's held messages are replayed after it, their signals added to `out`.
    pub fn end(&mut self, meta: &PacketMeta, d: InDialogue, out: &mut Vec<Signal>) {
        self.finish_message(meta, d);
        if d.kind == TcapKind::Begin {
            if let Some((held, _)) = self.pairing.early.take(&d.key, None, |_| true) {
                for m in held {
                    let Some(r) = self.follow(&m.meta, m.kind, m.otid, Some(d.key), true) else {
                        continue;
                    };
                    for c in &m.comps {
                        self.correlate(&m.meta, r, c, out);
                    }
                    self.finish_message(&m.meta, r);
                }
            }
        }
        // The caller's signals of this message's components are in `out` too.
        self.stats.signals += out.len() as u64;
    }

    fn finish_message(&mut self, meta: &PacketMeta, d: InDialogue) {
        if d.held {
            return;
        }
        if matches!(d.kind, TcapKind::End | TcapKind::Abort) {
            if d.kind == TcapKind::Abort {
                self.stats.aborted += 1;
            }
            self.close(meta.ts_us, d.key);
        }
    }

    fn close(&mut self, ts: TimestampUs, key: Tid) {
        if let Some(d) = self.dialogues.remove(&key) {
            if let Some(r) = d.responder {
                self.responders.remove(&r);
                self.closed.insert(r, ts);
            }
            self.closed.insert(key, ts);
            self.order.push_back((ts, key));
        }
    }

    /// One component of a message of dialogue `dl`; the signals it completes go to `out`.
    pub fn component(
        &mut self,
        meta: &PacketMeta,
        dl: InDialogue,
        c: &Component<'_>,
        fields: &MapFields,
        out: &mut Vec<Signal>,
    ) {
        let c = Comp {
            kind: c.kind,
            invoke_id: c.invoke_id,
            opcode: c.opcode.and_then(|o| o.local()),
            fields: *fields,
        };
        if dl.held {
            if let Some(m) = self
                .pairing
                .early
                .get_mut(&dl.key)
                .and_then(|h| h.last_mut())
            {
                m.comps.push(c);
            }
            return;
        }
        self.correlate(meta, dl, &c, out);
    }

    fn correlate(&mut self, meta: &PacketMeta, dl: InDialogue, c: &Comp, out: &mut Vec<Signal>) {
        let side = dl.side;
        let fields = &c.fields;
        let Some(d) = self.dialogues.get_mut(&dl.key) else {
            return;
        };
        merge(&mut d.learned, fields);
        match (c.kind, side) {
            (ComponentKind::Invoke, Side::Initiator) => {
                let Some(op) = c.opcode else {
                    return;
                };
                if d.invokes.iter().any(|i| i.id == c.invoke_id && i.op == op) {
                    return; // a relayed copy
                }
                d.invokes.push(Invoke {
                    id: c.invoke_id,
                    op,
                    meta: *meta,
                    fields: *fields,
                });
            }
            (ComponentKind::ReturnResultLast | ComponentKind::ReturnError, Side::Responder) => {
                let Some(pos) = d.invokes.iter().position(|i| i.id == c.invoke_id) else {
                    return;
                };
                let inv = d.invokes.remove(pos);
                self.pairing.paired(&inv.meta, meta, dl.replayed);
                let accepted = c.kind == ComponentKind::ReturnResultLast;
                let kind = match (inv.op, accepted) {
                    (op::UPDATE_LOCATION | op::UPDATE_GPRS_LOCATION, true) => {
                        SignalKind::LocationUpdate
                    }
                    (op::UPDATE_LOCATION | op::UPDATE_GPRS_LOCATION, false) => SignalKind::Rejected,
                    (op::SEND_AUTHENTICATION_INFO, true) => SignalKind::Auth,
                    (op::PURGE_MS, true) => SignalKind::Purge,
                    (op::CANCEL_LOCATION, true) => SignalKind::Cancel,
                    _ => return,
                };
                let places = Places {
                    e212: &self.e212,
                    e164: &self.e164,
                    gt_plmn: &self.gt_plmn,
                };
                match places.signal(kind, &inv, d) {
                    Some(s) => out.push(s),
                    None => self.stats.no_imsi += 1,
                }
            }
            (ComponentKind::Reject, _) => self.stats.aborted += 1,
            _ => {}
        }
    }

    fn expire(&mut self, now: TimestampUs) {
        self.stats.unmatched += self.pairing.expire(now, |held| held.len() as u64);
        while let Some(&(ts, key)) = self.order.front() {
            if now - ts < self.timeout_us {
                break;
            }
            self.order.pop_front();
            if self.foreign.get(&key) == Some(&ts) {
                self.foreign.remove(&key);
            }
            if self.closed.get(&key) == Some(&ts) {
                self.closed.remove(&key);
            }
            if self.dialogues.get(&key).is_some_and(|d| d.opened == ts) {
                if let Some(d) = self.dialogues.remove(&key) {
                    if let Some(r) = d.responder {
                        self.responders.remove(&r);
                    }
                    if !d.invokes.is_empty() {
                        self.stats.unanswered += 1;
                    }
                }
            }
        }
    }

    /// End of input: dialogues still open with unanswered invokes are counted.
    pub fn flush(&mut self) {
        self.stats.unanswered += self
            .dialogues
            .values()
            .filter(|d| !d.invokes.is_empty())
            .count() as u64;
        self.dialogues.clear();
        self.responders.clear();
        self.order.clear();
        self.stats.unmatched += self.pairing.flush(|held| held.len() as u64);
    }
}

/// The reference tables a signal's home and serving places come from.
struct Places<'t> {
    e212: &'t E212,
    e164: &'t E164,
    gt_plmn: &'t GtPlmnTable,
}

impl Places<'_> {
    fn signal(&self, kind: SignalKind, inv: &Invoke, d: &Dialogue) -> Option<Signal> {
        let imsi = inv.fields.imsi.or(d.learned.imsi)?;
        let number = match inv.op {
            op::UPDATE_GPRS_LOCATION => inv.fields.sgsn,
            _ => inv.fields.vlr.or(inv.fields.sgsn),
        };
        let gt = match inv.op {
            op::CANCEL_LOCATION => d.responder_gt,
            _ => d.initiator_gt,
        };
        let node: Option<Vec<u8>> = number
            .map(|n| n.as_bytes().to_vec())
            .or_else(|| gt.map(|g| g.as_bytes().to_vec()));
        let serving = node.as_deref().and_then(|n| self.gt_plmn.plmn(n));
        let serving_country = match serving {
            Some(p) => self.e212.country(p.mcc),
            None => node.as_deref().and_then(|n| self.e164.country(n)),
        };
        Some(Signal {
            at: inv.meta.ts_us,
            imsi,
            msisdn: inv.fields.msisdn.or(d.learned.msisdn),
            kind,
            home: self.e212.home_plmn(&imsi),
            home_country: self.e212.imsi_country(&imsi),
            serving,
            serving_country,
            location: None,
            rat: None,
            source: Provenance {
                file: inv.meta.file,
                frame: inv.meta.frame,
                proto: Proto::Map,
                message: inv.op as u32,
            },
        })
    }
}

fn merge(into: &mut MapFields, from: &MapFields) {
    // Copied only where missing (most components learn nothing new).
    fn fill<T: Copy>(into: &mut Option<T>, from: &Option<T>) {
        if into.is_none() && from.is_some() {
            *into = *from;
        }
    }
    fill(&mut into.imsi, &from.imsi);
    fill(&mut into.msisdn, &from.msisdn);
    fill(&mut into.vlr, &from.vlr);
    fill(&mut into.msc, &from.msc);
    fill(&mut into.sgsn, &from.sgsn);
}
