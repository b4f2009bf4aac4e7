//! Where the relay's CPU goes: the city node of a fan-out case and of a
//! 1-in-1-out case run under valgrind's callgrind (`perf` does not work on
//! this VM), then `callgrind_annotate` by function, grouped by component.
//! Callgrind counts user-space instructions only: time in the kernel (UDP
//! send and receive) is not in it; the relay benchmark reports the relay's
//! kernel share separately (stime).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;

use crate::relay_latency::Latency;
use crate::relay_vfed::{Layout, start_nodes, start_viewers};
use crate::report::{Row, Section, Stat, number};

/// Sizes of the profile.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Viewers of the fan-out case.
    pub viewers: usize,
    /// Streams of the 1-in-1-out case.
    pub streams: usize,
    /// Settling time before the window.
    pub warmup: Duration,
    /// How long the profiled node relays after warm-up.
    pub window: Duration,
}

/// One profiled function (or component).
struct Cost {
    name: String,
    ir: u64,
}

/// Whether valgrind and callgrind_annotate are here.
pub fn available() -> anyhow::Result<()> {
    for tool in ["valgrind", "callgrind_annotate"] {
        anyhow::ensure!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} not found (apt-get install valgrind)"
        );
    }
    Ok(())
}

/// Runs both profiles.
pub async fn run(sizes: Sizes) -> anyhow::Result<Section> {
    available()?;
    let work = crate::relay_env::Scratch::new("relay-profile")?;
    let env = crate::relay::env(4, sizes.warmup, sizes.window, work.path())?;
    let mut section = Section {
        name: "relay profile (callgrind)".into(),
        method: format!(
            "The city node (the relay under test) under `valgrind --tool=callgrind`, fed by a normal county \
             node, for {:.0} s of warm-up and {:.0} s of relaying at real time, two cases: one stream to {} \
             viewers (fan-out) and {} streams one viewer each (1 in 1 out). Instructions (Ir) are user space \
             only and cover the node's whole life (start, TLS handshakes, relaying, exit). Under valgrind the \
             node runs one thread at a time and some 50x slower, so the delivered rate is shown to tell whether \
             it kept up. Function names are Rust symbols without their hash; \"self\" is a function's own \
             instructions, components group them by crate.",
            sizes.warmup.as_secs_f64(),
            sizes.window.as_secs_f64(),
            sizes.viewers,
            sizes.streams
        ),
        ..Section::default()
    };
    for (name, layout) in [
        (
            format!("fan-out 1 -> {}", sizes.viewers),
            Layout {
                probe: false,
                ..Layout::fanout(sizes.viewers)
            },
        ),
        (
            format!("{} streams 1 in 1 out", sizes.streams),
            Layout::one_to_one(sizes.streams),
        ),
    ] {
        eprintln!("  profiling the city: {name}");
        let file: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let out = work.path().join(format!("callgrind.{file}.out"));
        let _ = std::fs::remove_file(&out);
        let wrapper = vec![
            "--tool=callgrind".to_owned(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        let (city, county) = start_nodes(&env, &layout, Some(("valgrind", wrapper))).await?;
        let latency = std::sync::Arc::new(Latency::default());
        let (viewers, _) = start_viewers(&env, &layout, &city, &county, &latency).await?;
        tokio::time::sleep(env.warmup).await;
        let before: u64 = viewers.iter().map(|v| v.bytes()).sum();
        tokio::time::sleep(env.window).await;
        let total_bytes: u64 = viewers.iter().map(|v| v.bytes()).sum();
        let mbps = (total_bytes - before) as f64 * 8.0 / env.window.as_secs_f64() / 1e6;
        drop(viewers);
        city.finish(Duration::from_secs(120)).await?;
        let _ = county.finish(Duration::from_secs(5)).await;
        let (total, functions) = annotate(&out)?;
        let ir_per_byte = total as f64 / total_bytes.max(1) as f64;
        eprintln!(
            "    {} instructions, {:.0} per delivered byte; delivered {:.1} Mbit/s (real time: {:.1})",
            number(total as f64),
            ir_per_byte,
            mbps,
            env.clip.mbps * layout.viewers.iter().sum::<usize>() as f64
        );
        section.rows.push(Row::new(
            "relay profile",
            name.clone(),
            "user-space instructions per delivered byte",
            "Ir/B",
            Stat::of(vec![ir_per_byte])?,
        ));
        section.tables.push(summary(
            &name,
            total,
            total_bytes,
            mbps,
            env.clip.mbps * layout.viewers.iter().sum::<usize>() as f64,
            &functions,
        ));
    }
    Ok(section)
}

/// Total Ir and the self cost of each function (merged over files).
fn annotate(out: &std::path::Path) -> anyhow::Result<(u64, Vec<Cost>)> {
    let output = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=99.9"])
        .arg(out)
        .output()
        .context("running callgrind_annotate")?;
    anyhow::ensure!(
        output.status.success(),
        "callgrind_annotate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut total = 0;
    let mut by_name: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(ir) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // "(12.34%)  file:function [object]"
        let rest = rest.trim_start();
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map_or(rest, |(_, r)| r)
            .trim();
        if rest.starts_with("PROGRAM TOTALS") {
            total = ir;
            continue;
        }
        *by_name.entry(function_name(rest)).or_default() += ir;
    }
    anyhow::ensure!(total > 0, "no PROGRAM TOTALS in the callgrind output");
    let mut functions: Vec<Cost> = by_name
        .into_iter()
        .map(|(name, ir)| Cost { name, ir })
        .collect();
    functions.sort_by_key(|f| std::cmp::Reverse(f.ir));
    Ok((total, functions))
}

/// `file:function [object]` -> the function, without the Rust hash.
fn function_name(entry: &str) -> String {
    let without_object = entry.rsplit_once(" [").map_or(entry, |(f, _)| f).trim_end();
    // The file ends at the first single colon (Rust paths use "::").
    let bytes = without_object.as_bytes();
    let split = (0..bytes.len()).find(|&i| {
        bytes[i] == b':' && bytes.get(i + 1) != Some(&b':') && (i == 0 || bytes[i - 1] != b':')
    });
    let function = split.map_or(without_object, |i| &without_object[i + 1..]);
    // Legacy Rust mangling leaves "::h<16 hex digits>" at the end.
    match function.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head.to_owned()
        }
        _ => function.to_owned(),
    }
}

