"""ember.fft: PyTorch's torch.fft namespace: argument rules here, the transforms and their gradients in ops/fft.py."""
import builtins
import warnings

from ._dtype import _FROM_NP, get_default_dtype, to_dtype, SCALAR_NAMES
from ._creation import _finish, _on
from .backends import get_device
from .autograd.grad_mode import _State
from .ops.conv import pad_constant
from .ops.fft import fft_c2c, fft_r2c, fft_c2r
from .ops.shape import roll
from .ops._util import Tensor, norm_dim

__all__ = ['fft', 'ifft', 'fft2', 'ifft2', 'fftn', 'ifftn', 'rfft', 'irfft', 'rfft2', 'irfft2', 'rfftn', 'irfftn',
           'hfft', 'ihfft', 'hfft2', 'ihfft2', 'hfftn', 'ihfftn', 'fftshift', 'ifftshift', 'fftfreq', 'rfftfreq']

# norm= as a scale for a transform in the forward (e^-) direction and in the inverse one
_SCALE = {True: {None: 'none', 'backward': 'none', 'ortho': 'sqrt', 'forward': 'n'},
          False: {None: 'n', 'backward': 'n', 'ortho': 'sqrt', 'forward': 'none'}}


# ---- argument rules ----------------------------------------------------------------------------------------------
def _scale(norm, forward):
    try:
        return _SCALE[forward][norm]
    except (KeyError, TypeError):
        raise RuntimeError(f'Invalid normalization mode: "{norm}"') from None


