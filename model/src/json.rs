//! The moment's JSON form: one object per line (JSON Lines), written by `replay` and the
//! service's sinks and read back by testers and partners' tools. One serializer and one
//! parser, so the two cannot drift.
//!
//! ```json
//! {"id":"2aadbed730c24b3d77a091293324caaa","type":"arrival","level":"country","area":"FR",
//!  "from":null,"imsi":"262011234567890","msisdn":"4915112345678","home":"262-01",
//!  "home_country":"DE","rat":1004,"at":"2026-06-01T08:00:03.000000Z",
//!  "expires_at":"2026-06-01T10:00:03.000000Z",
//!  "source":{"file":"roaming-scenario.pcap","frame":12,"proto":"diameter"}}
//! ```
//!
//! Areas are written without their level (`FR`, `262-01`, a zone id): the `level` field
//! says which. The source names the capture file rather than its index in the run, and
//! does not carry the request's message code, so a moment read back has
//! `source.message == 0`.

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::identity::{Country, Imsi, Msisdn, Plmn};
use crate::moment::{Area, Level, Moment, MomentId, MomentKind};
use crate::signal::{Proto, Provenance, TimestampUs};
use crate::zone::ZoneId;

/// One moment as its JSON object, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MomentRecord {
    pub id: MomentId,
    #[serde(rename = "type")]
    pub kind: MomentKind,
    pub level: Level,
    pub area: String,
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub imsi: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
    pub home: Option<String>,
    pub home_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rat: Option<u32>,
    /// RFC 3339 UTC with microseconds.
    pub at: String,
    pub expires_at: String,
    pub source: SourceRecord,
}

/// Where the moment's signal was captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The capture file's name (`?` when the run had no name for its index).
    pub file: String,
    /// The request's 1-based frame number in that file.
    pub frame: u64,
    pub proto: Proto,
}

/// Why a JSON moment cannot be read back as a [`Moment`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("not a moment object: {0}")]
    Syntax(String),
    #[error("field {field}: {value:?} is not {expected}")]
    Field {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("source.file {0:?} is not one of the run's captures")]
    UnknownFile(String),
}

impl MomentRecord {
    /// The record of `m`; `files` names the run's captures by index.
    pub fn of(m: &Moment, files: &[String]) -> MomentRecord {
        MomentRecord {
            id: m.id,
            kind: m.kind,
            level: m.level,
            area: area_text(&m.area),
            from: m.from.as_ref().map(area_text),
            to: m.to.as_ref().map(area_text),
            imsi: m.imsi.as_str().to_owned(),
            msisdn: m.msisdn.as_ref().map(|d| d.as_str().to_owned()),
            home: m.home.map(|p| p.to_string()),
            home_country: m.home_country.map(|c| c.to_string()),
            rat: m.rat,
            at: rfc3339_us(m.at),
            expires_at: rfc3339_us(m.expires_at),
            source: SourceRecord {
                file: files
                    .get(usize::from(m.source.file))
                    .map_or_else(|| "?".to_owned(), Clone::clone),
                frame: m.source.frame,
                proto: m.source.proto,
            },
        }
    }

