"""torch.native_layer_norm/native_group_norm/native_batch_norm/native_dropout_backward, channel_shuffle,
linear_cross_entropy and triplet_margin_with_distance_loss with any callable, against PyTorch."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op, needs_torch, torch

F = ember.nn.functional
rng = np.random.default_rng(0)


# ---- native normalisations ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('shape,ns,affine', [((2, 3, 4), [4], True), ((2, 3, 4), [3, 4], False), ((5,), [5], True),
                                             ((0, 4), [4], True), ((3, 1, 2), [1, 2], True)])
def test_native_layer_norm(shape, ns, affine):
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(ns), rng.standard_normal(ns)
    fn = lambda lib, t, w, b: lib.native_layer_norm(t, ns, w if affine else None, b if affine else None, 1e-5)  # noqa
    assert_parity(fn, x, w, b)
    assert_parity(fn, x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), rtol=1e-5, atol=1e-6)
    out, mean, rstd = ember.native_layer_norm(ember.tensor(x, requires_grad=True), ns, None, None, 1e-5)
    assert out.requires_grad and not mean.requires_grad and not rstd.requires_grad


@pytest.mark.parametrize('shape,G', [((2, 6, 3), 3), ((1, 6, 2, 2), 2), ((3, 4), 4), ((2, 6, 0), 3)])
def test_native_group_norm(shape, G):
    x = rng.standard_normal(shape)
    C = shape[1]
    HxW = int(np.prod(shape[2:]))
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    fn = lambda lib, t, w, b: lib.native_group_norm(t, w, b, shape[0], C, HxW, G, 1e-5)  # noqa: E731
    assert_parity(fn, x, w, b, grad=bool(x.size))  # mean and rstd are differentiable, as in PyTorch
    if x.size:
        gradcheck_op(fn, x, w, b)
    with pytest.raises(RuntimeError, match=r'Expected X.numel\(\) == N \* C \* HxW'):
        ember.native_group_norm(ember.tensor(x), None, None, shape[0], C, HxW + 1, G, 1e-5)


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('shape', [(5, 3, 4), (4, 2), (2, 3, 2, 2)])
def test_native_batch_norm(training, shape):
    x = rng.standard_normal(shape)
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    rm0, rv0 = rng.standard_normal(C), rng.random(C) + 0.5

    def fn(lib, t, w, b):
        rm, rv = lib.tensor(rm0), lib.tensor(rv0)
        out = lib.native_batch_norm(t, w, b, rm, rv, training, 0.3, 1e-5)
        return out + (rm, rv)                 # the running statistics, updated in place when training
    assert_parity(fn, x, w, b)
    out = ember.native_batch_norm(ember.tensor(x, requires_grad=True), None, None, None, None, True, 0.1, 1e-5)
    assert out[0].grad_fn.name() == 'NativeBatchNormBackward0' and not out[1].requires_grad


def test_native_batch_norm_eval_needs_running_stats():
    with pytest.raises(RuntimeError, match='running_mean and running_var must be defined'):
        ember.native_batch_norm(ember.randn(2, 3), None, None, None, None, False, 0.1, 1e-5)


@pytest.mark.parametrize('scale', [0.0, 1.0, 2.5])
@pytest.mark.parametrize('shape', [(3, 4), (5,), ()])
def test_native_dropout_backward(scale, shape):
    g = rng.standard_normal(shape)
    mask = rng.random(shape) < 0.6
    fn = lambda lib, t: lib.ops.aten.native_dropout_backward(t, lib.tensor(mask), scale) if lib is torch else \
        lib.native_dropout_backward(t, lib.tensor(mask), scale)  # noqa: E731
    assert_parity(fn, g)
    assert_parity(fn, g.astype(np.float32))
    out = ember.native_dropout_backward(ember.tensor(g, requires_grad=True), ember.tensor(mask), scale)
    assert out.grad_fn.name() == 'NativeDropoutBackwardBackward0'


# ---- channel_shuffle ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('shape,groups', [((1, 4, 3, 3), 2), ((2, 6, 5), 3), ((2, 8, 2, 1, 2), 4), ((0, 6, 2), 2),
                                          ((2, 6, 2), 1)])
def test_channel_shuffle(shape, groups):
    x = rng.standard_normal(shape)
    assert_parity(lambda lib, t: lib.nn.functional.channel_shuffle(t, groups), x)
    assert_parity(lambda lib, t: lib.channel_shuffle(t, groups), (x * 10).astype(np.int64), grad=False)
    assert_parity(lambda lib, t: lib.nn.ChannelShuffle(groups)(t), x > 0, grad=False)


def test_channel_shuffle_errors_and_layer():
    x = ember.randn(2, 6, 3)
    with pytest.raises(RuntimeError, match='Number of groups to divide channels in must be positive. Value of '
                                           'groups:0'):
        F.channel_shuffle(x, 0)
    with pytest.raises(RuntimeError, match='Number of channels must be divisible by groups. Got 6 channels and 4 '
                                           'groups.'):
        F.channel_shuffle(x, 4)
    with pytest.raises(RuntimeError, match=r'channel_shuffle expects input with > 2 dims, but got input with sizes '
                                           r'\[2, 6\]'):
        F.channel_shuffle(ember.randn(2, 6), 2)
    assert repr(ember.nn.ChannelShuffle(3)) == 'ChannelShuffle(groups=3)'
    assert F.channel_shuffle(x.requires_grad_(), 2).grad_fn.name() == 'ChannelShuffleBackward0'


# ---- linear_cross_entropy -----------------------------------------------------------------------------------------

@pytest.mark.parametrize('xs,ws,ts', [((3,), (4, 3), ()), ((8, 3), (4, 3), (8,)), ((4, 3), (2, 3, 3), (4, 3))])
@pytest.mark.parametrize('kw', [{}, {'reduction': 'none'}, {'reduction': 'sum', 'label_smoothing': 0.2},
                                {'ignore_index': 1}, {'bias': True}])
def test_linear_cross_entropy(xs, ws, ts, kw):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    C = ws[0]
    t = rng.integers(0, C, ts)
    if t.ndim:
        t.reshape(-1)[0] = kw.get('ignore_index', -100)     # ignore_index=None means -100 for class indices
    kw = dict(kw)
    b = rng.standard_normal(ws[:-1]) if kw.pop('bias', False) else None
    fn = lambda lib, x, w, *bias: lib.nn.functional.linear_cross_entropy(  # noqa: E731
        x, w, lib.tensor(t), linear_bias=bias[0] if bias else None, **kw)
    args = (x, w) + ((b,) if b is not None else ())
    assert_parity(fn, *args)
    assert_parity(fn, *(a.astype(np.float32) for a in args), rtol=1e-5, atol=1e-6)


@needs_torch
def test_linear_cross_entropy_probabilities_weight_and_options():
    x, w = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    p = rng.random((5, 4))
    p /= p.sum(1, keepdims=True)
    cw = rng.random(4)
    opts = dict(options=ember.nn.LinearCrossEntropyOptions(batch_chunk_size=2))
    e = F.linear_cross_entropy(ember.tensor(x), ember.tensor(w), ember.tensor(p), weight=ember.tensor(cw), **opts)
    t = torch.nn.functional.linear_cross_entropy(torch.tensor(x), torch.tensor(w), torch.tensor(p),
                                                 weight=torch.tensor(cw))
    assert e.item() == pytest.approx(t.item(), rel=1e-12)
    with pytest.raises(ValueError, match="invalid acc_policy: 'x'"):
        ember.nn.LinearCrossEntropyOptions(acc_policy='x')
    with pytest.raises(RuntimeError, match='expected equal input and linear_weight last dimensions'):
        F.linear_cross_entropy(ember.randn(4, 3), ember.randn(5, 4), ember.zeros(4, dtype=ember.int64))
    with pytest.raises(RuntimeError, match='requires batched input'):
        F.linear_cross_entropy(ember.randn(3), ember.randn(2, 3, 3), ember.zeros(3, dtype=ember.int64))


# ---- triplet_margin_with_distance_loss ----------------------------------------------------------------------------

@pytest.mark.parametrize('dist', ['default', 'layer', 'function', 'lambda', 'cosine'])
@pytest.mark.parametrize('kw', [{}, {'swap': True, 'margin': 0.5}, {'reduction': 'none'}, {'reduction': 'sum'}])
def test_triplet_margin_with_distance_loss_any_callable(dist, kw):
    a, p, n = (rng.standard_normal((5, 4)) for _ in range(3))

    def fn(lib, a, p, n):
        d = {'default': None, 'layer': lib.nn.PairwiseDistance(p=1.5), 'function': lib.nn.functional.pairwise_distance,
             'lambda': lambda x, y: (x - y).abs().sum(-1),
             'cosine': lambda x, y: 1 - lib.nn.functional.cosine_similarity(x, y)}[dist]
        return lib.nn.functional.triplet_margin_with_distance_loss(a, p, n, distance_function=d, **kw)
    assert_parity(fn, a, p, n)


def test_triplet_margin_with_distance_loss_checks():
    a = ember.randn(3, 4)
    with pytest.raises(ValueError, match='margin must be greater than 0, got 0'):
        F.triplet_margin_with_distance_loss(a, a, a, margin=0)
    with pytest.raises(ValueError, match='x is not a valid value for reduction'):
        F.triplet_margin_with_distance_loss(a, a, a, reduction='x')
    with pytest.raises(RuntimeError, match='expected to have the same number of dimensions, but got: anchor 2D, '
                                           'positive 1D, and negative 2D inputs'):
        F.triplet_margin_with_distance_loss(a, a[0], a)

    class Falsy:  # a callable whose truth value is False is still the distance
        def __bool__(self):
            return False

        def __call__(self, x, y):
            return (x - y).abs().sum(-1) * 0
    assert F.triplet_margin_with_distance_loss(a, a + 1, a, distance_function=Falsy()).item() == 1.0


@needs_torch
def test_opinfo_harness_maps_torch_callables():
    import sys
    import os
    sys.path.insert(0, os.path.dirname(__file__))
    from _opinfo import _callable_to_ember
    layer = _callable_to_ember(torch.nn.PairwiseDistance(p=3.0, keepdim=True), {})
    assert isinstance(layer, ember.nn.PairwiseDistance) and layer.norm == 3.0 and layer.keepdim
    assert _callable_to_ember(torch.nn.functional.pairwise_distance, {}) is F.pairwise_distance
    assert _callable_to_ember(torch.pairwise_distance, {}) is ember.pairwise_distance
    f = lambda x: x  # noqa: E731
    assert _callable_to_ember(f, {}) is f
