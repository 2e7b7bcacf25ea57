//! Packet views: zero-copy, checked once, never panic on any byte string.
//!
//! Two layers, in the style of smoltcp:
//!
//! * wire views per header (`EthernetFrame<T>`, `Ipv4Packet<T>`, ... over
//!   `T: AsRef<[u8]>`), each with `new_checked`, after which no accessor
//!   panics, and setters over `T: AsMut<[u8]>` for the modify actions;
//! * [`Headers`]: the one-pass summary the software pipeline matches on,
//!   produced by [`Headers::parse`] for any byte string.
//!
//! Non-first IP fragments carry no L4 header: [`Headers::l4`] is
//! [`L4::None`] for them, so they never match port rules.
//!
//! Around them: [`PacketBuilder`] emits valid frames (correct lengths and
//! checksums) for tests, generators and the simulate command; [`modify`]
//! rewrites header fields in place for the modify-header actions, keeping
//! checksums right by incremental update; [`checksum`] holds the Internet
//! checksum arithmetic.
//!
//! # Quick start
//!
//! ```
//! use doca_flow::packet::{Headers, L3, L4, PacketBuilder, modify, tcp_flags};
//!
//! let mut frame = PacketBuilder::tcp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 40000, 22)
//!     .flags(tcp_flags::SYN)
//!     .build();
//! let h = Headers::parse(&frame);
//! assert!(matches!(h.l3, L3::Ipv4(ip) if ip.ttl == 64));
//! assert_eq!(h.l4, L4::Tcp { src_port: 40000, dst_port: 22, flags: tcp_flags::SYN });
//!
//! modify::decrement_ipv4_ttl(&mut frame, &h).unwrap();
//! assert!(matches!(Headers::parse(&frame).l3, L3::Ipv4(ip) if ip.ttl == 63));
//! ```
//!
//! The parser's decisions (more than two VLAN tags, padding, malformed
//! IP headers, fragments, extension-header limits) are listed on
//! [`Headers::parse`].

use core::net::{Ipv4Addr, Ipv6Addr};

mod build;
mod bytes;
pub mod checksum;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod l4;
pub mod modify;
mod parse;

pub use build::{DEFAULT_DST_MAC, DEFAULT_SRC_MAC, Ipv6Ext, PacketBuilder};
pub use ethernet::EthernetFrame;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use l4::{IcmpMessage, TcpSegment, UdpDatagram, tcp_flags};
pub use parse::{MAX_IPV6_EXT_HEADERS, MAX_VLAN_TAGS};
pub(crate) use parse::{PlainL4, PlainTuple};

/// Why a wire view refused a buffer in `new_checked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends inside the named header (or before the length its
    /// own length field claims).
    #[error("buffer too short for the {0} header")]
    Truncated(&'static str),
    /// A length field of the named header is invalid.
    #[error("malformed {0} header: {1}")]
    Malformed(&'static str, &'static str),
}

/// Ethertypes the parser knows.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (QinQ outer).
    pub const QINQ: u16 = 0x88A8;
}

/// IP protocol numbers the parser knows.
pub mod ip_proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// One VLAN tag as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanTag {
    /// The tag protocol identifier (0x8100 or 0x88a8).
    pub tpid: u16,
    /// The tag control information (PCP, DEI, VID).
    pub tci: u16,
}

impl VlanTag {
    /// The 12-bit VLAN id.
    pub fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }

    /// The 3-bit priority code point (802.1p).
    pub fn pcp(&self) -> u8 {
        (self.tci >> 13) as u8
    }

    /// The drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci & 0x1000 != 0
    }
}

/// The outer Ethernet header, after any VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EthHeader {
    /// Destination MAC.
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
    /// The ethertype after the VLAN tags (the L3 protocol).
    pub ethertype: u16,
    /// Up to two VLAN tags, outermost first.
    pub vlan: [Option<VlanTag>; 2],
}

/// IP fragmentation facts of an IPv4 or IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fragment {
    /// The packet is a fragment (more-fragments set, or a non-zero offset).
    pub is_fragment: bool,
    /// The fragment offset in 8-byte units (0 for the first fragment).
    pub offset: u16,
    /// The more-fragments flag.
    pub more: bool,
    /// IPv4 don't-fragment flag (always false for IPv6).
    pub dont_fragment: bool,
}

