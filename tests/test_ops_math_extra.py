"""The ops added for PyTorch's op surface (math_extra, special, reduce_extra, shape_extra): gradcheck, parity, edges."""
import sys

import numpy as np
import pytest

import ember
from _parity import Rnd, assert_parity, gradcheck_op

rnd = Rnd(21)
UNIT = (-0.9, 0.9)  # uniform inside the domain of asin, acos, atanh, erfinv
POS = (0.5, 3.0)


UNARY = [
    ('asin', lambda L, a: L.asin(a), rnd(3, 4, kind=UNIT)),
    ('acos', lambda L, a: a.acos(), rnd(3, 4, kind=UNIT)),
    ('asinh', lambda L, a: L.asinh(a), rnd(3, 4)),
    ('acosh', lambda L, a: L.acosh(a + 1.5), rnd(3, 4, kind=POS)),
    ('atanh', lambda L, a: L.atanh(a), rnd(5, kind=UNIT)),
    ('sinh', lambda L, a: L.sinh(a), rnd(3, 4)),
    ('cosh', lambda L, a: a.cosh(), rnd(3, 4)),
    ('exp2', lambda L, a: L.exp2(a), rnd(3, 4)),
    ('deg2rad', lambda L, a: L.deg2rad(a), rnd(4)),
    ('rad2deg', lambda L, a: a.rad2deg(), rnd(4)),
    ('sinc', lambda L, a: L.sinc(a), np.array([0.0, 0.5, -1.3, 2.0])),
    ('logit', lambda L, a: L.logit(a), rnd(3, 4, kind=(0.1, 0.9))),
    ('logit_eps', lambda L, a: L.logit(a, eps=0.2), np.array([0.1, 0.3, 0.7, 0.95])),
    ('nan_to_num', lambda L, a: L.nan_to_num(a, posinf=5.0), np.array([1.0, np.inf, -np.inf, np.nan, -2.0])),
    ('clamp_min', lambda L, a: L.clamp_min(a, 0.1), rnd(3, 4)),
    ('clamp_max', lambda L, a: a.clamp_max(0.1), rnd(3, 4)),
    ('frexp', lambda L, a: L.frexp(a)[0], rnd(3, 4) * 10),
    ('erf', lambda L, a: L.erf(a), rnd(3, 4)),
    ('erfc', lambda L, a: a.erfc(), rnd(3, 4)),
    ('erfinv', lambda L, a: L.erfinv(a), rnd(3, 4, kind=UNIT)),
    ('lgamma', lambda L, a: L.lgamma(a), rnd(3, 4, kind=POS)),
    ('digamma', lambda L, a: L.digamma(a), rnd(3, 4, kind=POS)),
    ('polygamma', lambda L, a: L.polygamma(2, a), rnd(3, 4, kind=POS)),
    ('mvlgamma', lambda L, a: L.mvlgamma(a + 2, 3), rnd(3, 4, kind=POS)),
    ('i0', lambda L, a: L.i0(a), rnd(3, 4)),
    ('special_i1', lambda L, a: L.special.i1(a), rnd(3, 4)),
    ('special_ndtr', lambda L, a: L.special.ndtr(a), rnd(3, 4)),
    ('special_log_ndtr', lambda L, a: L.special.log_ndtr(a), rnd(3, 4)),
    ('special_entr', lambda L, a: L.special.entr(a), rnd(3, 4, kind=POS)),
]

BINARY = [
    ('atan2', lambda L, a, b: L.atan2(a, b), rnd(3, 4), rnd(4)),
    ('hypot', lambda L, a, b: L.hypot(a, b), rnd(3, 1), rnd(4)),
    ('copysign', lambda L, a, b: L.copysign(a, b), rnd(3, 4), rnd(3, 4)),
    ('logaddexp', lambda L, a, b: L.logaddexp(a, b), rnd(3, 4), rnd(3, 4)),
    ('logaddexp2', lambda L, a, b: a.logaddexp2(b), rnd(3, 4), rnd(4)),
    ('xlogy', lambda L, a, b: L.xlogy(a, b), rnd(3, 4), rnd(3, 4, kind=POS)),
    ('fmax', lambda L, a, b: L.fmax(a, b), rnd(3, 4), rnd(3, 4)),
    ('fmin', lambda L, a, b: L.fmin(a, b), rnd(2, 4), rnd(4)),
    ('float_power', lambda L, a, b: L.float_power(a, b), rnd(3, 4, kind=POS), rnd(3, 4)),
    # (non-negative exponents: PyTorch 2.13's gradient is 0 where an integer exponent is negative)
    ('ldexp', lambda L, a, b: L.ldexp(a, b), rnd(3, 4), np.array([1, 2, 3, 0])),
    # the derivative in the first argument is not implemented (as in PyTorch): only x varies
    ('igamma', lambda L, x: L.igamma(L.full_like(x.detach(), 1.7), x), rnd(3, 4, kind=POS)),
    ('igammac', lambda L, x: L.igammac(L.full_like(x.detach(), 0.8), x), rnd(3, 4, kind=POS)),
]

