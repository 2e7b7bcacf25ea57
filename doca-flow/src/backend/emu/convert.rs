//! The seam's flat specs read back into doca-flow's types, as DOCA reads its
//! structs: a header group counts when its `present` bit is set, and within it
//! a zero field is a field the template does not set (DOCA's convention, and
//! doca-flow's [`Match`] one).

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_sys::doca as sys;

use crate::action::Actions;
use crate::matching::{Field, Match};
use crate::monitor::{MeterCfg, MeterLimit, Monitor};

fn mac(b: [u8; 6]) -> u128 {
    b.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x))
}

/// A match or mask template.
pub(super) fn matcher(s: &sys::dsys_header_spec) -> Match {
    let mut m = Match::default();
    let has = |bit: u32| s.present & bit != 0;
    let mut set = |f: Field, v: u128| {
        if v != 0 {
            m.set(f, v);
        }
    };
    if has(sys::DSYS_HDR_ETH) {
        set(Field::EthSrc, mac(s.eth_src));
        set(Field::EthDst, mac(s.eth_dst));
        set(Field::EthType, u128::from(s.eth_type));
    }
    if has(sys::DSYS_HDR_VLAN0) {
        set(Field::Vlan0Tci, u128::from(s.vlan_tci[0]));
    }
    if has(sys::DSYS_HDR_VLAN1) {
        set(Field::Vlan1Tci, u128::from(s.vlan_tci[1]));
    }
    if has(sys::DSYS_HDR_IP4) {
        set(Field::Ipv4Src, u128::from(s.ip4_src));
        set(Field::Ipv4Dst, u128::from(s.ip4_dst));
        set(Field::Ipv4Proto, u128::from(s.ip4_proto));
        set(Field::Ipv4Dscp, u128::from(s.ip4_dscp_ecn >> 2));
        set(Field::Ipv4Ttl, u128::from(s.ip4_ttl));
        set(Field::Ipv4FlagsFragOffset, u128::from(s.ip4_flags_frag));
    }
    if has(sys::DSYS_HDR_IP6) {
        set(Field::Ipv6Src, u128::from_be_bytes(s.ip6_src));
        set(Field::Ipv6Dst, u128::from_be_bytes(s.ip6_dst));
        set(Field::Ipv6NextHeader, u128::from(s.ip6_next));
        set(Field::Ipv6TrafficClass, u128::from(s.ip6_traffic_class));
        set(Field::Ipv6FlowLabel, u128::from(s.ip6_flow_label));
        set(Field::Ipv6HopLimit, u128::from(s.ip6_hop_limit));
    }
    let (sp, dp) = (u128::from(s.l4_src_port), u128::from(s.l4_dst_port));
    if has(sys::DSYS_HDR_TCP) {
        set(Field::TcpSrcPort, sp);
        set(Field::TcpDstPort, dp);
        set(Field::TcpFlags, u128::from(s.tcp_flags));
    }
    if has(sys::DSYS_HDR_UDP) {
        set(Field::UdpSrcPort, sp);
        set(Field::UdpDstPort, dp);
    }
    if has(sys::DSYS_HDR_TRANSPORT) {
        set(Field::TransportSrcPort, sp);
        set(Field::TransportDstPort, dp);
    }
    if has(sys::DSYS_HDR_ICMP) {
        set(Field::IcmpType, u128::from(s.icmp_type));
        set(Field::IcmpCode, u128::from(s.icmp_code));
    }
    if has(sys::DSYS_HDR_ICMP6) {
        set(Field::Icmp6Type, u128::from(s.icmp_type));
        set(Field::Icmp6Code, u128::from(s.icmp_code));
    }
    if has(sys::DSYS_HDR_PARSER_META) {
        set(Field::PortId, u128::from(s.port_id));
        set(Field::L3Type, u128::from(s.l3_meta));
        set(Field::L4Type, u128::from(s.l4_meta));
        set(Field::Fragmented, u128::from(s.fragmented));
    }
    if has(sys::DSYS_HDR_META) {
        set(Field::PktMeta, u128::from(s.pkt_meta));
        for (f, v) in [Field::Meta0, Field::Meta1, Field::Meta2, Field::Meta3]
            .into_iter()
            .zip(s.meta_u32)
        {
            set(f, u128::from(v));
        }
    }
    m
}

/// A modify-header actions template: a zero field changes nothing.
pub(super) fn actions(s: &sys::dsys_header_spec) -> Actions {
    let has = |bit: u32| s.present & bit != 0;
    let nz = |v: u32| (v != 0).then_some(v);
    let mut a = Actions {
        dec_ttl: s.dec_ttl,
        ..Actions::default()
    };
    if has(sys::DSYS_HDR_ETH) {
        a.eth_src = (s.eth_src != [0; 6]).then_some(s.eth_src);
        a.eth_dst = (s.eth_dst != [0; 6]).then_some(s.eth_dst);
    }
    if has(sys::DSYS_HDR_IP4) {
        a.ipv4_src = nz(s.ip4_src).map(Ipv4Addr::from);
        a.ipv4_dst = nz(s.ip4_dst).map(Ipv4Addr::from);
        a.ttl = (s.ip4_ttl != 0).then_some(s.ip4_ttl);
        a.dscp = (s.ip4_dscp_ecn != 0).then_some(s.ip4_dscp_ecn >> 2);
    } else if has(sys::DSYS_HDR_IP6) {
        a.ipv6_src = (s.ip6_src != [0; 16]).then(|| Ipv6Addr::from(s.ip6_src));
        a.ipv6_dst = (s.ip6_dst != [0; 16]).then(|| Ipv6Addr::from(s.ip6_dst));
        a.ttl = (s.ip6_hop_limit != 0).then_some(s.ip6_hop_limit);
        a.dscp = (s.ip6_traffic_class != 0).then_some(s.ip6_traffic_class >> 2);
    }
    if has(sys::DSYS_HDR_TRANSPORT) {
        a.l4_src_port = (s.l4_src_port != 0).then_some(s.l4_src_port);
        a.l4_dst_port = (s.l4_dst_port != 0).then_some(s.l4_dst_port);
    }
    if has(sys::DSYS_HDR_META) {
        a.pkt_meta = nz(s.pkt_meta);
        for (slot, v) in a.meta.iter_mut().zip(s.meta_u32) {
            *slot = nz(v);
        }
    }
    a
}

/// A monitor.
pub(super) fn monitor(s: &sys::dsys_monitor_spec) -> Monitor {
    Monitor {
        counter: s.counter,
        meter: s.meter.then_some(MeterCfg {
            limit: if s.meter_packets {
                MeterLimit::Packets
            } else {
                MeterLimit::Bytes
            },
            cir: s.cir,
            cbs: s.cbs,
        }),
    }
}
