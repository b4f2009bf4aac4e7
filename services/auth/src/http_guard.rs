//! The same layer for HTTP egress: `/live/<device>/<profile>/...` needs
//! `live.view` and the node's [`crate::ViewPolicy`] (R13). Players cannot
//! send headers, so the token may come as `?token=`. A viewer's requests
//! for one stream form a view, kept by the node's [`LiveViews`] (the same
//! tracker as the relay's QUIC views): its start and stop (idle, or its
//! basis ended) go to the audit log, and every refusal too.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::gate::{Denial, Gate};
use crate::live_views::{Egress, LiveViews};
use crate::principal::Principal;
use crate::table::{Access, http_rule};

/// The HTTP side of the layer (cheap to clone).
#[derive(Clone)]
pub struct HttpGuard {
    gate: Arc<Gate>,
    views: LiveViews,
    idle: Duration,
}

fn token_of(request: &Request) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::gate::bearer_token)
    {
        return Some(value.to_owned());
    }
    request.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_owned())
    })
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{message}\n"),
    )
        .into_response()
}

impl HttpGuard {
    /// A guard deciding with the gate of `views`, which keeps its views; a
    /// view with no request for `idle` stops (the tracker's `run` sweeps).
    pub fn new(views: LiveViews, idle: Duration) -> Self {
        HttpGuard {
            gate: views.gate().clone(),
            views,
            idle,
        }
    }

    /// Wraps `router` (every route) with the guard.
    pub fn wrap(self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self, guard))
    }

    /// Decides a request; `Ok(Some(principal))` for a guarded route other
    /// than live video, whose handler audits the request itself.
    async fn check(
        &self,
        path: &str,
        token: Option<String>,
    ) -> Result<Option<Arc<Principal>>, Response> {
        let Some(rule) = http_rule(path) else {
            return Ok(None);
        };
        if rule.access == Access::Public {
            return Ok(None);
        }
        let principal = match self.gate.authenticate(token.as_deref(), None) {
            Ok(p) => Arc::new(p),
            Err(denial) => {
                self.gate
                    .record_refusal(
                        "anonymous",
                        rule.action,
                        path,
                        denial.message(),
                        denial.requirement(),
                    )
                    .await;
                return Err(refusal(StatusCode::UNAUTHORIZED, denial.message()));
            }
        };
        if let Err(denial) = Gate::authorize(rule, &principal) {
            self.gate
                .record_refusal(
                    &principal.actor(),
                    rule.action,
                    path,
                    denial.message(),
                    denial.requirement(),
                )
                .await;
            return Err(refusal(StatusCode::FORBIDDEN, denial.message()));
        }
        if !path.starts_with("/live/") {
            return Ok(Some(principal));
        }
        // /live/<device>/<profile>/<file>
        let mut parts = path.trim_start_matches('/').split('/').skip(1);
        let (Some(device), Some(profile)) = (parts.next(), parts.next()) else {
            return Ok(None);
        };
        let stream = format!("{device}/{profile}");
        let egress = Egress::Hls { idle: self.idle };
        match self.views.look(&principal, device, &stream, egress) {
            Ok(start) => {
                if let Some(record) = start {
                    self.gate.audit.record(record).await;
                }
                Ok(None)
            }
            Err((refused, stop)) => {
                if let Some(record) = stop {
                    self.gate.audit.record(*record).await;
                }
                let denial = Denial::PermissionDenied {
                    message: refused.to_string(),
                    requirement: refused.requirement,
                };
                self.gate
                    .record_refusal(
                        &principal.actor(),
                        "live.view",
                        &stream,
                        denial.message(),
                        denial.requirement(),
                    )
                    .await;
                Err(refusal(StatusCode::FORBIDDEN, denial.message()))
            }
        }
    }
}

async fn guard(State(guard): State<HttpGuard>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let token = token_of(&request);
    match guard.check(&path, token).await {
        Ok(principal) => {
            if let Some(principal) = principal {
                request.extensions_mut().insert(principal);
            }
            next.run(request).await
        }
        Err(response) => response,
    }
}
