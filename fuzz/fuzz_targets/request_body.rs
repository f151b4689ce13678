//! `cargo +nightly fuzz run request_body` (`make fuzz`): see `test_kit::fuzzing::request_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| test_kit::fuzzing::request_body(data));
