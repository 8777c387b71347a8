//! Instants as people type them on the command line (`get --at`, `audit
//! commits --since/--until`): RFC 3339, a date meaning the end of that day
//! in UTC, or a time relative to now ("10 minutes ago", "yesterday 12:00"),
//! read by uutils' `parse_datetime`, the parser behind their GNU-compatible
//! `date -d`.

use chrono::{DateTime, NaiveDate, Utc};

/// Reads `text` as an instant, relative forms counted from `now` (in UTC).
pub(super) fn parse_instant(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let refused = || {
        format!(
            "{text:?} is not an instant: give an RFC 3339 time (2026-11-25T15:33:35Z), a date (2026-11-25: the end of that day, UTC) or a time relative to now ('10 minutes ago', 'yesterday 12:00')"
        )
    };
    if text.is_empty() {
        // GNU date reads nothing as the start of today: no one means that.
        return Err(refused());
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        // The whole day: the last instant of it that a timestamp can name.
        return date
            .and_hms_nano_opt(23, 59, 59, 999_999_999)
            .map(|t| t.and_utc())
            .ok_or_else(refused);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let base = jiff::Timestamp::new(now.timestamp(), now.timestamp_subsec_nanos() as i32)
        .map_err(|_| refused())?
        .to_zoned(jiff::tz::TimeZone::UTC);
    match parse_datetime::parse_datetime_at_date(base, text) {
        Ok(parse_datetime::ParsedDateTime::InRange(zoned)) => {
            let t = zoned.timestamp();
            DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
                .ok_or_else(refused)
        }
        Ok(parse_datetime::ParsedDateTime::Extended(_)) | Err(_) => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    fn at(text: &str) -> String {
        parse_instant(text, now()).unwrap().to_rfc3339()
    }

    #[test]
    fn rfc_3339_dates_and_relative_times() {
        assert_eq!(at("2026-11-25T15:33:35Z"), "2026-11-25T15:33:35+00:00");
        assert_eq!(at("2026-11-25T17:33:35+02:00"), "2026-11-25T15:33:35+00:00");
        assert_eq!(at("2026-11-25"), "2026-11-25T23:59:59.999999999+00:00");
        assert_eq!(at("10 minutes ago"), "2026-12-01T11:50:00+00:00");
        assert_eq!(at("2 hours ago"), "2026-12-01T10:00:00+00:00");
        assert_eq!(at("yesterday"), "2026-11-30T12:00:00+00:00");
        assert_eq!(at("now"), "2026-12-01T12:00:00+00:00");
    }

    #[test]
    fn what_is_no_instant_is_refused_with_the_forms_that_are() {
        for bad in ["", "soon", "2026-02-30", "25/11/2026 maybe"] {
            let error = parse_instant(bad, now()).unwrap_err();
            assert!(error.contains("RFC 3339"), "{bad}: {error}");
        }
    }
}
