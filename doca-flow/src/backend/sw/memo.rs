//! Remembered ACL answers ([`AclMemo`]): a caller that knows which packets belong to one
//! flow direction (a connection tracker does) keeps the answer of that direction's ACL
//! lookup and hands it back with the next packet, and the batched walk resumes with it
//! instead of classifying the packet again.
//!
//! A memo is exact, not a guess, because the backend uses it only when the answer
//! cannot have changed:
//!
//! * the ACL pipe's template reads nothing but [flow fields](FLOW_FIELDS) (addresses,
//!   protocol, ports, L3/L4 type): fields every packet of one direction of a TCP or UDP
//!   flow has alike; a pipe that reads anything else (TCP flags, TTL, meta, port id, VLAN)
//!   is never memoised;
//! * the walk has rewritten no header before it reached the pipe;
//! * the walk has reached the very pipe the memo was recorded at (the pipes before it ran
//!   as usual, so a policy that sends the same flow to another ACL pipe, for instance by
//!   its connection state, gets a fresh lookup there);
//! * no ACL pipe's entry set has changed since the memo was recorded: every ACL entry
//!   insert or removal and every ACL pipe destroy takes a new *version* from one
//!   process-wide counter, and a memo holds the version it was recorded under (a
//!   backend built later, say by a policy reload, never reuses a version).
//!
//! Only the lookup is skipped: the resumed walk runs the entry's counter, actions and
//! forwarding as always (a meter makes the backend walk packet by packet, without
//! memos). What the backend cannot check is the caller's half: a memo must come from a
//! packet of the same flow direction (equal values in every flow field).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::backend::PipeId;
use crate::matching::Field;

/// The fields a memoised ACL pipe may read: those alike in every packet of one direction
/// of a TCP or UDP flow (the IPv4/IPv6 addresses and protocol, the TCP/UDP/transport
/// ports, the parser's L3 and L4 types).
pub const FLOW_FIELDS: &[Field] = &[
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::Ipv4Proto,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::Ipv6NextHeader,
    Field::TcpSrcPort,
    Field::TcpDstPort,
    Field::UdpSrcPort,
    Field::UdpDstPort,
    Field::TransportSrcPort,
    Field::TransportDstPort,
    Field::L3Type,
    Field::L4Type,
];

/// [`FLOW_FIELDS`] as bits of [`Field::bit`].
pub(super) const FLOW_FIELD_BITS: u64 = {
    let mut bits = 0;
    let mut i = 0;
    while i < FLOW_FIELDS.len() {
        bits |= FLOW_FIELDS[i].bit();
        i += 1;
    }
    bits
};

/// Versions of ACL contents, shared by every backend of the process (see the module
/// docs). Starts at 1: version 0 is [`AclMemo::NONE`]'s.
static VERSIONS: AtomicU64 = AtomicU64::new(1);

/// A version no memo has been recorded under.
pub(super) fn next_version() -> u64 {
    VERSIONS.fetch_add(1, Ordering::Relaxed) + 1
}

/// An answer's top bit: the lookup missed (the rest is the pipe); otherwise the answer
/// is the hit entry's slot.
const MISS: u32 = 1 << 31;

/// The remembered answer of one flow direction's ACL lookup: see
/// [`SwBackend::process_batch_each_memo`](super::SwBackend::process_batch_each_memo).
///
/// A version and an answer (16 bytes), meant to be kept in the caller's per-flow record (a
/// connection tracker keeps one per direction); [`AclMemo::NONE`] is "nothing known".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AclMemo {
    /// The ACL contents' version it was recorded under (0: none).
    pub version: u64,
    /// The answer: the hit entry's slot, or the missed pipe with the top bit set.
    pub answer: u32,
}

impl AclMemo {
    /// No answer known: the walk looks the packet up (and records a memo if it can).
    pub const NONE: AclMemo = AclMemo {
        version: 0,
        answer: 0,
    };

    /// Whether this is [`AclMemo::NONE`] (or anything recorded under no version).
    pub fn is_none(self) -> bool {
        self.version == 0
    }

    /// The memo of answer `hit` (the hit slot, `None` for a miss) at `pipe`, under
    /// `version`; `NONE` for an answer that does not fit the encoding (a slot or pipe
    /// index of 2^31 or more).
    pub(super) fn record(version: u64, pipe: PipeId, hit: Option<u32>) -> AclMemo {
        let answer = match hit {
            Some(slot) => slot,
            None => pipe.0 | MISS,
        };
        if hit.map_or(pipe.0, |s| s) & MISS != 0 {
            return AclMemo::NONE;
        }
        AclMemo { version, answer }
    }

    /// The answer this memo gives at `pipe` (`Some(None)`: a miss), if it may have been
    /// recorded there: a miss says its pipe; a hit names a slot, whose entry the caller
    /// must still check is installed in `pipe` before using it (the batched walk does
    /// when it resumes, once the batch's slots were fetched together).
    #[inline]
    pub(super) fn answer_at(self, pipe: PipeId) -> Option<Option<u32>> {
        if self.answer & MISS != 0 {
            (self.answer & !MISS == pipe.0).then_some(None)
        } else {
            Some(Some(self.answer))
        }
    }
}

/// How often memos were used (see [`SwBackend::memo_stats`](super::SwBackend::memo_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoStats {
    /// ACL lookups answered by a memo.
    pub hits: u64,
    /// Memos recorded (lookups made at a memoisable pipe for a caller that keeps memos).
    pub recorded: u64,
}