    /// The moment this record describes; `files` maps `source.file` back to its index.
    pub fn to_moment(&self, files: &[String]) -> Result<Moment, JsonError> {
        let file = files
            .iter()
            .position(|f| *f == self.source.file)
            .and_then(|i| u16::try_from(i).ok())
            .ok_or_else(|| JsonError::UnknownFile(self.source.file.clone()))?;
        let area = |field: &'static str, text: &str| parse_area(self.level, field, text);
        Ok(Moment {
            id: self.id,
            kind: self.kind,
            level: self.level,
            area: area("area", &self.area)?,
            from: self.from.as_deref().map(|t| area("from", t)).transpose()?,
            to: self.to.as_deref().map(|t| area("to", t)).transpose()?,
            imsi: Imsi::parse(&self.imsi).map_err(|_| bad("imsi", &self.imsi, "an IMSI"))?,
            msisdn: self
                .msisdn
                .as_deref()
                .map(|t| Msisdn::parse(t).map_err(|_| bad("msisdn", t, "an MSISDN")))
                .transpose()?,
            home: self
                .home
                .as_deref()
                .map(|t| Plmn::parse(t).ok_or_else(|| bad("home", t, "MCC-MNC")))
                .transpose()?,
            home_country: self
                .home_country
                .as_deref()
                .map(|t| Country::new(t).ok_or_else(|| bad("home_country", t, "a country")))
                .transpose()?,
            rat: self.rat,
            at: parse_rfc3339_us("at", &self.at)?,
            expires_at: parse_rfc3339_us("expires_at", &self.expires_at)?,
            source: Provenance {
                file,
                frame: self.source.frame,
                proto: self.source.proto,
                message: 0,
            },
        })
    }

    /// The record of one JSON line.
    pub fn parse(line: &str) -> Result<MomentRecord, JsonError> {
        serde_json::from_str(line).map_err(|e| JsonError::Syntax(e.to_string()))
    }
}

fn bad(field: &'static str, value: &str, expected: &'static str) -> JsonError {
    JsonError::Field {
        field,
        value: value.to_owned(),
        expected,
    }
}

/// An area as written: the country code, `MCC-MNC` or the zone id.
pub fn area_text(a: &Area) -> String {
    match a {
        Area::Country(c) => c.to_string(),
        Area::Network(p) => p.to_string(),
        Area::Zone(z) => z.to_string(),
    }
}

fn parse_area(level: Level, field: &'static str, text: &str) -> Result<Area, JsonError> {
    match level {
        Level::Country => Country::new(text)
            .map(Area::Country)
            .ok_or_else(|| bad(field, text, "a country")),
        Level::Network => Plmn::parse(text)
            .map(Area::Network)
            .ok_or_else(|| bad(field, text, "MCC-MNC")),
        Level::Zone => ZoneId::new(text)
            .map(Area::Zone)
            .map_err(|_| bad(field, text, "a zone id")),
    }
}

/// 9999-12-31T23:59:59.999999Z, the last instant RFC 3339 can write.
const LAST_US: i64 = 253_402_300_799_999_999;

