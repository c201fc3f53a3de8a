//! `serve`'s partner side (`[partners]`): the registry of partners, subscriptions and
//! consent (landfall-partners, SQLite) feeding the dataflow's partner stage; matches
//! rendered as signed CloudEvents (landfall-delivery) and written to the durable outbox
//! *before* the batch counts as emitted; the dispatcher delivering them; the routes.
//!
//! ```text
//! API ──RegistryChange──► registry thread ──Edit──► feeder ──► dataflow partner stage
//!                           │ directory (keys, subscriptions), lifecycle events
//! dataflow ──Completed.matches──► emitter ──render──► outbox (SQLite) ──► dispatcher ──► sinks
//! ```
//!
//! Every hand-off is bounded. A re-derived match (after a restart) renders to the same
//! event id: its insert is a no-op. A retraction (consent withdrawn, subscription ended)
//! cancels the event if it was not delivered yet; one that only marks the moment's expiry
//! is left to the dispatcher, which never sends an expired event.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::Duration;

use landfall_dataflows::stream::RegistryEdit;
use landfall_dataflows::zones::{LonLat, Shape, Zone};
use landfall_delivery::aggregate::{self, Member};
use landfall_delivery::dispatch::{DispatchConfig, Dispatcher, GoneNotice, SecretTable};
use landfall_delivery::event::{
    self, EventType, LifecycleChange, PartnerKeys, RenderConfig, TerminationReason as Ended,
};
use landfall_delivery::guard::{check_sink_blocking, GuardConfig};
use landfall_delivery::metrics::DeliveryMetrics;
use landfall_delivery::outbox::{Outbox, OutboxEvent};
use landfall_delivery::sign::WebhookSecret;
use landfall_model::moment::{Moment, MomentKind};
use landfall_model::partner::{Match, PartnerId};
use landfall_model::{Imsi, TimestampUs};
use landfall_partners::{
    ApiState, DeliveryAdmin, LifecycleEvent, LifecycleKind, Registry, RegistryChange,
    StoredSubscription, Target, TerminationReason,
};
use tracing::{info, warn};

use crate::config::PartnerSettings;

/// A change for the feeder to apply to the dataflow's input at its current time.
pub enum Edit {
    Registry(Vec<(RegistryEdit, isize)>),
    Zones(Vec<(Zone, isize)>),
}

/// What the emitter and the registry thread look up: each partner's keys, each active
/// subscription.
#[derive(Default)]
struct Directory {
    partners: RwLock<HashMap<PartnerId, PartnerKeys>>,
    subscriptions: RwLock<HashMap<u64, Arc<StoredSubscription>>>,
    /// Circle subscriptions' zones, by id (a removal names only the id).
    circles: RwLock<HashMap<landfall_model::ZoneId, Zone>>,
    /// The global opt-out: never counted in an aggregate either.
    opt_outs: RwLock<HashSet<Imsi>>,
    /// Per subscription without `initialEvent`: the emitted time when it was added;
    /// matches of moments before it (still live when it came) are not sent.
    created_upto: RwLock<HashMap<u64, TimestampUs>>,
    /// Every time before this one has been emitted.
    emitted_upto: std::sync::atomic::AtomicI64,
}

/// The partner side of a running `serve`.
pub struct Partners {
    pub registry: Arc<Registry>,
    pub outbox: Arc<Outbox>,
    directory: Arc<Directory>,
    render: RenderConfig,
    secrets: Arc<SecretTable>,
    settings: PartnerSettings,
    zones: bool,
    /// The end of the earliest open aggregate interval (none open: `None`).
    next_close: Arc<Mutex<Option<TimestampUs>>>,
    /// Subscriptions being ended for `subscriptionMaxEvents`.
    ending: Arc<Mutex<HashSet<u64>>>,
    /// When the outbox's latest event times were last pruned.
    prune_latest: Arc<PruneLatest>,
    /// Subscriptions whose sink answered `410 Gone`: their `subscription-ended` is not
    /// sent there (it would only be refused again and become a dead letter).
    gone: Arc<Mutex<HashSet<u64>>>,
}

/// An outbox row and whether its event is in the outbox already.
type KnownRow = (OutboxEvent, bool);

/// A per-person subscription's frequency cap (µs), if it has one.
fn frequency_cap(s: &StoredSubscription) -> Option<i64> {
    s.person_subscription().and_then(|p| p.frequency_cap_us)
}

