"""Convolutions, transposed convolutions, unfold/fold, padding and interpolation: PyTorch parity, gradcheck, errors."""
import math

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from _parity import torch, Rnd, assert_parity
from conftest import needs_torch, t64


rnd = Rnd(0)
# forward values and every input's gradient against PyTorch's; the inputs (up to 40x3x30x30) are too large to record
TOL = dict(rtol=1e-9, atol=1e-10, golden=False)


# ---- conv parity ------------------------------------------------------------------------------------------------

CONV2D_CASES = [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=1),
    dict(stride=1, padding='same', dilation=1, groups=1),
    dict(stride=1, padding='same', dilation=2, groups=2),
    dict(stride=1, padding='valid', dilation=1, groups=4),
    dict(stride=3, padding=2, dilation=2, groups=2),
]


@needs_torch
@pytest.mark.parametrize('kw', CONV2D_CASES)
@pytest.mark.parametrize('bias', [True, False])
def test_conv2d_parity(kw, bias):
    g = kw['groups']
    assert_parity(lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, **kw), rnd(3, 4, 9, 8), rnd(8, 4 // g, 3, 2),
                  rnd(8) if bias else None, **TOL)


@needs_torch
@pytest.mark.parametrize('shape', [(40, 3, 30, 30), (1, 3, 12, 12), (5, 2, 6, 40), (3, 10, 10)])
def test_conv2d_parity_layouts(shape):
    # batch-last and batch-middle patch layouts, a single sample and an unbatched input
    C = shape[-3]
    assert_parity(lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, padding=2), rnd(*shape), rnd(4, C, 5, 5), rnd(4),
                  **TOL)


@needs_torch
@pytest.mark.parametrize('kw', [dict(stride=2, padding=1), dict(padding='same', dilation=3), dict(groups=2),
                                dict(stride=3, dilation=2, padding=4)])
def test_conv1d_parity(kw):
    g = kw.get('groups', 1)
    assert_parity(lambda L, x, w, b: L.nn.functional.conv1d(x, w, b, **kw), rnd(3, 4, 17), rnd(6, 4 // g, 4), rnd(6),
                  **TOL)


@needs_torch
def test_conv3d_parity():
    kw = dict(stride=(1, 2, 1), padding=1, dilation=(2, 1, 1))
    assert_parity(lambda L, x, w, b: L.nn.functional.conv3d(x, w, b, **kw), rnd(2, 2, 6, 7, 5), rnd(3, 2, 2, 3, 2),
                  rnd(3), **TOL)


@needs_torch
@pytest.mark.parametrize('kw', [dict(), dict(stride=2, padding=1, output_padding=1),
                                dict(stride=3, padding=2, output_padding=1, dilation=2, groups=2),
                                dict(stride=2, groups=2), dict(stride=1, padding=1, dilation=2),
                                dict(stride=1, output_padding=1, dilation=2)])
def test_conv_transpose2d_parity(kw):
    g = kw.get('groups', 1)
    assert_parity(lambda L, x, w, b: L.nn.functional.conv_transpose2d(x, w, b, **kw), rnd(2, 4, 5, 6),
                  rnd(4, 6 // g, 3, 2), rnd(6), **TOL)


@needs_torch
def test_conv_transpose1d_parity():
    kw = dict(stride=2, padding=1, output_padding=1)
    assert_parity(lambda L, x, w, b: L.nn.functional.conv_transpose1d(x, w, b, **kw), rnd(2, 4, 7), rnd(4, 3, 3),
                  rnd(3), **TOL)


@needs_torch
def test_conv2d_float32_matches():
    x, w = rnd(8, 3, 16, 16, dtype=np.float32), rnd(5, 3, 3, 3, dtype=np.float32)
    assert F.conv2d(ember.tensor(x), ember.tensor(w), padding=1).dtype == ember.float32
    assert_parity(lambda L, x, w: L.nn.functional.conv2d(x, w, padding=1), x, w, grad=False, atol=1e-4, rtol=1e-4,
                  golden=False)


# ---- gradcheck and double backward -------------------------------------------------------------------------------

@pytest.mark.parametrize('kw', [dict(), dict(stride=2, padding=1), dict(padding='same', dilation=2, groups=2)])
def test_conv2d_gradcheck(kw):
    x, w, b = t64(2, 2, 5, 4), t64(2, 2 // kw.get('groups', 1), 3, 2), t64(2)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


def test_conv1d_gradcheck():
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), (t64(2, 2, 7), t64(3, 2, 3), t64(3)))


def test_conv_transpose2d_gradcheck():
    fn = lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)  # noqa: E731
    assert gradcheck(fn, (t64(2, 2, 3, 3), t64(2, 3, 3, 2), t64(3)))


def test_conv2d_double_backward():
    x, w = t64(1, 2, 4, 4), t64(2, 2, 2, 2)
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), (x, w))


