//! A reference point for the relay's egress: quinn alone, one connection
//! and one stream sending as fast as it can, with vfed's QUIC transport
//! settings and mutual TLS (`vfed_relay::endpoint`). The sender runs as
//! `vfed-bench quinn-bulk` in its own process (its CPU is what is
//! measured, like the relay's); the receiver runs here and discards.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use vfed_pki::{Identity, ServerExpectation};
use vfed_relay::endpoint;

use crate::relay_env::{Env, Window};
use crate::relay_node::{CITY, material};
use crate::relay_proc::Peer;

/// Arguments of `vfed-bench quinn-bulk`.
#[derive(Clone, Debug, clap::Args)]
pub struct SenderArgs {
    /// Directory with `ca.pem` and the viewer's certificate.
    #[arg(long)]
    pub pki: PathBuf,
    /// The receiver.
    #[arg(long)]
    pub to: SocketAddr,
}

/// The identity the bulk sender and the viewers use.
pub fn viewer_identity() -> anyhow::Result<Identity> {
    Ok(Identity::tool("bench-viewer")?)
}

/// The sender: streams 1 MiB chunks until stdin closes.
pub async fn send(args: SenderArgs) -> anyhow::Result<()> {
    let material = material(&args.pki, &viewer_identity()?)?;
    let endpoint = endpoint::client("127.0.0.1:0".parse()?)?;
    let config =
        endpoint::client_config(&material, ServerExpectation::Exactly(Identity::node(CITY)?))?;
    let connection = endpoint
        .connect_with(config, args.to, "vfed-relay")?
        .await?;
    let mut stream = connection.open_uni().await?;
    println!("READY 0");
    let chunk = Bytes::from(vec![0x5au8; 1 << 20]);
    let closed = crate::relay_proc::stdin_closed();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            () = &mut closed => break,
            w = stream.write_chunk(chunk.clone()) => if w.is_err() { break },
        }
    }
    connection.close(quinn::VarInt::from_u32(0), b"done");
    endpoint.wait_idle().await;
    Ok(())
}

/// Runs the sender against a receiver here and measures one window.
pub async fn run(env: &Env) -> anyhow::Result<Window> {
    let material = material(&env.pki, &Identity::node(CITY)?)?;
    let server = endpoint::server(&material, "127.0.0.1:0".parse()?)?;
    let addr = server.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let accept = server.clone();
    let receiver = tokio::spawn(async move {
        let Some(incoming) = accept.accept().await else {
            return;
        };
        let Ok(connection) = incoming.await else {
            return;
        };
        while let Ok(mut stream) = connection.accept_uni().await {
            while let Ok(Some(chunk)) = stream.read_chunk(usize::MAX, false).await {
                counter.fetch_add(chunk.bytes.len() as u64, Ordering::Relaxed);
            }
        }
    });
    let args = vec![
        "quinn-bulk".to_owned(),
        "--pki".into(),
        env.pki.display().to_string(),
        "--to".into(),
        addr.to_string(),
    ];
    let sender = Peer::start_ready(
        "quinn-bulk",
        &env.exe,
        &args,
        &env.log("quinn-bulk"),
        env.start_timeout,
    )
    .await?;
    tokio::time::sleep(env.warmup).await;
    let window = crate::relay_env::measure(
        env,
        &sender,
        &sender,
        || received.load(Ordering::Relaxed),
        None,
    )
    .await;
    let mut window = window;
    window.settled = true;
    let _ = sender.finish(std::time::Duration::from_secs(5)).await;
    receiver.abort();
    server.close(quinn::VarInt::from_u32(0), b"done");
    Ok(window)
}
