//! Running a packet through the pipes: the sw backend's hot path.

use crate::action::Actions;
use crate::backend::{Domain, EntryId, FwdSpec, PipeId, PortId};
use crate::classifier::Key;
use crate::matching::{META_FIELDS, PacketKey, PacketMeta};
use crate::packet::{Headers, PlainTuple};

use super::SwBackend;
use super::memo::AclMemo;
use super::table::{AclBatch, CT_REPLY, Table, acl_key_v4_of};

/// The most pipes a packet may visit before the sw backend calls it a loop and drops it.
pub const MAX_HOPS: u32 = 64;

/// How many entry hits [`Outcome::trail`] records.
pub const TRAIL_LEN: usize = 6;

/// Why the sw backend dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// An entry's (or its pipe's) `Fwd::Drop`.
    Fwd,
    /// A miss that the pipe drops: its `fwd_miss` is `Fwd::Drop`, or it is a non-root pipe
    /// without `fwd_miss`.
    Miss,
    /// A meter coloured the packet red.
    Meter,
    /// More than [`MAX_HOPS`] pipes: a forwarding loop.
    Loop,
    /// The ingress port is not started.
    UnknownPort,
    /// Nothing in software runs these pipes: on real hardware the NIC runs them, so a
    /// packet handed to software cannot be run through them (the answer of
    /// [`crate::Flow::datapath`]'s absence, never a real drop).
    InHardware,
}

/// Where a packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// Sent out of this port.
    Port(PortId),
    /// Dropped.
    Drop(DropReason),
    /// Delivered to software on this RSS queue by a `Fwd::Rss`.
    Rss {
        /// The queue.
        queue: u16,
    },
    /// Delivered to the kernel.
    Kernel,
    /// Missed the ingress root pipe (or no root pipe exists) with no fwd_miss: DOCA delivers
    /// such packets to the ingress port's RSS queues (switch mode: the representor's).
    Miss {
        /// The RSS queue, chosen by hash over all of the flow's queues.
        queue: u16,
    },
}

/// What happened to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Where it went.
    pub verdict: Verdict,
    /// The packet's meta at the end (pkt_meta and scratch words written by actions).
    pub meta: PacketMeta,
    /// Whether an action rewrote header bytes.
    pub modified: bool,
    /// How many pipes it visited.
    pub hops: u32,
    /// The last entry the packet hit (`None` if it hit none): with a map from entries to
    /// rules, this tells which rule decided the packet.
    pub entry: Option<EntryId>,
    /// The first [`TRAIL_LEN`] entries the packet hit, in order (misses add none): with
    /// a map from entries to rules, the deciding entry can be found even when later
    /// pipes (meters, steering) hit entries of their own.
    pub trail: [Option<EntryId>; TRAIL_LEN],
    /// The tag ([`SwBackend::set_entry_tag`]) of the last entry hit that has one; 0 if
    /// the packet hit no tagged entry.
    pub tag: u32,
}

/// What a dataplane reads of an [`Outcome`]: where the packet went and its tag.
/// [`SwBackend::process_batch_brief`] hands these out, and on the firewall's direct
/// path builds no outcome for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brief {
    /// [`Outcome::verdict`].
    pub verdict: Verdict,
    /// [`Outcome::tag`].
    pub tag: u32,
}

impl From<&Outcome> for Brief {
    #[inline(always)]
    fn from(o: &Outcome) -> Brief {
        Brief {
            verdict: o.verdict,
            tag: o.tag,
        }
    }
}

/// The most frames [`SwBackend::process_batch_each`] pauses at once.
const BATCH_MAX: usize = 64;

/// A packet's walk through the pipes, paused or running.
#[derive(Clone, Copy)]
pub(super) struct Walk {
    next: Next,
    domain: Domain,
    egress_port: PortId,
    meta: PacketMeta,
    /// `hdrs` holds the parsed headers.
    parsed: bool,
    /// [`PacketKey::present_of`] the walk's headers, recomputed whenever they are
    /// parsed again (so each pipe's key does not compute it anew).
    present: u64,
}

/// Per-batch state of the batched path, kept between batches (no allocation per batch).
#[derive(Default)]
pub(super) struct BatchScratch {
    hdrs: Vec<Headers>,
    outs: Vec<Outcome>,
    walks: Vec<Walk>,
    /// Per frame: its walk is paused before an ACL lookup.
    paused: Vec<bool>,
    /// (ACL pipe, frame index) of the paused walks.
    pending: Vec<(PipeId, u32)>,
    /// Per frame: the answer of its paused ACL lookup.
    answers: Vec<Option<u32>>,
    /// Per frame: its answer is a memo's hit, whose slot is checked when the walk
    /// resumes (after the slots were touched together).
    from_memo: Vec<bool>,
    /// One group's lookups.
    acl: AclBatch,
    /// [`SwBackend::batch_direct`]: per frame its classifier key and its prefix's memo
    /// slot (its answer goes to `answers`).
    direct_keys: Vec<Key<u32>>,
    direct_slots: Vec<u8>,
    /// [`SwBackend::batch_direct`]: per frame, whether its headers were parsed (else
    /// it is a plain IPv4 frame whose tuple was read alone: [`PlainTuple`]).
    direct_parsed: Vec<bool>,
    /// [`SwBackend::process_batch_brief`]: per frame its brief, when the direct path
    /// took the chunk.
    briefs: Vec<Brief>,
}

impl BatchScratch {
    fn resize(&mut self, n: usize) {
        if self.hdrs.len() < n {
            self.hdrs.resize(n, Headers::default());
            self.outs.resize(n, blank_outcome());
            self.walks.resize(n, BLANK_WALK);
            self.paused.resize(n, false);
        }
        if self.direct_keys.len() < n {
            self.direct_keys.resize(n, NO_KEY);
            self.direct_slots.resize(n, 0);
            self.direct_parsed.resize(n, false);
            self.briefs.resize(
                n,
                Brief {
                    verdict: Verdict::Drop(DropReason::UnknownPort),
                    tag: 0,
                },
            );
        }
    }
}

impl core::fmt::Debug for BatchScratch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BatchScratch").finish_non_exhaustive()
    }
}

/// A classifier key for a frame [`SwBackend::batch_direct`] looks up without one (its
/// answer is not used).
const NO_KEY: Key<u32> = Key {
    src: 0,
    dst: 0,
    src_port: 0,
    dst_port: 0,
    proto: 0,
    has_ports: false,
};

pub(super) const BLANK_WALK: Walk = Walk {
    next: Next::Done(Verdict::Drop(DropReason::UnknownPort)),
    domain: Domain::Ingress,
    egress_port: PortId(0),
    meta: PacketMeta {
        port_id: PortId(0),
        pkt_meta: 0,
        scratch: [0; 4],
    },
    parsed: false,
    present: 0,
};

/// The counters one walk added to, in order: when the walk is burst-constant (see
/// [`SwBackend::process_batch_each`]) the rest of the burst is added to them at once.
struct Tally {
    n: usize,
    refs: [CounterRef; MAX_HOPS as usize],
    /// The fields the pipes it looked up may read ([`SwPipe::reads`](super::SwPipe)).
    reads: u64,
}

/// The batched path's memory between the frames of a chunk
/// ([`SwBackend::walk_from_prefix`]): the key and memo slot of the last frame (a frame
/// of the same key, most of a burst, skips the memo's lookup), and per memo slot the
/// frames and bytes not yet added to that prefix's counters (added once per chunk:
/// counters commute, and nothing reads them while a chunk runs).
struct PrefixCounts {
    /// (packet meta, present bits, memo slot) of the last frame's key.
    last: Option<(u32, u64, usize)>,
    /// Bit `i`: slot `i` has frames not yet added.
    touched: u64,
    packets: [u32; super::prefix::SLOTS],
    bytes: [u64; super::prefix::SLOTS],
}

impl PrefixCounts {
    const fn new() -> Self {
        PrefixCounts {
            last: None,
            touched: 0,
            packets: [0; super::prefix::SLOTS],
            bytes: [0; super::prefix::SLOTS],
        }
    }

