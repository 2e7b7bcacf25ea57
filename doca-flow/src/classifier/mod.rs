//! The software packet classifier: the engine behind the software ACL pipe.
//!
//! A [`Classifier`] holds 5-tuple [`Rule`]s (source and destination prefix,
//! source and destination port range, protocol under a mask) and answers, for a
//! packet [`Key`], the id of the matching rule with the smallest
//! `(priority, id)`. Rules can be inserted and removed one at a time without a
//! full rebuild. The same code serves IPv4 (`Classifier<u32>`) and IPv6
//! (`Classifier<u128>`).
//!
//! # Quick start
//!
//! ```
//! use doca_flow::classifier::{Classifier, Key, PortRange, Prefix, Rule};
//!
//! let web = Rule {
//!     src: Prefix::ANY,
//!     dst: Prefix::new(0x0a00_0000u32, 8).unwrap(),
//!     src_port: PortRange::ANY,
//!     dst_port: PortRange::single(80),
//!     proto: 6,
//!     proto_mask: 0xff,
//!     priority: 0,
//!     id: 7,
//! };
//! let mut c = Classifier::build(&[web]).unwrap();
//! let key = Key { src: 0xc0a8_0001, dst: 0x0a01_0203, src_port: 40000, dst_port: 80, proto: 6, has_ports: true };
//! assert_eq!(c.classify(&key), Some(7));
//! assert_eq!(c.remove(7).map(|r| r.id), Some(7));
//! assert_eq!(c.classify(&key), None);
//! ```
//!
//! # Semantics
//!
//! A rule matches a key when the key's source and destination addresses lie in
//! the rule's prefixes, `(key.proto & proto_mask) == (rule.proto & proto_mask)`,
//! and both ports lie in the rule's inclusive ranges. A rule whose source or
//! destination port range is not the full `0..=65535` never matches a key with
//! `has_ports == false` (non-first fragments, ICMP, no L4 header); full-range
//! rules do. A lower priority value wins; ties go to the lower id.
//!
//! The algorithm (partitioned multi-bit cutting trees with leaf-level updates;
//! sets of at most 8 rules are scanned in order) is described in
//! `docs/classifier.md`.

mod rfc;
mod tree;

// Rule ids are the operator's, not the traffic's: the Fx hash needs no flooding
// resistance (tree/mod.rs).
use rustc_hash::FxHashMap as HashMap;
use std::collections::hash_map::Entry;

pub use rfc::{NotOptimized, RFC_MAX_RULES};

pub use crate::net::{Addr, PortRange, Prefix};
use tree::{Engine, KeyColumns, LeafRule};

/// A 5-tuple classification rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule<A: Addr> {
    /// Source address prefix.
    pub src: Prefix<A>,
    /// Destination address prefix.
    pub dst: Prefix<A>,
    /// Source port range.
    pub src_port: PortRange,
    /// Destination port range.
    pub dst_port: PortRange,
    /// Protocol value, compared under `proto_mask`.
    pub proto: u8,
    /// Protocol mask: `0` matches any protocol, `0xff` one protocol.
    pub proto_mask: u8,
    /// Priority: the lower value wins.
    pub priority: u32,
    /// Unique rule id; breaks priority ties (the lower id wins).
    pub id: u32,
}

impl<A: Addr> Rule<A> {
    /// Whether the rule matches `key` (the linear first-match oracle's test).
    #[inline]
    pub fn matches(&self, key: &Key<A>) -> bool {
        let ports_ok = if key.has_ports {
            self.src_port.contains(key.src_port) && self.dst_port.contains(key.dst_port)
        } else {
            self.src_port.is_any() && self.dst_port.is_any()
        };
        ports_ok
            && self.src.contains(key.src)
            && self.dst.contains(key.dst)
            && (key.proto & self.proto_mask) == (self.proto & self.proto_mask)
    }

    /// The ordering key: `(priority, id)` packed so that smaller wins.
    #[inline]
    pub(crate) fn rank(&self) -> u64 {
        (u64::from(self.priority) << 32) | u64::from(self.id)
    }

    /// The rule with its prefixes normalised (a no-op for prefixes made by
    /// [`Prefix::new`]; a guard for the ones this crate builds field by field).
    fn normalized(self) -> Self {
        Rule {
            src: self.src.normalized(),
            dst: self.dst.normalized(),
            ..self
        }
    }
}

