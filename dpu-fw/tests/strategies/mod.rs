//! Reusable proptest strategies for rule-set tests: matches, rules, rule
//! sets and packet headers drawn from small pools, so that random packets
//! hit random rules often. Use with `mod strategies;` from a test file.

#![allow(dead_code, unreachable_pub)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{
    EthHeader, Fragment, Headers, Ipv4Header, Ipv6Header, L3, L4, VlanTag, ethertype,
};
use dpu_fw::model::{
    Action, Family, IcmpMatch, PortId, PortRange, PortRef, PortRole, Prefix, Rule, RuleMatch,
    RuleSet, TcpFlags,
};
use proptest::prelude::*;

/// The ports every generated rule set has.
pub const PORTS: [&str; 3] = ["p0", "pf0hpf", "hbn"];
/// Protocols drawn from.
pub const PROTOCOLS: [u8; 5] = [6, 17, 1, 58, 47];
const PORT_POOL: [u16; 8] = [0, 1, 22, 80, 443, 1023, 1024, 65535];

fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    (
        prop::sample::select(vec![10u8, 192]),
        prop::sample::select(vec![0u8, 1, 128]),
        prop::sample::select(vec![0u8, 7, 255]),
        prop::sample::select(vec![0u8, 1, 200]),
    )
        .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    (
        prop::sample::select(vec![0x2001u16, 0xfd00]),
        prop::sample::select(vec![0u16, 1, 0x8000]),
        prop::sample::select(vec![0u16, 1, 0xffff]),
    )
        .prop_map(|(a, b, c)| Ipv6Addr::new(a, 0xdb8, b, 0, 0, 0, 0, c))
}

/// A prefix of either family from the pools.
pub fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![
        (
            v4_addr(),
            prop::sample::select(vec![0u8, 8, 9, 16, 17, 24, 32])
        )
            .prop_map(|(a, l)| Prefix::new(IpAddr::V4(a), l).unwrap()),
        (
            v6_addr(),
            prop::sample::select(vec![0u8, 16, 32, 33, 48, 64, 128])
        )
            .prop_map(|(a, l)| Prefix::new(IpAddr::V6(a), l).unwrap()),
    ]
}

/// A port range from the pool.
pub fn port_range() -> impl Strategy<Value = PortRange> {
    (
        prop::sample::select(PORT_POOL.to_vec()),
        prop::sample::select(PORT_POOL.to_vec()),
    )
        .prop_map(|(a, b)| PortRange::new(a.min(b), a.max(b)).unwrap())
}

fn list<T: core::fmt::Debug + Clone + 'static>(
    p: f64,
    s: BoxedStrategy<T>,
) -> BoxedStrategy<Vec<T>> {
    prop::option::weighted(p, prop::collection::vec(s, 1..3))
        .prop_map(Option::unwrap_or_default)
        .boxed()
}

/// Any match (not necessarily one the checker accepts).
pub fn any_match() -> impl Strategy<Value = RuleMatch> {
    match_with_density(0.5)
}

/// A match whose fields are each constrained with probability `p` (lower
/// `p`: more packets match, more pairs contain one another).
pub fn match_with_density(p: f64) -> impl Strategy<Value = RuleMatch> {
    (
        list(
            p,
            prop::sample::select(PORTS.to_vec())
                .prop_map(String::from)
                .boxed(),
        ),
        prop::option::weighted(p / 2.0, prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)]),
        list(p, prefix().boxed()),
        list(p, prefix().boxed()),
        prop::option::weighted(p, prop::sample::select(PROTOCOLS.to_vec())),
        list(p, port_range().boxed()),
        list(p, port_range().boxed()),
        prop::option::weighted(
            p / 3.0,
            (
                prop::sample::select(vec![0u8, 3, 8]),
                prop::option::of(0u8..2),
            )
                .prop_map(|(t, c)| IcmpMatch {
                    icmp_type: t,
                    code: c,
                }),
        ),
        prop::option::weighted(
            p / 3.0,
            (
                any::<u8>(),
                prop::sample::select(vec![0x02u8, 0x12, 0x10, 0x01, 0xff]),
            )
                .prop_map(|(v, m)| TcpFlags::new(v, m)),
        ),
        prop::option::weighted(p / 3.0, prop::sample::select(vec![1u16, 100])),
    )
        .prop_map(
            |(
                in_ports,
                family,
                src,
                dst,
                protocol,
                src_ports,
                dst_ports,
                icmp,
                tcp_flags,
                vlan,
            )| {
                RuleMatch {
                    in_ports,
                    family,
                    src,
                    dst,
                    protocol,
                    src_ports,
                    dst_ports,
                    icmp,
                    tcp_flags,
                    vlan,
                    state: None,
                }
            },
        )
}

