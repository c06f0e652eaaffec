#!/usr/bin/python3
"""Independent PyTorch reference of PRDC and A2PR as their authors' code runs them, for OffRL's parity runs (issue 36).

Written from the authors' repositories, never from OffRL's code or defaults:
  PRDC  LAMDA-RL/PRDC @9f38464 (Ran et al. 2023): prdc.py, net/actor.py, net/critic.py, utils/buffer.py, utils/config.py,
        main.py, and the per-environment commands of README.md L37-47 (halfcheetah: --alpha 40 --beta 2; hopper and
        walker2d: --alpha 2.5 --beta 2; k 1). The nearest neighbour is scipy.spatial.KDTree's, as prdc.py L2 and L46-49
        build it (Debian's python3-scipy 1.10; the authors pin 1.7.3).
  A2PR  ltlhuuu/A2PR @f92a2a4 (Liu et al. 2024): A2PR.py, core/network/actor.py, core/network/critic.py, utils/buffer.py,
        utils/config.py, main.py, and the commands of README.md L72-76 (@f92a2a4) and L44-62 (@a90b9d0) for alpha,
        vae_weight, mask and discount per dataset.
Both: seeds set before the data (utils/config.py: torch.manual_seed, np.random.seed), d4rl.qlearning_dataset rows,
states standardized with std + 1e-3 (ReplayBuffer.normalize_states), rewards as logged (scale 1, shift 0), uniform
batches of 256 drawn with np.random.randint, PyTorch's default initialization everywhere.

The data loader, the OffRL checkpoint writer and the command line are corl_reference.py's (imported, not changed):

    apt-get install -y python3-torch python3-h5py python3-scipy libopenblas0-pthread
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \\
        /usr/bin/python3 bench/reference/authors_reference.py --algo a2pr --dataset hopper-medium-replay.hdf5 \\
        --dataset-name hopper-medium-replay --steps 20000 --seed 0 --snapshot-every 5000 --out runs/a2pr-hmr-0

The last line printed is one JSON object as corl_reference.py's (script_sha256 is this file's; "authors" names the
repository and commit instead of "corl").
"""
import copy, os, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.spatial import KDTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corl_reference as base
from offrl_checkpoint import mlp_tensors, twin_tensors

AUTHORS = {"prdc": "LAMDA-RL/PRDC@9f384640d52ff288e57ced09fc617617b557b3d1", "a2pr": "ltlhuuu/A2PR@f92a2a4e638c0a72718fbc8c67e7a66030db5f9c"}

# (alpha, vae_weight, mask, discount) of the authors' commands (README.md @f92a2a4 L72-76, @a90b9d0 L44-62)
A2PR_COMMANDS = {
    "hopper-medium": (2.5, 1.0, 0.4, 0.995), "hopper-medium-replay": (2.5, 1.5, 0.5, 0.99), "hopper-medium-expert": (2.5, 1.0, 4.0, 0.99),
    "halfcheetah-medium": (40.0, 1.0, 1.0, 0.99), "halfcheetah-medium-replay": (40.0, 1.5, 0.8, 0.995),
    "halfcheetah-medium-expert": (40.0, 1.0, 10.0, 0.99), "walker2d-medium": (2.5, 1.5, 1.0, 0.99),
    "walker2d-medium-replay": (2.5, 1.5, 1.2, 0.995), "walker2d-medium-expert": (2.5, 1.0, 0.8, 0.99),
}


def authors_config(algo, ds):
    """The run's settings: utils/config.py's defaults with the README command's values for the dataset."""
    common = {"batch_size": 256, "tau": 0.005, "policy_noise": 0.2, "noise_clip": 0.5, "policy_freq": 2, "actor_lr": 3e-4,
              "critic_lr": 3e-4, "normalize": True, "normalize_eps": 1e-3, "scale": 1, "shift": 0, "max_timesteps": 1_000_000}
    if algo == "prdc":
        return {**common, "discount": 0.99, "alpha": 40.0 if ds.startswith("halfcheetah") else 2.5, "beta": 2.0, "k": 1}
    if algo == "a2pr":
        alpha, vae_weight, mask, discount = A2PR_COMMANDS[ds]
        return {**common, "discount": discount, "alpha": alpha, "vae_weight": vae_weight, "mask": mask,
                "value_lr": 3e-4,   # A2PR.py L70 (hard-coded)
                "vae_lr": 1e-3}     # A2PR.py L76: Adam's default
    raise ValueError(algo)


