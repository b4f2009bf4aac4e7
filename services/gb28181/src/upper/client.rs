//! One upper link's task: REGISTER with digest and refresh at 3/4 of the
//! granted lifetime, keepalive MESSAGEs, the upper judged offline after
//! `keepalive_misses` unanswered keepalives (or a refused or unanswered
//! REGISTER, or a closed TCP connection) and registered again with
//! backoff; the upper's queries and INVITEs answered; catalog changes
//! sent up. Everything runs on one task; timers are checked every 100 ms.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::auth::Challenge;
use super::body::{self, Query};
use super::link::{Link, LinkEvent};
use super::options::UpperOptions;
use super::session::Sessions;
use super::sources::{CatalogChange, ChangeEvent, LiveSource, SharedCatalog, SharedDevice};
use super::state::{StateCell, UpperStatus};
use super::subscription::Subscription;
use crate::retransmit::Retransmissions;
use crate::sip::address::header_param;
use crate::sip::build::{OutgoingRequest, response};
use crate::sip::{Message, Method};
use crate::transport::Peer;

const TICK: Duration = Duration::from_millis(100);
/// How long a REGISTER may go unanswered.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(8);
/// 401s in a row before the password is judged wrong.
const MAX_CHALLENGES: u32 = 2;
/// Shortest gap between two catalog answers (a query flood sends little).
const CATALOG_GAP: Duration = Duration::from_millis(500);

enum Phase {
    Down { retry_at: Instant },
    Registering { deadline: Instant, challenges: u32 },
    Registered { refresh_at: Instant },
}

