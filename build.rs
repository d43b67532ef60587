//! Embeds build facts that `brisk --version` prints: version, git revision, DPDK version,
//! and the CPU features the code was compiled for.

use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    println!(
        "cargo:rustc-env=BRISK_GIT_REV={rev}{}",
        if dirty { "-dirty" } else { "" }
    );
    let dpdk = if std::env::var("CARGO_FEATURE_DPDK").is_ok() {
        pkg_config::Config::new()
            .cargo_metadata(false)
            .probe("libdpdk")
            .map(|l| l.version)
            .unwrap_or_else(|_| "not found".into())
    } else {
        "not linked (built without the dpdk feature)".into()
    };
    println!("cargo:rustc-env=BRISK_DPDK_VERSION={dpdk}");
    let feats = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let interesting: Vec<&str> = feats
        .split(',')
        .filter(|f| {
            matches!(
                *f,
                "sse4.2"
                    | "avx"
                    | "avx2"
                    | "avx512f"
                    | "bmi2"
                    | "popcnt"
                    | "aes"
                    | "pclmulqdq"
                    | "neon"
                    | "crc"
            )
        })
        .collect();
    println!(
        "cargo:rustc-env=BRISK_TARGET_FEATURES={}",
        if interesting.is_empty() {
            "baseline".to_string()
        } else {
            interesting.join(",")
        }
    );
    println!(
        "cargo:rustc-env=BRISK_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=build.rs");
}
