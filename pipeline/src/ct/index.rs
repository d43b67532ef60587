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
//! lock: the array's address and size are published in an atomic for that. An entry is 12
//! bytes instead of 64 (at half load, 25.6 bytes of bucket per entry): the live index of
//! 50,000 connections (100,000 entries over 64 shards of 1,024 buckets) is 4 MB where
//! hashbrown took 8.3 MB, plus up to 4 MB of retired arrays.
//!
//! Probing: an entry lives in its home bucket (hash & mask) or, when that was full at
//! insertion, in the first bucket after it with a free way; every bucket it passed counts
//! it in `overflow`, and a lookup stops at the first bucket without overflow. The table
//! doubles when half full, so nearly every lookup reads one bucket.

use super::{Conn, Key};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Ways per bucket: five 4-byte signatures, an overflow count and five pointers fill 64
/// bytes.
const WAYS: usize = 5;

/// One cache line of the index. Every field is an atomic so that a prefetch may read a
/// bucket without the shard's lock (`Shard::prefetch_conns`); everything else reads and
/// writes it under the lock, where relaxed atomics are plain loads and stores.
#[repr(C, align(64))]
pub(super) struct Bucket {
    /// The hash's top 32 bits with the lowest replaced by the entry's direction (1: the
    /// reply tuple).
    sig: [AtomicU32; WAYS],
    /// Entries whose probe passed this bucket (it was full when they were inserted).
    overflow: AtomicU32,
    /// `Arc::into_raw` of the connection (each entry owns one strong count), or null.
    conn: [AtomicPtr<Conn>; WAYS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

// The index holds connections as raw pointers, which the compiler does not check: it is
// shared between workers only because a connection may be.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Conn>();
};

impl Bucket {
    fn empty() -> Self {
        Bucket {
            sig: Default::default(),
            overflow: AtomicU32::new(0),
            conn: Default::default(),
        }
    }
}

#[inline(always)]
fn sig_of(h: u64) -> u32 {
    (h >> 32) as u32 & !1
}

/// The home bucket (before masking) of an entry with signature `sig`: the bits above the
/// direction bit. The bucket comes from the signature, not from the rest of the hash, so
/// growing the table moves entries without reading their connections (a cache miss each)
/// to hash their tuples again. The shard takes the hash's low bits.
#[inline(always)]
fn home(sig: u32) -> usize {
    (sig >> 1) as usize
}

/// A connection found in the index, borrowed for as long as the index is (the entry holds
/// a strong count, and entries change only under the shard's lock).
pub(super) struct Found<'a> {
    ptr: *const Conn,
    _index: PhantomData<&'a Conn>,
}

impl<'a> Found<'a> {
    fn new(ptr: *const Conn) -> Self {
        Found {
            ptr,
            _index: PhantomData,
        }
    }

    /// The connection.
    #[inline(always)]
    pub(super) fn conn(&self) -> &'a Conn {
        // SAFETY: `ptr` came from `Arc::into_raw` and its entry still holds that strong
        // count: entries are removed only through `&mut ConnIndex`, which cannot exist
        // while this borrow of the index does.
        unsafe { &*self.ptr }
    }

    /// A counted reference to the connection, to keep beyond the lock.
    pub(super) fn arc(&self) -> Arc<Conn> {
        // SAFETY: as in `conn`, the entry holds a strong count for `ptr` (from
        // `Arc::into_raw`), so adding one and taking it as a new `Arc` is sound.
        unsafe {
            Arc::increment_strong_count(self.ptr);
            Arc::from_raw(self.ptr)
        }
    }
}

impl std::ops::Deref for Found<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn()
    }
}

/// The entries of one shard (under the shard's lock).
pub(super) struct ConnIndex {
    /// Shared, not boxed: a prefetch reads it without the lock, so it is never owned
    /// uniquely.
    buckets: Arc<[Bucket]>,
    /// Arrays the table grew out of, kept (their entries moved, not owned) until the
    /// tracker is dropped, because a prefetch may still read them without the lock. They
    /// add at most the current array's size.
    retired: Vec<Arc<[Bucket]>>,
    len: usize,
}

