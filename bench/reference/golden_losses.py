"""Golden loss values for OffRL's tests (issue 35, item 7): each loss as the reference implementations write it,
evaluated by PyTorch on small fixed inputs, with its gradients. Written from the references' own files, not from OffRL:

- IQL expectile loss: CORL algorithms/offline/iql.py, asymmetric_l2_loss(u, tau) = mean(|tau - 1(u < 0)| u^2)
- IQL AWR policy loss: CORL iql.py, exp_adv = exp(beta adv.detach()).clamp(max=EXP_ADV_MAX = 100),
  policy_loss = mean(exp_adv * bc_losses), bc_losses = -log pi(a|s)
- TD3+BC actor loss: CORL td3_bc.py, lmbda = alpha / q.abs().mean().detach(), -lmbda q.mean() + mse(pi, a)
- SAC temperature loss: CORL sac_n.py, alpha_loss = (-log_alpha * (log_pi + target_entropy)).mean(), log_pi without grad
- CQL conservative gap: CORL cql.py (importance-sampled variant): cat = [q_rand - log(0.5^A), q_next - log_pi_next,
  q_cur - log_pi_cur] (log pis detached), ood = logsumexp(cat / temp, dim=1) * temp, diff = (ood - q_pred).mean()
  (cql_clip_diff_min/max = -inf/inf by default)

/usr/bin/python3 bench/reference/golden_losses.py > tests/OffRL.Tests/Fixtures/golden-losses.json
"""
import json
import math

import torch

torch.manual_seed(7)
T = torch.float64   # the values are computed in double; OffRL (float32) is compared to them within float32 rounding


def lst(t):
    return [round(float(v), 12) for v in t.detach().reshape(-1)]


def expectile():
    u = torch.randn(16, 1, dtype=T).requires_grad_()
    tau = 0.7
    loss = torch.mean(torch.abs(tau - (u < 0).to(T)) * u ** 2)
    loss.backward()
    return {"tau": tau, "u": lst(u), "shape": [16, 1], "loss": loss.item(), "grad_u": lst(u.grad)}


def awr():
    adv = torch.randn(16, 1, dtype=T) * 1.5
    adv[0, 0], adv[1, 0] = 2.0, 3.0          # beta adv above log(100): the clamp at 100 is reached
    behavior = (torch.rand(16, 1, dtype=T) * 3).requires_grad_()   # -log pi(a|s)
    beta, max_weight = 3.0, 100.0
    exp_adv = torch.exp(beta * adv.detach()).clamp(max=max_weight)
    loss = torch.mean(exp_adv * behavior)
    loss.backward()
    return {"beta": beta, "max_weight": max_weight, "advantage": lst(adv), "behavior": lst(behavior), "shape": [16, 1],
            "loss": loss.item(), "grad_behavior": lst(behavior.grad)}


def td3bc():
    q = (torch.randn(8, 1, dtype=T) * 5 + 2).requires_grad_()
    pi = torch.tanh(torch.randn(8, 3, dtype=T)).requires_grad_()
    a = torch.rand(8, 3, dtype=T) * 2 - 1
    alpha = 2.5
    lmbda = alpha / q.abs().mean().detach()
    bc = torch.nn.functional.mse_loss(pi, a)
    loss = -lmbda * q.mean() + bc
    loss.backward()
    return {"alpha": alpha, "q": lst(q), "pi": lst(pi), "action": lst(a), "batch": 8, "action_dim": 3,
            "loss": loss.item(), "bc": bc.item(), "grad_q": lst(q.grad), "grad_pi": lst(pi.grad)}


def temperature():
    log_alpha = torch.tensor([math.log(0.3)], dtype=T, requires_grad=True)
    with torch.no_grad():
        log_pi = torch.randn(16, 1, dtype=T) * 2
    target_entropy = -3.0
    loss = (-log_alpha * (log_pi + target_entropy)).mean()
    loss.backward()
    return {"log_alpha": log_alpha.item(), "log_pi": lst(log_pi), "target_entropy": target_entropy, "shape": [16, 1],
            "loss": loss.item(), "grad_log_alpha": log_alpha.grad.item()}


def cql(temp):
    b, n, act = 4, 3, 2
    q_rand = torch.randn(b, n, dtype=T).requires_grad_()
    q_cur = torch.randn(b, n, dtype=T).requires_grad_()
    q_next = torch.randn(b, n, dtype=T).requires_grad_()
    log_pi_cur = torch.randn(b, n, dtype=T) - 1
    log_pi_next = torch.randn(b, n, dtype=T) - 1
    q_pred = torch.randn(b, 1, dtype=T).requires_grad_()
    random_density = math.log(0.5 ** act)
    cat = torch.cat([q_rand - random_density, q_next - log_pi_next.detach(), q_cur - log_pi_cur.detach()], dim=1)
    ood = torch.logsumexp(cat / temp, dim=1) * temp
    diff = (ood - q_pred.squeeze(1)).mean()
    diff.backward()
    return {"temperature": temp, "batch": b, "samples": n, "action_dim": act, "q_random": lst(q_rand), "q_policy": lst(q_cur),
            "q_next_policy": lst(q_next), "log_pi": lst(log_pi_cur), "log_pi_next": lst(log_pi_next), "q_data": lst(q_pred),
            "gap": diff.item(), "grad_q_random": lst(q_rand.grad), "grad_q_policy": lst(q_cur.grad),
            "grad_q_next_policy": lst(q_next.grad), "grad_q_data": lst(q_pred.grad)}


print(json.dumps({
    "source": f"bench/reference/golden_losses.py, torch {torch.__version__}, float64",
    "iql_expectile": expectile(), "iql_awr": awr(), "td3bc_actor": td3bc(), "sac_temperature": temperature(),
    "cql_gap": [cql(1.0), cql(0.5)],
}, indent=1))
