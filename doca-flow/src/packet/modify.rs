//! Header rewrites for the software pipeline's modify-header actions.
//!
//! Each function takes the frame and the [`Headers`] that
//! [`Headers::parse`] produced for it, rewrites one field in place and
//! keeps every checksum that covers the field correct by incremental
//! update (RFC 1624):
//!
//! * IPv4 addresses, TTL and DSCP: the IPv4 header checksum;
//! * IPv4 / IPv6 addresses: also the TCP, UDP and (IPv6) ICMPv6 checksum,
//!   whose pseudo-header holds them;
//! * ports: the TCP / UDP checksum.
//!
//! A UDP checksum of 0 over IPv4 means "none" and stays 0; over IPv6 it is
//! mandatory and always updated (a result of 0 is written as 0xffff). A
//! non-first fragment carries no L4 header, so only the IP checksum is
//! updated for it. The old value is read from the frame, not from
//! `Headers`, so several modifications may be applied with the same
//! `Headers`; its fields are not updated (re-parse to read them back).
//!
//! Only TCP, UDP and ICMPv6 checksums are maintained; other protocols
//! ([`L4::Other`], e.g. GRE, SCTP, ESP) and L4 headers the parser did not
//! reach (a frame marked malformed) are left alone. Frames whose IP
//! header is [`Malformed::BadIpHeader`] are refused.
//!
//! On error the frame is left unchanged.
//!
//! [`Malformed::BadIpHeader`]: super::Malformed::BadIpHeader
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::{Headers, L4, PacketBuilder, modify};
//!
//! let mut frame = PacketBuilder::tcp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1234, 80)
//!     .build();
//! let h = Headers::parse(&frame);
//! modify::set_ipv4_dst(&mut frame, &h, [192, 0, 2, 9].into()).unwrap();
//! modify::set_dst_port(&mut frame, &h, 8080).unwrap();
//! assert_eq!(Headers::parse(&frame).dst_port(), Some(8080));
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

use super::ethernet::field as eth_field;
use super::ipv4::field as v4_field;
use super::ipv6::field as v6_field;
use super::l4::{icmp_field, tcp_field, udp_field};
use super::{Headers, L3, L4, checksum};

/// Why a modify action could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyError {
    /// The frame has no Ethernet header.
    #[error("cannot modify the Ethernet header: frame has none")]
    NoEthernet,
    /// The frame has no (valid) IPv4 header.
    #[error("cannot modify the IPv4 header: frame has none")]
    NoIpv4,
    /// The frame has no (valid) IPv6 header.
    #[error("cannot modify the IPv6 header: frame has none")]
    NoIpv6,
    /// The frame has no TCP or UDP header (or is a non-first fragment).
    #[error("cannot modify L4 ports: frame has no TCP or UDP header")]
    NoTransport,
    /// The TTL / hop limit is already 0 and cannot be decremented.
    #[error("cannot decrement TTL / hop limit: already 0")]
    TtlExpired,
    /// DSCP values are 6 bits.
    #[error("DSCP {0} is out of range (0..=63)")]
    InvalidDscp(u8),
    /// The buffer is shorter than the offsets in `Headers` say: the
    /// `Headers` were not parsed from this frame.
    #[error("frame is shorter than its parsed headers (headers from another frame?)")]
    FrameMismatch,
}

/// A checksum field to keep right when bytes it covers change.
#[derive(Clone, Copy)]
struct Site {
    at: usize,
    /// UDP: a stored 0 means "no checksum" (IPv4 only) and stays 0.
    zero_means_none: bool,
    /// UDP: a computed 0 is written as 0xffff.
    udp: bool,
}

