"""cross_entropy / nll_loss against PyTorch at the edges: every target ignored, no classes, a weight requiring grad,
PyTorch's checks and their order, node names, nll_loss's double backward; recorded in tests/golden/ for runs without
PyTorch."""
import numpy as np
import pytest

import ember
from ember.ops import class_loss as CL

from _parity import Rnd, assert_parity, assert_raises_like_torch, assert_same_outcome

rnd = Rnd(7)
F = (lambda L: L.nn.functional)  # noqa: E731
TOL = {np.float16: dict(rtol=2e-3, atol=2e-3), np.float32: dict(rtol=1e-5, atol=1e-6),
       np.float64: dict(rtol=1e-10, atol=1e-12)}


def _loss(fn, **kw):
    """fn(lib, x, target[, weight]) of cross_entropy or nll_loss; the weight never requires grad."""
    def run(L, x, t, w=None):
        return getattr(F(L), fn)(x, t, weight=None if w is None else w.detach(), **kw)
    return run


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.float16], ids=lambda d: d.__name__)
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('smoothing', [0.0, 0.2])
@pytest.mark.parametrize('weighted', [False, True], ids=['plain', 'weight'])
@pytest.mark.parametrize('shape', [(3, 4), (2, 3, 2, 2), (4,)], ids=str)
@pytest.mark.parametrize('fn', ['cross_entropy', 'nll_loss'])
def test_every_target_ignored_nan_mean_zero_gradient(fn, shape, weighted, smoothing, reduction, dtype):
    if fn == 'nll_loss' and smoothing:
        pytest.skip('nll_loss has no label smoothing')
    cdim = 1 if len(shape) > 1 else 0
    x = rnd(*shape, dtype=dtype)
    t = np.full(shape[:cdim] + shape[cdim + 1:], -100, np.int64)
    args = (x, t, rnd(shape[cdim], kind='pos', dtype=dtype)) if weighted else (x, t)
    kw = dict(reduction=reduction, label_smoothing=smoothing) if smoothing else dict(reduction=reduction)
    assert_parity(_loss(fn, **kw), *args, **TOL[dtype])  # (a nan gradient fails: gradients compare without nan)


@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
@pytest.mark.parametrize('smoothing', [0.0, 0.3])
@pytest.mark.parametrize('shape', [(3, 0), (0,), (2, 0, 2, 2), (0, 0)], ids=str)
@pytest.mark.parametrize('fn', ['cross_entropy', 'nll_loss'])
def test_no_classes_every_target_ignored(fn, shape, smoothing, reduction):
    if fn == 'nll_loss' and smoothing:
        pytest.skip('nll_loss has no label smoothing')
    cdim = 1 if len(shape) > 1 else 0
    t = np.full(shape[:cdim] + shape[cdim + 1:], -100, np.int64)
    kw = dict(reduction=reduction, label_smoothing=smoothing) if smoothing else dict(reduction=reduction)
    assert_parity(_loss(fn, **kw), rnd(*shape), t)


@pytest.mark.parametrize('shape', [(3, 0), (0, 4), (0,), (2, 0, 3)], ids=str)
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_empty_probabilities(shape, reduction):
    def run(L, x, p):
        out = F(L).cross_entropy(x, p, reduction=reduction)
        return out.grad_fn.name(), out.shape, np.isnan(out.detach().numpy()).tolist()
    assert_same_outcome(lambda L: run(L, L.zeros(shape, requires_grad=True), L.zeros(shape)))
    assert_parity(_loss('cross_entropy', reduction=reduction), rnd(*shape), rnd(*shape, kind='pos'))


def test_inf_cotangent_on_ignored_rows_gives_zero_gradient():
    x, t = rnd(4, 3), np.array([0, -100, 2, -100])
    for fn, kw in (('cross_entropy', {}), ('cross_entropy', dict(label_smoothing=0.1)), ('nll_loss', {})):
        for dtype in ('float32', 'float16'):
            def run(L, x, t):
                out = getattr(F(L), fn)(x.to(getattr(L, dtype)), t, reduction='none', **kw)
                return out * L.tensor([1.0, float('inf'), 1.0, float('nan')], dtype=out.dtype)
            assert_parity(run, x, t, rtol=2e-3, atol=2e-3)


