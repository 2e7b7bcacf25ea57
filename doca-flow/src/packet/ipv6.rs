//! IPv6 packets (RFC 8200) and the extension headers the parser walks.

use core::net::Ipv6Addr;

use super::{Error, bytes};

/// Field offsets of the IPv6 fixed header.
pub mod field {
    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: usize = 0;
    /// Payload length: bytes after the fixed header (2 bytes).
    pub const PAYLOAD_LEN: usize = 4;
    /// Next header.
    pub const NEXT_HEADER: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address (16 bytes).
    pub const SRC: usize = 8;
    /// Destination address (16 bytes).
    pub const DST: usize = 24;
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = 40;
}

/// Extension header numbers and layouts.
pub mod ext {
    /// Hop-by-hop options (must come first).
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing header.
    pub const ROUTING: u8 = 43;
    /// Fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload (not walked: what follows is encrypted).
    pub const ESP: u8 = 50;
    /// Authentication header (length in 4-byte units, minus 2).
    pub const AH: u8 = 51;
    /// No next header.
    pub const NO_NEXT: u8 = 59;
    /// Destination options.
    pub const DEST_OPTS: u8 = 60;
    /// Offset of the next-header byte in every extension header.
    pub const NEXT_HEADER: usize = 0;
    /// Offset of the length byte (8-byte units minus 1; AH: 4-byte units minus 2).
    pub const LEN: usize = 1;
    /// Offset of the offset/flags word in a fragment header.
    pub const FRAG_OFFSET_FLAGS: usize = 2;
    /// Offset of the identification in a fragment header (4 bytes).
    pub const FRAG_IDENT: usize = 4;
    /// Length of a fragment header.
    pub const FRAG_LEN: usize = 8;
    /// More-fragments bit in the offset/flags word.
    pub const FRAG_M: u16 = 0x0001;
    /// The headers the parser walks through (all of the above but ESP
    /// and no-next-header).
    pub const fn is_walked(next_header: u8) -> bool {
        matches!(
            next_header,
            HOP_BY_HOP | ROUTING | FRAGMENT | AH | DEST_OPTS
        )
    }

    /// The total length of a walked extension header of type `next_header`
    /// whose length byte is `len_byte`.
    pub const fn header_len(next_header: u8, len_byte: u8) -> usize {
        match next_header {
            FRAGMENT => FRAG_LEN,
            AH => (len_byte as usize + 2) * 4,
            _ => (len_byte as usize + 1) * 8,
        }
    }
}

/// A zero-copy view of an IPv6 packet.
///
/// [`new_checked`](Self::new_checked) checks the fixed header and the
/// payload length against the buffer; [`payload`](Self::payload) is
/// bounded by the payload length (trailing link-layer padding excluded).
/// Accessors never panic: on an unchecked short buffer, fields outside it
/// read as zero and writes to them are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
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

    /// Checks the fixed header and the payload length against the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if the buffer ends before the fixed header or
    /// before `40 + payload_len`.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < field::HEADER_LEN || len < field::HEADER_LEN + usize::from(self.payload_len()) {
            return Err(Error::Truncated("IPv6"));
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

    fn word0(&self) -> u32 {
        bytes::u32_at(self.buf(), field::VER_TC_FLOW)
    }

    /// The version nibble (6 for a valid packet).
    pub fn version(&self) -> u8 {
        bytes::u8_at(self.buf(), field::VER_TC_FLOW) >> 4
    }

    /// The traffic class (DSCP << 2 | ECN).
    pub fn traffic_class(&self) -> u8 {
        ((self.word0() >> 20) & 0xff) as u8
    }

    /// DSCP: the upper 6 bits of the traffic class.
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// The 20-bit flow label.
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// The payload length field.
    pub fn payload_len(&self) -> u16 {
        bytes::u16_at(self.buf(), field::PAYLOAD_LEN)
    }

    /// The next header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        bytes::u8_at(self.buf(), field::NEXT_HEADER)
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        bytes::u8_at(self.buf(), field::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::array_or_zero::<16>(self.buf(), field::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::array_or_zero::<16>(self.buf(), field::DST))
    }

    /// The payload (extension headers included), bounded by `payload_len`.
    pub fn payload(&self) -> &[u8] {
        let end = field::HEADER_LEN + usize::from(self.payload_len());
        bytes::range(self.buf(), field::HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_word0(&mut self, w: u32) {
        bytes::set_u32(self.buf_mut(), field::VER_TC_FLOW, w);
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let w = (self.word0() & 0x0fff_ffff) | (u32::from(version & 0x0f) << 28);
        self.set_word0(w);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.word0() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_word0(w);
    }

    /// Sets DSCP (the upper 6 bits of the traffic class), keeping ECN.
    pub fn set_dscp(&mut self, dscp: u8) {
        let tc = ((dscp & 0x3f) << 2) | (self.traffic_class() & 0x03);
        self.set_traffic_class(tc);
    }

    /// Sets the 20-bit flow label (masked).
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.word0() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_word0(w);
    }

    /// Sets the payload length field.
    pub fn set_payload_len(&mut self, len: u16) {
        bytes::set_u16(self.buf_mut(), field::PAYLOAD_LEN, len);
    }

    /// Sets the next header field of the fixed header.
    pub fn set_next_header(&mut self, next_header: u8) {
        bytes::set_u8(self.buf_mut(), field::NEXT_HEADER, next_header);
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        bytes::set_u8(self.buf_mut(), field::HOP_LIMIT, hop_limit);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        bytes::set_bytes(self.buf_mut(), field::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        bytes::set_bytes(self.buf_mut(), field::DST, &addr.octets());
    }

    /// The payload (bounded by `payload_len`), mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = field::HEADER_LEN + usize::from(self.payload_len());
        bytes::range_mut(self.buf_mut(), field::HEADER_LEN, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_round_trip() {
        let mut b = [0u8; 48];
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_version(6);
        p.set_traffic_class(0xb9);
        p.set_flow_label(0xfedcb);
        p.set_payload_len(8);
        p.set_next_header(17);
        p.set_hop_limit(255);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        p.set_dscp(1);
        assert!(p.check_len().is_ok());
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), (1 << 2) | 1);
        assert_eq!(p.flow_label(), 0xfedcb);
        assert_eq!(
            (p.payload_len(), p.next_header(), p.hop_limit()),
            (8, 17, 255)
        );
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.payload().len(), 8);
        assert_eq!(&b[..4], &[0x60, 0x5f, 0xed, 0xcb]);
    }

    #[test]
    fn payload_len_beyond_buffer_is_truncated() {
        let mut b = [0u8; 40];
        b[0] = 0x60;
        b[5] = 1;
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated("IPv6")
        );
    }

    #[test]
    fn extension_header_lengths() {
        assert_eq!(ext::header_len(ext::HOP_BY_HOP, 0), 8);
        assert_eq!(ext::header_len(ext::ROUTING, 2), 24);
        assert_eq!(ext::header_len(ext::FRAGMENT, 9), 8);
        assert_eq!(ext::header_len(ext::AH, 4), 24);
        assert_eq!(ext::header_len(ext::DEST_OPTS, 255), 2048);
        assert!(!ext::is_walked(ext::ESP));
    }
}
