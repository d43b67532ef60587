#!/usr/bin/env bash
# Sourced by the perf scripts: the bridge file of the seed's worker1 (its port names and
# numbers, as worker1.flows uses them) with the devices a script puts behind them.
#
#   worker1_bridge HEADER GW DNS OCTANT BACKEND1 FRONTEND UPLINK FLOWS
#
# HEADER: extra top-level lines (e.g. "workers: [1]"), may be empty; the others: devargs
# (DPDK devargs or afpacket:/tap:), FLOWS: the flows file.
worker1_bridge() {
  local header=$1 gw=$2 dns=$3 oct=$4 be=$5 fe=$6 up=$7 flows=$8
  cat <<YAML
bridge: br-int
${header}
ports:
  - {name: antrea-tun0, ofport: 1, type: geneve, options: {remote_ip: flow, key: flow}}
  - {name: antrea-gw0, ofport: 2, devargs: "$gw"}
  - {name: coredns--3e3abf, ofport: 3, devargs: "$dns"}
  - {name: antrea-o-830766, ofport: 4, devargs: "$oct"}
  - {name: backend1-bab86f, ofport: 48, devargs: "$be"}
  - {name: frontend-a3ba2f, ofport: 49, devargs: "$fe"}
  - {name: uplink, ofport: 7, devargs: "$up", uplink: {ip: 10.79.1.201/24}}
tlv_map: ["{class=0x104,type=0x80,len=4}->tun_metadata0"]
flows: $flows
YAML
}
