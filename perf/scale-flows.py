#!/usr/bin/env python3
"""Antrea-shaped flows for N pods (8 per pod: classifier, spoof guard, ARP, L3 and L2
forwarding, NetworkPolicy conjunctions), for the OpenFlow scale run (perf/bundle-scale.sh).

usage: scale-flows.py PODS > flows.txt
"""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
out = []
for i in range(n):
    port = 100 + i
    ip = "10.%d.%d.%d" % (64 + (i >> 16), (i >> 8) & 0xff, i & 0xff)
    mac = "0a:58:%02x:%02x:%02x:%02x" % ((i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
    rule = 1000 + i % 500
    out += [
        "cookie=0x1030000000000,table=0,priority=190,in_port=%d actions=load:0x2->NXM_NX_REG0[0..15],resubmit(,10)" % port,
        "cookie=0x1030000000000,table=10,priority=200,ip,in_port=%d,dl_src=%s,nw_src=%s actions=resubmit(,30)" % (port, mac, ip),
        "cookie=0x1030000000000,table=10,priority=200,arp,in_port=%d,arp_spa=%s,arp_sha=%s actions=resubmit(,20)" % (port, ip, mac),
        "cookie=0x1030000000000,table=70,priority=200,ip,reg0=0x80000/0x80000,nw_dst=%s actions=set_field:%s->eth_dst,resubmit(,80)" % (ip, mac),
        "cookie=0x1030000000000,table=80,priority=200,dl_dst=%s actions=load:0x%x->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],resubmit(,90)" % (mac, port),
        "cookie=0x1050000000000,table=90,priority=200,ip,nw_src=%s actions=conjunction(%d,1/2)" % (ip, rule),
        "cookie=0x1050000000000,table=90,priority=200,ip,reg1=0x%x actions=conjunction(%d,2/2)" % (port, rule),
        "cookie=0x1050000000000,table=100,priority=200,ip,nw_dst=%s,reg1=0x%x actions=resubmit(,105)" % (ip, port),
    ]
print("\n".join(out))
