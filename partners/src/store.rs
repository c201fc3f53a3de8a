//! The registry's persistence: SQLite (bundled, WAL) in the file the caller names
//! (`<data_dir>/landfall.db`, shared with delivery, which keeps its own `outbox*` and
//! `delivery_*` tables). This crate owns the tables `partner`, `partner_key`,
//! `subscription`, `consent`, `optout` and its version table `partners_schema`.
//!
//! [`Registry`] is the only way in: every change is one transaction, and once committed
//! its [`RegistryChange`]s go to the [`ChangeSink`] under the same lock, so the sink sees
//! changes in commit order. Calls block (SQLite): from async code, run them in
//! `spawn_blocking`.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use landfall_model::{Consent, Imsi, PartnerId, Purpose};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use crate::camara::SubscriptionRequest;
use crate::changes::{ChangeSink, LifecycleEvent, LifecycleKind, RegistryChange};
use crate::keys;
use crate::records::{
    now_us, Partner, StoredSubscription, SubscriptionState, Target, TerminationReason, TimeUs,
};

pub use crate::records::{CircleZone, DeviceFilter};

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE partner (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    purposes TEXT NOT NULL,
    msisdn_allowed INTEGER NOT NULL,
    per_person_consent INTEGER NOT NULL,
    webhook_secret TEXT NOT NULL,
    pseudonym_key BLOB NOT NULL,
    event_id_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE partner_key (
    prefix TEXT PRIMARY KEY,
    partner INTEGER NOT NULL REFERENCES partner(id) ON DELETE CASCADE,
    hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX partner_key_partner ON partner_key(partner);
CREATE TABLE subscription (
    id INTEGER PRIMARY KEY,
    partner INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    stored TEXT NOT NULL,
    sink TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    expires_at INTEGER,
    ended_at INTEGER,
    termination_reason TEXT
);
CREATE INDEX subscription_partner ON subscription(partner, state);
CREATE TABLE consent (
    imsi TEXT NOT NULL,
    partner INTEGER NOT NULL REFERENCES partner(id),
    purpose INTEGER NOT NULL,
    granted INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (imsi, partner, purpose)
);
CREATE INDEX consent_partner ON consent(partner);
CREATE TABLE optout (
    imsi TEXT PRIMARY KEY,
    opted_out INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
";

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// A partner's quota (active subscriptions) is used up.
    #[error("{0}")]
    Quota(String),
    #[error("stored row cannot be read: {0}")]
    Corrupt(String),
    #[error("the database has partners schema version {0}; this landfall knows {SCHEMA_VERSION}")]
    Schema(i64),
}

type Result<T> = std::result::Result<T, StoreError>;

/// A new partner's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewPartner {
    pub name: String,
    pub purposes: Vec<Purpose>,
    pub msisdn_allowed: bool,
    pub per_person_consent: bool,
}

/// A change of a partner's settings (`None`: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartnerPatch {
    pub name: Option<String>,
    pub purposes: Option<Vec<Purpose>>,
    pub msisdn_allowed: Option<bool>,
    pub per_person_consent: Option<bool>,
}

/// A subscription as the partner sent it and as derived.
#[derive(Clone, Debug)]
pub struct SubscriptionRow {
    pub request: SubscriptionRequest,
    pub stored: Arc<StoredSubscription>,
}

/// Everything the running service starts from.
#[derive(Clone, Debug, Default)]
pub struct RegistrySnapshot {
    pub partners: Vec<Arc<Partner>>,
    /// The active subscriptions.
    pub subscriptions: Vec<Arc<StoredSubscription>>,
    /// The consents granted now.
    pub consents: Vec<Consent>,
    /// The subscribers opted out now.
    pub opt_outs: Vec<Imsi>,
}

impl RegistrySnapshot {
    /// The snapshot as the changes that build it from nothing: partners, circle zones,
    /// subscriptions, consents, opt-outs (no lifecycle events).
    pub fn into_changes(self) -> Vec<RegistryChange> {
        let mut out: Vec<RegistryChange> = Vec::new();
        out.extend(
            self.partners
                .into_iter()
                .map(RegistryChange::PartnerUpserted),
        );
        for s in self.subscriptions {
            if let Some(c) = &s.circle {
                out.push(RegistryChange::CircleZoneAdded(c.clone()));
            }
            out.push(RegistryChange::SubscriptionAdded(s));
        }
        out.extend(
            self.consents
                .into_iter()
                .map(RegistryChange::ConsentGranted),
        );
        out.extend(self.opt_outs.into_iter().map(RegistryChange::OptOutAdded));
        out
    }
}

