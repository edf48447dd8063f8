"""max_unpool1d/2d/3d, adaptive_max_pool3d and grid_sample / grid_sampler_2d/3d against PyTorch (values, float64
gradients, unbatched/empty inputs, errors) and their layers."""
import itertools
import warnings

import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op, needs_torch, torch

F = ember.nn.functional


def _pooled(nd, shape, seed=0):
    """A max-pooled input and its indices (kernel 2), as NumPy arrays: what max_unpool inverts."""
    x = ember.tensor(np.random.default_rng(seed).standard_normal(shape))
    out, idx = getattr(F, f'max_pool{nd}d')(x, 2, return_indices=True)
    return out.numpy(), idx.numpy()


# ---- max_unpool ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('nd,shape', [(1, (2, 3, 8)), (2, (2, 3, 4, 6)), (3, (1, 2, 4, 4, 6)), (1, (3, 8)),
                                      (2, (3, 4, 6)), (3, (2, 4, 4, 6))])
def test_max_unpool_parity(nd, shape):
    v, i = _pooled(nd, shape)
    assert_parity(lambda lib, x, idx: getattr(lib.nn.functional, f'max_unpool{nd}d')(x, idx, 2), v, i)
    assert_parity(lambda lib, x, idx: getattr(lib.nn.functional, f'max_unpool{nd}d')(
        x, idx, 2, output_size=tuple(s + 1 for s in shape[-nd:])), v, i)
    gradcheck_op(lambda lib, x: getattr(lib.nn.functional, f'max_unpool{nd}d')(x, lib.tensor(i), 2), v)


def test_max_unpool_stride_padding_and_float32():
    v, i = _pooled(2, (1, 2, 6, 6))
    assert_parity(lambda lib, x, idx: lib.nn.functional.max_unpool2d(x, idx, 3, stride=2, padding=1,
                                                                      output_size=[1, 2, 6, 6]),
                  v.astype(np.float32), i)
    assert F.max_unpool2d(ember.tensor(v.astype(np.float32)), ember.tensor(i), 2).dtype is ember.float32
    y = F.max_unpool1d(ember.zeros(0, 2, 3), ember.zeros(0, 2, 3, dtype=ember.int64), 2)
    assert y.shape == (0, 2, 6)


def test_max_unpool_grad_fn_names():
    v, i = _pooled(2, (1, 2, 4, 4))
    x = ember.tensor(v, requires_grad=True)
    assert F.max_unpool2d(x, ember.tensor(i), 2).grad_fn.name() == 'MaxUnpool2DBackward0'
    v1, i1 = _pooled(1, (2, 3, 8))
    y = F.max_unpool1d(ember.tensor(v1, requires_grad=True), ember.tensor(i1), 2)
    assert y.grad_fn.name() == 'SqueezeBackward1'


@pytest.mark.parametrize('call,exc,msg', [
    (lambda x, i: F.max_unpool2d(x, i * 10, 2), RuntimeError, r'Found an invalid max index: \d+ \(output volumes are '
                                                               r'of size 4x4\)'),
    (lambda x, i: F.max_unpool2d(x, i[:, :1], 2), RuntimeError, r'Expected shape of indices to be same as that of the '
                                                                r'input tensor \(\[1, 2, 2, 2\]\)'),
    (lambda x, i: F.max_unpool2d(x, i.float(), 2), RuntimeError, 'elements in indices should be type int64 but got: '
                                                                 'Float'),
    (lambda x, i: F.max_unpool2d(x, i.int(), 2), RuntimeError, 'should be type int64 but got: Int'),
    (lambda x, i: F.max_unpool2d(x, i, 2, output_size=(9, 9)), ValueError, r'invalid output_size "\(9, 9\)" \(dim 0 '
                                                                           r'must be between 2 and 6\)'),
    (lambda x, i: F.max_unpool2d(x, i, 2, output_size=(1, 2, 3)), ValueError, 'output_size should be a sequence '
                                                                              'containing 2 or 4 elements'),
    (lambda x, i: F.max_unpool2d(x[0, 0], i[0, 0], 2), RuntimeError, 'Input to max_unpooling2d should be a 3d or 4d '
                                                                     'Tensor, but got a tensor with 2 dimensions'),
    (lambda x, i: F.max_unpool3d(x[0], i[0], 2), RuntimeError, 'Input to max_unpooling3d should be a 4d or 5d Tensor'),
    (lambda x, i: F.max_unpool2d(x.long(), i, 2), NotImplementedError, '"max_unpool2d" not implemented for \'Long\''),
    (lambda x, i: F.max_unpool2d(x, i, 2, padding=3), ValueError, r'output_size must contain non-negative spatial '
                                                                  r'dimensions, but got output_size\[0\]=-2'),
])
def test_max_unpool_errors(call, exc, msg):
    v, i = _pooled(2, (1, 2, 4, 4))
    with pytest.raises(exc, match=msg):
        call(ember.tensor(v), ember.tensor(i))


