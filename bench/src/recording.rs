//! The recording benchmark (issue 10): vfed's archive against a peer
//! recorder doing the same job, in the same run, fed the same clip.
//!
//! - **CPU per recorded Mbit/s** and **bytes written per byte received**
//!   for N streams of about 4 Mbit/s (1080p25 H.264, GOP 2 s). vfed: a
//!   `record-node` process (relay tracks fed by looping the clip in memory,
//!   the archive recording each: fMP4, SHA-256 and fdatasync per fragment).
//!   Peer: one `ffmpeg -re -stream_loop -1 -i clip.mp4 -c copy -f segment`
//!   per stream (fragmented MP4 segments of 60 s, no fsync, no hashing).
//!   Both read a local source rather than RTSP: N RTSP file cameras
//!   (GStreamer, 2-3 % of a core each) would need more CPU than the machine
//!   has at 200 streams, and would be measured with the recorders.
//! - **Playback time to first byte, p99**, of a 1-hour range: a 1-hour
//!   recording (60 files of 1 minute, 2-s fragments of the same clip,
//!   written by the archive's own writer) served by the archive's playback
//!   router on loopback; the playlist and the first fragment (`Range`).
//! - **Live hop latency while the archive disk stalls**: `record-node
//!   --freeze` with the archive on an ext4 loop device, frozen with
//!   `fsfreeze` half way (every archive write blocks); p99 publish-to-viewer
//!   latency of the same node's tracks before and during the stall.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use vfed_media::{AnnexBFile, Gop, SegmentWindow};

use crate::relay_proc::{Peer, ProcTimes};
use crate::report::{Goal, Row, Section, Stat, quantile};

const NAME: &str = "recording";

/// Sizes of this benchmark.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Stream counts of the CPU cases.
    pub streams: Vec<usize>,
    /// Settling time before each window.
    pub warmup: Duration,
    /// Each measured window.
    pub window: Duration,
    /// Playback requests measured.
    pub requests: usize,
    /// Streams of the stall case, and seconds per phase.
    pub stall_streams: usize,
    /// Seconds per phase of the stall case.
    pub stall_phase: u64,
    /// Timed exports (and verifications) of the hour.
    pub exports: usize,
    /// Only the recorded hour's cases (playback, export, verification).
    pub hour_only: bool,
}

/// Bytes of every file under `dir`.
pub fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// One CPU case's result.
struct Load {
    /// CPU seconds per second, over the window.
    cores: f64,
    /// Bytes written in the window.
    written: u64,
}

/// CPU of `pids` and bytes growing under `dir` over `window`.
async fn measure(pids: &[u32], dir: &Path, window: Duration) -> Load {
    let cpu = |pids: &[u32]| pids.iter().map(|&p| ProcTimes::of(p).total()).sum::<f64>();
    let (cpu0, bytes0, t0) = (cpu(pids), du(dir), Instant::now());
    tokio::time::sleep(window).await;
    let (cpu1, bytes1) = (cpu(pids), du(dir));
    Load {
        cores: (cpu1 - cpu0) / t0.elapsed().as_secs_f64(),
        written: bytes1.saturating_sub(bytes0),
    }
}