REDUCE = [
    ('nansum', lambda L, a: L.nansum(L.where(a > 1, float('nan'), a), 1), rnd(3, 4)),
    ('nanmean', lambda L, a: L.nanmean(L.where(a > 1, float('nan'), a), 0, keepdim=True), rnd(3, 4)),
    ('aminmax', lambda L, a: L.aminmax(a, dim=1), rnd(3, 4)),
    ('cummax', lambda L, a: L.cummax(a, 1), rnd(3, 5)),
    ('cummin', lambda L, a: a.cummin(0), rnd(4, 3)),
    ('logcumsumexp', lambda L, a: L.logcumsumexp(a, 1), rnd(3, 5)),
    ('mode', lambda L, a: L.mode(a.round(), 1), rnd(3, 6) * 2),
    ('quantile', lambda L, a: L.quantile(a, 0.3, dim=1), rnd(3, 7)),
    ('quantile_q_tensor', lambda L, a: L.quantile(a, L.tensor([0.1, 0.5, 0.9], dtype=a.dtype)), rnd(9)),
    ('quantile_midpoint', lambda L, a: L.quantile(a, 0.5, dim=0, keepdim=True, interpolation='midpoint'), rnd(6, 2)),
    ('nanquantile', lambda L, a: L.nanquantile(L.where(a > 1, float('nan'), a), 0.4, dim=1), rnd(3, 7)),
    ('trace', lambda L, a: L.trace(a), rnd(3, 4)),
    ('cov', lambda L, a: L.cov(a), rnd(3, 6)),
    ('corrcoef', lambda L, a: L.corrcoef(a), rnd(3, 6)),
    ('diff', lambda L, a: L.diff(a, n=2, dim=0), rnd(5, 3)),
    ('trapezoid', lambda L, a: L.trapezoid(a, dx=0.5), rnd(3, 5)),
    ('cumulative_trapezoid', lambda L, a: L.cumulative_trapezoid(a), rnd(3, 5)),
    ('dist', lambda L, a, b: L.dist(a, b, 3), rnd(3, 4), rnd(4)),
    ('renorm', lambda L, a: L.renorm(a, 2, 0, 1.0), rnd(3, 4)),
]

