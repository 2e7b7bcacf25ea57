//! A policy as a dataplane runs it: connection tracking, then the installed pipes, then
//! the new connections that the pipes passed are stored.
//!
//! ```text
//! frame ─► conntrack (state) ─► meta.pkt_meta = state bit ─► installed pipes ─► verdict
//!                                                                 │
//!                  passed and `new`: Tracker::commit ◄────────────┘
//! ```
//!
//! A [`Firewall`] is one worker's handle: it shares the [`Installed`] policy and the
//! [`Tracker`] (one table for every worker and every policy generation: a reload keeps
//! the connections) and keeps its own scratch buffers. Without `[conntrack]` it is the
//! installed policy alone.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use doca_flow::packet::{PacketBuilder, tcp_flags};
//! use dpu_fw::compile::{Target, compile};
//! use dpu_fw::conntrack::CtState;
//! use dpu_fw::firewall::Firewall;
//! use dpu_fw::install::Installed;
//!
//! let rules = dpu_fw::config::parse(r#"
//!     [ports.p0]
//!     role = "uplink"
//!     id = 0
//!     [ports.pf0hpf]
//!     role = "host"
//!     id = 1
//!     [conntrack]
//!     [[rules]]
//!     name = "return-traffic"
//!     in_port = "p0"
//!     state = ["established", "related"]
//!     action = "accept"
//!     [defaults]
//!     inbound = "drop"
//!     outbound = "accept"
//! "#, "fw.toml").unwrap().rules;
//! let plan = compile(&rules, &Target::software()).unwrap();
//! let mut fw = Firewall::new(Arc::new(Installed::new(&plan).unwrap()), &rules, None);
//! let (host, web) = ([10, 0, 0, 1].into(), [192, 0, 2, 80].into());
//! let mut syn = PacketBuilder::tcp4(host, web, 40000, 443).flags(tcp_flags::SYN).seq(1).build();
//! assert!(fw.process(1, &mut syn, 0).passed()); // out of the host: outbound default
//! let mut synack = PacketBuilder::tcp4(web, host, 443, 40000)
//!     .flags(tcp_flags::SYN | tcp_flags::ACK).seq(700).ack_number(2).build();
//! let p = fw.process(0, &mut synack, 1_000);
//! assert_eq!(p.state, Some(CtState::Established));
//! assert!(p.passed());
//! let mut stray = PacketBuilder::tcp4(web, host, 443, 40001).flags(tcp_flags::ACK).build();
//! let p = fw.process(0, &mut stray, 2_000);
//! assert_eq!(p.state, Some(CtState::Invalid));
//! assert!(!p.passed()); // inbound default: drop
//! ```

use std::sync::Arc;

use doca_flow::packet::Headers;
use doca_flow::{Outcome, Verdict};

use crate::conntrack::{CtPacket, CtState, TableFull, Tracked, Tracker};
use crate::install::{Decision, Installed};
use crate::model::RuleSet;

/// What happened to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    /// The pipes' decision.
    pub decision: Decision,
    /// The packet's connection-tracking state (`None`: not tracked).
    pub state: Option<CtState>,
    /// The pipes passed a `new` packet but the connection table was full, and the
    /// policy says `table_full = "drop-new"`: the packet is dropped.
    pub table_full: bool,
}

impl Processed {
    /// True if the packet leaves the firewall (not dropped by the pipes or a full table).
    pub fn passed(&self) -> bool {
        passes(self.decision.outcome.verdict) && !self.table_full
    }
}

fn passes(v: Verdict) -> bool {
    !matches!(v, Verdict::Drop(_))
}

/// The conntrack stage of a policy.
#[derive(Debug)]
struct Stage {
    tracker: Arc<Tracker>,
    /// Plan port id -> zone (`None`: not tracked).
    zones: Vec<Option<u16>>,
    table_full: TableFull,
}

/// One worker's handle on an installed policy and its connection tracker.
#[derive(Debug)]
pub struct Firewall {
    installed: Arc<Installed>,
    stage: Option<Stage>,
    // Per-burst scratch.
    tracked: Vec<Option<Tracked>>,
    metas: Vec<u32>,
    headers: Headers,
}

