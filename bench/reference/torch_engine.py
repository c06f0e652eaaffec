#!/usr/bin/python3
"""PyTorch / NumPy CPU reference for OffRL's engine benchmarks (same shapes as bench/OffRL.Bench).

    apt-get install -y python3-torch python3-numpy libopenblas0-pthread
    /usr/bin/python3 bench/reference/torch_engine.py [--threads 2] [--json]

gemm: NumPy (OpenBLAS) GFLOP/s for 256^3 and 1024^3 at 1 and 2 threads (separate processes; 1 thread pinned to
core 0 with taskset), OpenBLAS in its native kernel (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the child's
environment).
mlp-step, ensemble-step, transformer-step: PyTorch steps/s (median of 3 timed runs) at PyTorch's fastest setting for
--threads cores: every split between torch's intra-op threads and OpenBLAS's threads is tried in its own process
(as ../shared/bench/torch_rl_updates.py does) and the best kept per benchmark, with the setting reported.
"""
import argparse, json, os, statistics, subprocess, sys, time


def rate(step, seconds=1.0):
    t = time.perf_counter(); n = 0
    while time.perf_counter() - t < 0.5 or n < 5:
        step(); n += 1
    per = (time.perf_counter() - t) / n
    reps = max(3, int(seconds / per))
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            step()
        rates.append(reps / (time.perf_counter() - t))
    return statistics.median(rates)


def gemm_child(size):
    import numpy as np
    a = np.random.randn(size, size).astype(np.float32); b = np.random.randn(size, size).astype(np.float32)
    r = rate(lambda: a @ b)
    print(2.0 * size ** 3 * r / 1e9)


def native_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def gemm():
    out = {}
    for s in (256, 1024):
        for t in (1, 2):
            env = native_env(OPENBLAS_NUM_THREADS=t, OMP_NUM_THREADS=t)
            pin = ["taskset", "-c", "0"] if t == 1 else []
            v = subprocess.run(pin + [sys.executable, __file__, "--gemm-child", str(s)], env=env, capture_output=True, text=True, check=True)
            out[f"gflops_{s}_t{t}"] = round(float(v.stdout.strip()), 1)
    return out


def best_split(cores):
    """Every split of the cores between torch's intra-op threads and OpenBLAS's, each in its own process; the best per benchmark."""
    best, how = {}, {}
    for t in range(1, cores + 1):
        for b in range(1, cores + 1):
            if t * b > cores and not (t == b == cores):
                continue
            pin = ["taskset", "-c", "0"] if cores == 1 else []
            v = subprocess.run(pin + [sys.executable, __file__, "--steps-child", str(t)], env=native_env(OPENBLAS_NUM_THREADS=b),
                               capture_output=True, text=True, check=True)
            for k, r in json.loads(v.stdout.strip().splitlines()[-1]).items():
                if r > best.get(k, 0):
                    best[k], how[k] = r, f"torch {t} x blas {b}"
    return best, how


def add_speed_arguments(p):
    """A reference's speed options: --threads (cores to split), --seconds, --json, and the two fastest_split passes to
    the script's child runs (--single, --torch-threads)."""
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--single", action="store_true")
    p.add_argument("--torch-threads", type=int, default=1)


