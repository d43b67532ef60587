//! Raw FFI bindings to DPDK, generated at build time by bindgen from the installed DPDK
//! (found with pkg-config), plus `brisk_*` wrappers for DPDK's static-inline functions.
//!
//! Nothing here is safe to call directly; `switch::dpdk` is the safe layer.

#![allow(non_upper_case_globals)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(dead_code)]
#![allow(clippy::all)]
#![allow(unsafe_op_in_unsafe_fn)]
#![allow(clippy::undocumented_unsafe_blocks)]
#![allow(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// The DPDK version the bindings were generated from.
pub const DPDK_VERSION: &str = env!("DPDK_VERSION");
