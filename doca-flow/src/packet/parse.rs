//! [`Headers::parse`]: the one-pass summary of a frame.
//!
//! Built on the same field-offset constants as the wire views, so there is
//! one source of truth for each layout. Every read goes through the
//! bounds-checked helpers in `bytes` after an explicit length check.

use super::ethernet::{self, is_vlan_tpid, vlan_field};
use super::ipv4;
use super::ipv6::{self, Ipv6Packet, ext};
use super::l4::{icmp_field, tcp_field, udp_field};
use super::{
    EthHeader, Fragment, Headers, Ipv4Header, Ipv6Header, L3, L4, Malformed, Offsets, VlanTag,
    bytes, ethertype, ip_proto,
};

/// The most IPv6 extension headers the parser walks before it gives up
/// with [`Malformed::BadIpv6Extension`].
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// The most VLAN tags the parser reads; a third tag stops the parse with
/// `L3::Other(tpid)` (see [`Headers::parse`]).
pub const MAX_VLAN_TAGS: usize = 2;

fn offset(v: usize) -> Option<u16> {
    u16::try_from(v).ok()
}

impl Headers {
    /// Parses a frame in one pass, without copying or allocating. Never
    /// panics, whatever the bytes.
    ///
    /// Decisions worth knowing:
    ///
    /// * **VLAN**: up to [`MAX_VLAN_TAGS`] tags (TPID 0x8100 or 0x88a8, in
    ///   any order) are read into [`EthHeader::vlan`], outermost first. A
    ///   third tag is not read: `eth.ethertype` is its TPID, `l3` is
    ///   [`L3::Other`] of that TPID and `offsets.l3` points at the third
    ///   tag's TCI; the frame is not marked malformed (it is legal, just
    ///   not classified past two tags).
    /// * **Offsets**: `offsets.l3` is set once the Ethernet header and its
    ///   tags were read whole (even if the L3 header then turns out short
    ///   or invalid); `offsets.l4` as described under L4 below.
    /// * **IPv4**: with fewer than 20 bytes or a version nibble other than
    ///   4, `l3` is [`L3::None`] and the frame is
    ///   [`Malformed::BadIpHeader`]. With the fixed header present but
    ///   IHL < 5, the options cut short, total length < IHL * 4, or total
    ///   length beyond the frame, `l3` is filled in (the addresses were
    ///   read) but the frame is [`Malformed::BadIpHeader`] and `l4` is
    ///   [`L4::None`].
    /// * **Padding**: L4 parsing is bounded by the IPv4 total length (IPv6:
    ///   40 + payload length), so Ethernet padding after a short packet is
    ///   never read as a header. `len` stays the whole frame length.
    /// * **Fragments**: a non-first fragment (offset != 0) has
    ///   [`L4::None`] and `offsets.l4 == None`; a first fragment with MF set
    ///   has its L4 header parsed (and is [`Malformed::TruncatedL4`] if that
    ///   header does not fit in it, the RFC 1858 tiny-fragment case).
    /// * **IPv6 extension headers**: hop-by-hop (only as the first one),
    ///   routing, fragment, destination options and AH are walked, at most
    ///   [`MAX_IPV6_EXT_HEADERS`]; `next_header` is the upper-layer
    ///   protocol after them. If the walk stops early (truncation,
    ///   hop-by-hop not first, too many headers) the frame is
    ///   [`Malformed::BadIpv6Extension`], `l4` is [`L4::None`] and
    ///   `next_header` is the extension header type where the walk stopped.
    ///   ESP (50) is not walked: `l4` is `L4::Other(50)`. A fragment header
    ///   with offset != 0 stops the walk: `next_header` is the fragment
    ///   header's next header and `l4` is [`L4::None`]. An atomic fragment
    ///   (offset 0, M clear, RFC 6946) has `is_fragment == false`.
    /// * **L4**: TCP needs its whole header as the data offset says (data
    ///   offset < 5 or options cut short is [`Malformed::TruncatedL4`]);
    ///   UDP needs 8 bytes; ICMP (over IPv4) and ICMPv6 (over IPv6) need 8;
    ///   any other protocol is [`L4::Other`] with `offsets.l4` at its start.
    ///   `offsets.l4` is set exactly when `l4` is not [`L4::None`].
    ///
    /// # Examples
    ///
    /// ```
    /// use doca_flow::packet::{Headers, L4, PacketBuilder};
    ///
    /// let frame = PacketBuilder::udp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5000, 53)
    ///     .payload(b"query")
    ///     .build();
    /// let h = Headers::parse(&frame);
    /// assert_eq!(h.l4, L4::Udp { src_port: 5000, dst_port: 53 });
    /// assert_eq!(h.malformed, None);
    /// ```
    #[inline]
    pub fn parse(frame: &[u8]) -> Headers {
        let mut h = Headers::default();
        Headers::parse_into(frame, &mut h);
        h
    }

