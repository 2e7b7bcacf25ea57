#![allow(missing_docs)]
//! The sw backend's batched path on a firewall-shaped pipeline, as a plain binary:
//! the pipeline `dpu-fw compile` gives a one-rule policy (a root control pipe sending
//! port 0's IPv4 frames to an ACL pipe holding one counted rule, TCP to port 80 ->
//! port 1, its miss to port 1; a catch-all to port 1), fed bursts of 64 frames (TCP
//! and UDP, a quarter of them to port 80) through `SwBackend::process_batch_each`.
//!
//! `cargo bench -p doca-flow --bench burst_cost` prints the best ns per frame over
//! several timed passes. Its real use is `bench/instructions.sh`, which runs it under
//! callgrind for an exact instruction count per frame: on a VM whose speed drifts by 2x
//! between seconds, instructions are the figure that compares two builds.
//!
//! Arguments: `--bursts N` (default 20000) bursts per pass, `--passes N` (default 10).

use core::net::Ipv4Addr;
use std::time::Instant;

use doca_flow::packet::PacketBuilder;
use doca_flow::{
    AclEntry, ControlEntry, Flags, Flow, Fwd, L3Type, Match, PortId, PortRange, Prefix, Verdict,
};

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
    let flow = Flow::builder()
        .queue_depth(64)
        .counters(1 << 10)
        .build()
        .expect("flow");
    let p0 = flow.start_port(PortId(0), "p0").expect("port 0");
    let _p1 = flow.start_port(PortId(1), "p1").expect("port 1");
    let mut q = flow.take_queue(0).expect("queue");
    let acl = p0
        .pipe_builder("p0/v4/acl")
        .acl()
        .nr_entries(16)
        .monitor(doca_flow::Monitor {
            counter: true,
            meter: None,
        })
        .fwd_miss(Fwd::Port(PortId(1)))
        .build()
        .expect("acl pipe");
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .expect("root pipe");
    let v4 = Match::new().port_id(PortId(0)).l3_type(L3Type::Ipv4);
    let _entries = [
        root.add_entry(&mut q, ControlEntry::new(0, v4, Fwd::pipe(&acl))),
        root.add_entry(
            &mut q,
            ControlEntry::new(1, Match::new().port_id(PortId(0)), Fwd::Port(PortId(1))),
        ),
        acl.add_entry(
            &mut q,
            AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 0, Fwd::Port(PortId(1)))
                .proto(6)
                .dst_port(PortRange::new(80, 80).expect("range")),
            Flags::NoWait,
        ),
    ]
    .map(|e| e.expect("entry"));
    p0.entries_process(&mut q, 0).expect("entries");
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
    let mut sw = flow.sw();
    let mut best = f64::MAX;
    for _ in 0..passes {
        let t = Instant::now();
        let mut forwarded = 0u64;
        for _ in 0..bursts {
            sw.process_batch_each(p0.id(), &mut frames, |_, o| {
                forwarded += u64::from(o.verdict == Verdict::Port(PortId(1)));
            });
        }
        // Every frame goes to port 1 (the rule's or the miss's forward).
        assert_eq!(forwarded, 64 * bursts, "a frame was not forwarded");
        best = best.min(t.elapsed().as_nanos() as f64 / (bursts * 64) as f64);
    }
    println!("burst_cost: best of {passes} passes of {bursts} bursts of 64: {best:.2} ns/frame");
}
