#!/usr/bin/python3
"""Independent PyTorch reference of CORL's offline algorithms, for OffRL's parity runs (issue 34).

Written from CORL's protocol facts (tinkoff-ai/CORL @6afec90, the configs under configs/offline/ and the single-file
scripts under algorithms/offline/; facts in /work/shared-notes/corl-presets.md with file:line references), never
from OffRL's code or defaults: per-dataset configs as CORL's YAMLs give them, data as d4rl.qlearning_dataset yields
it, CORL's preprocessing (observation standardization, reward range normalization, %BC's trajectory filter), CORL's
networks, initializations, losses and update orders (SAC-N and EDAC: sac_n.py and edac.py; ReBRAC: rebrac.py, JAX,
translated to PyTorch; RIQL: the authors' RIQL.py, YangRui2015/RIQL @cc07d81, on clean data; issue 36). Only the output is OffRL's: every --snapshot-every steps the
actor (and the other networks) are written as an OffRL checkpoint folder (agent.json with the OffRL config that
matches CORL's preset, preprocessing.json, one safetensors file per module in OffRL's names and layouts), so that
`offrl eval --checkpoint DIR/step-K --env ENV` evaluates the policy in OffRL's environment (Python here has no
MuJoCo bindings; CORL's own evaluation loop cannot run).

    apt-get install -y python3-torch python3-h5py libopenblas0-pthread
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \\
        /usr/bin/python3 bench/reference/corl_reference.py --algo iql --dataset hopper-medium.hdf5 \\
        --dataset-name hopper-medium --steps 20000 --seed 0 --snapshot-every 5000 --out runs/iql-hopper-medium-0

--checkpoint-every K writes OUT/resume.pt every K updates (the agent with its optimizers, and the numpy, random and
torch generators' states); --resume goes on from it when it is there: the same updates as a run in one go, so a long
run (CQL: about an hour) can span sessions.

The last line printed is one JSON object: algo, dataset, steps, seed, updates_per_s, script_sha256 (this file),
dataset_sha256 (the HDF5 file) and config (the CORL config used, CORL's field names; the seed is not in it, so
runs of one cell share it).

What it cannot follow (see bench/README.md, "Parity with PyTorch"): CORL evaluates in D4RL's gym environments,
re-seeded with the run's seed at every evaluation; here OffRL's environment and `offrl eval`'s episode seeds do.
CORL runs 1M updates; here --steps (the IQL cosine schedule still spans CORL's max_timesteps = 1M). Random streams
(torch's and numpy's) are the same generators CORL seeds, but the sequence of draws is not claimed to match CORL's.
"""
from offrl_checkpoint import linears, mlp_tensors, safetensors_bytes, twin_tensors, write_atomic
import argparse, copy, hashlib, json, math, os, random, struct, sys, time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)   # one process per core (bench/parity.sh pins each process with taskset)

CORL = "tinkoff-ai/CORL@6afec90484bbf47dee05fdf525e26a3ebe028e9b"
ALGOS = ("td3bc", "iql", "cql", "bc", "pbc", "awac", "sac-n", "edac", "rebrac", "riql")
ENVS = ("hopper", "halfcheetah", "walker2d")
KINDS = ("medium", "medium-replay", "medium-expert")
DATASETS = tuple(f"{e}-{k}" for e in ENVS for k in KINDS)
MAX_EPISODE_STEPS = 1000   # D4RL locomotion time limit; CORL's modify_reward / keep_best_trajectories default

# ================================================================================================================
# 1. CORL's per-dataset configs: configs/offline/<algo>/<env>/<dataset>_v2.yaml, plus the values the scripts
#    hard-code. Keys are CORL's field names. Training-relevant fields only (no eval/wandb/checkpoint fields, no seed).


def dataset_key(name):
    """'hopper-medium-replay', 'hopper_medium_replay-v2', 'hopper-medium-replay-v2' -> 'hopper-medium-replay'."""
    key = name.strip().lower().replace("_", "-")
    if key.endswith("-v2"):
        key = key[:-3]
    if key not in DATASETS:
        sys.exit(f"error: --dataset-name: unknown dataset '{name}' (CORL's locomotion presets: {', '.join(DATASETS)})")
    return key


def corl_config(algo, ds):
    env = ds.split("-")[0]
    common = {"env": f"{ds}-v2", "batch_size": 256, "buffer_size": 10_000_000, "max_timesteps": 1_000_000, "normalize": True}
    if algo == "td3bc":
        # configs/offline/td3_bc/*/*_v2.yaml: all nine identical
        return {**common, "alpha": 2.5, "discount": 0.99, "tau": 0.005, "policy_noise": 0.2, "noise_clip": 0.5,
                "policy_freq": 2, "normalize_reward": False,
                "actor_lr": 3e-4, "critic_lr": 3e-4,   # td3_bc.py L435-440: hard-coded Adam lr 3e-4 (not in the YAML)
                "hidden": [256, 256]}                  # td3_bc.py L225-263
    if algo == "iql":
        # configs/offline/iql/*/*_v2.yaml: hopper medium and medium-replay differ (deterministic actor, reward
        # normalization, tau 0.001), hopper medium-expert differs (beta 6, iql_tau 0.5); the other six share one set
        cfg = {**common, "actor_lr": 3e-4, "qf_lr": 3e-4, "vf_lr": 3e-4, "discount": 0.99, "actor_dropout": None,
               "beta": 3.0, "iql_tau": 0.7, "iql_deterministic": False, "normalize_reward": False, "tau": 0.005,
               "hidden": [256, 256],              # iql.py L246-371: MLP 256-256, TwinQ, ValueFunction
               "EXP_ADV_MAX": 100.0, "LOG_STD_MIN": -20.0, "LOG_STD_MAX": 2.0}   # iql.py L25-27
        if ds in ("hopper-medium", "hopper-medium-replay"):
            cfg.update(iql_deterministic=True, normalize_reward=True, tau=0.001)
        elif ds == "hopper-medium-expert":
            cfg.update(beta=6.0, iql_tau=0.5)
        return cfg
    if algo == "cql":
        # configs/offline/cql/*/*_v2.yaml: all nine identical except hopper-medium (normalize_reward: true)
        return {**common, "alpha_multiplier": 1.0, "use_automatic_entropy_tuning": True, "backup_entropy": False,
                "bc_steps": 0, "cql_alpha": 10.0, "cql_n_actions": 10, "cql_importance_sample": True,
                "cql_lagrange": False, "cql_target_action_gap": -1.0, "cql_temp": 1.0, "cql_max_target_backup": False,
                "cql_clip_diff_min": -math.inf, "cql_clip_diff_max": math.inf, "discount": 0.99, "policy_lr": 3e-5,
                "qf_lr": 3e-4, "soft_target_update_rate": 0.005, "target_update_period": 1, "orthogonal_init": True,
                "q_n_hidden_layers": 3, "normalize_reward": ds == "hopper-medium", "reward_scale": 1.0,
                "reward_bias": 0.0,
                "policy_log_std_multiplier": 1.0,   # cql.py TrainConfig default (absent from the YAMLs)
                "policy_log_std_offset": -1.0,      # TanhGaussianPolicy default (cql.py L319-383)
                "LOG_STD_MIN": -20.0, "LOG_STD_MAX": 2.0}   # ReparameterizedTanhGaussian defaults (cql.py L274-316)
    if algo in ("bc", "pbc"):
        # configs/offline/bc/* (frac 1.0, discount 0.99) and configs/offline/bc_10/* (frac 0.1, discount 1.0)
        frac, discount = (1.0, 0.99) if algo == "bc" else (0.1, 1.0)
        return {**common, "frac": frac, "discount": discount,
                "max_traj_len": 1000,   # in the YAML but never passed (any_percent_bc.py L308): the default 1000 rules
                "actor_lr": 3e-4,       # any_percent_bc.py L343: hard-coded
                "hidden": [256, 256]}   # any_percent_bc.py L228-249
    if algo == "awac":
        # configs/offline/awac/*/*_v2.yaml: all nine identical; AWAC's own field names
        return {"env_name": f"{ds}-v2", "batch_size": 256, "buffer_size": 10_000_000, "num_train_ops": 1_000_000,
                "awac_lambda": 0.3333, "gamma": 0.99, "tau": 0.005, "hidden_dim": 256, "learning_rate": 3e-4,
                "deterministic_torch": True, "normalize_reward": False,
                "normalize": True,        # awac.py L406-413: always normalizes observations (no flag)
                "exp_adv_max": 100.0,     # AdvantageWeightedActorCritic default
                "min_log_std": -20.0, "max_log_std": 2.0, "min_action": -1.0, "max_action": 1.0}   # awac.py L114-167
    if algo in ("sac-n", "edac"):
        # configs/offline/{sac_n,edac}/<env>/<dataset>_v2.yaml: num_critics (and EDAC's eta) per dataset; the rest shared
        env_n = {"hopper": 50, "halfcheetah": 10, "walker2d": 10} if algo == "edac" else \
            {"hopper": 200, "halfcheetah": 10, "walker2d": 20}
        n = 500 if (algo, ds) == ("sac-n", "hopper-medium") else env_n[env]
        eta = 0.0 if algo == "sac-n" else (5.0 if ds in ("halfcheetah-medium-expert", "walker2d-medium-expert") else 1.0)
        return {"env_name": f"{ds}-v2", "batch_size": 256, "buffer_size": 1_000_000, "num_critics": n, "eta": eta,
                "actor_learning_rate": 3e-4, "critic_learning_rate": 3e-4, "alpha_learning_rate": 3e-4, "gamma": 0.99,
                "tau": 0.005, "hidden_dim": 256, "max_action": 1.0, "normalize_reward": False, "num_epochs": 3000,
                "num_updates_on_epoch": 1000,
                "normalize": False}   # sac_n.py / edac.py: no observation normalization
    if algo == "rebrac":
        # configs/offline/rebrac/<env>/<dataset>_v2.yaml: actor_bc_coef (L1) and critic_bc_coef (L6) per dataset, the rest shared
        coefs = {"hopper-medium": (0.01, 0.01), "hopper-medium-replay": (0.05, 0.5), "hopper-medium-expert": (0.1, 0.01),
                 "halfcheetah-medium": (0.001, 0.01), "halfcheetah-medium-replay": (0.01, 0.001), "halfcheetah-medium-expert": (0.01, 0.1),
                 "walker2d-medium": (0.05, 0.1), "walker2d-medium-replay": (0.05, 0.01), "walker2d-medium-expert": (0.01, 0.01)}
        actor_bc, critic_bc = coefs[ds]
        return {"dataset_name": f"{ds}-v2", "actor_bc_coef": actor_bc, "critic_bc_coef": critic_bc, "actor_learning_rate": 1e-3,
                "critic_learning_rate": 1e-3, "actor_ln": False, "critic_ln": True, "actor_n_hiddens": 3, "critic_n_hiddens": 3,
                "hidden_dim": 256, "batch_size": 1024, "gamma": 0.99, "tau": 0.005, "policy_noise": 0.2, "noise_clip": 0.5,
                "policy_freq": 2, "normalize_q": True, "normalize_reward": False, "num_epochs": 1000, "num_updates_on_epoch": 1000,
                "num_critics": 2,          # rebrac.py main: EnsembleCritic(num_critics=2)
                "normalize": False}        # normalize_states: false
    if algo == "riql":
        # RIQL.py TrainConfig L41-77 with RIQL_config.py L3 for clean data (num_critics 5; sigma 1, quantile 0.25 kept)
        return {"env": f"{ds}-v2", "batch_size": 256, "buffer_size": 2_000_000, "max_timesteps": 3_000_000, "discount": 0.99,
                "soft_target_update_rate": 0.005, "learning_rate": 3e-4, "beta": 3.0, "iql_tau": 0.7, "iql_deterministic": True,
                "normalize": True, "num_critics": 5, "sigma": 1.0, "quantile": 0.25, "hidden_dim": 256, "n_hidden": 2,
                "EXP_ADV_MAX": 100.0,           # RIQL.py L27
                "target_clip": [-100, 1000],    # _update_q L520-524
                "normalize_reward": False}      # no modify_reward call in RIQL.py
    raise ValueError(algo)


