#!/usr/bin/python3
"""PyTorch reference for `OffRL.Bench rebrac-update` (issue 36): ReBRAC updates per second at ReBRAC's shapes.

The update is corl_reference.py's Rebrac (CORL's rebrac.py, written from its JAX code in PyTorch): a 3 x 256 actor, two
3 x 256 critics with layer norm after each hidden ReLU, batch 1024, the critics every update and the actor with the
targets every 2nd, the penalties on the actor and in the critics' target. Shapes: observation 17, action 6; random
data; only speed is measured. The figure is PyTorch's fastest: every split of --threads cores between torch's intra-op
threads and OpenBLAS's is tried in its own process (as ../shared/bench/torch_rl_updates.py does), one core pinned.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/rebrac_update.py --threads 2 --json
"""
import argparse, json, sys

from torch_engine import fastest_split, rate

OBS, ACT, B = 17, 6, 1024


def rebrac_step():
    import torch
    from corl_reference import Rebrac, corl_config
    torch.manual_seed(0)
    agent = Rebrac(corl_config("rebrac", "halfcheetah-medium-replay"), OBS, ACT)
    batch = (torch.randn(B, OBS), torch.rand(B, ACT) * 2 - 1, torch.randn(B, 1), torch.randn(B, OBS), torch.zeros(B, 1), torch.rand(B, ACT) * 2 - 1)
    return lambda: agent.update(batch)


def search(cores, seconds):
    return fastest_split([__file__], cores, seconds)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2, help="cores the reference may use")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each of the 3 timed runs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--single", action="store_true", help="one setting only (--torch-threads; OPENBLAS_NUM_THREADS from the environment)")
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()
    if args.single:
        step = rebrac_step()
        import torch
        torch.set_num_threads(args.torch_threads)   # after corl_reference's import, which sets one thread
        print(rate(step, args.seconds))
        sys.exit(0)
    import torch
    ups, how = search(args.threads, args.seconds)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "updates_per_s": round(ups, 2), "setting": how}))
    else:
        print(f"rebrac: {ups:.2f} updates/s (torch {torch.__version__}, {args.threads} cores, {how})")
