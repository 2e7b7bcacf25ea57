//! The hardware path of a stateful policy, on the software backend: the `bluefield`
//! plan (root -> CT pipe -> established pipelines; misses, other IP and TCP SYN/FIN/RST
//! to software) in front of the software path (the conntrack stage and the `software`
//! plan), which offloads a connection to the CT pipe once it is established. Every packet
//! of well-formed TCP and UDP sessions, and of unsolicited traffic, must get the same
//! rule and fate as the software path alone, and established packets must be decided
//! in the "hardware" pipes.
//!
//! With feature `doca-emu` (root), the hardware path also runs through the hardware
//! backend on the DOCA Flow contract emulator (`doca_flow_ct` through the seam), which
//! must record no broken DOCA rule.
//!
//! Well-formed only: DOCA's CT pipe does not check TCP windows, so an out-of-window
//! segment of an offloaded connection passes in hardware where the software tracker
//! would call it invalid (docs/conntrack.md says so).

mod common;

use std::sync::Arc;

use doca_flow::packet::{PacketBuilder, tcp_flags};
use dpu_fw::PortId;
use dpu_fw::compile::{Target, compile};
use dpu_fw::firewall::{Firewall, Offloading};
use dpu_fw::install::Installed;
use proptest::prelude::*;

const POLICY: &str = r#"
[ports.p0]
role = "uplink"
id = 0
[ports.pf0hpf]
role = "host"
id = 1
[conntrack]
[[rules]]
name = "return"
in_port = "p0"
state = ["established", "related"]
action = "accept"
count = true
[[rules]]
name = "web-in"
in_port = "p0"
protocol = "tcp"
dst_port = 80
state = "new"
action = "accept"
[[rules]]
name = "no-telnet"
protocol = "tcp"
dst_port = 23
action = "drop"
count = true
[defaults]
inbound = "drop"
outbound = "accept"
"#;

/// One step: a TCP session's next segment (`conn`, from the client or not), a UDP
/// datagram, or an unsolicited packet from the network.
#[derive(Debug, Clone, Copy)]
enum Step {
    Tcp { conn: u8, phase: u8 },
    Udp { conn: u8, reply: bool },
    Stray { conn: u8, kind: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6, 0u8..9).prop_map(|(conn, phase)| Step::Tcp { conn, phase }),
        2 => (0u8..6, any::<bool>()).prop_map(|(conn, reply)| Step::Udp { conn, reply }),
        1 => (0u8..6, 0u8..3).prop_map(|(conn, kind)| Step::Stray { conn, kind }),
    ]
}

const HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 0, 1);

fn server(conn: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(192, 0, 2, 10 + conn)
}

/// A well-formed session per connection: the host opens to port 443 (odd connections)
/// or a network client opens to the host's port 80 (even ones); the phases go SYN,
/// SYN-ACK, ACK, data out, data back, FIN, ACK, FIN, ACK, and repeat the last.
fn tcp_frame(conn: u8, phase: u8) -> (PortId, Vec<u8>) {
    let inbound = conn % 2 == 0;
    let (client, srv, cport, sport) = if inbound {
        (server(conn), HOST, 50000 + u16::from(conn), 80)
    } else {
        (HOST, server(conn), 40000 + u16::from(conn), 443)
    };
    let (c_isn, s_isn) = (1000u32, 9000u32);
    // (from client, flags, seq, ack, payload)
    let (from_client, flags, seq, ack, len) = match phase {
        0 => (true, tcp_flags::SYN, c_isn, 0, 0),
        1 => (false, tcp_flags::SYN | tcp_flags::ACK, s_isn, c_isn + 1, 0),
        2 => (true, tcp_flags::ACK, c_isn + 1, s_isn + 1, 0),
        3 => (
            true,
            tcp_flags::ACK | tcp_flags::PSH,
            c_isn + 1,
            s_isn + 1,
            10,
        ),
        4 => (
            false,
            tcp_flags::ACK | tcp_flags::PSH,
            s_isn + 1,
            c_isn + 11,
            20,
        ),
        5 => (
            true,
            tcp_flags::FIN | tcp_flags::ACK,
            c_isn + 11,
            s_isn + 21,
            0,
        ),
        6 => (false, tcp_flags::ACK, s_isn + 21, c_isn + 12, 0),
        7 => (
            false,
            tcp_flags::FIN | tcp_flags::ACK,
            s_isn + 21,
            c_isn + 12,
            0,
        ),
        _ => (true, tcp_flags::ACK, c_isn + 12, s_isn + 22, 0),
    };
    let (src, dst, sp, dp) = if from_client {
        (client, srv, cport, sport)
    } else {
        (srv, client, sport, cport)
    };
    // The host side is pf0hpf (1), the network p0 (0).
    let port = PortId(if src == HOST { 1 } else { 0 });
    let f = PacketBuilder::tcp4(src, dst, sp, dp)
        .flags(flags)
        .seq(seq)
        .ack_number(ack)
        .window(65535)
        .payload(&vec![7; len])
        .build();
    (port, f)
}

