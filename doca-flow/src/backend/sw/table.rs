//! Per-pipe entry tables of the sw backend: one structure per pipe type.

use crate::backend::PipeType;
use crate::backend::sw::hash::FxHashMap;
use crate::classifier::{Addr, Classifier, Key, NotOptimized, Rule};
use crate::matching::{Field, MaskedMatch, PacketKey, Template};
use crate::net::Family;
use crate::packet::{Headers, L3, L4};

/// Masked field values -> entry slot.
type KeyMap = FxHashMap<Box<[u128]>, u32>;

/// A compiled entry, ready to be put into its pipe's table.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    Basic {
        key: Box<[u128]>,
    },
    Control {
        priority: u32,
        matcher: MaskedMatch,
    },
    Acl4(Rule<u32>),
    Acl6(Rule<u128>),
    Lpm {
        len: u8,
        key: Box<[u128]>,
    },
    Hash {
        index: u32,
    },
    /// A connection: its origin key, and its reply key if it tracks both directions.
    Ct {
        origin: CtKey,
        reply: Option<CtKey>,
    },
}

impl Compiled {
    /// Whether this is an IPv6 connection of a CT pipe (counted apart: DOCA sizes its
    /// CT per family).
    pub(crate) fn is_v6_ct(&self) -> bool {
        matches!(self, Compiled::Ct { origin, .. } if origin.v6)
    }
}

/// A CT pipe's key: zone, protocol and one direction's tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CtKey {
    zone: u32,
    proto: u8,
    v6: bool,
    src: u128,
    dst: u128,
    src_port: u16,
    dst_port: u16,
}

impl CtKey {
    /// The key of one direction of a connection.
    pub(crate) fn of(zone: u32, t: &crate::ct::CtTuple) -> Self {
        match *t {
            crate::ct::CtTuple::V4 {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            } => CtKey {
                zone,
                proto,
                v6: false,
                src: u128::from(u32::from(src)),
                dst: u128::from(u32::from(dst)),
                src_port,
                dst_port,
            },
            crate::ct::CtTuple::V6 {
                src,
                dst,
                src_port,
                dst_port,
                proto,
            } => CtKey {
                zone,
                proto,
                v6: true,
                src: u128::from(src),
                dst: u128::from(dst),
                src_port,
                dst_port,
            },
        }
    }

    /// The key a packet looks up: its zone from scratch word `zone_word`, its 5-tuple;
    /// `None` for a packet without TCP or UDP ports (DOCA's CT handles TCP and UDP).
    #[inline]
    fn of_packet(key: &PacketKey, zone_word: usize) -> Option<Self> {
        let (src_port, dst_port, has_ports) = acl_ports(key.headers());
        if !has_ports {
            return None;
        }
        let zone = key.get(Field::meta(zone_word)) as u32;
        if key.present & Field::Ipv4Src.bit() != 0 {
            Some(CtKey {
                zone,
                proto: key.get(Field::Ipv4Proto) as u8,
                v6: false,
                src: key.get(Field::Ipv4Src),
                dst: key.get(Field::Ipv4Dst),
                src_port,
                dst_port,
            })
        } else if key.present & Field::Ipv6Src.bit() != 0 {
            Some(CtKey {
                zone,
                proto: key.get(Field::Ipv6NextHeader) as u8,
                v6: true,
                src: key.get(Field::Ipv6Src),
                dst: key.get(Field::Ipv6Dst),
                src_port,
                dst_port,
            })
        } else {
            None
        }
    }
}

/// In a CT table's values: the hit is in the reply direction.
pub(crate) const CT_REPLY: u32 = 1 << 31;

/// Control pipe: entries sorted by (priority, insertion sequence); the first match wins.
#[derive(Debug, Default)]
pub(crate) struct ControlTable {
    rules: Vec<(u32, u64, MaskedMatch, u32)>,
    seq: u64,
}

/// LPM pipe: one hash map per prefix length, longest first.
#[derive(Debug)]
pub(crate) struct LpmTable {
    /// The LPM field.
    pub(crate) field: Field,
    /// Exact fields (every other changeable field of the template).
    pub(crate) exact: Vec<(Field, u128)>,
    by_len: Vec<(u8, KeyMap)>,
}

