#!/usr/bin/env bash
# The two-node demo: the seed cluster's worker1 and worker2 (conf/examples/*.yaml), each a
# `brisk run --config` in its own network namespace, their pods in network namespaces on
# veth pairs (read by DPDK's AF_PACKET PMD, the frontend pod by brisk's own AF_PACKET
# port), the node gateway a DPDK TAP device, and the two uplinks joined by a veth pair that
# carries Geneve. With BRISK=<a brisk built without DPDK> every port is brisk's own
# AF_PACKET or TAP socket (the same YAML: net_af_packet/net_tap devargs map to them). Then the seed's traffic:
#   frontend -> backend2  TCP 80  (crosses the Geneve tunnel; allowed by frontendpolicy)
#   frontend -> backend1  TCP 80  (same node; allowed by backendpolicy)
#   frontend -> backendsvc 10.104.65.133:80 (to the gateway, DNAT by iptables as kube-proxy
#                         would, then over the tunnel; only if iptables is installed)
#     or, with --proxy antrea-proxy, load-balanced in brisk (select group + ct DNAT) over
#     backend1 and backend2: 20 connections, answered by both
#   octant -> backendsvc  (antrea-proxy only; dropped: policy judges the chosen endpoint)
#   frontend -> backend2  TCP 22  (dropped: egress isolation)
#   backend1 -> frontend  TCP 80  (dropped: backend1 may not start connections)
# and each node's counters; then volume, attacks, a flood and faults (a pod's port removed,
# worker2's switch restarted, a DPDK pod on a vhost-user port whose testpmd restarts), and
# a table of what every scenario made the switches count. Everything is removed on exit.
#
#   scripts/demo-nodes.sh [--via ovsdb|config] [--keep] [--proxy kube-proxy|antrea-proxy] [--peer brisk|ovs]
#     --via ovsdb (the default): each node the OVS way, ovsdb-server + `brisk run --ovsdb`,
#     bridge and ports made with ovs-vsctl as Antrea's agent makes them, flows loaded with
#     ovs-ofctl; --via config: `brisk run --config` on the node's YAML
#     --keep: leave it running until Ctrl-C; --proxy: how services are handled (default
#     kube-proxy, as the seed); --peer ovs: worker2 is Open vSwitch's userspace datapath
#     (Debian's openvswitch-switch, datapath_type=netdev, no kernel module) running the
#     seed's real Antrea worker2 flows, with native Geneve tunnelling through a br-phy
#     bridge that owns the node address: an interop test against an independent Geneve
#     implementation (pings both ways between the coredns pods, HTTP to backend2, and
#     tshark's decode of a frame brisk encapsulated, carrying a tun_metadata0 option);
#     --peer kernel: worker2 is the Linux kernel's own Geneve device (where the kernel has
#     the geneve module; skipped with a message where it does not)
set -euo pipefail
cd "$(dirname "$0")/.."
BRISK=${BRISK:-target/release/brisk}
KEEP=0
PROXY=kube-proxy
PEER=brisk
CT_MAX=""
VIA=ovsdb
while [ $# -gt 0 ]; do
  case $1 in
    --via) VIA=${2:?--via needs ovsdb or config}; shift ;;
    --ct-max) CT_MAX=${2:?--ct-max needs a number}; shift ;;
    --keep) KEEP=1 ;;
    --peer) PEER=${2:?--peer needs brisk, ovs or kernel}; shift ;;
    --proxy) PROXY=${2:?--proxy needs kube-proxy or antrea-proxy}; shift ;;
    *) echo "demo-nodes: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case $PROXY in kube-proxy|antrea-proxy) ;; *) echo "demo-nodes: --proxy $PROXY: kube-proxy or antrea-proxy" >&2; exit 2 ;; esac
case $VIA in ovsdb|config) ;; *) echo "demo-nodes: --via $VIA: ovsdb or config" >&2; exit 2 ;; esac
case $PEER in brisk|ovs|kernel) ;; *) echo "demo-nodes: --peer $PEER: brisk, ovs or kernel" >&2; exit 2 ;; esac
if [ "$PEER" = ovs ]; then
  [ "$PROXY" = kube-proxy ] || { echo "demo-nodes: --peer ovs runs the seed's flows (kube-proxy)" >&2; exit 2; }
  need=()
  [ -x /usr/lib/openvswitch-switch/ovs-vswitchd ] || need+=(openvswitch-switch)
  command -v tshark >/dev/null || need+=(tshark)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "demo-nodes: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
  fi
