//! The TCP state machine and window tracking, in the spirit of Linux's
//! `nf_conntrack_proto_tcp` (see `docs/conntrack.md` for every deviation).
//!
//! A connection keeps, per direction, what that side has sent and what the other side
//! allowed it to send ([`Seen`]); a segment is accepted only when its sequence and
//! acknowledgement numbers lie in those windows (`in_window`, after Guido van Rooij's
//! "Real Stateful TCP Packet Filtering in IP Filter", as Linux does). The state follows
//! the flags: [`transition`] is the fast path's `match`; the reference model
//! (`super::reference`) spells the same rules as a table.

use super::packet::TcpInfo;
use crate::model::tcp_flag::{ACK, FIN, PSH, RST, SYN, URG};

/// The TCP states (Linux's names, without the simultaneous-open state `SYN_SENT2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum TcpState {
    /// The originator's SYN was seen.
    #[default]
    SynSent = 0,
    /// The responder's SYN-ACK was seen.
    SynRecv = 1,
    /// The originator acknowledged the SYN-ACK: the connection is open.
    Established = 2,
    /// One side sent a FIN.
    FinWait = 3,
    /// The first FIN was acknowledged.
    CloseWait = 4,
    /// Both sides sent a FIN.
    LastAck = 5,
    /// The last FIN was acknowledged.
    TimeWait = 6,
    /// A RST was seen.
    Close = 7,
}

impl TcpState {
    /// Every state, in order.
    pub const ALL: [TcpState; 8] = [
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Close,
    ];

    /// Linux's name for it (`SYN_SENT`, `ESTABLISHED`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
        }
    }
}

/// Which way a packet goes on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the side that opened the connection.
    Original = 0,
    /// From the other side.
    Reply = 1,
}

/// A segment's class for the state machine, as Linux's `get_conntrack_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagClass {
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
    None = 5,
}

pub(crate) fn flag_class(flags: u8) -> FlagClass {
    if flags & RST != 0 {
        FlagClass::Rst
    } else if flags & SYN != 0 {
        if flags & ACK != 0 {
            FlagClass::SynAck
        } else {
            FlagClass::Syn
        }
    } else if flags & FIN != 0 {
        FlagClass::Fin
    } else if flags & ACK != 0 {
        FlagClass::Ack
    } else {
        FlagClass::None
    }
}

/// True for the flag combinations a TCP stack sends (Linux's `tcp_valid_flags`; ECE and
/// CWR are ignored). SYN+FIN, SYN+RST, FIN without ACK, no flags at all, ... are not.
pub(crate) fn valid_flags(flags: u8) -> bool {
    const VALID: [u8; 14] = [
        SYN,
        SYN | URG,
        SYN | ACK,
        RST,
        RST | ACK,
        RST | ACK | PSH,
        FIN | ACK,
        FIN | ACK | URG,
        ACK,
        ACK | URG,
        ACK | PSH,
        ACK | PSH | URG,
        FIN | ACK | PSH,
        FIN | ACK | PSH | URG,
    ];
    /// Bit `f` set for each valid combination `f` of the six low flags: one shift per
    /// packet instead of a scan of the list.
    const MASK: u64 = {
        let mut m = 0u64;
        let mut i = 0;
        while i < VALID.len() {
            m |= 1 << VALID[i];
            i += 1;
        }
        m
    };
    MASK >> (flags & 0x3f) & 1 != 0
}

/// The result of the state machine for one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Move to this state (possibly the same one).
    To(TcpState),
    /// A valid segment that changes nothing (a retransmitted SYN-ACK, a SYN on an open
    /// connection): passed, no window update, no state change.
    Ignore,
    /// An originator SYN on a closed or time-wait connection: the old connection is
    /// forgotten and the SYN opens a new one.
    Reopen,
    /// Not valid in this state.
    Invalid,
}