fn frame(s: Step, phases: &mut [u8; 6]) -> (PortId, Vec<u8>) {
    match s {
        Step::Tcp { conn, phase } => {
            // Mostly the session's next segment; sometimes a repeat of an earlier one.
            let p = &mut phases[usize::from(conn)];
            let ph = if phase < 7 { *p } else { phase.min(*p) };
            *p = (*p + 1).min(8);
            tcp_frame(conn, ph)
        }
        Step::Udp { conn, reply } => {
            let (src, dst, sp, dp, port) = if reply {
                (server(conn), HOST, 53, 33000 + u16::from(conn), PortId(0))
            } else {
                (HOST, server(conn), 33000 + u16::from(conn), 53, PortId(1))
            };
            (
                port,
                PacketBuilder::udp4(src, dst, sp, dp).payload(b"q").build(),
            )
        }
        Step::Stray { conn, kind } => {
            let flags = [
                tcp_flags::ACK,
                tcp_flags::SYN | tcp_flags::ACK,
                tcp_flags::RST,
            ][usize::from(kind)];
            (
                PortId(0),
                PacketBuilder::tcp4(server(conn), HOST, 443, 45000 + u16::from(conn))
                    .flags(flags)
                    .build(),
            )
        }
    }
}

/// Installs the hardware path's plan (on the sw backend, or through the hw backend).
type Install<'a> = &'a dyn Fn(&dpu_fw::compile::Plan) -> Installed;

fn on_sw(plan: &dpu_fw::compile::Plan) -> Installed {
    Installed::new(plan).unwrap()
}

/// vnf mode (DOCA Flow's mode for SF ports) on the sw backend: one lane per port, each
/// with its own root and CT pipe; a connection's entry goes into both lanes.
fn on_sw_vnf(plan: &dpu_fw::compile::Plan) -> Installed {
    let fw = Installed::with_backend_mode(plan, doca_flow::SwBackend::new(), doca_flow::Mode::Vnf)
        .unwrap();
    assert_eq!(fw.lanes(), plan.ports.len());
    fw
}

fn run(steps: &[Step]) -> Result<(usize, usize), TestCaseError> {
    run_with(steps, &on_sw)
}

fn run_with(steps: &[Step], install: Install) -> Result<(usize, usize), TestCaseError> {
    let rules = dpu_fw::config::parse(POLICY, "p.toml").unwrap().rules;
    let hw_plan = compile(&rules, &Target::bluefield()).unwrap();
    let sw_plan = compile(&rules, &Target::software()).unwrap();
    let soft = Firewall::new(Arc::new(Installed::new(&sw_plan).unwrap()), &rules, None);
    let mut hybrid = Offloading::new(install(&hw_plan), soft, 30);
    let mut alone = Firewall::new(Arc::new(Installed::new(&sw_plan).unwrap()), &rules, None);
    let (mut in_hw, mut in_sw) = (0, 0);
    let mut phases = [0u8; 6];
    for (i, s) in steps.iter().enumerate() {
        let now = i as u64 * 1_000_000;
        let (port, bytes) = frame(*s, &mut phases);
        let want = alone.process(port, &mut bytes.clone(), now);
        let got = hybrid
            .process(port, &mut bytes.clone(), now)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if got.in_hardware {
            in_hw += 1;
        } else {
            in_sw += 1;
        }
        let p = got.processed;
        prop_assert_eq!(
            (p.decision.rule, p.passed()),
            (want.decision.rule, want.passed()),
            "step {}: {:?} ({} in hardware)",
            i,
            s,
            got.in_hardware
        );
    }
    Ok((in_hw, in_sw))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(if cfg!(debug_assertions) { 128 } else { 1024 })))]

    #[test]
    fn the_offloaded_path_decides_as_software_alone(steps in prop::collection::vec(step(), 1..120)) {
        run(&steps)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(if cfg!(debug_assertions) { 64 } else { 512 })))]

    /// The same in vnf mode: each direction enters its own port's lane, whose CT pipe
    /// holds the connection too.
    #[test]
    fn the_offloaded_path_decides_as_software_alone_in_vnf_mode(steps in prop::collection::vec(step(), 1..120)) {
        run_with(&steps, &on_sw_vnf)?;
    }
}

