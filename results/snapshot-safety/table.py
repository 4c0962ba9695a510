#!/usr/bin/env python3
"""The outcome table of docs/snapshot-safety.md from snapshot-safety.jsonl.

python3 results/snapshot-safety/table.py [results/snapshot-safety/snapshot-safety.jsonl]

Per layout x configuration: runs, snapshots consistent / taken (recovered, amcheck, invariant),
recovery time (median of the runs' medians; min and max over the runs' medians and maxima),
the snapshot procedure's time (median of the runs' means; the largest), the TPS ratio
after/before a snapshot (geometric mean over runs, with min-max of the runs), pgbench TPS.
"""
import json
import math
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "results/snapshot-safety/snapshot-safety.jsonl"
rows = [json.loads(l) for l in open(path) if l.strip()]
layouts = []
names = []
cells = defaultdict(list)
for r in rows:
    lay, name = r["layout_name"], r["workload"]["name"].removeprefix("pgsnapshot-")
    if lay not in layouts:
        layouts.append(lay)
    if name not in names:
        names.append(name)
    cells[(lay, name)].append(r)

LAYOUTS = ["cow", "zstd1", "nocow", "zstd1-nocow"]
layouts.sort(key=lambda l: LAYOUTS.index(l) if l in LAYOUTS else 99)
ORDER = ["same-subvolume", "separate-wal-backup-api", "separate-wal-no-backup-api"]
names.sort(key=lambda n: ORDER.index(n) if n in ORDER else 99)


def gmean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v))


print("| layout | configuration | runs | consistent / snapshots | recovered | amcheck ok | "
      "invariant ok | recovery s, median [min, max] | snapshot ms, median [max] | TPS after/before snapshot, geomean [min, max] | "
      "pgbench TPS, mean [min, max] |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for lay in layouts:
    for name in names:
        rs = cells.get((lay, name))
        if not rs:
            continue
        x = [r["measurement"]["extra"] for r in rs]
        s = lambda k: int(sum(e.get(k, 0) for e in x))
        snaps = s("snapshots")
        rec_p50 = sorted(e["recovery_s_p50"] for e in x if "recovery_s_p50" in e)
        rec_all = [e[k] for e in x for k in ("recovery_s_p50", "recovery_s_max") if k in e]
        if rec_p50:
            med = rec_p50[len(rec_p50) // 2] if len(rec_p50) % 2 else (rec_p50[len(rec_p50) // 2 - 1] + rec_p50[len(rec_p50) // 2]) / 2
            rec = f"{med:.2f} [{min(rec_all):.2f}, {max(rec_all):.2f}]"
        else:
            rec = "–"
        ratios = [e["tps_after_snapshot_ratio"] for e in x if e.get("tps_after_snapshot_ratio", 0) > 0]
        ratio = f"{gmean(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]" if ratios else "–"
        ms = sorted(e["snapshot_ms_mean"] for e in x if "snapshot_ms_mean" in e)
        ms_max = max((e["snapshot_ms_max"] for e in x if "snapshot_ms_max" in e), default=float("nan"))
        ms_s = f"{ms[len(ms) // 2]:.0f} [{ms_max:.0f}]" if ms else "–"
        tps = [e["tps"] for e in x if "tps" in e]
        tps_s = f"{sum(tps) / len(tps):.0f} [{min(tps):.0f}, {max(tps):.0f}]" if tps else "–"
        print(f"| {lay} | {name} | {len(rs)} | {s('consistent')} / {snaps} | {s('recovered')} | "
              f"{s('amcheck_ok')} | {s('invariant_ok')} | {rec} | {ms_s} | {ratio} | {tps_s} |")
