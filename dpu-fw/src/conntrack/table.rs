//! The fast connection table: open addressing with linear probing, one slot per
//! connection (both directions find it: the key holds the two endpoints in a canonical
//! order), backward-shift deletion (no tombstones), a keyed hash (a SYN flood cannot aim
//! at one probe run), and a hard capacity fixed by `max_connections`.
//!
//! An IPv4 slot is 96 bytes (a 16-byte key and an 80-byte connection record, 16 of them
//! the ACL memos). A shard grows by doubling up to its final capacity, which keeps its
//! load at or below 0.8, so a full IPv4 table costs at most about 96 / 0.8 = 120 bytes
//! per connection (about 125 with the slack sharded tables get for uneven hashing).

use super::tcp::TcpConn;

/// The connection record: everything but the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Conn {
    /// The connection is forgotten at this time (ns on the tracker's clock).
    pub(super) expires: u64,
    /// Bytes per direction (original, reply).
    pub(super) bytes: [u64; 2],
    /// Packets per direction (original, reply); wraps at 2^32.
    pub(super) packets: [u32; 2],
    /// TCP tracking (unused for other protocols).
    pub(super) tcp: TcpConn,
    /// `ORIG_IS_A`, `SEEN_REPLY`, `OFFLOADED`, `OFFLOAD_CLAIMED`, `MEMO_A`, `MEMO_B`.
    pub(super) flags: u8,
    /// The ACL contents' version both directions' memos were recorded under
    /// ([`doca_flow::AclMemo`]).
    pub(super) memo_version: u64,
    /// Per endpoint (the key's first, then its second), the ACL answer of the packets it
    /// sends; valid when its `MEMO_A` / `MEMO_B` flag is set.
    pub(super) memo: [u32; 2],
}

/// The originator is the key's first endpoint.
pub(super) const ORIG_IS_A: u8 = 1;
/// A packet of the reply direction was seen.
pub(super) const SEEN_REPLY: u8 = 2;
/// The connection was offloaded to hardware, which forwards its packets unseen: its TCP
/// windows are no longer checked (Linux's flow offload sets `BE_LIBERAL` the same way).
pub(super) const OFFLOADED: u8 = 4;
/// A packet of the connection already asked for its offload (or its close began): no
/// other packet asks again (`Tracker::claim_offload`).
pub(super) const OFFLOAD_CLAIMED: u8 = 8;
/// `memo[0]` (the packets the key's first endpoint sends) holds an ACL answer.
pub(super) const MEMO_A: u8 = 16;
/// `memo[1]` (the packets the key's second endpoint sends) holds an ACL answer.
pub(super) const MEMO_B: u8 = 32;

/// A table key: the zone, the protocol and the two endpoints in canonical order.
pub(super) trait Key: Copy + Default + Eq {
    /// Whether the slot holding this key is in use.
    fn used(&self) -> bool;
    /// The key's hash under `seed`.
    fn hash(&self, seed: &[u64; 6]) -> u64;
}

/// An IPv4 key: 16 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct K4 {
    pub(super) a: u32,
    pub(super) b: u32,
    pub(super) pa: u16,
    pub(super) pb: u16,
    pub(super) zone: u16,
    pub(super) proto: u8,
    pub(super) used: u8,
}

/// An IPv6 key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct K6 {
    pub(super) a: [u64; 2],
    pub(super) b: [u64; 2],
    pub(super) pa: u16,
    pub(super) pb: u16,
    pub(super) zone: u16,
    pub(super) proto: u8,
    pub(super) used: u8,
}

