//! The fast connection tracker against the reference model: random interleavings of
//! packets of many flows (TCP sessions with plausible and perturbed sequence numbers,
//! UDP, ICMP echo, ICMP errors about tracked and untracked packets, other protocols,
//! IPv4 and IPv6, two zones), a virtual clock with short timeouts, a small table, and a
//! policy that accepts some new connections and not others. Every packet must get the
//! same state from both, every commit the same answer, and the connection tables must
//! hold the same connections, counters and timeouts. Time moves only with `Wait` (whole
//! milliseconds, often whole seconds), so packets often arrive exactly when a timeout
//! ends.

mod common;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use doca_flow::packet::{Headers, PacketBuilder, tcp_flags};
use dpu_fw::conntrack::reference::Reference;
use dpu_fw::conntrack::{CtConfig, CtPacket, CtState, TableFull, Timeouts, Tracker};
use proptest::prelude::*;

const SEC: u64 = 1_000_000_000;

/// What happens next in the scenario.
#[derive(Debug, Clone)]
enum Ev {
    /// A TCP segment of flow `f`: `kind` picks SYN / SYN-ACK / ACK / data / FIN / RST /
    /// garbage; `from_server` the side; `skew` perturbs the sequence number.
    Tcp {
        f: usize,
        kind: u8,
        from_server: bool,
        len: u16,
        skew: i32,
        wscale: Option<u8>,
        garbage: (u8, u32, u32),
    },
    /// A UDP datagram of flow `f`.
    Udp {
        f: usize,
        from_server: bool,
        len: u16,
    },
    /// An ICMP echo request (or reply) of flow `f`.
    Echo { f: usize, reply: bool },
    /// A GRE packet of flow `f`.
    Gre { f: usize, from_server: bool },
    /// An ICMP error about a packet of flow `f` of protocol `proto` (TCP/UDP), sent
    /// towards that packet's sender (or, with `wrong_way`, towards its receiver).
    Error {
        f: usize,
        proto: u8,
        from_server: bool,
        wrong_way: bool,
    },
    /// A whole well-formed TCP session of flow `f`, opened by the client (or, to test
    /// direction handling, by the server).
    Script { f: usize, first_from_server: bool },
    /// A non-first fragment.
    Fragment { f: usize },
    /// The clock moves on.
    Wait { ms: u32 },
    /// The fast tracker sweeps expired connections (the reference has nothing to do).
    Sweep,
    /// The last packet event again, at once (a retransmission or a duplicate: in the
    /// same burst as the packet it repeats).
    Again,
}

fn ev() -> impl Strategy<Value = Ev> {
    let f = 0usize..12;
    prop_oneof![
        8 => (
            f.clone(),
            0u8..7,
            any::<bool>(),
            prop_oneof![3 => Just(0u16), 1 => 1u16..3000],
            prop_oneof![6 => Just(0i32), 1 => -70_000i32..70_000, 1 => any::<i32>()],
            prop_oneof![3 => Just(None), 1 => (0u8..16).prop_map(Some)],
            (any::<u8>(), any::<u32>(), any::<u32>()),
        )
            .prop_map(|(f, kind, from_server, len, skew, wscale, garbage)| Ev::Tcp {
                f,
                kind,
                from_server,
                len,
                skew,
                wscale,
                garbage,
            }),
        3 => (f.clone(), any::<bool>(), 0u16..100)
            .prop_map(|(f, from_server, len)| Ev::Udp { f, from_server, len }),
        2 => (f.clone(), any::<bool>()).prop_map(|(f, reply)| Ev::Echo { f, reply }),
        1 => (f.clone(), any::<bool>()).prop_map(|(f, from_server)| Ev::Gre { f, from_server }),
        2 => (f.clone(), prop_oneof![Just(6u8), Just(17u8)], any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(f, proto, from_server, wrong_way)| Ev::Error { f, proto, from_server, wrong_way }),
        1 => f.clone().prop_map(|f| Ev::Fragment { f }),
        1 => (f.clone(), prop::bool::weighted(0.2))
            .prop_map(|(f, first_from_server)| Ev::Script { f, first_from_server }),
        3 => prop_oneof![0u32..200, 0u32..4000, 0u32..40_000, (1u32..4).prop_map(|s| s * 1000)]
            .prop_map(|ms| Ev::Wait { ms }),
        1 => Just(Ev::Sweep),
        2 => Just(Ev::Again),
    ]
}