async fn vfed_case(
    exe: &Path,
    clip: &Path,
    scratch: &Path,
    streams: usize,
    s: &Sizes,
) -> anyhow::Result<Load> {
    let dir = scratch.join(format!("vfed-{streams}"));
    let args = [
        "record-node".to_owned(),
        "--streams".into(),
        streams.to_string(),
        "--clip".into(),
        clip.display().to_string(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    let log = scratch.join(format!("vfed-{streams}.log"));
    let node = Peer::start_ready("record-node", exe, &args, &log, Duration::from_secs(30)).await?;
    tokio::time::sleep(s.warmup).await;
    let load = measure(&[node.pid], &dir, s.window).await;
    node.finish(Duration::from_secs(20)).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(load)
}

async fn ffmpeg_case(
    mp4: &Path,
    scratch: &Path,
    streams: usize,
    s: &Sizes,
) -> anyhow::Result<Load> {
    let dir = scratch.join(format!("ffmpeg-{streams}"));
    let mut peers = Vec::new();
    for i in 0..streams {
        let out = dir.join(format!("cam{i}"));
        std::fs::create_dir_all(&out)?;
        let args: Vec<String> = [
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([mp4.display().to_string()])
        .chain(
            [
                "-c",
                "copy",
                "-f",
                "segment",
                "-segment_time",
                "60",
                "-segment_format",
                "mp4",
                "-segment_format_options",
                "movflags=+frag_keyframe+empty_moov+default_base_moof",
                "-reset_timestamps",
                "1",
            ]
            .iter()
            .map(|a| (*a).to_owned()),
        )
        .chain([out.join("%05d.mp4").display().to_string()])
        .collect();
        peers.push(Peer::start_quiet("ffmpeg recorder", "ffmpeg", &args)?);
    }
    tokio::time::sleep(s.warmup).await;
    let pids: Vec<u32> = peers.iter().map(|p| p.pid).collect();
    let load = measure(&pids, &dir, s.window).await;
    let running = peers.iter_mut().map(Peer::running).filter(|&r| r).count();
    drop(peers);
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        running == streams,
        "{} ffmpeg recorders exited early",
        streams - running
    );
    Ok(load)
}

/// The clip as MP4 (the peer's input), remuxed without re-encoding.
fn mp4_of(clip: &Path, fps: u32) -> anyhow::Result<PathBuf> {
    let mp4 = clip.with_extension("mp4");
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-framerate",
            &fps.to_string(),
            "-i",
        ])
        .arg(clip)
        .args(["-c", "copy"])
        .arg(&mp4)
        .output()
        .context("running ffmpeg")?;
    anyhow::ensure!(
        out.status.success(),
        "ffmpeg remux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(mp4)
}

/// Writes one hour of `device`'s recording (60 one-minute files) into the
/// archive `root` with the archive's writer, from the clip's GOPs; returns
/// its start and the closed files' manifests (to log as the recorder does).
pub fn synthesize_hour(
    root: &Path,
    device: &str,
    clip: &Path,
) -> anyhow::Result<(i64, Vec<vfed_archive::writer::Manifest>)> {
    use vfed_archive::index::Header;
    use vfed_archive::writer::{Fragment, RecordingFile, sha256_hex};
    let (metadata, units) = AnnexBFile::read(clip)?;
    let mut gops: Vec<Gop> = Vec::new();
    for unit in units {
        if unit.keyframe || gops.is_empty() {
            gops.push(Gop::default());
        }
        if let Some(g) = gops.last_mut() {
            g.units.push(unit);
        }
    }
    let frame = 90_000 * 1000 / i64::from(metadata.fps_milli.max(1));
    let dir = vfed_archive::layout::stream_dir(root, device, "main");
    let start = crate::relay_source::unix_us() / 1000 - 3_700_000;
    let mut dts = 0i64;
    let mut at_ms = start;
    let mut manifests = Vec::new();
    for _ in 0..60 {
        let mut window = SegmentWindow::new(&metadata)?.with_capacity(1);
        let init = window.init_segment().clone();
        let header = Header {
            device_id: device.to_owned(),
            profile: "main".to_owned(),
            codec: metadata.codec.name().to_owned(),
            width: metadata.width,
            height: metadata.height,
            init_len: init.len() as u64,
            init_sha256: sha256_hex(&init),
        };
        let mut file = RecordingFile::create(&dir, at_ms, header, &init)?;
        let file_end = at_ms + 60_000;
        let mut i = 0;
        while at_ms < file_end {
            let gop = &gops[i % gops.len()];
            i += 1;
            let shifted = Gop {
                units: gop
                    .units
                    .iter()
                    .enumerate()
                    .map(|(k, u)| vfed_media::AccessUnit {
                        pts: dts + k as i64 * frame,
                        dts: dts + k as i64 * frame,
                        ..u.clone()
                    })
                    .collect(),
            };
            dts += shifted.units.len() as i64 * frame;
            let Some(seq) = window.push_gop(&shifted)? else {
                continue;
            };
            let Some(segment) = window.segment(seq).cloned() else {
                continue;
            };
            file.append(&Fragment {
                start_unix_ms: at_ms,
                duration: segment.duration,
                frames: segment.frames as u64,
                data: segment.data,
                // One whole GOP per fragment: each starts at its keyframe.
                sync: true,
            })?;
            at_ms += i64::try_from(segment.duration / 90).unwrap_or(0);
        }
        manifests.push(file.close("rotation")?);
    }
    Ok((start, manifests))
}

/// Milliseconds until the first byte of the answer to `request`.
async fn ttfb(addr: std::net::SocketAddr, request: &str) -> anyhow::Result<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t0 = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await?;
    let elapsed = t0.elapsed().as_secs_f64() * 1000.0;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    anyhow::ensure!(
        rest.starts_with(b"TTP/1.1 20"),
        "answer: {}",
        String::from_utf8_lossy(&rest[..rest.len().min(200)])
    );
    Ok(elapsed)
}

