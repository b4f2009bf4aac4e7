//! `vfedctl grants create|list|revoke|set-validity`.

use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use time::OffsetDateTime;
use vfed_proto::sharing::v1 as pb;
use vfed_proto::sharing::v1::sharing_client::SharingClient;

use super::view::{GrantListView, GrantView};
use crate::commands::retrieval::args::instant;
use crate::exit::usage;
use crate::output;
use crate::session::Session;
use crate::values;

const CREATE_HELP: &str = "\
A grant lets the department's viewers watch the devices (listed with --device, \
or every device of an area with --subtree: 5405 or 540500 is the whole city, \
540502 one county) for the purpose given, live and/or recorded, from --from \
(default: now) until --to, or for --for. At most 366 days.

Examples:
  vfedctl grants create --department traffic --device 54050200001310000003 \\
      --purpose 'G349 junction congestion' --live --for 8h
  vfedctl grants create --department emergency --subtree 540521 \\
      --purpose 'flood watch, Yarlung river' --live --recorded \\
      --from 2025-07-01T00:00:00Z --to 2025-09-30T00:00:00Z";

/// Grant commands.
#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Grant a department devices or an area (admins).
    #[command(after_help = CREATE_HELP)]
    Create(Box<CreateArgs>),
    /// Current and future grants (--all: also expired and revoked ones);
    /// department viewers see their own department's only.
    #[command(after_help = "\
Examples:
  vfedctl grants list
  vfedctl grants list --department traffic --all -o json")]
    List(ListArgs),
    /// End a grant now; its live views end within seconds (admins).
    #[command(
        after_help = "Example:\n  vfedctl grants revoke g-3fa2b1c94d5e --reason 'festival over'"
    )]
    Revoke(RevokeArgs),
    /// Shorten or extend a grant (admins); views it no longer covers end.
    #[command(after_help = "\
Examples:
  vfedctl grants set-validity g-3fa2b1c94d5e --for 30m
  vfedctl grants set-validity g-3fa2b1c94d5e --to 2025-12-31T00:00:00Z")]
    SetValidity(ValidityArgs),
}

/// When a grant ends: `--to` or `--for`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("end").required(true).args(["to", "for_"])))]
pub struct End {
    /// End (exclusive): RFC 3339 or unix seconds.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub to: Option<i64>,

    /// Length from the start (or from now), e.g. 2h, 7days.
    #[arg(long = "for", id = "for_", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub for_: Option<Duration>,
}

impl End {
    /// The end in unix seconds, from `start` (unix seconds; now when `None`).
    fn to_unix(&self, start: Option<i64>) -> anyhow::Result<i64> {
        match (self.to, self.for_) {
            (Some(to), _) => Ok(to),
            (None, Some(length)) => {
                let from = start.unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
                let seconds =
                    i64::try_from(length.as_secs()).map_err(|_| usage("--for: too long"))?;
                Ok(from.saturating_add(seconds))
            }
            (None, None) => Err(usage("give --to TIME or --for DURATION")),
        }
    }
}

/// Arguments of `grants create`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["devices", "subtree"])))]
#[command(group(ArgGroup::new("kind").required(true).multiple(true).args(["live", "recorded"])))]
pub struct CreateArgs {
    /// The department (see `vfedctl departments list`).
    #[arg(long, value_name = "NAME")]
    pub department: String,

    /// A device granted (repeat for several).
    #[arg(long = "device", id = "devices", value_name = "ID", value_parser = values::device_id)]
    pub devices: Vec<String>,

    /// Every device of this area: a prefix of 2, 4 or 6 digits.
    #[arg(long, value_name = "AREA")]
    pub subtree: Option<String>,

    /// Why the department may watch (recorded with every view).
    #[arg(long, value_name = "TEXT")]
    pub purpose: String,

    /// Live viewing.
    #[arg(long)]
    pub live: bool,

    /// Recorded video.
    #[arg(long)]
    pub recorded: bool,

    /// Start: RFC 3339 or unix seconds (default: now).
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub from: Option<i64>,

    /// The end.
    #[command(flatten)]
    pub end: End,
}

/// Arguments of `grants list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this department's grants.
    #[arg(long, value_name = "NAME")]
    pub department: Option<String>,

    /// Also expired and revoked grants.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `grants revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The grant ID (g-...).
    pub id: String,

    /// Why it ends early (required).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

/// Arguments of `grants set-validity`.
#[derive(Debug, Args)]
pub struct ValidityArgs {
    /// The grant ID (g-...).
    pub id: String,

