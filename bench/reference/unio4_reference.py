#!/usr/bin/python3
"""PyTorch reference of Uni-O4 (Lei et al. 2024, "Uni-O4: Unifying Online and Offline Deep Reinforcement Learning with
Multi-Step On-Policy Optimization") as the authors' code runs it (github.com/Lei-Kun/Uni-O4 @1eecc45; read, not run),
written from their files, not from OffRL's code, for issue 39's side-by-side runs. Facts with file:line are in the
OffRL repository's issue notes (Uni-O4 facts); the parts:

- Data (buffer.py): rows of the file as transitions; rewards x 0.1 with --scale-strategy number (the hopper scripts);
  states standardized by the dataset's mean and std + 1e-10 with --state-norm (is_state_norm); the model and AM-Q's
  start states read raw states (eval_buffer).
- IQL (critic.py IQL_Q_V): double Q 2 x 1024 ReLU, V 3 x 512 ReLU, Adam 1e-4, batch 512; V by expectile 0.7 against
  min of the target Qs at the data's action, then Q to r + 0.99 (1 - done) V(s') with the new V; Polyak 0.005 every 2
  steps.
- Dynamics (MOBILE's EnsembleDynamics via dynamics_eval.py): bench/reference/dynamics_reference.py's fit (OfflineRL-Kit's
  ensemble: 7 members, 5 elites, 4 x 200 Swish); a step is mean + N(0, 1) std of a random elite per row, no penalty.
- BC ensemble (BC_ensemble.py, net.py GaussPolicyMLP): 4 policies 3 x 256 (relu; tanh with --activation tanh),
  outputs through tanh, mean the first half, log std -5 + 2.5 (x + 1); orthogonal init gain 1, bias 0; Adam 1e-4 each,
  batch 512 shared, loss -log pi_i(a|s) - 0.1 (log pi_i(a|s) - max_j!=i log pi_j(a|s)) with the others held.
- Improvement (abppo.py, main.py:294-330): per policy its own Adam 1e-4 and reference (starting as its BC member);
  per step 512 dataset states, a ~ pi_ref_i, A = min Q(s, a) - V(s) normalized over the batch (std + 1e-10), the
  clipped objective with clip 0.25 (1 - step / steps) while step <= 200, then held; grad norm 0.5; lr 1e-4 (1 - step /
  steps) after each step; every 100 steps AM-Q (512 raw start states, the policy's mean action clamped to [-1, 1],
  1000 model steps, terminated rows dropped, the mean of min Q over every state reached) and a reference replaced when
  its policy's score beats its best.
- The switch (ppo_finetune/main.py, ppo.py, utils.py:169-175): of the three policies with the highest last AM-Q, the
  one with the best return over 10 real episodes (--select ope: the highest AM-Q alone, as OffRL chooses); the online
  network's log std passes tanh twice (ppo_finetune/net.py's soft_clamp; --single-tanh keeps the offline mapping, as
  OffRL does); the critic is the offline IQL V (--online-value iql, walker2d) or a 3 x 256 ReLU value with a final
  ReLU fitted to the Monte-Carlo returns (--online-value returns, hopper and halfcheetah; Adam 1e-4, batch 512).
- Online PPO (ppo_finetune/ppo.py): 2048-step rollouts, actions drawn, clamped, their log-probs of the clamped action;
  GAE 0.99 / 0.95, bootstrapped unless terminated (not at a time limit), cut at every episode end; advantages
  normalized over the rollout (eps 1e-5); K epochs of minibatches of 128, one actor step (clip 0.05, entropy 0.01) and
  one critic step (value clip 0.05) each, Adam eps 1e-5, grad norm 0.5; both rates decayed linearly over 3e6 steps.
What it cannot follow: the authors act in gym's D4RL environments; here both sides act in OffRL's through `offrl env
serve`, evaluation episode k reset with seed 1 000 000 + seed + k; the fits run side by side, one batch each per step
(the authors run them one after the other, so the curve's steps are the same as OffRL's); the rows are D4RL's
qlearning rows (rows at a time limit left out, where the authors keep them and treat them as terminal).

    OFFRL="dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /usr/bin/python3 bench/reference/unio4_reference.py --dataset D.hdf5 --env pendulum --value-steps 20000 \
      --bc-steps 20000 --improvement-steps 2000 --online-steps 100000 --eval-every 1000 --seed 0 --out run.json

One JSON line per evaluation; --out gets the evaluations as bench/reference/parity_table.py reads them. A stopped run
goes on from OUT.resume.pt (written at each evaluation; an online episode in progress is ended there).
"""
import argparse, copy, json, math, os, sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corl_reference import qlearning_dataset
from dynamics_reference import build as build_dynamics, fit as fit_dynamics
from o2o_common import evaluate, evaluation, load_checkpoint, run_arguments, save_checkpoint, unit_actions, write_result
from rlpd_reference import Env

