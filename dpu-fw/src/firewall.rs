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
//! use dpu_fw::PortId;
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
//! assert!(fw.process(PortId(1), &mut syn, 0).passed()); // out of the host: outbound default
//! let mut synack = PacketBuilder::tcp4(web, host, 443, 40000)
//!     .flags(tcp_flags::SYN | tcp_flags::ACK).seq(700).ack_number(2).build();
//! let p = fw.process(PortId(0), &mut synack, 1_000);
//! assert_eq!(p.state, Some(CtState::Established));
//! assert!(p.passed());
//! let mut stray = PacketBuilder::tcp4(web, host, 443, 40001).flags(tcp_flags::ACK).build();
//! let p = fw.process(PortId(0), &mut stray, 2_000);
//! assert_eq!(p.state, Some(CtState::Invalid));
//! assert!(!p.passed()); // inbound default: drop
//! ```

use std::sync::Arc;

use doca_flow::packet::Headers;
use doca_flow::{AclMemo, Outcome, PortId, Verdict};

use crate::conntrack::{CtPacket, CtState, Observed, Prepared, TableFull, Tracked, Tracker, Tuple};
use crate::install::{CtHandle, Decision, Installed};
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

/// True if the pipes' verdict `v` lets the packet leave the firewall (anything but a
/// drop; a full connection table may still drop it: [`Processed::passed`]).
pub fn passes(v: Verdict) -> bool {
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
    tracked: Vec<Option<Observed>>,
    /// Per frame: whether it is tracked, and its prepared packet.
    prepared: Vec<(bool, Prepared)>,
    /// Per frame: its headers, parsed once for the tracker and the pipes.
    hdrs: Vec<Headers>,
    /// The connection hashes the frames of the current run would open.
    opening: Vec<u64>,
    metas: Vec<u32>,
    /// Per frame of the current run: its direction's ACL memo, in and out
    /// ([`Installed::process_batch_each_memo`]).
    memos: Vec<AclMemo>,
    headers: Headers,
}

