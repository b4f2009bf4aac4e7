//! The permission matrix over real gRPC: every role x every guarded RPC,
//! against an expected matrix written from the regulation in this file (not
//! taken from the table the layer enforces). An allowed call must reach its
//! handler (its own answer to an empty request, not merely "no permission
//! message"); a refused one must be refused by the layer citing the
//! requirement, and the audit log must hold exactly one refusal record for
//! each. Also: every RPC of vfed's protos has a row, and callers without an
//! account or with a forged token are refused everywhere.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use prost_reflect::DescriptorPool;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};
use vfed_auth::table::{Access, METHODS};
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

/// The roles, in the column order of [`EXPECTED`].
const ROLES: [(&str, pb::Role); 6] = [
    ("admin", pb::Role::Admin),
    ("operator", pb::Role::Operator),
    ("duty-monitor", pb::Role::DutyMonitor),
    ("officer", pb::Role::Officer),
    ("auditor", pb::Role::Auditor),
    ("department-viewer", pb::Role::DepartmentViewer),
];

/// Who may call what, written from the regulation (`REQUIREMENTS.md`) and
/// reviewed row by row, NOT computed from the permission table or
/// `Role::allows` that the layer enforces: a wrong row there fails here.
///
/// Columns: admin, operator, duty monitor, officer, auditor, department
/// viewer (`Y` allowed, `.` refused); then the requirement a refusal must
/// cite; then why.
#[rustfmt::skip]
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    // Accounts (R14.1 staff on record, R15.1 every access authorized).
    ("/vfed.auth.v1.Accounts/WhoAmI",            "Y Y Y Y Y Y", "-",     "R15.1: anyone signed in may see who they are"),
    ("/vfed.auth.v1.Accounts/IssueToken",        "Y Y Y Y Y Y", "-",     "R15.1: a token for oneself, for players"),
    ("/vfed.auth.v1.Accounts/CreateUser",        "Y . . . . .", "R15.1", "R14.1/R15.1: only the platform's administrators manage accounts"),
    ("/vfed.auth.v1.Accounts/UpdateUser",        "Y . . . . .", "R15.1", "R15.1: as above"),
    ("/vfed.auth.v1.Accounts/RecordTraining",    "Y . . . . .", "R15.1", "R14.1: training records are kept by administrators"),
    ("/vfed.auth.v1.Accounts/UnlockUser",        "Y . . . . .", "R15.1", "R15.1: lifting a lockout is account management"),
    ("/vfed.auth.v1.Accounts/GetUser",           "Y . . . Y .", "R15.1", "R14.1: auditors check who is on record and trained"),
    ("/vfed.auth.v1.Accounts/ListUsers",         "Y . . . Y .", "R15.1", "R14.1: as above"),
    // Registry (R8, R9, R11, R12 device records; R14.3 health).
    ("/vfed.registry.v1.Registry/RegisterDevice",     "Y Y . . . .", "R15.1", "R9/R12: devices are filed by platform staff; auditors change nothing"),
    ("/vfed.registry.v1.Registry/UpdateDevice",       "Y Y . . . .", "R15.1", "R11/R12: as above"),
    ("/vfed.registry.v1.Registry/DecommissionDevice", "Y Y . . . .", "R15.1", "R18.11: as above"),
    ("/vfed.registry.v1.Registry/GetDevice",          "Y Y Y Y Y .", "R15.1", "R14.3: staff and auditors read records; departments see only granted feeds (R13)"),
    ("/vfed.registry.v1.Registry/ListDevices",        "Y Y Y Y Y .", "R15.1", "as above"),
    ("/vfed.registry.v1.Registry/GetCatalogTree",     "Y Y Y Y Y .", "R15.1", "as above"),
    ("/vfed.registry.v1.Registry/ListOverdueFilings", "Y Y Y Y Y .", "R15.1", "R12: as above"),
    ("/vfed.registry.v1.Registry/ListMissingSignage", "Y Y Y Y Y .", "R15.1", "R8: as above"),
    ("/vfed.registry.v1.Registry/ListOutages",        "Y Y Y Y Y .", "R15.1", "R14.3: as above"),
    ("/vfed.registry.v1.Registry/Keepalive",          "Y Y . . . .", "R14.3", "R14.3: device health is reported by the platform's gateways (operators)"),
    // Removal and relocation (R18.11): operators request, report and complete; the approval
    // passes the layer with devices.write and the handler refuses anyone but an admin other
    // than the requester, naming R18.11 (tests/tests/removal.rs).
    ("/vfed.registry.v1.Removals/RequestRemoval",    "Y Y . . . .", "R15.1", "R18.11: a unit's operator requests; auditors and officers change nothing"),
    ("/vfed.registry.v1.Removals/RequestRelocation", "Y Y . . . .", "R15.1", "R18.11: as above"),
    ("/vfed.registry.v1.Removals/ApproveRemoval",    "Y Y . . . .", "R15.1", "R18.11: admins approve (operators are refused by the handler, R18.11)"),
    ("/vfed.registry.v1.Removals/ReportRemoval",     "Y Y . . . .", "R15.1", "R18.11: the report to the filing police office is recorded by platform staff"),
    ("/vfed.registry.v1.Removals/CompleteRemoval",   "Y Y . . . .", "R15.1", "R18.11: as above"),
    ("/vfed.registry.v1.Removals/ListRemovals",      "Y Y Y Y Y .", "R15.1", "R18.11/R24: staff, police and auditors read the requests"),
    // GB/T 28181 discovered channels (R6.2, R7-R12 apply on adoption).
    ("/vfed.gb28181.v1.Discovered/ListDiscovered", "Y Y Y Y Y .", "R15.1", "R14.3: as the device records they become"),
    ("/vfed.gb28181.v1.Discovered/AdoptChannel",   "Y Y . . . .", "R15.1", "R9/R12: adopting files a device, as RegisterDevice"),
    // Federation (R6.1, R18.4): nodes only.
    ("/vfed.federation.v1.Federation/Link",   ". . . . . .", "R18.4", "R6.1/R18.4: only a configured child node links"),
    ("/vfed.federation.v1.Node/GetNodeInfo",  "Y Y Y . Y .", "R15.1", "R6.1: staff who run or watch the platform, and auditors"),
    ("/vfed.federation.v1.Node/ListLinks",    "Y Y Y . Y .", "R15.1", "as above"),
    // Streams (R13, R14.3).
    ("/vfed.relay.v1.Streams/ListStreams", "Y Y Y Y . Y", "R15.1", "R13: whoever may watch; auditors watch no video"),
    ("/vfed.relay.v1.Streams/GetStream",   "Y Y Y Y . Y", "R15.1", "as above"),
    // Sharing (R13).
    ("/vfed.sharing.v1.Sharing/CreateDepartment", "Y . . . . .", "R13", "R13: grants are made by the city's administrators"),
    ("/vfed.sharing.v1.Sharing/CreateGrant",      "Y . . . . .", "R13", "R13: as above"),
    ("/vfed.sharing.v1.Sharing/RevokeGrant",      "Y . . . . .", "R13", "R13: as above"),
    ("/vfed.sharing.v1.Sharing/SetGrantValidity", "Y . . . . .", "R13", "R13: as above"),
    ("/vfed.sharing.v1.Sharing/ListDepartments",  "Y . . . Y Y", "R13", "R13: departments see their grants; auditors check them"),
    ("/vfed.sharing.v1.Sharing/ListGrants",       "Y . . . Y Y", "R13", "R13: as above"),
    // Audit (R14.5, R18.6).
    ("/vfed.audit.v1.Audit/Tail",                 "Y . . . Y .", "R14.5", "R14.5: the log is read by auditors and administrators"),
    ("/vfed.audit.v1.Audit/GetCheckpoint",        "Y . . . Y .", "R14.5", "R18.6: as above"),
    ("/vfed.audit.v1.Audit/GetInclusionProof",    "Y . . . Y .", "R14.5", "R18.6: as above"),
    ("/vfed.audit.v1.Audit/GetConsistencyProof",  "Y . . . Y .", "R14.5", "R18.6: as above"),
    ("/vfed.audit.v1.Audit/ListChildCheckpoints", "Y . . . Y .", "R14.5", "R18.6: as above"),
    ("/vfed.audit.v1.Audit/SubmitCheckpoint",     ". . . . . .", "R18.4", "R18.6: only a child node submits its checkpoints"),
    // Retrieval (R16, R17).
    ("/vfed.retrieval.v1.Retrieval/FileRequest",  ". . . Y . .", "R16", "R16: officers with credentials file requests"),
    ("/vfed.retrieval.v1.Retrieval/CoSign",       ". . . Y . .", "R16", "R16: a second officer co-signs"),
    ("/vfed.retrieval.v1.Retrieval/Approve",      "Y . . . . .", "R16", "R16: the custodian (an administrator) approves"),
    ("/vfed.retrieval.v1.Retrieval/Reject",       "Y . . . . .", "R16", "R16: as above"),
    ("/vfed.retrieval.v1.Retrieval/GetRequest",   "Y . . Y Y .", "R16", "R16/R14.5: the parties and auditors read requests"),
    ("/vfed.retrieval.v1.Retrieval/ListRequests", "Y . . Y Y .", "R16", "R16/R14.5: as above"),
    ("/vfed.retrieval.v1.Retrieval/OpenAccess",   ". . . Y . .", "R16", "R16/R17: only the officers who signed an approved request"),
    // Violations (R24): the police act on them; the handler refuses deadlines and closing by
    // anyone but an officer, naming R24 (tests/tests/violations.rs).
    ("/vfed.violations.v1.Violations/ListViolations", "Y Y Y Y Y .", "R15.1", "R24: the police and the platform's staff see what must be put right; auditors check it"),
    ("/vfed.violations.v1.Violations/SetDeadline",    "Y Y Y Y Y .", "R15.1", "R24: officers set deadlines (other roles are refused by the handler, R24)"),
    ("/vfed.violations.v1.Violations/CloseViolation", "Y Y Y Y Y .", "R15.1", "R24: as above"),
    // Archive (R14.6, R18.7): what is recorded and the gaps, never the video itself.
    ("/vfed.archive.v1.Archive/ListSpans", "Y Y Y . Y .", "R14.6", "R14.6/R14.3: staff who run or watch the platform see recording gaps; auditors check 30-day continuity; officers get recorded video only under R16, departments only granted feeds (R13)"),
    ("/vfed.archive.v1.Archive/Status",    "Y Y Y . Y .", "R14.6", "R14.6: as above"),
    ("/vfed.archive.v1.Evidence/Export",   ". . . Y . .", "R16",   "R16/R17: recorded video leaves only as the evidence of an approved request, to the officers who signed it"),
];

