//! Install a [`Plan`] on DOCA Flow (either backend) and keep it up to date.
//!
//! # Modes and lanes
//!
//! DOCA Flow runs in one of two modes, chosen once per flow ([`mode_for`]):
//!
//! * **switch mode** (ports given by DOCA id or representor name): the plan's first port
//!   is the switch port, the others its representors; every pipe lives on the switch
//!   port, and the root pipe dispatches on the ingress port. One *lane* holds the whole
//!   plan.
//! * **vnf mode** (every port is the netdev of a scalable function, `netdev = "p0_if"`,
//!   as DOCA Platform Framework gives a service): each port is started on its own
//!   (`doca_flow_port_start`), a pipe sees only the packets received on its port, and a
//!   pipe forwards only to pipes of its own port (a forward to a port sends the packet
//!   out of it). Each port gets a lane of its own: its own root pipe and its own pipes,
//!   holding only what packets entering that port can reach (the plan's root keeps that
//!   port's branch, entries matching another ingress port go, and pipes no kept entry
//!   reaches go; the ingress-port match itself is dropped, as the lane's root sees one
//!   port only). A pipe two ports share in the plan (a CT pipe, a meter) is built once
//!   per lane; every packet hits one lane's copy, so per-rule counters are the sum over
//!   lanes and stay exact.
//!
//! Ports of both kinds in one plan are refused ([`InstallError::MixedPortModes`]): one
//! DOCA Flow instance runs in one mode. On the software backend ([`Installed::new`],
//! the software dataplane) the mode does not matter and [`Installed::with_backend`]
//! uses switch mode; [`Installed::with_backend_mode`] picks one explicitly. vnf mode ran
//! on the software backend and on the DOCA Flow contract emulator (feature `doca-emu`)
//! only, never on a BlueField.
//!
//! # Installing
//!
//! [`Installed::with_backend`] starts the flow and its ports (software-target plans also
//! opt into ACL priorities above 1024, which only the sw backend has), creates each
//! lane's pipes targets-first, posts their entries on a queue (an ACL pipe's entries as
//! one batch: `WAIT_FOR_BATCH` for all but the last, which is `NO_WAIT`; the queue is
//! made deep enough) and drives `entries_process` on the lane's port until every entry
//! reported success. Any failure aborts: what was made is dropped (pipes destroyed) and
//! the error returned.
//!
//! [`Installed::update`] is make-before-break, over all lanes at once: every lane's new
//! pipes are built beside the old ones (and the offloaded connections copied into the
//! new CT pipes); only when all of them are in place are the root entries flipped, lane
//! by lane (each lane in one `entries_process`, so no packet sees a mix); then the old
//! entries are removed. If anything fails before the flip, the new pipes are dropped and
//! the old policy stays fully in force on every lane; a failure during the flip of any
//! lane rolls back the lanes already flipped. Small updates with the same pipes are
//! applied in place (adds in every lane first, then removes; a failed add takes back
//! the adds of every lane).
//!
//! # Connection tracking offload
//!
//! [`Installed::ct_offload`] puts a connection (both directions, one DOCA CT entry) into
//! the CT pipe. In switch mode there is one CT pipe. In vnf mode a connection's original
//! direction enters one port and its reply another, so the entry goes into the CT pipe
//! of every lane whose root sends packets of the connection's zone to a CT pipe: the
//! lanes each direction can enter, and exactly the packets the single CT pipe of switch
//! mode would have matched. Removal takes it out of every lane; it ages out when every
//! lane's copy has aged (a direction that still flows keeps it); an update moves it
//! into the new CT pipe of every lane.
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::PacketBuilder;
//! use dpu_fw::compile::{Target, compile};
//! use dpu_fw::install::Installed;
//! use dpu_fw::demo;
//!
//! let rules = demo::policy();
//! let plan = compile(&rules, &Target::software()).unwrap();
//! let fw = Installed::new(&plan).unwrap();
//! let mut frame = PacketBuilder::udp4([127, 0, 0, 1].into(), [10, 1, 0, 10].into(), 1, 2).build();
//! let d = fw.process(plan.port_id("p0").unwrap(), &mut frame);
//! assert_eq!(d.rule, Some(0)); // drop-bogons
//! ```

use std::collections::{HashMap, HashSet};

use doca_flow::{
    AclEntry, AnyEntry, Backend, BasicEntry, Completion, ControlEntry, Counters, Entry, EntryId,
    EntryStatus, Field, Flags, Flow, Fwd, LpmEntry, Match, Mode, Monitor, Outcome, Pipe, PipeType,
    Port, PortId, Queue,
};

use crate::compile::{
    Plan, PlanEntry, PlanFwd, PlanMatch, PlanPipe, PlanPipeKind, PlanPortKind, TargetKind, diff,
};

/// The scratch word (`meta.u32[..]`) that carries a packet's conntrack zone into a CT
/// pipe.
pub const CT_ZONE_WORD: usize = 0;

/// Operations posted before the queue is processed.
const BATCH: usize = 1024;

/// Updates with at most this many entry operations (and the same pipes) are applied in
/// place; larger ones are installed make-before-break.
pub const IN_PLACE_OPS: usize = 1024;

/// Why a plan could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// A DOCA Flow call failed.
    #[error("{what}: {source}")]
    Flow {
        /// What was being done (names the pipe or port).
        what: String,
        /// The error.
        #[source]
        source: doca_flow::Error,
    },
    /// An entry operation completed with an error.
    #[error("pipe `{pipe}`: an entry operation failed ({status:?}, {error})")]
    Entry {
        /// The pipe.
        pipe: String,
        /// The reported status.
        status: EntryStatus,
        /// The reported reason.
        error: String,
    },
    /// The plan is not well formed.
    #[error("invalid plan: {0}")]
    InvalidPlan(#[from] crate::compile::PlanError),
    /// The plan has no CT pipe (it tracks no connections, or targets software).
    #[error("the plan has no CT pipe to offload connections to")]
    NoCtPipe,
    /// vnf mode: no port's root sends packets of this zone to a CT pipe, so no packet of
    /// the connection could hit its entry.
    #[error(
        "no port sends conntrack zone {zone} to a CT pipe: a connection in that zone \
         cannot be offloaded (it stays in software)"
    )]
    CtZone {
        /// The connection's zone.
        zone: u32,
    },
    /// No connection with this handle is offloaded (removed already, or the update to a
    /// policy without a CT pipe ended it).
    #[error("no such offloaded connection")]
    NotOffloaded,
    /// The new plan's root does not fit beside the installed one for the flip.
    #[error(
        "the new root has {new} entries, more than the installed root has room for beside \
         its own ({room}); install the new plan afresh"
    )]
    RootFull {
        /// The new root's entries.
        new: usize,
        /// The root pipe's capacity.
        room: u32,
    },
    /// An update changes the ports; updates keep the ports (reinstall instead).
    #[error("the new plan has other ports than the installed one; install it afresh")]
    PortsChanged,
    /// Some ports are SF netdevs (DOCA Flow vnf mode) and others are not (switch mode:
    /// uplinks and representors); one DOCA Flow instance runs in one mode.
    #[error(
        "ports {netdev:?} are scalable functions (`netdev`: DOCA Flow vnf mode) and ports \
         {other:?} are not (`id` or `representor`: switch mode); DOCA Flow runs one mode \
         per instance, so give every port as a `netdev`, or none"
    )]
    MixedPortModes {
        /// The ports given by netdev.
        netdev: Vec<String>,
        /// The other ports.
        other: Vec<String>,
    },
}

fn flow_err(what: impl Into<String>) -> impl FnOnce(doca_flow::Error) -> InstallError {
    let what = what.into();
    move |source| InstallError::Flow { what, source }
}

