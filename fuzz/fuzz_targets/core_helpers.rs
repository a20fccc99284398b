//! Arbitrary text through `jwt::redact`, `unwrap::unwrap`, `kv::pairs` and the time finders.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tokentrail_parsers::fuzzing::core(data));
