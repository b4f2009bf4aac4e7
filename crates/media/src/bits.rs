//! A big-endian bit reader over RBSP bytes, with the exp-Golomb codes of
//! H.264/H.265 (ITU-T H.264 9.1, H.265 9.2).

use crate::error::MediaError;

/// Reads bits most-significant first from a byte slice.
///
/// Feed it RBSP (emulation prevention bytes already removed, see
/// [`crate::nal::rbsp`]). Every read past the end returns
/// [`MediaError::Truncated`] naming the structure given to [`BitReader::new`].
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`; `what` names the structure in errors.
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    /// Bits not read yet.
    pub fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, MediaError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(MediaError::Truncated { what: self.what })?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `n` bits (at most 64) as an unsigned number: `u(n)`.
    pub fn bits(&mut self, n: u32) -> Result<u64, MediaError> {
        if n > 64 {
            return Err(MediaError::invalid(self.what, format!("read of {n} bits")));
        }
        if self.remaining() < n as usize {
            return Err(MediaError::Truncated { what: self.what });
        }
        let mut value = 0u64;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.bit()?);
        }
        Ok(value)
    }

    /// 8 bits.
    pub fn u8(&mut self) -> Result<u8, MediaError> {
        // Lossless: 8 bits always fit.
        Ok(self.bits(8)? as u8)
    }

    /// 32 bits.
    pub fn u32(&mut self) -> Result<u32, MediaError> {
        // Lossless: 32 bits always fit.
        Ok(self.bits(32)? as u32)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), MediaError> {
        if self.remaining() < n {
            return Err(MediaError::Truncated { what: self.what });
        }
        self.pos += n;
        Ok(())
    }

    /// Unsigned exp-Golomb: `ue(v)`. Values need at most 32 bits; longer
    /// prefixes are rejected as invalid rather than overflowing.
    pub fn ue(&mut self) -> Result<u32, MediaError> {
        let mut leading_zeros = 0u32;
        while !self.bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(MediaError::invalid(
                    self.what,
                    "exp-Golomb code longer than 32 bits",
                ));
            }
        }
        let suffix = self.bits(leading_zeros)?;
        let value = (1u64 << leading_zeros) - 1 + suffix;
        u32::try_from(value)
            .map_err(|_| MediaError::invalid(self.what, "exp-Golomb value above 2^32-2"))
    }

    /// Signed exp-Golomb: `se(v)`.
    pub fn se(&mut self) -> Result<i32, MediaError> {
        let k = i64::from(self.ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).map_err(|_| MediaError::invalid(self.what, "se(v) out of range"))
    }

    /// `ue(v)` that must not exceed `max`; `field` names it in the error.
    pub fn ue_max(&mut self, max: u32, field: &str) -> Result<u32, MediaError> {
        let v = self.ue()?;
        if v > max {
            return Err(MediaError::invalid(
                self.what,
                format!("{field} = {v}, at most {max} allowed"),
            ));
        }
        Ok(v)
    }
}

/// Writes bits, for hand-made parameter sets that exercise syntax real
/// encoders do not emit.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct BitWriter {
    bits: Vec<bool>,
}

#[cfg(test)]
impl BitWriter {
    /// `u(n)`.
    pub(crate) fn u(&mut self, n: u32, v: u64) -> &mut Self {
        self.bits.extend((0..n).rev().map(|i| (v >> i) & 1 == 1));
        self
    }

    /// `ue(v)`.
    pub(crate) fn ue(&mut self, v: u32) -> &mut Self {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.u(len - 1, 0).u(len, x)
    }

    /// `se(v)`.
    pub(crate) fn se(&mut self, v: i32) -> &mut Self {
        let k = if v > 0 { 2 * v - 1 } else { -2 * v };
        self.ue(k.unsigned_abs())
    }

    /// The RBSP: the bits, `rbsp_stop_one_bit`, zero padding.
    pub(crate) fn bytes(&mut self) -> Vec<u8> {
        self.u(1, 1);
        while !self.bits.len().is_multiple_of(8) {
            self.bits.push(false);
        }
        self.bits
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |acc, &b| (acc << 1) | u8::from(b)))
            .collect()
    }

    /// The NAL unit: [`BitWriter::bytes`] with emulation prevention bytes.
    pub(crate) fn nal(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut zeros = 0;
        for byte in self.bytes() {
            if zeros >= 2 && byte <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if byte == 0 { zeros + 1 } else { 0 };
            out.push(byte);
        }
        out
    }
}

/// Bytes from hexadecimal digits, for test vectors.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn hex(digits: &str) -> Vec<u8> {
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_fixed_and_exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 | 0000 (pad)
        // ue: 0, 1, 2, 3, 4  -> bits: 1 010 011 00100 00101
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        assert_eq!(r.ue().unwrap(), 4);
        let mut r = BitReader::new(&data, "test");
        assert_eq!(r.se().unwrap(), 0);
        assert_eq!(r.se().unwrap(), 1);
        assert_eq!(r.se().unwrap(), -1);
        assert_eq!(r.se().unwrap(), 2);
        assert_eq!(r.se().unwrap(), -2);
        let mut r = BitReader::new(&[0xAB, 0xCD], "test");
        assert_eq!(r.bits(4).unwrap(), 0xA);
        assert_eq!(r.bits(12).unwrap(), 0xBCD);
        assert!(matches!(r.bit(), Err(MediaError::Truncated { .. })));
    }

    #[test]
    fn rejects_truncated_and_overlong_codes() {
        let mut r = BitReader::new(&[0x00, 0x00, 0x00, 0x00, 0x00], "test");
        assert!(matches!(r.ue(), Err(MediaError::Invalid { .. })));
        let mut r = BitReader::new(&[0x00, 0x01], "test");
        assert!(matches!(r.ue(), Err(MediaError::Truncated { .. })));
        let mut r = BitReader::new(&[], "test");
        assert!(r.bits(65).is_err());
        assert!(r.skip(1).is_err());
    }
}
