//! pcapng reading: files built by hand in both byte orders, `if_tsresol` in
//! micro-, nanoseconds and a binary unit, `if_tsoffset`, Simple Packet Blocks,
//! unknown blocks skipped, several sections, and every corrupt block named by
//! its offset. A classic pcap written by `PcapWriter` and converted to pcapng by
//! Wireshark's `editcap` reads back the same (skipped where editcap is missing, a
//! failure when `CI` is set).

use std::time::Duration;

use doca_flow::packet::PacketBuilder;
use dpu_fw::pcap::{
    Format, MAX_BLOCK_LEN, PcapError, PcapPacket, PcapReader, PcapWriter, PcapngProblem, Resolution,
};
use proptest::prelude::*;

/// Writes pcapng blocks in one byte order.
struct Ng {
    be: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(be: bool) -> Self {
        let mut ng = Self {
            be,
            out: Vec::new(),
        };
        ng.shb();
        ng
    }

    fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A block: type, length, body padded to 4, length.
    fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let padded = body.len().div_ceil(4) * 4;
        let len = u32::try_from(12 + padded).unwrap();
        let mut b = Vec::new();
        b.extend(self.u32(block_type));
        b.extend(self.u32(len));
        b.extend(body);
        b.resize(8 + padded, 0);
        b.extend(self.u32(len));
        self.out.extend(b);
        self
    }

    fn shb(&mut self) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u32(0x1a2b_3c4d));
        body.extend(self.u16(1));
        body.extend(self.u16(0));
        body.extend((-1i64).to_le_bytes());
        // An option (shb_userappl) and the end of options.
        body.extend(self.option(4, b"dpu-fw test"));
        body.extend(self.option(0, b""));
        self.block(0x0a0d_0d0a, &body)
    }

    fn option(&self, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend(self.u16(code));
        o.extend(self.u16(u16::try_from(value.len()).unwrap()));
        o.extend(value);
        o.resize(4 + value.len().div_ceil(4) * 4, 0);
        o
    }

    fn idb(&mut self, linktype: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u16(linktype));
        body.extend(self.u16(0));
        body.extend(self.u32(snaplen));
        for (code, value) in options {
            body.extend(self.option(*code, value));
        }
        if !options.is_empty() {
            body.extend(self.option(0, b""));
        }
        self.block(1, &body)
    }

    fn epb(&mut self, interface: u32, ticks: u64, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u32(interface));
        body.extend(self.u32((ticks >> 32) as u32));
        body.extend(self.u32(ticks as u32));
        body.extend(self.u32(u32::try_from(data.len()).unwrap()));
        body.extend(self.u32(u32::try_from(data.len()).unwrap() + 4));
        body.extend(data);
        body.resize(20 + data.len().div_ceil(4) * 4, 0);
        // An epb_flags option.
        body.extend(self.option(2, &self.u32(1)));
        body.extend(self.option(0, b""));
        self.block(6, &body)
    }

    fn spb(&mut self, orig_len: u32, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend(self.u32(orig_len));
        body.extend(data);
        self.block(3, &body)
    }
}

fn frame(n: u8) -> Vec<u8> {
    PacketBuilder::tcp4([10, 0, 0, n].into(), [10, 0, 0, 2].into(), 1234, 80)
        .payload(&[n; 7])
        .build()
}

fn read_all(file: &[u8]) -> Result<Vec<PcapPacket>, PcapError> {
    PcapReader::new(file)?.collect()
}

#[test]
fn both_byte_orders_micro_and_nano_resolution() {
    for be in [false, true] {
        let mut ng = Ng::new(be);
        let offset = ng.u64(100);
        // Interface 0: default resolution (microseconds); 1: nanoseconds
        // (if_tsresol 9); 2: 2^-10 s units with a 100 s offset.
        ng.idb(1, 65535, &[])
            .idb(1, 0, &[(9, vec![9])])
            .idb(1, 0, &[(9, vec![0x80 | 10]), (14, offset)])
            .epb(0, 1_700_000_000_123_456, &frame(1))
            .epb(1, 1_700_000_000_123_456_789, &frame(2))
            .epb(2, 3 * 1024 + 512, &frame(3));
        let reader = PcapReader::new(&ng.out[..]).unwrap();
        let h = *reader.header();
        assert_eq!(h.format, Format::Pcapng);
        assert_eq!(h.big_endian, be);
        assert_eq!((h.version_major, h.version_minor), (1, 0));
        let packets: Vec<PcapPacket> = reader.map(Result::unwrap).collect();
        let times: Vec<Duration> = packets.iter().map(|p| p.timestamp).collect();
        assert_eq!(
            times,
            [
                Duration::new(1_700_000_000, 123_456_000),
                Duration::new(1_700_000_000, 123_456_789),
                Duration::new(103, 500_000_000),
            ],
            "big endian: {be}"
        );
        for (p, n) in packets.iter().zip(1..) {
            assert_eq!(p.data, frame(n));
            assert_eq!(p.orig_len as usize, frame(n).len() + 4);
        }
    }
}

