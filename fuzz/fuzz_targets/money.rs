//! `cargo +nightly fuzz run money` (`make fuzz`): see `test_kit::fuzzing::money`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| test_kit::fuzzing::money(data));
