//! The compiler: a pure, deterministic `(RuleSet, Target) -> Plan`.
//!
//! The plan targets DOCA Flow's real shape (see `docs/compiler.md` for the why):
//!
//! * a **root control pipe** on the switch port dispatches by ingress port and L3 type to
//!   the firewall pipeline of the port's group (ports whose rule lists, direction and
//!   accept destination are equal share one pipeline); a lower-priority catch-all entry
//!   per port sends non-IP frames to the port's direction default;
//! * per group and address family, the rules that can apply are cut into **segments**:
//!   maximal runs of ACL-expressible rules (prefixes, protocol, L4 port ranges) become ACL
//!   pipes, runs that need other fields (ICMP, TCP flags, VLAN, port 0 alone) become
//!   control pipes; segments chain through `fwd_miss` in rule order and the last one misses
//!   to the direction default;
//! * within a segment, a rule's priority is its **overlap level**
//!   ([`levels::assign_levels`]): a new level is spent only where rules overlap. On the
//!   hardware target a segment whose levels exceed the target's limit (DOCA: 1025) is cut
//!   into bands of levels, one pipe per band, chained through `fwd_miss`;
//! * every deciding entry has a counter; a rate-limited rule forwards into a small meter
//!   pipe that drops red packets and forwards green ones to the rule's destination.
//!
//! # Examples
//!
//! ```
//! use dpu_fw::compile::{Target, compile};
//! use dpu_fw::demo;
//!
//! let plan = compile(&demo::policy(), &Target::bluefield()).unwrap();
//! let stats = plan.stats();
//! assert!(stats.acl_pipes >= 2);
//! println!("{stats}");
//! ```

pub mod diff;
pub mod dot;
pub mod levels;
pub mod plan;

use std::collections::HashMap;

use doca_flow::{Field, IpPrefix, L3Type, L4Type, Match, MeterCfg, MeterLimit};

pub use plan::{
    AclMatch, Plan, PlanEntry, PlanFwd, PlanMatch, PlanPipe, PlanPipeKind, PlanPort, PlanStats,
    TargetKind,
};

use crate::model::{
    Action, Family, Hop, IcmpMatch, Match as RuleMatch, PortId as ModelPortId, PortRange, PortRole,
    Prefix, Rate, RuleSet, TcpFlags, covers_all_ports,
};
use levels::{Region, dim};

/// DOCA's number of ACL priority levels (`0..=1024`).
pub const DOCA_ACL_LEVELS: u32 = 1025;

/// Pure-prefix rules (one address field, nothing else) go to LPM pipes (exact-match
/// basic pipes when every prefix is a host address) instead of ACL pipes when there are
/// at least this many of them in a run and they are at least half of a family chain's
/// ACL-expressible rules: fewer ACL entries (the scarce ones on hardware) without cutting
/// ACL pipes apart.
pub const DEFAULT_LPM_MIN: usize = 16;

/// What the compiler compiles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    kind: TargetKind,
    levels: Option<u32>,
    lpm_min: usize,
}

impl Target {
    /// The software backend: one pipe per segment, any number of priority levels.
    pub fn software() -> Self {
        Target {
            kind: TargetKind::Software,
            levels: None,
            lpm_min: DEFAULT_LPM_MIN,
        }
    }

    /// A BlueField DPU: at most [`DOCA_ACL_LEVELS`] priority levels per pipe.
    pub fn bluefield() -> Self {
        Target {
            kind: TargetKind::Bluefield,
            levels: Some(DOCA_ACL_LEVELS),
            lpm_min: DEFAULT_LPM_MIN,
        }
    }

    /// The same target with `levels` priority levels per pipe (tests use tiny limits to
    /// exercise chaining). `0` is refused by [`compile`].
    #[must_use]
    pub fn with_acl_levels(mut self, levels: u32) -> Self {
        self.levels = Some(levels);
        self
    }

    /// The same target, sending runs of at least `rules` pure-prefix rules to LPM or exact
    /// pipes (`usize::MAX`: never).
    #[must_use]
    pub fn with_lpm_min(mut self, rules: usize) -> Self {
        self.lpm_min = rules.max(1);
        self
    }

    /// The fewest pure-prefix rules in a run that go to an LPM or exact pipe.
    pub fn lpm_min(&self) -> usize {
        self.lpm_min
    }

    /// The kind.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// Priority levels per pipe; `None` = no limit.
    pub fn acl_levels(&self) -> Option<u32> {
        self.levels
    }
}

/// Why a rule set could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The rule set names no port, so no pipeline can be reached.
    #[error("the rule set has no ports: nothing to attach the firewall to")]
    NoPorts,
    /// A target with zero priority levels.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// Two ports would get the same DOCA port id, or ids ran out.
    #[error("port `{port}`: {reason}")]
    PortId {
        /// The port.
        port: String,
        /// What went wrong.
        reason: String,
    },
    /// A rule or default sends packets into a chain that is not defined or has no hop
    /// after `firewall`.
    #[error("{site}: chain `{chain}` is undefined or has no port after `firewall`")]
    Chain {
        /// The rule's name, or `default inbound` / `default outbound`.
        site: String,
        /// The chain's name.
        chain: String,
    },
}

