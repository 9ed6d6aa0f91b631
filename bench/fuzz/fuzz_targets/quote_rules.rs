//! Any sequence of trades and book updates a feed may produce.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|events: Vec<(bool, f64, f64, i64)>| tickertape::fuzzing::quote_rules(&events));
