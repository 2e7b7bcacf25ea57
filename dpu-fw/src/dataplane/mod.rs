//! The software dataplane (feature `dpdk`): DPDK ports in, a policy in the
//! middle, DPDK ports out.
//!
//! `rx burst -> process each packet -> tx burst to the port the policy
//! chose, or drop`, in batches throughout, one worker thread per queue.
//! The policy is anything that implements [`Processor`]; a compiled plan on
//! doca-flow's software backend is one.
//!
//! Policies are swapped atomically: each worker takes a new processor only
//! between two bursts, so every packet sees exactly one policy, never half
//! of one (see [`Dataplane::swap`]).

mod policy;
mod stats;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use doca_flow::dpdk::{
    DpdkError, Eal, MbufBurst, Mempool, Port, PortConfig, RxQueue, StartedPort, TxQueue,
};

pub use policy::{FirewallProcessor, Hooks, PolicyPortError};
pub use stats::{PortCounters, PortSnapshot};
use worker::{PolicySlot, Worker};

/// What a policy decides for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Send it out of the dataplane port with this index.
    Forward(usize),
    /// Drop it.
    Drop,
}

/// A packet policy run by one worker. It may rewrite the packet's bytes.
pub trait Processor: Send {
    /// Decides for one packet that arrived on dataplane port `in_port`.
    fn process(&mut self, in_port: usize, packet: &mut [u8]) -> Disposition;

    /// Decides for a burst of packets that arrived on `in_port`, appending
    /// one disposition per packet to `out`, in order. The default calls
    /// [`Processor::process`] for each; override it when a batch is cheaper.
    fn process_burst(
        &mut self,
        in_port: usize,
        packets: &mut [&mut [u8]],
        out: &mut Vec<Disposition>,
    ) {
        for p in packets.iter_mut() {
            out.push(self.process(in_port, p));
        }
    }
}

impl<F> Processor for F
where
    F: FnMut(usize, &mut [u8]) -> Disposition + Send,
{
    fn process(&mut self, in_port: usize, packet: &mut [u8]) -> Disposition {
        self(in_port, packet)
    }
}

/// One dataplane port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The name the policy uses (`p0`, `pf0hpf`, ...).
    pub name: String,
    /// Which DPDK port it is.
    pub device: Device,
}

/// How a dataplane port is found among the DPDK ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// By DPDK port id (an ethdev id in probe order: not a [`doca_flow::PortId`], though
    /// on a BlueField the two numbers are the same).
    Id(u16),
    /// By DPDK device name (`net_af_packet0`, a PCI address, a representor).
    Name(String),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Id(id) => write!(f, "DPDK port {id}"),
            Device::Name(n) => f.write_str(n),
        }
    }
}

/// How to start the dataplane.
#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// The ports, in dataplane-index order.
    pub ports: Vec<PortSpec>,
    /// Worker threads; each polls its own receive queue of every port.
    pub workers: usize,
    /// Mbufs in the pool.
    pub mbufs: u32,
}

/// Errors of the dataplane.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataplaneError {
    /// DPDK failed.
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    /// A port failed to come up.
    #[error("port {name} ({device}) did not come up")]
    Port {
        /// The policy's name for it.
        name: String,
        /// The DPDK device.
        device: Device,
        /// What DPDK said.
        source: DpdkError,
    },
    /// The configuration names no port.
    #[error("the dataplane needs at least one port")]
    NoPorts,
    /// The configuration asks for no worker, or more than a port has queues for.
    #[error("{0} workers: the dataplane runs 1 to 65535 (one queue per port each)")]
    Workers(usize),
    /// A worker thread could not be started.
    #[error("could not start worker thread: {0}")]
    Thread(std::io::Error),
}

/// One port as its driver reports it: [`Dataplane::health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortHealth {
    /// The link is up.
    pub link_up: Option<bool>,
    /// Packets the driver could not receive for want of a free mbuf.
    pub rx_nombuf: Option<u64>,
    /// Packets the device dropped because its receive queues were full.
    pub rx_missed: Option<u64>,
    /// Packets the driver failed to send.
    pub tx_errors: Option<u64>,
}

/// A running dataplane.
#[derive(Debug)]
pub struct Dataplane {
    ports: Vec<PortSpec>,
    counters: Arc<Vec<PortCounters>>,
    slots: Vec<Arc<PolicySlot>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    port_ids: Vec<u16>,
    _pool: Arc<Mempool>,
    _eal: Eal,
}

