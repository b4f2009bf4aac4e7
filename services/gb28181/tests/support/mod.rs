//! What the integration tests share: a node serving on loopback ports and
//! a recorder behind its sinks.
#![allow(dead_code)]

pub mod sipp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use vfed_gb28181::manscdp::{DeviceInfo, DeviceStatus};
use vfed_gb28181::{
    CatalogReport, CatalogSink, DeviceEvent, DeviceSink, Handle, MediaSink, Options, Sinks,
    Sockets, control, serve,
};
use vfed_media::{AccessUnit, StreamMetadata};

pub const SERVER_ID: &str = "34020000002000000001";
pub const DOMAIN: &str = "3402000000";
pub const PASSWORD: &str = "12345678";

/// Everything the sinks were told, in order.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<DeviceEvent>>,
    pub catalogs: Mutex<Vec<CatalogReport>>,
    pub infos: Mutex<Vec<DeviceInfo>>,
    pub statuses: Mutex<Vec<DeviceStatus>>,
    pub metadata: Mutex<Vec<(String, StreamMetadata)>>,
    pub units: Mutex<Vec<(String, AccessUnit)>>,
    changed: Notify,
}

impl Recorder {
    pub fn events(&self) -> Vec<DeviceEvent> {
        self.events.lock().unwrap().clone()
    }

    pub fn catalogs(&self) -> Vec<CatalogReport> {
        self.catalogs.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) until `done` holds; panics with `what` if not.
    pub async fn wait(&self, what: &str, limit: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if done(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                assert!(
                    done(self),
                    "timed out waiting for {what}; events: {:#?}",
                    self.events()
                );
                return;
            }
        }
    }
}

#[async_trait]
impl DeviceSink for Recorder {
    async fn device_event(&self, event: DeviceEvent) {
        self.events.lock().unwrap().push(event);
        self.changed.notify_waiters();
    }
}

#[async_trait]
impl CatalogSink for Recorder {
    async fn catalog(&self, report: CatalogReport) {
        self.catalogs.lock().unwrap().push(report);
        self.changed.notify_waiters();
    }

    async fn device_info(&self, info: DeviceInfo) {
        self.infos.lock().unwrap().push(info);
        self.changed.notify_waiters();
    }

    async fn device_status(&self, status: DeviceStatus) {
        self.statuses.lock().unwrap().push(status);
        self.changed.notify_waiters();
    }
}

#[async_trait]
impl MediaSink for Recorder {
    async fn metadata(&self, channel_id: &str, metadata: StreamMetadata) {
        self.metadata
            .lock()
            .unwrap()
            .push((channel_id.to_owned(), metadata));
        self.changed.notify_waiters();
    }

    async fn access_unit(&self, channel_id: &str, unit: AccessUnit) {
        self.units
            .lock()
            .unwrap()
            .push((channel_id.to_owned(), unit));
        self.changed.notify_waiters();
    }
}

/// A node serving GB/T 28181 on loopback.
pub struct Node {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub recorder: Arc<Recorder>,
    pub handle: Handle,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Starts a node; `configure` adjusts the test defaults (keepalive
    /// 1 s x 3, default password, no queries on register).
    pub async fn start(configure: impl FnOnce(&mut Options)) -> Self {
        let mut options = Options::new(SERVER_ID, DOMAIN);
        options.default_password = Some(PASSWORD.to_owned());
        options.keepalive_interval = Duration::from_secs(1);
        options.sweep_period = Duration::from_millis(100);
        options.query_on_register = false;
        configure(&mut options);
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        let recorder = Arc::new(Recorder::default());
        let sinks = Sinks {
            devices: recorder.clone(),
            catalog: recorder.clone(),
            media: recorder.clone(),
        };
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let (handle, control) = control();
        let task = tokio::spawn(async move {
            serve(
                options,
                Sockets {
                    udp: Some(udp),
                    tcp: Some(tcp),
                },
                sinks,
                stop,
                control,
            )
            .await
            .unwrap();
        });
        Self {
            udp: udp_addr,
            tcp: tcp_addr,
            recorder,
            handle,
            shutdown,
            task,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

/// A free loopback port (UDP and TCP both free at the time of asking).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