def test_conv_transpose2d_double_backward():
    x, w = t64(1, 2, 3, 3), t64(2, 1, 2, 2)
    assert gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, stride=2, groups=2), (x, w))


@needs_torch
def test_conv2d_second_derivative_parity():
    def fn(L, x, w):
        gx, gw = L.autograd.grad(L.nn.functional.conv2d(x, w, padding=1).pow(2).sum(), (x, w), create_graph=True)
        return gx.pow(2).sum() + gw.sum()  # (its gradient is the second derivative)
    assert_parity(fn, rnd(2, 3, 6, 6), rnd(4, 3, 3, 3), atol=1e-9, rtol=1e-9, golden=False)


def test_conv_grad_is_recorded_ops():
    x, w = t64(1, 2, 4, 4), t64(3, 2, 3, 3)
    y = F.conv2d(x, w, padding=1)
    assert y.grad_fn.name() == 'ConvolutionBackward0'
    gx, gw = ember.autograd.grad(y.sum(), (x, w), create_graph=True)
    assert gx.grad_fn is not None and gw.grad_fn is not None


# ---- unfold / fold ----------------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('kw', [dict(kernel_size=2),
                                dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))])
def test_unfold_fold_parity(kw):
    assert_parity(lambda L, x: L.nn.functional.unfold(x, **kw), rnd(2, 3, 7, 8), **TOL)
    n_blocks = torch.nn.functional.unfold(torch.zeros(2, 3, 7, 8), **kw).shape[-1]
    K = math.prod(kw['kernel_size']) if isinstance(kw['kernel_size'], tuple) else kw['kernel_size'] ** 2
    assert_parity(lambda L, x: L.nn.functional.fold(x, (7, 8), **kw), rnd(2, 3 * K, n_blocks), **TOL)


def test_unfold_fold_gradcheck():
    assert gradcheck(lambda x: F.unfold(x, 2, padding=1, stride=2), (t64(1, 2, 3, 4),))
    assert gradcheck(lambda x: F.fold(x, (3, 4), 2, padding=1, stride=1), (t64(1, 8, 20),))


def test_fold_of_unfold_counts_overlaps():
    x = ember.ones(1, 1, 4, 4)
    y = F.fold(F.unfold(x, 2), (4, 4), 2)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])


# ---- pad --------------------------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('mode', ['constant', 'reflect', 'replicate', 'circular'])
@pytest.mark.parametrize('pad', [(1, 2), (1, 2, 2, 0), (0, 1, 2, 1, 1, 1)])
def test_pad_parity(mode, pad):
    shape = {2: (2, 3, 6), 4: (2, 3, 5, 6), 6: (2, 3, 4, 5, 6)}[len(pad)]
    assert_parity(lambda L, x: L.nn.functional.pad(x, pad, mode), rnd(*shape), **TOL)


@needs_torch
def test_pad_constant_value_and_negative():
    pad = (-1, 2, 2, -2)
    assert_parity(lambda L, x: L.nn.functional.pad(x, pad, value=3.5), rnd(2, 3, 5, 6), **TOL)


def test_pad_gradcheck():
    for mode in ('constant', 'reflect', 'replicate', 'circular'):
        assert gradcheck(lambda x: F.pad(x, (2, 1, 1, 2), mode), (t64(1, 1, 3, 3),))


