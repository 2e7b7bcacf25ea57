//! The counting global allocator of benchmark builds (feature `bench-alloc`):
//! `dpu-fw bench` reads the classifier's exact build memory from it through
//! [`dpu_fw::bench::HeapMeter`]. It lives with the binary, not in the library,
//! so the library holds no `unsafe` and the production binary (built without
//! the feature) has no shared counters on its allocation path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live and peak heap bytes over the system allocator.
#[derive(Debug)]
pub(crate) struct PeakAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments and
// only adds relaxed counter updates, so `System`'s guarantees carry over.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from `alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

impl dpu_fw::bench::HeapMeter for PeakAlloc {
    fn reset_peak(&self) -> usize {
        let l = LIVE.load(Ordering::Relaxed);
        PEAK.store(l, Ordering::Relaxed);
        l
    }

    fn peak(&self) -> usize {
        PEAK.load(Ordering::Relaxed)
    }
}