/// The DOCA Flow mode for ports given as `(name, is an SF netdev)`: vnf when every port
/// is an SF netdev, switch when none is.
///
/// # Errors
/// [`InstallError::MixedPortModes`] for a mix, naming the ports of each kind.
pub fn port_mode<'a>(
    ports: impl IntoIterator<Item = (&'a str, bool)>,
) -> Result<Mode, InstallError> {
    let (mut netdev, mut other) = (Vec::new(), Vec::new());
    for (name, sf) in ports {
        if sf {
            netdev.push(name.to_string());
        } else {
            other.push(name.to_string());
        }
    }
    match (netdev.is_empty(), other.is_empty()) {
        (false, false) => Err(InstallError::MixedPortModes { netdev, other }),
        (false, true) => Ok(Mode::Vnf),
        _ => Ok(Mode::Switch),
    }
}

/// The DOCA Flow mode `plan`'s ports need on a DOCA backend ([`port_mode`] of its
/// ports: netdev ports are SFs).
///
/// # Errors
/// [`InstallError::MixedPortModes`].
pub fn mode_for(plan: &Plan) -> Result<Mode, InstallError> {
    port_mode(
        plan.ports
            .iter()
            .map(|p| (p.name.as_str(), p.kind == PlanPortKind::Netdev)),
    )
}

/// What decided one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The sw backend's outcome.
    pub outcome: Outcome,
    /// The index of the rule that decided the packet; `None` = the default (or a frame
    /// no rule can match).
    pub rule: Option<u32>,
}

/// The non-root pipes of one plan, with their entries.
struct Generation {
    /// Per plan pipe (the root's list is empty), in the plan's entry order.
    entries: Vec<Vec<Entry>>,
    pipes: Vec<Option<Pipe>>,
    /// Deciding entries: entry -> (rule, counts).
    rules: EntryRules,
}

/// Entry -> (rule, counts), indexed by the entry's slot: `decide` looks up every packet's
/// trail here, and backends hand out dense slot indices (a `HashMap` cost a hash per hit).
#[derive(Default)]
struct EntryRules(Vec<Option<(u32, (u32, bool))>>);

impl EntryRules {
    #[inline]
    fn get(&self, e: &EntryId) -> Option<&(u32, bool)> {
        match self.0.get(e.index as usize) {
            Some(Some((generation, v))) if *generation == e.generation => Some(v),
            _ => None,
        }
    }

    fn insert(&mut self, e: EntryId, v: (u32, bool)) {
        let i = e.index as usize;
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        self.0[i] = Some((e.generation, v));
    }

    fn remove(&mut self, e: &EntryId) {
        if self.get(e).is_some() {
            self.0[e.index as usize] = None;
        }
    }

    /// Every entry with its rule.
    fn iter(&self) -> impl Iterator<Item = (EntryId, u32)> + '_ {
        self.0.iter().enumerate().filter_map(|(i, v)| {
            v.map(|(generation, (rule, _))| {
                let id = EntryId {
                    index: i as u32,
                    generation,
                };
                (id, rule)
            })
        })
    }
}

/// Tags every entry of `g` that belongs to a rule with `rule + 1` on the sw backend
/// (`SwBackend::set_entry_tag`): a packet's deciding rule is then read off its outcome,
/// from the slot line its hit touched anyway, instead of a lookup per packet in a table
/// of our own (on acl1_10k that lookup was a cache miss per packet).
fn tag_entries(flow: &Flow, g: &Generation) {
    if let Some(mut sw) = flow.sw() {
        for (id, rule) in g.rules.iter() {
            // A plan cannot hold 2^32 rules (each is far more than a byte), so this is
            // always `Some`.
            if let Some(tag) = rule.checked_add(1) {
                let tagged = sw.set_entry_tag(id, tag);
                debug_assert!(tagged.is_ok(), "a generation's entries are live");
            }
        }
        return;
    }
    // Another backend: the emulated hardware has tags (its wire reports them); real
    // hardware has none, which the first refusal says.
    for (id, rule) in g.rules.iter() {
        if let Some(tag) = rule.checked_add(1) {
            if let Err(doca_flow::Error::Unsupported { .. }) = flow.tag_entry(id, tag) {
                return;
            }
        }
    }
}

/// One port's share of the installed plan: in switch mode the only lane (the whole plan
/// on the switch port), in vnf mode one per port ([module docs](self)).
struct Lane {
    /// The root's entries (dropped before the root).
    root_entries: Vec<(RootKey, Entry)>,
    root: doca_flow::ControlPipe,
    current: Generation,
    /// Index into [`Installed::ports`] of the port that owns this lane's pipes.
    port: usize,
    /// The plan this lane installs ([`lane_plan`]).
    plan: Plan,
}

impl Lane {
    /// The zones this lane's root sends to its CT pipe.
    fn ct_zones(&self) -> impl Iterator<Item = u32> + '_ {
        self.plan.pipes[self.plan.root()]
            .entries
            .iter()
            .filter_map(|e| e.zone.map(u32::from))
    }
}

/// A plan installed on a flow.
pub struct Installed {
    /// Connections offloaded to the CT pipes ([`Installed::ct_offload`]): their entry in
    /// each lane's current CT pipe and what it holds (to move it into the next).
    ct_entries: HashMap<CtHandle, (CtCopies, doca_flow::ct::CtEntry)>,
    lanes: Vec<Lane>,
    queue: Queue,
    ports: Vec<Port>,
    flow: Flow,
    plan: Plan,
    mode: Mode,
    /// ACL entries posted per batch (the queue's depth less one).
    acl_batch: usize,
    /// The current CT entries, for aging reports.
    ct_by_entry: HashMap<EntryId, CtHandle>,
    /// CT entries reported aged, with their last hit then (a later hit revives them).
    ct_aged_seen: HashMap<EntryId, u64>,
    next_ct: u64,
}

/// A connection offloaded to the CT pipe by [`Installed::ct_offload`]. It names the
/// connection, not its DOCA entries: a make-before-break [`Installed::update`] moves the
/// connection into the new generation's CT pipes and the handle stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtHandle(u64);

impl core::fmt::Debug for Installed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Installed")
            .field("plan", &self.plan.stats())
            .field("mode", &self.mode)
            .field("lanes", &self.lanes.len())
            .finish_non_exhaustive()
    }
}

/// Root entries are keyed by their match, so updates can flip them in place.
type RootKey = (u32, String);

/// A connection's CT entries: (lane, entry) per lane that holds it.
type CtCopies = Vec<(usize, Entry)>;

fn root_key(e: &PlanEntry) -> RootKey {
    match &e.matcher {
        PlanMatch::Control {
            priority,
            matcher,
            mask,
        } => (*priority, format!("{matcher:?}/{mask:?}")),
        PlanMatch::Acl(a) => (a.priority, format!("{a:?}")),
        other => (0, format!("{other:?}")),
    }
}

/// `e` as a vnf lane of port `port` holds it: `None` when it matches another ingress
/// port; otherwise without its ingress-port match (the lane's root sees one port).
fn lane_entry(e: &PlanEntry, port: PortId) -> Option<PlanEntry> {
    let PlanMatch::Control {
        priority,
        matcher,
        mask,
    } = &e.matcher
    else {
        return Some(e.clone());
    };
    let m = mask.get(Field::PortId);
    if m == 0 {
        return Some(e.clone());
    }
    if matcher.get(Field::PortId) & m != u128::from(port.0) & m {
        return None;
    }
    let (mut matcher, mut mask) = ((**matcher).clone(), (**mask).clone());
    matcher.set(Field::PortId, 0);
    mask.set(Field::PortId, 0);
    Some(PlanEntry {
        matcher: PlanMatch::Control {
            priority: *priority,
            matcher: Box::new(matcher),
            mask: Box::new(mask),
        },
        ..e.clone()
    })
}

