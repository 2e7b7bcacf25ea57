//! Header modify and meta actions (`struct doca_flow_actions`).

use core::net::{Ipv4Addr, Ipv6Addr};

/// Header rewrites and meta writes applied when an entry hits.
///
/// As in DOCA, a pipe's actions are a template where a field acts as its own mask: a field
/// set to **all ones** (`255.255.255.255`, port `0xffff`, MAC `ff:..:ff`, DSCP `0x3f`, TTL
/// `0xff`, meta `0xffff_ffff`) is **changeable**: each entry of a basic, LPM or hash pipe
/// may give its own value (an entry that gives none leaves the field alone); any other
/// value is a constant written on every hit. Entries of those pipes may only set changeable
/// fields ([`Error::ActionNotChangeable`](crate::Error::ActionNotChangeable)); control-pipe
/// entries carry their own actions freely, as DOCA's control entries carry an actions mask.
/// `dec_ttl` is an operation, not a value: it may be set on the pipe or any entry.
///
/// Checksums are fixed by the sw backend.
///
/// # Examples
/// ```
/// use core::net::Ipv4Addr;
/// use doca_flow::Actions;
///
/// // Template: rewrite the destination per entry, always decrement the TTL.
/// let pipe = Actions::new().ipv4_dst(Ipv4Addr::BROADCAST).dec_ttl();
/// let entry = Actions::new().ipv4_dst(Ipv4Addr::new(10, 0, 0, 1));
/// assert!(pipe.check_entry(&entry).is_ok());
/// assert!(pipe.check_entry(&Actions::new().l4_dst_port(80)).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    /// New source MAC.
    pub eth_src: Option<[u8; 6]>,
    /// New destination MAC.
    pub eth_dst: Option<[u8; 6]>,
    /// New IPv4 source.
    pub ipv4_src: Option<Ipv4Addr>,
    /// New IPv4 destination.
    pub ipv4_dst: Option<Ipv4Addr>,
    /// New IPv6 source.
    pub ipv6_src: Option<Ipv6Addr>,
    /// New IPv6 destination.
    pub ipv6_dst: Option<Ipv6Addr>,
    /// New TCP/UDP source port.
    pub l4_src_port: Option<u16>,
    /// New TCP/UDP destination port.
    pub l4_dst_port: Option<u16>,
    /// New IPv4 TTL / IPv6 hop limit.
    pub ttl: Option<u8>,
    /// Decrement the TTL / hop limit (after `ttl`, if both are set).
    pub dec_ttl: bool,
    /// New DSCP (IPv4 TOS / IPv6 traffic class upper 6 bits).
    pub dscp: Option<u8>,
    /// New `meta.pkt_meta`.
    pub pkt_meta: Option<u32>,
    /// New scratch words `meta.u32[i]`.
    pub meta: [Option<u32>; 4],
}

