#!/usr/bin/python3
"""PyTorch reference of RLPD (Ball, Smith, Kostrikov and Levine 2023), written from the authors' code
(github.com/ikostrikov/rlpd @c90fd4b, JAX; read, not run), not from OffRL's, for issue 38's side-by-side runs.

What it follows, file by file:
- train_finetuning.py: offline_ratio 0.5, batch 256, utd_ratio (README locomotion: 20), start_training (README: 5000)
  environment steps with uniformly random actions and no updates (L153-154, L182); the online buffer holds every
  transition (capacity max_steps); mask = 0 only where the episode terminated, so time limits bootstrap (L159-162); each
  environment step draws utd x 256 x 0.5 rows from the dataset and as many from the online buffer, uniformly with
  replacement, and interleaves them (dataset rows at even positions, online rows at odd: `combine`, L66-80).
- rlpd/data/d4rl_datasets.py: the dataset as d4rl.qlearning_dataset loads it (here: corl_reference.qlearning_dataset,
  the same rule), actions clipped to +-(1 - 1e-5), masks 1 - terminals, rewards raw.
- rlpd/wrappers: RescaleAction to [-1, 1] and ClipAction; the agent acts in [-1, 1] and the environment gets the action
  mapped to its bounds. A dataset whose actions are in the environment's range is mapped the same way.
- rlpd/agents/sac/sac_learner.py `update` (L255-272): the utd slices of 256 rows in order; per slice one critic step
  (L196-251: a' ~ pi(.|s') from the current actor, the minimum over `num_min_qs` target members drawn without
  replacement once per step (networks/ensemble.py L25-37), y = r + gamma mask (min Q' - alpha log pi(a'|s')) with
  backup_entropy, loss ((Q - y)^2) averaged over members and rows) followed by the Polyak step (tau 0.005); then one actor
  step on the last slice (L162-172: alpha log pi - mean over the 10 critics), then one temperature step with the
  entropy that actor step measured before stepping (L180-190: loss exp(log_temp) (H - target), target -|A|/2).
- configs (rlpd_config.py, sac_config.py, td_config.py): num_qs 10, num_min_qs 2, critic_layer_norm True, hidden
  (256, 256), lr 3e-4 for actor, critics and temperature (plain Adam), discount 0.99, init temperature 1.
- networks/mlp.py: Dense (Xavier-uniform kernel, zero bias) -> LayerNorm -> ReLU on every hidden layer of the critics,
  Dense(1) after; the actor the same MLP without LayerNorm, then mean and log-std heads, log std clipped to [-20, 2],
  tanh-squashed (distributions/tanh_normal.py); evaluation with the mode, tanh(mean) (agent.py L19-31).

What it cannot follow: the authors evaluate with gym's D4RL environments; here the training and evaluation
environments are OffRL's, stepped through `offrl env serve` (JSON Lines over a pipe), evaluation episode k reset with
seed 1 000 000 + seed + k as OffRL's trainer seeds its evaluations. JAX's generator is replaced by torch's and numpy's,
seeded with --seed.

    OFFRL="dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /usr/bin/python3 bench/reference/rlpd_reference.py --dataset D.hdf5 --env pendulum --steps 3000 --start-training 1000 \
      --eval-every 250 --seed 0 --out run.json

It prints one JSON line per evaluation and, at the end, one JSON object (its settings, the script's and the dataset's
SHA-256); --out gets the evaluations as bench/reference/parity_table.py reads them. A stopped run goes on from
OUT.resume.pt (written at each evaluation; the episode in progress is ended there, as OffRL's checkpoints do).
"""
import argparse, json, math, os, shlex, subprocess, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corl_reference import qlearning_dataset, sha256_file   # D4RL's qlearning_dataset rule, read from the HDF5 file

AUTHORS = "ikostrikov/rlpd@c90fd4baf28c9c9ef40a81460a2e395092844f88"


