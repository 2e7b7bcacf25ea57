//! The model's value types: address families, prefixes, port ranges,
//! protocol numbers, ICMP and TCP flag tests; what a rule's fields hold.
//!
//! [`Family`], [`Prefix`], [`PortRange`] and [`ValueError`] are DOCA Flow's
//! ([`doca_flow::net`]): the classifier, the ACL pipe and the model share one
//! type per concept.

pub use doca_flow::net::{Family, PortRange, Prefix, ValueError};

/// True if the union of `ranges` holds every port `0..=65535`.
///
/// Such a list constrains nothing: it is equivalent to "any port" and, like
/// it, also matches packets that carry no L4 ports (see [`RuleMatch`](super::RuleMatch)).
pub fn covers_all_ports(ranges: &[PortRange]) -> bool {
    let mut sorted: Vec<PortRange> = ranges.to_vec();
    sorted.sort();
    let mut next: u32 = 0; // the lowest port not yet covered
    for r in sorted {
        if u32::from(r.lo()) > next {
            return false;
        }
        next = next.max(u32::from(r.hi()) + 1);
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

/// The TCP flag bits, as in the TCP header (CWR ECE URG ACK PSH RST SYN FIN): doca-flow's
/// packet constants (one definition), and the names the config spells them with.
pub mod tcp_flag {
    pub use doca_flow::packet::tcp_flags::{ACK, CWR, ECE, FIN, PSH, RST, SYN, URG};

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
    fn covering_port_lists() {
        assert!(covers_all_ports(&[PortRange::ANY]));
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
