//! ACL entries: typed 5-tuples ([`AclEntry`]), written as DOCA's `match` +
//! `match_mask` by [`AclEntry::to_doca`]; the encoding (port ranges as `[value..mask]`,
//! prefixes as masks) is [`crate::acl_encoding`].
//!
//! A rule with a non-full port range never matches a packet without ports (ICMP, non-first
//! fragments); a rule with full ranges does.

use core::net::IpAddr;

use crate::entry::Priority;
use crate::error::{Error, Result};
use crate::fwd::Fwd;
use crate::matching::{Field, Match, prefix_mask};

use crate::acl_encoding::fields;
pub use crate::acl_encoding::{decode_ports, encode_ports};
use crate::net::{Family, PortRange, Prefix};

pub use crate::acl_encoding::ACL_MAX_PRIORITY;

/// A prefix's address widened to 128 bits, and its length.
fn parts(p: &Prefix) -> (u128, u8) {
    match p.addr() {
        IpAddr::V4(a) => (u128::from(u32::from(a)), p.prefix_len()),
        IpAddr::V6(a) => (u128::from(a), p.prefix_len()),
    }
}

/// An ACL entry (`doca_flow_pipe_acl_add_entry`).
#[derive(Debug, Clone)]
pub struct AclEntry {
    /// Source prefix.
    pub src: Prefix,
    /// Destination prefix.
    pub dst: Prefix,
    /// Source port range.
    pub src_port: PortRange,
    /// Destination port range.
    pub dst_port: PortRange,
    /// IP protocol, or any.
    pub proto: Option<u8>,
    /// Priority 0..=1024, lower wins. DOCA leaves ties unspecified; the sw backend breaks
    /// them by the entry's slot id (in insertion order while no slot has been reused).
    pub priority: Priority,
    /// Fwd.
    pub fwd: Fwd,
}

impl AclEntry {
    /// An entry matching everything of the family of `src`/`dst`, with this priority and fwd.
    pub fn new(src: Prefix, dst: Prefix, priority: impl Into<Priority>, fwd: Fwd) -> Self {
        Self {
            src,
            dst,
            src_port: PortRange::ANY,
            dst_port: PortRange::ANY,
            proto: None,
            priority: priority.into(),
            fwd,
        }
    }
    /// With a protocol.
    #[must_use]
    pub fn proto(mut self, p: u8) -> Self {
        self.proto = Some(p);
        self
    }
    /// With a source port range.
    #[must_use]
    pub fn src_port(mut self, r: PortRange) -> Self {
        self.src_port = r;
        self
    }
    /// With a destination port range.
    #[must_use]
    pub fn dst_port(mut self, r: PortRange) -> Self {
        self.dst_port = r;
        self
    }

    /// The address family, or an error if source and destination differ.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the families differ.
    pub fn family(&self) -> Result<Family> {
        if self.src.family() != self.dst.family() {
            return Err(Error::Invalid {
                what: "acl entry",
                reason: "src and dst of different families".into(),
            });
        }
        Ok(self.src.family())
    }

    /// DOCA's `(match, match_mask)` for this entry.
    ///
    /// # Errors
    /// [`Error::Invalid`] for mixed families or a `0..=0` port range.
    pub fn to_doca(&self) -> Result<(Match, Match)> {
        let fam = self.family()?;
        let (sf, df, pf) = fields(fam);
        let mut m = Match::new();
        let mut k = Match::new();
        for (f, p) in [(sf, self.src), (df, self.dst)] {
            let (a, len) = parts(&p);
            let mask = prefix_mask(f, len);
            m.set(f, a & mask);
            k.set(f, mask);
        }
        if let Some(p) = self.proto {
            m.set(pf, u128::from(p));
            k.set(pf, 0xff);
        }
        for (f, r) in [
            (Field::TransportSrcPort, self.src_port),
            (Field::TransportDstPort, self.dst_port),
        ] {
            let (lo, hi) = encode_ports(r)?;
            m.set(f, u128::from(lo));
            k.set(f, u128::from(hi));
        }
        Ok((m, k))
    }
}
