#!/usr/bin/env bash
# The benchmark rig: brisk, OVS-DPDK and a null switch (dpdk-testpmd io forwarding), each in
# turn between the same two vhost-user sockets, driven by brisk-gen on the other core.
#
# The switch under test gets one poll-mode core (lcore 1); brisk-gen sends and receives on
# lcore 0 through two virtio-user ports that are the vhost-user *servers* (the switches
# connect as clients, like OVS's dpdkvhostuserclient). The pipeline is the worker1 seed's
# (conntrack on, 2 passes per packet): port 0 is the frontend pod (ofport 49) sending UDP to
# coredns (port 1, ofport 3), which answers, so every flow is an established connection.
# (--proto tcp: backend1, ofport 48, TCP 80 with handshakes; --proto svc: the same through
# the backendsvc cluster IP, load-balanced in the switch.) For each flow count x frame size
# the three switches run back to back (alternating order),
# and brisk-gen checks every frame that comes back against what the seed flows deliver.
#
#   perf/rig.sh [--flows "1 1000 50000 1000000"] [--sizes "64 512 1518"] [--seconds 10]
#               [--warmup 3] [--switches "brisk ovs ovs-smc null"] [--out perf/results] [--build]
#               [--brisk-before PATH] [--repeat N] [--proto udp|tcp|svc] [--encap]
#               [--profile DIR] [--attack KIND@RATE [--attack-spec SPEC]] [--rate MPPS]
#               [--storm CHANGES_PER_S]
#
# --proto tcp: the frontend opens TCP connections to backend1:80 (ofport 48) with real
# handshakes, then sends data and gets ACKs back (the NetworkPolicy conjunction on the
# path); udp (default) is frontend <-> coredns DNS-style traffic. --proto svc: the
# frontend's connections go to backendsvc's cluster IP 10.104.65.133:80 and both switches
# run worker1 generated with `proxy: antrea-proxy` (brisk conf flows/groups; the service
# reduced to its local endpoint backend1 so both switches pick the same one): a select
# group for each new connection, ct DNAT for every packet and un-DNAT for every reply.
#
# --encap: the Geneve profile. brisk-gen's second port is worker2's end of the underlay
# instead of a pod: the frontend opens TCP connections to the remote pod backend2
# (10.222.2.34:80, behind the tunnel) with real handshakes; its data leaves the switch
# encapsulated (tnl_push) out of the uplink, and backend2's ACKs come back as Geneve from
# 10.79.1.202, decapsulated on the uplink. brisk has worker2 as a static neighbour; OVS
# runs native tunnelling the usual OVS-DPDK way (the uplink in a br-phy bridge whose
# internal port holds 10.79.1.201/24, worker2 in `tnl/arp/set`).
#
# --repeat N runs every point N times (the switches' order alternating each time) and
# reports the median; on a shared machine single runs drift by tens of percent.
#
# OVS runs twice per point, as a user chasing performance would tune it: `ovs` is its
# default configuration (EMC, insertion probability 1/100), `ovs-smc` has the signature
# match cache on and the EMC off (`smc-enable=true`, `emc-insert-inv-prob=0`, OVS's advice
# for many flows). The report takes the faster of the two per point as the reference.
#
# --brisk-before adds another switch, "before": another brisk binary (e.g. the build before
# a hot-path change) run the same way, so a change's effect is a ratio from one run.
#
# --profile DIR samples brisk's (and "before"'s) worker core with `perf record` over each
# measuring window: DIR/perf-<switch>-<flows>-<size>-<rep>.data, to read with `perf report
# -i FILE --no-children` (brisk's release build keeps debug info). Sampling costs the worker
# a few percent: profile runs are for finding where cycles go, not for the figures.
#
# --attack KIND@RATE: every switch (but null) runs each point twice, without and with an
# attack beside the measured traffic (`brisk-gen --attack`: tse, tse2, syn, udp; e.g.
# tse@1mbps, syn@1mpps). The measured traffic is then DNS from clients outside the node
# through the gateway (preset antrea-gw-udp: brisk-gen port 0 faces antrea-gw0, port 1
# coredns), and the attack comes in through the same gateway port: TSE flips bits of
# nw_src and tp_dst around the rules' 10.222.1.48 and 53 towards coredns. The floods come
# in through the gateway too, on a third brisk-gen port, while the measured traffic is the
# default frontend <-> coredns (no null switch then): syn or udp to port 80 or 53 of the
# octant pod (antrea-o, a null port: no policy, so every new connection is committed, and
# what is delivered does not load the generator). Flood frames the gateway's ring refuses
# are dropped, as a NIC's full ring drops them.
# --attack-spec replaces the attack's template. After
# each run the report keeps the datapath's megaflows and masks (brisk `pmd-stats`; OVS
# `dpctl/dump-flows` with masks told apart, `pmd-stats-show`) and its drops by reason
# (brisk `drop-stats`; OVS's `datapath_drop_*` and upcall coverage counters).
#
# --storm N: NetworkPolicy churn while measuring (the driver on lcore 0, the generator's
# core, not the switch's). Every switch (but null) runs each point
# without and with `perf/storm.py` (os-ken, PyPI, on one OpenFlow 1.5 connection to the
# switch's ptcp: listener) adding and deleting N rules per second in table 90 (an address
# joining and leaving a policy rule's conjunction). The report keeps the changes made, the
# barrier round trips, and the datapath's revalidations (brisk `pmd-stats`) or its
# revalidators' dump duration (OVS `upcall/show`).
#
# --rate MPPS: each generator port sends at most this many Mpps (default: as fast as the
# switch takes them). A flood is judged against traffic the switch can carry: does that
# traffic keep its rate beside the flood?
#
# Writes OUT/rig-<stamp>.json, OUT/rig-<stamp>.md and OUT/rig-<stamp>.png (Mpps vs flows),
# and copies them to OUT/latest.*. Needs root (hugepages), DPDK, dpdk-testpmd and
# openvswitch-switch-dpdk (installed when missing), python3-matplotlib for the plot.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=perf/worker1-bridge.sh
. perf/worker1-bridge.sh
ROOT=$PWD
FLOWS="1 1000 50000 1000000"
SIZES="64 512 1518"
SECS=10
WARMUP=3
SWITCHES="brisk ovs ovs-smc null"
OUT=perf/results
BUILD=0
BEFORE=""
REPEAT=1
PROTO=udp
ENCAP=0
PROFILE=""
ATTACK=""
ATTACK_SPEC=""
RATE=0
STORM=""
STORM_PORT=16653
while [ $# -gt 0 ]; do
  case "$1" in
    --flows) FLOWS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --switches) SWITCHES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=1; shift ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --proto) PROTO=$2; shift 2 ;;
    --encap) ENCAP=1; shift ;;
    --profile) PROFILE=$2; mkdir -p "$PROFILE"; shift 2 ;;
    --brisk-before) BEFORE=$2; SWITCHES="$SWITCHES before"; shift 2 ;;
    --attack) ATTACK=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --storm) STORM=$2; shift 2 ;;
    --attack-spec) ATTACK_SPEC=$2; shift 2 ;;
    -h|--help) sed -n '2,70p' "$0"; exit 0 ;;
    *) echo "rig: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $PROTO in
  udp) PRESET=antrea-udp; DNS_DEV="vhost"; BE_DEV="null" ;;
  tcp) PRESET=antrea-tcp; DNS_DEV="null"; BE_DEV="vhost"
       # 54 bytes of TCP/IPv4 headers + brisk-gen's 16-byte stamp do not fit in 64.
       SIZES=$(echo "$SIZES" | sed 's/\b64\b/80/') ;;
  svc) PRESET=antrea-svc; DNS_DEV="null"; BE_DEV="vhost"
       SIZES=$(echo "$SIZES" | sed 's/\b64\b/80/') ;;
  *) echo "rig: --proto udp, tcp or svc" >&2; exit 2 ;;
