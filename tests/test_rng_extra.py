"""Same seed, same numbers (continued): large draws around the chunk sizes, rrelu, fractional max pooling, the
zero gradients of normal/bernoulli, svd_lowrank/pca_lowrank, all against PyTorch."""
import numpy as np
import pytest

import ember
from conftest import torch, needs_torch
from test_rng import _np, _same_draws

from ember.backends import _boxmuller
from ember.backends.mt19937 import MTStream, fisher_yates

CHUNK = _boxmuller._CHUNK * 16  # float32 normals per Box-Muller chunk


@pytest.fixture(params=[1, 2], ids=['1thread', '2threads'])
def rng_threads(request):
    before = _boxmuller._LOCAL['n']
    _boxmuller._LOCAL['n'] = request.param
    yield request.param
    _boxmuller._LOCAL['n'] = before


@needs_torch
@pytest.mark.parametrize('n', [CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 17])
def test_large_float32_normals_across_chunks(n, rng_threads):
    _same_draws(lambda m: m.randn(n), seeds=(0, 12345))
    _same_draws(lambda m: m.empty(n).normal_(0.25, 3.0), seeds=(1,))
    _same_draws(lambda m: m.randn(n, dtype=m.float16), seeds=(2,))


@needs_torch
@pytest.mark.parametrize('n', [100001, 2 ** 17 + 3])
def test_large_uniform_integer_and_permutation_draws(n):
    _same_draws(lambda m: [m.rand(n), m.rand(n, dtype=m.float64), m.empty(n).uniform_(-2, 3)], seeds=(0, 7))
    _same_draws(lambda m: [m.randint(0, 1000, (n,)), m.randint(-2 ** 40, 2 ** 40, (n,))], seeds=(0,))
    _same_draws(lambda m: m.randperm(n), seeds=(0, 3))
    _same_draws(lambda m: m.randn(n, dtype=m.float64), seeds=(5,))


def test_box_muller_all_float32_uniforms_sanity():
    # every 24-bit uniform as u1 and as theta: finite normals, the right halves (radius * cos / sin)
    u = (np.arange(2 ** 20, dtype=np.float64) * 2 ** -20).astype(np.float32)
    d = np.empty(2 ** 21, np.float32).reshape(-1, 16)
    d[:, :8], d[:, 8:] = u.reshape(-1, 8), u.reshape(-1, 8)[::-1]
    z = d.copy().reshape(-1)
    _boxmuller.box_muller16_f32(z)
    z = z.reshape(-1, 16)
    r = np.sqrt(-2 * np.log1p(-d[:, :8].astype(np.float64)))
    th = 2 * np.pi * d[:, 8:].astype(np.float64)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z[:, :8], r * np.cos(th), atol=2e-5 * max(1.0, r.max()))
    np.testing.assert_allclose(z[:, 8:], r * np.sin(th), atol=2e-5 * max(1.0, r.max()))


def test_fisher_yates_without_a_loop_matches_the_sequential_swaps():
    rs = np.random.RandomState(0)
    for n in [2, 3, 4, 5, 9, 17, 100, 1000, 20000]:
        for _ in range(5 if n < 1000 else 1):
            j = np.array([rs.randint(i, n) for i in range(n - 1)], dtype=np.int64)
            p = list(range(n))
            for i, t in enumerate(j.tolist()):
                p[i], p[t] = p[t], p[i]
            assert fisher_yates(j).tolist() == p


def test_randperm_is_a_permutation_without_torch():
    s = MTStream(0)
    for n in (1, 2, 10, 12345):
        assert sorted(s.randperm(n).tolist()) == list(range(n))


# ---- rrelu ---------------------------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('bounds', [(1 / 8, 1 / 3), (0.1, 0.3), (0.01, 0.77)])
def test_rrelu_training_draws(dtype, bounds):
    x = np.random.RandomState(0).randn(7, 300)
    x[0, :20:3] = 0.0

    def run(m):
        t = m.tensor(x, dtype=getattr(m, dtype), requires_grad=True)
        y = m.nn.functional.rrelu(t, *bounds, training=True)
        y.backward(m.ones_like(y) * 2)
        return [y, t.grad]
    _same_draws(run, seeds=(0, 12345))
    _same_draws(lambda m: m.nn.RReLU(*bounds)(m.tensor(x, dtype=getattr(m, dtype))), seeds=(3,))


