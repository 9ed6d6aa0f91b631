//! Binary frames (`tickertape.v1.bin`) as the page reads them, one
//! connection's worth at a time.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frames: Vec<&[u8]>| tickertape::fuzzing::binary_frames(&frames));
