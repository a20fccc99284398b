//! Transport prefixes in front of a service's own line, removed before format dispatch:
//! RFC 3164 (`<13>Mar 14 09:12:03 host prog[42]: msg`), RFC 5424
//! (`<34>1 2025-03-14T09:12:03.1Z host prog 42 - - msg`), `journalctl -o short-iso`
//! (`2025-03-14T09:12:03+0100 host prog[42]: msg`), and docker-compose (`iam-login-service  | msg`).
//! ANSI colour codes are dropped as well.

use std::borrow::Cow;

use crate::event::Timestamp;
use crate::time::{self, TimeContext};

/// What a transport prefix said about the line, and the service's own line.
#[derive(Clone, Debug, PartialEq)]
pub struct Unwrapped<'a> {
    /// The service's own line.
    pub message: Cow<'a, str>,
    /// The host the prefix names.
    pub host: Option<&'a str>,
    /// The program (syslog tag / app-name / compose service).
    pub program: Option<&'a str>,
    /// The prefix's own time.
    pub time: Option<Timestamp>,
}

impl<'a> Unwrapped<'a> {
    fn plain(line: &'a str) -> Self {
        Unwrapped {
            message: Cow::Borrowed(line),
            host: None,
            program: None,
            time: None,
        }
    }
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(line: &str) -> Cow<'_, str> {
    if memchr::memchr(0x1b, line.as_bytes()).is_none() {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for next in chars.by_ref() {
                    if next.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Unwraps one transport prefix (repeatedly, for a syslog line inside a compose log).
pub fn unwrap<'a>(line: &'a str, context: &TimeContext) -> Unwrapped<'a> {
    let mut result = unwrap_once(line, context);
    // One more level: compose → journald, or a relay that re-wraps syslog.
    if let Cow::Borrowed(inner) = result.message {
        if inner.len() != line.len() {
            let again = unwrap_once(inner, context);
            if again.message.len() != inner.len() {
                result = Unwrapped {
                    message: again.message,
                    host: again.host.or(result.host),
                    program: again.program.or(result.program),
                    time: again.time.or(result.time),
                };
            }
        }
    }
    match result.message {
        Cow::Borrowed(message) => {
            let stripped = strip_ansi(message);
            Unwrapped {
                message: stripped,
                ..result
            }
        }
        Cow::Owned(_) => result,
    }
}

fn unwrap_once<'a>(line: &'a str, context: &TimeContext) -> Unwrapped<'a> {
    let (priority_len, has_priority) = priority_prefix(line);
    let rest = &line[priority_len..];
    if let Some(found) = rfc5424(rest) {
        return found;
    }
    if let Some(found) = rfc3164(rest, context) {
        return found;
    }
    if !has_priority {
        if let Some(found) = iso_syslog(rest) {
            return found;
        }
        if let Some(found) = compose(rest) {
            return found;
        }
    }
    Unwrapped::plain(line)
}

/// `<PRI>` at the start: (bytes, present).
fn priority_prefix(line: &str) -> (usize, bool) {
    let bytes = line.as_bytes();
    if bytes.first() != Some(&b'<') {
        return (0, false);
    }
    let digits = bytes[1..]
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits > 0 && bytes.get(1 + digits) == Some(&b'>') {
        (digits + 2, true)
    } else {
        (0, false)
    }
}

/// A syslog tag `prog[pid]:` or `prog:` followed by a space; returns (program, bytes used).
fn tag(text: &str) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let name_len = bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'@'))
        .count();
    if name_len == 0 || name_len > 64 {
        return None;
    }
    let mut cursor = name_len;
    if bytes.get(cursor) == Some(&b'[') {
        let close = text[cursor..].find(']')? + cursor;
        if close - cursor > 12 {
            return None;
        }
        cursor = close + 1;
    }
    if bytes.get(cursor) != Some(&b':') {
        return None;
    }
    cursor += 1;
    if bytes.get(cursor) == Some(&b' ') {
        cursor += 1;
    } else if cursor != bytes.len() {
        return None;
    }
    Some((&text[..name_len], cursor))
}

