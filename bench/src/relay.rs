//! Benchmark 4: the media relay, vfed against a GStreamer RTSP relay, in
//! the same run with the same clip and viewer counts (issue 3):
//! (a) fan-out of one stream to N viewers, (b) M streams 1 in 1 out,
//! (c) latency added per hop, (d) the same through GStreamer, as ratios.
//! Cases alternate vfed / GStreamer so that both see the same machine load.

use std::time::Duration;

use vfed_pki::Identity;

use crate::relay_env::{Env, Window};
use crate::relay_latency::ProbeThread;
use crate::relay_node::{CITY, COUNTY, issue, material};
use crate::relay_vfed::Layout;
use crate::report::Section;

/// Sizes of this benchmark.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Fan-out cases: viewers of one stream.
    pub viewers: Vec<usize>,
    /// 1-in-1-out case: distinct streams, one viewer each.
    pub streams: usize,
    /// Capacity case: viewers of one stream played at `max_speed` x real time.
    pub max_viewers: usize,
    /// Times real time of the capacity case.
    pub max_speed: f64,
    /// Runs (every case once per run).
    pub runs: usize,
    /// Settling time before each window.
    pub warmup: Duration,
    /// Each measured window.
    pub window: Duration,
    /// Length of the generated clip, seconds.
    pub clip_seconds: u32,
    /// Whether to run the GStreamer side too.
    pub gstreamer: bool,
}

/// Every case of one run.
#[derive(Default)]
pub struct RunResult {
    /// vfed fan-out, per entry of `Sizes::viewers`.
    pub vfed_fanout: Vec<Window>,
    /// GStreamer fan-out (None: failed or unavailable).
    pub gst_fanout: Vec<Option<Window>>,
    /// vfed 1 in 1 out.
    pub vfed_one: Window,
    /// GStreamer 1 in 1 out.
    pub gst_one: Option<Window>,
    /// vfed at max speed.
    pub vfed_max: Window,
    /// quinn alone.
    pub bulk: Window,
}

/// Prepares the scratch directory, clip, certificates and probe thread.
pub fn env(
    clip_seconds: u32,
    warmup: Duration,
    window: Duration,
    work: &std::path::Path,
) -> anyhow::Result<Env> {
    eprintln!("  encoding a {clip_seconds} s 1080p25 4 Mbit/s H.264 clip with ffmpeg");
    let clip = crate::relay_clip::make(work, clip_seconds)?;
    eprintln!(
        "  clip: {}x{}, {} frames, {:.2} Mbit/s",
        clip.width, clip.height, clip.frames, clip.mbps
    );
    let pki = work.join("pki");
    std::fs::create_dir_all(&pki)?;
    vfed_pki::init_ca(&pki, "vfed", true)?;
    let viewer = crate::relay_bulk::viewer_identity()?;
    issue(
        &pki,
        &[
            Identity::node(CITY)?,
            Identity::node(COUNTY)?,
            viewer.clone(),
        ],
    )?;
    Ok(Env {
        exe: std::env::current_exe()?,
        work: work.to_owned(),
        viewer: material(&pki, &viewer)?,
        pki,
        clip,
        probes: ProbeThread::start()?,
        warmup,
        window,
        start_timeout: Duration::from_secs(15),
    })
}

fn progress(what: &str, w: &Window) {
    let latency = w.latency.as_ref().map_or_else(String::new, |s| {
        format!(
            ", hop p50 {:.2} ms",
            crate::report::quantile(&s.hop_us, 0.5) / 1e3
        )
    });
    eprintln!(
        "    {what}: relay {:.1}% CPU, egress {:.0} Mbit/s, {:.2} Gbit/s per core{latency}{}",
        w.relay_cores() * 100.0,
        w.egress_mbps(),
        w.gbps_per_core(),
        if w.settled { "" } else { " (not settled)" }
    );
}

async fn gst_case(
    env: &Env,
    gst: bool,
    layout: &Layout,
    what: &str,
    notes: &mut Vec<String>,
) -> Option<Window> {
    if !gst {
        return None;
    }
    match crate::relay_gst::run(env, layout).await {
        Ok(w) => {
            progress(what, &w);
            Some(w)
        }
        Err(e) => {
            eprintln!("    {what}: failed: {e:#}");
            notes.push(format!("{what} failed: {e:#}"));
            None
        }
    }
}

/// Runs every case `sizes.runs` times and reports.
pub async fn run(sizes: Sizes) -> anyhow::Result<Section> {
    let work = crate::relay_env::Scratch::new("relay")?;
    let env = env(sizes.clip_seconds, sizes.warmup, sizes.window, work.path())?;
    let mut notes = Vec::new();
    let gst = if sizes.gstreamer {
        crate::relay_gst::available()
    } else {
        Err(anyhow::anyhow!("--no-gstreamer"))
    };
    if let Err(e) = &gst {
        eprintln!("  GStreamer side skipped: {e:#}");
        notes.push(format!("GStreamer side skipped: {e:#}"));
    }
    let gst = gst.is_ok();
    let mut runs = Vec::new();
    for run in 0..sizes.runs {
        eprintln!("  run {}/{}", run + 1, sizes.runs);
        let mut r = RunResult::default();
        for &n in &sizes.viewers {
            let w = crate::relay_vfed::run(&env, &Layout::fanout(n)).await?;
            progress(&format!("vfed fan-out 1 -> {n}"), &w);
            r.vfed_fanout.push(w);
            let what = format!("GStreamer fan-out 1 -> {n}");
            let layout = Layout::fanout(n);
            r.gst_fanout
                .push(gst_case(&env, gst, &layout, &what, &mut notes).await);
        }
        let m = sizes.streams;
        r.vfed_one = crate::relay_vfed::run(&env, &Layout::one_to_one(m)).await?;
        progress(&format!("vfed {m} streams 1 in 1 out"), &r.vfed_one);
        let what = format!("GStreamer {m} streams 1 in 1 out");
        r.gst_one = gst_case(&env, gst, &Layout::one_to_one(m), &what, &mut notes).await;
        let max = Layout {
            speed: sizes.max_speed,
            probe: false,
            ..Layout::fanout(sizes.max_viewers)
        };
        r.vfed_max = crate::relay_vfed::run(&env, &max).await?;
        progress(
            &format!(
                "vfed fan-out 1 -> {} at {}x real time",
                sizes.max_viewers, sizes.max_speed
            ),
            &r.vfed_max,
        );
        r.bulk = crate::relay_bulk::run(&env).await?;
        progress("quinn alone, one stream", &r.bulk);
        runs.push(r);
    }
    crate::relay_report::section(&sizes, &env, &runs, notes)
}