/// A packet's classification key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<A: Addr> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Source port (ignored when `has_ports` is false).
    pub src_port: u16,
    /// Destination port (ignored when `has_ports` is false).
    pub dst_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// Whether the packet carries L4 ports (false for non-first fragments,
    /// ICMP, no L4 header).
    pub has_ports: bool,
}

/// Why a rule was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifierError {
    /// Another rule already has this id.
    #[error("rule {id}: duplicate rule id")]
    DuplicateId {
        /// The rule id.
        id: u32,
    },
}

/// A 5-tuple packet classifier with in-place updates.
///
/// See the [module docs](self) for semantics and an example.
#[derive(Clone, Debug)]
pub struct Classifier<A: Addr> {
    rules: HashMap<u32, Rule<A>>,
    /// The cutting trees; empty while `linear` holds the rules.
    engine: Engine<A>,
    /// A small set (at most [`LINEAR_MAX`] rules), by ascending rank, in the
    /// trees' leaf form (masks precomputed): scanned in order, cheaper than any
    /// tree walk (a firewall's ACL pipe often holds a handful of rules).
    linear: Option<Vec<LeafRule<A>>>,
    /// The RFC snapshot built by [`Classifier::optimize`] and the updates since,
    /// which lookups combine with it until there are too many ([`Fast`]).
    fast: Option<Box<Fast<A>>>,
}

/// The most rules inserted since [`Classifier::optimize`] that lookups scan beside its
/// tables (a key tests those that outrank the tables' answer): one more drops the
/// tables, and lookups go to the trees until the next `optimize`.
const ADDED_MAX: usize = 8;

/// The RFC tables of [`Classifier::optimize`] (a snapshot of the rules then) and the
/// updates since, so that a few rule changes between two `optimize`s keep lookups on
/// the tables: a key's answer is the tables' unless a rule inserted since outranks it
/// and matches (`added`, scanned in rank order), or the tables' rule was removed since
/// (then the trees answer the key: rebuilt at the first such removal and kept up to
/// date from then on; insertions alone leave them unbuilt). More than [`ADDED_MAX`]
/// insertions, or removals of more than an eighth of the snapshot, drop the tables.
#[derive(Clone, Debug)]
struct Fast<A: Addr> {
    rfc: rfc::Rfc,
    /// Whether any update came since the snapshot; the fields below are empty until
    /// the first.
    changed: bool,
    /// Whether the classifier's trees (or scan list) hold the current rules: false
    /// from the snapshot until a removal needs them.
    trees: bool,
    /// Per snapshot rule (the tables' rank order): its rank, and whether it was
    /// removed since.
    ranks: Vec<u64>,
    removed: Vec<bool>,
    removed_count: usize,
    /// Snapshot rule id -> its index in the tables' rank order.
    index_of: HashMap<u32, u32>,
    /// Rules inserted since the snapshot (and still in the set), by ascending rank, and
    /// per rule how many snapshot rules outrank it (where it falls in the tables' rank
    /// order).
    added: Vec<LeafRule<A>>,
    added_pos: Vec<u32>,
}

impl<A: Addr> Fast<A> {
    fn new(rfc: rfc::Rfc) -> Self {
        Fast {
            rfc,
            changed: false,
            trees: false,
            ranks: Vec::new(),
            removed: Vec::new(),
            removed_count: 0,
            index_of: HashMap::default(),
            added: Vec::new(),
            added_pos: Vec::new(),
        }
    }

    /// Adds `rule`, inserted since the snapshot (after [`Fast::start_changes`]).
    fn add(&mut self, rule: &Rule<A>) {
        let rank = rule.rank();
        let at = self.added.partition_point(|r| r.rank < rank);
        self.added.insert(at, LeafRule::new(rule));
        let pos = self.ranks.partition_point(|&x| x < rank);
        self.added_pos.insert(at, pos as u32);
    }

    /// Takes out `id` if it was inserted since the snapshot; false otherwise.
    fn take_added(&mut self, id: u32) -> bool {
        match self.added.iter().position(|r| r.rank as u32 == id) {
            Some(at) => {
                self.added.remove(at);
                self.added_pos.remove(at);
                true
            }
            None => false,
        }
    }

