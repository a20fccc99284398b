//! Arbitrary bytes through the stream pipeline with each issuer-family format forced, or detected
//! (first input byte), checking every event's invariants. See `tokentrail_parsers::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokentrail_parsers::fuzzing::{family, Family};

fuzz_target!(|data: &[u8]| family(Family::Issuer, data));
