//! `dpu-fw compile FILE`: the plan summary, or a Graphviz drawing with `--dot`.
//!
//! Also the rule-file loading that `check`, `simulate` and `classify` share.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use dpu_fw::compile::{Plan, Target, compile, dot};
use dpu_fw::model::RuleSet;

/// The rule file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The TOML policy format (docs/config.md).
    Toml,
    /// A ClassBench filter file, plain or gzip (every rule accepts, the default drops).
    Classbench,
}

/// The compile targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TargetArg {
    /// The software backend: one pipe per segment, unlimited priorities.
    Software,
    /// A BlueField DPU: DOCA's limits (1025 ACL priorities per pipe).
    Bluefield,
}

impl TargetArg {
    pub(crate) fn target(self) -> Target {
        match self {
            TargetArg::Software => Target::software(),
            TargetArg::Bluefield => Target::bluefield(),
        }
    }
}

/// Arguments of `dpu-fw compile`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The rule file.
    file: PathBuf,
    /// Print the pipeline as a Graphviz digraph instead of the summary.
    #[arg(long)]
    dot: bool,
    /// What to compile for.
    #[arg(long, value_enum, default_value = "software")]
    target: TargetArg,
    /// The rule file's format.
    #[arg(long, value_enum, default_value = "toml")]
    format: Format,
}

/// Loads a rule file; TOML warnings go to stderr.
pub(crate) fn load_rules(path: &Path, format: Format) -> anyhow::Result<RuleSet> {
    match format {
        Format::Toml => {
            let checked = dpu_fw::config::load(path)?;
            for w in &checked.warnings {
                eprintln!("{w}");
            }
            Ok(checked.rules)
        }
        Format::Classbench => {
            let t = Instant::now();
            let cb = dpu_fw::classbench::read_rules(path)?;
            let rules = dpu_fw::classbench::to_rule_set(&cb)
                .with_context(|| format!("{}: cannot import", path.display()))?;
            eprintln!(
                "read {} ClassBench rules from {} in {:.2?}",
                rules.rules.len(),
                path.display(),
                t.elapsed()
            );
            Ok(rules)
        }
    }
}

/// Compiles with progress on stderr.
pub(crate) fn compile_with_progress(rules: &RuleSet, target: TargetArg) -> anyhow::Result<Plan> {
    let t = Instant::now();
    let plan = compile(rules, &target.target())
        .with_context(|| format!("compiling for the {} target", target.target().kind()))?;
    eprintln!(
        "compiled {} rules for the {} target in {:.2?}: {}",
        rules.rules.len(),
        plan.target,
        t.elapsed(),
        plan.stats()
    );
    Ok(plan)
}

/// The pipeline, one line per pipe.
pub(crate) fn print_pipeline(plan: &Plan) {
    println!("pipeline ({} target):", plan.target);
    for (i, p) in plan.pipes.iter().enumerate() {
        let miss = match p.fwd_miss {
            None => "-".to_string(),
            Some(f) => fwd_name(plan, f),
        };
        let what = match p.kind.hit() {
            // A CT pipe's entries are the connections software offloads at run time.
            Some(hit) => format!("connections -> {}", fwd_name(plan, hit)),
            None => format!("{:>8} entries", p.entries.len()),
        };
        println!(
            "  [{i:>3}] {:<8} {:<40} {what}, miss -> {miss}",
            p.kind.name(),
            p.name,
        );
    }
}

/// A forward, in words.
pub(crate) fn fwd_name(plan: &Plan, f: dpu_fw::compile::PlanFwd) -> String {
    use dpu_fw::compile::PlanFwd;
    match f {
        PlanFwd::Port(id) => format!("port {}", plan.port_name(id).unwrap_or("?")),
        PlanFwd::Pipe(i) => format!("pipe [{i}] {}", plan.pipes[i].name),
        PlanFwd::Drop => "drop".into(),
        PlanFwd::Software => "software".into(),
    }
}

/// Runs `dpu-fw compile`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let rules = load_rules(&args.file, args.format)?;
    let plan = compile_with_progress(&rules, args.target)?;
    if args.dot {
        print!("{}", dot::to_dot(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    let s = plan.stats();
    println!(
        "{}: {} rules, {} target",
        args.file.display(),
        rules.rules.len(),
        plan.target
    );
    println!(
        "pipes: {} ({} ACL, {} control, {} LPM/exact, {} meter, 1 root)",
        s.pipes, s.acl_pipes, s.control_pipes, s.prefix_pipes, s.meter_pipes
    );
    println!("entries: {} ({} in ACL pipes)", s.entries, s.acl_entries);
    println!("worst-path lookups: {}", s.worst_path_lookups);
    println!("highest priority used: {}", s.max_priority);
    if plan.pipes.len() <= 64 {
        print_pipeline(&plan);
    }
    Ok(ExitCode::SUCCESS)
}
