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
//!
//! Files. This one holds the layout (constants, boxes, leaf rules, the
//! partition and engine types, the leaf arena); `build` builds trees,
//! `update` inserts and removes rules, `lookup` classifies keys.

mod build;
mod lookup;
mod update;

use super::{Addr, Key, Rule};
use build::Scratch;
// Rule ids are the operator's, not the traffic's: the Fx hash (a multiply) needs no
// flooding resistance here; SipHash itself was about a sixth of an update's time on
// fw1_100k (perf), the maps' cache misses most of the rest of their share.
use rustc_hash::FxHashMap as HashMap;

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

    /// The box as [`LeafRule::covers`] tests it, computed once for a leaf's rules.
    fn extent<A: Addr>(&self) -> Extent {
        Extent {
            bounds: core::array::from_fn(|f| self.true_bounds::<A>(f)),
            proto_free: low_mask(8 - self.d[4]),
            proto: self.v[4],
        }
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

/// A box's extent for shadowing tests ([`Region::extent`]): per address and port field
/// the values every key in it can take ([`Region::true_bounds`]), and the protocol bits
/// it leaves free and those it fixes.
struct Extent {
    bounds: [(u128, u128); 4],
    proto_free: u128,
    proto: u128,
}

/// A rule as the leaf scan tests it (and the classifier's scan list).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafRule<A: Addr> {
    src: A,
    smask: A,
    dst: A,
    dmask: A,
    /// `(priority << 32) | id`; the sentinel has `u64::MAX`.
    pub(crate) rank: u64,
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

    pub(crate) fn new(r: &Rule<A>) -> Self {
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
    fn covers(&self, ext: &Extent) -> bool {
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
        for ((a, b), (lo, hi)) in iv.into_iter().zip(ext.bounds) {
            if a > lo || b < hi {
                return false;
            }
        }
        let m = u128::from(self.pmask & 0xff);
        m & ext.proto_free == 0 && (ext.proto & m) == u128::from(self.proto & 0xff)
    }

    #[inline(always)]
    pub(crate) fn matches(&self, k: &Key<A>) -> bool {
        (k.src.and(self.smask) == self.src)
            & (k.dst.and(self.dmask) == self.dst)
            & (k.src_port.wrapping_sub(self.sp_lo) <= self.sp_span)
            & (k.dst_port.wrapping_sub(self.dp_lo) <= self.dp_span)
            & (((u16::from(k.has_ports) << 8 | u16::from(k.proto)) & self.pmask) == self.proto)
    }

    /// For each of the first `n` keys of `cols`: when the rule matches it and `code` is
    /// below `best[i]`, `best[i] = code`. Branch-free over columns, so the compiler
    /// tests several keys per instruction.
    #[inline]
    pub(crate) fn lower_where_matching<const N: usize>(
        &self,
        cols: &KeyColumns<A, N>,
        n: usize,
        code: u32,
        best: &mut [u32; N],
    ) {
        let n = n.min(N);
        let keys = cols.src[..n]
            .iter()
            .zip(&cols.dst[..n])
            .zip(cols.sp[..n].iter().zip(&cols.dp[..n]))
            .zip(&cols.ph[..n]);
        for ((((&src, &dst), (&sp, &dp)), &ph), b) in keys.zip(&mut best[..n]) {
            let m = (src.and(self.smask) == self.src)
                & (dst.and(self.dmask) == self.dst)
                & (sp.wrapping_sub(self.sp_lo) <= self.sp_span)
                & (dp.wrapping_sub(self.dp_lo) <= self.dp_span)
                & ((ph & self.pmask) == self.proto)
                & (code < *b);
            *b = if m { code } else { *b };
        }
    }
}

/// Up to `N` keys field by field (what [`LeafRule::lower_where_matching`] reads).
pub(crate) struct KeyColumns<A: Addr, const N: usize> {
    src: [A; N],
    dst: [A; N],
    sp: [u16; N],
    dp: [u16; N],
    /// `has_ports << 8 | proto`.
    ph: [u16; N],
}

impl<A: Addr, const N: usize> KeyColumns<A, N> {
    pub(crate) fn new() -> Self {
        KeyColumns {
            src: [A::ZERO; N],
            dst: [A::ZERO; N],
            sp: [0; N],
            dp: [0; N],
            ph: [0; N],
        }
    }

    /// Takes the first `N` of `keys` (at most).
    pub(crate) fn fill(&mut self, keys: &[Key<A>]) {
        for (i, k) in keys.iter().take(N).enumerate() {
            self.src[i] = k.src;
            self.dst[i] = k.dst;
            self.sp[i] = k.src_port;
            self.dp[i] = k.dst_port;
            self.ph[i] = u16::from(k.has_ports) << 8 | u16::from(k.proto);
        }
    }
}

/// A partition's rule.
#[derive(Clone, Copy, Debug)]
struct Member<A: Addr> {
    rule: Rule<A>,
    /// Whether the rule shadowed (pruned) other rules somewhere in the tree
    /// (at a build, or an insertion it kept out of a leaf): removing it
    /// rebuilds the subtrees it covers. Set until the rule is removed.
    pruner: bool,
}

impl<A: Addr> Member<A> {
    fn new(rule: &Rule<A>) -> Self {
        Member {
            rule: *rule,
            pruner: false,
        }
    }
}

/// Where an entry lives: the partition root or a child slot.
#[derive(Clone, Copy)]
enum Slot {
    Root,
    Child(usize),
}

/// The rules of one partition (see [`signature`]) and their tree.
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
    /// The partition's rules by id (for rebuilds), each with whether it is a
    /// pruner. One map, not a list, a map of positions in it and a set of
    /// pruners: a removal on a large set then misses the cache once here
    /// instead of four times (the position, the list slot, the moved rule's
    /// position, the pruner set).
    members: HashMap<u32, Member<A>>,
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
    /// Leaf size for this partition's builds; an insert into a full leaf
    /// rebuilds it as a subtree once it would hold more than twice this
    /// (a leaf whose rules no cut separates gets room to double first).
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
            members: HashMap::default(),
            bounds: Vec::new(),
            spfac: SPFAC,
            bulk: false,
            scratch: Scratch::default(),
            binth: BINTH,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.children.capacity() * 8
            + self.leaves.capacity() * size_of::<LeafRule<A>>()
            + self
                .free
                .iter()
                .map(|v| v.capacity() * 4 + 24)
                .sum::<usize>()
            + self.members.capacity() * (size_of::<(u32, Member<A>)>() + 8)
            + self.bounds.capacity() * 8
    }

    /// A block for at least `min` rules: the smallest freed block of `min..=2 * want`
    /// rules if there is one, else `want` new slots at the arena's end. Returns its
    /// offset and capacity.
    ///
    /// Reusing freed blocks down to `min` keeps the arena from growing under a steady
    /// stream of updates: a leaf emptied by a removal and filled by the next insertion
    /// gets its own block back (before, it asked for 2 slots and left its 1-slot
    /// block unused, so the first pass of updates after a build grew the arena, a
    /// copy of it and page faults each time: fw1_1k 5 times in 1462 updates).
    fn alloc_leaf(&mut self, min: usize, want: usize) -> (u32, usize) {
        let top = (2 * want).min(self.free.len().saturating_sub(1));
        for cap in min..=top {
            if let Some(off) = self.free[cap].pop() {
                self.garbage -= cap + 1;
                return (off, cap);
            }
        }
        let off = self.leaves.len() as u32;
        if self.bulk {
            self.leaves.reserve(want + 1);
        } else {
            grow_gently(&mut self.leaves, want + 1);
        }
        self.leaves
            .resize(self.leaves.len() + want + 1, LeafRule::SENTINEL);
        (off, want)
    }

    /// Records that the member `id` shadowed rules (see [`Member::pruner`]).
    fn mark_pruner(&mut self, id: u32) {
        let m = self.members.get_mut(&id);
        debug_assert!(m.is_some(), "pruner {id} is not a member");
        if let Some(m) = m {
            m.pruner = true;
        }
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

    /// Writes `rules` into a new leaf with room for `want` rules, or for fewer (down to
    /// their number) where a freed block fits ([`Part::alloc_leaf`]).
    fn write_leaf(&mut self, want: usize, rules: &[LeafRule<A>]) -> u64 {
        self.write_leaf_with(rules.len().max(1), want, rules)
    }

    /// [`Part::write_leaf`] with room for at least `min` rules.
    fn write_leaf_with(&mut self, min: usize, want: usize, rules: &[LeafRule<A>]) -> u64 {
        debug_assert!(rules.len() <= want);
        let (off, cap) = self.alloc_leaf(min, want);
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
}

/// Reserves room for `extra` more items, growing by 1/8 instead of
/// doubling: after a build the arrays are exactly sized, and doubling them
/// on the first update would inflate the footprint by up to 2x.
fn grow_gently<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 8));
    }
}