impl Dataplane {
    /// Starts every port on the caller's EAL (which the dataplane keeps alive
    /// while it runs), then one worker per queue, each running the processor
    /// `make(worker_index)` returns. An application that owns the EAL for other
    /// work too (DOCA Flow: `doca_flow::HwBackend::new` (feature `doca`) takes the same `Eal`)
    /// passes it here.
    ///
    /// Each port is claimed for the dataplane ([`doca_flow::dpdk::Port::by_name`]):
    /// a port another part of the process holds is refused, not shared.
    ///
    /// # Errors
    /// [`DataplaneError`] naming the port or the DPDK call that failed.
    pub fn start(
        eal: &Eal,
        cfg: &DataplaneConfig,
        mut make: impl FnMut(usize) -> Box<dyn Processor>,
    ) -> Result<Dataplane, DataplaneError> {
        if cfg.ports.is_empty() {
            return Err(DataplaneError::NoPorts);
        }
        if cfg.workers == 0 {
            return Err(DataplaneError::Workers(0));
        }
        let queues =
            u16::try_from(cfg.workers).map_err(|_| DataplaneError::Workers(cfg.workers))?;
        let eal = eal.clone();
        // DPDK refuses a per-lcore cache above two thirds of the pool: small pools
        // (a test of pool exhaustion, a tiny device) get a smaller one.
        let cache = (cfg.mbufs / 2).min(256);
        let pool = Mempool::pktmbuf(&eal, "dpufw_pool", cfg.mbufs, cache, 2048)?;
        let pcfg = PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            ..PortConfig::default()
        };
        let mut rx: Vec<Vec<RxQueue>> = (0..cfg.workers).map(|_| Vec::new()).collect();
        let mut tx: Vec<Vec<TxQueue>> = (0..cfg.workers).map(|_| Vec::new()).collect();
        let mut port_ids = Vec::new();
        for spec in &cfg.ports {
            let port_err = |source| DataplaneError::Port {
                name: spec.name.clone(),
                device: spec.device.clone(),
                source,
            };
            let handle = match &spec.device {
                Device::Id(id) => Port::by_id(&eal, *id),
                Device::Name(n) => Port::by_name(&eal, n),
            };
            let mut started = handle
                .and_then(|p| p.configure(&pcfg, &pool))
                .and_then(|p| p.start())
                .map_err(port_err)?;
            if cfg.workers > 1 {
                warn_unless_symmetric(&spec.name, &started);
            }
            port_ids.push(started.id());
            for w in 0..cfg.workers {
                rx[w].push(started.rx_queue(w as u16).map_err(port_err)?);
                tx[w].push(started.tx_queue(w as u16).map_err(port_err)?);
            }
        }
        let counters: Arc<Vec<PortCounters>> =
            Arc::new(cfg.ports.iter().map(|_| PortCounters::default()).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let mut slots = Vec::new();
        let mut workers = Vec::new();
        for (w, (rxq, txq)) in rx.into_iter().zip(tx).enumerate() {
            let slot = Arc::new(PolicySlot::default());
            let worker = Worker {
                eal: eal.clone(),
                rx: rxq,
                tx: txq,
                processor: make(w),
                slot: slot.clone(),
                counters: counters.clone(),
                stop: stop.clone(),
                decisions: Vec::with_capacity(doca_flow::dpdk::BURST_MAX),
                slices: Vec::with_capacity(doca_flow::dpdk::BURST_MAX),
                dropped: MbufBurst::new(),
                pkt_lens: [0; doca_flow::dpdk::BURST_MAX],
            };
            let handle = std::thread::Builder::new()
                .name(format!("dpu-fw-worker-{w}"))
                .spawn(move || worker.run())
                .map_err(DataplaneError::Thread)?;
            slots.push(slot);
            workers.push(handle);
        }
        Ok(Dataplane {
            ports: cfg.ports.clone(),
            counters,
            slots,
            stop,
            workers,
            port_ids,
            _pool: pool,
            _eal: eal,
        })
    }

    /// The ports, in index order.
    pub fn ports(&self) -> &[PortSpec] {
        &self.ports
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Hands each worker a new processor (`make(worker_index)`). Every
    /// worker switches between two bursts, so no packet sees a mix of the
    /// old and new policy. Returns once every worker has switched.
    pub fn swap(&self, mut make: impl FnMut(usize) -> Box<dyn Processor>) {
        for (w, slot) in self.slots.iter().enumerate() {
            slot.offer(make(w));
        }
        for slot in &self.slots {
            slot.wait_taken(&self.stop);
        }
    }

    /// The dataplane's own per-port counters.
    pub fn counters(&self) -> Vec<PortSnapshot> {
        self.counters.iter().map(PortCounters::snapshot).collect()
    }

    /// Mbufs taken from the packet pool now (in workers' hands, in port rings, or
    /// leaked), and the pool's size. Idle, the first comes back to what it was before
    /// traffic: the soak test checks that no mbuf leaks.
    pub fn mbufs(&self) -> (u32, u32) {
        (self._pool.in_use(), self._pool.size())
    }

    /// Each port's driver view, in dataplane-index order: link state and the
    /// driver's error counters (`None` where the driver cannot report them). The
    /// control loop logs what changes: a link going down or up, packets lost for want
    /// of mbufs, send errors.
    pub fn health(&self) -> Vec<PortHealth> {
        self.port_ids
            .iter()
            .map(|&id| {
                let stats = doca_flow::dpdk::port_stats(&self._eal, id).ok();
                PortHealth {
                    link_up: doca_flow::dpdk::link_up(&self._eal, id).ok(),
                    rx_nombuf: stats.map(|s| s.rx_nombuf),
                    rx_missed: stats.map(|s| s.rx_missed),
                    tx_errors: stats.map(|s| s.tx_errors),
                }
            })
            .collect()
    }

    /// The DPDK port ids, in dataplane-index order.
    pub fn port_ids(&self) -> &[u16] {
        &self.port_ids
    }

    /// Stops the workers and returns the final counters. Ports and the EAL
    /// shut down when the dataplane is dropped.
    pub fn stop(mut self) -> Vec<PortSnapshot> {
        self.halt();
        self.counters()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        for h in self.workers.drain(..) {
            // A worker that panicked has nothing left to clean up; its
            // queues were dropped during unwinding.
            let _ = h.join();
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Logs when a port spreads its packets over the workers with a key other
/// than the symmetric one (`doca_flow::rss`): the two directions of a
/// connection may then reach two workers (still correct: the connection
/// table is shared; each worker keeps the ACL memos of its direction only
/// if it holds the newer policy copy, `docs/conntrack.md`).
fn warn_unless_symmetric(name: &str, port: &StartedPort) {
    let why = match port.rss_key() {
        Ok(Some(k)) if k == doca_flow::rss::symmetric_key(k.len()) => return,
        Ok(Some(_)) => "the device kept its own RSS key".to_string(),
        Ok(None) => "the device does not report an RSS key".to_string(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        "port {name}: no symmetric RSS ({why}): the two directions of a connection \
         may reach different workers"
    );
}
