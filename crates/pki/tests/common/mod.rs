//! Shared helpers for the vfed-pki integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{CertificateParams, SanType};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use vfed_pki::ca::{CertificateAuthority, IssueOptions, IssuedCert};
use vfed_pki::{
    GRPC_ALPN, Identity, IdentityServerVerifier, PeerInfo, ServerExpectation, TlsMaterial,
    crypto_provider, incoming, peer_info, server_config,
};

pub const TD: &str = "vfed.test";
pub const NODE_A: &str = "54050000001320000001";
pub const NODE_B: &str = "54050000001320000002";
pub const NODE_C: &str = "54050000001320000003";

pub fn node(id: &str) -> Identity {
    Identity::node(id).unwrap()
}

pub fn material(ca: &CertificateAuthority, id: &Identity) -> TlsMaterial {
    let issued = ca.issue(id, &IssueOptions::default()).unwrap();
    TlsMaterial::from_pem(
        ca.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap()
}

/// A client config presenting an arbitrary certificate (bypassing the
/// identity checks of `TlsMaterial`), trusting `trusted`'s CA and accepting
/// any node.
pub fn raw_client_config(
    trusted: &CertificateAuthority,
    issued: &IssuedCert,
) -> Arc<rustls::ClientConfig> {
    let roots = material(trusted, &Identity::tool("roots").unwrap()).roots();
    let provider = crypto_provider();
    let verifier = IdentityServerVerifier::new(
        roots,
        trusted.trust_domain(),
        ServerExpectation::AnyNode,
        Arc::clone(&provider),
    );
    let chain = rustls_pemfile::certs(&mut issued.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut issued.key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// Certificate parameters with the given SANs and clientAuth.
pub fn params_with_sans(sans: Vec<SanType>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    params
}

/// A running tonic health server fed by `vfed_pki::incoming`, recording
/// the `PeerInfo` of every request it receives.
pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<PeerInfo>>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl TestServer {
    pub async fn start(material: &TlsMaterial) -> TestServer {
        let config = server_config(material, GRPC_ALPN).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = Arc::clone(&seen);
        let interceptor = move |req: tonic::Request<()>| {
            let info = peer_info(&req)
                .cloned()
                .ok_or_else(|| tonic::Status::unauthenticated("no peer info"))?;
            recorder.lock().unwrap().push(info);
            Ok(req)
        };
        let (_reporter, health) = tonic_health::server::health_reporter();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .layer(tonic::service::InterceptorLayer::new(interceptor))
                .add_service(health)
                .serve_with_incoming_shutdown(incoming(listener, config), async {
                    let _ = rx.await;
                }),
        );
        TestServer {
            addr,
            seen,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<PeerInfo> {
        self.seen.lock().unwrap().clone()
    }

    /// Stops the server and waits (bounded) for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server did not stop")
                .unwrap()
                .unwrap();
        }
    }
}

/// One health check over `channel`.
pub async fn health_check(channel: Channel) -> Result<(), tonic::Status> {
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(Duration::from_secs(20), call).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(tonic::Status::deadline_exceeded("test call timed out")),
    }
}

/// The full text of a tonic status (message and sources).
pub fn status_text(status: &tonic::Status) -> String {
    use std::error::Error;
    let mut text = status.to_string();
    let mut source = status.source();
    while let Some(s) = source {
        text.push_str(" / ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
