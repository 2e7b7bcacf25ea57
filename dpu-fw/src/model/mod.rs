//! The firewall's rule model: plain data, no I/O.
//!
//! A [`RuleSet`] holds the switch [`PolicyPort`]s, named [`Set`]s, the ordered
//! [`Rule`]s, the [`Defaults`] per [`Direction`] and the service [`Chain`]s.
//! It is what the TOML front end ([`crate::config`]), the ClassBench importer
//! and the [`RuleSetBuilder`] produce, what the oracle ([`crate::oracle`])
//! evaluates and what the compiler turns into DOCA Flow pipes.
//!
//! # Quick start
//!
//! ```
//! use dpu_fw::model::{Action, PortId, PortRef, PortRange, PortRole, Rule, RuleSet};
//!
//! let rules = RuleSet::builder()
//!     .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
//!     .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)))
//!     .prefix_set("lan", ["10.0.0.0/8".parse().unwrap()])
//!     .rule(
//!         Rule::builder("web")
//!             .dst_set("lan")
//!             .protocol(6)
//!             .dst_ports([PortRange::single(443)])
//!             .action(Action::Accept)
//!             .count(),
//!     )
//!     .build()
//!     .unwrap();
//! assert_eq!(rules.rules.len(), 1);
//! ```
//!
//! # Semantics (the contract every fast path must follow)
//!
//! * Rules are evaluated in order; the first rule whose every field matches
//!   decides. If none matches, the default of the packet's [`Direction`]
//!   decides (see [`crate::oracle`]).
//! * Only IP packets (IPv4 or IPv6 with a readable header) can match a rule;
//!   every other frame takes the default of its direction.
//! * Within a [`RuleMatch`], an empty list or `None` means "any". A non-empty
//!   list matches when any of its elements matches.
//! * `count` and `rate_limit` are modifiers of a rule, not separate actions:
//!   the terminal [`Action`] is always accept, drop or a service chain.
//!
//! The full list lives in `docs/config.md`.

use core::fmt;

pub use crate::conntrack::{CtConfig, CtState, StateSet};
pub use doca_flow::PortId;

mod builder;
mod validate;
mod value;

pub use builder::{RuleBuilder, RuleSetBuilder};
pub use validate::{
    CheckOptions, ModelError, Problem, ProblemKind, Site, Warning, WarningKind, match_contains,
    problems, problems_with, validate, warnings,
};

pub use value::{
    Family, IcmpMatch, PortRange, Prefix, TcpFlags, ValueError, covers_all_ports, protocol,
    tcp_flag,
};

/// The reserved chain hop that stands for this firewall.
pub const FIREWALL_HOP: &str = "firewall";

/// What a rule matches. Every field must match; an empty list or `None`
/// matches anything.
///
/// A compiler can read a rule as boxes: the cross product of `src` x `dst` x
/// `src_ports` x `dst_ports` (each an empty list = the full dimension) under
/// `protocol`, plus the extra fields `in_ports`, `family`, `icmp`,
/// `tcp_flags` and `vlan`.
///
/// Field semantics, as the oracle evaluates them:
/// * `in_ports`: the ingress port name is one of these.
/// * `family`: the packet is of this family.
/// * `src` / `dst`: the address lies in one of the prefixes (a prefix of the
///   other family never matches); a non-empty list thus also constrains the
///   family to the families present in it.
/// * `protocol`: the IPv4 protocol / IPv6 final next header equals it.
/// * `src_ports` / `dst_ports`: unless the list covers every port (see
///   [`covers_all_ports`]), the packet must carry a TCP or UDP header (so never
///   a non-first fragment, ICMP or a truncated header) whose port lies in one
///   of the ranges.
/// * `icmp`: the packet carries an ICMP or ICMPv6 header with this type (and
///   code, if given).
/// * `tcp_flags`: the packet carries a TCP header whose flags pass the test.
/// * `vlan`: the outermost VLAN tag has this VLAN id (untagged never matches).
/// * `state`: the packet's connection-tracking state is one of these (a packet from a
///   port that no conntrack zone tracks has no state and never matches).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RuleMatch {
    /// Ingress port names; empty = any port.
    pub in_ports: Vec<String>,
    /// Address family; `None` = both.
    pub family: Option<Family>,
    /// Source prefixes; empty = any address.
    pub src: Vec<Prefix>,
    /// Destination prefixes; empty = any address.
    pub dst: Vec<Prefix>,
    /// IP protocol number; `None` = any.
    pub protocol: Option<u8>,
    /// Source port ranges; empty = any.
    pub src_ports: Vec<PortRange>,
    /// Destination port ranges; empty = any.
    pub dst_ports: Vec<PortRange>,
    /// ICMP type and code; `None` = any.
    pub icmp: Option<IcmpMatch>,
    /// TCP flags test; `None` = any.
    pub tcp_flags: Option<TcpFlags>,
    /// VLAN id of the outermost tag; `None` = any (tagged or not).
    pub vlan: Option<u16>,
    /// Connection-tracking states; `None` = any (tracked or not).
    pub state: Option<StateSet>,
}

