//! Retrieval requests and grants as JSON (`-o json`: states as lowercase
//! names, every time as RFC 3339 next to its raw `*_unix`) and as text.

use serde::Serialize;
use vfed_proto::retrieval::v1 as pb;

use crate::render::key_values;
use crate::table::Table;
use crate::timefmt::{instant, now_ms, rfc3339};

/// `filed`, `cosigned`... or `unknown(<n>)`.
fn state_name(state: i32) -> String {
    pb::State::try_from(state).map_or_else(
        |_| format!("unknown({state})"),
        |s| {
            s.as_str_name()
                .trim_start_matches("STATE_")
                .to_ascii_lowercase()
        },
    )
}

fn time(unix: i64) -> Option<String> {
    rfc3339(unix.saturating_mul(1000))
}

/// A signature.
#[derive(Debug, Serialize)]
pub struct SignatureView {
    pub user: String,
    pub role: String,
    pub unit: String,
    pub signed: Option<String>,
    pub signed_unix: i64,
}

impl From<&pb::Signature> for SignatureView {
    fn from(s: &pb::Signature) -> Self {
        SignatureView {
            user: s.user.clone(),
            role: s.role.clone(),
            unit: s.unit.clone(),
            signed: time(s.signed_unix),
            signed_unix: s.signed_unix,
        }
    }
}

impl SignatureView {
    fn text(&self) -> String {
        let now = now_ms();
        format!(
            "{} ({}, {}) at {}",
            self.user,
            self.role,
            if self.unit.is_empty() {
                "-"
            } else {
                &self.unit
            },
            instant(self.signed_unix.saturating_mul(1000), now)
        )
    }
}

/// The legal document.
#[derive(Debug, Serialize)]
pub struct DocumentView {
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
    pub issuing_authority: String,
    pub sha256: String,
}

/// A retrieval request.
#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: String,
    pub state: String,
    pub legal_document: Option<DocumentView>,
    pub purpose: String,
    pub requesting_agency: String,
    pub device_ids: Vec<String>,
    pub from: Option<String>,
    pub from_unix: i64,
    pub to: Option<String>,
    pub to_unix: i64,
    pub filed_by: Option<SignatureView>,
    pub cosigned_by: Option<SignatureView>,
    pub approved_by: Option<SignatureView>,
    pub rejected_reason: String,
    pub filed: Option<String>,
    pub filed_unix: i64,
    /// `null` on a dry run: the node's default applies.
    pub expires: Option<String>,
    pub expires_unix: i64,
    pub revision: i64,
}

impl From<&pb::RetrievalRequest> for RequestView {
    fn from(r: &pb::RetrievalRequest) -> Self {
        RequestView {
            id: r.id.clone(),
            state: state_name(r.state),
            legal_document: r.legal_document.as_ref().map(|d| DocumentView {
                kind: d.r#type.clone(),
                number: d.number.clone(),
                issuing_authority: d.issuing_authority.clone(),
                sha256: d.sha256.clone(),
            }),
            purpose: r.purpose.clone(),
            requesting_agency: r.requesting_agency.clone(),
            device_ids: r.device_ids.clone(),
            from: time(r.from_unix),
            from_unix: r.from_unix,
            to: time(r.to_unix),
            to_unix: r.to_unix,
            filed_by: r.filed_by.as_ref().map(SignatureView::from),
            cosigned_by: r.cosigned_by.as_ref().map(SignatureView::from),
            approved_by: r.approved_by.as_ref().map(SignatureView::from),
            rejected_reason: r.rejected_reason.clone(),
            filed: time(r.filed_unix),
            filed_unix: r.filed_unix,
            expires: time(r.expires_unix),
            expires_unix: r.expires_unix,
            revision: r.revision,
        }
    }
}

fn signed(s: Option<&SignatureView>) -> String {
    s.map_or_else(|| "-".to_owned(), SignatureView::text)
}

impl RequestView {
    /// One field per line.
    pub fn detail(&self) -> String {
        let now = now_ms();
        let doc = self.legal_document.as_ref().map_or_else(
            || "-".to_owned(),
            |d| format!("{} {} ({})", d.kind, d.number, d.issuing_authority),
        );
        let mut rows = vec![
            ("ID", self.id.clone()),
            ("State", self.state.clone()),
            ("Legal document", doc),
            (
                "Document SHA-256",
                self.legal_document
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |d| d.sha256.clone()),
            ),
            ("Purpose", self.purpose.clone()),
            ("Agency", self.requesting_agency.clone()),
            ("Devices", self.device_ids.join(", ")),
            (
                "Period",
                format!(
                    "{} .. {}",
                    self.from.as_deref().unwrap_or("-"),
                    self.to.as_deref().unwrap_or("-")
                ),
            ),
            ("Filed by", signed(self.filed_by.as_ref())),
            ("Co-signed by", signed(self.cosigned_by.as_ref())),
            ("Decided by", signed(self.approved_by.as_ref())),
        ];
        if !self.rejected_reason.is_empty() {
            rows.push(("Rejected because", self.rejected_reason.clone()));
        }
        rows.push((
            "Expires",
            if self.expires_unix == 0 {
                "the node's default".to_owned()
            } else {
                instant(self.expires_unix.saturating_mul(1000), now)
            },
        ));
        rows.push(("Revision", self.revision.to_string()));
        key_values(&rows)
    }
}

