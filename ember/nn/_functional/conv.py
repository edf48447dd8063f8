"""ember.nn.functional: convolutions, pooling, padding, interpolation and unfold/fold, with PyTorch's signatures."""
import math

from ..._tensor import Tensor
from ...backends import cpu as _host
from ...ops import conv as _C
from ...ops._util import same_device, _wrap, renamed as _renamed
from ...ops.nn_ops import _dtname

__all__ = ['conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d',
           'max_pool1d', 'max_pool2d', 'max_pool3d', 'max_pool1d_with_indices', 'max_pool2d_with_indices',
           'max_pool3d_with_indices', 'avg_pool1d', 'avg_pool2d', 'avg_pool3d', 'adaptive_avg_pool1d',
           'adaptive_avg_pool2d', 'adaptive_avg_pool3d', 'adaptive_max_pool1d', 'adaptive_max_pool2d',
           'adaptive_max_pool1d_with_indices', 'adaptive_max_pool2d_with_indices', 'lp_pool1d', 'lp_pool2d',
           'interpolate', 'upsample', 'upsample_nearest', 'upsample_bilinear', 'pad', 'unfold', 'fold',
           'pixel_shuffle', 'pixel_unshuffle']


def _ntuple(v, n, name='argument'):
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        if len(v) == 1 and n > 1:
            return tuple(int(v[0]) for _ in range(n))
        if len(v) != n:
            raise RuntimeError(f'expected {name} to be a single integer value or a list of {n} values to match the '
                               f'convolution dimensions, but got {name}={list(v)}')
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _check_tensor(x, fn, name='input'):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position 1) must be Tensor, not {type(x).__name__}")


def _batched(x, nd, fn):
    """(x with a batch dim, whether one was added): accepts (C, S...) and (N, C, S...) inputs."""
    if x.ndim == nd + 1:
        return x.unsqueeze(0), True
    if x.ndim == nd + 2:
        return x, False
    sizes = {1: '2D (unbatched) or 3D (batched)', 2: '3D (unbatched) or 4D (batched)',
             3: '4D (unbatched) or 5D (batched)'}[nd]
    raise RuntimeError(f'Expected {sizes} input to {fn}, but got input of size: {list(x.shape)}')


def _unbatch(out, squeezed):
    return out.squeeze(0) if squeezed else out


def _sizes_str(s):
    return ' x '.join(map(str, s))


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


# ---- pooling ----------------------------------------------------------------------------------------------------

def _pool_size(S, k, st, p, dl, ceil_mode):
    num = S + 2 * p - dl * (k - 1) - 1
    o = (num + (st - 1 if ceil_mode else 0)) // st + 1
    if ceil_mode and (o - 1) * st >= S + p:
        o -= 1
    return o


def _pool_geom(x, nd, kernel_size, stride, padding, dilation, ceil_mode, fn, avg=False):
    k = _ntuple(kernel_size, nd, 'kernel_size')
    st = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else \
        _ntuple(stride, nd, 'stride')
    p = _ntuple(padding, nd, 'padding')
    dl = _ntuple(dilation, nd, 'dilation')
    if any(v <= 0 for v in k):
        raise RuntimeError(f'{fn}(): kernel_size must be greater than zero, but got {list(k)}')
    if any(v <= 0 for v in st):
        raise RuntimeError(f'{fn}(): stride must be greater than zero, but got {list(st)}')
    if any(v <= 0 for v in dl):
        raise RuntimeError(f'{fn}(): dilation must be greater than zero, but got {list(dl)}')
    if any(v < 0 for v in p):
        raise RuntimeError(f'{fn}(): pad must be non-negative, but got {list(p)}')
    for kk, pp, d in zip(k, p, dl):
        if avg and pp > kk // 2:
            raise RuntimeError(f'pad should be smaller than or equal to half of kernel size, but got '
                               f'padding={list(p)}, kernel_size={list(k)} ({fn})')
        if not avg and pp > ((kk - 1) * d + 1) // 2:
            raise RuntimeError(f'pad should be at most half of effective kernel size, but got pad={pp}, '
                               f'kernel_size={kk} and dilation={d} ({fn})')
    S = x.shape[2:]
    OS = tuple(_pool_size(s, kk, t, pp, d, ceil_mode) for s, kk, t, pp, d in zip(S, k, st, p, dl))
    if any(o <= 0 for o in OS):
        raise RuntimeError(f'Given input size: ({"x".join(map(str, x.shape[1:]))}). Calculated output size: '
                           f'({"x".join(map(str, (x.shape[1],) + OS))}). Output size is too small')
    return _C.Geom(k, st, p, p, dl, S, OS)     # Geom widens the buffer for ceil-mode overhang


