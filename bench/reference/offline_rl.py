#!/usr/bin/python3
"""PyTorch reference of OffRL's TD3+BC, IQL and CQL, for side-by-side parity runs (issue 27).

Each algorithm is written from its paper and CORL's single-file version, with OffRL's defaults (the same as the
config records' doc comments give), trains on a D4RL-layout HDF5 file written by OffRL (`offrl dataset convert
NAME --out FILE.hdf5`), and writes its networks as an OffRL checkpoint folder (agent.json, preprocessing.json and
one safetensors file per module, OffRL's parameter names and layouts), so `offrl eval --checkpoint DIR --env ENV`
evaluates it in OffRL's own environment. That layout is also how a policy trained in PyTorch is imported into OffRL.

    apt-get install -y python3-torch python3-h5py libopenblas0-pthread
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 taskset -c 0 \\
        /usr/bin/python3 bench/reference/offline_rl.py --algo iql --dataset hopper-medium.hdf5 --steps 20000 \\
        --seed 0 --snapshot-every 5000 --out runs/iql-hopper-0

With --snapshot-every K the folder also gets step-K, step-2K, ... (the evaluation points of `offrl train
--eval-every K`). One process is one core: torch's intra-op threads and OpenBLAS's are both 1 (the parity script
runs one process per core, pinned with taskset, so no split of cores between them exists to search).

Speed (issue 28), the same updates on random data at the shapes of shared/bench/torch_rl_updates.py (observation
17, action 6, batch 256); with --threads N every split of N cores between torch's intra-op threads and OpenBLAS's is
tried (one process each) and the fastest kept, as that script does. CQL here is OffRL's protocol (three action sets),
which torch_rl_updates.py's CQL (two sets) is not:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/offline_rl.py --speed cql --threads 2
"""
from offrl_checkpoint import linears, mlp_tensors, safetensors_bytes, twin_tensors, write_atomic
import argparse, itertools, json, math, os, statistics, struct, subprocess, sys, time

# BLAS threads must be fixed before torch loads its BLAS (--speed's thread-split search sets them per process).
if "--blas-threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]
import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

# ----------------------------------------------------------------------------------------------------------------
# Data: the file's transitions, OffRL's preprocessing (observations standardized with std + 1e-3; IQL's rewards
# scaled by 1000 / (max - min episode return)), discounts gamma (1 - terminal).


def load(path):
    with h5py.File(path, "r") as f:
        d = {k: f[k][:] for k in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")}
    d["terminals"] = d["terminals"].astype(bool)
    d["timeouts"] = d["timeouts"].astype(bool)
    return d


def episode_returns(rewards, terminals, timeouts):
    ends = np.flatnonzero(terminals | timeouts)
    if len(ends) == 0 or ends[-1] != len(rewards) - 1:
        ends = np.append(ends, len(rewards) - 1)
    sums = np.cumsum(rewards.astype(np.float64))
    totals = sums[ends]
    return np.diff(np.concatenate([[0.0], totals]))


class Data:
    def __init__(self, path, gamma, reward_normalization):
        d = load(path)
        obs = d["observations"].astype(np.float64)
        self.mean = obs.mean(0)
        self.std = obs.std(0) + 1e-3
        norm = lambda x: ((x.astype(np.float64) - self.mean) / self.std).astype(np.float32)
        self.obs = torch.from_numpy(norm(d["observations"]))
        self.next = torch.from_numpy(norm(d["next_observations"]))
        self.act = torch.from_numpy(d["actions"].astype(np.float32))
        if self.act.abs().max() > 1.0 + 1e-6:
            sys.exit("error: actions outside [-1, 1]; this reference expects locomotion datasets")
        rew = d["rewards"].astype(np.float32)
        self.reward_scale = 1.0
        if reward_normalization:
            ret = episode_returns(rew, d["terminals"], d["timeouts"])
            self.reward_scale = float(1000.0 / (ret.max() - ret.min()))
        self.rew = torch.from_numpy((rew * np.float32(self.reward_scale)))[:, None]
        self.disc = torch.from_numpy((gamma * (1.0 - d["terminals"].astype(np.float32))).astype(np.float32))[:, None]
        self.n, self.obs_dim = self.obs.shape
        self.act_dim = self.act.shape[1]

    def sample(self, batch, gen):
        i = torch.randint(0, self.n, (batch,), generator=gen)
        return self.obs[i], self.act[i], self.rew[i], self.next[i], self.disc[i]


# ----------------------------------------------------------------------------------------------------------------
# Networks


def mlp(i, o, hidden, out_act=None):
    layers, d = [], i
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, o))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class Twin(nn.Module):
    """Two Q networks Q_i(s, a) (OffRL keeps them as one ensemble module)."""

    def __init__(self, obs, act, hidden):
        super().__init__()
        self.q = nn.ModuleList([mlp(obs + act, 1, hidden), mlp(obs + act, 1, hidden)])

    def forward(self, s, a):
        x = torch.cat([s, a], -1)
        return [q(x) for q in self.q]