    /// [`Headers::parse`] into `h` (overwritten whole), for a caller that
    /// keeps one `Headers` per packet slot: the fields are written where they
    /// stay, instead of being assembled on the parser's stack and then copied
    /// out (that copy of many narrow fields stalled on store forwarding).
    /// Always inlined: the one-pass path's checks and stores then join the caller's
    /// per-frame loop (a call per frame from the batched path had cost 19 of the
    /// firewall's ~415 instructions per frame); the general parse stays out of line.
    #[inline(always)]
    pub fn parse_into(frame: &[u8], h: &mut Headers) {
        if !parse_plain_ipv4(frame, h) {
            parse_layers(frame, h);
        }
    }
}

/// A frame that [`parse_plain_ipv4`] takes, with its checks passed: its first 42
/// bytes (Ethernet, the fixed IPv4 header, 8 bytes of L4), its flags and fragment
/// word, and its L4 layer (TCP, UDP, ICMP or another protocol's number).
struct Plain<'a> {
    b: &'a [u8; PLAIN_LEN],
    flags_frag: u16,
    protocol: u8,
    l4: L4,
}

/// Ethernet II, the fixed IPv4 header and a UDP header (or TCP's ports).
const PLAIN_LEN: usize = PLAIN_L4 + udp_field::HEADER_LEN;
const PLAIN_L3: usize = ethernet::field::HEADER_LEN;
const PLAIN_L4: usize = PLAIN_L3 + ipv4::field::MIN_HEADER_LEN;

/// The checks of [`parse_plain_ipv4`]: `None` for any frame it does not take.
#[inline(always)]
fn plain(frame: &[u8]) -> Option<Plain<'_>> {
    use ipv4::field as ip;
    const L3: usize = PLAIN_L3;
    const L4: usize = PLAIN_L4;
    let b = frame.first_chunk::<PLAIN_LEN>()?;
    let flags_frag = be16(b, L3 + ip::FLAGS_FRAG);
    let total = usize::from(be16(b, L3 + ip::TOTAL_LEN));
    if be16(b, ethernet::field::ETHERTYPE) != ethertype::IPV4
        || b[L3 + ip::VER_IHL] != 0x45
        || flags_frag & (ip::MF | ip::OFFSET_MASK) != 0
        || total < ip::MIN_HEADER_LEN
        || frame.len() - L3 < total
    {
        return None;
    }
    // The L4 header must fit in the IPv4 payload (`total`), as in `parse_l4`.
    let seg = total - ip::MIN_HEADER_LEN;
    let protocol = b[L3 + ip::PROTOCOL];
    let l4 = match protocol {
        ip_proto::UDP => {
            if seg < udp_field::HEADER_LEN {
                return None;
            }
            L4::Udp {
                src_port: be16(b, L4 + udp_field::SRC_PORT),
                dst_port: be16(b, L4 + udp_field::DST_PORT),
            }
        }
        ip_proto::TCP => {
            let t = frame
                .get(L4..)
                .and_then(|t| t.first_chunk::<{ tcp_field::MIN_HEADER_LEN }>())?;
            let hl = usize::from(t[tcp_field::DATA_OFF] >> 4) * 4;
            if hl < tcp_field::MIN_HEADER_LEN || seg < hl {
                return None;
            }
            L4::Tcp {
                src_port: be16(t, tcp_field::SRC_PORT),
                dst_port: be16(t, tcp_field::DST_PORT),
                flags: t[tcp_field::FLAGS],
            }
        }
        ip_proto::ICMP => {
            if seg < icmp_field::HEADER_LEN {
                return None;
            }
            L4::Icmp {
                icmp_type: b[L4 + icmp_field::TYPE],
                code: b[L4 + icmp_field::CODE],
            }
        }
        // As `parse_l4`: any other protocol (ICMPv6's number included, over IPv4) is
        // named, whatever its payload.
        other => L4::Other(other),
    };
    Some(Plain {
        b,
        flags_frag,
        protocol,
        l4,
    })
}

