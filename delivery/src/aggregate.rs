//! Aggregates for partners without per-person consent: arrivals into an area counted per
//! home country and interval, as distinct subscribers, groups below `k` left out, each
//! interval sent once when it closes.
//!
//! The members of the open intervals are rows of `outbox_aggregate_members` in the
//! outbox's database, written (fsynced) before the batch that carried their arrivals
//! counts as emitted, so a restart neither loses nor double-counts them: a re-derived
//! arrival is the same row (`INSERT OR IGNORE`). A member is the partner's pseudonym of
//! the subscriber, never the IMSI. An interval `[start, end)` closes once the dataflow
//! has completed every time before `end`; its event's id is keyed over the subscription,
//! the area and the interval, so closing it again after a restart is a no-op insert.

use landfall_model::identity::Country;
use landfall_model::json::rfc3339_us;
use landfall_model::signal::TimestampUs;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::event::{area_json_text, envelope, hex16, hmac, PartnerKeys, RenderConfig};
use crate::event::{RenderError, RenderedEvent};
use crate::outbox::{Outbox, OutboxError};

/// The event type of an aggregate report.
pub const AGGREGATE_ARRIVALS: &str = "org.landfall.aggregates.v0.arrivals";

/// One subscriber's arrival counted in one subscription's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub subscription: u64,
    /// The area's level (`country`, `network`, `zone`) and its id as moments write it.
    pub level: &'static str,
    pub area: String,
    /// The subscriber's home country, if known.
    pub home_country: Option<Country>,
    /// The end of the interval (µs, exclusive).
    pub interval_end_us: TimestampUs,
    /// The partner's pseudonym of the subscriber.
    pub member: String,
}

/// A closed group: how many distinct subscribers arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub subscription: u64,
    pub level: String,
    pub area: String,
    pub home_country: Option<String>,
    pub interval_end_us: TimestampUs,
    pub arrivals: u64,
}

/// The end (exclusive) of the `interval_us` window holding `at` (windows aligned on the
/// Unix epoch).
pub fn interval_end(at: TimestampUs, interval_us: i64) -> TimestampUs {
    let i = interval_us.max(1);
    (at.div_euclid(i) + 1).saturating_mul(i)
}

pub(crate) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS outbox_aggregate_members (
            subscription INTEGER NOT NULL,
            level TEXT NOT NULL,
            area TEXT NOT NULL,
            home TEXT NOT NULL,
            interval_end_us INTEGER NOT NULL,
            member TEXT NOT NULL,
            PRIMARY KEY (subscription, level, area, home, interval_end_us, member)
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS outbox_aggregate_close
            ON outbox_aggregate_members (interval_end_us);",
    )
}

