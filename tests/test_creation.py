"""Tensor creation: from data, filled, ranges and random (seeding, Generators), with PyTorch parity."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from conftest import torch, needs_torch


def test_tensor_copies_data():
    a = np.array([1.0, 2.0])
    t = ember.tensor(a)
    a[0] = 9
    assert t.tolist() == [1.0, 2.0]
    src = ember.tensor([1.0, 2.0])
    c = ember.tensor(src)
    assert c.data_ptr() != src.data_ptr() and c.tolist() == [1.0, 2.0]
    assert ember.tensor([ember.tensor(1.0), ember.tensor(2.0)]).tolist() == [1.0, 2.0]


def test_tensor_requires_grad_and_dtype():
    t = ember.tensor([1, 2], dtype=ember.float64, requires_grad=True)
    assert t.dtype is ember.float64 and t.requires_grad and t.is_leaf and t.grad is None


def test_explicit_float64_keeps_python_precision():
    # Python floats must not pass through the default float32 on the way to an explicit float64
    assert ember.tensor([0.3, 1.7], dtype=ember.float64).tolist() == [0.3, 1.7]
    assert ember.tensor(0.1, dtype=ember.float64).item() == 0.1
    assert ember.as_tensor([0.3], dtype=ember.float64).item() == 0.3
    assert ember.tensor([[0.1], [0.2]], dtype='float64').numpy()[1, 0] == 0.2
    assert ember.tensor([1.7, -1.7], dtype=ember.int64).tolist() == [1, -1]


def test_from_numpy_shares_memory():
    a = np.arange(4.0)
    t = ember.from_numpy(a)
    assert t.dtype is ember.float64
    a[0] = 7
    assert t[0].item() == 7
    t.add_(1)
    assert a.tolist() == [8.0, 2.0, 3.0, 4.0]
    assert ember.from_numpy(np.zeros(2, np.int32)).dtype is ember.int32
    with pytest.raises(TypeError):
        ember.from_numpy([1, 2])


def test_as_tensor():
    a = np.arange(3.0)
    t = ember.as_tensor(a)
    a[1] = 5
    assert t[1].item() == 5  # shared: same dtype and device
    c = ember.as_tensor(a, dtype=ember.float32)
    a[2] = 9
    assert c.dtype is ember.float32 and c[2].item() == 2  # converted: a copy
    src = ember.tensor([1, 2])
    assert ember.as_tensor(src) is src
    assert ember.as_tensor(src, dtype=ember.float32).dtype is ember.float32
    assert ember.as_tensor([1, 2]).dtype is ember.int64
    assert ember.asarray([1.0]).dtype is ember.float32


@pytest.mark.parametrize('fn,fill', [('zeros', 0), ('ones', 1)])
def test_zeros_ones(fn, fill):
    f = getattr(ember, fn)
    for args in ((2, 3), ((2, 3),), ([2, 3],), (ember.Size([2, 3]),)):
        x = f(*args)
        assert x.shape == (2, 3) and x.dtype is ember.float32 and (x == fill).all()
    assert f(2, dtype=ember.int32).dtype is ember.int32
    assert f(()).shape == () and f(0).shape == (0,)
    assert f(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match='negative'):
        f(-1)


def test_full_empty_like():
    assert ember.full((2, 2), 1.5).tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert ember.full([2], 7, dtype=ember.float64).dtype is ember.float64
    assert ember.full((2,), ember.tensor(3.0)).tolist() == [3.0, 3.0]
    assert ember.empty(2, 3).shape == (2, 3) and ember.empty(2).dtype is ember.float32
    i = ember.zeros(2, 3, dtype=ember.int64)
    assert ember.zeros_like(i).dtype is ember.int64 and ember.ones_like(i).tolist() == [[1] * 3] * 2
    assert ember.full_like(i, 2.7).tolist() == [[2] * 3] * 2
    assert ember.ones_like(i, dtype=ember.float16).dtype is ember.float16
    assert ember.empty_like(i).shape == (2, 3) and ember.empty_like(i).dtype is ember.int64
    assert ember.zeros_like(ember.ones(2), requires_grad=True).requires_grad
    f = ember.ones(2, dtype=ember.float64)
    assert f.new_zeros(3).dtype is ember.float64 and f.new_ones((2, 2)).shape == (2, 2)
    assert f.new_full((2,), 5).tolist() == [5.0, 5.0] and f.new_empty(4).shape == (4,)
    assert f.new_tensor([1, 2]).dtype is ember.float64


def test_arange():
    assert ember.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert ember.arange(5, 0, -1).tolist() == [5, 4, 3, 2, 1]
    assert ember.arange(0, 10, 3).tolist() == [0, 3, 6, 9]
    assert ember.arange(1, 2.5, 0.5).tolist() == [1.0, 1.5, 2.0]
    assert ember.arange(0, 1, 0.1).shape == (10,)
    assert ember.arange(1, 4, dtype=ember.float64).dtype is ember.float64
    assert ember.arange(ember.tensor(3)).tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match='step must be nonzero'):
        ember.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match='inconsistent with step sign'):
        ember.arange(0, -5)


def test_linspace_eye():
    assert ember.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert ember.linspace(0, 1, 5).dtype is ember.float32
    assert ember.linspace(0, 1, 1).tolist() == [0.0] and ember.linspace(0, 1, 0).shape == (0,)
    assert ember.linspace(-2, 2, 5, dtype=ember.float64).dtype is ember.float64
    e = ember.eye(3)
    assert e.dtype is ember.float32 and e.tolist() == np.eye(3).tolist()
    assert ember.eye(2, 3, dtype=ember.int64).tolist() == [[1, 0, 0], [0, 1, 0]]


@needs_torch
@pytest.mark.parametrize('expr', [
    'T.arange(0, 1, 0.1)', 'T.arange(-1.5, 1.5, 0.5)', 'T.arange(0, 0.3, 0.1)', 'T.arange(10, 1, -3)',
    'T.linspace(-1, 1, 7)', 'T.linspace(0, 10, 3, dtype=T.int64)', 'T.linspace(2, 3, 4, dtype=T.float64)',
    'T.eye(3, 2)', 'T.eye(0)', 'T.full((2,), 3)', 'T.full_like(T.zeros(2, dtype=T.int64), 2.7)',
    'T.logspace(0, 2, 3)', 'T.zeros(2, 0)', 'T.ones(2, dtype=T.bool)', 'T.randperm(0)', 'T.empty(0)'])
def test_creation_matches_torch(expr):
    e, t = eval(expr, {'T': ember}), eval(expr, {'T': torch})
    assert repr(e) == repr(t)
    assert tuple(e.shape) == tuple(t.shape) and str(e.dtype)[6:] == str(t.dtype)[6:]


# ---- random ---------------------------------------------------------------------------------------------------------

def test_random_shapes_and_dtypes():
    assert ember.rand(2, 3).shape == (2, 3) and ember.randn((2, 3)).shape == (2, 3)
    assert ember.randn(2, dtype=ember.float64).dtype is ember.float64
    assert ember.rand(2, dtype=ember.float16).dtype is ember.float16
    r = ember.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    n = ember.randn(20000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    i = ember.randint(0, 5, (1000,))
    assert i.dtype is ember.int64 and i.min().item() == 0 and i.max().item() == 4
    assert ember.randint(5, (3,)).shape == (3,)
    assert ember.randint(0, 5, (2, 2), dtype=ember.float32).dtype is ember.float32
    assert sorted(ember.randperm(6).tolist()) == list(range(6)) and ember.randperm(6).dtype is ember.int64
    assert ember.normal(0.0, 1.0, (2, 3)).shape == (2, 3)
    assert ember.normal(ember.zeros(3), 1.0).shape == (3,)
    assert ember.normal(ember.zeros(2, 1), ember.ones(3)).shape == (2, 3)
    assert ember.normal(ember.zeros(3, dtype=ember.float64), 1.0).dtype is ember.float64
    assert ember.normal(5.0, 0.0, (3,)).tolist() == [5.0] * 3
    assert ember.rand_like(ember.zeros(2, dtype=ember.float64)).dtype is ember.float64
    assert ember.randn_like(ember.zeros(2, 2)).shape == (2, 2)
    assert ember.randn(3, requires_grad=True).requires_grad


def test_random_errors():
    with pytest.raises(NotImplementedError):
        ember.rand(2, dtype=ember.int64)
    with pytest.raises(RuntimeError, match='from=5 >= to=1'):
        ember.randint(5, 1, (3,))
    with pytest.raises(RuntimeError, match='std >= 0'):
        ember.normal(0.0, -1.0, (2,))


def test_manual_seed_reproducible():
    ember.manual_seed(0)
    a = ember.randn(3)
    b = ember.rand(2)
    ember.manual_seed(0)
    assert ember.equal(ember.randn(3), a) and ember.equal(ember.rand(2), b)
    ember.manual_seed(1)
    assert not ember.equal(ember.randn(3), a)
    assert ember.initial_seed() == 1
    g = ember.manual_seed(2)
    assert isinstance(g, ember.Generator)


def test_manual_seed_same_across_processes():
    code = 'import ember; ember.manual_seed(0); print(ember.randn(3).tolist(), ember.randint(0, 100, (3,)).tolist())'
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    outs = [subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=root,
                           timeout=60) for _ in range(2)]
    assert all(o.returncode == 0 for o in outs), outs[0].stderr
    assert outs[0].stdout == outs[1].stdout and outs[0].stdout.strip()
    ember.manual_seed(0)
    here = f'{ember.randn(3).tolist()} {ember.randint(0, 100, (3,)).tolist()}'
    assert outs[0].stdout.strip() == here


def test_generator():
    g1 = ember.Generator().manual_seed(3)
    g2 = ember.Generator('cpu')
    g2.manual_seed(3)
    assert ember.equal(ember.randn(4, generator=g1), ember.randn(4, generator=g2))
    assert ember.equal(ember.randint(0, 9, (4,), generator=g1), ember.randint(0, 9, (4,), generator=g2))
    assert ember.equal(ember.randperm(5, generator=g1), ember.randperm(5, generator=g2))
    assert g1.initial_seed() == 3 and g1.device == ember.device('cpu')
    # an explicit generator leaves the default one alone
    ember.manual_seed(0)
    first = ember.randn(2)
    ember.manual_seed(0)
    ember.randn(2, generator=ember.Generator().manual_seed(99))
    assert ember.equal(ember.randn(2), first)


def test_rng_state_roundtrip():
    ember.manual_seed(5)
    state = ember.get_rng_state()
    a = ember.randn(3)
    ember.set_rng_state(state)
    assert ember.equal(ember.randn(3), a)
    g = ember.Generator().manual_seed(1)
    st = g.get_state()
    x = ember.rand(2, generator=g)
    g.set_state(st)
    assert ember.equal(ember.rand(2, generator=g), x)


def test_inplace_random_fills():
    x = ember.zeros(1000)
    x.uniform_(2.0, 3.0)
    assert 2.0 <= x.min().item() and x.max().item() < 3.0
    x.normal_(5.0, 0.1)
    assert abs(x.mean().item() - 5.0) < 0.05
    v = x._version
    x.bernoulli_(0.5)
    assert set(x.unique().tolist()) <= {0.0, 1.0} and x._version == v + 1
    with pytest.raises(RuntimeError, match='leaf'):
        ember.zeros(2, requires_grad=True).normal_()
    with ember.no_grad():
        ember.zeros(2, requires_grad=True).normal_()


@needs_torch
@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16', 'int64', 'int32'])
def test_linspace_bitwise_matches_torch(dtype):
    for a, b, n in [(-1, 1, 7), (0, 1, 5), (0, 1, 1), (0, 1, 0), (-3.3, 7.1, 100), (0, 1, 1000), (5, -5, 11),
                    (1e-3, 2.5, 33)]:
        e = ember.linspace(a, b, n, dtype=getattr(ember, dtype)).numpy()
        t = torch.linspace(a, b, n, dtype=getattr(torch, dtype)).numpy()
        assert e.dtype == t.dtype
        np.testing.assert_array_equal(e, t, err_msg=f'linspace({a}, {b}, {n})')


@needs_torch
def test_arange_integer_dtype_truncates_like_torch():
    for args in [(2.5,), (-1.5, 1.5, 1), (0.5, 3.7, 1), (1, 7.9, 2.9), (10, 0, -3)]:
        assert ember.arange(*args, dtype=ember.int64).tolist() == torch.arange(*args, dtype=torch.int64).tolist()
    with pytest.raises(RuntimeError, match='step must be nonzero'):
        ember.arange(0, 1, 0.1, dtype=ember.int64)
