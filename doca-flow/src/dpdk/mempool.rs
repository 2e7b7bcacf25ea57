use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use doca_sys::dpdk as sys;

use super::{DpdkError, Eal, Mbuf};

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). Shared by `Arc`:
/// ports keep the pool their receive queues fill from.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    name: String,
    size: u32,
    eal: Eal,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; get and put
// may be called from any thread (non-EAL threads bypass the per-lcore cache).
unsafe impl Send for Mempool {}
// SAFETY: see Send; the handle itself is never mutated.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with `data_room` bytes each (headroom
    /// included; 2048 + 128 is DPDK's default) and a per-lcore cache of
    /// `cache` mbufs, on any NUMA socket.
    ///
    /// # Errors
    /// [`DpdkError::Call`] when DPDK cannot create it (name taken, no memory).
    #[doc(alias = "rte_pktmbuf_pool_create")]
    pub fn pktmbuf(
        eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Arc<Mempool>, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        let room = data_room.saturating_add(sys::RTE_PKTMBUF_HEADROOM as u16);
        // SAFETY: cname is a valid C string for the duration of the call;
        // the EAL is initialised (we hold an Eal).
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, room, sys::SOCKET_ID_ANY)
        };
        let raw = NonNull::new(raw)
            .ok_or_else(|| DpdkError::call(format!("rte_pktmbuf_pool_create({name:?})"), 0))?;
        Ok(Arc::new(Mempool {
            raw,
            name: name.into(),
            size: n,
            eal: eal.clone(),
        }))
    }

    /// Takes one mbuf from the pool, empty (data length 0).
    ///
    /// # Errors
    /// [`DpdkError::PoolExhausted`] when no mbuf is free.
    #[doc(alias = "rte_pktmbuf_alloc")]
    pub fn alloc(&self) -> Result<Mbuf, DpdkError> {
        // SAFETY: raw is a live pktmbuf pool (we own it until drop).
        let m = unsafe { sys::dsys_pktmbuf_alloc(self.raw.as_ptr()) };
        NonNull::new(m)
            // SAFETY: a freshly allocated mbuf is owned by nobody else.
            .map(|m| unsafe { Mbuf::from_raw(m) })
            .ok_or_else(|| DpdkError::PoolExhausted(self.name.clone()))
    }

    /// Allocates an mbuf holding a copy of `bytes`.
    ///
    /// # Errors
    /// [`DpdkError::PoolExhausted`], or [`DpdkError::NoRoom`] when `bytes` is
    /// larger than one mbuf's data room.
    pub fn alloc_with(&self, bytes: &[u8]) -> Result<Mbuf, DpdkError> {
        let mut m = self.alloc()?;
        m.append(bytes)?;
        Ok(m)
    }

    /// Mbufs currently taken from the pool (including those sitting in port
    /// receive rings).
    #[doc(alias = "rte_mempool_in_use_count")]
    pub fn in_use(&self) -> u32 {
        // SAFETY: raw is a live mempool.
        unsafe { sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// The mbufs the pool was made with.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Free mbufs in the pool.
    #[doc(alias = "rte_mempool_avail_count")]
    pub fn available(&self) -> u32 {
        // SAFETY: raw is a live mempool.
        unsafe { sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// The raw pointer, for calls this crate does not wrap. The pool stays
    /// owned by `self`: do not free it.
    pub fn as_raw(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        if self.in_use() > 0 {
            // An mbuf from this pool is still alive somewhere (an Mbuf has no
            // lifetime tying it to its pool). Freeing the pool would leave it
            // dangling, so keep both the pool and the EAL for the rest of the
            // process instead.
            self.eal.leak();
            return;
        }
        // SAFETY: no mbuf of this pool is alive and no port references it
        // (ports hold an Arc<Mempool>), so the pool can be released.
        unsafe { sys::rte_mempool_free(self.raw.as_ptr()) }
    }
}
