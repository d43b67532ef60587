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

/// The packet buffer pools of a switch: one per NUMA socket that runs a worker (or the main
/// lcore) in the DPDK build, so that a port's receive buffers and a worker's own buffers
/// are memory local to them; one pool without DPDK.
pub struct Pools {
    list: Vec<(i32, PktPool)>,
}

impl Pools {
    /// A pool of `count` buffers for each socket (`-1`: any).
    #[cfg(feature = "dpdk")]
    pub fn new(sockets: &[i32], count: u32) -> Result<Pools, crate::dpdk::DpdkError> {
        let mut list = Vec::new();
        for &s in sockets {
            if list.iter().any(|(x, _)| *x == s) {
                continue;
            }
            let name = if s < 0 {
                "brisk_pool".to_string()
            } else {
                format!("brisk_pool_s{s}")
            };
            list.push((
                s,
                PktPool::new(&name, count, 256, (DATA_ROOM + 128) as u16, s)?,
            ));
        }
        Ok(Pools { list })
    }

    /// The one pool of `count` buffers.
    #[cfg(not(feature = "dpdk"))]
    pub fn new(_sockets: &[i32], count: u32) -> Result<Pools, crate::heap::PoolError> {
        Ok(Pools {
            list: vec![(-1, new_pool("brisk_pool", count)?)],
        })
    }

    /// The index of the pool for `socket`: its own, or the first (the main lcore's) when no
    /// worker runs on that socket.
    pub fn index_for(&self, socket: i32) -> usize {
        self.list
            .iter()
            .position(|(s, _)| *s == socket)
            .unwrap_or(0)
    }

    /// The pool at `index` (from [`Pools::index_for`]).
    pub fn get(&self, index: usize) -> &PktPool {
        &self.list[index.min(self.list.len() - 1)].1
    }

    /// The main lcore's pool (the control thread's).
    pub fn main(&self) -> &PktPool {
        &self.list[0].1
    }

    /// Every pool with its socket.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &PktPool)> {
        self.list.iter().map(|(s, p)| (*s, p))
    }

    /// Buffers in use in all pools.
    pub fn in_use(&self) -> u32 {
        self.list.iter().map(|(_, p)| p.in_use()).sum()
    }
}