/// Flow `f`'s endpoints: client, server, client port, server port, zone.
fn flow(f: usize) -> (IpAddr, IpAddr, u16, u16, u16) {
    let v6 = f % 3 == 2;
    let c = (f % 4) as u8;
    let s = (f / 4) as u8;
    let (client, server) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                0,
                1 + u16::from(c),
            )),
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                1,
                0,
                0,
                0,
                0,
                1 + u16::from(s % 2),
            )),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + c)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1 + s % 2)),
        )
    };
    // Flows 0 and 4 share ports and hosts in other zones.
    let zone = (f % 5 == 4) as u16;
    (client, server, 40000 + (f % 2) as u16, 80, zone)
}

/// The sequence numbers each side of a flow would send next (a traffic generator, not
/// a TCP stack: it moves on whether or not the packet passes).
#[derive(Clone, Copy, Default)]
struct Seqs {
    next: [u32; 2],
}

fn tcp_frame(src: IpAddr, dst: IpAddr, sp: u16, dp: u16) -> PacketBuilder {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::tcp4(s, d, sp, dp),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::tcp6(s, d, sp, dp),
        _ => unreachable!(),
    }
}

fn udp_frame(src: IpAddr, dst: IpAddr, sp: u16, dp: u16) -> PacketBuilder {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::udp4(s, d, sp, dp),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::udp6(s, d, sp, dp),
        _ => unreachable!(),
    }
}

fn icmp_frame(src: IpAddr, dst: IpAddr, v4type: u8, v6type: u8) -> PacketBuilder {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::icmp4(s, d, v4type, 0),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::icmp6(s, d, v6type, 0),
        _ => unreachable!(),
    }
}

/// The IP packet inside a frame (what an ICMP error quotes).
fn ip_part(frame: &[u8]) -> Vec<u8> {
    let h = Headers::parse(frame);
    let l3 = usize::from(h.offsets.l3.unwrap());
    frame[l3..(l3 + 48).min(frame.len())].to_vec()
}

#[allow(clippy::too_many_arguments)]
fn tcp_seg(
    f: usize,
    kind: u8,
    from_server: bool,
    len: u16,
    skew: i32,
    wscale: Option<u8>,
    garbage: (u8, u32, u32),
    seqs: &mut [Seqs; 12],
    isn_seed: u32,
) -> (u16, Vec<u8>) {
    let (c, s, cp, sp, zone) = flow(f);
    let (src, dst, p1, p2) = if from_server {
        (s, c, sp, cp)
    } else {
        (c, s, cp, sp)
    };
    let me = usize::from(from_server);
    let sq = &mut seqs[f];
    let isn = |side: usize| {
        isn_seed
            .wrapping_mul(2654435761)
            .wrapping_add(((f * 2 + side) as u32).wrapping_mul(0x1000_0000))
    };
    let (flags, seq, ack, len) = match kind {
        // SYN: the side starts over from its initial number.
        0 => {
            sq.next[me] = isn(me);
            (tcp_flags::SYN, isn(me), 0, 0)
        }
        // SYN-ACK.
        1 => {
            sq.next[me] = isn(me);
            (
                tcp_flags::SYN | tcp_flags::ACK,
                isn(me),
                sq.next[1 - me].wrapping_add(1),
                0,
            )
        }
        // ACK / data.
        2 | 3 => (
            tcp_flags::ACK | if len > 0 { tcp_flags::PSH } else { 0 },
            sq.next[me].wrapping_add(u32::from(sq.next[me] == isn(me))),
            sq.next[1 - me].wrapping_add(u32::from(sq.next[1 - me] == isn(1 - me))),
            if kind == 2 { 0 } else { len },
        ),
        4 => (
            tcp_flags::FIN | tcp_flags::ACK,
            sq.next[me].wrapping_add(u32::from(sq.next[me] == isn(me))),
            sq.next[1 - me].wrapping_add(u32::from(sq.next[1 - me] == isn(1 - me))),
            0,
        ),
        5 => (
            tcp_flags::RST,
            sq.next[me].wrapping_add(u32::from(sq.next[me] == isn(me))),
            0,
            0,
        ),
        _ => (garbage.0, garbage.1, garbage.2, len.min(100)),
    };
    let seq = seq.wrapping_add(skew as u32);
    if kind != 0 && kind != 1 {
        let base = sq.next[me].wrapping_add(u32::from(sq.next[me] == isn(me)));
        sq.next[me] = base
            .wrapping_add(u32::from(len))
            .wrapping_add(u32::from(kind == 4));
    }
    let mut b = tcp_frame(src, dst, p1, p2)
        .flags(flags)
        .seq(seq)
        .ack_number(ack)
        .window(8192)
        .payload(&vec![0x55; usize::from(len)]);
    if let Some(ws) = wscale {
        b = b.tcp_options(&[1, 3, 3, ws]);
    }
    (zone, b.build())
}

