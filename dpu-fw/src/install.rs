//! Install a [`Plan`] on DOCA Flow (either backend) and keep it up to date.
//!
//! [`Installed::new`] starts a flow in switch mode (the plan's first port is the switch
//! port, the others its representors; software-target plans also opt into ACL priorities
//! above 1024, which only the sw backend has), creates the plan's pipes targets-first,
//! posts their entries on a queue (an ACL pipe's entries as one batch: `WAIT_FOR_BATCH`
//! for all but the last, which is `NO_WAIT`; the queue is made deep enough) and drives
//! `entries_process` until every entry reported success. Any failure aborts: what was
//! made is dropped (pipes destroyed) and the error returned.
//!
//! [`Installed::update`] is make-before-break: the new plan's non-root pipes are built
//! beside the old ones; only when all of them are in place are the root entries flipped
//! (in one `entries_process`, so no packet sees a mix); then the old entries are removed.
//! If anything fails before the flip, the new pipes are dropped and the old policy stays
//! fully in force; a failure during the flip is rolled back.
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

use std::collections::HashMap;

use doca_flow::{
    AclEntry, AclFamily, AnyEntry, Backend, BasicEntry, Completion, ControlEntry, Counters, Entry,
    EntryId, EntryStatus, Flags, Flow, Fwd, LpmEntry, Match, Mode, Monitor, Outcome, Pipe,
    PipeType, Port, PortId, Queue,
};

use crate::compile::{
    Plan, PlanEntry, PlanFwd, PlanMatch, PlanPipe, PlanPipeKind, TargetKind, diff,
};
use crate::model::Family;

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
}

fn flow_err(what: impl Into<String>) -> impl FnOnce(doca_flow::Error) -> InstallError {
    let what = what.into();
    move |source| InstallError::Flow { what, source }
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

/// A plan installed on a flow.
pub struct Installed {
    root_entries: Vec<(RootKey, Entry)>,
    root: doca_flow::ControlPipe,
    current: Generation,
    queue: Queue,
    ports: Vec<Port>,
    flow: Flow,
    plan: Plan,
    /// ACL entries posted per batch (the queue's depth less one).
    acl_batch: usize,
    /// Connections offloaded to the CT pipe ([`Installed::ct_offload`]): their entry in
    /// the current generation's CT pipe and what it holds (to move it into the next).
    ct_entries: HashMap<CtHandle, (Entry, doca_flow::ct::CtEntry)>,
    /// The current CT entry of each handle, for aging reports.
    ct_by_entry: HashMap<EntryId, CtHandle>,
    next_ct: u64,
}

/// A connection offloaded to the CT pipe by [`Installed::ct_offload`]. It names the
/// connection, not its DOCA entry: a make-before-break [`Installed::update`] moves the
/// connection into the new generation's CT pipe and the handle stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtHandle(u64);

impl core::fmt::Debug for Installed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Installed")
            .field("plan", &self.plan.stats())
            .finish_non_exhaustive()
    }
}

/// Root entries are keyed by their match, so updates can flip them in place.
type RootKey = (u32, String);

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

impl Installed {
    /// Installs `plan` on a new flow on the software backend.
    ///
    /// # Errors
    /// [`InstallError`] naming the pipe or port that failed.
    pub fn new(plan: &Plan) -> Result<Self, InstallError> {
        Self::with_backend(plan, doca_flow::SwBackend::new())
    }

