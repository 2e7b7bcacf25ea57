//! The match model: which header fields a pipe or entry looks at, with DOCA's mask semantics.
//!
//! A [`Match`] mirrors `struct doca_flow_match`: one value per [`Field`]. The same type is used
//! for values and for masks (as DOCA does with `match` and `match_mask`). Values are host-order
//! integers behind typed setters (`Ipv4Addr`, `u16`, ...); byte order is this crate's business.
//!
//! # Pipe templates: DOCA's rules
//!
//! When a pipe is created from a match `m` (and optionally an explicit mask `k`):
//!
//! * without `k`: a field whose value is zero is **ignored**; a field whose value is all ones
//!   (in the field's width) is **changeable**: each entry gives its own value; any other value
//!   is a **pipe constant** matched exactly;
//! * with `k`: a field whose mask is zero is ignored; otherwise the field is changeable if its
//!   value is all ones, else a constant `m & k`; either way the comparison uses `k`, which
//!   gives prefix and bit matching.
//!
//! A field that the packet does not carry (a TCP port of a UDP packet, an IPv4 address of an
//! IPv6 packet) never matches a non-zero mask.
//!
//! Tunnels (VXLAN, GRE, GENEVE) and inner headers are not modelled yet: every field here is an
//! outer field.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::packet::{Headers, L3, L4};

