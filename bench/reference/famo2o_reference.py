#!/usr/bin/python3
"""PyTorch reference of FamO2O on IQL (Wang et al. 2023, "Train Once, Get a Family"), written from the authors' code
(github.com/LeapLabTHU/FamO2O @ea9cb01, jax_iql, built on ikostrikov/implicit_q_learning; read, not run), not from
OffRL's, for issue 38's side-by-side runs.

What it follows, file by file:
- family_train_finetune.py: one loop of num_pretraining_steps offline updates, then one environment step and one update
  per step online (L119-160); one replay buffer that starts with the whole dataset and takes the online transitions,
  batches of 256 drawn uniformly over everything stored (dataset_utils.py L62-68, L151-191); mask 0 only where the
  episode terminated (L128-131); rewards r / (R_max - R_min) * 1000 over the dataset's trajectories, applied to offline
  and online rows alike (L50-67, L85-89, L146-159); dataset actions clipped to +-(1 - 1e-5) (dataset_utils.py L78-80).
- family_learner.py `_family_update_jit` (L35-57), in order: the value's expectile step against min of the target
  critics; the balance model's step; its temperature's step; the universal policy's step (with the new value, the target
  critics, and beta from the balance model before its step: a stochastic draw online, U[beta_min, beta_max) offline);
  the critics' step against r + gamma mask V_new(s'); Polyak (tau 0.005).
- family_actor.py: the balance loss mean(alpha_b log pi_b(u|s) - min Q'(s, a)), u a reparameterized tanh-Gaussian draw,
  beta = (u + 1) / 2 (beta_max - beta_min) + beta_min, a a reparameterized draw of the universal policy at emb(beta) with
  its parameters held; the policy loss -mean(min(exp(beta (Q' - V)), 100) log pi_u(a | s, emb(beta))).
- family_temperature.py: log alpha_b from 0 (temperature 1), loss alpha_b (H - H_target), H_target -0.5.
- family_utils.py: emb(beta) = [sin(beta / n^(2i/d)), cos(beta / n^(2i/d))] interleaved, n 10 000, d 6.
- policy.py / common.py: MLPs (256, 256), ReLU, every Dense kernel orthogonal with gain sqrt 2, zero biases; the
  universal policy a Normal with mean tanh(Dense) and a state-independent log std in [-5, 2] (not squashed); the
  balance model a tanh-squashed Normal with a state-independent log std in [-10, 2]; acting with beta from tanh(mean)
  of the balance model and a sampled action (clipped to [-1, 1]); evaluation with both means.
- Adam 3e-4 everywhere; the actor's rate on a cosine decay over 1e6 steps (the learner's default schedule).
The authors ship no locomotion config for FamO2O-IQL; the class defaults give beta in (1, 5) (L86) and expectile 0.8;
--expectile sets it (IQL's locomotion 0.7 for the side-by-side runs).

What it cannot follow: the authors evaluate with gym's D4RL environments; here both sides act in OffRL's environments
through `offrl env serve` (rlpd_reference.Env), evaluation episode k reset with seed 1 000 000 + seed + k. JAX's
generator is replaced by torch's and numpy's, seeded with --seed.

    OFFRL="dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /usr/bin/python3 bench/reference/famo2o_reference.py --dataset D.hdf5 --env pendulum --offline-steps 3000 \
      --online-steps 3000 --eval-every 500 --seed 0 --out run.json

One JSON line per evaluation; --out gets the evaluations as bench/reference/parity_table.py reads them. A stopped run
goes on from OUT.resume.pt (written at each evaluation; the episode in progress is ended there).
"""
import argparse, copy, json, math, os, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corl_reference import qlearning_dataset
from o2o_common import evaluate, evaluation, load_checkpoint, orthogonal_mlp, run_arguments, save_checkpoint, trajectory_ends, unit_actions, write_result
from rlpd_reference import Env

