//! The built-in demo: the example policy (`examples/firewall.toml`) and
//! deterministic synthetic traffic that exercises every rule of it and the
//! default of each direction. `dpu-fw simulate` with no arguments runs this.
//!
//! # Examples
//!
//! The policy is stateful, so the traffic is a sequence: the handshake's SYN-ACK is
//! `established` because its SYN went first. [`crate::firewall::Firewall`] runs it in
//! order:
//!
//! ```
//! use std::sync::Arc;
//! use dpu_fw::compile::{Target, compile};
//! use dpu_fw::{demo, firewall::Firewall, install::Installed};
//!
//! let rules = demo::policy();
//! let plan = compile(&rules, &Target::software()).unwrap();
//! let mut fw = Firewall::new(Arc::new(Installed::new(&plan).unwrap()), &rules, None);
//! for (i, p) in demo::traffic_described().into_iter().enumerate() {
//!     let mut frame = p.frame;
//!     let port = plan.port_id(p.in_port).unwrap();
//!     let d = fw.process(port, &mut frame, i as u64 * 1_000_000);
//!     assert_eq!(d.decision.rule.map(|i| rules.rules[i as usize].name.as_str()), p.expect_rule);
//!     assert_eq!(d.state, p.expect_state);
//! }
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{PacketBuilder, ethertype, tcp_flags};

