//! `keycloak-event`: Keycloak org.keycloak.events lines (quoted, unquoted, JSON console). Not yet parsed: every line is kept as a raw event.

use crate::event::Service;
use crate::parser::{Context, Feed, Format, Line, LineParser};

/// The `keycloak-event` format.
pub static FORMAT: Format = Format {
    id: "keycloak-event",
    service: Service::Issuer,
    summary: "Keycloak org.keycloak.events lines (quoted, unquoted, JSON console)",
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
