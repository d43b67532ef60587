#!/usr/bin/env bash
# OpenFlow at Antrea's scale: one bundle of PODS*8 flow-mods (perf/scale-flows.py: ~160,000
# for 20,000 pods) sent by Debian's `ovs-ofctl --bundle add-flows` to brisk's management
# socket while the worker1 seed pipeline forwards established UDP between frontend and
# coredns (net_pcap replaying both directions, routed through the gateway port). Reports the commit time (brisk's log), the
# whole command's time, frames received vs forwarded across the commit (flows that stay
# must lose none), `ovs-ofctl dump-flows` of the full table, and brisk's memory for it.
#
#   perf/bundle-scale.sh [--brisk PATH] [--gen PATH] [--pods N]
set -euo pipefail
cd "$(dirname "$0")/.."
BRISK=target/release/brisk
GEN=target/release/brisk-gen
PODS=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --brisk) BRISK=$2; shift 2 ;;
    --gen) GEN=$2; shift 2 ;;
    --pods) PODS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
D=$(mktemp -d /tmp/brisk-scale.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$D"' EXIT
FE=be:2c:bf:e4:ec:c5; DNS=f2:82:cc:96:da:bd; GW=4e:99:08:c1:53:be
"$GEN" pcap -o "$D/fe.pcap" --flows 100 --size 64 --vary tp_src \
  --spec "udp,dl_src=$FE,dl_dst=$GW,nw_src=10.222.1.48,nw_dst=10.222.1.2,nw_ttl=64,tp_src=1024,tp_dst=53"
"$GEN" pcap -o "$D/dns.pcap" --flows 100 --size 64 --vary tp_dst \
  --spec "udp,dl_src=$DNS,dl_dst=$GW,nw_src=10.222.1.2,nw_dst=10.222.1.48,nw_ttl=64,tp_src=53,tp_dst=1024"
python3 perf/scale-flows.py "$PODS" > "$D/scale.flows"
# shellcheck source=perf/worker1-bridge.sh
. perf/worker1-bridge.sh
worker1_bridge "mbufs: 65535" "net_null_gw,no-rx=1" "net_pcap_dns,rx_pcap=$D/dns.pcap,infinite_rx=1,tx_pcap=/dev/null" \
  "net_null_o,no-rx=1" "net_null_b,no-rx=1" "net_pcap_fe,rx_pcap=$D/fe.pcap,infinite_rx=1,tx_pcap=/dev/null" \
  "net_null_u,no-rx=1" "$PWD/testdata/antrea-seed/worker1.flows" >"$D/bridge.yaml"
"$BRISK" run --bridge "$D/bridge.yaml" --socket "$D/brisk.sock" -- -l 0-1 --no-huge -m 1024 --no-pci \
  --no-telemetry --file-prefix="scale$$" --log-level=warning >"$D/run.log" 2>&1 &
PID=$!
for _ in $(seq 300); do [ -S "$D/br-int.mgmt" ] && break; kill -0 $PID 2>/dev/null || break; sleep 0.1; done
[ -S "$D/br-int.mgmt" ] || { echo "brisk did not start:" >&2; cat "$D/run.log" >&2; exit 1; }
sleep 2
OF="unix:$D/br-int.mgmt"
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
ports() { "$BRISK" ctl --socket "$D/brisk.sock" dump-ports; }
pkts() { echo "$1" | awk -v p="$2" -v d="$3" '$0 ~ "\\(" p "\\)" {f=1} f && $0 ~ d " pkts=" {sub(".*" d " pkts=", ""); sub(",.*", ""); print; exit}'; }
drops() { "$BRISK" ctl --socket "$D/brisk.sock" drop-stats | awk '/^datapath/ {f=1; next} /^[a-z]/ {f=0} f {s+=$NF} END {print s+0}'; }
RSS0=$(rss); DROPS0=$(drops); P0=$(ports)
T0=$(date +%s.%N)
ovs-ofctl -O OpenFlow15 --bundle add-flows "$OF" "$D/scale.flows" 2>/dev/null
T1=$(date +%s.%N)
sleep 1
P1=$(ports); DROPS1=$(drops); RSS1=$(rss)
RX=$(( $(pkts "$P1" frontend-a3ba2f rx) + $(pkts "$P1" coredns--3e3abf rx) - $(pkts "$P0" frontend-a3ba2f rx) - $(pkts "$P0" coredns--3e3abf rx) ))
alltx() { echo "$1" | awk '/tx pkts=/ {sub(".*tx pkts=", ""); sub(",.*", ""); s+=$0} END {print s+0}'; }
# Both directions are routed through the gateway (antrea-gw0, a null device): every frame
# received on the two pods is sent somewhere; count every port's transmits.
TX=$(( $(alltx "$P1") - $(alltx "$P0") ))
COMMIT=$(grep -a "bundle commit" "$D/run.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'ms=[0-9.]*' | cut -d= -f2)
MSGS=$(grep -a "bundle commit" "$D/run.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'messages=[0-9]*' | cut -d= -f2)
T2=$(date +%s.%N)
NFLOWS=$(ovs-ofctl -O OpenFlow15 dump-flows "$OF" 2>/dev/null | grep -c "cookie=")
T3=$(date +%s.%N)
T4=$(date +%s.%N)
ovs-ofctl -O OpenFlow15 dump-aggregate "$OF" >/dev/null
T5=$(date +%s.%N)
kill -TERM $PID; wait $PID || true
awk -v m="$MSGS" -v c="$COMMIT" -v a="$T0" -v b="$T1" -v d2="$T2" -v d3="$T3" -v n="$NFLOWS" \
    -v r0="$RSS0" -v r1="$RSS1" -v rx="$RX" -v tx="$TX" -v dr=$((DROPS1 - DROPS0)) -v g4="$T4" -v g5="$T5" 'BEGIN {
  printf "bundle: %d flow-mods committed in %.0f ms (ovs-ofctl --bundle add-flows, parse and send included: %.2f s)\n", m, c, b - a
  printf "traffic across the commit (+1 s): %d frames received, %d forwarded, datapath drops +%d\n", rx, tx, dr
  printf "dump-flows: %d flows in %.2f s (ovs-ofctl, printing included); dump-aggregate %.3f s\n", n, d3 - d2, g5 - g4
  printf "memory: RSS %.0f MB before, %.0f MB after (+%.0f MB, %.0f bytes per flow)\n", r0/1024, r1/1024, (r1-r0)/1024, (r1-r0)*1024/m
}'
