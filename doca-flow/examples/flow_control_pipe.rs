//! A control pipe on the software backend, after NVIDIA's `flow_control_pipe`.
//!
//! Run: `cargo run -p doca-flow --example flow_control_pipe` (no features, no arguments).
//!
//! NVIDIA's sample steers tunnel types into per-tunnel basic pipes; tunnels are not modelled
//! yet, so this one steers by L4 type and port instead: a root control pipe whose entries
//! (each with its own match, mask and priority, lower wins) send DNS to one basic pipe that
//! rewrites the destination, TCP SYNs to the kernel, other TCP to port 1, and everything else
//! to RSS queue 1.

use core::net::Ipv4Addr;

use doca_flow::packet::PacketBuilder;
use doca_flow::packet::tcp_flags;
use doca_flow::{Actions, BasicEntry, ControlEntry, Flags, Flow, Fwd, L4Type, Match, PortId};

mod common;

fn main() -> doca_flow::Result<()> {
    common::run(example)
}

fn example(backend: &common::Backend) -> doca_flow::Result<()> {
    let flow = backend.build(Flow::builder().queues(2))?;
    let p0 = flow.start_port(PortId(0), "p0")?;
    let _p1 = flow.start_port(PortId(1), "p1")?;
    let mut q = flow.take_queue(0)?;

    // DNS: rewrite the resolver address, then out of p1.
    let dns = p0
        .pipe_builder("DNS_PIPE")
        .matcher(Match::new().udp_dst_port(53))
        .actions(
            Actions::new()
                .ipv4_dst(Ipv4Addr::new(10, 0, 0, 53))
                .dec_ttl(),
        )
        .fwd(Fwd::Port(PortId(1)))
        .build()?;
    let _dns_entry = dns.add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait)?;

    let control = p0
        .pipe_builder("CONTROL_PIPE")
        .control()
        .root(true)
        .build()?;
    let rules = [
        ControlEntry::new(1, Match::new().udp_dst_port(53), Fwd::pipe(&dns)),
        // SYN set, other flags ignored: the mask selects the bit.
        ControlEntry::new(2, Match::new().tcp_flags(tcp_flags::SYN), Fwd::Kernel)
            .mask(Match::new().tcp_flags(tcp_flags::SYN)),
        ControlEntry::new(3, Match::new().l4_type(L4Type::Tcp), Fwd::Port(PortId(1))),
        ControlEntry::new(9, Match::new(), Fwd::Rss { queues: vec![1] }),
    ];
    let _entries = rules
        .into_iter()
        .map(|r| control.add_entry(&mut q, r))
        .collect::<doca_flow::Result<Vec<_>>>()?;
    for c in p0.entries_process(&mut q, 0)? {
        println!("entry {:?}: {:?} {:?}", c.entry, c.op, c.status);
    }

    let ip = Ipv4Addr::new;
    let packets = [
        (
            "udp dns query",
            PacketBuilder::udp4(ip(192, 0, 2, 1), ip(8, 8, 8, 8), 40000, 53).build(),
        ),
        (
            "tcp syn",
            PacketBuilder::tcp4(ip(192, 0, 2, 1), ip(8, 8, 8, 8), 40000, 443)
                .flags(tcp_flags::SYN)
                .build(),
        ),
        (
            "tcp ack",
            PacketBuilder::tcp4(ip(192, 0, 2, 1), ip(8, 8, 8, 8), 40000, 443)
                .flags(tcp_flags::ACK)
                .build(),
        ),
        (
            "icmp echo",
            PacketBuilder::icmp4(ip(192, 0, 2, 1), ip(8, 8, 8, 8), 8, 0).build(),
        ),
    ];
    let mut sw = flow.datapath().expect("a packet path");
    for (what, mut frame) in packets {
        let out = sw.process_packet(PortId(0), &mut frame);
        let h = doca_flow::packet::Headers::parse(&frame);
        let dst = match h.l3 {
            doca_flow::packet::L3::Ipv4(v4) => v4.dst.to_string(),
            _ => "-".into(),
        };
        println!(
            "{what:14} -> {:?} (hops {}, modified {}, dst now {dst})",
            out.verdict, out.hops, out.modified
        );
    }
    Ok(())
}
