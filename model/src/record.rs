//! The signal record: a [`Signal`]'s external form, one JSON object per line (JSON Lines),
//! version 1. `landfall inspect --signals` writes it from captures; `replay --records`
//! reads it, from those files or from a probe's or a pipeline's own export, so a signal
//! has one documented form outside the process. Its JSON Schema is
//! `docs/signal-record.schema.json` (generated from these types by a test, so the two
//! cannot drift); docs/records.md describes each field.
//!
//! ```json
//! {"v":1,"at":"2026-06-01T08:00:03.000000Z","imsi":"262011234567890","msisdn":"4915112345678",
//!  "kind":"attach","home":"262-01","home_country":"DE","serving":"208-01","serving_country":"FR",
//!  "location":{"type":"ecgi","plmn":"208-01","eci":1193046},"rat":1004,
//!  "source":{"file":"roaming-scenario.pcap","frame":12,"proto":"diameter","message":316}}
//! ```
//!
//! Stable: a reader of version 1 ignores fields it does not know, so later versions may
//! add fields; a change of meaning takes a new `v`. Written records carry every field
//! (`null` where the signal has none, `msisdn` left out when absent); a reader accepts
//! records without `home`, `home_country` or `serving_country` (the caller may derive
//! them from the IMSI and the serving network) and without `source.file`/`source.frame`
//! (the caller names the record's own file and line).

use serde::{Deserialize, Serialize};

use crate::identity::{Country, Imsi, Msisdn, Plmn};
use crate::json::{parse_rfc3339_us, rfc3339_us};
use crate::signal::{Location, Proto, Provenance, Signal, SignalKind};

/// The version this crate writes and reads.
pub const VERSION: u32 = 1;

/// One signal as its JSON object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct SignalRecord {
    /// The record format's version: 1.
    pub v: u32,
    /// When the transaction's request was captured: RFC 3339 UTC with microseconds.
    pub at: String,
    /// The subscriber's IMSI, 5 to 15 digits.
    pub imsi: String,
    /// The subscriber's MSISDN (E.164 digits), when the signaling carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
    pub kind: SignalKind,
    /// The subscriber's home network, "MCC-MNC" (the MNC with 2 or 3 digits, as encoded).
    #[serde(default)]
    pub home: Option<String>,
    /// The home network's country: ISO 3166-1 alpha-2, or a test network's MCC digits.
    #[serde(default)]
    pub home_country: Option<String>,
    /// The network serving the subscriber, "MCC-MNC".
    #[serde(default)]
    pub serving: Option<String>,
    /// The serving country (from the serving network's MCC, or for MAP the VLR number).
    #[serde(default)]
    pub serving_country: Option<String>,
    /// The finest location element the signaling carried.
    #[serde(default)]
    pub location: Option<LocationRecord>,
    /// The radio access type as the protocol encodes it (S6a RAT-Type 1004 = E-UTRAN, …).
    #[serde(default)]
    pub rat: Option<u32>,
    pub source: SourceRecord,
}

/// A location element: its type and its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LocationRecord {
    /// Tracking area (LTE): TAC.
    Tai { plmn: PlmnText, tac: u16 },
    /// E-UTRAN cell: 28-bit ECI.
    Ecgi { plmn: PlmnText, eci: u32 },
    /// Location area (2G/3G): LAC.
    Lai { plmn: PlmnText, lac: u16 },
    /// GSM cell: LAC and CI.
    Cgi { plmn: PlmnText, lac: u16, ci: u16 },
    /// UMTS service area: LAC and SAC.
    Sai { plmn: PlmnText, lac: u16, sac: u16 },
    /// Routing area (GPRS): LAC and RAC.
    Rai { plmn: PlmnText, lac: u16, rac: u8 },
    /// NR cell: 36-bit NCI.
    Ncgi { plmn: PlmnText, nci: u64 },
}

/// A PLMN written "MCC-MNC" ("208-01", "310-410").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlmnText(pub Plmn);

impl Serialize for PlmnText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PlmnText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Plmn::parse(&text)
            .map(PlmnText)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a PLMN \"MCC-MNC\"")))
    }
}

#[cfg(test)]
impl schemars::JsonSchema for PlmnText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Plmn".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{3}-[0-9]{2,3}$",
            "description": "MCC-MNC, the MNC with 2 or 3 digits as encoded"
        })
    }
}