/// One 64x64 -> 128-bit multiply, folded (the mixing step of wyhash and foldhash).
#[inline]
fn fold(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Key for K4 {
    #[inline]
    fn used(&self) -> bool {
        self.used != 0
    }

    #[inline]
    fn hash(&self, s: &[u64; 6]) -> u64 {
        let w0 = (u64::from(self.a) << 32) | u64::from(self.b);
        let w1 = (u64::from(self.pa) << 48)
            | (u64::from(self.pb) << 32)
            | (u64::from(self.zone) << 16)
            | u64::from(self.proto);
        fold(fold(w0 ^ s[0], w1 ^ s[1]) ^ s[2], s[3])
    }
}

impl Key for K6 {
    #[inline]
    fn used(&self) -> bool {
        self.used != 0
    }

    #[inline]
    fn hash(&self, s: &[u64; 6]) -> u64 {
        let w = (u64::from(self.pa) << 48)
            | (u64::from(self.pb) << 32)
            | (u64::from(self.zone) << 16)
            | u64::from(self.proto);
        let h1 = fold(self.a[0] ^ s[0], self.a[1] ^ s[1]);
        let h2 = fold(self.b[0] ^ s[2], self.b[1] ^ s[3]);
        fold(fold(h1 ^ w ^ s[4], h2 ^ s[5]) ^ s[2], s[1])
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Slot<K> {
    pub(super) key: K,
    pub(super) conn: Conn,
}

/// The first slot a hash probes in a table of `cap` slots (Lemire's multiply-shift
/// range reduction, so capacities need not be powers of two).
#[inline]
fn home(h: u64, cap: usize) -> usize {
    ((u128::from(h) * cap as u128) >> 64) as usize
}

/// Asks the CPU to fetch into cache the home slot of hash `h` in a slot array of `cap`
/// slots of `K` at `base` (as [`Slots::location`] gave it, possibly since replaced: a
/// stale location only fetches a useless line). A lookup of a burst's connections
/// issues these for the whole burst first, so their misses to memory overlap instead of
/// coming one after another.
#[inline(always)]
pub(super) fn prefetch<K>(base: *const u8, cap: usize, h: u64) {
    if cap == 0 {
        return;
    }
    let size = core::mem::size_of::<Slot<K>>();
    let start = base.wrapping_add(home(h, cap) * size);
    // A slot may straddle two cache lines, and at a load of 0.8 a successful lookup
    // probes about three slots (Knuth): the first four lines cover most probe runs.
    for line in 0..4 {
        doca_flow::hint::prefetch_read(start.wrapping_add(line * 64));
    }
}

/// The slots of one key type in one shard.
#[derive(Debug)]
pub(super) struct Slots<K> {
    slots: Vec<Slot<K>>,
    len: usize,
    /// The capacity this table never grows past.
    final_cap: usize,
}

/// The smallest table a shard starts with.
const MIN_CAP: usize = 64;

impl<K: Key> Slots<K> {
    /// An empty table that may grow to `final_cap` slots (at least 2: one stays empty).
    pub(super) fn new(final_cap: usize) -> Self {
        Slots {
            slots: Vec::new(),
            len: 0,
            final_cap: final_cap.max(2),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the slot array.
    pub(super) fn bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<Slot<K>>()
    }

    /// Where the slot array is now and how many slots it has, for [`prefetch`] by
    /// threads that do not hold the shard's lock.
    pub(super) fn location(&self) -> (*const u8, usize) {
        (self.slots.as_ptr().cast(), self.slots.len())
    }

    /// The slot holding `key`, if any.
    #[inline]
    pub(super) fn find(&self, key: &K, h: u64) -> Option<usize> {
        let cap = self.slots.len();
        if cap == 0 {
            return None;
        }
        let mut i = home(h, cap);
        loop {
            let s = &self.slots[i];
            if !s.key.used() {
                return None;
            }
            if s.key == *key {
                return Some(i);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> &mut Slot<K> {
        &mut self.slots[i]
    }

    /// Inserts `key` (which must not be present). `false` when the table is at its final
    /// capacity less one (one slot always stays empty, so probes end).
    pub(super) fn insert(&mut self, key: K, h: u64, conn: Conn, seed: &[u64; 6]) -> bool {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow(seed);
        }
        let cap = self.slots.len();
        if self.len + 1 >= cap {
            return false;
        }
        let mut i = home(h, cap);
        while self.slots[i].key.used() {
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        self.slots[i] = Slot { key, conn };
        self.len += 1;
        true
    }

    fn grow(&mut self, seed: &[u64; 6]) {
        let cap = self.slots.len();
        let next = (cap * 2).max(MIN_CAP).min(self.final_cap);
        if next <= cap {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); next]);
        self.len = 0;
        for s in old.into_iter().filter(|s| s.key.used()) {
            let h = s.key.hash(seed);
            let mut i = home(h, next);
            while self.slots[i].key.used() {
                i += 1;
                if i == next {
                    i = 0;
                }
            }
            self.slots[i] = s;
            self.len += 1;
        }
    }

    /// Empties slot `i` and shifts the rest of its probe run back (Knuth's algorithm R),
    /// so no tombstone is left.
    pub(super) fn remove_at(&mut self, mut i: usize, seed: &[u64; 6]) {
        let cap = self.slots.len();
        self.slots[i] = Slot::default();
        self.len -= 1;
        let mut j = i;
        loop {
            j += 1;
            if j == cap {
                j = 0;
            }
            if !self.slots[j].key.used() {
                return;
            }
            let k = home(self.slots[j].key.hash(seed), cap);
            // Move j back to i unless its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.slots[i] = self.slots[j];
                self.slots[j] = Slot::default();
                i = j;
            }
        }
    }

    /// Removes every slot for which `gone` says so; returns how many.
    pub(super) fn remove_where(
        &mut self,
        mut gone: impl FnMut(&K, &Conn) -> bool,
        seed: &[u64; 6],
    ) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while i < self.slots.len() {
            let s = &self.slots[i];
            if s.key.used() && gone(&s.key, &s.conn) {
                // The shift may move an unvisited slot into `i`: look at `i` again.
                // A slot from before `i` (wrapped around) may move to the end; it was
                // already kept, and is kept again.
                self.remove_at(i, seed);
                removed += 1;
            } else {
                i += 1;
            }
        }
        removed
    }

    /// Every slot in use.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot<K>> {
        self.slots.iter().filter(|s| s.key.used())
    }

    /// Removes everything; returns how many.
    pub(super) fn clear(&mut self) -> usize {
        let n = self.len;
        self.slots = Vec::new();
        self.len = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u32) -> K4 {
        K4 {
            a: i,
            b: i.wrapping_mul(7),
            pa: 1,
            pb: 2,
            zone: 0,
            proto: 6,
            used: 1,
        }
    }

    #[test]
    fn insert_find_remove_against_a_vec() {
        let seed = [1, 2, 3, 4, 5, 6];
        let mut t: Slots<K4> = Slots::new(300);
        let mut model: Vec<u32> = Vec::new();
        let mut x: u64 = 12345;
        for step in 0..20_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = ((x >> 33) % 400) as u32;
            let key = k(i);
            let h = key.hash(&seed);
            match (t.find(&key, h), model.contains(&i)) {
                (Some(slot), true) => {
                    if step % 2 == 0 {
                        t.remove_at(slot, &seed);
                        model.retain(|&m| m != i);
                    }
                }
                (None, false) => {
                    let conn = Conn {
                        expires: u64::from(i),
                        ..Conn::default()
                    };
                    if t.insert(key, h, conn, &seed) {
                        model.push(i);
                    } else {
                        assert_eq!(t.len(), 298, "refused only when full");
                    }
                }
                (found, want) => panic!("key {i}: table says {found:?}, model says {want}"),
            }
            assert_eq!(t.len(), model.len());
        }
        let removed = t.remove_where(|k, _| k.a % 3 == 0, &seed);
        let before = model.len();
        model.retain(|m| m % 3 != 0);
        assert_eq!(removed, before - model.len());
        for i in 0..400 {
            let key = k(i);
            assert_eq!(
                t.find(&key, key.hash(&seed)).is_some(),
                model.contains(&i),
                "key {i}"
            );
        }
    }

    #[test]
    fn slot_sizes() {
        assert_eq!(core::mem::size_of::<Slot<K4>>(), 96);
        assert_eq!(core::mem::size_of::<K4>(), 16);
        assert_eq!(core::mem::size_of::<Conn>(), 80);
    }
}