def offrl_config(algo, cfg):
    """The OffRL config this run corresponds to (agent.json), so that OffRL rebuilds its modules."""
    common = {"alpha": cfg["alpha"], "batch_size": cfg["batch_size"], "gamma": cfg["discount"], "tau": cfg["tau"],
              "policy_noise": cfg["policy_noise"], "noise_clip": cfg["noise_clip"], "policy_freq": cfg["policy_freq"],
              "actor_lr": cfg["actor_lr"], "critic_lr": cfg["critic_lr"], "normalize_observations": cfg["normalize"],
              "reward_normalization": "none"}
    if algo == "prdc":
        return {**common, "beta": cfg["beta"], "hidden": [256, 256]}
    return {**common, "hidden": [256] * 3, "critic_hidden": [256] * 4, "value_hidden": [256] * 4, "vae_hidden": [750, 750],
            "value_lr": cfg["value_lr"], "vae_lr": cfg["vae_lr"], "vae_weight": cfg["vae_weight"], "mask": cfg["mask"], "kl_weight": 0.5}


def layers(sizes, out_act=None):
    """nn.Linear between sizes with ReLU after every one but the last (the authors' l1, l2, ... with F.relu)."""
    seq = []
    for i in range(len(sizes) - 1):
        seq.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            seq.append(nn.ReLU())
    if out_act is not None:
        seq.append(out_act)
    return nn.Sequential(*seq)


class Td3Core:
    """What PRDC's prdc.py and A2PR's A2PR.py share line for line: the TD3 critic step (L74-101 and L109-134), the
    actor every policy_freq-th call (total_it counted first), the targets after the actor step (L139-152, L206-214)."""

    def __init__(self, cfg, obs_dim, act_dim, actor_hidden, critic_hidden, max_action=1.0):
        self.cfg, self.max_action = cfg, max_action
        self.actor = layers([obs_dim, *actor_hidden, act_dim], nn.Tanh())                    # net/actor.py, core/network/actor.py
        self.actor_target = copy.deepcopy(self.actor)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg["actor_lr"])
        self.q1 = layers([obs_dim + act_dim, *critic_hidden, 1])                             # l1.. then l6.. (one module there)
        self.q2 = layers([obs_dim + act_dim, *critic_hidden, 1])
        self.critic_target = (copy.deepcopy(self.q1), copy.deepcopy(self.q2))
        self.critic_opt = torch.optim.Adam(list(self.q1.parameters()) + list(self.q2.parameters()), lr=cfg["critic_lr"])
        self.policy_noise, self.noise_clip = cfg["policy_noise"] * max_action, cfg["noise_clip"] * max_action   # config.py
        self.total_it = 0

    @staticmethod
    def Q(net, s, a):
        return net(torch.cat([s, a], 1))

    def pi(self, s):
        return self.max_action * self.actor(s)

    def critic_step(self, s, a, r, s2, not_done):
        with torch.no_grad():
            noise = (torch.randn_like(a) * self.policy_noise).clamp(-self.noise_clip, self.noise_clip)
            a2 = (self.max_action * self.actor_target(s2) + noise).clamp(-self.max_action, self.max_action)
            y = r + not_done * self.cfg["discount"] * torch.min(self.Q(self.critic_target[0], s2, a2), self.Q(self.critic_target[1], s2, a2))
        loss = F.mse_loss(self.Q(self.q1, s, a), y) + F.mse_loss(self.Q(self.q2, s, a), y)
        self.critic_opt.zero_grad()
        loss.backward()
        self.critic_opt.step()
        return a2, y

    def actor_step(self, combined_loss):
        self.actor_opt.zero_grad()
        combined_loss.backward()
        self.actor_opt.step()
        for target, net in ((self.critic_target[0], self.q1), (self.critic_target[1], self.q2), (self.actor_target, self.actor)):
            for p, tp in zip(net.parameters(), target.parameters()):
                tp.data.copy_(self.cfg["tau"] * p.data + (1 - self.cfg["tau"]) * tp.data)

    def act(self, s):
        return self.pi(s)

    def modules(self):
        return {"actor": mlp_tensors(self.actor), "actor_target": mlp_tensors(self.actor_target),
                "critic": twin_tensors(self.q1, self.q2), "critic_target": twin_tensors(*self.critic_target)}