def test_max_unpool_layers():
    x = ember.tensor(np.random.default_rng(3).standard_normal((1, 2, 4, 6)))
    pool, unpool = ember.nn.MaxPool2d(2, return_indices=True), ember.nn.MaxUnpool2d(2)
    out, idx = pool(x)
    y = unpool(out, idx, output_size=x.shape)
    assert y.shape == x.shape and np.array_equal((y != 0).numpy().sum(), 12)
    assert repr(ember.nn.MaxUnpool1d(2)) == 'MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))'
    assert repr(ember.nn.MaxUnpool2d(2, stride=1)) == 'MaxUnpool2d(kernel_size=(2, 2), stride=(1, 1), padding=(0, 0))'
    assert repr(ember.nn.MaxUnpool3d(3, padding=1)) == ('MaxUnpool3d(kernel_size=(3, 3, 3), stride=(3, 3, 3), '
                                                        'padding=(1, 1, 1))')


# ---- adaptive_max_pool3d ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('shape,size', [((1, 2, 4, 4, 6), (2, 2, 3)), ((2, 3, 5, 7, 4), (3, None, 2)),
                                        ((3, 5, 7, 4), 3), ((1, 1, 3, 3, 3), (1, 1, 1))])
def test_adaptive_max_pool3d_parity(shape, size):
    x = np.random.default_rng(1).standard_normal(shape)
    assert_parity(lambda lib, t: lib.nn.functional.adaptive_max_pool3d(t, size, return_indices=True), x)
    assert_parity(lambda lib, t: lib.nn.functional.adaptive_max_pool3d(t, size), x.astype(np.float32), rtol=1e-6)
    gradcheck_op(lambda lib, t: lib.nn.functional.adaptive_max_pool3d(t, size), x)


def test_adaptive_max_pool3d_layer():
    x = ember.randn(1, 2, 4, 5, 6, requires_grad=True)
    m = ember.nn.AdaptiveMaxPool3d((2, None, 3), return_indices=True)
    out, idx = m(x)
    assert out.shape == (1, 2, 2, 5, 3) and idx.dtype is ember.int64
    assert F.adaptive_max_pool3d(x, 2).grad_fn.name() == 'AdaptiveMaxPool3DBackward0'
    assert repr(m) == 'AdaptiveMaxPool3d(output_size=(2, None, 3))'
    with pytest.raises(RuntimeError, match='Expected 4D or 5D'):
        F.adaptive_max_pool3d(ember.randn(2, 3, 4), 2)


# ---- grid_sample --------------------------------------------------------------------------------------------------

_GRID_CASES = [(nd, mode, pad, ac) for nd, mode, pad, ac in itertools.product(
    (2, 3), ('bilinear', 'nearest', 'bicubic'), ('zeros', 'border', 'reflection'), (False, True))
    if not (nd == 3 and mode == 'bicubic')]


