//! Live view on demand: INVITE a device's channel with a GB SDP, ACK its
//! 200, receive PS over RTP by UDP, demux it into access units for the
//! media sink, BYE to stop. One session per channel: a second `play` of a
//! playing channel joins the first (the relay's one-upstream rule).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use vfed_media::StreamMetadata;
use vfed_media::sps::Sps;

use crate::core::{Core, random_token};
use crate::ps::{DemuxedUnit, PsDemuxer};
use crate::rtp::{self, FrameCollector, TcpDeframer};
use crate::sdp;
use crate::sinks::{MediaSink, Transport};
use crate::sip::build::OutgoingRequest;
use crate::sip::{Message, Method};

/// Largest PS frame accepted (an 8 K keyframe fits).
const MAX_FRAME: usize = 8 * 1024 * 1024;
/// How long a device has to answer an INVITE.
pub(crate) const INVITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why live view could not start or stop.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    /// The device is not registered here.
    #[error("gb28181: device {0} is not registered")]
    NotRegistered(String),
    /// The device refused the INVITE.
    #[error("gb28181: the device answered the INVITE with {code} {reason}")]
    Refused {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// No final answer within the timeout.
    #[error("gb28181: no answer to the INVITE within {0:?}")]
    Timeout(Duration),
    /// The channel is not playing.
    #[error("gb28181: channel {0} is not playing")]
    NotPlaying(String),
    /// A local failure (socket, shutdown).
    #[error("gb28181: {0}")]
    Local(String),
}

/// How the device sends media.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MediaTransport {
    /// RTP over UDP to vfed's media port.
    #[default]
    Udp,
    /// RTP over TCP, vfed listening (`a=setup:passive`), the device
    /// connecting; RFC 4571 or `$` framing.
    TcpPassive,
    /// RTP over TCP, the device listening (`a=setup:active`), vfed
    /// connecting to the address its answer names after the ACK.
    TcpActive,
}

/// A started live session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayStarted {
    /// The SSRC offered (`y=`).
    pub offered_ssrc: String,
    /// The SSRC the device answered, if it did.
    pub answered_ssrc: Option<String>,
    /// Where vfed receives the RTP.
    pub media: SocketAddr,
}

/// Requests to the access point's task.
#[derive(Debug)]
pub(crate) enum Command {
    Play {
        device_id: String,
        channel_id: String,
        transport: MediaTransport,
        reply: oneshot::Sender<Result<PlayStarted, PlayError>>,
    },
    Stop {
        channel_id: String,
        reply: oneshot::Sender<Result<(), PlayError>>,
    },
}

/// Starts and stops live view; cloned freely.
#[derive(Clone, Debug)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
}

/// The receiving side of a [`Handle`], given to [`crate::serve`].
#[derive(Debug)]
pub struct Control {
    pub(crate) commands: mpsc::Receiver<Command>,
}

/// A handle and the control it drives.
pub fn control() -> (Handle, Control) {
    let (commands, receiver) = mpsc::channel(64);
    (Handle { commands }, Control { commands: receiver })
}

impl Handle {
    /// INVITEs `channel_id` of `device_id` (or joins its session) and
    /// returns once the device answered 200 and was ACKed.
    pub async fn play(&self, device_id: &str, channel_id: &str) -> Result<PlayStarted, PlayError> {
        self.play_over(device_id, channel_id, MediaTransport::Udp)
            .await
    }

    /// [`Handle::play`] with the media transport chosen.
    pub async fn play_over(
        &self,
        device_id: &str,
        channel_id: &str,
        transport: MediaTransport,
    ) -> Result<PlayStarted, PlayError> {
        self.ask(|reply| Command::Play {
            device_id: device_id.to_owned(),
            channel_id: channel_id.to_owned(),
            transport,
            reply,
        })
        .await
    }

    /// Sends BYE and stops receiving `channel_id`.
    pub async fn stop(&self, channel_id: &str) -> Result<(), PlayError> {
        self.ask(|reply| Command::Stop {
            channel_id: channel_id.to_owned(),
            reply,
        })
        .await
    }

