//! Owned packet buffers and fixed-size bursts of them.
//!
//! This file is the one place that reads `rte_mbuf` fields (`buf_addr`, `data_off`,
//! `data_len`, `pkt_len`); everything else goes through [`Mbuf`].

use super::Mempool;
use pipeline::dpaction::CloneFrame;
use pipeline::packet::Frame;
use std::ptr::NonNull;

/// Packets per burst.
pub const BURST: usize = 32;

/// An owned packet buffer, freed on drop. Not `Clone`: copying is explicit
/// ([`Mbuf::try_copy`]).
#[repr(transparent)]
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

// SAFETY: an Mbuf is uniquely owned; DPDK allows freeing it from any lcore or thread.
unsafe impl Send for Mbuf {}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mbuf({:p}, {} bytes)", self.0.as_ptr(), self.len())
    }
}

impl Mbuf {
    /// Allocates from `pool`.
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is alive; a NULL return means exhaustion.
        NonNull::new(unsafe { dpdk_sys::brisk_pktmbuf_alloc(pool.as_ptr()) }).map(Mbuf)
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf that nothing else owns or will free.
    pub unsafe fn from_raw(m: *mut dpdk_sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(m).map(Mbuf)
    }

    /// Gives up ownership (for handing to DPDK, e.g. tx).
    pub fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: the pointer is valid and uniquely owned for the lifetime of self.
        unsafe { self.0.as_ref() }
    }

    /// Bytes in the first segment (brisk's ports are configured without scatter, so the
    /// first segment is the whole packet; see [`Mbuf::is_contiguous`]).
    pub fn len(&self) -> usize {
        usize::from(self.raw().data_len)
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the packet is one segment.
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// Joins a multi-segment packet into one segment. False if it does not fit.
    pub fn linearize(&mut self) -> bool {
        // SAFETY: self is a valid, uniquely owned mbuf.
        unsafe { dpdk_sys::brisk_pktmbuf_linearize(self.0.as_ptr()) == 0 }
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off points at data_len initialised bytes of the buffer
        // owned by this mbuf, valid while self is borrowed.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The packet bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (addr, off, len) = (m.buf_addr, m.data_off, m.data_len);
        // SAFETY: as for data(); &mut self guarantees exclusive access (refcount is 1 for
        // mbufs created by this layer, see `try_copy`).
        unsafe {
            std::slice::from_raw_parts_mut(
                (addr as *mut u8).add(usize::from(off)),
                usize::from(len),
            )
        }
    }

    /// Bytes free before the data.
    pub fn headroom(&self) -> usize {
        usize::from(self.raw().data_off)
    }

    /// Appends `n` bytes (uninitialised contents zeroed) at the end. False if no room.
    pub fn append(&mut self, n: u16) -> Option<&mut [u8]> {
        // SAFETY: valid owned mbuf; NULL means no tailroom.
        let p = unsafe { dpdk_sys::brisk_pktmbuf_append(self.0.as_ptr(), n) };
        if p.is_null() {
            return None;
        }
        // SAFETY: DPDK returned a pointer to `n` bytes inside this mbuf's data room.
        let s = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, usize::from(n)) };
        s.fill(0);
        Some(s)
    }

    /// Copies `bytes` into a freshly allocated mbuf.
    pub fn from_bytes(pool: &Mempool, bytes: &[u8]) -> Option<Mbuf> {
        let mut m = Mbuf::alloc(pool)?;
        let n = u16::try_from(bytes.len()).ok()?;
        m.append(n)?.copy_from_slice(bytes);
        Some(m)
    }

    /// A deep copy in `pool` (or the same pool when `None`).
    pub fn try_copy(&self, pool: Option<&Mempool>) -> Option<Mbuf> {
        let pool_ptr = match pool {
            Some(p) => p.as_ptr(),
            // SAFETY: reads the pool pointer of a valid mbuf.
            None => unsafe { dpdk_sys::brisk_mbuf_pool(self.0.as_ptr()) },
        };
        // SAFETY: valid mbuf and pool; rte_pktmbuf_copy allocates a new chain or NULL.
        let c = unsafe { dpdk_sys::rte_pktmbuf_copy(self.0.as_ptr(), pool_ptr, 0, u32::MAX) };
        NonNull::new(c).map(Mbuf)
    }

    /// The receiving port recorded by the driver.
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// The NIC's RSS hash, if the driver set one.
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reads a union field of a valid mbuf.
        unsafe { dpdk_sys::brisk_mbuf_rss_hash(self.0.as_ptr()) }
    }

    /// Prefetches the packet data into cache.
    #[inline]
    pub fn prefetch(&self) {
        let m = self.raw();
        // SAFETY: prefetch is a hint; the address is inside the mbuf's buffer.
        unsafe {
            dpdk_sys::brisk_prefetch0(
                (m.buf_addr as *const u8).add(usize::from(m.data_off)) as *const _
            )
        };
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: uniquely owned valid mbuf, freed exactly once.
        unsafe { dpdk_sys::brisk_pktmbuf_free(self.0.as_ptr()) };
    }
}

