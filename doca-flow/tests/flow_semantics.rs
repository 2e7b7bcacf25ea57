//! One test per documented DOCA Flow rule that the sw backend reproduces.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{Headers, L3, PacketBuilder};
use doca_flow::{
    AclEntry, Actions, BasicEntry, ControlEntry, Counters, Domain, DropReason, EntryStatus, Error,
    Field, Flags, Flow, Fwd, LpmEntry, Match, MeterCfg, MeterLimit, Mode, Monitor, PortId,
    PortRange, Prefix, Verdict,
};

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn tcp(dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    PacketBuilder::tcp4(ip(192, 0, 2, 1), dst, 40000, dport).build()
}

fn udp(dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    PacketBuilder::udp4(ip(192, 0, 2, 1), dst, 40000, dport).build()
}

fn run(flow: &doca_flow::SwFlow, port: u16, mut pkt: Vec<u8>) -> Verdict {
    flow.sw().process_packet(PortId(port), &mut pkt).verdict
}

fn setup() -> (doca_flow::SwFlow, doca_flow::Port, doca_flow::Queue) {
    let flow = Flow::builder().queues(2).build().unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let q = flow.take_queue(0).unwrap();
    (flow, p0, q)
}

const OUT: Fwd = Fwd::Port(PortId(1));

// ---- match model -------------------------------------------------------------------------

#[test]
fn zero_ignores_all_ones_changeable_other_constant() {
    let (flow, p0, mut q) = setup();
    // dst changeable, TCP dst port the constant 443, src ignored (zero).
    let pipe = p0
        .pipe_builder("basic")
        .root(true)
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST).tcp_dst_port(443))
        .fwd(OUT)
        .build()
        .unwrap();
    let _e = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().ipv4_dst(ip(10, 0, 0, 1))),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(
        run(&flow, 0, tcp(ip(10, 0, 0, 1), 443)),
        Verdict::Port(PortId(1))
    );
    // The constant: another port misses.
    assert!(matches!(
        run(&flow, 0, tcp(ip(10, 0, 0, 1), 80)),
        Verdict::Miss { .. }
    ));
    // The changeable field: another dst misses.
    assert!(matches!(
        run(&flow, 0, tcp(ip(10, 0, 0, 2), 443)),
        Verdict::Miss { .. }
    ));
    // A packet without the field (UDP has no TCP port) misses.
    assert!(matches!(
        run(&flow, 0, udp(ip(10, 0, 0, 1), 443)),
        Verdict::Miss { .. }
    ));
}

#[test]
fn per_entry_value_for_constant_field_is_refused() {
    let (_flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("basic")
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST).tcp_dst_port(443))
        .fwd(OUT)
        .build()
        .unwrap();
    let err = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)),
            Flags::NoWait,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ValueForConstantField {
            field: Field::TcpDstPort
        }
    ));
    let err = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().ipv4_src(ip(1, 1, 1, 1))),
            Flags::NoWait,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ValueForConstantField {
            field: Field::Ipv4Src
        }
    ));
}

#[test]
fn explicit_mask_gives_prefix_matching() {
    let (flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("prefix")
        .root(true)
        .matcher(
            Match::new()
                .ipv4_dst(Ipv4Addr::BROADCAST)
                .ipv4_src(ip(192, 0, 0, 0)),
        )
        .match_mask(
            Match::new()
                .prefix(Field::Ipv4Dst, 24)
                .prefix(Field::Ipv4Src, 8),
        )
        .fwd(OUT)
        .build()
        .unwrap();
    let _e = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().ipv4_dst(ip(10, 1, 2, 99))),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    // Entry value is masked to 10.1.2.0/24; src constant 192/8.
    assert_eq!(
        run(&flow, 0, tcp(ip(10, 1, 2, 7), 1)),
        Verdict::Port(PortId(1))
    );
    assert!(matches!(
        run(&flow, 0, tcp(ip(10, 1, 3, 7), 1)),
        Verdict::Miss { .. }
    ));
    let other_src = PacketBuilder::tcp4(ip(193, 0, 2, 1), ip(10, 1, 2, 7), 1, 1).build();
    assert!(matches!(run(&flow, 0, other_src), Verdict::Miss { .. }));
}

// ---- control pipes -----------------------------------------------------------------------

#[test]
fn control_lower_priority_wins_and_ties_keep_insertion_order() {
    let (flow, p0, mut q) = setup();
    let _p1 = flow.start_port(PortId(1), "p1").unwrap();
    let _p2 = flow.start_port(PortId(2), "p2").unwrap();
    let pipe = p0.pipe_builder("ctl").control().root(true).build().unwrap();
    let any_tcp = Match::new().l4_type(doca_flow::L4Type::Tcp);
    let web = Match::new().tcp_dst_port(80);
    let _a = pipe
        .add_entry(
            &mut q,
            ControlEntry::new(10, any_tcp.clone(), Fwd::Port(PortId(1))),
        )
        .unwrap();
    let _b = pipe
        .add_entry(&mut q, ControlEntry::new(5, web, Fwd::Port(PortId(2))))
        .unwrap();
    let _c = pipe
        .add_entry(&mut q, ControlEntry::new(10, any_tcp, Fwd::Drop))
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Port(PortId(2))
    );
    // Priority 10 twice: the first added wins.
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 22)),
        Verdict::Port(PortId(1))
    );
}

#[test]
fn control_entry_mask_matches_bits() {
    let (flow, p0, mut q) = setup();
    let pipe = p0.pipe_builder("ctl").control().root(true).build().unwrap();
    // TCP SYN set, whatever else (flags & 0x02 == 0x02).
    let e = ControlEntry::new(0, Match::new().tcp_flags(0x02), Fwd::Drop)
        .mask(Match::new().tcp_flags(0x02));
    let _e = pipe.add_entry(&mut q, e).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let syn_ack = PacketBuilder::tcp4(ip(1, 1, 1, 1), ip(2, 2, 2, 2), 1, 2)
        .flags(0x12)
        .build();
    let ack = PacketBuilder::tcp4(ip(1, 1, 1, 1), ip(2, 2, 2, 2), 1, 2)
        .flags(0x10)
        .build();
    assert_eq!(run(&flow, 0, syn_ack), Verdict::Drop(DropReason::Fwd));
    assert!(matches!(run(&flow, 0, ack), Verdict::Miss { .. }));
}

// ---- ACL ---------------------------------------------------------------------------------

