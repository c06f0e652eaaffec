#!/usr/bin/python3
"""PyTorch reference of OfflineRL-Kit's dynamics ensemble (issue 37), written from OfflineRL-Kit's own files
(yihaosun1124/OfflineRL-Kit @e3ce697), never from OffRL's code:

  offlinerlkit/nets/ensemble_linear.py        weights [E, in, out] from trunc_normal_(std = 1 / (2 sqrt(in))), biases
                                              [E, 1, out] zero; wd / 2 * sum(W^2) per layer; saved copies per member
  offlinerlkit/modules/dynamics_module.py     Swish hidden layers, outputs chunked into mean and log-variance, the
                                              log-variance soft-clamped between learned max (0.5) and min (-10)
  offlinerlkit/dynamics/ensemble_dynamics.py  train / learn / validate / select_elites (hold-out min(int(0.2 n), 1000)
                                              by random_split, StandardScaler on the training inputs, bootstrap indices
                                              per member reshuffled every epoch, improvement > 1% keeps a member's
                                              weights, stop after 5 epochs without, 5 elites)
  offlinerlkit/utils/scaler.py                mean and std (ddof 0) over the training inputs, std < 1e-12 -> 1
  offlinerlkit/utils/load_dataset.py          the rows: i < N - 1, timeouts skipped, next_observations from the file
  run_example/run_mopo.py, run_mobile.py      7 members, 5 elites, 4 x 200, weight decays 2.5e-5 5e-5 7.5e-5 7.5e-5
                                              1e-4, lr 1e-3, batch 256; MOBILE caps the epochs at 30

Fits the ensemble on a D4RL-layout HDF5 file and prints one JSON line: each member's best hold-out MSE, the elites,
the epochs, the time. --speed instead measures gradient steps per second (obs 17, act 6, batch 256 per member; random
data) at PyTorch's fastest split of --threads cores, as bench/speed.sh's references do.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/reference/dynamics_reference.py --dataset hcmr.hdf5 --seed 0 --max-epochs 30
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/dynamics_reference.py --speed --threads 1 --json
"""
import argparse, json, sys, time

import numpy as np

from torch_engine import add_speed_arguments


def load(path):
    import h5py
    with h5py.File(path, "r") as f:
        d = {k: f[k][:] for k in ("observations", "actions", "rewards", "terminals") }
        d["timeouts"] = f["timeouts"][:] if "timeouts" in f else np.zeros(len(d["rewards"]), bool)
        has_next = "next_observations" in f
        nxt = f["next_observations"][:] if has_next else None
    n = len(d["rewards"])
    keep = np.flatnonzero(~d["timeouts"][: n - 1].astype(bool).reshape(-1))   # load_dataset.py: range(N-1), timeouts skipped
    obs = d["observations"][keep].astype(np.float32)
    new_obs = (nxt[keep] if has_next else d["observations"][keep + 1]).astype(np.float32)
    return {"observations": obs, "actions": d["actions"][keep].astype(np.float32), "next_observations": new_obs,
            "rewards": d["rewards"][keep].astype(np.float32).reshape(-1, 1),
            "terminals": d["terminals"][keep].astype(np.float32).reshape(-1, 1)}


def build(obs_dim, act_dim, members, hidden, decays):
    import torch, torch.nn as nn, torch.nn.functional as F

    class EnsembleLinear(nn.Module):
        def __init__(self, i, o, wd):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(members, i, o)); self.bias = nn.Parameter(torch.zeros(members, 1, o))
            nn.init.trunc_normal_(self.weight, std=1 / (2 * i ** 0.5))
            self.saved = (self.weight.detach().clone(), self.bias.detach().clone())
            self.wd = wd
        def forward(self, x):
            x = torch.einsum("ij,bjk->bik", x, self.weight) if x.dim() == 2 else torch.einsum("bij,bjk->bik", x, self.weight)
            return x + self.bias
        def update_save(self, idx):
            self.saved[0][idx] = self.weight.data[idx]; self.saved[1][idx] = self.bias.data[idx]
        def load_save(self):
            self.weight.data.copy_(self.saved[0]); self.bias.data.copy_(self.saved[1])
        def decay(self):
            return self.wd * (0.5 * (self.weight ** 2).sum())

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            dims = [obs_dim + act_dim] + list(hidden)
            self.backbones = nn.ModuleList([EnsembleLinear(i, o, wd) for i, o, wd in zip(dims[:-1], dims[1:], decays[:-1])])
            self.out = EnsembleLinear(dims[-1], 2 * (obs_dim + 1), decays[-1])
            self.max_logvar = nn.Parameter(torch.ones(obs_dim + 1) * 0.5)
            self.min_logvar = nn.Parameter(torch.ones(obs_dim + 1) * -10)
        def forward(self, x):
            for layer in self.backbones:
                x = layer(x); x = x * torch.sigmoid(x)   # Swish
            mean, logvar = torch.chunk(self.out(x), 2, dim=-1)
            logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
            logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
            return mean, logvar
        def layers(self):
            return list(self.backbones) + [self.out]

    return Model()