/// The partition a rule belongs to, by which of its addresses are
/// *specific* (a prefix of at least half the address width): 2 if the
/// destination is (whatever the source), else 1 if the source is, else 0.
///
/// A tree only cuts well on fields where its rules are narrow, so rules
/// wide in an address stay out of trees that cut it. Rules specific in
/// both addresses join the destination partition instead of a fourth one
/// of their own: they replicate under no destination cut, and a key visits
/// one tree fewer. On fw1_10k this took a lookup from 2.88 to 1.95
/// partitions and 30 to 17 ns (`docs/classifier.md`, "Partitions").
fn signature<A: Addr>(r: &Rule<A>) -> usize {
    let t = A::BITS / 2;
    if u32::from(r.dst.len) >= t {
        2
    } else {
        usize::from(u32::from(r.src.len) >= t)
    }
}

/// Number of partitions (see [`signature`]).
const NPARTS: usize = 3;

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

    pub(crate) fn memory_bytes(&self) -> usize {
        self.parts.iter().map(Part::memory_bytes).sum::<usize>() + self.order.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{PortRange, Prefix};

    fn rule(id: u32, src: (u32, u8), dst: (u32, u8)) -> Rule<u32> {
        Rule {
            src: Prefix::new(src.0, src.1).unwrap(),
            dst: Prefix::new(dst.0, dst.1).unwrap(),
            src_port: PortRange::ANY,
            dst_port: PortRange::new(80, 80).unwrap(),
            proto: 6,
            proto_mask: 0xff,
            priority: id,
            id,
        }
    }

    fn member_ids(e: &Engine<u32>, p: usize) -> Vec<u32> {
        let mut v: Vec<u32> = e.parts[p].members.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Taking a rule out and putting it back reuses the storage it freed: a pass of
    /// such updates over every rule leaves the leaf arena as long as the build made
    /// it (before, each leaf emptied and refilled moved to a new 2-slot block, so the
    /// first pass after a build grew and copied the arena).
    #[test]
    fn remove_and_reinsert_reuse_freed_leaves() {
        // Rules far apart in the destination: the root cut gives some a leaf of their own.
        let rules: Vec<Rule<u32>> = (0..6)
            .map(|i| rule(i, (0, 0), ((i * 40 + 10) << 24 | 0x0001_0000, 24)))
            .collect();
        let mut e = Engine::build(&rules);
        let arena = |e: &Engine<u32>| e.parts.iter().map(|p| p.leaves.len()).sum::<usize>();
        let freed = |e: &Engine<u32>| e.parts[2].free.iter().map(Vec::len).sum::<usize>();
        let before = arena(&e);
        let mut emptied = 0;
        for _ in 0..3 {
            for r in &rules {
                e.remove(r);
                emptied += freed(&e);
                e.insert(r);
                assert_eq!(freed(&e), 0, "rule {}: the freed block taken back", r.id);
            }
            assert_eq!(arena(&e), before);
        }
        assert!(
            emptied >= 3,
            "no removal emptied a leaf: the test lost its point"
        );
        let key = Key {
            src: 0x0b00_0001,
            dst: 0x5a01_0005,
            src_port: 1,
            dst_port: 80,
            proto: 6,
            has_ports: true,
        };
        assert_eq!(e.classify(&key), Some(2));
    }

    /// Rules specific in both addresses share the destination partition's
    /// tree (a key walks one tree fewer than with a partition of their own),
    /// after a build and after single inserts alike.
    #[test]
    fn rules_specific_in_both_addresses_join_the_destination_partition() {
        let rules = [
            rule(0, (0x0a00_0000, 24), (0xc0a8_0100, 24)), // both specific
            rule(1, (0, 0), (0xc0a8_0200, 32)),            // destination only
            rule(2, (0x0a00_0100, 32), (0xc000_0000, 8)),  // source only
            rule(3, (0x0a00_0000, 8), (0, 0)),             // neither
        ];
        let mut e = Engine::build(&rules);
        assert_eq!(e.parts.len(), 3);
        assert_eq!(member_ids(&e, 2), [0, 1]);
        assert_eq!(member_ids(&e, 1), [2]);
        assert_eq!(member_ids(&e, 0), [3]);
        e.insert(&rule(4, (0x0b00_0000, 16), (0xc0a8_0300, 30)));
        e.insert(&rule(5, (0x0b00_0000, 16), (0, 0)));
        assert_eq!(member_ids(&e, 2), [0, 1, 4]);
        assert_eq!(member_ids(&e, 1), [2, 5]);
        e.remove(&rule(0, (0x0a00_0000, 24), (0xc0a8_0100, 24)));
        assert_eq!(member_ids(&e, 2), [1, 4]);
    }
}