macro_rules! fields {
    ($( $(#[$doc:meta])* $name:ident = $bits:expr ),* $(,)?) => {
        /// A matchable field. Each has a fixed width; "all ones" means all ones in that width.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum Field {
            $( $(#[$doc])* $name, )*
        }

        impl Field {
            /// Every field, in declaration order.
            pub const ALL: &'static [Field] = &[$(Field::$name,)*];
            /// The number of fields.
            pub const COUNT: usize = Field::ALL.len();

            /// The width of the field in bits.
            pub const fn bits(self) -> u32 {
                match self { $( Field::$name => $bits, )* }
            }
        }
    };
}

fields! {
    /// Outer source MAC (`outer.eth.src_mac`).
    EthSrc = 48,
    /// Outer destination MAC (`outer.eth.dst_mac`).
    EthDst = 48,
    /// Ethertype after the VLAN tags (`outer.eth.type`).
    EthType = 16,
    /// TCI of the outermost VLAN tag (`outer.eth_vlan[0].tci`).
    Vlan0Tci = 16,
    /// TCI of the second VLAN tag (`outer.eth_vlan[1].tci`).
    Vlan1Tci = 16,
    /// IPv4 source address.
    Ipv4Src = 32,
    /// IPv4 destination address.
    Ipv4Dst = 32,
    /// IPv4 protocol (`next_proto`).
    Ipv4Proto = 8,
    /// IPv4 DSCP (6 bits).
    Ipv4Dscp = 6,
    /// IPv4 TTL.
    Ipv4Ttl = 8,
    /// IPv4 flags and fragment offset, as DOCA's `flags_fragment_offset`: more-fragments is
    /// bit 13, don't-fragment bit 14, the offset the low 13 bits.
    Ipv4FlagsFragOffset = 16,
    /// IPv6 source address.
    Ipv6Src = 128,
    /// IPv6 destination address.
    Ipv6Dst = 128,
    /// IPv6 next header (after the extension headers the parser walks).
    Ipv6NextHeader = 8,
    /// IPv6 traffic class.
    Ipv6TrafficClass = 8,
    /// IPv6 flow label (20 bits).
    Ipv6FlowLabel = 20,
    /// IPv6 hop limit.
    Ipv6HopLimit = 8,
    /// TCP source port.
    TcpSrcPort = 16,
    /// TCP destination port.
    TcpDstPort = 16,
    /// TCP flags (FIN is bit 0 ... CWR bit 7, as on the wire and in DOCA).
    TcpFlags = 8,
    /// UDP source port.
    UdpSrcPort = 16,
    /// UDP destination port.
    UdpDstPort = 16,
    /// TCP or UDP source port (DOCA's `outer.transport`; ACL pipes use it).
    TransportSrcPort = 16,
    /// TCP or UDP destination port (DOCA's `outer.transport`; ACL pipes use it).
    TransportDstPort = 16,
    /// ICMP type.
    IcmpType = 8,
    /// ICMP code.
    IcmpCode = 8,
    /// ICMPv6 type.
    Icmp6Type = 8,
    /// ICMPv6 code.
    Icmp6Code = 8,
    /// Parser meta: the ingress port id (`parser_meta.port_id`).
    PortId = 16,
    /// Parser meta: outer L3 type ([`L3Type`]; a C enum, so 32 bits wide).
    L3Type = 32,
    /// Parser meta: outer L4 type ([`L4Type`]; a C enum, so 32 bits wide).
    L4Type = 32,
    /// Parser meta: the outer IP packet is a fragment (1) or not (0); 8 bits as in DOCA.
    Fragmented = 8,
    /// Packet meta (`meta.pkt_meta`), set by an earlier pipe's actions.
    PktMeta = 32,
    /// Scratch word 0 (`meta.u32[0]`).
    Meta0 = 32,
    /// Scratch word 1 (`meta.u32[1]`).
    Meta1 = 32,
    /// Scratch word 2 (`meta.u32[2]`).
    Meta2 = 32,
    /// Scratch word 3 (`meta.u32[3]`).
    Meta3 = 32,
}

impl Field {
    /// All ones in the field's width: the value that makes a pipe field changeable.
    pub const fn full(self) -> u128 {
        let b = self.bits();
        if b >= 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    }

    pub(crate) const fn bit(self) -> u64 {
        1u64 << (self as u8)
    }

    /// The scratch word field for index `i` (0..=3).
    ///
    /// # Panics
    /// If `i > 3`.
    pub const fn meta(i: usize) -> Field {
        match i {
            0 => Field::Meta0,
            1 => Field::Meta1,
            2 => Field::Meta2,
            3 => Field::Meta3,
            _ => panic!("DOCA Flow has four scratch words"),
        }
    }
}

/// Parser-meta outer L3 type, as `enum doca_flow_l3_meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum L3Type {
    /// Neither IPv4 nor IPv6.
    None = 0,
    /// IPv4.
    Ipv4 = 1,
    /// IPv6.
    Ipv6 = 2,
}

/// Parser-meta outer L4 type, as `enum doca_flow_l4_meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum L4Type {
    /// None of the below (also a non-first fragment).
    None = 0,
    /// TCP.
    Tcp = 1,
    /// UDP.
    Udp = 2,
    /// ICMP or ICMPv6.
    Icmp = 3,
    /// ESP.
    Esp = 4,
}

/// Field values (or masks) in the shape of `struct doca_flow_match`.
///
/// # Examples
/// ```
/// use core::net::Ipv4Addr;
/// use doca_flow::{Field, Match};
///
/// // A pipe template: IPv4 destination changeable per entry, TCP dst port fixed to 443.
/// let m = Match::new().ipv4_dst(Ipv4Addr::BROADCAST).tcp_dst_port(443);
/// assert_eq!(m.get(Field::TcpDstPort), 443);
/// assert!(m.is_changeable(Field::Ipv4Dst));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Match {
    vals: [u128; Field::COUNT],
}

impl Default for Match {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for &field in Field::ALL {
            let v = self.get(field);
            if v != 0 {
                m.entry(&field, &format_args!("{v:#x}"));
            }
        }
        m.finish()
    }
}

fn mac(v: [u8; 6]) -> u128 {
    v.iter().fold(0u128, |a, &b| (a << 8) | u128::from(b))
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, $ty:ty, $conv:expr) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(self, v: $ty) -> Self {
            #[allow(clippy::redundant_closure_call)]
            self.with(Field::$field, ($conv)(v))
        }
    };
}

impl Match {
    /// An empty match: every field zero (ignored).
    pub const fn new() -> Self {
        Self {
            vals: [0; Field::COUNT],
        }
    }

    /// A match with every given field set to all ones: in a pipe template, the changeable
    /// fields; as a mask, exact matching on those fields.
    pub fn changeable(fields: &[Field]) -> Self {
        fields.iter().fold(Self::new(), |m, &f| m.with(f, f.full()))
    }

    /// Sets `field` to `v` (truncated to the field's width).
    #[must_use]
    pub fn with(mut self, field: Field, v: u128) -> Self {
        self.set(field, v);
        self
    }