def frozen_copy(m):
    import copy
    c = copy.deepcopy(m)
    for p in c.parameters():
        p.requires_grad_(False)
    return c


def soft_update(target, src, tau):
    with torch.no_grad():
        for t, p in zip(target.parameters(), src.parameters()):
            t.mul_(1 - tau).add_(p, alpha=tau)


def tanh_gaussian(h, act, gen=None, deterministic=False):
    """SAC's policy head: mean and log-std (clamped to [-5, 2]); a = tanh(u), log pi with the tanh correction."""
    mean, log_std = h[:, :act], h[:, act:].clamp(-5.0, 2.0)
    if deterministic:
        return torch.tanh(mean), None
    u = mean + log_std.exp() * torch.randn(mean.shape, generator=gen)
    logp = (-0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
    logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1, keepdim=True)
    return torch.tanh(u), logp


# ----------------------------------------------------------------------------------------------------------------
# Algorithms: one update each, with the papers' equations (as OffRL's Td3Bc.cs, Iql.cs, Cql.cs).


class Td3Bc:
    """Fujimoto and Gu 2021: alpha 2.5, policy noise 0.2 clipped at 0.5, actor every 2nd update, lr 3e-4, 2 x 256."""

    name, hidden, gamma, reward_normalization = "td3bc", [256, 256], 0.99, False

    def __init__(self, obs, act, gen):
        self.actor = mlp(obs, act, self.hidden, nn.Tanh())
        self.critic = Twin(obs, act, self.hidden)
        self.actor_t, self.critic_t = frozen_copy(self.actor), frozen_copy(self.critic)
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=3e-4)
        self.gen, self.it, self.policy_noise = gen, 0, 0.2

    def update(self, s, a, r, s2, disc):
        with torch.no_grad():
            noise = (torch.randn(a.shape, generator=self.gen) * self.policy_noise).clamp(-0.5, 0.5)
            a2 = (self.actor_t(s2) + noise).clamp(-1, 1)
            y = r + disc * torch.min(*self.critic_t(s2, a2))                    # clipped double-Q target
        q1, q2 = self.critic(s, a)
        loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.opt_c.zero_grad(); loss.backward(); self.opt_c.step()
        if (self.it + 1) % 2 == 0:                                            # the actor on the 2nd, 4th, ... update (TD3_BC.py)
            pi = self.actor(s)
            q = self.critic(s, pi)[0]
            lmbda = 2.5 / q.abs().mean().detach()                                # eq. 3: lambda = alpha / mean |Q|
            actor_loss = -lmbda * q.mean() + F.mse_loss(pi, a)
            self.opt_a.zero_grad(); actor_loss.backward(); self.opt_a.step()
            soft_update(self.critic_t, self.critic, 0.005)
            soft_update(self.actor_t, self.actor, 0.005)
        self.it += 1

    def act(self, s):
        return self.actor(s)

    def modules(self):
        return {"actor": mlp_tensors(self.actor), "actor_target": mlp_tensors(self.actor_t),
                "critic": twin_tensors(self.critic.q[0], self.critic.q[1]), "critic_target": twin_tensors(self.critic_t.q[0], self.critic_t.q[1])}