/// DPDK's receive checksum flags (`rte_mbuf_core.h`): two bits per layer, BAD, GOOD, or
/// both for NONE (the data is intact but the checksum field not filled: a virtio guest's
/// partial checksum, which counts as right, as OVS counts it).
const RX_IP_CKSUM_BAD: u64 = 1 << 4;
const RX_IP_CKSUM_GOOD: u64 = 1 << 7;
const RX_L4_CKSUM_BAD: u64 = 1 << 3;
const RX_L4_CKSUM_GOOD: u64 = 1 << 8;

/// The pipeline's checksum bits for an mbuf's receive flags.
fn rx_csum_bits(ol: u64) -> u8 {
    use pipeline::packet::csum;
    let layer =
        |bad: u64, good: u64, bad_bit: u8, good_bit: u8| match (ol & bad != 0, ol & good != 0) {
            (true, false) => bad_bit,
            (_, true) => good_bit,
            (false, false) => 0,
        };
    layer(
        RX_IP_CKSUM_BAD,
        RX_IP_CKSUM_GOOD,
        csum::L3_BAD,
        csum::L3_GOOD,
    ) | layer(
        RX_L4_CKSUM_BAD,
        RX_L4_CKSUM_GOOD,
        csum::L4_BAD,
        csum::L4_GOOD,
    )
}

impl Frame for Mbuf {
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    fn rx_csum(&self) -> u8 {
        rx_csum_bits(self.raw().ol_flags)
    }
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    fn headroom(&self) -> usize {
        Mbuf::headroom(self)
    }
    fn prepend(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: valid owned mbuf; NULL means not enough headroom (mbuf unchanged).
        !unsafe { dpdk_sys::brisk_pktmbuf_prepend(self.0.as_ptr(), n) }.is_null()
    }
    fn adj(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: valid owned mbuf; NULL means the packet is shorter (unchanged).
        !unsafe { dpdk_sys::brisk_pktmbuf_adj(self.0.as_ptr(), n) }.is_null()
    }
    fn trim(&mut self, n: usize) -> bool {
        let Ok(n) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: valid owned mbuf; non-zero means the packet is shorter (unchanged).
        unsafe { dpdk_sys::brisk_pktmbuf_trim(self.0.as_ptr(), n) == 0 }
    }
}

impl CloneFrame for Mbuf {
    fn try_clone(&self) -> Option<Self> {
        self.try_copy(None)
    }
}

/// A burst of up to [`BURST`] mbufs in a fixed array: no allocation per burst.
pub struct MbufBatch {
    ptrs: [*mut dpdk_sys::rte_mbuf; BURST],
    len: usize,
}

// SAFETY: the batch owns its mbufs like a Vec<Mbuf> would.
unsafe impl Send for MbufBatch {}

impl Default for MbufBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl MbufBatch {
    /// An empty batch.
    pub const fn new() -> Self {
        MbufBatch {
            ptrs: [std::ptr::null_mut(); BURST],
            len: 0,
        }
    }

