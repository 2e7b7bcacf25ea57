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
//! `dec_ttl` actions (DOCA needs an action descriptor), updates of non-basic
//! entries, shared meters/counters/RSS, and RSS key selection. Each returns a
//! typed error rather than doing something else.

mod convert;
mod error;
mod fill;

pub use error::DocaError;
use error::{check, unsupported};
use fill::{counters, fill_actions, fill_match, fill_monitor, opt_ptr};

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
    status: sys::doca_flow_entry_status,
    op: sys::doca_flow_entry_op,
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
    status: sys::doca_flow_entry_status,
    op: sys::doca_flow_entry_op,
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

/// Filled actions, monitor and fwd of one entry (each optional).
type EntryParts = (
    Option<sys::dsys_doca_flow_actions>,
    Option<sys::dsys_doca_flow_monitor>,
    Option<sys::dsys_doca_flow_fwd>,
);

struct HwPipe {
    raw: NonNull<sys::doca_flow_pipe>,
    ty: PipeType,
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
    reps: HashMap<PortId, NonNull<sys::doca_dev_rep>>,
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
            reps: HashMap::new(),
            pipes: Vec::new(),
            entries: Vec::new(),
            free_entries: Vec::new(),
            by_raw: HashMap::new(),
            _eal: eal.clone(),
        }
    }

    /// The DOCA version doca-sys was built against, as `(major, minor)`.
    pub fn doca_version() -> (u32, u32) {
        (
            sys::DSYS_DOCA_VERSION >> 16,
            sys::DSYS_DOCA_VERSION & 0xffff,
        )
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

    /// Fills a DOCA fwd from a spec. `queues` keeps RSS queue arrays alive
    /// until the DOCA call that reads them.
    fn fwd(
        &self,
        spec: &FwdSpec,
        queues: &mut Vec<Vec<u16>>,
        op: &'static str,
    ) -> Result<sys::dsys_doca_flow_fwd> {
        let mut f = sys::dsys_doca_flow_fwd::default();
        let (kind, port, pipe, q, nq) = match spec {
            FwdSpec::Port(p) => (sys::DSYS_FWD_PORT, p.0, ptr::null_mut(), ptr::null_mut(), 0),
            FwdSpec::Pipe(p) => (
                sys::DSYS_FWD_PIPE,
                0,
                self.pipe(*p, op)?.raw.as_ptr(),
                ptr::null_mut(),
                0,
            ),
            FwdSpec::Drop => (sys::DSYS_FWD_DROP, 0, ptr::null_mut(), ptr::null_mut(), 0),
            FwdSpec::Kernel => (sys::DSYS_FWD_KERNEL, 0, ptr::null_mut(), ptr::null_mut(), 0),
            FwdSpec::Changeable => (
                sys::DSYS_FWD_CHANGEABLE,
                0,
                ptr::null_mut(),
                ptr::null_mut(),
                0,
            ),
            FwdSpec::Rss(qs) => {
                queues.push(qs.to_vec());
                let v = queues
                    .last_mut()
                    .map_or(ptr::null_mut(), |v| v.as_mut_ptr());
                (sys::DSYS_FWD_RSS, 0, ptr::null_mut(), v, qs.len() as u16)
            }
        };
        // SAFETY: f is a valid, writable fwd; pipe is a live pipe or null;
        // q points into `queues`, which the caller keeps until the DOCA call.
        let rc = unsafe { sys::dsys_doca_flow_fwd_fill(&mut f, kind, port, pipe, q, nq) };
        check(op, rc)?;
        Ok(f)
    }

    /// The per-entry actions, monitor and fwd that basic, LPM and hash
    /// entries share.
    fn entry_parts(
        &self,
        actions: &crate::action::Actions,
        monitor: &Option<Monitor>,
        fwd: &Option<FwdSpec>,
        queues: &mut Vec<Vec<u16>>,
        op: &'static str,
    ) -> Result<EntryParts> {
        Ok((
            fill_actions(actions, op)?,
            monitor.as_ref().and_then(fill_monitor),
            fwd.as_ref().map(|x| self.fwd(x, queues, op)).transpose()?,
        ))
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
            Flags::NoWait => sys::DSYS_DOCA_FLOW_NO_WAIT,
            Flags::WaitForBatch => sys::DSYS_DOCA_FLOW_WAIT_FOR_BATCH,
        }
    }
}

