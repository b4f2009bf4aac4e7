//! `vfed pki`: the development CA and certificates.

use std::process::ExitCode;

use vfed_pki::{Identity, IssueOptions};

use crate::cli::PkiCommand;

/// Runs a `vfed pki` command.
pub fn run(command: PkiCommand) -> ExitCode {
    match execute(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vfed pki: {e}");
            ExitCode::from(crate::EXIT_CONFIG)
        }
    }
}

fn execute(command: PkiCommand) -> Result<(), vfed_pki::PkiError> {
    match command {
        PkiCommand::Init {
            dir,
            trust_domain,
            force,
        } => {
            let files = vfed_pki::init_ca(&dir, &trust_domain, force)?;
            println!("CA for trust domain {trust_domain}:");
            println!("  certificate  {}", files.cert.display());
            println!("  key          {} (keep it secret)", files.key.display());
        }
        PkiCommand::Issue {
            dir,
            out,
            node,
            user,
            tool,
            dns,
            ip,
            days,
        } => {
            let identity = match (node, user, tool) {
                (Some(id), _, _) => Identity::node(id)?,
                (_, Some(name), _) => Identity::user(name)?,
                (_, _, Some(name)) => Identity::tool(name)?,
                _ => unreachable_identity()?,
            };
            let mut options = IssueOptions {
                validity_days: days,
                ..IssueOptions::default()
            };
            options.dns_names.extend(dns);
            options.ip_addresses.extend(ip);
            let out = out.unwrap_or_else(|| dir.clone());
            let files = vfed_pki::issue(&dir, &out, &identity, &options)?;
            println!("{identity}:");
            println!("  certificate  {}", files.cert.display());
            println!("  key          {}", files.key.display());
        }
    }
    Ok(())
}

/// clap's argument group guarantees one of --node/--user/--tool.
fn unreachable_identity() -> Result<Identity, vfed_pki::PkiError> {
    Identity::tool("unnamed")
}
