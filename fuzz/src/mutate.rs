//! A small deterministic mutator: a seeded PRNG (SplitMix64) and the
//! classic byte-level mutations (bit flips, interesting integers, inserts,
//! deletes, duplicated ranges, splices of another seed, truncation).

/// SplitMix64: tiny, fast, and the same sequence on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The modulo bias is irrelevant for fuzzing.
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }
}

/// Integers that tend to break length and offset arithmetic.
const INTERESTING: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// Bytes that matter to text formats (JSON, TOML, notes, paths).
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\n",
    b"\r\n",
    b".",
    b"/",
    b"..",
    b"%",
    b"%00",
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b",",
    b"-",
    b"9999999999999999999999",
    b"-9223372036854775808",
    b"1e999",
    b"\xff",
    b"\xc3\x28",
    b"\xe2\x80\xae",
    b"\0",
    b"null",
    b"true",
    b"[[",
    b"'''",
];

/// `input` changed by one to four random mutations; `other` may be spliced in.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        mutate_once(&mut out, other, rng);
    }
    out
}

fn mutate_once(out: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    let len = out.len();
    match rng.below(9) {
        0 if len > 0 => {
            let at = rng.below(len);
            out[at] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let at = rng.below(len);
            out[at] = rng.byte();
        }
        2 => {
            // An interesting integer, big- or little-endian, 1 to 8 bytes wide.
            let value = INTERESTING[rng.below(INTERESTING.len())];
            let width = 1 + rng.below(8);
            let bytes = if rng.below(2) == 0 {
                value.to_be_bytes()[8 - width..].to_vec()
            } else {
                value.to_le_bytes()[..width].to_vec()
            };
            let at = rng.below(len + 1);
            let end = (at + width).min(len);
            out.splice(at..end, bytes);
        }
        3 => {
            let at = rng.below(len + 1);
            let count = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..count).map(|_| rng.byte()).collect();
            out.splice(at..at, bytes);
        }
        4 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(16)).min(len);
            out.drain(at..end);
        }
        5 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(len);
            let copy = out[at..end].to_vec();
            let to = rng.below(len + 1);
            out.splice(to..to, copy);
        }
        6 if !other.is_empty() => {
            let from = rng.below(other.len());
            let end = (from + 1 + rng.below(64)).min(other.len());
            let at = rng.below(len + 1);
            out.splice(at..at, other[from..end].iter().copied());
        }
        7 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            let at = rng.below(len + 1);
            out.splice(at..at, token.iter().copied());
        }
        _ => out.truncate(rng.below(len + 1)),
    }
}
