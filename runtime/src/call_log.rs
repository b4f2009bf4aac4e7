//! The one place a node logs how a gRPC call ended badly.
//!
//! A client's mistake or a refusal (bad argument, not found, permission
//! denied...) is routine for a server: it is logged once, at INFO, with the
//! code and the message the client got. Only failures of the node itself
//! (INTERNAL, UNKNOWN, DATA_LOSS) are ERRORs. The layer sits inside the
//! auth layer, so each event carries the caller and the action of the
//! `authorized` span; refusals of the auth gate itself are logged there.
//! Handlers therefore do not log their returned errors (no
//! `#[instrument(err)]`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Code;
use tonic::body::Body;
use tower::{Layer, Service};

/// How loudly a call that ended with `code` is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Success: not logged here.
    Quiet,
    /// The client's doing (a refusal): INFO.
    Refusal,
    /// Transient or capacity trouble: WARN.
    Trouble,
    /// The node failed: ERROR.
    Failure,
}

/// The severity of a call that ended with `code`.
pub fn severity(code: Code) -> Severity {
    match code {
        Code::Ok => Severity::Quiet,
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::Aborted
        | Code::Cancelled => Severity::Refusal,
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Unimplemented => Severity::Trouble,
        Code::Internal | Code::Unknown | Code::DataLoss => Severity::Failure,
    }
}

/// The layer (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct CallLogLayer;

impl<S> Layer<S> for CallLogLayer {
    type Service = CallLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallLog { inner }
    }
}

/// The service [`CallLogLayer`] wraps around the gRPC routes.
#[derive(Clone, Debug)]
pub struct CallLog<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<http::Request<Body>> for CallLog<S>
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

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // Unary errors travel in the headers (trailers-only responses).
            if let Some(status) = tonic::Status::from_header_map(response.headers()) {
                log(&method, &status);
            }
            Ok(response)
        })
    }
}

fn log(method: &str, status: &tonic::Status) {
    let code = status.code();
    let message = status.message();
    match severity(code) {
        Severity::Quiet => {}
        Severity::Refusal => tracing::info!(method, ?code, reason = %message, "call refused"),
        Severity::Trouble => tracing::warn!(method, ?code, reason = %message, "call not served"),
        Severity::Failure => tracing::error!(method, ?code, reason = %message, "call failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_not_errors() {
        for code in [
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::AlreadyExists,
            Code::NotFound,
            Code::FailedPrecondition,
            Code::Unauthenticated,
        ] {
            assert_eq!(severity(code), Severity::Refusal, "{code:?}");
        }
        assert_eq!(severity(Code::Internal), Severity::Failure);
        assert_eq!(severity(Code::Unavailable), Severity::Trouble);
        assert_eq!(severity(Code::Ok), Severity::Quiet);
    }
}
