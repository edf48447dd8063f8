"""nn layers: forward values and gradients against PyTorch with copied weights, default inits, reprs, shape errors."""
import math
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
from conftest import torch, needs_torch
from _parity import Rnd

rnd = Rnd(0)


def _pair(make_e, make_t, dtype):
    e, t = make_e(), make_t()
    if dtype == 'float64':
        e, t = e.double(), t.double()
    for (n1, p1), (n2, p2) in zip(e.named_parameters(), t.named_parameters()):
        assert n1 == n2
        vals = rnd.rng.standard_normal(tuple(p1.shape))
        with ember.no_grad():
            p1.copy_(ember.tensor(vals))
        with torch.no_grad():
            p2.copy_(torch.tensor(vals))
    return e, t


def _check(make_e, make_t, inputs, dtype='float64', train=True, steps=2, tol=None):
    """Forward and backward of an ember layer and the PyTorch one with the same weights; compares outputs, input
    and parameter gradients, buffers, state_dict keys and repr."""
    tol = tol or (1e-9 if dtype == 'float64' else 2e-5)
    e, t = _pair(make_e, make_t, dtype)
    e.train(train)
    t.train(train)
    assert repr(e) == repr(t)
    assert list(e.state_dict()) == list(t.state_dict())
    for _ in range(steps):
        ex = [ember.tensor(x.astype(dtype) if x.dtype.kind == 'f' else x, requires_grad=x.dtype.kind == 'f')
              for x in inputs]
        tx = [torch.tensor(x.astype(dtype) if x.dtype.kind == 'f' else x, requires_grad=x.dtype.kind == 'f')
              for x in inputs]
        ye, yt = e(*ex), t(*tx)
        assert tuple(ye.shape) == tuple(yt.shape) and ye.dtype.name == str(yt.dtype).split('.')[-1]
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
        g = rnd.rng.standard_normal(tuple(yt.shape)).astype(dtype)
        ye.backward(ember.tensor(g))
        yt.backward(torch.tensor(g))
        for a, b in zip(ex, tx):
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol)
        for (n, a), b in zip(e.named_parameters(), t.parameters()):
            assert (a.grad is None) == (b.grad is None), n
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol, err_msg=n)
        for (n, a), b in zip(e.named_buffers(), t.buffers()):
            np.testing.assert_allclose(a.numpy().astype(float), b.numpy().astype(float), rtol=tol, atol=tol,
                                       err_msg=n)
    return e, t


DTYPES = ['float64', 'float32']


@needs_torch
@pytest.mark.parametrize('dtype', DTYPES)
def test_linear_family(dtype):
    _check(lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), [rnd(4, 5)], dtype)
    _check(lambda: nn.Linear(5, 3, bias=False), lambda: torch.nn.Linear(5, 3, bias=False), [rnd(2, 4, 5)], dtype)
    _check(lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), [rnd(5)], dtype)
    _check(lambda: nn.Bilinear(5, 3, 4), lambda: torch.nn.Bilinear(5, 3, 4), [rnd(6, 5), rnd(6, 3)], dtype)
    _check(lambda: nn.Identity(3, k=1), lambda: torch.nn.Identity(3, k=1), [rnd(2, 3)], dtype)


@needs_torch
@pytest.mark.parametrize('dtype', DTYPES)
def test_flatten_unflatten(dtype):
    _check(lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 6))),
           lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (2, 6))), [rnd(2, 3, 4)], dtype)
    _check(lambda: nn.Flatten(0, 1), lambda: torch.nn.Flatten(0, 1), [rnd(2, 3, 4)], dtype)


ACTS = [('ReLU', {}), ('ReLU6', {}), ('LeakyReLU', {'negative_slope': 0.2}), ('ELU', {'alpha': 1.3}), ('SELU', {}),
        ('CELU', {'alpha': 0.7}), ('GELU', {}), ('GELU', {'approximate': 'tanh'}), ('SiLU', {}), ('Mish', {}),
        ('Sigmoid', {}), ('Tanh', {}), ('Softmax', {'dim': 1}), ('LogSoftmax', {'dim': -1}), ('Softmin', {'dim': 0}),
        ('Softplus', {'beta': 2, 'threshold': 5}), ('Hardtanh', {'min_val': -2.0, 'max_val': 1.5}),
        ('Hardsigmoid', {}), ('Hardswish', {}), ('LogSigmoid', {}), ('Softsign', {}), ('Tanhshrink', {}),
        ('Softshrink', {'lambd': 0.3}), ('Hardshrink', {}), ('Threshold', {'threshold': 0.1, 'value': -2.0}),
        ('GLU', {'dim': 0}), ('PReLU', {}), ('ReLU', {'inplace': True}), ('LeakyReLU', {'inplace': True})]


