"""ember.nn.functional: gradcheck (float64) and double backward of every op, PyTorch parity of the functional forms."""
import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck
from conftest import torch, needs_torch, t64
from _parity import Rnd

rnd = Rnd(1)


def double_backward_ok(f, inputs, eps=1e-6, tol=1e-4):
    """Second derivatives via create_graph against central differences of the first derivative (an
    Hessian-vector product along a random direction, for each differentiable input)."""
    rng = np.random.default_rng(7)
    inputs = list(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, ember.Tensor) and t.requires_grad]
    y = f(*inputs)
    gout = ember.tensor(rng.standard_normal(tuple(y.shape)), dtype=y.dtype)
    vs = {i: rng.standard_normal(tuple(inputs[i].shape)) for i in diff}

    def first(ins):
        gs = ember.autograd.grad(f(*ins), [ins[i] for i in diff], gout, create_graph=True, allow_unused=True)
        return gs
    gs = first(inputs)
    s = None
    for g, i in zip(gs, diff):
        if g is not None and g.requires_grad:
            term = (g * ember.tensor(vs[i])).sum()
            s = term if s is None else s + term
    if s is None:
        analytic = {i: np.zeros(inputs[i].shape) for i in diff}
    else:
        hv = ember.autograd.grad(s, [inputs[i] for i in diff], allow_unused=True)
        analytic = {i: (np.zeros(inputs[i].shape) if h is None else h.detach().numpy()) for i, h in zip(diff, hv)}

    def grads_at(shift):
        ins = [ember.tensor(t.detach().numpy() + shift * vs[i], requires_grad=True) if i in vs else t
               for i, t in enumerate(inputs)]
        gs = ember.autograd.grad(f(*ins), [ins[i] for i in diff], gout, allow_unused=True)
        return {i: (np.zeros(inputs[i].shape) if g is None else g.numpy()) for i, g in zip(diff, gs)}
    plus, minus = grads_at(eps), grads_at(-eps)
    for i in diff:
        num = (plus[i] - minus[i]) / (2 * eps)
        np.testing.assert_allclose(analytic[i], num, rtol=tol, atol=tol)
    return True


ACTS = [('relu', {}), ('relu6', {}), ('leaky_relu', {'negative_slope': 0.2}), ('elu', {'alpha': 1.3}),
        ('selu', {}), ('celu', {'alpha': 0.7}), ('gelu', {}), ('gelu', {'approximate': 'tanh'}), ('silu', {}),
        ('mish', {}), ('sigmoid', {}), ('tanh', {}), ('softmax', {'dim': 1}), ('log_softmax', {'dim': 0}),
        ('softmin', {'dim': 1}), ('softplus', {'beta': 2.0, 'threshold': 3.0}), ('hardtanh', {}),
        ('hardsigmoid', {}), ('hardswish', {}), ('logsigmoid', {}), ('softsign', {}), ('tanhshrink', {}),
        ('softshrink', {}), ('hardshrink', {}), ('threshold', {'threshold': 0.2, 'value': 1.0}), ('glu', {'dim': 0})]


def _smooth_input(shape, kinks=(0.0,), margin=0.05):
    a = rnd.rng.standard_normal(shape) * 2
    for k in kinks:   # finite differences straddling a kink are meaningless: keep away from them
        close = np.abs(a - k) < margin
        a[close] += 3 * margin
    return a


KINKS = {'relu6': (0, 6), 'hardtanh': (-1, 1), 'hardsigmoid': (-3, 3), 'hardswish': (-3, 3),
         'softshrink': (-0.5, 0.5), 'hardshrink': (-0.5, 0.5), 'threshold': (0.2,), 'softplus': (1.5,)}


@pytest.mark.parametrize('name,kw', ACTS, ids=[f'{n}{k}' for n, k in ACTS])
def test_activation_gradcheck_and_double_backward(name, kw):
    x = ember.tensor(_smooth_input((4, 3), KINKS.get(name, (0.0,))), requires_grad=True)
    fn = getattr(F, name)
    assert gradcheck(lambda a: fn(a, **kw), (x,))
    assert double_backward_ok(lambda a: fn(a, **kw), [x])


