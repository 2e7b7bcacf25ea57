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
        check_changes_beside_tables(name, &rules, &keys, &c, o);
    }
    eprintln!(
        "{name}: {} rules, {} headers, all equal match5",
        rules.len(),
        keys.len()
    );
}

/// The RFC tables `o` (of `c`'s rules) after single updates, which they answer beside
/// (`Classifier::optimize`): the same updates on the trees `c` give the answers to
/// compare with, and `o` must still be answering from its tables, until a ninth
/// insertion drops them. The updates: 16 rules spread over the rank order removed,
/// 8 of them inserted again, and copies of 8 others (new ids) inserted above every
/// rule, so that answers change for the keys those match.
fn check_changes_beside_tables(
    name: &str,
    rules: &[doca_flow::classifier::Rule<u32>],
    keys: &[doca_flow::classifier::Key<u32>],
    c: &Classifier<u32>,
    mut o: Classifier<u32>,
) {
    let mut c = c.clone();
    let n = rules.len();
    let at = |k: usize, of: usize| rules[n * k / (of + 1)];
    let compare = |o: &Classifier<u32>, c: &Classifier<u32>, what: &str| {
        let (mut a, mut b) = (vec![None; keys.len()], vec![None; keys.len()]);
        o.classify_batch(keys, &mut a);
        c.classify_batch(keys, &mut b);
        let bad = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert_eq!(
            bad, 0,
            "{name}, {what}: {bad} answers differ from the trees'"
        );
        let single = keys
            .iter()
            .step_by(97)
            .filter(|k| o.classify(k) != c.classify(k))
            .count();
        assert_eq!(
            single, 0,
            "{name}, {what}: one-key lookups differ from the trees'"
        );
        // How many keys the rules inserted above every rule decide.
        a.iter()
            .filter(|x| x.is_some_and(|id| id >= 10_000_000))
            .count()
    };
    for k in 1..=16 {
        let id = at(k, 16).id;
        assert!(
            o.remove(id).is_some() && c.remove(id).is_some(),
            "{name}: rule {id}"
        );
    }
    for k in (2..=16).step_by(2) {
        let r = at(k, 16);
        o.insert(r).unwrap();
        c.insert(r).unwrap();
    }
    assert!(
        o.is_optimized(),
        "{name}: 16 removals, 8 of them inserted again"
    );
    compare(&o, &c, "16 rules removed, 8 inserted again");
    // Priority 0 is above every ClassBench rule (their priority is the line number).
    let top = |k: usize, id: u32| doca_flow::classifier::Rule {
        priority: 0,
        id,
        ..at(k, 9)
    };
    for k in 1..=8 {
        // Each takes one of the 8 rules inserted again above back out, so that at most
        // 8 are inserted since the tables, and puts a copy of another above every rule.
        let again = at(2 * k, 16).id;
        assert!(o.remove(again).is_some() && c.remove(again).is_some());
        let r = top(k, 10_000_000 + k as u32);
        o.insert(r).unwrap();
        c.insert(r).unwrap();
    }
    assert!(
        o.is_optimized(),
        "{name}: 8 rules inserted above every rule"
    );
    let decided = compare(&o, &c, "8 rules inserted above every rule");
    assert!(
        decided > 0,
        "{name}: no key matches the rules inserted above the others"
    );
    let r = top(9, 10_000_009);
    o.insert(r).unwrap();
    c.insert(r).unwrap();
    assert!(
        !o.is_optimized(),
        "{name}: a ninth insertion drops the tables"
    );
    compare(&o, &c, "a ninth insertion, on the trees");
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
