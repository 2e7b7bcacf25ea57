//! The walk-prefix memo of the batched path.
//!
//! Most packets of a firewall's pipeline take the same first steps: the root pipe
//! matches the ingress port and the IP version (and perhaps the packet meta a
//! connection tracker set), and sends the packet to that port's ACL pipe. Those steps
//! read nothing that differs between two packets of the same port, meta and header
//! shape, so their result (the entries hit, the counters added to, the meta written, the
//! ACL pipe reached or the verdict) is the same for all of them: walking them again per
//! packet was the larger part of the batched path's cost (perf, `dpu-fw run`, one-rule
//! policy).
//!
//! [`PrefixMemo`] keeps, per key (ingress port, packet meta at arrival,
//! [`PacketKey::present_of`](crate::matching::PacketKey) bits), the state of a walk
//! at its first ACL pipe (or its end). It keeps one only when the walk was a function of
//! that key:
//!
//! * every pipe it looked up reads [`KEYED_FIELDS`] only (the meta words, which start
//!   from the key and change only by actions, and the parser's L3/L4 types, which the
//!   present bits fix);
//! * it rewrote no header and hashed none (no RSS forward, no miss to the port's RSS
//!   queues): the verdict is neither [`Verdict::Rss`] nor [`Verdict::Miss`];
//! * it added to at most [`PREFIX_COUNTERS`] counters.
//!
//! Meters never run here (the batched path walks frame by frame when one is installed).
//! Any change a walk could see (a port, a route, a pipe, an entry added, updated or
//! removed, a tag, a miss forward) bumps the backend's plan version, and a memo
//! recorded under another version is dropped before use. Outcomes, frames and counters
//! are those of [`SwBackend::process_packet`](super::SwBackend::process_packet): the
//! proptests of `tests/sw_batch.rs` check it across random pipelines and entry changes.

use super::exec::{CounterRef, Outcome, Walk};
use crate::Verdict;
use crate::matching::{Field, META_FIELDS};

/// The fields a remembered prefix may read: their values are fixed by the key.
pub(crate) const KEYED_FIELDS: u64 = META_FIELDS | Field::L3Type.bit() | Field::L4Type.bit();

/// The most counters a remembered prefix adds to.
pub(crate) const PREFIX_COUNTERS: usize = 4;

/// Memo slots (a power of two): a firewall's key set is ports x IP versions x L4 types
/// x connection states, a few dozen at most. 64: a `u64` holds one bit per slot (the
/// batched path's per-slot counts, `exec::PrefixCounts`).
pub(crate) const SLOTS: usize = 64;

/// Where a remembered prefix ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// At this ACL pipe, before its lookup (the walk resumes there).
    Acl(crate::PipeId),
    /// Decided: the outcome is whole.
    Done,
    /// The key's walks read more than the key: they are not remembered.
    Unkept,
}

/// One remembered prefix.
#[derive(Clone, Copy)]
pub(crate) struct Prefix {
    port: u16,
    pkt_meta: u32,
    present: u64,
    pub(crate) end: End,
    /// The outcome so far (whole when `end` is [`End::Done`]).
    pub(crate) out: Outcome,
    /// The walk at its end.
    pub(crate) walk: Walk,
    pub(crate) counted: [CounterRef; PREFIX_COUNTERS],
    pub(crate) n_counted: u8,
}

/// See the module documentation.
pub(crate) struct PrefixMemo {
    /// The plan version the slots were recorded under.
    version: u64,
    slots: Box<[Option<Prefix>]>,
}

impl Default for PrefixMemo {
    fn default() -> Self {
        PrefixMemo {
            version: 0,
            slots: vec![None; SLOTS].into_boxed_slice(),
        }
    }
}

impl core::fmt::Debug for PrefixMemo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrefixMemo")
            .field("version", &self.version)
            .field("kept", &self.slots.iter().flatten().count())
            .finish()
    }
}

#[inline]
pub(crate) fn slot_of(port: u16, pkt_meta: u32, present: u64) -> usize {
    let h = (present ^ (present >> 29) ^ (u64::from(pkt_meta) << 17) ^ u64::from(port))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - SLOTS.trailing_zeros())) as usize
}

impl PrefixMemo {
    /// Drops every prefix unless they were recorded under `version`.
    #[inline]
    pub(crate) fn check_version(&mut self, version: u64) {
        if self.version != version {
            self.slots.iter_mut().for_each(|s| *s = None);
            self.version = version;
        }
    }

    /// The prefix remembered for this key, if any (call [`Self::check_version`] first).
    #[cfg(test)]
    pub(crate) fn get(&self, port: u16, pkt_meta: u32, present: u64) -> Option<&Prefix> {
        self.find(port, pkt_meta, present).ok().map(|i| self.at(i))
    }

