"""ember.nn.functional: max, average, Lp and adaptive pooling, with PyTorch's signatures."""

from ...backends import cpu as _host
from ...ops import conv as _C
from ...ops._util import _wrap, renamed as _renamed
from ._spatial import _ntuple, _check_tensor, _batched, _unbatch

__all__ = ['max_pool1d', 'max_pool2d', 'max_pool3d', 'max_pool1d_with_indices', 'max_pool2d_with_indices',
           'max_pool3d_with_indices', 'avg_pool1d', 'avg_pool2d', 'avg_pool3d', 'adaptive_avg_pool1d',
           'adaptive_avg_pool2d', 'adaptive_avg_pool3d', 'adaptive_max_pool1d', 'adaptive_max_pool2d',
           'adaptive_max_pool3d', 'adaptive_max_pool1d_with_indices', 'adaptive_max_pool2d_with_indices',
           'adaptive_max_pool3d_with_indices', 'lp_pool1d', 'lp_pool2d']


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


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling of (N, C, D, H, W) to a fixed output size (None keeps that input size)."""
    return _renamed(_adaptive_max(input, output_size, return_indices, 3), 'AdaptiveMaxPool3DBackward0', input)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, True, 1)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return _adaptive_max(input, output_size, True, 2)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(input, output_size, True, 3)
