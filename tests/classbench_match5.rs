//! Exactness on ClassBench: for each of the nine shared sets, every trace
//! header's first match equals the `*.match5.gz` line.
//!
//! Data folder: env `CLASSBENCH_DIR`, default `../shared/classbench` next to
//! the workspace. When it is absent the test prints why and passes, except
//! under CI (`CI` set), where it fails.
//! All nine sets run by default (about 15 s in a debug build, 2 s in
//! release); `CLASSBENCH_QUICK=1` limits the run to the 1k and 10k sets.

mod cbdata;

use std::path::Path;

use cbdata::{data_dir, existing};
use doca_flow::classifier::{Classifier, NotOptimized};
use dpu_fw::classbench;

fn check_set(dir: &Path, name: &str) {
    let rules = existing(dir, &format!("{name}.rules")).expect("rules file");
    let trace = existing(dir, &format!("{name}.trace")).expect("trace file");
    let matches = existing(dir, &format!("{name}.match5")).expect("match5 file");
    let rules = classbench::to_rules(&classbench::read_rules(&rules).unwrap());
    let trace = classbench::read_trace(&trace).unwrap();
    let want = classbench::read_matches(&matches).unwrap();
    assert_eq!(
        trace.len(),
        want.len(),
        "{name}: trace and match5 lengths differ"
    );
    let c = Classifier::build(&rules).unwrap();
    let keys: Vec<_> = trace.iter().map(classbench::CbHeader::to_key).collect();
    let mut got = vec![None; keys.len()];
    c.classify_batch(&keys, &mut got);
    let mut bad = 0;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w || c.classify(&keys[i]) != *w {
            if bad < 5 {
                eprintln!(
                    "{name}: trace line {}: got {g:?}, want {w:?}, key {:?}",
                    i + 1,
                    keys[i]
                );
            }
            bad += 1;
        }
    }
    assert_eq!(
        bad,
        0,
        "{name}: {bad} of {} headers differ from match5",
        keys.len()
    );
    // The RFC tables of `optimize`, within the budget `dpu-fw bench` gives them:
    // built for the 1k sets and acl1_10k; fw1_10k's and ipc1_10k's classes are too
    // costly to combine; the 100k sets have more than RFC_MAX_RULES rules.
    let mut o = c.clone();
    let t = std::time::Instant::now();
    let outcome = o.try_optimize(16 << 20);
    let secs = t.elapsed().as_secs_f64();
    let built = outcome.is_ok();
    match name {
        "acl1_1k" | "fw1_1k" | "ipc1_1k" | "acl1_10k" => {
            assert_eq!(outcome, Ok(()), "{name}: optimize of {} rules", rules.len());
        }
        // Which bound stops them first depends on the budget.
        "fw1_10k" | "ipc1_10k" => assert!(
            matches!(
                outcome,
                Err(NotOptimized::TooCostly | NotOptimized::OverBudget { .. })
            ),
            "{name}: optimize of {} rules: {outcome:?}",
            rules.len()
        ),
        _ => assert_eq!(
            outcome,
            Err(NotOptimized::TooManyRules {
                rules: rules.len(),
                max: doca_flow::classifier::RFC_MAX_RULES,
            }),
            "{name}"
        ),
    }
    eprintln!("{name}: optimize {outcome:?} in {secs:.2} s");
    if built {
        let mut got = vec![None; keys.len()];
        o.classify_batch(&keys, &mut got);
        let bad = got.iter().zip(&want).filter(|(g, w)| g != w).count();
        assert_eq!(
            bad, 0,
            "{name}: optimized, {bad} headers differ from match5"
        );
    }
    eprintln!(
        "{name}: {} rules, {} headers, all equal match5",
        rules.len(),
        keys.len()
    );
}

#[test]
fn classbench_first_match_equals_match5() {
    let Some(dir) = data_dir() else {
        return;
    };
    let quick = std::env::var_os("CLASSBENCH_QUICK").is_some();
    let sizes: &[&str] = if quick {
        &["1k", "10k"]
    } else {
        &["1k", "10k", "100k"]
    };
    if quick {
        eprintln!("CLASSBENCH_QUICK: 100k sets skipped");
    }
    for size in sizes {
        for set in ["acl1", "fw1", "ipc1"] {
            let name = format!("{set}_{size}");
            if existing(&dir, &format!("{name}.rules")).is_none() {
                eprintln!("skipped {name}: not in {}", dir.display());
                continue;
            }
            check_set(&dir, &name);
        }
    }
}
