//! Capture files: a dependency-free reader of classic pcap and pcapng, and a
//! classic pcap writer.
//!
//! [`PcapReader`] tells the two formats apart by their first four bytes.
//! Classic pcap: both byte orders and both timestamp resolutions (magic
//! `0xa1b2c3d4` microseconds, `0xa1b23c4d` nanoseconds). pcapng (what
//! Wireshark and dumpcap write by default): sections in either byte order,
//! Interface Description Blocks with their `if_tsresol` (any decimal or
//! binary resolution down to 10^-19 s or 2^-63 s) and `if_tsoffset`,
//! Enhanced and Simple Packet Blocks; every other block is skipped by its
//! length. Only `LINKTYPE_ETHERNET` (1) is accepted, in the file header or in
//! every interface, since the software dataplane parses Ethernet frames.
//! [`PcapWriter`] writes little-endian classic pcap in either resolution.
//!
//! The reader never panics and never allocates more than [`MAX_CAPLEN`] for
//! a record ([`MAX_BLOCK_LEN`] for a pcapng block), whatever the file holds;
//! every error names the byte offset where it was found (and the record
//! index in a classic file, the block type in a pcapng one).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use dpu_fw::pcap::{PcapReader, PcapWriter};
//!
//! let mut writer = PcapWriter::new(Vec::new())?;
//! writer.write_packet(Duration::from_micros(1_500_000), &[0xaa; 60])?;
//! let file = writer.into_inner();
//!
//! let mut reader = PcapReader::new(&file[..])?;
//! let packet = reader.next().unwrap()?;
//! assert_eq!(packet.timestamp, Duration::from_micros(1_500_000));
//! assert_eq!(packet.data, vec![0xaa; 60]);
//! assert!(reader.next().is_none());
//! # Ok::<(), dpu_fw::pcap::PcapError>(())
//! ```

use std::io::{self, Read, Write};
use std::time::Duration;

mod pcapng;

pub use pcapng::{MAX_BLOCK_LEN, PcapngProblem};

/// Magic of a microsecond-resolution file.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic of a nanosecond-resolution file.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Ethernet (the only link type supported).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The largest record the reader accepts (256 KiB); larger `caplen`
/// values mean a corrupt file.
pub const MAX_CAPLEN: u32 = 256 * 1024;
/// The file header length.
pub const FILE_HEADER_LEN: usize = 24;
/// The record header length.
pub const RECORD_HEADER_LEN: usize = 16;

/// Timestamp resolution of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// Microseconds (magic `0xa1b2c3d4`).
    #[default]
    Micros,
    /// Nanoseconds (magic `0xa1b23c4d`).
    Nanos,
}

/// The format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Classic libpcap.
    #[default]
    Pcap,
    /// pcapng.
    Pcapng,
}

/// The file header of a capture.
///
/// For a pcapng file it describes the first section: `big_endian` and the
/// version are the Section Header's, `resolution` is
/// [`Resolution::Nanos`] (timestamps are converted from each interface's
/// `if_tsresol`), `snaplen` is 0 (each interface has its own) and
/// `linktype` is [`LINKTYPE_ETHERNET`] (the only one accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapHeader {
    /// Classic pcap or pcapng.
    pub format: Format,
    /// Timestamp resolution.
    pub resolution: Resolution,
    /// True if the file (its first section, for pcapng) was written big-endian.
    pub big_endian: bool,
    /// Format major version (2; 1 for pcapng).
    pub version_major: u16,
    /// Format minor version (4; 0 for pcapng).
    pub version_minor: u16,
    /// Snapshot length the capture used (0 for pcapng).
    pub snaplen: u32,
    /// Link type (always [`LINKTYPE_ETHERNET`] once read).
    pub linktype: u32,
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapPacket {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// Length of the packet on the wire (may exceed `data.len()` if the
    /// capture was cut at the snapshot length).
    pub orig_len: u32,
    /// The captured bytes (an Ethernet frame, possibly cut short).
    pub data: Vec<u8>,
}

