//! The library side of `dpu-fw bench`: build the classifier from a rule
//! file, time lookups over a trace on one core, optionally churn rules, and
//! check results against a match file.
//!
//! Method (documented so numbers can be compared):
//!
//! * **build_s**: wall time of [`Classifier::build`] (the rule file is
//!   parsed before the clock starts), median of `build_reps` builds.
//! * **build memory**: if the caller gave a [`HeapMeter`] (the `dpu-fw`
//!   binary does when built with feature `bench-alloc`, from its counting
//!   global allocator), the peak of live heap bytes during one build minus
//!   the live bytes before it (exact). Otherwise the growth of the process'
//!   peak RSS: `/proc/self/clear_refs` is reset (`5`), then
//!   `VmHWM - VmRSS(before)` after the build (Linux only; page-granular and
//!   an upper bound, since freed-then-reused memory is not double counted
//!   but allocator caching is). The report says which method was used.
//! * **memory_bytes**: [`Classifier::memory_bytes`], the runtime footprint.
//! * **lookup**: the whole trace classified with
//!   [`Classifier::classify_batch`] in bursts of `burst` keys; one
//!   repetition is enough passes over the trace to last at least
//!   `min_rep_time`; `reps` repetitions; the median ns/packet is reported
//!   (the machine is shared, medians resist noise).
//!   The median by thread CPU time (`/proc/thread-self/schedstat`) is
//!   reported beside it, since the wall clock also counts time the thread
//!   waited for a CPU on a shared machine.
//! * **churn**: `churn_pct`% of the rules, chosen with a seeded PRNG, are
//!   removed and re-inserted one at a time (2 updates each); updates/s is
//!   the number of updates over the wall time, for the first pass after the
//!   build and (sustained) over that pass and repeats of it until the churn
//!   has run `min_rep_time`; the lookup measurement is then repeated on the
//!   churned classifier and the results re-verified.
//!
//! A peer (DPDK `rte_acl`, feature `dpdk`) can be measured by the caller and
//! attached as [`BenchReport::peer`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use doca_flow::classifier::{Classifier, ClassifierError, Key, NotOptimized, Rule};

use crate::classbench::{self, ClassBenchError};
use crate::synth::SplitMix64;

/// Input file format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// ClassBench filter / trace / match files (plain or gzip).
    #[default]
    ClassBench,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Rule file.
    pub rules: PathBuf,
    /// Trace file.
    pub trace: PathBuf,
    /// Expected first-match file (`*.match5[.gz]`); results are verified
    /// when given.
    pub matches: Option<PathBuf>,
    /// Input format.
    pub format: Format,
    /// Percentage of rules to delete and re-insert (`None`: no churn).
    pub churn_pct: Option<f64>,
    /// Lookup repetitions (the median is reported).
    pub reps: usize,
    /// Minimum duration of one repetition.
    pub min_rep_time: Duration,
    /// Builds to time (the median is reported).
    pub build_reps: usize,
    /// Burst size for `classify_batch`.
    pub burst: usize,
    /// PRNG seed for churn.
    pub seed: u64,
    /// Also measure the classifier after [`Classifier::optimize`] with this byte
    /// budget (`None`: not measured).
    pub optimize_bytes: Option<usize>,
    /// Exact heap figures for the build-memory measurement, from the process'
    /// global allocator (`None`: the peak RSS is read instead).
    pub heap: Option<&'static dyn HeapMeter>,
}

/// Live and peak heap bytes of the process, from a counting global allocator
/// the binary installed (this library holds no allocator and no `unsafe`).
///
/// `dpu-fw bench` passes one when built with feature `bench-alloc`; an
/// embedding benchmark may pass its own.
pub trait HeapMeter: core::fmt::Debug + Sync {
    /// Resets the peak to the bytes live now and returns them.
    fn reset_peak(&self) -> usize;
    /// Peak live heap bytes since the last [`reset_peak`](Self::reset_peak).
    fn peak(&self) -> usize;
}

impl BenchOptions {
    /// Options with the defaults: 7 repetitions of at least 150 ms,
    /// 3 builds, bursts of 256, no churn, no verification.
    #[must_use]
    pub fn new(rules: PathBuf, trace: PathBuf) -> Self {
        BenchOptions {
            rules,
            trace,
            matches: None,
            format: Format::ClassBench,
            churn_pct: None,
            reps: 7,
            min_rep_time: Duration::from_millis(150),
            build_reps: 3,
            burst: 256,
            seed: 1,
            optimize_bytes: None,
            heap: None,
        }
    }
}