esac
# The uplink faces brisk-gen's second port with --encap (a null port otherwise); with
# --attack the gateway faces its first port and the frontend pod is a null port.
UP_DEV=null
GW_DEV=null
FE_DEV=vhost
ATTACK_PORT=0
if [ -n "$ATTACK" ]; then
  [ "$PROTO" = udp ] && [ "$ENCAP" = 0 ] ||
    { echo "rig: --attack runs its own profile: no --proto or --encap" >&2; exit 2; }
  case ${ATTACK%%@*} in
    tse*) PRESET=antrea-gw-udp; GW_DEV=vhost; FE_DEV=null
          [ -n "$ATTACK_SPEC" ] || ATTACK_SPEC="udp,dl_src=4e:99:08:c1:53:be,dl_dst=f2:82:cc:96:da:bd,nw_src=10.222.1.48,nw_dst=10.222.1.2,nw_ttl=64,tp_src=20000,tp_dst=53"
          [[ $ATTACK == *=* ]] || ATTACK="${ATTACK%%@*}=nw_src+tp_dst@${ATTACK#*@}" ;;
    syn|udp) ATTACK_PORT=2; GW_DEV=atk
          SWITCHES=$(echo "$SWITCHES" | tr ' ' '\n' | grep -vx null | tr '\n' ' ')
          if [ -z "$ATTACK_SPEC" ]; then
            if [ "${ATTACK%%@*}" = syn ]; then
              ATTACK_SPEC="tcp,dl_src=4e:99:08:c1:53:be,dl_dst=6e:9e:5a:3e:3f:e8,nw_src=172.16.0.1,nw_dst=10.222.1.3,nw_ttl=64,tp_src=1024,tp_dst=80"
            else
              ATTACK_SPEC="udp,dl_src=4e:99:08:c1:53:be,dl_dst=6e:9e:5a:3e:3f:e8,nw_src=172.17.0.1,nw_dst=10.222.1.3,nw_ttl=64,tp_src=1024,tp_dst=53"
            fi
          fi ;;
    *) echo "rig: --attack $ATTACK: tse, tse2, syn or udp @RATE" >&2; exit 2 ;;
  esac
  # Each switch without and with the attack (the null switch has no pipeline to attack).
  SWITCHES=$(for sw in $SWITCHES; do [ "$sw" = null ] && echo null || echo "$sw $sw+attack"; done | tr '\n' ' ')
