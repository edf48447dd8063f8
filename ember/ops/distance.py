"""Pairwise p-norm distances: cdist (between the rows of two batches of matrices) and pdist (between the rows of one
matrix), with the gradients PyTorch's kernels give (zero where a difference or a distance is zero; for p=inf, the
full gradient to every coordinate attaining the maximum)."""
import math

from ._util import Tensor, record, unbroadcast, KERNEL_NAMES, _wrap

_MODES = ('use_mm_for_euclid_dist_if_necessary', 'use_mm_for_euclid_dist', 'donot_use_mm_for_euclid_dist')


def _dist(diff, p, xp):
    """(distances over the last axis of ``diff``, a function of the upstream gradient giving diff's gradient)."""
    a = xp.abs(diff)
    if p == 0:
        d = (a != 0).sum(axis=-1).astype(diff.dtype)
        return d, lambda g: xp.zeros(diff.shape, diff.dtype)
    if p == math.inf:
        d = a.max(axis=-1) if a.shape[-1] else xp.zeros(a.shape[:-1], diff.dtype)
        return d, lambda g: xp.sign(diff) * (a == d[..., None]) * g[..., None]
    if p == 1:
        return a.sum(axis=-1), lambda g: xp.sign(diff) * g[..., None]
    if p == 2:
        d = xp.sqrt((a * a).sum(axis=-1))
        return d, lambda g: diff * (g / xp.where(d == 0, 1, d))[..., None] * (d != 0)[..., None]
    d = (a ** p).sum(axis=-1) ** (1.0 / p)

    def grad(g):
        safe = xp.where(d == 0, 1, d)[..., None]
        r = xp.where(a == 0, 0, xp.sign(diff) * (xp.where(a == 0, 1, a) / safe) ** (p - 1))
        return r * (g * (d != 0))[..., None]
    return d, grad


def _check_float(t, msg):
    if t._data.dtype.kind != 'f':
        raise RuntimeError(msg.format(KERNEL_NAMES.get(t.dtype.name, t.dtype.name)))


def cdist(x1, x2, p=2.0, compute_mode='use_mm_for_euclid_dist_if_necessary'):
    """Distances between each row of x1 (..., P, M) and each row of x2 (..., R, M): (..., P, R), batch dims
    broadcast. Computed from the differences for every compute_mode (the matrix-product shortcut PyTorch may take
    for p=2 only changes rounding)."""
    for name, t in (('X1', x1), ('X2', x2)):
        if t.ndim < 2:
            raise RuntimeError(f'cdist only supports at least 2D tensors, {name} got: {t.ndim}D')
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f'X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}')
    _check_float(x1, 'cdist only supports floating-point dtypes, X1 got: {}')
    _check_float(x2, 'cdist only supports floating-point dtypes, X2 got: {}')
    if x1._data.dtype != x2._data.dtype:
        raise RuntimeError(f'expected scalar type {KERNEL_NAMES[x1.dtype.name]} but found '
                           f'{KERNEL_NAMES[x2.dtype.name]}')
    if p < 0:
        raise RuntimeError('cdist only supports non-negative p values')
    if compute_mode not in _MODES:
        raise ValueError(f'{compute_mode} is not a valid value for compute_mode')
    xp = x1._device.xp
    try:
        diff = x1._data[..., :, None, :] - x2._data[..., None, :, :]
    except ValueError:
        from ._util import broadcast_error
        raise broadcast_error(x1.shape[:-2], x2.shape[:-2]) from None
    d, gdiff = _dist(diff, float(p), xp)
    s1, s2 = x1.shape, x2.shape
    return record(d, x1._device, (x1, x2), 'CdistBackward0',
                  (lambda g: unbroadcast(_wrap(gdiff(g._data).sum(axis=-2), g._device), s1),
                   lambda g: unbroadcast(_wrap(0 - gdiff(g._data).sum(axis=-3), g._device), s2)), (x1, x2))


def pdist(input, p=2):
    """Distances between every pair of rows i < j of a 2-D input, in row-major order of (i, j)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pdist(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim != 2:
        raise RuntimeError(f'pdist only supports 2D tensors, got: {input.ndim}D')
    _check_float(input, 'pdist only supports floating-point dtypes')
    if p < 0:
        raise RuntimeError('pdist only supports non-negative p values')
    xp = input._device.xp
    i, j = xp.triu_indices(input.shape[0], 1)
    x = input._data
    d, gdiff = _dist(x[i] - x[j], float(p), xp)

    def grad(g):
        gd = gdiff(g._data)
        out = xp.zeros(x.shape, x.dtype)
        from ..backends import scatter_add
        scatter_add(out, i, gd)
        scatter_add(out, j, -gd)
        return _wrap(out, g._device)
    return record(d, input._device, (input,), 'PdistBackward0', (grad,), (input,))
