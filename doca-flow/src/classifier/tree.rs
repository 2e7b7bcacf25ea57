//! The lookup engine: rules partitioned by which address fields are
//! specific, one multi-bit cutting tree per partition, leaves scanned in
//! priority order. See `docs/classifier.md` for the design and figures.
//!
//! Layout. A tree is a flat array of 64-bit entries. An inner entry packs
//! `(child base, field, shift, k)` and the window mask `2^k - 1`: the child
//! is `children[base + ((field value >> shift) & mask)]`. A leaf entry packs the offset of its
//! rules in the partition's leaf arena; a leaf is a run of [`LeafRule`]s in
//! `(priority, id)` order closed by a sentinel that matches every key with
//! the worst rank, so the scan needs no length and stops at the first
//! match or as soon as a rule cannot beat the best match so far.

use super::{Addr, Key, Rule};
use std::collections::{HashMap, HashSet};

/// Number of fields: src, dst, src port, dst port, protocol.
const NF: usize = 5;
/// A subtree with at most this many (unshadowed) rules becomes a leaf...
const BINTH: usize = 8;
/// Per node, the children's rule copies plus pointers may not exceed
/// `SPFAC` times the node's rules (HiCuts' space factor)...
const SPFAC: usize = 4;
/// ... and in classifiers built from at most `SMALL_PART` rules, whose
/// trees are small anyway, leaves hold at most `SMALL_BINTH` rules and the space
/// factor is `SMALL_SPFAC`: faster lookups on small sets for memory they can afford;
/// on large sets the same settings double memory and halve update rates
/// (`docs/classifier.md`, "Tuning constants", has the measurements).
const SMALL_BINTH: usize = 4;
/// See `SMALL_BINTH`.
const SMALL_SPFAC: usize = 8;
/// See `SMALL_BINTH`.
const SMALL_PART: usize = 2048;
/// Most bits one node may cut.
const KMAX: u32 = 16;

const LEAF: u64 = 1 << 63;
/// The shared empty leaf: offset 0 holds a sentinel.
const EMPTY: u64 = LEAF;
const SENTINEL_RANK: u64 = u64::MAX;

