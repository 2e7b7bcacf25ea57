//! The hardware backend (feature `doca`): every [`Backend`] call made
//! through DOCA Flow on a BlueField, via doca-sys.
//!
//! **Status: type-checked against public DOCA 3.3.0109 and 3.0.0058 header
//! copies; the DOCA 2.9 LTS, 3.1 and 3.2 paths were checked against
//! NVIDIA's samples only, not compiled; it has never been linked against
//! `libdoca_flow` or run on hardware** (see `docs/doca-versions.md`).
//!
//! Version differences (entry-add signatures, flag values, `_v1` symbols,
//! shared resources, port devices and representors, struct layouts) are
//! hidden by doca-sys's C shim: this module only calls `dsys_doca_*` for
//! those, and fills DOCA's structs through the shim's fillers from flat
//! host-order specs. The DOCA functions it calls by name have the same
//! prototypes in the 3.0 and 3.3 headers and the same call sites in the
//! 2.9 samples.
//!
//! # Preconditions
//!
//! The application starts the DPDK EAL, probes the devices (on DOCA:
//! `doca_dev_open` + `doca_dpdk_port_probe`, or `-a <pci>,dv_flow_en=2` EAL
//! arguments) and starts the DPDK ports before [`Backend::init`] is called;
//! DOCA Flow port ids are the DPDK port ids.
//!
//! # What it does not do (yet)
//!
//! Updates of LPM and ACL entries (DOCA has them; the seam carries basic
//! updates only), shared meters/counters/RSS, and RSS key selection. Each
//! returns a typed error rather than doing something else. `dec_ttl` goes
//! through the seam as a flag; the shim makes it DOCA's action descriptor
//! (see `docs/doca-versions.md` for what that rests on).

mod convert;
mod error;

use convert::{actions_spec, match_spec, monitor_spec};
pub use error::DocaError;
use error::{OK, check, unsupported};

use core::any::Any;
use core::ffi::c_void;
use core::ptr::{self, NonNull};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;

use doca_sys::doca as sys;

use super::{
    Backend, Completion, Domain, EntryError, EntryId, EntryOp, EntrySpec, EntryStatus, EntryUpdate,
    Flags, FlowCfg, FwdSpec, Mode, PipeCfg, PipeId, PipeType, PortCfg, PortId, PortKind,
};
use crate::error::{Error, Result};
use crate::matching::Match;
use crate::monitor::{Counters, Monitor};

/// How long one `doca_flow_entries_process` call may wait, in microseconds
/// (NVIDIA's samples use 10 ms).
const PROCESS_TIMEOUT_US: u64 = 10_000;

/// A completion as the entry-process callback reported it.
struct RawCompletion {
    entry: *mut sys::doca_flow_pipe_entry,
    ctx: usize,
    queue: u16,
    status: u32,
    op: u32,
}

thread_local! {
    /// DOCA calls the entry callback synchronously from
    /// `doca_flow_entries_process` on the calling thread: completions are
    /// collected here during that call.
    static COMPLETIONS: RefCell<Vec<RawCompletion>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C" fn entry_process_cb(
    entry: *mut sys::doca_flow_pipe_entry,
    pipe_queue: u16,
    status: u32,
    op: u32,
    user_ctx: *mut c_void,
) {
    COMPLETIONS.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.push(RawCompletion {
                entry,
                ctx: user_ctx as usize,
                queue: pipe_queue,
                status,
                op,
            });
        }
    });
}

/// `Some(v)` as a pointer to `v`, `None` as null.
fn opt_ptr<T>(v: &Option<T>) -> *const T {
    v.as_ref().map_or(ptr::null(), |v| v as *const T)
}

/// The specs of one entry: its seam struct points into these, so they live
/// until the call that reads it.
#[derive(Default)]
struct EntryParts {
    matcher: Option<sys::dsys_header_spec>,
    mask: Option<sys::dsys_header_spec>,
    actions: Option<sys::dsys_header_spec>,
    monitor: Option<sys::dsys_monitor_spec>,
    fwd: Option<sys::dsys_fwd_spec>,
    /// RSS queue arrays the fwd points into.
    queues: Vec<u16>,
}