SHAPE = [
    ('tile', lambda L, a: L.tile(a, (2, 1, 3)), rnd(2, 3)),
    ('kron', lambda L, a, b: L.kron(a, b), rnd(2, 3), rnd(3, 2)),
    ('rot90', lambda L, a: L.rot90(a, 3, [1, 2]), rnd(2, 3, 4)),
    ('atleast_3d', lambda L, a: L.atleast_3d(a), rnd(4)),
    ('column_stack', lambda L, a, b: L.column_stack([a, b]), rnd(3), rnd(3, 2)),
    ('dstack', lambda L, a, b: L.dstack([a, b]), rnd(3), rnd(3)),
    ('hsplit', lambda L, a: L.hsplit(a, 2), rnd(3, 4)),
    ('diag_embed', lambda L, a: L.diag_embed(a, 1, 0, 2), rnd(2, 3)),
    ('diagflat', lambda L, a: L.diagflat(a, -1), rnd(2, 2)),
    ('block_diag', lambda L, a, b, c: L.block_diag(a, b, c), rnd(2, 2), rnd(3), np.array(0.7)),
    ('cartesian_prod', lambda L, a, b: L.cartesian_prod(a, b), rnd(2), rnd(3)),
    ('combinations', lambda L, a: L.combinations(a, 2, with_replacement=True), rnd(3)),
    ('repeat_interleave', lambda L, a: L.repeat_interleave(a, L.tensor([1, 0, 2]), dim=0), rnd(3, 2)),
    ('take_along_dim', lambda L, a: L.take_along_dim(a, a.argsort(1), 1), rnd(3, 4)),
    ('index_fill', lambda L, a: L.index_fill(a, 1, L.tensor([0, 2]), -1.0), rnd(3, 4)),
    ('tensordot', lambda L, a, b: L.tensordot(a, b, ([1, 2], [0, 1])), rnd(2, 3, 4), rnd(3, 4, 5)),
    ('addmv', lambda L, c, a, b: L.addmv(c, a, b, beta=0.5, alpha=2), rnd(3), rnd(3, 4), rnd(4)),
    ('baddbmm', lambda L, c, a, b: L.baddbmm(c, a, b), rnd(3, 2), rnd(2, 3, 4), rnd(2, 4, 2)),
    ('addbmm', lambda L, c, a, b: L.addbmm(c, a, b, beta=0), rnd(3, 2), rnd(2, 3, 4), rnd(2, 4, 2)),
    ('addr', lambda L, c, a, b: L.addr(c, a, b, alpha=3), rnd(3, 2), rnd(3), rnd(2)),
    ('unfold', lambda L, a: a.unfold(1, 3, 2), rnd(2, 7)),
    ('put', lambda L, a, b: L.put(a, L.tensor([1, -1, 4]), b), rnd(2, 3), rnd(3)),
    ('put_accumulate', lambda L, a, b: a.put(L.tensor([1, 1, 4]), b, accumulate=True), rnd(2, 3), rnd(3)),
    ('nanmedian', lambda L, a: L.nanmedian(L.where(a > 1, float('nan'), a)), rnd(3, 5)),
    ('nanmedian_dim', lambda L, a: L.nanmedian(L.where(a > 1, float('nan'), a), 1, keepdim=True), rnd(3, 5)),
    ('index_reduce_mean', lambda L, a, b: a.index_reduce(0, L.tensor([0, 2, 0]), b, 'mean'), rnd(3, 2), rnd(3, 2)),
    ('index_reduce_mean_no_self', lambda L, a, b: L.index_reduce(a, 1, L.tensor([1, 1]), b, 'mean',
                                                                 include_self=False), rnd(2, 3), rnd(2, 2)),
    ('index_reduce_prod', lambda L, a, b: a.index_reduce(1, L.tensor([0, 2, 0]), b, 'prod'), rnd(2, 3), rnd(2, 3)),
    ('index_reduce_amax', lambda L, a, b: L.index_reduce(a, 0, L.tensor([1, 1]), b, 'amax', include_self=False),
     rnd(3, 2), rnd(2, 2)),
    ('index_reduce_amin', lambda L, a, b: a.index_reduce(0, L.tensor([2, 0]), b, 'amin'), rnd(3, 2), rnd(2, 2)),
    ('gradient', lambda L, a: L.gradient(a, spacing=[2.0, 0.5]), rnd(4, 5)),
    ('gradient_edge2', lambda L, a: L.gradient(a, dim=1, edge_order=2), rnd(3, 5)),
    ('gradient_coords', lambda L, a: L.gradient(a, spacing=(L.tensor([0.0, 0.5, 1.5, 3.0]),)), rnd(4)),
    ('constant_pad_nd', lambda L, a: L.constant_pad_nd(a, (1, 2, 0, -1), 0.5), rnd(3, 4)),
]

ALL = UNARY + [(n, f, *a) for n, f, *a in BINARY] + REDUCE + SHAPE


def _arrays(case):
    return case[2:]


@pytest.mark.parametrize('case', ALL, ids=[c[0] for c in ALL])
def test_gradcheck(case):
    gradcheck_op(case[1], *_arrays(case))


