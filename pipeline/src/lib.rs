//! Pure packet processing for brisk: no DPDK, no threads, no I/O.
//!
//! Everything here runs on a byte buffer, so every behaviour of the switch's datapath can be
//! unit-tested without hardware.

#[macro_use]
pub mod reasons;
pub mod bridge;
pub mod build;
pub mod classifier;
pub mod ct;
pub mod field;
pub mod flow;
pub mod ofctl;
pub mod packet;
pub mod tables;
pub use ct as conntrack;
pub mod dpaction;
pub mod fastpath;
pub mod geneve;
pub mod ipf;
pub mod meter;
pub mod odp;
/// The seed cluster's topology, walks and property-test helpers: test scaffolding, built
/// only for tests and with the `testing` feature (tests, benches, brisk-gen).
#[cfg(any(test, feature = "testing"))]
pub mod seed;
pub mod slowpath;
mod trace_text;
pub mod tunnel;
pub mod underlay;
pub mod wire;
pub mod xlate;
