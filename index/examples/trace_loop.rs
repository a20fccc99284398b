//! Times traces in a loop, in-process (for profiling):
//! `trace_loop DATA_DIR SEEDS ROUNDS`, where SEEDS is a comma-separated list of `sub`s,
//! `ip=ADDRESS` or `jti=ID`, traced in turn in each round (several seeds with large answers
//! keep the store's decoded-event cache from holding the answers between rounds).

/// The binary's allocator (src/main.rs), so that these times are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn seed(text: &str) -> tokentrail_index::Seed {
    match text.split_once('=') {
        Some(("ip", ip)) => tokentrail_index::Seed::Ip { ip: ip.to_string() },
        Some(("jti", jti)) => tokentrail_index::Seed::Jti {
            jti: jti.to_string(),
        },
        _ => tokentrail_index::Seed::Identity {
            sub: text.to_string(),
            iss: None,
        },
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .expect("usage: trace_loop DATA_DIR SEEDS ROUNDS");
    let seeds: Vec<_> = args.next().expect("SEEDS").split(',').map(seed).collect();
    let rounds: usize = args.next().map_or(20, |n| n.parse().unwrap());
    let store = tokentrail_index::TantivyStore::open(std::path::Path::new(&data)).unwrap();
    let mut times = Vec::new();
    for _ in 0..rounds {
        for seed in &seeds {
            let request = tokentrail_index::TraceRequest::new(seed.clone());
            let start = std::time::Instant::now();
            let answer = tokentrail_index::trace(&store, &request).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(answer);
        }
    }
    if std::env::var_os("TRACE_LOOP_ALL").is_some() {
        let all: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
        println!("all {}", all.join(" "));
    }
    times.sort_by(f64::total_cmp);
    println!(
        "min {:.1} p50 {:.1} max {:.1} ms",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    // Resident memory by kind: anonymous (the process's own) and mapped index files.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if ["VmHWM", "RssAnon", "RssFile"]
                .iter()
                .any(|k| line.starts_with(k))
            {
                println!("{}", line.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
}
