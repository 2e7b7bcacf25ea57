//! The reference model of connection tracking: plain and slow, the contract the fast
//! [`Tracker`](super::Tracker) is tested against (`tests/conntrack_reference.rs` runs
//! both on random interleavings of many flows with a virtual clock).
//!
//! Connections are a list searched from the front, each with its two tuples written
//! out; the TCP state machine is a table in the layout of Linux's `tcp_conntracks`.
//! Only the TCP window arithmetic ([`TcpConn`]'s `tcp_in_window` port) is shared with
//! the fast tracker.

use core::time::Duration;

use super::packet::{CtPacket, Info, Tuple};
use super::tcp::{Dir, FlagClass, Step, TcpConn, TcpState};
use super::{CtConfig, CtState};

/// One connection of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefConn {
    /// The zone.
    pub zone: u16,
    /// The tuple of the packet that opened it.
    pub origin: Tuple,
    /// The tuple its replies carry.
    pub reply: Tuple,
    /// TCP tracking, for TCP.
    pub tcp: TcpConn,
    /// A reply was seen.
    pub replied: bool,
    /// When it is forgotten (ns).
    pub expires: u64,
    /// Packets per direction.
    pub packets: [u64; 2],
    /// Bytes per direction.
    pub bytes: [u64; 2],
    /// Offloaded to hardware: no more window checks (see `Tracker::mark_offloaded`).
    pub offloaded: bool,
}

/// A connection a `new` packet would open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefPending(RefConn, Duration);

/// The model.
#[derive(Debug, Clone)]
pub struct Reference {
    cfg: CtConfig,
    conns: Vec<RefConn>,
}

use Step::{Ignore as IG, Invalid as IV, Reopen as RO};
use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, SynRecv as SR,
    SynSent as SS, TimeWait as TW,
};

const fn to(s: TcpState) -> Step {
    Step::To(s)
}

/// `TABLE[dir][flag class][state]`, states in [`TcpState`] order
/// (`SS SR ES FW CW LA TW CL`).
const TABLE: [[[Step; 8]; 6]; 2] = [
    // Original direction.
    [
        /* syn    */ [to(SS), IG, IG, IG, IG, IG, RO, RO],
        /* synack */ [IV, IV, IV, IV, IV, IV, IV, IV],
        /* fin    */ [IV, to(FW), to(FW), to(LA), to(LA), to(LA), to(TW), to(CL)],
        /* ack    */ [IV, to(ES), to(ES), to(CW), to(CW), to(TW), to(TW), to(CL)],
        /* rst    */
        [
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
        ],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV],
    ],
    // Reply direction.
    [
        /* syn    */ [IV, IV, IV, IV, IV, IV, IV, IV],
        /* synack */ [to(SR), IG, IG, IG, IG, IG, IG, IG],
        /* fin    */ [IV, to(FW), to(FW), to(LA), to(LA), to(LA), to(TW), to(CL)],
        /* ack    */ [IV, to(SR), to(ES), to(CW), to(CW), to(TW), to(TW), to(CL)],
        /* rst    */
        [
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
            to(CL),
        ],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV],
    ],
];

