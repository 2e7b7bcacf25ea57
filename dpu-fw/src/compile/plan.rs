//! The compiled form of a rule set: plain data that `crate::install` turns into DOCA Flow
//! pipes and entries on either backend.
//!
//! A [`Plan`] holds no live handle. Pipes are listed in creation order: every pipe that a
//! pipe or one of its entries forwards to comes earlier in [`Plan::pipes`], and the root
//! pipe is last, so installing in order never forwards to a pipe that does not exist yet.

use core::fmt;

use doca_flow::{Field, Match, MeterCfg, PortId, PortRange, Prefix};

use crate::model::Family;

/// Which limits a plan was compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// The software backend: one pipe per segment, priorities without a limit.
    Software,
    /// A BlueField DPU: DOCA's ACL limits (1025 priorities per ACL pipe).
    Bluefield,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Software => "software",
            TargetKind::Bluefield => "bluefield",
        })
    }
}

/// A port of the switch, with the DOCA port id the plan uses for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanPort {
    /// The port's name in the rule set.
    pub name: String,
    /// The DOCA port id (given in the rule set, or assigned by the compiler to ports found
    /// by representor name).
    pub id: PortId,
    /// How the rule set names the port; a plan whose ports are all SF netdevs is
    /// installed in DOCA Flow's vnf mode (see [`crate::install`]).
    pub kind: PlanPortKind,
}

/// How a rule set names a port ([`crate::model::PortRef`]), which decides the DOCA Flow
/// mode a hardware install runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanPortKind {
    /// A DOCA port id (`id = N`).
    Id,
    /// A representor of the embedded switch (`representor = "pf0hpf"`): switch mode.
    Representor,
    /// The netdev of a scalable function this service owns (`netdev = "p0_if"`): vnf
    /// mode, each port started on its own.
    Netdev,
}

/// Where a hit (or a miss) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanFwd {
    /// Out of the port with this DOCA port id.
    Port(PortId),
    /// To the pipe at this index of [`Plan::pipes`] (always an earlier index).
    Pipe(usize),
    /// Dropped.
    Drop,
    /// To software (the ingress port's RSS queue 0): an accepted packet whose ingress port
    /// has no peer.
    Software,
}

/// What kind of pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanPipeKind {
    /// The root control pipe: dispatches by ingress port and L3 type.
    Root,
    /// A non-root control pipe: rules that need fields ACL pipes lack (ICMP, TCP flags,
    /// VLAN, port 0 alone).
    Control,
    /// An ACL pipe of one address family.
    Acl(Family),
    /// A rate-limit pipe: one catch-all entry with a meter (red is dropped).
    Meter,
    /// An LPM pipe on one address field.
    Lpm(Field),
    /// A basic pipe matching one address field exactly (host prefixes).
    Exact(Field),
    /// A DOCA Flow CT pipe (hardware target of a stateful policy): it has no entries in the
    /// plan; software adds established connections at run time. A hit goes to `hit` with
    /// the connection's actions applied (the `established` bit in `meta.pkt_meta`); a miss
    /// goes to the pipe's `fwd_miss` (software).
    Ct {
        /// Where hits go.
        hit: PlanFwd,
    },
}

impl PlanPipeKind {
    /// Where a CT pipe's hits go; `None` for other kinds.
    pub fn hit(self) -> Option<PlanFwd> {
        match self {
            PlanPipeKind::Ct { hit } => Some(hit),
            _ => None,
        }
    }

    /// A short name: `root`, `control`, `acl4`, `acl6`, `meter`, `lpm`, `exact`, `ct`.
    pub fn name(self) -> &'static str {
        match self {
            PlanPipeKind::Root => "root",
            PlanPipeKind::Control => "control",
            PlanPipeKind::Acl(Family::Ipv4) => "acl4",
            PlanPipeKind::Acl(Family::Ipv6) => "acl6",
            PlanPipeKind::Meter => "meter",
            PlanPipeKind::Lpm(_) => "lpm",
            PlanPipeKind::Exact(_) => "exact",
            PlanPipeKind::Ct { .. } => "ct",
        }
    }
}

/// An ACL entry's 5-tuple and priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclMatch {
    /// Source prefix.
    pub src: Prefix,
    /// Destination prefix.
    pub dst: Prefix,
    /// Source port range (`PortRange::ANY` = any, also port-less packets).
    pub src_port: PortRange,
    /// Destination port range.
    pub dst_port: PortRange,
    /// Protocol; `None` = any.
    pub proto: Option<u8>,
    /// Priority, lower wins.
    pub priority: u32,
}

