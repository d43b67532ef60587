#!/usr/bin/env bash
# The two-node demo: the seed cluster's worker1 and worker2 (conf/examples/*.yaml), each a
# `brisk run --config` in its own network namespace, their pods in network namespaces on
# veth pairs (read by DPDK's AF_PACKET PMD), the node gateway a DPDK TAP device, and the
# two uplinks joined by a veth pair that carries Geneve. Then the seed's traffic:
#   frontend -> backend2  TCP 80  (crosses the Geneve tunnel; allowed by frontendpolicy)
#   frontend -> backend1  TCP 80  (same node; allowed by backendpolicy)
#   frontend -> backendsvc 10.104.65.133:80 (to the gateway, DNAT by iptables as kube-proxy
#                         would, then over the tunnel; only if iptables is installed)
#     or, with --proxy antrea-proxy, load-balanced in brisk (select group + ct DNAT) over
#     backend1 and backend2: 20 connections, answered by both
#   octant -> backendsvc  (antrea-proxy only; dropped: policy judges the chosen endpoint)
#   frontend -> backend2  TCP 22  (dropped: egress isolation)
#   backend1 -> frontend  TCP 80  (dropped: backend1 may not start connections)
# and each node's counters. Everything is removed on exit.
#
#   scripts/demo-nodes.sh [--keep] [--proxy kube-proxy|antrea-proxy]
#     --keep: leave it running until Ctrl-C; --proxy: how services are handled (default
#     kube-proxy, as the seed)
set -euo pipefail
cd "$(dirname "$0")/.."
BRISK=${BRISK:-target/release/brisk}
KEEP=0
PROXY=kube-proxy
while [ $# -gt 0 ]; do
  case $1 in
    --keep) KEEP=1 ;;
    --proxy) PROXY=${2:?--proxy needs kube-proxy or antrea-proxy}; shift ;;
    *) echo "demo-nodes: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case $PROXY in kube-proxy|antrea-proxy) ;; *) echo "demo-nodes: --proxy $PROXY: kube-proxy or antrea-proxy" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "demo-nodes: needs root (network namespaces)" >&2; exit 1; }
RUN=$(mktemp -d /tmp/brisk-demo.XXXXXX)
PIDS=()
NS=(w1 w2 w1-coredns w1-octant w1-backend1 w1-frontend w2-coredns w2-backend2)

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
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

# node NS NAME GW_MAC GW_IP/24 PEER_CIDRS...
node() {
  local ns=$1 name=$2 mac=$3 gwip=$4; shift 4
  local yaml="conf/examples/$name.yaml"
  if [ "$PROXY" != kube-proxy ]; then
    sed "s/^proxy: kube-proxy/proxy: $PROXY/" "$yaml" >"$RUN/$name.yaml"
    yaml="$RUN/$name.yaml"
  fi
  "$BRISK" conf check "$yaml"
  ip netns exec "$ns" "$BRISK" run --config "$yaml" \
    --socket "$RUN/$name.sock" >"$RUN/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 150); do [ -S "$RUN/$name.sock" ] && break; sleep 0.1; done
  [ -S "$RUN/$name.sock" ] || { echo "brisk $name did not start:" >&2; cat "$RUN/$name.log" >&2; exit 1; }
  # The gateway: the node's own interface into the pod network (Antrea's antrea-gw0).
  ip -n "$ns" link set antrea-gw0 address "$mac" mtu 1450 up
  ip -n "$ns" addr add "$gwip" dev antrea-gw0
  for c in "$@"; do
    ip -n "$ns" route add "$c" via "${c%.0/24}.1" dev antrea-gw0 onlink
  done
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
}
echo "== starting brisk on worker1 and worker2 (brisk run --config conf/examples/workerN.yaml, proxy: $PROXY)"
node w1 worker1 4e:99:08:c1:53:be 10.222.1.1/24 10.222.0.0/24 10.222.2.0/24
node w2 worker2 02:d8:4e:3f:92:1d 10.222.2.1/24 10.222.0.0/24 10.222.1.0/24
ctl() { "$BRISK" ctl --socket "$RUN/$1.sock" "${@:2}"; }

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
else
  echo "  (iptables not installed: the service walk via kube-proxy DNAT is skipped)"
fi
check "frontend -> backend2 10.222.2.34:22 (egress isolation)" blocked w1-frontend http://10.222.2.34:22/
check "backend1 -> frontend 10.222.1.48:80 (backend egress isolated)" blocked w1-backend1 http://10.222.1.48/

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
fi
echo "== worker2: brisk ctl pmd-stats"
ctl worker2 pmd-stats
echo "== worker2: brisk ctl drop-stats"
ctl worker2 drop-stats

echo "== $PASS checks as expected, $FAIL not"
if [ $KEEP = 1 ]; then
  echo "== running; sockets: $RUN/worker1.sock $RUN/worker2.sock  (e.g. $BRISK ctl --socket $RUN/worker1.sock show). Ctrl-C stops."
  while true; do sleep 3600; done
fi
[ $FAIL = 0 ]
