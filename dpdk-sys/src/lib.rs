//! DPDK FFI.
