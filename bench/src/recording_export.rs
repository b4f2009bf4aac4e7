//! The recorded hour of the recording benchmark at a real county, and its
//! evidence export (issue 10's bench list: export of 1 hour, goal < 10 s;
//! its offline verification, goal < 5 s), through the real path:
//!
//! - a county `TestNode` under a city `TestNode` that countersigns its
//!   audit checkpoints (real mutual TLS, real audit log);
//! - one hour of a camera written into the county's archive by the
//!   archive's own writer ([`crate::recording::synthesize_hour`]), each
//!   file's manifest logged as the recorder logs it (`recording.file.closed`);
//! - two officers file and co-sign a retrieval request for the hour, an
//!   admin approves it, a signer calls `Evidence.Export` (the archive's
//!   `export.rs` plan and tlog proofs, `evidence_service.rs` streaming) and
//!   the package is written as `vfedctl retrieval export` writes it (a file
//!   per path, `fsync` per file);
//! - `vfed-bench verify-evidence DIR` (a child process, so that its CPU is
//!   its own) runs `vfed_evidence::verify`, as `vfedctl evidence verify` does,
//!   once right after the export (the package in the page cache) and once
//!   after dropping the package from the cache (`dd ... oflag=nocache`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use vfed_proto::archive::v1::ExportRequest;
use vfed_proto::archive::v1::evidence_client::EvidenceClient;
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::RegisterDeviceRequest;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::retrieval::v1 as rpb;
use vfed_proto::retrieval::v1::retrieval_client::RetrievalClient;
use vfed_tests::{NewUser, NodeOptions, TestNode, TestPki};

use crate::machine::CpuMark;
use crate::registrations::{CITY, COUNTY};
use crate::relay_proc::ProcTimes;

/// The camera recorded for an hour.
pub const DEVICE: &str = "54050200001320000001";

/// A county holding one recorded hour, under its city.
pub struct Hour {
    pki: TestPki,
    /// The county (the archive, the export).
    pub county: TestNode,
    _city: TestNode,
    /// Start of the hour, Unix ms.
    pub start_ms: i64,
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Hour {
    /// Starts the city and the county, registers [`DEVICE`], writes an hour
    /// of `clip` into the county's archive and logs its manifests.
    pub async fn record(clip: &Path) -> anyhow::Result<Self> {
        let pki = TestPki::new()?;
        let city =
            TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[COUNTY])).await?;
        let county = TestNode::start(&pki, NodeOptions::new(COUNTY, "county").under(&city)).await?;
        let mut spec = vfed_tests::device_spec(DEVICE, true);
        spec.streams = None;
        RegistryClient::new(county.channel(&pki)?)
            .register_device(RegisterDeviceRequest { spec: Some(spec) })
            .await?;
        let archive = county
            .running
            .as_ref()
            .and_then(|r| r.archive())
            .context("the county keeps no archive")?
            .clone();
        let (root, clip) = (archive.dir().to_path_buf(), clip.to_owned());
        let (start_ms, manifests) = tokio::task::spawn_blocking(move || {
            crate::recording::synthesize_hour(&root, DEVICE, &clip)
        })
        .await??;
        for manifest in &manifests {
            archive.log_manifest(manifest, None).await;
        }
        Ok(Self {
            pki,
            county,
            _city: city,
            start_ms,
        })
    }

    /// The county's archive.
    pub fn archive(&self) -> anyhow::Result<vfed_archive::Archive> {
        self.county
            .running
            .as_ref()
            .and_then(|r| r.archive())
            .cloned()
            .context("the county is stopped")
    }

    async fn person(&self, name: &str, role: Role) -> anyhow::Result<String> {
        let password = format!("{name}-password-123");
        self.county
            .create_user(
                &self.pki,
                NewUser {
                    name,
                    role,
                    unit: "Naidong PSB",
                    department: "",
                    password: &password,
                },
            )
            .await?;
        self.county.login(&self.pki, name, &password).await
    }

    /// Files, co-signs and approves a request for the hour; returns its ID
    /// and the filer's token.
    pub async fn approved_request(&self) -> anyhow::Result<(String, String)> {
        let filer = self.person("zhuoma", Role::Officer).await?;
        let cosigner = self.person("tenzin", Role::Officer).await?;
        let custodian = self.person("custodian", Role::Admin).await?;
        let client = |token: &str| -> anyhow::Result<_> {
            Ok(RetrievalClient::new(
                self.county.channel_as(&self.pki, token)?,
            ))
        };
        let from_unix = self.start_ms.div_euclid(1000) + 1;
        let filed = client(&filer)?
            .file_request(rpb::FileRequestRequest {
                request: Some(rpb::RetrievalRequest {
                    legal_document: Some(rpb::LegalDocument {
                        r#type: "case-filing".into(),
                        number: "NDPSB-2026-0042".into(),
                        issuing_authority: "Naidong County PSB".into(),
                        sha256: "9f".repeat(32),
                    }),
                    purpose: "benchmark: one hour of one camera".into(),
                    requesting_agency: "Naidong criminal police".into(),
                    device_ids: vec![DEVICE.to_owned()],
                    from_unix,
                    to_unix: from_unix + 3600,
                    ..Default::default()
                }),
            })
            .await?
            .into_inner();
        client(&cosigner)?
            .co_sign(rpb::CoSignRequest {
                id: filed.id.clone(),
            })
            .await?;
        client(&custodian)?
            .approve(rpb::ApproveRequest {
                id: filed.id.clone(),
            })
            .await?;
        Ok((filed.id, filer))
    }

    /// Exports request `id` as `token` into `dir` (a new directory), as
    /// `vfedctl retrieval export` writes it. `Err` carries the node's
    /// refusal (a manifest not yet under a countersigned checkpoint).
    pub async fn export(&self, id: &str, token: &str, dir: &Path) -> anyhow::Result<u64> {
        let mut client = EvidenceClient::new(self.county.channel_as(&self.pki, token)?);
        let mut stream = client
            .export(ExportRequest {
                id: id.to_owned(),
                output_dir: dir.display().to_string(),
            })
            .await?
            .into_inner();
        std::fs::create_dir(dir)?;
        let mut current: Option<(String, std::fs::File)> = None;
        let mut bytes = 0u64;
        let mut complete = false;
        while let Some(chunk) = stream.message().await? {
            let (path, mut file) = match current.take() {
                Some((path, file)) if path == chunk.path => (path, file),
                Some((path, _)) => anyhow::bail!("{path} left incomplete"),
                None => {
                    let relative = vfed_evidence::layout::check_relative(&chunk.path)
                        .map_err(anyhow::Error::msg)?;
                    let full = dir.join(relative);
                    if let Some(parent) = full.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    let file = std::fs::File::create_new(&full)
                        .with_context(|| format!("creating {}", full.display()))?;
                    (chunk.path.clone(), file)
                }
            };
            file.write_all(&chunk.data)?;
            bytes += chunk.data.len() as u64;
            if chunk.last {
                file.sync_all()?;
                complete = !chunk.package_sha256.is_empty();
            } else {
                current = Some((path, file));
            }
        }
        anyhow::ensure!(complete, "the export ended before its manifest");
        Ok(bytes)
    }
}

