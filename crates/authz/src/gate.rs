//! The decisions shared by the gRPC and HTTP layers: who is calling, may
//! they, and what goes into the audit log.

use std::sync::Arc;

use vfed_audit::AuditRecord;
use vfed_pki::PeerInfo;

use crate::audit_sink::AuditSink;
use crate::directory::Accounts;
use crate::principal::Principal;
use crate::request_summary::RequestDecoder;
use crate::table::{Access, MethodRule};
use crate::view::ViewPolicy;

/// Why a call is refused before it reaches its handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No (valid) credentials.
    Unauthenticated(String),
    /// Authenticated but not allowed.
    PermissionDenied {
        /// The message, naming the permission and requirement.
        message: String,
        /// The requirement ID.
        requirement: &'static str,
    },
}

impl Denial {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Denial::Unauthenticated(m) | Denial::PermissionDenied { message: m, .. } => m,
        }
    }

    /// The requirement ID the refusal rests on.
    pub fn requirement(&self) -> &'static str {
        match self {
            Denial::Unauthenticated(_) => "R15.1",
            Denial::PermissionDenied { requirement, .. } => requirement,
        }
    }

    /// As a gRPC status.
    pub fn to_status(&self) -> tonic::Status {
        match self {
            Denial::Unauthenticated(m) => tonic::Status::unauthenticated(m.clone()),
            Denial::PermissionDenied { message, .. } => {
                tonic::Status::permission_denied(message.clone())
            }
        }
    }
}

/// Everything the layers need (shared, immutable).
pub struct Gate {
    pub(crate) accounts: Accounts,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) views: Arc<dyn ViewPolicy>,
    pub(crate) decoder: RequestDecoder,
}

impl Gate {
    /// A gate over `accounts`, writing to `audit`, deciding live views with `views`.
    pub fn new(
        accounts: Accounts,
        audit: Arc<dyn AuditSink>,
        views: Arc<dyn ViewPolicy>,
    ) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Gate {
            accounts,
            audit,
            views,
            decoder: RequestDecoder::new()?,
        }))
    }

    /// The accounts.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Authenticates from a bearer token if given, else from the client certificate.
    pub fn authenticate(
        &self,
        bearer: Option<&str>,
        peer: Option<&PeerInfo>,
    ) -> Result<Principal, Denial> {
        if let Some(token) = bearer {
            return self
                .accounts
                .authenticate_token(token)
                .map_err(|e| Denial::Unauthenticated(e.to_string()));
        }
        let Some(peer) = peer else {
            return Err(Denial::Unauthenticated(
                "no credentials: send `authorization: Bearer <token>` (vfedctl login)".into(),
            ));
        };
        self.accounts
            .principal_for_certificate(&peer.identity)
            .ok_or_else(|| {
                Denial::Unauthenticated(format!(
                    "certificate identity {} has no enabled account; log in with a token (vfedctl login)",
                    peer.identity
                ))
            })
    }

    /// Whether `principal` may call what `rule` guards.
    pub fn authorize(rule: &MethodRule, principal: &Principal) -> Result<(), Denial> {
        match rule.access {
            Access::Public | Access::Authenticated => Ok(()),
            Access::Needs(permission) if principal.allows(permission) => Ok(()),
            Access::Needs(permission) => Err(Denial::PermissionDenied {
                message: format!(
                    "{} needs permission {} ({}); {} does not hold it",
                    rule.action,
                    permission,
                    permission.requirement(),
                    match principal.role {
                        Some(role) => format!("{} (role {role})", principal.actor()),
                        None => principal.actor(),
                    }
                ),
                requirement: permission.requirement(),
            }),
        }
    }

    /// Writes a refusal to the audit log.
    pub async fn record_refusal(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: &str,
        requirement: &str,
    ) {
        let record = AuditRecord::new(actor, action, target).refused(reason, requirement);
        self.audit.record(record).await;
    }
}

/// The token of an `authorization` header value `Bearer <token>`; the scheme
/// is case-insensitive (RFC 7235 section 2.1), so `bearer x` and `BEARER x`
/// are accepted too.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The requirement ID a message names last, like `... (R16)` or
/// `... [R7]`; else `fallback`.
pub fn requirement_in(message: &str, fallback: &str) -> String {
    let candidates = ["(R", "[R"].into_iter().filter_map(|open| {
        let start = message.rfind(open)?;
        let close = if open.starts_with('(') { ')' } else { ']' };
        let rest = &message[start + 1..];
        let id = &rest[..rest.find(close)?];
        let digits = &id[1..];
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
            .then_some((start, id.to_owned()))
    });
    candidates
        .max_by_key(|(start, _)| *start)
        .map_or_else(|| fallback.to_owned(), |(_, id)| id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t", "bearer t", "BEARER  t ", "bEaReR t"] {
            assert_eq!(super::bearer_token(value), Some("t"), "{value}");
        }
        for value in ["Basic t", "Bearer", "Bearer ", "Bearert", ""] {
            assert_eq!(super::bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn finds_requirement_ids() {
        assert_eq!(
            super::requirement_in("x: must differ (R16)", "R15.1"),
            "R16"
        );
        assert_eq!(
            super::requirement_in("toilet (R11.2) here", "R15.1"),
            "R11.2"
        );
        assert_eq!(super::requirement_in("no id", "R15.1"), "R15.1");
        assert_eq!(super::requirement_in("(Rx)", "R15.1"), "R15.1");
        assert_eq!(
            super::requirement_in("device.kind: toilet [R7]", "R15.1"),
            "R7"
        );
        assert_eq!(super::requirement_in("(R16) then [R9]", "R15.1"), "R9");
    }
}