    /// The slot of the prefix remembered for this key (call [`Self::check_version`]
    /// first): `Ok` names that prefix ([`Self::at`]) until the next [`Self::record`] or
    /// [`Self::check_version`]; `Err` is the slot a record of this key would take.
    #[inline]
    pub(crate) fn find(&self, port: u16, pkt_meta: u32, present: u64) -> Result<usize, usize> {
        let i = slot_of(port, pkt_meta, present);
        match &self.slots[i] {
            Some(p) if p.port == port && p.pkt_meta == pkt_meta && p.present == present => Ok(i),
            _ => Err(i),
        }
    }

    /// The prefix in slot `i`, which [`Self::find`] gave.
    ///
    /// # Panics
    /// If the slot is empty (`i` did not come from `find`, or a record or version change
    /// came between).
    #[inline]
    pub(crate) fn at(&self, i: usize) -> &Prefix {
        self.slots[i].as_ref().expect("a slot that find gave")
    }

    /// Remembers a walk of this key that stopped at `end` after reading `reads`,
    /// adding to `counted`, with outcome `out` and state `walk` so far; a walk that is
    /// not a function of the key (see the module documentation) is remembered as
    /// [`End::Unkept`], so the key's next packets walk without recording.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        port: u16,
        pkt_meta: u32,
        present: u64,
        end: Option<crate::PipeId>,
        reads: u64,
        counted: &[CounterRef],
        out: &Outcome,
        walk: &Walk,
    ) {
        let keyed = reads & !KEYED_FIELDS == 0
            && !out.modified
            && counted.len() <= PREFIX_COUNTERS
            && (end.is_some()
                || !matches!(out.verdict, Verdict::Rss { .. } | Verdict::Miss { .. }));
        let end = match end {
            _ if !keyed => End::Unkept,
            Some(pipe) => End::Acl(pipe),
            None => End::Done,
        };
        let mut c = [CounterRef::Miss(0); PREFIX_COUNTERS];
        let n = if keyed { counted.len() } else { 0 };
        c[..n].copy_from_slice(&counted[..n]);
        self.slots[slot_of(port, pkt_meta, present)] = Some(Prefix {
            port,
            pkt_meta,
            present,
            end,
            out: *out,
            walk: *walk,
            counted: c,
            n_counted: n as u8,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_differ_in_any_part_do_not_share_a_prefix() {
        let mut m = PrefixMemo::default();
        m.check_version(1);
        let out = super::super::exec::blank_outcome();
        let walk = super::super::exec::BLANK_WALK;
        m.record(0, 0, 0b101, Some(crate::PipeId(3)), 0, &[], &out, &walk);
        assert_eq!(
            m.get(0, 0, 0b101).map(|p| p.end),
            Some(End::Acl(crate::PipeId(3)))
        );
        assert!(m.get(1, 0, 0b101).is_none());
        assert!(m.get(0, 1, 0b101).is_none());
        assert!(m.get(0, 0, 0b100).is_none());
        // A new plan version drops it.
        m.check_version(2);
        assert!(m.get(0, 0, 0b101).is_none());
    }

    #[test]
    fn walks_that_read_more_than_the_key_are_not_kept() {
        let mut m = PrefixMemo::default();
        m.check_version(1);
        let mut out = super::super::exec::blank_outcome();
        let walk = super::super::exec::BLANK_WALK;
        let pipe = Some(crate::PipeId(1));
        m.record(0, 0, 1, pipe, Field::Ipv4Proto.bit(), &[], &out, &walk);
        assert_eq!(m.get(0, 0, 1).map(|p| p.end), Some(End::Unkept));
        let five = [CounterRef::Miss(0); PREFIX_COUNTERS + 1];
        m.record(0, 0, 2, pipe, 0, &five, &out, &walk);
        assert_eq!(m.get(0, 0, 2).map(|p| p.end), Some(End::Unkept));
        out.verdict = Verdict::Rss { queue: 1 };
        m.record(0, 0, 3, None, 0, &[], &out, &walk);
        assert_eq!(m.get(0, 0, 3).map(|p| p.end), Some(End::Unkept));
        out.verdict = Verdict::Port(crate::PortId(2));
        m.record(0, 0, 4, None, KEYED_FIELDS, &[], &out, &walk);
        assert_eq!(m.get(0, 0, 4).map(|p| p.end), Some(End::Done));
        out.modified = true;
        m.record(0, 0, 5, pipe, 0, &[], &out, &walk);
        assert_eq!(m.get(0, 0, 5).map(|p| p.end), Some(End::Unkept));
    }
}