/// The 5-tuple of a frame that [`Headers::parse_into`]'s one-pass path takes (Ethernet
/// II without VLAN tags, IPv4 without options and not fragmented, then a whole TCP,
/// UDP or ICMP header or any other protocol), read without writing a [`Headers`]: for
/// a caller that needs only the tuple and the frame's shape, which is then that of
/// [`PlainTuple::l4`]. `None` for every other frame (whose headers
/// [`Headers::parse_into`] gives). The values equal the parse's (a unit proptest below
/// compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlainTuple {
    pub(crate) src: u32,
    pub(crate) dst: u32,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) protocol: u8,
    /// Its L4 layer's kind.
    pub(crate) l4: PlainL4,
}

/// The L4 layer of a [`PlainTuple`]'s frame, as the parse names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainL4 {
    /// TCP: the ports are the segment's.
    Tcp,
    /// UDP: the ports are the datagram's.
    Udp,
    /// ICMP (ports 0).
    Icmp,
    /// Any other protocol (ports 0).
    Other,
}

impl PlainL4 {
    /// Whether the frame has ports (TCP or UDP).
    #[inline(always)]
    pub(crate) const fn has_ports(self) -> bool {
        matches!(self, PlainL4::Tcp | PlainL4::Udp)
    }
}

impl PlainTuple {
    /// The tuple of `frame`, if the one-pass parse takes it.
    #[inline(always)]
    pub(crate) fn of(frame: &[u8]) -> Option<PlainTuple> {
        let p = plain(frame)?;
        let (src_port, dst_port, l4) = match p.l4 {
            L4::Tcp {
                src_port, dst_port, ..
            } => (src_port, dst_port, PlainL4::Tcp),
            L4::Udp { src_port, dst_port } => (src_port, dst_port, PlainL4::Udp),
            L4::Icmp { .. } => (0, 0, PlainL4::Icmp),
            _ => (0, 0, PlainL4::Other),
        };
        Some(PlainTuple {
            src: u32::from(be32_addr(p.b, PLAIN_L3 + ipv4::field::SRC)),
            dst: u32::from(be32_addr(p.b, PLAIN_L3 + ipv4::field::DST)),
            src_port,
            dst_port,
            protocol: p.protocol,
            l4,
        })
    }
}

/// The frames most traffic is made of, in one pass: Ethernet II without VLAN tags,
/// IPv4 without options and not fragmented, a whole TCP, UDP or ICMP header or another
/// protocol (GRE, ESP, ...), in a frame of at least 42 bytes. One length
/// check and a few compares stand in for the general parse's per-layer checks, and
/// `h` is written once. Returns false, with `h` untouched, for any other frame (which
/// [`parse_layers`] then parses). The result equals `parse_layers`'s (a unit proptest
/// below compares them on built and mutated frames).
#[inline(always)]
fn parse_plain_ipv4(frame: &[u8], h: &mut Headers) -> bool {
    use ipv4::field as ip;
    const L3: usize = PLAIN_L3;
    const L4: usize = PLAIN_L4;
    let Some(Plain {
        b,
        flags_frag,
        protocol,
        l4,
    }) = plain(frame)
    else {
        return false;
    };
    let tos = b[L3 + ip::TOS];
    *h = Headers {
        len: frame.len(),
        eth: Some(EthHeader {
            dst: bytes::array_or_zero(b, ethernet::field::DST),
            src: bytes::array_or_zero(b, ethernet::field::SRC),
            ethertype: ethertype::IPV4,
            vlan: [None; 2],
        }),
        l3: L3::Ipv4(Ipv4Header {
            src: be32_addr(b, L3 + ip::SRC),
            dst: be32_addr(b, L3 + ip::DST),
            protocol,
            dscp: tos >> 2,
            ecn: tos & 0x03,
            ttl: b[L3 + ip::TTL],
            header_len: ip::MIN_HEADER_LEN as u8,
            fragment: Fragment {
                is_fragment: false,
                offset: 0,
                more: false,
                dont_fragment: flags_frag & ip::DF != 0,
            },
        }),
        l4,
        offsets: Offsets {
            l3: Some(L3 as u16),
            l4: Some(L4 as u16),
        },
        malformed: None,
    };
    true
}