/// Requests.
#[derive(Debug, Serialize)]
pub struct RequestListView {
    pub requests: Vec<RequestView>,
}

impl From<&pb::ListRequestsResponse> for RequestListView {
    fn from(r: &pb::ListRequestsResponse) -> Self {
        RequestListView {
            requests: r.requests.iter().map(RequestView::from).collect(),
        }
    }
}

fn user(s: Option<&SignatureView>) -> String {
    s.map_or_else(|| "-".to_owned(), |s| s.user.clone())
}

impl RequestListView {
    /// One row per request.
    pub fn table(&self) -> String {
        if self.requests.is_empty() {
            return "no retrieval requests\n".to_owned();
        }
        let mut t = Table::new(&[
            "ID",
            "STATE",
            "FILED BY",
            "CO-SIGNED BY",
            "DECIDED BY",
            "DEVICES",
            "AGENCY",
            "EXPIRES",
        ]);
        for r in &self.requests {
            t.row([
                r.id.clone(),
                r.state.clone(),
                user(r.filed_by.as_ref()),
                user(r.cosigned_by.as_ref()),
                user(r.approved_by.as_ref()),
                r.device_ids.len().to_string(),
                r.requesting_agency.clone(),
                r.expires.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        t.render()
    }
}

/// Access opened under an approved request.
#[derive(Debug, Serialize)]
pub struct GrantView {
    pub request_id: String,
    pub granted_to: String,
    pub device_ids: Vec<String>,
    pub from: Option<String>,
    pub from_unix: i64,
    pub to: Option<String>,
    pub to_unix: i64,
    pub valid_until: Option<String>,
    pub valid_until_unix: i64,
    pub requesting_agency: String,
    pub purpose: String,
}

impl From<&pb::AccessGrant> for GrantView {
    fn from(g: &pb::AccessGrant) -> Self {
        GrantView {
            request_id: g.request_id.clone(),
            granted_to: g.granted_to.clone(),
            device_ids: g.device_ids.clone(),
            from: time(g.from_unix),
            from_unix: g.from_unix,
            to: time(g.to_unix),
            to_unix: g.to_unix,
            valid_until: time(g.valid_until_unix),
            valid_until_unix: g.valid_until_unix,
            requesting_agency: g.requesting_agency.clone(),
            purpose: g.purpose.clone(),
        }
    }
}

impl GrantView {
    /// One field per line, with a note on what comes later.
    pub fn detail(&self) -> String {
        let now = now_ms();
        let rows = [
            ("Request", self.request_id.clone()),
            ("Granted to", self.granted_to.clone()),
            ("Devices", self.device_ids.join(", ")),
            (
                "Period",
                format!(
                    "{} .. {}",
                    self.from.as_deref().unwrap_or("-"),
                    self.to.as_deref().unwrap_or("-")
                ),
            ),
            (
                "Valid until",
                instant(self.valid_until_unix.saturating_mul(1000), now),
            ),
            ("Agency", self.requesting_agency.clone()),
            ("Purpose", self.purpose.clone()),
        ];
        format!(
            "access opened (recorded in the node's audit log)\n\n{}\n\
             The export of recorded video comes with the recording service; \
             this grant is what it will honour.\n",
            key_values(&rows)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_rows() {
        assert_eq!(state_name(pb::State::Cosigned as i32), "cosigned");
        assert_eq!(state_name(99), "unknown(99)");
        let view = RequestListView {
            requests: vec![RequestView::from(&pb::RetrievalRequest {
                id: "1764280000000-3fa2b1c9".into(),
                state: pb::State::Filed.into(),
                device_ids: vec!["54050200001320000001".into()],
                requesting_agency: "Naidong criminal police".into(),
                filed_by: Some(pb::Signature {
                    user: "zhuoma".into(),
                    role: "officer".into(),
                    ..Default::default()
                }),
                expires_unix: 1_764_500_000,
                ..Default::default()
            })],
        };
        let text = view.table();
        let row = text.lines().nth(1).unwrap_or_default();
        for cell in [
            "1764280000000-3fa2b1c9",
            "filed",
            "zhuoma",
            "Naidong criminal police",
            "2025-11-30",
        ] {
            assert!(row.contains(cell), "{cell} missing from {row:?}");
        }
    }
}
