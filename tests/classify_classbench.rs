//! `dpu-fw classify` equals ClassBench's `*.match5.gz` on every line of every rule set,
//! for the software and the BlueField target.
//!
//! Data folder: env `CLASSBENCH_DIR`, default `../shared/classbench` next to the
//! workspace. When it is absent the test says so and passes, except under CI (`CI`
//! set), where it fails. A debug build checks the
//! 1k and 10k sets; a release build (`cargo test --release`) or `CLASSBENCH_ALL=1`
//! checks all nine.

mod cbdata;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cbdata::{data_dir, existing};
use dpu_fw::classbench;

fn classify(rules: &Path, trace: &Path, target: &str) -> Vec<Option<u32>> {
    let out = Command::new(env!("CARGO_BIN_EXE_dpu-fw"))
        .args(["classify", "--format", "classbench", "--target", target])
        .arg("--rules")
        .arg(rules)
        .arg("--trace")
        .arg(trace)
        .output()
        .expect("run dpu-fw");
    assert!(
        out.status.success(),
        "dpu-fw classify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    classbench::parse_matches(&text, Path::new("<dpu-fw classify>")).expect("match5 format")
}

fn check_set(dir: &Path, name: &str, target: &str) {
    let rules = existing(dir, &format!("{name}.rules")).expect("rules file");
    let trace = existing(dir, &format!("{name}.trace")).expect("trace file");
    let want = existing(dir, &format!("{name}.match5")).expect("match5 file");
    let want = classbench::read_matches(&want).unwrap();
    let t = Instant::now();
    let got = classify(&rules, &trace, target);
    assert_eq!(
        got.len(),
        want.len(),
        "{name} ({target}): line counts differ"
    );
    let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    for &i in bad.iter().take(5) {
        eprintln!(
            "{name} ({target}): trace line {}: got {:?}, want {:?}",
            i + 1,
            got[i],
            want[i]
        );
    }
    assert!(
        bad.is_empty(),
        "{name} ({target}): {} of {} lines differ",
        bad.len(),
        got.len()
    );
    eprintln!(
        "{name} ({target}): {} lines equal match5 ({:.1?} for the whole command)",
        got.len(),
        t.elapsed()
    );
}

#[test]
fn classify_equals_match5() {
    let Some(dir) = data_dir() else {
        return;
    };
    let all = cfg!(not(debug_assertions)) || std::env::var_os("CLASSBENCH_ALL").is_some();
    let sizes: &[&str] = if all {
        &["1k", "10k", "100k"]
    } else {
        eprintln!("debug build: 100k sets skipped (set CLASSBENCH_ALL=1 or use --release)");
        &["1k", "10k"]
    };
    for size in sizes {
        for set in ["acl1", "fw1", "ipc1"] {
            let name = format!("{set}_{size}");
            if existing(&dir, &format!("{name}.rules")).is_none() {
                eprintln!("skipped {name}: not in {}", dir.display());
                continue;
            }
            for target in ["software", "bluefield"] {
                check_set(&dir, &name, target);
            }
        }
    }
}
