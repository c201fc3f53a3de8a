//! The partner stage's subscriptions on one worker, indexed by what a moment is looked
//! up by, so that a moment visits only the subscriptions that could accept it and one
//! subscription created or deleted costs work proportional to it alone.
//!
//! * Device subscriptions (CAMARA's `device`: one subscriber) are kept by that subscriber,
//!   on the worker that owns it (the stage routes them like the moments, by IMSI). What
//!   they ask for besides the device is interned as a [`Template`] shared by all the
//!   subscriptions that ask alike, so a device subscription costs its id, its template
//!   number and its count (a million of them are a million entries of one hash map).
//! * Area-wide subscriptions (no device; every worker holds them all, they number in the
//!   thousands) are listed under their grantee (partner, purpose) and each (scope, type)
//!   they could accept: an area they list, else a level they list, else any; a type they
//!   list, else any. A moment looks up, for each grantee its subscriber consented to, its
//!   area, its level and "any", each with its type and with "any type": six buckets per
//!   grantee, and a subscription sits in exactly one of them for a given moment. Keyed by
//!   grantee, a moment never visits the subscriptions of partners it has no consent for
//!   (most of those of its area, when many partners watch one area).
//!
//! A subscription is present while the sum of its updates is positive; presence is only
//! asked at the time being completed (the stage applies updates in time order), so a
//! count is its whole history and one whose count returns to zero is forgotten.

use ahash::AHashMap;
use landfall_model::Imsi;

use crate::moment::{Area, Level, Moment, MomentKind};

use super::{PartnerId, Purpose, Subscription};

/// What an area-wide subscription is listed under, besides the type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Any,
    Level(Level),
    Area(Area),
}

/// A bucket of the area index: scope and type (`None`: any type).
pub type Key = (Scope, Option<MomentKind>);

/// Who a subscription is for: partner and purpose (the consent it needs).
pub type Grantee = (PartnerId, Purpose);

/// The grantee of a subscription.
pub fn grantee(s: &Subscription) -> Grantee {
    (s.partner, s.purpose)
}

/// The keys a subscription is listed under (deduplicated, so that it sits in one bucket
/// per moment).
pub fn keys(s: &Subscription) -> Vec<Key> {
    let mut scopes: Vec<Scope> = if !s.areas.is_empty() {
        s.areas.iter().map(|a| Scope::Area(*a)).collect()
    } else if !s.levels.is_empty() {
        s.levels.iter().map(|l| Scope::Level(*l)).collect()
    } else {
        vec![Scope::Any]
    };
    scopes.dedup_by(|a, b| a == b);
    let mut types: Vec<Option<MomentKind>> = if s.types.is_empty() {
        vec![None]
    } else {
        s.types.iter().map(|k| Some(*k)).collect()
    };
    types.sort_unstable();
    types.dedup();
    let mut out: Vec<Key> = Vec::with_capacity(scopes.len() * types.len());
    for sc in &scopes {
        for ty in &types {
            if !out.contains(&(*sc, *ty)) {
                out.push((*sc, *ty));
            }
        }
    }
    out
}

/// The keys a moment looks up.
pub fn lookups(m: &Moment) -> [Key; 6] {
    let k = Some(m.kind);
    [
        (Scope::Any, None),
        (Scope::Any, k),
        (Scope::Level(m.level), None),
        (Scope::Level(m.level), k),
        (Scope::Area(m.area), None),
        (Scope::Area(m.area), k),
    ]
}

/// What device subscriptions ask for besides their id and device (both cleared).
type Template = Subscription;

/// One device subscription: its id, template number and count.
#[derive(Clone, Copy, Debug)]
struct DeviceSub {
    id: u64,
    count: isize,
    template: u32,
}

/// A subscriber's device subscriptions: most have one, kept inline.
#[derive(Debug)]
enum Devices {
    One(DeviceSub),
    Many(Vec<DeviceSub>),
}

impl Devices {
    fn as_slice(&self) -> &[DeviceSub] {
        match self {
            Devices::One(d) => std::slice::from_ref(d),
            Devices::Many(v) => v,
        }
    }
}

