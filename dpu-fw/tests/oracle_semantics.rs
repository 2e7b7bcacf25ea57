//! The oracle's documented semantics, one test per decision, on real frames
//! built with `PacketBuilder` and parsed with `Headers::parse`.

use core::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{Headers, PacketBuilder, tcp_flags};
use dpu_fw::model::{
    Action, Direction, Family, PortId, PortRange, PortRef, PortRole, Rate, RateLimit, Rule,
    RuleBuilder, RuleSet,
    protocol::{ICMP, ICMPV6, TCP, UDP},
};
use dpu_fw::oracle::{self, Verdict};

const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

fn rules(rules: impl IntoIterator<Item = RuleBuilder>) -> RuleSet {
    let mut b = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)))
        .port("hbn", PortRole::Service, PortRef::Representor("sf1".into()))
        .defaults(Action::Drop, Action::Accept);
    for r in rules {
        b = b.rule(r);
    }
    b.build().unwrap()
}

fn eval(rs: &RuleSet, port: &str, frame: &[u8]) -> Verdict {
    oracle::evaluate(rs, port, &Headers::parse(frame))
}

fn hit(rs: &RuleSet, port: &str, frame: &[u8]) -> Option<usize> {
    eval(rs, port, frame).rule
}

#[test]
fn first_match_wins_in_rule_order() {
    let rs = rules([
        Rule::builder("a")
            .protocol(TCP)
            .dst_ports([PortRange::single(80)])
            .action(Action::Drop),
        Rule::builder("b").protocol(TCP).action(Action::Accept),
        Rule::builder("c").action(Action::Drop),
    ]);
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::tcp4(A4, B4, 1, 80).build()),
        Some(0)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::tcp4(A4, B4, 1, 81).build()),
        Some(1)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp4(A4, B4, 1, 80).build()),
        Some(2)
    );
}

#[test]
fn defaults_per_direction() {
    let rs = rules([]);
    let f = PacketBuilder::udp4(A4, B4, 1, 2).build();
    let v = eval(&rs, "p0", &f);
    assert_eq!(
        (v.direction, v.rule, &v.action),
        (Direction::Inbound, None, &Action::Drop)
    );
    let v = eval(&rs, "pf0hpf", &f);
    assert_eq!(
        (v.direction, &v.action),
        (Direction::Outbound, &Action::Accept)
    );
    let v = eval(&rs, "hbn", &f);
    assert_eq!(
        (v.direction, &v.action),
        (Direction::Outbound, &Action::Accept)
    );
    // An unknown port is treated as inbound.
    let v = eval(&rs, "nowhere", &f);
    assert_eq!(
        (v.direction, &v.action),
        (Direction::Inbound, &Action::Drop)
    );
    assert!(!v.count && v.rate_limit.is_none());
}

#[test]
fn port_rules_never_match_packets_without_ports() {
    let rs = rules([
        Rule::builder("ports")
            .protocol(TCP)
            .dst_ports([PortRange::new(0, 1023).unwrap()]),
        Rule::builder("src-ports")
            .protocol(UDP)
            .src_ports([PortRange::new(0, 65000).unwrap()]),
    ]);
    // Non-first fragment of a TCP packet: protocol 6, no L4 header.
    let frag = PacketBuilder::tcp4(A4, B4, 1, 80)
        .fragment(100, false)
        .build();
    assert_eq!(hit(&rs, "p0", &frag), None);
    // The first fragment carries the ports.
    let first = PacketBuilder::tcp4(A4, B4, 1, 80).fragment(0, true).build();
    assert_eq!(hit(&rs, "p0", &first), Some(0));
    // ICMP carries no ports. (The checker refuses a port match without tcp
    // or udp; the oracle still has an answer for such a hand-made rule.)
    let mut rs = rules([Rule::builder("p")
        .protocol(TCP)
        .dst_ports([PortRange::single(0)])]);
    rs.rules[0].matches.protocol = None;
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::icmp4(A4, B4, 8, 0).build()),
        None
    );
}

#[test]
fn full_port_range_constrains_nothing() {
    let rs = rules([Rule::builder("all").protocol(TCP).dst_ports([
        PortRange::new(0, 1000).unwrap(),
        PortRange::new(1001, 65535).unwrap(),
    ])]);
    let frag = PacketBuilder::tcp4(A4, B4, 1, 80)
        .fragment(100, false)
        .build();
    assert_eq!(hit(&rs, "p0", &frag), Some(0));
}

#[test]
fn protocol_less_rule_matches_any_protocol() {
    let rs = rules([Rule::builder("any").src(["10.0.0.0/8".parse().unwrap()])]);
    for f in [
        PacketBuilder::tcp4(A4, B4, 1, 2).build(),
        PacketBuilder::udp4(A4, B4, 1, 2).build(),
        PacketBuilder::icmp4(A4, B4, 0, 0).build(),
        PacketBuilder::ipv4(A4, B4, 47).build(),
        PacketBuilder::tcp4(A4, B4, 1, 2).fragment(8, false).build(),
    ] {
        assert_eq!(hit(&rs, "p0", &f), Some(0));
    }
}

