//! Input checks. Each refusal names the field (as the caller sent it, e.g.
//! `request.legal_document.sha256`), the rule and the requirement; nothing
//! is written before every field has passed.

use std::collections::BTreeSet;

use vfed_gbcode::GbCode;
use vfed_proto::retrieval::v1 as pb;

use crate::error::RetrievalError;
use crate::keys;
use crate::options::RetrievalOptions;
use crate::record::{Draft, LegalDocument, State};
use crate::time_text;

/// The most devices one request may name.
pub const MAX_DEVICES: usize = 100;
/// The longest purpose, reason and similar free text (characters).
pub const MAX_TEXT: usize = 1024;

/// The SHA-256 of zero bytes: a scan that is empty is no document.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A required one-line-or-more text field of at most `max` characters
/// without control characters other than newlines and tabs; trimmed.
fn text(
    field: &str,
    value: String,
    max: usize,
    requirement: &'static str,
) -> Result<String, RetrievalError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(RetrievalError::invalid(field, "is required", requirement));
    }
    if trimmed.chars().count() > max {
        return Err(RetrievalError::invalid(
            field,
            format!("must be at most {max} characters"),
            requirement,
        ));
    }
    if trimmed
        .chars()
        .any(|c| vfed_proto::bounds::is_forbidden(c) && c != '\n' && c != '\t')
    {
        return Err(RetrievalError::invalid(
            field,
            "must not contain control or bidirectional-override characters",
            requirement,
        ));
    }
    Ok(trimmed.to_owned())
}

/// A SHA-256 in hex (either case), returned lowercase.
fn sha256(field: &str, value: &str) -> Result<String, RetrievalError> {
    let value = value.trim();
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RetrievalError::invalid(
            field,
            "must be the SHA-256 of the scanned document: 64 hex digits",
            "R16",
        ));
    }
    let value = value.to_ascii_lowercase();
    if value == EMPTY_SHA256 {
        return Err(RetrievalError::invalid(
            field,
            "is the SHA-256 of an empty file: hash the scanned document",
            "R16",
        ));
    }
    Ok(value)
}

