//! Ethernet II frames and 802.1Q / 802.1ad VLAN tags.

use super::{Error, bytes};

/// Field offsets of the Ethernet II header.
pub mod field {
    /// Destination MAC address (6 bytes).
    pub const DST: usize = 0;
    /// Source MAC address (6 bytes).
    pub const SRC: usize = 6;
    /// Ethertype, or the TPID of the first VLAN tag (2 bytes).
    pub const ETHERTYPE: usize = 12;
    /// Length of the Ethernet II header without VLAN tags.
    pub const HEADER_LEN: usize = 14;
}

/// Field offsets of one VLAN tag, relative to the end of the TPID that
/// announced it (i.e. to the byte after the preceding ethertype field).
pub mod vlan_field {
    /// Tag control information: PCP (3 bits), DEI (1 bit), VID (12 bits).
    pub const TCI: usize = 0;
    /// The ethertype (or next TPID) that follows the tag.
    pub const ETHERTYPE: usize = 2;
    /// Bytes a tag adds to the frame after its TPID.
    pub const TAG_LEN: usize = 4;
}

/// A zero-copy view of an Ethernet II frame.
///
/// Accessors never panic: on a buffer that did not pass
/// [`check_len`](Self::check_len), fields outside it read as zero and
/// writes to them are ignored.
///
/// # Examples
///
/// ```
/// use doca_flow::packet::EthernetFrame;
///
/// let mut bytes = [0u8; 14];
/// let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
/// frame.set_ethertype(0x0800);
/// frame.set_src_addr([2, 0, 0, 0, 0, 1]);
/// assert_eq!(frame.ethertype(), 0x0800);
/// assert_eq!(frame.src_addr(), [2, 0, 0, 0, 0, 1]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if the buffer cannot hold the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the Ethernet II header.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if it does not.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < field::HEADER_LEN {
            return Err(Error::Truncated("Ethernet"));
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination MAC address.
    pub fn dst_addr(&self) -> [u8; 6] {
        bytes::array_or_zero(self.buffer.as_ref(), field::DST)
    }

    /// The source MAC address.
    pub fn src_addr(&self) -> [u8; 6] {
        bytes::array_or_zero(self.buffer.as_ref(), field::SRC)
    }

    /// The ethertype field (a VLAN TPID if the frame is tagged).
    pub fn ethertype(&self) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// The bytes after the 14-byte header (VLAN tags included, if any).
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        bytes::range(buf, field::HEADER_LEN, buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        bytes::set_bytes(self.buffer.as_mut(), field::DST, &addr);
    }

    /// Sets the source MAC address.
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        bytes::set_bytes(self.buffer.as_mut(), field::SRC, &addr);
    }

    /// Sets the ethertype field.
    pub fn set_ethertype(&mut self, ethertype: u16) {
        bytes::set_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype);
    }

    /// The bytes after the 14-byte header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buf = self.buffer.as_mut();
        let len = buf.len();
        bytes::range_mut(buf, field::HEADER_LEN, len)
    }
}

/// True for the TPIDs the parser treats as VLAN tags (0x8100, 0x88a8).
pub const fn is_vlan_tpid(ethertype: u16) -> bool {
    matches!(ethertype, super::ethertype::VLAN | super::ethertype::QINQ)
}
