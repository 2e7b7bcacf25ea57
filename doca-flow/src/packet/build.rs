//! [`PacketBuilder`]: emits valid frames with correct lengths and checksums.
//!
//! Used by tests, examples, synthetic traffic generators and the simulate
//! command. Start from a constructor that names the layers
//! ([`PacketBuilder::tcp4`], [`PacketBuilder::udp6`], ...), adjust with
//! knobs, then [`build`](PacketBuilder::build). Knobs that do not apply to
//! the chosen layers (e.g. [`flags`](PacketBuilder::flags) on a UDP packet)
//! are ignored.
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::{Headers, L4, PacketBuilder, tcp_flags};
//!
//! let frame = PacketBuilder::tcp4([192, 0, 2, 1].into(), [198, 51, 100, 7].into(), 40000, 443)
//!     .flags(tcp_flags::SYN)
//!     .vlan(100)
//!     .payload(b"hello")
//!     .build();
//! let h = Headers::parse(&frame);
//! assert_eq!(h.eth.unwrap().vlan[0].unwrap().vid(), 100);
//! assert_eq!(h.l4, L4::Tcp { src_port: 40000, dst_port: 443, flags: tcp_flags::SYN });
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use super::ipv6::ext;
use super::l4::{icmp_field, tcp_field, udp_field};
use super::{
    IcmpMessage, Ipv4Packet, Ipv6Packet, TcpSegment, UdpDatagram, VlanTag, checksum, ethertype,
    ip_proto,
};

/// The default source MAC (locally administered).
pub const DEFAULT_SRC_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// The default destination MAC (locally administered).
pub const DEFAULT_DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// An IPv6 extension header for [`PacketBuilder::ipv6_ext`].
///
/// The next-header and length bytes are filled in by the builder; the data
/// is zero-padded to the header's alignment (zero bytes are Pad1 options in
/// hop-by-hop and destination options headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options; the data are the options.
    HopByHop(Vec<u8>),
    /// Routing header; the data start at the routing type byte.
    Routing(Vec<u8>),
    /// Destination options; the data are the options.
    DestOpts(Vec<u8>),
    /// Fragment header.
    Fragment {
        /// Fragment offset in 8-byte units (13 bits).
        offset: u16,
        /// More-fragments flag.
        more: bool,
        /// Identification.
        ident: u32,
    },
    /// Authentication header; the data start at the SPI (after the reserved
    /// field), padded to a multiple of 8 bytes in total.
    Auth(Vec<u8>),
}

impl Ipv6Ext {
    fn kind(&self) -> u8 {
        match self {
            Self::HopByHop(_) => ext::HOP_BY_HOP,
            Self::Routing(_) => ext::ROUTING,
            Self::DestOpts(_) => ext::DEST_OPTS,
            Self::Fragment { .. } => ext::FRAGMENT,
            Self::Auth(_) => ext::AH,
        }
    }

    fn emit(&self, next: u8, out: &mut Vec<u8>) {
        let start = out.len();
        match self {
            Self::HopByHop(data) | Self::Routing(data) | Self::DestOpts(data) => {
                let total = (2 + data.len()).div_ceil(8) * 8;
                let len_byte = u8::try_from(total / 8 - 1).unwrap_or(u8::MAX);
                out.extend_from_slice(&[next, len_byte]);
                out.extend_from_slice(data);
                out.resize(start + total, 0);
            }
            Self::Fragment {
                offset,
                more,
                ident,
            } => {
                let word = (offset << 3) | u16::from(*more);
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(&word.to_be_bytes());
                out.extend_from_slice(&ident.to_be_bytes());
            }
            Self::Auth(data) => {
                let total = (4 + data.len()).max(12).div_ceil(8) * 8;
                let len_byte = u8::try_from(total / 4 - 2).unwrap_or(u8::MAX);
                out.extend_from_slice(&[next, len_byte, 0, 0]);
                out.extend_from_slice(data);
                out.resize(start + total, 0);
            }
        }
    }

    fn non_first_fragment(&self) -> bool {
        matches!(self, Self::Fragment { offset, .. } if *offset != 0)
    }
}