def offrl_config(algo, cfg):
    """The OffRL config (field names of `offrl list --fields ALGO`) that the CORL config above corresponds to,
    written into agent.json so that OffRL can rebuild this actor's module (fields not named keep OffRL's defaults:
    they concern training, which OffRL does not redo when it evaluates a checkpoint)."""
    rn = lambda c: {"reward_normalization": "return_range", "return_segments": "corl"} if c["normalize_reward"] \
        else {"reward_normalization": "none"}
    if algo == "td3bc":
        return {"alpha": cfg["alpha"], "batch_size": cfg["batch_size"], "gamma": cfg["discount"], "tau": cfg["tau"],
                "policy_noise": cfg["policy_noise"], "noise_clip": cfg["noise_clip"], "policy_freq": cfg["policy_freq"],
                "actor_lr": cfg["actor_lr"], "critic_lr": cfg["critic_lr"], "hidden": cfg["hidden"],
                "normalize_observations": cfg["normalize"], **rn(cfg)}
    if algo == "iql":
        return {"actor_lr": cfg["actor_lr"], "critic_lr": cfg["qf_lr"], "value_lr": cfg["vf_lr"],
                "batch_size": cfg["batch_size"], "gamma": cfg["discount"], "hidden": cfg["hidden"],
                "normalize_observations": cfg["normalize"], "log_std_min": cfg["LOG_STD_MIN"],
                "max_weight": cfg["EXP_ADV_MAX"], "cosine_actor_lr_steps": cfg["max_timesteps"],
                "expectile": cfg["iql_tau"], "beta": cfg["beta"], "deterministic_actor": cfg["iql_deterministic"],
                "tau": cfg["tau"], **rn(cfg)}
    if algo == "cql":
        out = {"cql_alpha": cfg["cql_alpha"], "sampled_actions": cfg["cql_n_actions"], "cql_temperature": cfg["cql_temp"],
               "lagrange": cfg["cql_lagrange"], "bc_steps": cfg["bc_steps"], "backup_entropy": cfg["backup_entropy"],
               "actor_lr": cfg["policy_lr"], "alpha_lr": cfg["policy_lr"], "critic_lr": cfg["qf_lr"],
               "tau": cfg["soft_target_update_rate"], "batch_size": cfg["batch_size"], "gamma": cfg["discount"],
               "hidden": [256] * 3, "normalize_observations": cfg["normalize"], "log_std_min": cfg["LOG_STD_MIN"],
               "log_std_offset": cfg["policy_log_std_offset"], "orthogonal_critic_init": cfg["orthogonal_init"],
               "actor_output_gain": 0.01, "actor_before_critic": True, **rn(cfg)}
        if cfg["normalize_reward"]:
            out.update(reward_scale=cfg["reward_scale"], reward_bias=cfg["reward_bias"])
        return out
    if algo in ("bc", "pbc"):
        return {"top_fraction": cfg["frac"], "rank_discount": cfg["discount"], "return_segments": "corl",
                "lr": cfg["actor_lr"], "batch_size": cfg["batch_size"], "hidden": cfg["hidden"],
                "normalize_observations": cfg["normalize"], "reward_normalization": "none"}
    if algo == "awac":
        return {"lambda": cfg["awac_lambda"], "actor_lr": cfg["learning_rate"], "critic_lr": cfg["learning_rate"],
                "batch_size": cfg["batch_size"], "gamma": cfg["gamma"], "tau": cfg["tau"], "hidden": [cfg["hidden_dim"]] * 3,
                "max_weight": cfg["exp_adv_max"], "log_std_min": cfg["min_log_std"], "tanh_mean": False,
                "normalize_observations": True, "reward_normalization": "none"}
    if algo in ("sac-n", "edac"):
        return {"num_critics": cfg["num_critics"], "eta": cfg["eta"], "hidden": [cfg["hidden_dim"]] * 3,
                "actor_lr": cfg["actor_learning_rate"], "critic_lr": cfg["critic_learning_rate"], "alpha_lr": cfg["alpha_learning_rate"],
                "batch_size": cfg["batch_size"], "gamma": cfg["gamma"], "tau": cfg["tau"], "log_std_min": -5.0,
                "temperature_first": True, "hidden_bias": 0.1, "critic_output_uniform": 3e-3, "actor_output_uniform": 1e-3,
                "squash_epsilon": 1e-6, "critic_weights_by_outputs": True, "normalize_observations": False, "reward_normalization": "none"}
    if algo == "rebrac":
        return {"actor_bc_coef": cfg["actor_bc_coef"], "critic_bc_coef": cfg["critic_bc_coef"], "actor_lr": cfg["actor_learning_rate"],
                "critic_lr": cfg["critic_learning_rate"], "actor_layer_norm": cfg["actor_ln"], "critic_layer_norm": cfg["critic_ln"],
                "hidden": [cfg["hidden_dim"]] * cfg["actor_n_hiddens"], "batch_size": cfg["batch_size"], "gamma": cfg["gamma"],
                "tau": cfg["tau"], "policy_noise": cfg["policy_noise"], "noise_clip": cfg["noise_clip"], "policy_freq": cfg["policy_freq"],
                "normalize_q": cfg["normalize_q"], "num_critics": cfg["num_critics"], "normalize_observations": False,
                "reward_normalization": "none"}
    if algo == "riql":
        return {"num_critics": cfg["num_critics"], "quantile": cfg["quantile"], "huber_sigma": cfg["sigma"], "target_min": cfg["target_clip"][0],
                "target_max": cfg["target_clip"][1], "expectile": cfg["iql_tau"], "beta": cfg["beta"], "max_weight": cfg["EXP_ADV_MAX"],
                "deterministic_actor": cfg["iql_deterministic"], "actor_lr": cfg["learning_rate"], "critic_lr": cfg["learning_rate"],
                "value_lr": cfg["learning_rate"], "cosine_actor_lr_steps": cfg["max_timesteps"], "batch_size": cfg["batch_size"],
                "gamma": cfg["discount"], "tau": cfg["soft_target_update_rate"], "hidden": [cfg["hidden_dim"]] * cfg["n_hidden"],
                "normalize_observations": cfg["normalize"], "stats_with_next_observations": True, "reward_normalization": "none"}
    raise ValueError(algo)


