//! CPU hints for the packet path, kept here so the crates above need no `unsafe`.
//!
//! Not a DOCA API: a portable wrapper over the one architecture intrinsic a lookup
//! needs, beside the other software-path helpers ([`classifier`](crate::classifier),
//! [`ct`](crate::ct), [`packet`](crate::packet)).

/// Asks the CPU to bring the cache line holding `p` into the L1 data cache, for a read
/// soon (x86_64 `prefetcht0`, aarch64 `prfm pldl1keep`; nothing on other targets).
///
/// Safe for any pointer, null, dangling, stale or wild: a prefetch never faults, never
/// dereferences `p` as far as the program can observe, and has no architectural effect;
/// at worst it fetches a useless line. Issue these for a burst of lookups before doing
/// them, so their misses to memory overlap instead of coming one after another.
///
/// Always inlined: it compiles to the single instruction (or to nothing).
#[inline(always)]
pub fn prefetch_read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and reads nothing the program can
    // observe, whatever the address (a stale or wild one included). SSE is part of the
    // x86_64 baseline, so the intrinsic is always available.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above: PRFM never faults and has no architectural effect.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::prefetch_read;

    #[test]
    fn any_address_is_fine() {
        let v = [0u8; 256];
        prefetch_read(v.as_ptr());
        prefetch_read(v.as_ptr().wrapping_add(4096));
        prefetch_read(core::ptr::null());
        prefetch_read(usize::MAX as *const u8);
        assert_eq!(v[0], 0);
    }
}