/// A subscription's latest event about a subscriber: (subscription, pseudonym, time).
type Latest = (u64, String, TimestampUs);

/// Prunes the latest event times older than the longest frequency cap, at most once per
/// hour of event time.
#[derive(Default)]
struct PruneLatest(std::sync::atomic::AtomicI64);

impl PruneLatest {
    const EVERY_US: i64 = 3_600_000_000;

    /// The time before which to forget, when a pruning is due at `upto`.
    fn due(&self, upto: TimestampUs) -> Option<TimestampUs> {
        let last = self.0.load(Ordering::SeqCst);
        (upto.saturating_sub(last) >= Self::EVERY_US && self.0.swap(upto, Ordering::SeqCst) == last)
            .then(|| {
                upto.saturating_sub(landfall_partners::camara::MAX_FREQUENCY_CAP_S * 1_000_000)
            })
    }
}

/// Why the partner side could not start.
#[derive(Debug, thiserror::Error)]
pub enum PartnersError {
    #[error("partners: the registry in {0}")]
    Registry(String),
    #[error("partners: the outbox in {0}")]
    Outbox(String),
}

impl Partners {
    /// Open the registry and the outbox in `data_dir/landfall.db`, load every partner,
    /// subscription, consent and opt-out, and start the registry thread. Returns the
    /// side and the feeder's end of the edits (the current registry first). `zones`:
    /// whether the dataflow has zones (circle subscriptions need them).
    pub fn start(
        data_dir: &Path,
        settings: &PartnerSettings,
        ttl_us: i64,
        zones: bool,
    ) -> Result<(Partners, Receiver<Edit>), PartnersError> {
        let db = data_dir.join("landfall.db");
        let (changes_tx, changes) = mpsc::sync_channel::<RegistryChange>(1024);
        let registry = Registry::open(&db, Arc::new(changes_tx))
            .map_err(|e| PartnersError::Registry(format!("{}: {e}", db.display())))?;
        let outbox = Outbox::open(&db, landfall_delivery::now_us())
            .map_err(|e| PartnersError::Outbox(format!("{}: {e}", db.display())))?;
        let next_close = outbox
            .next_close()
            .map_err(|e| PartnersError::Outbox(format!("{}: {e}", db.display())))?;
        let mut render = RenderConfig::new(settings.event_source.clone());
        render.ttl_us = Some(ttl_us);
        let partners = Partners {
            registry: Arc::new(registry),
            outbox: Arc::new(outbox),
            directory: Arc::default(),
            render,
            secrets: Arc::new(SecretTable::default()),
            settings: settings.clone(),
            zones,
            next_close: Arc::new(Mutex::new(next_close)),
            ending: Arc::default(),
            prune_latest: Arc::default(),
            gone: Arc::default(),
        };
        let (edits_tx, edits) = mpsc::sync_channel::<Edit>(64);
        let current = partners
            .registry
            .snapshot()
            .map_err(|e| PartnersError::Registry(format!("{}: {e}", db.display())))?;
        info!(
            partners = current.partners.len(),
            subscriptions = current.subscriptions.len(),
            consents = current.consents.len(),
            opt_outs = current.opt_outs.len(),
            "partner registry loaded"
        );
        // Into the channel before the feeder starts: present from the first batch.
        partners.forward(current.into_changes(), &edits_tx);
        // One given its last event before a crash, not yet ended.
        let loaded: Vec<u64> = partners
            .directory
            .subscriptions
            .read()
            .expect("subscriptions")
            .keys()
            .copied()
            .collect();
        partners
            .end_when_max_events_reached(loaded.into_iter())
            .map_err(|e| PartnersError::Outbox(format!("{}: {e}", db.display())))?;
        let worker = partners.worker();
        thread::Builder::new()
            .name("landfall-registry".into())
            .spawn(move || {
                while let Ok(first) = changes.recv() {
                    let mut batch = vec![first];
                    batch.extend(changes.try_iter().take(4096));
                    if !worker.forward(batch, &edits_tx) {
                        break;
                    }
                }
            })
            .map_err(|e| PartnersError::Registry(e.to_string()))?;
        Ok((partners, edits))
    }

    /// A second handle for the registry thread.
    fn worker(&self) -> Partners {
        Partners {
            registry: Arc::clone(&self.registry),
            outbox: Arc::clone(&self.outbox),
            directory: Arc::clone(&self.directory),
            render: self.render.clone(),
            secrets: Arc::clone(&self.secrets),
            settings: self.settings.clone(),
            zones: self.zones,
            next_close: Arc::clone(&self.next_close),
            ending: Arc::clone(&self.ending),
            prune_latest: Arc::clone(&self.prune_latest),
            gone: Arc::clone(&self.gone),
        }
    }

