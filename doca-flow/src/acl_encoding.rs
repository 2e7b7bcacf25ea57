//! DOCA's encoding of ACL entries as `match` + `match_mask`, which the ACL pipe
//! ([`crate::pipe::acl`]) writes and the software backend reads back: it sits below
//! both, so neither reaches into the other.
//!
//! DOCA's ACL pipe takes an entry as `match` + `match_mask`: addresses in `match`, their
//! masks (prefixes) in `match_mask`; the protocol in `match`, `0xff` in the mask to match it
//! (`0` for any); and **L4 port ranges as `[value..mask]`: `match` carries the low port and
//! `match_mask` the high port**. This crate encodes and decodes exactly that:
//!
//! | range | `match` port | `match_mask` port |
//! |---|---|---|
//! | any (`0..=65535`) | any (0) | 0 |
//! | exact `p` | p | p |
//! | `lo..=hi`, `lo < hi` | lo | hi |
//!
//! These are the rules of NVIDIA's `flow_acl` sample: a zero mask port means any port, a mask
//! equal to the value an exact port, a mask above the value a range, a mask below the value
//! an error. Port 0 alone (`0..=0`) cannot be expressed and is refused. Ports live in DOCA's
//! `outer.transport` (TCP or UDP); the protocol is matched on `next_proto` (DOCA's sample
//! also sets `parser_meta.outer_l4_type`, which is equivalent for TCP and UDP).
//!
//! A rule with a non-full port range never matches a packet without ports (ICMP, non-first
//! fragments); a rule with full ranges does.

use crate::error::{Error, Result};
use crate::matching::{Field, Match, prefix_mask};
use crate::net::Family;
use crate::net::PortRange;

/// The largest ACL priority DOCA accepts (1025 levels, 0 the highest). The software
/// backend can be told to take any (`SwBackend::unbounded_acl_priorities`).
pub const ACL_MAX_PRIORITY: u32 = 1024;

/// The address and protocol fields of a family's ACL match.
pub(crate) fn fields(fam: Family) -> (Field, Field, Field) {
    match fam {
        Family::Ipv4 => (Field::Ipv4Src, Field::Ipv4Dst, Field::Ipv4Proto),
        Family::Ipv6 => (Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6NextHeader),
    }
}

/// DOCA's `(match port, match_mask port)` for a range.
///
/// # Errors
/// [`Error::Invalid`] for `0..=0` (a [`PortRange`] is never inverted).
pub fn encode_ports(r: PortRange) -> Result<(u16, u16)> {
    if r.is_any() {
        Ok((0, 0))
    } else if r.hi == 0 {
        Err(Error::Invalid {
            what: "port range",
            reason: "0..=0 cannot be encoded in DOCA's ACL".into(),
        })
    } else {
        Ok((r.lo, r.hi))
    }
}

/// The range DOCA's `(match port, match_mask port)` means.
///
/// A zero mask means any port, whatever the value.
///
/// # Errors
/// [`Error::Invalid`] when `value > mask` and `mask != 0`.
pub fn decode_ports(value: u16, mask: u16) -> Result<PortRange> {
    match (value, mask) {
        (_, 0) => Ok(PortRange::ANY),
        (lo, hi) if lo <= hi => Ok(PortRange { lo, hi }),
        (lo, hi) => Err(Error::Invalid {
            what: "acl ports",
            reason: format!("low port {lo} above high port {hi}"),
        }),
    }
}

/// A decoded ACL entry, family-independent (addresses as `u128`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodedAcl {
    pub(crate) src: (u128, u8),
    pub(crate) dst: (u128, u8),
    pub(crate) src_port: PortRange,
    pub(crate) dst_port: PortRange,
    pub(crate) proto: u8,
    pub(crate) proto_mask: u8,
    pub(crate) priority: u32,
}

fn prefix_len(f: Field, mask: u128) -> Result<u8> {
    let len = (mask << (128 - f.bits())).leading_ones() as u8;
    if prefix_mask(f, len) != mask {
        return Err(Error::Invalid {
            what: "acl address mask",
            reason: format!("{mask:#x} is not a prefix"),
        });
    }
    Ok(len)
}

/// Decodes DOCA's ACL `(match, match_mask)`.
pub(crate) fn decode_acl(fam: Family, m: &Match, k: &Match, priority: u32) -> Result<DecodedAcl> {
    let (sf, df, pf) = fields(fam);
    let sl = prefix_len(sf, k.get(sf))?;
    let dl = prefix_len(df, k.get(df))?;
    Ok(DecodedAcl {
        src: (m.get(sf) & k.get(sf), sl),
        dst: (m.get(df) & k.get(df), dl),
        src_port: decode_ports(
            m.get(Field::TransportSrcPort) as u16,
            k.get(Field::TransportSrcPort) as u16,
        )?,
        dst_port: decode_ports(
            m.get(Field::TransportDstPort) as u16,
            k.get(Field::TransportDstPort) as u16,
        )?,
        proto: m.get(pf) as u8,
        proto_mask: k.get(pf) as u8,
        priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_encoding_roundtrip() {
        for r in [
            PortRange::ANY,
            PortRange::single(80),
            PortRange::new(1024, 65535).unwrap(),
            PortRange::new(0, 1023).unwrap(),
        ] {
            let (v, m) = encode_ports(r).unwrap();
            assert_eq!(decode_ports(v, m).unwrap(), r);
        }
        assert_eq!(
            encode_ports(PortRange::new(1000, 2000).unwrap()).unwrap(),
            (1000, 2000)
        );
        assert!(encode_ports(PortRange::single(0)).is_err());
        assert_eq!(decode_ports(443, 0).unwrap(), PortRange::ANY);
        assert_eq!(decode_ports(443, 443).unwrap(), PortRange::single(443));
        assert!(decode_ports(10, 5).is_err());
    }
}
