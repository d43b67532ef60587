#!/usr/bin/env python3
"""perf/rig.sh --attack: one switch's datapath after a run, from the files the rig saved in
DIR, printed as one JSON object: megaflows, masks (distinct megaflow masks), subtable
lookups per megaflow hit, upcalls, connections and drops by reason (non-zero only).

Usage: rig-dpstate.py brisk|ovs DIR
"""
import json
import re
import sys


def read(d, name):
    try:
        return open(f"{d}/{name}").read()
    except OSError:
        return ""


def num(pattern, text, conv=int):
    m = re.search(pattern, text)
    return conv(m.group(1)) if m else None


def brisk(d):
    pmd = read(d, "dp-pmd.txt")
    out = {
        "megaflows": num(r"megaflows: (\d+) in \d+ masks", pmd),
        "masks": num(r"megaflows: \d+ in (\d+) masks", pmd),
        "subtable_lookups_per_hit": num(r"([\d.]+) subtable lookups/hit", pmd, float),
        "upcalls": num(r"upcalls: (\d+)", pmd),
        "revalidations": num(r"revalidations: (\d+)", pmd),
        "connections": num(r"count=(\d+)", read(d, "dp-ct.txt")),
    }
    drops, section = {}, ""
    for line in read(d, "dp-drops.txt").splitlines():
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        parts = line.split()
        row = " ".join(parts[:-1])
        # Listener accounting and conntrack's gauges are not drops.
        if "listener" in section or (section == "conntrack" and row in ("connections", "committed")):
            continue
        if len(parts) >= 2 and parts[-1].isdigit() and int(parts[-1]) > 0:
            drops[f"{section}/{row}"] = int(parts[-1])
    out["drops"] = drops
    return out


def mask_of(match):
    """A dpctl/dump-flows match with its values taken out: what makes its mask."""
    m = re.sub(r"recirc_id\([^)]*\)", "recirc_id()", match)
    # key=value/mask -> key=/mask; key=value (exact) -> key=
    m = re.sub(r"=([^,/()]+)/([^,()]+)", r"=/\2", m)
    m = re.sub(r"=([^,/()]+)(?=[,)])", "=", m)
    # ct_state(+new-est) style: the flags named are matched.
    m = re.sub(r"ct_state\(([^)]*)\)", lambda x: "ct_state(" + re.sub(r"[+-]", "", x.group(1)) + ")", m)
    m = re.sub(r"ct_mark\([^/)]*", "ct_mark(", m)
    return m


def ovs(d):
    pmd = read(d, "dp-pmd.txt")
    flows = [l.split(", packets:")[0].strip() for l in read(d, "dp-flows.txt").splitlines()
             if ", packets:" in l]
    out = {
        "megaflows": len(flows),
        "masks": len({mask_of(f) for f in flows}),
        "subtable_lookups_per_hit": num(r"avg. subtable lookups per megaflow hit: ([\d.]+)", pmd, float),
        "upcalls": (num(r"miss with success upcall: (\d+)", pmd) or 0)
        + (num(r"miss with failed upcall: (\d+)", pmd) or 0),
        "connections": num(r"Total: (\d+)", read(d, "dp-ct.txt")),
        "revalidator_dump_ms": num(r"dump duration : (\d+)ms", read(d, "dp-upcall.txt")),
    }
    drops = {}
    for line in read(d, "dp-drops.txt").splitlines():
        m = re.match(r"(\S+)\s+.*total: (\d+)", line)
        if m and re.search(r"drop|limit|full|fail|error|miss", m.group(1)) and int(m.group(2)) > 0:
            drops[m.group(1)] = int(m.group(2))
    fu = num(r"miss with failed upcall: (\d+)", pmd)
    if fu:
        drops["pmd/miss with failed upcall"] = fu
    out["drops"] = drops
    return out


if __name__ == "__main__":
    print(json.dumps({"brisk": brisk, "ovs": ovs}[sys.argv[1]](sys.argv[2])))
