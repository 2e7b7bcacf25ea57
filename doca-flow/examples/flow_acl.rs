//! The ACL sample on the software backend, after NVIDIA's `flow_acl`.
//!
//! Run: `cargo run -p doca-flow --example flow_acl` (no features, no arguments).
//!
//! A root basic pipe ("MAIN_PIPE", IPv4 only, counted) forwards to a non-root ACL pipe whose
//! fwd is changeable per entry and whose misses drop. Four rules show an exact port, any
//! port, a port range (`[value..mask]`) and priorities; the last entry of the batch is
//! posted with `NO_WAIT`, the others with `WAIT_FOR_BATCH`.

use core::net::{IpAddr, Ipv4Addr};

use doca_flow::packet::PacketBuilder;
use doca_flow::{
    AclEntry, BasicEntry, Flags, Flow, Fwd, L3Type, Match, Monitor, PortId, PortRange, Prefix,
};

mod common;

fn main() -> doca_flow::Result<()> {
    common::run(example)
}

fn example(backend: &common::Backend) -> doca_flow::Result<()> {
    let flow = backend.build(Flow::builder().queues(1))?;
    let p0 = flow.start_port(PortId(0), "p0")?;
    let _p1 = flow.start_port(PortId(1), "p1")?;
    let mut q = flow.take_queue(0)?;

    let acl = p0
        .pipe_builder("ACL_PIPE")
        .acl()
        .nr_entries(10)
        .monitor(Monitor::counter())
        .fwd(Fwd::Changeable)
        .fwd_miss(Fwd::Drop)
        .build()?;
    let main_pipe = p0
        .pipe_builder("MAIN_PIPE")
        .root(true)
        .matcher(Match::new().l3_type(L3Type::Ipv4))
        .monitor(Monitor::counter())
        .fwd(Fwd::pipe(&acl))
        .build()?;
    let main_entry = main_pipe.add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait)?;

    let net = |a, b, c, d, len| Prefix::new(IpAddr::from(Ipv4Addr::new(a, b, c, d)), len).unwrap();
    let rules = [
        // 1.2.3.4 -> 8.8.8.8, TCP, dst port exactly 80: allow (to p1).
        AclEntry::new(
            net(1, 2, 3, 4, 32),
            net(8, 8, 8, 8, 32),
            10,
            Fwd::Port(PortId(1)),
        )
        .proto(6)
        .dst_port(PortRange::single(80)),
        // 172.16.0.0/16 -> anywhere, UDP, any port: drop.
        AclEntry::new(net(172, 16, 0, 0, 16), Prefix::ANY_V4, 50, Fwd::Drop).proto(17),
        // Anywhere -> 10.0.0.0/8, TCP, src ports 1000..=2000: allow.
        AclEntry::new(
            Prefix::ANY_V4,
            net(10, 0, 0, 0, 8),
            40,
            Fwd::Port(PortId(1)),
        )
        .proto(6)
        .src_port(PortRange::new(1000, 2000).unwrap()),
        // Anywhere -> 10.1.0.0/16, any protocol: drop, but with a lower priority than rule 3
        // (a higher number), so rule 3 wins where both match.
        AclEntry::new(Prefix::ANY_V4, net(10, 1, 0, 0, 16), 60, Fwd::Drop),
    ];
    let n = rules.len();
    let mut entries = Vec::new();
    for (i, r) in rules.into_iter().enumerate() {
        let (m, k) = r.to_doca()?;
        println!(
            "rule {}: prio {:4}  match src_port={} dst_port={}  mask src_port={} dst_port={}",
            i + 1,
            r.priority,
            m.get(doca_flow::Field::TransportSrcPort),
            m.get(doca_flow::Field::TransportDstPort),
            k.get(doca_flow::Field::TransportSrcPort),
            k.get(doca_flow::Field::TransportDstPort),
        );
        let flags = if i + 1 == n {
            Flags::NoWait
        } else {
            Flags::WaitForBatch
        };
        entries.push(acl.add_entry(&mut q, r, flags)?);
    }
    let done = p0.entries_process(&mut q, 0)?;
    println!(
        "entries_process: {} completions, all ok: {}",
        done.len(),
        done.iter().all(|c| c.error.is_none())
    );

    let ip = Ipv4Addr::new;
    let packets = [
        (
            "tcp 1.2.3.4:5555 -> 8.8.8.8:80",
            PacketBuilder::tcp4(ip(1, 2, 3, 4), ip(8, 8, 8, 8), 5555, 80).build(),
        ),
        (
            "tcp 1.2.3.4:5555 -> 8.8.8.8:81",
            PacketBuilder::tcp4(ip(1, 2, 3, 4), ip(8, 8, 8, 8), 5555, 81).build(),
        ),
        (
            "udp 172.16.9.9:53 -> 9.9.9.9:53",
            PacketBuilder::udp4(ip(172, 16, 9, 9), ip(9, 9, 9, 9), 53, 53).build(),
        ),
        (
            "tcp 5.5.5.5:1500 -> 10.1.2.3:22",
            PacketBuilder::tcp4(ip(5, 5, 5, 5), ip(10, 1, 2, 3), 1500, 22).build(),
        ),
        (
            "tcp 5.5.5.5:3000 -> 10.1.2.3:22",
            PacketBuilder::tcp4(ip(5, 5, 5, 5), ip(10, 1, 2, 3), 3000, 22).build(),
        ),
        (
            "icmp 5.5.5.5 -> 10.1.2.3",
            PacketBuilder::icmp4(ip(5, 5, 5, 5), ip(10, 1, 2, 3), 8, 0).build(),
        ),
    ];
    {
        let mut sw = flow.datapath().expect("a packet path");
        for (what, mut frame) in packets {
            let out = sw.process_packet(PortId(0), &mut frame);
            println!("{what:34} -> {:?}", out.verdict);
        }
    }
    println!("MAIN_PIPE entry counter: {:?}", main_entry.query()?);
    for (i, e) in entries.iter().enumerate() {
        println!("ACL rule {} counter: {:?}", i + 1, e.query()?);
    }
    Ok(())
}
