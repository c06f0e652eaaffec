#!/usr/bin/python3
"""OUT/table.md: OffRL's recipe datasets (OUT/info/NAME.json, `offrl dataset info NAME --json`) beside D4RL v2's.

D4RL v2 figures: transitions and episodes of the files, return mean ± std over episodes (hopper-medium-v2 and
halfcheetah-medium-v2 as issue 34 quotes them; "–" where we have no figure we can vouch for).
"""
import glob, json, os, sys

# Reference random and expert returns of D4RL's normalized score (d4rl/infos.py).
REF = {"hopper": (-20.272305, 3234.3), "halfcheetah": (-280.178953, 12135.0), "walker2d": (1.629008, 4592.3)}
D4RL = {
    "hopper-medium": {"transitions": 1_000_000, "return": (1422, 378), "length": 457},
    "hopper-medium-replay": {"transitions": 402_000},
    "halfcheetah-medium": {"transitions": 1_000_000, "episodes": 1000, "return": (4770, 356), "length": 1000},
    "halfcheetah-medium-replay": {"transitions": 202_000, "episodes": 202, "length": 1000},
}


def num(x):
    return f"{x:,}" if isinstance(x, int) else "–"


def score(env, ret):
    lo, hi = REF[env]
    return 100 * (ret - lo) / (hi - lo)


def main(out):
    rows = ["| dataset | transitions | episodes | return | mean length | normalized score | D4RL v2 transitions | D4RL v2 episodes | D4RL v2 return | D4RL v2 length | D4RL v2 score |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for f in sorted(glob.glob(os.path.join(out, "info", "*.json"))):
        name = os.path.basename(f)[:-5]
        env = name.split("-")[0]
        i = json.load(open(f))
        d = D4RL.get(name, {})
        r = d.get("return")
        rows.append(f"| {name} | {i['transitions']:,} | {i['episodes']:,} | {i['return_mean']:.0f} ± {i['return_std']:.0f} | {i['length_mean']:.0f} | "
                    f"{score(env, i['return_mean']):.1f} | {num(d.get('transitions'))} | {num(d.get('episodes'))} | "
                    f"{f'{r[0]} ± {r[1]}' if r else '–'} | {num(d.get('length'))} | {f'{score(env, r[0]):.1f}' if r else '–'} |")
    text = "\n".join(rows) + "\n\nOffRL's datasets are built by its own SAC (Recipes; hopper rule version 3: the snapshot nearest " \
        "D4RL's medium return and spread, judged on 20 stochastic episodes; halfcheetah rule version 5: the same distance plus the " \
        "medium-replay's shortfall from D4RL's size, (size - step) / size; medium-replay is the replay buffer up to that " \
        "snapshot). Normalized score: 100 (return - random) / (expert - random) with D4RL's references.\n"
    with open(os.path.join(out, "table.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/datasets")
