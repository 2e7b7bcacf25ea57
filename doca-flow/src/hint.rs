//! CPU hints for the packet path, kept here so the crates above need no `unsafe`.
//!
//! Not a DOCA API: portable wrappers over the architecture intrinsic a lookup needs
//! (a prefetch) and the kernel hint its large tables want (huge pages), beside the
//! other software-path helpers ([`classifier`](crate::classifier),
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

/// The size of a transparent huge page on the targets this crate runs on (x86_64 and
/// aarch64 with 4 KiB base pages).
pub const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the memory of `buf` with transparent huge pages where it can:
/// every whole 2 MiB-aligned [`HUGE_PAGE`] inside it (Linux `madvise(MADV_HUGEPAGE)`;
/// nothing elsewhere). For a large lookup table read at random, one TLB entry then
/// covers 2 MiB instead of 4 KiB; with `/sys/kernel/mm/transparent_hugepage/enabled`
/// at `madvise` (the usual default) nothing else asks for them.
///
/// Call it right after allocating `buf` and before writing it (for example on a
/// `Vec`'s spare capacity): pages touched later fault in as huge pages, pages touched
/// before are merged later by the kernel's `khugepaged`, if at all. A hint only: the
/// contents, the size and the access rights of `buf` stay what they are, and when the
/// kernel has no transparent huge pages (or the range holds no whole huge page) nothing
/// happens.
pub fn huge_pages<T>(buf: &[T]) {
    #[cfg(target_os = "linux")]
    {
        let start = buf.as_ptr() as usize;
        let end = start + core::mem::size_of_val(buf);
        let (a, b) = (start.next_multiple_of(HUGE_PAGE), end & !(HUGE_PAGE - 1));
        if a < b {
            // SAFETY: `[a, b)` lies inside `buf`'s allocation, which is live for this
            // call, and is page-aligned; MADV_HUGEPAGE changes only how the kernel backs
            // those pages (their contents and protections stay), so no memory the
            // program can observe changes. A failure (no THP support) changes nothing
            // and is ignored: the hint is optional.
            unsafe {
                libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

#[cfg(test)]
mod tests {
    use super::{huge_pages, prefetch_read};

    #[test]
    fn huge_pages_keeps_contents_and_size() {
        // Big enough to hold whole huge pages whatever its alignment.
        let mut v: Vec<u64> = Vec::with_capacity(3 * super::HUGE_PAGE / 8);
        huge_pages(v.spare_capacity_mut());
        v.extend((0..3 * super::HUGE_PAGE as u64 / 8).map(|i| i * 7));
        huge_pages(&v);
        huge_pages::<u8>(&[]);
        assert_eq!(v.len(), 3 * super::HUGE_PAGE / 8);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 7));
    }

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
