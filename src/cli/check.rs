//! `dpu-fw check FILE`: validate a policy, print its warnings, fail on errors.

use std::path::PathBuf;
use std::process::ExitCode;

use super::compile::{Format, load_rules};

/// Arguments of `dpu-fw check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The rule file.
    file: PathBuf,
    /// The rule file's format.
    #[arg(long, value_enum, default_value = "toml")]
    format: Format,
}

/// Runs `dpu-fw check`: exit 0 when the file is valid (warnings allowed), 1 otherwise.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match args.format {
        Format::Toml => match dpu_fw::config::load(&args.file) {
            Ok(checked) => {
                for w in &checked.warnings {
                    eprintln!("{w}");
                }
                println!(
                    "{}: ok: {} ports, {} rules, {} chains, {} warnings",
                    args.file.display(),
                    checked.rules.ports.len(),
                    checked.rules.rules.len(),
                    checked.rules.chains.len(),
                    checked.warnings.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(dpu_fw::config::Error::Invalid { diagnostics }) => {
                // One per line, repeated messages once with their places, capped.
                eprintln!("{}", dpu_fw::config::diagnostic_list(&diagnostics));
                eprintln!(
                    "{}: {} error{}",
                    args.file.display(),
                    diagnostics.len(),
                    if diagnostics.len() == 1 { "" } else { "s" }
                );
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
        Format::Classbench => {
            let rules = load_rules(&args.file, args.format)?;
            println!("{}: ok: {} rules", args.file.display(), rules.rules.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