/// An ACL pipe behind a control root (ACL pipes cannot be root). Both pipes are returned:
/// dropping the last handle of a pipe destroys it.
fn acl_behind_root(
    p0: &doca_flow::Port,
    q: &mut doca_flow::Queue,
) -> (doca_flow::ControlPipe, doca_flow::AclPipe) {
    acl_behind_root_sized(p0, q, 64)
}

fn acl_behind_root_sized(
    p0: &doca_flow::Port,
    q: &mut doca_flow::Queue,
    entries: u32,
) -> (doca_flow::ControlPipe, doca_flow::AclPipe) {
    let acl = p0
        .pipe_builder("acl")
        .acl()
        .nr_entries(entries)
        .fwd_miss(Fwd::Drop)
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .unwrap();
    let e = root
        .add_entry(
            q,
            ControlEntry::new(
                0,
                Match::new().l3_type(doca_flow::L3Type::Ipv4),
                Fwd::pipe(&acl),
            ),
        )
        .unwrap();
    drop(e); // the entry stays installed: dropping a handle does not remove it
    (root, acl)
}

#[test]
fn acl_cannot_be_root_and_priority_is_0_to_1024() {
    let (_flow, p0, mut q) = setup();
    let err = p0.pipe_builder("acl").acl().root(true).build().unwrap_err();
    assert!(matches!(err, Error::AclRoot));
    let acl = p0.pipe_builder("acl").acl().build().unwrap();
    let e = AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 1025, Fwd::Drop);
    assert!(matches!(
        acl.add_entry(&mut q, e, Flags::NoWait),
        Err(Error::PriorityOutOfRange {
            priority: 1025,
            max: 1024
        })
    ));
    let e = AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 1024, Fwd::Drop);
    assert!(acl.add_entry(&mut q, e, Flags::NoWait).is_ok());
}

#[test]
fn acl_port_ranges_prefixes_and_priority() {
    let (flow, p0, mut q) = setup();
    let _p1 = flow.start_port(PortId(1), "p1").unwrap();
    let (_root, acl) = acl_behind_root(&p0, &mut q);
    let allow = AclEntry::new(
        Prefix::new(IpAddr::from(ip(10, 0, 0, 0)), 8).unwrap(),
        Prefix::ANY_V4,
        1,
        Fwd::Port(PortId(1)),
    )
    .proto(6)
    .dst_port(PortRange::new(1000, 2000).unwrap());
    let deny_all = AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 2, Fwd::Drop);
    let _a = acl.add_entry(&mut q, allow, Flags::WaitForBatch).unwrap();
    let _b = acl.add_entry(&mut q, deny_all, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let from10 = |dport| PacketBuilder::tcp4(ip(10, 9, 9, 9), ip(1, 1, 1, 1), 5, dport).build();
    assert_eq!(run(&flow, 0, from10(1000)), Verdict::Port(PortId(1)));
    assert_eq!(run(&flow, 0, from10(2000)), Verdict::Port(PortId(1)));
    assert_eq!(run(&flow, 0, from10(2001)), Verdict::Drop(DropReason::Fwd));
    let other = PacketBuilder::tcp4(ip(11, 0, 0, 1), ip(1, 1, 1, 1), 5, 1500).build();
    assert_eq!(run(&flow, 0, other), Verdict::Drop(DropReason::Fwd));
    // A range rule never matches a packet without ports (a non-first fragment).
    let frag = PacketBuilder::tcp4(ip(10, 9, 9, 9), ip(1, 1, 1, 1), 5, 1500)
        .fragment(10, false)
        .build();
    assert_eq!(run(&flow, 0, frag), Verdict::Drop(DropReason::Fwd));
}

/// A batch of at least `ACL_OPTIMIZE_MIN_OPS` ACL changes in one `entries_process` puts
/// the pipe on RFC tables; a few single changes keep them (combined with the changes);
/// more insertions than the tables combine put the pipe back on its trees; answers stay
/// the same throughout, and the same as a backend with the tables turned off.
#[test]
fn acl_batches_get_rfc_tables_and_answers_do_not_change() {
    let n = doca_flow::ACL_OPTIMIZE_MIN_OPS as u8 + 36;
    // Rule i: sources 10.i.0.0/16 to destination port 1000 + i; every third drops; a
    // catch-all for TCP at the lowest priority.
    let build = |optimize: bool| {
        let flow = Flow::builder().queues(2).build().unwrap();
        if !optimize {
            flow.sw().set_acl_optimize(None);
        }
        let p0 = flow.start_port(PortId(0), "p0").unwrap();
        let p1 = flow.start_port(PortId(1), "p1").unwrap();
        let mut q = flow.take_queue(0).unwrap();
        let (root, acl) = acl_behind_root_sized(&p0, &mut q, 256);
        let mut entries = Vec::new();
        for i in 0..n {
            let fwd = if i % 3 == 0 { Fwd::Drop } else { OUT };
            let e = AclEntry::new(
                Prefix::new(IpAddr::from(ip(10, i, 0, 0)), 16).unwrap(),
                Prefix::ANY_V4,
                u32::from(i) + 1,
                fwd,
            )
            .proto(6)
            .dst_port(PortRange::single(1000 + u16::from(i)));
            entries.push(acl.add_entry(&mut q, e, Flags::WaitForBatch).unwrap());
        }
        let tcp_any = AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 1000, OUT).proto(6);
        entries.push(acl.add_entry(&mut q, tcp_any, Flags::WaitForBatch).unwrap());
        p0.entries_process(&mut q, 0).unwrap();
        (flow, p0, p1, q, root, acl, entries)
    };
    let (fast, p0, _p1, mut q, _root, acl, entries) = build(true);
    let (slow, p0s, _p1s, mut qs, _roots, acls, entries_s) = build(false);
    assert!(fast.sw().acl_optimized(acl.id()), "a batch of {n} adds");
    assert!(!slow.sw().acl_optimized(acls.id()), "optimize turned off");
    let frames: Vec<Vec<u8>> = (0..n + 4)
        .flat_map(|i| {
            let src = ip(10, i, 1, 2);
            [
                PacketBuilder::tcp4(src, ip(1, 1, 1, 1), 5, 1000 + u16::from(i)).build(),
                PacketBuilder::tcp4(src, ip(1, 1, 1, 1), 5, 999).build(),
                PacketBuilder::udp4(src, ip(1, 1, 1, 1), 5, 1000 + u16::from(i)).build(),
                PacketBuilder::tcp4(src, ip(1, 1, 1, 1), 5, 1000 + u16::from(i))
                    .fragment(10, false)
                    .build(),
            ]
        })
        .collect();
    let same = |what: &str| {
        let mut forwarded = [0usize; 2];
        for f in &frames {
            let a = run(&fast, 0, f.clone());
            assert_eq!(a, run(&slow, 0, f.clone()), "{what}: {f:02x?}");
            forwarded[usize::from(a == OUT_VERDICT)] += 1;
        }
        // Both outcomes occur: the frames reach rules that drop and rules that forward.
        assert!(
            forwarded[0] > 0 && forwarded[1] > 0,
            "{what}: {forwarded:?}"
        );
    };
    same("RFC tables");
    // Rule 3 (drops its port) goes: the tables stay, and answer its packets by the
    // rules left (the tables' own answer was removed).
    acl.remove_entry(&mut q, &entries[3], Flags::NoWait)
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    acls.remove_entry(&mut qs, &entries_s[3], Flags::NoWait)
        .unwrap();
    p0s.entries_process(&mut qs, 0).unwrap();
    assert!(
        fast.sw().acl_optimized(acl.id()),
        "one change keeps the tables"
    );
    let f = PacketBuilder::tcp4(ip(10, 3, 1, 2), ip(1, 1, 1, 1), 5, 1003).build();
    assert_eq!(
        run(&fast, 0, f),
        OUT_VERDICT,
        "rule 3 gone: the catch-all forwards"
    );
    same("tables after one removal");
    // Rules inserted one at a time, above everything (priority 0): source 10.i.0.0/16,
    // any port, dropping, for sources the frames use. Each is answered beside the
    // tables until there are more than the tables combine (8), then by the trees.
    let mut optimized_after = Vec::new();
    for i in 0..10u8 {
        let e = AclEntry::new(
            Prefix::new(IpAddr::from(ip(10, 2 * i + 1, 0, 0)), 16).unwrap(),
            Prefix::ANY_V4,
            0,
            Fwd::Drop,
        )
        .proto(6);
        let _added = acl.add_entry(&mut q, e.clone(), Flags::NoWait).unwrap();
        p0.entries_process(&mut q, 0).unwrap();
        let _added_s = acls.add_entry(&mut qs, e, Flags::NoWait).unwrap();
        p0s.entries_process(&mut qs, 0).unwrap();
        optimized_after.push(fast.sw().acl_optimized(acl.id()));
        same(&format!("{} rules inserted", i + 1));
    }
    assert_eq!(
        optimized_after,
        [true, true, true, true, true, true, true, true, false, false],
        "the tables answer beside up to 8 inserted rules"
    );
    let f = PacketBuilder::tcp4(ip(10, 1, 1, 2), ip(1, 1, 1, 1), 5, 1001).build();
    assert_eq!(
        run(&fast, 0, f),
        Verdict::Drop(DropReason::Fwd),
        "an inserted rule outranks rule 1"
    );
}

