//! The backend trait: one method per DOCA Flow call.
//!
//! The safe object model ([`Flow`](crate::Flow), [`Port`](crate::Port),
//! [`Pipe`](crate::Pipe), [`Entry`](crate::Entry)) validates every argument and then calls a
//! [`Backend`] with plain data and ids. Each method maps onto one DOCA Flow call, so the
//! hardware backend (feature `doca`, not written yet) is a thin translation:
//!
//! | method | DOCA Flow call |
//! |---|---|
//! | [`Backend::init`] | `doca_flow_init` (from a `doca_flow_cfg`) |
//! | [`Backend::port_start`] / [`Backend::port_stop`] | `doca_flow_port_start` / `doca_flow_port_stop` |
//! | [`Backend::port_pair`] | `doca_flow_port_pair` |
//! | [`Backend::pipe_create`] | `doca_flow_pipe_create(cfg, fwd, fwd_miss)` |
//! | [`Backend::pipe_destroy`] | `doca_flow_pipe_destroy` |
//! | [`Backend::pipe_update_miss`] | `doca_flow_pipe_update_miss` |
//! | [`Backend::entry_add`] | `doca_flow_pipe_{basic_,control_,acl_,lpm_,hash_}add_entry` by [`EntrySpec`] variant |
//! | [`Backend::entry_update`] | `doca_flow_pipe_update_entry` |
//! | [`Backend::entry_remove`] | `doca_flow_pipe_remove_entry` |
//! | [`Backend::entries_process`] | `doca_flow_entries_process` (completions as the entry-process callback reports them) |
//! | [`Backend::entry_status`] | `doca_flow_pipe_entry_get_status` |
//! | [`Backend::query_entry`] / [`Backend::query_pipe_miss`] | `doca_flow_resource_query_entry` / `doca_flow_resource_query_pipe_miss` |
//! | [`Backend::pipe_calc_hash`] | `doca_flow_pipe_calc_hash` |
//! | [`Backend::ct_init`] | `doca_flow_ct_init` (see [`crate::ct`]) |
//! | [`Backend::entry_add`] with [`EntrySpec::Ct`] / [`Backend::entry_remove`] of one | `doca_flow_ct_add_entry` / `doca_flow_ct_rm_entry` |
//! | [`Backend::ct_query`] / [`Backend::ct_aged`] | `doca_flow_ct_query_entry` / `doca_flow_aging_handle` |
//!
//! `doca_flow_destroy` is the backend's `Drop`: the [`Flow`](crate::Flow) drops its backend
//! after the last port is gone.
//!
//! [`Backend::entry_release`] has no DOCA counterpart: it tells the backend that the safe
//! handle is gone, so bookkeeping for an entry that is no longer installed can be freed.

#[cfg(feature = "doca-emu")]
pub mod emu;
#[cfg(any(feature = "doca", feature = "doca-emu"))]
pub mod hw;
pub mod sw;

use core::any::Any;

use crate::action::Actions;
use crate::error::Result;
use crate::matching::Match;
use crate::monitor::{Counters, Monitor};

/// A DOCA port id (`doca_flow_port_cfg_set_port_id`, `parser_meta.port_id`): the one
/// port id type of every layer above (dpu-fw's rule sets, plans, installs, firewalls),
/// which meets a bare `u16` only at the C API. A DPDK ethdev id
/// (`doca_flow::dpdk`'s ports, dpu-fw's dataplane devices) is a different number, even
/// where a BlueField gives both the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortId(pub u16);

/// The bare number, as DOCA and the policy files write it (`3`, not `PortId(3)`).
impl core::fmt::Display for PortId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// A backend's id for a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PipeId(pub u32);

/// A backend's id for an entry: a slot and its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryId {
    /// The slot.
    pub index: u32,
    /// The slot's generation when the entry was made.
    pub generation: u32,
}

/// The library mode (`doca_flow_cfg_set_mode_args`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `vnf`: each port has its own pipes; a root miss goes to the port's RSS queues.
    #[default]
    Vnf,
    /// `switch`: representors (`p0`, `pf0hpf`, VFs, SFs) are ports of one switch whose pipes
    /// live on the switch port; a root miss goes to the ingress port's RSS queues.
    Switch,
}

