//! The `dpu-fw` command: check, compile, simulate, classify and benchmark
//! firewall policies for BlueField DPUs (DOCA Flow), and run them.
//!
//! Each subcommand lives in its own module under `src/cli/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;
#[cfg(feature = "bench-alloc")]
mod peak_alloc;

/// Counts live and peak heap bytes, so `dpu-fw bench` reports the
/// classifier's build memory exactly (a few relaxed atomics per allocation, so
/// benchmark builds only: feature `bench-alloc`).
#[cfg(feature = "bench-alloc")]
#[global_allocator]
static ALLOC: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

/// dpu-fw: a DOCA Flow firewall and service-chain engine.
#[derive(Debug, Parser)]
#[command(name = "dpu-fw", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a policy file: print its warnings, exit non-zero on errors.
    Check(cli::check::Args),
    /// Compile a rule file to a DOCA Flow plan: pipes, entries, worst-path lookups.
    Compile(cli::compile::Args),
    /// Run packets through the installed plan on the software backend (no arguments: the
    /// built-in demo policy and traffic).
    Simulate(cli::simulate::Args),
    /// Print the first matching rule of every trace header (ClassBench match5 format).
    Classify(cli::classify::Args),
    /// Forward packets between DPDK ports through a policy (feature `dpdk`), with live
    /// reload, counters and Prometheus metrics.
    Run(cli::run::Args),
    /// List or flush the connections of a running `dpu-fw run` (over its local control
    /// socket; root only).
    Conntrack(cli::control::Args),
    /// Benchmark the software classifier on a ClassBench rule set and trace, or its scaling
    /// from 1k to 1M synthetic rules (`--scaling`), beside DPDK rte_acl in the same process
    /// (feature `dpdk`).
    Bench(cli::bench::Args),
    /// Print what this binary was built with (features, DPDK and DOCA versions).
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cli::check::run(&args),
        Command::Compile(args) => cli::compile::run(&args),
        Command::Simulate(args) => cli::simulate::run(&args),
        Command::Classify(args) => cli::classify::run(&args),
        Command::Run(args) => cli::run::run(&args),
        Command::Conntrack(args) => cli::control::run(&args),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Version => cli::version::run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli::Causes(&*e));
            ExitCode::FAILURE
        }
    }
}
