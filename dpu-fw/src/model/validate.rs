//! Semantic checks of a [`RuleSet`] and the shadowing analysis.
//!
//! One checker serves every front end: problems name a [`Site`] (which
//! port, set, rule or chain, and which key), and the TOML front end maps
//! sites back to file positions.

use std::collections::{HashMap, HashSet};

use super::{
    Action, Chain, Family, Hop, PortRange, PortRef, Prefix, RuleMatch, RuleSet, SetValues, protocol,
};

/// Where in a rule set a problem or warning is. `key` is the config key
/// (`src`, `dst_port`, `path`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    /// The port at `index` in [`RuleSet::ports`].
    Port {
        /// Position in `ports`.
        index: usize,
        /// The key.
        key: &'static str,
    },
    /// The set at `index` in [`RuleSet::sets`].
    Set {
        /// Position in `sets`.
        index: usize,
        /// The key.
        key: &'static str,
    },
    /// The rule at `index` in [`RuleSet::rules`].
    Rule {
        /// Position in `rules`.
        index: usize,
        /// The key.
        key: &'static str,
    },
    /// The defaults.
    Defaults {
        /// `inbound` or `outbound`.
        key: &'static str,
    },
    /// The `[conntrack]` section (`key`: `zones`, `max_connections`, ...).
    Conntrack {
        /// The key.
        key: &'static str,
    },
    /// The chain at `index` in [`RuleSet::chains`].
    Chain {
        /// Position in `chains`.
        index: usize,
        /// The key (`name`, `path`, `reverse`).
        key: &'static str,
        /// The hop, for problems with one hop.
        hop: Option<usize>,
    },
}

/// The kinds of semantic error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Two ports, sets, rules or chains share a name, or two ports the same id.
    DuplicateName,
    /// A name is empty, holds whitespace or `->`, or is reserved (`firewall`).
    BadName,
    /// A port name that no port defines.
    UndefinedPort,
    /// A set name that no set defines.
    UndefinedSet,
    /// A prefix set used for ports, or a port set used for addresses.
    WrongSetKind,
    /// A chain name that no chain defines.
    UndefinedChain,
    /// A list or set with no element.
    EmptyList,
    /// A port range whose low end is above its high end.
    InvertedRange,
    /// Prefixes of one family in a rule of the other, or source and
    /// destination prefixes of disjoint families.
    FamilyMismatch,
    /// A port, ICMP or TCP-flags match without the protocol it needs.
    ProtocolRequired,
    /// A number outside its range (VLAN id, rate, burst).
    OutOfRange,
    /// An action or modifier that cannot go with the rest of the rule
    /// (`rate_limit` with `drop`).
    InvalidAction,
    /// A port's peer is itself.
    InvalidPeer,
    /// A chain path of the wrong shape.
    InvalidChain,
    /// A `state` match on traffic that no conntrack zone tracks (no `[conntrack]`, or
    /// none of the rule's ports in a zone), or a zone of the wrong shape.
    Untracked,
}

/// One semantic error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is.
    pub at: Site,
    /// What kind it is.
    pub kind: ProblemKind,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(at: Site, kind: ProblemKind, message: String) -> Self {
        Problem { at, kind, message }
    }
}

/// The kinds of warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// The rule can never decide a packet: an earlier rule (its index)
    /// matches every packet it matches.
    Shadowed {
        /// The index of the earlier rule.
        by: usize,
    },
    /// A set or chain that nothing uses.
    Unused,
}

/// One warning: the rule set is valid but probably not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where it is.
    pub at: Site,
    /// What kind it is.
    pub kind: WarningKind,
    /// What was found.
    pub message: String,
}