const OUT_VERDICT: Verdict = Verdict::Port(PortId(1));

#[test]
fn acl_range_encoding_is_low_in_match_high_in_mask() {
    let e = AclEntry::new(
        Prefix::ANY_V4,
        Prefix::new(IpAddr::from(ip(10, 0, 0, 0)), 16).unwrap(),
        0,
        Fwd::Drop,
    )
    .src_port(PortRange::new(100, 200).unwrap())
    .dst_port(PortRange::single(53));
    let (m, k) = e.to_doca().unwrap();
    assert_eq!(m.get(Field::TransportSrcPort), 100);
    assert_eq!(k.get(Field::TransportSrcPort), 200);
    assert_eq!(m.get(Field::TransportDstPort), 53);
    assert_eq!(k.get(Field::TransportDstPort), 53);
    assert_eq!(k.get(Field::Ipv4Dst), 0xffff_0000);
    assert_eq!(k.get(Field::Ipv4Src), 0);
}

#[test]
fn acl_ipv6() {
    let flow = Flow::builder().build().unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let acl = p0
        .pipe_builder("acl6")
        .acl()
        .acl_family(doca_flow::net::Family::Ipv6)
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .unwrap();
    let _r = root
        .add_entry(&mut q, ControlEntry::new(0, Match::new(), Fwd::pipe(&acl)))
        .unwrap();
    let net: Ipv6Addr = "2001:db8::".parse().unwrap();
    let _e = acl
        .add_entry(
            &mut q,
            AclEntry::new(
                Prefix::ANY_V6,
                Prefix::new(IpAddr::from(net), 32).unwrap(),
                0,
                Fwd::Kernel,
            ),
            Flags::NoWait,
        )
        .unwrap();
    assert!(matches!(
        acl.add_entry(
            &mut q,
            AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 0, Fwd::Drop),
            Flags::NoWait
        ),
        Err(Error::Invalid { .. })
    ));
    p0.entries_process(&mut q, 0).unwrap();
    let pkt = PacketBuilder::udp6(
        "2001:db9::1".parse().unwrap(),
        "2001:db8::5".parse().unwrap(),
        1,
        2,
    )
    .build();
    assert_eq!(run(&flow, 0, pkt), Verdict::Kernel);
    let pkt = PacketBuilder::udp6(
        "2001:db9::1".parse().unwrap(),
        "2001:db9::5".parse().unwrap(),
        1,
        2,
    )
    .build();
    assert_eq!(run(&flow, 0, pkt), Verdict::Drop(DropReason::Miss));
}

// ---- LPM -----------------------------------------------------------------------------------

#[test]
fn lpm_longest_prefix_wins() {
    let (flow, p0, mut q) = setup();
    for i in 1..=3 {
        std::mem::forget(flow.start_port(PortId(i), "px").unwrap());
    }
    let lpm = p0
        .pipe_builder("lpm")
        .lpm()
        .root(true)
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        .fwd(Fwd::Changeable)
        .build()
        .unwrap();
    let add = |q: &mut doca_flow::Queue, a: Ipv4Addr, len: u8, port: u16| {
        lpm.add_entry(
            q,
            LpmEntry::new(
                Match::new().ipv4_dst(a),
                Match::new().prefix(Field::Ipv4Dst, len),
            )
            .fwd(Fwd::Port(PortId(port))),
            Flags::NoWait,
        )
        .unwrap()
    };
    let _a = add(&mut q, ip(10, 0, 0, 0), 8, 1);
    let _b = add(&mut q, ip(10, 1, 0, 0), 16, 2);
    let _c = add(&mut q, ip(10, 1, 2, 0), 24, 3);
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(
        run(&flow, 0, tcp(ip(10, 1, 2, 3), 1)),
        Verdict::Port(PortId(3))
    );
    assert_eq!(
        run(&flow, 0, tcp(ip(10, 1, 9, 3), 1)),
        Verdict::Port(PortId(2))
    );
    assert_eq!(
        run(&flow, 0, tcp(ip(10, 9, 9, 3), 1)),
        Verdict::Port(PortId(1))
    );
    assert!(matches!(
        run(&flow, 0, tcp(ip(11, 0, 0, 1), 1)),
        Verdict::Miss { .. }
    ));
}

