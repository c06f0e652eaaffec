#!/usr/bin/python3
"""PyTorch references of OffRL's model-based benches (issue 37), written from OfflineRL-Kit's own files
(yihaosun1124/OfflineRL-Kit @e3ce697), never from OffRL's code:

  model-rollout  policy/model_based/mopo.py rollout(): per step, select_action (the SAC actor's rsample, no grad, to
                 numpy), dynamics.step (ensemble_dynamics.py: scaler.transform on numpy, the ensemble's forward, mean
                 and log-variance to numpy, mean[..., :-1] += obs, std = sqrt(exp(logvar)), a normal sample per member,
                 a random elite per row, termination_fns.py's rule, the aleatoric penalty max_e ||std_e||), the
                 transitions appended, the rollouts that ended dropped. Halfcheetah's shapes (obs 17, act 6; it never
                 terminates): ROLLOUTS rollouts (default 5 000) of 5 steps a round; transitions per second.
  mobile-update  policy/model_based/mobile.py learn(): a batch of 12 real and 244 model rows; the critics' loss with
                 compute_lcb (dynamics.sample_next_obss: 10 samples per elite, the actor's rsample at them, min over
                 the target critics, mean over samples, std over elites), the penalty zeroed on the real rows, the
                 deterministic backup, the target clamped at 0; then the actor, the temperature (clamped to [0, 1]) and
                 the Polyak step. Networks as run_mobile.py builds them: MLP backbones 2 x 256 (ReLU), critics
                 MLP + Linear(256, 1), actor MLP + TanhDiagGaussian (mu and sigma heads, log-sigma clamped to [-5, 2]).

The ensemble is dynamics_reference.py's build() (written from ensemble_linear.py and dynamics_module.py).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/model_based.py --bench model-rollout --threads 1 --json
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/model_based.py --bench mobile-update --threads 2 --json
"""
import argparse, json, os, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamics_reference import build  # noqa: E402

OBS, ACT, MEMBERS, ELITES = 17, 6, 7, 5