# ================================================================================================================
# 2. Data, as CORL gets it and preprocesses it.


def qlearning_dataset(path, next_actions=False):
    """d4rl.qlearning_dataset(env) with terminate_on_end=False (D4RL d4rl/__init__.py L69-129): for each row i but
    the last, the transition (obs[i], act[i], rew[i], obs[i+1], terminal[i]), skipping rows whose timeout flag is set
    (without a timeouts field: the row that ends a 1000-step episode). next_observations come from observations[i+1],
    not from the file's next_observations field; terminals are the true terminations only. With next_actions (CORL's
    ReBRAC loader, rebrac.py L202-258), also actions[i+1]."""
    with h5py.File(path, "r") as f:
        obs = f["observations"][:].astype(np.float32)
        act = f["actions"][:].astype(np.float32)
        rew = f["rewards"][:].astype(np.float32).reshape(-1)
        term = f["terminals"][:].astype(bool).reshape(-1)
        timeouts = f["timeouts"][:].astype(bool).reshape(-1) if "timeouts" in f else None
        space = f.attrs.get("action_space")
    n = len(rew)
    if timeouts is not None:
        keep = ~timeouts[: n - 1]
    else:   # D4RL's fallback: final_timestep = (episode_step == max_episode_steps - 1)
        keep, step = np.ones(n - 1, bool), 0
        for i in range(n - 1):
            if step == MAX_EPISODE_STEPS - 1:
                keep[i], step = False, 0
                continue
            step = 0 if term[i] else step + 1
    idx = np.flatnonzero(keep)
    out = {"observations": obs[idx], "actions": act[idx], "next_observations": obs[idx + 1],
           "rewards": rew[idx].copy(), "terminals": term[idx]}
    if next_actions:
        out["next_actions"] = act[idx + 1]
    return out, space


def return_range(rewards, terminals, max_episode_steps=MAX_EPISODE_STEPS):
    """CORL's return_reward_range (iql.py L209-221, cql.py L223-236; from gwthomas/IQL-PyTorch src/util.py L63-76):
    walk the rows, close a segment at a terminal or when it reaches 1000 rows; the trailing incomplete segment is
    left out. Returns (min, max) of the segments' undiscounted returns."""
    returns, ret, length = [], 0.0, 0
    for r, d in zip(rewards, terminals):
        ret += float(r)
        length += 1
        if d or length == max_episode_steps:
            returns.append(ret)
            ret, length = 0.0, 0
    if not returns:
        sys.exit("error: reward normalization: no complete segment (terminal or 1000 rows) in the dataset")
    return min(returns), max(returns)


def modify_reward(data, cfg, algo):
    """CORL's modify_reward for locomotion (td3_bc L201-222 = iql L209-230 = awac L360-381; cql L223-249), applied
    only when the config's normalize_reward is set: rewards / (max_ret - min_ret) * 1000 (in place, float32), then
    CQL's r * reward_scale + reward_bias. Returns the (scale, shift) applied, for preprocessing.json."""
    if not cfg.get("normalize_reward"):
        return 1.0, 0.0
    lo, hi = return_range(data["rewards"], data["terminals"])
    data["rewards"] /= hi - lo
    data["rewards"] *= MAX_EPISODE_STEPS
    scale, shift = MAX_EPISODE_STEPS / (hi - lo), 0.0
    if algo == "cql":   # cql.py L249: r * reward_scale + reward_bias (YAML: 1.0, 0.0)
        data["rewards"] = data["rewards"] * cfg["reward_scale"] + cfg["reward_bias"]
        scale, shift = scale * cfg["reward_scale"], cfg["reward_bias"]
    return scale, shift


def keep_best_trajectories(data, frac, discount, max_episode_steps=MAX_EPISODE_STEPS):
    """any_percent_bc.py L192-225: segments closed at a terminal or at 1000 rows (max_episode_steps keeps its
    default: config.max_traj_len is never passed, L308); the trailing incomplete segment is dropped even for
    frac=1; each segment's return is sum(discount^t r_t); the best max(1, int(frac * N)) segments are kept,
    best first, their rows concatenated."""
    segments, returns, ids, ret, w = [], [], [], 0.0, 1.0
    for i, (r, d) in enumerate(zip(data["rewards"], data["terminals"])):
        ret += w * float(r)
        ids.append(i)
        w *= discount
        if d or len(ids) == max_episode_steps:
            segments.append(ids)
            returns.append(ret)
            ids, ret, w = [], 0.0, 1.0
    if not segments:
        sys.exit("error: %BC: no complete segment (terminal or 1000 rows) in the dataset")
    order = np.argsort(returns, axis=0)[::-1].reshape(-1)   # descending return
    top = order[: max(1, int(frac * len(order)))]
    rows = np.array([i for s in top for i in segments[s]])
    for k in ("observations", "actions", "next_observations", "rewards", "terminals"):
        data[k] = data[k][rows]


def observation_stats(obs, normalize, next_obs=None):
    """compute_mean_std(observations, eps=1e-3) (td3_bc L63-66): numpy mean and std (ddof 0) of the float32
    observations, std + 1e-3; with normalize=False, mean 0 and std 1. RIQL (RIQL.py L625-626) takes them over the
    observations and next observations concatenated (next_obs given)."""
    if not normalize:
        return np.zeros(obs.shape[1], np.float32), np.ones(obs.shape[1], np.float32)
    if next_obs is not None:
        obs = np.concatenate([obs, next_obs], axis=0)
    return obs.mean(0), obs.std(0) + 1e-3


class ReplayBuffer:
    """CORL's ReplayBuffer: float32 tensors, rewards and dones as [N, 1]; sample draws batch_size indices uniformly
    with replacement with np.random.randint (td3_bc.py ReplayBuffer.sample). With next actions in the data (ReBRAC),
    the batch carries them last."""

    def __init__(self, data):
        t = lambda x: torch.tensor(np.asarray(x, dtype=np.float32))
        self.obs, self.act, self.next = t(data["observations"]), t(data["actions"]), t(data["next_observations"])
        self.rew, self.done = t(data["rewards"]).reshape(-1, 1), t(data["terminals"]).reshape(-1, 1)
        self.next_act = t(data["next_actions"]) if "next_actions" in data else None
        self.n = self.obs.shape[0]

    def sample(self, batch_size):
        i = np.random.randint(0, self.n, size=batch_size)
        batch = (self.obs[i], self.act[i], self.rew[i], self.next[i], self.done[i])
        return batch if self.next_act is None else batch + (self.next_act[i],)


# ================================================================================================================
# 3. Networks (PyTorch default init unless stated).


def mlp(sizes, out_act=None):
    """Linear-ReLU between sizes[0] .. sizes[-1], no activation after the last Linear unless out_act."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def q_value(net, s, a):
    """Q(s, a) on cat([s, a], -1) (every CORL critic concatenates the state first)."""
    return net(torch.cat([s, a], -1))


def soft_update(target, source, tau):
    """target <- (1 - tau) target + tau source (CORL's soft_update)."""
    with torch.no_grad():
        for t, p in zip(target.parameters(), source.parameters()):
            t.copy_((1 - tau) * t + tau * p)


def frozen(module):
    c = copy.deepcopy(module)
    for p in c.parameters():
        p.requires_grad_(False)
    return c


# ================================================================================================================
# 4. The algorithms: each builds its networks in CORL's order, makes one update per call (batch as CORL's buffer
#    gives it: s, a, r [B,1], s', done [B,1]), and names its networks in OffRL's module layout.


class Td3Bc:
    """algorithms/offline/td3_bc.py."""

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg, self.max_action = cfg, max_action
        h = cfg["hidden"]
        # L225-263: actor Linear-ReLU-Linear-ReLU-Linear-Tanh (x max_action); two separate critics; built after set_seed
        self.actor = mlp([obs_dim, *h, act_dim], nn.Tanh())
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg["actor_lr"])
        self.critic_1 = mlp([obs_dim + act_dim, *h, 1])
        self.critic_1_opt = torch.optim.Adam(self.critic_1.parameters(), lr=cfg["critic_lr"])
        self.critic_2 = mlp([obs_dim + act_dim, *h, 1])
        self.critic_2_opt = torch.optim.Adam(self.critic_2.parameters(), lr=cfg["critic_lr"])
        self.actor_target, self.critic_1_target, self.critic_2_target = map(frozen, (self.actor, self.critic_1, self.critic_2))
        # L454-455: policy_noise and noise_clip are multiplied by max_action
        self.policy_noise, self.noise_clip = cfg["policy_noise"] * max_action, cfg["noise_clip"] * max_action
        self.total_it = 0

    def pi(self, s):
        return self.max_action * self.actor(s)

    def update(self, batch):
        s, a, r, s2, done = batch
        self.total_it += 1                                            # L307: counts from 1
        with torch.no_grad():                                         # L313-324: smoothed target action, clipped double Q
            noise = (torch.randn_like(a) * self.policy_noise).clamp(-self.noise_clip, self.noise_clip)
            a2 = (self.max_action * self.actor_target(s2) + noise).clamp(-self.max_action, self.max_action)
            target_q = torch.min(q_value(self.critic_1_target, s2, a2), q_value(self.critic_2_target, s2, a2))
            y = r + (1 - done) * self.cfg["discount"] * target_q
        critic_loss = F.mse_loss(q_value(self.critic_1, s, a), y) + F.mse_loss(q_value(self.critic_2, s, a), y)   # L333
        self.critic_1_opt.zero_grad(); self.critic_2_opt.zero_grad()
        critic_loss.backward()
        self.critic_1_opt.step(); self.critic_2_opt.step()
        if self.total_it % self.cfg["policy_freq"] == 0:              # L343-359: every 2nd step, first at step 2
            pi = self.pi(s)
            q = q_value(self.critic_1, s, pi)                         # critic_1 after this step's critic update
            lmbda = self.cfg["alpha"] / q.abs().mean().detach()
            actor_loss = -lmbda * q.mean() + F.mse_loss(pi, a)
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            soft_update(self.critic_1_target, self.critic_1, self.cfg["tau"])   # targets only on actor steps
            soft_update(self.critic_2_target, self.critic_2, self.cfg["tau"])
            soft_update(self.actor_target, self.actor, self.cfg["tau"])

    def act(self, s):
        return self.pi(s)

    def modules(self):
        return {"actor": mlp_tensors(self.actor), "actor_target": mlp_tensors(self.actor_target),
                "critic": twin_tensors(self.critic_1, self.critic_2),
                "critic_target": twin_tensors(self.critic_1_target, self.critic_2_target)}


