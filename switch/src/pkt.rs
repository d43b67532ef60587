//! The packet buffer the runtime uses: DPDK's mbuf in the DPDK build, brisk's own pool of
//! buffers without it. Both have the same methods, so the runtime is written once.

#[cfg(feature = "dpdk")]
pub use crate::dpdk::{Mbuf as Pkt, MbufBatch as PktBatch, Mempool as PktPool, BURST};
#[cfg(not(feature = "dpdk"))]
pub use crate::heap::{Buf as Pkt, BufBatch as PktBatch, BufPool as PktPool, BURST};

/// Bytes of packet data a buffer holds after its headroom (the largest frame a port takes).
pub const DATA_ROOM: usize = 2048;

/// A pool of `count` buffers of [`DATA_ROOM`] bytes plus headroom.
#[cfg(feature = "dpdk")]
pub fn new_pool(name: &str, count: u32) -> Result<PktPool, crate::dpdk::DpdkError> {
    PktPool::new(name, count, 256, (DATA_ROOM + 128) as u16, -1)
}

/// A pool of `count` buffers of [`DATA_ROOM`] bytes plus headroom.
#[cfg(not(feature = "dpdk"))]
pub fn new_pool(name: &str, count: u32) -> Result<PktPool, crate::heap::PoolError> {
    PktPool::new(name, count, DATA_ROOM + crate::heap::HEADROOM)
}