/// The frames of an event, remembering them for a later [`Ev::Again`].
fn frames_again(
    e: &Ev,
    seqs: &mut [Seqs; 12],
    isn_seed: u32,
    last: &mut Vec<(u16, Vec<u8>)>,
) -> Vec<(u16, Vec<u8>)> {
    if matches!(e, Ev::Again) {
        return last.clone();
    }
    let f = frames(e, seqs, isn_seed);
    if !f.is_empty() {
        *last = f.clone();
    }
    f
}

/// The frames of an event, with its zone; `None` for the clock and sweep events.
fn frames(e: &Ev, seqs: &mut [Seqs; 12], isn_seed: u32) -> Vec<(u16, Vec<u8>)> {
    vec![match *e {
        Ev::Tcp {
            f,
            kind,
            from_server,
            len,
            skew,
            wscale,
            garbage,
        } => tcp_seg(
            f,
            kind,
            from_server,
            len,
            skew,
            wscale,
            garbage,
            seqs,
            isn_seed,
        ),
        Ev::Script {
            f,
            first_from_server,
        } => {
            // A whole session: handshake, data both ways, FIN, ACK, FIN, ACK.
            let c = first_from_server;
            let steps = [
                (0, c, 0),
                (1, !c, 0),
                (2, c, 0),
                (3, c, 100),
                (3, !c, 1400),
                (4, c, 0),
                (2, !c, 0),
                (4, !c, 0),
                (2, c, 0),
            ];
            return steps
                .into_iter()
                .map(|(kind, side, len)| {
                    tcp_seg(f, kind, side, len, 0, None, (0, 0, 0), seqs, isn_seed)
                })
                .collect();
        }
        Ev::Udp {
            f,
            from_server,
            len,
        } => {
            let (c, s, cp, sp, zone) = flow(f);
            let b = if from_server {
                udp_frame(s, c, 53, cp)
            } else {
                udp_frame(c, s, cp, 53)
            };
            let _ = sp;
            (zone, b.payload(&vec![1; usize::from(len)]).build())
        }
        Ev::Echo { f, reply } => {
            let (c, s, _, _, zone) = flow(f);
            let id = 7 + f as u16;
            let b = if reply {
                icmp_frame(s, c, 0, 129)
            } else {
                icmp_frame(c, s, 8, 128)
            };
            (zone, b.icmp_echo(id, 1).build())
        }
        Ev::Gre { f, from_server } => {
            let (c, s, _, _, zone) = flow(f);
            let (src, dst) = if from_server { (s, c) } else { (c, s) };
            let b = match (src, dst) {
                (IpAddr::V4(a), IpAddr::V4(b)) => PacketBuilder::ipv4(a, b, 47),
                (IpAddr::V6(a), IpAddr::V6(b)) => PacketBuilder::ipv6(a, b, 47),
                _ => unreachable!(),
            };
            (zone, b.payload(&[0; 8]).build())
        }
        Ev::Error {
            f,
            proto,
            from_server,
            wrong_way,
        } => {
            let (c, s, cp, sp, zone) = flow(f);
            // The quoted packet went sender -> receiver.
            let (sender, receiver, p1, p2) = if from_server {
                (s, c, sp, cp)
            } else {
                (c, s, cp, sp)
            };
            let (p1, p2) = if proto == 17 {
                if from_server { (53, cp) } else { (cp, 53) }
            } else {
                (p1, p2)
            };
            let quoted = if proto == 17 {
                udp_frame(sender, receiver, p1, p2).payload(b"q").build()
            } else {
                tcp_frame(sender, receiver, p1, p2)
                    .flags(tcp_flags::ACK)
                    .build()
            };
            let to = if wrong_way { receiver } else { sender };
            let from = if wrong_way { sender } else { receiver };
            (
                zone,
                icmp_frame(from, to, 3, 1)
                    .payload(&ip_part(&quoted))
                    .build(),
            )
        }
        Ev::Fragment { f } => {
            let (c, s, cp, _, zone) = flow(f);
            (zone, udp_frame(c, s, cp, 53).fragment(64, true).build())
        }
        Ev::Wait { .. } | Ev::Sweep | Ev::Again => return Vec::new(),
    }]
}

