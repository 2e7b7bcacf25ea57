//! A safe DPDK layer (feature `dpdk`): EAL, mempools, ports, owned mbufs and
//! bursts, port statistics, and `rte_acl` (the classifier we benchmark
//! against).
//!
//! Ownership follows DPDK's teardown order: every [`Mempool`] and [`Port`]
//! holds the [`Eal`], queues hold their port, and a mempool is freed only
//! when no mbuf from it is still alive (otherwise it is deliberately leaked,
//! together with the EAL, rather than freed under a live mbuf).
//!
//! ```no_run
//! # fn main() -> Result<(), doca_flow::dpdk::DpdkError> {
//! use doca_flow::dpdk::{Eal, Mempool, Port, PortConfig, MbufBurst};
//! let eal = Eal::init(["demo", "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
//!                      "--vdev=net_ring0"])?;
//! let pool = Mempool::pktmbuf(&eal, "pool", 4095, 256, 2048)?;
//! let port = Port::by_name(&eal, "net_ring0")?.configure(&PortConfig::default(), &pool)?;
//! let (mut rx, mut tx) = port.start()?.split_queues_0();
//! let mut burst = MbufBurst::new();
//! rx.rx_burst(&mut burst);
//! tx.tx_burst(&mut burst); // what was not sent stays in `burst` and is freed on drop
//! # Ok(()) }
//! ```

mod acl;
mod eal;
mod error;
mod mbuf;
mod mempool;
mod port;

pub use acl::{AclAlgorithm, AclContext, AclIpv4Key, AclIpv4Rule};
pub use eal::{Eal, LcoreThread};
pub use error::DpdkError;
pub use mbuf::{BURST_MAX, Drain, Mbuf, MbufBurst};
pub use mempool::Mempool;
pub use port::{
    Port, PortConfig, PortHandle, PortStats, RxQueue, StartedPort, TxQueue, link_up, port_stats,
};

/// The DPDK version doca-sys was built against, e.g. `"DPDK 22.11.11"`.
pub fn version() -> &'static str {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated
    // string and needs no EAL.
    let p = unsafe { doca_sys::dpdk::dsys_version() };
    if p.is_null() {
        return "unknown";
    }
    // SAFETY: non-null, NUL-terminated, 'static (see above).
    unsafe { core::ffi::CStr::from_ptr(p) }
        .to_str()
        .unwrap_or("unknown")
}

/// The calling thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { doca_sys::dpdk::dsys_errno() }
}