    /// Apply `changes` to the directory and the outbox, and send the dataflow's part on.
    /// False when the feeder is gone.
    fn forward(&self, changes: Vec<RegistryChange>, edits: &SyncSender<Edit>) -> bool {
        let mut registry: Vec<(RegistryEdit, isize)> = Vec::new();
        let mut zones: Vec<(Zone, isize)> = Vec::new();
        let mut lifecycle: Vec<OutboxEvent> = Vec::new();
        for change in changes {
            match change {
                RegistryChange::PartnerUpserted(p) => {
                    match WebhookSecret::parse(&p.webhook_secret) {
                        Ok(s) => self.secrets.set(p.id.0, s),
                        Err(e) => warn!(partner = p.id.0, "webhook secret unusable: {e}"),
                    }
                    self.directory.partners.write().expect("partners").insert(
                        p.id,
                        PartnerKeys {
                            pseudonym_key: p.pseudonym_key.to_vec(),
                            id_key: p.event_id_key.to_vec(),
                            msisdn_allowed: p.msisdn_allowed,
                        },
                    );
                }
                RegistryChange::PartnerRemoved(id) => {
                    self.secrets.remove(id.0);
                    self.directory
                        .partners
                        .write()
                        .expect("partners")
                        .remove(&id);
                }
                RegistryChange::SubscriptionAdded(s) => {
                    if !s.initial_event {
                        let upto = self.directory.emitted_upto.load(Ordering::SeqCst);
                        self.directory
                            .created_upto
                            .write()
                            .expect("created")
                            .insert(s.id, upto);
                    }
                    if let Some(sub) = s.person_subscription() {
                        registry.push((RegistryEdit::Subscription(Box::new(sub.clone())), 1));
                    }
                    self.directory
                        .subscriptions
                        .write()
                        .expect("subscriptions")
                        .insert(s.id, s);
                }
                RegistryChange::SubscriptionRemoved {
                    id,
                    subscription,
                    reason,
                    ..
                } => {
                    if let Some(sub) = subscription {
                        registry.push((RegistryEdit::Subscription(sub), -1));
                    }
                    self.directory
                        .subscriptions
                        .write()
                        .expect("subscriptions")
                        .remove(&id);
                    self.directory
                        .created_upto
                        .write()
                        .expect("created")
                        .remove(&id);
                    // Its events not yet delivered are cancelled, but for the last ones
                    // of a subscription that ended by reaching its maximum.
                    let cancel = || match reason {
                        TerminationReason::MaxEventsReached => Ok(0),
                        _ => self
                            .outbox
                            .cancel_subscription(id, landfall_delivery::now_us()),
                    };
                    if let Err(e) = cancel().and_then(|_| self.outbox.forget_subscription(id)) {
                        warn!(subscription = id, "outbox: {e}");
                    }
                }
                RegistryChange::ConsentGranted(c) => registry.push((RegistryEdit::Consent(c), 1)),
                RegistryChange::ConsentWithdrawn(c) => {
                    registry.push((RegistryEdit::Consent(c), -1))
                }
                RegistryChange::OptOutAdded(i) => {
                    self.directory.opt_outs.write().expect("opt-outs").insert(i);
                    registry.push((RegistryEdit::OptOut(i), 1))
                }
                RegistryChange::OptOutRemoved(i) => {
                    self.directory
                        .opt_outs
                        .write()
                        .expect("opt-outs")
                        .remove(&i);
                    registry.push((RegistryEdit::OptOut(i), -1))
                }
                RegistryChange::CircleZoneAdded(c) => {
                    if self.zones {
                        let z = circle(c.id, c.lon, c.lat, c.radius_m);
                        self.directory
                            .circles
                            .write()
                            .expect("circles")
                            .insert(c.id, z.clone());
                        zones.push((z, 1));
                    } else {
                        warn!(zone = %c.id, "a circle subscription, but no [zones] (no cell catalog): it matches nothing");
                    }
                }
                RegistryChange::CircleZoneRemoved(id) => {
                    // Retracted whole: the membership keys zones by their definition.
                    if let Some(z) = self.directory.circles.write().expect("circles").remove(&id) {
                        zones.push((z, -1));
                    }
                }
                RegistryChange::Lifecycle(ev) => {
                    if let Some(e) = self.lifecycle(&ev) {
                        lifecycle.push(e);
                    }
                }
            }
        }
        if !lifecycle.is_empty() {
            if let Err(e) = self.outbox.insert_batch(&lifecycle) {
                warn!("outbox: lifecycle events not written: {e}");
            }
        }
        (zones.is_empty() || edits.send(Edit::Zones(zones)).is_ok())
            && (registry.is_empty() || edits.send(Edit::Registry(registry)).is_ok())
    }