impl EntryParts {
    fn spec(&self, priority: u32, hash_index: u32) -> sys::dsys_entry_spec {
        sys::dsys_entry_spec {
            match_: opt_ptr(&self.matcher),
            match_mask: opt_ptr(&self.mask),
            actions: opt_ptr(&self.actions),
            monitor: opt_ptr(&self.monitor),
            fwd: opt_ptr(&self.fwd),
            priority,
            hash_index,
        }
    }
}

struct HwPipe {
    raw: NonNull<sys::doca_flow_pipe>,
    ty: PipeType,
    port: PortId,
}

struct HwEntry {
    raw: *mut sys::doca_flow_pipe_entry,
    generation: u32,
    pipe: PipeId,
    status: EntryStatus,
    installed: bool,
    released: bool,
    live: bool,
}

/// DOCA Flow on hardware. See the module docs for its status.
pub struct HwBackend {
    cfg: Option<FlowCfg>,
    ports: HashMap<PortId, NonNull<sys::doca_flow_port>>,
    /// DOCA representors opened for started representor ports (DOCA 3.x),
    /// closed when their port stops.
    pipes: Vec<Option<HwPipe>>,
    entries: Vec<HwEntry>,
    free_entries: Vec<u32>,
    by_raw: HashMap<usize, u32>,
    /// DOCA Flow runs on the EAL: the backend keeps it alive, and as the last field it
    /// is dropped after `Drop::drop` has destroyed DOCA Flow (`doca_flow_destroy`
    /// before `rte_eal_cleanup`).
    _eal: crate::dpdk::Eal,
}

// SAFETY: the raw DOCA handles are used only through &mut self (the Flow
// serialises every backend call behind a mutex), and DOCA Flow allows its
// control path to be driven from any one thread at a time.
unsafe impl Send for HwBackend {}

impl fmt::Debug for HwBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HwBackend")
            .field("ports", &self.ports.len())
            .field("pipes", &self.pipes.iter().flatten().count())
            .field("entries", &(self.entries.len() - self.free_entries.len()))
            .finish()
    }
}

impl HwBackend {
    /// A backend on the running EAL, which it keeps alive until DOCA Flow is destroyed;
    /// DOCA Flow starts in [`Backend::init`].
    pub fn new(eal: &crate::dpdk::Eal) -> HwBackend {
        HwBackend {
            cfg: None,
            ports: HashMap::new(),
            pipes: Vec::new(),
            entries: Vec::new(),
            free_entries: Vec::new(),
            by_raw: HashMap::new(),
            _eal: eal.clone(),
        }
    }

    /// The DOCA version the seam implements, as `(major, minor)`: the SDK's the
    /// shim was built against, or the release whose rules the emulator follows.
    pub fn doca_version() -> (u32, u32) {
        // SAFETY: no preconditions; returns a constant.
        let v = unsafe { sys::dsys_doca_version() };
        (v >> 16, v & 0xffff)
    }

    fn port(&self, id: PortId, op: &'static str) -> Result<NonNull<sys::doca_flow_port>> {
        self.ports
            .get(&id)
            .copied()
            .ok_or_else(|| unsupported(op, &format!("port {} is not started", id.0)))
    }