/// ACL pipe: the crate's classifier, one per family. Rule id = entry slot.
#[derive(Debug)]
pub(crate) enum AclTable {
    V4(AclSet<u32>),
    V6(AclSet<u128>),
}

/// A classifier plus its rules, so that a large batch of adds can rebuild it in one pass.
#[derive(Debug)]
pub(crate) struct AclSet<A: Addr> {
    classifier: Classifier<A>,
    rules: FxHashMap<u32, Rule<A>>,
    /// The last attempt at RFC tables that ran and failed ([`Table::acl_optimize`]).
    declined: Option<Declined>,
    /// Attempts at RFC tables made (tests count them).
    #[cfg(test)]
    attempts: u32,
}

/// An attempt at RFC tables that ran and gave up (over budget, over the work bound, too
/// many classes): up to ~0.4 s for a fw1_10k-like set, under the flow's lock. The same
/// set is not tried again at that budget until it has changed enough to answer
/// differently ([`Declined::retry`]).
#[derive(Debug, Clone, Copy)]
struct Declined {
    budget: usize,
    /// Rules in the set then.
    rules: usize,
    /// Rules added and removed since.
    changes: usize,
}

impl Declined {
    /// Whether a set of `rules` rules is worth another attempt within `budget`: a larger
    /// budget, a set down to 3/4 of the size that failed, or as many changes since as
    /// it had rules (it may be another set by now).
    fn retry(&self, budget: usize, rules: usize) -> bool {
        budget > self.budget || rules * 4 <= self.rules * 3 || self.changes >= self.rules
    }
}

/// From this many ACL adds in one `entries_process` on, the sw backend rebuilds the pipe's
/// classifier in one pass instead of inserting rule by rule (DOCA, too, builds an ACL batch
/// at once). Measured with the classifier at 3b4a136: 1000 rules insert in 3.5 ms and build
/// in 40 ms; 2000 insert in 300 ms and build in 70 ms; 10000 insert in 3.3 s and build in
/// 9 ms.
pub(crate) const ACL_BATCH_BUILD_MIN: usize = 1536;

/// From this many ACL adds and removes on one pipe in one `entries_process` on, the sw
/// backend builds the pipe's RFC tables afterwards ([`SwBackend::set_acl_optimize`]):
/// a batch such as a policy install or reload, not a single rule change (the tables
/// take milliseconds to build; a few changes are answered beside them until the next
/// batch, more drop them: [`Classifier::optimize`](crate::classifier::Classifier::optimize)).
///
/// [`SwBackend::set_acl_optimize`]: super::SwBackend::set_acl_optimize
pub const ACL_OPTIMIZE_MIN_OPS: usize = 64;

/// The default byte budget of an ACL pipe's RFC tables (see
/// [`SwBackend::set_acl_optimize`](super::SwBackend::set_acl_optimize)): enough for the
/// ClassBench 1k sets (1.0-2.3 MiB) and acl1_10k (11.5 MiB; its trees take 4.6 MB,
/// `rte_acl` 43 MiB).
pub const ACL_OPTIMIZE_BYTES: usize = 16 << 20;

impl<A: Addr> AclSet<A> {
    fn new() -> Self {
        Self {
            classifier: Classifier::new(),
            rules: FxHashMap::default(),
            declined: None,
            #[cfg(test)]
            attempts: 0,
        }
    }

    fn changed(&mut self, n: usize) {
        if let Some(d) = &mut self.declined {
            d.changes = d.changes.saturating_add(n);
        }
    }

    fn insert(&mut self, r: Rule<A>) -> Result<(), Duplicate> {
        self.classifier.insert(r).map_err(|_| Duplicate)?;
        self.rules.insert(r.id, r);
        self.changed(1);
        Ok(())
    }

    fn remove(&mut self, id: u32) {
        self.classifier.remove(id);
        if self.rules.remove(&id).is_some() {
            self.changed(1);
        }
    }

