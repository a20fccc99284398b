//! `arc-diag`: ARC CE per-job diag file. Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `arc-diag` format.
pub static FORMAT: Format = Format {
    id: "arc-diag",
    service: Service::Ce,
    summary: "ARC CE per-job diag file",
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