/// Compiles a rule set for a target.
///
/// The rule set is expected to be valid (`RuleSet::check` or the builder's checks); the
/// compiler re-checks only what it relies on.
///
/// # Errors
/// [`CompileError`] when the rule set has no ports, a chain has no next hop, port ids
/// collide, or the target is invalid.
pub fn compile(rules: &RuleSet, target: &Target) -> Result<Plan, CompileError> {
    let limit = match target.levels {
        Some(0) => {
            return Err(CompileError::InvalidTarget(
                "a pipe needs at least one priority level".into(),
            ));
        }
        Some(n) => n,
        None => u32::MAX,
    };
    let ports = assign_ports(rules)?;
    let mut c = Compiler {
        rules,
        ports: &ports,
        limit,
        lpm_min: target.lpm_min,
        pipes: Vec::new(),
        meters: HashMap::new(),
        steer_pipes: HashMap::new(),
        chains: HashMap::new(),
    };
    // Group ports by (rule list, direction, accept destination).
    struct Group {
        rules: Vec<u32>,
        default: PlanFwd,
        accept: PlanFwd,
        steers: Vec<usize>,
        default_action: Action,
        ports: Vec<(String, u16)>,
    }
    let steers = chain_steers(rules, &ports);
    let mut groups: Vec<Group> = Vec::new();
    for port in &rules.ports {
        let list: Vec<u32> = rules
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.matches.in_ports.is_empty() || r.matches.in_ports.contains(&port.name)
            })
            .map(|(i, _)| i as u32)
            .collect();
        let dir = rules.direction_of(&port.name);
        let accept = accept_dest(rules, &ports, &port.name);
        let site = match dir {
            crate::model::Direction::Inbound => "default inbound",
            crate::model::Direction::Outbound => "default outbound",
        };
        let default_action = rules.defaults.of(dir).clone();
        let default = c.base_fwd(&default_action, accept, site)?;
        let mine: Vec<usize> = steers
            .iter()
            .enumerate()
            .filter(|(_, st)| st.from == port.name && PlanFwd::Port(st.to) != accept)
            .map(|(i, _)| i)
            .collect();
        let id = port_id_of(&ports, &port.name);
        match groups.iter_mut().find(|g| {
            g.rules == list && g.default == default && g.accept == accept && g.steers == mine
        }) {
            Some(g) => g.ports.push((port.name.clone(), id)),
            None => groups.push(Group {
                rules: list,
                default,
                accept,
                steers: mine,
                default_action,
                ports: vec![(port.name.clone(), id)],
            }),
        }
    }
    let mut root = Vec::new();
    for g in &groups {
        let label = g
            .ports
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join("+");
        let mut heads = [g.default; 2];
        for (slot, fam) in [Family::Ipv4, Family::Ipv6].into_iter().enumerate() {
            // Accepted packets (by a rule or the default) go through the chains' steering
            // first, when the port has any.
            let accept = c.steer_pipe(&steers, &g.steers, fam, g.accept, &label)?;
            let default = c.base_fwd(&g.default_action, accept, &label)?;
            heads[slot] = c.family_chain(&g.rules, fam, accept, default, &label)?;
        }
        let port_mask = Match::new().with(Field::PortId, Field::PortId.full());
        let l3_mask = port_mask.clone().with(Field::L3Type, Field::L3Type.full());
        for (_, id) in &g.ports {
            if heads != [g.default; 2] {
                for (fwd, l3) in heads.iter().zip([L3Type::Ipv4, L3Type::Ipv6]) {
                    root.push(PlanEntry {
                        rule: None,
                        matcher: PlanMatch::Control {
                            priority: 0,
                            matcher: Box::new(Match::new().port_id(*id).l3_type(l3)),
                            mask: Box::new(l3_mask.clone()),
                        },
                        fwd: *fwd,
                        counter: false,
                        meter: None,
                    });
                }
            }
            root.push(PlanEntry {
                rule: None,
                matcher: PlanMatch::Control {
                    priority: 1,
                    matcher: Box::new(Match::new().port_id(*id)),
                    mask: Box::new(port_mask.clone()),
                },
                fwd: g.default,
                counter: false,
                meter: None,
            });
        }
    }
    c.pipes.push(PlanPipe {
        name: "root".into(),
        kind: PlanPipeKind::Root,
        fwd_miss: None,
        entries: root,
    });
    let pipes = c.pipes;
    let plan = Plan {
        target: target.kind,
        ports,
        pipes,
        rules: rules.rules.iter().map(|r| r.name.clone()).collect(),
    };
    debug_assert_eq!(plan.validate(), Ok(()));
    Ok(plan)
}

