//! The upper's live sessions: INVITE answered with an SDP (media bound
//! before the answer, the relay subscribed at once), streaming from the
//! ACK, ended by the upper's BYE or CANCEL, by vfed's BYE when the source
//! or the media path ends, or reaped: no ACK within 10 s, or the upper
//! judged offline. Bounded by `max_sessions`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::client::Client;
use super::invite::{answer, parse_offer};
use super::sender::{Packetizer, Prepared, stream};
use super::sources::{LiveItem, LiveSource};
use crate::sip::address::{header_param, uri_of, uri_user};
use crate::sip::build::{OutgoingRequest, response};
use crate::sip::{Headers, Message, Method};

/// How long the upper has to ACK a 200.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// A session that ended on vfed's side: its Call-ID and why.
pub(crate) type Ended = (String, String);

struct Session {
    invite: Message,
    to_tag: String,
    ok: Message,
    stop: CancellationToken,
    ack_by: Option<Instant>,
    pending: Option<(Prepared, mpsc::Receiver<LiveItem>, Packetizer)>,
}

pub(crate) struct Sessions {
    live: Arc<dyn LiveSource>,
    max: usize,
    map: HashMap<String, Session>,
    pub(crate) ended: (mpsc::Sender<Ended>, mpsc::Receiver<Ended>),
}