/// How build memory was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildMemoryMethod {
    /// Peak live heap bytes through a [`HeapMeter`].
    HeapPeak,
    /// Growth of the process' peak RSS (`VmHWM`).
    RssPeak,
    /// Not available on this platform.
    Unavailable,
}

/// Figures measured on the peer (e.g. DPDK `rte_acl`), filled by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerReport {
    /// Peer name and method, e.g. `"rte_acl avx2"`.
    pub name: String,
    /// Build time in seconds.
    pub build_s: f64,
    /// Runtime memory in bytes.
    pub memory_bytes: u64,
    /// Median lookup cost (of the fastest method).
    pub lookup_ns_per_packet: f64,
    /// Every method measured and its median lookup cost, in the order tried (the
    /// methods this CPU accepts).
    pub methods: Vec<(String, f64)>,
    /// The fastest method against ours in alternating rounds, when measured.
    pub paired: Option<PairedReport>,
}

/// The peer's fastest method and our classifier timed in alternating rounds (each
/// contestant once per round, the order turning every round), the ratio taken per
/// round: a machine whose speed drifts between seconds (a VM) moves both sides of a
/// round alike, where medians taken seconds apart may not compare.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedReport {
    /// Rounds timed.
    pub rounds: usize,
    /// Median over the rounds of peer ns / our trees' ns (above 1: ours is faster).
    pub speedup: f64,
    /// The same against the RFC tables, when `optimize` built them.
    pub optimized_speedup: Option<f64>,
}

/// Median of per-round ratios `peer / ours` (see [`PairedReport`]); `None` for no
/// rounds.
#[must_use]
pub fn median_ratio(peer: &[f64], ours: &[f64]) -> Option<f64> {
    let mut r: Vec<f64> = peer
        .iter()
        .zip(ours)
        .map(|(p, o)| p / o.max(1e-9))
        .collect();
    (!r.is_empty()).then(|| median(&mut r))
}

/// Figures after churning rules.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnReport {
    /// Percentage of rules churned.
    pub pct: f64,
    /// Updates in one pass (a delete and a re-insert count as two).
    pub updates: u64,
    /// Updates per second in the first pass after the build (wall clock).
    pub updates_per_s: f64,
    /// The same by thread CPU time (Linux; passes shorter than 50 ms have none).
    pub updates_per_cpu_s: Option<f64>,
    /// Passes run: the first, then the same updates again until the churn has run
    /// [`BenchOptions::min_rep_time`] (at most [`MAX_CHURN_PASSES`]).
    pub passes: u32,
    /// Updates per second over all the passes (wall clock).
    pub sustained_updates_per_s: f64,
    /// Median lookup cost after the churn.
    pub lookup_ns_per_packet: f64,
    /// The same by thread CPU time (Linux).
    pub lookup_cpu_ns_per_packet: Option<f64>,
    /// `lookup after churn / lookup after a fresh build`.
    pub lookup_ratio: f64,
    /// Runtime memory after the churn.
    pub memory_bytes: u64,
    /// Trace lines that differ from the match file after the churn.
    pub mismatches: Option<u64>,
}

/// Figures of the classifier after [`Classifier::optimize`] (a copy of the fresh
/// build, optimized once).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizedReport {
    /// The byte budget given to `optimize`.
    pub budget_bytes: u64,
    /// Whether the tables were built (false: the other figures are then the trees').
    pub built: bool,
    /// Why they were not ([`doca_flow::classifier::NotOptimized`]'s message).
    pub not_built: Option<String>,
    /// Wall time of `optimize`, in seconds.
    pub optimize_s: f64,
    /// Runtime footprint after `optimize`.
    pub memory_bytes: u64,
    /// Median ns per packet.
    pub lookup_ns_per_packet: f64,
    /// The same by thread CPU time (Linux).
    pub lookup_cpu_ns_per_packet: Option<f64>,
    /// Trace lines that differ from the match file (`None`: not verified).
    pub mismatches: Option<u64>,
    /// Lookups after a few rule changes (when the tables were built).
    pub edited: Option<EditedReport>,
}

/// Lookups of the optimized classifier after [`EDITED_RULES`] of its rules were removed
/// and inserted again, one at a time (as single policy edits come): the tables answer
/// beside such changes ([`Classifier::optimize`]), so these should stay near the
/// optimized figures, not fall to the trees'.
#[derive(Clone, Debug, PartialEq)]
pub struct EditedReport {
    /// Rules removed and inserted again.
    pub replaced: usize,
    /// Whether the tables still answered afterwards.
    pub optimized: bool,
    /// Median ns per packet.
    pub lookup_ns_per_packet: f64,
    /// Runtime footprint afterwards: the tables, and the trees the first update
    /// rebuilt (for the keys whose rule was removed).
    pub memory_bytes: u64,
    /// Trace lines that differ from the match file (`None`: not verified).
    pub mismatches: Option<u64>,
}