    /// [`Classifier::try_optimize`] within `budget`, unless an attempt on much the same
    /// set already failed at that budget ([`Declined`]); whether lookups use tables.
    fn optimize(&mut self, budget: usize) -> bool {
        if self.classifier.is_optimized_unchanged() {
            return true;
        }
        let rules = self.rules.len();
        if self.declined.is_some_and(|d| !d.retry(budget, rules)) {
            return false;
        }
        #[cfg(test)]
        {
            self.attempts += 1;
        }
        match self.classifier.try_optimize(budget) {
            Ok(()) => {
                self.declined = None;
                true
            }
            // The checks that cost nothing need no memory.
            Err(
                NotOptimized::NotIpv4
                | NotOptimized::TooFewRules { .. }
                | NotOptimized::TooManyRules { .. },
            ) => false,
            Err(_) => {
                self.declined = Some(Declined {
                    budget,
                    rules,
                    changes: 0,
                });
                false
            }
        }
    }

    /// Adds `new` with one classifier build; falls back to inserts if the build refuses.
    /// Returns which rules went in.
    fn bulk_insert(&mut self, new: &[Rule<A>]) -> Vec<bool> {
        let mut all: Vec<Rule<A>> = self.rules.values().copied().collect();
        all.extend_from_slice(new);
        match Classifier::build(&all) {
            Ok(c) => {
                self.classifier = c;
                self.rules.extend(new.iter().map(|r| (r.id, *r)));
                self.changed(new.len());
                vec![true; new.len()]
            }
            Err(_) => new.iter().map(|r| self.insert(*r).is_ok()).collect(),
        }
    }

    #[inline]
    fn classify(&self, key: &Key<A>) -> Option<u32> {
        self.classifier.classify(key)
    }

    /// The batch lookup of [`Table::acl_lookup_batch`] for this family: the keys that
    /// pass the template's constants and are of this family (`key_of`) go to the
    /// classifier together; `pos[j]` is the index among `keys` of `res[j]`'s key. The
    /// scratch vectors are sized once (no capacity check per key).
    #[inline]
    fn lookup_batch<'k>(
        &self,
        template: &Template,
        keys: impl ExactSizeIterator<Item = PacketKey<'k>>,
        key_of: impl Fn(&PacketKey) -> Option<Key<A>>,
        ks: &mut Vec<Key<A>>,
        pos: &mut Vec<u32>,
        res: &mut Vec<Option<u32>>,
    ) {
        let constants = template.has_constants();
        ks.clear();
        ks.reserve(keys.len());
        pos.clear();
        pos.reserve(keys.len());
        for (i, key) in keys.enumerate() {
            if constants && !template.constants_match(&key) {
                continue;
            }
            if let Some(k) = key_of(&key) {
                ks.push(k);
                pos.push(i as u32);
            }
        }
        res.clear();
        res.resize(pos.len(), None);
        self.classifier.classify_batch(ks, res);
    }
}

/// A pipe's entries.
#[derive(Debug)]
pub(crate) enum Table {
    Basic(FxHashMap<Box<[u128]>, u32>),
    /// A basic pipe with exactly one changeable field: the key is that field's masked value
    /// (no slice hashing or comparison on the hot path).
    Basic1 {
        field: Field,
        mask: u128,
        map: FxHashMap<u128, u32>,
    },
    Control(ControlTable),
    Acl(AclTable),
    Lpm(LpmTable),
    Hash {
        fields: Vec<(Field, u128)>,
        slots: Vec<Option<u32>>,
    },
    /// CT pipe: each direction's key -> the entry's slot, [`CT_REPLY`] set for the reply.
    Ct {
        zone_word: usize,
        map: FxHashMap<CtKey, u32>,
    },
}

/// Why a table refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duplicate;

