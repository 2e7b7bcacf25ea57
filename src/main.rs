//! The `dpu-fw` command: check, compile, simulate, classify and benchmark
//! firewall policies for BlueField DPUs (DOCA Flow), and run them.
//!
//! Each subcommand lives in its own module under `src/cli/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// dpu-fw: a DOCA Flow firewall and service-chain engine.
#[derive(Debug, Parser)]
#[command(name = "dpu-fw", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print what this binary was built with (features, DPDK and DOCA versions).
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version => cli::version::run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