// ---- miss chains, roots, domains ---------------------------------------------------------

#[test]
fn miss_follows_fwd_miss_then_defaults() {
    let (flow, p0, mut q) = setup();
    let last = p0
        .pipe_builder("last")
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Port(PortId(1)))
        .miss_counter(true)
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .root(true)
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        .fwd(Fwd::Kernel)
        .fwd_miss(Fwd::pipe(&last))
        .build()
        .unwrap();
    let _r = root
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().ipv4_dst(ip(9, 9, 9, 9))),
            Flags::NoWait,
        )
        .unwrap();
    let _l = last
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(22)),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(run(&flow, 0, tcp(ip(9, 9, 9, 9), 1)), Verdict::Kernel);
    // Root miss -> fwd_miss -> hit in `last`.
    assert_eq!(
        run(&flow, 0, tcp(ip(8, 8, 8, 8), 22)),
        Verdict::Port(PortId(1))
    );
    // Root miss -> `last` misses too; a non-root pipe without fwd_miss drops.
    assert_eq!(
        run(&flow, 0, tcp(ip(8, 8, 8, 8), 23)),
        Verdict::Drop(DropReason::Miss)
    );
    assert_eq!(
        last.query_miss().unwrap(),
        Counters {
            packets: 1,
            bytes: tcp(ip(8, 8, 8, 8), 23).len() as u64
        }
    );
}

#[test]
fn root_miss_without_fwd_miss_goes_to_rss() {
    let (flow, p0, _q) = setup();
    // No root at all: DOCA's default miss (the port's RSS queues).
    assert!(matches!(run(&flow, 0, tcp(ip(1, 2, 3, 4), 1)), Verdict::Miss { queue } if queue < 2));
    let _root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .unwrap();
    assert!(matches!(
        run(&flow, 0, tcp(ip(1, 2, 3, 4), 1)),
        Verdict::Miss { .. }
    ));
}

#[test]
fn one_root_per_port_and_domain() {
    let (_flow, p0, _q) = setup();
    let _r = p0
        .pipe_builder("r1")
        .root(true)
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let err = p0
        .pipe_builder("r2")
        .root(true)
        .fwd(Fwd::Drop)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::RootExists {
            port: 0,
            domain: "ingress"
        }
    ));
    // The egress domain has its own root.
    let eg = p0
        .pipe_builder("e1")
        .root(true)
        .domain(Domain::Egress)
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    drop(eg);
    // Destroying a root frees the slot.
    drop(_r);
    assert!(
        p0.pipe_builder("r3")
            .root(true)
            .fwd(Fwd::Drop)
            .build()
            .is_ok()
    );
}

#[test]
fn non_root_pipes_are_reached_only_by_fwd_and_roots_are_not_targets() {
    let (flow, p0, _q) = setup();
    let _lonely = p0
        .pipe_builder("nonroot")
        .fwd(Fwd::Port(PortId(1)))
        .build()
        .unwrap();
    assert!(matches!(
        run(&flow, 0, tcp(ip(1, 2, 3, 4), 1)),
        Verdict::Miss { .. }
    ));
    let root = p0
        .pipe_builder("root")
        .root(true)
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let err = p0
        .pipe_builder("x")
        .fwd(Fwd::pipe(&root))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::FwdNotAllowed { fwd: "pipe", .. }));
}

#[test]
fn egress_pipes_see_packets_forwarded_to_their_port() {
    let (flow, p0, mut q) = setup();
    let p1 = flow.start_port(PortId(1), "p1").unwrap();
    let ingress = p0
        .pipe_builder("in")
        .root(true)
        .fwd(Fwd::Port(PortId(1)))
        .build()
        .unwrap();
    // A basic pipe with no match fields still needs one (empty) entry to hit.
    let _all = ingress
        .add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait)
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let eg = p1
        .pipe_builder("eg")
        .root(true)
        .domain(Domain::Egress)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let _e = eg
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(23)),
            Flags::NoWait,
        )
        .unwrap();
    p1.entries_process(&mut q, 0).unwrap();
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 23)),
        Verdict::Drop(DropReason::Fwd)
    );
    // An egress root miss leaves through the port.
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Port(PortId(1))
    );
    // Egress pipes cannot send to software.
    let err = p1
        .pipe_builder("x")
        .domain(Domain::Egress)
        .fwd(Fwd::Kernel)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::FwdNotAllowed { fwd: "kernel", .. }));
}

#[test]
fn fwd_types_the_pipe_type_does_not_allow() {
    let (_flow, p0, _q) = setup();
    let err = p0
        .pipe_builder("c")
        .control()
        .fwd(Fwd::Drop)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::FwdNotAllowed { fwd: "drop", .. }));
    let err = p0.pipe_builder("b").build().unwrap_err();
    assert!(matches!(err, Error::Invalid { what: "fwd", .. }));
    let err = p0
        .pipe_builder("b")
        .fwd(Fwd::Drop)
        .fwd_miss(Fwd::Changeable)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::FwdNotAllowed {
            fwd: "changeable",
            ..
        }
    ));
    let err = p0
        .pipe_builder("b")
        .fwd(Fwd::Rss { queues: vec![7] })
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            what: "rss queues",
            ..
        }
    ));
}