def learn_step(model, opt, x, y, coef=0.01):
    import torch
    mean, logvar = model(x)
    inv_var = torch.exp(-logvar)
    loss = (torch.pow(mean - y, 2) * inv_var).mean(dim=(1, 2)).sum() + logvar.mean(dim=(1, 2)).sum()
    loss = loss + sum(l.decay() for l in model.layers())
    loss = loss + coef * model.max_logvar.sum() - coef * model.min_logvar.sum()
    opt.zero_grad(); loss.backward(); opt.step()
    return loss.item()


def fit(data, seed, members=7, elites=5, hidden=(200, 200, 200, 200), decays=(2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4),
        lr=1e-3, batch=256, max_epochs=None, since=5, holdout_ratio=0.2, keep=False):
    """Fits the ensemble; returns the report, and with keep also the model and the scaler's mean and std."""
    import torch
    np.random.seed(seed); torch.manual_seed(seed)
    inputs = np.concatenate([data["observations"], data["actions"]], -1)
    targets = np.concatenate([data["next_observations"] - data["observations"], data["rewards"]], -1)
    n = len(inputs)
    holdout = min(int(n * holdout_ratio), 1000); train = n - holdout
    tr, ho = torch.utils.data.random_split(range(n), (train, holdout))
    xi, yi, xh, yh = inputs[tr.indices], targets[tr.indices], inputs[ho.indices], targets[ho.indices]
    mu = xi.mean(0, keepdims=True); std = xi.std(0, keepdims=True); std[std < 1e-12] = 1.0
    xi = (xi - mu) / std; xh = (xh - mu) / std
    model = build(data["observations"].shape[1], data["actions"].shape[1], members, hidden, decays)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best = [1e10] * members
    idx = np.random.randint(train, size=[members, train])
    xh_t, yh_t = torch.as_tensor(xh, dtype=torch.float32), torch.as_tensor(yh, dtype=torch.float32)
    epoch = cnt = 0
    start = time.perf_counter()
    while True:
        epoch += 1
        xs, ys = xi[idx], yi[idx]
        for b in range(int(np.ceil(train / batch))):
            learn_step(model, opt, torch.as_tensor(xs[:, b * batch:(b + 1) * batch], dtype=torch.float32),
                       torch.as_tensor(ys[:, b * batch:(b + 1) * batch], dtype=torch.float32))
        with torch.no_grad():
            mean, _ = model(xh_t)
            new = list(((mean - yh_t) ** 2).mean(dim=(1, 2)).numpy())
        idx = idx[np.arange(members)[:, None], np.argsort(np.random.uniform(size=idx.shape), axis=-1)]
        improved = [i for i in range(members) if (best[i] - new[i]) / best[i] > 0.01]
        for i in improved:
            best[i] = float(new[i])
        if improved:
            for layer in model.layers():
                layer.update_save(improved)
            cnt = 0
        else:
            cnt += 1
        print(f"epoch {epoch}: hold-out MSE {' '.join(f'{v:.4g}' for v in new)}", file=sys.stderr, flush=True)
        if cnt >= since or (max_epochs and epoch >= max_epochs):
            break
    for layer in model.layers():
        layer.load_save()
    chosen = [i for _, i in sorted(zip(best, range(members)))][:elites]
    report = {"holdout_mse": best, "elites": chosen, "elite_holdout_mse": float(np.mean([best[i] for i in chosen])), "epochs": epoch,
              "train_rows": train, "holdout_rows": holdout, "seconds": time.perf_counter() - start}
    return (report, model, mu.astype(np.float32), std.astype(np.float32)) if keep else report


def speed_step():
    import torch
    torch.manual_seed(0)
    model = build(17, 6, 7, (200, 200, 200, 200), (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(7, 256, 23), torch.randn(7, 256, 18)
    return lambda: learn_step(model, opt, x, y)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", help="a D4RL-layout HDF5 file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-epochs", type=int, default=None, help="MOBILE's cap (30); none for MOPO")
    p.add_argument("--speed", action="store_true", help="gradient steps per second instead of a fit")
    add_speed_arguments(p)
    args = p.parse_args()
    import torch
    if args.single:
        from torch_engine import rate
        torch.set_num_threads(args.torch_threads)
        print(rate(speed_step(), args.seconds))
        sys.exit(0)
    if args.speed:
        from torch_engine import fastest_split
        sps, how = fastest_split([__file__, "--speed"], args.threads, args.seconds)
        out = {"bench": "dynamics-fit", "torch": torch.__version__, "threads": args.threads, "steps_per_s": round(sps, 2), "setting": how}
        print(json.dumps(out) if args.json else f"dynamics-fit: {sps:.2f} steps/s (torch {torch.__version__}, {args.threads} cores, {how})")
        sys.exit(0)
    if not args.dataset:
        sys.exit("error: --dataset: a D4RL-layout HDF5 file to fit on")
    torch.set_num_threads(1)
    res = fit(load(args.dataset), args.seed, max_epochs=args.max_epochs)
    print(json.dumps({"side": "offlinerl-kit (pytorch)", "dataset": args.dataset, "seed": args.seed, "max_epochs": args.max_epochs, **res}))
