//! What connection tracking reads from a frame: a [`CtPacket`].
//!
//! One pass over the headers the parser already found, plus the few fields it does not
//! keep (TCP sequence numbers, window, the window-scale option, the payload length, ICMP
//! identifiers and the header embedded in an ICMP error). Never panics on any bytes: a
//! field that cannot be read makes the packet [`Info::Untrackable`].

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{Headers, IcmpMessage, Ipv4Packet, Ipv6Packet, L3, L4, TcpSegment};

use crate::model::protocol;

/// A directional 5-tuple: the packet's own addresses, ports and protocol.
///
/// ICMP echo requests and replies carry their identifier in both port fields (so a
/// request and its reply are each other's reverse); protocols without ports have `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ICMP echo: the identifier).
    pub src_port: u16,
    /// Destination port (ICMP echo: the identifier).
    pub dst_port: u16,
    /// IP protocol (IPv6: the upper-layer next header).
    pub proto: u8,
}

impl Tuple {
    /// The tuple of the other direction.
    pub fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }
}

impl core::fmt::Display for Tuple {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let proto =
            protocol::name(self.proto).map_or_else(|| self.proto.to_string(), |n| n.to_string());
        let ep = |a: IpAddr, p: u16| match a {
            IpAddr::V4(a) => format!("{a}:{p}"),
            IpAddr::V6(a) => format!("[{a}]:{p}"),
        };
        write!(
            f,
            "{proto} {} -> {}",
            ep(self.src, self.src_port),
            ep(self.dst, self.dst_port)
        )
    }
}

/// The TCP fields the state machine and the window checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// The flag byte (CWR ECE URG ACK PSH RST SYN FIN).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// The window field, unscaled.
    pub window: u16,
    /// Payload bytes (the IP payload less the TCP header).
    pub payload_len: u32,
    /// The window-scale option's shift (capped at 14), if the segment is a SYN (with or
    /// without ACK) and carries one; the option means nothing on other segments.
    pub wscale: Option<u8>,
}

/// What kind of packet it is, for tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    /// A TCP segment.
    Tcp(TcpInfo),
    /// A UDP datagram.
    Udp,
    /// An ICMP echo request (ICMPv6 128); the tuple's ports hold the identifier.
    EchoRequest,
    /// An ICMP echo reply (ICMPv6 129); the tuple's ports hold the identifier.
    EchoReply,
    /// An ICMP or ICMPv6 error (destination unreachable, time exceeded, parameter
    /// problem, packet too big, ...) with the tuple of the packet it is about, as that
    /// packet was sent.
    Error(Tuple),
    /// Another IP protocol (GRE, ESP, SCTP, ...), tracked by addresses and protocol.
    Other,
    /// An IP packet that cannot belong to a tracked connection: a non-first fragment
    /// (no ports), a truncated or malformed header, an ICMP message that is neither an
    /// echo nor an error about a readable packet (neighbour discovery, router
    /// advertisements, ...).
    Untrackable,
}

/// One IP packet as connection tracking sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtPacket {
    /// The packet's own tuple.
    pub tuple: Tuple,
    /// What kind of packet it is.
    pub info: Info,
    /// Frame length in bytes (for the connection's byte counters).
    pub len: u32,
}

/// ICMP (IPv4) error types whose payload holds the offending packet's header.
const ICMP4_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];
/// ICMPv6 error types (destination unreachable, packet too big, time exceeded,
/// parameter problem).
const ICMP6_ERRORS: [u8; 4] = [1, 2, 3, 4];

impl CtPacket {
    /// Reads a frame whose headers are `h` (from [`Headers::parse`] of the same bytes).
    /// `None` when the frame is not IP (ARP, LLDP, unreadable IP header): such frames
    /// are not tracked at all.
    pub fn parse(frame: &[u8], h: &Headers) -> Option<CtPacket> {
        let (src, dst, proto) = match h.l3 {
            L3::Ipv4(ip) => (IpAddr::V4(ip.src), IpAddr::V4(ip.dst), ip.protocol),
            L3::Ipv6(ip) => (IpAddr::V6(ip.src), IpAddr::V6(ip.dst), ip.next_header),
            L3::None | L3::Other(_) => return None,
        };
        let mut tuple = Tuple {
            src,
            dst,
            src_port: 0,
            dst_port: 0,
            proto,
        };
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let info = if h.malformed.is_some() || h.fragment().is_some_and(|f| f.offset != 0) {
            Info::Untrackable
        } else {
            match h.l4 {
                L4::Tcp {
                    src_port, dst_port, ..
                } => {
                    tuple.src_port = src_port;
                    tuple.dst_port = dst_port;
                    tcp_info(frame, h).map_or(Info::Untrackable, Info::Tcp)
                }
                L4::Udp { src_port, dst_port } => {
                    tuple.src_port = src_port;
                    tuple.dst_port = dst_port;
                    Info::Udp
                }
                L4::Icmp { icmp_type, .. } => icmp_info(frame, h, icmp_type, false, &mut tuple),
                L4::Icmp6 { icmp_type, .. } => icmp_info(frame, h, icmp_type, true, &mut tuple),
                L4::Other(_) => Info::Other,
                L4::None => {
                    // Nothing after the IP header was read: a protocol the parser has no
                    // view of is `Other` (with `offsets.l4`), so this is a TCP/UDP/ICMP
                    // header cut short, or an IPv4 first fragment too small to hold it.
                    Info::Untrackable
                }
            }
        };
        Some(CtPacket { tuple, info, len })
    }
}

