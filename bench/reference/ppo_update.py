#!/usr/bin/python3
"""PyTorch counterpart of `OffRL.Bench ppo-iteration` (issue 39): CleanRL's continuous PPO learning from one rollout of
8 envs x 256 steps (2 048 rows) on hopper's shapes (observation 11, action 3): 10 epochs of 32 minibatches of 64, the
update of bench/reference/ppo_reference.py (`learn`, CleanRL's ppo_continuous_action.py L257-308), random data; the
search tries every split of the cores between torch's intra-op threads and OpenBLAS's (as
../shared/bench/torch_rl_updates.py does) and reports the fastest, as iterations per second.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/ppo_update.py --threads 1 --json
"""
import argparse, json, os, sys
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_engine import add_speed_arguments, fastest_split, rate
from ppo_reference import Agent, learn

OBS, ACT, ENVS, STEPS, MINIBATCH = 11, 3, 8, 256, 64
SETTINGS = SimpleNamespace(update_epochs=10, clip_coef=0.2, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, target_kl=None)


def iteration():
    agent = Agent(OBS, ACT)
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-4, eps=1e-5)
    n = ENVS * STEPS
    obs, actions = torch.randn(n, OBS), torch.randn(n, ACT) * 0.5
    logprobs, advantages, values = -3 + 0.1 * torch.randn(n), torch.randn(n), torch.randn(n)
    returns = advantages + values
    return lambda: learn(agent, optimizer, obs, logprobs, actions, advantages, returns, values, SETTINGS, MINIBATCH)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    add_speed_arguments(p)   # --threads (cores), --seconds, --json, and the child runs' --single, --torch-threads
    args = p.parse_args()
    if args.single:
        torch.set_num_threads(args.torch_threads)
        torch.manual_seed(0)
        print(round(rate(iteration(), args.seconds), 3))
        sys.exit(0)
    ips, how = fastest_split([os.path.abspath(__file__)], args.threads, args.seconds)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "iterations_per_s": ips, "setting": how}))
    else:
        print(f"ppo iteration: {ips} iterations/s (torch {torch.__version__}, {args.threads} cores, {how})")
