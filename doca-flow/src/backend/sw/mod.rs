//! The software backend: executes pipes on packet bytes the way the hardware would.
//!
//! Sans-I/O: give it a port and a frame, get an [`Outcome`] back (the frame modified in
//! place, counters and meters updated). Time for meters is an explicit input
//! ([`SwBackend::set_time_ns`]), so runs are deterministic.
//!
//! Data layout for the hot path: pipes in an arena indexed by [`PipeId`], entries in a slot
//! arena indexed by [`EntryId`]; per pipe type one table (hash map for basic, a
//! priority-sorted vector for control, the crate's [`classifier`](crate::classifier) for
//! ACL, one hash map per prefix length for LPM, a bucket array for hash pipes). Processing
//! a packet allocates nothing.
//!
//! # What this backend has beyond DOCA
//!
//! Everything else in doca-flow mirrors a DOCA Flow call; these are the software
//! backend's own, each refused or absent on hardware:
//!
//! | extension | what it is for |
//! |---|---|
//! | running packets: [`SwBackend::process_packet`] and the batch forms, [`Outcome`] with its trail | software dataplanes, simulation, tests (on hardware the NIC runs the pipes) |
//! | [`SwBackend::set_time_ns`] | meters and CT aging on an explicit clock, so runs are deterministic |
//! | [`Backend::entry_tag`] / [`Outcome::tag`] | which entry decided a packet, without a lookup of the caller's own (also on the emulator; `Unsupported` on hardware) |
//! | [`SwBackend::unbounded_acl_priorities`] | ACL priorities above DOCA's 1024, so a software plan needs one ACL pipe per segment |
//! | [`SwBackend::fail_at`] | failure injection: the Nth state-changing call fails, for testing callers' error paths |

mod entries;
mod exec;
pub(crate) mod hash;
mod memo;
mod modify;
mod prefix;
mod table;

use std::collections::VecDeque;

pub use exec::{Brief, DropReason, MAX_HOPS, Outcome, TRAIL_LEN, Verdict};
pub use memo::{AclMemo, FLOW_FIELDS, MemoStats};
pub use table::{ACL_OPTIMIZE_BYTES, ACL_OPTIMIZE_MIN_OPS};

use crate::action::Actions;
use crate::backend::{
    Backend, Completion, Domain, EntryId, EntrySpec, EntryStatus, EntryUpdate, Flags, FlowCfg,
    FwdSpec, Mode, PipeCfg, PipeId, PipeType, PortCfg, PortId, PortKind,
};
use crate::error::{Error, Result};
use crate::matching::{Field, Template};
use crate::monitor::{Counters, TokenBucket};
use crate::net::Family;
use entries::{Op, OpKind, Slot, SwPipeView};
use table::Table;

#[derive(Debug)]
struct SwPort {
    cfg: PortCfg,
    roots: [Option<PipeId>; 2],
    pair: Option<PortId>,
}

#[derive(Debug)]
struct SwPipe {
    cfg: PipeCfg,
    template: Template,
    fwd: Option<FwdSpec>,
    fwd_miss: Option<FwdSpec>,
    miss: Option<Counters>,
    table: Table,
    /// Installed entries plus queued adds: what the capacity limit counts.
    used: u32,
    /// Of `used`, a CT pipe's IPv6 connections. A CT pipe's capacity is the CT
    /// configuration's connections of each family ([`crate::ct::CtCfg`]), not
    /// `nr_entries`.
    used_v6: u32,
    acl: Family,
    lpm_field: Option<Field>,
    /// An ACL pipe whose template reads flow fields only: its answers may be memoised
    /// ([`AclMemo`]).
    memo: bool,
    /// Every field a lookup in this pipe may read (bits of [`Field::bit`]): the
    /// table's ([`Table::fields_used`]) at creation, grown by each control entry's
    /// own match. A walk prefix that read nothing but [`prefix::KEYED_FIELDS`] may be
    /// remembered ([`prefix::PrefixMemo`]).
    reads: u64,
}

