//! The gRPC server of a node: every service behind one mutual-TLS port.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vfed_proto::archive::v1::archive_server::ArchiveServer;
use vfed_proto::archive::v1::evidence_server::EvidenceServer;
use vfed_proto::audit::v1::audit_server::AuditServer;
use vfed_proto::auth::v1::accounts_server::AccountsServer;
use vfed_proto::federation::v1::federation_server::FederationServer;
use vfed_proto::federation::v1::node_server::NodeServer;
use vfed_proto::gb28181::v1::discovered_server::DiscoveredServer;
use vfed_proto::registry::v1::registry_server::RegistryServer;
use vfed_proto::registry::v1::removals_server::RemovalsServer;
use vfed_proto::relay::v1::streams_server::StreamsServer;
use vfed_proto::retrieval::v1::retrieval_server::RetrievalServer;
use vfed_proto::sharing::v1::sharing_server::SharingServer;
use vfed_proto::violations::v1::violations_server::ViolationsServer;
use vfed_registry::federation::FederationService;
use vfed_registry::{NodeService, RegistryService};

/// The services served.
pub struct Services {
    pub accounts: vfed_auth::AccountsService,
    pub retrieval: vfed_retrieval::RetrievalService,
    pub sharing: vfed_sharing::SharingService,
    pub streams: vfed_relay::StreamsService,
    pub archive: Option<vfed_archive::ArchiveService>,
    pub evidence: Option<vfed_archive::EvidenceService>,
    pub audit: vfed_auditing::AuditService,
    pub registry: RegistryService,
    pub removals: vfed_registry::RemovalService,
    pub violations: vfed_violations::ViolationsService,
    pub node: NodeService,
    pub federation: FederationService,
    pub discovered: vfed_gb28181::discovered::service::DiscoveredService,
}

/// Serves until `shutdown`, then drains in-flight calls.
pub async fn serve(
    services: Services,
    auth: vfed_authz::AuthLayer,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: vfed_config::GrpcLimits,
    shutdown: CancellationToken,
    node_id: String,
) {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<RegistryServer<RegistryService>>()
        .await;
    health_reporter
        .set_serving::<NodeServer<NodeService>>()
        .await;
    health_reporter
        .set_serving::<FederationServer<FederationService>>()
        .await;
    health_reporter
        .set_serving::<StreamsServer<vfed_relay::StreamsService>>()
        .await;
    health_reporter
        .set_serving::<AuditServer<vfed_auditing::AuditService>>()
        .await;
    health_reporter
        .set_serving::<RetrievalServer<vfed_retrieval::RetrievalService>>()
        .await;
    health_reporter
        .set_serving::<SharingServer<vfed_sharing::SharingService>>()
        .await;
    health_reporter
        .set_serving::<DiscoveredServer<vfed_gb28181::discovered::service::DiscoveredService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(vfed_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1();
    // Bounded against silent, slow and flooding peers (`[connections.grpc]`):
    // the TLS handshake has its own timeout, a connection with no byte
    // either way is closed after `idle_timeout` (a healthy one carries
    // keepalive pings), and at most `max_connections` are open.
    let incoming = vfed_pki::incoming_with_limits(
        listener,
        tls,
        shutdown.clone(),
        vfed_pki::ListenerLimits {
            max_connections: limits.max_connections,
            idle_timeout: limits.idle_timeout,
        },
    );
    let mut builder = tonic::transport::Server::builder()
        .trace_fn(vfed_telemetry::propagation::server_span)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .layer(auth)
        // Inside the auth layer: sees the caller's span, not the gate's refusals.
        .layer(crate::call_log::CallLogLayer);
    let mut router = builder
        .add_service(health)
        .add_service(AccountsServer::new(services.accounts))
        .add_service(RetrievalServer::new(services.retrieval))
        .add_service(SharingServer::new(services.sharing))
        .add_service(RegistryServer::new(services.registry))
        .add_service(RemovalsServer::new(services.removals))
        .add_service(ViolationsServer::new(services.violations))
        .add_service(NodeServer::new(services.node))
        .add_service(FederationServer::new(services.federation))
        .add_service(StreamsServer::new(services.streams))
        .add_service(AuditServer::new(services.audit))
        .add_service(DiscoveredServer::new(services.discovered))
        .add_optional_service(services.archive.map(ArchiveServer::new))
        .add_optional_service(services.evidence.map(EvidenceServer::new));
    if let Ok(reflection) = reflection {
        router = router.add_service(reflection);
    }
    let result = router
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::error!(node = %node_id, error = %e, "gRPC server failed");
    }
}