/// How many rules [`EditedReport`] replaces: spread over the rank order, at a fifth,
/// two fifths, ... of the set.
pub const EDITED_RULES: usize = 4;

/// Everything `dpu-fw bench` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// Rule-file name.
    pub rules_file: String,
    /// Number of rules.
    pub rules: usize,
    /// Number of trace headers.
    pub packets: usize,
    /// Median build time in seconds.
    pub build_s: f64,
    /// Extra memory during one build, in bytes (see the method).
    pub build_memory_bytes: Option<u64>,
    /// How `build_memory_bytes` was measured.
    pub build_memory_method: BuildMemoryMethod,
    /// Runtime footprint of the lookup structures.
    pub memory_bytes: u64,
    /// Median ns per packet over the repetitions.
    pub lookup_ns_per_packet: f64,
    /// Median ns per packet by thread CPU time (Linux), which discounts
    /// time the benchmark spent descheduled on a busy machine.
    pub lookup_cpu_ns_per_packet: Option<f64>,
    /// Every repetition's (wall-clock) ns per packet.
    pub lookup_ns_reps: Vec<f64>,
    /// Million packets per second at the median.
    pub mpps: f64,
    /// Trace lines that differ from the match file (`None`: not verified).
    pub mismatches: Option<u64>,
    /// Churn results, when asked for.
    pub churn: Option<ChurnReport>,
    /// The optimized classifier's figures, when asked for.
    pub optimized: Option<OptimizedReport>,
    /// The peer measured in the same run, when the caller attaches one.
    pub peer: Option<PeerReport>,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Reading an input failed.
    #[error(transparent)]
    Input(#[from] ClassBenchError),
    /// The classifier refused the rules.
    #[error("building the classifier: {0}")]
    Build(#[from] ClassifierError),
    /// The match file does not fit the trace.
    #[error("match file has {matches} lines but the trace has {trace}")]
    MatchLength {
        /// Match-file lines.
        matches: usize,
        /// Trace lines.
        trace: usize,
    },
}

/// A field of `/proc/self/status` in KiB (Linux), e.g. `"VmHWM:"`; `None` where the
/// file or field is missing.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Builds once and returns the classifier, the build's wall time in seconds, and
/// the extra memory during the build with how it was measured (the module docs'
/// **build memory**). `dpu-fw bench --scaling` measures each synthetic size with it.
///
/// # Errors
///
/// The classifier refuses the rules.
pub fn measure_build(
    rules: &[Rule<u32>],
    heap: Option<&dyn HeapMeter>,
) -> Result<(Classifier<u32>, f64, Option<u64>, BuildMemoryMethod), ClassifierError> {
    if let Some(heap) = heap {
        let before = heap.reset_peak();
        let t = Instant::now();
        let c = Classifier::build(rules)?;
        let s = t.elapsed().as_secs_f64();
        let extra = heap.peak().saturating_sub(before) as u64;
        return Ok((c, s, Some(extra), BuildMemoryMethod::HeapPeak));
    }
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = proc_status_kib("VmRSS:");
    let t = Instant::now();
    let c = Classifier::build(rules)?;
    let s = t.elapsed().as_secs_f64();
    match (reset, before, proc_status_kib("VmHWM:")) {
        (true, Some(b), Some(h)) => Ok((
            c,
            s,
            Some(h.saturating_sub(b) * 1024),
            BuildMemoryMethod::RssPeak,
        )),
        _ => Ok((c, s, None, BuildMemoryMethod::Unavailable)),
    }
}

/// The median of `v` (sorted in place; 0 when empty).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// A copy of `c` after [`Classifier::try_optimize`] within `budget` bytes, the
/// seconds that took, and its outcome (on `Err` the copy is still the trees).
pub fn optimized_copy(
    c: &Classifier<u32>,
    budget: usize,
) -> (Classifier<u32>, f64, Result<(), NotOptimized>) {
    let mut o = c.clone();
    let t = Instant::now();
    let outcome = o.try_optimize(budget);
    (o, t.elapsed().as_secs_f64(), outcome)
}

/// Nanoseconds this thread has run on a CPU (Linux
/// `/proc/thread-self/schedstat`), to discount time spent descheduled on a
/// shared machine; `None` elsewhere.
#[must_use]
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok().filter(|&v| v > 0)
}

/// Lookup timings: per repetition, ns/packet by wall clock and (when the
/// platform reports it) by thread CPU time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LookupTimes {
    /// Wall-clock ns/packet per repetition.
    pub wall: Vec<f64>,
    /// CPU-time ns/packet per repetition (empty when unavailable).
    pub cpu: Vec<f64>,
}

