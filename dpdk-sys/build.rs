//! Generates DPDK bindings with bindgen and compiles the static-inline wrappers.

use std::path::PathBuf;

const HELP: &str = "brisk needs DPDK >= 22.11 and libclang to build. On Debian/Ubuntu:\n\
    \n    apt-get install libdpdk-dev dpdk clang libclang-dev pkg-config\n\n\
    (or run ./scripts/setup.sh, which does that). To build without DPDK, use \
    `cargo build --no-default-features`.";

fn fail(why: &str) -> ! {
    eprintln!("\nerror: {why}\n\n{HELP}\n");
    println!("cargo:warning={why}. {}", HELP.replace('\n', " "));
    std::process::exit(1);
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-changed=csrc/wrapper.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let lib = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(l) => l,
        Err(e) => {
            let detail = e.to_string();
            let last = detail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            fail(&format!(
                "DPDK >= 22.11 (pkg-config package libdpdk) was not found: {last}"
            ))
        }
    };
    // DPDK's own compile flags (include paths, `-include rte_config.h`, -march).
    let cflags = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let cflags: Vec<String> = cflags.split_whitespace().map(str::to_string).collect();

    let mut cc = cc::Build::new();
    cc.file("csrc/wrapper.c")
        .include("csrc")
        .opt_level(3)
        .warnings(false);
    for inc in &lib.include_paths {
        cc.include(inc);
    }
    let mut i = 0;
    while i < cflags.len() {
        let f = &cflags[i];
        if f == "-include" && i + 1 < cflags.len() {
            cc.flag("-include").flag(&cflags[i + 1]);
            i += 2;
            continue;
        }
        if f.starts_with("-march") || f.starts_with("-m") {
            cc.flag(f);
        }
        i += 1;
    }
    cc.compile("brisk_dpdk_wrapper");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut b = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(cflags.iter())
        .allowlist_function("rte_.*")
        .allowlist_function("brisk_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("rte_.*")
        .opaque_type("rte_gtp_psc.*")
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_arp_.*")
        .derive_debug(false)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .size_t_is_usize(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for inc in &lib.include_paths {
        b = b.clang_arg(format!("-I{}", inc.display()));
    }
    let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || b.generate()));
    let bindings = match generated {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => fail(&format!("bindgen could not process DPDK's headers: {e}")),
        Err(_) => fail("bindgen failed (libclang missing?)"),
    };
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings");
    // Symbols outside libdpdk.pc's list that brisk calls directly: rte_eth_from_rings
    // (net_ring PMD) and rte_vdev_uninit (vdev bus). EAL's plugin loader sees the same
    // sonames already loaded and does not load them twice.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");
    println!("cargo:version={}", lib.version);
    println!("cargo:rustc-env=DPDK_VERSION={}", lib.version);
}