/// [`Headers::parse_into`] for every frame, layer by layer. Out of line: the one-pass
/// path inlines into the callers without this one's stack frame.
#[inline(never)]
fn parse_layers(frame: &[u8], h: &mut Headers) {
    *h = Headers {
        len: frame.len(),
        ..Headers::default()
    };
    let Some(b) = frame.first_chunk::<{ ethernet::field::HEADER_LEN }>() else {
        h.malformed = Some(Malformed::TruncatedEthernet);
        return;
    };
    let mut eth = EthHeader {
        dst: bytes::array_or_zero(b, ethernet::field::DST),
        src: bytes::array_or_zero(b, ethernet::field::SRC),
        ethertype: be16(b, ethernet::field::ETHERTYPE),
        vlan: [None; 2],
    };
    let mut off = ethernet::field::HEADER_LEN;
    let mut tags = 0;
    while is_vlan_tpid(eth.ethertype) && tags < MAX_VLAN_TAGS {
        if frame.len() < off + vlan_field::TAG_LEN {
            h.eth = Some(eth);
            h.malformed = Some(Malformed::TruncatedEthernet);
            return;
        }
        if let Some(slot) = eth.vlan.get_mut(tags) {
            *slot = Some(VlanTag {
                tpid: eth.ethertype,
                tci: bytes::u16_at(frame, off + vlan_field::TCI),
            });
        }
        eth.ethertype = bytes::u16_at(frame, off + vlan_field::ETHERTYPE);
        off += vlan_field::TAG_LEN;
        tags += 1;
    }
    h.eth = Some(eth);
    h.offsets.l3 = offset(off);
    let l3 = bytes::range(frame, off, frame.len());
    match eth.ethertype {
        ethertype::IPV4 => parse_ipv4(h, l3, off),
        ethertype::IPV6 => parse_ipv6(h, l3, off),
        other => h.l3 = L3::Other(other),
    }
}

/// The big-endian `u16` at `off` of a fixed-size header (a constant offset inside it:
/// no bounds check left at run time).
#[inline(always)]
fn be16<const N: usize>(b: &[u8; N], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// The fixed IPv4 header is read as one array (one length check, not one per field);
/// the fields and checks are those of [`Ipv4Packet`]'s accessors and `check_len`
/// (`tests/packet_proptest.rs` compares them on arbitrary bytes).
fn parse_ipv4(h: &mut Headers, l3: &[u8], l3_off: usize) {
    let Some(b) = l3.first_chunk::<{ ipv4::field::MIN_HEADER_LEN }>() else {
        h.malformed = Some(Malformed::BadIpHeader);
        return;
    };
    let ver_ihl = b[ipv4::field::VER_IHL];
    if ver_ihl >> 4 != 4 {
        h.malformed = Some(Malformed::BadIpHeader);
        return;
    }
    let flags_frag = be16(b, ipv4::field::FLAGS_FRAG);
    let offset = flags_frag & ipv4::field::OFFSET_MASK;
    let more = flags_frag & ipv4::field::MF != 0;
    let header_len = (ver_ihl & 0x0f) * 4;
    let protocol = b[ipv4::field::PROTOCOL];
    let tos = b[ipv4::field::TOS];
    h.l3 = L3::Ipv4(Ipv4Header {
        src: be32_addr(b, ipv4::field::SRC),
        dst: be32_addr(b, ipv4::field::DST),
        protocol,
        dscp: tos >> 2,
        ecn: tos & 0x03,
        ttl: b[ipv4::field::TTL],
        header_len,
        fragment: Fragment {
            is_fragment: more || offset != 0,
            offset,
            more,
            dont_fragment: flags_frag & ipv4::field::DF != 0,
        },
    });
    // `Ipv4Packet::check_len`: IHL >= 5, the options and `total_len` inside the
    // buffer, `total_len` >= the header.
    let (hl, total) = (
        usize::from(header_len),
        usize::from(be16(b, ipv4::field::TOTAL_LEN)),
    );
    if hl < ipv4::field::MIN_HEADER_LEN || l3.len() < hl || total < hl || l3.len() < total {
        h.malformed = Some(Malformed::BadIpHeader);
        return;
    }
    if offset != 0 {
        return;
    }
    parse_l4(h, protocol, bytes::range(l3, hl, total), l3_off + hl, false);
}

/// The IPv4 address at `off` of a fixed-size header.
#[inline(always)]
fn be32_addr<const N: usize>(b: &[u8; N], off: usize) -> core::net::Ipv4Addr {
    core::net::Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3])
}

