//! Any file given to --feed replay:<file>.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| tickertape::fuzzing::replay_csv(text));
