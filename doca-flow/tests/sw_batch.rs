//! The sw backend's batch entry points (`process_batch` / `process_batch_each`) equal
//! `process_packet` frame by frame: same outcomes in frame order, same rewritten frames,
//! same entry and miss counters, on random pipelines (control root -> v4 / v6 ACL pipes ->
//! a control pipe with actions -> ports) and random frames (TCP, UDP, ICMP over IPv4, UDP
//! over IPv6, garbage), with and without meters. Any batch-wise fast path (for instance
//! ACL lookups with the classifier's `classify_batch`) must keep this passing.
//!
//! The root's rules match the ingress port, the parser's L3/L4 types, the IPv4
//! protocol, or nothing, and some write a meta word: the batched path remembers walk
//! prefixes that read only the port, the meta words and the L3/L4 types (`prefix.rs`),
//! and a third property changes the root's entries between batches to check that a
//! change makes them stale.
//!
//! A second property covers pipelines that match meta fields only (port id, meta words),
//! where one walk decides a whole batch unless it reads header bytes (a miss to RSS, an
//! RSS fwd, a rewrite) or a meter is installed.

mod common;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doca_flow::net::Family;
use doca_flow::packet::PacketBuilder;
use doca_flow::{
    AclEntry, AclMemo, Actions, Brief, ControlEntry, Counters, Domain, Entry, Field, Flags, Flow,
    Fwd, L3Type, L4Type, Match, MeterCfg, MeterLimit, Monitor, Pipe, PortId, PortRange, Prefix,
};
use proptest::prelude::*;

const PORTS: u16 = 4;

/// Where an entry sends its packets, by index: ports first, then the pipes.
#[derive(Debug, Clone, Copy)]
enum To {
    Port(u16),
    Acl4,
    Acl6,
    Ctl,
    Drop,
}

/// What a root rule matches.
#[derive(Debug, Clone, Copy)]
enum RootKey {
    Any,
    Proto(u8),
    L3(L3Type),
    L4(L4Type),
    InPort(u16),
}

#[derive(Debug, Clone)]
struct RootRule {
    prio: u32,
    key: RootKey,
    to: To,
    meter: bool,
    /// Writes meta word 1 (which no pipe reads; outcomes carry it).
    set_meta: bool,
}

#[derive(Debug, Clone)]
struct AclRule {
    prio: u32,
    src: (u32, u8),
    dst: (u32, u8),
    dport: Option<(u16, u16)>,
    proto: Option<u8>,
    to: To,
}

#[derive(Debug, Clone)]
struct CtlRule {
    dport: Option<u16>,
    rewrite: bool,
    out: u16,
}

#[derive(Debug, Clone)]
struct Spec {
    root: Vec<RootRule>,
    acl4: Vec<AclRule>,
    acl6: Vec<(u8, u16, To)>,
    ctl: Vec<CtlRule>,
    acl4_miss_to_ctl: bool,
    /// Port 1 gets an egress root that drops UDP (other frames leave by the port).
    egress1: bool,
}

fn addr() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0x0a00_0000u32), Just(0x0a01_0000), any::<u32>()]
        .prop_flat_map(|b| (Just(b), 0u32..256).prop_map(|(b, l)| b | l))
}

fn to(pipes: bool) -> impl Strategy<Value = To> {
    let n = if pipes { 8 } else { 5 };
    (0u8..n).prop_map(|i| match i {
        0..=3 => To::Port(u16::from(i)),
        4 => To::Drop,
        5 => To::Acl4,
        6 => To::Acl6,
        _ => To::Ctl,
    })
}

fn root_key() -> impl Strategy<Value = RootKey> {
    prop_oneof![
        Just(RootKey::Any),
        prop_oneof![Just(6u8), Just(17), Just(1), Just(47)].prop_map(RootKey::Proto),
        prop_oneof![Just(L3Type::Ipv4), Just(L3Type::Ipv6)].prop_map(RootKey::L3),
        prop_oneof![Just(L4Type::Tcp), Just(L4Type::Udp), Just(L4Type::Icmp)].prop_map(RootKey::L4),
        (0u16..PORTS).prop_map(RootKey::InPort),
    ]
}