#[inline]
fn low_mask(n: u32) -> u128 {
    if n == 0 {
        0
    } else if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

#[inline]
fn width<A: Addr>(f: usize) -> u32 {
    match f {
        0 | 1 => A::BITS,
        2 | 3 => 16,
        _ => 8,
    }
}

/// The rule's interval in field `f` (for the protocol, the smallest
/// interval holding every matching value).
#[inline]
fn interval<A: Addr>(r: &Rule<A>, f: usize) -> (u128, u128) {
    match f {
        0 | 1 => {
            let p = if f == 0 { r.src } else { r.dst };
            let lo = p.addr.to_u128();
            (lo, lo | low_mask(A::BITS - u32::from(p.len)))
        }
        2 => (u128::from(r.src_port.lo), u128::from(r.src_port.hi)),
        3 => (u128::from(r.dst_port.lo), u128::from(r.dst_port.hi)),
        _ => {
            let v = r.proto & r.proto_mask;
            (u128::from(v), u128::from(v | !r.proto_mask))
        }
    }
}

#[inline]
fn needs_ports<A: Addr>(r: &Rule<A>) -> bool {
    !(r.src_port.is_any() && r.dst_port.is_any())
}

/// A node's box: per field, the value of the bits cut so far and how many.
#[derive(Clone, Copy, Debug)]
struct Region {
    /// The bits cut so far (skipped bits, see `td`, are left zero).
    v: [u128; NF],
    /// How many leading bits `v` fixes for routing.
    d: [u32; NF],
    /// How many leading bits every key in the box really has equal to
    /// `v`'s: `d` until a cut skips bits (keys with other values in the
    /// skipped bits also arrive here). Covering decisions use this.
    td: [u32; NF],
}

impl Region {
    const ALL: Region = Region {
        v: [0; NF],
        d: [0; NF],
        td: [0; NF],
    };

    #[inline]
    fn bounds<A: Addr>(&self, f: usize) -> (u128, u128) {
        let lo = self.v[f];
        (lo, lo | low_mask(width::<A>(f) - self.d[f]))
    }

    /// The box that keys with every address bit beyond `td` free can
    /// occupy: what a rule must cover to shadow others here.
    #[inline]
    fn true_bounds<A: Addr>(&self, f: usize) -> (u128, u128) {
        let free = low_mask(width::<A>(f) - self.td[f]);
        let lo = self.v[f] & !free;
        (lo, lo | free)
    }

    /// Child `c` of a `k`-bit cut of `f` at `shift` (bits between the
    /// current depth and the window are skipped).
    fn child<A: Addr>(&self, f: usize, shift: u32, k: u32, c: usize) -> Region {
        let mut r = *self;
        let start = width::<A>(f) - shift - k;
        if start == self.d[f] && self.td[f] == self.d[f] {
            r.td[f] += k;
        }
        r.v[f] |= (c as u128) << shift;
        r.d[f] = start + k;
        r
    }

    /// Whether every key in the box matches `r`'s fields (ports included;
    /// the caller decides what `has_ports == false` keys mean).
    fn covered_by<A: Addr>(&self, r: &Rule<A>) -> bool {
        for f in 0..4 {
            let (a, b) = interval(r, f);
            let (lo, hi) = self.true_bounds::<A>(f);
            if a > lo || b < hi {
                return false;
            }
        }
        let m = u128::from(r.proto_mask);
        let free = low_mask(8 - self.d[4]);
        m & free == 0 && (self.v[4] & m) == (u128::from(r.proto) & m)
    }

    /// The children `c0..=c1` of a `k`-bit cut on `f` that `r` overlaps.
    #[inline]
    fn span<A: Addr>(&self, r: &Rule<A>, f: usize, s: u32, k: u32) -> (usize, usize) {
        if f < 2 {
            // A prefix: its own bits say which windows it spans, whatever
            // the box assumes about skipped bits.
            let p = if f == 0 { r.src } else { r.dst };
            let l = u32::from(p.len);
            let start = A::BITS - s - k;
            let m = low_mask(k);
            if l <= start {
                return (0, m as usize);
            }
            let b = ((p.addr.to_u128() >> s) & m) as usize;
            if l >= start + k {
                return (b, b);
            }
            return (b, b | low_mask(start + k - l) as usize);
        }
        let (a, b) = interval(r, f);
        let (lo, hi) = self.bounds::<A>(f);
        let (a, b) = (a.max(lo), b.min(hi));
        let m = low_mask(k);
        (((a >> s) & m) as usize, ((b.max(a) >> s) & m) as usize)
    }
}

/// A rule as the leaf scan tests it.
#[derive(Clone, Copy, Debug)]
struct LeafRule<A: Addr> {
    src: A,
    smask: A,
    dst: A,
    dmask: A,
    /// `(priority << 32) | id`; the sentinel has `u64::MAX`.
    rank: u64,
    sp_lo: u16,
    sp_span: u16,
    dp_lo: u16,
    dp_span: u16,
    /// The protocol under `pmask`, with bit 8 set for rules that need
    /// ports: a key's `proto | has_ports << 8` under `pmask` must equal it.
    proto: u16,
    /// The protocol mask, with bit 8 set for rules that need ports.
    pmask: u16,
}

impl<A: Addr> LeafRule<A> {
    const SENTINEL: Self = LeafRule {
        src: A::ZERO,
        smask: A::ZERO,
        dst: A::ZERO,
        dmask: A::ZERO,
        rank: SENTINEL_RANK,
        sp_lo: 0,
        sp_span: u16::MAX,
        dp_lo: 0,
        dp_span: u16::MAX,
        proto: 0,
        pmask: 0,
    };

    fn new(r: &Rule<A>) -> Self {
        let smask = A::prefix_mask(r.src.len);
        let dmask = A::prefix_mask(r.dst.len);
        let np = u16::from(needs_ports(r)) << 8;
        LeafRule {
            src: r.src.addr.and(smask),
            smask,
            dst: r.dst.addr.and(dmask),
            dmask,
            rank: r.rank(),
            sp_lo: r.src_port.lo,
            sp_span: r.src_port.hi - r.src_port.lo,
            dp_lo: r.dst_port.lo,
            dp_span: r.dst_port.hi - r.dst_port.lo,
            proto: u16::from(r.proto & r.proto_mask) | np,
            pmask: u16::from(r.proto_mask) | np,
        }
    }

    /// Whether the rule only matches keys with ports.
    #[inline]
    fn needs_ports(&self) -> bool {
        self.pmask & 0x100 != 0
    }

    /// Whether every key in the box matches this rule's fields.
    fn covers(&self, region: &Region) -> bool {
        let iv = [
            (
                self.src.to_u128(),
                self.src.to_u128() | !self.smask.to_u128() & low_mask(A::BITS),
            ),
            (
                self.dst.to_u128(),
                self.dst.to_u128() | !self.dmask.to_u128() & low_mask(A::BITS),
            ),
            (
                u128::from(self.sp_lo),
                u128::from(self.sp_lo) + u128::from(self.sp_span),
            ),
            (
                u128::from(self.dp_lo),
                u128::from(self.dp_lo) + u128::from(self.dp_span),
            ),
        ];
        for (f, (a, b)) in iv.into_iter().enumerate() {
            let (lo, hi) = region.true_bounds::<A>(f);
            if a > lo || b < hi {
                return false;
            }
        }
        let m = u128::from(self.pmask & 0xff);
        let free = low_mask(8 - region.d[4]);
        m & free == 0 && (region.v[4] & m) == u128::from(self.proto & 0xff)
    }

    #[inline(always)]
    fn matches(&self, k: &Key<A>) -> bool {
        (k.src.and(self.smask) == self.src)
            & (k.dst.and(self.dmask) == self.dst)
            & (k.src_port.wrapping_sub(self.sp_lo) <= self.sp_span)
            & (k.dst_port.wrapping_sub(self.dp_lo) <= self.dp_span)
            & (((u16::from(k.has_ports) << 8 | u16::from(k.proto)) & self.pmask) == self.proto)
    }
}

/// Buffers `choose_cut` reuses from node to node.
#[derive(Clone, Debug, Default)]
struct Scratch {
    diff: Vec<i32>,
    tops: Vec<(u32, u32)>,
}

/// Where an entry lives: the partition root or a child slot.
#[derive(Clone, Copy)]
enum Slot {
    Root,
    Child(usize),
}

/// Rules whose `(src specific, dst specific)` signature is the same, and
/// their tree.
#[derive(Clone, Debug)]
struct Part<A: Addr> {
    root: u64,
    /// Smallest rank in the partition (`u64::MAX` when empty).
    best: u64,
    children: Vec<u64>,
    leaves: Vec<LeafRule<A>>,
    /// Freed leaf blocks by capacity (small capacities only).
    free: Vec<Vec<u32>>,
    /// Entries and leaf slots no longer reachable.
    garbage: usize,
    /// The partition's rules (for rebuilds) and their positions by id.
    members: Vec<Rule<A>>,
    pos: HashMap<u32, u32>,
    /// Ids of rules that shadowed (pruned) other rules somewhere in the
    /// tree: removing one of them rebuilds the subtrees it covers.
    pruners: HashSet<u32>,
    /// Per child of the root cut, a rank no worse than the best rule in
    /// that child's subtree (exact after a build, lowered by inserts, never
    /// raised by removes): a batch key whose best match already beats it
    /// skips the partition right after the root step. Unused while the
    /// root is a leaf.
    bounds: Vec<u64>,
    /// The space factor for this partition's cuts.
    spfac: usize,
    /// Set during a full build: arrays grow by doubling (and are trimmed
    /// at the end) instead of by 1/8.
    bulk: bool,
    /// The cut chooser's buffers, kept between nodes.
    scratch: Scratch,
    /// Leaf size for this partition's builds; an insert rebuilds a leaf
    /// into a subtree once it holds more than twice this (and then at
    /// each doubling).
    binth: usize,
}

impl<A: Addr> Part<A> {
    fn new() -> Self {
        Part {
            root: EMPTY,
            best: SENTINEL_RANK,
            // Slot 0 is never reachable; the batch walk clamps into it.
            children: vec![EMPTY],
            leaves: vec![LeafRule::SENTINEL],
            free: Vec::new(),
            garbage: 0,
            members: Vec::new(),
            pos: HashMap::new(),
            pruners: HashSet::new(),
            bounds: Vec::new(),
            spfac: SPFAC,
            bulk: false,
            scratch: Scratch::default(),
            binth: BINTH,
        }
    }

    /// Builds a partition; `small` selects the small-set tuning.
    fn from_rules(mut rules: Vec<Rule<A>>, small: bool) -> Self {
        rules.sort_by_key(Rule::rank);
        let mut p = Part::new();
        if small {
            p.spfac = SMALL_SPFAC;
            p.binth = SMALL_BINTH;
        }
        p.best = rules.first().map_or(SENTINEL_RANK, Rule::rank);
        p.pos = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i as u32))
            .collect();
        let idx: Vec<u32> = (0..rules.len() as u32).collect();
        p.bulk = true;
        p.root = p.build_node(&rules, idx, &Region::ALL);
        p.bulk = false;
        p.scratch = Scratch::default();
        p.members = rules;
        p.children.shrink_to_fit();
        p.leaves.shrink_to_fit();
        p
    }

    fn memory_bytes(&self) -> usize {
        self.children.capacity() * 8
            + self.leaves.capacity() * size_of::<LeafRule<A>>()
            + self
                .free
                .iter()
                .map(|v| v.capacity() * 4 + 24)
                .sum::<usize>()
            + self.members.capacity() * size_of::<Rule<A>>()
            + self.pos.capacity() * 9
            + self.pruners.capacity() * 5
            + self.bounds.capacity() * 8
    }

    // ---- lookup -------------------------------------------------------

    /// Walks the tree for `fields` and scans the leaf; lowers `best`.
    #[inline(always)]
    fn lookup(&self, key: &Key<A>, fields: &[A; NF], best: &mut u64) {
        let mut e = self.root;
        while e & LEAF == 0 {
            let base = e as u32 as usize;
            let f = ((e >> 32) & 7) as usize;
            let shift = ((e >> 35) & 127) as u32;
            let idx = fields[f].window(shift) & (e >> 47) as u32;
            e = self.children[base + idx as usize];
        }
        let mut i = e as u32 as usize;
        loop {
            let r = &self.leaves[i];
            if r.rank >= *best {
                return;
            }
            if r.matches(key) {
                *best = r.rank;
                return;
            }
            i += 1;
        }
    }

    // ---- build --------------------------------------------------------

    /// Drops rules that a higher-priority rule covering the whole box
    /// shadows (for every key, or for every key with ports).
    fn prune(&mut self, rules: &[Rule<A>], idx: &mut Vec<u32>, region: &Region) {
        let mut shadow: Option<u32> = None; // the rule shadowing port rules
        let mut out = 0;
        for i in 0..idx.len() {
            let r = &rules[idx[i] as usize];
            let np = needs_ports(r);
            if np {
                if let Some(by) = shadow {
                    self.pruners.insert(by);
                    continue;
                }
            }
            idx[out] = idx[i];
            out += 1;
            if region.covered_by(r) {
                if !np {
                    if i + 1 < idx.len() {
                        self.pruners.insert(r.id);
                    }
                    break;
                }
                shadow.get_or_insert(r.id);
            }
        }
        idx.truncate(out);
    }

    /// Builds the subtree for `idx` (indices into `rules`, rank order) in
    /// `region` and returns its entry.
    fn build_node(&mut self, rules: &[Rule<A>], mut idx: Vec<u32>, region: &Region) -> u64 {
        // Address bits every rule (before pruning, so re-inserts of pruned
        // rules keep the agreement) either leaves free or sets alike.
        let skips = [
            skip_of(rules, &idx, region, 0),
            skip_of(rules, &idx, region, 1),
        ];
        self.prune(rules, &mut idx, region);
        let n = idx.len();
        if n == 0 {
            return EMPTY;
        }
        if n <= self.binth {
            return self.make_leaf(idx.iter().map(|&i| LeafRule::new(&rules[i as usize])));
        }
        let start = |f: usize| region.d[f] + if f < 2 { skips[f] } else { 0 };
        let starts: [u32; NF] = core::array::from_fn(start);
        let mut scratch = std::mem::take(&mut self.scratch);
        let cut = Self::choose_cut(
            rules,
            &idx,
            region,
            &starts,
            self.spfac,
            self.binth,
            &mut scratch,
        );
        self.scratch = scratch;
        let Some((f, k)) = cut else {
            return self.make_leaf(idx.iter().map(|&i| LeafRule::new(&rules[i as usize])));
        };
        let nc = 1usize << k;
        let shift = width::<A>(f) - starts[f] - k;
        // The children's lists in one array: count each child's rules
        // (difference array), then place them (rank order is kept).
        let spans: Vec<(u32, u32)> = idx
            .iter()
            .map(|&i| {
                let (c0, c1) = region.span(&rules[i as usize], f, shift, k);
                (c0 as u32, c1 as u32)
            })
            .collect();
        let mut off = vec![0u32; nc + 1];
        // Wrapping throughout: a slot may go "below zero" before the running
        // sum adds the earlier rules back.
        for &(c0, c1) in &spans {
            off[c0 as usize] = off[c0 as usize].wrapping_add(1);
            off[c1 as usize + 1] = off[c1 as usize + 1].wrapping_sub(1);
        }
        // Running sum: counts; then exclusive prefix sums: offsets.
        let (mut run, mut total) = (0u32, 0u32);
        for o in &mut off[..nc] {
            run = run.wrapping_add(*o);
            *o = total;
            total += run;
        }
        off[nc] = total;
        let mut at: Vec<u32> = off[..nc].to_vec();
        let mut flat = vec![0u32; total as usize];
        for (&i, &(c0, c1)) in idx.iter().zip(&spans) {
            for a in &mut at[c0 as usize..=c1 as usize] {
                flat[*a as usize] = i;
                *a += 1;
            }
        }
        drop((idx, spans, at));
        let list = |c: usize| &flat[off[c] as usize..off[c + 1] as usize];
        if region.d == [0; NF] {
            // The root (only the root has no bits cut): each child's first
            // rule in rank order bounds its subtree (pruning only drops).
            self.bounds = (0..nc)
                .map(|c| {
                    list(c)
                        .first()
                        .map_or(SENTINEL_RANK, |&i| rules[i as usize].rank())
                })
                .collect();
        }
        let base = self.children.len();
        self.grow_children(nc);
        self.children.resize(base + nc, EMPTY);
        for c in 0..nc {
            let l = list(c);
            if !l.is_empty() {
                let e = self.build_node(rules, l.to_vec(), &region.child::<A>(f, shift, k, c));
                self.children[base + c] = e;
            }
        }
        // The window mask again in bits 47..63 (k <= 16; bit 63, the leaf
        // flag, stays clear): walks take it with one shift.
        debug_assert!(k <= KMAX);
        (base as u64)
            | ((f as u64) << 32)
            | (u64::from(shift) << 35)
            | (u64::from(k) << 42)
            | (((1u64 << k) - 1) << 47)
    }

    /// HiCuts-style choice: per field the most bits whose copies stay within
    /// the space factor, then the field whose largest child is smallest.
    fn choose_cut(
        rules: &[Rule<A>],
        idx: &[u32],
        region: &Region,
        starts: &[u32; NF],
        spfac: usize,
        binth: usize,
        scratch: &mut Scratch,
    ) -> Option<(usize, u32)> {
        let n = idx.len();
        let budget = spfac * n;
        let mut best: Option<(usize, usize, usize, u32)> = None; // (max, sum, f, k)
        let Scratch { diff, tops } = scratch;
        for (f, &start) in starts.iter().enumerate() {
            let rem = width::<A>(f) - start;
            // Each rule's span for every `k` at once: the first `KMAX` bits
            // of the window of its (for ports: box-clamped) interval ends;
            // a `k`-bit cut's child indices are their top `k` bits, as
            // `Region::span` computes them.
            tops.clear();
            tops.extend(idx.iter().map(|&i| {
                let r = &rules[i as usize];
                let (a, b) = interval(r, f);
                let (a, b) = if f < 2 {
                    (a, b)
                } else {
                    let (lo, hi) = region.bounds::<A>(f);
                    let a = a.max(lo);
                    (a, b.min(hi).max(a))
                };
                (top_bits(a, rem), top_bits(b, rem))
            }));
            let mut cand = None;
            for k in 1..=rem.min(KMAX) {
                let nc = 1usize << k;
                if k > 1 && nc > budget {
                    break;
                }
                diff.clear();
                diff.resize(nc + 1, 0);
                let mut sum = 0usize;
                let sh = KMAX - k;
                for (j, &(t0, t1)) in tops.iter().enumerate() {
                    let (c0, c1) = ((t0 >> sh) as usize, (t1 >> sh) as usize);
                    debug_assert_eq!(
                        (c0, c1),
                        region.span(&rules[idx[j] as usize], f, rem - k, k)
                    );
                    diff[c0] += 1;
                    diff[c1 + 1] -= 1;
                    sum += c1 - c0 + 1;
                }
                if k > 1 && sum + nc > budget {
                    break;
                }
                let mut run = 0i32;
                let mut max = 0i32;
                for d in &diff[..nc] {
                    run += d;
                    max = max.max(run);
                }
                cand = Some((max as usize, sum, f, k));
                if (max as usize) <= binth / 2 {
                    break;
                }
            }
            if let Some(c) = cand {
                if best.is_none_or(|b| (c.0, c.1) < (b.0, b.1)) {
                    best = Some(c);
                }
            }
        }
        best.filter(|b| b.0 < n).map(|b| (b.2, b.3))
    }

    /// Room for `nc` more child entries: doubling during a full build
    /// (trimmed at its end), by 1/8 for updates.
    fn grow_children(&mut self, nc: usize) {
        if self.bulk {
            self.children.reserve(nc);
        } else {
            grow_gently(&mut self.children, nc);
        }
    }

    fn alloc_leaf(&mut self, cap: usize) -> u32 {
        if let Some(off) = self.free.get_mut(cap).and_then(Vec::pop) {
            self.garbage -= cap + 1;
            return off;
        }
        let off = self.leaves.len() as u32;
        if self.bulk {
            self.leaves.reserve(cap + 1);
        } else {
            grow_gently(&mut self.leaves, cap + 1);
        }
        self.leaves
            .resize(self.leaves.len() + cap + 1, LeafRule::SENTINEL);
        off
    }

    fn free_leaf(&mut self, e: u64) {
        let cap = ((e >> 32) & 0x7fff_ffff) as usize;
        if e == EMPTY {
            return;
        }
        self.garbage += cap + 1;
        if cap < 64 {
            if self.free.len() <= cap {
                self.free.resize(cap + 1, Vec::new());
            }
            self.free[cap].push(e as u32);
        }
    }

    fn write_leaf(&mut self, cap: usize, rules: &[LeafRule<A>]) -> u64 {
        debug_assert!(rules.len() <= cap);
        let off = self.alloc_leaf(cap);
        let o = off as usize;
        self.leaves[o..o + rules.len()].copy_from_slice(rules);
        self.leaves[o + rules.len()] = LeafRule::SENTINEL;
        LEAF | ((cap as u64) << 32) | u64::from(off)
    }

    fn make_leaf(&mut self, rules: impl Iterator<Item = LeafRule<A>>) -> u64 {
        let v: Vec<LeafRule<A>> = rules.collect();
        self.write_leaf(v.len(), &v)
    }

    fn leaf_rules(&self, e: u64) -> &[LeafRule<A>] {
        let off = e as u32 as usize;
        let len = self.leaves[off..]
            .iter()
            .position(|r| r.rank == SENTINEL_RANK)
            .unwrap_or(0);
        &self.leaves[off..off + len]
    }

    // ---- updates ------------------------------------------------------

    fn get(&self, s: Slot) -> u64 {
        match s {
            Slot::Root => self.root,
            Slot::Child(i) => self.children[i],
        }
    }

    fn set(&mut self, s: Slot, e: u64) {
        match s {
            Slot::Root => self.root = e,
            Slot::Child(i) => self.children[i] = e,
        }
    }

    /// Frees a whole subtree's storage (counted as garbage; leaves reused).
    fn discard(&mut self, e: u64) {
        if e & LEAF != 0 {
            self.free_leaf(e);
            return;
        }
        let base = e as u32 as usize;
        let k = ((e >> 42) & 31) as u32;
        self.garbage += 1 << k;
        for c in 0..1usize << k {
            let ce = self.children[base + c];
            self.discard(ce);
        }
    }

    fn add_member(&mut self, r: &Rule<A>) {
        self.pos.insert(r.id, self.members.len() as u32);
        self.members.push(*r);
        self.best = self.best.min(r.rank());
    }

    fn remove_member(&mut self, id: u32) {
        let Some(p) = self.pos.remove(&id) else {
            return;
        };
        let p = p as usize;
        let last = self.members.len() - 1;
        if p != last {
            self.members.swap(p, last);
            self.pos.insert(self.members[p].id, p as u32);
        }
        let r = self.members.pop().map(|r| r.rank());
        if r == Some(self.best) {
            self.best = self
                .members
                .iter()
                .map(Rule::rank)
                .min()
                .unwrap_or(SENTINEL_RANK);
        }
    }

    fn insert(&mut self, r: &Rule<A>) {
        self.add_member(r);
        let lr = LeafRule::new(r);
        self.insert_at(Slot::Root, &Region::ALL, r, &lr);
        self.maybe_compact();
    }

    fn insert_at(&mut self, s: Slot, region: &Region, r: &Rule<A>, lr: &LeafRule<A>) {
        let e = self.get(s);
        if e & LEAF == 0 {
            let base = e as u32 as usize;
            let f = ((e >> 32) & 7) as usize;
            let shift = ((e >> 35) & 127) as u32;
            let k = ((e >> 42) & 31) as u32;
            let (c0, c1) = region.span(r, f, shift, k);
            if let Slot::Root = s {
                for b in self.bounds.iter_mut().take(c1 + 1).skip(c0) {
                    *b = (*b).min(lr.rank);
                }
            }
            for c in c0..=c1 {
                let child = region.child::<A>(f, shift, k, c);
                self.insert_at(Slot::Child(base + c), &child, r, lr);
            }
            return;
        }
        let cap = ((e >> 32) & 0x7fff_ffff) as usize;
        let off = e as u32 as usize;
        let len = self.leaf_rules(e).len();
        let cur = &self.leaves[off..off + len];
        let at = cur.partition_point(|x| x.rank < lr.rank);
        // As at build time: a higher-priority rule covering the whole box
        // shadows the new one here (for keys with ports, if both need them).
        if let Some(by) = cur[..at]
            .iter()
            .find(|x| (!x.needs_ports() || lr.needs_ports()) && x.covers(region))
        {
            self.pruners.insert(by.rank as u32);
            return;
        }
        let split = 2 * self.binth;
        if len < cap && !(len + 1 > split && (len + 1).is_power_of_two()) {
            // Room in place: shift the tail (and the sentinel) right.
            self.leaves.copy_within(off + at..=off + len, off + at + 1);
            self.leaves[off + at] = *lr;
            return;
        }
        let mut v: Vec<LeafRule<A>> = self.leaf_rules(e).to_vec();
        v.insert(at, *lr);
        let len = v.len();
        if len > split && len.is_power_of_two() {
            // Rebuild this leaf as a subtree of its own rules.
            let rules: Vec<Rule<A>> = v
                .iter()
                .filter_map(|x| self.pos.get(&(x.rank as u32)))
                .map(|&p| self.members[p as usize])
                .collect();
            let idx = (0..rules.len() as u32).collect();
            self.free_leaf(e);
            let ne = self.build_node(&rules, idx, region);
            self.scratch = Scratch::default();
            self.set(s, ne);
        } else if len <= cap {
            let off = e as u32 as usize;
            self.leaves[off..off + len].copy_from_slice(&v);
            self.leaves[off + len] = LeafRule::SENTINEL;
        } else {
            self.free_leaf(e);
            let ne = self.write_leaf(len.next_power_of_two().max(2), &v);
            self.set(s, ne);
        }
    }

    /// Replaces the subtree `e` at `s` by one built from the partition's
    /// members that can match keys in the box.
    fn rebuild_from_members(&mut self, s: Slot, e: u64, region: &Region) {
        let mut rules: Vec<Rule<A>> = self
            .members
            .iter()
            .filter(|m| overlaps(m, region))
            .copied()
            .collect();
        rules.sort_by_key(Rule::rank);
        let idx = (0..rules.len() as u32).collect();
        self.discard(e);
        let ne = self.build_node(&rules, idx, region);
        self.scratch = Scratch::default();
        self.set(s, ne);
    }

    fn remove(&mut self, r: &Rule<A>) {
        self.remove_member(r.id);
        self.remove_at(Slot::Root, &Region::ALL, r);
        self.maybe_compact();
    }

    fn remove_at(&mut self, s: Slot, region: &Region, r: &Rule<A>) {
        let e = self.get(s);
        if e == EMPTY {
            return;
        }
        if self.pruners.contains(&r.id) && region.covered_by(r) {
            // `r` may have shadowed (pruned) rules below this point: rebuild
            // the subtree from the partition's rules that overlap the box.
            self.rebuild_from_members(s, e, region);
            return;
        }
        if e & LEAF == 0 {
            let base = e as u32 as usize;
            let f = ((e >> 32) & 7) as usize;
            let shift = ((e >> 35) & 127) as u32;
            let k = ((e >> 42) & 31) as u32;
            let (c0, c1) = region.span(r, f, shift, k);
            for c in c0..=c1 {
                let child = region.child::<A>(f, shift, k, c);
                self.remove_at(Slot::Child(base + c), &child, r);
            }
            return;
        }
        let rank = r.rank();
        let off = e as u32 as usize;
        let len = self.leaf_rules(e).len();
        if let Some(i) = self.leaves[off..off + len]
            .iter()
            .position(|x| x.rank == rank)
        {
            self.leaves.copy_within(off + i + 1..=off + len, off + i);
            if len == 1 {
                self.free_leaf(e);
                self.set(s, EMPTY);
            }
        }
    }

    /// Rebuilds the partition when more than half its storage is garbage.
    fn maybe_compact(&mut self) {
        let size = self.children.len() + self.leaves.len();
        if self.garbage > 4096 && self.garbage * 2 > size {
            let small = self.binth == SMALL_BINTH;
            *self = Part::from_rules(std::mem::take(&mut self.members), small);
        }
    }
}

