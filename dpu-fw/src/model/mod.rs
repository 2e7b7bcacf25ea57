//! The firewall's rule model: plain data, no I/O.
//!
//! A [`RuleSet`] holds the switch [`Port`]s, named [`Set`]s, the ordered
//! [`Rule`]s, the [`Defaults`] per [`Direction`] and the service [`Chain`]s.
//! It is what the TOML front end ([`crate::config`]), the ClassBench importer
//! and the [`RuleSetBuilder`] produce, what the oracle ([`crate::oracle`])
//! evaluates and what the compiler turns into DOCA Flow pipes.
//!
//! # Quick start
//!
//! ```
//! use dpu_fw::model::{Action, PortId, PortRange, PortRole, Rule, RuleSet};
//!
//! let rules = RuleSet::builder()
//!     .port("p0", PortRole::Uplink, PortId::Doca(0))
//!     .port("pf0hpf", PortRole::Host, PortId::Doca(1))
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
//! * Within a [`Match`], an empty list or `None` means "any". A non-empty
//!   list matches when any of its elements matches.
//! * `count` and `rate_limit` are modifiers of a rule, not separate actions:
//!   the terminal [`Action`] is always accept, drop or a service chain.
//!
//! The full list lives in `docs/config.md`.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

pub use crate::conntrack::{CtConfig, CtState, StateSet};

mod builder;
mod validate;

pub use builder::{RuleBuilder, RuleSetBuilder};
pub use validate::{
    CheckOptions, ModelError, Problem, ProblemKind, Site, Warning, WarningKind, match_contains,
    problems, problems_with, validate, warnings,
};

/// The reserved chain hop that stands for this firewall.
pub const FIREWALL_HOP: &str = "firewall";

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Address width in bits (32 or 128).
    pub fn bits(self) -> u8 {
        match self {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// Why a prefix or port range could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The text is not an IPv4 or IPv6 address.
    #[error("`{0}` is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The prefix length is not a number in `0..=32` (IPv4) or `0..=128` (IPv6).
    #[error("prefix length `{0}` is not in 0..={1}")]
    BadLength(String, u8),
    /// The address has bits set beyond the prefix length.
    #[error("`{given}` has host bits set; did you mean `{network}`?")]
    HostBitsSet {
        /// The text as written.
        given: String,
        /// The prefix with the host bits cleared.
        network: Prefix,
    },
    /// The text is not a port or a `lo-hi` port range.
    #[error("`{0}` is not a port (0..=65535) or a port range `lo-hi`")]
    BadPort(String),
    /// A port range whose low end is above its high end.
    #[error("port range {0}-{1} is inverted (low end above high end)")]
    InvertedRange(u16, u16),
}

/// An IPv4 or IPv6 prefix `addr/len`; the bits beyond `len` are always zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Prefix {
    /// The prefix `addr/len` with the bits beyond `len` cleared.
    ///
    /// # Errors
    /// [`ValueError::BadLength`] if `len` exceeds the family's width.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, ValueError> {
        let family = Family::of(addr);
        if len > family.bits() {
            return Err(ValueError::BadLength(len.to_string(), family.bits()));
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(len))),
        };
        Ok(Prefix { addr, len })
    }

    /// The host prefix of one address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        Prefix {
            addr,
            len: Family::of(addr).bits(),
        }
    }

    /// The prefix that holds every address of a family (`/0`).
    pub fn any(family: Family) -> Self {
        let addr = match family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Prefix { addr, len: 0 }
    }

    /// The network address (host bits are zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(self.addr)
    }

    /// The IPv4 network as `(address bits, length)`, if this is IPv4.
    pub fn v4(&self) -> Option<(u32, u8)> {
        match self.addr {
            IpAddr::V4(a) => Some((u32::from(a), self.len)),
            IpAddr::V6(_) => None,
        }
    }

    /// The IPv6 network as `(address bits, length)`, if this is IPv6.
    pub fn v6(&self) -> Option<(u128, u8)> {
        match self.addr {
            IpAddr::V6(a) => Some((u128::from(a), self.len)),
            IpAddr::V4(_) => None,
        }
    }

    /// True if `addr` is of this prefix's family and lies in it.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => u32::from(a) & mask_v4(self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask_v6(self.len) == u128::from(net)
            }
            _ => false,
        }
    }

    /// True if every address of `other` lies in `self`.
    pub fn contains_prefix(&self, other: &Prefix) -> bool {
        self.family() == other.family() && self.len <= other.len && self.contains(other.addr)
    }

    /// The two halves of this prefix (`len + 1`), or `None` for a host prefix.
    pub fn halves(&self) -> Option<(Prefix, Prefix)> {
        if self.len >= self.family().bits() {
            return None;
        }
        let len = self.len + 1;
        let upper = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | (1u32 << (32 - len)))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                u128::from(a) | (1u128 << (128 - u32::from(len))),
            )),
        };
        Some((
            Prefix {
                addr: self.addr,
                len,
            },
            Prefix { addr: upper, len },
        ))
    }
}

