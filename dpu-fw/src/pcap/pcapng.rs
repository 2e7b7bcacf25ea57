//! The pcapng half of [`PcapReader`](super::PcapReader): a strict block reader.
//!
//! Reads what dumpcap, Wireshark and tcpdump write: Section Header Blocks in
//! either byte order (a file may hold several sections), Interface Description
//! Blocks with their link type, snapshot length, `if_tsresol` and
//! `if_tsoffset`, Enhanced Packet Blocks and Simple Packet Blocks. Every other
//! block (name resolution, interface statistics, custom, decryption secrets,
//! the obsolete Packet Block, ...) is skipped by its length after its trailing
//! length is checked.
//!
//! Like the classic reader it never panics and never allocates more than
//! [`MAX_BLOCK_LEN`] for a block, whatever the file holds; every error names the
//! block's byte offset and what is wrong with it.
//!
//! Why hand-written and not a crate (evaluated 2026-12-05, with the crates'
//! sources): no released crate reads pcapng timestamps right. `pcap-file` 2.0
//! ignores `if_tsresol` and `if_tsoffset` and takes every tick as a nanosecond
//! (`pcapng/blocks/enhanced_packet.rs`, `Duration::from_nanos`), so a capture in
//! the default microseconds reads 1000x too early. `pcap-parser` 0.17
//! (`pcapng/time.rs`) returns no resolution for any binary `if_tsresol`, reads
//! `if_tsoffset` little-endian even in big-endian sections, and cuts seconds to
//! 32 bits. `pcap-file` 3.0 gets all of it right but is a release candidate
//! (3.0.0-rc.3) that needs Rust 1.93 (this workspace's MSRV is 1.85); a trial port
//! onto it, which still kept the framing (bounded reads, byte offsets in errors)
//! here, is on the branch `pcap-file-3-trial`. Switch when 3.0 is released.

use std::io::{self, Read};
use std::time::Duration;

use super::{LINKTYPE_ETHERNET, MAX_CAPLEN, PcapError, PcapPacket, read_full, u16_in, u32_in};

/// Section Header Block type (the same in both byte orders).
pub(super) const SHB_TYPE: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const IDB_TYPE: u32 = 0x0000_0001;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
/// The largest Section Header, Interface Description or packet block the
/// reader loads: a [`MAX_CAPLEN`] packet plus 64 KiB of header and options.
/// Other blocks are skipped without being loaded, whatever their length.
pub const MAX_BLOCK_LEN: u32 = MAX_CAPLEN + 64 * 1024;
const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// What is wrong with a pcapng block (see [`PcapError::Pcapng`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapngProblem {
    /// The file ends inside the block.
    #[error("truncated block ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes of the block present.
        got: u64,
        /// Bytes the block needs (its length, or the 8-byte block header).
        expected: u64,
    },
    /// The Section Header's byte-order magic is neither 0x1a2b3c4d nor its swap.
    #[error("bad byte-order magic {magic:#010x} in the section header")]
    BadByteOrderMagic {
        /// The four bytes, read big-endian.
        magic: u32,
    },
    /// The Section Header's major version is not 1.
    #[error("unsupported pcapng version {major}.{minor} (only 1.x is read)")]
    UnsupportedVersion {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// The block length is below the block type's minimum or not a multiple of 4.
    #[error("bad block length {len} (a block of this type needs at least {min}, a multiple of 4)")]
    BadLength {
        /// The block total length field.
        len: u32,
        /// The least length this block type can have.
        min: u32,
    },
    /// The block is longer than [`MAX_BLOCK_LEN`] (a corrupt file).
    #[error("block length {len} exceeds the {MAX_BLOCK_LEN}-byte limit (corrupt file?)")]
    TooLong {
        /// The block total length field.
        len: u32,
    },
    /// The length after the body differs from the one before it.
    #[error("trailing block length {trailer} differs from the leading length {len}")]
    LengthMismatch {
        /// The leading block total length.
        len: u32,
        /// The trailing block total length.
        trailer: u32,
    },
    /// An option runs past the end of the block.
    #[error("option {code} of {len} bytes runs past the end of the block")]
    BadOption {
        /// The option code.
        code: u16,
        /// The option length field.
        len: u16,
    },
    /// An interface uses another link type than Ethernet.
    #[error(
        "interface {interface}: unsupported link type {linktype} (only LINKTYPE_ETHERNET = 1 is supported)"
    )]
    UnsupportedLinkType {
        /// Interface index in its section (0-based).
        interface: u32,
        /// The link type.
        linktype: u16,
    },
    /// `if_tsresol` names a resolution finer than 10^-19 s or 2^-63 s.
    #[error("interface {interface}: unsupported if_tsresol {tsresol:#04x}")]
    UnsupportedTsresol {
        /// Interface index in its section (0-based).
        interface: u32,
        /// The option's byte.
        tsresol: u8,
    },
    /// A packet block before any section header (cannot happen after
    /// [`PcapReader::new`](super::PcapReader::new)) or naming an interface
    /// its section has not described.
    #[error("packet on interface {interface}, which the section has not described")]
    UnknownInterface {
        /// The interface id in the packet block.
        interface: u32,
    },
    /// An Enhanced Packet Block's captured length exceeds its body.
    #[error("captured length {caplen} exceeds the block's {room} bytes of packet data")]
    CaplenPastBlock {
        /// The captured length field.
        caplen: u32,
        /// The bytes the block holds for packet data.
        room: u32,
    },
    /// A packet's captured length exceeds [`MAX_CAPLEN`].
    #[error("captured length {caplen} exceeds the {MAX_CAPLEN}-byte limit (corrupt file?)")]
    CaplenTooLarge {
        /// The captured length.
        caplen: u32,
    },
}

