//! Meters (OpenFlow 1.3+): token buckets with drop bands, run the way OVS's userspace
//! datapath runs them (`dp_netdev_run_meter`), so a meter drops what OVS's would.
//!
//! Each band's bucket holds thousandths of a packet (`pktps`) or bits (`kbps`), is refilled
//! by `rate` per millisecond elapsed up to `burst_size * 1000`, and starts full. A group of
//! packets that share a megaflow takes its tokens from each band with one atomic
//! operation; only when a band runs short are the packets taken one by one, and a packet
//! that some band cannot pay for is dropped (counted on the band with the highest rate it
//! exceeded). Workers share a meter through atomics, never a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Meter flags (`OFPMF_*`).
pub mod flags {
    /// Rates in kilobits per second.
    pub const KBPS: u16 = 1;
    /// Rates in packets per second.
    pub const PKTPS: u16 = 2;
    /// Bands have a burst size.
    pub const BURST: u16 = 4;
    /// Keep statistics.
    pub const STATS: u16 = 8;
}

/// Meters a bridge may hold (what OVS's userspace datapath reports).
pub const MAX_METERS: u32 = 262_144;
/// Bands one meter may have.
pub const MAX_BANDS: usize = 8;
/// The highest meter id a controller may use (`OFPM_MAX`).
pub const METER_ID_MAX: u32 = 0xffff_0000;

/// A drop band: above `rate`, packets are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeterBand {
    /// kbit/s or packets/s.
    pub rate: u32,
    /// kbits or packets (0: as given, none).
    pub burst_size: u32,
}

/// A meter as configured (meter-mod, `add-meter`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterConfig {
    /// Meter id (1..=`METER_ID_MAX`).
    pub id: u32,
    /// [`flags`].
    pub flags: u16,
    /// Drop bands.
    pub bands: Vec<MeterBand>,
}

struct BandState {
    rate: u64,
    /// Bucket size, in thousandths of a packet or bits.
    size: u64,
    bucket: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

/// A meter in the datapath: its buckets and counters.
pub struct Meter {
    /// The configuration it was made from.
    pub config: MeterConfig,
    /// When it was made (ms, the caller's clock).
    pub created_ms: u64,
    pktps: bool,
    /// Last refill (ms).
    used_ms: AtomicU64,
    /// Longest refill interval worth counting (fills every bucket).
    max_delta_ms: u64,
    bands: Vec<BandState>,
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Meter({:?})", self.config)
    }
}

/// A meter's counters (`meter-stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterStats {
    /// Packets that met it.
    pub packets_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Per band: packets and bytes it dropped.
    pub bands: Vec<(u64, u64)>,
}

/// Subtracts `v` from `a` if that leaves it at least 0; false (unchanged) otherwise.
fn bound_sub(a: &AtomicU64, v: u64) -> bool {
    a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| x.checked_sub(v))
        .is_ok()
}

/// Adds `v` to `a` without passing `max`.
fn sat_add(a: &AtomicU64, v: u64, max: u64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| {
        Some(x.saturating_add(v).min(max))
    });
}

impl Meter {
    /// A meter with full buckets (a band without a burst size gets one second's worth:
    /// `rate`, as OVS gives it).
    pub fn new(config: MeterConfig, now_ms: u64) -> Meter {
        let bands: Vec<BandState> = config
            .bands
            .iter()
            .map(|b| {
                let burst = if b.burst_size == 0 {
                    b.rate
                } else {
                    b.burst_size
                };
                let size = u64::from(burst) * 1000;
                BandState {
                    rate: u64::from(b.rate),
                    size,
                    bucket: AtomicU64::new(size),
                    packets: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                }
            })
            .collect();
        let max_delta_ms = bands
            .iter()
            .map(|b| b.size / b.rate.max(1))
            .max()
            .unwrap_or(0);
        Meter {
            pktps: config.flags & flags::PKTPS != 0,
            config,
            created_ms: now_ms,
            used_ms: AtomicU64::new(now_ms),
            max_delta_ms,
            bands,
            packets_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
        }
    }

    /// Refills the buckets for the time since the last packets (once per instant, whichever
    /// worker comes first).
    fn refill(&self, now_ms: u64) {
        let mut used = self.used_ms.load(Ordering::Relaxed);
        loop {
            if used >= now_ms {
                return;
            }
            match self.used_ms.compare_exchange_weak(
                used,
                now_ms,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(u) => used = u,
            }
        }
        let delta = (now_ms - used).min(self.max_delta_ms);
        for b in &self.bands {
            sat_add(&b.bucket, delta.saturating_mul(b.rate), b.size);
        }
    }

    fn volume(&self, bytes: u32) -> u64 {
        if self.pktps {
            1000
        } else {
            u64::from(bytes) * 8
        }
    }