impl Outbox {
    /// Record arrivals in open intervals (one fsynced transaction); a member already
    /// there is left alone. Returns how many were new.
    pub fn add_members(&self, members: &[Member]) -> Result<usize, OutboxError> {
        if members.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| -> rusqlite::Result<usize> {
            let tx = conn.transaction()?;
            let mut n = 0;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO outbox_aggregate_members
                        (subscription, level, area, home, interval_end_us, member)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for m in members {
                    n += st.execute(params![
                        m.subscription as i64,
                        m.level,
                        m.area,
                        m.home_country.as_ref().map_or("", |c| c.as_str()),
                        m.interval_end_us,
                        m.member,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(n)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }

    /// The end of the earliest open interval, if any.
    pub fn next_close(&self) -> Result<Option<TimestampUs>, OutboxError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT MIN(interval_end_us) FROM outbox_aggregate_members",
            [],
            |r| r.get(0),
        )?)
    }

    /// The groups of every interval ending at or before `upto`, counted, in order of
    /// subscription, area, interval and home country.
    pub fn closed_groups(&self, upto: TimestampUs) -> Result<Vec<Group>, OutboxError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT subscription, level, area, home, interval_end_us, COUNT(*)
             FROM outbox_aggregate_members WHERE interval_end_us <= ?1
             GROUP BY subscription, level, area, interval_end_us, home
             ORDER BY subscription, level, area, interval_end_us, home",
        )?;
        let rows = st.query_map(params![upto], |r| {
            let home: String = r.get(3)?;
            Ok(Group {
                subscription: r.get::<_, i64>(0)? as u64,
                level: r.get(1)?,
                area: r.get(2)?,
                home_country: (!home.is_empty()).then_some(home),
                interval_end_us: r.get(4)?,
                arrivals: r.get::<_, i64>(5)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forget the members of every interval ending at or before `upto` (after their
    /// reports are in the outbox).
    pub fn forget_closed(&self, upto: TimestampUs) -> Result<usize, OutboxError> {
        let conn = self.conn();
        Ok(conn.execute(
            "DELETE FROM outbox_aggregate_members WHERE interval_end_us <= ?1",
            params![upto],
        )?)
    }

    /// Forget a subscription's open intervals and its subscribers' latest event times
    /// (it ended).
    pub fn forget_subscription(&self, subscription: u64) -> Result<usize, OutboxError> {
        let conn = self.conn();
        let n = conn.execute(
            "DELETE FROM outbox_aggregate_members WHERE subscription = ?1",
            params![subscription as i64],
        )?;
        Ok(n + conn.execute(
            "DELETE FROM outbox_latest WHERE subscription = ?1",
            params![subscription as i64],
        )?)
    }
}

/// One closed interval of one subscription's area: the report sent for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub subscription: u64,
    pub level: String,
    pub area: String,
    pub interval_start_us: TimestampUs,
    pub interval_end_us: TimestampUs,
    /// Home countries (`None`: unknown) with at least `k` arrivals, and their counts.
    pub counts: Vec<(Option<String>, u64)>,
    pub k: u64,
}

/// Gather closed groups (in [`Outbox::closed_groups`]' order) into one report per
/// subscription, area and interval, leaving out groups below `k`; a report left with no
/// group is not sent (it would only say that fewer than `k` arrived). `interval_us`
/// gives each subscription's interval (`None`: the subscription is gone, nothing sent).
pub fn reports(groups: &[Group], k: u64, interval_us: impl Fn(u64) -> Option<i64>) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    for g in groups {
        let Some(interval) = interval_us(g.subscription) else {
            continue;
        };
        let same = out.last().is_some_and(|r| {
            r.subscription == g.subscription
                && r.level == g.level
                && r.area == g.area
                && r.interval_end_us == g.interval_end_us
        });
        if !same {
            out.push(Report {
                subscription: g.subscription,
                level: g.level.clone(),
                area: g.area.clone(),
                interval_start_us: g.interval_end_us.saturating_sub(interval),
                interval_end_us: g.interval_end_us,
                counts: Vec::new(),
                k,
            });
        }
        if g.arrivals >= k {
            let r = out.last_mut().expect("pushed");
            r.counts.push((g.home_country.clone(), g.arrivals));
        }
    }
    out.retain(|r| !r.counts.is_empty());
    out
}

/// Render a report as a CloudEvent of type [`AGGREGATE_ARRIVALS`]: `data` holds
/// `subscriptionId`, `area`, `intervalStart`, `intervalEnd`, `minimumCount` (k) and
/// `arrivals` (`[{homeCountry, count}]`, `homeCountry` null when unknown). The event
/// time is the interval's end; it expires `cfg.ttl_us` after it (never without one).
pub fn render_report(
    cfg: &RenderConfig,
    keys: &PartnerKeys,
    r: &Report,
    detected_at_us: TimestampUs,
) -> Result<RenderedEvent, RenderError> {
    let d = hmac(
        &keys.id_key,
        &[
            b"landfall/aggregate/v1",
            &r.subscription.to_be_bytes(),
            r.level.as_bytes(),
            r.area.as_bytes(),
            &r.interval_end_us.to_be_bytes(),
        ],
    )?;
    let id = hex16(&d);
    let arrivals: Vec<Value> = r
        .counts
        .iter()
        .map(|(c, n)| json!({ "homeCountry": c, "count": n }))
        .collect();
    let data = json!({
        "subscriptionId": r.subscription.to_string(),
        "area": area_json_text(&r.level, &r.area),
        "intervalStart": rfc3339_us(r.interval_start_us),
        "intervalEnd": rfc3339_us(r.interval_end_us),
        "minimumCount": r.k,
        "arrivals": arrivals,
        "detectionTime": rfc3339_us(detected_at_us),
    });
    let expires_at = cfg.ttl_us.map(|t| r.interval_end_us.saturating_add(t));
    Ok(RenderedEvent {
        body: envelope(cfg, &id, AGGREGATE_ARRIVALS, r.interval_end_us, data),
        id,
        event_type: AGGREGATE_ARRIVALS.to_owned(),
        expires_at_us: expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PartnerKeys {
        PartnerKeys {
            pseudonym_key: b"p".to_vec(),
            id_key: b"i".to_vec(),
            msisdn_allowed: false,
        }
    }

    fn member(sub: u64, home: &str, end: i64, who: &str) -> Member {
        Member {
            subscription: sub,
            level: "zone",
            area: "cdg-t2".into(),
            home_country: Country::new(home),
            interval_end_us: end,
            member: who.into(),
        }
    }

    #[test]
    fn intervals_are_aligned_and_half_open() {
        assert_eq!(interval_end(0, 10), 10);
        assert_eq!(interval_end(9, 10), 10);
        assert_eq!(interval_end(10, 10), 20);
        assert_eq!(interval_end(-1, 10), 0);
    }

    #[test]
    fn distinct_members_closed_once_small_groups_left_out() {
        let dir = std::env::temp_dir().join(format!("lf-agg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ob = Outbox::open(&dir.join("db"), 0).unwrap();
        let end = 3_600_000_000;
        let mut ms: Vec<Member> = (0..5)
            .map(|i| member(7, "DE", end, &format!("d{i}")))
            .collect();
        // The same subscriber twice is one member; four Spaniards stay below k.
        ms.push(member(7, "DE", end, "d0"));
        ms.extend((0..4).map(|i| member(7, "ES", end, &format!("e{i}"))));
        // The next interval is still open.
        ms.push(member(7, "DE", 2 * end, "d0"));
        assert_eq!(ob.add_members(&ms).unwrap(), 10);
        assert_eq!(ob.add_members(&ms).unwrap(), 0, "a re-derived arrival");
        assert_eq!(ob.next_close().unwrap(), Some(end));
        assert!(ob.closed_groups(end - 1).unwrap().is_empty());
        let groups = ob.closed_groups(end).unwrap();
        assert_eq!(groups.len(), 2);
        let rs = reports(&groups, 5, |_| Some(end));
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].counts, vec![(Some("DE".to_owned()), 5)]);
        assert_eq!(rs[0].interval_start_us, 0);
        assert!(reports(&groups, 6, |_| Some(end)).is_empty(), "all below k");
        assert!(
            reports(&groups, 5, |_| None).is_empty(),
            "subscription gone"
        );
        let cfg = RenderConfig::new("urn:test");
        let a = render_report(&cfg, &keys(), &rs[0], 5).unwrap();
        let b = render_report(&cfg, &keys(), &rs[0], 6).unwrap();
        assert_eq!(a.id, b.id, "closing again keeps the id");
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["type"], AGGREGATE_ARRIVALS);
        assert_eq!(v["data"]["arrivals"][0]["count"], 5);
        assert_eq!(v["data"]["area"]["id"], "cdg-t2");
        assert!(!String::from_utf8_lossy(&a.body).contains("d0"));
        assert_eq!(ob.forget_closed(end).unwrap(), 9);
        assert_eq!(ob.next_close().unwrap(), Some(2 * end));
        assert_eq!(ob.forget_subscription(7).unwrap(), 1);
        assert_eq!(ob.next_close().unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
