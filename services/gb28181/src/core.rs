//! The registrar's single task: it owns the device table and the catalogs
//! being reassembled, answers every request once, sweeps for silence and
//! timeouts, and calls the sinks in order.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::catalog::Reassembler;
use crate::digest::Nonces;
use crate::live::{Command, Session};
use crate::manscdp::query::{QueryKind, query_body};
use crate::options::Options;
use crate::retransmit::Retransmissions;
use crate::sinks::{DeviceEvent, Sinks, Transport};
use crate::sip::build::{OutgoingRequest, response};
use crate::sip::{Message, Method, StartLine};
use crate::transport::{Inbound, Outbound, Peer};

/// A registered device.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    /// Where it registered from (its requests must come from this IP).
    pub peer: Peer,
    /// When the registration runs out.
    pub expires_at: Instant,
    /// When it was last heard (REGISTER, keepalive or any MESSAGE).
    pub last_heard: Instant,
    /// Whether it is online (heard within keepalive interval x misses).
    pub online: bool,
}

/// Where our requests say they come from.
#[derive(Clone, Debug, Default)]
pub(crate) struct SentBy {
    pub udp: Option<String>,
    pub tcp: Option<String>,
    /// The address media sockets bind (the UDP SIP socket's, else the TCP one's).
    pub media_ip: Option<std::net::IpAddr>,
}

pub(crate) struct Core {
    pub options: Options,
    pub sinks: Sinks,
    pub out: Outbound,
    pub nonces: Nonces,
    pub devices: HashMap<String, Device>,
    pub catalogs: Reassembler,
    pub sent_by: SentBy,
    pub local_tag: String,
    pub sessions: HashMap<String, Session>,
    pub invites: HashMap<String, String>,
    pub next_ssrc: u32,
    /// The next port tried in `Options::media_ports`.
    pub next_media_port: u32,
    pub retransmissions: Retransmissions,
    next_sn: u32,
    next_cseq: u32,
}