/// One interface of the current section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    snaplen: u32,
    /// Timestamp units per second (from `if_tsresol`; 10^6 by default).
    units: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_secs: i64,
}

impl Interface {
    fn timestamp(&self, raw: u64) -> Duration {
        let secs = raw / self.units;
        let rem = u128::from(raw % self.units);
        // rem < units, so the quotient is below 1e9 and the conversion never fails.
        let nanos = u32::try_from(rem * 1_000_000_000 / u128::from(self.units)).unwrap_or(0);
        let t = Duration::new(secs, nanos);
        let off = Duration::from_secs(self.offset_secs.unsigned_abs());
        if self.offset_secs >= 0 {
            t.saturating_add(off)
        } else {
            t.saturating_sub(off)
        }
    }
}

/// The pcapng reading state: the current section's byte order and interfaces.
#[derive(Debug, Default)]
pub(super) struct NgState {
    pub(super) big_endian: bool,
    pub(super) version: (u16, u16),
    interfaces: Vec<Interface>,
}

fn err(offset: u64, block_type: u32, problem: PcapngProblem) -> PcapError {
    PcapError::Pcapng {
        offset,
        block_type,
        problem,
    }
}

/// The option values of a block's options area, in order, up to opt_endofopt.
fn options(
    mut area: &[u8],
    be: bool,
    offset: u64,
    block_type: u32,
) -> Result<Vec<(u16, &[u8])>, PcapError> {
    let mut out = Vec::new();
    while area.len() >= 4 {
        let code = u16_in(area, 0, be);
        let len = u16_in(area, 2, be);
        if code == OPT_ENDOFOPT {
            break;
        }
        let padded = (usize::from(len) + 3) & !3;
        let (Some(value), Some(rest)) = (area.get(4..4 + usize::from(len)), area.get(4 + padded..))
        else {
            return Err(err(
                offset,
                block_type,
                PcapngProblem::BadOption { code, len },
            ));
        };
        out.push((code, value));
        area = rest;
    }
    Ok(out)
}

impl NgState {
    /// Reads a Section Header Block whose type (4 bytes) has been read at
    /// `offset`; returns its length.
    pub(super) fn read_shb<R: Read>(&mut self, r: &mut R, offset: u64) -> Result<u64, PcapError> {
        let io = |source| PcapError::Io { offset, source };
        let trunc = |got: usize, expected: u64| {
            err(
                offset,
                SHB_TYPE,
                PcapngProblem::Truncated {
                    got: got as u64 + 4,
                    expected,
                },
            )
        };
        let mut head = [0u8; 8];
        let got = read_full(r, &mut head).map_err(io)?;
        if got < head.len() {
            return Err(trunc(got, 12));
        }
        let be = match u32_in(&head, 4, true) {
            BYTE_ORDER_MAGIC => true,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => false,
            magic => {
                return Err(err(
                    offset,
                    SHB_TYPE,
                    PcapngProblem::BadByteOrderMagic { magic },
                ));
            }
        };
        let len = u32_in(&head, 0, be);
        // type, length, magic, versions, section length, trailing length.
        check_len(offset, SHB_TYPE, len, 28)?;
        let mut body = vec![0u8; len as usize - 12];
        let got = read_full(r, &mut body).map_err(io)?;
        if got < body.len() {
            return Err(trunc(got + 8, len.into()));
        }
        check_trailer(offset, SHB_TYPE, len, &body, be)?;
        let (major, minor) = (u16_in(&body, 0, be), u16_in(&body, 2, be));
        if major != 1 {
            return Err(err(
                offset,
                SHB_TYPE,
                PcapngProblem::UnsupportedVersion { major, minor },
            ));
        }
        // Options are read only for their well-formedness; none is used.
        options(
            body.get(12..body.len() - 4).unwrap_or(&[]),
            be,
            offset,
            SHB_TYPE,
        )?;
        *self = NgState {
            big_endian: be,
            version: (major, minor),
            interfaces: Vec::new(),
        };
        Ok(len.into())
    }

