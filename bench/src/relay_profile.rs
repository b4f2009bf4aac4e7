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

/// What `callgrind_annotate` says of one run.
struct Annotated {
    /// All instructions.
    total: u64,
    /// Own instructions per function (merged over source files), largest first.
    functions: Vec<Cost>,
    /// Own instructions per component, largest first.
    components: Vec<Cost>,
    /// Instructions of a function and everything it called (largest entry
    /// over source files: inclusive costs of one function overlap).
    inclusive: HashMap<String, u64>,
}

/// Functions whose inclusive cost says where the relay's work goes.
const PATHS: [(&str, &str); 11] = [
    (
        "QUIC send: packet assembly and encryption (quinn-proto `poll_transmit`)",
        "quinn_proto::connection::Connection::poll_transmit",
    ),
    (
        "- of which AES-GCM seal (ring)",
        "ring::aead::aes_gcm::seal",
    ),
    (
        "QUIC receive: decryption, ACKs, stream frames (quinn-proto `handle_event`)",
        "quinn_proto::connection::Connection::handle_event",
    ),
    (
        "- of which ACK processing (`on_ack_received`)",
        "quinn_proto::connection::Connection::on_ack_received",
    ),
    (
        "- of which AES-GCM open (ring)",
        "ring::aead::aes_gcm::open",
    ),
    (
        "UDP reads, one copy per datagram batch (quinn `RecvState::poll_socket`)",
        "quinn::endpoint::RecvState::poll_socket",
    ),
    (
        "TLS handshakes (rustls `process_new_packets`)",
        "rustls::conn::ConnectionCore<Data>::process_new_packets",
    ),
    (
        "vfed: accepting connections (incl. their handshakes)",
        "vfed_relay::relay::Relay::accept::{{closure}}::{{closure}}",
    ),
    (
        "vfed: serving GOP streams (`serve::send_gop`)",
        "vfed_relay::serve::send_gop::{{closure}}",
    ),
    (
        "vfed: reading upstream GOPs (`pull::read_gop`)",
        "vfed_relay::pull::read_gop::{{closure}}",
    ),
    (
        "vfed: publishing into the track (`Track::publish`)",
        "vfed_relay::track::Track::publish",
    ),
];

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
        let annotated = annotate(&out)?;
        let total = annotated.total;
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
            &annotated,
            total_bytes,
            mbps,
            env.clip.mbps * layout.viewers.iter().sum::<usize>() as f64,
        ));
    }
    Ok(section)
}

/// The function table of `callgrind_annotate`, own costs and inclusive.
fn annotate(out: &std::path::Path) -> anyhow::Result<Annotated> {
    let own = table(out, false)?;
    let mut functions: HashMap<String, u64> = HashMap::new();
    let mut components: HashMap<&'static str, u64> = HashMap::new();
    for (file, function, ir) in own.1 {
        *components.entry(component(&file, &function)).or_default() += ir;
        *functions.entry(function).or_default() += ir;
    }
    let mut inclusive: HashMap<String, u64> = HashMap::new();
    for (_, function, ir) in table(out, true)?.1 {
        let e = inclusive.entry(function).or_default();
        *e = (*e).max(ir);
    }
    let sorted = |map: HashMap<String, u64>| {
        let mut v: Vec<Cost> = map
            .into_iter()
            .map(|(name, ir)| Cost { name, ir })
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.ir));
        v
    };
    Ok(Annotated {
        total: own.0,
        functions: sorted(functions),
        components: sorted(
            components
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        ),
        inclusive,
    })
}

/// Total Ir and the `(file, function, Ir)` entries of one table.
type Table = (u64, Vec<(String, String, u64)>);

fn table(out: &std::path::Path, inclusive: bool) -> anyhow::Result<Table> {
    let output = Command::new("callgrind_annotate")
        .arg(format!(
            "--inclusive={}",
            if inclusive { "yes" } else { "no" }
        ))
        .args(["--auto=no", "--threshold=100"])
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
    let mut in_table = false;
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.ends_with("file:function") {
            in_table = true;
            continue;
        }
        // "12,345 (12.34%)  file:function [object]"
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(ir) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map_or(rest, |(_, r)| r)
            .trim();
        if rest.starts_with("PROGRAM TOTALS") {
            total = ir;
        } else if in_table {
            let (file, function) = split_entry(rest);
            entries.push((file.to_owned(), function, ir));
        }
    }
    anyhow::ensure!(total > 0, "no PROGRAM TOTALS in the callgrind output");
    Ok((total, entries))
}