class Prdc(Td3Core):
    """prdc.py: TD3+BC whose BC target is the action of the KD-tree's nearest [beta s, a] to [beta s, pi(s)]."""

    def __init__(self, cfg, obs_dim, act_dim, data, max_action=1.0):
        super().__init__(cfg, obs_dim, act_dim, [256, 256], [256, 256], max_action)
        self.act_dim = act_dim
        self.data = np.hstack([cfg["beta"] * data["observations"], data["actions"]])   # main.py L57-59, normalized states
        self.kd_tree = KDTree(self.data)                                                 # prdc.py L46-49

    def update(self, batch):
        s, a, r, s2, not_done = batch
        self.total_it += 1
        self.critic_step(s, a, r, s2, not_done)
        if self.total_it % self.cfg["policy_freq"] == 0:
            pi = self.pi(s)
            q = self.Q(self.q1, s, pi)
            lmbda = self.cfg["alpha"] / q.abs().mean().detach()
            actor_loss = -lmbda * q.mean()
            key = torch.cat([self.cfg["beta"] * s, pi], dim=1).detach().cpu().numpy()
            _, idx = self.kd_tree.query(key, k=[self.cfg["k"]], workers=-1)                 # L113-114: the k-th neighbour
            nearest = torch.tensor(self.data[idx][:, :, -self.act_dim:]).squeeze(dim=1).float()
            self.actor_step(actor_loss + F.mse_loss(pi, nearest))                         # L121-127


class Vae(nn.Module):
    """A2PR.py L10-48: e1, e2, mean, log_std, d1, d2, d3 (built in this order); log-std clamped to [-4, 15]."""

    def __init__(self, state_dim, action_dim, latent_dim, max_action):
        super().__init__()
        self.e1, self.e2 = nn.Linear(state_dim + action_dim, 750), nn.Linear(750, 750)
        self.mean, self.log_std = nn.Linear(750, latent_dim), nn.Linear(750, latent_dim)
        self.d1, self.d2, self.d3 = nn.Linear(state_dim + latent_dim, 750), nn.Linear(750, 750), nn.Linear(750, action_dim)
        self.max_action = max_action

    def forward(self, state, action):
        z = F.relu(self.e2(F.relu(self.e1(torch.cat([state, action], 1)))))
        mean, log_std = self.mean(z), self.log_std(z).clamp(-4, 15)
        std = torch.exp(log_std)
        z = mean + std * torch.randn_like(std)
        return self.decode(state, z), mean, std

    def decode(self, state, z):
        a = F.relu(self.d2(F.relu(self.d1(torch.cat([state, z], 1)))))
        return self.max_action * torch.tanh(self.d3(a))

    def offrl_tensors(self):
        """OffRL's ConditionalVae: encoder layers e1, e2, [mean; log_std] as one output layer; decoder d1, d2, d3."""
        out = {}
        enc = (self.e1, self.e2, None)
        for i, l in enumerate(enc):
            w = torch.cat([self.mean.weight, self.log_std.weight]) if l is None else l.weight
            b = torch.cat([self.mean.bias, self.log_std.bias]) if l is None else l.bias
            out[f"encoder.layers.{i}.weight"], out[f"encoder.layers.{i}.bias"] = w.detach(), b.detach()
        for i, l in enumerate((self.d1, self.d2, self.d3)):
            out[f"decoder.layers.{i}.weight"], out[f"decoder.layers.{i}.bias"] = l.weight.detach(), l.bias.detach()
        return out