    fn pipe(&self, id: PipeId, op: &'static str) -> Result<&HwPipe> {
        self.pipes
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| unsupported(op, &format!("pipe {} does not exist", id.0)))
    }

    fn entry(&self, id: EntryId) -> Option<&HwEntry> {
        self.entries
            .get(id.index as usize)
            .filter(|e| e.live && e.generation == id.generation)
    }

    /// The seam's fwd for `spec`; an RSS fwd points into `queues`, which the
    /// caller keeps (unmoved) until the call that reads it.
    fn fwd(
        &self,
        spec: &FwdSpec,
        queues: &mut Vec<u16>,
        op: &'static str,
    ) -> Result<sys::dsys_fwd_spec> {
        let mut f = sys::dsys_fwd_spec::default();
        match spec {
            FwdSpec::Port(p) => {
                f.kind = sys::DSYS_FWD_PORT;
                f.port_id = p.0;
            }
            FwdSpec::Pipe(p) => {
                f.kind = sys::DSYS_FWD_PIPE;
                f.pipe = self.pipe(*p, op)?.raw.as_ptr();
            }
            FwdSpec::Drop => f.kind = sys::DSYS_FWD_DROP,
            FwdSpec::Kernel => f.kind = sys::DSYS_FWD_KERNEL,
            FwdSpec::Changeable => f.kind = sys::DSYS_FWD_CHANGEABLE,
            FwdSpec::Rss(qs) => {
                *queues = qs.to_vec();
                f.kind = sys::DSYS_FWD_RSS;
                f.rss_queues = queues.as_ptr();
                f.nr_rss_queues = u16::try_from(qs.len())
                    .map_err(|_| unsupported(op, "more than 65535 RSS queues"))?;
            }
        }
        Ok(f)
    }

    /// The specs of an entry's parts.
    fn parts(
        &self,
        matcher: Option<&Match>,
        mask: Option<&Match>,
        actions: Option<&crate::action::Actions>,
        monitor: Option<&Monitor>,
        fwd: Option<&FwdSpec>,
        op: &'static str,
    ) -> Result<Box<EntryParts>> {
        // Boxed: the fwd spec points into `queues`, which must not move.
        let mut p = Box::<EntryParts>::default();
        p.matcher = matcher.map(|m| match_spec(m, op)).transpose()?;
        p.mask = mask.map(|m| match_spec(m, op)).transpose()?;
        p.actions = match actions {
            Some(a) => actions_spec(a, op)?,
            None => None,
        };
        p.monitor = monitor.and_then(monitor_spec);
        if let Some(f) = fwd {
            let mut queues = Vec::new();
            let spec = self.fwd(f, &mut queues, op)?;
            p.queues = queues;
            p.fwd = Some(sys::dsys_fwd_spec {
                rss_queues: if spec.kind == sys::DSYS_FWD_RSS {
                    p.queues.as_ptr()
                } else {
                    ptr::null()
                },
                ..spec
            });
        }
        Ok(p)
    }

    fn new_entry(&mut self, pipe: PipeId) -> EntryId {
        let slot = HwEntry {
            raw: ptr::null_mut(),
            generation: 0,
            pipe,
            status: EntryStatus::InProcess,
            installed: false,
            released: false,
            live: true,
        };
        if let Some(i) = self.free_entries.pop() {
            let e = &mut self.entries[i as usize];
            let generation = e.generation.wrapping_add(1);
            *e = HwEntry { generation, ..slot };
            EntryId {
                index: i,
                generation,
            }
        } else {
            self.entries.push(slot);
            EntryId {
                index: self.entries.len() as u32 - 1,
                generation: 0,
            }
        }
    }

    fn free_entry(&mut self, index: u32) {
        if let Some(e) = self.entries.get_mut(index as usize) {
            if !e.raw.is_null() {
                self.by_raw.remove(&(e.raw as usize));
            }
            e.live = false;
            e.raw = ptr::null_mut();
            self.free_entries.push(index);
        }
    }

    fn flags(flags: Flags) -> u32 {
        match flags {
            Flags::NoWait => sys::DSYS_FLAG_NO_WAIT,
            Flags::WaitForBatch => sys::DSYS_FLAG_WAIT_FOR_BATCH,
        }
    }
}

impl super::sealed::Sealed for HwBackend {}

impl Backend for HwBackend {
    fn init(&mut self, cfg: &FlowCfg) -> Result<()> {
        const OP: &str = "doca_flow_init";
        if self.cfg.is_some() {
            return Err(unsupported(OP, "DOCA Flow is already initialised"));
        }
        let c = sys::dsys_flow_cfg {
            queues: cfg.queues,
            queue_depth: cfg.queue_depth,
            nr_counters: cfg.counters,
            nr_meters: cfg.meters,
            switch_mode: cfg.mode == Mode::Switch,
            cb: Some(entry_process_cb),
        };
        // SAFETY: c is a valid configuration; the callback is an extern "C" fn
        // that lives for the whole process.
        check(OP, unsafe { sys::dsys_flow_init(&c) })?;
        self.cfg = Some(cfg.clone());
        Ok(())
    }

