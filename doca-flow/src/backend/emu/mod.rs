//! The DOCA Flow contract emulator (feature `doca-emu`): doca-sys's DOCA Flow
//! seam (`include/doca_sys_doca.h`) implemented without an SDK, so the hardware
//! backend ([`crate::backend::hw`]) runs anywhere, CI included.
//!
//! The emulator defines the seam's `dsys_*` symbols. It keeps DOCA Flow's state
//! the way the library would (one library per process, started ports, pipes and
//! their entries, queues of entry operations), executes the pipes on the software
//! backend (the "wire": [`wire`]) and checks the rules DOCA documents on every call:
//!
//! * order: `doca_flow_init` once, before any port; ports before their pipes, pipes
//!   before their entries; a representor after its switch port;
//! * handles: no call on a destroyed or unknown port, pipe or entry;
//! * ports and modes: vnf mode starts plain ports only, switch mode a switch port and
//!   its representors; one root pipe per port and domain; a pipe (and its entries)
//!   forwards to pipes of its own port only (in vnf mode each port has its own pipes)
//!   and to ports started in this instance;
//! * entry flags: a batch of `WAIT_FOR_BATCH` operations is closed by a `NO_WAIT` one
//!   before `entries_process` is called for it; at most `queue_depth` operations are
//!   pending on a queue;
//! * completions arrive only from `entries_process`, through the entry-process callback,
//!   and every operation's status must have arrived before its port stops;
//! * counters are read only from entries whose add completed in hardware;
//! * ACL priorities within 0..=1024; a pipe holds at most `nr_entries` entries
//!   (`DOCA_ERROR_FULL`);
//! * teardown: no pipe destroyed while another pipe or entry forwards to it, no port
//!   stopped with pipes (or, for a switch port, started representors), no library
//!   destroyed with ports started; nothing leaked.
//!
//! A broken rule returns a DOCA error where DOCA would (or `DOCA_ERROR_BAD_STATE`) and
//! is recorded: [`violations`] lists them, and the tests that run the hardware backend
//! on the emulator assert that none happened. [`inject`] makes calls fail on demand
//! (an entry add refused, an asynchronous error status, a full table, a pipe creation
//! refused), for the callers' error paths.
//!
//! What it is not: a model of the NIC's performance or resources beyond the counts
//! above, nor of DOCA's CT (`doca_flow_ct` is not bound yet). It runs the seam, so it
//! proves the hardware backend and the callers above it, not the C shim beneath it
//! (which only a DOCA SDK compiles; see `docs/doca-versions.md`).

mod convert;

use core::ffi::{c_char, c_void};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use doca_sys::doca as sys;

use super::sw::SwBackend;
use super::{
    Backend, Completion, Domain, EntryId, EntryOp, EntrySpec, EntryStatus, EntryUpdate, Flags,
    FlowCfg, FwdSpec, Mode, PipeCfg, PipeId, PipeType, PortCfg, PortId, PortKind,
};
use crate::error::{Error, Result};

/// The DOCA release whose documented rules the emulator checks (major << 16 | minor).
const VERSION: u32 = (3 << 16) | 3;
/// DOCA's largest ACL priority.
const ACL_MAX_PRIORITY: u32 = 1024;

const OK: sys::dsys_rc = sys::DSYS_OK as sys::dsys_rc;
const BAD_STATE: sys::dsys_rc = sys::DSYS_ERR_BAD_STATE as sys::dsys_rc;
const INVALID: sys::dsys_rc = sys::DSYS_ERR_INVALID_VALUE as sys::dsys_rc;
const NOT_FOUND: sys::dsys_rc = sys::DSYS_ERR_NOT_FOUND as sys::dsys_rc;
const FULL: sys::dsys_rc = sys::DSYS_ERR_FULL as sys::dsys_rc;
const NO_MEMORY: sys::dsys_rc = sys::DSYS_ERR_NO_MEMORY as sys::dsys_rc;
const NOT_SUPPORTED: sys::dsys_rc = sys::DSYS_ERR_NOT_SUPPORTED as sys::dsys_rc;
const IN_USE: sys::dsys_rc = sys::DSYS_ERR_IN_USE as sys::dsys_rc;
const ALREADY_EXIST: sys::dsys_rc = sys::DSYS_ERR_ALREADY_EXIST as sys::dsys_rc;

/// A failure to inject ([`inject`]): the `nth` matching call from now (1 = the next)
/// fails, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `dsys_entry_add` returns `DOCA_ERROR_NO_MEMORY` (the add is refused at once).
    EntryAddRefused {
        /// Which add, counting from the next.
        nth: u32,
    },
    /// The add is accepted, and its completion reports an error status (the entry
    /// never reaches the data path).
    AsyncError {
        /// Which add, counting from the next.
        nth: u32,
    },
    /// `dsys_entry_add` returns `DOCA_ERROR_FULL`, as a full table does.
    TableFull {
        /// Which add, counting from the next.
        nth: u32,
    },
    /// `dsys_pipe_create` returns `DOCA_ERROR_NO_MEMORY`.
    PipeCreateRefused {
        /// Which creation, counting from the next.
        nth: u32,
    },
}

/// What the emulator holds now: for tests that check teardown and updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    /// Whether DOCA Flow is initialised.
    pub initialised: bool,
    /// Started ports.
    pub ports: usize,
    /// Live pipes.
    pub pipes: usize,
    /// Entries whose add was posted and that are not removed (installed or pending).
    pub entries: usize,
    /// Entry operations whose status has not been delivered yet.
    pub pending: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Port = 1,
    Pipe = 2,
    Entry = 3,
}

/// A handle as the seam passes it: kind, generation and index packed into a
/// pointer-sized value that is never dereferenced (validated on every call instead, so
/// a stale handle is a recorded violation, not undefined behaviour).
fn handle<T>(kind: Kind, index: usize, generation: u32) -> *mut T {
    let v = ((kind as usize) << 56) | ((generation as usize & 0xff_ffff) << 32) | (index + 1);
    core::ptr::without_provenance_mut(v)
}

fn unhandle<T>(p: *mut T, kind: Kind) -> Option<(usize, u32)> {
    let v = p as usize;
    if v >> 56 != kind as usize || v & 0xffff_ffff == 0 {
        return None;
    }
    Some(((v & 0xffff_ffff) - 1, ((v >> 32) & 0xff_ffff) as u32))
}

struct EmuPort {
    id: PortId,
    kind: u32,
    switch: u16,
}

struct EmuPipe {
    generation: u32,
    sw: PipeId,
    port: usize,
    ty: u32,
    name: String,
    nr_entries: u32,
    /// The pipe's monitor counts: its entries have counters.
    counter: bool,
    /// Pipes this pipe (its fwd and fwd_miss) forwards to.
    targets: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The add is posted; its status has not been delivered.
    Adding,
    /// The add completed: in the data path.
    Installed,
    /// An update or a remove is posted on an installed entry.
    Changing,
    /// Gone (removed, failed, or its pipe destroyed): the slot waits for reuse.
    Gone,
}

struct EmuEntry {
    generation: u32,
    /// The sw backend's entry (`None`: a phantom whose add fails asynchronously).
    sw: Option<EntryId>,
    pipe: usize,
    ctx: usize,
    state: State,
    /// The queue of its pending operation.
    queue: u16,
    /// Pipes its fwd points to.
    targets: Vec<usize>,
    counter: bool,
}

/// A completion to deliver through the callback, outside the lock.
struct Delivery {
    entry: *mut sys::doca_flow_pipe_entry,
    queue: u16,
    status: u32,
    op: u32,
    ctx: usize,
}

struct Emu {
    sw: SwBackend,
    cfg: FlowCfg,
    cb: sys::dsys_entry_cb,
    ports: Vec<Option<EmuPort>>,
    pipes: Vec<Option<EmuPipe>>,
    pipe_generation: u32,
    entries: Vec<EmuEntry>,
    free_entries: Vec<usize>,
    by_sw: HashMap<EntryId, usize>,
    /// Per queue: operations posted and not completed, and whether the last posted
    /// one was `WAIT_FOR_BATCH` (a batch still open).
    pending: Vec<usize>,
    open_batch: Vec<bool>,
    /// Phantom adds that complete with an error: (queue, port index, entry index).
    failing: Vec<(u16, usize, usize)>,
    /// `doca_flow_ct_init` ran.
    ct: bool,
}

