//! A simulated GB/T 28181 camera's encoder output for the `gb28181-rs`
//! device peer (feature `device-sim`): an H.264 Annex-B stream cut into the
//! access units gb28181-rs muxes into PS, as a camera's encoder hands them.
//! Used by the integration tests and `vfed demo`'s simulated device.

use std::time::Instant;

use gb28181_rs::{AccessUnit, Nalu};

/// The access units of an H.264 Annex-B stream (a unit ends at each coded
/// slice; SPS, PPS, SEI and AUD join the slice after them).
pub fn h264_access_units(annexb: &[u8]) -> Result<Vec<AccessUnit>, vfed_media::MediaError> {
    let mut units = Vec::new();
    let mut pending: Vec<Nalu> = Vec::new();
    for nal in vfed_media::nal::split_annexb(annexb)? {
        let Some(&header) = nal.first() else {
            continue;
        };
        let nalu_type = header & 0x1f;
        let mut data = vec![0, 0, 0, 1];
        data.extend_from_slice(nal);
        pending.push(Nalu {
            nalu_type,
            data,
            is_idr: nalu_type == 5,
            is_sps: nalu_type == 7,
            is_pps: nalu_type == 8,
            is_aud: nalu_type == 9,
        });
        if matches!(nalu_type, 1 | 5) {
            let nalus = std::mem::take(&mut pending);
            units.push(AccessUnit {
                is_key_frame: nalus.iter().any(|n| n.is_idr),
                nalus,
                timestamp: Instant::now(),
            });
        }
    }
    Ok(units)
}