/// The library configuration (`struct doca_flow_cfg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowCfg {
    /// vnf or switch.
    pub mode: Mode,
    /// Number of queues (`doca_flow_cfg_set_pipe_queues`).
    pub queues: u16,
    /// Operations a queue holds before `entries_process` (`doca_flow_cfg_set_queue_depth`).
    pub queue_depth: u32,
    /// Counter pool size (`doca_flow_cfg_set_nr_counters`).
    pub counters: u32,
    /// Meter pool size (`doca_flow_cfg_set_nr_meters`).
    pub meters: u32,
}

/// What kind of port a port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortKind {
    /// A port in vnf mode.
    #[default]
    Plain,
    /// The switch manager port in switch mode (usually the uplink `p0`).
    Switch,
    /// A representor of a switch: `pf0hpf`, a VF or an SF.
    Representor {
        /// The switch port.
        switch: PortId,
    },
}

/// A port configuration (`struct doca_flow_port_cfg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCfg {
    /// The port id.
    pub id: PortId,
    /// A name for messages (`p0`, `pf0hpf`, `pf0vf1`, ...).
    pub name: String,
    /// Plain, switch or representor.
    pub kind: PortKind,
}

/// The DOCA pipe type (`enum doca_flow_pipe_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PipeType {
    /// Exact match on the changeable fields.
    #[default]
    Basic,
    /// Per-entry match, mask and priority.
    Control,
    /// Per-entry 5-tuple with prefixes and port ranges, priorities 0..=1024.
    Acl,
    /// Longest prefix match on one field, plus optional exact fields.
    Lpm,
    /// The entry is chosen by a hash of the template fields.
    Hash,
    /// Connection tracking (`DOCA_FLOW_PIPE_CT`): entries are connections, hit in either
    /// direction (see [`crate::ct`]).
    Ct,
}

impl PipeType {
    /// The DOCA name.
    pub fn name(self) -> &'static str {
        match self {
            PipeType::Basic => "basic",
            PipeType::Control => "control",
            PipeType::Acl => "acl",
            PipeType::Lpm => "lpm",
            PipeType::Hash => "hash",
            PipeType::Ct => "ct",
        }
    }
}

/// The pipe domain (`enum doca_flow_pipe_domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Domain {
    /// `DOCA_FLOW_PIPE_DOMAIN_DEFAULT`: packets as they arrive.
    #[default]
    Ingress,
    /// `DOCA_FLOW_PIPE_DOMAIN_EGRESS`: packets about to leave a port.
    Egress,
}

impl Domain {
    /// `"ingress"` or `"egress"`.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Ingress => "ingress",
            Domain::Egress => "egress",
        }
    }
}

/// A pipe configuration (`struct doca_flow_pipe_cfg`), validated by the pipe builder.
#[derive(Debug, Clone)]
pub struct PipeCfg {
    /// `doca_flow_pipe_cfg_set_name`.
    pub name: String,
    /// The port the pipe belongs to (the switch port in switch mode).
    pub port: PortId,
    /// `doca_flow_pipe_cfg_set_type`.
    pub pipe_type: PipeType,
    /// `doca_flow_pipe_cfg_set_domain`.
    pub domain: Domain,
    /// `doca_flow_pipe_cfg_set_is_root`.
    pub is_root: bool,
    /// `doca_flow_pipe_cfg_set_nr_entries`.
    pub nr_entries: u32,
    /// `doca_flow_pipe_cfg_set_match` (match).
    pub matcher: Match,
    /// `doca_flow_pipe_cfg_set_match` (match_mask).
    pub match_mask: Option<Match>,
    /// `doca_flow_pipe_cfg_set_actions`: applied on every hit.
    pub actions: Actions,
    /// `doca_flow_pipe_cfg_set_monitor`.
    pub monitor: Monitor,
    /// `doca_flow_pipe_cfg_set_miss_counter`.
    pub miss_counter: bool,
}

/// Plain-data forwarding (`struct doca_flow_fwd`) with ids instead of handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FwdSpec {
    /// `DOCA_FLOW_FWD_PORT`.
    Port(PortId),
    /// `DOCA_FLOW_FWD_PIPE`.
    Pipe(PipeId),
    /// `DOCA_FLOW_FWD_DROP`.
    Drop,
    /// `DOCA_FLOW_FWD_RSS` over these queues.
    Rss(Box<[u16]>),
    /// `DOCA_FLOW_FWD_TARGET` kernel.
    Kernel,
    /// `DOCA_FLOW_FWD_CHANGEABLE`.
    Changeable,
}

