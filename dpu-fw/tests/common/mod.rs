//! What several test files share. Use with `mod common;`.
#![allow(dead_code)]

pub(crate) mod fixtures;
pub(crate) mod installs;

/// How many cases a property runs: `own`, the count its test file chose, or
/// `PROPTEST_CASES` when that is set and smaller.
///
/// proptest reads `PROPTEST_CASES` only for properties that name no count;
/// this makes the variable a ceiling for the ones that do, so a slow runner
/// can run every property with fewer cases (`.ci/aarch64 short`, under
/// qemu), while a property that chose few expensive cases keeps its count.
pub(crate) fn cases(own: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(own, |max| own.min(max.max(1)))
}