#[test]
fn established_traffic_stays_in_hardware_in_vnf_mode() {
    established_on(&on_sw_vnf);
}

#[test]
fn offloads_survive_updates_in_vnf_mode() {
    offloads_survive_updates_on(&on_sw_vnf);
}

/// vnf mode: once offloaded, both directions (each entering its own port, so its own
/// lane) hit in hardware; the connection ages out of the CT pipes only when neither
/// direction was seen for the timeout (a direction that flows keeps both copies).
#[test]
fn both_directions_hit_and_age_together_in_vnf_mode() {
    both_directions_on(&on_sw_vnf);
}

fn both_directions_on(install: Install) {
    use dpu_fw::firewall::OffloadAgent;
    const S: u64 = 1_000_000_000;
    let rules = dpu_fw::config::parse(POLICY, "p.toml").unwrap().rules;
    let hw_plan = compile(&rules, &Target::bluefield()).unwrap();
    let sw_plan = compile(&rules, &Target::software()).unwrap();
    let mut hw = install(&hw_plan);
    let mut worker = Firewall::new(Arc::new(Installed::new(&sw_plan).unwrap()), &rules, None);
    let tracker = worker.tracker().unwrap().clone();
    let mut agent = OffloadAgent::new(30);
    let mut now = 0;
    for phase in 0..3 {
        now += 1_000;
        let (port, mut f) = tcp_frame(1, phase);
        let p = worker.process(port, &mut f, now);
        if let Some(ask) = worker.offload_request(port, &f, &p, now) {
            hw.set_time_ns(now);
            assert!(agent.apply(&mut hw, &tracker, ask, now).unwrap());
        }
    }
    assert_eq!(hw.ct_offloaded(), 1);
    let in_hw = |hw: &Installed, phase: u8, at: u64| {
        hw.set_time_ns(at);
        let (port, mut f) = tcp_frame(1, phase);
        let d = hw.process(port, &mut f);
        !matches!(
            d.outcome.verdict,
            doca_flow::Verdict::Rss { .. } | doca_flow::Verdict::Miss { .. }
        )
    };
    // Phase 3 is the client's data (host side, pf0hpf), phase 4 the server's (p0).
    assert_ne!(tcp_frame(1, 3).0, tcp_frame(1, 4).0, "two ports");
    assert!(in_hw(&hw, 3, now), "the origin direction hits in hardware");
    assert!(in_hw(&hw, 4, now), "the reply direction hits in hardware");
    let mut age = |hw: &mut Installed, at: u64| {
        hw.set_time_ns(at);
        agent.age(hw, &tracker, at).unwrap()
    };
    // Only the origin direction flows: the reply lane's copy ages, the connection not.
    assert!(in_hw(&hw, 3, 20 * S));
    assert_eq!(age(&mut hw, 35 * S), 0, "the origin direction still flows");
    assert_eq!(hw.ct_offloaded(), 1);
    // Then only the reply direction: the origin lane's copy ages, the reply's revived.
    assert!(in_hw(&hw, 4, 45 * S));
    assert_eq!(age(&mut hw, 60 * S), 0, "the reply direction still flows");
    assert_eq!(hw.ct_offloaded(), 1);
    assert!(in_hw(&hw, 3, 61 * S) && in_hw(&hw, 4, 61 * S));
    // Neither: it ages out of every lane.
    assert_eq!(age(&mut hw, 200 * S), 1);
    assert_eq!(hw.ct_offloaded(), 0);
    assert!(!in_hw(&hw, 3, 201 * S) && !in_hw(&hw, 4, 201 * S));
}

#[test]
fn both_directions_hit_and_age_together_in_switch_mode() {
    both_directions_on(&on_sw);
}

/// Established packets are decided in the CT pipe's pipelines, not in software.
#[test]
fn established_traffic_stays_in_hardware() {
    established_on(&on_sw);
}