    /// Meters packets of these sizes (bytes) that arrive together; returns a bit set per
    /// packet that is dropped (bit `k` for `sizes[k]`, at most 64 packets).
    pub fn run(&self, now_ms: u64, sizes: &[u32]) -> u64 {
        debug_assert!(sizes.len() <= 64);
        self.refill(now_ms);
        let n = sizes.len() as u64;
        let bytes: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
        self.packets_in.fetch_add(n, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        let volume = if self.pktps { n * 1000 } else { bytes * 8 };
        // Each band pays for the whole group at once if it can.
        let mut short = 0u32;
        for (k, b) in self.bands.iter().enumerate() {
            if !bound_sub(&b.bucket, volume) {
                short |= 1 << k;
            }
        }
        if short == 0 {
            return 0;
        }
        let mut dropped = 0u64;
        for (i, &size) in sizes.iter().enumerate() {
            let v = self.volume(size);
            let mut fired: Option<usize> = None;
            for (k, b) in self.bands.iter().enumerate() {
                if short & (1 << k) != 0
                    && !bound_sub(&b.bucket, v)
                    && fired.is_none_or(|f| b.rate > self.bands[f].rate)
                {
                    fired = Some(k);
                }
            }
            if let Some(k) = fired {
                let b = &self.bands[k];
                b.packets.fetch_add(1, Ordering::Relaxed);
                b.bytes.fetch_add(u64::from(size), Ordering::Relaxed);
                dropped |= 1 << i;
            }
        }
        dropped
    }

    /// Its counters now.
    pub fn stats(&self) -> MeterStats {
        MeterStats {
            packets_in: self.packets_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bands: self
                .bands
                .iter()
                .map(|b| {
                    (
                        b.packets.load(Ordering::Relaxed),
                        b.bytes.load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }
}

/// A datapath action's handle on a meter: compared and hashed by the meter it points to.
#[derive(Clone, Debug)]
pub struct MeterRef(pub std::sync::Arc<Meter>);

impl PartialEq for MeterRef {
    fn eq(&self, o: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &o.0)
    }
}

impl Eq for MeterRef {}

impl std::hash::Hash for MeterRef {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (std::sync::Arc::as_ptr(&self.0) as usize).hash(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(flags: u16, bands: &[(u32, u32)]) -> Meter {
        Meter::new(
            MeterConfig {
                id: 1,
                flags,
                bands: bands
                    .iter()
                    .map(|&(rate, burst_size)| MeterBand { rate, burst_size })
                    .collect(),
            },
            0,
        )
    }

    /// Offers `pps` packets/s of `size` bytes for `secs`, in groups of `group` per ms
    /// tick; returns the packets let through.
    fn offer(m: &Meter, pps: u64, size: u32, secs: u64, group: usize) -> u64 {
        let per_ms = pps / 1000;
        let mut passed = 0;
        for ms in 1..=secs * 1000 {
            let mut left = per_ms as usize;
            while left > 0 {
                let n = left.min(group);
                let dropped = m.run(ms, &vec![size; n]);
                passed += n as u64 - u64::from(dropped.count_ones());
                left -= n;
            }
        }
        passed
    }

    #[test]
    fn a_pktps_band_passes_its_rate_plus_its_burst() {
        // 10,000 packets/s offered to a 1,000 pps band with a burst of 100 packets.
        let m = meter(flags::PKTPS | flags::BURST, &[(1000, 100)]);
        let passed = offer(&m, 10_000, 64, 10, 32);
        assert!((10_000..=10_100 + 10).contains(&passed), "{passed}");
        let s = m.stats();
        assert_eq!(s.packets_in, 100_000);
        assert_eq!(s.bands[0].0, 100_000 - passed);
        assert_eq!(s.bands[0].1, (100_000 - passed) * 64);
    }

    #[test]
    fn a_kbps_band_counts_bits() {
        // 1,000 kbit/s = 125,000 bytes/s: 1,000-byte packets at 1,000/s pass 125/s.
        let m = meter(flags::KBPS, &[(1000, 0)]);
        let passed = offer(&m, 1000, 1000, 20, 1);
        // The bucket starts with one second (1,000 kbits: 125 packets).
        assert!((20 * 125..=21 * 125 + 2).contains(&passed), "{passed}");
    }

    #[test]
    fn under_the_rate_nothing_is_dropped_and_a_group_pays_at_once() {
        let m = meter(flags::PKTPS, &[(100_000, 0)]);
        assert_eq!(offer(&m, 50_000, 64, 5, 32), 250_000);
        assert_eq!(m.stats().bands[0], (0, 0));
    }

    #[test]
    fn a_packet_is_counted_on_the_highest_rate_band_it_exceeds() {
        let m = meter(flags::PKTPS | flags::BURST, &[(10, 10), (20, 20)]);
        // Both buckets are full: the first 10 pass; the next 10 exceed band 0 only (band 1
        // still pays); then both are short: counted on band 1, the higher rate.
        let dropped = m.run(0, &[100; 30]);
        assert_eq!(dropped.count_ones(), 20);
        assert_eq!(dropped & 0x3ff, 0);
        let s = m.stats();
        assert_eq!((s.bands[0].0, s.bands[1].0), (10, 10));
    }

    #[test]
    fn workers_share_a_meter_without_losing_tokens() {
        let m = std::sync::Arc::new(meter(flags::PKTPS | flags::BURST, &[(1000, 1000)]));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| 32 - u64::from(m.run(0, &[64; 32]).count_ones()))
                        .sum::<u64>()
                })
            })
            .collect();
        let passed: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // A full bucket of 1,000 packets at one instant: exactly 1,000 pass.
        assert_eq!(passed, 1000);
    }
}