class Iql:
    """algorithms/offline/iql.py."""

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg, self.max_action = cfg, max_action
        h = cfg["hidden"]
        # L345-371, L561-574: TwinQ (two MLPs, Q = min), ValueFunction, then the actor; default init
        self.q1, self.q2 = mlp([obs_dim + act_dim, *h, 1]), mlp([obs_dim + act_dim, *h, 1])
        self.v = mlp([obs_dim, *h, 1])
        # L281-342: mean MLP with Tanh output; the Gaussian policy adds a state-independent log_std (init 0, clamped
        # to [-20, 2], no tanh squashing of the distribution); the deterministic policy is the same MLP alone.
        # (actor_dropout is None in every YAML.)
        self.mean = mlp([obs_dim, *h, act_dim], nn.Tanh())
        self.deterministic = cfg["iql_deterministic"]
        self.log_std = None if self.deterministic else nn.Parameter(torch.zeros(act_dim))
        actor_params = list(self.mean.parameters()) + ([] if self.deterministic else [self.log_std])
        self.v_opt = torch.optim.Adam(self.v.parameters(), lr=cfg["vf_lr"])
        self.q_opt = torch.optim.Adam(list(self.q1.parameters()) + list(self.q2.parameters()), lr=cfg["qf_lr"])
        self.actor_opt = torch.optim.Adam(actor_params, lr=cfg["actor_lr"])
        # L399, L464: CosineAnnealingLR(T_max=max_timesteps=1e6, eta_min 0) on the actor only, stepped per actor step
        self.actor_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.actor_opt, T_max=cfg["max_timesteps"])
        self.q1_target, self.q2_target = frozen(self.q1), frozen(self.q2)

    def update(self, batch):
        s, a, r, s2, done = batch
        cfg = self.cfg
        with torch.no_grad():                                         # L477-478: next V with the pre-update V
            next_v = self.v(s2).squeeze(-1)
        # (1) V step, L408-420: adv = Q_target(s, a) - V(s); expectile loss mean(|tau - 1[adv < 0]| adv^2)
        with torch.no_grad():
            target_q = torch.min(q_value(self.q1_target, s, a), q_value(self.q2_target, s, a)).squeeze(-1)
        adv = target_q - self.v(s).squeeze(-1)
        v_loss = torch.mean(torch.abs(cfg["iql_tau"] - (adv < 0).float()) * adv ** 2)
        self.v_opt.zero_grad(); v_loss.backward(); self.v_opt.step()
        # (2) Q step, L422-440: target r + (1 - done) gamma next_v (pre-update V); loss (MSE1 + MSE2) / 2;
        #     then Q_target <- Polyak(tau) every step
        r, done = r.squeeze(-1), done.squeeze(-1)
        y = r + (1.0 - done) * cfg["discount"] * next_v
        q_loss = (F.mse_loss(q_value(self.q1, s, a).squeeze(-1), y) + F.mse_loss(q_value(self.q2, s, a).squeeze(-1), y)) / 2
        self.q_opt.zero_grad(); q_loss.backward(); self.q_opt.step()
        soft_update(self.q1_target, self.q1, cfg["tau"]); soft_update(self.q2_target, self.q2, cfg["tau"])
        # (3) Actor step, L449-464: w = exp(beta adv).clamp(max 100), adv from (1) (target Q minus pre-update V);
        #     Gaussian: loss mean(w * -log pi(a|s) summed over dims); deterministic: mean(w * sum (pi(s) - a)^2)
        w = torch.exp(cfg["beta"] * adv.detach()).clamp(max=cfg["EXP_ADV_MAX"])
        mean = self.mean(s)
        if self.deterministic:
            bc = torch.sum((mean - a) ** 2, dim=1)
        else:
            std = self.log_std.clamp(cfg["LOG_STD_MIN"], cfg["LOG_STD_MAX"]).exp()
            bc = -torch.distributions.Normal(mean, std).log_prob(a).sum(-1)
        actor_loss = torch.mean(w * bc)
        self.actor_opt.zero_grad(); actor_loss.backward(); self.actor_opt.step()
        self.actor_sched.step()

    def act(self, s):   # eval: clamp(max_action * mean, +-max_action)
        return (self.max_action * self.mean(s)).clamp(-self.max_action, self.max_action)

    def modules(self):
        # OffRL: GaussianMeanPolicy ('mean' MLP with tanh output + 'log_std'), for the deterministic actor too
        actor = {f"mean.{k}": v for k, v in mlp_tensors(self.mean).items()}
        actor["log_std"] = torch.zeros(self.mean[-2].out_features) if self.deterministic else self.log_std.detach()
        return {"actor": actor, "value": mlp_tensors(self.v), "critic": twin_tensors(self.q1, self.q2),
                "critic_target": twin_tensors(self.q1_target, self.q2_target)}


def corl_init(seq, orthogonal):
    """CORL's init_module_weights (cql.py L256-271): with orthogonal, hidden Linear layers get orthogonal weights
    (gain sqrt 2) and zero biases; the last layer gets orthogonal gain 1e-2 (orthogonal) or xavier_uniform gain 1e-2
    (otherwise), bias 0. Without orthogonal the hidden layers keep PyTorch's default init (weights and biases)."""
    ls = linears(seq)
    if orthogonal:
        for l in ls[:-1]:
            nn.init.orthogonal_(l.weight, gain=math.sqrt(2)); nn.init.constant_(l.bias, 0.0)
        nn.init.orthogonal_(ls[-1].weight, gain=1e-2)
    else:
        nn.init.xavier_uniform_(ls[-1].weight, gain=1e-2)
    nn.init.constant_(ls[-1].bias, 0.0)


