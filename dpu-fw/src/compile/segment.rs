//! Rules as the compiler sees them (one family, lists normalised) and their cut into
//! segments of one pipe kind.

use super::levels::{Region, dim};
use crate::model::{Family, IcmpMatch, PortRange, Prefix, RuleMatch, TcpFlags, covers_all_ports};

/// A rule's match restricted to one address family, lists normalised.
#[derive(Debug, Clone)]
pub(super) struct Proj {
    pub(super) rule: u32,
    pub(super) src: Vec<Prefix>,
    pub(super) dst: Vec<Prefix>,
    pub(super) proto: Option<u8>,
    pub(super) sports: Vec<PortRange>,
    pub(super) dports: Vec<PortRange>,
    pub(super) icmp: Option<IcmpMatch>,
    pub(super) tcp_flags: Option<TcpFlags>,
    pub(super) vlan: Option<u16>,
}

impl Proj {
    pub(super) fn new(rule: u32, m: &RuleMatch, fam: Family) -> Option<Proj> {
        if !m.allows_family(fam) {
            return None;
        }
        let pick = |l: &[Prefix]| -> Vec<Prefix> {
            let v: Vec<Prefix> = l.iter().copied().filter(|p| p.family() == fam).collect();
            if v.iter().any(|p| p.prefix_len() == 0) {
                Vec::new()
            } else {
                v
            }
        };
        let ports = |l: &[PortRange]| -> Vec<PortRange> {
            if covers_all_ports(l) {
                Vec::new()
            } else {
                l.to_vec()
            }
        };
        Some(Proj {
            rule,
            src: pick(&m.src),
            dst: pick(&m.dst),
            proto: m.protocol,
            sports: ports(&m.src_ports),
            dports: ports(&m.dst_ports),
            icmp: m.icmp,
            tcp_flags: m.tcp_flags,
            vlan: m.vlan,
        })
    }

    /// Which kind of pipe can hold it.
    pub(super) fn kind(&self) -> Kind {
        if !self.acl_ok() {
            Kind::Control
        } else if self.proto.is_none()
            && self.sports.is_empty()
            && self.dports.is_empty()
            && self.src.is_empty() != self.dst.is_empty()
        {
            Kind::Prefix {
                dst: !self.dst.is_empty(),
            }
        } else {
            Kind::Acl
        }
    }

    /// Whether an ACL entry can express it.
    pub(super) fn acl_ok(&self) -> bool {
        let zero = |l: &[PortRange]| l.iter().any(|r| r.hi() == 0);
        self.icmp.is_none()
            && self.tcp_flags.is_none()
            && self.vlan.is_none()
            && !zero(&self.sports)
            && !zero(&self.dports)
    }

    pub(super) fn boxes(&self) -> Vec<Region> {
        let full = [(0u128, u128::MAX)];
        let pfx: fn(&Prefix) -> (u128, u128) = prefix_interval;
        let srcs: Vec<(u128, u128)> = if self.src.is_empty() {
            full.to_vec()
        } else {
            self.src.iter().map(pfx).collect()
        };
        let dsts: Vec<(u128, u128)> = if self.dst.is_empty() {
            full.to_vec()
        } else {
            self.dst.iter().map(pfx).collect()
        };
        let rng = |l: &[PortRange]| -> Vec<(u128, u128)> {
            if l.is_empty() {
                full.to_vec()
            } else {
                l.iter()
                    .map(|r| (u128::from(r.lo()), u128::from(r.hi())))
                    .collect()
            }
        };
        let (sps, dps) = (rng(&self.sports), rng(&self.dports));
        let mut base = Region::full();
        if let Some(p) = self.proto {
            base = base.with(dim::PROTO, p.into(), p.into());
        }
        if let Some(i) = self.icmp {
            base = base.with(dim::ICMP_TYPE, i.icmp_type.into(), i.icmp_type.into());
            if let Some(c) = i.code {
                base = base.with(dim::ICMP_CODE, c.into(), c.into());
            }
        }
        if let Some(f) = self.tcp_flags {
            if f.mask() == 0xff {
                base = base.with(dim::TCP_FLAGS, f.value().into(), f.value().into());
            }
        }
        if let Some(v) = self.vlan {
            base = base.with(dim::VLAN, v.into(), v.into());
        }
        let mut out = Vec::with_capacity(srcs.len() * dsts.len() * sps.len() * dps.len());
        for s in &srcs {
            for d in &dsts {
                for sp in &sps {
                    for dp in &dps {
                        out.push(
                            base.with(dim::SRC, s.0, s.1)
                                .with(dim::DST, d.0, d.1)
                                .with(dim::SPORT, sp.0, sp.1)
                                .with(dim::DPORT, dp.0, dp.1),
                        );
                    }
                }
            }
        }
        out
    }
}

