//! The same layer for HTTP egress: `/live/<device>/<profile>/...` needs
//! `live.view` and the node's [`crate::ViewPolicy`] (R13). Players cannot
//! send headers, so the token may come as `?token=`. A viewer's requests
//! for one stream form a view, kept by the node's [`LiveViews`] (the same
//! tracker as the relay's QUIC views): its start and stop (idle, or its
//! basis ended) go to the audit log, and every refusal too. `/playback/...`
//! needs `recordings.view` and the policy's leave for the requested range
//! (R13); the playback handler audits each playback with its range.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::gate::{Denial, Gate};
use crate::live_views::{Egress, LiveViews};
use crate::principal::Principal;
use crate::recorded_range::recorded_range;
use crate::table::{Access, http_rule};
use crate::view::ViewBasis;

/// An allowed request and, for a playback, its basis.
type Allowed = (Arc<Principal>, Option<ViewBasis>);

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

    /// `/playback/<device>/...` and `/playback/<device>.mp4`: the range of
    /// the query must be allowed by the policy (for department viewers, an
    /// active recorded grant covering the device and the range, R13).
    async fn check_playback(
        &self,
        principal: Arc<Principal>,
        path: &str,
        query: &str,
    ) -> Result<Option<Allowed>, Response> {
        let rest = path.trim_start_matches("/playback/");
        let device = match rest.split_once('/') {
            Some((device, _)) => device,
            None => rest.strip_suffix(".mp4").unwrap_or(rest),
        };
        let (start, end) = recorded_range(query, i64::MAX)
            .map_err(|message| refusal(StatusCode::BAD_REQUEST, &message))?;
        match self
            .gate
            .views
            .check_recorded(&principal, device, start, end)
        {
            Ok(basis) => Ok(Some((principal, Some(basis)))),
            Err(refused) => Err(self
                .refuse_view(
                    &principal,
                    "recording.view",
                    &format!("{device}/main"),
                    &refused,
                )
                .await),
        }
    }

    /// A view the policy refused: audited, and a 403 naming why.
    async fn refuse_view(
        &self,
        principal: &Principal,
        action: &str,
        target: &str,
        refused: &crate::view::Refusal,
    ) -> Response {
        let denial = Denial::PermissionDenied {
            message: refused.to_string(),
            rule: refused.reason.clone(),
            requirement: refused.requirement,
        };
        self.gate
            .record_refusal(
                &principal.actor(),
                action,
                target,
                denial.message(),
                denial.requirement(),
            )
            .await;
        refusal(StatusCode::FORBIDDEN, denial.message())
    }

    /// Decides a request; `Ok(Some((principal, basis)))` for a guarded
    /// route other than live video, whose handler audits the request itself
    /// (`basis`: on what a playback is allowed).
    async fn check(
        &self,
        path: &str,
        query: &str,
        token: Option<String>,
    ) -> Result<Option<Allowed>, Response> {
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
        if path.starts_with("/playback/") {
            return self.check_playback(principal, path, query).await;
        }
        if !path.starts_with("/live/") {
            return Ok(Some((principal, None)));
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
                Err(self
                    .refuse_view(&principal, "live.view", &stream, &refused)
                    .await)
            }
        }
    }
}

async fn guard(State(guard): State<HttpGuard>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let token = token_of(&request);
    match guard.check(&path, &query, token).await {
        Ok(allowed) => {
            if let Some((principal, basis)) = allowed {
                if let Some(basis) = basis {
                    request.extensions_mut().insert(basis);
                }
                request.extensions_mut().insert(principal);
            }
            next.run(request).await
        }
        Err(response) => response,
    }
}