/// The part of `plan` that packets entering `port` can reach, for a vnf lane: entries
/// for other ingress ports go (and the ingress-port match of the others), then every
/// pipe nothing kept forwards to; pipe order (targets first, the root last) is kept.
fn lane_plan(plan: &Plan, port: PortId) -> Plan {
    let pipes: Vec<PlanPipe> = plan
        .pipes
        .iter()
        .map(|p| PlanPipe {
            entries: p
                .entries
                .iter()
                .filter_map(|e| lane_entry(e, port))
                .collect(),
            ..p.clone()
        })
        .collect();
    // Forwards go to earlier pipes only, so one pass from the root down finds every
    // reachable pipe.
    let mut keep = vec![false; pipes.len()];
    if let Some(k) = keep.last_mut() {
        *k = true;
    }
    for i in (0..pipes.len()).rev() {
        if !keep[i] {
            continue;
        }
        let p = &pipes[i];
        for f in p.targets() {
            if let PlanFwd::Pipe(t) = f {
                if let Some(k) = keep.get_mut(t) {
                    *k = true;
                }
            }
        }
    }
    let mut index = vec![usize::MAX; pipes.len()];
    let mut n = 0;
    for (i, k) in keep.iter().enumerate() {
        if *k {
            index[i] = n;
            n += 1;
        }
    }
    let remap = |f: PlanFwd| match f {
        PlanFwd::Pipe(t) => PlanFwd::Pipe(index[t]),
        other => other,
    };
    let pipes = pipes
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(mut p, _)| {
            for e in &mut p.entries {
                e.fwd = remap(e.fwd);
            }
            p.fwd_miss = p.fwd_miss.map(remap);
            if let PlanPipeKind::Ct { hit } = p.kind {
                p.kind = PlanPipeKind::Ct { hit: remap(hit) };
            }
            p
        })
        .collect();
    Plan {
        pipes,
        ..plan.clone()
    }
}

/// Each lane's (port index, plan) for `plan` in `mode`.
fn lane_plans(plan: &Plan, mode: Mode) -> Vec<(usize, Plan)> {
    match mode {
        Mode::Switch => vec![(0, plan.clone())],
        Mode::Vnf => plan
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i, lane_plan(plan, p.id)))
            .collect(),
    }
}

/// Builds a lane's root pipe on `port` and its entries into `g`.
fn build_root(
    plan: &Plan,
    port: &Port,
    queue: &mut Queue,
    g: &Generation,
) -> Result<(doca_flow::ControlPipe, Vec<(RootKey, Entry)>), InstallError> {
    let root_plan = &plan.pipes[plan.root()];
    let root = port
        .pipe_builder(&root_plan.name)
        .control()
        .root(true)
        .nr_entries(root_capacity(plan))
        .build()
        .map_err(flow_err(format!("pipe `{}`", root_plan.name)))?;
    let mut root_entries = Vec::with_capacity(root_plan.entries.len());
    for e in &root_plan.entries {
        let fwd = to_fwd(e.fwd, &g.pipes);
        let entry = root
            .add_entry(queue, control_entry(e, fwd))
            .map_err(flow_err(format!("pipe `{}`", root_plan.name)))?;
        root_entries.push((root_key(e), entry));
    }
    process_all(port, queue, &root_plan.name)?;
    Ok((root, root_entries))
}

/// Processes `port`'s operations until it succeeds, at most three times (posted
/// operations stay queued, so a failed process is retried).
fn drain(port: &Port, queue: &mut Queue) {
    for _ in 0..3 {
        if port.entries_process(queue, 0).is_ok() {
            break;
        }
    }
}

impl Installed {
    /// Installs `plan` on a new flow on the software backend.
    ///
    /// # Errors
    /// [`InstallError`] naming the pipe or port that failed.
    pub fn new(plan: &Plan) -> Result<Self, InstallError> {
        Self::with_backend(plan, doca_flow::SwBackend::new())
    }

    /// Installs `plan` on a new flow on `backend`: in the mode its ports need
    /// ([`mode_for`]) on a DOCA backend, in switch mode on the software backend.
    ///
    /// # Errors
    /// [`InstallError::MixedPortModes`] on a DOCA backend for SF netdev ports beside
    /// others; [`InstallError`] naming the pipe or port that failed.
    pub fn with_backend(plan: &Plan, backend: impl Backend) -> Result<Self, InstallError> {
        let mode = if backend.as_any().is::<doca_flow::SwBackend>() {
            Mode::Switch
        } else {
            mode_for(plan)?
        };
        Self::with_backend_mode(plan, backend, mode)
    }

    /// Installs `plan` on a new flow on `backend` in `mode`, whatever its ports' kinds
    /// (vnf mode: one lane per port; see the [module docs](self)).
    ///
    /// # Errors
    /// [`InstallError`] naming the pipe or port that failed.
    pub fn with_backend_mode(
        plan: &Plan,
        mut backend: impl Backend,
        mode: Mode,
    ) -> Result<Self, InstallError> {
        plan.validate()?;
        if plan.target == TargetKind::Software {
            // Software plans put a whole segment in one ACL pipe, whatever its depth: the
            // sw backend's extension takes ACL priorities above DOCA's 1024 (a DOCA
            // backend refuses such an entry when it is added, naming it).
            if let Some(sw) = backend.as_any_mut().downcast_mut::<doca_flow::SwBackend>() {
                *sw = std::mem::take(sw).unbounded_acl_priorities();
            }
        }
        let depth = queue_depth(plan, &backend);
        let acl_batch = depth as usize - 1;
        let lanes_of = lane_plans(plan, mode);
        let uses = |f: fn(&PlanEntry) -> bool| {
            lanes_of
                .iter()
                .map(|(_, p)| pool(p, &backend, f))
                .fold(0u32, u32::saturating_add)
        };
        let mut builder = Flow::builder()
            .mode(mode)
            .queues(1)
            .queue_depth(depth)
            .counters(uses(|e| e.counter))
            .meters(uses(|e| e.meter.is_some()));
        if plan
            .pipes
            .iter()
            .any(|p| matches!(p.kind, PlanPipeKind::Ct { .. }))
        {
            builder = builder.conntrack(doca_flow::ct::CtCfg {
                zone_word: CT_ZONE_WORD,
                ipv4_connections: plan.ct_connections,
                ipv6_connections: plan.ct_connections,
            });
        }
        let flow = builder
            .build_with(backend)
            .map_err(flow_err("doca_flow_init"))?;
        let mut ports: Vec<Port> = Vec::with_capacity(plan.ports.len());
        match mode {
            Mode::Switch => {
                let first = &plan.ports[0];
                let switch = flow
                    .start_switch_port(first.id, &first.name)
                    .map_err(flow_err(format!("port `{}`", first.name)))?;
                ports.push(switch);
                for p in &plan.ports[1..] {
                    let rep = ports[0]
                        .start_representor(p.id, &p.name)
                        .map_err(flow_err(format!("port `{}`", p.name)))?;
                    ports.push(rep);
                }
            }
            Mode::Vnf => {
                for p in &plan.ports {
                    let port = flow
                        .start_port(p.id, &p.name)
                        .map_err(flow_err(format!("port `{}` (vnf mode)", p.name)))?;
                    ports.push(port);
                }
            }
        }
        let mut queue = flow.take_queue(0).map_err(flow_err("queue 0"))?;
        let mut lanes = Vec::with_capacity(lanes_of.len());
        for (port, lp) in lanes_of {
            let current = build_generation(&lp, &ports[port], &mut queue, acl_batch)?;
            tag_entries(&flow, &current);
            let (root, root_entries) = build_root(&lp, &ports[port], &mut queue, &current)?;
            lanes.push(Lane {
                root_entries,
                root,
                current,
                port,
                plan: lp,
            });
        }
        Ok(Installed {
            ct_entries: HashMap::new(),
            lanes,
            queue,
            ports,
            flow,
            plan: plan.clone(),
            mode,
            acl_batch,
            ct_by_entry: HashMap::new(),
            ct_aged_seen: HashMap::new(),
            next_ct: 0,
        })
    }

