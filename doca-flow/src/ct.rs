//! Connection tracking pipes: DOCA Flow CT (`doca_flow_ct.h`), in DOCA's managed model.
//!
//! DOCA's CT keeps the connections software decided on, and forwards their packets in
//! hardware: a CT pipe ([`PipeType::Ct`](crate::PipeType::Ct)) matches nothing of its
//! own; a packet whose (zone, 5-tuple) is an entry's origin or reply tuple *hits*, takes
//! that direction's actions (here: a write of `meta.pkt_meta`) and counter, and goes to
//! the pipe's `fwd`; any other packet *misses* to `fwd_miss` (usually RSS to software,
//! where the application tracks the connection and adds the entry). Entries age out
//! after `timeout_s` seconds without a hit; the application is told and removes them.
//!
//! | here | DOCA |
//! |---|---|
//! | [`FlowBuilder::conntrack`](crate::FlowBuilder::conntrack) with [`CtCfg`] | `doca_flow_ct_cfg_create` + `doca_flow_ct_cfg_set_*` + `doca_flow_ct_init`, after `doca_flow_init`, before any port starts |
//! | [`CtPipe::add_entry`](crate::CtPipe::add_entry) with [`CtEntry`] | `doca_flow_ct_entry_prepare` + `doca_flow_ct_add_entry` (`DIR_ORIGIN`, `DIR_REPLY`, `IPV6_*`, `COUNTER_*` flags), completed by `doca_flow_ct_entries_process` |
//! | [`Pipe::remove_entry`](crate::Pipe::remove_entry) of a CT entry | `doca_flow_ct_rm_entry` |
//! | [`Entry::ct_query`](crate::Entry::ct_query) | `doca_flow_ct_query_entry` (per-direction counters, last hit) |
//! | [`Flow::ct_aged`](crate::Flow::ct_aged) | `doca_flow_aging_handle` and the `DOCA_FLOW_ENTRY_OP_AGED` callbacks |
//! | the zone, [`CtCfg::zone_word`] | the `metadata` word of `doca_flow_ct_match4/6`, masked by the direction's `zone_match_mask` |
//!
//! What DOCA releases do (from NVIDIA's `doca-samples`, 2.9 to 3.3, and the public 3.0
//! API reference): CT functions are experimental (`DOCA_EXPERIMENTAL`); CT is absent from
//! DOCA 2.10; managed mode is the only one from 3.0 on; IPv6 connections need a
//! BlueField-3 (BlueField-2 runs with IPv6 sessions set to 0); aging timeouts are whole
//! seconds. The software backend executes this model; the hardware backend reaches
//! `doca_flow_ct` through doca-sys's seam (`dsys_ct_*`), which the contract emulator
//! (feature `doca-emu`) runs in CI and the SDK shim implements over `doca_flow_ct.h`
//! (type-checked against public headers only; never run on a BlueField).

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::monitor::Counters;

/// The CT configuration (`doca_flow_ct_cfg_set_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtCfg {
    /// The scratch word (`meta.u32[zone_word]`) that carries a packet's zone into the
    /// CT pipe; an earlier pipe's actions set it.
    pub zone_word: usize,
    /// IPv4 connections to size for (`doca_flow_ct_cfg_set_connections`).
    pub ipv4_connections: u32,
    /// IPv6 connections to size for; 0 on a BlueField-2, which has no IPv6 CT.
    pub ipv6_connections: u32,
}

impl Default for CtCfg {
    fn default() -> Self {
        CtCfg {
            zone_word: 0,
            ipv4_connections: 1 << 20,
            ipv6_connections: 0,
        }
    }
}

/// One direction's 5-tuple (`struct doca_flow_ct_match4` / `doca_flow_ct_match6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtTuple {
    /// IPv4.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// IP protocol (`next_proto`); DOCA's CT handles TCP and UDP.
        proto: u8,
    },
    /// IPv6.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// IP protocol (`next_proto`).
        proto: u8,
    },
}

