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
import argparse, json, os, sys, time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynamics_reference import build, fit, load  # noqa: E402
from torch_engine import add_speed_arguments  # noqa: E402

OBS, ACT, MEMBERS, ELITES = 17, 6, 7, 5


def networks(obs_dim=OBS, act_dim=ACT):
    import torch, torch.nn as nn
    OBS, ACT = obs_dim, act_dim

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


# ================================================================================================================
# Training (--train): MOPO and MOBILE as OfflineRL-Kit's run_mopo.py / run_mobile.py run them, at a set budget.
#   data          utils/load_dataset.py qlearning_dataset (dynamics_reference.load: rows i < N - 1, timeouts skipped)
#   dynamics      dynamics_reference.fit (ensemble_dynamics.py train; MOBILE caps it at 30 epochs, MOPO does not)
#   rollouts      every 1000 updates 50 000 rollouts of the preset's h from dataset states (mb_policy_trainer.py),
#                 the transitions into a FIFO buffer of 50 000 x h x 5 (buffer/buffer.py add_batch)
#   batches       int(256 x 0.05) = 12 real rows first, 244 model rows
#   MOPO learn    policy/model_free/sac.py learn: critics (one Adam each), actor, temperature (clamped to [0, 1]), Polyak
#   MOBILE learn  policy/model_based/mobile.py learn (as mobile_step above, with the preset's beta)
#   schedule      CosineAnnealingLR(actor_optim, epochs) stepped after every epoch of 1000 updates; here epochs =
#                 steps / 1000, the run's budget (OffRL's cosine_actor_lr anneals over the run the same way)
#   terminations  utils/termination_fns.py: hopper (finite, next_obs[1:] < 100, height > 0.7, |angle| < 0.2),
#                 walker2d (0.8 < height < 2, -1 < angle < 1), halfcheetah (every |s'| < 100, else done)
SUGGESTED = {   # run_mopo.py's and run_mobile.py's "suggested hypers": (rollout length, penalty coef)
    "mopo": {"halfcheetah-medium": (5, 0.5), "hopper-medium": (5, 5.0), "walker2d-medium": (5, 0.5), "halfcheetah-medium-replay": (5, 0.5),
             "hopper-medium-replay": (5, 2.5), "walker2d-medium-replay": (1, 2.5), "halfcheetah-medium-expert": (5, 2.5),
             "hopper-medium-expert": (5, 5.0), "walker2d-medium-expert": (1, 2.5)},
    "mobile": {"halfcheetah-medium": (5, 0.5), "hopper-medium": (5, 1.5), "walker2d-medium": (5, 0.5), "halfcheetah-medium-replay": (5, 0.1),
               "hopper-medium-replay": (5, 0.1), "walker2d-medium-replay": (1, 0.5), "halfcheetah-medium-expert": (5, 2.0),
               "hopper-medium-expert": (5, 1.5), "walker2d-medium-expert": (1, 1.5)},
}


def termination(env):
    if env == "hopper":
        return lambda s: ~(np.isfinite(s).all(-1) & (s[:, 1:] < 100).all(-1) & (s[:, 0] > 0.7) & (np.abs(s[:, 1]) < 0.2))
    if env == "walker2d":
        return lambda s: ~((s[:, 0] > 0.8) & (s[:, 0] < 2.0) & (s[:, 1] > -1.0) & (s[:, 1] < 1.0))
    if env == "halfcheetah":
        return lambda s: ~((s > -100).all(-1) & (s < 100).all(-1))
    if env == "pendulum":   # not OfflineRL-Kit's: for a quick check of this script on OffRL's pendulum data
        return lambda s: np.zeros(len(s), bool)
    sys.exit(f"error: --dataset-name: no termination function for '{env}'")