def test_where_and_masked_fill_backward_select_the_gradient():
    mask = np.array([True, False, True])
    assert_parity(lambda L, a, m: L.where(m, a, 0.0) / 0.0, rnd(3), mask)
    assert_parity(lambda L, a, b, m: L.where(m, a, b) * L.tensor([float('inf')] * 3), rnd(3), rnd(2, 3), mask)
    assert_parity(lambda L, a, m: a.masked_fill(m, 1.0) * float('inf'), rnd(2, 3), mask)


@pytest.mark.parametrize('case', ['ce', 'ce-smooth', 'ce-none', 'ce-3d', 'nll', 'nll-4d', 'ce-no-input-grad',
                                  'ce-unbatched', 'ce-bad-shape-weight', 'ce-int32-target'])
def test_weight_requiring_grad_with_class_indices_raises_at_forward(case):
    x_shape = (3, 4, 2) if '3d' in case else (2, 3, 2, 2) if '4d' in case else (4,) if 'unbatched' in case else (3, 4)
    C = x_shape[1] if len(x_shape) > 1 else x_shape[0]

    def run(L):
        x = L.zeros(x_shape, requires_grad='no-input-grad' not in case)
        t = L.zeros(x_shape[:1] + x_shape[2:] if len(x_shape) > 1 else (), dtype=L.int64)
        if 'int32' in case:
            t = t.int()
        w = L.ones(C + ('bad-shape' in case), requires_grad=True)
        kw = dict(label_smoothing=0.1) if 'smooth' in case else dict(reduction='none') if 'none' in case else {}
        return getattr(F(L), 'nll_loss' if case.startswith('nll') else 'cross_entropy')(x, t, weight=w, **kw)
    assert_raises_like_torch(run, same_message=True)


def test_weight_requiring_grad_under_no_grad_and_with_probabilities():
    def no_grad(L):
        with L.no_grad():
            return F(L).cross_entropy(L.ones(3, 4), L.tensor([0, 1, 2]), weight=L.ones(4, requires_grad=True)).item()
    assert_same_outcome(no_grad)
    for kw in (dict(), dict(label_smoothing=0.2), dict(reduction='none')):
        assert_parity(lambda L, x, p, w: F(L).cross_entropy(x, p, weight=w, **kw), rnd(3, 4), rnd(3, 4, kind='pos'),
                      rnd(4, kind='pos'))


def _raises(fn, x_shape, t, **kw):
    def run(L):
        x = L.zeros(x_shape, requires_grad=True)
        kws = dict(kw)
        w = kws.pop('w', None)
        return getattr(F(L), fn)(x, L.tensor(t), weight=None if w is None else L.ones(w), **kws)
    return run


@pytest.mark.parametrize('case', [
    ('cross_entropy', (3, 4), np.ones((3, 4), np.int64), {}),  # integer target of the input's shape
    ('cross_entropy', (3, 4), np.ones((3, 4), np.float32), dict(ignore_index=1)),
    ('cross_entropy', (3, 4), np.ones((3, 4), np.float32), dict(ignore_index=1, label_smoothing=1.5)),
    ('cross_entropy', (3, 4), np.ones((3, 4), np.float32), dict(w=5)),
    ('cross_entropy', (3, 4), np.ones((3, 4), np.float32), dict(w=(1, 4))),
    ('cross_entropy', (3, 4), np.ones(3, np.int64), dict(label_smoothing=1.5)),
    ('cross_entropy', (3, 4), np.ones(3, np.int32), dict(label_smoothing=1.5)),
    ('cross_entropy', (3, 4), np.ones(3, np.int64), dict(w=5)),
    ('nll_loss', (3, 4, 2), np.ones((3, 2), np.int64), dict(w=5)),
    ('nll_loss', (3, 4), np.ones((3, 4), np.int64), {}),
    ('cross_entropy', (4,), np.ones(2, np.int64), {}),
    ('cross_entropy', (4,), np.ones((1, 1), np.int64), {}),
], ids=lambda c: f'{c[0]}-{c[1]}-{c[2].dtype}{c[2].shape}-{"-".join(map(str, c[3]))}')
def test_checks_match_pytorch(case):
    fn, shape, t, kw = case
    assert_raises_like_torch(_raises(fn, shape, t, **kw), same_message=True)