def networks():
    import torch, torch.nn as nn

    def mlp(i):
        return nn.Sequential(nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.mu, self.sigma = mlp(OBS), nn.Linear(256, ACT), nn.Linear(256, ACT)

        def forward(self, obs, deterministic=False):
            h = self.backbone(obs)
            mu, log_sigma = self.mu(h), torch.clamp(self.sigma(h), -5.0, 2.0)
            dist = torch.distributions.Normal(mu, log_sigma.exp())
            raw = mu if deterministic else dist.rsample()
            action = torch.tanh(raw)
            logp = dist.log_prob(raw).sum(-1, keepdim=True) - torch.log(1 - action.pow(2) + 1e-6).sum(-1, keepdim=True)
            return action, logp

    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.last = mlp(OBS + ACT), nn.Linear(256, 1)

        def forward(self, obs, act):
            return self.last(self.backbone(torch.cat([obs, act], -1)))

    return Actor(), Critic, nn.ModuleList


def rollout_step():
    import torch
    torch.manual_seed(0); np.random.seed(0)
    model = build(OBS, ACT, MEMBERS, (200, 200, 200, 200), (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4))
    actor, _, _ = networks()
    mu, sd = np.zeros(OBS + ACT, np.float32), np.ones(OBS + ACT, np.float32)   # scaler.py's mean and std
    elites = np.arange(ELITES)
    data = np.random.randn(20_000, OBS).astype(np.float32)
    starts = int(os.environ.get("ROLLOUTS", "5000"))

    @torch.no_grad()
    def dynamics_step(obs, action):
        obs_act = (np.concatenate([obs, action], -1) - mu) / sd
        mean, logvar = model(torch.as_tensor(obs_act))
        mean, logvar = mean.numpy(), logvar.numpy()
        mean[..., :-1] += obs
        std = np.sqrt(np.exp(logvar))
        samples = (mean + np.random.normal(size=mean.shape) * std).astype(np.float32)
        idx = elites[np.random.randint(0, len(elites), size=obs.shape[0])]
        picked = samples[idx, np.arange(obs.shape[0])]
        next_obs, reward = picked[..., :-1], picked[..., -1:]
        terminal = np.zeros((obs.shape[0], 1), bool)   # halfcheetah
        penalty = np.amax(np.linalg.norm(std, axis=2), axis=0)[:, None].astype(np.float32)
        return next_obs, reward - 1.0 * penalty, terminal

    def round_():
        obs = data[np.random.randint(0, len(data), size=starts)]
        out = {k: [] for k in ("obss", "next_obss", "actions", "rewards", "terminals")}
        for _ in range(5):
            with torch.no_grad():
                action = actor(torch.as_tensor(obs))[0].numpy()
            next_obs, reward, terminal = dynamics_step(obs, action)
            for k, v in zip(out, (obs, next_obs, action, reward, terminal)):
                out[k].append(v)
            keep = (~terminal).flatten()
            if keep.sum() == 0:
                break
            obs = next_obs[keep]
        return {k: np.concatenate(v, 0) for k, v in out.items()}

    return round_, starts * 5


def mobile_step():
    import copy, torch
    torch.manual_seed(0); np.random.seed(0)
    model = build(OBS, ACT, MEMBERS, (200, 200, 200, 200), (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4))
    actor, Critic, ModuleList = networks()
    critics = ModuleList([Critic() for _ in range(2)])
    critics_old = copy.deepcopy(critics)
    actor_optim = torch.optim.Adam(actor.parameters(), lr=1e-4)
    critics_optim = torch.optim.Adam(critics.parameters(), lr=3e-4)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_optim = torch.optim.Adam([log_alpha], lr=1e-4)
    state = {"alpha": log_alpha.detach().exp()}
    mu, sd = torch.zeros(OBS + ACT), torch.ones(OBS + ACT)
    elites = np.arange(ELITES)
    obss, next_obss = torch.randn(256, OBS), torch.randn(256, OBS)
    actions, rewards = torch.rand(256, ACT) * 2 - 1, torch.randn(256, 1)
    terminals = torch.zeros(256, 1)

    @torch.no_grad()
    def compute_lcb(obs, act, num_samples=10):
        mean, logvar = model((torch.cat([obs, act], -1) - mu) / sd)
        mean[..., :-1] += obs
        std = torch.sqrt(torch.exp(logvar))
        mean, std = mean[elites], std[elites]
        samples = torch.stack([mean + torch.randn_like(std) * std for _ in range(num_samples)], 0)
        nxt = samples[..., :-1]
        s, e, b, d = nxt.shape
        nxt = nxt.reshape(-1, d)
        a, _ = actor(nxt)
        q = torch.cat([c(nxt, a) for c in critics_old], 1)
        return torch.min(q, 1)[0].reshape(s, e, b, 1).mean(0).std(0)

    def learn():
        qs = torch.stack([c(obss, actions) for c in critics], 0)
        with torch.no_grad():
            penalty = compute_lcb(obss, actions)
            penalty[:12] = 0.0
            next_actions, _ = actor(next_obss)
            next_q = torch.min(torch.cat([c(next_obss, next_actions) for c in critics_old], 1), 1)[0].reshape(-1, 1)
            target = torch.clamp((rewards - 1.5 * penalty) + 0.99 * (1 - terminals) * next_q, 0, None)
        critic_loss = ((qs - target) ** 2).mean()
        critics_optim.zero_grad(); critic_loss.backward(); critics_optim.step()
        a, logp = actor(obss)
        actor_loss = -torch.min(torch.cat([c(obss, a) for c in critics], 1), 1)[0].mean() + state["alpha"] * logp.mean()
        actor_optim.zero_grad(); actor_loss.backward(); actor_optim.step()
        alpha_loss = -(log_alpha * (logp.detach() - ACT)).mean()
        alpha_optim.zero_grad(); alpha_loss.backward(); alpha_optim.step()
        state["alpha"] = torch.clamp(log_alpha.detach().exp(), 0.0, 1.0)
        with torch.no_grad():
            for o, n in zip(critics_old.parameters(), critics.parameters()):
                o.data.copy_(o.data * 0.995 + n.data * 0.005)

    return learn, 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--bench", choices=["model-rollout", "mobile-update"], required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--single", action="store_true")
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()
    import torch
    make = rollout_step if args.bench == "model-rollout" else mobile_step
    if args.single:
        from torch_engine import rate
        torch.set_num_threads(args.torch_threads)
        step, _ = make()
        print(rate(step, args.seconds))
        sys.exit(0)
    from torch_engine import fastest_split
    calls, how = fastest_split([__file__, "--bench", args.bench], args.threads, args.seconds)
    _, per_call = make()
    unit = "transitions_per_s" if args.bench == "model-rollout" else "updates_per_s"
    out = {"bench": args.bench, "torch": torch.__version__, "threads": args.threads, unit: round(calls * per_call, 2), "setting": how}
    print(json.dumps(out) if args.json else f"{args.bench}: {calls * per_call:.2f} {unit} (torch {torch.__version__}, {args.threads} cores, {how})")