/// What each handler answers to an empty request (every field default):
/// the proof that an allowed call reached its handler. A code and a
/// fragment of the handler's own message; `Ok` needs no fragment. Methods
/// not listed (reads whose answer depends on the caller) must at least not
/// be refused by the layer.
#[rustfmt::skip]
const HANDLER_ANSWERS: &[(&str, Code, &str)] = &[
    ("/vfed.auth.v1.Accounts/WhoAmI", Code::Ok, ""),
    ("/vfed.auth.v1.Accounts/IssueToken", Code::Ok, ""),
    ("/vfed.auth.v1.Accounts/CreateUser", Code::InvalidArgument, "user"),
    ("/vfed.auth.v1.Accounts/UpdateUser", Code::InvalidArgument, "name"),
    ("/vfed.auth.v1.Accounts/RecordTraining", Code::InvalidArgument, "training"),
    ("/vfed.auth.v1.Accounts/UnlockUser", Code::InvalidArgument, "name"),
    ("/vfed.auth.v1.Accounts/GetUser", Code::InvalidArgument, "name"),
    ("/vfed.auth.v1.Accounts/ListUsers", Code::Ok, ""),
    ("/vfed.registry.v1.Registry/RegisterDevice", Code::InvalidArgument, "spec: is required"),
    ("/vfed.registry.v1.Registry/UpdateDevice", Code::InvalidArgument, "spec: is required"),
    ("/vfed.registry.v1.Registry/DecommissionDevice", Code::InvalidArgument, "id: is required"),
    ("/vfed.registry.v1.Registry/GetDevice", Code::InvalidArgument, "id: is required"),
    ("/vfed.registry.v1.Registry/Keepalive", Code::InvalidArgument, "device_ids"),
    ("/vfed.registry.v1.Removals/RequestRemoval", Code::InvalidArgument, "device_id: is required"),
    ("/vfed.registry.v1.Removals/RequestRelocation", Code::InvalidArgument, "device_id: is required"),
    ("/vfed.registry.v1.Removals/ApproveRemoval", Code::InvalidArgument, "is not a removal request ID"),
    ("/vfed.registry.v1.Removals/ReportRemoval", Code::InvalidArgument, "is not a removal request ID"),
    ("/vfed.registry.v1.Removals/CompleteRemoval", Code::InvalidArgument, "is not a removal request ID"),
    ("/vfed.registry.v1.Removals/ListRemovals", Code::Ok, ""),
    ("/vfed.violations.v1.Violations/ListViolations", Code::Ok, ""),
    ("/vfed.gb28181.v1.Discovered/ListDiscovered", Code::Ok, ""),
    ("/vfed.gb28181.v1.Discovered/AdoptChannel", Code::InvalidArgument, "channel_id: is required"),
    ("/vfed.relay.v1.Streams/GetStream", Code::InvalidArgument, "stream key"),
    ("/vfed.sharing.v1.Sharing/CreateDepartment", Code::InvalidArgument, "department: is required"),
    ("/vfed.sharing.v1.Sharing/CreateGrant", Code::InvalidArgument, "grant: is required"),
    ("/vfed.sharing.v1.Sharing/RevokeGrant", Code::InvalidArgument, "is not a grant ID"),
    ("/vfed.sharing.v1.Sharing/SetGrantValidity", Code::InvalidArgument, "is not a grant ID"),
    ("/vfed.retrieval.v1.Retrieval/FileRequest", Code::InvalidArgument, "request: is required"),
    ("/vfed.retrieval.v1.Retrieval/CoSign", Code::InvalidArgument, "is not a retrieval request ID"),
    ("/vfed.retrieval.v1.Retrieval/Approve", Code::InvalidArgument, "is not a retrieval request ID"),
    ("/vfed.retrieval.v1.Retrieval/Reject", Code::InvalidArgument, "reason: is required"),
    ("/vfed.retrieval.v1.Retrieval/GetRequest", Code::InvalidArgument, "is not a retrieval request ID"),
    ("/vfed.retrieval.v1.Retrieval/OpenAccess", Code::InvalidArgument, "is not a retrieval request ID"),
    ("/vfed.archive.v1.Archive/ListSpans", Code::InvalidArgument, "is not a 20-digit GB/T 28181 device ID"),
    ("/vfed.archive.v1.Archive/Status", Code::Ok, ""),
    ("/vfed.archive.v1.Evidence/Export", Code::InvalidArgument, "is not a retrieval request ID"),
];