/// One entry to add, one variant per DOCA add-entry call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EntrySpec {
    /// `doca_flow_pipe_basic_add_entry` (`doca_flow_pipe_add_entry` before DOCA 3.3).
    Basic {
        /// Values of the changeable fields.
        matcher: Match,
        /// Per-entry actions.
        actions: Actions,
        /// Per-entry monitor (meter parameters); `None`: the pipe's.
        monitor: Option<Monitor>,
        /// Per-entry fwd when the pipe's is changeable.
        fwd: Option<FwdSpec>,
    },
    /// `doca_flow_pipe_control_add_entry`.
    Control {
        /// Priority: lower wins.
        priority: u32,
        /// Match values.
        matcher: Match,
        /// Match mask; `None`: exact on the non-zero fields.
        mask: Option<Match>,
        /// Actions.
        actions: Actions,
        /// Monitor.
        monitor: Option<Monitor>,
        /// Fwd.
        fwd: FwdSpec,
    },
    /// `doca_flow_pipe_acl_add_entry`: `matcher` carries addresses, protocol and low ports;
    /// `mask` carries address masks and high ports, as DOCA encodes ACL ranges.
    Acl {
        /// Priority 0..=1024, lower wins.
        priority: u32,
        /// DOCA-encoded match.
        matcher: Match,
        /// DOCA-encoded mask.
        mask: Match,
        /// Fwd.
        fwd: FwdSpec,
    },
    /// `doca_flow_pipe_lpm_add_entry`.
    Lpm {
        /// Match values.
        matcher: Match,
        /// Mask: a prefix on the LPM field, all ones on exact fields.
        mask: Match,
        /// Actions.
        actions: Actions,
        /// Monitor.
        monitor: Option<Monitor>,
        /// Fwd when the pipe's is changeable.
        fwd: Option<FwdSpec>,
    },
    /// `doca_flow_pipe_hash_add_entry`.
    Hash {
        /// The hash bucket this entry owns.
        index: u32,
        /// Actions.
        actions: Actions,
        /// Monitor.
        monitor: Option<Monitor>,
        /// Fwd when the pipe's is changeable.
        fwd: Option<FwdSpec>,
    },
    /// `doca_flow_ct_add_entry`: a connection, both its tuples and per-direction actions.
    Ct(crate::ct::CtEntry),
}

impl EntrySpec {
    /// The entry kind's name.
    pub fn kind(&self) -> PipeType {
        match self {
            EntrySpec::Basic { .. } => PipeType::Basic,
            EntrySpec::Control { .. } => PipeType::Control,
            EntrySpec::Acl { .. } => PipeType::Acl,
            EntrySpec::Lpm { .. } => PipeType::Lpm,
            EntrySpec::Hash { .. } => PipeType::Hash,
            EntrySpec::Ct(_) => PipeType::Ct,
        }
    }
}

/// What an update changes (`doca_flow_pipe_update_entry`).
#[derive(Debug, Clone, Default)]
pub struct EntryUpdate {
    /// New actions, if any.
    pub actions: Option<Actions>,
    /// New monitor, if any.
    pub monitor: Option<Monitor>,
    /// New fwd, if any.
    pub fwd: Option<FwdSpec>,
}

/// `enum doca_flow_flags_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flags {
    /// `DOCA_FLOW_NO_WAIT`: push this operation (and any batched before it) now.
    #[default]
    NoWait,
    /// `DOCA_FLOW_WAIT_FOR_BATCH`: hold it until a no-wait operation or `entries_process`.
    WaitForBatch,
}

/// `enum doca_flow_entry_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// `DOCA_FLOW_ENTRY_STATUS_IN_PROCESS`: queued, not yet completed.
    InProcess,
    /// `DOCA_FLOW_ENTRY_STATUS_SUCCESS`: the last operation completed.
    Success,
    /// `DOCA_FLOW_ENTRY_STATUS_ERROR`: the last operation failed.
    Error,
}

/// `enum doca_flow_entry_op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOp {
    /// Add.
    Add,
    /// Remove.
    Remove,
    /// Update.
    Update,
}

/// Why an operation failed asynchronously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// Another installed entry already has the same key (basic, LPM, hash pipes).
    Duplicate,
    /// The entry was not installed (e.g. removed twice).
    NotInstalled,
    /// The pipe was destroyed before the operation completed.
    PipeGone,
}

