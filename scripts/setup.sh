#!/usr/bin/env bash
# README command 1: install what is missing, reserve hugepages, build brisk in release
# mode, and run the demo: two brisk nodes from conf/examples/ with pods in network
# namespaces and the seed's traffic across the Geneve tunnel (scripts/demo-nodes.sh).
# DEMO=io runs the single-port-pair forwarding demo instead (scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
MEM=$(./scripts/hugepages.sh)
echo "== building brisk (release)"
cargo build --release
./target/release/brisk --version
if [ "${DEMO:-nodes}" = io ]; then
    exec ./scripts/demo.sh "$MEM"
fi
exec ./scripts/demo-nodes.sh
