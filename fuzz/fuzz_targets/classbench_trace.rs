//! Fuzzes the ClassBench header-trace parser (`dpu-fw classify --trace`, `dpu-fw bench`).
//! Nothing may panic; a syntax error names a line inside the text; every parsed header
//! becomes a classifier key.
#![no_main]

use std::path::Path;

use dpu_fw::classbench::{self, ClassBenchError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match classbench::parse_trace(text, Path::new("fuzz.trace")) {
        Err(ClassBenchError::Syntax { line, column, .. }) => {
            assert!(line >= 1 && line <= text.lines().count(), "line {line}");
            assert!(column >= 1);
        }
        Err(e) => panic!("parse_trace returned a non-syntax error: {e}"),
        Ok(headers) => {
            assert!(headers.len() <= text.lines().count());
            for h in &headers {
                assert!(h.to_key().has_ports);
            }
        }
    }
});
