//! Benchmarks and traffic generation for brisk.
//!
//! `benches/` holds the criterion suite (one file per stage). This library has what the
//! benches share: the seed pipeline and packet makers.

use pipeline::bridge::Bridge;
use pipeline::conntrack::ConntrackConfig;

/// The text of a seed node's flows.
pub fn seed_flows(node: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../testdata/antrea-seed/{node}.flows",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("seed flows")
}

/// A seed node's bridge with its flows loaded.
pub fn seed_bridge(node: &str, ct: ConntrackConfig) -> Bridge {
    pipeline::seed::bridge(node, &seed_flows(node), ct)
}

/// TSC cycles per nanosecond, measured once (for reporting cycles/packet next to ns).
#[cfg(target_arch = "x86_64")]
pub fn cycles_per_ns() -> f64 {
    use std::time::Instant;
    // SAFETY: rdtsc has no preconditions on x86_64.
    let t0 = unsafe { core::arch::x86_64::_rdtsc() };
    let i0 = Instant::now();
    while i0.elapsed().as_millis() < 50 {}
    // SAFETY: as above.
    let t1 = unsafe { core::arch::x86_64::_rdtsc() };
    (t1 - t0) as f64 / i0.elapsed().as_nanos() as f64
}

/// TSC cycles per nanosecond (non-x86: assume 1).
#[cfg(not(target_arch = "x86_64"))]
pub fn cycles_per_ns() -> f64 {
    1.0
}
pub mod attack;
pub mod burst;
pub mod gen;
pub mod pcap;
pub mod traffic;
