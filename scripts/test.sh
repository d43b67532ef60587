#!/usr/bin/env bash
# README command 2 (and what CI runs): install the same dependencies, then check formatting,
# lints and every test of the workspace, with DPDK and (the switch crate and the two-node
# demo) without it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
./scripts/hugepages.sh >/dev/null || true
start=$(date +%s)
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo clippy without DPDK (brisk's own AF_PACKET and TAP ports)"
cargo clippy -p brisk -p switch --no-default-features --all-targets -- -D warnings
echo "== cargo test --workspace"
cargo test --workspace
echo "== cargo test -p switch without DPDK"
cargo test -p switch --no-default-features
echo "== all checks passed in $(( $(date +%s) - start )) s"