/// One completion, as the entry-process callback reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The entry.
    pub entry: EntryId,
    /// The queue it was on.
    pub queue: u16,
    /// The operation.
    pub op: EntryOp,
    /// Success or error.
    pub status: EntryStatus,
    /// Why, on error.
    pub error: Option<EntryError>,
}

/// Only this crate's backends implement [`Backend`].
mod sealed {
    pub trait Sealed {}
}

/// A DOCA Flow implementation: the sw backend, or hardware through doca-sys (feature
/// `doca`).
///
/// Callers are the safe handles of this crate ([`Flow`](crate::Flow),
/// [`Port`](crate::Port), [`Pipe`](crate::Pipe), [`Entry`](crate::Entry)), which validate
/// arguments first and keep DOCA's ownership rules: a pipe outlives the pipes and entries
/// that forward to it, a port outlives its pipes, the library outlives its ports. See
/// the module docs for the DOCA call behind each method.
///
/// The trait is sealed: the safe handles rely on what its two implementations do, so no
/// other crate can add one.
/// ```compile_fail,E0277
/// struct Mine;
/// impl doca_flow::Backend for Mine {} // error: `Sealed` is not implemented
/// ```
///
/// The two calls that would leave DOCA with dangling handles if called out of order are
/// `unsafe`, with their contract written on them: safe code cannot stop a port under its
/// pipes, nor destroy a pipe another pipe forwards to.
/// ```compile_fail,E0133
/// use doca_flow::{Backend, PipeId, SwBackend};
/// let mut b = SwBackend::new();
/// b.pipe_destroy(PipeId(0)); // error: call to unsafe function
/// ```
/// ```compile_fail,E0133
/// use doca_flow::{Backend, PortId, SwBackend};
/// let mut b = SwBackend::new();
/// let _ = b.port_stop(PortId(0)); // error: call to unsafe function
/// ```
pub trait Backend: sealed::Sealed + Send + Any {
    /// `doca_flow_init`.
    ///
    /// # Errors
    /// The backend's own failure.
    fn init(&mut self, cfg: &FlowCfg) -> Result<()>;
    /// `doca_flow_port_start`.
    ///
    /// # Errors
    /// The backend's own failure.
    fn port_start(&mut self, cfg: &PortCfg) -> Result<()>;
    /// `doca_flow_port_stop`.
    ///
    /// # Errors
    /// The backend's own failure.
    ///
    /// # Safety
    /// DOCA frees a port's pipes and entries when it stops; their handles dangle after.
    /// The caller guarantees that every pipe created on `port` (and, for a switch port,
    /// on its representors) was destroyed with [`Backend::pipe_destroy`], that every
    /// representor of a switch port was stopped first. (A forward to a port names it
    /// by id, not by handle: nothing dangles when a port that pipes forward to stops.)
    unsafe fn port_stop(&mut self, port: PortId) -> Result<()>;
    /// `doca_flow_port_pair`.
    ///
    /// # Errors
    /// The backend's own failure.
    fn port_pair(&mut self, port: PortId, pair: PortId) -> Result<()>;
    /// `doca_flow_pipe_create`.
    ///
    /// # Errors
    /// The backend's own failure.
    fn pipe_create(
        &mut self,
        cfg: &PipeCfg,
        fwd: Option<&FwdSpec>,
        fwd_miss: Option<&FwdSpec>,
    ) -> Result<PipeId>;
    /// `doca_flow_pipe_destroy`: removes its entries and any operations queued for them.
    ///
    /// # Safety
    /// DOCA does not look for references to a pipe it destroys: a pipe, entry or miss
    /// path that forwards to it would send packets to freed memory. The caller
    /// guarantees that no live pipe, entry or `fwd_miss` forwards to `pipe` and that
    /// its port has not been stopped.
    unsafe fn pipe_destroy(&mut self, pipe: PipeId);
    /// `doca_flow_pipe_update_miss`: replaces the pipe's `fwd_miss`.
    ///
    /// # Errors
    /// The backend's own failure.
    fn pipe_update_miss(&mut self, pipe: PipeId, fwd_miss: &FwdSpec) -> Result<()>;
    /// The add-entry call matching `spec`'s variant, on `queue`.
    ///
    /// # Errors
    /// [`Error::QueueFull`](crate::Error::QueueFull), capacity and pool limits, backend failures.
    fn entry_add(
        &mut self,
        queue: u16,
        pipe: PipeId,
        spec: EntrySpec,
        flags: Flags,
    ) -> Result<EntryId>;
    /// `doca_flow_pipe_update_entry`.
    ///
    /// # Errors
    /// As [`Backend::entry_add`].
    fn entry_update(
        &mut self,
        queue: u16,
        entry: EntryId,
        update: EntryUpdate,
        flags: Flags,
    ) -> Result<()>;
    /// `doca_flow_pipe_remove_entry`.
    ///
    /// # Errors
    /// As [`Backend::entry_add`].
    fn entry_remove(&mut self, queue: u16, entry: EntryId, flags: Flags) -> Result<()>;
    /// `doca_flow_entries_process`: completes up to `max` operations queued on `queue` for
    /// pipes of `port` and appends their completions to `out`.
    ///
    /// # Errors
    /// The backend's own failure.
    fn entries_process(
        &mut self,
        port: PortId,
        queue: u16,
        max: u32,
        out: &mut Vec<Completion>,
    ) -> Result<()>;
    /// `doca_flow_pipe_entry_get_status`.
    fn entry_status(&self, entry: EntryId) -> EntryStatus;
    /// Whether the entry is in the data path now.
    fn entry_installed(&self, entry: EntryId) -> bool;
    /// The safe handle of `entry` is gone.
    fn entry_release(&mut self, entry: EntryId);
    /// `doca_flow_resource_query_entry`.
    ///
    /// # Errors
    /// When the entry has no counter.
    fn query_entry(&self, entry: EntryId) -> Result<Counters>;
    /// `doca_flow_resource_query_pipe_miss`.
    ///
    /// # Errors
    /// When the pipe has no miss counter.
    fn query_pipe_miss(&self, pipe: PipeId) -> Result<Counters>;
    /// `doca_flow_pipe_calc_hash`: the bucket of a hash pipe that a packet with these field
    /// values lands in.
    ///
    /// # Errors
    /// When the pipe is not a hash pipe.
    fn pipe_calc_hash(&self, pipe: PipeId, values: &Match) -> Result<u32>;
    /// `doca_flow_ct_init` (after `doca_flow_init`, before any port starts).
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) unless the backend has CT.
    fn ct_init(&mut self, _cfg: &crate::ct::CtCfg) -> Result<()> {
        Err(crate::Error::Unsupported {
            what: "doca_flow_ct_init",
            reason: "this backend has no connection tracking",
        })
    }
    /// `doca_flow_ct_query_entry`: a CT entry's per-direction counters and last hit.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) unless the backend has CT; an
    /// entry that is not a CT entry.
    fn ct_query(&self, _entry: EntryId) -> Result<crate::ct::CtCounters> {
        Err(crate::Error::Unsupported {
            what: "doca_flow_ct_query_entry",
            reason: "this backend has no connection tracking",
        })
    }
    /// `doca_flow_aging_handle`: the CT entries of `port`'s pipes that have seen no hit
    /// for their timeout (the `DOCA_FLOW_ENTRY_OP_AGED` callbacks); each is reported once.
    /// The caller removes them.
    fn ct_aged(&mut self, _port: PortId, _out: &mut Vec<EntryId>) {}
    /// Tags `entry` with `tag` (non-zero): a packet's outcome then reports the tag of
    /// the last tagged entry it hit ([`Outcome::tag`](crate::Outcome::tag)), so a
    /// caller learns which of its rules decided without a lookup of its own.
    /// A software-backend extension (DOCA has no per-entry tags): the sw backend and the
    /// emulated hardware (feature `doca-emu`) have it.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) on real hardware; an entry that
    /// is not live.
    fn entry_tag(&mut self, _entry: EntryId, _tag: u32) -> Result<()> {
        Err(crate::Error::Unsupported {
            what: "entry tags",
            reason: "hardware pipes have no per-entry tags",
        })
    }
    /// The largest ACL entry priority this backend takes: DOCA's
    /// [`ACL_MAX_PRIORITY`](crate::acl_encoding::ACL_MAX_PRIORITY), unless a software
    /// backend was built with [`SwBackend::unbounded_acl_priorities`](crate::SwBackend::unbounded_acl_priorities).
    fn acl_max_priority(&self) -> u32 {
        crate::acl_encoding::ACL_MAX_PRIORITY
    }
    /// For downcasting to the concrete backend.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the concrete backend.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}