    /// Sets `field` to `v` (truncated to the field's width) in place.
    pub fn set(&mut self, field: Field, v: u128) {
        self.vals[field as usize] = v & field.full();
    }

    /// The value of `field` (0 when not set).
    pub fn get(&self, field: Field) -> u128 {
        self.vals[field as usize]
    }

    /// Whether `field` is all ones, which in a pipe template means changeable.
    pub fn is_changeable(&self, field: Field) -> bool {
        self.get(field) == field.full()
    }

    /// The fields with a non-zero value.
    pub fn fields(&self) -> impl Iterator<Item = (Field, u128)> + '_ {
        Field::ALL
            .iter()
            .map(|&f| (f, self.get(f)))
            .filter(|&(_, v)| v != 0)
    }

    setter!(/// Outer source MAC.
        eth_src, EthSrc, [u8; 6], mac);
    setter!(/// Outer destination MAC.
        eth_dst, EthDst, [u8; 6], mac);
    setter!(/// Ethertype.
        eth_type, EthType, u16, u128::from);
    setter!(/// TCI of the outer VLAN tag.
        vlan0_tci, Vlan0Tci, u16, u128::from);
    setter!(/// TCI of the inner VLAN tag.
        vlan1_tci, Vlan1Tci, u16, u128::from);
    setter!(/// IPv4 source address.
        ipv4_src, Ipv4Src, Ipv4Addr, |a: Ipv4Addr| u128::from(u32::from(a)));
    setter!(/// IPv4 destination address.
        ipv4_dst, Ipv4Dst, Ipv4Addr, |a: Ipv4Addr| u128::from(u32::from(a)));
    setter!(/// IPv4 protocol.
        ipv4_proto, Ipv4Proto, u8, u128::from);
    setter!(/// IPv4 DSCP (6 bits).
        ipv4_dscp, Ipv4Dscp, u8, u128::from);
    setter!(/// IPv4 TTL.
        ipv4_ttl, Ipv4Ttl, u8, u128::from);
    setter!(/// IPv4 flags + fragment offset (see [`Field::Ipv4FlagsFragOffset`]).
        ipv4_flags_frag_offset, Ipv4FlagsFragOffset, u16, u128::from);
    setter!(/// IPv6 source address.
        ipv6_src, Ipv6Src, Ipv6Addr, u128::from);
    setter!(/// IPv6 destination address.
        ipv6_dst, Ipv6Dst, Ipv6Addr, u128::from);
    setter!(/// IPv6 next header.
        ipv6_next_header, Ipv6NextHeader, u8, u128::from);
    setter!(/// IPv6 traffic class.
        ipv6_traffic_class, Ipv6TrafficClass, u8, u128::from);
    setter!(/// IPv6 flow label (20 bits).
        ipv6_flow_label, Ipv6FlowLabel, u32, u128::from);
    setter!(/// IPv6 hop limit.
        ipv6_hop_limit, Ipv6HopLimit, u8, u128::from);
    setter!(/// TCP source port.
        tcp_src_port, TcpSrcPort, u16, u128::from);
    setter!(/// TCP destination port.
        tcp_dst_port, TcpDstPort, u16, u128::from);
    setter!(/// TCP flags.
        tcp_flags, TcpFlags, u8, u128::from);
    setter!(/// UDP source port.
        udp_src_port, UdpSrcPort, u16, u128::from);
    setter!(/// UDP destination port.
        udp_dst_port, UdpDstPort, u16, u128::from);
    setter!(/// TCP-or-UDP source port.
        transport_src_port, TransportSrcPort, u16, u128::from);
    setter!(/// TCP-or-UDP destination port.
        transport_dst_port, TransportDstPort, u16, u128::from);
    setter!(/// ICMP type.
        icmp_type, IcmpType, u8, u128::from);
    setter!(/// ICMP code.
        icmp_code, IcmpCode, u8, u128::from);
    setter!(/// ICMPv6 type.
        icmp6_type, Icmp6Type, u8, u128::from);
    setter!(/// ICMPv6 code.
        icmp6_code, Icmp6Code, u8, u128::from);
    setter!(/// Ingress port id.
        port_id, PortId, crate::PortId, |p: crate::PortId| u128::from(p.0));
    setter!(/// Outer L3 type.
        l3_type, L3Type, L3Type, |t: L3Type| u128::from(t as u32));
    setter!(/// Outer L4 type.
        l4_type, L4Type, L4Type, |t: L4Type| u128::from(t as u32));
    setter!(/// Outer IP fragmented flag (as a value: 1 or 0; as a mask: use `0xff`).
        fragmented, Fragmented, u8, u128::from);
    setter!(/// Packet meta.
        pkt_meta, PktMeta, u32, u128::from);

    /// Scratch word `i` (0..=3).
    ///
    /// # Panics
    /// If `i > 3`.
    #[must_use]
    pub fn meta_u32(self, i: usize, v: u32) -> Self {
        self.with(Field::meta(i), u128::from(v))
    }

    /// Sets `field` to a prefix mask of `len` leading ones (for masks).
    #[must_use]
    pub fn prefix(self, field: Field, len: u8) -> Self {
        self.with(field, prefix_mask(field, len))
    }
}