impl Table {
    pub(crate) fn new(
        ty: PipeType,
        template: &Template,
        acl: Family,
        nr_entries: u32,
        lpm: Option<Field>,
        hash_fields: Vec<(Field, u128)>,
        ct_zone_word: usize,
    ) -> Self {
        match ty {
            PipeType::Ct => Table::Ct {
                zone_word: ct_zone_word,
                map: FxHashMap::default(),
            },
            PipeType::Basic => match template.changeable.as_slice() {
                &[(field, mask)] => Table::Basic1 {
                    field,
                    mask,
                    map: FxHashMap::default(),
                },
                _ => Table::Basic(FxHashMap::default()),
            },
            PipeType::Control => Table::Control(ControlTable::default()),
            PipeType::Acl => Table::Acl(match acl {
                Family::Ipv4 => AclTable::V4(AclSet::new()),
                Family::Ipv6 => AclTable::V6(AclSet::new()),
            }),
            PipeType::Lpm => {
                let field = lpm.unwrap_or(Field::Ipv4Dst);
                Table::Lpm(LpmTable {
                    field,
                    exact: template
                        .changeable
                        .iter()
                        .copied()
                        .filter(|(f, _)| *f != field)
                        .collect(),
                    by_len: Vec::new(),
                })
            }
            PipeType::Hash => Table::Hash {
                fields: hash_fields,
                slots: vec![None; nr_entries as usize],
            },
        }
    }

