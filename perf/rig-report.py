#!/usr/bin/env python3
"""Turns perf/rig.sh's per-run lines into the rig table (Markdown + JSON) and a plot.

Usage: rig-report.py RESULTS.jsonl OUT_PREFIX "machine description"
"""
import json
import statistics
import sys


def aggregate(runs):
    """The median run of a point (by rx Mpps) with the spread and summed error counts."""
    runs = sorted(runs, key=lambda r: r["rx_mpps"])
    med = dict(runs[len(runs) // 2])
    med["rx_mpps"] = statistics.median(r["rx_mpps"] for r in runs)
    med["rx_gbps_l1"] = statistics.median(r["rx_gbps_l1"] for r in runs)
    cyc = [r["cycles_per_packet_busy"] for r in runs if r["cycles_per_packet_busy"] is not None]
    med["cycles_per_packet_busy"] = round(statistics.median(cyc)) if cyc else None
    med["rx_mpps_runs"] = [round(r["rx_mpps"], 3) for r in runs]
    # Noise on a shared machine only ever adds cycles: the best run is the other estimate.
    med["rx_mpps_best"] = max(r["rx_mpps"] for r in runs)
    med["cycles_per_packet_best"] = round(min(cyc)) if cyc else None
    med["lost"] = sum(r["lost"] for r in runs)
    med["unexpected"] = sum(r["unexpected"] for r in runs)
    return med


def attack_cell(atk):
    if atk.get("kind") == "storm":
        return (f'storm: {atk.get("changes", 0):,} changes, barrier p50 {atk.get("barrier_ms_p50")} ms '
                f'max {atk.get("barrier_ms_max")} ms')
    return f'{atk.get("kind", "?")}: {atk.get("offered_pps", 0):,.0f} / {atk.get("tx_pps", 0):,.0f}'


def reval(dp):
    r = [f'revalidations {dp["revalidations"]:,}'] if dp.get("revalidations") is not None else []
    if dp.get("revalidator_dump_ms") is not None:
        r.append(f'revalidator dump {dp["revalidator_dump_ms"]} ms')
    return ("; " + ", ".join(r)) if r else ""


def attack_table(by, sizes, flows):
    """--attack: each switch's measured traffic without and with the attack, and what the
    attack left in its datapath (megaflows, masks, upcalls, connections, drops)."""
    if not any(k[0].endswith("+attack") for k in by):
        return []
    out = ["", "Under attack (same run; the measured traffic's kpps without and with the "
           "attack beside it, the datapath after the attacked run; OVS is the faster of its "
           "two configurations under attack):", "",
           "| size | flows | switch | attack offered / taken (pps) | kpps without | kpps with "
           "| with/without | megaflows | masks | subtable lookups/hit | upcalls | connections "
           "| drops by reason |",
           "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for size in sizes:
        for f in flows:
            fams = [("brisk", ["brisk"]), ("before", ["before"]), ("OVS", ["ovs", "ovs-smc"])]
            for label, names in fams:
                cands = [(n, by[(n + "+attack", f, size)]) for n in names
                         if (n + "+attack", f, size) in by]
                if not cands:
                    continue
                name, a = max(cands, key=lambda x: x[1]["rx_mpps"])
                base = by.get((name, f, size))
                dp = a.get("datapath") or {}
                atk = a.get("attack") or {}
                drops = ", ".join(f"{k} {v:,}" for k, v in sorted(dp.get("drops", {}).items())) or "-"
                ratio = (f'{a["rx_mpps"] / base["rx_mpps"]:.3f}' if base and base["rx_mpps"] > 0 else "-")
                v = lambda k: "-" if dp.get(k) is None else f"{dp[k]:,}"
                without = f'{round(base["rx_mpps"] * 1000):,}' if base else "-"
                out.append(
                    f'| {size} | {f:,} | {label}{" (" + name + ")" if label == "OVS" else ""} '
                    f'| {attack_cell(atk)} '
                    f'| {without} | {round(a["rx_mpps"] * 1000):,} '
                    f'| {ratio} | {v("megaflows")} | {v("masks")} | {v("subtable_lookups_per_hit")} '
                    f'| {v("upcalls")} | {v("connections")} | {drops}{reval(dp)} |')
    return out


def main():
    src, prefix, machine = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = [json.loads(line) for line in open(src) if line.strip()]
    groups = {}
    for r in runs:
        groups.setdefault((r["switch"], r["flows"], r["size"]), []).append(r)
    by = {k: aggregate(v) for k, v in groups.items()}
    sizes = sorted({r["size"] for r in runs})
    flows = sorted({r["flows"] for r in runs})
    rows = []
    for size in sizes:
        for f in flows:
            b, n = by.get(("brisk", f, size)), by.get(("null", f, size))
            # OVS at its best: the faster (median Mpps) of its default configuration and
            # SMC on with the EMC off (`ovs-smc`), whichever ran.
            variants = [(v, by[(v, f, size)]) for v in ("ovs", "ovs-smc") if (v, f, size) in by]
            ovs_ref, o = max(variants, key=lambda x: x[1]["rx_mpps"]) if variants else (None, None)
            row = {"flows": f, "size": size}
            if ovs_ref:
                row["ovs_reference"] = ovs_ref
                row["ovs_variants_kpps"] = {v: round(r["rx_mpps"] * 1000) for v, r in variants}
            for name, r in (("brisk", b), ("ovs", o), ("null", n)):
                if r:
                    row[name] = {
                        "kpps": round(r["rx_mpps"] * 1000),
                        "gbps": round(r["rx_gbps_l1"], 2),
                        "cycles_per_packet": r["cycles_per_packet_busy"],
                        "lost": r["lost"],
                        "unexpected": r["unexpected"],
                        "latency_p50_us": round(r["latency_ns"]["p50"] / 1000, 1),
                        "mpps_runs": r["rx_mpps_runs"],
                        "stages_cycles_per_packet": r.get("stages_cycles_per_packet"),
                    }
            bf = by.get(("before", f, size))
            if b and bf and bf["rx_mpps"] > 0:
                row["before_kpps"] = round(bf["rx_mpps"] * 1000)
                row["before_cycles_per_packet"] = bf["cycles_per_packet_busy"]
                row["brisk_over_before"] = round(b["rx_mpps"] / bf["rx_mpps"], 3)
                row["brisk_over_before_best"] = round(b["rx_mpps_best"] / bf["rx_mpps_best"], 3)
                row["before_cycles_per_packet_best"] = bf["cycles_per_packet_best"]
                row["brisk_cycles_per_packet_best"] = b["cycles_per_packet_best"]
            if b and o and o["rx_mpps"] > 0:
                row["brisk_over_ovs"] = round(b["rx_mpps"] / o["rx_mpps"], 2)
            # Pipeline cycles: each switch's cycles per packet less the null switch's (the
            # vhost-user I/O every switch pays), the rig's figure of merit.
            nc = n and n["cycles_per_packet_busy"]
            if nc:
                pipe = lambda r: r and r["cycles_per_packet_busy"] and round(r["cycles_per_packet_busy"] - nc)
                bp, op, fp = pipe(b), pipe(o), pipe(bf)
                if bp:
                    row["brisk_pipeline"] = bp
                if op:
                    row["ovs_pipeline"] = op
                if bp and op and bp > 0:
                    row["ovs_over_brisk_pipeline"] = round(op / bp, 2)
                if bp and fp and bp > 0:
                    row["before_pipeline"] = fp
                    row["before_over_brisk_pipeline"] = round(fp / bp, 2)
            if b and n and n["rx_mpps"] > 0:
                row["brisk_pct_of_null"] = round(100 * b["rx_mpps"] / n["rx_mpps"], 1)
            if o and n and n["rx_mpps"] > 0:
                row["ovs_pct_of_null"] = round(100 * o["rx_mpps"] / n["rx_mpps"], 1)
            rows.append(row)
    json.dump({"machine": machine, "runs": runs, "table": rows},
              open(prefix + ".json", "w"), indent=1)

    def cell(row, sw, key):
        v = row.get(sw, {}).get(key)
        if v is None:
            return "-"
        return f"{v:,.0f}" if isinstance(v, (int, float)) and key != "gbps" else str(v)

    out = [f"Rig: {machine}. Worker1 pipeline (conntrack on), two pod ports "
           "as vhost-user, brisk-gen on lcore 0, the switch on lcore 1. "
           "Cycles/packet are each switch's own busy cycles per received packet "
           "(brisk `pmd-stats`, OVS `pmd-stats-show` processing cycles, testpmd "
           "`--record-core-cycles`).", "",
           "| size | flows | brisk kpps | OVS kpps | null kpps | brisk/OVS | brisk % of null "
           "| OVS % of null | brisk Gbps | brisk cyc/pkt | OVS cyc/pkt | null cyc/pkt "
           "| unexpected (brisk/OVS) |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("ovs_reference") == "ovs-smc":
            r["ovs_note"] = " (SMC)"
        out.append("| {} | {:,} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |".format(
            r["size"], r["flows"], cell(r, "brisk", "kpps"),
            cell(r, "ovs", "kpps") + r.get("ovs_note", ""), cell(r, "null", "kpps"),
            f'{r["brisk_over_ovs"]}x' if "brisk_over_ovs" in r else "-",
            f'{r["brisk_pct_of_null"]}%' if "brisk_pct_of_null" in r else "-",
            f'{r["ovs_pct_of_null"]}%' if "ovs_pct_of_null" in r else "-",
            cell(r, "brisk", "gbps"), cell(r, "brisk", "cycles_per_packet"),
            cell(r, "ovs", "cycles_per_packet"), cell(r, "null", "cycles_per_packet"),
            cell(r, "brisk", "unexpected"), cell(r, "ovs", "unexpected")))
    out += ["", "Pipeline cycles per packet (each switch's cycles less the null switch's; OVS "
            "is the faster of its default configuration and `smc-enable=true` with the EMC "
            "off, per point) and the OVS/brisk ratio (> 1: brisk is cheaper):", "",
            "| size | flows | OVS used | brisk pipeline | OVS pipeline | OVS/brisk pipeline "
            "| before pipeline | before/brisk pipeline |",
            "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        g = lambda k, suf="": f"{r[k]:,}{suf}" if k in r else "-"
        variants = ", ".join(f"{v} {k:,}" for v, k in r.get("ovs_variants_kpps", {}).items())
        out.append(f'| {r["size"]} | {r["flows"]:,} | {r.get("ovs_reference", "-")}'
                   f'{" (" + variants + " kpps)" if variants else ""} | {g("brisk_pipeline")} '
                   f'| {g("ovs_pipeline")} | {g("ovs_over_brisk_pipeline", "x")} '
                   f'| {g("before_pipeline")} | {g("before_over_brisk_pipeline", "x")} |')
    out += ["", "brisk's own per-stage split (cycles/packet, `pmd-stats`; actions include "
            "conntrack and the vhost-user transmit) and the spread of the runs (Mpps):", "",
            "| size | flows | decap | parse | lookup | upcall | actions | brisk runs | OVS runs | null runs |",
            "|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        st = r.get("brisk", {}).get("stages_cycles_per_packet") or {}
        f = lambda k: "-" if st.get(k) is None else f"{st[k]:.0f}"
        runs_of = lambda sw: " ".join(f"{x:.2f}" for x in r.get(sw, {}).get("mpps_runs", [])) or "-"
        out.append(f'| {r["size"]} | {r["flows"]:,} | {f("decap")} | {f("parse")} | {f("lookup")} | '
                   f'{f("upcall")} | {f("actions")} | {runs_of("brisk")} | {runs_of("ovs")} '
                   f'| {runs_of("null")} |')
    if any("before_kpps" in r for r in rows):
        out += ["", "brisk against the `--brisk-before` build, same run (medians, and best runs: "
                "the most Mpps, the fewest cycles/packet):", "",
                "| size | flows | before kpps | brisk kpps | ratio | ratio of best runs | "
                "before cyc/pkt (best) | brisk cyc/pkt (best) |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            if "before_kpps" in r:
                out.append("| {} | {:,} | {:,} | {} | {}x | {}x | {} ({}) | {} ({}) |".format(
                    r["size"], r["flows"], r["before_kpps"], cell(r, "brisk", "kpps"),
                    r["brisk_over_before"], r["brisk_over_before_best"],
                    r["before_cycles_per_packet"], r["before_cycles_per_packet_best"],
                    cell(r, "brisk", "cycles_per_packet"), r["brisk_cycles_per_packet_best"]))
    out += attack_table(by, sizes, flows)
    open(prefix + ".md", "w").write("\n".join(out) + "\n")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("rig-report: python3-matplotlib missing, no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for sw, label in (("brisk", "brisk"), ("ovs", "OVS-DPDK"), ("ovs-smc", "OVS-DPDK (SMC, no EMC)"),
                          ("null", "null (testpmd io)")):
            pts = [(f, by[(sw, f, size)]["rx_mpps"]) for f in flows if (sw, f, size) in by]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("flows (connections)")
        ax.set_ylabel("Mpps received")
        ax.set_title(f"{size}-byte frames")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("worker1 Antrea pipeline, one core, vhost-user")
    fig.tight_layout()
    fig.savefig(prefix + ".png", dpi=100)


if __name__ == "__main__":
    main()