/// `len` leading ones in the width of `field` (clamped to the width).
///
/// ```
/// use doca_flow::{Field, matching::prefix_mask};
/// assert_eq!(prefix_mask(Field::Ipv6Dst, 128), u128::MAX);
/// assert_eq!(prefix_mask(Field::Ipv4Dst, 8), 0xff00_0000);
/// ```
pub fn prefix_mask(field: Field, len: u8) -> u128 {
    let bits = field.bits();
    let len = u32::from(len).min(bits);
    if len == 0 {
        0
    } else {
        // `checked_shr`: a 128-bit field with len 128 would shift by the type's width.
        field.full() & !field.full().checked_shr(len).unwrap_or(0)
    }
}

/// The role a field plays in a compiled pipe template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Each entry gives a value, compared under `mask`.
    Changeable { mask: u128 },
    /// Compared against `value` under `mask` for every packet.
    Constant { value: u128, mask: u128 },
}

/// A pipe's match, compiled from `match` + `match_mask` by DOCA's rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Template {
    /// Fields that take per-entry values, with their masks.
    pub(crate) changeable: Vec<(Field, u128)>,
    /// Pipe constants: `(field, value, mask)`.
    pub(crate) constants: Vec<(Field, u128, u128)>,
    /// Bit set of every field the template looks at.
    pub(crate) required: u64,
}

impl Template {
    /// Compiles a pipe match and optional explicit mask.
    pub(crate) fn compile(m: &Match, mask: Option<&Match>) -> Self {
        let mut t = Template::default();
        for &f in Field::ALL {
            let v = m.get(f);
            let role = match mask {
                None if v == 0 => continue,
                None if v == f.full() => Role::Changeable { mask: f.full() },
                None => Role::Constant {
                    value: v,
                    mask: f.full(),
                },
                Some(k) => {
                    let k = k.get(f);
                    if k == 0 {
                        continue;
                    } else if v == f.full() {
                        Role::Changeable { mask: k }
                    } else {
                        Role::Constant {
                            value: v & k,
                            mask: k,
                        }
                    }
                }
            };
            t.required |= f.bit();
            match role {
                Role::Changeable { mask } => t.changeable.push((f, mask)),
                Role::Constant { value, mask } => t.constants.push((f, value, mask)),
            }
        }
        t
    }

    /// The role of `field`, if the template looks at it.
    #[cfg(test)]
    pub(crate) fn role(&self, field: Field) -> Option<Role> {
        if let Some(&(_, mask)) = self.changeable.iter().find(|(f, _)| *f == field) {
            return Some(Role::Changeable { mask });
        }
        self.constants
            .iter()
            .find(|(f, ..)| *f == field)
            .map(|&(_, value, mask)| Role::Constant { value, mask })
    }

    /// Checks that an entry's match only gives values for changeable fields.
    pub(crate) fn check_entry(&self, entry: &Match) -> Result<()> {
        for (f, _) in entry.fields() {
            if !self.changeable.iter().any(|(c, _)| *c == f) {
                return Err(Error::ValueForConstantField { field: f });
            }
        }
        Ok(())
    }

