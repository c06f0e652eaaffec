#!/usr/bin/python3
"""PyTorch counterpart of `OffRL.Bench rlpd-step` (issue 38): RLPD's updates per second, one environment step's block.

Written from the RLPD authors' code (github.com/ikostrikov/rlpd @c90fd4b, JAX; read, not run): rlpd/agents/sac/
sac_learner.py `update` (L255-272): the batch of utd_ratio x 256 rows cut into utd_ratio slices; `update_critic` on each
(L196-251): a' ~ pi(.|s') from the current actor, the target critics' minimum over `num_min_qs` members drawn without
replacement once per critic update (networks/ensemble.py `subsample_ensemble`, L25-37), the soft backup
y = r + gamma mask (min Q' - alpha log pi(a'|s')), the loss ((Q - y)^2) averaged over members and rows, then the Polyak
step (tau 0.005) after every critic step; then one actor update on the last slice (L162-172: alpha log pi - mean over all
critics of Q), then one temperature update with the entropy the actor step measured before its step (L180-190:
loss = alpha (H - target entropy), alpha = exp(log_alpha)). Networks (configs/rlpd_config.py: num_qs 10, num_min_qs 2,
critic_layer_norm True; td_config.py: hidden (256, 256)): critics Dense -> LayerNorm -> ReLU on every hidden layer,
then Dense(1) (networks/mlp.py L21-34, state_action_value.py); the actor a 2 x 256 ReLU trunk with mean and log-std
heads, log std clipped to [-20, 2], tanh-squashed (distributions/tanh_normal.py); Adam 3e-4 everywhere; target entropy
-|A|/2. The ensemble is one set of batched weights [N, in, out] (the authors vmap one module), in the `matmul` or
`baddbmm` form; the search tries both with every split of the cores between torch's intra-op threads and OpenBLAS's
(as ../shared/bench/torch_rl_updates.py does) and reports the fastest.

The figure is critic updates per second (20 per block: the block's time / 20), comparable with OffRL's rate of
`Agent.Update` calls, of which every 20th also steps the actor and the temperature. Shapes: observation 17, action 6,
batch 256, random data; only speed is measured.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/rlpd_update.py --threads 1 --json
"""
import argparse, itertools, json, math, os, subprocess, sys

# BLAS threads must be fixed before torch loads its BLAS.
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_engine import rate   # warm-up, then the median of 3 timed runs of about `seconds` each

OBS, ACT, B, H = 17, 6, 256, 256
NUM_QS, NUM_MIN_QS, UTD = 10, 2, 20


def xavier(*shape_in_out):
    """flax's default_init (xavier_uniform) for a [.., in, out] kernel."""
    *lead, fan_in, fan_out = shape_in_out
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return nn.Parameter(torch.empty(*lead, fan_in, fan_out).uniform_(-bound, bound))