/// Everything the emulator holds, for the whole process (like DOCA Flow itself).
struct Global {
    emu: Option<Emu>,
    violations: Vec<String>,
    faults: Vec<(Fault, u32)>,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global {
    emu: None,
    violations: Vec::new(),
    faults: Vec::new(),
});

fn global() -> MutexGuard<'static, Global> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

impl Global {
    /// Records a broken rule and returns the code DOCA would give.
    fn violation(&mut self, rc: sys::dsys_rc, what: String) -> sys::dsys_rc {
        self.violations.push(what);
        rc
    }

    /// Whether the next call of the fault's kind fails (and counts it).
    fn fault(&mut self, is: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut hit = None;
        self.faults.retain_mut(|(f, left)| {
            if hit.is_none() && is(f) {
                *left -= 1;
                if *left == 0 {
                    hit = Some(*f);
                    return false;
                }
            }
            true
        });
        hit
    }
}

/// The rules broken so far (and forgets them): empty when the hardware backend and
/// its callers kept DOCA's contract.
pub fn violations() -> Vec<String> {
    std::mem::take(&mut global().violations)
}

/// Arms a failure ([`Fault`]). Faults not yet hit stay armed until [`reset`].
pub fn inject(fault: Fault) {
    let nth = match fault {
        Fault::EntryAddRefused { nth }
        | Fault::AsyncError { nth }
        | Fault::TableFull { nth }
        | Fault::PipeCreateRefused { nth } => nth.max(1),
    };
    global().faults.push((fault, nth));
}

/// Disarms every fault and forgets the violations (a test's clean start). The library
/// state is not touched: a test that leaves DOCA Flow initialised finds it so.
pub fn reset() {
    let mut g = global();
    g.faults.clear();
    g.violations.clear();
}

/// What the emulator holds now.
pub fn census() -> Census {
    let g = global();
    let Some(e) = &g.emu else {
        return Census::default();
    };
    Census {
        initialised: true,
        ports: e.ports.iter().flatten().count(),
        pipes: e.pipes.iter().flatten().count(),
        entries: e.entries.iter().filter(|x| x.state != State::Gone).count(),
        pending: e.pending.iter().sum(),
    }
}

/// The emulated hardware's data path, locked: the software backend that executes
/// the pipes the hardware backend created (its ids are the emulator's own, not the
/// hardware backend's). `None` when DOCA Flow is not initialised.
pub fn wire() -> Option<Wire> {
    let g = global();
    g.emu.is_some().then_some(Wire(g))
}

/// The emulated wire; derefs to the [`SwBackend`] that executes the pipes.
pub struct Wire(MutexGuard<'static, Global>);

impl core::ops::Deref for Wire {
    type Target = SwBackend;
    fn deref(&self) -> &SwBackend {
        &self.0.emu.as_ref().expect("checked in wire()").sw
    }
}

impl core::ops::DerefMut for Wire {
    fn deref_mut(&mut self) -> &mut SwBackend {
        &mut self.0.emu.as_mut().expect("checked in wire()").sw
    }
}

/// Tags the entry behind a hardware-backend handle on the wire
/// ([`Backend::entry_tag`]).
pub(crate) fn tag_entry(raw: *mut sys::doca_flow_pipe_entry, tag: u32) -> Result<()> {
    let mut g = global();
    let found = g.emu.as_mut().and_then(|e| {
        let i = e.entry_index(raw)?;
        e.entries[i].sw
    });
    let Some(id) = found else {
        return Err(Error::EntryNotInstalled(0));
    };
    let e = g.emu.as_mut().expect("found above");
    e.sw.set_entry_tag(id, tag)
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the seam passes NUL-terminated names, read during the call only.
    unsafe { core::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// Reads an optional spec pointer of the seam.
///
/// # Safety
/// `p` is null or points at a valid `T` for the duration of the call.
unsafe fn opt<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the caller's contract.
    unsafe { p.as_ref() }
}

impl Emu {
    fn port_index(&self, p: *mut sys::doca_flow_port) -> Option<usize> {
        let (i, _) = unhandle(p, Kind::Port)?;
        self.ports.get(i)?.as_ref().map(|_| i)
    }

    fn pipe_index(&self, p: *mut sys::doca_flow_pipe) -> Option<usize> {
        let (i, generation) = unhandle(p, Kind::Pipe)?;
        let pipe = self.pipes.get(i)?.as_ref()?;
        (pipe.generation == generation).then_some(i)
    }

    fn entry_index(&self, p: *mut sys::doca_flow_pipe_entry) -> Option<usize> {
        let (i, generation) = unhandle(p, Kind::Entry)?;
        let e = self.entries.get(i)?;
        (e.generation == generation && e.state != State::Gone).then_some(i)
    }

    fn entry_handle(&self, i: usize) -> *mut sys::doca_flow_pipe_entry {
        handle(Kind::Entry, i, self.entries[i].generation)
    }

    /// The doca-flow fwd of a seam fwd, and the pipe it targets.
    /// A fwd of a pipe (or entry) of the port at index `from`. DOCA's rules (the DOCA
    /// Flow guide; `flow_hairpin_vnf` and `simple_fwd_vnf` in doca-samples): a pipe
    /// forwards to pipes of its own port only (in vnf mode each port has its own pipes,
    /// in switch mode they all live on the switch port), and a port fwd names a port
    /// started in this DOCA Flow instance (in vnf mode: sent out of that port).
    fn fwd(
        &self,
        f: &sys::dsys_fwd_spec,
        from: usize,
    ) -> core::result::Result<(FwdSpec, Option<usize>), String> {
        Ok(match f.kind {
            sys::DSYS_FWD_PORT => {
                let started = self
                    .ports
                    .iter()
                    .flatten()
                    .any(|p| p.id == PortId(f.port_id));
                if !started {
                    return Err(format!(
                        "a fwd to port {}, which is not a started port of this DOCA Flow \
                         instance",
                        f.port_id
                    ));
                }
                (FwdSpec::Port(PortId(f.port_id)), None)
            }
            sys::DSYS_FWD_PIPE => {
                let i = self.pipe_index(f.pipe).ok_or_else(|| {
                    format!(
                        "a fwd to pipe handle {:p}, which is not a live pipe",
                        f.pipe
                    )
                })?;
                let target = self.pipes[i].as_ref().ok_or("unreachable")?;
                if target.port != from {
                    let id = |pi: usize| {
                        self.ports
                            .get(pi)
                            .and_then(Option::as_ref)
                            .map_or(u16::MAX, |p| p.id.0)
                    };
                    return Err(format!(
                        "a fwd from a pipe of port {} to pipe `{}` of port {}: a pipe \
                         forwards only to pipes of its own port",
                        id(from),
                        target.name,
                        id(target.port)
                    ));
                }
                (FwdSpec::Pipe(target.sw), Some(i))
            }
            sys::DSYS_FWD_DROP => (FwdSpec::Drop, None),
            sys::DSYS_FWD_KERNEL => (FwdSpec::Kernel, None),
            sys::DSYS_FWD_CHANGEABLE => (FwdSpec::Changeable, None),
            sys::DSYS_FWD_RSS => {
                if f.rss_queues.is_null() || f.nr_rss_queues == 0 {
                    return Err("an RSS fwd with no queues".into());
                }
                // SAFETY: the seam's contract: nr_rss_queues valid u16s, read now.
                let qs = unsafe {
                    core::slice::from_raw_parts(f.rss_queues, usize::from(f.nr_rss_queues))
                };
                (FwdSpec::Rss(qs.into()), None)
            }
            k => return Err(format!("an unknown fwd kind {k}")),
        })
    }

    fn new_entry(&mut self, pipe: usize, ctx: usize) -> usize {
        let e = EmuEntry {
            generation: 0,
            sw: None,
            pipe,
            ctx,
            state: State::Adding,
            queue: 0,
            targets: Vec::new(),
            counter: false,
        };
        if let Some(i) = self.free_entries.pop() {
            let generation = self.entries[i].generation.wrapping_add(1);
            self.entries[i] = EmuEntry { generation, ..e };
            i
        } else {
            self.entries.push(e);
            self.entries.len() - 1
        }
    }

    fn drop_entry(&mut self, i: usize) {
        let e = &mut self.entries[i];
        if e.state == State::Gone {
            return;
        }
        if matches!(e.state, State::Adding | State::Changing) {
            // Its operation goes with it (a destroyed pipe takes its queued operations).
            let q = usize::from(e.queue);
            self.pending[q] = self.pending[q].saturating_sub(1);
        }
        let e = &mut self.entries[i];
        e.state = State::Gone;
        e.targets.clear();
        if let Some(sw) = e.sw.take() {
            self.by_sw.remove(&sw);
            self.sw.entry_release(sw);
        }
        self.free_entries.push(i);
    }

    /// Who forwards to pipe `i`: another live pipe or a live entry.
    fn forwarders(&self, i: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .pipes
            .iter()
            .flatten()
            .filter(|p| p.targets.contains(&i))
            .map(|p| format!("pipe `{}`", p.name))
            .collect();
        let n = self
            .entries
            .iter()
            .filter(|e| e.state != State::Gone && e.targets.contains(&i))
            .count();
        if n > 0 {
            out.push(format!("{n} entries"));
        }
        out
    }

    fn pipe_entries(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.state != State::Gone && e.pipe == i)
            .map(|(k, _)| k)
    }

    fn destroy_pipe(&mut self, i: usize) {
        let Some(p) = self.pipes[i].take() else {
            return;
        };
        let gone: Vec<usize> = self.pipe_entries(i).collect();
        for k in gone {
            self.drop_entry(k);
        }
        // SAFETY: the sw backend holds nothing that can dangle.
        unsafe { self.sw.pipe_destroy(p.sw) };
    }
}

/// Runs `f` on the initialised emulator, or records the call made before
/// `doca_flow_init`.
fn with_emu(op: &str, f: impl FnOnce(&mut Emu, &mut Vec<String>) -> sys::dsys_rc) -> sys::dsys_rc {
    let mut g = global();
    let Global {
        emu, violations, ..
    } = &mut *g;
    match emu {
        Some(e) => f(e, violations),
        None => g.violation(BAD_STATE, format!("{op} before doca_flow_init")),
    }
}

fn broke(v: &mut Vec<String>, rc: sys::dsys_rc, what: String) -> sys::dsys_rc {
    v.push(what);
    rc
}

// --- the seam ---------------------------------------------------------------------

/// `dsys_doca_version`.
#[unsafe(no_mangle)]
pub extern "C" fn dsys_doca_version() -> u32 {
    VERSION
}

/// `dsys_error_name`.
#[unsafe(no_mangle)]
pub extern "C" fn dsys_error_name(rc: sys::dsys_rc) -> *const c_char {
    let s: &'static core::ffi::CStr = match rc {
        OK => c"DOCA_SUCCESS",
        IN_USE => c"DOCA_ERROR_IN_USE",
        NOT_SUPPORTED => c"DOCA_ERROR_NOT_SUPPORTED",
        INVALID => c"DOCA_ERROR_INVALID_VALUE",
        NO_MEMORY => c"DOCA_ERROR_NO_MEMORY",
        NOT_FOUND => c"DOCA_ERROR_NOT_FOUND",
        BAD_STATE => c"DOCA_ERROR_BAD_STATE",
        ALREADY_EXIST => c"DOCA_ERROR_ALREADY_EXIST",
        FULL => c"DOCA_ERROR_FULL",
        _ => c"DOCA_ERROR_UNKNOWN",
    };
    s.as_ptr()
}