class Cql:
    """algorithms/offline/cql.py (ContinuousCQL with the YAML's settings)."""

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg, self.act_dim, self.max_action = cfg, act_dim, max_action
        n_hidden = cfg["q_n_hidden_layers"]
        # L386-425, L885-893: critics Linear(s+a,256)-ReLU + (n-1) x [256-ReLU] + Linear(256,1), orthogonal init
        # (critic_2 is built with the class default of 3 hidden layers: the same as the YAML's 3)
        self.critic_1 = mlp([obs_dim + act_dim] + [256] * n_hidden + [1]); corl_init(self.critic_1, cfg["orthogonal_init"])
        self.critic_2 = mlp([obs_dim + act_dim] + [256] * 3 + [1]); corl_init(self.critic_2, cfg["orthogonal_init"])
        self.critic_1_opt = torch.optim.Adam(self.critic_1.parameters(), lr=cfg["qf_lr"])
        self.critic_2_opt = torch.optim.Adam(self.critic_2.parameters(), lr=cfg["qf_lr"])
        # L319-383: actor 3 x 256 ReLU -> 2 * act (mean, log_std); init_module_weights WITHOUT the orthogonal flag
        # (L347): hidden layers PyTorch default, last xavier_uniform gain 1e-2 with bias 0. log_std = m * raw + o with
        # m (1.0) and o (-1.0) learnable scalars among the actor's parameters, clamped to [-20, 2]
        self.actor = mlp([obs_dim, 256, 256, 256, 2 * act_dim]); corl_init(self.actor, False)
        self.log_std_multiplier = nn.Parameter(torch.tensor(cfg["policy_log_std_multiplier"]))
        self.log_std_offset = nn.Parameter(torch.tensor(cfg["policy_log_std_offset"]))
        self.actor_opt = torch.optim.Adam(list(self.actor.parameters()) + [self.log_std_multiplier, self.log_std_offset],
                                          lr=cfg["policy_lr"])
        # L504-509: log_alpha starts at 0, its Adam uses lr = policy_lr; L917: target entropy -|A|
        self.log_alpha = nn.Parameter(torch.tensor(0.0))
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg["policy_lr"])
        self.target_entropy = -float(act_dim)
        self.critic_1_target, self.critic_2_target = frozen(self.critic_1), frozen(self.critic_2)
        self.total_it = 0

    def policy(self, s):
        """Tanh-squashed Gaussian sample (reparameterized) and its log-prob summed over dims (L274-316, L376-383):
        log N(u; mean, std) - sum 2 (log 2 - u - softplus(-2u)), a = max_action tanh(u)."""
        out = self.actor(s)
        mean, log_std = out[..., : self.act_dim], out[..., self.act_dim:]
        log_std = (self.log_std_multiplier * log_std + self.log_std_offset).clamp(self.cfg["LOG_STD_MIN"], self.cfg["LOG_STD_MAX"])
        normal = torch.distributions.Normal(mean, log_std.exp())
        u = normal.rsample()
        logp = normal.log_prob(u).sum(-1) - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return self.max_action * torch.tanh(u), logp

    def q(self, net, s, a):
        """Q [B] for a [B, A]; [B, n] for a [B, n, A] (the state repeated n times, L412-425)."""
        if a.dim() == 3:
            n = a.shape[1]
            return q_value(net, s.unsqueeze(1).repeat_interleave(n, 1), a).squeeze(-1)
        return q_value(net, s, a).squeeze(-1)

    def update(self, batch):
        s, a, r, s2, done = batch
        cfg = self.cfg
        n = cfg["cql_n_actions"]
        self.total_it += 1
        # L750-770: everything from the pre-update networks first
        new_a, log_pi = self.policy(s)
        alpha_loss = -(self.log_alpha * (log_pi + self.target_entropy).detach()).mean()          # L525-534
        # alpha enters the policy loss with its pre-step value (CORL's extra gradient into log_alpha from the
        # policy loss is zeroed before the next alpha step, so detaching it changes nothing)
        alpha = self.log_alpha.exp().detach() * cfg["alpha_multiplier"]
        # L536-553: bc_steps = 0 and total_it >= 1, so the policy loss is always alpha log pi - min Q (pre-update critics)
        q_new = torch.min(self.q(self.critic_1, s, new_a), self.q(self.critic_2, s, new_a))
        policy_loss = (alpha * log_pi - q_new).mean()
        # Q loss (L555-738), with the pre-update actor; its actions are detached in CORL (no_grad here)
        q1_data, q2_data = self.q(self.critic_1, s, a), self.q(self.critic_2, s, a)
        with torch.no_grad():
            a2, _ = self.policy(s2)                                   # one sampled next action; no entropy backup
            target_q = torch.min(self.q(self.critic_1_target, s2, a2), self.q(self.critic_2_target, s2, a2))
            y = r.squeeze(-1) + (1.0 - done.squeeze(-1)) * cfg["discount"] * target_q
            b = a.shape[0]
            a_rand = torch.empty(b, n, self.act_dim).uniform_(-1, 1)
            a_curr, lp_curr = self.policy(s.unsqueeze(1).repeat_interleave(n, 1))      # pi(.|s), evaluated at s
            a_next, lp_next = self.policy(s2.unsqueeze(1).repeat_interleave(n, 1))     # pi(.|s'), evaluated at s
        log_uniform = math.log(0.5 ** self.act_dim)
        qf_loss = F.mse_loss(q1_data, y) + F.mse_loss(q2_data, y)
        for net, q_data in ((self.critic_1, q1_data), (self.critic_2, q2_data)):
            # importance-sampled log-sum-exp over 30 terms (the data Q not among them), temperature cql_temp
            cat = torch.cat([self.q(net, s, a_rand) - log_uniform, self.q(net, s, a_next) - lp_next,
                             self.q(net, s, a_curr) - lp_curr], dim=1)
            ood = torch.logsumexp(cat / cfg["cql_temp"], dim=1) * cfg["cql_temp"]
            diff = torch.clamp(ood - q_data, cfg["cql_clip_diff_min"], cfg["cql_clip_diff_max"]).mean()
            qf_loss = qf_loss + cfg["cql_alpha"] * diff               # no Lagrange: cql_alpha * diff per critic
        # L771-787: steps in order alpha, actor, critics; then the soft target update every target_update_period
        self.alpha_opt.zero_grad(); alpha_loss.backward(); self.alpha_opt.step()
        self.actor_opt.zero_grad(); policy_loss.backward(); self.actor_opt.step()
        self.critic_1_opt.zero_grad(); self.critic_2_opt.zero_grad()
        qf_loss.backward()
        self.critic_1_opt.step(); self.critic_2_opt.step()
        if self.total_it % cfg["target_update_period"] == 0:
            soft_update(self.critic_1_target, self.critic_1, cfg["soft_target_update_rate"])
            soft_update(self.critic_2_target, self.critic_2, cfg["soft_target_update_rate"])

    def act(self, s):   # deterministic: max_action * tanh(mean)
        return self.max_action * torch.tanh(self.actor(s)[..., : self.act_dim])

    def modules(self):
        # OffRL: SAC actor MLP (obs -> 2*act: mean, then raw log_std) + 'log_std_affine' [multiplier, offset]
        return {"actor": mlp_tensors(self.actor),
                "log_std_affine": {"log_std_affine": torch.stack([self.log_std_multiplier.detach(), self.log_std_offset.detach()])},
                "critic": twin_tensors(self.critic_1, self.critic_2),
                "critic_target": twin_tensors(self.critic_1_target, self.critic_2_target),
                "temperature": {"log_alpha": self.log_alpha.detach().reshape(1)}}


class Bc:
    """algorithms/offline/any_percent_bc.py (BC with frac 1.0, %BC with frac 0.1; the filter runs before training)."""

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.max_action = max_action
        self.actor = mlp([obs_dim, *cfg["hidden"], act_dim], nn.Tanh())   # L228-249: same actor as TD3+BC's
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg["actor_lr"])

    def update(self, batch):
        s, a = batch[0], batch[1]
        loss = F.mse_loss(self.max_action * self.actor(s), a)               # L269-282: MSE(pi(s), a)
        self.actor_opt.zero_grad(); loss.backward(); self.actor_opt.step()

    def act(self, s):
        return self.max_action * self.actor(s)

    def modules(self):
        return {"actor": mlp_tensors(self.actor)}


class Awac:
    """algorithms/offline/awac.py."""

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg = cfg
        h = [cfg["hidden_dim"]] * 3
        # L114-190, L428-437: actor 3 x 256 ReLU, linear mean (no tanh), log_std parameter (init 0, clamped to
        # [-20, 2]); critics 3 x 256; PyTorch default init; Adam lr 3e-4 each; built in the order actor, critics
        self.mean = mlp([obs_dim, *h, act_dim])
        self.log_std = nn.Parameter(torch.zeros(act_dim))
        self.actor_opt = torch.optim.Adam(list(self.mean.parameters()) + [self.log_std], lr=cfg["learning_rate"])
        self.critic_1, self.critic_2 = mlp([obs_dim + act_dim, *h, 1]), mlp([obs_dim + act_dim, *h, 1])
        self.critic_1_opt = torch.optim.Adam(self.critic_1.parameters(), lr=cfg["learning_rate"])
        self.critic_2_opt = torch.optim.Adam(self.critic_2.parameters(), lr=cfg["learning_rate"])
        self.critic_1_target, self.critic_2_target = frozen(self.critic_1), frozen(self.critic_2)

    def dist(self, s):
        std = self.log_std.clamp(self.cfg["min_log_std"], self.cfg["max_log_std"]).exp()
        return torch.distributions.Normal(self.mean(s), std)

    def sample(self, s):
        """L152-157: rsample, clamped in place to [-1, 1]."""
        return self.dist(s).rsample().clamp(self.cfg["min_action"], self.cfg["max_action"])

    def update(self, batch):
        s, a, r, s2, done = batch
        cfg = self.cfg
        # (1) critic step, L247-272 (update L281-287): target r + gamma (1 - done) min(Q1t, Q2t)(s', a'), a' sampled and clamped
        with torch.no_grad():
            a2 = self.sample(s2)
            y = r + cfg["gamma"] * (1.0 - done) * torch.min(q_value(self.critic_1_target, s2, a2), q_value(self.critic_2_target, s2, a2))
        critic_loss = F.mse_loss(q_value(self.critic_1, s, a), y) + F.mse_loss(q_value(self.critic_2, s, a), y)
        self.critic_1_opt.zero_grad(); self.critic_2_opt.zero_grad()
        critic_loss.backward()
        self.critic_1_opt.step(); self.critic_2_opt.step()
        # (2) actor step with the post-update critics, L228-245: v = min Q(s, one sampled pi action),
        #     adv = min Q(s, a) - v, w = clamp_max(exp(adv / lambda), 100); loss mean(-log pi(a|s) w)
        with torch.no_grad():
            pi = self.sample(s)
            v = torch.min(q_value(self.critic_1, s, pi), q_value(self.critic_2, s, pi))
            q = torch.min(q_value(self.critic_1, s, a), q_value(self.critic_2, s, a))
            w = torch.clamp_max(torch.exp((q - v) / cfg["awac_lambda"]), cfg["exp_adv_max"])
        logp = self.dist(s).log_prob(a).sum(-1, keepdim=True)
        actor_loss = (-logp * w).mean()
        self.actor_opt.zero_grad(); actor_loss.backward(); self.actor_opt.step()
        # (3) L286-287: Polyak update of both target critics every step
        soft_update(self.critic_1_target, self.critic_1, cfg["tau"])
        soft_update(self.critic_2_target, self.critic_2, cfg["tau"])

    def act(self, s):   # eval: the raw mean, unclamped
        return self.mean(s)

    def modules(self):
        # OffRL: GaussianMeanPolicy with tanh_mean false ('mean' MLP, linear output, + 'log_std')
        actor = {f"mean.{k}": v for k, v in mlp_tensors(self.mean).items()}
        actor["log_std"] = self.log_std.detach()
        return {"actor": actor, "critic": twin_tensors(self.critic_1, self.critic_2),
                "critic_target": twin_tensors(self.critic_1_target, self.critic_2_target)}


