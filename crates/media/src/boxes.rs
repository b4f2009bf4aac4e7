//! A tiny ISO BMFF box writer: boxes are nested with closures and their
//! sizes patched when each closes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::MediaError;

/// Writes boxes into one buffer.
#[derive(Debug, Default)]
pub(crate) struct BoxWriter {
    buf: BytesMut,
    /// Set when a box outgrew the 32-bit size field; reported by `finish`.
    oversized: bool,
}

impl BoxWriter {
    /// Writes a box of type `fourcc` whose body `body` writes.
    pub(crate) fn boxed(&mut self, fourcc: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.put_u32(0);
        self.buf.put_slice(fourcc);
        body(self);
        match u32::try_from(self.buf.len() - start) {
            Ok(size) => self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes()),
            Err(_) => self.oversized = true,
        }
    }

    /// Writes a full box (with version and 24-bit flags).
    pub(crate) fn full(
        &mut self,
        fourcc: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut Self),
    ) {
        self.boxed(fourcc, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            body(w);
        });
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites 4 bytes at `pos` (for offsets known only later).
    pub(crate) fn patch_u32(&mut self, pos: usize, value: u32) {
        if let Some(slot) = self.buf.get_mut(pos..pos + 4) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.put_u64(v);
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.put_slice(v);
    }

    /// `n` zero bytes.
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.put_bytes(0, n);
    }

    /// The unity transformation matrix of `mvhd`/`tkhd`.
    pub(crate) fn unity_matrix(&mut self) {
        for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }

    /// The finished bytes, or an error if a box exceeded 4 GiB.
    pub(crate) fn finish(self) -> Result<Bytes, MediaError> {
        if self.oversized {
            return Err(MediaError::unsupported("MP4 box", "larger than 4 GiB"));
        }
        Ok(self.buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn nests_and_sizes_boxes() {
        let mut w = BoxWriter::default();
        w.boxed(b"moov", |w| {
            w.full(b"mvhd", 1, 0x0203, |w| w.u16(7));
        });
        let out = w.finish().unwrap();
        assert_eq!(
            &out[..],
            &[
                0, 0, 0, 22, b'm', b'o', b'o', b'v', 0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 0, 2,
                3, 0, 7
            ]
        );
    }
}
