//! The wire decoders on random and mutated input (a stable-toolchain
//! companion of the cargo-fuzz target in `fuzz/`): no panic, every length
//! checked against its limit, and valid input always round-trips.
#![allow(clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};
use vfed_media::AccessUnit;
use vfed_relay::wire::{
    Decoded, GopHeader, MAX_FRAME_PAYLOAD, decode_control, decode_frame, decode_gop_header,
    encode_frame, encode_gop_header,
};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn valid_stream(rng: &mut Rng) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.put(encode_gop_header(GopHeader {
        request_id: rng.next(),
        gop_seq: rng.next(),
    }));
    for i in 0..(rng.next() % 5) {
        let data = Bytes::from(rng.bytes(300).into_iter().chain([1]).collect::<Vec<u8>>());
        let unit = AccessUnit {
            pts: i as i64,
            dts: i as i64,
            keyframe: i == 0,
            data,
            ingest_unix_us: 0,
        };
        buf.put(encode_frame(&unit));
        buf.put(unit.data);
    }
    buf.to_vec()
}

fn decode_all(input: &[u8]) {
    let _ = decode_control(input);
    if let Ok(Decoded::Value(_, used)) = decode_gop_header(input) {
        let mut rest = Bytes::copy_from_slice(&input[used..]);
        while let Ok(Decoded::Value(unit, used)) = decode_frame(&rest) {
            assert!(!unit.data.is_empty() && unit.data.len() <= MAX_FRAME_PAYLOAD);
            rest = rest.slice(used..);
        }
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        decode_all(&rng.bytes(200));
    }
    for _ in 0..20_000 {
        let mut stream = valid_stream(&mut rng);
        for _ in 0..(1 + rng.next() % 4) {
            if stream.is_empty() {
                break;
            }
            let i = (rng.next() as usize) % stream.len();
            stream[i] = rng.next() as u8;
        }
        if rng.next().is_multiple_of(3) {
            let cut = (rng.next() as usize) % (stream.len() + 1);
            stream.truncate(cut);
        }
        decode_all(&stream);
    }
}

#[test]
fn valid_streams_decode_completely() {
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let stream = valid_stream(&mut rng);
        let Ok(Decoded::Value(_, used)) = decode_gop_header(&stream) else {
            panic!("header")
        };
        let mut rest = Bytes::copy_from_slice(&stream[used..]);
        while !rest.is_empty() {
            match decode_frame(&rest) {
                Ok(Decoded::Value(_, used)) => rest = rest.slice(used..),
                other => panic!("valid frame did not decode: {other:?}"),
            }
        }
    }
}