#[derive(Debug, Clone)]
struct V4 {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    tos: u8,
    ident: u16,
    df: bool,
    mf: bool,
    frag_offset: u16,
    options: Vec<u8>,
    protocol: Option<u8>,
}

#[derive(Debug, Clone)]
struct V6 {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    traffic_class: u8,
    flow_label: u32,
    ext: Vec<Ipv6Ext>,
    next_header: Option<u8>,
}

#[derive(Debug, Clone)]
enum L3Spec {
    None,
    V4(V4),
    V6(V6),
}

#[derive(Debug, Clone)]
enum L4Spec {
    None,
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        options: Vec<u8>,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
    },
}

/// Builds Ethernet frames: optional VLAN tags, IPv4 or IPv6 (options,
/// extension headers, fragments), TCP / UDP / ICMP / ICMPv6, payload.
///
/// Lengths and checksums are computed by [`build`](Self::build):
/// IPv4 header checksum, TCP / UDP / ICMPv6 checksums with the
/// pseudo-header, ICMP checksum. For a fragment, the L4 checksum covers the
/// bytes in this frame only. A non-first fragment (offset != 0) carries no
/// L4 header: only the payload follows the IP header (or the fragment
/// extension header), while the protocol / next header still names the L4
/// protocol.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct PacketBuilder {
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    vlans: Vec<VlanTag>,
    ethertype: u16,
    l3: L3Spec,
    l4: L4Spec,
    payload: Vec<u8>,
    pad_to: usize,
    udp_checksum: bool,
}

impl PacketBuilder {
    fn new(ethertype: u16, l3: L3Spec, l4: L4Spec) -> Self {
        Self {
            eth_src: DEFAULT_SRC_MAC,
            eth_dst: DEFAULT_DST_MAC,
            vlans: Vec::new(),
            ethertype,
            l3,
            l4,
            payload: Vec::new(),
            pad_to: 0,
            udp_checksum: true,
        }
    }

