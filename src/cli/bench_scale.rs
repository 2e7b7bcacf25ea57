//! `dpu-fw bench --scaling`: how the classifier scales with the number of rules,
//! beside DPDK `rte_acl` measured in the same process (feature `dpdk`).
//!
//! For each size: a synthetic IPv4 rule set ([`dpu_fw::synth::rules_v4`]) and a
//! trace over it ([`dpu_fw::synth::trace_v4`]: 10% random headers, the rest rule
//! corners), both seeded, so every run sees the same inputs. Ours: the build time
//! (median of 3 builds, 1 at a million rules and above), the extra memory during
//! the build (the counting allocator with feature `bench-alloc`, else the growth
//! of peak RSS), the runtime footprint (`Classifier::memory_bytes`) and the median
//! lookup ns/packet (bursts of 256, `--reps` repetitions of at least 150 ms), the
//! method of `dpu-fw bench`. `rte_acl` on the same rules and keys: build time,
//! peak and resident memory growth across its build, and its best method's median
//! ns/packet; every answer it gives must equal ours (a mismatch fails the run).
//! With `--optimize-mib` above 0 (default 16, as for ClassBench sets), a copy of
//! our classifier is also optimized ([`Classifier::optimize`]: RFC tables, what
//! `dpu-fw run` uses for an ACL pipe when they build) and timed the same way, its
//! answers checked against the trees'; the table says why when it was not built.
//! Sizes are measured in the order given; `rte_acl` contexts are kept until the
//! end so a later build's memory growth is not hidden by an earlier context's
//! pages. Its resident growth is still a lower bound: the temporary allocations
//! of an earlier build, freed into the EAL heap, are reused without new pages
//! (rte_acl reports no context size; the heap's own statistics are not bound).

use std::io::Write;
use std::process::ExitCode;

use doca_flow::classifier::{Classifier, Key};
use dpu_fw::bench::{self, BenchOptions, BuildMemoryMethod, HeapMeter};
use dpu_fw::synth::{self, Profile};

/// The rule-set family (`--profile`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ProfileArg {
    /// Access-control lists: specific addresses, exact destination ports.
    Acl,
    /// Firewalls: many wildcard addresses, port ranges.
    Fw,
    /// IP chains: a mix of everything.
    Ipc,
}

impl ProfileArg {
    fn profile(self) -> Profile {
        match self {
            ProfileArg::Acl => Profile::Acl,
            ProfileArg::Fw => Profile::Fw,
            ProfileArg::Ipc => Profile::Ipc,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ProfileArg::Acl => "acl",
            ProfileArg::Fw => "fw",
            ProfileArg::Ipc => "ipc",
        }
    }
}

/// Largest size `--sizes` accepts (the rules alone take ~40 bytes each, the
/// classifier and rte_acl many times that).
const MAX_RULES: usize = 10_000_000;

/// A rule count: digits with an optional `k` (thousand) or `M` (million) suffix.
pub(crate) fn parse_count(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, mult) = match t.strip_suffix(['k', 'K']) {
        Some(d) => (d, 1_000),
        None => match t.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (t, 1),
        },
    };
    let n = digits
        .parse::<usize>()
        .ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a rule count (e.g. 1000, 10k, 1M)"))?;
    if n == 0 || n > MAX_RULES {
        return Err(format!("{s:?}: a rule count must be in 1..={MAX_RULES}"));
    }
    Ok(n)
}

/// `--sizes`: the rule counts, in the order given.
#[derive(Debug, Clone)]
pub(crate) struct Sizes(pub Vec<usize>);

/// `--sizes`: comma-separated rule counts, each once.
pub(crate) fn parse_sizes(s: &str) -> Result<Sizes, String> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let n = parse_count(part)?;
        if v.contains(&n) {
            return Err(format!("{n} rules is given twice"));
        }
        v.push(n);
    }
    Ok(Sizes(v))
}

