"""ember.nn.init: fan computations and gains as PyTorch's, distribution statistics, RNG use, no graph recorded."""
import math
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn import init
from conftest import torch, needs_torch


@needs_torch
@pytest.mark.parametrize('shape', [(3, 4), (8, 3, 5), (16, 4, 3, 3), (2, 6, 1, 2, 3), (5, 0)])
def test_fan_in_and_fan_out_match_pytorch(shape):
    e = init._calculate_fan_in_and_fan_out(ember.empty(*shape))
    t = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    assert e == t


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match='fewer than 2 dimensions'):
        init._calculate_fan_in_and_fan_out(ember.empty(5))
    with pytest.raises(ValueError, match='Mode fan_avg not supported'):
        init.kaiming_uniform_(ember.empty(3, 3), mode='fan_avg')


@needs_torch
@pytest.mark.parametrize('args', [('linear',), ('conv2d',), ('sigmoid',), ('tanh',), ('relu',), ('leaky_relu',),
                                  ('leaky_relu', 0.2), ('leaky_relu', 3), ('selu',)])
def test_calculate_gain_matches_pytorch(args):
    assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-15)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match='Unsupported nonlinearity'):
        init.calculate_gain('swish')
    with pytest.raises(ValueError, match='not a valid number'):
        init.calculate_gain('leaky_relu', True)


def _stats(t):
    a = t.detach().numpy().astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


def test_uniform_normal_constant():
    t = ember.empty(200, 300)
    init.uniform_(t, -2.0, 3.0)
    m, s, lo, hi = _stats(t)
    assert lo >= -2.0 and hi < 3.0 and abs(m - 0.5) < 0.03 and abs(s - 5 / math.sqrt(12)) < 0.02
    init.normal_(t, 1.5, 0.5)
    m, s, _, _ = _stats(t)
    assert abs(m - 1.5) < 0.01 and abs(s - 0.5) < 0.01
    init.constant_(t, 0.3)
    assert np.all(t.numpy() == np.float32(0.3))
    init.ones_(t)
    assert np.all(t.numpy() == 1)
    init.zeros_(t)
    assert np.all(t.numpy() == 0)
    assert t.dtype == ember.float32


def test_trunc_normal():
    t = ember.empty(100000)
    init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=1.5)
    a = t.numpy()
    assert a.min() >= -1.0 and a.max() <= 1.5
    # mean of N(0.5, 1) truncated to [-1, 1.5]
    from math import erf, exp, pi, sqrt
    alpha, beta = -1.5, 1.0
    phi = lambda x: exp(-x * x / 2) / sqrt(2 * pi)  # noqa: E731
    cdf = lambda x: (1 + erf(x / sqrt(2))) / 2  # noqa: E731
    want = 0.5 + (phi(alpha) - phi(beta)) / (cdf(beta) - cdf(alpha))
    assert abs(a.mean() - want) < 0.01


def test_eye_and_dirac_and_orthogonal():
    t = ember.empty(3, 5)
    init.eye_(t)
    assert np.array_equal(t.numpy(), np.eye(3, 5, dtype=np.float32))
    with pytest.raises(ValueError, match='Only tensors with 2 dimensions'):
        init.eye_(ember.empty(2, 2, 2))
    w = ember.empty(4, 2, 3, 3)
    init.dirac_(w)
    x = ember.randn(1, 2, 5, 5)
    assert w.numpy().sum() == 2 and w.numpy()[0, 0, 1, 1] == 1 and w.numpy()[1, 1, 1, 1] == 1
    del x
    for shape in ((6, 4), (4, 6), (5, 2, 2)):
        q = ember.empty(*shape)
        init.orthogonal_(q, gain=2.0)
        m = q.numpy().reshape(shape[0], -1).astype(np.float64)
        if m.shape[0] <= m.shape[1]:
            np.testing.assert_allclose(m @ m.T, 4 * np.eye(m.shape[0]), atol=1e-5)
        else:
            np.testing.assert_allclose(m.T @ m, 4 * np.eye(m.shape[1]), atol=1e-5)


