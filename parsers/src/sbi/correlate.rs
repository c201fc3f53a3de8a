//! SBI request/response correlation into normalized [`Signal`]s.
//!
//! | request | 2xx | 3xx/4xx |
//! |---|---|---|
//! | Nudm UECM PUT `registrations/amf-(non-)3gpp-access` | `attach` (`initialRegistrationInd`) or `location_update`, serving PLMN = `guami.plmnId`, RAT = `ratType` | `rejected` |
//! | Nudm UECM PATCH, `purgeFlag: true` | `purge` | counted |
//! | Nudm UECM DELETE, POST `dereg-amf` | `detach` | counted |
//! | Nausf POST `ue-authentications` | `auth`, serving PLMN from `servingNetworkName` | counted |
//! | Nudm SDM GET `am-data` | `auth` (its `gpsis` give the MSISDN) | counted |
//!
//! A 5xx answer gives no signal (counted). A signal carries the time and frame of the
//! request's first copy.
//!
//! **Relayed copies.** An SCP or a pair of SEPPs forwards the same request on further
//! connections (AMF → vSCP → vSEPP → hSEPP → UDM): each hop is another HTTP exchange
//! with the same method, path and body. A request identical to one still unanswered is
//! taken as a copy of it and joins its transaction; the first answer of any copy
//! completes the transaction, the copies' answers are counted as such. A request
//! repeated after its answer is a new transaction.

use ahash::AHashMap as HashMap;
use std::collections::VecDeque;

use super::model::{
    AccessAndMobilitySubscriptionData, AmfRegistration, AmfRegistrationModification,
    AuthenticationInfo,
};
use super::{body, is_json, serving_network, target, Resource, SbiView, Service};
use crate::error::DecodeError;
use crate::flow::PacketMeta;
use crate::http::{Exchange, HttpMessage, Method};
use crate::numbering::e212::E212;
use crate::signal::{Proto, Provenance, Signal, SignalKind, TimestampUs};
use crate::types::{Imsi, Msisdn, Plmn};

/// Counters of what gave no signal, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SbiStats {
    pub signals: u64,
    /// Requests forwarded again by an SCP/SEPP (joined their first copy's transaction).
    pub relay_copies: u64,
    /// Answers to relayed copies of a transaction already completed.
    pub copy_answers: u64,
    /// Answers whose request was not seen.
    pub unmatched: u64,
    /// Transactions unanswered after the timeout or at the end.
    pub unanswered: u64,
    /// 5xx answers and other failures that give no signal.
    pub failed: u64,
    /// Transactions about no IMSI (NAI, concealed SUCI).
    pub no_imsi: u64,
    /// UECM registration modifications without purge (no signal).
    pub modified: u64,
}

/// What a tracked request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    Register { initial: bool },
    Purge,
    Modify,
    Deregister,
    Authenticate,
    AmData,
}

#[derive(Clone, Debug)]
struct Tx {
    meta: PacketMeta,
    what: What,
    service: Service,
    method: Method,
    imsi: Option<Imsi>,
    serving: Option<Plmn>,
    rat: Option<u32>,
    /// The identity of the request (method, path, body) while it is open.
    key: CopyKey,
    /// Exchanges (copies) still waiting for their answer.
    open: u32,
    done: bool,
}

/// What makes two requests copies of one: method, path and body, kept as a 64-bit hash
/// (`DefaultHasher::new`: fixed keys, the same in every run of a build) and the body's
/// length, so an open transaction costs no copy of its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CopyKey(u64, usize);

impl CopyKey {
    fn of(method: Method, path: &str, body: &[u8]) -> CopyKey {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        method.hash(&mut h);
        path.hash(&mut h);
        body.hash(&mut h);
        CopyKey(h.finish(), body.len())
    }
}

/// Pairs SBI requests with their answers across relays and emits signals.
#[derive(Clone, Debug)]
pub struct SbiCorrelator {
    e212: E212,
    timeout_us: i64,
    max_pending: usize,
    max_msisdns: usize,
    next: u64,
    pending: HashMap<Exchange, u64>,
    txs: HashMap<u64, Tx>,
    /// Open transactions by request identity.
    copies: HashMap<CopyKey, u64>,
    order: VecDeque<(TimestampUs, Exchange)>,
    msisdns: HashMap<Imsi, Msisdn>,
    stats: SbiStats,
}

