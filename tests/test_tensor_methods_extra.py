"""Parity with PyTorch of the Tensor methods added for torch.Tensor's API (aliases and in-place elementwise forms)."""
import pytest

from _parity import Rnd, assert_parity, assert_raises_like_torch
from conftest import needs_torch

rnd = Rnd(71)

UNARY = ['acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'arccos', 'arcsin', 'arctan', 'arctanh', 'cosh',
         'sinh', 'tan', 'erf', 'erfc', 'erfinv', 'exp2', 'log2', 'log10', 'lgamma', 'digamma', 'i0', 'sinc', 'frac',
         'deg2rad', 'rad2deg', 'sgn', 'logit', 'nan_to_num', 'fix', 'absolute']
KIND = {'acosh': (1.5, 3.0), 'arccosh': (1.5, 3.0), 'log2': 'pos', 'log10': 'pos', 'lgamma': 'pos',
        'digamma': 'pos', 'logit': (0.1, 0.9)}
# (sgn's gradient is a ZeroTensor in PyTorch, not comparable.) PyTorch has no derivative for these in place (NotImplementedError at backward); ember differentiates them
NO_TORCH_GRAD = {'sgn', 'acosh', 'asinh', 'atanh', 'arccosh', 'arcsinh', 'arctanh'}
BINARY = ['atan2', 'arctan2', 'xlogy', 'hypot', 'copysign', 'fmod', 'clamp_min', 'clamp_max']


def _kind(name):
    return KIND.get(name, 'unit' if name[:1] == 'a' and 'tan' not in name else 'away')


@pytest.mark.parametrize('shape', [(3, 4), (), (0, 2)])
@pytest.mark.parametrize('name', UNARY)
def test_unary_inplace(name, shape):
    x = rnd(*shape, kind=_kind(name))
    if name in NO_TORCH_GRAD:
        assert_parity(lambda lib, t: getattr(t.detach().clone(), name + '_')(), x)
        return
    # on a non-leaf copy, and through a view of it: gradients are the out-of-place op's
    assert_parity(lambda lib, t: getattr(t * 1, name + '_')(), x)
    assert_parity(lambda lib, t: getattr(t, name)(), x)
    if shape == (3, 4):
        def on_view(lib, t):
            b = t * 1
            getattr(b[1:], name + '_')()
            return b
        assert_parity(on_view, x)


@pytest.mark.parametrize('name', BINARY)
def test_binary_inplace(name):
    x, y = rnd(3, 4, kind='away'), rnd(4, kind='away')
    assert_parity(lambda lib, a, b: getattr(a * 1, name + '_')(b), x, y)
    assert_parity(lambda lib, a, b: getattr(a.t().clone().t(), name + '_')(b), x, y)


@pytest.mark.parametrize('name', ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'greater', 'greater_equal', 'less',
                                  'less_equal', 'not_equal'])
def test_comparison_inplace_keeps_dtype(name):
    x, y = rnd(3, 4), rnd(3, 4)
    assert_parity(lambda lib, a, b: getattr(a.detach().clone(), name + '_')(b.detach()), x, y)
    assert_parity(lambda lib, a, b: getattr(a, name)(b), x, y)


@pytest.mark.parametrize('name', ['logical_and', 'logical_or', 'logical_xor', 'bitwise_and', 'bitwise_or',
                                  'bitwise_xor', 'gcd', 'lcm', 'bitwise_left_shift', 'bitwise_right_shift'])
def test_integer_inplace(name):
    x, y = rnd(3, 4, kind=(1, 9), dtype='int64'), rnd(3, 4, kind=(1, 4), dtype='int64')
    assert_parity(lambda lib, a, b: getattr(a.clone(), name + '_')(b), x, y)
    assert_parity(lambda lib, a: a.clone().bitwise_not_(), x)
    assert_parity(lambda lib, a: a.clone().logical_not_(), x)


@needs_torch
@pytest.mark.parametrize('name', ['acos_', 'exp2_', 'erf_', 'sinc_', 'logit_', 'deg2rad_'])
def test_int_result_type_refused(name):
    assert_raises_like_torch(lambda lib: getattr(lib.tensor([1, 2]), name)())


