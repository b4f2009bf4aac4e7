//! `vfedctl watch`: follows a node's HLS egress (fMP4) and writes the live
//! stream as one fragmented MP4 — `init.mp4` once, then every new segment
//! in order exactly once — to stdout or a file.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::exit::usage;
use crate::http::{self, BaseUrl, Response};
use crate::output::OutputArg;
use crate::session::Session;
use crate::values;

/// How long a 503 ("no media yet", source down) is retried.
const UNAVAILABLE_PATIENCE: Duration = Duration::from_secs(20);
/// Pause between retries of a 503.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Least time allowed per HTTP request: a node may hold the first playlist
/// request for a while (15 s in the demo) as it waits for media.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest pause between playlist polls.
const MIN_POLL: Duration = Duration::from_millis(250);

/// Stream profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Main stream (full resolution).
    Main,
    /// Sub stream (lower resolution).
    Sub,
}

impl Profile {
    fn as_str(self) -> &'static str {
        match self {
            Profile::Main => "main",
            Profile::Sub => "sub",
        }
    }
}

/// Long help of `watch` (set on the command in `cli.rs`).
pub const LONG_ABOUT: &str = "\
Write a device's live stream to stdout (default) or a file, as one playable \
fragmented MP4 (H.264 or H.265 as the camera sends it).

vfedctl follows the node's HLS egress: it polls \
<HTTP>/live/<DEVICE_ID>/<PROFILE>/index.m3u8 about every half target \
duration, writes init.mp4 once and then each new segment exactly once, in \
order, starting at the newest complete segment (the live edge). It stops on \
Ctrl-C, when --duration has elapsed, or when the stream ends.

The HTTP base is --http URL, or with --demo the selected node's \
http_endpoint from demo.json. Progress and errors go to stderr; stdout \
carries only media (vfedctl refuses to write video to a terminal).

A 503 from the node (no media yet, source down) is retried for up to 20 s \
with a progress line on stderr; a 404 (unknown or invisible device) or 403 \
ends the command with exit code 1 and the node's message. Connection \
failures exit with 3. Each HTTP request may take --timeout but at least 30 s \
(a node may hold the first playlist request while it waits for media).

The global -o/--output flag means the destination here: - (stdout, the \
default) or a FILE (replaced).";

/// Examples of `watch`.
pub const AFTER_HELP: &str = "\
Examples:
  vfedctl --demo /tmp/vfed watch 54050200001320000001 -o - | ffplay -
  vfedctl --demo /tmp/vfed watch 54050200001320000001 --duration 10s -o clip.mp4
  vfedctl --demo /tmp/vfed --node naidong watch 54050200001320000001 --profile sub | mpv -
  vfedctl watch 54050200001320000001 --http http://10.0.0.5:7401 -o cam.mp4";

/// Arguments of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Device ID (20 digits).
    #[arg(value_name = "DEVICE_ID", value_parser = values::device_id)]
    pub device: String,

    /// Stream profile.
    #[arg(long, value_enum, default_value_t = Profile::Main)]
    pub profile: Profile,

    /// HTTP base URL of the node's HLS egress, e.g. http://127.0.0.1:7180
    /// (default with --demo: the node's http_endpoint).
    #[arg(long, value_name = "URL", value_parser = http::base_url_arg)]
    pub http: Option<BaseUrl>,

    /// Stop after this long, e.g. 10s, 2m (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,
}

