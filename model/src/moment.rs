//! The output record of the presence operator: a [`Moment`] — an arrival, a departure or a
//! roaming transition of one subscriber at one area level — and its deterministic id.

use crate::identity::{Country, Imsi, Msisdn, Plmn};
use crate::signal::{Provenance, Signal, TimestampUs};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::zone::ZoneId;

/// One hour in microseconds.
pub const HOUR_US: i64 = 3_600 * 1_000_000;

/// The rules' tunables, for every level (docs/semantics.md, "Defaults and flags").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rules {
    /// Re-entry gap: no `arrival` into an area if the subscriber had a location signal
    /// in that area during `[t - reentry_gap_us, t)`. Default 12 h.
    pub reentry_gap_us: i64,
    /// Lifetime of a moment: `expires_at = at + ttl_us`. Default 2 h.
    pub ttl_us: i64,
    /// A zone stay counts (arrives, blocks re-entry, departs) once it has lasted this
    /// long, in µs of event time. Default 0: at once.
    pub min_dwell_us: i64,
    /// Horizon of silence: a subscriber with no location signal for longer than this is
    /// forgotten, and is new again at the next one (first sighting: arrivals at every
    /// level, roaming as from no known country). What bounds the state of a long run to
    /// the subscribers active within the horizon. Default `i64::MAX`: never forgotten.
    pub horizon_us: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            reentry_gap_us: 12 * HOUR_US,
            ttl_us: 2 * HOUR_US,
            min_dwell_us: 0,
            horizon_us: i64::MAX,
        }
    }
}

impl Rules {
    /// Whether a subscriber last seen (a location signal) at `last` is forgotten by `t`:
    /// silent for longer than the horizon.
    pub fn forgotten(&self, last: TimestampUs, t: TimestampUs) -> bool {
        last < t.saturating_sub(self.horizon_us)
    }
}

/// The level of the area hierarchy a moment is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Area = serving country (`Signal::serving_country`).
    Country,
    /// Area = serving network (`Signal::serving`).
    Network,
    /// Area = an operator-defined zone the signal's cell, TAC or LAC belongs to
    /// (the zone detector).
    Zone,
}

impl Level {
    /// The levels the serving network decides (the detector), in a fixed order.
    pub const SERVING: [Level; 2] = [Level::Country, Level::Network];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Country => "country",
            Level::Network => "network",
            Level::Zone => "zone",
        }
    }

    fn tag(self) -> u8 {
        match self {
            Level::Country => 1,
            Level::Network => 2,
            Level::Zone => 3,
        }
    }
}

/// An area at some level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Country(Country),
    Network(Plmn),
    Zone(ZoneId),
}

impl Area {
    pub fn level(&self) -> Level {
        match self {
            Area::Country(_) => Level::Country,
            Area::Network(_) => Level::Network,
            Area::Zone(_) => Level::Zone,
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Area::Country(c) => write!(f, "country:{c}"),
            Area::Network(p) => write!(f, "network:{p}"),
            Area::Zone(z) => write!(f, "zone:{z}"),
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MomentKind {
    Arrival,
    Departure,
    RoamingOn,
    RoamingOff,
    RoamingChangeCountry,
}

impl MomentKind {
    /// `arrival`, `departure`, `roaming-on`, `roaming-off`, `roaming-change-country`.
    pub fn as_str(self) -> &'static str {
        match self {
            MomentKind::Arrival => "arrival",
            MomentKind::Departure => "departure",
            MomentKind::RoamingOn => "roaming-on",
            MomentKind::RoamingOff => "roaming-off",
            MomentKind::RoamingChangeCountry => "roaming-change-country",
        }
    }

    fn tag(self) -> u8 {
        match self {
            MomentKind::Arrival => 1,
            MomentKind::Departure => 2,
            MomentKind::RoamingOn => 3,
            MomentKind::RoamingOff => 4,
            MomentKind::RoamingChangeCountry => 5,
        }
    }
}

/// Deterministic moment id: the first 16 bytes of a SHA-256 (see [`MomentId::derive`]).
/// Displayed and serialized as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MomentId(pub [u8; 16]);

impl MomentId {
    /// SHA-256 over the canonical encoding of `(imsi, kind, level, area, at)`, truncated
    /// to 16 bytes. The encoding (version 1), all integers big-endian:
    ///
    /// ```text
    /// "landfall/moment/v1" 0x00
    /// imsi:  u8 digit count, ASCII digits
    /// kind:  u8 (arrival 1, departure 2, roaming-on 3, roaming-off 4, roaming-change-country 5)
    /// level: u8 (country 1, network 2, zone 3)
    /// area:  u8 tag 1 + u8 length + ASCII country code   (Area::Country)
    ///      | u8 tag 2 + u16 MCC + u16 MNC + u8 MNC length   (Area::Network)
    ///      | u8 tag 3 + u8 length + ASCII zone id         (Area::Zone)
    /// at:    i64 µs
    /// ```
    pub fn derive(
        imsi: &Imsi,
        kind: MomentKind,
        level: Level,
        area: &Area,
        at: TimestampUs,
    ) -> MomentId {
        let mut h = Sha256::new();
        h.update(b"landfall/moment/v1\0");
        let digits = imsi.as_bytes();
        h.update([digits.len() as u8]);
        h.update(digits);
        h.update([kind.tag(), level.tag()]);
        match area {
            Area::Country(c) => {
                let code = c.as_str().as_bytes();
                h.update([1u8, code.len() as u8]);
                h.update(code);
            }
            Area::Network(p) => {
                h.update([2u8]);
                h.update(p.mcc.to_be_bytes());
                h.update(p.mnc.to_be_bytes());
                h.update([p.mnc_len]);
            }
            Area::Zone(z) => {
                let id = z.as_str().as_bytes();
                h.update([3u8, id.len() as u8]);
                h.update(id);
            }
        }
        h.update(at.to_be_bytes());
        let digest = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        MomentId(id)
    }

    /// The 32-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Parse the 32-character hex form (either case).
    pub fn from_hex(s: &str) -> Option<MomentId> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut id = [0u8; 16];
        for (i, out) in id.iter_mut().enumerate() {
            *out = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
        }
        Some(MomentId(id))
    }
}

impl fmt::Display for MomentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MomentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MomentId({self})")
    }
}