    /// The DOCA Flow mode the plan is installed in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How many lanes (root pipes with their pipes) are installed: 1 in switch mode, one
    /// per port in vnf mode.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// The lanes a connection in `zone` goes into, given each lane's plan and whether it
    /// has a CT pipe: in switch mode the only lane; in vnf mode every lane whose root
    /// sends `zone` to its CT pipe.
    fn ct_lanes(lanes: &[Lane], zone: u32) -> Result<Vec<usize>, InstallError> {
        let with_ct: Vec<usize> = (0..lanes.len())
            .filter(|&l| ct_pipe(&lanes[l].plan, &lanes[l].current).is_ok())
            .collect();
        if with_ct.is_empty() {
            return Err(InstallError::NoCtPipe);
        }
        if lanes.len() == 1 {
            return Ok(with_ct);
        }
        let out: Vec<usize> = with_ct
            .into_iter()
            .filter(|&l| lanes[l].ct_zones().any(|z| z == zone))
            .collect();
        if out.is_empty() {
            return Err(InstallError::CtZone { zone });
        }
        Ok(out)
    }

    /// Processes the operations posted for `lanes`' ports (each port once).
    fn process_lanes(&mut self, lanes: &[usize], what: &str) -> Result<(), InstallError> {
        let mut done: Vec<usize> = Vec::new();
        let mut first = None;
        for &l in lanes {
            let p = self.lanes[l].port;
            if done.contains(&p) {
                continue;
            }
            done.push(p);
            if let Err(e) = process_all(&self.ports[p], &mut self.queue, what) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Offloads a connection to the plan's CT pipe (hardware target of a stateful policy):
    /// its packets then hit in the pipes instead of going to software. Returns the
    /// connection's handle (for [`Installed::ct_remove`] and aging). In vnf mode the
    /// entry goes into the CT pipe of every lane the connection's zone reaches (the
    /// [module docs](self)), all or none.
    ///
    /// Connections stay offloaded across [`Installed::update`]: a make-before-break
    /// update adds them to the new generation's CT pipes before traffic flips to it.
    ///
    /// # Errors
    /// [`InstallError::NoCtPipe`] when the plan has no CT pipe; [`InstallError::CtZone`]
    /// in vnf mode when no lane tracks the zone; the entry's add or completion failing
    /// (the connection is then not offloaded, in any lane).
    pub fn ct_offload(&mut self, entry: doca_flow::ct::CtEntry) -> Result<CtHandle, InstallError> {
        let targets = Self::ct_lanes(&self.lanes, entry.zone)?;
        let mut made: CtCopies = Vec::with_capacity(targets.len());
        let mut failure = None;
        for &l in &targets {
            let pipe = ct_pipe(&self.lanes[l].plan, &self.lanes[l].current)?;
            match pipe.add_any(&mut self.queue, AnyEntry::Ct(entry), Flags::NoWait) {
                Ok(e) => made.push((l, e)),
                Err(source) => {
                    failure = Some(InstallError::Flow {
                        what: "pipe `ct`".into(),
                        source,
                    });
                    break;
                }
            }
        }
        if let Err(e) = self.process_lanes(&targets, "ct") {
            failure.get_or_insert(e);
        }
        if let Some(err) = failure {
            // Not complete in every lane: take back what went in, so nothing is left
            // half in.
            for (l, e) in &made {
                if e.is_installed() {
                    let _ = e.pipe().remove_entry(&mut self.queue, e, Flags::NoWait);
                }
                let p = self.lanes[*l].port;
                let _ = self.ports[p].entries_process(&mut self.queue, 0);
            }
            return Err(err);
        }
        let handle = CtHandle(self.next_ct);
        self.next_ct += 1;
        for (_, e) in &made {
            self.ct_by_entry.insert(e.id(), handle);
        }
        self.ct_entries.insert(handle, (made, entry));
        Ok(handle)
    }

    /// Removes an offloaded connection (FIN, RST, aged), from every lane.
    ///
    /// # Errors
    /// When it is not offloaded, or the removal fails.
    pub fn ct_remove(&mut self, handle: CtHandle) -> Result<(), InstallError> {
        let (entries, _) = self
            .ct_entries
            .remove(&handle)
            .ok_or(InstallError::NotOffloaded)?;
        let mut failure = None;
        let mut lanes = Vec::with_capacity(entries.len());
        for (l, e) in &entries {
            self.ct_by_entry.remove(&e.id());
            self.ct_aged_seen.remove(&e.id());
            lanes.push(*l);
            if let Err(source) = e.pipe().remove_entry(&mut self.queue, e, Flags::NoWait) {
                failure.get_or_insert(InstallError::Flow {
                    what: "pipe `ct`".into(),
                    source,
                });
            }
        }
        if let Err(e) = self.process_lanes(&lanes, "ct") {
            failure.get_or_insert(e);
        }
        failure.map_or(Ok(()), Err)
    }

    /// Offloaded connections that have seen no hit for their timeout, in any lane; remove
    /// them with [`Installed::ct_remove`]. In vnf mode a connection ages when the copy
    /// in every lane has aged (each direction enters its own lane).
    pub fn ct_aged(&mut self) -> Vec<CtHandle> {
        let mut fresh: Vec<EntryId> = Vec::new();
        let mut polled: Vec<usize> = Vec::new();
        for lane in &self.lanes {
            if !polled.contains(&lane.port) {
                polled.push(lane.port);
                fresh.extend(self.flow.ct_aged(&self.ports[lane.port]));
            }
        }
        let mut candidates: HashSet<CtHandle> = HashSet::new();
        for id in fresh {
            if let Some(&h) = self.ct_by_entry.get(&id) {
                let at = self
                    .ct_entries
                    .get(&h)
                    .into_iter()
                    .flat_map(|(made, _)| made)
                    .find(|(_, e)| e.id() == id)
                    .and_then(|(_, e)| e.ct_query().ok())
                    .map_or(0, |c| c.last_hit_ns);
                self.ct_aged_seen.insert(id, at);
                candidates.insert(h);
            }
        }
        let mut out = Vec::new();
        for h in candidates {
            let Some((entries, _)) = self.ct_entries.get(&h) else {
                continue;
            };
            let mut aged = true;
            for (_, e) in entries {
                match self.ct_aged_seen.get(&e.id()) {
                    None => aged = false,
                    Some(&at) => {
                        // Reported aged earlier, hit since: alive again.
                        if e.ct_query().is_ok_and(|c| c.last_hit_ns > at) {
                            self.ct_aged_seen.remove(&e.id());
                            aged = false;
                        }
                    }
                }
            }
            if aged {
                out.push(h);
            }
        }
        out.sort_unstable();
        out
    }

    /// How many connections are offloaded to the CT pipe.
    pub fn ct_offloaded(&self) -> usize {
        self.ct_entries.len()
    }

    /// True while `handle`'s connection is offloaded (an update to a policy without a
    /// CT pipe ends every offload).
    pub fn ct_is_offloaded(&self, handle: CtHandle) -> bool {
        self.ct_entries.contains_key(&handle)
    }

    /// Adds every offloaded connection to the CT pipes of `new` (each lane's next
    /// generation, with its plan, in lane order). On failure the adds made so far are
    /// taken back and the current entries stay as they were. A connection whose zone no
    /// new lane tracks is left out (it ends with the update).
    fn ct_move_to(
        &mut self,
        new: &[(Plan, Generation)],
    ) -> Result<Vec<(CtHandle, CtCopies)>, InstallError> {
        let mut moved: Vec<(CtHandle, CtCopies)> = Vec::with_capacity(self.ct_entries.len());
        if self.ct_entries.is_empty() {
            return Ok(moved);
        }
        let multi = new.len() > 1;
        let lanes_for = |zone: u32| -> Vec<usize> {
            (0..new.len())
                .filter(|&l| ct_pipe(&new[l].0, &new[l].1).is_ok())
                .filter(|&l| {
                    !multi
                        || new[l].0.pipes[new[l].0.root()]
                            .entries
                            .iter()
                            .any(|e| e.zone.map(u32::from) == Some(zone))
                })
                .collect()
        };
        let all: Vec<usize> = (0..new.len()).collect();
        let mut handles: Vec<CtHandle> = self.ct_entries.keys().copied().collect();
        handles.sort_unstable();
        let mut failure = None;
        let mut posted = 0;
        'handles: for h in handles {
            let spec = self.ct_entries[&h].1;
            let mut made = Vec::new();
            for l in lanes_for(spec.zone) {
                let Ok(pipe) = ct_pipe(&new[l].0, &new[l].1) else {
                    continue;
                };
                match pipe.add_any(&mut self.queue, AnyEntry::Ct(spec), Flags::NoWait) {
                    Ok(e) => made.push((l, e)),
                    Err(source) => {
                        failure = Some(InstallError::Flow {
                            what: "pipe `ct` (moving offloaded connections)".into(),
                            source,
                        });
                        moved.push((h, made));
                        break 'handles;
                    }
                }
                posted += 1;
            }
            moved.push((h, made));
            if posted >= BATCH {
                posted = 0;
                if let Err(e) = self.process_lanes(&all, "ct") {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            if let Err(e) = self.process_lanes(&all, "ct") {
                failure = Some(e);
            }
        }
        if let Some(err) = failure {
            for l in &all {
                drain(&self.ports[self.lanes[*l].port], &mut self.queue);
            }
            for (_, made) in &moved {
                for (_, e) in made {
                    if e.is_installed() {
                        let _ = e.pipe().remove_entry(&mut self.queue, e, Flags::NoWait);
                    }
                }
            }
            for l in &all {
                let _ = self.ports[self.lanes[*l].port].entries_process(&mut self.queue, 0);
            }
            return Err(err);
        }
        moved.retain(|(_, made)| !made.is_empty());
        Ok(moved)
    }

    /// The installed plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The flow.
    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// True when software can run packets through the installed pipes (the sw backend,
    /// or the emulated hardware's wire); false on real hardware, where the NIC runs them
    /// and [`Installed::process`] answers `DropReason::InHardware`.
    pub fn runs_in_software(&self) -> bool {
        self.flow.datapath().is_some()
    }

    /// Sets the time the meters see (where software runs the packets: the sw backend,
    /// or the emulated hardware).
    pub fn set_time_ns(&self, now_ns: u64) {
        if let Some(mut dp) = self.flow.datapath() {
            dp.set_time_ns(now_ns);
        }
    }

    /// The rule that decided a packet: the last hit that belongs to a rule (steering
    /// entries after the decision belong to none, meter entries to the same rule as the
    /// decision).
    ///
    /// Every entry that belongs to a rule carries the tag `rule + 1` (`tag_entries`), and
    /// the sw backend reports the last tagged entry a packet hit (`Outcome::tag`).
    fn rule_of(&self, outcome: &Outcome) -> Option<u32> {
        Self::rule_of_tag(outcome.tag)
    }

    fn decide(&self, outcome: Outcome) -> Decision {
        let rule = self.rule_of(&outcome);
        Decision { outcome, rule }
    }

    /// Runs one frame that arrived on DOCA port `port` through the installed pipes (on
    /// the sw backend, or the emulated hardware's wire). On real hardware the NIC runs
    /// the pipes and software cannot: every packet then gets
    /// `Verdict::Drop(DropReason::InHardware)` (see [`Installed::runs_in_software`]).
    pub fn process(&self, port: PortId, frame: &mut [u8]) -> Decision {
        let outcome = match self.flow.datapath() {
            Some(mut dp) => dp.process_packet(port, frame),
            None => in_hardware(),
        };
        self.decide(outcome)
    }

    /// [`Installed::process`] for a frame that arrives with packet meta `pkt_meta` (a
    /// stateful plan reads the packet's connection-tracking state there: see
    /// [`crate::firewall`]).
    pub fn process_with_meta(&self, port: PortId, pkt_meta: u32, frame: &mut [u8]) -> Decision {
        let outcome = match self.flow.datapath() {
            Some(mut dp) => dp.process_packet_with_meta(port, pkt_meta, frame),
            None => in_hardware(),
        };
        self.decide(outcome)
    }

    /// Runs a batch of frames that arrived on `port`; appends one decision per frame.
    pub fn process_batch<B: AsMut<[u8]>>(
        &self,
        port: PortId,
        frames: &mut [B],
        out: &mut Vec<Decision>,
    ) {
        out.reserve(frames.len());
        self.process_batch_each(port, frames, |_, outcome, rule| {
            out.push(Decision {
                outcome: *outcome,
                rule,
            })
        });
    }

    /// Runs a batch of frames that arrived on `port`, handing each frame's index, outcome
    /// and deciding rule (as in [`Decision`]) to `f`, in order, without building a
    /// [`Decision`] per frame (the outcome is lent; a dataplane reads a field or two).
    pub fn process_batch_each<B: AsMut<[u8]>>(
        &self,
        port: PortId,
        frames: &mut [B],
        f: impl FnMut(usize, &Outcome, Option<u32>),
    ) {
        self.process_batch_each_with_meta(port, frames, None, f);
    }

    /// [`Installed::process_batch_each`] for frames that arrive with packet meta
    /// (`metas[i]` for frame `i`, as in [`Installed::process_with_meta`]).
    ///
    /// # Panics
    /// If `metas` is shorter than `frames`.
    pub fn process_batch_each_with_meta<B: AsMut<[u8]>>(
        &self,
        port: PortId,
        frames: &mut [B],
        metas: Option<&[u32]>,
        f: impl FnMut(usize, &Outcome, Option<u32>),
    ) {
        self.process_batch_each_parsed(port, frames, metas, None, f);
    }

    /// [`Installed::process_batch_each_with_meta`] for frames already parsed: `hdrs[i]`
    /// is [`Headers::parse`](doca_flow::packet::Headers::parse) of frame `i`, used in
    /// place (see
    /// [`SwBackend::process_batch_each_parsed`](doca_flow::SwBackend::process_batch_each_parsed)).
    ///
    /// # Panics
    /// If `metas` or `hdrs` is shorter than `frames`.
    pub fn process_batch_each_parsed<B: AsMut<[u8]>>(
        &self,
        port: PortId,
        frames: &mut [B],
        metas: Option<&[u32]>,
        hdrs: Option<&mut [doca_flow::packet::Headers]>,
        f: impl FnMut(usize, &Outcome, Option<u32>),
    ) {
        self.process_batch_each_memo(port, frames, metas, hdrs, None, f);
    }

    /// [`Installed::process_batch_each_parsed`] for a caller that keeps ACL answers
    /// per flow direction (a connection tracker): `memos[i]` is frame `i`'s, and comes
    /// back replaced when its walk recorded a new one (see
    /// [`SwBackend::process_batch_each_memo`](doca_flow::SwBackend::process_batch_each_memo)
    /// for the rules). Answers, counters and frames are those without memos. Without a
    /// software datapath, `memos` is left alone.
    ///
    /// # Panics
    /// If `metas`, `hdrs` or `memos` is shorter than `frames`.
    pub fn process_batch_each_memo<B: AsMut<[u8]>>(
        &self,
        port: PortId,
        frames: &mut [B],
        metas: Option<&[u32]>,
        hdrs: Option<&mut [doca_flow::packet::Headers]>,
        memos: Option<&mut [doca_flow::AclMemo]>,
        mut f: impl FnMut(usize, &Outcome, Option<u32>),
    ) {
        match self.flow.datapath() {
            Some(mut dp) => dp.process_batch_each_memo(port, frames, metas, hdrs, memos, |i, o| {
                f(i, o, self.rule_of(o))
            }),
            None => {
                let o = in_hardware();
                (0..frames.len()).for_each(|i| f(i, &o, None))
            }
        }
    }

    /// [`Installed::process_batch_each_with_meta`] for a dataplane that reads each
    /// frame's verdict and deciding rule only: appends frame `i`'s
    /// [`Brief`](doca_flow::Brief) to `out`, in order (its rule, as in [`Decision`], is
    /// [`Installed::rule_of_tag`] of its tag). Frames and counters are those of
    /// `process_batch_each_with_meta`; on the direct path of a firewall's shape no
    /// [`Outcome`] is built per frame
    /// ([`SwBackend::process_batch_brief`](doca_flow::SwBackend::process_batch_brief)).
    ///
    /// # Panics
    /// If `metas` is shorter than `frames`.
    #[inline]
    pub fn process_batch_brief<B: AsMut<[u8]>>(
        &self,
        port: PortId,
        frames: &mut [B],
        metas: Option<&[u32]>,
        out: &mut Vec<doca_flow::Brief>,
    ) {
        match self.flow.datapath() {
            Some(mut dp) => dp.process_batch_brief(port, frames, metas, out),
            None => {
                let b = doca_flow::Brief::from(&in_hardware());
                out.extend(frames.iter().map(|_| b))
            }
        }
    }

    /// The rule (index into the plan's rules) whose entries carry `tag`
    /// ([`Outcome::tag`], [`Brief::tag`](doca_flow::Brief::tag)): entries are tagged
    /// with their rule's index plus one, and 0 is no tag (the packet hit no rule's
    /// entry: the port's default decided it).
    #[inline(always)]
    pub fn rule_of_tag(tag: u32) -> Option<u32> {
        tag.checked_sub(1)
    }

    /// How often remembered ACL answers were used and recorded
    /// ([`Installed::process_batch_each_memo`]) since this policy was installed; zero
    /// without a software datapath.
    pub fn memo_stats(&self) -> doca_flow::MemoStats {
        self.flow.sw().map(|sw| sw.memo_stats()).unwrap_or_default()
    }

    /// Packet and byte counts per rule (indexed like `RuleSet::rules`), summed over the
    /// rule's entries in every lane, since the current plan was installed.
    ///
    /// On the sw backend this takes the flow's lock once (a dataplane worker processing
    /// bursts on the same flow waits for one pass over the entries, not one per entry).
    pub fn rule_counters(&self) -> Vec<Counters> {
        let mut out = vec![Counters::default(); self.plan.rules.len()];
        let sw = self.flow.sw();
        for lane in &self.lanes {
            for e in lane.current.entries.iter().flatten() {
                if let Some(&(rule, true)) = lane.current.rules.get(&e.id()) {
                    let c = match &sw {
                        Some(sw) => sw.query_entry(e.id()),
                        None => e.query(),
                    };
                    if let (Ok(c), Some(slot)) = (c, out.get_mut(rule as usize)) {
                        slot.packets += c.packets;
                        slot.bytes += c.bytes;
                    }
                }
            }
        }
        out
    }

    /// Replaces the installed plan by `plan`, make-before-break over every lane: the old
    /// policy stays in force until the new one is completely in place in every lane, and
    /// stays in force (in every lane) if this fails.
    ///
    /// # Errors
    /// [`InstallError::PortsChanged`] if the ports differ; any failure while building the
    /// new pipes or flipping the roots (the old policy is then still installed).
    pub fn update(&mut self, plan: &Plan) -> Result<(), InstallError> {
        plan.validate()?;
        if plan.ports != self.plan.ports {
            return Err(InstallError::PortsChanged);
        }
        let new_plans = lane_plans(plan, self.mode);
        for ((_, lp), lane) in new_plans.iter().zip(&self.lanes) {
            let n = lp.pipes[lp.root()].entries.len();
            let room = root_capacity(&lane.plan);
            if 2 * n as u32 > room {
                return Err(InstallError::RootFull { new: n, room });
            }
        }
        let diffs: Vec<diff::PlanDiff> = new_plans
            .iter()
            .zip(&self.lanes)
            .map(|((_, lp), lane)| diff::diff(&lane.plan, lp))
            .collect();
        let in_place = diffs.iter().zip(&self.lanes).all(|(d, lane)| {
            let root = lane.plan.root();
            d.in_place(IN_PLACE_OPS)
                && !d
                    .entries_added
                    .iter()
                    .chain(&d.entries_removed)
                    .any(|(p, _)| *p == root)
        });
        if in_place {
            let plans: Vec<Plan> = new_plans.into_iter().map(|(_, p)| p).collect();
            self.update_in_place(&plans, &diffs)?;
            self.plan = plan.clone();
            return Ok(());
        }
        // 1. Make: every lane's new pipes beside its old ones.
        let mut new: Vec<(Plan, Generation)> = Vec::with_capacity(new_plans.len());
        for ((_, lp), lane) in new_plans.into_iter().zip(&self.lanes) {
            let g = build_generation(&lp, &self.ports[lane.port], &mut self.queue, self.acl_batch)?;
            tag_entries(&self.flow, &g);
            new.push((lp, g));
        }
        // Offloaded connections move into the new CT pipes before traffic flips to
        // them, so established connections keep their hardware path across the update.
        let moved = self.ct_move_to(&new)?;
        // 2. Flip, lane by lane: beside each old root entry, a new one with the same
        //    match and priority that forwards to the new generation, all of a lane
        //    completed in one entries_process; then the old ones go. (DOCA cannot update
        //    a control pipe's entries. While both are in, a packet takes the old or the
        //    new generation, each a whole policy: on the sw backend the older entry, as
        //    equal priorities go in insertion order; on DOCA either.) A failure in any
        //    lane rolls back every lane flipped so far.
        let mut added: Vec<Vec<(RootKey, Entry)>> = Vec::with_capacity(new.len());
        let mut failure = None;
        'lanes: for (l, (lp, g)) in new.iter().enumerate() {
            let root_plan = &lp.pipes[lp.root()];
            let lane = &self.lanes[l];
            added.push(Vec::with_capacity(root_plan.entries.len()));
            for e in &root_plan.entries {
                let fwd = to_fwd(e.fwd, &g.pipes);
                match lane.root.add_entry(&mut self.queue, control_entry(e, fwd)) {
                    Ok(entry) => {
                        if let Some(list) = added.last_mut() {
                            list.push((root_key(e), entry));
                        }
                    }
                    Err(source) => {
                        failure = Some(InstallError::Flow {
                            what: format!("pipe `{}`", root_plan.name),
                            source,
                        });
                        break 'lanes;
                    }
                }
            }
            if let Err(e) = process_all(&self.ports[lane.port], &mut self.queue, &root_plan.name) {
                failure = Some(e);
                break;
            }
        }
        if let Some(err) = failure {
            // Roll back every lane: the new root entries go (the old ones never left),
            // then the moved connections and the new pipes. Adds still queued complete
            // first, so none lands after its pipe is gone.
            for (l, list) in added.iter().enumerate() {
                let lane = &self.lanes[l];
                let port = &self.ports[lane.port];
                drain(port, &mut self.queue);
                for (_, entry) in list {
                    if entry.is_installed() {
                        let _ = lane
                            .root
                            .remove_entry(&mut self.queue, entry, Flags::NoWait);
                    }
                }
                let _ = port.entries_process(&mut self.queue, 0);
            }
            for (_, made) in &moved {
                for (_, e) in made {
                    let _ = e.pipe().remove_entry(&mut self.queue, e, Flags::NoWait);
                }
            }
            for lane in &self.lanes {
                let _ = self.ports[lane.port].entries_process(&mut self.queue, 0);
            }
            drop(moved);
            drop(added);
            drop(new);
            return Err(err);
        }
        // The new generation is in force in every lane; the old root entries must
        // leave too.
        for (lane, list) in self.lanes.iter_mut().zip(added) {
            let old_root = std::mem::replace(&mut lane.root_entries, list);
            for (_, entry) in &old_root {
                let _ = lane
                    .root
                    .remove_entry(&mut self.queue, entry, Flags::NoWait);
            }
            drain(&self.ports[lane.port], &mut self.queue);
            drop(old_root);
        }
        // 3. Break: remove the old entries; their pipes go when nothing holds them.
        let mut old = Vec::with_capacity(new.len());
        for (lane, (lp, g)) in self.lanes.iter_mut().zip(new) {
            old.push((lane.port, std::mem::replace(&mut lane.current, g)));
            lane.plan = lp;
        }
        // The offloaded connections now live in the new CT pipes; their old entries go
        // with the old ones (a connection no new lane tracks ends here).
        self.ct_by_entry.clear();
        self.ct_aged_seen.clear();
        let mut entries = std::mem::take(&mut self.ct_entries);
        for (h, made) in moved {
            for (_, e) in &made {
                self.ct_by_entry.insert(e.id(), h);
            }
            if let Some((old_made, spec)) = entries.remove(&h) {
                drop(old_made);
                self.ct_entries.insert(h, (made, spec));
            }
        }
        drop(entries);
        self.plan = plan.clone();
        for (port, g) in old {
            remove_generation(g, &self.ports[port], &mut self.queue);
        }
        Ok(())
    }

    /// Applies per-lane diffs between plans with the same pipes: adds in every lane,
    /// then removes in every lane, each lane's completed in one `entries_process`. If an
    /// add fails in any lane, the adds made so far (in every lane) are removed again and
    /// the old policy stays.
    fn update_in_place(
        &mut self,
        plans: &[Plan],
        diffs: &[diff::PlanDiff],
    ) -> Result<(), InstallError> {
        let mut added: Vec<HashMap<(usize, usize), Entry>> = Vec::with_capacity(plans.len());
        let mut failure = None;
        for (l, (plan, d)) in plans.iter().zip(diffs).enumerate() {
            let lane = &self.lanes[l];
            let (made, err) = in_place_add(lane, &self.ports[lane.port], &mut self.queue, plan, d);
            added.push(made);
            if let Some(e) = err {
                failure = Some(e);
                break;
            }
        }
        if let Some(err) = failure {
            // Every add has completed (in_place_add processed them): the ones that
            // failed are gone already, the others go now.
            for (l, made) in added.iter().enumerate() {
                for entry in made.values().filter(|e| e.is_installed()) {
                    let _ = entry
                        .pipe()
                        .remove_entry(&mut self.queue, entry, Flags::NoWait);
                }
                let _ = self.ports[self.lanes[l].port].entries_process(&mut self.queue, 0);
            }
            return Err(err);
        }
        for (l, d) in diffs.iter().enumerate() {
            let lane = &self.lanes[l];
            for &(p, n) in &d.entries_removed {
                let entry = &lane.current.entries[p][n];
                let _ = entry
                    .pipe()
                    .remove_entry(&mut self.queue, entry, Flags::NoWait);
            }
            // The new entries are in force; the removes must complete too, or the policy
            // is a mix. Posted operations stay queued, so a failed process is retried.
            let mut tries = 0;
            while let Err(e) =
                process_all(&self.ports[lane.port], &mut self.queue, "in-place update")
            {
                tries += 1;
                if tries == 3 {
                    return Err(e);
                }
            }
        }
        for ((lane, plan), (d, made)) in self
            .lanes
            .iter_mut()
            .zip(plans)
            .zip(diffs.iter().zip(added))
        {
            realign(lane, plan, d, made);
            // Rule indices move with the plan: tag every entry again.
            tag_entries(&self.flow, &lane.current);
        }
        Ok(())
    }
}

/// Posts a lane's in-place adds and completes them; returns what was added and the
/// first failure.
fn in_place_add(
    lane: &Lane,
    port: &Port,
    queue: &mut Queue,
    plan: &Plan,
    d: &diff::PlanDiff,
) -> (HashMap<(usize, usize), Entry>, Option<InstallError>) {
    let mut added: HashMap<(usize, usize), Entry> = HashMap::new();
    for &(p, n) in &d.entries_added {
        let pp = &plan.pipes[p];
        let e = &pp.entries[n];
        let Some(pipe) = lane.current.pipes[p].clone() else {
            continue;
        };
        let fwd = to_fwd(e.fwd, &lane.current.pipes);
        match post_entry(&pipe, queue, e, fwd, Flags::NoWait) {
            Ok(entry) => {
                added.insert((p, n), entry);
            }
            Err(source) => {
                let err = InstallError::Flow {
                    what: format!("pipe `{}`, entry {n}", pp.name),
                    source,
                };
                drain(port, queue);
                return (added, Some(err));
            }
        }
        if added.len() % BATCH == 0 {
            if let Err(e) = process_all(port, queue, &pp.name) {
                return (added, Some(e));
            }
        }
    }
    let err = process_all(port, queue, "in-place update").err();
    (added, err)
}

/// Re-aligns a lane's entry handles with its new plan after an in-place update.
fn realign(
    lane: &mut Lane,
    plan: &Plan,
    d: &diff::PlanDiff,
    mut added: HashMap<(usize, usize), Entry>,
) {
    let removed: HashSet<(usize, usize)> = d.entries_removed.iter().copied().collect();
    let old_plan = std::mem::replace(&mut lane.plan, plan.clone());
    let old_lists = std::mem::take(&mut lane.current.entries);
    for (p, list) in old_lists.into_iter().enumerate() {
        let mut pool: HashMap<String, Vec<Entry>> = HashMap::new();
        for (n, entry) in list.into_iter().enumerate() {
            if removed.contains(&(p, n)) {
                lane.current.rules.remove(&entry.id());
                continue;
            }
            let key = diff::entry_key(&old_plan, &old_plan.pipes[p].entries[n]);
            pool.entry(key).or_default().push(entry);
        }
        let mut aligned = Vec::with_capacity(plan.pipes[p].entries.len());
        if plan.pipes[p].kind == PlanPipeKind::Root {
            // Root entries are held in `root_entries`; the diff did not touch them.
            lane.current.entries.push(aligned);
            continue;
        }
        for (n, e) in plan.pipes[p].entries.iter().enumerate() {
            let entry = match added.remove(&(p, n)) {
                Some(entry) => entry,
                None => pool
                    .get_mut(&diff::entry_key(plan, e))
                    .and_then(Vec::pop)
                    .expect("the diff accounts for every entry"),
            };
            if let Some(rule) = e.rule {
                lane.current.rules.insert(entry.id(), (rule, e.counter));
            }
            aligned.push(entry);
        }
        lane.current.entries.push(aligned);
    }
}

/// The outcome on real hardware, where no software runs the pipes.
fn in_hardware() -> Outcome {
    Outcome {
        verdict: doca_flow::Verdict::Drop(doca_flow::DropReason::InHardware),
        meta: Default::default(),
        modified: false,
        hops: 0,
        entry: None,
        trail: [None; doca_flow::TRAIL_LEN],
        tag: 0,
    }
}

/// The root holds at most three entries per port; an update adds the new ones before it
/// removes the old ones, so it has room for both.
fn root_capacity(plan: &Plan) -> u32 {
    2 * (plan.ports.len() as u32 * 3).max(plan.pipes[plan.root()].entries.len() as u32)
}

/// A counter or meter pool for `plan`. Hardware pools cost memory, so they are sized
/// from the plan: room for two plans of its size (an update builds the new pipes beside
/// the old ones) and some growth; an update to a plan much bigger than the installed one
/// then fails cleanly (the old policy stays) and needs a fresh install. The sw backend's
/// pools cost nothing, so they are large.
fn pool(plan: &Plan, backend: &impl Backend, uses: impl Fn(&PlanEntry) -> bool) -> u32 {
    if backend.as_any().is::<doca_flow::SwBackend>() {
        return 1 << 26;
    }
    let n = plan
        .pipes
        .iter()
        .flat_map(|p| &p.entries)
        .filter(|e| uses(e))
        .count();
    (2 * n + 1024).min(u32::MAX as usize) as u32
}

/// The queue depth. On the sw backend, deep enough for the largest ACL pipe's entries in
/// one batch (it then builds the classifier in one pass); on other backends [`BATCH`] + 1,
/// and ACL pipes are posted in batches of [`BATCH`], each ending with `NO_WAIT`.
fn queue_depth(plan: &Plan, backend: &impl Backend) -> u32 {
    if !backend.as_any().is::<doca_flow::SwBackend>() {
        return BATCH as u32 + 1;
    }
    let largest = plan
        .pipes
        .iter()
        .filter(|p| matches!(p.kind, PlanPipeKind::Acl(_)))
        .map(|p| p.entries.len())
        .max()
        .unwrap_or(0);
    (largest.max(BATCH) + 1).min(u32::MAX as usize) as u32
}

/// Room for in-place updates beside the plan's entries.
fn capacity(entries: usize) -> u32 {
    (entries + entries / 4 + 64).min(u32::MAX as usize) as u32
}

fn to_fwd(f: PlanFwd, pipes: &[Option<Pipe>]) -> Fwd {
    match f {
        PlanFwd::Port(id) => Fwd::Port(id),
        PlanFwd::Pipe(i) => match pipes.get(i).and_then(Option::as_ref) {
            Some(p) => Fwd::pipe(p),
            // Validated plans forward only to earlier, non-root pipes.
            None => Fwd::Drop,
        },
        PlanFwd::Drop => Fwd::Drop,
        PlanFwd::Software => Fwd::Rss { queues: vec![0] },
    }
}

fn acl_entry(e: &PlanEntry, fwd: Fwd) -> AclEntry {
    let PlanMatch::Acl(a) = &e.matcher else {
        unreachable!("ACL pipes hold ACL entries")
    };
    let mut acl = AclEntry::new(a.src, a.dst, a.priority, fwd)
        .src_port(a.src_port)
        .dst_port(a.dst_port);
    acl.proto = a.proto;
    acl
}

/// Posts one plan entry on its pipe with the add call of its kind.
fn post_entry(
    pipe: &Pipe,
    queue: &mut Queue,
    e: &PlanEntry,
    fwd: Fwd,
    flags: Flags,
) -> doca_flow::Result<Entry> {
    match &e.matcher {
        PlanMatch::Acl(_) => pipe.add_any(queue, AnyEntry::Acl(acl_entry(e, fwd)), flags),
        PlanMatch::Control { .. } => {
            pipe.add_any(queue, AnyEntry::Control(control_entry(e, fwd)), flags)
        }
        PlanMatch::Prefix { field, addr, len } => {
            let value = Match::new().with(*field, *addr);
            let entry = if pipe.cfg().pipe_type == PipeType::Lpm {
                AnyEntry::Lpm(LpmEntry::new(value, Match::new().prefix(*field, *len)).fwd(fwd))
            } else {
                AnyEntry::Basic(BasicEntry::new(value).fwd(fwd))
            };
            pipe.add_any(queue, entry, flags)
        }
    }
}

fn control_entry(e: &PlanEntry, fwd: Fwd) -> ControlEntry {
    let (priority, matcher, mask) = match &e.matcher {
        PlanMatch::Control {
            priority,
            matcher,
            mask,
        } => (*priority, (**matcher).clone(), (**mask).clone()),
        _ => unreachable!("control pipes hold control entries"),
    };
    let mut c = ControlEntry::new(priority, matcher, fwd).mask(mask);
    if let Some(zone) = e.zone {
        c = c.actions(doca_flow::Actions::new().meta_u32(CT_ZONE_WORD, u32::from(zone)));
    }
    if e.counter || e.meter.is_some() {
        c = c.monitor(Monitor {
            counter: e.counter,
            meter: e.meter,
        });
    }
    c
}

/// The CT pipe of `plan` as built in `g`.
fn ct_pipe<'g>(plan: &Plan, g: &'g Generation) -> Result<&'g Pipe, InstallError> {
    let at = plan
        .pipes
        .iter()
        .position(|p| matches!(p.kind, PlanPipeKind::Ct { .. }))
        .ok_or(InstallError::NoCtPipe)?;
    g.pipes[at].as_ref().ok_or(InstallError::NoCtPipe)
}

