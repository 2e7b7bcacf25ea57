//! The built-in demo: the example policy (`examples/firewall.toml`) and
//! deterministic synthetic traffic that exercises every rule of it and the
//! default of each direction. `dpu-fw simulate` with no arguments runs this.
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::Headers;
//! use dpu_fw::{demo, oracle};
//!
//! let rules = demo::policy();
//! for p in demo::traffic_described() {
//!     let v = oracle::evaluate(&rules, p.in_port, &Headers::parse(&p.frame));
//!     assert_eq!(v.rule.map(|i| rules.rules[i].name.as_str()), p.expect_rule);
//! }
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{PacketBuilder, ethertype, tcp_flags};

use crate::config;
use crate::model::RuleSet;

/// The demo policy's TOML text (the documented example file).
pub const POLICY_TOML: &str = include_str!("../../examples/firewall.toml");

/// The name the demo policy's diagnostics use.
pub const POLICY_FILE: &str = "examples/firewall.toml";

/// The demo policy, parsed.
///
/// The text is a constant checked by this crate's tests, so this cannot
/// fail in a released build; [`config::parse`] of [`POLICY_TOML`] is the
/// fallible spelling.
pub fn policy() -> RuleSet {
    match config::parse(POLICY_TOML, POLICY_FILE) {
        Ok(checked) => checked.rules,
        // Unreachable: `tests::policy_parses` guards the embedded text.
        Err(e) => unreachable!("the embedded demo policy is invalid: {e}"),
    }
}

/// One demo packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPacket {
    /// The ingress port's name.
    pub in_port: &'static str,
    /// The whole Ethernet frame.
    pub frame: Vec<u8>,
    /// What the packet shows.
    pub note: &'static str,
    /// The name of the rule that should decide it; `None` = the default.
    pub expect_rule: Option<&'static str>,
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

const fn v6(s: [u16; 8]) -> Ipv6Addr {
    Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
}

/// The demo traffic with what each packet is for, in a fixed order.
pub fn traffic_described() -> Vec<DemoPacket> {
    let internet = v4(198, 51, 100, 7);
    let server = v4(10, 1, 0, 10);
    let host = v4(10, 1, 0, 9);
    let server6 = v6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x80]);
    let client6 = v6([0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 7]);
    let p = |in_port, b: PacketBuilder, note, expect_rule| DemoPacket {
        in_port,
        frame: b.build(),
        note,
        expect_rule,
    };
    vec![
        p(
            "p0",
            PacketBuilder::udp4(v4(127, 0, 0, 1), server, 1000, 2000),
            "spoofed loopback source from the network",
            Some("drop-bogons"),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(v4(192, 0, 2, 5), server, 50000, 22).flags(tcp_flags::SYN),
            "SSH from an admin network",
            Some("ssh-admins"),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, server, 50001, 22).flags(tcp_flags::SYN),
            "SSH from elsewhere",
            Some("ssh-others"),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, v4(10, 1, 2, 3), 40000, 443).flags(tcp_flags::SYN),
            "HTTPS to a server, into the web chain",
            Some("web"),
        ),
        p(
            "p0",
            PacketBuilder::tcp6(client6, server6, 40001, 8080).flags(tcp_flags::ACK),
            "IPv6 web traffic on a port range from the set",
            Some("web"),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, v4(10, 2, 0, 1), 40002, 5000).flags(tcp_flags::SYN),
            "a new TCP connection to a non-server (policed)",
            Some("tcp-syn"),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, v4(10, 2, 0, 1), 40002, 5000)
                .flags(tcp_flags::ACK | tcp_flags::PSH),
            "established TCP from the network",
            Some("tcp-established"),
        ),
        p(
            "p0",
            PacketBuilder::udp4(v4(9, 9, 9, 9), host, 53, 33000),
            "a DNS answer (policed in bits per second)",
            Some("dns"),
        ),
        p(
            "p0",
            PacketBuilder::udp4(v4(203, 0, 113, 1), server, 123, 123),
            "NTP to a server, into the direct chain",
            Some("ntp"),
        ),
        p(
            "p0",
            PacketBuilder::icmp4(v4(203, 0, 113, 1), server, 8, 0).icmp_echo(1, 1),
            "an IPv4 echo request",
            Some("ping"),
        ),
        p(
            "p0",
            PacketBuilder::icmp6(
                v6([0xfe80, 0, 0, 0, 0, 0, 0, 1]),
                v6([0xff02, 0, 0, 0, 0, 1, 0xff00, 1]),
                135,
                0,
            ),
            "IPv6 neighbour solicitation",
            Some("ipv6-nd"),
        ),
        p(
            "pf0hpf",
            PacketBuilder::udp4(host, v4(10, 0, 0, 1), 40000, 161).vlan(100),
            "the host's management VLAN",
            Some("mgmt-vlan"),
        ),
        p(
            "pf0hpf",
            PacketBuilder::tcp4(host, v4(198, 51, 100, 25), 40001, 25).flags(tcp_flags::SYN),
            "SMTP out of the host",
            Some("no-smtp-out"),
        ),
        p(
            "p0",
            PacketBuilder::udp4(v4(203, 0, 113, 9), host, 5000, 9999),
            "unsolicited UDP from the network: inbound default",
            None,
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, server, 40000, 22).fragment(64, false),
            "a non-first fragment carries no ports: inbound default",
            None,
        ),
        p(
            "p0",
            PacketBuilder::ethernet(ethertype::ARP).payload(&[0; 28]),
            "ARP is not IP: inbound default",
            None,
        ),
        p(
            "pf0hpf",
            PacketBuilder::tcp4(host, v4(198, 51, 100, 80), 40002, 443).flags(tcp_flags::SYN),
            "HTTPS out of the host: outbound default",
            None,
        ),
        p(
            "hbn",
            PacketBuilder::udp4(host, v4(198, 51, 100, 53), 40003, 53),
            "traffic from the service port: outbound default",
            None,
        ),
    ]
}

/// The demo traffic as `(ingress port name, frame)`, in a fixed order.
pub fn traffic() -> Vec<(String, Vec<u8>)> {
    traffic_described()
        .into_iter()
        .map(|p| (p.in_port.to_string(), p.frame))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use doca_flow::packet::Headers;

    use super::*;
    use crate::model::Direction;
    use crate::oracle;

    #[test]
    fn policy_parses() {
        let checked = config::parse(POLICY_TOML, POLICY_FILE).unwrap();
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    }

    #[test]
    fn traffic_covers_every_rule_and_both_defaults() {
        let rules = policy();
        let mut rules_hit = BTreeSet::new();
        let mut defaults_hit = BTreeSet::new();
        for p in traffic_described() {
            let v = oracle::evaluate(&rules, p.in_port, &Headers::parse(&p.frame));
            let got = v.rule.map(|i| rules.rules[i].name.as_str());
            assert_eq!(got, p.expect_rule, "{}", p.note);
            match v.rule {
                Some(i) => {
                    rules_hit.insert(i);
                }
                None => {
                    defaults_hit.insert(v.direction == Direction::Inbound);
                }
            }
        }
        assert_eq!(rules_hit.len(), rules.rules.len());
        assert_eq!(defaults_hit.len(), 2);
    }

    #[test]
    fn traffic_is_deterministic() {
        assert_eq!(traffic(), traffic());
    }
}
