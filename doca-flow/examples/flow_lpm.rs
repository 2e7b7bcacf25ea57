//! An LPM pipe on the software backend, after NVIDIA's `flow_lpm`.
//!
//! Run: `cargo run -p doca-flow --example flow_lpm` (no features, no arguments).
//!
//! A root basic pipe forwards IPv4 to an LPM pipe on the outer IPv4 source with a /32, a
//! /16 and a /0 (default route) entry; the longest matching prefix decides between port 1
//! and drop.

use core::net::Ipv4Addr;

use doca_flow::packet::PacketBuilder;
use doca_flow::{BasicEntry, Field, Flags, Flow, Fwd, L3Type, LpmEntry, Match, Monitor, PortId};

mod common;

fn main() -> doca_flow::Result<()> {
    common::run(example)
}

fn example(backend: &common::Backend) -> doca_flow::Result<()> {
    let flow = backend.build(Flow::builder())?;
    let p0 = flow.start_port(PortId(0), "p0")?;
    let _p1 = flow.start_port(PortId(1), "p1")?;
    let mut q = flow.take_queue(0)?;

    let lpm = p0
        .pipe_builder("LPM_PIPE")
        .lpm()
        .nr_entries(8)
        .matcher(Match::new().ipv4_src(Ipv4Addr::BROADCAST))
        .monitor(Monitor::counter())
        .fwd(Fwd::Changeable)
        .build()?;
    let main_pipe = p0
        .pipe_builder("MAIN_PIPE")
        .root(true)
        .matcher(Match::new().l3_type(L3Type::Ipv4))
        .fwd(Fwd::pipe(&lpm))
        .build()?;
    let _main = main_pipe.add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait)?;

    let routes = [
        (Ipv4Addr::new(1, 2, 3, 4), 32, Fwd::Port(PortId(1))),
        (Ipv4Addr::new(1, 2, 0, 0), 16, Fwd::Drop),
        (Ipv4Addr::UNSPECIFIED, 0, Fwd::Port(PortId(1))),
    ];
    let mut entries = Vec::new();
    for (addr, len, fwd) in routes {
        let e = LpmEntry::new(
            Match::new().ipv4_src(addr),
            Match::new().prefix(Field::Ipv4Src, len),
        )
        .fwd(fwd.clone());
        println!("route {addr}/{len} -> {fwd:?}");
        entries.push((
            format!("{addr}/{len}"),
            lpm.add_entry(&mut q, e, Flags::NoWait)?,
        ));
    }
    p0.entries_process(&mut q, 0)?;

    let sources = [
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::new(1, 2, 9, 9),
        Ipv4Addr::new(9, 9, 9, 9),
    ];
    {
        let mut sw = flow.datapath().expect("a packet path");
        for src in sources {
            let mut frame =
                PacketBuilder::udp4(src, Ipv4Addr::new(198, 51, 100, 1), 1000, 2000).build();
            let out = sw.process_packet(PortId(0), &mut frame);
            println!("from {src:12} -> {:?}", out.verdict);
        }
    }
    for (route, e) in &entries {
        println!("{route:12} counter {:?}", e.query()?);
    }
    Ok(())
}
