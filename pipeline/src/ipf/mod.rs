//! IP fragment reassembly for conntrack, with the semantics of OVS's userspace `ipf`.
//!
//! A fragment reaching `ct` is held, per datagram, by its worker's [`Reassembler`]. When
//! the datagram is whole, conntrack tracks it once (checksums, TCP state, NAT) and every
//! original fragment leaves with the datagram's verdict: its `ct_state`, zone, mark and
//! label, and NAT's rewrite (addresses in every fragment, ports in the first). The
//! fragments continue in the order they arrived; no reassembled packet ever leaves the
//! switch. A fragment that cannot be held (reassembly off, a limit reached, a tiny or
//! overlapping fragment, a bad header) is tracked alone, which makes it `+inv`, as OVS's
//! conntrack does.
//!
//! The limits ([`IpfShared`]) are the switch's, shared by its workers: OVS's (`min v4/v6
//! frag size`, `max num frags`) plus the fragments per datagram, the bytes held and the
//! timeout. The fragment lists are per worker: a NIC's RSS hashes fragments on their
//! addresses alone, so one datagram's fragments meet in one queue.

mod reass;

pub use reass::{Push, Reassembler};

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

crate::counted_reasons! {
    /// What became of a fragment that reached `ct`, for the counters (per IP version).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum IpfEvent {
        Accepted = ("accepted", "Held for reassembly."),
        Completed = ("completed", "Left with its whole datagram's verdict."),
        Expired = ("expired", "Dropped: the rest of its datagram did not arrive within the timeout."),
        TooSmall = ("too_small", "Tracked alone (+inv): a fragment other than the last, shorter than the minimum fragment size (RFC 1858's tiny fragments)."),
        Overlap = ("overlap", "Tracked alone (+inv): it overlaps (or repeats) a fragment held for the same datagram."),
        Purged = ("purged", "Dropped: its datagram was whole but its fragments found no room to continue."),
        Invalid = ("invalid", "Tracked alone (+inv): a header that does not hold together (length, checksum, offset not a multiple of 8)."),
        Oversize = ("oversize", "Tracked alone (+inv): it ends past the largest datagram IP allows (65,535 bytes)."),
        Full = ("full", "Tracked alone (+inv): the switch holds as many fragments (or bytes) as it may."),
        TooMany = ("too_many", "Tracked alone (+inv): its datagram already has the most fragments one may have."),
        Disabled = ("disabled", "Tracked alone (+inv): reassembly is disabled for its IP version."),
    }
}

/// OVS's default minimum IPv4 fragment size (`IPF_V4_FRAG_SIZE_MIN_DEF`).
pub const MIN_V4_FRAG_DEFAULT: u32 = 1200;
/// OVS's default minimum IPv6 fragment size (`IPF_V6_FRAG_SIZE_MIN_DEF`).
pub const MIN_V6_FRAG_DEFAULT: u32 = 1280;
/// The smallest minimum fragment size that may be set (OVS's lower bound).
pub const MIN_FRAG_LOWER_BOUND: u32 = 400;
/// OVS's default cap on fragments held.
pub const MAX_FRAGS_DEFAULT: u32 = 1000;
/// The highest cap on fragments held that may be set (OVS's `IPF_NFRAG_UBOUND`).
pub const MAX_FRAGS_UPPER_BOUND: u32 = 5000;
/// OVS's fragment list timeout (`IPF_FRAG_LIST_TIMEOUT`), milliseconds.
pub const TIMEOUT_DEFAULT_MS: u32 = 15_000;
/// Default cap on fragments per datagram: a 65,535-byte datagram in fragments of the
/// default minimum size needs 55.
pub const MAX_FRAGS_PER_DATAGRAM_DEFAULT: u32 = 64;
/// Default cap on the bytes of fragments held.
pub const MAX_BYTES_DEFAULT: u64 = 16 << 20;

/// A limit that cannot be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpfError {
    /// The minimum fragment size is below OVS's lower bound.
    #[error("minimum fragment size {0} is below {MIN_FRAG_LOWER_BOUND}")]
    MinFragTooSmall(u32),
    /// The fragment cap is out of range.
    #[error("maximum fragments {0} is out of range 1..={MAX_FRAGS_UPPER_BOUND}")]
    MaxFrags(u32),
    /// A cap of zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// The switch's reassembly settings and counters, shared by its workers.
