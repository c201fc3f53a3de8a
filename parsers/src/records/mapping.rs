//! A vendor's xDR export read through a declarative mapping (TOML): which column or field
//! holds each part of a signal, how its timestamps are written, which values mean which
//! kind and which result codes mean success, how PLMNs and cells are written. The same
//! signals as a signal record file come out (docs/records.md, "Mappings").
//!
//! ```toml
//! format = "csv"            # or "jsonl": one JSON object per line, fields by dotted path
//! delimiter = ";"           # csv only (default ",")
//! proto = "diameter"        # what the records were decoded from
//! [fields]                  # column names (csv with a header), or dotted JSON paths
//! at = "EVENT_TIME"
//! imsi = "IMSI"
//! kind = "PROCEDURE"
//! result = "RESULT"         # optional, with `success` below
//! serving = "VPLMN"         # or serving_mcc + serving_mnc
//! eci = "ECI"               # tac, eci, lac, ci, sac, rac, nci: optional
//! [time]
//! format = "epoch_ms"       # epoch_s, epoch_ms, epoch_us, rfc3339, or a strftime pattern
//! zone = "Europe/Paris"     # a pattern without an offset is local time in this IANA zone
//! [kinds]                   # the vendor's values → signal kinds
//! ATTACH = "attach"
//! [result]
//! success = ["0"]           # any other value: the signal is a rejection
//! [plmn]
//! format = "digits"         # "mcc-mnc" (default), or 5/6 digits (MNC length from E.212)
//! [cell]
//! format = "hex"            # "decimal" (default) or "hex" cell and area numbers
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use jiff::tz::TimeZone;
use landfall_model::record::shown;
use landfall_model::{
    Imsi, Location, Msisdn, Plmn, Proto, Provenance, Signal, SignalKind, TimestampUs,
};
use serde::Deserialize;

use super::lines::LineReader;
use super::{read_lines, FileNames, RecordStats};
use crate::numbering::e212::E212;

/// A mapping that cannot be used: the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct MappingError {
    pub key: String,
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> MappingError {
    MappingError {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    format: Format,
    delimiter: Option<String>,
    #[serde(default = "yes")]
    header: bool,
    proto: Proto,
    fields: Fields,
    time: RawTime,
    #[serde(default)]
    kinds: BTreeMap<String, SignalKind>,
    result: Option<RawResult>,
    #[serde(default)]
    plmn: RawPlmn,
    #[serde(default)]
    cell: RawCell,
}

fn yes() -> bool {
    true
}

/// How the export is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
}

/// Where each part of a signal is: a column name (CSV with a header; without one, the
/// 1-based column number) or a dotted path into the JSON object.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub at: String,
    pub imsi: String,
    pub kind: String,
    pub msisdn: Option<String>,
    pub result: Option<String>,
    pub serving: Option<String>,
    pub serving_mcc: Option<String>,
    pub serving_mnc: Option<String>,
    pub tac: Option<String>,
    pub eci: Option<String>,
    pub lac: Option<String>,
    pub ci: Option<String>,
    pub sac: Option<String>,
    pub rac: Option<String>,
    pub nci: Option<String>,
    pub rat: Option<String>,
    pub frame: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    format: String,
    zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResult {
    success: Vec<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlmn {
    #[serde(default)]
    format: PlmnFormat,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCell {
    #[serde(default)]
    format: CellFormat,
}

/// How PLMNs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlmnFormat {
    /// "208-01", "310-410".
    #[default]
    MccMnc,
    /// "20801", "310410": the MNC's length from the E.212 table.
    Digits,
}

/// How cell and area numbers are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellFormat {
    #[default]
    Decimal,
    /// With or without `0x`.
    Hex,
}

/// How timestamps are written.
#[derive(Clone, Debug)]
enum TimeFormat {
    EpochS,
    EpochMs,
    EpochUs,
    Rfc3339,
    /// A strftime pattern; without an offset in it, local time in the zone.
    Pattern(String, Option<TimeZone>),
}

/// A checked mapping.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub format: Format,
    delimiter: u8,
    header: bool,
    proto: Proto,
    pub fields: Fields,
    time: TimeFormat,
    kinds: BTreeMap<String, SignalKind>,
    success: Option<Vec<String>>,
    plmn: PlmnFormat,
    cell: CellFormat,
}

