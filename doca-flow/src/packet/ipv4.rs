//! IPv4 packets (RFC 791), options included.

use core::net::Ipv4Addr;

use super::{Error, bytes, checksum};

/// Field offsets of the IPv4 header.
pub mod field {
    /// Version (upper nibble) and IHL in 32-bit words (lower nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (upper 6 bits) and ECN (lower 2 bits).
    pub const TOS: usize = 1;
    /// Total length of header and payload (2 bytes).
    pub const TOTAL_LEN: usize = 2;
    /// Identification (2 bytes).
    pub const IDENT: usize = 4;
    /// Flags (3 bits: reserved, DF, MF) and fragment offset (13 bits).
    pub const FLAGS_FRAG: usize = 6;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol of the payload.
    pub const PROTOCOL: usize = 9;
    /// Header checksum (2 bytes).
    pub const CHECKSUM: usize = 10;
    /// Source address (4 bytes).
    pub const SRC: usize = 12;
    /// Destination address (4 bytes).
    pub const DST: usize = 16;
    /// Length of the header without options.
    pub const MIN_HEADER_LEN: usize = 20;
    /// Largest header length (IHL 15).
    pub const MAX_HEADER_LEN: usize = 60;
    /// Don't-fragment bit in the flags/offset word.
    pub const DF: u16 = 0x4000;
    /// More-fragments bit in the flags/offset word.
    pub const MF: u16 = 0x2000;
    /// Fragment offset bits in the flags/offset word (8-byte units).
    pub const OFFSET_MASK: u16 = 0x1fff;
}