    /// Sends a command and waits for its reply.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, PlayError>>) -> Command,
    ) -> Result<T, PlayError> {
        let stopped = || PlayError::Local("the access point has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A live session (one per channel).
pub(crate) struct Session {
    device_id: String,
    call_id: String,
    uri: String,
    from: String,
    to: String,
    cseq: u32,
    offered_ssrc: String,
    media: SocketAddr,
    stop: CancellationToken,
    sent_at: Instant,
    started: Option<PlayStarted>,
    /// TCP active: the pipeline waiting for the device's address.
    connect: Option<Pipeline>,
    waiters: Vec<oneshot::Sender<Result<PlayStarted, PlayError>>>,
}

impl Session {
    /// Stops receiving.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }
}

impl Core {
    /// The device ended a session (BYE): 200, or 481 for no such dialog.
    pub(crate) async fn device_bye(&mut self, peer: crate::transport::Peer, request: &Message) {
        let channel = request
            .call_id()
            .and_then(|id| self.invites.get(id))
            .cloned();
        match channel {
            Some(channel) => {
                self.answer(&peer, request, 200, "OK", None, &[]).await;
                info!(channel = %channel, "gb28181: the device ended the session (BYE)");
                self.end_session(&channel, Err(PlayError::NotPlaying(channel.clone())));
            }
            None => {
                let text = "no such dialog";
                self.answer(
                    &peer,
                    request,
                    481,
                    "Call/Transaction Does Not Exist",
                    Some(text),
                    &[],
                )
                .await;
            }
        }
    }

    pub(crate) async fn command(&mut self, command: Command) {
        match command {
            Command::Play {
                device_id,
                channel_id,
                transport,
                reply,
            } => self.play(device_id, channel_id, transport, reply).await,
            Command::Stop { channel_id, reply } => {
                let _ = reply.send(self.stop(&channel_id).await);
            }
        }
    }

    async fn play(
        &mut self,
        device_id: String,
        channel_id: String,
        transport: MediaTransport,
        reply: oneshot::Sender<Result<PlayStarted, PlayError>>,
    ) {
        if let Some(session) = self.sessions.get_mut(&channel_id) {
            match &session.started {
                Some(started) => {
                    let _ = reply.send(Ok(started.clone()));
                }
                None => session.waiters.push(reply),
            }
            return;
        }
        let Some(device) = self.devices.get(&device_id) else {
            let _ = reply.send(Err(PlayError::NotRegistered(device_id)));
            return;
        };
        let peer = device.peer;
        let (Some(sent_by), Some(media_ip)) =
            (self.sent_by_for(peer.transport()), self.sent_by.media_ip)
        else {
            let _ = reply.send(Err(PlayError::Local(
                "no SIP socket of the device's transport".into(),
            )));
            return;
        };
        let source = match self.bind_media(media_ip, transport).await {
            Ok(source) => source,
            Err(e) => {
                let _ = reply.send(Err(PlayError::Local(format!("media socket: {e}"))));
                return;
            }
        };
        let media = source.address;
        self.next_ssrc = (self.next_ssrc + 1) % 10_000;
        // 0 = live, then the domain's digits 4-8, then a sequence (Annex F).
        let domain_digits: String = self
            .options
            .domain
            .chars()
            .filter(char::is_ascii_digit)
            .chain(std::iter::repeat('0'))
            .skip(3)
            .take(5)
            .collect();
        let offered_ssrc = format!("0{domain_digits}{:04}", self.next_ssrc);
        let advertised = self
            .options
            .advertise_host
            .clone()
            .unwrap_or_else(|| media_ip.to_string());
        let body = sdp::live_offer(
            &self.options.server_id,
            &advertised,
            media.port(),
            &offered_ssrc,
            match transport {
                MediaTransport::Udp => None,
                MediaTransport::TcpPassive => Some("passive"),
                MediaTransport::TcpActive => Some("active"),
            },
        );
        let domain = self.options.domain.clone();
        let session = Session {
            device_id: device_id.clone(),
            call_id: format!("{}@{sent_by}", random_token()),
            uri: format!("sip:{channel_id}@{}", peer.address()),
            from: format!(
                "<sip:{}@{domain}>;tag={}",
                self.options.server_id,
                random_token()
            ),
            to: format!("<sip:{channel_id}@{domain}>"),
            cseq: 1,
            offered_ssrc: offered_ssrc.clone(),
            media,
            stop: CancellationToken::new(),
            sent_at: Instant::now(),
            started: None,
            connect: None,
            waiters: vec![reply],
        };
        let mut invite = self.dialog_request(&session, Method::Invite, &sent_by, peer.transport());
        invite.headers.push(
            "contact",
            format!("<sip:{}@{sent_by}>", self.options.server_id),
        );
        invite.headers.push(
            "subject",
            format!("{channel_id}:{offered_ssrc},{}:0", self.options.server_id),
        );
        invite.headers.push("content-type", "APPLICATION/SDP");
        set_body(&mut invite, Bytes::from(body));
        let pipeline = Pipeline::new(channel_id.clone(), self.sinks.media.clone());
        let mut session = session;
        match source.kind {
            SourceKind::TcpActive => session.connect = Some(pipeline),
            _ => {
                tokio::spawn(source.receive(pipeline, session.stop.clone()));
            }
        }
        info!(device = %device_id, channel = %channel_id, ssrc = %offered_ssrc, %media, "gb28181: INVITE");
        self.invites
            .insert(session.call_id.clone(), channel_id.clone());
        let call_id = session.call_id.clone();
        self.sessions.insert(channel_id, session);
        self.send_request(&peer, &call_id, invite.to_bytes()).await;
    }

    /// A response to one of our INVITEs.
    pub(crate) async fn invite_response(&mut self, channel_id: &str, response: &Message) {
        let Some(code) = response.status() else {
            return;
        };
        if code < 200 {
            return;
        }
        let Some(session) = self.sessions.get_mut(channel_id) else {
            return;
        };
        if code >= 300 {
            let error = PlayError::Refused {
                code,
                reason: match &response.start {
                    crate::sip::StartLine::Response { reason, .. } => reason.clone(),
                    crate::sip::StartLine::Request { .. } => String::new(),
                },
            };
            self.end_session(channel_id, Err(error));
            return;
        }
        if let Some(to) = response.headers.get("to") {
            session.to = to.to_owned();
        }
        let answer = sdp::parse_answer(&String::from_utf8_lossy(&response.body));
        if answer
            .ssrc
            .as_deref()
            .is_some_and(|s| s != session.offered_ssrc)
        {
            // Hikvision NCG answers its own y= (WVP#127): the collector follows whatever arrives.
            debug!(channel = channel_id, answered = ?answer.ssrc, "gb28181: device answered another SSRC");
        }
        if let Some(pipeline) = session.connect.take() {
            // TCP active: the device listens where its answer says.
            let ip = answer
                .address
                .as_deref()
                .and_then(|a| a.parse().ok())
                .or_else(|| {
                    self.devices
                        .get(&session.device_id)
                        .map(|d| d.peer.address().ip())
                });
            match (ip, answer.port) {
                (Some(ip), Some(port)) => {
                    session.media = SocketAddr::new(ip, port);
                    tokio::spawn(connect_and_receive(
                        session.media,
                        pipeline,
                        session.stop.clone(),
                    ));
                }
                _ => {
                    let error = PlayError::Refused {
                        code,
                        reason:
                            "the answer names no address and port to connect to (a=setup:active)"
                                .into(),
                    };
                    self.end_session(channel_id, Err(error));
                    return;
                }
            }
        }
        let started = PlayStarted {
            offered_ssrc: session.offered_ssrc.clone(),
            answered_ssrc: answer.ssrc,
            media: session.media,
        };
        session.started = Some(started.clone());
        let waiters = std::mem::take(&mut session.waiters);
        let Some(peer) = self.devices.get(&session.device_id).map(|d| d.peer) else {
            return;
        };
        let Some(sent_by) = self.sent_by_for(peer.transport()) else {
            return;
        };
        let Some(session) = self.sessions.get(channel_id) else {
            return;
        };
        let ack = self.dialog_request(session, Method::Ack, &sent_by, peer.transport());
        if let Err(e) = self.out.send(&peer, ack.to_bytes()).await {
            warn!(channel = channel_id, error = %e, "gb28181: ACK not sent");
        }
        for waiter in waiters {
            let _ = waiter.send(Ok(started.clone()));
        }
    }

    async fn stop(&mut self, channel_id: &str) -> Result<(), PlayError> {
        let Some(session) = self.sessions.get_mut(channel_id) else {
            return Err(PlayError::NotPlaying(channel_id.to_owned()));
        };
        session.cseq += 1;
        let peer = self.devices.get(&session.device_id).map(|d| d.peer);
        if let (Some(peer), Some(sent_by), Some(session)) = (
            peer,
            peer.and_then(|p| self.sent_by_for(p.transport())),
            self.sessions.get(channel_id),
        ) {
            let bye = self.dialog_request(session, Method::Bye, &sent_by, peer.transport());
            let call_id = session.call_id.clone();
            self.send_request(&peer, &call_id, bye.to_bytes()).await;
        }
        self.end_session(
            channel_id,
            Err(PlayError::NotPlaying(channel_id.to_owned())),
        );
        Ok(())
    }

    /// INVITEs unanswered for [`INVITE_TIMEOUT`] fail.
    pub(crate) fn expire_invites(&mut self, now: Instant) {
        let late: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.started.is_none() && now.duration_since(s.sent_at) >= INVITE_TIMEOUT)
            .map(|(channel, _)| channel.clone())
            .collect();
        for channel in late {
            self.end_session(&channel, Err(PlayError::Timeout(INVITE_TIMEOUT)));
        }
    }

    fn end_session(&mut self, channel_id: &str, outcome: Result<PlayStarted, PlayError>) {
        if let Some(session) = self.sessions.remove(channel_id) {
            session.stop.cancel();
            self.invites.remove(&session.call_id);
            for waiter in session.waiters {
                let _ = waiter.send(outcome.clone());
            }
        }
    }

    fn dialog_request(
        &self,
        session: &Session,
        method: Method,
        sent_by: &str,
        transport: Transport,
    ) -> Message {
        let branch = random_token();
        OutgoingRequest {
            method,
            uri: &session.uri,
            transport: match transport {
                Transport::Udp => "UDP",
                Transport::Tcp => "TCP",
            },
            sent_by,
            branch: &branch,
            from: &session.from,
            to: &session.to,
            call_id: &session.call_id,
            cseq: session.cseq,
            content_type: None,
            body: Bytes::new(),
        }
        .build()
    }
}

fn set_body(message: &mut Message, body: Bytes) {
    let mut headers = crate::sip::Headers::default();
    for (name, value) in message.headers.iter() {
        if name != "content-length" {
            headers.push(name, value);
        }
    }
    headers.push("content-length", body.len().to_string());
    message.headers = headers;
    message.body = body;
}

/// Where a session's RTP arrives.
impl Core {
    /// A media socket on `ip`: any free port, or the next free one of
    /// `Options::media_ports`, round robin.
    async fn bind_media(
        &mut self,
        ip: std::net::IpAddr,
        transport: MediaTransport,
    ) -> std::io::Result<MediaSource> {
        let Some((low, high)) = self.options.media_ports else {
            return MediaSource::bind(SocketAddr::new(ip, 0), transport).await;
        };
        let span = u32::from(high - low) + 1;
        let mut last = None;
        for _ in 0..span {
            let offset = self.next_media_port % span;
            self.next_media_port = (offset + 1) % span;
            let port = low.saturating_add(u16::try_from(offset).unwrap_or(0));
            match MediaSource::bind(SocketAddr::new(ip, port), transport).await {
                Ok(source) => return Ok(source),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("media_ports: no port in the range")))
    }
}

struct MediaSource {
    address: SocketAddr,
    kind: SourceKind,
}

enum SourceKind {
    Udp(UdpSocket),
    TcpPassive(TcpListener),
    TcpActive,
}

impl MediaSource {
    async fn bind(address: SocketAddr, transport: MediaTransport) -> std::io::Result<Self> {
        let kind = match transport {
            MediaTransport::Udp => SourceKind::Udp(UdpSocket::bind(address).await?),
            MediaTransport::TcpPassive => SourceKind::TcpPassive(TcpListener::bind(address).await?),
            MediaTransport::TcpActive => SourceKind::TcpActive,
        };
        let address = match &kind {
            SourceKind::Udp(socket) => socket.local_addr()?,
            SourceKind::TcpPassive(listener) => listener.local_addr()?,
            // The discard port, as GB/T 28181 offers with setup:active.
            SourceKind::TcpActive => SocketAddr::new(address.ip(), 9),
        };
        Ok(Self { address, kind })
    }

    /// Receives until `stop`, feeding `pipeline`. Over TCP the first
    /// connection is the device's; later ones are refused.
    async fn receive(self, mut pipeline: Pipeline, stop: CancellationToken) {
        let mut buffer = vec![0u8; 65_536];
        match self.kind {
            SourceKind::Udp(socket) => loop {
                let length = tokio::select! {
                    () = stop.cancelled() => return,
                    r = socket.recv(&mut buffer) => match r { Ok(n) => n, Err(_) => continue },
                };
                pipeline.packet(&buffer[..length]).await;
            },
            SourceKind::TcpPassive(listener) => {
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    r = listener.accept() => match r { Ok((stream, _)) => stream, Err(_) => return },
                };
                drop(listener);
                read_tcp(stream, pipeline, stop).await;
            }
            SourceKind::TcpActive => {}
        }
    }
}

