//! What Finnhub, Coinbase or Alpaca (or a man in the middle) may send.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| tickertape::fuzzing::provider_messages(text));
