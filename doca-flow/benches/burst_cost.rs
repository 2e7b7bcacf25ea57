#![allow(missing_docs)]
//! The sw backend's batched path on a firewall-shaped pipeline, as a plain binary:
//! the pipeline `dpu-fw compile` gives a one-rule policy (`common::firewall_shape`: a
//! root control pipe sending port 0's IPv4 frames to an ACL pipe holding one counted
//! rule, TCP to port 80 -> port 1, its miss to port 1; a catch-all to port 1), fed
//! bursts of 64 frames (TCP and UDP, a quarter of them to port 80) through
//! `SwBackend::process_batch_each`.
//!
//! `cargo bench -p doca-flow --bench burst_cost` prints the best ns per frame over
//! several timed passes. Its real use is `bench/instructions.sh`, which runs it under
//! callgrind for an exact instruction count per frame: on a VM whose speed drifts by 2x
//! between seconds, instructions are the figure that compares two builds.
//!
//! Arguments: `--bursts N` (default 20000) bursts per pass, `--passes N` (default 10),
//! `--brief` to run `SwBackend::process_batch_brief` (what `dpu-fw run` calls for a
//! stateless policy) instead.

use core::net::Ipv4Addr;
use std::time::Instant;

mod common;

use doca_flow::packet::PacketBuilder;
use doca_flow::{PortId, Verdict};

fn arg(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; the harness ignores what it does not know.
    let (bursts, passes) = match (arg(&args, "--bursts", 20_000), arg(&args, "--passes", 10)) {
        (Ok(b), Ok(p)) if b > 0 && p > 0 => (b, p),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("burst_cost: {e}");
            std::process::exit(2);
        }
        _ => {
            eprintln!("burst_cost: --bursts and --passes must be at least 1");
            std::process::exit(2);
        }
    };
    // Bound whole: its entries and port 1 must outlive the measurement.
    let shape = common::firewall_shape();
    let (flow, p0) = (&shape.flow, &shape.p0);
    let mut frames: Vec<Vec<u8>> = (0..64u32)
        .map(|i| {
            let (src, dst) = (
                Ipv4Addr::new(198, 51, 100, 7),
                Ipv4Addr::from(0x0a00_0000 | i),
            );
            let port = if i % 4 == 0 { 80 } else { 1000 + i as u16 };
            if i % 3 == 1 {
                PacketBuilder::udp4(src, dst, 40000, port).build()
            } else {
                PacketBuilder::tcp4(src, dst, 40000, port).build()
            }
        })
        .collect();
    let brief = args.iter().any(|a| a == "--brief");
    let mut briefs = Vec::with_capacity(64);
    let mut sw = flow.sw();
    let mut best = f64::MAX;
    for _ in 0..passes {
        let t = Instant::now();
        let mut forwarded = 0u64;
        for _ in 0..bursts {
            if brief {
                briefs.clear();
                sw.process_batch_brief(p0.id(), &mut frames, None, &mut briefs);
                let to_1 = briefs
                    .iter()
                    .filter(|b| b.verdict == Verdict::Port(PortId(1)));
                forwarded += to_1.count() as u64;
            } else {
                sw.process_batch_each(p0.id(), &mut frames, |_, o| {
                    forwarded += u64::from(o.verdict == Verdict::Port(PortId(1)));
                });
            }
        }
        // Every frame goes to port 1 (the rule's or the miss's forward).
        assert_eq!(forwarded, 64 * bursts, "a frame was not forwarded");
        best = best.min(t.elapsed().as_nanos() as f64 / (bursts * 64) as f64);
    }
    let path = if brief { " (brief)" } else { "" };
    println!(
        "burst_cost{path}: best of {passes} passes of {bursts} bursts of 64: {best:.2} ns/frame"
    );
}