/// One line of a consent upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentRow {
    pub consent: Consent,
    pub granted: bool,
}

/// The registry: SQLite behind a lock, and the sink its committed changes go to.
pub struct Registry {
    conn: Mutex<Connection>,
    sink: Arc<dyn ChangeSink>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

/// The changes of one transaction, sent after its commit.
type Changes = Vec<RegistryChange>;

impl Registry {
    /// Open (create if needed) the database at `path`: WAL, full sync, foreign keys; the
    /// partners schema created or checked.
    pub fn open(path: &Path, sink: Arc<dyn ChangeSink>) -> Result<Registry> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS partners_schema (version INTEGER NOT NULL)")?;
        let version: Option<i64> = tx
            .query_row("SELECT max(version) FROM partners_schema", [], |r| r.get(0))
            .optional()?
            .flatten();
        match version {
            None => {
                tx.execute_batch(SCHEMA)?;
                tx.execute(
                    "INSERT INTO partners_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(v) => return Err(StoreError::Schema(v)),
        }
        tx.commit()?;
        Ok(Registry {
            conn: Mutex::new(conn),
            sink,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` in one immediate transaction; on commit, send its changes (lock held).
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>, &mut Changes) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut changes = Vec::new();
        let out = f(&tx, &mut changes)?;
        tx.commit()?;
        for c in changes {
            self.sink.send(c);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- partners

    /// Create a partner: its webhook secret and HMAC keys generated, and its first API
    /// key, returned here only (stored hashed).
    pub fn create_partner(&self, new: &NewPartner) -> Result<(Arc<Partner>, String)> {
        check_name(&new.name)?;
        let now = now_us();
        self.write(|tx, changes| {
            let webhook_secret = keys::new_webhook_secret();
            let pseudonym_key = keys::random::<32>();
            let event_id_key = keys::random::<32>();
            tx.execute(
                "INSERT INTO partner (name, purposes, msisdn_allowed, per_person_consent,
                    webhook_secret, pseudonym_key, event_id_key, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.name,
                    purposes_text(&new.purposes),
                    new.msisdn_allowed,
                    new.per_person_consent,
                    webhook_secret,
                    pseudonym_key.as_slice(),
                    event_id_key.as_slice(),
                    now
                ],
            )?;
            let id = u32::try_from(tx.last_insert_rowid())
                .map_err(|_| StoreError::Invalid("partner ids are exhausted".into()))?;
            let key = insert_key(tx, id, now)?;
            let p = Arc::new(Partner {
                id: PartnerId(id),
                name: new.name.clone(),
                purposes: new.purposes.clone(),
                msisdn_allowed: new.msisdn_allowed,
                per_person_consent: new.per_person_consent,
                webhook_secret,
                pseudonym_key,
                event_id_key,
                created_at: now,
            });
            changes.push(RegistryChange::PartnerUpserted(p.clone()));
            Ok((p, key))
        })
    }

    pub fn partner(&self, id: PartnerId) -> Result<Option<Arc<Partner>>> {
        let conn = self.lock();
        partner_by_id(&conn, id)
    }

    pub fn partners(&self) -> Result<Vec<Arc<Partner>>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {PARTNER_COLS} FROM partner ORDER BY id"))?;
        let rows = st.query_map([], partner_row)?;
        rows.map(|r| r?.map(Arc::new)).collect()
    }

    /// Change a partner's settings. Active subscriptions it may no longer have (per-person
    /// ones when per-person consent is taken away, those of a purpose taken away) end,
    /// `NETWORK_TERMINATED`.
    pub fn update_partner(&self, id: PartnerId, patch: &PartnerPatch) -> Result<Arc<Partner>> {
        if let Some(n) = &patch.name {
            check_name(n)?;
        }
        let now = now_us();
        self.write(|tx, changes| {
            let mut p = (*partner_by_id(tx, id)?.ok_or_else(|| no_partner(id))?).clone();
            if let Some(n) = &patch.name {
                p.name = n.clone();
            }
            if let Some(x) = &patch.purposes {
                p.purposes = x.clone();
            }
            if let Some(x) = patch.msisdn_allowed {
                p.msisdn_allowed = x;
            }
            if let Some(x) = patch.per_person_consent {
                p.per_person_consent = x;
            }
            tx.execute(
                "UPDATE partner SET name = ?2, purposes = ?3, msisdn_allowed = ?4,
                    per_person_consent = ?5 WHERE id = ?1",
                params![
                    id.0,
                    p.name,
                    purposes_text(&p.purposes),
                    p.msisdn_allowed,
                    p.per_person_consent
                ],
            )?;
            for row in active_of(tx, Some(id))? {
                let allowed = match &row.stored.target {
                    Target::Moments { subscription, .. } => {
                        p.per_person_consent && p.purposes.contains(&subscription.purpose)
                    }
                    Target::Aggregate { purpose, .. } => p.purposes.contains(purpose),
                };
                if !allowed {
                    end(
                        tx,
                        changes,
                        &row.stored,
                        TerminationReason::NetworkTerminated,
                        now,
                    )?;
                }
            }
            let p = Arc::new(p);
            changes.push(RegistryChange::PartnerUpserted(p.clone()));
            Ok(p)
        })
    }

    /// Remove a partner: its subscriptions end (`NETWORK_TERMINATED`), its consents are
    /// withdrawn and forgotten, its keys deleted. Partner ids are never reused.
    pub fn delete_partner(&self, id: PartnerId) -> Result<()> {
        let now = now_us();
        self.write(|tx, changes| {
            partner_by_id(tx, id)?.ok_or_else(|| no_partner(id))?;
            for row in active_of(tx, Some(id))? {
                end(
                    tx,
                    changes,
                    &row.stored,
                    TerminationReason::NetworkTerminated,
                    now,
                )?;
            }
            {
                let mut st = tx.prepare(
                    "SELECT imsi, purpose FROM consent WHERE partner = ?1 AND granted = 1",
                )?;
                let rows = st.query_map([id.0], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?))
                })?;
                for r in rows {
                    let (imsi, purpose) = r?;
                    changes.push(RegistryChange::ConsentWithdrawn(Consent {
                        imsi: parse_imsi(&imsi)?,
                        partner: id,
                        purpose: Purpose(purpose),
                    }));
                }
            }
            tx.execute("DELETE FROM consent WHERE partner = ?1", [id.0])?;
            tx.execute("DELETE FROM partner_key WHERE partner = ?1", [id.0])?;
            tx.execute("DELETE FROM partner WHERE id = ?1", [id.0])?;
            changes.push(RegistryChange::PartnerRemoved(id));
            Ok(())
        })
    }

    /// A new API key for the partner; the keys it had stay valid `grace_us` longer (0:
    /// revoked now). Returned here only.
    pub fn rotate_key(&self, id: PartnerId, grace_us: i64) -> Result<String> {
        let now = now_us();
        self.write(|tx, _| {
            partner_by_id(tx, id)?.ok_or_else(|| no_partner(id))?;
            let until = now.saturating_add(grace_us.max(0));
            tx.execute(
                "UPDATE partner_key SET expires_at = ?2
                 WHERE partner = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                params![id.0, until],
            )?;
            tx.execute(
                "DELETE FROM partner_key WHERE partner = ?1 AND expires_at <= ?2",
                params![id.0, now],
            )?;
            insert_key(tx, id.0, now)
        })
    }

    /// A new webhook secret for the partner (delivery signs with it from the change on).
    pub fn rotate_webhook_secret(&self, id: PartnerId) -> Result<Arc<Partner>> {
        self.write(|tx, changes| {
            let mut p = (*partner_by_id(tx, id)?.ok_or_else(|| no_partner(id))?).clone();
            p.webhook_secret = keys::new_webhook_secret();
            tx.execute(
                "UPDATE partner SET webhook_secret = ?2 WHERE id = ?1",
                params![id.0, p.webhook_secret],
            )?;
            let p = Arc::new(p);
            changes.push(RegistryChange::PartnerUpserted(p.clone()));
            Ok(p)
        })
    }

    /// The partner whose API key `key` is, if it is a valid one (looked up by its
    /// prefix, the hash compared in constant time).
    pub fn authenticate(&self, key: &str) -> Result<Option<Arc<Partner>>> {
        let Some(prefix) = keys::key_prefix(key) else {
            return Ok(None);
        };
        let conn = self.lock();
        let row: Option<(u32, Vec<u8>, Option<i64>)> = conn
            .query_row(
                "SELECT partner, hash, expires_at FROM partner_key WHERE prefix = ?1",
                [prefix],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((partner, hash, expires_at)) = row else {
            return Ok(None);
        };
        if !keys::key_matches(key, &hash) || expires_at.is_some_and(|e| e <= now_us()) {
            return Ok(None);
        }
        partner_by_id(&conn, PartnerId(partner))
    }

    // ----------------------------------------------------------- subscriptions

    /// Store a validated subscription (state active): circle zone, subscription and
    /// `subscription-started` changes. Refused ([`StoreError::Quota`]) if the partner
    /// has `max_active` active subscriptions already.
    pub fn insert_subscription(
        &self,
        request: &SubscriptionRequest,
        stored: StoredSubscription,
        max_active: usize,
    ) -> Result<Arc<StoredSubscription>> {
        let stored = Arc::new(stored);
        self.write(|tx, changes| {
            partner_by_id(tx, stored.partner)?.ok_or_else(|| no_partner(stored.partner))?;
            let active: i64 = tx.query_row(
                "SELECT count(*) FROM subscription WHERE partner = ?1 AND state = 'ACTIVE'",
                [stored.partner.0],
                |r| r.get(0),
            )?;
            if active as usize >= max_active {
                return Err(StoreError::Quota(format!(
                    "this partner has {active} active subscriptions, the most allowed"
                )));
            }
            tx.execute(
                "INSERT INTO subscription (id, partner, event_type, state, request, stored,
                    sink, starts_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    stored.id as i64,
                    stored.partner.0,
                    stored.event_type,
                    stored.state.as_str(),
                    to_json(request)?,
                    to_json(&*stored)?,
                    stored.sink,
                    stored.starts_at,
                    stored.expires_at
                ],
            )?;
            if let Some(c) = &stored.circle {
                changes.push(RegistryChange::CircleZoneAdded(c.clone()));
            }
            changes.push(RegistryChange::SubscriptionAdded(stored.clone()));
            changes.push(RegistryChange::Lifecycle(LifecycleEvent {
                kind: LifecycleKind::Started,
                subscription: stored.clone(),
                termination_reason: None,
                at: stored.starts_at,
            }));
            Ok(stored.clone())
        })
    }

    /// A fresh subscription id (random, 63 bits, not in use).
    pub fn new_subscription_id(&self) -> Result<u64> {
        let conn = self.lock();
        loop {
            let id = u64::from_le_bytes(keys::random::<8>()) >> 1;
            if id == 0 {
                continue;
            }
            let used: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM subscription WHERE id = ?1)",
                [id as i64],
                |r| r.get(0),
            )?;
            if !used {
                return Ok(id);
            }
        }
    }

    /// A partner's subscription (any state but deleted), if it is theirs.
    pub fn subscription(&self, partner: PartnerId, id: u64) -> Result<Option<SubscriptionRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {SUB_COLS} FROM subscription WHERE id = ?1 AND partner = ?2 AND state != 'DELETED'"
        ))?;
        let mut rows = st.query_map(params![id as i64, partner.0], sub_row)?;
        rows.next().transpose()?.transpose()
    }

    /// Any subscription by id, whoever's, in any state (for delivery and the operator).
    pub fn subscription_any(&self, id: u64) -> Result<Option<SubscriptionRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {SUB_COLS} FROM subscription WHERE id = ?1"
        ))?;
        let mut rows = st.query_map(params![id as i64], sub_row)?;
        rows.next().transpose()?.transpose()
    }

    /// A partner's subscriptions, deleted ones left out, oldest first.
    pub fn subscriptions(&self, partner: PartnerId) -> Result<Vec<SubscriptionRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT {SUB_COLS} FROM subscription WHERE partner = ?1 AND state != 'DELETED'
             ORDER BY starts_at, id"
        ))?;
        let rows = st.query_map([partner.0], sub_row)?;
        rows.map(|r| r?).collect()
    }

    /// The partner deletes its subscription: false if there is no such active one of
    /// theirs (an expired one is marked deleted, no change sent).
    pub fn delete_subscription(&self, partner: PartnerId, id: u64) -> Result<bool> {
        let now = now_us();
        self.write(|tx, changes| {
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM subscription WHERE id = ?1 AND partner = ?2",
                    params![id as i64, partner.0],
                    |r| r.get(0),
                )
                .optional()?;
            match state.as_deref() {
                None | Some("DELETED") => Ok(false),
                Some("ACTIVE") => {
                    let row = load_sub(tx, id)?;
                    end(
                        tx,
                        changes,
                        &row.stored,
                        TerminationReason::SubscriptionDeleted,
                        now,
                    )?;
                    Ok(true)
                }
                Some(_) => {
                    tx.execute(
                        "UPDATE subscription SET state = 'DELETED' WHERE id = ?1",
                        [id as i64],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    /// End an active subscription for `reason` (max events reached, `410 Gone`, token
    /// expired: delivery's calls). False if it is not active.
    pub fn end_subscription(&self, id: u64, reason: TerminationReason) -> Result<bool> {
        let now = now_us();
        self.write(|tx, changes| {
            let active: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM subscription WHERE id = ?1 AND state = 'ACTIVE')",
                [id as i64],
                |r| r.get(0),
            )?;
            if active {
                let row = load_sub(tx, id)?;
                end(tx, changes, &row.stored, reason, now)?;
            }
            Ok(active)
        })
    }

    /// Expire the active subscriptions whose `subscriptionExpireTime` is at or before
    /// `now` (`SUBSCRIPTION_EXPIRED`), and those whose sink token expired
    /// (`ACCESS_TOKEN_EXPIRED`); their ids. For the service to call periodically.
    pub fn expire_due(&self, now: TimeUs) -> Result<Vec<u64>> {
        self.write(|tx, changes| {
            let mut out = Vec::new();
            for row in active_of(tx, None)? {
                let s = &row.stored;
                let reason = if s.expires_at.is_some_and(|e| e <= now) {
                    TerminationReason::SubscriptionExpired
                } else if s
                    .sink_token
                    .as_ref()
                    .and_then(|t| t.expires_at)
                    .is_some_and(|e| e <= now)
                {
                    TerminationReason::AccessTokenExpired
                } else {
                    continue;
                };
                end(tx, changes, s, reason, now)?;
                out.push(s.id);
            }
            Ok(out)
        })
    }

    // ------------------------------------------------------ consent, opt-outs

    /// Grant or withdraw one consent; whether anything changed.
    pub fn set_consent(&self, consent: Consent, granted: bool) -> Result<bool> {
        let now = now_us();
        self.write(|tx, changes| set_consent(tx, changes, consent, granted, now))
    }

    /// Apply consent rows in one transaction (all or nothing); how many changed.
    pub fn apply_consents(&self, rows: &[ConsentRow]) -> Result<usize> {
        let now = now_us();
        self.write(|tx, changes| {
            let mut n = 0;
            for r in rows {
                n += usize::from(set_consent(tx, changes, r.consent, r.granted, now)?);
            }
            Ok(n)
        })
    }

    /// Whether a consent is granted now.
    pub fn consent(&self, consent: Consent) -> Result<bool> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT granted FROM consent WHERE imsi = ?1 AND partner = ?2 AND purpose = ?3",
                params![consent.imsi.as_str(), consent.partner.0, consent.purpose.0],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// Add (`true`) or remove a global opt-out; whether anything changed.
    pub fn set_opt_out(&self, imsi: Imsi, opted_out: bool) -> Result<bool> {
        let now = now_us();
        self.write(|tx, changes| set_opt_out(tx, changes, imsi, opted_out, now))
    }

    /// Apply opt-out rows in one transaction (all or nothing); how many changed.
    pub fn apply_opt_outs(&self, rows: &[(Imsi, bool)]) -> Result<usize> {
        let now = now_us();
        self.write(|tx, changes| {
            let mut n = 0;
            for &(imsi, out) in rows {
                n += usize::from(set_opt_out(tx, changes, imsi, out, now)?);
            }
            Ok(n)
        })
    }

    pub fn opted_out(&self, imsi: Imsi) -> Result<bool> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT opted_out FROM optout WHERE imsi = ?1",
                [imsi.as_str()],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    // ---------------------------------------------------------------- startup

    /// Everything the running service starts from: partners, active subscriptions,
    /// granted consents, opt-outs.
    pub fn snapshot(&self) -> Result<RegistrySnapshot> {
        let partners = self.partners()?;
        let conn = self.lock();
        let subscriptions = active_of(&conn, None)?
            .into_iter()
            .map(|r| r.stored)
            .collect();
        let mut st = conn.prepare(
            "SELECT imsi, partner, purpose FROM consent WHERE granted = 1
             ORDER BY partner, purpose, imsi",
        )?;
        let consents = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, u16>(2)?,
                ))
            })?
            .map(|r| {
                let (imsi, partner, purpose) = r?;
                Ok(Consent {
                    imsi: parse_imsi(&imsi)?,
                    partner: PartnerId(partner),
                    purpose: Purpose(purpose),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut st = conn.prepare("SELECT imsi FROM optout WHERE opted_out = 1 ORDER BY imsi")?;
        let opt_outs = st
            .query_map([], |r| r.get::<_, String>(0))?
            .map(|r| parse_imsi(&r?))
            .collect::<Result<Vec<_>>>()?;
        Ok(RegistrySnapshot {
            partners,
            subscriptions,
            consents,
            opt_outs,
        })
    }
}

// -------------------------------------------------------------------- helpers

const PARTNER_COLS: &str = "id, name, purposes, msisdn_allowed, per_person_consent,
    webhook_secret, pseudonym_key, event_id_key, created_at";

const SUB_COLS: &str = "id, state, request, stored";

fn partner_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Partner>> {
    let purposes: String = r.get(2)?;
    let pk: Vec<u8> = r.get(6)?;
    let ek: Vec<u8> = r.get(7)?;
    let id: u32 = r.get(0)?;
    Ok((|| {
        Ok(Partner {
            id: PartnerId(id),
            name: r.get(1)?,
            purposes: serde_json::from_str::<Vec<u16>>(&purposes)
                .map_err(|e| StoreError::Corrupt(format!("partner {id} purposes: {e}")))?
                .into_iter()
                .map(Purpose)
                .collect(),
            msisdn_allowed: r.get(3)?,
            per_person_consent: r.get(4)?,
            webhook_secret: r.get(5)?,
            pseudonym_key: pk
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("partner {id} pseudonym key")))?,
            event_id_key: ek
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("partner {id} event id key")))?,
            created_at: r.get(8)?,
        })
    })())
}

fn partner_by_id(conn: &Connection, id: PartnerId) -> Result<Option<Arc<Partner>>> {
    let mut st =
        conn.prepare_cached(&format!("SELECT {PARTNER_COLS} FROM partner WHERE id = ?1"))?;
    let mut rows = st.query_map([id.0], partner_row)?;
    Ok(rows.next().transpose()?.transpose()?.map(Arc::new))
}

fn sub_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<SubscriptionRow>> {
    let id: i64 = r.get(0)?;
    let state: String = r.get(1)?;
    let request: String = r.get(2)?;
    let stored: String = r.get(3)?;
    Ok((|| {
        let corrupt =
            |what: &str, e: String| StoreError::Corrupt(format!("subscription {id} {what}: {e}"));
        let request: SubscriptionRequest =
            serde_json::from_str(&request).map_err(|e| corrupt("request", e.to_string()))?;
        let mut stored: StoredSubscription =
            serde_json::from_str(&stored).map_err(|e| corrupt("record", e.to_string()))?;
        stored.state =
            SubscriptionState::parse(&state).ok_or_else(|| corrupt("state", state.clone()))?;
        Ok(SubscriptionRow {
            request,
            stored: Arc::new(stored),
        })
    })())
}

fn load_sub(conn: &Connection, id: u64) -> Result<SubscriptionRow> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscription WHERE id = ?1"
    ))?;
    let mut rows = st.query_map([id as i64], sub_row)?;
    rows.next()
        .transpose()?
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("subscription {id}")))
}

fn active_of(conn: &Connection, partner: Option<PartnerId>) -> Result<Vec<SubscriptionRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscription WHERE state = 'ACTIVE'
           AND (?1 IS NULL OR partner = ?1) ORDER BY starts_at, id"
    ))?;
    let rows = st.query_map([partner.map(|p| p.0)], sub_row)?;
    rows.map(|r| r?).collect()
}

/// End an active subscription: state and reason written, the removal, circle zone
/// removal and `subscription-ended` changes queued.
fn end(
    tx: &Transaction<'_>,
    changes: &mut Changes,
    s: &Arc<StoredSubscription>,
    reason: TerminationReason,
    now: TimeUs,
) -> Result<()> {
    let state = reason.state();
    tx.execute(
        "UPDATE subscription SET state = ?2, ended_at = ?3, termination_reason = ?4 WHERE id = ?1",
        params![s.id as i64, state.as_str(), now, reason.as_str()],
    )?;
    changes.push(RegistryChange::SubscriptionRemoved {
        id: s.id,
        partner: s.partner,
        subscription: s.person_subscription().cloned().map(Box::new),
        reason,
    });
    if let Some(c) = &s.circle {
        changes.push(RegistryChange::CircleZoneRemoved(c.id));
    }
    let mut ended = (**s).clone();
    ended.state = state;
    changes.push(RegistryChange::Lifecycle(LifecycleEvent {
        kind: LifecycleKind::Ended,
        subscription: Arc::new(ended),
        termination_reason: Some(reason),
        at: now,
    }));
    tracing::info!(
        subscription = s.id,
        partner = s.partner.0,
        reason = reason.as_str(),
        "subscription ended"
    );
    Ok(())
}

fn set_consent(
    tx: &Transaction<'_>,
    changes: &mut Changes,
    c: Consent,
    granted: bool,
    now: TimeUs,
) -> Result<bool> {
    partner_by_id(tx, c.partner)?.ok_or_else(|| no_partner(c.partner))?;
    let was: bool = tx
        .query_row(
            "SELECT granted FROM consent WHERE imsi = ?1 AND partner = ?2 AND purpose = ?3",
            params![c.imsi.as_str(), c.partner.0, c.purpose.0],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    if was == granted {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO consent (imsi, partner, purpose, granted, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (imsi, partner, purpose) DO UPDATE SET granted = ?4, updated_at = ?5",
        params![c.imsi.as_str(), c.partner.0, c.purpose.0, granted, now],
    )?;
    changes.push(if granted {
        RegistryChange::ConsentGranted(c)
    } else {
        RegistryChange::ConsentWithdrawn(c)
    });
    Ok(true)
}

fn set_opt_out(
    tx: &Transaction<'_>,
    changes: &mut Changes,
    imsi: Imsi,
    opted_out: bool,
    now: TimeUs,
) -> Result<bool> {
    let was: bool = tx
        .query_row(
            "SELECT opted_out FROM optout WHERE imsi = ?1",
            [imsi.as_str()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false);
    if was == opted_out {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO optout (imsi, opted_out, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (imsi) DO UPDATE SET opted_out = ?2, updated_at = ?3",
        params![imsi.as_str(), opted_out, now],
    )?;
    changes.push(if opted_out {
        RegistryChange::OptOutAdded(imsi)
    } else {
        RegistryChange::OptOutRemoved(imsi)
    });
    Ok(true)
}

fn insert_key(tx: &Transaction<'_>, partner: u32, now: TimeUs) -> Result<String> {
    loop {
        let key = keys::new_api_key();
        let prefix = keys::key_prefix(&key).expect("a new key has the form");
        let n = tx.execute(
            "INSERT OR IGNORE INTO partner_key (prefix, partner, hash, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![prefix, partner, keys::key_hash(&key).as_slice(), now],
        )?;
        if n == 1 {
            return Ok(key);
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(StoreError::Invalid(
            "name: 1 to 200 characters are needed".into(),
        ));
    }
    Ok(())
}

fn purposes_text(p: &[Purpose]) -> String {
    serde_json::to_string(&p.iter().map(|p| p.0).collect::<Vec<_>>()).unwrap_or_default()
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn parse_imsi(text: &str) -> Result<Imsi> {
    Imsi::parse(text).map_err(|_| StoreError::Corrupt("an IMSI column".into()))
}

fn no_partner(id: PartnerId) -> StoreError {
    StoreError::NotFound(format!("partner {}: no such partner", id.0))
}
