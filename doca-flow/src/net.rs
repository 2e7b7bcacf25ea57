//! Address prefixes and port ranges: the value types the classifier, the ACL pipe and
//! dpu-fw's rule model share (one type per concept).
//!
//! * [`Prefix`]: `addr/len`, the bits beyond `len` always zero. `Prefix` alone
//!   (`Prefix<IpAddr>`) holds either family, parses and prints (`10.0.0.0/8`): ACL entries
//!   and dpu-fw's rules hold it. `Prefix<u32>` (IPv4) and `Prefix<u128>` (IPv6) are the
//!   fixed-width forms the classifier works on.
//! * [`PortRange`]: an inclusive range `lo..=hi` of L4 ports, never inverted.
//! * [`ValueError`]: why an address, a prefix length or a port range was refused.
//!
//! # Examples
//!
//! ```
//! use doca_flow::net::{PortRange, Prefix, ValueError};
//!
//! let lan: Prefix = "10.0.0.0/8".parse().unwrap();
//! assert!(lan.contains("10.1.2.3".parse().unwrap()));
//! assert_eq!(lan.to_string(), "10.0.0.0/8");
//! // The classifier's IPv4 form; host bits are cleared.
//! assert_eq!(Prefix::new(0x0a01_0203u32, 8).unwrap().addr(), 0x0a00_0000);
//! assert!(Prefix::new(0u32, 33).is_err());
//!
//! assert_eq!(PortRange::new(1000, 2000).unwrap().to_string(), "1000-2000");
//! assert_eq!(PortRange::new(20, 10), Err(ValueError::InvertedRange(20, 10)));
//! ```

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u128 {}
    impl Sealed for core::net::IpAddr {}
}

/// An address a [`Prefix`] can hold: `u32` (IPv4), `u128` (IPv6) or `IpAddr` (either).
///
/// The trait is sealed.
pub trait PrefixAddr: Copy + Eq + sealed::Sealed {
    /// Width of this address in bits (for an `IpAddr`, of its family).
    fn width(self) -> u8;
    /// The address with every bit beyond the first `len` cleared.
    fn masked(self, len: u8) -> Self;
}

/// Address width: implemented for `u32` (IPv4) and `u128` (IPv6).
///
/// The trait is sealed; its methods are the few bit operations the classifier
/// needs, so the same code serves both families.
pub trait Addr:
    PrefixAddr + Ord + core::hash::Hash + core::fmt::Debug + Send + Sync + 'static
{
    /// Number of bits in the address.
    const BITS: u32;
    /// The all-zero address.
    const ZERO: Self;
    /// The mask that keeps the first `len` bits (`len` is clamped to `BITS`).
    fn prefix_mask(len: u8) -> Self;
    /// Bitwise AND.
    fn and(self, other: Self) -> Self;
    /// The address widened to 128 bits (IPv4 is zero-extended).
    fn to_u128(self) -> u128;
    /// The low `BITS` bits of `v`.
    fn from_u128(v: u128) -> Self;
    /// `(self >> (shift % BITS))` truncated to 32 bits.
    fn window(self, shift: u32) -> u32;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    const ZERO: Self = 0;
    #[inline]
    fn prefix_mask(len: u8) -> Self {
        let len = u32::from(len).min(32);
        if len == 0 { 0 } else { u32::MAX << (32 - len) }
    }
    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
    #[inline]
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn from_u128(v: u128) -> Self {
        v as u32
    }
    #[inline]
    fn window(self, shift: u32) -> u32 {
        self.wrapping_shr(shift)
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    const ZERO: Self = 0;
    #[inline]
    fn prefix_mask(len: u8) -> Self {
        let len = u32::from(len).min(128);
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        }
    }
    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
    #[inline]
    fn to_u128(self) -> u128 {
        self
    }
    #[inline]
    fn from_u128(v: u128) -> Self {
        v
    }
    #[inline]
    fn window(self, shift: u32) -> u32 {
        self.wrapping_shr(shift) as u32
    }
}

impl PrefixAddr for u32 {
    #[inline]
    fn width(self) -> u8 {
        32
    }
    #[inline]
    fn masked(self, len: u8) -> Self {
        self & u32::prefix_mask(len)
    }
}

impl PrefixAddr for u128 {
    #[inline]
    fn width(self) -> u8 {
        128
    }
    #[inline]
    fn masked(self, len: u8) -> Self {
        self & u128::prefix_mask(len)
    }
}

