//! Connection tracking: which connection a packet belongs to, and in what state.
//!
//! A [`Tracker`] gives every IP packet one [`CtState`] before the rules see it:
//!
//! * `new`: the packet can open a connection (a TCP SYN, the first UDP datagram of a
//!   flow, an ICMP echo request, the first packet of another protocol), or belongs to a
//!   connection that has seen no reply yet (a retransmitted SYN, a second datagram);
//! * `established`: it belongs to a tracked connection and is a reply, or the
//!   connection has seen a reply before;
//! * `related`: an ICMP or ICMPv6 error about a packet of a tracked connection;
//! * `invalid`: anything else: a TCP segment of no tracked connection that is not a SYN
//!   (an unsolicited ACK, SYN-ACK, FIN, RST), a segment the TCP state machine or the
//!   window checks refuse, an echo reply nobody asked for, an ICMP error about nothing
//!   tracked, a non-first fragment, a malformed header.
//!
//! A `new` packet opens its connection only when the policy accepts it:
//! [`Tracker::track`] returns the would-be connection in [`Tracked`], and
//! [`Tracker::commit`] stores it (or refuses it when the table is full). Packets of
//! known connections update the connection as they are tracked, before the verdict,
//! as Linux's conntrack does.
//!
//! Time is a number of nanoseconds on any monotonic clock the caller chooses (the
//! dataplane uses the system's, tests a virtual one); a connection is gone once its
//! timeout has passed since its last valid packet, whether or not
//! [`Tracker::expire`] has swept it out yet.
//!
//! The semantics, with every deviation from Linux, are written down in
//! `docs/conntrack.md`; [`reference::Reference`] is the slow, plain model the fast
//! tracker is tested against.
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::{Headers, PacketBuilder, tcp_flags};
//! use dpu_fw::conntrack::{CtConfig, CtPacket, CtState, Tracker};
//!
//! let ct = Tracker::new(CtConfig::default());
//! let pkt = |f: Vec<u8>| CtPacket::parse(&f, &Headers::parse(&f)).unwrap();
//! let (client, server) = ([10, 0, 0, 1].into(), [192, 0, 2, 1].into());
//! let syn = pkt(PacketBuilder::tcp4(client, server, 40000, 443).flags(tcp_flags::SYN).seq(100).build());
//! let t = ct.track(0, &syn, 0);
//! assert_eq!(t.state, CtState::New);
//! ct.commit(&t, 0).unwrap(); // the policy accepted the SYN
//! let synack = pkt(PacketBuilder::tcp4(server, client, 443, 40000)
//!     .flags(tcp_flags::SYN | tcp_flags::ACK).seq(900).ack_number(101).build());
//! assert_eq!(ct.track(0, &synack, 1_000).state, CtState::Established);
//! // An ACK from a server nobody talked to is invalid.
//! let stray = pkt(PacketBuilder::tcp4(server, client, 443, 40001).flags(tcp_flags::ACK).build());
//! assert_eq!(ct.track(0, &stray, 2_000).state, CtState::Invalid);
//! ```

pub mod packet;
pub mod reference;
mod table;
mod tcp;

use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;
use core::time::Duration;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

pub use packet::{CtPacket, Info, TcpInfo, Tuple};
pub use tcp::{Dir, TcpConn, TcpState};

use table::{
    Conn, K4, K6, Key, MEMO_A, MEMO_B, OFFLOAD_CLAIMED, OFFLOADED, ORIG_IS_A, SEEN_REPLY, Slots,
};

use crate::model::protocol;
use doca_flow::AclMemo;
use doca_flow::packet::{Headers, L3, L4};

/// A packet's connection-tracking state, as rules match it (`state = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtState {
    /// Opens a connection, or belongs to one that has seen no reply yet.
    New,
    /// Belongs to a connection that has seen traffic both ways (or is its first reply).
    Established,
    /// An ICMP/ICMPv6 error about a packet of a tracked connection.
    Related,
    /// Belongs to no connection and cannot open one, or fails the TCP checks.
    Invalid,
}

impl CtState {
    /// Every state, in order.
    pub const ALL: [CtState; 4] = [
        CtState::New,
        CtState::Established,
        CtState::Related,
        CtState::Invalid,
    ];

    /// The name the config uses.
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
        }
    }

    /// The state's bit in a [`StateSet`] (and in the packet meta word the compiled
    /// pipeline matches: see `docs/conntrack.md`).
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for CtState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CtState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CtState::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a connection state (new, established, related, invalid)")
            })
    }
}

/// A set of [`CtState`]s (a rule's `state = [...]`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct StateSet(u8);

impl StateSet {
    /// No state.
    pub const EMPTY: StateSet = StateSet(0);
    /// Every state.
    pub const ALL: StateSet = StateSet(0x0f);

    /// The set with `s` added.
    #[must_use]
    pub const fn with(self, s: CtState) -> StateSet {
        StateSet(self.0 | s.bit())
    }

    /// True if `s` is in the set.
    pub const fn contains(self, s: CtState) -> bool {
        self.0 & s.bit() != 0
    }