/// Parses `addr/len` or a bare address (a host prefix), refusing host bits
/// beyond `len` ([`ValueError::HostBitsSet`]).
impl FromStr for Prefix {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .trim()
            .parse()
            .map_err(|_| ValueError::BadAddress(addr_text.to_string()))?;
        let bits = Family::of(addr).bits();
        let len = match len_text {
            None => bits,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(n) if n <= bits && !l.trim().starts_with('+') => n,
                _ => return Err(ValueError::BadLength(l.to_string(), bits)),
            },
        };
        let network = Prefix::new(addr, len)?;
        if network.addr != addr {
            return Err(ValueError::HostBitsSet {
                given: s.to_string(),
                network,
            });
        }
        Ok(network)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An inclusive range of L4 ports, `lo..=hi`, never inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// Every port, `0..=65535`.
    pub const FULL: PortRange = PortRange {
        lo: 0,
        hi: u16::MAX,
    };

    /// The range `lo..=hi`.
    ///
    /// # Errors
    /// [`ValueError::InvertedRange`] if `lo > hi`.
    pub fn new(lo: u16, hi: u16) -> Result<Self, ValueError> {
        if lo > hi {
            Err(ValueError::InvertedRange(lo, hi))
        } else {
            Ok(PortRange { lo, hi })
        }
    }

    /// The range holding one port.
    pub const fn single(port: u16) -> Self {
        PortRange { lo: port, hi: port }
    }

    /// The low end (inclusive).
    pub fn lo(&self) -> u16 {
        self.lo
    }

    /// The high end (inclusive).
    pub fn hi(&self) -> u16 {
        self.hi
    }

    /// True if `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    /// True if every port of `other` lies in `self`.
    pub fn contains_range(&self, other: &PortRange) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }
}

impl From<u16> for PortRange {
    fn from(port: u16) -> Self {
        PortRange::single(port)
    }
}

impl FromStr for PortRange {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError::BadPort(s.to_string());
        let num = |t: &str| -> Result<u16, ValueError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u16>().map_err(|_| bad())
        };
        match s.split_once('-') {
            Some((lo, hi)) => PortRange::new(num(lo)?, num(hi)?),
            None => Ok(PortRange::single(num(s)?)),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// True if the union of `ranges` holds every port `0..=65535`.
///
/// Such a list constrains nothing: it is equivalent to "any port" and, like
/// it, also matches packets that carry no L4 ports (see [`Match`]).
pub fn covers_all_ports(ranges: &[PortRange]) -> bool {
    let mut sorted: Vec<PortRange> = ranges.to_vec();
    sorted.sort();
    let mut next: u32 = 0; // the lowest port not yet covered
    for r in sorted {
        if u32::from(r.lo) > next {
            return false;
        }
        next = next.max(u32::from(r.hi) + 1);
    }
    next > u32::from(u16::MAX)
}

/// IP protocol numbers used by the model (the same values as on the wire).
pub mod protocol {
    pub use doca_flow::packet::ip_proto::{GRE, ICMP, ICMPV6, TCP, UDP};

    /// The protocol's usual name (`tcp`, `udp`, `icmp`, `icmpv6`, `gre`), if it has one here.
    pub fn name(proto: u8) -> Option<&'static str> {
        match proto {
            TCP => Some("tcp"),
            UDP => Some("udp"),
            ICMP => Some("icmp"),
            ICMPV6 => Some("icmpv6"),
            GRE => Some("gre"),
            _ => None,
        }
    }

    /// The protocol number of a name accepted by [`name`].
    pub fn by_name(name: &str) -> Option<u8> {
        match name {
            "tcp" => Some(TCP),
            "udp" => Some(UDP),
            "icmp" => Some(ICMP),
            "icmpv6" => Some(ICMPV6),
            "gre" => Some(GRE),
            _ => None,
        }
    }
}

/// An ICMP / ICMPv6 type, and optionally code, to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    /// The ICMP type.
    pub icmp_type: u8,
    /// The ICMP code; `None` matches any code.
    pub code: Option<u8>,
}

