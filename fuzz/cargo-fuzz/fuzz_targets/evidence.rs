//! libFuzzer driver of `vfed_fuzz::targets::evidence` (see fuzz/src/targets.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vfed_fuzz::targets::evidence(data));