/// DOCA port ids: given ids are kept; ports found by representor name get the smallest
/// unused ids, in port order. The switch port (first uplink, else first port) comes first.
fn assign_ports(rules: &RuleSet) -> Result<Vec<PlanPort>, CompileError> {
    if rules.ports.is_empty() {
        return Err(CompileError::NoPorts);
    }
    let mut used: Vec<u16> = Vec::new();
    for p in &rules.ports {
        if let ModelPortId::Doca(id) = p.id {
            if used.contains(&id) {
                return Err(CompileError::PortId {
                    port: p.name.clone(),
                    reason: format!("DOCA port id {id} is used twice"),
                });
            }
            used.push(id);
        }
    }
    let mut out = Vec::with_capacity(rules.ports.len());
    let mut next: u16 = 0;
    for p in &rules.ports {
        let id = match p.id {
            ModelPortId::Doca(id) => id,
            ModelPortId::Representor(_) => {
                while used.contains(&next) {
                    next = next.checked_add(1).ok_or_else(|| CompileError::PortId {
                        port: p.name.clone(),
                        reason: "no free DOCA port id".into(),
                    })?;
                }
                used.push(next);
                next
            }
        };
        out.push(PlanPort {
            name: p.name.clone(),
            id,
        });
    }
    let switch = rules
        .ports
        .iter()
        .position(|p| p.role == PortRole::Uplink)
        .unwrap_or(0);
    let sw = out.remove(switch);
    out.insert(0, sw);
    Ok(out)
}

fn port_id_of(ports: &[PlanPort], name: &str) -> u16 {
    ports.iter().find(|p| p.name == name).map_or(0, |p| p.id)
}

/// Where `accept` sends packets that entered `port`: its peer; else the next port on the
/// first chain path (forward paths, then reverse paths) that passes through it; else
/// software.
fn accept_dest(rules: &RuleSet, ports: &[PlanPort], port: &str) -> PlanFwd {
    if let Some(peer) = rules.peer_of(port) {
        return PlanFwd::Port(port_id_of(ports, &peer.name));
    }
    let paths = rules
        .chains
        .iter()
        .map(|c| &c.path)
        .chain(rules.chains.iter().filter_map(|c| c.reverse.as_ref()));
    for path in paths {
        let Some(at) = path.iter().position(|h| *h == Hop::Port(port.to_string())) else {
            continue;
        };
        let mut rest = path[at + 1..].iter();
        let next = match rest.next() {
            Some(Hop::Firewall) => rest.next(),
            other => other,
        };
        if let Some(Hop::Port(n)) = next {
            return PlanFwd::Port(port_id_of(ports, n));
        }
    }
    PlanFwd::Software
}

/// A steering rule derived from a service chain: accepted packets that entered `from`
/// and match `matches` go to port `to`.
#[derive(Debug, Clone)]
struct Steer {
    from: String,
    matches: RuleMatch,
    to: u16,
}

/// The steering of every chain that a rule sends packets into: on the forward path, an
/// accepted packet entering a port hop that matches the rule goes to the next port hop
/// (the hop after `firewall` is the rule's own chain action); on the reverse path (when
/// configured), an accepted packet matching the rule with source and destination swapped
/// goes to the next port hop, past `firewall` too. In rule order.
fn chain_steers(rules: &RuleSet, ports: &[PlanPort]) -> Vec<Steer> {
    let mut out = Vec::new();
    // `across`: whether a pair of ports with `firewall` between them steers too. On the
    // forward path the rule's own chain action does that; the reverse path has no rule.
    let mut add = |path: &[Hop], m: &RuleMatch, across: bool| {
        for (i, h) in path.iter().enumerate() {
            let Hop::Port(from) = h else { continue };
            let next = match path.get(i + 1) {
                Some(Hop::Firewall) if across => path.get(i + 2),
                Some(Hop::Firewall) | None => None,
                other => other,
            };
            if let Some(Hop::Port(to)) = next {
                if ports.iter().any(|p| p.name == *to) {
                    out.push(Steer {
                        from: from.clone(),
                        matches: m.clone(),
                        to: port_id_of(ports, to),
                    });
                }
            }
        }
    };
    for r in &rules.rules {
        let Action::Chain(name) = &r.action else {
            continue;
        };
        let Some(chain) = rules.chain(name) else {
            continue;
        };
        let mut fwd = r.matches.clone();
        fwd.in_ports.clear();
        add(&chain.path, &fwd, false);
        if let Some(rev) = &chain.reverse {
            // Return traffic: addresses and ports swapped; ICMP types and TCP flags describe
            // the forward packets, so they are left out.
            let back = RuleMatch {
                in_ports: Vec::new(),
                family: fwd.family,
                src: fwd.dst.clone(),
                dst: fwd.src.clone(),
                protocol: fwd.protocol,
                src_ports: fwd.dst_ports.clone(),
                dst_ports: fwd.src_ports.clone(),
                icmp: None,
                tcp_flags: None,
                vlan: fwd.vlan,
            };
            add(rev, &back, true);
        }
    }
    out
}

