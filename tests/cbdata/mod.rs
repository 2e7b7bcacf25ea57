//! Where the ClassBench tests find their data: env `CLASSBENCH_DIR`, default
//! `../shared/classbench` next to the workspace.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The data folder, if it exists. Without it a test is skipped (and says so) on a
/// developer's machine, but fails under CI (`CI` set): a CI run that checked nothing
/// must not look green.
pub(crate) fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CLASSBENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
                .join("classbench")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "ClassBench folder {} not found, and CI is set: set CLASSBENCH_DIR to the folder \
         with the *.rules, *.trace and *.match5 files",
        dir.display()
    );
    eprintln!(
        "skipped: ClassBench folder {} not found (set CLASSBENCH_DIR)",
        dir.display()
    );
    None
}

/// `dir/stem` or `dir/stem.gz`, whichever exists.
pub(crate) fn existing(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_owned(), format!("{stem}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
}