fi
[ "$(id -u)" = 0 ] || { echo "demo-nodes: needs root (network namespaces)" >&2; exit 1; }
RUN=$(mktemp -d /tmp/brisk-demo.XXXXXX)
PIDS=()
declare -A NODE_PID=()
NS=(w1 w2 w1-coredns w1-octant w1-backend1 w1-frontend w2-coredns w2-backend2 w1-dpdkpod)

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for f in "$RUN"/ovs/ovs-vswitchd.pid "$RUN"/ovs/ovsdb-server.pid "$RUN"/*-db/ovsdb-server.pid; do
    p=$(cat "$f" 2>/dev/null) || continue
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done

nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
quiet_ns() {
  ip netns add "$1"
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}
# pod NODE_NS POD_NS IFACE IP MAC GATEWAY
pod() {
  quiet_ns "$2"
  ip -n "$1" link add "$3" type veth peer name eth0 netns "$2"
  ip -n "$2" link set eth0 address "$5" mtu 1450 up
  ip -n "$2" addr add "$4/24" dev eth0
  ip -n "$2" route add default via "$6"
  # The switch sees frames as the pod sends them: full checksums, no offload super-frames.
  nsx "$2" ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n "$1" link set "$3" mtu 1450 up
  nsx "$1" ethtool -K "$3" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

echo "== namespaces: nodes w1, w2; pods on veth pairs; uplinks joined by a veth pair"
quiet_ns w1
quiet_ns w2
ip -n w1 link add uplink type veth peer name uplink netns w2
for n in w1 w2; do
  ip -n "$n" link set uplink up
  nsx "$n" ethtool -K uplink tx off tso off gso off gro off >/dev/null 2>&1 || true
done
pod w1 w1-coredns coredns--3e3abf 10.222.1.2 f2:82:cc:96:da:bd 10.222.1.1
pod w1 w1-octant antrea-o-830766 10.222.1.3 6e:9e:5a:3e:3f:e8 10.222.1.1
pod w1 w1-backend1 backend1-bab86f 10.222.1.47 f2:32:d8:07:e2:a6 10.222.1.1
pod w1 w1-frontend frontend-a3ba2f 10.222.1.48 be:2c:bf:e4:ec:c5 10.222.1.1
pod w2 w2-coredns coredns--d8f62c 10.222.2.2 52:9d:f4:63:06:bc 10.222.2.1
pod w2 w2-backend2 backend2-202ff6 10.222.2.34 c6:f4:b5:76:10:38 10.222.2.1

# node NS NAME PEER_CIDRS...
node() {
  local ns=$1 name=$2; shift 2
  local yaml="conf/examples/$name.yaml"
  if [ "$PROXY" != kube-proxy ] || { [ -n "$CT_MAX" ] && [ "$name" = worker1 ]; }; then
    sed "s/^proxy: kube-proxy/proxy: $PROXY/" "$yaml" >"$RUN/$name.yaml"
    if [ "$PROXY" = antrea-proxy ]; then
      # A second service on the same endpoints, with Kubernetes' ClientIP affinity.
      sed -i '/^    endpoints: \["10.222.1.47:80", "10.222.2.34:80"\]$/a\
  - name: backendsvc-sticky\
    cluster_ip: 10.104.65.134\
    ports: [{port: 80, protocol: TCP}]\
    endpoints: ["10.222.1.47:80", "10.222.2.34:80"]\
    session_affinity: ClientIP\
    session_affinity_timeout: 60' "$RUN/$name.yaml"
    fi
    if [ -n "$CT_MAX" ] && [ "$name" = worker1 ]; then
      echo "conntrack_max: $CT_MAX" >>"$RUN/$name.yaml"
    fi
    yaml="$RUN/$name.yaml"
  fi
  "$BRISK" conf check "$yaml"
  if [ "$VIA" = ovsdb ]; then
    db_node "$ns" "$name" "$yaml" "$@"
    return
  fi
  ip netns exec "$ns" "$BRISK" run --config "$yaml" \
    --socket "$RUN/$name.sock" >"$RUN/$name.log" 2>&1 &
  PIDS+=($!)
  NODE_PID[$name]=$!
  for _ in $(seq 150); do [ -S "$RUN/$name.sock" ] && break; sleep 0.1; done
  [ -S "$RUN/$name.sock" ] || { echo "brisk $name did not start:" >&2; cat "$RUN/$name.log" >&2; exit 1; }
  # The socket is there before the ports are: the switch runs once it answers.
  for _ in $(seq 150); do "$BRISK" ctl --socket "$RUN/$name.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  # The gateway, the node's own interface into the pod network (Antrea's antrea-gw0): brisk
  # made its TAP with the description's MAC, address and MTU; the other nodes' pods are
  # routed through it.
  for c in "$@"; do
    ip -n "$ns" route add "$c" via "${c%.0/24}.1" dev antrea-gw0 onlink
  done
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
}
# db_node NS NAME YAML PEER_CIDRS...: the node the OVS way (--via ovsdb, the default):
# Debian's ovsdb-server holds the node's Open_vSwitch database, `brisk run --ovsdb`
# follows it as ovs-vswitchd would, and the bridge, its ports and the host side are set up
# as Antrea's agent sets them (`brisk conf vsctl` prints those ovs-vsctl and ip commands);
# the node's flows and groups are loaded with ovs-ofctl. Called again for a node whose
# database exists (a restart), it starts brisk, which rebuilds the ports from the
# database, and redoes the agent's host-side and OpenFlow part.
dbdir() { echo "$RUN/$1-db"; }
vsctl_n() { ovs-vsctl --db="unix:$(dbdir "$1")/db.sock" --timeout=30 "${@:2}"; }
ofctl_n() { ovs-ofctl -O OpenFlow15 "$2" "unix:$(dbdir "$1")/br-int.mgmt" "${@:3}"; }
appctl_n() { OVS_RUNDIR=$(dbdir "$1") ovs-appctl "${@:2}"; }
db_node() {
  local ns=$1 name=$2 yaml=$3 d; shift 3
  d=$(dbdir "$name")
  local fresh=0
  if [ ! -e "$d/conf.db" ]; then
    fresh=1
    mkdir -p "$d"
    ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --unixctl="$d/ovsdb-server.ctl" \
      --pidfile="$d/ovsdb-server.pid" --log-file="$d/ovsdb-server.log" --detach
    vsctl_n "$name" --no-wait init
  fi
  "$BRISK" conf vsctl "$yaml" >"$RUN/$name.setup"
  # The node's address moves to br-int, but this uplink is a kernel veth that brisk reads
  # with AF_PACKET, so the kernel sees its frames too: it must neither take the Geneve
  # packets addressed to the node (and answer them with ICMP through br-int) nor answer
  # ARP there.
  nsx "$ns" sysctl -qw net.ipv4.conf.uplink.rp_filter=1 net.ipv4.conf.uplink.arp_ignore=1
  # Before brisk starts: the EAL settings it reads at start-up.
  if [ $fresh = 1 ]; then
    grep '^ovs-vsctl --no-wait' "$RUN/$name.setup" | while read -r _ args; do eval "vsctl_n $name $args"; done
  fi
  ip netns exec "$ns" "$BRISK" run --ovsdb "unix:$d/db.sock" --rundir "$d" \
    --socket "$RUN/$name.sock" >"$RUN/$name.log" 2>&1 &
  PIDS+=($!)
  NODE_PID[$name]=$!
  local cmd args
  # A restart: brisk makes the bridge's internal ports again from the database; the
  # agent's host-side settings follow once they exist.
  if [ $fresh = 0 ]; then
    for _ in $(seq 150); do
      ip -n "$ns" link show antrea-gw0 >/dev/null 2>&1 && ip -n "$ns" link show br-int >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  while read -r cmd args; do
    case $cmd in
      ovs-vsctl) if [ $fresh = 1 ] && [ "${args#--no-wait}" = "$args" ]; then eval "vsctl_n $name $args" >/dev/null; fi ;;
      ip) eval "ip -n $ns $args" ;;
    esac
  done <"$RUN/$name.setup"
  for _ in $(seq 150); do "$BRISK" ctl --socket "$RUN/$name.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  "$BRISK" conf flows "$yaml" >"$RUN/$name.flows"
  "$BRISK" conf groups "$yaml" >"$RUN/$name.groups"
  ovs-ofctl add-tlv-map "unix:$d/br-int.mgmt" "{class=0x104,type=0x80,len=4}->tun_metadata0"
  if [ -s "$RUN/$name.groups" ]; then ofctl_n "$name" add-groups "$RUN/$name.groups"; fi
  ofctl_n "$name" replace-flows "$RUN/$name.flows"
  # --ct-max: OVS's runtime limit (the YAML path has conntrack_max instead).
  if [ -n "$CT_MAX" ] && [ "$name" = worker1 ]; then
    appctl_n "$name" dpctl/ct-set-maxconns "$CT_MAX" >/dev/null
  fi
  for c in "$@"; do
    ip -n "$ns" route add "$c" via "${c%.0/24}.1" dev antrea-gw0 onlink
  done
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
}
# ovs_node: worker2 as Open vSwitch's userspace datapath running Antrea's real worker2
# flows; br-phy owns the node address and the uplink (OVS native tunnelling).
OVS_D=$RUN/ovs
ovs() { env OVS_RUNDIR="$OVS_D" OVS_DBDIR="$OVS_D" OVS_LOGDIR="$OVS_D" "$@"; }
vsctl() { ovs ovs-vsctl --db="unix:$OVS_D/db.sock" --timeout=30 "$@"; }
appctl() { ovs ovs-appctl -t "$OVS_D/vswitchd.ctl" "$@"; }
ovs_node() {
  mkdir -p "$OVS_D"
  ovs ovsdb-tool create "$OVS_D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovs ip netns exec w2 ovsdb-server "$OVS_D/conf.db" --remote="punix:$OVS_D/db.sock" \
    --pidfile="$OVS_D/ovsdb-server.pid" --unixctl="$OVS_D/ovsdb-server.ctl" \
    --log-file="$OVS_D/ovsdb-server.log" --detach
  vsctl --no-wait init
  ovs ip netns exec w2 /usr/lib/openvswitch-switch/ovs-vswitchd "unix:$OVS_D/db.sock" \
    --pidfile="$OVS_D/ovs-vswitchd.pid" --unixctl="$OVS_D/vswitchd.ctl" \
    --log-file="$OVS_D/ovs-vswitchd.log" --detach
  vsctl add-br br-phy -- set bridge br-phy datapath_type=netdev \
    other_config:hwaddr=00:50:56:8f:1c:f6 -- add-port br-phy uplink
  ip -n w2 addr add 10.79.1.202/24 dev br-phy
  ip -n w2 link set br-phy up
  appctl ovs/route/add 10.79.1.202/24 br-phy >/dev/null 2>&1 || true
  appctl tnl/arp/set br-phy 10.79.1.201 00:50:56:8f:4e:82 >/dev/null
  vsctl add-br br-int -- set bridge br-int datapath_type=netdev fail-mode=secure \
    protocols=OpenFlow10,OpenFlow15 \
    -- add-port br-int antrea-tun0 -- set interface antrea-tun0 type=geneve \
       options:remote_ip=flow options:key=flow ofport_request=1 \
    -- add-port br-int antrea-gw0 -- set interface antrea-gw0 type=internal ofport_request=2 \
       'mac="02:d8:4e:3f:92:1d"' \
    -- add-port br-int coredns--d8f62c -- set interface coredns--d8f62c ofport_request=3 \
    -- add-port br-int backend2-202ff6 -- set interface backend2-202ff6 ofport_request=35
  ovs ovs-ofctl add-tlv-map "unix:$OVS_D/br-int.mgmt" "{class=0x104,type=0x80,len=4}->tun_metadata0"
  ovs ovs-ofctl -O OpenFlow15 add-flows "unix:$OVS_D/br-int.mgmt" testdata/antrea-seed/worker2.flows
  for _ in $(seq 50); do ip -n w2 link show antrea-gw0 >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n w2 link set antrea-gw0 mtu 1450 up
  ip -n w2 addr add 10.222.2.1/24 dev antrea-gw0
  for c in 10.222.0.0/24 10.222.1.0/24; do
    ip -n w2 route add "$c" via "${c%.0/24}.1" dev antrea-gw0 onlink
  done
  nsx w2 sysctl -qw net.ipv4.ip_forward=1
}
# kernel_node: worker2 is the Linux kernel's Geneve device gnv0, standing in for a pod
# 10.222.2.2 on a remote node (its MAC is the virtual MAC routed traffic carries).
kernel_node() {
  ip -n w2 link set uplink address 00:50:56:8f:1c:f6
  ip -n w2 addr add 10.79.1.202/24 dev uplink
  ip -n w2 link add gnv0 type geneve id 0 remote 10.79.1.201 dstport 6081
  ip -n w2 link set gnv0 address aa:bb:cc:dd:ee:ff mtu 1450 up
  ip -n w2 addr add 10.222.2.2/24 dev gnv0
  ip -n w2 route add 10.222.1.0/24 dev gnv0
  # Routed traffic from worker1's tunnel must carry the virtual MAC as destination.
  ip -n w2 neigh add 10.222.1.2 lladdr aa:bb:cc:dd:ee:ff dev gnv0
}
if [ "$PEER" = kernel ]; then
  if ! ip -n w2 link add gnvprobe type geneve id 0 remote 10.79.1.201 2>"$RUN/probe.err"; then
    echo "== Linux kernel Geneve peer: skipped: this kernel cannot create a geneve device ($(tr -d '\n' <"$RUN/probe.err"); modprobe geneve: $(modprobe geneve 2>&1 | head -1))"
    exit 0
  fi
  ip -n w2 link del gnvprobe
  echo "== starting brisk on worker1; worker2 is the Linux kernel's Geneve device"
  node w1 worker1 10.222.0.0/24 10.222.2.0/24
  kernel_node
  PASS=0 FAIL=0
  for d in "w1-coredns 10.222.2.2 brisk encap, kernel decap" "w2 10.222.1.2 kernel encap, brisk decap"; do
    # shellcheck disable=SC2086  # split on purpose: namespace, address, description
    set -- $d
    if nsx "$1" ping -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; then
      PASS=$((PASS + 1)); echo "  ping $1 -> $2 (${*:3}) ok"
    else
      FAIL=$((FAIL + 1)); echo "  ping $1 -> $2 (${*:3}) failed  <-- WRONG"
    fi
  done
  "$BRISK" ctl --socket "$RUN/worker1.sock" drop-stats | sed -n '/decapsulation/,/encapsulation/p'
  echo "== $PASS checks as expected, $FAIL not"
  [ "$FAIL" = 0 ]
  exit
fi
if [ "$VIA" = ovsdb ]; then
  HOW="brisk run --ovsdb following its ovsdb-server; bridge and ports by ovs-vsctl as Antrea's agent makes them (brisk conf vsctl), flows by ovs-ofctl"
else
  HOW="brisk run --config conf/examples/workerN.yaml"
fi
if [ "$PEER" = ovs ]; then
  echo "== starting brisk on worker1 ($HOW) and Open vSwitch $(ovs-vswitchd --version | awk 'NR==1 {print $NF}') (userspace datapath, the seed's worker2 flows) on worker2"
  node w1 worker1 10.222.0.0/24 10.222.2.0/24
  ovs_node
else
  echo "== starting brisk on worker1 and worker2 ($HOW; proxy: $PROXY)"
  node w1 worker1 10.222.0.0/24 10.222.2.0/24
  node w2 worker2 10.222.0.0/24 10.222.1.0/24
fi
if [ "$VIA" = ovsdb ]; then
  echo "== worker1 as Open vSwitch's tools see it: ovs-vsctl show; ovs-appctl dpif/show"
  vsctl_n worker1 show | sed 's/^/  /'
  appctl_n worker1 dpif/show | sed 's/^/  /'
fi
ctl() { "$BRISK" ctl --socket "$RUN/$1.sock" "${@:2}"; }
# The scenario table: scen_begin before a scenario, scen_end NAME SENT RECEIVED after it
# adds a row with what the brisk nodes counted meanwhile (scripts/scenario.py).
SCEN_NODES=(worker1)
[ "$PEER" = brisk ] && SCEN_NODES+=(worker2)
scen_snap() {
  local socks=() n
  for n in "${SCEN_NODES[@]}"; do socks+=("$RUN/$n.sock"); done
  BRISK=$BRISK python3 scripts/scenario.py snap "$RUN/scen.$1.json" "${socks[@]}"
}
scen_begin() { scen_snap begin; }
scen_end() {
  sleep 0.3
  scen_snap end
  python3 scripts/scenario.py row "$1" "$2" "$3" "$RUN/scen.begin.json" "$RUN/scen.end.json" >>"$RUN/scenarios.md"
}
# Which layer drives each port (DPDK PMDs, or brisk's own AF_PACKET and TAP sockets).
echo "  worker1 ports: $(ctl worker1 show | awk '/^ [0-9]+\(/ {sub(/:.*/, "", $1); n=$1} /type:/ {printf "%s %s, ", n, $2}' | sed 's/, $//')"

