//! Updates: one rule inserted into or removed from a partition's tree at
//! the leaves, rebuilding only the subtrees that grow too large or lose a
//! pruning rule, and compacting a partition whose storage is mostly garbage.

use super::{
    Addr, EMPTY, Engine, Extent, LEAF, LeafRule, Member, Part, Region, Rule, SENTINEL_RANK,
    SMALL_BINTH, Scratch, Slot, interval, signature,
};

impl<A: Addr> Part<A> {
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
        self.members.insert(r.id, Member::new(r));
        self.best = self.best.min(r.rank());
    }

    /// Takes a rule out of the members; whether it was a pruner.
    fn remove_member(&mut self, id: u32) -> bool {
        let Some(m) = self.members.remove(&id) else {
            return false;
        };
        if m.rule.rank() == self.best {
            self.best = self
                .members
                .values()
                .map(|m| m.rule.rank())
                .min()
                .unwrap_or(SENTINEL_RANK);
        }
        m.pruner
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
            // The children's boxes differ only in the cut field's value.
            let mut child = region.child::<A>(f, shift, k, 0);
            for c in c0..=c1 {
                child.v[f] = region.v[f] | (c as u128) << shift;
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
        if at > 0 {
            let ext = region.extent::<A>();
            if let Some(by) = cur[..at]
                .iter()
                .find(|x| (!x.needs_ports() || lr.needs_ports()) && x.covers(&ext))
            {
                self.mark_pruner(by.rank as u32);
                return;
            }
        }
        if len < cap {
            // Room in place: shift the tail (and the sentinel) right.
            self.leaves.copy_within(off + at..=off + len, off + at + 1);
            self.leaves[off + at] = *lr;
            return;
        }
        // Full: move to a larger block or, past twice the leaf size, rebuild the leaf as
        // a subtree of its rules. Only a full leaf splits: one the builder left large
        // (no cut separates its rules) takes a removal and re-insertion in place.
        let mut v: Vec<LeafRule<A>> = self.leaf_rules(e).to_vec();
        v.insert(at, *lr);
        let len = v.len();
        self.free_leaf(e);
        let ne = if len > 2 * self.binth {
            let rules: Vec<Rule<A>> = v
                .iter()
                .filter_map(|x| self.members.get(&(x.rank as u32)))
                .map(|m| m.rule)
                .collect();
            let idx = (0..rules.len() as u32).collect();
            let ne = self.build_node(&rules, idx, region);
            self.scratch = Scratch::default();
            if ne & LEAF != 0 && ne != EMPTY {
                // No cut: room to double before the next attempt (written before the
                // exact-sized block is freed, which it must not take back).
                let v: Vec<LeafRule<A>> = self.leaf_rules(ne).to_vec();
                let want = (2 * v.len()).next_power_of_two();
                let grown = self.write_leaf_with(want, want, &v);
                self.free_leaf(ne);
                grown
            } else {
                ne
            }
        } else {
            self.write_leaf(len.next_power_of_two().max(2), &v)
        };
        self.set(s, ne);
    }

    /// Replaces the subtree `e` at `s` by one built from the partition's
    /// members that can match keys in the box.
    fn rebuild_from_members(&mut self, s: Slot, e: u64, region: &Region) {
        let ext = region.extent::<A>();
        let mut rules: Vec<Rule<A>> = self
            .members
            .values()
            .map(|m| &m.rule)
            .filter(|m| overlaps(m, &ext))
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
        let pruner = self.remove_member(r.id);
        self.remove_at(Slot::Root, &Region::ALL, r, pruner);
        self.maybe_compact();
    }

    /// `pruner`: whether `r` shadowed rules somewhere at build or insert time (only
    /// then can a box it covers need a rebuild).
    fn remove_at(&mut self, s: Slot, region: &Region, r: &Rule<A>, pruner: bool) {
        let e = self.get(s);
        if e == EMPTY {
            return;
        }
        if pruner && region.covered_by(r) {
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
            // The children's boxes differ only in the cut field's value.
            let mut child = region.child::<A>(f, shift, k, 0);
            for c in c0..=c1 {
                child.v[f] = region.v[f] | (c as u128) << shift;
                self.remove_at(Slot::Child(base + c), &child, r, pruner);
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
            let members = std::mem::take(&mut self.members);
            let rules = members.into_values().map(|m| m.rule).collect();
            *self = Part::from_rules(rules, small);
        }
    }
}

/// Whether `r` can match some key in the box (its [`Region::extent`]).
fn overlaps<A: Addr>(r: &Rule<A>, ext: &Extent) -> bool {
    for (f, &(lo, hi)) in ext.bounds.iter().enumerate() {
        let (a, b) = interval(r, f);
        if b < lo || a > hi {
            return false;
        }
    }
    // Protocol: the box fixes the top d bits; the rule needs the bits under
    // its mask; they conflict only on bits both fix.
    let m = u128::from(r.proto_mask) & !ext.proto_free & 0xff;
    (ext.proto & m) == (u128::from(r.proto) & m)
}

impl<A: Addr> Engine<A> {
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
}