    /// True if every state of `other` is in the set.
    pub const fn contains_all(self, other: StateSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The states' bits (`CtState::bit`).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The states, in order.
    pub fn iter(self) -> impl Iterator<Item = CtState> {
        CtState::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<CtState> for StateSet {
    fn from_iter<I: IntoIterator<Item = CtState>>(iter: I) -> Self {
        iter.into_iter().fold(StateSet::EMPTY, StateSet::with)
    }
}

impl fmt::Debug for StateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for StateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(CtState::name).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// How long an idle connection is kept, per protocol and state. The defaults are
/// Linux's (`net.netfilter.nf_conntrack_*_timeout*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// TCP after the originator's SYN (Linux 120 s).
    pub tcp_syn_sent: Duration,
    /// TCP after the SYN-ACK (Linux 60 s).
    pub tcp_syn_recv: Duration,
    /// TCP once open (Linux 5 days).
    pub tcp_established: Duration,
    /// TCP after the first FIN (Linux 120 s).
    pub tcp_fin_wait: Duration,
    /// TCP after the first FIN was acknowledged (Linux 60 s).
    pub tcp_close_wait: Duration,
    /// TCP after both FINs (Linux 30 s).
    pub tcp_last_ack: Duration,
    /// TCP after the last FIN was acknowledged (Linux 120 s).
    pub tcp_time_wait: Duration,
    /// TCP after a RST (Linux 10 s).
    pub tcp_close: Duration,
    /// UDP before any reply (Linux 30 s).
    pub udp: Duration,
    /// UDP once a reply was seen (Linux 120 s).
    pub udp_stream: Duration,
    /// ICMP/ICMPv6 echo (Linux 30 s).
    pub icmp: Duration,
    /// Any other protocol (Linux 600 s).
    pub generic: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let s = Duration::from_secs;
        Timeouts {
            tcp_syn_sent: s(120),
            tcp_syn_recv: s(60),
            tcp_established: s(5 * 24 * 3600),
            tcp_fin_wait: s(120),
            tcp_close_wait: s(60),
            tcp_last_ack: s(30),
            tcp_time_wait: s(120),
            tcp_close: s(10),
            udp: s(30),
            udp_stream: s(120),
            icmp: s(30),
            generic: s(600),
        }
    }
}

impl Timeouts {
    /// The config names of the timeouts, with accessors (for the config parser and
    /// the docs).
    pub const NAMES: [&'static str; 12] = [
        "tcp_syn_sent",
        "tcp_syn_recv",
        "tcp_established",
        "tcp_fin_wait",
        "tcp_close_wait",
        "tcp_last_ack",
        "tcp_time_wait",
        "tcp_close",
        "udp",
        "udp_stream",
        "icmp",
        "generic",
    ];

    /// The timeout called `name` (one of [`Timeouts::NAMES`]).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Duration> {
        Some(match name {
            "tcp_syn_sent" => &mut self.tcp_syn_sent,
            "tcp_syn_recv" => &mut self.tcp_syn_recv,
            "tcp_established" => &mut self.tcp_established,
            "tcp_fin_wait" => &mut self.tcp_fin_wait,
            "tcp_close_wait" => &mut self.tcp_close_wait,
            "tcp_last_ack" => &mut self.tcp_last_ack,
            "tcp_time_wait" => &mut self.tcp_time_wait,
            "tcp_close" => &mut self.tcp_close,
            "udp" => &mut self.udp,
            "udp_stream" => &mut self.udp_stream,
            "icmp" => &mut self.icmp,
            "generic" => &mut self.generic,
            _ => return None,
        })
    }

    /// The timeout of a TCP connection in `state`.
    pub fn tcp(&self, state: TcpState) -> Duration {
        match state {
            TcpState::SynSent => self.tcp_syn_sent,
            TcpState::SynRecv => self.tcp_syn_recv,
            TcpState::Established => self.tcp_established,
            TcpState::FinWait => self.tcp_fin_wait,
            TcpState::CloseWait => self.tcp_close_wait,
            TcpState::LastAck => self.tcp_last_ack,
            TcpState::TimeWait => self.tcp_time_wait,
            TcpState::Close => self.tcp_close,
        }
    }

    /// The timeout of a connection of protocol `proto` (TCP in `tcp` state), which has
    /// or has not seen a reply.
    pub fn of(&self, proto: u8, tcp: TcpState, replied: bool) -> Duration {
        match proto {
            protocol::TCP => self.tcp(tcp),
            protocol::UDP if replied => self.udp_stream,
            protocol::UDP => self.udp,
            protocol::ICMP | protocol::ICMPV6 => self.icmp,
            _ => self.generic,
        }
    }
}

/// What happens to a `new` packet that the policy accepts when the table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TableFull {
    /// Drop it (and count it): established connections keep their room.
    #[default]
    DropNew,
    /// Pass it without tracking it: its replies are not recognised.
    Untracked,
}

/// The tracker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtConfig {
    /// The most connections held at once (IPv4 and IPv6 together).
    pub max_connections: u32,
    /// What a full table does to new connections.
    pub table_full: TableFull,
    /// The idle timeouts.
    pub timeouts: Timeouts,
    /// Skip the TCP window checks (Linux's `nf_conntrack_tcp_be_liberal`): only the
    /// flags and the state machine are checked.
    pub tcp_liberal: bool,
}

/// The default `max_connections` (Linux's default `nf_conntrack_max` on a 16 GiB host).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 262_144;

impl Default for CtConfig {
    fn default() -> Self {
        CtConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            table_full: TableFull::DropNew,
            timeouts: Timeouts::default(),
            tcp_liberal: false,
        }
    }
}

/// A packet's tracking result: its state and, for a `new` packet that opens a
/// connection, the connection to [`Tracker::commit`] if the policy accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// The packet's state.
    pub state: CtState,
    pending: Option<Pending>,
}

impl Tracked {
    /// True if committing would open a connection.
    pub fn opens(&self) -> bool {
        self.pending.is_some()
    }

    fn state(state: CtState) -> Tracked {
        Tracked {
            state,
            pending: None,
        }
    }
}

/// A packet's state as [`Tracker::observe`] found it: [`Tracked`] without the connection
/// to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The packet's state.
    pub state: CtState,
    /// Committing ([`Tracker::commit_prepared`]) would open a connection.
    pub opens: bool,
    /// The ACL version the connection's memos were recorded under (0: none; see
    /// [`Observed::may_store`]), and the packet direction's answer if `has_memo`: kept
    /// as plain fields so the record is 16 bytes and comes back from
    /// [`Tracker::observe`] in two registers (as a 24-byte record it went through
    /// memory and stalled the burst loop on store forwarding: perf).
    memo_version: u64,
    memo_answer: u32,
    has_memo: bool,
}

impl Observed {
    /// The ACL answer the connection keeps for the packet's direction
    /// ([`AclMemo::NONE`] if none, or if the packet belongs to no connection, is an
    /// ICMP error or failed the TCP checks): see [`Tracker::store_memo`].
    pub fn memo(&self) -> AclMemo {
        match self.has_memo {
            true => AclMemo {
                version: self.memo_version,
                answer: self.memo_answer,
            },
            false => AclMemo::NONE,
        }
    }