#[test]
fn changeable_fwd_is_per_entry() {
    let (flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("b")
        .root(true)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Changeable)
        .build()
        .unwrap();
    let m = |p| Match::new().tcp_dst_port(p);
    assert!(matches!(
        pipe.add_entry(&mut q, BasicEntry::new(m(1)), Flags::NoWait),
        Err(Error::MissingEntryFwd)
    ));
    let _a = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(m(1)).fwd(Fwd::Rss { queues: vec![1] }),
            Flags::NoWait,
        )
        .unwrap();
    let _b = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(m(2)).fwd(Fwd::Kernel),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)),
        Verdict::Rss { queue: 1 }
    );
    assert_eq!(run(&flow, 0, tcp(ip(1, 1, 1, 1), 2)), Verdict::Kernel);
    // A fixed pipe fwd refuses entry fwds.
    let fixed = p0
        .pipe_builder("f")
        .matcher(m(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    assert!(matches!(
        fixed.add_entry(
            &mut q,
            BasicEntry::new(m(1)).fwd(Fwd::Kernel),
            Flags::NoWait
        ),
        Err(Error::FwdNotAllowed { .. })
    ));
}

// ---- async entries -----------------------------------------------------------------------

#[test]
fn entry_is_active_only_after_its_queue_was_processed() {
    let (flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("b")
        .root(true)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let e = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)),
            Flags::NoWait,
        )
        .unwrap();
    assert_eq!(e.status(), EntryStatus::InProcess);
    assert!(!e.is_installed());
    assert!(matches!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Miss { .. }
    ));
    // Processing another queue does not complete it.
    let mut q1 = flow.take_queue(1).unwrap();
    assert!(p0.entries_process(&mut q1, 0).unwrap().is_empty());
    let done = p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, EntryStatus::Success);
    assert_eq!(e.status(), EntryStatus::Success);
    assert!(e.is_installed());
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Drop(DropReason::Fwd)
    );
    // Removal is async too.
    pipe.remove_entry(&mut q, &e, Flags::NoWait).unwrap();
    assert_eq!(e.status(), EntryStatus::InProcess);
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Drop(DropReason::Fwd)
    );
    let done = p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(done[0].op, doca_flow::EntryOp::Remove);
    assert!(!e.is_installed());
    assert!(matches!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Miss { .. }
    ));
}

#[test]
fn failed_add_reports_error_and_is_never_installed() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let flow = Flow::builder()
        .entry_process_cb(move |c| s2.lock().unwrap().push(*c))
        .build()
        .unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let pipe = p0
        .pipe_builder("b")
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let a = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)),
            Flags::NoWait,
        )
        .unwrap();
    let dup = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(a.status(), EntryStatus::Success);
    assert_eq!(dup.status(), EntryStatus::Error);
    assert!(!dup.is_installed());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].status, EntryStatus::Error);
    assert_eq!(
        seen[1].error,
        Some(doca_flow::backend::EntryError::Duplicate)
    );
}

#[test]
fn full_queue_is_a_typed_error_the_caller_can_act_on() {
    let flow = Flow::builder().queue_depth(2).build().unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let pipe = p0
        .pipe_builder("b")
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let add = |q: &mut doca_flow::Queue, p| {
        pipe.add_entry(
            q,
            BasicEntry::new(Match::new().tcp_dst_port(p)),
            Flags::WaitForBatch,
        )
    };
    let _a = add(&mut q, 1).unwrap();
    let _b = add(&mut q, 2).unwrap();
    assert!(matches!(
        add(&mut q, 3),
        Err(Error::QueueFull { queue: 0, depth: 2 })
    ));
    p0.entries_process(&mut q, 0).unwrap();
    let _c = add(&mut q, 3).unwrap();
    // A queue is held by one owner at a time.
    assert!(matches!(
        flow.take_queue(0),
        Err(Error::Queue { queue: 0, .. })
    ));
    assert!(matches!(
        flow.take_queue(9),
        Err(Error::Queue { queue: 9, .. })
    ));
}

#[test]
fn capacity_is_enforced() {
    let (_flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("b")
        .nr_entries(2)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let add = |q: &mut doca_flow::Queue, p| {
        pipe.add_entry(
            q,
            BasicEntry::new(Match::new().tcp_dst_port(p)),
            Flags::NoWait,
        )
    };
    let a = add(&mut q, 1).unwrap();
    let _b = add(&mut q, 2).unwrap();
    assert!(matches!(
        add(&mut q, 3),
        Err(Error::CapacityExceeded {
            what: "pipe entries",
            limit: 2
        })
    ));
    p0.entries_process(&mut q, 0).unwrap();
    pipe.remove_entry(&mut q, &a, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert!(add(&mut q, 3).is_ok());
}

// ---- monitor -----------------------------------------------------------------------------

#[test]
fn counters_count_packets_and_bytes() {
    let (flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("b")
        .root(true)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .monitor(Monitor::counter())
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let e = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let pkt = tcp(ip(1, 1, 1, 1), 80);
    let n = pkt.len() as u64;
    for _ in 0..3 {
        run(&flow, 0, pkt.clone());
    }
    run(&flow, 0, tcp(ip(1, 1, 1, 1), 81));
    assert_eq!(
        e.query().unwrap(),
        Counters {
            packets: 3,
            bytes: 3 * n
        }
    );
}

#[test]
fn counter_pool_is_limited() {
    let flow = Flow::builder().counters(1).build().unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let pipe = p0
        .pipe_builder("b")
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .monitor(Monitor::counter())
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let _a = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(1)),
            Flags::NoWait,
        )
        .unwrap();
    assert!(matches!(
        pipe.add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(2)),
            Flags::NoWait
        ),
        Err(Error::CapacityExceeded {
            what: "counters",
            limit: 1
        })
    ));
}

#[test]
fn meter_drops_red_packets_with_explicit_time() {
    let (flow, p0, mut q) = setup();
    let meter = MeterCfg {
        limit: MeterLimit::Packets,
        cir: 1,
        cbs: 2,
    };
    let pipe = p0
        .pipe_builder("b")
        .root(true)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .monitor(Monitor::counter().with_meter(meter))
        .fwd(Fwd::Port(PortId(1)))
        .build()
        .unwrap();
    let e = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let pkt = tcp(ip(1, 1, 1, 1), 80);
    let verdicts: Vec<_> = (0..3).map(|_| run(&flow, 0, pkt.clone())).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Port(PortId(1)),
            Verdict::Port(PortId(1)),
            Verdict::Drop(DropReason::Meter)
        ]
    );
    flow.sw().set_time_ns(1_000_000_000);
    assert_eq!(run(&flow, 0, pkt.clone()), Verdict::Port(PortId(1)));
    assert_eq!(run(&flow, 0, pkt), Verdict::Drop(DropReason::Meter));
    assert_eq!(e.query().unwrap().packets, 5);
}

// ---- actions -----------------------------------------------------------------------------