fn config(max: u32, liberal: bool) -> CtConfig {
    let s = Duration::from_secs;
    CtConfig {
        max_connections: max,
        table_full: TableFull::DropNew,
        timeouts: Timeouts {
            tcp_syn_sent: s(3),
            tcp_syn_recv: s(2),
            tcp_established: s(30),
            tcp_fin_wait: s(4),
            tcp_close_wait: s(3),
            tcp_last_ack: s(2),
            tcp_time_wait: s(5),
            tcp_close: s(1),
            udp: s(2),
            udp_stream: s(6),
            icmp: s(2),
            generic: s(8),
        },
        tcp_liberal: liberal,
    }
}

fn run(
    events: &[Ev],
    max: u32,
    liberal: bool,
    accept_mask: u16,
    isn_seed: u32,
) -> Result<(), TestCaseError> {
    let cfg = config(max, liberal);
    let fast = Tracker::new(cfg).full_sweep_every(0);
    let mut slow = Reference::new(cfg);
    let mut seqs = [Seqs::default(); 12];
    let mut last = Vec::new();
    let mut now: u64 = SEC;
    let mut states = [0usize; 4];
    for (i, e) in events.iter().enumerate() {
        match e {
            Ev::Wait { ms } => {
                now += u64::from(*ms) * 1_000_000;
                continue;
            }
            Ev::Sweep => {
                fast.expire(now);
                continue;
            }
            _ => {}
        }
        for (zone, bytes) in frames_again(e, &mut seqs, isn_seed, &mut last) {
            let pkt = CtPacket::parse(&bytes, &Headers::parse(&bytes)).expect("an IP packet");
            let got = fast.track(zone, &pkt, now);
            let (want, pending) = slow.track(zone, &pkt, now);
            prop_assert_eq!(got.state, want, "event {}: {:?} ({:?})", i, e, pkt);
            prop_assert_eq!(got.opens(), pending.is_some(), "event {}: {:?}", i, e);
            states[got.state as usize] += 1;
            // The policy: flows in the accept mask may open connections.
            let flow_of = match e {
                Ev::Tcp { f, .. }
                | Ev::Udp { f, .. }
                | Ev::Echo { f, .. }
                | Ev::Gre { f, .. }
                | Ev::Script { f, .. } => *f,
                _ => 0,
            };
            if accept_mask & (1 << flow_of) != 0 {
                if let Some(p) = pending {
                    let stored = fast.commit(&got, now).is_ok();
                    prop_assert_eq!(
                        stored,
                        slow.commit(p, now),
                        "event {}: commit of {:?}",
                        i,
                        e
                    );
                }
            }
        }
    }
    same_tables(&fast, &slow, now)
}

