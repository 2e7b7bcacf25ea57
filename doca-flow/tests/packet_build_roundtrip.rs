//! PacketBuilder output parses back to the fields it was given.

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{
    EthernetFrame, Fragment, Headers, Ipv4Packet, Ipv6Ext, Ipv6Packet, L3, L4, Malformed,
    PacketBuilder, TcpSegment, UdpDatagram, ethertype, tcp_flags,
};
use proptest::prelude::*;

#[test]
fn tcp4_with_everything() {
    let src = Ipv4Addr::new(192, 0, 2, 1);
    let dst = Ipv4Addr::new(198, 51, 100, 2);
    let f = PacketBuilder::tcp4(src, dst, 40000, 443)
        .eth_src([2, 2, 2, 2, 2, 2])
        .eth_dst([4, 4, 4, 4, 4, 4])
        .qinq(100, 200)
        .ttl(17)
        .dscp(34)
        .ecn(1)
        .ident(0xbeef)
        .dont_fragment(true)
        .ipv4_options(&[0x94, 0x04, 0, 0])
        .flags(tcp_flags::SYN | tcp_flags::ECE)
        .seq(1000)
        .ack_number(2000)
        .window(512)
        .tcp_options(&[2, 4, 5, 0xb4])
        .payload(b"payload")
        .build();
    let h = Headers::parse(&f);
    assert_eq!(h.malformed, None);
    let eth = h.eth.unwrap();
    assert_eq!((eth.src, eth.dst), ([2; 6], [4; 6]));
    assert_eq!(eth.vlan[0].unwrap().tpid, ethertype::QINQ);
    assert_eq!(eth.vlan[0].unwrap().vid(), 100);
    assert_eq!(eth.vlan[1].unwrap().tpid, ethertype::VLAN);
    assert_eq!(eth.vlan[1].unwrap().vid(), 200);
    let L3::Ipv4(ip) = h.l3 else { panic!() };
    assert_eq!(
        (ip.src, ip.dst, ip.ttl, ip.dscp, ip.ecn),
        (src, dst, 17, 34, 1)
    );
    assert_eq!(ip.header_len, 24);
    assert!(ip.fragment.dont_fragment && !ip.fragment.is_fragment);
    assert_eq!(
        h.l4,
        L4::Tcp {
            src_port: 40000,
            dst_port: 443,
            flags: tcp_flags::SYN | tcp_flags::ECE
        }
    );
    assert_eq!(h.offsets.l3, Some(22));
    assert_eq!(h.offsets.l4, Some(22 + 24));
    let l3 = Ipv4Packet::new_checked(&f[22..]).unwrap();
    assert_eq!(l3.ident(), 0xbeef);
    assert_eq!(l3.options(), &[0x94, 0x04, 0, 0]);
    assert_eq!(usize::from(l3.total_len()), f.len() - 22);
    let tcp = TcpSegment::new_checked(l3.payload()).unwrap();
    assert_eq!(
        (tcp.seq_number(), tcp.ack_number(), tcp.window()),
        (1000, 2000, 512)
    );
    assert_eq!(tcp.options(), &[2, 4, 5, 0xb4]);
    assert_eq!(tcp.payload(), b"payload");
}