class Iql:
    """Kostrikov et al. 2022: expectile 0.7, beta 3, weights clipped at 100, lr 3e-4, actor cosine over 1e6 steps."""

    name, hidden, gamma, reward_normalization = "iql", [256, 256], 0.99, True

    def __init__(self, obs, act, gen):
        self.mean = mlp(obs, act, self.hidden, nn.Tanh())
        self.log_std = nn.Parameter(torch.zeros(act))
        self.value = mlp(obs, 1, self.hidden)
        self.critic = Twin(obs, act, self.hidden)
        self.critic_t = frozen_copy(self.critic)
        self.opt_a = torch.optim.Adam(list(self.mean.parameters()) + [self.log_std], lr=3e-4)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_a, T_max=1_000_000)
        self.opt_v = torch.optim.Adam(self.value.parameters(), lr=3e-4)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=3e-4)

    def update(self, s, a, r, s2, disc):
        with torch.no_grad():
            q_t = torch.min(*self.critic_t(s, a))
            v_next = self.value(s2)
        v = self.value(s)
        adv = q_t - v
        w = torch.where(adv < 0, 1 - 0.7, 0.7)
        value_loss = (w * adv ** 2).mean()                                          # eq. 5: expectile regression
        self.opt_v.zero_grad(); value_loss.backward(); self.opt_v.step()
        y = r + disc * v_next
        q1, q2 = self.critic(s, a)
        critic_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)                       # eq. 6
        self.opt_c.zero_grad(); critic_loss.backward(); self.opt_c.step()
        soft_update(self.critic_t, self.critic, 0.005)
        weight = torch.exp(3.0 * adv.detach()).clamp(max=100.0)
        dist = torch.distributions.Normal(self.mean(s), self.log_std.exp())
        actor_loss = -(weight * dist.log_prob(a).sum(-1, keepdim=True)).mean()     # eq. 7: advantage-weighted regression
        self.opt_a.zero_grad(); actor_loss.backward(); self.opt_a.step(); self.sched.step()

    def act(self, s):
        return self.mean(s)

    def modules(self):
        actor = {f"mean.{k}": v for k, v in mlp_tensors(self.mean).items()}
        actor["log_std"] = self.log_std.detach()
        return {"actor": actor, "value": mlp_tensors(self.value), "critic": twin_tensors(self.critic.q[0], self.critic.q[1]),
                "critic_target": twin_tensors(self.critic_t.q[0], self.critic_t.q[1])}


class Cql:
    """Kumar et al. 2020 as the authors' code and d3rlpy: 3 x 256, actor lr 1e-4, critic 3e-4, temperature 1e-4,
    alpha 5, 10 actions per set (uniform, pi(.|s), pi(.|s')), no entropy in the TD target."""

    name, hidden, gamma, reward_normalization = "cql", [256, 256, 256], 0.99, False

    def __init__(self, obs, act, gen):
        self.act_dim = act
        self.actor = mlp(obs, 2 * act, self.hidden)
        self.critic = Twin(obs, act, self.hidden)
        self.critic_t = frozen_copy(self.critic)
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=1e-4)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=3e-4)
        self.opt_t = torch.optim.Adam([self.log_alpha], lr=1e-4)
        self.gen, self.n = gen, 10

    def pi(self, s):
        return tanh_gaussian(self.actor(s), self.act_dim, self.gen)

    def update(self, s, a, r, s2, disc):
        alpha = self.log_alpha.exp().item()
        b, n, act = s.shape[0], self.n, self.act_dim
        with torch.no_grad():
            a2, _ = self.pi(s2)
            y = r + disc * torch.min(*self.critic_t(s2, a2))                     # deterministic backup
        q_data = self.critic(s, a)
        loss = sum(F.mse_loss(q, y) for q in q_data)
        s_rep, s2_rep = s.repeat_interleave(n, 0), s2.repeat_interleave(n, 0)
        a_rand = torch.rand((b * n, act), generator=self.gen) * 2 - 1
        with torch.no_grad():
            a_pi, lp_pi = self.pi(s_rep)
            a_next, lp_next = self.pi(s2_rep)
        log_uniform = act * math.log(0.5)
        q_rand, q_pi, q_next = self.critic(s_rep, a_rand), self.critic(s_rep, a_pi), self.critic(s_rep, a_next)
        for m in range(2):                                                          # eq. 4, importance-sampled log-sum-exp
            cat = torch.cat([q_rand[m].view(b, n) - log_uniform, q_pi[m].view(b, n) - lp_pi.view(b, n),
                             q_next[m].view(b, n) - lp_next.view(b, n)], 1)
            loss = loss + 5.0 * (torch.logsumexp(cat, 1).mean() - q_data[m].mean())
        self.opt_c.zero_grad(); loss.backward(); self.opt_c.step()
        for p in self.critic.parameters():
            p.requires_grad_(False)
        a_new, logp = self.pi(s)
        actor_loss = (alpha * logp - torch.min(*self.critic(s, a_new))).mean()
        self.opt_a.zero_grad(); actor_loss.backward(); self.opt_a.step()
        for p in self.critic.parameters():
            p.requires_grad_(True)
        alpha_loss = -(self.log_alpha * (logp.detach() - act)).mean()             # target entropy -|A|
        self.opt_t.zero_grad(); alpha_loss.backward(); self.opt_t.step()
        soft_update(self.critic_t, self.critic, 0.005)

    def act(self, s):
        return tanh_gaussian(self.actor(s), self.act_dim, deterministic=True)[0]

    def modules(self):
        return {"actor": mlp_tensors(self.actor), "critic": twin_tensors(self.critic.q[0], self.critic.q[1]),
                "critic_target": twin_tensors(self.critic_t.q[0], self.critic_t.q[1]), "temperature": {"log_alpha": self.log_alpha.detach()}}