pub struct IpfShared {
    enabled: [AtomicBool; 2],
    min_frag: [AtomicU32; 2],
    nfrag_max: AtomicU32,
    per_datagram: AtomicU32,
    max_bytes: AtomicU64,
    timeout_ms: AtomicU32,
    /// Fragments held now, by every worker.
    nfrag: AtomicUsize,
    /// Bytes of fragments held now.
    bytes: AtomicU64,
    counts: [[AtomicU64; IpfEvent::COUNT]; 2],
}

impl Default for IpfShared {
    fn default() -> Self {
        IpfShared {
            enabled: [AtomicBool::new(true), AtomicBool::new(true)],
            min_frag: [
                AtomicU32::new(MIN_V4_FRAG_DEFAULT),
                AtomicU32::new(MIN_V6_FRAG_DEFAULT),
            ],
            nfrag_max: AtomicU32::new(MAX_FRAGS_DEFAULT),
            per_datagram: AtomicU32::new(MAX_FRAGS_PER_DATAGRAM_DEFAULT),
            max_bytes: AtomicU64::new(MAX_BYTES_DEFAULT),
            timeout_ms: AtomicU32::new(TIMEOUT_DEFAULT_MS),
            nfrag: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            counts: Default::default(),
        }
    }
}

/// A snapshot of [`IpfShared`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpfStatus {
    /// Reassembly on, for IPv4 and IPv6.
    pub enabled: [bool; 2],
    /// Minimum size of a fragment other than the last (IP header included), v4 and v6.
    pub min_frag: [u32; 2],
    /// Fragments the switch may hold.
    pub nfrag_max: u32,
    /// Fragments one datagram may have.
    pub per_datagram: u32,
    /// Bytes of fragments the switch may hold.
    pub max_bytes: u64,
    /// How long a datagram's fragments wait for the rest, milliseconds.
    pub timeout_ms: u32,
    /// Fragments held now.
    pub nfrag: usize,
    /// Bytes held now.
    pub bytes: u64,
    /// Counters by [`IpfEvent`], v4 and v6.
    pub counts: [[u64; IpfEvent::COUNT]; 2],
}

impl IpfShared {
    /// Whether reassembly runs for IPv4 (`v6` false) or IPv6.
    #[inline]
    pub fn enabled(&self, v6: bool) -> bool {
        self.enabled[usize::from(v6)].load(Ordering::Relaxed)
    }

    /// Turns reassembly on or off for one IP version (OVS's `dpctl/ipf-set-enabled`).
    pub fn set_enabled(&self, v6: bool, on: bool) {
        self.enabled[usize::from(v6)].store(on, Ordering::Relaxed);
    }

    /// Sets the minimum size of a fragment other than the last (OVS's
    /// `dpctl/ipf-set-min-frag`).
    pub fn set_min_frag(&self, v6: bool, n: u32) -> Result<(), IpfError> {
        if n < MIN_FRAG_LOWER_BOUND {
            return Err(IpfError::MinFragTooSmall(n));
        }
        self.min_frag[usize::from(v6)].store(n, Ordering::Relaxed);
        Ok(())
    }

