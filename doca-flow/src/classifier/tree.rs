//! The lookup engine (first version: a priority-sorted linear scan).

use super::{Addr, Key, Rule};

/// Rules sorted by `(priority, id)`.
#[derive(Clone, Debug)]
pub(crate) struct Engine<A: Addr> {
    sorted: Vec<Rule<A>>,
}

impl<A: Addr> Engine<A> {
    pub(crate) fn new() -> Self {
        Engine { sorted: Vec::new() }
    }

    pub(crate) fn build(rules: &[Rule<A>]) -> Self {
        let mut sorted = rules.to_vec();
        sorted.sort_by_key(Rule::rank);
        Engine { sorted }
    }

    pub(crate) fn classify(&self, key: &Key<A>) -> Option<u32> {
        self.sorted.iter().find(|r| r.matches(key)).map(|r| r.id)
    }

    pub(crate) fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        for (k, o) in keys.iter().zip(out.iter_mut()) {
            *o = self.classify(k);
        }
    }

    pub(crate) fn insert(&mut self, rule: &Rule<A>) {
        let pos = self.sorted.partition_point(|r| r.rank() < rule.rank());
        self.sorted.insert(pos, *rule);
    }

    pub(crate) fn remove(&mut self, rule: &Rule<A>) {
        let pos = self.sorted.partition_point(|r| r.rank() < rule.rank());
        if self.sorted.get(pos).is_some_and(|r| r.id == rule.id) {
            self.sorted.remove(pos);
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.sorted.capacity() * size_of::<Rule<A>>()
    }
}