/// Writes `new` at `at` and updates the checksums at `sites`. Checks every
/// range first so that an error leaves the frame unchanged.
fn rewrite<const N: usize>(
    frame: &mut [u8],
    at: usize,
    new: [u8; N],
    sites: &[Option<Site>],
) -> Result<(), ModifyError> {
    let in_range =
        |start: usize, len: usize| start.checked_add(len).is_some_and(|end| end <= frame.len());
    if !in_range(at, N) || sites.iter().flatten().any(|s| !in_range(s.at, 2)) {
        return Err(ModifyError::FrameMismatch);
    }
    let old: [u8; N] = super::bytes::array(frame, at).ok_or(ModifyError::FrameMismatch)?;
    super::bytes::set_bytes(frame, at, &new);
    for site in sites.iter().flatten() {
        let stored = super::bytes::u16_at(frame, site.at);
        if site.zero_means_none && stored == 0 {
            continue;
        }
        let mut updated = checksum::update(stored, &old, &new);
        if site.udp && updated == 0 {
            updated = 0xffff;
        }
        super::bytes::set_u16(frame, site.at, updated);
    }
    Ok(())
}

fn l3_off(h: &Headers) -> Result<usize, ModifyError> {
    h.offsets
        .l3
        .map(usize::from)
        .ok_or(ModifyError::FrameMismatch)
}

fn ipv4_l3(h: &Headers) -> Result<usize, ModifyError> {
    match (h.l3, h.malformed) {
        (L3::Ipv4(_), Some(super::Malformed::BadIpHeader)) => Err(ModifyError::NoIpv4),
        (L3::Ipv4(_), _) => l3_off(h),
        _ => Err(ModifyError::NoIpv4),
    }
}

fn ipv6_l3(h: &Headers) -> Result<usize, ModifyError> {
    match (h.l3, h.malformed) {
        (L3::Ipv6(_), Some(super::Malformed::BadIpHeader)) => Err(ModifyError::NoIpv6),
        (L3::Ipv6(_), _) => l3_off(h),
        _ => Err(ModifyError::NoIpv6),
    }
}

/// The L4 checksum that covers the pseudo-header (TCP, UDP, ICMPv6), if
/// the frame carries one.
fn pseudo_site(h: &Headers) -> Option<Site> {
    let l4 = usize::from(h.offsets.l4?);
    let v4 = matches!(h.l3, L3::Ipv4(_));
    match h.l4 {
        L4::Tcp { .. } => Some(Site {
            at: l4 + tcp_field::CHECKSUM,
            zero_means_none: false,
            udp: false,
        }),
        L4::Udp { .. } => Some(Site {
            at: l4 + udp_field::CHECKSUM,
            zero_means_none: v4,
            udp: true,
        }),
        L4::Icmp6 { .. } => Some(Site {
            at: l4 + icmp_field::CHECKSUM,
            zero_means_none: false,
            udp: false,
        }),
        _ => None,
    }
}

fn ipv4_site(l3: usize) -> Option<Site> {
    Some(Site {
        at: l3 + v4_field::CHECKSUM,
        zero_means_none: false,
        udp: false,
    })
}

/// Sets the Ethernet source MAC.
///
/// # Errors
///
/// [`ModifyError::NoEthernet`] if the frame has no Ethernet header.
pub fn set_eth_src(frame: &mut [u8], h: &Headers, mac: [u8; 6]) -> Result<(), ModifyError> {
    h.eth.ok_or(ModifyError::NoEthernet)?;
    rewrite(frame, eth_field::SRC, mac, &[])
}

/// Sets the Ethernet destination MAC.
///
/// # Errors
///
/// [`ModifyError::NoEthernet`] if the frame has no Ethernet header.
pub fn set_eth_dst(frame: &mut [u8], h: &Headers, mac: [u8; 6]) -> Result<(), ModifyError> {
    h.eth.ok_or(ModifyError::NoEthernet)?;
    rewrite(frame, eth_field::DST, mac, &[])
}

/// Sets the IPv4 source address, updating the IPv4 and TCP/UDP checksums.
///
/// # Errors
///
/// [`ModifyError::NoIpv4`] if the frame has no valid IPv4 header;
/// [`ModifyError::FrameMismatch`] if `h` does not describe `frame`.
pub fn set_ipv4_src(frame: &mut [u8], h: &Headers, addr: Ipv4Addr) -> Result<(), ModifyError> {
    let l3 = ipv4_l3(h)?;
    rewrite(
        frame,
        l3 + v4_field::SRC,
        addr.octets(),
        &[ipv4_site(l3), pseudo_site(h)],
    )
}

