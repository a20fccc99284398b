//! Time helpers shared by the parsers: zones for logs that print local time without an offset,
//! years for logs that print none (or two digits), and a lenient finder for raw lines.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, FixedOffset, Local, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    TimeZone, Utc,
};

use crate::event::Timestamp;

/// The zone a log's local times are read in.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Zone {
    /// The machine's zone (`/etc/localtime`).
    #[default]
    Local,
    /// UTC.
    Utc,
    /// A fixed offset, `+02:00`.
    Fixed(FixedOffset),
    /// An IANA zone, `Europe/Zurich`.
    Named(chrono_tz::Tz),
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "local" | "Local" | "" => return Ok(Zone::Local),
            "UTC" | "utc" | "Z" | "GMT" => return Ok(Zone::Utc),
            _ => {}
        }
        if let Some(offset) = parse_offset(text) {
            return Ok(Zone::Fixed(offset));
        }
        text.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("unknown time zone {text:?}: use an IANA name (Europe/Zurich), UTC, local or an offset (+01:00)")
        })
    }
}

impl Zone {
    /// Converts a local wall-clock time in this zone to UTC. In a DST fold the earlier instant
    /// is taken; in a DST gap the time is read as if the clock had not jumped.
    pub fn to_utc(&self, naive: NaiveDateTime) -> Timestamp {
        fn pick<T: TimeZone>(result: LocalResult<DateTime<T>>, naive: NaiveDateTime) -> i64 {
            match result {
                LocalResult::Single(dt) => dt.timestamp_millis(),
                LocalResult::Ambiguous(earliest, _) => earliest.timestamp_millis(),
                LocalResult::None => naive.and_utc().timestamp_millis(),
            }
        }
        let millis = match self {
            Zone::Utc => naive.and_utc().timestamp_millis(),
            Zone::Local => {
                // A gap in local time: shift by one hour, as clocks do.
                match Local.from_local_datetime(&naive) {
                    LocalResult::None => pick(
                        Local.from_local_datetime(&(naive + chrono::Duration::hours(1))),
                        naive,
                    ),
                    other => pick(other, naive),
                }
            }
            Zone::Fixed(offset) => pick(offset.from_local_datetime(&naive), naive),
            Zone::Named(tz) => match tz.from_local_datetime(&naive) {
                LocalResult::None => pick(
                    tz.from_local_datetime(&(naive + chrono::Duration::hours(1))),
                    naive,
                ),
                other => pick(other, naive),
            },
        };
        Timestamp(millis)
    }

    /// The current year in this zone.
    pub fn current_year(&self) -> i32 {
        Utc::now().year()
    }
}

/// Parses `+hh:mm`, `-hhmm`, `+hh`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let bytes = text.as_bytes();
    if bytes.len() < 3 || !(bytes[0] == b'+' || bytes[0] == b'-') {
        return None;
    }
    let sign = if bytes[0] == b'-' { -1 } else { 1 };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// The common, canonical shape of a zoned ISO 8601 time, read without chrono's format
