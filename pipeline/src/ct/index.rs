//! The connection index of one shard: cache-line buckets of five (signature, connection)
//! ways, open addressing with linear probing over buckets.
//!
//! Why not a general hash map: at tens of thousands of connections every lookup misses
//! the cache, and what decides its cost is how many dependent misses it takes and whether
//! they can be started early. Here a lookup reads one 64-byte bucket (signatures and
//! connection pointers together) and then the connection itself, which holds both tuples:
//! two misses, where a map of (key, connection) entries takes three (control bytes, entry,
//! connection). The bucket's address depends only on the hash, so a burst's buckets can be
//! prefetched before any lookup runs ([`super::Conntrack::prefetch`]) without the shard's
//! lock: the array's address and mask are published in atomics for that. An entry is 12
//! bytes instead of 64, so the index of 50,000 connections (100,000 entries) is 1.3 MB
//! rather than 8 MB.
//!
//! Probing: an entry lives in its home bucket (hash & mask) or, when that was full at
//! insertion, in the first bucket after it with a free way; every bucket it passed counts
//! it in `overflow`, and a lookup stops at the first bucket without overflow. The table
//! doubles when half full, so nearly every lookup reads one bucket.

use super::{Conn, Key};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

/// Ways per bucket: five 4-byte signatures, an overflow count and five pointers fill 64
/// bytes.
const WAYS: usize = 5;