/// Playback times to first byte, ms.
#[derive(Default)]
struct PlaybackTimes {
    /// The hour's HLS playlist.
    lists: Vec<f64>,
    /// Its first segment (`stream.mp4` with `Range`).
    segments: Vec<f64>,
    /// The hour as one MP4, its first 64 KiB, each request a range not
    /// asked before (the `moov` is built from every fragment's `moof`).
    mp4_new: Vec<f64>,
    /// The same MP4 range asked again (the `moov` cached).
    mp4_again: Vec<f64>,
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn playback_case(
    archive: vfed_archive::Archive,
    start: i64,
    requests: usize,
) -> anyhow::Result<PlaybackTimes> {
    let device = crate::recording_export::DEVICE;
    let dir = vfed_archive::layout::stream_dir(archive.dir(), device, "main");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(listener, vfed_archive::playback::router(archive, None)).await
    });
    let range = format!(
        "start={}&end={}",
        rfc3339(start),
        rfc3339(start + 3_600_000)
    );
    let get = |path: String, bytes: Option<String>| {
        let range = bytes.map_or_else(String::new, |r| format!("Range: bytes={r}\r\n"));
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{range}Connection: close\r\n\r\n")
    };
    let playlist = get(format!("/playback/{device}/index.m3u8?{range}"), None);
    let first_file = vfed_archive::layout::media_files(&dir)?
        .first()
        .map(|(_, p)| p.clone())
        .context("no file")?;
    let index = vfed_archive::index::Index::read(&vfed_archive::layout::index_path(&first_file))?;
    let fragment = index.fragments.first().context("no fragment")?;
    // The playlist's first segment: the first file's init segment and first
    // fragment, the opening bytes of the range's `stream.mp4`.
    let segment = get(
        format!("/playback/{device}/stream.mp4?{range}"),
        Some(format!("0-{}", fragment.offset + fragment.len - 1)),
    );
    let mp4 = |end_ms: i64| {
        get(
            format!(
                "/playback/{device}.mp4?start={}&end={}",
                rfc3339(start),
                rfc3339(end_ms)
            ),
            Some("0-65535".into()),
        )
    };
    let mut times = PlaybackTimes::default();
    for i in 0..requests {
        times.lists.push(ttfb(addr, &playlist).await?);
        // A 206 starts "HTTP/1.1 20" too.
        times.segments.push(ttfb(addr, &segment).await?);
        times
            .mp4_again
            .push(ttfb(addr, &mp4(start + 3_600_000)).await?);
        if i < requests.min(20) {
            // Each a range of its own, ending a second earlier.
            let end = start + 3_600_000 - 1000 * (i as i64 + 1);
            times.mp4_new.push(ttfb(addr, &mp4(end)).await?);
        }
    }
    server.abort();
    Ok(times)
}