/// `dsys_error_descr`.
#[unsafe(no_mangle)]
pub extern "C" fn dsys_error_descr(rc: sys::dsys_rc) -> *const c_char {
    let s: &'static core::ffi::CStr = match rc {
        OK => c"Success",
        IN_USE => c"Resource already in use",
        NOT_SUPPORTED => c"Operation not supported",
        INVALID => c"Invalid input",
        NO_MEMORY => c"Memory allocation failure",
        NOT_FOUND => c"Resource Not Found",
        BAD_STATE => c"Bad State (the DOCA Flow emulator recorded a contract violation: see doca_flow::backend::emu::violations)",
        ALREADY_EXIST => c"Resource already exist",
        FULL => c"No more space in resource",
        _ => c"Unknown error",
    };
    s.as_ptr()
}

/// `dsys_flow_init`.
///
/// # Safety
/// `cfg` points at a valid configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_flow_init(cfg: *const sys::dsys_flow_cfg) -> sys::dsys_rc {
    let mut g = global();
    // SAFETY: the caller's contract.
    let Some(cfg) = (unsafe { opt(cfg) }) else {
        return g.violation(INVALID, "doca_flow_init with no configuration".into());
    };
    if g.emu.is_some() {
        return g.violation(
            BAD_STATE,
            "doca_flow_init while DOCA Flow is initialised (once per process, until doca_flow_destroy)".into(),
        );
    }
    if cfg.queues == 0 || cfg.queue_depth == 0 {
        return g.violation(
            INVALID,
            "doca_flow_init with zero queues or queue depth".into(),
        );
    }
    let flow = FlowCfg {
        mode: if cfg.switch_mode {
            Mode::Switch
        } else {
            Mode::Vnf
        },
        queues: cfg.queues,
        queue_depth: cfg.queue_depth,
        counters: cfg.nr_counters,
        meters: cfg.nr_meters,
    };
    let mut sw = SwBackend::new();
    if sw.init(&flow).is_err() {
        return INVALID;
    }
    let q = usize::from(cfg.queues);
    g.emu = Some(Emu {
        sw,
        cfg: flow,
        cb: cfg.cb,
        ports: Vec::new(),
        pipes: Vec::new(),
        pipe_generation: 0,
        entries: Vec::new(),
        free_entries: Vec::new(),
        by_sw: HashMap::new(),
        pending: vec![0; q],
        open_batch: vec![false; q],
        failing: Vec::new(),
        ct: false,
    });
    OK
}

/// `dsys_flow_destroy`.
#[unsafe(no_mangle)]
pub extern "C" fn dsys_flow_destroy() {
    let mut g = global();
    let Some(e) = g.emu.take() else {
        g.violations
            .push("doca_flow_destroy without doca_flow_init".into());
        return;
    };
    let ports = e.ports.iter().flatten().count();
    if ports > 0 {
        g.violations.push(format!(
            "doca_flow_destroy with {ports} ports still started (stop them first)"
        ));
    }
    let pending: usize = e.pending.iter().sum();
    if pending > 0 {
        g.violations.push(format!(
            "doca_flow_destroy with {pending} entry operations whose status never arrived"
        ));
    }
}

