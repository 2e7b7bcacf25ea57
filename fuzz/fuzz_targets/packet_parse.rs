//! Fuzzes `Headers::parse`, every checked wire view and the modify
//! actions: none may panic, and the parse invariants must hold.
//!
//! Run with `fuzz/run.sh short packet_parse` (see `fuzz/README.md`).
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{
    EthernetFrame, Headers, IcmpMessage, Ipv4Packet, Ipv6Packet, L4, TcpSegment, UdpDatagram,
    modify,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = Headers::parse(data);
    assert_eq!(h.len, data.len());
    assert_eq!(h.offsets.l4.is_some(), h.l4 != L4::None);
    if h.fragment().is_some_and(|f| f.offset != 0) {
        assert_eq!(h.l4, L4::None);
    }
    if let Ok(e) = EthernetFrame::new_checked(data) {
        let _ = (e.src_addr(), e.dst_addr(), e.ethertype(), e.payload());
    }
    let l3 = h.offsets.l3.map_or(0, usize::from);
    let rest = data.get(l3..).unwrap_or(&[]);
    if let Ok(p) = Ipv4Packet::new_checked(rest) {
        let _ = (p.src_addr(), p.options(), p.payload(), p.verify_checksum());
    }
    if let Ok(p) = Ipv6Packet::new_checked(rest) {
        let _ = (p.src_addr(), p.flow_label(), p.payload());
    }
    let l4 = h.offsets.l4.map_or(0, usize::from);
    let seg = data.get(l4..).unwrap_or(&[]);
    if let Ok(t) = TcpSegment::new_checked(seg) {
        let _ = (t.options(), t.payload(), t.verify_checksum(0));
    }
    if let Ok(u) = UdpDatagram::new_checked(seg) {
        let _ = (u.payload(), u.verify_checksum(0));
    }
    if let Ok(m) = IcmpMessage::new_checked(seg) {
        let _ = (m.rest_of_header(), m.payload());
    }
    let mut copy = data.to_vec();
    let _ = modify::set_eth_dst(&mut copy, &h, [0xff; 6]);
    let _ = modify::set_ipv4_src(&mut copy, &h, Ipv4Addr::LOCALHOST);
    let _ = modify::decrement_ipv4_ttl(&mut copy, &h);
    let _ = modify::set_ipv6_dst(&mut copy, &h, Ipv6Addr::LOCALHOST);
    let _ = modify::set_src_port(&mut copy, &h, 1);
    assert_eq!(Headers::parse(&copy).offsets, h.offsets);
});
