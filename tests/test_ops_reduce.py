"""Reductions: dim int/tuple/None with keepdim, values against NumPy, float64 gradchecks, PyTorch parity, errors."""
import numpy as np
import pytest

import ember
from _parity import torch, Rnd, assert_parity, assert_same_outcome, gradcheck_op

rnd = Rnd(99)


def _np_dims(dim, ndim):
    if dim is None:
        return None
    return tuple(d % ndim for d in ((dim,) if isinstance(dim, int) else dim))


def _np_lse(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# reductions over several dims: (name, fn(L, x, dim, keepdim), NumPy reference(x, axis, keepdims), domain)
MULTI = [
    ('sum', lambda L, x, d, k: x.sum(d, keepdim=k) if d is not None else x.sum(), np.sum, 'any'),
    ('sum_fn', lambda L, x, d, k: L.sum(x, dim=d, keepdim=k) if d is not None else L.sum(x), np.sum, 'any'),
    ('mean', lambda L, x, d, k: x.mean(d, keepdim=k) if d is not None else x.mean(), np.mean, 'any'),
    ('amax', lambda L, x, d, k: x.amax(d if d is not None else (), keepdim=k), np.max, 'any'),
    ('amin', lambda L, x, d, k: L.amin(x, d if d is not None else (), keepdim=k), np.min, 'any'),
    ('var', lambda L, x, d, k: x.var(d, keepdim=k), lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims,
                                                                                     ddof=1), 'any'),
    ('var_unbiased_false', lambda L, x, d, k: x.var(d, unbiased=False, keepdim=k),
     lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims), 'any'),
    ('std', lambda L, x, d, k: x.std(d, keepdim=k), lambda a, axis, keepdims: np.std(a, axis=axis, keepdims=keepdims,
                                                                                     ddof=1), 'any'),
    ('std_correction0', lambda L, x, d, k: L.std(x, d, keepdim=k, correction=0),
     lambda a, axis, keepdims: np.std(a, axis=axis, keepdims=keepdims), 'any'),
    ('var_correction2', lambda L, x, d, k: x.var(d, keepdim=k, correction=2),
     lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=2), 'any'),
    ('norm', lambda L, x, d, k: x.norm(dim=d, keepdim=k),
     lambda a, axis, keepdims: np.sqrt((a * a).sum(axis=axis, keepdims=keepdims)), 'any'),
    ('norm_p1', lambda L, x, d, k: x.norm(p=1, dim=d, keepdim=k),
     lambda a, axis, keepdims: np.abs(a).sum(axis=axis, keepdims=keepdims), 'any'),
    ('norm_p3', lambda L, x, d, k: L.norm(x, p=3, dim=d, keepdim=k),
     lambda a, axis, keepdims: (np.abs(a) ** 3).sum(axis=axis, keepdims=keepdims) ** (1 / 3), 'any'),
    ('norm_inf', lambda L, x, d, k: x.norm(p=float('inf'), dim=d, keepdim=k),
     lambda a, axis, keepdims: np.abs(a).max(axis=axis, keepdims=keepdims), 'any'),
    ('logsumexp', lambda L, x, d, k: L.logsumexp(x, d if d is not None else tuple(range(x.ndim)), keepdim=k),
     _np_lse, 'any'),
]
MULTI_IDS = [m[0] for m in MULTI]
# (shape, dim, keepdim)
CASES = [((2, 3, 4), None, False), ((2, 3, 4), 1, False), ((2, 3, 4), -1, True), ((2, 3, 4), (0, 2), False),
         ((2, 3, 4), (0, -1), True), ((5,), 0, False), ((3, 4), [1], True)]


@pytest.mark.parametrize('name,fn,ref,kind', MULTI, ids=MULTI_IDS)
@pytest.mark.parametrize('shape,dim,keepdim', CASES, ids=str)
def test_multi_dim_reductions_match_numpy(name, fn, ref, kind, shape, dim, keepdim):
    x = rnd(*shape, kind=kind)
    out = fn(ember, ember.tensor(x), dim, keepdim)
    axis = _np_dims(dim, x.ndim)
    keep = keepdim if dim is not None else False
    expect = ref(x, axis=axis, keepdims=keep)
    assert tuple(out.shape) == np.shape(expect)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('name,fn,ref,kind', MULTI, ids=MULTI_IDS)