fn parse_ipv6(h: &mut Headers, l3: &[u8], l3_off: usize) {
    let ip = Ipv6Packet::new_unchecked(l3);
    if l3.len() < ipv6::field::HEADER_LEN || ip.version() != 6 {
        h.malformed = Some(Malformed::BadIpHeader);
        return;
    }
    let mut hdr = Ipv6Header {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        next_header: ip.next_header(),
        traffic_class: ip.traffic_class(),
        flow_label: ip.flow_label(),
        hop_limit: ip.hop_limit(),
        fragment: Fragment::default(),
    };
    if ip.check_len().is_err() {
        h.l3 = L3::Ipv6(hdr);
        h.malformed = Some(Malformed::BadIpHeader);
        return;
    }
    // Offsets below are relative to the IPv6 payload.
    let payload = ip.payload();
    let mut nh = hdr.next_header;
    let mut off = 0usize;
    let mut walked = 0usize;
    while ext::is_walked(nh) {
        let rest = bytes::range(payload, off, payload.len());
        let bad = walked == MAX_IPV6_EXT_HEADERS
            || (nh == ext::HOP_BY_HOP && walked > 0)
            || rest.len() < 2
            || rest.len() < ext::header_len(nh, bytes::u8_at(rest, ext::LEN));
        if bad {
            hdr.next_header = nh;
            h.l3 = L3::Ipv6(hdr);
            h.malformed = Some(Malformed::BadIpv6Extension);
            return;
        }
        walked += 1;
        let next = bytes::u8_at(rest, ext::NEXT_HEADER);
        if nh == ext::FRAGMENT {
            let word = bytes::u16_at(rest, ext::FRAG_OFFSET_FLAGS);
            let frag_offset = word >> 3;
            let more = word & ext::FRAG_M != 0;
            hdr.fragment = Fragment {
                is_fragment: more || frag_offset != 0,
                offset: frag_offset,
                more,
                dont_fragment: false,
            };
            if frag_offset != 0 {
                hdr.next_header = next;
                h.l3 = L3::Ipv6(hdr);
                return;
            }
        }
        off += ext::header_len(nh, bytes::u8_at(rest, ext::LEN));
        nh = next;
    }
    hdr.next_header = nh;
    h.l3 = L3::Ipv6(hdr);
    let l4 = bytes::range(payload, off, payload.len());
    parse_l4(h, nh, l4, l3_off + ipv6::field::HEADER_LEN + off, true);
}

