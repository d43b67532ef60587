//! Packet buffer pools.

use super::{err, DpdkError};
use std::ffi::CString;
use std::ptr::NonNull;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). Thread-safe: any lcore may
/// allocate from it and free to it.
#[derive(Debug)]
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    size: u32,
    name: String,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the handle is a pointer
// to shared memory managed by EAL.
unsafe impl Send for Mempool {}
// SAFETY: as above; all operations through &Mempool are thread-safe DPDK calls.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with `data_room` bytes each (including headroom), a
    /// per-lcore cache of `cache` and memory on NUMA `socket` (-1: any).
    pub fn new(
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        // SAFETY: cname is a valid C string for the duration of the call; the other
        // arguments are plain values.
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket)
        };
        match NonNull::new(p) {
            Some(ptr) => Ok(Mempool {
                ptr,
                size: n,
                name: name.to_string(),
            }),
            None => Err(err("rte_pktmbuf_pool_create", -1)),
        }
    }

    /// Raw pointer, for DPDK calls.
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// Number of mbufs the pool was created with.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free mbufs (including those in per-lcore caches).
    pub fn avail(&self) -> u32 {
        // SAFETY: the pool is alive; the count is read without side effects.
        unsafe { dpdk_sys::brisk_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs allocated and not yet freed.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as above.
        unsafe { dpdk_sys::brisk_mempool_in_use_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        let in_use = self.in_use();
        if in_use != 0 {
            // Freeing would leave live mbufs pointing at freed memory: leak instead.
            tracing::error!(
                mempool = %self.name,
                in_use,
                "mempool dropped with mbufs still in use; not freeing it"
            );
            return;
        }
        // SAFETY: no mbuf of this pool is alive (checked above) and the pool is owned.
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
