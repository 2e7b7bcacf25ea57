//! `rte_acl` over the IPv4 5-tuple: the peer the software classifier is
//! benchmarked against, with the same field layout as DPDK's `test-acl`.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use doca_sys::dpdk as sys;

use super::{DpdkError, Eal};

/// One IPv4 5-tuple rule for [`AclContext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclIpv4Rule {
    /// Source address (host order) and prefix length 0..=32.
    pub src: (u32, u8),
    /// Destination address (host order) and prefix length 0..=32.
    pub dst: (u32, u8),
    /// Inclusive source port range.
    pub src_port: (u16, u16),
    /// Inclusive destination port range.
    pub dst_port: (u16, u16),
    /// Protocol value and mask: matches when `(p & mask) == (value & mask)`.
    pub proto: (u8, u8),
    /// Higher wins (rte_acl's convention), at most 536870911.
    pub priority: i32,
    /// What [`AclContext::classify`] returns for this rule; must not be 0
    /// (rte_acl's "no match").
    pub userdata: u32,
}

/// One packet's 5-tuple in the layout the context reads: network byte order,
/// protocol first, as DPDK's `test-acl` lays it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AclIpv4Key {
    proto: u8,
    _pad: [u8; 3],
    src: u32,
    dst: u32,
    src_port: u16,
    dst_port: u16,
}

impl AclIpv4Key {
    /// A key from host-order values.
    pub fn new(src: u32, dst: u32, src_port: u16, dst_port: u16, proto: u8) -> AclIpv4Key {
        AclIpv4Key {
            proto,
            _pad: [0; 3],
            src: src.to_be(),
            dst: dst.to_be(),
            src_port: src_port.to_be(),
            dst_port: dst_port.to_be(),
        }
    }
}

/// Which classify implementation rte_acl uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclAlgorithm {
    /// DPDK's choice for this CPU.
    Default,
    /// Portable scalar code.
    Scalar,
    /// SSE4.1.
    Sse,
    /// AVX2.
    Avx2,
    /// Arm NEON (BlueField's cores).
    Neon,
    /// AVX-512 (F, VL, CD, BW), 16 flows at a time in 256-bit registers.
    Avx512x16,
    /// AVX-512, 32 flows at a time in 512-bit registers; DPDK allows it only when the
    /// EAL's maximum SIMD width is 512 bits (`--force-max-simd-bitwidth=512`).
    Avx512x32,
}

/// A built `rte_acl` context over [`AclIpv4Rule`]s, one category.
#[derive(Debug)]
pub struct AclContext {
    raw: NonNull<sys::rte_acl_ctx>,
    rules: usize,
    _eal: Eal,
}

// SAFETY: a built context is read-only; rte_acl_classify may run on it from
// several threads at once (DPDK documents classify as thread-safe).
unsafe impl Send for AclContext {}
// SAFETY: see Send.
unsafe impl Sync for AclContext {}

static CTX_SEQ: AtomicU32 = AtomicU32::new(0);

const FIELDS: usize = 5;

fn field_defs() -> sys::rte_acl_config {
    let mut cfg = sys::rte_acl_config {
        num_categories: 1,
        num_fields: FIELDS as u32,
        ..Default::default()
    };
    let defs = [
        // (type, size, field_index, input_index, offset)
        (sys::RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, 0),
        (sys::RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, 4),
        (sys::RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, 8),
        (sys::RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, 12),
        (sys::RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, 14),
    ];
    for (d, (t, size, fi, ii, off)) in cfg.defs.iter_mut().zip(defs) {
        *d = sys::rte_acl_field_def {
            type_: t as u8,
            size,
            field_index: fi,
            input_index: ii,
            offset: off,
        };
    }
    cfg
}

