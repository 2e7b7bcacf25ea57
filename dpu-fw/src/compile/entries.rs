//! The entries of each pipe kind, from the compiler's view of a rule.

use std::collections::HashMap;

use doca_flow::{Field, L4Type, Match};

use super::plan::{AclMatch, PlanEntry, PlanFwd, PlanMatch};
use super::segment::{Proj, prefix_interval};
use crate::model::{Family, IcmpMatch, PortRange, Prefix};

pub(super) fn ip_prefix(p: Option<&Prefix>, fam: Family) -> Prefix {
    p.copied().unwrap_or(Prefix::any(fam))
}

/// Value/mask blocks that together are exactly `lo..=hi`.
pub fn range_to_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut lo, hi) = (u32::from(lo), u32::from(hi));
    while lo <= hi {
        // The largest aligned block starting at lo that fits.
        let mut size = if lo == 0 {
            1 << 16
        } else {
            lo & lo.wrapping_neg()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, (!(size - 1) & 0xffff) as u16));
        lo += size;
    }
    out
}

pub(super) fn address_field(fam: Family, dst: bool) -> Field {
    match (fam, dst) {
        (Family::Ipv4, true) => Field::Ipv4Dst,
        (Family::Ipv4, false) => Field::Ipv4Src,
        (Family::Ipv6, true) => Field::Ipv6Dst,
        (Family::Ipv6, false) => Field::Ipv6Src,
    }
}

/// The prefixes already placed in a prefix pipe, by length.
#[derive(Default)]
pub(super) struct PrefixSet {
    by_len: HashMap<u8, std::collections::HashSet<u128>>,
}

impl PrefixSet {
    /// Whether a placed prefix contains `(addr, len)`.
    fn covers(&self, addr: u128, len: u8, bits: u8) -> bool {
        self.by_len
            .iter()
            .any(|(&l, set)| l <= len && set.contains(&(addr & mask_bits(l, bits))))
    }

    fn insert(&mut self, addr: u128, len: u8) {
        self.by_len.entry(len).or_default().insert(addr);
    }
}

/// `len` leading ones of a `bits`-wide address, as a `u128` right-aligned.
fn mask_bits(len: u8, bits: u8) -> u128 {
    let full = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    full & !(full.checked_shr(u32::from(len)).unwrap_or(0))
}

/// LPM entries for a pure-prefix rule. Longest-prefix match equals first match once every
/// prefix that an earlier prefix of the pipe contains is left out: such a prefix could
/// never decide a packet (the earlier, shorter one matches first), and among the prefixes
/// kept, a nested pair always has the longer one first.
pub(super) fn prefix_entries(
    p: &Proj,
    dst: bool,
    fam: Family,
    fwd: PlanFwd,
    placed: &mut PrefixSet,
    out: &mut Vec<PlanEntry>,
) {
    let field = address_field(fam, dst);
    let list = if dst { &p.dst } else { &p.src };
    for pfx in list {
        let (addr, _) = prefix_interval(pfx);
        let len = pfx.prefix_len();
        if placed.covers(addr, len, fam.bits()) {
            continue;
        }
        placed.insert(addr, len);
        out.push(PlanEntry {
            rule: Some(p.rule),
            matcher: PlanMatch::Prefix { field, addr, len },
            fwd,
            counter: true,
            meter: None,
            zone: None,
        });
    }
}

fn opt_list<T>(l: &[T]) -> Vec<Option<&T>> {
    if l.is_empty() {
        vec![None]
    } else {
        l.iter().map(Some).collect()
    }
}

pub(super) fn acl_entries(
    p: &Proj,
    prio: u32,
    fam: Family,
    fwd: PlanFwd,
    out: &mut Vec<PlanEntry>,
) {
    let port = |r: Option<&PortRange>| r.copied().unwrap_or(PortRange::ANY);
    for s in opt_list(&p.src) {
        for d in opt_list(&p.dst) {
            for sp in opt_list(&p.sports) {
                for dp in opt_list(&p.dports) {
                    out.push(PlanEntry {
                        rule: Some(p.rule),
                        matcher: PlanMatch::Acl(AclMatch {
                            src: ip_prefix(s, fam),
                            dst: ip_prefix(d, fam),
                            src_port: port(sp),
                            dst_port: port(dp),
                            proto: p.proto,
                            priority: prio,
                        }),
                        fwd,
                        counter: true,
                        meter: None,
                        zone: None,
                    });
                }
            }
        }
    }
}

