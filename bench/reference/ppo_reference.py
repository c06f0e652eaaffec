#!/usr/bin/python3
"""PyTorch reference of PPO as CleanRL runs it (github.com/vwxyzjn/cleanrl @fe8d8a0, cleanrl/ppo_continuous_action.py;
read, not run), written from that file, not from OffRL's code, for issue 39's side-by-side runs.

What it follows (line numbers of ppo_continuous_action.py):
- Args (L41-75) as flags with the file's defaults: 1 env x 2048 steps, 32 minibatches, 10 epochs, lr 3e-4 annealed,
  gamma 0.99, GAE lambda 0.95, clip 0.2 (ratio and value), entropy 0, value weight 0.5, gradient norm 0.5, no target KL.
- make_env (L87-103), per environment copy: ClipAction; NormalizeObservation (Gymnasium 0.29.1's RunningMeanStd: mean 0,
  var 1, count 1e-4, updated with every observation, the last of an episode and the reset one alike); clip to +-10;
  NormalizeReward (the running discounted return, restarted after a termination only, divides the reward by
  sqrt(var + 1e-8)); clip to +-10. Statistics are per copy, as SyncVectorEnv applies the wrappers per copy; copy i is
  reset with seed + i; a finished copy resets at once (autoreset).
- Agent (L112-141): separate 64-64 tanh critic and actor mean, orthogonal init (sqrt 2; 0.01 on the mean's output, 1
  on the value's), a state-independent log std from 0, a Normal (not squashed) whose log-prob and entropy sum over
  the action's dimensions; Adam eps 1e-5.
- The loop (L200-308): the rollout stores the done flag before acting; GAE without a bootstrap after any episode end
  (terminated or truncated); each epoch shuffles arange(batch) in place; per minibatch, advantages normalized, the
  clipped surrogate, the clipped value loss, clip_grad_norm_, Adam; the target-KL break after an epoch.
What it cannot follow: CleanRL acts in Gymnasium's environments and reports training episodes' returns; here it acts in
OffRL's environments through `offrl env serve` (its actions in the environment's units, mapped to the bridge's [-1, 1])
and is also evaluated as OffRL evaluates: every --eval-every environment steps and at --total-timesteps (after the last
full rollout's update), --eval-episodes episodes reset with seed 1 000 000 + seed + k, acting with the Gaussian's mean on observations normalized by copy 0's statistics (held, not
updated).

    OFFRL="dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /usr/bin/python3 bench/reference/ppo_reference.py --env pendulum --total-timesteps 100000 --num-envs 4 \
      --num-steps 1024 --gamma 0.9 --learning-rate 1e-3 --num-minibatches 64 --eval-every 20000 --seed 0 --out run.json
"""
import argparse, json, math, os, sys

import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Normal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from o2o_common import evaluate, evaluation, write_result
from rlpd_reference import Env

CLEANRL = "vwxyzjn/cleanrl@fe8d8a03c41a7ef5b523e2e354bd01c363e786bb cleanrl/ppo_continuous_action.py"


class RunningMeanStd:
    """Gymnasium 0.29.1's: parallel update of mean and variance from batch moments, count starting at 1e-4."""

    def __init__(self, shape=()):
        self.mean, self.var, self.count = np.zeros(shape, np.float64), np.ones(shape, np.float64), 1e-4

    def update(self, x):
        bm, bv, bc = np.mean(x, axis=0), np.var(x, axis=0), x.shape[0]
        delta, tot = bm - self.mean, self.count + bc
        self.mean = self.mean + delta * bc / tot
        self.var = (self.var * self.count + bv * bc + delta ** 2 * self.count * bc / tot) / tot
        self.count = tot


