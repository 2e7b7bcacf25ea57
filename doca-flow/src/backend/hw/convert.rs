//! doca-flow's plain data -> the seam's flat, host-order specs
//! (`include/doca_sys_doca.h`). The shim fills DOCA's structs from them by
//! field name; the emulator reads them back ([`crate::backend::emu`]).

use doca_sys::doca as sys;

use crate::action::Actions;
use crate::matching::{Field, Match};
use crate::monitor::{MeterLimit, Monitor};

fn nz(m: &Match, fields: &[Field]) -> bool {
    fields.iter().any(|f| m.get(*f) != 0)
}

/// The flat spec of a match (or mask) template.
///
/// # Errors
/// A match that sets fields of two IP versions, or of two L4 headers (TCP, UDP, the
/// transport ports, ICMP, ICMPv6): DOCA's match holds one of each in a union, so such a
/// match has no DOCA form (the software backend matches both and finds nothing).
pub(super) fn match_spec(
    m: &Match,
    op: &'static str,
) -> crate::error::Result<sys::dsys_header_spec> {
    let l3 = [
        &[
            Field::Ipv4Src,
            Field::Ipv4Dst,
            Field::Ipv4Proto,
            Field::Ipv4Dscp,
            Field::Ipv4Ttl,
            Field::Ipv4FlagsFragOffset,
        ][..],
        &[
            Field::Ipv6Src,
            Field::Ipv6Dst,
            Field::Ipv6NextHeader,
            Field::Ipv6TrafficClass,
            Field::Ipv6FlowLabel,
            Field::Ipv6HopLimit,
        ][..],
    ];
    let l4 = [
        &[Field::TcpSrcPort, Field::TcpDstPort, Field::TcpFlags][..],
        &[Field::UdpSrcPort, Field::UdpDstPort][..],
        &[Field::TransportSrcPort, Field::TransportDstPort][..],
        &[Field::IcmpType, Field::IcmpCode][..],
        &[Field::Icmp6Type, Field::Icmp6Code][..],
    ];
    if l3.iter().filter(|g| nz(m, g)).count() > 1 {
        return Err(super::error::unsupported(
            op,
            "a match on both IPv4 and IPv6 fields (DOCA matches one IP header)",
        ));
    }
    if l4.iter().filter(|g| nz(m, g)).count() > 1 {
        return Err(super::error::unsupported(
            op,
            "a match on fields of two L4 headers (e.g. ports and ICMP type): DOCA's match \
             holds one L4 header",
        ));
    }
    Ok(match_spec_of(m))
}