/// Hop latency p99 (µs) writable and frozen, or why the case cannot run.
async fn stall_case(
    exe: &Path,
    clip: &Path,
    scratch: &Path,
    s: &Sizes,
) -> anyhow::Result<(f64, f64, String)> {
    let image = scratch.join("archive.img");
    let mount = scratch.join("archive-mnt");
    std::fs::create_dir_all(&mount)?;
    let run = |cmd: &str, args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new(cmd)
            .args(args)
            .output()
            .with_context(|| format!("running {cmd}"))?;
        anyhow::ensure!(
            out.status.success(),
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    };
    let (img, mnt) = (image.display().to_string(), mount.display().to_string());
    run("truncate", &["-s", "2G", &img])?;
    run("mkfs.ext4", &["-q", "-F", &img])?;
    run("mount", &["-o", "loop", &img, &mnt]).context("a loop mount needs root")?;
    let args = [
        "record-node".to_owned(),
        "--streams".into(),
        s.stall_streams.to_string(),
        "--clip".into(),
        clip.display().to_string(),
        "--dir".into(),
        mount.join("archive").display().to_string(),
        "--freeze".into(),
        mnt.clone(),
        "--phase".into(),
        s.stall_phase.to_string(),
    ];
    let log = scratch.join("stall.log");
    let outcome = async {
        let mut node = Peer::start_ready(
            "record-node --freeze",
            exe,
            &args,
            &log,
            Duration::from_secs(30),
        )
        .await?;
        let deadline = Instant::now() + Duration::from_secs(3 + 2 * s.stall_phase + 30);
        while node.running() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        node.finish(Duration::from_secs(20)).await
    }
    .await;
    // Whatever happened: thaw, unmount (the loop device goes with it).
    let _ = run("fsfreeze", &["-u", &mnt]);
    let _ = run("umount", &[&mnt]);
    let _ = std::fs::remove_file(&image);
    outcome?;
    let text = std::fs::read_to_string(&log)?;
    let p99 = |phase: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix("LATENCY "))
            .filter_map(|l| l.strip_prefix(phase))
            .find_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    };
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("LATENCY ")).collect();
    match (p99("writable "), p99("frozen ")) {
        (Some(a), Some(b)) => Ok((a, b, lines.join("; "))),
        _ => anyhow::bail!("no latency report; {}", crate::relay_proc::tail(&log)),
    }
}

/// Runs the benchmark.
pub async fn run(s: Sizes) -> anyhow::Result<Section> {
    let scratch = tempfile::Builder::new()
        .prefix("vfed-bench-rec")
        .tempdir()?;
    let clip = crate::relay_clip::make(scratch.path(), 10)?;
    let mp4 = mp4_of(&clip.path, 25)?;
    let exe = std::env::current_exe()?;
    let mut section = Section {
        name: NAME.into(),
        method: format!(
            "vfed: `vfed-bench record-node` (relay tracks fed in memory by looping the clip, \
             the archive recording each: fMP4, SHA-256 and fdatasync per fragment) against \
             one `ffmpeg -re -stream_loop -1 -i clip.mp4 -c copy -f segment` (fragmented MP4, \
             60-s segments, no fsync, no hash) per stream; clip {}x{} H.264 {:.2} Mbit/s, GOP 2 s; \
             warm-up {:?}, window {:?}; CPU from /proc. Bytes received = streams x clip bitrate \
             x window.",
            clip.width, clip.height, clip.mbps, s.warmup, s.window
        ),
        ..Section::default()
    };
    let streams = if s.hour_only { &[][..] } else { &s.streams[..] };
    for &n in streams {
        let received = n as f64 * clip.mbps * 1e6 / 8.0 * s.window.as_secs_f64();
        let recorded_mbps = n as f64 * clip.mbps;
        eprintln!("recording: vfed, {n} streams");
        let vfed = vfed_case(&exe, &clip.path, scratch.path(), n, &s).await?;
        eprintln!("recording: ffmpeg, {n} streams");
        let peer = ffmpeg_case(&mp4, scratch.path(), n, &s).await;
        let case = format!("{n} streams x {:.1} Mbit/s", clip.mbps);
        section.rows.push(Row::new(
            NAME,
            format!("vfed, {case}"),
            "CPU per recorded Mbit/s",
            "% core",
            Stat::of(vec![vfed.cores * 100.0 / recorded_mbps])?,
        ));
        section.rows.push(
            Row::new(
                NAME,
                format!("vfed, {case}"),
                "CPU",
                "cores",
                Stat::of(vec![vfed.cores])?,
            )
            .goal(Goal::AtMost(0.5)),
        );
        section.rows.push(Row::new(
            NAME,
            format!("vfed, {case}"),
            "bytes written per byte received",
            "ratio",
            Stat::of(vec![vfed.written as f64 / received])?,
        ));
        match peer {
            Ok(peer) => {
                section.rows.push(Row::new(
                    NAME,
                    format!("ffmpeg, {case}"),
                    "CPU per recorded Mbit/s",
                    "% core",
                    Stat::of(vec![peer.cores * 100.0 / recorded_mbps])?,
                ));
                section.rows.push(Row::new(
                    NAME,
                    format!("ffmpeg, {case}"),
                    "CPU",
                    "cores",
                    Stat::of(vec![peer.cores])?,
                ));
                section.rows.push(Row::new(
                    NAME,
                    format!("ffmpeg, {case}"),
                    "bytes written per byte received",
                    "ratio",
                    Stat::of(vec![peer.written as f64 / received])?,
                ));
                section.rows.push(
                    Row::new(
                        NAME,
                        case.clone(),
                        "vfed CPU / ffmpeg CPU",
                        "ratio",
                        Stat::of(vec![vfed.cores / peer.cores.max(1e-9)])?,
                    )
                    .goal(Goal::AtMost(1.0 / 3.0)),
                );
            }
            Err(e) => section.notes.push(format!("ffmpeg at {n} streams: {e:#}")),
        }
    }
    hour_cases(&exe, &clip, scratch.path(), &s, &mut section).await?;
    if s.hour_only {
        return Ok(section);
    }
    eprintln!("recording: live hop latency while the archive disk is frozen");
    match stall_case(&exe, &clip.path, scratch.path(), &s).await {
        Ok((writable, frozen, detail)) => {
            let case = format!("{} streams, archive on a loop device", s.stall_streams);
            section.rows.push(Row::new(
                NAME,
                case.clone(),
                "hop latency p99, disk writable",
                "ms",
                Stat::of(vec![writable / 1000.0])?,
            ));
            section.rows.push(Row::new(
                NAME,
                case.clone(),
                "hop latency p99, disk frozen",
                "ms",
                Stat::of(vec![frozen / 1000.0])?,
            ));
            section.rows.push(
                Row::new(
                    NAME,
                    case,
                    "hop latency p99 moved by",
                    "ms",
                    Stat::of(vec![(frozen - writable) / 1000.0])?,
                )
                .goal(Goal::AtMost(1.0)),
            );
            section.notes.push(format!(
                "stall case (phase, p50, p99, max µs, samples): {detail}"
            ));
        }
        Err(e) => section
            .notes
            .push(format!("disk-stall case not run: {e:#}")),
    }
    Ok(section)
}