    /// Whether [`Tracker::store_memo`] would keep `memo`, a memo the packet's walk
    /// recorded: a connection keeps the memos of the newest ACL version it has seen.
    /// Workers with backends of their own record under different versions; when the
    /// two directions of a connection go to two workers, only the newer backend's
    /// memos are kept (the other worker's packets are looked up, as without memos),
    /// where storing both would make each drop the other's on every packet.
    pub fn may_store(&self, memo: AclMemo) -> bool {
        !memo.is_none() && memo != self.memo() && memo.version >= self.memo_version
    }

    fn state(state: CtState) -> Observed {
        Observed {
            state,
            opens: false,
            memo_version: 0,
            memo_answer: 0,
            has_memo: false,
        }
    }
}

/// Whether a packet of no live connection opens one (else it is `invalid`).
fn can_open(kind: &Kind) -> bool {
    match kind {
        Kind::Tcp(t) => TcpConn::open(t).is_some(),
        Kind::Udp | Kind::EchoRequest | Kind::Other => true,
        Kind::EchoReply | Kind::Error { .. } | Kind::Untrackable => false,
    }
}

/// A packet ready to be tracked, its connection's slot on its way into cache: see
/// [`Tracker::prepare`]. Only what tracking reads, kept small: a burst of these is
/// written and read once per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The table key, its hash, and whether the packet's source is the key's first
    /// endpoint (`None`: the packet cannot belong to a connection).
    key: Option<(AnyKey, u64, bool)>,
    kind: Kind,
    /// IP protocol.
    proto: u8,
    /// Frame length (bytes).
    len: u32,
}

/// [`Info`] without the quoted tuple of an ICMP error (the key holds its connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp(TcpInfo),
    Udp,
    EchoRequest,
    EchoReply,
    /// An ICMP error; `back`: it goes to the sender of the packet it quotes.
    Error {
        back: bool,
    },
    Other,
    Untrackable,
}

impl Default for Prepared {
    fn default() -> Self {
        Prepared {
            key: None,
            kind: Kind::Untrackable,
            proto: 0,
            len: 0,
        }
    }
}

impl Prepared {
    /// The hash of the connection the packet belongs to (for an ICMP error: of the
    /// connection it quotes); `None` when it can belong to none. Two packets of one
    /// connection have the same value; packets of different connections rarely do.
    pub fn conn_hash(&self) -> Option<u64> {
        self.key.map(|(_, h, _)| h)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnyKey {
    V4(K4),
    V6(K6),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    key: AnyKey,
    hash: u64,
    conn: Conn,
    /// The timeout it starts with (ns).
    timeout: u64,
}

/// Why [`Tracker::commit`] did not store a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the connection table is full ({max} connections)")]
pub struct Full {
    /// The configured `max_connections`.
    pub max: u32,
}

/// Counters of a tracker since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtStats {
    /// Connections held now (expired ones not yet swept included).
    pub connections: u64,
    /// Connections opened.
    pub created: u64,
    /// Connections removed because their timeout passed.
    pub expired: u64,
    /// New connections refused because the table was full.
    pub table_full: u64,
    /// Packets tracked as `invalid`.
    pub invalid: u64,
    /// Packets tracked as `related`.
    pub related: u64,
}

/// What `commit` did in the table.
enum Put {
    New,
    Replaced,
    Exists,
    NoRoom,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    expired: AtomicU64,
    table_full: AtomicU64,
    invalid: AtomicU64,
    related: AtomicU64,
}

/// A shard's lock. Every tracked packet takes one, so its cost is per packet: `std`'s
/// `Mutex` unlocks with an atomic swap, a locked instruction about as dear as the lock
/// itself on x86 (perf put the two at half of [`Tracker::observe`]); this spin lock
/// unlocks with a plain release store. Holders never block or sleep (one packet's
/// update, one commit, one shard's sweep), and a waiter yields the CPU between tries,
/// so a holder preempted on the waiter's core still gets to finish.
type ShardLock = spin::mutex::SpinMutex<Shard, spin::relax::Yield>;

/// A [`ShardLock`] alone in its cache lines (two: the adjacent-line prefetcher), so
/// workers locking neighbouring shards do not contend for one line.
#[derive(Debug)]
#[repr(align(128))]
struct Padded(ShardLock);

impl core::ops::Deref for Padded {
    type Target = ShardLock;
    fn deref(&self) -> &ShardLock {
        &self.0
    }
}

#[derive(Debug)]
struct Shard {
    v4: Slots<K4>,
    v6: Slots<K6>,
}

/// One connection as [`Tracker::connections`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The zone.
    pub zone: u16,
    /// The tuple of the packet that opened it.
    pub origin: Tuple,
    /// The TCP state (for TCP connections).
    pub tcp: Option<TcpState>,
    /// A reply was seen.
    pub replied: bool,
    /// Time left before it expires (zero if it already has).
    pub expires_in: Duration,
    /// Packets (original, reply).
    pub packets: [u64; 2],
    /// Bytes (original, reply).
    pub bytes: [u64; 2],
}

/// [`Timeouts`] in nanoseconds, as the packet path reads them.
#[derive(Debug, Clone, Copy)]
struct TimeoutsNs {
    tcp: [u64; 8],
    udp: u64,
    udp_stream: u64,
    icmp: u64,
    generic: u64,
}

impl TimeoutsNs {
    fn new(t: &Timeouts) -> Self {
        TimeoutsNs {
            tcp: TcpState::ALL.map(|s| ns(t.tcp(s))),
            udp: ns(t.udp),
            udp_stream: ns(t.udp_stream),
            icmp: ns(t.icmp),
            generic: ns(t.generic),
        }
    }

    /// As [`Timeouts::of`].
    #[inline]
    fn of(&self, proto: u8, tcp: TcpState, replied: bool) -> u64 {
        match proto {
            protocol::TCP => self.tcp[tcp as usize],
            protocol::UDP if replied => self.udp_stream,
            protocol::UDP => self.udp,
            protocol::ICMP | protocol::ICMPV6 => self.icmp,
            _ => self.generic,
        }
    }
}

/// The least time between two sweeps of the whole table made because it was full: a
/// flood of new connections against a full table must not sweep it per packet.
pub const FULL_SWEEP_EVERY_NS: u64 = 100_000_000;