    fn port_start(&mut self, cfg: &PortCfg) -> Result<()> {
        const OP: &str = "doca_flow_port_start";
        let flow = self
            .cfg
            .clone()
            .ok_or_else(|| unsupported(OP, "doca_flow_init has not run"))?;
        let (kind, switch) = match cfg.kind {
            PortKind::Plain => (sys::DSYS_PORT_PLAIN, 0),
            PortKind::Switch => (sys::DSYS_PORT_SWITCH, 0),
            PortKind::Representor { switch } => (sys::DSYS_PORT_REPRESENTOR, switch.0),
        };
        let c = sys::dsys_port_cfg {
            port_id: cfg.id.0,
            kind,
            switch_port_id: switch,
            nr_counters: flow.counters,
            nr_meters: flow.meters,
        };
        let mut port: *mut sys::doca_flow_port = ptr::null_mut();
        // SAFETY: c is a valid configuration and port a valid out pointer; the
        // application probed the DPDK port (module docs).
        check(OP, unsafe { sys::dsys_port_start(&c, &mut port) })?;
        let port = NonNull::new(port).ok_or_else(|| unsupported(OP, "DOCA returned no port"))?;
        self.ports.insert(cfg.id, port);
        Ok(())
    }

    unsafe fn port_stop(&mut self, port: PortId) -> Result<()> {
        const OP: &str = "doca_flow_port_stop";
        let raw = self.port(port, OP)?;
        // SAFETY: raw is a started port; by this method's contract none of its
        // pipes is used again.
        check(OP, unsafe { sys::dsys_port_stop(raw.as_ptr()) })?;
        self.ports.remove(&port);
        Ok(())
    }

    fn port_pair(&mut self, port: PortId, pair: PortId) -> Result<()> {
        const OP: &str = "doca_flow_port_pair";
        let (a, b) = (self.port(port, OP)?, self.port(pair, OP)?);
        // SAFETY: both are started ports.
        check(OP, unsafe { sys::dsys_port_pair(a.as_ptr(), b.as_ptr()) })
    }

