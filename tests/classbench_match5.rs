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
use doca_flow::classifier::Classifier;
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
    // The RFC tables of `optimize` (built for the sets of at most
    // RFC_MAX_RULES rules, within the budget `dpu-fw bench` gives them).
    let mut o = c.clone();
    let built = o.optimize(4 << 20);
    assert_eq!(
        built,
        rules.len() <= doca_flow::classifier::RFC_MAX_RULES,
        "{name}: optimize of {} rules",
        rules.len()
    );
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
