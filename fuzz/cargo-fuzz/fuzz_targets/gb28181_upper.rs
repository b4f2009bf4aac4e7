//! libFuzzer driver of `vfed_fuzz::gb28181::upper` (see fuzz/src/gb28181.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vfed_fuzz::gb28181::upper(data));