macro_rules! act {
    ($(#[$d:meta])* $name:ident: $ty:ty) => {
        $(#[$d])*
        #[must_use]
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = Some(v);
            self
        }
    };
}

impl Actions {
    /// No actions.
    pub fn new() -> Self {
        Self::default()
    }
    act!(/// Set the source MAC.
        eth_src: [u8; 6]);
    act!(/// Set the destination MAC.
        eth_dst: [u8; 6]);
    act!(/// Set the IPv4 source.
        ipv4_src: Ipv4Addr);
    act!(/// Set the IPv4 destination.
        ipv4_dst: Ipv4Addr);
    act!(/// Set the IPv6 source.
        ipv6_src: Ipv6Addr);
    act!(/// Set the IPv6 destination.
        ipv6_dst: Ipv6Addr);
    act!(/// Set the L4 source port.
        l4_src_port: u16);
    act!(/// Set the L4 destination port.
        l4_dst_port: u16);
    act!(/// Set the TTL / hop limit.
        ttl: u8);
    act!(/// Set the DSCP.
        dscp: u8);
    act!(/// Set the packet meta.
        pkt_meta: u32);

    /// Decrement the TTL / hop limit.
    #[must_use]
    pub fn dec_ttl(mut self) -> Self {
        self.dec_ttl = true;
        self
    }

    /// Set scratch word `i` (0..=3).
    ///
    /// # Panics
    /// If `i > 3`.
    #[must_use]
    pub fn meta_u32(mut self, i: usize, v: u32) -> Self {
        self.meta[i] = Some(v);
        self
    }

    /// Whether any action touches the packet bytes (the sw backend re-parses after those).
    pub fn modifies_headers(&self) -> bool {
        self.eth_src.is_some()
            || self.eth_dst.is_some()
            || self.ipv4_src.is_some()
            || self.ipv4_dst.is_some()
            || self.ipv6_src.is_some()
            || self.ipv6_dst.is_some()
            || self.l4_src_port.is_some()
            || self.l4_dst_port.is_some()
            || self.ttl.is_some()
            || self.dec_ttl
            || self.dscp.is_some()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self == &Actions::default()
    }

    /// Each value field's name, whether it is set, and whether it is all ones.
    fn field_states(&self) -> [(&'static str, Option<bool>); 15] {
        fn st<T: PartialEq>(v: &Option<T>, ones: T) -> Option<bool> {
            v.as_ref().map(|x| *x == ones)
        }
        [
            ("eth_src", st(&self.eth_src, [0xff; 6])),
            ("eth_dst", st(&self.eth_dst, [0xff; 6])),
            ("ipv4_src", st(&self.ipv4_src, Ipv4Addr::BROADCAST)),
            ("ipv4_dst", st(&self.ipv4_dst, Ipv4Addr::BROADCAST)),
            ("ipv6_src", st(&self.ipv6_src, Ipv6Addr::from(u128::MAX))),
            ("ipv6_dst", st(&self.ipv6_dst, Ipv6Addr::from(u128::MAX))),
            ("l4_src_port", st(&self.l4_src_port, u16::MAX)),
            ("l4_dst_port", st(&self.l4_dst_port, u16::MAX)),
            ("ttl", st(&self.ttl, u8::MAX)),
            ("dscp", st(&self.dscp, 0x3f)),
            ("pkt_meta", st(&self.pkt_meta, u32::MAX)),
            ("meta[0]", st(&self.meta[0], u32::MAX)),
            ("meta[1]", st(&self.meta[1], u32::MAX)),
            ("meta[2]", st(&self.meta[2], u32::MAX)),
            ("meta[3]", st(&self.meta[3], u32::MAX)),
        ]
    }

    /// Checks that `entry` only sets fields that this pipe template makes changeable.
    ///
    /// # Errors
    /// [`Error::ActionNotChangeable`](crate::Error::ActionNotChangeable) naming the first
    /// field that is not.
    pub fn check_entry(&self, entry: &Actions) -> crate::Result<()> {
        let pipe = self.field_states();
        for (i, (name, set)) in entry.field_states().into_iter().enumerate() {
            if set.is_some() && pipe[i].1 != Some(true) {
                return Err(crate::Error::ActionNotChangeable { action: name });
            }
        }
        Ok(())
    }

    /// The template's constants: `self` without its changeable (all-ones) fields.
    pub fn constants(&self) -> Actions {
        let mut a = self.clone();
        let states = self.field_states();
        macro_rules! clear {
            ($($i:expr => $f:ident),*) => { $( if states[$i].1 == Some(true) { a.$f = None; } )* };
        }
        clear!(0 => eth_src, 1 => eth_dst, 2 => ipv4_src, 3 => ipv4_dst, 4 => ipv6_src, 5 => ipv6_dst,
            6 => l4_src_port, 7 => l4_dst_port, 8 => ttl, 9 => dscp, 10 => pkt_meta);
        for w in 0..4 {
            if states[11 + w].1 == Some(true) {
                a.meta[w] = None;
            }
        }
        a
    }

    /// `self` with every field that `over` sets replaced by `over`'s value.
    pub fn overlay(&self, over: &Actions) -> Actions {
        let mut a = self.clone();
        macro_rules! o {
            ($($f:ident),*) => { $( if over.$f.is_some() { a.$f = over.$f; } )* };
        }
        o!(
            eth_src,
            eth_dst,
            ipv4_src,
            ipv4_dst,
            ipv6_src,
            ipv6_dst,
            l4_src_port,
            l4_dst_port,
            ttl,
            dscp,
            pkt_meta
        );
        a.dec_ttl |= over.dec_ttl;
        for i in 0..4 {
            if over.meta[i].is_some() {
                a.meta[i] = over.meta[i];
            }
        }
        a
    }
}