@needs_torch
@pytest.mark.parametrize('name,kw', ACTS, ids=[f'{n}{k}' for n, k in ACTS])
@pytest.mark.parametrize('dtype', DTYPES)
def test_activation_modules(name, kw, dtype):
    x = rnd(4, 5) * 3
    x[0, :4] = [0.0, 3.0, -3.0, 6.0]   # the kinks
    if kw.get('inplace'):
        mk_e = lambda: nn.Sequential(nn.Identity(), getattr(nn, name)(**kw))  # noqa: E731
        mk_t = lambda: torch.nn.Sequential(torch.nn.Identity(), getattr(torch.nn, name)(**kw))  # noqa: E731
        # in place on a non-leaf: the graph must stay right
        e = mk_e()
        xe = ember.tensor(x, requires_grad=True)
        ye = e[1](xe * 1.0)
        xt = torch.tensor(x, requires_grad=True)
        yt = mk_t()[1](xt * 1.0)
        ye.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy())
        assert repr(e) == repr(mk_t())
        return
    # PyTorch's CELU backward rounds 1/alpha to float32 (ember's is exact), hence the looser float64 tolerance
    tol = 1e-7 if name == 'CELU' and dtype == 'float64' else None
    _check(lambda: getattr(nn, name)(**kw), lambda: getattr(torch.nn, name)(**kw), [x], dtype, tol=tol)


@needs_torch
def test_softmax2d_and_rrelu_eval():
    _check(lambda: nn.Softmax2d(), lambda: torch.nn.Softmax2d(), [rnd(2, 3, 4, 5)])
    _check(lambda: nn.RReLU(), lambda: torch.nn.RReLU(), [rnd(3, 4)], train=False)
    r = nn.RReLU(0.1, 0.3)
    x = ember.tensor(-np.ones((100,)))
    y = r(x).numpy()
    assert np.all((y <= -0.1 + 1e-6) & (y >= -0.3 - 1e-6)) and np.std(y) > 0


@needs_torch
@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('kw', [{}, {'momentum': None}, {'affine': False}, {'track_running_stats': False},
                                {'bias': False}])
def test_batchnorm(kw, train, dtype):
    _check(lambda: nn.BatchNorm1d(4, **kw), lambda: torch.nn.BatchNorm1d(4, **kw), [rnd(5, 4)], dtype, train, 3)
    _check(lambda: nn.BatchNorm1d(4, **kw), lambda: torch.nn.BatchNorm1d(4, **kw), [rnd(5, 4, 3)], dtype, train)
    _check(lambda: nn.BatchNorm2d(3, **kw), lambda: torch.nn.BatchNorm2d(3, **kw), [rnd(2, 3, 4, 5)], dtype, train)
    _check(lambda: nn.BatchNorm3d(2, **kw), lambda: torch.nn.BatchNorm3d(2, **kw), [rnd(2, 2, 2, 3, 2)], dtype,
           train)


def test_batchnorm_running_stats_and_modes():
    bn = nn.BatchNorm1d(3, momentum=None)
    xs = [ember.randn(8, 3) * (i + 1) + i for i in range(3)]
    for x in xs:
        bn(x)
    assert bn.num_batches_tracked.item() == 3 and bn.num_batches_tracked.dtype == ember.int64
    # momentum=None is the cumulative average of the batch statistics
    mean = np.mean([x.numpy().mean(0) for x in xs], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    var = np.mean([x.numpy().var(0, ddof=1) for x in xs], axis=0)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-5, atol=1e-6)
    bn.eval()
    x = ember.randn(4, 3)
    y = bn(x)
    want = (x.numpy() - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + bn.eps)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    assert bn.num_batches_tracked.item() == 3
    with pytest.raises(ValueError, match='expected 2D or 3D input'):
        bn(ember.randn(2, 3, 4, 5))
    with pytest.raises(RuntimeError, match=r'BatchNorm1d\(3\) got input of shape \(4, 5\)'):
        bn(ember.randn(4, 5))
    bn.train()
    with pytest.raises(ValueError, match='Expected more than 1 value per channel'):
        bn(ember.randn(1, 3))
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and float(bn.running_var.sum()) == 3.0