pub(super) fn prefix_interval(p: &Prefix) -> (u128, u128) {
    match (p.v4(), p.v6()) {
        (Some((a, l)), _) => {
            let host = u32::MAX.checked_shr(u32::from(l)).unwrap_or(0);
            (u128::from(a), u128::from(a | host))
        }
        (_, Some((a, l))) => {
            let host = u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
            (a, a | host)
        }
        _ => (0, u128::MAX),
    }
}

/// The most rules a hoisted rule is compared with (beyond that, a new segment is
/// cheaper than the comparisons).
const HOIST_WINDOW: usize = 4096;

/// Cuts rules (in order) into segments of one kind (ACL-expressible or not). A rule
/// whose kind differs from the last segment's joins the latest earlier segment of its
/// kind when it overlaps no rule after that segment: moving a rule before rules it shares
/// no packet with changes no verdict, and it saves a segment (pipes and lookups).
pub(super) fn segments(projs: Vec<Proj>, lpm_min: usize) -> Vec<Segment> {
    // Prefix pipes pay only where pure-prefix rules of one address field are many and
    // most of the ACL-expressible rules: otherwise they cut ACL segments apart and add
    // lookups (on ClassBench they took the worst path from 2 to up to 21 lookups).
    let count = |dst: bool| {
        projs
            .iter()
            .filter(|p| p.kind() == Kind::Prefix { dst })
            .count()
    };
    let acl_able = projs.iter().filter(|p| p.kind() != Kind::Control).count();
    let worth = |n: usize| n >= lpm_min && 2 * n >= acl_able;
    let (use_dst, use_src) = (worth(count(true)), worth(count(false)));
    let mut segs: Vec<Segment> = Vec::new();
    for p in projs {
        let kind = match p.kind() {
            Kind::Prefix { dst } if (dst && use_dst) || (!dst && use_src) => Kind::Prefix { dst },
            Kind::Prefix { .. } => Kind::Acl,
            k => k,
        };
        let boxes = p.boxes();
        if let Some((k, v, b)) = segs.last_mut() {
            if *k == kind {
                v.push(p);
                b.push(boxes);
                continue;
            }
        }
        let target = segs.iter().rposition(|(k, _, _)| *k == kind);
        let hoist = target.filter(|&t| {
            let between = &segs[t + 1..];
            between.iter().map(|(_, v, _)| v.len()).sum::<usize>() <= HOIST_WINDOW
                && between.iter().all(|(_, _, bs)| {
                    bs.iter()
                        .all(|q| !q.iter().any(|a| boxes.iter().any(|c| a.intersects(c))))
                })
        });
        match hoist {
            Some(t) => {
                segs[t].1.push(p);
                segs[t].2.push(boxes);
            }
            None => segs.push((kind, vec![p], vec![boxes])),
        }
    }
    // Short prefix runs are not worth a pipe of their own: they are ACL rules, and
    // neighbouring ACL segments (adjacent in the miss chain) merge.
    let mut out: Vec<Segment> = Vec::with_capacity(segs.len());
    for (mut k, v, b) in segs {
        if matches!(k, Kind::Prefix { .. }) && v.len() < lpm_min {
            k = Kind::Acl;
        }
        match out.last_mut() {
            Some((lk, lv, lb)) if *lk == k && k == Kind::Acl => {
                lv.extend(v);
                lb.extend(b);
            }
            _ => out.push((k, v, b)),
        }
    }
    out
}

/// What kind of pipe a rule can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An ACL pipe: prefixes, protocol, L4 port ranges.
    Acl,
    /// A control pipe: anything else.
    Control,
    /// Only prefixes of one address field: an LPM or exact pipe.
    Prefix {
        /// The destination (else the source) address.
        dst: bool,
    },
}

/// A segment: its kind, its rules in order, and each rule's boxes.
pub(super) type Segment = (Kind, Vec<Proj>, Vec<Vec<Region>>);
