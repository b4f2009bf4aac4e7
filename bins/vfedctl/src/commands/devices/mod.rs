//! `vfedctl devices ...`.

pub mod decommission;
pub mod fields;
pub mod list;
pub mod register;
pub mod show;
pub mod update;

use clap::Subcommand;

use crate::session::Session;

/// Device commands.
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Register a device of this node's area.
    #[command(
        long_about = register::LONG_ABOUT,
        after_help = register::AFTER_HELP
    )]
    Register(register::RegisterArgs),
    /// Change fields of a local device.
    #[command(long_about = update::LONG_ABOUT, after_help = update::AFTER_HELP)]
    Update(update::UpdateArgs),
    /// List devices visible at this node, with filters.
    #[command(long_about = list::LONG_ABOUT, after_help = list::AFTER_HELP)]
    List(list::ListArgs),
    /// Show one device, local or received from a child node.
    #[command(after_help = show::AFTER_HELP)]
    Show(show::ShowArgs),
    /// Remove a local device from service (its record is kept).
    #[command(after_help = decommission::AFTER_HELP)]
    Decommission(decommission::DecommissionArgs),
}

/// Runs a device command.
pub async fn run(command: DevicesCommand, session: &Session) -> anyhow::Result<()> {
    match command {
        DevicesCommand::Register(a) => register::run(a, session).await,
        DevicesCommand::Update(a) => update::run(a, session).await,
        DevicesCommand::List(a) => list::run(a, session).await,
        DevicesCommand::Show(a) => show::run(a, session).await,
        DevicesCommand::Decommission(a) => decommission::run(a, session).await,
    }
}
