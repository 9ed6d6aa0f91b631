//! What a browser (or anyone) may send to /ws, and what the page may receive.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    tickertape::fuzzing::client_message(text);
    tickertape::fuzzing::server_message(text);
});