class Critics(nn.Module):
    """num_qs critics as batched weights: kernels [N, in, out], biases and layer-norm scale/shift [N, 1, width]."""

    def __init__(self, n, form):
        super().__init__()
        dims = [OBS + ACT, H, H, 1]
        self.kernels = nn.ParameterList([xavier(n, i, o) for i, o in zip(dims[:-1], dims[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(n, 1, o)) for o in dims[1:]])
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(n, 1, H)) for _ in range(2)])
        self.shifts = nn.ParameterList([nn.Parameter(torch.zeros(n, 1, H)) for _ in range(2)])
        self.form = form

    def dense(self, x, w, b):
        return torch.baddbmm(b, x, w) if self.form == "baddbmm" else x @ w + b

    def forward(self, s, a, members=None):
        """Q [n, B]; `members`: the target's random subset, its parameters gathered (subsample_ensemble)."""
        pick = (lambda p: p) if members is None else (lambda p: p[members])
        n = self.kernels[0].shape[0] if members is None else len(members)
        x = torch.cat([s, a], -1).unsqueeze(0).expand(n, -1, -1)
        for i in range(2):
            x = self.dense(x, pick(self.kernels[i]), pick(self.biases[i]))
            x = F.layer_norm(x, (H,), eps=1e-6) * pick(self.scales[i]) + pick(self.shifts[i])   # flax nn.LayerNorm
            x = F.relu(x)
        return self.dense(x, pick(self.kernels[2]), pick(self.biases[2])).squeeze(-1)


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.k1, self.k2 = xavier(OBS, H), xavier(H, H)
        self.b1, self.b2 = nn.Parameter(torch.zeros(H)), nn.Parameter(torch.zeros(H))
        self.k_mu, self.k_std = xavier(H, ACT), xavier(H, ACT)
        self.b_mu, self.b_std = nn.Parameter(torch.zeros(ACT)), nn.Parameter(torch.zeros(ACT))

    def forward(self, s):
        h = F.relu(torch.addmm(self.b1, s, self.k1))
        h = F.relu(torch.addmm(self.b2, h, self.k2))
        mu, log_std = torch.addmm(self.b_mu, h, self.k_mu), torch.clamp(torch.addmm(self.b_std, h, self.k_std), -20, 2)
        u = mu + log_std.exp() * torch.randn_like(mu)
        # Normal log-density, then the tanh bijector's log-det in distrax's stable form 2 (log 2 - u - softplus(-2u))
        logp = (-0.5 * ((u - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), logp


def rlpd_block(form):
    actor, critic = Actor(), Critics(NUM_QS, form)
    target = Critics(NUM_QS, form)
    target.load_state_dict(critic.state_dict())
    target.requires_grad_(False)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=3e-4)
    log_temp = torch.zeros(1, requires_grad=True)
    temp_opt = torch.optim.Adam([log_temp], lr=3e-4)
    rows = UTD * B
    s, a, r, s2, mask = torch.randn(rows, OBS), torch.rand(rows, ACT) * 2 - 1, torch.randn(rows), torch.randn(rows, OBS), torch.ones(rows)
    gamma, tau, target_entropy = 0.99, 0.005, -ACT / 2

    def block():
        alpha = log_temp.exp().detach()
        for k in range(UTD):
            sl = slice(k * B, (k + 1) * B)
            with torch.no_grad():
                a2, logp2 = actor(s2[sl])
                members = torch.randperm(NUM_QS)[:NUM_MIN_QS]
                q_next = target(s2[sl], a2, members).min(0).values
                y = r[sl] + gamma * mask[sl] * (q_next - alpha * logp2)
            critic_loss = ((critic(s[sl], a[sl]) - y) ** 2).mean()
            critic_opt.zero_grad(); critic_loss.backward(); critic_opt.step()
            with torch.no_grad():
                for tp, p in zip(target.parameters(), critic.parameters()):
                    tp.mul_(1 - tau).add_(p, alpha=tau)
        # one actor step on the last slice, against the mean of all critics; the critics take no gradient
        critic.requires_grad_(False)
        pa, logp = actor(s[sl])
        actor_loss = (alpha * logp - critic(s[sl], pa).mean(0)).mean()
        actor_opt.zero_grad(); actor_loss.backward(); actor_opt.step()
        critic.requires_grad_(True)
        entropy = -logp.detach().mean()
        temp_loss = log_temp.exp() * (entropy - target_entropy)
        temp_opt.zero_grad(); temp_loss.backward(); temp_opt.step()
    return block


def search(args):
    """The fastest (form, torch threads, BLAS threads) for the given cores: each setting in its own process."""
    best, how = 0.0, ""
    for form in ("matmul", "baddbmm"):
        for t, b in itertools.product(range(1, args.threads + 1), repeat=2):
            if t * b > args.threads and not (t == b == args.threads):
                continue
            cmd = [sys.executable, __file__, "--single", "--threads", str(args.threads), "--torch-threads", str(t),
                   "--blas-threads", str(b), "--form", form, "--seconds", str(args.seconds), "--json"]
            res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            if res["updates_per_s"] > best:
                best, how = res["updates_per_s"], f"{form}, torch {t} x blas {b}"
    return best, how


if __name__ == "__main__":
    p = argparse.ArgumentParser()
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
        ups, how = round(UTD * rate(rlpd_block(args.form), args.seconds), 2), f"{args.form}, single setting"
    else:
        ups, how = search(args)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "updates_per_s": ups, "setting": how}))
    else:
        print(f"rlpd: {ups} critic updates/s (torch {torch.__version__}, {args.threads} cores, {how})")