/// A rule's match restricted to one address family, lists normalised.
#[derive(Debug, Clone)]
struct Proj {
    rule: u32,
    src: Vec<Prefix>,
    dst: Vec<Prefix>,
    proto: Option<u8>,
    sports: Vec<PortRange>,
    dports: Vec<PortRange>,
    icmp: Option<IcmpMatch>,
    tcp_flags: Option<TcpFlags>,
    vlan: Option<u16>,
}

impl Proj {
    fn new(rule: u32, m: &RuleMatch, fam: Family) -> Option<Proj> {
        if !m.allows_family(fam) {
            return None;
        }
        let pick = |l: &[Prefix]| -> Vec<Prefix> {
            let v: Vec<Prefix> = l.iter().copied().filter(|p| p.family() == fam).collect();
            if v.iter().any(|p| p.prefix_len() == 0) {
                Vec::new()
            } else {
                v
            }
        };
        let ports = |l: &[PortRange]| -> Vec<PortRange> {
            if covers_all_ports(l) {
                Vec::new()
            } else {
                l.to_vec()
            }
        };
        Some(Proj {
            rule,
            src: pick(&m.src),
            dst: pick(&m.dst),
            proto: m.protocol,
            sports: ports(&m.src_ports),
            dports: ports(&m.dst_ports),
            icmp: m.icmp,
            tcp_flags: m.tcp_flags,
            vlan: m.vlan,
        })
    }

    /// Which kind of pipe can hold it.
    fn kind(&self) -> Kind {
        if !self.acl_ok() {
            Kind::Control
        } else if self.proto.is_none()
            && self.sports.is_empty()
            && self.dports.is_empty()
            && self.src.is_empty() != self.dst.is_empty()
        {
            Kind::Prefix {
                dst: !self.dst.is_empty(),
            }
        } else {
            Kind::Acl
        }
    }

    /// Whether an ACL entry can express it.
    fn acl_ok(&self) -> bool {
        let zero = |l: &[PortRange]| l.iter().any(|r| r.hi() == 0);
        self.icmp.is_none()
            && self.tcp_flags.is_none()
            && self.vlan.is_none()
            && !zero(&self.sports)
            && !zero(&self.dports)
    }

    fn boxes(&self) -> Vec<Region> {
        let full = [(0u128, u128::MAX)];
        let pfx: fn(&Prefix) -> (u128, u128) = prefix_interval;
        let srcs: Vec<(u128, u128)> = if self.src.is_empty() {
            full.to_vec()
        } else {
            self.src.iter().map(pfx).collect()
        };
        let dsts: Vec<(u128, u128)> = if self.dst.is_empty() {
            full.to_vec()
        } else {
            self.dst.iter().map(pfx).collect()
        };
        let rng = |l: &[PortRange]| -> Vec<(u128, u128)> {
            if l.is_empty() {
                full.to_vec()
            } else {
                l.iter()
                    .map(|r| (u128::from(r.lo()), u128::from(r.hi())))
                    .collect()
            }
        };
        let (sps, dps) = (rng(&self.sports), rng(&self.dports));
        let mut base = Region::full();
        if let Some(p) = self.proto {
            base = base.with(dim::PROTO, p.into(), p.into());
        }
        if let Some(i) = self.icmp {
            base = base.with(dim::ICMP_TYPE, i.icmp_type.into(), i.icmp_type.into());
            if let Some(c) = i.code {
                base = base.with(dim::ICMP_CODE, c.into(), c.into());
            }
        }
        if let Some(f) = self.tcp_flags {
            if f.mask() == 0xff {
                base = base.with(dim::TCP_FLAGS, f.value().into(), f.value().into());
            }
        }
        if let Some(v) = self.vlan {
            base = base.with(dim::VLAN, v.into(), v.into());
        }
        let mut out = Vec::with_capacity(srcs.len() * dsts.len() * sps.len() * dps.len());
        for s in &srcs {
            for d in &dsts {
                for sp in &sps {
                    for dp in &dps {
                        out.push(
                            base.with(dim::SRC, s.0, s.1)
                                .with(dim::DST, d.0, d.1)
                                .with(dim::SPORT, sp.0, sp.1)
                                .with(dim::DPORT, dp.0, dp.1),
                        );
                    }
                }
            }
        }
        out
    }
}

fn prefix_interval(p: &Prefix) -> (u128, u128) {
    match (p.v4(), p.v6()) {
        (Some((a, l)), _) => {
            let host = u32::MAX.checked_shr(u32::from(l)).unwrap_or(0);
            (u128::from(a), u128::from(a | host))
        }
        (_, Some((a, l))) => {
            let host = u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
            (a, a | host)
        }
        _ => (0, u128::MAX),
    }
}

fn ip_prefix(p: Option<&Prefix>, fam: Family) -> IpPrefix {
    match (p, fam) {
        (None, Family::Ipv4) => IpPrefix::ANY_V4,
        (None, Family::Ipv6) => IpPrefix::ANY_V6,
        (Some(p), _) => match (p.v4(), p.v6()) {
            (Some((a, l)), _) => IpPrefix::V4(a.into(), l),
            (_, Some((a, l))) => IpPrefix::V6(a.into(), l),
            _ => unreachable!("a prefix is IPv4 or IPv6"),
        },
    }
}