fn table_step(state: TcpState, dir: Dir, class: FlagClass) -> Step {
    TABLE[dir as usize][class as usize][state as usize]
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Reference {
    /// An empty model.
    pub fn new(cfg: CtConfig) -> Reference {
        Reference {
            cfg,
            conns: Vec::new(),
        }
    }

    /// The live connections at `now`.
    pub fn connections(&self, now: u64) -> Vec<&RefConn> {
        self.conns.iter().filter(|c| c.expires > now).collect()
    }

    /// The index of the live connection of `zone` with `tuple` as one of its tuples, and
    /// the direction of `tuple` on it.
    fn find(&self, zone: u16, tuple: &Tuple, now: u64) -> Option<(usize, Dir)> {
        self.conns.iter().enumerate().find_map(|(i, c)| {
            if c.zone != zone || c.expires <= now {
                None
            } else if c.origin == *tuple {
                Some((i, Dir::Original))
            } else if c.reply == *tuple {
                Some((i, Dir::Reply))
            } else {
                None
            }
        })
    }

    /// The state of a packet at `now`, and the connection it would open.
    pub fn track(&mut self, zone: u16, pkt: &CtPacket, now: u64) -> (CtState, Option<RefPending>) {
        self.conns.retain(|c| c.expires > now);
        if let Info::Error(inner) = pkt.info {
            let related = self.find(zone, &inner, now).is_some() && pkt.tuple.dst == inner.src;
            return (
                if related {
                    CtState::Related
                } else {
                    CtState::Invalid
                },
                None,
            );
        }
        if pkt.info == Info::Untrackable {
            return (CtState::Invalid, None);
        }
        if let Some((i, dir)) = self.find(zone, &pkt.tuple, now) {
            let liberal = self.cfg.tcp_liberal;
            let c = &mut self.conns[i];
            let valid = match pkt.info {
                Info::Tcp(t) => match c
                    .tcp
                    .on_segment(dir, &t, liberal || c.offloaded, table_step)
                {
                    Step::Invalid => false,
                    Step::Reopen => {
                        self.conns.remove(i);
                        return self.open(zone, pkt);
                    }
                    Step::To(_) | Step::Ignore => true,
                },
                Info::EchoRequest => dir == Dir::Original,
                Info::EchoReply => dir == Dir::Reply,
                _ => true,
            };
            if !valid {
                return (CtState::Invalid, None);
            }
            c.packets[dir as usize] += 1;
            c.bytes[dir as usize] += u64::from(pkt.len);
            if dir == Dir::Reply {
                c.replied = true;
            }
            let timeout = self
                .cfg
                .timeouts
                .of(pkt.tuple.proto, c.tcp.state, c.replied);
            c.expires = now.saturating_add(ns(timeout));
            let state = if c.replied {
                CtState::Established
            } else {
                CtState::New
            };
            return (state, None);
        }
        self.open(zone, pkt)
    }

    fn open(&self, zone: u16, pkt: &CtPacket) -> (CtState, Option<RefPending>) {
        let tcp = match pkt.info {
            Info::Tcp(t) => match TcpConn::open(&t) {
                Some(c) => c,
                None => return (CtState::Invalid, None),
            },
            Info::Udp | Info::EchoRequest | Info::Other => TcpConn::default(),
            Info::EchoReply | Info::Error(_) | Info::Untrackable => {
                return (CtState::Invalid, None);
            }
        };
        let conn = RefConn {
            zone,
            origin: pkt.tuple,
            reply: pkt.tuple.reversed(),
            tcp,
            replied: false,
            expires: 0,
            packets: [1, 0],
            bytes: [u64::from(pkt.len), 0],
            offloaded: false,
        };
        let timeout = self.cfg.timeouts.of(pkt.tuple.proto, tcp.state, false);
        (CtState::New, Some(RefPending(conn, timeout)))
    }

    /// As `Tracker::mark_offloaded`: the live connection of `tuple` in `zone` is no longer
    /// window-checked. Returns whether it was found.
    pub fn mark_offloaded(&mut self, zone: u16, tuple: &Tuple, now: u64) -> bool {
        match self.find(zone, tuple, now) {
            Some((i, _)) => {
                self.conns[i].offloaded = true;
                true
            }
            None => false,
        }
    }

    /// Stores a pending connection at `now`; `false` when `max_connections` live ones
    /// are held.
    pub fn commit(&mut self, p: RefPending, now: u64) -> bool {
        self.conns.retain(|c| c.expires > now);
        if self.find(p.0.zone, &p.0.origin, now).is_some() {
            return true;
        }
        if self.conns.len() >= self.cfg.max_connections as usize {
            return false;
        }
        let RefPending(mut c, timeout) = p;
        c.expires = now.saturating_add(ns(timeout));
        self.conns.push(c);
        true
    }
}
