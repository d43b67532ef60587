//! Pure packet processing: no DPDK, no threads, no I/O.
