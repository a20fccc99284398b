//! `arc-jobs`: ARC CE arex-jobs.log Started/Finished lines. Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `arc-jobs` format.
pub static FORMAT: Format = Format {
    id: "arc-jobs",
    service: Service::Ce,
    summary: "ARC CE arex-jobs.log Started/Finished lines",
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
