//! The demo's accounts: `demo-site` (the demo's own tool certificate, which
//! seeds devices and reports keepalives) is each node's bootstrap admin; it
//! adds `vfedctl` (the operator certificate in demo.json, admin) and `admin`,
//! a person who logs in with a password kept in `DATA_DIR/admin-password`.

use std::path::Path;

use anyhow::Context as _;
use vfed_proto::auth::v1 as pb;
use vfed_proto::auth::v1::accounts_client::AccountsClient;

use super::layout::{DemoFile, ToolChannels};

/// The bootstrap admin of every demo node (the demo's tool certificate).
pub const BOOTSTRAP_ADMIN: &str = "demo-site";

/// Creates the demo accounts on every node (idempotent across restarts)
/// and returns the `admin` password and where it is kept.
pub async fn ensure(
    channels: &ToolChannels,
    demo: &DemoFile,
    data_dir: &Path,
) -> anyhow::Result<(String, std::path::PathBuf)> {
    let path = data_dir.join("admin-password");
    let password = match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().next().unwrap_or("").to_owned(),
        Err(_) => {
            let password: String = (0..20)
                .map(|_| {
                    const ALPHABET: &[u8] =
                        b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
                    char::from(ALPHABET[rand::random_range(0..ALPHABET.len())])
                })
                .collect();
            write_private(&path, &password)?;
            password
        }
    };
    for node in &demo.nodes {
        let mut client = AccountsClient::new(channels.get(&node.id)?);
        for (name, role, display, pass) in [
            (
                "vfedctl",
                pb::Role::Admin,
                "vfedctl (demo operator certificate)",
                "",
            ),
            (
                "admin",
                pb::Role::Admin,
                "demo administrator",
                password.as_str(),
            ),
        ] {
            let created = client
                .create_user(pb::CreateUserRequest {
                    user: Some(pb::User {
                        name: name.into(),
                        display_name: display.into(),
                        role: role as i32,
                        unit: node.name.clone(),
                        ..Default::default()
                    }),
                    password: pass.into(),
                })
                .await;
            match created {
                Ok(_) => {}
                Err(status) if status.code() == tonic::Code::AlreadyExists => {}
                Err(status) => {
                    return Err(status)
                        .with_context(|| format!("creating account {name} at {}", node.name));
                }
            }
        }
    }
    Ok((password, path))
}

/// A token of the demo's operator certificate, for the HLS URLs the demo prints.
pub async fn viewing_token(channels: &ToolChannels, node_id: &str) -> anyhow::Result<String> {
    let mut client = AccountsClient::new(channels.get(node_id)?);
    let issued = client
        .issue_token(pb::IssueTokenRequest {
            ttl_seconds: 12 * 3600,
        })
        .await
        .context("issuing a viewing token")?
        .into_inner();
    Ok(issued.token)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    vfed_private_fs::write_atomic(path, format!("{text}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
