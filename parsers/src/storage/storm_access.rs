//! `storm-webdav-access`: StoRM WebDAV access log. Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `storm-webdav-access` format.
pub static FORMAT: Format = Format {
    id: "storm-webdav-access",
    service: Service::Storage,
    summary: "StoRM WebDAV access log",
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