/// The first `KMAX` bits of the last `rem` bits of `v` (zero-filled when
/// `rem < KMAX`): a `k`-bit window starting there is this `>> (KMAX - k)`.
#[inline]
fn top_bits(v: u128, rem: u32) -> u32 {
    let w = if rem >= KMAX {
        v >> (rem - KMAX)
    } else {
        v << (KMAX - rem)
    };
    (w & low_mask(KMAX)) as u32
}

/// How many address bits below the box's depth every rule of `idx` either
/// leaves free or sets to the same value, so cutting them would separate
/// nothing: the node's window starts below them. Keys that differ there
/// can only match rules that leave them free (which every child holds) or
/// rules inserted later with other bits, which `Region::span` places by
/// their own bits; covering decisions treat skipped bits as free.
fn skip_of<A: Addr>(rules: &[Rule<A>], idx: &[u32], region: &Region, f: usize) -> u32 {
    let w = A::BITS;
    let d = region.d[f];
    let below = low_mask(w - d);
    let mut first: Option<u128> = None;
    let mut s = w - d;
    for &i in idx {
        let p = if f == 0 {
            rules[i as usize].src
        } else {
            rules[i as usize].dst
        };
        let l = u32::from(p.len);
        if l <= d {
            continue;
        }
        s = s.min(l - d);
        let a = p.addr.to_u128();
        match first {
            None => first = Some(a),
            Some(f0) => {
                let x = (a ^ f0) & below;
                if x != 0 {
                    let pos = x.leading_zeros() - (128 - w);
                    s = s.min(pos - d);
                }
            }
        }
        if s == 0 {
            return 0;
        }
    }
    if first.is_some() && s < w - d { s } else { 0 }
}

