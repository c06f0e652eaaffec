#!/usr/bin/python3
"""An OffRL run as a side-by-side result file (the shape bench/reference/parity_table.py reads, as the references write
theirs): the run's --json line (its provenance: commit, resolved config, dataset hash) and its metrics.csv rows.

    /usr/bin/python3 bench/reference/offrl_result.py ALGO DATASET SEED RUN_DIR OUT.json   # RUN_DIR.log holds the --json line
"""
import csv, json, os, sys

algo, dataset, seed, d, out = sys.argv[1:]
train = json.loads(open(d + ".log").read().strip().splitlines()[-1])
evals = [{"step": int(r["step"]), "return_mean": float(r["return_mean"]), "return_std": float(r["return_std"]),
          "normalized_score": float(r["normalized_score"])} for r in csv.DictReader(open(os.path.join(d, "metrics.csv")))]
result = {"side": "offrl", "algo": algo, "dataset": dataset, "seed": int(seed), "train": train, "evaluations": evals}
with open(out + ".tmp", "w") as f:
    f.write(json.dumps(result, indent=1))
os.replace(out + ".tmp", out)