use crate::config;
use crate::conntrack::CtState;
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
    /// Its connection-tracking state when the packets before it went through the
    /// policy in order (`None`: not IP, so not tracked).
    pub expect_state: Option<CtState>,
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
    let p = |in_port, b: PacketBuilder, note, expect_rule, expect_state| DemoPacket {
        in_port,
        frame: b.build(),
        note,
        expect_rule,
        expect_state,
    };
    let web = v4(198, 51, 100, 80);
    let resolver = v4(9, 9, 9, 9);
    let dns_query = PacketBuilder::udp4(host, resolver, 33000, 53).payload(b"demo-query");
    // The IP packet an ICMP error quotes: the query's IP header and first bytes.
    let quoted = {
        let f = dns_query.build();
        f[14..14 + 28].to_vec()
    };
    use CtState::{Established as Est, Invalid as Inv, New, Related as Rel};
    vec![
        p(
            "p0",
            PacketBuilder::udp4(v4(127, 0, 0, 1), server, 1000, 2000),
            "spoofed loopback source from the network",
            Some("drop-bogons"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(v4(192, 0, 2, 5), server, 50000, 22)
                .flags(tcp_flags::SYN)
                .seq(7000),
            "SSH from an admin network opens a connection",
            Some("ssh-admins"),
            Some(New),
        ),
        p(
            "pf0hpf",
            PacketBuilder::tcp4(server, v4(192, 0, 2, 5), 22, 50000)
                .flags(tcp_flags::SYN | tcp_flags::ACK)
                .seq(90_000)
                .ack_number(7001),
            "the SSH server's SYN-ACK belongs to it",
            Some("established"),
            Some(Est),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, server, 50001, 22).flags(tcp_flags::SYN),
            "SSH from elsewhere",
            Some("ssh-others"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, v4(10, 1, 2, 3), 40000, 443).flags(tcp_flags::SYN),
            "HTTPS to a server, into the web chain",
            Some("web"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::tcp6(client6, server6, 40001, 8080).flags(tcp_flags::SYN),
            "IPv6 web traffic on a port range from the set",
            Some("web"),
            Some(New),
        ),
        p(
            "pf0hpf",
            PacketBuilder::tcp4(host, web, 40002, 443)
                .flags(tcp_flags::SYN)
                .seq(1000),
            "the host opens HTTPS to the internet: outbound default",
            None,
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(web, host, 443, 40002)
                .flags(tcp_flags::SYN | tcp_flags::ACK)
                .seq(5000)
                .ack_number(1001),
            "its SYN-ACK comes back",
            Some("established"),
            Some(Est),
        ),
        p(
            "pf0hpf",
            PacketBuilder::tcp4(host, web, 40002, 443)
                .flags(tcp_flags::ACK | tcp_flags::PSH)
                .seq(1001)
                .ack_number(5001)
                .payload(b"GET / HTTP/1.1"),
            "the handshake completes, with a request",
            Some("established"),
            Some(Est),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(web, host, 443, 40002)
                .flags(tcp_flags::ACK | tcp_flags::PSH)
                .seq(5001)
                .ack_number(1015)
                .payload(b"HTTP/1.1 200 OK"),
            "the answer",
            Some("established"),
            Some(Est),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(web, host, 443, 40003)
                .flags(tcp_flags::ACK)
                .seq(5001)
                .ack_number(1015),
            "an unsolicited ACK from the network",
            Some("invalid"),
            Some(Inv),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(web, host, 443, 40004)
                .flags(tcp_flags::SYN | tcp_flags::ACK)
                .seq(5000)
                .ack_number(1001),
            "an unsolicited SYN-ACK from the network",
            Some("invalid"),
            Some(Inv),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(web, host, 443, 40002)
                .flags(tcp_flags::ACK)
                .seq(5001 + 3_000_000)
                .ack_number(1015)
                .payload(b"injected"),
            "data on the open connection far outside its window",
            Some("invalid"),
            Some(Inv),
        ),
        p(
            "pf0hpf",
            dns_query.clone(),
            "the host asks its resolver (policed in bits per second)",
            Some("dns-out"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::udp4(resolver, host, 53, 33000).payload(b"demo-answer"),
            "the DNS answer",
            Some("established"),
            Some(Est),
        ),
        p(
            "p0",
            PacketBuilder::icmp4(resolver, host, 3, 3).payload(&quoted),
            "an ICMP port unreachable about the query",
            Some("established"),
            Some(Rel),
        ),
        p(
            "p0",
            PacketBuilder::udp4(v4(203, 0, 113, 1), server, 123, 123),
            "NTP to a server, into the direct chain",
            Some("ntp"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::icmp4(v4(203, 0, 113, 1), server, 8, 0).icmp_echo(1, 1),
            "an IPv4 echo request",
            Some("ping"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::icmp6(
                v6([0xfe80, 0, 0, 0, 0, 0, 0, 1]),
                v6([0xff02, 0, 0, 0, 0, 1, 0xff00, 1]),
                135,
                0,
            ),
            "IPv6 neighbour solicitation (never part of a connection)",
            Some("ipv6-nd"),
            Some(Inv),
        ),
        p(
            "pf0hpf",
            PacketBuilder::udp4(host, v4(10, 0, 0, 1), 40000, 161).vlan(100),
            "the host's management VLAN",
            Some("mgmt-vlan"),
            Some(New),
        ),
        p(
            "pf0hpf",
            PacketBuilder::tcp4(host, v4(198, 51, 100, 25), 40001, 25).flags(tcp_flags::SYN),
            "SMTP out of the host",
            Some("no-smtp-out"),
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::udp4(v4(203, 0, 113, 9), host, 5000, 9999),
            "unsolicited UDP from the network: inbound default",
            None,
            Some(New),
        ),
        p(
            "p0",
            PacketBuilder::tcp4(internet, server, 40000, 22).fragment(64, false),
            "a non-first fragment carries no ports",
            Some("invalid"),
            Some(Inv),
        ),
        p(
            "p0",
            PacketBuilder::ethernet(ethertype::ARP).payload(&[0; 28]),
            "ARP is not IP: inbound default",
            None,
            None,
        ),
        p(
            "hbn",
            PacketBuilder::udp4(host, v4(198, 51, 100, 53), 40003, 53),
            "traffic from the service port: outbound default",
            None,
            Some(New),
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
    use crate::conntrack::CtPacket;
    use crate::conntrack::reference::Reference;
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
        let mut ct = Reference::new(rules.conntrack.as_ref().unwrap().config);
        let mut rules_hit = BTreeSet::new();
        let mut defaults_hit = BTreeSet::new();
        let mut states = BTreeSet::new();
        for (i, p) in traffic_described().into_iter().enumerate() {
            let h = Headers::parse(&p.frame);
            let now = i as u64 * 1_000_000;
            let tracked = CtPacket::parse(&p.frame, &h).map(|pkt| ct.track(0, &pkt, now));
            let state = tracked.as_ref().map(|t| t.0);
            assert_eq!(state, p.expect_state, "{}", p.note);
            let v = oracle::evaluate_tracked(&rules, p.in_port, &h, state);
            let got = v.rule.map(|i| rules.rules[i].name.as_str());
            assert_eq!(got, p.expect_rule, "{}", p.note);
            if v.action != crate::model::Action::Drop {
                if let Some((_, Some(pending))) = tracked {
                    assert!(ct.commit(pending, now));
                }
            }
            states.extend(state);
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
        assert_eq!(states.len(), 4, "every state is shown: {states:?}");
    }

    #[test]
    fn traffic_is_deterministic() {
        assert_eq!(traffic(), traffic());
    }
}
