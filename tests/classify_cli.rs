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

    // The same frames as pcapng (what Wireshark and dumpcap write): the same packets pass.
    let ng_input = dir.join("in.pcapng");
    let ng_output = dir.join("out-ng.pcap");
    std::fs::write(&ng_input, pcapng_le(&frames)).unwrap();
    let o = dpu_fw(&[
        "simulate",
        "--config",
        &example(),
        "--pcap",
        ng_input.to_str().unwrap(),
        "--out",
        ng_output.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("every decision equals the oracle's"));
    let passed = |path: &std::path::Path| -> Vec<Vec<u8>> {
        PcapReader::new(std::fs::File::open(path).unwrap())
            .unwrap()
            .map(|p| p.unwrap().data)
            .collect()
    };
    assert_eq!(passed(&ng_output), passed(&output));

    let o = dpu_fw(&["simulate", "--pcap", "/nonexistent.pcap"]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("/nonexistent.pcap"));
    let o = dpu_fw(&["simulate", "--config", &example()]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--pcap"));
}

/// A little-endian pcapng file: a section header, one Ethernet interface (microseconds)
/// and an Enhanced Packet Block per frame, one millisecond apart.
fn pcapng_le(frames: &[Vec<u8>]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let len = u32::try_from(12 + padded).unwrap().to_le_bytes();
        out.extend(block_type.to_le_bytes());
        out.extend(len);
        out.extend(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend(len);
    }
    let mut out = Vec::new();
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend((-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    block(&mut out, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
    for (i, f) in (0u32..).zip(frames) {
        let mut epb = Vec::new();
        let len = u32::try_from(f.len()).unwrap();
        for word in [0, 0, i * 1000, len, len] {
            epb.extend(u32::to_le_bytes(word));
        }
        epb.extend(f);
        block(&mut out, 6, &epb);
    }
    out
}

/// The error formats of issue 16, pinned: a repeated error is one line with a count, a
/// binary file is one line naming it, a broken pcap names its record and byte offset.
#[test]
fn errors_are_short_located_and_say_what_to_do() {
    // 200 ICMP rules with port ranges: was one 16.5 KB line, the message once per rule.
    let mut rules = String::new();
    for i in 0..200 {
        rules.push_str(&format!(
            "@10.0.{i}.0/24\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x01/0xFF\t0x0000/0x0000\n"
        ));
    }
    let path = temp("icmp200.rules", &rules);
    let p = path.to_str().unwrap();
    let o = dpu_fw(&["check", "--format", "classbench", p]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: {p}: cannot import: invalid rule set: 200 problems\n  \
             rules 1 `r0`, 2 `r1`, 3 `r2`, 4 `r3`, 5 `r4` and 195 more: a port match needs \
             `protocol = \"tcp\"` or `\"udp\"`, but the rule has protocol icmp; remove the \
             ports or make it a TCP or UDP rule\n"
        )
    );

    // A binary file: one line that names it, for each reader.
    let bin = std::env::temp_dir().join(format!("dpu-fw-cli-{}/binary", std::process::id()));
    std::fs::write(
        &bin,
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0\x01\0\0\0\xa0\xff",
    )
    .unwrap();
    let b = bin.to_str().unwrap();
    let good = temp(
        "one.rules",
        "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t\n",
    );
    let g = good.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["check", b],
            "a policy is a UTF-8 TOML file (docs/config.md)",
        ),
        (
            vec!["check", "--format", "classbench", b],
            "expected a ClassBench text file, plain or gzip",
        ),
        (
            vec!["classify", "--rules", g, "--trace", b],
            "expected a ClassBench text file, plain or gzip",
        ),
    ] {
        let o = dpu_fw(&args);
        no_panic(&o);
        assert!(!o.status.success());
        let err = text(&o.stderr);
        let err: Vec<&str> = err.lines().filter(|l| !l.starts_with("read ")).collect();
        assert_eq!(
            err,
            [format!(
                "error: {b}: not UTF-8 text (invalid byte at offset 24); {expected}"
            )],
            "{args:?}"
        );
    }

    // TOML: the same error in 30 rules is one line (first five places, then a count),
    // other errors one line each, then the count of all.
    let mut toml = String::from("[ports.p0]\nrole = \"uplink\"\nid = 0\n");
    for i in 0..30 {
        toml.push_str(&format!(
            "[[rules]]\nname = \"r{i}\"\nprotocol = \"icmp\"\ndst_port = 80\naction = \"accept\"\n"
        ));
    }
    toml.push_str("[[rules]]\nname = \"x\"\nin_port = \"nope\"\naction = \"accept\"\n");
    let path = temp("many.toml", &toml);
    let t = path.to_str().unwrap();
    let o = dpu_fw(&["check", t]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "{t}:7:12, {t}:12:12, {t}:17:12, {t}:22:12, {t}:27:12 and 25 more: error: a port \
             match needs"
        )),
        "{err}"
    );
    assert_eq!(
        lines[1],
        format!("{t}:156:11: error: undefined port `nope`")
    );
    assert_eq!(lines[2], format!("{t}: 31 errors"));

    // A pcap file cut inside its second record: the file, the record, the byte offset.
    let mut w = dpu_fw::pcap::PcapWriter::new(Vec::new()).unwrap();
    w.write_packet(std::time::Duration::ZERO, &[0u8; 60])
        .unwrap();
    w.write_packet(std::time::Duration::ZERO, &[0u8; 60])
        .unwrap();
    let mut bytes = w.into_inner();
    bytes.truncate(bytes.len() - 10);
    let cut = std::env::temp_dir().join(format!("dpu-fw-cli-{}/cut.pcap", std::process::id()));
    std::fs::write(&cut, bytes).unwrap();
    let c = cut.to_str().unwrap();
    let o = dpu_fw(&["simulate", "--config", &example(), "--pcap", c]);
    no_panic(&o);
    assert!(!o.status.success());
    assert_eq!(
        text(&o.stderr),
        format!(
            "error: {c}: packet 2: record 1 at byte offset 100: truncated record data \
             (50 of 60 bytes)\n"
        )
    );

    // A command-line value naming something the policy lacks says what it has.
    let o = dpu_fw(&[
        "simulate",
        "--config",
        &example(),
        "--pcap",
        c,
        "--port",
        "p9",
    ]);
    no_panic(&o);
    assert_eq!(
        text(&o.stderr),
        "error: --port p9: the policy has no such port; its ports are p0, pf0hpf, hbn\n"
    );
}

