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
import argparse, itertools, json, math, os, subprocess, sys

# BLAS threads must be fixed before torch loads its BLAS.
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]
import torch

from torch_engine import rate   # warm-up, then the median of 3 timed runs of about `seconds` each

from rlpd_reference import Rlpd   # the networks and the update, as rlpd_reference.py trains them

OBS, ACT, B, H = 17, 6, 256, 256
UTD = 20


def rlpd_block(form):
    agent = Rlpd(OBS, ACT, (H, H), form=form)
    rows = UTD * B
    s, a, r, s2, mask = torch.randn(rows, OBS), torch.rand(rows, ACT) * 2 - 1, torch.randn(rows), torch.randn(rows, OBS), torch.ones(rows)
    return lambda: agent.update(s, a, r, s2, mask, UTD, B)


def search(args):
    """The fastest (form, torch threads, BLAS threads) for the given cores: each setting in its own process."""
    best, how = 0.0, ""
    for form in ("matmul", "baddbmm"):
        for t, b in itertools.product(range(1, args.threads + 1), repeat=2):
            if t * b > args.threads and not (t == b == args.threads):
                continue
            cmd = [sys.executable, __file__, "--single", "--threads", str(args.threads), "--torch-threads", str(t),
                   "--blas-threads", str(b), "--form", form, "--seconds", str(args.seconds), "--json"]
            res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            if res["updates_per_s"] > best:
                best, how = res["updates_per_s"], f"{form}, torch {t} x blas {b}"
    return best, how


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2, help="cores the reference may use")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each of the 3 timed runs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--single", action="store_true", help="one setting only (--form, --torch-threads, --blas-threads)")
    p.add_argument("--form", choices=("matmul", "baddbmm"), default="baddbmm")
    p.add_argument("--torch-threads", type=int, default=0)
    p.add_argument("--blas-threads", type=int, default=0)
    args = p.parse_args()
    if args.single:
        torch.set_num_threads(args.torch_threads or args.threads)
        torch.manual_seed(0)
        ups, how = round(UTD * rate(rlpd_block(args.form), args.seconds), 2), f"{args.form}, single setting"
    else:
        ups, how = search(args)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "updates_per_s": ups, "setting": how}))
    else:
        print(f"rlpd: {ups} critic updates/s (torch {torch.__version__}, {args.threads} cores, {how})")
