//! Fuzzes the match5 (expected first match) file parser, as the ClassBench tests and
//! `dpu-fw classify` comparisons read it. Nothing may panic; a syntax error names a line
//! inside the text; `-1` and only `-1` reads as no match.
#![no_main]

use std::path::Path;

use dpu_fw::classbench::{self, ClassBenchError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match classbench::parse_matches(text, Path::new("fuzz.match5")) {
        Err(ClassBenchError::Syntax { line, column, .. }) => {
            assert!(line >= 1 && line <= text.lines().count(), "line {line}");
            assert!(column >= 1);
        }
        Err(e) => panic!("parse_matches returned a non-syntax error: {e}"),
        Ok(m) => {
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(m.len(), lines.len());
            for (v, l) in m.iter().zip(lines) {
                assert_eq!(v.is_none(), l == "-1", "{l:?}");
            }
        }
    }
});