AUTHORS = "Lei-Kun/Uni-O4@1eecc451952c54775c5902f21d25555a8c575593 main.py, abppo.py, BC_ensemble.py, critic.py, dynamics_eval.py, ppo_finetune/"


def mlp(sizes, act=nn.ReLU, out_act=None):
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(i, o)] + ([act()] if k < len(sizes) - 2 else ([out_act()] if out_act else []))
    return nn.Sequential(*layers)


class GaussPolicy(nn.Module):
    """net.py GaussPolicyMLP: MLP -> tanh; mean, and log std -5 + 2.5 (x + 1) (twice tanh'd online, ppo_finetune/net.py)."""

    def __init__(self, obs, act, hidden, depth, activation):
        super().__init__()
        self.net = mlp([obs] + [hidden] * depth + [2 * act], act=nn.Tanh if activation == "tanh" else nn.ReLU, out_act=nn.Tanh)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight, 1.0); nn.init.zeros_(m.bias)
        self.double_tanh = False

    def forward(self, s):
        mu, x = self.net(s).chunk(2, -1)
        if self.double_tanh:
            x = torch.tanh(x)
        return torch.distributions.Normal(mu, (-5 + 2.5 * (x + 1)).exp())


def log_prob(dist, a):
    return dist.log_prob(a).sum(-1, keepdim=True)


class Iql:
    """critic.py IQL_Q_V."""

    def __init__(self, obs, act, q_hidden=(1024, 1024), v_hidden=(512, 512, 512)):
        self.q = nn.ModuleList([mlp([obs + act, *q_hidden, 1]) for _ in range(2)])
        self.q_target = copy.deepcopy(self.q)
        self.v = mlp([obs, *v_hidden, 1])
        self.q_opt, self.v_opt = torch.optim.Adam(self.q.parameters(), 1e-4), torch.optim.Adam(self.v.parameters(), 1e-4)
        self.steps = 0

    def min_q(self, s, a, target=False):
        qs = self.q_target if target else self.q
        x = torch.cat([s, a], -1)
        return torch.min(qs[0](x), qs[1](x))

    def update(self, s, a, r, s2, not_done):
        with torch.no_grad():
            target = self.min_q(s, a, target=True)
        u = target - self.v(s)
        v_loss = (torch.where(u > 0, 0.7, 0.3) * u ** 2).mean()
        self.v_opt.zero_grad(); v_loss.backward(); self.v_opt.step()
        with torch.no_grad():
            y = r + 0.99 * not_done * self.v(s2)
        x = torch.cat([s, a], -1)
        q_loss = ((self.q[0](x) - y) ** 2).mean() + ((self.q[1](x) - y) ** 2).mean()
        self.q_opt.zero_grad(); q_loss.backward(); self.q_opt.step()
        self.steps += 1
        if self.steps % 2 == 0:
            with torch.no_grad():
                for t, p in zip(self.q_target.parameters(), self.q.parameters()):
                    t.mul_(0.995).add_(0.005 * p)
        return v_loss.item(), q_loss.item()


