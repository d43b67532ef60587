//! The part of a connection that a packet reads and writes without its lock.
//!
//! Most packets belong to connections whose protocol state no longer changes per packet:
//! a UDP flow seen both ways, an ICMP query answered. For those ([`Hot::steady`]), a packet
//! changes only its expiry and its direction's counters, and reads the mark and label for
//! its verdict. Those fields live here as atomics, so such a packet is served with plain
//! loads and stores (on x86 a relaxed atomic load or store is an ordinary `mov`), and no
//! locked instruction: no mutex, no read-modify-write.
//!
//! What keeps it exact:
//! - `steady` is set under the connection's lock, by the packet that makes the state
//!   final (the reply that makes UDP bidirectional, the ICMP reply), and never cleared:
//!   from then on, every packet the locked path would serve gets the same verdict
//!   (`+est`, `+rpl` by direction, the NAT of the connection) and the same update (expiry
//!   at now + the steady timeout, the direction's counters).
//! - What can still change is written under the lock: `dead` (expiry, flush, a forced
//!   commit ending it) and the mark and label (a commit that sets them). A packet whose
//!   `ct` sets them, or forces, takes the locked path. Mark and label are published under
//!   a sequence lock, so a lock-free reader never sees half of a 128-bit label.
//! - A connection found dead or expired falls back to the locked path, which removes it.
//!   A lock-free packet racing a removal on another core is served as if it came just
//!   before it, as a packet that took the lock first would be.
//! - Counters are a load and a store per packet. Two cores serving the same direction of
//!   one connection at the same instant (RSS sends a direction to one queue, so only a
//!   tuple arriving on two ports can) may lose an increment; verdicts never differ.

use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A connection's lock-free fields.
#[derive(Debug)]
pub(super) struct Hot {
    /// Even while the mark and label are stable; odd while a writer changes them.
    seq: AtomicU32,
    /// The protocol state is final: packets need not take the lock.
    steady: AtomicBool,
    dead: AtomicBool,
    expires_ms: AtomicU64,
    mark: AtomicU32,
    label: [AtomicU64; 2],
    packets: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
}

impl Hot {
    /// A new connection's fields, with its first packet counted.
    pub(super) fn new(expires_ms: u64, mark: u32, label: u128, first_bytes: u64) -> Hot {
        Hot {
            seq: AtomicU32::new(0),
            steady: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            expires_ms: AtomicU64::new(expires_ms),
            mark: AtomicU32::new(mark),
            label: [
                AtomicU64::new(label as u64),
                AtomicU64::new((label >> 64) as u64),
            ],
            packets: [AtomicU64::new(1), AtomicU64::new(0)],
            bytes: [AtomicU64::new(first_bytes), AtomicU64::new(0)],
        }
    }

    /// True once the protocol state is final.
    #[inline(always)]
    pub(super) fn steady(&self) -> bool {
        self.steady.load(Ordering::Acquire)
    }

    /// Marks the protocol state final (under the connection's lock).
    pub(super) fn set_steady(&self) {
        self.steady.store(true, Ordering::Release);
    }

    /// Neither ended nor expired at `now_ms`.
    #[inline(always)]
    pub(super) fn live(&self, now_ms: u64) -> bool {
        !self.dead.load(Ordering::Acquire) && self.expires_ms.load(Ordering::Relaxed) > now_ms
    }

    /// True once ended.
    pub(super) fn dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Ends the connection (under its lock).
    pub(super) fn kill(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// When it expires (milliseconds).
    #[inline(always)]
    pub(super) fn expires_ms(&self) -> u64 {
        self.expires_ms.load(Ordering::Relaxed)
    }

    /// Sets the expiry.
    #[inline(always)]
    pub(super) fn set_expires(&self, ms: u64) {
        self.expires_ms.store(ms, Ordering::Relaxed);
    }

    /// Counts a packet of `len` bytes in direction `d` (0: original, 1: reply).
    #[inline(always)]
    pub(super) fn count(&self, d: usize, len: u64) {
        let (p, b) = (&self.packets[d], &self.bytes[d]);
        p.store(p.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        b.store(b.load(Ordering::Relaxed) + len, Ordering::Relaxed);
    }

    /// Packets per direction.
    pub(super) fn packets(&self) -> [u64; 2] {
        self.packets.each_ref().map(|p| p.load(Ordering::Relaxed))
    }

    /// The mark and label, never torn.
    #[inline(always)]
    pub(super) fn marks(&self) -> (u32, u128) {
        loop {
            let s = self.seq.load(Ordering::Acquire);
            if s & 1 == 0 {
                let m = self.mark.load(Ordering::Relaxed);
                let lo = self.label[0].load(Ordering::Relaxed);
                let hi = self.label[1].load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s {
                    return (m, u128::from(hi) << 64 | u128::from(lo));
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Writes the mark and label (under the connection's lock: one writer at a time).
    pub(super) fn set_marks(&self, mark: u32, label: u128) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.mark.store(mark, Ordering::Relaxed);
        self.label[0].store(label as u64, Ordering::Relaxed);
        self.label[1].store((label >> 64) as u64, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::Hot;
    use std::sync::Arc;

    /// Readers on other threads never see a label half written, while a writer keeps
    /// changing mark and label together.
    #[test]
    fn marks_are_never_torn() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
        let h = Arc::new(Hot::new(1, 0, 0, 0));
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (h, stop, reads) = (h.clone(), stop.clone(), reads.clone());
                std::thread::spawn(move || {
                    while !stop.load(Relaxed) {
                        let (m, l) = h.marks();
                        let m = u128::from(m);
                        assert_eq!(l, m << 96 | m << 64 | m << 32 | m, "torn");
                        reads.fetch_add(1, Relaxed);
                    }
                })
            })
            .collect();
        // Write until the readers have read many times while writes were going on.
        let mut i = 0u32;
        while i < 100_000 || reads.load(Relaxed) < 100_000 {
            i = i.wrapping_add(1);
            let m = u128::from(i);
            h.set_marks(i, m << 96 | m << 64 | m << 32 | m);
        }
        stop.store(true, Relaxed);
        for r in readers {
            r.join().expect("a reader saw a torn label");
        }
    }
}