pub(crate) struct Client {
    pub(crate) options: UpperOptions,
    catalog: Arc<dyn SharedCatalog>,
    pub(crate) state: StateCell,
    pub(crate) link: Option<Link>,
    events: (mpsc::Sender<LinkEvent>, mpsc::Receiver<LinkEvent>),
    phase: Phase,
    register_call: String,
    pub(crate) cseq: u32,
    pub(crate) tag: String,
    backoff: Duration,
    keepalive_at: Instant,
    keepalive_pending: Option<String>,
    misses: u32,
    sn: u32,
    retransmit: Retransmissions,
    pub(crate) sessions: Sessions,
    announced: HashSet<String>,
    last_catalog: Option<(u32, Instant)>,
    expires: u32,
    pub(crate) subscription: Option<Subscription>,
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Client {
    pub(crate) fn new(
        options: UpperOptions,
        catalog: Arc<dyn SharedCatalog>,
        live: Arc<dyn LiveSource>,
        state: StateCell,
    ) -> Self {
        let now = Instant::now();
        let backoff = options.retry_min;
        let max_sessions = options.max_sessions;
        Self {
            options,
            catalog,
            state,
            link: None,
            events: mpsc::channel(256),
            phase: Phase::Down { retry_at: now },
            register_call: token(),
            cseq: 0,
            tag: token(),
            backoff,
            keepalive_at: now,
            keepalive_pending: None,
            misses: 0,
            sn: 0,
            retransmit: Retransmissions::default(),
            sessions: Sessions::new(live, max_sessions),
            announced: HashSet::new(),
            last_catalog: None,
            expires: 0,
            subscription: None,
        }
    }

    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut changes = self.catalog.changes();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => self.on_tick().await,
                Some(event) = self.events.1.recv() => match event {
                    LinkEvent::Message(message) => self.on_message(message).await,
                    LinkEvent::Closed(why) => self.fail(format!("connection: {why}")),
                },
                Some((call_id, why)) = self.sessions.ended.1.recv() => {
                    self.session_ended(&call_id, &why).await;
                }
                change = changes.recv() => match change {
                    Ok(change) => self.on_change(change).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(upper = %self.options.server_id, missed = n, "gb28181 upper: catalog changes lagged; the upper's next catalog query sees them");
                    }
                    Err(broadcast::error::RecvError::Closed) => changes = broadcast::channel(1).1,
                },
            }
            self.state.set_sessions(self.sessions.len());
        }
        self.sessions.stop_all();
        if matches!(self.phase, Phase::Registered { .. }) {
            // Unregister, best effort (the upper may challenge; nobody waits).
            self.send_register(None, 0).await;
        }
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        match self.phase {
            Phase::Down { retry_at } if now >= retry_at => self.connect().await,
            Phase::Registering { deadline, .. } if now >= deadline => {
                self.fail("REGISTER unanswered".into());
            }
            Phase::Registered { refresh_at } => {
                if now >= refresh_at {
                    self.send_register(None, self.options.register_expires)
                        .await;
                    self.phase = Phase::Registering {
                        deadline: now + REGISTER_TIMEOUT,
                        challenges: 0,
                    };
                }
                if now >= self.keepalive_at {
                    self.keepalive(now).await;
                }
            }
            _ => {}
        }
        if let Some(link) = &self.link {
            for (_, bytes) in self.retransmit.due(now) {
                let _ = link.send_bytes(bytes).await;
            }
        }
        self.sessions.reap(now);
    }

    async fn connect(&mut self) {
        if self.link.is_none() {
            match Link::open(
                self.options.transport,
                self.options.local_ip,
                self.options.address,
                self.events.0.clone(),
            )
            .await
            {
                Ok(link) => {
                    self.link = Some(link);
                    self.register_call = token();
                    self.tag = token();
                }
                Err(error) => {
                    return self.fail(format!("connect to {}: {error}", self.options.address));
                }
            }
        }
        self.send_register(None, self.options.register_expires)
            .await;
        self.phase = Phase::Registering {
            deadline: Instant::now() + REGISTER_TIMEOUT,
            challenges: 0,
        };
    }

    /// The upper is gone or refuses: offline, sessions reaped, retry later.
    fn fail(&mut self, why: String) {
        warn!(upper = %self.options.server_id, %why, "gb28181 upper offline");
        self.state.set_status(UpperStatus::Offline, Some(why));
        self.sessions.stop_all();
        self.link = None;
        self.retransmit = Retransmissions::default();
        self.keepalive_pending = None;
        self.subscription = None;
        self.misses = 0;
        self.phase = Phase::Down {
            retry_at: Instant::now() + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(self.options.retry_max);
    }

    fn upper_uri(&self) -> String {
        format!("sip:{}@{}", self.options.server_id, self.options.domain)
    }

    fn our_uri(&self) -> String {
        format!("sip:{}@{}", self.options.local_id, self.options.domain)
    }

    pub(crate) fn next_cseq(&mut self) -> u32 {
        self.cseq = self.cseq.wrapping_add(1).max(1);
        self.cseq
    }

    /// Sends a request on the link (kept for retransmission over UDP).
    pub(crate) async fn send_request(&mut self, message: Message) {
        let Some(link) = &self.link else { return };
        let bytes = message.to_bytes();
        if link.is_udp()
            && let Some(call_id) = message.call_id()
        {
            self.retransmit.sent(
                call_id,
                Peer::Udp(self.options.address),
                bytes.clone(),
                Instant::now(),
            );
        }
        if let Err(error) = link.send_bytes(bytes).await {
            debug!(%error, "gb28181 upper: send");
        }
    }

    pub(crate) async fn send_response(&self, message: &Message) {
        if let Some(link) = &self.link
            && let Err(error) = link.send(message).await
        {
            debug!(%error, "gb28181 upper: send response");
        }
    }

    fn outgoing(
        &self,
        method: Method,
        uri: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        body: Option<Vec<u8>>,
    ) -> Option<Message> {
        let link = self.link.as_ref()?;
        let sent_by = link.local.to_string();
        let content_type = body.as_ref().map(|_| "Application/MANSCDP+xml");
        Some(
            OutgoingRequest {
                method,
                uri,
                transport: link.transport_token(),
                sent_by: &sent_by,
                branch: &token(),
                from: &format!("<{}>;tag={}", self.our_uri(), self.tag),
                to,
                call_id,
                cseq,
                content_type,
                body: body.map(Bytes::from).unwrap_or_default(),
            }
            .build(),
        )
    }

    async fn send_register(&mut self, authorization: Option<String>, expires: u32) {
        let cseq = self.next_cseq();
        let call_id = self.register_call.clone();
        let to = format!("<{}>", self.our_uri());
        let Some(mut message) = self.outgoing(
            Method::Register,
            &self.upper_uri(),
            &to,
            &call_id,
            cseq,
            None,
        ) else {
            return;
        };
        let local = self
            .link
            .as_ref()
            .map(|l| l.local.to_string())
            .unwrap_or_default();
        message.headers.push(
            "contact",
            format!("<sip:{}@{local}>", self.options.local_id),
        );
        message.headers.push("expires", expires.to_string());
        message.headers.push("user-agent", "vfed");
        if let Some(authorization) = authorization {
            message.headers.push("authorization", authorization);
        }
        self.send_request(message).await;
    }

    /// A MANSCDP MESSAGE to the upper (new Call-ID).
    pub(crate) async fn send_manscdp(&mut self, xml: &str) -> String {
        let call_id = token();
        let cseq = self.next_cseq();
        let body = body::encode(xml, self.options.charset);
        let to = format!("<{}>", self.upper_uri());
        if let Some(message) = self.outgoing(
            Method::Message,
            &self.upper_uri(),
            &to,
            &call_id,
            cseq,
            Some(body),
        ) {
            self.send_request(message).await;
        }
        call_id
    }

    async fn keepalive(&mut self, now: Instant) {
        if self.keepalive_pending.take().is_some() {
            self.misses += 1;
            if self.misses >= self.options.keepalive_misses {
                let misses = self.misses;
                return self.fail(format!("{misses} keepalives unanswered"));
            }
        }
        self.sn = self.sn.wrapping_add(1);
        let xml = body::keepalive(self.sn, &self.options.local_id);
        let call_id = self.send_manscdp(&xml).await;
        self.keepalive_pending = Some(call_id);
        self.keepalive_at = now + self.options.keepalive_interval;
    }

    async fn on_message(&mut self, message: Message) {
        match message.method().cloned() {
            None => self.on_response(message).await,
            Some(method) => self.on_request(method, message).await,
        }
    }

    async fn on_response(&mut self, message: Message) {
        let (Some(code), Some(call_id)) = (message.status(), message.call_id().map(str::to_owned))
        else {
            return;
        };
        if code < 200 {
            return;
        }
        self.retransmit.answered(&call_id);
        if call_id == self.register_call && message.cseq().is_some_and(|(_, m)| m == "REGISTER") {
            return self.on_register_response(code, &message).await;
        }
        if self.keepalive_pending.as_deref() == Some(call_id.as_str()) {
            self.keepalive_pending = None;
            if code == 200 {
                self.misses = 0;
                self.state.update(|s| s.keepalives_answered += 1);
            } else if matches!(self.phase, Phase::Registered { .. }) {
                // The upper forgot this node (restarted): register again now.
                info!(upper = %self.options.server_id, code, "gb28181 upper refused a keepalive; registering again");
                self.state.update(|s| {
                    s.last_error = Some(format!("keepalive answered {code}; registering again"))
                });
                self.send_register(None, self.options.register_expires)
                    .await;
                self.phase = Phase::Registering {
                    deadline: Instant::now() + REGISTER_TIMEOUT,
                    challenges: 0,
                };
            }
        }
    }

    async fn on_register_response(&mut self, code: u16, message: &Message) {
        let Phase::Registering { challenges, .. } = self.phase else {
            return;
        };
        match code {
            401 | 407 => {
                if challenges >= MAX_CHALLENGES {
                    return self.fail(
                        "REGISTER: the upper refused the digest (wrong password or username?)"
                            .into(),
                    );
                }
                let header = if code == 401 {
                    "www-authenticate"
                } else {
                    "proxy-authenticate"
                };
                let Some(value) = message.headers.get(header) else {
                    return self.fail(format!("REGISTER: {code} without {header}"));
                };
                let challenge = match Challenge::parse(value) {
                    Ok(challenge) => challenge,
                    Err(error) => return self.fail(format!("REGISTER: {error}")),
                };
                let authorization = challenge.answer(
                    "REGISTER",
                    &self.upper_uri(),
                    &self.options.local_id,
                    &self.options.password,
                );
                self.send_register(Some(authorization), self.options.register_expires)
                    .await;
                self.phase = Phase::Registering {
                    deadline: Instant::now() + REGISTER_TIMEOUT,
                    challenges: challenges + 1,
                };
            }
            200..=299 => {
                let granted = message
                    .headers
                    .get("expires")
                    .and_then(|e| e.trim().parse::<u32>().ok())
                    .or_else(|| {
                        message
                            .headers
                            .get("contact")
                            .and_then(|c| header_param(c, "expires"))
                            .and_then(|e| e.parse().ok())
                    })
                    .unwrap_or(self.options.register_expires)
                    .clamp(10, 86_400);
                self.expires = granted;
                let now = Instant::now();
                self.phase = Phase::Registered {
                    refresh_at: now + Duration::from_secs(u64::from(granted)) * 3 / 4,
                };
                self.backoff = self.options.retry_min;
                if self.state.status() != UpperStatus::Registered {
                    info!(upper = %self.options.server_id, expires = granted, "gb28181 upper: registered");
                    self.keepalive_at = now;
                }
                self.state.set_status(UpperStatus::Registered, None);
                self.state.update(|s| s.registrations += 1);
            }
            _ => {
                let reason = match &message.start {
                    crate::sip::StartLine::Response { reason, .. } => {
                        reason.chars().take(64).collect()
                    }
                    crate::sip::StartLine::Request { .. } => String::new(),
                };
                self.fail(format!("REGISTER refused: {code} {reason}"));
            }
        }
    }

    async fn on_request(&mut self, method: Method, request: Message) {
        match method {
            Method::Message => self.on_query(&request).await,
            Method::Invite => self.on_invite(&request).await,
            Method::Ack => self.on_ack(&request),
            Method::Bye | Method::Cancel => self.on_bye(&request).await,
            Method::Options => self.answer(&request, 200, "OK", None).await,
            Method::Subscribe => self.on_subscribe(&request).await,
            Method::Register => {}
            _ => self.answer(&request, 405, "Method Not Allowed", None).await,
        }
    }

    /// Answers with `code`, a `Warning` naming `why` when given.
    pub(crate) async fn answer(
        &self,
        request: &Message,
        code: u16,
        reason: &str,
        why: Option<&str>,
    ) {
        let extra: Vec<(&str, String)> = why
            .map(|why| {
                let why = why.replace('"', "'");
                vec![(
                    "warning",
                    format!("399 {} \"{why}\"", self.options.local_id),
                )]
            })
            .unwrap_or_default();
        self.send_response(&response(request, code, reason, &self.tag, &extra))
            .await;
    }

    async fn on_query(&mut self, request: &Message) {
        let query = match body::read_query(&request.body) {
            Ok(query) => query,
            Err(error) => {
                return self
                    .answer(request, 400, "Bad Request", Some(&error.to_string()))
                    .await;
            }
        };
        match query.cmd_type.to_ascii_lowercase().as_str() {
            "catalog" => self.on_catalog(request, &query).await,
            "deviceinfo" | "devicestatus" => self.on_device_query(request, &query).await,
            _ => {
                let why = format!("CmdType {} is not served", query.cmd_type);
                self.answer(request, 400, "Bad Request", Some(&why)).await;
            }
        }
    }

    /// The devices the upper may see (R6.1, R11).
    pub(crate) async fn visible(&self) -> Vec<SharedDevice> {
        let mut devices: Vec<SharedDevice> = self
            .catalog
            .devices()
            .await
            .into_iter()
            .filter(|d| {
                d.visible()
                    && d.device_id.len() == 20
                    && d.device_id.bytes().all(|b| b.is_ascii_digit())
            })
            .collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        devices.dedup_by(|a, b| a.device_id == b.device_id);
        devices
    }

    async fn on_catalog(&mut self, request: &Message, query: &Query) {
        let now = Instant::now();
        match self.last_catalog {
            // A retransmitted query: answered once.
            Some((sn, _)) if sn == query.sn => return self.answer(request, 200, "OK", None).await,
            Some((_, at)) if now.duration_since(at) < CATALOG_GAP => {
                return self
                    .answer(
                        request,
                        503,
                        "Service Unavailable",
                        Some("one catalog query per 500 ms"),
                    )
                    .await;
            }
            _ => {}
        }
        self.last_catalog = Some((query.sn, now));
        self.answer(request, 200, "OK", None).await;
        let devices = self.visible().await;
        self.announced = devices.iter().map(|d| d.device_id.clone()).collect();
        let local_id = self.options.local_id.clone();
        for page in body::catalog_pages(
            query.sn,
            &local_id,
            &devices,
            self.options.catalog_group_size,
        ) {
            self.send_manscdp(&page).await;
        }
    }

    async fn on_device_query(&mut self, request: &Message, query: &Query) {
        let devices = self.visible().await;
        let device = devices.iter().find(|d| d.device_id == query.device_id);
        if device.is_none() && query.device_id != self.options.local_id {
            return self
                .answer(
                    request,
                    404,
                    "Not Found",
                    Some("no such device on this node"),
                )
                .await;
        }
        self.answer(request, 200, "OK", None).await;
        let xml = if query.cmd_type.eq_ignore_ascii_case("deviceinfo") {
            body::device_info(query.sn, &query.device_id, device, devices.len())
        } else {
            let online = device.is_none_or(|d| d.online);
            body::device_status(
                query.sn,
                &query.device_id,
                online,
                &crate::register::gb_date(),
            )
        };
        self.send_manscdp(&xml).await;
    }

    async fn on_change(&mut self, change: CatalogChange) {
        if !matches!(self.phase, Phase::Registered { .. }) {
            return;
        }
        let id = change.device.device_id.clone();
        let event = if change.device.visible() {
            if change.event == ChangeEvent::Del {
                self.announced.remove(&id);
            } else {
                self.announced.insert(id);
            }
            change.event
        } else if self.announced.remove(&id) {
            // No longer shared or accepted: the upper loses it.
            ChangeEvent::Del
        } else {
            return;
        };
        self.sn = self.sn.wrapping_add(1);
        let xml = body::catalog_notify(self.sn, &self.options.local_id, &change.device, event);
        match self.subscription.clone() {
            Some(subscription) if subscription.active(Instant::now()) => {
                self.notify(&subscription, &xml).await;
            }
            _ => {
                self.send_manscdp(&xml).await;
            }
        }
    }
}