/// What to measure.
#[derive(Debug)]
pub(crate) struct Options {
    pub sizes: Vec<usize>,
    pub profile: ProfileArg,
    pub packets: usize,
    pub reps: usize,
    pub peer: bool,
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    pub peer_max_rules: usize,
    pub require_peer: bool,
    pub json: bool,
    pub heap: Option<&'static dyn HeapMeter>,
    /// The byte budget for [`Classifier::optimize`]'s tables (`None`: not tried).
    pub optimize_bytes: Option<usize>,
}

/// The seeds of the synthetic inputs (fixed: every run measures the same rules).
const RULE_SEED: u64 = 1;
const TRACE_SEED: u64 = 2;
/// Share of the trace that is random headers (mostly misses).
const MISS_SHARE: f64 = 0.1;

/// Our figures at one size.
struct Ours {
    build_s: f64,
    build_mem: Option<u64>,
    method: BuildMemoryMethod,
    memory: u64,
    ns: f64,
    /// Its answers, which rte_acl's are checked against, and the classifier
    /// measured, for the rounds paired with rte_acl (neither is read without DPDK).
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    out: Vec<Option<u32>>,
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    classifier: Classifier<u32>,
    optimized: Optimized,
}

/// Our classifier after [`Classifier::optimize`] at one size.
enum Optimized {
    /// `--optimize-mib 0`.
    NotTried,
    /// `optimize` declined, after this many seconds, for this reason.
    NotBuilt { optimize_s: f64, why: String },
    Built {
        optimize_s: f64,
        memory: u64,
        ns: f64,
        #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
        classifier: Classifier<u32>,
    },
}

impl Optimized {
    /// The optimized classifier, when it was built.
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    fn classifier(&self) -> Option<&Classifier<u32>> {
        match self {
            Optimized::Built { classifier, .. } => Some(classifier),
            _ => None,
        }
    }
}

/// rte_acl's figures at one size, or why there are none.
enum Peer {
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    Measured {
        name: String,
        build_s: f64,
        build_peak: Option<u64>,
        memory: u64,
        ns: f64,
        /// Median of per-round ratios rte_acl ns / ours in alternating rounds
        /// ([`dpu_fw::bench::PairedReport`]).
        paired: f64,
        /// The same against the optimized classifier, when it was built.
        paired_optimized: Option<f64>,
        mismatches: u64,
    },
    NotMeasured(String),
}

fn mib(b: u64) -> f64 {
    b as f64 / 1_048_576.0
}

fn measure_ours(
    rules: &[doca_flow::classifier::Rule<u32>],
    keys: &[Key<u32>],
    o: &Options,
    bo: &BenchOptions,
) -> anyhow::Result<Ours> {
    let builds = if rules.len() >= 1_000_000 { 1 } else { 3 };
    let (mut c, s, build_mem, method) = bench::measure_build(rules, o.heap)?;
    let mut times = vec![s];
    for _ in 1..builds {
        drop(c);
        let (c2, s, _, _) = bench::measure_build(rules, o.heap)?;
        c = c2;
        times.push(s);
    }
    times.sort_by(f64::total_cmp);
    let (mut lookups, out) = bench::time_lookups(&c, keys, bo.burst, bo.reps, bo.min_rep_time);
    let optimized = match o.optimize_bytes {
        None => Optimized::NotTried,
        Some(budget) => optimize(&c, keys, &out, budget, bo)?,
    };
    Ok(Ours {
        build_s: times[times.len() / 2],
        build_mem,
        method,
        memory: c.memory_bytes() as u64,
        ns: bench::median(&mut lookups.wall),
        out,
        classifier: c,
        optimized,
    })
}

