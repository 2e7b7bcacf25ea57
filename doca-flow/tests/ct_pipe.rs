//! DOCA Flow CT on the sw backend: a CT pipe hits a connection in both directions with
//! each direction's actions and counters, misses everything else (other tuples, other
//! zones, non-TCP/UDP), forgets removed connections, reports aged ones once, and
//! refuses what DOCA refuses. With feature `doca-emu` (root), the same scenarios run on
//! the hardware backend over the DOCA Flow contract emulator, which must record no
//! broken DOCA rule.

use core::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::ct::{CtCfg, CtDirection, CtEntry, CtTuple};
use doca_flow::packet::PacketBuilder;
use doca_flow::{
    Actions, ControlEntry, Error, Flags, Flow, FlowBuilder, Fwd, Match, PortId, Verdict,
};

/// Builds the flow of a scenario on one backend.
type Maker<'a> = &'a dyn Fn(FlowBuilder) -> Flow;
/// A scenario, run with a backend's flow maker.
#[cfg(feature = "doca-emu")]
type Scenario = fn(Maker);

fn sw(b: FlowBuilder) -> Flow {
    b.build().unwrap().into_flow()
}

const ZONE: u32 = 7;
const EST: u32 = 2;

fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, d)
}

/// A root that puts every packet in zone 7 and sends it to the CT pipe; hits go to a
/// pipe that sends `pkt_meta == 2` to port 1; misses go to software (RSS queue 0).
fn setup(
    make: Maker,
    cfg: CtCfg,
) -> (
    Flow,
    doca_flow::Port,
    doca_flow::Port,
    doca_flow::Queue,
    doca_flow::CtPipe,
    Vec<doca_flow::Entry>,
) {
    let flow = make(Flow::builder().queues(2).conntrack(cfg));
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let p1 = flow.start_port(PortId(1), "p1").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let after = p0.pipe_builder("after-ct").control().build().unwrap();
    let mut keep = Vec::new();
    keep.push(
        after
            .add_entry(
                &mut q,
                ControlEntry::new(0, Match::new().pkt_meta(EST), Fwd::Port(PortId(1)))
                    .mask(Match::new().pkt_meta(u32::MAX)),
            )
            .unwrap(),
    );
    // Ignored by a CT pipe (it holds what `cfg` sizes): `holds_what_ct_cfg_sizes`.
    let ct = p0
        .pipe_builder("ct")
        .ct()
        .nr_entries(16)
        .fwd(Fwd::pipe(&after))
        .fwd_miss(Fwd::Rss { queues: vec![0] })
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .unwrap();
    keep.push(
        root.add_entry(
            &mut q,
            ControlEntry::new(0, Match::new(), Fwd::pipe(&ct))
                .actions(Actions::new().meta_u32(0, ZONE)),
        )
        .unwrap(),
    );
    p0.entries_process(&mut q, 0).unwrap();
    (flow, p0, p1, q, ct, keep)
}

fn run(flow: &Flow, mut pkt: Vec<u8>) -> Verdict {
    flow.datapath()
        .unwrap()
        .process_packet(PortId(0), &mut pkt)
        .verdict
}

fn tuple(sport: u16) -> CtTuple {
    CtTuple::V4 {
        src: ip(1),
        dst: ip(2),
        src_port: sport,
        dst_port: 443,
        proto: 6,
    }
}

