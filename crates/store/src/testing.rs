//! Test helpers (cargo feature `testing`): a real etcd server and throwaway
//! stores, for this crate's and other crates' integration tests.
//!
//! ```ignore
//! let etcd = vfed_store::testing::shared_etcd().await?;  // one per test binary
//! let store = etcd.store().await?;                       // unique root prefix
//! let (embedded, _dir) = vfed_store::testing::temp_embedded_store()?;
//! ```

use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tempfile::TempDir;

use crate::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::etcd::{EtcdOptions, EtcdStore};

/// How long [`EtcdServer::start`] waits for etcd to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A throwaway single-member etcd on loopback ports, killed on drop.
///
/// The process runs under a small `sh` guard that kills it as soon as this
/// process goes away, even without a drop (e.g. a `static`).
#[derive(Debug)]
pub struct EtcdServer {
    child: Child,
    /// Closing it makes the guard kill etcd.
    guard_stdin: Option<ChildStdin>,
    client_url: String,
    stderr_path: PathBuf,
    _dir: TempDir,
}

fn find_etcd() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!("etcd not found: install the Debian package etcd-server (make test does)")
        })
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn tail(path: &PathBuf, bytes: u64) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut out = String::new();
    let _ = file.read_to_string(&mut out);
    out
}

impl EtcdServer {
    /// Starts etcd on free loopback ports with a temporary data dir and
    /// waits (up to 20 s) until it answers.
    pub async fn start() -> anyhow::Result<EtcdServer> {
        let etcd = find_etcd()?;
        let dir = tempfile::Builder::new().prefix("vfed-etcd-").tempdir()?;
        let client_url = format!("http://127.0.0.1:{}", free_port()?);
        let peer_url = format!("http://127.0.0.1:{}", free_port()?);
        let stderr_path = dir.path().join("etcd.log");
        let stderr = std::fs::File::create(&stderr_path)?;
        // The guard: runs etcd in the background and kills it when its stdin
        // closes (drop, or death of this process).
        let script = r#"etcd="$1"; shift; "$etcd" "$@" </dev/null & pid=$!; read -r _ignored; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0"#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("vfed-etcd-guard")
            .arg(&etcd)
            .arg("--name=vfed-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=vfed-test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawning {}", etcd.display()))?;
        let guard_stdin = child.stdin.take();
        let mut server = EtcdServer {
            child,
            guard_stdin,
            client_url,
            stderr_path,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_error = String::from("no attempt yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "etcd exited early ({status}); stderr tail:\n{}",
                    tail(&self.stderr_path, 4000)
                );
            }
            let options = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(1));
            let attempt = async {
                let mut client =
                    etcd_client::Client::connect([&self.client_url], Some(options)).await?;
                client.get("vfed-ready-probe", None).await?;
                Ok::<_, etcd_client::Error>(())
            };
            match tokio::time::timeout(Duration::from_secs(2), attempt).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => last_error = error.to_string(),
                Err(_) => last_error = "timed out".into(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "etcd did not answer at {} within {:?} (last error: {last_error}); stderr tail:\n{}",
            self.client_url,
            START_TIMEOUT,
            tail(&self.stderr_path, 4000)
        )
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn client_url(&self) -> &str {
        &self.client_url
    }

    /// Options for a store on this server under `root_prefix`.
    pub fn options(&self, root_prefix: impl Into<String>) -> EtcdOptions {
        EtcdOptions {
            endpoints: vec![self.client_url.clone()],
            root_prefix: root_prefix.into(),
            connect_timeout: Duration::from_secs(5),
            max_txn_ops: 128,
        }
    }

    /// A store on this server under a fresh unique root prefix.
    pub async fn store(&self) -> anyhow::Result<Arc<EtcdStore>> {
        let prefix = format!("/vfed-test/{}/", uuid::Uuid::new_v4());
        Ok(EtcdStore::connect(self.options(prefix)).await?)
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        // Closing stdin makes the guard kill etcd and exit; kill the guard too in case.
        drop(self.guard_stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

static SHARED_ETCD: tokio::sync::OnceCell<EtcdServer> = tokio::sync::OnceCell::const_new();

/// One etcd for the whole test binary, started on first use (it dies with
/// the process). Give each test its own store with [`EtcdServer::store`].
pub async fn shared_etcd() -> anyhow::Result<&'static EtcdServer> {
    SHARED_ETCD.get_or_try_init(EtcdServer::start).await
}

/// A fresh embedded store in a new temporary directory (kept while the
/// returned `TempDir` lives).
pub fn temp_embedded_store() -> anyhow::Result<(Arc<EmbeddedStore>, TempDir)> {
    temp_embedded_store_with(EmbeddedOptions::default())
}

/// Like [`temp_embedded_store`], with options.
pub fn temp_embedded_store_with(
    options: EmbeddedOptions,
) -> anyhow::Result<(Arc<EmbeddedStore>, TempDir)> {
    let dir = tempfile::Builder::new().prefix("vfed-store-").tempdir()?;
    let store = EmbeddedStore::open(dir.path(), options)?;
    Ok((store, dir))
}