/// Reserves room for `extra` more items, growing by 1/8 instead of
/// doubling: after a build the arrays are exactly sized, and doubling them
/// on the first update would inflate the footprint by up to 2x.
fn grow_gently<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 8));
    }
}

/// Whether `r` can match some key in the box.
fn overlaps<A: Addr>(r: &Rule<A>, region: &Region) -> bool {
    for f in 0..4 {
        let (a, b) = interval(r, f);
        let (lo, hi) = region.true_bounds::<A>(f);
        if b < lo || a > hi {
            return false;
        }
    }
    // Protocol: the box fixes the top d bits; the rule needs the bits under
    // its mask; they conflict only on bits both fix.
    let top = (!low_mask(8 - region.d[4])) & 0xff;
    let m = u128::from(r.proto_mask) & top;
    (region.v[4] & m) == (u128::from(r.proto) & m)
}

/// A key's fields in cut order, as addresses.
#[inline(always)]
fn fields_of<A: Addr>(key: &Key<A>) -> [A; NF] {
    [
        key.src,
        key.dst,
        A::from_u128(u128::from(key.src_port)),
        A::from_u128(u128::from(key.dst_port)),
        A::from_u128(u128::from(key.proto)),
    ]
}

/// The partition a rule belongs to: which of its addresses are specific.
fn signature<A: Addr>(r: &Rule<A>) -> usize {
    let t = A::BITS / 2;
    usize::from(u32::from(r.src.len) >= t) | (usize::from(u32::from(r.dst.len) >= t) << 1)
}