/// Value/mask blocks that together are exactly `lo..=hi`.
pub fn range_to_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut lo, hi) = (u32::from(lo), u32::from(hi));
    while lo <= hi {
        // The largest aligned block starting at lo that fits.
        let mut size = if lo == 0 {
            1 << 16
        } else {
            lo & lo.wrapping_neg()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, (!(size - 1) & 0xffff) as u16));
        lo += size;
    }
    out
}

/// One pipe's worth of a segment: its rules with their priorities.
struct Band {
    kind: Kind,
    name: String,
    members: Vec<(Proj, u32)>,
}

struct Compiler<'a> {
    rules: &'a RuleSet,
    ports: &'a [PlanPort],
    limit: u32,
    lpm_min: usize,
    pipes: Vec<PlanPipe>,
    /// Meter pipes by (rule, destination).
    meters: HashMap<(u32, PlanFwd), usize>,
    /// Steering pipes by (steers, family, base destination).
    steer_pipes: HashMap<String, usize>,
    /// Compiled family chains by (rules, family, accept, default) so groups that differ
    /// only in ports share pipes.
    chains: HashMap<(Vec<u32>, Family, PlanFwd, PlanFwd), PlanFwd>,
}

impl Compiler<'_> {
    fn base_fwd(
        &self,
        action: &Action,
        accept: PlanFwd,
        site: &str,
    ) -> Result<PlanFwd, CompileError> {
        Ok(match action {
            Action::Accept => accept,
            Action::Drop => PlanFwd::Drop,
            Action::Chain(name) => {
                let next = self.rules.chain(name).and_then(|c| c.next_after_firewall());
                match next {
                    Some(Hop::Port(p)) if self.ports.iter().any(|q| q.name == *p) => {
                        PlanFwd::Port(port_id_of(self.ports, p))
                    }
                    _ => {
                        return Err(CompileError::Chain {
                            site: site.to_string(),
                            chain: name.clone(),
                        });
                    }
                }
            }
        })
    }

    fn rule_fwd(&mut self, rule: u32, accept: PlanFwd) -> Result<PlanFwd, CompileError> {
        let r = &self.rules.rules[rule as usize];
        let base = self.base_fwd(&r.action, accept, &format!("rule `{}`", r.name))?;
        let Some(rl) = r.rate_limit else {
            return Ok(base);
        };
        if base == PlanFwd::Drop {
            return Ok(base);
        }
        if let Some(&i) = self.meters.get(&(rule, base)) {
            return Ok(PlanFwd::Pipe(i));
        }
        let meter = match rl.rate {
            Rate::PacketsPerSecond(p) => MeterCfg {
                limit: MeterLimit::Packets,
                cir: p,
                cbs: rl.burst,
            },
            Rate::BitsPerSecond(b) => MeterCfg {
                limit: MeterLimit::Bytes,
                cir: (b / 8).max(1),
                cbs: rl.burst,
            },
        };
        let i = self.pipes.len();
        self.pipes.push(PlanPipe {
            name: format!("meter/{}/{}", r.name, self.meters.len()),
            kind: PlanPipeKind::Meter,
            fwd_miss: Some(PlanFwd::Drop),
            entries: vec![PlanEntry {
                rule: Some(rule),
                matcher: PlanMatch::Control {
                    priority: 0,
                    matcher: Box::new(Match::new()),
                    mask: Box::new(Match::new()),
                },
                fwd: base,
                counter: false,
                meter: Some(meter),
            }],
        });
        self.meters.insert((rule, base), i);
        Ok(PlanFwd::Pipe(i))
    }

    /// The steering pipe of a port group for one family (its entries: the group's chain
    /// steering, in order; its miss: `base`), or `base` when nothing steers.
    fn steer_pipe(
        &mut self,
        all: &[Steer],
        mine: &[usize],
        fam: Family,
        base: PlanFwd,
        label: &str,
    ) -> Result<PlanFwd, CompileError> {
        let mut entries = Vec::new();
        let projs: Vec<(Proj, u16)> = mine
            .iter()
            .filter_map(|&i| Proj::new(0, &all[i].matches, fam).map(|p| (p, all[i].to)))
            .collect();
        // First match among the steering rules: overlap levels as priorities.
        let boxes: Vec<Vec<Region>> = projs.iter().map(|(p, _)| p.boxes()).collect();
        let levels = levels::assign_levels(&boxes);
        for ((p, to), prio) in projs.iter().zip(levels) {
            control_entries(p, prio, fam, PlanFwd::Port(*to), &mut entries);
        }
        // Steering happens after the decision: its entries belong to no rule.
        for e in &mut entries {
            e.rule = None;
            e.counter = false;
        }
        if entries.is_empty() {
            return Ok(base);
        }
        let key = format!("{mine:?}/{fam:?}/{base:?}");
        if let Some(&i) = self.steer_pipes.get(&key) {
            return Ok(PlanFwd::Pipe(i));
        }
        let fam_name = match fam {
            Family::Ipv4 => "v4",
            Family::Ipv6 => "v6",
        };
        let i = self.pipes.len();
        self.pipes.push(PlanPipe {
            name: format!("{label}/{fam_name}/steer"),
            kind: PlanPipeKind::Control,
            fwd_miss: Some(base),
            entries,
        });
        self.steer_pipes.insert(key, i);
        Ok(PlanFwd::Pipe(i))
    }

    /// Compiles the rules `list` for one family; returns where the root sends that
    /// family's packets (the first pipe, or `default` when no rule applies).
    fn family_chain(
        &mut self,
        list: &[u32],
        fam: Family,
        accept: PlanFwd,
        default: PlanFwd,
        label: &str,
    ) -> Result<PlanFwd, CompileError> {
        let key = (list.to_vec(), fam, accept, default);
        if let Some(f) = self.chains.get(&key) {
            return Ok(*f);
        }
        let projs: Vec<Proj> = list
            .iter()
            .filter_map(|&i| Proj::new(i, &self.rules.rules[i as usize].matches, fam))
            .collect();
        let segments = segments(projs, self.lpm_min);
        // Bands per segment, then build from the last so that miss targets exist first.
        let fam_name = match fam {
            Family::Ipv4 => "v4",
            Family::Ipv6 => "v6",
        };
        let mut bands: Vec<Band> = Vec::new();
        for (s, (kind, projs, boxes)) in segments.into_iter().enumerate() {
            if let Kind::Prefix { .. } = kind {
                let exact = projs.iter().all(|p| {
                    p.src
                        .iter()
                        .chain(&p.dst)
                        .all(|x| x.prefix_len() == fam.bits())
                });
                let word = if exact { "exact" } else { "lpm" };
                bands.push(Band {
                    kind,
                    name: format!("{label}/{fam_name}/seg{s}/{word}0"),
                    members: projs.into_iter().map(|p| (p, 0)).collect(),
                });
                continue;
            }
            let levels = levels::assign_levels(&boxes);
            let max = levels.iter().copied().max().unwrap_or(0);
            let n_bands = max / self.limit + 1;
            let mut per: Vec<Vec<(Proj, u32)>> = vec![Vec::new(); n_bands as usize];
            for (p, l) in projs.into_iter().zip(levels) {
                per[(l / self.limit) as usize].push((p, l % self.limit));
            }
            let word = if kind == Kind::Acl { "acl" } else { "control" };
            for (b, v) in per.into_iter().enumerate() {
                if !v.is_empty() {
                    bands.push(Band {
                        kind,
                        name: format!("{label}/{fam_name}/seg{s}/{word}{b}"),
                        members: v,
                    });
                }
            }
        }
        let mut next = default;
        for Band {
            kind,
            name,
            members,
        } in bands.into_iter().rev()
        {
            let mut entries = Vec::new();
            let mut prefixes = PrefixSet::default();
            for (p, prio) in &members {
                let fwd = self.rule_fwd(p.rule, accept)?;
                match kind {
                    Kind::Acl => acl_entries(p, *prio, fam, fwd, &mut entries),
                    Kind::Control => control_entries(p, *prio, fam, fwd, &mut entries),
                    Kind::Prefix { dst } => {
                        prefix_entries(p, dst, fam, fwd, &mut prefixes, &mut entries);
                    }
                }
            }
            let pipe_kind = match kind {
                Kind::Acl => PlanPipeKind::Acl(fam),
                Kind::Control => PlanPipeKind::Control,
                Kind::Prefix { dst } => {
                    let field = address_field(fam, dst);
                    if name.ends_with("/exact0") {
                        PlanPipeKind::Exact(field)
                    } else {
                        PlanPipeKind::Lpm(field)
                    }
                }
            };
            let i = self.pipes.len();
            self.pipes.push(PlanPipe {
                name,
                kind: pipe_kind,
                fwd_miss: Some(next),
                entries,
            });
            next = PlanFwd::Pipe(i);
        }
        self.chains.insert(key, next);
        Ok(next)
    }
}

