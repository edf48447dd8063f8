"""DDP on a sharded batch must match one process on the whole batch; prints 'rank R OK ddp' per rank."""
import sys

import numpy as np

import ember
import ember.distributed as dist
import ember.nn as nn
from ember.nn.parallel import DistributedDataParallel as DDP


class Net(nn.Module):
    def __init__(self, unused=False):
        super().__init__()
        self.fc1 = nn.Linear(5, 8)
        self.fc2 = nn.Linear(8, 3)
        if unused:
            self.extra = nn.Linear(8, 3)   # never called in forward
        self.register_buffer('calls', ember.zeros(1))

    def forward(self, x):
        return self.fc2(ember.tanh(self.fc1(x)))


def make(seed, **kw):
    ember.manual_seed(seed)
    return Net(**kw).double()


def sgd(params, lr):
    with ember.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def zero(params):
    for p in params:
        p.grad = None


def outside(m, x, n, deep=True):
    """Terms that use the parameters outside the DDP forward: weight decay, and fc2's bias deep in another branch
    (its gradient arrives after the bucket holding it was sent); the sum over x's rows scaled by n, as DDP
    averages over the n ranks."""
    decay = ((m.fc1.weight ** 2).sum() + (m.fc2.weight ** 2).sum()) * 0.01
    if not deep:
        return decay
    return decay + ember.tanh(m.fc1(x * m.fc2.bias.sum())).sum() * 0.01 * n


def params_np(m):
    return [p.detach().numpy().copy() for p in m.parameters()]


def check(a, b, what):
    for x, y in zip(a, b):
        err = np.abs(x - y).max()
        if err > 1e-5:
            raise AssertionError(f'{what}: parameters differ by {err}')


def main():
    dist.init_process_group()
    r, n = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    X = ember.tensor(rng.standard_normal((8 * n, 5)))
    Y = ember.tensor(rng.standard_normal((8 * n, 3)))
    shard = slice(r * 8, (r + 1) * 8)
    steps, lr = 4, 0.1

    # reference: one process, whole batch
    ref = make(1)
    for _ in range(steps):
        zero(ref.parameters())
        ((ref(X) - Y) ** 2).mean().backward()
        sgd(ref.parameters(), lr)
    want = params_np(ref)

    variants = [dict(), dict(bucket_cap_mb=0.0001), dict(gradient_as_bucket_view=True),
                dict(find_unused_parameters=True, unused=True)]
    for kw in variants:
        unused = kw.pop('unused', False)
        model = make(1, unused=unused)  # fc1 and fc2 start as the reference's
        with ember.no_grad():
            for p in model.parameters():
                p += r  # ranks now differ: DDP must broadcast rank 0's values
        ddp = DDP(model, **kw)
        assert list(ddp.state_dict())[0].startswith('module.')
        for _ in range(steps):
            zero(model.parameters())
            ((ddp(X[shard]) - Y[shard]) ** 2).mean().backward()
            sgd(model.parameters(), lr)
        check([p.detach().numpy() for p in (model.fc1.weight, model.fc1.bias, model.fc2.weight, model.fc2.bias)],
              want, f'ddp {kw}')
        if unused:
            assert model.extra.weight.grad is None, 'a parameter unused on every rank must keep grad None'

    # no_sync: accumulate two half-shards locally, then sync on the last: same as the whole batch
    model = make(1)
    ddp = DDP(model)
    half = [slice(r * 8, r * 8 + 4), slice(r * 8 + 4, (r + 1) * 8)]
    for _ in range(steps):
        zero(model.parameters())
        with ddp.no_sync():
            ((ddp(X[half[0]]) - Y[half[0]]) ** 2).mean().mul(0.5).backward()
        ((ddp(X[half[1]]) - Y[half[1]]) ** 2).mean().mul(0.5).backward()
        sgd(model.parameters(), lr)
    check(params_np(model), want, 'no_sync')

    # parameters also used outside the DDP forward: more gradient after a parameter was counted complete, before
    # its bucket was sent (taken as is) or after (the bucket is reduced again): still exact
    for deep in (False, True):
        ref3 = make(1)
        for _ in range(steps):
            zero(ref3.parameters())
            (((ref3(X) - Y) ** 2).mean() + outside(ref3, X, 1, deep)).backward()
            sgd(ref3.parameters(), lr)
        for kw in (dict(), dict(bucket_cap_mb=0.0001)):
            model = make(1)
            ddp = DDP(model, **kw)
            for _ in range(steps):
                zero(model.parameters())
                (((ddp(X[shard]) - Y[shard]) ** 2).mean() + outside(model, X[shard], n, deep)).backward()
                sgd(model.parameters(), lr)
            check(params_np(model), params_np(ref3), f'outside use {kw} deep={deep}')

    # gradient_as_bucket_view with grads zeroed in place (they stay views of the buckets)
    model = make(1)
    ddp = DDP(model, gradient_as_bucket_view=True, bucket_cap_mb=0.0001)
    for step in range(steps):
        for p in model.parameters():
            if p.grad is not None:
                p.grad.zero_()
        ((ddp(X[shard]) - Y[shard]) ** 2).mean().backward()
        sgd(model.parameters(), lr)
    check(params_np(model), want, 'gradient_as_bucket_view, zeroed in place')

    # ember.optim.SGD with momentum, when present
    try:
        from ember.optim import SGD
    except ImportError:
        SGD = None
    if SGD is not None:
        ref4 = make(1)
        opt = SGD(ref4.parameters(), lr=lr, momentum=0.9)
        for _ in range(steps):
            opt.zero_grad()
            ((ref4(X) - Y) ** 2).mean().backward()
            opt.step()
        model = make(1 + r)
        ddp = DDP(model)
        opt = SGD(ddp.parameters(), lr=lr, momentum=0.9)
        for _ in range(steps):
            opt.zero_grad()
            ((ddp(X[shard]) - Y[shard]) ** 2).mean().backward()
            opt.step()
        check(params_np(model), params_np(ref4), 'optim.SGD')

    # buffers: rank 0's are broadcast at construction and each forward
    model = make(1)
    model.calls.fill_(float(r + 5))
    ddp = DDP(model)
    assert model.calls.item() == 5.0, model.calls.item()
    model.calls.fill_(float(r + 7))
    ddp(X[shard])
    assert model.calls.item() == 7.0, model.calls.item()

    # different modules on different ranks: a clear error on every rank
    if n > 1:
        bad = nn.Linear(3 + r, 2)
        try:
            DDP(bad)
        except RuntimeError as e:
            assert 'same module on every rank' in str(e), e
        else:
            raise AssertionError('DDP accepted different modules')
    dist.barrier()
    print(f'rank {r} OK ddp', flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
    sys.exit(0)