@pytest.mark.parametrize('nd,mode,pad,ac', _GRID_CASES)
def test_grid_sample_parity(nd, mode, pad, ac):
    rng = np.random.default_rng(nd * 7 + len(mode) + len(pad) + ac)
    S, O = (3, 4, 5)[:nd], (2, 3, 2)[:nd]
    x = rng.standard_normal((2, 2) + S)
    g = rng.random((2,) + O + (nd,)) * 3.2 - 1.6       # reaches outside [-1, 1]: every padding rule is used
    fn = lambda lib, t, grid: lib.nn.functional.grid_sample(t, grid, mode, pad, ac)  # noqa: E731
    assert_parity(fn, x, g, rtol=1e-9, atol=1e-12)
    assert_parity(fn, x.astype(np.float32), g.astype(np.float32), rtol=1e-4, atol=1e-5)
    if mode != 'nearest':
        gradcheck_op(fn, x, g * 0.9)


@pytest.mark.parametrize('xs,gs', [((0, 3, 4, 5), (0, 2, 3, 2)), ((2, 0, 4, 5), (2, 2, 3, 2)),
                                   ((2, 3, 4, 5), (2, 0, 3, 2)), ((1, 2, 1, 1), (1, 3, 3, 2)),
                                   ((1, 2, 1, 4, 1), (1, 2, 2, 2, 3))])
def test_grid_sample_empty_and_single_pixel(xs, gs):
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal(xs), rng.random(gs) * 3 - 1.5
    for mode, pad, ac in itertools.product(('bilinear', 'nearest'), ('zeros', 'border', 'reflection'), (False, True)):
        assert_parity(lambda lib, t, grid: lib.nn.functional.grid_sample(t, grid, mode, pad, ac), x, g)


@needs_torch
def test_grid_sampler_entries_and_grad_fn():
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((1, 2, 3, 4)), rng.random((1, 2, 2, 2)) * 2 - 1
    for mode, pad in itertools.product(range(3), range(3)):
        t = torch.grid_sampler_2d(torch.tensor(x), torch.tensor(g), mode, pad, True).numpy()
        e = ember.grid_sampler_2d(ember.tensor(x), ember.tensor(g), mode, pad, True).numpy()
        np.testing.assert_allclose(e, t, rtol=1e-12, atol=1e-12)
        e = ember.grid_sampler(ember.tensor(x), ember.tensor(g), mode, pad, False).numpy()
        np.testing.assert_allclose(e, torch.grid_sampler(torch.tensor(x), torch.tensor(g), mode, pad, False).numpy(),
                                   rtol=1e-12, atol=1e-12)
    x5, g5 = rng.standard_normal((1, 2, 3, 4, 2)), rng.random((1, 2, 1, 2, 3)) * 2 - 1
    np.testing.assert_allclose(ember.grid_sampler_3d(ember.tensor(x5), ember.tensor(g5), 0, 2, False).numpy(),
                               torch.grid_sampler_3d(torch.tensor(x5), torch.tensor(g5), 0, 2, False).numpy())
    y = F.grid_sample(ember.tensor(x, requires_grad=True), ember.tensor(g), align_corners=False)
    assert y.grad_fn.name() == 'GridSampler2DBackward0'


def test_grid_sample_default_align_corners_warns():
    x, g = ember.randn(1, 1, 2, 2), ember.zeros(1, 1, 1, 2)
    with pytest.warns(UserWarning, match='Default grid_sample and affine_grid behavior has changed to '
                                         'align_corners=False since 1.3.0'):
        F.grid_sample(x, g)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        F.grid_sample(x, g, align_corners=True)