    /// Whether [`Template::constants_match`] can fail: the template requires a field or
    /// fixes a value.
    #[inline]
    pub(crate) fn has_constants(&self) -> bool {
        self.required != 0 || !self.constants.is_empty()
    }

    /// Whether the packet satisfies the pipe constants and carries every field.
    #[inline]
    pub(crate) fn constants_match(&self, key: &PacketKey) -> bool {
        key.present & self.required == self.required
            && self.constants.iter().all(|&(f, v, m)| key.get(f) & m == v)
    }

    /// Writes the masked changeable values of the packet into `out`; returns the length used.
    #[inline]
    pub(crate) fn key_of(&self, key: &PacketKey, out: &mut [u128; Field::COUNT]) -> usize {
        for (i, &(f, m)) in self.changeable.iter().enumerate() {
            out[i] = key.get(f) & m;
        }
        self.changeable.len()
    }

    /// The masked changeable values of an entry's match.
    pub(crate) fn entry_key(&self, entry: &Match) -> Box<[u128]> {
        self.changeable
            .iter()
            .map(|&(f, m)| entry.get(f) & m)
            .collect()
    }
}

/// A control entry's own match: `(field, value, mask)` triples plus the required field set.
#[derive(Debug, Clone, Default)]
pub(crate) struct MaskedMatch {
    pub(crate) fields: Vec<(Field, u128, u128)>,
    pub(crate) required: u64,
}

impl MaskedMatch {
    /// DOCA's per-entry rule: with a mask, fields with a zero mask are ignored; without one,
    /// fields with a zero value are ignored and the others are matched exactly.
    pub(crate) fn compile(m: &Match, mask: Option<&Match>) -> Self {
        let mut out = MaskedMatch::default();
        for &f in Field::ALL {
            let k = match mask {
                Some(k) => k.get(f),
                None if m.get(f) != 0 => f.full(),
                None => 0,
            };
            if k != 0 {
                out.fields.push((f, m.get(f) & k, k));
                out.required |= f.bit();
            }
        }
        out
    }

    #[inline]
    pub(crate) fn matches(&self, key: &PacketKey) -> bool {
        key.present & self.required == self.required
            && self.fields.iter().all(|&(f, v, m)| key.get(f) & m == v)
    }
}

/// Per-packet metadata that travels with a packet through the pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketMeta {
    /// The ingress port id.
    pub port_id: crate::PortId,
    /// `meta.pkt_meta`.
    pub pkt_meta: u32,
    /// `meta.u32[]` scratch words.
    pub scratch: [u32; 4],
}

/// One packet's field values, read on demand from its parsed headers and meta.
///
/// Building a key costs a few instructions (the set of fields the packet carries comes
/// from its layer kinds); [`PacketKey::get`] reads one field when a pipe looks at it, so a
/// pipe that matches on two fields pays for two. A field the packet does not carry reads
/// as 0 (and is absent from `present`).
#[derive(Clone, Copy)]
pub(crate) struct PacketKey<'a> {
    h: &'a Headers,
    meta: &'a PacketMeta,
    pub(crate) present: u64,
}

/// The fields that come from the packet's meta, not from its bytes: a pipeline that looks
/// at nothing else needs no parse.
pub(crate) const META_FIELDS: u64 = Field::PortId.bit()
    | Field::PktMeta.bit()
    | Field::Meta0.bit()
    | Field::Meta1.bit()
    | Field::Meta2.bit()
    | Field::Meta3.bit();

/// Bits of fields every packet carries: the meta words and the parser's L3/L4 type and
/// fragment facts.
const ALWAYS: u64 = Field::PortId.bit()
    | Field::PktMeta.bit()
    | Field::Meta0.bit()
    | Field::Meta1.bit()
    | Field::Meta2.bit()
    | Field::Meta3.bit()
    | Field::L3Type.bit()
    | Field::L4Type.bit()
    | Field::Fragmented.bit();
const ETH: u64 = Field::EthSrc.bit() | Field::EthDst.bit() | Field::EthType.bit();
const IPV4: u64 = Field::Ipv4Src.bit()
    | Field::Ipv4Dst.bit()
    | Field::Ipv4Proto.bit()
    | Field::Ipv4Dscp.bit()
    | Field::Ipv4Ttl.bit()
    | Field::Ipv4FlagsFragOffset.bit();
