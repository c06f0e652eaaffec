#!/usr/bin/python3
"""PyTorch counterpart of `OffRL.Bench rlpd-step` (issue 38): RLPD's updates per second, one environment step's block.

The update is bench/reference/rlpd_reference.py's (`Rlpd.update`, written from the RLPD authors' code; its docstring
says what it follows): 10 layer-normed critics 2 x 256, the target's minimum over a random pair, 20 critic steps each
followed by the Polyak step, then one actor and one temperature step. The ensemble runs in the `matmul` or `baddbmm`
form; the search tries both with every split of the cores between torch's intra-op threads and OpenBLAS's (as
../shared/bench/torch_rl_updates.py does) and reports the fastest.

The figure is critic updates per second (20 per block: the block's time / 20), comparable with OffRL's rate of
`Agent.Update` calls, of which every 20th also steps the actor and the temperature. Shapes: observation 17, action 6,
batch 256, random data; only speed is measured.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/rlpd_update.py --threads 1 --json
"""
import argparse, json, os, sys

import torch

from torch_engine import add_speed_arguments, fastest_split, rate   # rate: warm-up, then the median of 3 timed runs

from rlpd_reference import Rlpd   # the networks and the update, as rlpd_reference.py trains them

OBS, ACT, B, H = 17, 6, 256, 256
UTD = 20


def rlpd_block(form):
    agent = Rlpd(OBS, ACT, (H, H), form=form)
    rows = UTD * B
    s, a, r, s2, mask = torch.randn(rows, OBS), torch.rand(rows, ACT) * 2 - 1, torch.randn(rows), torch.randn(rows, OBS), torch.ones(rows)
    return lambda: agent.update(s, a, r, s2, mask, UTD, B)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    add_speed_arguments(p)   # --threads (cores), --seconds, --json, and the child runs' --single, --torch-threads
    p.add_argument("--form", choices=("matmul", "baddbmm"), default="matmul")
    args = p.parse_args()
    if args.single:   # one setting, the rate as the last line (torch_engine.fastest_split's child)
        torch.set_num_threads(args.torch_threads)
        torch.manual_seed(0)
        print(round(UTD * rate(rlpd_block(args.form), args.seconds), 2))
        sys.exit(0)
    ups, how = 0.0, ""
    for form in ("matmul", "baddbmm"):   # each form with every split of the cores (torch_engine.fastest_split)
        r, split = fastest_split([os.path.abspath(__file__), "--form", form], args.threads, args.seconds)
        if r > ups:
            ups, how = r, f"{form}, {split}"
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "updates_per_s": ups, "setting": how}))
    else:
        print(f"rlpd: {ups} critic updates/s (torch {torch.__version__}, {args.threads} cores, {how})")