const NPARTS: usize = 4;
/// Keys per `classify_batch` round (their state stays in L1; a power of
/// two, at most 256: the pass lists hold `u8` indices). 256 was the fastest of 64, 128
/// and 256 on the 1k sets (`docs/classifier.md`, "Tuning constants").
const CHUNK: usize = 256;
/// Fewer keys than this are classified one by one: a round initialises
/// ~9 KiB of state (IPv4), and a few keys give the passes little to overlap.
const MIN_ROUND: usize = 8;

/// Partitioned cutting trees.
#[derive(Clone, Debug)]
pub(crate) struct Engine<A: Addr> {
    parts: Vec<Part<A>>,
    /// Partition indices by ascending best rank.
    order: Vec<usize>,
}

impl<A: Addr> Engine<A> {
    pub(crate) fn new() -> Self {
        Engine {
            parts: (0..NPARTS).map(|_| Part::new()).collect(),
            order: (0..NPARTS).collect(),
        }
    }

    pub(crate) fn build(rules: &[Rule<A>]) -> Self {
        let small = rules.len() <= SMALL_PART;
        let mut groups: Vec<Vec<Rule<A>>> = vec![Vec::new(); NPARTS];
        for r in rules {
            groups[signature(r)].push(*r);
        }
        let mut e = Engine {
            parts: groups
                .into_iter()
                .map(|g| Part::from_rules(g, small))
                .collect(),
            order: Vec::new(),
        };
        e.reorder();
        e
    }