const IPV6: u64 = Field::Ipv6Src.bit()
    | Field::Ipv6Dst.bit()
    | Field::Ipv6NextHeader.bit()
    | Field::Ipv6TrafficClass.bit()
    | Field::Ipv6FlowLabel.bit()
    | Field::Ipv6HopLimit.bit();
const TRANSPORT: u64 = Field::TransportSrcPort.bit() | Field::TransportDstPort.bit();
const TCP: u64 =
    Field::TcpSrcPort.bit() | Field::TcpDstPort.bit() | Field::TcpFlags.bit() | TRANSPORT;
const UDP: u64 = Field::UdpSrcPort.bit() | Field::UdpDstPort.bit() | TRANSPORT;
const ICMP: u64 = Field::IcmpType.bit() | Field::IcmpCode.bit();
const ICMP6: u64 = Field::Icmp6Type.bit() | Field::Icmp6Code.bit();

impl<'a> PacketKey<'a> {
    /// The key of a packet with these headers and meta.
    #[inline]
    pub(crate) fn new(h: &'a Headers, meta: &'a PacketMeta) -> Self {
        Self::with_present(h, meta, Self::present_of(h))
    }

    /// The key of a packet with these headers and meta whose [`PacketKey::present_of`]
    /// is `present` (a walk computes it once per parse, not once per pipe).
    #[inline]
    pub(crate) fn with_present(h: &'a Headers, meta: &'a PacketMeta, present: u64) -> Self {
        PacketKey { h, meta, present }
    }