/// The software DOCA Flow backend.
#[derive(Debug)]
pub struct SwBackend {
    cfg: Option<FlowCfg>,
    ports: Vec<Option<SwPort>>,
    pipes: Vec<Option<SwPipe>>,
    free_pipes: Vec<u32>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    queues: Vec<VecDeque<Op>>,
    counters_used: u32,
    meters_used: u32,
    now_ns: u64,
    scratch: Box<[u128; Field::COUNT]>,
    /// The fields any live pipe or entry may look at (bits of [`Field::bit`]); grows on
    /// pipe create and control-entry add, recomputed on pipe destroy. When it holds
    /// nothing but meta fields, packets are not parsed unless an RSS hash or a header
    /// rewrite needs them.
    fields_used: u64,
    /// Per port id: where its packets start and where packets sent to it continue,
    /// owner-resolved (a representor's are its switch's), rebuilt whenever a port or a
    /// root pipe comes or goes, so the hot path reads one small record.
    routes: Vec<Route>,
    /// Live ACL pipes: the batch entry points pause walks before ACL lookups only when
    /// there are some.
    acl_pipes: u32,
    /// Scratch space of the batched path (see [`SwBackend::process_batch_each`]).
    batch: exec::BatchScratch,
    /// `doca_flow_ct_init`'s configuration, once called.
    ct: Option<crate::ct::CtCfg>,
    /// Failure injection: see [`SwBackend::fail_at`].
    fail_countdown: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
    /// The largest ACL entry priority taken ([`SwBackend::unbounded_acl_priorities`]).
    acl_max_priority: u32,
    /// The version of every ACL pipe's entry set ([`AclMemo`]): a new one from
    /// [`memo::next_version`] whenever an ACL entry is inserted or removed or an ACL
    /// pipe destroyed.
    acl_version: u64,
    /// Memo use ([`SwBackend::memo_stats`]).
    memo_stats: MemoStats,
    /// Bumped by every change a walk could see (ports, routes, pipes, entries, tags):
    /// what [`SwBackend::prefix`] was recorded under.
    plan_version: u64,
    /// Walk prefixes of the batched path, remembered per (port, packet meta, header
    /// shape) ([`prefix::PrefixMemo`]).
    prefix: prefix::PrefixMemo,
    /// [`SwBackend::set_prefix_memo`].
    prefix_on: bool,
    /// [`SwBackend::set_acl_optimize`]: the byte budget of an ACL pipe's RFC tables.
    acl_optimize: Option<usize>,
}

/// The root pipes packets of one port meet (see [`SwBackend::refresh_routes`]).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Route {
    /// The port is started.
    pub(super) started: bool,
    /// The ingress root of the port's owner.
    pub(super) ingress: Option<PipeId>,
    /// The egress root of the port's owner.
    pub(super) egress: Option<PipeId>,
}

fn backend_err(op: &'static str, msg: impl Into<String>) -> Error {
    let msg: String = msg.into();
    Error::Backend {
        op,
        source: msg.into(),
    }
}

impl Default for SwBackend {
    fn default() -> Self {
        Self {
            cfg: None,
            ports: Vec::new(),
            pipes: Vec::new(),
            free_pipes: Vec::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            queues: Vec::new(),
            counters_used: 0,
            meters_used: 0,
            now_ns: 0,
            scratch: Box::new([0; Field::COUNT]),
            fields_used: 0,
            routes: Vec::new(),
            acl_pipes: 0,
            batch: exec::BatchScratch::default(),
            ct: None,
            fail_countdown: None,
            acl_max_priority: crate::acl_encoding::ACL_MAX_PRIORITY,
            acl_version: memo::next_version(),
            memo_stats: MemoStats::default(),
            plan_version: 0,
            prefix: prefix::PrefixMemo::default(),
            prefix_on: true,
            acl_optimize: Some(ACL_OPTIMIZE_BYTES),
        }
    }
}