    /// A subscription's lifecycle event, rendered for the outbox.
    fn lifecycle(&self, ev: &LifecycleEvent) -> Option<OutboxEvent> {
        let s = &ev.subscription;
        if ev.kind == LifecycleKind::Ended && self.gone.lock().expect("gone").remove(&s.id) {
            info!(
                subscription = s.id,
                "subscription ended: its sink answered 410 Gone (no subscription-ended sent)"
            );
            return None;
        }
        let keys = self
            .directory
            .partners
            .read()
            .expect("partners")
            .get(&s.partner)
            .cloned()?;
        let Some(ty) = EventType::parse(&ev.event_type()) else {
            warn!(
                subscription = s.id,
                "lifecycle event of an unknown type: {}",
                ev.event_type()
            );
            return None;
        };
        let change = match ev.kind {
            LifecycleKind::Started => LifecycleChange::Started,
            LifecycleKind::Updated => LifecycleChange::Updated { active: true },
            LifecycleKind::Ended => LifecycleChange::Ended {
                reason: ended(
                    ev.termination_reason
                        .unwrap_or(TerminationReason::NetworkTerminated),
                ),
                description: None,
            },
        };
        match event::render_lifecycle(&self.render, &keys, s.id, ty, &change, ev.at) {
            Ok(r) => Some(r.into_outbox(
                s.partner.0,
                s.id,
                Some(s.sink.clone()),
                s.sink_token.as_ref().map(|t| t.token.clone()),
                ev.at,
            )),
            Err(e) => {
                warn!(subscription = s.id, "lifecycle event not rendered: {e}");
                None
            }
        }
    }

    /// What a completed batch gives partners, written before the batch counts as
    /// emitted: the outbox rows of its matches (`+1`) and the cancellations its
    /// retractions ask for (`-1` of a moment not yet expired at `upto`); its arrivals
    /// counted for aggregate subscriptions, and the reports of every aggregate interval
    /// that `upto` closes. Returns how many events were new.
    pub fn emit(
        &self,
        matches: &[(Match, isize)],
        moments: &[Moment],
        upto: TimestampUs,
    ) -> Result<usize, String> {
        let n = self.emit_matches(matches, upto)?;
        let n = n + self.aggregate(moments, upto)?;
        self.directory
            .emitted_upto
            .fetch_max(upto, Ordering::SeqCst);
        Ok(n)
    }