impl PrefixAddr for IpAddr {
    fn width(self) -> u8 {
        Family::of(self).bits()
    }
    fn masked(self, len: u8) -> Self {
        match self {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).masked(len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).masked(len))),
        }
    }
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Address width in bits (32 or 128).
    pub fn bits(self) -> u8 {
        match self {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}

/// Why a prefix or port range could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The text is not an IPv4 or IPv6 address.
    #[error("`{0}` is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The prefix length is not a number in `0..=32` (IPv4) or `0..=128` (IPv6).
    #[error("prefix length `{0}` is not in 0..={1}")]
    BadLength(String, u8),
    /// The address has bits set beyond the prefix length.
    #[error("`{given}` has host bits set; did you mean `{network}`?")]
    HostBitsSet {
        /// The text as written.
        given: String,
        /// The prefix with the host bits cleared.
        network: Prefix,
    },
    /// The text is not a port or a `lo-hi` port range.
    #[error("`{0}` is not a port (0..=65535) or a port range `lo-hi`")]
    BadPort(String),
    /// A port range whose low end is above its high end.
    #[error("port range {0}-{1} is inverted (low end above high end)")]
    InvertedRange(u16, u16),
}

/// An address prefix `addr/len`; the bits beyond `len` are always zero and `len` never
/// exceeds the address's width.
///
/// `Prefix` alone is `Prefix<IpAddr>`, a prefix of either family; `Prefix<u32>` and
/// `Prefix<u128>` are the classifier's IPv4 and IPv6 forms (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix<A = IpAddr> {
    pub(crate) addr: A,
    pub(crate) len: u8,
}

impl<A: PrefixAddr> Prefix<A> {
    /// The prefix `addr/len` with the bits beyond `len` cleared.
    ///
    /// # Errors
    /// [`ValueError::BadLength`] if `len` exceeds the address's width.
    pub fn new(addr: A, len: u8) -> Result<Self, ValueError> {
        let bits = addr.width();
        if len > bits {
            return Err(ValueError::BadLength(len.to_string(), bits));
        }
        Ok(Prefix {
            addr: addr.masked(len),
            len,
        })
    }

    /// The network address (host bits are zero).
    #[inline]
    pub fn addr(&self) -> A {
        self.addr
    }

    /// The prefix length.
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The same prefix with the bits beyond `len` cleared (a no-op outside this crate,
    /// where every prefix is made by [`Prefix::new`]).
    #[must_use]
    pub(crate) fn normalized(self) -> Self {
        Prefix {
            addr: self.addr.masked(self.len),
            len: self.len,
        }
    }
}

impl<A: Addr> Prefix<A> {
    /// The prefix that matches every address (`/0`).
    pub const ANY: Self = Prefix {
        addr: A::ZERO,
        len: 0,
    };

    /// Whether `a` lies in the prefix.
    #[inline]
    pub fn contains(&self, a: A) -> bool {
        let m = A::prefix_mask(self.len);
        a.and(m) == self.addr.and(m)
    }
}

impl Prefix<IpAddr> {
    /// Every IPv4 address (`0.0.0.0/0`).
    pub const ANY_V4: Prefix = Prefix {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        len: 0,
    };
    /// Every IPv6 address (`::/0`).
    pub const ANY_V6: Prefix = Prefix {
        addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        len: 0,
    };

    /// The host prefix of one address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        Prefix {
            addr,
            len: Family::of(addr).bits(),
        }
    }

    /// The prefix that holds every address of a family (`/0`).
    pub fn any(family: Family) -> Self {
        match family {
            Family::Ipv4 => Self::ANY_V4,
            Family::Ipv6 => Self::ANY_V6,
        }
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(self.addr)
    }

    /// The IPv4 network as `(address bits, length)`, if this is IPv4.
    pub fn v4(&self) -> Option<(u32, u8)> {
        match self.addr {
            IpAddr::V4(a) => Some((u32::from(a), self.len)),
            IpAddr::V6(_) => None,
        }
    }

    /// The IPv6 network as `(address bits, length)`, if this is IPv6.
    pub fn v6(&self) -> Option<(u128, u8)> {
        match self.addr {
            IpAddr::V6(a) => Some((u128::from(a), self.len)),
            IpAddr::V4(_) => None,
        }
    }

    /// True if `addr` is of this prefix's family and lies in it.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => u32::from(a).masked(self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => u128::from(a).masked(self.len) == u128::from(net),
            _ => false,
        }
    }

    /// True if every address of `other` lies in `self`.
    pub fn contains_prefix(&self, other: &Prefix) -> bool {
        self.family() == other.family() && self.len <= other.len && self.contains(other.addr)
    }

    /// The two halves of this prefix (`len + 1`), or `None` for a host prefix.
    pub fn halves(&self) -> Option<(Prefix, Prefix)> {
        if self.len >= self.family().bits() {
            return None;
        }
        let len = self.len + 1;
        let upper = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | (1u32 << (32 - len)))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                u128::from(a) | (1u128 << (128 - u32::from(len))),
            )),
        };
        Some((
            Prefix {
                addr: self.addr,
                len,
            },
            Prefix { addr: upper, len },
        ))
    }
}

