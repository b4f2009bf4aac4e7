//! Every parser meets garbage, truncation and bit flips: errors, never panics.
#![allow(clippy::unwrap_used)]

use vfed_media::sps::Sps;
use vfed_media::{AccessUnitAssembler, AnnexBFile, Codec, fmp4, nal};

/// A deterministic xorshift generator: reproducible garbage without a dependency.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next() % max_len as u64) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn parse_everything(data: &[u8]) {
    for codec in [Codec::H264, Codec::H265] {
        let _ = nal::header(codec, data);
        let _ = nal::is_first_slice_of_picture(codec, data);
        let _ = Sps::parse(codec, data);
        let _ = AnnexBFile::parse(data, codec, 25_000);
        let mut assembler = AccessUnitAssembler::new(codec);
        let _ = assembler.push(data);
    }
    let _ = nal::split_annexb(data);
    let _ = nal::split_length_prefixed(data);
    let _ = nal::length_prefixed_to_annexb(data);
}

#[test]
fn random_bytes_are_refused_without_panics() {
    let mut g = Garbage(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut data = g.bytes(300);
        parse_everything(&data);
        // The same garbage behind a start code and a plausible NAL header.
        for header in [[0x67u8, 0x64], [0x42, 0x01], [0x65, 0x88], [0x26, 0x01]] {
            let mut framed = vec![0, 0, 0, 1, header[0], header[1]];
            framed.append(&mut data.clone());
            parse_everything(&framed);
            parse_everything(&framed[4..]);
        }
        data.clear();
    }
}

#[test]
fn truncated_and_bit_flipped_streams_are_refused_without_panics() {
    let clip = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/demo-720p25.h264"
    ))
    .unwrap();
    let head = &clip[..clip.len().min(40_000)];
    for len in (0..head.len()).step_by(331) {
        parse_everything(&head[..len]);
    }
    let mut g = Garbage(42);
    for _ in 0..200 {
        let mut mutated = head[..2_000].to_vec();
        for _ in 0..4 {
            let at = (g.next() % mutated.len() as u64) as usize;
            mutated[at] ^= 1 << (g.next() % 8);
        }
        parse_everything(&mutated);
        if let Ok((metadata, units)) = AnnexBFile::parse(&mutated, Codec::H264, 25_000) {
            let _ = fmp4::init_segment(&metadata);
            let _ = fmp4::codecs_string(&metadata);
            let _ = fmp4::media_segment(1, &units, 0, units.last().unwrap().dts + 3600);
        }
    }
}
