#!/usr/bin/env python3
"""Table of bench/trajectory-weighting.sh: per algorithm and sampler, the final normalized score and the mean of the last
3 evaluations over seeds (mean +- std), and per algorithm Welch's t-test of return_weighted against uniform on the
last-3 means (parity_table.welch)."""
import csv, glob, json, os, sys
from statistics import mean, stdev

from parity_table import welch

out, high, low, fraction = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
cells = {}
for path in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
    name = os.path.basename(path)[:-5]
    algo, rest = name.split("-", 1)
    sampler, seed = rest.rsplit("-seed", 1)
    rows = list(csv.DictReader(open(os.path.join(out, "runs", name + ".metrics.csv"))))
    scores = [float(r["normalized_score"]) for r in rows]
    info = json.load(open(path))
    cells.setdefault((algo, sampler), []).append(dict(seed=int(seed), final=scores[-1], last3=mean(scores[-3:]), info=info))


def ms(v):
    return f"{mean(v):.1f} ± {stdev(v):.1f}" if len(v) > 1 else f"{v[0]:.1f}"


lines = [f"Mixed dataset: {float(fraction):.0%} {high} transitions (whole episodes) among all of {low}; OffRL's defaults "
         "(IQL: reward_normalization return_range), 10 evaluation episodes; normalized score (D4RL's reference returns).", "",
         "| algorithm | sampler | seeds | final | last 3 evaluations | weighted vs uniform (Welch, last 3) |",
         "| --- | --- | ---: | ---: | ---: | --- |"]
for (algo, sampler), runs in sorted(cells.items()):
    p = ""
    if sampler != "uniform" and (algo, "uniform") in cells:
        u, w = [r["last3"] for r in cells[(algo, "uniform")]], [r["last3"] for r in runs]
        test = welch(w, u)
        p = f"{mean(w) - mean(u):+.1f} points, p = {test[2]:.3f}" if test else f"{mean(w) - mean(u):+.1f} points"
    lines.append(f"| {algo} | {sampler} | {len(runs)} | {ms([r['final'] for r in runs])} | {ms([r['last3'] for r in runs])} | {p} |")
infos = [r["info"] for rs in cells.values() for r in rs]
if infos:
    lines += ["", f"Commit {infos[0].get('commit', 'unknown')[:12]}, dataset SHA-256 {str(infos[0].get('dataset_sha256'))[:16]}, "
              f"{infos[0].get('steps')} gradient steps per run."]
tmp = os.path.join(out, "table.md.tmp")
open(tmp, "w").write("\n".join(lines) + "\n")
os.replace(tmp, os.path.join(out, "table.md"))
print("\n".join(lines))
