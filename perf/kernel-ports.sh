#!/usr/bin/env bash
# Kernel-socket ports compared: the same brisk pipeline (the worker1 seed's, conntrack on)
# between two veth pairs, with the pod ports driven three ways, one after the other:
#   pmd       DPDK build, DPDK's net_af_packet PMD
#   afpacket  DPDK build, brisk's own AF_PACKET port (afpacket:IFACE, PACKET_MMAP rings)
#   nodpdk    brisk built without DPDK (the same afpacket:IFACE ports, its own buffer pool)
# brisk-gen sends the antrea-udp preset (frontend -> coredns UDP 53, coredns answers) from
# the far ends of the veths through DPDK's net_af_packet, on lcore 0, checking every frame
# that comes back; the switch's worker runs on core 1 (an lcore with DPDK, a pinned thread
# without). The kernel's veth work lands on both.
#
#   perf/kernel-ports.sh [--seconds 10] [--flows 1000] [--size 64] [--repeat 3]
#   perf/kernel-ports.sh --soak MINUTES [--mode nodpdk|afpacket|pmd]
#
# --soak: one switch at full rate for MINUTES, its RSS (VmRSS) and packet buffers in use
# sampled every 30 s, then the generator's report and the clean stop's leak check.
#
# Prints one line per run and a table of medians, also written to
# perf/results/kernel-ports-<time>.md. Needs root, DPDK (brisk-gen), and builds
# target/release/{brisk,brisk-gen} and target/nodpdk/release/brisk.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=perf/worker1-bridge.sh
. perf/worker1-bridge.sh
SECS=10 FLOWS=1000 SIZE=64 REPEAT=3 SOAK=0 SOAK_MODE=nodpdk
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --mode) SOAK_MODE=$2; shift 2 ;;
    *) echo "kernel-ports: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "kernel-ports: needs root (veth pairs)" >&2; exit 1; }
cargo build --release -q -p brisk -p perf
cargo build --release -q --no-default-features -p brisk --target-dir target/nodpdk
BRISK=target/release/brisk
NODPDK=target/nodpdk/release/brisk
GEN=target/release/brisk-gen
D=$(mktemp -d /tmp/brisk-kports.XXXXXX)
NS=kports
SW=""
cleanup() {
  set +e
  [ -n "$SW" ] && kill -TERM "$SW" 2>/dev/null && wait "$SW" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  [ -n "${KEEP_D:-}" ] || rm -rf "$D"
}
trap cleanup EXIT
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
for p in fe cd; do
  ip -n "$NS" link add "$p-sw" type veth peer name "$p-gen"
  for i in "$p-sw" "$p-gen"; do
    ip -n "$NS" link set "$i" up
    nsx ethtool -K "$i" tx off tso off gso off gro off >/dev/null 2>&1 || true
  done
done
# The ports the traffic does not use: veths with nothing behind them for kernel ports,
# net_null for DPDK.
for i in gw oct be up; do
  ip -n "$NS" link add "k-$i" type veth peer name "k-$i-x"
  ip -n "$NS" link set "k-$i-x" up
done

bridge() { # MODE
  local fe cd other
  case $1 in
    pmd) fe="net_af_packet_fe,iface=fe-sw,qpairs=1"; cd="net_af_packet_cd,iface=cd-sw,qpairs=1" ;;
    *) fe="afpacket:fe-sw"; cd="afpacket:cd-sw" ;;
  esac
  other() { if [ "$1" = pmd ]; then echo "net_null_$2,no-rx=1"; else echo "afpacket:k-$2"; fi; }
  worker1_bridge "workers: [1]" "$(other "$1" gw)" "$cd" "$(other "$1" oct)" "$(other "$1" be)" \
    "$fe" "$(other "$1" up)" "$PWD/testdata/antrea-seed/worker1.flows"
}

