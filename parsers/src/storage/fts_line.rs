//! The FTS3 log line (`src/common/Logger.cpp`), shared by `fts-transfer` and `fts-token`:
//! `LEVEL8 "%a, %d %b %Y %H:%M:%S %z" "; " [FILE "; " FUNC "; " LINE "; "] MESSAGE`, e.g.
//! `INFO    Wed, 12 Jun 2024 14:11:59 +0200; Job id: 6578529a-…`. The level is padded to eight
//! characters; the file/function/line part appears on ERR and above when the log level is
//! DEBUG. Times carry their offset, so no zone is needed.

use crate::event::Timestamp;

/// The levels FTS prints.
const LEVELS: &[&str] = &[
    "TRACE", "DEBUG", "WARNING", "INFO", "CRIT", "ERR", "NOTICE", "PROF", "TOKEN",
];

/// One FTS line split into its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FtsLine<'a> {
    pub level: &'a str,
    pub time: Option<Timestamp>,
    pub message: &'a str,
}

/// Cheap test for the line prefix: a known level, spaces, `Ddd, `.
pub fn looks_like(text: &str) -> bool {
    let Some((level, rest)) = text.split_once(' ') else {
        return false;
    };
    if !LEVELS.contains(&level) {
        return false;
    }
    let rest = rest.trim_start_matches(' ');
    let bytes = rest.as_bytes();
    bytes.len() > 5
        && bytes[..3].iter().all(u8::is_ascii_alphabetic)
        && bytes[3] == b','
        && bytes[4] == b' '
}

/// Splits a line; `None` when it is not an FTS line. A time that does not parse leaves `time`
/// empty (the line is still FTS's).
pub fn parse(text: &str) -> Option<FtsLine<'_>> {
    if !looks_like(text) {
        return None;
    }
    let (level, rest) = text.split_once(' ')?;
    let rest = rest.trim_start_matches(' ');
    let (date, message) = match rest.split_once("; ") {
        Some((date, message)) => (date, message),
        None => (rest.strip_suffix(';').unwrap_or(rest), ""),
    };
    let time = chrono::DateTime::parse_from_str(date.trim(), "%a, %d %b %Y %H:%M:%S %z")
        .ok()
        .map(Timestamp::from);
    Some(FtsLine {
        level,
        time,
        message: strip_source_location(message),
    })
}

/// `file; func; line; message` → `message` (when the third part is a line number).
fn strip_source_location(message: &str) -> &str {
    let mut parts = message.splitn(4, "; ");
    let (Some(_file), Some(_function), Some(line), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return message;
    };
    if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) {
        rest
    } else {
        message
    }
}

/// The path of a URL (`davs://host:port/path?query` → `/path`), with `//` at the start (xroot
/// URLs) collapsed to `/`; a text without a scheme is returned as a path without its query.
pub fn url_path(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    let path = match without_query.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => "",
        },
        None => without_query,
    };
    let mut path = path.to_string();
    while path.starts_with("//") {
        path.remove(0);
    }
    path
}

/// The protocol of a URL's scheme, in the names of docs/conventions.md.
pub fn url_protocol(url: &str) -> String {
    let Some((scheme, _)) = url.split_once("://") else {
        return String::new();
    };
    match scheme.to_ascii_lowercase().as_str() {
        "davs" | "dav" => "webdav".to_string(),
        "https" | "http" => "https".to_string(),
        "root" | "roots" | "xroot" | "xroots" => "root".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_level_time_and_message() {
        let line = parse("INFO    Wed, 12 Jun 2024 14:11:59 +0200; Job id: 6578529a").unwrap();
        assert_eq!(line.level, "INFO");
        assert_eq!(line.time.unwrap().to_rfc3339(), "2024-06-12T12:11:59.000Z");
        assert_eq!(line.message, "Job id: 6578529a");
    }

    #[test]
    fn drops_the_debug_source_location() {
        let line = parse("ERR     Wed, 12 Jun 2024 14:11:59 +0200; UrlCopyProcess.cpp; run; 412; Non recoverable error: [2] x").unwrap();
        assert_eq!(line.message, "Non recoverable error: [2] x");
    }

    #[test]
    fn rejects_other_lines() {
        for text in [
            "INFO: something",
            "INFOX   Wed, 12 Jun 2024 14:11:59 +0200; x",
            "240612 14:03:22 4711 XrootdXeq: x",
            "",
            "INFO",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn url_paths_and_protocols() {
        assert_eq!(
            url_path("davs://se01.example.org:2880/pnfs/a/b.root?x=1"),
            "/pnfs/a/b.root"
        );
        assert_eq!(
            url_path("root://xrd01.example.org:1094//atlas/f.root"),
            "/atlas/f.root"
        );
        assert_eq!(url_path("https://host"), "");
        assert_eq!(url_protocol("davs://h/x"), "webdav");
        assert_eq!(url_protocol("root://h//x"), "root");
        assert_eq!(url_protocol("/x"), "");
    }
}
