//! Every known format, in detection order (most specific first within a family; issuer, then
//! CE, then storage). A new format is a new module plus one line in its family's `formats()`.

use std::sync::OnceLock;

use crate::parser::Format;

/// All formats, in detection order.
pub fn all() -> &'static [&'static Format] {
    static ALL: OnceLock<Vec<&'static Format>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut formats = crate::issuer::formats();
        formats.extend(crate::ce::formats());
        formats.extend(crate::storage::formats());
        formats
    })
}

/// The format with this id.
pub fn find(id: &str) -> Option<&'static Format> {
    all().iter().copied().find(|format| format.id == id)
}

/// Every format id.
pub fn ids() -> Vec<&'static str> {
    all().iter().map(|format| format.id).collect()
}

/// Formats whose syslog program names match `program` (case-insensitive; a name ending in
/// `*` matches as a prefix).
pub fn for_program(program: &str) -> Vec<&'static Format> {
    let program = program.to_ascii_lowercase();
    all()
        .iter()
        .copied()
        .filter(|format| {
            format
                .programs
                .iter()
                .any(|name| match name.strip_suffix('*') {
                    Some(prefix) => program.starts_with(prefix),
                    None => program == *name,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_ids_are_unique_and_well_formed() {
        let ids = ids();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate format id");
        for id in ids {
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{id}"
            );
            assert_ne!(id, crate::stream::RAW_SOURCE);
        }
    }
}