# kube-proxy's part of the service: DNAT on worker1's host, as iptables would.
SVC=0
if [ "$PROXY" = kube-proxy ] && nsx w1 iptables -t nat -A PREROUTING -d 10.104.65.133 -p tcp --dport 80 \
     -j DNAT --to-destination 10.222.2.34:80 2>/dev/null; then
  SVC=1
fi

echo "== backends serve HTTP on port 80 (the body names the pod)"
for p in w1-backend1 w2-backend2 w1-frontend; do
  mkdir -p "$RUN/www-$p"
  echo "$p" >"$RUN/www-$p/index.html"
  # ip netns exec execs the server, so the PID kept is the server's (cleanup kills it).
  ip netns exec "$p" python3 -m http.server 80 --bind 0.0.0.0 --directory "$RUN/www-$p" >"$RUN/$p.http.log" 2>&1 &
  PIDS+=($!)
done
sleep 1

PASS=0
FAIL=0
check() { # check WHAT EXPECT(ok|blocked) POD_NS URL
  local what=$1 expect=$2 ns=$3 url=$4 got
  if body=$(nsx "$ns" curl -s -m 3 "$url"); then got=ok; else got=blocked; fi
  if [ "$got" = "$expect" ]; then
    PASS=$((PASS + 1)); printf '  %-58s %-8s (expected %s)\n' "$what" "$got" "$expect"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s %-8s (expected %s)  <-- WRONG\n' "$what" "$got" "$expect"
  fi
  [ "$got" = ok ] && [ -n "$body" ] || true
}
echo "== traffic"
scen_begin
# First contact resolves ARP (gateway, peers' gateways by the ARP responder).
nsx w1-frontend ping -c 1 -W 2 10.222.1.1 >/dev/null 2>&1 || true
nsx w2-backend2 ping -c 1 -W 2 10.222.2.1 >/dev/null 2>&1 || true
check "frontend -> backend2 10.222.2.34:80 (over Geneve)" ok w1-frontend http://10.222.2.34/
check "frontend -> backend1 10.222.1.47:80 (same node)" ok w1-frontend http://10.222.1.47/
if [ $SVC = 1 ]; then
  check "frontend -> backendsvc 10.104.65.133:80 (gw0, DNAT, Geneve)" ok w1-frontend http://10.104.65.133/