/// Times lookups: `reps` repetitions of at least `min_rep` each; returns
/// every repetition's ns/packet and the last results.
pub fn time_lookups(
    c: &Classifier<u32>,
    keys: &[Key<u32>],
    burst: usize,
    reps: usize,
    min_rep: Duration,
) -> (LookupTimes, Vec<Option<u32>>) {
    let mut out = vec![None; keys.len()];
    let burst = burst.max(1);
    let pass = |out: &mut [Option<u32>]| {
        for (k, o) in keys.chunks(burst).zip(out.chunks_mut(burst)) {
            c.classify_batch(k, o);
        }
    };
    pass(&mut out); // warm-up
    let mut times = LookupTimes::default();
    let pkts = keys.len().max(1) as f64;
    for _ in 0..reps.max(1) {
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        let mut n = 0u64;
        while n == 0 || t.elapsed() < min_rep {
            pass(&mut out);
            n += 1;
        }
        let ns = t.elapsed().as_nanos() as f64;
        times.wall.push(ns / (n as f64 * pkts));
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
            times
                .cpu
                .push(b.saturating_sub(a) as f64 / (n as f64 * pkts));
        }
    }
    (times, out)
}

fn count_mismatches(got: &[Option<u32>], want: Option<&Vec<Option<u32>>>) -> Option<u64> {
    want.map(|w| got.iter().zip(w).filter(|(g, w)| g != w).count() as u64)
}

/// [`EditedReport`] of the optimized classifier `o` built from `rules` (in rank order,
/// as the rule file lists them); `None` for sets of fewer than 5 rules.
fn edited(
    o: &Classifier<u32>,
    rules: &[Rule<u32>],
    keys: &[Key<u32>],
    want: Option<&Vec<Option<u32>>>,
    opts: &BenchOptions,
) -> Option<EditedReport> {
    if rules.len() < 5 {
        return None;
    }
    let mut e = o.clone();
    let ids: Vec<u32> = (1..=EDITED_RULES)
        .map(|k| rules[rules.len() * k / (EDITED_RULES + 1)].id)
        .collect();
    // Each taken out and put back: the same rules, so the same answers.
    for id in &ids {
        let r = e.remove(*id)?;
        e.insert(r).ok()?;
    }
    let (times, out) = time_lookups(&e, keys, opts.burst, opts.reps, opts.min_rep_time);
    Some(EditedReport {
        replaced: ids.len(),
        optimized: e.is_optimized(),
        lookup_ns_per_packet: median(&mut times.wall.clone()),
        memory_bytes: e.memory_bytes() as u64,
        mismatches: count_mismatches(&out, want),
    })
}

/// The most passes of churn (see [`ChurnReport::passes`]).
pub const MAX_CHURN_PASSES: u32 = 10_000;