@pytest.mark.parametrize('fn', ['cross_entropy', 'nll_loss'])
@pytest.mark.parametrize('shape', [(3, 4), (3, 4, 2)], ids=str)
@pytest.mark.parametrize('dtype', ['int64', 'int32', 'bool'])
def test_integer_input_raises_not_implemented(fn, shape, dtype):
    def run(L):
        return getattr(F(L), fn)(L.zeros(shape, dtype=getattr(L, dtype)), L.zeros((3,) + shape[2:], dtype=L.int64))
    assert_raises_like_torch(run, same_message=True)


@pytest.mark.parametrize('smoothing', [-0.3, float('nan'), 0.0])
def test_negative_or_nan_smoothing_is_none(smoothing):
    for t in (np.array([0, 2, 1]), rnd(3, 4, kind='pos')):
        assert_parity(lambda L, x, t: F(L).cross_entropy(x, t, label_smoothing=smoothing), rnd(3, 4), t)


def test_unbatched_input_takes_a_one_element_target():
    # (forward only: PyTorch's backward of this case fails with 'size mismatch (got input: [4], target: [1])')
    assert_parity(lambda L, x, t: F(L).cross_entropy(x, t), rnd(4), np.array([2]), grad=False)
    assert_parity(lambda L, x, t: F(L).nll_loss(x, t, reduction='none'), rnd(4), np.array([-100]), grad=False)


@pytest.mark.parametrize('smoothing', [0.0, 0.1])
@pytest.mark.parametrize('reduction', ['mean', 'none'])
@pytest.mark.parametrize('shape', [(4,), (3, 4), (3, 4, 2), (3, 4, 2, 2), (3, 4, 1, 2, 2), (0, 4)], ids=str)
@pytest.mark.parametrize('fn', ['cross_entropy', 'nll_loss'])
def test_node_names(fn, shape, reduction, smoothing):
    if fn == 'nll_loss' and smoothing:
        pytest.skip('nll_loss has no label smoothing')

    def run(L):
        x = L.zeros(shape, requires_grad=True)
        t = L.zeros(shape[:1] + shape[2:] if len(shape) > 1 else (), dtype=L.int64)
        kw = dict(label_smoothing=smoothing) if smoothing else {}
        names = [getattr(F(L), fn)(x, t, reduction=reduction, **kw).grad_fn.name()]
        names.append(getattr(F(L), fn)(x.half(), t, reduction=reduction, **kw).grad_fn.name())
        return names
    assert_same_outcome(run)


@pytest.mark.parametrize('dtype', ['float64', 'float16'])
@pytest.mark.parametrize('shape', [(3, 4), (2, 3, 2), (4,), (3, 0)], ids=str)
def test_nll_loss_double_backward_is_zeros(shape, dtype):
    """nll_loss is linear in its input: its second derivative is zeros in PyTorch, not an unused-input error."""
    def run(L):
        x = L.tensor(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape), dtype=getattr(L, dtype),
                     requires_grad=True)
        t = L.tensor(np.full(shape[:1] + shape[2:] if len(shape) > 1 else (), -100 if 0 in shape else 1))
        g, = L.autograd.grad(F(L).nll_loss(x, t), x, create_graph=True)
        g2, = L.autograd.grad((g * L.ones_like(g)).sum(), x)
        return g.grad_fn is not None, g2.shape, g2.abs().sum().item()
    assert_same_outcome(run)


def test_reference_gives_zero_gradient_when_every_target_is_ignored():
    """The reference (float16, create_graph) and the fused path agree with each other here too."""
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    t = ember.tensor([-100, -100, -100])
    for w in (None, ember.rand(4, dtype=ember.float64)):
        for eps in (0.0, 0.2):
            for fn in (CL.reference, CL._fused):
                out = fn(x, t, w, -100, 'mean', eps)
                assert np.isnan(out.item())
                g, = ember.autograd.grad(out, x, create_graph=True)
                assert not g.detach().numpy().any()
