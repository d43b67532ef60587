//! Packet buffers for the build without DPDK: a fixed pool of equal buffers allocated (and
//! faulted in) once at start, so the datapath allocates nothing per packet, with the same
//! shape as DPDK's mempool and mbuf (headroom for tunnel headers, buffers counted in use, a
//! leak check at shutdown). The free list is a lock-free array queue shared by the workers.

use crossbeam_queue::ArrayQueue;
use pipeline::dpaction::CloneFrame;
use pipeline::packet::Frame;
use std::cell::UnsafeCell;

/// Packets per burst (as DPDK's [`crate::dpdk::BURST`] in the DPDK build).
pub const BURST: usize = 32;

/// Headroom in front of received data, as `RTE_PKTMBUF_HEADROOM`.
pub const HEADROOM: usize = 128;

/// Why a pool could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Zero buffers, zero room, or a size that does not fit in memory.
    #[error("buffer pool {name}: {count} buffers of {room} bytes is not a valid size")]
    BadSize {
        /// Pool name.
        name: String,
        /// Buffers asked for.
        count: u32,
        /// Bytes per buffer asked for.
        room: usize,
    },
}

struct PoolInner {
    name: String,
    /// `count * room` bytes; buffer `i` is `[i * room, (i + 1) * room)`.
    mem: Box<[UnsafeCell<u8>]>,
    room: usize,
    count: u32,
    free: ArrayQueue<u32>,
}

// SAFETY: each buffer's bytes are reached only through the one `Buf` that owns its index
// (indices move between threads through the lock-free queue, which orders the accesses).
unsafe impl Sync for PoolInner {}
// SAFETY: as above; the inner owns plain bytes.
unsafe impl Send for PoolInner {}

/// A pool of packet buffers. Its memory lives as long as the process (a switch makes its
/// pools once), so a buffer dropped on any thread at any time always has it to return to.
pub struct BufPool {
    inner: &'static PoolInner,
}

impl std::fmt::Debug for BufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BufPool({}, {} of {} in use)",
            self.inner.name,
            self.in_use(),
            self.size()
        )
    }
}

impl BufPool {
    /// `count` buffers of `room` bytes each (headroom included).
    pub fn new(name: &str, count: u32, room: usize) -> Result<BufPool, PoolError> {
        let bad = || PoolError::BadSize {
            name: name.to_string(),
            count,
            room,
        };
        if count == 0 || room <= HEADROOM || room > usize::from(u16::MAX) {
            return Err(bad());
        }
        let bytes = (count as usize).checked_mul(room).ok_or_else(bad)?;
        let mut zeroed: Box<[u8]> = vec![0u8; bytes].into_boxed_slice();
        // Touch every page now, as DPDK does when it builds a mempool: the kernel maps a
        // zeroed allocation lazily, and a page fault on a buffer's first use would land on
        // the datapath (the free list hands out every buffer in turn).
        for page in zeroed.chunks_mut(4096) {
            // SAFETY: page is a valid, exclusively borrowed, non-empty slice; a volatile
            // write keeps the compiler from dropping a store of what calloc already zeroed.
            unsafe { std::ptr::write_volatile(page.as_mut_ptr(), 0) };
        }
        // SAFETY: UnsafeCell<u8> is repr(transparent) over u8, so the slice has the same
        // layout; the box is reinterpreted, not copied.
        let mem: Box<[UnsafeCell<u8>]> =
            unsafe { Box::from_raw(Box::into_raw(zeroed) as *mut [UnsafeCell<u8>]) };
        let free = ArrayQueue::new(count as usize);
        for i in 0..count {
            let _ = free.push(i);
        }
        Ok(BufPool {
            inner: Box::leak(Box::new(PoolInner {
                name: name.to_string(),
                mem,
                room,
                count,
                free,
            })),
        })
    }

    /// Buffers in the pool.
    pub fn size(&self) -> u32 {
        self.inner.count
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Buffers free now.
    pub fn avail(&self) -> u32 {
        self.inner.free.len() as u32
    }

    /// Buffers handed out and not yet returned.
    pub fn in_use(&self) -> u32 {
        self.size() - self.avail()
    }
}

/// An owned packet buffer from a [`BufPool`], returned to it on drop. The same methods as
/// [`crate::dpdk::Mbuf`], so the runtime is written once.
pub struct Buf {
    pool: &'static PoolInner,
    idx: u32,
    start: u16,
    len: u16,
}

impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buf({}, {} bytes)", self.idx, self.len)
    }
}