def test_pad_double_backward():
    assert gradgradcheck(lambda x: F.pad(x, (1, -1, 2, 0)) * 1.0, (t64(1, 2, 3, 3),))


def test_pad_errors():
    x = ember.zeros(2, 3, 4, 4)
    with pytest.raises(RuntimeError, match='divisible by 2'):
        F.pad(x, (1, 2, 3))
    with pytest.raises(RuntimeError, match='less than the corresponding input dimension'):
        F.pad(x, (4, 4, 0, 0), mode='reflect')
    with pytest.raises(NotImplementedError, match='Padding size 2 is not supported for 4D'):
        F.pad(x, (1, 1), mode='replicate')
    with pytest.raises(RuntimeError, match="doesn't take in value"):
        F.pad(x, (1, 1), mode='reflect', value=1.0)


# ---- interpolate ------------------------------------------------------------------------------------------------

INTERP = [('nearest', None), ('nearest-exact', None), ('bilinear', False), ('bilinear', True), ('bicubic', False),
          ('bicubic', True), ('area', None)]


@needs_torch
@pytest.mark.parametrize('mode,ac', INTERP)
@pytest.mark.parametrize('kw', [dict(scale_factor=2), dict(size=(5, 7)), dict(scale_factor=1.7), dict(size=(13, 4))])
def test_interpolate_parity(mode, ac, kw):
    assert_parity(lambda L, x: L.nn.functional.interpolate(x, mode=mode, align_corners=ac, **kw), rnd(2, 3, 6, 5),
                  **TOL)


@needs_torch
@pytest.mark.parametrize('mode,shape', [('linear', (2, 3, 6)), ('nearest', (2, 3, 5)), ('trilinear', (1, 2, 3, 4, 5)),
                                        ('nearest', (1, 2, 3, 4, 5))])
def test_interpolate_other_dims(mode, shape):
    ac = False if mode in ('linear', 'trilinear') else None
    assert_parity(lambda L, x: L.nn.functional.interpolate(x, scale_factor=2.5, mode=mode, align_corners=ac),
                  rnd(*shape), **TOL)


def test_interpolate_gradcheck():
    assert gradcheck(lambda x: F.interpolate(x, size=(4, 5), mode='bilinear', align_corners=False), (t64(1, 1, 3, 3),))
    assert gradcheck(lambda x: F.interpolate(x, scale_factor=2, mode='nearest'), (t64(1, 2, 2, 3),))


def test_interpolate_errors():
    x = ember.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match='only one of size or scale_factor'):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match='either size or scale_factor'):
        F.interpolate(x)
    with pytest.raises(ValueError, match='align_corners option can only be set'):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match='linear mode needs 3D input'):
        F.interpolate(x, scale_factor=2, mode='linear')


def test_pixel_shuffle_roundtrip():
    x = t64(2, 8, 3, 4)
    y = F.pixel_shuffle(x, 2)
    assert tuple(y.shape) == (2, 2, 6, 8)
    np.testing.assert_array_equal(F.pixel_unshuffle(y, 2).detach().numpy(), x.detach().numpy())
    assert_parity(lambda L, a: L.nn.functional.pixel_shuffle(a, 2), x.detach().numpy(), grad=False, rtol=0, atol=0)


# ---- modules ----------------------------------------------------------------------------------------------------

