//! `dcache-billing-json`: dCache billing, JSON form. Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `dcache-billing-json` format.
pub static FORMAT: Format = Format {
    id: "dcache-billing-json",
    service: Service::Storage,
    summary: "dCache billing, JSON form",
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
