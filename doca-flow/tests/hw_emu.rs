//! The hardware backend on the DOCA Flow contract emulator (feature `doca-emu`, root:
//! the backend runs on a DPDK EAL): pipes and entries made through the hardware backend
//! give the same decisions and counters as on the software backend, the emulator finds
//! no broken DOCA rule in what the safe API does, it does find the rules broken by
//! direct backend calls, and injected failures reach the caller.
#![cfg(feature = "doca-emu")]

use core::net::{IpAddr, Ipv4Addr};

use doca_flow::backend::emu::{self, Fault};
use doca_flow::backend::{EntrySpec, FlowCfg, FwdSpec, PipeCfg, PortCfg, PortKind};
use doca_flow::dpdk::Eal;
use doca_flow::packet::PacketBuilder;
use doca_flow::{
    AclEntry, Backend, ControlEntry, Flags, Flow, Fwd, HwBackend, L3Type, Match, Mode, Monitor,
    PipeType, PortId, PortRange, Prefix, Verdict,
};

fn eal() -> Eal {
    Eal::init_without_devices("hw_emu").expect("EAL init (run as root with DPDK installed)")
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// A switch with an uplink and a host representor; root control pipe -> ACL pipe.
fn firewall_on_the_emulator(eal: &Eal) {
    let flow = Flow::builder()
        .mode(Mode::Switch)
        .queue_depth(16)
        .build_with(HwBackend::new(eal))
        .expect("doca_flow_init on the emulator");
    let p0 = flow.start_switch_port(PortId(0), "p0").unwrap();
    let host = p0.start_representor(PortId(1), "pf0hpf").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let acl = p0
        .pipe_builder("acl")
        .acl()
        .nr_entries(8)
        .monitor(Monitor::counter())
        .fwd(Fwd::Changeable)
        .fwd_miss(Fwd::Drop)
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .nr_entries(4)
        .build()
        .unwrap();
    let _steer = root
        .add_entry(
            &mut q,
            ControlEntry::new(
                0,
                Match::new().port_id(PortId(0)).l3_type(L3Type::Ipv4),
                Fwd::pipe(&acl),
            ),
        )
        .unwrap();
    let web = acl
        .add_entry(
            &mut q,
            AclEntry::new(
                Prefix::ANY_V4,
                Prefix::new(IpAddr::from(ip(10, 0, 0, 0)), 8).unwrap(),
                10,
                Fwd::Port(PortId(1)),
            )
            .proto(6)
            .dst_port(PortRange::single(443)),
            Flags::WaitForBatch,
        )
        .unwrap();
    let _deny = acl
        .add_entry(
            &mut q,
            AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 20, Fwd::Drop),
            Flags::NoWait,
        )
        .unwrap();
    let done = p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(done.len(), 3, "every status arrives through the callback");
    assert!(done.iter().all(|c| c.error.is_none()), "{done:?}");

    let run = |frame: &mut Vec<u8>| {
        let mut dp = flow.datapath().expect("the emulated wire");
        dp.process_packet(PortId(0), frame).verdict
    };
    let mut https = PacketBuilder::tcp4(ip(192, 0, 2, 1), ip(10, 1, 2, 3), 5000, 443).build();
    let mut ssh = PacketBuilder::tcp4(ip(192, 0, 2, 1), ip(10, 1, 2, 3), 5000, 22).build();
    assert_eq!(run(&mut https), Verdict::Port(PortId(1)));
    assert!(matches!(run(&mut ssh), Verdict::Drop(_)));
    let c = web.query().expect("a counter of an entry in hardware");
    assert_eq!((c.packets, c.bytes), (1, https.len() as u64));

    // Remove the allow rule: HTTPS now falls to the deny rule.
    acl.remove_entry(&mut q, &web, Flags::NoWait).unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    assert!(matches!(run(&mut https), Verdict::Drop(_)));

    let census = emu::census();
    assert_eq!((census.ports, census.pipes), (2, 2), "{census:?}");
    drop((web, _deny, _steer, root, acl, q, host, p0, flow));
    assert_eq!(
        emu::census(),
        emu::Census::default(),
        "everything torn down"
    );
    assert_eq!(emu::violations(), Vec::<String>::new());
}