@needs_torch
@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('train', [True, False])
def test_other_norms(dtype, train):
    _check(lambda: nn.LayerNorm(5), lambda: torch.nn.LayerNorm(5), [rnd(3, 4, 5)], dtype, train)
    _check(lambda: nn.LayerNorm((4, 5), bias=False), lambda: torch.nn.LayerNorm((4, 5), bias=False), [rnd(3, 4, 5)],
           dtype, train)
    _check(lambda: nn.LayerNorm(5, elementwise_affine=False), lambda: torch.nn.LayerNorm(5, elementwise_affine=False),
           [rnd(3, 5)], dtype, train)
    _check(lambda: nn.GroupNorm(2, 6), lambda: torch.nn.GroupNorm(2, 6), [rnd(3, 6, 4)], dtype, train)
    _check(lambda: nn.GroupNorm(3, 6, affine=False), lambda: torch.nn.GroupNorm(3, 6, affine=False),
           [rnd(2, 6, 2, 2)], dtype, train)
    _check(lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True),
           lambda: torch.nn.InstanceNorm1d(3, affine=True, track_running_stats=True), [rnd(2, 3, 5)], dtype, train)
    _check(lambda: nn.InstanceNorm2d(3), lambda: torch.nn.InstanceNorm2d(3), [rnd(2, 3, 5, 4)], dtype, train)
    _check(lambda: nn.RMSNorm(5), lambda: torch.nn.RMSNorm(5), [rnd(3, 5)], dtype, train)
    _check(lambda: nn.LocalResponseNorm(3), lambda: torch.nn.LocalResponseNorm(3), [rnd(2, 6, 5)], dtype, train)


def test_norm_errors():
    with pytest.raises(RuntimeError, match=r'LayerNorm\(\(5,\)\) got input of shape \(3, 4\)'):
        nn.LayerNorm(5)(ember.randn(3, 4))
    with pytest.raises(ValueError, match='divisible'):
        nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match=r'GroupNorm\(2, 6\) got input of shape \(3, 4\)'):
        nn.GroupNorm(2, 6)(ember.randn(3, 4))


@needs_torch
@pytest.mark.parametrize('dtype', DTYPES)
def test_embedding(dtype):
    idx = rnd.rng.integers(0, 7, (4, 5))
    idx[0, :3] = 2
    _check(lambda: nn.Embedding(7, 3, padding_idx=2), lambda: torch.nn.Embedding(7, 3, padding_idx=2), [idx], dtype)
    _check(lambda: nn.Embedding(7, 3, padding_idx=-1), lambda: torch.nn.Embedding(7, 3, padding_idx=-1), [idx],
           dtype)
    _check(lambda: nn.Embedding(7, 3, scale_grad_by_freq=True),
           lambda: torch.nn.Embedding(7, 3, scale_grad_by_freq=True), [idx], dtype)
    _check(lambda: nn.Embedding(7, 3, max_norm=1.0), lambda: torch.nn.Embedding(7, 3, max_norm=1.0), [idx], dtype)
    _check(lambda: nn.EmbeddingBag(7, 3, mode='sum'), lambda: torch.nn.EmbeddingBag(7, 3, mode='sum'), [idx], dtype)
    _check(lambda: nn.EmbeddingBag(7, 3), lambda: torch.nn.EmbeddingBag(7, 3), [idx], dtype)


def test_embedding_padding_and_pretrained():
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert float(emb.weight[0].abs().sum()) == 0.0
    out = emb(ember.tensor([[0, 1, 0], [2, 0, 4]]))
    out.sum().backward()
    assert float(emb.weight.grad[0].abs().sum()) == 0.0
    assert float(emb.weight.grad[1].abs().sum()) == 3.0
    w = ember.randn(4, 2)
    pre = nn.Embedding.from_pretrained(w)
    assert not pre.weight.requires_grad and pre.weight.data_ptr() == w.data_ptr()
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        emb(ember.zeros(2))
    with pytest.raises(IndexError, match=r'Embedding\(5, 3\) got index 5'):
        emb(ember.tensor([5]))
    with pytest.raises(AssertionError, match='Padding_idx'):
        nn.Embedding(5, 3, padding_idx=5)


