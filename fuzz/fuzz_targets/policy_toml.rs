//! Fuzzes the TOML policy front end as `dpu-fw check` and `dpu-fw compile` run it:
//! `config::parse` on any text, and for a policy that passes its checks, the compiler
//! for both targets. Nothing may panic; every error names its line and column inside
//! the text; a compiled plan passes its own validation.
#![no_main]

use dpu_fw::compile::{Target, compile, dot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match dpu_fw::config::parse(text, "fuzz.toml") {
        Err(e) => {
            let lines = text.lines().count().max(1) + 1;
            for d in e.diagnostics() {
                assert!(d.line >= 1 && d.line <= lines, "{d} outside the text");
                assert!(d.column >= 1, "{d}");
            }
            let _ = e.to_string();
        }
        Ok(checked) => {
            for w in &checked.warnings {
                let _ = w.to_string();
            }
            for target in [Target::software(), Target::bluefield()] {
                // A checked policy may still be refused by a target (too big, ...),
                // but never with a panic, and a plan it builds is consistent.
                if let Ok(plan) = compile(&checked.rules, &target) {
                    assert_eq!(plan.validate(), Ok(()));
                    let _ = dot::to_dot(&plan);
                }
            }
        }
    }
});
