//! landfall-dataflows: differential-dataflow operators that maintain *who is newly where*
//! and emit arrival [`Moment`]s from normalized [`Signal`]s (see `docs/semantics.md`).
//!
//! # What is computed
//!
//! Three area levels: [`Level::Country`] (area = `Signal::serving_country`),
//! [`Level::Network`] (area = `Signal::serving`, the serving PLMN) — both computed by
//! [`detect`] (and [`moments`], [`reference_moments`]) with the rules below — and
//! [`Level::Zone`] (operator-defined zones of cells / TACs / LACs / circles / polygons),
//! computed by [`detect_zones`] with the stay rules of [`zone_detector`].
//!
//! Per subscriber (IMSI), signals are processed in order of `(at, source)` (`source` is the
//! [`Provenance`](landfall_model::Provenance), which orders by file, frame, protocol,
//! message; any remaining tie falls back to the full `Signal` order), which makes the
//! result deterministic.
//!
//! * A **location** signal (`kind.is_location()`: attach, location update, cell change,
//!   session start) sets the subscriber's *current area* at each level for which it has an
//!   area (a signal with a serving PLMN but no country only affects the network level, and
//!   vice versa). A **departure** signal (`kind.is_departure()`: purge, cancel, detach)
//!   sets the current area to none at every level. Every other kind (rejected, auth,
//!   session end) changes nothing.
//! * **arrival** into `A` at `t` (the signal's `at`): the current area becomes `A` (it was
//!   another area or none) *and* the subscriber had no location signal in `A` during
//!   `[t - reentry_gap, t)` ([`Rules::reentry_gap_us`], default 12 h). A first
//!   sighting counts. `from` = the previous current area at that level (None if none).
//! * **departure** from `A` at `t`: the current area changes away from `A` (`to` = the new
//!   area) or a departure signal arrives while the current area is `A` (`to` = None).
//! * **roaming** (country level, relative to the signal's `home_country`; skipped when that
//!   is unknown): when a location signal's country `C` differs from the subscriber's *last
//!   known* country `L` (departure signals do not reset it; None if never seen):
//!   `roaming-on` if `C != home` and (`L` is None or `L == home`);
//!   `roaming-change-country` if `C != home` and `L` is another foreign country;
//!   `roaming-off` if `C == home` and `L` is foreign. Not gated by the re-entry gap;
//!   `from` = `L`.
//! * Each moment carries the causing signal's `at`, provenance, MSISDN, home network and
//!   country and RAT, `expires_at = at + ttl` ([`Rules::ttl_us`], default 2 h),
//!   and a deterministic [`MomentId`] (SHA-256 over `(imsi, kind, level, area, at)`, see
//!   [`MomentId::derive`]). Canonical output order is `(at, id)` ([`sort_moments`]).
//!   Edge case of the half-open gap window: a ping-pong `A → B → A` whose signals share
//!   one `at` yields two arrivals into `A` at that `at`, with equal ids (different `from`
//!   and `source`).
//!
//! Incremental and out-of-order input: the operator's output collection, accumulated up to
//! any time, equals the moments a batch run over the signals accumulated so far would
//! produce; a late signal retracts the moments it invalidates and adds the corrected ones
//! (`examples/presence.rs` shows one).
//!
//! # Modules
//!
//! * [`moment`] (re-exported from `landfall-model`): [`Moment`], its kinds, levels,
//!   areas and deterministic id; [`Rules`] (re-entry gap, TTL, minimum dwell).
//! * [`detector`]: [`detect`], the bounded operator (per-subscriber state in a timely
//!   operator keyed by IMSI, event-time batches): the default engine.
//! * [`zones`]: zone and catalog files, [`zone_membership`] (which cells, TACs and LACs
//!   belong to which zones, incrementally).
//! * [`zone_detector`]: [`detect_zones`] and [`detect_with_zones`] (zone stays, minimum
//!   dwell, re-entry gap at the zone level).
//! * [`newly`]: [`newly_where`], the newly-where view (until departure or TTL), with
//!   [`count_per_area`] and [`members_per_area`].
//! * [`subscribe`]: partners: [`partner_matches`] (consent, subscriptions, budgets) and
//!   [`aggregates`].
//! * [`history`]: the differential operator [`moments`], built from [`relevant_signals`]
//!   → [`key_by_imsi`] → [`subscriber_moments`] (a per-IMSI `reduce`); revises its output
//!   for any disorder, at the cost of keeping every signal.
//! * [`reference`](mod@reference): [`reference_moments`], a plain sequential implementation — the oracle of
//!   the property tests and the hash-map baseline of benchmarks.
//! * [`runner`]: [`run_moments`] / [`run_moments_with`] / [`try_run_moments_zoned`]
//!   execute the dataflow over a slice of signals on N workers or a timely cluster, with
//!   one [`RunConfig`] (replay path, tests).
//!
//! # Using the operator in your own dataflow
//!
//! [`moments`] takes any `VecCollection<'scope, T, Signal>` whose timestamp is a lattice
//! (a `u64` batch number, a µs event time, …) and returns a `VecCollection<'scope, T,
//! Moment>` to join, filter or capture further. `examples/presence.rs` is a complete
//! program; in short:
//!
//! ```
//! use differential_dataflow::input::Input;
//! use landfall_dataflows::{moments, MomentKind, Rules};
//! use landfall_model::{Country, Imsi, Plmn, Proto, Provenance, Signal, SignalKind};
//!
//! let signal = Signal {
//!     at: 1_000_000,
//!     imsi: Imsi::parse("001020000000064").unwrap(),
//!     msisdn: None,
//!     kind: SignalKind::Attach,
//!     home: Some(Plmn::new(1, 2, 2)),
//!     home_country: Country::new("001"),
//!     serving: Some(Plmn::new(1, 1, 2)),
//!     serving_country: Country::new("001"),
//!     location: None,
//!     rat: Some(1004),
//!     source: Provenance { file: 0, frame: 1, proto: Proto::Diameter, message: 316 },
//! };
//!
//! timely::execute_directly(move |worker| {
//!     let mut input = worker.dataflow::<u64, _, _>(|scope| {
//!         let (input, signals) = scope.new_collection();
//!         moments(signals, Rules::default())
//!             .filter(|m| m.kind == MomentKind::Arrival)
//!             .inspect(|(m, time, diff)| println!("{time} {diff:+} {} {} {}", m.id, m.kind.as_str(), m.area));
//!         input
//!     });
//!     input.insert(signal);
//!     input.advance_to(1);
//! });
//! ```

