//! The decisions shared by the gRPC and HTTP layers: who is calling, may
//! they, and what goes into the audit log.

use std::sync::Arc;

use vfed_audit::AuditRecord;
use vfed_pki::PeerInfo;

use crate::audit_sink::AuditSink;
use crate::credentials::Credentials;
use crate::principal::Principal;
use crate::refusal_details::RefusalDetails;
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
        /// The rule, in words (e.g. `needs permission devices.register`).
        rule: String,
        /// The requirement ID.
        requirement: &'static str,
    },
}

/// The field of a refusal for missing or invalid credentials.
const CREDENTIALS_FIELD: &str = "authorization";
/// The field of a refusal for a caller who lacks the permission.
const CALLER_FIELD: &str = "caller";

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

    /// The field, rule and requirement of the refusal.
    pub fn details(&self) -> RefusalDetails {
        match self {
            Denial::Unauthenticated(m) => RefusalDetails::new(CREDENTIALS_FIELD, m, "R15.1"),
            Denial::PermissionDenied {
                rule, requirement, ..
            } => RefusalDetails::new(CALLER_FIELD, rule, *requirement),
        }
    }

    /// As a gRPC status, carrying [`Denial::details`].
    pub fn to_status(&self) -> tonic::Status {
        let code = match self {
            Denial::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Denial::PermissionDenied { .. } => tonic::Code::PermissionDenied,
        };
        self.details().to_status(code, self.message())
    }
}

/// Everything the layers need (shared, immutable).
pub struct Gate {
    pub(crate) credentials: Arc<dyn Credentials>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) views: Arc<dyn ViewPolicy>,
    pub(crate) decoder: RequestDecoder,
}

impl Gate {
    /// A gate asking `credentials` who calls, writing to `audit`, deciding
    /// live views with `views`.
    pub fn new(
        credentials: Arc<dyn Credentials>,
        audit: Arc<dyn AuditSink>,
        views: Arc<dyn ViewPolicy>,
    ) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Gate {
            credentials,
            audit,
            views,
            decoder: RequestDecoder::new()?,
        }))
    }

    /// Authenticates from a bearer token if given, else from the client certificate.
    pub fn authenticate(
        &self,
        bearer: Option<&str>,
        peer: Option<&PeerInfo>,
    ) -> Result<Principal, Denial> {
        if let Some(token) = bearer {
            return self
                .credentials
                .authenticate_token(token)
                .map_err(Denial::Unauthenticated);
        }
        let Some(peer) = peer else {
            return Err(Denial::Unauthenticated(
                "no credentials: send `authorization: Bearer <token>` (vfedctl login)".into(),
            ));
        };
        self.credentials
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
                rule: format!("{} needs permission {permission}", rule.action),
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
}
