//! TCP segments, UDP datagrams and ICMP / ICMPv6 messages.

use super::{Error, bytes, checksum};

/// TCP flag bits as found in the flags byte (offset 13).
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN-echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

/// Field offsets of the TCP header.
pub mod tcp_field {
    /// Source port (2 bytes).
    pub const SRC_PORT: usize = 0;
    /// Destination port (2 bytes).
    pub const DST_PORT: usize = 2;
    /// Sequence number (4 bytes).
    pub const SEQ: usize = 4;
    /// Acknowledgment number (4 bytes).
    pub const ACK: usize = 8;
    /// Data offset in 32-bit words (upper nibble).
    pub const DATA_OFF: usize = 12;
    /// The 8 flag bits.
    pub const FLAGS: usize = 13;
    /// Window (2 bytes).
    pub const WINDOW: usize = 14;
    /// Checksum (2 bytes).
    pub const CHECKSUM: usize = 16;
    /// Urgent pointer (2 bytes).
    pub const URGENT: usize = 18;
    /// Length of the header without options.
    pub const MIN_HEADER_LEN: usize = 20;
}

/// Field offsets of the UDP header.
pub mod udp_field {
    /// Source port (2 bytes).
    pub const SRC_PORT: usize = 0;
    /// Destination port (2 bytes).
    pub const DST_PORT: usize = 2;
    /// Length of header and payload (2 bytes).
    pub const LENGTH: usize = 4;
    /// Checksum (2 bytes; 0 over IPv4 means "no checksum").
    pub const CHECKSUM: usize = 6;
    /// Length of the header.
    pub const HEADER_LEN: usize = 8;
}

/// Field offsets of the ICMP and ICMPv6 header (same layout).
pub mod icmp_field {
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum (2 bytes).
    pub const CHECKSUM: usize = 2;
    /// Rest of header (4 bytes: identifier + sequence for echo).
    pub const REST: usize = 4;
    /// Length of the header, rest-of-header included.
    pub const HEADER_LEN: usize = 8;
}

/// A zero-copy view of a TCP segment (header, options, payload).
///
/// Accessors never panic: on an unchecked short buffer, fields outside it
/// read as zero and writes to them are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
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
        let s = Self::new_unchecked(buffer);
        s.check_len()?;
        Ok(s)
    }

    /// Checks the data offset against the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if the buffer ends inside the header or its
    /// options; [`Error::Malformed`] if the data offset is below 5.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buf().len();
        if len < tcp_field::MIN_HEADER_LEN {
            return Err(Error::Truncated("TCP"));
        }
        let hl = usize::from(self.header_len());
        if hl < tcp_field::MIN_HEADER_LEN {
            return Err(Error::Malformed("TCP", "data offset below 5"));
        }
        if len < hl {
            return Err(Error::Truncated("TCP"));
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

    /// Source port.
    pub fn src_port(&self) -> u16 {
        bytes::u16_at(self.buf(), tcp_field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        bytes::u16_at(self.buf(), tcp_field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        bytes::u32_at(self.buf(), tcp_field::SEQ)
    }

    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        bytes::u32_at(self.buf(), tcp_field::ACK)
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> u8 {
        (bytes::u8_at(self.buf(), tcp_field::DATA_OFF) >> 4) * 4
    }

    /// The flag bits (see [`tcp_flags`]).
    pub fn flags(&self) -> u8 {
        bytes::u8_at(self.buf(), tcp_field::FLAGS)
    }

    /// Window size.
    pub fn window(&self) -> u16 {
        bytes::u16_at(self.buf(), tcp_field::WINDOW)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.buf(), tcp_field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        bytes::u16_at(self.buf(), tcp_field::URGENT)
    }

    /// Option bytes.
    pub fn options(&self) -> &[u8] {
        bytes::range(
            self.buf(),
            tcp_field::MIN_HEADER_LEN,
            usize::from(self.header_len()),
        )
    }

    /// Payload after the header and options.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buf();
        bytes::range(buf, usize::from(self.header_len()), buf.len())
    }

    /// True when the checksum over the whole buffer plus the pseudo-header
    /// sum `pseudo` (see [`checksum::pseudo_header_v4`]) is correct.
    pub fn verify_checksum(&self, pseudo: u64) -> bool {
        checksum::verify(pseudo, self.buf())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port (the checksum is not updated).
    pub fn set_src_port(&mut self, port: u16) {
        bytes::set_u16(self.buf_mut(), tcp_field::SRC_PORT, port);
    }

    /// Sets the destination port (the checksum is not updated).
    pub fn set_dst_port(&mut self, port: u16) {
        bytes::set_u16(self.buf_mut(), tcp_field::DST_PORT, port);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, seq: u32) {
        bytes::set_u32(self.buf_mut(), tcp_field::SEQ, seq);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, ack: u32) {
        bytes::set_u32(self.buf_mut(), tcp_field::ACK, ack);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: u8) {
        let b = bytes::u8_at(self.buf(), tcp_field::DATA_OFF);
        bytes::set_u8(
            self.buf_mut(),
            tcp_field::DATA_OFF,
            ((len / 4) << 4) | (b & 0x0f),
        );
    }

    /// Sets the flag bits.
    pub fn set_flags(&mut self, flags: u8) {
        bytes::set_u8(self.buf_mut(), tcp_field::FLAGS, flags);
    }

    /// Sets the window size.
    pub fn set_window(&mut self, window: u16) {
        bytes::set_u16(self.buf_mut(), tcp_field::WINDOW, window);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        bytes::set_u16(self.buf_mut(), tcp_field::CHECKSUM, checksum);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, urgent: u16) {
        bytes::set_u16(self.buf_mut(), tcp_field::URGENT, urgent);
    }

    /// Recomputes the checksum over the whole buffer plus the pseudo-header
    /// sum `pseudo`.
    pub fn fill_checksum(&mut self, pseudo: u64) {
        self.set_checksum(0);
        let c = !checksum::fold(pseudo + checksum::sum(self.buf()));
        self.set_checksum(c);
    }

    /// Option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        bytes::range_mut(self.buf_mut(), tcp_field::MIN_HEADER_LEN, end)
    }

    /// Payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        let buf = self.buf_mut();
        let len = buf.len();
        bytes::range_mut(buf, start, len)
    }
}