class SacN:
    """algorithms/offline/sac_n.py, and edac.py (the same with eta times the critics' gradient diversity)."""

    class VectorizedLinear(nn.Module):
        """sac_n.py L171-200: weight [N, in, out], bias [N, 1, out]; x @ W + b. Init: kaiming_uniform_(a=sqrt(5)) per
        member on the [in, out] slice (so PyTorch reads fan_in = out), bias U(+-1/sqrt(out))."""

        def __init__(self, n_in, n_out, n):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(n, n_in, n_out))
            self.bias = nn.Parameter(torch.empty(n, 1, n_out))
            for i in range(n):
                nn.init.kaiming_uniform_(self.weight[i], a=math.sqrt(5))
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight[0])
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

        def forward(self, x):
            return x @ self.weight + self.bias

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg, self.act_dim, self.max_action = cfg, act_dim, max_action
        n, h = cfg["num_critics"], cfg["hidden_dim"]
        # sac_n.py L202-263 (main L516-523): actor trunk 3 x h ReLU, separate mu and log_sigma heads; trunk biases 0.1,
        # heads' weights and biases U(+-1e-3)
        self.trunk = mlp([obs_dim, h, h, h], nn.ReLU())
        for layer in linears(self.trunk):
            nn.init.constant_(layer.bias, 0.1)
        self.mu, self.log_sigma = nn.Linear(h, act_dim), nn.Linear(h, act_dim)
        for head in (self.mu, self.log_sigma):
            nn.init.uniform_(head.weight, -1e-3, 1e-3)
            nn.init.uniform_(head.bias, -1e-3, 1e-3)
        # L265-299: VectorizedCritic, 3 hidden layers; every bias 0.1, then the last layer's weight and bias U(+-3e-3)
        VL = SacN.VectorizedLinear
        self.critic = nn.Sequential(VL(obs_dim + act_dim, h, n), nn.ReLU(), VL(h, h, n), nn.ReLU(), VL(h, h, n), nn.ReLU(), VL(h, 1, n))
        for layer in self.critic[::2]:
            nn.init.constant_(layer.bias, 0.1)
        nn.init.uniform_(self.critic[-1].weight, -3e-3, 3e-3)
        nn.init.uniform_(self.critic[-1].bias, -3e-3, 3e-3)
        self.actor_params = list(self.trunk.parameters()) + list(self.mu.parameters()) + list(self.log_sigma.parameters())
        self.actor_opt = torch.optim.Adam(self.actor_params, lr=cfg["actor_learning_rate"])
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg["critic_learning_rate"])
        with torch.no_grad():
            self.target_critic = copy.deepcopy(self.critic)
        # L320-331: log_alpha 0 (requires grad), its own Adam, target entropy -|A|
        self.target_entropy = -float(act_dim)
        self.log_alpha = torch.tensor([0.0], requires_grad=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg["alpha_learning_rate"])
        self.alpha = self.log_alpha.exp().detach()

    def policy(self, s, deterministic=False):
        """L231-255: log_sigma clipped to [-5, 2]; a = tanh(u) max_action, log pi = sum log N(u) - sum log(1 - tanh(u)^2 + 1e-6)."""
        hidden = self.trunk(s)
        mu, log_sigma = self.mu(hidden), torch.clip(self.log_sigma(hidden), -5, 2)
        dist = torch.distributions.Normal(mu, torch.exp(log_sigma))
        u = mu if deterministic else dist.rsample()
        tanh_u = torch.tanh(u)
        logp = dist.log_prob(u).sum(-1) - torch.log(1 - tanh_u.pow(2) + 1e-6).sum(-1)
        return tanh_u * self.max_action, logp

    def q(self, net, s, a):
        """L288-299: [N, B]; a 2-D state-action batch is repeated for every member."""
        sa = torch.cat([s, a], -1)
        if sa.dim() != 3:
            sa = sa.unsqueeze(0).repeat_interleave(self.cfg["num_critics"], dim=0)
        return net(sa).squeeze(-1)

    def diversity(self, s, a):
        """edac.py L364-396: normalized action gradients of every member, summed over pairs i != j, mean over the batch, / (N - 1)."""
        n = self.cfg["num_critics"]
        s = s.unsqueeze(0).repeat_interleave(n, dim=0)
        a = a.unsqueeze(0).repeat_interleave(n, dim=0).requires_grad_(True)
        q = self.q(self.critic, s, a)
        g = torch.autograd.grad(q.sum(), a, retain_graph=True, create_graph=True)[0]
        g = g / (torch.norm(g, p=2, dim=2).unsqueeze(-1) + 1e-10)
        g = g.transpose(0, 1)                                     # [B, N, A]
        masks = torch.eye(n).unsqueeze(0).repeat(g.shape[0], 1, 1)
        prod = (1 - masks) * (g @ g.permute(0, 2, 1))
        return prod.sum(dim=(1, 2)).mean() / (n - 1)

    def update(self, batch):
        s, a, r, s2, done = batch
        cfg = self.cfg
        # L378-395: the temperature on a fresh no-grad sample, then alpha = exp(log_alpha)
        with torch.no_grad():
            _, logp_alpha = self.policy(s)
        alpha_loss = (-self.log_alpha * (logp_alpha + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(); alpha_loss.backward(); self.alpha_opt.step()
        self.alpha = self.log_alpha.exp().detach()
        # L341-353: the actor against the critics (not frozen: the critics' gradients are zeroed before their step)
        new_a, logp = self.policy(s)
        actor_loss = (self.alpha * logp - self.q(self.critic, s, new_a).min(0).values).mean()
        self.actor_opt.zero_grad(); actor_loss.backward(); self.actor_opt.step()
        # L355-376: the critics, targets from the stepped actor and the new alpha; loss summed over members
        with torch.no_grad():
            a2, logp2 = self.policy(s2)
            q_next = self.q(self.target_critic, s2, a2).min(0).values - self.alpha * logp2
            y = r + cfg["gamma"] * (1 - done) * q_next.unsqueeze(-1)
        critic_loss = ((self.q(self.critic, s, a) - y.view(1, -1)) ** 2).mean(dim=1).sum(dim=0)
        if cfg["eta"] > 0:   # edac.py L398-419: + eta * diversity
            critic_loss = critic_loss + cfg["eta"] * self.diversity(s, a)
        self.critic_opt.zero_grad(); critic_loss.backward(); self.critic_opt.step()
        # L403-412: soft target update; then the logging-only Q std at uniform random actions (it draws from torch's generator)
        with torch.no_grad():
            soft_update(self.target_critic, self.critic, cfg["tau"])
            random_actions = -self.max_action + 2 * self.max_action * torch.rand_like(a)
            self.q(self.critic, s, random_actions).std(0).mean().item()

    def act(self, s):   # eval: tanh(mu) max_action
        with torch.no_grad():
            return self.policy(s, deterministic=True)[0]

    def modules(self):
        # OffRL: the actor as one Mlp (obs -> 3 x h -> 2 * act: mean, then log std), the critics as one ensemble
        actor = {f"layers.{i}.{k}": getattr(l, k).detach() for i, l in enumerate(linears(self.trunk)) for k in ("weight", "bias")}
        last = len(linears(self.trunk))
        actor[f"layers.{last}.weight"] = torch.cat([self.mu.weight.detach(), self.log_sigma.weight.detach()], 0)
        actor[f"layers.{last}.bias"] = torch.cat([self.mu.bias.detach(), self.log_sigma.bias.detach()], 0)

        def ensemble(seq):
            return {f"layers.{i}.{k}": (l.weight.detach() if k == "weight" else l.bias.detach().squeeze(1))
                    for i, l in enumerate(m for m in seq if isinstance(m, SacN.VectorizedLinear)) for k in ("weight", "bias")}
        return {"actor": actor, "critic": ensemble(self.critic), "critic_target": ensemble(self.target_critic),
                "temperature": {"log_alpha": self.log_alpha.detach().reshape(1)}}


class Rebrac:
    """algorithms/offline/rebrac.py (JAX/flax), in PyTorch: flax's Dense is x @ kernel + bias, its LayerNorm has
    epsilon 1e-6 and a learnable scale and bias; optax.adam has torch.optim.Adam's defaults."""

    @staticmethod
    def net(n_in, h, n_hiddens, n_out, ln, out_bound):
        """L101-177: [Dense(h) (kernel U(+-1/sqrt(fan_in)), bias 0.1), ReLU, LayerNorm or identity] x n_hiddens, then
        Dense(n_out) with kernel and bias U(+-out_bound)."""
        layers, d = [], n_in
        for _ in range(n_hiddens):
            lin = nn.Linear(d, h)
            bound = math.sqrt(1 / d)
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.constant_(lin.bias, 0.1)
            layers += [lin, nn.ReLU()] + ([nn.LayerNorm(h, eps=1e-6)] if ln else [])
            d = h
        out = nn.Linear(d, n_out)
        nn.init.uniform_(out.weight, -out_bound, out_bound)
        nn.init.uniform_(out.bias, -out_bound, out_bound)
        return nn.Sequential(*layers, out)

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg = cfg
        h = cfg["hidden_dim"]
        # L620-645: DetActor (tanh output, no max_action) and an ensemble of num_critics critics (vmap, split params);
        # targets start equal to the networks (init with the same key)
        self.actor = nn.Sequential(*Rebrac.net(obs_dim, h, cfg["actor_n_hiddens"], act_dim, cfg["actor_ln"], 1e-3), nn.Tanh())
        self.critics = nn.ModuleList(Rebrac.net(obs_dim + act_dim, h, cfg["critic_n_hiddens"], 1, cfg["critic_ln"], 3e-3)
                                     for _ in range(cfg["num_critics"]))
        self.actor_target, self.critics_target = frozen(self.actor), frozen(self.critics)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg["actor_learning_rate"])
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg["critic_learning_rate"])
        self.i = 0   # the update's index; L668-716: a full update where i % policy_freq == 0 (i from 0), else the critic only

    def q(self, critics, s, a):   # [N, B]
        return torch.stack([q_value(c, s, a).squeeze(-1) for c in critics])

    def update(self, batch):
        s, a, r, s2, done, a2_data = batch
        cfg = self.cfg
        r, done = r.squeeze(-1), done.squeeze(-1)
        # update_critic L477-523: smoothed target action, penalty on the dataset's next action, min over target critics
        with torch.no_grad():
            noise = (torch.randn_like(a) * cfg["policy_noise"]).clamp(-cfg["noise_clip"], cfg["noise_clip"])
            a2 = (self.actor_target(s2) + noise).clamp(-1, 1)
            penalty = ((a2 - a2_data) ** 2).sum(-1)
            next_q = self.q(self.critics_target, s2, a2).min(0).values - cfg["critic_bc_coef"] * penalty
            y = r + (1 - done) * cfg["gamma"] * next_q
        critic_loss = ((self.q(self.critics, s, a) - y.unsqueeze(0)) ** 2).mean(1).sum(0)
        self.critic_opt.zero_grad(); critic_loss.backward(); self.critic_opt.step()
        if self.i % cfg["policy_freq"] == 0:
            # update_actor L425-474: bc summed over the action, min over the updated critics, lambda = 1 / mean |Q|
            pi = self.actor(s)
            bc = ((pi - a) ** 2).sum(-1)
            q = self.q(self.critics, s, pi).min(0).values
            lmbda = 1 / q.abs().mean().detach() if cfg["normalize_q"] else 1.0
            actor_loss = (cfg["actor_bc_coef"] * bc - lmbda * q).mean()
            self.actor_opt.zero_grad(); actor_loss.backward()
            soft_update(self.actor_target, self.actor, cfg["tau"])   # L467-472: towards actor.params, before the step
            self.actor_opt.step()
            soft_update(self.critics_target, self.critics, cfg["tau"])
        self.i += 1

    def act(self, s):
        return self.actor(s)

    def modules(self):
        def ensemble(critics):   # OffRL's ensemble: "layers.i.weight" [N, in, out], "layers.i.bias" [N, out], "norms.i.*" [N, 1, h]
            layers = [linears(c) for c in critics]
            out = {}
            for i in range(len(layers[0])):
                out[f"layers.{i}.weight"] = torch.stack([l[i].weight.detach().t() for l in layers])
                out[f"layers.{i}.bias"] = torch.stack([l[i].bias.detach() for l in layers])
            norms = [[m for m in c if isinstance(m, nn.LayerNorm)] for c in critics]
            for i in range(len(norms[0])):
                out[f"norms.{i}.weight"] = torch.stack([n[i].weight.detach() for n in norms]).unsqueeze(1)   # [N, 1, h]
                out[f"norms.{i}.bias"] = torch.stack([n[i].bias.detach() for n in norms]).unsqueeze(1)
            return out

        def actor(seq):
            out = mlp_tensors(seq)
            for i, n in enumerate(m for m in seq if isinstance(m, nn.LayerNorm)):
                out[f"norms.{i}.weight"], out[f"norms.{i}.bias"] = n.weight.detach(), n.bias.detach()
            return out
        return {"actor": actor(self.actor), "actor_target": actor(self.actor_target),
                "critic": ensemble(self.critics), "critic_target": ensemble(self.critics_target)}