#[test]
fn modify_actions_rewrite_headers_and_meta() {
    let (flow, p0, mut q) = setup();
    let next = p0
        .pipe_builder("by-meta")
        .matcher(Match::new().pkt_meta(u32::MAX))
        .fwd(Fwd::Port(PortId(1)))
        .build()
        .unwrap();
    let pipe = p0
        .pipe_builder("nat")
        .root(true)
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        // Template: dst address and dst port changeable per entry (all ones); constants:
        // decrement the TTL, set pkt_meta 7.
        .actions(
            Actions::new()
                .dec_ttl()
                .pkt_meta(7)
                .ipv4_dst(Ipv4Addr::BROADCAST)
                .l4_dst_port(u16::MAX),
        )
        .fwd(Fwd::pipe(&next))
        .build()
        .unwrap();
    let e = BasicEntry::new(Match::new().ipv4_dst(ip(203, 0, 113, 1)))
        .actions(Actions::new().ipv4_dst(ip(10, 0, 0, 1)).l4_dst_port(8080));
    let _e = pipe.add_entry(&mut q, e, Flags::NoWait).unwrap();
    let _n = next
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().pkt_meta(7)),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let mut pkt = PacketBuilder::tcp4(ip(192, 0, 2, 1), ip(203, 0, 113, 1), 40000, 80)
        .ttl(64)
        .build();
    let out = flow.sw().process_packet(PortId(0), &mut pkt);
    assert_eq!(out.verdict, Verdict::Port(PortId(1)));
    assert!(out.modified);
    assert_eq!(out.meta.pkt_meta, 7);
    let h = Headers::parse(&pkt);
    let L3::Ipv4(v4) = h.l3 else { panic!("ipv4") };
    assert_eq!(v4.dst, ip(10, 0, 0, 1));
    assert_eq!(v4.ttl, 63);
    assert_eq!(h.dst_port(), Some(8080));
    // Checksums stay valid: the builder's frame for the rewritten packet is byte-identical.
    let expect = PacketBuilder::tcp4(ip(192, 0, 2, 1), ip(10, 0, 0, 1), 40000, 8080)
        .ttl(63)
        .build();
    assert_eq!(pkt, expect);
}

// ---- ports -------------------------------------------------------------------------------

#[test]
fn a_port_with_live_pipes_cannot_stop() {
    let (_flow, p0, _q) = setup();
    let pipe = p0.pipe_builder("b").fwd(Fwd::Drop).build().unwrap();
    let p0b = _flow.start_port(PortId(5), "p5").unwrap();
    let _pipe5 = p0b.pipe_builder("b").fwd(Fwd::Drop).build().unwrap();
    assert!(matches!(
        p0b.stop(),
        Err(Error::PortBusy { port: 5, live: 1 })
    ));
    drop(pipe);
    assert!(p0.stop().is_ok());
}

#[test]
fn switch_mode_representors_share_the_switch_pipes() {
    let flow = Flow::builder().mode(Mode::Switch).build().unwrap();
    let p0 = flow.start_switch_port(PortId(0), "p0").unwrap();
    let hpf = p0.start_representor(PortId(1), "pf0hpf").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    assert!(matches!(
        hpf.pipe_builder("x").fwd(Fwd::Drop).build(),
        Err(Error::Mismatch(_))
    ));
    assert!(matches!(
        flow.start_port(PortId(3), "p3"),
        Err(Error::Invalid { .. })
    ));
    let root = p0
        .pipe_builder("switch")
        .root(true)
        .matcher(Match::changeable(&[Field::PortId]))
        .fwd(Fwd::Changeable)
        .build()
        .unwrap();
    let _a = root
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().port_id(PortId(0))).fwd(Fwd::Port(PortId(1))),
            Flags::NoWait,
        )
        .unwrap();
    let _b = root
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().port_id(PortId(1))).fwd(Fwd::Port(PortId(0))),
            Flags::NoWait,
        )
        .unwrap();
    // Processing through a representor completes the switch port's queue work.
    assert_eq!(hpf.entries_process(&mut q, 0).unwrap().len(), 2);
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)),
        Verdict::Port(PortId(1))
    );
    assert_eq!(
        run(&flow, 1, tcp(ip(1, 1, 1, 1), 1)),
        Verdict::Port(PortId(0))
    );
    // The switch port is held by its representor.
    assert_eq!(p0.holders(), 2);
}

#[test]
fn hash_pipe_spreads_by_hash_of_fields() {
    let (flow, p0, mut q) = setup();
    for i in 1..=4 {
        std::mem::forget(flow.start_port(PortId(i), "px").unwrap());
    }
    let pipe = p0
        .pipe_builder("hash")
        .hash()
        .root(true)
        .nr_entries(4)
        .matcher(
            Match::new()
                .ipv4_src(Ipv4Addr::BROADCAST)
                .tcp_src_port(u16::MAX),
        )
        .fwd(Fwd::Changeable)
        .build()
        .unwrap();
    let _es: Vec<_> = (0..4)
        .map(|i| {
            pipe.add_entry(
                &mut q,
                doca_flow::HashEntry::new(i).fwd(Fwd::Port(PortId(i as u16 + 1))),
                Flags::NoWait,
            )
            .unwrap()
        })
        .collect();
    p0.entries_process(&mut q, 0).unwrap();
    let mut seen = std::collections::HashSet::new();
    for sport in 0..64u16 {
        let pkt = PacketBuilder::tcp4(ip(10, 0, 0, 1), ip(1, 1, 1, 1), 1000 + sport, 80).build();
        let v = run(&flow, 0, pkt.clone());
        assert_eq!(v, run(&flow, 0, pkt), "deterministic");
        seen.insert(v);
    }
    assert_eq!(seen.len(), 4);
}

// ---- ownership -------------------------------------------------------------------------------

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Flow>();
    check::<doca_flow::Port>();
    check::<doca_flow::Pipe>();
    check::<doca_flow::Entry>();
    check::<doca_flow::Queue>();
}

#[test]
fn dropping_the_last_pipe_handle_destroys_it_but_fwd_targets_stay_alive() {
    let (flow, p0, mut q) = setup();
    let target = p0.pipe_builder("target").fwd(Fwd::Kernel).build().unwrap();
    let _t = target
        .add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait)
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .root(true)
        .fwd(Fwd::pipe(&target))
        .build()
        .unwrap();
    let e = root
        .add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait)
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    drop(target); // the root's fwd keeps it alive
    assert_eq!(run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)), Verdict::Kernel);
    drop(root); // the entry handle still holds the root
    assert_eq!(run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)), Verdict::Kernel);
    drop(e); // last holder: root destroyed, and with it its entries
    assert!(matches!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)),
        Verdict::Miss { .. }
    ));
    // The root slot is free again.
    assert!(
        p0.pipe_builder("root2")
            .root(true)
            .fwd(Fwd::Drop)
            .build()
            .is_ok()
    );
}