fn established_on(install: Install) {
    let mut steps = Vec::new();
    for phase in 0..9 {
        for conn in 0..6 {
            steps.push(Step::Tcp { conn, phase });
        }
    }
    for _ in 0..5 {
        for conn in 0..6 {
            steps.push(Step::Udp { conn, reply: false });
            steps.push(Step::Udp { conn, reply: true });
        }
    }
    let (in_hw, in_sw) = run_with(&steps, install).unwrap();
    // Per TCP session: SYN, SYN-ACK, the first ACK (offloads) and two FINs go to
    // software; data and the later ACKs hit the CT pipe. UDP: the query and first
    // answer in software, the rest in hardware.
    assert!(
        in_hw >= 6 * 3 + 6 * 8,
        "{in_hw} in hardware, {in_sw} in software"
    );
}

/// The same through the hardware backend on the DOCA Flow contract emulator: the CT
/// pipe, the offloads, the removals on FIN/RST and aging, and the moves of offloaded
/// connections on updates all go through `doca_flow_ct` calls of the seam. (One test:
/// the EAL starts once per process.)
#[cfg(feature = "doca-emu")]
#[test]
fn through_the_hw_backend_on_the_doca_flow_emulator() {
    use doca_flow::backend::emu;
    use proptest::test_runner::{Config, TestRunner};
    let eal = doca_flow::dpdk::Eal::init_without_devices("ct_offload")
        .expect("EAL init (run as root with DPDK installed)");
    let hw = |plan: &dpu_fw::compile::Plan| {
        Installed::with_backend(plan, doca_flow::HwBackend::new(&eal)).unwrap()
    };
    // vnf mode (SF ports): a lane per port on the emulated hardware.
    let hw_vnf = |plan: &dpu_fw::compile::Plan| {
        let fw = Installed::with_backend_mode(
            plan,
            doca_flow::HwBackend::new(&eal),
            doca_flow::Mode::Vnf,
        )
        .unwrap();
        assert_eq!(fw.lanes(), plan.ports.len());
        fw
    };
    emu::reset();
    established_on(&hw);
    // Offloaded connections move to the new CT pipe on make-before-break updates.
    offloads_survive_updates_on(&hw);
    let v = emu::violations();
    assert!(v.is_empty(), "{v:#?}");
    established_on(&hw_vnf);
    offloads_survive_updates_on(&hw_vnf);
    both_directions_on(&hw_vnf);
    both_directions_on(&hw);
    let v = emu::violations();
    assert!(v.is_empty(), "vnf mode: {v:#?}");
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(step(), 1..120), |steps| {
            run_with(&steps, &hw)?;
            run_with(&steps, &hw_vnf)?;
            let v = emu::violations();
            prop_assert!(v.is_empty(), "{:#?}", v);
            Ok(())
        })
        .unwrap();
    assert_eq!(emu::census(), emu::Census::default());
}

/// The policy with outbound traffic accepted by a rule instead of the default: the
/// host's established pipelines miss to `drop` now, so the `bluefield` pipes differ and
/// an update is make-before-break (new pipes, a new CT pipe).
fn changed_policy() -> String {
    POLICY.replace(
        "[defaults]",
        "[[rules]]\nname = \"host-out\"\nin_port = \"pf0hpf\"\naction = \"accept\"\n\n[defaults]",
    )
    .replace("outbound = \"accept\"", "outbound = \"drop\"")
}

