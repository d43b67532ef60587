//! The brisk runtime: ports, poll-mode workers, control socket, statistics.

#[cfg(feature = "dpdk")]
pub mod dpdk;
#[cfg(feature = "dpdk")]
pub mod runtime;
pub mod signal;
