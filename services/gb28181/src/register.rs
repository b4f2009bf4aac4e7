//! REGISTER: digest challenge and check, refresh, `Expires: 0`, a device
//! moving to a new address, per-device or default password.

use std::time::{Duration, Instant};

use tracing::warn;
use vfed_gbcode::GbCode;

use crate::core::{Core, Device};
use crate::digest::Credentials;
use crate::manscdp::query::QueryKind;
use crate::sinks::{DeviceEvent, RegisterKind};
use crate::sip::Message;
use crate::sip::address::{header_param, uri_user};
use crate::transport::Peer;

impl Core {
    pub(crate) async fn register(&mut self, peer: Peer, request: &Message) {
        let from = request.headers.get("from").unwrap_or_default();
        let Some(device_id) = uri_user(from).filter(|user| GbCode::parse(user).is_ok()) else {
            let text = "From: the user part must be the device's 20-digit GB/T 28181 ID";
            return self.bad_request(&peer, request, text).await;
        };
        let device_id = device_id.to_owned();
        let asked = match requested_expires(request) {
            Ok(asked) => asked,
            Err(text) => {
                return self.bad_request(&peer, request, text).await;
            }
        };
        let Some(password) = self.options.password_of(&device_id).map(str::to_owned) else {
            let text =
                format!("device {device_id} has no password on this node and there is no default");
            return self
                .answer(&peer, request, 403, "Forbidden", Some(&text), &[])
                .await;
        };
        let Some(authorization) = request.headers.get("authorization") else {
            return self.challenge(&peer, request, &device_id, false).await;
        };
        let credentials = match Credentials::parse(authorization) {
            Ok(credentials) => credentials,
            Err(e) => {
                return self.bad_request(&peer, request, &e.to_string()).await;
            }
        };
        if !self.nonces.check(&device_id, &credentials.nonce) {
            return self.challenge(&peer, request, &device_id, true).await;
        }
        if !credentials.verify("REGISTER", &password) {
            warn!(device = %device_id, from = %peer.address(), "gb28181: REGISTER digest refused");
            let text =
                "Authorization: the digest response does not match (wrong password or username)";
            return self
                .answer(&peer, request, 403, "Forbidden", Some(text), &[])
                .await;
        }
        let contact = request.headers.get("contact").map(str::to_owned);
        let mut extra = vec![("date", gb_date())];
        if let Some(contact) = &contact {
            extra.push(("contact", contact.clone()));
        }
        if asked == Some(0) {
            let was = self.devices.remove(&device_id);
            self.catalogs.forget(&device_id);
            extra.push(("expires", "0".to_owned()));
            self.answer(&peer, request, 200, "OK", None, &extra).await;
            if was.is_some() {
                self.emit(DeviceEvent::Unregistered {
                    device_id,
                    cause: "the device unregistered (Expires: 0)".to_owned(),
                })
                .await;
            }
            return;
        }
        let (low, high) = self.options.expires_range;
        let granted = asked
            .unwrap_or(self.options.default_expires)
            .clamp(low, high);
        let kind = match self.devices.get(&device_id) {
            None if self.devices.len() >= self.options.max_devices => {
                let text = format!(
                    "the node serves at most {} devices",
                    self.options.max_devices
                );
                return self
                    .answer(&peer, request, 503, "Service Unavailable", Some(&text), &[])
                    .await;
            }
            None => RegisterKind::New,
            Some(device) if device.peer == peer => RegisterKind::Renewed,
            Some(device) => RegisterKind::Moved {
                from: device.peer.address(),
            },
        };
        let now = Instant::now();
        self.devices.insert(
            device_id.clone(),
            Device {
                peer,
                expires_at: now + Duration::from_secs(granted.into()),
                last_heard: now,
                online: true,
            },
        );
        extra.push(("expires", granted.to_string()));
        self.answer(&peer, request, 200, "OK", None, &extra).await;
        let query = kind != RegisterKind::Renewed && self.options.query_on_register;
        self.emit(DeviceEvent::Registered {
            device_id: device_id.clone(),
            address: peer.address(),
            transport: peer.transport(),
            expires: granted,
            kind,
        })
        .await;
        if query {
            for kind in [
                QueryKind::Catalog,
                QueryKind::DeviceInfo,
                QueryKind::DeviceStatus,
            ] {
                self.query(&device_id, kind).await;
            }
        }
    }

    /// 401 with a fresh nonce. `algorithm=MD5` is always named (Dahua
    /// NVRs do not retry without it) and `qop="auth"` offered; answers
    /// with or without qop are both accepted.
    async fn challenge(&self, peer: &Peer, request: &Message, device_id: &str, stale: bool) {
        let nonce = self.nonces.issue(device_id);
        let mut value = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"",
            self.options.domain
        );
        if stale {
            value.push_str(", stale=TRUE");
        }
        self.answer(
            peer,
            request,
            401,
            "Unauthorized",
            None,
            &[("www-authenticate", value)],
        )
        .await;
    }
}

/// The lifetime asked: the Expires header, else the Contact's `expires`
/// parameter, else none.
fn requested_expires(request: &Message) -> Result<Option<u32>, &'static str> {
    let value = request.headers.get("expires").or_else(|| {
        request
            .headers
            .get("contact")
            .and_then(|c| header_param(c, "expires"))
    });
    match value {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| "Expires: must be a number of seconds (0 to unregister)"),
    }
}

/// The Date GB/T 28181 devices set their clocks from (§9.10.1), UTC.
pub(crate) fn gb_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
    );
    now.format(&format).unwrap_or_default()
}
