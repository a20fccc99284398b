//! Merges the small segments a store's ingest left (what `ingest` now does at its end):
//! `merge_tail DATA_DIR`.
use tokentrail_index::EventSink;

fn main() {
    let data = std::env::args().nth(1).expect("usage: merge_tail DATA_DIR");
    let store = tokentrail_index::TantivyStore::open(std::path::Path::new(&data)).unwrap();
    let sink: Box<dyn EventSink> = Box::new(store.writer(64 << 20).unwrap());
    let start = std::time::Instant::now();
    sink.finish().unwrap();
    println!("{:.1} s", start.elapsed().as_secs_f64());
}