/// A rule set that failed its checks.
///
/// Displayed as a count, then one problem per line through [`crate::error::ErrorList`]:
/// where it is first (``rule 12 `ssh` ``, `port 2`, ...), then what is wrong and what to
/// do; problems with the same message are listed once with the places they occur (a
/// ClassBench file with 200 ICMP rules that carry port ranges gives one line, not 200),
/// and at most [`ModelError::SHOWN`] lines are printed, then a count of the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ModelError {
    /// Every problem found, in the order of the rule set.
    pub problems: Vec<Problem>,
    /// The names of the rule set's rules, by index (for the messages; may be empty).
    pub rule_names: Vec<String>,
}

impl ModelError {
    /// The most lines [`Display`](core::fmt::Display) prints.
    pub const SHOWN: usize = crate::error::ErrorList::SHOWN_LINES;

    /// The problems of `rules`.
    pub fn new(problems: Vec<Problem>, rules: &RuleSet) -> Self {
        ModelError {
            problems,
            rule_names: rules.rules.iter().map(|r| r.name.clone()).collect(),
        }
    }

    /// The problems as an [`ErrorList`](crate::error::ErrorList), each at its
    /// [`Site::place`] (with the rule's name when known).
    pub fn list(&self) -> crate::error::ErrorList {
        self.problems
            .iter()
            .map(|p| {
                let mut place = p.at.place();
                if let Site::Rule { index, .. } = p.at {
                    if let Some(name) = self.rule_names.get(index) {
                        place.id = format!("{} `{name}`", place.id);
                    }
                }
                (place, p.message.clone())
            })
            .collect()
    }
}

impl Site {
    /// Where, as an error list's place: `rule 12` (1-based), `port 2`, `chain 1`,
    /// `defaults`, `conntrack`.
    pub fn place(&self) -> crate::error::Place {
        use crate::error::Place;
        match self {
            Site::Port { index, .. } => Place::new("port", (index + 1).to_string()),
            Site::Set { index, .. } => Place::new("set", (index + 1).to_string()),
            Site::Rule { index, .. } => Place::new("rule", (index + 1).to_string()),
            Site::Defaults { key } => Place::new("", format!("defaults.{key}")),
            Site::Conntrack { key } => Place::new("", format!("conntrack.{key}")),
            Site::Chain { index, .. } => Place::new("chain", (index + 1).to_string()),
        }
    }
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid rule set: {n} problem{}",
            if n == 1 { "" } else { "s" }
        )?;
        for line in self.list().lines() {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a name must not be empty".to_string())
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) || name.contains("->") {
        Some(format!("name `{name}` must not contain whitespace or `->`"))
    } else {
        None
    }
}

/// Options of the semantic checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckOptions {
    /// A port match needs `protocol` tcp or udp (the config language's
    /// rule). When false, a port match may also have no protocol (it then
    /// matches TCP and UDP packets with such ports, as ClassBench's
    /// protocol-wildcard rules do), and a port list that covers every port
    /// may go with any protocol.
    pub ports_need_protocol: bool,
}

impl CheckOptions {
    /// The checks of the config language (the default).
    pub const STRICT: CheckOptions = CheckOptions {
        ports_need_protocol: true,
    };
    /// The checks for imported rule sets (ClassBench and the like).
    pub const IMPORT: CheckOptions = CheckOptions {
        ports_need_protocol: false,
    };
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions::STRICT
    }
}

/// Check a rule set: every semantic error, and the warnings.
///
/// Errors: see [`problems`]. Warnings: see [`warnings`] (quadratic in the
/// number of rules).
pub fn validate(rules: &RuleSet) -> (Vec<Problem>, Vec<Warning>) {
    (problems(rules), warnings(rules))
}

/// Every semantic error: duplicate or malformed names, undefined ports and
/// chains (sets are resolved before a [`RuleSet`] exists), empty sets,
/// family mismatches, port / ICMP / TCP-flag matches without their
/// protocol, VLAN ids above 4095, zero rates or bursts, `rate_limit` with
/// `drop`, and chain paths of the wrong shape. Linear in the rule set.
pub fn problems(rules: &RuleSet) -> Vec<Problem> {
    problems_with(rules, CheckOptions::STRICT)
}

