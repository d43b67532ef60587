//! Cycle counting and worker placement: DPDK's TSC and lcores in the DPDK build; the TSC
//! (calibrated once) and pinned threads without it.

/// A cycle counter for busy/idle accounting.
#[cfg(feature = "dpdk")]
pub fn cycles() -> u64 {
    crate::dpdk::rdtsc()
}

/// Cycles per second of [`cycles`].
#[cfg(feature = "dpdk")]
pub fn cycles_hz() -> u64 {
    crate::dpdk::tsc_hz()
}

/// A cycle counter for busy/idle accounting.
#[cfg(all(not(feature = "dpdk"), target_arch = "x86_64"))]
pub fn cycles() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// A cycle counter for busy/idle accounting (nanoseconds where there is no TSC).
#[cfg(all(not(feature = "dpdk"), not(target_arch = "x86_64")))]
pub fn cycles() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Cycles per second of [`cycles`], measured once against the monotonic clock.
#[cfg(not(feature = "dpdk"))]
pub fn cycles_hz() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1_000_000_000;
        }
        let (t0, c0) = (std::time::Instant::now(), cycles());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (dt, dc) = (t0.elapsed().as_secs_f64(), cycles() - c0);
        (dc as f64 / dt) as u64
    })
}

/// Binds the calling thread to one CPU (a worker of the build without DPDK, whose
/// `workers:` list names CPUs as DPDK's names lcores).
pub fn pin_to_cpu(cpu: u32) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu as usize >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu is inside the set (checked above).
    unsafe { libc::CPU_SET(cpu as usize, &mut set) };
    // SAFETY: set is a valid cpu_set_t of the size passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The CPU the calling thread runs on now.
pub fn current_cpu() -> u32 {
    // SAFETY: no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    c.max(0) as u32
}

/// The CPUs this process may run on (its affinity mask, which cpusets and `taskset`
/// narrow).
pub fn allowed_cpus() -> Vec<u32> {
    // SAFETY: cpu_set_t is plain data; zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a writable cpu_set_t of the size passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc < 0 {
        return Vec::new();
    }
    (0..8 * std::mem::size_of::<libc::cpu_set_t>() as u32)
        // SAFETY: every index is inside the set.
        .filter(|&c| unsafe { libc::CPU_ISSET(c as usize, &set) })
        .collect()
}