/// One timed step: wall seconds, bytes, CPU.
#[derive(Clone, Debug, Default)]
pub struct Timed {
    /// Wall seconds.
    pub seconds: f64,
    /// Bytes moved.
    pub bytes: u64,
    /// CPU seconds (user, system) of the process(es) doing it.
    pub user: f64,
    /// Kernel CPU seconds.
    pub system: f64,
    /// Share of all the machine's CPUs busy meanwhile.
    pub machine_busy: f64,
    /// Load average when it ended.
    pub load: String,
}

impl Timed {
    /// One line for the notes.
    pub fn describe(&self) -> String {
        let cpu = self.user + self.system;
        format!(
            "{:.2} s, {:.0} MB ({:.0} MB/s), CPU {:.2} s = {:.2} cores (user {:.2} s, sys {:.2} s), machine {:.0}% busy, load {}",
            self.seconds,
            self.bytes as f64 / 1e6,
            self.bytes as f64 / 1e6 / self.seconds.max(1e-9),
            cpu,
            cpu / self.seconds.max(1e-9),
            self.user,
            self.system,
            self.machine_busy * 100.0,
            self.load
        )
    }
}

/// Exports `id` into `dir`, timed; CPU is this whole process's (the county
/// and city nodes, the client writing the package).
pub async fn timed_export(hour: &Hour, id: &str, token: &str, dir: &Path) -> anyhow::Result<Timed> {
    let me = std::process::id();
    let (mark, times, t0) = (CpuMark::now(), ProcTimes::of(me), Instant::now());
    let bytes = hour.export(id, token, dir).await?;
    let seconds = t0.elapsed().as_secs_f64();
    let (used, cpu) = (mark.used(), ProcTimes::of(me).since(times));
    Ok(Timed {
        seconds,
        bytes,
        user: cpu.user,
        system: cpu.system,
        machine_busy: used.machine_busy,
        load: loadavg(),
    })
}

/// Drops every file of `dir` from the page cache (nothing is written:
/// `dd of=FILE oflag=nocache conv=notrunc,fdatasync count=0`).
pub fn drop_cached(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            drop_cached(&path)?;
            continue;
        }
        let status = std::process::Command::new("dd")
            .arg(format!("of={}", path.display()))
            .args([
                "oflag=nocache",
                "conv=notrunc,fdatasync",
                "count=0",
                "status=none",
            ])
            .status()
            .context("running dd")?;
        anyhow::ensure!(status.success(), "dd nocache {}", path.display());
    }
    Ok(())
}