    /// The parsed headers the key reads (for lookups that take several header fields
    /// at once, such as an ACL key, without a [`PacketKey::get`] per field).
    #[inline]
    pub(crate) fn headers(&self) -> &'a Headers {
        self.h
    }

    /// [`PacketKey::present_of`] a frame that [`PlainTuple::of`] takes (Ethernet
    /// without VLAN tags, IPv4, then `l4`), known without its headers.
    ///
    /// [`PlainTuple::of`]: crate::packet::PlainTuple::of
    #[inline(always)]
    pub(crate) const fn present_of_plain(l4: crate::packet::PlainL4) -> u64 {
        use crate::packet::PlainL4;
        ALWAYS
            | ETH
            | IPV4
            | match l4 {
                PlainL4::Tcp => TCP,
                PlainL4::Udp => UDP,
                PlainL4::Icmp => ICMP,
                PlainL4::Other => 0,
            }
    }

    /// The fields a packet with these headers carries (bits of [`Field::bit`]).
    #[inline]
    pub(crate) fn present_of(h: &Headers) -> u64 {
        let mut present = ALWAYS;
        if let Some(eth) = &h.eth {
            present |= ETH;
            if eth.vlan[0].is_some() {
                present |= Field::Vlan0Tci.bit();
            }
            if eth.vlan[1].is_some() {
                present |= Field::Vlan1Tci.bit();
            }
        }
        present |= match h.l3 {
            L3::Ipv4(_) => IPV4,
            L3::Ipv6(_) => IPV6,
            L3::None | L3::Other(_) => 0,
        };
        present |= match h.l4 {
            L4::Tcp { .. } => TCP,
            L4::Udp { .. } => UDP,
            L4::Icmp { .. } => ICMP,
            L4::Icmp6 { .. } => ICMP6,
            L4::None | L4::Other(_) => 0,
        };
        present
    }

    /// The value of `f` (0 if the packet does not carry it).
    #[inline]
    pub(crate) fn get(&self, f: Field) -> u128 {
        let h = self.h;
        let v4 = || match &h.l3 {
            L3::Ipv4(ip) => Some(ip),
            _ => None,
        };
        let v6 = || match &h.l3 {
            L3::Ipv6(ip) => Some(ip),
            _ => None,
        };
        let ports = || match h.l4 {
            L4::Tcp {
                src_port, dst_port, ..
            }
            | L4::Udp { src_port, dst_port } => (src_port, dst_port),
            _ => (0, 0),
        };
        match f {
            Field::EthSrc => h.eth.map_or(0, |e| mac(e.src)),
            Field::EthDst => h.eth.map_or(0, |e| mac(e.dst)),
            Field::EthType => h.eth.map_or(0, |e| u128::from(e.ethertype)),
            Field::Vlan0Tci => h
                .eth
                .and_then(|e| e.vlan[0])
                .map_or(0, |t| u128::from(t.tci)),
            Field::Vlan1Tci => h
                .eth
                .and_then(|e| e.vlan[1])
                .map_or(0, |t| u128::from(t.tci)),
            Field::Ipv4Src => v4().map_or(0, |ip| u128::from(u32::from(ip.src))),
            Field::Ipv4Dst => v4().map_or(0, |ip| u128::from(u32::from(ip.dst))),
            Field::Ipv4Proto => v4().map_or(0, |ip| u128::from(ip.protocol)),
            Field::Ipv4Dscp => v4().map_or(0, |ip| u128::from(ip.dscp)),
            Field::Ipv4Ttl => v4().map_or(0, |ip| u128::from(ip.ttl)),
            Field::Ipv4FlagsFragOffset => v4().map_or(0, |ip| {
                let fr = ip.fragment;
                u128::from(
                    (u16::from(fr.dont_fragment) << 14)
                        | (u16::from(fr.more) << 13)
                        | (fr.offset & 0x1fff),
                )
            }),
            Field::Ipv6Src => v6().map_or(0, |ip| u128::from(ip.src)),
            Field::Ipv6Dst => v6().map_or(0, |ip| u128::from(ip.dst)),
            Field::Ipv6NextHeader => v6().map_or(0, |ip| u128::from(ip.next_header)),
            Field::Ipv6TrafficClass => v6().map_or(0, |ip| u128::from(ip.traffic_class)),
            Field::Ipv6FlowLabel => v6().map_or(0, |ip| u128::from(ip.flow_label & 0xfffff)),
            Field::Ipv6HopLimit => v6().map_or(0, |ip| u128::from(ip.hop_limit)),
            Field::TcpSrcPort => match h.l4 {
                L4::Tcp { src_port, .. } => u128::from(src_port),
                _ => 0,
            },
            Field::TcpDstPort => match h.l4 {
                L4::Tcp { dst_port, .. } => u128::from(dst_port),
                _ => 0,
            },
            Field::TcpFlags => match h.l4 {
                L4::Tcp { flags, .. } => u128::from(flags),
                _ => 0,
            },
            Field::UdpSrcPort => match h.l4 {
                L4::Udp { src_port, .. } => u128::from(src_port),
                _ => 0,
            },
            Field::UdpDstPort => match h.l4 {
                L4::Udp { dst_port, .. } => u128::from(dst_port),
                _ => 0,
            },
            Field::TransportSrcPort => u128::from(ports().0),
            Field::TransportDstPort => u128::from(ports().1),
            Field::IcmpType => match h.l4 {
                L4::Icmp { icmp_type, .. } => u128::from(icmp_type),
                _ => 0,
            },
            Field::IcmpCode => match h.l4 {
                L4::Icmp { code, .. } => u128::from(code),
                _ => 0,
            },
            Field::Icmp6Type => match h.l4 {
                L4::Icmp6 { icmp_type, .. } => u128::from(icmp_type),
                _ => 0,
            },
            Field::Icmp6Code => match h.l4 {
                L4::Icmp6 { code, .. } => u128::from(code),
                _ => 0,
            },
            Field::PortId => u128::from(self.meta.port_id.0),
            Field::L3Type => u128::from(self.l3_type() as u32),
            Field::L4Type => u128::from(self.l4_type() as u32),
            Field::Fragmented => u128::from(h.fragment().is_some_and(|f| f.is_fragment)),
            Field::PktMeta => u128::from(self.meta.pkt_meta),
            Field::Meta0 => u128::from(self.meta.scratch[0]),
            Field::Meta1 => u128::from(self.meta.scratch[1]),
            Field::Meta2 => u128::from(self.meta.scratch[2]),
            Field::Meta3 => u128::from(self.meta.scratch[3]),
        }
    }

    /// The parser's outer L3 type.
    #[inline]
    pub(crate) fn l3_type(&self) -> L3Type {
        match self.h.l3 {
            L3::Ipv4(_) => L3Type::Ipv4,
            L3::Ipv6(_) => L3Type::Ipv6,
            L3::None | L3::Other(_) => L3Type::None,
        }
    }

    /// The parser's outer L4 type.
    #[inline]
    pub(crate) fn l4_type(&self) -> L4Type {
        match self.h.l4 {
            L4::Tcp { .. } => L4Type::Tcp,
            L4::Udp { .. } => L4Type::Udp,
            L4::Icmp { .. } | L4::Icmp6 { .. } => L4Type::Icmp,
            L4::None | L4::Other(_) => L4Type::None,
        }
    }

    /// The values of the 5-tuple, for RSS and hash pipes.
    pub(crate) fn hash_fields(&self, fields: &[(Field, u128)]) -> u64 {
        crate::backend::sw::hash::hash_words(fields.iter().map(|&(f, m)| self.get(f) & m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_frames_fields_are_known_from_its_tuple() {
        use crate::packet::{PacketBuilder, PlainTuple};
        let (a, b) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let mut seen = Vec::new();
        for frame in [
            PacketBuilder::tcp4(a, b, 40000, 80).build(),
            PacketBuilder::udp4(a, b, 53, 5353).pad_to(60).build(),
            PacketBuilder::icmp4(a, b, 8, 0).build(),
            PacketBuilder::ipv4(a, b, 47).pad_to(60).build(),
        ] {
            let t = PlainTuple::of(&frame).expect("a plain frame");
            let present = PacketKey::present_of_plain(t.l4);
            assert_eq!(present, PacketKey::present_of(&Headers::parse(&frame)));
            assert!(!seen.contains(&present), "each kind its own shape");
            seen.push(present);
        }
    }

    #[test]
    fn widths_and_full() {
        assert_eq!(Field::Ipv4Dscp.full(), 0x3f);
        assert_eq!(Field::Ipv6Src.full(), u128::MAX);
        assert_eq!(Field::L3Type.full(), 0xffff_ffff);
        assert_eq!(prefix_mask(Field::Ipv4Src, 24), 0xffff_ff00);
        assert_eq!(prefix_mask(Field::Ipv4Src, 0), 0);
        assert_eq!(prefix_mask(Field::Ipv4Src, 40), 0xffff_ffff);
        const { assert!(Field::COUNT <= 64) };
    }

    #[test]
    fn template_roles_without_mask() {
        let m = Match::new()
            .ipv4_dst(Ipv4Addr::BROADCAST)
            .tcp_dst_port(80)
            .ipv4_src(Ipv4Addr::UNSPECIFIED);
        let t = Template::compile(&m, None);
        assert_eq!(
            t.role(Field::Ipv4Dst),
            Some(Role::Changeable { mask: 0xffff_ffff })
        );
        assert_eq!(
            t.role(Field::TcpDstPort),
            Some(Role::Constant {
                value: 80,
                mask: 0xffff
            })
        );
        assert_eq!(t.role(Field::Ipv4Src), None);
    }

    #[test]
    fn template_roles_with_mask() {
        let m = Match::new()
            .ipv4_dst(Ipv4Addr::BROADCAST)
            .ipv4_src(Ipv4Addr::new(10, 1, 2, 3));
        let k = Match::new()
            .prefix(Field::Ipv4Dst, 16)
            .prefix(Field::Ipv4Src, 8);
        let t = Template::compile(&m, Some(&k));
        assert_eq!(
            t.role(Field::Ipv4Dst),
            Some(Role::Changeable { mask: 0xffff_0000 })
        );
        assert_eq!(
            t.role(Field::Ipv4Src),
            Some(Role::Constant {
                value: 0x0a00_0000,
                mask: 0xff00_0000
            })
        );
        assert!(
            t.check_entry(&Match::new().ipv4_dst(Ipv4Addr::LOCALHOST))
                .is_ok()
        );
        assert!(matches!(
            t.check_entry(&Match::new().ipv4_src(Ipv4Addr::LOCALHOST)),
            Err(Error::ValueForConstantField {
                field: Field::Ipv4Src
            })
        ));
    }
}