/// Processes the queue until nothing is pending; any error completion fails.
fn process_all(port: &Port, queue: &mut Queue, pipe: &str) -> Result<(), InstallError> {
    let done: Vec<Completion> = port
        .entries_process(queue, 0)
        .map_err(flow_err(format!("pipe `{pipe}`: entries_process")))?;
    match done.iter().find(|c| c.status != EntryStatus::Success) {
        Some(c) => Err(InstallError::Entry {
            pipe: pipe.to_string(),
            status: c.status,
            error: format!("{:?}", c.error),
        }),
        None => Ok(()),
    }
}

fn build_generation(
    plan: &Plan,
    switch: &Port,
    queue: &mut Queue,
    acl_batch: usize,
) -> Result<Generation, InstallError> {
    let mut g = Generation {
        entries: Vec::new(),
        pipes: Vec::with_capacity(plan.pipes.len()),
        rules: EntryRules::default(),
    };
    for p in &plan.pipes {
        g.entries.push(Vec::new());
        if p.kind == PlanPipeKind::Root {
            g.pipes.push(None);
            continue;
        }
        let pipe = create_pipe(p, switch, &g.pipes)?;
        add_entries(p, &pipe, queue, switch, acl_batch, &mut g)?;
        g.pipes.push(Some(pipe));
    }
    Ok(g)
}