impl super::sealed::Sealed for HwBackend {}

impl Backend for HwBackend {
    fn init(&mut self, cfg: &FlowCfg) -> Result<()> {
        const OP: &str = "doca_flow_init";
        let mut c: *mut sys::doca_flow_cfg = ptr::null_mut();
        // SAFETY: c is a valid out pointer.
        check("doca_flow_cfg_create", unsafe {
            sys::doca_flow_cfg_create(&mut c)
        })?;
        let mode = CString::new(match cfg.mode {
            Mode::Vnf => "vnf,hws",
            Mode::Switch => "switch,hws",
        })
        .map_err(|_| unsupported(OP, "mode string"))?;
        // SAFETY: c was just created and is destroyed below on every path;
        // mode outlives the calls; the callback is a valid extern "C" fn for
        // the life of the process.
        let rc = unsafe {
            let mut rc = sys::doca_flow_cfg_set_pipe_queues(c, cfg.queues);
            if rc == sys::DOCA_SUCCESS {
                rc = sys::doca_flow_cfg_set_mode_args(c, mode.as_ptr());
            }
            if rc == sys::DOCA_SUCCESS {
                rc = sys::doca_flow_cfg_set_queue_depth(c, cfg.queue_depth);
            }
            if rc == sys::DOCA_SUCCESS {
                rc = sys::doca_flow_cfg_set_cb_entry_process(c, Some(entry_process_cb));
            }
            if rc == sys::DOCA_SUCCESS {
                rc = sys::dsys_doca_flow_cfg_set_resources(c, cfg.counters, cfg.meters);
            }
            if rc == sys::DOCA_SUCCESS {
                rc = sys::dsys_doca_flow_init(c);
            }
            sys::doca_flow_cfg_destroy(c);
            rc
        };
        check(OP, rc)?;
        self.cfg = Some(cfg.clone());
        Ok(())
    }

    fn port_start(&mut self, cfg: &PortCfg) -> Result<()> {
        const OP: &str = "doca_flow_port_start";
        let flow = self
            .cfg
            .clone()
            .ok_or_else(|| unsupported(OP, "doca_flow_init has not run"))?;
        let mut c: *mut sys::doca_flow_port_cfg = ptr::null_mut();
        // SAFETY: c is a valid out pointer.
        check("doca_flow_port_cfg_create", unsafe {
            sys::doca_flow_port_cfg_create(&mut c)
        })?;
        let mut port: *mut sys::doca_flow_port = ptr::null_mut();
        let mut rep: *mut sys::doca_dev_rep = ptr::null_mut();
        // SAFETY: c is live until destroyed at the end of this block; the
        // shim looks the devices up through DOCA's DPDK bridge for ports the
        // application probed; port and rep are valid out pointers.
        let rc = unsafe {
            let mut rc = sys::dsys_doca_flow_port_cfg_set_port_id(c, cfg.id.0);
            if rc == sys::DOCA_SUCCESS {
                rc = sys::dsys_doca_flow_port_cfg_set_resources(c, flow.counters, flow.meters);
            }
            if rc == sys::DOCA_SUCCESS {
                // The device calls differ between DOCA 2.9 and 3.x (argument
                // type, representor support): the shim makes them.
                rc = match cfg.kind {
                    PortKind::Plain | PortKind::Switch => {
                        sys::dsys_doca_flow_port_cfg_set_dev_of_port(c, cfg.id.0)
                    }
                    PortKind::Representor { switch } => {
                        sys::dsys_doca_flow_port_cfg_set_representor(
                            c, cfg.id.0, switch.0, &mut rep,
                        )
                    }
                };
            }
            if rc == sys::DOCA_SUCCESS {
                rc = sys::doca_flow_port_start(c, &mut port);
            }
            sys::doca_flow_port_cfg_destroy(c);
            rc
        };
        let rep = NonNull::new(rep);
        let port = check(OP, rc).and_then(|()| {
            NonNull::new(port).ok_or_else(|| unsupported(OP, "DOCA returned no port"))
        });
        let port = match port {
            Ok(p) => p,
            Err(e) => {
                if let Some(r) = rep {
                    // SAFETY: r was opened for this port, which did not start.
                    unsafe { sys::doca_dev_rep_close(r.as_ptr()) };
                }
                return Err(e);
            }
        };
        self.ports.insert(cfg.id, port);
        if let Some(r) = rep {
            self.reps.insert(cfg.id, r);
        }
        Ok(())
    }