impl Core {
    pub fn new(options: Options, sinks: Sinks, out: Outbound, sent_by: SentBy) -> Self {
        Self {
            nonces: Nonces::new(options.nonce_max_age),
            catalogs: Reassembler::new(
                options.catalog_timeout,
                options.max_pending_catalogs,
                options.max_catalog_items,
            ),
            devices: HashMap::new(),
            local_tag: random_token(),
            sessions: HashMap::new(),
            invites: HashMap::new(),
            next_ssrc: 0,
            next_media_port: 0,
            retransmissions: Retransmissions::default(),
            next_sn: rand::random::<u16>().into(),
            next_cseq: 1,
            options,
            sinks,
            out,
            sent_by,
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(
        mut self,
        mut queue: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let mut sweep = tokio::time::interval(self.options.sweep_period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut handles = true;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = sweep.tick() => self.sweep(Instant::now()).await,
                inbound = queue.recv() => match inbound {
                    Some(inbound) => self.handle(inbound).await,
                    None => break,
                },
                command = commands.recv(), if handles => match command {
                    Some(command) => self.command(command).await,
                    None => handles = false,
                },
            }
        }
        for session in self.sessions.values() {
            session.stop();
        }
    }

    async fn handle(&mut self, inbound: Inbound) {
        let peer = inbound.peer;
        let message = match inbound.message {
            Ok(message) => message,
            Err(rejected) => {
                warn!(from = %peer.address(), error = %rejected.error, "gb28181: message refused");
                if let Some(head) = rejected.head
                    && matches!(&head.start, StartLine::Request { method, .. } if *method != Method::Ack)
                {
                    let (code, reason) = rejected.error.status();
                    self.answer(
                        &peer,
                        &head,
                        code,
                        reason,
                        Some(&rejected.error.to_string()),
                        &[],
                    )
                    .await;
                }
                return;
            }
        };
        let method = match &message.start {
            StartLine::Request { method, .. } => method.clone(),
            StartLine::Response { code, .. } => {
                debug!(from = %peer.address(), code, cseq = ?message.cseq(), "gb28181: response");
                if let Some(call_id) = message.call_id() {
                    self.retransmissions.answered(call_id);
                }
                let channel = message
                    .call_id()
                    .and_then(|id| self.invites.get(id))
                    .cloned();
                if let Some(channel) = channel
                    && message
                        .cseq()
                        .is_some_and(|(_, m)| m.eq_ignore_ascii_case("INVITE"))
                {
                    self.invite_response(&channel, &message).await;
                }
                return;
            }
        };
        match method {
            Method::Register => self.register(peer, &message).await,
            Method::Message => self.message(peer, &message).await,
            Method::Options => self.answer(&peer, &message, 200, "OK", None, &[]).await,
            Method::Ack => {}
            Method::Bye => self.device_bye(peer, &message).await,
            other => {
                let text = format!("{other} is not served here (REGISTER, MESSAGE, OPTIONS)");
                self.answer(
                    &peer,
                    &message,
                    405,
                    "Method Not Allowed",
                    Some(&text),
                    &[("allow", "REGISTER, MESSAGE, OPTIONS".to_owned())],
                )
                .await;
            }
        }
    }

    /// Answers `request` with `code`; `warning` (why it was refused) goes
    /// in a Warning header (RFC 3261 §20.43, code 399).
    pub async fn answer(
        &self,
        peer: &Peer,
        request: &Message,
        code: u16,
        reason: &str,
        warning: Option<&str>,
        extra: &[(&str, String)],
    ) {
        if code >= 400 {
            self.options
                .refusals
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let mut extra = extra.to_vec();
        if let Some(text) = warning {
            let clean: String = text
                .chars()
                .filter(|c| !c.is_control() && *c != '"')
                .take(300)
                .collect();
            extra.push((
                "warning",
                format!("399 {} \"{clean}\"", self.options.server_id),
            ));
        }
        let reply = response(request, code, reason, &self.local_tag, &extra);
        if let Err(e) = self.out.send(peer, reply.to_bytes()).await {
            debug!(to = %peer.address(), error = %e, "gb28181: answer not sent");
        }
    }

    /// Sends a request of ours, kept for retransmission over UDP.
    pub async fn send_request(&mut self, peer: &Peer, call_id: &str, bytes: Vec<u8>) {
        self.retransmissions
            .sent(call_id, *peer, bytes.clone(), Instant::now());
        if let Err(e) = self.out.send(peer, bytes).await {
            warn!(to = %peer.address(), error = %e, "gb28181: request not sent");
        }
    }

    /// Our sent-by on `transport`, if we serve it.
    pub fn sent_by_for(&self, transport: Transport) -> Option<String> {
        match transport {
            Transport::Udp => self.sent_by.udp.clone(),
            Transport::Tcp => self.sent_by.tcp.clone(),
        }
    }

    /// Answers 400 with why.
    pub async fn bad_request(&self, peer: &Peer, request: &Message, why: &str) {
        self.answer(peer, request, 400, "Bad Request", Some(why), &[])
            .await;
    }

    /// Sends a device event to the sink.
    pub async fn emit(&self, event: DeviceEvent) {
        info!(device = event.device_id(), ?event, "gb28181: device");
        self.sinks.devices.device_event(event).await;
    }

    /// Sends a MANSCDP query to a registered device.
    pub async fn query(&mut self, device_id: &str, kind: QueryKind) {
        let Some(device) = self.devices.get(device_id) else {
            return;
        };
        let peer = device.peer;
        let Some(sent_by) = self.sent_by_for(peer.transport()) else {
            return;
        };
        self.next_sn = self.next_sn.wrapping_add(1) % 1_000_000_000;
        self.next_cseq = self.next_cseq.wrapping_add(1).max(1);
        let sn = self.next_sn;
        if kind == QueryKind::Catalog && !self.catalogs.expect(device_id, sn, Instant::now()) {
            warn!(
                device = device_id,
                "gb28181: too many catalogs pending, query not sent"
            );
            return;
        }
        let domain = &self.options.domain;
        let uri = format!("sip:{device_id}@{}", peer.address());
        let from = format!(
            "<sip:{}@{domain}>;tag={}",
            self.options.server_id,
            random_token()
        );
        let to = format!("<sip:{device_id}@{domain}>");
        let call_id = format!("{}@{sent_by}", random_token());
        let branch = random_token();
        let transport = match peer.transport() {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        };
        let request = OutgoingRequest {
            method: Method::Message,
            uri: &uri,
            transport,
            sent_by: &sent_by,
            branch: &branch,
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq: self.next_cseq,
            content_type: Some("Application/MANSCDP+xml"),
            body: Bytes::from(query_body(kind, sn, device_id)),
        }
        .build();
        debug!(
            device = device_id,
            sn,
            kind = kind.cmd_type(),
            "gb28181: query"
        );
        self.send_request(&peer, &call_id, request.to_bytes()).await;
    }

    /// Offline devices, ended registrations, timed-out catalogs.
    async fn sweep(&mut self, now: Instant) {
        let offline_after = self.options.offline_after();
        let mut expired = Vec::new();
        let mut silent = Vec::new();
        for (id, device) in &mut self.devices {
            if now >= device.expires_at {
                expired.push(id.clone());
            } else if device.online && now.duration_since(device.last_heard) > offline_after {
                device.online = false;
                silent.push((id.clone(), now.duration_since(device.last_heard)));
            }
        }
        silent.sort();
        expired.sort();
        for (device_id, silent_for) in silent {
            let cause = format!(
                "no keepalive for {:?} ({} x {:?}, R14.3)",
                silent_for, self.options.keepalive_misses, self.options.keepalive_interval
            );
            self.emit(DeviceEvent::Offline {
                device_id,
                silent_for,
                cause,
            })
            .await;
        }
        for device_id in expired {
            self.devices.remove(&device_id);
            self.catalogs.forget(&device_id);
            self.emit(DeviceEvent::Unregistered {
                device_id,
                cause: "registration expired without a refresh".to_owned(),
            })
            .await;
        }
        self.expire_invites(now);
        for (peer, bytes) in self.retransmissions.due(now) {
            if let Err(e) = self.out.send(&peer, bytes).await {
                debug!(to = %peer.address(), error = %e, "gb28181: retransmission not sent");
            }
        }
        for report in self.catalogs.expire(now) {
            warn!(device = %report.device_id, sn = report.sn, outcome = ?report.outcome, "gb28181: catalog incomplete");
            self.sinks.catalog.catalog(report).await;
        }
    }
}

/// 16 random hex digits (tags, branches, Call-IDs).
pub(crate) fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}