/// `file:function [object]` -> the file and the function (without the Rust hash).
fn split_entry(entry: &str) -> (&str, String) {
    let without_object = entry.rsplit_once(" [").map_or(entry, |(f, _)| f).trim_end();
    // The file ends at the first single colon (Rust paths use "::").
    let bytes = without_object.as_bytes();
    let split = (0..bytes.len()).find(|&i| {
        bytes[i] == b':' && bytes.get(i + 1) != Some(&b':') && (i == 0 || bytes[i - 1] != b':')
    });
    let (file, function) = split.map_or(("", without_object), |i| {
        (&without_object[..i], &without_object[i + 1..])
    });
    // Legacy Rust mangling leaves "::h<16 hex digits>" at the end.
    let function = match function.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => function,
    };
    (file, function.to_owned())
}

/// The component an entry belongs to: by its source file when that names a
/// crate, else by the function's path (inlined code carries the file of
/// the library function it came from).
fn component(file: &str, function: &str) -> &'static str {
    const BY_FILE: [(&str, &str); 9] = [
        ("/ring-", RING),
        ("/quinn-proto-", "quinn-proto (QUIC state machine)"),
        ("/quinn-udp-", QUINN),
        ("/quinn-", QUINN),
        ("/rustls-", "rustls (TLS, QUIC packet keys)"),
        ("/tokio-", TOKIO),
        ("services/relay/", VFED),
        ("malloc", ALLOC),
        ("memmove", MEMCPY),
    ];
    const RING: &str = "ring (AES-GCM, header protection, handshake crypto)";
    const QUINN: &str = "quinn (connection/endpoint drivers, UDP I/O)";
    const TOKIO: &str = "tokio (scheduler, timers, I/O driver, channels)";
    const VFED: &str = "vfed relay";
    const ALLOC: &str = "allocator (malloc/free)";
    const MEMCPY: &str = "libc memcpy/memmove/memset";
    if let Some((_, c)) = BY_FILE.iter().find(|(k, _)| file.contains(k)) {
        return c;
    }
    let f = function.trim_start_matches('<');
    let crate_name = f.split("::").next().unwrap_or_default();
    match crate_name {
        "ring" => RING,
        "quinn_proto" => "quinn-proto (QUIC state machine)",
        "quinn" | "quinn_udp" => QUINN,
        "rustls" => "rustls (TLS, QUIC packet keys)",
        "tokio" => TOKIO,
        "vfed_relay" | "vfed_bench" => VFED,
        "alloc" => ALLOC,
        "bytes" => "bytes",
        "tracing" | "tracing_core" | "tracing_subscriber" => "tracing",
        "core" | "std" | "hashbrown" => "Rust core/std",
        _ if f.contains("mem")
            && (f.contains("cpy") || f.contains("move") || f.contains("set")) =>
        {
            MEMCPY
        }
        _ if f.contains("malloc") || f.contains("free") => ALLOC,
        _ if f.starts_with("ring_core") => RING,
        _ => "other (libc, kernel entry, loader)",
    }
}

fn summary(name: &str, a: &Annotated, bytes: u64, mbps: f64, realtime_mbps: f64) -> String {
    let total = a.total;
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
    out.push_str("| component | share of instructions |\n|---|---:|\n");
    for c in &a.components {
        let _ = writeln!(out, "| {} | {:.1}% |", c.name, pct(c.ir));
    }
    out.push_str(
        "\n| where it goes (inclusive; rows overlap) | share of instructions |\n|---|---:|\n",
    );
    for (label, function) in PATHS {
        if let Some(ir) = a.inclusive.get(function) {
            let _ = writeln!(out, "| {label} | {:.1}% |", pct(*ir));
        }
    }
    out.push_str("\n| top functions (self) | share |\n|---|---:|\n");
    for f in a.functions.iter().take(20) {
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
