use thiserror::Error;

/// Errors of the DPDK layer. Each names the operation that failed and
/// carries DPDK's error number (a positive errno value) where DPDK gave one.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DpdkError {
    /// `rte_eal_init` was already called in this process (DPDK allows it once).
    #[error("the DPDK EAL was already initialised in this process; it can be started only once")]
    EalAlreadyInitialized,
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed (errno {errno}: {msg}); check the EAL arguments {args:?}")]
    EalInit {
        /// The errno DPDK reported.
        errno: i32,
        /// DPDK's description of it.
        msg: String,
        /// The arguments given.
        args: Vec<String>,
    },
    /// An argument contained a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// A DPDK call failed.
    #[error("{op} failed (errno {errno}: {msg})")]
    Call {
        /// The DPDK function and its subject, e.g. `rte_eth_dev_start(port 0)`.
        op: String,
        /// The positive errno value.
        errno: i32,
        /// DPDK's description of it.
        msg: String,
    },
    /// The port already has a handle in this process ([`Port::by_name`](super::Port::by_name)).
    #[error(
        "DPDK port {port} ({name}) is already in use in this process: a port has one owner; \
         drop the other handle first, or give this one another port (two policy ports \
         naming one device?)"
    )]
    PortClaimed {
        /// The port id.
        port: u16,
        /// Its device name.
        name: String,
    },
    /// No ethdev has this name.
    #[error("no DPDK port named {name:?} (is its --vdev or PCI address in the EAL arguments?)")]
    NoSuchPort {
        /// The name asked for.
        name: String,
    },
    /// A queue index or count outside what the port supports.
    #[error("port {port}: {what}")]
    BadQueue {
        /// The port id.
        port: u16,
        /// What was wrong.
        what: String,
    },
    /// The mempool has no free mbuf.
    #[error("mempool {0:?} is exhausted")]
    PoolExhausted(String),
    /// An mbuf has no room for the bytes asked for.
    #[error("mbuf has {room} bytes of tailroom, {wanted} were asked for")]
    NoRoom {
        /// Free bytes.
        room: usize,
        /// Bytes asked for.
        wanted: usize,
    },
    /// A port cannot be stopped while queue handles are alive.
    #[error("port {0} cannot stop while its queue handles are alive; drop them first")]
    QueuesInUse(u16),
}

impl DpdkError {
    /// A failed call, reading errno from a negative return value or, when
    /// the call returned no code, from `rte_errno`.
    pub(crate) fn call(op: impl Into<String>, ret: i32) -> Self {
        let errno = if ret < 0 { -ret } else { super::rte_errno() };
        DpdkError::Call {
            op: op.into(),
            errno,
            msg: strerror(errno),
        }
    }
}

/// DPDK's text for an errno (covers DPDK's own codes too).
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated buffer that stays valid until the next call on this
    // thread; we copy it out at once.
    let p = unsafe { doca_sys::dpdk::rte_strerror(errno) };
    if p.is_null() {
        return format!("error {errno}");
    }
    // SAFETY: non-null NUL-terminated string (see above).
    unsafe { core::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}
