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
mod entries;
pub mod levels;
pub mod plan;
mod segment;
mod steer;

use std::collections::HashMap;

use doca_flow::{Field, L3Type, L4Type, Match, MeterCfg, MeterLimit};

pub use plan::{
    AclMatch, Plan, PlanEntry, PlanError, PlanFwd, PlanMatch, PlanPipe, PlanPipeKind, PlanPort,
    PlanPortKind, PlanStats, TargetKind,
};

use crate::conntrack::{CtState, StateSet};
use crate::model::{Action, Family, Hop, PortId, PortRef, PortRole, Rate, RuleSet};

/// The bits of the packet meta word (`meta.pkt_meta`) that carry a packet's
/// connection-tracking state into a stateful plan: [`CtState::bit`] of the state, set by
/// the conntrack stage before the root pipe (see `docs/conntrack.md`).
pub const CT_META_MASK: u32 = 0x0f;
pub use entries::range_to_masks;
use entries::{PrefixSet, acl_entries, address_field, control_entries, prefix_entries};
use levels::Region;
use segment::{Kind, Proj, segments};
use steer::{Steer, chain_steers};

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
        ports: Vec<Member>,
    }
    /// A port in a group, with the state its packets have there.
    struct Member {
        name: String,
        id: PortId,
        /// The port is tracked: its root entries match the state bits.
        tracked: bool,
        /// The state (`None`: untracked packets, meta 0 on a tracked port).
        class: Option<CtState>,
    }
    let steers = chain_steers(rules, &ports);
    let mut groups: Vec<Group> = Vec::new();
    let stateful = rules.is_stateful();
    let ct_hw = stateful && target.kind == TargetKind::Bluefield;
    for port in &rules.ports {
        // A tracked port of a policy that matches on state gets one pipeline per state
        // (equal ones are shared below): the root tells them apart by the state bit the
        // conntrack stage puts in the packet's meta, and a packet without one (meta 0:
        // not tracked) takes the rules without `state`, as everywhere else.
        let tracked = stateful && rules.zone_of(&port.name).is_some();
        let classes: Vec<Option<CtState>> = if tracked && ct_hw {
            // On hardware only offloaded (established) connections hit the pipes; every
            // other packet of a tracked port goes to software.
            vec![Some(CtState::Established)]
        } else if tracked {
            std::iter::once(None)
                .chain(CtState::ALL.into_iter().map(Some))
                .collect()
        } else {
            vec![None]
        };
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
        for class in classes {
            let list: Vec<u32> = rules
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    (r.matches.in_ports.is_empty() || r.matches.in_ports.contains(&port.name))
                        && r.matches
                            .state
                            .is_none_or(|set| class.is_some_and(|st| set.contains(st)))
                })
                .map(|(i, _)| i as u32)
                .collect();
            let member = Member {
                name: port.name.clone(),
                id,
                tracked,
                class,
            };
            match groups.iter_mut().find(|g| {
                g.rules == list && g.default == default && g.accept == accept && g.steers == mine
            }) {
                Some(g) => g.ports.push(member),
                None => groups.push(Group {
                    rules: list,
                    default,
                    accept,
                    steers: mine.clone(),
                    default_action: default_action.clone(),
                    ports: vec![member],
                }),
            }
        }
    }
    let mut root = Vec::new();
    // Hardware target of a stateful policy: per tracked port, its established pipelines.
    let mut established: Vec<(PortId, [PlanFwd; 2])> = Vec::new();
    let mut caught = std::collections::HashSet::new();
    let mut labels = std::collections::HashSet::new();
    for g in &groups {
        let mut names: Vec<&str> = Vec::new();
        for m in &g.ports {
            if !names.contains(&m.name.as_str()) {
                names.push(&m.name);
            }
        }
        let mut label = names.join("+");
        let states: StateSet = g.ports.iter().filter_map(|m| m.class).collect();
        let untracked = g.ports.iter().any(|m| m.tracked && m.class.is_none());
        if g.ports.iter().any(|m| m.tracked) && (states != StateSet::ALL || !untracked) {
            let mut names: Vec<&str> = states.iter().map(CtState::name).collect();
            if untracked {
                names.push("untracked");
            }
            label = format!("{label}/{}", names.join("+"));
        }
        // Groups are told apart by their ports and states; should two ever print alike,
        // number the later one.
        let mut n = 1;
        let base = label.clone();
        while !labels.insert(label.clone()) {
            n += 1;
            label = format!("{base}#{n}");
        }
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
        let state_mask = l3_mask
            .clone()
            .with(Field::PktMeta, u128::from(CT_META_MASK));
        for m in &g.ports {
            let id = &m.id;
            if ct_hw && m.tracked {
                // Reached from the CT pipe, not from the root (see `ct_pipeline`).
                established.push((*id, heads));
                continue;
            }
            // A tracked port's IP packets are told apart by their state bits: each class
            // needs its entries even when its pipeline is only the default (another
            // class's may not be).
            if heads != [g.default; 2] || m.tracked {
                for (fwd, l3) in heads.iter().zip([L3Type::Ipv4, L3Type::Ipv6]) {
                    let (matcher, mask) = if m.tracked {
                        let bits = m.class.map_or(0, |st| u32::from(st.bit()));
                        (
                            Match::new().port_id(*id).l3_type(l3).pkt_meta(bits),
                            state_mask.clone(),
                        )
                    } else {
                        (Match::new().port_id(*id).l3_type(l3), l3_mask.clone())
                    };
                    root.push(PlanEntry {
                        rule: None,
                        matcher: PlanMatch::Control {
                            priority: 0,
                            matcher: Box::new(matcher),
                            mask: Box::new(mask),
                        },
                        fwd: *fwd,
                        counter: false,
                        meter: None,
                        zone: None,
                    });
                }
            }
            // One catch-all per port (non-IP frames take the default), even when the
            // port's states are spread over several groups.
            if caught.insert(*id) {
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
                    zone: None,
                });
            }
        }
    }
    if ct_hw {
        let mut tracked: Vec<(PortId, u16, PlanFwd)> = Vec::new();
        for g in &groups {
            for m in g.ports.iter().filter(|m| m.tracked) {
                if !tracked.iter().any(|t| t.0 == m.id) {
                    tracked.push((m.id, rules.zone_of(&m.name).unwrap_or(0), g.default));
                }
            }
        }
        c.ct_pipeline(&established, &tracked, &mut root);
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
        ct_connections: if ct_hw {
            rules
                .conntrack
                .as_ref()
                .map_or(0, |ct| ct.config.max_connections)
        } else {
            0
        },
    };
    debug_assert_eq!(plan.validate(), Ok(()));
    Ok(plan)
}