    /// Puts an entry into the table.
    pub(crate) fn insert(&mut self, c: &Compiled, slot: u32) -> Result<(), Duplicate> {
        match (self, c) {
            (Table::Ct { map, .. }, Compiled::Ct { origin, reply }) => {
                if map.contains_key(origin) || reply.is_some_and(|r| map.contains_key(&r)) {
                    return Err(Duplicate);
                }
                // Both directions the same tuple: one key, the origin's.
                if let Some(r) = reply.filter(|r| r != origin) {
                    map.insert(r, slot | CT_REPLY);
                }
                map.insert(*origin, slot);
            }
            (Table::Basic(m), Compiled::Basic { key }) => {
                if m.contains_key(key) {
                    return Err(Duplicate);
                }
                m.insert(key.clone(), slot);
            }
            (Table::Basic1 { map, .. }, Compiled::Basic { key }) => match map.entry(key[0]) {
                std::collections::hash_map::Entry::Occupied(_) => return Err(Duplicate),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(slot);
                }
            },
            (Table::Control(t), Compiled::Control { priority, matcher }) => {
                t.seq += 1;
                let pos = t
                    .rules
                    .partition_point(|r| (r.0, r.1) <= (*priority, t.seq));
                t.rules
                    .insert(pos, (*priority, t.seq, matcher.clone(), slot));
            }
            (Table::Acl(AclTable::V4(c)), Compiled::Acl4(r)) => {
                c.insert(Rule { id: slot, ..*r })?
            }
            (Table::Acl(AclTable::V6(c)), Compiled::Acl6(r)) => {
                c.insert(Rule { id: slot, ..*r })?
            }
            (Table::Lpm(t), Compiled::Lpm { len, key }) => {
                let pos = match t.by_len.binary_search_by(|(l, _)| len.cmp(l)) {
                    Ok(p) => p,
                    Err(p) => {
                        t.by_len.insert(p, (*len, FxHashMap::default()));
                        p
                    }
                };
                let m = &mut t.by_len[pos].1;
                if m.contains_key(key) {
                    return Err(Duplicate);
                }
                m.insert(key.clone(), slot);
            }
            (Table::Hash { slots, .. }, Compiled::Hash { index }) => {
                let s = slots.get_mut(*index as usize).ok_or(Duplicate)?;
                if s.is_some() {
                    return Err(Duplicate);
                }
                *s = Some(slot);
            }
            _ => unreachable!("entries are compiled for their pipe's type"),
        }
        Ok(())
    }

    /// Builds an IPv4 ACL table's RFC tables within `budget` bytes
    /// ([`Classifier::optimize`]); false for other tables and sets it declines. A set
    /// whose attempt ran and failed is not tried again at that budget until it changed
    /// enough ([`Declined`]).
    pub(crate) fn acl_optimize(&mut self, budget: usize) -> bool {
        match self {
            Table::Acl(AclTable::V4(set)) => set.optimize(budget),
            _ => false,
        }
    }

    /// Whether this is an ACL table answering from RFC tables.
    pub(crate) fn acl_is_optimized(&self) -> bool {
        matches!(self, Table::Acl(AclTable::V4(set)) if set.classifier.is_optimized())
    }

    /// Puts a batch of ACL entries into an ACL table with one classifier build. Returns, per
    /// item, whether it went in; `None` if this is not an ACL table of the items' family.
    pub(crate) fn acl_bulk_insert(&mut self, items: &[(Compiled, u32)]) -> Option<Vec<bool>> {
        match self {
            Table::Acl(AclTable::V4(set)) => {
                let rules: Vec<_> = items
                    .iter()
                    .filter_map(|(c, slot)| match c {
                        Compiled::Acl4(r) => Some(Rule { id: *slot, ..*r }),
                        _ => None,
                    })
                    .collect();
                (rules.len() == items.len()).then(|| set.bulk_insert(&rules))
            }
            Table::Acl(AclTable::V6(set)) => {
                let rules: Vec<_> = items
                    .iter()
                    .filter_map(|(c, slot)| match c {
                        Compiled::Acl6(r) => Some(Rule { id: *slot, ..*r }),
                        _ => None,
                    })
                    .collect();
                (rules.len() == items.len()).then(|| set.bulk_insert(&rules))
            }
            _ => None,
        }
    }

    /// Takes an entry out of the table.
    pub(crate) fn remove(&mut self, c: &Compiled, slot: u32) {
        match (self, c) {
            (Table::Ct { map, .. }, Compiled::Ct { origin, reply }) => {
                for k in core::iter::once(origin).chain(reply.as_ref()) {
                    if map.get(k).is_some_and(|&v| v & !CT_REPLY == slot) {
                        map.remove(k);
                    }
                }
            }
            (Table::Basic(m), Compiled::Basic { key }) => {
                m.remove(key);
            }
            (Table::Basic1 { map, .. }, Compiled::Basic { key }) => {
                map.remove(&key[0]);
            }
            (Table::Control(t), Compiled::Control { .. }) => t.rules.retain(|r| r.3 != slot),
            (Table::Acl(AclTable::V4(c)), _) => {
                c.remove(slot);
            }
            (Table::Acl(AclTable::V6(c)), _) => {
                c.remove(slot);
            }
            (Table::Lpm(t), Compiled::Lpm { len, key }) => {
                if let Ok(p) = t.by_len.binary_search_by(|(l, _)| len.cmp(l)) {
                    t.by_len[p].1.remove(key);
                    if t.by_len[p].1.is_empty() {
                        t.by_len.remove(p);
                    }
                }
            }
            (Table::Hash { slots, .. }, Compiled::Hash { index }) => {
                if let Some(s) = slots.get_mut(*index as usize) {
                    *s = None;
                }
            }
            _ => {}
        }
    }

    /// The fields (bits of [`Field::bit`]) that lookups in this table may read: what
    /// decides whether the sw backend must parse packets at all.
    pub(crate) fn fields_used(&self, template: &Template) -> u64 {
        match self {
            Table::Basic(_) | Table::Basic1 { .. } => template.required,
            Table::Control(t) => t
                .rules
                .iter()
                .fold(template.required, |a, r| a | r.2.required),
            // These read the 5-tuple (or their hashed fields) whatever the template says.
            Table::Acl(_) | Table::Lpm(_) | Table::Hash { .. } | Table::Ct { .. } => u64::MAX,
        }
    }

    /// The bucket a hash pipe picks for these field values; `None` for other pipe types.
    pub(crate) fn calc_hash(&self, values: &crate::matching::Match) -> Option<u32> {
        let Table::Hash { fields, slots } = self else {
            return None;
        };
        let h =
            crate::backend::sw::hash::hash_words(fields.iter().map(|&(f, m)| values.get(f) & m));
        Some((h % slots.len().max(1) as u64) as u32)
    }

    /// The entry slot a packet hits, if any. `buf` is scratch space for keys.
    #[inline]
    pub(crate) fn lookup(
        &self,
        template: &Template,
        key: &PacketKey,
        buf: &mut [u128; Field::COUNT],
    ) -> Option<u32> {
        match self {
            Table::Basic(m) => {
                if !template.constants_match(key) {
                    return None;
                }
                let n = template.key_of(key, buf);
                m.get(&buf[..n]).copied()
            }
            Table::Basic1 { field, mask, map } => {
                if !template.constants_match(key) {
                    return None;
                }
                map.get(&(key.get(*field) & *mask)).copied()
            }
            Table::Control(t) => {
                if !template.constants_match(key) {
                    return None;
                }
                t.rules.iter().find(|r| r.2.matches(key)).map(|r| r.3)
            }
            Table::Acl(a) => {
                if !template.constants_match(key) {
                    return None;
                }
                acl_lookup(a, key)
            }
            Table::Lpm(t) => {
                if !template.constants_match(key) {
                    return None;
                }
                let n = t.exact.len();
                for (i, &(f, m)) in t.exact.iter().enumerate() {
                    buf[i] = key.get(f) & m;
                }
                let addr = key.get(t.field);
                let full = t.field.full();
                for (len, m) in &t.by_len {
                    buf[n] = addr & crate::matching::prefix_mask(t.field, *len) & full;
                    if let Some(&s) = m.get(&buf[..=n]) {
                        return Some(s);
                    }
                }
                None
            }
            Table::Hash { fields, slots } => {
                if !template.constants_match(key) || slots.is_empty() {
                    return None;
                }
                let h = key.hash_fields(fields);
                slots[(h % slots.len() as u64) as usize]
            }
            // The slot, with CT_REPLY set for a reply-direction hit.
            Table::Ct { zone_word, map } => map.get(&CtKey::of_packet(key, *zone_word)?).copied(),
        }
    }
}

