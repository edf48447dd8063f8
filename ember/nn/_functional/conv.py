"""ember.nn.functional: convolutions and unfold/fold, with PyTorch's signatures (pooling and resampling re-exported)."""

from ...ops import conv as _C
from ...ops._util import same_device
from ...ops.nn_ops import _dtname
from ._spatial import _ntuple, _check_tensor, _batched, _unbatch, _sizes_str

__all__ = ['conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d', 'unfold', 'fold']


# ---- convolution ------------------------------------------------------------------------------------------------

def _conv_checks(x, w, b, nd, groups, fn, transposed=False):
    _check_tensor(x, fn)
    _check_tensor(w, fn, 'weight')
    same_device(x, w, fn)
    if w.ndim != nd + 2:
        raise RuntimeError(f'Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input to {fn}, but got '
                           f'weight of size {list(w.shape)}')
    if x._data.dtype != w._data.dtype:
        raise RuntimeError(f'expected scalar type {_dtname(x)} but found {_dtname(w)} (input {x.dtype.name}, '
                           f'weight {w.dtype.name} in {fn})')
    if groups < 1:
        raise RuntimeError('non-positive groups is not supported')
    C = x.shape[1]
    if transposed:
        if C != w.shape[0]:
            raise RuntimeError(f'Given transposed=1, weight of size {list(w.shape)}, expected input{list(x.shape)} '
                               f'to have {w.shape[0]} channels, but got {C} channels instead')
        if w.shape[0] % groups:
            raise RuntimeError(f'Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, '
                               f'but got weight of size {list(w.shape)} instead')
        n_out = w.shape[1] * groups
    else:
        if w.shape[0] % groups:
            raise RuntimeError(f'Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, '
                               f'but got weight of size [{list(w.shape)}] instead')
        if C != w.shape[1] * groups:
            raise RuntimeError(f'Given groups={groups}, weight of size {list(w.shape)}, expected input'
                               f'{list(x.shape)} to have {w.shape[1] * groups} channels, but got {C} channels '
                               f'instead')
        n_out = w.shape[0]
    if b is not None:
        _check_tensor(b, fn, 'bias')
        same_device(x, b, fn)
        if b.ndim != 1 or b.shape[0] != n_out:
            raise RuntimeError(f'Given weight of size {list(w.shape)}, expected bias to be 1-dimensional with '
                               f'{n_out} elements, but got bias of size {list(b.shape)} instead')
        if b._data.dtype != x._data.dtype:
            raise RuntimeError(f'Input type ({_dtname(x)}) and bias type ({_dtname(b)}) should be the same')


def _conv_padding(padding, k, st, dl, nd):
    """(lo, hi) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == 'valid':
            return (0,) * nd, (0,) * nd
        if padding == 'same':
            if any(s != 1 for s in st):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            tot = [d * (kk - 1) for d, kk in zip(dl, k)]
            return tuple(t // 2 for t in tot), tuple(t - t // 2 for t in tot)
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    p = _ntuple(padding, nd, 'padding')
    if any(v < 0 for v in p):
        raise RuntimeError('negative padding is not supported')
    return p, p


def _conv(input, weight, bias, stride, padding, dilation, groups, nd):
    fn = f'conv{nd}d'
    _check_tensor(input, fn)
    x, squeezed = _batched(input, nd, fn)
    _conv_checks(x, weight, bias, nd, groups, fn)
    st, dl = _ntuple(stride, nd, 'stride'), _ntuple(dilation, nd, 'dilation')
    if any(s <= 0 for s in st):
        raise RuntimeError('non-positive stride is not supported')
    if any(d <= 0 for d in dl):
        raise RuntimeError('dilation should be greater than zero')
    k = weight.shape[2:]
    lo, hi = _conv_padding(padding, k, st, dl, nd)
    padded = tuple(s + a + b for s, a, b in zip(x.shape[2:], lo, hi))
    eff = tuple(d * (kk - 1) + 1 for d, kk in zip(dl, k))
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_sizes_str(padded)}). Kernel size: "
                           f"({_sizes_str(eff)}). Kernel size can't be greater than actual input size")
    out = _C.convolution(x, weight, bias, st, lo, hi, dl, groups)
    return _unbatch(out, squeezed)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation of (N, C, L) (or (C, L)) with weight (O, C/groups, k)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of (N, C, H, W) (or (C, H, W)) with weight (O, C/groups, kh, kw)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation of (N, C, D, H, W) (or (C, D, H, W)) with weight (O, C/groups, kd, kh, kw)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3)


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    fn = f'conv_transpose{nd}d'
    _check_tensor(input, fn)
    x, squeezed = _batched(input, nd, fn)
    _conv_checks(x, weight, bias, nd, groups, fn, transposed=True)
    st, dl = _ntuple(stride, nd, 'stride'), _ntuple(dilation, nd, 'dilation')
    if isinstance(padding, str):
        raise TypeError(f"{fn}(): argument 'padding' must be tuple of ints, not str")
    p, op = _ntuple(padding, nd, 'padding'), _ntuple(output_padding, nd, 'output_padding')
    if any(s <= 0 for s in st):
        raise RuntimeError('non-positive stride is not supported')
    if any(d <= 0 for d in dl):
        raise RuntimeError('dilation should be greater than zero')
    if any(v < 0 for v in p):
        raise RuntimeError('negative padding is not supported')
    if any(o >= s and o >= d for o, s, d in zip(op, st, dl)):
        names = ('depth', 'height', 'width')[3 - nd:]
        parts = (' '.join(f'output_padding_{n}: {o}' for n, o in zip(names, op)) if nd > 1 else
                 f'output_padding: {op[0]}')
        raise RuntimeError(f'output padding must be smaller than either stride or dilation, but got {parts} '
                           f'stride={list(st)} dilation={list(dl)}')
    k = weight.shape[2:]
    S = tuple((i - 1) * s - 2 * pp + d * (kk - 1) + o + 1
              for i, s, pp, d, kk, o in zip(x.shape[2:], st, p, dl, k, op))
    if any(v <= 0 for v in S):
        raise RuntimeError(f'Given input size per channel: ({_sizes_str(x.shape[2:])}). Calculated output size per '
                           f'channel: ({_sizes_str(S)}). Output size is too small')
    out = _C.conv_transpose(x, weight, bias, st, p, p, dl, groups, S)
    return _unbatch(out, squeezed)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transpose (gradient) of conv1d; weight (C_in, C_out/groups, k)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transpose (gradient) of conv2d; weight (C_in, C_out/groups, kh, kw)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transpose (gradient) of conv3d; weight (C_in, C_out/groups, kd, kh, kw)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 3)


# ---- unfold / fold ----------------------------------------------------------------------------------------------

def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks of (N, C, H, W) as (N, C*kh*kw, L) (im2col)."""
    _check_tensor(input, 'unfold')
    if input.ndim not in (3, 4):
        raise NotImplementedError(f'Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)')
    x, squeezed = _batched(input, 2, 'unfold')
    if 0 in x.shape[1:] or input.ndim == 3 and not input.shape[0]:  # (only the batch may be empty)
        raise RuntimeError(f'Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero '
                           f'dimensions for input, but got: {list(input.shape)}')
    k, dl = _ntuple(kernel_size, 2, 'kernel_size'), _ntuple(dilation, 2, 'dilation')
    p, st = _ntuple(padding, 2, 'padding'), _ntuple(stride, 2, 'stride')
    _check_positive(st, dl, k, p)
    g = _C.Geom(k, st, p, p, dl, x.shape[2:])
    if any(o <= 0 for o in g.OS):
        raise RuntimeError(f'Given input with spatial size ({_sizes_str(x.shape[2:])}), kernel_size={list(k)}, '
                           f'dilation={list(dl)}, padding={list(p)}, calculated shape of the array of sliding blocks '
                           f'as ({_sizes_str(g.OS)}), but its components must be at least one.')
    return _unbatch(_C.unfold(x, g), squeezed)