impl Ng {
    fn u64(&self, v: u64) -> Vec<u8> {
        if self.be {
            v.to_be_bytes().to_vec()
        } else {
            v.to_le_bytes().to_vec()
        }
    }
}

#[test]
fn unknown_blocks_are_skipped_and_sections_restart() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[])
        // Name Resolution, Interface Statistics and a custom block: skipped.
        .block(4, &[0; 16])
        .block(5, &[7; 24])
        .block(0x0000_0bad, &[1, 2, 3, 4, 5])
        .epb(0, 5_000_000, &frame(1));
    // A second section, big-endian, with its own interfaces (nanoseconds).
    let mut second = Ng::new(true);
    second.idb(1, 0, &[(9, vec![9])]).epb(0, 7, &frame(2));
    ng.out.extend(&second.out);
    let packets = read_all(&ng.out).unwrap();
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[0].timestamp, Duration::from_secs(5));
    assert_eq!(packets[0].data, frame(1));
    assert_eq!(packets[1].timestamp, Duration::from_nanos(7));
    assert_eq!(packets[1].data, frame(2));
}

#[test]
fn simple_packet_blocks_use_interface_zero() {
    for be in [false, true] {
        let mut ng = Ng::new(be);
        let f = frame(4);
        // Snapshot length 40 cuts the frame; orig_len keeps its length.
        ng.idb(1, 40, &[])
            .spb(u32::try_from(f.len()).unwrap(), &f[..40]);
        let packets = read_all(&ng.out).unwrap();
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].data, &f[..40]);
        assert_eq!(packets[0].orig_len as usize, f.len());
        assert_eq!(packets[0].timestamp, Duration::ZERO);
    }
}

fn problem(e: PcapError) -> (u64, u32, PcapngProblem) {
    match e {
        PcapError::Pcapng {
            offset,
            block_type,
            problem,
        } => (offset, block_type, problem),
        e => panic!("not a pcapng error: {e}"),
    }
}

#[test]
fn truncated_files_name_the_block() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]).epb(0, 1, &frame(1));
    let epb_at = (ng.out.len() - (12 + 20 + frame(1).len().div_ceil(4) * 4 + 12)) as u64;
    // Cut everywhere inside the packet block: each cut names its offset.
    for cut in epb_at as usize + 1..ng.out.len() {
        let err = read_all(&ng.out[..cut]).unwrap_err();
        let msg = err.to_string();
        let (offset, _, p) = problem(err);
        assert_eq!(offset, epb_at, "cut at {cut}: {msg}");
        assert!(matches!(p, PcapngProblem::Truncated { .. }), "{msg}");
        assert!(msg.contains(&format!("byte offset {epb_at}")), "{msg}");
        assert!(msg.contains("truncated"), "{msg}");
    }
    // Cut at a block boundary: a clean end with the packets so far.
    assert!(read_all(&ng.out[..epb_at as usize]).unwrap().is_empty());
    // Cut inside the section header.
    for cut in 4..28 {
        let err = PcapReader::new(&ng.out[..cut]).unwrap_err();
        let (offset, block_type, p) = problem(err);
        assert_eq!((offset, block_type), (0, 0x0a0d_0d0a));
        assert!(matches!(p, PcapngProblem::Truncated { .. }), "cut at {cut}");
    }
}

