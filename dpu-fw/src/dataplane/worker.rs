use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use doca_flow::dpdk::{Eal, MbufBurst, RxQueue, TxQueue};

use super::{Disposition, PortCounters, Processor};

/// The most mbufs the worker asks a receive queue for in one call: it fills a
/// burst of [`BURST_MAX`](doca_flow::dpdk::BURST_MAX) with calls of this size while
/// each comes back full. DPDK's examples (l3fwd, testpmd) ask for 32; `net_pcap`
/// allocates and resets a whole request's mbufs before copying the first packet in,
/// which for 64 at once, with the mbufs on 4 KiB pages (`--no-huge`), cost `dpu-fw
/// run` ~4.5% of its packet rate against two calls of 32; on hugepages the two are
/// alike (docs/performance.md, "Receive calls of 32").
pub(super) const RX_CALL: u16 = 32;

/// Receives from `rx` into `burst` (empty) in calls of [`RX_CALL`] while they come
/// back full and `burst` has room; returns how many arrived.
fn receive(rx: &mut RxQueue, burst: &mut MbufBurst) -> usize {
    let mut total = 0;
    loop {
        let got = rx.rx_burst_upto(burst, RX_CALL);
        total += got;
        if got < usize::from(RX_CALL) || burst.is_full() {
            return total;
        }
    }
}

/// Where the control thread leaves a new processor for a worker.
#[derive(Default)]
pub(super) struct PolicySlot {
    pending: AtomicBool,
    next: Mutex<Option<Box<dyn Processor>>>,
    taken: Condvar,
}

impl std::fmt::Debug for PolicySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySlot")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish()
    }
}

impl PolicySlot {
    pub(super) fn offer(&self, p: Box<dyn Processor>) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next = Some(p);
        self.pending.store(true, Ordering::Release);
    }

    /// Blocks until the worker took the offered processor (or stopped).
    pub(super) fn wait_taken(&self, stop: &AtomicBool) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        while next.is_some() && !stop.load(Ordering::Acquire) {
            next = self
                .taken
                .wait_timeout(next, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The new processor, if one is waiting. Cheap when none is.
    fn take(&self) -> Option<Box<dyn Processor>> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.store(false, Ordering::Relaxed);
        let p = next.take();
        self.taken.notify_all();
        p
    }
}

/// One worker: its receive and transmit queue on every port.
pub(super) struct Worker {
    /// Keeps the EAL up while the worker runs, and registers its thread.
    pub(super) eal: Eal,
    pub(super) rx: Vec<RxQueue>,
    pub(super) tx: Vec<TxQueue>,
    pub(super) processor: Box<dyn Processor>,
    pub(super) slot: Arc<PolicySlot>,
    pub(super) counters: Arc<Vec<PortCounters>>,
    pub(super) stop: Arc<AtomicBool>,
    /// The processor's decisions for the current burst (reused).
    pub(super) decisions: Vec<Disposition>,
    /// The allocation behind each burst's packet slices (empty between bursts).
    pub(super) slices: Vec<&'static mut [u8]>,
    /// The burst's dropped packets, freed in bulk at its end.
    pub(super) dropped: MbufBurst,
    /// Each packet's total length in the current burst (kept, not zeroed per burst).
    pub(super) pkt_lens: [u32; doca_flow::dpdk::BURST_MAX],
}