    /// Count `moments`' arrivals into every aggregate subscription of their area, then
    /// report the intervals closed by `upto`.
    fn aggregate(&self, moments: &[Moment], upto: TimestampUs) -> Result<usize, String> {
        let mut members: Vec<Member> = Vec::new();
        {
            let partners = self.directory.partners.read().expect("partners");
            let subs = self.directory.subscriptions.read().expect("subscriptions");
            let opt_outs = self.directory.opt_outs.read().expect("opt-outs");
            let wanted: Vec<(&StoredSubscription, i64, &PartnerKeys)> = subs
                .values()
                .filter_map(|s| match &s.target {
                    Target::Aggregate {
                        interval_us, area, ..
                    } if moments.iter().any(|m| area.is_none_or(|a| a == m.area)) => partners
                        .get(&s.partner)
                        .map(|k| (s.as_ref(), *interval_us, k)),
                    _ => None,
                })
                .collect();
            if !wanted.is_empty() {
                for m in moments {
                    if m.kind != MomentKind::Arrival || opt_outs.contains(&m.imsi) {
                        continue;
                    }
                    for (s, interval_us, keys) in &wanted {
                        let Target::Aggregate { level, area, .. } = &s.target else {
                            continue;
                        };
                        if *level != m.level || area.is_some_and(|a| a != m.area) {
                            continue;
                        }
                        let member =
                            event::pseudonym(keys, m.imsi.as_str()).map_err(|e| e.to_string())?;
                        members.push(Member {
                            subscription: s.id,
                            level: m.level.as_str(),
                            area: landfall_model::json::area_text(&m.area),
                            home_country: m.home_country,
                            interval_end_us: aggregate::interval_end(m.at, *interval_us),
                            member,
                        });
                    }
                }
            }
        }
        let mut next = self.next_close.lock().expect("next close");
        if !members.is_empty() {
            self.outbox
                .add_members(&members)
                .map_err(|e| e.to_string())?;
            let earliest = members.iter().map(|m| m.interval_end_us).min();
            *next = match (*next, earliest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // The stream's last batch (`upto` = the end of time: the run stops) closes
        // nothing: the open intervals stay in the database for the next run.
        if next.is_none_or(|t| t > upto) || upto == TimestampUs::MAX {
            return Ok(0);
        }
        let groups = self.outbox.closed_groups(upto).map_err(|e| e.to_string())?;
        let now = landfall_delivery::now_us();
        let mut rows: Vec<OutboxEvent> = Vec::new();
        {
            let partners = self.directory.partners.read().expect("partners");
            let subs = self.directory.subscriptions.read().expect("subscriptions");
            let k = u64::from(self.settings.aggregate_min_count);
            let interval = |id: u64| match subs.get(&id).map(|s| &s.target) {
                Some(Target::Aggregate { interval_us, .. }) => Some(*interval_us),
                _ => None,
            };
            for r in aggregate::reports(&groups, k, interval) {
                let Some(s) = subs.get(&r.subscription) else {
                    continue;
                };
                let Some(keys) = partners.get(&s.partner) else {
                    continue;
                };
                match aggregate::render_report(&self.render, keys, &r, now) {
                    Ok(e) => rows.push(e.into_outbox(
                        s.partner.0,
                        s.id,
                        Some(s.sink.clone()),
                        s.sink_token.as_ref().map(|t| t.token.clone()),
                        now,
                    )),
                    Err(e) => warn!(subscription = s.id, "aggregate not rendered: {e}"),
                }
            }
        }
        // Reports in before their members go: a crash in between closes them again,
        // to the same ids.
        let n = self.outbox.insert_batch(&rows).map_err(|e| e.to_string())?;
        self.outbox.forget_closed(upto).map_err(|e| e.to_string())?;
        *next = self.outbox.next_close().map_err(|e| e.to_string())?;
        Ok(n)
    }

    /// The outbox rows of a completed batch's matches and the cancellations of its
    /// retractions.
    fn emit_matches(&self, matches: &[(Match, isize)], upto: TimestampUs) -> Result<usize, String> {
        if matches.is_empty() {
            return Ok(0);
        }
        let now = landfall_delivery::now_us();
        let partners = self.directory.partners.read().expect("partners");
        let subs = self.directory.subscriptions.read().expect("subscriptions");
        let created = self.directory.created_upto.read().expect("created");
        let mut rows: Vec<(OutboxEvent, TimestampUs, Imsi)> = Vec::new();
        for (m, diff) in matches {
            let (Some(s), Some(keys)) = (subs.get(&m.subscription), partners.get(&m.partner))
            else {
                continue;
            };
            if !s.admits(&m.moment) {
                continue;
            }
            // Without `initialEvent`, what was emitted before the subscription is not
            // sent (the partner stage matches every moment still live when it comes).
            if created.get(&s.id).is_some_and(|t| m.moment.at < *t) {
                continue;
            }
            let Some(ty) = EventType::parse(&s.event_type) else {
                continue;
            };
            if *diff > 0 {
                match event::render_match(&self.render, keys, m, ty, now) {
                    Ok(r) => rows.push((
                        r.into_outbox(
                            s.partner.0,
                            s.id,
                            Some(s.sink.clone()),
                            s.sink_token.as_ref().map(|t| t.token.clone()),
                            now,
                        ),
                        m.moment.at,
                        m.moment.imsi,
                    )),
                    Err(e) => warn!(subscription = s.id, "event not rendered: {e}"),
                }
            } else if m.moment.expires_at > upto {
                let id = event::event_id(keys, &m.moment, s.id, &s.event_type)
                    .map_err(|e| e.to_string())?;
                self.outbox
                    .cancel(s.id, &id, now)
                    .map_err(|e| e.to_string())?;
            }
        }
        let rows = self.with_known(rows, &subs)?;
        let (rows, latest) = self.within_frequency_caps(rows, &subs, &partners)?;
        let rows = self.within_max_events(rows, &subs)?;
        drop((partners, subs, created));
        let n = self
            .outbox
            .insert_batch_with(&rows, &latest)
            .map_err(|e| e.to_string())?;
        if let Some(before) = (upto != TimestampUs::MAX)
            .then(|| self.prune_latest.due(upto))
            .flatten()
        {
            self.outbox
                .forget_latest_before(before)
                .map_err(|e| e.to_string())?;
        }
        if n > 0 {
            self.end_when_max_events_reached(rows.iter().map(|r| r.subscription))?;
        }
        Ok(n)
    }

    /// `rows`, each with whether its event is in the outbox already, asked (once) only of
    /// rows a budget applies to: an event already there is never refused by one.
    fn with_known(
        &self,
        rows: Vec<(OutboxEvent, TimestampUs, Imsi)>,
        subs: &HashMap<u64, Arc<StoredSubscription>>,
    ) -> Result<Vec<(OutboxEvent, TimestampUs, Imsi, bool)>, String> {
        rows.into_iter()
            .map(|(r, at, imsi)| {
                let budgeted = subs
                    .get(&r.subscription)
                    .is_some_and(|s| s.max_events.is_some() || frequency_cap(s).is_some());
                let known = budgeted
                    && self
                        .outbox
                        .contains(r.subscription, &r.event_id)
                        .map_err(|e| e.to_string())?;
                Ok((r, at, imsi, known))
            })
            .collect()
    }

    /// `rows` without the new events of a subscriber closer in event time than their
    /// subscription's frequency cap to its latest one in the outbox (the dataflow decides
    /// the cap while it runs; the outbox's record holds it across restarts), and the
    /// latest times to record for those kept. An event already in the outbox stays.
    fn within_frequency_caps(
        &self,
        rows: Vec<(OutboxEvent, TimestampUs, Imsi, bool)>,
        subs: &HashMap<u64, Arc<StoredSubscription>>,
        partners: &HashMap<PartnerId, PartnerKeys>,
    ) -> Result<(Vec<KnownRow>, Vec<Latest>), String> {
        let mut latest: HashMap<(u64, String), TimestampUs> = HashMap::new();
        let mut kept = Vec::with_capacity(rows.len());
        for (r, at, imsi, known) in rows {
            let cap = subs.get(&r.subscription).and_then(|s| frequency_cap(s));
            let (Some(cap), Some(keys)) = (cap, partners.get(&PartnerId(r.partner))) else {
                kept.push((r, known));
                continue;
            };
            let subject = event::pseudonym(keys, imsi.as_str()).map_err(|e| e.to_string())?;
            let key = (r.subscription, subject);
            let last = match latest.get(&key) {
                Some(t) => Some(*t),
                None => self
                    .outbox
                    .last_event_at(key.0, &key.1)
                    .map_err(|e| e.to_string())?,
            };
            if !known && last.is_some_and(|l| (at - l).abs() < cap) {
                continue;
            }
            let t = latest.entry(key).or_insert(at);
            *t = (*t).max(at);
            kept.push((r, known));
        }
        let latest = latest.into_iter().map(|((s, p), t)| (s, p, t)).collect();
        Ok((kept, latest))
    }

    /// `rows` without the new events past their subscription's `subscriptionMaxEvents`
    /// (the outbox's count: it holds across restarts, which the dataflow's budget does
    /// not); an event already in the outbox stays (its insert is a no-op).
    fn within_max_events(
        &self,
        rows: Vec<KnownRow>,
        subs: &HashMap<u64, Arc<StoredSubscription>>,
    ) -> Result<Vec<OutboxEvent>, String> {
        let mut left: HashMap<u64, u64> = HashMap::new();
        let mut kept = Vec::with_capacity(rows.len());
        for (r, known) in rows {
            let Some(max) = subs.get(&r.subscription).and_then(|s| s.max_events) else {
                kept.push(r);
                continue;
            };
            let left = match left.entry(r.subscription) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let given = self
                        .outbox
                        .count_events(r.subscription, &r.event_type)
                        .map_err(|e| e.to_string())?;
                    e.insert(u64::from(max).saturating_sub(given))
                }
            };
            if known {
                kept.push(r);
            } else if *left > 0 {
                *left -= 1;
                kept.push(r);
            }
        }
        Ok(kept)
    }