impl SwBackend {
    /// A backend with no ports; [`Backend::init`] configures it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept ACL priorities above DOCA's 1024, so that a plan made for the software
    /// backend needs only one ACL pipe however deep its rules overlap.
    ///
    /// A software-backend extension (no DOCA release has it): the hardware backend, and
    /// this one without the call, refuse an ACL entry of priority above
    /// [`ACL_MAX_PRIORITY`](crate::acl_encoding::ACL_MAX_PRIORITY).
    ///
    /// ```
    /// use doca_flow::{AclEntry, Flags, Flow, Fwd, Prefix, SwBackend};
    /// # fn main() -> doca_flow::Result<()> {
    /// for unbounded in [false, true] {
    ///     let mut sw = SwBackend::new();
    ///     if unbounded {
    ///         sw = sw.unbounded_acl_priorities();
    ///     }
    ///     let flow = Flow::builder().build_with(sw)?;
    ///     let p0 = flow.start_port(doca_flow::PortId(0), "p0")?;
    ///     let mut q = flow.take_queue(0)?;
    ///     let acl = p0.pipe_builder("acl").acl().build()?;
    ///     let e = AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 5000, Fwd::Drop);
    ///     assert_eq!(acl.add_entry(&mut q, e, Flags::NoWait).is_ok(), unbounded);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn unbounded_acl_priorities(mut self) -> Self {
        self.acl_max_priority = u32::MAX;
        self
    }

    /// Failure injection, for testing what a caller does when DOCA refuses a call: the
    /// fallible call that brings `countdown` from 1 to 0 fails with
    /// [`Error::Backend`] ("injected failure") and changes nothing. Counted calls are
    /// those that change state and may fail on hardware: `pipe_create`,
    /// `pipe_update_miss`, entry add and update, `entries_process`. A countdown of 0 or
    /// less never fails; the caller keeps the `Arc` to arm it at any point.
    ///
    /// A software-backend extension (DOCA has no such knob).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::AtomicI64;
    /// use doca_flow::{Error, Flow, Fwd, SwBackend};
    /// # fn main() -> doca_flow::Result<()> {
    /// let countdown = Arc::new(AtomicI64::new(1));
    /// let flow = Flow::builder().build_with(SwBackend::new().fail_at(countdown.clone()))?;
    /// let p0 = flow.start_port(doca_flow::PortId(0), "p0")?;
    /// let r = p0.pipe_builder("root").root(true).fwd(Fwd::Drop).build();
    /// assert!(matches!(r, Err(Error::Backend { op: "doca_flow_pipe_create", .. })));
    /// assert!(p0.pipe_builder("root").root(true).fwd(Fwd::Drop).build().is_ok());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn fail_at(mut self, countdown: std::sync::Arc<std::sync::atomic::AtomicI64>) -> Self {
        self.fail_countdown = Some(countdown);
        self
    }

    /// Counts one fallible call for [`SwBackend::fail_at`].
    fn injected(&self, op: &'static str) -> Result<()> {
        match &self.fail_countdown {
            Some(c) if c.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 => {
                Err(backend_err(op, "injected failure"))
            }
            _ => Ok(()),
        }
    }

    /// Queues the add of an entry whose table key and runtime data are ready.
    fn post_add(
        &mut self,
        queue: u16,
        pipe: PipeId,
        port: PortId,
        compiled: table::Compiled,
        data: entries::EntryData,
        flags: Flags,
    ) -> Result<EntryId> {
        let id = self.alloc_slot(pipe);
        let v6 = compiled.is_v6_ct();
        let s = &mut self.slots[id.index as usize];
        s.compiled = Some(compiled);
        s.data = data;
        s.pending = 1;
        let p = self.pipes[pipe.0 as usize].as_mut().expect("checked");
        p.used += 1;
        p.used_v6 += u32::from(v6);
        self.push_op(
            queue,
            Op {
                port,
                entry: id,
                kind: OpKind::Add,
                flags,
            },
        )?;
        Ok(id)
    }

    /// DOCA's rules for a CT entry ([`crate::ct::CtEntry::check`]).
    fn check_ct_entry(&self, e: &crate::ct::CtEntry) -> Result<()> {
        e.check(self.ct.as_ref())
    }

    /// Sets the time that meters see, in nanoseconds (monotonic; earlier times are ignored).
    pub fn set_time_ns(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
    }

    /// The time meters see.
    pub fn time_ns(&self) -> u64 {
        self.now_ns
    }

    fn flow_cfg(&self) -> Result<&FlowCfg> {
        self.cfg
            .as_ref()
            .ok_or_else(|| backend_err("doca_flow_init", "not initialised"))
    }

    fn port(&self, id: PortId) -> Option<&SwPort> {
        self.ports.get(usize::from(id.0)).and_then(Option::as_ref)
    }

    fn pipe(&self, id: PipeId) -> Result<&SwPipe> {
        self.pipes
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| backend_err("pipe", format!("no pipe {}", id.0)))
    }

    fn slot(&self, e: EntryId) -> Option<&Slot> {
        self.slots
            .get(e.index as usize)
            .filter(|s| s.live && s.generation == e.generation)
    }

    fn slot_mut(&mut self, e: EntryId) -> Option<&mut Slot> {
        self.slots
            .get_mut(e.index as usize)
            .filter(|s| s.live && s.generation == e.generation)
    }

    /// The port whose pipes see packets arriving on `port` (the switch port in switch mode).
    fn owner(&self, port: PortId) -> Option<PortId> {
        match self.port(port)?.cfg.kind {
            PortKind::Representor { switch } => Some(switch),
            PortKind::Plain | PortKind::Switch => Some(port),
        }
    }

    /// An ACL pipe's entry set changed: every memo recorded so far is stale.
    pub(super) fn acl_changed(&mut self) {
        self.acl_version = memo::next_version();
    }

    /// How many ACL lookups memos answered, and how many memos were recorded, since
    /// the backend was built (see [`SwBackend::process_batch_each_memo`]).
    pub fn memo_stats(&self) -> MemoStats {
        self.memo_stats
    }

    /// Turns the batched path's walk-prefix memo on (the default) or off: the steps
    /// of a walk up to its first ACL pipe, remembered per (ingress port, packet meta,
    /// header shape) while they read nothing else (`docs/doca-flow.md`, "Walk
    /// prefixes"). Outcomes, frames and counters are the same either way (a proptest
    /// checks it); off, every frame walks from its port's root. For measuring what the
    /// memo gains in one process, and as a way around it.
    pub fn set_prefix_memo(&mut self, on: bool) {
        self.prefix_on = on;
    }

    /// The byte budget of the RFC tables an IPv4 ACL pipe gets after a batch of at
    /// least [`ACL_OPTIMIZE_MIN_OPS`] entry adds and removes in one `entries_process`
    /// ([`Classifier::optimize`](crate::classifier::Classifier::optimize): lookups 3-4x
    /// faster on 1k-rule sets and 2.5x on ClassBench's acl1_10k, for pipes of 9 to
    /// 16384 entries whose tables fit and are cheap enough to build); `None` turns it
    /// off. Default [`ACL_OPTIMIZE_BYTES`]. Lookups answer the same either way. Smaller
    /// batches (single rule changes) keep the tables, combined with the changes, until
    /// more than 8 rules were inserted or an eighth of the tables' rules removed since
    /// (the first removal rebuilds the pipe's trees on the spot, about a millisecond per
    /// 1k entries, for the keys whose rule was removed); then the pipe answers from its
    /// trees until the next large batch builds the tables anew. The
    /// build runs in `entries_process`, under the flow's lock: 5-150 ms for 1k rules,
    /// 0.35-0.55 s for acl1_10k, up to about a second (release build) for a set that
    /// does not get tables in the end.
    pub fn set_acl_optimize(&mut self, budget: Option<usize>) {
        self.acl_optimize = budget;
    }

    /// Whether ACL pipe `pipe` answers from RFC tables now
    /// ([`SwBackend::set_acl_optimize`]); false for other pipes.
    pub fn acl_optimized(&self, pipe: crate::PipeId) -> bool {
        self.pipes
            .get(pipe.0 as usize)
            .and_then(Option::as_ref)
            .is_some_and(|p| p.table.acl_is_optimized())
    }

    /// Something a walk could see changed: remembered walk prefixes are stale.
    pub(super) fn plan_changed(&mut self) {
        self.plan_version = self.plan_version.wrapping_add(1);
    }

    /// Recomputes what depends on the set of live pipes: [`SwBackend::fields_used`] and
    /// [`SwBackend::acl_pipes`].
    fn recount_pipes(&mut self) {
        let live = self.pipes.iter().flatten();
        self.fields_used = live
            .clone()
            .fold(0, |a, p| a | p.table.fields_used(&p.template));
        self.acl_pipes = live.filter(|p| matches!(p.table, Table::Acl(_))).count() as u32;
    }

    /// Rebuilds [`SwBackend::routes`] from the ports and their roots.
    fn refresh_routes(&mut self) {
        self.plan_changed();
        self.routes = (0..self.ports.len())
            .map(|i| match self.owner(PortId(i as u16)) {
                None => Route::default(),
                Some(o) => Route {
                    started: true,
                    ingress: self.root(o, Domain::Ingress),
                    egress: self.root(o, Domain::Egress),
                },
            })
            .collect();
    }

    /// The route of `port` (not started: the default, `started == false`).
    #[inline]
    pub(super) fn route(&self, port: PortId) -> Route {
        self.routes
            .get(usize::from(port.0))
            .copied()
            .unwrap_or_default()
    }

    fn nr_queues(&self) -> u16 {
        self.cfg.as_ref().map_or(1, |c| c.queues.max(1))
    }

    /// Tags an entry: from then on, [`Outcome::tag`] of a packet that hits it (and no
    /// tagged entry after it) is `tag`. The software counterpart of DOCA's per-entry user
    /// context, for a dataplane that must know which of its own objects (a firewall rule,
    /// say) decided each packet without a lookup table of its own. 0 clears the tag. An
    /// update of the entry keeps it; the entry's removal drops it.
    ///
    /// # Errors
    /// [`Error::Backend`] if `entry` is not a live entry of this backend.
    pub fn set_entry_tag(&mut self, entry: EntryId, tag: u32) -> Result<()> {
        let s = self
            .slot_mut(entry)
            .ok_or_else(|| backend_err("entry", format!("no entry {}", entry.index)))?;
        s.tag = tag;
        self.plan_changed();
        Ok(())
    }

    /// The port a pipe belongs to.
    pub fn pipe_port(&self, pipe: PipeId) -> Option<PortId> {
        self.pipe(pipe).ok().map(|p| p.cfg.port)
    }

    /// The root pipe of `port` in `domain`, if any.
    pub fn root(&self, port: PortId, domain: Domain) -> Option<PipeId> {
        self.port(port)?.roots[domain as usize]
    }

    /// The port `port` is paired with, if any.
    pub fn paired(&self, port: PortId) -> Option<PortId> {
        self.port(port)?.pair
    }
}