impl Drop for ConnIndex {
    fn drop(&mut self) {
        for bk in self.buckets.iter() {
            for c in &bk.conn {
                let p = c.load(Relaxed);
                if !p.is_null() {
                    // SAFETY: each non-null pointer of the live array owns the strong
                    // count it got from `Arc::into_raw`; it is released once, here.
                    drop(unsafe { Arc::from_raw(p) });
                }
            }
        }
    }
}

impl ConnIndex {
    pub(super) fn new() -> Self {
        ConnIndex {
            buckets: (0..4).map(|_| Bucket::empty()).collect::<Arc<[Bucket]>>(),
            retired: Vec::new(),
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
    pub(super) fn find(&self, h: u64, key: &Key) -> Option<(Found<'_>, bool)> {
        let s = sig_of(h);
        let mask = self.mask();
        let mut b = home(s) & mask;
        // At most once round the table, whatever the overflow counts say.
        for _ in 0..self.buckets.len() {
            let bk = &self.buckets[b];
            for w in 0..WAYS {
                let sig = bk.sig[w].load(Relaxed);
                if sig & !1 != s {
                    continue;
                }
                let p = bk.conn[w].load(Relaxed);
                if p.is_null() {
                    continue;
                }
                let f = Found::new(p);
                let reply = sig & 1 != 0;
                let c = f.conn();
                if *key == if reply { c.reply } else { c.orig } {
                    return Some((f, reply));
                }
            }
            if bk.overflow.load(Relaxed) == 0 {
                return None;
            }
            b = (b + 1) & mask;
        }
        None
    }

    /// Adds `conn` under its original (or `reply`) tuple hashing to `h`.
    pub(super) fn insert(&mut self, h: u64, conn: Arc<Conn>, reply: bool) {
        if (self.len + 1) * 2 > self.buckets.len() * WAYS {
            self.grow();
        }
        self.place(
            sig_of(h) | u32::from(reply),
            Arc::into_raw(conn) as *mut Conn,
        );
    }

    /// Puts an owned pointer with signature `sig` (direction included) into the first
    /// free way from its home bucket.
    fn place(&mut self, sig: u32, p: *mut Conn) {
        let mask = self.mask();
        let mut b = home(sig) & mask;
        loop {
            let bk = &self.buckets[b];
            if let Some(w) = bk.conn.iter().position(|c| c.load(Relaxed).is_null()) {
                bk.sig[w].store(sig, Relaxed);
                bk.conn[w].store(p, Relaxed);
                self.len += 1;
                return;
            }
            bk.overflow.fetch_add(1, Relaxed);
            b = (b + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let n = self.buckets.len() * 2;
        let fresh = (0..n).map(|_| Bucket::empty()).collect::<Arc<[Bucket]>>();
        let old = std::mem::replace(&mut self.buckets, fresh);
        self.len = 0;
        for bk in old.iter() {
            for w in 0..WAYS {
                let p = bk.conn[w].load(Relaxed);
                if p.is_null() {
                    continue;
                }
                // The owned count moves to the new array; the old keeps a stale copy.
                self.place(bk.sig[w].load(Relaxed), p);
            }
        }
        self.retired.push(old);
    }

    /// Takes out the entry of `conn` under its original (or `reply`) tuple hashing to
    /// `h`, if there is one.
    pub(super) fn remove(&mut self, h: u64, conn: &Arc<Conn>, reply: bool) -> Option<Arc<Conn>> {
        let s = sig_of(h) | u32::from(reply);
        let target = Arc::as_ptr(conn) as *mut Conn;
        let mask = self.mask();
        let start = home(s) & mask;
        let mut b = start;
        for _ in 0..self.buckets.len() {
            let bk = &self.buckets[b];
            let hit = (0..WAYS)
                .find(|&w| bk.sig[w].load(Relaxed) == s && bk.conn[w].load(Relaxed) == target);
            if let Some(w) = hit {
                bk.sig[w].store(0, Relaxed);
                bk.conn[w].store(std::ptr::null_mut(), Relaxed);
                let mut x = start;
                while x != b {
                    self.buckets[x].overflow.fetch_sub(1, Relaxed);
                    x = (x + 1) & mask;
                }
                self.len -= 1;
                // SAFETY: the entry owned one strong count of `target` (from
                // `Arc::into_raw`) and no longer holds the pointer.
                return Some(unsafe { Arc::from_raw(target) });
            }
            if bk.overflow.load(Relaxed) == 0 {
                return None;
            }
            b = (b + 1) & mask;
        }
        None
    }

    /// Every entry: whether it is indexed under its reply tuple, and the connection.
    pub(super) fn iter(&self) -> impl Iterator<Item = (bool, Found<'_>)> {
        self.iter_range(0, usize::MAX)
    }

    /// Buckets in the array (a sweep walks them in ranges: `Conntrack::visit_chunked`).
    pub(super) fn n_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The entries of buckets `from..from + n` (clamped to the array), as [`Self::iter`].
    pub(super) fn iter_range(
        &self,
        from: usize,
        n: usize,
    ) -> impl Iterator<Item = (bool, Found<'_>)> {
        let end = from.saturating_add(n).min(self.buckets.len());
        self.buckets[from.min(end)..end].iter().flat_map(|bk| {
            (0..WAYS).filter_map(move |w| {
                let p = bk.conn[w].load(Relaxed);
                (!p.is_null()).then(|| (bk.sig[w].load(Relaxed) & 1 != 0, Found::new(p)))
            })
        })
    }

    /// Starts fetching the connections of buckets `from..from + n`: their first line (the
    /// original tuple) and the line of their expiry, what a sweep reads.
    pub(super) fn prefetch_range(&self, from: usize, n: usize) {
        let end = from.saturating_add(n).min(self.buckets.len());
        for bk in &self.buckets[from.min(end)..end] {
            for w in 0..WAYS {
                let p = bk.conn[w].load(Relaxed) as *const u8;
                if !p.is_null() {
                    prefetch_ptr(p);
                    prefetch_ptr(p.wrapping_add(std::mem::offset_of!(Conn, hot)));
                }
            }
        }
    }

    /// Entries.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bucket overflow counts, all zero in an empty table.
    #[cfg(test)]
    fn overflows(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets.iter().map(|b| b.overflow.load(Relaxed))
    }
}

/// One lock's worth of the connection index, with where its buckets are for prefetching.
pub(super) struct Shard {
    pub(super) map: parking_lot::Mutex<ConnIndex>,
    /// The bucket array's address with log2 of its length in the low 6 bits (the array
    /// is 64-byte aligned), as of the last change: one word, so a reader never pairs one
    /// array's address with another's length. Read without the lock, only to prefetch:
    /// the array it names is live or retired, never freed while the tracker lives.
    published: AtomicUsize,
}

impl Shard {
    pub(super) fn new() -> Self {
        let s = Shard {
            map: parking_lot::Mutex::new(ConnIndex::new()),
            published: AtomicUsize::new(0),
        };
        s.publish(&s.map.lock());
        s
    }

    /// Publishes the array of `idx` (this shard's index, locked) for prefetching.
    pub(super) fn publish(&self, idx: &ConnIndex) {
        let base = idx.buckets.as_ptr() as usize;
        debug_assert_eq!(base & 63, 0, "buckets are 64-byte aligned");
        let word = base | idx.buckets.len().trailing_zeros() as usize;
        if self.published.load(Relaxed) != word {
            self.published.store(word, Relaxed);
        }
    }

    #[inline(always)]
    fn bucket(&self, h: u64) -> &Bucket {
        let word = self.published.load(Relaxed);
        let base = (word & !63) as *const Bucket;
        let mask = (1usize << (word & 63)) - 1;
        // SAFETY: `word` names a whole array, live or retired: it is published when the
        // shard is made (never 0 once shared) and after every change of the array, and an
        // array replaced by a growth is retired, kept until the index is dropped with the
        // shard. Its length is a power of two (4, doubled by each growth), so
        // `home(..) & mask` is within it. All a bucket's fields are atomics, so reading it
        // while the lock's holder writes the live array is not a data race.
        unsafe { &*base.add(home(sig_of(h)) & mask) }
    }

    /// Starts fetching the bucket a lookup of hash `h` reads first.
    #[inline(always)]
    pub(super) fn prefetch(&self, h: u64) {
        prefetch_ptr(self.bucket(h));
    }

    /// Starts fetching the connections whose signature in `h`'s bucket matches (best
    /// run once that bucket has arrived, after [`Shard::prefetch`]). The pointers read may
    /// be stale; they are only prefetched, never followed.
    #[inline(always)]
    pub(super) fn prefetch_conns(&self, h: u64) {
        let bk = self.bucket(h);
        let s = sig_of(h);
        for w in 0..WAYS {
            if bk.sig[w].load(Relaxed) & !1 == s {
                // The tuples and the state a packet updates: every line of the connection.
                let p = bk.conn[w].load(Relaxed) as *const u8;
                for off in (0..=std::mem::size_of::<Conn>()).step_by(64) {
                    prefetch_ptr(p.wrapping_add(off));
                }
            }
        }
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
            hot: super::super::Hot::new(0, 0, 0, 0),
            st: spin::mutex::SpinMutex::new(ConnState {
                p: PState::Other(0),
            }),
        })
    }

    /// A hash that puts every key into a few buckets (its home bits, 33 and up, take 7
    /// values below bit 40), so that probes cross buckets and overflow counts are
    /// exercised; it differs by direction.
    fn crowded(k: &Key) -> u64 {
        let x = u64::from(k.sport) * 2 + u64::from(k.dport == 53);
        ((x % 7) << 33) | (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) << 40)
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
                idx.insert(crowded(&c.orig), c.clone(), false);
                idx.insert(crowded(&c.reply), c.clone(), true);
                model.insert(port, c);
            }
            if step % 97 == 0 {
                for p in 0..600u16 {
                    let k = key(p);
                    let found = idx.find(crowded(&k), &k).map(|(c, r)| (c.arc(), r));
                    match model.get(&p) {
                        Some(c) => assert!(found.is_some_and(|(f, r)| Arc::ptr_eq(&f, c) && !r)),
                        None => assert!(found.is_none()),
                    }
                    let rk = super::super::reverse(&k);
                    if let Some(c) = model.get(&p) {
                        let (f, r) = idx.find(crowded(&rk), &rk).expect("reply tuple");
                        assert!(Arc::ptr_eq(&f.arc(), c) && r);
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
            idx.overflows().all(|o| o == 0),
            "overflow counts return to 0"
        );
        // A removed connection's entry is not found again.
        let c = conn(7);
        assert!(idx.remove(crowded(&c.orig), &c, false).is_none());
    }

    /// Prefetching reads buckets without the lock while another thread grows the table
    /// (arrays of up to 64k buckets, 4 MB, which the allocator maps and would unmap): it
    /// must never read freed memory, and finds every connection afterwards.
    #[test]
    fn prefetch_without_the_lock_while_the_table_grows() {
        let shard = Shard::new();
        let done = std::sync::atomic::AtomicBool::new(false);
        let hash = |k: &Key| u64::from(k.sport).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut h = 1u64;
                while !done.load(Relaxed) {
                    h = h
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    shard.prefetch(h);
                    shard.prefetch_conns(h);
                }
            });
            for port in 0..60_000u16 {
                let c = conn(port);
                let mut m = shard.map.lock();
                m.insert(hash(&c.orig), c, false);
                shard.publish(&m);
            }
            done.store(true, Relaxed);
        });
        let m = shard.map.lock();
        assert_eq!(m.len(), 60_000);
        assert!(
            m.retired.len() >= 10,
            "the table grew {} times",
            m.retired.len()
        );
        for port in (0..60_000u16).step_by(7) {
            assert!(m.find(hash(&key(port)), &key(port)).is_some());
        }
    }
}