/// `dsys_port_start`.
///
/// # Safety
/// `cfg` points at a valid configuration and `port` is a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_port_start(
    cfg: *const sys::dsys_port_cfg,
    port: *mut *mut sys::doca_flow_port,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let (Some(cfg), false) = (unsafe { opt(cfg) }, port.is_null()) else {
        return global().violation(INVALID, "doca_flow_port_start with null arguments".into());
    };
    with_emu("doca_flow_port_start", |e, v| {
        let id = cfg.port_id;
        let i = usize::from(id);
        if e.ports.get(i).is_some_and(Option::is_some) {
            return broke(v, IN_USE, format!("port {id} started twice"));
        }
        let kind = match (e.cfg.mode, cfg.kind) {
            (Mode::Vnf, sys::DSYS_PORT_PLAIN) => PortKind::Plain,
            (Mode::Switch, sys::DSYS_PORT_SWITCH) => PortKind::Switch,
            (Mode::Switch, sys::DSYS_PORT_REPRESENTOR) => {
                let sw = usize::from(cfg.switch_port_id);
                let ok = e
                    .ports
                    .get(sw)
                    .and_then(Option::as_ref)
                    .is_some_and(|p| p.kind == sys::DSYS_PORT_SWITCH);
                if !ok {
                    return broke(
                        v,
                        BAD_STATE,
                        format!(
                            "representor port {id} started before its switch port {}",
                            cfg.switch_port_id
                        ),
                    );
                }
                PortKind::Representor {
                    switch: PortId(cfg.switch_port_id),
                }
            }
            (mode, k) => {
                return broke(v, INVALID, format!("port {id}: kind {k} in {mode:?} mode"));
            }
        };
        let pc = PortCfg {
            id: PortId(id),
            name: format!("port{id}"),
            kind,
        };
        if let Err(err) = e.sw.port_start(&pc) {
            return broke(v, INVALID, format!("port {id}: {err}"));
        }
        if e.ports.len() <= i {
            e.ports.resize_with(i + 1, || None);
        }
        e.ports[i] = Some(EmuPort {
            id: PortId(id),
            kind: cfg.kind,
            switch: cfg.switch_port_id,
        });
        // SAFETY: port is a valid out pointer (checked non-null above).
        unsafe { *port = handle(Kind::Port, i, 0) };
        OK
    })
}

/// `dsys_port_stop`.
///
/// # Safety
/// Any value may be passed; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_port_stop(port: *mut sys::doca_flow_port) -> sys::dsys_rc {
    with_emu("doca_flow_port_stop", |e, v| {
        let Some(i) = e.port_index(port) else {
            return broke(
                v,
                NOT_FOUND,
                format!("doca_flow_port_stop of {port:p}, not a started port"),
            );
        };
        let pipes: Vec<String> = e
            .pipes
            .iter()
            .flatten()
            .filter(|p| p.port == i)
            .map(|p| format!("`{}`", p.name))
            .collect();
        if !pipes.is_empty() {
            return broke(
                v,
                IN_USE,
                format!(
                    "port {i} stopped with live pipes {} (destroy them first)",
                    pipes.join(", ")
                ),
            );
        }
        let reps: Vec<u16> = e
            .ports
            .iter()
            .flatten()
            .filter(|p| p.kind == sys::DSYS_PORT_REPRESENTOR && usize::from(p.switch) == i)
            .map(|p| p.id.0)
            .collect();
        if !reps.is_empty() {
            return broke(
                v,
                IN_USE,
                format!("switch port {i} stopped before its representors {reps:?}"),
            );
        }
        // SAFETY: the sw backend holds nothing that can dangle.
        let _ = unsafe { e.sw.port_stop(PortId(i as u16)) };
        e.ports[i] = None;
        OK
    })
}

/// `dsys_port_pipes_flush`.
///
/// # Safety
/// Any value may be passed; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_port_pipes_flush(port: *mut sys::doca_flow_port) {
    with_emu("doca_flow_port_pipes_flush", |e, v| {
        let Some(i) = e.port_index(port) else {
            return broke(
                v,
                NOT_FOUND,
                format!("doca_flow_port_pipes_flush of {port:p}, not a started port"),
            );
        };
        let mine: Vec<usize> = (0..e.pipes.len())
            .filter(|k| e.pipes[*k].as_ref().is_some_and(|p| p.port == i))
            .collect();
        for k in mine {
            e.destroy_pipe(k);
        }
        OK
    });
}

/// `dsys_port_pair`.
///
/// # Safety
/// Any value may be passed; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_port_pair(
    port: *mut sys::doca_flow_port,
    pair: *mut sys::doca_flow_port,
) -> sys::dsys_rc {
    with_emu("doca_flow_port_pair", |e, v| {
        let (Some(a), Some(b)) = (e.port_index(port), e.port_index(pair)) else {
            return broke(
                v,
                NOT_FOUND,
                "doca_flow_port_pair of a port not started".into(),
            );
        };
        match e.sw.port_pair(PortId(a as u16), PortId(b as u16)) {
            Ok(()) => OK,
            Err(err) => broke(v, INVALID, format!("doca_flow_port_pair: {err}")),
        }
    })
}

/// `dsys_pipe_create`.
///
/// # Safety
/// `spec` points at a valid spec whose pointers are valid or null; `fwd` and
/// `fwd_miss` are null or valid; `pipe` is a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_pipe_create(
    port: *mut sys::doca_flow_port,
    spec: *const sys::dsys_pipe_spec,
    fwd: *const sys::dsys_fwd_spec,
    fwd_miss: *const sys::dsys_fwd_spec,
    pipe: *mut *mut sys::doca_flow_pipe,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let (spec, fwd, fwd_miss) = unsafe { (opt(spec), opt(fwd), opt(fwd_miss)) };
    let Some(spec) = spec.filter(|_| !pipe.is_null()) else {
        return global().violation(INVALID, "doca_flow_pipe_create with null arguments".into());
    };
    if global()
        .fault(|f| matches!(f, Fault::PipeCreateRefused { .. }))
        .is_some()
    {
        return NO_MEMORY;
    }
    with_emu("doca_flow_pipe_create", |e, v| {
        let name = cstr(spec.name);
        let Some(pi) = e.port_index(port) else {
            return broke(
                v,
                NOT_FOUND,
                format!("pipe `{name}` created on {port:p}, not a started port"),
            );
        };
        // SAFETY: the caller's contract on the spec's pointers.
        let (m, mask, actions, monitor) = unsafe {
            (
                opt(spec.match_),
                opt(spec.match_mask),
                opt(spec.actions),
                opt(spec.monitor),
            )
        };
        let Some(m) = m else {
            return broke(
                v,
                INVALID,
                format!("pipe `{name}` without a match template"),
            );
        };
        let ty = match spec.type_ {
            sys::DSYS_PIPE_BASIC => PipeType::Basic,
            sys::DSYS_PIPE_CONTROL => PipeType::Control,
            sys::DSYS_PIPE_ACL => PipeType::Acl,
            sys::DSYS_PIPE_LPM => PipeType::Lpm,
            sys::DSYS_PIPE_HASH => PipeType::Hash,
            sys::DSYS_PIPE_CT if e.ct => PipeType::Ct,
            sys::DSYS_PIPE_CT => {
                return broke(
                    v,
                    NOT_SUPPORTED,
                    format!("CT pipe `{name}` without doca_flow_ct_init"),
                );
            }
            t => return broke(v, INVALID, format!("pipe `{name}`: unknown type {t}")),
        };
        if spec.nr_entries == 0 && !matches!(ty, PipeType::Basic | PipeType::Ct) {
            return broke(v, INVALID, format!("pipe `{name}`: nr_entries is 0"));
        }
        let mut targets = Vec::new();
        let mut fwd_of =
            |f: Option<&sys::dsys_fwd_spec>| -> core::result::Result<Option<FwdSpec>, String> {
                match f {
                    None => Ok(None),
                    Some(f) if f.kind == sys::DSYS_FWD_NONE => Ok(None),
                    Some(f) => {
                        let (spec, t) = e.fwd(f, pi)?;
                        targets.extend(t);
                        Ok(Some(spec))
                    }
                }
            };
        let (fwd, miss) = match (fwd_of(fwd), fwd_of(fwd_miss)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(err), _) | (_, Err(err)) => {
                return broke(v, INVALID, format!("pipe `{name}`: {err}"));
            }
        };
        let cfg = PipeCfg {
            name: name.clone(),
            port: e.ports[pi].as_ref().map_or(PortId(0), |p| p.id),
            pipe_type: ty,
            domain: if spec.egress {
                Domain::Egress
            } else {
                Domain::Ingress
            },
            is_root: spec.is_root,
            nr_entries: spec.nr_entries,
            matcher: convert::matcher(m),
            match_mask: mask.map(convert::matcher),
            actions: actions.map(convert::actions).unwrap_or_default(),
            monitor: monitor.map(convert::monitor).unwrap_or_default(),
            miss_counter: spec.miss_counter,
        };
        let sw = match e.sw.pipe_create(&cfg, fwd.as_ref(), miss.as_ref()) {
            Ok(id) => id,
            Err(err) => return broke(v, INVALID, format!("pipe `{name}`: {err}")),
        };
        e.pipe_generation = e.pipe_generation.wrapping_add(1);
        let generation = e.pipe_generation;
        let i = match e.pipes.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                e.pipes.push(None);
                e.pipes.len() - 1
            }
        };
        e.pipes[i] = Some(EmuPipe {
            generation,
            sw,
            port: pi,
            ty: spec.type_,
            name,
            nr_entries: spec.nr_entries,
            counter: monitor.is_some_and(|m| m.counter),
            targets,
        });
        // SAFETY: pipe is a valid out pointer (checked non-null above).
        unsafe { *pipe = handle(Kind::Pipe, i, generation) };
        OK
    })
}