/// An action (chains name `c`, which [`rule_set`] defines).
pub fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Accept),
        Just(Action::Drop),
        Just(Action::Chain("c".into()))
    ]
}

/// A rule set over [`PORTS`] with up to `max_rules` random rules (built
/// directly, without the checker).
pub fn rule_set(max_rules: usize) -> impl Strategy<Value = RuleSet> {
    (
        prop::collection::vec(
            (match_with_density(0.3), action(), any::<bool>()),
            0..max_rules,
        ),
        action(),
        action(),
    )
        .prop_map(|(rules, inbound, outbound)| {
            let mut rs = RuleSet::builder()
                .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
                .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)))
                .port("hbn", PortRole::Service, PortRef::Doca(PortId(2)))
                .chain("c", ["p0", "firewall", "hbn", "pf0hpf"])
                .defaults(inbound, outbound)
                .build()
                .unwrap();
            rs.rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, (matches, action, count))| Rule {
                    name: format!("r{i}"),
                    matches,
                    action,
                    count,
                    rate_limit: None,
                })
                .collect();
            rs
        })
}

fn l4_for(proto: u8) -> BoxedStrategy<L4> {
    let port = || {
        prop::sample::select(
            PORT_POOL
                .iter()
                .flat_map(|p| [*p, p.saturating_add(1)])
                .collect::<Vec<_>>(),
        )
    };
    let none = Just(L4::None);
    match proto {
        6 => prop_oneof![
            4 => (port(), port(), any::<u8>()).prop_map(|(s, d, f)| L4::Tcp { src_port: s, dst_port: d, flags: f }),
            1 => none,
        ]
        .boxed(),
        17 => prop_oneof![
            4 => (port(), port()).prop_map(|(s, d)| L4::Udp { src_port: s, dst_port: d }),
            1 => none,
        ]
        .boxed(),
        1 => prop_oneof![
            4 => (prop::sample::select(vec![0u8, 3, 8]), 0u8..3).prop_map(|(t, c)| L4::Icmp { icmp_type: t, code: c }),
            1 => none,
        ]
        .boxed(),
        58 => prop_oneof![
            4 => (prop::sample::select(vec![0u8, 3, 8, 135]), 0u8..3).prop_map(|(t, c)| L4::Icmp6 { icmp_type: t, code: c }),
            1 => none,
        ]
        .boxed(),
        p => prop_oneof![Just(L4::Other(p)), Just(L4::None)].boxed(),
    }
}