fi
if [ -n "$STORM" ]; then
  [ -z "$ATTACK" ] || { echo "rig: --storm or --attack, not both" >&2; exit 2; }
  python3 -c 'import os_ken' 2>/dev/null ||
    { echo "rig: --storm needs os-ken (pip install os-ken)" >&2; exit 1; }
  ATTACK="storm@$STORM"
  SWITCHES=$(for sw in $SWITCHES; do [ "$sw" = null ] && echo null || echo "$sw $sw+attack"; done | tr '\n' ' ')
fi
if [ "$ENCAP" = 1 ]; then
  [ "$PROTO" = udp ] || [ "$PROTO" = tcp ] ||
    { echo "rig: --encap runs its own TCP profile (no --proto svc)" >&2; exit 2; }
  PROTO=tcp; DNS_DEV="null"; BE_DEV="null"; UP_DEV="vhost"
  SIZES=$(echo "$SIZES" | sed 's/\b64\b/80/')
fi
[ "$(id -u)" = 0 ] || { echo "rig: needs root (hugepages, vhost-user sockets)" >&2; exit 1; }
need=()
command -v dpdk-testpmd >/dev/null || need+=(dpdk)
[ -x /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk ] || need+=(openvswitch-switch-dpdk)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
if [ "${#need[@]}" -gt 0 ]; then
  echo "rig: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
if [ "$BUILD" = 1 ] || [ ! -x target/release/brisk ] || [ ! -x target/release/brisk-gen ]; then
  cargo build --release -p brisk -p perf --bins
fi
BRISK=$ROOT/target/release/brisk
GEN=$ROOT/target/release/brisk-gen
VSWITCHD=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk

# Hugepages: each DPDK process here takes 512 MB (1 GB for the largest sweeps).
# Hugepage files a killed run of this rig left behind (--single-file-segments keeps them).
rm -f /dev/hugepages/rig-* 2>/dev/null || true
total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
[ "$total" -ge 2048 ] || echo 2048 >/proc/sys/vm/nr_hugepages
mount | grep -q hugetlbfs || { mkdir -p /dev/hugepages; mount -t hugetlbfs none /dev/hugepages; }
[ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge 1536 ] ||
  { echo "rig: needs 1536 free 2 MB hugepages (vhost-user shares hugepage memory)" >&2; exit 1; }

D=$(mktemp -d /tmp/brisk-rig.XXXXXX)
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$D/results.jsonl
: >"$RESULTS"
# The pipeline: the seed's worker1, or worker1 generated with in-switch load balancing.
FLOWS_FILE=$ROOT/testdata/antrea-seed/worker1.flows
GROUPS_FILE=""
if [ "$PROTO" = svc ]; then
  sed -e 's/^proxy: kube-proxy/proxy: antrea-proxy/' \
    -e 's/endpoints: \["10.222.1.47:80", "10.222.2.34:80"\]/endpoints: ["10.222.1.47:80"]/' \
    conf/examples/worker1.yaml >"$D/worker1.yaml"
  grep -q 'endpoints: \["10.222.1.47:80"\]' "$D/worker1.yaml" ||
    { echo "rig: conf/examples/worker1.yaml's backendsvc endpoints changed" >&2; exit 1; }
  "$BRISK" conf flows "$D/worker1.yaml" >"$D/worker1.flows"
  "$BRISK" conf groups "$D/worker1.yaml" >"$D/worker1.groups"
  FLOWS_FILE=$D/worker1.flows
  GROUPS_FILE=$D/worker1.groups
