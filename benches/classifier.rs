//! Criterion benches of the software classifier: lookup (bursts of 256; also
//! through `Classifier::optimize`'s RFC tables where it builds them, names ending
//! in `-optimized`), build, and single-rule updates, on seeded synthetic sets (always) and on
//! the shared ClassBench sets when present (`CLASSBENCH_DIR`, default
//! `../shared/classbench`; 1k and 10k sets, plus 100k with
//! `CLASSBENCH_ALL=1`).
//!
//! Run: `cargo bench --bench classifier [-- FILTER]`. The `dpu-fw bench`
//! command (`dpu_fw::bench::run`) gives the median-of-repetitions figures
//! quoted in `docs/classifier.md`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use doca_flow::classifier::{Addr, Classifier, Key, Rule};
use dpu_fw::{classbench, synth};

struct Set<A: Addr> {
    name: String,
    rules: Vec<Rule<A>>,
    keys: Vec<Key<A>>,
}

fn classbench_dir() -> PathBuf {
    std::env::var_os("CLASSBENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
                .join("classbench")
        })
}

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_owned(), format!("{stem}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
}

fn sets_v4() -> Vec<Set<u32>> {
    let mut sets = Vec::new();
    for (p, tag) in [
        (synth::Profile::Acl, "acl"),
        (synth::Profile::Fw, "fw"),
        (synth::Profile::Ipc, "ipc"),
    ] {
        for n in [1_000, 10_000] {
            let rules = synth::rules_v4(p, n, 1);
            let keys = synth::trace_v4(&rules, 50_000, 0.05, 2);
            sets.push(Set {
                name: format!("synth-{tag}-{n}"),
                rules,
                keys,
            });
        }
    }
    let dir = classbench_dir();
    let all = std::env::var_os("CLASSBENCH_ALL").is_some();
    let sizes: &[&str] = if all {
        &["1k", "10k", "100k"]
    } else {
        &["1k", "10k"]
    };
    for size in sizes {
        for set in ["acl1", "fw1", "ipc1"] {
            let name = format!("{set}_{size}");
            let (Some(r), Some(t)) = (
                find(&dir, &format!("{name}.rules")),
                find(&dir, &format!("{name}.trace")),
            ) else {
                continue;
            };
            let (Ok(rules), Ok(trace)) = (classbench::read_rules(&r), classbench::read_trace(&t))
            else {
                continue;
            };
            sets.push(Set {
                name,
                rules: classbench::to_rules(&rules),
                keys: trace.iter().map(classbench::CbHeader::to_key).collect(),
            });
        }
    }
    sets
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    g.measurement_time(Duration::from_secs(3));
    for s in sets_v4() {
        let cl = Classifier::build(&s.rules).unwrap();
        let mut out = vec![None; s.keys.len()];
        g.throughput(Throughput::Elements(s.keys.len() as u64));
        g.bench_function(&s.name, |b| {
            b.iter(|| {
                for (k, o) in s.keys.chunks(256).zip(out.chunks_mut(256)) {
                    cl.classify_batch(black_box(k), o);
                }
            });
        });
    }
    // The same sets through the RFC tables, where `optimize` builds them (`-optimized`).
    for s in sets_v4() {
        let mut cl = Classifier::build(&s.rules).unwrap();
        if !cl.optimize(16 << 20) {
            continue;
        }
        let mut out = vec![None; s.keys.len()];
        g.throughput(Throughput::Elements(s.keys.len() as u64));
        g.bench_function(format!("{}-optimized", s.name), |b| {
            b.iter(|| {
                for (k, o) in s.keys.chunks(256).zip(out.chunks_mut(256)) {
                    cl.classify_batch(black_box(k), o);
                }
            });
        });
    }
    let rules = synth::rules_v6(synth::Profile::Ipc, 10_000, 1);
    let keys = synth::trace(&rules, 50_000, 0.05, 2);
    let cl = Classifier::build(&rules).unwrap();
    let mut out = vec![None; keys.len()];
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("synth-ipc-10000-ipv6", |b| {
        b.iter(|| {
            for (k, o) in keys.chunks(256).zip(out.chunks_mut(256)) {
                cl.classify_batch(black_box(k), o);
            }
        });
    });
    g.finish();
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    for s in sets_v4() {
        g.throughput(Throughput::Elements(s.rules.len() as u64));
        g.bench_function(&s.name, |b| {
            b.iter(|| Classifier::build(black_box(&s.rules)).unwrap())
        });
    }
    g.finish();
}

/// One remove plus one re-insert of a random rule per iteration.
fn update(c: &mut Criterion) {
    let mut g = c.benchmark_group("update");
    for s in sets_v4() {
        let mut cl = Classifier::build(&s.rules).unwrap();
        let mut rng = synth::SplitMix64::new(9);
        g.throughput(Throughput::Elements(2));
        g.bench_function(&s.name, |b| {
            b.iter_batched(
                || s.rules[rng.below(s.rules.len() as u64) as usize].id,
                |id| {
                    let r = cl.remove(id).unwrap();
                    cl.insert(r).unwrap();
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, lookup, build, update);
criterion_main!(benches);