@needs_torch
def test_module_reprs_match_pytorch():
    tnn = torch.nn
    pairs = [
        (nn.Conv2d(1, 6, 5), tnn.Conv2d(1, 6, 5)),
        (nn.Conv2d(1, 6, 5, padding='same', bias=False, padding_mode='reflect', dilation=2),
         tnn.Conv2d(1, 6, 5, padding='same', bias=False, padding_mode='reflect', dilation=2)),
        (nn.Conv1d(2, 4, 4, stride=2, padding=1, groups=2), tnn.Conv1d(2, 4, 4, stride=2, padding=1, groups=2)),
        (nn.Conv3d(2, 3, (1, 2, 3)), tnn.Conv3d(2, 3, (1, 2, 3))),
        (nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1), tnn.ConvTranspose2d(4, 6, 3, stride=2,
                                                                                       output_padding=1)),
        (nn.ConvTranspose1d(4, 6, 3), tnn.ConvTranspose1d(4, 6, 3)),
        (nn.Unfold(3), tnn.Unfold(3)), (nn.Fold((4, 5), 2), tnn.Fold((4, 5), 2)),
        (nn.ZeroPad2d(2), tnn.ZeroPad2d(2)), (nn.ReflectionPad2d((1, 2, 3, 4)), tnn.ReflectionPad2d((1, 2, 3, 4))),
        (nn.ConstantPad1d(2, 3.5), tnn.ConstantPad1d(2, 3.5)), (nn.ReplicationPad1d(1), tnn.ReplicationPad1d(1)),
        (nn.Upsample(scale_factor=2, mode='bilinear'), tnn.Upsample(scale_factor=2, mode='bilinear')),
        (nn.Upsample(size=4), tnn.Upsample(size=4)),
        (nn.UpsamplingNearest2d(scale_factor=2), tnn.UpsamplingNearest2d(scale_factor=2)),
        (nn.UpsamplingBilinear2d(size=5), tnn.UpsamplingBilinear2d(size=5)),
        (nn.PixelShuffle(2), tnn.PixelShuffle(2)),
    ]
    for a, b in pairs:
        assert repr(a) == repr(b)


def test_conv_default_init_and_reset():
    ember.manual_seed(0)
    m = nn.Conv2d(3, 8, 5)
    bound = 1 / math.sqrt(3 * 25)
    assert tuple(m.weight.shape) == (8, 3, 5, 5) and tuple(m.bias.shape) == (8,)
    for p in (m.weight, m.bias):
        a = p.detach().numpy()
        assert a.min() >= -bound and a.max() <= bound and a.std() > bound / 3
    before = m.weight.detach().numpy().copy()
    m.reset_parameters()
    assert not np.array_equal(before, m.weight.detach().numpy())
    t = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert tuple(t.weight.shape) == (4, 3, 3, 3)
    assert np.abs(t.weight.detach().numpy()).max() <= 1 / math.sqrt(3 * 9)


@needs_torch
@pytest.mark.parametrize('mode', ['zeros', 'reflect', 'replicate', 'circular'])
def test_conv_module_parity(mode):
    tm = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double()
    em = nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode).double()
    with ember.no_grad():
        em.weight.copy_(ember.tensor(tm.weight.detach().numpy()))
        em.bias.copy_(ember.tensor(tm.bias.detach().numpy()))
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5))
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = em(xe), tm(xt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-10)
    ye.pow(2).sum().backward()
    yt.pow(2).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), atol=1e-10)


@needs_torch
def test_conv_transpose_module_output_size():
    tm = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    em = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    with ember.no_grad():
        em.weight.copy_(ember.tensor(tm.weight.detach().numpy()))
        em.bias.copy_(ember.tensor(tm.bias.detach().numpy()))
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    ye, yt = em(ember.tensor(x), output_size=[8, 8]), tm(torch.tensor(x), output_size=[8, 8])
    assert tuple(ye.shape) == (1, 3, 8, 8)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-10)
    with pytest.raises(ValueError, match='valid sizes range from'):
        em(ember.tensor(x), output_size=[10, 10])


# ---- errors -----------------------------------------------------------------------------------------------------