#[test]
fn update_changes_fwd_after_processing() {
    let (flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("b")
        .root(true)
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Changeable)
        .build()
        .unwrap();
    let e = pipe
        .add_entry(
            &mut q,
            BasicEntry::new(Match::new().tcp_dst_port(80)).fwd(Fwd::Drop),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    pipe.update_entry(&mut q, &e, None, None, Some(Fwd::Kernel), Flags::NoWait)
        .unwrap();
    assert_eq!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)),
        Verdict::Drop(DropReason::Fwd)
    );
    let done = p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(done[0].op, doca_flow::EntryOp::Update);
    assert_eq!(run(&flow, 0, tcp(ip(1, 1, 1, 1), 80)), Verdict::Kernel);
}

#[test]
fn calc_hash_predicts_the_bucket() {
    let (flow, p0, mut q) = setup();
    let _p1 = flow.start_port(PortId(1), "p1").unwrap();
    let pipe = p0
        .pipe_builder("hash")
        .hash()
        .root(true)
        .nr_entries(16)
        .match_mask(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        .fwd(Fwd::Changeable)
        .build()
        .unwrap();
    let dst = ip(10, 7, 7, 7);
    let bucket = pipe.calc_hash(&Match::new().ipv4_dst(dst)).unwrap();
    assert!(bucket < 16);
    let _e = pipe
        .add_entry(
            &mut q,
            doca_flow::HashEntry::new(bucket).fwd(Fwd::Port(PortId(1))),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(run(&flow, 0, tcp(dst, 1)), Verdict::Port(PortId(1)));
    let other = p0.pipe_builder("b").fwd(Fwd::Drop).build().unwrap();
    assert!(matches!(
        other.calc_hash(&Match::new()),
        Err(Error::WrongPipeType { .. })
    ));
}

#[test]
fn fwd_to_a_pipe_of_another_port_is_refused() {
    let (flow, p0, _q) = setup();
    let p1 = flow.start_port(PortId(1), "p1").unwrap();
    let theirs = p1.pipe_builder("p1-pipe").fwd(Fwd::Drop).build().unwrap();
    let err = p0
        .pipe_builder("x")
        .fwd(Fwd::pipe(&theirs))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Mismatch(_)));
    let eg = p0
        .pipe_builder("eg")
        .domain(Domain::Egress)
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let err = p0
        .pipe_builder("y")
        .fwd(Fwd::pipe(&eg))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::FwdNotAllowed { fwd: "pipe", .. }));
}

#[test]
fn entries_of_the_wrong_kind_are_refused() {
    let (_flow, p0, mut q) = setup();
    let ctl = p0.pipe_builder("c").control().build().unwrap();
    // A basic entry on a control pipe: a compile error on the typed handle (see
    // `TypedPipe`), and refused at run time on the untyped one.
    assert!(matches!(
        ctl.pipe().add_any(
            &mut q,
            doca_flow::AnyEntry::Basic(BasicEntry::new(Match::new())),
            Flags::NoWait
        ),
        Err(Error::WrongPipeType {
            entry: "basic",
            pipe: "control"
        })
    ));
    let err = p0
        .pipe_builder("lpm")
        .lpm()
        .matcher(
            Match::new()
                .ipv4_dst(Ipv4Addr::BROADCAST)
                .ipv4_src(Ipv4Addr::BROADCAST),
        )
        .fwd(Fwd::Drop)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            what: "lpm pipe match",
            ..
        }
    ));
}

#[test]
fn update_miss_redirects_misses_at_once() {
    let (flow, p0, _q) = setup();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .unwrap();
    assert!(matches!(
        run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)),
        Verdict::Miss { .. }
    ));
    root.update_miss(Fwd::Kernel).unwrap();
    assert_eq!(run(&flow, 0, tcp(ip(1, 1, 1, 1), 1)), Verdict::Kernel);
    assert!(matches!(
        root.update_miss(Fwd::Changeable),
        Err(Error::FwdNotAllowed { .. })
    ));
    let other = p0.pipe_builder("o").fwd(Fwd::Drop).build().unwrap();
    assert!(matches!(
        other.update_miss(Fwd::pipe(&other)),
        Err(Error::FwdNotAllowed { .. })
    ));
}

#[test]
fn vlan_ipv6_and_parser_meta_fields_match() {
    let (flow, p0, mut q) = setup();
    for i in 1..=4 {
        std::mem::forget(flow.start_port(PortId(i), "px").unwrap());
    }
    let ctl = p0.pipe_builder("ctl").control().root(true).build().unwrap();
    let vid = |v: u16| {
        ControlEntry::new(0, Match::new().vlan0_tci(v), Fwd::Port(PortId(1)))
            .mask(Match::new().vlan0_tci(0x0fff))
    };
    let frag = ControlEntry::new(1, Match::new().fragmented(1), Fwd::Port(PortId(2)));
    let v6 = ControlEntry::new(
        2,
        Match::new().ipv6_dst("2001:db8::1".parse().unwrap()),
        Fwd::Port(PortId(3)),
    );
    let icmp = ControlEntry::new(
        3,
        Match::new().l4_type(doca_flow::L4Type::Icmp),
        Fwd::Port(PortId(4)),
    );
    let _es: Vec<_> = [vid(100), frag, v6, icmp]
        .into_iter()
        .map(|e| ctl.add_entry(&mut q, e).unwrap())
        .collect();
    p0.entries_process(&mut q, 0).unwrap();
    let tagged = PacketBuilder::tcp4(ip(1, 1, 1, 1), ip(2, 2, 2, 2), 1, 2)
        .vlan(100)
        .build();
    assert_eq!(run(&flow, 0, tagged), Verdict::Port(PortId(1)));
    let other_vlan = PacketBuilder::tcp4(ip(1, 1, 1, 1), ip(2, 2, 2, 2), 1, 2)
        .vlan(101)
        .build();
    assert!(matches!(run(&flow, 0, other_vlan), Verdict::Miss { .. }));
    let first_frag = PacketBuilder::udp4(ip(1, 1, 1, 1), ip(2, 2, 2, 2), 1, 2)
        .fragment(0, true)
        .build();
    assert_eq!(run(&flow, 0, first_frag), Verdict::Port(PortId(2)));
    let v6pkt = PacketBuilder::udp6(
        "2001:db8::9".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        1,
        2,
    )
    .build();
    assert_eq!(run(&flow, 0, v6pkt), Verdict::Port(PortId(3)));
    let ping6 = PacketBuilder::icmp6(
        "2001:db8::9".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
        128,
        0,
    )
    .build();
    assert_eq!(run(&flow, 0, ping6), Verdict::Port(PortId(4)));
}

