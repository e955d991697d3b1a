//! Human units in scenario files: durations (`500ms`, `10s`, `2m`, `1h`)
//! and rates (`200/s`, `2000/h`, `30/min`; a bare number is per second).

use std::time::Duration;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 500ms, 10s, 2m or 1h"))?;
    let secs = match unit.trim() {
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "`{s}`: unknown unit `{other}` (use us, ms, s, m or h)"
            ));
        }
    };
    if !secs.is_finite() || !(0.0..=1e7).contains(&secs) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Operations per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (num, per) = s.split_once('/').unwrap_or((s, "s"));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a rate like 200/s or 2000/h"))?;
    let per_s = match per.trim() {
        "s" => n,
        "m" | "min" => n / 60.0,
        "h" => n / 3600.0,
        other => {
            return Err(format!(
                "`{s}`: unknown rate unit `/{other}` (use /s, /min or /h)"
            ));
        }
    };
    if !(per_s.is_finite() && per_s > 0.0 && per_s <= 10_000_000.0) {
        return Err(format!("`{s}` must be above 0 and at most 10000000/s"));
    }
    Ok(per_s)
}

/// `1.23ms`-style rendering of microseconds.
pub fn format_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10 parsecs").is_err());
        assert_eq!(
            parse_rate("2000/h").map(|r| (r * 3600.0).round()),
            Ok(2000.0)
        );
        assert_eq!(parse_rate("250"), Ok(250.0));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(format_us(1500), "1.50ms");
    }
}