class Riql:
    """The authors' RIQL.py (IQL with a quantile value target over K critics and a Huber critic loss), clean data."""

    def __init__(self, cfg, obs_dim, act_dim, max_action=1.0):
        self.cfg, self.max_action = cfg, max_action
        h, n, k = cfg["hidden_dim"], cfg["n_hidden"], cfg["num_critics"]
        # main L657-664: VectorizedQ, ValueFunction, DeterministicPolicy, in this order
        # VectorizedQ L399-432: VectorizedLinear layers (sac_n.py's, with its fan-in) [s+a, h x n, 1]; biases 0.1, the
        # output layer U(+-3e-3)
        VL, dims = SacN.VectorizedLinear, [obs_dim + act_dim] + [h] * n
        layers = []
        for i in range(n):
            layers += [VL(dims[i], dims[i + 1], k), nn.ReLU()]
        self.q = nn.Sequential(*layers, VL(dims[-1], 1, k))
        for layer in self.q[::2]:
            nn.init.constant_(layer.bias, 0.1)
        nn.init.uniform_(self.q[-1].weight, -3e-3, 3e-3)
        nn.init.uniform_(self.q[-1].bias, -3e-3, 3e-3)
        self.v = mlp([obs_dim] + [h] * n + [1])                      # ValueFunction L437-444: default init
        self.actor = mlp([obs_dim] + [h] * n + [act_dim], nn.Tanh())  # DeterministicPolicy L368-385
        self.v_opt = torch.optim.Adam(self.v.parameters(), lr=cfg["learning_rate"])
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=cfg["learning_rate"])
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg["learning_rate"])
        self.actor_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.actor_opt, T_max=cfg["max_timesteps"])   # L473
        self.q_target = frozen(self.q)

    def qs(self, net, s, a):   # [K, B]
        sa = torch.cat([s, a], -1).unsqueeze(0).repeat_interleave(self.cfg["num_critics"], dim=0)
        return net(sa).squeeze(-1)

    def update(self, batch):
        s, a, r, s2, done = batch
        cfg = self.cfg
        r, done = r.squeeze(-1), done.squeeze(-1)
        with torch.no_grad():                                         # L568-569: next V before the V update
            next_v = self.v(s2).squeeze(-1)
        # _update_v L480-505: expectile towards the quantile over the target critics
        with torch.no_grad():
            target_q = torch.quantile(self.qs(self.q_target, s, a), cfg["quantile"], dim=0)
        adv = target_q - self.v(s).squeeze(-1)
        v_loss = torch.mean(torch.abs(cfg["iql_tau"] - (adv < 0).float()) * adv ** 2)
        self.v_opt.zero_grad(); v_loss.backward(); self.v_opt.step()
        # _update_q L507-533: targets clipped to [-100, 1000], Huber (beta = 1 / sigma^2) mean over K x B; Polyak every step
        y = torch.clamp(r + (1.0 - done) * cfg["discount"] * next_v, *cfg["target_clip"]).view(1, -1)
        diff = torch.abs(y - self.qs(self.q, s, a))
        beta = 1.0 / cfg["sigma"] ** 2
        q_loss = torch.where(diff < beta, 0.5 * diff ** 2 / beta, diff - 0.5 * beta).mean()
        self.q_opt.zero_grad(); q_loss.backward(); self.q_opt.step()
        soft_update(self.q_target, self.q, cfg["soft_target_update_rate"])
        # _update_policy L535-554: exp(beta adv) clamped at 100 times the summed squared error; the cosine schedule steps
        w = torch.exp(cfg["beta"] * adv.detach()).clamp(max=cfg["EXP_ADV_MAX"])
        policy_loss = torch.mean(w * ((self.actor(s) - a) ** 2).sum(-1))
        self.actor_opt.zero_grad(); policy_loss.backward(); self.actor_opt.step()
        self.actor_sched.step()

    def act(self, s):   # eval: clamp(pi(s) max_action)
        return torch.clamp(self.actor(s) * self.max_action, -self.max_action, self.max_action)

    def modules(self):
        def ensemble(seq):
            return {f"layers.{i}.{k}": (l.weight.detach() if k == "weight" else l.bias.detach().squeeze(1))
                    for i, l in enumerate(m for m in seq if isinstance(m, SacN.VectorizedLinear)) for k in ("weight", "bias")}
        # OffRL's deterministic IQL actor: the mean MLP of its Gaussian policy head ("mean.layers.i.*"), the log std unused
        actor = {f"mean.{k}": v for k, v in mlp_tensors(self.actor).items()}
        actor["log_std"] = torch.zeros(self.actor[-2].out_features)
        return {"actor": actor, "value": mlp_tensors(self.v), "critic": ensemble(self.q), "critic_target": ensemble(self.q_target)}