    /// One frame of `len` bytes for the prefix in memo slot `slot`.
    #[inline(always)]
    fn add(&mut self, slot: usize, len: usize) {
        self.touched |= 1 << slot;
        self.packets[slot] += 1;
        self.bytes[slot] += len as u64;
    }
}

/// Copies into `out` what a remembered prefix's outcome `o` fixes for every frame of its
/// key whatever the rest of the walk does: the entries hit, hops, tag and whether it
/// rewrote headers. Field by field: a whole-record copy (~170 bytes) became a memcpy
/// call per frame (perf: 5% of the batched path, one-rule policy).
#[inline(always)]
fn replay_prefix(o: &Outcome, out: &mut Outcome) {
    out.modified = o.modified;
    out.hops = o.hops;
    out.entry = o.entry;
    out.trail = o.trail;
    out.tag = o.tag;
}

/// A counter that a walk added to.
#[derive(Clone, Copy)]
pub(super) enum CounterRef {
    /// The counter of the entry in this slot.
    Entry(u32),
    /// The miss counter of this pipe.
    Miss(u32),
}

impl Tally {
    const fn new() -> Tally {
        Tally {
            n: 0,
            refs: [CounterRef::Miss(0); MAX_HOPS as usize],
            reads: 0,
        }
    }

    #[inline]
    fn push(&mut self, r: CounterRef) {
        // A walk looks up at most MAX_HOPS pipes and adds to one counter per lookup, so
        // this never overflows (asserted in debug builds; release stays in bounds).
        debug_assert!(self.n < self.refs.len(), "more counters than hops");
        if let Some(slot) = self.refs.get_mut(self.n) {
            *slot = r;
            self.n += 1;
        }
    }
}

pub(super) fn blank_outcome() -> Outcome {
    Outcome {
        verdict: Verdict::Drop(DropReason::UnknownPort),
        meta: PacketMeta::default(),
        modified: false,
        hops: 0,
        entry: None,
        trail: [None; TRAIL_LEN],
        tag: 0,
    }
}

/// The next step after a pipe.
#[derive(Clone, Copy)]
enum Next {
    Pipe(PipeId),
    Port(PortId),
    Done(Verdict),
}

impl SwBackend {
    /// Runs one frame that arrived on `port` through the pipes; modifies it in place.
    ///
    /// Allocation-free. Meters see [`SwBackend::time_ns`].
    pub fn process_packet(&mut self, port: PortId, pkt: &mut [u8]) -> Outcome {
        let mut out = blank_outcome();
        self.process_packet_into(port, pkt, &mut out);
        out
    }

    /// [`SwBackend::process_packet`] into `out` (overwritten whole): the batch entry
    /// points keep one outcome and have it filled in place. Returning a fresh one per
    /// packet meant assembling it on this function's stack and copying it out, which
    /// stalled on store forwarding (perf: ~20% of this function's samples).
    pub fn process_packet_into(&mut self, port: PortId, pkt: &mut [u8], out: &mut Outcome) {
        self.process_packet_meta_into(port, 0, pkt, out);
    }

    /// [`SwBackend::process_packet`] for a frame that arrives with packet meta
    /// `pkt_meta` already set (`meta.pkt_meta`), as a frame that software sends with
    /// DPDK's metadata field does; pipes match it like any meta set by an action.
    pub fn process_packet_with_meta(
        &mut self,
        port: PortId,
        pkt_meta: u32,
        pkt: &mut [u8],
    ) -> Outcome {
        let mut out = blank_outcome();
        self.process_packet_meta_into(port, pkt_meta, pkt, &mut out);
        out
    }

    fn process_packet_meta_into(
        &mut self,
        port: PortId,
        pkt_meta: u32,
        pkt: &mut [u8],
        out: &mut Outcome,
    ) {
        let mut hdrs = Headers::default();
        let mut w = BLANK_WALK;
        if let Some(next) = self.walk_start(port, pkt_meta, pkt, false, &mut hdrs, out, &mut w) {
            self.walk_run(&mut w, next, pkt, &mut hdrs, out, None, false, None);
        }
    }