    fn pipe_create(
        &mut self,
        cfg: &PipeCfg,
        fwd: Option<&FwdSpec>,
        fwd_miss: Option<&FwdSpec>,
    ) -> Result<PipeId> {
        const OP: &str = "doca_flow_pipe_create";
        let port = self.port(cfg.port, OP)?;
        let name = CString::new(cfg.name.as_str())
            .map_err(|_| unsupported(OP, "a pipe name with a NUL byte"))?;
        let ty = match cfg.pipe_type {
            PipeType::Basic => sys::DSYS_PIPE_BASIC,
            PipeType::Control => sys::DSYS_PIPE_CONTROL,
            PipeType::Acl => sys::DSYS_PIPE_ACL,
            PipeType::Lpm => sys::DSYS_PIPE_LPM,
            PipeType::Hash => sys::DSYS_PIPE_HASH,
            PipeType::Ct => sys::DSYS_PIPE_CT,
        };
        let parts = self.parts(
            Some(&cfg.matcher),
            cfg.match_mask.as_ref(),
            Some(&cfg.actions),
            Some(&cfg.monitor),
            fwd,
            OP,
        )?;
        let miss = self.parts(None, None, None, None, fwd_miss, OP)?;
        let spec = sys::dsys_pipe_spec {
            name: name.as_ptr(),
            type_: ty,
            is_root: cfg.is_root,
            egress: cfg.domain == Domain::Egress,
            nr_entries: cfg.nr_entries,
            miss_counter: cfg.miss_counter,
            match_: opt_ptr(&parts.matcher),
            match_mask: opt_ptr(&parts.mask),
            actions: opt_ptr(&parts.actions),
            monitor: opt_ptr(&parts.monitor),
        };
        let mut pipe: *mut sys::doca_flow_pipe = ptr::null_mut();
        // SAFETY: port is a started port; spec and the fwds point at locals
        // (name, parts, miss) that outlive the call; pipe is an out pointer.
        check(OP, unsafe {
            sys::dsys_pipe_create(
                port.as_ptr(),
                &spec,
                opt_ptr(&parts.fwd),
                opt_ptr(&miss.fwd),
                &mut pipe,
            )
        })?;
        let raw = NonNull::new(pipe).ok_or_else(|| unsupported(OP, "DOCA returned no pipe"))?;
        let id = match self.pipes.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        };
        self.pipes[id] = Some(HwPipe {
            raw,
            ty: cfg.pipe_type,
            port: cfg.port,
        });
        Ok(PipeId(id as u32))
    }

    unsafe fn pipe_destroy(&mut self, pipe: PipeId) {
        if let Some(p) = self.pipes.get_mut(pipe.0 as usize).and_then(Option::take) {
            // SAFETY: p.raw is a live pipe (taken out of the table once) that,
            // by this method's contract, nothing forwards to any more and whose
            // port still runs; DOCA frees its entries with it.
            unsafe { sys::dsys_pipe_destroy(p.raw.as_ptr()) };
            self.forget_entries_of(pipe);
        }
    }

    fn pipe_update_miss(&mut self, pipe: PipeId, fwd_miss: &FwdSpec) -> Result<()> {
        const OP: &str = "doca_flow_pipe_update_miss";
        let raw = self.pipe(pipe, OP)?.raw;
        let miss = self.parts(None, None, None, None, Some(fwd_miss), OP)?;
        let Some(f) = &miss.fwd else {
            return Err(unsupported(OP, "no fwd"));
        };
        // SAFETY: raw is a live pipe; f (and the queues it may point into) live
        // in `miss` until after the call.
        check(OP, unsafe { sys::dsys_pipe_update_miss(raw.as_ptr(), f) })
    }

    fn entry_add(
        &mut self,
        queue: u16,
        pipe: PipeId,
        spec: EntrySpec,
        flags: Flags,
    ) -> Result<EntryId> {
        const OP: &str = "doca_flow_pipe_add_entry";
        let p = self.pipe(pipe, OP)?.raw.as_ptr();
        // The seam struct of each kind, and the parts it points into. Building
        // them can fail before DOCA sees the entry: no slot is taken then.
        let (parts, priority, index) = match &spec {
            EntrySpec::Basic {
                matcher,
                actions,
                monitor,
                fwd,
            } => (
                self.parts(
                    Some(matcher),
                    None,
                    Some(actions),
                    monitor.as_ref(),
                    fwd.as_ref(),
                    OP,
                )?,
                0,
                0,
            ),
            EntrySpec::Control {
                priority,
                matcher,
                mask,
                actions,
                monitor,
                fwd,
            } => (
                self.parts(
                    Some(matcher),
                    mask.as_ref(),
                    Some(actions),
                    monitor.as_ref(),
                    Some(fwd),
                    OP,
                )?,
                *priority,
                0,
            ),
            EntrySpec::Acl {
                priority,
                matcher,
                mask,
                fwd,
            } => (
                self.parts(Some(matcher), Some(mask), None, None, Some(fwd), OP)?,
                *priority,
                0,
            ),
            EntrySpec::Lpm {
                matcher,
                mask,
                actions,
                monitor,
                fwd,
            } => (
                self.parts(
                    Some(matcher),
                    Some(mask),
                    Some(actions),
                    monitor.as_ref(),
                    fwd.as_ref(),
                    OP,
                )?,
                0,
                0,
            ),
            EntrySpec::Hash {
                index,
                actions,
                monitor,
                fwd,
            } => (
                self.parts(
                    None,
                    None,
                    Some(actions),
                    monitor.as_ref(),
                    fwd.as_ref(),
                    OP,
                )?,
                0,
                *index,
            ),
            EntrySpec::Ct(ct) => return self.ct_entry_add(queue, pipe, p, ct, flags),
        };
        let seam = parts.spec(priority, index);
        let id = self.new_entry(pipe);
        let ctx = (id.index as usize + 1) as *mut c_void;
        let mut raw: *mut sys::doca_flow_pipe_entry = ptr::null_mut();
        // SAFETY: p is a live pipe; seam points into `parts`, alive until after
        // the call; raw is an out pointer.
        let rc = unsafe { sys::dsys_entry_add(queue, p, &seam, Self::flags(flags), ctx, &mut raw) };
        if rc != OK || raw.is_null() {
            // Not queued: never reported as installed.
            self.free_entry(id.index);
            check(OP, rc)?;
            return Err(unsupported(OP, "DOCA returned no entry"));
        }
        self.entries[id.index as usize].raw = raw;
        self.by_raw.insert(raw as usize, id.index);
        Ok(id)
    }

    fn entry_update(
        &mut self,
        queue: u16,
        entry: EntryId,
        update: EntryUpdate,
        flags: Flags,
    ) -> Result<()> {
        const OP: &str = "doca_flow_pipe_update_entry";
        let e = self
            .entry(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?;
        let (raw, pipe) = (e.raw, e.pipe);
        let hp = self.pipe(pipe, OP)?;
        if hp.ty != PipeType::Basic {
            return Err(unsupported(OP, "updates of non-basic entries"));
        }
        let p = hp.raw.as_ptr();
        let parts = self.parts(
            None,
            None,
            update.actions.as_ref(),
            update.monitor.as_ref(),
            update.fwd.as_ref(),
            OP,
        )?;
        let seam = parts.spec(0, 0);
        // SAFETY: p is a live pipe and raw one of its entries; seam points into
        // `parts`, alive until after the call.
        check(OP, unsafe {
            sys::dsys_entry_update(queue, p, raw, &seam, Self::flags(flags))
        })?;
        if let Some(e) = self.entries.get_mut(entry.index as usize) {
            e.status = EntryStatus::InProcess;
        }
        Ok(())
    }

    fn entry_remove(&mut self, queue: u16, entry: EntryId, flags: Flags) -> Result<()> {
        const OP: &str = "doca_flow_pipe_remove_entry";
        let e = self
            .entry(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?;
        let raw = e.raw;
        let pipe = self.pipe(e.pipe, OP)?;
        if pipe.ty == PipeType::Ct {
            // SAFETY: raw is a CT entry of this live pipe that DOCA has not removed.
            check("doca_flow_ct_rm_entry", unsafe {
                sys::dsys_ct_entry_remove(queue, pipe.raw.as_ptr(), raw, Self::flags(flags))
            })?;
        } else {
            // SAFETY: raw is an entry DOCA returned and has not removed.
            check(OP, unsafe {
                sys::dsys_entry_remove(queue, raw, Self::flags(flags))
            })?;
        }
        if let Some(e) = self.entries.get_mut(entry.index as usize) {
            e.status = EntryStatus::InProcess;
        }
        Ok(())
    }

    fn entries_process(
        &mut self,
        port: PortId,
        queue: u16,
        max: u32,
        out: &mut Vec<Completion>,
    ) -> Result<()> {
        const OP: &str = "doca_flow_entries_process";
        let raw = self.port(port, OP)?;
        COMPLETIONS.with(|c| c.borrow_mut().clear());
        // SAFETY: raw is a started port; the callback runs on this thread
        // during the call and only touches the thread-local above.
        let rc = unsafe { sys::dsys_entries_process(raw.as_ptr(), queue, PROCESS_TIMEOUT_US, max) };
        let done: Vec<RawCompletion> = COMPLETIONS.with(|c| std::mem::take(&mut *c.borrow_mut()));
        for c in done {
            let index = match c.ctx {
                0 => match self.by_raw.get(&(c.entry as usize)) {
                    Some(i) => *i,
                    None => continue,
                },
                n => (n - 1) as u32,
            };
            let Some(e) = self.entries.get_mut(index as usize).filter(|e| e.live) else {
                continue;
            };
            let op = match c.op {
                sys::DSYS_ENTRY_OP_ADD => EntryOp::Add,
                sys::DSYS_ENTRY_OP_DEL => EntryOp::Remove,
                sys::DSYS_ENTRY_OP_UPD => EntryOp::Update,
                // Aging reports come from ct_aged (dsys_aging_handle).
                _ => continue,
            };
            let ok = c.status == sys::DSYS_ENTRY_STATUS_SUCCESS;
            e.status = if ok {
                EntryStatus::Success
            } else {
                EntryStatus::Error
            };
            match (op, ok) {
                (EntryOp::Add, true) => e.installed = true,
                (EntryOp::Remove, true) => e.installed = false,
                _ => {}
            }
            let generation = e.generation;
            let released = e.released;
            out.push(Completion {
                entry: EntryId { index, generation },
                queue: c.queue,
                op,
                status: e.status,
                error: (!ok).then_some(EntryError::NotInstalled),
            });
            let uninstalled = !self.entries[index as usize].installed;
            if released && uninstalled {
                self.free_entry(index);
            }
        }
        check(OP, rc)
    }

    fn entry_status(&self, entry: EntryId) -> EntryStatus {
        self.entry(entry).map_or(EntryStatus::Error, |e| e.status)
    }

    fn entry_installed(&self, entry: EntryId) -> bool {
        self.entry(entry).is_some_and(|e| e.installed)
    }

    fn entry_release(&mut self, entry: EntryId) {
        let free = match self.entries.get_mut(entry.index as usize) {
            Some(e) if e.live && e.generation == entry.generation => {
                e.released = true;
                !e.installed && e.status != EntryStatus::InProcess
            }
            _ => false,
        };
        if free {
            self.free_entry(entry.index);
        }
    }

    fn query_entry(&self, entry: EntryId) -> Result<Counters> {
        const OP: &str = "doca_flow_resource_query_entry";
        let raw = self
            .entry(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?
            .raw;
        let (mut packets, mut bytes) = (0u64, 0u64);
        // SAFETY: raw is a live entry; the outputs are valid.
        check(OP, unsafe {
            sys::dsys_query_entry(raw, &mut packets, &mut bytes)
        })?;
        Ok(Counters { packets, bytes })
    }

    fn query_pipe_miss(&self, pipe: PipeId) -> Result<Counters> {
        const OP: &str = "doca_flow_resource_query_pipe_miss";
        let raw = self.pipe(pipe, OP)?.raw;
        let (mut packets, mut bytes) = (0u64, 0u64);
        // SAFETY: raw is a live pipe; the outputs are valid.
        check(OP, unsafe {
            sys::dsys_query_pipe_miss(raw.as_ptr(), &mut packets, &mut bytes)
        })?;
        Ok(Counters { packets, bytes })
    }

    fn pipe_calc_hash(&self, pipe: PipeId, values: &Match) -> Result<u32> {
        const OP: &str = "doca_flow_pipe_calc_hash";
        let raw = self.pipe(pipe, OP)?.raw;
        let m = match_spec(values, OP)?;
        let mut hash = 0u32;
        // SAFETY: raw is a live pipe; m and hash are valid.
        check(OP, unsafe {
            sys::dsys_pipe_calc_hash(raw.as_ptr(), &m, &mut hash)
        })?;
        Ok(hash)
    }

    fn ct_init(&mut self, cfg: &crate::ct::CtCfg) -> Result<()> {
        const OP: &str = "doca_flow_ct_init";
        let c = sys::dsys_ct_cfg {
            zone_word: u32::try_from(cfg.zone_word)
                .map_err(|_| unsupported(OP, "a zone word index above u32"))?,
            ipv4_connections: cfg.ipv4_connections,
            ipv6_connections: cfg.ipv6_connections,
        };
        // SAFETY: c is a valid configuration.
        check(OP, unsafe { sys::dsys_ct_init(&c) })
    }

    fn ct_query(&self, entry: EntryId) -> Result<crate::ct::CtCounters> {
        const OP: &str = "doca_flow_ct_query_entry";
        let e = self
            .entry(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?;
        let pipe = self.pipe(e.pipe, OP)?;
        if pipe.ty != PipeType::Ct {
            return Err(unsupported(OP, "an entry of a pipe that is not a CT pipe"));
        }
        let mut c = sys::dsys_ct_counters::default();
        // SAFETY: raw is a live CT entry of this live pipe; c is a valid out struct.
        check(OP, unsafe {
            sys::dsys_ct_query(pipe.raw.as_ptr(), e.raw, &mut c)
        })?;
        Ok(crate::ct::CtCounters {
            origin: Counters {
                packets: c.origin_packets,
                bytes: c.origin_bytes,
            },
            reply: Counters {
                packets: c.reply_packets,
                bytes: c.reply_bytes,
            },
            last_hit_ns: c.last_hit_s.saturating_mul(1_000_000_000),
        })
    }

    fn ct_aged(&mut self, port: PortId, out: &mut Vec<EntryId>) {
        let Ok(raw) = self.port(port, "doca_flow_aging_handle") else {
            return;
        };
        COMPLETIONS.with(|c| c.borrow_mut().clear());
        // SAFETY: raw is a started port; the callback runs on this thread during the
        // call and only touches the thread-local.
        let _ = unsafe { sys::dsys_aging_handle(raw.as_ptr(), 0, PROCESS_TIMEOUT_US, 0) };
        let done: Vec<RawCompletion> = COMPLETIONS.with(|c| std::mem::take(&mut *c.borrow_mut()));
        for c in done.into_iter().filter(|c| c.op == sys::DSYS_ENTRY_OP_AGED) {
            let index = match c.ctx {
                0 => match self.by_raw.get(&(c.entry as usize)) {
                    Some(i) => *i,
                    None => continue,
                },
                n => (n - 1) as u32,
            };
            if let Some(e) = self.entries.get(index as usize).filter(|e| e.live) {
                out.push(EntryId {
                    index,
                    generation: e.generation,
                });
            }
        }
    }

    #[cfg(feature = "doca-emu")]
    fn entry_tag(&mut self, entry: EntryId, tag: u32) -> Result<()> {
        let raw = self
            .entry(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?
            .raw;
        super::emu::tag_entry(raw, tag)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl HwBackend {
    /// `doca_flow_ct_add_entry` of a connection.
    fn ct_entry_add(
        &mut self,
        queue: u16,
        pipe: PipeId,
        raw_pipe: *mut sys::doca_flow_pipe,
        ct: &crate::ct::CtEntry,
        flags: Flags,
    ) -> Result<EntryId> {
        const OP: &str = "doca_flow_ct_add_entry";
        let spec = convert::ct_entry_spec(ct);
        let id = self.new_entry(pipe);
        let ctx = (id.index as usize + 1) as *mut c_void;
        let mut raw: *mut sys::doca_flow_pipe_entry = ptr::null_mut();
        // SAFETY: raw_pipe is a live CT pipe; spec is a valid local; raw is an out
        // pointer.
        let rc = unsafe {
            sys::dsys_ct_entry_add(queue, raw_pipe, &spec, Self::flags(flags), ctx, &mut raw)
        };
        if rc != OK || raw.is_null() {
            self.free_entry(id.index);
            check(OP, rc)?;
            return Err(unsupported(OP, "DOCA returned no entry"));
        }
        self.entries[id.index as usize].raw = raw;
        self.by_raw.insert(raw as usize, id.index);
        Ok(id)
    }

    /// Forgets the entries of a pipe DOCA destroyed.
    fn forget_entries_of(&mut self, pipe: PipeId) {
        let gone: Vec<u32> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live && e.pipe == pipe)
            .map(|(i, _)| i as u32)
            .collect();
        for i in gone {
            self.free_entry(i);
        }
    }
}

impl Drop for HwBackend {
    fn drop(&mut self) {
        if self.cfg.is_none() {
            return;
        }
        // DOCA's teardown order: pipes, ports (representors before their
        // switch port), then the library. The safe layer has normally
        // destroyed every pipe and stopped every port already; what is left
        // goes in that order.
        let mut left: Vec<(PortId, NonNull<sys::doca_flow_port>)> = self.ports.drain().collect();
        let switches: Vec<PortId> = left
            .iter()
            .filter(|(id, _)| self.pipes.iter().flatten().any(|p| p.port == *id))
            .map(|(id, _)| *id)
            .collect();
        left.sort_by_key(|(id, _)| switches.contains(id));
        for (_, p) in left {
            // SAFETY: p is a started port that nothing uses any more: flushing
            // destroys its pipes, then it stops.
            unsafe {
                sys::dsys_port_pipes_flush(p.as_ptr());
                sys::dsys_port_stop(p.as_ptr());
            }
        }
        self.pipes.clear();
        // SAFETY: every port is stopped; nothing uses DOCA Flow any more.
        unsafe { sys::dsys_flow_destroy() };
    }
}