/// Both tables hold the same live connections, with the same counters and timeouts.
fn same_tables(fast: &Tracker, slow: &Reference, now: u64) -> Result<(), TestCaseError> {
    let mut a: Vec<_> = fast
        .connections(now)
        .into_iter()
        .map(|c| {
            (
                c.zone,
                c.origin,
                c.tcp,
                c.replied,
                c.packets,
                c.bytes,
                c.expires_in,
            )
        })
        .collect();
    let mut b: Vec<_> = slow
        .connections(now)
        .into_iter()
        .map(|c| {
            (
                c.zone,
                c.origin,
                (c.origin.proto == 6).then_some(c.tcp.state),
                c.replied,
                c.packets,
                c.bytes,
                Duration::from_nanos(c.expires - now),
            )
        })
        .collect();
    a.sort();
    b.sort();
    prop_assert_eq!(a, b);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(if cfg!(debug_assertions) { 300 } else { 3000 })))]

    #[test]
    fn fast_tracker_equals_reference(
        events in prop::collection::vec(ev(), 1..250),
        max in prop_oneof![1u32..4, 4u32..12, Just(1000u32)],
        liberal in prop::bool::weighted(0.2),
        accept_mask in any::<u16>(),
        isn_seed in any::<u32>(),
    ) {
        run(&events, max, liberal, accept_mask, isn_seed)?;
    }
}

/// The generator reaches every state and the interesting outcomes, so the property
/// above is not comparing two trackers that only ever say `invalid`.
#[test]
fn scenarios_reach_every_state() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = [0usize; 4];
    let mut tcp_states = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let events = prop::collection::vec(ev(), 100..250)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let cfg = config(1000, false);
        let fast = Tracker::new(cfg);
        let mut seqs = [Seqs::default(); 12];
        let mut last = Vec::new();
        let mut now = SEC;
        for e in &events {
            if let Ev::Wait { ms } = e {
                now += u64::from(*ms) * 1_000_000;
                continue;
            }
            for (zone, bytes) in frames_again(e, &mut seqs, 99, &mut last) {
                let pkt = CtPacket::parse(&bytes, &Headers::parse(&bytes)).unwrap();
                let t = fast.track(zone, &pkt, now);
                seen[t.state as usize] += 1;
                fast.commit(&t, now).unwrap();
                for c in fast.connections(now) {
                    if let Some(s) = c.tcp {
                        tcp_states.insert(s);
                    }
                }
                now += 1_000;
            }
        }
    }
    for s in CtState::ALL {
        assert!(
            seen[s as usize] > 20,
            "state {s} seen {} times: {seen:?}",
            seen[s as usize]
        );
    }
    assert!(tcp_states.len() >= 7, "TCP states reached: {tcp_states:?}");
}

/// The policy of the firewall property: return traffic by state, a stateless rule
/// before it, invalid packets from the network counted and dropped, the host's new
/// connections accepted by the outbound default.
const POLICY: &str = r#"
[ports.p0]
role = "uplink"
id = 0
[ports.pf0hpf]
role = "host"
id = 1

[conntrack]
max_connections = MAX
timeouts = { tcp_syn_sent = 3, tcp_syn_recv = 2, tcp_established = 30, tcp_fin_wait = 4, tcp_close_wait = 3, tcp_last_ack = 2, tcp_time_wait = 5, tcp_close = 1, udp = 2, udp_stream = 6, icmp = 2, generic = 8 }

[[rules]]
name = "no-gre-in"
in_port = "p0"
protocol = "gre"
action = "drop"

[[rules]]
name = "return"
in_port = "p0"
state = ["established", "related"]
action = "accept"
count = true

[[rules]]
name = "invalid"
state = "invalid"
action = "drop"
count = true

[[rules]]
name = "no-new-udp-out"
in_port = "pf0hpf"
protocol = "udp"
src_port = "40001"
state = "new"
action = "drop"

[defaults]
inbound = "drop"
outbound = "accept"
"#;

