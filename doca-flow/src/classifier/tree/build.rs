//! Building: a partition's cutting tree from its rules, node by node
//! (pruning shadowed rules, choosing each node's cut), and the engine from a
//! whole rule set.

use super::{
    Addr, EMPTY, Engine, KMAX, LeafRule, Member, NF, NPARTS, Part, Region, Rule, SENTINEL_RANK,
    SMALL_BINTH, SMALL_PART, SMALL_SPFAC, grow_gently, interval, low_mask, needs_ports, signature,
    width,
};

/// Buffers `choose_cut` reuses from node to node.
#[derive(Clone, Debug, Default)]
pub(super) struct Scratch {
    diff: Vec<i32>,
    tops: Vec<(u32, u32)>,
}

impl<A: Addr> Part<A> {
    /// Builds a partition; `small` selects the small-set tuning.
    pub(super) fn from_rules(mut rules: Vec<Rule<A>>, small: bool) -> Self {
        rules.sort_by_key(Rule::rank);
        let mut p = Part::new();
        if small {
            p.spfac = SMALL_SPFAC;
            p.binth = SMALL_BINTH;
        }
        p.best = rules.first().map_or(SENTINEL_RANK, Rule::rank);
        p.members = rules.iter().map(|r| (r.id, Member::new(r))).collect();
        let idx: Vec<u32> = (0..rules.len() as u32).collect();
        p.bulk = true;
        p.root = p.build_node(&rules, idx, &Region::ALL);
        p.bulk = false;
        p.scratch = Scratch::default();
        p.children.shrink_to_fit();
        p.leaves.shrink_to_fit();
        p
    }

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
                    self.mark_pruner(by);
                    continue;
                }
            }
            idx[out] = idx[i];
            out += 1;
            if region.covered_by(r) {
                if !np {
                    if i + 1 < idx.len() {
                        self.mark_pruner(r.id);
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
    pub(super) fn build_node(
        &mut self,
        rules: &[Rule<A>],
        mut idx: Vec<u32>,
        region: &Region,
    ) -> u64 {
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

impl<A: Addr> Engine<A> {
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

    pub(super) fn reorder(&mut self) {
        // In place: this runs after every update.
        let parts = &self.parts;
        if self.order.len() != parts.len() {
            self.order = (0..parts.len()).collect();
        }
        self.order.sort_unstable_by_key(|&i| (parts[i].best, i));
    }
}