def _check_positive(st, dl, k, p):
    """im2col/col2im's argument checks, in PyTorch's order and words."""
    for name, short, v in (('kernel size', 'kernel', k), ('dilation', 'dilation', dl)):
        if min(v) <= 0:
            raise RuntimeError(f'{name} should be greater than zero, but got {short}_height: {v[0]} {short}_width: '
                               f'{v[1]}')
    if min(p) < 0:
        raise RuntimeError(f'padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}')
    if min(st) <= 0:
        raise RuntimeError(f'stride should be greater than zero, but got stride_height: {st[0]} stride_width: {st[1]}')


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum (N, C*kh*kw, L) blocks back into (N, C, H, W) (col2im; overlapping values add)."""
    _check_tensor(input, 'fold')
    if input.ndim not in (2, 3):
        raise NotImplementedError(f'Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported '
                                  f'(got {input.ndim}D)')
    x = input.unsqueeze(0) if input.ndim == 2 else input
    if 0 in x.shape[1:] or input.ndim == 2 and not input.shape[0]:
        raise RuntimeError(f'Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero '
                           f'dimensions for input, but got: {list(input.shape)}')
    S = _ntuple(output_size, 2, 'output_size')
    k, dl = _ntuple(kernel_size, 2, 'kernel_size'), _ntuple(dilation, 2, 'dilation')
    p, st = _ntuple(padding, 2, 'padding'), _ntuple(stride, 2, 'stride')
    _check_positive(st, dl, k, p)
    g = _C.Geom(k, st, p, p, dl, S)
    if x.shape[1] % g.K:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
                           f"but got input.size(1)={x.shape[1]} and kernel_size={tuple(k)}.")
    L = g.OS[0] * g.OS[1]
    if x.shape[2] != L:
        raise RuntimeError(f"Given output_size={tuple(S)}, kernel_size={tuple(k)}, dilation={tuple(dl)}, "
                           f"padding={tuple(p)}, stride={tuple(st)}, expected size of input's dimension 2 to match "
                           f"the calculated number of sliding blocks {g.OS[0]} * {g.OS[1]} = {L}, but got "
                           f"input.size(2)={x.shape[2]}.")
    out = _C.fold(x, g)
    return out.squeeze(0) if input.ndim == 2 else out


# pooling and resampling live in their own files; re-exported so `_functional.conv` keeps naming every spatial op
from .pooling import *  # noqa: E402,F401,F403
from .pooling import __all__ as _pooling_all  # noqa: E402
from .resample import *  # noqa: E402,F401,F403
from .resample import __all__ as _resample_all  # noqa: E402
from .fractional import *  # noqa: E402,F401,F403
from .fractional import __all__ as _fractional_all  # noqa: E402
__all__ += _pooling_all + _resample_all + _fractional_all
