//! `htcondor-ce-audit`: HTCondor-CE / schedd AuditLog (and D_AUDIT lines in SchedLog). Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `htcondor-ce-audit` format.
pub static FORMAT: Format = Format {
    id: "htcondor-ce-audit",
    service: Service::Ce,
    summary: "HTCondor-CE / schedd AuditLog (and D_AUDIT lines in SchedLog)",
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
