//! What an audited call was about, read from its protobuf request with the
//! descriptors of vfed's APIs: the target (device, account, grant...), the
//! purpose and destination when the request has them, and the request as
//! JSON with secrets removed.

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

/// The audit-relevant parts of a request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RequestSummary {
    /// Device, account, grant or request ID the call acts on.
    pub target: String,
    /// The `purpose` field, if any.
    pub purpose: String,
    /// The `requesting_agency` or `destination` field, if any.
    pub destination: String,
    /// The request as JSON (passwords removed, stream URL credentials masked).
    pub details: Value,
}

/// Decodes requests of vfed's gRPC methods.
#[derive(Clone, Debug)]
pub struct RequestDecoder {
    pool: DescriptorPool,
}

impl RequestDecoder {
    /// Over vfed's descriptor set.
    pub fn new() -> Result<Self, String> {
        DescriptorPool::decode(vfed_proto::FILE_DESCRIPTOR_SET)
            .map(|pool| RequestDecoder { pool })
            .map_err(|e| format!("vfed descriptor set: {e}"))
    }

    /// Summarizes the gRPC request body `frame` (5-byte prefix + message)
    /// of the method at `path` (`/package.Service/Method`).
    pub fn summarize(&self, path: &str, frame: &[u8]) -> RequestSummary {
        let Some(message) = frame.get(5..).filter(|_| frame.first() == Some(&0)) else {
            return RequestSummary::default();
        };
        let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
            return RequestSummary::default();
        };
        let Some(descriptor) = self
            .pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == method))
        else {
            return RequestSummary::default();
        };
        let Ok(decoded) = DynamicMessage::decode(descriptor.input(), message) else {
            return RequestSummary::default();
        };
        // Field names as in the .proto (snake_case), defaults left out.
        let options = SerializeOptions::new().use_proto_field_name(true);
        let mut details = decoded
            .serialize_with_options(serde_json::value::Serializer, &options)
            .unwrap_or(Value::Null);
        redact(&mut details);
        RequestSummary {
            target: find_str(&details, &["device_id", "id", "name", "key"]),
            purpose: find_str(&details, &["purpose"]),
            destination: find_str(&details, &["requesting_agency", "destination"]),
            details,
        }
    }
}

/// The first of `keys` found at the top level or one level down.
fn find_str(value: &Value, keys: &[&str]) -> String {
    let Some(object) = value.as_object() else {
        return String::new();
    };
    let children = object.values().filter_map(Value::as_object);
    for key in keys {
        if let Some(s) = object.get(*key).and_then(Value::as_str) {
            return s.to_owned();
        }
    }
    for child in children {
        for key in keys {
            if let Some(s) = child.get(*key).and_then(Value::as_str) {
                return s.to_owned();
            }
        }
    }
    String::new()
}

/// Removes passwords and masks URL credentials, recursively.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.to_ascii_lowercase().contains("password"));
            for v in map.values_mut() {
                redact(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(s) => {
            if let Some((scheme, rest)) = s.split_once("://")
                && let Some((_, host)) = rest.split_once('@')
                && !rest.split('/').next().unwrap_or("").is_empty()
                && rest.find('@') < rest.find('/').or(Some(rest.len()))
            {
                *s = format!("{scheme}://***@{host}");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use prost::Message as _;
    use vfed_proto::auth::v1 as pb;

    use super::*;

    #[test]
    fn summarizes_and_redacts() {
        let decoder = RequestDecoder::new().unwrap();
        let request = pb::CreateUserRequest {
            user: Some(pb::User {
                name: "alice".into(),
                role: pb::Role::Officer as i32,
                ..Default::default()
            }),
            password: "s3cret-s3cret".into(),
        };
        let mut frame = vec![0, 0, 0, 0, 0];
        request.encode(&mut frame).unwrap();
        let s = decoder.summarize("/vfed.auth.v1.Accounts/CreateUser", &frame);
        assert_eq!(s.target, "alice");
        let grant = vfed_proto::retrieval::v1::FileRequestRequest {
            request: Some(vfed_proto::retrieval::v1::RetrievalRequest {
                requesting_agency: "court".into(),
                purpose: "case 7".into(),
                device_ids: vec!["54050200001320000001".into()],
                ..Default::default()
            }),
        };
        let mut frame = vec![0, 0, 0, 0, 0];
        grant.encode(&mut frame).unwrap();
        let s2 = decoder.summarize("/vfed.retrieval.v1.Retrieval/FileRequest", &frame);
        assert_eq!(s2.destination, "court");
        assert_eq!(s2.purpose, "case 7");
        let text = s.details.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("ROLE_OFFICER"), "{text}");
    }

    #[test]
    fn masks_stream_credentials() {
        let mut v = serde_json::json!({"url": "rtsp://admin:pw@10.0.0.1/main", "plain": "rtsp://10.0.0.1/x"});
        redact(&mut v);
        assert_eq!(v["url"], "rtsp://***@10.0.0.1/main");
        assert_eq!(v["plain"], "rtsp://10.0.0.1/x");
    }
}