impl super::sealed::Sealed for SwBackend {}

impl Backend for SwBackend {
    fn acl_max_priority(&self) -> u32 {
        self.acl_max_priority
    }

    fn entry_tag(&mut self, entry: EntryId, tag: u32) -> Result<()> {
        self.set_entry_tag(entry, tag)
    }

    fn init(&mut self, cfg: &FlowCfg) -> Result<()> {
        self.queues = (0..cfg.queues).map(|_| VecDeque::new()).collect();
        self.cfg = Some(cfg.clone());
        Ok(())
    }

    fn port_start(&mut self, cfg: &PortCfg) -> Result<()> {
        let i = usize::from(cfg.id.0);
        if self.ports.len() <= i {
            self.ports.resize_with(i + 1, || None);
        }
        if self.ports[i].is_some() {
            return Err(backend_err(
                "doca_flow_port_start",
                format!("port {} already started", i),
            ));
        }
        if let PortKind::Representor { switch } = cfg.kind {
            if self.port(switch).map(|p| p.cfg.kind) != Some(PortKind::Switch) {
                return Err(backend_err(
                    "doca_flow_port_start",
                    "representor of a port that is not a switch",
                ));
            }
        }
        self.ports[i] = Some(SwPort {
            cfg: cfg.clone(),
            roots: [None, None],
            pair: None,
        });
        self.refresh_routes();
        Ok(())
    }