/// Where a shard's slot arrays are, readable without the shard's lock: only for
/// prefetching ([`Tracker::prepare`]), which a stale value cannot harm.
#[derive(Debug, Default)]
struct Hint {
    v4: AtomicPtr<u8>,
    v4_cap: AtomicUsize,
    v6: AtomicPtr<u8>,
    v6_cap: AtomicUsize,
}

impl Hint {
    /// Publishes where `s`'s arrays are now (after they may have moved: a grow, a flush).
    fn publish(&self, s: &Shard) {
        let (p, n) = s.v4.location();
        self.v4.store(p.cast_mut(), Ordering::Relaxed);
        self.v4_cap.store(n, Ordering::Relaxed);
        let (p, n) = s.v6.location();
        self.v6.store(p.cast_mut(), Ordering::Relaxed);
        self.v6_cap.store(n, Ordering::Relaxed);
    }
}

/// The fast connection tracker: a sharded hash table shared by every worker (each
/// shard behind its own lock), so both directions of a connection see one state
/// whichever worker receives them.
#[derive(Debug)]
pub struct Tracker {
    cfg: CtConfig,
    shards: Box<[Padded]>,
    /// Per shard, where its slots are (for prefetching).
    hints: Box<[Hint]>,
    shard_mask: u64,
    seed: [u64; 6],
    timeout_ns: TimeoutsNs,
    live: AtomicUsize,
    /// The time of the last sweep made because the table was full (`u64::MAX`: none yet).
    full_sweep_at: AtomicU64,
    /// The least time between two such sweeps (ns).
    full_sweep_every: u64,
    counters: Counters,
}

