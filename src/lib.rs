//! tokentrail: the command-line tool's library — inputs, ingest, trace engine, simulation.

pub mod simulate;
