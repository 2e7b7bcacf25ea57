//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are kept unfolded in a `u64` so that any frame size can be summed
//! without overflow; [`fold`] turns a sum into the 16-bit ones' complement
//! value, and the checksum field holds its complement ([`checksum`]).
//!
//! # Examples
//!
//! ```
//! use doca_flow::packet::checksum;
//!
//! // RFC 1071's example bytes.
//! let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::fold(checksum::sum(&data)), 0xddf2);
//! assert_eq!(checksum::checksum(&data), !0xddf2);
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words; an odd trailing byte is padded
/// with a zero byte. The result is an unfolded sum for [`fold`].
pub fn sum(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut acc = 0u64;
    for c in &mut chunks {
        if let [a, b] = c {
            acc += u64::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [a] = chunks.remainder() {
        acc += u64::from(*a) << 8;
    }
    acc
}

/// Like [`sum`], but adds the ones' complement of each 16-bit word
/// (the `~m` term of RFC 1624).
fn sum_complement(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut acc = 0u64;
    for c in &mut chunks {
        if let [a, b] = c {
            acc += u64::from(!u16::from_be_bytes([*a, *b]));
        }
    }
    if let [a] = chunks.remainder() {
        acc += u64::from(!(u16::from(*a) << 8));
    }
    acc
}

/// Folds an unfolded sum into a 16-bit ones' complement sum.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 16 bits.
    u16::try_from(acc).unwrap_or(0xffff)
}

/// The checksum field value for `data` (with its checksum field zeroed):
/// the complement of the folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// True when a region that includes its own checksum field sums to
/// all-ones, i.e. its checksum is correct. `extra` is any pseudo-header
/// sum (0 for none).
pub fn verify(extra: u64, data: &[u8]) -> bool {
    fold(extra + sum(data)) == 0xffff
}

/// The unfolded sum of the IPv4 pseudo-header used by TCP and UDP.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u64 {
    sum(&src.octets())
        + sum(&dst.octets())
        + u64::from(protocol)
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
}

/// The unfolded sum of the IPv6 pseudo-header used by TCP, UDP and ICMPv6.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u64 {
    sum(&src.octets())
        + sum(&dst.octets())
        + u64::from(next_header)
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
}

/// Incrementally updates `checksum` after the bytes `old` became `new`
/// (RFC 1624, eqn. 3: `HC' = ~(~HC + ~m + m')`).
///
/// `old` and `new` must have the same length and start at an even offset
/// of the checksummed region (so that their 16-bit words line up with the
/// region's words); a one-byte field is passed as the 16-bit word that
/// holds it.
///
/// # Examples
///
/// ```
/// use doca_flow::packet::checksum;
///
/// let mut data = [0x45, 0x00, 0x12, 0x34, 0x40, 0x06];
/// let before = checksum::checksum(&data);
/// data[4] = 0x3f; // TTL 64 -> 63
/// let after = checksum::update(before, &[0x40, 0x06], &[0x3f, 0x06]);
/// assert_eq!(after, checksum::checksum(&data));
/// ```
pub fn update(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    !fold(u64::from(!checksum) + sum_complement(old) + sum(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // The classic example header (checksum 0xb861).
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verify(0, &h));
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn update_equals_recompute_for_every_word_value() {
        let mut data = [0x45, 0x00, 0x00, 0x73, 0x12, 0x34, 0x40, 0x11, 0, 0];
        let base = checksum(&data);
        for w in (0..=0xffffu32).step_by(7) {
            let new = (w as u16).to_be_bytes();
            let old = [data[4], data[5]];
            data[4] = new[0];
            data[5] = new[1];
            let expect = checksum(&data);
            let got = update(checksum_before(&data, old), &old, &new);
            // 0x0000 and 0xffff are the same ones' complement value.
            assert!(got == expect || (got ^ expect) == 0xffff, "{w:#x}");
            data[4] = old[0];
            data[5] = old[1];
            assert_eq!(checksum(&data), base);
        }
    }

    fn checksum_before(data: &[u8; 10], old: [u8; 2]) -> u16 {
        let mut d = *data;
        d[4] = old[0];
        d[5] = old[1];
        checksum(&d)
    }

    #[test]
    fn fold_handles_large_sums() {
        let data = vec![0xffu8; 1 << 20];
        assert_eq!(fold(sum(&data)), 0xffff);
    }
}