/// The end of the IP packet in the frame (padding excluded), if its length fields are
/// readable.
fn ip_end(frame: &[u8], h: &Headers) -> Option<usize> {
    let l3 = usize::from(h.offsets.l3?);
    let rest = frame.get(l3..)?;
    let end = match h.l3 {
        L3::Ipv4(_) => l3 + usize::from(Ipv4Packet::new_checked(rest).ok()?.total_len()),
        L3::Ipv6(_) => l3 + 40 + usize::from(Ipv6Packet::new_checked(rest).ok()?.payload_len()),
        L3::None | L3::Other(_) => return None,
    };
    (end <= frame.len()).then_some(end)
}

// Inlined into the burst loop's fast path (`Tracker::prepare_headers`). Tried against a
// suspected store-forwarding stall on its returned record; perf showed no change either
// way (the stall was the prefetches'), so this is a call saved, not a measured gain.
#[inline(always)]
pub(super) fn tcp_info(frame: &[u8], h: &Headers) -> Option<TcpInfo> {
    let l4 = usize::from(h.offsets.l4?);
    let end = ip_end(frame, h)?;
    let seg = TcpSegment::new_checked(frame.get(l4..end)?).ok()?;
    let header = usize::from(seg.header_len());
    let payload_len = u32::try_from((end - l4).checked_sub(header)?).ok()?;
    Some(TcpInfo {
        flags: seg.flags(),
        seq: seg.seq_number(),
        ack: seg.ack_number(),
        window: seg.window(),
        payload_len,
        // Linux reads the option from SYNs only, and so does the tracker.
        wscale: if seg.flags() & crate::model::tcp_flag::SYN != 0 {
            window_scale(seg.options())
        } else {
            None
        },
    })
}