/// TCP active: connects to the device (bounded wait) and reads.
async fn connect_and_receive(target: SocketAddr, pipeline: Pipeline, stop: CancellationToken) {
    let connect = tokio::time::timeout(INVITE_TIMEOUT, TcpStream::connect(target));
    let stream = tokio::select! {
        () = stop.cancelled() => return,
        r = connect => match r {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                warn!(%target, error = %e, "gb28181: media connection to the device failed");
                return;
            }
            Err(_) => {
                warn!(%target, "gb28181: media connection to the device timed out");
                return;
            }
        },
    };
    read_tcp(stream, pipeline, stop).await;
}

/// Reads framed RTP from a media connection until it ends or `stop`.
async fn read_tcp(mut stream: TcpStream, mut pipeline: Pipeline, stop: CancellationToken) {
    let mut buffer = vec![0u8; 65_536];
    let mut deframer = TcpDeframer::new();
    loop {
        let length = tokio::select! {
            () = stop.cancelled() => return,
            r = stream.read(&mut buffer) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
        };
        deframer.push(&buffer[..length]);
        while let Some(packet) = deframer.next_packet() {
            pipeline.packet(&packet).await;
        }
    }
}

/// RTP packets in, access units out to the media sink.
struct Pipeline {
    channel_id: String,
    sink: Arc<dyn MediaSink>,
    collector: FrameCollector,
    demuxer: PsDemuxer,
    metadata: Option<StreamMetadata>,
}

