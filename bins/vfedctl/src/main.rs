//! `vfedctl`: the operator command line of vfed.
//!
//! It talks gRPC over mutual TLS to one node (`--endpoint` + `--ca/--cert/--key`,
//! or `--demo DIR [--node ...]`) and prints tables (default) or JSON (`-o json`).
//!
//! Exit codes: 0 success, 1 refused by the server (its message is printed
//! verbatim; with `-o json`, with its field, rule and requirement from the
//! status's details), 2 usage error, 3 connection or TLS failure, 4 tampered audit
//! log, 5 expired stored login (see `exit`).
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod credentials;
mod demo_file;
mod enums;
mod escape;
mod exit;
mod http;
mod output;
mod redact;
mod render;
mod session;
mod spec;
mod spec_file;
mod table;
mod timefmt;
mod values;
mod view;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = matches!(
        cli.global.output,
        Some(output::OutputArg::Format(output::Format::Json))
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit::report(&e, json),
    }
}