fn positive_duration(input: &str) -> Result<Duration, String> {
    match humantime::parse_duration(input) {
        Ok(d) if d.is_zero() => Err("must be longer than 0s".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (e.g. 10s, 1m30s)")),
    }
}

/// Where media goes.
enum Sink {
    /// `-o -` (or no `-o`).
    Stdout,
    /// `-o FILE`.
    File(PathBuf),
}

/// Runs `watch`.
pub async fn run(args: WatchArgs, session: &Session) -> anyhow::Result<()> {
    let sink = match session.output_arg() {
        None => Sink::Stdout,
        Some(OutputArg::Path(p)) if p.as_os_str() == "-" => Sink::Stdout,
        Some(OutputArg::Path(p)) => Sink::File(p.clone()),
        Some(OutputArg::Format(_)) => {
            return Err(usage(
                "watch writes media: -o/--output takes - (stdout) or a FILE, not table/json \
                 (for a file named like that, write ./json)",
            ));
        }
    };
    let base = http_base(args.http.clone(), session, "watch")?;
    let token = viewing_token(session).await?;
    let (mut out, name): (Pin<Box<dyn AsyncWrite + Send>>, String) = match &sink {
        Sink::Stdout => {
            if std::io::stdout().is_terminal() {
                return Err(usage(
                    "refusing to write video to a terminal: pipe it (`| ffplay -`) or pass -o FILE",
                ));
            }
            (Box::pin(tokio::io::stdout()), "stdout".to_owned())
        }
        Sink::File(path) => (Box::pin(create(path).await?), path.display().to_string()),
    };
    let key = format!("{}/{}", args.device, args.profile.as_str());
    eprintln!(
        "watching {key} from {} -> {name}{}",
        base.url(""),
        args.duration
            .map(|d| format!(" for {}", humantime::format_duration(d)))
            .unwrap_or_else(|| " (Ctrl-C stops)".to_owned())
    );
    let mut watcher = Watcher {
        base,
        dir: format!("/live/{key}"),
        query: format!("?token={token}"),
        timeout: session.timeout().max(MIN_REQUEST_TIMEOUT),
        out: &mut out,
        written_bytes: 0,
        segments: 0,
        closed: false,
    };
    let mut stop: Stop<'_> = Box::pin(stop_signal(args.duration));
    let result = watcher.follow(&mut stop).await;
    let (segments, bytes, closed) = (watcher.segments, watcher.written_bytes, watcher.closed);
    if !closed {
        out.flush().await.ok();
        out.shutdown().await.ok();
    }
    eprintln!(
        "wrote {segments} segment(s), {:.1} MB to {name}",
        // Byte counts stay far below 2^53.
        {
            #[allow(clippy::cast_precision_loss)]
            let mb = bytes as f64 / 1e6;
            mb
        }
    );
    result
}

async fn create(path: &Path) -> anyhow::Result<tokio::fs::File> {
    tokio::fs::File::create(path)
        .await
        .map_err(|e| usage(format!("-o {}: cannot create: {e}", path.display())))
}

/// Resolves with the reason to stop: Ctrl-C or the end of `duration`.
async fn stop_signal(duration: Option<Duration>) -> &'static str {
    let deadline = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling available: only the deadline stops us.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = interrupt => "interrupted",
        () = deadline => "duration elapsed",
    }
}

type Stop<'a> = Pin<Box<dyn Future<Output = &'static str> + 'a>>;

/// The state of one `watch`.
struct Watcher<'o> {
    base: BaseUrl,
    /// `/live/<device>/<profile>`.
    dir: String,
    /// `?token=...`: players send credentials in the URL (the node's
    /// playlists carry it on to every segment).
    query: String,
    timeout: Duration,
    out: &'o mut Pin<Box<dyn AsyncWrite + Send>>,
    written_bytes: u64,
    segments: u64,
    /// The reader went away (broken pipe).
    closed: bool,
}

/// What a fetch gave.
enum Fetched {
    /// 200 with this body.
    Ok(Vec<u8>),
    /// 503: retry later, with the node's message.
    Unavailable(String),
    /// 404 of a segment (it left the window).
    Gone,
}

