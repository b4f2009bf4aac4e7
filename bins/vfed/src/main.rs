//! `vfed`: the vfed server. Runs a node from its configuration, manages the
//! development PKI, or runs a whole demo city on one machine.
#![forbid(unsafe_code)]

mod cli;
mod demo;
mod pki;
mod serve;
mod signals;

use std::process::ExitCode;

use clap::Parser;

/// Exit status for a configuration error (EX_CONFIG-like, BSD sysexits' EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        Some(cli::Command::Pki(command)) => pki::run(command),
        Some(cli::Command::Demo(args)) => demo::main(args),
        Some(cli::Command::Serve(args)) => serve::main(args),
        None => serve::main(cli.serve),
    }
}