/// The fast path's state machine. The reference model writes the same rules as a table;
/// `tests/conntrack_reference.rs` checks that both agree on random traffic.
pub(crate) fn transition(state: TcpState, dir: Dir, class: FlagClass) -> Step {
    use FlagClass as F;
    use TcpState as S;
    match (class, dir) {
        (F::Rst, _) => Step::To(S::Close),
        (F::None, _) => Step::Invalid,
        (F::Syn, Dir::Original) => match state {
            S::SynSent => Step::To(S::SynSent),
            S::TimeWait | S::Close => Step::Reopen,
            _ => Step::Ignore,
        },
        (F::Syn, Dir::Reply) => Step::Invalid,
        (F::SynAck, Dir::Original) => Step::Invalid,
        (F::SynAck, Dir::Reply) => match state {
            S::SynSent => Step::To(S::SynRecv),
            _ => Step::Ignore,
        },
        (F::Fin, _) => match state {
            S::SynSent => Step::Invalid,
            S::SynRecv | S::Established => Step::To(S::FinWait),
            S::FinWait | S::CloseWait | S::LastAck => Step::To(S::LastAck),
            S::TimeWait | S::Close => Step::To(state),
        },
        (F::Ack, dir) => match state {
            S::SynSent => Step::Invalid,
            S::SynRecv if dir == Dir::Original => Step::To(S::Established),
            S::SynRecv => Step::To(S::SynRecv),
            S::Established => Step::To(S::Established),
            S::FinWait | S::CloseWait => Step::To(S::CloseWait),
            S::LastAck | S::TimeWait => Step::To(S::TimeWait),
            S::Close => Step::To(S::Close),
        },
    }
}

/// Linux's `MAXACKWINCONST`: the least window an acknowledgement may lag behind by.
const MAX_ACK_WIN_CONST: u32 = 66000;

/// `WINDOW_SCALE`: this side's SYN carried a window-scale option.
const SEEN_WSCALE: u8 = 1;

/// What one side of a connection has sent and may send.
///
/// Packed to 2-byte alignment (14 bytes, not 16): the connection record then fits
/// in 64 bytes and an IPv4 table slot in 80 (docs/conntrack.md, memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, packed(2))]
pub struct Seen {
    /// The highest `seq + len` this side sent.
    pub end: u32,
    /// The highest sequence number this side may send (`ack + window` of the other side).
    pub maxend: u32,
    /// The largest window this side advertised (scaled); 0 = this side sent nothing yet.
    pub maxwin: u32,
    /// This side's window-scale shift (0 unless both SYNs carried the option).
    pub scale: u8,
    /// `SEEN_WSCALE`.
    pub flags: u8,
}

/// A TCP connection's tracking state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpConn {
    /// The state.
    pub state: TcpState,
    /// Per direction ([`Dir`] as index).
    pub seen: [Seen; 2],
}

/// `a` is before `b` in sequence space.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// The segment's end in sequence space: SYN and FIN each take one number.
fn seg_end(t: &TcpInfo) -> u32 {
    t.seq
        .wrapping_add(t.payload_len)
        .wrapping_add(u32::from(t.flags & SYN != 0))
        .wrapping_add(u32::from(t.flags & FIN != 0))
}

impl TcpConn {
    /// The connection an originator's SYN opens, or `None` if the segment cannot open
    /// one (anything but a valid SYN without ACK: Linux's `nf_conntrack_tcp_loose = 0`,
    /// so a connection is never picked up in the middle).
    pub fn open(t: &TcpInfo) -> Option<TcpConn> {
        if !valid_flags(t.flags) || flag_class(t.flags) != FlagClass::Syn {
            return None;
        }
        let end = seg_end(t);
        let mut s = Seen {
            end,
            maxend: end,
            maxwin: u32::from(t.window).max(1),
            scale: 0,
            flags: 0,
        };
        if let Some(ws) = t.wscale {
            s.scale = ws;
            s.flags |= SEEN_WSCALE;
        }
        Some(TcpConn {
            state: TcpState::SynSent,
            seen: [s, Seen::default()],
        })
    }

    /// Runs one segment of a tracked connection through the flag checks, the window
    /// checks (unless `liberal`) and the state machine with `step` (the fast path passes
    /// [`transition`], the reference its table). On [`Step::To`] the connection is
    /// updated; on anything else it is left as it was.
    pub(crate) fn on_segment(
        &mut self,
        dir: Dir,
        t: &TcpInfo,
        liberal: bool,
        step: impl Fn(TcpState, Dir, FlagClass) -> Step,
    ) -> Step {
        if !valid_flags(t.flags) {
            return Step::Invalid;
        }
        let s = step(self.state, dir, flag_class(t.flags));
        let Step::To(next) = s else {
            return s;
        };
        let mut work = *self;
        if !work.window(dir, t) {
            if !liberal {
                return Step::Invalid;
            }
            // Liberal: the segment passes without updating the windows (Linux's
            // `tcp_be_liberal`); a side's first segment still initialises that side.
            work.state = next;
            *self = work;
            return s;
        }
        work.state = next;
        *self = work;
        s
    }