@pytest.mark.parametrize('shape,dim,keepdim', [((2, 3), None, False), ((2, 3, 2), 1, True), ((2, 3, 2), (0, 2), False),
                                               ((4,), 0, False)], ids=str)
def test_multi_dim_reductions_gradcheck(name, fn, ref, kind, shape, dim, keepdim):
    gradcheck_op(lambda L, x: fn(L, x, dim, keepdim), rnd(*shape, kind=kind))


@pytest.mark.parametrize('name,fn,ref,kind', MULTI, ids=MULTI_IDS)
@pytest.mark.parametrize('shape,dim,keepdim', CASES, ids=str)
def test_multi_dim_reductions_parity(name, fn, ref, kind, shape, dim, keepdim):
    assert_parity(lambda L, x: fn(L, x, dim, keepdim), rnd(*shape, kind=kind))


# reductions along one dim: (name, fn(L, x, dim, keepdim), NumPy reference(x, dim, keepdim) or None, domain)
def _take(fn):
    return lambda a, d, k: fn(a, axis=d, keepdims=k)


def _softmax(a, d):
    e = np.exp(a - a.max(axis=d, keepdims=True))
    return e / e.sum(axis=d, keepdims=True)


SINGLE = [
    ('prod', lambda L, x, d, k: x.prod(d, keepdim=k), _take(np.prod), 'any'),
    ('max_dim_values', lambda L, x, d, k: x.max(d, keepdim=k).values, _take(np.max), 'any'),
    ('max_dim_pair', lambda L, x, d, k: L.max(x, dim=d, keepdim=k), None, 'any'),
    ('min_dim_pair', lambda L, x, d, k: x.min(d, k), None, 'any'),
    ('min_dim_values', lambda L, x, d, k: L.min(x, d, keepdim=k)[0], _take(np.min), 'any'),
    ('softmax', lambda L, x, d, k: x.softmax(d), lambda a, d, k: _softmax(a, d), 'any'),
    ('softmax_fn', lambda L, x, d, k: L.softmax(x, dim=d), lambda a, d, k: _softmax(a, d), 'any'),
    ('log_softmax', lambda L, x, d, k: x.log_softmax(d), lambda a, d, k: np.log(_softmax(a, d)), 'any'),
    ('cumsum', lambda L, x, d, k: x.cumsum(d), lambda a, d, k: np.cumsum(a, axis=d), 'any'),
    ('cumsum_fn', lambda L, x, d, k: L.cumsum(x, dim=d), lambda a, d, k: np.cumsum(a, axis=d), 'any'),
    ('cumprod', lambda L, x, d, k: x.cumprod(d), lambda a, d, k: np.cumprod(a, axis=d), 'pos'),
]
SINGLE_IDS = [s[0] for s in SINGLE]
SCASES = [((2, 3, 4), 0, False), ((2, 3, 4), 1, True), ((2, 3, 4), -1, False), ((5,), 0, True), ((5,), -1, False)]


@pytest.mark.parametrize('name,fn,ref,kind', [s for s in SINGLE if s[2] is not None],
                         ids=[s[0] for s in SINGLE if s[2] is not None])
@pytest.mark.parametrize('shape,dim,keepdim', SCASES, ids=str)
def test_single_dim_reductions_match_numpy(name, fn, ref, kind, shape, dim, keepdim):
    x = rnd(*shape, kind=kind)
    out = fn(ember, ember.tensor(x), dim, keepdim)
    expect = ref(x, dim % x.ndim, keepdim)
    assert tuple(out.shape) == np.shape(expect)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('name,fn,ref,kind', SINGLE, ids=SINGLE_IDS)