#[test]
fn corrupt_blocks_are_refused_with_their_offset() {
    // Not Ethernet (LINKTYPE_RAW = 101), as the classic reader refuses it.
    let mut ng = Ng::new(true);
    let idb_at = ng.out.len() as u64;
    ng.idb(101, 0, &[]);
    let err = read_all(&ng.out).unwrap_err();
    assert!(err.to_string().contains("link type 101"), "{err}");
    assert_eq!(
        problem(err),
        (
            idb_at,
            1,
            PcapngProblem::UnsupportedLinkType {
                interface: 0,
                linktype: 101
            }
        )
    );

    // A packet on an interface the section has not described.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]).epb(3, 0, &frame(1));
    let (_, _, p) = problem(read_all(&ng.out).unwrap_err());
    assert_eq!(p, PcapngProblem::UnknownInterface { interface: 3 });

    // Trailing length differs from the leading one.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]);
    let last = ng.out.len() - 4;
    ng.out[last] ^= 4;
    let (offset, _, p) = problem(read_all(&ng.out).unwrap_err());
    let shb_len = Ng::new(false).out.len();
    assert_eq!(offset, shb_len as u64);
    assert!(matches!(p, PcapngProblem::LengthMismatch { .. }));

    // A block length not a multiple of 4, and one over the limit.
    for (len, want) in [
        (36u32 + 1, PcapngProblem::BadLength { len: 37, min: 32 }),
        (
            MAX_BLOCK_LEN + 4,
            PcapngProblem::TooLong {
                len: MAX_BLOCK_LEN + 4,
            },
        ),
    ] {
        let mut ng = Ng::new(false);
        let at = ng.out.len() as u64;
        ng.out.extend(6u32.to_le_bytes());
        ng.out.extend(len.to_le_bytes());
        ng.out.extend([0; 40]);
        assert_eq!(problem(read_all(&ng.out).unwrap_err()), (at, 6, want));
    }

    // A captured length past the block's data.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]);
    let epb_at = ng.out.len();
    ng.epb(0, 0, &frame(1));
    ng.out[epb_at + 20..epb_at + 24].copy_from_slice(&9999u32.to_le_bytes());
    let (_, _, p) = problem(read_all(&ng.out).unwrap_err());
    assert!(matches!(
        p,
        PcapngProblem::CaplenPastBlock { caplen: 9999, .. }
    ));

    // A bad byte-order magic, an unknown major version, an if_tsresol too fine.
    let mut ng = Ng::new(false);
    ng.out[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let (_, _, p) = problem(read_all(&ng.out).unwrap_err());
    assert_eq!(p, PcapngProblem::BadByteOrderMagic { magic: 0x0102_0304 });
    let mut ng = Ng::new(false);
    ng.out[12..14].copy_from_slice(&2u16.to_le_bytes());
    let (_, _, p) = problem(read_all(&ng.out).unwrap_err());
    assert_eq!(p, PcapngProblem::UnsupportedVersion { major: 2, minor: 0 });
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[(9, vec![20])]);
    let (_, _, p) = problem(read_all(&ng.out).unwrap_err());
    assert_eq!(
        p,
        PcapngProblem::UnsupportedTsresol {
            interface: 0,
            tsresol: 20
        }
    );
}

/// Finds `name` on PATH.
fn tool(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn editcap_conversion_reads_back_the_same() {
    let Some(editcap) = tool("editcap") else {
        // CI installs it (wireshark-common, .ci/run): there a missing tool is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "editcap not found and CI is set: apt-get install wireshark-common"
        );
        eprintln!("skipped: editcap not installed (apt-get install wireshark-common)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("dpu-fw-pcapng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (res, tsprec) in [(Resolution::Micros, "6"), (Resolution::Nanos, "9")] {
        let mut w = PcapWriter::with_options(Vec::new(), res, 65535).unwrap();
        let times = [
            Duration::new(1_700_000_000, 123_456_000),
            Duration::new(1_700_000_001, 999_999_000),
        ];
        for (n, t) in (1..).zip(times) {
            w.write_packet(t, &frame(n)).unwrap();
        }
        let pcap = dir.join(format!("in{tsprec}.pcap"));
        let ng = dir.join(format!("out{tsprec}.pcapng"));
        std::fs::write(&pcap, w.into_inner()).unwrap();
        let status = std::process::Command::new(&editcap)
            .args(["-F", "pcapng"])
            .arg(&pcap)
            .arg(&ng)
            .status()
            .unwrap();
        assert!(status.success());
        let classic = read_all(&std::fs::read(&pcap).unwrap()).unwrap();
        let file = std::fs::read(&ng).unwrap();
        let reader = PcapReader::new(&file[..]).unwrap();
        assert_eq!(reader.header().format, Format::Pcapng);
        let converted: Vec<PcapPacket> = reader.map(Result::unwrap).collect();
        assert_eq!(converted, classic);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    /// Any bytes after a valid section header and interface: no panic, and
    /// every error names an offset inside the file.
    #[test]
    fn corrupt_files_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        big_endian in any::<bool>(),
    ) {
        let mut ng = Ng::new(big_endian);
        ng.idb(1, 0, &[(9, vec![9])]);
        ng.out.extend(&body);
        if let Err(e) = read_all(&ng.out) {
            if let PcapError::Pcapng { offset, .. } = e {
                prop_assert!(offset < ng.out.len() as u64);
            } else {
                prop_assert!(false, "unexpected error {}", e);
            }
        }
    }
}
