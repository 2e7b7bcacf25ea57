//! The model's value types: address families, prefixes, port ranges,
//! protocol numbers, ICMP and TCP flag tests; what a rule's fields hold.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

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

/// An IPv4 or IPv6 prefix `addr/len`; the bits beyond `len` are always zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

fn mask_v4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask_v6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Prefix {
    /// The prefix `addr/len` with the bits beyond `len` cleared.
    ///
    /// # Errors
    /// [`ValueError::BadLength`] if `len` exceeds the family's width.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, ValueError> {
        let family = Family::of(addr);
        if len > family.bits() {
            return Err(ValueError::BadLength(len.to_string(), family.bits()));
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(len))),
        };
        Ok(Prefix { addr, len })
    }

    /// The host prefix of one address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        Prefix {
            addr,
            len: Family::of(addr).bits(),
        }
    }

    /// The prefix that holds every address of a family (`/0`).
    pub fn any(family: Family) -> Self {
        let addr = match family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Prefix { addr, len: 0 }
    }

    /// The network address (host bits are zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
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
            (IpAddr::V4(net), IpAddr::V4(a)) => u32::from(a) & mask_v4(self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask_v6(self.len) == u128::from(net)
            }
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
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// Every port, `0..=65535`.
    pub const FULL: PortRange = PortRange {
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
    pub fn lo(&self) -> u16 {
        self.lo
    }

    /// The high end (inclusive).
    pub fn hi(&self) -> u16 {
        self.hi
    }

    /// True if `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }

    /// True if every port of `other` lies in `self`.
    pub fn contains_range(&self, other: &PortRange) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }
}

impl From<u16> for PortRange {
    fn from(port: u16) -> Self {
        PortRange::single(port)
    }
}

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

/// True if the union of `ranges` holds every port `0..=65535`.
///
/// Such a list constrains nothing: it is equivalent to "any port" and, like
/// it, also matches packets that carry no L4 ports (see [`Match`](super::Match)).
pub fn covers_all_ports(ranges: &[PortRange]) -> bool {
    let mut sorted: Vec<PortRange> = ranges.to_vec();
    sorted.sort();
    let mut next: u32 = 0; // the lowest port not yet covered
    for r in sorted {
        if u32::from(r.lo) > next {
            return false;
        }
        next = next.max(u32::from(r.hi) + 1);
    }
    next > u32::from(u16::MAX)
}

/// IP protocol numbers used by the model (the same values as on the wire).
pub mod protocol {
    pub use doca_flow::packet::ip_proto::{GRE, ICMP, ICMPV6, TCP, UDP};

    /// The protocol's usual name (`tcp`, `udp`, `icmp`, `icmpv6`, `gre`), if it has one here.
    pub fn name(proto: u8) -> Option<&'static str> {
        match proto {
            TCP => Some("tcp"),
            UDP => Some("udp"),
            ICMP => Some("icmp"),
            ICMPV6 => Some("icmpv6"),
            GRE => Some("gre"),
            _ => None,
        }
    }

    /// The protocol number of a name accepted by [`name`].
    pub fn by_name(name: &str) -> Option<u8> {
        match name {
            "tcp" => Some(TCP),
            "udp" => Some(UDP),
            "icmp" => Some(ICMP),
            "icmpv6" => Some(ICMPV6),
            "gre" => Some(GRE),
            _ => None,
        }
    }
}

/// An ICMP / ICMPv6 type, and optionally code, to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    /// The ICMP type.
    pub icmp_type: u8,
    /// The ICMP code; `None` matches any code.
    pub code: Option<u8>,
}

/// The TCP flag bits, as in the TCP header (CWR ECE URG ACK PSH RST SYN FIN).
pub mod tcp_flag {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Names and bits, in the spelling the config uses.
    pub const NAMES: [(&str, u8); 8] = [
        ("fin", FIN),
        ("syn", SYN),
        ("rst", RST),
        ("psh", PSH),
        ("ack", ACK),
        ("urg", URG),
        ("ece", ECE),
        ("cwr", CWR),
    ];
}

/// A TCP flags test: the packet matches when `flags & mask == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    value: u8,
    mask: u8,
}

impl TcpFlags {
    /// The test `flags & mask == value & mask` (bits of `value` outside
    /// `mask` are dropped).
    pub fn new(value: u8, mask: u8) -> Self {
        TcpFlags {
            value: value & mask,
            mask,
        }
    }

    /// The flag values required under the mask.
    pub fn value(&self) -> u8 {
        self.value
    }

    /// The flags that are tested.
    pub fn mask(&self) -> u8 {
        self.mask
    }

    /// True if the flag byte passes the test.
    pub fn matches(&self, flags: u8) -> bool {
        flags & self.mask == self.value
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
        assert!(covers_all_ports(&[PortRange::FULL]));
        assert!(covers_all_ports(&[
            PortRange::new(1024, 65535).unwrap(),
            PortRange::new(0, 1023).unwrap()
        ]));
        assert!(!covers_all_ports(&[
            PortRange::new(1025, 65535).unwrap(),
            PortRange::new(0, 1023).unwrap()
        ]));
        assert!(!covers_all_ports(&[]));
    }

    #[test]
    fn tcp_flags_mask_value() {
        let syn_only = TcpFlags::new(tcp_flag::SYN, tcp_flag::SYN | tcp_flag::ACK);
        assert!(syn_only.matches(tcp_flag::SYN));
        assert!(syn_only.matches(tcp_flag::SYN | tcp_flag::PSH));
        assert!(!syn_only.matches(tcp_flag::SYN | tcp_flag::ACK));
        assert_eq!(TcpFlags::new(0xff, 0x0f).value(), 0x0f);
    }
}