/// The window-scale option (kind 3, length 3) of a TCP option list, capped at 14 as
/// RFC 7323 says; `None` if absent or the list is malformed before it.
fn window_scale(mut opts: &[u8]) -> Option<u8> {
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => return None,
            1 => opts = rest,
            _ => {
                let len = usize::from(*rest.first()?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return Some(opts[2].min(14));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

fn icmp_info(frame: &[u8], h: &Headers, icmp_type: u8, v6: bool, tuple: &mut Tuple) -> Info {
    let Some(msg) = h
        .offsets
        .l4
        .and_then(|l4| frame.get(usize::from(l4)..ip_end(frame, h)?))
        .and_then(|b| IcmpMessage::new_checked(b).ok())
    else {
        return Info::Untrackable;
    };
    let (request, reply, errors): (u8, u8, &[u8]) = if v6 {
        (128, 129, &ICMP6_ERRORS)
    } else {
        (8, 0, &ICMP4_ERRORS)
    };
    if icmp_type == request || icmp_type == reply {
        let rest = msg.rest_of_header();
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        tuple.src_port = id;
        tuple.dst_port = id;
        return if icmp_type == request {
            Info::EchoRequest
        } else {
            Info::EchoReply
        };
    }
    if errors.contains(&icmp_type) {
        return inner_tuple(msg.payload(), v6).map_or(Info::Untrackable, Info::Error);
    }
    Info::Untrackable
}

/// The tuple of the packet quoted in an ICMP error: its IP header and at least the
/// first 8 bytes after it (ports, or an echo request's identifier).
fn inner_tuple(quoted: &[u8], v6: bool) -> Option<Tuple> {
    let (src, dst, proto, l4) = if v6 {
        if quoted.len() < 40 || quoted[0] >> 4 != 6 {
            return None;
        }
        let a: [u8; 16] = quoted[8..24].try_into().ok()?;
        let b: [u8; 16] = quoted[24..40].try_into().ok()?;
        (
            IpAddr::V6(Ipv6Addr::from(a)),
            IpAddr::V6(Ipv6Addr::from(b)),
            quoted[6],
            quoted.get(40..)?,
        )
    } else {
        if quoted.len() < 20 || quoted[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(quoted[0] & 0x0f) * 4;
        if ihl < 20 {
            return None;
        }
        // A quoted non-first fragment has no L4 header to match.
        let frag_offset = u16::from_be_bytes([quoted[6], quoted[7]]) & 0x1fff;
        if frag_offset != 0 {
            return None;
        }
        (
            IpAddr::V4(Ipv4Addr::new(
                quoted[12], quoted[13], quoted[14], quoted[15],
            )),
            IpAddr::V4(Ipv4Addr::new(
                quoted[16], quoted[17], quoted[18], quoted[19],
            )),
            quoted[9],
            quoted.get(ihl..)?,
        )
    };
    let word = |i: usize| Some(u16::from_be_bytes([*l4.get(i)?, *l4.get(i + 1)?]));
    let (src_port, dst_port) = match proto {
        protocol::TCP | protocol::UDP => (word(0)?, word(2)?),
        protocol::ICMP if !v6 && *l4.first()? == 8 => (word(4)?, word(4)?),
        protocol::ICMPV6 if v6 && *l4.first()? == 128 => (word(4)?, word(4)?),
        protocol::ICMP | protocol::ICMPV6 => return None,
        _ => (0, 0),
    };
    Some(Tuple {
        src,
        dst,
        src_port,
        dst_port,
        proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use doca_flow::packet::{PacketBuilder, tcp_flags};

    fn parse(frame: &[u8]) -> CtPacket {
        CtPacket::parse(frame, &Headers::parse(frame)).unwrap()
    }

    #[test]
    fn tcp_fields_and_window_scale() {
        // MSS (4 bytes), NOP, window scale 7, NOP, NOP.
        let opts = [2, 4, 5, 0xb4, 1, 3, 3, 7, 1, 1, 1, 1];
        let f = PacketBuilder::tcp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 40000, 80)
            .flags(tcp_flags::SYN)
            .seq(1000)
            .window(64240)
            .tcp_options(&opts)
            .payload(b"abc")
            .pad_to(120)
            .build();
        let p = parse(&f);
        assert_eq!(p.tuple.src_port, 40000);
        assert_eq!(p.tuple.dst_port, 80);
        let Info::Tcp(t) = p.info else {
            panic!("not tcp: {p:?}")
        };
        assert_eq!((t.seq, t.window, t.payload_len), (1000, 64240, 3));
        assert_eq!(t.wscale, Some(7));
        assert_eq!(p.len, 120);
        assert_eq!(window_scale(&[3, 3, 20]), Some(14));
        assert_eq!(
            window_scale(&[2, 1, 3, 3, 1]),
            None,
            "a length below 2 stops the walk"
        );
        assert_eq!(window_scale(&[0, 3, 3, 1]), None, "end of list");
    }

    #[test]
    fn echo_and_errors() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(192, 0, 2, 1);
        let req = PacketBuilder::icmp4(a, b, 8, 0).icmp_echo(77, 1).build();
        let p = parse(&req);
        assert_eq!(p.info, Info::EchoRequest);
        assert_eq!((p.tuple.src_port, p.tuple.dst_port), (77, 77));
        // A port unreachable about a UDP datagram a -> b:5353.
        let udp = PacketBuilder::udp4(a, b, 40000, 5353).payload(b"q").build();
        let quoted = &udp[14..14 + 28];
        let err = PacketBuilder::icmp4(b, a, 3, 3).payload(quoted).build();
        let p = parse(&err);
        let Info::Error(t) = p.info else {
            panic!("not an error: {p:?}")
        };
        assert_eq!(t.src, IpAddr::V4(a));
        assert_eq!((t.src_port, t.dst_port, t.proto), (40000, 5353, 17));
        // Cut the quoted header short: untrackable, no panic.
        let short = PacketBuilder::icmp4(b, a, 3, 3)
            .payload(&quoted[..22])
            .build();
        assert_eq!(parse(&short).info, Info::Untrackable);
        // Router advertisement (ICMPv6 134): untrackable.
        let ra = PacketBuilder::icmp6(
            "fe80::1".parse().unwrap(),
            "ff02::1".parse().unwrap(),
            134,
            0,
        )
        .build();
        assert_eq!(parse(&ra).info, Info::Untrackable);
    }

    #[test]
    fn fragments_and_non_ip() {
        let frag = PacketBuilder::udp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1, 2)
            .fragment(8, false)
            .build();
        assert_eq!(parse(&frag).info, Info::Untrackable);
        let arp = PacketBuilder::ethernet(0x0806).payload(&[0; 28]).build();
        assert!(CtPacket::parse(&arp, &Headers::parse(&arp)).is_none());
        let gre = PacketBuilder::ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 47)
            .payload(&[0; 8])
            .build();
        assert_eq!(parse(&gre).info, Info::Other);
    }
}