def termination(env):
    """termination_fns.py: hopper, walker2d, halfcheetah; pendulum never ends early."""
    if env.startswith("hopper"):
        return lambda s: ~((s[:, 0] > 0.7) & (np.abs(s[:, 1]) < 0.2) & np.all(np.isfinite(s), 1) & np.all(np.abs(s[:, 1:]) < 100, 1))
    if env.startswith("walker2d"):
        return lambda s: ~((s[:, 0] > 0.8) & (s[:, 0] < 2.0) & (s[:, 1] > -1) & (s[:, 1] < 1) & np.all(np.abs(s) < 100, 1))
    if env.startswith("halfcheetah"):
        return lambda s: ~np.all(np.abs(s) < 100, 1)
    return lambda s: np.zeros(len(s), bool)


def main():
    p = argparse.ArgumentParser()
    run_arguments(p, eval_every=1000)
    p.add_argument("--value-steps", type=int, default=2_000_000)
    p.add_argument("--bc-steps", type=int, default=400_000)
    p.add_argument("--improvement-steps", type=int, default=10_000)
    p.add_argument("--online-steps", type=int, default=1_000_000)
    p.add_argument("--ope-every", type=int, default=100)
    p.add_argument("--ope-horizon", type=int, default=1000)
    p.add_argument("--dynamics-max-epochs", type=int, default=None)
    p.add_argument("--scale-strategy", choices=["none", "number"], default="none")
    p.add_argument("--state-norm", action="store_true")
    p.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    p.add_argument("--online-value", choices=["iql", "returns"], default="iql")
    p.add_argument("--return-value-steps", type=int, default=1_000_000)
    p.add_argument("--select", choices=["env", "ope"], default="env")
    p.add_argument("--single-tanh", action="store_true")
    p.add_argument("--lr-a", type=float, default=2e-5)
    p.add_argument("--k-epochs", type=int, default=10)
    p.add_argument("--q-hidden", type=int, nargs="+", default=[1024, 1024], help="main.py q_hidden_dim 1024, q_depth 2 (smaller where a CPU budget needs it, both sides alike)")
    p.add_argument("--v-hidden", type=int, nargs="+", default=[512, 512, 512], help="main.py v_hidden_dim 512, v_depth 3")
    args = p.parse_args()
    offrl = os.environ.get("OFFRL", "dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll")
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    env, eval_env = Env(offrl, args.env), Env(offrl, args.env)
    obs_dim, act_dim = env.info["observation_dim"], env.info["action_dim"]
    K, B = 4, 512
    data, _ = qlearning_dataset(args.dataset)
    data["actions"] = unit_actions(data["actions"], env)
    scale = 0.1 if args.scale_strategy == "number" else 1.0
    data["rewards"] = data["rewards"] * scale
    mean, std = (data["observations"].mean(0), data["observations"].std(0) + 1e-10) if args.state_norm else (np.zeros(obs_dim), np.ones(obs_dim))
    norm = lambda o: ((o - mean) / std).astype(np.float32)
    t = lambda x: torch.from_numpy(np.asarray(x, np.float32))
    S, A, R, S2, ND = t(norm(data["observations"])), t(data["actions"]), t(data["rewards"]).unsqueeze(-1), t(norm(data["next_observations"])), t(1 - data["terminals"]).unsqueeze(-1)
    n = len(R)
    mc = np.zeros(n, np.float32); g = 0.0   # Monte-Carlo returns, an episode ending at a terminal or where the next row does not follow
    for i in range(n - 1, -1, -1):
        cont = i + 1 < n and not data["terminals"][i] and np.allclose(data["next_observations"][i], data["observations"][i + 1])
        g = data["rewards"][i] + (0.99 * g if cont else 0.0); mc[i] = g
    MC = t(mc).unsqueeze(-1)

    iql = Iql(obs_dim, act_dim, args.q_hidden, args.v_hidden)
    hidden, depth = 256, 3
    policies = [GaussPolicy(obs_dim, act_dim, hidden, depth, args.activation) for _ in range(K)]
    bc_opts = [torch.optim.Adam(pi.parameters(), 1e-4) for pi in policies]
    refs = [copy.deepcopy(pi) for pi in policies]
    imp_opts = [torch.optim.Adam(pi.parameters(), 1e-4) for pi in policies]
    ret_v = mlp([obs_dim, 256, 256, 256, 1], out_act=nn.ReLU) if args.online_value == "returns" else None
    ret_opt = torch.optim.Adam(ret_v.parameters(), 1e-4) if ret_v is not None else None
    fits = max(args.value_steps, args.bc_steps, args.return_value_steps if ret_v is not None else 0)
    offline_total = fits + args.improvement_steps
    total = offline_total + args.online_steps
    best, last = [0.0] * K, [0.0] * K
    ends = termination(args.env)
    model = None

    def am_q(i):
        s = data["observations"][np.random.randint(0, n, B)].astype(np.float32)
        total_q, count = 0.0, 0
        with torch.no_grad():
            for _ in range(args.ope_horizon):
                sn = t(norm(s))
                a = policies[i](sn).mean.clamp(-1, 1)
                q = iql.min_q(sn, a)
                total_q += q.sum().item(); count += len(s)
                x = (np.concatenate([s, a.numpy()], -1) - mu) / sd
                m, lv = model(torch.from_numpy(x.astype(np.float32)))
                sample = (m + torch.randn_like(m) * (0.5 * lv).exp()).numpy()
                pick = np.array(elites)[np.random.randint(0, len(elites), len(s))]
                s = s + sample[pick, np.arange(len(s)), :obs_dim]
                s = s[~ends(s)]
                if len(s) == 0:
                    break
        return total_q / count

    actor = critic = actor_opt = critic_opt = None
    online_rollout, evals, start = [], [], 0
    resume = args.out + ".resume.pt"
    if (st := load_checkpoint(resume)) is not None:
        for m_, sd_ in zip([iql.q, iql.q_target, iql.v] + policies + refs, st["modules"]):
            m_.load_state_dict(sd_)
        for o_, sd_ in zip([iql.q_opt, iql.v_opt] + bc_opts + imp_opts, st["opts"]):
            o_.load_state_dict(sd_)
        iql.steps, best, last, evals, start = st["iql_steps"], st["best"], st["last"], st["evals"], st["step"]
        if ret_v is not None:
            ret_v.load_state_dict(st["ret_v"]); ret_opt.load_state_dict(st["ret_opt"])
        weights, mu, sd, elites = st["dynamics"]
        model = build_dynamics(obs_dim, act_dim, 7, (200, 200, 200, 200), (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4))
        model.load_state_dict(weights)
        if st.get("actor") is not None:
            actor = copy.deepcopy(policies[0]); actor.double_tanh = not args.single_tanh
            actor.load_state_dict(st["actor"]); critic = ret_v if ret_v is not None else iql.v
            critic.load_state_dict(st["critic"])
            actor_opt = torch.optim.Adam(actor.parameters(), args.lr_a, eps=1e-5); critic_opt = torch.optim.Adam(critic.parameters(), 2e-4, eps=1e-5)
            actor_opt.load_state_dict(st["actor_opt"]); critic_opt.load_state_dict(st["critic_opt"])
            online_rollout = st["rollout"]
        torch.set_rng_state(st["torch_rng"]); np.random.set_state(st["np_rng"])
        print(f"resumed at step {start}", file=sys.stderr)
    if model is None:
        raw = {k: data[k] for k in ("observations", "actions", "next_observations")}
        raw["rewards"] = data["rewards"].reshape(-1, 1)
        report, model, mu, sd = fit_dynamics(raw, args.seed, max_epochs=args.dynamics_max_epochs, keep=True)
        elites = report["elites"]
        torch.manual_seed(args.seed); np.random.seed(args.seed)
        print(json.dumps({"dynamics": report}), file=sys.stderr, flush=True)

    def act_offline(o):
        i = int(np.argmax(best)) if start_improved[0] else 0
        return policies[i](torch.from_numpy(norm(o)).unsqueeze(0)).mean[0].clamp(-1, 1).numpy()

    start_improved = [start > fits]
    o = None
    logs = {}
    for step in range(start, total):
        if step < fits:
            idx = np.random.randint(0, n, B)
            s, a = S[idx], A[idx]
            if step < args.value_steps:
                logs["value_loss"], logs["q_loss"] = iql.update(s, a, R[idx], S2[idx], ND[idx])
            if step < args.bc_steps:
                lps = [log_prob(pi(s), a) for pi in policies]
                held = torch.cat(lps, -1).detach()
                for i in np.random.permutation(K):
                    others = torch.cat([held[:, j:j + 1] for j in range(K) if j != i], -1).max(-1, keepdim=True).values
                    loss = (-lps[i] - 0.1 * (lps[i] - others)).mean()
                    bc_opts[i].zero_grad(); loss.backward(); bc_opts[i].step()
                logs["bc_nll"] = -held.mean().item()
            if ret_v is not None and step < args.return_value_steps:
                loss = ((ret_v(s) - MC[idx]) ** 2).mean()
                ret_opt.zero_grad(); loss.backward(); ret_opt.step()
        elif step < offline_total:
            k = step - fits
            if k == 0:
                for i in range(K):
                    refs[i].load_state_dict(policies[i].state_dict())
                    best[i] = last[i] = am_q(i)
                start_improved[0] = True
            s = S[np.random.randint(0, n, B)]
            clip = 0.25 * (1 - min(k, 200) / args.improvement_steps)
            for i in range(K):
                with torch.no_grad():
                    old = refs[i](s); a = old.rsample(); old_lp = log_prob(old, a)
                    adv = iql.min_q(s, a) - iql.v(s)
                    adv = (adv - adv.mean()) / (adv.std() + 1e-10)
                ratio = (log_prob(policies[i](s), a) - old_lp).exp()
                loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                imp_opts[i].zero_grad(); loss.backward()
                nn.utils.clip_grad_norm_(policies[i].parameters(), 0.5)
                imp_opts[i].step()
                for group in imp_opts[i].param_groups:
                    group["lr"] = 1e-4 * (1 - (k + 1) / args.improvement_steps)
            if (k + 1) % args.ope_every == 0 or k + 1 == args.improvement_steps:
                for i in range(K):
                    last[i] = am_q(i)
                    if last[i] > best[i]:
                        best[i] = last[i]; refs[i].load_state_dict(policies[i].state_dict())
                logs["ope_best"] = max(best)
        else:
            if actor is None:   # the switch
                if args.select == "env":
                    top = list(np.argsort(last)[::-1][:3])
                    scores = [evaluate(lambda ob, i=i: policies[i](torch.from_numpy(norm(ob)).unsqueeze(0)).mean[0].clamp(-1, 1).numpy(), eval_env, 10, args.seed)[0] for i in top]
                    chosen = int(top[int(np.argmax(scores))])
                else:
                    chosen = int(np.argmax(last))
                actor = copy.deepcopy(policies[chosen]); actor.double_tanh = not args.single_tanh
                critic = ret_v if ret_v is not None else iql.v
                actor_opt = torch.optim.Adam(actor.parameters(), args.lr_a, eps=1e-5); critic_opt = torch.optim.Adam(critic.parameters(), 2e-4, eps=1e-5)
                logs["selected_policy"] = chosen
            if o is None:
                o = norm(env.reset(args.seed + 7919 * step))
            with torch.no_grad():
                dist = actor(torch.from_numpy(o).unsqueeze(0))
                a = dist.sample().clamp(-1, 1); lp = log_prob(dist, a).item()
            o2, r, term, trunc = env.step(a[0].numpy())
            o2 = norm(o2)
            online_rollout.append((o, a[0].numpy(), lp, r * scale, o2, term, term or trunc))
            o = norm(env.reset()) if term or trunc else o2
            if len(online_rollout) == 2048:
                os_, as_, lps_, rs_, o2s_, dws_, dones_ = map(np.array, zip(*online_rollout))
                s_t, a_t, lp_t = t(os_), t(as_), t(lps_).unsqueeze(-1)
                with torch.no_grad():
                    v, v2 = critic(s_t).squeeze(-1).numpy(), critic(t(o2s_)).squeeze(-1).numpy()
                deltas = rs_ + 0.99 * (1 - dws_) * v2 - v
                adv, gae = np.zeros(2048, np.float32), 0.0
                for j in range(2047, -1, -1):
                    gae = deltas[j] + 0.99 * 0.95 * gae * (1 - dones_[j]); adv[j] = gae
                v_target = t(adv + v).unsqueeze(-1)
                adv_t = t((adv - adv.mean()) / (adv.std(ddof=1) + 1e-5)).unsqueeze(-1)
                v_old = t(v).unsqueeze(-1)
                for _ in range(args.k_epochs):
                    for mb in np.array_split(np.random.permutation(2048), 2048 // 128):
                        dist = actor(s_t[mb])
                        ratio = (log_prob(dist, a_t[mb]) - lp_t[mb]).exp()
                        a_loss = -torch.min(ratio * adv_t[mb], ratio.clamp(0.95, 1.05) * adv_t[mb]).mean() - 0.01 * dist.entropy().sum(-1).mean()
                        actor_opt.zero_grad(); a_loss.backward(); nn.utils.clip_grad_norm_(actor.parameters(), 0.5); actor_opt.step()
                        vv = critic(s_t[mb])
                        c_loss = torch.max((vv - v_target[mb]) ** 2, (v_old[mb] + (vv - v_old[mb]).clamp(-0.05, 0.05) - v_target[mb]) ** 2).mean()
                        critic_opt.zero_grad(); c_loss.backward(); nn.utils.clip_grad_norm_(critic.parameters(), 0.5); critic_opt.step()
                frac = 1 - (step + 1 - offline_total) / 3e6
                for opt_, lr in ((actor_opt, args.lr_a), (critic_opt, 2e-4)):
                    for group in opt_.param_groups:
                        group["lr"] = lr * max(frac, 0)
                online_rollout = []
        if (step + 1) % args.eval_every == 0 or step + 1 == total:
            online = step + 1 > offline_total
            if actor is not None:
                pol = lambda ob: actor(torch.from_numpy(norm(ob)).unsqueeze(0)).mean[0].clamp(-1, 1).numpy()
            else:
                pol = act_offline
            with torch.no_grad():
                m, sdv = evaluate(pol, eval_env, args.eval_episodes, args.seed)
            e = evaluation(step + 1, m, sdv, online, env.info)
            e.update({k: v for k, v in logs.items()})
            evals.append(e)
            print(json.dumps(e), flush=True)
            save_checkpoint(resume, {"modules": [x.state_dict() for x in [iql.q, iql.q_target, iql.v] + policies + refs],
                                     "opts": [x.state_dict() for x in [iql.q_opt, iql.v_opt] + bc_opts + imp_opts], "iql_steps": iql.steps,
                                     "best": best, "last": last, "evals": evals, "step": step + 1,
                                     "ret_v": ret_v.state_dict() if ret_v is not None else None, "ret_opt": ret_opt.state_dict() if ret_opt is not None else None,
                                     "dynamics": (model.state_dict(), mu, sd, elites),
                                     "actor": actor.state_dict() if actor is not None else None, "critic": critic.state_dict() if critic is not None else None,
                                     "actor_opt": actor_opt.state_dict() if actor_opt is not None else None,
                                     "critic_opt": critic_opt.state_dict() if critic_opt is not None else None,
                                     "rollout": online_rollout, "torch_rng": torch.get_rng_state(), "np_rng": np.random.get_state()})
            if online:
                o = None   # the episode in progress ends at a checkpoint (a resumed run is the same)
    env.close(); eval_env.close()
    config = {"algo": "uni-o4", "reference": AUTHORS, **{k: v for k, v in vars(args).items() if k not in ("out", "dataset")}, "policies": K, "batch": B}
    write_result(args.out, __file__, "uni-o4", args, config, AUTHORS, evals)


if __name__ == "__main__":
    main()