/// Parses `addr/len` or a bare address (a host prefix), refusing host bits
/// beyond `len` ([`ValueError::HostBitsSet`]).
impl FromStr for Prefix {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .trim()
            .parse()
            .map_err(|_| ValueError::BadAddress(addr_text.to_string()))?;
        let bits = Family::of(addr).bits();
        let len = match len_text {
            None => bits,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(n) if n <= bits && !l.trim().starts_with('+') => n,
                _ => return Err(ValueError::BadLength(l.to_string(), bits)),
            },
        };
        let network = Prefix::new(addr, len)?;
        if network.addr != addr {
            return Err(ValueError::HostBitsSet {
                given: s.to_string(),
                network,
            });
        }
        Ok(network)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An inclusive range of L4 ports, `lo..=hi`, never inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub(crate) lo: u16,
    pub(crate) hi: u16,
}

impl PortRange {
    /// Every port, `0..=65535`.
    pub const ANY: PortRange = PortRange {
        lo: 0,
        hi: u16::MAX,
    };

    /// The range `lo..=hi`.
    ///
    /// # Errors
    /// [`ValueError::InvertedRange`] if `lo > hi`.
    pub fn new(lo: u16, hi: u16) -> Result<Self, ValueError> {
        if lo > hi {
            Err(ValueError::InvertedRange(lo, hi))
        } else {
            Ok(PortRange { lo, hi })
        }
    }

    /// The range holding one port.
    pub const fn single(port: u16) -> Self {
        PortRange { lo: port, hi: port }
    }

    /// The low end (inclusive).
    #[inline]
    pub const fn lo(&self) -> u16 {
        self.lo
    }

    /// The high end (inclusive).
    #[inline]
    pub const fn hi(&self) -> u16 {
        self.hi
    }

    /// Whether this is the full range `0..=65535`.
    #[inline]
    pub const fn is_any(&self) -> bool {
        self.lo == 0 && self.hi == u16::MAX
    }

    /// True if `port` lies in the range.
    #[inline]
    pub const fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    /// True if every port of `other` lies in `self`.
    pub const fn contains_range(&self, other: &PortRange) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }
}

impl From<u16> for PortRange {
    fn from(port: u16) -> Self {
        PortRange::single(port)
    }
}

/// Parses a port (`80`) or a range `lo-hi` (`1000-2000`).
impl FromStr for PortRange {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError::BadPort(s.to_string());
        let num = |t: &str| -> Result<u16, ValueError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u16>().map_err(|_| bad())
        };
        match s.split_once('-') {
            Some((lo, hi)) => PortRange::new(num(lo)?, num(hi)?),
            None => Ok(PortRange::single(num(s)?)),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_parse_and_contains() {
        let p: Prefix = "10.0.0.0/8".parse().unwrap();
        assert!(p.contains("10.255.0.1".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        assert!(matches!(
            "10.0.0.1/8".parse::<Prefix>(),
            Err(ValueError::HostBitsSet { .. })
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Prefix>(),
            Err(ValueError::BadLength(..))
        ));
        assert!(matches!(
            "10.0.0/8".parse::<Prefix>(),
            Err(ValueError::BadAddress(_))
        ));
        let h: Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(h.prefix_len(), 128);
        let any = Prefix::any(Family::Ipv6);
        assert!(any.contains_prefix(&h));
        let (a, b) = "10.0.0.0/8".parse::<Prefix>().unwrap().halves().unwrap();
        assert_eq!(a.to_string(), "10.0.0.0/9");
        assert_eq!(b.to_string(), "10.128.0.0/9");
        assert!(Prefix::host("1.2.3.4".parse().unwrap()).halves().is_none());
    }

    #[test]
    fn fixed_width_prefixes() {
        let p = Prefix::new(0x0a01_0203u32, 8).unwrap();
        assert_eq!((p.addr(), p.prefix_len()), (0x0a00_0000, 8));
        assert!(p.contains(0x0aff_ffff));
        assert!(!p.contains(0x0b00_0000));
        assert!(Prefix::<u32>::ANY.contains(u32::MAX));
        assert_eq!(
            Prefix::new(0u32, 33),
            Err(ValueError::BadLength("33".into(), 32))
        );
        assert_eq!(Prefix::new(1u128, 128).unwrap().addr(), 1);
        assert!(Prefix::new(0u128, 129).is_err());
    }

    #[test]
    fn port_ranges() {
        assert_eq!("80".parse::<PortRange>().unwrap(), PortRange::single(80));
        assert_eq!(
            "1000-2000".parse::<PortRange>().unwrap(),
            PortRange::new(1000, 2000).unwrap()
        );
        assert_eq!(
            "20-10".parse::<PortRange>(),
            Err(ValueError::InvertedRange(20, 10))
        );
        assert!("x".parse::<PortRange>().is_err());
        assert!("70000".parse::<PortRange>().is_err());
        assert!("+5".parse::<PortRange>().is_err());
        assert!(PortRange::ANY.is_any());
        assert!(PortRange::ANY.contains_range(&PortRange::new(3, 9).unwrap()));
    }
}