    fn reorder(&mut self) {
        let mut o: Vec<usize> = (0..self.parts.len()).collect();
        o.sort_by_key(|&i| self.parts[i].best);
        self.order = o;
    }

    #[inline]
    pub(crate) fn classify(&self, key: &Key<A>) -> Option<u32> {
        let fields = fields_of(key);
        let mut best = SENTINEL_RANK;
        for &p in &self.order {
            let p = &self.parts[p];
            if p.best >= best {
                break;
            }
            p.lookup(key, &fields, &mut best);
        }
        (best != SENTINEL_RANK).then_some(best as u32)
    }

    pub(crate) fn stats(&self, keys: &[Key<A>]) -> String {
        let (mut parts, mut levels, mut scanned) = (0u64, 0u64, 0u64);
        // per partition: visits, levels, max level, scanned, wins
        let mut pp = vec![[0u64; 5]; self.parts.len()];
        let mut dh = vec![[0u64; 8]; self.parts.len()];
        for key in keys {
            let fields = fields_of(key);
            let mut best = SENTINEL_RANK;
            let mut winner = usize::MAX;
            for &pi in &self.order {
                let p = &self.parts[pi];
                if p.best >= best {
                    break;
                }
                parts += 1;
                pp[pi][0] += 1;
                let mut e = p.root;
                let mut d = 0u64;
                while e & LEAF == 0 {
                    levels += 1;
                    d += 1;
                    let base = e as u32 as usize;
                    let f = ((e >> 32) & 7) as usize;
                    let shift = ((e >> 35) & 127) as u32;
                    let k = ((e >> 42) & 31) as u32;
                    let idx = fields[f].window(shift) & ((1u32 << k) - 1);
                    e = p.children[base + idx as usize];
                }
                pp[pi][1] += d;
                pp[pi][2] = pp[pi][2].max(d);
                dh[pi][(d as usize).min(7)] += 1;
                let mut i = e as u32 as usize;
                loop {
                    let r = &p.leaves[i];
                    scanned += 1;
                    pp[pi][3] += 1;
                    if r.rank >= best {
                        break;
                    }
                    if r.matches(key) {
                        best = r.rank;
                        winner = pi;
                        break;
                    }
                    i += 1;
                }
            }
            if winner != usize::MAX {
                pp[winner][4] += 1;
            }
        }
        let n = keys.len() as f64;
        let sizes: Vec<(usize, usize, usize, usize)> = self
            .parts
            .iter()
            .map(|p| (p.members.len(), p.children.len(), p.leaves.len(), p.garbage))
            .collect();
        let mut s = format!(
            "parts/pkt {:.2} levels/pkt {:.2} scanned/pkt {:.2} (rules, entries, leaf slots, garbage) {:?}",
            parts as f64 / n,
            levels as f64 / n,
            scanned as f64 / n,
            sizes
        );
        for (i, v) in pp.iter().enumerate() {
            let vis = v[0].max(1) as f64;
            s += &format!(
                "\n  part {i}: visit {:.2} depth {:.2} max {} scan {:.2} win {:.2} depth hist {:?}",
                v[0] as f64 / n,
                v[1] as f64 / vis,
                v[2],
                v[3] as f64 / vis,
                v[4] as f64 / n,
                dh[i]
            );
        }
        s
    }

