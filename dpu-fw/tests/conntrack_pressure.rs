//! Connection tracking under pressure and bad input: a SYN flood of ten times the
//! table's size stays inside the table and established connections keep flowing; two
//! workers (two `Firewall`s) share one table; no byte string panics the stage.

mod common;

use std::sync::Arc;

use doca_flow::packet::{Headers, PacketBuilder, tcp_flags};
use dpu_fw::compile::{Target, compile};
use dpu_fw::conntrack::{CtPacket, CtState, Tracker};
use dpu_fw::firewall::Firewall;
use dpu_fw::install::Installed;
use dpu_fw::model::{PortId, RuleSet};
use proptest::prelude::*;

const POLICY: &str = r#"
[ports.p0]
role = "uplink"
id = 0
[ports.pf0hpf]
role = "host"
id = 1
[conntrack]
max_connections = 1000
[[rules]]
name = "return"
in_port = "p0"
state = ["established", "related"]
action = "accept"
[[rules]]
name = "web-in"
in_port = "p0"
protocol = "tcp"
dst_port = 80
state = "new"
action = "accept"
[defaults]
inbound = "drop"
outbound = "accept"
"#;

fn policy() -> (RuleSet, Arc<Installed>) {
    let rules = dpu_fw::config::parse(POLICY, "p.toml").unwrap().rules;
    let plan = compile(&rules, &Target::software()).unwrap();
    (rules, Arc::new(Installed::new(&plan).unwrap()))
}

const P0: PortId = PortId(0);
const HOST: PortId = PortId(1);

#[test]
fn a_syn_flood_stays_in_the_table_and_established_traffic_flows() {
    let (rules, installed) = policy();
    let mut fw = Firewall::new(installed, &rules, None);
    let host = [10, 0, 0, 1].into();
    let web = [192, 0, 2, 80].into();
    // Ten connections opened by the host.
    for i in 0..10u16 {
        let mut syn = PacketBuilder::tcp4(host, web, 40000 + i, 443)
            .flags(tcp_flags::SYN)
            .seq(100)
            .build();
        assert!(fw.process(HOST, &mut syn, 1).passed());
        let mut synack = PacketBuilder::tcp4(web, host, 443, 40000 + i)
            .flags(tcp_flags::SYN | tcp_flags::ACK)
            .seq(5000)
            .ack_number(101)
            .build();
        assert!(fw.process(P0, &mut synack, 1).passed());
    }
    let tracker = fw.tracker().unwrap().clone();
    let bytes_at_start = tracker.table_bytes();
    // 10x max_connections SYNs from the network to the web port, all accepted by the
    // rules: the table fills to its size, the rest are dropped as table-full.
    let mut passed = 0u64;
    let mut full = 0u64;
    for i in 0..10_000u32 {
        let src = std::net::Ipv4Addr::from(0xc633_0000 + i);
        let mut syn = PacketBuilder::tcp4(src, host, 1024 + (i % 50_000) as u16, 80)
            .flags(tcp_flags::SYN)
            .build();
        let p = fw.process(P0, &mut syn, 2);
        assert_eq!(p.state, Some(CtState::New));
        passed += u64::from(p.passed());
        full += u64::from(p.table_full);
        // Established traffic keeps flowing during the flood.
        if i % 1000 == 0 {
            let k = (i / 1000) as u16;
            let mut data = PacketBuilder::tcp4(web, host, 443, 40000 + k)
                .flags(tcp_flags::ACK)
                .seq(5001)
                .ack_number(101)
                .build();
            let p = fw.process(P0, &mut data, 2);
            assert_eq!(p.state, Some(CtState::Established));
            assert!(
                p.passed(),
                "established packet {k} dropped during the flood"
            );
        }
    }
    assert!(tracker.len() <= 1000, "{} connections held", tracker.len());
    assert_eq!(passed, 1000 - 10, "the table took what room it had");
    assert_eq!(full, 10_000 - (1000 - 10));
    assert_eq!(
        tracker.stats().table_full,
        full,
        "the metrics say what was dropped"
    );
    // The table's memory is bounded by its configured size, not by the flood.
    let bytes = tracker.table_bytes();
    assert!(
        bytes <= 2 * 1000 * 128 + bytes_at_start,
        "the table grew to {bytes} bytes"
    );
}

