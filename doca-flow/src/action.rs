//! Header modify and meta actions (`struct doca_flow_actions`).

use core::net::{Ipv4Addr, Ipv6Addr};

/// Header rewrites and meta writes applied when an entry hits.
///
/// A pipe's actions apply to every entry; an entry's own actions (given when it is added)
/// override the pipe's field by field. Checksums are fixed by the sw backend.
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
