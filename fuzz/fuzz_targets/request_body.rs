//! `cargo +nightly fuzz run request_body` (`make fuzz`): see `http_api::fuzzing::request_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_api::fuzzing::request_body(data));