def test_conv_module_names_itself_on_wrong_input():
    m = nn.Conv2d(1, 6, 5)
    with pytest.raises(RuntimeError) as e:
        m(ember.zeros(64, 3, 28, 28))
    assert str(e.value) == ('Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1)) got input of shape (64, 3, 28, 28): '
                            'expected 1 input channels')
    with pytest.raises(RuntimeError, match=r'Conv2d\(1, 6.*got input of shape \(28, 28\): expected 3-D'):
        m(ember.zeros(28, 28))
    with pytest.raises(RuntimeError, match=r'spatial size \(3, 3\).*smaller than the \(dilated\) kernel \(5, 5\)'):
        m(ember.zeros(2, 1, 3, 3))
    with pytest.raises(RuntimeError, match='got input of dtype float64 but its weight is float32'):
        m(ember.zeros(2, 1, 8, 8, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r'Conv1d\(4, 2, kernel_size=\(3,\), stride=\(1,\)\) got input of shape '
                                           r'\(2, 3, 9\): expected 4 input channels'):
        nn.Conv1d(4, 2, 3)(ember.zeros(2, 3, 9))


def test_conv_functional_errors_match_pytorch():
    x = ember.zeros(2, 3, 8, 8)
    with pytest.raises(RuntimeError, match=r'Given groups=1, weight of size \[6, 1, 5, 5\], expected '
                                           r'input\[2, 3, 8, 8\] to have 1 channels, but got 3 channels instead'):
        F.conv2d(x, ember.zeros(6, 1, 5, 5))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        F.conv2d(x, ember.zeros(6, 3, 9, 9))
    with pytest.raises(RuntimeError, match='expected scalar type'):
        F.conv2d(x.double(), ember.zeros(6, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r'Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d'):
        F.conv2d(ember.zeros(8, 8), ember.zeros(6, 3, 3, 3))
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, ember.zeros(6, 3, 3, 3), padding='same', stride=2)
    with pytest.raises(RuntimeError, match='Invalid padding string'):
        F.conv2d(x, ember.zeros(6, 3, 3, 3), padding='full')
    with pytest.raises(RuntimeError, match='expected bias to be 1-dimensional with 6 elements'):
        F.conv2d(x, ember.zeros(6, 3, 3, 3), ember.zeros(5))
    with pytest.raises(RuntimeError, match='output padding must be smaller than either stride or dilation'):
        F.conv_transpose2d(x, ember.zeros(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match=r'Given transposed=1, weight of size \[4, 2, 3, 3\]'):
        F.conv_transpose2d(x, ember.zeros(4, 2, 3, 3))


def test_conv_module_constructor_errors():
    with pytest.raises(ValueError, match='in_channels must be divisible by groups'):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match='padding_mode must be one of'):
        nn.Conv2d(3, 6, 3, padding_mode='mirror')
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 6, 3, padding='same', stride=2)
    with pytest.raises(ValueError, match='Invalid padding string'):
        nn.Conv2d(3, 6, 3, padding='full')


def test_unfold_fold_errors():
    with pytest.raises(RuntimeError, match='divisible by the product of kernel_size'):
        F.fold(ember.zeros(2, 28, 36), (8, 8), 3)
    with pytest.raises(RuntimeError, match='calculated number of sliding blocks 6 \\* 6 = 36'):
        F.fold(ember.zeros(2, 27, 30), (8, 8), 3)
    with pytest.raises(NotImplementedError, match='Only 3D or 4D input'):
        F.unfold(ember.zeros(3, 4), 2)


def test_lenet_like_trains():
    ember.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    x = ember.randn(16, 1, 10, 10)
    y = (x.mean((1, 2, 3)) > 0).long()
    opt = ember.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]  # PyTorch, from the same seeded weights and data: 0.658 -> 0.110


@needs_torch
@pytest.mark.parametrize('needs', [(True, False, False), (False, True, False), (False, False, True),
                                   (True, False, True)])
def test_conv_partial_requires_grad(needs):
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(s) for s in ((3, 4, 7, 7), (5, 4, 3, 3), (5,))]
    e = [ember.tensor(a, requires_grad=r) for a, r in zip(arrs, needs)]
    t = [torch.tensor(a, requires_grad=r) for a, r in zip(arrs, needs)]
    F.conv2d(*e, stride=2, padding=1).pow(2).sum().backward()
    torch.nn.functional.conv2d(*t, stride=2, padding=1).pow(2).sum().backward()
    for a, b, r in zip(e, t, needs):
        assert (a.grad is None) == (not r)
        if r:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-10)


def test_conv_backward_twice_with_retain_graph():
    x, w = t64(2, 3, 6, 6), t64(4, 3, 3, 3)
    y = F.conv2d(x, w, padding=1).sum()
    y.backward(retain_graph=True)
    g1 = w.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * g1)