/// `dsys_pipe_destroy`.
///
/// # Safety
/// Any value may be passed; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_pipe_destroy(pipe: *mut sys::doca_flow_pipe) {
    with_emu("doca_flow_pipe_destroy", |e, v| {
        let Some(i) = e.pipe_index(pipe) else {
            return broke(
                v,
                NOT_FOUND,
                format!("doca_flow_pipe_destroy of {pipe:p}, not a live pipe"),
            );
        };
        let by = e.forwarders(i);
        let name = e.pipes[i]
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        if !by.is_empty() {
            // DOCA would leave them forwarding to freed memory: recorded, and the
            // pipe is destroyed as asked.
            v.push(format!(
                "pipe `{name}` destroyed while {} forward to it",
                by.join(" and ")
            ));
        }
        e.destroy_pipe(i);
        OK
    });
}

/// `dsys_pipe_update_miss`.
///
/// # Safety
/// `fwd_miss` is null or valid; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_pipe_update_miss(
    pipe: *mut sys::doca_flow_pipe,
    fwd_miss: *const sys::dsys_fwd_spec,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let fwd_miss = unsafe { opt(fwd_miss) };
    with_emu("doca_flow_pipe_update_miss", |e, v| {
        let Some(i) = e.pipe_index(pipe) else {
            return broke(
                v,
                NOT_FOUND,
                format!("doca_flow_pipe_update_miss of {pipe:p}, not a live pipe"),
            );
        };
        let Some(f) = fwd_miss else {
            return broke(v, INVALID, "doca_flow_pipe_update_miss with no fwd".into());
        };
        let from = e.pipes[i].as_ref().map_or(usize::MAX, |p| p.port);
        let (spec, target) = match e.fwd(f, from) {
            Ok(x) => x,
            Err(err) => return broke(v, INVALID, format!("doca_flow_pipe_update_miss: {err}")),
        };
        let sw = e.pipes[i]
            .as_ref()
            .map(|p| p.sw)
            .unwrap_or(PipeId(u32::MAX));
        if let Err(err) = e.sw.pipe_update_miss(sw, &spec) {
            return broke(v, INVALID, format!("doca_flow_pipe_update_miss: {err}"));
        }
        if let (Some(p), Some(t)) = (e.pipes[i].as_mut(), target) {
            // The old miss target is no longer referenced through the miss path; the
            // pipe's own fwd (if it pointed there too) is kept conservatively.
            if !p.targets.contains(&t) {
                p.targets.push(t);
            }
        }
        OK
    })
}

/// `dsys_pipe_calc_hash`.
///
/// # Safety
/// `m` points at a valid spec and `hash` is a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_pipe_calc_hash(
    pipe: *mut sys::doca_flow_pipe,
    m: *const sys::dsys_header_spec,
    hash: *mut u32,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let m = unsafe { opt(m) };
    with_emu("doca_flow_pipe_calc_hash", |e, v| {
        let (Some(i), Some(m), false) = (e.pipe_index(pipe), m, hash.is_null()) else {
            return broke(
                v,
                INVALID,
                "doca_flow_pipe_calc_hash with a bad argument".into(),
            );
        };
        let sw = e.pipes[i]
            .as_ref()
            .map(|p| p.sw)
            .unwrap_or(PipeId(u32::MAX));
        match e.sw.pipe_calc_hash(sw, &convert::matcher(m)) {
            Ok(h) => {
                // SAFETY: hash is a valid out pointer (checked non-null).
                unsafe { *hash = h };
                OK
            }
            Err(_) => NOT_SUPPORTED,
        }
    })
}

fn flags(f: u32) -> Option<Flags> {
    match f {
        sys::DSYS_FLAG_NO_WAIT => Some(Flags::NoWait),
        sys::DSYS_FLAG_WAIT_FOR_BATCH => Some(Flags::WaitForBatch),
        _ => None,
    }
}

impl Emu {
    /// Checks a queue and flags for a new operation, and counts it.
    fn post(
        &mut self,
        v: &mut Vec<String>,
        op: &str,
        queue: u16,
        flags: Flags,
    ) -> Option<sys::dsys_rc> {
        let q = usize::from(queue);
        if q >= self.pending.len() {
            return Some(broke(
                v,
                INVALID,
                format!("{op} on queue {queue}, which does not exist"),
            ));
        }
        if self.pending[q] >= self.cfg.queue_depth as usize {
            return Some(broke(
                v,
                FULL,
                format!(
                    "{op}: queue {queue} already holds queue_depth ({}) operations; call entries_process first",
                    self.cfg.queue_depth
                ),
            ));
        }
        self.pending[q] += 1;
        self.open_batch[q] = flags == Flags::WaitForBatch;
        None
    }
}

/// An entry add's injected fault ([`inject`]): `Err(code)` when the add is refused
/// now, `Ok(true)` when it is accepted and its status will be an error.
fn add_fault() -> core::result::Result<bool, sys::dsys_rc> {
    let fault = global().fault(|f| {
        matches!(
            f,
            Fault::EntryAddRefused { .. } | Fault::AsyncError { .. } | Fault::TableFull { .. }
        )
    });
    match fault {
        Some(Fault::EntryAddRefused { .. }) => Err(NO_MEMORY),
        Some(Fault::TableFull { .. }) => Err(FULL),
        Some(Fault::AsyncError { .. }) => Ok(true),
        _ => Ok(false),
    }
}

/// An entry an add makes, as the add's checks found it.
struct NewEntry {
    pipe: usize,
    port: usize,
    ctx: usize,
    queue: u16,
    flags: Flags,
    targets: Vec<usize>,
    counter: bool,
    /// An injected asynchronous error: the wire never sees it.
    async_error: bool,
}

/// Why [`Emu::add`] made no entry.
enum AddFail {
    /// A DOCA rule refused it (already recorded).
    Code(sys::dsys_rc),
    /// The wire (the sw backend) refused it.
    Wire(Error),
}

impl Emu {
    /// Posts an add on its queue, makes the entry and hands it to the wire (or, with an
    /// injected asynchronous error, to the adds whose error status comes later).
    fn add(
        &mut self,
        v: &mut Vec<String>,
        op: &str,
        n: NewEntry,
        sw_pipe: PipeId,
        spec: EntrySpec,
    ) -> core::result::Result<usize, AddFail> {
        if let Some(rc) = self.post(v, op, n.queue, n.flags) {
            return Err(AddFail::Code(rc));
        }
        let i = self.new_entry(n.pipe, n.ctx);
        self.entries[i].queue = n.queue;
        self.entries[i].targets = n.targets;
        self.entries[i].counter = n.counter;
        if n.async_error {
            // Accepted now, refused by the hardware later.
            self.failing.push((n.queue, n.port, i));
            return Ok(i);
        }
        match self.sw.entry_add(n.queue, sw_pipe, spec, n.flags) {
            Ok(id) => {
                self.entries[i].sw = Some(id);
                self.by_sw.insert(id, i);
                Ok(i)
            }
            Err(err) => {
                self.pending[usize::from(n.queue)] -= 1;
                self.drop_entry(i);
                Err(AddFail::Wire(err))
            }
        }
    }
}