    pub(crate) fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        for (k, o) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            if k.len() < MIN_ROUND {
                for (k, o) in k.iter().zip(o) {
                    *o = self.classify(k);
                }
            } else {
                self.classify_chunk(k, o);
            }
        }
    }

    /// Classifies up to `CHUNK` keys partition by partition, breadth
    /// first: each pass moves every key still walking one level down (or
    /// one rule along its leaf), so a pass issues one independent load per
    /// key and the loads of many keys overlap; keys that are done drop out
    /// of the pass list (a branch-free compaction), so no key waits for
    /// another's deeper walk.
    fn classify_chunk(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        let n = keys.len();
        // Pass-list indices stay below `CHUNK`; masking says so to the
        // compiler (no bounds checks in the passes).
        const M: usize = CHUNK - 1;
        let mut fields = [[A::ZERO; NF]; CHUNK];
        for (f, k) in fields.iter_mut().zip(keys) {
            *f = fields_of(k);
        }
        let mut best = [SENTINEL_RANK; CHUNK];
        let mut e = [EMPTY; CHUNK];
        // Keys that may improve on the partition: partitions come in
        // ascending best rank, so this list only shrinks.
        let mut act: [u8; CHUNK] = core::array::from_fn(|i| i as u8);
        let mut na = n;
        // Keys in the partition's leaf passes, and in the current pass.
        let mut live = [0u8; CHUNK];
        let mut cur = [0u8; CHUNK];
        for (j, &pi) in self.order.iter().enumerate() {
            let p = &self.parts[pi];
            if j == 0 {
                // Every key's best is still the sentinel: all may improve,
                // unless the partition (and so every later one) is empty.
                if p.best == SENTINEL_RANK {
                    break;
                }
            } else {
                let mut m = 0;
                for t in 0..na {
                    let i = act[t & M];
                    act[m & M] = i;
                    m += usize::from(best[i as usize] > p.best);
                }
                na = m;
                if na == 0 {
                    break;
                }
            }
            let mut nl = na;
            let mut nc = 0;
            if p.root & LEAF == 0 {
                // The root step, for every key: a key whose best beats the
                // root child's bound leaves the partition here.
                let ej = p.root;
                let base = ej as u32 as usize;
                let f = (((ej >> 32) & 7) as usize).min(NF - 1);
                let shift = ((ej >> 35) & 127) as u32;
                let mask = (ej >> 47) as u32;
                let mut kept = 0;
                for t in 0..na {
                    let i = act[t & M] as usize;
                    let c = (fields[i][f].window(shift) & mask) as usize;
                    let next = p.children[base + c];
                    // No bound (never expected) means no skipping: rank 0
                    // is beaten by nothing.
                    let keep = p.bounds.get(c).copied().unwrap_or(0) < best[i];
                    e[i] = next;
                    live[kept & M] = i as u8;
                    kept += usize::from(keep);
                    cur[nc & M] = i as u8;
                    nc += usize::from(keep & (next & LEAF == 0));
                }
                nl = kept;
            } else {
                for t in 0..na {
                    let i = act[t & M];
                    e[i as usize] = p.root;
                    live[t & M] = i;
                }
            }
            while nc > 0 {
                let mut m = 0;
                for t in 0..nc {
                    let i = cur[t & M] as usize;
                    let ej = e[i];
                    let base = ej as u32 as usize;
                    let f = (((ej >> 32) & 7) as usize).min(NF - 1);
                    let shift = ((ej >> 35) & 127) as u32;
                    let idx = fields[i][f].window(shift) & (ej >> 47) as u32;
                    let next = p.children[base + idx as usize];
                    e[i] = next;
                    cur[m & M] = i as u8;
                    m += usize::from(next & LEAF == 0);
                }
                nc = m;
            }
            // First rule of every leaf (often the match), then two per pass.
            let mut nc = 0;
            for t in 0..nl {
                let i = live[t & M] as usize;
                let r = &p.leaves[e[i] as u32 as usize];
                let go = r.rank < best[i];
                let hit = go & r.matches(&keys[i]);
                best[i] = if hit { r.rank } else { best[i] };
                e[i] += 1;
                cur[nc & M] = i as u8;
                nc += usize::from(go & !hit);
            }
            let last = p.leaves.len() - 1;
            while nc > 0 {
                let mut m = 0;
                for t in 0..nc {
                    let i = cur[t & M] as usize;
                    let pos = e[i] as u32 as usize;
                    let k = &keys[i];
                    let b = best[i];
                    let r0 = &p.leaves[pos];
                    let r1 = &p.leaves[(pos + 1).min(last)];
                    let go0 = r0.rank < b;
                    let hit0 = go0 & r0.matches(k);
                    let go1 = go0 & !hit0 & (r1.rank < b);
                    let hit1 = go1 & r1.matches(k);
                    best[i] = if hit0 {
                        r0.rank
                    } else if hit1 {
                        r1.rank
                    } else {
                        b
                    };
                    e[i] += 2;
                    cur[m & M] = i as u8;
                    m += usize::from(go1 & !hit1);
                }
                nc = m;
            }
        }
        for (o, &b) in out.iter_mut().zip(&best[..n]) {
            *o = (b != SENTINEL_RANK).then_some(b as u32);
        }
    }

    pub(crate) fn insert(&mut self, rule: &Rule<A>) {
        let p = signature(rule);
        self.parts[p].insert(rule);
        self.reorder();
    }

    pub(crate) fn remove(&mut self, rule: &Rule<A>) {
        let p = signature(rule);
        self.parts[p].remove(rule);
        self.reorder();
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.parts.iter().map(Part::memory_bytes).sum::<usize>() + self.order.capacity() * 8
    }
}