def train(a):
    import copy, hashlib, torch
    from offrl_checkpoint import mlp_tensors, safetensors_bytes, twin_tensors, write_atomic
    torch.set_num_threads(1)
    np.random.seed(a.seed); torch.manual_seed(a.seed)
    data = load(a.dataset)
    n, obs_dim, act_dim = len(data["rewards"]), data["observations"].shape[1], data["actions"].shape[1]
    env = a.dataset_name.split("-")[0]
    ends = termination(env)
    h, coef = SUGGESTED[a.algo].get(a.dataset_name, (5, 1.0))
    # the fitted ensemble is kept in OUT/dynamics-fit.pt, so a stopped run starts again after its fit, not before it
    fitted = os.path.join(a.out, "dynamics-fit.pt")
    if os.path.exists(fitted):
        saved = torch.load(fitted)
        report, mu, sd = saved["report"], saved["mu"], saved["sd"]
        model = build(obs_dim, act_dim, 7, (200, 200, 200, 200), (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4))
        model.load_state_dict(saved["model"])
    else:
        report, model, mu, sd = fit(data, a.seed, max_epochs=a.dynamics_max_epochs or (30 if a.algo == "mobile" else None), keep=True)
        os.makedirs(a.out, exist_ok=True)
        torch.save({"report": report, "mu": mu, "sd": sd, "model": model.state_dict()}, fitted + ".tmp")
        os.replace(fitted + ".tmp", fitted)
    elites = np.array(report["elites"])
    actor, Critic, ModuleList = networks(obs_dim, act_dim)
    critics = ModuleList([Critic() for _ in range(2)])
    critics_old = copy.deepcopy(critics)
    actor_optim = torch.optim.Adam(actor.parameters(), lr=1e-4)
    critic_optims = [torch.optim.Adam(critics.parameters(), lr=3e-4)] if a.algo == "mobile" else [torch.optim.Adam(c.parameters(), lr=3e-4) for c in critics]
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(actor_optim, max(1, a.steps // 1000))
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_optim = torch.optim.Adam([log_alpha], lr=1e-4)
    alpha = log_alpha.detach().exp()
    cap = 50_000 * h * 5
    fake = {k: np.zeros((cap, w), np.float32) for k, w in (("obs", obs_dim), ("act", act_dim), ("next", obs_dim), ("rew", 1), ("term", 1))}
    state = {"ptr": 0, "size": 0}
    real = {"obs": data["observations"], "act": data["actions"], "next": data["next_observations"], "rew": data["rewards"], "term": data["terminals"]}

    @torch.no_grad()
    def step_model(obs, act, penalty_coef):
        mean, logvar = model(torch.as_tensor((np.concatenate([obs, act], -1) - mu) / sd))
        mean, logvar = mean.numpy(), logvar.numpy()
        mean[..., :-1] += obs
        std = np.sqrt(np.exp(logvar))
        samples = (mean + np.random.normal(size=mean.shape) * std).astype(np.float32)
        pick = samples[elites[np.random.randint(0, len(elites), size=len(obs))], np.arange(len(obs))]
        nxt, rew = pick[:, :-1], pick[:, -1:]
        if penalty_coef:
            rew = rew - penalty_coef * np.amax(np.linalg.norm(std, axis=2), axis=0)[:, None].astype(np.float32)
        return nxt, rew, ends(nxt)[:, None]

    def rollout():
        obs = real["obs"][np.random.randint(0, n, size=50_000)]
        rewards = []
        for _ in range(h):
            with torch.no_grad():
                act = actor(torch.as_tensor(obs))[0].numpy()
            nxt, rew, term = step_model(obs, act, coef if a.algo == "mopo" else 0.0)
            m = len(obs)
            at = (state["ptr"] + np.arange(m)) % cap
            for k, v in (("obs", obs), ("act", act), ("next", nxt), ("rew", rew), ("term", term.astype(np.float32))):
                fake[k][at] = v
            state["ptr"] = (state["ptr"] + m) % cap; state["size"] = min(cap, state["size"] + m)
            rewards.append(rew)
            keep = ~term.flatten()
            if keep.sum() == 0:
                break
            obs = nxt[keep]
        return float(np.concatenate(rewards).mean())

    @torch.no_grad()
    def lcb(obs, act):
        mean, logvar = model((torch.cat([obs, act], -1) - torch.as_tensor(mu)) / torch.as_tensor(sd))
        mean[..., :-1] += obs
        std = torch.sqrt(torch.exp(logvar))
        mean, std = mean[elites], std[elites]
        nxt = torch.stack([mean + torch.randn_like(std) * std for _ in range(10)], 0)[..., :-1]
        s, e, b, d = nxt.shape
        nxt = nxt.reshape(-1, d)
        q = torch.cat([c(nxt, actor(nxt)[0]) for c in critics_old], 1)
        return torch.min(q, 1)[0].reshape(s, e, b, 1).mean(0).std(0)

    def learn(b):
        nonlocal alpha
        obs, act, nxt, rew, term = (torch.as_tensor(b[k]) for k in ("obs", "act", "next", "rew", "term"))
        if a.algo == "mobile":
            qs = torch.stack([c(obs, act) for c in critics], 0)
            with torch.no_grad():
                penalty = lcb(obs, act); penalty[:12] = 0.0
                next_q = torch.min(torch.cat([c(nxt, actor(nxt)[0]) for c in critics_old], 1), 1)[0].reshape(-1, 1)   # deterministic backup
                target = torch.clamp((rew - coef * penalty) + 0.99 * (1 - term) * next_q, 0, None)
            loss = ((qs - target) ** 2).mean()
            critic_optims[0].zero_grad(); loss.backward(); critic_optims[0].step()
        else:
            with torch.no_grad():
                na, nlogp = actor(nxt)
                target = rew + 0.99 * (1 - term) * (torch.min(critics_old[0](nxt, na), critics_old[1](nxt, na)) - alpha * nlogp)
            for c, o in zip(critics, critic_optims):
                loss = ((c(obs, act) - target) ** 2).mean()
                o.zero_grad(); loss.backward(); o.step()
        pa, logp = actor(obs)
        actor_loss = -torch.min(torch.cat([c(obs, pa) for c in critics], 1), 1)[0].mean() + alpha * logp.mean()
        actor_optim.zero_grad(); actor_loss.backward(); actor_optim.step()
        alpha_loss = -(log_alpha * (logp.detach() - act_dim)).mean()
        alpha_optim.zero_grad(); alpha_loss.backward(); alpha_optim.step()
        alpha = torch.clamp(log_alpha.detach().exp(), 0.0, 1.0)
        with torch.no_grad():
            for o, p in zip(critics_old.parameters(), critics.parameters()):
                o.data.copy_(o.data * 0.995 + p.data * 0.005)

    def save(folder, updates):
        os.makedirs(folder, exist_ok=True)
        acts = {f"layers.{i}.{k}": getattr(l, k).detach() for i, l in enumerate(m for m in actor.backbone if isinstance(m, torch.nn.Linear)) for k in ("weight", "bias")}
        acts["layers.2.weight"] = torch.cat([actor.mu.weight.detach(), actor.sigma.weight.detach()], 0)
        acts["layers.2.bias"] = torch.cat([actor.mu.bias.detach(), actor.sigma.bias.detach()], 0)
        def critic_tensors(pair):
            return twin_tensors(torch.nn.Sequential(*pair[0].backbone, pair[0].last), torch.nn.Sequential(*pair[1].backbone, pair[1].last))
        modules = {"actor": acts, "critic": critic_tensors(critics), "critic_target": critic_tensors(critics_old), "temperature": {"log_alpha": log_alpha.detach().reshape(1)}}
        for name, t in modules.items():
            write_atomic(os.path.join(folder, name + ".safetensors"), safetensors_bytes(t, "bench/reference/model_based.py"))
        pre = {"ActionLow": [-1.0] * act_dim, "ActionHigh": [1.0] * act_dim}
        write_atomic(os.path.join(folder, "preprocessing.json"), json.dumps(pre, indent=2).encode())
        config = {"hidden": [256, 256], "normalize_observations": False, "log_std_min": -5.0, "squash_epsilon": 1e-6, "num_critics": 2}
        meta = {"format_version": 1, "algo": "sac", "updates": updates, "observation_dim": obs_dim,
                "action_space": {"type": "box", "Low": [-1.0] * act_dim, "High": [1.0] * act_dim}, "config": config}
        write_atomic(os.path.join(folder, "agent.json"), json.dumps(meta, indent=2).encode())

    real_rows = int(256 * 0.05)
    start = time.perf_counter()
    model_reward = None
    for t in range(a.steps):
        if t % 1000 == 0:
            model_reward = rollout()
        ri, fi = np.random.randint(0, n, size=real_rows), np.random.randint(0, state["size"], size=256 - real_rows)
        learn({k: np.concatenate([real[k][ri], fake[k][fi]], 0) for k in real})
        if (t + 1) % 1000 == 0:
            scheduler.step()
        if a.snapshot_every and (t + 1) % a.snapshot_every == 0:
            save(os.path.join(a.out, f"step-{t + 1}"), t + 1)
    save(a.out, a.steps)
    sha = hashlib.sha256(open(a.dataset, "rb").read()).hexdigest()
    print(json.dumps({"side": "offlinerl-kit (pytorch)", "algo": a.algo, "dataset": a.dataset_name, "seed": a.seed, "steps": a.steps,
                      "rollout_length": h, "penalty_coef": coef, "dynamics": report, "model_reward_last": model_reward,
                      "seconds": time.perf_counter() - start, "dataset_sha256": sha,
                      "config": {"algo": a.algo, "steps": a.steps, "rollout_length": h, "penalty_coef": coef}}))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--bench", choices=["model-rollout", "mobile-update"])
    p.add_argument("--algo", choices=["mopo", "mobile"], help="train this method (with --dataset) instead of a bench")
    p.add_argument("--dataset", help="a D4RL-layout HDF5 file")
    p.add_argument("--dataset-name", help="the preset's dataset name (hopper-medium-replay, ...)")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=0)
    p.add_argument("--out")
    p.add_argument("--dynamics-max-epochs", type=int, default=None, help="cap the ensemble's fit (default: MOBILE 30, MOPO none)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="accepted for bench/parity.sh; a stopped run starts again after its fit")
    p.add_argument("--resume", action="store_true", help="accepted for bench/parity.sh; a stopped run starts again after its fit")
    add_speed_arguments(p)
    args = p.parse_args()
    import torch
    if args.algo:
        if not (args.dataset and args.dataset_name and args.out):
            sys.exit("error: --algo needs --dataset, --dataset-name and --out")
        train(args)
        sys.exit(0)
    if not args.bench:
        sys.exit("error: --bench model-rollout|mobile-update, or --algo mopo|mobile to train")
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