# ---- fractional max pooling ------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('nd,shape,kernel,kw', [
    (2, (2, 3, 9, 9), 3, dict(output_size=2)), (2, (1, 3, 9, 11), (2, 3), dict(output_size=(4, 5))),
    (2, (3, 10, 10), 2, dict(output_ratio=(0.5, 0.5))), (2, (2, 2, 7, 8), (1, 2), dict(output_size=(1, 3))),
    (3, (2, 2, 6, 7, 8), 2, dict(output_size=(3, 4, 5))), (3, (2, 5, 6, 9), (1, 2, 2), dict(output_ratio=(0.5, 0.5, 0.5)))])
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_fractional_max_pool(nd, shape, kernel, kw, dtype):
    x = np.random.RandomState(1).randn(*shape)
    f = f'fractional_max_pool{nd}d'

    def run(m):
        t = m.tensor(x, dtype=getattr(m, dtype), requires_grad=True)
        y, i = getattr(m.nn.functional, f)(t, kernel, return_indices=True, **kw)
        (y * m.arange(y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
        return [y, i, t.grad]
    _same_draws(run, seeds=(0, 42))
    cls = f'FractionalMaxPool{nd}d'
    _same_draws(lambda m: getattr(m.nn, cls)(kernel, **kw)(m.tensor(x, dtype=getattr(m, dtype))), seeds=(5,))


@needs_torch
def test_fractional_max_pool_given_samples_and_errors():
    x = np.random.RandomState(2).randn(1, 2, 16, 16).astype(np.float32)
    r = np.array([[[0.3, 0.9], [0.99, 0.0]]], np.float32)
    want = torch.nn.functional.fractional_max_pool2d(torch.tensor(x), 2, output_size=(5, 7), return_indices=True,
                                                     _random_samples=torch.tensor(r))
    got = ember.nn.functional.fractional_max_pool2d(ember.tensor(x), 2, output_size=(5, 7), return_indices=True,
                                                    _random_samples=ember.tensor(r))
    for w, g in zip(want, got):
        assert np.array_equal(_np(w), _np(g))
    for m in (torch, ember):
        with pytest.raises(RuntimeError, match='pool height 2 too large relative to input height 3'):
            m.nn.functional.fractional_max_pool2d(m.zeros(1, 1, 3, 9), 2, output_size=(3, 2))
        with pytest.raises(RuntimeError, match='pool time 2 too large relative to input time 3'):
            m.nn.functional.fractional_max_pool3d(m.zeros(1, 1, 3, 3, 3), 2, output_size=2)
        with pytest.raises(ValueError, match='requires specifying either an output size, or a pooling ratio'):
            m.nn.FractionalMaxPool2d(3)
        with pytest.raises(ValueError, match='output_ratio must be between 0 and 1'):
            m.nn.FractionalMaxPool2d(3, output_ratio=1.5)


# ---- gradients of sampling ---------------------------------------------------------------------------------------

@needs_torch
def test_normal_and_bernoulli_record_zero_gradients():
    for m in (torch, ember):
        mean = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        std = m.tensor([0.5, 1.0, 2.0], requires_grad=True)
        for y, name in ((m.normal(mean, std), 'NormalBackward3'), (m.normal(2.0, std), 'NormalBackward2'),
                        (m.normal(mean, 2.0), 'NormalBackward1')):
            assert y.grad_fn.name() == name
            y.sum().backward()
        p = m.tensor([0.2, 0.5, 0.9], requires_grad=True)
        y = m.bernoulli(p)
        assert y.grad_fn.name() == 'BernoulliBackward0'
        y.sum().backward()
        for t in (mean, std, p):
            assert _np(t.grad).tolist() == [0.0, 0.0, 0.0]
    _same_draws(lambda m: m.normal(m.arange(20.0), m.ones(20) * 0.5))


# ---- randomized low-rank SVD and PCA ------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('shape,q', [((20, 8), 3), ((8, 20), 3), ((10, 10), 4), ((2, 12, 5), 5)])
@pytest.mark.parametrize('with_m', [False, True])
def test_svd_lowrank_draws_as_pytorch(shape, q, with_m):
    rs = np.random.RandomState(0)
    A = rs.randn(*shape)
    M = rs.randn(*shape[-2:]) if with_m else None
    out = []
    for m in (torch, ember):
        m.manual_seed(42)
        U, S, V = m.svd_lowrank(m.tensor(A), q=q, M=None if M is None else m.tensor(M))
        out.append((_np(U @ V.mT), _np(S)))
    # the same random test matrix gives the same singular values and subspaces (vectors' signs are LAPACK's)
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-8, atol=1e-8)
    assert _np(ember.get_rng_state()).tobytes() == _np(torch.get_rng_state()).tobytes()


@needs_torch
@pytest.mark.parametrize('center', [True, False])
def test_pca_lowrank_as_pytorch(center):
    A = np.random.RandomState(3).randn(30, 7)
    out = []
    for m in (torch, ember):
        m.manual_seed(0)
        U, S, V = m.pca_lowrank(m.tensor(A), q=4, center=center)
        out.append((_np((U * S) @ V.mT), _np(S)))
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-10)
    np.testing.assert_allclose(out[1][0], out[0][0], atol=1e-10)


# ---- the tutorial's seeded loops ----------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('section', ['tensor_mlp', 'autograd_mlp', 'nn_mlp', 'optim_mlp', 'module_mlp'])
def test_tutorial_losses_after_100_steps(section):
    """Same draws (the first loss is bit-identical); after 100 steps BLAS and reduction rounding leave >= 4 digits."""
    import types
    from ember.app import tutorial
    with open(tutorial.__file__) as f:
        src = f.read()
    runs = []
    for imp in ('import ember as torch', 'import torch'):
        mod = types.ModuleType('tutorial_' + imp.split()[1])
        exec(compile(src.replace('import ember as torch', imp), tutorial.__file__, 'exec'), mod.__dict__)
        mod.STEPS = 100
        out = getattr(mod, section)(quiet=True)
        runs.append(list(out.values()) if isinstance(out, dict) else [out])
    for got, want in zip(*runs):
        np.testing.assert_allclose(got, want, rtol=1e-4)