/// A zero-copy view of an IPv4 packet.
///
/// [`new_checked`](Self::new_checked) validates IHL and total length
/// against the buffer; after it, [`options`](Self::options) and
/// [`payload`](Self::payload) are exactly the header's options and the
/// `total_len`-bounded payload (trailing link-layer padding excluded).
/// Accessors never panic: on an unchecked short buffer, fields outside it
/// read as zero and writes to them are ignored.
///
/// The version nibble is not checked here; [`Headers::parse`] checks it.
///
/// [`Headers::parse`]: super::Headers::parse
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    ///
    /// As [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header length and total length against the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if the buffer ends before the fixed header, the
    /// options, or `total_len`; [`Error::Malformed`] if IHL < 5 or
    /// `total_len` is shorter than the header.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < field::MIN_HEADER_LEN {
            return Err(Error::Truncated("IPv4"));
        }
        let header_len = usize::from(self.header_len());
        if header_len < field::MIN_HEADER_LEN {
            return Err(Error::Malformed("IPv4", "IHL below 5"));
        }
        if len < header_len {
            return Err(Error::Truncated("IPv4"));
        }
        let total = usize::from(self.total_len());
        if total < header_len {
            return Err(Error::Malformed("IPv4", "total length below header length"));
        }
        if len < total {
            return Err(Error::Truncated("IPv4"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version nibble (4 for a valid packet).
    pub fn version(&self) -> u8 {
        bytes::u8_at(self.buf(), field::VER_IHL) >> 4
    }

    /// The header length in bytes (IHL * 4).
    pub fn header_len(&self) -> u8 {
        (bytes::u8_at(self.buf(), field::VER_IHL) & 0x0f) * 4
    }

    /// DSCP: the upper 6 bits of the TOS byte.
    pub fn dscp(&self) -> u8 {
        bytes::u8_at(self.buf(), field::TOS) >> 2
    }

    /// ECN: the lower 2 bits of the TOS byte.
    pub fn ecn(&self) -> u8 {
        bytes::u8_at(self.buf(), field::TOS) & 0x03
    }

    /// The total length field (header + payload) in bytes.
    pub fn total_len(&self) -> u16 {
        bytes::u16_at(self.buf(), field::TOTAL_LEN)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        bytes::u16_at(self.buf(), field::IDENT)
    }

    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        bytes::u16_at(self.buf(), field::FLAGS_FRAG) & field::DF != 0
    }

    /// The more-fragments flag.
    pub fn more_frags(&self) -> bool {
        bytes::u16_at(self.buf(), field::FLAGS_FRAG) & field::MF != 0
    }

    /// The fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        bytes::u16_at(self.buf(), field::FLAGS_FRAG) & field::OFFSET_MASK
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        bytes::u8_at(self.buf(), field::TTL)
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> u8 {
        bytes::u8_at(self.buf(), field::PROTOCOL)
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.buf(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::array_or_zero::<4>(self.buf(), field::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::array_or_zero::<4>(self.buf(), field::DST))
    }

    /// The option bytes (between the fixed header and IHL * 4).
    pub fn options(&self) -> &[u8] {
        bytes::range(
            self.buf(),
            field::MIN_HEADER_LEN,
            usize::from(self.header_len()),
        )
    }

    /// The whole header, options included (clamped to the buffer).
    pub fn header(&self) -> &[u8] {
        bytes::range(self.buf(), 0, usize::from(self.header_len()))
    }

    /// The payload: from the end of the header to `total_len`, so that
    /// Ethernet padding after a short packet is not included.
    pub fn payload(&self) -> &[u8] {
        bytes::range(
            self.buf(),
            usize::from(self.header_len()),
            usize::from(self.total_len()),
        )
    }

    /// True when the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(0, self.header())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let b = bytes::u8_at(self.buf(), field::VER_IHL);
        bytes::set_u8(self.buf_mut(), field::VER_IHL, (version << 4) | (b & 0x0f));
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: u8) {
        let b = bytes::u8_at(self.buf(), field::VER_IHL);
        bytes::set_u8(
            self.buf_mut(),
            field::VER_IHL,
            (b & 0xf0) | ((len / 4) & 0x0f),
        );
    }

    /// Sets DSCP (the upper 6 bits of the TOS byte; `dscp` is masked to 6 bits).
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = bytes::u8_at(self.buf(), field::TOS);
        bytes::set_u8(
            self.buf_mut(),
            field::TOS,
            ((dscp & 0x3f) << 2) | (b & 0x03),
        );
    }

    /// Sets ECN (the lower 2 bits of the TOS byte).
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = bytes::u8_at(self.buf(), field::TOS);
        bytes::set_u8(self.buf_mut(), field::TOS, (b & 0xfc) | (ecn & 0x03));
    }

    /// Sets the total length field.
    pub fn set_total_len(&mut self, len: u16) {
        bytes::set_u16(self.buf_mut(), field::TOTAL_LEN, len);
    }

    /// Sets the identification field.
    pub fn set_ident(&mut self, ident: u16) {
        bytes::set_u16(self.buf_mut(), field::IDENT, ident);
    }

    fn set_flag(&mut self, bit: u16, on: bool) {
        let w = bytes::u16_at(self.buf(), field::FLAGS_FRAG);
        let w = if on { w | bit } else { w & !bit };
        bytes::set_u16(self.buf_mut(), field::FLAGS_FRAG, w);
    }

    /// Sets the don't-fragment flag.
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(field::DF, on);
    }

    /// Sets the more-fragments flag.
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(field::MF, on);
    }

    /// Sets the fragment offset in 8-byte units (masked to 13 bits).
    pub fn set_frag_offset(&mut self, offset: u16) {
        let w = bytes::u16_at(self.buf(), field::FLAGS_FRAG);
        let w = (w & !field::OFFSET_MASK) | (offset & field::OFFSET_MASK);
        bytes::set_u16(self.buf_mut(), field::FLAGS_FRAG, w);
    }

    /// Sets the time to live (the checksum is not updated).
    pub fn set_ttl(&mut self, ttl: u8) {
        bytes::set_u8(self.buf_mut(), field::TTL, ttl);
    }

    /// Sets the protocol field.
    pub fn set_protocol(&mut self, protocol: u8) {
        bytes::set_u8(self.buf_mut(), field::PROTOCOL, protocol);
    }

    /// Sets the header checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        bytes::set_u16(self.buf_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the source address (the checksum is not updated).
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        bytes::set_bytes(self.buf_mut(), field::SRC, &addr.octets());
    }

    /// Sets the destination address (the checksum is not updated).
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        bytes::set_bytes(self.buf_mut(), field::DST, &addr.octets());
    }

    /// Recomputes the header checksum over the whole header.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.header());
        self.set_checksum(sum);
    }

    /// The option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        bytes::range_mut(self.buf_mut(), field::MIN_HEADER_LEN, end)
    }

    /// The `total_len`-bounded payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        let end = usize::from(self.total_len());
        bytes::range_mut(self.buf_mut(), start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: [u8; 24] = [
        0x46, 0xb9, 0x00, 0x1c, 0xab, 0xcd, 0x20, 0x05, 0x07, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2, 0x01, 0x01, 0x01, 0x00,
    ];

    #[test]
    fn golden_fields() {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(&[0xaa; 4]);
        bytes.extend_from_slice(&[0; 10]); // link-layer padding
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0xabcd);
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 5);
        assert_eq!((p.ttl(), p.protocol()), (7, 6));
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[0xaa; 4]);
    }

    #[test]
    fn check_len_errors() {
        let mut b = HEADER.to_vec();
        b.extend_from_slice(&[0; 4]);
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated("IPv4")
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..27]).unwrap_err(),
            Error::Truncated("IPv4")
        );
        b[0] = 0x44;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::Malformed(..))
        ));
        b[0] = 0x46;
        b[3] = 20;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::Malformed(..))
        ));
    }

    #[test]
    fn setters_round_trip_and_checksum() {
        let mut b = [0u8; 20];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp(63);
        p.set_ecn(2);
        p.set_total_len(20);
        p.set_dont_frag(true);
        p.set_more_frags(true);
        p.set_frag_offset(0x1fff);
        p.set_more_frags(false);
        p.set_ttl(1);
        p.set_protocol(17);
        p.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst_addr(Ipv4Addr::BROADCAST);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert!(p.check_len().is_ok());
        assert_eq!((p.dscp(), p.ecn(), p.frag_offset()), (63, 2, 0x1fff));
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(p.dst_addr(), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn unchecked_short_buffer_reads_zero() {
        let p = Ipv4Packet::new_unchecked(&[0x45u8, 0][..]);
        assert_eq!(p.total_len(), 0);
        assert_eq!(p.src_addr(), Ipv4Addr::UNSPECIFIED);
        assert!(p.payload().is_empty());
    }
}
