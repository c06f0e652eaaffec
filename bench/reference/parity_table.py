#!/usr/bin/python3
"""OUT/table.md from bench/parity.sh's runs: per dataset and algorithm, OffRL's (side `offrl`: `offrl train --preset
corl`) and the PyTorch reference's (side `torch`: bench/reference/corl_reference.py, CORL's protocol) normalized
scores over seeds (mean ± std), as the mean of each run's last 3 evaluations and as its final one, with Welch's t-test
of the difference of means (two-sided p-value) for each. Where runs of the optional side `offrl-default` (OffRL's own
defaults, no preset) exist, two more columns show them (last 3 evaluations and final) with the same statistics
against the reference.

Runs are put in one cell only when their provenance agrees: within a side, the same commit (OffRL: the build's
commit; the reference: its script's SHA-256) and the same resolved config; across both sides, the same dataset file
(SHA-256). A cell whose runs disagree is refused with the runs named (exit 2). Runs recorded before provenance was
kept are marked "not recorded" in the table.

    /usr/bin/python3 bench/reference/parity_table.py bench/results/parity-corl
"""
import glob, json, math, os, statistics, subprocess, sys

import svg_curves


def stats(xs):
    if not xs:
        return None
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0), len(xs)


def fmt(s):
    return "–" if s is None else f"{s[0]:.1f} ± {s[1]:.1f} ({s[2]})"


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b) by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - betainc(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)) / a
    tiny = 1e-300
    f, c, d = 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        if i == 0:
            num = 1.0
        elif i % 2 == 0:
            num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        f *= c * d
        if abs(1.0 - c * d) < 1e-12:
            break
    return front * (f - 1.0)


def welch(xs, ys):
    """Welch's t-test of mean(xs) - mean(ys): (t, degrees of freedom, two-sided p); None with fewer than 2 per side."""
    if len(xs) < 2 or len(ys) < 2:
        return None
    vx, vy = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    diff = statistics.mean(xs) - statistics.mean(ys)
    if vx + vy == 0:
        return (0.0, float("inf"), 1.0) if diff == 0 else (math.copysign(float("inf"), diff), float("inf"), 0.0)
    t = diff / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / (len(xs) - 1) + vy ** 2 / (len(ys) - 1))
    p = betainc(df / 2, 0.5, df / (df + t * t))
    return t, df, p


def verdict(o, t):
    w = welch(o, t)
    if w is None:
        return "–"
    return f"{statistics.mean(o) - statistics.mean(t):+.1f}, p = {w[2]:.2f}"


