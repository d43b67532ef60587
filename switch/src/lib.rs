//! The brisk runtime: ports, poll-mode workers, control socket, statistics.
//!
//! With the `dpdk` feature (the default) packets live in DPDK mbufs and every DPDK ethdev
//! is a port; without it, packets live in brisk's own buffer pool ([`heap`]) and the ports
//! are brisk's kernel-socket ports ([`kernel`]: AF_PACKET rings and TAP), which the DPDK
//! build has too. The runtime ([`runtime`]) is the same code in both.

pub mod cpu;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod heap;
pub mod kernel;
pub mod logctl;
pub mod netdev;
pub mod pkt;
pub mod runtime;
pub mod signal;