fn match_spec_of(m: &Match) -> sys::dsys_header_spec {
    let mut s = sys::dsys_header_spec::default();
    let g = |f: Field| m.get(f);
    if nz(m, &[Field::EthSrc, Field::EthDst, Field::EthType]) {
        s.present |= sys::DSYS_HDR_ETH;
        s.eth_src = mac(g(Field::EthSrc));
        s.eth_dst = mac(g(Field::EthDst));
        s.eth_type = g(Field::EthType) as u16;
    }
    if g(Field::Vlan0Tci) != 0 {
        s.present |= sys::DSYS_HDR_VLAN0;
        s.vlan_tci[0] = g(Field::Vlan0Tci) as u16;
    }
    if g(Field::Vlan1Tci) != 0 {
        s.present |= sys::DSYS_HDR_VLAN1;
        s.vlan_tci[1] = g(Field::Vlan1Tci) as u16;
    }
    let ip4 = [
        Field::Ipv4Src,
        Field::Ipv4Dst,
        Field::Ipv4Proto,
        Field::Ipv4Dscp,
        Field::Ipv4Ttl,
        Field::Ipv4FlagsFragOffset,
    ];
    let ip6 = [
        Field::Ipv6Src,
        Field::Ipv6Dst,
        Field::Ipv6NextHeader,
        Field::Ipv6TrafficClass,
        Field::Ipv6FlowLabel,
        Field::Ipv6HopLimit,
    ];
    if nz(m, &ip4) {
        s.present |= sys::DSYS_HDR_IP4;
        s.ip4_src = g(Field::Ipv4Src) as u32;
        s.ip4_dst = g(Field::Ipv4Dst) as u32;
        s.ip4_proto = g(Field::Ipv4Proto) as u8;
        // DOCA's dscp_ecn byte holds DSCP in its upper six bits.
        s.ip4_dscp_ecn = (g(Field::Ipv4Dscp) as u8) << 2;
        s.ip4_ttl = g(Field::Ipv4Ttl) as u8;
        s.ip4_flags_frag = g(Field::Ipv4FlagsFragOffset) as u16;
    } else if nz(m, &ip6) {
        s.present |= sys::DSYS_HDR_IP6;
        s.ip6_src = (g(Field::Ipv6Src)).to_be_bytes();
        s.ip6_dst = (g(Field::Ipv6Dst)).to_be_bytes();
        s.ip6_next = g(Field::Ipv6NextHeader) as u8;
        s.ip6_traffic_class = g(Field::Ipv6TrafficClass) as u8;
        s.ip6_flow_label = g(Field::Ipv6FlowLabel) as u32;
        s.ip6_hop_limit = g(Field::Ipv6HopLimit) as u8;
    }
    if nz(m, &[Field::TcpSrcPort, Field::TcpDstPort, Field::TcpFlags]) {
        s.present |= sys::DSYS_HDR_TCP;
        s.l4_src_port = g(Field::TcpSrcPort) as u16;
        s.l4_dst_port = g(Field::TcpDstPort) as u16;
        s.tcp_flags = g(Field::TcpFlags) as u8;
    } else if nz(m, &[Field::UdpSrcPort, Field::UdpDstPort]) {
        s.present |= sys::DSYS_HDR_UDP;
        s.l4_src_port = g(Field::UdpSrcPort) as u16;
        s.l4_dst_port = g(Field::UdpDstPort) as u16;
    } else if nz(m, &[Field::TransportSrcPort, Field::TransportDstPort]) {
        s.present |= sys::DSYS_HDR_TRANSPORT;
        s.l4_src_port = g(Field::TransportSrcPort) as u16;
        s.l4_dst_port = g(Field::TransportDstPort) as u16;
    } else if nz(m, &[Field::IcmpType, Field::IcmpCode]) {
        s.present |= sys::DSYS_HDR_ICMP;
        s.icmp_type = g(Field::IcmpType) as u8;
        s.icmp_code = g(Field::IcmpCode) as u8;
    } else if nz(m, &[Field::Icmp6Type, Field::Icmp6Code]) {
        s.present |= sys::DSYS_HDR_ICMP6;
        s.icmp_type = g(Field::Icmp6Type) as u8;
        s.icmp_code = g(Field::Icmp6Code) as u8;
    }
    if nz(
        m,
        &[
            Field::PortId,
            Field::L3Type,
            Field::L4Type,
            Field::Fragmented,
        ],
    ) {
        s.present |= sys::DSYS_HDR_PARSER_META;
        s.port_id = g(Field::PortId) as u16;
        s.l3_meta = g(Field::L3Type) as u32;
        s.l4_meta = g(Field::L4Type) as u32;
        s.fragmented = g(Field::Fragmented) as u8;
    }
    let metas = [Field::Meta0, Field::Meta1, Field::Meta2, Field::Meta3];
    if g(Field::PktMeta) != 0 || nz(m, &metas) {
        s.present |= sys::DSYS_HDR_META;
        s.pkt_meta = g(Field::PktMeta) as u32;
        for (i, f) in metas.iter().enumerate() {
            s.meta_u32[i] = g(*f) as u32;
        }
    }
    s
}