    /// Reads blocks from `offset` until a packet; `Ok(None)` at a clean end of
    /// file (at a block boundary). Advances `offset` past each block read.
    pub(super) fn next_packet<R: Read>(
        &mut self,
        r: &mut R,
        offset: &mut u64,
    ) -> Result<Option<PcapPacket>, PcapError> {
        loop {
            let at = *offset;
            let io = |source| PcapError::Io { offset: at, source };
            let mut head = [0u8; 8];
            let got = read_full(r, &mut head[..4]).map_err(io)?;
            if got == 0 {
                return Ok(None);
            }
            if got < 4 {
                let problem = PcapngProblem::Truncated {
                    got: got as u64,
                    expected: 8,
                };
                return Err(err(at, u32_in(&head, 0, self.big_endian), problem));
            }
            if u32_in(&head, 0, false) == SHB_TYPE {
                *offset += self.read_shb(r, at)?;
                continue;
            }
            let be = self.big_endian;
            let block_type = u32_in(&head, 0, be);
            let got = read_full(r, &mut head[4..]).map_err(io)?;
            if got < 4 {
                let problem = PcapngProblem::Truncated {
                    got: got as u64 + 4,
                    expected: 8,
                };
                return Err(err(at, block_type, problem));
            }
            let len = u32_in(&head, 4, be);
            let min = match block_type {
                IDB_TYPE => 20,
                SPB_TYPE => 16,
                EPB_TYPE => 32,
                _ => 12,
            };
            if !matches!(block_type, IDB_TYPE | SPB_TYPE | EPB_TYPE) {
                if len < min || len % 4 != 0 {
                    return Err(err(at, block_type, PcapngProblem::BadLength { len, min }));
                }
                skip_block(r, at, block_type, len, be)?;
                *offset += u64::from(len);
                continue;
            }
            check_len(at, block_type, len, min)?;
            let mut body = vec![0u8; len as usize - 8];
            let got = read_full(r, &mut body).map_err(io)?;
            if got < body.len() {
                let problem = PcapngProblem::Truncated {
                    got: got as u64 + 8,
                    expected: len.into(),
                };
                return Err(err(at, block_type, problem));
            }
            check_trailer(at, block_type, len, &body, be)?;
            *offset += u64::from(len);
            // The body without its trailing length.
            let body = body.get(..body.len() - 4).unwrap_or(&[]);
            match block_type {
                IDB_TYPE => self.read_idb(body, at)?,
                EPB_TYPE => return self.read_epb(body, at).map(Some),
                _ => return self.read_spb(body, at).map(Some),
            }
        }
    }

    fn read_idb(&mut self, body: &[u8], at: u64) -> Result<(), PcapError> {
        let be = self.big_endian;
        let interface = u32::try_from(self.interfaces.len()).unwrap_or(u32::MAX);
        let linktype = u16_in(body, 0, be);
        if u32::from(linktype) != LINKTYPE_ETHERNET {
            return Err(err(
                at,
                IDB_TYPE,
                PcapngProblem::UnsupportedLinkType {
                    interface,
                    linktype,
                },
            ));
        }
        let mut iface = Interface {
            snaplen: u32_in(body, 4, be),
            units: 1_000_000,
            offset_secs: 0,
        };
        for (code, value) in options(body.get(8..).unwrap_or(&[]), be, at, IDB_TYPE)? {
            match (code, value) {
                (OPT_IF_TSRESOL, &[tsresol]) => {
                    let v = u32::from(tsresol & 0x7f);
                    let units = if tsresol & 0x80 == 0 {
                        10u64.checked_pow(v)
                    } else {
                        2u64.checked_pow(v)
                    };
                    iface.units = units.ok_or_else(|| {
                        err(
                            at,
                            IDB_TYPE,
                            PcapngProblem::UnsupportedTsresol { interface, tsresol },
                        )
                    })?;
                }
                (OPT_IF_TSOFFSET, v) => {
                    if let Ok(b) = <[u8; 8]>::try_from(v) {
                        iface.offset_secs = if be {
                            i64::from_be_bytes(b)
                        } else {
                            i64::from_le_bytes(b)
                        };
                    }
                }
                _ => {}
            }
        }
        self.interfaces.push(iface);
        Ok(())
    }