fn legal_document(doc: Option<pb::LegalDocument>) -> Result<LegalDocument, RetrievalError> {
    let doc = doc.ok_or_else(|| {
        RetrievalError::invalid(
            "request.legal_document",
            "is required: video is released only against a legal document (type, number, issuing authority, SHA-256 of the scan)",
            "R16",
        )
    })?;
    Ok(LegalDocument {
        kind: text("request.legal_document.type", doc.r#type, 64, "R16")?,
        number: text("request.legal_document.number", doc.number, 128, "R16")?,
        issuing_authority: text(
            "request.legal_document.issuing_authority",
            doc.issuing_authority,
            256,
            "R16",
        )?,
        sha256: sha256("request.legal_document.sha256", &doc.sha256)?,
    })
}

fn device_ids(ids: Vec<String>) -> Result<Vec<String>, RetrievalError> {
    if ids.is_empty() {
        return Err(RetrievalError::invalid(
            "request.device_ids",
            "must name at least one device",
            "R16",
        ));
    }
    if ids.len() > MAX_DEVICES {
        return Err(RetrievalError::invalid(
            "request.device_ids",
            format!(
                "must name at most {MAX_DEVICES} devices (got {}); file several requests",
                ids.len()
            ),
            "R16",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("request.device_ids[{i}]");
        GbCode::parse_device(id)
            .map_err(|e| RetrievalError::invalid(field.as_str(), e.to_string(), "R4"))?;
        if !seen.insert(id.as_str()) {
            return Err(RetrievalError::invalid(
                field,
                format!("device {id} is named twice"),
                "R16",
            ));
        }
    }
    Ok(ids)
}

fn time_range(from: i64, to: i64, now: i64) -> Result<(i64, i64), RetrievalError> {
    if from <= 0 {
        return Err(RetrievalError::invalid(
            "request.from_unix",
            "is required: the start of the recorded period (unix seconds)",
            "R16",
        ));
    }
    if to <= from {
        return Err(RetrievalError::invalid(
            "request.to_unix",
            format!("must be after request.from_unix ({})", time_text::at(from)),
            "R16",
        ));
    }
    if to > now {
        return Err(RetrievalError::invalid(
            "request.to_unix",
            format!(
                "must not be in the future (now is {}): only recorded video is released",
                time_text::at(now)
            ),
            "R16",
        ));
    }
    Ok((from, to))
}

fn expiry(expires: i64, now: i64, options: &RetrievalOptions) -> Result<i64, RetrievalError> {
    if expires == 0 {
        return Ok(now.saturating_add(options.default_expiry_secs()));
    }
    let latest = now.saturating_add(options.max_expiry_secs());
    if expires <= now {
        return Err(RetrievalError::invalid(
            "request.expires_unix",
            format!(
                "must be in the future (now is {}), or 0 for the default",
                time_text::at(now)
            ),
            "R16",
        ));
    }
    if expires > latest {
        return Err(RetrievalError::invalid(
            "request.expires_unix",
            format!(
                "must be at most retrieval.max_expiry ({} s) after filing, i.e. by {}",
                options.max_expiry_secs(),
                time_text::at(latest)
            ),
            "R16",
        ));
    }
    Ok(expires)
}

/// Refuses a field the server sets, when the caller set it.
fn server_set(field: &str, is_set: bool) -> Result<(), RetrievalError> {
    if is_set {
        return Err(RetrievalError::invalid(
            field,
            "is set by the server; leave it empty",
            "R16",
        ));
    }
    Ok(())
}

/// A filed request's fields at `now`, as a [`Draft`]. Whether its devices
/// are in this node's catalog is checked by the service.
pub fn draft(
    request: Option<pb::RetrievalRequest>,
    now: i64,
    options: &RetrievalOptions,
) -> Result<Draft, RetrievalError> {
    let r = request.ok_or_else(|| RetrievalError::invalid("request", "is required", "R16"))?;
    server_set("request.id", !r.id.is_empty())?;
    server_set("request.state", r.state != 0)?;
    server_set("request.filed_by", r.filed_by.is_some())?;
    server_set("request.cosigned_by", r.cosigned_by.is_some())?;
    server_set("request.approved_by", r.approved_by.is_some())?;
    server_set("request.filed_unix", r.filed_unix != 0)?;
    server_set("request.rejected_reason", !r.rejected_reason.is_empty())?;
    server_set("request.revision", r.revision != 0)?;
    let legal_document = legal_document(r.legal_document)?;
    let purpose = text("request.purpose", r.purpose, MAX_TEXT, "R14.5")?;
    let requesting_agency = text(
        "request.requesting_agency",
        r.requesting_agency,
        256,
        "R14.5",
    )?;
    let device_ids = device_ids(r.device_ids)?;
    let (from_unix, to_unix) = time_range(r.from_unix, r.to_unix, now)?;
    let expires_unix = expiry(r.expires_unix, now, options)?;
    Ok(Draft {
        legal_document,
        purpose,
        requesting_agency,
        device_ids,
        from_unix,
        to_unix,
        expires_unix,
    })
}

/// A request ID in field `field`.
pub fn id(field: &str, id: &str) -> Result<(), RetrievalError> {
    if keys::is_id(id) {
        Ok(())
    } else {
        Err(RetrievalError::invalid(
            field,
            format!(
                "{:?} is not a retrieval request ID (13 digits, '-', 8 lowercase hex digits, e.g. 1764280000000-3fa2b1c9)",
                id.chars().take(40).collect::<String>()
            ),
            "R16",
        ))
    }
}

/// A rejection's reason.
pub fn reason(reason: String) -> Result<String, RetrievalError> {
    text("reason", reason, MAX_TEXT, "R16")
}

/// A listing's state filter: `None` for unspecified (every state).
pub fn state_filter(state: i32) -> Result<Option<State>, RetrievalError> {
    match pb::State::try_from(state) {
        Ok(pb::State::Unspecified) => Ok(None),
        Ok(pb::State::Filed) => Ok(Some(State::Filed)),
        Ok(pb::State::Cosigned) => Ok(Some(State::Cosigned)),
        Ok(pb::State::Approved) => Ok(Some(State::Approved)),
        Ok(pb::State::Rejected) => Ok(Some(State::Rejected)),
        Ok(pb::State::Expired) => Ok(Some(State::Expired)),
        Err(_) => Err(RetrievalError::invalid(
            "state",
            format!("unknown state {state}"),
            "R16",
        )),
    }
}

/// A listing's limit: 0 = 100, at most 1000.
pub fn limit(limit: u32) -> Result<usize, RetrievalError> {
    match limit {
        0 => Ok(100),
        n @ 1..=1000 => Ok(n as usize),
        _ => Err(RetrievalError::invalid(
            "limit",
            "must be at most 1000 (0 for 100)",
            "R16",
        )),
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