/// `dpu_fw::firewall` (the conntrack stage, the compiled pipes on the sw backend, and
/// the commit of what they pass), frame by frame and in bursts, decides every packet as
/// the reference tracker followed by the oracle does: same state, same rule, same fate.
fn firewall_run(events: &[Ev], max: u32, isn_seed: u32, bursts: bool) -> Result<(), TestCaseError> {
    use dpu_fw::compile::{Target, compile};
    use dpu_fw::firewall::Firewall;
    use dpu_fw::install::Installed;
    use dpu_fw::model::Action;
    use dpu_fw::oracle;
    use std::sync::Arc;

    let text = POLICY.replace("MAX", &max.to_string());
    let rules = dpu_fw::config::parse(&text, "ct.toml")
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .rules;
    let plan =
        compile(&rules, &Target::software()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Exact table-full behaviour: sweep whenever the clock moved.
    let tracker = Tracker::new(rules.conntrack.as_ref().unwrap().config).full_sweep_every(0);
    let mut fw = Firewall::new(
        Arc::new(Installed::new(&plan).unwrap()),
        &rules,
        Some(Arc::new(tracker)),
    );
    let mut slow = Reference::new(rules.conntrack.as_ref().unwrap().config);
    let mut seqs = [Seqs::default(); 12];
    let mut last = Vec::new();
    let mut now: u64 = SEC;
    // Packets of one instant, entering at one port, go in one burst.
    let mut burst: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut expected: Vec<(Option<usize>, CtState, bool)> = Vec::new();
    let flush = |fw: &mut Firewall,
                 burst: &mut Vec<(&str, Vec<u8>)>,
                 expected: &mut Vec<(Option<usize>, CtState, bool)>,
                 now: u64|
     -> Result<(), TestCaseError> {
        if burst.is_empty() {
            return Ok(());
        }
        let port = plan.port_id(burst[0].0).unwrap();
        let mut frames: Vec<Vec<u8>> = burst.drain(..).map(|(_, f)| f).collect();
        let mut got = Vec::new();
        if bursts {
            fw.process_batch_each(port, &mut frames, now, |_, o, r, st, full| {
                got.push((
                    r.map(|r| r as usize),
                    st,
                    !matches!(o.verdict, doca_flow::Verdict::Drop(_)) && !full,
                ));
            });
        } else {
            for f in &mut frames {
                let p = fw.process(port, f, now);
                got.push((p.decision.rule.map(|r| r as usize), p.state, p.passed()));
            }
        }
        for (g, (rule, state, passed)) in got.into_iter().zip(expected.drain(..)) {
            prop_assert_eq!(g, (rule, Some(state), passed));
        }
        Ok(())
    };
    for e in events {
        match e {
            Ev::Wait { ms } => {
                flush(&mut fw, &mut burst, &mut expected, now)?;
                now += u64::from(*ms) * 1_000_000;
                continue;
            }
            Ev::Sweep => {
                flush(&mut fw, &mut burst, &mut expected, now)?;
                fw.tracker().unwrap().expire(now);
                continue;
            }
            _ => {}
        }
        for (_, bytes) in frames_again(e, &mut seqs, isn_seed, &mut last) {
            let h = Headers::parse(&bytes);
            let pkt = CtPacket::parse(&bytes, &h).unwrap();
            // Inside hosts (10.0.0.0/8, 2001:db8:0::/48) sit behind the host port.
            let inside = match pkt.tuple.src {
                IpAddr::V4(a) => a.octets()[0] == 10,
                IpAddr::V6(a) => a.segments()[2] == 0,
            };
            let port = if inside { "pf0hpf" } else { "p0" };
            if burst.first().is_some_and(|(p, _)| *p != port) {
                flush(&mut fw, &mut burst, &mut expected, now)?;
            }
            let (state, pending) = slow.track(0, &pkt, now);
            let want = oracle::evaluate_tracked(&rules, port, &h, Some(state));
            let mut passed = want.action != Action::Drop;
            if passed {
                if let Some(p) = pending {
                    passed = slow.commit(p, now);
                }
            }
            expected.push((want.rule, state, passed));
            burst.push((port, bytes));
        }
    }
    flush(&mut fw, &mut burst, &mut expected, now)?;
    same_tables(fw.tracker().unwrap(), &slow, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(if cfg!(debug_assertions) { 64 } else { 512 })))]

    #[test]
    fn firewall_equals_reference_and_oracle(
        events in prop::collection::vec(ev(), 1..200),
        max in prop_oneof![1u32..6, Just(1000u32)],
        isn_seed in any::<u32>(),
        bursts in any::<bool>(),
    ) {
        firewall_run(&events, max, isn_seed, bursts)?;
    }
}