/// The component a function belongs to.
fn component(function: &str) -> &'static str {
    let f = function.trim_start_matches('<');
    let has = |s: &str| f.contains(s);
    if has("ring_core") || has("aes_") || has("gcm_") || has("chacha") || f.starts_with("ring::") {
        "ring (AEAD encryption, header protection)"
    } else if has("memcpy") || has("memmove") || has("memset") || has("memcmp") {
        "libc memcpy/memmove/memset"
    } else if has("malloc")
        || has("free")
        || has("realloc")
        || has("calloc")
        || f.starts_with("alloc::")
    {
        "allocator (malloc/free)"
    } else if f.starts_with("quinn_proto") {
        "quinn-proto (QUIC state machine)"
    } else if f.starts_with("quinn_udp") || f.starts_with("quinn::") {
        "quinn (endpoint/connection drivers, UDP I/O)"
    } else if f.starts_with("rustls") {
        "rustls"
    } else if f.starts_with("tokio") {
        "tokio (scheduler, timers, I/O driver)"
    } else if f.starts_with("vfed_") {
        "vfed (relay, wire)"
    } else if f.starts_with("bytes") {
        "bytes"
    } else if f.starts_with("core::") || f.starts_with("std::") || f.starts_with("hashbrown") {
        "Rust std/core"
    } else {
        "other (libc, loader, ...)"
    }
}

fn summary(
    name: &str,
    total: u64,
    bytes: u64,
    mbps: f64,
    realtime_mbps: f64,
    functions: &[Cost],
) -> String {
    let pct = |ir: u64| ir as f64 * 100.0 / total as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Profile: {name}\n\n{} instructions in all, {:.0} per byte delivered ({} MB); delivered {:.1} Mbit/s in the window (real time would be {:.1}).\n",
        number(total as f64),
        total as f64 / bytes.max(1) as f64,
        number(bytes as f64 / 1e6),
        mbps,
        realtime_mbps
    );
    let mut components: HashMap<&str, u64> = HashMap::new();
    for f in functions {
        *components.entry(component(&f.name)).or_default() += f.ir;
    }
    let mut components: Vec<(&str, u64)> = components.into_iter().collect();
    components.sort_by_key(|c| std::cmp::Reverse(c.1));
    out.push_str("| component | share of instructions |\n|---|---:|\n");
    for (c, ir) in &components {
        let _ = writeln!(out, "| {c} | {:.1}% |", pct(*ir));
    }
    out.push_str("\n| top functions (self) | share |\n|---|---:|\n");
    for f in functions.iter().take(20) {
        let name: String = f.name.chars().take(140).collect();
        let _ = writeln!(
            out,
            "| `{}` | {:.1}% |",
            name.replace('|', "\\|"),
            pct(f.ir)
        );
    }
    out
}
