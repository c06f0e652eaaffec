#!/usr/bin/python3
"""OUT/table.md: OffRL's recipe datasets (OUT/info/NAME.json, `offrl dataset info NAME --json`) beside D4RL v2's.

D4RL v2 figures: transitions inside complete episodes and return mean ± std over episodes as the Decision Transformer
loader printed them when it read D4RL's gym_mujoco_v2 HDF5 files (github.com/SiliHuang-ai/IDT @96e81ac5,
gym/data/download_d4rl_datasets.py L64-99; hopper-medium-v2 1422 ± 378 and halfcheetah-medium-v2 4770 ± 356 agree with
issue 34's figures); episodes from the TFDS catalogue (tensorflow/datasets docs/catalog/d4rl_mujoco_ENV.md, v2-KIND, less
the unfinished last episode where a file ends inside one); length = transitions / episodes. Medium-expert returns were
never printed ("–"): its file is medium then expert (D4RL scripts/generation/mujoco/stitch_dataset.py).
"""
import glob, json, os, sys

# Reference random and expert returns of D4RL's normalized score (d4rl/infos.py).
REF = {"hopper": (-20.272305, 3234.3), "halfcheetah": (-280.178953, 12135.0), "walker2d": (1.629008, 4592.3)}
D4RL = {
    "hopper-medium": {"transitions": 999_906, "episodes": 2_186, "return": (1422, 379), "length": 457},
    "hopper-medium-replay": {"transitions": 402_000, "episodes": 2_041, "return": (467, 511), "length": 197},
    "hopper-expert": {"transitions": 999_494, "episodes": 1_027, "return": (3511, 329), "length": 973},
    "hopper-medium-expert": {"episodes": 3_213},
    "halfcheetah-medium": {"transitions": 1_000_000, "episodes": 1_000, "return": (4770, 356), "length": 1000},
    "halfcheetah-medium-replay": {"transitions": 202_000, "episodes": 202, "return": (3093, 1681), "length": 1000},
    "halfcheetah-expert": {"transitions": 1_000_000, "episodes": 1_000, "return": (10656, 442), "length": 1000},
    "halfcheetah-medium-expert": {"episodes": 2_000},
    "walker2d-medium": {"transitions": 999_995, "episodes": 1_190, "return": (2852, 1095), "length": 840},
    "walker2d-medium-replay": {"transitions": 302_000, "episodes": 1_093, "return": (683, 896), "length": 276},
    "walker2d-expert": {"transitions": 999_214, "episodes": 1_000, "return": (4921, 136), "length": 999},
    "walker2d-medium-expert": {"episodes": 2_190},
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
    text = "\n".join(rows) + "\n\nOffRL's datasets are built by its own SAC (Recipes, rule version 5: the snapshot nearest " \
        "D4RL's medium return and spread, judged on 20 stochastic episodes, plus the medium-replay's shortfall from D4RL's size, " \
        "(size - step) / size; medium-replay is the replay buffer up to that snapshot; expert is SAC at 1M steps; medium-expert " \
        "is medium then expert). Normalized score: 100 (return - random) / (expert - random) with D4RL's references. D4RL v2 " \
        "figures: bench/reference/dataset_table.py names their sources.\n"
    with open(os.path.join(out, "table.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/datasets")
