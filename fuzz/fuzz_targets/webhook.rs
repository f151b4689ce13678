//! `cargo +nightly fuzz run webhook` (`make fuzz`): see `test_kit::fuzzing::webhook`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| test_kit::fuzzing::webhook(data));