fn hostname(text: &str) -> Option<(&str, usize)> {
    let len = text
        .as_bytes()
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
        .count();
    if len == 0 || text.as_bytes().get(len) != Some(&b' ') {
        return None;
    }
    Some((&text[..len], len + 1))
}

/// RFC 3164: `Mmm dd HH:MM:SS host tag: msg` (day may be space-padded).
fn rfc3164<'a>(text: &'a str, context: &TimeContext) -> Option<Unwrapped<'a>> {
    let month = time::month_from_abbrev(text.get(..3)?)?;
    let mut cursor = 3;
    let bytes = text.as_bytes();
    if bytes.get(cursor) != Some(&b' ') {
        return None;
    }
    cursor += 1;
    if bytes.get(cursor) == Some(&b' ') {
        cursor += 1;
    }
    let day_len = bytes[cursor..]
        .iter()
        .take(2)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if day_len == 0 {
        return None;
    }
    let day: u32 = text[cursor..cursor + day_len].parse().ok()?;
    cursor += day_len;
    if bytes.get(cursor) != Some(&b' ') {
        return None;
    }
    cursor += 1;
    let (hour, minute, second, millis, used) = time::hms_at(&text[cursor..])?;
    cursor += used;
    if bytes.get(cursor) != Some(&b' ') {
        return None;
    }
    cursor += 1;
    let (host, used) = hostname(&text[cursor..])?;
    cursor += used;
    let (program, used) = tag(&text[cursor..])?;
    cursor += used;
    let stamp = context.local_parts(
        context.year_for(month, day),
        month,
        day,
        hour,
        minute,
        second,
        millis,
    );
    Some(Unwrapped {
        message: Cow::Borrowed(&text[cursor..]),
        host: Some(host),
        program: Some(program),
        time: stamp,
    })
}

/// RFC 5424: `1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
fn rfc5424(text: &str) -> Option<Unwrapped<'_>> {
    let rest = text.strip_prefix("1 ")?;
    let mut fields = rest.splitn(6, ' ');
    let stamp = fields.next()?;
    let host = fields.next()?;
    let app = fields.next()?;
    let _procid = fields.next()?;
    let _msgid = fields.next()?;
    let remainder = fields.next().unwrap_or("");
    let time = if stamp == "-" {
        None
    } else {
        Some(Timestamp::parse(stamp)?)
    };
    // Structured data: "-" or one or more [..] blocks (with escaped ] inside values).
    let message = if let Some(after) = remainder.strip_prefix('-') {
        after.strip_prefix(' ').unwrap_or(after)
    } else if remainder.starts_with('[') {
        let bytes = remainder.as_bytes();
        let mut index = 0;
        while bytes.get(index) == Some(&b'[') {
            let mut escaped = false;
            index += 1;
            while index < bytes.len() {
                match bytes[index] {
                    b'\\' if !escaped => escaped = true,
                    b']' if !escaped => break,
                    _ => escaped = false,
                }
                index += 1;
            }
            index += 1;
        }
        let after = remainder.get(index..).unwrap_or("");
        after.strip_prefix(' ').unwrap_or(after)
    } else {
        return None;
    };
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    Some(Unwrapped {
        message: Cow::Borrowed(message),
        host: (host != "-").then_some(host),
        program: (app != "-").then_some(app),
        time,
    })
}

/// `journalctl -o short-iso` and rsyslog's high-precision format:
/// `2025-03-14T09:12:03+0100 host prog[pid]: msg`.
fn iso_syslog(text: &str) -> Option<Unwrapped<'_>> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[10] != b'T' {
        return None;
    }
    let stamp_len = text.find(' ')?;
    let stamp_text = &text[..stamp_len];
    let time = Timestamp::parse(stamp_text).or_else(|| {
        // +0100 without a colon.
        let (head, zone) = stamp_text.split_at_checked(stamp_text.len().checked_sub(5)?)?;
        let offset = time::parse_offset(zone)?;
        let naive = chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
        Some(Timestamp(
            naive.and_utc().timestamp_millis() - offset.local_minus_utc() as i64 * 1000,
        ))
    })?;
    let mut cursor = stamp_len + 1;
    let (host, used) = hostname(&text[cursor..])?;
    cursor += used;
    let (program, used) = tag(&text[cursor..])?;
    cursor += used;
    Some(Unwrapped {
        message: Cow::Borrowed(&text[cursor..]),
        host: Some(host),
        program: Some(program),
        time: Some(time),
    })
}

