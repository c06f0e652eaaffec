"""What the offline-to-online references share (famo2o_reference.py, calql_reference.py): the dataset's actions in the
agent's [-1, 1], the evaluation on OffRL's episode seeds, the checkpoint a stopped run resumes from, and the result file
bench/reference/parity_table.py reads. Each reference keeps its own learner, buffer and loop, as its authors wrote them."""
import json, math, os

import numpy as np
import torch
import torch.nn as nn

from corl_reference import sha256_file


def orthogonal_mlp(sizes):
    """Linear layers with orthogonal weights of gain sqrt 2 and zero biases, ReLU between (the FamO2O authors'
    common.py MLP; CORL cal_ql.py's init_module_weights applied to every layer)."""
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(i, o)
        nn.init.orthogonal_(lin.weight, math.sqrt(2)); nn.init.zeros_(lin.bias)
        layers += [lin] + ([nn.ReLU()] if k < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def trajectory_ends(data):
    """Where a trajectory of D4RL qlearning rows ends: at a terminal, where the next row does not start at this row's
    next observation (more than 1e-6 apart), and at the last row (IQL's split_into_trajectories, CORL's
    get_return_to_go)."""
    ends = data["terminals"].astype(bool).copy()
    ends[:-1] |= np.linalg.norm(data["observations"][1:] - data["next_observations"][:-1], axis=1) > 1e-6
    ends[-1] = True
    return ends


def run_arguments(p, eval_every):
    """The arguments every offline-to-online reference takes: the data file and its name, the environment, the
    evaluation's cadence and episodes, the seed and the result file."""
    p.add_argument("--dataset", required=True, help="D4RL-layout HDF5 (offrl dataset convert)")
    p.add_argument("--dataset-name", default=None)
    p.add_argument("--env", required=True)
    p.add_argument("--eval-every", type=int, default=eval_every)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the run's evaluations (JSON); OUT.resume.pt is its checkpoint")


def unit_actions(actions, env):
    """A dataset stored in the environment's action range, mapped to [-1, 1] as the agent acts (the bridge maps back:
    gym's RescaleAction); one already in [-1, 1] is kept."""
    low, high = env.low.astype(np.float32), env.high.astype(np.float32)
    if np.any(np.abs(actions) > 1 + 1e-6):
        return (2 * (actions - low) / (high - low) - 1).astype(np.float32)
    return actions


def evaluate(act, env, episodes, seed):
    """Mean and std of the return of `act(observation) -> action` over episodes reset with seeds 1 000 000 + seed + k
    (OffRL's evaluation seeds)."""
    returns = []
    for k in range(episodes):
        o, ret, done = env.reset(1_000_000 + seed + k), 0.0, False
        while not done:
            with torch.no_grad():
                a = act(o)
            o, r, term, trunc = env.step(a)
            ret, done = ret + r, term or trunc
        returns.append(ret)
    return float(np.mean(returns)), float(np.std(returns))


def evaluation(step, mean, std, online, info):
    """One evaluation row as parity_table.py reads it, with the D4RL-style normalized score where the env has one."""
    e = {"step": step, "return_mean": mean, "return_std": std, "phase": "online" if online else "offline"}
    if "score_random" in info:
        e["normalized_score"] = 100 * (mean - info["score_random"]) / (info["score_expert"] - info["score_random"])
    return e


def save_checkpoint(path, state):
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_checkpoint(path):
    return torch.load(path, weights_only=False) if os.path.exists(path) else None


def write_result(out, script, algo, args, config, authors, evals):
    """The run's file: provenance (the script's and the dataset's hashes, the resolved config, the authors' commit) and
    its evaluations, written to a temporary name and renamed."""
    train = {"script_sha256": sha256_file(os.path.abspath(script)), "dataset_sha256": sha256_file(args.dataset) if args.dataset else None, "config": config,
             "authors": authors, "torch": torch.__version__}
    result = {"side": "torch", "algo": algo, "dataset": args.dataset_name or os.path.basename(args.dataset).split(".")[0], "seed": args.seed,
              "train": train, "evaluations": evals}
    with open(out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(out + ".tmp", out)
    print(json.dumps(train))
