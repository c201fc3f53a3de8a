//! The durable outbox: every partner event is a row in SQLite before it counts as
//! emitted, and leaves only as delivered, cancelled, expired or dead.
//!
//! One table, `outbox`, keyed by (subscription, event id): a match re-derived after a
//! restart is an idempotent insert (`INSERT OR IGNORE`). WAL journal. Durability is
//! chosen per write: inserts and cancellations commit with `synchronous=FULL` (the WAL
//! is fsynced: once `insert_batch` returns, not even a power loss loses the events the
//! caller now counts as emitted), the delivery bookkeeping (claims, delivered, retries)
//! with `synchronous=NORMAL` (no fsync per commit: a power loss can only forget that an
//! event was delivered, and it is delivered again with the same id — at least once). A
//! killed process loses nothing either way. Inserts are batched, one transaction each.
//!
//! The tables share the service's database file with the partners crate's: ours are
//! named `outbox*`/`delivery_*`, and our schema version lives in `delivery_schema`, not
//! in `PRAGMA user_version`.
//!
//! In-flight events are leased (`leased = 1`, due again at the lease's end): a send
//! that never reports back is retried after the lease (`release_ended_leases`, run by
//! the dispatcher's scheduler); on open, every lease is released (the previous process
//! is gone) and those events are due at once.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use landfall_model::signal::TimestampUs;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{broadcast, Notify};

/// An event for one subscription's sink, as the service writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The CloudEvent id (`webhook-id`).
    pub event_id: String,
    pub partner: u32,
    pub subscription: u64,
    /// The webhook URL; `None` for a pull-only subscription (the SSE feed only).
    pub sink_url: Option<String>,
    /// `sinkCredential`: sent as `Authorization: Bearer`.
    pub sink_bearer: Option<String>,
    pub event_type: String,
    /// The rendered CloudEvent.
    pub body: Vec<u8>,
    /// When the moment was detected (µs): the start of the delivery latency.
    pub created_at_us: TimestampUs,
    /// Never handed out from this time on.
    pub expires_at_us: Option<TimestampUs>,
}

/// A row's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Pending = 0,
    Delivered = 1,
    Cancelled = 2,
    Dead = 3,
    Expired = 4,
    /// No sink: only the SSE feed carries it.
    Pull = 5,
}

impl State {
    fn from_i64(v: i64) -> State {
        match v {
            0 => State::Pending,
            1 => State::Delivered,
            2 => State::Cancelled,
            3 => State::Dead,
            4 => State::Expired,
            _ => State::Pull,
        }
    }
}

/// An event handed to the dispatcher (leased until it reports back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// The row id.
    pub seq: i64,
    pub event_id: String,
    pub partner: u32,
    pub subscription: u64,
    pub sink_url: String,
    pub sink_bearer: Option<String>,
    pub event_type: String,
    pub body: Vec<u8>,
    pub created_at_us: TimestampUs,
    pub expires_at_us: Option<TimestampUs>,
    /// Sends made before this one.
    pub attempts: u32,
}

/// The outcome of an attempt, recorded by [`Outbox::apply_marks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A 2xx.
    Delivered {
        seq: i64,
        status: u16,
        at_us: TimestampUs,
    },
    /// A failed attempt, to be tried again at `due_us` (the lease released).
    Retry {
        seq: i64,
        status: Option<u16>,
        error: String,
        due_us: TimestampUs,
    },
    /// Given up (attempts exhausted, or a permanent refusal): a dead letter; `attempted`:
    /// whether a request was made (counted in the attempts).
    Dead {
        seq: i64,
        status: Option<u16>,
        error: String,
        attempted: bool,
        at_us: TimestampUs,
    },
    /// Found past its `expires_at` right before sending.
    Expired { seq: i64, at_us: TimestampUs },
}

/// An event of a partner's feed (the SSE stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEvent {
    pub seq: i64,
    pub partner: u32,
    pub subscription: u64,
    pub event_id: String,
    pub event_type: String,
    pub body: Arc<[u8]>,
    pub expires_at_us: Option<TimestampUs>,
}

/// Pending events of one partner (the operator's delivery status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerStatus {
    pub partner: u32,
    /// Events waiting to be delivered.
    pub pending: u64,
    /// Age of the oldest of them (µs since its `created_at_us`).
    pub oldest_pending_age_us: i64,
    pub dead: u64,
}

/// One subscription's delivery, over the rows the outbox still holds (finished rows are
/// pruned after the retention), for the operator console.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubscriptionDelivery {
    pub partner: u32,
    pub subscription: u64,
    /// The sink's key (none: a pull-only subscription).
    pub sink_key: Option<String>,
    pub delivered: u64,
    /// Pending, never attempted yet.
    pub queued: u64,
    /// Pending after at least one failed attempt.
    pub retrying: u64,
    /// Dropped because they expired before delivery.
    pub expired: u64,
    pub dead: u64,
    /// Age of the oldest pending event (µs since its `created_at_us`; 0: none pending).
    pub oldest_pending_age_us: i64,
    /// Delivery latency (detected → 2xx) of the delivered rows: mean and max (µs).
    pub latency_mean_us: Option<f64>,
    pub latency_max_us: Option<i64>,
    /// The latest failure of a pending or dead row: status (none: no answer) and error.
    pub last_failure: Option<(Option<u16>, String)>,
}

