//! The relay benchmark's rows (medians over runs; ratios are taken within a
//! run, then the median) and a detail table of every case.

use std::fmt::Write as _;

use crate::relay::{RunResult, Sizes};
use crate::relay_env::{Env, Window};
use crate::report::{Goal, Row, Section, Stat, number, quantile};

const BENCH: &str = "relay";

fn add(
    rows: &mut Vec<Row>,
    case: &str,
    metric: &str,
    unit: &str,
    values: Vec<f64>,
    goal: Option<Goal>,
) {
    let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    if let Ok(stat) = Stat::of(values) {
        let row = Row::new(BENCH, case, metric, unit, stat);
        rows.push(match goal {
            Some(g) => row.goal(g),
            None => row,
        });
    }
}

fn median(values: Vec<f64>) -> f64 {
    let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    Stat::of(values).map_or(f64::NAN, |s| s.median)
}

fn cpu_pct(w: &Window) -> f64 {
    w.relay_cores() * 100.0
}

fn pct_per_mbps(w: &Window) -> f64 {
    cpu_pct(w) / w.egress_mbps()
}

/// Latency quantile `q` of a window's samples, ms (`pick` chooses the series).
fn lat(w: &Window, pick: fn(&crate::relay_latency::Samples) -> &Vec<f64>, q: f64) -> f64 {
    w.latency
        .as_ref()
        .map_or(f64::NAN, |s| quantile(pick(s), q) / 1e3)
}

fn hop(s: &crate::relay_latency::Samples) -> &Vec<f64> {
    &s.hop_us
}
fn direct(s: &crate::relay_latency::Samples) -> &Vec<f64> {
    &s.direct_us
}
fn relayed(s: &crate::relay_latency::Samples) -> &Vec<f64> {
    &s.relayed_us
}

/// Cost of one more viewer between the first and last fan-out case:
/// % of a core per Mbit/s of the extra viewer's stream.
fn per_extra_viewer(first: &Window, last: &Window, n1: usize, n2: usize, mbps: f64) -> f64 {
    (cpu_pct(last) - cpu_pct(first)) / ((n2 - n1) as f64 * mbps)
}

fn rss_per_extra_viewer(first: &Window, last: &Window, n1: usize, n2: usize) -> f64 {
    (last.rss_kib as f64 - first.rss_kib as f64) / (n2 - n1) as f64
}