#[test]
fn udp6_with_extension_headers_and_first_fragment() {
    let src: Ipv6Addr = "2001:db8::a".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8::b".parse().unwrap();
    let f = PacketBuilder::udp6(src, dst, 4789, 4790)
        .ipv6_ext(Ipv6Ext::HopByHop(vec![5, 2, 0, 0]))
        .ipv6_ext(Ipv6Ext::Routing(vec![0, 0, 0, 0, 0, 0]))
        .ipv6_ext(Ipv6Ext::Fragment {
            offset: 0,
            more: true,
            ident: 77,
        })
        .ipv6_ext(Ipv6Ext::Auth(vec![0, 0, 0, 1, 0, 0, 0, 1]))
        .ipv6_ext(Ipv6Ext::DestOpts(vec![]))
        .hop_limit(9)
        .dscp(12)
        .flow_label(0xfffff)
        .payload(b"vxlan")
        .build();
    let h = Headers::parse(&f);
    assert_eq!(h.malformed, None);
    let L3::Ipv6(ip) = h.l3 else { panic!() };
    assert_eq!(
        (ip.src, ip.dst, ip.hop_limit, ip.flow_label),
        (src, dst, 9, 0xfffff)
    );
    assert_eq!(ip.traffic_class >> 2, 12);
    assert_eq!(ip.next_header, 17);
    assert_eq!(
        ip.fragment,
        Fragment {
            is_fragment: true,
            offset: 0,
            more: true,
            dont_fragment: false
        }
    );
    assert_eq!(
        h.l4,
        L4::Udp {
            src_port: 4789,
            dst_port: 4790
        }
    );
    let l4 = usize::from(h.offsets.l4.unwrap());
    // HBH 8 + routing 8 + fragment 8 + AH 16 + destopts 8.
    assert_eq!(l4, 14 + 40 + 48);
    let udp = UdpDatagram::new_checked(&f[l4..]).unwrap();
    assert_eq!(udp.payload(), b"vxlan");
    let ip6 = Ipv6Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(usize::from(ip6.payload_len()), f.len() - 54);
}

#[test]
fn non_first_fragments_carry_no_l4_header() {
    let f = PacketBuilder::udp4([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 1, 2)
        .fragment(3, true)
        .payload(&[9; 16])
        .build();
    assert_eq!(f.len(), 14 + 20 + 16);
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.ip_proto(), Some(17));
    assert_eq!(h.fragment().unwrap().offset, 3);

    let f = PacketBuilder::tcp6("::1".parse().unwrap(), "::2".parse().unwrap(), 1, 2)
        .fragment(8, false)
        .payload(&[9; 16])
        .build();
    assert_eq!(f.len(), 14 + 40 + 8 + 16);
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.ip_proto(), Some(6));
    assert_eq!(h.malformed, None);
}

