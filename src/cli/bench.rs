//! `dpu-fw bench`: the software classifier on a rule set and trace (or, with
//! `--scaling`, on synthetic sets of growing size: `bench_scale.rs`), beside
//! DPDK's `rte_acl` measured in the same process (feature `dpdk`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use dpu_fw::bench::{self, BenchOptions, BenchReport, Format};

/// Arguments of `dpu-fw bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The rule file (ClassBench filter format, plain or .gz).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["conntrack", "scaling"])]
    rules: Option<PathBuf>,
    /// The trace (ClassBench trace format, plain or .gz).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["conntrack", "scaling"])]
    trace: Option<PathBuf>,
    /// Benchmark connection tracking instead of the classifier: handshakes per second,
    /// established-packet cost and memory with `--connections` live connections, each
    /// beside a peer measured in the same run (docs/conntrack.md).
    #[arg(long, conflicts_with_all = ["rules", "trace", "matches", "churn", "json"])]
    conntrack: bool,
    /// How the classifier scales with the number of rules: for each of `--sizes`, a
    /// synthetic rule set and trace (`--profile`, seeded: the same on every run),
    /// our build time, build memory, runtime memory and lookup ns/packet, beside
    /// DPDK rte_acl built and timed in the same process (feature `dpdk`, as root) on
    /// the same rules and keys, whose answers must equal ours. Prints a Markdown
    /// table (`--json`: one object per size); a size rte_acl was not measured at
    /// says "not measured" and why.
    #[arg(long, conflicts_with_all = ["rules", "trace", "matches", "churn", "conntrack"])]
    scaling: bool,
    /// Rule counts for `--scaling`, comma-separated (suffixes k and M: 10k = 10000).
    #[arg(long, value_name = "N,N,...", default_value = "1k,10k,100k,1M",
          value_parser = super::bench_scale::parse_sizes, requires = "scaling")]
    sizes: super::bench_scale::Sizes,
    /// Rule-set shape for `--scaling` (ClassBench-like families, dpu_fw::synth).
    #[arg(long, value_enum, default_value_t = super::bench_scale::ProfileArg::Acl, requires = "scaling")]
    profile: super::bench_scale::ProfileArg,
    /// Trace length for `--scaling` (10% random headers, the rest rule corners).
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000), requires = "scaling")]
    packets: u32,
    /// `--scaling` measures rte_acl only up to this many rules (its build time and
    /// memory grow faster than the rule count); larger sizes say "not measured".
    #[arg(long, value_name = "N", default_value = "100k",
          value_parser = super::bench_scale::parse_count, requires = "scaling")]
    peer_max_rules: usize,
    /// With `--scaling`: fail unless rte_acl was measured at every size (CI: a build
    /// or a machine without a working DPDK must not pass as a skipped peer).
    #[arg(long, requires = "scaling", conflicts_with = "no_peer")]
    require_peer: bool,
    /// Live connections for `--conntrack`.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Expected first matches (`*.match5[.gz]`); when given every lookup is
    /// checked, before and after churn.
    #[arg(long, value_name = "FILE")]
    matches: Option<PathBuf>,
    /// Input format (only ClassBench files today).
    #[arg(long, value_enum, default_value_t = BenchFormat::Classbench)]
    format: BenchFormat,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Delete and re-insert this percentage of the rules, then report
    /// updates per second and the lookup cost after the churn.
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    churn: Option<f64>,
    /// Lookup repetitions (the median is reported).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=1000))]
    reps: u16,
    /// Skip the rte_acl peer even when built with `dpdk`.
    #[arg(long)]
    no_peer: bool,
    /// Also time the classifier after `Classifier::optimize` (RFC tables for IPv4
    /// sets of 9 to 16384 rules whose classes are cheap enough to combine) with this
    /// many MiB for its tables; 0 skips it. The output says why when they are not built.
    #[arg(long, value_name = "MIB", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(0..=4096))]
    optimize_mib: u16,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BenchFormat {
    /// ClassBench filter / trace / match files.
    Classbench,
}

