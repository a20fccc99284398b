//! `tokentrail`: parse the command line, run it, map errors to exit codes (0 ok, 1 error,
//! 2 usage — clap's own).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// Every Rust allocation goes to mimalloc. Ingest builds and frees some twenty strings per
/// event across parser, writer and tantivy threads; with glibc's malloc, allocation was about
/// a third of the parse profile. mimalloc made a 10 M-event ingest 0.68x the CPU time
/// (565 -> 387 CPU-s; sys 85 -> 18 s) at a lower peak RSS (824 -> 763 MB), and the dCache
/// parse-only run 0.72x (BENCHMARKS.md, "A faster allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// C code (zstd) still allocates with glibc, which gives each thread that allocates its own
/// malloc arena (up to 8 per core), each keeping its own free memory. Before mimalloc, two
/// arenas took the peak anonymous memory of a 10 M-event ingest from 900-1000 MiB to 650 MiB.
/// `MALLOC_ARENA_MAX` in the environment still wins.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    bound_malloc_arenas();
    let cli = tokentrail::cli::Cli::parse();
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOKENTRAIL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    match tokentrail::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error)
            if error.chain().any(|cause| {
                let kind = match cause.downcast_ref::<serde_json::Error>() {
                    // serde_json keeps the io::Error it met out of the error chain.
                    Some(json) => json.io_error_kind(),
                    None => cause.downcast_ref::<std::io::Error>().map(|io| io.kind()),
                };
                kind == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            // The reader of our output went away (`| head`): not an error.
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tokentrail: {error:#}");
            ExitCode::from(1)
        }
    }
}