#[test]
fn raw_ethernet_and_raw_ip() {
    let f = PacketBuilder::ethernet(ethertype::ARP)
        .payload(&[0; 28])
        .build();
    assert_eq!(Headers::parse(&f).l3, L3::Other(ethertype::ARP));
    assert_eq!(
        EthernetFrame::new_checked(&f[..]).unwrap().payload().len(),
        28
    );
    let f = PacketBuilder::ipv4([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 47)
        .payload(&[0; 4])
        .build();
    assert_eq!(Headers::parse(&f).l4, L4::Other(47));
    let f = PacketBuilder::ipv6("::1".parse().unwrap(), "::2".parse().unwrap(), 59).build();
    assert_eq!(Headers::parse(&f).l4, L4::Other(59));
}

#[test]
fn more_than_two_tags_from_the_builder() {
    let f = PacketBuilder::udp4([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 1, 2)
        .vlan(1)
        .vlan(2)
        .vlan(3)
        .build();
    let h = Headers::parse(&f);
    assert_eq!(h.l3, L3::Other(ethertype::VLAN));
    assert_eq!(h.malformed, None);
}

#[test]
fn pad_to_does_not_change_parse() {
    let b = PacketBuilder::udp4([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 1, 2);
    let plain = b.build();
    let padded = b.clone().pad_to(60).build();
    assert_eq!(plain.len(), 42);
    assert_eq!(padded.len(), 60);
    let (hp, hq) = (Headers::parse(&plain), Headers::parse(&padded));
    assert_eq!((hp.l3, hp.l4, hp.offsets), (hq.l3, hq.l4, hq.offsets));
}

#[test]
fn build_into_reuses_the_buffer() {
    let b = PacketBuilder::icmp4([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 0, 0);
    let mut buf = vec![0xff; 500];
    b.build_into(&mut buf);
    assert_eq!(buf, b.build());
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}
fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

proptest! {
    #[test]
    fn tcp4_roundtrip(src in v4(), dst in v4(), sp in any::<u16>(), dp in any::<u16>(),
                      flags in any::<u8>(), ttl in any::<u8>(), dscp in 0u8..64,
                      vlans in 0usize..3, opts in proptest::collection::vec(any::<u8>(), 0..40),
                      payload in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut b = PacketBuilder::tcp4(src, dst, sp, dp).flags(flags).ttl(ttl).dscp(dscp)
            .ipv4_options(&opts).payload(&payload);
        for v in 0..vlans { b = b.vlan(v as u16 + 1); }
        let h = Headers::parse(&b.build());
        prop_assert_eq!(h.malformed, None);
        let L3::Ipv4(ip) = h.l3 else { panic!() };
        prop_assert_eq!((ip.src, ip.dst, ip.ttl, ip.dscp), (src, dst, ttl, dscp));
        prop_assert_eq!(usize::from(ip.header_len), 20 + opts.len().div_ceil(4) * 4);
        prop_assert_eq!(h.l4, L4::Tcp { src_port: sp, dst_port: dp, flags });
    }

    #[test]
    fn l4_6_roundtrip(src in v6(), dst in v6(), sp in any::<u16>(), dp in any::<u16>(),
                      kind in 0u8..3, hbh in any::<bool>(), frag in any::<bool>(),
                      payload in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut b = match kind {
            0 => PacketBuilder::tcp6(src, dst, sp, dp),
            1 => PacketBuilder::udp6(src, dst, sp, dp),
            _ => PacketBuilder::icmp6(src, dst, (sp >> 8) as u8, dp as u8),
        };
        if hbh { b = b.ipv6_ext(Ipv6Ext::HopByHop(vec![])); }
        if frag { b = b.fragment(0, true); }
        let h = Headers::parse(&b.payload(&payload).build());
        prop_assert_eq!(h.malformed, None);
        let L3::Ipv6(ip) = h.l3 else { panic!() };
        prop_assert_eq!((ip.src, ip.dst), (src, dst));
        prop_assert_eq!(ip.fragment.is_fragment, frag);
        let want = match kind {
            0 => L4::Tcp { src_port: sp, dst_port: dp, flags: 0 },
            1 => L4::Udp { src_port: sp, dst_port: dp },
            _ => L4::Icmp6 { icmp_type: (sp >> 8) as u8, code: dp as u8 },
        };
        prop_assert_eq!(h.l4, want);
    }

    #[test]
    fn udp4_fragments_roundtrip(offset in 0u16..0x2000, more in any::<bool>(),
                                payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let f = PacketBuilder::udp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 7, 8)
            .fragment(offset, more).payload(&payload).build();
        let h = Headers::parse(&f);
        prop_assert_eq!(h.malformed, None);
        prop_assert_eq!(h.fragment(), Some(Fragment {
            is_fragment: more || offset != 0, offset, more, dont_fragment: false }));
        if offset == 0 {
            prop_assert_eq!(h.l4, L4::Udp { src_port: 7, dst_port: 8 });
        } else {
            prop_assert_eq!(h.l4, L4::None);
        }
    }
}

#[test]
fn malformed_is_none_for_every_builder_shape() {
    // A smoke check over the constructors with default knobs.
    let a: Ipv4Addr = [1, 2, 3, 4].into();
    let b6: Ipv6Addr = "::9".parse().unwrap();
    for f in [
        PacketBuilder::tcp4(a, a, 1, 2).build(),
        PacketBuilder::udp4(a, a, 1, 2).build(),
        PacketBuilder::icmp4(a, a, 3, 4).build(),
        PacketBuilder::tcp6(b6, b6, 1, 2).build(),
        PacketBuilder::udp6(b6, b6, 1, 2).build(),
        PacketBuilder::icmp6(b6, b6, 1, 4).build(),
    ] {
        let h = Headers::parse(&f);
        assert_eq!(h.malformed, None::<Malformed>);
        assert_ne!(h.l4, L4::None);
    }
}