AUTHORS = "LeapLabTHU/FamO2O@ea9cb01c86ca7d8cbd782b21cab5d7e1614bc6d7"
LOG_2PI = math.log(2 * math.pi)


def embed(beta, n=10_000.0, d=6):
    """family_utils.py sin_cos_skill_func: [sin(b / n^(2i/d)), cos(b / n^(2i/d))] for i < d/2, interleaved."""
    inner = beta.reshape(-1, 1) / n ** (2 * torch.arange(d // 2, dtype=torch.float32) / d)
    return torch.stack([torch.sin(inner), torch.cos(inner)], -1).reshape(-1, d)


def normal_logp(x, mu, log_std):
    return (-0.5 * ((x - mu) / log_std.exp()) ** 2 - log_std - 0.5 * LOG_2PI).sum(-1)


class Famo2o:
    def __init__(self, obs, act, hidden, beta_range, expectile, lr=3e-4, gamma=0.99, tau=0.005, cosine_steps=1_000_000):
        h = list(hidden)
        self.actor, self.actor_log_std = orthogonal_mlp([obs + 6, *h, act]), nn.Parameter(torch.zeros(act))
        self.balance, self.balance_log_std = orthogonal_mlp([obs, *h, 1]), nn.Parameter(torch.zeros(1))
        self.log_temp = torch.zeros(1, requires_grad=True)
        self.q = nn.ModuleList([orthogonal_mlp([obs + act, *h, 1]) for _ in range(2)])
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.value = orthogonal_mlp([obs, *h, 1])
        self.actor_opt = torch.optim.Adam([*self.actor.parameters(), self.actor_log_std], lr=lr)
        self.actor_sched = torch.optim.lr_scheduler.LambdaLR(self.actor_opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, cosine_steps) / cosine_steps)))
        self.balance_opt = torch.optim.Adam([*self.balance.parameters(), self.balance_log_std], lr=lr)
        self.temp_opt = torch.optim.Adam([self.log_temp], lr=lr)
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.value_opt = torch.optim.Adam(self.value.parameters(), lr=lr)
        self.lo, self.hi = beta_range
        self.expectile, self.gamma, self.tau = expectile, gamma, tau

    def beta_of(self, u):
        return (u + 1) / 2 * (self.hi - self.lo) + self.lo

    def actor_mean(self, s, beta):
        return torch.tanh(self.actor(torch.cat([s, embed(beta)], -1)))

    def balance_draw(self, s):
        mu, log_std = self.balance(s), self.balance_log_std.clamp(-10, 2)
        z = mu + log_std.exp() * torch.randn_like(mu)
        logp = normal_logp(z, mu, log_std) - (2 * (math.log(2) - z - F.softplus(-2 * z))).sum(-1)
        return torch.tanh(z), logp

    def act(self, s, deterministic):
        with torch.no_grad():
            beta = self.beta_of(torch.tanh(self.balance(s)))
            mean = self.actor_mean(s, beta)
            if deterministic:
                return mean
            return (mean + self.actor_log_std.clamp(-5, 2).exp() * torch.randn_like(mean)).clamp(-1, 1)

    def min_q(self, nets, s, a):
        x = torch.cat([s, a], -1)
        return torch.min(nets[0](x), nets[1](x)).squeeze(-1)

    def update(self, s, a, r, s2, mask, online):
        with torch.no_grad():
            q_t = self.min_q(self.q_target, s, a)
        # value: expectile regression, weight tau where Q' - V > 0, else 1 - tau
        diff = q_t - self.value(s).squeeze(-1)
        value_loss = (torch.where(diff > 0, self.expectile, 1 - self.expectile) * diff ** 2).mean()
        self.value_opt.zero_grad(); value_loss.backward(); self.value_opt.step()
        # the universal policy's beta: the balance model's before its step (online), uniform (offline)
        with torch.no_grad():
            beta_pi = self.beta_of(self.balance_draw(s)[0]).squeeze(-1) if online else torch.empty(len(r)).uniform_(self.lo, self.hi)
        # balance model, through the universal policy held as it is
        u, logp_b = self.balance_draw(s)
        beta = self.beta_of(u).squeeze(-1)
        mean = self.actor_mean(s, beta)
        a_pi = mean + self.actor_log_std.clamp(-5, 2).exp() * torch.randn_like(mean)
        alpha = self.log_temp.exp().detach()
        balance_loss = (alpha * logp_b - self.min_q(self.q_target, s, a_pi)).mean()
        self.balance_opt.zero_grad(); balance_loss.backward(); self.balance_opt.step()
        entropy = -logp_b.detach().mean()
        temp_loss = self.log_temp.exp() * (entropy + 0.5)
        self.temp_opt.zero_grad(); temp_loss.backward(); self.temp_opt.step()
        # universal policy: advantage-weighted regression at beta per row, with the value after its step
        with torch.no_grad():
            weight = torch.exp(beta_pi * (q_t - self.value(s).squeeze(-1))).clamp(max=100.0)
        actor_loss = -(weight * normal_logp(a, self.actor_mean(s, beta_pi), self.actor_log_std.clamp(-5, 2))).mean()
        self.actor_opt.zero_grad(); actor_loss.backward(); self.actor_opt.step(); self.actor_sched.step()
        # critics against r + gamma mask V(s'), the value after its step
        with torch.no_grad():
            y = r + self.gamma * mask * self.value(s2).squeeze(-1)
        x = torch.cat([s, a], -1)
        q_loss = ((self.q[0](x).squeeze(-1) - y) ** 2 + (self.q[1](x).squeeze(-1) - y) ** 2).mean()
        self.q_opt.zero_grad(); q_loss.backward(); self.q_opt.step()
        with torch.no_grad():
            for tp, p in zip(self.q_target.parameters(), self.q.parameters()):
                tp.mul_(1 - self.tau).add_(p, alpha=self.tau)
        return {"value_loss": value_loss.item(), "critic_loss": q_loss.item(), "actor_loss": actor_loss.item(),
                "balance_loss": balance_loss.item(), "beta": beta.mean().item()}

    MODULES = ("actor", "balance", "q", "q_target", "value")
    OPTS = ("actor_opt", "actor_sched", "balance_opt", "temp_opt", "q_opt", "value_opt")

    def state(self):
        st = {k: getattr(self, k).state_dict() for k in self.MODULES + self.OPTS}
        st["tensors"] = [t.detach().clone() for t in (self.actor_log_std, self.balance_log_std, self.log_temp)]
        return st

    def load(self, st):
        for k in self.MODULES + self.OPTS:
            getattr(self, k).load_state_dict(st[k])
        with torch.no_grad():
            for t, v in zip((self.actor_log_std, self.balance_log_std, self.log_temp), st["tensors"]):
                t.copy_(v)