/// An emptied `v` with another lifetime, keeping its allocation (collecting a
/// `Vec`'s own iterator into an element type of the same layout reuses it).
fn recycle<'b>(mut v: Vec<&mut [u8]>) -> Vec<&'b mut [u8]> {
    v.clear();
    v.into_iter()
        .map(|_| -> &'b mut [u8] { unreachable!() })
        .collect()
}

impl Worker {
    pub(super) fn run(mut self) {
        // An lcore id of its own gives this thread the mempool's per-lcore
        // cache (an unregistered thread takes every mbuf from the shared ring).
        let _lcore = match self.eal.register_thread() {
            Ok(l) => {
                tracing::debug!(lcore = l.lcore_id(), "worker registered with the EAL");
                Some(l)
            }
            Err(e) => {
                tracing::warn!(
                    "worker not registered with the EAL ({e}): mbufs bypass the \
                     per-lcore mempool cache, which is slower"
                );
                None
            }
        };
        let nports = self.rx.len();
        let mut rx_burst = MbufBurst::new();
        let mut out: Vec<MbufBurst> = (0..nports).map(|_| MbufBurst::new()).collect();
        // The bytes each of `out` holds (known from the receive side: no second pass
        // over the mbufs to count them at send time).
        let mut out_bytes = vec![0u64; nports];
        let mut idle_rounds = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            // Between bursts, and only here: take a new policy.
            if let Some(p) = self.slot.take() {
                self.processor = p;
            }
            let mut busy = false;
            for in_port in 0..nports {
                if receive(&mut self.rx[in_port], &mut rx_burst) == 0 {
                    continue;
                }
                busy = true;
                self.process_burst(in_port, &mut rx_burst, &mut out, &mut out_bytes);
                for (p, (burst, bytes)) in out.iter_mut().zip(&mut out_bytes).enumerate() {
                    if !burst.is_empty() {
                        Self::send(&mut self.tx[p], &self.counters[p], burst, *bytes);
                    }
                    *bytes = 0;
                }
            }
            if busy {
                idle_rounds = 0;
            } else {
                // Poll mode, but yield the core when nothing arrives for a
                // while (this dataplane shares machines with other work).
                idle_rounds = idle_rounds.saturating_add(1);
                if idle_rounds > 1024 {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }

    /// Runs `burst` (from `in_port`) through the processor and queues each packet in
    /// `out` by its disposition (`out` is empty on entry; `out_bytes` counts the bytes
    /// of each), or frees it.
    fn process_burst(
        &mut self,
        in_port: usize,
        burst: &mut MbufBurst,
        out: &mut [MbufBurst],
        out_bytes: &mut [u64],
    ) {
        let n = burst.len() as u64;
        let nports = out.len();
        self.decisions.clear();
        let pkt_lens = &mut self.pkt_lens;
        {
            let mut packets = recycle(std::mem::take(&mut self.slices));
            burst.slices_and_lens(&mut packets, pkt_lens);
            self.processor
                .process_burst(in_port, &mut packets, &mut self.decisions);
            self.slices = recycle(packets);
        }
        let bytes: u64 = pkt_lens[..burst.len()].iter().map(|&l| u64::from(l)).sum();
        self.counters[in_port].add_rx(n, bytes);
        // The common case: the whole burst goes out of one port. It is sent as it
        // came, without moving its mbufs one by one.
        if let Some(&Disposition::Forward(p)) = self.decisions.first() {
            if p < nports
                && out[p].is_empty()
                && self.decisions.len() == burst.len()
                && self.decisions.iter().all(|&d| d == Disposition::Forward(p))
            {
                Self::send(&mut self.tx[p], &self.counters[p], burst, bytes);
                return;
            }
        }
        let mut drops = 0u64;
        for (i, m) in burst.drain().enumerate() {
            match self.decisions.get(i) {
                Some(&Disposition::Forward(p)) if p < nports => {
                    if let Err(m) = out[p].push(m) {
                        // The output burst is full: send it, then queue.
                        Self::send(
                            &mut self.tx[p],
                            &self.counters[p],
                            &mut out[p],
                            out_bytes[p],
                        );
                        out_bytes[p] = 0;
                        if out[p].push(m).is_err() {
                            self.counters[p].add_tx_drops(1);
                            continue;
                        }
                    }
                    out_bytes[p] += u64::from(pkt_lens[i]);
                }
                // Drop, a port the dataplane does not have, or no decision:
                // freed together after the burst.
                _ => {
                    drops += 1;
                    if let Err(m) = self.dropped.push(m) {
                        self.dropped.clear();
                        drop(m);
                    }
                }
            }
        }
        self.dropped.clear();
        if drops > 0 {
            self.counters[in_port].add_policy_drops(drops);
        }
    }

    /// Transmits `burst`, which holds `bytes` bytes, counting what went out and
    /// freeing (and counting as dropped) what the queue did not take.
    fn send(tx: &mut TxQueue, counters: &PortCounters, burst: &mut MbufBurst, mut bytes: u64) {
        let total = burst.len();
        let mut sent = 0;
        // A few tries: the queue may free descriptors between calls.
        for _ in 0..4 {
            sent += tx.tx_burst(burst);
            if burst.is_empty() {
                break;
            }
        }
        let unsent = burst.len();
        if unsent > 0 {
            // Subtract the bytes of what stays, then free it.
            bytes -= burst.total_len();
            burst.clear();
            counters.add_tx_drops(unsent as u64);
        }
        debug_assert_eq!(sent + unsent, total);
        counters.add_tx(sent as u64, bytes);
    }
}
