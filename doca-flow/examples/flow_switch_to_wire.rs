//! Switch-to-wire forwarding on the software backend, after NVIDIA's `flow_switch_to_wire`.
//!
//! Run: `cargo run -p doca-flow --example flow_switch_to_wire` (no features, no arguments).
//!
//! Switch mode: the uplink `p0` is the switch port, `pf0hpf` (the host PF) and `pf0vf0` are
//! its representors. A root pipe on the switch port matches the ingress port and forwards
//! wire -> host (`p0` -> `pf0hpf`) and host -> wire (`pf0hpf` -> `p0`), counting both; an
//! egress pipe on the switch port drops telnet leaving towards the host. Traffic from the VF
//! has no entry and misses to the VF's RSS queues (DOCA's switch-mode default).

use core::net::Ipv4Addr;

use doca_flow::packet::PacketBuilder;
use doca_flow::{BasicEntry, Domain, Field, Flags, Flow, Fwd, Match, Mode, Monitor, PortId};

mod common;

fn main() -> doca_flow::Result<()> {
    common::run(example)
}

fn example(backend: &common::Backend) -> doca_flow::Result<()> {
    let flow = backend.build(Flow::builder().mode(Mode::Switch).queues(4))?;
    let p0 = flow.start_switch_port(PortId(0), "p0")?;
    let pf0hpf = p0.start_representor(PortId(1), "pf0hpf")?;
    let pf0vf0 = p0.start_representor(PortId(2), "pf0vf0")?;
    let mut q = flow.take_queue(0)?;

    let ingress = p0
        .pipe_builder("SWITCH_INGRESS")
        .root(true)
        .matcher(Match::changeable(&[Field::PortId]))
        .monitor(Monitor::counter())
        .fwd(Fwd::Changeable)
        .build()?;
    let to_host = ingress.add_entry(
        &mut q,
        BasicEntry::new(Match::new().port_id(p0.id())).fwd(Fwd::Port(pf0hpf.id())),
        Flags::NoWait,
    )?;
    let to_wire = ingress.add_entry(
        &mut q,
        BasicEntry::new(Match::new().port_id(pf0hpf.id())).fwd(Fwd::Port(p0.id())),
        Flags::NoWait,
    )?;

    let egress = p0
        .pipe_builder("SWITCH_EGRESS")
        .root(true)
        .domain(Domain::Egress)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .monitor(Monitor::counter())
        .fwd(Fwd::Drop)
        .build()?;
    let telnet = egress.add_entry(
        &mut q,
        BasicEntry::new(Match::new().tcp_dst_port(23)),
        Flags::NoWait,
    )?;
    p0.entries_process(&mut q, 0)?;

    let wire = PacketBuilder::tcp4(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        40000,
        443,
    )
    .build();
    let telnet_in = PacketBuilder::tcp4(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        40000,
        23,
    )
    .build();
    let host = PacketBuilder::udp4(
        Ipv4Addr::new(10, 0, 0, 2),
        Ipv4Addr::new(198, 51, 100, 1),
        5000,
        53,
    )
    .build();
    let vf = PacketBuilder::udp4(
        Ipv4Addr::new(10, 0, 0, 3),
        Ipv4Addr::new(198, 51, 100, 1),
        5000,
        53,
    )
    .build();
    let name = |p: PortId| match p.0 {
        0 => "p0",
        1 => "pf0hpf",
        2 => "pf0vf0",
        _ => "?",
    };
    {
        let mut sw = flow.datapath().expect("a packet path");
        for (from, what, mut frame) in [
            (p0.id(), "https from the wire", wire),
            (p0.id(), "telnet from the wire", telnet_in),
            (pf0hpf.id(), "dns from the host", host),
            (pf0vf0.id(), "dns from the vf", vf),
        ] {
            let out = sw.process_packet(from, &mut frame);
            let to = match out.verdict {
                doca_flow::Verdict::Port(p) => format!("sent to {}", name(p)),
                v => format!("{v:?}"),
            };
            println!("{:7} {what:22} -> {to}", name(from));
        }
    }
    println!("wire->host entry: {:?}", to_host.query()?);
    println!("host->wire entry: {:?}", to_wire.query()?);
    println!("egress telnet drop: {:?}", telnet.query()?);
    Ok(())
}
