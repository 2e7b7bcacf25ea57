use std::mem::MaybeUninit;
use std::ptr::NonNull;

use doca_sys::dpdk as sys;

use super::DpdkError;

/// The most mbufs one [`MbufBurst`] holds.
pub const BURST_MAX: usize = 64;

/// One owned packet buffer (`struct rte_mbuf`, single segment). Freed back to
/// its pool on drop.
///
/// A multi-segment mbuf received from a port exposes only its first segment
/// through [`Mbuf::data`]; [`Mbuf::is_contiguous`] tells.
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<sys::rte_mbuf>,
}

// SAFETY: an Mbuf is uniquely owned; freeing it from another thread is
// allowed by DPDK (mempool put is thread-safe).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nothing else owns or frees.
    pub unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership; the caller must free the mbuf (or hand it to DPDK).
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The bytes of the first segment.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the mbuf is valid and owned by us; mtod points at
        // data_len initialised bytes inside its buffer.
        unsafe {
            let p = sys::dsys_pktmbuf_data(self.raw.as_ptr()) as *const u8;
            let len = sys::dsys_pktmbuf_data_len(self.raw.as_ptr()) as usize;
            std::slice::from_raw_parts(p, len)
        }
    }

    /// The bytes of the first segment, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in data(); &mut self guarantees exclusive access.
        unsafe {
            let p = sys::dsys_pktmbuf_data(self.raw.as_ptr()) as *mut u8;
            let len = sys::dsys_pktmbuf_data_len(self.raw.as_ptr()) as usize;
            std::slice::from_raw_parts_mut(p, len)
        }
    }

    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: valid, owned mbuf.
        unsafe { sys::dsys_pktmbuf_pkt_len(self.raw.as_ptr()) }
    }

    /// Whether the packet is one segment (so [`Mbuf::data`] is all of it).
    pub fn is_contiguous(&self) -> bool {
        // SAFETY: valid, owned mbuf.
        unsafe { sys::dsys_pktmbuf_nb_segs(self.raw.as_ptr()) == 1 }
    }

    /// The port the mbuf was received on.
    pub fn port(&self) -> u16 {
        // SAFETY: valid, owned mbuf.
        unsafe { sys::dsys_pktmbuf_port(self.raw.as_ptr()) }
    }

    /// The RSS hash the NIC computed (0 when RSS is off).
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: valid, owned mbuf.
        unsafe { sys::dsys_pktmbuf_rss_hash(self.raw.as_ptr()) }
    }

    /// Free bytes after the data.
    pub fn tailroom(&self) -> usize {
        // SAFETY: valid, owned mbuf.
        unsafe { sys::dsys_pktmbuf_tailroom(self.raw.as_ptr()) as usize }
    }

    /// Appends `bytes` after the data.
    ///
    /// # Errors
    /// [`DpdkError::NoRoom`] when the tailroom is too small.
    #[doc(alias = "rte_pktmbuf_append")]
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), DpdkError> {
        let room = self.tailroom();
        let len = u16::try_from(bytes.len())
            .ok()
            .filter(|&l| (l as usize) <= room)
            .ok_or(DpdkError::NoRoom {
                room,
                wanted: bytes.len(),
            })?;
        // SAFETY: valid, owned mbuf with at least len bytes of tailroom
        // (checked above), so append returns a pointer to len writable bytes.
        unsafe {
            let p = sys::dsys_pktmbuf_append(self.raw.as_ptr(), len) as *mut u8;
            if p.is_null() {
                return Err(DpdkError::NoRoom {
                    room,
                    wanted: bytes.len(),
                });
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        }
        Ok(())
    }

    /// Empties the mbuf (length 0), keeping it.
    pub fn reset(&mut self) {
        // SAFETY: valid, owned mbuf.
        unsafe { sys::dsys_pktmbuf_reset(self.raw.as_ptr()) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it returns to its pool.
        unsafe { sys::dsys_pktmbuf_free(self.raw.as_ptr()) }
    }
}

/// Up to [`BURST_MAX`] owned mbufs, the unit of receive and transmit.
/// Whatever is left in it is freed on drop.
#[derive(Debug)]
pub struct MbufBurst {
    ptrs: [*mut sys::rte_mbuf; BURST_MAX],
    len: usize,
}

// SAFETY: the burst uniquely owns its mbufs (see Mbuf: Send).
unsafe impl Send for MbufBurst {}

impl Default for MbufBurst {
    fn default() -> Self {
        Self::new()
    }
}

impl MbufBurst {
    /// An empty burst.
    pub fn new() -> MbufBurst {
        MbufBurst {
            ptrs: [std::ptr::null_mut(); BURST_MAX],
            len: 0,
        }
    }

    /// Number of mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the burst is full.
    pub fn is_full(&self) -> bool {
        self.len == BURST_MAX
    }

    /// Adds an mbuf; gives it back when the burst is full.
    ///
    /// # Errors
    /// The mbuf itself, when the burst already holds [`BURST_MAX`].
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last mbuf.
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slots below len hold valid owned mbufs; the slot is
        // forgotten by decrementing len, so ownership moves out exactly once.
        NonNull::new(self.ptrs[self.len]).map(|p| unsafe { Mbuf::from_raw(p) })
    }

    /// The packet bytes of mbuf `i` (first segment).
    pub fn data(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        // SAFETY: slot i < len holds a valid owned mbuf; the data slice
        // borrows self, so the mbuf outlives it.
        unsafe {
            let m = self.ptrs[i];
            let p = sys::dsys_pktmbuf_data(m) as *const u8;
            let len = sys::dsys_pktmbuf_data_len(m) as usize;
            Some(std::slice::from_raw_parts(p, len))
        }
    }

    /// The packet bytes of mbuf `i` (first segment), writable.
    pub fn data_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        if i >= self.len {
            return None;
        }
        // SAFETY: as in data(); &mut self gives exclusive access.
        unsafe {
            let m = self.ptrs[i];
            let p = sys::dsys_pktmbuf_data(m) as *mut u8;
            let len = sys::dsys_pktmbuf_data_len(m) as usize;
            Some(std::slice::from_raw_parts_mut(p, len))
        }
    }

    /// The packet bytes of every mbuf (first segments), writable, in order.
    pub fn slices_mut(&mut self) -> Vec<&mut [u8]> {
        self.ptrs[..self.len]
            .iter()
            .map(|&m| {
                // SAFETY: every slot below len holds a distinct valid mbuf we
                // own, so the slices do not alias; they borrow self mutably,
                // so no mbuf can be freed or moved while they live.
                unsafe {
                    let p = sys::dsys_pktmbuf_data(m) as *mut u8;
                    let len = sys::dsys_pktmbuf_data_len(m) as usize;
                    std::slice::from_raw_parts_mut(p, len)
                }
            })
            .collect()
    }

    /// Like [`MbufBurst::slices_mut`], but appends to `out` (cleared first), so
    /// a caller can reuse one allocation for every burst.
    pub fn slices_mut_into<'a>(&'a mut self, out: &mut Vec<&'a mut [u8]>) {
        let mut lens = [0u32; BURST_MAX];
        self.slices_and_lens(out, &mut lens);
    }

    /// Like [`MbufBurst::slices_mut_into`], and also writes each packet's total
    /// length (all segments, [`Mbuf::pkt_len`]) into `pkt_lens[i]`: one call
    /// into DPDK for the whole burst instead of three per packet.
    pub fn slices_and_lens<'a>(
        &'a mut self,
        out: &mut Vec<&'a mut [u8]>,
        pkt_lens: &mut [u32; BURST_MAX],
    ) {
        let n = self.len;
        // Not zeroed first (a memset of 640 bytes per burst, ~0.2 ns per packet in
        // `dpu-fw run`): the call writes the first n of each.
        let mut data = [MaybeUninit::uninit(); BURST_MAX];
        let mut lens = [MaybeUninit::uninit(); BURST_MAX];
        self.burst_data(&mut data, &mut lens, pkt_lens);
        out.clear();
        out.extend(data[..n].iter().zip(&lens[..n]).map(|(p, len)| {
            // SAFETY: burst_data initialised data[..n] and lens[..n]. As in
            // `slices_mut`: each pointer is a distinct valid mbuf's data with len
            // initialised bytes, so the slices do not alias, and they borrow self
            // mutably for 'a, so no mbuf is freed or moved while they live.
            unsafe {
                std::slice::from_raw_parts_mut(
                    p.assume_init().cast::<u8>(),
                    usize::from(len.assume_init()),
                )
            }
        }));
    }

    /// For each held mbuf `i`: its data pointer, first-segment length and total
    /// length, into `data[i]`, `lens[i]`, `pkt_lens[i]` (one call into DPDK): the
    /// first `len` entries of each are initialised after it, the rest untouched.
    fn burst_data(
        &self,
        data: &mut [MaybeUninit<*mut core::ffi::c_void>; BURST_MAX],
        lens: &mut [MaybeUninit<u16>; BURST_MAX],
        pkt_lens: &mut [u32; BURST_MAX],
    ) {
        // SAFETY: the first len slots hold valid owned mbufs (len <= BURST_MAX);
        // the output arrays have room for BURST_MAX entries, of which the call
        // writes the first len (MaybeUninit<T> has T's layout). The mbufs are only
        // read.
        unsafe {
            sys::dsys_pktmbuf_burst_data(
                self.ptrs.as_ptr(),
                self.len as u16,
                data.as_mut_ptr().cast(),
                lens.as_mut_ptr().cast(),
                pkt_lens.as_mut_ptr(),
            )
        };
    }

    /// The sum of the packets' total lengths ([`Mbuf::pkt_len`]), in one call
    /// into DPDK.
    pub fn total_len(&self) -> u64 {
        let mut data = [MaybeUninit::uninit(); BURST_MAX];
        let mut lens = [MaybeUninit::uninit(); BURST_MAX];
        let mut pkt_lens = [0u32; BURST_MAX];
        self.burst_data(&mut data, &mut lens, &mut pkt_lens);
        pkt_lens[..self.len].iter().map(|&l| u64::from(l)).sum()
    }

    /// Keeps only the mbufs for which `keep(index, bytes)` is true, freeing
    /// the others, and preserving order. Returns how many were freed.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &mut [u8]) -> bool) -> usize {
        let mut w = 0;
        let n = self.len;
        for r in 0..n {
            let m = self.ptrs[r];
            // SAFETY: slot r < len holds a valid owned mbuf.
            let bytes = unsafe {
                let p = sys::dsys_pktmbuf_data(m) as *mut u8;
                let len = sys::dsys_pktmbuf_data_len(m) as usize;
                std::slice::from_raw_parts_mut(p, len)
            };
            if keep(r, bytes) {
                self.ptrs[w] = m;
                w += 1;
            } else {
                // SAFETY: we own m and drop it from the burst here.
                unsafe { sys::dsys_pktmbuf_free(m) }
            }
        }
        self.len = w;
        n - w
    }

    /// Moves mbufs from the front of `self` to the end of `dst`, as many as
    /// `dst` has room for, keeping their order; the rest stay. Returns how
    /// many moved.
    pub fn drain_into(&mut self, dst: &mut MbufBurst) -> usize {
        let n = self.len.min(BURST_MAX - dst.len);
        dst.ptrs[dst.len..dst.len + n].copy_from_slice(&self.ptrs[..n]);
        dst.len += n;
        self.ptrs.copy_within(n..self.len, 0);
        self.len -= n;
        n
    }

    /// Takes every mbuf out, in order, leaving the burst empty. Mbufs the
    /// iterator does not yield (if it is dropped early) are freed.
    pub fn drain(&mut self) -> Drain<'_> {
        let len = std::mem::replace(&mut self.len, 0);
        Drain {
            ptrs: &self.ptrs[..len],
            next: 0,
        }
    }

    /// Frees every mbuf held.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: slots below len hold valid owned mbufs, each freed once
            // (len is reset right after); rte_pktmbuf_free_bulk frees them all
            // (and their segments), returning them to their pools in batches.
            unsafe { sys::dsys_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), self.len as u32) }
        }
        self.len = 0;
    }

    /// Raw view for receive: the free slots, to be filled by DPDK.
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        // SAFETY: len <= BURST_MAX, so the pointer stays in (or one past) the
        // array.
        let p = unsafe { self.ptrs.as_mut_ptr().add(self.len) };
        (p, (BURST_MAX - self.len) as u16)
    }

    /// Records that DPDK filled `n` more slots.
    ///
    /// # Safety
    /// The `n` slots after len must now hold valid mbufs owned by us.
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(BURST_MAX);
    }

    /// Raw view for transmit: the held mbufs.
    pub(crate) fn held_raw(&mut self) -> (*mut *mut sys::rte_mbuf, u16) {
        (self.ptrs.as_mut_ptr(), self.len as u16)
    }

    /// Records that DPDK took ownership of the first `n` mbufs.
    pub(crate) fn consumed(&mut self, n: usize) {
        let n = n.min(self.len);
        self.ptrs.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The iterator of [`MbufBurst::drain`].
#[derive(Debug)]
pub struct Drain<'a> {
    ptrs: &'a [*mut sys::rte_mbuf],
    next: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    fn next(&mut self) -> Option<Mbuf> {
        let p = *self.ptrs.get(self.next)?;
        self.next += 1;
        // SAFETY: the burst owned these mbufs and gave up ownership when
        // drain() reset its length; each slot is yielded at most once.
        NonNull::new(p).map(|p| unsafe { Mbuf::from_raw(p) })
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for &m in &self.ptrs[self.next..] {
            // SAFETY: slots not yet yielded are still owned by us (see next).
            unsafe { sys::dsys_pktmbuf_free(m) }
        }
    }
}