/// A copy of `trees` optimized within `budget` bytes and timed on `keys`; its
/// answers must be the trees' (`want`), or the run fails.
fn optimize(
    trees: &Classifier<u32>,
    keys: &[Key<u32>],
    want: &[Option<u32>],
    budget: usize,
    bo: &BenchOptions,
) -> anyhow::Result<Optimized> {
    eprintln!(
        "dpu-fw bench --scaling: {} rules: optimizing a copy (RFC tables, at most {:.0} MiB) ...",
        trees.len(),
        budget as f64 / 1_048_576.0
    );
    let (c, optimize_s, outcome) = bench::optimized_copy(trees, budget);
    if let Err(e) = outcome {
        return Ok(Optimized::NotBuilt {
            optimize_s,
            why: e.to_string(),
        });
    }
    let (mut lookups, out) = bench::time_lookups(&c, keys, bo.burst, bo.reps, bo.min_rep_time);
    let bad = out.iter().zip(want).filter(|(a, b)| a != b).count();
    if bad > 0 {
        anyhow::bail!(
            "the optimized classifier and the trees disagree on {bad} of {} lookups at {} rules",
            keys.len(),
            trees.len()
        );
    }
    Ok(Optimized::Built {
        optimize_s,
        memory: c.memory_bytes() as u64,
        ns: bench::median(&mut lookups.wall),
        classifier: c,
    })
}

fn row_md(n: usize, ours: &Ours, peer: &Peer) -> String {
    let build_mem = ours
        .build_mem
        .map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", mib(b)));
    let opt = match &ours.optimized {
        Optimized::NotTried => "not tried".to_owned(),
        Optimized::NotBuilt { .. } => "not built".to_owned(),
        Optimized::Built { ns, memory, .. } => format!("{ns:.1} ({:.2} MiB)", mib(*memory)),
    };
    let head = format!(
        "| {n} | {:.1} | {:.4} | {build_mem} | {:.2} | {opt} |",
        ours.ns,
        ours.build_s,
        mib(ours.memory)
    );
    match peer {
        Peer::Measured {
            name,
            build_s,
            build_peak,
            memory,
            ns,
            paired,
            paired_optimized,
            mismatches,
        } => format!(
            "{head} {ns:.1} ({}) | {build_s:.3} | {} | {:.2} | {paired:.2}x | {} | {:.0}x | {mismatches} |",
            name.trim_start_matches("rte_acl "),
            build_peak.map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", mib(b))),
            mib(*memory),
            paired_optimized.map_or_else(String::new, |p| format!("{p:.2}x")),
            build_s / ours.build_s.max(1e-9),
        ),
        Peer::NotMeasured(_) => {
            format!("{head} not measured | | | | | | | |")
        }
    }
}

fn row_json(n: usize, o: &Options, packets: usize, ours: &Ours, peer: &Peer) -> String {
    let method = match ours.method {
        BuildMemoryMethod::HeapPeak => "heap_peak",
        BuildMemoryMethod::RssPeak => "rss_peak",
        _ => "unavailable",
    };
    let opt = |v: Option<u64>| v.map_or_else(|| "null".to_owned(), |v| v.to_string());
    let num = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or_else(|| "null".to_owned(), |v| v.to_string())
    };
    let peer = match peer {
        Peer::Measured {
            name,
            build_s,
            build_peak,
            memory,
            ns,
            paired,
            paired_optimized,
            mismatches,
        } => format!(
            "\"rte_acl\":{{\"name\":\"{name}\",\"build_s\":{build_s},\"build_peak_bytes\":{},\
             \"memory_bytes\":{memory},\"lookup_ns_per_packet\":{ns},\"lookup_speedup\":{},\
             \"paired_lookup_speedup\":{},\"paired_optimized_lookup_speedup\":{},\
             \"build_speedup\":{},\"mismatches\":{mismatches}}}",
            opt(*build_peak),
            ns / ours.ns,
            num(Some(*paired)),
            num(*paired_optimized),
            build_s / ours.build_s.max(1e-9),
        ),
        Peer::NotMeasured(why) => format!(
            "\"rte_acl\":null,\"rte_acl_not_measured\":\"{}\"",
            why.replace('\\', "\\\\").replace('"', "'")
        ),
    };
    let optimized = match &ours.optimized {
        Optimized::NotTried => "null".to_owned(),
        Optimized::NotBuilt { optimize_s, why } => format!(
            "{{\"built\":false,\"not_built\":\"{}\",\"optimize_s\":{optimize_s}}}",
            why.replace('\\', "\\\\").replace('"', "'")
        ),
        Optimized::Built {
            optimize_s,
            memory,
            ns,
            ..
        } => format!(
            "{{\"built\":true,\"not_built\":null,\"optimize_s\":{optimize_s},\
             \"memory_bytes\":{memory},\"lookup_ns_per_packet\":{ns}}}"
        ),
    };
    format!(
        "{{\"profile\":\"{}\",\"rules\":{n},\"packets\":{packets},\"build_s\":{},\
         \"build_memory_bytes\":{},\"build_memory_method\":\"{method}\",\"memory_bytes\":{},\
         \"lookup_ns_per_packet\":{},\"optimized\":{optimized},{peer}}}",
        o.profile.name(),
        ours.build_s,
        opt(ours.build_mem),
        ours.memory,
        ours.ns,
    )
}