/// What is wrong with a capture file, and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// Reading or writing failed.
    #[error("pcap I/O error at byte offset {offset}")]
    Io {
        /// Byte offset in the file where the operation started.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file ends inside its 24-byte header.
    #[error("truncated pcap file header: {got} of 24 bytes")]
    TruncatedFileHeader {
        /// Bytes present.
        got: usize,
    },
    /// The file does not start with a classic pcap magic number.
    #[error("bad pcap magic {magic:#010x} at byte offset 0 (not a classic libpcap file)")]
    BadMagic {
        /// The first four bytes, read big-endian.
        magic: u32,
    },
    /// A pcapng block is corrupt or describes what the reader does not support.
    #[error("pcapng block {block_type:#010x} at byte offset {offset}: {problem}")]
    Pcapng {
        /// Byte offset of the block.
        offset: u64,
        /// The block type (as far as it was read).
        block_type: u32,
        /// What is wrong.
        #[source]
        problem: PcapngProblem,
    },
    /// The link type is not Ethernet.
    #[error("unsupported pcap link type {linktype} (only LINKTYPE_ETHERNET = 1 is supported)")]
    UnsupportedLinkType {
        /// The link type in the file header.
        linktype: u32,
    },
    /// The file ends inside a 16-byte record header.
    #[error("record {index} at byte offset {offset}: truncated record header ({got} of 16 bytes)")]
    TruncatedRecordHeader {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record header.
        offset: u64,
        /// Bytes present.
        got: usize,
    },
    /// A record's captured length is absurd (over [`MAX_CAPLEN`]).
    #[error(
        "record {index} at byte offset {offset}: caplen {caplen} exceeds the {MAX_CAPLEN}-byte limit (corrupt file?)"
    )]
    CaplenTooLarge {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record header.
        offset: u64,
        /// The captured length field.
        caplen: u32,
    },
    /// The file ends inside a record's data.
    #[error(
        "record {index} at byte offset {offset}: truncated record data ({got} of {caplen} bytes)"
    )]
    TruncatedRecord {
        /// Record index (0-based).
        index: u64,
        /// Byte offset of the record header.
        offset: u64,
        /// Bytes present.
        got: usize,
        /// Bytes the header announced.
        caplen: u32,
    },
    /// A packet to write is larger than [`MAX_CAPLEN`] or the snapshot length.
    #[error("cannot write record {index}: {len} bytes exceed the {limit}-byte limit")]
    RecordTooLarge {
        /// Record index (0-based).
        index: u64,
        /// Packet length.
        len: usize,
        /// The limit.
        limit: u32,
    },
    /// A timestamp to write does not fit the 32-bit seconds field.
    #[error("cannot write record {index}: timestamp {secs} s does not fit in 32 bits")]
    TimestampOutOfRange {
        /// Record index (0-based).
        index: u64,
        /// Seconds since the epoch.
        secs: u64,
    },
}