/// The queries of eight UDP flows from inside hosts (10.0.0.i:40000) to a DNS server
/// on the network side, and the server's replies.
fn dns_flows() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let client = |i: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
    let queries = (0..8)
        .map(|i| udp_frame(client(i), server, 40_000, 53).build())
        .collect();
    let replies = (0..8)
        .map(|i| udp_frame(server, client(i), 53, 40_000).build())
        .collect();
    (queries, replies)
}

/// Runs copies of `frames` through `fw` as one burst on `port` at `now`: per frame, its
/// state and whether it passed.
fn burst(
    fw: &mut dpu_fw::firewall::Firewall,
    port: doca_flow::PortId,
    frames: &[Vec<u8>],
    now: u64,
) -> Vec<(Option<CtState>, bool)> {
    let mut frames = frames.to_vec();
    let mut got = Vec::new();
    fw.process_batch_each(port, &mut frames, now, |_, o, _, st, full| {
        got.push((
            st,
            !matches!(o.verdict, doca_flow::Verdict::Drop(_)) && !full,
        ));
    });
    got
}

/// Bursts of established packets use the ACL answer their connection remembers
/// (`doca_flow::AclMemo`): the second burst of replies of eight UDP flows is answered
/// by memos alone. A reload (a new backend, the same tracker) makes every memo stale:
/// the replies follow the new policy, which drops them.
#[test]
fn bursts_use_memos_until_a_reload() {
    use dpu_fw::compile::{Target, compile};
    use dpu_fw::firewall::Firewall;
    use dpu_fw::install::Installed;
    use std::sync::Arc;

    let text = POLICY.replace("MAX", "1000");
    let build = |text: &str| {
        let rules = dpu_fw::config::parse(text, "ct.toml").unwrap().rules;
        let plan = compile(&rules, &Target::software()).unwrap();
        (rules, plan)
    };
    let (rules, plan) = build(&text);
    let tracker = Arc::new(Tracker::new(rules.conntrack.as_ref().unwrap().config));
    let mut fw = Firewall::new(
        Arc::new(Installed::new(&plan).unwrap()),
        &rules,
        Some(Arc::clone(&tracker)),
    );
    let (queries, replies) = dns_flows();
    let (host, net) = (plan.port_id("pf0hpf").unwrap(), plan.port_id("p0").unwrap());
    let est = (Some(CtState::Established), true);
    assert!(
        burst(&mut fw, host, &queries, SEC)
            .iter()
            .all(|g| *g == (Some(CtState::New), true))
    );
    // The first replies look up and record; the next ones are answered by memos.
    assert!(
        burst(&mut fw, net, &replies, 2 * SEC)
            .iter()
            .all(|g| *g == est)
    );
    assert_eq!(fw.installed().memo_stats().hits, 0);
    assert!(
        burst(&mut fw, net, &replies, 3 * SEC)
            .iter()
            .all(|g| *g == est)
    );
    assert_eq!(fw.installed().memo_stats().hits, 8);
    // Recorded: the queries' direction (kept once their connections were committed)
    // and the replies'.
    assert_eq!(fw.installed().memo_stats().recorded, 16);
    // The queries' memos were recorded at the `new` state's ACL pipe; established,
    // the queries take the host port's established pipeline, which no rule reaches
    // (no ACL pipe, nothing to look up): their memos are not used.
    assert!(
        burst(&mut fw, host, &queries, 3 * SEC)
            .iter()
            .all(|g| *g == est)
    );
    assert_eq!(fw.installed().memo_stats().hits, 8);
    assert_eq!(fw.installed().memo_stats().recorded, 16);

    // A reload without the `return` rule: inbound traffic falls to the default drop.
    let start = text.find("[[rules]]\nname = \"return\"").unwrap();
    let end = start + text[start..].find("count = true").unwrap() + "count = true".len();
    let (rules2, plan2) = build(&format!("{}{}", &text[..start], &text[end..]));
    let mut fw2 = Firewall::new(
        Arc::new(Installed::new(&plan2).unwrap()),
        &rules2,
        Some(Arc::clone(&tracker)),
    );
    let dropped = (Some(CtState::Established), false);
    for now in [4 * SEC, 5 * SEC] {
        assert!(
            burst(&mut fw2, net, &replies, now)
                .iter()
                .all(|g| *g == dropped)
        );
    }
    // The old policy's memos were stale in the new backend: the first burst looked up
    // (and recorded), the second used the new memos.
    assert_eq!(fw2.installed().memo_stats().hits, 8);
    assert_eq!(fw2.installed().memo_stats().recorded, 8);
}