/// The transport ports of a packet as an ACL key wants them: `(src, dst, has_ports)`
/// (TCP's or UDP's, as [`Field::TcpSrcPort`] / [`Field::UdpSrcPort`] read them).
#[inline]
fn acl_ports(h: &Headers) -> (u16, u16, bool) {
    match h.l4 {
        L4::Tcp {
            src_port, dst_port, ..
        }
        | L4::Udp { src_port, dst_port } => (src_port, dst_port, true),
        _ => (0, 0, false),
    }
}

/// The IPv4 classifier key of a packet; `None` if it is not IPv4. Read from the headers
/// directly: the fields [`Field::Ipv4Src`], [`Field::Ipv4Dst`], [`Field::Ipv4Proto`]
/// and the ports give (one `PacketKey::get` per field cost ~100 instructions a packet).
#[inline]
fn acl_key_v4(key: &PacketKey) -> Option<Key<u32>> {
    acl_key_v4_of(key.headers())
}

/// [`acl_key_v4`] of parsed headers (the batched path's direct lookups).
#[inline(always)]
pub(crate) fn acl_key_v4_of(h: &Headers) -> Option<Key<u32>> {
    let L3::Ipv4(ip) = &h.l3 else {
        return None;
    };
    let (src_port, dst_port, has_ports) = acl_ports(h);
    Some(Key {
        src: u32::from(ip.src),
        dst: u32::from(ip.dst),
        src_port,
        dst_port,
        proto: ip.protocol,
        has_ports,
    })
}

/// The IPv6 classifier key of a packet; `None` if it is not IPv6.
#[inline]
fn acl_key_v6(key: &PacketKey) -> Option<Key<u128>> {
    let L3::Ipv6(ip) = &key.headers().l3 else {
        return None;
    };
    let (src_port, dst_port, has_ports) = acl_ports(key.headers());
    Some(Key {
        src: u128::from(ip.src),
        dst: u128::from(ip.dst),
        src_port,
        dst_port,
        proto: ip.next_header,
        has_ports,
    })
}

fn acl_lookup(a: &AclTable, key: &PacketKey) -> Option<u32> {
    match a {
        AclTable::V4(c) => c.classify(&acl_key_v4(key)?),
        AclTable::V6(c) => c.classify(&acl_key_v6(key)?),
    }
}