impl SbiCorrelator {
    pub fn new(e212: E212) -> SbiCorrelator {
        SbiCorrelator {
            e212,
            timeout_us: 30_000_000,
            max_pending: 1 << 18,
            max_msisdns: 1 << 22,
            next: 0,
            pending: HashMap::new(),
            txs: HashMap::new(),
            copies: HashMap::new(),
            order: VecDeque::new(),
            msisdns: HashMap::new(),
            stats: SbiStats::default(),
        }
    }

    pub fn stats(&self) -> &SbiStats {
        &self.stats
    }

    /// The request time of the oldest open transaction, if any.
    pub fn oldest_pending(&self) -> Option<TimestampUs> {
        self.txs
            .values()
            .filter(|t| !t.done)
            .map(|t| t.meta.ts_us)
            .min()
    }

    /// Feed one HTTP message. Returns what the inspect record shows of it, a body that
    /// could not be read (the message still counts), and the signal it completes.
    pub fn push(
        &mut self,
        msg: &HttpMessage<'_>,
    ) -> (SbiView, Option<DecodeError>, Option<Signal>) {
        self.expire(msg.start.ts_us);
        let mut view = SbiView {
            method: msg.head.method,
            path: msg.head.path.clone(),
            status: msg.head.status,
            stream: msg.exchange.map(|e| e.id),
            ..SbiView::default()
        };
        if msg.head.is_request() {
            let e = self.request(msg, &mut view).err();
            (view, e, None)
        } else {
            match self.response(msg) {
                Ok(s) => (view, None, s),
                Err(e) => (view, Some(e), None),
            }
        }
    }

    fn request(&mut self, msg: &HttpMessage<'_>, view: &mut SbiView) -> Result<(), DecodeError> {
        let Some(t) = msg.head.path.as_deref().and_then(target) else {
            return Ok(());
        };
        view.service = Some(t.service_name.clone());
        view.imsi = t.imsi;
        let method = msg.head.method.unwrap_or(Method::Other);
        let json = is_json(msg);
        let mut imsi = t.imsi;
        let (what, serving, rat) = match (t.resource, method) {
            (Resource::AmfRegistration(_), Method::Put) if json => {
                let r: AmfRegistration = body(msg, "sbi body not an AmfRegistration (TS 29.503)")?;
                let supi_imsi = r.supi.as_deref().and_then(super::imsi_of);
                imsi = imsi.or(supi_imsi);
                let initial = r.initial_registration_ind == Some(true);
                (
                    What::Register { initial },
                    r.guami.plmn_id.plmn(),
                    r.rat_type.code(),
                )
            }
            (Resource::AmfRegistration(_), Method::Patch) if json => {
                let m: AmfRegistrationModification = body(
                    msg,
                    "sbi body not an AmfRegistrationModification (TS 29.503)",
                )?;
                let what = if m.purge_flag == Some(true) {
                    What::Purge
                } else {
                    What::Modify
                };
                (what, m.guami.plmn_id.plmn(), None)
            }
            (Resource::AmfRegistration(_), Method::Delete)
            | (Resource::AmfDeregistration(_), Method::Post) => (What::Deregister, None, None),
            (Resource::UeAuthentications, Method::Post) if json => {
                let a: AuthenticationInfo =
                    body(msg, "sbi body not an AuthenticationInfo (TS 29.509)")?;
                imsi = super::imsi_of(&a.supi_or_suci);
                (
                    What::Authenticate,
                    serving_network(&a.serving_network_name, &self.e212),
                    None,
                )
            }
            (Resource::AmData, Method::Get) => (What::AmData, None, None),
            _ => return Ok(()),
        };
        view.imsi = imsi;
        view.plmn = serving;
        view.rat = rat;
        let Some(exchange) = msg.exchange else {
            return Ok(());
        };
        let key = CopyKey::of(method, msg.head.path.as_deref().unwrap_or(""), msg.body);
        if let Some(&id) = self.copies.get(&key) {
            if let Some(tx) = self.txs.get_mut(&id) {
                tx.open += 1;
                self.stats.relay_copies += 1;
                self.pending.insert(exchange, id);
                self.order.push_back((msg.start.ts_us, exchange));
                return Ok(());
            }
        }
        if self.pending.len() >= self.max_pending {
            self.stats.unanswered += self.txs.values().filter(|t| !t.done).count() as u64;
            self.pending.clear();
            self.txs.clear();
            self.copies.clear();
            self.order.clear();
        }
        let id = self.next;
        self.next += 1;
        self.copies.insert(key, id);
        self.txs.insert(
            id,
            Tx {
                meta: msg.start,
                what,
                service: t.service,
                method,
                imsi,
                serving,
                rat,
                key,
                open: 1,
                done: false,
            },
        );
        self.pending.insert(exchange, id);
        self.order.push_back((msg.start.ts_us, exchange));
        Ok(())
    }