fi
SW_PID=""
GEN_PID=""
cleanup() {
  # A virtio-user server port blocked in accept() ignores SIGTERM: KILL what is left.
  for p in $GEN_PID $SW_PID; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in $GEN_PID $SW_PID; do kill -9 "$p" 2>/dev/null || true; done
  ovs_stop
  wait 2>/dev/null || true
  rm -f /dev/hugepages/rig-* 2>/dev/null || true
  if [ -z "${RIG_KEEP:-}" ]; then rm -rf "$D"; else echo "rig: kept $D"; fi
}
ovs_stop() {
  local p
  ip link del br-phy 2>/dev/null || true
  for f in ovs-vswitchd ovsdb-server; do
    p=$(cat "$D/ovs/$f.pid" 2>/dev/null) || continue
    kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    rm -f "$D/ovs/$f.pid"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FE_SOCK=$D/fe.sock
DNS_SOCK=$D/dns.sock
ATK_SOCK=$D/atk.sock
MEM="--single-file-segments --no-pci --no-telemetry --log-level=warning"

# --- the generator ---------------------------------------------------------------------------
gen_start() { # flows size
  rm -f "$FE_SOCK" "$DNS_SOCK" "$ATK_SOCK"
  local mem=512
  [ "$1" -ge 1000000 ] && mem=1024
  # shellcheck disable=SC2086
  local expect=()
  [ "$PROTO" = svc ] && expect=(--expect-flows "$FLOWS_FILE" --expect-groups "$GROUPS_FILE")
  local profile=(--preset "$PRESET")
  if [ "$ENCAP" = 1 ]; then
    # The frontend (ofport 49) <-> backend2 behind the tunnel (ofport 1), worker2 sending
    # Geneve to worker1's uplink.
    profile=(--tx "0:tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.48,nw_dst=10.222.2.34,nw_ttl=64,tp_src=1024,tp_dst=80,tcp_flags=0x018"
      --tx "1:tcp,dl_src=02:d8:4e:3f:92:1d,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=10.222.2.34,nw_dst=10.222.1.48,nw_ttl=64,tp_src=80,tp_dst=1024,tcp_flags=0x010"
      --vary 0:tp_src --vary 1:tp_dst --ofport 0:49 --ofport 1:1 --expect-seed worker1
      --handshake 0:1 --encap "1:10.79.1.202>10.79.1.201,src_mac=00:50:56:8f:1c:f6,dst_mac=00:50:56:8f:4e:82")
  fi
  local attack=()
  [ "${3:-0}" = 1 ] && [ -z "$STORM" ] && attack=(--attack "$ATTACK_PORT:$ATTACK" --attack-spec "$ATTACK_SPEC")
  # The gateway's port (--attack syn/udp) is the generator's third, after the two pods'.
  local third=()
  [ "$ATTACK_PORT" = 2 ] && third=(--port "net_virtio_user2,path=$ATK_SOCK,server=1,queues=1,queue_size=1024")
  "$GEN" run "${profile[@]}" "${expect[@]}" "${attack[@]}" --rate "$RATE" --flows "$1" --size "$2" --duration "$SECS" --warmup "$WARMUP" \
    --wait-link 60 --json "$D/gen.json" \
    --port "net_virtio_user0,path=$FE_SOCK,server=1,queues=1,queue_size=1024" \
    --port "net_virtio_user1,path=$DNS_SOCK,server=1,queues=1,queue_size=1024" "${third[@]}" \
    -- -l 0 -m $mem $MEM --file-prefix rig-gen >"$D/gen.log" 2>&1 &
  GEN_PID=$!
  for _ in $(seq 1200); do
    # A virtio-user server port waits in accept() for its client before the next port is
    # created: the first socket is the signal; switches reconnect to the second.
    [ -S "$FE_SOCK" ] && return 0
    kill -0 $GEN_PID 2>/dev/null || break
    sleep 0.1
  done
  echo "rig: brisk-gen did not open its sockets:" >&2; cat "$D/gen.log" >&2; exit 1
}
# Waits until brisk-gen reports its links up, then for the warmup.
gen_wait_measuring() {
  for _ in $(seq 600); do
    grep -q "ports up" "$D/gen.log" && { sleep "$WARMUP"; return 0; }
    kill -0 $GEN_PID 2>/dev/null || break
    sleep 0.1
  done
  echo "rig: the switch never connected to brisk-gen:" >&2; cat "$D/gen.log" >&2; return 1
}

# --- brisk -----------------------------------------------------------------------------------
# The pod port that faces brisk-gen's second port is vhost-user; the other one a null port.
brisk_dev() { # vhost|null name
  if [ "$1" = vhost ]; then echo "net_vhost1,iface=$DNS_SOCK,client=1,queues=1"; else echo "net_null_$2,no-rx=1"; fi
}
# The port that faces brisk-gen's first port: the frontend pod, or the gateway (--attack).
brisk_dev0() { # vhost|atk|null name
  case $1 in
    vhost) echo "net_vhost0,iface=$FE_SOCK,client=1,queues=1" ;;
    atk) echo "net_vhost2,iface=$ATK_SOCK,client=1,queues=1" ;;
    *) echo "net_null_$2,no-rx=1" ;;
  esac
}
# With --encap, OVS's uplink lives in br-phy: native tunnelling routes through the bridge
# that holds the underlay address.
ovs_if() { # vhost|null name
  if [ "$1" = vhost ]; then echo "type=dpdkvhostuserclient options:vhost-server-path=$DNS_SOCK"
  else echo "type=dpdk options:dpdk-devargs=net_null_$2,no-rx=1"; fi
}
ovs_if0() { # vhost|atk|null name
  case $1 in
    vhost) echo "type=dpdkvhostuserclient options:vhost-server-path=$FE_SOCK" ;;
    atk) echo "type=dpdkvhostuserclient options:vhost-server-path=$ATK_SOCK" ;;
    *) echo "type=dpdk options:dpdk-devargs=net_null_$2,no-rx=1" ;;
  esac
}
before_start() { brisk_start "$BEFORE"; }
before_clear() { brisk_clear; }
before_cycles() { brisk_cycles; }
before_stop() { brisk_stop; }
before_dpstate() { brisk_dpstate "$@"; }
brisk_start() {
  local bin=${1:-$BRISK} header=$'workers: [1]\nconntrack_max: 4000000'
  [ "$ENCAP" = 1 ] && header+=$'\nneighbors: [{ip: 10.79.1.202, mac: "00:50:56:8f:1c:f6"}]'
  worker1_bridge "$header" "$(brisk_dev0 "$GW_DEV" gw)" \
    "$(brisk_dev "$DNS_DEV" dns)" "net_null_o,no-rx=1" "$(brisk_dev "$BE_DEV" b)" \
    "$(brisk_dev0 "$FE_DEV" fe)" "$(brisk_dev "$UP_DEV" u)" "$FLOWS_FILE" \
    >"$D/bridge.yaml"
  local groups=()
  [ -n "$GROUPS_FILE" ] && groups=(--groups "$GROUPS_FILE")
  # shellcheck disable=SC2086
  [ -n "$STORM" ] && groups+=(--openflow "ptcp:$STORM_PORT")
  "$bin" run --bridge "$D/bridge.yaml" "${groups[@]}" --socket "$D/brisk.sock" --stats-interval 0 -- \
    -l 0,1 --main-lcore 0 -m 1024 $MEM --file-prefix rig-brisk >"$D/switch.log" 2>&1 &
  SW_PID=$!
}
brisk_clear() { "$BRISK" ctl --socket "$D/brisk.sock" pmd-stats-clear >/dev/null; }
# Prints "busy-cycles-per-packet total-cycles-per-packet decap parse lookup upcall actions".
brisk_cycles() {
  "$BRISK" ctl --socket "$D/brisk.sock" pmd-stats >"$D/stats.txt"
  local c st
  # "  avg cycles per packet: 1193 (busy 940)"
  c=$(awk '/avg cycles per packet/ {gsub(/\)/, "", $7); print $7, $5; exit}' "$D/stats.txt")
  # "  stage cycles per packet: decap 12, parse 58, ..." (builds before the tunnel stages
  # have no decap): by name.
  st=$(awk '/stage cycles per packet/ {
    gsub(/,/, ""); v["decap"] = "nan"
    for (i = 5; i < NF; i += 2) v[$i] = $(i + 1)
    print v["decap"], v["parse"], v["lookup"], v["upcall"], v["actions"]; exit }' "$D/stats.txt")
  echo "$c ${st:-nan nan nan nan nan}"
}
# --attack: the datapath's state after a run, as JSON (megaflows, masks, drops by reason).
brisk_dpstate() {
  "$BRISK" ctl --socket "$D/brisk.sock" pmd-stats >"$D/dp-pmd.txt"
  "$BRISK" ctl --socket "$D/brisk.sock" drop-stats >"$D/dp-drops.txt"
  "$BRISK" ctl --socket "$D/brisk.sock" ct-get-limits zone=65520 >"$D/dp-ct.txt"
  "$BRISK" ctl --socket "$D/brisk.sock" dump-megaflows >"$D/dp-megaflows-$1.txt"
  /usr/bin/python3 "$ROOT/perf/rig-dpstate.py" brisk "$D"
}
brisk_stop() { kill -TERM "$SW_PID"; wait "$SW_PID" || { cat "$D/switch.log" >&2; return 1; }; SW_PID=""; }