    /// New start: RFC 3339 or unix seconds (default: unchanged).
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub from: Option<i64>,

    /// The new end.
    #[command(flatten)]
    pub end: End,
}

impl CreateArgs {
    /// The grant to send.
    pub fn grant(&self) -> anyhow::Result<pb::Grant> {
        Ok(pb::Grant {
            department: self.department.clone(),
            device_ids: self.devices.clone(),
            subtree: self.subtree.clone().unwrap_or_default(),
            purpose: self.purpose.clone(),
            live: self.live,
            recorded: self.recorded,
            valid_from_unix: self.from.unwrap_or(0),
            valid_to_unix: self.end.to_unix(self.from)?,
            ..pb::Grant::default()
        })
    }
}

fn emit_grant(session: &Session, headline: &str, grant: &pb::Grant) -> anyhow::Result<()> {
    let view = GrantView::from(grant);
    output::emit(session.format(), &view, || {
        format!("{headline}\n\n{}", view.detail())
    })
}

/// Runs a grant command.
pub async fn run(command: GrantsCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = SharingClient::new(session.channel().await?);
    match command {
        GrantsCommand::Create(args) => {
            let grant = args.grant()?;
            let created = session
                .call(client.create_grant(pb::CreateGrantRequest { grant: Some(grant) }))
                .await?;
            emit_grant(
                session,
                &format!(
                    "granted {} to department {}",
                    created.id, created.department
                ),
                &created,
            )
        }
        GrantsCommand::List(args) => {
            let response = session
                .call(client.list_grants(pb::ListGrantsRequest {
                    department: args.department.unwrap_or_default(),
                    include_inactive: args.all,
                }))
                .await?;
            let view = GrantListView::from(&response);
            output::emit(session.format(), &view, || view.table())
        }
        GrantsCommand::Revoke(args) => {
            let revoked = session
                .call(client.revoke_grant(pb::RevokeGrantRequest {
                    id: args.id,
                    reason: args.reason,
                }))
                .await?;
            emit_grant(session, &format!("revoked {}", revoked.id), &revoked)
        }
        GrantsCommand::SetValidity(args) => {
            let valid_to_unix = args.end.to_unix(args.from)?;
            let changed = session
                .call(client.set_grant_validity(pb::SetGrantValidityRequest {
                    id: args.id,
                    valid_from_unix: args.from.unwrap_or(0),
                    valid_to_unix,
                }))
                .await?;
            emit_grant(session, &format!("changed {}", changed.id), &changed)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(subcommand)]
        command: GrantsCommand,
    }

    fn parse(args: &[&str]) -> Result<GrantsCommand, clap::Error> {
        Probe::try_parse_from(std::iter::once("grants").chain(args.iter().copied()))
            .map(|p| p.command)
    }

    #[test]
    fn create_needs_what_kind_and_end() {
        let ok = parse(&[
            "create",
            "--department",
            "traffic",
            "--device",
            "54050200001320000001",
            "--purpose",
            "p",
            "--live",
            "--from",
            "1000",
            "--for",
            "2h",
        ]);
        let Ok(GrantsCommand::Create(args)) = ok else {
            panic!("{ok:?}");
        };
        let grant = args.grant().expect("grant");
        assert_eq!((grant.valid_from_unix, grant.valid_to_unix), (1000, 8200));
        assert!(grant.live && !grant.recorded);
        for missing in [
            &[
                "create",
                "--department",
                "t",
                "--purpose",
                "p",
                "--live",
                "--for",
                "1h",
            ][..],
            &[
                "create",
                "--department",
                "t",
                "--subtree",
                "5405",
                "--purpose",
                "p",
                "--for",
                "1h",
            ],
            &[
                "create",
                "--department",
                "t",
                "--subtree",
                "5405",
                "--purpose",
                "p",
                "--live",
            ],
            &[
                "create",
                "--department",
                "t",
                "--device",
                "123",
                "--purpose",
                "p",
                "--live",
                "--for",
                "1h",
            ],
        ] {
            assert!(parse(missing).is_err(), "{missing:?}");
        }
    }

    #[test]
    fn set_validity_keeps_the_start_unless_given() {
        let Ok(GrantsCommand::SetValidity(args)) = parse(&[
            "set-validity",
            "g-000000000001",
            "--to",
            "2025-01-01T00:00:00Z",
        ]) else {
            panic!("parse");
        };
        assert_eq!(args.from, None);
        assert_eq!(args.end.to_unix(args.from).ok(), Some(1_735_689_600));
    }
}