/// A dead letter: an event given up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The row id, for [`Outbox::redeliver`].
    pub seq: i64,
    pub event_id: String,
    pub partner: u32,
    pub subscription: u64,
    pub event_type: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at_us: TimestampUs,
    pub dead_at_us: TimestampUs,
}

/// An outbox failure.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("outbox database schema version {0} is newer than this build's {SCHEMA}")]
    NewerSchema(i64),
    #[error("outbox task: {0}")]
    Task(String),
}

/// This build's schema version (in `delivery_schema`).
pub const SCHEMA: i64 = 1;

const FEED_CAPACITY: usize = 4096;

/// The outbox: one SQLite connection (serialized; every call is short), the live feed
/// of inserted events, and the dispatcher's wake-up.
pub struct Outbox {
    conn: Mutex<Connection>,
    feed: broadcast::Sender<Arc<FeedEvent>>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

/// The dispatch key of a sink: its origin (`scheme://host:port`); one task, one
/// concurrency limit and one circuit breaker per key.
pub fn sink_key(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_owned(),
    }
}

fn u64_col(v: i64) -> u64 {
    v as u64
}

impl Outbox {
    /// Open (or create) the outbox tables in the database file `path`.
    pub fn open(path: &Path, now_us: TimestampUs) -> Result<Outbox, OutboxError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS delivery_schema (version INTEGER NOT NULL);",
        )?;
        let version: Option<i64> = conn
            .query_row("SELECT MAX(version) FROM delivery_schema", [], |r| r.get(0))
            .optional()?
            .flatten();
        match version {
            Some(v) if v > SCHEMA => return Err(OutboxError::NewerSchema(v)),
            Some(_) => {}
            None => {
                conn.execute_batch(
                    "BEGIN;
                     CREATE TABLE outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        subscription INTEGER NOT NULL,
                        event_id TEXT NOT NULL,
                        partner INTEGER NOT NULL,
                        sink_url TEXT,
                        sink_key TEXT,
                        sink_bearer TEXT,
                        event_type TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at_us INTEGER NOT NULL,
                        expires_at_us INTEGER,
                        state INTEGER NOT NULL,
                        leased INTEGER NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        due_at_us INTEGER NOT NULL,
                        last_status INTEGER,
                        last_error TEXT,
                        done_at_us INTEGER,
                        UNIQUE (subscription, event_id)
                     );
                     CREATE INDEX outbox_due ON outbox (sink_key, due_at_us)
                        WHERE state = 0 AND leased = 0;
                     CREATE INDEX outbox_expiry ON outbox (expires_at_us)
                        WHERE state = 0 AND leased = 0 AND expires_at_us IS NOT NULL;
                     CREATE INDEX outbox_partner ON outbox (partner, seq);
                     CREATE INDEX outbox_done ON outbox (done_at_us)
                        WHERE done_at_us IS NOT NULL;
                     INSERT INTO delivery_schema (version) VALUES (1);
                     COMMIT;",
                )?;
            }
        }
        crate::aggregate::create_tables(&conn)?;
        // Per subscription and subscriber: the latest event's time (the frequency cap).
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox_latest (
                subscription INTEGER NOT NULL,
                subject TEXT NOT NULL,
                at_us INTEGER NOT NULL,
                PRIMARY KEY (subscription, subject)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS outbox_latest_at ON outbox_latest (at_us);",
        )?;
        // Leased events by the lease's end (`due_at_us` while leased), for
        // `release_ended_leases`.
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS outbox_leases ON outbox (due_at_us)
                WHERE state = 0 AND leased = 1;",
        )?;
        // The previous process is gone: nothing is in flight.
        conn.execute(
            "UPDATE outbox SET leased = 0, due_at_us = MIN(due_at_us, ?1) WHERE leased = 1",
            params![now_us],
        )?;
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Ok(Outbox {
            conn: Mutex::new(conn),
            feed,
            notify: Arc::new(Notify::new()),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-done (rusqlite
        // rolls back on drop): the connection is usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The dispatcher's wake-up, poked by every insert and redelivery.
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// The live feed of newly inserted events (SSE).
    pub fn subscribe_feed(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.feed.subscribe()
    }

    /// Insert events in one transaction (fsynced); rows already there (same subscription
    /// and event id) are left alone. Returns how many were new.
    pub fn insert_batch(&self, events: &[OutboxEvent]) -> Result<usize, OutboxError> {
        self.insert_batch_with(events, &[])
    }

    /// [`Outbox::insert_batch`], recording in the same transaction the event time of
    /// each subscriber's latest event per subscription (`(subscription, subscriber
    /// pseudonym, at)`; a later time replaces an earlier one): the per-subscriber
    /// frequency cap, kept across restarts ([`Outbox::last_event_at`]).
    pub fn insert_batch_with(
        &self,
        events: &[OutboxEvent],
        latest: &[(u64, String, TimestampUs)],
    ) -> Result<usize, OutboxError> {
        if events.is_empty() && latest.is_empty() {
            return Ok(0);
        }
        let mut fresh = Vec::new();
        {
            let mut conn = self.conn();
            conn.pragma_update(None, "synchronous", "FULL")?;
            let result = (|| -> Result<(), rusqlite::Error> {
                let tx = conn.transaction()?;
                {
                    let mut st = tx.prepare_cached(
                        "INSERT OR IGNORE INTO outbox (subscription, event_id, partner, sink_url,
                            sink_key, sink_bearer, event_type, body, created_at_us, expires_at_us,
                            state, due_at_us)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?9)",
                    )?;
                    for e in events {
                        let state = if e.sink_url.is_some() {
                            State::Pending
                        } else {
                            State::Pull
                        };
                        let n = st.execute(params![
                            e.subscription as i64,
                            e.event_id,
                            e.partner,
                            e.sink_url,
                            e.sink_url.as_deref().map(sink_key),
                            e.sink_bearer,
                            e.event_type,
                            e.body,
                            e.created_at_us,
                            e.expires_at_us,
                            state as i64,
                        ])?;
                        if n == 1 {
                            fresh.push(FeedEvent {
                                seq: tx.last_insert_rowid(),
                                partner: e.partner,
                                subscription: e.subscription,
                                event_id: e.event_id.clone(),
                                event_type: e.event_type.clone(),
                                body: Arc::from(e.body.as_slice()),
                                expires_at_us: e.expires_at_us,
                            });
                        }
                    }
                    let mut st = tx.prepare_cached(
                        "INSERT INTO outbox_latest (subscription, subject, at_us)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT (subscription, subject)
                         DO UPDATE SET at_us = MAX(at_us, excluded.at_us)",
                    )?;
                    for (sub, subject, at) in latest {
                        st.execute(params![*sub as i64, subject, at])?;
                    }
                }
                tx.commit()
            })();
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            result?;
            // Sent while the connection is held, so the feed sees rows in id order
            // across concurrent batches. No receiver (no SSE client) is fine.
            for f in &fresh {
                let _ = self.feed.send(Arc::new(f.clone()));
            }
        }
        let n = fresh.len();
        if n > 0 {
            self.notify.notify_one();
        }
        Ok(n)
    }

    fn write_full(&self, sql: &str, p: impl rusqlite::Params) -> Result<usize, OutboxError> {
        let conn = self.conn();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let r = conn.execute(sql, p);
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(r?)
    }

    /// How many events of `event_type` a subscription was given (every state: a
    /// cancelled or expired one spent its slot too), for `subscriptionMaxEvents`.
    pub fn count_events(&self, subscription: u64, event_type: &str) -> Result<u64, OutboxError> {
        let conn = self.conn();
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE subscription = ?1 AND event_type = ?2",
            params![subscription as i64, event_type],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The event time of the latest event a subscription was given about a subscriber
    /// (its pseudonym), as recorded by [`Outbox::insert_batch_with`].
    pub fn last_event_at(
        &self,
        subscription: u64,
        subject: &str,
    ) -> Result<Option<TimestampUs>, OutboxError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT at_us FROM outbox_latest WHERE subscription = ?1 AND subject = ?2",
                params![subscription as i64, subject],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Forget the latest event times before `before_us` (older than any frequency cap).
    pub fn forget_latest_before(&self, before_us: TimestampUs) -> Result<usize, OutboxError> {
        Ok(self.conn().execute(
            "DELETE FROM outbox_latest WHERE at_us < ?1",
            params![before_us],
        )?)
    }

    /// Whether a subscription's event is in the outbox (any state).
    pub fn contains(&self, subscription: u64, event_id: &str) -> Result<bool, OutboxError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM outbox WHERE subscription = ?1 AND event_id = ?2",
                params![subscription as i64, event_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// A retraction: the event is not delivered if it has not been yet. Returns whether
    /// it was cancelled (false: unknown, or already delivered, dead or expired).
    pub fn cancel(
        &self,
        subscription: u64,
        event_id: &str,
        now_us: TimestampUs,
    ) -> Result<bool, OutboxError> {
        let n = self.write_full(
            "UPDATE outbox SET state = 2, leased = 0, done_at_us = ?3
             WHERE subscription = ?1 AND event_id = ?2 AND state IN (0, 5)",
            params![subscription as i64, event_id, now_us],
        )?;
        Ok(n == 1)
    }

    /// Cancel every undelivered event of a subscription (deleted, ended, gone).
    pub fn cancel_subscription(
        &self,
        subscription: u64,
        now_us: TimestampUs,
    ) -> Result<usize, OutboxError> {
        self.write_full(
            "UPDATE outbox SET state = 2, leased = 0, done_at_us = ?2
             WHERE subscription = ?1 AND state IN (0, 5)",
            params![subscription as i64, now_us],
        )
    }

    /// Release the leases that ended without an outcome (a send that never reported
    /// back): those events are due again. Returns how many.
    pub fn release_ended_leases(&self, now_us: TimestampUs) -> Result<usize, OutboxError> {
        Ok(self.conn().execute(
            "UPDATE outbox SET leased = 0 WHERE state = 0 AND leased = 1 AND due_at_us <= ?1",
            params![now_us],
        )?)
    }

    /// Mark pending events past their `expires_at` expired; returns how many.
    pub fn expire(&self, now_us: TimestampUs) -> Result<usize, OutboxError> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 4, done_at_us = ?1
             WHERE state = 0 AND leased = 0 AND expires_at_us IS NOT NULL AND expires_at_us <= ?1",
            params![now_us],
        )?)
    }

    /// The sinks with pending events, each with its earliest due time. One index seek
    /// per sink (a skip scan over `outbox_due`), not a scan of the backlog: a dead sink
    /// with a long backlog costs the scheduler nothing more.
    pub fn due_sinks(&self) -> Result<Vec<(String, TimestampUs)>, OutboxError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "WITH RECURSIVE k(key) AS (
                SELECT MIN(sink_key) FROM outbox WHERE state = 0 AND leased = 0
                UNION ALL
                SELECT (SELECT MIN(sink_key) FROM outbox
                        WHERE state = 0 AND leased = 0 AND sink_key > k.key)
                FROM k WHERE k.key IS NOT NULL
             )
             SELECT key, (SELECT MIN(due_at_us) FROM outbox
                          WHERE state = 0 AND leased = 0 AND sink_key = k.key)
             FROM k WHERE key IS NOT NULL",
        )?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Lease up to `limit` due events of a sink (earliest due first) until `lease_until`.
    /// Expired events are never handed out.
    pub fn claim(
        &self,
        sink: &str,
        now_us: TimestampUs,
        limit: usize,
        lease_until: TimestampUs,
    ) -> Result<Vec<Claimed>, OutboxError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = {
            let mut st = tx.prepare_cached(
                "UPDATE outbox SET leased = 1, due_at_us = ?4
                 WHERE seq IN (
                    SELECT seq FROM outbox
                    WHERE state = 0 AND leased = 0 AND sink_key = ?1 AND due_at_us <= ?2
                      AND (expires_at_us IS NULL OR expires_at_us > ?2)
                    ORDER BY due_at_us, seq LIMIT ?3)
                 RETURNING seq, event_id, partner, subscription, sink_url, sink_bearer,
                    event_type, body, created_at_us, expires_at_us, attempts",
            )?;
            let mut rows = st
                .query_map(params![sink, now_us, limit as i64, lease_until], |r| {
                    Ok(Claimed {
                        seq: r.get(0)?,
                        event_id: r.get(1)?,
                        partner: r.get(2)?,
                        subscription: u64_col(r.get(3)?),
                        sink_url: r.get(4)?,
                        sink_bearer: r.get(5)?,
                        event_type: r.get(6)?,
                        body: r.get(7)?,
                        created_at_us: r.get(8)?,
                        expires_at_us: r.get(9)?,
                        attempts: r.get(10)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.sort_by_key(|c| c.seq);
            rows
        };
        tx.commit()?;
        Ok(claimed)
    }

    /// Record attempts' outcomes in one transaction (the dispatcher batches them).
    /// A mark applies only to a pending row: one cancelled meanwhile stays cancelled.
    /// Returns how many rows the `Expired` marks expired.
    pub fn apply_marks(&self, marks: &[Mark]) -> Result<usize, OutboxError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut expired = 0;
        for m in marks {
            match m {
                Mark::Delivered { seq, status, at_us } => {
                    tx.prepare_cached(
                        "UPDATE outbox SET state = 1, leased = 0, attempts = attempts + 1,
                            last_status = ?2, last_error = NULL, done_at_us = ?3
                         WHERE seq = ?1 AND state = 0",
                    )?
                    .execute(params![seq, status, at_us])?;
                }
                Mark::Retry {
                    seq,
                    status,
                    error,
                    due_us,
                } => {
                    tx.prepare_cached(
                        "UPDATE outbox SET leased = 0, attempts = attempts + 1, last_status = ?2,
                            last_error = ?3, due_at_us = ?4
                         WHERE seq = ?1 AND state = 0",
                    )?
                    .execute(params![seq, status, error, due_us])?;
                }
                Mark::Dead {
                    seq,
                    status,
                    error,
                    attempted,
                    at_us,
                } => {
                    tx.prepare_cached(
                        "UPDATE outbox SET state = 3, leased = 0, attempts = attempts + ?5,
                            last_status = ?2, last_error = ?3, done_at_us = ?4
                         WHERE seq = ?1 AND state = 0",
                    )?
                    .execute(params![
                        seq,
                        status,
                        error,
                        at_us,
                        i64::from(*attempted)
                    ])?;
                }
                Mark::Expired { seq, at_us } => {
                    expired += tx
                        .prepare_cached(
                            "UPDATE outbox SET state = 4, leased = 0, done_at_us = ?2
                             WHERE seq = ?1 AND state = 0",
                        )?
                        .execute(params![seq, at_us])?;
                }
            }
        }
        tx.commit()?;
        Ok(expired)
    }

    /// A 2xx: delivered.
    pub fn mark_delivered(
        &self,
        seq: i64,
        status: u16,
        at_us: TimestampUs,
    ) -> Result<(), OutboxError> {
        self.apply_marks(&[Mark::Delivered { seq, status, at_us }])
            .map(drop)
    }

    /// A failed attempt, to be tried again at `due_us`.
    pub fn mark_retry(
        &self,
        seq: i64,
        status: Option<u16>,
        error: &str,
        due_us: TimestampUs,
    ) -> Result<(), OutboxError> {
        self.apply_marks(&[Mark::Retry {
            seq,
            status,
            error: error.to_owned(),
            due_us,
        }])
        .map(drop)
    }

    /// Given up: a dead letter.
    pub fn mark_dead(
        &self,
        seq: i64,
        status: Option<u16>,
        error: &str,
        attempted: bool,
        at_us: TimestampUs,
    ) -> Result<(), OutboxError> {
        self.apply_marks(&[Mark::Dead {
            seq,
            status,
            error: error.to_owned(),
            attempted,
            at_us,
        }])
        .map(drop)
    }

    /// A row's state, attempts and last status (operator and tests).
    pub fn state_of(
        &self,
        subscription: u64,
        event_id: &str,
    ) -> Result<Option<(State, u32, Option<u16>)>, OutboxError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state, attempts, last_status FROM outbox
                 WHERE subscription = ?1 AND event_id = ?2",
                params![subscription as i64, event_id],
                |r| Ok((State::from_i64(r.get(0)?), r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Pending depth, age of the oldest pending event and dead letters, per partner with
    /// any of them.
    pub fn status(&self, now_us: TimestampUs) -> Result<Vec<PartnerStatus>, OutboxError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT partner, SUM(state = 0), MIN(CASE WHEN state = 0 THEN created_at_us END),
                SUM(state = 3)
             FROM outbox WHERE state IN (0, 3) GROUP BY partner ORDER BY partner",
        )?;
        let rows = st
            .query_map([], |r| {
                let oldest: Option<i64> = r.get(2)?;
                Ok(PartnerStatus {
                    partner: r.get(0)?,
                    pending: r.get::<_, i64>(1)? as u64,
                    oldest_pending_age_us: oldest.map_or(0, |o| (now_us - o).max(0)),
                    dead: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Per (partner, subscription) delivery counts, latency and oldest pending event,
    /// over the rows held (one scan of the outbox: the console asks every few seconds).
    pub fn subscription_delivery(
        &self,
        now_us: TimestampUs,
    ) -> Result<Vec<SubscriptionDelivery>, OutboxError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT partner, subscription, MAX(sink_key),
                SUM(state = 1), SUM(state = 0 AND attempts = 0), SUM(state = 0 AND attempts > 0),
                SUM(state = 4), SUM(state = 3),
                MIN(CASE WHEN state = 0 THEN created_at_us END),
                AVG(CASE WHEN state = 1 THEN done_at_us - created_at_us END),
                MAX(CASE WHEN state = 1 THEN done_at_us - created_at_us END)
             FROM outbox WHERE state <> 2 GROUP BY partner, subscription
             ORDER BY partner, subscription",
        )?;
        let mut rows = st
            .query_map([], |r| {
                let oldest: Option<i64> = r.get(8)?;
                Ok(SubscriptionDelivery {
                    partner: r.get(0)?,
                    subscription: u64_col(r.get(1)?),
                    sink_key: r.get(2)?,
                    delivered: r.get::<_, i64>(3)? as u64,
                    queued: r.get::<_, i64>(4)? as u64,
                    retrying: r.get::<_, i64>(5)? as u64,
                    expired: r.get::<_, i64>(6)? as u64,
                    dead: r.get::<_, i64>(7)? as u64,
                    oldest_pending_age_us: oldest.map_or(0, |o| (now_us - o).max(0)),
                    latency_mean_us: r.get(9)?,
                    latency_max_us: r.get(10)?,
                    last_failure: None,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut failure = conn.prepare_cached(
            "SELECT last_status, last_error FROM outbox
             WHERE subscription = ?1 AND state IN (0, 3) AND last_error IS NOT NULL
             ORDER BY seq DESC LIMIT 1",
        )?;
        for row in &mut rows {
            if row.retrying + row.dead == 0 {
                continue;
            }
            row.last_failure = failure
                .query_row(params![row.subscription as i64], |r| {
                    Ok((r.get::<_, Option<u16>>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?;
        }
        Ok(rows)
    }

    /// Dead letters, newest first (of one partner, or all), at most `limit`.
    pub fn dead_letters(
        &self,
        partner: Option<u32>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, OutboxError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT seq, event_id, partner, subscription, event_type, attempts, last_status,
                last_error, created_at_us, done_at_us
             FROM outbox WHERE state = 3 AND (?1 IS NULL OR partner = ?1)
             ORDER BY done_at_us DESC, seq DESC LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![partner, limit as i64], |r| {
                Ok(DeadLetter {
                    seq: r.get(0)?,
                    event_id: r.get(1)?,
                    partner: r.get(2)?,
                    subscription: u64_col(r.get(3)?),
                    event_type: r.get(4)?,
                    attempts: r.get(5)?,
                    last_status: r.get(6)?,
                    last_error: r.get(7)?,
                    created_at_us: r.get(8)?,
                    dead_at_us: r.get::<_, Option<i64>>(9)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Dead letters (by row id) pending again, attempts reset, due at `now_us`; of
    /// `partner` only when given. Returns how many. Their `expires_at` still holds.
    pub fn redeliver(
        &self,
        seqs: &[i64],
        partner: Option<u32>,
        now_us: TimestampUs,
    ) -> Result<usize, OutboxError> {
        let mut n = 0;
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE outbox SET state = 0, leased = 0, attempts = 0, due_at_us = ?2,
                        done_at_us = NULL
                     WHERE seq = ?1 AND state = 3 AND (?3 IS NULL OR partner = ?3)",
                )?;
                for s in seqs {
                    n += st.execute(params![s, now_us, partner])?;
                }
            }
            tx.commit()?;
        }
        if n > 0 {
            self.notify.notify_one();
        }
        Ok(n)
    }

    /// Delete finished rows (delivered, cancelled, expired, pull-only and dead) older
    /// than `retention_us`; pull-only rows count from creation. Returns how many.
    pub fn prune(&self, now_us: TimestampUs, retention_us: i64) -> Result<usize, OutboxError> {
        let before = now_us.saturating_sub(retention_us);
        Ok(self.conn().execute(
            "DELETE FROM outbox WHERE (done_at_us IS NOT NULL AND done_at_us < ?1)
                OR (state = 5 AND created_at_us < ?1)",
            params![before],
        )?)
    }

    /// The highest row id so far (0: none).
    pub fn max_seq(&self) -> Result<i64, OutboxError> {
        Ok(self
            .conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM outbox", [], |r| r.get(0))?)
    }

    /// The row id of a partner's event (the SSE resume point).
    pub fn seq_of(&self, partner: u32, event_id: &str) -> Result<Option<i64>, OutboxError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT MAX(seq) FROM outbox WHERE partner = ?1 AND event_id = ?2",
                params![partner, event_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// A partner's events after row `after_seq` (insertion order), not cancelled and not
    /// expired at `now_us`, at most `limit`.
    pub fn feed_after(
        &self,
        partner: u32,
        after_seq: i64,
        now_us: TimestampUs,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, OutboxError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT seq, subscription, event_id, event_type, body, expires_at_us FROM outbox
             WHERE partner = ?1 AND seq > ?2 AND state <> 2
               AND (expires_at_us IS NULL OR expires_at_us > ?3)
             ORDER BY seq LIMIT ?4",
        )?;
        let rows = st
            .query_map(params![partner, after_seq, now_us, limit as i64], |r| {
                Ok(FeedEvent {
                    seq: r.get(0)?,
                    partner,
                    subscription: u64_col(r.get(1)?),
                    event_id: r.get(2)?,
                    event_type: r.get(3)?,
                    body: Arc::from(r.get::<_, Vec<u8>>(4)?.as_slice()),
                    expires_at_us: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ev(sub: u64, id: &str, sink: Option<&str>, expires: Option<i64>) -> OutboxEvent {
        OutboxEvent {
            event_id: id.into(),
            partner: 7,
            subscription: sub,
            sink_url: sink.map(str::to_owned),
            sink_bearer: None,
            event_type: "org.landfall.moments.v0.arrival.country".into(),
            body: format!("{{\"id\":\"{id}\"}}").into_bytes(),
            created_at_us: 1_000,
            expires_at_us: expires,
        }
    }

    const SINK: &str = "https://partner.example/hook";

    #[test]
    fn subscription_delivery_counts_each_state_latency_and_oldest_pending() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("landfall.db"), 0).unwrap();
        let batch = [
            ev(1, "delivered", Some(SINK), None),
            ev(1, "retrying", Some(SINK), None),
            ev(1, "dead", Some(SINK), None),
            ev(1, "expired", Some(SINK), Some(2_000)),
            ev(1, "queued", Some(SINK), None),
            ev(1, "cancelled", Some(SINK), None),
            ev(2, "pull", None, None),
        ];
        ob.insert_batch(&batch).unwrap();
        assert!(ob.cancel(1, "cancelled", 1_500).unwrap());
        let claimed = ob.claim(&sink_key(SINK), 1_500, 3, 60_000_000).unwrap();
        let seq = |id: &str| claimed.iter().find(|c| c.event_id == id).unwrap().seq;
        ob.mark_delivered(seq("delivered"), 204, 4_000).unwrap();
        ob.mark_retry(
            seq("retrying"),
            Some(500),
            "500 Internal Server Error",
            9_000,
        )
        .unwrap();
        ob.mark_dead(seq("dead"), Some(400), "400 Bad Request", true, 5_000)
            .unwrap();
        assert_eq!(ob.expire(3_000).unwrap(), 1);
        let rows = ob.subscription_delivery(11_000).unwrap();
        assert_eq!(rows.len(), 2);
        let one = &rows[0];
        assert_eq!(one.subscription, 1);
        assert_eq!(one.sink_key.as_deref(), Some("https://partner.example"));
        assert_eq!(
            (
                one.delivered,
                one.queued,
                one.retrying,
                one.expired,
                one.dead
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(one.latency_mean_us, Some(3_000.0));
        assert_eq!(one.latency_max_us, Some(3_000));
        assert_eq!(one.oldest_pending_age_us, 10_000);
        assert_eq!(
            one.last_failure,
            Some((Some(400), "400 Bad Request".to_owned())),
            "the latest failing row (by insertion)"
        );
        assert_eq!(
            (rows[1].subscription, rows[1].sink_key.as_deref()),
            (2, None)
        );
        assert_eq!(rows[1].queued + rows[1].retrying + rows[1].delivered, 0);
    }

    #[test]
    fn idempotent_insert_cancel_claim_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("landfall.db");
        let key = sink_key(SINK);
        assert_eq!(key, "https://partner.example");
        {
            let ob = Outbox::open(&path, 0).unwrap();
            {
                let c = ob.conn();
                let mode: String = c
                    .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(mode, "wal");
                let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
                assert_eq!(sync, 1, "NORMAL between inserts");
                let uv: i64 = c
                    .query_row("PRAGMA user_version", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(uv, 0, "user_version is not ours");
            }
            let batch = [
                ev(1, "a", Some(SINK), None),
                ev(1, "b", Some(SINK), Some(5_000)),
                ev(2, "a", Some(SINK), None),
            ];
            assert_eq!(ob.insert_batch(&batch).unwrap(), 3);
            assert_eq!(ob.insert_batch(&batch).unwrap(), 0, "idempotent");
            assert_eq!(
                ob.insert_batch(&[ev(1, "a", Some(SINK), None), ev(1, "c", None, None)])
                    .unwrap(),
                1
            );
            assert!(ob.cancel(2, "a", 2_000).unwrap());
            assert!(!ob.cancel(2, "a", 2_000).unwrap(), "already cancelled");
            assert!(!ob.cancel(9, "zz", 2_000).unwrap(), "unknown");
            // Lease "a" (the process is then killed: the lease must not survive).
            let c = ob.claim(&key, 2_000, 1, 60_000_000).unwrap();
            assert_eq!(c.len(), 1);
            assert_eq!((c[0].subscription, c[0].event_id.as_str()), (1, "a"));
        }
        let ob = Outbox::open(&path, 3_000).unwrap();
        assert_eq!(ob.due_sinks().unwrap(), vec![(key.clone(), 1_000)]);
        // b expires at 5 000: handed out before, never after.
        let c = ob.claim(&key, 6_000, 10, 100_000).unwrap();
        let ids: Vec<_> = c
            .iter()
            .map(|c| (c.subscription, c.event_id.clone()))
            .collect();
        assert_eq!(
            ids,
            vec![(1, "a".to_string())],
            "released lease due, b expired, 2/a cancelled"
        );
        assert_eq!(ob.expire(6_000).unwrap(), 1);
        assert_eq!(ob.state_of(1, "b").unwrap().unwrap().0, State::Expired);
        assert_eq!(ob.state_of(1, "c").unwrap().unwrap().0, State::Pull);
        assert_eq!(ob.state_of(2, "a").unwrap().unwrap().0, State::Cancelled);
        // Delivered, then a cancel is too late.
        ob.mark_delivered(c[0].seq, 204, 7_000).unwrap();
        assert!(!ob.cancel(1, "a", 8_000).unwrap());
        assert_eq!(
            ob.state_of(1, "a").unwrap(),
            Some((State::Delivered, 1, Some(204)))
        );
        assert!(ob.due_sinks().unwrap().is_empty());
        // Pruning after the retention removes finished rows.
        assert_eq!(ob.prune(10_000, 100_000).unwrap(), 0);
        assert_eq!(ob.prune(1_000_000, 100_000).unwrap(), 4);
    }

    /// A send that never reports back is due again once its lease has ended, in the
    /// same process (not only after a restart); one still within its lease is not.
    #[test]
    fn an_ended_lease_is_released_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("landfall.db"), 0).unwrap();
        let key = sink_key(SINK);
        ob.insert_batch(&[ev(1, "a", Some(SINK), None), ev(1, "b", Some(SINK), None)])
            .unwrap();
        let first = ob.claim(&key, 2_000, 1, 10_000).unwrap();
        let second = ob.claim(&key, 2_000, 1, 50_000).unwrap();
        assert_eq!((first.len(), second.len()), (1, 1));
        assert!(ob.claim(&key, 20_000, 10, 90_000).unwrap().is_empty());
        assert_eq!(
            ob.release_ended_leases(20_000).unwrap(),
            1,
            "a's lease ended"
        );
        let again = ob.claim(&key, 20_000, 10, 90_000).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            again[0].event_id, first[0].event_id,
            "the same event, same id"
        );
        assert_eq!(
            ob.release_ended_leases(20_000).unwrap(),
            0,
            "b still leased"
        );
    }

    #[test]
    fn retries_dead_letters_status_and_redelivery() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("landfall.db"), 0).unwrap();
        let key = sink_key(SINK);
        ob.insert_batch(&[ev(1, "a", Some(SINK), None), ev(1, "b", Some(SINK), None)])
            .unwrap();
        let st = ob.status(11_000).unwrap();
        assert_eq!(
            st,
            vec![PartnerStatus {
                partner: 7,
                pending: 2,
                oldest_pending_age_us: 10_000,
                dead: 0
            }]
        );
        let c = ob.claim(&key, 1_000, 10, 50_000).unwrap();
        assert_eq!(c.len(), 2);
        assert!(
            ob.claim(&key, 1_000, 10, 50_000).unwrap().is_empty(),
            "leased"
        );
        ob.mark_retry(c[0].seq, Some(503), "503", 20_000).unwrap();
        ob.mark_dead(c[1].seq, Some(500), "500", true, 2_000)
            .unwrap();
        assert!(
            ob.claim(&key, 19_999, 10, 50_000).unwrap().is_empty(),
            "not due yet"
        );
        let again = ob.claim(&key, 20_000, 10, 50_000).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);
        let dead = ob.dead_letters(Some(7), 10).unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (
                dead[0].event_id.as_str(),
                dead[0].last_status,
                dead[0].attempts
            ),
            ("b", Some(500), 1)
        );
        assert!(ob.dead_letters(Some(8), 10).unwrap().is_empty());
        assert_eq!(ob.status(20_000).unwrap()[0].dead, 1);
        assert_eq!(
            ob.redeliver(&[dead[0].seq], Some(8), 30_000).unwrap(),
            0,
            "another partner's"
        );
        assert_eq!(ob.redeliver(&[dead[0].seq], Some(7), 30_000).unwrap(), 1);
        let c = ob.claim(&key, 30_000, 10, 90_000).unwrap();
        assert_eq!(
            c.iter().map(|c| c.event_id.as_str()).collect::<Vec<_>>(),
            vec!["b"]
        );
        assert_eq!(c[0].attempts, 0);
    }

    #[test]
    fn due_sinks_one_row_per_sink() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("landfall.db"), 0).unwrap();
        let mut batch = Vec::new();
        for (i, sink) in [
            "https://b.example/x",
            "https://a.example/y",
            "https://b.example/z",
        ]
        .iter()
        .enumerate()
        {
            let mut e = ev(1, &format!("e{i}"), Some(sink), None);
            e.created_at_us = 100 - i as i64;
            batch.push(e);
        }
        batch.push(ev(1, "pull", None, None));
        ob.insert_batch(&batch).unwrap();
        assert_eq!(
            ob.due_sinks().unwrap(),
            vec![
                ("https://a.example".to_string(), 99),
                ("https://b.example".to_string(), 98)
            ]
        );
        let c = ob.claim("https://b.example", 1_000, 10, 5_000).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            ob.due_sinks().unwrap(),
            vec![("https://a.example".to_string(), 99)]
        );
    }

    #[test]
    fn cancel_subscription_and_feed() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(&dir.path().join("landfall.db"), 0).unwrap();
        let mut rx = ob.subscribe_feed();
        ob.insert_batch(&[
            ev(1, "a", Some(SINK), None),
            ev(1, "b", None, None),
            ev(2, "c", Some(SINK), None),
        ])
        .unwrap();
        assert_eq!(rx.try_recv().unwrap().event_id, "a");
        assert_eq!(ob.cancel_subscription(1, 5).unwrap(), 2);
        let feed = ob.feed_after(7, 0, 5, 10).unwrap();
        assert_eq!(
            feed.iter().map(|f| f.event_id.as_str()).collect::<Vec<_>>(),
            vec!["c"]
        );
        assert_eq!(ob.seq_of(7, "c").unwrap(), Some(feed[0].seq));
        assert_eq!(ob.seq_of(8, "c").unwrap(), None);
    }
}