/// The IPv4 header fields the pipeline matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The protocol field.
    pub protocol: u8,
    /// DSCP (the upper 6 bits of the TOS byte).
    pub dscp: u8,
    /// ECN (the lower 2 bits of the TOS byte).
    pub ecn: u8,
    /// Time to live.
    pub ttl: u8,
    /// Header length in bytes (IHL * 4).
    pub header_len: u8,
    /// Fragmentation.
    pub fragment: Fragment,
}

/// The IPv6 header fields the pipeline matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after all extension headers that were walked
    /// (the "next header" that names TCP/UDP/ICMPv6/...).
    pub next_header: u8,
    /// Traffic class (DSCP << 2 | ECN).
    pub traffic_class: u8,
    /// The 20-bit flow label.
    pub flow_label: u32,
    /// Hop limit.
    pub hop_limit: u8,
    /// Fragmentation, from a fragment extension header if one was present.
    pub fragment: Fragment,
}

/// The L3 layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L3 {
    /// No L3 header could be read (non-IP ethertype is [`L3::Other`]).
    #[default]
    None,
    /// IPv4.
    Ipv4(Ipv4Header),
    /// IPv6.
    Ipv6(Ipv6Header),
    /// Another ethertype (ARP, ...); its payload is not parsed.
    Other(u16),
}

/// The L4 layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L4 {
    /// No L4 header: none present, truncated, or a non-first fragment.
    #[default]
    None,
    /// TCP.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// The 8 flag bits (CWR ECE URG ACK PSH RST SYN FIN).
        flags: u8,
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP (IPv4).
    Icmp {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// ICMPv6.
    Icmp6 {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// Another protocol, or an L4 header the parser does not read.
    Other(u8),
}

/// Byte offsets of each layer in the frame, for the modify actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offsets {
    /// Start of the L3 header (after Ethernet and VLAN tags), if any.
    pub l3: Option<u16>,
    /// Start of the L4 header, if any.
    pub l4: Option<u16>,
}

/// Why a frame was only partly parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The frame ends inside the Ethernet or a VLAN header.
    TruncatedEthernet,
    /// The frame ends inside the IP header, or IHL/total length is invalid.
    BadIpHeader,
    /// The frame ends inside an IPv6 extension header.
    BadIpv6Extension,
    /// The frame (or, for IP, the packet as bounded by its length field)
    /// ends inside the L4 header, or the header's own length is invalid
    /// (TCP data offset below 5).
    TruncatedL4,
}

/// The one-pass summary of a frame that the software pipeline matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headers {
    /// Frame length in bytes.
    pub len: usize,
    /// The Ethernet header, if the frame is long enough to hold one.
    pub eth: Option<EthHeader>,
    /// The L3 layer.
    pub l3: L3,
    /// The L4 layer.
    pub l4: L4,
    /// Offsets of the layers.
    pub offsets: Offsets,
    /// Set when a layer was cut short; what was read before it stays valid.
    pub malformed: Option<Malformed>,
}

impl Headers {
    /// The IP protocol (IPv4) or final next header (IPv6), if the frame is IP.
    pub fn ip_proto(&self) -> Option<u8> {
        match self.l3 {
            L3::Ipv4(ip) => Some(ip.protocol),
            L3::Ipv6(ip) => Some(ip.next_header),
            L3::None | L3::Other(_) => None,
        }
    }

    /// The IP fragmentation facts, if the frame is IP.
    pub fn fragment(&self) -> Option<Fragment> {
        match self.l3 {
            L3::Ipv4(ip) => Some(ip.fragment),
            L3::Ipv6(ip) => Some(ip.fragment),
            L3::None | L3::Other(_) => None,
        }
    }

    /// The TCP or UDP source port, if the frame carries a TCP/UDP header.
    pub fn src_port(&self) -> Option<u16> {
        match self.l4 {
            L4::Tcp { src_port, .. } | L4::Udp { src_port, .. } => Some(src_port),
            _ => None,
        }
    }

    /// The TCP or UDP destination port, if the frame carries a TCP/UDP header.
    pub fn dst_port(&self) -> Option<u16> {
        match self.l4 {
            L4::Tcp { dst_port, .. } | L4::Udp { dst_port, .. } => Some(dst_port),
            _ => None,
        }
    }
}
