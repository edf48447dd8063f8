"""Fast paths taken for speed (issue 14) give exactly what the general paths give: the sum backward on arrays, the
backward seed, Node release, and bernoulli decided on the generator's integer words."""
import numpy as np
import pytest

import ember
from ember.autograd.grad_mode import _State
from ember.backends import mt19937


def _sum_grads(shape, dim, keepdim, dtype='float32'):
    """The gradient of sum over ``dim`` reaching x, by a plain backward (the array fast path) and under
    create_graph (the tensor-op path)."""
    out = []
    for create in (False, True):
        x = ember.tensor(np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape), requires_grad=True)
        y = x.sum() if dim is None else x.sum(dim, keepdim=keepdim)
        g = ember.ones_like(y) * 3
        (gx,) = ember.autograd.grad(y, x, g, create_graph=create)
        out.append(gx.detach())
    return out


@pytest.mark.parametrize('shape,dim,keepdim', [
    ((10, 10), None, False), ((), None, False), ((1,), None, False), ((3, 1), None, False), ((3, 4), 0, False),
    ((3, 4), 1, True), ((2, 3, 4), (0, 2), False), ((2, 3, 4), (0, 2), True), ((60, 50), None, False),
    ((0, 3), 0, False), ((5,), 0, False), ((1, 1), 1, False)])
def test_sum_backward_fast_path_matches_graph_path(shape, dim, keepdim):
    fast, slow = _sum_grads(shape, dim, keepdim)
    assert fast.shape == slow.shape == tuple(shape)
    assert fast.dtype == slow.dtype
    np.testing.assert_array_equal(fast.numpy(), slow.numpy())


def test_sum_backward_gradient_accumulates_and_stays_private():
    x = ember.ones(3, 4, requires_grad=True)
    x.sum().backward()
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 2.0, np.float32))
    x.grad.zero_()  # the gradient is x's own, writable memory
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 4), np.float32))


def test_scalar_seed_has_output_dtype_and_shape():
    for dt in (ember.float32, ember.float64):
        x = ember.ones(2, 2, dtype=dt, requires_grad=True)
        y = (x * 2).sum()
        y.backward()
        assert x.grad.dtype == dt
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 2.0))
    with pytest.raises(RuntimeError, match='implicitly created only for scalar outputs'):
        (ember.ones(2, requires_grad=True) * 2).backward()


def test_release_frees_nodes_that_hold_data_only():
    x = ember.ones(3, requires_grad=True)
    y = ember.ones(3)
    s = x.sum()  # keeps shapes only: can run again, as in PyTorch
    s.backward()
    s.backward()
    m = (x * y).sum()  # MulBackward0 saved x and y: a second backward fails
    m.backward()
    with pytest.raises(RuntimeError, match='backward through the graph a second time'):
        m.backward()


def _float_bernoulli(seed, p, n):
    return mt19937.MTStream(seed).d53(n) < p


def _int_bernoulli(seed, p, n):
    return mt19937.TorchCPUGenerator(mt19937.MTStream(seed)).bernoulli(p, (n,))


@pytest.mark.parametrize('p', [0.9, 0.5, 0.1, 1e-7, 1 / 3, 1 - 1e-12, 2.0 ** -30, 0.0, 1.0])
def test_bernoulli_integer_decision_matches_float_uniforms(p):
    np.testing.assert_array_equal(_int_bernoulli(7, p, 50000), _float_bernoulli(7, p, 50000))


def test_bernoulli_integer_decision_at_the_exact_boundary():
    """p equal to a drawn uniform, and one 2**-53 either side: u < p decided as the float comparison does."""
    n = 64
    r = mt19937.MTStream(3).u32(2 * n)
    x = ((r[0::2] & 0x1FFFFF).astype(np.uint64) << np.uint64(32)) | r[1::2].astype(np.uint64)
    for k in range(8):
        for d in (-1, 0, 1):
            p = float(int(x[k]) + d) / 2 ** 53
            np.testing.assert_array_equal(_int_bernoulli(3, p, n), _float_bernoulli(3, p, n))


def test_dropout_mask_unchanged_against_torch():
    torch = pytest.importorskip('torch')
    torch.manual_seed(5)
    ember.manual_seed(5)
    a = torch.nn.functional.dropout(torch.ones(1000), 0.3)
    b = ember.nn.functional.dropout(ember.ones(1000), 0.3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert _State.grad_enabled


@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16'])
@pytest.mark.parametrize('p', [0.1, 0.5, 0.9, 0.123456, 1e-7])
def test_scaled_dropout_mask_is_the_divided_noise(p, dtype):
    from ember.nn._functional.dropout import _scaled_mask
    keep = np.random.default_rng(0).random(5000) < 0.6
    dt = np.dtype(dtype)
    want = keep.astype(dt)
    want /= dt.type(1.0 - p)
    got = _scaled_mask(np, keep, p, dt)
    assert got.dtype == dt
    np.testing.assert_array_equal(got, want)


def test_attention_dropout_unchanged_against_torch():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    outs = []
    for lib in (torch, ember):
        lib.manual_seed(11)
        args = [lib.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = lib.nn.functional.scaled_dot_product_attention(*args, dropout_p=0.4)
        out.sum().backward()
        outs.append([out.detach().numpy()] + [a.grad.numpy() for a in args])
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape,dim', [((4, 7), -1), ((3, 5, 6), 1), ((2, 3), 0), ((5,), 0), ((), 0), ((0, 3), 1)])
def test_softmax_backward_array_path_matches_graph_path(shape, dim):
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(shape).astype(np.float32)
    g0 = rng.standard_normal(shape).astype(np.float32)
    res = []
    for create in (False, True):
        x = ember.tensor(x0, requires_grad=True)
        y = ember.softmax(x, dim)
        (gx,) = ember.autograd.grad(y, x, ember.tensor(g0), create_graph=create)
        res.append(gx.detach().numpy())
    assert res[0].dtype == res[1].dtype == np.float32
    np.testing.assert_array_equal(res[0], res[1])