@pytest.mark.parametrize('shape,dim,keepdim', [((2, 3, 2), 1, False), ((2, 3, 2), -1, True), ((4,), 0, False)],
                         ids=str)
def test_single_dim_reductions_gradcheck(name, fn, ref, kind, shape, dim, keepdim):
    gradcheck_op(lambda L, x: fn(L, x, dim, keepdim), rnd(*shape, kind=kind))


@pytest.mark.parametrize('name,fn,ref,kind', SINGLE, ids=SINGLE_IDS)
@pytest.mark.parametrize('shape,dim,keepdim', SCASES, ids=str)
def test_single_dim_reductions_parity(name, fn, ref, kind, shape, dim, keepdim):
    assert_parity(lambda L, x: fn(L, x, dim, keepdim), rnd(*shape, kind=kind))


def test_max_min_with_dim_return_values_and_indices():
    x = np.array([[1.0, 5.0, 4.0], [7.0, -2.0, 7.5]])
    r = ember.tensor(x).max(1)
    assert isinstance(r, tuple) and r.values.tolist() == [5.0, 7.5] and r.indices.tolist() == [1, 2]
    v, i = ember.tensor(x).min(dim=0, keepdim=True)
    assert v.tolist() == [[1.0, -2.0, 4.0]] and i.tolist() == [[0, 1, 0]] and i.dtype == ember.int64
    assert ember.tensor(x).max().item() == 7.5 and ember.tensor(x).min().item() == -2.0


@pytest.mark.parametrize('name,ref', [('argmax', np.argmax), ('argmin', np.argmin)])
@pytest.mark.parametrize('dim,keepdim', [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_argmin(name, ref, dim, keepdim):
    x = rnd(3, 4)
    out = getattr(ember.tensor(x), name)(dim, keepdim=keepdim)
    assert out.dtype == ember.int64
    assert getattr(ember, name)(ember.tensor(x), dim=dim, keepdim=keepdim).tolist() == out.tolist()
    expect = ref(x, axis=dim)
    if keepdim:
        expect = np.expand_dims(expect, dim)
    np.testing.assert_array_equal(out.numpy(), expect)
    assert_parity(lambda L, t: getattr(t, name)(dim, keepdim=keepdim), x, grad=False, rtol=0, atol=0)


@pytest.mark.parametrize('fn', [lambda L, x: x.all(), lambda L, x: x.any(), lambda L, x: x.all(1),
                                lambda L, x: L.any(x, 0, keepdim=True), lambda L, x: x.all(dim=-1, keepdim=True),
                                lambda L, x: (x > 0).any(1), lambda L, x: L.count_nonzero(x, 1)])
def test_all_any(fn):
    x = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    assert_parity(fn, x, grad=False, rtol=0, atol=0)


def test_all_any_values():
    x = ember.tensor([[True, False], [True, True]])
    assert x.all(1).tolist() == [False, True] and x.any(0).tolist() == [True, True]
    assert not x.all().item() and x.any().item()


# ---- result dtypes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('fn,expect', [
    (lambda L: L.ones(3, dtype=L.int32).sum(), 'int64'), (lambda L: L.ones(3, dtype=L.bool).sum(), 'int64'),
    (lambda L: L.ones(3, dtype=L.uint8).sum(0), 'int64'), (lambda L: L.ones(3).sum(), 'float32'),
    (lambda L: L.ones(3, dtype=L.float64).mean(), 'float64'), (lambda L: L.ones(3, dtype=L.int32).prod(), 'int64'),
    (lambda L: L.ones(3, dtype=L.int32).cumsum(0), 'int64'), (lambda L: L.ones(3, dtype=L.int32).max(), 'int32'),
    (lambda L: L.ones(2, 3, dtype=L.int32).max(1).values, 'int32'), (lambda L: L.ones(3).argmax(), 'int64'),
    (lambda L: L.ones(3, dtype=L.int64).sum(dtype=L.float64), 'float64'),
    (lambda L: L.ones(3, dtype=L.int64).mean(dtype=L.float64), 'float64'),
    (lambda L: L.ones(3).softmax(0, dtype=L.float64), 'float64'), (lambda L: L.ones(3).all(), 'bool'),
    (lambda L: L.ones(3, dtype=L.int64).amax(), 'int64'), (lambda L: L.ones(3, dtype=L.float64).std(), 'float64'),
    (lambda L: L.ones(3, dtype=L.int64).logsumexp(0), 'float32'),
    (lambda L: L.ones(3, dtype=L.int32).cumprod(0), 'int64'),
    (lambda L: L.ones(3, dtype=L.uint8).cumsum(0), 'int64'), (lambda L: L.ones(3, dtype=L.int32).median(), 'int32'),
])
def test_reduction_dtypes(fn, expect):
    for lib in (ember, torch) if torch else (ember,):
        assert fn(lib).dtype == getattr(lib, expect), lib.__name__