/// A zero-copy view of a UDP datagram.
///
/// Accessors never panic: on an unchecked short buffer, fields outside it
/// read as zero and writes to them are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
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
        let d = Self::new_unchecked(buffer);
        d.check_len()?;
        Ok(d)
    }

    /// Checks the header and the length field against the buffer.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if the buffer ends inside the header or before
    /// the length field says; [`Error::Malformed`] if the length field is
    /// below 8.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buf().len();
        if len < udp_field::HEADER_LEN {
            return Err(Error::Truncated("UDP"));
        }
        let field_len = usize::from(self.len());
        if field_len < udp_field::HEADER_LEN {
            return Err(Error::Malformed("UDP", "length below 8"));
        }
        if len < field_len {
            return Err(Error::Truncated("UDP"));
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

    /// Source port.
    pub fn src_port(&self) -> u16 {
        bytes::u16_at(self.buf(), udp_field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        bytes::u16_at(self.buf(), udp_field::DST_PORT)
    }

    /// The length field (header + payload).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        bytes::u16_at(self.buf(), udp_field::LENGTH)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.buf(), udp_field::CHECKSUM)
    }

    /// Payload, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        bytes::range(self.buf(), udp_field::HEADER_LEN, usize::from(self.len()))
    }

    /// True when the checksum over the length-bounded datagram plus the
    /// pseudo-header sum `pseudo` is correct. A zero checksum (none, valid
    /// only over IPv4) verifies as true.
    pub fn verify_checksum(&self, pseudo: u64) -> bool {
        self.checksum() == 0
            || checksum::verify(pseudo, bytes::range(self.buf(), 0, usize::from(self.len())))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port (the checksum is not updated).
    pub fn set_src_port(&mut self, port: u16) {
        bytes::set_u16(self.buf_mut(), udp_field::SRC_PORT, port);
    }

    /// Sets the destination port (the checksum is not updated).
    pub fn set_dst_port(&mut self, port: u16) {
        bytes::set_u16(self.buf_mut(), udp_field::DST_PORT, port);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, len: u16) {
        bytes::set_u16(self.buf_mut(), udp_field::LENGTH, len);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        bytes::set_u16(self.buf_mut(), udp_field::CHECKSUM, checksum);
    }

    /// Recomputes the checksum over the length-bounded datagram plus the
    /// pseudo-header sum `pseudo`; a computed 0 is sent as 0xffff
    /// (RFC 768), since 0 means "no checksum".
    pub fn fill_checksum(&mut self, pseudo: u64) {
        self.set_checksum(0);
        let end = usize::from(self.len());
        let c = !checksum::fold(pseudo + checksum::sum(bytes::range(self.buf(), 0, end)));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// Payload, bounded by the length field, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        bytes::range_mut(self.buf_mut(), udp_field::HEADER_LEN, end)
    }
}

