//! Fuzzes the relay's wire decoders: whatever a peer sends, decoding
//! returns a value, "need more" or an error; it never panics, never reads
//! out of bounds and never allocates beyond the limits.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vfed_relay::wire::{Decoded, decode_control, decode_frame, decode_gop_header};

fuzz_target!(|data: &[u8]| {
    let _ = decode_control(data);
    if let Ok(Decoded::Value(_, used)) = decode_gop_header(data) {
        // A GOP stream: header then frames until the input runs out.
        let mut rest = Bytes::copy_from_slice(&data[used..]);
        while let Ok(Decoded::Value(unit, used)) = decode_frame(&rest) {
            assert!(!unit.data.is_empty());
            rest = rest.slice(used..);
        }
    } else {
        let _ = decode_frame(&Bytes::copy_from_slice(data));
    }
});