    /// Starts a packet's walk in `w`: resets `out`, parses if an installed pipe needs it,
    /// finds the ingress root, which it returns (the first step, for [`Self::walk_run`]).
    /// `None` when the packet is already decided (`out.verdict` and `out.meta` are set).
    /// Everything is written in place or returned in registers: building these records
    /// on the stack and reading them back at once stalled on store forwarding.
    // Always inlined: out of line (once it took the meta word too) it cost a call and
    // spills per packet on the batched ACL path (acl1_10k in `dpu-fw run`, measured).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn walk_start(
        &self,
        port: PortId,
        pkt_meta: u32,
        pkt: &[u8],
        pre_parsed: bool,
        hdrs: &mut Headers,
        out: &mut Outcome,
        w: &mut Walk,
    ) -> Option<Next> {
        // Parse only when an installed pipe looks past the meta fields (a pipeline that
        // only steers by port needs no parse); otherwise parse the moment something
        // needs the headers: an RSS hash, a header rewrite, a miss. `pre_parsed`: the
        // caller already parsed `pkt` into `hdrs`.
        let parsed = self.fields_used & !META_FIELDS != 0;
        if parsed && !pre_parsed {
            Headers::parse_into(pkt, hdrs);
        }
        out.modified = false;
        out.hops = 0;
        out.entry = None;
        out.trail = [None; TRAIL_LEN];
        out.tag = 0;
        w.meta.port_id = port;
        w.meta.pkt_meta = pkt_meta;
        w.meta.scratch = [0; 4];
        let route = self.route(port);
        if !route.started {
            out.verdict = Verdict::Drop(DropReason::UnknownPort);
            out.meta = w.meta;
            return None;
        };
        let next = match route.ingress {
            Some(p) => Next::Pipe(p),
            None => {
                if !parsed && !pre_parsed {
                    Headers::parse_into(pkt, hdrs);
                }
                out.verdict = self.default_miss(&PacketKey::new(hdrs, &w.meta));
                out.meta = w.meta;
                return None;
            }
        };
        w.domain = Domain::Ingress;
        w.egress_port = port;
        w.parsed = parsed || pre_parsed;
        w.present = PacketKey::present_of(hdrs);
        Some(next)
    }

    /// Runs a walk from step `next` until the packet is decided (`None`, verdict and
    /// meta in `out`), or, with `suspend_at_acl`, until it is about to look up an ACL pipe
    /// (`Some(pipe)`, also left in `w.next`; nothing about that lookup has happened yet).
    /// `acl` is the answer of an ACL lookup made for this packet while it was suspended:
    /// used for that pipe, once.
    // Inlined into both callers, so the per-packet path is specialised for
    // `acl == None, suspend_at_acl == false`. Measured alternately against the single-path
    // code before it (dpu-fw run, 3 x 3 s): out of line, the empty policy lost 5-10% of
    // its rate; inlined, 1-5%, while acl1_10k gained 12-14% from the batched lookups.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn walk_run(
        &mut self,
        w: &mut Walk,
        mut next: Next,
        pkt: &mut [u8],
        hdrs: &mut Headers,
        out: &mut Outcome,
        mut acl: Option<(PipeId, Option<u32>)>,
        suspend_at_acl: bool,
        mut tally: Option<&mut Tally>,
    ) -> Option<PipeId> {
        macro_rules! ensure_parsed {
            () => {
                if !w.parsed {
                    Headers::parse_into(pkt, hdrs);
                    w.parsed = true;
                    w.present = PacketKey::present_of(hdrs);
                }
            };
        }
        let len = pkt.len();
        let now = self.now_ns;
        let verdict = loop {
            let cur = match next {
                Next::Pipe(p) => p,
                Next::Port(p) => match (w.domain, self.route(p).egress) {
                    (Domain::Ingress, Some(root)) => {
                        w.domain = Domain::Egress;
                        w.egress_port = p;
                        root
                    }
                    _ => break Verdict::Port(p),
                },
                Next::Done(v) => break v,
            };
            let Some(pipe) = self.pipes.get_mut(cur.0 as usize).and_then(Option::as_mut) else {
                out.hops += 1;
                if out.hops > MAX_HOPS {
                    break Verdict::Drop(DropReason::Loop);
                }
                break Verdict::Drop(DropReason::Miss);
            };
            let answer = match acl {
                Some((p, a)) if p == cur => {
                    acl = None;
                    Some(a)
                }
                _ => None,
            };
            if answer.is_none() && suspend_at_acl && matches!(pipe.table, Table::Acl(_)) {
                // `next` still names this pipe: the resumed walk starts here.
                w.next = Next::Pipe(cur);
                return Some(cur);
            }
            out.hops += 1;
            if out.hops > MAX_HOPS {
                break Verdict::Drop(DropReason::Loop);
            }
            if let Some(t) = tally.as_deref_mut() {
                t.reads |= pipe.reads;
            }
            let key = PacketKey::with_present(hdrs, &w.meta, w.present);
            let hit = match answer {
                Some(a) => a,
                None => pipe.table.lookup(&pipe.template, &key, &mut self.scratch),
            };
            // A CT pipe's hit says its direction in the top bit.
            let is_ct = matches!(pipe.table, Table::Ct { .. });
            match hit {
                Some(raw) => {
                    let (slot, reply) = if is_ct {
                        (raw & !CT_REPLY, raw & CT_REPLY != 0)
                    } else {
                        (raw, false)
                    };
                    let s = &mut self.slots[slot as usize];
                    let id = EntryId {
                        index: slot,
                        generation: s.generation,
                    };
                    out.entry = Some(id);
                    if let Some(t) = out.trail.iter_mut().find(|t| t.is_none()) {
                        *t = Some(id);
                    }
                    if s.tag != 0 {
                        out.tag = s.tag;
                    }
                    let d = &mut s.data;
                    // Only a CT pipe's entries have a `ct` part; it sits past the slot's
                    // first cache line, so other hits never read it.
                    let mut ct = if is_ct { d.ct.as_deref_mut() } else { None };
                    if let Some(ct) = ct.as_deref_mut() {
                        ct.last_hit_ns = now;
                        ct.aged = false;
                    }
                    match ct {
                        // The reply direction's own counter and actions; a CT pipe reads
                        // headers, so no meta-only tally runs here.
                        Some(ct) if reply => {
                            if ct.reply_counted {
                                ct.reply_counter.add(len);
                            }
                            apply_meta(&ct.reply_actions, &mut w.meta);
                        }
                        _ => {
                            if d.counted {
                                d.counter.add(len);
                                if let Some(t) = tally.as_deref_mut() {
                                    t.push(CounterRef::Entry(slot));
                                }
                            }
                            if let Some(m) = &mut d.meter {
                                if !m.admit(len, now) {
                                    break Verdict::Drop(DropReason::Meter);
                                }
                            }
                            if d.has_actions {
                                apply_meta(&d.actions, &mut w.meta);
                                if d.modifies {
                                    ensure_parsed!();
                                    apply_headers(&d.actions, pkt, hdrs);
                                    out.modified = true;
                                    Headers::parse_into(pkt, hdrs);
                                    w.present = PacketKey::present_of(hdrs);
                                }
                            }
                        }
                    }
                    if let Some(FwdSpec::Rss(_)) = d.fwd {
                        ensure_parsed!();
                    }
                    next = resolve(
                        d.fwd.as_ref(),
                        &PacketKey::with_present(hdrs, &w.meta, w.present),
                        Next::Done(Verdict::Drop(DropReason::Fwd)),
                    );
                }
                None => {
                    if let Some(c) = &mut pipe.miss {
                        c.add(len);
                        if let Some(t) = tally.as_deref_mut() {
                            t.push(CounterRef::Miss(cur.0));
                        }
                    }
                    let dflt = if !pipe.cfg.is_root {
                        Next::Done(Verdict::Drop(DropReason::Miss))
                    } else if w.domain == Domain::Egress {
                        Next::Done(Verdict::Port(w.egress_port))
                    } else {
                        Next::Done(Verdict::Miss { queue: 0 })
                    };
                    let fwd_miss = pipe.fwd_miss.as_ref();
                    ensure_parsed!();
                    let key = PacketKey::with_present(hdrs, &w.meta, w.present);
                    next = match resolve(fwd_miss, &key, dflt) {
                        Next::Done(Verdict::Miss { .. }) => Next::Done(self.default_miss(&key)),
                        Next::Done(Verdict::Drop(_)) => Next::Done(Verdict::Drop(DropReason::Miss)),
                        n => n,
                    };
                }
            }
            if let (Domain::Egress, Next::Port(p)) = (w.domain, next) {
                break Verdict::Port(p);
            }
        };
        out.verdict = verdict;
        out.meta = w.meta;
        None
    }

    /// Runs a batch of frames that arrived on `port`; appends one outcome per frame to `out`.
    pub fn process_batch<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        out: &mut Vec<Outcome>,
    ) {
        out.reserve(pkts.len());
        self.process_batch_each(port, pkts, |_, o| out.push(*o));
    }

    /// Runs a batch of frames that arrived on `port`, handing each frame's index and
    /// outcome to `f`, in frame order. The outcome is lent, not moved: a dataplane reads a
    /// field or two of it, and moving the whole record per packet cost measurable
    /// store-forwarding stalls.
    ///
    /// When ACL pipes are installed and no meter is, the walks of a batch pause before
    /// their first ACL lookup, the lookups of each ACL pipe are made together (the
    /// classifier's batch lookup keeps several tree walks in flight, hiding cache misses),
    /// and the walks resume in frame order. Lookups are pure and counters commute, so the
    /// outcomes, frames and counters equal those of [`SwBackend::process_packet`] frame by
    /// frame (a proptest checks it); meters depend on order, so with meters every frame
    /// runs to its end before the next starts.
    ///
    /// When no installed pipe reads past the meta fields (a pipeline that steers by port
    /// and meta words only) and no meter is installed, a walk that reads no header byte
    /// depends on nothing but the ingress port: the first frame's walk decides the whole
    /// batch, and the rest of the batch is added to the counters that walk hit.
    pub fn process_batch_each<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        f: impl FnMut(usize, &Outcome),
    ) {
        self.process_batch_each_with_meta(port, pkts, None, f);
    }

    /// [`SwBackend::process_batch_each`] for frames that arrive with packet meta set
    /// (`metas[i]` for frame `i`; see [`SwBackend::process_packet_with_meta`]); `None`
    /// is 0 for every frame.
    ///
    /// # Panics
    /// If `metas` is shorter than `pkts`.
    #[inline]
    pub fn process_batch_each_with_meta<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        metas: Option<&[u32]>,
        f: impl FnMut(usize, &Outcome),
    ) {
        self.process_batch_each_parsed(port, pkts, metas, None, f);
    }

    /// [`SwBackend::process_batch_each_with_meta`] for frames the caller has already
    /// parsed: `hdrs[i]` must be [`Headers::parse`] of frame `i` as it is now (a
    /// connection-tracking stage that parsed the burst passes its headers on, so no frame
    /// is parsed twice); the walks use them in place, and a header rewrite changes them
    /// as it changes the frame. `None` parses as usual.
    ///
    /// # Panics
    /// If `metas` or `hdrs` is shorter than `pkts`.
    #[inline]
    pub fn process_batch_each_parsed<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        metas: Option<&[u32]>,
        hdrs: Option<&mut [Headers]>,
        f: impl FnMut(usize, &Outcome),
    ) {
        self.process_batch_each_memo(port, pkts, metas, hdrs, None, f);
    }

    /// [`SwBackend::process_batch_each_parsed`] for a caller that remembers ACL answers
    /// per flow direction (see [`AclMemo`] and the rules in its module): `memos[i]` is
    /// the memo kept for frame `i`'s flow direction ([`AclMemo::NONE`] if none). A walk
    /// that pauses at an ACL pipe resumes with the memo's answer when it is still exact
    /// there, and otherwise looks the frame up; when that lookup can be memoised,
    /// `memos[i]` is overwritten with the new memo, which the caller keeps for the
    /// direction's next frame. Every other memo is left as it was. Outcomes, frames and
    /// counters are exactly those without memos (a proptest checks it across random
    /// entry changes).
    ///
    /// The caller's contract: `memos[i]` was left by a frame of the same flow direction
    /// as frame `i` (equal values in every one of [`FLOW_FIELDS`](super::FLOW_FIELDS)),
    /// on any backend; a memo of another flow gives that flow's answer.
    ///
    /// Memos are used on the batched ACL path only: a batch of one frame, or a backend
    /// with a meter installed, walks frame by frame and leaves `memos` untouched.
    ///
    /// # Panics
    /// If `metas`, `hdrs` or `memos` is shorter than `pkts`.
    pub fn process_batch_each_memo<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        metas: Option<&[u32]>,
        mut hdrs: Option<&mut [Headers]>,
        mut memos: Option<&mut [AclMemo]>,
        mut f: impl FnMut(usize, &Outcome),
    ) {
        let meta = |i: usize| metas.map_or(0, |m| m[i]);
        if let Some(m) = metas {
            assert!(m.len() >= pkts.len(), "one meta word per frame");
        }
        if let Some(h) = &hdrs {
            assert!(h.len() >= pkts.len(), "one parse per frame");
        }
        if let Some(m) = &memos {
            assert!(m.len() >= pkts.len(), "one memo per frame");
        }
        match self.batch_path(pkts.len(), metas) {
            BatchPath::MetaOnly => {
                self.batch_meta_only(port, meta(0), pkts, f);
                return;
            }
            BatchPath::PerFrame => {
                let mut o = blank_outcome();
                for (i, p) in pkts.iter_mut().enumerate() {
                    self.process_packet_meta_into(port, meta(i), p.as_mut(), &mut o);
                    f(i, &o);
                }
                return;
            }
            BatchPath::Chunked => {}
        }
        let mut b = std::mem::take(&mut self.batch);
        for (c, chunk) in pkts.chunks_mut(BATCH_MAX).enumerate() {
            let metas = metas.map(|m| &m[c * BATCH_MAX..]);
            let start = c * BATCH_MAX;
            let mut hdrs = hdrs
                .as_deref_mut()
                .map(|h| &mut h[start..start + chunk.len()]);
            let memos = memos
                .as_deref_mut()
                .map(|m| &mut m[start..start + chunk.len()]);
            // The direct path for the firewall's shape; it declines (having changed
            // nothing) any chunk it does not cover, which then takes the general one.
            let direct = memos.is_none()
                && self.batch_direct::<false, B>(port, chunk, metas, hdrs.as_deref_mut(), &mut b);
            if !direct {
                self.batch_chunk(port, chunk, metas, hdrs, memos, &mut b);
            }
            for (i, out) in b.outs[..chunk.len()].iter().enumerate() {
                f(c * BATCH_MAX + i, out);
            }
        }
        self.batch = b;
    }

    /// [`SwBackend::process_batch_each_with_meta`] for a dataplane that reads each
    /// frame's verdict and tag only: appends frame `i`'s [`Brief`] (that of its
    /// outcome) to `out`, in frame order. Frames and counters are those of
    /// `process_batch_each_with_meta` (the proptests of `tests/sw_batch.rs` compare the
    /// two). On the direct path of a firewall's shape no [`Outcome`] is built for a
    /// frame its ACL answer decides (`bench/instructions.sh`: 261 instructions per
    /// frame with `ARGS=--brief`, 283 without, at 7ef42d2). A `Vec`, not a callback:
    /// the caller's loop over the briefs keeps its sums in registers, where a
    /// callback's captures, behind this out-of-line call, were read and written in
    /// memory per frame.
    ///
    /// # Panics
    /// If `metas` is shorter than `pkts`.
    pub fn process_batch_brief<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        metas: Option<&[u32]>,
        out: &mut Vec<Brief>,
    ) {
        if let Some(m) = metas {
            assert!(m.len() >= pkts.len(), "one meta word per frame");
        }
        out.reserve(pkts.len());
        if self.batch_path(pkts.len(), metas) != BatchPath::Chunked {
            self.process_batch_each_memo(port, pkts, metas, None, None, |_, o| {
                out.push(Brief::from(o))
            });
            return;
        }
        let mut b = std::mem::take(&mut self.batch);
        for (c, chunk) in pkts.chunks_mut(BATCH_MAX).enumerate() {
            let metas = metas.map(|m| &m[c * BATCH_MAX..]);
            if self.batch_direct::<true, B>(port, chunk, metas, None, &mut b) {
                out.extend_from_slice(&b.briefs[..chunk.len()]);
            } else {
                self.batch_chunk(port, chunk, metas, None, None, &mut b);
                out.extend(b.outs[..chunk.len()].iter().map(Brief::from));
            }
        }
        self.batch = b;
    }

    /// Which path a batch of `n` frames with packet meta `metas` takes
    /// ([`SwBackend::process_batch_each`] says why).
    #[inline]
    fn batch_path(&self, n: usize, metas: Option<&[u32]>) -> BatchPath {
        let same_meta = metas.is_none_or(|m| m[..n].windows(2).all(|w| w[0] == w[1]));
        if self.meters_used == 0 && self.fields_used & !META_FIELDS == 0 && n >= 2 && same_meta {
            BatchPath::MetaOnly
        } else if self.acl_pipes == 0 || self.meters_used > 0 || n < 2 {
            BatchPath::PerFrame
        } else {
            BatchPath::Chunked
        }
    }

    /// [`SwBackend::process_batch_each`] while every installed pipe reads meta fields
    /// only and no meter is installed. The first frame walks; if its walk read no header
    /// byte (nothing parsed on demand: no miss to RSS, no RSS fwd, no rewrite) its outcome
    /// is a function of the ingress port and the pipes alone (the meta words start equal
    /// and the actions that change them are the same), so every frame of the batch gets
    /// it and the counters it hit take the other frames at once. Otherwise the other
    /// frames walk one by one.
    fn batch_meta_only<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkt_meta: u32,
        pkts: &mut [B],
        mut f: impl FnMut(usize, &Outcome),
    ) {
        let Some((first, rest)) = pkts.split_first_mut() else {
            return;
        };
        let (first, mut o) = (first.as_mut(), blank_outcome());
        let (mut hdrs, mut w, mut tally) = (Headers::default(), BLANK_WALK, Tally::new());
        let constant =
            match self.walk_start(port, pkt_meta, first, false, &mut hdrs, &mut o, &mut w) {
                Some(next) => {
                    self.walk_run(
                        &mut w,
                        next,
                        first,
                        &mut hdrs,
                        &mut o,
                        None,
                        false,
                        Some(&mut tally),
                    );
                    !w.parsed
                }
                // Decided before any pipe: an unknown port (constant), or no ingress root,
                // whose miss hashes the headers (not constant).
                None => o.verdict == Verdict::Drop(DropReason::UnknownPort),
            };
        f(0, &o);
        if !constant {
            for (i, p) in rest.iter_mut().enumerate() {
                self.process_packet_meta_into(port, pkt_meta, p.as_mut(), &mut o);
                f(i + 1, &o);
            }
            return;
        }
        let packets = rest.len() as u64;
        let bytes: u64 = rest.iter_mut().map(|p| p.as_mut().len() as u64).sum();
        for &r in &tally.refs[..tally.n] {
            self.add_to(r, packets, bytes);
        }
        for i in 1..pkts.len() {
            f(i, &o);
        }
    }

    /// One chunk (at most [`BATCH_MAX`] frames) of [`SwBackend::process_batch_each`]'s
    /// batched path; the outcomes are left in `b.outs`.
    fn batch_chunk<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        metas: Option<&[u32]>,
        pre: Option<&mut [Headers]>,
        mut memos: Option<&mut [AclMemo]>,
        b: &mut BatchScratch,
    ) {
        let n = pkts.len();
        b.resize(n);
        b.pending.clear();
        b.answers.clear();
        b.answers.resize(n, None);
        b.from_memo.clear();
        b.from_memo.resize(n, false);
        let version = self.acl_version;
        let pre_parsed = pre.is_some();
        let mut own = None;
        let hdrs: &mut [Headers] = match pre {
            Some(h) => h,
            None => &mut own.insert(std::mem::take(&mut b.hdrs))[..n],
        };
        // Every frame is parsed up front anyway when a pipe reads past the meta words:
        // then a walk prefix remembered for the frame's key may stand in for its first
        // steps.
        let prefixed = self.prefix_on && self.fields_used & !META_FIELDS != 0;
        if prefixed {
            self.prefix.check_version(self.plan_version);
        }
        // 1. Every walk runs up to its first ACL lookup (or to its end); a walk whose
        // memo is exact at that pipe has its answer already.
        let mut counts = PrefixCounts::new();
        // Per-frame state in lockstep (zipped: no index, so no bounds check, per array).
        let state = hdrs
            .iter_mut()
            .zip(b.outs[..n].iter_mut().zip(&mut b.walks[..n]))
            .zip(b.paused[..n].iter_mut().zip(&mut b.answers[..n]))
            .zip(&mut b.from_memo[..n]);
        for (i, (p, (((hdr, (out, w)), (is_paused, answer)), from_memo))) in
            pkts.iter_mut().zip(state).enumerate()
        {
            let pkt = p.as_mut();
            *is_paused = false;
            let pkt_meta = metas.map_or(0, |m| m[i]);
            let paused = if prefixed {
                if !pre_parsed {
                    Headers::parse_into(pkt, hdr);
                }
                self.walk_from_prefix(port, pkt_meta, pkt, hdr, out, w, &mut counts)
            } else {
                self.walk_start(port, pkt_meta, pkt, pre_parsed, hdr, out, w)
                    .and_then(|next| self.walk_run(w, next, pkt, hdr, out, None, true, None))
            };
            if let Some(pipe) = paused {
                *is_paused = true;
                let memo = memos.as_deref().map_or(AclMemo::NONE, |m| m[i]);
                match memo_answer(pipe, memo, version, out.modified) {
                    Some(a) => {
                        *answer = a;
                        *from_memo = a.is_some();
                        self.memo_stats.hits += u64::from(a.is_none());
                    }
                    None => b.pending.push((pipe, i as u32)),
                }
            }
        }
        self.flush_counts(&mut counts);
        // 2. The lookups of each ACL pipe together.
        // Pushed in frame order, so already sorted when every walk paused at one pipe
        // (a port's traffic of one IP version); the keys are distinct, so an unstable
        // sort keeps frame order within a pipe.
        let key = |&(pipe, i): &(PipeId, u32)| (u64::from(pipe.0) << 32) | u64::from(i);
        if !b.pending.is_sorted_by_key(key) {
            b.pending.sort_unstable_by_key(key);
        }
        let mut at = 0;
        while at < b.pending.len() {
            let pipe = b.pending[at].0;
            let end = at + b.pending[at..].iter().take_while(|e| e.0 == pipe).count();
            let p = self.pipes[pipe.0 as usize]
                .as_ref()
                .expect("suspended at a live pipe");
            let group = &b.pending[at..end];
            p.table.acl_lookup_batch(
                &p.template,
                group.iter().map(|&(_, i)| {
                    let i = i as usize;
                    PacketKey::with_present(&hdrs[i], &b.walks[i].meta, b.walks[i].present)
                }),
                &mut b.acl,
            );
            for (&(_, i), &a) in group.iter().zip(&b.acl.out) {
                b.answers[i as usize] = a;
            }
            if let (Some(m), true) = (memos.as_deref_mut(), p.memo) {
                for &(_, i) in group {
                    let i = i as usize;
                    // A walk that rewrote headers before the pipe looked up fields its
                    // flow's other frames may not have.
                    if !b.outs[i].modified {
                        m[i] = AclMemo::record(version, pipe, b.answers[i]);
                        self.memo_stats.recorded += 1;
                    }
                }
            }
            at = end;
        }
        self.touch_slots(&b.answers[..n], memos.is_some());
        // 3. The paused walks resume, in frame order.
        let mut miss_of: Option<(PipeId, Option<AclMiss>)> = None;
        let state = hdrs
            .iter_mut()
            .zip(b.outs[..n].iter_mut().zip(&mut b.walks[..n]))
            .zip(b.paused[..n].iter().zip(&b.answers[..n]))
            .zip(&b.from_memo[..n]);
        for (p, (((hdr, (out, w)), (&is_paused, &hit)), &from_memo)) in pkts.iter_mut().zip(state) {
            if is_paused {
                let Next::Pipe(pipe) = w.next else {
                    unreachable!("a paused walk names its ACL pipe")
                };
                let mut answer = Some((pipe, hit));
                if from_memo {
                    // A memo's hit: its slot must hold an installed entry of this pipe
                    // (it does unless the caller broke the memo contract: then the
                    // walk looks the packet up as if there were no memo).
                    let slot = hit.and_then(|a| self.slots.get(a as usize));
                    if slot.is_some_and(|s| s.installed && s.pipe == pipe.0) {
                        self.memo_stats.hits += 1;
                    } else {
                        answer = None;
                    }
                }
                let pkt = p.as_mut();
                if let Some((_, a)) = answer {
                    let miss = match miss_of {
                        Some((at, m)) if at == pipe => m,
                        _ => {
                            let m = self.acl_miss(pipe);
                            miss_of = Some((pipe, m));
                            m
                        }
                    };
                    out.meta = w.meta;
                    if let Some(miss) = miss {
                        if self.finish_at_acl(w.domain, pipe, &miss, a, pkt.len(), out) {
                            continue;
                        }
                    }
                }
                self.walk_run(w, Next::Pipe(pipe), pkt, hdr, out, answer, false, None);
            }
        }
        if let Some(h) = own {
            b.hdrs = h;
        }
    }

    /// [`Self::batch_chunk`] for the chunks most of a firewall's traffic makes: no ACL
    /// memos, and every frame's key (port, packet meta, header shape) has a remembered
    /// walk prefix ([`PrefixMemo`](super::prefix::PrefixMemo)) that is decided or ends
    /// at one IPv4 ACL pipe, the same for the whole chunk, whose template has no
    /// constants. Then the walks need no per-frame state until their answers: pass 1
    /// reads each frame's shape and notes its prefix and classifier key (a plain IPv4
    /// frame's are read without parsing it: [`PlainTuple`]), the chunk's keys go
    /// to the pipe's classifier at once, and pass 2 builds each outcome from its
    /// prefix and answer ([`Self::finish_at_acl`], or the general walk from the ACL
    /// pipe when the answer leads further). Outcomes, frames and counters are those of
    /// `batch_chunk` (the proptests of `tests/sw_batch.rs` compare them with walks
    /// frame by frame); pass 2 parses a plain frame only if its walk goes on. Returns
    /// false, with nothing changed (the scratch's headers aside), for any other chunk.
    /// `BRIEF`: each frame's [`Brief`] goes to `b.briefs`, and `b.outs` holds nothing
    /// meant for the caller ([`Self::direct_finish`]).
    fn batch_direct<const BRIEF: bool, B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        metas: Option<&[u32]>,
        pre: Option<&mut [Headers]>,
        b: &mut BatchScratch,
    ) -> bool {
        use super::prefix::End;
        if !self.prefix_on || self.fields_used & !META_FIELDS == 0 {
            return false;
        }
        let n = pkts.len();
        b.resize(n);
        self.prefix.check_version(self.plan_version);
        let pre_parsed = pre.is_some();
        let mut own = None;
        let hdrs: &mut [Headers] = match pre {
            Some(h) => &mut h[..n],
            None => &mut own.insert(std::mem::take(&mut b.hdrs))[..n],
        };
        // Pass 1: each frame's prefix and key; nothing is changed before the chunk is
        // known to be covered.
        let mut acl: Option<PipeId> = None;
        // The last two keys' slots (a firewall's traffic mixes TCP and UDP: one was
        // missed by every other frame, and its lookup redone).
        let mut last: [Option<(u32, u64, usize)>; 2] = [None; 2];
        let mut covered = true;
        let per_frame = hdrs
            .iter_mut()
            .zip(b.direct_keys[..n].iter_mut().zip(&mut b.direct_slots[..n]))
            .zip(&mut b.direct_parsed[..n]);
        for (i, (p, ((hdr, (key, slot_of)), parsed))) in pkts.iter_mut().zip(per_frame).enumerate()
        {
            // A plain IPv4 frame's shape and tuple are all the prefix and the lookup
            // need: its headers are parsed only if its walk goes on past the ACL pipe
            // (pass 2). Writing them whole was a sixth of the path's instructions.
            let pkt = p.as_mut();
            let plain = if pre_parsed {
                None
            } else {
                PlainTuple::of(pkt)
            };
            *parsed = plain.is_none();
            // The key is written at once, while the tuple is in registers (written
            // after the prefix's lookup, it was spilled and reloaded: ~10 instructions
            // per frame); a frame decided by its prefix leaves an unused one.
            let present = match plain {
                Some(t) => {
                    *key = Key {
                        src: t.src,
                        dst: t.dst,
                        src_port: t.src_port,
                        dst_port: t.dst_port,
                        proto: t.protocol,
                        has_ports: t.l4.has_ports(),
                    };
                    PacketKey::present_of_plain(t.l4)
                }
                None => {
                    if !pre_parsed {
                        Headers::parse_into(pkt, hdr);
                    }
                    *key = acl_key_v4_of(hdr).unwrap_or(NO_KEY);
                    PacketKey::present_of(hdr)
                }
            };
            let pkt_meta = metas.map_or(0, |m| m[i]);
            // A slot in `last` passed the check of its end below when it came in, and
            // `acl` does not change once set: a hit needs no check.
            let slot = match last {
                [Some((m, pr, s)), _] if m == pkt_meta && pr == present => s,
                [_, Some((m, pr, s))] if m == pkt_meta && pr == present => s,
                _ => {
                    let Ok(s) = self.prefix.find(port.0, pkt_meta, present) else {
                        covered = false;
                        break;
                    };
                    match self.prefix.at(s).end {
                        End::Acl(pipe) if acl.is_none_or(|a| a == pipe) => acl = Some(pipe),
                        End::Done => {}
                        End::Acl(_) | End::Unkept => {
                            covered = false;
                            break;
                        }
                    }
                    last = [Some((pkt_meta, present, s)), last[0]];
                    s
                }
            };
            // Memo slots number fewer than 256.
            *slot_of = slot as u8;
        }
        let classifier = acl.filter(|_| covered).and_then(|pipe| {
            let p = self.pipes.get(pipe.0 as usize)?.as_ref()?;
            p.table.acl_v4_direct(&p.template)
        });
        let taken = match (covered, acl, classifier) {
            // Every frame was decided by its prefix: no lookup at all.
            (true, None, _) => {
                self.direct_finish::<BRIEF, B>(pkts, hdrs, None, b);
                true
            }
            (true, Some(pipe), Some(classifier)) => {
                // The lookups, all at once: a frame that is not IPv4 looks up a blank
                // key, one decided by its prefix whatever key its slot held; pass 2 uses
                // neither answer.
                b.answers.clear();
                b.answers.resize(n, None);
                classifier.classify_batch(&b.direct_keys[..n], &mut b.answers[..n]);
                self.direct_finish::<BRIEF, B>(pkts, hdrs, Some(pipe), b);
                true
            }
            _ => false,
        };
        if let Some(h) = own {
            b.hdrs = h;
        }
        taken
    }

    /// Pass 2 of [`Self::batch_direct`]: the outcomes of a covered chunk, from each
    /// frame's prefix (`b.direct_slots`) and its answer at ACL pipe `pipe`
    /// (`b.answers`), into `b.outs`; with `BRIEF`, their briefs into `b.briefs`
    /// instead: a frame whose answer ends its walk then writes its verdict and tag
    /// and nothing else (a whole outcome is ~130 bytes per frame, which a dataplane
    /// never reads), one that goes on walks into its `b.outs` slot as usual.
    #[inline(always)]
    fn direct_finish<const BRIEF: bool, B: AsMut<[u8]>>(
        &mut self,
        pkts: &mut [B],
        hdrs: &mut [Headers],
        pipe: Option<PipeId>,
        b: &mut BatchScratch,
    ) {
        use super::prefix::End;
        let n = pkts.len();
        let mut counts = PrefixCounts::new();
        if pipe.is_some() {
            // (A frame decided by its prefix has the answer of a blank or stale key:
            // touching its slot costs a load, nothing else.)
            self.touch_slots(&b.answers[..n], false);
        }
        // Every frame that reaches an ACL pipe reaches this one (`batch_direct`).
        let miss = pipe.and_then(|at| self.acl_miss(at));
        let per_frame = hdrs
            .iter_mut()
            .zip(b.outs[..n].iter_mut().zip(&mut b.briefs[..n]))
            .zip(b.direct_slots[..n].iter().zip(&b.direct_parsed[..n]));
        for (i, (p, ((hdr, (out, brief)), (&slot, &parsed)))) in
            pkts.iter_mut().zip(per_frame).enumerate()
        {
            let slot = usize::from(slot);
            let pkt = p.as_mut();
            let pre = self.prefix.at(slot);
            let (end, domain) = (pre.end, pre.walk.domain);
            counts.add(slot, pkt.len());
            let End::Acl(at) = end else {
                // Decided by the prefix.
                let o = &pre.out;
                if BRIEF {
                    *brief = Brief::from(o);
                } else {
                    replay_prefix(o, out);
                    out.verdict = o.verdict;
                    out.meta = o.meta;
                }
                continue;
            };
            // A frame that is not IPv4 misses an IPv4 ACL pipe (its key was blank); an
            // unparsed one is plain IPv4.
            let v4 = !parsed || matches!(hdr.l3, crate::packet::L3::Ipv4(_));
            let hit = if v4 { b.answers[i] } else { None };
            if BRIEF {
                let (hops, tag) = (pre.out.hops, pre.out.tag);
                // (A match, not a closure: closures here were not inlined.)
                let ended = match &miss {
                    Some(miss) => self.acl_end(domain, at, miss, hit, pkt.len(), hops),
                    None => None,
                };
                if let Some(e) = ended {
                    *brief = Brief {
                        verdict: e.verdict,
                        tag: match e.hit {
                            Some((_, t)) if t != 0 => t,
                            _ => tag,
                        },
                    };
                    continue;
                }
            }
            // Straight from the prefix into the outcome: a copy of the walk on the
            // stack, read back as a whole, stalled on store forwarding (perf: a tenth
            // of the batched path's cycles on one load).
            let pre = self.prefix.at(slot);
            out.meta = pre.walk.meta;
            replay_prefix(&pre.out, out);
            // (In brief, `acl_end` already found that the answer leads further.)
            let done = match &miss {
                Some(miss) if !BRIEF => self.finish_at_acl(domain, at, miss, hit, pkt.len(), out),
                _ => false,
            };
            if !done {
                if !parsed {
                    Headers::parse_into(pkt, hdr);
                }
                let mut w = self.prefix.at(slot).walk;
                self.walk_run(
                    &mut w,
                    Next::Pipe(at),
                    pkt,
                    hdr,
                    out,
                    Some((at, hit)),
                    false,
                    None,
                );
            }
            if BRIEF {
                *brief = Brief::from(&*out);
            }
        }
        self.flush_counts(&mut counts);
    }

    /// Touches the entry slots of `answers` together, before the walks resume: their
    /// cache misses overlap here instead of stalling each resumed walk in turn. With
    /// `memos`, also the line of `pipe` and `installed`, which the check of a memo's
    /// answer reads; a hit itself reads only the slot's first line ([`Slot`]).
    ///
    /// [`Slot`]: super::entries::Slot
    #[inline(always)]
    fn touch_slots(&self, answers: &[Option<u32>], memos: bool) {
        let mut touch = 0u32;
        for a in answers.iter().flatten() {
            // `get`: a memo's slot is checked only when its walk resumes.
            touch ^= self.slots.get(*a as usize).map_or(0, |s| {
                s.generation
                    ^ if memos {
                        s.pipe ^ u32::from(s.installed)
                    } else {
                        0
                    }
            });
        }
        core::hint::black_box(touch);
    }

    /// What a miss of ACL pipe `cur` does, read once per chunk instead of once per
    /// frame ([`Self::finish_at_acl`]); `None` when there is no such pipe.
    #[inline]
    fn acl_miss(&self, cur: PipeId) -> Option<AclMiss> {
        let pipe = self.pipes.get(cur.0 as usize).and_then(Option::as_ref)?;
        let verdict = |domain| {
            // A root pipe's miss is the port's default, not a forward.
            if pipe.cfg.is_root {
                return None;
            }
            // A miss's drop (its own or its forward's) is a miss.
            end_of(self, domain, pipe.fwd_miss.as_ref(), DropReason::Miss)
        };
        let ends = [verdict(Domain::Ingress), verdict(Domain::Egress)];
        Some(AclMiss {
            verdict: ends.map(|v| v.unwrap_or(Verdict::Drop(DropReason::Miss))),
            ends: ends.map(|v| v.is_some()),
            counted: pipe.miss.is_some(),
        })
    }

    /// Ends a walk paused at ACL pipe `cur` whose answer is `hit`, when that answer
    /// decides the packet at once: an entry (or the pipe's miss, `miss` from
    /// [`Self::acl_miss`]) with no meter and no header rewrite that forwards to a port
    /// with no egress root on the way, drops or goes to the kernel. Does exactly what
    /// [`Self::walk_run`] would do from there (the proptests of `tests/sw_batch.rs`
    /// compare them), without its general loop; false, with nothing changed, when the
    /// answer leads further (a pipe, RSS, an egress root, a meter, a rewrite, a root
    /// pipe's miss, the hop limit). `out.meta` must hold the walk's meta (`domain` is
    /// the walk's): the answer's actions apply to it there. A hit reads its entry's
    /// slot only, not the pipe (perf, acl1_1k in `dpu-fw run`: the pipe's lookup and
    /// niche check per frame were a sixth of this function's cycles).
    #[inline(always)]
    fn finish_at_acl(
        &mut self,
        domain: Domain,
        cur: PipeId,
        miss: &AclMiss,
        hit: Option<u32>,
        len: usize,
        out: &mut Outcome,
    ) -> bool {
        let Some(end) = self.acl_end(domain, cur, miss, hit, len, out.hops) else {
            return false;
        };
        out.hops += 1;
        if let Some((id, tag)) = end.hit {
            out.entry = Some(id);
            if let Some(t) = out.trail.iter_mut().find(|t| t.is_none()) {
                *t = Some(id);
            }
            if tag != 0 {
                out.tag = tag;
            }
            if end.actions {
                apply_meta(&self.slots[id.index as usize].data.actions, &mut out.meta);
            }
        }
        out.verdict = end.verdict;
        true
    }

    /// The decision part of [`Self::finish_at_acl`] for a walk that has made `hops`
    /// hops: when the answer ends the walk, adds the frame (`len` bytes) to the entry's
    /// (or the miss's) counter and says how it ended; `None`, with nothing changed, when
    /// the answer leads further. [`Self::direct_finish`]'s brief form needs no more than
    /// this (no outcome is written).
    #[inline(always)]
    fn acl_end(
        &mut self,
        domain: Domain,
        cur: PipeId,
        miss: &AclMiss,
        hit: Option<u32>,
        len: usize,
        hops: u32,
    ) -> Option<AclEnd> {
        if hops >= MAX_HOPS {
            return None;
        }
        match hit {
            Some(slot) => {
                let s = &self.slots[slot as usize];
                let d = &s.data;
                if d.meter.is_some() || d.modifies {
                    return None;
                }
                let verdict = end_of(self, domain, d.fwd.as_ref(), DropReason::Fwd)?;
                let s = &mut self.slots[slot as usize];
                if s.data.counted {
                    s.data.counter.add(len);
                }
                let id = EntryId {
                    index: slot,
                    generation: s.generation,
                };
                Some(AclEnd {
                    verdict,
                    hit: Some((id, s.tag)),
                    actions: s.data.has_actions,
                })
            }
            None => {
                let d = usize::from(domain == Domain::Egress);
                if !miss.ends[d] {
                    return None;
                }
                let verdict = miss.verdict[d];
                if miss.counted {
                    if let Some(c) = self.pipes[cur.0 as usize]
                        .as_mut()
                        .and_then(|p| p.miss.as_mut())
                    {
                        c.add(len);
                    }
                }
                Some(AclEnd {
                    verdict,
                    hit: None,
                    actions: false,
                })
            }
        }
    }

    /// Adds `packets` and `bytes` to the counter `r` names.
    #[inline]
    fn add_to(&mut self, r: CounterRef, packets: u64, bytes: u64) {
        let c = match r {
            CounterRef::Entry(slot) => Some(&mut self.slots[slot as usize].data.counter),
            CounterRef::Miss(pipe) => self.pipes[pipe as usize]
                .as_mut()
                .and_then(|p| p.miss.as_mut()),
        };
        if let Some(c) = c {
            c.add_many(packets, bytes);
        }
    }

    /// Starts frame `pkt`'s walk from the prefix remembered for its key (see
    /// [`PrefixMemo`](super::prefix::PrefixMemo)), recording one when there is none;
    /// `hdr` holds its parse. Returns where it paused, as [`Self::walk_run`] does. The
    /// prefix's counters get the frame through `counts` ([`Self::flush_counts`]).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn walk_from_prefix(
        &mut self,
        port: PortId,
        pkt_meta: u32,
        pkt: &mut [u8],
        hdr: &mut Headers,
        out: &mut Outcome,
        w: &mut Walk,
        counts: &mut PrefixCounts,
    ) -> Option<PipeId> {
        use super::prefix::End;
        let present = PacketKey::present_of(hdr);
        let slot = match counts.last {
            Some((m, p, i)) if m == pkt_meta && p == present => Ok(i),
            _ => {
                let found = self.prefix.find(port.0, pkt_meta, present);
                counts.last = found.ok().map(|i| (pkt_meta, present, i));
                found
            }
        };
        match slot {
            Ok(i) if self.prefix.at(i).end != End::Unkept => {
                let p = self.prefix.at(i);
                let o = &p.out;
                replay_prefix(o, out);
                if p.end == End::Done {
                    out.verdict = o.verdict;
                    out.meta = o.meta;
                }
                *w = p.walk;
                counts.add(i, pkt.len());
                match p.end {
                    End::Acl(pipe) => Some(pipe),
                    _ => None,
                }
            }
            // The key's walks read more than the key: walk, without recording.
            Ok(_) => {
                let next = self.walk_start(port, pkt_meta, pkt, true, hdr, out, w)?;
                self.walk_run(w, next, pkt, hdr, out, None, true, None)
            }
            Err(i) => {
                let mut t = Tally::new();
                // Decided before any pipe (an unknown port, or no ingress root, whose miss
                // hashes the headers): cheap, and not remembered.
                let next = self.walk_start(port, pkt_meta, pkt, true, hdr, out, w)?;
                let paused = self.walk_run(w, next, pkt, hdr, out, None, true, Some(&mut t));
                let counted = &t.refs[..t.n];
                // The record takes slot `i`: the frames counted for the prefix there
                // (another key's) go to its counters first. (`counts.last` names no
                // slot now: the lookup above missed.)
                self.flush_slot(counts, i);
                self.prefix
                    .record(port.0, pkt_meta, present, paused, t.reads, counted, out, w);
                paused
            }
        }
    }

    /// Adds the frames `counts` holds for memo slot `i` to that prefix's counters.
    #[inline]
    fn flush_slot(&mut self, counts: &mut PrefixCounts, i: usize) {
        if counts.touched & (1 << i) == 0 {
            return;
        }
        counts.touched &= !(1 << i);
        let p = self.prefix.at(i);
        let (counted, n) = (p.counted, usize::from(p.n_counted));
        let (packets, bytes) = (u64::from(counts.packets[i]), counts.bytes[i]);
        for &r in &counted[..n] {
            self.add_to(r, packets, bytes);
        }
        counts.packets[i] = 0;
        counts.bytes[i] = 0;
    }

    /// Adds every frame `counts` holds to the counters of its prefix.
    #[inline]
    fn flush_counts(&mut self, counts: &mut PrefixCounts) {
        while counts.touched != 0 {
            let i = counts.touched.trailing_zeros() as usize;
            self.flush_slot(counts, i);
        }
    }

    fn default_miss(&self, key: &PacketKey) -> Verdict {
        Verdict::Miss {
            queue: rss_queue(key, self.nr_queues()),
        }
    }
}