    /// `subscriptionMaxEvents`: a subscription given its last event ends
    /// (`MAX_EVENTS_REACHED`; the dataflow's budget lets no further match through). The
    /// registry is written off this thread: it feeds the dataflow, which feeds us.
    fn end_when_max_events_reached(
        &self,
        subscriptions: impl Iterator<Item = u64>,
    ) -> Result<(), String> {
        let full: Vec<u64> = {
            let subs = self.directory.subscriptions.read().expect("subscriptions");
            let mut ids: Vec<u64> = subscriptions.collect();
            ids.sort_unstable();
            ids.dedup();
            let mut full = Vec::new();
            for id in ids {
                let Some(s) = subs.get(&id) else { continue };
                let Some(max) = s.max_events else { continue };
                let given = self
                    .outbox
                    .count_events(id, &s.event_type)
                    .map_err(|e| e.to_string())?;
                if given >= u64::from(max) {
                    full.push(id);
                }
            }
            full
        };
        let mut ending = self.ending.lock().expect("ending");
        for id in full {
            if !ending.insert(id) {
                continue;
            }
            let registry = Arc::clone(&self.registry);
            let ending = Arc::clone(&self.ending);
            thread::spawn(move || {
                if let Err(e) = registry.end_subscription(id, TerminationReason::MaxEventsReached) {
                    warn!(subscription = id, "max events reached, not ended: {e}");
                    ending.lock().expect("ending").remove(&id);
                }
            });
        }
        Ok(())
    }