# --- OVS-DPDK --------------------------------------------------------------------------------
OVS_ENV=()
OVS_SMC=0
ovs() { env "${OVS_ENV[@]}" "$@"; }
vsctl() { ovs ovs-vsctl --db="unix:$D/ovs/db.sock" --timeout=30 "$@"; }
# ovs_if's output is split into words on purpose (type=... options:...).
# shellcheck disable=SC2046
ovs_start() {
  mkdir -p "$D/ovs"
  OVS_ENV=(OVS_RUNDIR="$D/ovs" OVS_DBDIR="$D/ovs" OVS_LOGDIR="$D/ovs" OVS_PKGDATADIR=/usr/share/openvswitch)
  rm -f "$D/ovs/conf.db"
  ovs ovsdb-tool create "$D/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovs ovsdb-server "$D/ovs/conf.db" --remote="punix:$D/ovs/db.sock" --pidfile="$D/ovs/ovsdb-server.pid" \
    --unixctl="$D/ovs/ovsdb-server.ctl" --log-file="$D/ovs/ovsdb-server.log" --detach
  vsctl --no-wait init
  vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
    other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 \
    other_config:dpdk-socket-mem=1024 \
    "other_config:dpdk-extra=--single-file-segments --no-pci --file-prefix rig-ovs"
  ovs "$VSWITCHD" "unix:$D/ovs/db.sock" --pidfile="$D/ovs/ovs-vswitchd.pid" \
    --unixctl="$D/ovs/vswitchd.ctl" --log-file="$D/ovs/ovs-vswitchd.log" --detach
  vsctl add-br br-int -- set bridge br-int datapath_type=netdev fail-mode=secure \
    protocols=OpenFlow10,OpenFlow15
  vsctl add-port br-int antrea-tun0 -- set interface antrea-tun0 type=geneve \
    options:remote_ip=flow options:key=flow ofport_request=1 \
    -- add-port br-int antrea-gw0 -- set interface antrea-gw0 $(ovs_if0 "$GW_DEV" gw) \
    ofport_request=2 \
    -- add-port br-int coredns--3e3abf -- set interface coredns--3e3abf $(ovs_if "$DNS_DEV" dns) \
    ofport_request=3 \
    -- add-port br-int antrea-o-830766 -- set interface antrea-o-830766 type=dpdk \
    options:dpdk-devargs=net_null_o,no-rx=1 ofport_request=4 \
    -- add-port br-int backend1-bab86f -- set interface backend1-bab86f $(ovs_if "$BE_DEV" b) \
    ofport_request=48 \
    -- add-port br-int frontend-a3ba2f -- set interface frontend-a3ba2f $(ovs_if0 "$FE_DEV" fe) \
    ofport_request=49
  ovs ovs-ofctl add-tlv-map "unix:$D/ovs/br-int.mgmt" "{class=0x104,type=0x80,len=4}->tun_metadata0"
  if [ -n "$GROUPS_FILE" ]; then
    ovs ovs-ofctl -O OpenFlow15 add-groups "unix:$D/ovs/br-int.mgmt" "$GROUPS_FILE"
  fi
  ovs ovs-ofctl -O OpenFlow15 add-flows "unix:$D/ovs/br-int.mgmt" "$FLOWS_FILE"
  [ -n "$STORM" ] && vsctl set-controller br-int "ptcp:$STORM_PORT:127.0.0.1"
  if [ "$OVS_SMC" = 1 ]; then
    vsctl set Open_vSwitch . other_config:smc-enable=true other_config:emc-insert-inv-prob=0
  fi
  if [ "$ENCAP" = 1 ]; then
    vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev \
      other_config:hwaddr=00:50:56:8f:4e:82 \
      -- add-port br-phy uplink -- set interface uplink type=dpdkvhostuserclient \
      options:vhost-server-path="$DNS_SOCK"
    ip addr add 10.79.1.201/24 dev br-phy
    ip link set br-phy up
    appctl ovs/route/add 10.79.1.0/24 br-phy >/dev/null
    appctl tnl/arp/set br-phy 10.79.1.202 00:50:56:8f:1c:f6 >/dev/null
  fi
  # Not a switch process of ours: note its pid for the cleanup only.
  SW_PID=""
}
appctl() { ovs ovs-appctl -t "$D/ovs/vswitchd.ctl" "$@"; }
ovs_dpstate() {
  appctl dpif-netdev/pmd-stats-show >"$D/dp-pmd.txt"
  appctl dpctl/dump-flows >"$D/dp-flows.txt"
  appctl coverage/show >"$D/dp-drops.txt"
  appctl dpctl/ct-stats-show >"$D/dp-ct.txt" 2>/dev/null || true
  appctl upcall/show >"$D/dp-upcall.txt" 2>/dev/null || true
  /usr/bin/python3 "$ROOT/perf/rig-dpstate.py" ovs "$D"
}
ovs_clear() { appctl dpif-netdev/pmd-stats-clear >/dev/null; }
ovs_cycles() {
  appctl dpif-netdev/pmd-stats-show >"$D/stats.txt"
  # "avg cycles per packet: 1234.56 (total/packets)" and "avg processing cycles per packet: 987.65 (...)"
  local busy total
  busy=$(awk -F': *' '/avg processing cycles per packet/ {split($2, a, " "); print a[1]; exit}' "$D/stats.txt")
  total=$(awk -F': *' '/avg cycles per packet/ {split($2, a, " "); print a[1]; exit}' "$D/stats.txt")
  echo "${busy:-nan} ${total:-nan} nan nan nan nan nan"
}

