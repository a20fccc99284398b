//! tokentrail: the command-line tool's library — inputs, ingest, trace engine, simulation.

pub mod analytics;
pub mod bench_driver;
pub mod bench_support;
pub mod cli;
pub mod collect;
pub mod demo;
pub mod ingest;
pub mod input;
pub mod output;
pub mod report;
pub mod simulate;