/// Offloaded connections stay in hardware across policy updates: a make-before-break
/// update moves them into the new CT pipe before the flip, and an update that fails
/// leaves them where they were.
fn offloads_survive_updates_on(install: Install) {
    let rules = dpu_fw::config::parse(POLICY, "p.toml").unwrap().rules;
    let changed = dpu_fw::config::parse(&changed_policy(), "q.toml")
        .unwrap()
        .rules;
    let hw_plan = compile(&rules, &Target::bluefield()).unwrap();
    let hw_changed = compile(&changed, &Target::bluefield()).unwrap();
    assert!(
        !dpu_fw::compile::diff::diff(&hw_plan, &hw_changed).in_place(usize::MAX),
        "the change must rebuild the pipes"
    );
    let sw_plan = compile(&rules, &Target::software()).unwrap();
    let soft = Firewall::new(Arc::new(Installed::new(&sw_plan).unwrap()), &rules, None);
    let mut hybrid = Offloading::new(install(&hw_plan), soft, 30);
    let mut now = 0;
    let mut step = |h: &mut Offloading, conn: u8, phase: u8| {
        now += 1_000_000;
        let (port, mut f) = tcp_frame(conn, phase);
        h.process(port, &mut f, now).unwrap()
    };
    // Handshakes: the third packet (the client's ACK) offloads each connection.
    for conn in 0..4 {
        for phase in 0..3 {
            step(&mut hybrid, conn, phase);
        }
    }
    assert_eq!(hybrid.hardware().ct_offloaded(), 4);
    assert_eq!(hybrid.agent().len(), 4);
    for (n, plan) in [&hw_changed, &hw_plan, &hw_changed].into_iter().enumerate() {
        hybrid
            .hardware_mut()
            .update(plan)
            .unwrap_or_else(|e| panic!("update {n}: {e}"));
        assert_eq!(hybrid.hardware().ct_offloaded(), 4, "after update {n}");
        for conn in 0..4 {
            let p = step(&mut hybrid, conn, 3 + (n as u8 % 2));
            assert!(
                p.in_hardware && p.processed.passed(),
                "update {n}: conn {conn}'s data left the hardware path: {p:?}"
            );
        }
    }
    // The close goes through software and takes the connections out of the CT pipe,
    // in whichever generation holds them.
    for conn in 0..4 {
        let p = step(&mut hybrid, conn, 5);
        assert!(!p.in_hardware && p.processed.passed(), "{p:?}");
    }
    assert_eq!(hybrid.hardware().ct_offloaded(), 0);
    assert_eq!(hybrid.agent().stats().closed, 4);
}

#[test]
fn offloads_survive_updates() {
    offloads_survive_updates_on(&on_sw);
}

/// `dpu-fw run`'s split: workers decide on the software path and only ask; the agent
/// applies the asks later. One ask per connection, however many packets come first.
#[test]
fn workers_ask_once_per_connection() {
    use dpu_fw::firewall::{OffloadAgent, OffloadRequest};
    let rules = dpu_fw::config::parse(POLICY, "p.toml").unwrap().rules;
    let hw_plan = compile(&rules, &Target::bluefield()).unwrap();
    let sw_plan = compile(&rules, &Target::software()).unwrap();
    let mut hw = Installed::new(&hw_plan).unwrap();
    let mut worker = Firewall::new(Arc::new(Installed::new(&sw_plan).unwrap()), &rules, None);
    let tracker = worker.tracker().unwrap().clone();
    let mut agent = OffloadAgent::new(30);
    let mut asks = Vec::new();
    let mut now = 0;
    // The handshake, then data in both directions before the agent runs.
    for phase in [0, 1, 2, 3, 4, 3, 4] {
        now += 1_000;
        let (port, mut f) = tcp_frame(0, phase);
        let p = worker.process(port, &mut f, now);
        assert!(p.passed(), "phase {phase}");
        asks.extend(worker.offload_request(port, &f, &p, now));
    }
    assert_eq!(asks.len(), 1, "{asks:?}");
    assert!(matches!(
        asks[0],
        OffloadRequest::Offload { zone: _, tuple: _ }
    ));
    assert!(agent.apply(&mut hw, &tracker, asks[0], now).unwrap());
    // Hardware now decides the connection's packets.
    let (port, mut f) = tcp_frame(0, 3);
    let d = hw.process(port, &mut f);
    assert!(
        !matches!(
            d.outcome.verdict,
            doca_flow::Verdict::Rss { .. } | doca_flow::Verdict::Miss { .. }
        ),
        "{d:?}"
    );
    // A FIN asks for the close, and nothing offloads the connection again.
    let mut asks = Vec::new();
    for phase in [5, 6, 7, 8] {
        now += 1_000;
        let (port, mut f) = tcp_frame(0, phase);
        let p = worker.process(port, &mut f, now);
        asks.extend(worker.offload_request(port, &f, &p, now));
    }
    assert!(
        matches!(
            asks.as_slice(),
            [OffloadRequest::Close { .. }, OffloadRequest::Close { .. }]
        ),
        "{asks:?}"
    );
    for a in asks {
        agent.apply(&mut hw, &tracker, a, now).unwrap();
    }
    assert_eq!(hw.ct_offloaded(), 0);
    assert_eq!(agent.stats().offloaded, 1);
}