def td3bc_load(agent, m):
    mlp_load(agent.actor, m["actor"]); mlp_load(agent.actor_t, m["actor_target"])
    twin_load(agent.critic, m["critic"]); twin_load(agent.critic_t, m["critic_target"])


def iql_load(agent, m):
    mlp_load(agent.mean, m["actor"], "mean.")
    with torch.no_grad():
        agent.log_std.copy_(m["actor"]["log_std"])
    mlp_load(agent.value, m["value"])
    twin_load(agent.critic, m["critic"]); twin_load(agent.critic_t, m["critic_target"])


Td3Bc.load, Iql.load = td3bc_load, iql_load
ALGOS = {"td3bc": Td3Bc, "iql": Iql, "cql": Cql}

# ----------------------------------------------------------------------------------------------------------------
# OffRL's checkpoint layout: Mlp "layers.i.weight" [out, in] and "layers.i.bias" [out] (PyTorch's own layout);
# the twin critic as one ensemble, "layers.i.weight" [2, in, out] and "layers.i.bias" [2, out]; F32 safetensors.


def mlp_load(seq, t, prefix=""):
    with torch.no_grad():
        for i, l in enumerate(linears(seq)):
            l.weight.copy_(t[f"{prefix}layers.{i}.weight"]); l.bias.copy_(t[f"{prefix}layers.{i}.bias"])


def twin_load(twin, t):
    with torch.no_grad():
        for i, (l1, l2) in enumerate(zip(linears(twin.q[0]), linears(twin.q[1]))):
            w, b = t[f"layers.{i}.weight"], t[f"layers.{i}.bias"]
            l1.weight.copy_(w[0].t()); l2.weight.copy_(w[1].t()); l1.bias.copy_(b[0]); l2.bias.copy_(b[1])


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + b:8 + n + end], dtype="<f4").copy().reshape(e["shape"]))
    return out


def read_checkpoint(folder):
    return {f[:-len(".safetensors")]: read_safetensors(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".safetensors")}


def lockstep_row(t, s, rows):
    """Row of batch slot s at update t (OffRL.Bench's Lockstep.Row): a multiplicative hash, modulo the row count."""
    return ((((t * 256 + s) * 11400714819323198485) & 0xFFFFFFFFFFFFFFFF) >> 16) % rows


def lockstep(cls, data, folder, steps):
    """Start from OffRL's initial networks, make the same updates on the same batches, compare with OffRL's result."""
    gen = torch.Generator().manual_seed(0)
    agent = cls(data.obs_dim, data.act_dim, gen)
    agent.load(read_checkpoint(os.path.join(folder, "init")))
    if cls is Td3Bc:
        agent.policy_noise = 0.0
    for t in range(steps):
        i = torch.tensor([lockstep_row(t, s, data.n) for s in range(256)])
        agent.update(data.obs[i], data.act[i], data.rew[i], data.next[i], data.disc[i])
    theirs = cls(data.obs_dim, data.act_dim, gen)
    theirs.load(read_checkpoint(os.path.join(folder, "final")))
    s, a = data.obs[:1024], data.act[:1024]
    with torch.no_grad():
        da = (agent.act(s) - theirs.act(s)).abs().max().item()
        q_mine, q_theirs = agent.critic(s, a)[0], theirs.critic(s, a)[0]
        dq = ((q_mine - q_theirs).abs().max() / q_theirs.abs().max()).item()
    print(json.dumps({"algo": cls.name, "steps": steps, "max_abs_action_diff": da, "max_rel_q_diff": dq}))