    fn interface(&self, id: u32, at: u64, block_type: u32) -> Result<Interface, PcapError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied()
            .ok_or_else(|| {
                err(
                    at,
                    block_type,
                    PcapngProblem::UnknownInterface { interface: id },
                )
            })
    }

    fn read_epb(&self, body: &[u8], at: u64) -> Result<PcapPacket, PcapError> {
        let be = self.big_endian;
        let iface = self.interface(u32_in(body, 0, be), at, EPB_TYPE)?;
        let raw = (u64::from(u32_in(body, 4, be)) << 32) | u64::from(u32_in(body, 8, be));
        let caplen = u32_in(body, 12, be);
        let orig_len = u32_in(body, 16, be);
        let room = u32::try_from(body.len().saturating_sub(20)).unwrap_or(u32::MAX);
        if caplen > room {
            return Err(err(
                at,
                EPB_TYPE,
                PcapngProblem::CaplenPastBlock { caplen, room },
            ));
        }
        if caplen > MAX_CAPLEN {
            return Err(err(at, EPB_TYPE, PcapngProblem::CaplenTooLarge { caplen }));
        }
        let data = body.get(20..20 + caplen as usize).unwrap_or(&[]).to_vec();
        Ok(PcapPacket {
            timestamp: iface.timestamp(raw),
            orig_len,
            data,
        })
    }

    /// A Simple Packet Block: interface 0, no timestamp (reported as zero),
    /// captured length the least of the original length, the interface's
    /// snapshot length (0 meaning none) and the block's room.
    fn read_spb(&self, body: &[u8], at: u64) -> Result<PcapPacket, PcapError> {
        let iface = self.interface(0, at, SPB_TYPE)?;
        let orig_len = u32_in(body, 0, self.big_endian);
        let room = u32::try_from(body.len().saturating_sub(4)).unwrap_or(u32::MAX);
        let mut caplen = orig_len.min(room);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        if caplen > MAX_CAPLEN {
            return Err(err(at, SPB_TYPE, PcapngProblem::CaplenTooLarge { caplen }));
        }
        let data = body.get(4..4 + caplen as usize).unwrap_or(&[]).to_vec();
        Ok(PcapPacket {
            timestamp: Duration::ZERO,
            orig_len,
            data,
        })
    }
}

fn check_len(at: u64, block_type: u32, len: u32, min: u32) -> Result<(), PcapError> {
    if len < min || len % 4 != 0 {
        return Err(err(at, block_type, PcapngProblem::BadLength { len, min }));
    }
    if len > MAX_BLOCK_LEN {
        return Err(err(at, block_type, PcapngProblem::TooLong { len }));
    }
    Ok(())
}

/// Checks the trailing length at the end of `rest` (the block after its
/// first 8 bytes, or after 12 for a section header).
fn check_trailer(
    at: u64,
    block_type: u32,
    len: u32,
    rest: &[u8],
    be: bool,
) -> Result<(), PcapError> {
    let trailer = u32_in(rest, rest.len().saturating_sub(4), be);
    if trailer != len {
        return Err(err(
            at,
            block_type,
            PcapngProblem::LengthMismatch { len, trailer },
        ));
    }
    Ok(())
}

/// Skips a block the reader does not use (its first 8 bytes read), without
/// loading it, and checks its trailing length.
fn skip_block<R: Read>(
    r: &mut R,
    at: u64,
    block_type: u32,
    len: u32,
    be: bool,
) -> Result<(), PcapError> {
    let io = |source| PcapError::Io { offset: at, source };
    let middle = u64::from(len) - 12;
    let skipped = io::copy(&mut r.by_ref().take(middle), &mut io::sink()).map_err(io)?;
    let mut trailer = [0u8; 4];
    let got = if skipped == middle {
        read_full(r, &mut trailer).map_err(io)?
    } else {
        0
    };
    if skipped < middle || got < 4 {
        let problem = PcapngProblem::Truncated {
            got: 8 + skipped + got as u64,
            expected: len.into(),
        };
        return Err(err(at, block_type, problem));
    }
    check_trailer(at, block_type, len, &trailer, be)
}