impl AclContext {
    /// Creates a context, adds `rules` and builds it.
    ///
    /// # Errors
    /// [`DpdkError::BadArgument`] for a rule with userdata 0 or a prefix
    /// longer than 32, and [`DpdkError::Call`] when rte_acl fails to create,
    /// add or build (typically out of memory).
    #[doc(alias = "rte_acl_build")]
    pub fn build(eal: &Eal, rules: &[AclIpv4Rule]) -> Result<AclContext, DpdkError> {
        let name = format!("dpufw_acl{}", CTX_SEQ.fetch_add(1, Ordering::Relaxed));
        let cname = CString::new(name.clone()).map_err(|_| DpdkError::BadArgument(name))?;
        let param = sys::rte_acl_param {
            name: cname.as_ptr(),
            socket_id: sys::SOCKET_ID_ANY,
            rule_size: std::mem::size_of::<sys::dsys_acl_ipv4_rule>() as u32,
            max_rule_num: rules.len().max(1) as u32,
        };
        // SAFETY: param points to valid data for the call; the EAL is up.
        let raw = unsafe { sys::rte_acl_create(&param) };
        let raw = NonNull::new(raw).ok_or_else(|| DpdkError::call("rte_acl_create", 0))?;
        // From here on the context is freed by AclContext's Drop.
        let ctx = AclContext {
            raw,
            rules: rules.len(),
            _eal: eal.clone(),
        };
        let mut raw_rules = Vec::with_capacity(rules.len());
        for r in rules {
            if r.userdata == 0 || r.src.1 > 32 || r.dst.1 > 32 {
                return Err(DpdkError::BadArgument(format!(
                    "rte_acl rule {r:?}: userdata must be non-zero and prefixes at most /32"
                )));
            }
            let mut f = [sys::rte_acl_field::default(); FIELDS];
            f[0].value.u8_ = r.proto.0;
            f[0].mask_range.u8_ = r.proto.1;
            f[1].value.u32_ = r.src.0;
            f[1].mask_range.u32_ = u32::from(r.src.1);
            f[2].value.u32_ = r.dst.0;
            f[2].mask_range.u32_ = u32::from(r.dst.1);
            f[3].value.u16_ = r.src_port.0;
            f[3].mask_range.u16_ = r.src_port.1;
            f[4].value.u16_ = r.dst_port.0;
            f[4].mask_range.u16_ = r.dst_port.1;
            raw_rules.push(sys::dsys_acl_ipv4_rule {
                data: sys::rte_acl_rule_data {
                    category_mask: 1,
                    priority: r.priority,
                    userdata: r.userdata,
                },
                field: f,
            });
        }
        if !raw_rules.is_empty() {
            // SAFETY: raw_rules holds rules.len() rules of exactly rule_size
            // bytes each, laid out as rte_acl expects (RTE_ACL_RULE_DEF).
            let ret = unsafe {
                sys::rte_acl_add_rules(
                    ctx.raw.as_ptr(),
                    raw_rules.as_ptr().cast(),
                    raw_rules.len() as u32,
                )
            };
            if ret != 0 {
                return Err(DpdkError::call("rte_acl_add_rules", ret));
            }
        }
        let cfg = field_defs();
        // SAFETY: the context holds the rules added above; cfg describes
        // their five fields.
        let ret = unsafe { sys::rte_acl_build(ctx.raw.as_ptr(), &cfg) };
        if ret != 0 {
            return Err(DpdkError::call("rte_acl_build", ret));
        }
        Ok(ctx)
    }

    /// Selects the classify implementation.
    ///
    /// # Errors
    /// [`DpdkError::Call`] when this CPU or build does not support it.
    #[doc(alias = "rte_acl_set_ctx_classify")]
    pub fn set_algorithm(&mut self, alg: AclAlgorithm) -> Result<(), DpdkError> {
        let a = match alg {
            AclAlgorithm::Default => sys::RTE_ACL_CLASSIFY_DEFAULT,
            AclAlgorithm::Scalar => sys::RTE_ACL_CLASSIFY_SCALAR,
            AclAlgorithm::Sse => sys::RTE_ACL_CLASSIFY_SSE,
            AclAlgorithm::Avx2 => sys::RTE_ACL_CLASSIFY_AVX2,
            AclAlgorithm::Neon => sys::RTE_ACL_CLASSIFY_NEON,
            AclAlgorithm::Avx512x16 => sys::RTE_ACL_CLASSIFY_AVX512X16,
            AclAlgorithm::Avx512x32 => sys::RTE_ACL_CLASSIFY_AVX512X32,
        };
        // SAFETY: raw is a live context and &mut self excludes concurrent
        // classify calls.
        let ret = unsafe { sys::rte_acl_set_ctx_classify(self.raw.as_ptr(), a) };
        if ret != 0 {
            return Err(DpdkError::call(
                format!("rte_acl_set_ctx_classify({alg:?})"),
                ret,
            ));
        }
        Ok(())
    }

    /// Number of rules the context was built from.
    pub fn len(&self) -> usize {
        self.rules
    }

    /// Whether the context has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Classifies `keys`, writing each best rule's userdata (0 = no match)
    /// into `out`, which must be as long as `keys` (extra entries of the
    /// longer one are left alone).
    ///
    /// # Errors
    /// [`DpdkError::Call`] when rte_acl rejects the call.
    #[doc(alias = "rte_acl_classify")]
    pub fn classify(&self, keys: &[AclIpv4Key], out: &mut [u32]) -> Result<(), DpdkError> {
        const CHUNK: usize = 256;
        let mut ptrs = [std::ptr::null::<u8>(); CHUNK];
        for (k, o) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let n = k.len().min(o.len());
            for (p, key) in ptrs.iter_mut().zip(&k[..n]) {
                *p = (key as *const AclIpv4Key).cast();
            }
            // SAFETY: ptrs[..n] point at live AclIpv4Key values laid out as
            // the context's field definitions say; o has room for n results
            // (one category).
            let ret = unsafe {
                sys::rte_acl_classify(
                    self.raw.as_ptr(),
                    ptrs.as_mut_ptr(),
                    o.as_mut_ptr(),
                    n as u32,
                    1,
                )
            };
            if ret != 0 {
                return Err(DpdkError::call("rte_acl_classify", ret));
            }
        }
        Ok(())
    }
}

impl Drop for AclContext {
    fn drop(&mut self) {
        // SAFETY: we own the context; nothing classifies on it any more.
        unsafe { sys::rte_acl_free(self.raw.as_ptr()) }
    }
}