/// `dsys_entry_add`.
///
/// # Safety
/// `spec` points at a valid spec whose pointers are valid or null; `entry` is a
/// valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_entry_add(
    queue: u16,
    pipe: *mut sys::doca_flow_pipe,
    spec: *const sys::dsys_entry_spec,
    flags_raw: u32,
    usr_ctx: *mut c_void,
    entry: *mut *mut sys::doca_flow_pipe_entry,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let Some(spec) = (unsafe { opt(spec) }).filter(|_| !entry.is_null()) else {
        return global().violation(INVALID, "entry add with null arguments".into());
    };
    let async_error = match add_fault() {
        Ok(a) => a,
        Err(rc) => return rc,
    };
    with_emu("doca_flow_pipe_add_entry", |e, v| {
        let Some(pi) = e.pipe_index(pipe) else {
            return broke(
                v,
                NOT_FOUND,
                format!("entry add to {pipe:p}, not a live pipe"),
            );
        };
        let Some(fl) = flags(flags_raw) else {
            return broke(
                v,
                INVALID,
                format!("entry add with unknown flags {flags_raw}"),
            );
        };
        let (ty, name, nr, port, sw_pipe, pipe_counter) = {
            let p = e.pipes[pi].as_ref().expect("live");
            (p.ty, p.name.clone(), p.nr_entries, p.port, p.sw, p.counter)
        };
        let live = e.pipe_entries(pi).count();
        if nr > 0 && live >= nr as usize {
            return FULL;
        }
        // SAFETY: the caller's contract on the spec's pointers.
        let (m, mask, actions, monitor, fwd) = unsafe {
            (
                opt(spec.match_),
                opt(spec.match_mask),
                opt(spec.actions),
                opt(spec.monitor),
                opt(spec.fwd),
            )
        };
        let mut targets = Vec::new();
        let fwd = match fwd
            .filter(|f| f.kind != sys::DSYS_FWD_NONE)
            .map(|f| e.fwd(f, port))
        {
            None => None,
            Some(Ok((f, t))) => {
                targets.extend(t);
                Some(f)
            }
            Some(Err(err)) => return broke(v, INVALID, format!("entry of pipe `{name}`: {err}")),
        };
        let need_match =
            |m: Option<&sys::dsys_header_spec>| m.map(convert::matcher).unwrap_or_default();
        let actions = actions.map(convert::actions).unwrap_or_default();
        let monitor = monitor.map(convert::monitor);
        let counter = pipe_counter || monitor.as_ref().is_some_and(|m| m.counter);
        let sw_spec = match ty {
            sys::DSYS_PIPE_BASIC => EntrySpec::Basic {
                matcher: need_match(m),
                actions,
                monitor,
                fwd,
            },
            sys::DSYS_PIPE_CONTROL => {
                let Some(fwd) = fwd else {
                    return broke(
                        v,
                        INVALID,
                        format!("control entry of pipe `{name}` without a fwd"),
                    );
                };
                EntrySpec::Control {
                    priority: spec.priority,
                    matcher: need_match(m),
                    mask: mask.map(convert::matcher),
                    actions,
                    monitor,
                    fwd,
                }
            }
            sys::DSYS_PIPE_ACL => {
                if spec.priority > ACL_MAX_PRIORITY {
                    return broke(
                        v,
                        INVALID,
                        format!(
                            "ACL entry of pipe `{name}` with priority {} (DOCA takes 0..={ACL_MAX_PRIORITY})",
                            spec.priority
                        ),
                    );
                }
                let Some(fwd) = fwd else {
                    return broke(
                        v,
                        INVALID,
                        format!("ACL entry of pipe `{name}` without a fwd"),
                    );
                };
                EntrySpec::Acl {
                    priority: spec.priority,
                    matcher: need_match(m),
                    mask: need_match(mask),
                    fwd,
                }
            }
            sys::DSYS_PIPE_LPM => EntrySpec::Lpm {
                matcher: need_match(m),
                mask: need_match(mask),
                actions,
                monitor,
                fwd,
            },
            sys::DSYS_PIPE_HASH => EntrySpec::Hash {
                index: spec.hash_index,
                actions,
                monitor,
                fwd,
            },
            _ => {
                return broke(
                    v,
                    INVALID,
                    format!(
                        "dsys_entry_add on CT pipe `{name}`: CT entries go through doca_flow_ct_add_entry"
                    ),
                );
            }
        };
        // DOCA pushes control entries at once: they take no flags.
        let fl = if ty == sys::DSYS_PIPE_CONTROL {
            Flags::NoWait
        } else {
            fl
        };
        let new = NewEntry {
            pipe: pi,
            port,
            ctx: usr_ctx as usize,
            queue,
            flags: fl,
            targets,
            counter,
            async_error,
        };
        match e.add(v, "entry add", new, sw_pipe, sw_spec) {
            Ok(i) => {
                // SAFETY: entry is a valid out pointer (checked non-null above).
                unsafe { *entry = e.entry_handle(i) };
                OK
            }
            Err(AddFail::Code(rc)) => rc,
            Err(AddFail::Wire(err)) => broke(v, INVALID, format!("entry of pipe `{name}`: {err}")),
        }
    })
}

/// `dsys_entry_update`.
///
/// # Safety
/// `spec` points at a valid spec whose pointers are valid or null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_entry_update(
    queue: u16,
    pipe: *mut sys::doca_flow_pipe,
    entry: *mut sys::doca_flow_pipe_entry,
    spec: *const sys::dsys_entry_spec,
    flags_raw: u32,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let Some(spec) = (unsafe { opt(spec) }) else {
        return global().violation(INVALID, "entry update with no spec".into());
    };
    with_emu("doca_flow_pipe_update_entry", |e, v| {
        let (Some(pi), Some(i)) = (e.pipe_index(pipe), e.entry_index(entry)) else {
            return broke(
                v,
                NOT_FOUND,
                "entry update of a pipe or entry that is not live".into(),
            );
        };
        if e.entries[i].pipe != pi {
            return broke(
                v,
                INVALID,
                "entry update through another pipe than the entry's".into(),
            );
        }
        if e.entries[i].state != State::Installed {
            return broke(
                v,
                BAD_STATE,
                "entry update before the entry's previous operation completed".into(),
            );
        }
        let Some(fl) = flags(flags_raw) else {
            return broke(
                v,
                INVALID,
                format!("entry update with unknown flags {flags_raw}"),
            );
        };
        // SAFETY: the caller's contract on the spec's pointers.
        let (actions, monitor, fwd) =
            unsafe { (opt(spec.actions), opt(spec.monitor), opt(spec.fwd)) };
        let from = e.pipes[pi].as_ref().map_or(usize::MAX, |p| p.port);
        let fwd = match fwd
            .filter(|f| f.kind != sys::DSYS_FWD_NONE)
            .map(|f| e.fwd(f, from))
        {
            None => None,
            Some(Ok((f, t))) => {
                e.entries[i].targets.extend(t);
                Some(f)
            }
            Some(Err(err)) => return broke(v, INVALID, format!("entry update: {err}")),
        };
        let update = EntryUpdate {
            actions: actions.map(convert::actions),
            monitor: monitor.map(convert::monitor),
            fwd,
        };
        let Some(sw) = e.entries[i].sw else {
            return BAD_STATE;
        };
        if let Some(rc) = e.post(v, "entry update", queue, fl) {
            return rc;
        }
        if let Err(err) = e.sw.entry_update(queue, sw, update, fl) {
            e.pending[usize::from(queue)] -= 1;
            return broke(v, INVALID, format!("entry update: {err}"));
        }
        e.entries[i].state = State::Changing;
        e.entries[i].queue = queue;
        OK
    })
}

