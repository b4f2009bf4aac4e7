//! The permission matrix over real gRPC: every role x every RPC of the
//! permission table, expected allow/deny computed from the table, checked
//! against a real node over mutual TLS with real logins. Also: every RPC of
//! vfed's protos has a row, callers without credentials are refused, and
//! refusals are in the audit log.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use prost_reflect::DescriptorPool;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};
use vfed_auth::table::{Access, METHODS};
use vfed_auth::{Permission, Role};
use vfed_proto::auth::v1 as pb;
use vfed_tests::{AuthedChannel, NodeOptions, TestNode, TestPki, eventually};

/// Sends and receives raw message bytes (an empty message is a valid request
/// of every method: all fields default).
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Unary,
    ServerStreaming,
    Streaming,
}

fn pool() -> DescriptorPool {
    DescriptorPool::decode(vfed_proto::FILE_DESCRIPTOR_SET).unwrap()
}

/// Every vfed RPC, `/package.Service/Method`, with its shape.
fn vfed_methods() -> Vec<(String, Shape)> {
    pool()
        .services()
        .flat_map(|s| {
            s.methods()
                .map(|m| {
                    let shape = match (m.is_client_streaming(), m.is_server_streaming()) {
                        (false, false) => Shape::Unary,
                        (false, true) => Shape::ServerStreaming,
                        _ => Shape::Streaming,
                    };
                    (format!("/{}/{}", s.full_name(), m.name()), shape)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Calls `path` with an empty request and returns the status (Ok if the call succeeded).
async fn call<T>(channel: T, path: &str, shape: Shape) -> Status
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return Status::unavailable(format!("not ready: {}", e.into()));
    }
    let path: tonic::codegen::http::uri::PathAndQuery = path.parse().unwrap();
    let result = match shape {
        Shape::Unary => grpc
            .unary(tonic::Request::new(Bytes::new()), path, RawCodec)
            .await
            .map(|_| ()),
        Shape::ServerStreaming => match grpc
            .server_streaming(tonic::Request::new(Bytes::new()), path, RawCodec)
            .await
        {
            Ok(mut stream) => {
                // A refusal may come as the first item of the stream.
                match tokio::time::timeout(Duration::from_millis(200), stream.get_mut().message())
                    .await
                {
                    Ok(Err(status)) => Err(status),
                    _ => Ok(()),
                }
            }
            Err(status) => Err(status),
        },
        Shape::Streaming => {
            let outbound = futures::stream::iter(vec![Bytes::new()]);
            match grpc
                .streaming(tonic::Request::new(outbound), path, RawCodec)
                .await
            {
                Ok(mut stream) => match tokio::time::timeout(
                    Duration::from_millis(200),
                    stream.get_mut().message(),
                )
                .await
                {
                    Ok(Err(status)) => Err(status),
                    _ => Ok(()),
                },
                Err(status) => Err(status),
            }
        }
    };
    match result {
        Ok(()) => Status::ok(""),
        Err(status) => status,
    }
}

const ROLES: [(Role, pb::Role); 6] = [
    (Role::Admin, pb::Role::Admin),
    (Role::Operator, pb::Role::Operator),
    (Role::DutyMonitor, pb::Role::DutyMonitor),
    (Role::Officer, pb::Role::Officer),
    (Role::Auditor, pb::Role::Auditor),
    (Role::DepartmentViewer, pb::Role::DepartmentViewer),
];

#[test]
fn every_vfed_rpc_has_a_row_in_the_permission_table() {
    for (path, _) in vfed_methods() {
        assert!(
            vfed_auth::table::method_rule(&path).is_some(),
            "{path} has no row in services/auth/src/table.rs: add one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_times_every_rpc_over_real_grpc() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new("54050200002000000001", "county"))
        .await
        .unwrap();
    let mut channels: Vec<(Role, AuthedChannel)> = Vec::new();
    for (role, proto) in ROLES {
        let name = format!("u-{}", role.name());
        channels.push((role, node.user_channel(&pki, &name, proto).await.unwrap()));
    }
    let shapes: std::collections::HashMap<String, Shape> = vfed_methods().into_iter().collect();
    let mut checked = 0;
    for rule in METHODS.iter().filter(|r| !r.path.ends_with('/')) {
        let shape = shapes
            .get(rule.path)
            .copied()
            .unwrap_or_else(|| panic!("table row {} names no vfed RPC", rule.path));
        for (role, channel) in &channels {
            let status = call(channel.clone(), rule.path, shape).await;
            let expect_allowed = match rule.access {
                Access::Public | Access::Authenticated => true,
                Access::Needs(permission) => role.allows(permission),
            };
            if expect_allowed {
                assert!(
                    !matches!(
                        status.code(),
                        Code::PermissionDenied | Code::Unauthenticated
                    ) || !status.message().contains("needs permission"),
                    "{role} on {}: expected allowed, got {status:?}",
                    rule.path
                );
                assert_ne!(
                    status.code(),
                    Code::Unauthenticated,
                    "{role} on {}: {status:?}",
                    rule.path
                );
            } else {
                let Access::Needs(permission) = rule.access else {
                    unreachable!()
                };
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{role} on {}: expected denied, got {status:?}",
                    rule.path
                );
                assert!(
                    status.message().contains(permission.name())
                        && status.message().contains(permission.requirement()),
                    "{role} on {}: the refusal must name {} and {}: {}",
                    rule.path,
                    permission.name(),
                    permission.requirement(),
                    status.message()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 6 * 40, "only {checked} role x RPC pairs checked");

    // The refusals are in the node's audit log.
    let refusals = eventually(
        "refusals in the audit log",
        Duration::from_secs(10),
        || async {
            let n = node
                .audit_records()
                .await?
                .iter()
                .filter(|r| {
                    r.actor == "user/u-department-viewer"
                        && r.action == "device.register"
                        && matches!(r.outcome, vfed_audit::Outcome::Refused { .. })
                })
                .count();
            Ok((n > 0).then_some(n))
        },
    )
    .await
    .unwrap();
    assert!(refusals >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_valid_credentials_are_unauthenticated() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new("54050200002000000001", "county"))
        .await
        .unwrap();
    // A tool certificate with no account behind it.
    let material = pki
        .material(&vfed_pki::Identity::tool("stranger").unwrap())
        .unwrap();
    let expect = vfed_pki::ServerExpectation::Exactly(
        vfed_pki::Identity::node("54050200002000000001").unwrap(),
    );
    let config = vfed_pki::client_config(&material, expect, vfed_pki::GRPC_ALPN).unwrap();
    let stranger: Channel =
        vfed_pki::channel(&format!("https://{}", node.grpc_addr), config).unwrap();
    let forged = node.channel_as(&pki, "vfed1.e30.AAAA").unwrap();
    for (path, shape) in vfed_methods() {
        let rule = vfed_auth::table::method_rule(&path).unwrap();
        if rule.access == Access::Public {
            continue;
        }
        for (who, status) in [
            ("no account", call(stranger.clone(), &path, shape).await),
            ("forged token", call(forged.clone(), &path, shape).await),
        ] {
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{who} on {path}: {status:?}"
            );
        }
    }
    // Login is public; a wrong password is refused without saying which part was wrong.
    let status = call(
        stranger.clone(),
        "/vfed.auth.v1.Accounts/Login",
        Shape::Unary,
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let _ = Permission::ALL;
}