/// Interned templates with their reference counts; freed numbers are reused.
#[derive(Default)]
struct Templates {
    list: Vec<(Template, usize)>,
    by: AHashMap<Template, u32>,
    free: Vec<u32>,
}

impl Templates {
    fn intern(&mut self, t: Template) -> u32 {
        if let Some(&i) = self.by.get(&t) {
            self.list[i as usize].1 += 1;
            return i;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.list[i as usize] = (t.clone(), 1);
                i
            }
            None => {
                self.list.push((t.clone(), 1));
                (self.list.len() - 1) as u32
            }
        };
        self.by.insert(t, i);
        i
    }

    fn release(&mut self, i: u32) {
        let e = &mut self.list[i as usize];
        e.1 -= 1;
        if e.1 == 0 {
            self.by.remove(&e.0);
            self.free.push(i);
        }
    }
}

/// The subscriptions of one worker (see the module docs).
#[derive(Default)]
pub(super) struct SubscriptionIndex {
    /// Area-wide subscriptions by slot (`None`: a free slot), with their counts.
    slots: Vec<Option<(Subscription, isize)>>,
    free: Vec<u32>,
    slot_of: AHashMap<Subscription, u32>,
    buckets: AHashMap<(Grantee, Key), Vec<u32>>,
    devices: AHashMap<Imsi, Devices>,
    templates: Templates,
}

impl SubscriptionIndex {
    /// Apply one update of `s`.
    pub(super) fn update(&mut self, s: Subscription, r: isize) {
        match s.device {
            Some(imsi) => self.update_device(imsi, s, r),
            None => self.update_area(s, r),
        }
    }

    /// Whether the area-wide `s` is present.
    pub(super) fn area_present(&self, s: &Subscription) -> bool {
        self.slot_of
            .get(s)
            .and_then(|&i| self.slots[i as usize].as_ref())
            .is_some_and(|(_, c)| *c > 0)
    }

    fn update_area(&mut self, s: Subscription, r: isize) {
        if let Some(&i) = self.slot_of.get(&s) {
            let (_, c) = self.slots[i as usize].as_mut().expect("listed slot");
            *c += r;
            if *c == 0 {
                let (s, _) = self.slots[i as usize].take().expect("listed slot");
                let g = grantee(&s);
                for k in keys(&s) {
                    if let Some(b) = self.buckets.get_mut(&(g, k)) {
                        if let Some(p) = b.iter().position(|x| *x == i) {
                            b.swap_remove(p);
                        }
                        if b.is_empty() {
                            self.buckets.remove(&(g, k));
                        }
                    }
                }
                self.slot_of.remove(&s);
                self.free.push(i);
            }
            return;
        }
        if r == 0 {
            return;
        }
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let g = grantee(&s);
        for k in keys(&s) {
            self.buckets.entry((g, k)).or_default().push(i);
        }
        self.slot_of.insert(s.clone(), i);
        self.slots[i as usize] = Some((s, r));
    }

    /// One probe of the subscriber's entry (device subscriptions churn all day, and the
    /// map of a million subscribers is mostly out of cache).
    fn update_device(&mut self, imsi: Imsi, s: Subscription, r: isize) {
        use std::collections::hash_map::Entry;
        let id = s.id;
        let template = Template {
            id: 0,
            device: None,
            ..s
        };
        let known = self.templates.by.get(&template).copied();
        match self.devices.entry(imsi) {
            Entry::Occupied(mut e) => {
                let d = e.get_mut();
                let v = match d {
                    Devices::One(x) => std::slice::from_mut(x),
                    Devices::Many(v) => v.as_mut_slice(),
                };
                if let Some(i) =
                    known.and_then(|t| v.iter().position(|x| x.id == id && x.template == t))
                {
                    v[i].count += r;
                    if v[i].count != 0 {
                        return;
                    }
                    let t = v[i].template;
                    match d {
                        Devices::One(_) => {
                            e.remove();
                        }
                        Devices::Many(v) => {
                            v.swap_remove(i);
                            if v.len() == 1 {
                                *d = Devices::One(v[0]);
                            }
                        }
                    }
                    self.templates.release(t);
                    return;
                }
                if r == 0 {
                    return;
                }
                let new = DeviceSub {
                    id,
                    count: r,
                    template: self.templates.intern(template),
                };
                match d {
                    Devices::One(x) => *d = Devices::Many(vec![*x, new]),
                    Devices::Many(v) => v.push(new),
                }
            }
            Entry::Vacant(e) => {
                if r != 0 {
                    e.insert(Devices::One(DeviceSub {
                        id,
                        count: r,
                        template: self.templates.intern(template),
                    }));
                }
            }
        }
    }

