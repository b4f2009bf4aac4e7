//! MESSAGE requests from devices: keepalives, catalog pages, DeviceInfo
//! and DeviceStatus responses. Only registered devices are heard, and only
//! from the IP they registered from.

use std::time::Instant;

use tracing::{debug, info};

use crate::catalog::CatalogOutcome;
use crate::core::Core;
use crate::manscdp::ManscdpBody;
use crate::sinks::DeviceEvent;
use crate::sip::Message;
use crate::sip::address::uri_user;
use crate::transport::Peer;

impl Core {
    pub(crate) async fn message(&mut self, peer: Peer, request: &Message) {
        let from = request.headers.get("from").unwrap_or_default();
        let Some(device_id) = uri_user(from).map(str::to_owned) else {
            let text = "From: no SIP URI with a user part";
            return self.bad_request(&peer, request, text).await;
        };
        let registered_ip = self.devices.get(&device_id).map(|d| d.peer.address().ip());
        match registered_ip {
            None => {
                let text = format!("device {device_id} is not registered: REGISTER first");
                return self
                    .answer(&peer, request, 403, "Forbidden", Some(&text), &[])
                    .await;
            }
            Some(ip) if ip != peer.address().ip() => {
                let text =
                    format!("device {device_id} registered from another address: REGISTER again");
                return self
                    .answer(&peer, request, 403, "Forbidden", Some(&text), &[])
                    .await;
            }
            Some(_) => {}
        }
        let body = match ManscdpBody::parse(&request.body) {
            Ok((body, _)) => body,
            Err(e) => {
                return self.bad_request(&peer, request, &e.to_string()).await;
            }
        };
        self.answer(&peer, request, 200, "OK", None, &[]).await;
        let came_back = match self.devices.get_mut(&device_id) {
            Some(device) => {
                device.last_heard = Instant::now();
                !std::mem::replace(&mut device.online, true)
            }
            None => false,
        };
        if came_back {
            self.emit(DeviceEvent::Online {
                device_id: device_id.clone(),
            })
            .await;
        }
        match body {
            ManscdpBody::Keepalive { .. } => {
                self.sinks
                    .devices
                    .device_event(DeviceEvent::Keepalive { device_id })
                    .await;
            }
            ManscdpBody::Catalog(page) => {
                debug!(device = %device_id, sn = page.sn, items = page.items.len(), "gb28181: catalog page");
                if let Some(report) = self.catalogs.page(&device_id, page, Instant::now()) {
                    debug_assert_eq!(report.outcome, CatalogOutcome::Complete);
                    info!(device = %device_id, items = report.items.len(), pages = report.pages, "gb28181: catalog complete");
                    self.sinks.catalog.catalog(report).await;
                }
            }
            ManscdpBody::DeviceInfo(mut info) => {
                info.device_id = device_id;
                self.sinks.catalog.device_info(info).await;
            }
            ManscdpBody::DeviceStatus(mut status) => {
                status.device_id = device_id;
                self.sinks.catalog.device_status(status).await;
            }
            ManscdpBody::Other { root, cmd_type } => {
                debug!(device = %device_id, %root, %cmd_type, "gb28181: MESSAGE not used yet");
            }
        }
    }
}