/// A row of the recorded hour's cases.
fn hour_row(what: &str, unit: &str, runs: Vec<f64>, goal: Option<f64>) -> anyhow::Result<Row> {
    let row = Row::new(NAME, "1-hour range, 60 files", what, unit, Stat::of(runs)?);
    Ok(match goal {
        Some(g) => row.goal(Goal::AtMost(g)),
        None => row,
    })
}

/// The recorded hour at a real county: playback time to first byte, the
/// evidence export of the hour and its offline verification.
async fn hour_cases(
    exe: &Path,
    clip: &crate::relay_clip::Clip,
    scratch: &Path,
    s: &Sizes,
    section: &mut Section,
) -> anyhow::Result<()> {
    use crate::recording_export as export;
    eprintln!("recording: one hour at a county (writer + logged manifests)");
    let hour = export::Hour::record(&clip.path).await?;
    eprintln!("recording: playback of a 1-hour range");
    let load = export::loadavg();
    let times = playback_case(hour.archive()?, hour.start_ms, s.requests).await?;
    section.rows.push(hour_row(
        "playlist time to first byte p99",
        "ms",
        vec![quantile(&times.lists, 0.99)],
        Some(100.0),
    )?);
    section.rows.push(hour_row(
        "first fragment time to first byte p99",
        "ms",
        vec![quantile(&times.segments, 0.99)],
        Some(100.0),
    )?);
    section.rows.push(hour_row(
        "MP4 (first 64 KiB) time to first byte, new range, p50",
        "ms",
        vec![quantile(&times.mp4_new, 0.5)],
        None,
    )?);
    section.rows.push(hour_row(
        "MP4 (first 64 KiB) time to first byte, same range again, p99",
        "ms",
        vec![quantile(&times.mp4_again, 0.99)],
        Some(100.0),
    )?);
    section.notes.push(format!(
        "playback of the hour: {} requests of each form (MP4 new ranges: {}), load average {load} before, {} after",
        times.lists.len(),
        times.mp4_new.len(),
        export::loadavg()
    ));

    eprintln!("recording: evidence export of the hour");
    let (id, token) = hour.approved_request().await?;
    // Until the hour's manifests are under a checkpoint the city countersigned.
    let warm = scratch.join("export-warm-up");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match hour.export(&id, &token, &warm).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("recording: export not yet possible ({e:#}); retrying");
                let _ = std::fs::remove_dir_all(&warm);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.context("the hour's export")),
        }
    }
    let _ = std::fs::remove_dir_all(&warm);
    let (disk_write, disk_read) = export::disk_reference(scratch)?;
    let sha256 = export::sha256_reference(exe).await?;
    section.notes.push(format!(
        "references on this disk and CPU: sequential write 1 GiB + fdatasync {disk_write:.0} MB/s, O_DIRECT read {disk_read:.0} MB/s (dd); SHA-256 alone {sha256:.0} MB per CPU second; load {}",
        export::loadavg()
    ));
    let (mut exports, mut warm_verifies, mut cold_verifies) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..s.exports {
        let dir = scratch.join(format!("package-{run}"));
        let last = run + 1 == s.exports;
        let perf = if last {
            export::PerfSelf::start(&scratch.join("export.perf")).await
        } else {
            None
        };
        let exported = export::timed_export(&hour, &id, &token, &dir).await?;
        let profile = match perf {
            Some(p) => Some(export::perf_top(&p.finish().await, 12)),
            None => None,
        };
        section
            .notes
            .push(format!("export run {}: {}", run + 1, exported.describe()));
        if let Some(top) = profile {
            section.notes.push(format!(
                "export profile (perf, cpu-clock, whole process: county, city, client; with perf attached, so slower): {top}"
            ));
        }
        exports.push(exported);
        let verified = export::timed_verify(exe, &dir, None).await?;
        section.notes.push(format!(
            "verification run {} (package in the page cache): {}",
            run + 1,
            verified.describe()
        ));
        warm_verifies.push(verified);
        export::drop_cached(&dir)?;
        let perf_out = scratch.join("verify.perf");
        let verified = export::timed_verify(exe, &dir, None).await?;
        section.notes.push(format!(
            "verification run {} (package dropped from the page cache): {}",
            run + 1,
            verified.describe()
        ));
        cold_verifies.push(verified);
        if last {
            export::drop_cached(&dir)?;
            if export::timed_verify(exe, &dir, Some(&perf_out))
                .await
                .is_ok()
            {
                section.notes.push(format!(
                    "verification profile (perf, cold cache): {}",
                    export::perf_top(&perf_out, 12)
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let seconds = |t: &[export::Timed]| t.iter().map(|x| x.seconds).collect::<Vec<_>>();
    let cores = |t: &[export::Timed]| {
        t.iter()
            .map(|x| (x.user + x.system) / x.seconds.max(1e-9))
            .collect::<Vec<_>>()
    };
    let mbps = |t: &[export::Timed]| {
        t.iter()
            .map(|x| x.bytes as f64 / 1e6 / x.seconds.max(1e-9))
            .collect::<Vec<_>>()
    };
    section.rows.push(hour_row(
        "evidence export",
        "s",
        seconds(&exports),
        Some(10.0),
    )?);
    section
        .rows
        .push(hour_row("evidence export", "MB/s", mbps(&exports), None)?);
    section.rows.push(hour_row(
        "evidence export, process CPU",
        "cores",
        cores(&exports),
        None,
    )?);
    section.rows.push(hour_row(
        "evidence verify (package cached)",
        "s",
        seconds(&warm_verifies),
        Some(5.0),
    )?);
    section.rows.push(hour_row(
        "evidence verify (package cached), CPU",
        "cores",
        cores(&warm_verifies),
        None,
    )?);
    section.rows.push(hour_row(
        "evidence verify (cold cache)",
        "s",
        seconds(&cold_verifies),
        Some(5.0),
    )?);
    section.rows.push(hour_row(
        "evidence verify (cold cache)",
        "MB/s",
        mbps(&cold_verifies),
        None,
    )?);
    drop(hour);
    Ok(())
}
