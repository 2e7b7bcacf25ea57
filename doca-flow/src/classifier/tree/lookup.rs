//! Lookups: one key walked down each partition's tree and scanned along
//! its leaf, bursts of keys walked breadth first, and the tuning statistics.

use super::{Addr, EMPTY, Engine, Key, LEAF, NF, Part, SENTINEL_RANK};

/// Keys per `classify_batch` round (their state stays in L1; a power of
/// two, at most 256: the pass lists hold `u8` indices). 256 was the fastest of 64, 128
/// and 256 on the 1k sets (`docs/classifier.md`, "Tuning constants").
const CHUNK: usize = 256;
/// The round size for bursts of at most this many keys (the software
/// backend's batches of up to 64 packets): a smaller state to initialise.
const SMALL_CHUNK: usize = 64;
/// Fewer keys than this are classified one by one: a round initialises
/// ~2.5 KiB (64 keys) or ~10 KiB (256) of state (IPv4), and a few keys give
/// the passes little to overlap.
const MIN_ROUND: usize = 8;

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

impl<A: Addr> Part<A> {
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
}

impl<A: Addr> Engine<A> {
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
            } else if k.len() <= SMALL_CHUNK {
                self.classify_chunk::<SMALL_CHUNK>(k, o);
            } else {
                self.classify_chunk::<CHUNK>(k, o);
            }
        }
    }

    /// Classifies up to `N` keys (at most 256) partition by partition, breadth
    /// first: each pass moves every key still walking one level down (or
    /// one rule along its leaf), so a pass issues one independent load per
    /// key and the loads of many keys overlap; keys that are done drop out
    /// of the pass list (a branch-free compaction), so no key waits for
    /// another's deeper walk.
    ///
    /// The state is sized by `N` (about 40 bytes per key for IPv4, 88 for
    /// IPv6) and initialised whole, so bursts get the smallest `N` that holds
    /// them.
    fn classify_chunk<const N: usize>(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        let n = keys.len();
        debug_assert!(n <= N && N <= 256 && N.is_power_of_two());
        // Pass-list indices stay below `N`; masking says so to the
        // compiler (no bounds checks in the passes).
        let lim = N - 1;
        let mut fields = [[A::ZERO; NF]; N];
        for (f, k) in fields.iter_mut().zip(keys) {
            *f = fields_of(k);
        }
        let mut best = [SENTINEL_RANK; N];
        let mut e = [EMPTY; N];
        // Keys that may improve on the partition: partitions come in
        // ascending best rank, so this list only shrinks.
        let mut act: [u8; N] = core::array::from_fn(|i| i as u8);
        let mut na = n;
        // Keys in the partition's leaf passes, and in the current pass.
        let mut live = [0u8; N];
        let mut cur = [0u8; N];
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
                    let i = act[t & lim];
                    act[m & lim] = i;
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
                    let i = act[t & lim] as usize;
                    let c = (fields[i][f].window(shift) & mask) as usize;
                    let next = p.children[base + c];
                    // No bound (never expected) means no skipping: rank 0
                    // is beaten by nothing.
                    let keep = p.bounds.get(c).copied().unwrap_or(0) < best[i];
                    e[i] = next;
                    live[kept & lim] = i as u8;
                    kept += usize::from(keep);
                    cur[nc & lim] = i as u8;
                    nc += usize::from(keep & (next & LEAF == 0));
                }
                nl = kept;
            } else {
                for t in 0..na {
                    let i = act[t & lim];
                    e[i as usize] = p.root;
                    live[t & lim] = i;
                }
            }
            while nc > 0 {
                let mut m = 0;
                for t in 0..nc {
                    let i = cur[t & lim] as usize;
                    let ej = e[i];
                    let base = ej as u32 as usize;
                    let f = (((ej >> 32) & 7) as usize).min(NF - 1);
                    let shift = ((ej >> 35) & 127) as u32;
                    let idx = fields[i][f].window(shift) & (ej >> 47) as u32;
                    let next = p.children[base + idx as usize];
                    e[i] = next;
                    cur[m & lim] = i as u8;
                    m += usize::from(next & LEAF == 0);
                }
                nc = m;
            }
            // First rule of every leaf (often the match), then two per pass.
            let mut nc = 0;
            for t in 0..nl {
                let i = live[t & lim] as usize;
                let r = &p.leaves[e[i] as u32 as usize];
                let go = r.rank < best[i];
                let hit = go & r.matches(&keys[i]);
                best[i] = if hit { r.rank } else { best[i] };
                e[i] += 1;
                cur[nc & lim] = i as u8;
                nc += usize::from(go & !hit);
            }
            let last = p.leaves.len() - 1;
            while nc > 0 {
                let mut m = 0;
                for t in 0..nc {
                    let i = cur[t & lim] as usize;
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
                    cur[m & lim] = i as u8;
                    m += usize::from(go1 & !hit1);
                }
                nc = m;
            }
        }
        for (o, &b) in out.iter_mut().zip(&best[..n]) {
            *o = (b != SENTINEL_RANK).then_some(b as u32);
        }
    }
}