@needs_torch
@pytest.mark.parametrize('name,kw', ACTS, ids=[f'{n}{k}' for n, k in ACTS])
def test_activation_parity_float32(name, kw):
    a = rnd(6, 5).astype(np.float32) * 3
    a[0, :4] = [0, 3, -3, 6]
    e, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ye, yt = getattr(F, name)(e, **kw), getattr(torch.nn.functional, name)(t, **kw)
    assert ye.dtype == ember.float32
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rnd(*yt.shape).astype(np.float32)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    assert e.grad.dtype == ember.float32
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_inplace_activations():
    x = ember.randn(5)
    y = F.relu(x, inplace=True)
    assert y is x and float(x.min()) >= 0
    a = ember.randn(6, requires_grad=True)
    h = a * 1.0
    out = F.leaky_relu(h, 0.1, inplace=True)
    assert out is h
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.where(a.detach().numpy() > 0, 1.0, 0.1), rtol=1e-6)
    with pytest.raises(RuntimeError, match='leaf Variable'):
        F.elu(ember.randn(3, requires_grad=True), inplace=True)


def test_linear_bilinear_gradcheck():
    x, w, b = t64(4, 3), t64(2, 3), t64(2)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(F.linear, (t64(2, 4, 3), w, None))
    assert gradcheck(F.linear, (t64(3), w, b))
    assert double_backward_ok(lambda a, b_, c: (F.linear(a, b_, c) ** 2), [x, w, b])
    x1, x2, wb, bb = t64(3, 4), t64(3, 2), t64(5, 4, 2), t64(5)
    assert gradcheck(F.bilinear, (x1, x2, wb, bb))
    with pytest.raises(RuntimeError, match=r'mat1 and mat2 shapes cannot be multiplied \(4x3 and 4x2\)'):
        F.linear(ember.zeros(4, 3), ember.zeros(2, 4))
    with pytest.raises(RuntimeError, match='same dtype'):
        F.linear(ember.zeros(4, 3, dtype=ember.float64), ember.zeros(2, 3))


@needs_torch
def test_linear_float32_parity():
    x, w, b = rnd(7, 5).astype(np.float32), rnd(3, 5).astype(np.float32), rnd(3).astype(np.float32)
    es = [ember.tensor(v, requires_grad=True) for v in (x, w, b)]
    ts = [torch.tensor(v, requires_grad=True) for v in (x, w, b)]
    ye, yt = F.linear(*es), torch.nn.functional.linear(*ts)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    ye.sum().backward()
    yt.sum().backward()
    for a, c in zip(es, ts):
        assert a.grad.dtype == ember.float32
        np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert ye.grad_fn.name() == 'AddmmBackward0'


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('smoothing', [0.0, 0.3])
def test_cross_entropy_gradcheck(reduction, smoothing):
    x = t64(5, 4)
    t = ember.tensor([0, 3, -100, 1, 2])
    w = ember.tensor([1.0, 2.0, 0.5, 1.5], dtype=ember.float64)
    for args in ((x, t), (x, t, w)):
        f = lambda a, *r: F.cross_entropy(a, *r, reduction=reduction, label_smoothing=smoothing)  # noqa: E731
        assert gradcheck(f, args)
        assert double_backward_ok(f, list(args))
    x4 = t64(2, 3, 2, 2)
    t4 = ember.tensor(rnd.rng.integers(0, 3, (2, 2, 2)))
    f4 = lambda a: F.cross_entropy(a, t4, reduction=reduction, label_smoothing=smoothing, ignore_index=1)  # noqa
    assert gradcheck(f4, (x4,))
    assert double_backward_ok(f4, [x4])
    p = ember.tensor(rnd.rng.dirichlet(np.ones(4), 5))
    fp = lambda a: F.cross_entropy(a, p, reduction=reduction, label_smoothing=smoothing)  # noqa: E731
    assert gradcheck(fp, (x,))
    xu = t64(4)
    assert gradcheck(lambda a: F.cross_entropy(a, ember.tensor(2), reduction=reduction), (xu,))