/// The TCP flag bits, as in the TCP header (CWR ECE URG ACK PSH RST SYN FIN).
pub mod tcp_flag {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Names and bits, in the spelling the config uses.
    pub const NAMES: [(&str, u8); 8] = [
        ("fin", FIN),
        ("syn", SYN),
        ("rst", RST),
        ("psh", PSH),
        ("ack", ACK),
        ("urg", URG),
        ("ece", ECE),
        ("cwr", CWR),
    ];
}

/// A TCP flags test: the packet matches when `flags & mask == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    value: u8,
    mask: u8,
}

impl TcpFlags {
    /// The test `flags & mask == value & mask` (bits of `value` outside
    /// `mask` are dropped).
    pub fn new(value: u8, mask: u8) -> Self {
        TcpFlags {
            value: value & mask,
            mask,
        }
    }

    /// The flag values required under the mask.
    pub fn value(&self) -> u8 {
        self.value
    }

    /// The flags that are tested.
    pub fn mask(&self) -> u8 {
        self.mask
    }

    /// True if the flag byte passes the test.
    pub fn matches(&self, flags: u8) -> bool {
        flags & self.mask == self.value
    }
}

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
pub struct Match {
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

impl Match {
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
    pub matches: Match,
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
pub enum PortId {
    /// A DOCA Flow port id.
    Doca(u16),
    /// A representor's netdev name (`pf0hpf`, `en3f0pf0sf1`).
    Representor(String),
    /// The netdev of a scalable function this service owns (`p0_if` under DOCA
    /// Platform Framework): `dpu-fw run` finds the SF in sysfs and probes it
    /// ([`crate::sf`]).
    Netdev(String),
}

/// A port of the switch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    /// The name rules and chains use.
    pub name: String,
    /// The port's role; it gives the direction of traffic entering it.
    pub role: PortRole,
    /// How to find the port.
    pub id: PortId,
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
    pub ports: Vec<Port>,
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
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The port with DOCA port id `id`.
    pub fn port_by_id(&self, id: u16) -> Option<&Port> {
        self.ports.iter().find(|p| p.id == PortId::Doca(id))
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
    pub fn peer_of(&self, in_port: &str) -> Option<&Port> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_parse_and_contains() {
        let p: Prefix = "10.0.0.0/8".parse().unwrap();
        assert!(p.contains("10.255.0.1".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        assert!(matches!(
            "10.0.0.1/8".parse::<Prefix>(),
            Err(ValueError::HostBitsSet { .. })
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Prefix>(),
            Err(ValueError::BadLength(..))
        ));
        assert!(matches!(
            "10.0.0/8".parse::<Prefix>(),
            Err(ValueError::BadAddress(_))
        ));
        let h: Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(h.prefix_len(), 128);
        let any = Prefix::any(Family::Ipv6);
        assert!(any.contains_prefix(&h));
        let (a, b) = "10.0.0.0/8".parse::<Prefix>().unwrap().halves().unwrap();
        assert_eq!(a.to_string(), "10.0.0.0/9");
        assert_eq!(b.to_string(), "10.128.0.0/9");
        assert!(Prefix::host("1.2.3.4".parse().unwrap()).halves().is_none());
    }

    #[test]
    fn port_ranges() {
        assert_eq!("80".parse::<PortRange>().unwrap(), PortRange::single(80));
        assert_eq!(
            "1000-2000".parse::<PortRange>().unwrap(),
            PortRange::new(1000, 2000).unwrap()
        );
        assert_eq!(
            "20-10".parse::<PortRange>(),
            Err(ValueError::InvertedRange(20, 10))
        );
        assert!("x".parse::<PortRange>().is_err());
        assert!("70000".parse::<PortRange>().is_err());
        assert!("+5".parse::<PortRange>().is_err());
        assert!(covers_all_ports(&[PortRange::FULL]));
        assert!(covers_all_ports(&[
            PortRange::new(1024, 65535).unwrap(),
            PortRange::new(0, 1023).unwrap()
        ]));
        assert!(!covers_all_ports(&[
            PortRange::new(1025, 65535).unwrap(),
            PortRange::new(0, 1023).unwrap()
        ]));
        assert!(!covers_all_ports(&[]));
    }

    #[test]
    fn tcp_flags_mask_value() {
        let syn_only = TcpFlags::new(tcp_flag::SYN, tcp_flag::SYN | tcp_flag::ACK);
        assert!(syn_only.matches(tcp_flag::SYN));
        assert!(syn_only.matches(tcp_flag::SYN | tcp_flag::PSH));
        assert!(!syn_only.matches(tcp_flag::SYN | tcp_flag::ACK));
        assert_eq!(TcpFlags::new(0xff, 0x0f).value(), 0x0f);
    }
}