/// Where the signal was captured or recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct SourceRecord {
    /// The capture (or export) file's name; absent: the record's own file.
    #[serde(default)]
    pub file: Option<String>,
    /// The request's 1-based frame number in that file; absent: the record's line.
    #[serde(default)]
    pub frame: Option<u64>,
    /// The protocol the transaction was decoded from.
    pub proto: Proto,
    /// The request's command code, message type or operation code (0: unknown).
    #[serde(default)]
    pub message: u32,
}

/// Why a record is not a signal: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Syntax(String),
    #[error("v is {0}: this version reads signal records of version {VERSION}")]
    Version(u32),
    #[error("{field}: {value:?} is not {expected}")]
    Field {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl RecordError {
    /// A short reason, for counting bad records by kind.
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::Syntax(_) => "not a signal record",
            RecordError::Version(_) => "another version",
            RecordError::Field { field, .. } => field,
        }
    }
}

fn bad(field: &'static str, value: &str, expected: &'static str) -> RecordError {
    RecordError::Field {
        field,
        value: shown(field, value),
        expected,
    }
}

/// A bad field's value as errors show it: a subscriber's identifier (`imsi`, `msisdn`) only
/// by its length, since errors are logged and a near-miss may still identify someone.
pub fn shown(field: &str, value: &str) -> String {
    match field {
        "imsi" | "msisdn" => format!("({} characters)", value.chars().count()),
        _ => value.to_owned(),
    }
}

impl SignalRecord {
    /// The record of `s`; `files` names the run's captures by index.
    pub fn of(s: &Signal, files: &[String]) -> SignalRecord {
        let text = |p: Option<Plmn>| p.map(|p| p.to_string());
        SignalRecord {
            v: VERSION,
            at: rfc3339_us(s.at),
            imsi: s.imsi.as_str().to_owned(),
            msisdn: s.msisdn.map(|m| m.as_str().to_owned()),
            kind: s.kind,
            home: text(s.home),
            home_country: s.home_country.map(|c| c.as_str().to_owned()),
            serving: text(s.serving),
            serving_country: s.serving_country.map(|c| c.as_str().to_owned()),
            location: s.location.map(LocationRecord::of),
            rat: s.rat,
            source: SourceRecord {
                file: Some(
                    files
                        .get(usize::from(s.source.file))
                        .cloned()
                        .unwrap_or_else(|| "?".to_owned()),
                ),
                frame: Some(s.source.frame),
                proto: s.source.proto,
                message: s.source.message,
            },
        }
    }

    /// Read one line.
    pub fn parse(line: &str) -> Result<SignalRecord, RecordError> {
        let r: SignalRecord =
            serde_json::from_str(line).map_err(|e| RecordError::Syntax(e.to_string()))?;
        if r.v != VERSION {
            return Err(RecordError::Version(r.v));
        }
        Ok(r)
    }

    /// The signal, its file index given by `file` (called with the record's file name, or
    /// none when it names none) and its frame `line` when the record has none. Fields the
    /// record leaves out stay empty: see [`crate::record`].
    pub fn to_signal(
        &self,
        file: impl FnOnce(Option<&str>) -> u16,
        line: u64,
    ) -> Result<Signal, RecordError> {
        let plmn = |field: &'static str, v: &Option<String>| -> Result<Option<Plmn>, RecordError> {
            v.as_deref()
                .map(|t| Plmn::parse(t).ok_or_else(|| bad(field, t, "a PLMN \"MCC-MNC\"")))
                .transpose()
        };
        let country =
            |field: &'static str, v: &Option<String>| -> Result<Option<Country>, RecordError> {
                v.as_deref()
                    .map(|t| Country::new(t).ok_or_else(|| bad(field, t, "a country code")))
                    .transpose()
            };
        let at = parse_rfc3339_us("at", &self.at)
            .map_err(|_| bad("at", &self.at, "an RFC 3339 UTC time after 1970"))?;
        let imsi = Imsi::parse(&self.imsi)
            .ok()
            .filter(|i| i.len() >= 5)
            .ok_or_else(|| bad("imsi", &self.imsi, "5 to 15 digits"))?;
        let msisdn = self
            .msisdn
            .as_deref()
            .map(|m| Msisdn::parse(m).map_err(|_| bad("msisdn", m, "up to 15 digits")))
            .transpose()?;
        Ok(Signal {
            at,
            imsi,
            msisdn,
            kind: self.kind,
            home: plmn("home", &self.home)?,
            home_country: country("home_country", &self.home_country)?,
            serving: plmn("serving", &self.serving)?,
            serving_country: country("serving_country", &self.serving_country)?,
            location: self.location.map(LocationRecord::location),
            rat: self.rat,
            source: Provenance {
                file: file(self.source.file.as_deref()),
                frame: self.source.frame.unwrap_or(line),
                proto: self.source.proto,
                message: self.source.message,
            },
        })
    }
}

