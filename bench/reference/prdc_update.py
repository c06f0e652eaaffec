#!/usr/bin/python3
"""PyTorch reference for `OffRL.Bench prdc-update` (issue 36): PRDC updates per second on a real dataset.

The update is authors_reference.py's Prdc (LAMDA-RL/PRDC's prdc.py: TD3+BC's 2 x 256 networks, the critics every
update, every 2nd the actor towards the action of scipy's KDTree nearest [2 s, pi(s)] among all [2 s_i, a_i], and the
targets), on the dataset file given (a D4RL-layout HDF5, `offrl dataset convert halfcheetah-medium FILE.hdf5`: 1M
transitions), prepared as the authors' main.py does (qlearning rows, states standardized with std + 1e-3), batches of
256 drawn from it. The figure is PyTorch's fastest: every split of --threads cores between torch's intra-op threads
and OpenBLAS's is tried in its own process (as ../shared/bench/torch_rl_updates.py does), one core pinned; the tree's
query uses every core the process may use (workers=-1, as prdc.py).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/prdc_update.py --dataset hcm.hdf5 --threads 2 --json
"""
import argparse, json, sys

from torch_engine import fastest_split, rate


def prdc_step(path):
    import numpy as np
    import torch
    import corl_reference as base
    from authors_reference import Buffer, Prdc, authors_config
    cfg = authors_config("prdc", "halfcheetah-medium")
    torch.manual_seed(0); np.random.seed(0)
    data, _ = base.qlearning_dataset(path)
    buffer = Buffer(data, cfg)
    agent = Prdc(cfg, buffer.state.shape[1], buffer.action.shape[1], {"observations": buffer.state, "actions": buffer.action})
    return lambda: agent.update(buffer.sample(cfg["batch_size"])), buffer.size


def search(path, cores, seconds):
    return fastest_split([__file__, "--dataset", path], cores, seconds)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", required=True, help="D4RL-layout HDF5 file")
    p.add_argument("--threads", type=int, default=2, help="cores the reference may use")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each of the 3 timed runs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--single", action="store_true", help="one setting only (--torch-threads; OPENBLAS_NUM_THREADS from the environment)")
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()
    if args.single:
        step, n = prdc_step(args.dataset)
        import torch
        torch.set_num_threads(args.torch_threads)   # after corl_reference's import, which sets one thread
        print(rate(step, args.seconds))
        sys.exit(0)
    import torch
    ups, how = search(args.dataset, args.threads, args.seconds)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "updates_per_s": round(ups, 2), "setting": how}))
    else:
        print(f"prdc-update: {ups:.1f} updates/s ({how}, torch {torch.__version__})")
