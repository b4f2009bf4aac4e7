//! `vfedctl retrieval ...`: the two-officer release workflow of recorded
//! video (service `vfed.retrieval.v1.Retrieval`, R16, R17).

pub mod args;
pub mod export;
mod view;

use clap::Subcommand;
use vfed_proto::retrieval::v1::retrieval_client::RetrievalClient;
use vfed_proto::retrieval::v1::{
    ApproveRequest, CoSignRequest, GetRequestRequest, ListRequestsRequest, OpenAccessRequest,
    RejectRequest,
};

use crate::output::{self, Format};
use crate::session::Session;

pub use args::{FileArgs, ListArgs, RejectArgs};
use view::{GrantView, RequestListView, RequestView};

const FILE_HELP: &str = "\
The request is signed with your account (an officer's). It still needs a \
second, different officer's co-signature (`vfedctl retrieval cosign ID`) and \
the custodian's approval (`vfedctl retrieval approve ID`, an admin of the node) \
before access can be opened (R16). The scanned legal document stays with you: \
only its SHA-256 is sent.

Examples:
  vfedctl retrieval file --doc-type case-filing --doc-number NDPSB-2025-0042 \\
      --authority 'Naidong County PSB' --doc-file scan.pdf \\
      --purpose 'theft at the north gate' --agency 'Naidong criminal police' \\
      --device 54050200001320000001 --device 54050200001320000002 \\
      --from 2025-11-27T08:00:00Z --to 2025-11-27T09:30:00Z
  vfedctl retrieval file ... --expires-in 24h --dry-run";

/// Retrieval commands.
#[derive(Debug, Subcommand)]
pub enum RetrievalCommand {
    /// File a request for recorded video (officers).
    #[command(after_help = FILE_HELP)]
    File(Box<FileArgs>),
    /// Co-sign another officer's request (a second officer, R16).
    #[command(after_help = "Example:\n  vfedctl retrieval cosign 1764280000000-3fa2b1c9")]
    Cosign {
        /// The request ID.
        id: String,
    },
    /// Approve a co-signed request (the custodian: an admin of this node
    /// who did not sign it).
    #[command(after_help = "Example:\n  vfedctl retrieval approve 1764280000000-3fa2b1c9")]
    Approve {
        /// The request ID.
        id: String,
    },
    /// Reject a request that is not decided yet (the custodian).
    #[command(
        after_help = "Example:\n  vfedctl retrieval reject 1764280000000-3fa2b1c9 --reason 'period too broad'"
    )]
    Reject(RejectArgs),
    /// Requests at the node, newest first.
    #[command(
        after_help = "Examples:\n  vfedctl retrieval list\n  vfedctl retrieval list --state cosigned -o json"
    )]
    List(ListArgs),
    /// One request in detail: document, signatures, state, expiry.
    #[command(after_help = "Example:\n  vfedctl retrieval show 1764280000000-3fa2b1c9")]
    Show {
        /// The request ID.
        id: String,
    },
    /// Open access under an approved request (its filer or co-signer). The
    /// grant says which devices, which period and until when; the export
    /// of the video itself comes with recording.
    #[command(after_help = "Example:\n  vfedctl retrieval open 1764280000000-3fa2b1c9")]
    Open {
        /// The request ID.
        id: String,
    },
    /// Export the recorded video of an approved request as an evidence
    /// package into a new directory (-o DIR), then verify it offline (its
    /// filer or co-signer, R16, R17).
    #[command(after_help = export::AFTER_HELP)]
    Export {
        /// The request ID.
        id: String,
    },
}

async fn client(session: &Session) -> anyhow::Result<RetrievalClient<crate::session::NodeChannel>> {
    Ok(RetrievalClient::new(session.channel().await?))
}

/// Prints one request under a one-line `headline`.
fn emit_request(
    session: &Session,
    headline: &str,
    request: &vfed_proto::retrieval::v1::RetrievalRequest,
) -> anyhow::Result<()> {
    let view = RequestView::from(request);
    output::emit(session.format(), &view, || {
        if headline.is_empty() {
            view.detail()
        } else {
            format!("{headline}\n\n{}", view.detail())
        }
    })
}

/// Runs a retrieval command.
pub async fn run(command: RetrievalCommand, session: &Session) -> anyhow::Result<()> {
    match command {
        RetrievalCommand::File(args) => {
            let request = args.request()?;
            if args.dry_run {
                let view = RequestView::from(&request);
                return output::emit(Format::Json, &view, String::new);
            }
            let filed = session
                .call(client(session).await?.file_request(
                    vfed_proto::retrieval::v1::FileRequestRequest {
                        request: Some(request),
                    },
                ))
                .await?;
            let headline = format!(
                "filed {}: it needs a second officer's co-signature, then the custodian's approval",
                filed.id
            );
            emit_request(session, &headline, &filed)
        }
        RetrievalCommand::Cosign { id } => {
            let r = session
                .call(client(session).await?.co_sign(CoSignRequest { id }))
                .await?;
            let headline = format!("co-signed {}: it needs the custodian's approval", r.id);
            emit_request(session, &headline, &r)
        }
        RetrievalCommand::Approve { id } => {
            let r = session
                .call(client(session).await?.approve(ApproveRequest { id }))
                .await?;
            let headline = format!(
                "approved {}: its officers may open access (`vfedctl retrieval open {}`)",
                r.id, r.id
            );
            emit_request(session, &headline, &r)
        }
        RetrievalCommand::Reject(args) => {
            let r = session
                .call(client(session).await?.reject(RejectRequest {
                    id: args.id,
                    reason: args.reason,
                }))
                .await?;
            emit_request(session, &format!("rejected {}", r.id), &r)
        }
        RetrievalCommand::List(args) => {
            let response = session
                .call(client(session).await?.list_requests(ListRequestsRequest {
                    state: args.state.map_or(0, i32::from),
                    limit: args.limit.unwrap_or(0),
                }))
                .await?;
            let view = RequestListView::from(&response);
            output::emit(session.format(), &view, || view.table())
        }
        RetrievalCommand::Show { id } => {
            let r = session
                .call(client(session).await?.get_request(GetRequestRequest { id }))
                .await?;
            emit_request(session, "", &r)
        }
        RetrievalCommand::Export { id } => {
            let Some(crate::output::OutputArg::Path(dir)) = session.output_arg() else {
                return Err(crate::exit::usage(
                    "retrieval export needs -o DIR: the new directory the package goes into",
                ));
            };
            let sha256 = export::run(session, id, dir).await?;
            println!(
                "received {} (package SHA-256 {sha256}, as logged by the node)",
                dir.display()
            );
            crate::commands::evidence::check(dir, &vfed_evidence::Pins::default(), Format::Table)
        }
        RetrievalCommand::Open { id } => {
            let grant = session
                .call(client(session).await?.open_access(OpenAccessRequest { id }))
                .await?;
            let view = GrantView::from(&grant);
            output::emit(session.format(), &view, || view.detail())
        }
    }
}
