//! `vfedctl audit ...`: the node's tamper-evident audit log (service `vfed.audit.v1.Audit`,
//! R14.5, R18.6): tail it, read its signed checkpoint, list the children's checkpoints this
//! node countersigned, and verify a copy of a log offline.

mod tail;
mod verify;
mod view;

use clap::Subcommand;
use vfed_proto::audit::v1::audit_client::AuditClient;
use vfed_proto::audit::v1::{GetCheckpointRequest, ListChildCheckpointsRequest};

use crate::output;
use crate::session::Session;

pub use tail::TailArgs;
pub use verify::VerifyArgs;
pub(crate) use verify::read_key;

/// Audit commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The last entries of the node's audit log (who, when, what, purpose, destination,
    /// allowed or refused); `--follow` keeps printing new ones.
    ///
    /// With `-o json` each entry is one JSON object per line (the record as logged, with
    /// `time` in RFC 3339 and the entry's `leaf_hash`).
    #[command(after_help = tail::AFTER_HELP)]
    Tail(TailArgs),
    /// Verify a copy of an audit log OFFLINE (no node needed): every entry against its
    /// leaf hash, its position and every signed checkpoint; optionally against a checkpoint
    /// obtained elsewhere (e.g. countersigned by the parent). Exits 4 naming the first bad
    /// entry when the log was changed, cut, reordered or rewritten.
    #[command(after_help = verify::AFTER_HELP)]
    Verify(VerifyArgs),
    /// The node's latest signed checkpoint (C2SP signed note: origin, size, root).
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed audit checkpoint
  vfedctl --demo /tmp/vfed audit checkpoint -o json | jq -r .note > checkpoint.note")]
    Checkpoint,
    /// The children's logs as this node (their parent) last countersigned them, and any
    /// flag raised because a child's log was rewritten, forked or rolled back (R18.6).
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed audit children
  vfedctl --demo /tmp/vfed audit children -o json | jq -r '.children[0].note' > child.note")]
    Children,
}

/// Runs an audit command.
pub async fn run(command: AuditCommand, session: &Session) -> anyhow::Result<()> {
    match command {
        AuditCommand::Tail(args) => tail::run(args, session).await,
        AuditCommand::Verify(args) => verify::run(&args, session.format()),
        AuditCommand::Checkpoint => {
            let mut client = AuditClient::new(session.channel().await?);
            let checkpoint = session
                .call(client.get_checkpoint(GetCheckpointRequest {}))
                .await?;
            let view = view::CheckpointView::from_wire(&checkpoint);
            output::emit(session.format(), &view, || view.table())
        }
        AuditCommand::Children => {
            let mut client = AuditClient::new(session.channel().await?);
            let list = session
                .call(client.list_child_checkpoints(ListChildCheckpointsRequest {}))
                .await?;
            let view = view::ChildrenView::from_wire(&list.children);
            output::emit(session.format(), &view, || view.table())
        }
    }
}