pub mod detector;
pub use landfall_model::moment;
pub mod history;
pub mod horizon;
pub mod newly;
pub mod reference;
pub mod runner;
pub mod snapshot;
pub mod stream;
pub mod subscribe;
pub mod zone_detector;
pub mod zones;

pub use detector::{
    detect, detect_counted, detect_shared, imsi_key, imsi_route, owner, route_of_key, Presence,
    SharedPresence,
};
pub use history::{is_relevant, key_by_imsi, moments, relevant_signals, subscriber_moments};
pub use horizon::Tracked;
pub use landfall_model::Signal;
pub use moment::{sort_moments, Area, Level, Moment, MomentId, MomentKind, Rules, HOUR_US};
pub use newly::{count_per_area, members_per_area, newly_where, Newly};
pub use reference::{reference_moments, reference_zone_moments};
pub use runner::{
    batch_of, run_moments, run_moments_on, run_moments_with, run_moments_zoned, run_newly_where,
    run_newly_where_zoned, try_run_moments_zoned, Engine, Feed, RunConfig, RunError, RunReport,
    Topology, ZoneInputs,
};
pub use snapshot::StreamSnapshot;
pub use subscribe::{
    aggregates, live_moments, matches, partner_matches, partner_matches_at, with_consent,
    AggregateKey, Consent, Direction, Match, MomentsAt, PartnerId, Purpose, Subscription,
};
pub use zone_detector::{
    detect_with_zones, detect_with_zones_counted, detect_with_zones_shared, detect_zones,
    Placement, SharedZoneState, ZonePresence, ZoneState,
};
pub use zones::{zone_membership, ZoneId, ZoneKey};

#[cfg(test)]
mod tests;
