//! Times one identity's trace in a loop, in-process (for profiling):
//! `trace_loop DATA_DIR SUB ROUNDS`.

fn main() {
    let mut args = std::env::args().skip(1);
    let data = args.next().expect("usage: trace_loop DATA_DIR SUB ROUNDS");
    let sub = args.next().expect("SUB");
    let rounds: usize = args.next().map_or(20, |n| n.parse().unwrap());
    let store = tokentrail_index::TantivyStore::open(std::path::Path::new(&data)).unwrap();
    let request = tokentrail_index::TraceRequest {
        seed: tokentrail_index::Seed::Identity { sub, iss: None },
        from: None,
        to: None,
        max_depth: 4,
        max_events: 20_000,
    };
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        let answer = tokentrail_index::trace(&store, &request).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(answer);
    }
    times.sort_by(f64::total_cmp);
    println!("min {:.1} p50 {:.1} ms", times[0], times[times.len() / 2]);
}