def test_nll_and_cross_entropy_edge_cases():
    x = t64(3, 4)
    t = ember.tensor([1, 0, 3])
    w = ember.tensor([0.5, 1.0, 2.0, 1.0], dtype=ember.float64)
    for red in ('mean', 'sum', 'none'):
        assert gradcheck(lambda a: F.nll_loss(a, t, w, reduction=red), (x,))
    assert double_backward_ok(lambda a: F.nll_loss(a.log_softmax(1), t), [x])
    # all targets ignored: mean is nan (0/0), as in PyTorch
    allign = F.cross_entropy(ember.randn(2, 3), ember.tensor([-100, -100]))
    assert np.isnan(allign.item())
    # fused cross entropy equals log_softmax + nll_loss
    a = ember.randn(6, 5, dtype=ember.float64)
    tt = ember.tensor(rnd.rng.integers(0, 5, 6))
    np.testing.assert_allclose(F.cross_entropy(a, tt).item(), F.nll_loss(a.log_softmax(1), tt).item(), rtol=1e-12)


REG_LOSSES = [('mse_loss', {}), ('l1_loss', {}), ('smooth_l1_loss', {'beta': 0.5}), ('smooth_l1_loss', {'beta': 0}),
              ('huber_loss', {'delta': 0.7}), ('soft_margin_loss', {}), ('margin_ranking_loss', {'margin': 0.1})]


@pytest.mark.parametrize('name,kw', REG_LOSSES, ids=[f'{n}{k}' for n, k in REG_LOSSES])
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_pointwise_losses_gradcheck(name, kw, reduction):
    a = ember.tensor(_smooth_input((3, 4)), requires_grad=True)
    b = ember.tensor(_smooth_input((3, 4)) + 0.2, requires_grad=True)
    if name == 'margin_ranking_loss':
        y = ember.tensor(np.sign(rnd(3, 4)))
        assert gradcheck(lambda p, q: F.margin_ranking_loss(p, q, y, reduction=reduction, **kw), (a, b))
        return
    if name == 'soft_margin_loss':
        y = ember.tensor(np.sign(rnd(3, 4)))
        assert gradcheck(lambda p: F.soft_margin_loss(p, y, reduction=reduction), (a,))
        return
    assert gradcheck(lambda p, q: getattr(F, name)(p, q, reduction=reduction, **kw), (a, b))


def test_other_losses_gradcheck():
    x = ember.tensor(rnd.rng.random((3, 4)) * 0.9 + 0.05, requires_grad=True)
    y = ember.tensor(rnd.rng.random((3, 4)), requires_grad=True)
    w = ember.tensor(rnd.rng.random((3, 4)))
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, w), (x, y))
    assert double_backward_ok(lambda a, b: F.binary_cross_entropy(a, b), [x, y])
    z = t64(3, 4)
    pw = ember.tensor(rnd.rng.random(4) + 0.5)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, pos_weight=pw), (z, y))
    assert double_backward_ok(lambda a: F.binary_cross_entropy_with_logits(a, y.detach()), [z])
    lp = ember.tensor(np.log(rnd.rng.dirichlet(np.ones(4), 3)), requires_grad=True)
    q = ember.tensor(rnd.rng.dirichlet(np.ones(4), 3), requires_grad=True)
    assert gradcheck(lambda a, b: F.kl_div(a, b, reduction='batchmean'), (lp, q))
    assert gradcheck(lambda a, b: F.kl_div(a, b, reduction='sum', log_target=True), (lp, t64(3, 4)))
    x1, x2 = t64(5, 3), t64(5, 3)
    tgt = ember.tensor([1, -1, 1, -1, -1])
    assert gradcheck(lambda a, b: F.cosine_embedding_loss(a, b, tgt, margin=-0.5), (x1, x2))
    assert gradcheck(lambda a, b: F.triplet_margin_loss(a, b, x1.detach()), (t64(5, 3, seed=11), x2))
    assert gradcheck(lambda a: F.poisson_nll_loss(a, q.detach() * 3), (z,))
    assert gradcheck(lambda a, v: F.gaussian_nll_loss(a, y.detach(), v), (z, ember.tensor(
        rnd.rng.random((3, 4)) + 0.5, requires_grad=True)))
    assert gradcheck(lambda a: F.multilabel_soft_margin_loss(a, (y.detach() > 0.5).double()), (z,))
    signs = ember.tensor(np.sign(rnd(3, 4)))
    assert gradcheck(lambda a: F.hinge_embedding_loss(a, signs), (z,))
    assert gradcheck(lambda a: F.multi_margin_loss(a, ember.tensor([0, 3, 1])), (z,))