# --- the null switch: testpmd io forwarding between the two vhost-user ports ------------------
null_start() {
  # shellcheck disable=SC2086
  dpdk-testpmd -l 0,1 --main-lcore 0 -m 1024 $MEM --file-prefix rig-null \
    --vdev "net_vhost0,iface=$FE_SOCK,client=1,queues=1" \
    --vdev "net_vhost1,iface=$DNS_SOCK,client=1,queues=1" \
    -- --forward-mode=io --nb-cores=1 --auto-start --stats-period 1 --record-core-cycles \
    --txd=1024 --rxd=1024 >"$D/switch.log" 2>&1 &
  SW_PID=$!
}
null_clear() { :; }
null_cycles() { echo "nan nan nan nan nan nan nan"; }
null_stop() {
  kill -INT "$SW_PID"; wait "$SW_PID" || true; SW_PID=""
  # testpmd prints "CPU cycles/packet=N" for the forwarding core when it stops.
  local c
  c=$(grep -o 'CPU cycles/packet=[0-9.]*' "$D/switch.log" | tail -1 | cut -d= -f2 || true)
  NULL_CPP=${c:-nan}
}

run_one() { # switch flows size rep
  local sw=$1 flows=$2 size=$3 rep=$4 busy total sd sp sl su sa fam=$1 name=$1 attacked=0 dp=null
  case $sw in *+attack) attacked=1; sw=${sw%+attack}; fam=$sw ;; esac
  gen_start "$flows" "$size" "$attacked"
  OVS_SMC=0
  case $sw in
    brisk) brisk_start ;;
    before) before_start ;;
    ovs) ovs_start ;;
    ovs-smc) OVS_SMC=1; fam=ovs; ovs_start ;;
    null) null_start ;;
    *) echo "rig: unknown switch $sw" >&2; exit 2 ;;
  esac
  if ! gen_wait_measuring; then
    [ "$fam" = ovs ] && tail -20 "$D/ovs/ovs-vswitchd.log" >&2
    cat "$D/switch.log" >&2 2>/dev/null || true
    exit 1
  fi
  "${fam}_clear"
  local storm_pid=""
  if [ -n "$STORM" ] && [ "$attacked" = 1 ]; then
    taskset -c 0 python3 "$ROOT/perf/storm.py" "$STORM_PORT" "$STORM" $(( SECS > 2 ? SECS - 1 : SECS )) \
      >"$D/storm.json" 2>"$D/storm.log" &
    storm_pid=$!
  fi
  # Sample the switch's own counters over (nearly) the generator's measuring window.
  if [ -n "$PROFILE" ] && { [ "$sw" = brisk ] || [ "$sw" = before ]; }; then
    perf record -q -C 1 -o "$PROFILE/perf-$name-$flows-$size-$rep.data" \
      -- sleep $(( SECS > 2 ? SECS - 1 : SECS )) 2>/dev/null
  else
    sleep $(( SECS > 2 ? SECS - 1 : SECS ))
  fi
  read -r busy total sd sp sl su sa < <("${fam}_cycles")
  if [ -n "$storm_pid" ]; then
    wait "$storm_pid" || { echo "rig: storm.py failed:" >&2; cat "$D/storm.json" "$D/storm.log" >&2; exit 1; }
  fi
  if [ -n "$ATTACK" ] && [ "$fam" != null ]; then dp=$("${fam}_dpstate" "$name"); fi
  wait "$GEN_PID" || { echo "rig: brisk-gen failed:" >&2; cat "$D/gen.log" >&2; exit 1; }
  GEN_PID=""
  case $sw in
    brisk|before) brisk_stop ;;
    ovs|ovs-smc) ovs_stop ;;
    null) null_stop; busy=$NULL_CPP; total=nan ;;
  esac
  rm -f /dev/hugepages/rig-* 2>/dev/null || true
  /usr/bin/python3 - "$name" "$flows" "$size" "$busy" "$total" "$D/gen.json" "$rep" \
    "$sd" "$sp" "$sl" "$su" "$sa" "$dp" "$([ -n "$storm_pid" ] && cat "$D/storm.json")" >>"$RESULTS" <<'PY'