/// Runs the benchmark.
///
/// # Errors
///
/// Unreadable or malformed inputs, rules the classifier refuses, or a match
/// file whose length differs from the trace.
pub fn run(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    let Format::ClassBench = opts.format;
    let rules = classbench::to_rules(&classbench::read_rules(&opts.rules)?);
    let trace = classbench::read_trace(&opts.trace)?;
    let keys: Vec<Key<u32>> = trace.iter().map(classbench::CbHeader::to_key).collect();
    let want = match &opts.matches {
        Some(m) => {
            let w = classbench::read_matches(m)?;
            if w.len() != keys.len() {
                return Err(BenchError::MatchLength {
                    matches: w.len(),
                    trace: keys.len(),
                });
            }
            Some(w)
        }
        None => None,
    };

    let mut builds = Vec::new();
    let (mut c, s, build_mem, method) = measure_build(&rules, opts.heap)?;
    builds.push(s);
    for _ in 1..opts.build_reps.max(1) {
        drop(c);
        let (c2, s, _, _) = measure_build(&rules, opts.heap)?;
        c = c2;
        builds.push(s);
    }
    let build_s = median(&mut builds);
    let memory_bytes = c.memory_bytes() as u64;

    let (times, out) = time_lookups(&c, &keys, opts.burst, opts.reps, opts.min_rep_time);
    let lookup_ns_reps = times.wall.clone();
    let ns = median(&mut times.wall.clone());
    let cpu_ns = (!times.cpu.is_empty()).then(|| median(&mut times.cpu.clone()));
    let mismatches = count_mismatches(&out, want.as_ref());

    let optimized = opts.optimize_bytes.map(|budget| {
        let (o, optimize_s, outcome) = optimized_copy(&c, budget);
        let built = outcome.is_ok();
        let mut report = OptimizedReport {
            budget_bytes: budget as u64,
            built,
            not_built: outcome.err().map(|e| e.to_string()),
            optimize_s,
            memory_bytes,
            lookup_ns_per_packet: ns,
            lookup_cpu_ns_per_packet: cpu_ns,
            mismatches,
            edited: None,
        };
        // Not built: `o` is the trees just measured, so their figures stand.
        if built {
            let (times, out) = time_lookups(&o, &keys, opts.burst, opts.reps, opts.min_rep_time);
            report.memory_bytes = o.memory_bytes() as u64;
            report.lookup_ns_per_packet = median(&mut times.wall.clone());
            report.lookup_cpu_ns_per_packet =
                (!times.cpu.is_empty()).then(|| median(&mut times.cpu.clone()));
            report.mismatches = count_mismatches(&out, want.as_ref());
            report.edited = edited(&o, &rules, &keys, want.as_ref(), opts);
        }
        report
    });

    let churn = match opts.churn_pct {
        Some(pct) if !rules.is_empty() => {
            let n = ((rules.len() as f64 * pct / 100.0).round() as usize).min(rules.len());
            let mut rng = SplitMix64::new(opts.seed);
            let picks: Vec<u32> = (0..n)
                .map(|_| rules[rng.below(rules.len() as u64) as usize].id)
                .collect();
            let pass = |c: &mut Classifier<u32>| -> Result<(), ClassifierError> {
                for &id in &picks {
                    if let Some(r) = c.remove(id) {
                        c.insert(r)?;
                    }
                }
                Ok(())
            };
            let cpu0 = thread_cpu_ns();
            let t = Instant::now();
            pass(&mut c)?;
            let secs = t.elapsed().as_secs_f64();
            let cpu_secs = match (cpu0, thread_cpu_ns()) {
                // The scheduler accounts run time per tick: short spans are
                // too coarse to report.
                (Some(a), Some(b)) if b.saturating_sub(a) >= 50_000_000 => {
                    Some(b.saturating_sub(a) as f64 / 1e9)
                }
                _ => None,
            };
            // The same picks again until the churn has run `min_rep_time`: the rate of
            // a steady stream of updates, where one pass over a small set lasts a
            // millisecond or two (too short to time alone on a shared machine).
            let mut passes = 1u32;
            while n > 0 && t.elapsed() < opts.min_rep_time && passes < MAX_CHURN_PASSES {
                pass(&mut c)?;
                passes += 1;
            }
            let all_secs = t.elapsed().as_secs_f64();
            let (times, out) = time_lookups(&c, &keys, opts.burst, opts.reps, opts.min_rep_time);
            let after = median(&mut times.wall.clone());
            let after_cpu = (!times.cpu.is_empty()).then(|| median(&mut times.cpu.clone()));
            Some(ChurnReport {
                pct,
                updates: 2 * n as u64,
                updates_per_s: 2.0 * n as f64 / secs.max(1e-9),
                updates_per_cpu_s: cpu_secs.map(|c| 2.0 * n as f64 / c.max(1e-9)),
                passes,
                sustained_updates_per_s: 2.0 * n as f64 * f64::from(passes) / all_secs.max(1e-9),
                lookup_ns_per_packet: after,
                lookup_cpu_ns_per_packet: after_cpu,
                lookup_ratio: after / ns,
                memory_bytes: c.memory_bytes() as u64,
                mismatches: count_mismatches(&out, want.as_ref()),
            })
        }
        _ => None,
    };

    Ok(BenchReport {
        rules_file: opts.rules.display().to_string(),
        rules: rules.len(),
        packets: keys.len(),
        build_s,
        build_memory_bytes: build_mem,
        build_memory_method: method,
        memory_bytes,
        lookup_ns_per_packet: ns,
        lookup_cpu_ns_per_packet: cpu_ns,
        lookup_ns_reps,
        mpps: if ns > 0.0 { 1e3 / ns } else { 0.0 },
        mismatches,
        churn,
        optimized,
        peer: None,
    })
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_f(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".to_owned()
    }
}

fn json_opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

impl BenchReport {
    /// Per lookup checked against the match file (the trees; the RFC tables; the
    /// tables after the edits; the trees after churn), the trace lines it got wrong,
    /// for those that got any.
    #[must_use]
    pub fn mismatched(&self) -> Vec<(&'static str, u64)> {
        let optimized = self.optimized.as_ref();
        [
            ("the trees", self.mismatches),
            ("the RFC tables", optimized.and_then(|o| o.mismatches)),
            (
                "the RFC tables after the edits",
                optimized.and_then(|o| o.edited.as_ref()?.mismatches),
            ),
            (
                "after the churn",
                self.churn.as_ref().and_then(|c| c.mismatches),
            ),
        ]
        .into_iter()
        .filter_map(|(what, n)| n.filter(|&n| n > 0).map(|n| (what, n)))
        .collect()
    }