impl RuleMatch {
    /// True if the match can hold a packet of `family`: the `family` field
    /// allows it and each non-empty prefix list has a prefix of it.
    pub fn allows_family(&self, family: Family) -> bool {
        self.family.is_none_or(|f| f == family)
            && (self.src.is_empty() || self.src.iter().any(|p| p.family() == family))
            && (self.dst.is_empty() || self.dst.iter().any(|p| p.family() == family))
    }

    /// True if the source port list constrains anything (see [`covers_all_ports`]).
    pub fn has_src_ports(&self) -> bool {
        !self.src_ports.is_empty() && !covers_all_ports(&self.src_ports)
    }

    /// True if the destination port list constrains anything.
    pub fn has_dst_ports(&self) -> bool {
        !self.dst_ports.is_empty() && !covers_all_ports(&self.dst_ports)
    }
}

/// Packets or bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rate {
    /// Packets per second; the burst is in packets.
    PacketsPerSecond(u64),
    /// Bits per second (of whole frames); the burst is in bytes.
    BitsPerSecond(u64),
}

/// A policer on a rule: packets within the rate take the rule's action,
/// packets beyond it are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// The committed rate.
    pub rate: Rate,
    /// The bucket size: packets for [`Rate::PacketsPerSecond`], bytes for
    /// [`Rate::BitsPerSecond`].
    pub burst: u64,
}

impl RateLimit {
    /// A rate limit whose burst is one second's worth of the rate.
    pub fn per_second(rate: Rate) -> Self {
        let burst = match rate {
            Rate::PacketsPerSecond(p) => p,
            Rate::BitsPerSecond(b) => b / 8,
        };
        RateLimit { rate, burst }
    }
}

/// The terminal action of a rule or a default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// Pass the packet to its normal destination (its ingress port's peer).
    Accept,
    /// Drop the packet.
    Drop,
    /// Pass the packet into the named service chain: it leaves the firewall
    /// to the hop after `firewall` on the chain's path.
    Chain(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Accept => f.write_str("accept"),
            Action::Drop => f.write_str("drop"),
            Action::Chain(c) => write!(f, "chain {c}"),
        }
    }
}

/// One ordered rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Unique name (counters and diagnostics use it).
    pub name: String,
    /// What the rule matches.
    pub matches: RuleMatch,
    /// What happens to a matching packet.
    pub action: Action,
    /// Count matching packets and bytes in a per-rule counter. A modifier:
    /// counting never changes the verdict or stops evaluation.
    pub count: bool,
    /// Police matching packets; `None` = no limit. Not allowed with
    /// [`Action::Drop`].
    pub rate_limit: Option<RateLimit>,
}

impl Rule {
    /// Start building a rule named `name` (see [`RuleBuilder`]).
    pub fn builder(name: impl Into<String>) -> RuleBuilder {
        RuleBuilder::new(name)
    }
}

/// What a port is on the DPU's embedded switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortRole {
    /// A physical uplink (`p0`, `p1`): the network side.
    Uplink,
    /// A host representor (`pf0hpf`, VF representors): the host side.
    Host,
    /// A service representor (an SF or VF running a DPU service such as HBN).
    Service,
}

/// How a port is found at run time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    /// A DOCA Flow port id (DOCA Flow's own type, re-exported here as [`PortId`]).
    Doca(PortId),
    /// A representor's netdev name (`pf0hpf`, `en3f0pf0sf1`).
    Representor(String),
    /// The netdev of a scalable function this service owns (`p0_if` under DOCA
    /// Platform Framework): `dpu-fw run` finds the SF in sysfs and probes it
    /// ([`crate::sf`]).
    Netdev(String),
}

/// A port of the switch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyPort {
    /// The name rules and chains use.
    pub name: String,
    /// The port's role; it gives the direction of traffic entering it.
    pub role: PortRole,
    /// How to find the port.
    pub id: PortRef,
    /// Where accepted packets entering this port go; `None` = the default
    /// pairing (see [`RuleSet::peer_of`]).
    pub peer: Option<String>,
}

/// The contents of a named set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetValues {
    /// IPv4 and/or IPv6 prefixes.
    Prefixes(Vec<Prefix>),
    /// Ports and port ranges.
    Ports(Vec<PortRange>),
}

/// A named set. Rules hold the set's values (resolved when the rule set is
/// built); the set is kept so that compilers may map it to a shared table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Set {
    /// The set's name.
    pub name: String,
    /// Its values.
    pub values: SetValues,
}

/// The direction of a packet, from the role of its ingress port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Entered at an uplink (or at a port the rule set does not name).
    Inbound,
    /// Entered at a host or service port.
    Outbound,
}

impl Direction {
    /// The direction of traffic entering a port of `role`.
    pub fn of_role(role: PortRole) -> Self {
        match role {
            PortRole::Uplink => Direction::Inbound,
            PortRole::Host | PortRole::Service => Direction::Outbound,
        }
    }
}

/// The default action per direction, taken when no rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Defaults {
    /// For traffic entering at an uplink.
    pub inbound: Action,
    /// For traffic entering at a host or service port.
    pub outbound: Action,
}