    /// Installs `plan` on a new flow on `backend`.
    ///
    /// # Errors
    /// [`InstallError`] naming the pipe or port that failed.
    pub fn with_backend(plan: &Plan, backend: impl Backend) -> Result<Self, InstallError> {
        plan.validate()?;
        let depth = queue_depth(plan, &backend);
        let acl_batch = depth as usize - 1;
        let mut builder = Flow::builder()
            .mode(Mode::Switch)
            .queues(1)
            .queue_depth(depth)
            .counters(pool(plan, &backend, |e| e.counter))
            .meters(pool(plan, &backend, |e| e.meter.is_some()));
        if plan.target == TargetKind::Software {
            // Software plans put a whole segment in one ACL pipe, whatever its depth.
            builder = builder.unbounded_acl_priorities();
        }
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
        let mut queue = flow.take_queue(0).map_err(flow_err("queue 0"))?;
        let current = build_generation(plan, &ports[0], &mut queue, acl_batch)?;
        tag_entries(&flow, &current);
        let root_plan = &plan.pipes[plan.root()];
        let root = ports[0]
            .pipe_builder(&root_plan.name)
            .control()
            .root(true)
            .nr_entries(root_capacity(plan))
            .build()
            .map_err(flow_err(format!("pipe `{}`", root_plan.name)))?;
        let mut root_entries = Vec::with_capacity(root_plan.entries.len());
        for e in &root_plan.entries {
            let fwd = to_fwd(e.fwd, &current.pipes);
            let entry = root
                .add_entry(&mut queue, control_entry(e, fwd))
                .map_err(flow_err(format!("pipe `{}`", root_plan.name)))?;
            root_entries.push((root_key(e), entry));
        }
        process_all(&ports[0], &mut queue, &root_plan.name)?;
        Ok(Installed {
            root_entries,
            root,
            current,
            queue,
            ports,
            flow,
            plan: plan.clone(),
            acl_batch,
            ct_entries: HashMap::new(),
            ct_by_entry: HashMap::new(),
            next_ct: 0,
        })
    }

    /// Offloads a connection to the plan's CT pipe (hardware target of a stateful policy):
    /// its packets then hit in the pipes instead of going to software. Returns the
    /// connection's handle (for [`Installed::ct_remove`] and aging).
    ///
    /// Connections stay offloaded across [`Installed::update`]: a make-before-break
    /// update adds them to the new generation's CT pipe before traffic flips to it.
    ///
    /// # Errors
    /// [`InstallError::NoCtPipe`] when the plan has no CT pipe; the entry's add or
    /// completion failing (the connection is then not offloaded).
    pub fn ct_offload(&mut self, entry: doca_flow::ct::CtEntry) -> Result<CtHandle, InstallError> {
        let pipe = ct_pipe(&self.plan, &self.current)?;
        let e = pipe
            .add_any(&mut self.queue, AnyEntry::Ct(entry), Flags::NoWait)
            .map_err(flow_err("pipe `ct`"))?;
        if let Err(err) = process_all(&self.ports[0], &mut self.queue, "ct") {
            // The add did not complete: take it back so nothing is left half in.
            if e.is_installed() {
                let _ = pipe.remove_entry(&mut self.queue, &e, Flags::NoWait);
                let _ = self.ports[0].entries_process(&mut self.queue, 0);
            }
            return Err(err);
        }
        let handle = CtHandle(self.next_ct);
        self.next_ct += 1;
        self.ct_by_entry.insert(e.id(), handle);
        self.ct_entries.insert(handle, (e, entry));
        Ok(handle)
    }

    /// Removes an offloaded connection (FIN, RST, aged).
    ///
    /// # Errors
    /// When it is not offloaded, or the removal fails.
    pub fn ct_remove(&mut self, handle: CtHandle) -> Result<(), InstallError> {
        let (e, _) = self
            .ct_entries
            .remove(&handle)
            .ok_or(InstallError::NotOffloaded)?;
        self.ct_by_entry.remove(&e.id());
        if let Ok(pipe) = ct_pipe(&self.plan, &self.current) {
            pipe.remove_entry(&mut self.queue, &e, Flags::NoWait)
                .map_err(flow_err("pipe `ct`"))?;
            process_all(&self.ports[0], &mut self.queue, "ct")?;
        }
        Ok(())
    }