#[test]
fn unconfigured_counters_and_partial_processing() {
    let (_flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("b")
        .matcher(Match::new().tcp_dst_port(u16::MAX))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let es: Vec<_> = (1..=3)
        .map(|p| {
            pipe.add_entry(
                &mut q,
                BasicEntry::new(Match::new().tcp_dst_port(p)),
                Flags::NoWait,
            )
            .unwrap()
        })
        .collect();
    // `max` bounds how many operations one call completes, oldest first.
    assert_eq!(p0.entries_process(&mut q, 2).unwrap().len(), 2);
    assert_eq!(es[2].status(), EntryStatus::InProcess);
    assert_eq!(p0.entries_process(&mut q, 2).unwrap().len(), 1);
    assert!(matches!(
        es[0].query(),
        Err(Error::NoCounter { what: "entry" })
    ));
    assert!(matches!(
        pipe.query_miss(),
        Err(Error::NoCounter { what: "pipe miss" })
    ));
}

#[test]
fn entries_may_only_set_changeable_actions() {
    let (_flow, p0, mut q) = setup();
    let pipe = p0
        .pipe_builder("nat")
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        .actions(Actions::new().ipv4_dst(Ipv4Addr::BROADCAST).dscp(10))
        .fwd(Fwd::Drop)
        .build()
        .unwrap();
    let m = Match::new().ipv4_dst(ip(1, 1, 1, 1));
    let bad = BasicEntry::new(m.clone()).actions(Actions::new().dscp(12));
    assert!(matches!(
        pipe.add_entry(&mut q, bad, Flags::NoWait),
        Err(Error::ActionNotChangeable { action: "dscp" })
    ));
    let bad = BasicEntry::new(m.clone()).actions(Actions::new().l4_src_port(1));
    assert!(matches!(
        pipe.add_entry(&mut q, bad, Flags::NoWait),
        Err(Error::ActionNotChangeable {
            action: "l4_src_port"
        })
    ));
    let ok = BasicEntry::new(m).actions(Actions::new().ipv4_dst(ip(2, 2, 2, 2)).dec_ttl());
    let e = pipe.add_entry(&mut q, ok, Flags::NoWait).unwrap();
    assert!(matches!(
        pipe.update_entry(
            &mut q,
            &e,
            Some(Actions::new().ttl(3)),
            None,
            None,
            Flags::NoWait
        ),
        Err(Error::ActionNotChangeable { action: "ttl" })
    ));
}

// ---- parse on demand -----------------------------------------------------------------------

/// A root pipe on port 0 that matches the ingress port (and, with `parse`, also the
/// ethertype of IPv4, which every test packet has, so that packets must be parsed).
/// Entry: port `entry_port` -> `entry_fwd`, with `actions`. Returns the flow and the
/// handles that keep the pipeline installed.
#[allow(clippy::type_complexity)]
fn port_steering(
    parse: bool,
    entry_port: PortId,
    entry_fwd: Fwd,
    actions: Option<Actions>,
) -> (
    doca_flow::SwFlow,
    (
        doca_flow::Entry,
        doca_flow::BasicPipe,
        doca_flow::Queue,
        doca_flow::Port,
        doca_flow::Port,
    ),
) {
    let flow = Flow::builder().queues(8).build().unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let _p1 = flow.start_port(PortId(1), "p1").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let mut m = Match::changeable(&[Field::PortId]);
    if parse {
        m = m.eth_type(0x0800);
    }
    let mut b = p0
        .pipe_builder("root")
        .root(true)
        .matcher(m)
        .fwd(Fwd::Changeable);
    if actions.is_some() {
        b = b.actions(Actions::new().ipv4_dst(Ipv4Addr::BROADCAST));
    }
    let pipe = b.build().unwrap();
    let mut e = BasicEntry::new(Match::new().port_id(entry_port)).fwd(entry_fwd);
    if let Some(a) = actions {
        e = e.actions(a);
    }
    let e = pipe.add_entry(&mut q, e, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    (flow, (e, pipe, q, p0, _p1))
}

fn five_tuples() -> Vec<Vec<u8>> {
    (0..64u16)
        .map(|i| {
            let src = ip(192, 0, 2, i as u8);
            let dst = ip(198, 51, 100, (i * 7) as u8);
            if i % 2 == 0 {
                PacketBuilder::tcp4(src, dst, 1000 + i, 80).build()
            } else {
                PacketBuilder::udp4(src, dst, 2000 + i, 53).build()
            }
        })
        .collect()
}

/// A pipeline that only looks at the ingress port is not parsed up front; whatever needs
/// the headers later (an RSS hash, a header rewrite, the default miss) still sees them,
/// with the same results as a pipeline that parses every packet.
#[test]
fn meta_only_pipelines_parse_on_demand_with_the_same_results() {
    let rss = Fwd::Rss {
        queues: (0..8).collect(),
    };
    let rewrite = Some(Actions::new().ipv4_dst(ip(10, 9, 9, 9)));
    let cases = [
        ("rss", PortId(0), rss, None),
        ("rewrite", PortId(0), Fwd::Port(PortId(1)), rewrite),
        // The entry is for port 1: packets from port 0 miss the root (default RSS).
        ("miss", PortId(1), Fwd::Port(PortId(1)), None),
    ];
    for (name, entry_port, fwd, actions) in cases {
        let (lazy, _keep_lazy) = port_steering(false, entry_port, fwd.clone(), actions.clone());
        let (eager, _keep_eager) = port_steering(true, entry_port, fwd, actions);
        let mut queues = std::collections::BTreeSet::new();
        for frame in five_tuples() {
            let (mut a, mut b) = (frame.clone(), frame);
            let va = lazy.sw().process_packet(PortId(0), &mut a).verdict;
            let vb = eager.sw().process_packet(PortId(0), &mut b).verdict;
            assert_eq!(va, vb, "{name}: verdicts");
            assert_eq!(a, b, "{name}: frames after the pipeline");
            match va {
                Verdict::Rss { queue } | Verdict::Miss { queue } => {
                    queues.insert(queue);
                }
                Verdict::Port(p) => {
                    assert_eq!(p, PortId(1), "{name}");
                    let h = Headers::parse(&a);
                    assert!(
                        matches!(h.l3, L3::Ipv4(ip4) if ip4.dst == ip(10, 9, 9, 9)),
                        "{name}: the rewrite happened"
                    );
                }
                v => panic!("{name}: unexpected {v:?}"),
            }
        }
        if name != "rewrite" {
            // A hash of unparsed (empty) headers would put every packet on one queue.
            assert!(queues.len() > 1, "{name}: RSS spread over {queues:?}");
        }
    }
}