    /// Every present subscription of a grantee in `allowed` that could accept `m` by its
    /// device, area, level and type, once each, as (its id, the subscription whose other
    /// filters apply: for a device subscription its template, id and device cleared).
    pub(super) fn candidates<'a>(
        &'a self,
        m: &Moment,
        allowed: &[Grantee],
        mut f: impl FnMut(u64, &'a Subscription),
    ) {
        if let Some(d) = self.devices.get(&m.imsi) {
            for x in d.as_slice() {
                let s = &self.templates.list[x.template as usize].0;
                if x.count > 0 && allowed.contains(&grantee(s)) {
                    f(x.id, s);
                }
            }
        }
        if self.buckets.is_empty() {
            return;
        }
        let keys = lookups(m);
        for g in allowed {
            for k in keys {
                for &i in self.buckets.get(&(*g, k)).into_iter().flatten() {
                    if let Some((s, c)) = &self.slots[i as usize] {
                        if *c > 0 {
                            f(s.id, s);
                        }
                    }
                }
            }
        }
    }

    /// Device subscriptions held (for memory figures and tests).
    #[cfg(test)]
    pub(super) fn device_count(&self) -> usize {
        self.devices.values().map(|d| d.as_slice().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscribe::{Direction, PartnerId, Purpose};
    use landfall_model::{Country, MomentId, Plmn, Proto, Provenance};

    fn sub(id: u64, areas: Vec<Area>, levels: Vec<Level>, types: Vec<MomentKind>) -> Subscription {
        Subscription {
            id,
            partner: PartnerId(1),
            purpose: Purpose(1),
            types,
            levels,
            device: None,
            areas,
            home_countries: vec![],
            home_networks: vec![],
            direction: Direction::Any,
            rats: vec![],
            expires_at: None,
            max_events: None,
            frequency_cap_us: None,
        }
    }

    fn moment(imsi: &str, area: Area, kind: MomentKind) -> Moment {
        let imsi = Imsi::parse(imsi).unwrap();
        Moment {
            id: MomentId::derive(&imsi, kind, area.level(), &area, 0),
            kind,
            level: area.level(),
            area,
            from: None,
            to: None,
            imsi,
            msisdn: None,
            home: None,
            home_country: None,
            rat: None,
            at: 0,
            expires_at: 10,
            source: Provenance {
                file: 0,
                frame: 0,
                proto: Proto::Diameter,
                message: 0,
            },
        }
    }

    /// The grantee of [`sub`]'s subscriptions.
    const G1: Grantee = (PartnerId(1), Purpose(1));

    fn ids(ix: &SubscriptionIndex, m: &Moment) -> Vec<u64> {
        let mut v = Vec::new();
        ix.candidates(m, &[G1], |id, _| v.push(id));
        v.sort_unstable();
        v
    }

    #[test]
    fn a_moment_visits_the_subscriptions_of_its_area_level_type_and_device_once() {
        let fr = Area::Country(Country::new("FR").unwrap());
        let de = Area::Country(Country::new("DE").unwrap());
        let net = Area::Network(Plmn::new(208, 1, 2));
        let mut ix = SubscriptionIndex::default();
        ix.update(sub(1, vec![fr, fr, de], vec![], vec![]), 1);
        ix.update(sub(2, vec![de], vec![], vec![]), 1);
        ix.update(
            sub(3, vec![], vec![Level::Country], vec![MomentKind::Arrival]),
            1,
        );
        ix.update(sub(4, vec![], vec![], vec![MomentKind::Departure]), 1);
        ix.update(
            sub(
                5,
                vec![],
                vec![],
                vec![MomentKind::Arrival, MomentKind::Arrival],
            ),
            1,
        );
        let mine = Subscription {
            device: Some(Imsi::parse("208010000000001").unwrap()),
            ..sub(6, vec![], vec![], vec![])
        };
        ix.update(mine.clone(), 1);
        let m = moment("208010000000001", fr, MomentKind::Arrival);
        assert_eq!(ids(&ix, &m), vec![1, 3, 5, 6]);
        let other = moment("208010000000002", net, MomentKind::Arrival);
        assert_eq!(ids(&ix, &other), vec![5]);
        // Deleted, they are gone, and so is what they held.
        ix.update(mine, -1);
        ix.update(sub(1, vec![fr, fr, de], vec![], vec![]), -1);
        assert_eq!(ids(&ix, &m), vec![3, 5]);
        assert_eq!(ix.device_count(), 0);
        assert!(ix.templates.by.is_empty());
        assert!(!ix.buckets.contains_key(&(G1, (Scope::Area(fr), None))));
        assert!(ix.buckets.contains_key(&(G1, (Scope::Area(de), None))));
    }

    #[test]
    fn a_moment_visits_only_the_subscriptions_of_grantees_it_is_allowed() {
        let fr = Area::Country(Country::new("FR").unwrap());
        let mut ix = SubscriptionIndex::default();
        let of = |id: u64, partner: u32, device: Option<&str>| Subscription {
            partner: PartnerId(partner),
            device: device.map(|d| Imsi::parse(d).unwrap()),
            ..sub(id, vec![fr], vec![], vec![])
        };
        ix.update(of(1, 1, None), 1);
        ix.update(of(2, 2, None), 1);
        ix.update(of(3, 2, Some("208010000000001")), 1);
        ix.update(of(4, 3, None), 1);
        let m = moment("208010000000001", fr, MomentKind::Arrival);
        let visited = |allowed: &[Grantee]| {
            let mut v = Vec::new();
            ix.candidates(&m, allowed, |id, _| v.push(id));
            v.sort_unstable();
            v
        };
        assert_eq!(visited(&[]), Vec::<u64>::new());
        assert_eq!(visited(&[G1]), vec![1]);
        assert_eq!(visited(&[(PartnerId(2), Purpose(1))]), vec![2, 3]);
        assert_eq!(visited(&[(PartnerId(2), Purpose(2))]), Vec::<u64>::new());
        assert_eq!(visited(&[(PartnerId(3), Purpose(1)), G1]), vec![1, 4]);
    }

    #[test]
    fn presence_is_a_positive_count_and_device_subscriptions_share_templates() {
        let fr = Area::Country(Country::new("FR").unwrap());
        let mut ix = SubscriptionIndex::default();
        let a = sub(1, vec![fr], vec![], vec![]);
        ix.update(a.clone(), -1);
        assert!(!ix.area_present(&a));
        ix.update(a.clone(), 1);
        assert!(!ix.area_present(&a));
        ix.update(a.clone(), 1);
        assert!(ix.area_present(&a));
        let d = |id: u64, imsi: &str| Subscription {
            device: Some(Imsi::parse(imsi).unwrap()),
            ..sub(id, vec![], vec![], vec![])
        };
        ix.update(d(10, "208010000000001"), 1);
        ix.update(d(11, "208010000000001"), 1);
        ix.update(d(12, "208010000000002"), 1);
        assert_eq!(ix.templates.by.len(), 1);
        assert_eq!(ix.device_count(), 3);
        let m = moment("208010000000001", fr, MomentKind::Arrival);
        assert_eq!(ids(&ix, &m), vec![1, 10, 11]);
        ix.update(d(10, "208010000000001"), -1);
        assert_eq!(ids(&ix, &m), vec![1, 11]);
    }
}
