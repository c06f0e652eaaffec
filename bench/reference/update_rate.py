#!/usr/bin/python3
"""PyTorch references for `OffRL.Bench rebrac-update`, `edac-update` and `prdc-update` (issue 36): updates per second,
the update being corl_reference.py's or authors_reference.py's (written from CORL's and the authors' files, never
from OffRL's):

  rebrac  CORL's rebrac.py (JAX, in PyTorch): a 3 x 256 actor, two 3 x 256 critics with layer norm after each hidden
          ReLU, batch 1024, the critics every update and the actor with the targets every 2nd, the penalties on the
          actor and in the critics' target (halfcheetah-medium-replay's coefficients).
  edac    CORL's edac.py with its halfcheetah config: 10 critics of 3 x 256 as one vectorized ensemble, a 3 x 256
          actor, eta 1 (the critics' normalized action gradients taken with create_graph=True and differentiated
          through), temperature, actor and critics each step, batch 256.
  prdc    LAMDA-RL/PRDC's prdc.py on the --dataset file given (a D4RL-layout HDF5, `offrl dataset convert
          halfcheetah-medium FILE.hdf5`: 1M transitions), prepared as the authors' main.py does (qlearning rows,
          states standardized with std + 1e-3): the critics every update, every 2nd the actor towards the action of
          scipy's KDTree nearest [2 s, pi(s)] among all [2 s_i, a_i] (workers=-1, as prdc.py), batches of 256 from it.

Shapes (rebrac, edac): observation 17, action 6; random data; only speed is measured. The figure is PyTorch's fastest: every split
of --threads cores between torch's intra-op threads and OpenBLAS's is tried in its own process (as
../shared/bench/torch_rl_updates.py does), one core pinned.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/update_rate.py --algo edac --threads 2 --json
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/update_rate.py --algo prdc --dataset hcm.hdf5 --threads 1 --json
"""
import argparse, json, sys

from torch_engine import fastest_split, rate

OBS, ACT = 17, 6


def step(algo, path=None):
    import torch
    if algo == "prdc":
        import numpy as np
        import corl_reference as base
        from authors_reference import Buffer, Prdc, authors_config
        cfg = authors_config("prdc", "halfcheetah-medium")
        torch.manual_seed(0); np.random.seed(0)
        data, _ = base.qlearning_dataset(path)
        buffer = Buffer(data, cfg)
        agent = Prdc(cfg, buffer.state.shape[1], buffer.action.shape[1], {"observations": buffer.state, "actions": buffer.action})
        return lambda: agent.update(buffer.sample(cfg["batch_size"]))
    from corl_reference import Rebrac, SacN, corl_config
    torch.manual_seed(0)
    cfg = corl_config(algo, "halfcheetah-medium-replay")
    agent = (Rebrac if algo == "rebrac" else SacN)(cfg, OBS, ACT)
    b = cfg["batch_size"]
    batch = (torch.randn(b, OBS), torch.rand(b, ACT) * 2 - 1, torch.randn(b, 1), torch.randn(b, OBS), torch.zeros(b, 1))
    if algo == "rebrac":
        batch += (torch.rand(b, ACT) * 2 - 1,)   # the dataset's next actions
    return lambda: agent.update(batch)


def search(algo, path, cores, seconds):
    return fastest_split([__file__, "--algo", algo] + (["--dataset", path] if path else []), cores, seconds)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--algo", choices=("rebrac", "edac", "prdc"), default="rebrac")
    p.add_argument("--dataset", help="prdc: a D4RL-layout HDF5 file")
    p.add_argument("--threads", type=int, default=2, help="cores the reference may use")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each of the 3 timed runs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--single", action="store_true", help="one setting only (--torch-threads; OPENBLAS_NUM_THREADS from the environment)")
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()
    if args.algo == "prdc" and not args.dataset:
        sys.exit("error: --dataset: prdc runs on a dataset file (offrl dataset convert halfcheetah-medium FILE.hdf5)")
    if args.single:
        update = step(args.algo, args.dataset)
        import torch
        torch.set_num_threads(args.torch_threads)   # after corl_reference's import, which sets one thread
        print(rate(update, args.seconds))
        sys.exit(0)
    import torch
    ups, how = search(args.algo, args.dataset, args.threads, args.seconds)
    if args.json:
        print(json.dumps({"algo": args.algo, "torch": torch.__version__, "threads": args.threads, "updates_per_s": round(ups, 2), "setting": how}))
    else:
        print(f"{args.algo}: {ups:.2f} updates/s (torch {torch.__version__}, {args.threads} cores, {how})")
