//! Fuzzes the ClassBench rule-file reader as `dpu-fw check --format classbench` runs it:
//! gzip detection and UTF-8 decoding, the parser, the import into a rule set, and the
//! classifier build. Nothing may panic; a syntax error names a line inside the text.
#![no_main]

use std::path::Path;

use doca_flow::classifier::Classifier;
use dpu_fw::classbench::{self, ClassBenchError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = classbench::decode_text(data.to_vec(), Path::new("fuzz.rules")) else {
        return;
    };
    match classbench::parse_rules(&text, Path::new("fuzz.rules")) {
        Err(ClassBenchError::Syntax { line, column, .. }) => {
            assert!(line >= 1 && line <= text.lines().count(), "line {line}");
            assert!(column >= 1);
        }
        Err(e) => panic!("parse_rules returned a non-syntax error: {e}"),
        Ok(rules) => {
            let _ = classbench::to_rule_set(&rules).map_err(|e| e.to_string());
            let c = Classifier::build(&classbench::to_rules(&rules))
                .expect("the classifier takes every parsed rule");
            let _ = c;
        }
    }
});
