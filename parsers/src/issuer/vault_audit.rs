//! `vault-audit`: Vault/OpenBao file audit device JSON (htgettoken). Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `vault-audit` format.
pub static FORMAT: Format = Format {
    id: "vault-audit",
    service: Service::Issuer,
    summary: "Vault/OpenBao file audit device JSON (htgettoken)",
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
