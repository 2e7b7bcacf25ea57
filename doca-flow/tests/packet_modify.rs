//! `packet::modify`: each rewrite lands, and every checksum it touches
//! equals a full recomputation.

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{
    Headers, IcmpMessage, Ipv4Packet, Ipv6Ext, Ipv6Packet, L3, L4, PacketBuilder, TcpSegment,
    UdpDatagram, checksum, modify, modify::ModifyError,
};
use proptest::prelude::*;

const A4: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const B4: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 9);

fn a6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
fn b6() -> Ipv6Addr {
    "2001:db8:ffff::42".parse().unwrap()
}

/// Recomputes every checksum in the frame from scratch and asserts the
/// stored ones equal them.
fn assert_checksums_valid(frame: &[u8]) {
    let h = Headers::parse(frame);
    assert_eq!(h.malformed, None, "{h:?}");
    let l3 = usize::from(h.offsets.l3.unwrap());
    let (pseudo_base, l4_end): (Box<dyn Fn(u8, u32) -> u64>, usize) = match h.l3 {
        L3::Ipv4(_) => {
            let ip = Ipv4Packet::new_checked(&frame[l3..]).unwrap();
            assert!(ip.verify_checksum(), "IPv4 header checksum");
            // Stored value equals a fresh computation.
            let mut copy = frame[l3..l3 + usize::from(ip.header_len())].to_vec();
            let stored = ip.checksum();
            copy[10] = 0;
            copy[11] = 0;
            assert_eq!(
                stored,
                checksum::checksum(&copy),
                "IPv4 header checksum value"
            );
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            (
                Box::new(move |p, len| checksum::pseudo_header_v4(src, dst, p, len)),
                l3 + usize::from(ip.total_len()),
            )
        }
        L3::Ipv6(_) => {
            let ip = Ipv6Packet::new_checked(&frame[l3..]).unwrap();
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            (
                Box::new(move |p, len| checksum::pseudo_header_v6(src, dst, p, len)),
                l3 + 40 + usize::from(ip.payload_len()),
            )
        }
        _ => panic!("not IP"),
    };
    let Some(l4) = h.offsets.l4 else { return };
    let seg = &frame[usize::from(l4)..l4_end];
    let len = seg.len() as u32;
    match h.l4 {
        L4::Tcp { .. } => {
            assert!(
                TcpSegment::new_checked(seg)
                    .unwrap()
                    .verify_checksum(pseudo_base(6, len))
            );
        }
        L4::Udp { .. } => {
            let udp = UdpDatagram::new_checked(seg).unwrap();
            if matches!(h.l3, L3::Ipv6(_)) {
                assert_ne!(udp.checksum(), 0, "UDP over IPv6 needs a checksum");
            }
            assert!(udp.verify_checksum(pseudo_base(17, len)));
        }
        L4::Icmp { .. } => assert!(IcmpMessage::new_checked(seg).unwrap().verify_checksum(0)),
        L4::Icmp6 { .. } => {
            assert!(
                IcmpMessage::new_checked(seg)
                    .unwrap()
                    .verify_checksum(pseudo_base(58, len))
            );
        }
        _ => {}
    }
}

fn frames() -> Vec<Vec<u8>> {
    vec![
        PacketBuilder::tcp4(A4, B4, 1234, 80)
            .flags(0x12)
            .payload(b"GET / HTTP/1.1\r\n")
            .build(),
        PacketBuilder::udp4(A4, B4, 5353, 53)
            .payload(b"odd")
            .build(),
        PacketBuilder::udp4(A4, B4, 5353, 53)
            .payload(b"odd")
            .vlan(7)
            .pad_to(80)
            .build(),
        PacketBuilder::icmp4(A4, B4, 8, 0)
            .icmp_echo(1, 2)
            .payload(b"ping")
            .build(),
        PacketBuilder::tcp6(a6(), b6(), 40000, 22)
            .payload(b"ssh")
            .qinq(10, 20)
            .build(),
        PacketBuilder::udp6(a6(), b6(), 546, 547)
            .payload(b"dhcp6")
            .build(),
        PacketBuilder::icmp6(a6(), b6(), 128, 0)
            .icmp_echo(7, 9)
            .payload(b"v6ping")
            .build(),
        PacketBuilder::udp6(a6(), b6(), 1, 2)
            .ipv6_ext(Ipv6Ext::HopByHop(vec![]))
            .ipv6_ext(Ipv6Ext::DestOpts(vec![1, 2, 0, 0, 0, 0]))
            .payload(b"ext")
            .build(),
        PacketBuilder::tcp4(A4, B4, 1, 2)
            .ipv4_options(&[1, 1, 1, 1, 7, 3, 4])
            .build(),
    ]
}

#[test]
fn builder_frames_have_valid_checksums() {
    for f in frames() {
        assert_checksums_valid(&f);
    }
}