impl Serialize for MomentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for MomentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MomentId::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("moment id: expected 32 hex characters"))
    }
}

/// A subscriber is newly somewhere, left somewhere, or changed roaming status.
///
/// `Ord` is derived (field order); use [`sort_moments`] / [`Moment::sort_key`] for the
/// canonical output order `(at, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Moment {
    pub id: MomentId,
    pub kind: MomentKind,
    pub level: Level,
    /// Arrival: the area entered. Departure: the area left. Roaming: the new country.
    pub area: Area,
    /// Arrival: the previous current area at this level (None if none).
    /// Roaming: the last known country (None if never seen). Departure: None.
    pub from: Option<Area>,
    /// Departure: the new current area, or None for a departure-kind signal. Else None.
    pub to: Option<Area>,
    pub imsi: Imsi,
    pub msisdn: Option<Msisdn>,
    pub home: Option<Plmn>,
    pub home_country: Option<Country>,
    pub rat: Option<u32>,
    /// Event time: the causing signal's `at` (µs).
    pub at: TimestampUs,
    /// `at + ttl`.
    pub expires_at: TimestampUs,
    /// The causing signal's provenance.
    pub source: Provenance,
}

impl Moment {
    /// The moment of `kind` about `area` that signal `s` causes: its time, provenance,
    /// subscriber fields, `expires_at = at + ttl` and deterministic id. The rules (who
    /// moved where) are the caller's; this only packages the result.
    pub fn caused_by(
        s: &Signal,
        cfg: &Rules,
        kind: MomentKind,
        area: Area,
        from: Option<Area>,
        to: Option<Area>,
    ) -> Moment {
        Moment {
            id: MomentId::derive(&s.imsi, kind, area.level(), &area, s.at),
            kind,
            level: area.level(),
            area,
            from,
            to,
            imsi: s.imsi,
            msisdn: s.msisdn,
            home: s.home,
            home_country: s.home_country,
            rat: s.rat,
            at: s.at,
            expires_at: s.at.saturating_add(cfg.ttl_us),
            source: s.source,
        }
    }

    /// The canonical sort key `(at, id)`.
    pub fn sort_key(&self) -> (TimestampUs, MomentId) {
        (self.at, self.id)
    }
}

/// Sort moments by `(at, id)`, ties broken by the full derived order (deterministic).
pub fn sort_moments(moments: &mut [Moment]) {
    moments.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()).then_with(|| a.cmp(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_hex_round_trip() {
        let imsi = Imsi::parse("001020000000064").unwrap();
        let area = Area::Network(Plmn::new(1, 1, 2));
        let id = MomentId::derive(&imsi, MomentKind::Arrival, Level::Network, &area, 42);
        let hex = id.to_hex();
        assert_eq!(hex.len(), 32);
        assert!(hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(MomentId::from_hex(&hex), Some(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{hex}\""));
        let back: MomentId = serde_json::from_str(&format!("\"{hex}\"")).unwrap();
        assert_eq!(back, id);
        // Every input of the id matters.
        let other = [
            MomentId::derive(&imsi, MomentKind::Departure, Level::Network, &area, 42),
            MomentId::derive(&imsi, MomentKind::Arrival, Level::Network, &area, 43),
            MomentId::derive(
                &imsi,
                MomentKind::Arrival,
                Level::Network,
                &Area::Network(Plmn::new(1, 1, 3)),
                42,
            ),
            MomentId::derive(
                &Imsi::parse("001020000000065").unwrap(),
                MomentKind::Arrival,
                Level::Network,
                &area,
                42,
            ),
            MomentId::derive(
                &imsi,
                MomentKind::Arrival,
                Level::Country,
                &Area::Country(Country::new("001").unwrap()),
                42,
            ),
        ];
        for o in other {
            assert_ne!(o, id);
        }
    }
}