/// The most rules a hoisted rule is compared with (beyond that, a new segment is
/// cheaper than the comparisons).
const HOIST_WINDOW: usize = 4096;

/// Cuts rules (in order) into segments of one kind (ACL-expressible or not). A rule
/// whose kind differs from the last segment's joins the latest earlier segment of its
/// kind when it overlaps no rule after that segment: moving a rule before rules it shares
/// no packet with changes no verdict, and it saves a segment (pipes and lookups).
fn segments(projs: Vec<Proj>, lpm_min: usize) -> Vec<Segment> {
    // Prefix pipes pay only where pure-prefix rules of one address field are many and
    // most of the ACL-expressible rules: otherwise they cut ACL segments apart and add
    // lookups (on ClassBench they took the worst path from 2 to up to 21 lookups).
    let count = |dst: bool| {
        projs
            .iter()
            .filter(|p| p.kind() == Kind::Prefix { dst })
            .count()
    };
    let acl_able = projs.iter().filter(|p| p.kind() != Kind::Control).count();
    let worth = |n: usize| n >= lpm_min && 2 * n >= acl_able;
    let (use_dst, use_src) = (worth(count(true)), worth(count(false)));
    let mut segs: Vec<Segment> = Vec::new();
    for p in projs {
        let kind = match p.kind() {
            Kind::Prefix { dst } if (dst && use_dst) || (!dst && use_src) => Kind::Prefix { dst },
            Kind::Prefix { .. } => Kind::Acl,
            k => k,
        };
        let boxes = p.boxes();
        if let Some((k, v, b)) = segs.last_mut() {
            if *k == kind {
                v.push(p);
                b.push(boxes);
                continue;
            }
        }
        let target = segs.iter().rposition(|(k, _, _)| *k == kind);
        let hoist = target.filter(|&t| {
            let between = &segs[t + 1..];
            between.iter().map(|(_, v, _)| v.len()).sum::<usize>() <= HOIST_WINDOW
                && between.iter().all(|(_, _, bs)| {
                    bs.iter()
                        .all(|q| !q.iter().any(|a| boxes.iter().any(|c| a.intersects(c))))
                })
        });
        match hoist {
            Some(t) => {
                segs[t].1.push(p);
                segs[t].2.push(boxes);
            }
            None => segs.push((kind, vec![p], vec![boxes])),
        }
    }
    // Short prefix runs are not worth a pipe of their own: they are ACL rules, and
    // neighbouring ACL segments (adjacent in the miss chain) merge.
    let mut out: Vec<Segment> = Vec::with_capacity(segs.len());
    for (mut k, v, b) in segs {
        if matches!(k, Kind::Prefix { .. }) && v.len() < lpm_min {
            k = Kind::Acl;
        }
        match out.last_mut() {
            Some((lk, lv, lb)) if *lk == k && k == Kind::Acl => {
                lv.extend(v);
                lb.extend(b);
            }
            _ => out.push((k, v, b)),
        }
    }
    out
}