/// Sets the IPv4 destination address, updating the IPv4 and TCP/UDP
/// checksums.
///
/// # Errors
///
/// As [`set_ipv4_src`].
pub fn set_ipv4_dst(frame: &mut [u8], h: &Headers, addr: Ipv4Addr) -> Result<(), ModifyError> {
    let l3 = ipv4_l3(h)?;
    rewrite(
        frame,
        l3 + v4_field::DST,
        addr.octets(),
        &[ipv4_site(l3), pseudo_site(h)],
    )
}

/// Sets the IPv4 TTL, updating the IPv4 header checksum.
///
/// # Errors
///
/// As [`set_ipv4_src`].
pub fn set_ipv4_ttl(frame: &mut [u8], h: &Headers, ttl: u8) -> Result<(), ModifyError> {
    let l3 = ipv4_l3(h)?;
    // TTL shares a 16-bit word with the protocol.
    let at = l3 + v4_field::TTL;
    let protocol = super::bytes::array::<2>(frame, at).ok_or(ModifyError::FrameMismatch)?[1];
    rewrite(frame, at, [ttl, protocol], &[ipv4_site(l3)])
}

/// Sets the IPv4 DSCP (keeping ECN), updating the IPv4 header checksum.
///
/// # Errors
///
/// [`ModifyError::InvalidDscp`] if `dscp > 63`; otherwise as
/// [`set_ipv4_src`].
pub fn set_ipv4_dscp(frame: &mut [u8], h: &Headers, dscp: u8) -> Result<(), ModifyError> {
    if dscp > 63 {
        return Err(ModifyError::InvalidDscp(dscp));
    }
    let l3 = ipv4_l3(h)?;
    // The TOS byte shares a 16-bit word with version / IHL.
    let at = l3 + v4_field::VER_IHL;
    let [ver_ihl, tos] = super::bytes::array::<2>(frame, at).ok_or(ModifyError::FrameMismatch)?;
    rewrite(
        frame,
        at,
        [ver_ihl, (dscp << 2) | (tos & 0x03)],
        &[ipv4_site(l3)],
    )
}

/// Decrements the IPv4 TTL, updating the header checksum, and returns the
/// new TTL (a router drops the packet when it reaches 0).
///
/// # Errors
///
/// [`ModifyError::TtlExpired`] if the TTL is already 0; otherwise as
/// [`set_ipv4_src`].
pub fn decrement_ipv4_ttl(frame: &mut [u8], h: &Headers) -> Result<u8, ModifyError> {
    let l3 = ipv4_l3(h)?;
    let ttl = frame
        .get(l3 + v4_field::TTL)
        .copied()
        .ok_or(ModifyError::FrameMismatch)?;
    let ttl = ttl.checked_sub(1).ok_or(ModifyError::TtlExpired)?;
    set_ipv4_ttl(frame, h, ttl)?;
    Ok(ttl)
}

/// Sets the IPv6 source address, updating the TCP/UDP/ICMPv6 checksum.
///
/// # Errors
///
/// [`ModifyError::NoIpv6`] if the frame has no valid IPv6 header;
/// [`ModifyError::FrameMismatch`] if `h` does not describe `frame`.
pub fn set_ipv6_src(frame: &mut [u8], h: &Headers, addr: Ipv6Addr) -> Result<(), ModifyError> {
    let l3 = ipv6_l3(h)?;
    rewrite(frame, l3 + v6_field::SRC, addr.octets(), &[pseudo_site(h)])
}