    // Nothing the software backend holds can dangle: `unsafe` only for the trait.
    unsafe fn port_stop(&mut self, port: PortId) -> Result<()> {
        if self.pipes.iter().flatten().any(|p| p.cfg.port == port) {
            return Err(backend_err("doca_flow_port_stop", "port has pipes"));
        }
        if let Some(p) = self.ports.get_mut(usize::from(port.0)) {
            *p = None;
        }
        self.refresh_routes();
        Ok(())
    }

    fn port_pair(&mut self, port: PortId, pair: PortId) -> Result<()> {
        if self.port(port).is_none() || self.port(pair).is_none() {
            return Err(backend_err("doca_flow_port_pair", "unknown port"));
        }
        for (a, b) in [(port, pair), (pair, port)] {
            if let Some(p) = self.ports[usize::from(a.0)].as_mut() {
                p.pair = Some(b);
            }
        }
        self.plan_changed();
        Ok(())
    }

    fn pipe_create(
        &mut self,
        cfg: &PipeCfg,
        fwd: Option<&FwdSpec>,
        fwd_miss: Option<&FwdSpec>,
    ) -> Result<PipeId> {
        self.injected("doca_flow_pipe_create")?;
        if self.port(cfg.port).is_none() {
            return Err(backend_err("doca_flow_pipe_create", "port not started"));
        }
        let template = Template::compile(&cfg.matcher, cfg.match_mask.as_ref());
        let acl = if cfg.matcher.get(Field::Ipv6Src) != 0 || cfg.matcher.get(Field::Ipv6Dst) != 0 {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let lpm_field = [
            Field::Ipv4Dst,
            Field::Ipv4Src,
            Field::Ipv6Dst,
            Field::Ipv6Src,
        ]
        .into_iter()
        .find(|f| template.changeable.iter().any(|(c, _)| c == f));
        let mut template = template;
        let mut hash_fields = Vec::new();
        match cfg.pipe_type {
            // ACL entries carry the whole 5-tuple; the template only names the family.
            PipeType::Acl => template = Template::default(),
            // The mask (or, without one, the match) selects the hashed fields.
            PipeType::Hash => {
                let sel = cfg.match_mask.as_ref().unwrap_or(&cfg.matcher);
                hash_fields = sel.fields().collect();
                template = Template::default();
            }
            _ => {}
        }
        let ct_zone_word = match (cfg.pipe_type, &self.ct) {
            (PipeType::Ct, None) => {
                return Err(backend_err(
                    "doca_flow_pipe_create",
                    "a CT pipe needs doca_flow_ct_init first (FlowBuilder::conntrack)",
                ));
            }
            (PipeType::Ct, Some(_)) if cfg.is_root => {
                return Err(backend_err(
                    "doca_flow_pipe_create",
                    "a CT pipe cannot be a root pipe",
                ));
            }
            (_, ct) => ct.map_or(0, |c| c.zone_word),
        };
        let table = Table::new(
            cfg.pipe_type,
            &template,
            acl,
            cfg.nr_entries,
            lpm_field,
            hash_fields,
            ct_zone_word,
        );
        let mut pipe = SwPipe {
            cfg: cfg.clone(),
            template,
            fwd: fwd.cloned(),
            fwd_miss: fwd_miss.cloned(),
            miss: cfg.miss_counter.then(Counters::default),
            table,
            used: 0,
            used_v6: 0,
            acl,
            lpm_field,
            memo: false,
            reads: 0,
        };
        pipe.reads = pipe.table.fields_used(&pipe.template);
        // An ACL lookup reads the 5-tuple and the L4 type (`table::acl_key_v4` / `_v6`),
        // plus what the template requires.
        pipe.memo = matches!(pipe.table, Table::Acl(_))
            && pipe.template.required & !memo::FLOW_FIELD_BITS == 0;
        self.fields_used |= pipe.table.fields_used(&pipe.template);
        if matches!(pipe.table, Table::Acl(_)) {
            self.acl_pipes += 1;
        }
        let id = match self.free_pipes.pop() {
            Some(i) => {
                self.pipes[i as usize] = Some(pipe);
                i
            }
            None => {
                self.pipes.push(Some(pipe));
                (self.pipes.len() - 1) as u32
            }
        };
        self.plan_changed();
        if cfg.is_root {
            let port = self.ports[usize::from(cfg.port.0)]
                .as_mut()
                .expect("checked above");
            let r = &mut port.roots[cfg.domain as usize];
            if r.is_some() {
                self.pipes[id as usize] = None;
                self.free_pipes.push(id);
                self.recount_pipes();
                return Err(Error::RootExists {
                    port: cfg.port.0,
                    domain: cfg.domain.name(),
                });
            }
            *r = Some(PipeId(id));
            self.refresh_routes();
        }
        Ok(PipeId(id))
    }

    unsafe fn pipe_destroy(&mut self, pipe: PipeId) {
        let Some(p) = self.pipes.get_mut(pipe.0 as usize).and_then(Option::take) else {
            return;
        };
        if matches!(p.table, Table::Acl(_)) {
            self.acl_changed();
        }
        if p.cfg.is_root {
            if let Some(port) = self
                .ports
                .get_mut(usize::from(p.cfg.port.0))
                .and_then(Option::as_mut)
            {
                let r = &mut port.roots[p.cfg.domain as usize];
                if *r == Some(pipe) {
                    *r = None;
                }
            }
            self.refresh_routes();
        }
        // Drop queued operations on its entries, then the entries themselves.
        let slots = &self.slots;
        for q in &mut self.queues {
            q.retain(|op| slots[op.entry.index as usize].pipe != pipe.0);
        }
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            if s.live && s.pipe == pipe.0 {
                s.live = false;
                s.installed = false;
                s.compiled = None;
                let data = std::mem::take(&mut s.data);
                self.release_resources(&data);
                self.free_slots.push(i as u32);
            }
        }
        self.free_pipes.push(pipe.0);
        self.recount_pipes();
        self.plan_changed();
    }