    /// Records what the snapshot holds, before the first update (`rules`: the set
    /// the snapshot was built from, which is the set until then).
    fn start_changes(&mut self, rules: &HashMap<u32, Rule<A>>) {
        let ids = self.rfc.ids();
        self.ranks = ids.iter().map(|id| rules[id].rank()).collect();
        self.removed = vec![false; ids.len()];
        self.index_of = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u32))
            .collect();
        self.changed = true;
    }

    /// Whether the changes are few enough to keep answering from the tables.
    fn within_bounds(&self) -> bool {
        self.added.len() <= ADDED_MAX && self.removed_count <= self.ranks.len() / 8
    }

    /// The answer for `key` given the tables' answer `base` (an index): `Err` when the
    /// trees must answer (the tables' rule was removed).
    #[inline]
    fn combine(&self, key: &Key<A>, base: Option<u32>) -> Result<Option<u32>, ()> {
        let best = match base {
            Some(i) if self.removed[i as usize] => return Err(()),
            Some(i) => self.ranks[i as usize],
            None => u64::MAX,
        };
        // `added` is in rank order: the first match that outranks the tables' rule
        // wins; a rank's low 32 bits are the rule's id.
        let newer = self
            .added
            .iter()
            .take_while(|r| r.rank < best)
            .find(|r| r.matches(key));
        Ok(Some(newer.map_or(best, |r| r.rank))
            .filter(|&r| r != u64::MAX)
            .map(|r| r as u32))
    }

    fn memory_bytes(&self) -> usize {
        self.rfc.memory_bytes()
            + self.ranks.capacity() * size_of::<u64>()
            + self.removed.capacity()
            + self.index_of.capacity() * (2 * size_of::<u32>() + 8)
            + self.added.capacity() * size_of::<LeafRule<A>>()
            + self.added_pos.capacity() * size_of::<u32>()
    }
}

/// The first rule of the scan list that matches `key` (the list is in rank order;
/// a rank's low 32 bits are the rule's id).
#[inline]
fn scan<A: Addr>(list: &[LeafRule<A>], key: &Key<A>) -> Option<u32> {
    list.iter().find(|r| r.matches(key)).map(|r| r.rank as u32)
}

/// The most rules scanned in order instead of through the trees. A set that grows
/// past it gets trees; one that shrinks to half of it goes back (not at once,
/// so a set that hovers at the limit does not rebuild on every update).
const LINEAR_MAX: usize = 8;

impl<A: Addr> Default for Classifier<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Addr> Classifier<A> {
    /// An empty classifier.
    #[must_use]
    pub fn new() -> Self {
        Classifier {
            rules: HashMap::default(),
            engine: Engine::new(),
            linear: Some(Vec::new()),
            fast: None,
        }
    }

    /// Builds a classifier from a rule set in one pass.
    ///
    /// # Errors
    ///
    /// [`ClassifierError::DuplicateId`] when two rules share an id. (Prefixes and port
    /// ranges cannot be malformed: [`Prefix::new`] and [`PortRange::new`] check them.)
    pub fn build(rules: &[Rule<A>]) -> Result<Self, ClassifierError> {
        let mut map = HashMap::with_capacity_and_hasher(rules.len(), Default::default());
        let mut valid = Vec::with_capacity(rules.len());
        for r in rules {
            let r = r.normalized();
            if map.insert(r.id, r).is_some() {
                return Err(ClassifierError::DuplicateId { id: r.id });
            }
            valid.push(r);
        }
        let mut c = Classifier {
            rules: map,
            engine: Engine::new(),
            linear: None,
            fast: None,
        };
        c.rebuild(valid);
        Ok(c)
    }

    /// Puts `rules` (the whole set, normalised) in a scan list or in trees, by size.
    fn rebuild(&mut self, mut rules: Vec<Rule<A>>) {
        if rules.len() <= LINEAR_MAX {
            rules.sort_unstable_by_key(Rule::rank);
            self.linear = Some(rules.iter().map(LeafRule::new).collect());
            self.engine = Engine::new();
        } else {
            self.engine = Engine::build(&rules);
            self.linear = None;
        }
    }

    /// The rules in the map, for a rebuild.
    fn all_rules(&self) -> Vec<Rule<A>> {
        self.rules.values().copied().collect()
    }

