//! No parser or checked view panics, on arbitrary bytes and on mutations
//! (byte flips, truncations) of valid frames built by PacketBuilder.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{
    EthernetFrame, Headers, IcmpMessage, Ipv4Packet, Ipv6Ext, Ipv6Packet, L3, L4, PacketBuilder,
    TcpSegment, UdpDatagram, modify,
};
use proptest::prelude::*;

/// The parser reads fixed headers as arrays (one length check per header); its IPv4,
/// TCP and UDP fields and its IPv4 verdict must be those of the checked views.
fn agrees_with_the_views(bytes: &[u8], h: &Headers) {
    let (Some(l3_off), L3::Ipv4(ip)) = (h.offsets.l3, h.l3) else {
        return;
    };
    let l3 = &bytes[usize::from(l3_off)..];
    let v = Ipv4Packet::new_unchecked(l3);
    assert_eq!(ip.src, v.src_addr());
    assert_eq!(ip.dst, v.dst_addr());
    assert_eq!(ip.protocol, v.protocol());
    assert_eq!((ip.dscp, ip.ecn, ip.ttl), (v.dscp(), v.ecn(), v.ttl()));
    assert_eq!(ip.header_len, v.header_len());
    assert_eq!(
        (
            ip.fragment.offset,
            ip.fragment.more,
            ip.fragment.dont_fragment
        ),
        (v.frag_offset(), v.more_frags(), v.dont_frag())
    );
    let checked = Ipv4Packet::new_checked(l3).is_ok();
    assert_eq!(
        checked,
        h.malformed != Some(doca_flow::packet::Malformed::BadIpHeader)
    );
    if !checked || v.frag_offset() != 0 {
        return;
    }
    let seg = v.payload();
    match h.l4 {
        L4::Tcp {
            src_port,
            dst_port,
            flags,
        } => {
            let t = TcpSegment::new_checked(seg).expect("the parser took a TCP header");
            assert_eq!((src_port, dst_port), (t.src_port(), t.dst_port()));
            assert_eq!(flags, bytes[usize::from(h.offsets.l4.unwrap()) + 13]);
        }
        L4::Udp { src_port, dst_port } => {
            assert!(seg.len() >= 8);
            let u = UdpDatagram::new_unchecked(seg);
            assert_eq!((src_port, dst_port), (u.src_port(), u.dst_port()));
        }
        L4::None if v.protocol() == 6 => assert!(TcpSegment::new_checked(seg).is_err()),
        L4::None if v.protocol() == 17 => assert!(seg.len() < 8),
        _ => {}
    }
}

/// Touches every accessor of every view that accepts the buffer, plus the
/// parser, and checks the parser's invariants.
fn exercise(bytes: &[u8]) {
    let h = Headers::parse(bytes);
    assert_eq!(h.len, bytes.len());
    // offsets.l4 is set exactly when an L4 header was recognised, and
    // points inside the frame.
    assert_eq!(h.offsets.l4.is_some(), h.l4 != L4::None);
    if let Some(l3) = h.offsets.l3 {
        assert!(usize::from(l3) <= bytes.len());
    }
    if let Some(l4) = h.offsets.l4 {
        assert!(usize::from(l4) <= bytes.len());
        assert!(h.offsets.l3.unwrap() < l4);
    }
    if h.eth.is_none() {
        assert_eq!(h.l3, L3::None);
    }
    // A non-first fragment never carries an L4 header.
    if h.fragment().is_some_and(|f| f.offset != 0) {
        assert_eq!(h.l4, L4::None);
    }

    if let Ok(e) = EthernetFrame::new_checked(bytes) {
        let _ = (e.dst_addr(), e.src_addr(), e.ethertype(), e.payload().len());
    }
    for start in [0usize, 14, 18, 22] {
        let Some(b) = bytes.get(start..) else {
            continue;
        };
        if let Ok(p) = Ipv4Packet::new_checked(b) {
            let _ = (
                p.version(),
                p.dscp(),
                p.ecn(),
                p.ident(),
                p.ttl(),
                p.protocol(),
            );
            let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum());
            let _ = (p.dont_frag(), p.more_frags(), p.frag_offset(), p.checksum());
            assert!(p.options().len() + 20 == usize::from(p.header_len()));
            assert!(p.payload().len() + usize::from(p.header_len()) == usize::from(p.total_len()));
        }
        if let Ok(p) = Ipv6Packet::new_checked(b) {
            let _ = (
                p.version(),
                p.traffic_class(),
                p.flow_label(),
                p.next_header(),
            );
            let _ = (p.hop_limit(), p.src_addr(), p.dst_addr());
            assert_eq!(p.payload().len(), usize::from(p.payload_len()));
        }
        if let Ok(t) = TcpSegment::new_checked(b) {
            let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number());
            let _ = (
                t.flags(),
                t.window(),
                t.checksum(),
                t.urgent(),
                t.verify_checksum(0),
            );
            assert_eq!(t.options().len() + 20, usize::from(t.header_len()));
            let _ = t.payload();
        }
        if let Ok(u) = UdpDatagram::new_checked(b) {
            let _ = (
                u.src_port(),
                u.dst_port(),
                u.checksum(),
                u.verify_checksum(0),
            );
            assert_eq!(u.payload().len() + 8, usize::from(u.len()));
        }
        if let Ok(m) = IcmpMessage::new_checked(b) {
            let _ = (
                m.msg_type(),
                m.code(),
                m.checksum(),
                m.rest_of_header(),
                m.payload(),
            );
        }
    }
    agrees_with_the_views(bytes, &h);
    // Unchecked views never panic either.
    let _ = Ipv4Packet::new_unchecked(bytes).payload();
    let _ = Ipv6Packet::new_unchecked(bytes).payload();
    let _ = TcpSegment::new_unchecked(bytes).options();
    let _ = UdpDatagram::new_unchecked(bytes).payload();

    // Modify actions never panic, whatever the parse said.
    let mut copy = bytes.to_vec();
    let _ = modify::set_eth_src(&mut copy, &h, [1; 6]);
    let _ = modify::set_ipv4_dst(&mut copy, &h, Ipv4Addr::BROADCAST);
    let _ = modify::decrement_ipv4_ttl(&mut copy, &h);
    let _ = modify::set_ipv6_src(&mut copy, &h, Ipv6Addr::LOCALHOST);
    let _ = modify::set_ipv6_dscp(&mut copy, &h, 7);
    let _ = modify::set_dst_port(&mut copy, &h, 7);
    // And the result still parses to the same structure.
    let h2 = Headers::parse(&copy);
    assert_eq!(h2.offsets, h.offsets);
    assert_eq!(h2.malformed, h.malformed);
}

fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let v4 = any::<[u8; 4]>().prop_map(Ipv4Addr::from);
    let v6 = any::<[u8; 16]>().prop_map(Ipv6Addr::from);
    (
        v4,
        v6,
        any::<u16>(),
        any::<u16>(),
        0u8..8,
        0usize..4,
        proptest::collection::vec(any::<u8>(), 0..48),
        any::<bool>(),
        0u16..4,
    )
        .prop_map(|(a4, a6, sp, dp, kind, vlans, payload, opt, frag)| {
            let mut b = match kind {
                0 => PacketBuilder::tcp4(a4, a4, sp, dp),
                1 => PacketBuilder::udp4(a4, a4, sp, dp),
                2 => PacketBuilder::icmp4(a4, a4, 8, 0),
                3 => PacketBuilder::tcp6(a6, a6, sp, dp),
                4 => PacketBuilder::udp6(a6, a6, sp, dp),
                5 => PacketBuilder::icmp6(a6, a6, 128, 0),
                6 => PacketBuilder::ipv4(a4, a4, 47),
                _ => PacketBuilder::ethernet(0x0806),
            };
            for v in 0..vlans {
                b = b.vlan(v as u16);
            }
            if opt {
                b = b
                    .ipv4_options(&[1, 1, 1, 1, 1, 1, 1, 0])
                    .ipv6_ext(Ipv6Ext::HopByHop(vec![]))
                    .ipv6_ext(Ipv6Ext::Auth(vec![0; 8]));
            }
            if frag != 0 {
                b = b.fragment(frag - 1, frag % 2 == 0);
            }
            b.payload(&payload).pad_to(60).build()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2000)))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_an_ip_ethertype(
        kind in 0usize..4,
        body in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        // Steer random bytes into the IP and VLAN paths.
        let prefix: &[u8] = match kind {
            0 => &[0x08, 0x00, 0x45],
            1 => &[0x86, 0xdd, 0x60],
            2 => &[0x81, 0x00, 0x00, 0x01, 0x08, 0x00, 0x46],
            _ => &[0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x86, 0xdd, 0x60],
        };
        let mut f = vec![0u8; 12];
        f.extend_from_slice(prefix);
        f.extend_from_slice(&body);
        exercise(&f);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        frame in valid_frame(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        exercise(&frame);
        let mut m = frame.clone();
        for (i, x) in &flips {
            let i = i.index(m.len());
            m[i] ^= x;
        }
        exercise(&m);
        let n = cut.index(frame.len() + 1);
        exercise(&frame[..n]);
        exercise(&m[..n]);
    }

    #[test]
    fn every_truncation_of_a_valid_frame_keeps_the_outer_layers(frame in valid_frame()) {
        let whole = Headers::parse(&frame);
        for n in 0..frame.len() {
            let h = Headers::parse(&frame[..n]);
            exercise(&frame[..n]);
            // The Ethernet header, once present, is the same as in the whole frame.
            if n >= 14 + 4 * whole.eth.map_or(0, |e| e.vlan.iter().flatten().count()) {
                prop_assert_eq!(h.eth, whole.eth);
            }
        }
    }
}