# ---- edge cases: 0-d inputs, empty inputs, nan/inf -------------------------------------------------------------
@pytest.mark.parametrize('fn', [
    lambda L: L.tensor(3.0).sum(0), lambda L: L.tensor(3.0).sum(-1, keepdim=True), lambda L: L.tensor(3.0).max(0),
    lambda L: L.tensor(3.0).prod(0), lambda L: L.tensor(3.0).softmax(0), lambda L: L.tensor(3.0).cumsum(0),
    lambda L: L.tensor(3.0).argmax(0), lambda L: L.tensor(3.0).logsumexp(0), lambda L: L.tensor(3.0).mean(),
    lambda L: L.ones(0).sum(), lambda L: L.ones(0).prod(), lambda L: L.ones(0).mean(), lambda L: L.ones(0, 3).sum(0),
    lambda L: L.tensor([1.0, float('nan'), 2.0]).max(), lambda L: L.tensor([1.0, float('nan'), 2.0]).max(0),
    lambda L: L.tensor([1.0, float('nan'), 2.0]).amin(), lambda L: L.tensor([1.0, float('nan'), 2.0]).sum(),
    lambda L: L.tensor([[-float('inf')] * 2]).logsumexp(1), lambda L: L.tensor([[float('inf')] * 2]).logsumexp(1),
    lambda L: L.tensor([[1000.0, 1000.0]]).logsumexp(1), lambda L: L.tensor([[1000.0, -1000.0]]).softmax(1),
    lambda L: L.tensor([[1000.0, -1000.0]]).log_softmax(1), lambda L: L.tensor([1.0]).var(correction=0),
    lambda L: L.tensor([1.0, 2.0]).norm(p=0), lambda L: L.tensor([[1.0, 4.0], [1.0, 2.0]]).var(0, correction=2),
])
def test_edge_case_parity(fn):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert_parity(lambda L: fn(L), grad=False)


@pytest.mark.parametrize('fn', [
    lambda L, x: x.max(), lambda L, x: x.amax(), lambda L, x: x.amax(1), lambda L, x: x.max(1).values,
    lambda L, x: x.min(0).values, lambda L, x: x.norm(), lambda L, x: (x * 0).norm(dim=1), lambda L, x: x.prod(),
    lambda L, x: x.prod(1), lambda L, x: x.norm(p=float('inf')),
], ids=['max', 'amax', 'amax_dim', 'max_dim', 'min_dim', 'norm', 'norm_zero', 'prod', 'prod_dim', 'norm_inf'])
def test_gradient_with_ties_and_zeros_matches_torch(fn):
    # ties: max/amax spread or route as PyTorch does; zeros in prod; the norm's gradient at 0 is 0
    assert_parity(fn, np.array([[2.0, 0.0, 2.0], [1.0, -3.0, 3.0]]))