    /// Linux's `tcp_in_window`: checks the segment against the windows and, when it
    /// fits, records what it sent and acknowledged. Returns whether it fits; on `false`
    /// only a side's first segment has initialised that side (before the check, as in
    /// Linux), and the caller decides whether to keep that.
    fn window(&mut self, dir: Dir, t: &TcpInfo) -> bool {
        let (si, ri) = (dir as usize, 1 - dir as usize);
        let mut seq = t.seq;
        let mut ack = t.ack;
        let mut end = seg_end(t);
        let syn = t.flags & SYN != 0;
        let has_ack = t.flags & ACK != 0;
        let rst = t.flags & RST != 0;
        {
            let (sender, receiver) = pair(&mut self.seen, si, ri);
            if sender.maxwin == 0 {
                // This side's first segment (the SYN-ACK): initialise it.
                if syn {
                    sender.end = end;
                    sender.maxend = end;
                    sender.maxwin = u32::from(t.window).max(1);
                    match t.wscale {
                        Some(ws) => {
                            sender.scale = ws;
                            sender.flags |= SEEN_WSCALE;
                        }
                        None => sender.flags &= !SEEN_WSCALE,
                    }
                    // Window scaling is on only when both SYNs asked for it.
                    if sender.flags & receiver.flags & SEEN_WSCALE == 0 {
                        sender.scale = 0;
                        receiver.scale = 0;
                    }
                    if !has_ack {
                        // Simultaneous open is not tracked; nothing acknowledged yet.
                        receiver.end = 0;
                        receiver.maxend = 0;
                    }
                } else {
                    // Only a SYN-ACK may be a reply's first segment (the state machine
                    // refuses the rest before this runs); keep Linux's fallback.
                    sender.end = end;
                    sender.maxend = end;
                    sender.maxwin = u32::from(t.window).max(1);
                }
            } else if syn && dir == Dir::Original && self.state == TcpState::SynSent {
                // A retransmitted SYN, possibly with another sequence number.
                sender.end = end;
                sender.maxend = end;
                sender.maxwin = u32::from(t.window).max(1);
            }
            if !has_ack || (rst && ack == 0) {
                // Nothing acknowledged: treat it as acknowledging all the other side sent.
                ack = receiver.end;
            }
            if seq == end && (!rst || (seq == 0 && self.state == TcpState::SynSent)) {
                // An empty segment (a pure ACK): it sends nothing.
                seq = sender.end;
                end = sender.end;
            }
        }
        let sender = self.seen[si];
        let receiver = self.seen[ri];
        let win = if syn {
            u32::from(t.window)
        } else {
            u32::from(t.window) << sender.scale
        };
        let max_ack_win = sender.maxwin.max(MAX_ACK_WIN_CONST);
        let ok = before(seq, sender.maxend.wrapping_add(1))
            && after(
                end,
                sender.end.wrapping_sub(receiver.maxwin).wrapping_sub(1),
            )
            && before(ack, receiver.end.wrapping_add(1))
            && after(ack, receiver.end.wrapping_sub(max_ack_win).wrapping_sub(1));
        if !ok {
            return false;
        }
        let (sender, receiver) = pair(&mut self.seen, si, ri);
        if sender.maxwin < win {
            sender.maxwin = win;
        }
        if after(end, sender.end) {
            sender.end = end;
        }
        if receiver.maxwin != 0 && after(end, sender.maxend) {
            receiver.maxwin = receiver
                .maxwin
                .wrapping_add(end.wrapping_sub(sender.maxend));
        }
        let allowed = ack.wrapping_add(win);
        if after(allowed, receiver.maxend.wrapping_sub(1)) {
            receiver.maxend = allowed.wrapping_add(u32::from(win == 0));
        }
        true
    }
}

