#!/usr/bin/python3
"""PyTorch reference of Cal-QL (Nakamoto et al. 2023, "Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online
Fine-Tuning") as CORL runs it (github.com/corl-team/CORL @eeeeef2, algorithms/finetune/cal_ql.py; read, not run), written
from that file, not from OffRL's code, for issue 38's side-by-side runs. --no-calibration is the same loop without the
bound (CQL fine-tuned: the collapse Cal-QL is meant to prevent).

What it follows (line numbers of cal_ql.py):
- TrainConfig's defaults (L27-69), as CORL ships no locomotion config for Cal-QL: batch 256, discount 0.99, policy_lr
  3e-5 (also the temperature's, L606-611; --policy-lr 1e-4 is every shipped config's), qf_lr 3e-4, soft_target_update_rate 5e-3 every update, bc_steps 0, cql_alpha
  10 offline and online, 10 sampled actions, importance sampling, no Lagrange, temperature 1, no max-target backup, no
  difference clipping, orthogonal init, observations normalized, rewards unchanged, mixing_ratio 0.5.
- The data (L995-1023): D4RL's qlearning rows; each row's Monte-Carlo return-to-go G_i = r_i + gamma G_{i+1} (1 - d_i)
  over segments that end at a terminal, at the last row, where the next row does not start at this row's next
  observation, or after max_episode_steps rows (get_return_to_go, L275-316); observations standardized by the dataset's
  mean and std + 1e-3, the environment's too (wrap_env).
- The networks (L357-533): the actor 3 x 256 ReLU giving mean and log std, log std = m raw + o with learnable m (1) and
  o (-1), clamped to [-20, 2], a tanh-squashed Normal, acting with tanh(mean) when evaluated; critics 2 x 256 ReLU
  (q_n_hidden_layers 2); every layer orthogonal with gain sqrt 2 and bias 0 (init_module_weights, applied to all).
- One update (CalQL.train, L879-936; _q_loss, L663-877): a ~ pi(.|s) for the temperature loss -log alpha (log pi + H)
  and the policy loss alpha log pi - min Q(s, a); the critics' loss MSE to r + gamma (1 - d) min Q'(s', a' ~ pi(.|s'))
  plus, per critic, cql_alpha (T logsumexp over {Q(s, u) - log 0.5^|A|, Q(s, a_s') - log pi(a_s'|s'), Q(s, a_s) -
  log pi(a_s|s)} / T - Q(s, a)), where a_s, a_s' are 10 draws at s and s' scored at s, and while calibrated, Q(s, a_s)
  and Q(s, a_s') are first raised to the row's return-to-go; then the temperature's step, the actor's, the critics'
  (all losses formed before any step), and Polyak.
- Fine-tuning (L1124-1176): at the first online step the bound is switched off and cql_alpha becomes cql_alpha_online;
  one environment step per update, acting with a draw of pi; a transition is terminal only when the episode ended
  before its time limit; batches of 128 dataset rows and 128 online rows (two buffers).
What it cannot follow: CORL acts in gym's D4RL environments; here both sides act in OffRL's environments through
`offrl env serve`, evaluation episode k reset with seed 1 000 000 + seed + k. The dataset's actions, stored in the
environment's range, are mapped to [-1, 1] as the agent acts (gym's RescaleAction).

    OFFRL="dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /usr/bin/python3 bench/reference/calql_reference.py --dataset D.hdf5 --env pendulum --offline-steps 5000 \
      --online-steps 5000 --eval-every 500 --seed 0 --out run.json

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

CORL = "corl-team/CORL@eeeeef2671235fcce3a3eb255576a207d78840e6 algorithms/finetune/cal_ql.py"
LOG_2PI = math.log(2 * math.pi)


class Policy(nn.Module):
    """TanhGaussianPolicy with ReparameterizedTanhGaussian: log std m raw + o, clamped to [-20, 2]."""

    def __init__(self, obs, act):
        super().__init__()
        self.act_dim = act
        self.base = orthogonal_mlp([obs, 256, 256, 256, 2 * act])   # init_module_weights(m, True) on every layer
        self.log_std_multiplier = nn.Parameter(torch.tensor(1.0))
        self.log_std_offset = nn.Parameter(torch.tensor(-1.0))

    def forward(self, s, deterministic=False, repeat=None):
        if repeat is not None:
            s = s.unsqueeze(1).repeat_interleave(repeat, dim=1)
        mean, raw = torch.split(self.base(s), self.act_dim, dim=-1)
        log_std = (self.log_std_multiplier * raw + self.log_std_offset).clamp(-20.0, 2.0)
        z = mean if deterministic else mean + log_std.exp() * torch.randn_like(mean)
        # log density of tanh(z): Normal's at z minus log |d tanh / dz| = 2 (log 2 - z - softplus(-2 z))
        logp = (-0.5 * ((z - mean) / log_std.exp()) ** 2 - log_std - 0.5 * LOG_2PI - 2 * (math.log(2) - z - F.softplus(-2 * z))).sum(-1)
        return torch.tanh(z), logp


class Critic(nn.Module):
    """FullyConnectedQFunction: Q(s, a) for actions [B, A] or [B, N, A] (the state repeated N times)."""

    def __init__(self, obs, act):
        super().__init__()
        self.net = orthogonal_mlp([obs + act, 256, 256, 1])

    def forward(self, s, a):
        if a.dim() == 3:
            s = s.unsqueeze(1).expand(-1, a.shape[1], -1)
        return self.net(torch.cat([s, a], -1)).squeeze(-1)


class CalQl:
    def __init__(self, obs, act, cql_alpha, policy_lr=3e-5, qf_lr=3e-4, gamma=0.99, tau=5e-3, n_actions=10, temp=1.0):
        self.actor = Policy(obs, act)
        self.q = nn.ModuleList([Critic(obs, act) for _ in range(2)])
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.log_alpha = torch.zeros((), requires_grad=True)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), policy_lr)
        self.q_opts = [torch.optim.Adam(q.parameters(), qf_lr) for q in self.q]
        self.alpha_opt = torch.optim.Adam([self.log_alpha], policy_lr)
        self.target_entropy = -float(act)
        self.cql_alpha, self.gamma, self.tau, self.n, self.temp, self.act_dim = cql_alpha, gamma, tau, n_actions, temp, act
        self.calibrated = True

    def q_loss(self, s, a, r, s2, d, mc):
        q_data = [q(s, a) for q in self.q]
        with torch.no_grad():
            a2, _ = self.actor(s2)
            y = r + (1 - d) * self.gamma * torch.min(self.q_target[0](s2, a2), self.q_target[1](s2, a2))
        u = torch.empty(len(r), self.n, self.act_dim).uniform_(-1, 1)
        with torch.no_grad():
            a_s, logp_s = self.actor(s, repeat=self.n)
            a_s2, logp_s2 = self.actor(s2, repeat=self.n)
        bound = mc.unsqueeze(1).expand(-1, self.n)
        loss, gaps = 0.0, []
        for q, qd in zip(self.q, q_data):
            q_s, q_s2 = q(s, a_s), q(s, a_s2)
            if self.calibrated:   # Cal-QL: the policy's Q-values no lower than the data's return
                q_s, q_s2 = torch.maximum(q_s, bound), torch.maximum(q_s2, bound)
            ood = torch.cat([q(s, u) - math.log(0.5 ** self.act_dim), q_s2 - logp_s2, q_s - logp_s], 1)
            gap = (torch.logsumexp(ood / self.temp, 1) * self.temp - qd).mean()
            loss = loss + F.mse_loss(qd, y) + self.cql_alpha * gap
            gaps.append(gap.item())
        return loss, q_data[0].mean().item(), float(np.mean(gaps))

    def update(self, s, a, r, s2, d, mc):
        a_pi, logp = self.actor(s)
        alpha_loss = -(self.log_alpha * (logp + self.target_entropy).detach()).mean()
        alpha = self.log_alpha.exp()
        policy_loss = (alpha * logp - torch.min(self.q[0](s, a_pi), self.q[1](s, a_pi))).mean()
        q_loss, q_mean, gap = self.q_loss(s, a, r, s2, d, mc)
        self.alpha_opt.zero_grad(); alpha_loss.backward(); self.alpha_opt.step()
        self.actor_opt.zero_grad(); policy_loss.backward(); self.actor_opt.step()
        for o in self.q_opts:
            o.zero_grad()
        q_loss.backward()
        for o in self.q_opts:
            o.step()
        with torch.no_grad():
            for tp, p in zip(self.q_target.parameters(), self.q.parameters()):
                tp.mul_(1 - self.tau).add_(p, alpha=self.tau)
        return {"critic_loss": q_loss.item(), "actor_loss": policy_loss.item(), "alpha": alpha.item(), "q_data": q_mean, "cql_gap": gap}

    def state(self):
        return {"actor": self.actor.state_dict(), "q": self.q.state_dict(), "q_target": self.q_target.state_dict(),
                "log_alpha": self.log_alpha.detach().clone(), "actor_opt": self.actor_opt.state_dict(),
                "q_opts": [o.state_dict() for o in self.q_opts], "alpha_opt": self.alpha_opt.state_dict(),
                "cql_alpha": self.cql_alpha, "calibrated": self.calibrated}

    def load(self, st):
        self.actor.load_state_dict(st["actor"]); self.q.load_state_dict(st["q"]); self.q_target.load_state_dict(st["q_target"])
        with torch.no_grad():
            self.log_alpha.copy_(st["log_alpha"])
        self.actor_opt.load_state_dict(st["actor_opt"]); self.alpha_opt.load_state_dict(st["alpha_opt"])
        for o, so in zip(self.q_opts, st["q_opts"]):
            o.load_state_dict(so)
        self.cql_alpha, self.calibrated = st["cql_alpha"], st["calibrated"]


def return_to_go(data, gamma, max_episode_steps):
    """get_return_to_go (L275-316) without the sparse-reward case (is_sparse_reward false)."""
    r, d, ends = data["rewards"], data["terminals"].astype(bool), trajectory_ends(data)
    n = len(r)
    out, start, length = np.zeros(n, np.float32), 0, 0
    for t in range(n):
        length += 1
        if ends[t] or length == max_episode_steps:
            g = 0.0
            for i in range(t, start - 1, -1):
                g = float(r[i]) + gamma * g * (1.0 - float(d[i]))
                out[i] = g
            start, length = t + 1, 0
    return out


def main():
    p = argparse.ArgumentParser()
    run_arguments(p, eval_every=5000)
    p.add_argument("--offline-steps", type=int, default=1_000_000)
    p.add_argument("--online-steps", type=int, default=1_000_000)
    p.add_argument("--cql-alpha", type=float, default=10.0)
    p.add_argument("--cql-alpha-online", type=float, default=10.0)
    p.add_argument("--no-calibration", action="store_true", help="CQL fine-tuned: no return bound offline either")
    p.add_argument("--policy-lr", type=float, default=3e-5, help="the actor's and the temperature's rate (TrainConfig 3e-5; every shipped config 1e-4)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--mixing-ratio", type=float, default=0.5)
    args = p.parse_args()
    offrl = os.environ.get("OFFRL", "dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll")
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    env, eval_env = Env(offrl, args.env), Env(offrl, args.env)
    obs_dim, act_dim, horizon = env.info["observation_dim"], env.info["action_dim"], env.info["max_episode_steps"]

    data, _ = qlearning_dataset(args.dataset)
    data["actions"] = unit_actions(data["actions"], env)
    mc = return_to_go(data, 0.99, horizon)
    mean, std = data["observations"].mean(0), data["observations"].std(0) + 1e-3
    norm = lambda o: ((o - mean) / std).astype(np.float32)
    t = lambda x: torch.from_numpy(np.asarray(x, np.float32))
    offline = [t(norm(data["observations"])), t(data["actions"]), t(data["rewards"]), t(norm(data["next_observations"])),
               t(data["terminals"]), t(mc)]
    n_off = len(data["rewards"])
    online = [torch.zeros(args.online_steps, obs_dim), torch.zeros(args.online_steps, act_dim), torch.zeros(args.online_steps),
              torch.zeros(args.online_steps, obs_dim), torch.zeros(args.online_steps), torch.zeros(args.online_steps)]
    agent = CalQl(obs_dim, act_dim, args.cql_alpha, policy_lr=args.policy_lr)
    agent.calibrated = not args.no_calibration
    algo = "cql" if args.no_calibration else "cal-ql"
    config = {"algo": algo, "reference": CORL, "offline_steps": args.offline_steps, "online_steps": args.online_steps,
              "cql_alpha": args.cql_alpha, "cql_alpha_online": args.cql_alpha_online, "calibration": not args.no_calibration,
              "batch_size": args.batch, "mixing_ratio": args.mixing_ratio, "policy_lr": args.policy_lr, "qf_lr": 3e-4, "actor_hidden": [256] * 3,
              "critic_hidden": [256] * 2, "eval_every": args.eval_every, "eval_episodes": args.eval_episodes}
    evals, n, start = [], 0, 0
    resume = args.out + ".resume.pt"
    if (st := load_checkpoint(resume)) is not None:
        agent.load(st["agent"]); evals, n, start = st["evals"], st["n"], st["step"]
        for buf, saved in zip(online, st["online"]):
            buf[:n] = saved
        torch.set_rng_state(st["torch_rng"]); np.random.set_state(st["np_rng"])
        print(f"resumed at step {start}", file=sys.stderr)
    o = norm(env.reset(args.seed if start <= args.offline_steps else args.seed + 7919 * start))
    b_off = int(args.batch * args.mixing_ratio)
    for i in range(start, args.offline_steps + args.online_steps):
        is_online = i >= args.offline_steps
        if i == args.offline_steps:   # switch_calibration, cql_alpha_online
            agent.calibrated, agent.cql_alpha = False, args.cql_alpha_online
        if is_online:
            with torch.no_grad():
                a = agent.actor(torch.from_numpy(o).unsqueeze(0))[0][0].numpy()
            o2, r, term, trunc = env.step(a)
            o2 = norm(o2)
            for buf, v in zip(online, (o, a, r, o2, 1.0 if term else 0.0, 0.0)):
                buf[n] = torch.as_tensor(v)
            n += 1
            o = norm(env.reset()) if term or trunc else o2
        if is_online:
            io, ii = np.random.randint(0, n_off, b_off), np.random.randint(0, n, args.batch - b_off)
            batch = [torch.cat([x[io], y[ii]]) for x, y in zip(offline, online)]
        else:
            io = np.random.randint(0, n_off, args.batch)
            batch = [x[io] for x in offline]
        logs = agent.update(*batch)
        if (i + 1) % args.eval_every == 0:
            m, sd = evaluate(lambda ob: agent.actor(torch.from_numpy(norm(ob)).unsqueeze(0), deterministic=True)[0][0].numpy(),
                             eval_env, args.eval_episodes, args.seed)
            e = evaluation(i + 1, m, sd, is_online, env.info)
            e.update({k: logs[k] for k in ("q_data", "cql_gap", "alpha")})
            evals.append(e)
            print(json.dumps(e), flush=True)
            save_checkpoint(resume, {"agent": agent.state(), "evals": evals, "n": n, "step": i + 1,
                                     "online": [buf[:n].clone() for buf in online], "torch_rng": torch.get_rng_state(),
                                     "np_rng": np.random.get_state()})
            if is_online:
                o = norm(env.reset(args.seed + 7919 * (i + 1)))   # the episode in progress ends at a checkpoint (a resumed run is the same)
    env.close(); eval_env.close()
    write_result(args.out, __file__, algo, args, config, CORL, evals)


if __name__ == "__main__":
    main()