fn create_pipe(p: &PlanPipe, switch: &Port, made: &[Option<Pipe>]) -> Result<Pipe, InstallError> {
    // The plan decides each pipe's kind: the builder takes it at run time, and entries
    // go in as `AnyEntry` (post_entry), checked against it.
    let b = switch
        .pipe_builder(&p.name)
        .nr_entries(capacity(p.entries.len()));
    let mut b = match p.kind {
        PlanPipeKind::Acl(fam) => b
            .pipe_type(PipeType::Acl)
            .acl_family(fam)
            .monitor(Monitor::counter()),
        PlanPipeKind::Control | PlanPipeKind::Meter | PlanPipeKind::Root => {
            b.pipe_type(PipeType::Control)
        }
        PlanPipeKind::Lpm(field) => b
            .pipe_type(PipeType::Lpm)
            .matcher(Match::changeable(&[field]))
            .fwd(Fwd::Changeable)
            .monitor(Monitor::counter()),
        PlanPipeKind::Exact(field) => b
            .pipe_type(PipeType::Basic)
            .matcher(Match::changeable(&[field]))
            .fwd(Fwd::Changeable)
            .monitor(Monitor::counter()),
        PlanPipeKind::Ct { hit } => b.pipe_type(PipeType::Ct).fwd(to_fwd(hit, made)),
    };
    if let Some(m) = p.fwd_miss {
        b = b.fwd_miss(to_fwd(m, made));
    }
    b.build().map_err(flow_err(format!("pipe `{}`", p.name)))
}