/// Runs `vfed-bench verify-evidence DIR` (under `perf record` when
/// `perf_out` is given), timed from outside; the child reports its CPU.
pub async fn timed_verify(
    exe: &Path,
    dir: &Path,
    perf_out: Option<&Path>,
) -> anyhow::Result<Timed> {
    let mut command = match perf_out {
        Some(out) => {
            let mut c = tokio::process::Command::new("perf");
            c.args(["record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o"])
                .arg(out)
                .arg("--")
                .arg(exe);
            c
        }
        None => tokio::process::Command::new(exe),
    };
    command.arg("verify-evidence").arg(dir);
    let mark = CpuMark::now();
    let t0 = Instant::now();
    let out = command.output().await.context("running verify-evidence")?;
    let seconds = t0.elapsed().as_secs_f64();
    let used = mark.used();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("VERIFIED "))
        .with_context(|| {
            format!(
                "verify-evidence: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let f: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    anyhow::ensure!(f.len() == 3, "verify-evidence said {line:?}");
    Ok(Timed {
        seconds,
        bytes: f[0] as u64,
        user: f[1],
        system: f[2],
        machine_busy: used.machine_busy,
        load: loadavg(),
    })
}

/// `vfed-bench verify-evidence DIR`: verifies the package as `vfedctl
/// evidence verify` does and prints `VERIFIED <bytes> <user s> <sys s>`.
/// Without `DIR`: prints `SHA256 <MB/s>`, SHA-256 alone over 1 GiB in
/// memory, per CPU second (the reference point).
pub fn verify_main(dir: Option<&Path>) -> anyhow::Result<()> {
    let Some(dir) = dir else {
        let buffer = vec![0x5au8; 1 << 30];
        let before = ProcTimes::of(std::process::id());
        let digest = vfed_evidence::sha256_hex(&buffer);
        let cpu = ProcTimes::of(std::process::id()).since(before).total();
        // Per CPU second: the machine is shared, wall time is not the hash's.
        let mbps = buffer.len() as f64 / 1e6 / cpu.max(0.01);
        println!("SHA256 {mbps:.0} {}", &digest[..8]);
        return Ok(());
    };
    let report = vfed_evidence::verify(dir, &vfed_evidence::Pins::default())?;
    anyhow::ensure!(
        report.is_clean(),
        "the package does not verify: {:?}",
        report.findings.first()
    );
    let times = ProcTimes::of(std::process::id());
    println!(
        "VERIFIED {} {:.2} {:.2}",
        crate::recording::du(dir),
        times.user,
        times.system
    );
    Ok(())
}

/// SHA-256 alone, MB/s (`verify-evidence` without a directory).
pub async fn sha256_reference(exe: &Path) -> anyhow::Result<f64> {
    let out = tokio::process::Command::new(exe)
        .arg("verify-evidence")
        .output()
        .await?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("SHA256 "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .context("no SHA256 line")
}

/// The disk under `dir`: sequential write of 1 GiB with one fdatasync at
/// the end, and its cold read (`O_DIRECT`), MB/s, with dd.
pub fn disk_reference(dir: &Path) -> anyhow::Result<(f64, f64)> {
    let file = dir.join("disk-reference");
    let rate = |args: &[String]| -> anyhow::Result<f64> {
        let out = std::process::Command::new("dd")
            .args(args)
            .output()
            .context("running dd")?;
        anyhow::ensure!(out.status.success(), "dd {args:?} failed");
        // "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.1 s, 511 MB/s"
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text.lines().last().unwrap_or_default();
        let bytes: f64 = line
            .split_whitespace()
            .next()
            .and_then(|b| b.parse().ok())
            .context("dd bytes")?;
        let seconds: f64 = line
            .rsplit(", ")
            .nth(1)
            .and_then(|s| s.trim_end_matches(" s").parse().ok())
            .context("dd seconds")?;
        Ok(bytes / 1e6 / seconds)
    };
    let path = file.display().to_string();
    let write = rate(&[
        "if=/dev/zero".into(),
        format!("of={path}"),
        "bs=1M".into(),
        "count=1024".into(),
        "conv=fdatasync".into(),
    ])?;
    let read = rate(&[
        format!("if={path}"),
        "of=/dev/null".into(),
        "bs=1M".into(),
        "iflag=direct".into(),
    ]);
    let _ = std::fs::remove_file(&file);
    Ok((write, read?))
}

/// The top of a `perf report` of `data` by symbol (self time), `lines` lines.
pub fn perf_top(data: &Path, lines: usize) -> String {
    let out = std::process::Command::new("perf")
        .args(["report", "--stdio", "--no-children", "-q", "-g", "none"])
        .args(["--sort", "dso,symbol", "--percent-limit", "1.5", "-i"])
        .arg(data)
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(lines)
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("; "),
        Ok(o) => format!("perf report failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => format!("perf report: {e}"),
    }
}

/// Records this process with `perf record` until the returned guard is
/// finished (SIGINT, as perf expects), `None` when perf cannot run.
pub struct PerfSelf {
    child: tokio::process::Child,
    /// Where the profile goes.
    pub out: PathBuf,
}

impl PerfSelf {
    /// Starts `perf record -p <this process>`.
    pub async fn start(out: &Path) -> Option<Self> {
        let child = tokio::process::Command::new("perf")
            .args(["record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-p"])
            .arg(std::process::id().to_string())
            .arg("-o")
            .arg(out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        // perf attaches to every thread before it samples.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some(Self {
            child,
            out: out.to_owned(),
        })
    }

    /// Stops the recording and waits for perf to write it.
    pub async fn finish(mut self) -> PathBuf {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        self.out
    }
}