/// Headers of an IPv4 or IPv6 packet (sometimes a non-IP frame), with
/// addresses, ports and VLANs from the pools.
pub fn headers() -> impl Strategy<Value = Headers> {
    let vlan = prop::option::weighted(
        0.3,
        (
            prop::sample::select(vec![1u16, 100, 5]),
            prop::option::of(prop::sample::select(vec![1u16, 100])),
        ),
    );
    let l3 = prop_oneof![
        5 => (v4_addr(), v4_addr()).prop_map(|(s, d)| (true, IpAddr::V4(s), IpAddr::V4(d))),
        4 => (v6_addr(), v6_addr()).prop_map(|(s, d)| (false, IpAddr::V6(s), IpAddr::V6(d))),
    ];
    let proto = prop_oneof![
        9 => prop::sample::select(PROTOCOLS.to_vec()),
        1 => any::<u8>(),
    ];
    (vlan, l3, proto, any::<bool>())
        .prop_flat_map(|(vlan, l3, proto, not_ip)| (Just((vlan, l3, proto, not_ip)), l4_for(proto)))
        .prop_map(|((vlan, (is_v4, src, dst), proto, not_ip), l4)| {
            let tags = match vlan {
                None => [None, None],
                Some((outer, inner)) => [
                    Some(VlanTag {
                        tpid: ethertype::VLAN,
                        tci: outer,
                    }),
                    inner.map(|v| VlanTag {
                        tpid: ethertype::VLAN,
                        tci: v,
                    }),
                ],
            };
            let fragment = Fragment {
                is_fragment: l4 == L4::None,
                offset: if l4 == L4::None { 8 } else { 0 },
                more: false,
                dont_fragment: false,
            };
            let l3 = match (src, dst) {
                _ if not_ip && proto % 16 == 0 => L3::Other(ethertype::ARP),
                (IpAddr::V4(src), IpAddr::V4(dst)) if is_v4 => L3::Ipv4(Ipv4Header {
                    src,
                    dst,
                    protocol: proto,
                    dscp: 0,
                    ecn: 0,
                    ttl: 64,
                    header_len: 20,
                    fragment,
                }),
                (IpAddr::V6(src), IpAddr::V6(dst)) => L3::Ipv6(Ipv6Header {
                    src,
                    dst,
                    next_header: proto,
                    traffic_class: 0,
                    flow_label: 0,
                    hop_limit: 64,
                    fragment,
                }),
                _ => L3::None,
            };
            let ethertype = match l3 {
                L3::Ipv4(_) => ethertype::IPV4,
                L3::Ipv6(_) => ethertype::IPV6,
                _ => ethertype::ARP,
            };
            Headers {
                len: 64,
                eth: Some(EthHeader {
                    dst: [2; 6],
                    src: [4; 6],
                    ethertype,
                    vlan: tags,
                }),
                l4: if matches!(l3, L3::Ipv4(_) | L3::Ipv6(_)) {
                    l4
                } else {
                    L4::None
                },
                l3,
                offsets: Default::default(),
                malformed: None,
            }
        })
}

/// An ingress port name: one of [`PORTS`], sometimes an unknown one.
pub fn in_port() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["p0", "pf0hpf", "hbn", "p0", "unknown"])
}

/// Frames for generated headers (as `headers()` makes them), each with its ingress
/// port; packets on the `unknown` port are left out.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn frames(packets: &[(&'static str, Headers)]) -> Vec<(&'static str, Vec<u8>)> {
    use doca_flow::packet::{L3, L4, PacketBuilder};
    packets
        .iter()
        .filter(|(p, _)| *p != "unknown")
        .map(|(p, h)| {
            let b = match (h.l3, h.l4) {
                (
                    L3::Ipv4(ip),
                    L4::Tcp {
                        src_port,
                        dst_port,
                        flags,
                    },
                ) => PacketBuilder::tcp4(ip.src, ip.dst, src_port, dst_port).flags(flags),
                (L3::Ipv4(ip), L4::Udp { src_port, dst_port }) => {
                    PacketBuilder::udp4(ip.src, ip.dst, src_port, dst_port)
                }
                (L3::Ipv4(ip), _) => PacketBuilder::ipv4(ip.src, ip.dst, ip.protocol),
                (
                    L3::Ipv6(ip),
                    L4::Tcp {
                        src_port,
                        dst_port,
                        flags,
                    },
                ) => PacketBuilder::tcp6(ip.src, ip.dst, src_port, dst_port).flags(flags),
                (L3::Ipv6(ip), L4::Udp { src_port, dst_port }) => {
                    PacketBuilder::udp6(ip.src, ip.dst, src_port, dst_port)
                }
                (L3::Ipv6(ip), _) => PacketBuilder::ipv6(ip.src, ip.dst, ip.next_header),
                _ => PacketBuilder::ethernet(0x0806).payload(&[0; 28]),
            };
            (*p, b.build())
        })
        .collect()
}