def reward_scale(data):
    """IQL's split_into_trajectories: a trajectory ends where the episode terminated or the next row does not start at
    this row's next observation (and at the end); rewards are scaled by 1000 / (max return - min return)."""
    n, ends = len(data["rewards"]), trajectory_ends(data)
    returns, ret = [], 0.0
    for i in range(n):
        ret += float(data["rewards"][i])
        if ends[i]:
            returns.append(ret); ret = 0.0
    return 1000.0 / (max(returns) - min(returns))


def main():
    p = argparse.ArgumentParser()
    run_arguments(p, eval_every=100_000)
    p.add_argument("--offline-steps", type=int, default=1_000_000)
    p.add_argument("--online-steps", type=int, default=1_000_000)
    p.add_argument("--expectile", type=float, default=0.8)
    p.add_argument("--beta-min", type=float, default=1.0)
    p.add_argument("--beta-max", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", default="256,256")
    args = p.parse_args()
    offrl = os.environ.get("OFFRL", "dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll")
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env, eval_env = Env(offrl, args.env), Env(offrl, args.env)
    obs_dim, act_dim = env.info["observation_dim"], env.info["action_dim"]

    data, _ = qlearning_dataset(args.dataset)
    data["actions"] = np.clip(unit_actions(data["actions"], env), -1 + 1e-5, 1 - 1e-5)
    scale = reward_scale(data)
    n_off, total = len(data["rewards"]), args.offline_steps + args.online_steps
    cap = n_off + args.online_steps
    buf = {"s": torch.zeros(cap, obs_dim), "a": torch.zeros(cap, act_dim), "r": torch.zeros(cap), "s2": torch.zeros(cap, obs_dim), "m": torch.zeros(cap)}
    buf["s"][:n_off], buf["a"][:n_off], buf["s2"][:n_off] = (torch.from_numpy(np.asarray(data[k], np.float32)) for k in ("observations", "actions", "next_observations"))
    buf["r"][:n_off] = torch.from_numpy(np.asarray(data["rewards"], np.float32) * scale)
    buf["m"][:n_off] = torch.from_numpy(1.0 - data["terminals"].astype(np.float32))
    hidden = tuple(int(h) for h in args.hidden.split(","))
    agent = Famo2o(obs_dim, act_dim, hidden, (args.beta_min, args.beta_max), args.expectile)
    config = {"algo": "famo2o", "authors": AUTHORS, "offline_steps": args.offline_steps, "online_steps": args.online_steps,
              "expectile": args.expectile, "beta_range": [args.beta_min, args.beta_max], "batch_size": args.batch, "hidden": list(hidden),
              "reward_scale": scale, "eval_every": args.eval_every, "eval_episodes": args.eval_episodes}
    evals, n, start = [], n_off, 0
    resume = args.out + ".resume.pt"
    if (st := load_checkpoint(resume)) is not None:
        agent.load(st["agent"]); evals, n, start = st["evals"], st["n"], st["step"]
        for k in buf:
            buf[k][n_off:n] = st["online"][k]
        torch.set_rng_state(st["torch_rng"]); rng = st["np_rng"]
        print(f"resumed at step {start}", file=sys.stderr)
    o = env.reset(args.seed if start <= args.offline_steps else args.seed + 7919 * start)
    for i in range(start, total):
        online = i >= args.offline_steps
        if online:
            a = agent.act(torch.from_numpy(o).unsqueeze(0), deterministic=False)[0].numpy()
            o2, r, term, trunc = env.step(a)
            buf["s"][n], buf["a"][n], buf["r"][n], buf["s2"][n], buf["m"][n] = \
                torch.from_numpy(o), torch.from_numpy(a), r * scale, torch.from_numpy(o2), 0.0 if term else 1.0
            n += 1
            o = env.reset() if term or trunc else o2
        idx = torch.from_numpy(rng.integers(0, n, args.batch))
        agent.update(buf["s"][idx], buf["a"][idx], buf["r"][idx], buf["s2"][idx], buf["m"][idx], online)
        if (i + 1) % args.eval_every == 0:
            mean, std = evaluate(lambda ob: agent.act(torch.from_numpy(ob).unsqueeze(0), deterministic=True)[0].numpy(),
                                 eval_env, args.eval_episodes, args.seed)
            e = evaluation(i + 1, mean, std, online, env.info)
            evals.append(e)
            print(json.dumps(e), flush=True)
            st = {"agent": agent.state(), "evals": evals, "n": n, "step": i + 1, "online": {k: v[n_off:n].clone() for k, v in buf.items()},
                  "torch_rng": torch.get_rng_state(), "np_rng": rng}
            save_checkpoint(resume, st)
            if online:
                o = env.reset(args.seed + 7919 * (i + 1))   # the episode in progress ends at a checkpoint (a resumed run is the same)
    env.close(); eval_env.close()
    write_result(args.out, __file__, "famo2o", args, config, AUTHORS, evals)


if __name__ == "__main__":
    main()