/// Sets the IPv6 destination address, updating the TCP/UDP/ICMPv6
/// checksum.
///
/// # Errors
///
/// As [`set_ipv6_src`].
pub fn set_ipv6_dst(frame: &mut [u8], h: &Headers, addr: Ipv6Addr) -> Result<(), ModifyError> {
    let l3 = ipv6_l3(h)?;
    rewrite(frame, l3 + v6_field::DST, addr.octets(), &[pseudo_site(h)])
}

/// Sets the IPv6 hop limit (no checksum covers it).
///
/// # Errors
///
/// As [`set_ipv6_src`].
pub fn set_ipv6_hop_limit(frame: &mut [u8], h: &Headers, hop_limit: u8) -> Result<(), ModifyError> {
    let l3 = ipv6_l3(h)?;
    rewrite(frame, l3 + v6_field::HOP_LIMIT, [hop_limit], &[])
}

/// Decrements the IPv6 hop limit and returns the new value.
///
/// # Errors
///
/// [`ModifyError::TtlExpired`] if it is already 0; otherwise as
/// [`set_ipv6_src`].
pub fn decrement_ipv6_hop_limit(frame: &mut [u8], h: &Headers) -> Result<u8, ModifyError> {
    let l3 = ipv6_l3(h)?;
    let hop = frame
        .get(l3 + v6_field::HOP_LIMIT)
        .copied()
        .ok_or(ModifyError::FrameMismatch)?;
    let hop = hop.checked_sub(1).ok_or(ModifyError::TtlExpired)?;
    set_ipv6_hop_limit(frame, h, hop)?;
    Ok(hop)
}

/// Sets the DSCP part of the IPv6 traffic class (keeping ECN and the flow
/// label; no checksum covers it).
///
/// # Errors
///
/// [`ModifyError::InvalidDscp`] if `dscp > 63`; otherwise as
/// [`set_ipv6_src`].
pub fn set_ipv6_dscp(frame: &mut [u8], h: &Headers, dscp: u8) -> Result<(), ModifyError> {
    if dscp > 63 {
        return Err(ModifyError::InvalidDscp(dscp));
    }
    let l3 = ipv6_l3(h)?;
    // Traffic class spans bits 4..12 of the first 32-bit word: the low
    // nibble of byte 0 and the high nibble of byte 1. DSCP is its upper
    // 6 bits: byte 0 bits 3..0 and byte 1 bits 7..6.
    let [b0, b1] = super::bytes::array::<2>(frame, l3).ok_or(ModifyError::FrameMismatch)?;
    let nb0 = (b0 & 0xf0) | (dscp >> 2);
    let nb1 = ((dscp & 0x03) << 6) | (b1 & 0x3f);
    rewrite(frame, l3, [nb0, nb1], &[])
}

fn port_rewrite(frame: &mut [u8], h: &Headers, field: usize, port: u16) -> Result<(), ModifyError> {
    if !matches!(h.l4, L4::Tcp { .. } | L4::Udp { .. }) {
        return Err(ModifyError::NoTransport);
    }
    let l4 = h
        .offsets
        .l4
        .map(usize::from)
        .ok_or(ModifyError::NoTransport)?;
    rewrite(frame, l4 + field, port.to_be_bytes(), &[pseudo_site(h)])
}

/// Sets the TCP or UDP source port, updating its checksum.
///
/// # Errors
///
/// [`ModifyError::NoTransport`] if the frame has no TCP or UDP header
/// (including non-first fragments); [`ModifyError::FrameMismatch`] if `h`
/// does not describe `frame`.
pub fn set_src_port(frame: &mut [u8], h: &Headers, port: u16) -> Result<(), ModifyError> {
    // TCP and UDP both hold the source port at offset 0.
    port_rewrite(frame, h, tcp_field::SRC_PORT, port)
}

/// Sets the TCP or UDP destination port, updating its checksum.
///
/// # Errors
///
/// As [`set_src_port`].
pub fn set_dst_port(frame: &mut [u8], h: &Headers, port: u16) -> Result<(), ModifyError> {
    // TCP and UDP both hold the destination port at offset 2.
    port_rewrite(frame, h, tcp_field::DST_PORT, port)
}