/// Scratch space of [`Table::acl_lookup_batch`], kept between batches.
#[derive(Debug, Default)]
pub(crate) struct AclBatch {
    keys4: Vec<Key<u32>>,
    keys6: Vec<Key<u128>>,
    pos: Vec<u32>,
    res: Vec<Option<u32>>,
    /// The answers, one per key given, in order.
    pub(crate) out: Vec<Option<u32>>,
}

impl Table {
    /// The classifier of an IPv4 ACL table whose template has no constants to check
    /// first: the batched path's direct lookups ([`acl_key_v4_of`] of each packet, the
    /// same answers as [`Table::acl_lookup_batch`]). `None` for any other table.
    #[inline]
    pub(crate) fn acl_v4_direct(&self, template: &Template) -> Option<&Classifier<u32>> {
        match self {
            Table::Acl(AclTable::V4(set)) if !template.has_constants() => Some(&set.classifier),
            _ => None,
        }
    }

    /// [`Table::lookup`] of an ACL table for many packets at once (the classifier's
    /// batch lookup); the answers go to `b.out`, one per key, in order. Other tables
    /// answer every key `None` (callers only batch ACL pipes).
    pub(crate) fn acl_lookup_batch<'k>(
        &self,
        template: &Template,
        keys: impl ExactSizeIterator<Item = PacketKey<'k>>,
        b: &mut AclBatch,
    ) {
        let n = keys.len();
        b.out.clear();
        b.out.resize(n, None);
        let Table::Acl(a) = self else {
            return;
        };
        match a {
            AclTable::V4(set) => set.lookup_batch(
                template,
                keys,
                acl_key_v4,
                &mut b.keys4,
                &mut b.pos,
                &mut b.res,
            ),
            AclTable::V6(set) => set.lookup_batch(
                template,
                keys,
                acl_key_v6,
                &mut b.keys6,
                &mut b.pos,
                &mut b.res,
            ),
        }
        // `pos` holds indexes of `keys`, all below `n`: `get_mut` never misses (it ran
        // 1.4 instructions per frame fewer than indexing, `bench/instructions.sh`).
        for (&i, &r) in b.pos.iter().zip(&b.res) {
            if let Some(o) = b.out.get_mut(i as usize) {
                *o = r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{PortRange, Prefix};

    fn rule(i: u32) -> Rule<u32> {
        Rule {
            id: i,
            priority: i,
            src: Prefix::new(0x0a00_0000 | (i << 8), 24).unwrap(),
            dst: Prefix::new(0xc000_0000 | (i << 4), 28).unwrap(),
            src_port: PortRange::ANY,
            dst_port: PortRange::new(i as u16, i as u16 + 10).unwrap(),
            proto: 6,
            proto_mask: 0xff,
        }
    }

    #[test]
    fn a_failed_attempt_is_not_repeated_until_the_set_or_budget_changes() {
        let mut set = AclSet::<u32>::new();
        for i in 0..400 {
            set.insert(rule(i)).unwrap();
        }
        // One byte fits no tables: the attempt runs and fails.
        assert!(!set.optimize(1));
        assert_eq!(set.attempts, 1);
        // Much the same set, the same budget: not tried again.
        for i in 400..450 {
            set.insert(rule(i)).unwrap();
        }
        assert!(!set.optimize(1));
        assert_eq!(set.attempts, 1);
        // A larger budget is tried, and fits.
        assert!(set.optimize(16 << 20));
        assert_eq!(set.attempts, 2);
        assert!(set.declined.is_none());
        // Down to 3/4 of the size that failed is tried again.
        let mut small = AclSet::<u32>::new();
        for i in 0..400 {
            small.insert(rule(i)).unwrap();
        }
        assert!(!small.optimize(1));
        for i in 0..100 {
            small.remove(i);
        }
        assert!(!small.optimize(1));
        assert_eq!(small.attempts, 2);
        // As many changes as the set had rules: tried again.
        for i in 100..400 {
            small.remove(i);
            small.insert(rule(i + 1000)).unwrap();
        }
        assert!(!small.optimize(1));
        assert_eq!(small.attempts, 3);
    }
}
