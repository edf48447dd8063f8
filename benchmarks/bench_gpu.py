"""GPU benchmark: ember on CuPy against PyTorch on CUDA, one training step per workload, synchronised timings.

Workloads (each a full step: forward, loss, backward, optimizer update):
  tutorial_mlp   the tutorial MLP, 64x1000 -> 100 -> 10, MSE loss, SGD
  mlp_784        784-256-128-10, batch 128, Adam + cross entropy
  lenet          the LeNet-like CNN of bench_cnn.py, batch 64, SGD momentum 0.9
  transformer    4-layer TransformerEncoder, d_model 256, 4 heads, seq 128, batch 32, Adam

Run: python benchmarks/bench_gpu.py [--only NAME ...] [--steps N] [--json out.json]
Prints the device, then a table (workload, ember ms, torch ms, ratio, target); the target is ember at most 1.5x
PyTorch's step time. Needs CuPy and a GPU (exits 0 with a note otherwise, so scripts can always run it).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import ember  # noqa: E402
import _models  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

TARGET = 1.5


def _sync(fw):
    if fw is ember:
        ember.cuda.synchronize()
    else:
        torch.cuda.synchronize()


def time_steps(fw, step, steps, warmup):
    """Median milliseconds of ``step()`` (each call synchronised), after ``warmup`` calls (kernel compiles)."""
    for _ in range(warmup):
        step()
    _sync(fw)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        _sync(fw)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


def throughput_ms(fw, step, steps):
    """Milliseconds per step of ``steps`` back-to-back steps with one sync at the end (the launch-bound view)."""
    _sync(fw)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(fw)
    return (time.perf_counter() - t0) / steps * 1e3


def _copy_weights(src, dst, fw):
    """Same initial weights in both frameworks (ember module -> torch module or the other way round)."""
    s = {k: v.detach().cpu().numpy() for k, v in src.state_dict().items()}
    with fw.no_grad():
        for k, v in dst.state_dict().items():
            if k in s and tuple(s[k].shape) == tuple(v.shape):  # (names that differ keep their own init)
                v.copy_(fw.tensor(s[k]).to(v.device))


# ---- workloads: make(fw, dev) -> (model, step) ----------------------------------------------------------------------

def tutorial_mlp(fw, dev):
    rng = np.random.default_rng(0)
    x = fw.tensor(rng.standard_normal((64, 1000)), dtype=fw.float32).to(dev)
    y = fw.tensor(rng.standard_normal((64, 10)), dtype=fw.float32).to(dev)
    model = fw.nn.Sequential(fw.nn.Linear(1000, 100), fw.nn.ReLU(), fw.nn.Linear(100, 10)).to(dev)
    opt = fw.optim.SGD(model.parameters(), lr=1e-4)
    loss_fn = fw.nn.MSELoss(reduction='sum')

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return model, step


def mlp_784(fw, dev):
    rng = np.random.default_rng(1)
    x = fw.tensor(rng.standard_normal((128, 784)), dtype=fw.float32).to(dev)
    y = fw.tensor(rng.integers(0, 10, 128)).to(dev)
    nn = fw.nn
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)).to(dev)
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        fw.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, step


def lenet(fw, dev):
    F = fw.nn.functional
    rng = np.random.default_rng(2)
    x = fw.tensor(rng.standard_normal((64, 1, 28, 28)), dtype=fw.float32).to(dev)
    y = fw.tensor(rng.integers(0, 10, 64)).to(dev)
    model = _models.lenet(fw).to(dev)
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, step


def transformer(fw, dev):
    nn = fw.nn
    layer = nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.1, batch_first=True)
    model = nn.Sequential(nn.TransformerEncoder(layer, 4), nn.Linear(256, 256)).to(dev)
    rng = np.random.default_rng(3)
    x = fw.tensor(rng.standard_normal((32, 128, 256)), dtype=fw.float32).to(dev)
    y = fw.tensor(rng.standard_normal((32, 128, 256)), dtype=fw.float32).to(dev)
    opt = fw.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        fw.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return model, step


WORKLOADS = {'tutorial_mlp': (tutorial_mlp, 50), 'mlp_784': (mlp_784, 50), 'lenet': (lenet, 30),
             'transformer': (transformer, 10)}


def run(name, steps=None, warmup=3):
    make, default_steps = WORKLOADS[name]
    steps = steps or default_steps
    ember.manual_seed(0)
    em, estep = make(ember, 'cuda')
    row = {'workload': name}
    if torch is not None and torch.cuda.is_available():
        torch.manual_seed(0)
        tm, tstep = make(torch, 'cuda')
        _copy_weights(em, tm, torch)
        row['torch_ms'] = time_steps(torch, tstep, steps, warmup)
        row['torch_tput_ms'] = throughput_ms(torch, tstep, steps)
    row['ember_ms'] = time_steps(ember, estep, steps, warmup)
    row['ember_tput_ms'] = throughput_ms(ember, estep, steps)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--only', nargs='*', choices=sorted(WORKLOADS), help='workloads to run (default: all)')
    ap.add_argument('--steps', type=int, default=None, help='timed steps per workload')
    ap.add_argument('--json', default=None, help='also write the rows to this JSON file')
    args = ap.parse_args(argv)
    if not ember.cuda.is_available():
        print('bench_gpu: no GPU usable through CuPy (ember.cuda.is_available() is False); nothing to time')
        return 0
    import cupy
    print(f'device: {ember.cuda.get_device_name()} (capability {ember.cuda.get_device_capability()}), '
          f'CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, '
          f'PyTorch {torch.__version__ if torch is not None else "absent"}'
          f'{"" if torch is None or torch.cuda.is_available() else " (no CUDA)"}')
    print(f'EMBER_CUDA_FUSED={os.environ.get("EMBER_CUDA_FUSED", "1")}; times are medians of synchronised steps '
          f'(tput: back-to-back steps, one sync at the end)')
    rows = []
    for name in args.only or list(WORKLOADS):
        try:
            rows.append(run(name, args.steps))
        except Exception as e:  # report and go on: one broken workload must not hide the others
            print(f'{name}: FAILED {type(e).__name__}: {e}')
            rows.append({'workload': name, 'error': f'{type(e).__name__}: {e}'})
    print(f"\n{'workload':14s} {'ember ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'target':>6s}  "
          f"{'ember tput':>10s} {'torch tput':>10s}")
    worst = 0.0
    for r in rows:
        if 'error' in r:
            print(f"{r['workload']:14s} error: {r['error'][:80]}")
            continue
        t = r.get('torch_ms')
        ratio = r['ember_ms'] / t if t else None
        r['ratio'] = ratio
        worst = max(worst, ratio or 0.0)
        print(f"{r['workload']:14s} {r['ember_ms']:9.3f} {t if t is not None else float('nan'):9.3f} "
              f"{ratio if ratio is not None else float('nan'):6.2f} {TARGET:6.2f}  {r['ember_tput_ms']:10.3f} "
              f"{r.get('torch_tput_ms', float('nan')):10.3f}")
    if args.json:
        import json
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)
    print(f'\nworst ratio {worst:.2f} (target {TARGET})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