/// What an ACL pipe's miss does in each domain ([`SwBackend::acl_miss`]).
#[derive(Debug, Clone, Copy)]
struct AclMiss {
    /// The verdict in the ingress and the egress domain, where `ends` says it ends the
    /// walk.
    verdict: [Verdict; 2],
    /// Whether it ends the walk there (else `verdict` is meaningless: it leads further).
    ends: [bool; 2],
    /// Whether the pipe counts its misses.
    counted: bool,
}

/// The paths of the batch entry points ([`SwBackend::batch_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchPath {
    /// [`SwBackend::batch_meta_only`].
    MetaOnly,
    /// Each frame walks to its end before the next starts.
    PerFrame,
    /// Chunks of [`BATCH_MAX`]: the direct path or [`SwBackend::batch_chunk`].
    Chunked,
}

/// How an answer at an ACL pipe ended a walk ([`SwBackend::acl_end`]).
#[derive(Debug, Clone, Copy)]
struct AclEnd {
    verdict: Verdict,
    /// The entry hit and its tag (0: none); `None` for the pipe's miss.
    hit: Option<(EntryId, u32)>,
    /// The entry hit has actions (they apply to the meta).
    actions: bool,
}

/// The verdict of forward `fwd` (`drop` when it drops or is unset), unless it leads
/// further: a pipe, RSS, or a port whose egress root comes first. (A function, not a
/// closure: the closure was not inlined, one call per frame.)
#[inline(always)]
fn end_of(
    b: &SwBackend,
    domain: Domain,
    fwd: Option<&FwdSpec>,
    drop: DropReason,
) -> Option<Verdict> {
    match fwd {
        None | Some(FwdSpec::Changeable | FwdSpec::Drop) => Some(Verdict::Drop(drop)),
        Some(FwdSpec::Kernel) => Some(Verdict::Kernel),
        Some(FwdSpec::Port(p)) => match (domain, b.route(*p).egress) {
            (Domain::Ingress, Some(_)) => None,
            _ => Some(Verdict::Port(*p)),
        },
        Some(FwdSpec::Pipe(_) | FwdSpec::Rss(_)) => None,
    }
}

