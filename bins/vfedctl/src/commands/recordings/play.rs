//! `vfedctl recordings play`: the playback URLs of a device's recording of
//! a range (HLS VOD and one MP4), with a viewing token, for a player:
//! `ffplay "$(vfedctl recordings play ... -o json | jq -r .mp4)"`.

use clap::Args;
use serde::Serialize;

use crate::commands::watch::{http_base, viewing_token};
use crate::exit::usage;
use crate::http::{self, BaseUrl};
use crate::output;
use crate::session::Session;
use crate::table::Table;
use crate::timefmt::rfc3339;
use crate::values;

/// Longest range (the node's limit for one MP4: 6 h).
const MAX_RANGE_MS: i64 = 6 * 3600 * 1000;

/// Examples of `recordings play`.
pub const AFTER_HELP: &str = "\
Examples:
  vfedctl --demo /tmp/vfed --node naidong recordings play 54050200001320000001 --from 2026-12-02T14:00:00Z --to 2026-12-02T14:05:00Z
  ffplay \"$(vfedctl --demo /tmp/vfed -o json recordings play 54050200001320000001 --from 2026-12-02T14:00:00Z --to 2026-12-02T14:01:00Z | jq -r .mp4)\"";

/// Arguments of `recordings play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The 20-digit device ID.
    #[arg(value_name = "DEVICE_ID", value_parser = values::device_id)]
    pub device: String,
    /// Start of the range (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = super::instant)]
    pub from: i64,
    /// End of the range (RFC 3339), after --from, at most 6 h later.
    #[arg(long, value_name = "TIME", value_parser = super::instant)]
    pub to: i64,
    /// HTTP base URL of the node, e.g. http://127.0.0.1:7180 (default with
    /// --demo: the node's http_endpoint).
    #[arg(long, value_name = "URL", value_parser = http::base_url_arg)]
    pub http: Option<BaseUrl>,
}

#[derive(Serialize)]
struct PlayView {
    device_id: String,
    from: String,
    to: String,
    hls: String,
    mp4: String,
}

/// Prints the URLs.
pub async fn run(args: PlayArgs, session: &Session) -> anyhow::Result<()> {
    if args.to <= args.from {
        return Err(usage("--to: must be after --from"));
    }
    if args.to - args.from > MAX_RANGE_MS {
        return Err(usage("--to: at most 6 h after --from"));
    }
    let base = http_base(args.http, session, "recordings play")?;
    let token = viewing_token(session).await?;
    let (from, to) = (
        rfc3339(args.from).unwrap_or_default(),
        rfc3339(args.to).unwrap_or_default(),
    );
    let root = format!("http://{}{}/playback", base.host_header, base.prefix);
    let query = format!("start={from}&end={to}&token={token}");
    let view = PlayView {
        hls: format!("{root}/{}/index.m3u8?{query}", args.device),
        mp4: format!("{root}/{}.mp4?{query}", args.device),
        device_id: args.device,
        from,
        to,
    };
    output::emit(session.format(), &view, || {
        let mut t = Table::headless();
        t.row(["hls".to_owned(), view.hls.clone()]);
        t.row(["mp4".to_owned(), view.mp4.clone()]);
        t.render()
    })
}
