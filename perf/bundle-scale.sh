#!/usr/bin/env bash
# OpenFlow at Antrea's scale: one bundle of PODS*8 flow-mods (perf/scale-flows.py: ~160,000
# for 20,000 pods) sent by Debian's `ovs-ofctl --bundle add-flows` to brisk's management
# socket while the worker1 seed pipeline forwards established UDP between frontend and
# coredns: brisk-gen on two vhost-user ports (as perf/rig.sh wires them) sends both
# directions at a fixed rate and checks every frame that comes back against what the seed
# flows deliver, so a frame lost or misdelivered across the commit is counted. Reports the
# commit time (brisk's log), the whole command's time, brisk-gen's loss and unexpected
# frames (and its per-second receive rate around the commit), `ovs-ofctl dump-flows` of the
# full table, and brisk's memory for it.
#
#   perf/bundle-scale.sh [--brisk PATH] [--gen PATH] [--pods N] [--rate MPPS] [--control]
#
# --control: the same run with the bundle replaced by a CPU hog of the same length (the
# `ovs-ofctl` process parsing the file and brisk's thread decoding it compete with the two
# busy-polling cores): what is lost then is the machine's, not the commit's.
#
# Needs root (hugepages for the vhost-user ports). brisk's worker has lcore 1, brisk-gen
# lcore 0; `ovs-ofctl` and brisk's OpenFlow thread share the two cores with them.
set -euo pipefail
cd "$(dirname "$0")/.."
BRISK=target/release/brisk
GEN=target/release/brisk-gen
PODS=20000
RATE=0.2
SECS=12
CONTROL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --brisk) BRISK=$2; shift 2 ;;
    --gen) GEN=$2; shift 2 ;;
    --pods) PODS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --control) CONTROL=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
