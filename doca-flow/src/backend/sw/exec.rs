//! Running a packet through the pipes: the sw backend's hot path.

use crate::action::Actions;
use crate::backend::{Domain, EntryId, FwdSpec, PipeId, PortId};
use crate::matching::{META_FIELDS, PacketKey, PacketMeta};
use crate::packet::Headers;

use super::SwBackend;

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
        let mut out = Outcome {
            verdict: Verdict::Drop(DropReason::UnknownPort),
            meta: PacketMeta::default(),
            modified: false,
            hops: 0,
            entry: None,
            trail: [None; TRAIL_LEN],
        };
        self.process_packet_into(port, pkt, &mut out);
        out
    }

    /// [`SwBackend::process_packet`] into `out` (overwritten whole): the batch entry
    /// points keep one outcome and have it filled in place. Returning a fresh one per
    /// packet meant assembling it on this function's stack and copying it out, which
    /// stalled on store forwarding (perf: ~20% of this function's samples).
    pub fn process_packet_into(&mut self, port: PortId, pkt: &mut [u8], out: &mut Outcome) {
        // Parse only when an installed pipe looks past the meta fields (a pipeline that
        // only steers by port needs no parse); otherwise parse the moment something
        // needs the headers: an RSS hash, a header rewrite, a miss.
        let mut hdrs = Headers::default();
        let mut parsed = self.fields_used & !META_FIELDS != 0;
        if parsed {
            Headers::parse_into(pkt, &mut hdrs);
        }
        macro_rules! ensure_parsed {
            () => {
                if !parsed {
                    Headers::parse_into(pkt, &mut hdrs);
                    parsed = true;
                }
            };
        }
        let mut meta = PacketMeta {
            port_id: port.0,
            ..PacketMeta::default()
        };
        out.modified = false;
        out.hops = 0;
        out.entry = None;
        out.trail = [None; TRAIL_LEN];
        let route = self.route(port);
        if !route.started {
            out.verdict = Verdict::Drop(DropReason::UnknownPort);
            out.meta = meta;
            return;
        };
        let mut domain = Domain::Ingress;
        let mut egress_port = port;
        let mut next = match route.ingress {
            Some(p) => Next::Pipe(p),
            None => {
                ensure_parsed!();
                Next::Done(self.default_miss(&PacketKey::new(&hdrs, &meta)))
            }
        };
        let len = pkt.len();
        let now = self.now_ns;
        let verdict = loop {
            let cur = match next {
                Next::Pipe(p) => p,
                Next::Port(p) => match (domain, self.route(p).egress) {
                    (Domain::Ingress, Some(root)) => {
                        domain = Domain::Egress;
                        egress_port = p;
                        root
                    }
                    _ => break Verdict::Port(p),
                },
                Next::Done(v) => break v,
            };
            out.hops += 1;
            if out.hops > MAX_HOPS {
                break Verdict::Drop(DropReason::Loop);
            }
            let Some(pipe) = self.pipes.get_mut(cur.0 as usize).and_then(Option::as_mut) else {
                break Verdict::Drop(DropReason::Miss);
            };
            let key = PacketKey::new(&hdrs, &meta);
            match pipe.table.lookup(&pipe.template, &key, &mut self.scratch) {
                Some(slot) => {
                    let s = &mut self.slots[slot as usize];
                    let id = EntryId {
                        index: slot,
                        generation: s.generation,
                    };
                    out.entry = Some(id);
                    if let Some(t) = out.trail.iter_mut().find(|t| t.is_none()) {
                        *t = Some(id);
                    }
                    let d = &mut s.data;
                    if d.counted {
                        d.counter.add(len);
                    }
                    if let Some(m) = &mut d.meter {
                        if !m.admit(len, now) {
                            break Verdict::Drop(DropReason::Meter);
                        }
                    }
                    if d.has_actions {
                        apply_meta(&d.actions, &mut meta);
                        if d.modifies {
                            ensure_parsed!();
                            apply_headers(&d.actions, pkt, &hdrs);
                            out.modified = true;
                            Headers::parse_into(pkt, &mut hdrs);
                        }
                    }
                    if let Some(FwdSpec::Rss(_)) = d.fwd {
                        ensure_parsed!();
                    }
                    next = resolve(
                        d.fwd.as_ref(),
                        &PacketKey::new(&hdrs, &meta),
                        Next::Done(Verdict::Drop(DropReason::Fwd)),
                    );
                }
                None => {
                    if let Some(c) = &mut pipe.miss {
                        c.add(len);
                    }
                    let dflt = if !pipe.cfg.is_root {
                        Next::Done(Verdict::Drop(DropReason::Miss))
                    } else if domain == Domain::Egress {
                        Next::Done(Verdict::Port(egress_port))
                    } else {
                        Next::Done(Verdict::Miss { queue: 0 })
                    };
                    let fwd_miss = pipe.fwd_miss.as_ref();
                    ensure_parsed!();
                    let key = PacketKey::new(&hdrs, &meta);
                    next = match resolve(fwd_miss, &key, dflt) {
                        Next::Done(Verdict::Miss { .. }) => Next::Done(self.default_miss(&key)),
                        Next::Done(Verdict::Drop(_)) => Next::Done(Verdict::Drop(DropReason::Miss)),
                        n => n,
                    };
                }
            }
            if let (Domain::Egress, Next::Port(p)) = (domain, next) {
                break Verdict::Port(p);
            }
        };
        out.verdict = verdict;
        out.meta = meta;
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
    /// outcome to `f`, in order, as soon as it is known (no outcome buffer). The outcome is
    /// lent, not moved: a dataplane reads a field or two of it, and moving the whole
    /// record per packet cost measurable store-forwarding stalls.
    pub fn process_batch_each<B: AsMut<[u8]>>(
        &mut self,
        port: PortId,
        pkts: &mut [B],
        mut f: impl FnMut(usize, &Outcome),
    ) {
        let mut o = Outcome {
            verdict: Verdict::Drop(DropReason::UnknownPort),
            meta: PacketMeta::default(),
            modified: false,
            hops: 0,
            entry: None,
            trail: [None; TRAIL_LEN],
        };
        for (i, p) in pkts.iter_mut().enumerate() {
            self.process_packet_into(port, p.as_mut(), &mut o);
            f(i, &o);
        }
    }

    fn default_miss(&self, key: &PacketKey) -> Verdict {
        Verdict::Miss {
            queue: rss_queue(key, self.nr_queues()),
        }
    }
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