@needs_torch
def test_losses_float32_parity_and_dtype():
    x = rnd(8, 5).astype(np.float32)
    t = rnd.rng.integers(0, 5, 8)
    t[2] = -100
    w = (rnd.rng.random(5) + 0.5).astype(np.float32)
    for red in ('mean', 'sum', 'none'):
        for ls in (0.0, 0.2):
            e = ember.tensor(x, requires_grad=True)
            tt = torch.tensor(x, requires_grad=True)
            ye = F.cross_entropy(e, ember.tensor(t), ember.tensor(w), reduction=red, label_smoothing=ls)
            yt = torch.nn.functional.cross_entropy(tt, torch.tensor(t), torch.tensor(w), reduction=red,
                                                   label_smoothing=ls)
            assert ye.dtype == ember.float32
            np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=2e-6, atol=1e-6)
            ye.sum().backward()
            yt.sum().backward()
            assert e.grad.dtype == ember.float32
            np.testing.assert_allclose(e.grad.numpy(), tt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_norm_functionals_gradcheck():
    x = t64(4, 3)
    w, b = t64(3), t64(3)
    rm, rv = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
    assert gradcheck(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True), (x, w, b))
    assert gradcheck(lambda a, c, d: F.batch_norm(a, rm, rv, c, d, training=False), (x, w, b))
    assert double_backward_ok(lambda a, c: F.batch_norm(a, None, None, c, None, training=True), [x, w])
    x3 = t64(2, 3, 4)
    assert gradcheck(lambda a: F.batch_norm(a, None, None, training=True), (x3,))
    assert gradcheck(lambda a, c, d: F.layer_norm(a, (4,), c, d), (x3, t64(4), t64(4)))
    assert gradcheck(lambda a: F.layer_norm(a, (3, 4)), (x3,))
    assert double_backward_ok(lambda a: F.layer_norm(a, (4,)), [x3])
    assert gradcheck(lambda a, c, d: F.group_norm(a, 1, c, d), (x3, t64(3), t64(3)))
    assert gradcheck(lambda a, c: F.rms_norm(a, (4,), c), (x3, t64(4)))
    assert gradcheck(lambda a: F.instance_norm(a), (x3,))
    assert gradcheck(lambda a: F.local_response_norm(a, 2), (t64(2, 4, 3),))
    with pytest.raises(RuntimeError, match=r'Given normalized_shape=\[5\], expected input with shape \[\*, 5\]'):
        F.layer_norm(ember.zeros(2, 4), (5,))


def test_batch_norm_functional_updates_running_stats():
    x = ember.randn(16, 3, dtype=ember.float64) * 2 + 1
    rm, rv = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
    F.batch_norm(x, rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm.numpy(), 0.5 * x.numpy().mean(0), rtol=1e-10)
    np.testing.assert_allclose(rv.numpy(), 0.5 + 0.5 * x.numpy().var(0, ddof=1), rtol=1e-10)
    assert rm._version > 0


def test_embedding_functional():
    w = t64(6, 3)
    idx = ember.tensor([[0, 2, 2], [5, 1, 0]])
    assert gradcheck(lambda a: F.embedding(idx, a), (w,))
    # padding_idx and scale_grad_by_freq change the gradient on purpose (not a true derivative): parity with
    # PyTorch for those is in test_nn_layers.py
    assert double_backward_ok(lambda a: F.embedding(idx, a) ** 2, [w])
    out = F.embedding(idx, w, padding_idx=2)
    out.sum().backward()
    assert np.all(w.grad.numpy()[2] == 0)
    big = ember.ones(4, 3) * 5
    F.embedding(ember.tensor([1, 1, 3]), big, max_norm=1.0)
    norms = np.linalg.norm(big.numpy(), axis=1)
    assert norms[1] == pytest.approx(1.0, rel=1e-5) and norms[0] == pytest.approx(np.sqrt(75))