/// Two distinct elements of the pair, mutably.
fn pair(seen: &mut [Seen; 2], a: usize, b: usize) -> (&mut Seen, &mut Seen) {
    let [x, y] = seen;
    if a == 0 && b == 1 { (x, y) } else { (y, x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u8, seq: u32, ack: u32, len: u32) -> TcpInfo {
        TcpInfo {
            flags,
            seq,
            ack,
            window: 65535,
            payload_len: len,
            wscale: None,
        }
    }

    fn run(c: &mut TcpConn, dir: Dir, t: TcpInfo) -> Step {
        c.on_segment(dir, &t, false, transition)
    }

    #[test]
    fn handshake_data_close() {
        let mut c = TcpConn::open(&seg(SYN, 1000, 0, 0)).unwrap();
        use Dir::{Original as O, Reply as R};
        assert_eq!(
            run(&mut c, R, seg(SYN | ACK, 5000, 1001, 0)),
            Step::To(TcpState::SynRecv)
        );
        assert_eq!(
            run(&mut c, O, seg(ACK, 1001, 5001, 0)),
            Step::To(TcpState::Established)
        );
        assert_eq!(
            run(&mut c, O, seg(ACK | PSH, 1001, 5001, 100)),
            Step::To(TcpState::Established)
        );
        assert_eq!(
            run(&mut c, R, seg(ACK, 5001, 1101, 1460)),
            Step::To(TcpState::Established)
        );
        // A segment far beyond what the receiver allowed is out of window.
        let before_state = c;
        assert_eq!(
            run(&mut c, O, seg(ACK, 1101 + 10_000_000, 6461, 10)),
            Step::Invalid
        );
        assert_eq!(c, before_state, "a refused segment changes nothing");
        // An acknowledgement of data never sent is refused too.
        assert_eq!(run(&mut c, O, seg(ACK, 1101, 900_000, 0)), Step::Invalid);
        assert_eq!(
            run(&mut c, O, seg(FIN | ACK, 1101, 6461, 0)),
            Step::To(TcpState::FinWait)
        );
        assert_eq!(
            run(&mut c, R, seg(ACK, 6461, 1102, 0)),
            Step::To(TcpState::CloseWait)
        );
        assert_eq!(
            run(&mut c, R, seg(FIN | ACK, 6461, 1102, 0)),
            Step::To(TcpState::LastAck)
        );
        assert_eq!(
            run(&mut c, O, seg(ACK, 1102, 6462, 0)),
            Step::To(TcpState::TimeWait)
        );
        assert_eq!(run(&mut c, O, seg(SYN, 77, 0, 0)), Step::Reopen);
    }

    #[test]
    fn what_cannot_open_or_pass() {
        assert!(TcpConn::open(&seg(ACK, 1, 1, 0)).is_none());
        assert!(TcpConn::open(&seg(SYN | ACK, 1, 1, 0)).is_none());
        assert!(TcpConn::open(&seg(SYN | FIN, 1, 0, 0)).is_none());
        assert!(TcpConn::open(&seg(RST, 1, 0, 0)).is_none());
        let mut c = TcpConn::open(&seg(SYN, 1000, 0, 0)).unwrap();
        // The originator cannot ACK before the SYN-ACK; the reply cannot send a SYN.
        assert_eq!(
            run(&mut c, Dir::Original, seg(ACK, 1001, 1, 0)),
            Step::Invalid
        );
        assert_eq!(run(&mut c, Dir::Reply, seg(SYN, 1, 0, 0)), Step::Invalid);
        // A SYN-ACK that acknowledges the wrong number is out of window.
        assert_eq!(
            run(&mut c, Dir::Reply, seg(SYN | ACK, 5000, 501_001, 0)),
            Step::Invalid
        );
        // Liberal checking passes it.
        assert_eq!(
            c.on_segment(
                Dir::Reply,
                &seg(SYN | ACK, 5000, 501_001, 0),
                true,
                transition
            ),
            Step::To(TcpState::SynRecv)
        );
        assert!(!valid_flags(0));
        assert!(!valid_flags(FIN));
        assert!(valid_flags(ACK | PSH | 0xc0), "ECE and CWR are ignored");
    }

    #[test]
    fn rst_in_window_closes() {
        let mut c = TcpConn::open(&seg(SYN, 1000, 0, 0)).unwrap();
        run(&mut c, Dir::Reply, seg(SYN | ACK, 5000, 1001, 0));
        run(&mut c, Dir::Original, seg(ACK, 1001, 5001, 0));
        // A RST far outside the window is refused; one in the window closes.
        assert_eq!(
            run(&mut c, Dir::Reply, seg(RST, 5001 + 3_000_000_000, 0, 0)),
            Step::Invalid
        );
        assert_eq!(
            run(&mut c, Dir::Reply, seg(RST, 5001, 0, 0)),
            Step::To(TcpState::Close)
        );
    }

    #[test]
    fn window_scaling_needs_both_sides() {
        let mut syn = seg(SYN, 1000, 0, 0);
        syn.wscale = Some(7);
        let mut c = TcpConn::open(&syn).unwrap();
        let mut synack = seg(SYN | ACK, 5000, 1001, 0);
        synack.wscale = Some(2);
        run(&mut c, Dir::Reply, synack);
        assert_eq!((c.seen[0].scale, c.seen[1].scale), (7, 2));
        let mut d = TcpConn::open(&syn).unwrap();
        run(&mut d, Dir::Reply, seg(SYN | ACK, 5000, 1001, 0));
        assert_eq!((d.seen[0].scale, d.seen[1].scale), (0, 0));
    }
}
