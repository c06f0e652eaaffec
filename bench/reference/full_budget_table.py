#!/usr/bin/env python3
"""Table and curves of the full-budget runs (bench/full-budget.sh, issue 34).

For each run filed in OUT/runs (NAME.json: `offrl train --json`; NAME.metrics.csv: one row per evaluation) the table
gives the final normalized score, the mean of the last 10 evaluations (CORL reports the final evaluation; the last
ten show how steady it is), the best evaluation and its step, the training time (the sum over evaluations of
eval_every / updates_per_s, so a run resumed across sessions counts each segment once) and the provenance (commit,
preset, dataset SHA-256 prefix). Each cell's curves (normalized score against step, one line per seed) are drawn as
OUT/curve-ALGO-DATASET.svg (bench/reference/svg_curves.py).
"""
import csv, glob, json, os, sys
from statistics import mean

import svg_curves

out = sys.argv[1] if len(sys.argv) > 1 else "bench/results/full-budget"
runs = {}
for path in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
    name = os.path.basename(path)[:-5]
    info = json.load(open(path))
    rows = list(csv.DictReader(open(os.path.join(out, "runs", name + ".metrics.csv"))))
    steps = [int(r["step"]) for r in rows]
    scores = [float(r["normalized_score"]) for r in rows]
    hours = sum((b - a) / float(r["updates_per_s"]) for a, b, r in zip([0] + steps[:-1], steps, rows)) / 3600
    algo, rest = name.split("-", 1)
    dataset, seed = rest.rsplit("-seed", 1)
    runs.setdefault((algo, dataset), []).append(dict(seed=int(seed), steps=steps, scores=scores, hours=hours, info=info))


lines = ["| algorithm | dataset | seed | steps | final | last 10 evaluations | best (step) | training time | updates/s | provenance |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
for (algo, dataset), cell in sorted(runs.items()):
    for r in sorted(cell, key=lambda r: r["seed"]):
        i = max(range(len(r["scores"])), key=lambda k: r["scores"][k])
        info = r["info"]
        prov = f'{info.get("commit", "unknown")[:12]}, preset {info.get("preset")}, data {str(info.get("dataset_sha256"))[:12]}'
        lines.append(f'| {algo} | {dataset} | {r["seed"]} | {r["steps"][-1]} | {r["scores"][-1]:.1f} | {mean(r["scores"][-10:]):.1f} | '
                     f'{r["scores"][i]:.1f} ({r["steps"][i]}) | {r["hours"]:.2f} h | {info.get("updates_per_s", 0):.0f} | {prov} |')
    svg_curves.write(os.path.join(out, f"curve-{algo}-{dataset}.svg"), f"{algo} on {dataset} (--preset corl): normalized score",
                     [(f"OffRL seed{'s' if len(cell) > 1 else ''} " + ", ".join(str(r["seed"]) for r in cell), [(r["steps"], r["scores"]) for r in cell])])
lines.append("")
lines.append("Normalized score (D4RL's reference returns) in OffRL's environment, 10 episodes per evaluation. Curves: "
             + ", ".join(f"[{a} {d}](curve-{a}-{d}.svg)" for a, d in sorted(runs)) + ".")
tmp = os.path.join(out, "table.md.tmp")
open(tmp, "w").write("\n".join(lines) + "\n")
os.replace(tmp, os.path.join(out, "table.md"))
print("\n".join(lines))