fn parse_l4(h: &mut Headers, proto: u8, seg: &[u8], l4_off: usize, v6: bool) {
    let l4 = match proto {
        ip_proto::TCP => match seg.first_chunk::<{ tcp_field::MIN_HEADER_LEN }>() {
            Some(b) => {
                let hl = usize::from(b[tcp_field::DATA_OFF] >> 4) * 4;
                (hl >= tcp_field::MIN_HEADER_LEN && seg.len() >= hl).then(|| L4::Tcp {
                    src_port: be16(b, tcp_field::SRC_PORT),
                    dst_port: be16(b, tcp_field::DST_PORT),
                    flags: b[tcp_field::FLAGS],
                })
            }
            None => None,
        },
        ip_proto::UDP => seg
            .first_chunk::<{ udp_field::HEADER_LEN }>()
            .map(|b| L4::Udp {
                src_port: be16(b, udp_field::SRC_PORT),
                dst_port: be16(b, udp_field::DST_PORT),
            }),
        ip_proto::ICMP if !v6 => (seg.len() >= icmp_field::HEADER_LEN).then(|| L4::Icmp {
            icmp_type: bytes::u8_at(seg, icmp_field::TYPE),
            code: bytes::u8_at(seg, icmp_field::CODE),
        }),
        ip_proto::ICMPV6 if v6 => (seg.len() >= icmp_field::HEADER_LEN).then(|| L4::Icmp6 {
            icmp_type: bytes::u8_at(seg, icmp_field::TYPE),
            code: bytes::u8_at(seg, icmp_field::CODE),
        }),
        other => Some(L4::Other(other)),
    };
    match l4 {
        Some(l4) => {
            h.l4 = l4;
            h.offsets.l4 = offset(l4_off);
        }
        None => h.malformed = Some(Malformed::TruncatedL4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::PacketBuilder;
    use proptest::prelude::*;

    /// The general parse alone.
    fn layers(frame: &[u8]) -> Headers {
        let mut h = Headers::default();
        parse_layers(frame, &mut h);
        h
    }

    #[test]
    fn plain_ipv4_takes_the_one_pass_path() {
        let (a, b) = ([10, 0, 0, 1].into(), [192, 0, 2, 9].into());
        for frame in [
            PacketBuilder::tcp4(a, b, 40000, 80).build(),
            PacketBuilder::udp4(a, b, 53, 5353).payload(b"q").build(),
            PacketBuilder::tcp4(a, b, 1, 2)
                .dont_fragment(true)
                .pad_to(60)
                .build(),
            PacketBuilder::icmp4(a, b, 8, 0).build(),
            PacketBuilder::ipv4(a, b, 47).payload(&[0; 8]).build(),
            // Another protocol needs no header of its own (the frame is padded).
            PacketBuilder::ipv4(a, b, 50).pad_to(60).build(),
        ] {
            let mut h = Headers::default();
            assert!(parse_plain_ipv4(&frame, &mut h));
            assert_eq!(h, layers(&frame));
            assert_eq!(PlainTuple::of(&frame), Some(tuple_of(&h)));
        }
        // Not plain: a VLAN tag, IPv4 options, a first fragment, a frame shorter
        // than 42 bytes.
        for frame in [
            PacketBuilder::tcp4(a, b, 1, 2).vlan(7).build(),
            PacketBuilder::tcp4(a, b, 1, 2)
                .ipv4_options(&[1, 1, 1, 0])
                .build(),
            PacketBuilder::udp4(a, b, 1, 2).fragment(0, true).build(),
            PacketBuilder::ipv4(a, b, 47).build(),
        ] {
            let mut h = Headers::default();
            assert!(!parse_plain_ipv4(&frame, &mut h));
            assert_eq!(h, Headers::default(), "left untouched");
            assert_eq!(PlainTuple::of(&frame), None);
        }
    }

    /// A plain frame's tuple, from its parsed headers.
    fn tuple_of(h: &Headers) -> PlainTuple {
        let L3::Ipv4(ip) = h.l3 else {
            panic!("a plain frame is IPv4: {h:?}")
        };
        let (src_port, dst_port, l4) = match h.l4 {
            L4::Tcp {
                src_port, dst_port, ..
            } => (src_port, dst_port, PlainL4::Tcp),
            L4::Udp { src_port, dst_port } => (src_port, dst_port, PlainL4::Udp),
            L4::Icmp { .. } => (0, 0, PlainL4::Icmp),
            L4::Other(_) => (0, 0, PlainL4::Other),
            other => panic!("a plain frame's L4 is parsed: {other:?}"),
        };
        PlainTuple {
            src: u32::from(ip.src),
            dst: u32::from(ip.dst),
            src_port,
            dst_port,
            protocol: ip.protocol,
            l4,
        }
    }

    fn built() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<(u16, u16)>(),
            0u8..5,
            any::<bool>(),
            0usize..40,
        )
            .prop_map(|(a, b, (sp, dp), kind, df, payload)| {
                let (a, b) = (a.into(), b.into());
                let pb = match kind {
                    0 | 1 => PacketBuilder::tcp4(a, b, sp, dp),
                    2 => PacketBuilder::udp4(a, b, sp, dp),
                    3 => PacketBuilder::icmp4(a, b, 8, 0),
                    // GRE (the flips below make other numbers, ICMPv6's among them).
                    _ => PacketBuilder::ipv4(a, b, 47),
                };
                let pb = pb.dont_fragment(df).payload(&vec![0xa5; payload]);
                if kind == 1 { pb.pad_to(60) } else { pb }.build()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The one-pass path gives what the general parse gives, on built frames with
        /// bytes of their headers changed (ethertype, version and IHL, lengths, flags and
        /// fragment offset, protocol, TCP data offset) and cut at any length.
        #[test]
        fn the_one_pass_path_agrees_with_the_general_parse(
            frame in built(),
            flips in proptest::collection::vec((0usize..60, any::<u8>()), 0..3),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut m = frame;
            for &(i, x) in &flips {
                if let Some(b) = m.get_mut(i) {
                    *b ^= x;
                }
            }
            let n = cut.index(m.len() + 1);
            for f in [&m[..], &m[..n]] {
                let h = Headers::parse(f);
                prop_assert_eq!(h, layers(f));
                // The tuple without the headers: given exactly for the frames the
                // one-pass path takes, with the parse's values.
                let mut one = Headers::default();
                let plain = parse_plain_ipv4(f, &mut one);
                prop_assert_eq!(PlainTuple::of(f), plain.then(|| tuple_of(&h)));
            }
        }
    }
}
