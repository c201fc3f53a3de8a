//! Moments as JSON Lines: the replay output format.

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use landfall_dataflows::{Area, Level, Moment, MomentKind};
use serde::Serialize;

/// RFC 3339 UTC with microseconds, e.g. `2021-05-05T20:08:31.835967Z`. Times outside
/// 1970–9999 (which frames never carry: the decoder refuses them) are written as the
/// nearest bound rather than failing.
pub fn rfc3339_us(us: i64) -> String {
    /// 9999-12-31T23:59:59.999999Z, the last instant RFC 3339 can write.
    const LAST_US: i64 = 253_402_300_799_999_999;
    let us = us.clamp(0, LAST_US);
    let t = UNIX_EPOCH + Duration::from_micros(us as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

pub fn kind_name(k: MomentKind) -> &'static str {
    match k {
        MomentKind::Arrival => "arrival",
        MomentKind::Departure => "departure",
        MomentKind::RoamingOn => "roaming-on",
        MomentKind::RoamingOff => "roaming-off",
        MomentKind::RoamingChangeCountry => "roaming-change-country",
    }
}

pub fn level_name(l: Level) -> &'static str {
    match l {
        Level::Country => "country",
        Level::Network => "network",
        Level::Zone => "zone",
    }
}

pub fn area_name(a: &Area) -> String {
    match a {
        Area::Country(c) => c.to_string(),
        Area::Network(p) => p.to_string(),
        Area::Zone(z) => z.to_string(),
    }
}

#[derive(Serialize)]
struct Source<'a> {
    file: &'a str,
    frame: u64,
    proto: &'static str,
}

#[derive(Serialize)]
struct MomentLine<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    level: &'static str,
    area: String,
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    imsi: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    msisdn: Option<&'a str>,
    home: Option<String>,
    home_country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rat: Option<u32>,
    at: String,
    expires_at: String,
    source: Source<'a>,
}

/// Write one moment as a JSON line; `files` names the run's captures by index.
pub fn write_moment(w: &mut impl Write, m: &Moment, files: &[String]) -> io::Result<()> {
    let line = MomentLine {
        id: m.id.to_string(),
        kind: kind_name(m.kind),
        level: level_name(m.level),
        area: area_name(&m.area),
        from: m.from.as_ref().map(area_name),
        to: m.to.as_ref().map(area_name),
        imsi: m.imsi.as_str(),
        msisdn: m.msisdn.as_ref().map(|d| d.as_str()),
        home: m.home.map(|p| p.to_string()),
        home_country: m.home_country.map(|c| c.to_string()),
        rat: m.rat,
        at: rfc3339_us(m.at),
        expires_at: rfc3339_us(m.expires_at),
        source: Source {
            file: files
                .get(usize::from(m.source.file))
                .map_or("?", |s| s.as_str()),
            frame: m.source.frame,
            proto: m.source.proto.as_str(),
        },
    };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_microseconds() {
        assert_eq!(
            rfc3339_us(1_620_245_311_835_967),
            "2021-05-05T20:08:31.835967Z"
        );
        assert_eq!(rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn timestamps_out_of_range_are_clamped() {
        assert_eq!(rfc3339_us(-1), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_us(i64::MAX), "9999-12-31T23:59:59.999999Z");
    }
}
