//! The safe DPDK layer: EAL, mempools, owned mbufs, ethdev ports, EAL-registered threads.
//!
//! Every `unsafe` call into DPDK lives in this module and says why it is sound. Callers get
//! owned values (`Mbuf` frees itself, `Mempool` refuses to free itself while mbufs are out)
//! and `Result`s whose errors name the DPDK call and `rte_errno`.

mod eal;
mod ethdev;
pub mod fwd;
mod mbuf;
mod mempool;

pub use eal::{
    launch_on_lcore, lcore_id, lcore_socket, lcores, main_lcore, rdtsc, register_thread, socket_id,
    tsc_hz, wait_lcore, Eal, LCORE_ID_ANY,
};
pub use ethdev::{available_ports, ring_pair, EthPort, LinkInfo, PortConf, PortStats};
pub use mbuf::{Mbuf, MbufBatch, BURST};
pub use mempool::Mempool;

use std::ffi::CStr;

/// An error from DPDK, naming the call that failed.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK call returned an error.
    #[error("{call} failed: {msg} (rte_errno {errno})")]
    Call {
        /// The DPDK function.
        call: &'static str,
        /// `rte_strerror` text.
        msg: String,
        /// Error number.
        errno: i32,
    },
    /// The EAL was already initialised in this process.
    #[error("the DPDK EAL can be initialised only once per process")]
    AlreadyInitialised,
    /// An argument could not be passed to DPDK (e.g. an interior NUL byte).
    #[error("invalid argument: {0}")]
    BadArgument(String),
    /// No such port.
    #[error("no DPDK port named {0:?}")]
    NoSuchPort(String),
}

/// Builds an error from a negative return value (DPDK returns `-errno`) or `rte_errno`.
pub(crate) fn err(call: &'static str, ret: i32) -> DpdkError {
    let errno = if ret < 0 {
        -ret
    } else {
        // SAFETY: reads the calling thread's rte_errno; no preconditions.
        unsafe { dpdk_sys::brisk_errno() }
    };
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
    // string valid until the next call on this thread; it is copied immediately.
    let msg = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }
        .to_string_lossy()
        .into_owned();
    DpdkError::Call { call, msg, errno }
}

/// DPDK's version string as linked at run time.
pub fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(dpdk_sys::brisk_version()) }
        .to_string_lossy()
        .into_owned()
}
