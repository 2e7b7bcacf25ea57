//! Applying header actions to frame bytes.
//!
//! A thin adapter: field writes with incremental checksum fixes (RFC 1624) through
//! [`packet::checksum::update`](crate::packet::checksum::update). When `packet::modify`
//! lands this module forwards to it.

use crate::action::Actions;
use crate::packet::checksum;
use crate::packet::{Headers, L3, L4};

/// Writes `new` at `off` and folds the change into the checksum at `csum_off` (if any).
fn write(pkt: &mut [u8], off: usize, new: &[u8], csums: &[Option<usize>]) {
    let Some(dst) = pkt.get(off..off + new.len()) else {
        return;
    };
    let old: [u8; 16] = {
        let mut o = [0u8; 16];
        o[..new.len()].copy_from_slice(dst);
        o
    };
    let old = &old[..new.len()];
    for &c in csums.iter().flatten() {
        if let Some(b) = pkt.get(c..c + 2) {
            let cur = u16::from_be_bytes([b[0], b[1]]);
            let upd = checksum::update(cur, old, new);
            pkt[c..c + 2].copy_from_slice(&upd.to_be_bytes());
        }
    }
    pkt[off..off + new.len()].copy_from_slice(new);
}

/// Applies the header rewrites of `a` to `pkt`, whose parse is `h`.
pub(super) fn apply(a: &Actions, pkt: &mut [u8], h: &Headers) {
    if h.eth.is_some() {
        if let Some(m) = a.eth_dst {
            write(pkt, 0, &m, &[]);
        }
        if let Some(m) = a.eth_src {
            write(pkt, 6, &m, &[]);
        }
    }
    let (Some(l3), l4) = (h.offsets.l3.map(usize::from), h.offsets.l4.map(usize::from)) else {
        return;
    };
    // Where the L4 checksum lives; UDP checksum 0 means "none" and stays 0.
    let l4_csum = match (h.l4, l4) {
        (L4::Tcp { .. }, Some(o)) => Some(o + 16),
        (L4::Udp { .. }, Some(o)) if pkt.get(o + 6..o + 8).is_some_and(|b| b != [0, 0]) => {
            Some(o + 6)
        }
        _ => None,
    };
    match h.l3 {
        L3::Ipv4(ip) => {
            let ip_csum = Some(l3 + 10);
            if let Some(s) = a.ipv4_src {
                write(pkt, l3 + 12, &s.octets(), &[ip_csum, l4_csum]);
            }
            if let Some(d) = a.ipv4_dst {
                write(pkt, l3 + 16, &d.octets(), &[ip_csum, l4_csum]);
            }
            let mut ttl = a.ttl.unwrap_or(ip.ttl);
            if a.dec_ttl {
                ttl = ttl.saturating_sub(1);
            }
            if ttl != ip.ttl {
                let proto = ip.protocol;
                write(pkt, l3 + 8, &[ttl, proto], &[ip_csum]);
            }
            if let Some(dscp) = a.dscp {
                let tos = (dscp << 2) | (ip.ecn & 3);
                if let Some(&v) = pkt.get(l3) {
                    write(pkt, l3, &[v, tos], &[ip_csum]);
                }
            }
        }
        L3::Ipv6(ip) => {
            if let Some(s) = a.ipv6_src {
                write(pkt, l3 + 8, &s.octets(), &[l4_csum]);
            }
            if let Some(d) = a.ipv6_dst {
                write(pkt, l3 + 24, &d.octets(), &[l4_csum]);
            }
            let mut hl = a.ttl.unwrap_or(ip.hop_limit);
            if a.dec_ttl {
                hl = hl.saturating_sub(1);
            }
            if hl != ip.hop_limit {
                write(pkt, l3 + 7, &[hl], &[]);
            }
            if let Some(dscp) = a.dscp {
                let tc = (dscp << 2) | (ip.traffic_class & 3);
                if let (Some(&b0), Some(&b1)) = (pkt.get(l3), pkt.get(l3 + 1)) {
                    let b0n = (b0 & 0xf0) | (tc >> 4);
                    let b1n = (b1 & 0x0f) | (tc << 4);
                    write(pkt, l3, &[b0n, b1n], &[]);
                }
            }
        }
        L3::None | L3::Other(_) => {}
    }
    if let (Some(o), L4::Tcp { .. } | L4::Udp { .. }) = (l4, h.l4) {
        if let Some(p) = a.l4_src_port {
            write(pkt, o, &p.to_be_bytes(), &[l4_csum]);
        }
        if let Some(p) = a.l4_dst_port {
            write(pkt, o + 2, &p.to_be_bytes(), &[l4_csum]);
        }
    }
}
