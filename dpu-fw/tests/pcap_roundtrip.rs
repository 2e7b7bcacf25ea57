//! pcap reader / writer: round trips, both byte orders and resolutions,
//! and every corrupt-file error with its record index and byte offset.

use std::time::Duration;

use doca_flow::packet::{Headers, L4, PacketBuilder};
use dpu_fw::pcap::{
    LINKTYPE_ETHERNET, MAX_CAPLEN, PcapError, PcapPacket, PcapReader, PcapWriter, Resolution,
};
use proptest::prelude::*;

fn frames() -> Vec<Vec<u8>> {
    vec![
        PacketBuilder::tcp4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1234, 80)
            .payload(b"GET /")
            .build(),
        PacketBuilder::udp6(
            "2001:db8::1".parse().unwrap(),
            "::2".parse().unwrap(),
            53,
            53,
        )
        .pad_to(64)
        .build(),
        vec![],
        vec![0xee; 1514],
    ]
}

fn write_all(resolution: Resolution, times: &[Duration]) -> Vec<u8> {
    let mut w = PcapWriter::with_options(Vec::new(), resolution, 65535).unwrap();
    for (f, t) in frames().iter().zip(times) {
        w.write_packet(*t, f).unwrap();
    }
    w.flush().unwrap();
    w.into_inner()
}

#[test]
fn round_trip_micros_and_nanos() {
    let times = [
        Duration::new(0, 0),
        Duration::new(1_700_000_000, 123_456_000),
        Duration::new(u32::MAX.into(), 999_999_000),
        Duration::new(5, 1_000),
    ];
    for res in [Resolution::Micros, Resolution::Nanos] {
        let file = write_all(res, &times);
        let expected_len = 24 + frames().iter().map(|f| 16 + f.len()).sum::<usize>();
        assert_eq!(file.len(), expected_len);
        let reader = PcapReader::new(&file[..]).unwrap();
        let h = *reader.header();
        assert_eq!(h.resolution, res);
        assert!(!h.big_endian);
        assert_eq!((h.version_major, h.version_minor), (2, 4));
        assert_eq!(h.snaplen, 65535);
        assert_eq!(h.linktype, LINKTYPE_ETHERNET);
        let packets: Vec<PcapPacket> = reader.map(Result::unwrap).collect();
        assert_eq!(packets.len(), 4);
        for ((p, f), t) in packets.iter().zip(frames()).zip(times) {
            assert_eq!(p.data, f);
            assert_eq!(p.orig_len as usize, f.len());
            assert_eq!(p.timestamp, t);
        }
        // The frames still parse as what was built.
        assert_eq!(
            Headers::parse(&packets[0].data).l4,
            L4::Tcp {
                src_port: 1234,
                dst_port: 80,
                flags: 0
            }
        );
    }
}

#[test]
fn nanosecond_precision_is_kept_only_in_nano_files() {
    let t = Duration::new(10, 123_456_789);
    for (res, want) in [
        (Resolution::Nanos, t),
        (Resolution::Micros, Duration::new(10, 123_456_000)),
    ] {
        let mut w = PcapWriter::with_options(Vec::new(), res, 100).unwrap();
        w.write_packet(t, &[1, 2, 3]).unwrap();
        let file = w.into_inner();
        let p = PcapReader::new(&file[..]).unwrap().next().unwrap().unwrap();
        assert_eq!(p.timestamp, want);
    }
}

#[test]
fn orig_len_is_kept_by_write() {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let p = PcapPacket {
        timestamp: Duration::from_secs(3),
        orig_len: 9000,
        data: vec![7; 96],
    };
    w.write(&p).unwrap();
    let file = w.into_inner();
    let back = PcapReader::new(&file[..]).unwrap().next().unwrap().unwrap();
    assert_eq!(back, p);
}

/// A hand-written big-endian nanosecond file with one 4-byte record.
#[test]
fn reads_big_endian_nanos() {
    let mut f = vec![
        0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1,
    ];
    f.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 60, 1, 2, 3, 4]);
    let mut r = PcapReader::new(&f[..]).unwrap();
    assert!(r.header().big_endian);
    assert_eq!(r.header().resolution, Resolution::Nanos);
    assert_eq!(r.header().snaplen, 65535);
    let p = r.next().unwrap().unwrap();
    assert_eq!(p.timestamp, Duration::new(7, 9));
    assert_eq!(p.orig_len, 60);
    assert_eq!(p.data, [1, 2, 3, 4]);
    assert!(r.next().is_none());
}

/// A hand-written big-endian microsecond file (as written by old SPARC
/// tcpdump).
#[test]
fn reads_big_endian_micros() {
    let mut f = vec![
        0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0xdc, 0, 0, 0, 1,
    ];
    f.extend_from_slice(&[
        0, 0, 0, 1, 0, 0x0f, 0x42, 0x3f, 0, 0, 0, 1, 0, 0, 0, 1, 0xab,
    ]);
    let mut r = PcapReader::new(&f[..]).unwrap();
    assert_eq!(r.header().resolution, Resolution::Micros);
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.timestamp, Duration::new(1, 999_999_000));
    assert_eq!(p.data, [0xab]);
    assert!(r.next_packet().unwrap().is_none());
}

