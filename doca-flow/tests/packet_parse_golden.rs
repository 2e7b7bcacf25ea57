//! Golden byte tests for `Headers::parse`: hand-written frames with known
//! field values, one per parser path.

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{
    EthHeader, Fragment, Headers, Ipv4Header, L3, L4, Malformed, Offsets, VlanTag, ethertype,
};

/// Decodes hex, ignoring whitespace and `|` separators.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    assert!(digits.len() % 2 == 0, "odd hex length");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

const ETH: &str = "001122334455 66778899aabb";
const DST_MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const SRC_MAC: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

// IPv4: tos 0xb8 (DSCP 46), total 40, ident 0x1234, DF, TTL 64, TCP,
// 192.168.1.2 -> 10.0.0.1.
const IPV4_TCP_HDR: &str = "45 b8 0028 1234 4000 40 06 0000 c0a80102 0a000001";
// TCP 12345 -> 443, seq 1, data offset 5, SYN|ACK.
const TCP_HDR: &str = "3039 01bb 00000001 00000000 50 12 ffff 0000 0000";

fn ipv4_tcp_frame() -> Vec<u8> {
    hex(&format!("{ETH} 0800 {IPV4_TCP_HDR} {TCP_HDR}"))
}

#[test]
fn ipv4_tcp_every_field() {
    let f = ipv4_tcp_frame();
    assert_eq!(f.len(), 54);
    let h = Headers::parse(&f);
    assert_eq!(h.len, 54);
    assert_eq!(
        h.eth,
        Some(EthHeader {
            dst: DST_MAC,
            src: SRC_MAC,
            ethertype: ethertype::IPV4,
            vlan: [None, None],
        })
    );
    assert_eq!(
        h.l3,
        L3::Ipv4(Ipv4Header {
            src: Ipv4Addr::new(192, 168, 1, 2),
            dst: Ipv4Addr::new(10, 0, 0, 1),
            protocol: 6,
            dscp: 46,
            ecn: 0,
            ttl: 64,
            header_len: 20,
            fragment: Fragment {
                is_fragment: false,
                offset: 0,
                more: false,
                dont_fragment: true,
            },
        })
    );
    assert_eq!(
        h.l4,
        L4::Tcp {
            src_port: 12345,
            dst_port: 443,
            flags: 0x12
        }
    );
    assert_eq!(
        h.offsets,
        Offsets {
            l3: Some(14),
            l4: Some(34)
        }
    );
    assert_eq!(h.malformed, None);
    assert_eq!(h.src_port(), Some(12345));
    assert_eq!(h.dst_port(), Some(443));
    assert_eq!(h.ip_proto(), Some(6));
}

#[test]
fn qinq_two_tags() {
    // 802.1ad outer VID 100, 802.1Q inner PCP 1 VID 200, IPv4 UDP 53 -> 5353.
    let f = hex(&format!(
        "{ETH} 88a8 0064 8100 20c8 0800 \
         4500 001c 0000 0000 4011 0000 0a000001 0a000002 \
         0035 14e9 0008 0000"
    ));
    let h = Headers::parse(&f);
    let eth = h.eth.unwrap();
    assert_eq!(
        eth.vlan,
        [
            Some(VlanTag {
                tpid: 0x88a8,
                tci: 0x0064
            }),
            Some(VlanTag {
                tpid: 0x8100,
                tci: 0x20c8
            }),
        ]
    );
    assert_eq!(eth.vlan[0].unwrap().vid(), 100);
    assert_eq!(eth.vlan[1].unwrap().vid(), 200);
    assert_eq!(eth.vlan[1].unwrap().pcp(), 1);
    assert!(!eth.vlan[1].unwrap().dei());
    assert_eq!(eth.ethertype, ethertype::IPV4);
    assert_eq!(
        h.l4,
        L4::Udp {
            src_port: 53,
            dst_port: 5353
        }
    );
    assert_eq!(h.offsets.l3, Some(22));
    assert_eq!(h.offsets.l4, Some(42));
    assert_eq!(h.malformed, None);
}