def _pool_input(input, nd, fn):
    _check_tensor(input, fn)
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f'{fn}(): Expected {nd + 1}D or {nd + 2}D input tensor, but got input of size: '
                           f'{list(input.shape)}')
    return _batched(input, nd, fn)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd):
    fn = f'max_pool{nd}d'
    x, squeezed = _pool_input(input, nd, fn)
    g = _pool_geom(x, nd, kernel_size, stride, padding, dilation, ceil_mode, fn)
    if return_indices:
        out, idx = _C.max_pool(x, g, True)
        return _unbatch(out, squeezed), _unbatch(idx, squeezed)
    return _unbatch(_C.max_pool(x, g), squeezed)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over sliding windows of (N, C, L); padding counts as -inf."""
    return _renamed(_max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1),
                    'SqueezeBackward1', input)  # PyTorch pools 1-d as 2-d, then squeezes


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over sliding windows of (N, C, H, W); padding counts as -inf."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over sliding windows of (N, C, D, H, W); padding counts as -inf."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 1)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 2)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True, 3)


def _avg_divisor(xp, g, count_include_pad):
    """Per-output divisor (as PyTorch: windows are clipped at S + pad; padding counts when count_include_pad).
    The window sizes depend only on shapes, so they are computed on the host (no device reads on cuda); only a
    non-uniform divisor is sent to ``xp``'s device."""
    hx = _host.xp
    per_dim, uniform = [], True
    for d in range(g.nd):
        start = hx.arange(g.OS[d]) * g.st[d] - g.lo[d]
        end = hx.minimum(start + g.k[d], g.S[d] + g.lo[d])
        size = end - start if count_include_pad else hx.minimum(end, g.S[d]) - hx.maximum(start, 0)
        per_dim.append(size)
        uniform = uniform and bool((size == size[0]).all())
    if uniform:
        div = 1
        for s in per_dim:
            div *= int(s[0])
        return div
    div = None
    for d, s in enumerate(per_dim):
        shape = [1] * g.nd
        shape[d] = g.OS[d]
        s = s.reshape(shape)
        div = s if div is None else div * s
    return div if xp is hx else xp.asarray(div)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd):
    fn = f'avg_pool{nd}d'
    x, squeezed = _pool_input(input, nd, fn)
    g = _pool_geom(x, nd, kernel_size, stride, padding, 1, ceil_mode, fn, avg=True)
    s = _C.window_sum(x, g)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError('divisor must be not zero')
        out = s / divisor_override
    else:
        xp = x._device.xp
        div = _avg_divisor(xp, g, count_include_pad)
        out = s / div if isinstance(div, int) else s / _wrap(div.astype(x._data.dtype), x._device)
    _renamed(out, 'SqueezeBackward1' if nd == 1 else f'AvgPool{nd}DBackward0', input)  # PyTorch's names
    return _unbatch(out, squeezed)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over sliding windows of (N, C, L)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over sliding windows of (N, C, H, W)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over sliding windows of (N, C, D, H, W)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over windows of x**p) ** (1/p)."""
    k = _ntuple(kernel_size, 1)[0]
    out = avg_pool1d(input.pow(norm_type), k, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(k).pow(1.0 / norm_type)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over windows of x**p) ** (1/p)."""
    kh, kw = _ntuple(kernel_size, 2)
    out = avg_pool2d(input.pow(norm_type), (kh, kw), stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(kh * kw).pow(1.0 / norm_type)


# ---- adaptive pooling -------------------------------------------------------------------------------------------

def _adaptive_sizes(x, output_size, nd, fn):
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != nd:
            raise RuntimeError(f'{fn}: output_size must be {nd}, got {len(output_size)}')
        OS = tuple(s if o is None else int(o) for s, o in zip(x.shape[2:], output_size))
    else:
        OS = (int(output_size),) * nd
    if any(o < 0 for o in OS):
        raise RuntimeError(f'{fn}: elements of output_size must be greater than or equal to 0 but received '
                           f'{list(OS)}')
    return OS


def _adaptive_bounds(S, O):
    return [(i * S) // O for i in range(O)], [-((-(i + 1) * S) // O) for i in range(O)]


def _adaptive_avg(input, output_size, nd):
    fn = f'adaptive_avg_pool{nd}d'
    x, squeezed = _pool_input(input, nd, fn)
    OS = _adaptive_sizes(x, output_size, nd, fn)
    S = x.shape[2:]
    if all(o == 1 for o in OS):
        out = x.mean(tuple(range(2, 2 + nd)), keepdim=True)
    elif all(o > 0 and s % o == 0 for s, o in zip(S, OS)):
        k = tuple(s // o for s, o in zip(S, OS))
        g = _C.Geom(k, k, (0,) * nd, (0,) * nd, (1,) * nd, S, OS)
        K = 1
        for kk in k:
            K *= kk
        out = _C.window_sum(x, g) / K
    else:
        # windows of varying size: one averaging matrix per dim, applied with matmul (differentiable as is)
        xp = x._device.xp
        out = x
        for d in range(nd):
            starts, ends = _adaptive_bounds(S[d], OS[d])
            a, b = xp.asarray(starts)[:, None], xp.asarray(ends)[:, None]
            j = xp.arange(S[d])[None, :]
            P = (((j >= a) & (j < b)) / (b - a)).astype(x._data.dtype)
            out = _apply_along(out, _wrap(P, x._device), 2 + d)
    return _unbatch(out, squeezed)


def _apply_along(x, P, dim):
    """Contract x's dim ``dim`` with matrix P (out, in): y[..., o, ...] = sum_i P[o, i] x[..., i, ...]."""
    if dim == x.ndim - 1:
        return x.matmul(P.t())
    return x.movedim(dim, -1).matmul(P.t()).movedim(-1, dim)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to a fixed output length (windows [floor(i*L/O), ceil((i+1)*L/O)))."""
    return _renamed(_adaptive_avg(input, output_size, 1), 'SqueezeBackward1', input)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (None keeps that input size)."""
    return _adaptive_avg(input, output_size, 2)


def adaptive_avg_pool3d(input, output_size):
    """Average pooling to a fixed output size (None keeps that input size)."""
    return _adaptive_avg(input, output_size, 3)


def _adaptive_max(input, output_size, return_indices, nd):
    fn = f'adaptive_max_pool{nd}d'
    x, squeezed = _pool_input(input, nd, fn)
    OS = _adaptive_sizes(x, output_size, nd, fn)
    S = x.shape[2:]
    if all(o > 0 and s % o == 0 for s, o in zip(S, OS)):
        k = tuple(s // o for s, o in zip(S, OS))
        g = _C.Geom(k, k, (0,) * nd, (0,) * nd, (1,) * nd, S, OS)
        res = _C.max_pool(x, g, return_indices)
    else:
        # windows of varying size: gather every window padded to the largest (repeating its last element), take
        # the first argmax, then read the input there with gather (whose backward scatters)
        xp = x._device.xp
        N, C = x.shape[:2]
        idx, kmax = [], []
        for d in range(nd):
            starts, ends = _adaptive_bounds(S[d], OS[d])
            km = max(b - a for a, b in zip(starts, ends))
            st, en = xp.asarray(starts)[:, None], xp.asarray(ends)[:, None]
            idx.append(xp.minimum(st + xp.arange(km)[None, :], en - 1))
            kmax.append(km)
        flat = None
        plane = 1
        for d in range(nd - 1, -1, -1):
            shape = [1] * (2 * nd)
            shape[d], shape[nd + d] = OS[d], kmax[d]
            term = idx[d].reshape(shape) * plane
            flat = term if flat is None else flat + term
            plane *= S[d]
        flat = flat.reshape(tuple(OS) + (-1,))                         # (OS..., Kmax) flat input positions
        xf = x._data.reshape(N, C, -1)
        cand = xf[:, :, flat]                                            # (N, C, OS..., Kmax)
        pick = cand.argmax(-1)
        pos = xp.take_along_axis(xp.broadcast_to(flat, (N, C) + flat.shape), pick[..., None], -1)[..., 0]
        pos_t = _wrap(pos.reshape(N, C, -1).astype('int64'), x._device)
        out = x.reshape(N, C, -1).gather(2, pos_t).reshape((N, C) + tuple(OS))
        res = (out, _wrap(pos.astype('int64'), x._device)) if return_indices else out
    if return_indices:
        return _unbatch(res[0], squeezed), _unbatch(res[1], squeezed)
    return _unbatch(res, squeezed)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling to a fixed output length."""
    return _renamed(_adaptive_max(input, output_size, return_indices, 1), 'SqueezeBackward1', input)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size (None keeps that input size)."""
    return _renamed(_adaptive_max(input, output_size, return_indices, 2), 'AdaptiveMaxPool2DBackward0', input)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, True, 1)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, True, 2)


# ---- padding ----------------------------------------------------------------------------------------------------

def pad(input, pad, mode='constant', value=None):
    """Pad the last len(pad)//2 dims: pad = (last_lo, last_hi, second_last_lo, ...); negative amounts crop.

    Modes: 'constant' (value, default 0), 'reflect' (mirror without the edge), 'replicate' (edge), 'circular'.
    """
    _check_tensor(input, 'pad')
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError('Padding length must be divisible by 2')
    n = len(pad) // 2
    if n > input.ndim:
        raise RuntimeError(f'Padding length should be less than or equal to two times the input dimension but got '
                           f'padding length {len(pad)} and input of dimension {input.ndim}')
    pairs = tuple((pad[2 * i], pad[2 * i + 1]) for i in range(n))[::-1]     # in dim order
    if mode == 'constant':
        return _C.pad_constant(input, pairs, 0 if value is None else value)
    if mode not in ('reflect', 'replicate', 'circular'):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if not (n <= 3 and input.ndim in (n + 1, n + 2)):
        raise NotImplementedError(
            f'Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\nSupported combinations for '
            f'non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n  - 3D or 4D input: '
            f'padding size = 4 (pads last 2 dimensions)\n  - 4D or 5D input: padding size = 6 (pads last 3 '
            f'dimensions)')
    xp = input._device.xp
    lead = input.ndim - n
    key = [slice(None)] * lead
    for d, (a, b) in enumerate(pairs):
        size = input.shape[lead + d]
        if mode == 'reflect' and (a >= size or b >= size):
            raise RuntimeError(f'Argument #4: Padding size should be less than the corresponding input dimension, '
                               f'but got: padding ({a}, {b}) at dimension {lead + d} of input {list(input.shape)}')
        if mode == 'circular' and (a > size or b > size):
            raise RuntimeError('Padding value causes wrapping around more than once.')
        if mode == 'replicate' and size == 0 and (a > 0 or b > 0):
            raise RuntimeError(f'padding size is expected to be less than the input size for replicate padding '
                               f'(input of shape {list(input.shape)})')
        i = xp.arange(-a, size + b)
        if mode == 'reflect':
            period = 2 * (size - 1) if size > 1 else 1
            i = xp.abs(i) % period
            i = xp.where(i >= size, period - i, i)
        elif mode == 'replicate':
            i = xp.clip(i, 0, size - 1)
        else:
            i = i % size
        shape = [1] * n
        shape[d] = -1
        key.append(i.reshape(shape))
    names = {'reflect': 'ReflectionPad{}DBackward0', 'replicate': 'ReplicationPad{}DBackward0'}
    return _renamed(input[tuple(key)], names[mode].format(n), input) if mode in names else input[tuple(key)]


# ---- interpolation ----------------------------------------------------------------------------------------------

_MODES = ('nearest', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area', 'nearest-exact')


def _interp_matrix(xp, S, O, scale, align_corners, mode, dtype):
    """(O, S) matrix of the 1-D linear or cubic interpolation weights PyTorch uses."""
    i = xp.arange(O, dtype='float64')
    if align_corners:
        sc = (S - 1) / (O - 1) if O > 1 else 0.0
        src = i * sc
    else:
        sc = scale if scale is not None else S / O
        src = (i + 0.5) * sc - 0.5
        if mode != 'cubic':
            src = xp.maximum(src, 0.0)
    cols = xp.arange(S)[None, :]
    M = xp.zeros((O, S), dtype='float64')
    if mode == 'cubic':
        f = xp.floor(src)
        t = src - f
        f = f.astype('int64')
        A = -0.75
        ws = [((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
              ((A + 2) * t - (A + 3)) * t * t + 1,
              ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1]
        ws.append(1 - ws[0] - ws[1] - ws[2])
        for j, wj in enumerate(ws):          # four taps; border taps clamp (and so add up) as PyTorch's do
            M += (xp.clip(f - 1 + j, 0, S - 1)[:, None] == cols) * wj[:, None]
    else:
        i0 = xp.minimum(xp.floor(src).astype('int64'), S - 1)
        lam = src - i0
        i1 = xp.minimum(i0 + 1, S - 1)
        M += (i0[:, None] == cols) * (1 - lam)[:, None]
        M += (i1[:, None] == cols) * lam[:, None]
    return M.astype(dtype)


_UPSAMPLE_NAMES = {'nearest': 'UpsampleNearest{}DBackward0', 'nearest-exact': 'UpsampleNearestExact{}DBackward0',
                   'linear': 'UpsampleLinear1DBackward0', 'bilinear': 'UpsampleBilinear2DBackward0',
                   'bicubic': 'UpsampleBicubic2DBackward0', 'trilinear': 'UpsampleTrilinear3DBackward0'}


def interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resize (N, C, *spatial) by ``size`` or ``scale_factor``; the result's node is named as PyTorch's kernel."""
    out = _interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    if mode in _UPSAMPLE_NAMES and isinstance(input, Tensor):
        _renamed(out, _UPSAMPLE_NAMES[mode].format(input.ndim - 2), input)
    return out


def _interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=None,
                 recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims: nearest / nearest-exact (index lookup), (bi/tri)linear and bicubic (separable
    interpolation matrices applied with matmul), area (adaptive average pooling)."""
    _check_tensor(input, 'interpolate')
    nd = input.ndim - 2
    if mode not in _MODES or nd not in (1, 2, 3):
        raise NotImplementedError(f'Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for '
                                  f'the modes: nearest | linear | bilinear | bicubic | trilinear | area | '
                                  f'nearest-exact (got {mode})')
    if mode in ('nearest', 'area', 'nearest-exact'):
        if align_corners is not None:
            raise ValueError('align_corners option can only be set with the interpolating modes: linear | '
                             'bilinear | bicubic | trilinear')
    elif align_corners is None:
        align_corners = False
    need = {'linear': 1, 'bilinear': 2, 'bicubic': 2, 'trilinear': 3}.get(mode)
    if need is not None and need != nd:
        raise NotImplementedError(f'Got {input.ndim}D input, but {mode} mode needs {need + 2}D input')
    if antialias:
        raise NotImplementedError('interpolate(antialias=True) is not supported by ember')
    S = input.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError('only one of size or scale_factor should be defined')
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != nd:
                raise ValueError(f'Input and output must have the same number of spatial dimensions, but got input '
                                 f'with spatial dimensions of {list(S)} and output size of {size}. Please provide '
                                 f'input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) '
                                 f'format.')
            OS = tuple(int(s) for s in size)
        else:
            OS = (int(size),) * nd
        scales = [None] * nd
    elif scale_factor is not None:
        sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * nd
        if len(sf) != nd:
            raise ValueError(f'Input and scale_factor must have the same number of spatial dimensions, but got input '
                             f'with spatial dimensions of {list(S)} and scale_factor of shape {scale_factor}. Please '
                             f'provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, '
                             f'...,sK) format.')
        OS = tuple(int(math.floor(float(s) * float(f))) for s, f in zip(S, sf))
        scales = [None] * nd if recompute_scale_factor else [1.0 / float(f) for f in sf]
    else:
        raise ValueError('either size or scale_factor should be defined')
    if any(o <= 0 for o in OS):
        raise RuntimeError(f'Input and output sizes should be greater than 0, but got input ({_sizes_str(S)}) and '
                           f'output ({_sizes_str(OS)})')
    if mode == 'area':
        return _adaptive_avg(input, OS, nd)
    xp = input._device.xp
    if mode in ('nearest', 'nearest-exact'):
        key = [slice(None), slice(None)]
        f32 = xp.float32   # float32 index arithmetic, as PyTorch's nearest kernels do
        for d in range(nd):
            s, o = S[d], OS[d]
            sc = f32(scales[d]) if scales[d] is not None else f32(s) / f32(o)
            dst = xp.arange(o, dtype=f32)
            if mode == 'nearest-exact':
                dst = dst + f32(0.5)
            src = xp.minimum(xp.floor(dst * sc).astype('int64'), s - 1)
            shape = [1] * nd
            shape[d] = -1
            key.append(src.reshape(shape))
        return input[tuple(key)]
    kind = 'cubic' if mode == 'bicubic' else 'linear'
    out = input
    for d in range(nd):
        M = _interp_matrix(xp, S[d], OS[d], scales[d], align_corners, kind, input._data.dtype)
        out = _apply_along(out, _wrap(M, input._device), 2 + d)
    return out


def upsample(input, size=None, scale_factor=None, mode='nearest', align_corners=None):
    """Deprecated alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode='nearest')


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)


# ---- unfold / fold ----------------------------------------------------------------------------------------------

def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks of (N, C, H, W) as (N, C*kh*kw, L) (im2col)."""
    _check_tensor(input, 'unfold')
    if input.ndim not in (3, 4):
        raise NotImplementedError(f'Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)')
    x, squeezed = _batched(input, 2, 'unfold')
    k, dl = _ntuple(kernel_size, 2, 'kernel_size'), _ntuple(dilation, 2, 'dilation')
    p, st = _ntuple(padding, 2, 'padding'), _ntuple(stride, 2, 'stride')
    g = _C.Geom(k, st, p, p, dl, x.shape[2:])
    if any(o <= 0 for o in g.OS):
        raise RuntimeError(f'Given input with spatial size ({_sizes_str(x.shape[2:])}), kernel_size={list(k)}, '
                           f'dilation={list(dl)}, padding={list(p)}, calculated shape of the array of sliding blocks '
                           f'as ({_sizes_str(g.OS)}), but its components must be at least one.')
    return _unbatch(_C.unfold(x, g), squeezed)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum (N, C*kh*kw, L) blocks back into (N, C, H, W) (col2im; overlapping values add)."""
    _check_tensor(input, 'fold')
    if input.ndim not in (2, 3):
        raise NotImplementedError(f'Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported '
                                  f'(got {input.ndim}D)')
    x = input.unsqueeze(0) if input.ndim == 2 else input
    S = _ntuple(output_size, 2, 'output_size')
    k, dl = _ntuple(kernel_size, 2, 'kernel_size'), _ntuple(dilation, 2, 'dilation')
    p, st = _ntuple(padding, 2, 'padding'), _ntuple(stride, 2, 'stride')
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


# ---- pixel shuffle ----------------------------------------------------------------------------------------------

def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = int(upscale_factor)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f'pixel_shuffle expects its input\'s \'channel\' dimension to be divisible by the square of '
                           f'upscale_factor, but input.size(-3)={c} is not divisible by {r * r}')
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return _renamed(x.reshape(*lead, c // (r * r), h * r, w * r), 'PixelShuffleBackward0', input)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = int(downscale_factor)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f'pixel_unshuffle expects height and width to be divisible by downscale_factor, but got '
                           f'{h} x {w} and {r}')
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return _renamed(x.reshape(*lead, c * r * r, h // r, w // r), 'PixelUnshuffleBackward0', input)