def xavier(*shape):
    """flax's default_init, xavier_uniform, for a [..., in, out] kernel."""
    *_, fan_in, fan_out = shape
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class Critics(nn.Module):
    """num_qs critics as batched weights (the authors vmap one module): kernels [N, in, out], biases and layer-norm
    scale and shift [N, 1, width]. Dense -> LayerNorm (eps 1e-6) -> ReLU per hidden layer, then Dense(1)."""

    def __init__(self, obs, act, hidden, n, form="matmul"):
        super().__init__()
        dims = [obs + act, *hidden, 1]
        self.kernels = nn.ParameterList([xavier(n, i, o) for i, o in zip(dims[:-1], dims[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(n, 1, o)) for o in dims[1:]])
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(n, 1, h)) for h in hidden])
        self.shifts = nn.ParameterList([nn.Parameter(torch.zeros(n, 1, h)) for h in hidden])
        self.hidden, self.form = list(hidden), form

    def dense(self, x, w, b):
        return torch.baddbmm(b, x, w) if self.form == "baddbmm" else x @ w + b

    def forward(self, s, a, members=None):
        """Q [n, B]; `members`: a subset of the ensemble, its parameters gathered (subsample_ensemble)."""
        pick = (lambda p: p) if members is None else (lambda p: p[members])
        n = self.kernels[0].shape[0] if members is None else len(members)
        x = torch.cat([s, a], -1).unsqueeze(0).expand(n, -1, -1)
        for i, h in enumerate(self.hidden):
            x = self.dense(x, pick(self.kernels[i]), pick(self.biases[i]))
            x = F.relu(F.layer_norm(x, (h,), eps=1e-6) * pick(self.scales[i]) + pick(self.shifts[i]))
        return self.dense(x, pick(self.kernels[-1]), pick(self.biases[-1])).squeeze(-1)