/// `dpu-fw bench --scaling`.
pub(crate) fn run(o: &Options) -> anyhow::Result<ExitCode> {
    let mut bo = BenchOptions::new(Default::default(), Default::default());
    bo.reps = o.reps;
    let mut peer = peer::Peer::new(o);
    let mut stdout = std::io::stdout();
    if !o.json {
        println!(
            "classifier scaling: synthetic {} rules (dpu_fw::synth, seed {RULE_SEED}), \
             {} trace headers ({}% random), one core",
            o.profile.name(),
            o.packets,
            MISS_SHARE * 100.0
        );
        println!(
            "| rules | ours ns/pkt | ours build s | ours build MiB | ours MiB | optimized ns/pkt (MiB) \
             | rte_acl ns/pkt | rte_acl build s | rte_acl build MiB | rte_acl MiB | lookup speedup (paired) \
             | optimized speedup (paired) | build speedup | mismatches vs rte_acl |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = stdout.flush();
    }
    let mut notes = Vec::new();
    let mut not_optimized = Vec::new();
    let mut bad = 0u64;
    for &n in &o.sizes {
        eprintln!("dpu-fw bench --scaling: {n} rules: generating ...");
        let rules = synth::rules_v4(o.profile.profile(), n, RULE_SEED);
        let keys = synth::trace_v4(&rules, o.packets, MISS_SHARE, TRACE_SEED);
        eprintln!("dpu-fw bench --scaling: {n} rules: building and timing ours ...");
        let ours = measure_ours(&rules, &keys, o, &bo)?;
        let p = peer.measure(&rules, &keys, &ours, &bo)?;
        if let Peer::Measured { mismatches, .. } = &p {
            bad += mismatches;
        }
        if o.json {
            println!("{}", row_json(n, o, keys.len(), &ours, &p));
        } else {
            println!("{}", row_md(n, &ours, &p));
        }
        let _ = stdout.flush();
        if let Peer::NotMeasured(why) = p {
            notes.push((n, why));
        }
        if let Optimized::NotBuilt { optimize_s, why } = &ours.optimized {
            not_optimized.push((n, *optimize_s, why.clone()));
        }
    }
    for (n, s, why) in &not_optimized {
        if !o.json {
            println!("optimized at {n} rules: not built after {s:.3} s: {why}");
        }
    }
    for (n, why) in &notes {
        // On stdout with the table, so a reader of the table sees it.
        if !o.json {
            println!("rte_acl at {n} rules: not measured: {why}");
        }
    }
    if !o.json {
        println!(
            "(ours: build = median of 3 builds (1 at >= 1M rules), build MiB = extra memory \
             during a build ({}), MiB = runtime footprint; rte_acl: build MiB = peak RSS growth, \
             MiB = resident growth across its build, a lower bound (its EAL heap reuses pages an \
             earlier size's build freed, so it can read 0); lookups: median of {} repetitions, \
             rte_acl's best of scalar/sse/avx2/avx512x16/avx512x32/neon, as the CPU allows; \
             optimized = a copy after Classifier::optimize (RFC tables, {}), its answers checked \
             against the trees'; lookup speedup = median of per-round ratios rte_acl / ours over \
             alternating rounds of that method and ours)",
            if o.heap.is_some() {
                "heap peak"
            } else {
                "peak RSS growth"
            },
            o.reps,
            o.optimize_bytes.map_or_else(
                || "not tried: --optimize-mib 0".to_owned(),
                |b| format!("at most {:.0} MiB", b as f64 / 1_048_576.0)
            ),
        );
    }
    if bad > 0 {
        anyhow::bail!("rte_acl and our classifier disagree on {bad} lookups (see the table)");
    }
    if let (true, Some((n, why))) = (o.require_peer, notes.first()) {
        anyhow::bail!("--require-peer: rte_acl was not measured at {n} rules: {why}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "dpdk"))]
mod peer {
    use super::{Options, Peer as Figures};
    use doca_flow::classifier::{Key, Rule};
    use dpu_fw::bench::BenchOptions;

    /// Without DPDK there is no rte_acl to measure.
    pub(super) struct Peer {
        enabled: bool,
    }

    impl Peer {
        pub(super) fn new(o: &Options) -> Peer {
            Peer { enabled: o.peer }
        }

        pub(super) fn measure(
            &mut self,
            _: &[Rule<u32>],
            _: &[Key<u32>],
            _: &super::Ours,
            _: &BenchOptions,
        ) -> anyhow::Result<Figures> {
            Ok(Figures::NotMeasured(if self.enabled {
                "this binary was built without the `dpdk` feature \
                 (cargo build --release --features dpdk,bench-alloc)"
                    .to_owned()
            } else {
                "--no-peer".to_owned()
            }))
        }
    }
}

#[cfg(feature = "dpdk")]
mod peer {
    use super::{Options, Peer as Figures, mib};
    use crate::cli::bench::peer::{measure_acl, paired_rounds, start_eal};
    use doca_flow::classifier::{Key, Rule};
    use doca_flow::dpdk::{AclContext, AclIpv4Key, AclIpv4Rule, Eal};
    use dpu_fw::bench::BenchOptions;

    /// rte_acl across the sizes: one EAL, the contexts kept until the end.
    pub(super) struct Peer {
        eal: Option<Result<Eal, String>>,
        enabled: bool,
        max_rules: usize,
        kept: Vec<AclContext>,
        /// The largest size measured: (rules, build s, peak build bytes).
        largest: Option<(usize, f64, Option<u64>)>,
    }

    impl Peer {
        pub(super) fn new(o: &Options) -> Peer {
            Peer {
                eal: None,
                enabled: o.peer,
                max_rules: o.peer_max_rules,
                kept: Vec::new(),
                largest: None,
            }
        }

        pub(super) fn measure(
            &mut self,
            rules: &[Rule<u32>],
            keys: &[Key<u32>],
            ours: &super::Ours,
            bo: &BenchOptions,
        ) -> anyhow::Result<Figures> {
            let n = rules.len();
            if !self.enabled {
                return Ok(Figures::NotMeasured("--no-peer".to_owned()));
            }
            if n > self.max_rules {
                let seen = self.largest.map_or_else(String::new, |(m, s, peak)| {
                    format!(
                        "; at {m} rules it took {s:.2} s{} to build",
                        peak.map_or_else(String::new, |p| format!(
                            " and {:.0} MiB at its peak",
                            mib(p)
                        ))
                    )
                });
                return Ok(Figures::NotMeasured(format!(
                    "{n} rules is above --peer-max-rules {} (rte_acl's build time and memory \
                     grow faster than the rule count{seen}); pass --peer-max-rules {n} to try",
                    self.max_rules
                )));
            }
            let eal = match self
                .eal
                .get_or_insert_with(|| start_eal().map_err(|e| e.to_string()))
            {
                Ok(eal) => eal.clone(),
                Err(e) => {
                    return Ok(Figures::NotMeasured(format!(
                        "the DPDK EAL did not start ({e}); run as root"
                    )));
                }
            };
            let acl_rules: Vec<AclIpv4Rule> = rules
                .iter()
                .map(|r| AclIpv4Rule {
                    src: (r.src.addr(), r.src.prefix_len()),
                    dst: (r.dst.addr(), r.dst.prefix_len()),
                    src_port: (r.src_port.lo(), r.src_port.hi()),
                    dst_port: (r.dst_port.lo(), r.dst_port.hi()),
                    proto: (r.proto, r.proto_mask),
                    // The lowest priority value wins in ours, the highest in rte_acl.
                    priority: 536_870_911 - r.priority as i32,
                    userdata: r.id + 1,
                })
                .collect();
            let acl_keys: Vec<AclIpv4Key> = keys
                .iter()
                .map(|k| AclIpv4Key::new(k.src, k.dst, k.src_port, k.dst_port, k.proto))
                .collect();
            eprintln!("dpu-fw bench --scaling: {n} rules: building and timing rte_acl ...");
            let mut mismatches = 0u64;
            let mut run = match measure_acl(&eal, &acl_rules, &acl_keys, bo, |_, out| {
                let bad = out
                    .iter()
                    .zip(&ours.out)
                    .filter(|&(got, want)| got.checked_sub(1) != *want)
                    .count() as u64;
                mismatches = mismatches.max(bad);
                Ok(())
            }) {
                Ok(run) => run,
                Err(e) => {
                    return Ok(Figures::NotMeasured(format!(
                        "rte_acl failed: {} (errno 12 is out of memory: its build takes \
                         temporary memory from the C heap, its context from the EAL's -m 8192 MiB)",
                        crate::cli::Causes(&*e)
                    )));
                }
            };
            self.largest = Some((n, run.report.build_s, run.build_peak_bytes));
            // Like every other rte_acl failure here, this one marks the size, not the run.
            if let Err(e) = run.ctx.set_algorithm(run.best) {
                return Ok(Figures::NotMeasured(format!(
                    "rte_acl refused its fastest method ({}) again for the paired rounds: {e}",
                    run.report.name
                )));
            }
            eprintln!("dpu-fw bench --scaling: {n} rules: alternating rounds against rte_acl ...");
            let paired = paired_rounds(
                bo,
                &ours.classifier,
                ours.optimized.classifier(),
                keys,
                &run.ctx,
                &acl_keys,
            );
            let f = Figures::Measured {
                name: run.report.name,
                build_s: run.report.build_s,
                build_peak: run.build_peak_bytes,
                memory: run.report.memory_bytes,
                ns: run.report.lookup_ns_per_packet,
                paired: paired.speedup,
                paired_optimized: paired.optimized_speedup,
                mismatches,
            };
            self.kept.push(run.ctx);
            Ok(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_sizes("1k,10k,100000,1M").unwrap().0,
            vec![1_000, 10_000, 100_000, 1_000_000]
        );
        assert!(
            parse_sizes("1k,abc")
                .unwrap_err()
                .contains("not a rule count")
        );
        assert!(parse_sizes("0").unwrap_err().contains("1..="));
        assert!(parse_sizes("20M").unwrap_err().contains("1..="));
        assert!(parse_sizes("1k,1000").unwrap_err().contains("twice"));
        assert!(parse_sizes("").is_err());
    }
}
