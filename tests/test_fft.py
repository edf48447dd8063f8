"""ember.fft against torch.fft: values, dtypes and gradients of every transform and norm mode, errors, edge cases."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ember
from _parity import assert_parity, assert_both_raise, gradcheck_op

NORMS = (None, 'backward', 'ortho', 'forward')
C2C = ('fft', 'ifft', 'fftn', 'ifftn', 'fft2', 'ifft2')
R2C = ('rfft', 'ihfft', 'rfftn', 'ihfftn', 'rfft2', 'ihfft2')   # real input only
C2R = ('irfft', 'hfft', 'irfftn', 'hfftn', 'irfft2', 'hfft2')   # Hermitian half in, real out
ONE_D = ('fft', 'ifft', 'rfft', 'irfft', 'hfft', 'ihfft')
ALL = C2C + R2C + C2R


def _arrays(shape, cplx, seed=0):
    rng = np.random.default_rng(seed)
    re = rng.standard_normal(shape)
    return (re, rng.standard_normal(shape)) if cplx else (re,)


def _input(lib, arrays):
    return lib.complex(arrays[0], arrays[1]) if len(arrays) == 2 else arrays[0]


def _flat(lib, y):
    """A complex result as its (real, imag) pairs, so outputs and gradients compare as real tensors."""
    return lib.view_as_real(y.resolve_conj()) if y.is_complex() else y


def _call(name, kw):
    return lambda lib, *arrays: _flat(lib, getattr(lib.fft, name)(_input(lib, arrays), **kw))


def _kwargs(name):
    """n/s, dim and norm combinations: growing, shrinking and default sizes, every norm mode."""
    if name in ONE_D:
        return [dict(norm=n) for n in NORMS] + [dict(n=9, dim=1, norm='ortho'), dict(n=3, dim=0), dict(dim=-2),
                                                dict(n=2, norm='forward')]
    if name.endswith('2'):
        return [dict(norm=n) for n in NORMS] + [dict(s=(3, 8), norm='ortho'), dict(s=(5, -1), dim=(0, 2)),
                                                dict(dim=(2, 0), norm='forward')]
    return [dict(norm=n) for n in NORMS] + [dict(s=(3, 8), dim=(1, 2), norm='ortho'), dict(s=(7,)),
                                            dict(dim=(0, -1), norm='forward'), dict(dim=(2, 0)), dict(dim=1),
                                            dict(s=(2, 3, 4), norm='backward')]


CASES = [(name, kw) for name in ALL for kw in _kwargs(name)]


@pytest.mark.parametrize('name,kw', CASES, ids=[f'{n}-{i}' for i, (n, _) in enumerate(CASES)])
def test_parity_and_gradients(name, kw):
    """Values and float64 gradients equal PyTorch's, for real input and (where allowed) complex input."""
    for cplx in (False,) if name in R2C else (False, True):
        assert_parity(_call(name, kw), *_arrays((2, 3, 4), cplx), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('norm', NORMS)
def test_gradcheck(name, norm):
    """Finite differences pin each adjoint, through a resize (n/s different from the input's size) too."""
    kw = dict(norm=norm)
    if norm == 'ortho':
        kw.update(n=5) if name in ONE_D else kw.update(s=(3, 5))
    for cplx in (False,) if name in R2C else (False, True):
        gradcheck_op(_call(name, kw), *_arrays((3, 4), cplx, seed=1))


@pytest.mark.parametrize('name', ('fft', 'rfft', 'irfft', 'hfft', 'ihfft', 'ifftn', 'irfftn', 'hfftn'))
def test_second_derivative(name):
    """The backward ops are recorded too: gradients of gradients (through a nonlinearity) are exact."""
    cplx = name not in R2C
    leaves = [ember.tensor(a, requires_grad=True) for a in _arrays((3, 4), cplx, seed=2)]

    def f(*ts):
        y = _flat(ember, getattr(ember.fft, name)(_input(ember, ts), norm='ortho'))
        return (y * y).sum()
    assert ember.autograd.gradgradcheck(f, tuple(leaves))


@pytest.mark.parametrize('name', ALL)
def test_float32_stays_single(name):
    x = ember.randn(4, 6)
    y = getattr(ember.fft, name)(x)
    want = {'fft': 'complex64', 'ifft': 'complex64', 'rfft': 'complex64', 'ihfft': 'complex64'}
    kind = 'complex64' if name in C2C + R2C else 'float32'
    assert y.dtype.name == want.get(name, kind)
    if name not in R2C:
        z = getattr(ember.fft, name)(x.to(ember.complex64))
        assert z.dtype.name == kind


@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('dtype', ('int64', 'uint8', 'bool'))
def test_integer_and_bool_inputs(name, dtype):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    assert_parity(lambda lib, x: _flat(lib, getattr(lib.fft, name)(x)), a, grad=False, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('name', ALL)
def test_non_contiguous_input(name):
    """Transposed and strided inputs (values as a contiguous copy would give, gradients in their layout)."""
    for cplx in (False,) if name in R2C else (False, True):
        arrays = _arrays((6, 10), cplx, seed=3)

        def fn(lib, *ts):
            ts = [t.t()[::2] for t in ts]
            return _flat(lib, getattr(lib.fft, name)(_input(lib, ts)))
        assert_parity(fn, *arrays, rtol=1e-9, atol=1e-10)


def test_zero_dim_and_empty():
    for name in ('fftn', 'ifftn'):
        y = getattr(ember.fft, name)(ember.tensor(2.5))
        assert y.shape == () and y.dtype == ember.complex64 and complex(y.item()) == 2.5
    y = ember.fft.fftn(ember.zeros(3, 4), dim=())
    assert y.shape == (3, 4) and y.dtype == ember.complex64
    assert ember.fft.fft(ember.zeros(0, 4)).shape == (0, 4)
    for name in ONE_D:
        with pytest.raises(IndexError, match='Dimension specified as -1 but tensor has no dimensions'):
            getattr(ember.fft, name)(ember.tensor(1.0))
    with pytest.raises(RuntimeError, match=r'Invalid number of data points \(0\) specified'):
        ember.fft.fft(ember.zeros(0))
    with pytest.raises(RuntimeError, match='rfftn must transform at least one axis'):
        ember.fft.rfftn(ember.zeros(3), dim=())
    # one-element Hermitian halves default to n = 0 points
    with pytest.raises(RuntimeError, match=r'Invalid number of data points \(0\) specified'):
        ember.fft.irfft(ember.zeros(1))


@pytest.mark.parametrize('call,exc,msg', [
    (lambda F, x: F.fft(x, norm='bad'), RuntimeError, 'Invalid normalization mode: "bad"'),
    (lambda F, x: F.irfftn(x, norm='Ortho'), RuntimeError, 'Invalid normalization mode: "Ortho"'),
    (lambda F, x: F.fft(x, n=0), RuntimeError, r'Invalid number of data points \(0\) specified'),
    (lambda F, x: F.rfft(x, n=-3), RuntimeError, r'Invalid number of data points \(-3\) specified'),
    (lambda F, x: F.fft(x, n=-1), RuntimeError, r'Invalid number of data points \(-1\) specified'),
    (lambda F, x: F.hfftn(x[:, :0]), RuntimeError, r'Invalid number of data points \(0\) specified'),
    (lambda F, x: F.ihfft2(F.fft(x), norm='bad'), RuntimeError, 'Invalid normalization mode: "bad"'),
    (lambda F, x: F.ihfftn(F.fft(x), dim=()), RuntimeError, 'ihfftn must transform at least one axis'),
    (lambda F, x: F.fft2(x.sum()), IndexError, 'Dimension specified as -2 but tensor has no dimensions'),
    (lambda F, x: F.irfft(x, n=0), RuntimeError, r'Invalid number of data points \(0\) specified'),
    (lambda F, x: F.fft(x, dim=2), IndexError, r'Dimension out of range \(expected to be in range of \[-2, 1\], '
                                               r'but got 2\)'),
    (lambda F, x: F.fftn(x, dim=(0, 0)), RuntimeError, 'FFT dims must be unique'),
    (lambda F, x: F.fftn(x, dim=(0, -2)), RuntimeError, 'FFT dims must be unique'),
    (lambda F, x: F.fftn(x, s=(2,), dim=(0, 1)), RuntimeError, 'When given, dim and shape arguments must have the '
                                                               'same length'),
    (lambda F, x: F.rfftn(x, s=(2, 2, 2)), RuntimeError, 'Got shape with 3 values but input tensor only has 2 '
                                                         'dimensions.'),
    (lambda F, x: F.fft2(x[0]), IndexError, 'Dimension out of range'),
    (lambda F, x: F.rfft(F.fft(x)), RuntimeError, 'rfft expects a real input tensor, but got ComplexFloat'),
    (lambda F, x: F.ihfftn(F.fft(x)), RuntimeError, 'Only supports floating-point dtypes, but found: ComplexFloat'),
    (lambda F, x: F.rfft2(F.fft(x)), RuntimeError, 'rfftn expects a real-valued input tensor, but got ComplexFloat'),
    (lambda F, x: F.irfft2(x, dim=()), RuntimeError, 'irfftn must transform at least one axis'),
    (lambda F, x: F.hfftn(x, dim=()), RuntimeError, 'hfftn must transform at least one axis'),
    (lambda F, x: F.fftfreq(3, dtype=x.long().dtype), RuntimeError, 'fftfreq requires a floating point or complex '
                                                                    'dtype'),
])
def test_errors(call, exc, msg):
    """PyTorch's exception types and messages (checked against PyTorch itself when it is installed)."""
    assert_both_raise(lambda L: call(L.fft, L.ones(3, 4)), exc, match=msg)


def test_half_input_refused():
    with pytest.raises(RuntimeError, match='Unsupported dtype Half'):
        ember.fft.fft(ember.ones(4, dtype=ember.float16))


def test_out():
    x = ember.randn(3, 8)
    out = ember.empty(0, dtype=ember.complex64)
    r = ember.fft.rfft(x, out=out)
    assert r is out and out.shape == (3, 5)
    np.testing.assert_allclose(out.numpy(), ember.fft.rfft(x).numpy())
    with pytest.raises(RuntimeError, match="result type ComplexFloat can't be cast to the desired output type Float"):
        ember.fft.fft(x, out=ember.empty(3, 8))
    out = ember.empty(3, 14)
    ember.fft.irfft(ember.fft.rfft(x), n=14, out=out)
    np.testing.assert_allclose(out.numpy(), ember.fft.irfft(ember.fft.rfft(x), n=14).numpy())
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        ember.fft.fft(x.requires_grad_(), out=ember.empty(3, 8, dtype=ember.complex64))
    f = ember.fft.fftfreq(5, out=ember.empty(0, dtype=ember.float64))
    assert f.dtype == ember.float64 and f.shape == (5,)


def test_round_trips():
    x = ember.randn(4, 7, dtype=ember.float64)
    for norm in NORMS:
        np.testing.assert_allclose(ember.fft.irfft(ember.fft.rfft(x, norm=norm), n=7, norm=norm).numpy(), x.numpy(),
                                   atol=1e-12)
        np.testing.assert_allclose(ember.fft.hfft(ember.fft.ihfft(x, norm=norm), n=7, norm=norm).numpy(), x.numpy(),
                                   atol=1e-12)
        np.testing.assert_allclose(ember.fft.ifftn(ember.fft.fftn(x, norm=norm), norm=norm).real.numpy(),
                                   x.numpy(), atol=1e-12)


def test_grad_fn_names():
    x = ember.randn(4, 6, requires_grad=True)
    assert type(ember.fft.rfft(x).grad_fn).__name__ == 'Node'
    assert ember.fft.rfft(x).grad_fn.name() == 'FftR2CBackward0'
    assert ember.fft.fft(x.to(ember.complex64)).grad_fn.name() == 'FftC2CBackward0'
    assert ember.fft.irfft(x.to(ember.complex64)).grad_fn.name() == 'FftC2RBackward0'


# ---- shifts and frequencies --------------------------------------------------------------------------------------
@pytest.mark.parametrize('dim', (None, 0, -1, (0, 2), [1]))
@pytest.mark.parametrize('name', ('fftshift', 'ifftshift'))
def test_shifts(name, dim):
    def fn(lib, x):
        return getattr(lib.fft, name)(x, dim=dim)
    assert_parity(fn, np.random.default_rng(4).standard_normal((4, 5, 3)))
    assert_parity(fn, np.arange(60).reshape(4, 5, 3), grad=False)


def test_shift_of_zero_dim_tensor():
    with pytest.raises(RuntimeError, match='`shifts` required'):
        ember.fft.fftshift(ember.tensor(1.0))


@pytest.mark.parametrize('n', (0, 1, 4, 7))
@pytest.mark.parametrize('d', (1.0, 0.3, 0.0))
@pytest.mark.parametrize('dtype', (None, 'float64'))
def test_frequencies(n, d, dtype):
    for name in ('fftfreq', 'rfftfreq'):
        assert_parity(lambda lib: getattr(lib.fft, name)(n, d, dtype=getattr(lib, dtype) if dtype else None),
                      grad=False, rtol=0, atol=0)
    f = ember.fft.fftfreq(n, d, requires_grad=True)
    assert f.requires_grad and f.is_leaf


def test_torch_alias_imports_fft(tmp_path):
    """`import torch.fft` and `torch.fft.fft` under the alias are ember's."""
    script = tmp_path / 'uses_fft.py'
    script.write_text('import torch\nimport torch.fft\nfrom torch.fft import rfft, fftfreq\n'
                      'print(torch.__name__, torch.fft.fft.__module__, rfft.__module__, fftfreq(4).tolist())\n')
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ['ember', 'ember.fft', 'ember.fft', '[0.0,', '0.25,', '-0.5,', '-0.25]']


def test_warning_free():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ember.fft.irfftn(ember.fft.rfftn(ember.randn(3, 4, 5)), s=(4, 5))
