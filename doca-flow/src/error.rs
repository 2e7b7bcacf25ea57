//! The crate's one error type.

use crate::matching::Field;

/// A boxed error from a backend (a DOCA or DPDK error code, or the sw backend's own).
pub type BackendSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in `doca-flow`.
///
/// Misuse of the API gets a typed variant that names the field, the limit or the object;
/// failures inside a backend are [`Error::Backend`] with the backend's error as source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entry supplied a value for a field that the pipe's match template fixes (a pipe
    /// constant) or ignores; only changeable fields (all-ones in the pipe match) take
    /// per-entry values.
    #[error(
        "per-entry value for field {field:?}, which the pipe's match template does not make changeable"
    )]
    ValueForConstantField {
        /// The offending field.
        field: Field,
    },
    /// An entry set an action field that the pipe's action template does not make
    /// changeable (all ones).
    #[error("per-entry action {action}, which the pipe's actions do not make changeable")]
    ActionNotChangeable {
        /// The action field, e.g. `"ipv4_dst"`.
        action: &'static str,
    },
    /// A priority outside the range the pipe type allows.
    #[error("priority {priority} out of range 0..={max} for this pipe type")]
    PriorityOutOfRange {
        /// The priority asked for.
        priority: u32,
        /// The largest priority allowed.
        max: u32,
    },
    /// ACL pipes cannot be root pipes (DOCA rejects them).
    #[error("an ACL pipe cannot be a root pipe")]
    AclRoot,
    /// A forwarding type the pipe type (or domain) does not allow.
    #[error("forwarding {fwd} is not allowed here: {reason}")]
    FwdNotAllowed {
        /// The forwarding kind, e.g. `"rss"`.
        fwd: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// An entry needs its own forwarding (the pipe's fwd is changeable or the pipe type has
    /// per-entry forwarding) but gave none.
    #[error("entry must give a fwd: the pipe's fwd is changeable")]
    MissingEntryFwd,
    /// A pipe or pool is full.
    #[error("capacity exceeded: {what} holds at most {limit}")]
    CapacityExceeded {
        /// What is full: `"pipe entries"`, `"counters"`, `"meters"`.
        what: &'static str,
        /// The limit.
        limit: u32,
    },
    /// The queue holds `depth` operations not yet processed; call `entries_process` and retry.
    #[error("queue {queue} is full ({depth} operations pending): process it and retry")]
    QueueFull {
        /// The queue id.
        queue: u16,
        /// The configured queue depth.
        depth: u32,
    },
    /// A port cannot be stopped while pipes (or representors) still hold it.
    #[error("port {port} still has {live} live pipes or representors")]
    PortBusy {
        /// The port id.
        port: u16,
        /// How many pipes / representors hold it.
        live: usize,
    },
    /// Each port and domain has at most one root pipe.
    #[error("port {port} already has a root pipe in the {domain} domain")]
    RootExists {
        /// The port id.
        port: u16,
        /// The domain, `"ingress"` or `"egress"`.
        domain: &'static str,
    },
    /// The entry kind does not fit the pipe type (e.g. an ACL entry on a control pipe).
    #[error("a {entry} entry cannot be added to a {pipe} pipe")]
    WrongPipeType {
        /// The entry kind.
        entry: &'static str,
        /// The pipe type.
        pipe: &'static str,
    },
    /// An invalid configuration value.
    #[error("{what} is not supported by this backend: {reason}")]
    Unsupported {
        /// The DOCA call or feature, e.g. `"doca_flow_ct_init"`.
        what: &'static str,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// An argument or object is not valid for the call.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Two objects that must belong together do not (pipe of another port, another flow...).
    #[error("{0}")]
    Mismatch(&'static str),
    /// The queue id is out of range, or that queue is already taken.
    #[error("queue {queue} unavailable: {reason}")]
    Queue {
        /// The queue id.
        queue: u16,
        /// Why.
        reason: &'static str,
    },
    /// A counter was queried that was never configured: an entry whose pipe and entry
    /// monitor have no counter, or a pipe built without `miss_counter(true)`.
    #[error("no {what} counter configured")]
    NoCounter {
        /// `"entry"` or `"pipe miss"`.
        what: &'static str,
    },
    /// The entry is not (or no longer) in a state that allows the operation.
    #[error("entry {0} is not installed")]
    EntryNotInstalled(u32),
    /// An operation failed inside a backend.
    #[error("{op} failed in the backend")]
    Backend {
        /// The DOCA operation, e.g. `"doca_flow_pipe_create"`.
        op: &'static str,
        /// The backend's error.
        #[source]
        source: BackendSource,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
