#!/usr/bin/env bash
# The demo: brisk forwarding between two DPDK ports (net_null vdevs: a real PMD that
# produces and absorbs packets at full speed), per-port counters every second.
# Stops after DEMO_SECONDS (default 10) or on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
MEM=${1:-$(./scripts/hugepages.sh)}
SECS=${DEMO_SECONDS:-10}
echo "== demo: brisk run --duration $SECS -- -l 0 $MEM --no-pci --vdev=net_null0 --vdev=net_null1"
# shellcheck disable=SC2086
exec ./target/release/brisk run --duration "$SECS" -- -l 0 $MEM --no-pci --no-telemetry \
    --file-prefix="brisk-demo-$$" --log-level=warning --vdev=net_null0 --vdev=net_null1
