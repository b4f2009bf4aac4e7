//! The `Streams` gRPC service: what streams this node carries, with their
//! metadata and live viewer counts.

use tonic::{Request, Response, Status};
use vfed_proto::relay::v1::streams_server::Streams;
use vfed_proto::relay::v1::{
    GetStreamRequest, ListStreamsRequest, ListStreamsResponse, StreamInfo,
};

use crate::{Relay, RelayError, StreamKey};

/// The `Streams` service over a relay.
#[derive(Clone)]
pub struct StreamsService {
    relay: Relay,
}

impl StreamsService {
    /// A service reporting `relay`'s streams.
    pub fn new(relay: Relay) -> Self {
        Self { relay }
    }
}

#[tonic::async_trait]
impl Streams for StreamsService {
    async fn list_streams(
        &self,
        _request: Request<ListStreamsRequest>,
    ) -> Result<Response<ListStreamsResponse>, Status> {
        Ok(Response::new(ListStreamsResponse {
            streams: self.relay.streams(),
        }))
    }

    async fn get_stream(
        &self,
        request: Request<GetStreamRequest>,
    ) -> Result<Response<StreamInfo>, Status> {
        let key = StreamKey::parse(&request.into_inner().key)?.to_string();
        self.relay
            .streams()
            .into_iter()
            .find(|s| s.key == key)
            .map(Response::new)
            .ok_or_else(|| RelayError::NotFound(key).into())
    }
}
