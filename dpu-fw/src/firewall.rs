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

use crate::conntrack::{CtPacket, CtState, Prepared, TableFull, Tracked, Tracker};
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
    prepared: Vec<Option<Prepared>>,
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
            prepared: Vec::new(),
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
        let (zone, pkt) = self.ct_packet(port, frame)?;
        Some(self.stage.as_ref()?.tracker.track(zone, &pkt, now_ns))
    }

    /// The frame as connection tracking sees it, and its zone; `None` when the port is
    /// not tracked or the frame is not IP.
    fn ct_packet(&mut self, port: u16, frame: &[u8]) -> Option<(u16, CtPacket)> {
        let stage = self.stage.as_ref()?;
        let zone = (*stage.zones.get(usize::from(port))?)?;
        Headers::parse_into(frame, &mut self.headers);
        Some((zone, CtPacket::parse(frame, &self.headers)?))
    }

    /// The first half of a burst's tracking ([`Tracker::prepare`]: the connection's
    /// slot is fetched into cache).
    fn prepare(&mut self, port: u16, frame: &[u8]) -> Option<Prepared> {
        let (zone, pkt) = self.ct_packet(port, frame)?;
        Some(self.stage.as_ref()?.tracker.prepare(zone, &pkt))
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
        let mut prepared = std::mem::take(&mut self.prepared);
        let installed = Arc::clone(&self.installed);
        // Every frame's connection slot is asked for before the first is tracked, so
        // the burst's misses to memory overlap.
        prepared.clear();
        for f in frames.iter_mut() {
            let p = self.prepare(port, f.as_mut());
            prepared.push(p);
        }
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
                let t = self.stage.as_ref().and_then(|s| {
                    let p = prepared[end].as_ref()?;
                    Some(s.tracker.track_prepared(p, now_ns))
                });
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
        self.prepared = prepared;
    }
}

/// The hardware path of a stateful policy, as a BlueField runs it: the `bluefield` plan
/// (root -> DOCA Flow CT pipe -> `established` pipelines) in front of the software path
/// (a [`Firewall`] on the `software` plan), which offloads a TCP or UDP connection to the
/// CT pipe once it is established and passed, both directions at once, and from then on
/// leaves its window checks off ([`Tracker::mark_offloaded`]: hardware forwards its
/// packets unseen).
///
/// On the sw backend this is a simulation of the BlueField's behaviour
/// (`dpu-fw simulate --target bluefield`, `tests/ct_offload.rs`); on a BlueField the
/// `hardware` [`Installed`] is on the hw backend, which does not bind `doca_flow_ct` yet.
#[derive(Debug)]
pub struct Offloading {
    hardware: Installed,
    software: Firewall,
    /// Connections offloaded (zone, protocol, the two endpoints in canonical order) and
    /// their CT entries.
    offloaded: std::collections::HashMap<ConnKey, doca_flow::EntryId>,
    /// Connections whose offload a FIN or RST tore down: they close in software.
    closing: std::collections::HashSet<ConnKey>,
    timeout_s: u32,
}

type ConnKey = (u16, u8, (IpAddr, u16), (IpAddr, u16));

use core::net::IpAddr;

/// What [`Offloading::process`] did with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffloadProcessed {
    /// The decision: the hardware pipes', or the software path's.
    pub processed: Processed,
    /// The hardware pipes decided it (a CT hit, or a port without tracking).
    pub in_hardware: bool,
    /// Software offloaded the packet's connection to the CT pipe after deciding it.
    pub offloaded: bool,
}

impl Offloading {
    /// The hardware path: `hardware` installed from the policy's `bluefield` plan,
    /// `software` the policy's software path. Offloaded connections age out of the CT
    /// pipe after `timeout_s` seconds without a hit.
    pub fn new(hardware: Installed, software: Firewall, timeout_s: u32) -> Self {
        Offloading {
            hardware,
            software,
            offloaded: std::collections::HashMap::new(),
            closing: std::collections::HashSet::new(),
            timeout_s,
        }
    }

    /// The hardware side.
    pub fn hardware(&self) -> &Installed {
        &self.hardware
    }

    /// The software side.
    pub fn software(&self) -> &Firewall {
        &self.software
    }