def test_dropout_modes_and_reproducibility():
    d = nn.Dropout(0.4)
    x = ember.ones(2000)
    ember.manual_seed(3)
    y1 = d(x).numpy()
    ember.manual_seed(3)
    y2 = d(x).numpy()
    assert np.array_equal(y1, y2)
    kept = y1 != 0
    assert 0.5 < kept.mean() < 0.7
    np.testing.assert_allclose(y1[kept], 1 / 0.6, rtol=1e-6)
    d.eval()
    assert d(x) is x
    xg = ember.ones(50, requires_grad=True)
    d.train()
    out = d(xg)
    out.sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), out.detach().numpy())
    assert repr(d) == 'Dropout(p=0.4, inplace=False)'
    with pytest.raises(ValueError, match='between 0 and 1'):
        nn.Dropout(1.5)
    assert float(nn.Dropout(1.0)(ember.ones(5)).abs().sum()) == 0.0


def test_dropout2d_zeroes_whole_channels():
    d = nn.Dropout2d(0.5)
    y = d(ember.ones(8, 16, 3, 3)).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0 < (per_channel == 0).all(-1).mean() < 1
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        y3 = nn.Dropout2d(0.5)(ember.ones(4, 8, 5)).numpy()
    assert np.all((y3 == 0).all(-1) | (y3 == 2.0).all(-1))
    y1 = nn.Dropout1d(0.5)(ember.ones(4, 8, 5)).numpy()
    assert np.all((y1 == 0).all(-1) | (y1 == 2.0).all(-1))
    a = nn.AlphaDropout(0.2)
    out = a(ember.randn(20000)).numpy()
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05
    a.eval()
    assert a(ember.ones(3)).sum().item() == 3.0


LOSSES = [('MSELoss', {}, 'reg'), ('L1Loss', {'reduction': 'sum'}, 'reg'), ('SmoothL1Loss', {'beta': 0.5}, 'reg'),
          ('HuberLoss', {'delta': 0.7, 'reduction': 'none'}, 'reg'), ('CrossEntropyLoss', {}, 'cls'),
          ('CrossEntropyLoss', {'label_smoothing': 0.1, 'ignore_index': 1}, 'cls'),
          ('CrossEntropyLoss', {'reduction': 'none'}, 'cls4d'), ('CrossEntropyLoss', {}, 'prob'),
          ('NLLLoss', {'reduction': 'sum'}, 'cls'), ('BCELoss', {}, 'bin'), ('BCEWithLogitsLoss', {}, 'logit'),
          ('KLDivLoss', {'reduction': 'batchmean'}, 'kl'), ('SoftMarginLoss', {}, 'sign'),
          ('MultiLabelSoftMarginLoss', {}, 'multi'), ('PoissonNLLLoss', {}, 'pos'), ('MultiMarginLoss', {}, 'cls'),
          ('HingeEmbeddingLoss', {}, 'sign')]


def _loss_inputs(kind):
    if kind == 'reg':
        return [rnd(6, 5), rnd(6, 5)]
    if kind == 'cls':
        return [rnd(6, 5), rnd.rng.integers(0, 5, 6)]
    if kind == 'cls4d':
        return [rnd(2, 5, 3, 2), rnd.rng.integers(0, 5, (2, 3, 2))]
    if kind == 'prob':
        p = rnd.rng.random((6, 5))
        return [rnd(6, 5), p / p.sum(1, keepdims=True)]
    if kind == 'bin':
        return [rnd.rng.random((6, 5)) * 0.98 + 0.01, rnd.rng.random((6, 5))]
    if kind == 'logit':
        return [rnd(6, 5) * 3, (rnd.rng.random((6, 5)) > 0.5) * 1.0]
    if kind == 'kl':
        p = rnd.rng.random((6, 5))
        return [np.log(p / p.sum(1, keepdims=True)), rnd.rng.random((6, 5))]
    if kind == 'sign':
        return [rnd(6, 5), np.sign(rnd(6, 5))]
    if kind == 'multi':
        return [rnd(6, 5), (rnd.rng.random((6, 5)) > 0.5) * 1.0]
    if kind == 'pos':
        return [rnd(6, 5), np.abs(rnd(6, 5))]


