//! The oracle: the linear first-match evaluator of a [`RuleSet`].
//!
//! For a packet (its parsed [`Headers`] and its ingress port), the verdict is
//! that of the first rule, in rule order, whose every field matches; if none
//! matches, the default of the packet's direction. Every fast path (software
//! pipes, the classifier, the hardware plan) must give the same verdict, and
//! the proptests compare them with this module. It is written to be
//! obviously correct, not fast: one plain function per field.
//!
//! # Semantics
//!
//! * Only IP packets can match a rule: a frame whose [`L3`] is not IPv4 or
//!   IPv6 (ARP, unparsable, ...) takes the default of its direction.
//! * The direction comes from the ingress port's role
//!   ([`RuleSet::direction_of`]): inbound at an uplink or an unknown port,
//!   outbound at a host or service port.
//! * A rule with a port constraint (a list that does not cover every port)
//!   never matches a packet without TCP/UDP ports: non-first fragments, ICMP,
//!   truncated L4 headers.
//! * A rule with no protocol matches any protocol; a rule with no family
//!   constraint and no prefixes matches IPv4 and IPv6; a prefix only ever
//!   matches addresses of its own family.
//! * `count` and `rate_limit` do not change which rule matches: they are
//!   reported in the [`Verdict`] for the data plane to apply.
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::{Headers, PacketBuilder};
//! use dpu_fw::model::{Action, PortId, PortRef, PortRole, Rule, RuleSet};
//! use dpu_fw::oracle;
//!
//! let rules = RuleSet::builder()
//!     .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
//!     .rule(Rule::builder("ssh").protocol(6).dst_ports([22.into()]).action(Action::Drop))
//!     .defaults(Action::Accept, Action::Accept)
//!     .build()
//!     .unwrap();
//! let frame = PacketBuilder::tcp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 40000, 22).build();
//! let v = oracle::evaluate(&rules, "p0", &Headers::parse(&frame));
//! assert_eq!(v.rule, Some(0));
//! assert_eq!(v.action, Action::Drop);
//! ```

use core::net::IpAddr;

use doca_flow::packet::{Headers, L3, L4};

use crate::conntrack::CtState;
use crate::model::{
    Direction, Family, IcmpMatch, PortId, PortRange, Prefix, RateLimit, RuleMatch, RuleSet,
    TcpFlags, covers_all_ports,
};

/// The oracle's answer for one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The packet's direction.
    pub direction: Direction,
    /// The index in [`RuleSet::rules`] of the deciding rule; `None` when the
    /// default decided.
    pub rule: Option<usize>,
    /// The terminal action.
    pub action: crate::model::Action,
    /// Whether the deciding rule counts (always false for a default).
    pub count: bool,
    /// The deciding rule's policer (always `None` for a default).
    pub rate_limit: Option<RateLimit>,
}

/// The verdict for a packet that entered at the port named `in_port`, with no
/// connection-tracking state (rules that match on `state` never match it).
pub fn evaluate(rules: &RuleSet, in_port: &str, headers: &Headers) -> Verdict {
    evaluate_tracked(rules, in_port, headers, None)
}

/// The verdict for a packet that entered at `in_port` and was given `state` by
/// connection tracking (`None`: not tracked). Which state a packet has is the
/// tracker's business (`crate::conntrack`); this is the rule half of the stateful
/// contract.
pub fn evaluate_tracked(
    rules: &RuleSet,
    in_port: &str,
    headers: &Headers,
    state: Option<CtState>,
) -> Verdict {
    let direction = rules.direction_of(in_port);
    let index = rules
        .rules
        .iter()
        .position(|rule| matches_tracked(&rule.matches, in_port, headers, state));
    match index {
        Some(index) => {
            let rule = &rules.rules[index];
            Verdict {
                direction,
                rule: Some(index),
                action: rule.action.clone(),
                count: rule.count,
                rate_limit: rule.rate_limit,
            }
        }
        None => Verdict {
            direction,
            rule: None,
            action: rules.defaults.of(direction).clone(),
            count: false,
            rate_limit: None,
        },
    }
}