#[test]
fn address_port_ttl_dscp_rewrites_keep_checksums() {
    for mut f in frames() {
        let h = Headers::parse(&f);
        match h.l3 {
            L3::Ipv4(_) => {
                modify::set_ipv4_src(&mut f, &h, Ipv4Addr::new(100, 64, 0, 1)).unwrap();
                modify::set_ipv4_dst(&mut f, &h, Ipv4Addr::new(255, 255, 255, 254)).unwrap();
                modify::set_ipv4_ttl(&mut f, &h, 3).unwrap();
                modify::set_ipv4_dscp(&mut f, &h, 46).unwrap();
                assert_eq!(modify::decrement_ipv4_ttl(&mut f, &h), Ok(2));
                let L3::Ipv4(ip) = Headers::parse(&f).l3 else {
                    panic!()
                };
                assert_eq!(ip.src, Ipv4Addr::new(100, 64, 0, 1));
                assert_eq!(ip.dst, Ipv4Addr::new(255, 255, 255, 254));
                assert_eq!(ip.ttl, 2);
                assert_eq!(ip.dscp, 46);
            }
            L3::Ipv6(_) => {
                let s: Ipv6Addr = "fe80::1234:5678".parse().unwrap();
                let d: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
                modify::set_ipv6_src(&mut f, &h, s).unwrap();
                modify::set_ipv6_dst(&mut f, &h, d).unwrap();
                modify::set_ipv6_hop_limit(&mut f, &h, 5).unwrap();
                modify::set_ipv6_dscp(&mut f, &h, 0x2d).unwrap();
                assert_eq!(modify::decrement_ipv6_hop_limit(&mut f, &h), Ok(4));
                let L3::Ipv6(ip) = Headers::parse(&f).l3 else {
                    panic!()
                };
                assert_eq!((ip.src, ip.dst, ip.hop_limit), (s, d, 4));
                assert_eq!(ip.traffic_class >> 2, 0x2d);
            }
            _ => unreachable!(),
        }
        if h.src_port().is_some() {
            modify::set_src_port(&mut f, &h, 65535).unwrap();
            modify::set_dst_port(&mut f, &h, 0).unwrap();
            let h2 = Headers::parse(&f);
            assert_eq!((h2.src_port(), h2.dst_port()), (Some(65535), Some(0)));
        } else {
            assert_eq!(
                modify::set_src_port(&mut f, &h, 1),
                Err(ModifyError::NoTransport)
            );
        }
        assert_checksums_valid(&f);
    }
}

#[test]
fn mac_rewrites() {
    let mut f = frames().remove(0);
    let h = Headers::parse(&f);
    modify::set_eth_src(&mut f, &h, [1, 2, 3, 4, 5, 6]).unwrap();
    modify::set_eth_dst(&mut f, &h, [7, 8, 9, 10, 11, 12]).unwrap();
    let eth = Headers::parse(&f).eth.unwrap();
    assert_eq!(eth.src, [1, 2, 3, 4, 5, 6]);
    assert_eq!(eth.dst, [7, 8, 9, 10, 11, 12]);
    assert_checksums_valid(&f);
}

#[test]
fn ecn_is_kept_by_dscp_rewrites() {
    let mut f = PacketBuilder::udp4(A4, B4, 1, 2).ecn(3).build();
    let h = Headers::parse(&f);
    modify::set_ipv4_dscp(&mut f, &h, 10).unwrap();
    let L3::Ipv4(ip) = Headers::parse(&f).l3 else {
        panic!()
    };
    assert_eq!((ip.dscp, ip.ecn), (10, 3));

    let mut f = PacketBuilder::udp6(a6(), b6(), 1, 2)
        .ecn(2)
        .flow_label(0xabcde)
        .build();
    let h = Headers::parse(&f);
    modify::set_ipv6_dscp(&mut f, &h, 63).unwrap();
    let L3::Ipv6(ip) = Headers::parse(&f).l3 else {
        panic!()
    };
    assert_eq!(ip.traffic_class, 63 << 2 | 2);
    assert_eq!(ip.flow_label, 0xabcde);
}

#[test]
fn udp_zero_checksum_over_ipv4_stays_zero() {
    let mut f = PacketBuilder::udp4(A4, B4, 1000, 2000)
        .no_udp_checksum()
        .payload(b"x")
        .build();
    let h = Headers::parse(&f);
    let l4 = usize::from(h.offsets.l4.unwrap());
    assert_eq!(&f[l4 + 6..l4 + 8], &[0, 0]);
    modify::set_ipv4_src(&mut f, &h, B4).unwrap();
    modify::set_dst_port(&mut f, &h, 9).unwrap();
    assert_eq!(&f[l4 + 6..l4 + 8], &[0, 0]);
    assert_checksums_valid(&f);
}