impl Defaults {
    /// The default of one direction.
    pub fn of(&self, direction: Direction) -> &Action {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }
}

impl Default for Defaults {
    /// Inbound drop, outbound accept.
    fn default() -> Self {
        Defaults {
            inbound: Action::Drop,
            outbound: Action::Accept,
        }
    }
}

/// One hop of a service chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hop {
    /// This firewall (spelled `firewall`).
    Firewall,
    /// A port, by name.
    Port(String),
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hop::Firewall => f.write_str(FIREWALL_HOP),
            Hop::Port(p) => f.write_str(p),
        }
    }
}

/// A service chain: the ordered hops a packet takes, e.g.
/// `p0 -> firewall -> hbn -> pf0hpf`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    /// The chain's name.
    pub name: String,
    /// The forward path: a port, then hops, with `firewall` exactly once,
    /// ending at a port.
    pub path: Vec<Hop>,
    /// The path of return traffic, if the chain steers it: it starts at the
    /// forward path's last port and ends at its first port.
    pub reverse: Option<Vec<Hop>>,
}

impl Chain {
    /// The hop a packet that the firewall passes into this chain goes to.
    pub fn next_after_firewall(&self) -> Option<&Hop> {
        let at = self.path.iter().position(|h| *h == Hop::Firewall)?;
        self.path.get(at + 1)
    }
}

/// A whole firewall policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RuleSet {
    /// The switch ports, by name.
    pub ports: Vec<PolicyPort>,
    /// The named sets.
    pub sets: Vec<Set>,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
    /// The default actions.
    pub defaults: Defaults,
    /// The service chains.
    pub chains: Vec<Chain>,
    /// Connection tracking; `None` = the firewall is stateless.
    pub conntrack: Option<Conntrack>,
}

/// A connection-tracking zone: ports whose traffic shares one connection table (a
/// connection opened by a packet entering one of them is recognised in replies
/// entering any of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Zone {
    /// The zone's name.
    pub name: String,
    /// The zone id (the DOCA CT zone).
    pub id: u16,
    /// The ports, by name.
    pub ports: Vec<String>,
}

/// The `[conntrack]` section: which ports are tracked, and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Conntrack {
    /// The zones; empty = one zone (id 0) with every port.
    pub zones: Vec<Zone>,
    /// Table size, timeouts, window checking.
    pub config: CtConfig,
}

impl RuleSet {
    /// Start building a rule set (see [`RuleSetBuilder`]).
    pub fn builder() -> RuleSetBuilder {
        RuleSetBuilder::default()
    }

    /// The port named `name`.
    pub fn port(&self, name: &str) -> Option<&PolicyPort> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The port with DOCA port id `id`.
    pub fn port_by_id(&self, id: PortId) -> Option<&PolicyPort> {
        self.ports.iter().find(|p| p.id == PortRef::Doca(id))
    }

    /// The set named `name`.
    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The direction of traffic entering the port named `in_port`: inbound
    /// at an uplink, outbound at a host or service port, and inbound at a
    /// port the rule set does not name (unknown traffic gets the stricter
    /// default in the usual policy).
    pub fn direction_of(&self, in_port: &str) -> Direction {
        self.port(in_port)
            .map_or(Direction::Inbound, |p| Direction::of_role(p.role))
    }

    /// Where accepted packets entering `in_port` go: the port's `peer` if
    /// set; otherwise, if the rule set has exactly one uplink and one host
    /// port, the other one of that pair; otherwise `None`.
    pub fn peer_of(&self, in_port: &str) -> Option<&PolicyPort> {
        let port = self.port(in_port)?;
        if let Some(peer) = &port.peer {
            return self.port(peer);
        }
        let only = |role: PortRole| {
            let mut it = self.ports.iter().filter(move |p| p.role == role);
            match (it.next(), it.next()) {
                (Some(p), None) => Some(p),
                _ => None,
            }
        };
        match port.role {
            PortRole::Uplink => only(PortRole::Host),
            PortRole::Host => only(PortRole::Uplink),
            PortRole::Service => None,
        }
    }

    /// The conntrack zone of traffic entering `in_port`; `None` when the policy has no
    /// `[conntrack]` or no zone holds the port (its packets are not tracked).
    pub fn zone_of(&self, in_port: &str) -> Option<u16> {
        let ct = self.conntrack.as_ref()?;
        if ct.zones.is_empty() {
            return self.port(in_port).map(|_| 0);
        }
        ct.zones
            .iter()
            .find(|z| z.ports.iter().any(|p| p == in_port))
            .map(|z| z.id)
    }

    /// True if some rule matches on `state`.
    pub fn is_stateful(&self) -> bool {
        self.rules.iter().any(|r| r.matches.state.is_some())
    }

    /// Check the rule set: every error, and the warnings (such as shadowed
    /// rules) when there is none.
    ///
    /// # Errors
    /// [`ModelError`] with every [`Problem`] found.
    pub fn check(&self) -> Result<Vec<Warning>, ModelError> {
        let (problems, warnings) = validate(self);
        if problems.is_empty() {
            Ok(warnings)
        } else {
            Err(ModelError::new(problems, self))
        }
    }
}
