//! Length-prefixed control messages.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use vfed_proto::relay::v1::ControlMessage;

use super::{Decoded, WireError};

/// The largest control message accepted (parameter sets are small).
pub const MAX_CONTROL_MESSAGE: usize = 64 * 1024;

/// Encodes a control message with its length prefix.
pub fn encode_control(message: &ControlMessage) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer with enough capacity cannot fail.
    let _ = message.encode(&mut buf);
    buf.freeze()
}

/// Decodes one control message from the front of `buf`.
pub fn decode_control(buf: &[u8]) -> Result<Decoded<ControlMessage>, WireError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(Decoded::NeedMore(4));
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len > MAX_CONTROL_MESSAGE {
        return Err(WireError::TooLarge {
            what: "control message",
            len: len as u64,
            max: MAX_CONTROL_MESSAGE as u64,
        });
    }
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(Decoded::NeedMore(4 + len));
    };
    let message = ControlMessage::decode(body).map_err(|e| WireError::Malformed {
        what: "control message",
        reason: e.to_string(),
    })?;
    if message.message.is_none() {
        return Err(WireError::Malformed {
            what: "control message",
            reason: "empty or unknown message".into(),
        });
    }
    Ok(Decoded::Value(message, 4 + len))
}

#[cfg(test)]
mod tests {
    use vfed_proto::relay::v1::control_message::Message as M;
    use vfed_proto::relay::v1::{Subscribe, Unsubscribe};

    use super::*;

    #[test]
    fn round_trip_and_partial_input() {
        let message = ControlMessage {
            message: Some(M::Subscribe(Subscribe {
                request_id: 7,
                key: "a/main".into(),
                trace_context: [(
                    "traceparent".to_owned(),
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
                )]
                .into(),
            })),
        };
        let bytes = encode_control(&message);
        for cut in 0..bytes.len() {
            assert!(
                matches!(decode_control(&bytes[..cut]), Ok(Decoded::NeedMore(_))),
                "cut {cut}"
            );
        }
        assert_eq!(
            decode_control(&bytes),
            Ok(Decoded::Value(message, bytes.len()))
        );
    }

    #[test]
    fn refuses_oversize_and_garbage() {
        let huge = [0xff, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            decode_control(&huge),
            Err(WireError::TooLarge { .. })
        ));
        let garbage = [0, 0, 0, 3, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode_control(&garbage),
            Err(WireError::Malformed { .. })
        ));
        let empty = encode_control(&ControlMessage { message: None });
        assert!(matches!(
            decode_control(&empty),
            Err(WireError::Malformed { .. })
        ));
        let unsub = encode_control(&ControlMessage {
            message: Some(M::Unsubscribe(Unsubscribe { request_id: 1 })),
        });
        assert!(matches!(decode_control(&unsub), Ok(Decoded::Value(..))));
    }
}