    /// Offloaded connections that have seen no hit for their timeout; remove them with
    /// [`Installed::ct_remove`].
    pub fn ct_aged(&self) -> Vec<CtHandle> {
        self.flow
            .ct_aged(&self.ports[0])
            .into_iter()
            .filter_map(|id| self.ct_by_entry.get(&id).copied())
            .collect()
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

    /// Adds every offloaded connection to `new`'s CT pipe (the next generation of a
    /// make-before-break update). On failure the adds made so far are taken back and the
    /// current entries stay as they were.
    fn ct_move_to(
        &mut self,
        plan: &Plan,
        new: &Generation,
    ) -> Result<Vec<(CtHandle, Entry)>, InstallError> {
        let mut moved = Vec::with_capacity(self.ct_entries.len());
        if self.ct_entries.is_empty() {
            return Ok(moved);
        }
        let pipe = match ct_pipe(plan, new) {
            Ok(p) => p.clone(),
            // The new policy tracks no connections: its packets never reach a CT pipe.
            Err(_) => return Ok(moved),
        };
        let mut handles: Vec<CtHandle> = self.ct_entries.keys().copied().collect();
        handles.sort_unstable();
        let mut failure = None;
        for h in handles {
            let spec = self.ct_entries[&h].1;
            match pipe.add_any(&mut self.queue, AnyEntry::Ct(spec), Flags::NoWait) {
                Ok(e) => moved.push((h, e)),
                Err(source) => {
                    failure = Some(InstallError::Flow {
                        what: "pipe `ct` (moving offloaded connections)".into(),
                        source,
                    });
                    break;
                }
            }
            if moved.len() % BATCH == 0 {
                if let Err(e) = process_all(&self.ports[0], &mut self.queue, "ct") {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            if let Err(e) = process_all(&self.ports[0], &mut self.queue, "ct") {
                failure = Some(e);
            }
        }
        if let Some(err) = failure {
            for _ in 0..3 {
                if self.ports[0].entries_process(&mut self.queue, 0).is_ok() {
                    break;
                }
            }
            for (_, e) in &moved {
                if e.is_installed() {
                    let _ = pipe.remove_entry(&mut self.queue, e, Flags::NoWait);
                }
            }
            let _ = self.ports[0].entries_process(&mut self.queue, 0);
            return Err(err);
        }
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
        outcome.tag.checked_sub(1)
    }

    fn decide(&self, outcome: Outcome) -> Decision {
        let rule = self.rule_of(&outcome);
        Decision { outcome, rule }
    }

    /// Runs one frame that arrived on DOCA port `port` through the installed pipes (on
    /// the sw backend, or the emulated hardware's wire). On real hardware the NIC runs
    /// the pipes and software cannot: every packet then gets
    /// `Verdict::Drop(DropReason::InHardware)` (see [`Installed::runs_in_software`]).
    pub fn process(&self, port: u16, frame: &mut [u8]) -> Decision {
        let outcome = match self.flow.datapath() {
            Some(mut dp) => dp.process_packet(PortId(port), frame),
            None => in_hardware(),
        };
        self.decide(outcome)
    }

    /// [`Installed::process`] for a frame that arrives with packet meta `pkt_meta` (a
    /// stateful plan reads the packet's connection-tracking state there: see
    /// [`crate::firewall`]).
    pub fn process_with_meta(&self, port: u16, pkt_meta: u32, frame: &mut [u8]) -> Decision {
        let outcome = match self.flow.datapath() {
            Some(mut dp) => dp.process_packet_with_meta(PortId(port), pkt_meta, frame),
            None => in_hardware(),
        };
        self.decide(outcome)
    }

    /// Runs a batch of frames that arrived on `port`; appends one decision per frame.
    pub fn process_batch<B: AsMut<[u8]>>(
        &self,
        port: u16,
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
        port: u16,
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
        port: u16,
        frames: &mut [B],
        metas: Option<&[u32]>,
        mut f: impl FnMut(usize, &Outcome, Option<u32>),
    ) {
        match self.flow.datapath() {
            Some(mut dp) => dp.process_batch_each_with_meta(PortId(port), frames, metas, |i, o| {
                f(i, o, self.rule_of(o))
            }),
            None => {
                let o = in_hardware();
                (0..frames.len()).for_each(|i| f(i, &o, None))
            }
        }
    }

    /// Packet and byte counts per rule (indexed like `RuleSet::rules`), summed over the
    /// rule's entries, since the current plan was installed.
    ///
    /// On the sw backend this takes the flow's lock once (a dataplane worker processing
    /// bursts on the same flow waits for one pass over the entries, not one per entry).
    pub fn rule_counters(&self) -> Vec<Counters> {
        let mut out = vec![Counters::default(); self.plan.rules.len()];
        let sw = self.flow.sw();
        for e in self.current.entries.iter().flatten() {
            if let Some(&(rule, true)) = self.current.rules.get(&e.id()) {
                let c = match &sw {
                    Some(sw) => sw.query_entry(e.id()),
                    None => e.query(),
                };
                if let Ok(c) = c {
                    let slot = &mut out[rule as usize];
                    slot.packets += c.packets;
                    slot.bytes += c.bytes;
                }
            }
        }
        out
    }

    /// Replaces the installed plan by `plan`, make-before-break: the old policy stays in
    /// force until the new one is completely in place, and stays in force if this fails.
    ///
    /// # Errors
    /// [`InstallError::PortsChanged`] if the ports differ; any failure while building the
    /// new pipes or flipping the root (the old policy is then still installed).
    pub fn update(&mut self, plan: &Plan) -> Result<(), InstallError> {
        plan.validate()?;
        if plan.ports != self.plan.ports {
            return Err(InstallError::PortsChanged);
        }
        let root_plan = &plan.pipes[plan.root()];
        let room = root_capacity(&self.plan);
        if 2 * root_plan.entries.len() as u32 > room {
            return Err(InstallError::RootFull {
                new: root_plan.entries.len(),
                room,
            });
        }
        let d = diff::diff(&self.plan, plan);
        let root = self.plan.root();
        let touches_root = d
            .entries_added
            .iter()
            .chain(&d.entries_removed)
            .any(|(p, _)| *p == root);
        if d.in_place(IN_PLACE_OPS) && !touches_root {
            return self.update_in_place(plan, &d);
        }
        // 1. Make: the new pipes beside the old ones.
        let new = build_generation(plan, &self.ports[0], &mut self.queue, self.acl_batch)?;
        tag_entries(&self.flow, &new);
        // Offloaded connections move into the new CT pipe before traffic flips to it, so
        // established connections keep their hardware path across the update.
        let moved = match self.ct_move_to(plan, &new) {
            Ok(m) => m,
            Err(e) => {
                drop(new);
                return Err(e);
            }
        };
        // 2. Flip: beside each old root entry, a new one with the same match and
        //    priority that forwards to the new generation, all completed in one
        //    entries_process; then the old ones go. (DOCA cannot update a control pipe's
        //    entries. While both are in, a packet takes the old or the new generation,
        //    each a whole policy: on the sw backend the older entry, as equal priorities
        //    go in insertion order; on DOCA either.)
        let mut added: Vec<(RootKey, Entry)> = Vec::with_capacity(root_plan.entries.len());
        let mut failure = None;
        for e in &root_plan.entries {
            let fwd = to_fwd(e.fwd, &new.pipes);
            match self.root.add_entry(&mut self.queue, control_entry(e, fwd)) {
                Ok(entry) => added.push((root_key(e), entry)),
                Err(source) => {
                    failure = Some(InstallError::Flow {
                        what: format!("pipe `{}`", root_plan.name),
                        source,
                    });
                    break;
                }
            }
        }
        if failure.is_none() {
            if let Err(e) = process_all(&self.ports[0], &mut self.queue, &root_plan.name) {
                failure = Some(e);
            }
        }
        if let Some(err) = failure {
            // Roll back: the new root entries go (the old ones never left), then the new
            // pipes. Adds still queued complete first, so none lands after its pipe is
            // gone.
            for _ in 0..3 {
                if self.ports[0].entries_process(&mut self.queue, 0).is_ok() {
                    break;
                }
            }
            for (_, entry) in &added {
                if entry.is_installed() {
                    let _ = self
                        .root
                        .remove_entry(&mut self.queue, entry, Flags::NoWait);
                }
            }
            if let Ok(ct) = ct_pipe(plan, &new) {
                for (_, e) in &moved {
                    let _ = ct.remove_entry(&mut self.queue, e, Flags::NoWait);
                }
            }
            let _ = self.ports[0].entries_process(&mut self.queue, 0);
            drop(moved);
            drop(added);
            drop(new);
            return Err(err);
        }
        let old_root = std::mem::replace(&mut self.root_entries, added);
        for (_, entry) in &old_root {
            let _ = self
                .root
                .remove_entry(&mut self.queue, entry, Flags::NoWait);
        }
        // The new generation is in force; the old root entries must leave too. Posted
        // operations stay queued, so a failed process is retried.
        for _ in 0..3 {
            if process_all(&self.ports[0], &mut self.queue, &root_plan.name).is_ok() {
                break;
            }
        }
        drop(old_root);
        // 3. Break: remove the old entries; their pipes go when nothing holds them.
        let old = std::mem::replace(&mut self.current, new);
        // The offloaded connections now live in the new CT pipe; their old entries go
        // with the old one.
        self.ct_by_entry.clear();
        if moved.is_empty() {
            self.ct_entries.clear();
        }
        for (h, e) in moved {
            self.ct_by_entry.insert(e.id(), h);
            if let Some(slot) = self.ct_entries.get_mut(&h) {
                slot.0 = e;
            }
        }
        self.plan = plan.clone();
        remove_generation(old, &self.ports[0], &mut self.queue);
        Ok(())
    }

    /// Applies a diff between plans with the same pipes: adds, then removes, each
    /// completed in one `entries_process`. If an add fails, the adds made so far are
    /// removed again and the old policy stays.
    fn update_in_place(&mut self, plan: &Plan, d: &diff::PlanDiff) -> Result<(), InstallError> {
        let mut added: HashMap<(usize, usize), Entry> = HashMap::new();
        let mut failure = None;
        for &(p, n) in &d.entries_added {
            let pp = &plan.pipes[p];
            let e = &pp.entries[n];
            let Some(pipe) = self.current.pipes[p].clone() else {
                continue;
            };
            let fwd = to_fwd(e.fwd, &self.current.pipes);
            let res = post_entry(&pipe, &mut self.queue, e, fwd, Flags::NoWait);
            match res {
                Ok(entry) => {
                    added.insert((p, n), entry);
                }
                Err(source) => {
                    failure = Some(InstallError::Flow {
                        what: format!("pipe `{}`, entry {n}", pp.name),
                        source,
                    });
                    break;
                }
            }
            if added.len() % BATCH == 0 {
                if let Err(e) = process_all(&self.ports[0], &mut self.queue, &pp.name) {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            if let Err(e) = process_all(&self.ports[0], &mut self.queue, "in-place update") {
                failure = Some(e);
            }
        }
        if let Some(err) = failure {
            for entry in added.values() {
                let _ = entry
                    .pipe()
                    .remove_entry(&mut self.queue, entry, Flags::NoWait);
            }
            let _ = self.ports[0].entries_process(&mut self.queue, 0);
            return Err(err);
        }
        let removed: std::collections::HashSet<(usize, usize)> =
            d.entries_removed.iter().copied().collect();
        for &(p, n) in &d.entries_removed {
            let entry = &self.current.entries[p][n];
            let _ = entry
                .pipe()
                .remove_entry(&mut self.queue, entry, Flags::NoWait);
        }
        // The new entries are in force; the removes must complete too, or the policy is a
        // mix. Posted operations stay queued, so a failed process is retried.
        let mut tries = 0;
        while let Err(e) = process_all(&self.ports[0], &mut self.queue, "in-place update") {
            tries += 1;
            if tries == 3 {
                return Err(e);
            }
        }
        // Re-align the handles with the new plan's entry order.
        let old_plan = std::mem::replace(&mut self.plan, plan.clone());
        let old_lists = std::mem::take(&mut self.current.entries);
        for (p, list) in old_lists.into_iter().enumerate() {
            let mut pool: HashMap<String, Vec<Entry>> = HashMap::new();
            for (n, entry) in list.into_iter().enumerate() {
                if removed.contains(&(p, n)) {
                    self.current.rules.remove(&entry.id());
                    continue;
                }
                let key = diff::entry_key(&old_plan, &old_plan.pipes[p].entries[n]);
                pool.entry(key).or_default().push(entry);
            }
            let mut aligned = Vec::with_capacity(plan.pipes[p].entries.len());
            if plan.pipes[p].kind == PlanPipeKind::Root {
                // Root entries are held in `root_entries`; the diff did not touch them.
                self.current.entries.push(aligned);
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
                    self.current.rules.insert(entry.id(), (rule, e.counter));
                }
                aligned.push(entry);
            }
            self.current.entries.push(aligned);
        }
        // Rule indices move with the plan: tag every entry again.
        tag_entries(&self.flow, &self.current);
        Ok(())
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
        PlanFwd::Port(id) => Fwd::Port(PortId(id)),
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

/// Processes the queue until nothing is pending; any error completion fails.
/// The CT pipe of `plan` as built in `g`.
fn ct_pipe<'g>(plan: &Plan, g: &'g Generation) -> Result<&'g Pipe, InstallError> {
    let at = plan
        .pipes
        .iter()
        .position(|p| matches!(p.kind, PlanPipeKind::Ct { .. }))
        .ok_or(InstallError::NoCtPipe)?;
    g.pipes[at].as_ref().ok_or(InstallError::NoCtPipe)
}

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
            .acl_family(match fam {
                Family::Ipv4 => AclFamily::V4,
                Family::Ipv6 => AclFamily::V6,
            })
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