    /// The report as one JSON object (keys include `build_s`,
    /// `memory_bytes`, `lookup_ns_per_packet`, `mpps`).
    #[must_use]
    pub fn to_json(&self) -> String {
        let reps: Vec<String> = self.lookup_ns_reps.iter().map(|v| json_f(*v)).collect();
        let method = match self.build_memory_method {
            BuildMemoryMethod::HeapPeak => "heap_peak",
            BuildMemoryMethod::RssPeak => "rss_peak",
            BuildMemoryMethod::Unavailable => "unavailable",
        };
        let churn = self.churn.as_ref().map_or_else(
            || "null".to_owned(),
            |c| {
                format!(
                    "{{\"pct\":{},\"updates\":{},\"updates_per_s\":{},\"updates_per_cpu_s\":{},\"passes\":{},\"sustained_updates_per_s\":{},\"lookup_ns_per_packet\":{},\"lookup_cpu_ns_per_packet\":{},\"lookup_ratio\":{},\"memory_bytes\":{},\"mismatches\":{}}}",
                    json_f(c.pct),
                    c.updates,
                    json_f(c.updates_per_s),
                    c.updates_per_cpu_s.map_or_else(|| "null".to_owned(), json_f),
                    c.passes,
                    json_f(c.sustained_updates_per_s),
                    json_f(c.lookup_ns_per_packet),
                    c.lookup_cpu_ns_per_packet.map_or_else(|| "null".to_owned(), json_f),
                    json_f(c.lookup_ratio),
                    c.memory_bytes,
                    json_opt(c.mismatches)
                )
            },
        );
        let optimized = self.optimized.as_ref().map_or_else(
            || "null".to_owned(),
            |o| {
                format!(
                    "{{\"budget_bytes\":{},\"built\":{},\"not_built\":{},\"optimize_s\":{},\"memory_bytes\":{},\"lookup_ns_per_packet\":{},\"lookup_cpu_ns_per_packet\":{},\"mismatches\":{},\"edited\":{}}}",
                    o.budget_bytes,
                    o.built,
                    o.not_built.as_deref().map_or_else(|| "null".to_owned(), json_str),
                    json_f(o.optimize_s),
                    o.memory_bytes,
                    json_f(o.lookup_ns_per_packet),
                    o.lookup_cpu_ns_per_packet.map_or_else(|| "null".to_owned(), json_f),
                    json_opt(o.mismatches),
                    o.edited.as_ref().map_or_else(
                        || "null".to_owned(),
                        |e| format!(
                            "{{\"replaced\":{},\"optimized\":{},\"lookup_ns_per_packet\":{},\"memory_bytes\":{},\"mismatches\":{}}}",
                            e.replaced,
                            e.optimized,
                            json_f(e.lookup_ns_per_packet),
                            e.memory_bytes,
                            json_opt(e.mismatches)
                        )
                    )
                )
            },
        );
        let peer = self.peer.as_ref().map_or_else(
            || "null".to_owned(),
            |p| {
                let methods: Vec<String> = p
                    .methods
                    .iter()
                    .map(|(m, ns)| format!("{}:{}", json_str(m), json_f(*ns)))
                    .collect();
                let paired = p.paired.as_ref().map_or_else(
                    || "null".to_owned(),
                    |q| {
                        format!(
                            "{{\"rounds\":{},\"speedup\":{},\"optimized_speedup\":{}}}",
                            q.rounds,
                            json_f(q.speedup),
                            q.optimized_speedup.map_or_else(|| "null".to_owned(), json_f)
                        )
                    },
                );
                format!(
                    "{{\"name\":{},\"build_s\":{},\"memory_bytes\":{},\"lookup_ns_per_packet\":{},\"methods\":{{{}}},\"paired\":{paired}}}",
                    json_str(&p.name),
                    json_f(p.build_s),
                    p.memory_bytes,
                    json_f(p.lookup_ns_per_packet),
                    methods.join(",")
                )
            },
        );
        format!(
            "{{\"rules_file\":{},\"rules\":{},\"packets\":{},\"build_s\":{},\"build_memory_bytes\":{},\"build_memory_method\":\"{method}\",\"memory_bytes\":{},\"lookup_ns_per_packet\":{},\"lookup_cpu_ns_per_packet\":{},\"lookup_ns_reps\":[{}],\"mpps\":{},\"mismatches\":{},\"churn\":{churn},\"optimized\":{optimized},\"peer\":{peer}}}",
            json_str(&self.rules_file),
            self.rules,
            self.packets,
            json_f(self.build_s),
            json_opt(self.build_memory_bytes),
            self.memory_bytes,
            json_f(self.lookup_ns_per_packet),
            self.lookup_cpu_ns_per_packet
                .map_or_else(|| "null".to_owned(), json_f),
            reps.join(","),
            json_f(self.mpps),
            json_opt(self.mismatches),
        )
    }
}