    /// Runs one frame that arrived on plan port `port` at `now_ns`: through the hardware
    /// pipes, and through the software path when they send it there.
    ///
    /// # Errors
    /// An offload the CT pipe refused (the packet's decision stands; the error says why
    /// the connection stays in software).
    pub fn process(
        &mut self,
        port: u16,
        frame: &mut [u8],
        now_ns: u64,
    ) -> Result<OffloadProcessed, crate::install::InstallError> {
        self.hardware.set_time_ns(now_ns);
        // Aged connections leave the CT pipe (`doca_flow_aging_handle`).
        for id in self.hardware.ct_aged() {
            self.offloaded.retain(|_, e| *e != id);
            self.hardware.ct_remove(id)?;
        }
        let mut hw_frame = frame.to_vec();
        let d = self.hardware.process(port, &mut hw_frame);
        if !matches!(
            d.outcome.verdict,
            Verdict::Rss { .. } | Verdict::Miss { .. }
        ) {
            frame.copy_from_slice(&hw_frame);
            // Hardware decides offloaded connections (CT hits) and untracked ports.
            let state = self
                .packet(port, frame)
                .filter(|(zone, pkt)| self.offloaded.contains_key(&canonical(*zone, &pkt.tuple)))
                .map(|_| CtState::Established);
            return Ok(OffloadProcessed {
                processed: Processed {
                    decision: d,
                    state,
                    table_full: false,
                },
                in_hardware: true,
                offloaded: false,
            });
        }
        let p = self.software.process(port, frame, now_ns);
        let mut offloaded = false;
        let Some((zone, pkt)) = self.packet(port, frame) else {
            return Ok(OffloadProcessed {
                processed: p,
                in_hardware: false,
                offloaded,
            });
        };
        let key = canonical(zone, &pkt.tuple);
        let closing = matches!(pkt.info, crate::conntrack::Info::Tcp(t)
            if t.flags & (crate::model::tcp_flag::FIN | crate::model::tcp_flag::RST) != 0);
        if closing && p.state != Some(CtState::Invalid) {
            // FIN or RST: the connection goes back to software for its close, as Linux's
            // flow offload tears a flow down.
            if let Some(id) = self.offloaded.remove(&key) {
                self.hardware.ct_remove(id)?;
            }
            self.closing.insert(key);
        } else if p.state == Some(CtState::New) {
            // The tuple opens a connection again (a new SYN after a close).
            self.closing.remove(&key);
        } else if p.state == Some(CtState::Established)
            && p.passed()
            && !self.closing.contains(&key)
        {
            if let (Some(tuple), false) = (ct_tuple(&pkt.tuple), self.offloaded.contains_key(&key))
            {
                let est = u32::from(CtState::Established.bit());
                let entry =
                    doca_flow::ct::CtEntry::both_ways(u32::from(zone), tuple, est, self.timeout_s);
                let id = self.hardware.ct_offload(entry)?;
                self.offloaded.insert(key, id);
                if let Some(t) = self.software.tracker() {
                    t.mark_offloaded(zone, &pkt.tuple, now_ns);
                }
                offloaded = true;
            }
        }
        Ok(OffloadProcessed {
            processed: p,
            in_hardware: false,
            offloaded,
        })
    }

    /// The zone and tracking view of a frame of a tracked port.
    fn packet(&self, port: u16, frame: &[u8]) -> Option<(u16, CtPacket)> {
        let stage = self.software.stage.as_ref()?;
        let zone = (*stage.zones.get(usize::from(port))?)?;
        let pkt = CtPacket::parse(frame, &Headers::parse(frame))?;
        Some((zone, pkt))
    }
}

/// The CT pipe's tuple of a TCP or UDP packet.
fn ct_tuple(t: &crate::conntrack::Tuple) -> Option<doca_flow::ct::CtTuple> {
    if t.proto != 6 && t.proto != 17 {
        return None;
    }
    Some(match (t.src, t.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => doca_flow::ct::CtTuple::V4 {
            src,
            dst,
            src_port: t.src_port,
            dst_port: t.dst_port,
            proto: t.proto,
        },
        (IpAddr::V6(src), IpAddr::V6(dst)) => doca_flow::ct::CtTuple::V6 {
            src,
            dst,
            src_port: t.src_port,
            dst_port: t.dst_port,
            proto: t.proto,
        },
        _ => return None,
    })
}

fn canonical(zone: u16, t: &crate::conntrack::Tuple) -> ConnKey {
    let (a, b) = ((t.src, t.src_port), (t.dst, t.dst_port));
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    (zone, t.proto, a, b)
}