/// DOCA port ids: given ids are kept; ports found by representor or netdev name get the
/// smallest unused ids, in port order. The switch port (first uplink, else first port) comes first.
fn assign_ports(rules: &RuleSet) -> Result<Vec<PlanPort>, CompileError> {
    if rules.ports.is_empty() {
        return Err(CompileError::NoPorts);
    }
    let mut used: Vec<PortId> = Vec::new();
    for p in &rules.ports {
        if let PortRef::Doca(id) = p.id {
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
            PortRef::Doca(id) => id,
            PortRef::Representor(_) | PortRef::Netdev(_) => {
                while used.contains(&PortId(next)) {
                    next = next.checked_add(1).ok_or_else(|| CompileError::PortId {
                        port: p.name.clone(),
                        reason: "no free DOCA port id".into(),
                    })?;
                }
                used.push(PortId(next));
                PortId(next)
            }
        };
        out.push(PlanPort {
            name: p.name.clone(),
            id,
            kind: match p.id {
                PortRef::Doca(_) => PlanPortKind::Id,
                PortRef::Representor(_) => PlanPortKind::Representor,
                PortRef::Netdev(_) => PlanPortKind::Netdev,
            },
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

pub(crate) fn port_id_of(ports: &[PlanPort], name: &str) -> PortId {
    ports
        .iter()
        .find(|p| p.name == name)
        .map_or(PortId(0), |p| p.id)
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
    /// The hardware pipeline of a stateful policy's tracked ports (see `docs/compiler.md`):
    ///
    /// * root: a tracked port's TCP and UDP go to the CT pipe, in the port's zone; its other
    ///   IP packets go to software; non-IP frames to the port's default;
    /// * the CT pipe: connections software offloaded once established; a miss goes to
    ///   software;
    /// * a hit with SYN, FIN or RST goes to software (the state machine runs there); the
    ///   rest is dispatched by port and family to the port's `established` pipelines,
    ///   checking the `established` bit the CT entry's actions wrote.
    fn ct_pipeline(
        &mut self,
        established: &[(PortId, [PlanFwd; 2])],
        tracked: &[(PortId, u16, PlanFwd)],
        root: &mut Vec<PlanEntry>,
    ) {
        let control = |priority, matcher: Match, mask: Match, fwd| PlanEntry {
            rule: None,
            matcher: PlanMatch::Control {
                priority,
                matcher: Box::new(matcher),
                mask: Box::new(mask),
            },
            fwd,
            counter: false,
            meter: None,
            zone: None,
        };
        let port_mask = Match::new().with(Field::PortId, Field::PortId.full());
        let l3_mask = port_mask.clone().with(Field::L3Type, Field::L3Type.full());
        let est = u32::from(CtState::Established.bit());
        let mut dispatch = Vec::new();
        for (id, heads) in established {
            for (fwd, l3) in heads.iter().zip([L3Type::Ipv4, L3Type::Ipv6]) {
                dispatch.push(control(
                    0,
                    Match::new().port_id(*id).l3_type(l3).pkt_meta(est),
                    l3_mask
                        .clone()
                        .with(Field::PktMeta, u128::from(CT_META_MASK)),
                    *fwd,
                ));
            }
        }
        let dispatch_at = self.pipes.len();
        self.pipes.push(PlanPipe {
            name: "ct/established".into(),
            kind: PlanPipeKind::Control,
            fwd_miss: Some(PlanFwd::Software),
            entries: dispatch,
        });
        let mut flags: Vec<PlanEntry> = [
            crate::model::tcp_flag::SYN,
            crate::model::tcp_flag::FIN,
            crate::model::tcp_flag::RST,
        ]
        .into_iter()
        .map(|bit| {
            control(
                0,
                Match::new().tcp_flags(bit),
                Match::new().with(Field::TcpFlags, u128::from(bit)),
                PlanFwd::Software,
            )
        })
        .collect();
        flags.push(control(
            1,
            Match::new(),
            Match::new(),
            PlanFwd::Pipe(dispatch_at),
        ));
        let flags_at = self.pipes.len();
        self.pipes.push(PlanPipe {
            name: "ct/tcp-control".into(),
            kind: PlanPipeKind::Control,
            fwd_miss: Some(PlanFwd::Pipe(dispatch_at)),
            entries: flags,
        });
        let ct_at = self.pipes.len();
        self.pipes.push(PlanPipe {
            name: "ct".into(),
            kind: PlanPipeKind::Ct {
                hit: PlanFwd::Pipe(flags_at),
            },
            fwd_miss: Some(PlanFwd::Software),
            entries: Vec::new(),
        });
        let l4_mask = l3_mask.clone().with(Field::L4Type, Field::L4Type.full());
        for &(id, zone, default) in tracked {
            for l3 in [L3Type::Ipv4, L3Type::Ipv6] {
                for l4 in [L4Type::Tcp, L4Type::Udp] {
                    let mut e = control(
                        0,
                        Match::new().port_id(id).l3_type(l3).l4_type(l4),
                        l4_mask.clone(),
                        PlanFwd::Pipe(ct_at),
                    );
                    e.zone = Some(zone);
                    root.push(e);
                }
                root.push(control(
                    1,
                    Match::new().port_id(id).l3_type(l3),
                    l3_mask.clone(),
                    PlanFwd::Software,
                ));
            }
            root.push(control(
                2,
                Match::new().port_id(id),
                port_mask.clone(),
                default,
            ));
        }
    }

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
                zone: None,
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
        let projs: Vec<(Proj, PortId)> = mine
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