import json, sys
sw, flows, size, busy, total, path, rep, sd, sp, sl, su, sa, dp, storm = sys.argv[1:]
g = json.load(open(path))
num = lambda s: None if s in ("nan", "") else float(s)
stages = {"decap": num(sd), "parse": num(sp), "lookup": num(sl), "upcall": num(su), "actions": num(sa)}
print(json.dumps({"switch": sw, "flows": int(flows), "size": int(size), "rep": int(rep),
                  "stages_cycles_per_packet": stages if stages["parse"] is not None else None,
                  "rx_mpps": g["rx_mpps"], "tx_mpps": g["tx_mpps"], "rx_gbps_l1": g["rx_gbps_l1"],
                  "lost": g["lost"], "unexpected": g["unexpected"], "reordered": g["reordered"],
                  "latency_ns": g["latency_ns"], "cycles_per_packet_busy": num(busy),
                  "cycles_per_packet_total": num(total),
                  "attack": g.get("attack") or (storm and dict(json.loads(storm), kind="storm")),
                  "datapath": json.loads(dp)}))
PY
  printf 'rig: %-6s flows=%-7s size=%-4s rep=%s %s\n' "$name" "$flows" "$size" "$rep" \
    "$(grep '^brisk-gen: [0-9.]* s:' "$D/gen.log" | sed 's/^brisk-gen: //') cycles/pkt=$busy"
  if [ "$attacked" = 1 ] && [ -z "$STORM" ]; then grep '^brisk-gen: attack' "$D/gen.log" | sed 's/^/rig:   /'; fi
  [ -n "$storm_pid" ] && echo "rig:   storm: $(cat "$D/storm.json")"
  [ "$dp" != null ] && echo "rig:   datapath: $dp"
  return 0
}