/// RFC 3339 UTC with microseconds, e.g. `2021-05-05T20:08:31.835967Z`. Times outside
/// 1970–9999 (which frames never carry: the decoder refuses them) are written as the
/// nearest bound rather than failing.
pub fn rfc3339_us(us: TimestampUs) -> String {
    let us = us.clamp(0, LAST_US);
    let t = UNIX_EPOCH + Duration::from_micros(us as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

/// The microseconds since the epoch of an RFC 3339 UTC time.
pub fn parse_rfc3339_us(field: &'static str, text: &str) -> Result<TimestampUs, JsonError> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .ok_or_else(|| bad(field, text, "an RFC 3339 UTC time after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moment::Rules;
    use crate::signal::{Signal, SignalKind};
    use proptest::prelude::*;

    const GOLDEN: &str = r#"{"id":"2aadbed730c24b3d77a091293324caaa","type":"arrival","level":"country","area":"FR","from":null,"imsi":"262011234567890","msisdn":"4915112345678","home":"262-01","home_country":"DE","rat":1004,"at":"2026-06-01T08:00:03.000000Z","expires_at":"2026-06-01T10:00:03.000000Z","source":{"file":"roaming-scenario.pcap","frame":12,"proto":"diameter"}}"#;

    #[test]
    fn a_written_line_reads_back_and_writes_again_identically() {
        let files = vec!["roaming-scenario.pcap".to_owned()];
        let record = MomentRecord::parse(GOLDEN).unwrap();
        let moment = record.to_moment(&files).unwrap();
        assert_eq!(moment.area, Area::Country(Country::new("FR").unwrap()));
        assert_eq!(moment.kind, MomentKind::Arrival);
        let again = MomentRecord::of(&moment, &files);
        assert_eq!(serde_json::to_string(&again).unwrap(), GOLDEN);
    }

    #[test]
    fn timestamps_have_microseconds_and_are_clamped() {
        assert_eq!(
            rfc3339_us(1_620_245_311_835_967),
            "2021-05-05T20:08:31.835967Z"
        );
        assert_eq!(rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_us(-1), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_us(i64::MAX), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn bad_fields_are_named() {
        let files = vec!["roaming-scenario.pcap".to_owned()];
        let cases = [
            (r#""area":"FR""#, r#""area":"F-R""#, "field area"),
            (
                r#""imsi":"262011234567890""#,
                r#""imsi":"26201x""#,
                "field imsi",
            ),
            (
                r#""at":"2026-06-01T08:00:03.000000Z""#,
                r#""at":"yesterday""#,
                "field at",
            ),
            (
                r#""file":"roaming-scenario.pcap""#,
                r#""file":"other.pcap""#,
                "other.pcap",
            ),
        ];
        for (from, to, says) in cases {
            let line = GOLDEN.replace(from, to);
            let e = MomentRecord::parse(&line)
                .and_then(|r| r.to_moment(&files))
                .unwrap_err();
            assert!(e.to_string().contains(says), "{line}: {e}");
        }
        assert!(MomentRecord::parse("{").is_err());
        assert!(MomentRecord::parse(&GOLDEN.replace("arrival", "landing")).is_err());
    }

    fn area() -> impl Strategy<Value = Area> {
        prop_oneof![
            "[A-Z]{2}".prop_map(|c| Area::Country(Country::new(&c).unwrap())),
            (0u16..1000, 0u16..1000, any::<bool>()).prop_map(|(mcc, mnc, three)| {
                let len = if three || mnc > 99 { 3 } else { 2 };
                Area::Network(Plmn::new(mcc, mnc, len))
            }),
            "[a-z0-9][a-z0-9_.:/-]{0,22}".prop_map(|z| Area::Zone(ZoneId::new(&z).unwrap())),
        ]
    }

    proptest! {
        /// Any moment survives the JSON form (but for the message code it does not carry),
        /// and its line is stable.
        #[test]
        fn moments_round_trip(
            imsi in "[0-9]{6,15}",
            msisdn in proptest::option::of("[0-9]{5,15}"),
            at in 0i64..LAST_US / 2,
            ttl in 1i64..366 * 86_400_000_000,
            area in area(),
            from in any::<bool>(),
            rat in proptest::option::of(any::<u32>()),
            frame in any::<u64>(),
            kind in 0usize..5,
        ) {
            let kinds = [MomentKind::Arrival, MomentKind::Departure, MomentKind::RoamingOn,
                MomentKind::RoamingOff, MomentKind::RoamingChangeCountry];
            let signal = Signal {
                at,
                imsi: Imsi::parse(&imsi).unwrap(),
                msisdn: msisdn.as_deref().map(|m| Msisdn::parse(m).unwrap()),
                kind: SignalKind::Attach,
                home: Some(Plmn::new(262, 1, 2)),
                home_country: Country::new("DE"),
                serving: None,
                serving_country: None,
                location: None,
                rat,
                source: Provenance { file: 1, frame, proto: Proto::Map, message: 0 },
            };
            let cfg = Rules { ttl_us: ttl, ..Rules::default() };
            let m = Moment::caused_by(&signal, &cfg, kinds[kind], area, from.then_some(area), None);
            let files = vec!["a.pcap".to_owned(), "b.pcap".to_owned()];
            let line = serde_json::to_string(&MomentRecord::of(&m, &files)).unwrap();
            let back = MomentRecord::parse(&line).unwrap().to_moment(&files).unwrap();
            prop_assert_eq!(back, m);
            prop_assert_eq!(serde_json::to_string(&MomentRecord::of(&back, &files)).unwrap(), line);
        }
    }
}
