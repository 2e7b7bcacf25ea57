//! Applying an entry's header actions to frame bytes, through [`packet::modify`]
//! (which keeps every checksum right by incremental update).
//!
//! An action on a header the packet does not have is skipped, as the hardware skips it
//! (e.g. `ipv4_dst` on an IPv6 packet, ports on a non-first fragment). Decrementing a TTL
//! of 0 leaves it at 0.

use crate::action::Actions;
use crate::packet::{Headers, L3, modify};

/// Applies the header rewrites of `a` to `pkt`, whose parse is `h`.
pub(super) fn apply(a: &Actions, pkt: &mut [u8], h: &Headers) {
    // Each call either applies or leaves the frame unchanged; a missing header is not an
    // error for the data path.
    if let Some(m) = a.eth_src {
        let _ = modify::set_eth_src(pkt, h, m);
    }
    if let Some(m) = a.eth_dst {
        let _ = modify::set_eth_dst(pkt, h, m);
    }
    match h.l3 {
        L3::Ipv4(_) => {
            if let Some(v) = a.ipv4_src {
                let _ = modify::set_ipv4_src(pkt, h, v);
            }
            if let Some(v) = a.ipv4_dst {
                let _ = modify::set_ipv4_dst(pkt, h, v);
            }
            if let Some(t) = a.ttl {
                let _ = modify::set_ipv4_ttl(pkt, h, t);
            }
            if a.dec_ttl {
                let _ = modify::decrement_ipv4_ttl(pkt, h);
            }
            if let Some(d) = a.dscp {
                let _ = modify::set_ipv4_dscp(pkt, h, d);
            }
        }
        L3::Ipv6(_) => {
            if let Some(v) = a.ipv6_src {
                let _ = modify::set_ipv6_src(pkt, h, v);
            }
            if let Some(v) = a.ipv6_dst {
                let _ = modify::set_ipv6_dst(pkt, h, v);
            }
            if let Some(t) = a.ttl {
                let _ = modify::set_ipv6_hop_limit(pkt, h, t);
            }
            if a.dec_ttl {
                let _ = modify::decrement_ipv6_hop_limit(pkt, h);
            }
            if let Some(d) = a.dscp {
                let _ = modify::set_ipv6_dscp(pkt, h, d);
            }
        }
        L3::None | L3::Other(_) => {}
    }
    if let Some(p) = a.l4_src_port {
        let _ = modify::set_src_port(pkt, h, p);
    }
    if let Some(p) = a.l4_dst_port {
        let _ = modify::set_dst_port(pkt, h, p);
    }
}