#[test]
fn families() {
    let rs = rules([
        Rule::builder("v4").family(Family::Ipv4).protocol(UDP),
        Rule::builder("v6-prefix")
            .dst(["2001:db8::/32".parse().unwrap()])
            .protocol(TCP),
        Rule::builder("both").protocol(TCP),
    ]);
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp4(A4, B4, 1, 2).build()),
        Some(0)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp6(A6, B6, 1, 2).build()),
        None
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::tcp6(A6, B6, 1, 2).build()),
        Some(1)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::tcp4(A4, B4, 1, 2).build()),
        Some(2)
    );
    // A mixed prefix list matches each family by its own prefixes.
    let rs = rules([Rule::builder("mixed").src([
        "10.0.0.0/8".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ])]);
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp4(A4, B4, 1, 2).build()),
        Some(0)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp6(A6, B6, 1, 2).build()),
        Some(0)
    );
    let other6 = Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 1);
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp6(other6, B6, 1, 2).build()),
        None
    );
}

#[test]
fn non_ip_frames_take_the_default() {
    let rs = rules([Rule::builder("everything").action(Action::Accept)]);
    let arp = PacketBuilder::ethernet(0x0806).payload(&[0; 28]).build();
    assert_eq!(eval(&rs, "p0", &arp).rule, None);
    assert_eq!(eval(&rs, "p0", &arp).action, Action::Drop);
    // A truncated IPv4 header is not IP either.
    let mut short = PacketBuilder::udp4(A4, B4, 1, 2).build();
    short.truncate(20);
    assert_eq!(eval(&rs, "p0", &short).rule, None);
    // An empty rule matches every IP packet of either family.
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::udp6(A6, B6, 1, 2).build()),
        Some(0)
    );
}

#[test]
fn icmp_type_and_code() {
    let rs = rules([
        Rule::builder("echo").protocol(ICMP).icmp(8, Some(0)),
        Rule::builder("unreach").protocol(ICMP).icmp(3, None),
        Rule::builder("ns").protocol(ICMPV6).icmp(135, None),
    ]);
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::icmp4(A4, B4, 8, 0).build()),
        Some(0)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::icmp4(A4, B4, 8, 1).build()),
        None
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::icmp4(A4, B4, 3, 13).build()),
        Some(1)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::icmp6(A6, B6, 135, 0).build()),
        Some(2)
    );
    assert_eq!(
        hit(&rs, "p0", &PacketBuilder::icmp6(A6, B6, 136, 0).build()),
        None
    );
}

#[test]
fn tcp_flags_value_under_mask() {
    let rs = rules([Rule::builder("syn")
        .protocol(TCP)
        .tcp_flags(tcp_flags::SYN, tcp_flags::SYN | tcp_flags::ACK)]);
    let f = |flags| PacketBuilder::tcp4(A4, B4, 1, 2).flags(flags).build();
    assert_eq!(hit(&rs, "p0", &f(tcp_flags::SYN)), Some(0));
    assert_eq!(hit(&rs, "p0", &f(tcp_flags::SYN | tcp_flags::ECE)), Some(0));
    assert_eq!(hit(&rs, "p0", &f(tcp_flags::SYN | tcp_flags::ACK)), None);
    assert_eq!(hit(&rs, "p0", &f(tcp_flags::ACK)), None);
}

#[test]
fn vlan_is_the_outermost_tag() {
    let rs = rules([Rule::builder("v100").vlan(100)]);
    let f = PacketBuilder::udp4(A4, B4, 1, 2);
    assert_eq!(hit(&rs, "p0", &f.clone().vlan(100).build()), Some(0));
    assert_eq!(hit(&rs, "p0", &f.clone().vlan(101).build()), None);
    assert_eq!(hit(&rs, "p0", &f.clone().qinq(100, 5).build()), Some(0));
    assert_eq!(hit(&rs, "p0", &f.clone().qinq(5, 100).build()), None);
    assert_eq!(hit(&rs, "p0", &f.build()), None);
}

#[test]
fn ingress_ports() {
    let rs = rules([Rule::builder("from-host").in_port("pf0hpf").in_port("hbn")]);
    let f = PacketBuilder::udp4(A4, B4, 1, 2).build();
    assert_eq!(hit(&rs, "pf0hpf", &f), Some(0));
    assert_eq!(hit(&rs, "hbn", &f), Some(0));
    assert_eq!(hit(&rs, "p0", &f), None);
    let h = Headers::parse(&f);
    assert_eq!(oracle::evaluate_by_id(&rs, PortId(1), &h).rule, Some(0));
    assert_eq!(oracle::evaluate_by_id(&rs, PortId(0), &h).rule, None);
    assert_eq!(
        oracle::evaluate_by_id(&rs, PortId(9), &h).direction,
        Direction::Inbound
    );
}

#[test]
fn modifiers_are_reported_not_applied() {
    let limit = RateLimit {
        rate: Rate::PacketsPerSecond(5),
        burst: 1,
    };
    let rs = rules([Rule::builder("x")
        .count()
        .rate_limit(limit)
        .action(Action::Accept)]);
    let v = eval(&rs, "p0", &PacketBuilder::udp4(A4, B4, 1, 2).build());
    assert_eq!(v.rule, Some(0));
    assert!(v.count);
    assert_eq!(v.rate_limit, Some(limit));
    assert_eq!(v.action, Action::Accept);
}
