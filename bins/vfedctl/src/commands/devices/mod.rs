//! `vfedctl devices ...`.

pub mod decommission;
pub mod fields;
pub mod list;
pub mod register;
pub mod removal;
mod removal_view;
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
    /// Make a device's reported removal request take effect (R18.11): the
    /// device leaves the live catalog, its record is kept.
    #[command(after_help = decommission::AFTER_HELP)]
    Decommission(decommission::DecommissionArgs),
    /// Removal and relocation requests: request, approve, report, complete, list (R18.11).
    #[command(subcommand)]
    Removal(removal::RemovalCommand),
    /// Request that a local device be moved to a new place (R18.11; R7 at the new place).
    #[command(after_help = removal::RELOCATE_HELP)]
    Relocate(removal::RelocateArgs),
}

/// Runs a device command.
pub async fn run(command: DevicesCommand, session: &Session) -> anyhow::Result<()> {
    match command {
        DevicesCommand::Register(a) => register::run(a, session).await,
        DevicesCommand::Update(a) => update::run(a, session).await,
        DevicesCommand::List(a) => list::run(a, session).await,
        DevicesCommand::Show(a) => show::run(a, session).await,
        DevicesCommand::Decommission(a) => decommission::run(a, session).await,
        DevicesCommand::Removal(c) => removal::run(c, session).await,
        DevicesCommand::Relocate(a) => removal::relocate(a, session).await,
    }
}