/// What an entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanMatch {
    /// An ACL entry.
    Acl(AclMatch),
    /// A control-pipe entry: values, mask (a zero mask field is ignored) and priority.
    Control {
        /// Priority, lower wins.
        priority: u32,
        /// Values.
        matcher: Box<Match>,
        /// Mask.
        mask: Box<Match>,
    },
    /// An LPM or exact entry: one address field and a prefix of it (the full width in
    /// exact pipes).
    Prefix {
        /// The address field.
        field: Field,
        /// The prefix's address bits, right-aligned in the field's width.
        addr: u128,
        /// The prefix length.
        len: u8,
    },
}

impl PlanMatch {
    /// The entry's priority.
    pub fn priority(&self) -> u32 {
        match self {
            PlanMatch::Acl(a) => a.priority,
            PlanMatch::Control { priority, .. } => *priority,
            PlanMatch::Prefix { .. } => 0,
        }
    }
}

/// One entry of a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// The rule (index into `RuleSet::rules`) this entry decides for; `None` for dispatch
    /// and default entries.
    pub rule: Option<u32>,
    /// What it matches.
    pub matcher: PlanMatch,
    /// Where a hit goes.
    pub fwd: PlanFwd,
    /// Whether the entry counts packets and bytes. Every deciding entry does, so that
    /// per-rule counters can always be reported; meter entries do not (their packets were
    /// counted by the entry that sent them).
    pub counter: bool,
    /// The entry's meter (meter pipes only).
    pub meter: Option<MeterCfg>,
    /// Put the packet in this conntrack zone (`meta.u32[0]`) before it goes on: root
    /// entries that send packets to a CT pipe.
    pub zone: Option<u16>,
}

/// One pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPipe {
    /// A unique name that says what the pipe is for.
    pub name: String,
    /// The kind.
    pub kind: PlanPipeKind,
    /// Where misses go; `None` only for the root (a miss there goes to the ingress port's
    /// RSS queues, which never happens: every started port has a catch-all entry).
    pub fwd_miss: Option<PlanFwd>,
    /// The entries, in insertion order.
    pub entries: Vec<PlanEntry>,
}

impl PlanPipe {
    /// Every place a packet can leave this pipe for: its entries' forwards, its miss, and
    /// where its kind sends hits (a meter or CT pipe's hit target).
    pub fn targets(&self) -> impl Iterator<Item = PlanFwd> + '_ {
        self.entries
            .iter()
            .map(|e| e.fwd)
            .chain(self.fwd_miss)
            .chain(self.kind.hit())
    }
}

/// Numbers that describe a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanStats {
    /// All pipes.
    pub pipes: usize,
    /// ACL pipes (both families).
    pub acl_pipes: usize,
    /// Control pipes other than the root.
    pub control_pipes: usize,
    /// Meter pipes.
    pub meter_pipes: usize,
    /// LPM and exact (basic) pipes.
    pub prefix_pipes: usize,
    /// All entries.
    pub entries: usize,
    /// Entries of ACL pipes.
    pub acl_entries: usize,
    /// The most pipe lookups any packet can take, root included.
    pub worst_path_lookups: usize,
    /// The highest priority used in any ACL or control pipe (0 when there is none).
    pub max_priority: u32,
    /// Connection-tracking pipes (hardware target of a stateful policy).
    pub ct_pipes: usize,
}

impl fmt::Display for PlanStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pipes ({} ACL, {} control, {} LPM/exact, {} meter, {}1 root), {} entries ({} ACL), \
             {} lookups on the worst path, highest priority {}",
            self.pipes,
            self.acl_pipes,
            self.control_pipes,
            self.prefix_pipes,
            self.meter_pipes,
            if self.ct_pipes > 0 {
                format!("{} CT, ", self.ct_pipes)
            } else {
                String::new()
            },
            self.entries,
            self.acl_entries,
            self.worst_path_lookups,
            self.max_priority
        )
    }
}

