#!/usr/bin/env python3
"""Sends hand-made Ethernet frames out of an interface (AF_PACKET), for the attack checks
of scripts/demo-nodes.sh: run it inside a pod's network namespace.

  craft.py IFACE arp-forged  SRC_MAC FORGED_IP TARGET_IP      ARP request claiming FORGED_IP
  craft.py IFACE tcp-noconn  SRC_MAC DST_MAC SRC_IP DST_IP DPORT [COUNT]
                                                           TCP ACKs of no connection
  craft.py IFACE ip-frags    SRC_MAC DST_MAC SRC_IP DST_IP DPORT [COUNT]
                                                           a TCP SYN cut in two IPv4 fragments
"""
import socket
import struct
import sys


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip(s):
    return socket.inet_aton(s)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0x1234, frag=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                    ip(src), ip(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(src, dst, sport, dport, flags, seq=1000, ack=0, payload=b""):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ph = ip(src) + ip(dst) + struct.pack("!BBH", 0, 6, len(t))
    return t[:16] + struct.pack("!H", csum(ph + t)) + t[18:]


def main():
    a = sys.argv[1:]
    iface, mode = a[0], a[1]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    frames = []
    if mode == "arp-forged":
        smac, forged, target = a[2], a[3], a[4]
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac(smac), ip(forged),
                          b"\0" * 6, ip(target))
        frames.append(b"\xff" * 6 + mac(smac) + b"\x08\x06" + arp)
    elif mode in ("tcp-noconn", "ip-frags"):
        smac, dmac, sip, dip, dport = a[2], a[3], a[4], a[5], int(a[6])
        count = int(a[7]) if len(a) > 7 else 10
        eth = mac(dmac) + mac(smac) + b"\x08\x00"
        for i in range(count):
            if mode == "tcp-noconn":
                seg = tcp(sip, dip, 40000 + i, dport, 0x10, seq=5000, ack=7000)
                frames.append(eth + ipv4(sip, dip, 6, seg))
            else:
                seg = tcp(sip, dip, 41000 + i, dport, 0x02, payload=b"x" * 16)
                # First fragment: 16 bytes of the TCP header (ports, seq, ack...), MF set;
                # second: the rest, at offset 16.
                frames.append(eth + ipv4(sip, dip, 6, seg[:16], ident=0x4000 + i, frag=0x2000))
                frames.append(eth + ipv4(sip, dip, 6, seg[16:], ident=0x4000 + i, frag=2))
    else:
        sys.exit("craft.py: unknown mode " + mode)
    for f in frames:
        s.send(f.ljust(60, b"\0"))
    print("sent %d frames" % len(frames))


if __name__ == "__main__":
    main()
