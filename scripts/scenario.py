#!/usr/bin/env python3
"""The demo's scenario table: what each scenario made the switches do.

  scenario.py snap OUT.json SOCKET...    counters of the brisk nodes behind the control sockets
  scenario.py row NAME SENT RECEIVED BEFORE.json AFTER.json
                                         one Markdown row: the switches' packets and bytes in
                                         and out, drops by reason (drop-stats reasons and the
                                         packets of flows whose action is drop, per table), and
                                         packet buffers free before and after
  scenario.py header                     the table's header

BRISK (environment) is the brisk binary.
"""
import json
import os
import re
import subprocess
import sys


def ctl(sock, *args):
    out = subprocess.run([os.environ.get("BRISK", "brisk"), "ctl", "--socket", sock, *args],
                         capture_output=True, text=True, check=True)
    return out.stdout


def snap(sock):
    s = {"rx_pkts": 0, "rx_bytes": 0, "tx_pkts": 0, "tx_bytes": 0, "drops": {}, "free": 0}
    for m in re.finditer(r"rx pkts=(\d+), bytes=(\d+).*?\n\s*tx pkts=(\d+), bytes=(\d+)",
                         ctl(sock, "dump-ports")):
        s["rx_pkts"] += int(m[1])
        s["rx_bytes"] += int(m[2])
        s["tx_pkts"] += int(m[3])
        s["tx_bytes"] += int(m[4])
    section = ""
    for line in ctl(sock, "drop-stats").splitlines():
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        k, _, v = line.strip().rpartition(" ")
        k = k.strip()
        if section in ("datapath", "decapsulation", "encapsulation") or k in ("refused_full", "invalid"):
            s["drops"][f"{section}.{k}" if section != "datapath" else k] = int(v)
    for line in ctl(sock, "dump-flows").splitlines():
        if not line.rstrip().endswith("actions=drop"):
            continue
        t = re.search(r"table=(\d+)", line)
        n = re.search(r"n_packets=(\d+)", line)
        what = "+inv" if "+inv" in line else ("default" if "priority=0 " in line else "rule")
        k = f"table{t[1]} {what} drop"
        s["drops"][k] = s["drops"].get(k, 0) + int(n[1])
    # One line per pool (one pool per NUMA socket): the node's free buffers in all.
    s["free"] = sum(int(n) for n in re.findall(r"(\d+) available", ctl(sock, "mempool")))
    return s


def merge(snaps):
    total = {"rx_pkts": 0, "rx_bytes": 0, "tx_pkts": 0, "tx_bytes": 0, "drops": {}, "free": []}
    for s in snaps:
        for k in ("rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes"):
            total[k] += s[k]
        for k, v in s["drops"].items():
            total["drops"][k] = total["drops"].get(k, 0) + v
        total["free"].append(s["free"])
    return total


def main():
    cmd = sys.argv[1]
    if cmd == "snap":
        json.dump(merge([snap(sock) for sock in sys.argv[3:]]), open(sys.argv[2], "w"))
    elif cmd == "header":
        print("| scenario | sent | received | switch rx pkts / bytes | switch tx pkts / bytes "
              "| drops by reason | buffers free before -> after |")
        print("|---|---|---|---:|---:|---|---|")
    elif cmd == "row":
        name, sent, received = sys.argv[2:5]
        a, b = (json.load(open(p)) for p in sys.argv[5:7])
        d = lambda k: b[k] - a[k]
        drops = {k: v - a["drops"].get(k, 0) for k, v in b["drops"].items()}
        drops = ", ".join(f"{k} +{v}" for k, v in sorted(drops.items()) if v) or "none"
        free = ", ".join(f"{x} -> {y}" for x, y in zip(a["free"], b["free"]))
        print(f"| {name} | {sent} | {received} | {d('rx_pkts'):,} / {d('rx_bytes'):,} "
              f"| {d('tx_pkts'):,} / {d('tx_bytes'):,} | {drops} | {free} |")
    else:
        sys.exit(f"scenario.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