#[test]
fn two_workers_share_one_table() {
    let (rules, installed) = policy();
    let tracker = Arc::new(Tracker::new(rules.conntrack.as_ref().unwrap().config));
    let mut w0 = Firewall::new(installed.clone(), &rules, Some(tracker.clone()));
    let mut w1 = Firewall::new(installed.clone(), &rules, Some(tracker.clone()));
    let host = [10, 0, 0, 1].into();
    let web = [192, 0, 2, 80].into();
    let mut syn = PacketBuilder::tcp4(host, web, 40000, 443)
        .flags(tcp_flags::SYN)
        .seq(100)
        .build();
    assert!(w0.process(HOST, &mut syn, 1).passed());
    // The reply arrives at the other worker, which sees the connection.
    let mut synack = PacketBuilder::tcp4(web, host, 443, 40000)
        .flags(tcp_flags::SYN | tcp_flags::ACK)
        .seq(5000)
        .ack_number(101)
        .build();
    let p = w1.process(P0, &mut synack, 2);
    assert_eq!(p.state, Some(CtState::Established));
    assert!(p.passed());
    // With a table of its own, that worker would have dropped it.
    let mut alone = Firewall::new(installed, &rules, None);
    let p = alone.process(P0, &mut synack.clone(), 2);
    assert_eq!(p.state, Some(CtState::Invalid));
    assert!(!p.passed());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(if cfg!(debug_assertions) { 2000 } else { 20_000 })))]

    /// Any bytes, and valid frames with bytes flipped or cut, through the stage and
    /// the pipes: no panic, and every IP frame gets a state.
    #[test]
    fn no_frame_panics_the_stage(
        raw in prop::collection::vec(any::<u8>(), 0..120),
        flips in prop::collection::vec((0usize..90, any::<u8>()), 0..6),
        cut in 0usize..90,
        kind in 0u8..4,
    ) {
        let (rules, installed) = policy();
        let mut fw = Firewall::new(installed, &rules, None);
        let a = [10, 0, 0, 1].into();
        let b = [192, 0, 2, 1].into();
        let mut frame = match kind {
            0 => raw,
            1 => PacketBuilder::tcp4(a, b, 1, 80).flags(tcp_flags::SYN).tcp_options(&[3, 3, 9, 1]).build(),
            2 => {
                let inner = PacketBuilder::udp4(b, a, 53, 9).build();
                PacketBuilder::icmp4(a, b, 3, 3).payload(&inner[14..]).build()
            }
            _ => PacketBuilder::icmp6("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap(), 1, 4)
                .payload(&[0x60; 60])
                .build(),
        };
        for (at, x) in flips {
            if let Some(byte) = frame.get_mut(at) {
                *byte ^= x;
            }
        }
        if kind != 0 {
            frame.truncate(cut.max(14));
        }
        let h = Headers::parse(&frame);
        let is_ip = CtPacket::parse(&frame, &h).is_some();
        for port in [P0, HOST] {
            let p = fw.process(port, &mut frame.clone(), 5);
            prop_assert_eq!(p.state.is_some(), is_ip);
        }
    }
}