/// Reads until `buf` is full or the reader is exhausted; returns the
/// number of bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn u32_in(b: &[u8], off: usize, big_endian: bool) -> u32 {
    let w = b
        .get(off..)
        .and_then(|s| s.get(..4))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .unwrap_or([0; 4]);
    if big_endian {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

fn u16_in(b: &[u8], off: usize, big_endian: bool) -> u16 {
    let w = b
        .get(off..)
        .and_then(|s| s.get(..2))
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .unwrap_or([0; 2]);
    if big_endian {
        u16::from_be_bytes(w)
    } else {
        u16::from_le_bytes(w)
    }
}

/// Reads packets from a classic pcap or a pcapng file.
///
/// As an [`Iterator`] it yields `Result<PcapPacket, PcapError>` and stops
/// after the first error (a corrupt record leaves no reliable way to find
/// the next one).
#[derive(Debug)]
pub struct PcapReader<R> {
    reader: R,
    header: PcapHeader,
    /// The pcapng state (`None` for a classic file).
    ng: Option<pcapng::NgState>,
    offset: u64,
    index: u64,
    done: bool,
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    ///
    /// # Errors
    ///
    /// [`PcapError::TruncatedFileHeader`], [`PcapError::BadMagic`],
    /// [`PcapError::UnsupportedLinkType`] or [`PcapError::Io`] for a classic
    /// file; [`PcapError::Pcapng`] if a pcapng file's section header is
    /// corrupt.
    pub fn new(mut reader: R) -> Result<Self, PcapError> {
        let mut buf = [0u8; FILE_HEADER_LEN];
        let got = read_full(&mut reader, &mut buf[..4])
            .map_err(|source| PcapError::Io { offset: 0, source })?;
        if got < 4 {
            return Err(PcapError::TruncatedFileHeader { got });
        }
        let magic_be = u32_in(&buf, 0, true);
        if magic_be == pcapng::SHB_TYPE {
            let mut ng = pcapng::NgState::default();
            let offset = ng.read_shb(&mut reader, 0)?;
            let header = PcapHeader {
                format: Format::Pcapng,
                resolution: Resolution::Nanos,
                big_endian: ng.big_endian,
                version_major: ng.version.0,
                version_minor: ng.version.1,
                snaplen: 0,
                linktype: LINKTYPE_ETHERNET,
            };
            return Ok(Self {
                reader,
                header,
                ng: Some(ng),
                offset,
                index: 0,
                done: false,
            });
        }
        let (resolution, big_endian) = match (magic_be, magic_be.swap_bytes()) {
            (MAGIC_MICROS, _) => (Resolution::Micros, true),
            (MAGIC_NANOS, _) => (Resolution::Nanos, true),
            (_, MAGIC_MICROS) => (Resolution::Micros, false),
            (_, MAGIC_NANOS) => (Resolution::Nanos, false),
            _ => return Err(PcapError::BadMagic { magic: magic_be }),
        };
        let got = 4 + read_full(&mut reader, &mut buf[4..])
            .map_err(|source| PcapError::Io { offset: 4, source })?;
        if got < FILE_HEADER_LEN {
            return Err(PcapError::TruncatedFileHeader { got });
        }
        let header = PcapHeader {
            format: Format::Pcap,
            resolution,
            big_endian,
            version_major: u16_in(&buf, 4, big_endian),
            version_minor: u16_in(&buf, 6, big_endian),
            snaplen: u32_in(&buf, 16, big_endian),
            // The upper bits carry FCS-length flags in some writers.
            linktype: u32_in(&buf, 20, big_endian) & 0x0fff_ffff,
        };
        if header.linktype != LINKTYPE_ETHERNET {
            return Err(PcapError::UnsupportedLinkType {
                linktype: header.linktype,
            });
        }
        Ok(Self {
            reader,
            header,
            ng: None,
            offset: FILE_HEADER_LEN as u64,
            index: 0,
            done: false,
        })
    }

    /// The file header.
    pub fn header(&self) -> &PcapHeader {
        &self.header
    }

    /// Reads the next packet; `Ok(None)` at a clean end of file.
    ///
    /// # Errors
    ///
    /// [`PcapError::TruncatedRecordHeader`], [`PcapError::CaplenTooLarge`],
    /// [`PcapError::TruncatedRecord`] or [`PcapError::Io`], each naming the
    /// record index and its byte offset; for pcapng, [`PcapError::Pcapng`]
    /// naming the block's offset and type, or [`PcapError::Io`].
    pub fn next_packet(&mut self) -> Result<Option<PcapPacket>, PcapError> {
        if let Some(ng) = &mut self.ng {
            let packet = ng.next_packet(&mut self.reader, &mut self.offset)?;
            if packet.is_some() {
                self.index += 1;
            }
            return Ok(packet);
        }
        let (index, offset) = (self.index, self.offset);
        let be = self.header.big_endian;
        let io = |source| PcapError::Io { offset, source };
        let mut rec = [0u8; RECORD_HEADER_LEN];
        let got = read_full(&mut self.reader, &mut rec).map_err(io)?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD_HEADER_LEN {
            return Err(PcapError::TruncatedRecordHeader { index, offset, got });
        }
        let secs = u32_in(&rec, 0, be);
        let frac = u32_in(&rec, 4, be);
        let caplen = u32_in(&rec, 8, be);
        let orig_len = u32_in(&rec, 12, be);
        if caplen > MAX_CAPLEN {
            return Err(PcapError::CaplenTooLarge {
                index,
                offset,
                caplen,
            });
        }
        // Bounded by MAX_CAPLEN just above.
        let len = caplen as usize;
        let mut data = vec![0u8; len];
        let got = read_full(&mut self.reader, &mut data).map_err(io)?;
        if got < len {
            return Err(PcapError::TruncatedRecord {
                index,
                offset,
                got,
                caplen,
            });
        }
        // Sloppy writers put >= 1e6 (1e9) in the fraction; Duration
        // normalises it, and the sum cannot overflow with 32-bit seconds.
        let frac = match self.header.resolution {
            Resolution::Micros => Duration::from_micros(u64::from(frac)),
            Resolution::Nanos => Duration::from_nanos(u64::from(frac)),
        };
        let timestamp = Duration::from_secs(u64::from(secs)).saturating_add(frac);
        self.index += 1;
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(Some(PcapPacket {
            timestamp,
            orig_len,
            data,
        }))
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = Result<PcapPacket, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_packet().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Writes a classic little-endian pcap file with link type Ethernet.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    writer: W,
    resolution: Resolution,
    snaplen: u32,
    offset: u64,
    index: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header: microsecond timestamps, snapshot length
    /// [`MAX_CAPLEN`].
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] if the header cannot be written.
    pub fn new(writer: W) -> Result<Self, PcapError> {
        Self::with_options(writer, Resolution::Micros, MAX_CAPLEN)
    }

    /// Writes the file header with the given resolution and snapshot
    /// length (capped at [`MAX_CAPLEN`]). Packets longer than the
    /// snapshot length are refused, not cut.
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] if the header cannot be written.
    pub fn with_options(
        mut writer: W,
        resolution: Resolution,
        snaplen: u32,
    ) -> Result<Self, PcapError> {
        let snaplen = snaplen.min(MAX_CAPLEN);
        let magic = match resolution {
            Resolution::Micros => MAGIC_MICROS,
            Resolution::Nanos => MAGIC_NANOS,
        };
        let mut h = [0u8; FILE_HEADER_LEN];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        writer
            .write_all(&h)
            .map_err(|source| PcapError::Io { offset: 0, source })?;
        Ok(Self {
            writer,
            resolution,
            snaplen,
            offset: FILE_HEADER_LEN as u64,
            index: 0,
        })
    }

    /// Writes one packet captured whole at `timestamp` (since the epoch).
    ///
    /// # Errors
    ///
    /// [`PcapError::RecordTooLarge`] if `data` exceeds the snapshot length,
    /// [`PcapError::TimestampOutOfRange`] if the seconds exceed 32 bits,
    /// [`PcapError::Io`] if writing fails.
    pub fn write_packet(&mut self, timestamp: Duration, data: &[u8]) -> Result<(), PcapError> {
        let orig_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.write_record(timestamp, orig_len, data)
    }

    /// Writes a [`PcapPacket`] as read (its `orig_len` kept).
    ///
    /// # Errors
    ///
    /// As [`write_packet`](Self::write_packet).
    pub fn write(&mut self, packet: &PcapPacket) -> Result<(), PcapError> {
        self.write_record(packet.timestamp, packet.orig_len, &packet.data)
    }

    fn write_record(
        &mut self,
        timestamp: Duration,
        orig_len: u32,
        data: &[u8],
    ) -> Result<(), PcapError> {
        let index = self.index;
        let caplen = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= self.snaplen)
            .ok_or(PcapError::RecordTooLarge {
                index,
                len: data.len(),
                limit: self.snaplen,
            })?;
        let secs = timestamp.as_secs();
        let secs32 =
            u32::try_from(secs).map_err(|_| PcapError::TimestampOutOfRange { index, secs })?;
        let frac = match self.resolution {
            Resolution::Micros => timestamp.subsec_micros(),
            Resolution::Nanos => timestamp.subsec_nanos(),
        };
        let mut rec = [0u8; RECORD_HEADER_LEN];
        rec[0..4].copy_from_slice(&secs32.to_le_bytes());
        rec[4..8].copy_from_slice(&frac.to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
        let offset = self.offset;
        self.writer
            .write_all(&rec)
            .and_then(|()| self.writer.write_all(data))
            .map_err(|source| PcapError::Io { offset, source })?;
        self.offset += (RECORD_HEADER_LEN + data.len()) as u64;
        self.index += 1;
        Ok(())
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] if flushing fails.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        let offset = self.offset;
        self.writer
            .flush()
            .map_err(|source| PcapError::Io { offset, source })
    }

    /// Returns the underlying writer (not flushed; call
    /// [`flush`](Self::flush) first if it buffers).
    pub fn into_inner(self) -> W {
        self.writer
    }
}