/// A compiled rule set: ports, pipes in creation order, the root last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The target it was compiled for.
    pub target: TargetKind,
    /// The ports; the first is the switch port (pipes live on it), the others are its
    /// representors.
    pub ports: Vec<PlanPort>,
    /// The pipes, in creation order (targets first); the root is the last.
    pub pipes: Vec<PlanPipe>,
    /// The rule names, by rule index.
    pub rules: Vec<String>,
    /// Connections a CT pipe is sized for (the policy's `max_connections`; 0 when the plan
    /// has no CT pipe).
    pub ct_connections: u32,
}

impl Plan {
    /// The index of the root pipe (the last one).
    pub fn root(&self) -> usize {
        self.pipes.len().saturating_sub(1)
    }

    /// The DOCA port id of the port named `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports.iter().find(|p| p.name == name).map(|p| p.id)
    }

    /// The name of the port with DOCA port id `id`.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.ports
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.as_str())
    }

    /// The plan's statistics.
    pub fn stats(&self) -> PlanStats {
        let mut s = PlanStats {
            pipes: self.pipes.len(),
            ..PlanStats::default()
        };
        for p in &self.pipes {
            match p.kind {
                PlanPipeKind::Acl(_) => {
                    s.acl_pipes += 1;
                    s.acl_entries += p.entries.len();
                }
                PlanPipeKind::Control => s.control_pipes += 1,
                PlanPipeKind::Meter => s.meter_pipes += 1,
                PlanPipeKind::Lpm(_) | PlanPipeKind::Exact(_) => s.prefix_pipes += 1,
                PlanPipeKind::Ct { .. } => s.ct_pipes += 1,
                PlanPipeKind::Root => {}
            }
            s.entries += p.entries.len();
            if !matches!(p.kind, PlanPipeKind::Root | PlanPipeKind::Meter) {
                for e in &p.entries {
                    s.max_priority = s.max_priority.max(e.matcher.priority());
                }
            }
        }
        // Longest path in lookups. Targets come earlier, so one pass in order suffices.
        let mut depth = vec![0usize; self.pipes.len()];
        for (i, p) in self.pipes.iter().enumerate() {
            let next = p
                .targets()
                .filter_map(|f| match f {
                    PlanFwd::Pipe(t) if t < i => Some(depth[t]),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            depth[i] = 1 + next;
        }
        s.worst_path_lookups = depth.last().copied().unwrap_or(0);
        s
    }

    /// Checks the plan's own invariants: forwards point to earlier pipes, exactly one root
    /// and it is last, port ids are unique.
    ///
    /// # Errors
    /// A description of the first broken invariant.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut ids: Vec<PortId> = self.ports.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(PlanError::SharedPortId(w[0]));
        }
        if self.ports.is_empty() {
            return Err(PlanError::NoPorts);
        }
        if self
            .pipes
            .last()
            .is_none_or(|p| p.kind != PlanPipeKind::Root)
        {
            return Err(PlanError::RootNotLast);
        }
        for (i, p) in self.pipes.iter().enumerate() {
            let is_root = p.kind == PlanPipeKind::Root;
            if is_root != (i == self.root()) {
                return Err(PlanError::RootNotLast);
            }
            for f in p.targets() {
                match f {
                    PlanFwd::Pipe(t) if t >= i => {
                        return Err(PlanError::ForwardsAhead {
                            pipe: p.name.clone(),
                            target: t,
                        });
                    }
                    PlanFwd::Port(id) if !ids.contains(&id) => {
                        return Err(PlanError::UnknownPort {
                            pipe: p.name.clone(),
                            port: id,
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Why a [`Plan`] is not well formed ([`Plan::validate`]). The compiler never makes such
/// plans; a hand-built or edited one may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Two ports have the same DOCA port id.
    #[error("two ports share DOCA port id {0}")]
    SharedPortId(PortId),
    /// The plan has no ports.
    #[error("the plan has no ports")]
    NoPorts,
    /// The root pipe is missing or not the last pipe.
    #[error("the root pipe must be the last pipe (and the only root)")]
    RootNotLast,
    /// A pipe forwards to itself or a pipe after it (pipes are built in order).
    #[error("pipe `{pipe}` forwards to pipe {target}, which is not built before it")]
    ForwardsAhead {
        /// The pipe.
        pipe: String,
        /// The index of the pipe it forwards to.
        target: usize,
    },
    /// A pipe forwards to a port the plan does not have.
    #[error("pipe `{pipe}` forwards to port {port}, which the plan does not have")]
    UnknownPort {
        /// The pipe.
        pipe: String,
        /// The DOCA port id.
        port: PortId,
    },
}