class WrappedEnv:
    """One copy as make_env wraps it: ClipAction, NormalizeObservation, clip 10, NormalizeReward, clip 10."""

    def __init__(self, offrl, name, gamma, rescale):
        self.env, self.rescale = Env(offrl, name), rescale
        self.obs_rms, self.ret_rms = RunningMeanStd(self.env.info["observation_dim"]), RunningMeanStd(())
        self.ret, self.gamma = 0.0, gamma
        self.low, self.high = self.env.low, self.env.high

    def to_unit(self, a):
        """ClipAction in the env's units, as the bridge takes it ([-1, 1]); with --rescale-action the agent acts in
        [-1, 1] already (Gymnasium's RescaleAction(-1, 1) inside ClipAction)."""
        if self.rescale:
            return np.clip(a, -1, 1)
        return 2 * (np.clip(a, self.low, self.high) - self.low) / (self.high - self.low) - 1

    def normalize(self, o):
        self.obs_rms.update(np.asarray(o, np.float64)[None])
        return np.clip((o - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -10, 10)

    def reset(self, seed=None):
        return self.normalize(self.env.reset(seed))

    def step(self, a):
        unit = self.to_unit(a)
        o, r, term, trunc = self.env.step(unit)
        o = self.normalize(o)
        self.ret = self.ret * self.gamma * (1 - float(term)) + r
        self.ret_rms.update(np.array([self.ret]))
        return o, float(np.clip(r / np.sqrt(self.ret_rms.var + 1e-8), -10, 10)), r, term, trunc


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs, act):
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(obs, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh(), layer_init(nn.Linear(64, 1), std=1.0))
        self.actor_mean = nn.Sequential(layer_init(nn.Linear(obs, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)), nn.Tanh(), layer_init(nn.Linear(64, act), std=0.01))
        self.actor_logstd = nn.Parameter(torch.zeros(1, act))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        mean = self.actor_mean(x)
        probs = Normal(mean, torch.exp(self.actor_logstd.expand_as(mean)))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)