fn add_entries(
    p: &PlanPipe,
    pipe: &Pipe,
    queue: &mut Queue,
    switch: &Port,
    acl_batch: usize,
    g: &mut Generation,
) -> Result<(), InstallError> {
    let n = p.entries.len();
    // ACL entries go in batches as large as the queue allows (on the sw backend, the
    // whole pipe: its classifier is then built once); other entries every BATCH.
    let batch = if matches!(p.kind, PlanPipeKind::Acl(_)) {
        acl_batch.max(1)
    } else {
        BATCH
    };
    for (i, e) in p.entries.iter().enumerate() {
        let fwd = to_fwd(e.fwd, &g.pipes);
        let last_of_batch = i + 1 == n || (i + 1) % batch == 0;
        let flags = if last_of_batch {
            Flags::NoWait
        } else {
            Flags::WaitForBatch
        };
        let entry = post_entry(pipe, queue, e, fwd, flags)
            .map_err(flow_err(format!("pipe `{}`, entry {i}", p.name)))?;
        if let Some(rule) = e.rule {
            g.rules.insert(entry.id(), (rule, e.counter));
        }
        if let Some(list) = g.entries.last_mut() {
            list.push(entry);
        }
        if last_of_batch {
            process_all(switch, queue, &p.name)?;
        }
    }
    Ok(())
}

/// Removes the entries of a generation that nothing forwards to any more. Failures are
/// ignored: the entries are unreachable, and their pipes are destroyed when the last
/// handle goes.
fn remove_generation(old: Generation, switch: &Port, queue: &mut Queue) {
    let mut posted = 0;
    for e in old.entries.iter().flatten() {
        if e.pipe().remove_entry(queue, e, Flags::NoWait).is_ok() {
            posted += 1;
        }
        if posted == BATCH {
            let _ = switch.entries_process(queue, 0);
            posted = 0;
        }
    }
    let _ = switch.entries_process(queue, 0);
    drop(old);
}