def save(agent, data, updates, folder):
    os.makedirs(folder, exist_ok=True)
    for name, tensors in agent.modules().items():
        write_atomic(os.path.join(folder, name + ".safetensors"), safetensors_bytes(tensors, "bench/reference/offline_rl.py"))
    pre = {"ObservationMean": data.mean.astype(np.float32).tolist(), "ObservationStd": data.std.astype(np.float32).tolist(),
           "RewardScale": data.reward_scale, "RewardShift": 0.0}
    write_atomic(os.path.join(folder, "preprocessing.json"), json.dumps(pre).encode())
    config = {"hidden": agent.hidden, "gamma": agent.gamma}
    meta = {"algo": agent.name, "updates": updates, "observation_dim": data.obs_dim,
            "action_space": {"type": "box", "Low": [-1.0] * data.act_dim, "High": [1.0] * data.act_dim}, "config": config}
    write_atomic(os.path.join(folder, "agent.json"), json.dumps(meta, indent=2).encode())
    # 64 dataset observations and this policy's deterministic actions, for `OffRL.Bench import-check`
    raw = data.obs[:64].double().numpy() * data.std + data.mean
    with torch.no_grad():
        acts = agent.act(data.obs[:64]).numpy()
    probe = {"observations": raw.astype(np.float32).tolist(), "actions": acts.tolist()}
    write_atomic(os.path.join(folder, "probe.json"), json.dumps(probe).encode())


def speed_once(algo, steps):
    """Median of 3 timed runs of `steps` updates on random data, after 10 warm-up updates."""
    gen = torch.Generator().manual_seed(0)
    agent = ALGOS[algo](17, 6, gen)
    b = 256
    s, s2 = torch.randn(b, 17, generator=gen), torch.randn(b, 17, generator=gen)
    a = torch.rand(b, 6, generator=gen) * 2 - 1
    r, disc = torch.randn(b, 1, generator=gen), torch.full((b, 1), 0.99)
    for _ in range(10):
        agent.update(s, a, r, s2, disc)
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(steps):
            agent.update(s, a, r, s2, disc)
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates)


def speed(a):
    """PyTorch's fastest split of --threads cores between torch and OpenBLAS threads (one process per setting)."""
    if a.torch_threads:
        torch.set_num_threads(a.torch_threads)
        print(json.dumps({"updates_per_s": speed_once(a.speed, a.steps)}))
        return
    best, how = 0.0, ""
    for t, b in itertools.product(range(1, a.threads + 1), repeat=2):
        if t * b > a.threads and not (t == b == a.threads):
            continue
        cmd = [sys.executable, __file__, "--speed", a.speed, "--steps", str(a.steps), "--torch-threads", str(t),
               "--blas-threads", str(b)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        v = json.loads(out)["updates_per_s"]
        if v > best:
            best, how = v, f"torch {t} x blas {b}"
    print(json.dumps({"algo": a.speed, "threads": a.threads, "updates_per_s": round(best, 2), "setting": how,
                      "torch": torch.__version__}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--speed", choices=sorted(ALGOS), help="updates/s on random data at the benchmark shapes (no dataset)")
    p.add_argument("--threads", type=int, default=1, help="with --speed: cores to split between torch and OpenBLAS")
    p.add_argument("--torch-threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--blas-threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--algo", choices=sorted(ALGOS))
    p.add_argument("--dataset", help="D4RL-layout HDF5 file (offrl dataset convert NAME --out FILE.hdf5)")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--snapshot-every", type=int, default=0)
    p.add_argument("--out", help="checkpoint folder to write")
    p.add_argument("--lockstep", help="folder of OffRL.Bench lockstep (init/, final/): replay its updates and compare")
    a = p.parse_args()
    if a.speed:
        if a.steps == 20000:
            a.steps = 20
        return speed(a)
    if not a.algo or not a.dataset:
        sys.exit("error: --algo and --dataset are required (or --speed ALGO)")
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    cls = ALGOS[a.algo]
    data = Data(a.dataset, cls.gamma, cls.reward_normalization)
    if a.lockstep:
        return lockstep(cls, data, a.lockstep, a.steps)
    if not a.out:
        sys.exit("error: --out is required (or --lockstep)")
    agent = cls(data.obs_dim, data.act_dim, gen)
    start = time.perf_counter()
    for t in range(1, a.steps + 1):
        agent.update(*data.sample(a.batch, gen))
        if a.snapshot_every and t % a.snapshot_every == 0 and t < a.steps:
            save(agent, data, t, os.path.join(a.out, f"step-{t}"))
        if t % 1000 == 0:
            print(f"[{a.algo}] step {t}/{a.steps}  {t / (time.perf_counter() - start):.1f} updates/s", flush=True)
    secs = time.perf_counter() - start
    save(agent, data, a.steps, a.out)
    if a.snapshot_every:
        save(agent, data, a.steps, os.path.join(a.out, f"step-{a.steps}"))
    print(json.dumps({"algo": a.algo, "steps": a.steps, "seed": a.seed, "seconds": secs, "updates_per_s": a.steps / secs,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