impl LocationRecord {
    fn of(l: Location) -> LocationRecord {
        let p = PlmnText;
        match l {
            Location::Tai { plmn, tac } => LocationRecord::Tai { plmn: p(plmn), tac },
            Location::Ecgi { plmn, eci } => LocationRecord::Ecgi { plmn: p(plmn), eci },
            Location::Lai { plmn, lac } => LocationRecord::Lai { plmn: p(plmn), lac },
            Location::Cgi { plmn, lac, ci } => LocationRecord::Cgi {
                plmn: p(plmn),
                lac,
                ci,
            },
            Location::Sai { plmn, lac, sac } => LocationRecord::Sai {
                plmn: p(plmn),
                lac,
                sac,
            },
            Location::Rai { plmn, lac, rac } => LocationRecord::Rai {
                plmn: p(plmn),
                lac,
                rac,
            },
            Location::Ncgi { plmn, nci } => LocationRecord::Ncgi { plmn: p(plmn), nci },
        }
    }

    fn location(self) -> Location {
        match self {
            LocationRecord::Tai { plmn, tac } => Location::Tai { plmn: plmn.0, tac },
            LocationRecord::Ecgi { plmn, eci } => Location::Ecgi { plmn: plmn.0, eci },
            LocationRecord::Lai { plmn, lac } => Location::Lai { plmn: plmn.0, lac },
            LocationRecord::Cgi { plmn, lac, ci } => Location::Cgi {
                plmn: plmn.0,
                lac,
                ci,
            },
            LocationRecord::Sai { plmn, lac, sac } => Location::Sai {
                plmn: plmn.0,
                lac,
                sac,
            },
            LocationRecord::Rai { plmn, lac, rac } => Location::Rai {
                plmn: plmn.0,
                lac,
                rac,
            },
            LocationRecord::Ncgi { plmn, nci } => Location::Ncgi { plmn: plmn.0, nci },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOLDEN: &str = r#"{"v":1,"at":"2026-06-01T08:00:03.000000Z","imsi":"262011234567890","msisdn":"4915112345678","kind":"attach","home":"262-01","home_country":"DE","serving":"208-01","serving_country":"FR","location":{"type":"ecgi","plmn":"208-01","eci":1193046},"rat":1004,"source":{"file":"roaming-scenario.pcap","frame":12,"proto":"diameter","message":316}}"#;

    #[test]
    fn a_written_line_reads_back_and_writes_again_identically() {
        let files = vec!["roaming-scenario.pcap".to_owned()];
        let r = SignalRecord::parse(GOLDEN).unwrap();
        let s = r.to_signal(|_| 0, 1).unwrap();
        assert_eq!(s.kind, SignalKind::Attach);
        assert_eq!(s.serving, Plmn::parse("208-01"));
        assert_eq!(
            serde_json::to_string(&SignalRecord::of(&s, &files)).unwrap(),
            GOLDEN
        );
    }

    #[test]
    fn a_pipelines_record_may_leave_out_what_can_be_derived_or_named() {
        let line = r#"{"v":1,"at":"2026-06-01T08:00:03Z","imsi":"262011234567890","kind":"location_update","serving":"208-01","source":{"proto":"map"},"vendor_field":"ignored"}"#;
        let r = SignalRecord::parse(line).unwrap();
        let s = r
            .to_signal(
                |f| {
                    assert_eq!(f, None);
                    3
                },
                42,
            )
            .unwrap();
        assert_eq!((s.source.file, s.source.frame), (3, 42));
        assert_eq!((s.home, s.home_country, s.location), (None, None, None));
    }

    #[test]
    fn a_bad_field_is_named() {
        let with = |from: &str, to: &str| {
            let line = GOLDEN.replace(from, to);
            SignalRecord::parse(&line).and_then(|r| r.to_signal(|_| 0, 1))
        };
        let e = with("\"imsi\":\"262011234567890\"", "\"imsi\":\"26201x\"").unwrap_err();
        assert_eq!(e.reason(), "imsi");
        assert!(e.to_string().contains("26201x"), "{e}");
        assert_eq!(
            with("\"serving\":\"208-01\"", "\"serving\":\"20801\"")
                .unwrap_err()
                .reason(),
            "serving"
        );
        assert_eq!(
            with("2026-06-01T08:00:03.000000Z", "yesterday")
                .unwrap_err()
                .reason(),
            "at"
        );
        assert_eq!(
            with("\"v\":1", "\"v\":2").unwrap_err(),
            RecordError::Version(2)
        );
        assert_eq!(
            with("\"kind\":\"attach\"", "\"kind\":\"teleport\"")
                .unwrap_err()
                .reason(),
            "not a signal record"
        );
        assert!(with("\"plmn\":\"208-01\",\"eci\"", "\"plmn\":\"2080\",\"eci\"").is_err());
    }

    /// `docs/signal-record.schema.json` is this module's types' schema (set
    /// `LANDFALL_WRITE_SCHEMA=1` to write it after a change, and review the diff).
    #[test]
    fn the_schema_in_the_docs_is_the_types_schema() {
        let mut schema = schemars::schema_for!(SignalRecord);
        schema.insert(
            "$id".into(),
            "https://landfall.dev/schemas/signal-record-v1.json".into(),
        );
        schema.insert("title".into(), "landfall signal record, version 1".into());
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/signal-record.schema.json");
        if std::env::var_os("LANDFALL_WRITE_SCHEMA").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} differs from the types' schema: run with LANDFALL_WRITE_SCHEMA=1",
            path.display()
        );
    }