/// Direct backend calls that break DOCA's rules are caught.
fn broken_rules_are_caught(eal: &Eal) {
    let mut b = HwBackend::new(eal);
    b.init(&FlowCfg {
        mode: Mode::Vnf,
        queues: 1,
        queue_depth: 8,
        counters: 16,
        meters: 0,
    })
    .unwrap();
    b.port_start(&PortCfg {
        id: PortId(0),
        name: "p0".into(),
        kind: PortKind::Plain,
    })
    .unwrap();
    let pipe = b
        .pipe_create(
            &PipeCfg {
                name: "basic".into(),
                port: PortId(0),
                pipe_type: PipeType::Basic,
                domain: Default::default(),
                is_root: true,
                nr_entries: 4,
                matcher: Match::new().ipv4_dst(ip(255, 255, 255, 255)),
                match_mask: None,
                actions: Default::default(),
                monitor: Monitor::counter(),
                miss_counter: false,
            },
            Some(&FwdSpec::Drop),
            None,
        )
        .unwrap();
    let e = b
        .entry_add(
            0,
            pipe,
            EntrySpec::Basic {
                matcher: Match::new().ipv4_dst(ip(10, 0, 0, 1)),
                actions: Default::default(),
                monitor: None,
                fwd: None,
            },
            Flags::WaitForBatch,
        )
        .unwrap();
    // A counter read before the add completed, and a batch never closed.
    assert!(b.query_entry(e).is_err());
    let mut out = Vec::new();
    b.entries_process(PortId(0), 0, 0, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    // A port stopped under its pipe.
    // SAFETY: deliberately breaks the contract; the emulator holds no memory that can
    // dangle, and records it.
    assert!(unsafe { b.port_stop(PortId(0)) }.is_err());
    let v = emu::violations();
    let has = |what: &str| v.iter().any(|x| x.contains(what));
    assert!(has("not in hardware yet"), "{v:#?}");
    assert!(has("WAIT_FOR_BATCH"), "{v:#?}");
    assert!(has("stopped with live pipes"), "{v:#?}");
    assert_eq!(v.len(), 3, "{v:#?}");
    drop(b); // flushes and stops what is left, then destroys the library
    assert_eq!(emu::violations(), Vec::<String>::new());
    assert_eq!(emu::census(), emu::Census::default());
}

/// Injected failures reach the caller: an add refused at once, an add refused
/// asynchronously (never in the data path), a full table.
fn injected_failures(eal: &Eal) {
    let flow = Flow::builder()
        .build_with(HwBackend::new(eal))
        .expect("doca_flow_init");
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    // The rules forward to p1: DOCA forwards only to started ports.
    let p1 = flow.start_port(PortId(1), "p1").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let acl = p0
        .pipe_builder("acl")
        .acl()
        .nr_entries(2)
        .fwd(Fwd::Changeable)
        .fwd_miss(Fwd::Drop)
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .root(true)
        .matcher(Match::new().l3_type(L3Type::Ipv4))
        .fwd(Fwd::pipe(&acl))
        .build()
        .unwrap();
    let all = root
        .add_entry(
            &mut q,
            doca_flow::BasicEntry::new(Match::new()),
            Flags::NoWait,
        )
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    let rule = |port| {
        AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 1, Fwd::Port(PortId(1)))
            .proto(17)
            .dst_port(PortRange::single(port))
    };
    emu::inject(Fault::EntryAddRefused { nth: 1 });
    assert!(acl.add_entry(&mut q, rule(53), Flags::NoWait).is_err());
    emu::inject(Fault::AsyncError { nth: 1 });
    let failed = acl.add_entry(&mut q, rule(53), Flags::NoWait).unwrap();
    let done = p0.entries_process(&mut q, 0).unwrap();
    assert_eq!(done.len(), 1);
    assert!(
        done[0].error.is_some(),
        "the error status arrives: {done:?}"
    );
    assert!(!failed.is_installed());
    let mut dns = PacketBuilder::udp4(ip(10, 0, 0, 1), ip(10, 0, 0, 2), 999, 53).build();
    let verdict = flow
        .datapath()
        .unwrap()
        .process_packet(PortId(0), &mut dns)
        .verdict;
    assert!(
        matches!(verdict, Verdict::Drop(_)),
        "a failed entry is not in the data path"
    );
    emu::inject(Fault::TableFull { nth: 1 });
    assert!(acl.add_entry(&mut q, rule(54), Flags::NoWait).is_err());
    drop((failed, all, root, acl, q, p0, p1, flow));
    assert_eq!(emu::violations(), Vec::<String>::new());
    assert_eq!(emu::census(), emu::Census::default());
}