def test_dropout_functional():
    x = t64(50)
    ember.manual_seed(0)
    y = F.dropout(x, 0.3)
    ember.manual_seed(0)
    assert gradcheck(lambda a: (ember.manual_seed(0), F.dropout(a, 0.3))[1], (x,))
    ember.manual_seed(0)
    assert np.array_equal(y.detach().numpy(), F.dropout(x, 0.3, training=True).detach().numpy())
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match='dropout probability has to be between 0 and 1, but got -0.1'):
        F.dropout(x, -0.1)
    y2 = F.dropout2d(ember.ones(4, 6, 2, 2), 0.5)
    assert y2.shape == (4, 6, 2, 2)


@needs_torch
def test_misc_functionals():
    idx = ember.tensor([[0, 2], [3, 1]])
    oh = F.one_hot(idx)
    assert oh.dtype == ember.int64 and oh.shape == (2, 2, 4)
    assert np.array_equal(oh.numpy(), torch.nn.functional.one_hot(torch.tensor(idx.numpy())).numpy())
    assert F.one_hot(idx, 6).shape == (2, 2, 6)
    with pytest.raises(RuntimeError, match='smaller than num_classes'):
        F.one_hot(idx, 3)
    with pytest.raises(RuntimeError, match='LongTensor'):
        F.one_hot(ember.zeros(2))
    a, b = rnd(4, 5), rnd(4, 5)
    a[0] = 0
    for fe, ft, args in ((F.normalize, torch.nn.functional.normalize, (a,)),
                         (F.cosine_similarity, torch.nn.functional.cosine_similarity, (a, b)),
                         (F.pairwise_distance, torch.nn.functional.pairwise_distance, (a, b)),
                         (F.pdist, torch.nn.functional.pdist, (b,))):
        ye = fe(*[ember.tensor(v) for v in args])
        yt = ft(*[torch.tensor(v) for v in args])
        np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda p, q: F.cosine_similarity(p, q), (t64(4, 5), t64(4, 5, seed=3)))
    assert gradcheck(lambda p: F.normalize(p, dim=0), (t64(4, 5),))
    assert gradcheck(lambda p, q: F.pairwise_distance(p, q), (t64(4, 5), t64(4, 5, seed=3)))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert F.cosine_similarity(ember.randn(3, 4), ember.randn(1, 4)).shape == (3,)


def test_functional_namespace_complete():
    for name in ('relu', 'relu6', 'leaky_relu', 'elu', 'selu', 'gelu', 'silu', 'mish', 'sigmoid', 'tanh',
                 'softmax', 'log_softmax', 'softplus', 'hardtanh', 'hardsigmoid', 'hardswish', 'linear', 'bilinear',
                 'mse_loss', 'l1_loss', 'smooth_l1_loss', 'huber_loss', 'cross_entropy', 'nll_loss',
                 'binary_cross_entropy', 'binary_cross_entropy_with_logits', 'kl_div', 'cosine_embedding_loss',
                 'batch_norm', 'layer_norm', 'group_norm', 'dropout', 'dropout2d', 'embedding', 'one_hot',
                 'normalize', 'cosine_similarity', 'pairwise_distance'):
        assert callable(getattr(F, name)), name


def test_erf_fallback_without_scipy():
    import math
    from ember.ops.nn_ops import _erf_fallback
    x = np.linspace(-8, 8, 4001)
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(_erf_fallback(np, x), want, rtol=0, atol=1e-14)
    assert _erf_fallback(np, x.astype(np.float32)).dtype == np.float32


def test_class_loss_weight_must_match_the_input_dtype():
    """PyTorch refuses class weights of another floating dtype (it does not cast them)."""
    x, t = ember.randn(3, 4, dtype=ember.float64), ember.tensor([1, 2, 3])
    for fn in (lambda w: ember.nn.functional.cross_entropy(x, t, weight=w),
               lambda w: ember.nn.functional.nll_loss(x.log_softmax(1), t, weight=w)):
        with pytest.raises(RuntimeError, match='expected scalar type Double but found Float'):
            fn(ember.ones(4))
        assert fn(ember.ones(4, dtype=ember.float64)).dtype is ember.float64
