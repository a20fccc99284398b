//! `htcondor-eventlog`: HTCondor job event log (user log / EVENT_LOG). Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `htcondor-eventlog` format.
pub static FORMAT: Format = Format {
    id: "htcondor-eventlog",
    service: Service::Batch,
    summary: "HTCondor job event log (user log / EVENT_LOG)",
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