/// What kind of pipe a rule can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An ACL pipe: prefixes, protocol, L4 port ranges.
    Acl,
    /// A control pipe: anything else.
    Control,
    /// Only prefixes of one address field: an LPM or exact pipe.
    Prefix {
        /// The destination (else the source) address.
        dst: bool,
    },
}

/// A segment: its kind, its rules in order, and each rule's boxes.
type Segment = (Kind, Vec<Proj>, Vec<Vec<Region>>);

fn address_field(fam: Family, dst: bool) -> Field {
    match (fam, dst) {
        (Family::Ipv4, true) => Field::Ipv4Dst,
        (Family::Ipv4, false) => Field::Ipv4Src,
        (Family::Ipv6, true) => Field::Ipv6Dst,
        (Family::Ipv6, false) => Field::Ipv6Src,
    }
}

/// The prefixes already placed in a prefix pipe, by length.
#[derive(Default)]
struct PrefixSet {
    by_len: HashMap<u8, std::collections::HashSet<u128>>,
}

impl PrefixSet {
    /// Whether a placed prefix contains `(addr, len)`.
    fn covers(&self, addr: u128, len: u8, bits: u8) -> bool {
        self.by_len
            .iter()
            .any(|(&l, set)| l <= len && set.contains(&(addr & mask_bits(l, bits))))
    }

    fn insert(&mut self, addr: u128, len: u8) {
        self.by_len.entry(len).or_default().insert(addr);
    }
}

/// `len` leading ones of a `bits`-wide address, as a `u128` right-aligned.
fn mask_bits(len: u8, bits: u8) -> u128 {
    let full = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    full & !(full.checked_shr(u32::from(len)).unwrap_or(0))
}

/// LPM entries for a pure-prefix rule. Longest-prefix match equals first match once every
/// prefix that an earlier prefix of the pipe contains is left out: such a prefix could
/// never decide a packet (the earlier, shorter one matches first), and among the prefixes
/// kept, a nested pair always has the longer one first.
fn prefix_entries(
    p: &Proj,
    dst: bool,
    fam: Family,
    fwd: PlanFwd,
    placed: &mut PrefixSet,
    out: &mut Vec<PlanEntry>,
) {
    let field = address_field(fam, dst);
    let list = if dst { &p.dst } else { &p.src };
    for pfx in list {
        let (addr, _) = prefix_interval(pfx);
        let len = pfx.prefix_len();
        if placed.covers(addr, len, fam.bits()) {
            continue;
        }
        placed.insert(addr, len);
        out.push(PlanEntry {
            rule: Some(p.rule),
            matcher: PlanMatch::Prefix { field, addr, len },
            fwd,
            counter: true,
            meter: None,
        });
    }
}

fn opt_list<T>(l: &[T]) -> Vec<Option<&T>> {
    if l.is_empty() {
        vec![None]
    } else {
        l.iter().map(Some).collect()
    }
}