/// Why [`Firewall::software`] could not build a firewall.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The rule set does not compile for the software target.
    #[error("compiling the policy for the software backend: {0}")]
    Compile(#[from] crate::compile::CompileError),
    /// The software backend refused the plan.
    #[error("installing the policy on the software backend: {0}")]
    Install(#[from] crate::install::InstallError),
}

impl Firewall {
    /// The rule set compiled for the software target and installed on the software
    /// backend, with a new tracker when the policy has `[conntrack]`: what a worker of
    /// a software dataplane (or a test, or a simulation) runs. For several workers, or a
    /// tracker kept across reloads, build with [`Firewall::new`].
    ///
    /// # Errors
    /// [`BuildError`] when the policy does not compile or install (a policy `config`
    /// accepted compiles, unless it needs what the software target lacks).
    pub fn software(rules: &RuleSet) -> Result<Firewall, BuildError> {
        let plan = crate::compile::compile(rules, &crate::compile::Target::software())?;
        let installed = Installed::new(&plan)?;
        Ok(Firewall::new(Arc::new(installed), rules, None))
    }

    /// The handle for `installed`, compiled from `rules`. With `[conntrack]` in `rules`,
    /// packets are tracked in `tracker` (a new one sized by the policy when `None`;
    /// pass the same one to every worker and every reload to share connections).
    pub fn new(installed: Arc<Installed>, rules: &RuleSet, tracker: Option<Arc<Tracker>>) -> Self {
        let stage = rules.conntrack.as_ref().map(|ct| {
            let plan = installed.plan();
            let max_id = plan.ports.iter().map(|p| p.id.0).max().unwrap_or(0);
            let mut zones = vec![None; usize::from(max_id) + 1];
            for p in &plan.ports {
                zones[usize::from(p.id.0)] = rules.zone_of(&p.name);
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
            hdrs: Vec::new(),
            opening: Vec::new(),
            metas: Vec::new(),
            memos: Vec::new(),
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
    fn track(&mut self, port: PortId, frame: &[u8], now_ns: u64) -> Option<Tracked> {
        let (zone, pkt) = self.ct_packet(port, frame)?;
        Some(self.stage.as_ref()?.tracker.track(zone, &pkt, now_ns))
    }

    /// The frame as connection tracking sees it, and its zone; `None` when the port is
    /// not tracked or the frame is not IP.
    fn ct_packet(&mut self, port: PortId, frame: &[u8]) -> Option<(u16, CtPacket)> {
        let stage = self.stage.as_ref()?;
        let zone = (*stage.zones.get(usize::from(port.0))?)?;
        Headers::parse_into(frame, &mut self.headers);
        Some((zone, CtPacket::parse(frame, &self.headers)?))
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
    pub fn process(&mut self, port: PortId, frame: &mut [u8], now_ns: u64) -> Processed {
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
        port: PortId,
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
        let mut memos = std::mem::take(&mut self.memos);
        let mut prepared = std::mem::take(&mut self.prepared);
        let mut hdrs = std::mem::take(&mut self.hdrs);
        let installed = Arc::clone(&self.installed);
        // Every frame is parsed once, here, for the tracker and the pipes alike, and its
        // connection slot is asked for before the first frame is tracked, so the burst's
        // misses to memory overlap.
        let n = frames.len();
        if hdrs.len() < n {
            hdrs.resize(n, Headers::default());
            prepared.resize(n, (false, Prepared::default()));
        }
        // Per frame of the burst, written by position (zipped or indexed below: no
        // push per frame), and handed to the pipes run by run.
        if tracked.len() < n {
            tracked.resize(n, None);
            metas.resize(n, 0);
            memos.resize(n, AclMemo::NONE);
        }
        let stage = self.stage.as_ref().expect("checked above");
        let zone = stage.zones.get(usize::from(port.0)).copied().flatten();
        for (f, (h, (ok, p))) in frames
            .iter_mut()
            .zip(hdrs[..n].iter_mut().zip(&mut prepared[..n]))
        {
            let f = f.as_mut();
            Headers::parse_into(f, h);
            *ok = zone.is_some_and(|z| stage.tracker.prepare_headers(z, f, h, p));
        }
        let roomy = stage.tracker.has_room_for(n);
        let mut opening = std::mem::take(&mut self.opening);
        let mut start = 0;
        while start < n {
            opening.clear();
            // A run ends before a frame of a connection the run would open, and after
            // an opening frame when the table may be short of room.
            let mut end = start;
            let per_frame = prepared[start..n]
                .iter()
                .zip(tracked[start..n].iter_mut())
                .zip(metas[start..n].iter_mut().zip(&mut memos[start..n]));
            for (((ok, p), slot), (meta, memo)) in per_frame {
                let h = if *ok { p.conn_hash() } else { None };
                if h.is_some_and(|h| opening.contains(&h)) {
                    break;
                }
                let t = ok.then(|| stage.tracker.observe(p, now_ns));
                *meta = t.map_or(0, |t| u32::from(t.state.bit()));
                *memo = t.map_or(AclMemo::NONE, |t| t.memo());
                *slot = t;
                end += 1;
                if t.is_some_and(|t| t.opens) {
                    match h {
                        Some(h) if roomy => opening.push(h),
                        _ => break,
                    }
                }
            }
            let (run_tracked, run_prepared) = (&tracked[start..end], &prepared[start..end]);
            installed.process_batch_each_memo(
                port,
                &mut frames[start..end],
                Some(&metas[start..end]),
                Some(&mut hdrs[start..end]),
                Some(&mut memos[start..end]),
                |i, o, r| {
                    let t = run_tracked[i];
                    // A `new` packet the pipes passed stores its connection; true if a
                    // full table drops the packet.
                    let full = t.is_some_and(|t| t.opens)
                        && passes(o.verdict)
                        && stage
                            .tracker
                            .commit_prepared(&run_prepared[i].1, now_ns)
                            .is_err()
                        && stage.table_full == TableFull::DropNew;
                    f(start + i, o, r, t.map(|t| t.state), full);
                },
            );
            // The connections keep the ACL answers their packets' walks recorded.
            for ((t, m), (_, p)) in run_tracked.iter().zip(&memos[start..end]).zip(run_prepared) {
                if let Some(t) = t {
                    if t.may_store(*m) {
                        stage.tracker.store_memo(p, *m, now_ns);
                    }
                }
            }
            start = end;
        }
        self.tracked = tracked;
        self.metas = metas;
        self.memos = memos;
        self.prepared = prepared;
        self.opening = opening;
        self.hdrs = hdrs;
    }
}

/// What the software path asks of the offload agent after deciding a packet
/// ([`Firewall::offload_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadRequest {
    /// The connection is established and passed: put both directions into the CT pipe.
    Offload {
        /// The connection's zone.
        zone: u16,
        /// The packet's tuple (either direction).
        tuple: Tuple,
    },
    /// A FIN or RST: take the connection out of the CT pipe; it closes in software, as
    /// Linux's flow offload tears a flow down.
    Close {
        /// The connection's zone.
        zone: u16,
        /// The packet's tuple (either direction).
        tuple: Tuple,
    },
}

impl Firewall {
    /// After `p` decided `frame` (from plan port `port`, at `now_ns`): what the offload
    /// agent must do about its connection, if anything. A TCP or UDP connection is
    /// offloaded once, by the first established packet the policy passes (the packet
    /// claims it: [`Tracker::claim_offload`]); a FIN or RST closes it, and no packet
    /// offloads it again until a new connection opens on the tuple.
    pub fn offload_request(
        &mut self,
        port: PortId,
        frame: &[u8],
        p: &Processed,
        now_ns: u64,
    ) -> Option<OffloadRequest> {
        let (zone, pkt) = self.ct_packet(port, frame)?;
        ct_tuple(&pkt.tuple)?;
        let tracker = &self.stage.as_ref()?.tracker;
        let closing = matches!(pkt.info, crate::conntrack::Info::Tcp(t)
            if t.flags & (crate::model::tcp_flag::FIN | crate::model::tcp_flag::RST) != 0);
        let tuple = pkt.tuple;
        if closing && p.state != Some(CtState::Invalid) {
            // No later packet of this connection offloads it again.
            tracker.claim_offload(zone, &tuple, now_ns);
            return Some(OffloadRequest::Close { zone, tuple });
        }
        (p.state == Some(CtState::Established)
            && p.passed()
            && tracker.claim_offload(zone, &tuple, now_ns))
        .then_some(OffloadRequest::Offload { zone, tuple })
    }
}

/// Carries out [`OffloadRequest`]s on the hardware side of a stateful policy: adds and
/// removes connections in the CT pipe ([`Installed::ct_offload`], `doca_flow_ct` on a
/// BlueField), removes the ones hardware aged out, and keeps the software tracker in
/// step: offloaded connections skip window checks and are kept alive while hardware
/// holds them; hardware ages a connection after the timeout its state has in software
/// (capped), and an aged connection ends in software too (no packet of it was seen
/// anywhere for its timeout); a refused offload goes back to software.
///
/// One agent per hardware [`Installed`]: `dpu-fw run`'s workers send it requests and
/// its control thread applies them; [`Offloading`] applies them at once.
///
/// In DOCA Flow's vnf mode (SF ports, a lane per port: [`crate::install`]) the
/// agent works the same: [`Installed`] puts a connection into the CT pipe of every
/// lane its zone reaches (the original direction enters one port, the reply another),
/// removes it from all of them, and reports it aged once every lane's copy aged.
#[derive(Debug)]
pub struct OffloadAgent {
    /// Connections offloaded (zone, protocol, the two endpoints in canonical order) and
    /// their CT handles.
    offloaded: std::collections::HashMap<ConnKey, CtHandle>,
    by_handle: std::collections::HashMap<CtHandle, ConnKey>,
    max_timeout_s: u32,
    stats: OffloadStats,
}

/// What an [`OffloadAgent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadStats {
    /// Connections put into the CT pipe.
    pub offloaded: u64,
    /// Connections taken out on a FIN or RST.
    pub closed: u64,
    /// Connections hardware aged out.
    pub aged: u64,
    /// Offloads the CT pipe refused (the connection stays in software).
    pub refused: u64,
}

impl OffloadAgent {
    /// An agent whose connections age out of the CT pipe after the timeout of their
    /// state (`[conntrack] timeouts`) without a hit, at most `max_timeout_s` seconds.
    pub fn new(max_timeout_s: u32) -> Self {
        OffloadAgent {
            offloaded: std::collections::HashMap::new(),
            by_handle: std::collections::HashMap::new(),
            max_timeout_s,
            stats: OffloadStats::default(),
        }
    }

    /// Connections in the CT pipe.
    pub fn len(&self) -> usize {
        self.offloaded.len()
    }

    /// True if no connection is offloaded.
    pub fn is_empty(&self) -> bool {
        self.offloaded.is_empty()
    }

    /// What the agent did so far.
    pub fn stats(&self) -> OffloadStats {
        self.stats
    }

    /// Carries out `req` on `hw` at `now_ns` (the tracker's clock). Returns true when
    /// the connection was offloaded.
    ///
    /// # Errors
    /// The CT pipe refusing an add (the connection stays in software and a later packet
    /// may ask again) or a removal.
    pub fn apply(
        &mut self,
        hw: &mut Installed,
        tracker: &Tracker,
        req: OffloadRequest,
        now_ns: u64,
    ) -> Result<bool, crate::install::InstallError> {
        match req {
            OffloadRequest::Offload { zone, tuple } => {
                let key = canonical(zone, &tuple);
                let Some(ct) = ct_tuple(&tuple) else {
                    return Ok(false);
                };
                if self.offloaded.contains_key(&key) {
                    return Ok(false);
                }
                let Some(timeout_ns) = tracker.timeout_of(zone, &tuple, now_ns) else {
                    // Gone from the table since the ask (flushed or expired).
                    return Ok(false);
                };
                let timeout_s = u32::try_from(timeout_ns.div_ceil(1_000_000_000))
                    .unwrap_or(u32::MAX)
                    .clamp(1, self.max_timeout_s.max(1));
                let est = u32::from(CtState::Established.bit());
                let entry = doca_flow::ct::CtEntry::both_ways(u32::from(zone), ct, est, timeout_s);
                match hw.ct_offload(entry) {
                    Ok(h) => {
                        self.offloaded.insert(key, h);
                        self.by_handle.insert(h, key);
                        tracker.mark_offloaded(zone, &tuple, now_ns);
                        self.stats.offloaded += 1;
                        Ok(true)
                    }
                    Err(e) => {
                        tracker.release_offload(zone, &tuple, now_ns);
                        self.stats.refused += 1;
                        Err(e)
                    }
                }
            }
            OffloadRequest::Close { zone, tuple } => {
                if let Some(h) = self.offloaded.remove(&canonical(zone, &tuple)) {
                    self.by_handle.remove(&h);
                    self.stats.closed += 1;
                    hw.ct_remove(h)?;
                }
                Ok(false)
            }
        }
    }

    /// Removes the connections hardware aged out of `hw`'s CT pipe and ends them in
    /// software too. Returns how many aged out.
    ///
    /// # Errors
    /// A removal the CT pipe refused.
    pub fn age(
        &mut self,
        hw: &mut Installed,
        tracker: &Tracker,
        now_ns: u64,
    ) -> Result<usize, crate::install::InstallError> {
        // An update to a policy without a CT pipe ended every offload.
        if hw.ct_offloaded() < self.offloaded.len() {
            self.offloaded.retain(|_, h| hw.ct_is_offloaded(*h));
            self.by_handle.retain(|h, _| hw.ct_is_offloaded(*h));
        }
        let aged = hw.ct_aged();
        for &h in &aged {
            if let Some(key) = self.by_handle.remove(&h) {
                self.offloaded.remove(&key);
                tracker.expire_conn(key.0, &key_tuple(&key), now_ns);
            }
            self.stats.aged += 1;
            hw.ct_remove(h)?;
        }
        Ok(aged.len())
    }

    /// Restarts the software timeouts of the connections hardware holds, which forwards
    /// their packets unseen. Call it well within the shortest timeout, e.g. once a
    /// second.
    pub fn refresh(&self, tracker: &Tracker, now_ns: u64) {
        let tuples: Vec<(u16, Tuple)> =
            self.offloaded.keys().map(|k| (k.0, key_tuple(k))).collect();
        tracker.refresh_all(tuples.iter().map(|(z, t)| (*z, t)), now_ns);
    }
}

/// The hardware path of a stateful policy, as a BlueField runs it, in one place for
/// simulation: the `bluefield` plan (root -> DOCA Flow CT pipe -> `established`
/// pipelines) in front of the software path (a [`Firewall`] on the `software` plan),
/// whose [`OffloadRequest`]s an [`OffloadAgent`] carries out at once: a TCP or UDP
/// connection goes into the CT pipe once it is established and passed, both directions
/// at once, and from then on its window checks are off ([`Tracker::mark_offloaded`]:
/// hardware forwards its packets unseen).
///
/// `dpu-fw simulate --target bluefield` and `tests/ct_offload.rs` run it on the sw
/// backend and on the hw backend over the DOCA Flow emulator. `dpu-fw run` on a
/// BlueField splits it: hardware decides in the NIC, the workers run the software path
/// and send their requests to an agent on the control thread.
#[derive(Debug)]
pub struct Offloading {
    hardware: Installed,
    software: Firewall,
    agent: OffloadAgent,
    /// When the agent last refreshed the offloaded connections' software timeouts.
    refreshed_ns: u64,
}

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
    /// pipe after their state's timeout without a hit, at most `max_timeout_s` seconds.
    pub fn new(hardware: Installed, software: Firewall, max_timeout_s: u32) -> Self {
        Offloading {
            hardware,
            software,
            agent: OffloadAgent::new(max_timeout_s),
            refreshed_ns: 0,
        }
    }

    /// The hardware side.
    pub fn hardware(&self) -> &Installed {
        &self.hardware
    }

    /// The hardware side, to update it (connections stay offloaded across a
    /// [`Installed::update`]).
    pub fn hardware_mut(&mut self) -> &mut Installed {
        &mut self.hardware
    }

    /// The software side.
    pub fn software(&self) -> &Firewall {
        &self.software
    }

    /// Puts `software` in place of the software side (a reload: the policy's new
    /// software path, which should share the old one's tracker) and returns the old one.
    /// The hardware side and the offloaded connections stay; update the hardware with
    /// [`Offloading::hardware_mut`].
    pub fn replace_software(&mut self, software: Firewall) -> Firewall {
        std::mem::replace(&mut self.software, software)
    }

    /// The offload agent.
    pub fn agent(&self) -> &OffloadAgent {
        &self.agent
    }

    /// Runs one frame that arrived on plan port `port` at `now_ns`: through the hardware
    /// pipes, and through the software path when they send it there.
    ///
    /// # Errors
    /// An offload the CT pipe refused (the packet's decision stands; the error says why
    /// the connection stays in software).
    pub fn process(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        now_ns: u64,
    ) -> Result<OffloadProcessed, crate::install::InstallError> {
        self.hardware.set_time_ns(now_ns);
        let tracker = self.software.tracker().cloned();
        // Aged connections leave the CT pipe (`doca_flow_aging_handle`).
        if let Some(t) = &tracker {
            self.agent.age(&mut self.hardware, t, now_ns)?;
            if now_ns.saturating_sub(self.refreshed_ns) >= 1_000_000_000 {
                self.refreshed_ns = now_ns;
                self.agent.refresh(t, now_ns);
            }
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
                .filter(|(zone, pkt)| {
                    self.agent
                        .offloaded
                        .contains_key(&canonical(*zone, &pkt.tuple))
                })
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
        if let (Some(req), Some(t)) = (
            self.software.offload_request(port, frame, &p, now_ns),
            &tracker,
        ) {
            offloaded = self.agent.apply(&mut self.hardware, t, req, now_ns)?;
        }
        Ok(OffloadProcessed {
            processed: p,
            in_hardware: false,
            offloaded,
        })
    }

    /// The zone and tracking view of a frame of a tracked port.
    fn packet(&self, port: PortId, frame: &[u8]) -> Option<(u16, CtPacket)> {
        let stage = self.software.stage.as_ref()?;
        let zone = (*stage.zones.get(usize::from(port.0))?)?;
        let pkt = CtPacket::parse(frame, &Headers::parse(frame))?;
        Some((zone, pkt))
    }
}

type ConnKey = (u16, u8, (IpAddr, u16), (IpAddr, u16));

use core::net::IpAddr;

/// A tuple of the connection `key` names (one of its directions).
fn key_tuple(key: &ConnKey) -> Tuple {
    Tuple {
        src: key.2.0,
        src_port: key.2.1,
        dst: key.3.0,
        dst_port: key.3.1,
        proto: key.1,
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