impl CtTuple {
    /// The other direction's tuple (addresses and ports swapped).
    pub fn reversed(&self) -> CtTuple {
        match *self {
            CtTuple::V4 {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            } => CtTuple::V4 {
                src: dst,
                dst: src,
                src_port: dst_port,
                dst_port: src_port,
                proto,
            },
            CtTuple::V6 {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            } => CtTuple::V6 {
                src: dst,
                dst: src,
                src_port: dst_port,
                dst_port: src_port,
                proto,
            },
        }
    }

    /// True for IPv6.
    pub fn is_v6(&self) -> bool {
        matches!(self, CtTuple::V6 { .. })
    }
}

/// What a hit in one direction does (`struct doca_flow_ct_actions` and the
/// `COUNTER_ORIGIN`/`COUNTER_REPLY` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtDirection {
    /// Write `meta.pkt_meta` (`data.meta.flow.pkt_meta`, 3.1+; `data.meta.pkt_meta`, 3.0).
    pub pkt_meta: Option<u32>,
    /// Count this direction's packets and bytes.
    pub counter: bool,
}

/// One connection to add to a CT pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtEntry {
    /// The zone (matched against [`CtCfg::zone_word`]).
    pub zone: u32,
    /// The tuple of the direction that opened the connection.
    pub origin: CtTuple,
    /// The reply direction's tuple (usually `origin.reversed()`); `None` tracks the
    /// origin direction only.
    pub reply: Option<CtTuple>,
    /// Origin-direction actions and counter.
    pub origin_dir: CtDirection,
    /// Reply-direction actions and counter.
    pub reply_dir: CtDirection,
    /// Seconds without a hit after which the entry is reported aged (0: never).
    pub timeout_s: u32,
}

impl CtEntry {
    /// A connection in `zone` opened by `origin`, with the reversed tuple as its reply,
    /// both directions writing `pkt_meta` and counting, aging after `timeout_s`.
    pub fn both_ways(zone: u32, origin: CtTuple, pkt_meta: u32, timeout_s: u32) -> Self {
        let dir = CtDirection {
            pkt_meta: Some(pkt_meta),
            counter: true,
        };
        CtEntry {
            zone,
            origin,
            reply: Some(origin.reversed()),
            origin_dir: dir,
            reply_dir: dir,
            timeout_s,
        }
    }
}

impl CtEntry {
    /// DOCA's rules for a CT entry: CT configured, both tuples of one family, TCP or UDP,
    /// IPv6 only when IPv6 connections were configured. The safe API checks them before
    /// any backend sees the entry.
    pub(crate) fn check(&self, cfg: Option<&CtCfg>) -> crate::Result<()> {
        let cfg = cfg.ok_or(crate::Error::Unsupported {
            what: "doca_flow_ct_add_entry",
            reason: "doca_flow_ct_init was not called (FlowBuilder::conntrack)",
        })?;
        let bad = |reason: &str| crate::Error::Invalid {
            what: "ct entry",
            reason: reason.into(),
        };
        if self.reply.is_some_and(|r| r.is_v6() != self.origin.is_v6()) {
            return Err(bad("origin and reply tuples of different families"));
        }
        let proto = match self.origin {
            CtTuple::V4 { proto, .. } | CtTuple::V6 { proto, .. } => proto,
        };
        if proto != 6 && proto != 17 {
            return Err(bad("DOCA's CT pipe tracks TCP and UDP only"));
        }
        if self.origin.is_v6() && cfg.ipv6_connections == 0 {
            return Err(bad(
                "IPv6 connections are not configured (CtCfg::ipv6_connections; BlueField-2 has no IPv6 CT)",
            ));
        }
        Ok(())
    }
}

/// What [`Entry::ct_query`](crate::Entry::ct_query) reports
/// (`doca_flow_ct_query_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtCounters {
    /// Origin-direction packets and bytes (zero without a counter).
    pub origin: Counters,
    /// Reply-direction packets and bytes.
    pub reply: Counters,
    /// The backend's time of the last hit, ns (the sw backend's clock; DOCA reports
    /// seconds since the epoch).
    pub last_hit_ns: u64,
}