def source_tree(commit):
    """The git tree of src/ at an OffRL commit (what `offrl` is built from: two commits that change only bench/, results
    or docs build the same program), or the commit itself when git cannot tell (a build with uncommitted changes, a
    commit this clone lacks)."""
    if not commit or "+" in commit:
        return commit
    try:
        tree = subprocess.run(["git", "rev-parse", f"{commit}:src"], capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        return f"src tree {tree}"
    except (OSError, subprocess.CalledProcessError):
        return commit


def provenance(r):
    """(code, config, dataset) of a run: OffRL's source tree (from its commit) or the reference script's hash, the resolved
    config as canonical JSON, the dataset file's SHA-256."""
    train = r.get("train", {})
    code = source_tree(train.get("commit")) if train.get("commit") else train.get("script_sha256")
    config = json.dumps(train["config"], sort_keys=True) if "config" in train else None
    return code, config, train.get("dataset_sha256")


def legend(cells, with_default):
    """What each column's runs are, from what they recorded (issue 27's runs: OffRL's defaults against offline_rl.py)."""
    how = lambda side: set().union(*(sides[side]["how"] for sides in cells.values() if side in sides))
    presets, refs = how("offrl"), how("torch")
    offrl = "`offrl train --preset " + ", ".join(sorted(presets - {None})) + "`" if presets - {None} else "`offrl train` (its defaults)"
    kinds = {"ppo_reference.py (CleanRL's ppo_continuous_action.py)" if "cleanrl" in r else "calql_reference.py (CORL's cal_ql.py)" if "cal_ql" in r else "corl_reference.py (CORL's protocol)" if "CORL" in r else "model_based.py (OfflineRL-Kit's code: MOPO, MOBILE)"
             if "OfflineRL-Kit" in r else "rlpd_reference.py (the RLPD authors' code)" if "rlpd" in r
             else "famo2o_reference.py (the FamO2O authors' code)" if "FamO2O" in r
             else "authors_reference.py (the authors' code: PRDC, A2PR)" for r in refs - {None}}
    online = {k for k in kinds if k.startswith(("rlpd", "famo2o", "calql", "ppo"))}
    if any(k.startswith(("famo2o", "calql")) for k in kinds) and not presets - {None}:
        offrl = "`offrl finetune` with the reference's settings (each run's resolved config in runs/)"
    if any(k.startswith("ppo") for k in kinds) and not presets - {None}:
        offrl = "`offrl train --algo ppo-continuous --env E` with the reference's settings (each run's resolved config in runs/)"
    torch = " and ".join("bench/reference/" + k for k in sorted(kinds - online)) if kinds - online else "" if online else "bench/reference/offline_rl.py (OffRL's defaults)"
    torch = (torch + " evaluated by `offrl eval`" if torch else "") + ("; " if torch and online else "") + \
        " and ".join(f"bench/reference/{k} acting and evaluated in OffRL's environment through `offrl env serve`" for k in sorted(online))
    if None in presets and presets - {None} or None in refs and refs - {None}:
        offrl, torch = offrl + " (some runs differ: see runs/)", torch + " (some runs differ: see runs/)"
    return f"OffRL: {offrl}; PyTorch: {torch}" + ("; OffRL defaults: `offrl train` without a preset" if with_default else "")


def main(out):
    files = sorted(glob.glob(os.path.join(out, "runs", "*.json")))
    cells = {}
    for f in files:
        r = json.load(open(f))
        ev = [e["normalized_score"] for e in r["evaluations"]]
        if not ev:
            continue
        cell = cells.setdefault((r["dataset"], r["algo"]), {})
        c = cell.setdefault(r["side"], {"last3": [], "final": [], "steps": set(), "prov": {}, "how": set()})
        # how the side trained: OffRL's preset name (none: its defaults), the reference's CORL or authors' commit (none: offline_rl.py)
        t = r.get("train", {})
        kit = "OfflineRL-Kit" if str(t.get("side", "")).startswith("offlinerl-kit") else None   # model_based.py's runs
        c["how"].add((t.get("corl") or t.get("authors") or kit) if r["side"] == "torch" else t.get("preset"))
        c["last3"].append(statistics.mean(ev[-3:]))
        c["final"].append(ev[-1])
        c["steps"].add(r["evaluations"][-1]["step"])
        c.setdefault("curves", []).append(([e["step"] for e in r["evaluations"]], ev))
        c["prov"][os.path.basename(f)] = provenance(r)
    problems = []
    for (ds, algo), sides in sorted(cells.items()):
        datasets = {}
        for side, c in sides.items():
            for k, name in ((0, "code (commit or script)"), (1, "resolved config")):
                seen = {p[k] for p in c["prov"].values()}
                if len(seen) > 1:
                    problems.append(f"{ds} / {algo} / {side}: runs differ in {name}: " +
                                    ", ".join(f"{n}={str(p[k])[:24]}" for n, p in sorted(c["prov"].items())))
            for n, p in c["prov"].items():
                if p[2] is not None:
                    datasets.setdefault(p[2], []).append(n)
        if len(datasets) > 1:
            problems.append(f"{ds} / {algo}: runs trained on different dataset files: " +
                            "; ".join(f"{h[:12]}...: {', '.join(sorted(ns))}" for h, ns in datasets.items()))
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        sys.exit(2)

    with_default = any("offrl-default" in sides for sides in cells.values())
    head = "| dataset | algorithm | steps | OffRL, last 3 evals | PyTorch, last 3 evals | difference, Welch p | OffRL, final | PyTorch, final | difference, Welch p |"
    rule = "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |"
    if with_default:
        head += " OffRL defaults, last 3 evals (difference, Welch p) | OffRL defaults, final (difference, Welch p) |"
        rule += " ---: | ---: |"
    lines = [head + " provenance |", rule + " --- |"]
    for (ds, algo), sides in sorted(cells.items()):
        o, t, d = sides.get("offrl"), sides.get("torch"), sides.get("offrl-default")
        steps = sorted(set().union(*(c["steps"] for c in sides.values())))
        provs = [p for s in sides.values() for p in s["prov"].values()]
        recorded = all(p[0] and p[1] and p[2] for p in provs)
        online = all(p[0] and p[1] and p[2] is None for p in provs)   # learning online: no dataset to agree on
        row = (f"| {ds} | {algo} | {', '.join(map(str, steps))} | {fmt(stats(o['last3']) if o else None)} | {fmt(stats(t['last3']) if t else None)} | "
               f"{verdict(o['last3'], t['last3']) if o and t else '–'} | {fmt(stats(o['final']) if o else None)} | "
               f"{fmt(stats(t['final']) if t else None)} | {verdict(o['final'], t['final']) if o and t else '–'} |")
        if with_default:
            for k in ("last3", "final"):
                row += f" {fmt(stats(d[k]) if d else None)}" + (f" ({verdict(d[k], t[k])})" if d and t else "") + " |"
        lines.append(row + f" {'same data file, one build (OffRL src tree, reference script) and config per side' if recorded else 'online (no data file), one build (OffRL src tree, reference script) and config per side' if online else 'not recorded'} |")
    text = "\n".join(lines) + "\n\nNormalized score (D4RL's reference returns) in OffRL's environment; mean ± sample std over seeds " \
           f"(number of seeds in brackets). {legend(cells, with_default)}. Difference: OffRL's mean minus the reference's, with the two-sided p-value of Welch's t-test (unequal " \
           "variances); p < 0.05 means the two sides differ beyond their seed-to-seed spread.\n"
    # Both sides' curves per cell (each seed thin, the mean thick): what explains a cell that fails.
    names = {"offrl": "OffRL", "torch": "PyTorch reference", "offrl-default": "OffRL defaults"}
    for (ds, algo), sides in sorted(cells.items()):
        svg_curves.write(os.path.join(out, f"curve-{algo}-{ds}.svg"), f"{algo} on {ds}: normalized score",
                         [(names.get(side, side), sides[side]["curves"]) for side in ("offrl", "torch", "offrl-default") if side in sides])
    text += "\nCurves, both sides per cell: " + ", ".join(f"[{a} {d}](curve-{a}-{d}.svg)" for d, a in sorted(cells)) + ".\n"
    with open(os.path.join(out, "table.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/parity-corl")
