"""Scan-level and box measures of the built-in model on held-out simulated cases, and its
behaviour on the real scans in ../shared/data (see evaluate.sh). Writes heldout/detect.json.

Truth per case: the box around all its lesions' mask voxels out to the voxel edges, and per
lesion its own box. "Case IoU" compares the box around all found boxes with the box around
all lesions (the method's single box); "lesion IoU" is, per true lesion, the best IoU with
any found box. Misses count 0 in both.
"""
import csv
import json
import os
import subprocess
import sys

heldout = sys.argv[1]
bin_ = os.environ["BIN"]
data = os.environ["DATA"]


def detect(path, out):
    p = subprocess.run([bin_, "detect", path, "--out", out], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise SystemExit(f"detect {path}: {p.stderr.strip()}")
    return json.load(open(os.path.join(out, "report.json")))


def iou(a, b):
    inter, va, vb = 1.0, 1.0, 1.0
    for d in range(3):
        inter *= max(0.0, min(a[1][d], b[1][d]) - max(a[0][d], b[0][d]))
        va *= a[1][d] - a[0][d]
        vb *= b[1][d] - b[0][d]
    return inter / (va + vb - inter)


def hull(boxes):
    return ([min(b[0][d] for b in boxes) for d in range(3)], [max(b[1][d] for b in boxes) for d in range(3)])


results = []
for row in csv.DictReader(open(os.path.join(heldout, "all.csv"))):
    case = json.load(open(os.path.join(heldout, row["json"])))
    sp = case["geometry"]["spacing_mm"]
    truth = [([l["patient_mm_min"][d] - sp[d] / 2 for d in range(3)],
              [l["patient_mm_max"][d] + sp[d] / 2 for d in range(3)]) for l in case["lesions"]]
    ct = os.path.join(heldout, row["path"])
    r = detect(ct, os.path.join(os.path.dirname(ct), "detect"))
    found = [(b["patient_mm_min"], b["patient_mm_max"]) for b in r["boxes"]]
    res = {"case": row["case"], "truth": bool(truth), "found": bool(found), "probability": r["probability"],
           "types": [l["type"] for l in case["lesions"]]}
    if truth:
        res["case_iou"] = iou(hull(found), hull(truth)) if found else 0.0
        res["lesion_iou"] = [max((iou(f, t) for f in found), default=0.0) for t in truth]
    results.append(res)
    print(f"{row['case']}: truth {len(truth)} lesion(s) {','.join(res['types']) or '-'}, "
          f"found {len(found)} box(es), P {r['probability']:.2f}"
          + (f", case IoU {res['case_iou']:.2f}" if truth else ""), flush=True)


def auc(pos, neg):
    # Mann-Whitney: the chance a positive case scores above a negative one, ties half.
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


summary = {}
for name in sorted({r["case"].split("_")[0] for r in results}) + ["all"]:
    rs = [r for r in results if name == "all" or r["case"].startswith(name + "_")]
    pos = [r for r in rs if r["truth"]]
    neg = [r for r in rs if not r["truth"]]
    tp = sum(r["found"] for r in pos)
    tn = sum(not r["found"] for r in neg)
    lesion = [x for r in pos for x in r["lesion_iou"]]
    summary[name] = {
        "cases": len(rs), "positive": len(pos), "negative": len(neg),
        "sensitivity": tp / len(pos) if pos else None, "specificity": tn / len(neg) if neg else None,
        "scan_auc": auc([r["probability"] for r in pos], [r["probability"] for r in neg]),
        "mean_case_iou": sum(r["case_iou"] for r in pos) / len(pos) if pos else None,
        "mean_lesion_iou": sum(lesion) / len(lesion) if lesion else None,
        "lesions": len(lesion),
    }
    s = summary[name]
    print(f"{name}: {s['cases']} cases ({s['positive']} with haemorrhage, {s['negative']} without): "
          f"sensitivity {tp}/{len(pos)}, specificity {tn}/{len(neg)}, scan AUC {s['scan_auc']:.3f}, "
          f"mean case IoU {s['mean_case_iou'] or 0:.3f}, mean lesion IoU {s['mean_lesion_iou'] or 0:.3f} "
          f"({s['lesions']} lesions)")

real = {}
scans = ["cq500/CQ500CT0 CQ500CT0/Unknown Study/CT 4cc sec 150cc D3D on", "dcm_qa_ct/GE",
         "rsna/series-ID_fff502d5", "nifti/deepbleed-tmpfile.nii.gz"]
for i, s in enumerate(scans):
    path = os.path.join(data, s)
    if not os.path.exists(path):
        print(f"{s}: absent, skipped")
        continue
    r = detect(path, os.path.join(heldout, f"real_{i}"))
    real[s] = {"verdict": r["verdict"], "probability": r["probability"], "boxes": len(r["boxes"]),
               "box_volume_ml": [b["box_volume_ml"] for b in r["boxes"]],
               "plane_peaks": {k: max((p for p in v["p"] if p is not None), default=None)
                               for k, v in r["planes"].items()}}
    print(f"{s}: {r['verdict']}, P {r['probability']:.3f}, {len(r['boxes'])} box(es), "
          f"plane peaks {real[s]['plane_peaks']}")
json.dump({"cases": results, "summary": summary, "real": real}, open(os.path.join(heldout, "detect.json"), "w"),
          indent=1)
