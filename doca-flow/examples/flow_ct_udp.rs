//! The CT UDP sample on the software backend, after NVIDIA's `flow_ct_udp`.
//!
//! Run: `cargo run -p doca-flow --example flow_ct_udp` (no features, no arguments).
//!
//! A root control pipe sends IPv4 UDP to a CT pipe; the CT pipe's hits go to a pipe that
//! forwards to port 1, its misses to software (RSS queue 0). The first datagram of a flow
//! misses; "software" (this program) adds the connection with both directions, as the
//! sample does with `doca_flow_ct_entry_prepare` + `doca_flow_ct_add_entry`; then the
//! flow's datagrams hit in both directions, counted per direction
//! (`doca_flow_ct_query_entry`), until the connection ages out (`doca_flow_aging_handle`)
//! and is removed (`doca_flow_ct_rm_entry`).

use core::net::Ipv4Addr;

use doca_flow::ct::{CtCfg, CtEntry, CtTuple};
use doca_flow::packet::PacketBuilder;
use doca_flow::{Actions, ControlEntry, Flags, Flow, Fwd, L3Type, L4Type, Match, PortId, Verdict};

mod common;

fn main() -> doca_flow::Result<()> {
    common::run(example)
}

fn example(backend: &common::Backend) -> doca_flow::Result<()> {
    // doca_flow_ct_init comes after doca_flow_init and before any port starts.
    let flow = backend.build(Flow::builder().queues(1).conntrack(CtCfg::default()))?;
    let p0 = flow.start_port(PortId(0), "p0")?;
    let _p1 = flow.start_port(PortId(1), "p1")?;
    let mut q = flow.take_queue(0)?;

    let to_p1 = p0.pipe_builder("FWD_PIPE").control().build()?;
    let _fwd = to_p1.add_entry(
        &mut q,
        ControlEntry::new(0, Match::new(), Fwd::Port(PortId(1))),
    )?;
    let ct = p0
        .pipe_builder("CT_PIPE")
        .ct()
        .nr_entries(1024)
        .fwd(Fwd::pipe(&to_p1))
        .fwd_miss(Fwd::Rss { queues: vec![0] })
        .build()?;
    let root = p0.pipe_builder("CT_ROOT").control().root(true).build()?;
    // IPv4 UDP to the CT pipe, in zone 0 (meta.u32[0]).
    let _root = root.add_entry(
        &mut q,
        ControlEntry::new(
            0,
            Match::new().l3_type(L3Type::Ipv4).l4_type(L4Type::Udp),
            Fwd::pipe(&ct),
        )
        .actions(Actions::new().meta_u32(0, 0)),
    )?;
    p0.entries_process(&mut q, 0)?;

    let (a, b) = (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2));
    let send = |src, dst, sp, dp| {
        let mut f = PacketBuilder::udp4(src, dst, sp, dp).payload(b"x").build();
        flow.datapath()
            .expect("a packet path")
            .process_packet(PortId(0), &mut f)
            .verdict
    };
    let first = send(a, b, 1234, 53);
    println!("first datagram: {first:?} (a miss: software sees it)");
    assert!(matches!(first, Verdict::Rss { .. }));

    // Software decides and adds the connection, both directions.
    let origin = CtTuple::V4 {
        src: a,
        dst: b,
        src_port: 1234,
        dst_port: 53,
        proto: 17,
    };
    let conn = ct.add_entry(&mut q, CtEntry::both_ways(0, origin, 1, 2), Flags::NoWait)?;
    p0.entries_process(&mut q, 0)?;

    for _ in 0..3 {
        assert_eq!(send(a, b, 1234, 53), Verdict::Port(PortId(1)));
    }
    assert_eq!(send(b, a, 53, 1234), Verdict::Port(PortId(1)));
    let c = conn.ct_query()?;
    println!(
        "after the entry: origin {} packets, reply {} packets",
        c.origin.packets, c.reply.packets
    );
    assert_eq!((c.origin.packets, c.reply.packets), (3, 1));

    // Two seconds without a hit: aged; software removes it, and the flow misses again.
    flow.datapath()
        .expect("a packet path")
        .set_time_ns(3_000_000_000);
    let aged = flow.ct_aged(&p0);
    println!("aged: {aged:?}");
    assert_eq!(aged, vec![conn.id()]);
    ct.remove_entry(&mut q, &conn, Flags::NoWait)?;
    p0.entries_process(&mut q, 0)?;
    assert!(matches!(send(a, b, 1234, 53), Verdict::Rss { .. }));
    println!("removed: the flow misses to software again");
    Ok(())
}