/// One cache line of the index.
#[repr(C, align(64))]
pub(super) struct Bucket {
    /// The hash's top 32 bits with the lowest replaced by the entry's direction (1: the
    /// reply tuple).
    sig: [u32; WAYS],
    /// Entries whose probe passed this bucket (it was full when they were inserted).
    overflow: u32,
    conn: [Option<Arc<Conn>>; WAYS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    fn empty() -> Self {
        Bucket {
            sig: [0; WAYS],
            overflow: 0,
            conn: Default::default(),
        }
    }
}

#[inline(always)]
fn sig_of(h: u64) -> u32 {
    (h >> 32) as u32 & !1
}

/// The entries of one shard (under the shard's lock).
pub(super) struct ConnIndex {
    buckets: Box<[Bucket]>,
    len: usize,
}

impl ConnIndex {
    pub(super) fn new() -> Self {
        ConnIndex {
            buckets: (0..4).map(|_| Bucket::empty()).collect(),
            len: 0,
        }
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// The connection indexed under `key` (hashing to `h`) and whether `key` is its reply
    /// tuple.
    #[inline(always)]
    pub(super) fn find(&self, h: u64, key: &Key) -> Option<(&Arc<Conn>, bool)> {
        let s = sig_of(h);
        let mask = self.mask();
        let mut b = h as usize & mask;
        loop {
            let bk = &self.buckets[b];
            for w in 0..WAYS {
                if bk.sig[w] & !1 != s {
                    continue;
                }
                if let Some(c) = &bk.conn[w] {
                    let reply = bk.sig[w] & 1 != 0;
                    if *key == if reply { c.reply } else { c.orig } {
                        return Some((c, reply));
                    }
                }
            }
            if bk.overflow == 0 {
                return None;
            }
            b = (b + 1) & mask;
        }
    }

    /// Adds `conn` under its original (or `reply`) tuple hashing to `h`; `rehash` hashes
    /// a tuple when the table grows.
    pub(super) fn insert(
        &mut self,
        h: u64,
        conn: Arc<Conn>,
        reply: bool,
        rehash: impl Fn(&Key) -> u64,
    ) {
        if (self.len + 1) * 2 > self.buckets.len() * WAYS {
            self.grow(&rehash);
        }
        self.place(h, conn, reply);
    }

    fn place(&mut self, h: u64, conn: Arc<Conn>, reply: bool) {
        let mask = self.mask();
        let mut b = h as usize & mask;
        loop {
            let bk = &mut self.buckets[b];
            if let Some(w) = bk.conn.iter().position(Option::is_none) {
                bk.sig[w] = sig_of(h) | u32::from(reply);
                bk.conn[w] = Some(conn);
                self.len += 1;
                return;
            }
            bk.overflow += 1;
            b = (b + 1) & mask;
        }
    }

    fn grow(&mut self, rehash: &impl Fn(&Key) -> u64) {
        let n = self.buckets.len() * 2;
        let old = std::mem::replace(&mut self.buckets, (0..n).map(|_| Bucket::empty()).collect());
        self.len = 0;
        for mut bk in Vec::from(old) {
            for w in 0..WAYS {
                if let Some(c) = bk.conn[w].take() {
                    let reply = bk.sig[w] & 1 != 0;
                    let h = rehash(if reply { &c.reply } else { &c.orig });
                    self.place(h, c, reply);
                }
            }
        }
    }

    /// Takes out the entry of `conn` under its original (or `reply`) tuple hashing to
    /// `h`, if there is one.
    pub(super) fn remove(&mut self, h: u64, conn: &Arc<Conn>, reply: bool) -> Option<Arc<Conn>> {
        let s = sig_of(h) | u32::from(reply);
        let mask = self.mask();
        let home = h as usize & mask;
        let mut b = home;
        loop {
            let bk = &mut self.buckets[b];
            let hit = (0..WAYS).find(|&w| {
                bk.sig[w] == s && bk.conn[w].as_ref().is_some_and(|c| Arc::ptr_eq(c, conn))
            });
            if let Some(w) = hit {
                bk.sig[w] = 0;
                let gone = bk.conn[w].take();
                let mut x = home;
                while x != b {
                    self.buckets[x].overflow -= 1;
                    x = (x + 1) & mask;
                }
                self.len -= 1;
                return gone;
            }
            if bk.overflow == 0 {
                return None;
            }
            b = (b + 1) & mask;
        }
    }

    /// Every entry: the connection and whether it is indexed under its reply tuple.
    pub(super) fn iter(&self) -> impl Iterator<Item = (bool, &Arc<Conn>)> {
        self.buckets.iter().flat_map(|bk| {
            (0..WAYS).filter_map(move |w| bk.conn[w].as_ref().map(|c| (bk.sig[w] & 1 != 0, c)))
        })
    }

    /// Entries.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

/// One lock's worth of the connection index, with where its buckets are for prefetching.
pub(super) struct Shard {
    pub(super) map: parking_lot::Mutex<ConnIndex>,
    /// The bucket array and its mask as of the last change, readable without the lock.
    /// They may be stale or from two different arrays while a grow is published: they
    /// only ever feed a prefetch, which cannot fault and changes no result.
    base: AtomicPtr<Bucket>,
    mask: AtomicUsize,
}

impl Shard {
    pub(super) fn new() -> Self {
        let s = Shard {
            map: parking_lot::Mutex::new(ConnIndex::new()),
            base: AtomicPtr::new(std::ptr::null_mut()),
            mask: AtomicUsize::new(0),
        };
        s.publish(&s.map.lock());
        s
    }

    /// Publishes the array of `idx` (this shard's index, locked) for prefetching.
    pub(super) fn publish(&self, idx: &ConnIndex) {
        let p = idx.buckets.as_ptr() as *mut Bucket;
        if self.base.load(Ordering::Relaxed) != p {
            self.base.store(p, Ordering::Relaxed);
            self.mask.store(idx.mask(), Ordering::Relaxed);
        }
    }

    /// Starts fetching the bucket a lookup of hash `h` reads first.
    #[inline(always)]
    pub(super) fn prefetch(&self, h: u64) {
        let base = self.base.load(Ordering::Relaxed);
        let mask = self.mask.load(Ordering::Relaxed);
        prefetch_ptr(base.wrapping_add(h as usize & mask));
    }
}

/// Asks for the cache line at `p`, which need not be valid (a hint: it never faults and
/// changes no result).
#[inline(always)]
pub(super) fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is not an access: it has no effect on the program's behaviour
    // whatever the address, valid or not, so any pointer may be passed.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::super::{ConnState, PState, Proto};
    use super::*;
    use std::collections::HashMap;

    fn key(port: u16) -> Key {
        Key {
            zone: 1,
            v6: false,
            proto: 17,
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            sport: port,
            dport: 53,
        }
    }

    fn conn(port: u16) -> Arc<Conn> {
        let orig = key(port);
        let reply = super::super::reverse(&orig);
        Arc::new(Conn {
            orig,
            reply,
            proto: Proto::Udp,
            nat: None,
            st: parking_lot::Mutex::new(ConnState {
                p: PState::Other(0),
                expires_ms: 0,
                mark: 0,
                label: 0,
                packets: [0; 2],
                bytes: [0; 2],
                dead: false,
            }),
        })
    }

    /// A hash that puts every key into the first 7 buckets, so that probes cross buckets
    /// and overflow counts are exercised (and one that differs by direction).
    fn crowded(k: &Key) -> u64 {
        let x = u64::from(k.sport) * 2 + u64::from(k.dport == 53);
        (x % 7) | (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & !0xffff_ffff)
    }

    #[test]
    fn finds_what_was_inserted_through_overflow_and_growth() {
        let mut idx = ConnIndex::new();
        let mut model: HashMap<u16, Arc<Conn>> = HashMap::new();
        let mut x = 0x1234_5678u32;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = (x % 600) as u16;
            if let Some(c) = model.remove(&port) {
                for (k, reply) in [(c.orig, false), (c.reply, true)] {
                    let gone = idx.remove(crowded(&k), &c, reply);
                    assert!(gone.is_some_and(|g| Arc::ptr_eq(&g, &c)), "step {step}");
                }
            } else {
                let c = conn(port);
                idx.insert(crowded(&c.orig), c.clone(), false, crowded);
                idx.insert(crowded(&c.reply), c.clone(), true, crowded);
                model.insert(port, c);
            }
            if step % 97 == 0 {
                for p in 0..600u16 {
                    let k = key(p);
                    let found = idx.find(crowded(&k), &k).map(|(c, r)| (c.clone(), r));
                    match model.get(&p) {
                        Some(c) => assert!(found.is_some_and(|(f, r)| Arc::ptr_eq(&f, c) && !r)),
                        None => assert!(found.is_none()),
                    }
                    let rk = super::super::reverse(&k);
                    if let Some(c) = model.get(&p) {
                        let (f, r) = idx.find(crowded(&rk), &rk).expect("reply tuple");
                        assert!(Arc::ptr_eq(f, c) && r);
                    }
                }
                assert_eq!(idx.len(), model.len() * 2);
                assert_eq!(idx.iter().count(), model.len() * 2);
                assert_eq!(idx.iter().filter(|(r, _)| !r).count(), model.len());
            }
        }
        for c in model.values() {
            idx.remove(crowded(&c.orig), c, false).unwrap();
            idx.remove(crowded(&c.reply), c, true).unwrap();
        }
        assert_eq!(idx.len(), 0);
        assert!(
            idx.buckets.iter().all(|b| b.overflow == 0),
            "overflow counts return to 0"
        );
        // A removed connection's entry is not found again.
        let c = conn(7);
        assert!(idx.remove(crowded(&c.orig), &c, false).is_none());
    }
}
