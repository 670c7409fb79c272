#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| deltadrop_core::fuzzing::serve_request(data));