    /// The id of the matching rule with the smallest `(priority, id)`, or
    /// `None` when no rule matches.
    #[inline]
    pub fn classify(&self, key: &Key<A>) -> Option<u32> {
        if let Some(f) = &self.fast {
            if !f.changed {
                return f.rfc.classify(key);
            }
            if let Ok(a) = f.combine(key, f.rfc.classify_index(key)) {
                return a;
            }
        }
        self.classify_current(key)
    }

    /// [`Classifier::classify_batch`] when the tables answer with updates since: the
    /// tables' answers, then per inserted rule (rank order) a branch-free pass over the
    /// keys that it matches and outranks their answer, then the keys whose tables' rule
    /// was removed, looked up together in the trees.
    fn classify_batch_changed(&self, f: &Fast<A>, keys: &[Key<A>], out: &mut [Option<u32>]) {
        const GROUP: usize = 64;
        // A key's best so far as one `u32` that orders like ranks: the tables' rule of
        // index `i` is `32 i + 16`, an inserted rule `j` (of `added`) that `p` snapshot
        // rules outrank is `32 p + j` (so below the snapshot rule it precedes, and in
        // rank order among the inserted ones: `j` < 8 < 16), no match `u32::MAX`. At
        // most 16384 x 32 + 16: no overflow.
        const SNAP: u32 = 16;
        let Some(&first) = keys.first() else {
            return;
        };
        f.rfc.classify_batch_index(keys, out);
        let mut cols = KeyColumns::<A, GROUP>::new();
        let mut best = [u32::MAX; GROUP];
        let mut gone = [0u32; GROUP];
        let mut gone_keys = [first; GROUP];
        let mut gone_out = [None; GROUP];
        let ids = f.rfc.ids();
        for (ks, os) in keys.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            let n = ks.len();
            let mut ng = 0;
            for (i, (o, b)) in os.iter().zip(&mut best).enumerate() {
                let (code, removed) = match *o {
                    Some(ix) => (32 * ix + SNAP, f.removed[ix as usize]),
                    None => (u32::MAX, false),
                };
                *b = code;
                gone[ng] = i as u32;
                ng += usize::from(removed);
            }
            if !f.added.is_empty() {
                cols.fill(ks);
            }
            for (j, (r, &p)) in f.added.iter().zip(&f.added_pos).enumerate() {
                r.lower_where_matching(&cols, n, 32 * p + j as u32, &mut best);
            }
            for (o, &b) in os.iter_mut().zip(&best[..n]) {
                *o = if b == u32::MAX {
                    None
                } else if b & SNAP != 0 {
                    ids.get((b / 32) as usize).copied()
                } else {
                    // A rank's low 32 bits are the rule's id.
                    f.added.get((b % 32) as usize).map(|r| r.rank as u32)
                };
            }
            if ng > 0 {
                for (g, &i) in gone_keys.iter_mut().zip(&gone[..ng]) {
                    *g = ks[i as usize];
                }
                self.classify_batch_current(&gone_keys[..ng], &mut gone_out[..ng]);
                for (&i, &a) in gone[..ng].iter().zip(&gone_out[..ng]) {
                    os[i as usize] = a;
                }
            }
        }
    }

    /// [`Classifier::classify_batch`] on the scan list or the trees.
    fn classify_batch_current(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        match &self.linear {
            Some(l) => {
                for (k, o) in keys.iter().zip(out) {
                    *o = scan(l, k);
                }
            }
            None => self.engine.classify_batch(keys, out),
        }
    }

    /// [`Classifier::classify`] on the scan list or the trees (which are up to date
    /// unless tables without updates answer).
    #[inline]
    fn classify_current(&self, key: &Key<A>) -> Option<u32> {
        match &self.linear {
            Some(l) => scan(l, key),
            None => self.engine.classify(key),
        }
    }

    /// Classifies a burst: `out[i] = self.classify(&keys[i])`.
    ///
    /// # Panics
    ///
    /// When `out.len() != keys.len()`.
    pub fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        assert_eq!(
            keys.len(),
            out.len(),
            "classify_batch: keys and out differ in length"
        );
        if let Some(f) = &self.fast {
            if !f.changed {
                f.rfc.classify_batch(keys, out);
                return;
            }
            self.classify_batch_changed(f, keys, out);
            return;
        }
        self.classify_batch_current(keys, out);
    }

    /// Builds lookup tables for the current rule set that answer faster than the
    /// trees (Recursive Flow Classification: seven independent table loads, then
    /// three, two and two more, no branches on the data), when the set is IPv4, has
    /// more than the scan list's 8 and at most [`RFC_MAX_RULES`] rules, the tables
    /// fit in `max_bytes` and their build stays within its work bound. Returns
    /// whether they were built; [`Classifier::try_optimize`] says why not.
    ///
    /// The tables replace the trees (which are dropped, so the footprint is the
    /// tables' and the rule map's). Updates keep them answering, combined with the
    /// updates since: a key's answer is the tables' unless a rule inserted since
    /// outranks it and matches, or the tables' rule was removed, when the trees
    /// answer. The first [`remove`](Self::remove) of a rule the tables hold rebuilds
    /// the trees from the rule map for that (a full build: about a millisecond for
    /// 1k rules), and later updates are the trees' usual in-place ones; insertions
    /// alone leave the trees unbuilt. More than 8 insertions, or removals of more than
    /// an eighth of the snapshot, drop the tables (rebuilding the trees if needed),
    /// and the trees answer. Lookups stay exact throughout. Building the tables costs
    /// far more than an update (5-150 ms for the ClassBench 1k sets, 0.3-0.5 s for
    /// acl1_10k, see `docs/classifier.md`), so call it after a batch of changes, not
    /// after each. A set whose tables are
    /// not built keeps its trees, unchanged; the build gives up within about a
    /// second on sets whose classes are too costly to combine (ClassBench's
    /// fw1_10k and ipc1_10k). Calling it again with no update in between does
    /// nothing; after updates it builds the tables anew.
    pub fn optimize(&mut self, max_bytes: usize) -> bool {
        self.try_optimize(max_bytes).is_ok()
    }

    /// [`Classifier::optimize`], saying why the tables were not built.
    ///
    /// # Errors
    /// [`NotOptimized`] names the reason; the classifier is unchanged.
    pub fn try_optimize(&mut self, max_bytes: usize) -> Result<(), NotOptimized> {
        if self.fast.as_ref().is_some_and(|f| !f.changed) {
            return Ok(());
        }
        if A::BITS != 32 {
            return Err(NotOptimized::NotIpv4);
        }
        if self.linear.is_some() {
            return Err(NotOptimized::TooFewRules {
                rules: self.rules.len(),
            });
        }
        if self.rules.len() > RFC_MAX_RULES {
            return Err(NotOptimized::TooManyRules {
                rules: self.rules.len(),
                max: RFC_MAX_RULES,
            });
        }
        let rules = self.all_rules();
        let rfc = rfc::Rfc::build(&rules, max_bytes)?;
        self.fast = Some(Box::new(Fast::new(rfc)));
        // Lookups use the tables now; the trees come back at the first removal of a
        // rule the tables hold (or when too many updates drop the tables).
        self.engine = Engine::new();
        Ok(())
    }

    /// Whether lookups use the tables of [`Classifier::optimize`] (built, and not
    /// dropped by more updates since than they are combined with).
    pub fn is_optimized(&self) -> bool {
        self.fast.is_some()
    }

    /// Whether the tables of [`Classifier::optimize`] answer with no update since (a
    /// new `optimize` would change nothing).
    pub(crate) fn is_optimized_unchanged(&self) -> bool {
        self.fast.as_ref().is_some_and(|f| !f.changed)
    }

    /// Whether there are tables that have not recorded their snapshot yet (no update
    /// since they were built).
    fn tables_unchanged(&self) -> bool {
        self.fast.as_ref().is_some_and(|f| !f.changed)
    }

    /// Before an update (`rules` not yet changed): when the tables answer with no
    /// update since, they start recording changes.
    fn tables_start_changes(&mut self) {
        if let Some(f) = &mut self.fast {
            if !f.changed {
                f.start_changes(&self.rules);
            }
        }
    }

    /// Whether the trees (or the scan list) hold the current rules, so that an update
    /// must change them too.
    fn trees_current(&self) -> bool {
        self.fast.as_ref().is_none_or(|f| f.trees)
    }

    /// After an update: drops the tables when the changes outgrew them, rebuilding the
    /// trees if no removal had needed them yet.
    fn tables_check_bounds(&mut self) {
        if self.fast.as_ref().is_some_and(|f| !f.within_bounds()) {
            let stale = !self.trees_current();
            self.fast = None;
            if stale {
                self.rebuild(self.all_rules());
            }
        }
    }

    /// Diagnostics for tuning: per key, partitions visited, tree levels
    /// walked and leaf rules tested, and the partition sizes.
    #[doc(hidden)]
    pub fn debug_stats(&self, keys: &[Key<A>]) -> String {
        if let Some(f) = &self.fast {
            return format!(
                "RFC tables: {:?}, {} rules inserted and {} removed since",
                f.rfc,
                f.added.len(),
                f.removed_count
            );
        }
        if let Some(l) = &self.linear {
            return format!("scan list of {} rules", l.len());
        }
        self.engine.stats(keys)
    }

    /// Adds one rule without a full rebuild.
    ///
    /// # Errors
    ///
    /// As [`Classifier::build`]; the classifier is unchanged on error.
    pub fn insert(&mut self, rule: Rule<A>) -> Result<(), ClassifierError> {
        let rule = rule.normalized();
        if self.tables_unchanged() {
            // The tables record what they hold (from the map as it is) before a change.
            if self.rules.contains_key(&rule.id) {
                return Err(ClassifierError::DuplicateId { id: rule.id });
            }
            self.tables_start_changes();
        }
        match self.rules.entry(rule.id) {
            Entry::Occupied(_) => return Err(ClassifierError::DuplicateId { id: rule.id }),
            Entry::Vacant(v) => v.insert(rule),
        };
        if let Some(f) = &mut self.fast {
            f.add(&rule);
        }
        // Trees the tables replaced stay unbuilt: only a removal needs them.
        if self.trees_current() {
            match &mut self.linear {
                Some(l) if l.len() < LINEAR_MAX => {
                    let at = l.partition_point(|r| r.rank < rule.rank());
                    l.insert(at, LeafRule::new(&rule));
                }
                Some(_) => self.rebuild(self.all_rules()),
                None => self.engine.insert(&rule),
            }
        }
        self.tables_check_bounds();
        Ok(())
    }

    /// Removes the rule with this id and returns it (`None` if absent).
    pub fn remove(&mut self, id: u32) -> Option<Rule<A>> {
        if self.tables_unchanged() {
            // As in `insert`: the tables' record comes before the change.
            if !self.rules.contains_key(&id) {
                return None;
            }
            self.tables_start_changes();
        }
        let rule = self.rules.remove(&id)?;
        let mut marked = false;
        if let Some(f) = &mut self.fast {
            // A rule inserted since the snapshot leaves `added`; one of the snapshot's
            // (never both: a snapshot rule inserted again was removed first) is marked.
            if !f.take_added(id) {
                if let Some(&i) = f.index_of.get(&id) {
                    let i = i as usize;
                    if !f.removed[i] {
                        f.removed[i] = true;
                        f.removed_count += 1;
                        marked = true;
                    }
                }
            }
        }
        if self.trees_current() {
            match &mut self.linear {
                Some(l) => l.retain(|r| r.rank as u32 != id),
                None if self.rules.len() <= LINEAR_MAX / 2 => self.rebuild(self.all_rules()),
                None => self.engine.remove(&rule),
            }
        } else if marked {
            // The keys the removed rule answered need the trees from now on.
            self.rebuild(self.all_rules());
            if let Some(f) = &mut self.fast {
                f.trees = true;
            }
        }
        self.tables_check_bounds();
        Some(rule)
    }

    /// The rule with this id, as stored (prefixes normalised).
    pub fn get(&self, id: u32) -> Option<&Rule<A>> {
        self.rules.get(&id)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Bytes held by the lookup structures (trees, leaves, partition tables,
    /// including allocated spare capacity). The id → rule map used by
    /// [`Classifier::get`] and the per-partition rule lists used by updates
    /// are counted too, so this is the whole runtime footprint.
    pub fn memory_bytes(&self) -> usize {
        let map = self.rules.capacity() * (size_of::<u32>() + size_of::<Rule<A>>() + 8);
        let linear = self
            .linear
            .as_ref()
            .map_or(0, |l| l.capacity() * size_of::<LeafRule<A>>());
        let fast = self.fast.as_ref().map_or(0, |f| f.memory_bytes());
        map + self.engine.memory_bytes() + linear + fast
    }
}
