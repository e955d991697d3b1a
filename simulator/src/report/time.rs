//! UTC timestamps without a date-time dependency (civil-from-days, after
//! Howard Hinnant's algorithm).

use std::time::{SystemTime, UNIX_EPOCH};

fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2026-11-23T17:04:05Z`
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20261123T170405Z`, for folder names.
pub fn stamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The instant `2026-11-23T17:04:05Z` names (UTC, whole seconds, as
/// [`rfc3339`] writes them), or a Unix time in seconds (`1795452606`).
pub fn parse_instant(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("`{text}`: give a UTC time as 2026-12-01T09:30:00Z, or Unix seconds");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(UNIX_EPOCH + std::time::Duration::from_secs(secs));
    }
    let t = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, clock) = t.split_once('T').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let c: Vec<&str> = clock.split(':').collect();
    let ([y, m, day], [h, mi, sec]) = (d.as_slice(), c.as_slice()) else {
        return Err(bad());
    };
    let (y, m, day, h, mi, sec) = (num(y)?, num(m)?, num(day)?, num(h)?, num(mi)?, num(sec)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant), the inverse of `civil`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(secs)
        .map(|s| UNIX_EPOCH + std::time::Duration::from_secs(s))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2026-11-23T16:50:06Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_452_606);
        assert_eq!(rfc3339(t), "2026-11-23T16:50:06Z");
        assert_eq!(stamp(t), "20261123T165006Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
        for t in [t, leap, UNIX_EPOCH] {
            assert_eq!(parse_instant(&rfc3339(t)), Ok(t));
        }
        assert_eq!(parse_instant("1795452606"), Ok(t));
        assert!(parse_instant("2026-13-01T00:00:00Z").is_err());
        assert!(parse_instant("tomorrow").unwrap_err().contains("UTC time"));
    }
}