impl Watcher<'_> {
    /// Polls the playlist and writes new segments until stopped.
    async fn follow(&mut self, stop: &mut Stop<'_>) -> anyhow::Result<()> {
        let mut init: Option<String> = None;
        let mut next: Option<u64> = None;
        let mut unavailable_since: Option<Instant> = None;
        let mut last_progress: Option<Instant> = None;
        loop {
            let playlist_path = format!("{}/index.m3u8{}", self.dir, self.query);
            let fetched = tokio::select! {
                r = self.fetch(&playlist_path, false) => r?,
                reason = stop.as_mut() => return self.stopped(reason),
            };
            let text = match fetched {
                Fetched::Gone => anyhow::bail!("playlist gone"),
                Fetched::Ok(body) => {
                    unavailable_since = None;
                    String::from_utf8_lossy(&body).into_owned()
                }
                Fetched::Unavailable(message) => {
                    let since = *unavailable_since.get_or_insert_with(Instant::now);
                    let waited = since.elapsed();
                    if waited >= UNAVAILABLE_PATIENCE {
                        anyhow::bail!(
                            "{message} (HTTP 503 from {} for {}s)",
                            self.base.url(&playlist_path),
                            waited.as_secs()
                        );
                    }
                    if last_progress.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                        eprintln!(
                            "waiting for media: {} (retrying for up to {}s more)",
                            crate::redact::secrets(&message),
                            (UNAVAILABLE_PATIENCE - waited).as_secs()
                        );
                        last_progress = Some(Instant::now());
                    }
                    if let Some(reason) = self.pause(RETRY_PAUSE, stop).await {
                        return self.stopped(reason);
                    }
                    continue;
                }
            };
            let playlist = Playlist::parse(&text)
                .with_context(|| format!("playlist {}", self.base.url(&playlist_path)))?;
            let newest = playlist.last_sequence();
            if let (Some(n), Some(newest)) = (next, newest)
                && newest.saturating_add(1) < n
            {
                eprintln!("the stream restarted (sequence {newest} after {n}); continuing");
                next = None;
                init = None;
            }
            if init.as_deref() != Some(playlist.map_uri.as_str()) && !playlist.segments.is_empty() {
                let path = format!("{}/{}", self.dir, playlist.map_uri);
                let fetched = tokio::select! {
                    r = self.fetch(&path, false) => r?,
                    reason = stop.as_mut() => return self.stopped(reason),
                };
                match fetched {
                    Fetched::Ok(bytes) => {
                        if init.is_some() {
                            eprintln!("new initialization segment (stream parameters changed)");
                        }
                        if !self.write(&bytes).await? {
                            return Ok(());
                        }
                        init = Some(playlist.map_uri.clone());
                    }
                    Fetched::Unavailable(_) | Fetched::Gone => {
                        if let Some(reason) = self.pause(RETRY_PAUSE, stop).await {
                            return self.stopped(reason);
                        }
                        continue;
                    }
                }
            }
            // Start at the live edge: the newest complete segment.
            let start = next.or(newest).unwrap_or(playlist.media_sequence);
            if start < playlist.media_sequence {
                eprintln!(
                    "fell behind: segments {start}..{} left the playlist; skipping them",
                    playlist.media_sequence - 1
                );
            }
            for (sequence, uri) in playlist.entries() {
                if sequence < start {
                    continue;
                }
                let path = format!("{}/{uri}", self.dir);
                let fetched = tokio::select! {
                    r = self.fetch(&path, true) => r?,
                    reason = stop.as_mut() => return self.stopped(reason),
                };
                match fetched {
                    Fetched::Ok(bytes) => {
                        if !self.write(&bytes).await? {
                            return Ok(());
                        }
                        self.segments += 1;
                    }
                    Fetched::Gone => eprintln!("segment {sequence} expired before it was read"),
                    Fetched::Unavailable(_) => break,
                }
                next = Some(sequence + 1);
            }
            if playlist.ended {
                eprintln!("the stream ended");
                return Ok(());
            }
            let poll = (Duration::from_secs(playlist.target_duration) / 2).max(MIN_POLL);
            if let Some(reason) = self.pause(poll, stop).await {
                return self.stopped(reason);
            }
        }
    }

    fn stopped(&self, reason: &str) -> anyhow::Result<()> {
        eprintln!("stopping: {reason}");
        Ok(())
    }

    /// Sleeps `pause` unless stopped first (then returns the reason).
    async fn pause(&self, pause: Duration, stop: &mut Stop<'_>) -> Option<&'static str> {
        tokio::select! {
            () = tokio::time::sleep(pause) => None,
            reason = stop.as_mut() => Some(reason),
        }
    }

    /// GETs `path`; 404 of a segment is [`Fetched::Gone`], any other
    /// status but 200 and 503 ends the command with the node's message.
    async fn fetch(&self, path: &str, segment: bool) -> anyhow::Result<Fetched> {
        let response: Response = http::get(&self.base, path, self.timeout).await?;
        let message = || {
            let text = response.text();
            if text.is_empty() {
                format!("{} {}", response.status, response.reason)
            } else {
                text
            }
        };
        match response.status {
            200 => Ok(Fetched::Ok(response.body)),
            503 => Ok(Fetched::Unavailable(message())),
            404 if segment => Ok(Fetched::Gone),
            status => anyhow::bail!("{} (HTTP {status} from {})", message(), self.base.url(path)),
        }
    }

    /// Writes media; `false` when the reader went away (e.g. ffplay quit).
    async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<bool> {
        let result = async {
            self.out.write_all(bytes).await?;
            self.out.flush().await
        }
        .await;
        match result {
            Ok(()) => {
                self.written_bytes += bytes.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                eprintln!("the reader closed the output; stopping");
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(e).context("writing media"),
        }
    }
}

/// The parts of an fMP4 media playlist that `watch` needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Playlist {
    /// `#EXT-X-TARGETDURATION`, seconds.
    pub target_duration: u64,
    /// `#EXT-X-MEDIA-SEQUENCE`: sequence number of the first segment.
    pub media_sequence: u64,
    /// `#EXT-X-MAP` URI (`init.mp4`).
    pub map_uri: String,
    /// Segment URIs in order.
    pub segments: Vec<String>,
    /// `#EXT-X-ENDLIST` present.
    pub ended: bool,
}