    unsafe fn port_stop(&mut self, port: PortId) -> Result<()> {
        const OP: &str = "doca_flow_port_stop";
        let raw = self.port(port, OP)?;
        // SAFETY: raw is a started port; by this method's contract none of its
        // pipes is used again.
        check(OP, unsafe { sys::doca_flow_port_stop(raw.as_ptr()) })?;
        self.ports.remove(&port);
        if let Some(r) = self.reps.remove(&port) {
            // SAFETY: r is the representor this port was started with; the
            // port is stopped, so nothing uses it any more.
            unsafe { sys::doca_dev_rep_close(r.as_ptr()) };
        }
        Ok(())
    }

    fn port_pair(&mut self, port: PortId, pair: PortId) -> Result<()> {
        const OP: &str = "doca_flow_port_pair";
        let (a, b) = (self.port(port, OP)?, self.port(pair, OP)?);
        // SAFETY: both are started ports.
        check(OP, unsafe {
            sys::doca_flow_port_pair(a.as_ptr(), b.as_ptr())
        })
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
            PipeType::Basic => sys::DOCA_FLOW_PIPE_BASIC,
            PipeType::Control => sys::DOCA_FLOW_PIPE_CONTROL,
            PipeType::Acl => sys::DOCA_FLOW_PIPE_ACL,
            PipeType::Lpm => sys::DOCA_FLOW_PIPE_LPM,
            PipeType::Hash => sys::DOCA_FLOW_PIPE_HASH,
            PipeType::Ct => {
                return Err(unsupported(
                    OP,
                    "CT pipes: doca_flow_ct is not bound yet (the sw backend runs them)",
                ));
            }
        };
        let domain = match cfg.domain {
            Domain::Ingress => sys::DOCA_FLOW_PIPE_DOMAIN_DEFAULT,
            Domain::Egress => sys::DOCA_FLOW_PIPE_DOMAIN_EGRESS,
        };
        let matcher = fill_match(&cfg.matcher);
        let mask = cfg.match_mask.as_ref().map(fill_match);
        let mut actions = fill_actions(&cfg.actions, OP)?;
        let monitor = fill_monitor(&cfg.monitor);
        let mut queues = Vec::new();
        let fwd = fwd.map(|f| self.fwd(f, &mut queues, OP)).transpose()?;
        let fwd_miss = fwd_miss.map(|f| self.fwd(f, &mut queues, OP)).transpose()?;
        let mut c: *mut sys::doca_flow_pipe_cfg = ptr::null_mut();
        // SAFETY: c is a valid out pointer; port is a started port.
        check("doca_flow_pipe_cfg_create", unsafe {
            sys::doca_flow_pipe_cfg_create(&mut c, port.as_ptr())
        })?;
        let mut pipe: *mut sys::doca_flow_pipe = ptr::null_mut();
        // SAFETY: c is live until destroyed at the end of the block; every
        // pointer passed points at a local that outlives the calls (DOCA
        // copies the templates during pipe creation); pipe is an out pointer.
        let rc = unsafe {
            let actions_ptr: *mut sys::dsys_doca_flow_actions = actions
                .as_mut()
                .map_or(ptr::null_mut(), |a| a as *mut sys::dsys_doca_flow_actions);
            let steps: [&dyn Fn() -> sys::doca_error_t; 8] = [
                &|| sys::doca_flow_pipe_cfg_set_name(c, name.as_ptr()),
                &|| sys::doca_flow_pipe_cfg_set_type(c, ty),
                &|| sys::doca_flow_pipe_cfg_set_is_root(c, cfg.is_root),
                &|| sys::doca_flow_pipe_cfg_set_domain(c, domain),
                &|| sys::doca_flow_pipe_cfg_set_nr_entries(c, cfg.nr_entries),
                &|| sys::dsys_doca_flow_pipe_cfg_set_match(c, &matcher, opt_ptr(&mask)),
                &|| sys::doca_flow_pipe_cfg_set_miss_counter(c, cfg.miss_counter),
                &|| match &monitor {
                    Some(m) => sys::dsys_doca_flow_pipe_cfg_set_monitor(c, m),
                    None => sys::DOCA_SUCCESS,
                },
            ];
            let mut rc = sys::DOCA_SUCCESS;
            for step in steps {
                rc = step();
                if rc != sys::DOCA_SUCCESS {
                    break;
                }
            }
            if rc == sys::DOCA_SUCCESS && !actions_ptr.is_null() {
                rc = sys::dsys_doca_flow_pipe_cfg_set_actions(
                    c,
                    &actions_ptr,
                    ptr::null(),
                    ptr::null_mut(),
                    1,
                );
            }
            if rc == sys::DOCA_SUCCESS {
                rc = sys::dsys_doca_flow_pipe_create(
                    c,
                    opt_ptr(&fwd),
                    opt_ptr(&fwd_miss),
                    &mut pipe,
                );
            }
            sys::doca_flow_pipe_cfg_destroy(c);
            rc
        };
        check(OP, rc)?;
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
        });
        Ok(PipeId(id as u32))
    }

    unsafe fn pipe_destroy(&mut self, pipe: PipeId) {
        if let Some(p) = self.pipes.get_mut(pipe.0 as usize).and_then(Option::take) {
            // SAFETY: p.raw is a live pipe (taken out of the table once) that,
            // by this method's contract, nothing forwards to any more and whose
            // port still runs; DOCA frees its entries with it.
            unsafe { sys::doca_flow_pipe_destroy(p.raw.as_ptr()) };
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

    fn pipe_update_miss(&mut self, pipe: PipeId, fwd_miss: &FwdSpec) -> Result<()> {
        const OP: &str = "doca_flow_pipe_update_miss";
        let raw = self.pipe(pipe, OP)?.raw;
        let mut queues = Vec::new();
        let f = self.fwd(fwd_miss, &mut queues, OP)?;
        // SAFETY: raw is a live pipe and f a filled fwd.
        check(OP, unsafe {
            sys::dsys_doca_flow_pipe_update_miss(raw.as_ptr(), &f)
        })
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
        let f = Self::flags(flags);
        let id = self.new_entry(pipe);
        let ctx = (id.index as usize + 1) as *mut c_void;
        let mut raw: *mut sys::doca_flow_pipe_entry = ptr::null_mut();
        // Filling the structs can fail before DOCA sees the entry: the slot
        // is then freed, never left behind as an entry "in process".
        let call = |raw: &mut *mut sys::doca_flow_pipe_entry| -> Result<sys::doca_error_t> {
            let mut queues = Vec::new();
            Ok(match &spec {
                EntrySpec::Basic {
                    matcher,
                    actions,
                    monitor,
                    fwd,
                } => {
                    let m = fill_match(matcher);
                    let (a, mon, fw) = self.entry_parts(actions, monitor, fwd, &mut queues, OP)?;
                    // SAFETY: p is a live pipe; every pointer is to a local that
                    // outlives the call or is null; raw is an out pointer.
                    unsafe {
                        sys::dsys_doca_flow_pipe_basic_add_entry(
                            queue,
                            p,
                            &m,
                            0,
                            opt_ptr(&a),
                            opt_ptr(&mon),
                            opt_ptr(&fw),
                            f,
                            ctx,
                            raw,
                        )
                    }
                }
                EntrySpec::Control {
                    priority,
                    matcher,
                    mask,
                    actions,
                    monitor,
                    fwd,
                } => {
                    let m = fill_match(matcher);
                    let k = mask.as_ref().map(fill_match);
                    let a = fill_actions(actions, OP)?;
                    let mon = monitor.as_ref().and_then(fill_monitor);
                    let fw = self.fwd(fwd, &mut queues, OP)?;
                    // SAFETY: as above. Control entries take no flags in DOCA.
                    unsafe {
                        sys::dsys_doca_flow_pipe_control_add_entry(
                            queue,
                            p,
                            &m,
                            opt_ptr(&k),
                            ptr::null(),
                            opt_ptr(&a),
                            ptr::null(),
                            ptr::null(),
                            opt_ptr(&mon),
                            *priority,
                            &fw,
                            ctx,
                            raw,
                        )
                    }
                }
                EntrySpec::Acl {
                    priority,
                    matcher,
                    mask,
                    fwd,
                } => {
                    let m = fill_match(matcher);
                    let k = fill_match(mask);
                    let fw = self.fwd(fwd, &mut queues, OP)?;
                    // SAFETY: as above.
                    unsafe {
                        sys::dsys_doca_flow_pipe_acl_add_entry(
                            queue,
                            p,
                            &m,
                            &k,
                            0,
                            ptr::null(),
                            *priority,
                            &fw,
                            f,
                            ctx,
                            raw,
                        )
                    }
                }
                EntrySpec::Lpm {
                    matcher,
                    mask,
                    actions,
                    monitor,
                    fwd,
                } => {
                    let m = fill_match(matcher);
                    let k = fill_match(mask);
                    let (a, mon, fw) = self.entry_parts(actions, monitor, fwd, &mut queues, OP)?;
                    // SAFETY: as above.
                    unsafe {
                        sys::dsys_doca_flow_pipe_lpm_add_entry(
                            queue,
                            p,
                            &m,
                            &k,
                            0,
                            opt_ptr(&a),
                            opt_ptr(&mon),
                            opt_ptr(&fw),
                            f,
                            ctx,
                            raw,
                        )
                    }
                }
                EntrySpec::Ct(_) => {
                    return Err(unsupported(
                        "doca_flow_ct_add_entry",
                        "doca_flow_ct is not bound yet (the sw backend runs CT pipes)",
                    ));
                }
                EntrySpec::Hash {
                    index,
                    actions,
                    monitor,
                    fwd,
                } => {
                    let (a, mon, fw) = self.entry_parts(actions, monitor, fwd, &mut queues, OP)?;
                    // SAFETY: as above.
                    unsafe {
                        sys::dsys_doca_flow_pipe_hash_add_entry(
                            queue,
                            p,
                            *index,
                            0,
                            opt_ptr(&a),
                            opt_ptr(&mon),
                            opt_ptr(&fw),
                            f,
                            ctx,
                            raw,
                        )
                    }
                }
            })
        };
        let rc = match call(&mut raw) {
            Ok(rc) => rc,
            Err(e) => {
                self.free_entry(id.index);
                return Err(e);
            }
        };
        if rc != sys::DOCA_SUCCESS || raw.is_null() {
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
        let a = match &update.actions {
            Some(a) => fill_actions(a, OP)?,
            None => None,
        };
        let mon = update.monitor.as_ref().and_then(fill_monitor);
        let mut queues = Vec::new();
        let fw = update
            .fwd
            .as_ref()
            .map(|x| self.fwd(x, &mut queues, OP))
            .transpose()?;
        // SAFETY: p is a live pipe and raw one of its entries; the pointers
        // are to locals or null.
        let rc = unsafe {
            sys::dsys_doca_flow_pipe_basic_update_entry(
                queue,
                p,
                0,
                opt_ptr(&a),
                opt_ptr(&mon),
                opt_ptr(&fw),
                Self::flags(flags),
                raw,
            )
        };
        check(OP, rc)?;
        if let Some(e) = self.entries.get_mut(entry.index as usize) {
            e.status = EntryStatus::InProcess;
        }
        Ok(())
    }

    fn entry_remove(&mut self, queue: u16, entry: EntryId, flags: Flags) -> Result<()> {
        const OP: &str = "doca_flow_pipe_remove_entry";
        let raw = self
            .entry(entry)
            .ok_or(Error::EntryNotInstalled(entry.index))?
            .raw;
        // SAFETY: raw is an entry DOCA returned and has not removed.
        check(OP, unsafe {
            sys::doca_flow_pipe_remove_entry(queue, Self::flags(flags), raw)
        })?;
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
        let rc =
            unsafe { sys::doca_flow_entries_process(raw.as_ptr(), queue, PROCESS_TIMEOUT_US, max) };
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
                sys::DOCA_FLOW_ENTRY_OP_DEL => EntryOp::Remove,
                sys::DOCA_FLOW_ENTRY_OP_UPD => EntryOp::Update,
                _ => EntryOp::Add,
            };
            let ok = c.status == sys::DOCA_FLOW_ENTRY_STATUS_SUCCESS;
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
        let mut q = sys::dsys_doca_flow_resource_query::default();
        // SAFETY: raw is a live entry; q is a valid out struct.
        check(OP, unsafe {
            sys::dsys_doca_flow_resource_query_entry(raw, &mut q)
        })?;
        Ok(counters(&q))
    }

    fn query_pipe_miss(&self, pipe: PipeId) -> Result<Counters> {
        const OP: &str = "doca_flow_resource_query_pipe_miss";
        let raw = self.pipe(pipe, OP)?.raw;
        let mut q = sys::dsys_doca_flow_resource_query::default();
        // SAFETY: raw is a live pipe; q is a valid out struct.
        check(OP, unsafe {
            sys::dsys_doca_flow_resource_query_pipe_miss(raw.as_ptr(), &mut q)
        })?;
        Ok(counters(&q))
    }

    fn pipe_calc_hash(&self, pipe: PipeId, values: &Match) -> Result<u32> {
        const OP: &str = "doca_flow_pipe_calc_hash";
        let raw = self.pipe(pipe, OP)?.raw;
        let m = fill_match(values);
        let mut hash = 0u32;
        // SAFETY: raw is a live pipe; m and hash are valid.
        check(OP, unsafe {
            sys::dsys_doca_flow_pipe_calc_hash(raw.as_ptr(), &m, &mut hash)
        })?;
        Ok(hash)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Drop for HwBackend {
    fn drop(&mut self) {
        if self.cfg.is_none() {
            return;
        }
        // DOCA's teardown order: pipes (flushed with their ports), ports,
        // then the library. The safe layer has normally stopped every port
        // already; stop what is left.
        for (_, p) in self.ports.drain() {
            // SAFETY: p is a started port that nothing uses any more.
            unsafe {
                sys::doca_flow_port_pipes_flush(p.as_ptr());
                sys::doca_flow_port_stop(p.as_ptr());
            }
        }
        for (_, r) in self.reps.drain() {
            // SAFETY: the representor's port is stopped above.
            unsafe { sys::doca_dev_rep_close(r.as_ptr()) };
        }
        // SAFETY: every port is stopped; nothing uses DOCA Flow any more.
        unsafe { sys::doca_flow_destroy() };
    }
}