/// vnf mode (two SF ports, each started on its own): a root pipe per port, each port's
/// pipes forward to its own pipes and out of the other port; a pipe forwarding to a
/// pipe of the other port, a second root on a port and a fwd to a port that was never
/// started are refused and recorded, as DOCA refuses them.
fn vnf_mode_rules(eal: &Eal) {
    let flow = Flow::builder()
        .mode(Mode::Vnf)
        .build_with(HwBackend::new(eal))
        .expect("doca_flow_init");
    let p0 = flow.start_port(PortId(0), "p0_if").unwrap();
    let p1 = flow.start_port(PortId(1), "pf0hpf_if").unwrap();
    let mut q = flow.take_queue(0).unwrap();
    let out_of = |port: &doca_flow::Port, to: u16| {
        port.pipe_builder("out")
            .control()
            .nr_entries(2)
            .fwd_miss(Fwd::Port(PortId(to)))
            .build()
            .unwrap()
    };
    let (to1, to0) = (out_of(&p0, 1), out_of(&p1, 0));
    let r0 = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .nr_entries(2)
        .build()
        .unwrap();
    let r1 = p1
        .pipe_builder("root")
        .control()
        .root(true)
        .nr_entries(2)
        .build()
        .unwrap();
    let e0 = r0
        .add_entry(&mut q, ControlEntry::new(0, Match::new(), Fwd::pipe(&to1)))
        .unwrap();
    let e1 = r1
        .add_entry(&mut q, ControlEntry::new(0, Match::new(), Fwd::pipe(&to0)))
        .unwrap();
    p0.entries_process(&mut q, 0).unwrap();
    p1.entries_process(&mut q, 0).unwrap();
    let mut f = PacketBuilder::udp4(ip(10, 0, 0, 1), ip(10, 0, 0, 2), 1, 2).build();
    let mut run = |port| {
        flow.datapath()
            .unwrap()
            .process_packet(PortId(port), &mut f)
            .verdict
    };
    assert_eq!(
        run(0),
        Verdict::Port(PortId(1)),
        "p0's lane sends out of p1"
    );
    assert_eq!(
        run(1),
        Verdict::Port(PortId(0)),
        "p1's lane sends out of p0"
    );
    assert!(emu::violations().is_empty(), "{:#?}", emu::violations());
    // A second root on p0.
    assert!(
        p0.pipe_builder("root2")
            .control()
            .root(true)
            .nr_entries(2)
            .build()
            .is_err()
    );
    // p1's entry forwarding to a pipe of p0.
    let cross = r1.add_entry(&mut q, ControlEntry::new(1, Match::new(), Fwd::pipe(&to1)));
    assert!(cross.is_err(), "a fwd to another port's pipe");
    // A pipe of p1 missing to a pipe of p0.
    let cross_miss = p1
        .pipe_builder("cross")
        .control()
        .nr_entries(1)
        .fwd_miss(Fwd::pipe(&to1))
        .build();
    assert!(cross_miss.is_err(), "a miss to another port's pipe");
    // A fwd out of a port that was never started.
    let nowhere = p0
        .pipe_builder("nowhere")
        .control()
        .nr_entries(1)
        .fwd_miss(Fwd::Port(PortId(7)))
        .build();
    assert!(nowhere.is_err(), "a fwd to a port that is not started");
    let v = emu::violations();
    assert!(
        v.len() == 1 && v[0].contains("not a started port of this DOCA Flow instance"),
        "{v:#?}"
    );
    emu::reset();
    drop((e0, e1, r0, r1, to0, to1, q, p0, p1, flow));
    assert!(emu::violations().is_empty(), "{:#?}", emu::violations());
    assert_eq!(emu::census(), emu::Census::default());
    // The safe API refuses a fwd to another port's pipe before DOCA sees it; the
    // emulator refuses it too when the seam is called directly.
    let mut b = HwBackend::new(eal);
    b.init(&FlowCfg {
        mode: Mode::Vnf,
        queues: 1,
        queue_depth: 8,
        counters: 16,
        meters: 0,
    })
    .unwrap();
    for (id, name) in [(0, "p0_if"), (1, "pf0hpf_if")] {
        b.port_start(&PortCfg {
            id: PortId(id),
            name: name.into(),
            kind: PortKind::Plain,
        })
        .unwrap();
    }
    let cfg = |name: &str, port| PipeCfg {
        name: name.into(),
        port: PortId(port),
        pipe_type: PipeType::Control,
        domain: Default::default(),
        is_root: false,
        nr_entries: 2,
        matcher: Match::new(),
        match_mask: None,
        actions: Default::default(),
        monitor: Monitor::default(),
        miss_counter: false,
    };
    let on_p0 = b
        .pipe_create(&cfg("on-p0", 0), None, Some(&FwdSpec::Drop))
        .unwrap();
    assert!(
        b.pipe_create(&cfg("cross", 1), None, Some(&FwdSpec::Pipe(on_p0)))
            .is_err()
    );
    let v = emu::violations();
    assert!(
        v.len() == 1 && v[0].contains("a pipe forwards only to pipes of its own port"),
        "{v:#?}"
    );
    emu::reset();
    drop(b);
    assert_eq!(emu::violations(), Vec::<String>::new());
    assert_eq!(emu::census(), emu::Census::default());
}

#[test]
fn hardware_backend_on_the_doca_flow_emulator() {
    // One EAL and one DOCA Flow per process: the phases run in order.
    let eal = eal();
    emu::reset();
    firewall_on_the_emulator(&eal);
    broken_rules_are_caught(&eal);
    injected_failures(&eal);
    vnf_mode_rules(&eal);
}