    /// One exchange of transaction `id` ended (answered or expired).
    fn close_exchange(&mut self, id: u64) {
        if let Some(tx) = self.txs.get_mut(&id) {
            tx.open = tx.open.saturating_sub(1);
            if tx.open == 0 {
                if let Some(tx) = self.txs.remove(&id) {
                    if !tx.done {
                        self.copies.remove(&tx.key);
                    }
                }
            }
        }
    }

    fn response(&mut self, msg: &HttpMessage<'_>) -> Result<Option<Signal>, DecodeError> {
        let Some(exchange) = msg.exchange else {
            return Ok(None);
        };
        let Some(id) = self.pending.remove(&exchange) else {
            self.stats.unmatched += 1;
            return Ok(None);
        };
        let status = msg.head.status.unwrap_or(0);
        let Some(tx) = self.txs.get_mut(&id) else {
            return Ok(None);
        };
        if tx.done {
            self.stats.copy_answers += 1;
            self.close_exchange(id);
            return Ok(None);
        }
        tx.done = true;
        let tx = tx.clone();
        self.copies.remove(&tx.key);
        self.close_exchange(id);
        let ok = (200..300).contains(&status);
        let refused = (300..500).contains(&status);
        let mut msisdn = None;
        if ok && tx.what == What::AmData && is_json(msg) {
            let d: AccessAndMobilitySubscriptionData = body(
                msg,
                "sbi body not AccessAndMobilitySubscriptionData (TS 29.503)",
            )?;
            msisdn = d
                .gpsis
                .iter()
                .find_map(|g| g.strip_prefix("msisdn-"))
                .and_then(|d| Msisdn::parse(d).ok());
        }
        let kind = match (tx.what, ok, refused) {
            (What::Register { initial: true }, true, _) => SignalKind::Attach,
            (What::Register { initial: false }, true, _) => SignalKind::LocationUpdate,
            (What::Register { .. }, _, true) => SignalKind::Rejected,
            (What::Purge, true, _) => SignalKind::Purge,
            (What::Deregister, true, _) => SignalKind::Detach,
            (What::Authenticate | What::AmData, true, _) => SignalKind::Auth,
            (What::Modify, true, _) => {
                self.stats.modified += 1;
                return Ok(None);
            }
            _ => {
                self.stats.failed += 1;
                return Ok(None);
            }
        };
        let Some(imsi) = tx.imsi else {
            self.stats.no_imsi += 1;
            return Ok(None);
        };
        if let Some(m) = msisdn {
            if self.msisdns.len() >= self.max_msisdns && !self.msisdns.contains_key(&imsi) {
                self.msisdns.clear();
            }
            self.msisdns.insert(imsi, m);
        }
        self.stats.signals += 1;
        Ok(Some(Signal {
            at: tx.meta.ts_us,
            imsi,
            msisdn: msisdn.or_else(|| self.msisdns.get(&imsi).copied()),
            kind,
            home: self.e212.home_plmn(&imsi),
            home_country: self.e212.imsi_country(&imsi),
            serving: tx.serving,
            serving_country: tx.serving.and_then(|p| self.e212.plmn_country(&p)),
            location: None,
            rat: tx.rat,
            source: Provenance {
                file: tx.meta.file,
                frame: tx.meta.frame,
                proto: Proto::Sbi,
                message: message_code(tx.service, tx.method),
            },
        }))
    }

    /// Exchanges older than the timeout are dropped; their transactions, if none of
    /// their copies was answered, counted as unanswered.
    fn expire(&mut self, now: TimestampUs) {
        while let Some(&(ts, ex)) = self.order.front() {
            if now.saturating_sub(ts) < self.timeout_us {
                break;
            }
            self.order.pop_front();
            if let Some(id) = self.pending.remove(&ex) {
                if self.txs.get(&id).is_some_and(|t| !t.done && t.open == 1) {
                    self.stats.unanswered += 1;
                }
                self.close_exchange(id);
            }
        }
    }

    /// End of input: open transactions are counted as unanswered.
    pub fn flush(&mut self) {
        self.stats.unanswered += self.txs.values().filter(|t| !t.done).count() as u64;
        self.pending.clear();
        self.txs.clear();
        self.copies.clear();
        self.order.clear();
    }
}

/// A signal's `message` for SBI: the service's code × 16 + the method's
/// ([`Service::code`], [`Method::code`]): 18 = Nudm UECM PUT.
pub fn message_code(service: Service, method: Method) -> u32 {
    service.code() * 16 + method.code()
}