    /// The circle zones of the partners' CIRCLE subscriptions now (the console's map).
    pub fn circle_zones(&self) -> Vec<Zone> {
        let mut zones: Vec<Zone> = self
            .directory
            .circles
            .read()
            .expect("circles")
            .values()
            .cloned()
            .collect();
        zones.sort_by_key(|z| z.id);
        zones
    }

    /// The dispatcher, to run on the HTTP runtime; a `410 Gone` ends its subscription.
    pub fn dispatcher(&self, metrics: DeliveryMetrics) -> Result<Dispatcher, String> {
        let cfg = DispatchConfig {
            retry_delays: self.settings.retry_delays.clone(),
            max_attempts: self.settings.max_attempts,
            request_timeout: self.settings.request_timeout,
            per_sink_concurrency: self.settings.per_sink_concurrency as usize,
            lease: (self.settings.request_timeout * 5).max(Duration::from_secs(60)),
            guard: self.guard(),
            user_agent: format!("landfall/{}", env!("CARGO_PKG_VERSION")),
            ..DispatchConfig::default()
        };
        let registry = Arc::clone(&self.registry);
        let gone = Arc::clone(&self.gone);
        let on_gone = move |g: GoneNotice| {
            gone.lock().expect("gone").insert(g.subscription);
            let registry = Arc::clone(&registry);
            // The registry writes SQLite: off the async threads.
            thread::spawn(move || {
                if let Err(e) =
                    registry.end_subscription(g.subscription, TerminationReason::NetworkTerminated)
                {
                    warn!(subscription = g.subscription, "410 Gone: {e}");
                }
            });
        };
        Dispatcher::new(
            Arc::clone(&self.outbox),
            cfg,
            Arc::clone(&self.secrets) as _,
            on_gone,
            metrics,
        )
        .map_err(|e| e.to_string())
    }

    fn guard(&self) -> GuardConfig {
        GuardConfig {
            allow_http_loopback: self.settings.allow_http_loopback,
            allow_private_sinks: self.settings.allow_private_sinks,
        }
    }

    /// The partner and operator API's state: sinks checked by delivery's guard, delivery
    /// status from the outbox.
    pub fn api_state(&self, operator_key: Option<&str>) -> ApiState {
        let guard = self.guard();
        let check = move |url: &str| check_sink_blocking(url, &guard).map_err(|e| e.to_string());
        ApiState::new(
            Arc::clone(&self.registry),
            Arc::new(check),
            Arc::new(OutboxAdmin(Arc::clone(&self.outbox))),
            operator_key,
        )
        .with_max_active_subscriptions(self.settings.max_active_subscriptions as usize)
    }
}

impl Partners {
    /// The partner API (`/v1/subscriptions…`), the operator's partner routes, the
    /// partners' event feed (`/v1/events`, Server-Sent Events, resumable with
    /// `Last-Event-ID`) and `/openapi.json` (all of them), to merge into the service's
    /// router.
    pub fn routes(&self, operator_key: Option<&str>) -> axum::Router {
        let state = self.api_state(operator_key);
        let feed = axum::Router::new()
            .route("/v1/events", axum::routing::get(events))
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                landfall_partners::partner_auth,
            ))
            .with_state(Arc::clone(&self.outbox));
        landfall_partners::api::partner_routes(state.clone())
            .merge(landfall_partners::api::operator_routes(state))
            .merge(feed)
            .route("/openapi.json", axum::routing::get(openapi_json))
    }
}