/// A zero-copy view of an ICMP (IPv4) or ICMPv6 message: both share the
/// type / code / checksum / rest-of-header layout.
///
/// ICMPv4 checksums cover the message only (pass `0` as `pseudo`); ICMPv6
/// checksums include the IPv6 pseudo-header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpMessage<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpMessage<T> {
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
        let m = Self::new_unchecked(buffer);
        m.check_len()?;
        Ok(m)
    }

    /// Checks that the 8-byte header (rest-of-header included) fits.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if it does not.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buf().len() < icmp_field::HEADER_LEN {
            return Err(Error::Truncated("ICMP"));
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

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        bytes::u8_at(self.buf(), icmp_field::TYPE)
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        bytes::u8_at(self.buf(), icmp_field::CODE)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.buf(), icmp_field::CHECKSUM)
    }

    /// The 4 rest-of-header bytes.
    pub fn rest_of_header(&self) -> [u8; 4] {
        bytes::array_or_zero(self.buf(), icmp_field::REST)
    }

    /// The message body after the 8-byte header.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buf();
        bytes::range(buf, icmp_field::HEADER_LEN, buf.len())
    }

    /// True when the checksum over the whole buffer plus `pseudo` is correct.
    pub fn verify_checksum(&self, pseudo: u64) -> bool {
        checksum::verify(pseudo, self.buf())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpMessage<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the message type.
    pub fn set_msg_type(&mut self, t: u8) {
        bytes::set_u8(self.buf_mut(), icmp_field::TYPE, t);
    }

    /// Sets the message code.
    pub fn set_code(&mut self, code: u8) {
        bytes::set_u8(self.buf_mut(), icmp_field::CODE, code);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        bytes::set_u16(self.buf_mut(), icmp_field::CHECKSUM, checksum);
    }

    /// Sets the rest-of-header bytes.
    pub fn set_rest_of_header(&mut self, rest: [u8; 4]) {
        bytes::set_bytes(self.buf_mut(), icmp_field::REST, &rest);
    }

    /// Recomputes the checksum over the whole buffer plus `pseudo`
    /// (0 for ICMPv4).
    pub fn fill_checksum(&mut self, pseudo: u64) {
        self.set_checksum(0);
        let c = !checksum::fold(pseudo + checksum::sum(self.buf()));
        self.set_checksum(c);
    }

    /// The message body, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buf = self.buf_mut();
        let len = buf.len();
        bytes::range_mut(buf, icmp_field::HEADER_LEN, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_golden() {
        let b = [
            0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0xff, 0xff, 0x12, 0x34, 0,
            9, 2, 4, 5, 0xb4, b'h', b'i',
        ];
        let t = TcpSegment::new_checked(&b[..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (12345, 443));
        assert_eq!((t.seq_number(), t.ack_number()), (1, 2));
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), tcp_flags::SYN | tcp_flags::ACK);
        assert_eq!((t.window(), t.checksum(), t.urgent()), (0xffff, 0x1234, 9));
        assert_eq!(t.options(), &[2, 4, 5, 0xb4]);
        assert_eq!(t.payload(), b"hi");
        assert_eq!(
            TcpSegment::new_checked(&b[..22]).unwrap_err(),
            Error::Truncated("TCP")
        );
    }

    #[test]
    fn udp_length_field_bounds_payload() {
        let b = [0, 53, 0, 54, 0, 10, 0, 0, 1, 2, 0, 0];
        let u = UdpDatagram::new_checked(&b[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (53, 54, 10));
        assert_eq!(u.payload(), &[1, 2]);
        let short = [0, 53, 0, 54, 0, 7, 0, 0];
        assert!(matches!(
            UdpDatagram::new_checked(&short[..]),
            Err(Error::Malformed(..))
        ));
    }

    #[test]
    fn icmp_fill_and_verify() {
        let mut b = [8u8, 0, 0, 0, 0, 1, 0, 2, b'x'];
        let mut m = IcmpMessage::new_checked(&mut b[..]).unwrap();
        m.fill_checksum(0);
        assert!(m.verify_checksum(0));
        assert_eq!((m.msg_type(), m.code()), (8, 0));
        assert_eq!(m.rest_of_header(), [0, 1, 0, 2]);
        assert_eq!(m.payload(), b"x");
    }
}