/// The verdict for a packet that entered at the port with DOCA port id
/// `port_id` (an id no port has is an unknown port: see [`evaluate`]).
pub fn evaluate_by_id(rules: &RuleSet, port_id: PortId, headers: &Headers) -> Verdict {
    let name = rules.port_by_id(port_id).map_or("", |p| p.name.as_str());
    evaluate(rules, name, headers)
}

/// The index of the first rule that matches, if any.
pub fn first_match(rules: &RuleSet, in_port: &str, headers: &Headers) -> Option<usize> {
    rules
        .rules
        .iter()
        .position(|rule| matches_tracked(&rule.matches, in_port, headers, None))
}

/// True if every field of `m` matches the packet, which has connection-tracking state
/// `state` (`None`: untracked; a `state` match needs a state in its set).
pub fn matches_tracked(
    m: &RuleMatch,
    in_port: &str,
    headers: &Headers,
    state: Option<CtState>,
) -> bool {
    m.state
        .is_none_or(|set| state.is_some_and(|s| set.contains(s)))
        && matches(m, in_port, headers)
}

/// True if every field of `m` but `state` matches the packet.
pub fn matches(m: &RuleMatch, in_port: &str, headers: &Headers) -> bool {
    let (family, src, dst, proto) = match headers.l3 {
        L3::Ipv4(ip) => (
            Family::Ipv4,
            IpAddr::V4(ip.src),
            IpAddr::V4(ip.dst),
            ip.protocol,
        ),
        L3::Ipv6(ip) => (
            Family::Ipv6,
            IpAddr::V6(ip.src),
            IpAddr::V6(ip.dst),
            ip.next_header,
        ),
        L3::None | L3::Other(_) => return false,
    };
    in_port_matches(&m.in_ports, in_port)
        && m.family.is_none_or(|f| f == family)
        && prefixes_match(&m.src, src)
        && prefixes_match(&m.dst, dst)
        && m.protocol.is_none_or(|p| p == proto)
        && ports_match(&m.src_ports, headers.src_port())
        && ports_match(&m.dst_ports, headers.dst_port())
        && icmp_matches(m.icmp, headers.l4)
        && tcp_flags_match(m.tcp_flags, headers.l4)
        && vlan_matches(m.vlan, headers)
}

fn in_port_matches(ports: &[String], in_port: &str) -> bool {
    ports.is_empty() || ports.iter().any(|p| p == in_port)
}

fn prefixes_match(prefixes: &[Prefix], addr: IpAddr) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| p.contains(addr))
}

fn ports_match(ranges: &[PortRange], port: Option<u16>) -> bool {
    if ranges.is_empty() || covers_all_ports(ranges) {
        return true;
    }
    match port {
        Some(port) => ranges.iter().any(|r| r.contains(port)),
        None => false,
    }
}

fn icmp_matches(icmp: Option<IcmpMatch>, l4: L4) -> bool {
    let Some(want) = icmp else { return true };
    match l4 {
        L4::Icmp { icmp_type, code } | L4::Icmp6 { icmp_type, code } => {
            icmp_type == want.icmp_type && want.code.is_none_or(|c| c == code)
        }
        _ => false,
    }
}

fn tcp_flags_match(test: Option<TcpFlags>, l4: L4) -> bool {
    let Some(test) = test else { return true };
    match l4 {
        L4::Tcp { flags, .. } => test.matches(flags),
        _ => false,
    }
}

fn vlan_matches(vlan: Option<u16>, headers: &Headers) -> bool {
    let Some(vid) = vlan else { return true };
    let outer = headers.eth.and_then(|e| e.vlan[0]);
    outer.is_some_and(|tag| tag.vid() == vid)
}
