#!/usr/bin/env bash
# End-to-end forwarding rate of `brisk run` on the worker1 seed pipeline (conntrack on),
# on one worker core, with DPDK net_pcap ports replaying established UDP traffic between
# the frontend pod and coredns (both directions, so every connection is +est after its
# first reply) and counting what the worker forwards. The pcap PMD's copy into mbufs runs
# on the same worker core, so this is a lower bound on what the pipeline itself sustains.
#
#   perf/pipeline-e2e.sh [--brisk PATH] [--gen PATH] [--seconds N] [--flows N] [--size B] [--huge]
#
# Prints one line: brisk=PATH flows=N size=B mpps=X cycles_per_packet=Y (and pmd-stats).
set -euo pipefail
cd "$(dirname "$0")/.."
BRISK=target/release/brisk
GEN=target/release/brisk-gen
SECS=5
FLOWS=1000
SIZE=64
HUGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --brisk) BRISK=$2; shift 2 ;;
    --gen) GEN=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --huge) HUGE=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
D=$(mktemp -d /tmp/brisk-e2e.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$D"' EXIT
FE=be:2c:bf:e4:ec:c5; DNS=f2:82:cc:96:da:bd; GW=4e:99:08:c1:53:be
"$GEN" pcap -o "$D/fe.pcap" --flows "$FLOWS" --size "$SIZE" --vary tp_src \
  --spec "udp,dl_src=$FE,dl_dst=$GW,nw_src=10.222.1.48,nw_dst=10.222.1.2,nw_ttl=64,tp_src=1024,tp_dst=53"
"$GEN" pcap -o "$D/dns.pcap" --flows "$FLOWS" --size "$SIZE" --vary tp_dst \
  --spec "udp,dl_src=$DNS,dl_dst=$GW,nw_src=10.222.1.2,nw_dst=10.222.1.48,nw_ttl=64,tp_src=53,tp_dst=1024"
# net_pcap's infinite_rx keeps the whole capture in mbufs: size the pool for both files.
MBUFS=$(( 2 * FLOWS + 65536 ))
# shellcheck source=perf/worker1-bridge.sh
. perf/worker1-bridge.sh
worker1_bridge "mbufs: $MBUFS" "net_null_gw,no-rx=1" "net_pcap_dns,rx_pcap=$D/dns.pcap,infinite_rx=1" \
  "net_null_o,no-rx=1" "net_null_b,no-rx=1" "net_pcap_fe,rx_pcap=$D/fe.pcap,infinite_rx=1" \
  "net_null_u,no-rx=1" "$PWD/testdata/antrea-seed/worker1.flows" >"$D/bridge.yaml"
if [ "$HUGE" = 1 ]; then MEM="--in-memory"; else MEM="--no-huge -m 1024"; fi
# shellcheck disable=SC2086
"$BRISK" run --bridge "$D/bridge.yaml" --socket "$D/sock" --stats-interval 0 -- \
  -l 0-1 $MEM --no-pci --no-telemetry --file-prefix="e2e$$" --log-level=warning \
  >"$D/run.log" 2>&1 &
PID=$!
for _ in $(seq 300); do [ -S "$D/sock" ] && break; kill -0 $PID 2>/dev/null || break; sleep 0.1; done
[ -S "$D/sock" ] || { echo "brisk did not start:" >&2; cat "$D/run.log" >&2; exit 1; }
sleep 2
"$BRISK" ctl --socket "$D/sock" pmd-stats-clear >/dev/null
sleep "$SECS"
STATS=$("$BRISK" ctl --socket "$D/sock" pmd-stats)
[ -n "${E2E_MEGAFLOWS:-}" ] && "$BRISK" ctl --socket "$D/sock" dump-megaflows > "$E2E_MEGAFLOWS"
kill -TERM $PID; wait $PID || { cat "$D/run.log"; exit 1; }
PKTS=$(echo "$STATS" | awk '/packets received/ {s+=$3} END {print s}')
TIME=$(echo "$STATS" | awk '/time:/ {print $2; exit}')
CPP=$(echo "$STATS" | awk '/avg cycles per packet/ {print $5; exit}')
echo "$STATS" >&2
awk -v p="$PKTS" -v t="$TIME" -v c="$CPP" -v b="$BRISK" -v f="$FLOWS" -v s="$SIZE" \
  'BEGIN {printf "brisk=%s flows=%s size=%s mpps=%.2f cycles_per_packet=%s\n", b, f, s, p/t/1e6, c}'