/// [`problems`] under the given options.
pub fn problems_with(rules: &RuleSet, options: CheckOptions) -> Vec<Problem> {
    let mut p = Vec::new();
    check_ports(rules, &mut p);
    check_sets(rules, &mut p);
    check_rules(rules, options, &mut p);
    check_defaults(rules, &mut p);
    check_chains(rules, &mut p);
    check_conntrack(rules, &mut p);
    p
}

fn check_conntrack(rules: &RuleSet, p: &mut Vec<Problem>) {
    let Some(ct) = &rules.conntrack else {
        return;
    };
    let at = |key| Site::Conntrack { key };
    if ct.config.max_connections == 0 {
        p.push(Problem::new(
            at("max_connections"),
            ProblemKind::OutOfRange,
            "`max_connections` must be at least 1".to_string(),
        ));
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut names = HashSet::new();
    for z in &ct.zones {
        if !names.insert(z.name.as_str()) {
            p.push(Problem::new(
                at("zones"),
                ProblemKind::DuplicateName,
                format!("zone `{}` is defined twice", z.name),
            ));
        }
        if z.ports.is_empty() {
            p.push(Problem::new(
                at("zones"),
                ProblemKind::EmptyList,
                format!("zone `{}` has no ports", z.name),
            ));
        }
        for port in &z.ports {
            if rules.port(port).is_none() {
                p.push(Problem::new(
                    at("zones"),
                    ProblemKind::UndefinedPort,
                    format!("zone `{}`: undefined port `{port}`", z.name),
                ));
            } else if let Some(other) = seen.insert(port.as_str(), z.name.as_str()) {
                p.push(Problem::new(
                    at("zones"),
                    ProblemKind::Untracked,
                    format!(
                        "port `{port}` is in zones `{other}` and `{}`; a port belongs to one zone",
                        z.name
                    ),
                ));
            }
        }
    }
}

/// The warnings: rules shadowed by one earlier rule (see
/// [`match_contains`]; this compares every pair of rules, so it is
/// quadratic), and chains that no rule or default uses.
pub fn warnings(rules: &RuleSet) -> Vec<Warning> {
    let mut warnings = shadowed(rules);
    for (index, chain) in rules.chains.iter().enumerate() {
        let used = rules
            .rules
            .iter()
            .map(|r| &r.action)
            .chain([&rules.defaults.inbound, &rules.defaults.outbound])
            .any(|a| matches!(a, Action::Chain(c) if *c == chain.name));
        if !used {
            warnings.push(Warning {
                at: Site::Chain {
                    index,
                    key: "name",
                    hop: None,
                },
                kind: WarningKind::Unused,
                message: format!("chain `{}` is not used by any rule or default", chain.name),
            });
        }
    }
    warnings
}

fn check_ports(rules: &RuleSet, p: &mut Vec<Problem>) {
    let mut names = HashSet::new();
    let mut ids = HashMap::new();
    for (index, port) in rules.ports.iter().enumerate() {
        let at = |key| Site::Port { index, key };
        if let Some(m) = bad_name(&port.name) {
            p.push(Problem::new(at("name"), ProblemKind::BadName, m));
        } else if port.name == super::FIREWALL_HOP {
            p.push(Problem::new(
                at("name"),
                ProblemKind::BadName,
                "`firewall` is the reserved chain hop for this firewall; expected another port name"
                    .to_string(),
            ));
        }
        if !names.insert(port.name.as_str()) {
            p.push(Problem::new(
                at("name"),
                ProblemKind::DuplicateName,
                format!("port `{}` is defined twice", port.name),
            ));
        }
        let key = match port.id {
            PortRef::Doca(_) => "id",
            PortRef::Representor(_) => "representor",
            PortRef::Netdev(_) => "netdev",
        };
        if let Some(other) = ids.insert(&port.id, port.name.as_str()) {
            p.push(Problem::new(
                at(key),
                ProblemKind::DuplicateName,
                format!("port `{}` has the same {key} as port `{other}`", port.name),
            ));
        }
        if let Some(peer) = &port.peer {
            if *peer == port.name {
                p.push(Problem::new(
                    at("peer"),
                    ProblemKind::InvalidPeer,
                    format!(
                        "port `{}` is its own peer; expected another port",
                        port.name
                    ),
                ));
            } else if rules.port(peer).is_none() {
                p.push(Problem::new(
                    at("peer"),
                    ProblemKind::UndefinedPort,
                    format!("undefined port `{peer}`"),
                ));
            }
        }
    }
}

fn check_sets(rules: &RuleSet, p: &mut Vec<Problem>) {
    let mut names = HashSet::new();
    for (index, set) in rules.sets.iter().enumerate() {
        let (key, empty) = match &set.values {
            SetValues::Prefixes(v) => ("prefixes", v.is_empty()),
            SetValues::Ports(v) => ("ports", v.is_empty()),
        };
        if let Some(m) = bad_name(&set.name) {
            p.push(Problem::new(
                Site::Set { index, key: "name" },
                ProblemKind::BadName,
                m,
            ));
        }
        if !names.insert(set.name.as_str()) {
            p.push(Problem::new(
                Site::Set { index, key: "name" },
                ProblemKind::DuplicateName,
                format!("set `{}` is defined twice", set.name),
            ));
        }
        if empty {
            p.push(Problem::new(
                Site::Set { index, key },
                ProblemKind::EmptyList,
                format!("set `{}` is empty; expected at least one element", set.name),
            ));
        }
    }
}

fn families(prefixes: &[Prefix]) -> (bool, bool) {
    (
        prefixes.iter().any(|p| p.family() == Family::Ipv4),
        prefixes.iter().any(|p| p.family() == Family::Ipv6),
    )
}

fn check_match(
    rules: &RuleSet,
    index: usize,
    m: &RuleMatch,
    options: CheckOptions,
    p: &mut Vec<Problem>,
) {
    let at = |key| Site::Rule { index, key };
    for port in &m.in_ports {
        if rules.port(port).is_none() {
            p.push(Problem::new(
                at("in_port"),
                ProblemKind::UndefinedPort,
                format!("undefined port `{port}`"),
            ));
        }
    }
    if let Some(states) = m.state {
        if states.is_empty() {
            p.push(Problem::new(
                at("state"),
                ProblemKind::EmptyList,
                "`state = []` matches nothing; list states or leave `state` out".to_string(),
            ));
        } else if rules.conntrack.is_none() {
            p.push(Problem::new(
                at("state"),
                ProblemKind::Untracked,
                "`state` needs connection tracking, but the policy has no `[conntrack]` \
                 section (an empty `[conntrack]` tracks every port with the default timeouts)"
                    .to_string(),
            ));
        } else {
            let mut ports = rules
                .ports
                .iter()
                .map(|p| p.name.as_str())
                .filter(|p| m.in_ports.is_empty() || m.in_ports.iter().any(|q| q == p));
            if !ports.any(|p| rules.zone_of(p).is_some()) {
                p.push(Problem::new(
                    at("state"),
                    ProblemKind::Untracked,
                    "`state` can never match: no port of this rule is in a conntrack zone \
                     (add the ports to `[conntrack] zones`)"
                        .to_string(),
                ));
            }
        }
    }
    if let Some(f) = m.family {
        for (key, list) in [("src", &m.src), ("dst", &m.dst)] {
            if let Some(bad) = list.iter().find(|x| x.family() != f) {
                p.push(Problem::new(
                    at(key),
                    ProblemKind::FamilyMismatch,
                    format!("{} prefix {bad} in an {f} rule", bad.family()),
                ));
            }
        }
    } else if !m.src.is_empty() && !m.dst.is_empty() {
        let (s4, s6) = families(&m.src);
        let (d4, d6) = families(&m.dst);
        if !(s4 && d4 || s6 && d6) {
            p.push(Problem::new(
                at("dst"),
                ProblemKind::FamilyMismatch,
                format!(
                    "the source prefixes are {} but the destination prefixes are {}; the rule could never match",
                    if s4 { "IPv4" } else { "IPv6" },
                    if d4 { "IPv4" } else { "IPv6" }
                ),
            ));
        }
    }
    let proto_name = |n: Option<u8>| match n {
        None => "no protocol".to_string(),
        Some(n) => protocol::name(n).map_or(format!("protocol {n}"), |s| format!("protocol {s}")),
    };
    let tcp_udp = matches!(m.protocol, Some(protocol::TCP | protocol::UDP));
    for (key, list) in [("src_port", &m.src_ports), ("dst_port", &m.dst_ports)] {
        let allowed = if options.ports_need_protocol {
            tcp_udp
        } else {
            tcp_udp || m.protocol.is_none() || super::covers_all_ports(list)
        };
        if !list.is_empty() && !allowed {
            p.push(Problem::new(
                at(key),
                ProblemKind::ProtocolRequired,
                format!(
                    "a port match needs `protocol = \"tcp\"` or `\"udp\"`, but the rule has {}; remove the ports or make it a TCP or UDP rule",
                    proto_name(m.protocol)
                ),
            ));
        }
    }
    if m.icmp.is_some() && !matches!(m.protocol, Some(protocol::ICMP | protocol::ICMPV6)) {
        p.push(Problem::new(
            at("icmp_type"),
            ProblemKind::ProtocolRequired,
            format!(
                "an ICMP type match needs `protocol = \"icmp\"` or `\"icmpv6\"`, but the rule has {}",
                proto_name(m.protocol)
            ),
        ));
    }
    if m.tcp_flags.is_some() && m.protocol != Some(protocol::TCP) {
        p.push(Problem::new(
            at("tcp_flags"),
            ProblemKind::ProtocolRequired,
            format!(
                "a TCP flags match needs `protocol = \"tcp\"`, but the rule has {}",
                proto_name(m.protocol)
            ),
        ));
    }
    if let Some(v) = m.vlan {
        if v > 4095 {
            p.push(Problem::new(
                at("vlan"),
                ProblemKind::OutOfRange,
                format!("VLAN id {v} is not in 0..=4095"),
            ));
        }
    }
}

fn check_action(rules: &RuleSet, action: &Action, at: Site, p: &mut Vec<Problem>) {
    if let Action::Chain(c) = action {
        if rules.chain(c).is_none() {
            p.push(Problem::new(
                at,
                ProblemKind::UndefinedChain,
                format!("undefined chain `{c}`"),
            ));
        }
    }
}

fn check_rules(rules: &RuleSet, options: CheckOptions, p: &mut Vec<Problem>) {
    let mut names = HashSet::new();
    for (index, rule) in rules.rules.iter().enumerate() {
        let at = |key| Site::Rule { index, key };
        if let Some(m) = bad_name(&rule.name) {
            p.push(Problem::new(at("name"), ProblemKind::BadName, m));
        }
        if !names.insert(rule.name.as_str()) {
            p.push(Problem::new(
                at("name"),
                ProblemKind::DuplicateName,
                format!("rule `{}` is defined twice", rule.name),
            ));
        }
        check_match(rules, index, &rule.matches, options, p);
        check_action(rules, &rule.action, at("chain"), p);
        if let Some(limit) = rule.rate_limit {
            if rule.action == Action::Drop {
                p.push(Problem::new(
                    at("rate_limit"),
                    ProblemKind::InvalidAction,
                    "`rate_limit` polices packets that are passed on; it cannot go with `drop`"
                        .to_string(),
                ));
            }
            let rate = match limit.rate {
                super::Rate::PacketsPerSecond(r) | super::Rate::BitsPerSecond(r) => r,
            };
            if rate == 0 || limit.burst == 0 {
                p.push(Problem::new(
                    at("rate_limit"),
                    ProblemKind::OutOfRange,
                    "a rate limit needs a rate and a burst above 0 (write `drop` to drop all)"
                        .to_string(),
                ));
            }
        }
    }
}

fn check_defaults(rules: &RuleSet, p: &mut Vec<Problem>) {
    check_action(
        rules,
        &rules.defaults.inbound,
        Site::Defaults { key: "inbound" },
        p,
    );
    check_action(
        rules,
        &rules.defaults.outbound,
        Site::Defaults { key: "outbound" },
        p,
    );
}

fn check_path(
    rules: &RuleSet,
    index: usize,
    key: &'static str,
    path: &[Hop],
    forward: bool,
    p: &mut Vec<Problem>,
) {
    let at = |hop| Site::Chain { index, key, hop };
    let mut seen = HashSet::new();
    for (i, hop) in path.iter().enumerate() {
        if let Hop::Port(name) = hop {
            if rules.port(name).is_none() {
                p.push(Problem::new(
                    at(Some(i)),
                    ProblemKind::UndefinedPort,
                    format!("undefined port `{name}` (expected a port name or `firewall`)"),
                ));
            }
        }
        if !seen.insert(hop) {
            p.push(Problem::new(
                at(Some(i)),
                ProblemKind::InvalidChain,
                format!("hop `{hop}` appears twice; a chain visits each hop once"),
            ));
        }
    }
    let firewalls = path.iter().filter(|h| **h == Hop::Firewall).count();
    let min = if forward { 3 } else { 2 };
    if path.len() < min {
        p.push(Problem::new(
            at(None),
            ProblemKind::InvalidChain,
            format!(
                "a {key} path needs at least {min} hops{}",
                if forward {
                    " (e.g. `p0 -> firewall -> pf0hpf`)"
                } else {
                    ""
                }
            ),
        ));
    } else if matches!(path.first(), Some(Hop::Firewall))
        || matches!(path.last(), Some(Hop::Firewall))
    {
        p.push(Problem::new(
            at(None),
            ProblemKind::InvalidChain,
            format!("a {key} path starts and ends at a port, not at `firewall`"),
        ));
    }
    if forward && firewalls == 0 {
        p.push(Problem::new(
            at(None),
            ProblemKind::InvalidChain,
            "a chain path must pass through `firewall` once".to_string(),
        ));
    }
}

fn check_chain(rules: &RuleSet, index: usize, chain: &Chain, p: &mut Vec<Problem>) {
    check_path(rules, index, "path", &chain.path, true, p);
    if let Some(rev) = &chain.reverse {
        check_path(rules, index, "reverse", rev, false, p);
        if rev.first() != chain.path.last() || rev.last() != chain.path.first() {
            p.push(Problem::new(
                Site::Chain {
                    index,
                    key: "reverse",
                    hop: None,
                },
                ProblemKind::InvalidChain,
                format!(
                    "the reverse path must go from `{}` back to `{}`",
                    chain.path.last().map_or(String::new(), |h| h.to_string()),
                    chain.path.first().map_or(String::new(), |h| h.to_string())
                ),
            ));
        }
    }
}

fn check_chains(rules: &RuleSet, p: &mut Vec<Problem>) {
    let mut names = HashSet::new();
    for (index, chain) in rules.chains.iter().enumerate() {
        let at = Site::Chain {
            index,
            key: "name",
            hop: None,
        };
        if let Some(m) = bad_name(&chain.name) {
            p.push(Problem::new(at, ProblemKind::BadName, m));
        }
        if !names.insert(chain.name.as_str()) {
            p.push(Problem::new(
                at,
                ProblemKind::DuplicateName,
                format!("chain `{}` is defined twice", chain.name),
            ));
        }
        check_chain(rules, index, chain, p);
    }
}

/// True if every address of `p` lies in the union of `cover`.
fn prefix_covered(cover: &[Prefix], p: Prefix) -> bool {
    if cover.iter().any(|q| q.contains_prefix(&p)) {
        return true;
    }
    // Only prefixes strictly inside `p` can still help; without any, a part
    // of `p` is uncovered.
    if !cover.iter().any(|q| p.contains_prefix(q)) {
        return false;
    }
    match p.halves() {
        Some((a, b)) => prefix_covered(cover, a) && prefix_covered(cover, b),
        None => false,
    }
}

/// True if the prefix list `outer` (empty = any) holds every `family`
/// address that `inner` (empty = any) holds.
fn prefixes_contain(outer: &[Prefix], inner: &[Prefix], family: Family) -> bool {
    if outer.is_empty() {
        return true;
    }
    let cover: Vec<Prefix> = outer
        .iter()
        .copied()
        .filter(|p| p.family() == family)
        .collect();
    if inner.is_empty() {
        return prefix_covered(&cover, Prefix::any(family));
    }
    inner
        .iter()
        .filter(|p| p.family() == family)
        .all(|p| prefix_covered(&cover, *p))
}

/// True if every port of `inner` lies in the union of `outer`.
fn ranges_contain(outer: &[PortRange], inner: &[PortRange]) -> bool {
    inner.iter().all(|r| {
        // Walk up from r.lo through the ranges of `outer`.
        let mut next = u32::from(r.lo());
        loop {
            if next > u32::from(r.hi()) {
                return true;
            }
            match outer
                .iter()
                .filter(|o| o.contains(next as u16))
                .map(|o| o.hi())
                .max()
            {
                Some(hi) => next = u32::from(hi) + 1,
                None => return false,
            }
        }
    })
}

/// True if every packet that `inner` matches (on any ingress port) is also
/// matched by `outer`, field by field: this is what "shadowed" means.
///
/// The test is exact per field (prefix lists and port lists are compared as
/// unions, so `10.0.0.0/9` + `10.128.0.0/9` contains `10.0.0.0/8`), but it
/// compares with one earlier rule at a time: a rule covered only by the
/// union of several earlier rules is not reported.
pub fn match_contains(outer: &RuleMatch, inner: &RuleMatch) -> bool {
    if let Some(o) = outer.state {
        match inner.state {
            Some(i) if o.contains_all(i) => {}
            _ => return false,
        }
    }
    if !outer.in_ports.is_empty()
        && (inner.in_ports.is_empty() || !inner.in_ports.iter().all(|p| outer.in_ports.contains(p)))
    {
        return false;
    }
    if outer.protocol.is_some() && outer.protocol != inner.protocol {
        return false;
    }
    if outer.vlan.is_some() && outer.vlan != inner.vlan {
        return false;
    }
    if let Some(o) = outer.icmp {
        match inner.icmp {
            Some(i) if i.icmp_type == o.icmp_type && (o.code.is_none() || o.code == i.code) => {}
            _ => return false,
        }
    }
    if let Some(o) = outer.tcp_flags {
        match inner.tcp_flags {
            Some(i) if o.mask() & !i.mask() == 0 && i.value() & o.mask() == o.value() => {}
            _ => return false,
        }
    }
    for (o_has, i_has, o, i) in [
        (
            outer.has_src_ports(),
            inner.has_src_ports(),
            &outer.src_ports,
            &inner.src_ports,
        ),
        (
            outer.has_dst_ports(),
            inner.has_dst_ports(),
            &outer.dst_ports,
            &inner.dst_ports,
        ),
    ] {
        if o_has && (!i_has || !ranges_contain(o, i)) {
            return false;
        }
    }
    [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .filter(|f| inner.allows_family(*f))
        .all(|f| {
            outer.allows_family(f)
                && prefixes_contain(&outer.src, &inner.src, f)
                && prefixes_contain(&outer.dst, &inner.dst, f)
        })
}

fn shadowed(rules: &RuleSet) -> Vec<Warning> {
    let mut out = Vec::new();
    for (j, later) in rules.rules.iter().enumerate() {
        if let Some(i) = rules.rules[..j]
            .iter()
            .position(|earlier| match_contains(&earlier.matches, &later.matches))
        {
            out.push(Warning {
                at: Site::Rule { index: j, key: "name" },
                kind: WarningKind::Shadowed { by: i },
                message: format!(
                    "rule `{}` never decides a packet: every packet it matches is matched first by rule `{}`",
                    later.name, rules.rules[i].name
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RuleBuilder, protocol::TCP};

    fn m(b: RuleBuilder) -> RuleMatch {
        RuleSet::builder()
            .rule(b)
            .build()
            .map(|r| r.rules[0].matches.clone())
            .unwrap()
    }

    #[test]
    fn union_of_prefixes_contains() {
        let outer = m(RuleBuilder::new("a").src([
            "10.0.0.0/9".parse().unwrap(),
            "10.128.0.0/9".parse().unwrap(),
        ]));
        let inner = m(RuleBuilder::new("b").src(["10.0.0.0/8".parse().unwrap()]));
        assert!(match_contains(&outer, &inner));
        let inner2 = m(RuleBuilder::new("b").src(["11.0.0.0/8".parse().unwrap()]));
        assert!(!match_contains(&outer, &inner2));
        // An IPv4-only outer never contains a family-free inner.
        assert!(!match_contains(&outer, &RuleMatch::default()));
        assert!(match_contains(&RuleMatch::default(), &outer));
    }

    #[test]
    fn ports_and_fragments() {
        let with_ports = m(RuleBuilder::new("a")
            .protocol(TCP)
            .dst_ports([PortRange::new(0, 1000).unwrap()]));
        let tcp_any = m(RuleBuilder::new("b").protocol(TCP));
        // tcp_any also matches non-first fragments, which carry no ports.
        assert!(!match_contains(&with_ports, &tcp_any));
        assert!(match_contains(&tcp_any, &with_ports));
        let full = m(RuleBuilder::new("c")
            .protocol(TCP)
            .dst_ports([PortRange::ANY]));
        assert!(match_contains(&full, &tcp_any));
        let split = m(RuleBuilder::new("d").protocol(TCP).dst_ports([
            PortRange::new(0, 10).unwrap(),
            PortRange::new(11, 20).unwrap(),
        ]));
        let mid = m(RuleBuilder::new("e")
            .protocol(TCP)
            .dst_ports([PortRange::new(5, 15).unwrap()]));
        assert!(match_contains(&split, &mid));
        assert!(!match_contains(&mid, &split));
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn repeated_problems_are_one_line_and_the_list_is_capped() {
        let p = |index, message: &str| {
            Problem::new(
                Site::Rule {
                    index,
                    key: "src_port",
                },
                ProblemKind::ProtocolRequired,
                message.to_string(),
            )
        };
        let mut problems: Vec<Problem> = (0..200)
            .map(|i| p(i, "a port match needs tcp or udp"))
            .collect();
        problems.push(p(7, "undefined port `x`"));
        let mut names: Vec<String> = (0..200).map(|i| format!("r{i}")).collect();
        let text = ModelError {
            problems,
            rule_names: names.clone(),
        }
        .to_string();
        assert_eq!(
            text,
            "invalid rule set: 201 problems\n  rules 1 `r0`, 2 `r1`, 3 `r2`, 4 `r3`, 5 `r4` and 195 more: a port match needs tcp or udp\n  rule 8 `r7`: undefined port `x`"
        );
        names.clear();
        let many: Vec<Problem> = (0..30).map(|i| p(i, &format!("problem {i}"))).collect();
        let text = ModelError {
            problems: many,
            rule_names: names,
        }
        .to_string();
        assert_eq!(text.lines().count(), 1 + ModelError::SHOWN + 1, "{text}");
        assert!(text.contains("\n  rule 1: problem 0\n"), "{text}");
        assert!(
            text.ends_with("... and 10 more errors of 10 other kinds"),
            "{text}"
        );
    }
}
