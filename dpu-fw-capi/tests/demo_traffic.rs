//! `examples/c/demo-traffic.txt`, the demo traffic the C example runs, is current: the
//! frames of `dpu_fw::demo::traffic_described()` with the verdict each must get
//! (the oracle's, from the packet's expected connection state). `DPUFW_BLESS=1`
//! rewrites it instead of failing.

use std::fmt::Write as _;

use doca_flow::packet::Headers;
use dpu_fw::conntrack::CtState;
use dpu_fw::model::Action;

fn traffic_file() -> String {
    let rules = dpu_fw::demo::policy();
    let mut out = String::from(
        "# The demo traffic of dpu_fw::demo (the policy is examples/firewall.toml), in order,\n\
         # with the verdict each packet must get. Written by dpu-fw-capi/tests/demo_traffic.rs\n\
         # (DPUFW_BLESS=1 cargo test -p dpu-fw-capi --test demo_traffic); read by demo.c.\n\
         # Each packet: a `#` line saying what it is, then\n\
         # PORT pass|drop RULE|- new|established|related|invalid|- FRAME-HEX\n",
    );
    for p in dpu_fw::demo::traffic_described() {
        let v = dpu_fw::oracle::evaluate_tracked(
            &rules,
            p.in_port,
            &Headers::parse(&p.frame),
            p.expect_state,
        );
        assert_eq!(
            v.rule.map(|i| rules.rules[i].name.as_str()),
            p.expect_rule,
            "{}",
            p.note
        );
        let state = match p.expect_state {
            None => "-",
            Some(CtState::New) => "new",
            Some(CtState::Established) => "established",
            Some(CtState::Related) => "related",
            Some(CtState::Invalid) => "invalid",
        };
        let verdict = if v.action == Action::Drop {
            "drop"
        } else {
            "pass"
        };
        let hex: String = p.frame.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        let _ = writeln!(out, "# {}", p.note);
        let _ = writeln!(
            out,
            "{} {verdict} {} {state} {hex}",
            p.in_port,
            p.expect_rule.unwrap_or("-")
        );
    }
    out
}

#[test]
fn demo_traffic_file_is_current() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c/demo-traffic.txt");
    let want = traffic_file();
    if std::env::var_os("DPUFW_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write examples/c/demo-traffic.txt");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "examples/c/demo-traffic.txt is not the demo traffic of dpu_fw::demo: rewrite it \
         with `DPUFW_BLESS=1 cargo test -p dpu-fw-capi --test demo_traffic` and commit it"
    );
}