@pytest.mark.parametrize('case', ALL, ids=[c[0] for c in ALL])
def test_parity_float64(case):
    assert_parity(case[1], *_arrays(case), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('case', UNARY + REDUCE, ids=[c[0] for c in UNARY + REDUCE])
def test_parity_float32_keeps_dtype(case):
    arrays = [a.astype(np.float32) for a in _arrays(case)]
    assert_parity(case[1], *arrays, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name,fn,a', [
    ('asin_int', lambda L, a: L.asin(a), np.array([0, 1, -1])),
    ('gcd', lambda L, a: L.gcd(a, a * 2 + 4), np.array([0, 6, -9, 12])),
    ('lcm', lambda L, a: L.lcm(a, a + 3), np.array([1, 6, 9, 0])),
    ('shifts', lambda L, a: (L.bitwise_left_shift(a, 2), a >> 1), np.array([1, -6, 9, 0])),
    ('heaviside', lambda L, a: L.heaviside(a, a * 0 + 7), np.array([-1, 0, 3])),
    ('signbit', lambda L, a: L.signbit(a), np.array([-0.0, 0.0, -2.0, 3.0])),
    ('isposinf', lambda L, a: (L.isposinf(a), L.isneginf(a)), np.array([np.inf, -np.inf, 1.0])),
    ('bucketize', lambda L, a: L.bucketize(a, L.tensor([-1.0, 0.0, 1.0]), right=True), np.array([-1.0, 0.5, 2.0])),
    ('searchsorted', lambda L, a: L.searchsorted(L.tensor([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]), a),
     np.array([[0.5, 2.0], [3.5, 0.0]])),
    ('isin', lambda L, a: L.isin(a, L.tensor([1, 3])), np.array([[1, 2], [3, 4]])),
    ('unique_consecutive', lambda L, a: L.unique_consecutive(a, return_inverse=True, return_counts=True),
     np.array([1, 1, 2, 2, 3, 1])),
    ('tril_indices', lambda L, a: (L.tril_indices(3, 4, 1), L.triu_indices(4, 3, -1)), np.array([0])),
    ('unravel_index', lambda L, a: L.unravel_index(a, (3, 4)), np.array([0, 5, 11])),
    ('repeat_interleave_counts', lambda L, a: L.repeat_interleave(a), np.array([1, 0, 3])),
    ('trace_int', lambda L, a: L.trace(a), np.arange(6).reshape(2, 3)),
    ('histogram', lambda L, a: L.histogram(a, bins=4), np.array([1.0, 2.0, 1.0, 0.5])),
    ('diff_bool', lambda L, a: L.diff(a > 0), np.array([1.0, -1.0, -2.0, 3.0])),
    ('nonzero_static', lambda L, a: (L.nonzero_static(a, size=4), L.nonzero_static(a, size=1, fill_value=7)),
     np.array([[0, 1], [2, 0]])),
    ('nonzero_static_0d', lambda L, a: L.nonzero_static(a, size=2), np.array(3)),
])
def test_integer_and_bool_results(name, fn, a):
    assert_parity(fn, a, grad=False)


@pytest.mark.parametrize('name,fn,a', [
    ('nansum_empty', lambda L, a: L.nansum(a, 0), np.zeros((0, 3))),
    ('cummax_0d', lambda L, a: L.cummax(a, 0), np.array(2.5)),
    ('logcumsumexp_empty', lambda L, a: L.logcumsumexp(a, 0), np.zeros((0,))),
    ('quantile_0d', lambda L, a: L.quantile(a, 0.5), np.array(1.5)),
    ('atleast_2d_0d', lambda L, a: L.atleast_2d(a), np.array(1.0)),
    ('kron_0d', lambda L, a: L.kron(a, a), np.array(2.0)),
    ('tile_empty', lambda L, a: L.tile(a, (2, 2)), np.zeros((0, 2))),
    ('diag_embed_empty', lambda L, a: L.diag_embed(a), np.zeros((2, 0))),
    ('asin_noncontiguous', lambda L, a: L.asin(a.t()), rnd(3, 4, kind=UNIT)),
    ('xlogy_zero_x', lambda L, a: L.xlogy(a * 0, a), rnd(3, kind=POS)),
])
def test_empty_zero_dim_noncontiguous(name, fn, a):
    assert_parity(fn, a)


def test_special_functions_without_scipy_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'scipy.special', None)
    monkeypatch.setitem(sys.modules, 'scipy', None)
    with pytest.raises(ImportError, match=r'ember\[train\]'):
        ember.erf(ember.zeros(2))


def test_errors_match_pytorch_wording():
    with pytest.raises(RuntimeError, match='must be greater than'):
        ember.mvlgamma(ember.zeros(2), 3)
    with pytest.raises(RuntimeError, match='q values must be in the range'):
        ember.quantile(ember.zeros(3), 1.5)
    with pytest.raises(RuntimeError, match='not divisible'):
        ember.hsplit(ember.zeros(2, 5), 2)
    with pytest.raises(RuntimeError, match='rotation dims'):
        ember.rot90(ember.zeros(2, 2), 1, [0, 0])
