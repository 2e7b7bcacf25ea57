use std::sync::atomic::{AtomicU64, Ordering};

/// Per-port counters of the dataplane, updated by the workers.
#[derive(Debug, Default)]
pub struct PortCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    policy_drops: AtomicU64,
    tx_drops: AtomicU64,
}

/// A copy of a port's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortSnapshot {
    /// Packets received on the port.
    pub rx_packets: u64,
    /// Bytes received on the port.
    pub rx_bytes: u64,
    /// Packets sent out of the port.
    pub tx_packets: u64,
    /// Bytes sent out of the port.
    pub tx_bytes: u64,
    /// Packets received on the port that the policy dropped.
    pub policy_drops: u64,
    /// Packets for this port that its transmit queue had no room for.
    pub tx_drops: u64,
}

impl PortCounters {
    pub(super) fn add_rx(&self, packets: u64, bytes: u64) {
        self.rx_packets.fetch_add(packets, Ordering::Relaxed);
        self.rx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn add_tx(&self, packets: u64, bytes: u64) {
        self.tx_packets.fetch_add(packets, Ordering::Relaxed);
        self.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn add_policy_drops(&self, n: u64) {
        self.policy_drops.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn add_tx_drops(&self, n: u64) {
        self.tx_drops.fetch_add(n, Ordering::Relaxed);
    }

    /// A consistent-enough copy (each counter is read once).
    pub fn snapshot(&self) -> PortSnapshot {
        PortSnapshot {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
            policy_drops: self.policy_drops.load(Ordering::Relaxed),
            tx_drops: self.tx_drops.load(Ordering::Relaxed),
        }
    }
}