i=0
for size in $SIZES; do
  for flows in $FLOWS; do
    for rep in $(seq "$REPEAT"); do
      # Alternate the order so drift on a shared machine does not favour one switch.
      order=$SWITCHES
      if [ $((i % 2)) = 1 ]; then order=$(echo "$SWITCHES" | tr ' ' '\n' | tac | tr '\n' ' '); fi
      for sw in $order; do run_one "$sw" "$flows" "$size" "$rep"; done
      i=$((i + 1))
    done
  done
done

/usr/bin/python3 "$ROOT/perf/rig-report.py" "$RESULTS" "$OUT/rig-$STAMP" \
  "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); ${SECS} s per run after ${WARMUP} s warmup, median of $REPEAT run(s) per point; traffic: $(case $PROTO in tcp) if [ "$ENCAP" = 1 ]; then echo "frontend -> backend2:80 across Geneve (tnl_push on the uplink) TCP after handshakes, ACKs back as Geneve (decapsulated on the uplink)"; else echo "frontend -> backend1:80 TCP after handshakes, ACKs back"; fi ;; svc) echo "frontend -> backendsvc 10.104.65.133:80 TCP (select group + ct DNAT to backend1) after handshakes, ACKs back un-DNATed" ;; *) echo "frontend <-> coredns UDP 53 both ways" ;; esac)"
for ext in json md png; do
  [ -f "$OUT/rig-$STAMP.$ext" ] && cp "$OUT/rig-$STAMP.$ext" "$OUT/latest.$ext"
done
cat "$OUT/rig-$STAMP.md"