/// A full table is swept for expired connections at most every 100 ms, so a flood
/// cannot make every packet walk the table; until the next sweep an expired connection
/// may hold its room.
#[test]
fn a_full_table_is_swept_at_most_every_100_ms() {
    use core::time::Duration;
    use dpu_fw::conntrack::{CtConfig, Timeouts};
    let cfg = CtConfig {
        max_connections: 1,
        timeouts: Timeouts {
            udp: Duration::from_millis(10),
            ..Timeouts::default()
        },
        ..CtConfig::default()
    };
    let t = Tracker::new(cfg);
    let ms = |m: u64| m * 1_000_000;
    let open = |sport: u16, now: u64| {
        let f = PacketBuilder::udp4([10, 0, 0, 1].into(), [192, 0, 2, 1].into(), sport, 53).build();
        let p = CtPacket::parse(&f, &Headers::parse(&f)).unwrap();
        let tr = t.track(0, &p, now);
        t.commit(&tr, now).is_ok()
    };
    assert!(open(1, 0), "room for one");
    assert!(!open(2, ms(5)), "full, and the first is live (a sweep ran)");
    assert!(
        !open(3, ms(20)),
        "the first expired at 10 ms, but the last sweep was 15 ms ago"
    );
    assert!(
        open(4, ms(106)),
        "101 ms after the last sweep, a sweep frees the room"
    );
    assert_eq!(t.stats().table_full, 2);
    // With no minimum interval, the room comes back as soon as the connection expires.
    let exact = Tracker::new(cfg).full_sweep_every(0);
    let open = |sport: u16, now: u64| {
        let f = PacketBuilder::udp4([10, 0, 0, 1].into(), [192, 0, 2, 1].into(), sport, 53).build();
        let p = CtPacket::parse(&f, &Headers::parse(&f)).unwrap();
        let tr = exact.track(0, &p, now);
        exact.commit(&tr, now).is_ok()
    };
    assert!(open(1, 0));
    assert!(!open(2, ms(5)));
    assert!(open(3, ms(20)));
}

/// `Tracker::refresh_all` (one lock per shard) restarts the timeouts of exactly the live
/// connections it is given, in every shard and both families, and counts them.
#[test]
fn refresh_all_keeps_exactly_the_given_connections_alive() {
    use dpu_fw::conntrack::CtConfig;
    use std::net::{Ipv4Addr, Ipv6Addr};
    // Enough room for 16 shards.
    let t = Tracker::new(CtConfig {
        max_connections: 200_000,
        ..CtConfig::default()
    });
    let sec = 1_000_000_000u64;
    let mut tuples = Vec::new();
    for i in 0..400u32 {
        let frame = if i % 4 == 0 {
            let a = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, i as u16);
            PacketBuilder::udp6(a, Ipv6Addr::LOCALHOST, 4000, 53).build()
        } else {
            PacketBuilder::udp4(
                Ipv4Addr::from(0x0a00_0000 + i),
                Ipv4Addr::new(192, 0, 2, 1),
                4000,
                53,
            )
            .build()
        };
        let p = CtPacket::parse(&frame, &Headers::parse(&frame)).unwrap();
        let tr = t.track(0, &p, sec);
        t.commit(&tr, sec).unwrap();
        tuples.push(p.tuple);
    }
    assert_eq!(t.len(), 400);
    let timeout = t.connections(sec)[0].expires_in.as_nanos() as u64;
    // Refresh every third one (by its reply direction for half of them: either
    // direction names the connection), plus one that was never opened.
    let later = sec + timeout / 2;
    let kept: Vec<_> = tuples.iter().step_by(3).copied().collect();
    let given: Vec<_> = kept
        .iter()
        .enumerate()
        .map(|(i, t)| if i % 2 == 0 { *t } else { t.reversed() })
        .collect();
    let mut stranger = tuples[1];
    stranger.src_port = 1;
    let found = t.refresh_all(given.iter().chain([&stranger]).map(|tu| (0u16, tu)), later);
    assert_eq!(found, kept.len());
    // Past the first timeout, only the refreshed ones are left.
    let swept_at = sec + timeout + 1;
    t.expire(swept_at);
    let mut left: Vec<_> = t
        .connections(swept_at)
        .into_iter()
        .map(|c| c.origin)
        .collect();
    let mut want = kept.clone();
    left.sort();
    want.sort();
    assert_eq!(left, want);
}