impl Mapping {
    /// Read and check a mapping file's text: an unknown key, a missing field or a bad
    /// value is one error naming its key.
    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_else(|| "mapping".into());
            err(&key, e.message().to_owned())
        })?;
        let delimiter = match raw.delimiter.as_deref() {
            None => b',',
            Some("\\t") | Some("\t") => b'\t',
            Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some(d) => {
                return Err(err(
                    "delimiter",
                    format!("{d:?} is not one ASCII character"),
                ))
            }
        };
        if raw.format == Format::Jsonl && raw.delimiter.is_some() {
            return Err(err("delimiter", "only for format = \"csv\""));
        }
        let zone = raw
            .time
            .zone
            .as_deref()
            .map(|z| {
                TimeZone::get(z)
                    .map_err(|_| err("time.zone", format!("{z:?} is not an IANA time zone")))
            })
            .transpose()?;
        let time = match raw.time.format.as_str() {
            "epoch_s" => TimeFormat::EpochS,
            "epoch_ms" => TimeFormat::EpochMs,
            "epoch_us" => TimeFormat::EpochUs,
            "rfc3339" => TimeFormat::Rfc3339,
            p if p.contains('%') => {
                let has_offset =
                    p.contains("%z") || p.contains("%:z") || p.contains("%Z") || p.contains("%Q");
                if !has_offset && zone.is_none() {
                    return Err(err(
                        "time.zone",
                        "required: the pattern has no offset, so the times are local times in a zone",
                    ));
                }
                TimeFormat::Pattern(p.to_owned(), zone)
            }
            other => {
                return Err(err(
                    "time.format",
                    format!(
                    "{other:?} is not epoch_s, epoch_ms, epoch_us, rfc3339 or a strftime pattern"
                ),
                ))
            }
        };
        let f = &raw.fields;
        if f.serving.is_some() && (f.serving_mcc.is_some() || f.serving_mnc.is_some()) {
            return Err(err(
                "fields.serving",
                "give serving or serving_mcc and serving_mnc, not both",
            ));
        }
        if f.serving_mcc.is_some() != f.serving_mnc.is_some() {
            return Err(err(
                "fields.serving_mcc",
                "serving_mcc and serving_mnc go together",
            ));
        }
        if raw.result.is_some() != f.result.is_some() {
            return Err(err(
                "result.success",
                "fields.result and result.success go together",
            ));
        }
        Ok(Mapping {
            format: raw.format,
            delimiter,
            header: raw.header,
            proto: raw.proto,
            fields: raw.fields,
            time,
            kinds: raw.kinds,
            success: raw.result.map(|r| r.success),
            plmn: raw.plmn.format,
            cell: raw.cell.format,
        })
    }

    /// Read `input` (named `file`) through the mapping, appending its signals to `out`;
    /// bad rows counted in `stats` like bad record lines. A CSV header without a column
    /// the mapping names is an error.
    pub fn read(
        self: &Arc<Self>,
        input: impl Read,
        file: &str,
        e212: &E212,
        names: &mut FileNames,
        out: &mut Vec<Signal>,
        stats: &mut RecordStats,
    ) -> std::io::Result<()> {
        let own = names.index(file);
        let mut lines = LineReader::new(file, Some(self.clone()));
        read_lines(
            std::io::BufReader::new(input),
            &mut lines,
            &mut |_| own,
            e212,
            out,
            stats,
        )
    }

    /// The CSV delimiter.
    pub(super) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Whether a CSV export starts with a header naming its columns.
    pub(super) fn has_header(&self) -> bool {
        self.header
    }

    /// A JSON Lines export's row (`text`, line `line`) as a signal of file `file`.
    pub(super) fn jsonl_row(
        &self,
        text: &str,
        file: u16,
        line: u64,
        e212: &E212,
    ) -> Result<Signal, Bad> {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| Bad::new("not a JSON object", e.to_string()))
            .and_then(|v| {
                let get = |path: &str| json_field(&v, path);
                self.row(&get, file, line, e212)
            })
    }

    /// The fields the mapping names, by key.
    pub(super) fn named(&self) -> Vec<(&'static str, &str)> {
        let f = &self.fields;
        let mut v = vec![
            ("at", f.at.as_str()),
            ("imsi", f.imsi.as_str()),
            ("kind", f.kind.as_str()),
        ];
        let optional = [
            ("msisdn", &f.msisdn),
            ("result", &f.result),
            ("serving", &f.serving),
            ("serving_mcc", &f.serving_mcc),
            ("serving_mnc", &f.serving_mnc),
            ("tac", &f.tac),
            ("eci", &f.eci),
            ("lac", &f.lac),
            ("ci", &f.ci),
            ("sac", &f.sac),
            ("rac", &f.rac),
            ("nci", &f.nci),
            ("rat", &f.rat),
            ("frame", &f.frame),
        ];
        v.extend(
            optional
                .iter()
                .filter_map(|(k, n)| n.as_deref().map(|n| (*k, n))),
        );
        v
    }

    /// One row's signal; `get` reads a named field (none when absent or empty).
    pub(super) fn row(
        &self,
        get: &dyn Fn(&str) -> Option<String>,
        file: u16,
        line: u64,
        e212: &E212,
    ) -> Result<Signal, Bad> {
        let f = &self.fields;
        let need = |key: &'static str, name: &str| {
            get(name).ok_or_else(|| Bad::new(key, format!("{key} ({name:?}) is empty")))
        };
        let opt = |name: &Option<String>| name.as_deref().and_then(get);
        let at_text = need("at", &f.at)?;
        let at = self.time(&at_text).ok_or_else(|| {
            Bad::new(
                "at",
                format!("at: {at_text:?} is not a time as time.format says"),
            )
        })?;
        let imsi_text = need("imsi", &f.imsi)?;
        let imsi = Imsi::parse(&imsi_text)
            .ok()
            .filter(|i| i.len() >= 5)
            .ok_or_else(|| {
                Bad::new(
                    "imsi",
                    format!(
                        "imsi: {:?} is not 5 to 15 digits",
                        shown("imsi", &imsi_text)
                    ),
                )
            })?;
        let kind_text = need("kind", &f.kind)?;
        let mut kind = self
            .kinds
            .get(&kind_text)
            .copied()
            .or_else(|| serde_json::from_value(serde_json::Value::String(kind_text.clone())).ok())
            .ok_or_else(|| {
                Bad::new(
                    "kind",
                    format!("kind: {kind_text:?} is in neither [kinds] nor the signal kinds"),
                )
            })?;
        if let (Some(name), Some(success)) = (&f.result, &self.success) {
            let result = get(name).unwrap_or_default();
            if !success.contains(&result) {
                kind = SignalKind::Rejected;
            }
        }
        let msisdn = opt(&f.msisdn)
            .map(|m| {
                Msisdn::parse(&m).map_err(|_| {
                    Bad::new(
                        "msisdn",
                        format!("msisdn: {:?} is not up to 15 digits", shown("msisdn", &m)),
                    )
                })
            })
            .transpose()?;
        let serving = match (&f.serving, &f.serving_mcc, &f.serving_mnc) {
            (Some(name), _, _) => get(name).map(|t| self.plmn(&t, e212)).transpose()?,
            (None, Some(mcc), Some(mnc)) => match (get(mcc), get(mnc)) {
                (Some(mcc), Some(mnc)) => {
                    Some(Plmn::parse(&format!("{mcc:0>3}-{mnc}")).ok_or_else(|| {
                        Bad::new(
                            "serving",
                            format!("serving: {mcc:?} {mnc:?} is not an MCC and an MNC"),
                        )
                    })?)
                }
                _ => None,
            },
            _ => None,
        };
        let number = |key: &'static str, name: &Option<String>| -> Result<Option<u64>, Bad> {
            opt(name)
                .map(|t| {
                    self.number(&t).ok_or_else(|| {
                        Bad::new(
                            key,
                            format!("{key}: {t:?} is not a {} number", self.cell_word()),
                        )
                    })
                })
                .transpose()
        };
        let small = |key: &'static str, v: Option<u64>, max: u64| -> Result<Option<u64>, Bad> {
            match v {
                Some(n) if n > max => Err(Bad::new(key, format!("{key}: {n} is above {max}"))),
                v => Ok(v),
            }
        };
        let (tac, eci, lac, ci, sac, rac, nci) = (
            small("tac", number("tac", &f.tac)?, 0xffff)?,
            small("eci", number("eci", &f.eci)?, (1 << 28) - 1)?,
            small("lac", number("lac", &f.lac)?, 0xffff)?,
            small("ci", number("ci", &f.ci)?, 0xffff)?,
            small("sac", number("sac", &f.sac)?, 0xffff)?,
            small("rac", number("rac", &f.rac)?, 0xff)?,
            small("nci", number("nci", &f.nci)?, (1 << 36) - 1)?,
        );
        let location = serving.and_then(|plmn| {
            let (lac16, u16_of) = (lac.map(|l| l as u16), |v: u64| v as u16);
            Some(match (nci, eci, lac16, ci, sac, rac, tac) {
                (Some(nci), ..) => Location::Ncgi { plmn, nci },
                (_, Some(eci), ..) => Location::Ecgi {
                    plmn,
                    eci: eci as u32,
                },
                (_, _, Some(lac), Some(ci), ..) => Location::Cgi {
                    plmn,
                    lac,
                    ci: u16_of(ci),
                },
                (_, _, Some(lac), _, Some(sac), ..) => Location::Sai {
                    plmn,
                    lac,
                    sac: u16_of(sac),
                },
                (_, _, Some(lac), _, _, Some(rac), _) => Location::Rai {
                    plmn,
                    lac,
                    rac: rac as u8,
                },
                (_, _, _, _, _, _, Some(tac)) => Location::Tai {
                    plmn,
                    tac: u16_of(tac),
                },
                (_, _, Some(lac), ..) => Location::Lai { plmn, lac },
                _ => return None,
            })
        });
        let rat = opt(&f.rat)
            .map(|r| {
                r.parse::<u32>()
                    .map_err(|_| Bad::new("rat", format!("rat: {r:?} is not a number")))
            })
            .transpose()?;
        let frame = opt(&f.frame)
            .map(|r| {
                r.parse::<u64>()
                    .map_err(|_| Bad::new("frame", format!("frame: {r:?} is not a number")))
            })
            .transpose()?
            .unwrap_or(line);
        Ok(Signal {
            at,
            imsi,
            msisdn,
            kind,
            home: e212.home_plmn(&imsi),
            home_country: e212.imsi_country(&imsi),
            serving,
            serving_country: serving.and_then(|p| e212.plmn_country(&p)),
            location,
            rat,
            source: Provenance {
                file,
                frame,
                proto: self.proto,
                message: 0,
            },
        })
    }

    fn cell_word(&self) -> &'static str {
        match self.cell {
            CellFormat::Decimal => "decimal",
            CellFormat::Hex => "hexadecimal",
        }
    }

    fn number(&self, text: &str) -> Option<u64> {
        match self.cell {
            CellFormat::Decimal => text.parse().ok(),
            CellFormat::Hex => {
                let t = text
                    .strip_prefix("0x")
                    .or_else(|| text.strip_prefix("0X"))
                    .unwrap_or(text);
                u64::from_str_radix(t, 16).ok()
            }
        }
    }

    fn plmn(&self, text: &str, e212: &E212) -> Result<Plmn, Bad> {
        let bad = || {
            Bad::new(
                "serving",
                format!("serving: {text:?} is not a PLMN as plmn.format says"),
            )
        };
        match self.plmn {
            PlmnFormat::MccMnc => Plmn::parse(text).ok_or_else(bad),
            PlmnFormat::Digits => {
                if !(5..=6).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let len = if text.len() == 6 {
                    3
                } else {
                    usize::from(e212.mnc_len_of(text.as_bytes())).min(2)
                };
                Plmn::parse(&format!("{}-{}", &text[..3], &text[3..3 + len])).ok_or_else(bad)
            }
        }
    }

    fn time(&self, text: &str) -> Option<TimestampUs> {
        let epoch = |scale: i64| -> Option<TimestampUs> {
            let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
            let whole: i64 = whole.parse().ok()?;
            let digits = match scale {
                1_000_000 => 6,
                1_000 => 3,
                _ => 0,
            };
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut f = frac.to_owned();
            f.truncate(digits);
            while f.len() < digits {
                f.push('0');
            }
            let frac_us: i64 = if digits == 0 { 0 } else { f.parse().ok()? };
            whole.checked_mul(scale)?.checked_add(frac_us)
        };
        let us = match &self.time {
            TimeFormat::EpochS => epoch(1_000_000)?,
            TimeFormat::EpochMs => epoch(1_000)?,
            TimeFormat::EpochUs => epoch(1)?,
            TimeFormat::Rfc3339 => text.parse::<jiff::Timestamp>().ok()?.as_microsecond(),
            TimeFormat::Pattern(p, zone) => {
                let tm = jiff::fmt::strtime::parse(p, text).ok()?;
                match (tm.offset(), zone) {
                    (Some(_), _) | (None, None) => tm.to_timestamp().ok()?.as_microsecond(),
                    (None, Some(z)) => tm
                        .to_datetime()
                        .ok()?
                        .to_zoned(z.clone())
                        .ok()?
                        .timestamp()
                        .as_microsecond(),
                }
            }
        };
        (us >= 0).then_some(us)
    }
}

