//! The upper's catalog subscription (GB/T 28181 §9.11): a SUBSCRIBE with
//! `Event: Catalog` opens a dialog in which catalog changes go up as
//! NOTIFY (`Subscription-State: active`); `Expires: 0` ends it; one
//! subscription per upper (a new one replaces the old). Without one,
//! changes go up as MESSAGE notifications.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::body;
use super::client::Client;
use crate::sip::address::uri_of;
use crate::sip::build::{OutgoingRequest, response};
use crate::sip::{Headers, Message, Method};

/// Longest subscription granted, seconds.
const MAX_EXPIRES: u32 = 86_400;
/// Subscription lifetime when the upper asks none.
const DEFAULT_EXPIRES: u32 = 3600;

/// An open catalog subscription.
#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    call_id: String,
    /// Our From in NOTIFYs: the upper's To with our tag.
    from: String,
    /// Our To in NOTIFYs: the upper's From.
    to: String,
    /// The upper's Contact.
    target: String,
    event: String,
    until: Instant,
}

impl Subscription {
    pub(crate) fn active(&self, now: Instant) -> bool {
        now < self.until
    }
}

impl Client {
    pub(crate) async fn on_subscribe(&mut self, request: &Message) {
        let event = request.headers.get("event").unwrap_or_default().to_owned();
        let package = event.split(';').next().unwrap_or_default().trim();
        if !package.eq_ignore_ascii_case("catalog") {
            let why = "only Event: Catalog is served";
            return self.answer(request, 489, "Bad Event", Some(why)).await;
        }
        let query = match body::read_query(&request.body) {
            Ok(query) if query.cmd_type.eq_ignore_ascii_case("catalog") => query,
            Ok(_) => {
                let why = "a catalog subscription's body is a Catalog query";
                return self.answer(request, 400, "Bad Request", Some(why)).await;
            }
            Err(error) => {
                return self
                    .answer(request, 400, "Bad Request", Some(&error.to_string()))
                    .await;
            }
        };
        let expires = match request
            .headers
            .get("expires")
            .map(|e| e.trim().parse::<u32>())
        {
            None => DEFAULT_EXPIRES,
            Some(Ok(expires)) => expires.min(MAX_EXPIRES),
            Some(Err(_)) => {
                let why = "Expires: a number of seconds";
                return self.answer(request, 400, "Bad Request", Some(why)).await;
            }
        };
        let target = request
            .headers
            .get("contact")
            .or_else(|| request.headers.get("from"))
            .map(uri_of)
            .unwrap_or_default()
            .to_owned();
        let (Some(call_id), Some(from), Some(to)) = (
            request.call_id(),
            request.headers.get("from"),
            request.headers.get("to"),
        ) else {
            return;
        };
        let tag = format!("{:016x}", rand::random::<u64>());
        self.subscription = (expires > 0).then(|| Subscription {
            call_id: call_id.to_owned(),
            from: format!("{to};tag={tag}"),
            to: from.to_owned(),
            target,
            event: event.clone(),
            until: Instant::now() + Duration::from_secs(u64::from(expires)),
        });
        let ok = response(
            request,
            200,
            "OK",
            &tag,
            &[("expires", expires.to_string())],
        );
        let xml = format!(
            "<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>{}</SN>\r\n<DeviceID>{}</DeviceID>\r\n\
             <Result>OK</Result>\r\n</Response>\r\n",
            query.sn, self.options.local_id
        );
        let encoded = body::encode(&xml, self.options.charset);
        let mut headers = Headers::default();
        for (name, value) in ok.headers.iter().filter(|(n, _)| *n != "content-length") {
            headers.push(name, value);
        }
        headers.push("content-type", "Application/MANSCDP+xml");
        headers.push("content-length", encoded.len().to_string());
        let ok = Message {
            start: ok.start,
            headers,
            body: Bytes::from(encoded),
        };
        self.send_response(&ok).await;
    }

    /// Sends `xml` as a NOTIFY in the subscription's dialog.
    pub(crate) async fn notify(&mut self, subscription: &Subscription, xml: &str) {
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let sent_by = link.local.to_string();
        let transport = link.transport_token();
        let left = subscription
            .until
            .saturating_duration_since(Instant::now())
            .as_secs();
        let encoded = body::encode(xml, self.options.charset);
        let cseq = self.next_cseq();
        let mut notify = OutgoingRequest {
            method: Method::Notify,
            uri: &subscription.target,
            transport,
            sent_by: &sent_by,
            branch: &format!("{:016x}", rand::random::<u64>()),
            from: &subscription.from,
            to: &subscription.to,
            call_id: &subscription.call_id,
            cseq,
            content_type: Some("Application/MANSCDP+xml"),
            body: Bytes::from(encoded),
        }
        .build();
        notify.headers.push("event", subscription.event.clone());
        notify
            .headers
            .push("subscription-state", format!("active;expires={left}"));
        self.send_request(notify).await;
    }
}