def learn(agent, optimizer, b_obs, b_logprobs, b_actions, b_advantages, b_returns, b_values, args, minibatch):
    """The update of one iteration (L257-308): epochs of shuffled minibatches, clipped surrogate and value loss,
    clip_grad_norm_, Adam; the target-KL break after an epoch."""
    batch = len(b_logprobs)
    b_inds = np.arange(batch)
    for epoch in range(args.update_epochs):
        np.random.shuffle(b_inds)
        for start in range(0, batch, minibatch):
            mb = b_inds[start:start + minibatch]
            _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_actions[mb])
            logratio = newlogprob - b_logprobs[mb]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - logratio).mean()
            mb_adv = (b_advantages[mb] - b_advantages[mb].mean()) / (b_advantages[mb].std() + 1e-8)
            pg_loss = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)).mean()
            newvalue = newvalue.view(-1)
            v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -args.clip_coef, args.clip_coef)
            v_loss = 0.5 * torch.max((newvalue - b_returns[mb]) ** 2, (v_clipped - b_returns[mb]) ** 2).mean()
            loss = pg_loss - args.ent_coef * entropy.mean() + v_loss * args.vf_coef
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
            optimizer.step()
        if args.target_kl is not None and approx_kl > args.target_kl:
            break


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--env", required=True)
    p.add_argument("--total-timesteps", type=int, default=1_000_000)
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--num-envs", type=int, default=1)
    p.add_argument("--num-steps", type=int, default=2048)
    p.add_argument("--no-anneal-lr", action="store_true")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--gae-lambda", type=float, default=0.95)
    p.add_argument("--num-minibatches", type=int, default=32)
    p.add_argument("--update-epochs", type=int, default=10)
    p.add_argument("--clip-coef", type=float, default=0.2)
    p.add_argument("--ent-coef", type=float, default=0.0)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5)
    p.add_argument("--target-kl", type=float, default=None)
    p.add_argument("--rescale-action", action="store_true", help="act in [-1, 1] mapped to the env's bounds (OffRL's convention; not CleanRL's)")
    p.add_argument("--eval-every", type=int, default=20_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="iterations between checkpoints (OUT.ckpt, written atomically; every env's episode ends there, as OffRL's checkpoints end them); 0: none")
    args = p.parse_args()
    args.dataset, args.dataset_name = None, args.env   # the result file's fields (no dataset: an online run)
    offrl = os.environ.get("OFFRL", "dotnet src/OffRL.Cli/bin/Release/net10.0/OffRL.Cli.dll")
    np.random.seed(args.seed); torch.manual_seed(args.seed)
    batch = args.num_envs * args.num_steps
    minibatch, iterations = batch // args.num_minibatches, args.total_timesteps // batch
    envs = [WrappedEnv(offrl, args.env, args.gamma, args.rescale_action) for _ in range(args.num_envs)]
    eval_env = Env(offrl, args.env)
    od, ad = envs[0].env.info["observation_dim"], envs[0].env.info["action_dim"]
    agent = Agent(od, ad)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    obs, actions = torch.zeros(args.num_steps, args.num_envs, od), torch.zeros(args.num_steps, args.num_envs, ad)
    logprobs, rewards, dones, values = (torch.zeros(args.num_steps, args.num_envs) for _ in range(4))
    next_obs = torch.tensor(np.stack([e.reset(args.seed + i) for i, e in enumerate(envs)]), dtype=torch.float32)
    next_done = torch.zeros(args.num_envs)
    global_step, evals, first = 0, [], 1
    ckpt = args.out + ".ckpt"

    def restart_episodes(step):
        """Every copy starts a fresh episode, seeded by the step (at a checkpoint, written or resumed from)."""
        return torch.tensor(np.stack([e.reset(args.seed + i + step) for i, e in enumerate(envs)]), dtype=torch.float32), torch.ones(args.num_envs)

    if args.checkpoint_every > 0 and os.path.exists(ckpt):
        state = torch.load(ckpt, weights_only=False)
        agent.load_state_dict(state["agent"]); optimizer.load_state_dict(state["optimizer"])
        for e, (obs_rms, ret_rms, ret) in zip(envs, state["normalizers"]):
            e.obs_rms.__dict__.update(obs_rms); e.ret_rms.__dict__.update(ret_rms); e.ret = ret
        torch.set_rng_state(state["torch_rng"]); np.random.set_state(state["numpy_rng"])
        global_step, evals, first = state["global_step"], state["evals"], state["iteration"] + 1
        next_obs, next_done = restart_episodes(global_step)
        print(f"resumed from {ckpt} at step {global_step}", flush=True)

    def act(o):
        rms = envs[0].obs_rms
        x = np.clip((o - rms.mean) / np.sqrt(rms.var + 1e-8), -10, 10)
        return envs[0].to_unit(agent.actor_mean(torch.tensor(x, dtype=torch.float32)[None])[0].numpy())

    for iteration in range(first, iterations + 1):
        if not args.no_anneal_lr:
            optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / iterations) * args.learning_rate
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step], dones[step] = next_obs, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step], logprobs[step] = action, logprob
            stepped = []
            for e, a in zip(envs, action.numpy().astype(np.float64)):
                o, r, _, term, trunc = e.step(a)
                if term or trunc:
                    o = e.reset()
                stepped.append((o, r, term or trunc))
            next_obs = torch.tensor(np.stack([s[0] for s in stepped]), dtype=torch.float32)
            rewards[step] = torch.tensor([s[1] for s in stepped], dtype=torch.float32)
            next_done = torch.tensor([float(s[2]) for s in stepped])
            if global_step % args.eval_every < args.num_envs:
                m, sd = evaluate(act, eval_env, args.eval_episodes, args.seed)
                e = evaluation(global_step - global_step % args.eval_every, m, sd, True, eval_env.info)
                evals.append(e)
                print(json.dumps(e), flush=True)
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages, lastgaelam = torch.zeros_like(rewards), 0
            for t in reversed(range(args.num_steps)):
                nextnonterminal = 1.0 - (next_done if t == args.num_steps - 1 else dones[t + 1])
                nextvalues = next_value if t == args.num_steps - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values
        b_obs, b_logprobs, b_actions = obs.reshape(-1, od), logprobs.reshape(-1), actions.reshape(-1, ad)
        b_advantages, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        learn(agent, optimizer, b_obs, b_logprobs, b_actions, b_advantages, b_returns, b_values, args, minibatch)
        if args.checkpoint_every > 0 and iteration % args.checkpoint_every == 0 and iteration < iterations:
            torch.save({"agent": agent.state_dict(), "optimizer": optimizer.state_dict(), "global_step": global_step, "iteration": iteration,
                        "evals": evals, "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                        "normalizers": [(dict(e.obs_rms.__dict__), dict(e.ret_rms.__dict__), e.ret) for e in envs]}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
            next_obs, next_done = restart_episodes(global_step)
    if not evals or evals[-1]["step"] != args.total_timesteps:
        # the run's end, as OffRL's evaluates it at --steps (the steps after the last full rollout are not taken)
        m, sd = evaluate(act, eval_env, args.eval_episodes, args.seed)
        e = evaluation(args.total_timesteps, m, sd, True, eval_env.info)
        evals.append(e)
        print(json.dumps(e), flush=True)
    for e in envs:
        e.env.close()
    eval_env.close()
    config = {k: v for k, v in vars(args).items() if k not in ("out", "dataset", "dataset_name", "seed")}
    write_result(args.out, __file__, "ppo-continuous", args, config, CLEANRL, evals)


if __name__ == "__main__":
    main()