/// The handler's expected answer to an empty request at `path`, if listed.
fn handler_answer(path: &str) -> Option<(Code, &'static str)> {
    HANDLER_ANSWERS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, code, fragment)| (*code, *fragment))
}

fn layer_refusal(status: &Status) -> bool {
    status.code() == Code::Unauthenticated
        || (status.code() == Code::PermissionDenied
            && status.message().contains("needs permission"))
}

#[test]
fn every_vfed_rpc_has_a_row_in_the_permission_table() {
    for (path, _) in vfed_methods() {
        assert!(
            vfed_auth::table::method_rule(&path).is_some(),
            "{path} has no row in services/auth/src/table.rs: add one"
        );
    }
}

#[test]
fn the_expected_matrix_covers_every_guarded_rpc() {
    let guarded: Vec<&str> = METHODS
        .iter()
        .filter(|r| !r.path.ends_with('/') && r.access != Access::Public)
        .map(|r| r.path)
        .collect();
    for path in &guarded {
        assert!(
            EXPECTED.iter().any(|(p, ..)| p == path),
            "{path} is guarded but has no reviewed row in EXPECTED: add one, citing the requirement"
        );
    }
    for (path, row, ..) in EXPECTED {
        assert!(
            guarded.contains(path),
            "{path}: EXPECTED names no guarded RPC"
        );
        assert_eq!(row.split(' ').count(), ROLES.len(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_times_every_rpc_over_real_grpc() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new("54050200002000000001", "county"))
        .await
        .unwrap();
    let mut channels: Vec<(&str, AuthedChannel)> = Vec::new();
    for (role, proto) in ROLES {
        let name = format!("u-{role}");
        channels.push((role, node.user_channel(&pki, &name, proto).await.unwrap()));
    }
    let shapes: std::collections::HashMap<String, Shape> = vfed_methods().into_iter().collect();
    let mut wrong = Vec::new();
    let mut answers = Vec::new();
    let mut expected_refusals: Vec<(String, String, String)> = Vec::new();
    for (path, row, requirement, _why) in EXPECTED {
        let shape = shapes
            .get(*path)
            .copied()
            .unwrap_or_else(|| panic!("{path} names no vfed RPC"));
        for ((role, channel), cell) in channels.iter().zip(row.split(' ')) {
            let status = call(channel.clone(), path, shape).await;
            let actor = format!("user/u-{role}");
            if cell == "Y" {
                if layer_refusal(&status) {
                    wrong.push(format!(
                        "{role} on {path}: expected allowed, refused: {status:?}"
                    ));
                    continue;
                }
                answers.push(format!(
                    "{path} {role}: {:?} {}",
                    status.code(),
                    status.message()
                ));
                if let Some((code, fragment)) = handler_answer(path)
                    && (status.code() != code || !status.message().contains(fragment))
                {
                    wrong.push(format!(
                        "{role} on {path}: expected the handler's {code:?} naming {fragment:?}, got {status:?}"
                    ));
                }
            } else {
                let refused = status.code() == Code::PermissionDenied
                    && status.message().contains("needs permission")
                    && status.message().contains(&format!("({requirement})"))
                    && status.message().contains(&actor);
                if !refused {
                    wrong.push(format!(
                        "{role} on {path}: expected PERMISSION_DENIED citing {requirement} and naming {actor}, got {status:?}"
                    ));
                }
                expected_refusals.push((actor, (*path).to_owned(), (*requirement).to_owned()));
            }
        }
    }
    for a in &answers {
        eprintln!("ANSWER {a}");
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Exactly one refusal record per refused call, naming who, what and why.
    expected_refusals.sort();
    let logged = || async {
        let mut logged: Vec<(String, String, String)> = node
            .audit_records()
            .await?
            .into_iter()
            .filter_map(|r| match r.outcome {
                vfed_audit::Outcome::Refused {
                    reason,
                    requirement,
                } if reason.contains("needs permission") && r.actor.starts_with("user/u-") => {
                    Some((r.actor, r.target, requirement))
                }
                _ => None,
            })
            .collect();
        logged.sort();
        anyhow::Ok(logged)
    };
    let _ = eventually("every refusal audited", Duration::from_secs(10), || async {
        Ok((logged().await?.len() >= expected_refusals.len()).then_some(()))
    })
    .await;
    assert_eq!(logged().await.unwrap(), expected_refusals);
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
}
