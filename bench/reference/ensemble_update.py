#!/usr/bin/python3
"""PyTorch reference for `OffRL.Bench ensemble-update` (issue 42): SAC-N updates per second with N critics.

The update is CORL's (tinkoff-ai/CORL @6afec90, algorithms/offline/sac_n.py): critics as VectorizedCritic (L263-297,
four VectorizedLinear layers 23 -> 256 -> 256 -> 256 -> 1 over [N, B, obs + act]), the actor a 3 x 256 trunk with mu and
log-sigma heads, log-sigma clipped to [-5, 2] (L201-252); the update order alpha -> actor -> critic -> soft target
update (L379-405); the critic loss ((Q - y)^2).mean(dim=1).sum(dim=0) with y from the minimum over the target critics
(L355-377); Adam 3e-4 for actor and critics. Two departures, both to make PyTorch as fast as it can be, never slower:
the critics' parameters do not require gradients during the actor's backward (CORL's script computes those gradients
and zeroes them before the critic step; OffRL freezes them), and the logging-only forward over random actions
(q_random_std, L407-412) is left out (OffRL has no such pass).

The ensemble layer runs in one of two forms, `matmul` (CORL's `x @ weight + bias`, L195-199) or `baddbmm`
(torch.baddbmm(bias, x, weight), the fused batched form); the search tries both with every split of the cores between
torch's intra-op threads and OpenBLAS's threads (as ../shared/bench/torch_rl_updates.py does) and reports the fastest.
Shapes: observation 17, action 6, batch 256, random data; only speed is measured.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/ensemble_update.py --critics 10 --threads 2 --json
"""
import argparse, itertools, json, math, os, subprocess, sys

# BLAS threads must be fixed before torch loads its BLAS.
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]
import torch
import torch.nn as nn

from torch_engine import rate   # warm-up, then the median of 3 timed runs of about `seconds` each

OBS, ACT, B, H = 17, 6, 256, 256


class EnsembleLinear(nn.Module):
    """N independent linear layers: weight [N, in, out], bias [N, 1, out], input [N, B, in]."""

    def __init__(self, i, o, n, form):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, i, o))
        self.bias = nn.Parameter(torch.empty(n, 1, o))
        for e in range(n):
            nn.init.kaiming_uniform_(self.weight[e], a=math.sqrt(5))
        bound = 1 / math.sqrt(i)
        nn.init.uniform_(self.bias, -bound, bound)
        self.form = form

    def forward(self, x):
        if self.form == "baddbmm":
            return torch.baddbmm(self.bias, x, self.weight)
        return x @ self.weight + self.bias


class Critics(nn.Module):
    def __init__(self, n, form):
        super().__init__()
        self.n = n
        self.net = nn.Sequential(EnsembleLinear(OBS + ACT, H, n, form), nn.ReLU(), EnsembleLinear(H, H, n, form), nn.ReLU(),
                                 EnsembleLinear(H, H, n, form), nn.ReLU(), EnsembleLinear(H, 1, n, form))

    def forward(self, s, a):
        x = torch.cat([s, a], -1).unsqueeze(0).repeat_interleave(self.n, dim=0)
        return self.net(x).squeeze(-1)   # [N, B]


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(OBS, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU())
        self.mu, self.log_sigma = nn.Linear(H, ACT), nn.Linear(H, ACT)

    def forward(self, s):
        h = self.trunk(s)
        mu, log_sigma = self.mu(h), torch.clip(self.log_sigma(h), -5, 2)
        dist = torch.distributions.Normal(mu, log_sigma.exp())
        u = dist.rsample()
        a = torch.tanh(u)
        logp = dist.log_prob(u).sum(-1) - torch.log(1 - a.pow(2) + 1e-6).sum(-1)
        return a, logp


def sac_n(n, form):
    actor, critic = Actor(), Critics(n, form)
    target = Critics(n, form)
    target.load_state_dict(critic.state_dict())
    actor_opt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=3e-4)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=3e-4)
    s, a, r, s2, d = torch.randn(B, OBS), torch.rand(B, ACT) * 2 - 1, torch.randn(B, 1), torch.randn(B, OBS), torch.zeros(B, 1)
    gamma, tau, target_entropy = 0.99, 0.005, -float(ACT)

    def step():
        with torch.no_grad():
            _, logp = actor(s)
        alpha_loss = (-log_alpha * (logp + target_entropy)).mean()
        alpha_opt.zero_grad(); alpha_loss.backward(); alpha_opt.step()
        alpha = log_alpha.exp().detach()

        critic.requires_grad_(False)
        pa, logp = actor(s)
        actor_loss = (alpha * logp - critic(s, pa).min(0).values).mean()
        actor_opt.zero_grad(); actor_loss.backward(); actor_opt.step()
        critic.requires_grad_(True)

        with torch.no_grad():
            a2, logp2 = actor(s2)
            q_next = target(s2, a2).min(0).values - alpha * logp2
            y = r + gamma * (1 - d) * q_next.unsqueeze(-1)
        critic_loss = ((critic(s, a) - y.view(1, -1)) ** 2).mean(dim=1).sum(dim=0)
        critic_opt.zero_grad(); critic_loss.backward(); critic_opt.step()
        with torch.no_grad():
            for tp, p in zip(target.parameters(), critic.parameters()):
                tp.mul_(1 - tau).add_(p, alpha=tau)
    return step


def search(args):
    """The fastest (form, torch threads, BLAS threads) for the given cores: each setting in its own process."""
    best, how = 0.0, ""
    for form in ("matmul", "baddbmm"):
        for t, b in itertools.product(range(1, args.threads + 1), repeat=2):
            if t * b > args.threads and not (t == b == args.threads):
                continue
            cmd = [sys.executable, __file__, "--single", "--critics", str(args.critics), "--threads", str(args.threads),
                   "--torch-threads", str(t), "--blas-threads", str(b), "--form", form, "--seconds", str(args.seconds), "--json"]
            res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            if res["updates_per_s"] > best:
                best, how = res["updates_per_s"], f"{form}, torch {t} x blas {b}"
    return best, how


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--critics", type=int, default=10)
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
        ups, how = round(rate(sac_n(args.critics, args.form), args.seconds), 2), f"{args.form}, single setting"
    else:
        ups, how = search(args)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "critics": args.critics, "threads": args.threads, "updates_per_s": ups, "setting": how}))
    else:
        print(f"sac-n N={args.critics}: {ups} updates/s (torch {torch.__version__}, {args.threads} cores, {how})")