elif [ "$PROXY" = antrea-proxy ]; then
  declare -A BY=()
  for _ in $(seq 20); do
    b=$(nsx w1-frontend curl -s -m 3 http://10.104.65.133/ || echo failed)
    BY[$b]=$(( ${BY[$b]:-0} + 1 ))
  done
  n1=${BY[w1-backend1]:-0} n2=${BY[w2-backend2]:-0}
  if [ $((n1 + n2)) = 20 ] && [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ]; then got=ok; PASS=$((PASS + 1)); else got=WRONG; FAIL=$((FAIL + 1)); fi
  printf '  %-58s %-8s (backend1 %d, backend2 %d of 20)\n' "frontend -> backendsvc 10.104.65.133:80 (brisk LB)" "$got" "$n1" "$n2"
  check "octant -> backendsvc 10.104.65.133:80 (policy on the endpoint)" blocked w1-octant http://10.104.65.133/
  # ClientIP affinity: the frontend's first connection picks an endpoint, brisk learns
  # it (table 41), and the other 19 follow it.
  declare -A BS=()
  for _ in $(seq 20); do
    b=$(nsx w1-frontend curl -s -m 3 http://10.104.65.134/ || echo failed)
    BS[$b]=$(( ${BS[$b]:-0} + 1 ))
  done
  n1=${BS[w1-backend1]:-0} n2=${BS[w2-backend2]:-0}
  if [ "$n1" = 20 ] || [ "$n2" = 20 ]; then got=ok; PASS=$((PASS + 1)); else got=WRONG; FAIL=$((FAIL + 1)); fi
  printf '  %-58s %-8s (backend1 %d, backend2 %d of 20)\n' "frontend -> backendsvc-sticky 10.104.65.134:80 (ClientIP)" "$got" "$n1" "$n2"
else
  echo "  (iptables not installed: the service walk via kube-proxy DNAT is skipped)"
fi
check "frontend -> backend2 10.222.2.34:22 (egress isolation)" blocked w1-frontend http://10.222.2.34:22/
check "backend1 -> frontend 10.222.1.48:80 (backend egress isolated)" blocked w1-backend1 http://10.222.1.48/
scen_end "walkthrough: HTTP as the policies say" "$((PASS + FAIL)) HTTP requests" "$PASS as expected (refused ones dropped)"
# Open vSwitch's own client on worker1's management socket sees the flows brisk ctl sees
# (as an operator types it: no -O, OpenFlow 1.0 with OVS's NXM extensions).
n_of=$(ovs-ofctl dump-flows "unix:$RUN/worker1.br-int.mgmt" 2>/dev/null | grep -c "cookie=" || true)
n_ctl=$("$BRISK" ctl --socket "$RUN/worker1.sock" dump-flows | grep -c "cookie=" || true)
if [ "$n_of" = "$n_ctl" ] && [ "$n_of" -gt 0 ]; then
  PASS=$((PASS + 1)); printf '  %-58s ok (%d flows, as brisk ctl)\n' "ovs-ofctl dump-flows worker1.br-int.mgmt" "$n_of"
else
  FAIL=$((FAIL + 1)); printf '  %-58s failed (%s vs %s flows)  <-- WRONG\n' "ovs-ofctl dump-flows worker1.br-int.mgmt" "$n_of" "$n_ctl"
fi
if [ "$PEER" = ovs ]; then
  # Geneve between brisk and OVS both ways, and tshark's view of what brisk sends (with a
  # tun_metadata0 option, as Antrea's traceflow sets one: the route to worker2's pods
  # replaced by the same flow plus the option).
  ctl worker1 add-flow "table=70,priority=200,ip,nw_dst=10.222.2.0/24 actions=dec_ttl,mod_dl_src:4e:99:08:c1:53:be,mod_dl_dst:aa:bb:cc:dd:ee:ff,load:0x1->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],load:0xa4f01ca->NXM_NX_TUN_IPV4_DST[],load:0x5eed->NXM_NX_TUN_METADATA0[],resubmit(,105)" >/dev/null
  ip netns exec w2 tshark -q -i uplink -a duration:6 -f "udp dst port 6081 and src host 10.79.1.201" \
    -w "$RUN/geneve.pcap" >/dev/null 2>&1 &
  TSHARK=$!
  sleep 2
  pingcheck() { # WHAT FROM_NS DST
    if nsx "$2" ping -c 3 -i 0.2 -W 2 "$3" >/dev/null 2>&1; then
      PASS=$((PASS + 1)); printf '  %-58s %-8s (expected ok)\n' "$1" ok
    else
      FAIL=$((FAIL + 1)); printf '  %-58s %-8s (expected ok)  <-- WRONG\n' "$1" blocked
    fi
  }
  scen_begin
  P0=$PASS
  pingcheck "ping coredns w1 -> w2 10.222.2.2 (brisk encap, OVS decap)" w1-coredns 10.222.2.2
  pingcheck "ping coredns w2 -> w1 10.222.1.2 (OVS encap, brisk decap)" w2-coredns 10.222.1.2
  scen_end "Geneve with OVS both ways (worker1 only)" "2 x 3 pings" "$((PASS - P0)) of 2 answered x 3"
  wait "$TSHARK" || true
  echo "== tshark: a Geneve frame brisk encapsulated, as captured on worker2's uplink"
  line=$(tshark -r "$RUN/geneve.pcap" -c 1 2>/dev/null | sed 's/^ *//')
  protos=$(tshark -r "$RUN/geneve.pcap" -c 1 -T fields -e frame.protocols 2>/dev/null)
  echo "  $line"
  echo "  protocols: $protos"
  fields=$(tshark -r "$RUN/geneve.pcap" -c 1 -T fields -E separator=' ' -e geneve.version \
    -e geneve.vni -e geneve.proto_type -e geneve.option.class -e geneve.option.type \
    -e geneve.option.length -e geneve.option.unknown.data -e ip.src -e ip.dst -e udp.dstport 2>/dev/null)
  echo "  fields: version vni proto option.class option.type option.length option.data src dst dport = $fields"
  if [ "${protos#eth:ethertype:ip:udp:geneve:eth:}" != "$protos" ] &&
     echo "$fields" | grep -Eq '^0 0x0+ 0x6558 0x0104 0x80 [0-9,]+ 00005eed '; then
    PASS=$((PASS + 1)); printf '  %-58s %-8s\n' "tshark decodes brisk's frame (VNI 0, TEB, option 0x104/0x80)" ok
  else
    FAIL=$((FAIL + 1)); printf '  %-58s %-8s  <-- WRONG\n' "tshark decodes brisk's frame (VNI 0, TEB, option 0x104/0x80)" failed
  fi
fi

if [ "$PEER" = brisk ] && [ "$PROXY" = kube-proxy ] && [ -z "$CT_MAX" ]; then
  # Volume across the tunnel: a 20 MB download checked byte for byte, and UDP both ways.
  head -c 20000000 /dev/urandom >"$RUN/www-w2-backend2/blob"
  scen_begin
  t0=$(date +%s%N)
  if nsx w1-frontend curl -s -m 60 -o "$RUN/blob.got" http://10.222.2.34/blob &&
     cmp -s "$RUN/www-w2-backend2/blob" "$RUN/blob.got"; then
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    PASS=$((PASS + 1)); printf '  %-58s ok (%d bytes identical, %d ms)\n' "TCP 20 MB backend2 -> frontend across Geneve" "$(stat -c %s "$RUN/blob.got")" "$ms"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s failed  <-- WRONG\n' "TCP 20 MB backend2 -> frontend across Geneve"
  fi
  scen_end "TCP download across Geneve" "20000000 B" "$(stat -c %s "$RUN/blob.got" 2>/dev/null || echo 0) B, $(cmp -s "$RUN/www-w2-backend2/blob" "$RUN/blob.got" && echo identical || echo DIFFERENT)"
  # The flows replaced (the node's set plus one) and the node reloaded (back to its set)
  # while a download runs: it completes byte for byte and the datapath drops nothing.
  "$BRISK" conf flows conf/examples/worker1.yaml >"$RUN/worker1.flows"
  # Plus one flow the traffic does not use, so replace-flows adds it and reload removes it.
  echo "table=200, priority=1,udp,tp_dst=7 actions=drop" >>"$RUN/worker1.flows"
  dp_drops() { ctl worker1 drop-stats | awk 'NR > 1 && /^  / && $1 != "parse_errors" {s += $2} /^decapsulation/ {exit} END {print s}'; }
  D0=$(dp_drops)
  scen_begin
  nsx w1-frontend curl -s -m 60 --limit-rate 8M -o "$RUN/blob2.got" http://10.222.2.34/blob &
  DL=$!
  sleep 0.5
  if [ "$VIA" = ovsdb ]; then
    # As Antrea's agent does it: ovs-ofctl, over OpenFlow 1.5 (a bundle).
    "$BRISK" conf flows conf/examples/worker1.yaml >"$RUN/worker1.node.flows"
    rf=$(ofctl_n worker1 replace-flows "$RUN/worker1.flows" 2>&1 && echo "ovs-ofctl replace-flows: the node's flows plus one")
    rl=$(ofctl_n worker1 replace-flows "$RUN/worker1.node.flows" 2>&1 && echo "ovs-ofctl replace-flows: the node's flows again")
  else
    rf=$(ctl worker1 replace-flows "$RUN/worker1.flows")
    rl=$(ctl worker1 reload conf/examples/worker1.yaml | sed 's/^node worker1: //')
  fi
  wait "$DL" || true
  D1=$(dp_drops)
  if cmp -s "$RUN/www-w2-backend2/blob" "$RUN/blob2.got" && [ "$D0" = "$D1" ]; then
    PASS=$((PASS + 1)); printf '  %-58s ok (datapath drops +%d)\n' "replace-flows and reload during a 20 MB download" $((D1 - D0))
  else
    FAIL=$((FAIL + 1)); printf '  %-58s failed (datapath drops +%d)  <-- WRONG\n' "replace-flows and reload during a 20 MB download" $((D1 - D0))
    ctl worker1 drop-stats | sed 's/^/    /'
  fi
  scen_end "replace-flows + reload during a download" "20000000 B" "$(stat -c %s "$RUN/blob2.got" 2>/dev/null || echo 0) B, $(cmp -s "$RUN/www-w2-backend2/blob" "$RUN/blob2.got" && echo identical || echo DIFFERENT)"
  echo "    replace-flows: $rf"
  echo "    reload: $rl"
  ip netns exec w2-coredns python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
s.settimeout(10)
try:
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)
except socket.timeout:
    pass' &
  ECHO=$!
  sleep 0.5
  scen_begin
  udp=$(ip netns exec w1-coredns python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
n, got = 1000, 0
# Batches of 50, each drained before the next (the socket buffer holds only so much).
for b in range(0, n, 50):
    for i in range(b, b + 50):
        s.sendto(b"%06d" % i + b"x" * 500, ("10.222.2.2", 9000))
    try:
        for _ in range(50):
            s.recv(2048)
            got += 1
    except socket.timeout:
        pass
print(n, got)')
  kill "$ECHO" 2>/dev/null || true
  wait "$ECHO" 2>/dev/null || true
  read -r usent ugot <<<"$udp"
  scen_end "UDP echo across Geneve" "$usent x 506 B" "$ugot echoed"
  if [ "${ugot:-0}" -ge $((usent * 99 / 100)) ]; then
    PASS=$((PASS + 1)); printf '  %-58s ok (%d sent, %d echoed back)\n' "UDP coredns w1 <-> w2 across Geneve, 506 B" "$usent" "$ugot"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s %s  <-- WRONG\n' "UDP coredns w1 <-> w2 across Geneve, 506 B" "$udp"
  fi
  # 4,000-byte UDP datagrams from the frontend (brisk's own AF_PACKET port: its kernel's
  # IPv4 fragments reach the switch as sent) to coredns on worker2, behind ct() on both
  # nodes: each node reassembles for conntrack and forwards the original fragments with
  # the datagram's verdict; coredns's kernel gets every datagram whole.
  ip netns exec w2-coredns python3 -c '
import socket, hashlib
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
s.settimeout(4)
try:
    while True:
        d, a = s.recvfrom(65535)
        print(len(d), hashlib.sha256(d).hexdigest(), flush=True)
except socket.timeout:
    pass' >"$RUN/frag.got" &
  RX=$!
  sleep 0.5
  W2F0=$(ctl worker2 ipf-get-status | awk -F': ' '/v4 frags completed/ {print $2}')
  scen_begin
  nsx w1-frontend python3 -c '
import socket, hashlib, os, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    d = os.urandom(4000)
    print(len(d), hashlib.sha256(d).hexdigest(), flush=True)
    s.sendto(d, ("10.222.2.2", 53))
    time.sleep(0.02)' >"$RUN/frag.sent"
  wait "$RX" 2>/dev/null || true
  fsent=$(wc -l <"$RUN/frag.sent")
  fgot=$(sort "$RUN/frag.got" | comm -12 - <(sort "$RUN/frag.sent") | wc -l)
  scen_end "fragmented UDP across Geneve" "$fsent x 4000 B" "$fgot identical"
  W2F=$(( $(ctl worker2 ipf-get-status | awk -F': ' '/v4 frags completed/ {print $2}') - W2F0 ))
  if [ "$fsent" = 20 ] && [ "$fgot" = 20 ]; then
    PASS=$((PASS + 1)); printf '  %-58s ok (%d of %d identical; worker2 reassembled %d fragments for ct)\n' "UDP 4000 B frontend -> coredns w2 in IPv4 fragments" "$fgot" "$fsent" "$W2F"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s %d of %d  <-- WRONG\n' "UDP 4000 B frontend -> coredns w2 in IPv4 fragments" "$fgot" "$fsent"
    ctl worker1 ipf-get-status | sed 's/^/    w1 /'; ctl worker2 ipf-get-status | sed 's/^/    w2 /'
  fi
fi

if [ -n "$CT_MAX" ]; then
  # Fill worker1's conntrack: hold one connection open first, then open more than fit.
  echo "== filling worker1's conntrack (conntrack_max: $CT_MAX)"
  ip netns exec w1-frontend python3 - "$RUN" >"$RUN/held.out" 2>&1 <<'PY' &
import os, socket, sys, time
run = sys.argv[1]
s = socket.create_connection(("10.222.1.47", 80), timeout=5)
open(os.path.join(run, "held.ready"), "w").close()
while not os.path.exists(os.path.join(run, "held.go")):
    time.sleep(0.1)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
s.settimeout(5)
print("held connection answered:", s.recv(200).split(b"\r\n")[0].decode())
PY
  HELD=$!
  for _ in $(seq 50); do [ -e "$RUN/held.ready" ] && break; sleep 0.1; done
  ctstat() { ctl worker1 drop-stats | awk -v k="$1" '$1 == k {print $2; exit}'; }
  R0=$(ctstat refused_full)
  scen_begin
  ok=0 refused=0
  for _ in $(seq $((CT_MAX + 10))); do
    if nsx w1-frontend curl -s -m 1 -o /dev/null http://10.222.1.47/; then ok=$((ok + 1)); else refused=$((refused + 1)); fi
  done
  R1=$(ctstat refused_full)
  scen_end "conntrack full ($CT_MAX): new connections" "$((CT_MAX + 10)) connections" "$ok answered, $refused refused"
  echo "  $((CT_MAX + 10)) new connections: $ok answered, $refused not; conntrack: $(ctstat connections) connections, refused_full +$((R1 - R0)), datapath ct_full $(ctstat ct_full)"
  if [ "$refused" -gt 0 ] && [ $((R1 - R0)) -gt 0 ] && [ "$(ctstat connections)" -le "$CT_MAX" ]; then
    PASS=$((PASS + 1)); printf '  %-58s ok\n' "new connections refused and counted at the limit"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s failed  <-- WRONG\n' "new connections refused and counted at the limit"
  fi
  touch "$RUN/held.go"
  wait "$HELD" || true
  sed 's/^/  /' "$RUN/held.out"
  if grep -q 'answered: HTTP/1.0 200' "$RUN/held.out"; then
    PASS=$((PASS + 1)); printf '  %-58s ok\n' "the connection established before keeps working"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s failed  <-- WRONG\n' "the connection established before keeps working"
  fi
fi

if [ "$PEER" = brisk ] && [ "$PROXY" = kube-proxy ] && [ -z "$CT_MAX" ]; then
  # Attacks from the frontend pod, each dropped where the seed's pipeline says and counted
  # by the flow that drops it: spoof guard (table 10's default drop) or conntrack's +inv
  # (table 31).
  echo "== attacks from the frontend pod (scripts/craft.py sends hand-made frames)"
  # packets TABLE MATCH: n_packets of worker1's flow in TABLE whose text contains MATCH.
  packets() {
    ctl worker1 dump-flows "table=$1" | grep -F -- "$2" | head -1 | sed -n 's/.*n_packets=\([0-9]*\).*/\1/p'
  }
  attack() { # WHAT TABLE MATCH EXPECTED_MIN COMMAND...
    local what=$1 table=$2 match=$3 want=$4 before after; shift 4
    scen_begin
    before=$(packets "$table" "$match")
    "$@" >/dev/null 2>&1 || true
    sleep "${SETTLE:-0.5}"
    after=$(packets "$table" "$match")
    local sent=${what#*(}
    scen_end "attack: ${what%% (*}" "${sent%)}" "0 delivered"
    if [ $((after - before)) -ge "$want" ]; then
      PASS=$((PASS + 1)); printf '  %-58s dropped, +%d on table %s "%s"\n' "$what" $((after - before)) "$table" "$match"
    else
      FAIL=$((FAIL + 1)); printf '  %-58s +%d on table %s "%s", expected >= %d  <-- WRONG\n' "$what" $((after - before)) "$table" "$match" "$want"
    fi
  }
  FE_MAC=be:2c:bf:e4:ec:c5 BE1_MAC=f2:32:d8:07:e2:a6
  CRAFT=(ip netns exec w1-frontend python3 scripts/craft.py eth0)
  ip -n w1-frontend addr add 10.222.1.99/32 dev eth0
  attack "spoofed source IP 10.222.1.99 (curl to backend1)" 10 "priority=0 actions=drop" 1 \
    nsx w1-frontend curl -s -m 2 --interface 10.222.1.99 http://10.222.1.47/
  ip -n w1-frontend addr del 10.222.1.99/32 dev eth0
  attack "spoofed source MAC 02:00:00:00:00:99 (5 TCP segments)" 10 "priority=0 actions=drop" 5 \
    "${CRAFT[@]}" tcp-noconn 02:00:00:00:00:99 "$BE1_MAC" 10.222.1.48 10.222.1.47 80 5
  attack "ARP request with a forged sender IP 10.222.1.47 (1)" 10 "priority=0 actions=drop" 1 \
    "${CRAFT[@]}" arp-forged "$FE_MAC" 10.222.1.47 10.222.1.1
  attack "TCP ACKs of no connection (10, to backend1:80)" 31 "ct_state=+inv+trk" 10 \
    "${CRAFT[@]}" tcp-noconn "$FE_MAC" "$BE1_MAC" 10.222.1.48 10.222.1.47 80 10
  attack "TCP SYNs with a wrong checksum (10, to backend1:80)" 31 "ct_state=+inv+trk" 10 \
    "${CRAFT[@]}" tcp-badsum "$FE_MAC" "$BE1_MAC" 10.222.1.48 10.222.1.47 80 10
  # The frontend's port is brisk's own AF_PACKET socket (worker1.yaml), so fragments
  # reach the switch as sent. conntrack reassembles (OVS's ipf): a first piece of 16 bytes
  # is a tiny fragment (RFC 1858; below the 1,200-byte minimum), tracked alone as +inv and
  # dropped, whatever port it names; the second pieces wait for a first that never comes
  # and expire (ipf_expired; the timeout is 1 s here, 15 s by default, so that each
  # scenario ends with its buffers back).
  ipf() { ctl worker1 ipf-get-status | awk -F': ' -v k="$1" '$1 ~ k {print $2; exit}'; }
  IPF0=$(ipf "v4 frags too small") IPX0=$(ipf "v4 frags expired")
  ctl worker1 ipf-set timeout 1000 >/dev/null
  SETTLE=1.5 attack "IPv4 fragments of TCP SYNs to backend1:22 (10 x 2)" 31 "ct_state=+inv+trk" 10 \
    "${CRAFT[@]}" ip-frags "$FE_MAC" "$BE1_MAC" 10.222.1.48 10.222.1.47 22 10
  SETTLE=1.5 attack "IPv4 fragments of TCP SYNs to backend1:80 (10 x 2)" 31 "ct_state=+inv+trk" 10 \
    "${CRAFT[@]}" ip-frags "$FE_MAC" "$BE1_MAC" 10.222.1.48 10.222.1.47 80 10
  ctl worker1 ipf-set timeout 15000 >/dev/null
  echo "    ipf: $(( $(ipf "v4 frags too small") - IPF0 )) tiny first pieces refused, $(( $(ipf "v4 frags expired") - IPX0 )) second pieces expired, $(ipf "^ *num frag$") held"
  check "frontend -> backend1 10.222.1.47:80 after the attacks" ok w1-frontend http://10.222.1.47/

  # 100,000 malformed frames on worker1's uplink, sent from worker2's end of the wire:
  # every bad Geneve frame is counted by its reason, the switch keeps forwarding, and no
  # packet buffer is lost.
  echo "== a flood of 100,000 malformed frames into worker1's uplink"
  counter() { ctl worker1 drop-stats | awk -v k="$1" '$1 == k {print $2; exit}'; }
  mp() { ctl worker1 mempool | awk '{s += $(NF - 2)} END {print s}'; }
  declare -A B4=()
  for k in bad_version bad_option_length inner_truncated parse_errors; do B4[$k]=$(counter $k); done
  MP_BEFORE=$(mp)
  scen_begin
  sent=$(ip netns exec w2 python3 scripts/craft.py uplink flood 00:50:56:8f:1c:f6 00:50:56:8f:4e:82 \
    10.79.1.202 10.79.1.201 100000 | sed -n 1p)
  echo "  sent: $sent"
  sleep 1
  check "frontend -> backend2 10.222.2.34:80 after the flood" ok w1-frontend http://10.222.2.34/
  sleep 1
  scen_end "flood of malformed frames into the uplink" "100000 frames" "0 delivered"
  MP_AFTER=$(mp)
  for k in bad_version bad_option_length inner_truncated; do
    want=$(echo "$sent" | tr ' ' '\n' | sed -n "s/^geneve_$k=//p")
    got=$(( $(counter $k) - ${B4[$k]} ))
    if [ "$got" -ge "$want" ]; then
      PASS=$((PASS + 1)); printf '  %-58s %d counted of %d sent\n' "Geneve $k" "$got" "$want"
    else
      FAIL=$((FAIL + 1)); printf '  %-58s %d counted of %d sent  <-- WRONG\n' "Geneve $k" "$got" "$want"
    fi
  done
  printf '  %-58s +%d\n' "datapath parse_errors (truncated headers)" $(( $(counter parse_errors) - ${B4[parse_errors]} ))
  ctl worker1 dump-ports | grep -A1 '(uplink)' | sed 's/^/  /'
  if [ "$MP_BEFORE" = "$MP_AFTER" ]; then
    PASS=$((PASS + 1)); printf '  %-58s %s before, %s after\n' "mempool mbufs in use (idle)" "$MP_BEFORE" "$MP_AFTER"
  else
    FAIL=$((FAIL + 1)); printf '  %-58s %s before, %s after  <-- WRONG\n' "mempool mbufs in use (idle)" "$MP_BEFORE" "$MP_AFTER"
  fi

  # Faults: a pod's port goes away and comes back; the other node's switch restarts.
  echo "== faults"
  scen_begin
  P0=$PASS
  if [ "$VIA" = ovsdb ]; then
    vsctl_n worker1 del-port br-int backend1-bab86f
  else
    ctl worker1 port del backend1-bab86f >/dev/null
  fi
  check "frontend -> backend1 while its port is removed" blocked w1-frontend http://10.222.1.47/
  check "frontend -> backend2 meanwhile" ok w1-frontend http://10.222.2.34/
  if [ "$VIA" = ovsdb ]; then
    # The line Antrea's agent ran for this pod (brisk conf vsctl), run again.
    eval "vsctl_n worker1 $(sed -n 's/^ovs-vsctl \(add-port br-int backend1-bab86f .*\)/\1/p' "$RUN/worker1.setup")"
    echo "  ovs-vsctl del-port / add-port backend1-bab86f: ofport $(vsctl_n worker1 get Interface backend1-bab86f ofport) again"
  else
    ctl worker1 port add backend1-bab86f 48 "net_af_packet_be1,iface=backend1-bab86f" >/dev/null
  fi
  check "frontend -> backend1 after its port is added again" ok w1-frontend http://10.222.1.47/
  scen_end "pod port removed and added again" "3 HTTP requests" "$((PASS - P0)) as expected (1 refused while removed)"
  SCEN_NODES=(worker1)
  scen_begin
  P0=$PASS  w2pid=${PIDS[1]}
  kill -TERM "$w2pid"
  wait "$w2pid" || true
  grep -h 'stopped cleanly' "$RUN/worker2.log" | sed 's/^/  worker2: /'
  rm -f "$RUN/worker2.sock"
  node w2 worker2 10.222.0.0/24 10.222.1.0/24 >/dev/null
  check "frontend -> backend2 after worker2's brisk restarted" ok w1-frontend http://10.222.2.34/
  check "frontend -> backend2:22 still refused after the restart" blocked w1-frontend http://10.222.2.34:22/
  scen_end "worker2's brisk restarted (worker1 only)" "2 HTTP requests" "$((PASS - P0)) as expected"
  SCEN_NODES=(worker1 worker2)

  # A DPDK pod on a vhost-user port: `reload` adds it to worker1 (brisk the vhost-user
  # server); in its namespace testpmd forwards between a virtio-user port (the pod's end of
  # the socket) and a TAP eth0 that the pod's kernel uses. Then the pod's testpmd restarts,
  # as a pod does: brisk's port goes down and comes back by itself.
  if ! "$BRISK" --version | grep -q '^DPDK: [0-9]'; then
    echo "== a vhost-user pod: skipped, this brisk was built without DPDK (no vhost-user ports)"
  elif ! command -v dpdk-testpmd >/dev/null; then
    echo "== a vhost-user pod: skipped, no dpdk-testpmd (Debian package dpdk)"
  else
    echo "== a vhost-user pod (testpmd: virtio-user <-> TAP eth0), restarted"
    python3 - "$RUN" <<'PY'
import sys
run = sys.argv[1]
y = open("conf/examples/worker1.yaml").read()
pod = f"""  - name: dpdkpod-1
    ofport: 60
    devargs: "net_vhost_dp1,iface={run}/dpdkpod.sock,client=0,queues=1"
    ip: 10.222.1.60
    mac: "02:00:0a:de:01:3c"
    labels: {{role: frontend}}

remote_pods:"""
open(f"{run}/worker1-dpdkpod.yaml", "w").write(y.replace("remote_pods:", pod, 1))
PY
    if [ "$VIA" = ovsdb ]; then
      # OVS-DPDK's way: a dpdkvhostuser interface, its socket in the vswitchd's run
      # directory; then the node's flows with the pod's.
      VHOST_SOCK=$(dbdir worker1)/dpdkpod-1
      vsctl_n worker1 add-port br-int dpdkpod-1 -- set Interface dpdkpod-1 type=dpdkvhostuser ofport_request=60
      "$BRISK" conf flows "$RUN/worker1-dpdkpod.yaml" >"$RUN/worker1-dpdkpod.flows"
      ofctl_n worker1 replace-flows "$RUN/worker1-dpdkpod.flows"
      echo "  ovs-vsctl add-port br-int dpdkpod-1 type=dpdkvhostuser: ofport $(vsctl_n worker1 get Interface dpdkpod-1 ofport), socket $VHOST_SOCK; ovs-ofctl replace-flows with the pod's flows"
    else
      VHOST_SOCK=$RUN/dpdkpod.sock
      echo "  reload: $(ctl worker1 reload "$RUN/worker1-dpdkpod.yaml" | sed 's/^node worker1: //')"
    fi
    quiet_ns w1-dpdkpod
    dpdk_pod() {
      ip netns exec w1-dpdkpod dpdk-testpmd -l 0,1 --no-huge -m 512 --no-pci --single-file-segments \
        --file-prefix=demo-dpdkpod --vdev="net_virtio_user0,path=$VHOST_SOCK,queues=1" \
        --vdev=net_tap0,iface=eth0,mac=02:00:0a:de:01:3c -- --forward-mode=io --stats-period 5 \
        --nb-cores=1 --total-num-mbufs=4096 >"$RUN/testpmd.log" 2>&1 &
      PIDS+=($!)
      TESTPMD=$!
      # net_tap sets the interface's MAC while its port starts: configure it after that.
      for _ in $(seq 100); do grep -q "Start automatic packet forwarding" "$RUN/testpmd.log" && break; sleep 0.1; done
      ip -n w1-dpdkpod link set eth0 mtu 1450 up
      ip -n w1-dpdkpod addr add 10.222.1.60/24 dev eth0
      ip -n w1-dpdkpod route add default via 10.222.1.1
      nsx w1-dpdkpod ethtool -K eth0 tx off >/dev/null 2>&1 || true
      for _ in $(seq 50); do ctl worker1 show | grep -A2 '(dpdkpod-1)' | grep -q 'link up' && break; sleep 0.1; done
    }
    link() { ctl worker1 show | grep -A2 '(dpdkpod-1)' | sed -n 's/.*link \(up\|down\).*/\1/p'; }
    scen_begin
    P0=$PASS
    dpdk_pod
    check "dpdkpod (vhost-user) -> backend1 10.222.1.47:80" ok w1-dpdkpod http://10.222.1.47/
    kill -TERM "$TESTPMD"
    wait "$TESTPMD" || true
    echo "  testpmd stopped: brisk's vhost-user port is $(link)"
    check "dpdkpod -> backend1 while its testpmd is gone" blocked w1-dpdkpod http://10.222.1.47/
    dpdk_pod
    echo "  testpmd started again: brisk's vhost-user port is $(link)"
    check "dpdkpod -> backend1 after its testpmd restarted" ok w1-dpdkpod http://10.222.1.47/
    scen_end "vhost-user pod's testpmd restarted" "3 HTTP requests" "$((PASS - P0)) as expected (1 refused while it was gone)"
    kill -TERM "$TESTPMD"
    wait "$TESTPMD" || true
    if [ "$VIA" = ovsdb ]; then
      vsctl_n worker1 del-port br-int dpdkpod-1
      "$BRISK" conf flows conf/examples/worker1.yaml >"$RUN/worker1.node.flows"
      ofctl_n worker1 replace-flows "$RUN/worker1.node.flows"
    else
      echo "  reload: $(ctl worker1 reload conf/examples/worker1.yaml | sed 's/^node worker1: //')"
    fi
  fi
fi

echo "== worker1: brisk ctl dump-ports"
ctl worker1 dump-ports
echo "== worker1: brisk ctl dump-conntrack zone=65520"
ctl worker1 dump-conntrack zone=65520 | head -20
echo "== worker1: brisk ctl dump-flows table=50 (egress policy)"
ctl worker1 dump-flows table=50
if [ "$PROXY" = antrea-proxy ]; then
  echo "== worker1: brisk ctl dump-groups; dump-group-stats"
  ctl worker1 dump-groups
  ctl worker1 dump-group-stats
  echo "== worker1: brisk ctl dump-flows table=41 (SessionAffinity: the flows learn made)"
  ctl worker1 dump-flows table=41
fi
if [ "$PEER" = ovs ]; then
  echo "== worker2 (OVS): ovs-appctl tnl/ports/show; ovs-ofctl dump-ports br-int antrea-tun0"
  appctl tnl/ports/show
  ovs ovs-ofctl dump-ports "unix:$OVS_D/br-int.mgmt" antrea-tun0
else
  echo "== worker2: brisk ctl pmd-stats"
  ctl worker2 pmd-stats
  echo "== worker2: brisk ctl drop-stats"
  ctl worker2 drop-stats
fi

if [ -s "$RUN/scenarios.md" ]; then
  echo "== scenarios: what the brisk nodes counted meanwhile (packets and bytes summed over their ports, drops by reason, packet buffers free in each node's pool)"
  python3 scripts/scenario.py header
  cat "$RUN/scenarios.md"
fi
if [ $KEEP = 0 ]; then
  # Every node stops on SIGTERM and checks that each packet buffer is back in its pool.
  echo "== stopping the brisk nodes"
  for n in "${SCEN_NODES[@]}"; do
    kill -TERM "${NODE_PID[$n]}"
    wait "${NODE_PID[$n]}" || true
    if grep -q 'stopped cleanly.*every mbuf returned to the pool' "$RUN/$n.log"; then
      PASS=$((PASS + 1)); printf '  %-58s %s\n' "$n: clean stop, no packet buffer leaked" "$(grep -h 'stopped cleanly' "$RUN/$n.log")"
    else
      FAIL=$((FAIL + 1)); printf '  %-58s  <-- WRONG\n%s\n' "$n: clean stop, no packet buffer leaked" "$(tail -5 "$RUN/$n.log")"
    fi
  done
fi
echo "== $PASS checks as expected, $FAIL not"
if [ $KEEP = 1 ]; then
  echo "== running; sockets: $RUN/worker1.sock $RUN/worker2.sock  (e.g. $BRISK ctl --socket $RUN/worker1.sock show). Ctrl-C stops."
  while true; do sleep 3600; done
fi
[ $FAIL = 0 ]