/// Builds the section.
pub fn section(
    sizes: &Sizes,
    env: &Env,
    runs: &[RunResult],
    mut notes: Vec<String>,
) -> anyhow::Result<Section> {
    let mbps = env.clip.mbps;
    let mut rows = Vec::new();
    let last = sizes.viewers.len().saturating_sub(1);
    let (n1, n2) = (sizes.viewers[0], sizes.viewers[last]);
    let idle = sizes.viewers.iter().position(|&n| n == 1).unwrap_or(0);
    let loaded = sizes.viewers.iter().position(|&n| n == 50).unwrap_or(last);
    let n_loaded = sizes.viewers[loaded];
    let vf = |i: usize| -> Vec<&Window> { runs.iter().map(|r| &r.vfed_fanout[i]).collect() };
    let gf = |i: usize| -> Vec<&Window> {
        runs.iter()
            .filter_map(|r| r.gst_fanout[i].as_ref())
            .collect()
    };
    let each = |ws: Vec<&Window>, f: &dyn Fn(&Window) -> f64| -> Vec<f64> {
        ws.into_iter().map(f).collect()
    };
    // Ratios within each run where both sides ran.
    let ratio = |f: &dyn Fn(&RunResult) -> Option<(f64, f64)>| -> Vec<f64> {
        runs.iter().filter_map(f).map(|(a, b)| a / b).collect()
    };

    // (a) fan-out at the largest N, and capacity.
    let vcase = format!("fan-out 1 -> {n2}, vfed (QUIC + TLS)");
    let gcase = format!("fan-out 1 -> {n2}, GStreamer (RTSP/TCP)");
    add(
        &mut rows,
        &vcase,
        "egress per core of relay CPU",
        "Gbit/s/core",
        each(vf(last), &Window::gbps_per_core),
        Some(Goal::AtLeast(4.0)),
    );
    add(
        &mut rows,
        &gcase,
        "egress per core of relay CPU",
        "Gbit/s/core",
        each(gf(last), &Window::gbps_per_core),
        None,
    );
    add(
        &mut rows,
        &vcase,
        "relay CPU",
        "% of a core",
        each(vf(last), &cpu_pct),
        None,
    );
    add(
        &mut rows,
        &gcase,
        "relay CPU",
        "% of a core",
        each(gf(last), &cpu_pct),
        None,
    );
    let mcase = format!(
        "fan-out 1 -> {} at {}x real time, vfed",
        sizes.max_viewers, sizes.max_speed
    );
    let max: Vec<&Window> = runs.iter().map(|r| &r.vfed_max).collect();
    add(
        &mut rows,
        &mcase,
        "delivered egress",
        "Gbit/s",
        each(max.clone(), &|w| w.egress_mbps() / 1000.0),
        None,
    );
    add(
        &mut rows,
        &mcase,
        "egress per core of relay CPU",
        "Gbit/s/core",
        each(max.clone(), &Window::gbps_per_core),
        Some(Goal::AtLeast(4.0)),
    );
    let bulk: Vec<&Window> = runs.iter().map(|r| &r.bulk).collect();
    add(
        &mut rows,
        "quinn alone: 1 connection, 1 stream, vfed's transport",
        "egress per core of sender CPU",
        "Gbit/s/core",
        each(bulk.clone(), &Window::gbps_per_core),
        None,
    );

    // Cost of each extra viewer.
    if n2 > n1 {
        let ecase = format!("each extra viewer ({n1} -> {n2})");
        add(
            &mut rows,
            &format!("{ecase}, vfed"),
            "relay CPU per Mbit/s of its stream",
            "% of a core",
            runs.iter()
                .map(|r| per_extra_viewer(&r.vfed_fanout[0], &r.vfed_fanout[last], n1, n2, mbps))
                .collect(),
            None,
        );
        add(
            &mut rows,
            &format!("{ecase}, GStreamer"),
            "relay CPU per Mbit/s of its stream",
            "% of a core",
            runs.iter()
                .filter_map(|r| {
                    Some(per_extra_viewer(
                        r.gst_fanout[0].as_ref()?,
                        r.gst_fanout[last].as_ref()?,
                        n1,
                        n2,
                        mbps,
                    ))
                })
                .collect(),
            None,
        );
        add(
            &mut rows,
            &format!("{ecase}, vfed / GStreamer"),
            "relay CPU per Mbit/s of its stream",
            "x",
            ratio(&|r| {
                Some((
                    per_extra_viewer(&r.vfed_fanout[0], &r.vfed_fanout[last], n1, n2, mbps),
                    per_extra_viewer(
                        r.gst_fanout[0].as_ref()?,
                        r.gst_fanout[last].as_ref()?,
                        n1,
                        n2,
                        mbps,
                    ),
                ))
            }),
            None,
        );
        add(
            &mut rows,
            &format!("{ecase}, vfed"),
            "relay memory (RSS)",
            "KiB",
            runs.iter()
                .map(|r| rss_per_extra_viewer(&r.vfed_fanout[0], &r.vfed_fanout[last], n1, n2))
                .collect(),
            None,
        );
        add(
            &mut rows,
            &format!("{ecase}, GStreamer"),
            "relay memory (RSS)",
            "KiB",
            runs.iter()
                .filter_map(|r| {
                    Some(rss_per_extra_viewer(
                        r.gst_fanout[0].as_ref()?,
                        r.gst_fanout[last].as_ref()?,
                        n1,
                        n2,
                    ))
                })
                .collect(),
            None,
        );
    }

    // (b) 1 in 1 out.
    let m = sizes.streams;
    add(
        &mut rows,
        &format!("{m} streams 1 in 1 out, vfed"),
        "relay CPU per relayed Mbit/s",
        "% of a core",
        runs.iter().map(|r| pct_per_mbps(&r.vfed_one)).collect(),
        None,
    );
    add(
        &mut rows,
        &format!("{m} streams 1 in 1 out, GStreamer"),
        "relay CPU per relayed Mbit/s",
        "% of a core",
        runs.iter()
            .filter_map(|r| Some(pct_per_mbps(r.gst_one.as_ref()?)))
            .collect(),
        None,
    );
    add(
        &mut rows,
        &format!("{m} streams 1 in 1 out, vfed / GStreamer"),
        "relay CPU per relayed Mbit/s",
        "x",
        ratio(&|r| Some((pct_per_mbps(&r.vfed_one), pct_per_mbps(r.gst_one.as_ref()?)))),
        Some(Goal::AtMost(1.0 / 3.0)),
    );

    // (c) latency added per hop, and vfed's absolute figures.
    for (i, label, p50_goal, p99_goal) in [
        (
            idle,
            format!("idle ({} viewer)", sizes.viewers[idle]),
            Some(Goal::AtMost(1.0)),
            None,
        ),
        (
            loaded,
            format!("{n_loaded} viewers"),
            None,
            (n_loaded == 50).then_some(Goal::AtMost(5.0)),
        ),
    ] {
        for (q, name, goal) in [(0.5, "p50", p50_goal), (0.99, "p99", p99_goal)] {
            let metric = format!("added by one hop, {name}");
            add(
                &mut rows,
                &format!("latency {label}, vfed city hop"),
                &metric,
                "ms",
                each(vf(i), &|w| lat(w, hop, q)),
                goal,
            );
            add(
                &mut rows,
                &format!("latency {label}, GStreamer relay hop"),
                &metric,
                "ms",
                each(gf(i), &|w| lat(w, hop, q)),
                None,
            );
            add(
                &mut rows,
                &format!("latency {label}, vfed / GStreamer"),
                &metric,
                "x",
                ratio(&|r| {
                    Some((
                        lat(&r.vfed_fanout[i], hop, q),
                        lat(r.gst_fanout[i].as_ref()?, hop, q),
                    ))
                }),
                None,
            );
        }
        for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
            add(
                &mut rows,
                &format!("latency {label}, vfed ingest -> viewer at the county"),
                &format!("1 hop, {name}"),
                "ms",
                each(vf(i), &|w| lat(w, direct, q)),
                None,
            );
            add(
                &mut rows,
                &format!("latency {label}, vfed ingest -> viewer at the city"),
                &format!("2 hops, {name}"),
                "ms",
                each(vf(i), &|w| lat(w, relayed, q)),
                None,
            );
        }
    }

    notes.push(format!(
        "Clip: {}x{} H.264, {} frames ({:.1} s, GOP 50, no B-frames), {:.2} Mbit/s; \
         windows of {:.0} s after {:.0} s of warm-up; {} run(s).",
        env.clip.width,
        env.clip.height,
        env.clip.frames,
        env.clip.seconds,
        mbps,
        sizes.window.as_secs_f64(),
        sizes.warmup.as_secs_f64(),
        runs.len()
    ));
    let tables = vec![detail_table(sizes, runs)];
    let mut unsettled = Vec::new();
    for (i, n) in sizes.viewers.iter().enumerate() {
        for (system, ws) in [("vfed", vf(i)), ("GStreamer", gf(i))] {
            let k = ws.iter().filter(|w| !w.settled).count();
            if k > 0 {
                unsettled.push(format!(
                    "{system} fan-out 1 -> {n} in {k} of {} runs",
                    ws.len()
                ));
            }
        }
    }
    for (system, ws) in [
        ("vfed", runs.iter().map(|r| &r.vfed_one).collect::<Vec<_>>()),
        (
            "GStreamer",
            runs.iter().filter_map(|r| r.gst_one.as_ref()).collect(),
        ),
    ] {
        let k = ws.iter().filter(|w| !w.settled).count();
        if k > 0 {
            unsettled.push(format!(
                "{system} {m} streams 1 in 1 out in {k} of {} runs",
                ws.len()
            ));
        }
    }
    if !unsettled.is_empty() {
        notes.push(format!(
            "Egress did not settle within 10% of the expected rate in 30 s (GStreamer: 45 s; measured anyway, the \
             viewers were still starting or catching up): {}.",
            unsettled.join("; ")
        ));
    }
    notes.push(
        "Egress: vfed = frame bytes (29-byte headers + payload) the viewers received; \
         GStreamer = TCP bytes the viewers acknowledged (RTSP interleaved RTP, `ss`). \
         Neither counts QUIC/TCP/IP overhead."
            .into(),
    );
    Ok(Section {
        name: "relay: vfed vs GStreamer (issue 3)".into(),
        method: METHOD.into(),
        rows,
        notes,
        tables,
    })
}