AGENTS = {"td3bc": Td3Bc, "iql": Iql, "cql": Cql, "bc": Bc, "pbc": Bc, "awac": Awac, "sac-n": SacN, "edac": SacN, "rebrac": Rebrac, "riql": Riql}

# ================================================================================================================
# 5. OffRL's checkpoint layout (as bench/reference/offline_rl.py writes it): Mlp "layers.i.weight" [out, in] and
#    "layers.i.bias" [out]; the two critics as one ensemble, "layers.i.weight" [2, in, out] and "layers.i.bias"
#    [2, out]; F32 safetensors, one file per module; agent.json; preprocessing.json.


def save(agent, algo, run, updates, folder):
    os.makedirs(folder, exist_ok=True)
    for name, tensors in agent.modules().items():
        write_atomic(os.path.join(folder, name + ".safetensors"), safetensors_bytes(tensors, "bench/reference/corl_reference.py"))
    act_dim = run["act_dim"]
    pre = {"ObservationMean": run["mean"].astype(np.float32).tolist(), "ObservationStd": run["std"].astype(np.float32).tolist(),
           "RewardScale": run["reward_scale"], "RewardShift": run["reward_shift"],
           "ActionLow": [-1.0] * act_dim, "ActionHigh": [1.0] * act_dim}
    write_atomic(os.path.join(folder, "preprocessing.json"), json.dumps(pre, indent=2).encode())
    meta = {"format_version": 1, "algo": algo, "updates": updates, "observation_dim": run["obs_dim"],
            "action_space": {"type": "box", "Low": [-1.0] * act_dim, "High": [1.0] * act_dim},
            "config": run["offrl_config"]}
    write_atomic(os.path.join(folder, "agent.json"), json.dumps(meta, indent=2).encode())
    # 64 dataset observations (raw) and this policy's deterministic actions, for `OffRL.Bench import-check`
    with torch.no_grad():
        acts = agent.act(run["probe"]).numpy()
    raw = run["probe"].double().numpy() * run["std"] + run["mean"]
    write_atomic(os.path.join(folder, "probe.json"), json.dumps({"observations": raw.astype(np.float32).tolist(),
                                                                 "actions": acts.tolist()}).encode())


# ================================================================================================================
# 6. The run.


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def set_seed(seed, deterministic_torch=False):
    """CORL's set_seed without the env (td3_bc.py L157-167): PYTHONHASHSEED, numpy, random, torch; deterministic
    algorithms only where the config asks (AWAC's YAML)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic_torch)


def check_action_space(space, actions):
    """CORL takes max_action = action_space.high[0]; D4RL's locomotion spaces are [-1, 1]^A, which OffRL's
    checkpoint describes; another box is refused."""
    if space is not None:
        s = json.loads(space)
        if any(abs(l + 1) > 1e-6 for l in s.get("Low", [])) or any(abs(h - 1) > 1e-6 for h in s.get("High", [])):
            sys.exit(f"error: the dataset's action space is not [-1, 1]^A ({s.get('Low')}, {s.get('High')})")
    if np.abs(actions).max() > 1.0 + 1e-6:
        print(f"warning: dataset actions reach {np.abs(actions).max():.4f} outside [-1, 1] (CORL does not clip them)", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algo", choices=ALGOS, required=True)
    p.add_argument("--dataset", required=True, help="D4RL-layout HDF5 file (offrl dataset convert NAME FILE.hdf5)")
    p.add_argument("--dataset-name", required=True, help=f"which CORL preset applies: {', '.join(DATASETS)}")
    p.add_argument("--steps", type=int, required=True, help="gradient updates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=0, help="write DIR/step-K every K updates (OffRL checkpoints)")
    p.add_argument("--out", required=True, help="folder: the final agent, and step-K snapshots")
    p.add_argument("--checkpoint-every", type=int, default=0, help="write OUT/resume.pt every K updates")
    p.add_argument("--resume", action="store_true", help="go on from OUT/resume.pt when it is there")
    a = p.parse_args()
    if a.steps < 1 or a.snapshot_every < 0 or a.checkpoint_every < 0:
        sys.exit("error: --steps must be >= 1, --snapshot-every and --checkpoint-every >= 0")

    ds = dataset_key(a.dataset_name)
    cfg = corl_config(a.algo, ds)
    deterministic_torch = cfg.get("deterministic_torch", False)
    seed_first = a.algo in ("awac", "sac-n", "edac")   # awac.py L398, sac_n.py L494, edac.py: set_seed before the data
    if seed_first:
        set_seed(a.seed, deterministic_torch)

    # Data: qlearning_dataset -> (%BC: keep_best_trajectories) -> (modify_reward) -> observation stats -> normalize
    data, space = qlearning_dataset(a.dataset, next_actions=a.algo == "rebrac")
    check_action_space(space, data["actions"])
    if a.algo in ("bc", "pbc"):
        keep_best_trajectories(data, cfg["frac"], cfg["discount"])        # any_percent_bc.py L308, before the stats
    reward_scale, reward_shift = modify_reward(data, cfg, a.algo)
    mean, std = observation_stats(data["observations"], cfg["normalize"], data["next_observations"] if a.algo == "riql" else None)
    data["observations"] = (data["observations"] - mean) / std
    data["next_observations"] = (data["next_observations"] - mean) / std
    buffer = ReplayBuffer(data)

    if not seed_first:   # the other scripts: set_seed after the data, before the networks
        set_seed(a.seed, deterministic_torch)
    obs_dim, act_dim = data["observations"].shape[1], data["actions"].shape[1]
    agent = AGENTS[a.algo](cfg, obs_dim, act_dim)
    run = {"obs_dim": obs_dim, "act_dim": act_dim, "mean": mean, "std": std, "reward_scale": float(reward_scale),
           "reward_shift": float(reward_shift), "offrl_config": offrl_config(a.algo, cfg), "probe": buffer.obs[:64]}

    batch_size = cfg["batch_size"]
    resume_file, first, earlier, data_sha = os.path.join(a.out, "resume.pt"), 1, 0.0, sha256_file(a.dataset)
    if a.resume and os.path.exists(resume_file):
        state = torch.load(resume_file)
        if (state["algo"], state["dataset_sha256"], state["seed"]) != (a.algo, data_sha, a.seed):
            sys.exit(f"error: {resume_file} is another run's (algo, dataset or seed differ)")
        agent, first, earlier = state["agent"], state["step"] + 1, state["seconds"]
        np.random.set_state(state["numpy"]); random.setstate(state["random"]); torch.set_rng_state(state["torch"])
        print(f"[{a.algo} {ds}] going on from {resume_file} at step {state['step']}", flush=True)
    start = time.perf_counter()
    for t in range(first, a.steps + 1):
        agent.update(buffer.sample(batch_size))
        if a.snapshot_every and t % a.snapshot_every == 0:
            save(agent, a.algo, run, t, os.path.join(a.out, f"step-{t}"))
        if a.checkpoint_every and t % a.checkpoint_every == 0 and t < a.steps:
            os.makedirs(a.out, exist_ok=True)
            torch.save({"algo": a.algo, "dataset_sha256": data_sha, "seed": a.seed, "step": t, "agent": agent,
                        "numpy": np.random.get_state(), "random": random.getstate(), "torch": torch.get_rng_state(),
                        "seconds": earlier + time.perf_counter() - start}, resume_file + ".tmp")
            os.replace(resume_file + ".tmp", resume_file)
        if t % 1000 == 0:
            print(f"[{a.algo} {ds}] step {t}/{a.steps}  {(t - first + 1) / (time.perf_counter() - start):.1f} updates/s", flush=True)
    secs = earlier + time.perf_counter() - start
    save(agent, a.algo, run, a.steps, a.out)
    if os.path.exists(resume_file):
        os.remove(resume_file)   # finished: nothing to go on from
    shown = {k: (str(v) if isinstance(v, float) and math.isinf(v) else v) for k, v in cfg.items()}   # JSON has no inf
    print(json.dumps({"algo": a.algo, "dataset": ds, "steps": a.steps, "seed": a.seed, "updates_per_s": a.steps / secs,
                      "seconds": secs, "transitions": buffer.n, "torch": torch.__version__,
                      "script_sha256": sha256_file(os.path.abspath(__file__)), "dataset_sha256": data_sha,
                      "corl": CORL, "config": shown}))


if __name__ == "__main__":
    main()
