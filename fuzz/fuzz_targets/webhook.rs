//! `cargo +nightly fuzz run webhook` (`make fuzz`): see `http_api::fuzzing::webhook`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_api::fuzzing::webhook(data));
