//! The value syntaxes of the configuration file: humantime durations with a range, signed
//! clock offsets, byte sizes. Each parser returns what is wrong as a sentence; the caller
//! adds the key and where it is.

use std::time::Duration;

/// The longest duration a rule accepts: a year and a leap day, as the CLI's flags.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// The largest clock offset: a day either way, as `--clock-offset`.
pub const MAX_OFFSET: Duration = Duration::from_secs(24 * 3600);

/// "12h", "90s", "1h 30m" (humantime syntax), between `min` and `max` inclusive; the same
/// rule and wording as the CLI's `parse_duration_in`.
pub fn duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration such as \"90s\" or \"1h 30m\": {e}"))?;
    if d < min || d > max {
        return Err(format!(
            "{s:?} is out of range: allowed {} to {}",
            format_bound(min),
            format_bound(max)
        ));
    }
    Ok(d)
}

/// A range bound as the configuration would write it: whole days as "366d" (humantime
/// would say "1year 18h"), else humantime's form.
fn format_bound(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs > 0 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// A signed offset such as "+5ms", "-1s 500ms" or "20ms", within a day either way, in µs.
pub fn clock_offset_us(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (negative, magnitude) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let d = humantime::parse_duration(magnitude.trim())
        .map_err(|e| format!("{s:?} is not an offset such as \"+5ms\" or \"-20ms\": {e}"))?;
    if d > MAX_OFFSET {
        return Err(format!("{s:?} is out of range: allowed -1day to +1day"));
    }
    let us = micros(d);
    Ok(if negative { -us } else { us })
}

/// Microseconds of a range-checked duration.
pub fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A byte count: an integer, or a string with a unit: "64MiB", "512 KiB", "1GB", "4096".
/// Binary units (KiB, MiB, GiB, TiB) count by 1024, decimal ones (kB, MB, GB, TB) by 1000.
pub fn byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 1048576 or \"64MiB\""))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "kB" | "KB" => 1_000,
        "KiB" => 1 << 10,
        "M" | "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "G" | "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        "T" | "TB" => 1_000_000_000_000,
        "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?} (B, kB, KiB, MB, MiB, GB, GiB, TB, TiB)"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A byte count for people: "64 MiB", "1.5 GiB", "512 B".
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// A duration for people, as the configuration writes it: "12h", "300ms", "30days".
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A signed offset in µs for people: "+5ms", "-1s 500ms", "0s".
pub fn format_offset(us: i64) -> String {
    let d = Duration::from_micros(us.unsigned_abs());
    match us.signum() {
        -1 => format!("-{}", format_duration(d)),
        1 => format!("+{}", format_duration(d)),
        _ => "0s".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_range_checked_with_the_range_in_the_message() {
        let min = Duration::from_secs(1);
        assert_eq!(
            duration_in("90s", min, MAX_DURATION),
            Ok(Duration::from_secs(90))
        );
        assert_eq!(
            duration_in(" 1h 30m ", min, MAX_DURATION),
            Ok(Duration::from_secs(5400))
        );
        let e = duration_in("0s", min, MAX_DURATION).unwrap_err();
        assert!(e.contains("out of range: allowed 1s to 366d"), "{e}");
        assert!(duration_in("367d", min, MAX_DURATION).is_err());
        assert!(duration_in("366d", min, MAX_DURATION).is_ok());
        let e = duration_in("soon", min, MAX_DURATION).unwrap_err();
        assert!(e.contains("not a duration"), "{e}");
    }

    #[test]
    fn offsets_are_signed_and_bounded() {
        assert_eq!(clock_offset_us("+5ms"), Ok(5_000));
        assert_eq!(clock_offset_us("-1s 500ms"), Ok(-1_500_000));
        assert_eq!(clock_offset_us("20ms"), Ok(20_000));
        assert_eq!(clock_offset_us("-1d"), Ok(-86_400_000_000));
        assert!(clock_offset_us("+25h").is_err());
        assert!(clock_offset_us("later").is_err());
        assert_eq!(format_offset(-1_500_000), "-1s 500ms");
        assert_eq!(format_offset(5_000), "+5ms");
        assert_eq!(format_offset(0), "0s");
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(byte_size("4096"), Ok(4096));
        assert_eq!(byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(byte_size("512 KiB"), Ok(512 << 10));
        assert_eq!(byte_size("1GB"), Ok(1_000_000_000));
        assert!(byte_size("12 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(byte_size("MiB").is_err());
        assert!(byte_size("99999999999TiB")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(format_bytes(64 << 20), "64 MiB");
        assert_eq!(format_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(format_bytes(100), "100 B");
    }
}