    fn plmn() -> impl Strategy<Value = Plmn> {
        (0u16..1000, 0u16..1000, 2u8..=3)
            .prop_map(|(mcc, mnc, len)| Plmn::new(mcc, if len == 2 { mnc % 100 } else { mnc }, len))
    }

    fn location() -> impl Strategy<Value = Location> {
        prop_oneof![
            (plmn(), any::<u16>()).prop_map(|(plmn, tac)| Location::Tai { plmn, tac }),
            (plmn(), 0u32..1 << 28).prop_map(|(plmn, eci)| Location::Ecgi { plmn, eci }),
            (plmn(), any::<u16>()).prop_map(|(plmn, lac)| Location::Lai { plmn, lac }),
            (plmn(), any::<u16>(), any::<u16>()).prop_map(|(plmn, lac, ci)| Location::Cgi {
                plmn,
                lac,
                ci
            }),
            (plmn(), any::<u16>(), any::<u16>()).prop_map(|(plmn, lac, sac)| Location::Sai {
                plmn,
                lac,
                sac
            }),
            (plmn(), any::<u16>(), any::<u8>()).prop_map(|(plmn, lac, rac)| Location::Rai {
                plmn,
                lac,
                rac
            }),
            (plmn(), 0u64..1 << 36).prop_map(|(plmn, nci)| Location::Ncgi { plmn, nci }),
        ]
    }

    proptest! {
        #[test]
        fn every_signal_round_trips(
            at in 0i64..253_402_300_799_000_000,
            imsi in "[0-9]{5,15}",
            msisdn in proptest::option::of("[0-9]{1,15}"),
            kind in prop_oneof![
                Just(SignalKind::Attach), Just(SignalKind::LocationUpdate),
                Just(SignalKind::CellChange), Just(SignalKind::SessionStart),
                Just(SignalKind::SessionEnd), Just(SignalKind::Detach),
                Just(SignalKind::Cancel), Just(SignalKind::Purge),
                Just(SignalKind::Auth), Just(SignalKind::Rejected),
            ],
            home in proptest::option::of(plmn()),
            serving in proptest::option::of(plmn()),
            countries in proptest::option::of(("[A-Z]{2}", "[A-Z0-9]{2,3}")),
            location in proptest::option::of(location()),
            rat in proptest::option::of(any::<u32>()),
            frame in any::<u64>(),
            message in any::<u32>(),
        ) {
            let s = Signal {
                at,
                imsi: Imsi::parse(&imsi).unwrap(),
                msisdn: msisdn.map(|m| Msisdn::parse(&m).unwrap()),
                kind,
                home,
                home_country: countries.as_ref().and_then(|c| Country::new(&c.0)),
                serving,
                serving_country: countries.as_ref().and_then(|c| Country::new(&c.1)),
                location,
                rat,
                source: Provenance { file: 0, frame, proto: Proto::Gtpv2, message },
            };
            let files = vec!["a.pcapng".to_owned()];
            let line = serde_json::to_string(&SignalRecord::of(&s, &files)).unwrap();
            let back = SignalRecord::parse(&line).unwrap().to_signal(|f| {
                assert_eq!(f, Some("a.pcapng"));
                0
            }, 0).unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
