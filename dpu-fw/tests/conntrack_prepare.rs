//! `Tracker::prepare_headers` (the dataplane's path: IPv4 TCP/UDP read straight from
//! the parsed headers, everything else through `CtPacket`) prepares every frame exactly
//! as `Tracker::prepare(CtPacket::parse(..))` does, on well-formed frames and on frames
//! with bytes flipped and cut short.

use std::net::{Ipv4Addr, Ipv6Addr};

use doca_flow::packet::{Headers, PacketBuilder};
use dpu_fw::conntrack::{CtConfig, CtPacket, Prepared, Tracker};
use proptest::prelude::*;

mod common;

fn base() -> impl Strategy<Value = Vec<u8>> {
    let v4 = || (0u32..4).prop_map(|i| Ipv4Addr::from(0x0a00_0001 + i));
    let v6 = || (0u16..4).prop_map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i + 1));
    let port = || prop_oneof![Just(80u16), Just(443u16), 1024u16..1030];
    prop_oneof![
        (
            v4(),
            v4(),
            port(),
            port(),
            any::<u8>(),
            any::<u32>(),
            0usize..3,
            0usize..40
        )
            .prop_map(|(s, d, sp, dp, flags, seq, opts, payload)| {
                let opts: &[u8] = match opts {
                    0 => &[],
                    1 => &[1, 3, 3, 7],
                    _ => &[2, 4, 5, 0xb4, 1, 3, 3, 20],
                };
                PacketBuilder::tcp4(s, d, sp, dp)
                    .flags(flags)
                    .seq(seq)
                    .tcp_options(opts)
                    .payload(&vec![0u8; payload])
                    .build()
            }),
        (v4(), v4(), port(), port(), 0usize..40).prop_map(|(s, d, sp, dp, n)| {
            PacketBuilder::udp4(s, d, sp, dp)
                .payload(&vec![1u8; n])
                .build()
        }),
        (v4(), v4(), port(), port(), 1u16..100, any::<bool>()).prop_map(
            |(s, d, sp, dp, off, more)| {
                PacketBuilder::udp4(s, d, sp, dp)
                    .fragment(off, more)
                    .payload(&[0; 16])
                    .build()
            }
        ),
        (v4(), v4(), any::<u16>())
            .prop_map(|(s, d, id)| { PacketBuilder::icmp4(s, d, 8, 0).icmp_echo(id, 1).build() }),
        (v4(), v4(), port(), port()).prop_map(|(s, d, sp, dp)| {
            let quoted = PacketBuilder::udp4(d, s, dp, sp).build();
            PacketBuilder::icmp4(s, d, 3, 3)
                .payload(&quoted[14..])
                .build()
        }),
        (v6(), v6(), port(), port(), any::<u8>()).prop_map(|(s, d, sp, dp, flags)| {
            PacketBuilder::tcp6(s, d, sp, dp).flags(flags).build()
        }),
        (v6(), v6(), port(), port())
            .prop_map(|(s, d, sp, dp)| { PacketBuilder::udp6(s, d, sp, dp).vlan(7).build() }),
    ]
}

/// A frame, then up to three bytes changed and maybe the tail cut off.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        base(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(mut f, flips, cut)| {
            for (i, v) in flips {
                let i = i.index(f.len());
                f[i] = v;
            }
            if let Some(c) = cut {
                f.truncate(c.index(f.len() + 1));
            }
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2048)))]

    #[test]
    fn prepare_headers_equals_prepare_of_ctpacket(frames in prop::collection::vec(frame(), 1..24), zone in 0u16..3) {
        let t = Tracker::new(CtConfig { max_connections: 64, ..CtConfig::default() });
        for (i, f) in frames.iter().enumerate() {
            let h = Headers::parse(f);
            let mut p = Prepared::default();
            let got = t.prepare_headers(zone, f, &h, &mut p).then_some(p);
            let want = CtPacket::parse(f, &h).map(|c| t.prepare(zone, &c));
            prop_assert_eq!(got, want, "frame {}: {:02x?}", i, f);
            // Tracking changes the table between packets: the next frames meet it.
            if let Some(p) = got {
                let now = 1_000_000 * (i as u64 + 1);
                let tracked = t.track_prepared(&p, now);
                let _ = t.commit(&tracked, now);
            }
        }
    }
}