#[test]
fn three_vlan_tags_stop_at_the_third() {
    let f = hex(&format!(
        "{ETH} 8100 000a 8100 000b 8100 000c 0800 {IPV4_TCP_HDR} {TCP_HDR}"
    ));
    let h = Headers::parse(&f);
    let eth = h.eth.unwrap();
    assert_eq!(eth.vlan[0].unwrap().vid(), 10);
    assert_eq!(eth.vlan[1].unwrap().vid(), 11);
    assert_eq!(eth.ethertype, 0x8100);
    assert_eq!(h.l3, L3::Other(0x8100));
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.offsets.l3, Some(22));
    assert_eq!(h.malformed, None);
}

#[test]
fn single_vlan_arp_is_other() {
    let f = hex(&format!("{ETH} 8100 0fff 0806 0001 0800 0604 0001"));
    let h = Headers::parse(&f);
    let eth = h.eth.unwrap();
    assert_eq!(eth.vlan[0].unwrap().vid(), 0x0fff);
    assert_eq!(eth.vlan[1], None);
    assert_eq!(h.l3, L3::Other(ethertype::ARP));
    assert_eq!(h.offsets.l3, Some(18));
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv4_options_are_skipped() {
    // IHL 6 (one word of options: NOP NOP NOP EOL), UDP 1000 -> 2000.
    let f = hex(&format!(
        "{ETH} 0800 4600 0020 0000 0000 4011 0000 01020304 05060708 01010100 \
         03e8 07d0 0008 0000"
    ));
    let h = Headers::parse(&f);
    let L3::Ipv4(ip) = h.l3 else {
        panic!("not IPv4: {h:?}")
    };
    assert_eq!(ip.header_len, 24);
    assert_eq!(ip.src, Ipv4Addr::new(1, 2, 3, 4));
    assert_eq!(
        h.l4,
        L4::Udp {
            src_port: 1000,
            dst_port: 2000
        }
    );
    assert_eq!(h.offsets.l4, Some(14 + 24));
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv4_first_fragment_keeps_l4() {
    // MF set, offset 0; TCP header follows.
    let f = hex(&format!(
        "{ETH} 0800 4500 0028 0001 2000 4006 0000 0a000001 0a000002 {TCP_HDR}"
    ));
    let h = Headers::parse(&f);
    assert_eq!(
        h.fragment(),
        Some(Fragment {
            is_fragment: true,
            offset: 0,
            more: true,
            dont_fragment: false
        })
    );
    assert_eq!(
        h.l4,
        L4::Tcp {
            src_port: 12345,
            dst_port: 443,
            flags: 0x12
        }
    );
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv4_non_first_fragment_has_no_l4() {
    // Offset 185 (1480 bytes), MF clear; the payload looks like a TCP
    // header but must never be read as one.
    let f = hex(&format!(
        "{ETH} 0800 4500 0028 0001 00b9 4006 0000 0a000001 0a000002 {TCP_HDR}"
    ));
    let h = Headers::parse(&f);
    assert_eq!(
        h.fragment(),
        Some(Fragment {
            is_fragment: true,
            offset: 185,
            more: false,
            dont_fragment: false
        })
    );
    assert_eq!(h.ip_proto(), Some(6));
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.offsets.l4, None);
    assert_eq!(h.src_port(), None);
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv4_tiny_first_fragment_is_truncated_l4() {
    // RFC 1858: a first fragment too short to hold the TCP header.
    let f = hex(&format!(
        "{ETH} 0800 4500 001c 0001 2000 4006 0000 0a000001 0a000002 3039 01bb 00000001"
    ));
    let h = Headers::parse(&f);
    assert!(matches!(h.l3, L3::Ipv4(_)));
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.malformed, Some(Malformed::TruncatedL4));
}

const V6_SRC: &str = "20010db8000000000000000000000001";
const V6_DST: &str = "20010db8000000000000000000000002";

#[test]
fn ipv6_hop_by_hop_then_first_fragment_then_udp() {
    // payload = 8 (HBH) + 8 (frag) + 8 (UDP) = 24.
    let f = hex(&format!(
        "{ETH} 86dd 6 b8 12345 0018 00 40 {V6_SRC} {V6_DST} \
         2c 00 0104 00000000 \
         11 00 0001 deadbeef \
         1f90 0050 0008 0000"
    ));
    let h = Headers::parse(&f);
    let L3::Ipv6(ip) = h.l3 else {
        panic!("not IPv6: {h:?}")
    };
    assert_eq!(ip.src, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ip.dst, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ip.traffic_class, 0xb8);
    assert_eq!(ip.flow_label, 0x12345);
    assert_eq!(ip.hop_limit, 64);
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
            src_port: 8080,
            dst_port: 80
        }
    );
    assert_eq!(
        h.offsets,
        Offsets {
            l3: Some(14),
            l4: Some(14 + 40 + 16)
        }
    );
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv6_non_first_fragment_has_no_l4() {
    // Fragment offset 100 (0x0320 >> 3), M clear, next header TCP.
    let f = hex(&format!(
        "{ETH} 86dd 60000000 001c 2c 40 {V6_SRC} {V6_DST} \
         06 00 0320 00000001 {TCP_HDR}"
    ));
    let h = Headers::parse(&f);
    let L3::Ipv6(ip) = h.l3 else {
        panic!("not IPv6: {h:?}")
    };
    assert_eq!(ip.next_header, 6);
    assert_eq!(
        ip.fragment,
        Fragment {
            is_fragment: true,
            offset: 100,
            more: false,
            dont_fragment: false
        }
    );
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.offsets.l4, None);
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv6_routing_destopts_ah_then_icmpv6() {
    // Routing (len 0 = 8 bytes) -> DestOpts (len 1 = 16 bytes) -> AH
    // (len 4 = 24 bytes) -> ICMPv6 echo request.
    let routing = "3c 00 00 00 00000000";
    let dest = "33 01 00000000 0000 0000000000000000";
    let ah = "3a 04 0000 00000001 00000001 0000000000000000 00000000";
    let icmp = "80 00 0000 0001 0002";
    let payload_len = 8 + 16 + 24 + 8;
    let f = hex(&format!(
        "{ETH} 86dd 60000000 {payload_len:04x} 2b 40 {V6_SRC} {V6_DST} {routing} {dest} {ah} {icmp}"
    ));
    let h = Headers::parse(&f);
    let L3::Ipv6(ip) = h.l3 else {
        panic!("not IPv6: {h:?}")
    };
    assert_eq!(ip.next_header, 58);
    assert_eq!(
        h.l4,
        L4::Icmp6 {
            icmp_type: 128,
            code: 0
        }
    );
    assert_eq!(h.offsets.l4, Some(14 + 40 + 48));
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv6_esp_is_other() {
    let f = hex(&format!(
        "{ETH} 86dd 60000000 0008 32 40 {V6_SRC} {V6_DST} 00000001 00000001"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::Other(50));
    assert_eq!(h.offsets.l4, Some(54));
    assert_eq!(h.malformed, None);
}

#[test]
fn ipv6_hop_by_hop_not_first_is_malformed() {
    let f = hex(&format!(
        "{ETH} 86dd 60000000 0018 3c 40 {V6_SRC} {V6_DST} \
         00 00 0000 00000000 11 00 0000 00000000 1f90 0050 0008 0000"
    ));
    let h = Headers::parse(&f);
    let L3::Ipv6(ip) = h.l3 else {
        panic!("not IPv6: {h:?}")
    };
    assert_eq!(ip.next_header, 0);
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.malformed, Some(Malformed::BadIpv6Extension));
}

#[test]
fn ipv6_too_many_extension_headers() {
    let mut exts = String::new();
    for _ in 0..9 {
        exts.push_str("3c 00 0000 00000000 ");
    }
    exts.push_str("11 00 0000 00000000");
    let f = hex(&format!(
        "{ETH} 86dd 60000000 {:04x} 3c 40 {V6_SRC} {V6_DST} {exts}",
        10 * 8
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.malformed, Some(Malformed::BadIpv6Extension));
    assert_eq!(h.l4, L4::None);
}

#[test]
fn ipv6_extension_cut_by_payload_length() {
    // Hop-by-hop claims 16 bytes but the payload length holds only 8.
    let f = hex(&format!(
        "{ETH} 86dd 60000000 0008 00 40 {V6_SRC} {V6_DST} 11 01 0000 00000000 0000000000000000"
    ));
    let h = Headers::parse(&f);
    assert!(matches!(h.l3, L3::Ipv6(_)));
    assert_eq!(h.malformed, Some(Malformed::BadIpv6Extension));
}

#[test]
fn truncated_at_every_length() {
    let full = ipv4_tcp_frame();
    let whole = Headers::parse(&full);
    for cut in 0..full.len() {
        let h = Headers::parse(&full[..cut]);
        assert_eq!(h.len, cut);
        assert_eq!(h.l4, L4::None, "cut {cut}");
        assert_eq!(h.offsets.l4, None, "cut {cut}");
        if cut < 14 {
            assert_eq!(h.malformed, Some(Malformed::TruncatedEthernet), "cut {cut}");
            assert_eq!(h.eth, None);
            assert_eq!(h.l3, L3::None);
        } else if cut < 34 {
            // The Ethernet header stays valid; no IPv4 fixed header.
            assert_eq!(h.eth, whole.eth, "cut {cut}");
            assert_eq!(h.malformed, Some(Malformed::BadIpHeader), "cut {cut}");
            assert_eq!(h.l3, L3::None, "cut {cut}");
        } else {
            // The fixed IP header was read, but the frame is shorter than
            // the total length: the addresses stay valid.
            assert_eq!(h.eth, whole.eth, "cut {cut}");
            assert_eq!(h.l3, whole.l3, "cut {cut}");
            assert_eq!(h.malformed, Some(Malformed::BadIpHeader), "cut {cut}");
        }
    }
    assert_eq!(whole.malformed, None);
}

#[test]
fn truncated_inside_vlan_tag() {
    let f = hex(&format!("{ETH} 8100 00"));
    let h = Headers::parse(&f);
    let eth = h.eth.unwrap();
    assert_eq!(eth.src, SRC_MAC);
    assert_eq!(eth.vlan, [None, None]);
    assert_eq!(h.l3, L3::None);
    assert_eq!(h.offsets.l3, None);
    assert_eq!(h.malformed, Some(Malformed::TruncatedEthernet));
}

#[test]
fn bad_ihl_is_bad_ip_header() {
    let f = hex(&format!(
        "{ETH} 0800 4400 0028 0000 0000 4006 0000 0a000001 0a000002 {TCP_HDR}"
    ));
    let h = Headers::parse(&f);
    let L3::Ipv4(ip) = h.l3 else {
        panic!("not IPv4: {h:?}")
    };
    assert_eq!(ip.header_len, 16);
    assert_eq!(ip.dst, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.malformed, Some(Malformed::BadIpHeader));
}

#[test]
fn total_length_below_header_is_bad_ip_header() {
    let f = hex(&format!(
        "{ETH} 0800 4500 0010 0000 0000 4006 0000 0a000001 0a000002 {TCP_HDR}"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.malformed, Some(Malformed::BadIpHeader));
    assert_eq!(h.l4, L4::None);
}

#[test]
fn ihl_beyond_frame_is_bad_ip_header() {
    // IHL 15 (60 bytes) but only 20 header bytes and a 20-byte total.
    let f = hex(&format!(
        "{ETH} 0800 4f00 0014 0000 0000 4006 0000 0a000001 0a000002"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.malformed, Some(Malformed::BadIpHeader));
}

#[test]
fn version_mismatch_is_bad_ip_header() {
    let f = hex(&format!("{ETH} 0800 {IPV4_TCP_HDR} {TCP_HDR}").replacen("0800 45", "0800 65", 1));
    let h = Headers::parse(&f);
    assert_eq!(h.l3, L3::None);
    assert_eq!(h.malformed, Some(Malformed::BadIpHeader));
    assert_eq!(h.offsets.l3, Some(14));
}

#[test]
fn padding_after_short_udp_packet_is_ignored() {
    // 28-byte IPv4/UDP packet padded to a 60-byte frame.
    let mut f = hex(&format!(
        "{ETH} 0800 4500 001c 0000 0000 4011 0000 0a000001 0a000002 0035 0035 0008 0000"
    ));
    assert_eq!(f.len(), 42);
    f.resize(60, 0);
    let h = Headers::parse(&f);
    assert_eq!(h.len, 60);
    assert_eq!(
        h.l4,
        L4::Udp {
            src_port: 53,
            dst_port: 53
        }
    );
    assert_eq!(h.malformed, None);
}

#[test]
fn padding_is_not_read_as_tcp_header() {
    // Total length 36: only 16 bytes of TCP. The frame is padded with
    // 0x50 bytes that would make a plausible rest-of-header.
    let mut f = hex(&format!(
        "{ETH} 0800 4500 0024 0000 0000 4006 0000 0a000001 0a000002 3039 01bb 00000001 00000000 5012 ffff"
    ));
    f.resize(70, 0x50);
    let h = Headers::parse(&f);
    assert!(matches!(h.l3, L3::Ipv4(_)));
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.malformed, Some(Malformed::TruncatedL4));
}

#[test]
fn ipv6_padding_bounded_by_payload_length() {
    // Payload length 4: a UDP header cannot fit, whatever follows.
    let mut f = hex(&format!(
        "{ETH} 86dd 60000000 0004 11 40 {V6_SRC} {V6_DST} 1f90 0050"
    ));
    f.resize(100, 0x11);
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.malformed, Some(Malformed::TruncatedL4));
}

#[test]
fn tcp_data_offset_below_five() {
    let f = hex(&format!(
        "{ETH} 0800 4500 0028 0000 0000 4006 0000 0a000001 0a000002 \
         3039 01bb 00000001 00000000 40 12 ffff 0000 0000"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::None);
    assert_eq!(h.malformed, Some(Malformed::TruncatedL4));
}

#[test]
fn tcp_options_beyond_packet() {
    // Data offset 8 (32 bytes) but only 20 bytes of TCP in the packet.
    let f = hex(&format!(
        "{ETH} 0800 4500 0028 0000 0000 4006 0000 0a000001 0a000002 \
         3039 01bb 00000001 00000000 80 12 ffff 0000 0000"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.malformed, Some(Malformed::TruncatedL4));
}

#[test]
fn icmp_echo_request() {
    let f = hex(&format!(
        "{ETH} 0800 4500 001c 0000 0000 4001 0000 0a000001 0a000002 0800 f7fe 0001 0000"
    ));
    let h = Headers::parse(&f);
    assert_eq!(
        h.l4,
        L4::Icmp {
            icmp_type: 8,
            code: 0
        }
    );
    assert_eq!(h.offsets.l4, Some(34));
}

#[test]
fn gre_is_other_with_offset() {
    let f = hex(&format!(
        "{ETH} 0800 4500 0018 0000 0000 402f 0000 0a000001 0a000002 0000 0800"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.l4, L4::Other(47));
    assert_eq!(h.offsets.l4, Some(34));
    assert_eq!(h.malformed, None);
}

#[test]
fn empty_and_tiny_frames() {
    for len in 0..14 {
        let h = Headers::parse(&vec![0xff; len]);
        assert_eq!(h.eth, None);
        assert_eq!(h.malformed, Some(Malformed::TruncatedEthernet));
    }
}

#[test]
fn ipv6_atomic_fragment_is_not_a_fragment() {
    let f = hex(&format!(
        "{ETH} 86dd 60000000 0010 2c 40 {V6_SRC} {V6_DST} 11 00 0000 00000007 1f90 0050 0008 0000"
    ));
    let h = Headers::parse(&f);
    assert_eq!(h.fragment(), Some(Fragment::default()));
    assert_eq!(
        h.l4,
        L4::Udp {
            src_port: 8080,
            dst_port: 80
        }
    );
}

#[test]
fn vlan_pcp_and_dei() {
    let tag = VlanTag {
        tpid: 0x8100,
        tci: 0xf064,
    };
    assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (7, true, 100));
}