#[test]
fn bench_scaling_prints_the_table_and_refuses_bad_input() {
    // A tiny fixed-size run (figures not checked: no timing assertions).
    let o = dpu_fw(&[
        "bench",
        "--scaling",
        "--sizes",
        "200,1k",
        "--packets",
        "500",
        "--reps",
        "1",
        "--no-peer",
    ]);
    no_panic(&o);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("| rules | ours ns/pkt |"), "{out}");
    assert!(out.contains("\n| 200 | "), "{out}");
    assert!(out.contains("\n| 1000 | "), "{out}");
    assert!(
        out.contains("rte_acl at 1000 rules: not measured: --no-peer"),
        "{out}"
    );
    // The optimized copy (RFC tables, --optimize-mib 16 by default): the synthetic 1k
    // set's tables build (the work bound counts steps, so this does not depend on the
    // machine), and the run checked their answers against the trees'.
    assert!(out.contains("| optimized ns/pkt (MiB) |"), "{out}");
    let row = out.lines().find(|l| l.starts_with("| 1000 | ")).unwrap();
    assert!(row.contains(" MiB) |"), "{row}");
    assert!(out.contains("RFC tables, at most 16 MiB"), "{out}");

    // A 300-rule run with `extra` arguments.
    let small = |extra: &[&str]| {
        let mut a = vec![
            "bench",
            "--scaling",
            "--sizes",
            "300",
            "--packets",
            "100",
            "--reps",
            "1",
            "--no-peer",
        ];
        a.extend(extra);
        dpu_fw(&a)
    };
    let o = small(&["--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("{\"profile\":\"acl\",\"rules\":300,"),
        "{out}"
    );
    assert!(
        out.contains("\"rte_acl_not_measured\":\"--no-peer\""),
        "{out}"
    );
    assert!(out.contains("\"optimized\":{\"built\":"), "{out}");
    // --optimize-mib 0: not tried, and said so.
    let o = small(&["--optimize-mib", "0"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let row = out.lines().find(|l| l.starts_with("| 300 | ")).unwrap();
    assert!(row.contains("| not tried |"), "{row}");
    assert!(out.contains("not tried: --optimize-mib 0"), "{out}");

    for (args, why) in [
        (vec!["--sizes", "1k,x"], "\"x\" is not a rule count"),
        (vec!["--sizes", "0"], "a rule count must be in"),
        (vec!["--sizes", "1k,1000"], "given twice"),
        (vec!["--packets", "0"], "--packets"),
        (vec!["--profile", "nope"], "--profile"),
        (vec!["--rules", "x.rules"], "cannot be used with"),
    ] {
        let mut a = vec!["bench", "--scaling"];
        a.extend(args);
        let o = dpu_fw(&a);
        no_panic(&o);
        assert!(!o.status.success(), "{a:?} was accepted");
        assert!(text(&o.stderr).contains(why), "{a:?}: {}", text(&o.stderr));
    }
    // The scaling options mean nothing without --scaling.
    let o = dpu_fw(&["bench", "--sizes", "1k"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--scaling"), "{}", text(&o.stderr));
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn bench_scaling_require_peer_fails_without_dpdk() {
    let o = dpu_fw(&[
        "bench",
        "--scaling",
        "--sizes",
        "100",
        "--packets",
        "100",
        "--reps",
        "1",
        "--require-peer",
    ]);
    no_panic(&o);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--require-peer: rte_acl was not measured at 100 rules"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("not measured: this binary was built without the `dpdk` feature")
    );
}