@needs_torch
@pytest.mark.parametrize('name,kw,kind', LOSSES, ids=[f'{n}-{k}' for n, _, k in LOSSES])
@pytest.mark.parametrize('dtype', DTYPES)
def test_loss_modules(name, kw, kind, dtype):
    inputs = _loss_inputs(kind)
    e, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(e) == repr(t)
    tol = 1e-9 if dtype == 'float64' else 2e-5
    ex = [ember.tensor(x.astype(dtype) if x.dtype.kind == 'f' else x, requires_grad=i == 0)
          for i, x in enumerate(inputs)]
    tx = [torch.tensor(x.astype(dtype) if x.dtype.kind == 'f' else x, requires_grad=i == 0)
          for i, x in enumerate(inputs)]
    ye, yt = e(*ex), t(*tx)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    assert ye.dtype.name == dtype
    g = rnd.rng.standard_normal(tuple(yt.shape)).astype(dtype)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ex[0].grad.numpy(), tx[0].grad.numpy(), rtol=tol, atol=tol)
    assert ex[0].grad.dtype.name == dtype


@needs_torch
def test_weighted_loss_buffers_and_legacy_args():
    w = np.array([1.0, 2.0, 0.5])
    e = nn.CrossEntropyLoss(weight=ember.tensor(w))
    t = torch.nn.CrossEntropyLoss(weight=torch.tensor(w))
    assert list(e.state_dict()) == list(t.state_dict()) == ['weight']
    b = nn.BCEWithLogitsLoss(pos_weight=ember.tensor(w))
    assert list(b.state_dict()) == ['pos_weight']
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        assert nn.MSELoss(size_average=False).reduction == 'sum'
        assert nn.MSELoss(reduce=False).reduction == 'none'
        assert torch.nn.MSELoss(size_average=False).reduction == 'sum'
    x = ember.randn(3, 3)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        assert ember.nn.functional.mse_loss(x, x * 0, size_average=False).item() == pytest.approx(
            float((x * x).sum()), rel=1e-6)


def test_loss_target_errors():
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r'Expected input batch_size \(4\) to match target batch_size \(3\)'):
        ce(ember.randn(4, 5), ember.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match=r'class probabilities .* shape \(4, 5\), got \(4,\)'):
        ce(ember.randn(4, 5), ember.zeros(4))
    with pytest.raises(IndexError, match='Target 7 is out of bounds'):
        ce(ember.randn(4, 5), ember.tensor([0, 1, 7, 2]))
    with pytest.raises(RuntimeError, match=r'Expected target size \[2, 3\], got \[2, 2\]'):
        ce(ember.randn(2, 5, 3), ember.tensor([[0, 1], [1, 2]]))
    with pytest.raises(RuntimeError, match='expected target dtype to be Long or Byte, but got Int'):
        ce(ember.randn(2, 5), ember.tensor([0, 1], dtype=ember.int32))
    assert ce(ember.randn(2, 5), ember.tensor([0, 1], dtype=ember.uint8)).ndim == 0
    with pytest.raises(ValueError, match='different to the input size'):
        nn.BCELoss()(ember.rand(3, 2), ember.rand(3))
    with pytest.raises(RuntimeError, match='between 0 and 1'):
        nn.BCELoss()(ember.tensor([1.5]), ember.tensor([1.0]))
    with pytest.warns(UserWarning, match='different to the input size'):
        nn.MSELoss()(ember.randn(3, 1), ember.randn(3))


