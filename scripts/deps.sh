#!/usr/bin/env bash
# Installs what brisk needs to build and test on Debian 12 / Ubuntu 22.04+ (idempotent).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
        echo "deps: need root (or sudo) to install packages" >&2; exit 1; fi
fi

PKGS=(libdpdk-dev dpdk dpdk-dev clang libclang-dev pkg-config gcc make git curl ca-certificates
      iproute2 iputils-ping python3 ethtool iptables openvswitch-switch tshark)
missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# An OpenFlow controller nobody here wrote, for the OpenFlow tests.
if ! python3 -c "import os_ken" 2>/dev/null; then
    echo "deps: installing os-ken (PyPI)"
    python3 -m pip install -q os-ken || echo "deps: os-ken not installed; its OpenFlow test will be skipped" >&2
fi

if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "deps: installing the Rust toolchain with rustup"
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
