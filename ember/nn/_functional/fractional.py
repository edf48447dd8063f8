"""ember.nn.functional: fractional max pooling (Graham 2014) in 2 and 3 dims, with PyTorch's draws.

Each (sample, channel) plane gets one uniform u per pooled dimension (``_random_samples``, of shape (N, C, dims),
drawn as ``torch.rand`` in the input's dtype when not given; 2-d pooling reads (H, W) from u[..., 1], u[..., 0],
3-d pooling (T, H, W) from u[..., 0], u[..., 1], u[..., 2]). The
window starts along a dimension of size n pooled to m outputs by windows of k are the pseudo-random sequence of the
paper: alpha = (n - k) / (m - 1), start_i = floor((i + u) alpha) - floor(u alpha), the last one n - k (all measured
against PyTorch). The output is a gather of each window's maximum, so gradients flow through the gather.
"""
from ...backends.random import generator_for
from ...ops.index import gather
from ._spatial import _batched, _check_tensor, _ntuple, _unbatch

__all__ = ['fractional_max_pool2d', 'fractional_max_pool3d', 'fractional_max_pool2d_with_indices',
           'fractional_max_pool3d_with_indices']


def _starts(u, n, k, m, xp):
    """Window starts (..., m) for samples ``u`` (...), in the samples' dtype as PyTorch computes them."""
    if m == 1:
        return xp.full(u.shape + (1,), n - k, dtype=xp.int64)
    alpha = u.dtype.type(n - k) / u.dtype.type(m - 1)
    i = xp.arange(m - 1, dtype=u.dtype)
    seq = (xp.floor((i + u[..., None]) * alpha) - xp.floor(u * alpha)[..., None]).astype(xp.int64)
    return xp.concatenate([seq, xp.full(u.shape + (1,), n - k, dtype=xp.int64)], axis=-1)


def _fractional(input, nd, kernel_size, output_size, output_ratio, return_indices, _random_samples):
    name = f'fractional_max_pool{nd}d'
    _check_tensor(input, name)
    x, squeezed = _batched(input, nd, name)
    k = _ntuple(kernel_size, nd, 'kernel_size')
    S = tuple(x.shape[2:])
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f'{name} requires specifying either an output_size or an output_ratio')
        ratio = tuple(output_ratio) if isinstance(output_ratio, (list, tuple)) else (output_ratio,) * nd
        ratio = ratio * nd if len(ratio) == 1 else ratio
        output_size = [int(s * r) for s, r in zip(S, ratio)]
    out = _ntuple(output_size, nd, 'output_size')
    # PyTorch checks 2-d pooling's height then width, o + k - 1 <= n; 3-d pooling's time, width, height, o + k - 1 < n
    checks = ((0, 'height'), (1, 'width')) if nd == 2 else ((0, 'time'), (2, 'width'), (1, 'height'))
    for d, w in checks:
        if out[d] + k[d] - 1 > S[d] - (nd == 3):
            raise RuntimeError(f"{name}{'' if nd == 2 else '_out'}(): pool {w} {k[d]} too large relative to input "
                               f"{w} {S[d]}")
    xp = x._device.xp
    N, C = x.shape[0], x.shape[1]
    if _random_samples is None:
        fdt = x._data.dtype if x._data.dtype.kind == 'f' else xp.float32
        samples = generator_for(x._device).random((N, C, nd), dtype=fdt)
    else:
        samples = _random_samples._data
        if tuple(samples.shape) != (N, C, nd):
            raise RuntimeError(f'Expect _random_samples to be of shape ({N}, {C}, {nd}), but got '
                               f'{tuple(samples.shape)}')
    # per dimension d: absolute input positions (N, C, out_d, k_d) of the windows
    which = (1, 0) if nd == 2 else (0, 1, 2)  # the sample each dimension reads (measured)
    pos = [(_starts(samples[..., which[d]], S[d], k[d], out[d], xp)[..., None] + xp.arange(k[d]))
           for d in range(nd)]
    flat = 0
    for d in range(nd):  # broadcast to (N, C, out..., k...): flat plane index of every window element
        shape = [N, C] + [1] * (2 * nd)
        shape[2 + d], shape[2 + nd + d] = out[d], k[d]
        stride = 1
        for s in S[d + 1:]:
            stride *= s
        flat = flat + pos[d].reshape(shape) * stride
    plane = x._data.reshape(N, C, -1)
    win = flat.reshape(N, C, -1)
    vals = xp.take_along_axis(plane, win, axis=2).reshape(flat.shape[:2 + nd] + (-1,))
    best = xp.argmax(vals, axis=-1)  # the first maximum (a NaN counts as the maximum)
    idx = xp.take_along_axis(flat.reshape(flat.shape[:2 + nd] + (-1,)), best[..., None], axis=-1)[..., 0]
    from ..._tensor import _wrap
    index = _wrap(idx, x._device)
    y = gather(x.reshape(N, C, -1), 2, index.reshape(N, C, -1)).reshape((N, C) + out)
    y, index = _unbatch(y, squeezed), _unbatch(index, squeezed)
    return (y, index) if return_indices else y


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    return _fractional(input, 2, kernel_size, output_size, output_ratio, return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    return _fractional(input, 3, kernel_size, output_size, output_ratio, return_indices, _random_samples)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=True,
                                       _random_samples=None):
    return _fractional(input, 2, kernel_size, output_size, output_ratio, True, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=True,
                                       _random_samples=None):
    return _fractional(input, 3, kernel_size, output_size, output_ratio, True, _random_samples)
