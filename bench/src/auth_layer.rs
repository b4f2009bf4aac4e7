//! The cost of the auth layer per call (goal: <= 50 µs p50): the layer in
//! front of a service that answers at once, called in process with a real
//! token over real accounts (embedded store), against the same service
//! without the layer. The difference is what authentication (token MAC,
//! account lookup), the permission table, the principal and the span add to
//! every call that is not audited (reads); audited calls add the audit
//! append, measured by the audit benchmark.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tower::{Layer as _, Service, ServiceExt as _};
use vfed_auth::{
    Account, AccountOptions, Accounts, AuthLayer, DiscardAudit, Gate, Role, RoleOnlyPolicy,
};
use vfed_store::SharedStore;
use vfed_store::embedded::{EmbeddedOptions, EmbeddedStore};

use crate::report::{Goal, Row, Section, Stat, number, quantile};

/// Sizes of this benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Calls per run.
    pub calls: usize,
    /// Runs.
    pub runs: usize,
}

/// A read-only method: authenticated, not audited.
const PATH: &str = "/vfed.registry.v1.Registry/GetDevice";

/// The innermost service: answers at once with an empty OK response.
#[derive(Clone, Copy)]
struct Answer;

impl Service<http::Request<Body>> for Answer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<Body>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(Body::empty())))
    }
}

fn request(token: &str) -> anyhow::Result<http::Request<Body>> {
    Ok(http::Request::builder()
        .method("POST")
        .uri(PATH)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/grpc")
        .body(Body::empty())?)
}

/// Per-call times of `calls` calls through `service`, microseconds.
async fn time_calls<S>(mut service: S, token: &str, calls: usize) -> anyhow::Result<Vec<f64>>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let req = request(token)?;
        let started = Instant::now();
        let response = service.ready().await?.call(req).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(
            response.headers().get("grpc-status").is_none(),
            "the layer refused the benchmark's call: {:?}",
            response.headers().get("grpc-message")
        );
    }
    Ok(samples)
}

/// Runs the benchmark.
pub async fn run(sizes: Sizes) -> anyhow::Result<Section> {
    let dir = tempfile::tempdir()?;
    let store: SharedStore = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())?;
    let shutdown = CancellationToken::new();
    let accounts = Accounts::open(
        store,
        "bench",
        vfed_auth::TokenKey::generate(),
        AccountOptions::default(),
        shutdown.clone(),
    )
    .await?;
    let password = "bench-password-1234";
    accounts
        .create(
            Account {
                name: "bench".into(),
                display_name: "bench".into(),
                role: Role::Operator,
                unit: String::new(),
                department: String::new(),
                disabled: false,
                trainings: Vec::new(),
                password_hash: None,
                tokens_valid_after: 0,
                created_unix: 0,
                created_by: "bench".into(),
            },
            password,
        )
        .await?;
    let token = accounts
        .login("bench", password, Duration::from_secs(3600), None)
        .await?
        .token;
    let gate = Gate::new(
        Arc::new(accounts),
        Arc::new(DiscardAudit),
        Arc::new(RoleOnlyPolicy),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let layer = AuthLayer::new(gate);
    let mut with_p50 = Vec::new();
    let mut with_p99 = Vec::new();
    let mut without_p50 = Vec::new();
    let mut overhead_p50 = Vec::new();
    for run in 0..sizes.runs {
        let bare = time_calls(Answer, &token, sizes.calls).await?;
        let layered = time_calls(layer.layer(Answer), &token, sizes.calls).await?;
        let (b50, l50, l99) = (
            quantile(&bare, 0.5),
            quantile(&layered, 0.5),
            quantile(&layered, 0.99),
        );
        eprintln!(
            "   run {}: bare p50 {} µs, with layer p50 {} µs p99 {} µs",
            run + 1,
            number(b50),
            number(l50),
            number(l99)
        );
        without_p50.push(b50);
        with_p50.push(l50);
        with_p99.push(l99);
        overhead_p50.push(l50 - b50);
    }
    shutdown.cancel();
    let case = format!("{} calls, token, read method", sizes.calls);
    Ok(Section {
        name: "auth layer".into(),
        method: "One tokio task calls a service that answers at once, with and without the \
                 auth layer in front, in process (no network), with a real HMAC token over \
                 real accounts on the embedded store; per-call time, quantiles per run, \
                 medians of the runs."
            .into(),
        rows: vec![
            Row::new(
                "auth layer",
                &case,
                "overhead p50",
                "µs",
                Stat::of(overhead_p50)?,
            )
            .goal(Goal::AtMost(50.0)),
            Row::new(
                "auth layer",
                &case,
                "call with layer p50",
                "µs",
                Stat::of(with_p50)?,
            ),
            Row::new(
                "auth layer",
                &case,
                "call with layer p99",
                "µs",
                Stat::of(with_p99)?,
            ),
            Row::new(
                "auth layer",
                &case,
                "call without layer p50",
                "µs",
                Stat::of(without_p50)?,
            ),
        ],
        notes: vec![
            "Audited calls (changes, views, refusals) add the audit append and its fsync: \
             see the audit benchmark."
                .into(),
        ],
        tables: Vec::new(),
    })
}