/// `dsys_entry_remove`.
///
/// # Safety
/// Any value may be passed; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_entry_remove(
    queue: u16,
    entry: *mut sys::doca_flow_pipe_entry,
    flags_raw: u32,
) -> sys::dsys_rc {
    with_emu("doca_flow_pipe_remove_entry", |e, v| {
        let Some(i) = e.entry_index(entry) else {
            return broke(
                v,
                NOT_FOUND,
                format!("entry remove of {entry:p}, not a live entry"),
            );
        };
        if e.entries[i].state != State::Installed {
            return broke(
                v,
                BAD_STATE,
                "entry remove before the entry's previous operation completed".into(),
            );
        }
        let Some(fl) = flags(flags_raw) else {
            return broke(
                v,
                INVALID,
                format!("entry remove with unknown flags {flags_raw}"),
            );
        };
        let Some(sw) = e.entries[i].sw else {
            return BAD_STATE;
        };
        if let Some(rc) = e.post(v, "entry remove", queue, fl) {
            return rc;
        }
        if let Err(err) = e.sw.entry_remove(queue, sw, fl) {
            e.pending[usize::from(queue)] -= 1;
            return broke(v, INVALID, format!("entry remove: {err}"));
        }
        e.entries[i].state = State::Changing;
        e.entries[i].queue = queue;
        OK
    })
}

/// `dsys_entries_process`.
///
/// # Safety
/// Any value may be passed; handles are validated. The callback registered at init
/// is called from this function, on this thread, after the emulator's lock is
/// released.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_entries_process(
    port: *mut sys::doca_flow_port,
    queue: u16,
    _timeout_us: u64,
    max: u32,
) -> sys::dsys_rc {
    let mut deliveries = Vec::new();
    let mut cb = None;
    let rc = with_emu("doca_flow_entries_process", |e, v| {
        let Some(pi) = e.port_index(port) else {
            return broke(
                v,
                NOT_FOUND,
                format!("doca_flow_entries_process of {port:p}, not a started port"),
            );
        };
        let q = usize::from(queue);
        if q >= e.pending.len() {
            return broke(
                v,
                INVALID,
                format!("doca_flow_entries_process on queue {queue}, which does not exist"),
            );
        }
        if e.open_batch[q] {
            v.push(format!(
                "doca_flow_entries_process on queue {queue} while its last operation was \
                 WAIT_FOR_BATCH: the batch was never pushed by a NO_WAIT operation"
            ));
        }
        cb = e.cb;
        let sw_port = e.ports[pi].as_ref().map_or(PortId(0), |p| p.id);
        let mut done: Vec<Completion> = Vec::new();
        if let Err(err) = e.sw.entries_process(sw_port, queue, max, &mut done) {
            return broke(v, INVALID, format!("doca_flow_entries_process: {err}"));
        }
        for c in done {
            let Some(&i) = e.by_sw.get(&c.entry) else {
                continue;
            };
            e.pending[q] = e.pending[q].saturating_sub(1);
            let ok = c.status == EntryStatus::Success;
            let (op, state) = match (c.op, ok) {
                (EntryOp::Add, true) => (sys::DSYS_ENTRY_OP_ADD, State::Installed),
                (EntryOp::Add, false) => (sys::DSYS_ENTRY_OP_ADD, State::Gone),
                (EntryOp::Update, _) => (sys::DSYS_ENTRY_OP_UPD, State::Installed),
                (EntryOp::Remove, true) => (sys::DSYS_ENTRY_OP_DEL, State::Gone),
                (EntryOp::Remove, false) => (sys::DSYS_ENTRY_OP_DEL, State::Installed),
            };
            deliveries.push(Delivery {
                entry: e.entry_handle(i),
                queue,
                status: if ok {
                    sys::DSYS_ENTRY_STATUS_SUCCESS
                } else {
                    sys::DSYS_ENTRY_STATUS_ERROR
                },
                op,
                ctx: e.entries[i].ctx,
            });
            // Its operation completed (counted above) before it goes.
            e.entries[i].state = State::Installed;
            if state == State::Gone {
                e.drop_entry(i);
            } else {
                e.entries[i].state = state;
            }
        }
        // Adds the hardware refuses asynchronously (injected): their error status.
        let (now, later): (Vec<_>, Vec<_>) = e
            .failing
            .drain(..)
            .partition(|(fq, fp, _)| *fq == queue && *fp == pi);
        e.failing = later;
        for (_, _, i) in now {
            e.pending[q] = e.pending[q].saturating_sub(1);
            deliveries.push(Delivery {
                entry: e.entry_handle(i),
                queue,
                status: sys::DSYS_ENTRY_STATUS_ERROR,
                op: sys::DSYS_ENTRY_OP_ADD,
                ctx: e.entries[i].ctx,
            });
            e.entries[i].state = State::Installed;
            e.drop_entry(i);
        }
        OK
    });
    if let Some(cb) = cb {
        for d in deliveries {
            // SAFETY: the callback registered at doca_flow_init, with DOCA's
            // arguments: an entry handle, the queue, status and op, the add's
            // user context.
            unsafe { cb(d.entry, d.queue, d.status, d.op, d.ctx as *mut c_void) };
        }
    }
    rc
}

/// `dsys_query_entry`.
///
/// # Safety
/// `packets` and `bytes` are valid out pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_query_entry(
    entry: *mut sys::doca_flow_pipe_entry,
    packets: *mut u64,
    bytes: *mut u64,
) -> sys::dsys_rc {
    with_emu("doca_flow_resource_query_entry", |e, v| {
        let Some(i) = e
            .entry_index(entry)
            .filter(|_| !packets.is_null() && !bytes.is_null())
        else {
            return broke(
                v,
                NOT_FOUND,
                format!("counter query of {entry:p}, not a live entry"),
            );
        };
        let x = &e.entries[i];
        if x.state == State::Adding {
            return broke(
                v,
                BAD_STATE,
                "counter query of an entry whose add has not completed (not in hardware yet)"
                    .into(),
            );
        }
        if !x.counter {
            return NOT_SUPPORTED;
        }
        let Some(sw) = x.sw else {
            return BAD_STATE;
        };
        match e.sw.query_entry(sw) {
            Ok(c) => {
                // SAFETY: valid out pointers (checked non-null above).
                unsafe {
                    *packets = c.packets;
                    *bytes = c.bytes;
                }
                OK
            }
            Err(_) => NOT_SUPPORTED,
        }
    })
}

/// `dsys_query_pipe_miss`.
///
/// # Safety
/// `packets` and `bytes` are valid out pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_query_pipe_miss(
    pipe: *mut sys::doca_flow_pipe,
    packets: *mut u64,
    bytes: *mut u64,
) -> sys::dsys_rc {
    with_emu("doca_flow_resource_query_pipe_miss", |e, v| {
        let Some(i) = e
            .pipe_index(pipe)
            .filter(|_| !packets.is_null() && !bytes.is_null())
        else {
            return broke(
                v,
                NOT_FOUND,
                format!("miss counter query of {pipe:p}, not a live pipe"),
            );
        };
        let sw = e.pipes[i]
            .as_ref()
            .map(|p| p.sw)
            .unwrap_or(PipeId(u32::MAX));
        match e.sw.query_pipe_miss(sw) {
            Ok(c) => {
                // SAFETY: valid out pointers (checked non-null above).
                unsafe {
                    *packets = c.packets;
                    *bytes = c.bytes;
                }
                OK
            }
            Err(_) => NOT_SUPPORTED,
        }
    })
}

// --- connection tracking ------------------------------------------------------------

/// `dsys_ct_init`.
///
/// # Safety
/// `cfg` points at a valid configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_ct_init(cfg: *const sys::dsys_ct_cfg) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let Some(cfg) = (unsafe { opt(cfg) }) else {
        return global().violation(INVALID, "doca_flow_ct_init with no configuration".into());
    };
    with_emu("doca_flow_ct_init", |e, v| {
        if e.ct {
            return broke(v, BAD_STATE, "doca_flow_ct_init called twice".into());
        }
        if e.ports.iter().flatten().next().is_some() {
            return broke(
                v,
                BAD_STATE,
                "doca_flow_ct_init after a port started (it must come before)".into(),
            );
        }
        let c = crate::ct::CtCfg {
            zone_word: cfg.zone_word as usize,
            ipv4_connections: cfg.ipv4_connections,
            ipv6_connections: cfg.ipv6_connections,
        };
        match e.sw.ct_init(&c) {
            Ok(()) => {
                e.ct = true;
                OK
            }
            Err(err) => broke(v, INVALID, format!("doca_flow_ct_init: {err}")),
        }
    })
}

