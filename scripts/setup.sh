#!/usr/bin/env bash
# README command 1: install what is missing, reserve hugepages, build brisk in release
# mode, and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
MEM=$(./scripts/hugepages.sh)
echo "== building brisk (release)"
cargo build --release
./target/release/brisk --version
exec ./scripts/demo.sh "$MEM"
