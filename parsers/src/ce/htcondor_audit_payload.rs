//! `htcondor-audit-payload`: HTCondor-CE collector AuditPayloadLog. Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `htcondor-audit-payload` format.
pub static FORMAT: Format = Format {
    id: "htcondor-audit-payload",
    service: Service::Ce,
    summary: "HTCondor-CE collector AuditPayloadLog",
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
