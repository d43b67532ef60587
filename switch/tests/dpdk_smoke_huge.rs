//! The same smoke path with hugepages, when the machine has them reserved.
#![cfg(feature = "dpdk")]

mod common_smoke;

fn free_hugepages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("HugePages_Free:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn one_million_packets_with_hugepages() {
    let free = free_hugepages();
    if free < 256 {
        eprintln!("SKIP: only {free} free hugepages (need 256 x 2 MB); run scripts/setup.sh");
        return;
    }
    let prefix = format!("--file-prefix=brisk-smoke-huge-{}", std::process::id());
    common_smoke::smoke(
        &[
            "--in-memory",
            "-m",
            "512",
            "--no-pci",
            &prefix,
            "--log-level=warning",
            "-l",
            "0",
        ],
        1_000_000,
    );
}