fn spec(meters: bool) -> impl Strategy<Value = Spec> {
    let root = (0u32..4, root_key(), to(true), any::<bool>(), any::<bool>()).prop_map(
        move |(prio, key, to, m, set_meta)| RootRule {
            prio,
            key,
            to,
            meter: meters && m,
            set_meta,
        },
    );
    let acl4 = (
        0u32..8,
        (addr(), 0u8..=32),
        (addr(), 0u8..=32),
        proptest::option::of((0u16..2000, 0u16..2000)),
        proptest::option::of(prop_oneof![Just(6u8), Just(17)]),
        prop_oneof![to(false), Just(To::Ctl)],
    )
        .prop_map(|(prio, src, dst, dport, proto, to)| AclRule {
            prio,
            src,
            dst,
            dport,
            proto,
            to,
        });
    let ctl = (proptest::option::of(0u16..2000), any::<bool>(), 0u16..PORTS).prop_map(
        |(dport, rewrite, out)| CtlRule {
            dport,
            rewrite,
            out,
        },
    );
    (
        proptest::collection::vec(root, 0..6),
        proptest::collection::vec(acl4, 0..40),
        proptest::collection::vec((0u8..=64, 0u16..4, to(false)), 0..6),
        proptest::collection::vec(ctl, 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(root, acl4, acl6, ctl, acl4_miss_to_ctl, egress1)| Spec {
            root,
            acl4,
            acl6,
            ctl,
            acl4_miss_to_ctl,
            egress1,
        })
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        frame_v4(),
        (any::<u128>(), 0u16..4).prop_map(|(d, dp)| {
            let d = Ipv6Addr::from(0x2001_0db8u128 << 96 | (d & 0xffff_ffff));
            PacketBuilder::udp6(Ipv6Addr::LOCALHOST, d, 1, dp).build()
        }),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

/// An IPv4 frame: TCP, UDP, ICMP, or GRE/ESP.
fn frame_v4() -> impl Strategy<Value = Vec<u8>> {
    (
        addr(),
        addr(),
        prop_oneof![Just(6u8), Just(17), Just(1), Just(47), Just(50)],
        0u16..2000,
        0u16..2000,
    )
        .prop_map(|(s, d, p, sp, dp)| {
            let (s, d) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
            match p {
                6 => PacketBuilder::tcp4(s, d, sp, dp).build(),
                17 => PacketBuilder::udp4(s, d, sp, dp).build(),
                1 => PacketBuilder::icmp4(s, d, 8, 0).build(),
                // GRE, ESP: the same header shape (no L4 the parser knows), told
                // apart by the protocol byte alone.
                _ => {
                    let mut f = PacketBuilder::udp4(s, d, sp, dp).build();
                    f[14 + 9] = p;
                    f
                }
            }
        })
}

/// A flow built from `spec`, with every entry (for its counters) and pipe kept alive.
struct Built {
    flow: doca_flow::SwFlow,
    entries: Vec<Entry>,
    pipes: Vec<Pipe>,
    /// The port of the pipes below, for entry changes between batches (`build` only).
    port: Option<doca_flow::Port>,
    /// The IPv4 ACL pipe (`build` only).
    acl4: Option<doca_flow::AclPipe>,
    /// The root pipe (`build` only).
    root: Option<doca_flow::ControlPipe>,
}

fn build(spec: &Spec) -> Built {
    let flow = Flow::builder().queue_depth(4096).build().unwrap();
    let ports: Vec<_> = (0..PORTS)
        .map(|i| flow.start_port(PortId(i), "p").unwrap())
        .collect();
    let mut q = flow.take_queue(0).unwrap();
    let p0 = &ports[0];
    let ctl = p0
        .pipe_builder("ctl")
        .control()
        .miss_counter(true)
        .build()
        .unwrap();
    let mut acl4 = p0
        .pipe_builder("acl4")
        .acl()
        .nr_entries(64)
        .monitor(Monitor {
            counter: true,
            meter: None,
        })
        .miss_counter(true);
    if spec.acl4_miss_to_ctl {
        acl4 = acl4.fwd_miss(Fwd::pipe(&ctl));
    }
    let acl4 = acl4.build().unwrap();
    let acl6 = p0
        .pipe_builder("acl6")
        .acl()
        .acl_family(Family::Ipv6)
        .monitor(Monitor {
            counter: true,
            meter: None,
        })
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .miss_counter(true)
        .build()
        .unwrap();
    let fwd = |t: To| match t {
        To::Port(p) => Fwd::Port(PortId(p)),
        To::Drop => Fwd::Drop,
        To::Acl4 => Fwd::pipe(&acl4),
        To::Acl6 => Fwd::pipe(&acl6),
        To::Ctl => Fwd::pipe(&ctl),
    };
    let mut entries = Vec::new();
    for c in &spec.ctl {
        let mut m = Match::new();
        if let Some(dp) = c.dport {
            m = m.tcp_dst_port(dp);
        }
        let mut a = Actions::new().meta_u32(0, u32::from(c.out) + 7);
        if c.rewrite {
            a = a.ipv4_dst(Ipv4Addr::new(192, 0, 2, 1)).dec_ttl();
        }
        let e = ControlEntry::new(0, m, Fwd::Port(PortId(c.out)))
            .actions(a)
            .monitor(Monitor {
                counter: true,
                meter: None,
            });
        entries.push(ctl.add_entry(&mut q, e).unwrap());
    }
    for r in &spec.acl4 {
        let mut e = AclEntry::new(
            Prefix::new(IpAddr::from(Ipv4Addr::from(r.src.0)), r.src.1).unwrap(),
            Prefix::new(IpAddr::from(Ipv4Addr::from(r.dst.0)), r.dst.1).unwrap(),
            r.prio,
            fwd(r.to),
        );
        if let Some((a, b)) = r.dport {
            e = e.dst_port(PortRange::new(a.min(b), a.max(b).max(1)).unwrap());
        }
        if let Some(p) = r.proto {
            e = e.proto(p);
        }
        entries.push(acl4.add_entry(&mut q, e, Flags::NoWait).unwrap());
    }
    for &(len, prio, to) in &spec.acl6 {
        let net = Ipv6Addr::from(0x2001_0db8u128 << 96);
        let e = AclEntry::new(
            Prefix::ANY_V6,
            Prefix::new(IpAddr::from(net), len).unwrap(),
            u32::from(prio),
            fwd(to),
        );
        entries.push(acl6.add_entry(&mut q, e, Flags::NoWait).unwrap());
    }
    for r in &spec.root {
        let e = root_entry(r, fwd(r.to));
        entries.push(root.add_entry(&mut q, e).unwrap());
    }
    p0.entries_process(&mut q, 0).unwrap();
    let mut pipes: Vec<Pipe> = vec![
        root.clone().into(),
        acl4.clone().into(),
        acl6.into(),
        ctl.into(),
    ];
    if spec.egress1 {
        let eg = ports[1]
            .pipe_builder("egress1")
            .control()
            .root(true)
            .domain(Domain::Egress)
            .miss_counter(true)
            .build()
            .unwrap();
        let e =
            ControlEntry::new(0, Match::new().l4_type(L4Type::Udp), Fwd::Drop).monitor(Monitor {
                counter: true,
                meter: None,
            });
        entries.push(eg.add_entry(&mut q, e).unwrap());
        ports[1].entries_process(&mut q, 0).unwrap();
        pipes.push(eg.into());
    }
    // Every other entry is tagged, as `dpu-fw` tags its rules' entries: outcomes (and
    // briefs) carry the tag of the last tagged entry hit.
    for (k, e) in entries.iter().enumerate().filter(|(k, _)| k % 2 == 0) {
        flow.tag_entry(e.id(), k as u32 + 1).unwrap();
    }
    // Ports without pipes stop here (their frames: unknown port).
    let p0 = ports.into_iter().next().unwrap();
    Built {
        flow,
        entries,
        pipes,
        port: Some(p0),
        acl4: Some(acl4),
        root: Some(root),
    }
}

fn root_entry(r: &RootRule, fwd: Fwd) -> ControlEntry {
    let m = match r.key {
        RootKey::Any => Match::new(),
        RootKey::Proto(p) => Match::new().ipv4_proto(p),
        RootKey::L3(t) => Match::new().l3_type(t),
        RootKey::L4(t) => Match::new().l4_type(t),
        RootKey::InPort(p) => Match::new().port_id(PortId(p)),
    };
    let meter = r.meter.then_some(MeterCfg {
        limit: MeterLimit::Packets,
        cir: 1,
        cbs: 3,
    });
    let mut e = ControlEntry::new(r.prio, m, fwd).monitor(Monitor {
        counter: true,
        meter,
    });
    if r.set_meta {
        e = e.actions(Actions::new().meta_u32(1, r.prio + 100));
    }
    e
}

fn counters(b: &Built) -> (Vec<Option<Counters>>, Vec<Option<Counters>>) {
    (
        b.entries.iter().map(|e| e.query().ok()).collect(),
        b.pipes.iter().map(|p| p.query_miss().ok()).collect(),
    )
}

/// Runs `frames` through `one` packet by packet and through `many` (built alike) in
/// batches of `chunk`: same outcomes in frame order, same frames, same counters. With
/// `brief`, the batches go through `process_batch_brief`, whose briefs must be those of
/// the outcomes.
fn same_batched(
    one: &Built,
    many: &Built,
    frames: &[Vec<u8>],
    chunk: usize,
    port: u16,
    brief: bool,
) -> Result<(), TestCaseError> {
    let mut f1 = frames.to_vec();
    let want: Vec<_> = {
        let mut sw = one.flow.sw();
        f1.iter_mut()
            .map(|f| sw.process_packet(PortId(port), f))
            .collect()
    };
    let mut f2 = frames.to_vec();
    let (mut got, mut briefs) = (Vec::new(), Vec::new());
    {
        let mut sw = many.flow.sw();
        for c in f2.chunks_mut(chunk) {
            let base = got.len() + briefs.len();
            let mut seen = 0;
            if brief {
                sw.process_batch_brief(PortId(port), c, None, &mut briefs);
            } else {
                sw.process_batch_each(PortId(port), c, |i, o| {
                    assert_eq!(i, seen, "outcomes come in frame order");
                    seen += 1;
                    got.push(*o);
                });
            }
            prop_assert_eq!(got.len() + briefs.len() - base, c.len());
        }
    }
    if brief {
        let want: Vec<Brief> = want.iter().map(Brief::from).collect();
        prop_assert_eq!(&briefs, &want);
    } else {
        prop_assert_eq!(&got, &want);
    }
    prop_assert_eq!(&f2, &f1);
    prop_assert_eq!(counters(many), counters(one));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    #[test]
    fn batch_equals_packet_by_packet(
        spec in any::<bool>().prop_flat_map(spec),
        frames in proptest::collection::vec(frame(), 0..100),
        chunk in 1usize..80,
        port in 0u16..PORTS + 1,
        brief in any::<bool>(),
    ) {
        same_batched(&build(&spec), &build(&spec), &frames, chunk, port, brief)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    /// IPv4 traffic seen again: after the first burst every key has a remembered
    /// prefix, so later bursts take the direct path of a firewall's shape
    /// (`SwBackend::batch_direct`) wherever the pipeline has it, and must still equal
    /// packet-by-packet walks, outcomes or briefs.
    #[test]
    fn repeated_v4_bursts_equal_packet_by_packet(
        spec in spec(false),
        pool in proptest::collection::vec(frame_v4(), 1..64),
        brief in any::<bool>(),
    ) {
        let frames: Vec<Vec<u8>> = pool.iter().cycle().take(pool.len() * 3).cloned().collect();
        same_batched(&build(&spec), &build(&spec), &frames, pool.len(), 0, brief)?;
    }
}

/// Where a meta-only pipeline's entry (or a pipe's miss) sends packets.
#[derive(Debug, Clone, Copy)]
enum MetaTo {
    Port(u16),
    Drop,
    /// The second control pipe (from the root only).
    Next,
    /// RSS: the queue depends on the packet's headers.
    Rss,
}

#[derive(Debug, Clone)]
struct MetaRule {
    prio: u32,
    /// Root: the ingress port to match; second pipe: the meta word 0 value to match.
    key: Option<u16>,
    /// The meta word 0 value it writes.
    set: u16,
    to: MetaTo,
    counted: bool,
    meter: bool,
    rewrite: bool,
}

#[derive(Debug, Clone)]
struct MetaSpec {
    root: Vec<MetaRule>,
    next: Vec<MetaRule>,
    /// `None`: the root's miss goes to the port's RSS queues (a header hash).
    root_miss: Option<MetaTo>,
    next_miss: Option<MetaTo>,
}

fn meta_to(next: bool) -> impl Strategy<Value = MetaTo> {
    let n = if next { 7u8 } else { 6 };
    (0u8..n).prop_map(|i| match i {
        0..=3 => MetaTo::Port(u16::from(i)),
        4 => MetaTo::Drop,
        5 => MetaTo::Rss,
        _ => MetaTo::Next,
    })
}

fn meta_rule(next: bool, meters: bool) -> impl Strategy<Value = MetaRule> {
    (
        0u32..4,
        proptest::option::of(0u16..PORTS + 1),
        0u16..3,
        prop_oneof![3 => meta_to(next), 1 => Just(MetaTo::Port(1))],
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(move |(prio, key, set, to, counted, r)| MetaRule {
            prio,
            key,
            set,
            to,
            counted,
            meter: meters && r % 8 == 0,
            rewrite: r % 8 == 1,
        })
}

fn meta_spec(meters: bool) -> impl Strategy<Value = MetaSpec> {
    (
        proptest::collection::vec(meta_rule(true, meters), 0..5),
        proptest::collection::vec(meta_rule(false, meters), 0..5),
        proptest::option::of(meta_to(true)),
        proptest::option::of(meta_to(false)),
    )
        .prop_map(|(root, next, root_miss, next_miss)| MetaSpec {
            root,
            next,
            root_miss,
            next_miss,
        })
}

fn build_meta(spec: &MetaSpec) -> Built {
    let flow = Flow::builder().queues(4).queue_depth(4096).build().unwrap();
    let ports: Vec<_> = (0..PORTS)
        .map(|i| flow.start_port(PortId(i), "p").unwrap())
        .collect();
    let mut q = flow.take_queue(0).unwrap();
    let p0 = &ports[0];
    let simple = |t: MetaTo| match t {
        MetaTo::Port(p) => Fwd::Port(PortId(p)),
        MetaTo::Drop | MetaTo::Next => Fwd::Drop,
        MetaTo::Rss => Fwd::Rss {
            queues: vec![0, 1, 2, 3],
        },
    };
    let mut next = p0.pipe_builder("next").control().miss_counter(true);
    if let Some(m) = spec.next_miss {
        next = next.fwd_miss(simple(m));
    }
    let next = next.build().unwrap();
    let fwd = |t: MetaTo| match t {
        MetaTo::Next => Fwd::pipe(&next),
        t => simple(t),
    };
    let mut root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .miss_counter(true);
    if let Some(m) = spec.root_miss {
        root = root.fwd_miss(fwd(m));
    }
    let root = root.build().unwrap();
    let mut entries = Vec::new();
    for (pipe, rules, field) in [
        (&root, &spec.root, Field::PortId),
        (&next, &spec.next, Field::meta(0)),
    ] {
        for r in rules {
            let (m, mask) = match r.key {
                Some(k) => (
                    Match::new().with(field, u128::from(k)),
                    Match::changeable(&[field]),
                ),
                None => (Match::new(), Match::new()),
            };
            let mut a = Actions::new().meta_u32(0, u32::from(r.set));
            if r.rewrite {
                a = a.ipv4_dst(Ipv4Addr::new(192, 0, 2, 1));
            }
            let meter = r.meter.then_some(MeterCfg {
                limit: MeterLimit::Packets,
                cir: 1,
                cbs: 3,
            });
            let mut e = ControlEntry::new(r.prio, m, fwd(r.to))
                .mask(mask)
                .actions(a);
            if r.counted || meter.is_some() {
                e = e.monitor(Monitor {
                    counter: r.counted,
                    meter,
                });
            }
            entries.push(pipe.add_entry(&mut q, e).unwrap());
        }
    }
    p0.entries_process(&mut q, 0).unwrap();
    Built {
        flow,
        entries,
        pipes: vec![root.into(), next.into()],
        port: None,
        acl4: None,
        root: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(256)))]

    #[test]
    fn meta_only_batch_equals_packet_by_packet(
        spec in any::<bool>().prop_flat_map(meta_spec),
        frames in proptest::collection::vec(frame(), 0..100),
        chunk in 1usize..80,
        port in 0u16..PORTS + 1,
        brief in any::<bool>(),
    ) {
        same_batched(&build_meta(&spec), &build_meta(&spec), &frames, chunk, port, brief)?;
    }
}

/// A step of the memo property: a batch of frames (indices into the flow pool), or an
/// entry change in the IPv4 ACL pipe between batches.
#[derive(Debug, Clone)]
enum MemoStep {
    Batch(Vec<usize>),
    Add(AclRule),
    /// Removes the n-th (modulo) live IPv4 ACL entry.
    Remove(usize),
    /// Tags the n-th (modulo) live IPv4 ACL entry anew (0: untags it).
    Tag(usize, u32),
    /// Updates the n-th (modulo) live IPv4 ACL entry's fwd: to this port, or drop.
    Update(usize, Option<u16>),
}

fn memo_step() -> impl Strategy<Value = MemoStep> {
    let rule = spec(false).prop_map(|s| s.acl4.into_iter().next());
    prop_oneof![
        6 => proptest::collection::vec(0usize..24, 2..70).prop_map(MemoStep::Batch),
        1 => rule.prop_filter_map("an ACL rule", |r| r.map(MemoStep::Add)),
        1 => any::<usize>().prop_map(MemoStep::Remove),
        1 => (any::<usize>(), 0u32..3).prop_map(|(n, t)| MemoStep::Tag(n, t)),
        1 => (any::<usize>(), proptest::option::of(0u16..PORTS))
            .prop_map(|(n, to)| MemoStep::Update(n, to)),
    ]
}

/// Applies an entry change to `b`'s IPv4 ACL pipe; `live` holds its entries' indices
/// in `b.entries`.
fn change(b: &mut Built, live: &mut Vec<usize>, step: &MemoStep) {
    let (acl4, port) = (b.acl4.as_ref().unwrap(), b.port.as_ref().unwrap());
    let mut q = b.flow.take_queue(0).unwrap();
    match step {
        MemoStep::Add(r) => {
            // Sent to a port: the other pipes are not at hand here.
            let to = match r.to {
                To::Port(p) => Fwd::Port(PortId(p)),
                _ => Fwd::Drop,
            };
            let mut e = AclEntry::new(
                Prefix::new(IpAddr::from(Ipv4Addr::from(r.src.0)), r.src.1).unwrap(),
                Prefix::new(IpAddr::from(Ipv4Addr::from(r.dst.0)), r.dst.1).unwrap(),
                r.prio,
                to,
            );
            if let Some(p) = r.proto {
                e = e.proto(p);
            }
            let e = acl4.add_entry(&mut q, e, Flags::NoWait).unwrap();
            live.push(b.entries.len());
            b.entries.push(e);
        }
        MemoStep::Remove(n) if !live.is_empty() => {
            let i = live.remove(n % live.len());
            acl4.remove_entry(&mut q, &b.entries[i], Flags::NoWait)
                .unwrap();
        }
        // Changes after the install: a memo remembers which entry answered, not what
        // it decided, so a hit must read the entry's tag and forward as they are now.
        MemoStep::Tag(n, tag) if !live.is_empty() => {
            let i = live[n % live.len()];
            b.flow.tag_entry(b.entries[i].id(), *tag).unwrap();
        }
        MemoStep::Update(n, to) if !live.is_empty() => {
            let i = live[n % live.len()];
            let fwd = to.map_or(Fwd::Drop, |p| Fwd::Port(PortId(p)));
            acl4.update_entry(&mut q, &b.entries[i], None, None, Some(fwd), Flags::NoWait)
                .unwrap();
        }
        _ => {}
    }
    port.entries_process(&mut q, 0).unwrap();
}

/// Runs `steps` on two flows built from `spec`: one without memos, one keeping a memo
/// per pool frame (its flow direction) across batches and entry changes. Same
/// outcomes, frames and counters; returns how many lookups memos answered.
fn same_with_memos(
    spec: &Spec,
    pool: &[Vec<u8>],
    steps: &[MemoStep],
) -> Result<u64, TestCaseError> {
    let (mut plain, mut memo) = (build(spec), build(spec));
    let first = spec.ctl.len();
    let mut live = [
        (first..first + spec.acl4.len()).collect::<Vec<_>>(),
        (first..first + spec.acl4.len()).collect(),
    ];
    let mut memos = vec![AclMemo::NONE; pool.len()];
    for step in steps {
        let MemoStep::Batch(idx) = step else {
            change(&mut plain, &mut live[0], step);
            change(&mut memo, &mut live[1], step);
            continue;
        };
        let mut f1: Vec<Vec<u8>> = idx.iter().map(|&i| pool[i % pool.len()].clone()).collect();
        let mut f2 = f1.clone();
        let mut want = Vec::new();
        plain
            .flow
            .sw()
            .process_batch_each(PortId(0), &mut f1, |_, o| want.push(*o));
        let mut m: Vec<AclMemo> = idx.iter().map(|&i| memos[i % pool.len()]).collect();
        let mut got = Vec::new();
        memo.flow.sw().process_batch_each_memo(
            PortId(0),
            &mut f2,
            None,
            None,
            Some(&mut m),
            |_, o| got.push(*o),
        );
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(&f2, &f1);
        for (&i, m) in idx.iter().zip(&m) {
            memos[i % pool.len()] = *m;
        }
    }
    prop_assert_eq!(counters(&memo), counters(&plain));
    Ok(memo.flow.sw().memo_stats().hits)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    /// Memos change nothing but the lookups made: across random entry changes, a
    /// flow that keeps them gives the outcomes, frames and counters of one that does not.
    #[test]
    fn memos_equal_lookups(
        // Whatever the root's rules, a last one sends the rest to the IPv4 ACL pipe.
        spec in spec(false).prop_map(|mut s| {
            s.root.push(RootRule {
                prio: 9,
                key: RootKey::Any,
                to: To::Acl4,
                meter: false,
                set_meta: false,
            });
            s
        }),
        pool in proptest::collection::vec(frame(), 1..24),
        steps in proptest::collection::vec(memo_step(), 1..12),
    ) {
        same_with_memos(&spec, &pool, &steps)?;
    }
}

/// The fixed cases' pipeline: `root` as the root's one rule, one IPv4 ACL rule from
/// `src` (priority 5) to port 1.
fn root_to_one_acl_rule(root: RootRule, src: (u32, u8)) -> Spec {
    Spec {
        root: vec![root],
        acl4: vec![AclRule {
            prio: 5,
            src,
            dst: (0, 0),
            dport: None,
            proto: None,
            to: To::Port(1),
        }],
        acl6: vec![],
        ctl: vec![],
        acl4_miss_to_ctl: false,
        egress1: false,
    }
}

/// The fixed cases' frames: UDP from 10.0.0.0-7 to 192.0.2.1:53.
fn udp_from_10_0_0_x() -> Vec<Vec<u8>> {
    (0..8u8)
        .map(|i| {
            let (s, d) = (Ipv4Addr::new(10, 0, 0, i), Ipv4Addr::new(192, 0, 2, 1));
            PacketBuilder::udp4(s, d, 1000 + u16::from(i), 53).build()
        })
        .collect()
}

/// The memo property's fixed case: memos answer the second batch of the same flows,
/// and an entry change makes every memo stale (the next batch looks up again, and
/// gets the new entry's answer).
#[test]
fn memos_answer_until_an_entry_changes() {
    let root = RootRule {
        prio: 0,
        key: RootKey::Any,
        to: To::Acl4,
        meter: false,
        set_meta: false,
    };
    let spec = root_to_one_acl_rule(root, (0x0a00_0000, 8));
    let pool = udp_from_10_0_0_x();
    let batch = MemoStep::Batch((0..8).collect());
    let add = MemoStep::Add(AclRule {
        prio: 1,
        src: (0x0a00_0000, 24),
        dst: (0, 0),
        dport: None,
        proto: None,
        to: To::Port(2),
    });
    // First batch: lookups only; second: all eight from memos.
    let hits = same_with_memos(&spec, &pool, &[batch.clone(), batch.clone()]).unwrap();
    assert_eq!(hits, 8);
    // After the add, the third batch looks up (and is sent to port 2, which
    // same_with_memos checks against the flow without memos); the fourth uses memos.
    let steps = [batch.clone(), batch.clone(), add, batch.clone(), batch];
    let hits = same_with_memos(&spec, &pool, &steps).unwrap();
    assert_eq!(hits, 16);
    let mut b = build(&spec);
    let mut live = vec![0];
    change(&mut b, &mut live, &steps[2]);
    let mut f = pool.clone();
    let mut ports = Vec::new();
    b.flow
        .sw()
        .process_batch_each(PortId(0), &mut f, |_, o| ports.push(o.verdict));
    assert!(
        ports
            .iter()
            .all(|v| *v == doca_flow::Verdict::Port(PortId(2))),
        "{ports:?}"
    );
}

/// A step of the root-change property.
#[derive(Debug, Clone)]
enum RootStep {
    /// Frames of the pool (by index, modulo) arriving on this port.
    Batch(Vec<usize>, u16),
    Add(RootRule),
    /// Removes the n-th (modulo) live root entry.
    Remove(usize),
}

fn root_step() -> impl Strategy<Value = RootStep> {
    let rule = spec(false).prop_map(|s| s.root.into_iter().next());
    prop_oneof![
        6 => (proptest::collection::vec(0usize..24, 2..70), 0u16..PORTS)
            .prop_map(|(f, p)| RootStep::Batch(f, p)),
        1 => rule.prop_filter_map("a root rule", |r| r.map(RootStep::Add)),
        1 => any::<usize>().prop_map(RootStep::Remove),
    ]
}

/// Applies a root entry change to `b`; `live` holds the root's entries' indices in
/// `b.entries`.
fn change_root(b: &mut Built, live: &mut Vec<usize>, step: &RootStep) {
    let (root, port) = (b.root.as_ref().unwrap(), b.port.as_ref().unwrap());
    let mut q = b.flow.take_queue(0).unwrap();
    match step {
        RootStep::Add(r) => {
            // Sent to a port or dropped: the other pipes are not at hand here.
            let to = match r.to {
                To::Port(p) => Fwd::Port(PortId(p)),
                _ => Fwd::Drop,
            };
            let e = root.add_entry(&mut q, root_entry(r, to)).unwrap();
            live.push(b.entries.len());
            b.entries.push(e);
        }
        RootStep::Remove(n) if !live.is_empty() => {
            let i = live.remove(n % live.len());
            root.remove_entry(&mut q, &b.entries[i], Flags::NoWait)
                .unwrap();
        }
        _ => {}
    }
    port.entries_process(&mut q, 0).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    /// Batches between random changes of the root's entries equal packet-by-packet
    /// walks: a remembered walk prefix (`prefix.rs`) never outlives a change.
    #[test]
    fn batches_follow_root_changes(
        spec in spec(false),
        pool in proptest::collection::vec(frame(), 1..24),
        steps in proptest::collection::vec(root_step(), 1..12),
        brief in any::<bool>(),
    ) {
        let (one, many) = (build(&spec), build(&spec));
        let first = spec.ctl.len() + spec.acl4.len() + spec.acl6.len();
        let live: Vec<usize> = (first..first + spec.root.len()).collect();
        let mut live = [live.clone(), live];
        let (mut one, mut many) = (one, many);
        for step in &steps {
            let RootStep::Batch(idx, port) = step else {
                change_root(&mut one, &mut live[0], step);
                change_root(&mut many, &mut live[1], step);
                continue;
            };
            let frames: Vec<Vec<u8>> = idx.iter().map(|&i| pool[i % pool.len()].clone()).collect();
            same_batched(&one, &many, &frames, 64, *port, brief)?;
        }
    }
}

/// The root-change property's fixed case: a prefix remembered for IPv4 frames (root ->
/// IPv4 ACL pipe) is not used after a higher-priority root entry sends IPv4 frames to a
/// port.
#[test]
fn a_root_change_makes_remembered_prefixes_stale() {
    let any_to_acl = RootRule {
        prio: 3,
        key: RootKey::Any,
        to: To::Acl4,
        meter: false,
        set_meta: true,
    };
    let spec = root_to_one_acl_rule(any_to_acl.clone(), (0, 0));
    let pool = udp_from_10_0_0_x();
    let mut b = build(&spec);
    let run = |b: &Built| {
        let mut f = pool.clone();
        let mut v = Vec::new();
        b.flow
            .sw()
            .process_batch_each(PortId(0), &mut f, |_, o| v.push(o.verdict));
        v
    };
    let to_port = |p: u16| vec![doca_flow::Verdict::Port(PortId(p)); pool.len()];
    assert_eq!(run(&b), to_port(1));
    assert_eq!(run(&b), to_port(1));
    // b.entries: the IPv4 ACL entry, then the root's.
    let mut live = vec![1];
    let v4_to_port_2 = RootStep::Add(RootRule {
        prio: 1,
        key: RootKey::L3(L3Type::Ipv4),
        to: To::Port(2),
        ..any_to_acl
    });
    change_root(&mut b, &mut live, &v4_to_port_2);
    assert_eq!(run(&b), to_port(2));
    let n = |b: &Built, i: usize| b.entries[i].query().unwrap().packets;
    assert_eq!(n(&b, 2), 8, "the new entry counted the third batch");
    change_root(&mut b, &mut live, &RootStep::Remove(1));
    assert_eq!(run(&b), to_port(1));
    assert_eq!(
        n(&b, 1),
        24,
        "the first root entry counted the other three batches"
    );
}
