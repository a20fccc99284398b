//! Security analytics: the library lives in [`tokentrail_index::analytics`] (so the web crate
//! shares it) and is re-exported here; this module adds the CLI subcommands.

pub use tokentrail_index::analytics::*;

pub mod commands;