run() { # MODE REP [SOAK_MINUTES]
  local mode=$1 bin=$BRISK secs=$SECS soak=${3:-0}
  [ "$soak" -gt 0 ] && secs=$((soak * 60))
  [ "$mode" = nodpdk ] && bin=$NODPDK
  bridge "$mode" >"$D/$mode.yaml"
  rm -f "$D/ctl.sock"
  # Not through nsx: $! must be brisk itself (ip netns exec execs it).
  ip netns exec "$NS" "$bin" run --bridge "$D/$mode.yaml" --socket "$D/ctl.sock" -- -l 0,1 --main-lcore 0 \
    --no-huge -m 512 --no-pci --file-prefix "kp-sw-$mode" >"$D/switch.log" 2>&1 &
  SW=$!
  for _ in $(seq 100); do [ -S "$D/ctl.sock" ] && break; sleep 0.1; done
  [ -S "$D/ctl.sock" ] || { echo "kernel-ports: brisk ($mode) did not start" >&2; cat "$D/switch.log" >&2; exit 1; }
  nsx "$GEN" run --preset antrea-udp --flows "$FLOWS" --size "$SIZE" --duration "$secs" --warmup 2 \
    --json "$D/gen.json" \
    --port "net_af_packet0,iface=fe-gen,qpairs=1" --port "net_af_packet1,iface=cd-gen,qpairs=1" \
    -- -l 0 --no-huge -m 512 --no-pci --file-prefix kp-gen >"$D/gen.log" 2>&1 &
  local gp=$! start
  start=$(date +%s)
  if [ "$soak" -gt 0 ]; then
    printf '%8s %12s %16s\n' "t (s)" "RSS (kB)" "buffers in use"
    while kill -0 "$gp" 2>/dev/null; do
      printf '%8d %12s %16s\n' $(( $(date +%s) - start )) "$(awk '/VmRSS/ {print $2}' "/proc/$SW/status")" \
        "$("$bin" ctl --socket "$D/ctl.sock" mempool | awk '{s += $(NF - 2)} END {print s}')"
      for _ in $(seq 30); do kill -0 "$gp" 2>/dev/null || break; sleep 1; done
    done
    printf '%8s %12s %16s\n' end "$(awk '/VmRSS/ {print $2}' "/proc/$SW/status")" \
      "$("$bin" ctl --socket "$D/ctl.sock" mempool | awk '{s += $(NF - 2)} END {print s}')"
  fi
  wait "$gp" || { echo "kernel-ports: brisk-gen failed ($mode):" >&2; cat "$D/gen.log" >&2; exit 1; }
  [ "$soak" -gt 0 ] && grep 'brisk-gen: .* s: tx' "$D/gen.log"
  local busy
  busy=$("$bin" ctl --socket "$D/ctl.sock" pmd-stats | sed -n 's/.*avg cycles per packet: [0-9]* (busy \([0-9]*\)).*/\1/p' | head -1)
  kill -TERM "$SW"; wait "$SW" || true; SW=""
  grep -q "stopped cleanly" "$D/switch.log" || { echo "kernel-ports: brisk ($mode) did not stop cleanly" >&2; cat "$D/switch.log" >&2; exit 1; }
  [ "$soak" -gt 0 ] && grep -h "stopped cleanly" "$D/switch.log"
  python3 - "$D/gen.json" "$mode" "$2" "$busy" <<'PY' | tee -a "$D/results"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} {sys.argv[3]} {r['rx_mpps']*1000:.0f} {r['tx_mpps']*1000:.0f} {r['lost']} {r['unexpected']} {sys.argv[4] or '-'}")
PY
}

if [ "$SOAK" -gt 0 ]; then
  echo "kernel-ports soak: $SOAK_MODE, $SIZE-byte UDP, $FLOWS flows per direction, $SOAK min at full rate"
  run "$SOAK_MODE" 1 "$SOAK"
  exit 0
fi
echo "kernel-ports: $SIZE-byte UDP, $FLOWS flows per direction, $SECS s per run, median of $REPEAT"
echo "mode rep rx_kpps tx_kpps lost unexpected busy_cycles_per_pkt"
for rep in $(seq "$REPEAT"); do
  for mode in pmd afpacket nodpdk; do run "$mode" "$rep"; done
done
OUT=perf/results/kernel-ports-$(date -u +%Y%m%dT%H%M%SZ).md
python3 - "$D/results" "$SIZE" "$FLOWS" "$SECS" <<'PY' | tee "$OUT"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"kernel-ports: {sys.argv[2]}-byte UDP (antrea-udp preset, worker1 seed pipeline), {sys.argv[3]} flows per direction, {sys.argv[4]} s per run; brisk-gen on DPDK net_af_packet at the far ends of the veths")
print()
print("| ports | rx kpps (median) | runs | lost (sum) | unexpected | busy cycles/packet |")
print("|---|---:|---|---:|---:|---:|")
base = None
for mode, label in [("pmd", "DPDK net_af_packet PMD"), ("afpacket", "brisk afpacket:, DPDK build"), ("nodpdk", "brisk afpacket:, no DPDK")]:
    r = [x for x in rows if x[0] == mode]
    med = statistics.median(float(x[2]) for x in r)
    base = base or med
    cyc = statistics.median(float(x[6]) for x in r if x[6] != "-") if any(x[6] != "-" for x in r) else 0
    print(f"| {label} | {med:,.0f} ({med / base:.2f}x) | {' '.join(x[2] for x in r)} | {sum(int(x[4]) for x in r)} | {sum(int(x[5]) for x in r)} | {cyc:,.0f} |")
PY
