#!/usr/bin/python3
"""OUT/table.md from bench/parity.sh's runs: per dataset and algorithm, OffRL's and the PyTorch reference's
normalized scores over seeds (mean ± std), as the mean of each run's last 3 evaluations and as its final one.

    /usr/bin/python3 bench/reference/parity_table.py bench/results/parity
"""
import glob, json, os, statistics, sys


def stats(xs):
    if not xs:
        return None
    return statistics.mean(xs), (statistics.pstdev(xs) if len(xs) > 1 else 0.0), len(xs)


def fmt(s):
    return "–" if s is None else f"{s[0]:.1f} ± {s[1]:.1f} ({s[2]})"


def main(out):
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, "runs", "*.json")))]
    cells = {}
    for r in runs:
        ev = [e["normalized_score"] for e in r["evaluations"]]
        if not ev:
            continue
        c = cells.setdefault((r["dataset"], r["algo"]), {}).setdefault(r["side"], {"last3": [], "final": [], "steps": set(), "ups": []})
        c["last3"].append(statistics.mean(ev[-3:]))
        c["final"].append(ev[-1])
        c["steps"].add(r["evaluations"][-1]["step"])
        c["ups"].append(r["train"].get("updates_per_s", 0.0))
    lines = ["| dataset | algorithm | steps | OffRL, last 3 evals | PyTorch, last 3 evals | OffRL, final | PyTorch, final | OffRL within the reference's spread |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for (ds, algo), sides in sorted(cells.items()):
        o, t = sides.get("offrl"), sides.get("torch")
        so, st = stats(o["last3"]) if o else None, stats(t["last3"]) if t else None
        verdict = "–"
        if so and st and st[2] < 2:
            verdict = f"one seed: no spread to judge (difference {so[0] - st[0]:+.1f})"
        elif so and st:
            lo, hi = min(t["last3"]), max(t["last3"])
            width = max(hi - lo, 2 * st[1])
            verdict = "yes" if lo - 0.5 * width <= so[0] <= hi + 0.5 * width else f"no (difference {so[0] - st[0]:+.1f})"
        steps = sorted((o or {}).get("steps", set()) | (t or {}).get("steps", set()))
        lines.append(f"| {ds} | {algo} | {', '.join(map(str, steps))} | {fmt(so)} | {fmt(st)} | "
                     f"{fmt(stats(o['final']) if o else None)} | {fmt(stats(t['final']) if t else None)} | {verdict} |")
    text = "\n".join(lines) + "\n\nNormalized score (D4RL's reference returns) in OffRL's environment; mean ± population std over seeds " \
           "(number of seeds in brackets). \"Within the spread\": OffRL's mean lies in the reference's range over seeds, widened " \
           "by half that range (or by its std where that is wider).\n"
    with open(os.path.join(out, "table.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/parity")
