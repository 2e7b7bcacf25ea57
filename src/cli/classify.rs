//! `dpu-fw classify --rules R --trace T`: the first matching rule of every trace header,
//! found by the compiled plan on the sw backend, in the format of ClassBench's `*.match5`
//! files (one 0-based rule index per line, `-1` when no rule matches).

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use doca_flow::packet::PacketBuilder;
use dpu_fw::classbench::{self, CbHeader};
use dpu_fw::install::{Decision, Installed};

use super::compile::{Format, TargetArg, compile_with_progress, load_rules};

/// Arguments of `dpu-fw classify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The rule file.
    #[arg(long)]
    rules: PathBuf,
    /// The rule file's format.
    #[arg(long, value_enum, default_value = "classbench")]
    format: Format,
    /// A ClassBench header trace (plain or gzip). Packets enter at the rule set's first
    /// uplink (`p0` for ClassBench rule files).
    #[arg(long)]
    trace: PathBuf,
    /// What to compile for.
    #[arg(long, value_enum, default_value = "software")]
    target: TargetArg,
}

/// Frames per batch given to the sw backend.
const BATCH: usize = 4096;

/// The frame for one trace header: TCP and UDP carry the ports; other protocols are a
/// bare IPv4 header with that protocol number (ClassBench rules constrain ports of TCP and
/// UDP only).
fn frame(h: &CbHeader, out: &mut Vec<u8>) {
    let (src, dst) = (h.src.into(), h.dst.into());
    let b = match h.proto {
        6 => PacketBuilder::tcp4(src, dst, h.src_port, h.dst_port),
        17 => PacketBuilder::udp4(src, dst, h.src_port, h.dst_port),
        p => PacketBuilder::ipv4(src, dst, p),
    };
    out.clear();
    b.build_into(out);
}

/// Runs `dpu-fw classify`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let rules = load_rules(&args.rules, args.format)?;
    let t = Instant::now();
    let trace = classbench::read_trace(&args.trace)?;
    eprintln!(
        "read {} headers from {} in {:.2?}",
        trace.len(),
        args.trace.display(),
        t.elapsed()
    );
    let plan = compile_with_progress(&rules, args.target)?;
    let port = rules
        .ports
        .iter()
        .find(|p| p.role == dpu_fw::model::PortRole::Uplink)
        .or(rules.ports.first())
        .and_then(|p| plan.port_id(&p.name))
        .context("the rule set has no port for the trace to enter")?;
    let t = Instant::now();
    let fw = Installed::new(&plan).context("installing the plan on the sw backend")?;
    eprintln!(
        "installed {} entries in {:.2?}",
        plan.stats().entries,
        t.elapsed()
    );
    let t = Instant::now();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut frames: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut decisions: Vec<Decision> = Vec::with_capacity(BATCH);
    for chunk in trace.chunks(BATCH) {
        for (h, f) in chunk.iter().zip(frames.iter_mut()) {
            frame(h, f);
        }
        decisions.clear();
        fw.process_batch(port, &mut frames[..chunk.len()], &mut decisions);
        for d in &decisions {
            match d.rule {
                Some(r) => writeln!(out, "{r}")?,
                None => writeln!(out, "-1")?,
            }
        }
    }
    out.flush()?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "classified {} headers in {:.2} s ({:.2} M headers/s)",
        trace.len(),
        secs,
        trace.len() as f64 / secs.max(1e-9) / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
