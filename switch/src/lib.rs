//! The brisk runtime: ports, poll-mode workers, control socket, statistics.

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod signal;