#[test]
fn bad_magic_and_pcapng() {
    let f = [0u8; 24];
    assert!(matches!(
        PcapReader::new(&f[..]),
        Err(PcapError::BadMagic { magic: 0 })
    ));
    let ng = [
        0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d,
    ];
    // A pcapng section header cut after its byte-order magic: read as pcapng
    // (tests/pcapng.rs covers the format), and its truncation named.
    let err = PcapReader::new(&ng[..]).unwrap_err();
    assert!(matches!(err, PcapError::Pcapng { offset: 0, .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn truncated_file_header() {
    let file = write_all(Resolution::Micros, &[Duration::ZERO; 4]);
    for n in 0..24 {
        match PcapReader::new(&file[..n]) {
            Err(PcapError::TruncatedFileHeader { got }) => assert_eq!(got, n),
            other => panic!("{n}: {other:?}"),
        }
    }
}

#[test]
fn other_link_types_are_refused() {
    let mut file = write_all(Resolution::Micros, &[Duration::ZERO; 4]);
    file[20] = 101; // LINKTYPE_RAW
    let err = PcapReader::new(&file[..]).unwrap_err();
    assert!(matches!(
        err,
        PcapError::UnsupportedLinkType { linktype: 101 }
    ));
    assert!(err.to_string().contains("101"));
}

#[test]
fn truncated_record_header_names_index_and_offset() {
    let file = write_all(Resolution::Micros, &[Duration::ZERO; 4]);
    let second = 24 + 16 + frames()[0].len();
    let cut = &file[..second + 10];
    let mut r = PcapReader::new(cut).unwrap();
    assert!(r.next().unwrap().is_ok());
    let err = r.next().unwrap().unwrap_err();
    match &err {
        PcapError::TruncatedRecordHeader { index, offset, got } => {
            assert_eq!((*index, *offset, *got), (1, second as u64, 10));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("record 1 at byte offset {second}"))
    );
    // The iterator stops after an error.
    assert!(r.next().is_none());
}

#[test]
fn truncated_record_data() {
    let file = write_all(Resolution::Micros, &[Duration::ZERO; 4]);
    let cut = &file[..24 + 16 + 5];
    let mut r = PcapReader::new(cut).unwrap();
    match r.next().unwrap() {
        Err(PcapError::TruncatedRecord {
            index: 0,
            offset: 24,
            got: 5,
            caplen,
        }) => assert_eq!(caplen as usize, frames()[0].len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn absurd_caplen() {
    let mut file = write_all(Resolution::Micros, &[Duration::ZERO; 4]);
    file[24 + 8..24 + 12].copy_from_slice(&(MAX_CAPLEN + 1).to_le_bytes());
    let mut r = PcapReader::new(&file[..]).unwrap();
    let err = r.next().unwrap().unwrap_err();
    assert!(matches!(
        err,
        PcapError::CaplenTooLarge { index: 0, offset: 24, caplen } if caplen == MAX_CAPLEN + 1
    ));
    // A caplen of u32::MAX must not try to allocate 4 GiB.
    file[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        PcapReader::new(&file[..]).unwrap().next(),
        Some(Err(PcapError::CaplenTooLarge { .. }))
    ));
}

#[test]
fn writer_refuses_what_it_cannot_represent() {
    let mut w = PcapWriter::with_options(Vec::new(), Resolution::Micros, 100).unwrap();
    assert!(matches!(
        w.write_packet(Duration::ZERO, &[0; 101]),
        Err(PcapError::RecordTooLarge {
            index: 0,
            len: 101,
            limit: 100
        })
    ));
    assert!(matches!(
        w.write_packet(Duration::from_secs(1 << 32), &[0; 10]),
        Err(PcapError::TimestampOutOfRange { index: 0, .. })
    ));
    // Nothing but the file header was written.
    assert_eq!(w.into_inner().len(), 24);
}

#[test]
fn io_errors_carry_the_offset() {
    struct Failing;
    impl std::io::Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(matches!(
        PcapWriter::new(Failing),
        Err(PcapError::Io { offset: 0, .. })
    ));
}

proptest! {
    #[test]
    fn corrupt_files_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        big_endian in any::<bool>(),
    ) {
        let mut file = if big_endian {
            vec![0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1]
        } else {
            write_all(Resolution::Nanos, &[])
        };
        file.extend_from_slice(&body);
        let mut n = 0;
        for item in PcapReader::new(&file[..]).unwrap() {
            if let Ok(p) = item {
                prop_assert!(p.data.len() <= MAX_CAPLEN as usize);
            }
            n += 1;
            prop_assert!(n <= body.len() / 16 + 1);
        }
        // Arbitrary bytes as a whole file.
        if let Ok(r) = PcapReader::new(&body[..]) {
            for _ in r {}
        }
    }

    #[test]
    fn every_truncation_reads_a_prefix_then_at_most_one_error(cut in 0usize..1800) {
        let file = write_all(Resolution::Micros, &[Duration::from_secs(1); 4]);
        let cut = cut.min(file.len());
        let Ok(r) = PcapReader::new(&file[..cut]) else {
            prop_assert!(cut < 24);
            return Ok(());
        };
        let items: Vec<_> = r.collect();
        let oks = items.iter().take_while(|i| i.is_ok()).count();
        prop_assert!(items.len() - oks <= 1);
        for (p, f) in items.iter().take(oks).zip(frames()) {
            prop_assert_eq!(&p.as_ref().unwrap().data, &f);
        }
    }
}