/// machinery: `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM|±HHMM)` and nothing after it. `None` for
/// anything else, leap seconds included, so a caller falls back to chrono for the rare
/// shapes; where this returns a time, chrono's RFC 3339 or `%Y-%m-%dT%H:%M:%S%.f%z` parse
/// returns the same one (a property test holds the two together).
pub fn parse_iso_zoned(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let year = number(0..4)? as i32;
    let (month, day) = (number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if bytes[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            if at - start < 3 {
                millis = millis * 10 + u32::from(bytes[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..3 {
            millis *= 10;
        }
    }
    let offset_seconds = match &bytes[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (hours, minutes) = match zone {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    let pair = |a: u8, b: u8| {
                        (a.is_ascii_digit() && b.is_ascii_digit())
                            .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
                    };
                    (pair(*h1, *h2)?, pair(*m1, *m2)?)
                }
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let days = NaiveDate::from_ymd_opt(year, month, day)?
        .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?)
        .num_days();
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    Some(Timestamp(seconds * 1000 + i64::from(millis)))
}

/// What the parsers need to turn a log's local time into UTC.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeContext {
    /// Zone of times printed without an offset.
    pub zone: Zone,
    /// `--year`: the year of lines that print none, overriding everything else.
    pub year_override: Option<i32>,
    /// The date the file speaks of: from its rotated name, else its modification time.
    pub reference_date: Option<NaiveDate>,
}

impl Default for TimeContext {
    fn default() -> Self {
        TimeContext {
            zone: Zone::Local,
            year_override: None,
            reference_date: None,
        }
    }
}

impl TimeContext {
    /// The year for a line that prints only month and day. Without an override, the year of
    /// the reference date, unless that puts the line more than a day after the reference
    /// (a December line in a file rotated in January): then the year before.
    pub fn year_for(&self, month: u32, day: u32) -> i32 {
        if let Some(year) = self.year_override {
            return year;
        }
        let reference = self
            .reference_date
            .unwrap_or_else(|| Utc::now().date_naive());
        let year = reference.year();
        match NaiveDate::from_ymd_opt(year, month, day) {
            Some(date) if date > reference + chrono::Duration::days(1) => year - 1,
            _ => year,
        }
    }

    /// Local wall-clock time to UTC in this context's zone.
    pub fn local(&self, naive: NaiveDateTime) -> Timestamp {
        self.zone.to_utc(naive)
    }

    /// A local time given as parts; `None` when the parts are out of range.
    #[allow(clippy::too_many_arguments)]
    pub fn local_parts(
        &self,
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        millis: u32,
    ) -> Option<Timestamp> {
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        let time = NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?;
        Some(self.local(NaiveDateTime::new(date, time)))
    }
}

/// Two-digit year to four digits (HTCondor `%y`, XRootD `YYMMDD`): 69–99 are 19xx.
pub fn expand_two_digit_year(year: u32) -> i32 {
    if year >= 69 {
        1900 + year as i32
    } else {
        2000 + year as i32
    }
}

/// Month abbreviation (`Jan`…`Dec`, any case) to 1–12.
pub fn month_from_abbrev(text: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if text.len() != 3 {
        return None;
    }
    // Asked of the first word of every line (is it a syslog prefix?): no copy.
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(text))
        .map(|index| index as u32 + 1)
}

/// Epoch seconds or milliseconds (10 or 13 digits, optional fraction) as a timestamp.
pub fn parse_epoch(text: &str) -> Option<Timestamp> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = whole.parse().ok()?;
    match whole.len() {
        9 | 10 => {
            let millis = match fraction {
                Some(fraction) if fraction.bytes().all(|b| b.is_ascii_digit()) => {
                    let padded = format!("{fraction:0<3}");
                    padded[..3].parse::<i64>().ok()?
                }
                Some(_) => return None,
                None => 0,
            };
            Some(Timestamp(value * 1000 + millis))
        }
        12 | 13 => Some(Timestamp(value)),
        _ => None,
    }
}

/// Lenient UTC parse used by `Timestamp::parse` and the CLI's `--from/--to`: RFC 3339, a date
/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` (taken as UTC), or epoch seconds/milliseconds.
pub fn parse_loose_utc(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.into());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Timestamp(naive.and_utc().timestamp_millis()));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Timestamp(
            date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
        ));
    }
    parse_epoch(text)
}

/// A date written into a rotated file's name: `AuditLog.20261122T000000`, `xrootd.log.20240612`,
/// `xrootd.log-20240612.gz`, `iam-audit-2025-03-14.log.gz`, `billing-2025.03.14`.
pub fn date_from_file_name(name: &str) -> Option<NaiveDate> {
    let bytes = name.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if !bytes[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        let start = index;
        while index < bytes.len()
            && (bytes[index].is_ascii_digit() || matches!(bytes[index], b'-' | b'.' | b'_'))
        {
            index += 1;
        }
        let span = name[start..index].trim_end_matches(['-', '.', '_']);
        let run: String = span.chars().filter(|c| c.is_ascii_digit()).collect();
        let separators = span.len() - run.len();
        // Only a run that is exactly a date (8 digits, optionally with separators).
        if run.len() >= 8 && (separators == 0 || separators >= 2) {
            let candidate = &run[..8];
            if let Ok(date) = NaiveDate::parse_from_str(candidate, "%Y%m%d") {
                if (1990..=2100).contains(&date.year()) {
                    return Some(date);
                }
            }
        }
    }
    None
}

/// Finds a time near the start of a line of unknown format (for raw events). Recognises ISO
/// 8601 with or without zone, `MM/DD/YY HH:MM:SS`, `YYMMDD HH:MM:SS`, syslog `Mmm dd HH:MM:SS`,
/// `[dd/Mon/yyyy:HH:MM:SS +zzzz]`, and 10/13-digit epochs at the start.
pub fn find_time(line: &str, context: &TimeContext) -> Option<Timestamp> {
    let head: &str = match line.char_indices().nth(160) {
        Some((cut, _)) => &line[..cut],
        None => line,
    };
    let bytes = head.as_bytes();
    for start in 0..bytes.len() {
        if !head.is_char_boundary(start) || (start > 0 && bytes[start - 1].is_ascii_alphanumeric())
        {
            continue;
        }
        let rest = &head[start..];
        let first = bytes[start];
        if first.is_ascii_digit() {
            if let Some(stamp) = iso_at(rest, context)
                .or_else(|| us_date_at(rest, context))
                .or_else(|| apache_at(rest))
                .or_else(|| yymmdd_at(rest, context))
            {
                return Some(stamp);
            }
            if start == 0 {
                let digits: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                if let Some(stamp) = parse_epoch(&digits) {
                    return Some(stamp);
                }
            }
        } else if first.is_ascii_alphabetic() {
            if let Some(stamp) = syslog_at(rest, context) {
                return Some(stamp);
            }
        }
    }
    None
}

fn digits(text: &str, count: usize) -> Option<u32> {
    let slice = text.get(..count)?;
    if slice.bytes().all(|b| b.is_ascii_digit()) {
        slice.parse().ok()
    } else {
        None
    }
}

/// `YYYY-MM-DD` at the start of `text`: what chrono's `%Y-%m-%d` reads there for unsigned
/// years, without its format machinery.
pub fn date_at(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(text, 4)? as i32,
        digits(&text[5..], 2)?,
        digits(&text[8..], 2)?,
    )
}

/// `HH:MM:SS[.fff…]` at the start of `text`: (h, m, s, ms, bytes used).
pub fn hms_at(text: &str) -> Option<(u32, u32, u32, u32, usize)> {
    let bytes = text.as_bytes();
    if bytes.len() < 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let hour = digits(text, 2)?;
    let minute = digits(&text[3..], 2)?;
    let second = digits(&text[6..], 2)?;
    let mut used = 8;
    let mut millis = 0;
    if bytes.len() > 9 && (bytes[8] == b'.' || bytes[8] == b',') && bytes[9].is_ascii_digit() {
        let count = bytes[9..].iter().take_while(|b| b.is_ascii_digit()).count();
        used = 9 + count;
        // The first three digits, padded with zeros on the right (`.5` is 500 ms).
        let shown = &bytes[9..9 + count.min(3)];
        millis = shown
            .iter()
            .fold(0, |value, digit| value * 10 + u32::from(digit - b'0'))
            * 10_u32.pow(3 - shown.len() as u32);
    }
    Some((hour, minute, second.min(59), millis, used))
}

fn iso_at(text: &str, context: &TimeContext) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !(bytes[10] == b' ' || bytes[10] == b'T') {
        return None;
    }
    let date = date_at(text)?;
    let (hour, minute, second, millis, used) = hms_at(&text[11..])?;
    let zone_text = &text[11 + used..];
    let naive = date.and_time(NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?);
    if zone_text.starts_with('Z') {
        return Some(Timestamp(naive.and_utc().timestamp_millis()));
    }
    if zone_text.starts_with('+') || zone_text.starts_with('-') {
        let candidate: String = zone_text
            .chars()
            .take(6)
            .take_while(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ':'))
            .collect();
        if let Some(offset) = parse_offset(&candidate) {
            let millis =
                naive.and_utc().timestamp_millis() - offset.local_minus_utc() as i64 * 1000;
            return Some(Timestamp(millis));
        }
    }
    Some(context.local(naive))
}

fn us_date_at(text: &str, context: &TimeContext) -> Option<Timestamp> {
    // MM/DD/YY HH:MM:SS (HTCondor) — also MM/DD HH:MM:SS (old event logs).
    let bytes = text.as_bytes();
    if bytes.len() < 14 || bytes[2] != b'/' {
        return None;
    }
    let month = digits(text, 2)?;
    let day = digits(&text[3..], 2)?;
    let (year, rest) = if bytes.get(5) == Some(&b'/') {
        (expand_two_digit_year(digits(&text[6..], 2)?), &text[8..])
    } else {
        (context.year_for(month, day), &text[5..])
    };
    let rest = rest.strip_prefix(' ')?;
    let (hour, minute, second, millis, _) = hms_at(rest)?;
    context.local_parts(year, month, day, hour, minute, second, millis)
}

fn yymmdd_at(text: &str, context: &TimeContext) -> Option<Timestamp> {
    // YYMMDD HH:MM:SS (XRootD)
    let bytes = text.as_bytes();
    if bytes.len() < 15 || bytes[6] != b' ' {
        return None;
    }
    let year = expand_two_digit_year(digits(text, 2)?);
    let month = digits(&text[2..], 2)?;
    let day = digits(&text[4..], 2)?;
    let (hour, minute, second, millis, _) = hms_at(&text[7..])?;
    context.local_parts(year, month, day, hour, minute, second, millis)
}

fn apache_at(text: &str) -> Option<Timestamp> {
    // dd/Mon/yyyy:HH:MM:SS +zzzz
    let bytes = text.as_bytes();
    if bytes.len() < 26 || bytes[2] != b'/' || bytes[6] != b'/' || bytes[11] != b':' {
        return None;
    }
    let day = digits(text, 2)?;
    let month = month_from_abbrev(&text[3..6])?;
    let year = digits(&text[7..], 4)? as i32;
    let (hour, minute, second, millis, used) = hms_at(&text[12..])?;
    let offset = parse_offset(text.get(12 + used + 1..12 + used + 6)?)?;
    let naive = NaiveDate::from_ymd_opt(year, month, day)?
        .and_time(NaiveTime::from_hms_milli_opt(hour, minute, second, millis)?);
    Some(Timestamp(
        naive.and_utc().timestamp_millis() - offset.local_minus_utc() as i64 * 1000,
    ))
}

fn syslog_at(text: &str, context: &TimeContext) -> Option<Timestamp> {
    // Mmm dd HH:MM:SS or Mmm  d HH:MM:SS
    let month = month_from_abbrev(text.get(..3)?)?;
    let rest = text.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let day_len = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let day: u32 = rest[..day_len].parse().ok()?;
    let rest = rest[day_len..].strip_prefix(' ')?;
    let (hour, minute, second, millis, _) = hms_at(rest)?;
    context.local_parts(
        context.year_for(month, day),
        month,
        day,
        hour,
        minute,
        second,
        millis,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_context() -> TimeContext {
        TimeContext {
            zone: Zone::Utc,
            year_override: None,
            reference_date: NaiveDate::from_ymd_opt(2025, 3, 20),
        }
    }

    #[test]
    fn parses_zone_names_offsets_and_rejects_garbage() {
        assert_eq!("UTC".parse::<Zone>().unwrap(), Zone::Utc);
        assert!(matches!(
            "Europe/Zurich".parse::<Zone>().unwrap(),
            Zone::Named(_)
        ));
        assert_eq!(
            "+01:00".parse::<Zone>().unwrap(),
            Zone::Fixed(FixedOffset::east_opt(3600).unwrap())
        );
        assert!("Mars/Olympus".parse::<Zone>().is_err());
    }

    #[test]
    fn converts_local_zurich_time_to_utc_across_dst() {
        let zone: Zone = "Europe/Zurich".parse().unwrap();
        let winter = NaiveDate::from_ymd_opt(2025, 3, 14)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        assert_eq!(zone.to_utc(winter).to_rfc3339(), "2025-03-14T09:00:00.000Z");
        let summer = NaiveDate::from_ymd_opt(2025, 7, 14)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap();
        assert_eq!(zone.to_utc(summer).to_rfc3339(), "2025-07-14T08:00:00.000Z");
        // In the autumn fold the earlier instant is taken; the spring gap does not panic.
        let fold = NaiveDate::from_ymd_opt(2025, 10, 26)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(zone.to_utc(fold).to_rfc3339(), "2025-10-26T00:30:00.000Z");
        let gap = NaiveDate::from_ymd_opt(2025, 3, 30)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        let _ = zone.to_utc(gap);
    }

    #[test]
    fn year_for_a_december_line_in_a_january_file_is_the_year_before() {
        let context = TimeContext {
            zone: Zone::Utc,
            year_override: None,
            reference_date: NaiveDate::from_ymd_opt(2026, 1, 2),
        };
        assert_eq!(context.year_for(12, 31), 2025);
        assert_eq!(context.year_for(1, 2), 2026);
        let forced = TimeContext {
            year_override: Some(2019),
            ..context
        };
        assert_eq!(forced.year_for(12, 31), 2019);
    }

    #[test]
    fn reads_dates_from_rotated_file_names() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(
            date_from_file_name("AuditLog.20261122T000000"),
            date(2026, 11, 22)
        );
        assert_eq!(
            date_from_file_name("xrootd.log-20240612.gz"),
            date(2024, 6, 12)
        );
        assert_eq!(
            date_from_file_name("iam-audit-2025-03-14.log.gz"),
            date(2025, 3, 14)
        );
        assert_eq!(date_from_file_name("billing-2025.03.14"), date(2025, 3, 14));
        assert_eq!(date_from_file_name("AuditLog"), None);
        assert_eq!(date_from_file_name("job.12345678.local"), None);
    }

    #[test]
    fn finds_times_in_lines_of_unknown_format() {
        let context = utc_context();
        let cases = [
            (
                "2025-03-14 09:12:03.396 something",
                "2025-03-14T09:12:03.396Z",
            ),
            ("2025-03-14T09:12:03+01:00 x", "2025-03-14T08:12:03.000Z"),
            ("03/14/25 09:12:03 (pid:1) x", "2025-03-14T09:12:03.000Z"),
            ("250314 09:12:03 001 x", "2025-03-14T09:12:03.000Z"),
            ("Mar 14 09:12:03 host prog: x", "2025-03-14T09:12:03.000Z"),
            (
                "1.2.3.4 - - [14/Mar/2025:09:12:03 +0100] \"GET /\"",
                "2025-03-14T08:12:03.000Z",
            ),
            ("1741943523396 thing", "2025-03-14T09:12:03.396Z"),
        ];
        for (line, expected) in cases {
            assert_eq!(
                find_time(line, &context).map(|t| t.to_rfc3339()).as_deref(),
                Some(expected),
                "{line}"
            );
        }
        assert_eq!(find_time("no time here at all", &context), None);
        assert_eq!(find_time("", &context), None);
    }

    #[test]
    fn the_fast_iso_reader_takes_the_canonical_shapes_only() {
        let millis = |text| parse_iso_zoned(text).map(|t| t.millis());
        assert_eq!(
            millis("2024-06-12T14:03:22.497+0200"),
            Some(1_718_193_802_497)
        );
        assert_eq!(
            millis("2024-06-12T14:03:22.497+02:00"),
            Some(1_718_193_802_497)
        );
        assert_eq!(
            millis("2024-06-12T12:03:22.4971234Z"),
            Some(1_718_193_802_497)
        );
        assert_eq!(millis("2024-06-12T12:03:22.4Z"), Some(1_718_193_802_400));
        assert_eq!(millis("2024-06-12T09:33:22-0230"), Some(1_718_193_802_000));
        assert_eq!(millis("1969-12-31T23:59:59.500Z"), Some(-500));
        for other in [
            "2024-06-12T14:03:22",
            "2024-06-12T14:03:22.Z",
            "2024-06-12T14:03:60Z",
            "2024-06-12T24:00:00Z",
            "2024-02-30T14:03:22Z",
            "2024-06-12 14:03:22Z",
            "2024-06-12T14:03:22+02",
            "2024-06-12T14:03:22+02:00 ",
            "2024-06-12T14:03:22z",
            "2024-06-12T14:03:22+2:00",
            "२०२४-06-12T14:03:22Z",
        ] {
            assert_eq!(parse_iso_zoned(other), None, "{other}");
        }
    }

    #[test]
    fn epoch_parsing_accepts_seconds_and_millis_only() {
        assert_eq!(
            parse_epoch("1741943523"),
            Some(Timestamp(1_741_943_523_000))
        );
        assert_eq!(
            parse_epoch("1741943523.5"),
            Some(Timestamp(1_741_943_523_500))
        );
        assert_eq!(
            parse_epoch("1741943523396"),
            Some(Timestamp(1_741_943_523_396))
        );
        assert_eq!(parse_epoch("12345"), None);
        assert_eq!(parse_epoch("abc"), None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Year 1 to year 9999: the range RFC 3339 can write.
    const FIRST: i64 = -62_135_596_800_000;
    const LAST: i64 = 253_402_300_799_999;

    fn context() -> TimeContext {
        TimeContext {
            zone: Zone::Utc,
            year_override: None,
            reference_date: NaiveDate::from_ymd_opt(2025, 3, 20),
        }
    }

    proptest! {
        #[test]
        fn time_finders_never_panic(text in any::<String>()) {
            let _ = find_time(&text, &context());
            let _ = parse_loose_utc(&text);
            let _ = parse_epoch(&text);
            let _ = date_from_file_name(&text);
            let _ = hms_at(&text);
            let _ = Timestamp::parse(&text);
        }

        #[test]
        fn time_finders_never_panic_on_time_like_text(
            text in "([0-9]{1,5}|-|:|\\.|T|Z|\\+|/|\\[| |[A-Z][a-z]{2}|[0-9]{10,13}){0,24}"
        ) {
            let _ = find_time(&text, &context());
            let _ = parse_loose_utc(&text);
            let zurich = TimeContext { zone: "Europe/Zurich".parse().unwrap(), ..context() };
            let _ = find_time(&text, &zurich);
        }

        #[test]
        fn rfc3339_round_trips(millis in FIRST..=LAST) {
            let time = Timestamp(millis);
            prop_assert_eq!(Timestamp::parse(&time.to_rfc3339()), Some(time));
            prop_assert_eq!(parse_loose_utc(&time.to_rfc3339()), Some(time));
        }

        #[test]
        fn iso_times_at_the_start_of_a_line_are_found(
            millis in 0i64..4_102_444_800_000,
            rest in "[ a-z=:]{0,40}",
        ) {
            let time = Timestamp(millis);
            let text = time.to_datetime().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
            prop_assert_eq!(find_time(&format!("{text} {rest}"), &context()), Some(time));
            prop_assert_eq!(parse_loose_utc(&text), Some(time));
        }

        #[test]
        fn the_date_reader_agrees_with_chrono(text in "[0-9]{0,5}-[0-9]{1,2}-[0-9]{1,3}( |T|x)?") {
            let chrono = text.get(..10).and_then(|head| NaiveDate::parse_from_str(head, "%Y-%m-%d").ok());
            prop_assert_eq!(date_at(&text), chrono, "{}", text);
        }

        #[test]
        fn clock_fractions_are_read_as_their_first_three_digits_padded(
            clock in "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
            separator in "[.,]",
            fraction in "[0-9]{1,9}",
            rest in "[ a-z]{0,3}",
        ) {
            let (_, _, _, millis, used) = hms_at(&format!("{clock}{separator}{fraction}{rest}")).unwrap();
            let padded = format!("{fraction:0<3}");
            prop_assert_eq!(millis, padded[..3].parse::<u32>().unwrap());
            prop_assert_eq!(used, 9 + fraction.len());
        }

        #[test]
        fn the_fast_iso_reader_agrees_with_chrono(
            text in "[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,10})?(Z|z|[+-][0-2][0-9](:?[0-6][0-9])?|[+-][0-9]{1,5})?( |x)?"
        ) {
            let chrono = DateTime::parse_from_rfc3339(&text)
                .ok()
                .or_else(|| DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
                .map(Timestamp::from);
            if let Some(fast) = parse_iso_zoned(&text) {
                prop_assert_eq!(Some(fast), chrono, "{}", text);
            }
        }

        #[test]
        fn the_fast_iso_reader_reads_what_timestamps_write(
            millis in FIRST..=LAST,
            offset_minutes in -1439i32..=1439,
            colon in any::<bool>(),
        ) {
            let time = Timestamp(millis);
            prop_assert_eq!(parse_iso_zoned(&time.to_rfc3339()), Some(time));
            let zone = FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let format = if colon { "%Y-%m-%dT%H:%M:%S%.3f%:z" } else { "%Y-%m-%dT%H:%M:%S%.3f%z" };
            let text = time.to_datetime().with_timezone(&zone).format(format).to_string();
            prop_assert_eq!(parse_iso_zoned(&text), Some(time), "{}", text);
        }

        #[test]
        fn epoch_seconds_and_millis_round_trip(seconds in 1_000_000_000i64..9_999_999_999) {
            prop_assert_eq!(parse_epoch(&seconds.to_string()), Some(Timestamp(seconds * 1000)));
            let millis = seconds * 1000 + 123;
            prop_assert_eq!(parse_epoch(&millis.to_string()), Some(Timestamp(millis)));
        }
    }
}