impl Pipeline {
    fn new(channel_id: String, sink: Arc<dyn MediaSink>) -> Self {
        Self {
            channel_id,
            sink,
            collector: FrameCollector::new(MAX_FRAME),
            demuxer: PsDemuxer::new(MAX_FRAME),
            metadata: None,
        }
    }

    async fn packet(&mut self, data: &[u8]) {
        let Some(packet) = rtp::parse(data) else {
            return;
        };
        for frame in self.collector.push(&packet) {
            let frames = match self.demuxer.demux(&frame) {
                Ok(frames) => frames,
                Err(e) => {
                    debug!(channel = %self.channel_id, error = %e, "gb28181: PS frame dropped");
                    continue;
                }
            };
            for es in frames {
                let Ok(Some(unit)) = es.access_unit(unix_us()) else {
                    continue;
                };
                if let Some(changed) = new_metadata(self.metadata.as_ref(), &unit) {
                    self.sink.metadata(&self.channel_id, changed.clone()).await;
                    self.metadata = Some(changed);
                }
                if self.metadata.is_some() {
                    self.sink.access_unit(&self.channel_id, unit.unit).await;
                }
            }
        }
    }
}

/// The stream's metadata when this unit's parameter sets change it.
fn new_metadata(current: Option<&StreamMetadata>, unit: &DemuxedUnit) -> Option<StreamMetadata> {
    let sps = unit.sps.first()?;
    if current.is_some_and(|m| m.codec == unit.codec && m.sps.first() == Some(sps)) {
        return None;
    }
    let parsed = Sps::parse(unit.codec, sps).ok()?;
    Some(StreamMetadata {
        codec: unit.codec,
        vps: unit.vps.clone(),
        sps: unit.sps.clone(),
        pps: unit.pps.clone(),
        width: parsed.width(),
        height: parsed.height(),
        fps_milli: parsed.fps_milli().unwrap_or(0),
        bitrate_bps: 0,
    })
}

fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
