#!/usr/bin/env bash
# Soak: brisk at full rate for a long time, watching its memory. brisk runs the worker1 seed
# pipeline (conntrack on) between two vhost-user ports on one worker core; brisk-gen (the
# vhost-user servers) opens TCP connections from the frontend pod to backend1:80 with real
# handshakes and sends data as fast as it can, checking every frame that comes back.
# Every 30 s the script records brisk's RSS (/proc/PID/status VmRSS) and the packet
# buffers in use (`brisk ctl mempool`); at the end it prints both series, the generator's
# report and whether the switch stopped with every mbuf back.
#
#   perf/soak.sh [--minutes 10] [--flows 1000] [--no-huge]
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=10
FLOWS=1000
HUGE=1
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --no-huge) HUGE=0; shift ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "soak: needs root" >&2; exit 1; }
[ -x target/release/brisk ] && [ -x target/release/brisk-gen ] ||
  cargo build --release -p brisk -p perf --bins
BRISK=$PWD/target/release/brisk
GEN=$PWD/target/release/brisk-gen
D=$(mktemp -d /tmp/brisk-soak.XXXXXX)
SW=""
GP=""
cleanup() {
  set +e
  [ -n "$GP" ] && kill -9 "$GP" 2>/dev/null
  [ -n "$SW" ] && kill -9 "$SW" 2>/dev/null
  wait 2>/dev/null
  rm -f /dev/hugepages/soak-* 2>/dev/null
  [ -n "${SOAK_KEEP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT
MEM=(--single-file-segments --no-pci --no-telemetry --log-level=warning)
if [ "$HUGE" = 0 ]; then MEM+=(--no-huge); fi

# shellcheck source=perf/worker1-bridge.sh
. perf/worker1-bridge.sh
worker1_bridge $'workers: [1]\nconntrack_max: 4000000' "net_null_gw,no-rx=1" "net_null_d,no-rx=1" \
  "net_null_o,no-rx=1" "net_vhost1,iface=$D/be.sock,client=1,queues=1" \
  "net_vhost0,iface=$D/fe.sock,client=1,queues=1" "net_null_u,no-rx=1" \
  "$PWD/testdata/antrea-seed/worker1.flows" >"$D/bridge.yaml"

SECS=$((MINUTES * 60))
"$GEN" run --preset antrea-tcp --flows "$FLOWS" --size 128 --duration "$SECS" --warmup 2 \
  --wait-link 60 --json "$D/gen.json" \
  --port "net_virtio_user0,path=$D/fe.sock,server=1,queues=1,queue_size=1024" \
  --port "net_virtio_user1,path=$D/be.sock,server=1,queues=1,queue_size=1024" \
  -- -l 0 -m 512 "${MEM[@]}" --file-prefix soak-gen >"$D/gen.log" 2>&1 &
GP=$!
for _ in $(seq 300); do [ -S "$D/fe.sock" ] && break; sleep 0.1; done
"$BRISK" run --bridge "$D/bridge.yaml" --socket "$D/ctl.sock" -- -l 0,1 --main-lcore 0 -m 1024 \
  "${MEM[@]}" --file-prefix soak-sw >"$D/switch.log" 2>&1 &
SW=$!
for _ in $(seq 600); do grep -q "ports up" "$D/gen.log" 2>/dev/null && break; sleep 0.1; done
ctl() { "$BRISK" ctl --socket "$D/ctl.sock" "$@"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$SW/status" 2>/dev/null || echo -; }
inuse() { ctl mempool 2>/dev/null | awk '{s += $(NF - 2)} END {print s}' || echo -; }
echo "soak: $MINUTES min, $FLOWS TCP connections frontend -> backend1:80, brisk pid $SW"
printf '%8s %12s %14s %12s\n' "t (s)" "RSS (kB)" "mbufs in use" "Mpps (gen)"
start=$(date +%s)
while kill -0 "$GP" 2>/dev/null; do
  t=$(( $(date +%s) - start ))
  mpps=$(grep -o 'rx *[0-9.]* Mpps' "$D/gen.log" | tail -1 | awk '{print $2}' || true)
  printf '%8d %12s %14s %12s\n' "$t" "$(rss)" "$(inuse)" "${mpps:--}"
  for _ in $(seq 30); do kill -0 "$GP" 2>/dev/null || break; sleep 1; done
done
GP=""
printf '%8s %12s %14s\n' "end" "$(rss)" "$(inuse)"
grep 'brisk-gen: ' "$D/gen.log" | grep -v 'computing' | sed 's/^/soak: /'
ctl drop-stats | sed -n '1,14p' | sed 's/^/soak: /'
kill -TERM "$SW"
wait "$SW" || true
SW=""
grep -h 'stopped' "$D/switch.log" | sed 's/^/soak: /'