/// A row that is not a signal: the reason it is counted under, and what is wrong.
pub(super) struct Bad {
    pub(super) reason: &'static str,
    pub(super) what: String,
}

impl Bad {
    pub(super) fn new(reason: &'static str, what: String) -> Bad {
        Bad { reason, what }
    }
}

/// A dotted path's value in a JSON object, as text (numbers written as they are).
fn json_field(v: &serde_json::Value, path: &str) -> Option<String> {
    let mut at = v;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    match at {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(time: &str, extra: &str) -> Mapping {
        Mapping::parse(&format!(
            "format = \"csv\"\nproto = \"gtpv2\"\n[fields]\nat = \"t\"\nimsi = \"i\"\nkind = \"k\"\n[time]\n{time}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn times_in_every_format() {
        let us = 1_780_300_803_250_000; // 2026-06-01T08:00:03.25Z
        assert_eq!(
            mapping("format = \"epoch_s\"", "").time("1780300803.25"),
            Some(us)
        );
        assert_eq!(
            mapping("format = \"epoch_ms\"", "").time("1780300803250"),
            Some(us)
        );
        assert_eq!(
            mapping("format = \"epoch_us\"", "").time("1780300803250000"),
            Some(us)
        );
        assert_eq!(
            mapping("format = \"rfc3339\"", "").time("2026-06-01T10:00:03.25+02:00"),
            Some(us)
        );
        // Local time in a zone, summer and winter.
        let paris = mapping(
            "format = \"%d/%m/%Y %H:%M:%S%.f\"\nzone = \"Europe/Paris\"",
            "",
        );
        assert_eq!(paris.time("01/06/2026 10:00:03.25"), Some(us));
        assert_eq!(
            paris.time("01/01/2026 09:00:00"),
            Some(1_767_254_400_000_000) // 08:00 UTC
        );
        // An offset in the text needs no zone.
        let offset = mapping("format = \"%Y%m%d%H%M%S %z\"", "");
        assert_eq!(offset.time("20260601100003 +0200"), Some(us - 250_000));
        assert_eq!(paris.time("yesterday"), None);
        assert_eq!(mapping("format = \"epoch_ms\"", "").time("12x"), None);
        assert_eq!(mapping("format = \"epoch_ms\"", "").time("-5"), None);
    }

    #[test]
    fn plmns_and_cells_as_the_mapping_says() {
        let e212 = E212::default();
        let digits = mapping(
            "format = \"epoch_s\"",
            "[plmn]\nformat = \"digits\"\n[cell]\nformat = \"hex\"",
        );
        let p = |m: &Mapping, t: &str| m.plmn(t, &e212).ok().map(|p| p.to_string());
        assert_eq!(p(&digits, "20801").as_deref(), Some("208-01"));
        // 310 has 3-digit MNCs: a 6-digit code is read as one.
        assert_eq!(p(&digits, "310410").as_deref(), Some("310-410"));
        assert_eq!(p(&digits, "2080"), None);
        assert_eq!(digits.number("0x1A2B3C"), Some(0x1A_2B3C));
        assert_eq!(digits.number("ff"), Some(255));
        let plain = mapping("format = \"epoch_s\"", "");
        assert_eq!(p(&plain, "208-01").as_deref(), Some("208-01"));
        assert_eq!(p(&plain, "20801"), None);
        assert_eq!(plain.number("ff"), None);
    }

    #[test]
    fn a_mapping_error_names_its_key() {
        let e = Mapping::parse(
            "format = \"csv\"\nproto = \"gtpv2\"\n[fields]\nat = \"t\"\nimsi = \"i\"\nkind = \"k\"\nserving = \"s\"\nserving_mcc = \"m\"\nserving_mnc = \"n\"\n[time]\nformat = \"epoch_s\"\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "fields.serving");
        let e =
            Mapping::parse("format = \"csv\"\nproto = \"gtpv2\"\n[time]\nformat = \"epoch_s\"\n")
                .unwrap_err();
        assert!(e.reason.contains("fields"), "{e}");
    }
}
