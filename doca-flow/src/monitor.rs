//! Monitoring: counters and meters (`struct doca_flow_monitor`).

/// What to monitor on a pipe's entries (or, per entry, overriding the pipe's meter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Monitor {
    /// Count packets and bytes per entry (one counter from the flow's pool per entry).
    pub counter: bool,
    /// Police with a token bucket (one meter from the flow's pool per entry).
    pub meter: Option<MeterCfg>,
}

impl Monitor {
    /// Count packets and bytes.
    pub fn counter() -> Self {
        Monitor {
            counter: true,
            meter: None,
        }
    }

    /// Add a meter.
    #[must_use]
    pub fn with_meter(mut self, meter: MeterCfg) -> Self {
        self.meter = Some(meter);
        self
    }
}

/// What a meter limits, as `enum doca_flow_meter_limit_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MeterLimit {
    /// CIR in bytes per second, CBS in bytes.
    #[default]
    Bytes,
    /// CIR in packets per second, CBS in packets.
    Packets,
}

/// A single-rate token bucket (DOCA's non-shared meter: `limit_type`, `cir`, `cbs`).
/// Green packets pass; red ones are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterCfg {
    /// Bytes or packets.
    pub limit: MeterLimit,
    /// Committed information rate, per second.
    pub cir: u64,
    /// Committed burst size: the bucket's depth (and its level at start).
    pub cbs: u64,
}

/// Packet and byte counts (`struct doca_flow_resource_query`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes (frame length as given to the backend).
    pub bytes: u64,
}

impl Counters {
    #[inline]
    pub(crate) fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    /// Adds `packets` packets of `bytes` bytes in all.
    #[inline]
    pub(crate) fn add_many(&mut self, packets: u64, bytes: u64) {
        self.packets += packets;
        self.bytes += bytes;
    }
}

/// A token bucket driven by explicit time, so tests are deterministic.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    cfg: MeterCfg,
    /// Tokens scaled by 1e9 (token-nanoseconds), so refills need no floats.
    tokens: u128,
    last_ns: Option<u64>,
}

const NS: u128 = 1_000_000_000;

impl TokenBucket {
    pub(crate) fn new(cfg: MeterCfg) -> Self {
        Self {
            cfg,
            tokens: u128::from(cfg.cbs) * NS,
            last_ns: None,
        }
    }

    /// Whether a packet of `bytes` at time `now_ns` is green (and takes its tokens).
    pub(crate) fn admit(&mut self, bytes: usize, now_ns: u64) -> bool {
        let cap = u128::from(self.cfg.cbs) * NS;
        if let Some(last) = self.last_ns {
            let dt = u128::from(now_ns.saturating_sub(last));
            self.tokens = self
                .tokens
                .saturating_add(dt.saturating_mul(u128::from(self.cfg.cir)))
                .min(cap);
        }
        self.last_ns = Some(self.last_ns.map_or(now_ns, |l| l.max(now_ns)));
        let cost = match self.cfg.limit {
            MeterLimit::Bytes => bytes as u128,
            MeterLimit::Packets => 1,
        } * NS;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_with_time() {
        let mut b = TokenBucket::new(MeterCfg {
            limit: MeterLimit::Packets,
            cir: 10,
            cbs: 2,
        });
        assert!(b.admit(100, 0));
        assert!(b.admit(100, 0));
        assert!(!b.admit(100, 0));
        // 10 pkt/s: one token every 100 ms.
        assert!(!b.admit(100, 50_000_000));
        assert!(b.admit(100, 100_000_000));
        assert!(!b.admit(100, 100_000_000));
    }

    #[test]
    fn bucket_survives_extreme_rates_and_times() {
        let mut b = TokenBucket::new(MeterCfg {
            limit: MeterLimit::Bytes,
            cir: u64::MAX,
            cbs: u64::MAX,
        });
        assert!(b.admit(1500, 0));
        assert!(b.admit(1500, u64::MAX));
    }

    #[test]
    fn bucket_counts_bytes() {
        let mut b = TokenBucket::new(MeterCfg {
            limit: MeterLimit::Bytes,
            cir: 1000,
            cbs: 1500,
        });
        assert!(b.admit(1000, 0));
        assert!(!b.admit(1000, 0));
        assert!(b.admit(1000, 500_000_000));
    }
}
