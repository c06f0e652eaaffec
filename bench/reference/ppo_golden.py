"""Golden values for OffRL's PPO lockstep test (issue 39): two minibatch steps of PPO's update as CleanRL writes it
(github.com/vwxyzjn/cleanrl @fe8d8a0: ppo.py and ppo_continuous_action.py, the Agent classes and the update loop,
L242-293 / L257-308), computed by PyTorch in double precision from a fixed start: the networks (layer_init: orthogonal,
sqrt 2 hidden, 0.01 on the policy's output, 1 on the value's; zero biases; log std 0), a rollout of 16 rows with
advantages and returns given, and the minibatch rows. The stored log-probabilities and values are shifted from the
networks' own so that both the ratio clip and the value clip act, and the gradient-norm clip acts too.

Written from CleanRL's files, not from OffRL's code.

    /usr/bin/python3 bench/reference/ppo_golden.py > tests/OffRL.Tests/Fixtures/ppo-update.json
"""
import json
import math

import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical, Normal

torch.manual_seed(11)
np.random.seed(11)
T = torch.float64
OBS, HIDDEN, ROWS, MINIBATCH = 3, [8, 8], 16, 8
HP = {"lr": 3e-4, "adam_eps": 1e-5, "clip_coef": 0.2, "ent_coef": 0.01, "vf_coef": 0.5, "max_grad_norm": 0.5}


def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def net(out, out_std):
    return nn.Sequential(layer_init(nn.Linear(OBS, HIDDEN[0])), nn.Tanh(), layer_init(nn.Linear(HIDDEN[0], HIDDEN[1])), nn.Tanh(),
                         layer_init(nn.Linear(HIDDEN[1], out), std=out_std)).to(T)


class Agent(nn.Module):
    def __init__(self, discrete, outputs):
        super().__init__()
        self.discrete = discrete
        self.critic = net(1, 1.0)
        self.actor = net(outputs, 0.01)
        if not discrete:
            self.actor_logstd = nn.Parameter(torch.zeros(1, outputs, dtype=T))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action):
        if self.discrete:
            probs = Categorical(logits=self.actor(x))
            return action, probs.log_prob(action), probs.entropy(), self.critic(x)
        mean = self.actor(x)
        std = torch.exp(self.actor_logstd.expand_as(mean))
        probs = Normal(mean, std)
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)


def params(agent):
    """OffRL's names for the agent's parameters: actor.layers.i.*, critic.layers.i.*, log_std.log_std."""
    out = {}
    for module in ("actor", "critic"):
        for i, k in enumerate((0, 2, 4)):
            lin = getattr(agent, module)[k]
            out[f"{module}.layers.{i}.weight"] = lin.weight.detach().reshape(-1).tolist()
            out[f"{module}.layers.{i}.bias"] = lin.bias.detach().reshape(-1).tolist()
    if not agent.discrete:
        out["log_std.log_std"] = agent.actor_logstd.detach().reshape(-1).tolist()
    return out


def case(discrete, outputs):
    agent = Agent(discrete, outputs)
    start = params(agent)
    obs = torch.randn(ROWS, OBS, dtype=T)
    if discrete:
        actions = torch.randint(0, outputs, (ROWS,)).to(T)
    else:
        actions = torch.randn(ROWS, outputs, dtype=T) * 0.8
    with torch.no_grad():
        _, logp, _, value = agent.get_action_and_value(obs, actions.long() if discrete else actions)
        logprobs = logp + torch.randn(ROWS, dtype=T) * 0.3        # ratios from about 0.6 to 1.6: the clip acts
        values = value.view(-1) + torch.randn(ROWS, dtype=T) * 0.5  # old values off by more than 0.2: the value clip acts
    advantages = torch.randn(ROWS, dtype=T) * 2
    returns = values + advantages
    order = np.random.permutation(ROWS)
    optimizer = torch.optim.Adam(agent.parameters(), lr=HP["lr"], eps=HP["adam_eps"])
    steps = []
    for begin in range(0, ROWS, MINIBATCH):
        mb = torch.from_numpy(order[begin:begin + MINIBATCH])
        b_actions = actions.long() if discrete else actions
        _, newlogprob, entropy, newvalue = agent.get_action_and_value(obs[mb], b_actions[mb])
        logratio = newlogprob - logprobs[mb]
        ratio = logratio.exp()
        mb_advantages = advantages[mb]
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
        pg_loss1 = -mb_advantages * ratio
        pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - HP["clip_coef"], 1 + HP["clip_coef"])
        pg_loss = torch.max(pg_loss1, pg_loss2).mean()
        newvalue = newvalue.view(-1)
        v_loss_unclipped = (newvalue - returns[mb]) ** 2
        v_clipped = values[mb] + torch.clamp(newvalue - values[mb], -HP["clip_coef"], HP["clip_coef"])
        v_loss_clipped = (v_clipped - returns[mb]) ** 2
        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
        entropy_loss = entropy.mean()
        loss = pg_loss - HP["ent_coef"] * entropy_loss + v_loss * HP["vf_coef"]
        optimizer.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(agent.parameters(), HP["max_grad_norm"])
        optimizer.step()
        steps.append({"rows": order[begin:begin + MINIBATCH].tolist(), "policy_loss": pg_loss.item(), "value_loss": v_loss.item(),
                      "entropy": entropy_loss.item(), "grad_norm": norm.item(), "clip_fraction": ((ratio - 1.0).abs() > HP["clip_coef"]).double().mean().item(),
                      "params": params(agent)})
    return {"discrete": discrete, "outputs": outputs, "observations": obs.reshape(-1).tolist(), "actions": actions.reshape(-1).tolist(),
            "log_probs": logprobs.tolist(), "values": values.tolist(), "advantages": advantages.tolist(), "returns": returns.tolist(),
            "start": start, "steps": steps}


print(json.dumps({"source": "bench/reference/ppo_golden.py (CleanRL @fe8d8a0 ppo.py, ppo_continuous_action.py)", "torch": torch.__version__,
                  "observation_dim": OBS, "hidden": HIDDEN, "hyperparameters": HP,
                  "cases": [case(True, 3), case(False, 2)]}, indent=1))
