#!/usr/bin/env python3
"""Sends hand-made Ethernet frames out of an interface (AF_PACKET), for the attack checks
of scripts/demo-nodes.sh: run it inside a pod's network namespace.

  craft.py IFACE arp-forged  SRC_MAC FORGED_IP TARGET_IP      ARP request claiming FORGED_IP
  craft.py IFACE tcp-noconn  SRC_MAC DST_MAC SRC_IP DST_IP DPORT [COUNT]
                                                           TCP ACKs of no connection
  craft.py IFACE ip-frags    SRC_MAC DST_MAC SRC_IP DST_IP DPORT [COUNT]
                                                           a TCP SYN cut in two IPv4 fragments
  craft.py IFACE flood       SRC_MAC DST_MAC SRC_IP NODE_IP COUNT
                                                           malformed frames, in equal shares:
      random bytes, truncated IPv4, IPv4 longer than its frame, truncated TCP, and Geneve to
      NODE_IP:6081 with a bad version, an option longer than the header, or a cut inner
      frame; prints how many of each
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
    elif mode in ("tcp-noconn", "ip-frags", "tcp-badsum"):
        smac, dmac, sip, dip, dport = a[2], a[3], a[4], a[5], int(a[6])
        count = int(a[7]) if len(a) > 7 else 10
        eth = mac(dmac) + mac(smac) + b"\x08\x00"
        for i in range(count):
            if mode == "tcp-noconn":
                seg = tcp(sip, dip, 40000 + i, dport, 0x10, seq=5000, ack=7000)
                frames.append(eth + ipv4(sip, dip, 6, seg))
            elif mode == "tcp-badsum":
                # A SYN whose TCP checksum is wrong: conntrack finds it invalid.
                seg = tcp(sip, dip, 42000 + i, dport, 0x02)
                bad = struct.unpack("!H", seg[16:18])[0] ^ 0x5A5A
                frames.append(eth + ipv4(sip, dip, 6, seg[:16] + struct.pack("!H", bad) + seg[18:]))
            else:
                seg = tcp(sip, dip, 41000 + i, dport, 0x02, payload=b"x" * 16)
                # First fragment: 16 bytes of the TCP header (ports, seq, ack...), MF set;
                # second: the rest, at offset 16.
                # Identifications of their own per destination port: datagrams apart.
                ident = 0x4000 + (dport % 256) * 64 + i % 64
                frames.append(eth + ipv4(sip, dip, 6, seg[:16], ident=ident, frag=0x2000))
                frames.append(eth + ipv4(sip, dip, 6, seg[16:], ident=ident, frag=2))
    elif mode == "flood":
        import random
        rnd = random.Random(7)
        smac, dmac, sip, node, count = a[2], a[3], a[4], a[5], int(a[6])
        eth = mac(dmac) + mac(smac)

        def geneve(ver, optlen_words, inner):
            g = struct.pack("!BBH3sB", (ver << 6) | optlen_words, 0, 0x6558, b"\0\0\0", 0)
            u = struct.pack("!HHHH", 50000, 6081, 8 + len(g) + len(inner), 0) + g + inner
            return eth + b"\x08\x00" + ipv4(sip, node, 17, u)

        inner_ok = (b"\xaa\xbb\xcc\xdd\xee\xff" + mac(smac) + b"\x08\x00"
                    + ipv4("10.222.2.2", "10.222.1.2", 17, struct.pack("!HHHH", 1, 2, 8, 0)))
        kinds = {
            "random": lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randint(14, 120))),
            "ipv4_truncated": lambda: eth + b"\x08\x00" + ipv4(sip, node, 6, b"")[:10],
            "ipv4_bad_length": lambda: eth + b"\x08\x00" + ipv4(sip, node, 17, b"\0" * 8)[:2]
            + b"\x05\xdc" + ipv4(sip, node, 17, b"\0" * 8)[4:],
            "tcp_truncated": lambda: eth + b"\x08\x00" + ipv4(sip, node, 6, b"\0" * 8),
            "geneve_bad_version": lambda: geneve(1, 0, inner_ok),
            "geneve_bad_option_length": lambda: geneve(0, 40, inner_ok),
            "geneve_inner_truncated": lambda: geneve(0, 0, inner_ok[:10]),
        }
        names = list(kinds)
        sent = {k: 0 for k in names}
        for i in range(count):
            k = names[i % len(names)]
            frames.append(kinds[k]())
            sent[k] += 1
        print(" ".join("%s=%d" % (k, v) for k, v in sent.items()))
    else:
        sys.exit("craft.py: unknown mode " + mode)
    import time
    for i, f in enumerate(frames):
        s.send(f.ljust(60, b"\0"))
        if mode == "flood" and i % 64 == 63:
            # A burst of 64, then 1 ms: the receiving socket's ring (512 frames in DPDK's
            # af_packet PMD) is not what is being tested.
            time.sleep(0.001)
    print("sent %d frames" % len(frames))


if __name__ == "__main__":
    main()