#[test]
fn errors_name_the_missing_header() {
    let mut v6 = PacketBuilder::udp6(a6(), b6(), 1, 2).build();
    let h6 = Headers::parse(&v6);
    assert_eq!(
        modify::set_ipv4_ttl(&mut v6, &h6, 1),
        Err(ModifyError::NoIpv4)
    );
    let mut v4 = PacketBuilder::icmp4(A4, B4, 8, 0).build();
    let h4 = Headers::parse(&v4);
    assert_eq!(
        modify::set_ipv6_hop_limit(&mut v4, &h4, 1),
        Err(ModifyError::NoIpv6)
    );
    assert_eq!(
        modify::set_src_port(&mut v4, &h4, 1),
        Err(ModifyError::NoTransport)
    );
    assert_eq!(
        modify::set_ipv4_dscp(&mut v4, &h4, 64),
        Err(ModifyError::InvalidDscp(64))
    );
    let mut short = vec![0u8; 10];
    let hs = Headers::parse(&short);
    assert_eq!(
        modify::set_eth_src(&mut short, &hs, [0; 6]),
        Err(ModifyError::NoEthernet)
    );
    let mut ttl0 = PacketBuilder::tcp4(A4, B4, 1, 2).ttl(0).build();
    let h0 = Headers::parse(&ttl0);
    assert_eq!(
        modify::decrement_ipv4_ttl(&mut ttl0, &h0),
        Err(ModifyError::TtlExpired)
    );
    // Headers from a longer frame applied to a shorter buffer: an error,
    // and the buffer is untouched.
    let long = PacketBuilder::tcp4(A4, B4, 1, 2).payload(&[0; 100]).build();
    let hl = Headers::parse(&long);
    let mut cut = long[..40].to_vec();
    let before = cut.clone();
    assert_eq!(
        modify::set_dst_port(&mut cut, &hl, 5),
        Err(ModifyError::FrameMismatch)
    );
    assert_eq!(cut, before);
}

#[test]
fn non_first_fragment_only_ip_checksum_changes() {
    let mut f = PacketBuilder::tcp4(A4, B4, 1, 2)
        .fragment(100, false)
        .payload(&[0xaa; 24])
        .build();
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::None);
    let payload_before = f[34..].to_vec();
    modify::set_ipv4_dst(&mut f, &h, Ipv4Addr::new(1, 1, 1, 1)).unwrap();
    assert_eq!(f[34..], payload_before[..]);
    assert_eq!(
        modify::set_dst_port(&mut f, &h, 5),
        Err(ModifyError::NoTransport)
    );
    assert_checksums_valid(&f);
}

proptest! {
    #[test]
    fn random_rewrites_keep_checksums(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(),
        sport in any::<u16>(), dport in any::<u16>(),
        ttl in any::<u8>(), dscp in 0u8..64,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        which in 0usize..9,
    ) {
        let mut f = frames().swap_remove(which);
        let h = Headers::parse(&f);
        match h.l3 {
            L3::Ipv4(_) => {
                modify::set_ipv4_src(&mut f, &h, src.into()).unwrap();
                modify::set_ipv4_dst(&mut f, &h, dst.into()).unwrap();
                modify::set_ipv4_ttl(&mut f, &h, ttl).unwrap();
                modify::set_ipv4_dscp(&mut f, &h, dscp).unwrap();
            }
            L3::Ipv6(_) => {
                modify::set_ipv6_src(&mut f, &h, s6.into()).unwrap();
                modify::set_ipv6_dst(&mut f, &h, d6.into()).unwrap();
                modify::set_ipv6_hop_limit(&mut f, &h, ttl).unwrap();
                modify::set_ipv6_dscp(&mut f, &h, dscp).unwrap();
            }
            _ => unreachable!(),
        }
        if h.src_port().is_some() {
            modify::set_src_port(&mut f, &h, sport).unwrap();
            modify::set_dst_port(&mut f, &h, dport).unwrap();
        }
        assert_checksums_valid(&f);
        // And on freshly built packets with random payloads.
        let mut g = PacketBuilder::tcp4(src.into(), dst.into(), sport, dport).payload(&payload).build();
        let hg = Headers::parse(&g);
        modify::set_ipv4_src(&mut g, &hg, dst.into()).unwrap();
        modify::set_src_port(&mut g, &hg, dport).unwrap();
        assert_checksums_valid(&g);
        let mut u = PacketBuilder::udp6(s6.into(), d6.into(), sport, dport).payload(&payload).build();
        let hu = Headers::parse(&u);
        modify::set_ipv6_dst(&mut u, &hu, s6.into()).unwrap();
        modify::set_dst_port(&mut u, &hu, sport).unwrap();
        assert_checksums_valid(&u);
    }
}

#[test]
fn raw_setters_without_update_are_caught() {
    // The verifier above is not vacuous: a raw write breaks the checksums.
    let mut f = PacketBuilder::tcp4(A4, B4, 1, 2).build();
    {
        let mut ip = Ipv4Packet::new_checked(&mut f[14..]).unwrap();
        ip.set_ttl(1);
        assert!(!ip.verify_checksum());
        ip.fill_checksum();
        assert!(ip.verify_checksum());
    }
    let pseudo = checksum::pseudo_header_v4(A4, B4, 6, 20);
    let mut tcp = TcpSegment::new_checked(&mut f[34..]).unwrap();
    assert!(tcp.verify_checksum(pseudo));
    tcp.set_dst_port(3);
    assert!(!tcp.verify_checksum(pseudo));
}
