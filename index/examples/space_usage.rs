//! Prints where the bytes of a store go, per field: `cargo run --release -p
//! tokentrail-index --example space_usage -- DATA_DIR`.

use std::collections::BTreeMap;

fn main() {
    let data = std::env::args()
        .nth(1)
        .expect("usage: space_usage DATA_DIR");
    let index = tantivy::Index::open_in_dir(std::path::Path::new(&data).join("index")).unwrap();
    let schema = index.schema();
    let searcher = index.reader().unwrap().searcher();
    let usage = searcher.space_usage().unwrap();
    let mut per: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut store = 0u64;
    for segment in usage.segments() {
        store += segment.store().total().get_bytes();
        for (part, fields) in [
            ("termdict", segment.termdict()),
            ("postings", segment.postings()),
            ("positions", segment.positions()),
            ("fast", segment.fast_fields()),
            ("fieldnorms", segment.fieldnorms()),
        ] {
            for (field, field_usage) in fields.fields() {
                let name = schema.get_field_name(*field).to_string();
                *per.entry((part.to_string(), name)).or_default() +=
                    field_usage.total().get_bytes();
            }
        }
    }
    println!("segments {} store {store}", usage.segments().len());
    let mut rows: Vec<_> = per.into_iter().collect();
    rows.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    for ((part, field), bytes) in rows.into_iter().take(30) {
        println!("{part:10} {field:14} {bytes}");
    }
}
