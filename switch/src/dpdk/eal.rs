//! EAL initialisation and lcores.

use super::{err, DpdkError};
use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

/// `rte_lcore_id()` of a thread that is not an EAL thread.
pub const LCORE_ID_ANY: u32 = u32::MAX;

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Proof that the EAL is initialised. There is at most one per process.
#[derive(Debug)]
pub struct Eal {
    /// Number of arguments EAL consumed.
    pub consumed: usize,
}

impl Eal {
    /// Initialises the EAL with `args`, passed verbatim (the first is the program name, as
    /// in `argv[0]`). Fails if called twice in one process.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialised);
        }
        let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
        if args.is_empty() {
            owned.push(CString::new("brisk").expect("no NUL"));
        }
        for a in args {
            owned.push(
                CString::new(a.as_str()).map_err(|_| {
                    DpdkError::BadArgument(format!("EAL argument {a:?} contains NUL"))
                })?,
            );
        }
        // EAL may permute argv; give it its own array of pointers to our strings, which
        // stay alive for the process (EAL keeps references to some of them).
        let owned = Box::leak(owned.into_boxed_slice());
        let mut argv: Vec<*mut std::ffi::c_char> = owned
            .iter()
            .map(|c| c.as_ptr() as *mut std::ffi::c_char)
            .collect();
        argv.push(std::ptr::null_mut());
        let argv = Box::leak(argv.into_boxed_slice());
        let argc = (argv.len() - 1) as i32;
        // SAFETY: argv is a NULL-terminated array of `argc` valid C strings that live for
        // the rest of the process; rte_eal_init is called at most once (guarded above).
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            INITIALISED.store(false, Ordering::SeqCst);
            return Err(err("rte_eal_init", -1));
        }
        Ok(Eal {
            consumed: ret as usize,
        })
    }

    /// Releases EAL resources. Every port and mempool must have been dropped first.
    pub fn cleanup(self) -> Result<(), DpdkError> {
        // SAFETY: consumes the only Eal; the caller has released DPDK objects.
        let ret = unsafe { dpdk_sys::rte_eal_cleanup() };
        if ret < 0 {
            return Err(err("rte_eal_cleanup", ret));
        }
        Ok(())
    }
}

/// The calling thread's lcore id, or [`LCORE_ID_ANY`] for non-EAL threads.
#[inline]
pub fn lcore_id() -> u32 {
    // SAFETY: reads a per-thread variable; no preconditions.
    unsafe { dpdk_sys::brisk_lcore_id() }
}

/// The NUMA socket of the calling thread.
pub fn socket_id() -> u32 {
    // SAFETY: no preconditions.
    unsafe { dpdk_sys::brisk_socket_id() }
}

/// The NUMA socket of an lcore.
pub fn lcore_socket(lcore: u32) -> i32 {
    // SAFETY: no preconditions; an unknown lcore gives SOCKET_ID_ANY's bit pattern.
    unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) as i32 }
}

/// The main lcore.
pub fn main_lcore() -> u32 {
    // SAFETY: valid after EAL init; returns an index.
    unsafe { dpdk_sys::rte_get_main_lcore() }
}

/// Enabled lcores, main first.
pub fn lcores() -> Vec<u32> {
    let mut v = Vec::new();
    // SAFETY: iterates EAL's lcore table; -1 start means "from the beginning".
    let mut i = unsafe { dpdk_sys::rte_get_next_lcore(u32::MAX, 0, 0) };
    while i < dpdk_sys::RTE_MAX_LCORE {
        v.push(i);
        // SAFETY: as above.
        i = unsafe { dpdk_sys::rte_get_next_lcore(i, 0, 0) };
    }
    v
}

/// Timestamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the TSC; no preconditions.
    unsafe { dpdk_sys::brisk_rdtsc() }
}

/// TSC ticks per second.
pub fn tsc_hz() -> u64 {
    // SAFETY: no preconditions after EAL init.
    unsafe { dpdk_sys::brisk_get_tsc_hz() }
}

/// Registers the calling non-EAL thread with EAL (so it gets an lcore id and per-lcore
/// mempool caches).
pub fn register_thread() -> Result<u32, DpdkError> {
    // SAFETY: registers the calling thread; EAL must be initialised, which callers of
    // this layer guarantee by holding an `Eal`.
    let ret = unsafe { dpdk_sys::rte_thread_register() };
    if ret < 0 {
        return Err(err("rte_thread_register", -1));
    }
    Ok(lcore_id())
}

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

unsafe extern "C" fn trampoline(arg: *mut c_void) -> i32 {
    // SAFETY: `arg` is the Box<Job> leaked by launch_on_lcore, reclaimed exactly once here.
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
        Ok(code) => code,
        Err(_) => {
            tracing::error!(lcore = lcore_id(), "worker panicked");
            -1
        }
    }
}

/// Runs `f` on worker lcore `lcore` (an EAL thread). Panics are caught and reported as
/// return code -1 by [`wait_lcore`].
pub fn launch_on_lcore(
    lcore: u32,
    f: impl FnOnce() -> i32 + Send + 'static,
) -> Result<(), DpdkError> {
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job) as *mut c_void;
    // SAFETY: trampoline matches lcore_function_t; arg ownership passes to the trampoline
    // on success and is reclaimed below on failure.
    let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if ret < 0 {
        // SAFETY: the launch failed, so the trampoline will never run: reclaim the job.
        drop(unsafe { Box::from_raw(arg as *mut Job) });
        return Err(err("rte_eal_remote_launch", ret));
    }
    Ok(())
}

/// Waits for the job on `lcore` and returns its code.
pub fn wait_lcore(lcore: u32) -> i32 {
    // SAFETY: waits on an lcore index; EAL validates it.
    unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) }
}