@pytest.mark.parametrize('call,exc,msg', [
    (lambda: F.grid_sample(ember.randn(2, 3, 4, 5), ember.rand(1, 6, 7, 2), align_corners=False), RuntimeError,
     r'grid_sampler\(\): expected grid and input to have same batch size, but got input with sizes \[2, 3, 4, 5\] '
     r'and grid with sizes \[1, 6, 7, 2\]'),
    (lambda: F.grid_sample(ember.randn(2, 3, 4, 5), ember.rand(2, 6, 7, 1), align_corners=False), RuntimeError,
     r'expected grid to have size 2 in last dimension, but got grid with sizes \[2, 6, 7, 1\]'),
    (lambda: F.grid_sample(ember.randn(2, 3, 4, 5, 6), ember.rand(2, 1, 2, 3, 3), 'bicubic', align_corners=False),
     RuntimeError, r'grid_sampler\(\): bicubic interpolation only supports 4D input'),
    (lambda: F.grid_sample(ember.randn(2, 3, 4, 5), ember.rand(2, 6, 7, 2).double(), align_corners=False),
     RuntimeError, 'expected scalar type Float but found Double'),
    (lambda: F.grid_sample(ember.randn(2, 3, 0, 5), ember.rand(2, 6, 7, 2), align_corners=False), RuntimeError,
     r'expected input to have non-empty spatial dimensions, but input has sizes \[2, 3, 0, 5\] with dimension 2 '
     r'being empty'),
    (lambda: F.grid_sample(ember.randn(2, 3, 4, 5), ember.rand(2, 6, 7, 2), 'area'), ValueError,
     r"expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'area'"),
    (lambda: F.grid_sample(ember.randn(2, 3, 4, 5), ember.rand(2, 6, 7, 2), padding_mode='wrap'), ValueError,
     r"expected padding_mode to be 'zeros', 'border', or 'reflection', but got: 'wrap'"),
    (lambda: ember.grid_sampler_2d(ember.randn(2, 3, 4, 5, 6), ember.rand(2, 1, 2, 3, 3), 0, 0, False), RuntimeError,
     r'expected 4D input and grid with same number of dimensions'),
    (lambda: ember.grid_sampler_3d(ember.randn(2, 3, 4, 5), ember.rand(2, 6, 7, 2), 0, 0, False), RuntimeError,
     r'expected 5D input and grid with same number of dimensions'),
])
def test_grid_sample_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# ---- affine_grid --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('size', [(2, 1, 3, 4), (2, 3, 1, 5), (1, 1, 2, 3, 4), (3, 2, 2, 1, 2)])
@pytest.mark.parametrize('ac', [False, True])
def test_affine_grid_and_spatial_transformer(size, ac):
    nd = len(size) - 2
    th = np.random.default_rng(len(size) + ac).standard_normal((size[0], nd, nd + 1))
    x = np.random.default_rng(9).standard_normal(size)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')          # unit-size grids with align_corners=True warn, as in PyTorch
        assert_parity(lambda lib, t: lib.nn.functional.affine_grid(t, size, align_corners=ac), th)
        assert_parity(lambda lib, t, v: lib.nn.functional.grid_sample(
            v, lib.nn.functional.affine_grid(t, size, align_corners=ac), align_corners=ac), th * 0.5, x)


def test_affine_grid_errors():
    with pytest.raises(ValueError, match=r'Expected a batch of 2D affine matrices of shape Nx2x3 for size \[2, 1, 3, '
                                         r'4\]'):
        F.affine_grid(ember.randn(2, 3, 3), (2, 1, 3, 4), align_corners=False)
    with pytest.raises(ValueError, match='Expected theta to have floating point type'):
        F.affine_grid(ember.zeros(2, 2, 3, dtype=ember.int64), (2, 1, 3, 4), align_corners=False)
    with pytest.raises(NotImplementedError, match='affine_grid only supports 4D and 5D sizes'):
        F.affine_grid(ember.randn(2, 2, 3), (2, 1, 3), align_corners=False)
    with pytest.raises(ValueError, match=r'Expected non-zero, positive output size. Got \[2, 1, 0, 4\]'):
        F.affine_grid(ember.randn(2, 2, 3), (2, 1, 0, 4), align_corners=False)
    with pytest.warns(UserWarning, match='Default grid_sample and affine_grid behavior has changed'):
        F.affine_grid(ember.randn(2, 2, 3), (2, 1, 3, 4))
    with pytest.warns(UserWarning, match='affine_grid behavior has changed for unit-size grids'):
        F.affine_grid(ember.randn(2, 2, 3), (2, 1, 1, 4), align_corners=True)


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic'])
def test_grid_sample_double_backward(mode):
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = ember.tensor(rng.random((1, 2, 3, 2)) * 2.4 - 1.2, requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda a, b: F.grid_sample(a, b, mode, 'reflection', align_corners=False),
                                        (x, g))