    fn pipe_update_miss(&mut self, pipe: PipeId, fwd_miss: &FwdSpec) -> Result<()> {
        self.injected("doca_flow_pipe_update_miss")?;
        let p = self
            .pipes
            .get_mut(pipe.0 as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| backend_err("doca_flow_pipe_update_miss", "no such pipe"))?;
        p.fwd_miss = Some(fwd_miss.clone());
        self.plan_changed();
        Ok(())
    }

    fn entry_add(
        &mut self,
        queue: u16,
        pipe: PipeId,
        spec: EntrySpec,
        flags: Flags,
    ) -> Result<EntryId> {
        self.injected("doca_flow_pipe_add_entry")?;
        self.check_queue_room(queue)?;
        let p = self.pipe(pipe)?;
        if spec.kind() != p.cfg.pipe_type {
            return Err(Error::WrongPipeType {
                entry: spec.kind().name(),
                pipe: p.cfg.pipe_type.name(),
            });
        }
        let (used, limit, what) = match (&spec, &self.ct) {
            // DOCA sizes its CT by `doca_flow_ct_cfg_set_connections`, per family; the
            // CT pipe's `nr_entries` plays no part (the SDK shim does not set it).
            (EntrySpec::Ct(e), Some(ct)) if e.origin.is_v6() => {
                (p.used_v6, ct.ipv6_connections, "CT pipe IPv6 connections")
            }
            (EntrySpec::Ct(_), Some(ct)) => (
                p.used - p.used_v6,
                ct.ipv4_connections,
                "CT pipe IPv4 connections",
            ),
            _ => (p.used, p.cfg.nr_entries, "pipe entries"),
        };
        // IPv6 connections without IPv6 CT are refused as invalid (below), not as full.
        let no_ct_family = matches!(spec, EntrySpec::Ct(_)) && limit == 0;
        if used >= limit && !no_ct_family {
            return Err(Error::CapacityExceeded { what, limit });
        }
        let compiled = self.compile(p, &spec)?;
        let view = SwPipeView {
            monitor: p.cfg.monitor,
            actions: p.cfg.actions.clone(),
            fwd: p.fwd.clone(),
        };
        let port = p.cfg.port;
        let (actions, monitor, fwd) = match spec {
            EntrySpec::Basic {
                actions,
                monitor,
                fwd,
                ..
            }
            | EntrySpec::Lpm {
                actions,
                monitor,
                fwd,
                ..
            }
            | EntrySpec::Hash {
                actions,
                monitor,
                fwd,
                ..
            } => (actions, monitor, fwd),
            EntrySpec::Control {
                actions,
                monitor,
                fwd,
                ..
            } => (actions, monitor, Some(fwd)),
            EntrySpec::Acl { fwd, .. } => (Actions::default(), None, Some(fwd)),
            EntrySpec::Ct(e) => {
                self.check_ct_entry(&e)?;
                let actions = Actions {
                    pkt_meta: e.origin_dir.pkt_meta,
                    ..Actions::default()
                };
                let monitor = crate::monitor::Monitor {
                    counter: e.origin_dir.counter,
                    ..crate::monitor::Monitor::default()
                };
                let mut data = self.entry_data(&view, &actions, Some(&monitor), None)?;
                data.ct = Some(Box::new(entries::CtData {
                    reply_actions: Actions {
                        pkt_meta: e.reply_dir.pkt_meta,
                        ..Actions::default()
                    },
                    reply_counted: e.reply_dir.counter,
                    reply_counter: Counters::default(),
                    timeout_ns: u64::from(e.timeout_s) * 1_000_000_000,
                    last_hit_ns: self.now_ns,
                    aged: false,
                }));
                return self.post_add(queue, pipe, port, compiled, data, flags);
            }
        };
        let data = self.entry_data(&view, &actions, monitor.as_ref(), fwd)?;
        self.post_add(queue, pipe, port, compiled, data, flags)
    }