@needs_torch
def test_float_power_inplace_needs_double():
    assert_raises_like_torch(lambda lib: lib.ones(2).float_power_(2))
    assert_parity(lambda lib, a: (a * 1).float_power_(2), rnd(3, kind='pos'))


def test_polygamma_mvlgamma_ldexp_clip():
    x = rnd(3, 2, kind=(2.0, 4.0))
    assert_parity(lambda lib, a: (a * 1).polygamma_(1), x)
    assert_parity(lambda lib, a: (a * 1).mvlgamma_(2), x)
    assert_parity(lambda lib, a: a.clip(-0.5, 0.5), rnd(4, 3))
    assert_parity(lambda lib, a: (a * 1).ldexp_(lib.tensor([1.0, 2.0])), x)


def _mm_args(lib, name, a):
    d = a.dtype
    return {'addcmul_': (a * 2, a + 3), 'addcdiv_': (a * 2, a * a + 1), 'lerp_': (a * 3, 0.25),
            'addmm_': (lib.ones(3, 2, dtype=d), a[:2] * 1), 'cumsum_': (1,), 'cumprod_': (0,),
            'renorm_': (2, 0, 1.0)}[name]


@pytest.mark.parametrize('name', ['addcmul_', 'addcdiv_', 'lerp_', 'addmm_', 'cumsum_', 'cumprod_', 'renorm_'])
def test_composite_inplace(name):
    x = rnd(3, 3, kind='away')
    # gradients through a non-leaf copy equal the out-of-place method's
    assert_parity(lambda lib, a: getattr(a * 1, name)(*_mm_args(lib, name, a)), x)
    assert_parity(lambda lib, a: getattr(a, name[:-1])(*_mm_args(lib, name, a)), x)


def test_addmm_addmv_family_keywords():
    x, m = rnd(2, 3), rnd(3, 3)
    assert_parity(lambda lib, a, b: (a * 1).addmm_(a, b, beta=0.5, alpha=2), x, m)
    assert_parity(lambda lib, a, b: (a[0] * 1).addmv_(b, a[1], beta=2), x, m)
    assert_parity(lambda lib, a, b: (b * 1).addr_(a[0], a[1], alpha=3), x, m)
    assert_parity(lambda lib, a, b: (b[:2, :2] * 1).addbmm_(a.reshape(1, 2, 3), b.reshape(1, 3, 3)[:, :, :2]), x, m)
    assert_parity(lambda lib, a, b: (b[None, :2, :2] * 1).baddbmm_(a.reshape(1, 2, 3), b[None, :, :2]), x, m)


@needs_torch
def test_predicates_and_split_aliases():
    from _parity import assert_same_outcome

    def run(lib):
        x = lib.arange(6.).reshape(2, 3)
        return [x.is_signed(), lib.tensor([1], dtype=lib.uint8).is_signed(), lib.tensor(True).is_signed(),
                x.is_same_size(x.t()), x.is_same_size(x * 1), x.is_neg(), x.is_inference(), x.get_device(),
                [list(t.shape) for t in x.unsafe_chunk(2, 1)], [list(t.shape) for t in x.unsafe_split(2, 1)],
                [list(t.shape) for t in x.unsafe_split_with_sizes([1, 2], 1)], x[0].broadcast_to((2, 3)).tolist(),
                lib.zeros(0).broadcast_to((3, 0)).shape == (3, 0)]
    assert_same_outcome(run)


def test_index_inplace():
    x, s = rnd(4, 3), rnd(2, 3)
    assert_parity(lambda lib, a: (a * 1).index_fill_(0, lib.tensor([0, 2]), -1.5), x)
    assert_parity(lambda lib, a, b: (a * 1).index_reduce_(0, lib.tensor([1, 3]), b, 'prod'), x, s)
    assert_parity(lambda lib, a, b: (a * 1).index_reduce_(0, lib.tensor([1, 1]), b, 'amax', include_self=False),
                  x, s)
    assert_parity(lambda lib, a, b: (a * 1).put_(lib.tensor([0, 5, 5]), b[0], accumulate=True), x, s)
    assert_parity(lambda lib, a, b: (a * 1).put_(lib.tensor([0, 5, 7]), b[0]), x, s)