@pytest.mark.parametrize('fn,x', [
    (lambda L, x: x.cumprod(1), [[1.0, 0.0, 2.0, 3.0], [0.0, 0.0, 2.0, 1.0]]),
    (lambda L, x: x.cumprod(0), [[1.0, 0.0, 2.0, 3.0], [0.0, 0.0, 2.0, 1.0]]),
    (lambda L, x: x.prod(1), [[1.0, 0.0, 2.0, 0.0], [1.0, 2.0, 3.0, 4.0]]),
    (lambda L, x: x.norm(p=3), [[0.0, 0.0]]), (lambda L, x: x.norm(p=1.5, dim=0), [[0.0, 1.0], [0.0, -2.0]]),
    (lambda L, x: x.norm(dim=1), [[0.0, 0.0], [3.0, 4.0]]), (lambda L, x: x.median(), [[2.0, 2.0], [1.0, 3.0]]),
    (lambda L, x: x.median(), [[2.0, float('nan')], [1.0, 3.0]]), (lambda L, x: x.min(), [[1.0, 2.0], [1.0, 3.0]]),
    (lambda L, x: x.logsumexp(1), [[-float('inf'), -float('inf')], [1.0, 2.0]]),
    (lambda L, x: x.softmax(0), [[-float('inf'), 0.0]]), (lambda L, x: x.std(1), [[1.0, 1.0], [2.0, 3.0]]),
], ids=['cumprod_zeros', 'cumprod_zeros_dim0', 'prod_two_zeros', 'norm_p3_zero', 'norm_p15_zero', 'norm_zero_row',
        'median_tie', 'median_nan', 'min_tie', 'logsumexp_all_neg_inf', 'softmax_neg_inf', 'std_constant_row'])
def test_gradients_at_special_points_match_torch(fn, x):
    assert_parity(fn, np.array(x))


def test_cumprod_gradient_with_zeros_gradcheck():
    x = np.array([[1.0, 0.0, 2.0, 3.0, 0.5], [0.0, 0.0, 2.0, 1.0, -1.0], [2.0, 3.0, 0.0, 1.0, 0.0]])
    gradcheck_op(lambda L, t: t.cumprod(1), x)
    gradcheck_op(lambda L, t: t.cumprod(0), x)


def test_prod_gradient_with_zeros_gradcheck():
    gradcheck_op(lambda L, x: x.prod(1), np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, -1.0]]))
    gradcheck_op(lambda L, x: x.prod(), np.array([[0.5, 2.0], [0.0, 3.0]]))


def test_double_backward_through_softmax_and_logsumexp():
    x = ember.tensor(rnd(2, 3), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda t: t.softmax(1), (x,))
    assert ember.autograd.gradgradcheck(lambda t: t.logsumexp(1), (x,))
    assert ember.autograd.gradgradcheck(lambda t: t.log_softmax(0), (x,))


# ---- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('fn,dim', [
    (lambda x: x.sum(5), 5), (lambda x: x.mean(-4), -4), (lambda x: x.max(3), 3), (lambda x: x.argmax(2), 2),
    (lambda x: x.softmax(2), 2), (lambda x: x.cumsum(-3), -3), (lambda x: x.std(dim=(0, 7)), 7),
    (lambda x: x.logsumexp(9), 9), (lambda x: x.amax(4), 4), (lambda x: x.prod(2), 2), (lambda x: x.all(2), 2),
    (lambda x: x.var(2), 2), (lambda x: x.norm(dim=2), 2), (lambda x: x.log_softmax(-3), -3)])
def test_dim_out_of_range(fn, dim):
    with pytest.raises(IndexError, match=rf'Dimension out of range \(expected to be in range of \[-2, 1\], but got '
                                         rf'{dim}\)'):
        fn(ember.ones(2, 3))


def test_reduction_errors():
    with pytest.raises(RuntimeError, match=r'dim 0 appears multiple times|appears multiple times'):
        ember.ones(2, 3).sum((0, 0))
    with pytest.raises(RuntimeError, match='mean\\(\\): could not infer output dtype.*int64'):
        ember.ones(2, dtype=ember.int64).mean()
    with pytest.raises(RuntimeError, match='std and var only support floating point'):
        ember.ones(2, dtype=ember.int64).var()
    with pytest.raises(RuntimeError, match='vector_norm.*floating point.*int64'):
        ember.ones(2, dtype=ember.int64).norm()
    with pytest.raises(RuntimeError,
                       match="max\\(\\): Expected reduction dim to be specified for input.numel\\(\\) == 0"):
        ember.ones(0).max()
    with pytest.raises(IndexError, match='max\\(\\): Expected reduction dim 1 to have non-zero size'):
        ember.ones(2, 0).max(1)
    with pytest.raises(IndexError, match='amax\\(\\): Expected reduction dim 0 to have non-zero size'):
        ember.ones(0, 3).amax(0)