/// The partner and operator APIs' document with the event feed's path.
#[derive(utoipa::OpenApi)]
#[openapi(paths(events))]
struct FeedDoc;

/// `GET /openapi.json`.
async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    use utoipa::OpenApi as _;
    let mut doc = landfall_partners::openapi::ApiDoc::openapi();
    doc.merge(FeedDoc::openapi());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned()),
    )
        .into_response()
}

/// `GET /v1/events`: the authenticated partner's events as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "subscriptions",
    security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header,
         description = "The id of the last event received: the feed resumes after it")
    ),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "The partner's events as they are written to the outbox (each \
                        `event:` its CloudEvent type, `id:` its id, `data:` the \
                        CloudEvent), after those since Last-Event-ID"),
        (status = 401, description = "No or a wrong API key (CAMARA error body)")
    )
)]
async fn events(
    axum::extract::State(outbox): axum::extract::State<Arc<Outbox>>,
    axum::Extension(partner): axum::Extension<Arc<landfall_partners::Partner>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let last = landfall_delivery::sse::last_event_id(&headers);
    match landfall_delivery::sse::sse_response(outbox, partner.id.0, last).await {
        Ok(sse) => sse.into_response(),
        Err(e) => {
            warn!(partner = partner.id.0, "event feed: {e}");
            landfall_partners::ApiError::internal().into_response()
        }
    }
}

fn circle(id: landfall_model::ZoneId, lon: f64, lat: f64, radius_m: u32) -> Zone {
    Zone {
        id,
        name: id.to_string(),
        shape: Shape::Circle {
            centre: LonLat {
                lon_e6: (lon * 1e6).round() as i32,
                lat_e6: (lat * 1e6).round() as i32,
            },
            radius_m,
        },
    }
}

fn ended(r: TerminationReason) -> Ended {
    match r {
        TerminationReason::SubscriptionDeleted => Ended::SubscriptionDeleted,
        TerminationReason::SubscriptionExpired => Ended::SubscriptionExpired,
        TerminationReason::MaxEventsReached => Ended::MaxEventsReached,
        TerminationReason::AccessTokenExpired => Ended::AccessTokenExpired,
        TerminationReason::NetworkTerminated => Ended::NetworkTerminated,
    }
}

/// The operator API's delivery status, dead letters and redelivery, from the outbox.
struct OutboxAdmin(Arc<Outbox>);

impl DeliveryAdmin for OutboxAdmin {
    fn status(&self, partner: PartnerId) -> Result<serde_json::Value, String> {
        let all = self
            .0
            .status(landfall_delivery::now_us())
            .map_err(|e| e.to_string())?;
        let s = all.into_iter().find(|s| s.partner == partner.0);
        Ok(serde_json::json!({
            "partner": partner.0,
            "pending": s.as_ref().map_or(0, |s| s.pending),
            "oldestPendingAgeSeconds": s.as_ref().map_or(0.0, |s| s.oldest_pending_age_us as f64 / 1e6),
            "deadLetters": s.as_ref().map_or(0, |s| s.dead),
        }))
    }

    fn dead_letters(&self, partner: PartnerId, limit: usize) -> Result<serde_json::Value, String> {
        let dead = self
            .0
            .dead_letters(Some(partner.0), limit)
            .map_err(|e| e.to_string())?;
        Ok(serde_json::Value::Array(
            dead.into_iter()
                .map(|d| {
                    serde_json::json!({
                        "eventId": d.event_id,
                        "subscriptionId": d.subscription.to_string(),
                        "type": d.event_type,
                        "attempts": d.attempts,
                        "lastStatus": d.last_status,
                        "lastError": d.last_error,
                    })
                })
                .collect(),
        ))
    }

    fn redeliver(&self, partner: PartnerId, ids: &[String]) -> Result<usize, String> {
        let dead = self
            .0
            .dead_letters(Some(partner.0), usize::MAX >> 1)
            .map_err(|e| e.to_string())?;
        let seqs: Vec<i64> = dead
            .iter()
            .filter(|d| ids.contains(&d.event_id))
            .map(|d| d.seq)
            .collect();
        self.0
            .redeliver(&seqs, Some(partner.0), landfall_delivery::now_us())
            .map_err(|e| e.to_string())
    }
}