/// Two workers (each with its own installed copy of the policy, so its own backend and
/// memo versions) share one tracker, one taking the queries of eight UDP flows and the
/// other the replies. The connection keeps the newer backend's memos only: the replies'
/// worker records once and is answered by memos from then on, the queries' worker
/// looks up every time (as without memos), and neither undoes the other's memo on
/// every packet. Verdicts are those of one worker.
#[test]
fn memos_of_two_workers_do_not_undo_each_other() {
    use dpu_fw::compile::{Target, compile};
    use dpu_fw::firewall::Firewall;
    use dpu_fw::install::Installed;
    use std::sync::Arc;

    // With a rule for the host's established DNS queries, both directions' packets
    // meet an ACL pipe.
    let text = POLICY.replace("MAX", "1000")
        + "\n[[rules]]\nname = \"dns-out\"\nin_port = \"pf0hpf\"\nstate = \"established\"\n\
           protocol = \"udp\"\ndst_port = \"53\"\naction = \"accept\"\n";
    let rules = dpu_fw::config::parse(&text, "ct.toml").unwrap().rules;
    let plan = compile(&rules, &Target::software()).unwrap();
    let tracker = Arc::new(Tracker::new(rules.conntrack.as_ref().unwrap().config));
    let worker = || {
        Firewall::new(
            Arc::new(Installed::new(&plan).unwrap()),
            &rules,
            Some(Arc::clone(&tracker)),
        )
    };
    // Installed second: its memos are the newer.
    let (mut queries_fw, mut replies_fw) = (worker(), worker());
    let (queries, replies) = dns_flows();
    let (host, net) = (plan.port_id("pf0hpf").unwrap(), plan.port_id("p0").unwrap());
    let passed = |st| (Some(st), true);
    assert!(
        burst(&mut queries_fw, host, &queries, SEC)
            .iter()
            .all(|g| *g == passed(CtState::New))
    );
    for round in 0..5u64 {
        let now = (2 + round) * SEC;
        let est = passed(CtState::Established);
        assert!(
            burst(&mut replies_fw, net, &replies, now)
                .iter()
                .all(|g| *g == est)
        );
        assert!(
            burst(&mut queries_fw, host, &queries, now)
                .iter()
                .all(|g| *g == est)
        );
    }
    let r = replies_fw.installed().memo_stats();
    assert_eq!(
        (r.recorded, r.hits),
        (8, 4 * 8),
        "replies: recorded once, then memos"
    );
    // The queries' worker recorded memos at every lookup (the backend does not know
    // the tracker keeps only the newer version's) but none was kept to answer later
    // ones, and none displaced the replies' worker's.
    let q = queries_fw.installed().memo_stats();
    assert_eq!(
        (q.recorded, q.hits),
        (8 + 5 * 8, 0),
        "queries: looked up every time"
    );
}