def test_sparse():
    t = ember.empty(10, 20)
    init.sparse_(t, 0.3, std=0.1)
    zeros_per_col = (t.numpy() == 0).sum(0)
    assert np.all(zeros_per_col >= 3)


@pytest.mark.parametrize('shape', [(300, 200), (64, 16, 3, 3)])
def test_xavier_and_kaiming_statistics(shape):
    t = ember.empty(*shape)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
    init.xavier_uniform_(t, gain=1.5)
    bound = 1.5 * math.sqrt(6 / (fan_in + fan_out))
    _, s, lo, hi = _stats(t)
    assert lo >= -bound and hi <= bound and abs(s - bound / math.sqrt(3)) / s < 0.03
    init.xavier_normal_(t)
    _, s, _, _ = _stats(t)
    assert abs(s - math.sqrt(2 / (fan_in + fan_out))) / s < 0.03
    init.kaiming_uniform_(t, a=math.sqrt(5))
    bound = math.sqrt(2 / (1 + 5)) * math.sqrt(3 / fan_in)
    _, s, lo, hi = _stats(t)
    assert lo >= -bound and hi <= bound and abs(s - bound / math.sqrt(3)) / s < 0.03
    assert abs(bound - 1 / math.sqrt(fan_in)) < 1e-12     # Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    init.kaiming_normal_(t, mode='fan_out', nonlinearity='relu')
    _, s, _, _ = _stats(t)
    assert abs(s - math.sqrt(2) / math.sqrt(fan_out)) / s < 0.03


def test_init_uses_ember_rng_and_generator():
    a, b = ember.empty(5, 5), ember.empty(5, 5)
    ember.manual_seed(11)
    init.kaiming_uniform_(a)
    ember.manual_seed(11)
    init.kaiming_uniform_(b)
    assert np.array_equal(a.numpy(), b.numpy())
    g1, g2 = ember.Generator().manual_seed(3), ember.Generator().manual_seed(3)
    init.normal_(a, generator=g1)
    init.normal_(b, generator=g2)
    assert np.array_equal(a.numpy(), b.numpy())


def test_init_on_parameters_records_no_graph():
    lin = nn.Linear(4, 3)
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_,
               init.zeros_, init.ones_, init.trunc_normal_, lambda t: init.constant_(t, 2.0), init.eye_):
        out = fn(lin.weight)
        assert out is lin.weight and lin.weight.is_leaf and lin.weight.grad_fn is None
        assert lin.weight.requires_grad
    v = lin.weight._version
    init.zeros_(lin.weight)
    assert lin.weight._version > v


def test_zero_element_and_deprecated_aliases():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        init.kaiming_uniform_(ember.empty(0, 3))
    assert any('zero-element' in str(x.message) for x in w)
    with pytest.warns(FutureWarning):
        init.xavier_uniform(ember.empty(2, 2))


@needs_torch
def test_default_layer_init_distributions_match_pytorch():
    """Each layer's default initial weights have PyTorch's range/scale (compared on large layers)."""
    torch.manual_seed(0)
    cases = [(nn.Linear(500, 400), torch.nn.Linear(500, 400)),
             (nn.Bilinear(40, 30, 50), torch.nn.Bilinear(40, 30, 50)),
             (nn.Embedding(600, 300), torch.nn.Embedding(600, 300)),
             (nn.PReLU(5), torch.nn.PReLU(5))]
    for e, t in cases:
        for (n, pe), pt in zip(e.named_parameters(), t.parameters()):
            a, b = pe.detach().numpy(), pt.detach().numpy()
            assert a.shape == b.shape and a.dtype == b.dtype, n
            if a.size > 1000:
                assert abs(a.std() - b.std()) / b.std() < 0.03, (type(e).__name__, n)
                assert abs(np.abs(a).max() - np.abs(b).max()) / np.abs(b).max() < 0.05 or n == 'weight' and \
                    isinstance(e, nn.Embedding), (type(e).__name__, n)
            else:
                assert abs(a).max() <= abs(b).max() * 1.5 + 1e-6 or np.allclose(a, b)