class A2pr(Td3Core):
    """A2PR.py: the TD3 core with an actor of 3 x 256 and critics of 4 x 256, a value V(s) of 4 x 256 and a VAE."""

    def __init__(self, cfg, obs_dim, act_dim, data, max_action=1.0):
        super().__init__(cfg, obs_dim, act_dim, [256] * 3, [256] * 4, max_action)          # actor, critic (L55-59)
        self.value = layers([obs_dim, 256, 256, 256, 256, 1])                               # L69-70
        self.value_opt = torch.optim.Adam(self.value.parameters(), lr=cfg["value_lr"])
        self.vae = Vae(obs_dim, act_dim, 2 * act_dim, max_action)                            # L73-76
        self.vae_opt = torch.optim.Adam(self.vae.parameters(), lr=cfg["vae_lr"])

    def update(self, batch):
        s, a, r, s2, not_done = batch
        self.total_it += 1
        a2, target_q = self.critic_step(s, a, r, s2, not_done)
        with torch.no_grad():                                                                # L136-146
            targ_q = r + not_done * self.cfg["discount"] * torch.min(self.Q(self.q1, s2, a2), self.Q(self.q2, s2, a2))
            t_q = torch.min(targ_q, target_q)
        value = self.value(s)
        value_loss = F.mse_loss(value, t_q)
        self.value_opt.zero_grad()
        value_loss.backward()
        self.value_opt.step()
        recon, mean, std = self.vae(s, a)                                                    # L148-160
        q_vae = self.Q(self.q1, s, a)
        weight_emb = self.cfg["vae_weight"] * (q_vae > value)
        recon_loss = (weight_emb * torch.square(recon - a)).mean()
        kl_loss = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2)).mean()
        vae_loss = recon_loss + 0.5 * kl_loss
        self.vae_opt.zero_grad()
        vae_loss.backward()
        self.vae_opt.step()
        if self.total_it % self.cfg["policy_freq"] == 0:                                     # L167-191
            pi = self.pi(s)
            q = self.Q(self.q1, s, pi)
            lmbda = self.cfg["alpha"] / q.abs().mean().detach()
            actor_loss = -lmbda * q.mean()
            recon_pi, _, _ = self.vae(s, pi)
            q_new = self.Q(self.q1, s, a)
            advantage_action = q_new - value
            q_pi = self.Q(self.q1, s, recon_pi)
            advantage_pi = q_pi - value
            embedding = recon_pi * (advantage_pi >= advantage_action) + a * (advantage_action > advantage_pi)
            adv = self.cfg["mask"] * ((q_pi.detach() >= value.detach()).float() + (q_new.detach() > value.detach()).float())
            bc_loss = (torch.square(pi - embedding) * adv).mean()
            self.actor_step(actor_loss + bc_loss)

    def modules(self):
        return {**super().modules(), "value": mlp_tensors(self.value), "vae": self.vae.offrl_tensors()}


class Buffer:
    """utils/buffer.py: convert_D4RL, normalize_states(eps=1e-3) (mean and std over the rows' states, applied to
    states and next states), sample = np.random.randint indices, reward scale * r + shift."""

    def __init__(self, data, cfg):
        self.state, self.action = data["observations"], data["actions"]
        self.next_state, self.reward = data["next_observations"], data["rewards"].reshape(-1, 1)
        self.not_done = 1.0 - data["terminals"].reshape(-1, 1)
        self.size, self.cfg = self.state.shape[0], cfg
        self.mean, self.std = np.zeros((1, self.state.shape[1])), np.ones((1, self.state.shape[1]))
        if cfg["normalize"]:
            self.mean = self.state.mean(0, keepdims=True)
            self.std = self.state.std(0, keepdims=True) + cfg["normalize_eps"]
            self.state = (self.state - self.mean) / self.std
            self.next_state = (self.next_state - self.mean) / self.std

    def sample(self, batch_size):
        ind = np.random.randint(0, self.size, size=batch_size)
        t = lambda x: torch.FloatTensor(x[ind])
        return t(self.state), t(self.action), self.cfg["scale"] * t(self.reward) + self.cfg["shift"], t(self.next_state), t(self.not_done)