rm -f /dev/hugepages/scale-* 2>/dev/null || true
[ "$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)" -ge 2048 ] || echo 2048 >/proc/sys/vm/nr_hugepages
mount | grep -q hugetlbfs || { mkdir -p /dev/hugepages; mount -t hugetlbfs none /dev/hugepages; }
D=$(mktemp -d /tmp/brisk-scale.XXXXXX)
PID=""; GPID=""
cleanup() {
  for p in $GPID $PID; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in $GPID $PID; do kill -9 "$p" 2>/dev/null || true; done
  rm -f /dev/hugepages/scale-* 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
python3 perf/scale-flows.py "$PODS" > "$D/scale.flows"
FE_SOCK=$D/fe.sock; DNS_SOCK=$D/dns.sock
MEM="--single-file-segments --no-pci --no-telemetry --log-level=warning"
# shellcheck disable=SC2086
"$GEN" run --preset antrea-udp --flows 100 --size 64 --rate "$RATE" --duration "$SECS" --warmup 2 \
  --wait-link 60 --json "$D/gen.json" \
  --port "net_virtio_user0,path=$FE_SOCK,server=1,queues=1,queue_size=1024" \
  --port "net_virtio_user1,path=$DNS_SOCK,server=1,queues=1,queue_size=1024" \
  -- -l 0 -m 512 $MEM --file-prefix scale-gen >"$D/gen.log" 2>&1 &
GPID=$!
for _ in $(seq 600); do [ -S "$FE_SOCK" ] && break; kill -0 $GPID 2>/dev/null || break; sleep 0.1; done
[ -S "$FE_SOCK" ] || { echo "brisk-gen did not start:" >&2; cat "$D/gen.log" >&2; exit 1; }
# shellcheck source=perf/worker1-bridge.sh
. perf/worker1-bridge.sh
worker1_bridge "workers: [1]" "net_null_gw,no-rx=1" "net_vhost1,iface=$DNS_SOCK,client=1,queues=1" \
  "net_null_o,no-rx=1" "net_null_b,no-rx=1" "net_vhost0,iface=$FE_SOCK,client=1,queues=1" \
  "net_null_u,no-rx=1" "$PWD/testdata/antrea-seed/worker1.flows" >"$D/bridge.yaml"
# shellcheck disable=SC2086
"$BRISK" run --bridge "$D/bridge.yaml" --socket "$D/brisk.sock" --stats-interval 0 -- \
  -l 0,1 --main-lcore 0 -m 1024 $MEM --file-prefix scale-brisk >"$D/run.log" 2>&1 &
PID=$!
for _ in $(seq 600); do grep -q "ports up" "$D/gen.log" && break; kill -0 $GPID 2>/dev/null || break; sleep 0.1; done
grep -q "ports up" "$D/gen.log" || { echo "brisk never connected to brisk-gen:" >&2; cat "$D/run.log" "$D/gen.log" >&2; exit 1; }
# Warmup (2 s) and 3 s of measured traffic before the bundle.
sleep 5
OF="unix:$D/br-int.mgmt"
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
RSS0=$(rss)
DROP0=$("$BRISK" ctl --socket "$D/brisk.sock" dump-ports | awk '/tx pkts=/ {sub(".*drop=", ""); sub(",.*", ""); s+=$0} END {print s+0}')
T0=$(date +%s.%N)
if [ "$CONTROL" = 1 ]; then
  timeout 3.4 sh -c 'while :; do :; done' || true
else
  ovs-ofctl -O OpenFlow15 --bundle add-flows "$OF" "$D/scale.flows" 2>/dev/null
fi
T1=$(date +%s.%N)
RSS1=$(rss)
# The rest of the measurement, then brisk-gen's verdict over all of it.
wait $GPID || { echo "brisk-gen failed:" >&2; cat "$D/gen.log" >&2; exit 1; }
DROP1=$("$BRISK" ctl --socket "$D/brisk.sock" dump-ports | awk '/tx pkts=/ {sub(".*drop=", ""); sub(",.*", ""); s+=$0} END {print s+0}')
GPID=""
GEN_LINE=$(grep "^brisk-gen:" "$D/gen.log" | tail -1)
PER_SEC=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(" ".join("%.3f" % x for x in j["rx_mpps_per_second"]))' "$D/gen.json")
LOST=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["lost"], j["unexpected"], j["tx_packets"], j["checked"])' "$D/gen.json")
COMMIT=$(grep -a "bundle commit" "$D/run.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'ms=[0-9.]*' | cut -d= -f2 || true)
MSGS=$(grep -a "bundle commit" "$D/run.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'messages=[0-9]*' | cut -d= -f2 || true)
T2=$(date +%s.%N)
NFLOWS=$(ovs-ofctl -O OpenFlow15 dump-flows "$OF" 2>/dev/null | grep -c "cookie=")
T3=$(date +%s.%N)
T4=$(date +%s.%N)
ovs-ofctl -O OpenFlow15 dump-aggregate "$OF" >/dev/null
T5=$(date +%s.%N)
kill -TERM $PID; wait $PID || true
PID=""
read -r lost unexpected sent checked <<<"$LOST"
awk -v m="$MSGS" -v c="$COMMIT" -v a="$T0" -v b="$T1" -v d2="$T2" -v d3="$T3" -v n="$NFLOWS" \
    -v r0="$RSS0" -v r1="$RSS1" -v g4="$T4" -v g5="$T5" -v lost="$lost" -v unx="$unexpected" \
    -v sent="$sent" -v chk="$checked" -v per="$PER_SEC" -v rate="$RATE" -v ctl="$CONTROL" \
    -v txd=$((DROP1 - DROP0)) 'BEGIN {
  if (!ctl) printf "bundle: %d flow-mods committed in %.0f ms (ovs-ofctl --bundle add-flows, parse and send included: %.2f s)\n", m, c, b - a
  printf "traffic across the %s (brisk-gen, %s Mpps per direction, every frame checked: %s): %d sent, %d lost, %d unexpected; brisk tx drops (vhost ring full) +%d\n", ctl ? "CPU hog (control run)" : "commit", rate, chk, sent, lost, unx, txd
  printf "received Mpps per second of the measurement: %s\n", per
  printf "dump-flows: %d flows in %.2f s (ovs-ofctl, printing included); dump-aggregate %.3f s\n", n, d3 - d2, g5 - g4
  if (!ctl) printf "memory: RSS %.0f MB before, %.0f MB after (+%.0f MB, %.0f bytes per flow)\n", r0/1024, r1/1024, (r1-r0)/1024, (r1-r0)*1024/m
}'