fn ct_tuple(t: &sys::dsys_ct_tuple) -> crate::ct::CtTuple {
    if t.ipv6 {
        crate::ct::CtTuple::V6 {
            src: t.src.into(),
            dst: t.dst.into(),
            src_port: t.src_port,
            dst_port: t.dst_port,
            proto: t.proto,
        }
    } else {
        let v4 = |a: [u8; 16]| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]);
        crate::ct::CtTuple::V4 {
            src: v4(t.src),
            dst: v4(t.dst),
            src_port: t.src_port,
            dst_port: t.dst_port,
            proto: t.proto,
        }
    }
}

fn ct_dir(d: &sys::dsys_ct_dir) -> crate::ct::CtDirection {
    crate::ct::CtDirection {
        pkt_meta: d.set_pkt_meta.then_some(d.pkt_meta),
        counter: d.counter,
    }
}

/// `dsys_ct_entry_add`.
///
/// # Safety
/// `spec` points at a valid spec and `entry` is a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_ct_entry_add(
    queue: u16,
    pipe: *mut sys::doca_flow_pipe,
    spec: *const sys::dsys_ct_entry_spec,
    flags_raw: u32,
    usr_ctx: *mut c_void,
    entry: *mut *mut sys::doca_flow_pipe_entry,
) -> sys::dsys_rc {
    // SAFETY: the caller's contract.
    let Some(spec) = (unsafe { opt(spec) }).filter(|_| !entry.is_null()) else {
        return global().violation(INVALID, "CT entry add with null arguments".into());
    };
    let async_error = match add_fault() {
        Ok(a) => a,
        Err(rc) => return rc,
    };
    with_emu("doca_flow_ct_add_entry", |e, v| {
        let Some(pi) = e.pipe_index(pipe) else {
            return broke(
                v,
                NOT_FOUND,
                format!("CT entry add to {pipe:p}, not a live pipe"),
            );
        };
        let (ty, name, port, sw_pipe) = {
            let p = e.pipes[pi].as_ref().expect("live");
            (p.ty, p.name.clone(), p.port, p.sw)
        };
        if ty != sys::DSYS_PIPE_CT {
            return broke(
                v,
                INVALID,
                format!("doca_flow_ct_add_entry on pipe `{name}`, not a CT pipe"),
            );
        }
        let Some(fl) = flags(flags_raw) else {
            return broke(
                v,
                INVALID,
                format!("CT entry add with unknown flags {flags_raw}"),
            );
        };
        let ct = crate::ct::CtEntry {
            zone: spec.zone,
            origin: ct_tuple(&spec.origin),
            reply: spec.has_reply.then(|| ct_tuple(&spec.reply)),
            origin_dir: ct_dir(&spec.origin_dir),
            reply_dir: ct_dir(&spec.reply_dir),
            timeout_s: spec.timeout_s,
        };
        let new = NewEntry {
            pipe: pi,
            port,
            ctx: usr_ctx as usize,
            queue,
            flags: fl,
            targets: Vec::new(),
            counter: spec.origin_dir.counter || spec.reply_dir.counter,
            async_error,
        };
        match e.add(v, "CT entry add", new, sw_pipe, EntrySpec::Ct(ct)) {
            Ok(i) => {
                // SAFETY: entry is a valid out pointer (checked non-null above).
                unsafe { *entry = e.entry_handle(i) };
                OK
            }
            Err(AddFail::Code(rc)) => rc,
            // What DOCA refuses of a connection (ICMP, IPv6 without IPv6
            // connections) is the caller's input, not a broken rule.
            Err(AddFail::Wire(Error::Invalid { .. } | Error::Unsupported { .. })) => INVALID,
            // The CT's connections of the tuple's family (`dsys_ct_init`) are all taken:
            // a full table, as for a pipe at `nr_entries`.
            Err(AddFail::Wire(Error::CapacityExceeded { .. })) => FULL,
            Err(AddFail::Wire(err)) => {
                broke(v, INVALID, format!("CT entry of pipe `{name}`: {err}"))
            }
        }
    })
}

/// `dsys_ct_entry_remove`.
///
/// # Safety
/// Any value may be passed; handles are validated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_ct_entry_remove(
    queue: u16,
    pipe: *mut sys::doca_flow_pipe,
    entry: *mut sys::doca_flow_pipe_entry,
    flags_raw: u32,
) -> sys::dsys_rc {
    let belongs = {
        let g = global();
        g.emu.as_ref().is_some_and(|e| {
            matches!((e.pipe_index(pipe), e.entry_index(entry)), (Some(p), Some(i)) if e.entries[i].pipe == p)
        })
    };
    if !belongs {
        return global().violation(
            NOT_FOUND,
            "doca_flow_ct_rm_entry of an entry that is not a live entry of that pipe".into(),
        );
    }
    // SAFETY: handles are validated there.
    unsafe { dsys_entry_remove(queue, entry, flags_raw) }
}

/// `dsys_ct_query`.
///
/// # Safety
/// `out` is a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_ct_query(
    pipe: *mut sys::doca_flow_pipe,
    entry: *mut sys::doca_flow_pipe_entry,
    out: *mut sys::dsys_ct_counters,
) -> sys::dsys_rc {
    with_emu("doca_flow_ct_query_entry", |e, v| {
        let (Some(p), Some(i), false) = (e.pipe_index(pipe), e.entry_index(entry), out.is_null())
        else {
            return broke(
                v,
                NOT_FOUND,
                "doca_flow_ct_query_entry of an entry that is not live".into(),
            );
        };
        if e.entries[i].pipe != p {
            return broke(
                v,
                INVALID,
                "doca_flow_ct_query_entry through another pipe".into(),
            );
        }
        if e.entries[i].state == State::Adding {
            return broke(
                v,
                BAD_STATE,
                "doca_flow_ct_query_entry of a connection whose add has not completed".into(),
            );
        }
        let Some(sw) = e.entries[i].sw else {
            return BAD_STATE;
        };
        match e.sw.ct_query(sw) {
            Ok(c) => {
                // SAFETY: out is a valid out pointer (checked non-null).
                unsafe {
                    *out = sys::dsys_ct_counters {
                        origin_packets: c.origin.packets,
                        origin_bytes: c.origin.bytes,
                        reply_packets: c.reply.packets,
                        reply_bytes: c.reply.bytes,
                        last_hit_s: c.last_hit_ns / 1_000_000_000,
                    };
                }
                OK
            }
            Err(_) => NOT_SUPPORTED,
        }
    })
}

/// `dsys_aging_handle`.
///
/// # Safety
/// Any value may be passed; handles are validated. The callback is called after the
/// emulator's lock is released.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dsys_aging_handle(
    port: *mut sys::doca_flow_port,
    _queue: u16,
    _quota_us: u64,
    _max: u32,
) -> sys::dsys_rc {
    let mut deliveries = Vec::new();
    let mut cb = None;
    let rc = with_emu("doca_flow_aging_handle", |e, v| {
        let Some(pi) = e.port_index(port) else {
            return broke(
                v,
                NOT_FOUND,
                format!("doca_flow_aging_handle of {port:p}, not a started port"),
            );
        };
        cb = e.cb;
        let sw_port = e.ports[pi].as_ref().map_or(PortId(0), |p| p.id);
        let mut aged = Vec::new();
        e.sw.ct_aged(sw_port, &mut aged);
        // Every aged entry is reported at once: `max` and the time quota bound one
        // call's work on DOCA, and the emulator's is small.
        for id in aged {
            if let Some(&i) = e.by_sw.get(&id) {
                deliveries.push(Delivery {
                    entry: e.entry_handle(i),
                    queue: e.entries[i].queue,
                    status: sys::DSYS_ENTRY_STATUS_SUCCESS,
                    op: sys::DSYS_ENTRY_OP_AGED,
                    ctx: e.entries[i].ctx,
                });
            }
        }
        OK
    });
    if let Some(cb) = cb {
        for d in deliveries {
            // SAFETY: the callback registered at doca_flow_init, as DOCA calls it.
            unsafe { cb(d.entry, d.queue, d.status, d.op, d.ctx as *mut c_void) };
        }
    }
    rc
}
