//! The `dpu-fw` subcommands end to end (check, compile, simulate, classify): exit codes,
//! what they print, and clear errors (never a panic) on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dpu_fw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpu-fw"))
        .args(args)
        .output()
        .expect("run dpu-fw")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dpu-fw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/firewall.toml")
        .display()
        .to_string()
}

fn no_panic(o: &Output) {
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn simulate_without_arguments_runs_the_demo() {
    let o = dpu_fw(&["simulate"]);
    no_panic(&o);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("pipeline (software target):"), "{out}");
    assert!(out.contains("per rule:"));
    assert!(out.contains("drop-bogons"));
    assert!(out.contains("per ingress port:"));
    assert!(out.contains("every decision equals the oracle's"), "{out}");
}

#[test]
fn check_accepts_the_example_and_rejects_errors_with_their_place() {
    let o = dpu_fw(&["check", &example()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(": ok: 3 ports, 12 rules"));

    let bad = temp(
        "bad.toml",
        "[ports.p0]\nrole = \"uplink\"\nid = 0\n\n[[rules]]\naction = \"count\"\n",
    );
    let o = dpu_fw(&["check", bad.to_str().unwrap()]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("bad.toml:6:"), "{err}");
    assert!(err.contains("1 error"), "{err}");

    let o = dpu_fw(&["check", "/nonexistent/policy.toml"]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("/nonexistent/policy.toml"));
}

#[test]
fn compile_prints_the_summary_and_the_dot_drawing() {
    for target in ["software", "bluefield"] {
        let o = dpu_fw(&["compile", "--target", target, &example()]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        assert!(out.contains(&format!("{target} target")), "{out}");
        assert!(out.contains("worst-path lookups:"));
        assert!(out.contains("ACL"));
    }
    let o = dpu_fw(&["compile", "--dot", &example()]);
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(out.starts_with("digraph plan {") && out.trim_end().ends_with('}'));
}

#[test]
fn classify_prints_match5_lines() {
    let rules = temp(
        "r.rules",
        "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\t\n\
         @0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x11/0xFF\t0x0000/0x0000\t\n",
    );
    // 10.0.0.1 -> 1.2.3.4 TCP :80 (rule 0); UDP (rule 1); TCP :81 (none); ICMP (none).
    let trace = temp(
        "r.trace",
        "167772161\t16909060\t1000\t80\t6\t0\t0\n\
         167772161\t16909060\t1000\t80\t17\t0\t1\n\
         167772161\t16909060\t1000\t81\t6\t0\t0\n\
         167772161\t16909060\t0\t0\t1\t0\t0\n",
    );
    for target in ["software", "bluefield"] {
        let o = dpu_fw(&[
            "classify",
            "--rules",
            rules.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
            "--target",
            target,
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "0\n1\n-1\n-1\n");
    }
}

#[test]
fn classify_names_file_line_and_column_of_bad_input() {
    let rules = temp(
        "bad.rules",
        "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : x\t0x06/0xFF\t\n",
    );
    let trace = temp("ok.trace", "1\t2\t3\t4\t6\n");
    let o = dpu_fw(&[
        "classify",
        "--rules",
        rules.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    no_panic(&o);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("bad.rules:1:"), "{err}");

    let good = temp(
        "good.rules",
        "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t\n",
    );
    let bad_trace = temp("bad.trace", "1\t2\t3\t4\t6\n1\t2\t99999\t4\t6\n");
    let o = dpu_fw(&[
        "classify",
        "--rules",
        good.to_str().unwrap(),
        "--trace",
        bad_trace.to_str().unwrap(),
    ]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("bad.trace:2:"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn simulate_reads_and_writes_pcap_files() {
    use dpu_fw::pcap::{PcapReader, PcapWriter};
    let dir = std::env::temp_dir().join(format!("dpu-fw-cli-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.pcap");
    let output = dir.join("out.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&input).unwrap()).unwrap();
    let frames: Vec<Vec<u8>> = dpu_fw::demo::traffic()
        .into_iter()
        .filter(|(p, _)| p == "p0")
        .map(|(_, f)| f)
        .collect();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(std::time::Duration::from_millis(i as u64), f)
            .unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let o = dpu_fw(&[
        "simulate",
        "--config",
        &example(),
        "--pcap",
        input.to_str().unwrap(),
        "--out",
        output.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("every decision equals the oracle's"), "{out}");
    // What passed is in the output file: fewer packets than went in (drops), at least one.
    let mut r = PcapReader::new(std::fs::File::open(&output).unwrap()).unwrap();
    let mut n = 0;
    while r.next_packet().unwrap().is_some() {
        n += 1;
    }
    assert!(n > 0 && n < frames.len(), "{n} of {}", frames.len());

    let o = dpu_fw(&["simulate", "--pcap", "/nonexistent.pcap"]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("/nonexistent.pcap"));
    let o = dpu_fw(&["simulate", "--config", &example()]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--pcap"));
}