    /// Sets how many fragments the switch may hold (OVS's `dpctl/ipf-set-max-nfrags`).
    pub fn set_max_nfrags(&self, n: u32) -> Result<(), IpfError> {
        if n == 0 || n > MAX_FRAGS_UPPER_BOUND {
            return Err(IpfError::MaxFrags(n));
        }
        self.nfrag_max.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// Sets how many fragments one datagram may have.
    pub fn set_per_datagram(&self, n: u32) -> Result<(), IpfError> {
        if n == 0 {
            return Err(IpfError::Zero("fragments per datagram"));
        }
        self.per_datagram.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// Sets how many bytes of fragments the switch may hold.
    pub fn set_max_bytes(&self, n: u64) -> Result<(), IpfError> {
        if n == 0 {
            return Err(IpfError::Zero("bytes held"));
        }
        self.max_bytes.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// Sets how long fragments wait for the rest of their datagram.
    pub fn set_timeout_ms(&self, ms: u32) -> Result<(), IpfError> {
        if ms == 0 {
            return Err(IpfError::Zero("timeout"));
        }
        self.timeout_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn count(&self, v6: bool, e: IpfEvent, n: u64) {
        self.counts[usize::from(v6)][e.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Reserves room for a fragment of `len` bytes under the switch-wide caps.
    fn reserve(&self, len: usize) -> bool {
        let max = self.nfrag_max.load(Ordering::Relaxed) as usize;
        if self.nfrag.fetch_add(1, Ordering::Relaxed) >= max {
            self.nfrag.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        let max_bytes = self.max_bytes.load(Ordering::Relaxed);
        if self.bytes.fetch_add(len as u64, Ordering::Relaxed) + len as u64 > max_bytes {
            self.release(1, len);
            return false;
        }
        true
    }

    /// Gives back the room of `n` fragments of `bytes` bytes in all.
    fn release(&self, n: usize, bytes: usize) {
        self.nfrag.fetch_sub(n, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    /// The settings and counters now.
    pub fn status(&self) -> IpfStatus {
        let mut counts = [[0u64; IpfEvent::COUNT]; 2];
        for (v, row) in counts.iter_mut().enumerate() {
            for (i, c) in row.iter_mut().enumerate() {
                *c = self.counts[v][i].load(Ordering::Relaxed);
            }
        }
        IpfStatus {
            enabled: [self.enabled(false), self.enabled(true)],
            min_frag: [
                self.min_frag[0].load(Ordering::Relaxed),
                self.min_frag[1].load(Ordering::Relaxed),
            ],
            nfrag_max: self.nfrag_max.load(Ordering::Relaxed),
            per_datagram: self.per_datagram.load(Ordering::Relaxed),
            max_bytes: self.max_bytes.load(Ordering::Relaxed),
            timeout_ms: self.timeout_ms.load(Ordering::Relaxed),
            nfrag: self.nfrag.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            counts,
        }
    }
}

impl IpfStatus {
    /// The counter of `e` for one IP version.
    pub fn get(&self, v6: bool, e: IpfEvent) -> u64 {
        self.counts[usize::from(v6)][e.index()]
    }

    /// `ovs-appctl dpctl/ipf-get-status`'s text, line for line, then brisk's own limits
    /// and counters.
    pub fn ovs_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "        Fragmentation Module Status");
        let _ = writeln!(o, "        ---------------------------");
        let _ = writeln!(o, "        v4 enabled: {}", u8::from(self.enabled[0]));
        let _ = writeln!(o, "        v6 enabled: {}", u8::from(self.enabled[1]));
        let _ = writeln!(o, "        max num frags (v4/v6): {}", self.nfrag_max);
        let _ = writeln!(o, "        num frag: {}", self.nfrag);
        for (v6, name) in [(false, "v4"), (true, "v6")] {
            let _ = writeln!(
                o,
                "        min {name} frag size: {}",
                self.min_frag[usize::from(v6)]
            );
            for (e, what) in [
                (IpfEvent::Accepted, "accepted"),
                (IpfEvent::Completed, "completed"),
                (IpfEvent::Expired, "expired"),
                (IpfEvent::TooSmall, "too small"),
                (IpfEvent::Overlap, "overlapped"),
                (IpfEvent::Purged, "purged"),
            ] {
                let _ = writeln!(o, "        {name} frags {what}: {}", self.get(v6, e));
            }
        }
        let _ = writeln!(o, "        max frags per datagram: {}", self.per_datagram);
        let _ = writeln!(o, "        max bytes held: {}", self.max_bytes);
        let _ = writeln!(o, "        bytes held: {}", self.bytes);
        let _ = writeln!(o, "        timeout: {} ms", self.timeout_ms);
        for (v6, name) in [(false, "v4"), (true, "v6")] {
            for e in [
                IpfEvent::Invalid,
                IpfEvent::Oversize,
                IpfEvent::Full,
                IpfEvent::TooMany,
                IpfEvent::Disabled,
            ] {
                let _ = writeln!(o, "        {name} frags {}: {}", e.name(), self.get(v6, e));
            }
        }
        o
    }
}

#[cfg(test)]
mod tests;
