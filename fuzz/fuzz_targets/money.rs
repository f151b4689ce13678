//! `cargo +nightly fuzz run money` (`make fuzz`): see `http_api::fuzzing::money`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_api::fuzzing::money(data));
