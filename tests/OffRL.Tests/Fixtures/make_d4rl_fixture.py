#!/usr/bin/python3
"""Writes d4rl-layout.hdf5 with h5py exactly as D4RL's dataset files are laid out (numpy bool flags become
HDF5 enums, infos/* are float64, an attribute names the environment). Run with Debian's python3-h5py:
    /usr/bin/python3 tests/OffRL.Tests/Fixtures/make_d4rl_fixture.py
The output is committed (4 KB) so the test needs no Python."""
import os
import h5py
import numpy as np

rng = np.random.default_rng(0)
n = 25
obs = rng.normal(size=(n, 3)).astype(np.float32)
act = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
rew = np.arange(n, dtype=np.float32) * 0.5
terminals = np.zeros(n, dtype=bool); terminals[9] = True
timeouts = np.zeros(n, dtype=bool); timeouts[19] = True; timeouts[24] = True
with h5py.File(os.path.join(os.path.dirname(os.path.abspath(__file__)), "d4rl-layout.hdf5"), "w") as f:
    f.create_dataset("observations", data=obs, compression="gzip")
    f.create_dataset("actions", data=act)
    f.create_dataset("rewards", data=rew)
    f.create_dataset("terminals", data=terminals)
    f.create_dataset("timeouts", data=timeouts)
    f.create_dataset("infos/qpos", data=obs.astype(np.float64)[:, :2])
    f.create_dataset("infos/action_log_probs", data=-np.abs(rew.astype(np.float64)))
    f.attrs["env"] = "fixture-v0"