const METHOD: &str = "Separate processes on one machine: for vfed a county node (the origin, \
looping the clip as cameras, stamping each frame at ingest) and a city node (the relay under \
test), both `vfed-bench relay-node` = vfed_relay wired as `vfed serve` wires it, linked over \
QUIC with mutual TLS; viewers are raw `vfed-relay/1` QUIC clients (one UDP socket and TLS \
session each) in the benchmark process. For GStreamer the RTSP camera \
(`tests/peers/rtsp_camera.py`, the clip looped without re-encoding), the relay \
(`bench/peers/rtsp_relay.py`, shared factory `rtspsrc latency=0 ! rtph264depay ! rtph264pay`) \
and one `ffmpeg -rtsp_transport tcp -c copy -f null` process per viewer. Relay CPU = utime + \
stime of the relay process over the window (/proc/<pid>/stat), RSS = VmRSS at its end. \
Latency per hop: a probe pulling straight from the source and a probe pulling through the \
relay (one of the N viewers), on a thread of their own; the same picture's arrival through the \
relay minus its arrival direct (vfed pairs by pts, RTSP by a hash of the slice data). \
See bench/README.md.";

fn detail_table(sizes: &Sizes, runs: &[RunResult]) -> String {
    let mut out = String::from(
        "Every case (medians over runs):\n\n\
         | case | system | relay CPU % (sys share) | egress Mbit/s | Gbit/s per core | % core per Mbit/s | RSS MiB (before viewers) | hop p50 / p99 ms | ingest->viewer p50 / p99 ms | GOPs cut / viewers playing | settled | source CPU % | benchmark process cores (vfed viewers, probes) | machine busy % |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut line = |case: String, system: &str, ws: Vec<&Window>| {
        if ws.is_empty() {
            return;
        }
        let m = |f: &dyn Fn(&Window) -> f64| median(ws.iter().map(|w| f(w)).collect());
        let _ = writeln!(
            out,
            "| {case} | {system} | {} ({:.0}%) | {} | {} | {} | {} ({}) | {} / {} | {} / {} | {} / {} | {}/{} | {} | {} | {} |",
            number(m(&cpu_pct)),
            m(&|w| w.system_share() * 100.0),
            number(m(&Window::egress_mbps)),
            number(m(&Window::gbps_per_core)),
            number(m(&pct_per_mbps)),
            number(m(&|w| w.rss_kib as f64 / 1024.0)),
            number(m(&|w| w.rss_base_kib as f64 / 1024.0)),
            number(m(&|w| lat(w, hop, 0.5))),
            number(m(&|w| lat(w, hop, 0.99))),
            number(m(&|w| lat(w, relayed, 0.5))),
            number(m(&|w| lat(w, relayed, 0.99))),
            number(m(&|w| w.gops_cut as f64)),
            number(m(&|w| w.viewers_alive as f64)),
            ws.iter().filter(|w| w.settled).count(),
            ws.len(),
            number(m(&|w| w.source.total() / w.seconds * 100.0)),
            number(m(&|w| w.bench.process_cores)),
            number(m(&|w| w.bench.machine_busy * 100.0)),
        );
    };
    for (i, n) in sizes.viewers.iter().enumerate() {
        line(
            format!("fan-out 1 -> {n}"),
            "vfed",
            runs.iter().map(|r| &r.vfed_fanout[i]).collect(),
        );
        line(
            format!("fan-out 1 -> {n}"),
            "GStreamer",
            runs.iter()
                .filter_map(|r| r.gst_fanout[i].as_ref())
                .collect(),
        );
    }
    let m = sizes.streams;
    line(
        format!("{m} streams 1 in 1 out"),
        "vfed",
        runs.iter().map(|r| &r.vfed_one).collect(),
    );
    line(
        format!("{m} streams 1 in 1 out"),
        "GStreamer",
        runs.iter().filter_map(|r| r.gst_one.as_ref()).collect(),
    );
    line(
        format!("fan-out 1 -> {} at {}x", sizes.max_viewers, sizes.max_speed),
        "vfed",
        runs.iter().map(|r| &r.vfed_max).collect(),
    );
    line(
        "one bulk stream (sender)".into(),
        "quinn alone",
        runs.iter().map(|r| &r.bulk).collect(),
    );
    out
}