    fn v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: Option<u8>) -> L3Spec {
        L3Spec::V4(V4 {
            src,
            dst,
            ttl: 64,
            tos: 0,
            ident: 0,
            df: false,
            mf: false,
            frag_offset: 0,
            options: Vec::new(),
            protocol,
        })
    }

    fn v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: Option<u8>) -> L3Spec {
        L3Spec::V6(V6 {
            src,
            dst,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            ext: Vec::new(),
            next_header,
        })
    }

    fn tcp(src_port: u16, dst_port: u16) -> L4Spec {
        L4Spec::Tcp {
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags: 0,
            window: 65535,
            options: Vec::new(),
        }
    }

    /// A bare Ethernet frame of `ethertype`; its body is the payload.
    pub fn ethernet(ethertype: u16) -> Self {
        Self::new(ethertype, L3Spec::None, L4Spec::None)
    }

    /// An IPv4 packet of `protocol` whose body is the payload.
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Self {
        Self::new(
            ethertype::IPV4,
            Self::v4(src, dst, Some(protocol)),
            L4Spec::None,
        )
    }

    /// An IPv6 packet whose upper-layer protocol is `next_header` and whose
    /// body (after any extension headers) is the payload.
    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) -> Self {
        Self::new(
            ethertype::IPV6,
            Self::v6(src, dst, Some(next_header)),
            L4Spec::None,
        )
    }

    /// TCP over IPv4 (no flags set, window 65535).
    pub fn tcp4(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Self {
        Self::new(
            ethertype::IPV4,
            Self::v4(src, dst, None),
            Self::tcp(src_port, dst_port),
        )
    }

    /// TCP over IPv6 (no flags set, window 65535).
    pub fn tcp6(src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16) -> Self {
        Self::new(
            ethertype::IPV6,
            Self::v6(src, dst, None),
            Self::tcp(src_port, dst_port),
        )
    }

    /// UDP over IPv4.
    pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Self {
        Self::new(
            ethertype::IPV4,
            Self::v4(src, dst, None),
            L4Spec::Udp { src_port, dst_port },
        )
    }

    /// UDP over IPv6.
    pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16) -> Self {
        Self::new(
            ethertype::IPV6,
            Self::v6(src, dst, None),
            L4Spec::Udp { src_port, dst_port },
        )
    }

    /// ICMP over IPv4 (e.g. type 8 code 0 for an echo request).
    pub fn icmp4(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8) -> Self {
        Self::new(
            ethertype::IPV4,
            Self::v4(src, dst, None),
            L4Spec::Icmp {
                icmp_type,
                code,
                rest: [0; 4],
            },
        )
    }

    /// ICMPv6 (e.g. type 128 code 0 for an echo request).
    pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, icmp_type: u8, code: u8) -> Self {
        Self::new(
            ethertype::IPV6,
            Self::v6(src, dst, None),
            L4Spec::Icmp {
                icmp_type,
                code,
                rest: [0; 4],
            },
        )
    }

    /// Sets the source MAC.
    pub fn eth_src(mut self, mac: [u8; 6]) -> Self {
        self.eth_src = mac;
        self
    }

    /// Sets the destination MAC.
    pub fn eth_dst(mut self, mac: [u8; 6]) -> Self {
        self.eth_dst = mac;
        self
    }

    /// Overrides the ethertype after the VLAN tags (e.g. to emit an IPv4
    /// packet labelled as something else).
    pub fn ethertype(mut self, ethertype: u16) -> Self {
        self.ethertype = ethertype;
        self
    }

    /// Appends an 802.1Q tag (TPID 0x8100) with VLAN id `vid`
    /// (PCP and DEI zero), inside any tags already added.
    pub fn vlan(self, vid: u16) -> Self {
        self.vlan_tag(ethertype::VLAN, vid & 0x0fff)
    }

    /// Appends a tag with any TPID and TCI, inside any tags already added.
    /// Any number of tags may be added (the parser reads two).
    pub fn vlan_tag(mut self, tpid: u16, tci: u16) -> Self {
        self.vlans.push(VlanTag { tpid, tci });
        self
    }

    /// Replaces the tags with QinQ: an 802.1ad outer tag (TPID 0x88a8)
    /// with `outer_vid` and an 802.1Q inner tag with `inner_vid`.
    pub fn qinq(mut self, outer_vid: u16, inner_vid: u16) -> Self {
        self.vlans.clear();
        self.vlan_tag(ethertype::QINQ, outer_vid & 0x0fff)
            .vlan(inner_vid)
    }

    /// Sets the IPv4 TTL or the IPv6 hop limit.
    pub fn ttl(mut self, ttl: u8) -> Self {
        match &mut self.l3 {
            L3Spec::V4(v4) => v4.ttl = ttl,
            L3Spec::V6(v6) => v6.hop_limit = ttl,
            L3Spec::None => {}
        }
        self
    }

    /// Sets the IPv6 hop limit (same as [`ttl`](Self::ttl)).
    pub fn hop_limit(self, hop_limit: u8) -> Self {
        self.ttl(hop_limit)
    }

    /// Sets DSCP (6 bits) in the IPv4 TOS byte or IPv6 traffic class.
    pub fn dscp(mut self, dscp: u8) -> Self {
        match &mut self.l3 {
            L3Spec::V4(v4) => v4.tos = ((dscp & 0x3f) << 2) | (v4.tos & 0x03),
            L3Spec::V6(v6) => {
                v6.traffic_class = ((dscp & 0x3f) << 2) | (v6.traffic_class & 0x03);
            }
            L3Spec::None => {}
        }
        self
    }

    /// Sets ECN (2 bits) in the IPv4 TOS byte or IPv6 traffic class.
    pub fn ecn(mut self, ecn: u8) -> Self {
        match &mut self.l3 {
            L3Spec::V4(v4) => v4.tos = (v4.tos & 0xfc) | (ecn & 0x03),
            L3Spec::V6(v6) => v6.traffic_class = (v6.traffic_class & 0xfc) | (ecn & 0x03),
            L3Spec::None => {}
        }
        self
    }

    /// Sets the IPv6 flow label (20 bits).
    pub fn flow_label(mut self, label: u32) -> Self {
        if let L3Spec::V6(v6) = &mut self.l3 {
            v6.flow_label = label & 0x000f_ffff;
        }
        self
    }

    /// Sets the IPv4 identification.
    pub fn ident(mut self, ident: u16) -> Self {
        if let L3Spec::V4(v4) = &mut self.l3 {
            v4.ident = ident;
        }
        self
    }

    /// Sets the IPv4 don't-fragment flag.
    pub fn dont_fragment(mut self, df: bool) -> Self {
        if let L3Spec::V4(v4) = &mut self.l3 {
            v4.df = df;
        }
        self
    }

    /// Makes the packet a fragment: `offset` in 8-byte units (13 bits),
    /// `more` the more-fragments flag. For IPv4 this sets the header
    /// fields; for IPv6 it appends a fragment extension header (identifier
    /// 0) after any extension headers added so far. With `offset != 0` no
    /// L4 header is emitted.
    pub fn fragment(mut self, offset: u16, more: bool) -> Self {
        match &mut self.l3 {
            L3Spec::V4(v4) => {
                v4.frag_offset = offset & 0x1fff;
                v4.mf = more;
            }
            L3Spec::V6(v6) => v6.ext.push(Ipv6Ext::Fragment {
                offset: offset & 0x1fff,
                more,
                ident: 0,
            }),
            L3Spec::None => {}
        }
        self
    }

    /// Sets the IPv4 option bytes: zero-padded (end-of-options) to a
    /// multiple of 4, cut at 40 bytes.
    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        if let L3Spec::V4(v4) = &mut self.l3 {
            let mut opts = options.get(..40).unwrap_or(options).to_vec();
            opts.resize(opts.len().div_ceil(4) * 4, 0);
            v4.options = opts;
        }
        self
    }

    /// Overrides the IPv4 protocol or the IPv6 upper-layer next header.
    pub fn protocol(mut self, protocol: u8) -> Self {
        match &mut self.l3 {
            L3Spec::V4(v4) => v4.protocol = Some(protocol),
            L3Spec::V6(v6) => v6.next_header = Some(protocol),
            L3Spec::None => {}
        }
        self
    }

    /// Appends an IPv6 extension header (in wire order).
    pub fn ipv6_ext(mut self, header: Ipv6Ext) -> Self {
        if let L3Spec::V6(v6) = &mut self.l3 {
            v6.ext.push(header);
        }
        self
    }

    /// Sets the TCP flag bits (see [`tcp_flags`](super::tcp_flags)).
    pub fn flags(mut self, bits: u8) -> Self {
        if let L4Spec::Tcp { flags, .. } = &mut self.l4 {
            *flags = bits;
        }
        self
    }

    /// Sets the TCP sequence number.
    pub fn seq(mut self, seq_number: u32) -> Self {
        if let L4Spec::Tcp { seq, .. } = &mut self.l4 {
            *seq = seq_number;
        }
        self
    }

    /// Sets the TCP acknowledgment number.
    pub fn ack_number(mut self, ack_number: u32) -> Self {
        if let L4Spec::Tcp { ack, .. } = &mut self.l4 {
            *ack = ack_number;
        }
        self
    }

    /// Sets the TCP window.
    pub fn window(mut self, win: u16) -> Self {
        if let L4Spec::Tcp { window, .. } = &mut self.l4 {
            *window = win;
        }
        self
    }

    /// Sets the TCP option bytes: zero-padded to a multiple of 4, cut at 40.
    pub fn tcp_options(mut self, opts: &[u8]) -> Self {
        if let L4Spec::Tcp { options, .. } = &mut self.l4 {
            let mut o = opts.get(..40).unwrap_or(opts).to_vec();
            o.resize(o.len().div_ceil(4) * 4, 0);
            *options = o;
        }
        self
    }

    /// Sets the ICMP / ICMPv6 rest-of-header bytes.
    pub fn icmp_rest(mut self, bytes: [u8; 4]) -> Self {
        if let L4Spec::Icmp { rest, .. } = &mut self.l4 {
            *rest = bytes;
        }
        self
    }

    /// Sets the ICMP echo identifier and sequence number.
    pub fn icmp_echo(self, ident: u16, seq: u16) -> Self {
        let [a, b] = ident.to_be_bytes();
        let [c, d] = seq.to_be_bytes();
        self.icmp_rest([a, b, c, d])
    }

    /// Emits a zero UDP checksum ("none"; meaningful over IPv4 only).
    pub fn no_udp_checksum(mut self) -> Self {
        self.udp_checksum = false;
        self
    }

    /// Sets the payload after the innermost header.
    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    /// Zero-pads the frame to at least `len` bytes after the packet (like
    /// Ethernet padding to 60 bytes); IP length fields do not count it.
    pub fn pad_to(mut self, len: usize) -> Self {
        self.pad_to = len;
        self
    }

    /// Builds the frame.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.build_into(&mut out);
        out
    }

    /// Builds the frame into `out` (cleared first), reusing its allocation.
    pub fn build_into(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.eth_dst);
        out.extend_from_slice(&self.eth_src);
        for tag in &self.vlans {
            out.extend_from_slice(&tag.tpid.to_be_bytes());
            out.extend_from_slice(&tag.tci.to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
        match &self.l3 {
            L3Spec::None => out.extend_from_slice(&self.payload),
            L3Spec::V4(v4) => self.emit_v4(v4, out),
            L3Spec::V6(v6) => self.emit_v6(v6, out),
        }
        if out.len() < self.pad_to {
            out.resize(self.pad_to, 0);
        }
    }

    fn l4_proto(&self, v6: bool) -> Option<u8> {
        match self.l4 {
            L4Spec::None => None,
            L4Spec::Tcp { .. } => Some(ip_proto::TCP),
            L4Spec::Udp { .. } => Some(ip_proto::UDP),
            L4Spec::Icmp { .. } if v6 => Some(ip_proto::ICMPV6),
            L4Spec::Icmp { .. } => Some(ip_proto::ICMP),
        }
    }

    /// Appends the L4 header (checksum zero) and the payload.
    fn emit_l4(&self, out: &mut Vec<u8>) {
        let start = out.len();
        match &self.l4 {
            L4Spec::None => {}
            L4Spec::Tcp {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                options,
            } => {
                out.resize(start + tcp_field::MIN_HEADER_LEN, 0);
                out.extend_from_slice(options);
                let hl = u8::try_from(tcp_field::MIN_HEADER_LEN + options.len()).unwrap_or(60);
                if let Some(buf) = out.get_mut(start..) {
                    let mut tcp = TcpSegment::new_unchecked(buf);
                    tcp.set_src_port(*src_port);
                    tcp.set_dst_port(*dst_port);
                    tcp.set_seq_number(*seq);
                    tcp.set_ack_number(*ack);
                    tcp.set_header_len(hl);
                    tcp.set_flags(*flags);
                    tcp.set_window(*window);
                }
            }
            L4Spec::Udp { src_port, dst_port } => {
                out.resize(start + udp_field::HEADER_LEN, 0);
                if let Some(buf) = out.get_mut(start..) {
                    let mut udp = UdpDatagram::new_unchecked(buf);
                    udp.set_src_port(*src_port);
                    udp.set_dst_port(*dst_port);
                }
            }
            L4Spec::Icmp {
                icmp_type,
                code,
                rest,
            } => {
                out.resize(start + icmp_field::HEADER_LEN, 0);
                if let Some(buf) = out.get_mut(start..) {
                    let mut icmp = IcmpMessage::new_unchecked(buf);
                    icmp.set_msg_type(*icmp_type);
                    icmp.set_code(*code);
                    icmp.set_rest_of_header(*rest);
                }
            }
        }
        out.extend_from_slice(&self.payload);
    }

    /// Fills the L4 length and checksum of the segment in `seg`.
    fn finish_l4(&self, seg: &mut [u8], pseudo: u64, icmp_pseudo: u64) {
        match self.l4 {
            L4Spec::None => {}
            L4Spec::Tcp { .. } => TcpSegment::new_unchecked(seg).fill_checksum(pseudo),
            L4Spec::Udp { .. } => {
                let len = u16::try_from(seg.len()).unwrap_or(u16::MAX);
                let mut udp = UdpDatagram::new_unchecked(seg);
                udp.set_len(len);
                if self.udp_checksum {
                    udp.fill_checksum(pseudo);
                }
            }
            L4Spec::Icmp { .. } => IcmpMessage::new_unchecked(seg).fill_checksum(icmp_pseudo),
        }
    }

    fn emit_v4(&self, v4: &V4, out: &mut Vec<u8>) {
        let l3 = out.len();
        out.resize(l3 + super::ipv4::field::MIN_HEADER_LEN, 0);
        out.extend_from_slice(&v4.options);
        let l4 = out.len();
        let protocol = v4.protocol.or(self.l4_proto(false)).unwrap_or(0);
        if v4.frag_offset == 0 {
            self.emit_l4(out);
        } else {
            out.extend_from_slice(&self.payload);
        }
        let header_len = u8::try_from(l4 - l3).unwrap_or(60);
        let total = u16::try_from(out.len() - l3).unwrap_or(u16::MAX);
        let l4_len = u32::try_from(out.len() - l4).unwrap_or(u32::MAX);
        if v4.frag_offset == 0 {
            let pseudo = checksum::pseudo_header_v4(v4.src, v4.dst, protocol, l4_len);
            if let Some(seg) = out.get_mut(l4..) {
                self.finish_l4(seg, pseudo, 0);
            }
        }
        if let Some(buf) = out.get_mut(l3..) {
            let mut ip = Ipv4Packet::new_unchecked(buf);
            ip.set_version(4);
            ip.set_header_len(header_len);
            ip.set_dscp(v4.tos >> 2);
            ip.set_ecn(v4.tos & 0x03);
            ip.set_total_len(total);
            ip.set_ident(v4.ident);
            ip.set_dont_frag(v4.df);
            ip.set_more_frags(v4.mf);
            ip.set_frag_offset(v4.frag_offset);
            ip.set_ttl(v4.ttl);
            ip.set_protocol(protocol);
            ip.set_src_addr(v4.src);
            ip.set_dst_addr(v4.dst);
            ip.fill_checksum();
        }
    }

    fn emit_v6(&self, v6: &V6, out: &mut Vec<u8>) {
        let l3 = out.len();
        out.resize(l3 + super::ipv6::field::HEADER_LEN, 0);
        let upper = v6
            .next_header
            .or(self.l4_proto(true))
            .unwrap_or(ext::NO_NEXT);
        let mut kinds = v6.ext.iter().map(Ipv6Ext::kind).skip(1);
        for header in &v6.ext {
            header.emit(kinds.next().unwrap_or(upper), out);
        }
        let first = v6.ext.first().map_or(upper, Ipv6Ext::kind);
        let l4 = out.len();
        let non_first = v6.ext.iter().any(Ipv6Ext::non_first_fragment);
        if non_first {
            out.extend_from_slice(&self.payload);
        } else {
            self.emit_l4(out);
            let l4_len = u32::try_from(out.len() - l4).unwrap_or(u32::MAX);
            let pseudo = checksum::pseudo_header_v6(v6.src, v6.dst, upper, l4_len);
            if let Some(seg) = out.get_mut(l4..) {
                self.finish_l4(seg, pseudo, pseudo);
            }
        }
        let payload_len = u16::try_from(out.len() - l3 - 40).unwrap_or(u16::MAX);
        if let Some(buf) = out.get_mut(l3..) {
            let mut ip = Ipv6Packet::new_unchecked(buf);
            ip.set_version(6);
            ip.set_traffic_class(v6.traffic_class);
            ip.set_flow_label(v6.flow_label);
            ip.set_payload_len(payload_len);
            ip.set_next_header(first);
            ip.set_hop_limit(v6.hop_limit);
            ip.set_src_addr(v6.src);
            ip.set_dst_addr(v6.dst);
        }
    }
}
