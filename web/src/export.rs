//! CSV export of a trace: the event columns of DESIGN.md section 3 (origin split, lists joined
//! by spaces) plus the link's rule and confidence. Cells that a spreadsheet would read as a
//! formula are prefixed with `'` (log content is attacker-controlled).

use tokentrail_index::trace::LinkedEvent;

use tokentrail_parsers::csv::csv_cell;
use tokentrail_parsers::csv::{csv_values, CSV_COLUMNS};

/// The trace's events as CSV with a header line: the event columns, then the link's rule and
/// confidence.
pub fn trace_csv(events: &[LinkedEvent]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str(",link_rule,link_confidence\r\n");
    for linked in events {
        let mut cells = csv_values(&linked.event);
        cells.push(linked.link.rule.clone());
        cells.push(linked.link.confidence.clone());
        let line: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_formulas_and_quotes() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("plain"), "plain");
    }

    #[test]
    fn header_has_every_column() {
        let csv = trace_csv(&[]);
        assert!(csv.starts_with("id,time,source"));
        assert!(csv.trim_end().ends_with("link_rule,link_confidence"));
    }
}
