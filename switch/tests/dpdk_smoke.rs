//! EAL in-process without hugepages, two ring ports, 1,000,000 packets.
#![cfg(feature = "dpdk")]

mod common_smoke;

#[test]
fn one_million_packets_without_hugepages() {
    let prefix = format!("--file-prefix=brisk-smoke-{}", std::process::id());
    common_smoke::smoke(
        &[
            "--no-huge",
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