impl core::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "{}: {} rules, {} packets",
            self.rules_file, self.rules, self.packets
        )?;
        writeln!(
            f,
            "  build {:.4} s, build memory {} ({:?}), runtime memory {:.2} MiB",
            self.build_s,
            self.build_memory_bytes.map_or_else(
                || "n/a".to_owned(),
                |b| format!("{:.1} MiB", b as f64 / 1048576.0)
            ),
            self.build_memory_method,
            self.memory_bytes as f64 / 1048576.0
        )?;
        write!(
            f,
            "  lookup {:.1} ns/packet ({:.2} Mpps)",
            self.lookup_ns_per_packet, self.mpps
        )?;
        if let Some(m) = self.mismatches {
            write!(f, ", {m} mismatches vs match file")?;
        }
        if let Some(c) = &self.churn {
            write!(
                f,
                "\n  churn {}%: {:.0} updates/s first pass, {:.0} sustained ({} passes), lookup {:.1} ns ({:.2}x fresh), memory {:.2} MiB",
                c.pct,
                c.updates_per_s,
                c.sustained_updates_per_s,
                c.passes,
                c.lookup_ns_per_packet,
                c.lookup_ratio,
                c.memory_bytes as f64 / 1048576.0
            )?;
            if let Some(m) = c.mismatches {
                write!(f, ", {m} mismatches")?;
            }
        }
        if let Some(o) = &self.optimized {
            if o.built {
                write!(
                    f,
                    "\n  optimized (RFC tables): lookup {:.1} ns ({:.2}x the trees), optimize {:.4} s, memory {:.2} MiB",
                    o.lookup_ns_per_packet,
                    self.lookup_ns_per_packet / o.lookup_ns_per_packet.max(1e-9),
                    o.optimize_s,
                    o.memory_bytes as f64 / 1048576.0
                )?;
                if let Some(m) = o.mismatches {
                    write!(f, ", {m} mismatches")?;
                }
                if let Some(e) = &o.edited {
                    write!(
                        f,
                        "\n  optimized, after {} rules were removed and inserted again: lookup {:.1} ns ({:.2}x the trees; {}), memory {:.2} MiB",
                        e.replaced,
                        e.lookup_ns_per_packet,
                        self.lookup_ns_per_packet / e.lookup_ns_per_packet.max(1e-9),
                        if e.optimized {
                            "the tables with the changes"
                        } else {
                            "the trees"
                        },
                        e.memory_bytes as f64 / 1048576.0
                    )?;
                    if let Some(m) = e.mismatches {
                        write!(f, ", {m} mismatches")?;
                    }
                }
            } else {
                write!(
                    f,
                    "\n  optimized: not built after {:.3} s ({}; --optimize-mib {:.1}): lookups \
                     use the trees",
                    o.optimize_s,
                    o.not_built.as_deref().unwrap_or("no reason given"),
                    o.budget_bytes as f64 / 1048576.0
                )?;
            }
        }
        if let Some(p) = &self.peer {
            write!(
                f,
                "\n  peer {}: lookup {:.1} ns ({:.2}x ours), build {:.3} s",
                p.name,
                p.lookup_ns_per_packet,
                p.lookup_ns_per_packet / self.lookup_ns_per_packet,
                p.build_s
            )?;
            if p.methods.len() > 1 {
                let all: Vec<String> = p
                    .methods
                    .iter()
                    .map(|(m, ns)| format!("{m} {ns:.1}"))
                    .collect();
                write!(f, "\n  peer methods (ns/packet): {}", all.join(", "))?;
            }
            if let Some(q) = &p.paired {
                write!(
                    f,
                    "\n  paired with the peer ({} alternating rounds, median of per-round ratios): \
                     ours {:.2}x its speed (trees)",
                    q.rounds, q.speedup
                )?;
                if let Some(o) = q.optimized_speedup {
                    write!(f, ", {o:.2}x (optimized)")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> BenchReport {
        BenchReport {
            rules_file: "a\"b".into(),
            rules: 1,
            packets: 2,
            build_s: 0.5,
            build_memory_bytes: None,
            build_memory_method: BuildMemoryMethod::Unavailable,
            memory_bytes: 10,
            lookup_ns_per_packet: 20.0,
            lookup_cpu_ns_per_packet: None,
            lookup_ns_reps: vec![20.0],
            mpps: 50.0,
            mismatches: Some(0),
            churn: None,
            optimized: Some(OptimizedReport {
                budget_bytes: 4,
                built: true,
                not_built: None,
                optimize_s: 0.25,
                memory_bytes: 12,
                lookup_ns_per_packet: 5.0,
                lookup_cpu_ns_per_packet: None,
                mismatches: Some(0),
                edited: Some(EditedReport {
                    replaced: 4,
                    optimized: true,
                    lookup_ns_per_packet: 6.0,
                    memory_bytes: 20,
                    mismatches: Some(0),
                }),
            }),
            peer: None,
        }
    }

    #[test]
    fn json_has_the_required_keys() {
        let r = report();
        let j = r.to_json();
        for k in [
            "\"build_s\":0.5",
            "\"memory_bytes\":10",
            "\"lookup_ns_per_packet\":20",
            "\"mpps\":50",
            "\"optimized\":{\"budget_bytes\":4,\"built\":true,\"not_built\":null,\"optimize_s\":0.25,\"memory_bytes\":12,\"lookup_ns_per_packet\":5,",
            "\"edited\":{\"replaced\":4,\"optimized\":true,\"lookup_ns_per_packet\":6,\"memory_bytes\":20,\"mismatches\":0}",
        ] {
            assert!(j.contains(k), "{j}");
        }
        assert!(j.starts_with("{\"rules_file\":\"a\\\"b\""));
    }

    /// Churn repeats its pass until it has run `min_rep_time`, and reports the first
    /// pass and all of them.
    #[test]
    fn churn_repeats_its_pass_for_the_sustained_rate() {
        let dir = std::env::temp_dir().join(format!("dpu-fw-bench-churn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rules = dir.join("r.rules");
        let trace = dir.join("r.trace");
        let mut text = String::new();
        for i in 0..20 {
            text.push_str(&format!(
                "@10.0.{i}.0/24\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\n"
            ));
        }
        std::fs::write(&rules, text).unwrap();
        std::fs::write(&trace, "167772161\t2\t3\t80\t6\n").unwrap();
        let mut opts = BenchOptions::new(rules, trace);
        opts.churn_pct = Some(50.0);
        opts.reps = 1;
        opts.build_reps = 1;
        opts.min_rep_time = Duration::from_millis(20);
        let r = run(&opts).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let c = r.churn.clone().expect("churn was asked for");
        assert_eq!(c.updates, 20, "10 rules out and back in");
        // 20 updates of a 20-rule set take microseconds: 20 ms needs many passes.
        assert!(c.passes > 1 && c.passes <= MAX_CHURN_PASSES, "{c:?}");
        assert!(
            c.updates_per_s > 0.0 && c.sustained_updates_per_s.is_finite(),
            "{c:?}"
        );
        assert!(r.to_json().contains(&format!("\"passes\":{}", c.passes)));
    }

    #[test]
    fn mismatches_are_named_by_the_lookup_that_made_them() {
        let mut r = report();
        assert!(r.mismatched().is_empty());
        if let Some(e) = r.optimized.as_mut().and_then(|o| o.edited.as_mut()) {
            e.mismatches = Some(3);
        }
        assert_eq!(r.mismatched(), [("the RFC tables after the edits", 3)]);
    }

    #[test]
    fn paired_rounds_report_the_median_of_per_round_ratios() {
        // Per round 2, 4 and 1: the median is 2, where the ratio of the medians
        // (20 / 5) would be 4.
        assert_eq!(
            median_ratio(&[10.0, 20.0, 30.0], &[5.0, 5.0, 30.0]),
            Some(2.0)
        );
        assert_eq!(median_ratio(&[], &[]), None);
        let mut r = BenchReport {
            peer: Some(PeerReport {
                name: "rte_acl avx2".into(),
                build_s: 1.0,
                memory_bytes: 3,
                lookup_ns_per_packet: 8.0,
                methods: vec![("avx2".into(), 8.0)],
                paired: Some(PairedReport {
                    rounds: 3,
                    speedup: 2.0,
                    optimized_speedup: None,
                }),
            }),
            ..report()
        };
        let j = r.to_json();
        assert!(
            j.contains("\"paired\":{\"rounds\":3,\"speedup\":2,\"optimized_speedup\":null}"),
            "{j}"
        );
        assert!(
            r.to_string().contains("ours 2.00x its speed (trees)"),
            "{r}"
        );
        if let Some(p) = r.peer.as_mut() {
            p.paired = None;
        }
        assert!(r.to_json().contains("\"paired\":null"));
    }
}
