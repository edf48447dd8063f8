"""nn benchmark: MLP 784-256-128-10 with CrossEntropyLoss and Adam, batch 128, ember vs PyTorch on the same weights."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import compare, print_table, match_threads, torch  # noqa: E402


def _mlp(fw, batch=128):
    rng = np.random.default_rng(0)
    x = fw.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
    y = fw.tensor(rng.integers(0, 10, batch))
    model = fw.nn.Sequential(fw.nn.Linear(784, 256), fw.nn.ReLU(), fw.nn.Linear(256, 128), fw.nn.ReLU(),
                             fw.nn.Linear(128, 10))
    with fw.no_grad():  # identical weights in both frameworks
        for i, p in enumerate(model.parameters()):
            p.copy_(fw.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32) * 0.05))
    return model, x, y


def mlp_adam_step(fw):
    model, x, y = _mlp(fw)
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = fw.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def mlp_forward(fw):
    model, x, y = _mlp(fw)
    loss_fn = fw.nn.CrossEntropyLoss()
    return lambda: loss_fn(model(x), y)


def tutorial_nn(fw):
    """The tutorial's nn.Sequential + MSELoss(sum) + Adam step, 64x1000 -> 100 -> 10."""
    rng = np.random.default_rng(0)
    x = fw.tensor(rng.standard_normal((64, 1000)).astype(np.float32))
    y = fw.tensor(rng.standard_normal((64, 10)).astype(np.float32))
    model = fw.nn.Sequential(fw.nn.Linear(1000, 100), fw.nn.ReLU(), fw.nn.Linear(100, 10))
    opt = fw.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = fw.nn.MSELoss(reduction='sum')

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def run():
    threads = match_threads()
    rows = [compare('MLP 784-256-128-10 + CE + Adam, batch 128 (step)', mlp_adam_step, target=1.1, repeat=100),
            compare('MLP 784-256-128-10 + CE, batch 128 (forward)', mlp_forward, repeat=200),
            compare('tutorial nn.Sequential + MSELoss + Adam, 64x1000->100->10 (step)', tutorial_nn, repeat=100)]
    print(f'threads: {threads}')
    print_table(rows, 'nn: ember vs PyTorch (same process)')
    return rows


if __name__ == '__main__':
    run()
