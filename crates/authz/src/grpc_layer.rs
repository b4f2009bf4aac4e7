//! The tower layer in front of every gRPC service of a node: it
//! authenticates the caller, authorizes the method from the permission
//! table, puts the principal on the request, traces the call under the
//! caller's name and audits it (changes in the same commit, views and
//! refusals directly).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::BodyExt as _;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument as _;
use vfed_audit::AuditRecord;

use crate::audit_sink::BoxFuture;
use crate::gate::{Denial, Gate};
use crate::refusal_details::{RefusalDetails, refused};
use crate::table::{Access, AuditClass, method_rule};

/// The layer (see the module docs).
#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
}

impl AuthLayer {
    /// A layer deciding with `gate`.
    pub fn new(gate: Arc<Gate>) -> Self {
        AuthLayer { gate }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            gate: self.gate.clone(),
            inner,
        }
    }
}

/// The service [`AuthLayer`] wraps around the gRPC routes.
#[derive(Clone)]
pub struct AuthService<S> {
    gate: Arc<Gate>,
    inner: S,
}

fn bearer(request: &http::Request<Body>) -> Option<&str> {
    request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(crate::gate::bearer_token)
}

fn status_response(status: &tonic::Status) -> http::Response<Body> {
    status.clone().into_http()
}

impl<S> Service<http::Request<Body>> for AuthService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone is the one that was polled ready; keep it for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let path = request.uri().path().to_owned();
        let Some(rule) = method_rule(&path) else {
            return Box::pin(async move {
                let rule = format!("no permission rule for {path}: refused by default");
                let reason = format!("{rule} (R15.1)");
                gate.record_refusal("unknown", "rpc.unknown", &path, &reason, "R15.1")
                    .await;
                let status = refused(tonic::Code::PermissionDenied, "", &rule, "R15.1", reason);
                Ok(status_response(&status))
            });
        };
        if rule.access == Access::Public {
            if rule.audit == AuditClass::Quiet {
                return Box::pin(inner.call(request));
            }
            // A public call that is audited (a login): the actor is the
            // connection's certificate, the target what the request names.
            let actor = vfed_pki::peer_info_http(&request)
                .map_or_else(|| "anonymous".to_owned(), |p| p.identity.to_string());
            return Box::pin(audited(
                gate,
                inner,
                request,
                actor,
                rule.action,
                rule.audit,
                path,
            ));
        }
        let principal = gate.authenticate(bearer(&request), vfed_pki::peer_info_http(&request));
        let principal = match principal {
            Ok(p) => Arc::new(p),
            Err(denial) => {
                return Box::pin(refuse(gate, "anonymous".into(), rule.action, path, denial));
            }
        };
        if let Err(denial) = Gate::authorize(rule, &principal) {
            return Box::pin(refuse(gate, principal.actor(), rule.action, path, denial));
        }
        request.extensions_mut().insert(principal.clone());
        let span =
            tracing::info_span!("authorized", actor = %principal.actor(), action = rule.action);
        let actor = principal.actor();
        match rule.audit {
            AuditClass::Quiet => Box::pin(
                async move {
                    let response = inner.call(request).await?;
                    if let Some(status) = tonic::Status::from_header_map(response.headers())
                        && matches!(
                            status.code(),
                            tonic::Code::PermissionDenied | tonic::Code::FailedPrecondition
                        )
                    {
                        let record = AuditRecord::new(actor, rule.action, "").refused(
                            status.message(),
                            RefusalDetails::requirement_of(&status, "R15.1"),
                        );
                        gate.audit.record(record).await;
                    }
                    Ok(response)
                }
                .instrument(span),
            ),
            AuditClass::Change | AuditClass::View => Box::pin(
                audited(gate, inner, request, actor, rule.action, rule.audit, path)
                    .instrument(span),
            ),
        }
    }
}

async fn refuse(
    gate: Arc<Gate>,
    actor: String,
    action: &'static str,
    path: String,
    denial: Denial,
) -> Result<http::Response<Body>, Infallible> {
    tracing::info!(%actor, action, reason = denial.message(), "refused");
    gate.record_refusal(
        &actor,
        action,
        &path,
        denial.message(),
        denial.requirement(),
    )
    .await;
    Ok(status_response(&denial.to_status()))
}

/// Runs an audited call: reads the request to summarize it, runs the
/// handler (a change inside the audit scope so its record commits with
/// it), then records what the scope did not.
async fn audited<S>(
    gate: Arc<Gate>,
    mut inner: S,
    request: http::Request<Body>,
    actor: String,
    action: &'static str,
    class: AuditClass,
    path: String,
) -> Result<http::Response<Body>, Infallible>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let (parts, body) = request.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let status = tonic::Status::invalid_argument(format!("reading the request: {e}"));
            return Ok(status_response(&status));
        }
    };
    let summary = gate.decoder.summarize(&path, &bytes);
    let request = http::Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes)));
    let record = AuditRecord::new(actor, action, summary.target)
        .with_purpose(summary.purpose)
        .with_destination(summary.destination)
        .with_details(summary.details);
    let (response, committed) = if class == AuditClass::Change {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let call: BoxFuture<()> = Box::pin(async move {
            let response = inner.call(request).await;
            let _ = tx.send(response);
        });
        let committed = gate.audit.scope(record.clone(), call).await;
        match rx.await {
            Ok(response) => (response?, committed),
            Err(_) => {
                let status = tonic::Status::internal("the handler ended without a response");
                (status_response(&status), committed)
            }
        }
    } else {
        (inner.call(request).await?, false)
    };
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        let requirement = RefusalDetails::requirement_of(&status, "R15.1");
        let refused = record.refused(
            format!("{:?}: {}", status.code(), status.message()),
            requirement,
        );
        gate.audit.record(refused).await;
    } else if !committed {
        gate.audit.record(record).await;
    }
    Ok(response)
}