class Actor(nn.Module):
    """The MLP (ReLU, no LayerNorm) with mean and log-std heads; log std in [-20, 2]; tanh-squashed Normal."""

    def __init__(self, obs, act, hidden):
        super().__init__()
        dims = [obs, *hidden]
        self.kernels = nn.ParameterList([xavier(i, o) for i, o in zip(dims[:-1], dims[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(o)) for o in dims[1:]])
        self.k_mu, self.k_std = xavier(dims[-1], act), xavier(dims[-1], act)
        self.b_mu, self.b_std = nn.Parameter(torch.zeros(act)), nn.Parameter(torch.zeros(act))

    def heads(self, s):
        h = s
        for k, b in zip(self.kernels, self.biases):
            h = F.relu(torch.addmm(b, h, k))
        return torch.addmm(self.b_mu, h, self.k_mu), torch.clamp(torch.addmm(self.b_std, h, self.k_std), -20, 2)

    def forward(self, s):
        mu, log_std = self.heads(s)
        u = mu + log_std.exp() * torch.randn_like(mu)
        # Normal log-density, then the tanh bijector's log-det in distrax's stable form 2 (log 2 - u - softplus(-2u))
        logp = (-0.5 * ((u - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), logp

    def mode(self, s):
        return torch.tanh(self.heads(s)[0])


class Rlpd:
    """sac_learner.py's update, one environment step's block at a time."""

    def __init__(self, obs, act, hidden=(256, 256), num_qs=10, num_min_qs=2, lr=3e-4, gamma=0.99, tau=0.005, form="matmul"):
        self.actor, self.critic = Actor(obs, act, hidden), Critics(obs, act, hidden, num_qs, form)
        self.target = Critics(obs, act, hidden, num_qs, form)
        self.target.load_state_dict(self.critic.state_dict())
        self.target.requires_grad_(False)
        self.log_temp = torch.zeros(1, requires_grad=True)   # init temperature 1
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=lr)
        self.temp_opt = torch.optim.Adam([self.log_temp], lr=lr)
        self.num_qs, self.num_min_qs, self.gamma, self.tau, self.target_entropy = num_qs, num_min_qs, gamma, tau, -act / 2

    def update(self, s, a, r, s2, mask, utd, batch=256):
        alpha = self.log_temp.exp().detach()
        for k in range(utd):
            sl = slice(k * batch, (k + 1) * batch)
            with torch.no_grad():
                a2, logp2 = self.actor(s2[sl])
                members = torch.randperm(self.num_qs)[: self.num_min_qs]
                q_next = self.target(s2[sl], a2, members).min(0).values
                y = r[sl] + self.gamma * mask[sl] * (q_next - alpha * logp2)
            critic_loss = ((self.critic(s[sl], a[sl]) - y) ** 2).mean()
            self.critic_opt.zero_grad(); critic_loss.backward(); self.critic_opt.step()
            with torch.no_grad():
                for tp, p in zip(self.target.parameters(), self.critic.parameters()):
                    tp.mul_(1 - self.tau).add_(p, alpha=self.tau)
        self.critic.requires_grad_(False)
        pa, logp = self.actor(s[sl])
        actor_loss = (alpha * logp - self.critic(s[sl], pa).mean(0)).mean()
        self.actor_opt.zero_grad(); actor_loss.backward(); self.actor_opt.step()
        self.critic.requires_grad_(True)
        entropy = -logp.detach().mean()
        temp_loss = self.log_temp.exp() * (entropy - self.target_entropy)
        self.temp_opt.zero_grad(); temp_loss.backward(); self.temp_opt.step()
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "temperature": self.log_temp.exp().item(),
                "entropy": entropy.item()}

    def state(self):
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(), "target": self.target.state_dict(),
                "log_temp": self.log_temp.detach().clone(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "temp_opt": self.temp_opt.state_dict()}

    def load(self, st):
        self.actor.load_state_dict(st["actor"]); self.critic.load_state_dict(st["critic"]); self.target.load_state_dict(st["target"])
        with torch.no_grad():
            self.log_temp.copy_(st["log_temp"])
        self.actor_opt.load_state_dict(st["actor_opt"]); self.critic_opt.load_state_dict(st["critic_opt"]); self.temp_opt.load_state_dict(st["temp_opt"])


class Env:
    """An OffRL environment over `offrl env serve` (JSON Lines); actions in [-1, 1] are mapped to its bounds."""

    def __init__(self, offrl, name):
        self.p = subprocess.Popen(shlex.split(offrl) + ["env", "serve", "--env", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = json.loads(self.p.stdout.readline())
        self.low, self.high = np.array(self.info["action_low"], np.float64), np.array(self.info["action_high"], np.float64)

    def ask(self, request):
        self.p.stdin.write(json.dumps(request) + "\n")
        answer = json.loads(self.p.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"offrl env serve: {answer['error']}")
        return answer

    def reset(self, seed=None):
        return np.array(self.ask({"reset": seed})["observation"], np.float32)

    def step(self, action):
        scaled = self.low + (np.clip(action, -1, 1) + 1) * 0.5 * (self.high - self.low)   # RescaleAction, ClipAction
        a = self.ask({"step": [float(v) for v in scaled]})
        return np.array(a["observation"], np.float32), float(a["reward"]), a["terminated"], a["truncated"]

    def close(self):
        self.p.stdin.close(); self.p.wait()


def evaluate(agent, env, episodes, seed):
    returns = []
    for k in range(episodes):
        o, ret, done = env.reset(1_000_000 + seed + k), 0.0, False
        while not done:
            with torch.no_grad():
                a = agent.actor.mode(torch.from_numpy(o).unsqueeze(0))[0].numpy()
            o, r, term, trunc = env.step(a)
            ret, done = ret + r, term or trunc
        returns.append(ret)
    return float(np.mean(returns)), float(np.std(returns))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", required=True, help="D4RL-layout HDF5 (offrl dataset convert)")
    p.add_argument("--dataset-name", default=None)
    p.add_argument("--env", required=True)
    p.add_argument("--steps", type=int, default=250_000, help="environment steps (README locomotion: 250 000)")
    p.add_argument("--start-training", type=int, default=5000)
    p.add_argument("--utd", type=int, default=20)
    p.add_argument("--offline-ratio", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the run's evaluations (JSON); OUT.resume.pt is its checkpoint")
    args = p.parse_args()
    offrl = os.environ.get("OFFRL", "dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll")
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env, eval_env = Env(offrl, args.env), Env(offrl, args.env)
    obs_dim, act_dim = env.info["observation_dim"], env.info["action_dim"]

    data, _ = qlearning_dataset(args.dataset)
    low, high = env.low.astype(np.float32), env.high.astype(np.float32)
    if np.any(np.abs(data["actions"]) > 1 + 1e-6):   # a dataset in the environment's range: mapped as RescaleAction maps the env's
        data["actions"] = (2 * (data["actions"] - low) / (high - low) - 1).astype(np.float32)
    data["actions"] = np.clip(data["actions"], -1 + 1e-5, 1 - 1e-5)
    off = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in
           (("s", data["observations"]), ("a", data["actions"]), ("r", data["rewards"]), ("s2", data["next_observations"]),
            ("m", 1.0 - data["terminals"].astype(np.float32)))}
    n_off = len(off["r"])
    cap = args.steps
    on = {"s": torch.zeros(cap, obs_dim), "a": torch.zeros(cap, act_dim), "r": torch.zeros(cap), "s2": torch.zeros(cap, obs_dim), "m": torch.zeros(cap)}
    hidden = tuple(int(h) for h in args.hidden.split(","))
    agent = Rlpd(obs_dim, act_dim, hidden)
    config = {"algo": "rlpd", "authors": AUTHORS, "steps": args.steps, "start_training": args.start_training, "utd_ratio": args.utd,
              "offline_ratio": args.offline_ratio, "batch_size": args.batch, "hidden": list(hidden), "num_qs": 10, "num_min_qs": 2,
              "eval_every": args.eval_every, "eval_episodes": args.eval_episodes}
    evals, n_on, start = [], 0, 0
    resume = args.out + ".resume.pt"
    if os.path.exists(resume):
        st = torch.load(resume)
        agent.load(st["agent"]); evals, n_on, start = st["evals"], st["n_on"], st["step"]
        for k in on:
            on[k][:n_on] = st["online"][k]
        torch.set_rng_state(st["torch_rng"]); rng = st["np_rng"]
        print(f"resumed at step {start}", file=sys.stderr)
    o = env.reset(args.seed if start == 0 else args.seed + 7919 * start)
    per_side = args.utd * args.batch
    n_offline = int(per_side * args.offline_ratio)
    order = np.empty(per_side, np.int64)
    for i in range(start, args.steps):
        if i < args.start_training:
            a = rng.uniform(-1, 1, act_dim).astype(np.float32)
        else:
            with torch.no_grad():
                a = agent.actor(torch.from_numpy(o).unsqueeze(0))[0][0].numpy()
        o2, r, term, trunc = env.step(a)
        on["s"][n_on], on["a"][n_on], on["r"][n_on], on["s2"][n_on], on["m"][n_on] = \
            torch.from_numpy(o), torch.from_numpy(a), r, torch.from_numpy(o2), 0.0 if term else 1.0
        n_on += 1
        o = env.reset() if term or trunc else o2
        if i >= args.start_training:
            oi = torch.from_numpy(rng.integers(0, n_off, n_offline))
            ni = torch.from_numpy(rng.integers(0, n_on, per_side - n_offline))
            # combine(): dataset rows at even positions, online rows at odd (an equal split, as offline_ratio 0.5 makes it)
            b = {k: torch.empty((per_side,) + on[k].shape[1:]) for k in on}
            for k in b:
                b[k][0::2], b[k][1::2] = off[k][oi], on[k][ni]
            info = agent.update(b["s"], b["a"], b["r"], b["s2"], b["m"], args.utd, args.batch)
        if (i + 1) % args.eval_every == 0:
            mean, std = evaluate(agent, eval_env, args.eval_episodes, args.seed)
            e = {"step": i + 1, "return_mean": mean, "return_std": std}
            if "score_random" in env.info:
                e["normalized_score"] = 100 * (mean - env.info["score_random"]) / (env.info["score_expert"] - env.info["score_random"])
            evals.append(e)
            print(json.dumps(e), flush=True)
            st = {"agent": agent.state(), "evals": evals, "n_on": n_on, "step": i + 1, "online": {k: v[:n_on].clone() for k, v in on.items()},
                  "torch_rng": torch.get_rng_state(), "np_rng": rng}
            torch.save(st, resume + ".tmp"); os.replace(resume + ".tmp", resume)
            o = env.reset(args.seed + 7919 * (i + 1))   # the episode in progress ends at a checkpoint (a resumed run is the same)
    env.close(); eval_env.close()
    train = {"script_sha256": sha256_file(os.path.abspath(__file__)), "dataset_sha256": sha256_file(args.dataset), "config": config, "authors": AUTHORS,
             "torch": torch.__version__}
    result = {"side": "torch", "algo": "rlpd", "dataset": args.dataset_name or os.path.basename(args.dataset).split(".")[0], "seed": args.seed,
              "train": train, "evaluations": evals}
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(json.dumps(train))


if __name__ == "__main__":
    main()