    fn entry_update(
        &mut self,
        queue: u16,
        entry: EntryId,
        update: EntryUpdate,

        flags: Flags,
    ) -> Result<()> {
        self.injected("doca_flow_pipe_update_entry")?;
        self.check_queue_room(queue)?;
        let s = self
            .slot(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?;
        let p = self.pipe(PipeId(s.pipe))?;
        let port = p.cfg.port;
        let mut data = s.data.clone();
        if let Some(a) = update.actions {
            data.actions = p.cfg.actions.constants().overlay(&a);
            data.modifies = data.actions.modifies_headers();
            data.has_actions = !data.actions.is_empty();
        }
        if let Some(m) = update.monitor {
            if let Some(meter) = m.meter {
                if data.meter.is_none() {
                    return Err(Error::Invalid {
                        what: "update",
                        reason: "cannot add a meter to an entry without one".into(),
                    });
                }
                data.meter = Some(Box::new(TokenBucket::new(meter)));
            }
        }
        if let Some(f) = update.fwd {
            data.fwd = Some(f);
        }
        let s = self.slot_mut(entry).expect("checked");
        s.pending += 1;
        s.status = Some(EntryStatus::InProcess);
        self.push_op(
            queue,
            Op {
                port,
                entry,
                kind: OpKind::Update(Box::new(data)),
                flags,
            },
        )
    }

    fn entry_remove(&mut self, queue: u16, entry: EntryId, flags: Flags) -> Result<()> {
        self.check_queue_room(queue)?;
        let s = self
            .slot(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?;
        let port = self.pipe(PipeId(s.pipe))?.cfg.port;
        let s = self.slot_mut(entry).expect("checked");
        s.pending += 1;
        s.status = Some(EntryStatus::InProcess);
        self.push_op(
            queue,
            Op {
                port,
                entry,
                kind: OpKind::Remove,
                flags,
            },
        )
    }

    fn entries_process(
        &mut self,
        port: PortId,
        queue: u16,
        max: u32,
        out: &mut Vec<Completion>,
    ) -> Result<()> {
        self.injected("doca_flow_entries_process")?;
        let Some(q) = self.queues.get_mut(usize::from(queue)) else {
            return Err(Error::Queue {
                queue,
                reason: "no such queue",
            });
        };
        let mut ops = Vec::new();
        let mut rest = VecDeque::with_capacity(q.len());
        let max = if max == 0 { u32::MAX } else { max };
        while let Some(op) = q.pop_front() {
            if op.port == port && (ops.len() as u32) < max {
                ops.push(op);
            } else {
                rest.push_back(op);
            }
        }
        *q = rest;
        if !ops.is_empty() {
            self.plan_changed();
        }
        let prebuilt = self.acl_batch_build(&ops);
        let optimize = self
            .acl_optimize
            .map(|budget| (budget, self.acl_batches(&ops)));
        for op in ops {
            let c = if prebuilt.contains(&op.entry.index) {
                self.complete_prebuilt(queue, &op)
            } else {
                self.complete(queue, op)
            };
            out.push(c);
        }
        if let Some((budget, pipes)) = optimize {
            for pipe in pipes {
                if let Some(p) = self.pipes[pipe as usize].as_mut() {
                    p.table.acl_optimize(budget);
                }
            }
        }
        Ok(())
    }

    fn entry_status(&self, entry: EntryId) -> EntryStatus {
        self.slot(entry)
            .and_then(|s| s.status)
            .unwrap_or(EntryStatus::Success)
    }

    fn entry_installed(&self, entry: EntryId) -> bool {
        self.slot(entry).is_some_and(|s| s.installed)
    }

    fn entry_release(&mut self, entry: EntryId) {
        if let Some(s) = self.slot_mut(entry) {
            s.handle = false;
            self.maybe_free(entry.index);
        }
    }

    fn query_entry(&self, entry: EntryId) -> Result<Counters> {
        self.slot(entry)
            .and_then(|s| s.data.counters())
            .ok_or(Error::NoCounter { what: "entry" })
    }

    fn query_pipe_miss(&self, pipe: PipeId) -> Result<Counters> {
        self.pipe(pipe)?
            .miss
            .ok_or(Error::NoCounter { what: "pipe miss" })
    }

    fn pipe_calc_hash(&self, pipe: PipeId, values: &crate::matching::Match) -> Result<u32> {
        self.pipe(pipe)?
            .table
            .calc_hash(values)
            .ok_or(Error::WrongPipeType {
                entry: "calc_hash",
                pipe: self.pipe(pipe)?.cfg.pipe_type.name(),
            })
    }

    fn ct_init(&mut self, cfg: &crate::ct::CtCfg) -> Result<()> {
        self.flow_cfg()?;
        if self.ports.iter().any(Option::is_some) {
            return Err(backend_err(
                "doca_flow_ct_init",
                "must come before any port starts",
            ));
        }
        if cfg.zone_word > 3 {
            return Err(Error::Invalid {
                what: "ct zone word",
                reason: format!(
                    "meta.u32[{}]: DOCA Flow has four scratch words",
                    cfg.zone_word
                ),
            });
        }
        self.ct = Some(*cfg);
        Ok(())
    }

    fn ct_query(&self, entry: EntryId) -> Result<crate::ct::CtCounters> {
        let s = self
            .slot(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?;
        let ct = s.data.ct.as_ref().ok_or(Error::Invalid {
            what: "entry",
            reason: "not a CT entry".into(),
        })?;
        Ok(crate::ct::CtCounters {
            origin: s.data.counters().unwrap_or_default(),
            reply: if ct.reply_counted {
                ct.reply_counter
            } else {
                Counters::default()
            },
            last_hit_ns: ct.last_hit_ns,
        })
    }

    fn ct_aged(&mut self, port: PortId, out: &mut Vec<EntryId>) {
        let now = self.now_ns;
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(ct) = s.data.ct.as_mut() else {
                continue;
            };
            let owner = self
                .pipes
                .get(s.pipe as usize)
                .and_then(Option::as_ref)
                .map(|p| p.cfg.port);
            if !s.installed || owner != Some(port) || ct.aged || ct.timeout_ns == 0 {
                continue;
            }
            if now.saturating_sub(ct.last_hit_ns) >= ct.timeout_ns {
                ct.aged = true;
                out.push(EntryId {
                    index: i as u32,
                    generation: s.generation,
                });
            }
        }
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn core::any::Any {
        self
    }
}

impl SwBackend {
    /// The flow mode, once initialised.
    pub fn mode(&self) -> Option<Mode> {
        self.cfg.as_ref().map(|c| c.mode)
    }
}