/// The answer at `pipe` that `memo` gives, if it may be exact there (see [`AclMemo`]):
/// recorded under the current ACL `version`, by a walk that, like this one, rewrote no
/// header on the way (`modified`), at this pipe (for a hit, its slot's pipe is checked
/// when the walk resumes). `Some(None)` is a miss.
#[inline]
fn memo_answer(pipe: PipeId, memo: AclMemo, version: u64, modified: bool) -> Option<Option<u32>> {
    if memo.version != version || modified {
        return None;
    }
    memo.answer_at(pipe)
}

fn rss_queue(key: &PacketKey, n: u16) -> u16 {
    use crate::matching::Field as F;
    let fields = [
        (F::Ipv4Src, u128::MAX),
        (F::Ipv4Dst, u128::MAX),
        (F::Ipv6Src, u128::MAX),
        (F::Ipv6Dst, u128::MAX),
        (F::TransportSrcPort, u128::MAX),
        (F::TransportDstPort, u128::MAX),
    ];
    (key.hash_fields(&fields) % u64::from(n.max(1))) as u16
}

#[inline]
fn resolve(fwd: Option<&FwdSpec>, key: &PacketKey, dflt: Next) -> Next {
    match fwd {
        None | Some(FwdSpec::Changeable) => dflt,
        Some(FwdSpec::Pipe(p)) => Next::Pipe(*p),
        Some(FwdSpec::Port(p)) => Next::Port(*p),
        Some(FwdSpec::Drop) => Next::Done(Verdict::Drop(DropReason::Fwd)),
        Some(FwdSpec::Kernel) => Next::Done(Verdict::Kernel),
        Some(FwdSpec::Rss(queues)) => {
            let q = if queues.is_empty() {
                0
            } else {
                queues[rss_queue(key, queues.len() as u16) as usize]
            };
            Next::Done(Verdict::Rss { queue: q })
        }
    }
}