@pytest.mark.parametrize('fn', [lambda x: x.sum(axis=1), lambda x: x.sum(1, keepdims=True), lambda x: x.mean(axis=0),
                                lambda x: x.amax(axis=(0, 1), keepdims=True), lambda x: x.max(axis=1).values,
                                lambda x: x.argmax(axis=0), lambda x: x.std(axis=1), lambda x: (x > 0).all(axis=1),
                                lambda x: x.prod(axis=1, keepdims=True)])
def test_numpy_style_axis_and_keepdims_names(fn):
    assert_parity(lambda L, t: fn(t), rnd(3, 4), grad=False, rtol=1e-12, atol=0, check_dtype=False)


def test_frobenius_norm_over_more_than_two_dims_is_refused_as_in_pytorch():
    with pytest.raises(RuntimeError, match='dim must be a 2-tuple'):
        ember.ones(2, 2, 2).norm(dim=(0, 1, 2))
    assert ember.ones(2, 2, 2).norm(p=2, dim=(0, 1, 2)).item() == pytest.approx(8 ** 0.5)


# ---- empty dims and odd dtypes (issue 10) --------------------------------------------------------------------------

@pytest.mark.parametrize('expr', ['x.softmax(1)', 'x.log_softmax(1)', 'x.logsumexp(1)', 'x.softmax(0)',
                                  'x.logsumexp(0)', 'x.logsumexp((0, 1))'])
@pytest.mark.parametrize('shape', [(2, 0), (0, 3), (0, 0)])
def test_softmax_family_over_empty_dims(expr, shape):
    def run(T):
        x = T.zeros(shape, requires_grad=True)
        r = eval(expr, {'x': x})
        r.sum().backward()
        return list(r.shape), r.tolist(), list(x.grad.shape)
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', ['u.all()', 'u.any()', 'u.all(0)', 'u.any(1, keepdim=True)', 'b.all()', 'i.any()'])
def test_all_any_dtypes(expr):
    def run(T):
        env = {'u': T.tensor([[1, 0], [2, 3]], dtype=T.uint8), 'b': T.tensor([True, False]), 'i': T.tensor([0, 5])}
        r = eval(expr, env)
        return str(r.dtype).split('.')[-1], r.tolist()
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', [
    'x.max()', 'x.min()', 'x.var()', 'x.std()', 'x[:1].cumprod(0)', 'T.tensor([[1, 2]]).softmax(-1)',
    'T.tensor([[1, 2]]).log_softmax(0)', 'T.zeros(2, 0, dtype=T.int64).softmax(1)', 'T.tensor(1.).softmax(1)',
    'b.argmax()', 'T.zeros(0).argmax()', 'T.zeros(2, 0).argmin(1)', 'T.zeros(0).amax()', 'T.zeros(3, 0).var(1)',
    'x.detach().var(0).reshape(1) * 0 + T.tensor([1.]).var()'])
def test_reduction_edge_cases_match_torch(expr):
    def run(T):
        env = {'T': T, 'b': T.tensor([True, False]),
               'x': T.tensor([1.5, float('nan'), float('inf'), 0.0, 1.5], requires_grad=True)}
        try:
            r = eval(expr, env)
        except Exception as e:
            return type(e).__name__
        out = (str(r.dtype).split('.')[-1], np.nan_to_num(r.detach().numpy(), nan=7.0).tolist())
        if r.requires_grad:
            r.sum().backward()
            out += (np.nan_to_num(env['x'].grad.numpy(), nan=7.0, posinf=8.0, neginf=9.0).tolist(),)
        return out
    assert_same_outcome(run)