fn acl_entries(p: &Proj, prio: u32, fam: Family, fwd: PlanFwd, out: &mut Vec<PlanEntry>) {
    let port = |r: Option<&PortRange>| {
        r.map_or(doca_flow::PortRange::ANY, |r| doca_flow::PortRange {
            lo: r.lo(),
            hi: r.hi(),
        })
    };
    for s in opt_list(&p.src) {
        for d in opt_list(&p.dst) {
            for sp in opt_list(&p.sports) {
                for dp in opt_list(&p.dports) {
                    out.push(PlanEntry {
                        rule: Some(p.rule),
                        matcher: PlanMatch::Acl(AclMatch {
                            src: ip_prefix(s, fam),
                            dst: ip_prefix(d, fam),
                            src_port: port(sp),
                            dst_port: port(dp),
                            proto: p.proto,
                            priority: prio,
                        }),
                        fwd,
                        counter: true,
                        meter: None,
                    });
                }
            }
        }
    }
}

fn control_entries(p: &Proj, prio: u32, fam: Family, fwd: PlanFwd, out: &mut Vec<PlanEntry>) {
    let (sf, df, pf) = match fam {
        Family::Ipv4 => (Field::Ipv4Src, Field::Ipv4Dst, Field::Ipv4Proto),
        Family::Ipv6 => (Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6NextHeader),
    };
    let mut base_v = Match::new();
    let mut base_m = Match::new();
    if let Some(proto) = p.proto {
        base_v.set(pf, proto.into());
        base_m.set(pf, pf.full());
    }
    if let Some(f) = p.tcp_flags {
        base_v.set(Field::TcpFlags, f.value().into());
        base_m.set(Field::TcpFlags, f.mask().into());
        base_v.set(Field::L4Type, L4Type::Tcp as u128);
        base_m.set(Field::L4Type, Field::L4Type.full());
    }
    if let Some(v) = p.vlan {
        base_v.set(Field::Vlan0Tci, v.into());
        base_m.set(Field::Vlan0Tci, 0x0fff);
    }
    // ICMP: the oracle accepts an ICMP or ICMPv6 header, whichever the packet has.
    let icmp: Vec<Option<(Field, Field, IcmpMatch)>> = match p.icmp {
        None => vec![None],
        Some(i) => vec![
            Some((Field::IcmpType, Field::IcmpCode, i)),
            Some((Field::Icmp6Type, Field::Icmp6Code, i)),
        ],
    };
    let blocks = |l: &[PortRange]| -> Vec<Option<(u16, u16)>> {
        if l.is_empty() {
            vec![None]
        } else {
            l.iter()
                .flat_map(|r| range_to_masks(r.lo(), r.hi()))
                .map(Some)
                .collect()
        }
    };
    let (sps, dps) = (blocks(&p.sports), blocks(&p.dports));
    for s in opt_list(&p.src) {
        for d in opt_list(&p.dst) {
            for sp in &sps {
                for dp in &dps {
                    for ic in &icmp {
                        let (mut v, mut m) = (base_v.clone(), base_m.clone());
                        for (f, pfx) in [(sf, s), (df, d)] {
                            if let Some(pfx) = pfx {
                                let (a, _) = prefix_interval(pfx);
                                v.set(f, a);
                                m.set(f, doca_flow::matching::prefix_mask(f, pfx.prefix_len()));
                            }
                        }
                        for (f, b) in [(Field::TransportSrcPort, sp), (Field::TransportDstPort, dp)]
                        {
                            if let Some((val, mask)) = b {
                                v.set(f, (*val).into());
                                m.set(f, (*mask).into());
                            }
                        }
                        if let Some((tf, cf, i)) = ic {
                            v.set(*tf, i.icmp_type.into());
                            m.set(*tf, 0xff);
                            if let Some(code) = i.code {
                                v.set(*cf, code.into());
                                m.set(*cf, 0xff);
                            }
                        }
                        out.push(PlanEntry {
                            rule: Some(p.rule),
                            matcher: PlanMatch::Control {
                                priority: prio,
                                matcher: Box::new(v),
                                mask: Box::new(m),
                            },
                            fwd,
                            counter: true,
                            meter: None,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_exact_mask_blocks() {
        for (lo, hi) in [
            (0u16, 65535u16),
            (0, 0),
            (1, 1),
            (1024, 65535),
            (5, 1000),
            (80, 80),
        ] {
            let blocks = range_to_masks(lo, hi);
            for p in [0u16, 1, 4, 5, 79, 80, 81, 1000, 1001, 1023, 1024, 65535] {
                let inside = blocks.iter().any(|(v, m)| p & m == *v);
                assert_eq!(inside, lo <= p && p <= hi, "{lo}-{hi} port {p}");
            }
        }
        assert_eq!(range_to_masks(0, 65535), vec![(0, 0)]);
        assert_eq!(range_to_masks(80, 80), vec![(80, 0xffff)]);
    }
}