fn apply_meta(a: &Actions, meta: &mut PacketMeta) {
    if let Some(v) = a.pkt_meta {
        meta.pkt_meta = v;
    }
    for (i, w) in a.meta.iter().enumerate() {
        if let Some(v) = w {
            meta.scratch[i] = *v;
        }
    }
}

fn apply_headers(a: &Actions, pkt: &mut [u8], hdrs: &Headers) {
    super::modify::apply(a, pkt, hdrs);
}

#[cfg(test)]
mod tests {
    use crate::backend::sw::prefix::slot_of;
    use crate::matching::PacketKey;
    use crate::packet::{Headers, PacketBuilder};
    use crate::{ControlEntry, Flow, Fwd, Match, Monitor, PortId, Prefix};

    /// Two keys of one memo slot in one chunk: the frames counted for the first key's
    /// prefix reach its counters before the second key's record takes the slot.
    #[test]
    fn a_memo_slot_taken_by_another_key_keeps_the_counts_it_held() {
        let frame = PacketBuilder::tcp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1, 80).build();
        let present = PacketKey::present_of(&Headers::parse(&frame));
        let a = 1u32;
        let b = (2..u32::MAX)
            .find(|&m| slot_of(0, m, present) == slot_of(0, a, present))
            .expect("two metas share a slot");
        let counted = |m: u32| {
            ControlEntry::new(0, Match::new().pkt_meta(m), Fwd::Port(PortId(1))).monitor(Monitor {
                counter: true,
                meter: None,
            })
        };
        let flow = Flow::builder().build().unwrap();
        let p0 = flow.start_port(PortId(0), "p0").unwrap();
        let _p1 = flow.start_port(PortId(1), "p1").unwrap();
        let mut q = flow.take_queue(0).unwrap();
        let root = p0
            .pipe_builder("root")
            .control()
            .root(true)
            .build()
            .unwrap();
        // An ACL pipe (reached by no packet) puts the batch on the prefix-memo path.
        let acl = p0.pipe_builder("acl").acl().nr_entries(4).build().unwrap();
        let ea = root.add_entry(&mut q, counted(a)).unwrap();
        let eb = root.add_entry(&mut q, counted(b)).unwrap();
        let any = crate::AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 0, Fwd::Drop);
        let _e = acl.add_entry(&mut q, any, crate::Flags::NoWait).unwrap();
        p0.entries_process(&mut q, 0).unwrap();
        let mut frames = vec![frame; 4];
        flow.sw().process_batch_each_with_meta(
            PortId(0),
            &mut frames,
            Some(&[a, a, b, b]),
            |_, o| {
                assert_eq!(o.verdict, crate::Verdict::Port(PortId(1)));
            },
        );
        assert_eq!(ea.query().unwrap().packets, 2);
        assert_eq!(eb.query().unwrap().packets, 2);
    }
}
