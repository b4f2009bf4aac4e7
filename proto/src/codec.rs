//! The codec every vfed service and client uses: prost's, except that bytes
//! which are not a valid message (a `string` field that is not UTF-8, a
//! truncated field) are the caller's fault, so they are refused with
//! `INVALID_ARGUMENT` naming the message and field, not tonic's `INTERNAL`.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// prost encoding, `INVALID_ARGUMENT` on undecodable input.
#[derive(Debug, Clone)]
pub struct WireCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder { _pd: PhantomData }
    }
}

/// Decodes `U`; see [`WireCodec`].
#[derive(Debug, Clone)]
pub struct WireDecoder<U> {
    _pd: PhantomData<U>,
}

impl<U: Message + Default> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| refusal(&e))
    }
}

/// prost names the message and field (`DeviceSpec.name: invalid string
/// value: data is not UTF-8 encoded`); the status says so.
fn refusal(error: &prost::DecodeError) -> Status {
    let text = error.to_string();
    let detail = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    Status::invalid_argument(format!(
        "{detail} (every string field must be valid UTF-8 and every message valid protobuf); nothing was changed"
    ))
}
