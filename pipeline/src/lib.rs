//! Pure packet processing for brisk: no DPDK, no threads, no I/O.
//!
//! Everything here runs on a byte buffer, so every behaviour of the switch's datapath can be
//! unit-tested without hardware.

pub mod field;
pub mod flow;
pub mod ofctl;
pub mod build;
pub mod packet;
pub mod classifier;
pub mod tables;