pub(super) fn control_entries(
    p: &Proj,
    prio: u32,
    fam: Family,
    fwd: PlanFwd,
    out: &mut Vec<PlanEntry>,
) {
    let (sf, df, pf) = match fam {
        Family::Ipv4 => (Field::Ipv4Src, Field::Ipv4Dst, Field::Ipv4Proto),
        Family::Ipv6 => (Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6NextHeader),
    };
    let mut base_v = Match::new();
    let mut base_m = Match::new();
    if let Some(proto) = p.proto {
        base_v.set(pf, proto.into());
        base_m.set(pf, pf.full());
    }
    if let Some(f) = p.tcp_flags {
        base_v.set(Field::TcpFlags, f.value().into());
        base_m.set(Field::TcpFlags, f.mask().into());
        base_v.set(Field::L4Type, L4Type::Tcp as u128);
        base_m.set(Field::L4Type, Field::L4Type.full());
    }
    if let Some(v) = p.vlan {
        base_v.set(Field::Vlan0Tci, v.into());
        base_m.set(Field::Vlan0Tci, 0x0fff);
    }
    // ICMP: the oracle accepts an ICMP or ICMPv6 header, whichever the packet has.
    let icmp: Vec<Option<(Field, Field, IcmpMatch)>> = match p.icmp {
        None => vec![None],
        Some(i) => vec![
            Some((Field::IcmpType, Field::IcmpCode, i)),
            Some((Field::Icmp6Type, Field::Icmp6Code, i)),
        ],
    };
    let blocks = |l: &[PortRange]| -> Vec<Option<(u16, u16)>> {
        if l.is_empty() {
            vec![None]
        } else {
            l.iter()
                .flat_map(|r| range_to_masks(r.lo(), r.hi()))
                .map(Some)
                .collect()
        }
    };
    let (sps, dps) = (blocks(&p.sports), blocks(&p.dports));
    // With TCP flags the ports are TCP's: one L4 header, as DOCA's match holds one (its
    // transport ports and TCP flags live in different members of a union).
    let (spf, dpf) = if p.tcp_flags.is_some() {
        (Field::TcpSrcPort, Field::TcpDstPort)
    } else {
        (Field::TransportSrcPort, Field::TransportDstPort)
    };
    for s in opt_list(&p.src) {
        for d in opt_list(&p.dst) {
            for sp in &sps {
                for dp in &dps {
                    for ic in &icmp {
                        let (mut v, mut m) = (base_v.clone(), base_m.clone());
                        for (f, pfx) in [(sf, s), (df, d)] {
                            if let Some(pfx) = pfx {
                                let (a, _) = prefix_interval(pfx);
                                v.set(f, a);
                                m.set(f, doca_flow::matching::prefix_mask(f, pfx.prefix_len()));
                            }
                        }
                        for (f, b) in [(spf, sp), (dpf, dp)] {
                            if let Some((val, mask)) = b {
                                v.set(f, (*val).into());
                                m.set(f, (*mask).into());
                            }
                        }
                        if let Some((tf, cf, i)) = ic {
                            v.set(*tf, i.icmp_type.into());
                            m.set(*tf, 0xff);
                            if let Some(code) = i.code {
                                v.set(*cf, code.into());
                                m.set(*cf, 0xff);
                            }
                        }
                        out.push(PlanEntry {
                            rule: Some(p.rule),
                            matcher: PlanMatch::Control {
                                priority: prio,
                                matcher: Box::new(v),
                                mask: Box::new(m),
                            },
                            fwd,
                            counter: true,
                            meter: None,
                            zone: None,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_exact_mask_blocks() {
        for (lo, hi) in [
            (0u16, 65535u16),
            (0, 0),
            (1, 1),
            (1024, 65535),
            (5, 1000),
            (80, 80),
        ] {
            let blocks = range_to_masks(lo, hi);
            for p in [0u16, 1, 4, 5, 79, 80, 81, 1000, 1001, 1023, 1024, 65535] {
                let inside = blocks.iter().any(|(v, m)| p & m == *v);
                assert_eq!(inside, lo <= p && p <= hi, "{lo}-{hi} port {p}");
            }
        }
        assert_eq!(range_to_masks(0, 65535), vec![(0, 0)]);
        assert_eq!(range_to_masks(80, 80), vec![(80, 0xffff)]);
    }
}