impl Buf {
    fn inner(&self) -> &'static PoolInner {
        self.pool
    }

    fn room(&self) -> &[UnsafeCell<u8>] {
        let p = self.inner();
        let at = self.idx as usize * p.room;
        &p.mem[at..at + p.room]
    }

    /// Allocates from `pool`, empty, with [`HEADROOM`] bytes of headroom.
    pub fn alloc(pool: &BufPool) -> Option<Buf> {
        let idx = pool.inner.free.pop()?;
        Some(Buf {
            pool: pool.inner,
            idx,
            start: HEADROOM as u16,
            len: 0,
        })
    }

    /// Bytes in the packet.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for an empty buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Always one segment.
    pub fn is_contiguous(&self) -> bool {
        true
    }

    /// Nothing to join.
    pub fn linearize(&mut self) -> bool {
        true
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        let r = &self.room()[usize::from(self.start)..][..usize::from(self.len)];
        // SAFETY: UnsafeCell<u8> has u8's layout; this Buf owns these bytes, and &self
        // keeps them from being written while the slice lives.
        unsafe { std::slice::from_raw_parts(r.as_ptr() as *const u8, r.len()) }
    }

    /// The packet bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let r = &self.room()[usize::from(self.start)..][..usize::from(self.len)];
        // SAFETY: as data(); &mut self makes the access exclusive, and UnsafeCell allows
        // writing through a shared reference to the pool.
        unsafe { std::slice::from_raw_parts_mut(UnsafeCell::raw_get(r.as_ptr()), r.len()) }
    }

    /// Bytes free before the data.
    pub fn headroom(&self) -> usize {
        usize::from(self.start)
    }

    /// Appends `n` zeroed bytes at the end. `None` if they do not fit.
    pub fn append(&mut self, n: u16) -> Option<&mut [u8]> {
        let end = usize::from(self.start) + usize::from(self.len) + usize::from(n);
        if end > self.inner().room {
            return None;
        }
        let old = self.len();
        self.len += n;
        let s = &mut self.data_mut()[old..];
        s.fill(0);
        Some(s)
    }

    /// Copies `bytes` into a freshly allocated buffer.
    pub fn from_bytes(pool: &BufPool, bytes: &[u8]) -> Option<Buf> {
        let mut b = Buf::alloc(pool)?;
        let n = u16::try_from(bytes.len()).ok()?;
        b.append(n)?.copy_from_slice(bytes);
        Some(b)
    }

    /// A deep copy from the same pool.
    pub fn try_copy(&self, _pool: Option<&BufPool>) -> Option<Buf> {
        let idx = self.inner().free.pop()?;
        let mut c = Buf {
            pool: self.pool,
            idx,
            start: self.start,
            len: self.len,
        };
        c.data_mut().copy_from_slice(self.data());
        Some(c)
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // Cannot fail: the queue holds every index and this one is not in it.
        let _ = self.inner().free.push(self.idx);
    }
}

impl Frame for Buf {
    fn data(&self) -> &[u8] {
        Buf::data(self)
    }
    fn data_mut(&mut self) -> &mut [u8] {
        Buf::data_mut(self)
    }
    fn headroom(&self) -> usize {
        Buf::headroom(self)
    }
    fn prepend(&mut self, n: usize) -> bool {
        match u16::try_from(n) {
            Ok(n) if n <= self.start => {
                self.start -= n;
                self.len += n;
                true
            }
            _ => false,
        }
    }
    fn adj(&mut self, n: usize) -> bool {
        match u16::try_from(n) {
            Ok(n) if n <= self.len => {
                self.start += n;
                self.len -= n;
                true
            }
            _ => false,
        }
    }
    fn trim(&mut self, n: usize) -> bool {
        match u16::try_from(n) {
            Ok(n) if n <= self.len => {
                self.len -= n;
                true
            }
            _ => false,
        }
    }
}

impl CloneFrame for Buf {
    fn try_clone(&self) -> Option<Self> {
        self.try_copy(None)
    }
}

/// Up to [`BURST`] buffers, as [`crate::dpdk::MbufBatch`].
#[derive(Default)]
pub struct BufBatch {
    bufs: smallvec::SmallVec<[Buf; BURST]>,
}

impl BufBatch {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    /// Buffers held.
    pub fn len(&self) -> usize {
        self.bufs.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }
    /// True when it holds [`BURST`] buffers.
    pub fn is_full(&self) -> bool {
        self.bufs.len() == BURST
    }
    /// Adds one; gives it back when full.
    pub fn push(&mut self, b: Buf) -> Result<(), Buf> {
        if self.is_full() {
            return Err(b);
        }
        self.bufs.push(b);
        Ok(())
    }
    /// Takes every buffer out, in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Buf> + '_ {
        self.bufs.drain(..)
    }
    /// The `i`th buffer.
    pub fn get(&self, i: usize) -> Option<&Buf> {
        self.bufs.get(i)
    }
    /// Frees every buffer.
    pub fn free_all(&mut self) {
        self.bufs.clear();
    }
    /// Removes the first `k` (sent) buffers, returning them to the pool.
    pub fn free_front(&mut self, k: usize) {
        let k = k.min(self.bufs.len());
        self.bufs.drain(..k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_return_to_the_pool_and_keep_headroom() {
        let pool = BufPool::new("t", 4, 2176).unwrap();
        let mut a = Buf::from_bytes(&pool, &[1, 2, 3]).unwrap();
        assert_eq!(pool.in_use(), 1);
        assert_eq!(a.data(), &[1, 2, 3]);
        assert!(a.prepend(4));
        a.data_mut()[..4].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(a.data(), &[9, 9, 9, 9, 1, 2, 3]);
        assert_eq!(a.headroom(), HEADROOM - 4);
        assert!(a.adj(4) && a.trim(1));
        assert_eq!(a.data(), &[1, 2]);
        assert!(!a.prepend(HEADROOM + 1));
        let c = a.try_copy(None).unwrap();
        assert_eq!(c.data(), a.data());
        assert_eq!(pool.in_use(), 2);
        let mut batch = BufBatch::new();
        batch.push(a).unwrap();
        batch.push(c).unwrap();
        let x = Buf::alloc(&pool).unwrap();
        let y = Buf::alloc(&pool).unwrap();
        assert!(Buf::alloc(&pool).is_none(), "4 buffers, 4 out");
        drop((x, y));
        batch.free_front(1);
        assert_eq!(pool.in_use(), 1);
        batch.free_all();
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn append_stops_at_the_end_of_the_room() {
        let pool = BufPool::new("t", 1, HEADROOM + 100).unwrap();
        let mut b = Buf::alloc(&pool).unwrap();
        assert!(b.append(100).is_some());
        assert!(b.append(1).is_none());
        assert_eq!(b.len(), 100);
        assert!(BufPool::new("t", 0, 2048).is_err());
    }
}
