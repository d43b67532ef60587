#!/usr/bin/env bash
# README command 2 (and what CI runs): install the same dependencies, then check formatting,
# lints and every test of the workspace.
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
echo "== cargo test --workspace"
cargo test --workspace
echo "== all checks passed in $(( $(date +%s) - start )) s"