def fastest_split(script_args, cores, seconds):
    """The best updates/s of `python SCRIPT_ARGS --single --torch-threads T --seconds S` (its last line) over every
    split of the cores between torch's intra-op threads T and OpenBLAS's, each in its own process (one core pinned)."""
    best, how = 0.0, ""
    for t in range(1, cores + 1):
        for b in range(1, cores + 1):
            if t * b > cores and not (t == b == cores):
                continue
            pin = ["taskset", "-c", "0"] if cores == 1 else []
            cmd = pin + [sys.executable, *script_args, "--single", "--torch-threads", str(t), "--seconds", str(seconds)]
            r = float(subprocess.run(cmd, env=native_env(OPENBLAS_NUM_THREADS=b), capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            if r > best:
                best, how = r, f"torch {t} x blas {b}"
    return best, how


def torch_steps():
    import torch, torch.nn as nn, torch.nn.functional as F
    torch.manual_seed(0)
    res = {}

    net = nn.Sequential(nn.Linear(17, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 6))
    opt = torch.optim.Adam(net.parameters(), 3e-4)
    x, y = torch.randn(256, 17), torch.randn(256, 6)
    def mlp():
        opt.zero_grad(); F.mse_loss(net(x), y).backward(); opt.step()
    res["mlp-step"] = rate(mlp)

    E = 10
    class EnsLinear(nn.Module):
        def __init__(s, i, o):
            super().__init__()
            b = 1 / i ** 0.5
            s.w = nn.Parameter(torch.empty(E, i, o).uniform_(-b, b)); s.b = nn.Parameter(torch.empty(E, 1, o).uniform_(-b, b))
        def forward(s, h):
            return torch.baddbmm(s.b, h, s.w)
    ens = nn.ModuleList([EnsLinear(23, 256), EnsLinear(256, 256), EnsLinear(256, 1)])
    eopt = torch.optim.Adam(ens.parameters(), 3e-4)
    ex, ey = torch.randn(256, 23), torch.randn(E, 256, 1)
    def ens_step():
        h = ex.unsqueeze(0).expand(E, -1, -1)
        h = F.relu(ens[0](h)); h = F.relu(ens[1](h)); out = ens[2](h)
        eopt.zero_grad(); F.mse_loss(out, ey).backward(); eopt.step()
    res["ensemble-step"] = rate(ens_step)

    W, T, B, L = 128, 20, 64, 3
    class Block(nn.Module):
        def __init__(s):
            super().__init__()
            s.ln1, s.ln2 = nn.LayerNorm(W), nn.LayerNorm(W)
            s.qkv, s.proj = nn.Linear(W, 3 * W), nn.Linear(W, W)
            s.fc, s.out = nn.Linear(W, 4 * W), nn.Linear(4 * W, W)
            s.drop = nn.Dropout(0.1)
            s.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))
        def forward(s, h):
            q, k, v = s.qkv(s.ln1(h)).split(W, -1)
            att = (q @ k.transpose(1, 2)) / W ** 0.5
            att = s.drop(att.masked_fill(s.mask, float("-inf")).softmax(-1))
            h = h + s.proj(att @ v)
            return h + s.drop(s.out(F.gelu(s.fc(s.ln2(h)))))
    class GPT(nn.Module):
        def __init__(s):
            super().__init__()
            s.emb, s.pos = nn.Linear(23, W), nn.Parameter(torch.zeros(T, W))
            s.blocks = nn.ModuleList([Block() for _ in range(L)]); s.lnf = nn.LayerNorm(W); s.head = nn.Linear(W, 6)
        def forward(s, x):
            h = s.emb(x) + s.pos
            for b in s.blocks: h = b(h)
            return s.head(s.lnf(h))
    gpt = GPT(); topt = torch.optim.AdamW(gpt.parameters(), 1e-4, weight_decay=1e-4)
    tx, ty = torch.randn(B, T, 23), torch.randn(B, T, 6)
    def tr():
        topt.zero_grad(); F.mse_loss(gpt(tx), ty).backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), 0.25); topt.step()
    res["transformer-step"] = rate(tr)
    return {k: round(v, 1) for k, v in res.items()}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--gemm-child":
        gemm_child(int(sys.argv[2])); sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--steps-child":
        import torch
        torch.set_num_threads(int(sys.argv[2]))
        print(json.dumps(torch_steps())); sys.exit(0)
    p = argparse.ArgumentParser(); p.add_argument("--threads", type=int, default=2); p.add_argument("--json", action="store_true")
    a = p.parse_args()
    import torch
    steps, setting = best_split(a.threads)
    out = {"torch": torch.__version__, "threads": a.threads, "numpy_gemm": gemm(), "torch_steps_per_s": steps, "setting": setting}
    print(json.dumps(out) if a.json else json.dumps(out, indent=1))