impl Sessions {
    pub(crate) fn new(live: Arc<dyn LiveSource>, max: usize) -> Self {
        Self {
            live,
            max,
            map: HashMap::new(),
            ended: mpsc::channel(64),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn stop_all(&mut self) {
        for (_, session) in self.map.drain() {
            session.stop.cancel();
        }
    }

    /// Drops sessions whose ACK did not come in time.
    pub(crate) fn reap(&mut self, now: Instant) {
        self.map.retain(|_, session| {
            let keep = session.ack_by.is_none_or(|by| now < by);
            if !keep {
                session.stop.cancel();
            }
            keep
        });
    }
}

/// `message` with `body` as its `content_type` content.
fn with_body(message: Message, content_type: &str, body: String) -> Message {
    let mut headers = Headers::default();
    for (name, value) in message.headers.iter() {
        if name != "content-length" {
            headers.push(name, value);
        }
    }
    headers.push("content-type", content_type);
    headers.push("content-length", body.len().to_string());
    Message {
        start: message.start,
        headers,
        body: Bytes::from(body),
    }
}

impl Client {
    pub(crate) async fn on_invite(&mut self, request: &Message) {
        let Some(call_id) = request.call_id().map(str::to_owned) else {
            return;
        };
        if let Some(session) = self.sessions.map.get(&call_id) {
            // A retransmitted INVITE: the same answer again.
            let ok = session.ok.clone();
            return self.send_response(&ok).await;
        }
        let device = match &request.start {
            crate::sip::StartLine::Request { uri, .. } => {
                uri_user(uri).unwrap_or_default().to_owned()
            }
            crate::sip::StartLine::Response { .. } => return,
        };
        if self.sessions.map.len() >= self.sessions.max {
            let why = format!("at most {} live sessions per upper", self.sessions.max);
            return self.answer(request, 486, "Busy Here", Some(&why)).await;
        }
        let offer = match parse_offer(&request.body) {
            Ok(offer) => offer,
            Err(error) => {
                return self
                    .answer(
                        request,
                        488,
                        "Not Acceptable Here",
                        Some(&error.to_string()),
                    )
                    .await;
            }
        };
        if !self.visible().await.iter().any(|d| d.device_id == device) {
            let why = "no shared, accepted device with this ID on this node (R6.1, R11)";
            return self.answer(request, 404, "Not Found", Some(why)).await;
        }
        let Some(local_ip) = self.link.as_ref().map(|l| l.local.ip()) else {
            return;
        };
        let items = match self.sessions.live.subscribe(&device).await {
            Ok(items) => items,
            Err(error) => {
                return self
                    .answer(
                        request,
                        503,
                        "Service Unavailable",
                        Some(&error.to_string()),
                    )
                    .await;
            }
        };
        let (prepared, port) = match Prepared::bind(&offer, local_ip).await {
            Ok(bound) => bound,
            Err(error) => {
                let why = format!("media socket: {error}");
                return self
                    .answer(request, 500, "Server Internal Error", Some(&why))
                    .await;
            }
        };
        // `0` then 9 digits: a live stream (GB/T 28181 Annex F).
        let ssrc = offer
            .ssrc
            .unwrap_or_else(|| rand::random::<u32>() % 1_000_000_000);
        let to_tag = format!("{:016x}", rand::random::<u64>());
        let contact = format!(
            "<sip:{}@{}>",
            self.options.local_id,
            self.link
                .as_ref()
                .map(|l| l.local.to_string())
                .unwrap_or_default()
        );
        let ok = with_body(
            response(request, 200, "OK", &to_tag, &[("contact", contact)]),
            "APPLICATION/SDP",
            answer(&self.options.local_id, local_ip, port, &offer, ssrc),
        );
        self.send_response(&ok).await;
        info!(upper = %self.options.server_id, %device, ssrc, mode = ?offer.mode, "gb28181 upper: live session answered");
        self.sessions.map.insert(
            call_id,
            Session {
                invite: request.clone(),
                to_tag,
                ok,
                stop: CancellationToken::new(),
                ack_by: Some(Instant::now() + ACK_TIMEOUT),
                pending: Some((prepared, items, Packetizer::new(ssrc, offer.payload_type))),
            },
        );
    }

    pub(crate) fn on_ack(&mut self, request: &Message) {
        let Some(call_id) = request.call_id() else {
            return;
        };
        let Some(session) = self.sessions.map.get_mut(call_id) else {
            return;
        };
        session.ack_by = None;
        let Some((prepared, items, packetizer)) = session.pending.take() else {
            return;
        };
        let stop = session.stop.clone();
        let ended = self.sessions.ended.0.clone();
        let call_id = call_id.to_owned();
        tokio::spawn(async move {
            if let Some(why) = stream(prepared, items, packetizer, stop).await {
                let _ = ended.send((call_id, why)).await;
            }
        });
    }

    pub(crate) async fn on_bye(&mut self, request: &Message) {
        let call_id = request.call_id().unwrap_or_default().to_owned();
        let is_cancel = request.method() == Some(&Method::Cancel);
        match self.sessions.map.remove(&call_id) {
            Some(session) => {
                session.stop.cancel();
                self.answer(request, 200, "OK", None).await;
                if is_cancel && session.ack_by.is_some() {
                    let terminated = response(
                        &session.invite,
                        487,
                        "Request Terminated",
                        &session.to_tag,
                        &[],
                    );
                    self.send_response(&terminated).await;
                }
            }
            None => {
                self.answer(
                    request,
                    481,
                    "Call/Transaction Does Not Exist",
                    Some("no such session"),
                )
                .await;
            }
        }
    }

    /// A session ended on vfed's side: BYE to the upper.
    pub(crate) async fn session_ended(&mut self, call_id: &str, why: &str) {
        let Some(session) = self.sessions.map.remove(call_id) else {
            return;
        };
        session.stop.cancel();
        info!(upper = %self.options.server_id, %why, "gb28181 upper: live session ended; BYE");
        let invite = &session.invite;
        let target = invite
            .headers
            .get("contact")
            .or_else(|| invite.headers.get("from"))
            .map(uri_of)
            .unwrap_or_default()
            .to_owned();
        let from = format!(
            "{};tag={}",
            invite.headers.get("to").unwrap_or_default(),
            session.to_tag
        );
        let to = invite.headers.get("from").unwrap_or_default().to_owned();
        if header_param(&to, "tag").is_none() || target.is_empty() {
            return;
        }
        let Some(link) = self.link.as_ref() else {
            return;
        };
        let sent_by = link.local.to_string();
        let transport = link.transport_token();
        let cseq = self.next_cseq();
        let bye = OutgoingRequest {
            method: Method::Bye,
            uri: &target,
            transport,
            sent_by: &sent_by,
            branch: &format!("{:016x}", rand::random::<u64>()),
            from: &from,
            to: &to,
            call_id,
            cseq,
            content_type: None,
            body: Bytes::new(),
        }
        .build();
        self.send_request(bye).await;
    }
}