fn v6_words(a: core::net::Ipv6Addr) -> [u64; 2] {
    let x = u128::from(a);
    [(x >> 64) as u64, x as u64]
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Tracker {
    /// A tracker with room for `cfg.max_connections`.
    pub fn new(cfg: CtConfig) -> Tracker {
        let max = cfg.max_connections as usize;
        // About 16k connections per shard, at most 64 shards.
        let shards = (max / 16_384).clamp(1, 64).next_power_of_two().min(64);
        let per_shard = max.div_ceil(shards);
        // Hashing spreads connections unevenly over shards: a shard's share of `max`
        // connections is binomial, with a standard deviation just under
        // sqrt(per_shard). Five of them more room (4% at 16k per shard, 1.3% at 156k)
        // leaves a shard full before the table with odds below one in a million.
        let per_shard = if shards > 1 {
            per_shard + 5 * per_shard.isqrt()
        } else {
            per_shard
        };
        // Load at most 0.8, and one slot always empty.
        let final_cap = (per_shard * 5).div_ceil(4) + 1;
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let rs = std::collections::hash_map::RandomState::new();
            let mut s = [0u64; 6];
            for (i, w) in s.iter_mut().enumerate() {
                let mut h = rs.build_hasher();
                h.write_usize(i);
                *w = h.finish() | 1;
            }
            s
        };
        Tracker {
            cfg,
            shards: (0..shards)
                .map(|_| {
                    Padded(ShardLock::new(Shard {
                        v4: Slots::new(final_cap),
                        v6: Slots::new(final_cap),
                    }))
                })
                .collect(),
            hints: (0..shards).map(|_| Hint::default()).collect(),
            shard_mask: shards as u64 - 1,
            seed,
            timeout_ns: TimeoutsNs::new(&cfg.timeouts),
            live: AtomicUsize::new(0),
            full_sweep_at: AtomicU64::new(u64::MAX),
            full_sweep_every: FULL_SWEEP_EVERY_NS,
            counters: Counters::default(),
        }
    }

    /// The same tracker, sweeping a full table for expired connections at most every
    /// `ns` nanoseconds (default [`FULL_SWEEP_EVERY_NS`]): until the next sweep a
    /// connection that expired may still hold its room. 0 sweeps whenever the clock
    /// moved, which makes a full table exact (the property tests use it).
    #[must_use]
    pub fn full_sweep_every(mut self, ns: u64) -> Self {
        self.full_sweep_every = ns;
        self
    }

    /// The settings.
    pub fn config(&self) -> &CtConfig {
        &self.cfg
    }

    fn shard(&self, h: u64) -> spin::mutex::SpinMutexGuard<'_, Shard, spin::relax::Yield> {
        self.shards[(h & self.shard_mask) as usize].lock()
    }

    /// The table key of a tuple in `zone`, its hash, and whether the tuple's source is
    /// the key's first endpoint.
    fn key(&self, zone: u16, t: &Tuple) -> (AnyKey, u64, bool) {
        /// The two endpoints in canonical order, and whether the source came first.
        fn order<A: Ord + Copy>(s: A, sp: u16, d: A, dp: u16) -> (bool, A, u16, A, u16) {
            if (s, sp) <= (d, dp) {
                (true, s, sp, d, dp)
            } else {
                (false, d, dp, s, sp)
            }
        }
        match (t.src, t.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let (from_a, a, pa, b, pb) =
                    order(u32::from(s), t.src_port, u32::from(d), t.dst_port);
                let k = K4 {
                    a,
                    b,
                    pa,
                    pb,
                    zone,
                    proto: t.proto,
                    used: 1,
                };
                (AnyKey::V4(k), k.hash(&self.seed), from_a)
            }
            (s, d) => {
                let w = |a: IpAddr| match a {
                    IpAddr::V6(a) => v6_words(a),
                    IpAddr::V4(a) => v6_words(a.to_ipv6_mapped()),
                };
                let (from_a, a, pa, b, pb) = order(w(s), t.src_port, w(d), t.dst_port);
                let k = K6 {
                    a,
                    b,
                    pa,
                    pb,
                    zone,
                    proto: t.proto,
                    used: 1,
                };
                (AnyKey::V6(k), k.hash(&self.seed), from_a)
            }
        }
    }

    /// Runs `f` on the live connection of `key` (removing it first if it expired), with
    /// the shard locked. `f` returns what to do with it.
    fn with_conn<R>(
        &self,
        key: &AnyKey,
        h: u64,
        now: u64,
        f: impl FnOnce(Option<&mut Conn>) -> (R, bool),
    ) -> R {
        let mut shard = self.shard(h);
        let seed = &self.seed;
        // The slot of the live connection; an expired one is removed first. `f` is
        // called in one place (so it inlines here: a per-packet call before).
        macro_rules! live {
            ($slots:expr, $k:expr) => {{
                let slots = $slots;
                match slots.find($k, h) {
                    Some(i) if slots.get_mut(i).conn.expires <= now => {
                        slots.remove_at(i, seed);
                        self.live.fetch_sub(1, Ordering::Relaxed);
                        self.counters.expired.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    found => found,
                }
            }};
        }
        let found = match key {
            AnyKey::V4(k) => live!(&mut shard.v4, k),
            AnyKey::V6(k) => live!(&mut shard.v6, k),
        };
        let conn = found.map(|i| match key {
            AnyKey::V4(_) => &mut shard.v4.get_mut(i).conn,
            AnyKey::V6(_) => &mut shard.v6.get_mut(i).conn,
        });
        let (r, remove) = f(conn);
        if let (true, Some(i)) = (remove, found) {
            match key {
                AnyKey::V4(_) => shard.v4.remove_at(i, seed),
                AnyKey::V6(_) => shard.v6.remove_at(i, seed),
            }
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        r
    }

    /// Tracks one packet that arrived at time `now` (ns) in `zone`: its state, and the
    /// connection it would open. Updates the packet's connection (TCP state, windows,
    /// counters, timeout) when it has one and the packet is valid for it.
    pub fn track(&self, zone: u16, pkt: &CtPacket, now: u64) -> Tracked {
        self.track_prepared(&self.prepared(zone, pkt), now)
    }

    /// The first half of [`Tracker::track`], for a burst of packets: computes the
    /// packet's table key and asks the CPU to fetch its connection's slot into cache.
    /// Prepare a whole burst, then [`Tracker::track_prepared`] each packet in order: with
    /// many live connections each lookup is a miss to memory, and the burst's misses then
    /// overlap instead of coming one after another. Tracking a prepared packet gives
    /// exactly what [`Tracker::track`] gives (the key does not depend on the table).
    pub fn prepare(&self, zone: u16, pkt: &CtPacket) -> Prepared {
        let p = self.prepared(zone, pkt);
        self.prefetch(&p);
        p
    }

    /// Asks the CPU to fetch `p`'s connection slot into cache (a hint: nothing
    /// changes if its slot moved meanwhile).
    #[inline]
    fn prefetch(&self, p: &Prepared) {
        if let Some((key, h, _)) = &p.key {
            let hint = &self.hints[(h & self.shard_mask) as usize];
            match key {
                AnyKey::V4(_) => table::prefetch::<K4>(
                    hint.v4.load(Ordering::Relaxed),
                    hint.v4_cap.load(Ordering::Relaxed),
                    *h,
                ),
                AnyKey::V6(_) => table::prefetch::<K6>(
                    hint.v6.load(Ordering::Relaxed),
                    hint.v6_cap.load(Ordering::Relaxed),
                    *h,
                ),
            }
        }
    }

    fn prepared(&self, zone: u16, pkt: &CtPacket) -> Prepared {
        let (key, kind) = match pkt.info {
            Info::Untrackable => (None, Kind::Untrackable),
            // An error is looked up by the connection of the packet it quotes.
            Info::Error(inner) => (
                Some(self.key(zone, &inner)),
                Kind::Error {
                    back: pkt.tuple.dst == inner.src,
                },
            ),
            Info::Tcp(t) => (Some(self.key(zone, &pkt.tuple)), Kind::Tcp(t)),
            Info::Udp => (Some(self.key(zone, &pkt.tuple)), Kind::Udp),
            Info::EchoRequest => (Some(self.key(zone, &pkt.tuple)), Kind::EchoRequest),
            Info::EchoReply => (Some(self.key(zone, &pkt.tuple)), Kind::EchoReply),
            Info::Other => (Some(self.key(zone, &pkt.tuple)), Kind::Other),
        };
        Prepared {
            key,
            kind,
            proto: pkt.tuple.proto,
            len: pkt.len,
        }
    }

    /// [`Tracker::prepare`] of the frame `frame` whose headers are `h` (from
    /// [`Headers::parse`] of the same bytes), written into `p`: exactly what
    /// `prepare(zone, &CtPacket::parse(frame, h)?)` gives, without building the
    /// [`CtPacket`] for the common case (IPv4 TCP and UDP). False (and `p` untouched)
    /// when the frame is not IP, as [`CtPacket::parse`] says `None`.
    #[inline]
    pub fn prepare_headers(&self, zone: u16, frame: &[u8], h: &Headers, p: &mut Prepared) -> bool {
        // By reference: `L3` holds an IPv6 header, too big to copy per packet.
        let fast = match (&h.l3, &h.l4) {
            (
                L3::Ipv4(ip),
                &L4::Tcp {
                    src_port, dst_port, ..
                }
                | &L4::Udp { src_port, dst_port },
            ) if h.malformed.is_none() && ip.fragment.offset == 0 => Some((ip, src_port, dst_port)),
            _ => None,
        };
        let Some((ip, sp, dp)) = fast else {
            let Some(pkt) = CtPacket::parse(frame, h) else {
                return false;
            };
            *p = self.prepared(zone, &pkt);
            self.prefetch(p);
            return true;
        };
        p.len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        p.proto = ip.protocol;
        p.kind = if matches!(h.l4, L4::Tcp { .. }) {
            packet::tcp_info(frame, h).map_or(Kind::Untrackable, Kind::Tcp)
        } else {
            Kind::Udp
        };
        if p.kind == Kind::Untrackable {
            p.key = None;
            return true;
        }
        let (s, d) = (u32::from(ip.src), u32::from(ip.dst));
        let from_a = (s, sp) <= (d, dp);
        let (a, pa, b, pb) = if from_a {
            (s, sp, d, dp)
        } else {
            (d, dp, s, sp)
        };
        let k = K4 {
            a,
            b,
            pa,
            pb,
            zone,
            proto: ip.protocol,
            used: 1,
        };
        p.key = Some((AnyKey::V4(k), k.hash(&self.seed), from_a));
        self.prefetch(p);
        true
    }

    /// The second half of [`Tracker::track`]: tracks a packet [`Tracker::prepare`]d
    /// (by this tracker) at time `now`.
    pub fn track_prepared(&self, p: &Prepared, now: u64) -> Tracked {
        let seen = self.observe(p, now);
        match seen.opens {
            true => Tracked {
                state: seen.state,
                pending: self.pending_of(p),
            },
            false => Tracked::state(seen.state),
        }
    }

    /// [`Tracker::track_prepared`] for a burst: the same tracking, but the result leaves
    /// out the connection the packet would open, which [`Tracker::commit_prepared`]
    /// computes again from `p` (per packet of a burst, two bytes instead of the
    /// connection record).
    #[inline]
    pub fn observe(&self, p: &Prepared, now: u64) -> Observed {
        // By reference: the key (an IPv6 one is 40 bytes) and kind are not copied
        // per packet (that copy was 38 of observe's 169 instructions per packet).
        let s = match (&p.kind, &p.key) {
            (Kind::Untrackable, _) | (_, None) => Observed::state(CtState::Invalid),
            (&Kind::Error { back }, Some((key, h, _))) => {
                // Related when the quoted packet belongs to a tracked connection and the
                // error goes back to that packet's sender.
                let known = self.with_conn(key, *h, now, |c| (c.is_some(), false));
                if known && back {
                    self.counters.related.fetch_add(1, Ordering::Relaxed);
                    Observed::state(CtState::Related)
                } else {
                    Observed::state(CtState::Invalid)
                }
            }
            (_, Some((key, h, from_a))) => self.track_flow(key, *h, *from_a, p, now),
        };
        if s.state == CtState::Invalid {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
        }
        s
    }

    #[inline]
    fn track_flow(&self, key: &AnyKey, h: u64, from_a: bool, pkt: &Prepared, now: u64) -> Observed {
        /// What the lookup found (small, so nothing big is moved around per packet).
        enum Found {
            Absent,
            Reopened,
            /// The state, and the connection's memo version, the direction's memo
            /// answer and whether it has one.
            State(CtState, (u64, u32, bool)),
        }
        let cfg = &self.cfg;
        let found = self.with_conn(key, h, now, |conn| {
            let Some(c) = conn else {
                return (Found::Absent, false);
            };
            let dir = if from_a == (c.flags & ORIG_IS_A != 0) {
                Dir::Original
            } else {
                Dir::Reply
            };
            let valid = match pkt.kind {
                Kind::Tcp(t) => match c.tcp.on_segment(
                    dir,
                    &t,
                    cfg.tcp_liberal || c.flags & OFFLOADED != 0,
                    tcp::transition,
                ) {
                    tcp::Step::Invalid => false,
                    tcp::Step::Reopen => return (Found::Reopened, true),
                    tcp::Step::To(_) | tcp::Step::Ignore => true,
                },
                Kind::EchoRequest => dir == Dir::Original,
                Kind::EchoReply => dir == Dir::Reply,
                _ => true,
            };
            if !valid {
                return (Found::State(CtState::Invalid, (0, 0, false)), false);
            }
            let d = dir as usize;
            c.packets[d] = c.packets[d].wrapping_add(1);
            c.bytes[d] = c.bytes[d].wrapping_add(u64::from(pkt.len));
            if dir == Dir::Reply {
                c.flags |= SEEN_REPLY;
            }
            let replied = c.flags & SEEN_REPLY != 0;
            c.expires = now.saturating_add(self.timeout_ns.of(pkt.proto, c.tcp.state, replied));
            let state = if replied {
                CtState::Established
            } else {
                CtState::New
            };
            let side = usize::from(!from_a);
            let memo = (
                c.memo_version,
                c.memo[side],
                c.flags & [MEMO_A, MEMO_B][side] != 0,
            );
            (Found::State(state, memo), false)
        });
        match found {
            Found::State(state, (memo_version, memo_answer, has_memo)) => Observed {
                state,
                opens: false,
                memo_version,
                memo_answer,
                has_memo,
            },
            // Reopened: the old connection was removed; the SYN opens a new one.
            Found::Reopened | Found::Absent => match can_open(&pkt.kind) {
                true => Observed {
                    state: CtState::New,
                    opens: true,
                    memo_version: 0,
                    memo_answer: 0,
                    has_memo: false,
                },
                false => Observed::state(CtState::Invalid),
            },
        }
    }

    /// Keeps `memo`, the ACL answer a packet `p` of a live connection left (see
    /// [`doca_flow::SwBackend::process_batch_each_memo`]), for the packets of its
    /// direction: [`Tracker::observe`] hands it back with them. A connection keeps one
    /// memo per direction, both under one ACL version: a memo of a newer version drops
    /// the other direction's, one of an older version is not kept (see
    /// [`Observed::may_store`]). Nothing happens if the connection is gone, or `memo`
    /// is [`AclMemo::NONE`].
    ///
    /// The memo is the direction's, whichever connection now holds the tuple: every
    /// packet of a direction has the same addresses, protocol and ports, which is all
    /// a memo may depend on (the backend checks the rest).
    pub fn store_memo(&self, p: &Prepared, memo: AclMemo, now: u64) {
        let Some((key, h, from_a)) = p.key else {
            return;
        };
        if memo.is_none() {
            return;
        }
        let side = usize::from(!from_a);
        self.with_conn(&key, h, now, |conn| {
            if let Some(c) = conn {
                if c.memo_version > memo.version {
                    return ((), false);
                }
                if c.memo_version != memo.version {
                    c.memo_version = memo.version;
                    c.flags &= !(MEMO_A | MEMO_B);
                }
                c.memo[side] = memo.answer;
                c.flags |= [MEMO_A, MEMO_B][side];
            }
            ((), false)
        });
    }

    /// The connection a packet of no live connection opens (`None`: it opens none, and
    /// is `invalid`; [`can_open`] says the same).
    fn pending_of(&self, pkt: &Prepared) -> Option<Pending> {
        let (key, hash, from_a) = pkt.key?;
        let mut conn = Conn {
            flags: if from_a { ORIG_IS_A } else { 0 },
            packets: [1, 0],
            bytes: [u64::from(pkt.len), 0],
            ..Conn::default()
        };
        match pkt.kind {
            Kind::Tcp(t) => conn.tcp = TcpConn::open(&t)?,
            Kind::Udp | Kind::EchoRequest | Kind::Other => {}
            Kind::EchoReply | Kind::Error { .. } | Kind::Untrackable => return None,
        }
        let timeout = self.timeout_ns.of(pkt.proto, conn.tcp.state, false);
        Some(Pending {
            key,
            hash,
            conn,
            timeout,
        })
    }

    /// [`Tracker::commit`] for a packet [`Tracker::observe`] said `opens`, from its
    /// [`Prepared`] form.
    ///
    /// # Errors
    /// As [`Tracker::commit`].
    pub fn commit_prepared(&self, p: &Prepared, now: u64) -> Result<(), Full> {
        match self.pending_of(p) {
            Some(pending) => self.commit_pending(&pending, now),
            None => Ok(()),
        }
    }

    /// Stores the connection a `new` packet opens, once the policy accepted the packet.
    /// Does nothing for a packet that opens none (and when another worker stored the
    /// same connection first).
    ///
    /// # Errors
    /// [`Full`] when `max_connections` live connections are held (after sweeping out
    /// the expired ones); what then happens to the packet is
    /// [`CtConfig::table_full`]'s business, and the caller's.
    pub fn commit(&self, t: &Tracked, now: u64) -> Result<(), Full> {
        match &t.pending {
            Some(p) => self.commit_pending(p, now),
            None => Ok(()),
        }
    }

    fn commit_pending(&self, p: &Pending, now: u64) -> Result<(), Full> {
        let max = self.cfg.max_connections as usize;
        let full = || {
            self.counters.table_full.fetch_add(1, Ordering::Relaxed);
            Full {
                max: self.cfg.max_connections,
            }
        };
        // Stored already (by another worker, or an earlier commit of the same packet)?
        if self.with_conn(&p.key, p.hash, now, |c| (c.is_some(), false)) {
            return Ok(());
        }
        if !self.reserve(max) {
            // Expired connections may still hold room: sweep once per instant.
            let last = self.full_sweep_at.load(Ordering::Relaxed);
            let due = last == u64::MAX
                || (now != last && now.saturating_sub(last) >= self.full_sweep_every);
            if due {
                self.full_sweep_at.store(now, Ordering::Relaxed);
                self.expire(now);
            }
            if !self.reserve(max) {
                return Err(full());
            }
        }
        let mut conn = p.conn;
        conn.expires = now.saturating_add(p.timeout);
        let mut shard = self.shard(p.hash);
        let seed = &self.seed;
        macro_rules! put {
            ($slots:expr, $k:expr) => {{
                let slots = $slots;
                match slots.find($k, p.hash) {
                    Some(i) if slots.get_mut(i).conn.expires > now => Put::Exists,
                    Some(i) => {
                        // An expired one in the way: it gives its room to this one.
                        slots.get_mut(i).conn = conn;
                        Put::Replaced
                    }
                    None if slots.insert(*$k, p.hash, conn, seed) => Put::New,
                    None => Put::NoRoom,
                }
            }};
        }
        let r = match &p.key {
            AnyKey::V4(k) => put!(&mut shard.v4, k),
            AnyKey::V6(k) => put!(&mut shard.v6, k),
        };
        if matches!(r, Put::New) {
            // The insert may have grown (moved) the slots.
            self.hints[(p.hash & self.shard_mask) as usize].publish(&shard);
        }
        drop(shard);
        let c = &self.counters;
        match r {
            Put::New => {
                c.created.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Put::Replaced => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                c.created.fetch_add(1, Ordering::Relaxed);
                c.expired.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Put::Exists => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                Ok(())
            }
            Put::NoRoom => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                Err(full())
            }
        }
    }

    /// Takes room for one connection if fewer than `max` are held.
    fn reserve(&self, max: usize) -> bool {
        self.live
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Marks the live connection of `tuple` (either direction) in `zone` as offloaded to
    /// hardware: hardware forwards its packets without software seeing them, so its TCP
    /// windows are no longer checked (flags and states still are, on the packets that
    /// still come to software). Returns whether the connection was found.
    pub fn mark_offloaded(&self, zone: u16, tuple: &Tuple, now: u64) -> bool {
        let (key, h, _) = self.key(zone, tuple);
        self.with_conn(&key, h, now, |c| match c {
            Some(c) => {
                c.flags |= OFFLOADED;
                (true, false)
            }
            None => (false, false),
        })
    }

    /// Claims the offload of the live connection of `tuple` (either direction) in
    /// `zone`: true for the first caller, false once a packet of the connection has
    /// claimed it (its offload asked for or done, or its close begun) or when no live
    /// connection is held. A worker asks the offload agent only with a claim, so a
    /// connection's offload is asked for once, not once per packet until it is in place.
    pub fn claim_offload(&self, zone: u16, tuple: &Tuple, now: u64) -> bool {
        let (key, h, _) = self.key(zone, tuple);
        self.with_conn(&key, h, now, |c| match c {
            Some(c) => {
                let first = c.flags & OFFLOAD_CLAIMED == 0;
                c.flags |= OFFLOAD_CLAIMED;
                (first, false)
            }
            None => (false, false),
        })
    }

    /// The connection of `tuple` in `zone` is no longer offloaded (its offload failed,
    /// or hardware aged it out): software checks its windows again and a later packet
    /// may claim its offload again.
    pub fn release_offload(&self, zone: u16, tuple: &Tuple, now: u64) {
        let (key, h, _) = self.key(zone, tuple);
        self.with_conn(&key, h, now, |c| {
            if let Some(c) = c {
                c.flags &= !(OFFLOAD_CLAIMED | OFFLOADED);
            }
            ((), false)
        });
    }

    /// Restarts the timeout of the offloaded connection of `tuple` in `zone` at `now`:
    /// hardware forwards its packets unseen, so the offload agent keeps it alive while
    /// hardware holds it (Linux's flow table refreshes offloaded conntrack entries the
    /// same way). Returns whether the connection was found.
    pub fn refresh(&self, zone: u16, tuple: &Tuple, now: u64) -> bool {
        let (key, h, _) = self.key(zone, tuple);
        self.with_conn(&key, h, now, |c| match c {
            Some(c) => {
                let replied = c.flags & SEEN_REPLY != 0;
                c.expires =
                    now.saturating_add(self.timeout_ns.of(tuple.proto, c.tcp.state, replied));
                (true, false)
            }
            None => (false, false),
        })
    }

    /// [`Tracker::refresh`] of many connections (`(zone, tuple)`), taking each shard's
    /// lock once rather than once per connection (the offload agent refreshes every
    /// offloaded connection each second, beside the workers' lookups). Returns how many
    /// were found.
    pub fn refresh_all<'a>(
        &self,
        conns: impl IntoIterator<Item = (u16, &'a Tuple)>,
        now: u64,
    ) -> usize {
        let mut keyed: Vec<(usize, AnyKey, u64, u8)> = conns
            .into_iter()
            .map(|(zone, t)| {
                let (key, h, _) = self.key(zone, t);
                ((h & self.shard_mask) as usize, key, h, t.proto)
            })
            .collect();
        keyed.sort_unstable_by_key(|k| k.0);
        let mut found = 0;
        for run in keyed.chunk_by(|a, b| a.0 == b.0) {
            let mut shard = self.shards[run[0].0].lock();
            for (_, key, h, proto) in run {
                let conn = match key {
                    AnyKey::V4(k) => shard.v4.find(k, *h).map(|i| &mut shard.v4.get_mut(i).conn),
                    AnyKey::V6(k) => shard.v6.find(k, *h).map(|i| &mut shard.v6.get_mut(i).conn),
                };
                // An expired connection is left for the next lookup or sweep to remove,
                // as `refresh` would have removed it: not found either way.
                if let Some(c) = conn.filter(|c| c.expires > now) {
                    let replied = c.flags & SEEN_REPLY != 0;
                    c.expires =
                        now.saturating_add(self.timeout_ns.of(*proto, c.tcp.state, replied));
                    found += 1;
                }
            }
        }
        found
    }

    /// The timeout (ns) the live connection of `tuple` in `zone` has in its current
    /// state: the aging an offload gives hardware.
    pub fn timeout_of(&self, zone: u16, tuple: &Tuple, now: u64) -> Option<u64> {
        let (key, h, _) = self.key(zone, tuple);
        self.with_conn(&key, h, now, |c| match c {
            Some(c) => {
                let replied = c.flags & SEEN_REPLY != 0;
                (
                    Some(self.timeout_ns.of(tuple.proto, c.tcp.state, replied)),
                    false,
                )
            }
            None => (None, false),
        })
    }

    /// Ends the connection of `tuple` in `zone` as if its timeout had passed (hardware
    /// aged it: no packet of it was seen anywhere for its timeout). Returns whether it
    /// was held.
    pub fn expire_conn(&self, zone: u16, tuple: &Tuple, now: u64) -> bool {
        let (key, h, _) = self.key(zone, tuple);
        let removed = self.with_conn(&key, h, now, |c| (c.is_some(), c.is_some()));
        if removed {
            self.counters.expired.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    /// Removes every connection whose timeout has passed at `now`; returns how many.
    /// The dataplane calls this off the packet path; lookups ignore expired connections
    /// whether or not they were swept.
    pub fn expire(&self, now: u64) -> usize {
        let mut removed = 0;
        for s in self.shards.iter() {
            let mut s = s.lock();
            removed += s.v4.remove_where(|_, c| c.expires <= now, &self.seed);
            removed += s.v6.remove_where(|_, c| c.expires <= now, &self.seed);
        }
        self.live.fetch_sub(removed, Ordering::Relaxed);
        self.counters
            .expired
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Removes every connection; returns how many there were.
    pub fn flush(&self) -> usize {
        let mut removed = 0;
        for (s, hint) in self.shards.iter().zip(self.hints.iter()) {
            let mut s = s.lock();
            removed += s.v4.clear() + s.v6.clear();
            hint.publish(&s);
        }
        self.live.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// Connections held (expired ones not yet swept out included).
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// True if `n` more connections fit under `max_connections` whatever else happens
    /// meanwhile to the connections held now (removals only make room).
    pub fn has_room_for(&self, n: usize) -> bool {
        self.len().saturating_add(n) < self.cfg.max_connections as usize
    }

    /// True if no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the connection table.
    pub fn table_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock();
                s.v4.bytes() + s.v6.bytes()
            })
            .sum()
    }

    /// The counters.
    pub fn stats(&self) -> CtStats {
        let c = &self.counters;
        CtStats {
            connections: self.len() as u64,
            created: c.created.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            table_full: c.table_full.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            related: c.related.load(Ordering::Relaxed),
        }
    }

    /// The live connections at `now`, in no particular order.
    pub fn connections(&self, now: u64) -> Vec<ConnInfo> {
        let mut out = Vec::new();
        let info = |zone: u16, proto: u8, a: IpAddr, pa: u16, b: IpAddr, pb: u16, c: &Conn| {
            let (src, sp, dst, dp) = if c.flags & ORIG_IS_A != 0 {
                (a, pa, b, pb)
            } else {
                (b, pb, a, pa)
            };
            ConnInfo {
                zone,
                origin: Tuple {
                    src,
                    dst,
                    src_port: sp,
                    dst_port: dp,
                    proto,
                },
                tcp: (proto == protocol::TCP).then_some(c.tcp.state),
                replied: c.flags & SEEN_REPLY != 0,
                expires_in: Duration::from_nanos(c.expires.saturating_sub(now)),
                packets: [u64::from(c.packets[0]), u64::from(c.packets[1])],
                bytes: c.bytes,
            }
        };
        let v6 = |w: [u64; 2]| {
            let a = core::net::Ipv6Addr::from((u128::from(w[0]) << 64) | u128::from(w[1]));
            match a.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(a),
            }
        };
        for s in self.shards.iter() {
            let s = s.lock();
            for slot in s.v4.iter().filter(|s| s.conn.expires > now) {
                let k = &slot.key;
                out.push(info(
                    k.zone,
                    k.proto,
                    IpAddr::V4(k.a.into()),
                    k.pa,
                    IpAddr::V4(k.b.into()),
                    k.pb,
                    &slot.conn,
                ));
            }
            for slot in s.v6.iter().filter(|s| s.conn.expires > now) {
                let k = &slot.key;
                out.push(info(
                    k.zone,
                    k.proto,
                    v6(k.a),
                    k.pa,
                    v6(k.b),
                    k.pb,
                    &slot.conn,
                ));
            }
        }
        out
    }
}
