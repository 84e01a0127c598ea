"""Merges `ichscan synth` manifests into one scan list: case names prefixed with their
folder, paths made relative to the folder the list is written in (the current one).

    python3 merge-manifests.py OUT.csv DIR [DIR ...]      (DIRs without a manifest are skipped)
"""
import csv
import os
import sys

out, dirs = sys.argv[1], sys.argv[2:]
rows = []
for d in dirs:
    m = os.path.join(d, "manifest.csv")
    if not os.path.exists(m):
        continue
    prefix = os.path.basename(d.rstrip("/"))
    for x in csv.DictReader(open(m)):
        x["case"] = f"{prefix}_{x['case']}"
        for k in ("path", "mask", "json"):
            if x.get(k):
                x[k] = f"{d}/{x[k]}"
        rows.append(x)
if not rows:
    sys.exit(f"no manifest.csv in {' '.join(dirs)}")
w = csv.DictWriter(open(out, "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader()
w.writerows(rows)