impl Firewall {
    /// The handle for `installed`, compiled from `rules`. With `[conntrack]` in `rules`,
    /// packets are tracked in `tracker` (a new one sized by the policy when `None`;
    /// pass the same one to every worker and every reload to share connections).
    pub fn new(installed: Arc<Installed>, rules: &RuleSet, tracker: Option<Arc<Tracker>>) -> Self {
        let stage = rules.conntrack.as_ref().map(|ct| {
            let plan = installed.plan();
            let max_id = plan.ports.iter().map(|p| p.id).max().unwrap_or(0);
            let mut zones = vec![None; usize::from(max_id) + 1];
            for p in &plan.ports {
                zones[usize::from(p.id)] = rules.zone_of(&p.name);
            }
            Stage {
                tracker: tracker.unwrap_or_else(|| Arc::new(Tracker::new(ct.config))),
                zones,
                table_full: ct.config.table_full,
            }
        });
        Firewall {
            installed,
            stage,
            tracked: Vec::new(),
            metas: Vec::new(),
            headers: Headers::default(),
        }
    }

    /// The installed policy.
    pub fn installed(&self) -> &Arc<Installed> {
        &self.installed
    }

    /// The connection tracker, if the policy tracks connections.
    pub fn tracker(&self) -> Option<&Arc<Tracker>> {
        self.stage.as_ref().map(|s| &s.tracker)
    }

    /// Tracks one frame that arrived on plan port `port` at `now_ns` (ns on the
    /// tracker's clock): its state, or `None` when the port is not tracked or the frame
    /// is not IP.
    fn track(&mut self, port: u16, frame: &[u8], now_ns: u64) -> Option<Tracked> {
        let stage = self.stage.as_ref()?;
        let zone = (*stage.zones.get(usize::from(port))?)?;
        Headers::parse_into(frame, &mut self.headers);
        let pkt = CtPacket::parse(frame, &self.headers)?;
        Some(stage.tracker.track(zone, &pkt, now_ns))
    }

    /// Stores the connection of a `new` packet the pipes passed; true if a full table
    /// drops the packet.
    fn commit(&self, t: &Tracked, verdict: Verdict, now_ns: u64) -> bool {
        let Some(stage) = &self.stage else {
            return false;
        };
        if !t.opens() || !passes(verdict) {
            return false;
        }
        stage.tracker.commit(t, now_ns).is_err() && stage.table_full == TableFull::DropNew
    }

    /// Runs one frame that arrived on plan port `port` at `now_ns`.
    pub fn process(&mut self, port: u16, frame: &mut [u8], now_ns: u64) -> Processed {
        let tracked = self.track(port, frame, now_ns);
        let meta = tracked.map_or(0, |t| u32::from(t.state.bit()));
        let decision = self.installed.process_with_meta(port, meta, frame);
        let table_full = tracked.is_some_and(|t| self.commit(&t, decision.outcome.verdict, now_ns));
        Processed {
            decision,
            state: tracked.map(|t| t.state),
            table_full,
        }
    }

    /// Runs a burst of frames that arrived on `port` at `now_ns`, handing each frame's
    /// index, pipe outcome, deciding rule (as in [`Decision`]), state and table-full
    /// drop to `f`, in order.
    pub fn process_batch_each<B: AsMut<[u8]>>(
        &mut self,
        port: u16,
        frames: &mut [B],
        now_ns: u64,
        mut f: impl FnMut(usize, &Outcome, Option<u32>, Option<CtState>, bool),
    ) {
        if self.stage.is_none() {
            self.installed
                .process_batch_each(port, frames, |i, o, r| f(i, o, r, None, false));
            return;
        }
        let mut tracked = std::mem::take(&mut self.tracked);
        let mut metas = std::mem::take(&mut self.metas);
        let installed = Arc::clone(&self.installed);
        // Packets are tracked in order, and a connection a packet opens must exist for
        // the packets after it: a run of frames ends at each frame that would open a
        // connection, so its commit happens before the next frame is tracked. Bursts
        // of established traffic stay whole.
        let mut start = 0;
        while start < frames.len() {
            tracked.clear();
            metas.clear();
            let mut end = start;
            while end < frames.len() {
                let t = self.track(port, frames[end].as_mut(), now_ns);
                metas.push(t.map_or(0, |t| u32::from(t.state.bit())));
                tracked.push(t);
                end += 1;
                if t.is_some_and(|t| t.opens()) {
                    break;
                }
            }
            installed.process_batch_each_with_meta(
                port,
                &mut frames[start..end],
                Some(&metas),
                |i, o, r| {
                    let t = tracked[i];
                    let full = t.is_some_and(|t| self.commit(&t, o.verdict, now_ns));
                    f(start + i, o, r, t.map(|t| t.state), full);
                },
            );
            start = end;
        }
        self.tracked = tracked;
        self.metas = metas;
    }
}
