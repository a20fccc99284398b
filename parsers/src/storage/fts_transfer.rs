//! `fts-transfer`: FTS3 per-transfer log. Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `fts-transfer` format.
pub static FORMAT: Format = Format {
    id: "fts-transfer",
    service: Service::Transfer,
    summary: "FTS3 per-transfer log",
    programs: &[],
    sniff: |_, _| false,
    new_parser: |_: &Context| Box::new(Parser),
};

struct Parser;

impl LineParser for Parser {
    fn feed(&mut self, _line: &Line<'_>, _out: &mut Vec<crate::event::Event>) -> Feed {
        Feed::NotMine
    }
}