    /// Number of mbufs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when full.
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Adds an mbuf; gives it back if the batch is full.
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == BURST {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the mbuf at the end.
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slots below len hold owned mbufs; this one leaves the batch.
        unsafe { Mbuf::from_raw(self.ptrs[self.len]) }
    }

    /// Takes every mbuf out, in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let n = std::mem::replace(&mut self.len, 0);
        // SAFETY: slots 0..n held owned mbufs; ownership moves to the iterator items.
        self.ptrs[..n]
            .iter()
            .filter_map(|&p| unsafe { Mbuf::from_raw(p) })
    }

    /// The mbufs, borrowed.
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        if i >= self.len {
            return None;
        }
        // SAFETY: Mbuf is repr(transparent) over a non-null pointer, and slots below len
        // hold valid owned mbufs.
        Some(unsafe { &*(self.ptrs.as_ptr().add(i) as *const Mbuf) })
    }

    /// Frees every mbuf (one bulk call).
    pub fn free_all(&mut self) {
        if self.len > 0 {
            // SAFETY: slots 0..len hold owned mbufs, freed once here.
            unsafe { dpdk_sys::brisk_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// Allocates `n` (<= BURST) mbufs in one call, replacing the contents. False on
    /// exhaustion (then the batch is empty).
    pub fn alloc_bulk(&mut self, pool: &Mempool, n: usize) -> bool {
        self.free_all();
        let n = n.min(BURST);
        // SAFETY: ptrs has room for n pointers; on success all n are valid owned mbufs.
        let r = unsafe {
            dpdk_sys::brisk_pktmbuf_alloc_bulk(pool.as_ptr(), self.ptrs.as_mut_ptr(), n as u32)
        };
        if r == 0 {
            self.len = n;
            true
        } else {
            false
        }
    }

    /// Mutable access to an mbuf.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Mbuf> {
        if i >= self.len {
            return None;
        }
        // SAFETY: as get(); &mut self gives exclusive access.
        Some(unsafe { &mut *(self.ptrs.as_mut_ptr().add(i) as *mut Mbuf) })
    }

    pub(crate) fn raw_mut(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, &mut usize) {
        (self.ptrs.as_mut_ptr(), &mut self.len)
    }

    /// Frees the first `k` mbufs (copied elsewhere, e.g. into a kernel ring) and moves the
    /// rest to the front.
    pub fn free_front(&mut self, k: usize) {
        let k = k.min(self.len);
        if k > 0 {
            // SAFETY: slots 0..k hold owned mbufs, freed once here and then dropped from
            // the batch by consume_front.
            unsafe { dpdk_sys::brisk_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), k as u32) };
            self.consume_front(k);
        }
    }

    /// Drops the first `k` entries (already handed to DPDK) and shifts the rest down.
    pub(crate) fn consume_front(&mut self, k: usize) {
        let k = k.min(self.len);
        self.ptrs.copy_within(k..self.len, 0);
        self.len -= k;
    }
}

impl Drop for MbufBatch {
    fn drop(&mut self) {
        self.free_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::packet::csum;

    #[test]
    fn receive_flags_map_to_checksum_bits() {
        assert_eq!(rx_csum_bits(0), 0, "unknown: conntrack computes");
        assert_eq!(rx_csum_bits(RX_L4_CKSUM_BAD), csum::L4_BAD);
        assert_eq!(rx_csum_bits(RX_L4_CKSUM_GOOD), csum::L4_GOOD);
        // NONE (a partial checksum from a virtio guest): the data is intact.
        assert_eq!(
            rx_csum_bits(RX_L4_CKSUM_BAD | RX_L4_CKSUM_GOOD),
            csum::L4_GOOD
        );
        assert_eq!(
            rx_csum_bits(RX_IP_CKSUM_BAD | RX_L4_CKSUM_GOOD),
            csum::L3_BAD | csum::L4_GOOD
        );
        assert_eq!(
            rx_csum_bits(RX_IP_CKSUM_GOOD | RX_IP_CKSUM_BAD),
            csum::L3_GOOD
        );
    }
}