impl Playlist {
    /// Parses a media playlist; unknown tags are ignored.
    pub fn parse(text: &str) -> anyhow::Result<Playlist> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some("#EXTM3U") {
            anyhow::bail!("not an M3U8 playlist (no #EXTM3U)");
        }
        let mut p = Playlist {
            target_duration: 2,
            media_sequence: 0,
            map_uri: String::new(),
            segments: Vec::new(),
            ended: false,
        };
        let mut in_segment = false;
        for line in lines {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                p.target_duration = v.trim().parse().context("bad #EXT-X-TARGETDURATION")?;
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                p.media_sequence = v.trim().parse().context("bad #EXT-X-MEDIA-SEQUENCE")?;
            } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
                p.map_uri = attribute(v, "URI").context("#EXT-X-MAP without URI")?;
            } else if line.starts_with("#EXTINF:") {
                in_segment = true;
            } else if line == "#EXT-X-ENDLIST" {
                p.ended = true;
            } else if !line.starts_with('#') {
                if !in_segment {
                    anyhow::bail!("segment {line:?} without #EXTINF");
                }
                if line.contains("://") || line.starts_with('/') || line.contains("..") {
                    anyhow::bail!("segment URI {line:?} is not relative to the playlist");
                }
                p.segments.push(line.to_owned());
                in_segment = false;
            }
        }
        if p.map_uri.is_empty() {
            anyhow::bail!("no #EXT-X-MAP: not an fMP4 playlist");
        }
        Ok(p)
    }

    /// `(sequence, uri)` of each segment.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &str)> {
        (self.media_sequence..)
            .zip(&self.segments)
            .map(|(n, uri)| (n, uri.as_str()))
    }

    /// Sequence number of the newest segment, if any.
    pub fn last_sequence(&self) -> Option<u64> {
        self.entries().last().map(|(n, _)| n)
    }
}

/// The value of `name` in an attribute list (`URI="init.mp4",BYTERANGE=...`).
fn attribute(list: &str, name: &str) -> Option<String> {
    let start = list.find(&format!("{name}="))? + name.len() + 1;
    let rest = list.get(start..)?;
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next().map(str::to_owned)
    } else {
        rest.split(',').next().map(|s| s.trim().to_owned())
    }
}

/// The node's HTTP base: `explicit` (`--http`), else the demo's or the
/// stored login's `http_endpoint`; `command` names who needs it.
pub(crate) fn http_base(
    explicit: Option<BaseUrl>,
    session: &Session,
    command: &str,
) -> anyhow::Result<BaseUrl> {
    if let Some(base) = explicit {
        return Ok(base);
    }
    match session.demo_http_endpoint()? {
        Some(url) => http::demo_base(&url),
        None => match session.stored_login().and_then(|c| c.http_endpoint) {
            Some(url) => http::demo_base(&url),
            None => Err(usage(format!(
                "{command} needs the node's HTTP endpoint: pass --http URL, or --demo DATA_DIR"
            ))),
        },
    }
}

/// The token HLS requests carry: the stored login's (or `--token`), else one
/// issued now to the certificate's account (R15.1: the egress checks it).
pub(crate) async fn viewing_token(session: &Session) -> anyhow::Result<String> {
    if let Some(token) = session.token()? {
        return Ok(token);
    }
    let mut accounts =
        vfed_proto::auth::v1::accounts_client::AccountsClient::new(session.channel().await?);
    let issued = session
        .call(accounts.issue_token(vfed_proto::auth::v1::IssueTokenRequest { ttl_seconds: 0 }))
        .await?;
    crate::redact::remember(&issued.token);
    Ok(issued.token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXTINF:2.000,\nsegment-3.m4s\n#EXTINF:2.000,\nsegment-4.m4s\n";

    #[test]
    fn parses_fmp4_playlists() {
        let p = Playlist::parse(LIVE).unwrap();
        assert_eq!(p.target_duration, 2);
        assert_eq!(p.map_uri, "init.mp4");
        assert_eq!(
            p.entries().collect::<Vec<_>>(),
            vec![(3, "segment-3.m4s"), (4, "segment-4.m4s")]
        );
        assert_eq!(p.last_sequence(), Some(4));
        assert!(!p.ended);
        let p = Playlist::parse(&format!("{LIVE}#EXT-X-ENDLIST\n")).unwrap();
        assert!(p.ended);
    }

    #[test]
    fn rejects_odd_playlists() {
        assert!(Playlist::parse("hello").is_err());
        assert!(
            Playlist::parse("#EXTM3U\n#EXTINF:2,\nseg.ts\n").is_err(),
            "no map"
        );
        let bad = LIVE.replace("segment-4.m4s", "http://evil/x.m4s");
        assert!(Playlist::parse(&bad).is_err());
    }

    #[test]
    fn attributes() {
        assert_eq!(
            attribute("URI=\"init.mp4\",BYTERANGE=\"1@0\"", "URI").as_deref(),
            Some("init.mp4")
        );
        assert_eq!(attribute("URI=x.mp4", "URI").as_deref(), Some("x.mp4"));
        assert_eq!(attribute("BYTERANGE=1", "URI"), None);
    }
}