fn mac(v: u128) -> [u8; 6] {
    let b = (v as u64).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The flat spec of modify-header actions. `None` when the actions change
/// nothing (DOCA then takes no actions template).
///
/// # Errors
/// `dec_ttl` together with a TTL value (DOCA decrements with an action descriptor
/// on the same field the value would set).
pub(super) fn actions_spec(
    a: &Actions,
    op: &'static str,
) -> crate::error::Result<Option<sys::dsys_header_spec>> {
    if a.dec_ttl && a.ttl.is_some() {
        return Err(super::error::unsupported(
            op,
            "dec_ttl together with a TTL value (one field, one action)",
        ));
    }
    let _ = op;
    let mut s = sys::dsys_header_spec {
        dec_ttl: a.dec_ttl,
        ..Default::default()
    };
    if a.eth_src.is_some() || a.eth_dst.is_some() {
        s.present |= sys::DSYS_HDR_ETH;
        s.eth_src = a.eth_src.unwrap_or_default();
        s.eth_dst = a.eth_dst.unwrap_or_default();
    }
    if a.ipv4_src.is_some() || a.ipv4_dst.is_some() || (a.ttl.is_some() && a.ipv6_src.is_none()) {
        s.present |= sys::DSYS_HDR_IP4;
        s.ip4_src = a.ipv4_src.map_or(0, u32::from);
        s.ip4_dst = a.ipv4_dst.map_or(0, u32::from);
        s.ip4_ttl = a.ttl.unwrap_or(0);
        s.ip4_dscp_ecn = a.dscp.map_or(0, |d| d << 2);
    } else if a.ipv6_src.is_some() || a.ipv6_dst.is_some() {
        s.present |= sys::DSYS_HDR_IP6;
        s.ip6_src = a.ipv6_src.map_or([0; 16], |x| x.octets());
        s.ip6_dst = a.ipv6_dst.map_or([0; 16], |x| x.octets());
        s.ip6_hop_limit = a.ttl.unwrap_or(0);
        s.ip6_traffic_class = a.dscp.map_or(0, |d| d << 2);
    }
    if a.l4_src_port.is_some() || a.l4_dst_port.is_some() {
        s.present |= sys::DSYS_HDR_TRANSPORT;
        s.l4_src_port = a.l4_src_port.unwrap_or(0);
        s.l4_dst_port = a.l4_dst_port.unwrap_or(0);
    }
    if a.pkt_meta.is_some() || a.meta.iter().any(Option::is_some) {
        s.present |= sys::DSYS_HDR_META;
        s.pkt_meta = a.pkt_meta.unwrap_or(0);
        for (i, v) in a.meta.iter().enumerate() {
            s.meta_u32[i] = v.unwrap_or(0);
        }
    }
    Ok((s.present != 0 || s.dec_ttl).then_some(s))
}

/// The seam's monitor; `None` when it neither counts nor meters.
pub(super) fn monitor_spec(m: &Monitor) -> Option<sys::dsys_monitor_spec> {
    if !m.counter && m.meter.is_none() {
        return None;
    }
    Some(match m.meter {
        Some(cfg) => sys::dsys_monitor_spec {
            counter: m.counter,
            meter: true,
            meter_packets: cfg.limit == MeterLimit::Packets,
            cir: cfg.cir,
            cbs: cfg.cbs,
        },
        None => sys::dsys_monitor_spec {
            counter: m.counter,
            ..Default::default()
        },
    })
}

/// A CT tuple: addresses in network order, IPv4 in the first four bytes.
fn ct_tuple(t: &crate::ct::CtTuple) -> sys::dsys_ct_tuple {
    let mut out = sys::dsys_ct_tuple::default();
    match *t {
        crate::ct::CtTuple::V4 {
            src,
            dst,
            src_port,
            dst_port,
            proto,
        } => {
            out.src[..4].copy_from_slice(&src.octets());
            out.dst[..4].copy_from_slice(&dst.octets());
            (out.src_port, out.dst_port, out.proto) = (src_port, dst_port, proto);
        }
        crate::ct::CtTuple::V6 {
            src,
            dst,
            src_port,
            dst_port,
            proto,
        } => {
            out.ipv6 = true;
            out.src = src.octets();
            out.dst = dst.octets();
            (out.src_port, out.dst_port, out.proto) = (src_port, dst_port, proto);
        }
    }
    out
}

fn ct_dir(d: &crate::ct::CtDirection) -> sys::dsys_ct_dir {
    sys::dsys_ct_dir {
        set_pkt_meta: d.pkt_meta.is_some(),
        pkt_meta: d.pkt_meta.unwrap_or(0),
        counter: d.counter,
    }
}

/// The seam's CT entry.
pub(super) fn ct_entry_spec(e: &crate::ct::CtEntry) -> sys::dsys_ct_entry_spec {
    sys::dsys_ct_entry_spec {
        zone: e.zone,
        origin: ct_tuple(&e.origin),
        has_reply: e.reply.is_some(),
        reply: e.reply.as_ref().map(ct_tuple).unwrap_or_default(),
        origin_dir: ct_dir(&e.origin_dir),
        reply_dir: ct_dir(&e.reply_dir),
        timeout_s: e.timeout_s,
    }
}