fn a_connection_hits_both_ways_and_counts_each(make: Maker) {
    let (flow, p0, _p1, mut q, ct, _keep) = setup(make, CtCfg::default());
    let e = ct
        .add_entry(
            &mut q,
            CtEntry::both_ways(ZONE, tuple(40000), EST, 30),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let out = PacketBuilder::tcp4(ip(1), ip(2), 40000, 443).build();
    let back = PacketBuilder::tcp4(ip(2), ip(1), 443, 40000)
        .payload(b"hello")
        .build();
    assert_eq!(run(&flow, out.clone()), Verdict::Port(PortId(1)));
    assert_eq!(run(&flow, back.clone()), Verdict::Port(PortId(1)));
    assert_eq!(run(&flow, back.clone()), Verdict::Port(PortId(1)));
    let c = e.ct_query().unwrap();
    assert_eq!((c.origin.packets, c.reply.packets), (1, 2));
    assert_eq!(c.reply.bytes, 2 * back.len() as u64);
    // Another tuple, and UDP with the same ports, miss to software.
    let other = PacketBuilder::tcp4(ip(1), ip(2), 40001, 443).build();
    assert!(matches!(run(&flow, other), Verdict::Rss { .. }));
    let udp = PacketBuilder::udp4(ip(1), ip(2), 40000, 443).build();
    assert!(matches!(run(&flow, udp), Verdict::Rss { .. }));
    // Removed: both directions miss.
    ct.remove_entry(&mut q, &e, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert!(matches!(run(&flow, out), Verdict::Rss { .. }));
    assert!(matches!(run(&flow, back), Verdict::Rss { .. }));
}

fn zones_and_directions_are_separate(make: Maker) {
    let (flow, p0, _p1, mut q, ct, _keep) = setup(make, CtCfg::default());
    // The connection is in another zone: the root's packets (zone 7) miss it.
    let _e = ct
        .add_entry(
            &mut q,
            CtEntry::both_ways(ZONE + 1, tuple(40000), EST, 30),
            Flags::NoWait,
        )
        .unwrap();
    // Origin only, with its own meta: its replies miss.
    let one_way = CtEntry {
        zone: ZONE,
        origin: tuple(40002),
        reply: None,
        origin_dir: CtDirection {
            pkt_meta: Some(EST),
            counter: true,
        },
        reply_dir: CtDirection::default(),
        timeout_s: 0,
    };
    let _f = ct.add_entry(&mut q, one_way, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let out = PacketBuilder::tcp4(ip(1), ip(2), 40000, 443).build();
    assert!(matches!(run(&flow, out), Verdict::Rss { .. }));
    let out = PacketBuilder::tcp4(ip(1), ip(2), 40002, 443).build();
    assert_eq!(run(&flow, out), Verdict::Port(PortId(1)));
    let back = PacketBuilder::tcp4(ip(2), ip(1), 443, 40002).build();
    assert!(matches!(run(&flow, back), Verdict::Rss { .. }));
}

fn idle_connections_are_reported_aged_once(make: Maker) {
    let (flow, p0, _p1, mut q, ct, _keep) = setup(make, CtCfg::default());
    let e = ct
        .add_entry(
            &mut q,
            CtEntry::both_ways(ZONE, tuple(40000), EST, 2),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let s = |t: u64| flow.datapath().unwrap().set_time_ns(t * 1_000_000_000);
    s(1);
    assert!(flow.ct_aged(&p0).is_empty());
    // A hit at 1 s: aged from 3 s on.
    assert_eq!(
        run(&flow, PacketBuilder::tcp4(ip(1), ip(2), 40000, 443).build()),
        Verdict::Port(PortId(1))
    );
    s(2);
    assert!(flow.ct_aged(&p0).is_empty());
    s(3);
    assert_eq!(flow.ct_aged(&p0), vec![e.id()]);
    assert!(flow.ct_aged(&p0).is_empty(), "reported once");
    assert_eq!(e.ct_query().unwrap().last_hit_ns, 1_000_000_000);
}

fn what_doca_refuses(make: Maker) {
    // No CT configured: no CT pipe.
    {
        let flow = make(Flow::builder());
        let p0 = flow.start_port(PortId(0), "p0").unwrap();
        let r = p0.pipe_builder("ct").ct().fwd(Fwd::Drop).build();
        assert!(matches!(r, Err(Error::Unsupported { .. })), "{r:?}");
    }
    let (flow, _p0, _p1, mut q, ct, _keep) = setup(make, CtCfg::default());
    // ICMP is not tracked by DOCA's CT.
    let icmp = CtTuple::V4 {
        src: ip(1),
        dst: ip(2),
        src_port: 0,
        dst_port: 0,
        proto: 1,
    };
    let r = ct.add_entry(
        &mut q,
        CtEntry::both_ways(ZONE, icmp, EST, 0),
        Flags::NoWait,
    );
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    // IPv6 without IPv6 connections (a BlueField-2).
    let v6 = CtTuple::V6 {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::LOCALHOST,
        src_port: 1,
        dst_port: 2,
        proto: 17,
    };
    let r = ct.add_entry(&mut q, CtEntry::both_ways(ZONE, v6, EST, 0), Flags::NoWait);
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    // A CT pipe is never root and matches nothing of its own.
    let p0 = flow.start_port(PortId(2), "p2").unwrap();
    let r = p0
        .pipe_builder("ct-root")
        .ct()
        .root(true)
        .fwd(Fwd::Drop)
        .build();
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
    let r = p0
        .pipe_builder("ct-match")
        .ct()
        .matcher(Match::new().tcp_dst_port(443))
        .fwd(Fwd::Drop)
        .build();
    assert!(matches!(r, Err(Error::Invalid { .. })), "{r:?}");
}

fn ipv6_connections_with_ipv6_configured(make: Maker) {
    let cfg = CtCfg {
        ipv6_connections: 1024,
        ..CtCfg::default()
    };
    let (flow, p0, _p1, mut q, ct, _keep) = setup(make, cfg);
    let (a, b) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    );
    let t = CtTuple::V6 {
        src: a,
        dst: b,
        src_port: 5353,
        dst_port: 53,
        proto: 17,
    };
    let _e = ct
        .add_entry(&mut q, CtEntry::both_ways(ZONE, t, EST, 0), Flags::NoWait)
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(
        run(&flow, PacketBuilder::udp6(b, a, 53, 5353).build()),
        Verdict::Port(PortId(1))
    );
}

/// A CT pipe holds the connections `CtCfg` sizes, per family, whatever its
/// `nr_entries` (DOCA sizes its CT with `doca_flow_ct_cfg_set_connections`); one more
/// is refused as a full table (sw: `CapacityExceeded`; DOCA: `DOCA_ERROR_FULL`), and a
/// removal makes room again.
fn holds_what_ct_cfg_sizes(make: Maker) {
    let cfg = CtCfg {
        ipv4_connections: 40,
        ipv6_connections: 3,
        ..CtCfg::default()
    };
    let (flow, p0, _p1, mut q, ct, _keep) = setup(make, cfg);
    let full = |r: &doca_flow::Result<doca_flow::Entry>| match r {
        Err(Error::CapacityExceeded { .. }) => true,
        Err(e @ Error::Backend { .. }) => {
            format!("{}", std::error::Error::source(e).unwrap()).contains("DOCA_ERROR_FULL")
        }
        _ => false,
    };
    let mut v4 = Vec::new();
    for i in 0..40u16 {
        let e = ct.add_entry(
            &mut q,
            CtEntry::both_ways(ZONE, tuple(40000 + i), EST, 30),
            Flags::NoWait,
        );
        v4.push(e.unwrap_or_else(|e| panic!("connection {i} of 40: {e}")));
        p0.entries_process(&mut q, 0).unwrap();
    }
    let r = ct.add_entry(
        &mut q,
        CtEntry::both_ways(ZONE, tuple(41000), EST, 30),
        Flags::NoWait,
    );
    assert!(full(&r), "the 41st IPv4 connection: {r:?}");
    // The IPv6 connections are counted apart.
    let v6 = |d: u16| CtTuple::V6 {
        src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
        src_port: 5000 + d,
        dst_port: 53,
        proto: 17,
    };
    let mut kept6 = Vec::new();
    for d in 0..3 {
        let e = ct.add_entry(
            &mut q,
            CtEntry::both_ways(ZONE, v6(d), EST, 0),
            Flags::NoWait,
        );
        kept6.push(e.unwrap_or_else(|e| panic!("IPv6 connection {d} of 3: {e}")));
        p0.entries_process(&mut q, 0).unwrap();
    }
    let r = ct.add_entry(
        &mut q,
        CtEntry::both_ways(ZONE, v6(3), EST, 0),
        Flags::NoWait,
    );
    assert!(full(&r), "the 4th IPv6 connection: {r:?}");
    // A removal makes room for one more.
    let gone = v4.pop().unwrap();
    ct.remove_entry(&mut q, &gone, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let e = ct
        .add_entry(
            &mut q,
            CtEntry::both_ways(ZONE, tuple(41000), EST, 30),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let pkt = PacketBuilder::tcp4(ip(1), ip(2), 41000, 443).build();
    assert_eq!(run(&flow, pkt), Verdict::Port(PortId(1)));
    for e in v4.iter().chain(&kept6).chain([&e]) {
        ct.remove_entry(&mut q, e, Flags::NoWait).unwrap();
        p0.entries_process(&mut q, 0).unwrap();
    }
}

#[test]
fn ct_init_after_a_port_started_is_refused_by_the_backend() {
    // The builder orders the calls itself; the backend checks the order too.
    use doca_flow::Backend;
    use doca_flow::backend::{PortCfg, PortKind};
    let flow = Flow::builder().build().unwrap();
    let mut b = doca_flow::SwBackend::new();
    b.init(flow.cfg()).unwrap();
    b.port_start(&PortCfg {
        id: PortId(0),
        name: "p0".into(),
        kind: PortKind::Plain,
    })
    .unwrap();
    assert!(b.ct_init(&CtCfg::default()).is_err());
}

#[test]
fn on_the_sw_backend() {
    a_connection_hits_both_ways_and_counts_each(&sw);
    zones_and_directions_are_separate(&sw);
    idle_connections_are_reported_aged_once(&sw);
    what_doca_refuses(&sw);
    ipv6_connections_with_ipv6_configured(&sw);
    holds_what_ct_cfg_sizes(&sw);
}

/// The same scenarios through the hardware backend (`doca_flow_ct` through the seam) on
/// the contract emulator: one EAL and one DOCA Flow at a time, so in order.
#[cfg(feature = "doca-emu")]
#[test]
fn on_the_hw_backend_over_the_doca_flow_emulator() {
    use doca_flow::backend::emu;
    let eal = doca_flow::dpdk::Eal::init_without_devices("ct_pipe")
        .expect("EAL init (run as root with DPDK installed)");
    let hw = |b: FlowBuilder| b.build_with(doca_flow::HwBackend::new(&eal)).unwrap();
    emu::reset();
    let scenarios: [(&str, Scenario); 6] = [
        ("hits", a_connection_hits_both_ways_and_counts_each),
        ("zones", zones_and_directions_are_separate),
        ("aging", idle_connections_are_reported_aged_once),
        ("refusals", what_doca_refuses),
        ("ipv6", ipv6_connections_with_ipv6_configured),
        ("capacity", holds_what_ct_cfg_sizes),
    ];
    for (name, scenario) in scenarios {
        scenario(&hw);
        let v = emu::violations();
        assert!(v.is_empty(), "{name}: DOCA rules broken: {v:#?}");
        assert_eq!(emu::census(), emu::Census::default(), "{name}: torn down");
    }
}