def _floating(x, name, real_only=False, check_dtype=True):
    """The tensor a transform works on: integers and bool become the default float dtype, as in PyTorch."""
    if not isinstance(x, Tensor):
        raise TypeError(f"fft_{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    if not check_dtype:
        return x
    kind, dname = x._data.dtype.kind, x._data.dtype.name
    if kind == 'c' and real_only:
        got = SCALAR_NAMES.get(dname, dname)
        raise RuntimeError(f'{name} expects a real input tensor, but got {got}' if name in ('rfft', 'ihfft') else
                           f'rfftn expects a real-valued input tensor, but got {got}' if name == 'rfftn' else
                           f'Only supports floating-point dtypes, but found: {got}')
    if kind in 'biu':
        return x.to(get_default_dtype())
    if dname not in ('float32', 'float64', 'complex64', 'complex128'):
        raise RuntimeError(f'Unsupported dtype {SCALAR_NAMES.get(dname, dname)}')
    return x


def _complex(x):
    """x as a complex tensor (real input gets zero imaginary parts; its gradient is the real part)."""
    if x._data.dtype.kind == 'c':
        return x
    return x.to(_FROM_NP[x._device.xp.dtype('complex64' if x._data.dtype.itemsize == 4 else 'complex128')])


def _points(n):
    if n < 1:
        raise RuntimeError(f'Invalid number of data points ({n}) specified')
    return n


def _one_dim(x, n, dim, c2r=False):
    """(dims, sizes) of a 1-D transform: n defaults to the dim's size (2*(size-1) for a Hermitian input)."""
    if x.ndim == 0:
        raise IndexError(f'Dimension specified as {dim} but tensor has no dimensions')
    d = norm_dim(dim, x.ndim)
    if n is None:
        n = 2 * (x.shape[d] - 1) if c2r else x.shape[d]
    return (d,), (_points(int(n)),)


def _many_dims(x, s, dim, c2r=False):
    """(dims, sizes) of an n-D transform from s= and dim=, with PyTorch's checks (s entries of -1 keep the size)."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if x.ndim == 0 and dims:
            raise IndexError(f'Dimension specified as {dims[0]} but tensor has no dimensions')
        dims = tuple(norm_dim(d, x.ndim) for d in dims)
        if len(set(dims)) != len(dims):
            raise RuntimeError('FFT dims must be unique')
        if s is not None and len(s) != len(dims):
            raise RuntimeError('When given, dim and shape arguments must have the same length')
    elif s is not None:
        if len(s) > x.ndim:
            raise RuntimeError(f'Got shape with {len(s)} values but input tensor only has {x.ndim} dimensions.')
        dims = tuple(range(x.ndim - len(s), x.ndim))
    else:
        dims = tuple(range(x.ndim))
    sizes = []
    for i, d in enumerate(dims):
        v = -1 if s is None else int(s[i])
        if v == -1:  # the input's size (checked as such first), or the Hermitian half's full length
            v = 2 * (_points(x.shape[d]) - 1) if c2r and i == len(dims) - 1 else x.shape[d]
        sizes.append(_points(v))
    return dims, tuple(sizes)


def _resize(x, dims, sizes):
    """x zero-padded or trimmed to ``sizes`` along ``dims`` (a differentiable constant pad)."""
    if all(x.shape[d] == n for d, n in zip(dims, sizes)):
        return x
    want = dict(zip(dims, sizes))
    lo = builtins.min(dims)
    return pad_constant(x, tuple((0, want.get(d, x.shape[d]) - x.shape[d]) for d in range(lo, x.ndim)))


def _out(name, result, out):
    """PyTorch's out=: the result's values written into ``out`` (resized when its shape differs)."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"fft_{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if _State.grad_enabled and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"fft_{name}(): functions with out=... arguments don't support automatic "
                           f"differentiation, but one of the arguments requires grad.")
    rk, ok = result._data.dtype, out._data.dtype
    if rk.kind == 'c' and ok.kind != 'c' or rk.kind == 'f' and ok.kind not in 'fc':
        raise RuntimeError(f"result type {_name(rk)} can't be cast to the desired output type {_name(ok)}")
    if tuple(out.shape) != tuple(result.shape):
        if out.numel():
            warnings.warn(f'An output with one or more elements was resized since it had shape {list(out.shape)}, '
                          f'which does not match the required output shape {list(result.shape)}. This behavior is '
                          f'deprecated, and in a future PyTorch release outputs will not be resized unless they have '
                          f'zero elements. You can explicitly reuse an out tensor t by resizing it, inplace, to zero '
                          f'elements with t.resize_(0).', UserWarning, stacklevel=3)
        with _on(out._device):
            out._data = out._device.xp.empty(tuple(result.shape), dtype=ok)
    out._device.xp.copyto(out._data, result._data, casting='unsafe')
    out._bump()
    return out


def _name(np_dtype):
    return SCALAR_NAMES.get(np_dtype.name, np_dtype.name)


# ---- the three kinds of transform --------------------------------------------------------------------------------
def _c2c(name, x, dims, sizes, norm, forward, out):
    """complex output of the full transform (fft, ifft and their n-D forms); real input takes the r2c kernel."""
    scale = _scale(norm, forward)
    if not dims:
        return _out(name, _complex(x), out)
    x = _resize(x, dims, sizes)
    y = fft_c2c(x, dims, forward, scale) if x._data.dtype.kind == 'c' else fft_r2c(x, dims, forward, scale, False)
    return _out(name, y, out)


def _r2c(name, x, dims, sizes, norm, forward, out):
    """onesided transform of real input (rfft, and ihfft: its inverse direction)."""
    if not dims:
        raise RuntimeError(f'{name}n must transform at least one axis')
    scale = _scale(norm, forward)
    return _out(name, fft_r2c(_resize(x, dims, sizes), dims, forward, scale, True), out)


def _c2r(name, x, dims, sizes, norm, forward, out):
    """real output from a Hermitian half (irfft, and hfft: its forward direction); ``sizes`` are the output's."""
    if not dims:
        raise RuntimeError(f'{name}n must transform at least one axis')
    scale = _scale(norm, forward)
    half = sizes[:-1] + (sizes[-1] // 2 + 1,)
    return _out(name, fft_c2r(_complex(_resize(x, dims, half)), dims, forward, scale, sizes[-1]), out)


# ---- 1-D ---------------------------------------------------------------------------------------------------------
def fft(input, n=None, dim=-1, norm=None, *, out=None):
    x = _floating(input, 'fft')
    return _c2c('fft', x, *_one_dim(x, n, dim), norm, True, out)


def ifft(input, n=None, dim=-1, norm=None, *, out=None):
    x = _floating(input, 'ifft')
    return _c2c('ifft', x, *_one_dim(x, n, dim), norm, False, out)


def rfft(input, n=None, dim=-1, norm=None, *, out=None):
    x = _floating(input, 'rfft', real_only=True)
    return _r2c('rfft', x, *_one_dim(x, n, dim), norm, True, out)


def irfft(input, n=None, dim=-1, norm=None, *, out=None):
    x = _floating(input, 'irfft')
    return _c2r('irfft', x, *_one_dim(x, n, dim, c2r=True), norm, False, out)


def hfft(input, n=None, dim=-1, norm=None, *, out=None):
    x = _floating(input, 'hfft')
    return _c2r('hfft', x, *_one_dim(x, n, dim, c2r=True), norm, True, out)


def ihfft(input, n=None, dim=-1, norm=None, *, out=None):
    x = _floating(input, 'ihfft', real_only=True)
    return _r2c('ihfft', x, *_one_dim(x, n, dim), norm, False, out)


# ---- n-D and 2-D -------------------------------------------------------------------------------------------------
def fftn(input, s=None, dim=None, norm=None, *, out=None):
    x = _floating(input, 'fftn')
    return _c2c('fftn', x, *_many_dims(x, s, dim), norm, True, out)


def ifftn(input, s=None, dim=None, norm=None, *, out=None):
    x = _floating(input, 'ifftn')
    return _c2c('ifftn', x, *_many_dims(x, s, dim), norm, False, out)


def rfftn(input, s=None, dim=None, norm=None, *, out=None):
    x = _floating(input, 'rfftn', real_only=True)
    return _r2c('rfft', x, *_many_dims(x, s, dim), norm, True, out)


def irfftn(input, s=None, dim=None, norm=None, *, out=None):
    x = _floating(input, 'irfftn')
    return _c2r('irfft', x, *_many_dims(x, s, dim, c2r=True), norm, False, out)


def hfftn(input, s=None, dim=None, norm=None, *, out=None):
    x = _floating(input, 'hfftn')
    return _c2r('hfft', x, *_many_dims(x, s, dim, c2r=True), norm, True, out)


def ihfftn(input, s=None, dim=None, norm=None, *, out=None):
    dims, sizes = _many_dims(_floating(input, 'ihfftn', check_dtype=False), s, dim)
    if not dims:  # PyTorch checks the dims and the norm before the dtype here
        raise RuntimeError('ihfftn must transform at least one axis')
    _scale(norm, False)
    return _r2c('ihfft', _floating(input, 'ihfftn', real_only=True), dims, sizes, norm, False, out)


def fft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return fftn(input, s, dim, norm, out=out)


def ifft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return ifftn(input, s, dim, norm, out=out)


def rfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return rfftn(input, s, dim, norm, out=out)


def irfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return irfftn(input, s, dim, norm, out=out)


def hfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return hfftn(input, s, dim, norm, out=out)


def ihfft2(input, s=None, dim=(-2, -1), norm=None, *, out=None):
    return ihfftn(input, s, dim, norm, out=out)


# ---- shifts and frequencies --------------------------------------------------------------------------------------
def _shift(input, dim, inverse):
    dims = tuple(range(input.ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:
        raise RuntimeError('`shifts` required')
    dims = tuple(norm_dim(d, input.ndim) for d in dims)
    return roll(input, tuple((input.shape[d] + inverse) // 2 for d in dims), dims)


def fftshift(input, dim=None):
    return _shift(input, dim, False)


def ifftshift(input, dim=None):
    return _shift(input, dim, True)


def _freq(name, count, n, d, out, dtype, device, requires_grad):
    if out is not None:
        if dtype is not None and to_dtype(dtype) is not out.dtype:
            raise RuntimeError(f'dtype {_name(to_dtype(dtype).np)} does not match dtype of out parameter '
                               f'({_name(out.dtype.np)})')
        dtype, device = out.dtype, device or out._device
    dt = to_dtype(dtype) or get_default_dtype()
    if dt.np.kind not in 'fc':
        raise RuntimeError(f'{name} requires a floating point or complex dtype')
    if count < 0:
        raise RuntimeError(f'Trying to create tensor with negative dimension {count}: [{count}]')
    dev = get_device(device)
    with _on(dev):
        data = dev.xp.arange(count, dtype=dt.np)
        if name == 'fftfreq':
            data[(n + 1) // 2:] -= n
        if count:  # PyTorch multiplies by the reciprocal, a scalar of the result's dtype
            data *= dt.np.type(1.0 / (n * d) if n * d else float('inf'))
    result = _finish(data, dev, requires_grad)
    return result if out is None else _out(name, result, out)


def fftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _freq('fftfreq', n, n, d, out, dtype, device, requires_grad)


def rfftfreq(n, d=1.0, *, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _freq('rfftfreq', n // 2 + 1, n, d, out, dtype, device, requires_grad)