fn parse_pct(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=100.0).contains(&v) && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not a percentage in (0, 100]"))
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let optimize_bytes = (args.optimize_mib > 0).then(|| usize::from(args.optimize_mib) << 20);
    if args.conntrack {
        let text = super::bench_ct::run(&super::bench_ct::Options {
            connections: args.connections,
            reps: usize::from(args.reps).min(5),
        })?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.scaling {
        return super::bench_scale::run(&super::bench_scale::Options {
            sizes: args.sizes.0.clone(),
            profile: args.profile,
            packets: args.packets as usize,
            reps: usize::from(args.reps),
            peer: !args.no_peer,
            peer_max_rules: args.peer_max_rules,
            require_peer: args.require_peer,
            json: args.json,
            #[cfg(feature = "bench-alloc")]
            heap: Some(&crate::ALLOC),
            #[cfg(not(feature = "bench-alloc"))]
            heap: None,
            optimize_bytes,
        });
    }
    let (Some(rules), Some(trace)) = (&args.rules, &args.trace) else {
        anyhow::bail!("--rules and --trace are needed (or --conntrack)");
    };
    let mut opts = BenchOptions::new(rules.clone(), trace.clone());
    opts.matches = args.matches.clone();
    opts.format = match args.format {
        BenchFormat::Classbench => Format::ClassBench,
    };
    opts.churn_pct = args.churn;
    opts.reps = usize::from(args.reps);
    opts.optimize_bytes = optimize_bytes;
    // Exact build memory from the counting allocator when this binary has one.
    #[cfg(feature = "bench-alloc")]
    {
        opts.heap = Some(&crate::ALLOC);
    }
    eprintln!(
        "dpu-fw bench: building and timing the classifier on {} ...",
        rules.display()
    );
    let mut report = bench::run(&opts).context("benchmarking the classifier")?;
    if !args.no_peer {
        report.peer = peer::measure(&opts)?;
    }
    if args.json {
        println!("{}", json(&report));
    } else {
        let text = report.to_string();
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
    let wrong = report.mismatched();
    if !wrong.is_empty() {
        let parts: Vec<String> = wrong
            .iter()
            .map(|(what, n)| format!("{what}: {n} trace lines"))
            .collect();
        eprintln!(
            "error: lookups disagree with the match file ({}; a classifier bug: keep the \
             rule, trace and match files to reproduce it)",
            parts.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The report's JSON, with the peer also under `rte_acl` (and the ratios)
/// when it was measured.
fn json(report: &BenchReport) -> String {
    let base = report.to_json();
    let Some(p) = &report.peer else {
        return base;
    };
    // Against the optimized classifier when its tables were built.
    let optimized = report
        .optimized
        .as_ref()
        .filter(|o| o.built)
        .map_or("null".to_owned(), |o| {
            (p.lookup_ns_per_packet / o.lookup_ns_per_packet.max(1e-9)).to_string()
        });
    // The same from the alternating rounds (null when not measured or not built).
    let num = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or("null".to_owned(), |v| v.to_string())
    };
    let paired = num(p.paired.as_ref().map(|q| q.speedup));
    let paired_optimized = num(p.paired.as_ref().and_then(|q| q.optimized_speedup));
    let extra = format!(
        ",\"rte_acl\":{{\"name\":\"{}\",\"build_s\":{},\"memory_bytes\":{},\"lookup_ns_per_packet\":{},\
         \"lookup_speedup\":{},\"build_speedup\":{},\"optimized_lookup_speedup\":{optimized},\
         \"paired_lookup_speedup\":{paired},\"paired_optimized_lookup_speedup\":{paired_optimized}}}",
        p.name.replace('"', "'"),
        p.build_s,
        p.memory_bytes,
        p.lookup_ns_per_packet,
        p.lookup_ns_per_packet / report.lookup_ns_per_packet,
        p.build_s / report.build_s.max(1e-9),
    );
    match base.strip_suffix('}') {
        Some(head) => format!("{head}{extra}}}"),
        None => base,
    }
}

#[cfg(not(feature = "dpdk"))]
mod peer {
    use dpu_fw::bench::{BenchOptions, PeerReport};

    /// Without DPDK there is no peer; say so once.
    pub(super) fn measure(_: &BenchOptions) -> anyhow::Result<Option<PeerReport>> {
        eprintln!(
            "note: built without the `dpdk` feature, so rte_acl is not measured \
             (cargo build --release --features dpdk)"
        );
        Ok(None)
    }
}

#[cfg(feature = "dpdk")]
pub(super) mod peer {
    use std::time::{Duration, Instant};

    use anyhow::Context;
    use doca_flow::classifier::{Classifier, Key};
    use doca_flow::dpdk::{AclAlgorithm, AclContext, AclIpv4Key, AclIpv4Rule, Eal};
    use dpu_fw::bench::{BenchOptions, PairedReport, PeerReport, median_ratio};
    use dpu_fw::classbench;

    /// Resident memory of this process in bytes (Linux `/proc/self/statm`).
    fn rss_bytes() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }

    /// Starts the EAL `rte_acl` runs on (no hugepages, no devices; needs root).
    pub(in crate::cli) fn start_eal() -> Result<Eal, doca_flow::dpdk::DpdkError> {
        Eal::init([
            "dpu-fw-bench",
            "--no-huge",
            "-m",
            "8192",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            "--log-level=lib.eal:error",
            "--log-level=lib.acl:error",
            // rte_acl's 32-flow AVX-512 method needs 512-bit SIMD allowed (DPDK's
            // default stops at 256 bits); a CPU without AVX-512 refuses both of its
            // AVX-512 methods either way.
            "--force-max-simd-bitwidth=512",
        ])
    }

    /// One `rte_acl` measurement: the figures, the peak extra memory during the
    /// build and the
    /// context (kept alive by a caller that measures several sizes, so a later
    /// build's resident-memory growth is not hidden by freed pages it reuses).
    pub(in crate::cli) struct AclRun {
        pub report: PeerReport,
        /// The fastest method (the context is left on the last one tried).
        pub best: AclAlgorithm,
        pub build_peak_bytes: Option<u64>,
        pub ctx: AclContext,
    }

    /// `rte_acl` on `rules` and `keys`: build time, memory (growth of resident
    /// memory across the build: rte_acl does not report its context size through
    /// its API), the peak growth during the build (`VmHWM`, reset through
    /// `/proc/self/clear_refs`), and the median lookup cost of the best of its
    /// methods the CPU accepts (scalar, SSE, AVX2, the two AVX-512 ones, NEON on Arm).
    /// `check` sees each method's answers first.
    pub(in crate::cli) fn measure_acl(
        eal: &Eal,
        rules: &[AclIpv4Rule],
        keys: &[AclIpv4Key],
        opts: &BenchOptions,
        mut check: impl FnMut(&str, &[u32]) -> anyhow::Result<()>,
    ) -> anyhow::Result<AclRun> {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = rss_bytes().unwrap_or(0);
        let t = Instant::now();
        let mut ctx = AclContext::build(eal, rules).context("building rte_acl")?;
        let build_s = t.elapsed().as_secs_f64();
        let memory_bytes = rss_bytes().unwrap_or(0).saturating_sub(before);
        let build_peak_bytes = match (reset, dpu_fw::bench::proc_status_kib("VmHWM:")) {
            (true, Some(h)) => Some((h * 1024).saturating_sub(before)),
            _ => None,
        };

        let mut out = vec![0u32; keys.len()];
        let mut best: Option<(String, f64, AclAlgorithm)> = None;
        let mut methods = Vec::new();
        for (name, alg) in [
            ("scalar", AclAlgorithm::Scalar),
            ("sse", AclAlgorithm::Sse),
            ("avx2", AclAlgorithm::Avx2),
            ("avx512x16", AclAlgorithm::Avx512x16),
            ("avx512x32", AclAlgorithm::Avx512x32),
            ("neon", AclAlgorithm::Neon),
        ] {
            if ctx.set_algorithm(alg).is_err() {
                continue;
            }
            ctx.classify(keys, &mut out).context("rte_acl classify")?;
            check(name, &out)?;
            let ns = median_ns(
                opts,
                || {
                    // Errors were ruled out by the first call on the same input.
                    let _ = ctx.classify(keys, &mut out);
                },
                keys.len(),
            );
            methods.push((name.to_string(), ns));
            if best.as_ref().is_none_or(|(_, b, _)| ns < *b) {
                best = Some((name.to_string(), ns, alg));
            }
        }
        let Some((alg, lookup_ns_per_packet, best)) = best else {
            anyhow::bail!("rte_acl accepted none of its classify methods on this CPU");
        };
        Ok(AclRun {
            report: PeerReport {
                name: format!("rte_acl {alg}"),
                build_s,
                memory_bytes,
                lookup_ns_per_packet,
                methods,
                paired: None,
            },
            best,
            build_peak_bytes,
            ctx,
        })
    }

    /// rte_acl on the same rules and trace, in this process (see
    /// [`measure_acl`]). Its answers are checked against the match file when one
    /// is given.
    pub(super) fn measure(opts: &BenchOptions) -> anyhow::Result<Option<PeerReport>> {
        let eal = match start_eal() {
            Ok(e) => e,
            Err(e) => {
                eprintln!(
                    "warning: rte_acl not measured: the DPDK EAL did not start ({e}); \
                     run as root, or pass --no-peer"
                );
                return Ok(None);
            }
        };
        let rules = classbench::read_rules(&opts.rules)?;
        let trace = classbench::read_trace(&opts.trace)?;
        let want = match &opts.matches {
            Some(m) => Some(classbench::read_matches(m)?),
            None => None,
        };
        let acl_rules: Vec<AclIpv4Rule> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| AclIpv4Rule {
                src: (r.src.addr(), r.src.prefix_len()),
                dst: (r.dst.addr(), r.dst.prefix_len()),
                src_port: (r.src_port.lo(), r.src_port.hi()),
                dst_port: (r.dst_port.lo(), r.dst_port.hi()),
                proto: (r.proto, r.proto_mask),
                // First rule wins: rte_acl prefers higher priorities.
                priority: 536_870_911 - i as i32,
                userdata: i as u32 + 1,
            })
            .collect();
        let keys: Vec<AclIpv4Key> = trace
            .iter()
            .map(|h| AclIpv4Key::new(h.src, h.dst, h.src_port, h.dst_port, h.proto))
            .collect();
        eprintln!(
            "dpu-fw bench: building rte_acl on {} rules ...",
            rules.len()
        );
        let mut run = measure_acl(&eal, &acl_rules, &keys, opts, |name, out| {
            if let Some(want) = &want {
                let bad = out
                    .iter()
                    .zip(want)
                    .filter(|&(got, w)| got.checked_sub(1) != *w)
                    .count();
                if bad > 0 {
                    anyhow::bail!(
                        "rte_acl ({name}) disagrees with the match file on {bad} packets"
                    );
                }
            }
            Ok(())
        })?;
        run.ctx
            .set_algorithm(run.best)
            .context("rte_acl: its fastest method again")?;
        run.report.paired = Some(paired(opts, &rules, &trace, &run.ctx, &keys)?);
        Ok(Some(run.report))
    }

    /// rte_acl's fastest method (`ctx` set to it) and a fresh build of our classifier
    /// (and its RFC tables when `opts` asks for them and they build) in alternating
    /// rounds: see [`PairedReport`].
    fn paired(
        opts: &BenchOptions,
        rules: &[classbench::CbRule],
        trace: &[classbench::CbHeader],
        ctx: &AclContext,
        acl_keys: &[AclIpv4Key],
    ) -> anyhow::Result<PairedReport> {
        let trees = Classifier::build(&classbench::to_rules(rules))
            .context("building the classifier for the paired rounds")?;
        let optimized = opts.optimize_bytes.and_then(|budget| {
            let mut o = trees.clone();
            o.optimize(budget).then_some(o)
        });
        let keys: Vec<Key<u32>> = trace.iter().map(classbench::CbHeader::to_key).collect();
        Ok(paired_rounds(
            opts,
            &trees,
            optimized.as_ref(),
            &keys,
            ctx,
            acl_keys,
        ))
    }

    /// `trees` (and `optimized`, when given) against rte_acl's `ctx` (set to the
    /// method to compare with) on the same keys, in alternating rounds: see
    /// [`PairedReport`].
    pub(in crate::cli) fn paired_rounds(
        opts: &BenchOptions,
        trees: &Classifier<u32>,
        optimized: Option<&Classifier<u32>>,
        keys: &[Key<u32>],
        ctx: &AclContext,
        acl_keys: &[AclIpv4Key],
    ) -> PairedReport {
        let mut acl_out = vec![0u32; acl_keys.len()];
        let mut out = vec![None; keys.len()];
        let burst = opts.burst.max(1);
        // Short turns, many rounds: the VM's speed moves within a second, and a round
        // should see one speed.
        let rounds = 6 * opts.reps.max(1) + 1;
        let turn = (opts.min_rep_time / 3).max(Duration::from_millis(1));
        eprintln!("dpu-fw bench: {rounds} alternating rounds against rte_acl ...");
        let (mut peer, mut ours, mut opt) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds {
            let mut lookups = |c: &Classifier<u32>| {
                once_ns(turn, keys.len(), || {
                    for (k, o) in keys.chunks(burst).zip(out.chunks_mut(burst)) {
                        c.classify_batch(k, o);
                    }
                })
            };
            let mut acl = || {
                once_ns(turn, acl_keys.len(), || {
                    // Errors were ruled out by the first call on the same input.
                    let _ = ctx.classify(acl_keys, &mut acl_out);
                })
            };
            // The order turns every round: neither side always runs right after the
            // other's cache pollution or in the same part of a drifting second.
            if r % 2 == 0 {
                peer.push(acl());
                ours.push(lookups(trees));
                if let Some(o) = optimized {
                    opt.push(lookups(o));
                }
            } else {
                if let Some(o) = optimized {
                    opt.push(lookups(o));
                }
                ours.push(lookups(trees));
                peer.push(acl());
            }
        }
        PairedReport {
            rounds,
            speedup: median_ratio(&peer, &ours).unwrap_or(f64::NAN),
            optimized_speedup: optimized.and_then(|_| median_ratio(&peer, &opt)),
        }
    }

    /// Wall-clock ns per packet of one warm-up pass and then passes for at least
    /// `turn`.
    fn once_ns(turn: Duration, packets: usize, mut pass: impl FnMut()) -> f64 {
        pass();
        let t0 = Instant::now();
        let mut passes = 0u64;
        while passes == 0 || t0.elapsed() < turn {
            pass();
            passes += 1;
        }
        t0.elapsed().as_nanos() as f64 / (passes as f64 * packets.max(1) as f64)
    }

    /// Median wall-clock ns per packet over `opts.reps` repetitions of at
    /// least `opts.min_rep_time` (the classifier's figure is measured the
    /// same way).
    fn median_ns(opts: &BenchOptions, mut pass: impl FnMut(), packets: usize) -> f64 {
        let mut samples = Vec::new();
        for _ in 0..opts.reps.max(1) {
            let t0 = Instant::now();
            let mut passes = 0u64;
            while passes == 0 || t0.elapsed() < opts.min_rep_time.max(Duration::from_millis(1)) {
                pass();
                passes += 1;
            }
            let wall = t0.elapsed().as_nanos() as f64;
            samples.push(wall / (passes as f64 * packets.max(1) as f64));
        }
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    }
}