/// docker-compose: `service-name  | msg` (name, one or more spaces, `|`, space).
fn compose(text: &str) -> Option<Unwrapped<'_>> {
    let bytes = text.as_bytes();
    let name_len = bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    if name_len == 0 || name_len > 80 {
        return None;
    }
    let spaces = bytes[name_len..].iter().take_while(|b| **b == b' ').count();
    if spaces == 0 {
        return None;
    }
    let cursor = name_len + spaces;
    if bytes.get(cursor) != Some(&b'|') {
        return None;
    }
    let message = &text[cursor + 1..];
    let message = message.strip_prefix(' ').unwrap_or(message);
    Some(Unwrapped {
        message: Cow::Borrowed(message),
        host: None,
        program: Some(&text[..name_len]),
        time: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Zone;

    fn context() -> TimeContext {
        TimeContext {
            zone: Zone::Utc,
            year_override: Some(2025),
            reference_date: None,
        }
    }

    const IAM: &str = "2025-03-14 09:12:03.396  INFO 7 --- [nio-8080-exec-4] AUDIT : {}";

    #[test]
    fn unwraps_rfc3164_with_and_without_priority() {
        for line in [
            format!("Mar 14 09:12:03 iam01.example.org iam-login-service[812]: {IAM}"),
            format!("<134>Mar  4 09:12:03 iam01 java: {IAM}"),
        ] {
            let unwrapped = unwrap(&line, &context());
            assert_eq!(unwrapped.message, IAM, "{line}");
            assert!(unwrapped.host.is_some());
            assert!(unwrapped.time.is_some());
        }
    }

    #[test]
    fn unwraps_rfc5424_with_structured_data() {
        let line = format!("<165>1 2025-03-14T09:12:03.003Z kc-0.example.org keycloak 1 - [meta x=\"a\\]b\"] {IAM}");
        let unwrapped = unwrap(&line, &context());
        assert_eq!(unwrapped.message, IAM);
        assert_eq!(unwrapped.host, Some("kc-0.example.org"));
        assert_eq!(unwrapped.program, Some("keycloak"));
        assert_eq!(
            unwrapped.time.unwrap().to_rfc3339(),
            "2025-03-14T09:12:03.003Z"
        );
        let nil = format!("<165>1 - - - - - - {IAM}");
        assert_eq!(unwrap(&nil, &context()).message, IAM);
    }

    #[test]
    fn unwraps_journalctl_short_iso_and_compose() {
        let journal = format!("2025-03-14T10:12:03+0100 iam01 iam-login-service[812]: {IAM}");
        let unwrapped = unwrap(&journal, &context());
        assert_eq!(unwrapped.message, IAM);
        assert_eq!(
            unwrapped.time.unwrap().to_rfc3339(),
            "2025-03-14T09:12:03.000Z"
        );
        let compose = format!("iam-login-service  | {IAM}");
        let unwrapped = unwrap(&compose, &context());
        assert_eq!(unwrapped.message, IAM);
        assert_eq!(unwrapped.program, Some("iam-login-service"));
    }

    #[test]
    fn leaves_service_lines_alone() {
        for line in [
            IAM,
            "03/14/25 09:12:03 (cid:42) Submitting new job 123.0",
            "250314 09:12:03 1234 XrootdXeq: jdoe.1:23@wn042 pub IP46 login as abc",
            "level=INFO ts=2025-03-14T09:12:03.001+0000 event=org.dcache.webdav.request",
            "{\"time\":\"2025-03-14T09:25:01.123456Z\",\"type\":\"request\"}",
            "",
        ] {
            assert_eq!(unwrap(line, &context()).message, line);
        }
    }

    #[test]
    fn iso_prefix_with_multibyte_text_before_the_zone_does_not_panic() {
        // Regression (cargo fuzz, core_helpers): the `+hhmm` zone split cut inside a character.
        let line =
            "0324-06-12T14:2\u{fffd}\u{fffd}\u{fffd}en\u{fffd}t=org.dcache.webdav.request=re";
        assert_eq!(unwrap(line, &context()).message, line);
    }

    #[test]
    fn strips_ansi_colours() {
        let coloured = "\u{1b}[2m2025-03-14\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m";
        assert_eq!(strip_ansi(coloured), "2025-03-14  INFO");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::time::Zone;
    use proptest::prelude::*;

    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    fn context() -> TimeContext {
        TimeContext {
            zone: Zone::Utc,
            year_override: Some(2025),
            reference_date: None,
        }
    }

    /// A service's own line: starts with a letter and holds no `|` (which would read as a
    /// compose prefix) — anything else a service may print.
    fn message() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9 =:/._\\[\\]{}\"-]{0,80}"
    }

    proptest! {
        #[test]
        fn unwrap_never_panics(line in any::<String>()) {
            let unwrapped = unwrap(&line, &context());
            let _ = strip_ansi(&line);
            prop_assert!(unwrapped.message.len() <= line.len());
        }

        #[test]
        fn unwrap_never_panics_on_prefix_like_text(
            line in "(<[0-9]{1,3}>|1 |[A-Z][a-z]{2} |[ 0-9]{1,2} |[0-9:]{1,8} |-|\\[|\\]|[a-z.]{1,8}|\\[[0-9]+\\]:|: | +\\| |\u{1b}\\[[0-9;]*m?|T|Z|\\+0100){0,30}"
        ) {
            let _ = unwrap(&line, &context());
        }

        #[test]
        fn rfc3164_prefix_round_trips(
            priority in proptest::option::of(0u8..192),
            month in 1usize..=12,
            day in 1u32..=28,
            (hour, minute, second) in (0u32..24, 0u32..60, 0u32..60),
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            program in "[a-z][a-z0-9_-]{0,15}",
            pid in proptest::option::of(1u32..100_000),
            text in message(),
        ) {
            let priority = priority.map(|p| format!("<{p}>")).unwrap_or_default();
            let pid = pid.map(|p| format!("[{p}]")).unwrap_or_default();
            let line = format!(
                "{priority}{} {day:>2} {hour:02}:{minute:02}:{second:02} {host} {program}{pid}: {text}",
                MONTHS[month - 1]
            );
            let unwrapped = unwrap(&line, &context());
            prop_assert_eq!(unwrapped.message.as_ref(), text.as_str());
            prop_assert_eq!(unwrapped.host, Some(host.as_str()));
            prop_assert_eq!(unwrapped.program, Some(program.as_str()));
            let expected = format!("2025-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.000Z");
            prop_assert_eq!(unwrapped.time.map(|t| t.to_rfc3339()), Some(expected));
        }

        #[test]
        fn rfc5424_prefix_round_trips(
            priority in 0u8..192,
            millis in 946_684_800_000i64..4_102_444_800_000,
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            program in "[a-z][a-z0-9_-]{0,15}",
            text in message(),
        ) {
            let time = crate::event::Timestamp(millis);
            let line = format!("<{priority}>1 {} {host} {program} 42 - - {text}", time.to_rfc3339());
            let unwrapped = unwrap(&line, &context());
            prop_assert_eq!(unwrapped.message.as_ref(), text.as_str());
            prop_assert_eq!(unwrapped.host, Some(host.as_str()));
            prop_assert_eq!(unwrapped.program, Some(program.as_str()));
            prop_assert_eq!(unwrapped.time, Some(time));
        }
    }
}
