//! Fuzzes the metrics endpoint's request handling (`dpu_fw::metrics::respond`, what the
//! server runs on the bytes it read). Nothing may panic; every answer is one complete
//! HTTP/1.1 response whose Content-Length is its body's length; only a well-formed GET
//! of /metrics or / gets the metrics.
#![no_main]

use dpu_fw::metrics::{parse_request, respond};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = respond(data, &|| "dpufw_errors_total 0\n".to_string());
    let text = std::str::from_utf8(&out).expect("the answer is text");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse::<usize>().ok())
        .expect("a Content-Length");
    assert_eq!(len, body.len());
    let ok = head.starts_with("HTTP/1.1 200 ");
    let wanted = matches!(parse_request(data), Ok(r) if r.method == "GET" && (r.path == "/metrics" || r.path == "/"));
    assert_eq!(ok, wanted, "{head}");
});