def test_linear_shape_errors_name_the_layer():
    lin = nn.Linear(784, 256)
    with pytest.raises(RuntimeError) as ei:
        lin(ember.zeros(64, 785))
    assert str(ei.value) == ('Linear(in_features=784, out_features=256) got input of shape (64, 785): last '
                             'dimension must be 784')
    with pytest.raises(RuntimeError, match='got input of dtype float64'):
        lin(ember.zeros(2, 784, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r'Bilinear\(in1_features=2, in2_features=3, out_features=4\) got input2'):
        nn.Bilinear(2, 3, 4)(ember.zeros(1, 2), ember.zeros(1, 2))
    with pytest.raises(RuntimeError, match=r'Unflatten\(dim=1, unflattened_size=\(2, 3\)\) got input of shape'):
        nn.Unflatten(1, (2, 3))(ember.zeros(2, 5))


# ---- default initialisation follows PyTorch ------------------------------------------------------------------

def _bound_check(t, bound):
    a = t.detach().numpy()
    assert a.max() <= bound + 1e-7 and a.min() >= -bound - 1e-7
    assert a.max() > 0.8 * bound and a.min() < -0.8 * bound   # actually fills the range


def test_default_inits():
    lin = nn.Linear(400, 300)
    _bound_check(lin.weight, 1 / math.sqrt(400))
    _bound_check(lin.bias, 1 / math.sqrt(400))
    np.testing.assert_allclose(lin.weight.detach().numpy().std(), 1 / math.sqrt(400) / math.sqrt(3), rtol=0.02)
    bil = nn.Bilinear(50, 30, 20)
    _bound_check(bil.weight, 1 / math.sqrt(50))
    _bound_check(bil.bias, 1 / math.sqrt(50))
    emb = nn.Embedding(1000, 64)
    a = emb.weight.detach().numpy()
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1) < 0.02
    for m in (nn.BatchNorm1d(5), nn.LayerNorm(5), nn.GroupNorm(1, 5), nn.RMSNorm(5)):
        assert np.all(m.weight.detach().numpy() == 1)
        if getattr(m, 'bias', None) is not None:
            assert np.all(m.bias.detach().numpy() == 0)
    bn = nn.BatchNorm2d(3)
    assert np.all(bn.running_mean.numpy() == 0) and np.all(bn.running_var.numpy() == 1)
    assert np.all(nn.PReLU(4).weight.detach().numpy() == np.float32(0.25))
    for m in (lin, bil, emb, nn.BatchNorm1d(2), nn.LayerNorm(2), nn.GroupNorm(1, 2), nn.PReLU()):
        assert callable(m.reset_parameters)
    # the default generator drives initialisation: manual_seed reproduces it
    ember.manual_seed(5)
    w1 = nn.Linear(3, 3).weight.detach().numpy().copy()
    ember.manual_seed(5)
    assert np.array_equal(w1, nn.Linear(3, 3).weight.detach().numpy())


@needs_torch
def test_default_init_bounds_match_pytorch():
    for e, t in ((nn.Linear(37, 11), torch.nn.Linear(37, 11)), (nn.Bilinear(7, 5, 3), torch.nn.Bilinear(7, 5, 3))):
        for (n, pe), pt in zip(e.named_parameters(), t.parameters()):
            be, bt = float(pe.detach().abs().max()), float(pt.detach().abs().max())
            fan = e.weight.shape[1]
            assert be <= 1 / math.sqrt(fan) + 1e-7 and bt <= 1 / math.sqrt(fan) + 1e-7, n


def test_dtype_and_device_kwargs():
    lin = nn.Linear(3, 2, dtype=ember.float64, device='cpu')
    assert lin.weight.dtype == ember.float64 and lin(ember.ones(1, 3, dtype=ember.float64)).dtype == ember.float64
    assert nn.LayerNorm(3, dtype=ember.float64).weight.dtype == ember.float64
    assert nn.Embedding(3, 2, dtype=ember.float64).weight.dtype == ember.float64


@needs_torch
def test_mlp_training_matches_pytorch():
    """A few SGD steps of an MLP with copied weights track PyTorch's losses."""
    def build(nn_):
        return nn_.Sequential(nn_.Linear(8, 16), nn_.ReLU(), nn_.Dropout(0.0), nn_.Linear(16, 16), nn_.GELU(),
                              nn_.LayerNorm(16), nn_.Linear(16, 4))
    e, t = _pair(lambda: build(nn), lambda: build(torch.nn), 'float32')
    x = rnd.rng.standard_normal((32, 8)).astype(np.float32)
    y = rnd.rng.integers(0, 4, 32)
    le, lt = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for _ in range(5):
        loss_e = le(e(ember.tensor(x)), ember.tensor(y))
        loss_t = lt(t(torch.tensor(x)), torch.tensor(y))
        assert loss_e.item() == pytest.approx(loss_t.item(), rel=1e-4)
        e.zero_grad()
        t.zero_grad()
        loss_e.backward()
        loss_t.backward()
        with ember.no_grad():
            for p in e.parameters():
                p -= 0.1 * p.grad
        with torch.no_grad():
            for p in t.parameters():
                p -= 0.1 * p.grad
