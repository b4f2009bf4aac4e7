//! `vfedctl keepalive`.

use clap::Args;
use vfed_proto::registry::v1::KeepaliveRequest;

use crate::output;
use crate::session::Session;
use crate::values;
use crate::view::KeepaliveView;

/// Arguments of `keepalive`.
#[derive(Debug, Args)]
#[command(
    long_about = "\
Send one Keepalive for the given local devices, as a device or its gateway \
would (R14.3). A device missing 3 periods goes offline. Exits with 1 when \
the node does not know some of the IDs as local devices.",
    after_help = "\
Examples:
  vfedctl keepalive 54050200001320000001
  vfedctl keepalive 54050200001320000001 54050200001320000002 -o json"
)]
pub struct KeepaliveArgs {
    /// Device IDs (20 digits).
    #[arg(required = true, value_name = "ID", value_parser = values::device_id)]
    pub ids: Vec<String>,
}

/// Sends one keepalive.
pub async fn run(args: KeepaliveArgs, session: &Session) -> anyhow::Result<()> {
    let mut client = session.registry().await?;
    let count = args.ids.len();
    let response = session
        .call(client.keepalive(KeepaliveRequest {
            device_ids: args.ids,
            ..Default::default()
        }))
        .await?;
    let view = KeepaliveView::from(&response);
    output::emit(session.format(), &view, || {
        format!(
            "keepalive sent for {} device(s); keep a period of {}\n",
            count - view.unknown_ids.len().min(count),
            humantime::format_duration(std::time::Duration::from_millis(u64::from(view.period_ms)))
        )
    })?;
    if view.unknown_ids.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "the node does not know these local devices: {}",
            view.unknown_ids.join(", ")
        )
    }
}