def main():
    import argparse, json, math, time
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algo", choices=tuple(AUTHORS), required=True)
    p.add_argument("--dataset", required=True, help="D4RL-layout HDF5 file (offrl dataset convert NAME FILE.hdf5)")
    p.add_argument("--dataset-name", required=True, help=f"which command applies: {', '.join(base.DATASETS)}")
    p.add_argument("--steps", type=int, required=True, help="gradient updates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=0, help="write DIR/step-K every K updates (OffRL checkpoints)")
    p.add_argument("--out", required=True, help="folder: the final agent, and step-K snapshots")
    p.add_argument("--checkpoint-every", type=int, default=0, help="write OUT/resume.pt every K updates")
    p.add_argument("--resume", action="store_true", help="go on from OUT/resume.pt when it is there")
    a = p.parse_args()
    if a.steps < 1 or a.snapshot_every < 0 or a.checkpoint_every < 0:
        sys.exit("error: --steps must be >= 1, --snapshot-every and --checkpoint-every >= 0")
    ds = base.dataset_key(a.dataset_name)
    cfg = authors_config(a.algo, ds)
    torch.manual_seed(a.seed)                                  # utils/config.py: before the data and the networks
    np.random.seed(a.seed)
    data, space = base.qlearning_dataset(a.dataset)
    base.check_action_space(space, data["actions"])
    buffer = Buffer(data, cfg)
    obs_dim, act_dim = buffer.state.shape[1], buffer.action.shape[1]
    normalized = {"observations": buffer.state, "actions": buffer.action}
    agent = (Prdc if a.algo == "prdc" else A2pr)(cfg, obs_dim, act_dim, normalized)
    run = {"obs_dim": obs_dim, "act_dim": act_dim, "mean": buffer.mean[0].astype(np.float64), "std": buffer.std[0].astype(np.float64),
           "reward_scale": float(cfg["scale"]), "reward_shift": float(cfg["shift"]), "offrl_config": offrl_config(a.algo, cfg),
           "probe": torch.FloatTensor(buffer.state[:64])}

    resume_file, first, earlier, data_sha = os.path.join(a.out, "resume.pt"), 1, 0.0, base.sha256_file(a.dataset)
    if a.resume and os.path.exists(resume_file):
        state = torch.load(resume_file, weights_only=False)
        if (state["algo"], state["dataset_sha256"], state["seed"]) != (a.algo, data_sha, a.seed):
            sys.exit(f"error: {resume_file} is another run's (algo, dataset or seed differ)")
        first, earlier = state["step"] + 1, state["seconds"]
        for name in ("actor", "actor_target", "q1", "q2", "value", "vae"):
            if hasattr(agent, name):
                getattr(agent, name).load_state_dict(state["nets"][name])
        for i, net in enumerate(agent.critic_target):
            net.load_state_dict(state["nets"][f"critic_target{i}"])
        for name in ("actor_opt", "critic_opt", "value_opt", "vae_opt"):
            if hasattr(agent, name):
                getattr(agent, name).load_state_dict(state["nets"][name])
        agent.total_it = state["total_it"]
        np.random.set_state(state["numpy"]); torch.set_rng_state(state["torch"])
        print(f"[{a.algo} {ds}] going on from {resume_file} at step {state['step']}", flush=True)
    start = time.perf_counter()
    for t in range(first, a.steps + 1):
        agent.update(buffer.sample(cfg["batch_size"]))
        if a.snapshot_every and t % a.snapshot_every == 0:
            base.save(agent, a.algo, run, t, os.path.join(a.out, f"step-{t}"))
        if a.checkpoint_every and t % a.checkpoint_every == 0 and t < a.steps:
            os.makedirs(a.out, exist_ok=True)
            nets = {n: getattr(agent, n).state_dict() for n in ("actor", "actor_target", "q1", "q2", "value", "vae",
                                                                 "actor_opt", "critic_opt", "value_opt", "vae_opt") if hasattr(agent, n)}
            nets.update({f"critic_target{i}": net.state_dict() for i, net in enumerate(agent.critic_target)})
            torch.save({"algo": a.algo, "dataset_sha256": data_sha, "seed": a.seed, "step": t, "nets": nets, "total_it": agent.total_it,
                        "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                        "seconds": earlier + time.perf_counter() - start}, resume_file + ".tmp")
            os.replace(resume_file + ".tmp", resume_file)
        if t % 1000 == 0:
            print(f"[{a.algo} {ds}] step {t}/{a.steps}  {(t - first + 1) / (time.perf_counter() - start):.1f} updates/s", flush=True)
    secs = earlier + time.perf_counter() - start
    base.save(agent, a.algo, run, a.steps, a.out)
    if os.path.exists(resume_file):
        os.remove(resume_file)
    print(json.dumps({"algo": a.algo, "dataset": ds, "steps": a.steps, "seed": a.seed, "updates_per_s": a.steps / secs,
                      "seconds": secs, "transitions": buffer.size, "torch": torch.__version__,
                      "script_sha256": base.sha256_file(os.path.abspath(__file__)), "dataset_sha256": data_sha,
                      "authors": AUTHORS[a.algo], "config": cfg}))


if __name__ == "__main__":
    main()
